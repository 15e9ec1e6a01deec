//! Evidence: the bytes the registry edge gathered for one image, as plain values. The pure
//! middle (signature checks, policy, decision) works only on these.

use bytes::Bytes;

use crate::base::reference::Digest;
use crate::base::verdict::Reason;

/// Where a signature was found (contract: `signatures[].source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureSource {
    LegacyTag,
    Referrers,
    FallbackTag,
    OciLayout,
}

impl SignatureSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LegacyTag => "legacy-tag",
            Self::Referrers => "referrers",
            Self::FallbackTag => "fallback-tag",
            Self::OciLayout => "oci-layout",
        }
    }
}

/// One layer of a cosign `.sig` manifest, with its payload blob already fetched and
/// re-hashed against the layer digest.
#[derive(Debug, Clone)]
pub struct SignatureLayer {
    /// Index of the layer in the signature manifest (or of the bundle among the referrers).
    pub index: usize,
    /// Where it was found, for reports: `sha256-<hex>.sig layer 0`, `referrer <repo>@sha256:…`.
    pub origin: String,
    pub media_type: String,
    /// The payload blob bytes exactly as fetched.
    pub payload: Bytes,
    /// `dev.cosignproject.cosign/signature` annotation (base64), if present.
    pub signature: Option<String>,
    /// Every annotation of the layer (`dev.sigstore.cosign/certificate`, `…/chain`,
    /// `…/bundle`, `…/rfc3161timestamp` for keyless signatures).
    pub annotations: std::collections::BTreeMap<String, String>,
    pub source: SignatureSource,
}

/// What was found about an image's signatures.
#[derive(Debug, Clone)]
pub enum SignatureEvidence {
    /// No signature object exists for the digest (e.g. the `.sig` tag is absent).
    Missing,
    Layers(Vec<SignatureLayer>),
    /// Could not check (registry trouble, malformed manifest, digest mismatch…).
    Unverifiable(Reason),
}

/// Evidence for one normalized image reference.
#[derive(Debug, Clone)]
pub struct ImageEvidence {
    /// The digest the reference resolves to, or why it could not be resolved.
    pub digest: Result<Digest, Reason>,
    /// `None` when no policy needed signatures for this image.
    pub signatures: Option<SignatureEvidence>,
    /// `None` when no policy has attestation rules for this image.
    pub attestations: Option<AttestationEvidence>,
}

/// One DSSE envelope found for an image: a layer of the cosign `.att` manifest, or the
/// `dsseEnvelope` of a Sigstore bundle attached as a referrer. Bytes as fetched (re-hashed
/// against their descriptors); nothing about them is trusted yet.
#[derive(Debug, Clone)]
pub struct AttestationEnvelope {
    pub source: SignatureSource,
    /// Where it was found, for reports: `sha256-<hex>.att layer 0`, `referrer sha256:…`.
    pub origin: String,
    /// The DSSE envelope JSON (`payloadType`, `payload`, `signatures`).
    pub envelope: Bytes,
    /// The whole Sigstore bundle the envelope came in (certificate, tlog entries, timestamps).
    pub bundle: Option<Bytes>,
    /// The `.att` layer's annotations (cosign legacy keyless material).
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// What was found about an image's attestations.
#[derive(Debug, Clone)]
pub enum AttestationEvidence {
    /// Every envelope found on every discovery path (possibly none).
    Found(Vec<AttestationEnvelope>),
    /// Could not check (registry trouble, malformed manifest, too large…).
    Unverifiable(Reason),
}
