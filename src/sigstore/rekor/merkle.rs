//! Merkle inclusion (RFC 6962 / RFC 9162 §2.1.3.2)

#[allow(clippy::wildcard_imports)]
use super::*;

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
        return fail(
            TlogError::Inclusion,
            format!("inclusion proof: index {index} is not below the tree size {tree_size}"),
        );
    }
    if root.len() != 32 {
        return fail(
            TlogError::Inclusion,
            format!(
                "inclusion proof: root hash is {} bytes, expected 32",
                root.len()
            ),
        );
    }
    if proof.len() > MAX_PROOF_HASHES {
        return fail(
            TlogError::Inclusion,
            format!("inclusion proof: {} hashes is too many", proof.len()),
        );
    }
    let mut fn_ = index;
    let mut sn = tree_size - 1;
    let mut r = *leaf_hash;
    for (i, p) in proof.iter().enumerate() {
        if p.len() != 32 {
            return fail(
                TlogError::Inclusion,
                format!(
                    "inclusion proof: hash {i} is {} bytes, expected 32",
                    p.len()
                ),
            );
        }
        if sn == 0 {
            return fail(
                TlogError::Inclusion,
                format!(
                    "inclusion proof: {} hashes is too many for index {index} in a tree of {tree_size}",
                    proof.len()
                ),
            );
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
        return fail(
            TlogError::Inclusion,
            format!(
                "inclusion proof: {} hashes is too few for index {index} in a tree of {tree_size}",
                proof.len()
            ),
        );
    }
    if r.as_slice() != root {
        return fail(
            TlogError::Inclusion,
            format!(
                "inclusion proof does not lead to the root hash (computed {}, expected {})",
                hex::encode(r),
                hex::encode(root)
            ),
        );
    }
    Ok(())
}
