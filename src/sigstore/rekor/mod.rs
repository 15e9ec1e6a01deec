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

/// Why a log entry is not accepted.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlogError(pub String);

fn fail<T>(msg: impl Into<String>) -> Result<T, TlogError> {
    Err(TlogError(msg.into()))
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
        return fail(format!(
            "log entry has a negative logIndex {}",
            entry.log_index
        ));
    }
    if let Some(t) = entry.integrated_time
        && t < 0
    {
        return fail(format!("log entry has a negative integratedTime {t}"));
    }
    let Some(log) = root.tlog(&entry.log_id) else {
        return fail(format!(
            "log entry {} is not from a log in {} (log id {})",
            entry.log_index,
            root.origin,
            hex::encode(&entry.log_id)
        ));
    };
    let rekor_v2 = entry.is_rekor_v2();
    let proof_required = require_proof || rekor_v2;

    if let Some(t) = entry.integrated_time
        && !log.valid_for.contains(t)
    {
        return fail(format!(
            "integrated time {} is outside the validity of log {} ({})",
            crate::time::format_rfc3339(t),
            log.base_url,
            describe_range(log)
        ));
    }

    let mut has_promise = false;
    if let Some(set) = &entry.signed_entry_timestamp {
        let Some(t) = entry.integrated_time else {
            return fail("log entry has an inclusion promise but no integrated time");
        };
        let body_b64 = base64::engine::general_purpose::STANDARD.encode(&entry.canonicalized_body);
        verify_set(&body_b64, t, entry.log_index, log, set)?;
        has_promise = true;
    }

    let mut has_proof = false;
    match &entry.inclusion_proof {
        None if proof_required => {
            return fail(if rekor_v2 {
                "Rekor v2 log entry has no inclusion proof"
            } else {
                "log entry has no inclusion proof (required since bundle v0.2)"
            });
        }
        None => {}
        Some(proof) => {
            let index = non_negative(proof.log_index, "inclusion proof logIndex")?;
            let size = non_negative(proof.tree_size, "inclusion proof treeSize")?;
            let leaf = leaf_hash(&entry.canonicalized_body);
            verify_inclusion(&leaf, index, size, &proof.hashes, &proof.root_hash)?;
            if proof.checkpoint.is_empty() {
                if proof_required {
                    return fail("inclusion proof has no checkpoint");
                }
            } else {
                verify_checkpoint(&proof.checkpoint, log, rekor_v2, size, &proof.root_hash)?;
                has_proof = true;
            }
        }
    }

    if !has_promise && !has_proof {
        return fail(
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
    u64::try_from(v).map_err(|_| TlogError(format!("{what} is negative ({v})")))
}

fn describe_range(log: &Log) -> String {
    let start = crate::time::format_rfc3339(log.valid_for.start);
    match log.valid_for.end {
        Some(end) => format!("{start} to {}", crate::time::format_rfc3339(end)),
        None => format!("from {start}"),
    }
}

// ---------------------------------------------------------------------------------------------
// SET
// ---------------------------------------------------------------------------------------------

/// Verifies a signed entry timestamp (legacy cosign bundle annotation / bundle
/// `inclusionPromise`): the log key's signature over the canonical JSON
/// `{"body":"<body_b64>","integratedTime":N,"logID":"<hex log id>","logIndex":N}` (keys sorted,
/// no whitespace). `body_b64` is the base64 body exactly as logged; `log_index` the entry's
/// (global) index. The integrated time must also lie inside the log's `validFor`.
///
/// # Errors
/// Negative index or time, a time outside the log's validity, or a signature that does not
/// verify.
pub fn verify_set(
    body_b64: &str,
    integrated_time: i64,
    log_index: i64,
    log: &Log,
    set: &[u8],
) -> Result<(), TlogError> {
    if log_index < 0 {
        return fail(format!("SET: negative logIndex {log_index}"));
    }
    if integrated_time < 0 {
        return fail(format!("SET: negative integratedTime {integrated_time}"));
    }
    if !log.valid_for.contains(integrated_time) {
        return fail(format!(
            "SET: integrated time {} is outside the validity of log {} ({})",
            crate::time::format_rfc3339(integrated_time),
            log.base_url,
            describe_range(log)
        ));
    }
    let body = serde_json::to_string(body_b64)
        .map_err(|e| TlogError(format!("SET: cannot encode the body: {e}")))?;
    let msg = format!(
        "{{\"body\":{body},\"integratedTime\":{integrated_time},\"logID\":\"{}\",\"logIndex\":{log_index}}}",
        hex::encode(&log.log_id)
    );
    log.key.verify(msg.as_bytes(), set).map_err(|e| {
        TlogError(format!(
            "SET (signed entry timestamp) of log entry {log_index} does not verify with the key \
             of log {}: {e}",
            log.base_url
        ))
    })
}

// ---------------------------------------------------------------------------------------------
// Merkle inclusion (RFC 6962 / RFC 9162 §2.1.3.2)
// ---------------------------------------------------------------------------------------------

/// The RFC 6962 leaf hash of a log entry body: `SHA-256(0x00 ‖ body)`.
#[must_use]
pub fn leaf_hash(body: &[u8]) -> [u8; 32] {
    let mut buf = Vec::with_capacity(body.len().saturating_add(1));
    buf.push(0x00);
    buf.extend_from_slice(body);
    sha256(&buf)
}

/// The RFC 6962 interior node hash `SHA-256(0x01 ‖ left ‖ right)`.
#[must_use]
pub fn node_hash(left: &[u8], right: &[u8]) -> [u8; 32] {
    let mut buf = Vec::with_capacity(65);
    buf.push(0x01);
    buf.extend_from_slice(left);
    buf.extend_from_slice(right);
    sha256(&buf)
}

/// Verifies that `leaf_hash` is the leaf at `index` of the tree of `tree_size` leaves whose
/// root is `root`, given the audit path `proof` (RFC 9162 §2.1.3.2).
///
/// # Errors
/// Index not below the size, hashes that are not 32 bytes, a path of the wrong length, or a
/// computed root different from `root`.
pub fn verify_inclusion(
    leaf_hash: &[u8; 32],
    index: u64,
    tree_size: u64,
    proof: &[Vec<u8>],
    root: &[u8],
) -> Result<(), TlogError> {
    if index >= tree_size {
        return fail(format!(
            "inclusion proof: index {index} is not below the tree size {tree_size}"
        ));
    }
    if root.len() != 32 {
        return fail(format!(
            "inclusion proof: root hash is {} bytes, expected 32",
            root.len()
        ));
    }
    if proof.len() > MAX_PROOF_HASHES {
        return fail(format!(
            "inclusion proof: {} hashes is too many",
            proof.len()
        ));
    }
    let mut fn_ = index;
    let mut sn = tree_size - 1;
    let mut r = *leaf_hash;
    for (i, p) in proof.iter().enumerate() {
        if p.len() != 32 {
            return fail(format!(
                "inclusion proof: hash {i} is {} bytes, expected 32",
                p.len()
            ));
        }
        if sn == 0 {
            return fail(format!(
                "inclusion proof: {} hashes is too many for index {index} in a tree of {tree_size}",
                proof.len()
            ));
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return fail(format!(
            "inclusion proof: {} hashes is too few for index {index} in a tree of {tree_size}",
            proof.len()
        ));
    }
    if r.as_slice() != root {
        return fail(format!(
            "inclusion proof does not lead to the root hash (computed {}, expected {})",
            hex::encode(r),
            hex::encode(root)
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Checkpoints (C2SP signed-note + tlog-checkpoint)
// ---------------------------------------------------------------------------------------------

/// One signature line of a signed note: `— <name> <base64(key hint ‖ signature)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_hint: [u8; 4],
    pub signature: Vec<u8>,
}

/// A parsed signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote<'a> {
    /// The signed text: every line before the blank line, each with its `\n`.
    pub text: &'a str,
    pub signatures: Vec<NoteSignature>,
}

/// Splits a signed note into its text and signature lines (C2SP signed-note). Every
/// signature line must be well-formed; there must be at least one.
///
/// # Errors
/// Oversized, no blank line, unterminated, or a malformed signature line.
pub fn parse_signed_note(envelope: &str) -> Result<SignedNote<'_>, TlogError> {
    if envelope.len() > MAX_CHECKPOINT_BYTES {
        return fail(format!(
            "checkpoint is {} bytes, limit {MAX_CHECKPOINT_BYTES}",
            envelope.len()
        ));
    }
    let Some(split) = envelope.rfind("\n\n") else {
        return fail("checkpoint: no blank line between the note text and its signatures");
    };
    let (Some(text), Some(sigs)) = (
        envelope.get(..split.saturating_add(1)),
        envelope.get(split.saturating_add(2)..),
    ) else {
        return fail("checkpoint: malformed note");
    };
    if sigs.is_empty() {
        return fail("checkpoint has no signature lines");
    }
    let Some(sigs) = sigs.strip_suffix('\n') else {
        return fail("checkpoint: the last signature line does not end with a newline");
    };
    let mut signatures = Vec::new();
    for line in sigs.split('\n') {
        if signatures.len() >= MAX_NOTE_SIGNATURES {
            return fail(format!(
                "checkpoint has more than {MAX_NOTE_SIGNATURES} signature lines"
            ));
        }
        let Some((name, b64)) = line
            .strip_prefix("\u{2014} ")
            .and_then(|rest| rest.split_once(' '))
        else {
            return fail(format!("checkpoint: malformed signature line {line:?}"));
        };
        if name.is_empty() || name.contains(char::is_whitespace) || name.contains('+') {
            return fail(format!("checkpoint: malformed signer name {name:?}"));
        }
        let raw = decode_base64_lenient(b64)
            .ok()
            .filter(|_| !b64.contains(char::is_whitespace))
            .ok_or_else(|| TlogError(format!("checkpoint: signature of {name:?} is not base64")))?;
        let (Some(hint), Some(sig)) = (raw.get(..4), raw.get(4..)) else {
            return fail(format!("checkpoint: signature of {name:?} is too short"));
        };
        if sig.is_empty() {
            return fail(format!("checkpoint: signature of {name:?} is too short"));
        }
        let mut key_hint = [0u8; 4];
        key_hint.copy_from_slice(hint);
        signatures.push(NoteSignature {
            name: name.to_owned(),
            key_hint,
            signature: sig.to_vec(),
        });
    }
    Ok(SignedNote { text, signatures })
}

/// The body of a tlog checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint<'a> {
    /// Line 1: the log's origin (`<host>` on Rekor v2, `<host> - <tree id>` on Rekor v1).
    pub origin: &'a str,
    pub tree_size: u64,
    pub root_hash: Vec<u8>,
    /// Extension lines (e.g. `Timestamp: …` on Rekor v1).
    pub extensions: Vec<&'a str>,
}

/// Parses the text of a signed note as a C2SP tlog checkpoint: origin, decimal tree size,
/// base64 root hash, then optional non-empty extension lines.
///
/// # Errors
/// Missing or malformed lines.
pub fn parse_checkpoint(text: &str) -> Result<Checkpoint<'_>, TlogError> {
    let Some(body) = text.strip_suffix('\n') else {
        return fail("checkpoint text does not end with a newline");
    };
    let mut lines = body.split('\n');
    let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
        return fail("checkpoint needs an origin, a tree size and a root hash line");
    };
    let extensions: Vec<&str> = lines.collect();
    if origin.is_empty() {
        return fail("checkpoint has an empty origin line");
    }
    if size.is_empty()
        || !size.bytes().all(|b| b.is_ascii_digit())
        || (size.len() > 1 && size.starts_with('0'))
    {
        return fail(format!(
            "checkpoint tree size {size:?} is not a decimal number"
        ));
    }
    let tree_size = size
        .parse::<u64>()
        .map_err(|e| TlogError(format!("checkpoint tree size {size:?}: {e}")))?;
    let root_hash = decode_base64_lenient(root)
        .ok()
        .filter(|h| h.len() == 32 && !root.contains(char::is_whitespace))
        .ok_or_else(|| {
            TlogError(format!(
                "checkpoint root hash {root:?} is not 32 base64-encoded bytes"
            ))
        })?;
    if extensions.iter().any(|l| l.is_empty()) {
        return fail("checkpoint has an empty extension line");
    }
    Ok(Checkpoint {
        origin,
        tree_size,
        root_hash,
        extensions,
    })
}

/// The C2SP note key ID of an Ed25519 key: `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key)`. Its first
/// four bytes are the key hint of the key's signature lines; a Rekor v2 `logId` is all 32.
#[must_use]
pub fn ed25519_note_key_id(name: &str, key: &[u8; 32]) -> [u8; 32] {
    let mut buf = Vec::with_capacity(name.len().saturating_add(34));
    buf.extend_from_slice(name.as_bytes());
    buf.push(0x0A);
    buf.push(0x01);
    buf.extend_from_slice(key);
    sha256(&buf)
}

/// The raw 32-byte key of an Ed25519 public key.
fn ed25519_raw(key: &PublicKey) -> Option<[u8; 32]> {
    if key.algorithm() != KeyAlgorithm::Ed25519 {
        return None;
    }
    let spki = spki::SubjectPublicKeyInfoRef::try_from(key.spki_der()).ok()?;
    spki.subject_public_key.as_bytes()?.try_into().ok()
}

/// Verifies a checkpoint (C2SP signed note) for `log`, and that it commits to `tree_size` and
/// `root_hash`:
/// * Rekor v2 (`rekor_v2`): the origin is exactly the log's host (`log.host()`, from the
///   trusted root's `baseUrl`), and the log's signature line is signed under that name;
/// * Rekor v1: an origin `<name> - <numeric tree id>` is bound to the log by the log's key
///   alone, not by its `baseUrl` host (private deployments name their checkpoints after the
///   Rekor server's hostname, e.g. `rekor-00001-deployment-… - 6364419738405537866`; so does
///   sigstore-go's `hasRekorV1STH` path); the log's line is signed under `<name>` (or the
///   host). A v1 origin that is the host alone is accepted as well;
/// * at least one signature line is by the log: such a signer name and a key hint equal to
///   the first 4 bytes of the log id (SHA-256 of the SPKI on Rekor v1, the C2SP note key id
///   on Rekor v2), of `checkpointKeyId`, or of the Ed25519 note key id computed from the name
///   and key; such a line must verify with the log key (ECDSA/RSA over the text, pure Ed25519
///   for Ed25519 logs). Lines by other signers (witness cosignatures, keys not in the trusted
///   root) are ignored.
///
/// # Errors
/// Malformed note or checkpoint, wrong origin, no signature line by the log, a log signature
/// that does not verify, or a size / root hash other than the proof's.
pub fn verify_checkpoint(
    envelope: &str,
    log: &Log,
    rekor_v2: bool,
    tree_size: u64,
    root_hash: &[u8],
) -> Result<(), TlogError> {
    let note = parse_signed_note(envelope)?;
    let checkpoint = parse_checkpoint(note.text)?;
    let host = log.host();
    let v1_name = if rekor_v2 {
        None
    } else {
        rekor_v1_origin_name(checkpoint.origin)
    };
    // the names the log's own signature line may be signed under
    let names: Vec<&str> = match v1_name {
        Some(name) if name == host || host.is_empty() => vec![name],
        Some(name) => vec![name, host],
        None => {
            if host.is_empty() {
                return fail(format!(
                    "checkpoint: log {:?} has no host to check the checkpoint origin against",
                    log.base_url
                ));
            }
            if checkpoint.origin != host {
                return fail(if rekor_v2 {
                    format!(
                        "checkpoint origin {:?} is not that of Rekor v2 log {} (expected {host:?})",
                        checkpoint.origin, log.base_url
                    )
                } else {
                    format!(
                        "checkpoint origin {:?} is not that of log {} (expected {host:?} or \
                         \"<name> - <tree id>\")",
                        checkpoint.origin, log.base_url
                    )
                });
            }
            vec![host]
        }
    };

    let ed25519 = ed25519_raw(&log.key);
    let mut hints: Vec<[u8; 4]> = Vec::new();
    let mut add_hint = |id: &[u8]| {
        if let Some(h) = id.get(..4).and_then(|h| <[u8; 4]>::try_from(h).ok()) {
            hints.push(h);
        }
    };
    add_hint(&log.log_id);
    if let Some(id) = &log.checkpoint_key_id {
        add_hint(id);
    }
    if let Some(raw) = &ed25519 {
        for name in &names {
            add_hint(&ed25519_note_key_id(name, raw));
        }
    }
    let signer = names.first().copied().unwrap_or(host);

    let mut verified = false;
    for sig in &note.signatures {
        if !names.contains(&sig.name.as_str()) || !hints.contains(&sig.key_hint) {
            continue; // another signer (witness, other key): not checked
        }
        let ok = match &ed25519 {
            Some(raw) => verify_ed25519_pure(raw, note.text.as_bytes(), &sig.signature),
            None => log.key.verify(note.text.as_bytes(), &sig.signature).is_ok(),
        };
        if !ok {
            return fail(format!(
                "checkpoint signature by {} (key hint {}) does not verify with the key of log {}",
                sig.name,
                hex::encode(sig.key_hint),
                log.base_url
            ));
        }
        verified = true;
    }
    if !verified {
        let found: Vec<String> = note
            .signatures
            .iter()
            .map(|s| format!("{} {}", s.name, hex::encode(s.key_hint)))
            .collect();
        return fail(format!(
            "checkpoint has no signature by log {} (expected signer {signer:?} with key hint {}; \
             found: {})",
            log.base_url,
            hints.first().map(hex::encode).unwrap_or_default(),
            found.join(", ")
        ));
    }

    if checkpoint.tree_size != tree_size {
        return fail(format!(
            "checkpoint tree size {} differs from the inclusion proof's {tree_size}",
            checkpoint.tree_size
        ));
    }
    if checkpoint.root_hash != root_hash {
        return fail(format!(
            "checkpoint root hash {} differs from the inclusion proof's {}",
            hex::encode(&checkpoint.root_hash),
            hex::encode(root_hash)
        ));
    }
    Ok(())
}

/// The `<name>` of a Rekor v1 checkpoint origin `<name> - <numeric tree id>`.
fn rekor_v1_origin_name(origin: &str) -> Option<&str> {
    let (name, id) = origin.rsplit_once(" - ")?;
    let numeric =
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && id.parse::<u64>().is_ok();
    (numeric && !name.is_empty()).then_some(name)
}

fn verify_ed25519_pure(key: &[u8; 32], msg: &[u8], sig: &[u8]) -> bool {
    use ed25519_dalek::Verifier as _;
    let Ok(sig) = <&[u8; 64]>::try_from(sig) else {
        return false;
    };
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(key) else {
        return false;
    };
    key.verify(msg, &ed25519_dalek::Signature::from_bytes(sig))
        .is_ok()
}

// ---------------------------------------------------------------------------------------------
// Entry bodies
// ---------------------------------------------------------------------------------------------

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
struct BodyJson {
    api_version: Option<String>,
    kind: Option<String>,
    spec: Option<serde_json::Value>,
}

// hashedrekord / rekord 0.0.1
#[derive(Deserialize)]
struct HashedRekordV001 {
    data: Option<DataV001>,
    signature: Option<SigV001>,
}
#[derive(Deserialize)]
struct DataV001 {
    hash: Option<HashV001>,
}
#[derive(Deserialize)]
struct HashV001 {
    algorithm: Option<String>,
    value: Option<String>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SigV001 {
    #[serde(default)]
    format: Option<String>,
    content: Option<String>,
    public_key: Option<ContentV001>,
}
#[derive(Deserialize)]
struct ContentV001 {
    content: Option<String>,
}

// hashedrekord / dsse 0.0.2
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpecV002 {
    hashed_rekord_v002: Option<HashedRekordV002>,
    dsse_v002: Option<DsseV002>,
}
#[derive(Deserialize)]
struct HashedRekordV002 {
    data: Option<HashOutputV002>,
    signature: Option<SigV002>,
}
#[derive(Deserialize)]
struct HashOutputV002 {
    algorithm: Option<String>,
    digest: Option<String>,
}
#[derive(Deserialize)]
struct SigV002 {
    content: Option<String>,
    verifier: Option<VerifierV002>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifierV002 {
    x509_certificate: Option<RawBytesV002>,
    public_key: Option<RawBytesV002>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytesV002 {
    raw_bytes: Option<String>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseV002 {
    payload_hash: Option<HashOutputV002>,
    signatures: Option<Vec<SigV002>>,
}

// dsse 0.0.1
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseV001 {
    payload_hash: Option<HashV001>,
    signatures: Option<Vec<DsseSigV001>>,
}
#[derive(Deserialize)]
struct DsseSigV001 {
    signature: Option<String>,
    verifier: Option<String>,
}

// intoto 0.0.2
#[derive(Deserialize)]
struct IntotoV002 {
    content: Option<IntotoContentV002>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IntotoContentV002 {
    envelope: Option<IntotoEnvelopeV002>,
    payload_hash: Option<HashV001>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IntotoEnvelopeV002 {
    payload: Option<String>,
    payload_type: Option<String>,
    signatures: Option<Vec<IntotoSigV002>>,
}
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IntotoSigV002 {
    sig: Option<String>,
    public_key: Option<String>,
}

fn req<'a, T>(v: Option<&'a T>, what: &str) -> Result<&'a T, TlogError> {
    v.ok_or_else(|| TlogError(format!("log entry body: {what} is missing")))
}

fn b64_field(v: Option<&String>, what: &str) -> Result<Vec<u8>, TlogError> {
    let s = req(v, what)?;
    decode_base64_lenient(s)
        .map_err(|e| TlogError(format!("log entry body: {what} is not base64: {e}")))
}

fn hash_algorithm(name: &str, what: &str) -> Result<HashAlgorithm, TlogError> {
    match name {
        "sha256" | "SHA2_256" => Ok(HashAlgorithm::Sha256),
        "sha384" | "SHA2_384" => Ok(HashAlgorithm::Sha384),
        "sha512" | "SHA2_512" => Ok(HashAlgorithm::Sha512),
        other => fail(format!(
            "log entry body: {what} algorithm {other:?} is not supported"
        )),
    }
}

fn digest_checked(
    algorithm: HashAlgorithm,
    value: Vec<u8>,
    what: &str,
) -> Result<EntryDigest, TlogError> {
    if value.len() != algorithm.output_len() {
        return fail(format!(
            "log entry body: {what} is {} bytes, a {algorithm} digest is {}",
            value.len(),
            algorithm.output_len()
        ));
    }
    Ok(EntryDigest { algorithm, value })
}

/// `{"algorithm":"sha256","value":"<hex>"}` (Rekor v1).
fn hash_v001(h: Option<&HashV001>, what: &str) -> Result<EntryDigest, TlogError> {
    let h = req(h, what)?;
    let algorithm = hash_algorithm(
        req(h.algorithm.as_ref(), &format!("{what}.algorithm"))?,
        what,
    )?;
    let value = req(h.value.as_ref(), &format!("{what}.value"))?;
    let value = hex::decode(value)
        .map_err(|e| TlogError(format!("log entry body: {what}.value is not hex: {e}")))?;
    digest_checked(algorithm, value, what)
}

/// `{"algorithm":"SHA2_256","digest":"<base64>"}` (Rekor v2).
fn hash_v002(h: Option<&HashOutputV002>, what: &str) -> Result<EntryDigest, TlogError> {
    let h = req(h, what)?;
    let algorithm = hash_algorithm(
        req(h.algorithm.as_ref(), &format!("{what}.algorithm"))?,
        what,
    )?;
    let value = b64_field(h.digest.as_ref(), &format!("{what}.digest"))?;
    digest_checked(algorithm, value, what)
}

/// A PEM certificate or public key (Rekor v1 verifiers).
fn pem_verifier(pem: &[u8], what: &str) -> Result<EntryVerifier, TlogError> {
    let text = std::str::from_utf8(pem)
        .map_err(|_| TlogError(format!("log entry body: {what} is not PEM text")))?;
    let blocks = crate::crypto::parse_pem_blocks(text)
        .map_err(|e| TlogError(format!("log entry body: {what}: {e}")))?;
    let Some(first) = blocks.first() else {
        return fail(format!("log entry body: {what} holds no PEM block"));
    };
    match first.label.as_str() {
        "CERTIFICATE" => Ok(EntryVerifier::Certificate(first.contents.clone())),
        "PUBLIC KEY" | "RSA PUBLIC KEY" => {
            if blocks.len() != 1 {
                return fail(format!(
                    "log entry body: {what} holds more than one public key"
                ));
            }
            let key = PublicKey::from_pem(text)
                .map_err(|e| TlogError(format!("log entry body: {what}: {e}")))?;
            Ok(EntryVerifier::PublicKey(key.spki_der().to_vec()))
        }
        other => fail(format!(
            "log entry body: {what} is a PEM {other:?} block, not a certificate or public key"
        )),
    }
}

fn verifier_v002(v: Option<&VerifierV002>, what: &str) -> Result<EntryVerifier, TlogError> {
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
        _ => fail(format!(
            "log entry body: {what} must hold exactly one of x509Certificate and publicKey"
        )),
    }
}

fn sig_v002(s: &SigV002, what: &str) -> Result<EntrySignature, TlogError> {
    Ok(EntrySignature {
        signature: b64_field(s.content.as_ref(), &format!("{what}.content"))?,
        verifier: verifier_v002(s.verifier.as_ref(), &format!("{what}.verifier"))?,
    })
}

fn spec_as<T: serde::de::DeserializeOwned>(
    spec: serde_json::Value,
    what: &str,
) -> Result<T, TlogError> {
    serde_json::from_value(spec)
        .map_err(|e| TlogError(format!("log entry body: malformed {what} spec: {e}")))
}

/// Decodes the entry's canonicalized body. Supported: `hashedrekord` 0.0.1 and 0.0.2,
/// `rekord` 0.0.1 (x509), `dsse` 0.0.1 and 0.0.2, `intoto` 0.0.2. The body's `kind` and
/// `apiVersion` must equal the entry's `kindVersion`.
///
/// # Errors
/// Malformed JSON, a kind/version mismatch, an unsupported type, or missing or malformed fields.
pub fn parse_body(entry: &TlogEntry) -> Result<EntryBody, TlogError> {
    let body: BodyJson = serde_json::from_slice(&entry.canonicalized_body)
        .map_err(|e| TlogError(format!("log entry body is not a Rekor entry: {e}")))?;
    let kind = req(body.kind.as_ref(), "kind")?;
    let version = req(body.api_version.as_ref(), "apiVersion")?;
    if *kind != entry.kind || *version != entry.version {
        return fail(format!(
            "log entry body is {kind} {version} but the bundle says {} {}",
            entry.kind, entry.version
        ));
    }
    let spec = body
        .spec
        .ok_or_else(|| TlogError("log entry body: spec is missing".into()))?;
    match (kind.as_str(), version.as_str()) {
        ("hashedrekord" | "rekord", "0.0.1") => {
            let s: HashedRekordV001 = spec_as(spec, kind)?;
            let data = req(s.data.as_ref(), "spec.data")?;
            let digest = hash_v001(data.hash.as_ref(), "spec.data.hash")?;
            let sig = req(s.signature.as_ref(), "spec.signature")?;
            if kind == "rekord" && sig.format.as_deref() != Some("x509") {
                return fail(format!(
                    "log entry body: rekord signature format {:?} is not supported (only x509)",
                    sig.format
                ));
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
                let once = String::from_utf8(once)
                    .map_err(|_| TlogError(format!("log entry body: {what} is not base64 text")))?;
                decode_base64_lenient(&once).map_err(|e| {
                    TlogError(format!("log entry body: {what} is not double base64: {e}"))
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
        (k, v) => fail(format!("log entry type {k} {v} is not supported")),
    }
}

// ---------------------------------------------------------------------------------------------
// Body consistency
// ---------------------------------------------------------------------------------------------

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
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
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

fn verifier_matches(v: &EntryVerifier, signer: &Signer<'_>) -> Result<(), TlogError> {
    match (v, signer) {
        (EntryVerifier::Certificate(c), Signer::Certificate(s)) if c.as_slice() == *s => Ok(()),
        (EntryVerifier::Certificate(_), Signer::Certificate(_)) => {
            fail("log entry certificate differs from the bundle's certificate")
        }
        (EntryVerifier::PublicKey(k), Signer::Key(s)) if k.as_slice() == s.spki_der() => Ok(()),
        (EntryVerifier::PublicKey(_), Signer::Key(_)) => {
            fail("log entry public key differs from the verification key")
        }
        (EntryVerifier::PublicKey(_), Signer::Certificate(_)) => {
            fail("log entry records a public key but the bundle is signed with a certificate")
        }
        (EntryVerifier::Certificate(_), Signer::Key(_)) => {
            fail("log entry records a certificate but verification uses a public key")
        }
    }
}

fn digest_matches(
    recorded: &EntryDigest,
    algorithm: HashAlgorithm,
    actual: &[u8],
    what: &str,
) -> Result<(), TlogError> {
    if recorded.algorithm != algorithm {
        return fail(format!(
            "log entry {what} algorithm {} differs from {algorithm}",
            recorded.algorithm
        ));
    }
    if recorded.value != actual {
        return fail(format!(
            "log entry {what} {}:{} differs from the bundle's {algorithm}:{}",
            recorded.algorithm,
            hex::encode(&recorded.value),
            hex::encode(actual)
        ));
    }
    Ok(())
}

fn find_signature(
    sigs: &[EntrySignature],
    signature: &[u8],
    signer: &Signer<'_>,
) -> Result<(), TlogError> {
    let Some(found) = sigs.iter().find(|s| s.signature == signature) else {
        return fail("log entry does not record the bundle's DSSE signature");
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
                return fail(format!(
                    "artifact digest algorithm {digest_algorithm:?} is not supported"
                ));
            };
            digest_matches(digest, alg, actual, "artifact digest")?;
            if signature.signature != *sig {
                return fail("log entry signature differs from the bundle's signature");
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
                return fail("log entry signature differs from the bundle's DSSE signature");
            }
            verifier_matches(&signature.verifier, signer)
        }
        (EntryBody::HashedRekord { v2: false, .. }, Signed::Dsse { .. }) => {
            fail("a DSSE envelope cannot be logged as hashedrekord 0.0.1")
        }
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
                return fail("intoto log entry has no payload hash");
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
                return fail(format!(
                    "log entry payload type {t:?} differs from the bundle's {payload_type:?}"
                ));
            }
            if let Some(p) = logged_payload
                && p.as_slice() != *payload
            {
                return fail("log entry payload differs from the bundle's DSSE payload");
            }
            find_signature(signatures, signature, signer)
        }
        (EntryBody::Dsse { .. } | EntryBody::Intoto { .. }, Signed::Message { .. }) => {
            fail("the bundle has a message signature but the log entry records a DSSE envelope")
        }
    }
}

#[cfg(test)]
mod tests;
