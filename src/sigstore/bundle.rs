//! Sigstore bundles (`dev.sigstore.bundle.v1.Bundle`, protobuf JSON mapping; formats.md §3.2):
//! v0.1, v0.2 and v0.3, message signatures and DSSE envelopes, certificate, chain or
//! public-key verification material. Parsing only: every field decoded and checked for
//! shape (known media type, one content, one DSSE signature, non-negative indices, valid
//! base64); nothing here is trusted until [`super::verify`] has checked it.

use serde::Deserialize;

use crate::crypto::{HashAlgorithm, decode_base64_lenient};
use crate::sigstore::rekor::{InclusionProof, TlogEntry};

/// The predicate type of cosign v3 image signatures.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// Artifact types of Sigstore bundles (cosign v3 and the newer parameterised form).
pub fn is_bundle_type(t: &str) -> bool {
    t.starts_with("application/vnd.dev.sigstore.bundle")
}

/// Largest bundle accepted, in bytes (an attestation bundle carries the whole statement).
pub const MAX_BUNDLE_BYTES: usize = 128 << 20;

/// Why a bundle could not be read: one variant per check of [`Bundle::from_json`]. Fields are
/// named by their protobuf JSON path (`tlogEntries[0].inclusionProof.logIndex`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Larger than [`MAX_BUNDLE_BYTES`].
    #[error("bundle: {0} bytes, limit {MAX_BUNDLE_BYTES}")]
    TooLarge(usize),
    /// Not JSON of the bundle's shape.
    #[error("bundle: not a Sigstore bundle: {0}")]
    NotABundle(String),
    /// A media type this verifier does not know.
    #[error("bundle: unsupported mediaType {0:?}")]
    UnsupportedMediaType(String),
    /// A required field is absent.
    #[error("bundle: {0} is missing")]
    Missing(String),
    /// An int64 field (protobuf JSON writes them as strings) that is not an integer.
    #[error("bundle: {field}: {value:?} is not an integer")]
    NotAnInteger { field: String, value: String },
    /// An index, size or time below zero.
    #[error("bundle: {field} is negative ({value})")]
    Negative { field: String, value: i64 },
    /// A bytes field that is not base64.
    #[error("bundle: {field}: invalid base64: {detail}")]
    Base64 { field: String, detail: String },
    /// The verification material is not exactly one certificate, chain or public key.
    #[error("bundle: {0}")]
    Material(&'static str),
    /// A message digest algorithm other than SHA-256/384/512.
    #[error("bundle: messageDigest.algorithm {0:?} is not supported")]
    UnsupportedDigest(String),
    /// A DSSE envelope with other than one signature.
    #[error("bundle: dsseEnvelope must carry exactly one signature, has {0}")]
    DsseSignatures(usize),
    /// The content is not exactly one of a message signature and a DSSE envelope.
    #[error("bundle: {0}")]
    Content(&'static str),
}

/// Bundle format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    V01,
    V02,
    V03,
}

/// How the signer is identified.
#[derive(Debug, Clone)]
pub enum Material {
    /// A signing certificate (v0.3), DER.
    Certificate(Vec<u8>),
    /// A certificate chain, leaf first (v0.1/v0.2), DER.
    Chain(Vec<Vec<u8>>),
    /// A key known out of band (`publicKey.hint`).
    PublicKey { hint: String },
}

/// A DSSE envelope.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub payload_type: String,
    pub payload: Vec<u8>,
    /// The one signature (bundles carry exactly one).
    pub signature: Vec<u8>,
}

/// What the bundle signs.
#[derive(Debug, Clone)]
pub enum Content {
    Message {
        /// `messageDigest` (an unauthenticated hint, checked for consistency).
        digest: Option<(HashAlgorithm, Vec<u8>)>,
        signature: Vec<u8>,
    },
    Dsse(Envelope),
}

impl Content {
    /// The signature bytes (what an RFC 3161 timestamp covers).
    pub fn signature(&self) -> &[u8] {
        match self {
            Self::Message { signature, .. } => signature,
            Self::Dsse(e) => &e.signature,
        }
    }
}

/// A parsed bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub version: Version,
    pub material: Material,
    pub tlog_entries: Vec<TlogEntry>,
    /// `timestampVerificationData.rfc3161Timestamps[].signedTimestamp`, DER.
    pub timestamps: Vec<Vec<u8>>,
    pub content: Content,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BundleJson {
    media_type: Option<String>,
    verification_material: Option<MaterialJson>,
    #[serde(default)]
    message_signature: Option<MessageJson>,
    #[serde(default)]
    dsse_envelope: Option<DsseJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MaterialJson {
    #[serde(default)]
    certificate: Option<RawBytes>,
    #[serde(default)]
    x509_certificate_chain: Option<ChainJson>,
    #[serde(default)]
    public_key: Option<KeyHintJson>,
    #[serde(default)]
    tlog_entries: Option<Vec<EntryJson>>,
    #[serde(default)]
    timestamp_verification_data: Option<TimestampsJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytes {
    raw_bytes: Option<String>,
}

#[derive(Deserialize)]
struct ChainJson {
    #[serde(default)]
    certificates: Option<Vec<RawBytes>>,
}

#[derive(Deserialize)]
struct KeyHintJson {
    #[serde(default)]
    hint: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimestampsJson {
    #[serde(default)]
    rfc3161_timestamps: Option<Vec<SignedTimestampJson>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignedTimestampJson {
    signed_timestamp: Option<String>,
}

/// int64 fields are JSON strings in the protobuf mapping; numbers are accepted too.
#[derive(Deserialize)]
#[serde(untagged)]
enum Int {
    Str(String),
    Num(i64),
}

impl Int {
    fn get(&self, what: &str) -> Result<i64, BundleError> {
        match self {
            Self::Num(n) => Ok(*n),
            Self::Str(s) => s.parse().map_err(|_| BundleError::NotAnInteger {
                field: what.to_owned(),
                value: s.clone(),
            }),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryJson {
    log_index: Option<Int>,
    log_id: Option<KeyIdJson>,
    kind_version: Option<KindVersionJson>,
    #[serde(default)]
    integrated_time: Option<Int>,
    #[serde(default)]
    inclusion_promise: Option<PromiseJson>,
    #[serde(default)]
    inclusion_proof: Option<ProofJson>,
    canonicalized_body: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyIdJson {
    key_id: Option<String>,
}

#[derive(Deserialize)]
struct KindVersionJson {
    kind: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromiseJson {
    signed_entry_timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProofJson {
    log_index: Option<Int>,
    root_hash: Option<String>,
    tree_size: Option<Int>,
    #[serde(default)]
    hashes: Option<Vec<String>>,
    #[serde(default)]
    checkpoint: Option<CheckpointJson>,
}

#[derive(Deserialize)]
struct CheckpointJson {
    envelope: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageJson {
    #[serde(default)]
    message_digest: Option<DigestJson>,
    signature: Option<String>,
}

#[derive(Deserialize)]
struct DigestJson {
    algorithm: Option<String>,
    digest: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseJson {
    payload: Option<String>,
    payload_type: Option<String>,
    #[serde(default)]
    signatures: Option<Vec<DsseSigJson>>,
}

#[derive(Deserialize)]
struct DsseSigJson {
    sig: Option<String>,
}

fn b64(s: Option<&str>, what: &str) -> Result<Vec<u8>, BundleError> {
    let s = s.ok_or_else(|| BundleError::Missing(what.to_owned()))?;
    // protobuf JSON (Go's base64 decoder) ignores line breaks inside base64 values
    let s: std::borrow::Cow<'_, str> = if s.contains(['\r', '\n']) {
        s.replace(['\r', '\n'], "").into()
    } else {
        s.into()
    };
    decode_base64_lenient(&s).map_err(|e| BundleError::Base64 {
        field: what.to_owned(),
        detail: e.to_string(),
    })
}

fn required<T>(v: Option<T>, what: &str) -> Result<T, BundleError> {
    v.ok_or_else(|| BundleError::Missing(what.to_owned()))
}

fn non_negative(v: i64, what: &str) -> Result<i64, BundleError> {
    if v < 0 {
        Err(BundleError::Negative {
            field: what.to_owned(),
            value: v,
        })
    } else {
        Ok(v)
    }
}

/// The protobuf `HashAlgorithm` enum name.
pub fn hash_algorithm(name: &str) -> Option<HashAlgorithm> {
    match name {
        "SHA2_256" => Some(HashAlgorithm::Sha256),
        "SHA2_384" => Some(HashAlgorithm::Sha384),
        "SHA2_512" => Some(HashAlgorithm::Sha512),
        _ => None,
    }
}

/// The bundle version of a media type, if it is a bundle media type this verifier knows.
pub fn version_of(media_type: &str) -> Option<Version> {
    match media_type {
        "application/vnd.dev.sigstore.bundle+json;version=0.1" => Some(Version::V01),
        "application/vnd.dev.sigstore.bundle+json;version=0.2" => Some(Version::V02),
        "application/vnd.dev.sigstore.bundle+json;version=0.3"
        | "application/vnd.dev.sigstore.bundle.v0.3+json" => Some(Version::V03),
        _ => None,
    }
}

fn entry(e: &EntryJson, i: usize) -> Result<TlogEntry, BundleError> {
    let what = format!("tlogEntries[{i}]");
    let kv = required(e.kind_version.as_ref(), &format!("{what}.kindVersion"))?;
    let proof = match &e.inclusion_proof {
        None => None,
        Some(p) => {
            let pw = format!("{what}.inclusionProof");
            Some(InclusionProof {
                log_index: non_negative(
                    required(p.log_index.as_ref(), &format!("{pw}.logIndex"))?
                        .get(&format!("{pw}.logIndex"))?,
                    &format!("{pw}.logIndex"),
                )?,
                root_hash: b64(p.root_hash.as_deref(), &format!("{pw}.rootHash"))?,
                tree_size: non_negative(
                    required(p.tree_size.as_ref(), &format!("{pw}.treeSize"))?
                        .get(&format!("{pw}.treeSize"))?,
                    &format!("{pw}.treeSize"),
                )?,
                hashes: p
                    .hashes
                    .iter()
                    .flatten()
                    .enumerate()
                    .map(|(j, h)| b64(Some(h), &format!("{pw}.hashes[{j}]")))
                    .collect::<Result<_, _>>()?,
                checkpoint: p
                    .checkpoint
                    .as_ref()
                    .and_then(|c| c.envelope.clone())
                    .unwrap_or_default(),
            })
        }
    };
    let integrated_time = match &e.integrated_time {
        None => None,
        Some(t) => {
            let t = non_negative(
                t.get(&format!("{what}.integratedTime"))?,
                &format!("{what}.integratedTime"),
            )?;
            (t != 0).then_some(t)
        }
    };
    Ok(TlogEntry {
        log_index: non_negative(
            required(e.log_index.as_ref(), &format!("{what}.logIndex"))?
                .get(&format!("{what}.logIndex"))?,
            &format!("{what}.logIndex"),
        )?,
        log_id: b64(
            e.log_id.as_ref().and_then(|l| l.key_id.as_deref()),
            &format!("{what}.logId.keyId"),
        )?,
        kind: required(kv.kind.clone(), &format!("{what}.kindVersion.kind"))?,
        version: required(kv.version.clone(), &format!("{what}.kindVersion.version"))?,
        integrated_time,
        signed_entry_timestamp: match &e.inclusion_promise {
            None => None,
            Some(p) => Some(b64(
                p.signed_entry_timestamp.as_deref(),
                &format!("{what}.inclusionPromise.signedEntryTimestamp"),
            )?),
        },
        inclusion_proof: proof,
        canonicalized_body: b64(
            e.canonicalized_body.as_deref(),
            &format!("{what}.canonicalizedBody"),
        )?,
    })
}

impl Bundle {
    /// Parses a bundle document.
    ///
    /// # Errors
    /// Malformed JSON, an unknown media type, missing or contradictory parts, invalid base64,
    /// negative indices.
    pub fn from_json(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge(bytes.len()));
        }
        let j: BundleJson =
            serde_json::from_slice(bytes).map_err(|e| BundleError::NotABundle(e.to_string()))?;
        let media_type = required(j.media_type.as_deref(), "mediaType")?;
        let version = version_of(media_type)
            .ok_or_else(|| BundleError::UnsupportedMediaType(media_type.to_owned()))?;
        let vm = required(j.verification_material.as_ref(), "verificationMaterial")?;
        let material = match (&vm.certificate, &vm.x509_certificate_chain, &vm.public_key) {
            (Some(c), None, None) => Material::Certificate(b64(
                c.raw_bytes.as_deref(),
                "verificationMaterial.certificate.rawBytes",
            )?),
            (None, Some(ch), None) => {
                let certs = ch.certificates.as_deref().unwrap_or_default();
                if certs.is_empty() {
                    return Err(BundleError::Material(
                        "verificationMaterial.x509CertificateChain is empty",
                    ));
                }
                Material::Chain(
                    certs
                        .iter()
                        .enumerate()
                        .map(|(i, c)| {
                            b64(
                                c.raw_bytes.as_deref(),
                                &format!("x509CertificateChain.certificates[{i}].rawBytes"),
                            )
                        })
                        .collect::<Result<_, _>>()?,
                )
            }
            (None, None, Some(k)) => Material::PublicKey {
                hint: k.hint.clone().unwrap_or_default(),
            },
            (None, None, None) => {
                return Err(BundleError::Material(
                    "verificationMaterial has no certificate, chain or public key",
                ));
            }
            _ => {
                return Err(BundleError::Material(
                    "verificationMaterial has more than one of certificate, chain and public key",
                ));
            }
        };
        let tlog_entries = vm
            .tlog_entries
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, e)| entry(e, i))
            .collect::<Result<Vec<_>, _>>()?;
        let timestamps = vm
            .timestamp_verification_data
            .as_ref()
            .and_then(|t| t.rfc3161_timestamps.as_ref())
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, t)| {
                b64(
                    t.signed_timestamp.as_deref(),
                    &format!("rfc3161Timestamps[{i}].signedTimestamp"),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let content = match (&j.message_signature, &j.dsse_envelope) {
            (Some(m), None) => Content::Message {
                digest: match &m.message_digest {
                    None => None,
                    Some(d) => {
                        let name = required(d.algorithm.as_deref(), "messageDigest.algorithm")?;
                        let alg = hash_algorithm(name)
                            .ok_or_else(|| BundleError::UnsupportedDigest(name.to_owned()))?;
                        Some((alg, b64(d.digest.as_deref(), "messageDigest.digest")?))
                    }
                },
                signature: b64(m.signature.as_deref(), "messageSignature.signature")?,
            },
            (None, Some(d)) => {
                let sigs = d.signatures.as_deref().unwrap_or_default();
                let [sig] = sigs else {
                    return Err(BundleError::DsseSignatures(sigs.len()));
                };
                Content::Dsse(Envelope {
                    payload_type: required(d.payload_type.clone(), "dsseEnvelope.payloadType")?,
                    payload: b64(d.payload.as_deref(), "dsseEnvelope.payload")?,
                    signature: b64(sig.sig.as_deref(), "dsseEnvelope.signatures[0].sig")?,
                })
            }
            (None, None) => {
                return Err(BundleError::Content(
                    "neither messageSignature nor dsseEnvelope is present",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(BundleError::Content(
                    "both messageSignature and dsseEnvelope are present",
                ));
            }
        };
        Ok(Self {
            version,
            material,
            tlog_entries,
            timestamps,
            content,
        })
    }

    /// The signing certificate and the extra certificates given with it (DER).
    pub fn certificates(&self) -> Option<(&[u8], &[Vec<u8>])> {
        match &self.material {
            Material::Certificate(c) => Some((c, &[])),
            Material::Chain(chain) => chain.split_first().map(|(l, rest)| (l.as_slice(), rest)),
            Material::PublicKey { .. } => None,
        }
    }
}
