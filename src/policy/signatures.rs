//! Verification of an image's signatures (pure): cosign legacy `.sig` layers and cosign v3
//! Sigstore bundles found as referrers, for key-based and keyless attestors.
//!
//! * Legacy layer, key attestor: the signature verifies over the exact payload bytes with the
//!   attestor's key (cosign's flow, formats.md §1.7).
//! * Legacy layer, keyless attestor: the layer's certificate, chain, Rekor bundle and
//!   timestamp annotations are verified as a v0.1 bundle over the payload
//!   ([`crate::sigstore::verify::legacy_bundle`]).
//! * Bundle: a DSSE in-toto statement with predicate type `https://sigstore.dev/cosign/sign/v1`
//!   whose subject is the image digest, verified with [`crate::sigstore::verify::verify_bundle`] (tlog
//!   entries and timestamps checked against the attestor's trusted root).
//!
//! Every legacy payload's `docker-manifest-digest` must equal the image digest (a signature
//! replayed from another image fails). Attestors are counted once however many of their
//! signatures verify.

use std::collections::BTreeMap;

use crate::base::evidence::{SignatureEvidence, SignatureLayer, SignatureSource};
use crate::base::reference::Digest;
use crate::base::verdict::{Reason, ReasonCode, Verdict};
use crate::crypto::HashAlgorithm;
use crate::policy::{Attestor, AttestorKind, SignatureRule};
use crate::sigstore::bundle::{Bundle, COSIGN_SIGN_PREDICATE, Content, is_bundle_type};
use crate::sigstore::simple_signing;
use crate::sigstore::verify::{self, Artifact, Failure, Options};

/// Most failures named in one reason message.
const MAX_FAILURES_NAMED: usize = 3;

/// Per-attestor result, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestorResult {
    pub attestor: String,
    pub verified: bool,
    /// Where the verifying signature came from (or where signatures were looked for).
    pub source: Option<SignatureSource>,
    /// The verified keyless signer (certificate subject) and OIDC issuer.
    pub identity: Option<(String, Option<String>)>,
    /// What this attestor made of each signature it looked at, in order, up to the one that
    /// verified (at most [`MAX_TRIED`]; `sealgate explain` shows them).
    pub tried: Vec<Tried>,
}

/// Most signatures listed per attestor in [`AttestorResult::tried`].
pub const MAX_TRIED: usize = 16;

/// One attestor's look at one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tried {
    /// Where the signature is (`sha256-<hex>.sig layer 0`, `referrer …`).
    pub origin: String,
    /// `None`: verified; else why it does not count (`NoMatchingSignature` when it is not this
    /// attestor's signature at all).
    pub failure: Option<Reason>,
    /// The sha256 (hex) of the signature's bytes (the layer blob or the bundle), for the one
    /// that verified (verification summaries list it).
    pub digest: Option<String>,
}

/// Result of checking one rule's signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureOutcome {
    pub verdict: Verdict,
    pub attestors: Vec<AttestorResult>,
}

/// A layer decoded once for all attestors.
enum Prepared {
    Legacy {
        payload: Result<simple_signing::SimpleSigning, simple_signing::PayloadError>,
        signature: Option<Vec<u8>>,
        /// The layer's keyless material as a bundle, if it has a certificate.
        keyless: Result<Option<Bundle>, String>,
    },
    Bundle(Result<Bundle, String>),
}

fn prepare(layer: &SignatureLayer) -> Prepared {
    if is_bundle_type(&layer.media_type) {
        return Prepared::Bundle(Bundle::from_json(&layer.payload).map_err(|e| e.to_string()));
    }
    let signature = layer
        .signature
        .as_deref()
        .and_then(|s| crate::crypto::decode_base64_lenient(s).ok());
    let keyless = match &signature {
        Some(sig) => verify::legacy_bundle(
            &layer.annotations,
            Content::Message {
                digest: None,
                signature: sig.clone(),
            },
        ),
        None => Ok(None),
    };
    Prepared::Legacy {
        payload: simple_signing::parse(&layer.payload),
        signature,
        keyless,
    }
}

/// What one attestor made of one layer.
enum Attempt {
    Verified(Option<(String, Option<String>)>),
    /// Not this attestor's kind of signature, or its key does not verify it.
    NoMatch,
    Failed(Failure),
}

fn failure(code: ReasonCode, message: String) -> Attempt {
    Attempt::Failed(Failure { code, message })
}

fn try_layer(
    a: &Attestor,
    layer: &SignatureLayer,
    prepared: &Prepared,
    digest: &Digest,
    now: i64,
) -> Attempt {
    let opts = Options {
        ignore_tlog: a.ignore_tlog,
        now,
    };
    let want = digest.to_string();
    let at = &layer.origin;
    let payload_ok = |payload: &Result<simple_signing::SimpleSigning, _>| match payload {
        Ok(p) if p.docker_manifest_digest == want => None,
        Ok(p) => Some(failure(
            ReasonCode::PayloadDigestMismatch,
            format!(
                "{} signed {} ({at}), not {want}",
                a.name, p.docker_manifest_digest
            ),
        )),
        Err(e) => Some(failure(
            ReasonCode::SignatureInvalid,
            format!("{at}: signature payload: {e}"),
        )),
    };
    match (prepared, &a.kind) {
        (
            Prepared::Legacy {
                payload, signature, ..
            },
            AttestorKind::Key(_) | AttestorKind::Kms(_),
        ) => {
            let Some(sig) = signature else {
                return Attempt::NoMatch;
            };
            let keys = match a.keys() {
                Some(Ok(keys)) => keys,
                Some(Err(why)) => return failure(ReasonCode::KeyUnavailable, why),
                None => return Attempt::NoMatch,
            };
            // a signature by any live version counts (Malformed / Invalid: not this key)
            if keys.iter().any(|k| k.verify(&layer.payload, sig).is_ok()) {
                payload_ok(payload).unwrap_or(Attempt::Verified(None))
            } else {
                Attempt::NoMatch
            }
        }
        (
            Prepared::Legacy {
                payload, keyless, ..
            },
            AttestorKind::Keyless(_),
        ) => match keyless {
            Ok(None) => Attempt::NoMatch,
            Err(e) => failure(ReasonCode::SignatureInvalid, format!("{at}: {e}")),
            Ok(Some(b)) => match a.verify_bundle(b, Artifact::Bytes(&layer.payload), opts) {
                Ok(v) => {
                    payload_ok(payload).unwrap_or(Attempt::Verified(Some((v.signer, v.issuer))))
                }
                Err(f) => Attempt::Failed(Failure {
                    code: f.code,
                    message: format!("{at}: {}", f.message),
                }),
            },
        },
        (Prepared::Bundle(Err(e)), _) => {
            failure(ReasonCode::SignatureInvalid, format!("{at}: {e}"))
        }
        (Prepared::Bundle(Ok(b)), _) => {
            let Content::Dsse(env) = &b.content else {
                return failure(
                    ReasonCode::SignatureInvalid,
                    format!("{at}: a message-signature bundle is not an image signature"),
                );
            };
            match a.verify_bundle(
                b,
                Artifact::Digest(
                    HashAlgorithm::Sha256,
                    &hex::decode(digest.hex()).unwrap_or_default(),
                ),
                opts,
            ) {
                Ok(v) => {
                    let predicate = serde_json::from_slice::<serde_json::Value>(&env.payload)
                        .ok()
                        .and_then(|s| {
                            s.get("predicateType")
                                .and_then(|t| t.as_str().map(str::to_owned))
                        });
                    if predicate.as_deref() != Some(COSIGN_SIGN_PREDICATE) {
                        return failure(
                            ReasonCode::SignatureInvalid,
                            format!(
                                "{at}: statement predicateType {predicate:?} is not {COSIGN_SIGN_PREDICATE}"
                            ),
                        );
                    }
                    Attempt::Verified(match a.kind {
                        AttestorKind::Keyless(_) => Some((v.signer, v.issuer)),
                        AttestorKind::Key(_) | AttestorKind::Kms(_) => None,
                    })
                }
                Err(f) if f.code == ReasonCode::NoMatchingSignature => Attempt::NoMatch,
                Err(f) => Attempt::Failed(Failure {
                    code: f.code,
                    message: format!("{at}: {}", f.message),
                }),
            }
        }
    }
}

/// How telling a failure is, when no attestor verified: the most specific one is reported.
fn rank(code: ReasonCode) -> u8 {
    match code {
        ReasonCode::PayloadDigestMismatch => 6,
        ReasonCode::IdentityMismatch => 5,
        ReasonCode::CertificateInvalid => 4,
        ReasonCode::TlogInvalid => 3,
        ReasonCode::SignatureInvalid => 2,
        _ => 1,
    }
}

/// Checks `evidence` for `digest` against the rule's attestors and threshold; `now` (seconds)
/// bounds signing times.
pub fn check(
    rule: &SignatureRule,
    digest: &Digest,
    evidence: &SignatureEvidence,
    now: i64,
) -> SignatureOutcome {
    let unverified = |source| {
        rule.attestors
            .iter()
            .map(|a| AttestorResult {
                attestor: a.name.clone(),
                verified: false,
                source,
                identity: None,
                tried: Vec::new(),
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
    let prepared: Vec<Prepared> = layers.iter().map(prepare).collect();

    let mut attestors = Vec::with_capacity(rule.attestors.len());
    let mut failures: BTreeMap<String, Failure> = BTreeMap::new();
    // an attestor whose key manager keys cannot be read: the rule cannot fail on evidence
    // that may verify with them, so short of a pass it is unverifiable
    let mut unavailable: Option<String> = None;
    for a in &rule.attestors {
        if let Some(why) = a.unavailable() {
            attestors.push(AttestorResult {
                attestor: a.name.clone(),
                verified: false,
                source: layers.first().map(|l| l.source),
                identity: None,
                tried: vec![Tried {
                    origin: "key".into(),
                    failure: Some(Reason::new(ReasonCode::KeyUnavailable, why.clone())),
                    digest: None,
                }],
            });
            unavailable.get_or_insert(why);
            continue;
        }
        let mut verified = None;
        let mut tried = Vec::new();
        // the one that verified is always kept (past the cap too): summaries list it
        let mut note = |origin: &str, failure: Option<Reason>, bytes: Option<&[u8]>| {
            if tried.len() < MAX_TRIED || failure.is_none() {
                tried.push(Tried {
                    origin: origin.to_owned(),
                    failure,
                    digest: bytes.map(|b| Digest::sha256_of(b).hex().to_owned()),
                });
            }
        };
        for (layer, p) in layers.iter().zip(&prepared) {
            match try_layer(a, layer, p, digest, now) {
                Attempt::Verified(id) => {
                    note(&layer.origin, None, Some(&layer.payload));
                    verified = Some((layer.source, id));
                    break;
                }
                Attempt::NoMatch => note(
                    &layer.origin,
                    Some(Reason::new(
                        ReasonCode::NoMatchingSignature,
                        format!("not signed by {}", a.name),
                    )),
                    None,
                ),
                Attempt::Failed(f) => {
                    note(
                        &layer.origin,
                        Some(Reason::new(f.code, f.message.clone())),
                        None,
                    );
                    failures.entry(f.message.clone()).or_insert(f);
                }
            }
        }
        attestors.push(AttestorResult {
            attestor: a.name.clone(),
            verified: verified.is_some(),
            source: verified
                .as_ref()
                .map(|(s, _)| *s)
                .or_else(|| layers.first().map(|l| l.source)),
            identity: verified.and_then(|(_, id)| id),
            tried,
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
    let best = failures.values().map(|f| rank(f.code)).max();
    let unavailable = unavailable.or_else(|| {
        failures
            .values()
            .find(|f| f.code == ReasonCode::KeyUnavailable)
            .map(|f| f.message.clone())
    });
    let verdict = if ok.len() >= rule.threshold {
        Verdict::Pass
    } else if let Some(why) = unavailable {
        Verdict::Unverifiable(Reason::new(
            ReasonCode::KeyUnavailable,
            format!(
                "{} of {} attestors verified, {} required; cannot check the others: {why}",
                ok.len(),
                rule.attestors.len(),
                rule.threshold
            ),
        ))
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
    } else if let Some(best) = best {
        let top: Vec<&Failure> = failures.values().filter(|f| rank(f.code) == best).collect();
        let code = top
            .first()
            .map_or(ReasonCode::NoMatchingSignature, |f| f.code);
        let mut text: Vec<String> = top
            .iter()
            .take(MAX_FAILURES_NAMED)
            .map(|f| f.message.clone())
            .collect();
        if failures.len() > text.len() {
            text.push(format!("{} more", failures.len() - text.len()));
        }
        let message = if code == ReasonCode::PayloadDigestMismatch {
            format!(
                "signature payload is for another image: {}",
                text.join("; ")
            )
        } else {
            format!(
                "{} signature(s) found, none verified for {}: {}",
                layers.len(),
                missing.join(", "),
                text.join("; ")
            )
        };
        Verdict::Fail(vec![Reason::new(code, message)])
    } else if prepared.iter().all(|p| {
        matches!(
            p,
            Prepared::Legacy {
                signature: None,
                ..
            }
        )
    }) {
        Verdict::Fail(vec![Reason::new(
            ReasonCode::SignatureInvalid,
            format!(
                "{} signature layer(s) carry no decodable signature; none verified with {}",
                layers.len(),
                missing.join(", ")
            ),
        )])
    } else {
        Verdict::Fail(vec![Reason::new(
            ReasonCode::NoMatchingSignature,
            format!(
                "{} signature(s) found, none verified with the keys or identities of {}",
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
        origin: format!("layer {index}"),
        annotations: Default::default(),
        media_type: "application/vnd.dev.cosign.simplesigning.v1+json".into(),
        payload: payload.into(),
        signature,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::PrivateKey;
    use crate::policy::keysource::{KmsKeys, KmsUri};
    use std::sync::Arc;

    const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";

    fn layer(key: &PrivateKey) -> SignatureLayer {
        let payload = simple_signing::payload_for("registry.test/app", DIGEST);
        let sig = key.sign(&payload).unwrap();
        SignatureLayer {
            index: 0,
            origin: "sha256-01.sig layer 0".into(),
            media_type: "application/vnd.dev.cosign.simplesigning.v1+json".into(),
            payload: payload.into(),
            signature: Some(base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                sig,
            )),
            annotations: BTreeMap::new(),
            source: SignatureSource::LegacyTag,
        }
    }

    fn attestor(name: &str, kind: AttestorKind) -> Attestor {
        Attestor {
            name: name.into(),
            kind,
            trusted_root: crate::sigstore::trust::TrustedRoot::production(),
            ignore_tlog: false,
        }
    }

    fn vault_key() -> Arc<KmsKeys> {
        Arc::new(KmsKeys::new(KmsUri::HashiVault { key: "ci".into() }, None))
    }

    #[test]
    fn a_key_manager_attestor_counts_any_live_version_and_never_passes_unread() {
        let old = PrivateKey::generate_p256().unwrap();
        let new = PrivateKey::generate_p256().unwrap();
        let other = PrivateKey::generate_p256().unwrap();
        let digest = Digest::parse(DIGEST).unwrap();
        let evidence = SignatureEvidence::Layers(vec![layer(&old)]);
        let cell = vault_key();
        let rule = |threshold, attestors| SignatureRule {
            threshold,
            attestors,
        };
        let vault_only = rule(1, vec![attestor("vault", AttestorKind::Kms(cell.clone()))]);

        // never read (Vault unreachable at start-up): unverifiable, not a failure or a pass
        let o = check(&vault_only, &digest, &evidence, 0);
        let Verdict::Unverifiable(r) = &o.verdict else {
            panic!("{:?}", o.verdict)
        };
        assert_eq!(r.code, ReasonCode::KeyUnavailable);
        assert!(r.message.contains("hashivault://ci"), "{}", r.message);
        assert_eq!(
            o.attestors[0].tried[0].failure.as_ref().unwrap().code,
            ReasonCode::KeyUnavailable
        );

        // both versions live: the signature by the old one counts
        let ttl = std::time::Duration::from_secs(3600);
        cell.store(vec![old.public_key(), new.public_key()], ttl);
        assert_eq!(
            check(&vault_only, &digest, &evidence, 0).verdict,
            Verdict::Pass
        );
        // the old version retired (min_decryption_version): no longer
        cell.store(vec![new.public_key()], ttl);
        let v = check(&vault_only, &digest, &evidence, 0).verdict;
        assert!(
            matches!(&v, Verdict::Fail(r) if r[0].code == ReasonCode::NoMatchingSignature),
            "{v:?}"
        );

        // unread keys beside a file key that verified: 1 of 2 passes, 2 of 2 cannot be checked
        let unread = vault_key();
        let both = |k| {
            rule(
                k,
                vec![
                    attestor("file", AttestorKind::Key(old.public_key())),
                    attestor("vault", AttestorKind::Kms(unread.clone())),
                ],
            )
        };
        assert_eq!(
            check(&both(1), &digest, &evidence, 0).verdict,
            Verdict::Pass
        );
        let v = check(&both(2), &digest, &evidence, 0).verdict;
        assert!(
            matches!(&v, Verdict::Unverifiable(r) if r.code == ReasonCode::KeyUnavailable
                && r.message.starts_with("1 of 2 attestors verified")),
            "{v:?}"
        );
        // a file key that does not verify beside unread keys: unverifiable, not failed
        let v = check(
            &rule(
                1,
                vec![
                    attestor("file", AttestorKind::Key(other.public_key())),
                    attestor("vault", AttestorKind::Kms(unread)),
                ],
            ),
            &digest,
            &evidence,
            0,
        )
        .verdict;
        assert!(matches!(&v, Verdict::Unverifiable(_)), "{v:?}");
    }
}
