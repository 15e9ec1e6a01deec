//! Checkpoints (C2SP signed-note + tlog-checkpoint)

#[allow(clippy::wildcard_imports)]
use super::*;

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
        return fail(
            TlogError::Checkpoint,
            format!(
                "checkpoint is {} bytes, limit {MAX_CHECKPOINT_BYTES}",
                envelope.len()
            ),
        );
    }
    let Some(split) = envelope.rfind("\n\n") else {
        return fail(
            TlogError::Checkpoint,
            "checkpoint: no blank line between the note text and its signatures",
        );
    };
    let (Some(text), Some(sigs)) = (
        envelope.get(..split.saturating_add(1)),
        envelope.get(split.saturating_add(2)..),
    ) else {
        return fail(TlogError::Checkpoint, "checkpoint: malformed note");
    };
    if sigs.is_empty() {
        return fail(TlogError::Checkpoint, "checkpoint has no signature lines");
    }
    let Some(sigs) = sigs.strip_suffix('\n') else {
        return fail(
            TlogError::Checkpoint,
            "checkpoint: the last signature line does not end with a newline",
        );
    };
    let mut signatures = Vec::new();
    for line in sigs.split('\n') {
        if signatures.len() >= MAX_NOTE_SIGNATURES {
            return fail(
                TlogError::Checkpoint,
                format!("checkpoint has more than {MAX_NOTE_SIGNATURES} signature lines"),
            );
        }
        let Some((name, b64)) = line
            .strip_prefix("\u{2014} ")
            .and_then(|rest| rest.split_once(' '))
        else {
            return fail(
                TlogError::Checkpoint,
                format!("checkpoint: malformed signature line {line:?}"),
            );
        };
        if name.is_empty() || name.contains(char::is_whitespace) || name.contains('+') {
            return fail(
                TlogError::Checkpoint,
                format!("checkpoint: malformed signer name {name:?}"),
            );
        }
        let raw = decode_base64_lenient(b64)
            .ok()
            .filter(|_| !b64.contains(char::is_whitespace))
            .ok_or_else(|| {
                TlogError::Checkpoint(format!("checkpoint: signature of {name:?} is not base64"))
            })?;
        let (Some(hint), Some(sig)) = (raw.get(..4), raw.get(4..)) else {
            return fail(
                TlogError::Checkpoint,
                format!("checkpoint: signature of {name:?} is too short"),
            );
        };
        if sig.is_empty() {
            return fail(
                TlogError::Checkpoint,
                format!("checkpoint: signature of {name:?} is too short"),
            );
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
        return fail(
            TlogError::Checkpoint,
            "checkpoint text does not end with a newline",
        );
    };
    let mut lines = body.split('\n');
    let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
        return fail(
            TlogError::Checkpoint,
            "checkpoint needs an origin, a tree size and a root hash line",
        );
    };
    let extensions: Vec<&str> = lines.collect();
    if origin.is_empty() {
        return fail(TlogError::Checkpoint, "checkpoint has an empty origin line");
    }
    if size.is_empty()
        || !size.bytes().all(|b| b.is_ascii_digit())
        || (size.len() > 1 && size.starts_with('0'))
    {
        return fail(
            TlogError::Checkpoint,
            format!("checkpoint tree size {size:?} is not a decimal number"),
        );
    }
    let tree_size = size
        .parse::<u64>()
        .map_err(|e| TlogError::Checkpoint(format!("checkpoint tree size {size:?}: {e}")))?;
    let root_hash = decode_base64_lenient(root)
        .ok()
        .filter(|h| h.len() == 32 && !root.contains(char::is_whitespace))
        .ok_or_else(|| {
            TlogError::Checkpoint(format!(
                "checkpoint root hash {root:?} is not 32 base64-encoded bytes"
            ))
        })?;
    if extensions.iter().any(|l| l.is_empty()) {
        return fail(
            TlogError::Checkpoint,
            "checkpoint has an empty extension line",
        );
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
pub(super) fn ed25519_raw(key: &PublicKey) -> Option<[u8; 32]> {
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
                return fail(
                    TlogError::Checkpoint,
                    format!(
                        "checkpoint: log {:?} has no host to check the checkpoint origin against",
                        log.base_url
                    ),
                );
            }
            if checkpoint.origin != host {
                return fail(
                    TlogError::Checkpoint,
                    if rekor_v2 {
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
                    },
                );
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
            return fail(
                TlogError::Checkpoint,
                format!(
                    "checkpoint signature by {} (key hint {}) does not verify with the key of log {}",
                    sig.name,
                    hex::encode(sig.key_hint),
                    log.base_url
                ),
            );
        }
        verified = true;
    }
    if !verified {
        let found: Vec<String> = note
            .signatures
            .iter()
            .map(|s| format!("{} {}", s.name, hex::encode(s.key_hint)))
            .collect();
        return fail(
            TlogError::Checkpoint,
            format!(
                "checkpoint has no signature by log {} (expected signer {signer:?} with key hint {}; \
             found: {})",
                log.base_url,
                hints.first().map(hex::encode).unwrap_or_default(),
                found.join(", ")
            ),
        );
    }

    if checkpoint.tree_size != tree_size {
        return fail(
            TlogError::Checkpoint,
            format!(
                "checkpoint tree size {} differs from the inclusion proof's {tree_size}",
                checkpoint.tree_size
            ),
        );
    }
    if checkpoint.root_hash != root_hash {
        return fail(
            TlogError::Checkpoint,
            format!(
                "checkpoint root hash {} differs from the inclusion proof's {}",
                hex::encode(&checkpoint.root_hash),
                hex::encode(root_hash)
            ),
        );
    }
    Ok(())
}

/// The `<name>` of a Rekor v1 checkpoint origin `<name> - <numeric tree id>`.
pub(super) fn rekor_v1_origin_name(origin: &str) -> Option<&str> {
    let (name, id) = origin.rsplit_once(" - ")?;
    let numeric =
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && id.parse::<u64>().is_ok();
    (numeric && !name.is_empty()).then_some(name)
}

pub(super) fn verify_ed25519_pure(key: &[u8; 32], msg: &[u8], sig: &[u8]) -> bool {
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
