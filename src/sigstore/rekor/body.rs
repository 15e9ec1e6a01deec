//! Entry bodies

#[allow(clippy::wildcard_imports)]
use super::*;

/// The key material a Rekor entry records for a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryVerifier {
    /// An X.509 certificate, DER.
    Certificate(Vec<u8>),
    /// A public key, SubjectPublicKeyInfo DER.
    PublicKey(Vec<u8>),
}

/// A signature recorded in an entry body, with its verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrySignature {
    pub signature: Vec<u8>,
    pub verifier: EntryVerifier,
}

/// A hash recorded in an entry body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryDigest {
    pub algorithm: HashAlgorithm,
    pub value: Vec<u8>,
}

/// The Rekor entry body, decoded into what the bundle must agree with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryBody {
    /// `hashedrekord` 0.0.1 / 0.0.2, or legacy `rekord` 0.0.1 (x509): a signature over an
    /// artifact digest. A 0.0.2 entry may also log a DSSE envelope as the digest of its PAE.
    HashedRekord {
        /// `true` for `hashedrekord` 0.0.2 (Rekor v2).
        v2: bool,
        digest: EntryDigest,
        signature: EntrySignature,
    },
    /// `dsse` 0.0.1 / 0.0.2: the payload hash and the envelope's signatures.
    Dsse {
        v2: bool,
        payload_hash: EntryDigest,
        signatures: Vec<EntrySignature>,
    },
    /// `intoto` 0.0.2: the envelope as logged (payload optional) and its payload hash.
    Intoto {
        payload_type: Option<String>,
        payload: Option<Vec<u8>>,
        payload_hash: Option<EntryDigest>,
        signatures: Vec<EntrySignature>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BodyJson {
    pub(super) api_version: Option<String>,
    pub(super) kind: Option<String>,
    pub(super) spec: Option<serde_json::Value>,
}

// hashedrekord / rekord 0.0.1
#[derive(Deserialize)]
pub(super) struct HashedRekordV001 {
    pub(super) data: Option<DataV001>,
    pub(super) signature: Option<SigV001>,
}
#[derive(Deserialize)]
pub(super) struct DataV001 {
    pub(super) hash: Option<HashV001>,
}
#[derive(Deserialize)]
pub(super) struct HashV001 {
    pub(super) algorithm: Option<String>,
    pub(super) value: Option<String>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SigV001 {
    #[serde(default)]
    pub(super) format: Option<String>,
    pub(super) content: Option<String>,
    pub(super) public_key: Option<ContentV001>,
}
#[derive(Deserialize)]
pub(super) struct ContentV001 {
    pub(super) content: Option<String>,
}

// hashedrekord / dsse 0.0.2
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SpecV002 {
    pub(super) hashed_rekord_v002: Option<HashedRekordV002>,
    pub(super) dsse_v002: Option<DsseV002>,
}
#[derive(Deserialize)]
pub(super) struct HashedRekordV002 {
    pub(super) data: Option<HashOutputV002>,
    pub(super) signature: Option<SigV002>,
}
#[derive(Deserialize)]
pub(super) struct HashOutputV002 {
    pub(super) algorithm: Option<String>,
    pub(super) digest: Option<String>,
}
#[derive(Deserialize)]
pub(super) struct SigV002 {
    pub(super) content: Option<String>,
    pub(super) verifier: Option<VerifierV002>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct VerifierV002 {
    pub(super) x509_certificate: Option<RawBytesV002>,
    pub(super) public_key: Option<RawBytesV002>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawBytesV002 {
    pub(super) raw_bytes: Option<String>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DsseV002 {
    pub(super) payload_hash: Option<HashOutputV002>,
    pub(super) signatures: Option<Vec<SigV002>>,
}

// dsse 0.0.1
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DsseV001 {
    pub(super) payload_hash: Option<HashV001>,
    pub(super) signatures: Option<Vec<DsseSigV001>>,
}
#[derive(Deserialize)]
pub(super) struct DsseSigV001 {
    pub(super) signature: Option<String>,
    pub(super) verifier: Option<String>,
}

// intoto 0.0.2
#[derive(Deserialize)]
pub(super) struct IntotoV002 {
    pub(super) content: Option<IntotoContentV002>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IntotoContentV002 {
    pub(super) envelope: Option<IntotoEnvelopeV002>,
    pub(super) payload_hash: Option<HashV001>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IntotoEnvelopeV002 {
    pub(super) payload: Option<String>,
    pub(super) payload_type: Option<String>,
    pub(super) signatures: Option<Vec<IntotoSigV002>>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IntotoSigV002 {
    pub(super) sig: Option<String>,
    pub(super) public_key: Option<String>,
}

pub(super) fn req<'a, T>(v: Option<&'a T>, what: &str) -> Result<&'a T, TlogError> {
    v.ok_or_else(|| TlogError::Body(format!("log entry body: {what} is missing")))
}

pub(super) fn b64_field(v: Option<&String>, what: &str) -> Result<Vec<u8>, TlogError> {
    let s = req(v, what)?;
    decode_base64_lenient(s)
        .map_err(|e| TlogError::Body(format!("log entry body: {what} is not base64: {e}")))
}

pub(super) fn hash_algorithm(name: &str, what: &str) -> Result<HashAlgorithm, TlogError> {
    match name {
        "sha256" | "SHA2_256" => Ok(HashAlgorithm::Sha256),
        "sha384" | "SHA2_384" => Ok(HashAlgorithm::Sha384),
        "sha512" | "SHA2_512" => Ok(HashAlgorithm::Sha512),
        other => fail(
            TlogError::Body,
            format!("log entry body: {what} algorithm {other:?} is not supported"),
        ),
    }
}

pub(super) fn digest_checked(
    algorithm: HashAlgorithm,
    value: Vec<u8>,
    what: &str,
) -> Result<EntryDigest, TlogError> {
    if value.len() != algorithm.output_len() {
        return fail(
            TlogError::Body,
            format!(
                "log entry body: {what} is {} bytes, a {algorithm} digest is {}",
                value.len(),
                algorithm.output_len()
            ),
        );
    }
    Ok(EntryDigest { algorithm, value })
}

/// `{"algorithm":"sha256","value":"<hex>"}` (Rekor v1).
pub(super) fn hash_v001(h: Option<&HashV001>, what: &str) -> Result<EntryDigest, TlogError> {
    let h = req(h, what)?;
    let algorithm = hash_algorithm(
        req(h.algorithm.as_ref(), &format!("{what}.algorithm"))?,
        what,
    )?;
    let value = req(h.value.as_ref(), &format!("{what}.value"))?;
    let value = hex::decode(value)
        .map_err(|e| TlogError::Body(format!("log entry body: {what}.value is not hex: {e}")))?;
    digest_checked(algorithm, value, what)
}

/// `{"algorithm":"SHA2_256","digest":"<base64>"}` (Rekor v2).
pub(super) fn hash_v002(h: Option<&HashOutputV002>, what: &str) -> Result<EntryDigest, TlogError> {
    let h = req(h, what)?;
    let algorithm = hash_algorithm(
        req(h.algorithm.as_ref(), &format!("{what}.algorithm"))?,
        what,
    )?;
    let value = b64_field(h.digest.as_ref(), &format!("{what}.digest"))?;
    digest_checked(algorithm, value, what)
}

/// A PEM certificate or public key (Rekor v1 verifiers).
pub(super) fn pem_verifier(pem: &[u8], what: &str) -> Result<EntryVerifier, TlogError> {
    let text = std::str::from_utf8(pem)
        .map_err(|_| TlogError::Body(format!("log entry body: {what} is not PEM text")))?;
    let blocks = crate::crypto::parse_pem_blocks(text)
        .map_err(|e| TlogError::Body(format!("log entry body: {what}: {e}")))?;
    let Some(first) = blocks.first() else {
        return fail(
            TlogError::Body,
            format!("log entry body: {what} holds no PEM block"),
        );
    };
    match first.label.as_str() {
        "CERTIFICATE" => Ok(EntryVerifier::Certificate(first.contents.clone())),
        "PUBLIC KEY" | "RSA PUBLIC KEY" => {
            if blocks.len() != 1 {
                return fail(
                    TlogError::Body,
                    format!("log entry body: {what} holds more than one public key"),
                );
            }
            let key = PublicKey::from_pem(text)
                .map_err(|e| TlogError::Body(format!("log entry body: {what}: {e}")))?;
            Ok(EntryVerifier::PublicKey(key.spki_der().to_vec()))
        }
        other => fail(
            TlogError::Body,
            format!(
                "log entry body: {what} is a PEM {other:?} block, not a certificate or public key"
            ),
        ),
    }
}

pub(super) fn verifier_v002(
    v: Option<&VerifierV002>,
    what: &str,
) -> Result<EntryVerifier, TlogError> {
    let v = req(v, what)?;
    match (&v.x509_certificate, &v.public_key) {
        (Some(cert), None) => Ok(EntryVerifier::Certificate(b64_field(
            cert.raw_bytes.as_ref(),
            &format!("{what}.x509Certificate.rawBytes"),
        )?)),
        (None, Some(key)) => {
            let der = b64_field(
                key.raw_bytes.as_ref(),
                &format!("{what}.publicKey.rawBytes"),
            )?;
            // Normalise to the SPKI encoding the crypto layer produces, when it can read it.
            let der = PublicKey::from_spki_der(&der).map_or(der, |k| k.spki_der().to_vec());
            Ok(EntryVerifier::PublicKey(der))
        }
        _ => fail(
            TlogError::Body,
            format!(
                "log entry body: {what} must hold exactly one of x509Certificate and publicKey"
            ),
        ),
    }
}

pub(super) fn sig_v002(s: &SigV002, what: &str) -> Result<EntrySignature, TlogError> {
    Ok(EntrySignature {
        signature: b64_field(s.content.as_ref(), &format!("{what}.content"))?,
        verifier: verifier_v002(s.verifier.as_ref(), &format!("{what}.verifier"))?,
    })
}

pub(super) fn spec_as<T: serde::de::DeserializeOwned>(
    spec: serde_json::Value,
    what: &str,
) -> Result<T, TlogError> {
    serde_json::from_value(spec)
        .map_err(|e| TlogError::Body(format!("log entry body: malformed {what} spec: {e}")))
}

/// Decodes the entry's canonicalized body. Supported: `hashedrekord` 0.0.1 and 0.0.2,
/// `rekord` 0.0.1 (x509), `dsse` 0.0.1 and 0.0.2, `intoto` 0.0.2. The body's `kind` and
/// `apiVersion` must equal the entry's `kindVersion`.
///
/// # Errors
/// Malformed JSON, a kind/version mismatch, an unsupported type, or missing or malformed fields.
pub fn parse_body(entry: &TlogEntry) -> Result<EntryBody, TlogError> {
    let body: BodyJson = serde_json::from_slice(&entry.canonicalized_body)
        .map_err(|e| TlogError::Body(format!("log entry body is not a Rekor entry: {e}")))?;
    let kind = req(body.kind.as_ref(), "kind")?;
    let version = req(body.api_version.as_ref(), "apiVersion")?;
    if *kind != entry.kind || *version != entry.version {
        return fail(
            TlogError::Body,
            format!(
                "log entry body is {kind} {version} but the bundle says {} {}",
                entry.kind, entry.version
            ),
        );
    }
    let spec = body
        .spec
        .ok_or_else(|| TlogError::Body("log entry body: spec is missing".into()))?;
    match (kind.as_str(), version.as_str()) {
        ("hashedrekord" | "rekord", "0.0.1") => {
            let s: HashedRekordV001 = spec_as(spec, kind)?;
            let data = req(s.data.as_ref(), "spec.data")?;
            let digest = hash_v001(data.hash.as_ref(), "spec.data.hash")?;
            let sig = req(s.signature.as_ref(), "spec.signature")?;
            if kind == "rekord" && sig.format.as_deref() != Some("x509") {
                return fail(
                    TlogError::Body,
                    format!(
                        "log entry body: rekord signature format {:?} is not supported (only x509)",
                        sig.format
                    ),
                );
            }
            let signature = b64_field(sig.content.as_ref(), "spec.signature.content")?;
            let pk = req(sig.public_key.as_ref(), "spec.signature.publicKey")?;
            let pem = b64_field(pk.content.as_ref(), "spec.signature.publicKey.content")?;
            let verifier = pem_verifier(&pem, "spec.signature.publicKey.content")?;
            Ok(EntryBody::HashedRekord {
                v2: false,
                digest,
                signature: EntrySignature {
                    signature,
                    verifier,
                },
            })
        }
        ("hashedrekord", "0.0.2") => {
            let s: SpecV002 = spec_as(spec, kind)?;
            let h = req(s.hashed_rekord_v002.as_ref(), "spec.hashedRekordV002")?;
            let digest = hash_v002(h.data.as_ref(), "spec.hashedRekordV002.data")?;
            let sig = req(h.signature.as_ref(), "spec.hashedRekordV002.signature")?;
            Ok(EntryBody::HashedRekord {
                v2: true,
                digest,
                signature: sig_v002(sig, "spec.hashedRekordV002.signature")?,
            })
        }
        ("dsse", "0.0.1") => {
            let s: DsseV001 = spec_as(spec, kind)?;
            let payload_hash = hash_v001(s.payload_hash.as_ref(), "spec.payloadHash")?;
            let sigs = req(s.signatures.as_ref(), "spec.signatures")?;
            let signatures = sigs
                .iter()
                .enumerate()
                .map(|(i, sig)| {
                    let what = format!("spec.signatures[{i}]");
                    let pem = b64_field(sig.verifier.as_ref(), &format!("{what}.verifier"))?;
                    Ok(EntrySignature {
                        signature: b64_field(sig.signature.as_ref(), &format!("{what}.signature"))?,
                        verifier: pem_verifier(&pem, &format!("{what}.verifier"))?,
                    })
                })
                .collect::<Result<Vec<_>, TlogError>>()?;
            Ok(EntryBody::Dsse {
                v2: false,
                payload_hash,
                signatures,
            })
        }
        ("dsse", "0.0.2") => {
            let s: SpecV002 = spec_as(spec, kind)?;
            let d = req(s.dsse_v002.as_ref(), "spec.dsseV002")?;
            let payload_hash = hash_v002(d.payload_hash.as_ref(), "spec.dsseV002.payloadHash")?;
            let sigs = req(d.signatures.as_ref(), "spec.dsseV002.signatures")?;
            let signatures = sigs
                .iter()
                .enumerate()
                .map(|(i, sig)| sig_v002(sig, &format!("spec.dsseV002.signatures[{i}]")))
                .collect::<Result<Vec<_>, TlogError>>()?;
            Ok(EntryBody::Dsse {
                v2: true,
                payload_hash,
                signatures,
            })
        }
        ("intoto", "0.0.2") => {
            let s: IntotoV002 = spec_as(spec, kind)?;
            let content = req(s.content.as_ref(), "spec.content")?;
            let env = req(content.envelope.as_ref(), "spec.content.envelope")?;
            let payload_hash = match &content.payload_hash {
                None => None,
                Some(h) => Some(hash_v001(Some(h), "spec.content.payloadHash")?),
            };
            // Rekor stores the envelope's base64 strings base64-encoded once more.
            let double = |v: Option<&String>, what: &str| -> Result<Vec<u8>, TlogError> {
                let once = b64_field(v, what)?;
                let once = String::from_utf8(once).map_err(|_| {
                    TlogError::Body(format!("log entry body: {what} is not base64 text"))
                })?;
                decode_base64_lenient(&once).map_err(|e| {
                    TlogError::Body(format!("log entry body: {what} is not double base64: {e}"))
                })
            };
            let payload = match &env.payload {
                None => None,
                Some(p) => Some(double(Some(p), "spec.content.envelope.payload")?),
            };
            let sigs = req(env.signatures.as_ref(), "spec.content.envelope.signatures")?;
            let signatures = sigs
                .iter()
                .enumerate()
                .map(|(i, sig)| {
                    let what = format!("spec.content.envelope.signatures[{i}]");
                    let pem = b64_field(sig.public_key.as_ref(), &format!("{what}.publicKey"))?;
                    Ok(EntrySignature {
                        signature: double(sig.sig.as_ref(), &format!("{what}.sig"))?,
                        verifier: pem_verifier(&pem, &format!("{what}.publicKey"))?,
                    })
                })
                .collect::<Result<Vec<_>, TlogError>>()?;
            Ok(EntryBody::Intoto {
                payload_type: env.payload_type.clone(),
                payload,
                payload_hash,
                signatures,
            })
        }
        (k, v) => fail(
            TlogError::Body,
            format!("log entry type {k} {v} is not supported"),
        ),
    }
}
