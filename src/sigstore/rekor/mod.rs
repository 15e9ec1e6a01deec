//! Offline verification of Rekor transparency-log entries as Sigstore bundles carry them
//! (`verificationMaterial.tlogEntries`, formats.md §3.2, §5.5, §5.6) and of the legacy cosign
//! `dev.sigstore.cosign/bundle` SET (§1.6).
//!
//! * [`verify_entry`]: the entry is from a trusted log and the log vouched for it — a signed
//!   entry timestamp (SET, Rekor v1) and/or an RFC 6962 inclusion proof whose root is committed
//!   to by a checkpoint signed by the log (C2SP signed note; mandatory for Rekor v2).
//! * [`parse_body`] / [`check_body`]: the logged entry describes exactly the bundle's signature,
//!   signer and artifact (hashedrekord / rekord / dsse / intoto).
//!
//! Pure: bytes in, verdicts out. Times are seconds since the epoch. No function here panics.

use base64::Engine as _;
use serde::Deserialize;

use crate::crypto::{HashAlgorithm, KeyAlgorithm, PublicKey, decode_base64_lenient, sha256};
use crate::sigstore::trust::{Log, TrustedRoot};

/// Largest checkpoint (signed note) accepted, in bytes.
pub const MAX_CHECKPOINT_BYTES: usize = 64 << 10;
/// Most signature lines accepted in one checkpoint.
pub const MAX_NOTE_SIGNATURES: usize = 100;
/// Most hashes in an inclusion proof (a tree of at most 2^63 leaves needs at most 63).
pub const MAX_PROOF_HASHES: usize = 64;

/// One transparency-log entry of a bundle (`verificationMaterial.tlogEntries[i]`), decoded.
#[derive(Debug, Clone)]
pub struct TlogEntry {
    /// `logIndex`: the global index (Rekor v1) or the log's index (Rekor v2).
    pub log_index: i64,
    /// `logId.keyId`.
    pub log_id: Vec<u8>,
    /// `kindVersion.kind`.
    pub kind: String,
    /// `kindVersion.version`.
    pub version: String,
    /// `integratedTime`; `None` when absent or 0 (Rekor v2).
    pub integrated_time: Option<i64>,
    /// `inclusionPromise.signedEntryTimestamp`.
    pub signed_entry_timestamp: Option<Vec<u8>>,
    pub inclusion_proof: Option<InclusionProof>,
    /// `canonicalizedBody`, base64-decoded.
    pub canonicalized_body: Vec<u8>,
}

impl TlogEntry {
    /// Whether this is a Rekor v2 (rekor-tiles) entry: `hashedrekord` or `dsse` version 0.0.2.
    /// Such entries have no integrated time and no SET; the inclusion proof is mandatory.
    #[must_use]
    pub fn is_rekor_v2(&self) -> bool {
        matches!(self.kind.as_str(), "hashedrekord" | "dsse") && self.version == "0.0.2"
    }
}

/// `inclusionProof` of a log entry.
#[derive(Debug, Clone)]
pub struct InclusionProof {
    /// Index of the leaf in the tree the proof is for (shard-local on Rekor v1).
    pub log_index: i64,
    pub root_hash: Vec<u8>,
    pub tree_size: i64,
    pub hashes: Vec<Vec<u8>>,
    /// `checkpoint.envelope`: the signed note text (empty when absent).
    pub checkpoint: String,
}

/// Why a log entry is not accepted: the variant names the check that failed, the text says
/// how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogError {
    /// The entry itself is malformed (a negative index or time).
    #[error("{0}")]
    Malformed(String),
    /// The entry's log id names no log of the trusted root.
    #[error("{0}")]
    UnknownLog(String),
    /// The integrated time is outside the log key's validity.
    #[error("{0}")]
    OutsideLogValidity(String),
    /// Neither an inclusion promise nor a checkpointed inclusion proof, or no proof where one
    /// is required (bundle v0.2+, Rekor v2).
    #[error("{0}")]
    NoProof(String),
    /// The signed entry timestamp (inclusion promise) does not verify.
    #[error("{0}")]
    Set(String),
    /// The Merkle inclusion proof does not lead to the root hash.
    #[error("{0}")]
    Inclusion(String),
    /// The checkpoint (signed note) is malformed, unsigned by the log, or disagrees with the
    /// proof.
    #[error("{0}")]
    Checkpoint(String),
    /// The canonicalized body is not a Rekor entry of a supported kind.
    #[error("{0}")]
    Body(String),
    /// The entry does not record this bundle's signature, payload, certificate or key.
    #[error("{0}")]
    Mismatch(String),
}

fn fail<T>(check: fn(String) -> TlogError, msg: impl Into<String>) -> Result<T, TlogError> {
    Err(check(msg.into()))
}

/// What a verified entry proved.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedEntry<'r> {
    /// The trusted log the entry is from.
    pub log: &'r Log,
    /// The integrated time, only when a verified SET signs it (an integrated time backed by an
    /// inclusion proof alone is not signed by anyone and is not returned).
    pub integrated_time: Option<i64>,
    /// An inclusion proof verified up to a root hash in a checkpoint signed by the log.
    pub has_proof: bool,
    /// A signed entry timestamp verified with the log's key.
    pub has_promise: bool,
}

/// Verifies `entry` against `root`:
/// * the log is found by `logId` (else "not from a log in <root origin>");
/// * indices, sizes and times are not negative;
/// * the SET, when present, verifies with the log key over the entry's body, integrated time,
///   log id and (global) log index;
/// * the inclusion proof, when present, leads from `SHA-256(0x00 ‖ body)` to its root hash at
///   `proof.log_index` / `tree_size`, and its checkpoint, when present, is signed by the log and
///   commits to that size and root;
/// * an entry with neither a SET nor a checkpoint-anchored proof fails;
/// * with `require_proof` (bundle v0.2+), and always for Rekor v2 entries, the inclusion proof
///   and its checkpoint are mandatory;
/// * an integrated time, when present, lies inside the log's `validFor`.
///
/// For Rekor v2 entries (no integrated time) the caller must check the signing time from an
/// RFC 3161 timestamp against `log.valid_for` itself.
///
/// # Errors
/// A [`TlogError`] saying which check failed.
pub fn verify_entry<'r>(
    entry: &TlogEntry,
    root: &'r TrustedRoot,
    require_proof: bool,
) -> Result<VerifiedEntry<'r>, TlogError> {
    if entry.log_index < 0 {
        return fail(
            TlogError::Malformed,
            format!("log entry has a negative logIndex {}", entry.log_index),
        );
    }
    if let Some(t) = entry.integrated_time
        && t < 0
    {
        return fail(
            TlogError::Malformed,
            format!("log entry has a negative integratedTime {t}"),
        );
    }
    let Some(log) = root.tlog(&entry.log_id) else {
        return fail(
            TlogError::UnknownLog,
            format!(
                "log entry {} is not from a log in {} (log id {})",
                entry.log_index,
                root.origin,
                hex::encode(&entry.log_id)
            ),
        );
    };
    let rekor_v2 = entry.is_rekor_v2();
    let proof_required = require_proof || rekor_v2;

    if let Some(t) = entry.integrated_time
        && !log.valid_for.contains(t)
    {
        return fail(
            TlogError::OutsideLogValidity,
            format!(
                "integrated time {} is outside the validity of log {} ({})",
                crate::base::time::format_rfc3339(t),
                log.base_url,
                describe_range(log)
            ),
        );
    }

    let mut has_promise = false;
    if let Some(set) = &entry.signed_entry_timestamp {
        let Some(t) = entry.integrated_time else {
            return fail(
                TlogError::Set,
                "log entry has an inclusion promise but no integrated time",
            );
        };
        let body_b64 = base64::engine::general_purpose::STANDARD.encode(&entry.canonicalized_body);
        verify_set(&body_b64, t, entry.log_index, log, set)?;
        has_promise = true;
    }

    let mut has_proof = false;
    match &entry.inclusion_proof {
        None if proof_required => {
            return fail(
                TlogError::NoProof,
                if rekor_v2 {
                    "Rekor v2 log entry has no inclusion proof"
                } else {
                    "log entry has no inclusion proof (required since bundle v0.2)"
                },
            );
        }
        None => {}
        Some(proof) => {
            let index = non_negative(proof.log_index, "inclusion proof logIndex")?;
            let size = non_negative(proof.tree_size, "inclusion proof treeSize")?;
            let leaf = leaf_hash(&entry.canonicalized_body);
            verify_inclusion(&leaf, index, size, &proof.hashes, &proof.root_hash)?;
            if proof.checkpoint.is_empty() {
                if proof_required {
                    return fail(TlogError::Checkpoint, "inclusion proof has no checkpoint");
                }
            } else {
                verify_checkpoint(&proof.checkpoint, log, rekor_v2, size, &proof.root_hash)?;
                has_proof = true;
            }
        }
    }

    if !has_promise && !has_proof {
        return fail(
            TlogError::NoProof,
            "log entry has neither an inclusion promise (SET) nor an inclusion proof with a \
             signed checkpoint",
        );
    }

    Ok(VerifiedEntry {
        log,
        integrated_time: if has_promise {
            entry.integrated_time
        } else {
            None
        },
        has_proof,
        has_promise,
    })
}

fn non_negative(v: i64, what: &str) -> Result<u64, TlogError> {
    u64::try_from(v).map_err(|_| TlogError::Malformed(format!("{what} is negative ({v})")))
}

fn describe_range(log: &Log) -> String {
    let start = crate::base::time::format_rfc3339(log.valid_for.start);
    match log.valid_for.end {
        Some(end) => format!("{start} to {}", crate::base::time::format_rfc3339(end)),
        None => format!("from {start}"),
    }
}

mod body;
mod checkpoint;
mod consistency;
mod merkle;
mod set;
pub use body::*;
pub use checkpoint::*;
pub use consistency::*;
pub use merkle::*;
pub use set::*;

#[cfg(test)]
mod tests;
