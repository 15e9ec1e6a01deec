//! Sigstore trust material: `trusted_root.json` (`dev.sigstore.trustroot.v1.TrustedRoot`,
//! formats.md §5.7). Fulcio CAs, Rekor transparency logs, CT logs and timestamp
//! authorities, each with the window in which it may be trusted. Validity windows are
//! closed intervals (`start <= t <= end`); a missing `start` is an error, a missing `end`
//! means open-ended. Times are whole seconds since the epoch (fractions dropped).
//!
//! The production (public-good) root is built in, so verification never needs the network.

use std::sync::{Arc, OnceLock};

use serde::Deserialize;

use crate::crypto::{PublicKey, decode_base64_lenient};

/// The public-good trusted root built into the binary (`--trusted-root` overrides it).
const PRODUCTION_JSON: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/sigstore/roots/production.json"
));

/// The public-good staging instance's root (`--trusted-root builtin:staging`).
const STAGING_JSON: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/sigstore/roots/staging.json"
));

/// How a built-in root is named where a `trusted_root.json` path is expected.
pub const BUILTIN_PREFIX: &str = "builtin:";

/// Largest `trusted_root.json` accepted, in bytes.
pub const MAX_TRUSTED_ROOT_BYTES: usize = 4 << 20;

/// Why a trusted root could not be loaded: one variant per check of [`TrustedRoot::from_json`].
/// Fields are named by origin and JSON path (`root.json: tlogs[0]: publicKey.rawBytes`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// The file could not be read.
    #[error("trusted root: {0}")]
    Unreadable(String),
    /// Larger than [`MAX_TRUSTED_ROOT_BYTES`].
    #[error("trusted root: {origin}: {size} bytes, limit {MAX_TRUSTED_ROOT_BYTES}")]
    TooLarge { origin: String, size: usize },
    /// Not JSON of the trusted root's shape.
    #[error("trusted root: {origin}: not a trusted root: {detail}")]
    NotARoot { origin: String, detail: String },
    /// A media type other than `application/vnd.dev.sigstore.trustedroot…`.
    #[error("trusted root: {origin}: unsupported mediaType {media_type:?}")]
    UnsupportedMediaType {
        origin: String,
        media_type: Option<String>,
    },
    /// `builtin:` followed by a name other than `production` or `staging`.
    #[error(
        "trusted root: unknown built-in trusted root {0:?} (builtin:production or builtin:staging)"
    )]
    UnknownBuiltin(String),
    /// A required field is absent.
    #[error("trusted root: {0} is missing")]
    Missing(String),
    /// A bytes field that is not base64.
    #[error("trusted root: {field}: invalid base64: {detail}")]
    Base64 { field: String, detail: String },
    /// A validity bound that is not an RFC 3339 time.
    #[error("trusted root: {field} {value:?}: {detail}")]
    Time {
        field: String,
        value: String,
        detail: String,
    },
    /// A validity window whose end precedes its start.
    #[error("trusted root: {0}: validFor ends before it starts")]
    InvertedValidity(String),
    /// A log key that does not decode.
    #[error("trusted root: {field}: publicKey: {detail}")]
    Key { field: String, detail: String },
    /// An authority with an empty certificate chain.
    #[error("trusted root: {0}: certChain is empty")]
    EmptyChain(String),
}

/// A closed validity interval in seconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: i64,
    /// `None`: still valid.
    pub end: Option<i64>,
}

impl TimeRange {
    /// Whether `t` lies in the interval, both ends included.
    pub fn contains(&self, t: i64) -> bool {
        t >= self.start && self.end.is_none_or(|e| t <= e)
    }
}

/// A transparency log (Rekor) or certificate-transparency log.
#[derive(Debug, Clone)]
pub struct Log {
    pub base_url: String,
    /// The key the log signs with (SETs, checkpoints, SCTs).
    pub key: PublicKey,
    /// `publicKey.keyDetails` as written (e.g. `PKIX_ECDSA_P256_SHA_256`, `PKIX_ED25519`).
    pub key_details: String,
    /// `logId.keyId`: SHA-256 of the SPKI (Rekor v1, CT), or the C2SP note key id (Rekor v2).
    pub log_id: Vec<u8>,
    /// `checkpointKeyId.keyId`, when the root gives it separately.
    pub checkpoint_key_id: Option<Vec<u8>>,
    pub valid_for: TimeRange,
}

impl Log {
    /// The host of `baseUrl` (the checkpoint origin of a Rekor v2 log).
    pub fn host(&self) -> &str {
        let rest = self
            .base_url
            .split_once("://")
            .map_or(self.base_url.as_str(), |(_, r)| r);
        rest.split(['/', '?', '#']).next().unwrap_or(rest)
    }
}

/// A certificate authority (Fulcio) or timestamp authority.
#[derive(Debug, Clone)]
pub struct Authority {
    pub uri: String,
    /// `subject.commonName`, for messages.
    pub common_name: String,
    /// DER certificates, leaf-most first: intermediate(s), then the root (last).
    pub chain: Vec<Vec<u8>>,
    pub valid_for: TimeRange,
}

/// A parsed, validated `trusted_root.json`.
#[derive(Debug, Clone)]
pub struct TrustedRoot {
    /// Where it came from (`built-in production root` or a path), for messages.
    pub origin: String,
    pub tlogs: Vec<Log>,
    pub certificate_authorities: Vec<Authority>,
    pub ctlogs: Vec<Log>,
    pub timestamp_authorities: Vec<Authority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RootJson {
    media_type: Option<String>,
    #[serde(default)]
    tlogs: Option<Vec<LogJson>>,
    #[serde(default)]
    certificate_authorities: Option<Vec<AuthorityJson>>,
    #[serde(default)]
    ctlogs: Option<Vec<LogJson>>,
    #[serde(default)]
    timestamp_authorities: Option<Vec<AuthorityJson>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogJson {
    #[serde(default)]
    base_url: Option<String>,
    public_key: Option<PublicKeyJson>,
    log_id: Option<KeyIdJson>,
    #[serde(default)]
    checkpoint_key_id: Option<KeyIdJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKeyJson {
    raw_bytes: Option<String>,
    #[serde(default)]
    key_details: Option<String>,
    valid_for: Option<RangeJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyIdJson {
    key_id: Option<String>,
}

#[derive(Deserialize)]
struct RangeJson {
    start: Option<String>,
    #[serde(default)]
    end: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorityJson {
    #[serde(default)]
    subject: Option<SubjectJson>,
    #[serde(default)]
    uri: Option<String>,
    cert_chain: Option<ChainJson>,
    valid_for: Option<RangeJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubjectJson {
    #[serde(default)]
    common_name: Option<String>,
}

#[derive(Deserialize)]
struct ChainJson {
    certificates: Option<Vec<RawBytesJson>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytesJson {
    raw_bytes: Option<String>,
}

fn range(r: Option<&RangeJson>, what: &str) -> Result<TimeRange, TrustError> {
    let r = r.ok_or_else(|| TrustError::Missing(format!("{what}: validFor")))?;
    let start = r
        .start
        .as_deref()
        .ok_or_else(|| TrustError::Missing(format!("{what}: validFor.start")))?;
    let start = crate::base::time::parse_rfc3339(start).map_err(|e| TrustError::Time {
        field: format!("{what}: validFor.start"),
        value: start.to_owned(),
        detail: e.to_string(),
    })?;
    let end = match r.end.as_deref() {
        None => None,
        Some(e) => Some(
            crate::base::time::parse_rfc3339(e).map_err(|err| TrustError::Time {
                field: format!("{what}: validFor.end"),
                value: e.to_owned(),
                detail: err.to_string(),
            })?,
        ),
    };
    if end.is_some_and(|e| e < start) {
        return Err(TrustError::InvertedValidity(what.to_owned()));
    }
    Ok(TimeRange { start, end })
}

fn b64(s: Option<&str>, what: &str) -> Result<Vec<u8>, TrustError> {
    let s = s.ok_or_else(|| TrustError::Missing(what.to_owned()))?;
    // protobuf JSON (Go's base64 decoder) ignores line breaks inside base64 values
    let s: std::borrow::Cow<'_, str> = if s.contains(['\r', '\n']) {
        s.replace(['\r', '\n'], "").into()
    } else {
        s.into()
    };
    decode_base64_lenient(&s).map_err(|e| TrustError::Base64 {
        field: what.to_owned(),
        detail: e.to_string(),
    })
}

fn log(l: &LogJson, what: &str) -> Result<Log, TrustError> {
    let pk = l
        .public_key
        .as_ref()
        .ok_or_else(|| TrustError::Missing(format!("{what}: publicKey")))?;
    let der = b64(
        pk.raw_bytes.as_deref(),
        &format!("{what}: publicKey.rawBytes"),
    )?;
    // PKCS1_RSA_* keys are PKCS#1 `RSAPublicKey`s (staging's first CT log); others SPKI.
    let pkcs1 = pk
        .key_details
        .as_deref()
        .is_some_and(|d| d.starts_with("PKCS1_"));
    let key = if pkcs1 {
        PublicKey::from_pkcs1_der(&der)
    } else {
        PublicKey::from_spki_der(&der)
    }
    .map_err(|e| TrustError::Key {
        field: what.to_owned(),
        detail: e.to_string(),
    })?;
    let valid_for = range(pk.valid_for.as_ref(), &format!("{what}: publicKey"))?;
    let log_id = b64(
        l.log_id.as_ref().and_then(|k| k.key_id.as_deref()),
        &format!("{what}: logId.keyId"),
    )?;
    let checkpoint_key_id = match l
        .checkpoint_key_id
        .as_ref()
        .and_then(|k| k.key_id.as_deref())
    {
        None => None,
        Some(k) => Some(b64(Some(k), &format!("{what}: checkpointKeyId.keyId"))?),
    };
    Ok(Log {
        base_url: l.base_url.clone().unwrap_or_default(),
        key,
        key_details: pk.key_details.clone().unwrap_or_default(),
        log_id,
        checkpoint_key_id,
        valid_for,
    })
}

fn authority(a: &AuthorityJson, what: &str) -> Result<Authority, TrustError> {
    let certs = a
        .cert_chain
        .as_ref()
        .and_then(|c| c.certificates.as_ref())
        .ok_or_else(|| TrustError::Missing(format!("{what}: certChain.certificates")))?;
    if certs.is_empty() {
        return Err(TrustError::EmptyChain(what.to_owned()));
    }
    let chain = certs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            b64(
                c.raw_bytes.as_deref(),
                &format!("{what}: certChain.certificates[{i}].rawBytes"),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Authority {
        uri: a.uri.clone().unwrap_or_default(),
        common_name: a
            .subject
            .as_ref()
            .and_then(|s| s.common_name.clone())
            .unwrap_or_default(),
        chain,
        valid_for: range(a.valid_for.as_ref(), what)?,
    })
}

impl TrustedRoot {
    /// Parses and validates a `trusted_root.json` document.
    ///
    /// # Errors
    /// Malformed JSON, an unknown media type, a key or certificate that does not decode, or a
    /// validity window without its start.
    pub fn from_json(bytes: &[u8], origin: impl Into<String>) -> Result<Self, TrustError> {
        let origin = origin.into();
        if bytes.len() > MAX_TRUSTED_ROOT_BYTES {
            return Err(TrustError::TooLarge {
                origin,
                size: bytes.len(),
            });
        }
        let j: RootJson = serde_json::from_slice(bytes).map_err(|e| TrustError::NotARoot {
            origin: origin.clone(),
            detail: e.to_string(),
        })?;
        match j.media_type.as_deref() {
            Some(m) if m.starts_with("application/vnd.dev.sigstore.trustedroot") => {}
            other => {
                return Err(TrustError::UnsupportedMediaType {
                    origin,
                    media_type: other.map(str::to_owned),
                });
            }
        }
        let logs = |v: &Option<Vec<LogJson>>, name: &str| -> Result<Vec<Log>, TrustError> {
            v.iter()
                .flatten()
                .enumerate()
                .map(|(i, l)| log(l, &format!("{origin}: {name}[{i}]")))
                .collect()
        };
        let auths =
            |v: &Option<Vec<AuthorityJson>>, name: &str| -> Result<Vec<Authority>, TrustError> {
                v.iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, a)| authority(a, &format!("{origin}: {name}[{i}]")))
                    .collect()
            };
        Ok(Self {
            tlogs: logs(&j.tlogs, "tlogs")?,
            certificate_authorities: auths(&j.certificate_authorities, "certificateAuthorities")?,
            ctlogs: logs(&j.ctlogs, "ctlogs")?,
            timestamp_authorities: auths(&j.timestamp_authorities, "timestampAuthorities")?,
            origin,
        })
    }

    /// Reads a `trusted_root.json` file.
    ///
    /// # Errors
    /// Unreadable file (with the path) or any [`TrustedRoot::from_json`] error.
    pub fn from_file(path: &std::path::Path) -> Result<Self, TrustError> {
        let bytes = crate::base::files::read_regular(path, MAX_TRUSTED_ROOT_BYTES as u64 + 1)
            .map_err(|e| TrustError::Unreadable(e.to_string()))?;
        Self::from_json(&bytes, path.display().to_string())
    }

    /// The built-in public-good (production) root.
    #[allow(
        clippy::expect_used,
        reason = "the built-in root is checked by a unit test"
    )]
    pub fn production() -> Arc<Self> {
        static ROOT: OnceLock<Arc<TrustedRoot>> = OnceLock::new();
        ROOT.get_or_init(|| {
            Arc::new(
                Self::from_json(
                    PRODUCTION_JSON.as_bytes(),
                    "built-in production trusted root",
                )
                .expect("built-in trusted root parses"),
            )
        })
        .clone()
    }

    /// The built-in public-good staging root.
    #[allow(
        clippy::expect_used,
        reason = "the built-in root is checked by a unit test"
    )]
    pub fn staging() -> Arc<Self> {
        static ROOT: OnceLock<Arc<TrustedRoot>> = OnceLock::new();
        ROOT.get_or_init(|| {
            Arc::new(
                Self::from_json(STAGING_JSON.as_bytes(), "built-in staging trusted root")
                    .expect("built-in trusted root parses"),
            )
        })
        .clone()
    }

    /// What a `--trusted-root` argument names: `builtin:production` or `builtin:staging`
    /// (the roots compiled in from `src/sigstore/roots/`), else a `trusted_root.json` file.
    ///
    /// # Errors
    /// An unknown built-in name, or any [`TrustedRoot::from_file`] error.
    pub fn load(arg: &std::path::Path) -> Result<Arc<Self>, TrustError> {
        match arg.to_str().and_then(|s| s.strip_prefix(BUILTIN_PREFIX)) {
            Some("production") => Ok(Self::production()),
            Some("staging") => Ok(Self::staging()),
            Some(other) => Err(TrustError::UnknownBuiltin(other.to_owned())),
            None => Self::from_file(arg).map(Arc::new),
        }
    }

    /// The transparency log whose `logId.keyId` (or `checkpointKeyId`) is `id`.
    pub fn tlog(&self, id: &[u8]) -> Option<&Log> {
        self.tlogs
            .iter()
            .find(|l| l.log_id == id || l.checkpoint_key_id.as_deref() == Some(id))
    }

    /// The CT log whose `logId.keyId` is `id`.
    pub fn ctlog(&self, id: &[u8]) -> Option<&Log> {
        self.ctlogs.iter().find(|l| l.log_id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_roots_are_named_and_distinct() {
        let p = TrustedRoot::load(std::path::Path::new("builtin:production")).unwrap();
        let s = TrustedRoot::load(std::path::Path::new("builtin:staging")).unwrap();
        assert_eq!(p.origin, "built-in production trusted root");
        assert_eq!(s.origin, "built-in staging trusted root");
        assert!(s.tlogs.iter().any(|l| l.host().ends_with("sigstage.dev")));
        assert!(p.tlogs.iter().all(|l| !l.host().ends_with("sigstage.dev")));
        let e = TrustedRoot::load(std::path::Path::new("builtin:prod")).unwrap_err();
        assert!(e.to_string().contains("unknown built-in"), "{e}");
        // anything else is a file
        let e = TrustedRoot::load(std::path::Path::new("/nonexistent/root.json")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/root.json"), "{e}");
    }

    #[test]
    fn production_root_parses_with_all_parts() {
        let r = TrustedRoot::production();
        assert_eq!(r.tlogs.len(), 2);
        assert_eq!(r.certificate_authorities.len(), 2);
        assert_eq!(r.ctlogs.len(), 2);
        assert_eq!(r.timestamp_authorities.len(), 1);
        let v1 = r.tlogs.first().unwrap();
        assert_eq!(v1.host(), "rekor.sigstore.dev");
        assert_eq!(
            v1.log_id,
            crate::crypto::sha256(v1.key.spki_der()).to_vec(),
            "Rekor v1 log id is the SPKI hash"
        );
        assert_eq!(
            r.tlogs.get(1).unwrap().host(),
            "log2025-1.rekor.sigstore.dev"
        );
        // 2022-12-31T23:59:59.999Z: fraction dropped, end inclusive
        let old = r.certificate_authorities.first().unwrap();
        assert!(old.valid_for.contains(1_672_531_199));
        assert!(!old.valid_for.contains(1_672_531_200));
    }

    #[test]
    fn missing_validity_start_is_an_error() {
        let doc = br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1",
          "tlogs":[{"baseUrl":"https://x","publicKey":{"rawBytes":"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwrkBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==","validFor":{}},"logId":{"keyId":"AA=="}}]}"#;
        let e = TrustedRoot::from_json(doc, "t").unwrap_err().to_string();
        assert!(e.contains("validFor.start is missing"), "{e}");
    }

    #[test]
    fn rejects_other_documents() {
        assert!(TrustedRoot::from_json(b"{}", "t").is_err());
        assert!(TrustedRoot::from_json(b"[", "t").is_err());
    }
}
