//! Offline verification of a Sigstore bundle (or of a cosign legacy keyless signature, turned
//! into the same shape) against a trusted root and an expected signer: a key, or a keyless
//! identity (OIDC issuer + certificate subject). The order of checks decides the reason a
//! failure reports:
//!
//! 1. signer material fits the expectation (a key bundle for a key, a certificate for an
//!    identity or for a key equal to the certificate's) → `NoMatchingSignature` (callers read
//!    it as "not this attestor's signature"); a bundle never ships a root certificate and its
//!    certificate chains to a Fulcio CA at its notBefore → `CertificateInvalid`;
//! 2. the signature over the artifact (message signature) or over the DSSE PAE, and the
//!    artifact digest (message digest hint, in-toto subject) → `SignatureInvalid` /
//!    `PayloadDigestMismatch`;
//! 3. every transparency-log entry: log in the trusted root, SET, inclusion proof and
//!    checkpoint, body describing exactly this signature and signer → `TlogInvalid`;
//! 4. every RFC 3161 timestamp: TSA chain, message imprint = the signature → `TlogInvalid`;
//! 5. keyless: at least one verified signing time (an integrated time under a SET, or a
//!    timestamp), none in the future; at each, the certificate is valid, chains to a Fulcio
//!    CA valid then with the code-signing EKU; an SCT from a trusted CT log →
//!    `CertificateInvalid`;
//! 6. keyless: issuer and subject (and claims) match → `IdentityMismatch`.
//!
//! A verification failure is a [`Failure`] value (a reason code and a message); nothing here
//! panics or reads the clock.

use std::collections::BTreeMap;

use crate::base::verdict::ReasonCode;
use crate::crypto::{HashAlgorithm, PublicKey};
use crate::sigstore::bundle::{Bundle, Content, Material, Version};
use crate::sigstore::fulcio::{self, SigningCert};
use crate::sigstore::rekor::{self, Signed, Signer};
use crate::sigstore::trust::TrustedRoot;
use crate::sigstore::{tsa, x509};

/// Seconds a signing time may lie ahead of `now` (clock skew) before it counts as forged.
pub const MAX_CLOCK_SKEW: i64 = 300;

/// The in-toto payload type DSSE envelopes must carry.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A string a certificate value must equal, or an anchored regular expression it must match.
#[derive(Debug, Clone)]
pub enum Matcher {
    Exact(String),
    /// Compiled as `^(?:…)$`; `source` is the expression as written.
    Regex {
        source: String,
        re: regex::Regex,
    },
}

impl Matcher {
    /// An anchored regular expression.
    ///
    /// # Errors
    /// The regex error, for policy validation.
    pub fn regex(source: &str) -> Result<Self, regex::Error> {
        let re = regex::RegexBuilder::new(&format!("^(?:{source})$"))
            .size_limit(1 << 20)
            .build()?;
        Ok(Self::Regex {
            source: source.to_owned(),
            re,
        })
    }

    pub fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(s) => s == value,
            Self::Regex { re, .. } => re.is_match(value),
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact(s) => write!(f, "{s:?}"),
            Self::Regex { source, .. } => write!(f, "/{source}/"),
        }
    }
}

/// A keyless identity: who must have signed.
#[derive(Debug, Clone)]
pub struct Identity {
    pub issuer: Matcher,
    pub subject: Matcher,
    /// Fulcio claims that must equal exactly (`githubWorkflowRepository`, …).
    pub claims: BTreeMap<String, String>,
}

/// Who is expected to have signed.
#[derive(Debug, Clone, Copy)]
pub enum Expected<'a> {
    Key(&'a PublicKey),
    Keyless(&'a Identity),
}

/// What was signed, as the verifier knows it.
#[derive(Debug, Clone, Copy)]
pub enum Artifact<'a> {
    /// The artifact's bytes (a blob; a cosign simple-signing payload).
    Bytes(&'a [u8]),
    /// Only the artifact's digest (`sha256:<hex>`, an image digest).
    Digest(HashAlgorithm, &'a [u8]),
    /// DSSE only: the caller checks the statement's subject itself (attestations report a
    /// statement about another image as such, not as a bad signature).
    StatementChecked,
}

/// Options of one verification.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Do not require a transparency-log entry (entries present are still verified). A keyless
    /// signature then needs an RFC 3161 timestamp.
    pub ignore_tlog: bool,
    /// The current time (seconds), to refuse signing times in the future.
    pub now: i64,
}

/// A failed verification: the reason code and what exactly failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: ReasonCode,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

fn fail(code: ReasonCode, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
    }
}

/// What a successful verification established.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The certificate subject (keyless) or key fingerprint.
    pub signer: String,
    /// The OIDC issuer (keyless).
    pub issuer: Option<String>,
    /// Verified signing times (integrated times under a SET, RFC 3161 times).
    pub times: Vec<i64>,
    /// Entries verified in a transparency log.
    pub tlog_entries: usize,
}

/// The DSSE pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

fn hash_name(a: HashAlgorithm) -> &'static str {
    match a {
        HashAlgorithm::Sha256 => "sha256",
        HashAlgorithm::Sha384 => "sha384",
        HashAlgorithm::Sha512 => "sha512",
    }
}

/// The in-toto statement subjects' digests, as (algorithm name, hex).
fn statement_subjects(payload: &[u8]) -> Result<Vec<(String, String)>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| format!("statement is not JSON: {e}"))?;
    let subjects = v
        .get("subject")
        .and_then(|s| s.as_array())
        .ok_or("statement has no subject list")?;
    Ok(subjects
        .iter()
        .filter_map(|s| s.get("digest").and_then(|d| d.as_object()))
        .flat_map(|d| {
            d.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_ascii_lowercase())))
        })
        .collect())
}

/// Verifies `bundle` over `artifact`, signed as `expected`, against `root`.
///
/// # Errors
/// A [`Failure`] naming the first check that did not hold (see the module docs for the order).
pub fn verify_bundle(
    bundle: &Bundle,
    artifact: Artifact<'_>,
    expected: Expected<'_>,
    root: &TrustedRoot,
    opts: Options,
) -> Result<Verified, Failure> {
    // 1. signer material
    let cert = match (&bundle.material, expected) {
        (Material::PublicKey { .. }, Expected::Key(_)) => None,
        (Material::PublicKey { hint }, Expected::Keyless(_)) => {
            return Err(fail(
                ReasonCode::NoMatchingSignature,
                format!(
                    "the bundle is signed with a key (hint {hint:?}), not by a keyless identity"
                ),
            ));
        }
        (Material::Certificate(_) | Material::Chain(_), _) => {
            let (leaf, extras) = bundle
                .certificates()
                .ok_or_else(|| fail(ReasonCode::CertificateInvalid, "no certificate"))?;
            if extras.iter().any(|c| x509::is_self_signed(c)) {
                return Err(fail(
                    ReasonCode::CertificateInvalid,
                    "the bundle's certificate chain contains a root certificate; roots come only from the trusted root",
                ));
            }
            let cert = SigningCert::parse(leaf)
                .map_err(|e| fail(ReasonCode::CertificateInvalid, e.to_string()))?;
            if let Expected::Keyless(_) = expected {
                // Cheap early answer for certificates from another instance; checked again at
                // every verified signing time below.
                x509::verify_chain(
                    leaf,
                    extras,
                    &root.certificate_authorities,
                    cert.not_before,
                    x509::CODE_SIGNING,
                )
                .map_err(|e| {
                    fail(
                        ReasonCode::CertificateInvalid,
                        format!(
                            "certificate does not chain to a Fulcio CA of {}: {e}",
                            root.origin
                        ),
                    )
                })?;
            }
            if let Expected::Key(k) = expected
                && cert.public_key != *k
            {
                return Err(fail(
                    ReasonCode::NoMatchingSignature,
                    format!(
                        "the bundle's certificate key {} is not the expected key {}",
                        cert.public_key.fingerprint(),
                        k.fingerprint()
                    ),
                ));
            }
            Some((cert, extras))
        }
    };
    let key: &PublicKey = match (&cert, expected) {
        (Some((c, _)), _) => &c.public_key,
        (None, Expected::Key(k)) => k,
        (None, Expected::Keyless(_)) => {
            return Err(fail(ReasonCode::CertificateInvalid, "no certificate"));
        }
    };

    // 2. signature and artifact
    let (computed_alg, computed): (HashAlgorithm, Vec<u8>) = match artifact {
        Artifact::Bytes(b) => {
            let alg = match &bundle.content {
                Content::Message {
                    digest: Some((a, _)),
                    ..
                } => *a,
                _ => HashAlgorithm::Sha256,
            };
            (alg, alg.digest(b))
        }
        Artifact::Digest(a, d) => (a, d.to_vec()),
        Artifact::StatementChecked => (HashAlgorithm::Sha256, Vec::new()),
    };
    let signed = match &bundle.content {
        Content::Message { digest, signature } => {
            if let Some((alg, d)) = digest
                && (*alg != computed_alg || *d != computed)
            {
                return Err(fail(
                    ReasonCode::PayloadDigestMismatch,
                    format!(
                        "the bundle's message digest {}:{} is not the artifact's {}:{}",
                        hash_name(*alg),
                        hex::encode(d),
                        hash_name(computed_alg),
                        hex::encode(&computed)
                    ),
                ));
            }
            // the hash is the one the bundle names (sigstore-go, sigstore-python), not the
            // key's default: a P-384 Fulcio key over a SHA2_256 message digest verifies
            let ok = match (artifact, digest) {
                (Artifact::Bytes(_), Some((alg, _)))
                    if key.default_hash().is_some_and(|h| h != *alg) =>
                {
                    key.verify_digest(*alg, &computed, signature)
                }
                (Artifact::Bytes(b), _) => key.verify(b, signature),
                (Artifact::Digest(a, d), _) => key.verify_digest(a, d, signature),
                (Artifact::StatementChecked, _) => {
                    return Err(fail(
                        ReasonCode::SignatureInvalid,
                        "a message signature bundle is not an attestation",
                    ));
                }
            };
            ok.map_err(|e| {
                fail(
                    ReasonCode::SignatureInvalid,
                    format!("message signature does not verify over the artifact: {e}"),
                )
            })?;
            Signed::Message {
                digest_algorithm: hash_name(computed_alg),
                digest: &computed,
                signature,
            }
        }
        Content::Dsse(env) => {
            key.verify(&pae(&env.payload_type, &env.payload), &env.signature)
                .map_err(|e| {
                    fail(
                        ReasonCode::SignatureInvalid,
                        format!("DSSE signature does not verify: {e}"),
                    )
                })?;
            if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
                return Err(fail(
                    ReasonCode::SignatureInvalid,
                    format!(
                        "DSSE payloadType {:?} is not {IN_TOTO_PAYLOAD_TYPE}",
                        env.payload_type
                    ),
                ));
            }
            let subjects = statement_subjects(&env.payload)
                .map_err(|e| fail(ReasonCode::SignatureInvalid, e))?;
            let want = (hash_name(computed_alg).to_owned(), hex::encode(&computed));
            if !matches!(artifact, Artifact::StatementChecked) && !subjects.contains(&want) {
                return Err(fail(
                    ReasonCode::PayloadDigestMismatch,
                    format!(
                        "the in-toto statement's subjects ({}) do not include {}:{}",
                        subjects
                            .iter()
                            .map(|(a, d)| format!("{a}:{d}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        want.0,
                        want.1
                    ),
                ));
            }
            Signed::Dsse {
                payload_type: &env.payload_type,
                payload: &env.payload,
                signature: &env.signature,
            }
        }
    };
    let signer = match &cert {
        Some((c, _)) => Signer::Certificate(&c.der),
        None => Signer::Key(key),
    };

    // 3. transparency log
    let mut times = Vec::new();
    // Rekor v2 entries carry no time: their log must be valid at the signed timestamps
    let mut v2_logs: Vec<(String, crate::sigstore::trust::TimeRange)> = Vec::new();
    let require_proof = bundle.version >= Version::V02;
    for (i, entry) in bundle.tlog_entries.iter().enumerate() {
        let tlog = |e: &dyn std::fmt::Display| {
            fail(
                ReasonCode::TlogInvalid,
                format!(
                    "transparency log entry {i} (index {}): {e}",
                    entry.log_index
                ),
            )
        };
        let v = rekor::verify_entry(entry, root, require_proof).map_err(|e| tlog(&e))?;
        if entry.is_rekor_v2() {
            v2_logs.push((v.log.base_url.clone(), v.log.valid_for));
        }
        let body = rekor::parse_body(entry).map_err(|e| tlog(&e))?;
        rekor::check_body(&body, &signed, &signer).map_err(|e| tlog(&e))?;
        if v.has_promise
            && let Some(t) = v.integrated_time
        {
            times.push(t);
        }
    }
    if bundle.tlog_entries.is_empty() && !opts.ignore_tlog && cert.is_some() {
        return Err(fail(
            ReasonCode::TlogInvalid,
            "no transparency log entry (set ignoreTlog to accept signatures that only carry a signed timestamp)",
        ));
    }

    // 4. signed timestamps
    for (i, ts) in bundle.timestamps.iter().enumerate() {
        let v = tsa::verify_timestamp(ts, bundle.content.signature(), &root.timestamp_authorities)
            .map_err(|e| {
                fail(
                    ReasonCode::TlogInvalid,
                    format!("signed timestamp {i}: {e}"),
                )
            })?;
        times.push(v.time);
    }
    for (url, range) in &v2_logs {
        if let Some(t) = times.iter().find(|t| !range.contains(**t)) {
            return Err(fail(
                ReasonCode::TlogInvalid,
                format!(
                    "signed at {}, outside the validity of transparency log {url}",
                    crate::base::time::format_rfc3339(*t)
                ),
            ));
        }
    }
    if let Some(t) = times.iter().find(|t| **t > opts.now + MAX_CLOCK_SKEW) {
        return Err(fail(
            ReasonCode::TlogInvalid,
            format!(
                "signing time {} is in the future",
                crate::base::time::format_rfc3339(*t)
            ),
        ));
    }

    let Some((cert, extras)) = cert else {
        return Ok(Verified {
            signer: key.fingerprint(),
            issuer: None,
            times,
            tlog_entries: bundle.tlog_entries.len(),
        });
    };
    // 5. certificate at the signing times
    if times.is_empty() {
        return Err(fail(
            ReasonCode::TlogInvalid,
            "no verified signing time: a keyless signature needs a transparency log entry with a signed entry timestamp or an RFC 3161 timestamp",
        ));
    }
    for t in &times {
        let at = crate::base::time::format_rfc3339(*t);
        if !cert.valid_at(*t) {
            return Err(fail(
                ReasonCode::CertificateInvalid,
                format!(
                    "signed at {at}, outside the certificate's validity {} – {}",
                    crate::base::time::format_rfc3339(cert.not_before),
                    crate::base::time::format_rfc3339(cert.not_after)
                ),
            ));
        }
        let ca = x509::verify_chain(
            &cert.der,
            extras,
            &root.certificate_authorities,
            *t,
            x509::CODE_SIGNING,
        )
        .map_err(|e| {
            fail(
                ReasonCode::CertificateInvalid,
                format!(
                    "certificate does not chain to a Fulcio CA of {} at {at}: {e}",
                    root.origin
                ),
            )
        })?;
        let mut candidates: Vec<Vec<u8>> = extras.to_vec();
        if let Some(a) = root.certificate_authorities.get(ca) {
            candidates.extend(a.chain.iter().cloned());
        }
        let issuer = fulcio::find_issuer(&cert, &candidates).ok_or_else(|| {
            fail(
                ReasonCode::CertificateInvalid,
                "the certificate's issuer is not in its chain",
            )
        })?;
        let issuer_spki =
            issuer_spki(issuer).map_err(|e| fail(ReasonCode::CertificateInvalid, e.to_string()))?;
        fulcio::verify_scts(&cert.der, &issuer_spki, root).map_err(|e| {
            fail(
                ReasonCode::CertificateInvalid,
                format!("certificate transparency: {e}"),
            )
        })?;
    }

    // 6. identity
    if let Expected::Keyless(id) = expected {
        check_identity(&cert, id)?;
    }
    Ok(Verified {
        signer: cert.subject().to_owned(),
        issuer: cert.issuer.clone(),
        times,
        tlog_entries: bundle.tlog_entries.len(),
    })
}

fn issuer_spki(der: &[u8]) -> Result<Vec<u8>, fulcio::CertError> {
    use der::{Decode as _, Encode as _};
    let c = x509_cert::Certificate::from_der(der)
        .map_err(|e| fulcio::CertError::malformed("issuer certificate", e))?;
    c.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| fulcio::CertError::malformed("issuer certificate key", e))
}

/// Checks the certificate's issuer, subject and claims against the identity.
///
/// # Errors
/// `IdentityMismatch` saying what the certificate has instead.
pub fn check_identity(cert: &SigningCert, id: &Identity) -> Result<(), Failure> {
    let issuer = cert.issuer.as_deref().unwrap_or_default();
    if !id.issuer.matches(issuer) {
        return Err(fail(
            ReasonCode::IdentityMismatch,
            format!("certificate issuer {issuer:?} does not match {}", id.issuer),
        ));
    }
    if !cert.sans.iter().any(|s| id.subject.matches(s.value())) {
        return Err(fail(
            ReasonCode::IdentityMismatch,
            format!(
                "certificate subject {} does not match {}",
                cert.sans
                    .iter()
                    .map(|s| format!("{:?}", s.value()))
                    .collect::<Vec<_>>()
                    .join(", "),
                id.subject
            ),
        ));
    }
    for (name, want) in &id.claims {
        let have = cert.claims.get(name);
        if have != Some(want) {
            return Err(fail(
                ReasonCode::IdentityMismatch,
                format!("certificate claim {name} is {have:?}, expected {want:?}"),
            ));
        }
    }
    Ok(())
}

/// Annotations cosign (legacy `.sig`/`.att` layers) puts keyless material in.
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
pub const REKOR_BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
pub const RFC3161_ANNOTATION: &str = "dev.sigstore.cosign/rfc3161timestamp";

/// Turns the keyless material of a cosign legacy layer (certificate and chain PEM, Rekor
/// bundle with its SET, RFC 3161 timestamp) into a v0.1 bundle over `content`, so it is
/// verified exactly like a bundle. `None` when the layer carries no certificate.
///
/// # Errors
/// Malformed annotations, with the annotation named.
pub fn legacy_bundle(
    annotations: &std::collections::BTreeMap<String, String>,
    content: Content,
) -> Result<Option<Bundle>, String> {
    use crate::crypto::{decode_base64_lenient, parse_pem_blocks};
    let Some(cert_pem) = annotations.get(CERTIFICATE_ANNOTATION) else {
        return Ok(None);
    };
    let mut chain: Vec<Vec<u8>> = Vec::new();
    for (name, text) in [
        (CERTIFICATE_ANNOTATION, Some(cert_pem)),
        (CHAIN_ANNOTATION, annotations.get(CHAIN_ANNOTATION)),
    ] {
        let Some(text) = text else { continue };
        let blocks = parse_pem_blocks(text).map_err(|e| format!("{name}: {e}"))?;
        chain.extend(
            blocks
                .into_iter()
                .filter(|b| b.label == "CERTIFICATE")
                .map(|b| b.contents),
        );
    }
    if chain.is_empty() {
        return Err(format!("{CERTIFICATE_ANNOTATION}: no certificate"));
    }
    // cosign's chain annotation ends with the root; roots only ever come from the trusted
    // root, so it is dropped here (bundles must not carry one at all).
    let leaf = chain.remove(0);
    chain.retain(|c| !x509::is_self_signed(c));
    chain.insert(0, leaf);
    let mut tlog_entries = Vec::new();
    if let Some(b) = annotations.get(REKOR_BUNDLE_ANNOTATION) {
        #[derive(serde::Deserialize)]
        struct RekorBundle {
            #[serde(rename = "SignedEntryTimestamp")]
            set: String,
            #[serde(rename = "Payload")]
            payload: RekorPayload,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct RekorPayload {
            body: String,
            integrated_time: i64,
            log_index: i64,
            #[serde(rename = "logID")]
            log_id: String,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Kind {
            kind: String,
            api_version: String,
        }
        let rb: RekorBundle =
            serde_json::from_str(b).map_err(|e| format!("{REKOR_BUNDLE_ANNOTATION}: {e}"))?;
        let body = decode_base64_lenient(&rb.payload.body)
            .map_err(|e| format!("{REKOR_BUNDLE_ANNOTATION}: body: {e}"))?;
        let kind: Kind = serde_json::from_slice(&body)
            .map_err(|e| format!("{REKOR_BUNDLE_ANNOTATION}: body: {e}"))?;
        if rb.payload.log_index < 0 || rb.payload.integrated_time < 0 {
            return Err(format!("{REKOR_BUNDLE_ANNOTATION}: negative index or time"));
        }
        tlog_entries.push(rekor::TlogEntry {
            log_index: rb.payload.log_index,
            log_id: hex::decode(&rb.payload.log_id)
                .map_err(|e| format!("{REKOR_BUNDLE_ANNOTATION}: logID: {e}"))?,
            kind: kind.kind,
            version: kind.api_version,
            integrated_time: Some(rb.payload.integrated_time),
            signed_entry_timestamp: Some(
                decode_base64_lenient(&rb.set)
                    .map_err(|e| format!("{REKOR_BUNDLE_ANNOTATION}: SignedEntryTimestamp: {e}"))?,
            ),
            inclusion_proof: None,
            canonicalized_body: body,
        });
    }
    let mut timestamps = Vec::new();
    if let Some(t) = annotations.get(RFC3161_ANNOTATION) {
        #[derive(serde::Deserialize)]
        struct Ts {
            #[serde(rename = "SignedRFC3161Timestamp")]
            signed: String,
        }
        let ts: Ts = serde_json::from_str(t).map_err(|e| format!("{RFC3161_ANNOTATION}: {e}"))?;
        timestamps.push(
            decode_base64_lenient(&ts.signed).map_err(|e| format!("{RFC3161_ANNOTATION}: {e}"))?,
        );
    }
    Ok(Some(Bundle {
        version: Version::V01,
        material: Material::Chain(chain),
        tlog_entries,
        timestamps,
        content,
    }))
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use ecdsa::signature::hazmat::PrehashSigner as _;
    use p384::pkcs8::EncodePublicKey as _;

    use super::*;

    const ARTIFACT: &[u8] = b"a release artifact\n";

    /// A key-material bundle whose message signature is a P-384 ECDSA signature over the
    /// `alg` digest of `ARTIFACT`, with `messageDigest.algorithm` = `alg_name`.
    fn p384_bundle(alg: HashAlgorithm, alg_name: &str) -> (Bundle, PublicKey) {
        let sk = p384::ecdsa::SigningKey::from_slice(&[7u8; 48]).unwrap();
        let pem = sk
            .verifying_key()
            .to_public_key_pem(p384::pkcs8::LineEnding::LF)
            .unwrap();
        let digest = alg.digest(ARTIFACT);
        let sig: p384::ecdsa::Signature = sk.sign_prehash(&digest).unwrap();
        let json = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"publicKey": {"hint": "p384"}, "tlogEntries": []},
            "messageSignature": {
                "messageDigest": {"algorithm": alg_name, "digest": STANDARD.encode(&digest)},
                "signature": STANDARD.encode(sig.to_der().as_bytes()),
            }
        });
        let bundle = Bundle::from_json(json.to_string().as_bytes()).unwrap();
        (bundle, PublicKey::from_pem(&pem).unwrap())
    }

    fn opts() -> Options {
        Options {
            ignore_tlog: true,
            now: 1_800_000_000,
        }
    }

    #[test]
    fn p384_message_signature_over_a_sha256_digest_verifies() {
        // what sigstore-go and sigstore-python accept: the bundle's messageDigest names the
        // hash, whatever the curve's default (SHA-384 for P-384)
        let root = TrustedRoot::production();
        let (bundle, key) = p384_bundle(HashAlgorithm::Sha256, "SHA2_256");
        verify_bundle(
            &bundle,
            Artifact::Bytes(ARTIFACT),
            Expected::Key(&key),
            &root,
            opts(),
        )
        .unwrap();
        // the same from the digest alone (`verify-blob sha256:<hex>`)
        let d = HashAlgorithm::Sha256.digest(ARTIFACT);
        verify_bundle(
            &bundle,
            Artifact::Digest(HashAlgorithm::Sha256, &d),
            Expected::Key(&key),
            &root,
            opts(),
        )
        .unwrap();
        // and the curve's own hash keeps working
        let (bundle, key) = p384_bundle(HashAlgorithm::Sha384, "SHA2_384");
        verify_bundle(
            &bundle,
            Artifact::Bytes(ARTIFACT),
            Expected::Key(&key),
            &root,
            opts(),
        )
        .unwrap();
    }

    #[test]
    fn message_digest_algorithm_is_binding() {
        let root = TrustedRoot::production();
        // signed over SHA-256 but labelled SHA2_384: the digest check refuses it
        let (mut bundle, key) = p384_bundle(HashAlgorithm::Sha256, "SHA2_384");
        let f = verify_bundle(
            &bundle,
            Artifact::Bytes(ARTIFACT),
            Expected::Key(&key),
            &root,
            opts(),
        )
        .unwrap_err();
        assert_eq!(f.code, ReasonCode::PayloadDigestMismatch, "{f}");
        // a consistent SHA2_384 label over a signature made over the SHA-256 digest
        if let Content::Message { digest, .. } = &mut bundle.content {
            *digest = Some((
                HashAlgorithm::Sha384,
                HashAlgorithm::Sha384.digest(ARTIFACT),
            ));
        }
        let f = verify_bundle(
            &bundle,
            Artifact::Bytes(ARTIFACT),
            Expected::Key(&key),
            &root,
            opts(),
        )
        .unwrap_err();
        assert_eq!(f.code, ReasonCode::SignatureInvalid, "{f}");
    }

    #[test]
    fn a_digest_the_key_cannot_use_is_refused() {
        let mut scalar = [9u8; 66];
        scalar[0] = 1; // below the P-521 group order
        let sk = p521::ecdsa::SigningKey::from_slice(&scalar).unwrap();
        let pem = p521::ecdsa::VerifyingKey::from(&sk)
            .to_public_key_pem(p384::pkcs8::LineEnding::LF)
            .unwrap();
        let key = PublicKey::from_pem(&pem).unwrap();
        let d = HashAlgorithm::Sha256.digest(ARTIFACT);
        let e = key
            .verify_digest(HashAlgorithm::Sha256, &d, &[0x30, 0x06, 2, 1, 1, 2, 1, 1])
            .unwrap_err();
        assert!(
            e.to_string().contains("cannot verify a"),
            "P-521 over SHA-256: {e}"
        );
    }
}
