//! Verification of Git commit and tag signatures (pure: bytes in, a verdict value out).
//!
//! Two signature formats are supported, the two that `git commit -S` / `git tag -s` produce
//! with `gpg.format=ssh` and `gpg.format=openpgp`:
//!
//! - **SSH** (`-----BEGIN SSH SIGNATURE-----`, the OpenSSH `SSHSIG` format) checked against
//!   git's `gpg.ssh.allowedSignersFile` ([`AllowedSigners`]). The signature namespace must
//!   be `git`; the key must appear verbatim in an allowed_signers line whose options
//!   (`namespaces=`, `valid-after=`, `valid-before=`) admit it at the judged time.
//! - **OpenPGP** (`-----BEGIN PGP SIGNATURE-----`, a detached v4/v6 signature) checked
//!   against given public keys ([`OpenPgpKeys`]), honouring key expiry, revocation,
//!   key flags and signing-subkey bindings (with their back-signatures).
//!
//! [`verify`] never fails: every outcome, including malformed input, is a
//! [`SignatureCheck`] value. The caller blocks on anything but
//! [`SignatureCheck::Verified`].
//!
//! Decisions:
//! - The SSH signer is the principal field of the matching allowed_signers line (all of its
//!   principals, joined with `,`, exactly as written). Like `git verify-commit` (which only
//!   checks "some principal lists this key"), the principal is **not** required to equal
//!   the committer's e-mail address.
//! - allowed_signers timestamps without a `Z` suffix are read as UTC (OpenSSH reads them in
//!   the verifier's local time zone; a gate must not depend on the machine's zone).
//! - `cert-authority` lines (SSH certificates) are rejected at parse time as not supported.
//! - A signature made in another SSH namespace (e.g. `file`) is [`SignatureCheck::Invalid`]:
//!   it is not a git signature at all. A `git` signature whose allowed_signers line does not
//!   admit the `git` namespace is [`SignatureCheck::SignerNotAllowed`].
//! - The cryptographic check comes first: a tampered signature is `Invalid` even when its
//!   key is unknown; `SignerNotAllowed` is reserved for signatures that verify.
//! - OpenPGP data signatures over MD5, SHA-1 or RIPEMD-160 are `Invalid` (collisions would
//!   let a signature cover another commit); SHA-1 is still accepted in key self-signatures.
//! - OpenPGP key validity (creation, expiry, soft revocation) is judged at `at`; a hard
//!   revocation (no reason, "compromised", or an unknown reason) applies at any time.
//! - For OpenPGP the reported fingerprint is the **primary** key's (uppercase hex), also
//!   when a signing subkey made the signature; the signer is the primary user ID.

use std::collections::HashSet;
use std::fmt;

/// Largest signature block [`verify`] looks at; anything larger is [`SignatureCheck::Invalid`].
pub const MAX_SIGNATURE_LEN: usize = 64 * 1024;

/// The SSH signature namespace git signs in.
const GIT_NAMESPACE: &str = "git";

const SSH_BEGIN: &[u8] = b"-----BEGIN SSH SIGNATURE-----";
const SSH_END: &[u8] = b"-----END SSH SIGNATURE-----";
const PGP_BEGIN: &[u8] = b"-----BEGIN PGP SIGNATURE-----";
const PGP_END: &[u8] = b"-----END PGP SIGNATURE-----";
const PGP_MESSAGE_BEGIN: &[u8] = b"-----BEGIN PGP MESSAGE-----";
const X509_BEGIN: &[u8] = b"-----BEGIN SIGNED MESSAGE-----";

/// Lines git treats as the start of a signature appended to a tag message.
const SIGNATURE_MARKERS: [&[u8]; 4] = [PGP_BEGIN, PGP_MESSAGE_BEGIN, X509_BEGIN, SSH_BEGIN];

/// Configuration errors: a trust source that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// An allowed_signers line that cannot be used (`line` counts from 1).
    #[error("allowed_signers line {line}: {detail}")]
    AllowedSigners {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        detail: String,
    },
    /// An OpenPGP public key block that cannot be used (`block` counts from 1).
    #[error("OpenPGP key block {block}: {detail}")]
    OpenPgpKey {
        /// 1-based position of the block in the list given.
        block: usize,
        /// What is wrong with it.
        detail: String,
    },
}

/// The kind of a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureKind {
    /// An OpenSSH `SSHSIG` signature (`gpg.format=ssh`).
    Ssh,
    /// An OpenPGP signature (`gpg.format=openpgp`).
    OpenPgp,
}

impl fmt::Display for SignatureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureKind::Ssh => "ssh",
            SignatureKind::OpenPgp => "openpgp",
        })
    }
}

/// The outcome of checking one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// The signature verifies with a trusted key that was valid at the judged time.
    Verified {
        /// SSH: the principal field of the matching allowed_signers line; OpenPGP: the
        /// key's primary user ID (or its fingerprint when it has no readable user ID).
        signer: String,
        /// Which format the signature is in.
        kind: SignatureKind,
        /// SSH: `SHA256:…` of the key; OpenPGP: the primary key fingerprint (uppercase hex).
        fingerprint: String,
    },
    /// There is no signature at all.
    NotSigned,
    /// A well-formed signature that verifies with no allowed key, or by a key outside its
    /// validity or namespace; `detail` names the signing key when it is known.
    SignerNotAllowed {
        /// Why, for humans.
        detail: String,
    },
    /// A malformed, unsupported or cryptographically invalid (tampered) signature.
    Invalid {
        /// Why, for humans.
        detail: String,
    },
}

impl SignatureCheck {
    /// Whether this is [`SignatureCheck::Verified`].
    pub fn is_verified(&self) -> bool {
        matches!(self, SignatureCheck::Verified { .. })
    }

    fn invalid(detail: impl Into<String>) -> Self {
        SignatureCheck::Invalid {
            detail: detail.into(),
        }
    }

    fn not_allowed(detail: impl Into<String>) -> Self {
        SignatureCheck::SignerNotAllowed {
            detail: detail.into(),
        }
    }
}

/// Who may sign: SSH allowed signers and/or OpenPGP keys. A format without trust
/// configured yields [`SignatureCheck::SignerNotAllowed`] for every signature in it.
#[derive(Debug, Clone, Default)]
pub struct SignerTrust {
    /// git's allowed_signers file, for SSH signatures.
    pub ssh: Option<AllowedSigners>,
    /// Public keys, for OpenPGP signatures.
    pub openpgp: Option<OpenPgpKeys>,
}

/// Verifies `signature` (the armored `SSH SIGNATURE` or `PGP SIGNATURE` block exactly as
/// git stores it) over `signed_data`.
///
/// `at` is the time (seconds since the Unix epoch) the signature is judged at, normally the
/// commit's committer time or the tag's tagger time: it is compared with allowed_signers
/// `valid-after`/`valid-before` and with OpenPGP key creation, expiry and revocation.
///
/// SSH: the signature namespace must be `git`; an allowed_signers line must hold the exact
/// key and, when it has `namespaces=`, admit `git`. An empty (or all-blank) `signature` is
/// [`SignatureCheck::NotSigned`]. Never fails and never panics: the outcome is a value.
pub fn verify(
    trust: &SignerTrust,
    signature: &[u8],
    signed_data: &[u8],
    at: i64,
) -> SignatureCheck {
    let block = signature.trim_ascii();
    if block.is_empty() {
        return SignatureCheck::NotSigned;
    }
    if block.len() > MAX_SIGNATURE_LEN {
        return SignatureCheck::invalid(format!(
            "signature block of {} bytes exceeds the limit of {MAX_SIGNATURE_LEN} bytes",
            block.len()
        ));
    }
    if block.starts_with(SSH_BEGIN) {
        match armored_block(block, SSH_END) {
            Ok(block) => verify_ssh(trust.ssh.as_ref(), block, signed_data, at),
            Err(detail) => SignatureCheck::invalid(format!("SSH signature: {detail}")),
        }
    } else if block.starts_with(PGP_BEGIN) {
        match armored_block(block, PGP_END) {
            Ok(block) => verify_openpgp(trust.openpgp.as_ref(), block, signed_data, at),
            Err(detail) => SignatureCheck::invalid(format!("OpenPGP signature: {detail}")),
        }
    } else if block.starts_with(PGP_MESSAGE_BEGIN) {
        SignatureCheck::invalid("unsupported signature format: armored PGP MESSAGE")
    } else if block.starts_with(X509_BEGIN) {
        SignatureCheck::invalid("unsupported signature format: X.509 (gpgsm)")
    } else {
        SignatureCheck::invalid("not an armored SSH or OpenPGP signature")
    }
}

/// A raw git tag object (as printed by `git cat-file tag`) split into the signed data and
/// the signature block, when it carries one.
///
/// git appends the armored signature (SSH, OpenPGP, or X.509) to the tag message; like git,
/// the signature starts at the last line of the message that begins with a signature
/// marker. Returns `None` for anything that is not a tag object (it must start with an
/// `object` header) and for an annotated tag without a signature.
pub fn split_tag(raw: &[u8]) -> Option<(&[u8], &[u8])> {
    if !raw.starts_with(b"object ") {
        return None;
    }
    let body = find(raw, b"\n\n")?.checked_add(2)?;
    let mut pos = body;
    let mut found = None;
    while pos < raw.len() {
        let rest = raw.get(pos..)?;
        if SIGNATURE_MARKERS.iter().any(|m| rest.starts_with(m)) {
            found = Some(pos);
        }
        pos = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => pos + i + 1,
            None => raw.len(),
        };
    }
    let start = found?;
    Some((raw.get(..start)?, raw.get(start..)?))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The block from its BEGIN line through its END line; anything but whitespace after the
/// END line is refused (it would ride along unsigned).
fn armored_block<'a>(block: &'a [u8], end_marker: &[u8]) -> Result<&'a [u8], String> {
    let end = find(block, end_marker).ok_or_else(|| "truncated: no END line".to_string())?;
    let end = end + end_marker.len();
    let (armor, rest) = block.split_at(end);
    if !rest.trim_ascii().is_empty() {
        return Err("unexpected data after the END line".into());
    }
    Ok(armor)
}

mod openpgp;
mod ssh;
#[cfg(test)]
mod tests;

pub use openpgp::OpenPgpKeys;
use openpgp::verify_openpgp;
pub use ssh::AllowedSigners;
use ssh::verify_ssh;
