//! Attestations (pure): in-toto statements, DSSE envelopes (PAE), and cosign's
//! `--type` aliases. Building and checking envelopes over bytes; no I/O.
//!
//! - (the rule evaluation over these — which attestation decides — is
//!   [`crate::policy::attestations`]).
//! - [`sbom`]: SPDX / CycloneDX predicates and the `deniedPackages` / `deniedLicenses` rules.
//! - [`vuln`]: vulnerability-scan predicates (cosign vuln, Trivy, SARIF) and their rules.

pub mod sbom;
pub mod vsa;
pub mod vuln;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::base::reference::Digest;
use crate::crypto::{PrivateKey, PublicKey};

/// DSSE payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// Layer media type of a DSSE envelope in a cosign `.att` manifest.
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// in-toto Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// cosign's `custom` predicate type.
pub const CUSTOM_PREDICATE: &str = "https://cosign.sigstore.dev/attestation/v1";
/// in-toto Statement v0.1 (cosign before v2.x writes it).
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
/// Default limit of one attestation statement (an SBOM, a scan report): 64 MiB.
pub const DEFAULT_MAX_STATEMENT_BYTES: u64 = sbom::DEFAULT_MAX_SBOM_BYTES;

/// Which statement `predicateType`s a policy's `predicateType` accepts. A URI matches
/// itself exactly; an alias matches the URIs the tools write for it: `cyclonedx` →
/// `https://cyclonedx.org/bom` and `https://cyclonedx.org/bom/v<version>`; `spdx`/`spdxjson`
/// → `https://spdx.dev/Document` (and `…/Document/v<version>`); `vuln` → cosign's vuln
/// predicate; `slsaprovenance`/`slsaprovenance02` → SLSA v0.2; `slsaprovenance1` → SLSA v1;
/// `link`, `openvex` (`https://openvex.dev/ns` and `…/ns/v<version>`), `vsa` (SLSA
/// verification summary v1), `custom`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredicateMatcher {
    exact: String,
    /// versioned forms: `<exact>/v…`
    versioned: bool,
}

impl PredicateMatcher {
    /// # Errors
    /// A message for an unknown alias.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let versioned = matches!(s, "cyclonedx" | "spdx" | "spdxjson" | "openvex");
        match resolve_type(s) {
            Ok((uri, _)) => Ok(Self {
                exact: uri,
                versioned,
            }),
            Err(_) => Err(format!(
                "{s:?} is neither a URI nor a known alias (cyclonedx, spdx, spdxjson, vuln, slsaprovenance, slsaprovenance02, slsaprovenance1, link, openvex, vsa, custom)"
            )),
        }
    }

    /// Whether a statement's `predicateType` matches.
    pub fn matches(&self, predicate_type: &str) -> bool {
        predicate_type == self.exact
            || (self.versioned
                && predicate_type
                    .strip_prefix(self.exact.as_str())
                    .and_then(|r| r.strip_prefix("/v"))
                    .is_some_and(|v| !v.is_empty()))
    }

    /// The canonical URI.
    pub fn uri(&self) -> &str {
        &self.exact
    }

    /// What the matcher accepts, as a string: the URI, with `/v*` for versioned forms.
    pub fn id(&self) -> String {
        if self.versioned {
            format!("{}/v*", self.exact)
        } else {
            self.exact.clone()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    #[error(
        "unknown attestation type {0:?} (slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson, cyclonedx, link, vuln, openvex, vsa, custom, or a URI)"
    )]
    UnknownType(String),
    #[error("predicate is not a JSON object as --type {kind} needs: {message}")]
    PredicateNotJson { kind: String, message: String },
    #[error("predicate is not UTF-8 text")]
    PredicateNotText,
    #[error("signing the envelope failed")]
    SignFailed(#[source] crate::crypto::KeyFileError),
}

/// How a predicate file becomes the statement's `predicate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PredicateForm {
    /// parsed as a JSON object
    Json,
    /// the raw text as a JSON string (cosign's `spdx`)
    String,
    /// `{"Data": <raw text>, "Timestamp": <now>}` (cosign's `custom`)
    Custom,
}

/// cosign's `--type` aliases → (predicateType, form).
fn resolve_type(kind: &str) -> Result<(String, PredicateForm), AttestError> {
    let (uri, form) = match kind {
        "custom" => (CUSTOM_PREDICATE, PredicateForm::Custom),
        "slsaprovenance" | "slsaprovenance02" => {
            ("https://slsa.dev/provenance/v0.2", PredicateForm::Json)
        }
        "slsaprovenance1" => ("https://slsa.dev/provenance/v1", PredicateForm::Json),
        "spdx" => ("https://spdx.dev/Document", PredicateForm::String),
        "spdxjson" => ("https://spdx.dev/Document", PredicateForm::Json),
        "cyclonedx" => ("https://cyclonedx.org/bom", PredicateForm::Json),
        "link" => ("https://in-toto.io/Link/v1", PredicateForm::Json),
        "vuln" => (
            "https://cosign.sigstore.dev/attestation/vuln/v1",
            PredicateForm::Json,
        ),
        "openvex" => ("https://openvex.dev/ns", PredicateForm::Json),
        "vsa" => (vsa::PREDICATE, PredicateForm::Json),
        uri if uri.contains("://") => return Ok((uri.to_string(), PredicateForm::Json)),
        other => return Err(AttestError::UnknownType(other.to_string())),
    };
    Ok((uri.to_string(), form))
}

/// Builds the in-toto Statement v1 for `repository@digest` from a predicate file's bytes.
/// `now` (RFC 3339) stamps cosign's `custom` predicate.
///
/// # Errors
/// [`AttestError`] for an unknown type or a predicate of the wrong form.
pub fn statement(
    repository: &str,
    digest: &Digest,
    kind: &str,
    predicate: &[u8],
    now: &str,
) -> Result<(String, Vec<u8>), AttestError> {
    let (predicate_type, form) = resolve_type(kind)?;
    let predicate = match form {
        PredicateForm::Json => {
            let v: Value =
                serde_json::from_slice(predicate).map_err(|e| AttestError::PredicateNotJson {
                    kind: kind.to_string(),
                    message: e.to_string(),
                })?;
            if !v.is_object() {
                return Err(AttestError::PredicateNotJson {
                    kind: kind.to_string(),
                    message: "not an object".into(),
                });
            }
            v
        }
        PredicateForm::String => Value::String(
            String::from_utf8(predicate.to_vec()).map_err(|_| AttestError::PredicateNotText)?,
        ),
        PredicateForm::Custom => json!({
            "Data": String::from_utf8(predicate.to_vec()).map_err(|_| AttestError::PredicateNotText)?,
            "Timestamp": now,
        }),
    };
    let mut digests = serde_json::Map::new();
    digests.insert(
        digest
            .to_string()
            .split(':')
            .next()
            .unwrap_or("sha256")
            .to_string(),
        Value::String(digest.hex().to_string()),
    );
    let s = json!({
        "_type": STATEMENT_V1,
        "subject": [{"name": repository, "digest": digests}],
        "predicateType": predicate_type,
        "predicate": predicate,
    });
    Ok((predicate_type, serde_json::to_vec(&s).unwrap_or_default()))
}

/// DSSE pre-authentication encoding.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A DSSE envelope over `body`, signed with `key`, bytes exactly as cosign (Go) writes them.
///
/// # Errors
/// [`AttestError::SignFailed`].
pub fn envelope(key: &PrivateKey, body: &[u8]) -> Result<Vec<u8>, AttestError> {
    let sig = key
        .sign(&pae(IN_TOTO_PAYLOAD_TYPE, body))
        .map_err(AttestError::SignFailed)?;
    Ok(signed_envelope(body, &sig))
}

/// The DSSE envelope of an in-toto `body` with `sig`, a signature over
/// `pae(IN_TOTO_PAYLOAD_TYPE, body)` made elsewhere (a key manager).
pub fn signed_envelope(body: &[u8], sig: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    format!(
        r#"{{"payloadType":"{IN_TOTO_PAYLOAD_TYPE}","payload":"{}","signatures":[{{"keyid":"","sig":"{}"}}]}}"#,
        b64.encode(body),
        b64.encode(sig)
    )
    .into_bytes()
}

/// Checks an envelope's signatures with `key`; returns the decoded payload when one verifies
/// and the payload type is in-toto.
pub fn verify_envelope(envelope: &[u8], key: &PublicKey) -> Option<Vec<u8>> {
    let v: Value = serde_json::from_slice(envelope).ok()?;
    if v.get("payloadType")?.as_str()? != IN_TOTO_PAYLOAD_TYPE {
        return None;
    }
    let body = decode_any_base64(v.get("payload")?.as_str()?)?;
    let message = pae(IN_TOTO_PAYLOAD_TYPE, &body);
    v.get("signatures")?
        .as_array()?
        .iter()
        .any(|s| {
            s.get("sig")
                .and_then(Value::as_str)
                .and_then(decode_any_base64)
                .is_some_and(|sig| key.verify(&message, &sig).is_ok())
        })
        .then_some(body)
}

/// Standard or URL-safe base64, padded or not.
pub(crate) fn decode_any_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let s = s.trim();
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest::sha256_of(b"image")
    }

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // from the DSSE protocol document
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn statements_per_type() {
        let (t, s) = statement(
            "ghcr.io/acme/web",
            &digest(),
            "cyclonedx",
            br#"{"bomFormat":"CycloneDX"}"#,
            "2026-01-01T00:00:00Z",
        )
        .unwrap();
        assert_eq!(t, "https://cyclonedx.org/bom");
        let v: Value = serde_json::from_slice(&s).unwrap();
        assert_eq!(v["_type"], STATEMENT_V1);
        assert_eq!(v["subject"][0]["name"], "ghcr.io/acme/web");
        assert_eq!(v["subject"][0]["digest"]["sha256"], digest().hex());
        assert_eq!(v["predicate"]["bomFormat"], "CycloneDX");
        let (t, s) = statement(
            "r",
            &digest(),
            "custom",
            b"free text",
            "2026-01-01T00:00:00Z",
        )
        .unwrap();
        assert_eq!(t, CUSTOM_PREDICATE);
        let v: Value = serde_json::from_slice(&s).unwrap();
        assert_eq!(
            v["predicate"],
            json!({"Data": "free text", "Timestamp": "2026-01-01T00:00:00Z"})
        );
        let (_, s) = statement("r", &digest(), "spdx", b"SPDXVersion: SPDX-2.3", "t").unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&s).unwrap()["predicate"],
            "SPDXVersion: SPDX-2.3"
        );
        assert_eq!(
            statement("r", &digest(), "https://example.com/p/v1", b"{}", "t")
                .unwrap()
                .0,
            "https://example.com/p/v1"
        );
        assert!(matches!(
            statement("r", &digest(), "sbom", b"{}", "t"),
            Err(AttestError::UnknownType(_))
        ));
        assert!(matches!(
            statement("r", &digest(), "cyclonedx", b"[1]", "t"),
            Err(AttestError::PredicateNotJson { .. })
        ));
    }

    #[test]
    fn envelopes_verify_with_the_key_only() {
        let key = PrivateKey::generate_p256().unwrap();
        let other = PrivateKey::generate_p256().unwrap();
        let (_, body) = statement("r", &digest(), "vuln", br#"{"scanner":{}}"#, "t").unwrap();
        let env = envelope(&key, &body).unwrap();
        let text = String::from_utf8(env.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"payloadType":"application/vnd.in-toto+json","payload":""#),
            "{text}"
        );
        assert!(
            text.ends_with(r#""}]}"#) && text.contains(r#""signatures":[{"keyid":"","sig":""#),
            "{text}"
        );
        assert_eq!(verify_envelope(&env, &key.public_key()).unwrap(), body);
        assert!(verify_envelope(&env, &other.public_key()).is_none());
        let tampered = text.replace(
            "payloadType\":\"application/vnd.in-toto+json",
            "payloadType\":\"text/plain",
        );
        assert!(verify_envelope(tampered.as_bytes(), &key.public_key()).is_none());
        assert!(verify_envelope(b"not json", &key.public_key()).is_none());
    }
}
