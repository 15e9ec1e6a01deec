//! Verdicts are values: the stable reason codes of the contract, per-image verdicts and
//! the revision's decision. Pure data; everything here serializes into the JSON report.

use serde::{Deserialize, Serialize};

/// Stable reason codes (contract: "Reason codes"). Used in reports, conditions, events
/// and metric labels, so never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ReasonCode {
    // verdict `fail`: the evidence says no
    NoSignature,
    NoMatchingSignature,
    ThresholdNotMet,
    SignatureInvalid,
    PayloadDigestMismatch,
    IdentityMismatch,
    CertificateInvalid,
    TlogInvalid,
    AttestationMissing,
    AttestationSubjectMismatch,
    SbomDeniedPackage,
    SbomDeniedLicense,
    VulnerabilityTooSevere,
    VulnerabilityDenied,
    ScanTooOld,
    /// A verification summary from another verifier, or one that does not say PASSED.
    SummaryNotAccepted,
    /// A verification summary older than the rule's `summary.maxAge`.
    SummaryTooOld,
    RegistryNotAllowed,
    NoPolicyMatch,
    TagNotPinned,
    // verdict `unverifiable`: could not check (blocks too)
    RegistryUnavailable,
    RegistryRateLimited,
    RegistryAuthFailed,
    ImageNotFound,
    ResponseTooLarge,
    ContentDigestMismatch,
    MalformedSignature,
    MalformedAttestation,
    UnresolvableReference,
    Timeout,
    /// The admission webhook's `--deadline` passed before the verification finished (the
    /// work goes on and fills the cache, so a retry is fast).
    VerificationTimeout,
    /// Admission only: a policy that applies to the object could not be loaded (an invalid
    /// `ImagePolicy`, a Secret it names is missing), so nothing in its scope is admitted.
    PolicyUnavailable,
    /// A key manager key (`hashivault://`, `awskms://`) a rule's attestor names could not
    /// be read (the key manager is unreachable and the keys last read have expired), so the
    /// signatures it would verify could not be checked.
    KeyUnavailable,
}

impl ReasonCode {
    /// The code as written in reports (`"NoSignature"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoSignature => "NoSignature",
            Self::NoMatchingSignature => "NoMatchingSignature",
            Self::ThresholdNotMet => "ThresholdNotMet",
            Self::SignatureInvalid => "SignatureInvalid",
            Self::PayloadDigestMismatch => "PayloadDigestMismatch",
            Self::IdentityMismatch => "IdentityMismatch",
            Self::CertificateInvalid => "CertificateInvalid",
            Self::TlogInvalid => "TlogInvalid",
            Self::AttestationMissing => "AttestationMissing",
            Self::AttestationSubjectMismatch => "AttestationSubjectMismatch",
            Self::SbomDeniedPackage => "SbomDeniedPackage",
            Self::SbomDeniedLicense => "SbomDeniedLicense",
            Self::VulnerabilityTooSevere => "VulnerabilityTooSevere",
            Self::VulnerabilityDenied => "VulnerabilityDenied",
            Self::ScanTooOld => "ScanTooOld",
            Self::SummaryNotAccepted => "SummaryNotAccepted",
            Self::SummaryTooOld => "SummaryTooOld",
            Self::RegistryNotAllowed => "RegistryNotAllowed",
            Self::NoPolicyMatch => "NoPolicyMatch",
            Self::TagNotPinned => "TagNotPinned",
            Self::RegistryUnavailable => "RegistryUnavailable",
            Self::RegistryRateLimited => "RegistryRateLimited",
            Self::RegistryAuthFailed => "RegistryAuthFailed",
            Self::ImageNotFound => "ImageNotFound",
            Self::ResponseTooLarge => "ResponseTooLarge",
            Self::ContentDigestMismatch => "ContentDigestMismatch",
            Self::MalformedSignature => "MalformedSignature",
            Self::MalformedAttestation => "MalformedAttestation",
            Self::UnresolvableReference => "UnresolvableReference",
            Self::Timeout => "Timeout",
            Self::VerificationTimeout => "VerificationTimeout",
            Self::PolicyUnavailable => "PolicyUnavailable",
            Self::KeyUnavailable => "KeyUnavailable",
        }
    }
}

/// A reason with a human message that names what failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub code: ReasonCode,
    pub message: String,
}

impl Reason {
    pub fn new(code: ReasonCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// The verdict for one image (or one policy rule on it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// `unmatched: allow` let it through unchecked.
    Allowed,
    Fail(Vec<Reason>),
    Unverifiable(Reason),
}

impl Verdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Allowed => "allowed",
            Self::Fail(_) => "fail",
            Self::Unverifiable(_) => "unverifiable",
        }
    }
    pub fn reasons(&self) -> Vec<Reason> {
        match self {
            Self::Pass | Self::Allowed => Vec::new(),
            Self::Fail(r) => r.clone(),
            Self::Unverifiable(r) => vec![r.clone()],
        }
    }
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Pass | Self::Allowed)
    }
}

/// The decision for the whole input (revision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Pass,
    Blocked,
    /// Only warn-mode policies failed: reported, not blocking.
    Warn,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Blocked => "blocked",
            Self::Warn => "warn",
        }
    }
}
