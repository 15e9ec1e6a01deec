//! Key-based verification of cosign legacy `.sig` layers (pure). Reproduces cosign's
//! flow for keys (formats.md §1.7): every layer is considered; a layer verifies for an
//! attestor when its signature verifies over the exact payload bytes with the
//! attestor's key **and** the payload's `docker-manifest-digest` equals the image
//! digest (a signature replayed from another image fails). Attestors are counted once
//! however many of their signatures verify.

use crate::crypto::SignatureError;
use crate::evidence::{SignatureEvidence, SignatureLayer, SignatureSource};
use crate::policy::SignatureRule;
use crate::reference::Digest;
use crate::sigstore::simple_signing;
use crate::verdict::{Reason, ReasonCode, Verdict};

/// Per-attestor result, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestorResult {
    pub attestor: String,
    pub verified: bool,
    /// Where the verifying signature came from (or where signatures were looked for).
    pub source: Option<SignatureSource>,
}

/// Result of checking one rule's signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureOutcome {
    pub verdict: Verdict,
    pub attestors: Vec<AttestorResult>,
}

/// Checks `evidence` for `digest` against the rule's attestors and threshold.
pub fn check(
    rule: &SignatureRule,
    digest: &Digest,
    evidence: &SignatureEvidence,
) -> SignatureOutcome {
    let unverified = |source| {
        rule.attestors
            .iter()
            .map(|a| AttestorResult {
                attestor: a.name.clone(),
                verified: false,
                source,
            })
            .collect()
    };
    let layers = match evidence {
        SignatureEvidence::Unverifiable(r) => {
            return SignatureOutcome {
                verdict: Verdict::Unverifiable(r.clone()),
                attestors: unverified(None),
            };
        }
        SignatureEvidence::Missing => {
            return SignatureOutcome {
                verdict: Verdict::Fail(vec![Reason::new(
                    ReasonCode::NoSignature,
                    format!("no cosign signature found for {digest}"),
                )]),
                attestors: unverified(None),
            };
        }
        SignatureEvidence::Layers(l) => l,
    };
    if layers.is_empty() {
        return SignatureOutcome {
            verdict: Verdict::Fail(vec![Reason::new(
                ReasonCode::NoSignature,
                format!("signature manifest for {digest} has no layers"),
            )]),
            attestors: unverified(None),
        };
    }
    let want = digest.to_string();
    // Parse every payload once.
    let payloads: Vec<_> = layers
        .iter()
        .map(|l| simple_signing::parse(&l.payload))
        .collect();
    let sigs: Vec<Option<Vec<u8>>> = layers
        .iter()
        .map(|l| {
            l.signature
                .as_deref()
                .and_then(|s| crate::crypto::decode_base64_lenient(s).ok())
        })
        .collect();

    let mut attestors = Vec::with_capacity(rule.attestors.len());
    let mut replayed: Vec<String> = Vec::new();
    let mut malformed = 0usize;
    for a in &rule.attestors {
        let mut verified_source = None;
        for (i, layer) in layers.iter().enumerate() {
            let Some(Some(sig)) = sigs.get(i) else {
                continue;
            };
            match a.key.verify(&layer.payload, sig) {
                Ok(()) => match payloads.get(i) {
                    Some(Ok(p)) if p.docker_manifest_digest == want => {
                        verified_source = Some(layer.source);
                        break;
                    }
                    Some(Ok(p)) => replayed.push(format!(
                        "{} signed {} (layer {}), not {want}",
                        a.name, p.docker_manifest_digest, layer.index
                    )),
                    _ => malformed += 1,
                },
                Err(SignatureError::Malformed(_) | SignatureError::Invalid) => {}
            }
        }
        attestors.push(AttestorResult {
            attestor: a.name.clone(),
            verified: verified_source.is_some(),
            source: verified_source.or_else(|| layers.first().map(|l| l.source)),
        });
    }
    let ok: Vec<&str> = attestors
        .iter()
        .filter(|r| r.verified)
        .map(|r| r.attestor.as_str())
        .collect();
    let missing: Vec<&str> = attestors
        .iter()
        .filter(|r| !r.verified)
        .map(|r| r.attestor.as_str())
        .collect();
    let verdict = if ok.len() >= rule.threshold {
        Verdict::Pass
    } else if !ok.is_empty() {
        Verdict::Fail(vec![Reason::new(
            ReasonCode::ThresholdNotMet,
            format!(
                "{} of {} attestors verified ({}), {} required; missing: {}",
                ok.len(),
                rule.attestors.len(),
                ok.join(", "),
                rule.threshold,
                missing.join(", ")
            ),
        )])
    } else if !replayed.is_empty() {
        Verdict::Fail(vec![Reason::new(
            ReasonCode::PayloadDigestMismatch,
            format!(
                "signature payload is for another image: {}",
                replayed.join("; ")
            ),
        )])
    } else if sigs.iter().all(Option::is_none) || malformed > 0 {
        Verdict::Fail(vec![Reason::new(
            ReasonCode::SignatureInvalid,
            format!(
                "{} signature layer(s) carry no decodable signature or payload; none verified with {}",
                layers.len(),
                missing.join(", ")
            ),
        )])
    } else {
        Verdict::Fail(vec![Reason::new(
            ReasonCode::NoMatchingSignature,
            format!(
                "{} signature(s) found, none verified with the keys of {}",
                layers.len(),
                missing.join(", ")
            ),
        )])
    };
    SignatureOutcome { verdict, attestors }
}

/// Convenience for tests and signers: a layer from payload bytes and a base64 signature.
pub fn layer(
    index: usize,
    payload: Vec<u8>,
    signature: Option<String>,
    source: SignatureSource,
) -> SignatureLayer {
    SignatureLayer {
        index,
        media_type: "application/vnd.dev.cosign.simplesigning.v1+json".into(),
        payload: payload.into(),
        signature,
        source,
    }
}
