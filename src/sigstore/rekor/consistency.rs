//! Body consistency

#[allow(clippy::wildcard_imports)]
use super::*;

/// What was signed, as the bundle says; checked against the body.
#[derive(Debug, Clone, Copy)]
pub enum Signed<'a> {
    /// `messageSignature`: `digest` is the artifact digest computed by the caller (algorithm
    /// name `sha256` / `sha384` / `sha512`).
    Message {
        digest_algorithm: &'a str,
        digest: &'a [u8],
        signature: &'a [u8],
    },
    /// `dsseEnvelope` with exactly one signature; `payload` decoded.
    Dsse {
        payload_type: &'a str,
        payload: &'a [u8],
        signature: &'a [u8],
    },
}

/// The signer as the bundle / verifier has it.
#[derive(Debug, Clone, Copy)]
pub enum Signer<'a> {
    /// The leaf certificate, DER.
    Certificate(&'a [u8]),
    /// A public key supplied out of band.
    Key(&'a PublicKey),
}

/// DSSE pre-authentication encoding:
/// `"DSSEv1" SP len(type) SP type SP len(payload) SP payload`, lengths in decimal ASCII.
pub(super) fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let head = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    );
    let mut out = Vec::with_capacity(head.len().saturating_add(payload.len()));
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(payload);
    out
}

pub(super) fn verifier_matches(v: &EntryVerifier, signer: &Signer<'_>) -> Result<(), TlogError> {
    match (v, signer) {
        (EntryVerifier::Certificate(c), Signer::Certificate(s)) if c.as_slice() == *s => Ok(()),
        (EntryVerifier::Certificate(_), Signer::Certificate(_)) => fail(
            TlogError::Mismatch,
            "log entry certificate differs from the bundle's certificate",
        ),
        (EntryVerifier::PublicKey(k), Signer::Key(s)) if k.as_slice() == s.spki_der() => Ok(()),
        (EntryVerifier::PublicKey(_), Signer::Key(_)) => fail(
            TlogError::Mismatch,
            "log entry public key differs from the verification key",
        ),
        (EntryVerifier::PublicKey(_), Signer::Certificate(_)) => fail(
            TlogError::Mismatch,
            "log entry records a public key but the bundle is signed with a certificate",
        ),
        (EntryVerifier::Certificate(_), Signer::Key(_)) => fail(
            TlogError::Mismatch,
            "log entry records a certificate but verification uses a public key",
        ),
    }
}

pub(super) fn digest_matches(
    recorded: &EntryDigest,
    algorithm: HashAlgorithm,
    actual: &[u8],
    what: &str,
) -> Result<(), TlogError> {
    if recorded.algorithm != algorithm {
        return fail(
            TlogError::Mismatch,
            format!(
                "log entry {what} algorithm {} differs from {algorithm}",
                recorded.algorithm
            ),
        );
    }
    if recorded.value != actual {
        return fail(
            TlogError::Mismatch,
            format!(
                "log entry {what} {}:{} differs from the bundle's {algorithm}:{}",
                recorded.algorithm,
                hex::encode(&recorded.value),
                hex::encode(actual)
            ),
        );
    }
    Ok(())
}

pub(super) fn find_signature(
    sigs: &[EntrySignature],
    signature: &[u8],
    signer: &Signer<'_>,
) -> Result<(), TlogError> {
    let Some(found) = sigs.iter().find(|s| s.signature == signature) else {
        return fail(
            TlogError::Mismatch,
            "log entry does not record the bundle's DSSE signature",
        );
    };
    verifier_matches(&found.verifier, signer)
}

/// Checks that `body` describes exactly this signature by this signer over this artifact /
/// envelope:
/// * message signature ↔ `hashedrekord`/`rekord`: digest (algorithm and bytes), signature
///   bytes and verifier (certificate DER or key SPKI) equal;
/// * DSSE ↔ `dsse`: payload hash = hash(payload), and the (signature, verifier) pair recorded;
/// * DSSE ↔ `hashedrekord` 0.0.2 (Rekor v2 "hashedrekord over DSSE"): digest =
///   hash(PAE(payloadType, payload)), signature and verifier equal;
/// * DSSE ↔ `intoto` 0.0.2: payload hash (and the logged payload / payload type when present)
///   and the (signature, verifier) pair recorded.
///
/// # Errors
/// A [`TlogError`] naming the part that disagrees.
pub fn check_body(
    body: &EntryBody,
    signed: &Signed<'_>,
    signer: &Signer<'_>,
) -> Result<(), TlogError> {
    match (body, signed) {
        (
            EntryBody::HashedRekord {
                digest, signature, ..
            },
            Signed::Message {
                digest_algorithm,
                digest: actual,
                signature: sig,
            },
        ) => {
            let Some(alg) = HashAlgorithm::from_name(digest_algorithm) else {
                return fail(
                    TlogError::Mismatch,
                    format!("artifact digest algorithm {digest_algorithm:?} is not supported"),
                );
            };
            digest_matches(digest, alg, actual, "artifact digest")?;
            if signature.signature != *sig {
                return fail(
                    TlogError::Mismatch,
                    "log entry signature differs from the bundle's signature",
                );
            }
            verifier_matches(&signature.verifier, signer)
        }
        (
            EntryBody::HashedRekord {
                v2: true,
                digest,
                signature,
            },
            Signed::Dsse {
                payload_type,
                payload,
                signature: sig,
            },
        ) => {
            let actual = digest.algorithm.digest(&pae(payload_type, payload));
            digest_matches(digest, digest.algorithm, &actual, "digest of the DSSE PAE")?;
            if signature.signature != *sig {
                return fail(
                    TlogError::Mismatch,
                    "log entry signature differs from the bundle's DSSE signature",
                );
            }
            verifier_matches(&signature.verifier, signer)
        }
        (EntryBody::HashedRekord { v2: false, .. }, Signed::Dsse { .. }) => fail(
            TlogError::Mismatch,
            "a DSSE envelope cannot be logged as hashedrekord 0.0.1",
        ),
        (
            EntryBody::Dsse {
                payload_hash,
                signatures,
                ..
            },
            Signed::Dsse {
                payload, signature, ..
            },
        ) => {
            let actual = payload_hash.algorithm.digest(payload);
            digest_matches(
                payload_hash,
                payload_hash.algorithm,
                &actual,
                "DSSE payload hash",
            )?;
            find_signature(signatures, signature, signer)
        }
        (
            EntryBody::Intoto {
                payload_type: logged_type,
                payload: logged_payload,
                payload_hash,
                signatures,
            },
            Signed::Dsse {
                payload_type,
                payload,
                signature,
            },
        ) => {
            let Some(payload_hash) = payload_hash else {
                return fail(TlogError::Mismatch, "intoto log entry has no payload hash");
            };
            let actual = payload_hash.algorithm.digest(payload);
            digest_matches(
                payload_hash,
                payload_hash.algorithm,
                &actual,
                "in-toto payload hash",
            )?;
            if let Some(t) = logged_type
                && t != payload_type
            {
                return fail(
                    TlogError::Mismatch,
                    format!(
                        "log entry payload type {t:?} differs from the bundle's {payload_type:?}"
                    ),
                );
            }
            if let Some(p) = logged_payload
                && p.as_slice() != *payload
            {
                return fail(
                    TlogError::Mismatch,
                    "log entry payload differs from the bundle's DSSE payload",
                );
            }
            find_signature(signatures, signature, signer)
        }
        (EntryBody::Dsse { .. } | EntryBody::Intoto { .. }, Signed::Message { .. }) => fail(
            TlogError::Mismatch,
            "the bundle has a message signature but the log entry records a DSSE envelope",
        ),
    }
}
