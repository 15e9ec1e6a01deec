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

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{PublicKey as PgpPublicKey, PublicSubkey, RevocationCode, Signature};
use pgp::packet::{SignatureType, SignatureVersion, SubpacketData};
use pgp::types::{Fingerprint, KeyDetails, KeyId, Tag};
use ssh_key::{Algorithm, HashAlg, SshSig, public::KeyData};

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

// ---------------------------------------------------------------------------------------
// SSH
// ---------------------------------------------------------------------------------------

/// git's `gpg.ssh.allowedSignersFile`: one `principals [options] keytype base64key [comment]`
/// per line (man ssh-keygen, ALLOWED SIGNERS).
///
/// Principals are a comma-separated pattern list (`*`, `?`, `!negation`), optionally in
/// double quotes. Options (comma-separated, keywords case-insensitive, values in double
/// quotes as OpenSSH requires): `namespaces="git,file"` (a pattern list),
/// `valid-after="…"` and `valid-before="…"` (`YYYYMMDD[Z]` or `YYYYMMDDHHMM[SS][Z]`, read
/// as UTC). `cert-authority` is rejected as not supported, as are unknown options. `#`
/// comments and blank lines are skipped.
#[derive(Debug, Clone, Default)]
pub struct AllowedSigners {
    entries: Vec<AllowedSigner>,
}

#[derive(Debug, Clone)]
struct AllowedSigner {
    line: usize,
    principals: String,
    namespaces: Option<String>,
    valid_after: Option<i64>,
    valid_before: Option<i64>,
    key: KeyData,
}

/// Plain (non-certificate) key types OpenSSH writes in allowed_signers lines.
const SSH_KEY_TYPES: [&str; 8] = [
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-dss",
];

impl AllowedSigners {
    /// Parses an allowed_signers file. The error names the (1-based) line.
    pub fn parse(text: &str) -> Result<Self, SignatureError> {
        let mut entries = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.trim_matches([' ', '\t', '\r']);
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let entry = parse_signer_line(content, line)
                .map_err(|detail| SignatureError::AllowedSigners { line, detail })?;
            entries.push(entry);
        }
        Ok(AllowedSigners { entries })
    }

    /// The first principal of the first entry (for messages), if there is one.
    pub fn first_principal(&self) -> Option<&str> {
        let first = self.entries.first()?;
        first.principals.split(',').next()
    }

    /// How many key lines the file has.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file has no key line.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The verdict for a signature that verified with `key`: the first line that holds the
    /// key and admits namespace `git` at `at` wins, as in OpenSSH.
    fn judge(&self, key: &KeyData, fingerprint: &str, at: i64) -> SignatureCheck {
        let mut refusals = Vec::new();
        for entry in self.entries.iter().filter(|e| &e.key == key) {
            match entry.admits(at) {
                Ok(()) => {
                    return SignatureCheck::Verified {
                        signer: entry.principals.clone(),
                        kind: SignatureKind::Ssh,
                        fingerprint: fingerprint.to_string(),
                    };
                }
                Err(why) => refusals.push(format!("line {}: {why}", entry.line)),
            }
        }
        let algorithm = key.algorithm();
        if refusals.is_empty() {
            SignatureCheck::not_allowed(format!(
                "SSH key {fingerprint} ({algorithm}) is not in allowed_signers"
            ))
        } else {
            SignatureCheck::not_allowed(format!(
                "SSH key {fingerprint} ({algorithm}) is in allowed_signers but not allowed here: {}",
                refusals.join("; ")
            ))
        }
    }
}

impl AllowedSigner {
    fn admits(&self, at: i64) -> Result<(), String> {
        if let Some(namespaces) = &self.namespaces
            && !match_pattern_list(GIT_NAMESPACE, namespaces)
        {
            return Err(format!(
                "namespaces=\"{namespaces}\" does not include \"{GIT_NAMESPACE}\""
            ));
        }
        if let Some(after) = self.valid_after
            && at < after
        {
            return Err(format!(
                "not valid before {} (valid-after)",
                crate::time::format_rfc3339(after)
            ));
        }
        if let Some(before) = self.valid_before
            && at > before
        {
            return Err(format!(
                "expired at {} (valid-before)",
                crate::time::format_rfc3339(before)
            ));
        }
        Ok(())
    }
}

fn parse_signer_line(content: &str, line: usize) -> Result<AllowedSigner, String> {
    let (principals, rest) = take_token(content)?;
    let principals = dequote(principals);
    if principals.is_empty() {
        return Err("empty principals field".into());
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    if rest.is_empty() {
        return Err("missing key".into());
    }
    let (first, after_first) = take_token(rest)?;
    let (options, key_text) = if is_key_type(first) {
        (None, rest)
    } else {
        (Some(first), after_first.trim_start_matches([' ', '\t']))
    };

    let mut entry = AllowedSigner {
        line,
        principals,
        namespaces: None,
        valid_after: None,
        valid_before: None,
        key: parse_key(key_text)?,
    };
    if let Some(options) = options {
        apply_options(&mut entry, options)?;
    }
    if let (Some(after), Some(before)) = (entry.valid_after, entry.valid_before)
        && after > before
    {
        return Err("valid-after is later than valid-before".into());
    }
    Ok(entry)
}

/// One whitespace-separated token, as written; double quotes (with `\"` escapes inside)
/// protect blanks, as in OpenSSH.
fn take_token(s: &str) -> Result<(&str, &str), String> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if in_quotes && !escaped => {
                escaped = true;
                continue;
            }
            '"' if !escaped => in_quotes = !in_quotes,
            ' ' | '\t' if !in_quotes => {
                return Ok((s.get(..i).unwrap_or(""), s.get(i..).unwrap_or("")));
            }
            _ => {}
        }
        escaped = false;
    }
    if in_quotes {
        return Err("unterminated quote".into());
    }
    Ok((s, ""))
}

/// A token with its double quotes removed (`\"` stands for a quote).
fn dequote(token: &str) -> String {
    let mut out = String::new();
    let mut chars = token.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('"')) => {
                out.push('"');
                chars.next();
            }
            '"' => {}
            _ => out.push(c),
        }
    }
    out
}

fn is_key_type(token: &str) -> bool {
    SSH_KEY_TYPES.contains(&token) || token.ends_with("-cert-v01@openssh.com")
}

fn parse_key(text: &str) -> Result<KeyData, String> {
    let mut fields = text.split([' ', '\t']).filter(|f| !f.is_empty());
    let key_type = fields.next().ok_or("missing key type")?;
    if key_type.ends_with("-cert-v01@openssh.com") {
        return Err(format!(
            "certificate key type {key_type} is not supported (give the plain public key)"
        ));
    }
    if !SSH_KEY_TYPES.contains(&key_type) {
        return Err(format!(
            "unknown key type or malformed options: {key_type:?}"
        ));
    }
    if key_type == "ssh-dss" {
        return Err("DSA (ssh-dss) keys are not supported".into());
    }
    let base64 = fields
        .next()
        .ok_or("missing base64 key after the key type")?;
    let key = ssh_key::PublicKey::from_openssh(&format!("{key_type} {base64}"))
        .map_err(|e| format!("invalid {key_type} key: {e}"))?;
    Ok(key.key_data().clone())
}

fn apply_options(entry: &mut AllowedSigner, options: &str) -> Result<(), String> {
    let mut seen = Vec::new();
    for option in split_options(options)? {
        let (name, value) = match option.split_once('=') {
            Some((name, value)) => (name.to_ascii_lowercase(), Some(value)),
            None => (option.to_ascii_lowercase(), None),
        };
        if seen.contains(&name) {
            return Err(format!("option {name} given twice"));
        }
        match (name.as_str(), value) {
            ("cert-authority", None) => {
                return Err(
                    "cert-authority (SSH certificates) is not supported; list the signer's own key"
                        .into(),
                );
            }
            ("namespaces", Some(value)) => {
                let value = unquote(value)?;
                if value.is_empty() {
                    return Err("empty namespaces= option".into());
                }
                entry.namespaces = Some(value);
            }
            ("valid-after", Some(value)) => {
                entry.valid_after = Some(parse_ssh_time(&unquote(value)?)?);
            }
            ("valid-before", Some(value)) => {
                entry.valid_before = Some(parse_ssh_time(&unquote(value)?)?);
            }
            ("namespaces" | "valid-after" | "valid-before", None) => {
                return Err(format!("option {name} needs a value"));
            }
            ("cert-authority", Some(_)) => return Err("cert-authority takes no value".into()),
            _ => return Err(format!("unsupported option {option:?}")),
        }
        seen.push(name);
    }
    Ok(())
}

/// Splits `a,b="x,y",c` at commas outside double quotes.
fn split_options(options: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in options.char_indices() {
        match c {
            '\\' if in_quotes && !escaped => {
                escaped = true;
                continue;
            }
            '"' if !escaped => in_quotes = !in_quotes,
            ',' if !in_quotes => {
                out.push(options.get(start..i).unwrap_or(""));
                start = i + 1;
            }
            _ => {}
        }
        escaped = false;
    }
    if in_quotes {
        return Err("unterminated quote in options".into());
    }
    out.push(options.get(start..).unwrap_or(""));
    if out.iter().any(|o| o.is_empty()) {
        return Err(format!("empty option in {options:?}"));
    }
    Ok(out)
}

/// An option value, which OpenSSH requires in double quotes (`\"` is a quote).
fn unquote(value: &str) -> Result<String, String> {
    let inner = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .ok_or_else(|| format!("option value {value:?} must be in double quotes"))?;
    let unescaped = inner.replace("\\\"", "\"");
    if inner.replace("\\\"", "").contains('"') {
        return Err(format!("stray quote in option value {value:?}"));
    }
    Ok(unescaped)
}

/// `YYYYMMDD[Z]` or `YYYYMMDDHHMM[SS][Z]` as seconds since the epoch, read as UTC.
fn parse_ssh_time(text: &str) -> Result<i64, String> {
    let bad = || format!("invalid timestamp {text:?} (expected YYYYMMDD[HHMM[SS]][Z])");
    let digits = text.strip_suffix(['Z', 'z']).unwrap_or(text);
    if !digits.bytes().all(|b| b.is_ascii_digit()) || ![8, 12, 14].contains(&digits.len()) {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, String> {
        digits
            .get(range)
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(bad)
    };
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, minute) = if digits.len() >= 12 {
        (num(8..10)?, num(10..12)?)
    } else {
        (0, 0)
    };
    let second = if digits.len() == 14 { num(12..14)? } else { 0 };
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(bad());
    }
    Ok(crate::time::days_from_civil(year, month, day) * 86_400
        + hour * 3_600
        + minute * 60
        + second)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// OpenSSH `match_pattern_list`: true when some pattern matches and no `!pattern` does.
fn match_pattern_list(subject: &str, list: &str) -> bool {
    let mut matched = false;
    for pattern in list.split(',') {
        let pattern = pattern.trim();
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob_match(negated.as_bytes(), subject.as_bytes()) {
                return false;
            }
        } else if glob_match(pattern.as_bytes(), subject.as_bytes()) {
            matched = true;
        }
    }
    matched
}

/// `*` / `?` wildcard match, iterative (linear backtracking on the last `*`).
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || Some(&c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

fn verify_ssh(
    signers: Option<&AllowedSigners>,
    block: &[u8],
    signed_data: &[u8],
    at: i64,
) -> SignatureCheck {
    let sig = match SshSig::from_pem(block) {
        Ok(sig) => sig,
        Err(e) => return SignatureCheck::invalid(format!("malformed SSH signature: {e}")),
    };
    let key_data = sig.public_key();
    let fingerprint = key_data.fingerprint(HashAlg::Sha256).to_string();
    if sig.version() != SshSig::VERSION {
        // OpenSSH also takes version 0; the field is not signed, only version 1 exists.
        return SignatureCheck::invalid(format!(
            "SSH signature by key {fingerprint} has unsupported version {}",
            sig.version()
        ));
    }
    if sig.namespace() != GIT_NAMESPACE {
        return SignatureCheck::invalid(format!(
            "SSH signature by key {fingerprint} is for namespace {:?}, not \"{GIT_NAMESPACE}\"",
            sig.namespace()
        ));
    }
    if sig.signature().algorithm() == (Algorithm::Rsa { hash: None }) {
        return SignatureCheck::invalid(format!(
            "SSH signature by key {fingerprint} uses ssh-rsa (SHA-1), which is not accepted"
        ));
    }
    let key = ssh_key::PublicKey::from(key_data.clone());
    if let Err(e) = key.verify(GIT_NAMESPACE, signed_data, &sig) {
        return SignatureCheck::invalid(format!(
            "SSH signature by key {fingerprint} does not verify over the signed data: {e}"
        ));
    }
    match signers {
        Some(signers) => signers.judge(key_data, &fingerprint, at),
        None => SignatureCheck::not_allowed(format!(
            "SSH signature by key {fingerprint}, but no SSH allowed signers are configured"
        )),
    }
}

// ---------------------------------------------------------------------------------------
// OpenPGP
// ---------------------------------------------------------------------------------------

/// OpenPGP public keys (transferable public keys, "certificates"), parsed from one or more
/// ASCII-armored `PGP PUBLIC KEY BLOCK`s, each possibly holding several keys.
///
/// Self-signatures (user ID certifications, direct-key signatures, revocations, subkey
/// bindings and their back-signatures) are checked once, at parse time; those that do not
/// verify are dropped. A key with no valid self-signature at all is an error. The same key
/// given more than once is merged (so a revocation in any copy applies).
#[derive(Debug, Clone, Default)]
pub struct OpenPgpKeys {
    certs: Vec<Cert>,
}

#[derive(Debug, Clone)]
struct Cert {
    key: PgpPublicKey,
    fingerprint: Fingerprint,
    created: i64,
    direct: Vec<SelfSig>,
    revocations: Vec<Revocation>,
    user_ids: Vec<UserIdBinding>,
    subkeys: Vec<SubkeyBinding>,
}

#[derive(Debug, Clone)]
struct UserIdBinding {
    id: String,
    certifications: Vec<SelfSig>,
    revocations: Vec<Revocation>,
}

#[derive(Debug, Clone)]
struct SubkeyBinding {
    key: PublicSubkey,
    fingerprint: Fingerprint,
    created: i64,
    bindings: Vec<SelfSig>,
    revocations: Vec<Revocation>,
}

/// What a verified self-signature says.
#[derive(Debug, Clone, Copy)]
struct SelfSig {
    created: i64,
    /// Seconds after the key's creation at which it expires (`None`: never).
    key_expiry: Option<i64>,
    /// When the self-signature itself stops being valid.
    expires: Option<i64>,
    /// `Some(can sign)` when a key flags subpacket is present.
    can_sign: Option<bool>,
    primary_user_id: bool,
}

#[derive(Debug, Clone, Copy)]
struct Revocation {
    created: i64,
    /// Hard revocations (no reason, compromised, unknown) apply regardless of time.
    hard: bool,
}

impl OpenPgpKeys {
    /// Parses ASCII-armored public key blocks (one or more keys per block). The error names
    /// the (1-based) block.
    pub fn parse_armored(blocks: &[String]) -> Result<Self, SignatureError> {
        let mut keys = OpenPgpKeys::default();
        for (index, text) in blocks.iter().enumerate() {
            let block = index + 1;
            let err = |detail: String| SignatureError::OpenPgpKey { block, detail };
            let (parsed, _headers) = SignedPublicKey::from_string_many(text)
                .map_err(|e| err(format!("not an armored public key block: {e}")))?;
            let mut count = 0usize;
            for key in parsed {
                let key = key.map_err(|e| err(format!("malformed public key: {e}")))?;
                let cert = Cert::from_signed(&key).map_err(err)?;
                keys.add(cert);
                count += 1;
            }
            if count == 0 {
                return Err(err("no public key in the block".into()));
            }
        }
        Ok(keys)
    }

    /// The primary key fingerprints (uppercase hex), in the order given.
    pub fn fingerprints(&self) -> Vec<String> {
        self.certs.iter().map(|c| hex_fpr(&c.fingerprint)).collect()
    }

    /// How many distinct keys there are.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Whether there is no key.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    fn add(&mut self, cert: Cert) {
        match self
            .certs
            .iter_mut()
            .find(|c| c.fingerprint == cert.fingerprint)
        {
            Some(existing) => existing.merge(cert),
            None => self.certs.push(cert),
        }
    }
}

fn hex_fpr(fingerprint: &Fingerprint) -> String {
    format!("{fingerprint:X}")
}

fn timestamp(sig: &Signature) -> Option<i64> {
    sig.created().map(|t| i64::from(t.as_secs()))
}

fn self_sig(sig: &Signature) -> Option<SelfSig> {
    let created = timestamp(sig)?;
    let config = sig.config()?;
    let can_sign = config.hashed_subpackets().find_map(|p| match &p.data {
        SubpacketData::KeyFlags(flags) => Some(flags.sign()),
        _ => None,
    });
    let key_expiry = sig
        .key_expiration_time()
        .map(|d| i64::from(d.as_secs()))
        .filter(|&d| d > 0);
    let expires = sig
        .signature_expiration_time()
        .map(|d| i64::from(d.as_secs()))
        .filter(|&d| d > 0)
        .map(|d| created.saturating_add(d));
    Some(SelfSig {
        created,
        key_expiry,
        expires,
        can_sign,
        primary_user_id: sig.is_primary(),
    })
}

fn revocation(sig: &Signature) -> Option<Revocation> {
    let created = timestamp(sig)?;
    let hard = !matches!(
        sig.revocation_reason_code(),
        Some(
            RevocationCode::KeySuperseded
                | RevocationCode::KeyRetired
                | RevocationCode::CertUserIdInvalid
        )
    );
    Some(Revocation { created, hard })
}

/// Whether `sig` names `key` as its issuer (or names no issuer at all).
fn issued_by(sig: &Signature, key_id: &KeyId, fingerprint: &Fingerprint) -> bool {
    let ids = sig.issuer_key_id();
    let fprs = sig.issuer_fingerprint();
    (ids.is_empty() && fprs.is_empty()) || ids.contains(&key_id) || fprs.contains(&fingerprint)
}

impl Cert {
    fn from_signed(key: &SignedPublicKey) -> Result<Cert, String> {
        let primary = &key.primary_key;
        let fingerprint = primary.fingerprint();
        let key_id = primary.legacy_key_id();
        let fpr = hex_fpr(&fingerprint);
        let ours = |sig: &&Signature| issued_by(sig, &key_id, &fingerprint);

        let mut direct = Vec::new();
        for sig in key.details.direct_signatures.iter().filter(ours) {
            if sig.typ() == Some(SignatureType::Key)
                && sig.verify_key(primary).is_ok()
                && let Some(s) = self_sig(sig)
            {
                direct.push(s);
            }
        }
        let mut revocations = Vec::new();
        for sig in key.details.revocation_signatures.iter().filter(ours) {
            if sig.typ() == Some(SignatureType::KeyRevocation)
                && sig.verify_key(primary).is_ok()
                && let Some(r) = revocation(sig)
            {
                revocations.push(r);
            }
        }
        let mut user_ids = Vec::new();
        for user in &key.details.users {
            let mut binding = UserIdBinding {
                id: String::from_utf8_lossy(user.id.id()).into_owned(),
                certifications: Vec::new(),
                revocations: Vec::new(),
            };
            for sig in user.signatures.iter().filter(ours) {
                if sig
                    .verify_certification(primary, Tag::UserId, &user.id)
                    .is_err()
                {
                    continue;
                }
                if sig.typ() == Some(SignatureType::CertRevocation) {
                    binding.revocations.extend(revocation(sig));
                } else {
                    binding.certifications.extend(self_sig(sig));
                }
            }
            if !binding.certifications.is_empty() {
                user_ids.push(binding);
            }
        }
        let mut subkeys = Vec::new();
        for sub in &key.public_subkeys {
            let mut binding = SubkeyBinding {
                key: sub.key.clone(),
                fingerprint: sub.key.fingerprint(),
                created: i64::from(sub.key.created_at().as_secs()),
                bindings: Vec::new(),
                revocations: Vec::new(),
            };
            for sig in sub.signatures.iter().filter(ours) {
                if sig.verify_subkey_binding(primary, &sub.key).is_err() {
                    continue;
                }
                match sig.typ() {
                    Some(SignatureType::SubkeyRevocation) => {
                        binding.revocations.extend(revocation(sig));
                    }
                    Some(SignatureType::SubkeyBinding) => {
                        let Some(mut s) = self_sig(sig) else { continue };
                        if s.can_sign == Some(true) {
                            // A signing subkey must sign the primary back (primary key binding).
                            let back = sig.embedded_signature().is_some_and(|back| {
                                back.verify_primary_key_binding(&sub.key, primary).is_ok()
                            });
                            if !back {
                                s.can_sign = Some(false);
                            }
                        }
                        binding.bindings.push(s);
                    }
                    _ => {}
                }
            }
            if !binding.bindings.is_empty() {
                subkeys.push(binding);
            }
        }
        if direct.is_empty() && user_ids.is_empty() {
            return Err(format!("key {fpr} has no valid self-signature"));
        }
        Ok(Cert {
            key: primary.clone(),
            fingerprint,
            created: i64::from(primary.created_at().as_secs()),
            direct,
            revocations,
            user_ids,
            subkeys,
        })
    }

    fn merge(&mut self, other: Cert) {
        self.direct.extend(other.direct);
        self.revocations.extend(other.revocations);
        for uid in other.user_ids {
            match self.user_ids.iter_mut().find(|u| u.id == uid.id) {
                Some(u) => {
                    u.certifications.extend(uid.certifications);
                    u.revocations.extend(uid.revocations);
                }
                None => self.user_ids.push(uid),
            }
        }
        for sub in other.subkeys {
            match self
                .subkeys
                .iter_mut()
                .find(|s| s.fingerprint == sub.fingerprint)
            {
                Some(s) => {
                    s.bindings.extend(sub.bindings);
                    s.revocations.extend(sub.revocations);
                }
                None => self.subkeys.push(sub),
            }
        }
    }

    /// The user IDs that are bound and not revoked at `at`, with their newest certification.
    fn live_user_ids(&self, at: i64) -> Vec<(&UserIdBinding, SelfSig)> {
        self.user_ids
            .iter()
            .filter_map(|u| {
                let newest = newest_at(&u.certifications, at)?;
                let revoked = u
                    .revocations
                    .iter()
                    .any(|r| r.created <= at && r.created >= newest.created);
                (!revoked).then_some((u, newest))
            })
            .collect()
    }

    /// The primary key's own validity at `at`; on success, the binding self-signature and
    /// the name to show.
    fn judge_primary(&self, at: i64) -> Result<(SelfSig, String), String> {
        let fpr = hex_fpr(&self.fingerprint);
        if self.created > at {
            return Err(format!(
                "OpenPGP key {fpr} was created at {}, after {}",
                crate::time::format_rfc3339(self.created),
                crate::time::format_rfc3339(at)
            ));
        }
        if let Some(r) = revoked_at(&self.revocations, at) {
            return Err(format!("OpenPGP key {fpr} is revoked ({})", describe(r)));
        }
        let live = self.live_user_ids(at);
        let binding = live
            .iter()
            .map(|(_, s)| *s)
            .chain(newest_at(&self.direct, at))
            .max_by_key(|s| s.created)
            .ok_or_else(|| {
                format!(
                    "OpenPGP key {fpr} has no self-signature valid at {}",
                    crate::time::format_rfc3339(at)
                )
            })?;
        if let Some(expiry) = binding.key_expiry {
            let expires = self.created.saturating_add(expiry);
            if at >= expires {
                return Err(format!(
                    "OpenPGP key {fpr} expired at {}",
                    crate::time::format_rfc3339(expires)
                ));
            }
        }
        let name = live
            .iter()
            .filter(|(_, s)| s.primary_user_id)
            .max_by_key(|(_, s)| s.created)
            .or_else(|| live.first())
            .map(|(u, _)| u.id.clone())
            .unwrap_or(fpr);
        Ok((binding, name))
    }

    /// The signing subkey's validity at `at` (the primary's is checked separately).
    fn judge_subkey(&self, sub: &SubkeyBinding, at: i64) -> Result<(), String> {
        let fpr = hex_fpr(&sub.fingerprint);
        if sub.created > at {
            return Err(format!(
                "OpenPGP subkey {fpr} was created at {}, after {}",
                crate::time::format_rfc3339(sub.created),
                crate::time::format_rfc3339(at)
            ));
        }
        if let Some(r) = revoked_at(&sub.revocations, at) {
            return Err(format!("OpenPGP subkey {fpr} is revoked ({})", describe(r)));
        }
        let binding = newest_at(&sub.bindings, at).ok_or_else(|| {
            format!(
                "OpenPGP subkey {fpr} has no binding signature valid at {}",
                crate::time::format_rfc3339(at)
            )
        })?;
        if binding.can_sign != Some(true) {
            return Err(format!(
                "OpenPGP subkey {fpr} is not bound as a signing key (no sign flag or no valid back-signature)"
            ));
        }
        if let Some(expiry) = binding.key_expiry {
            let expires = sub.created.saturating_add(expiry);
            if at >= expires {
                return Err(format!(
                    "OpenPGP subkey {fpr} expired at {}",
                    crate::time::format_rfc3339(expires)
                ));
            }
        }
        Ok(())
    }
}

/// The newest self-signature made at or before `at` that has not itself expired by `at`.
fn newest_at(sigs: &[SelfSig], at: i64) -> Option<SelfSig> {
    sigs.iter()
        .filter(|s| s.created <= at && s.expires.is_none_or(|e| at < e))
        .max_by_key(|s| s.created)
        .copied()
}

fn revoked_at(revocations: &[Revocation], at: i64) -> Option<&Revocation> {
    revocations.iter().find(|r| r.hard || r.created <= at)
}

fn describe(r: &Revocation) -> String {
    let kind = if r.hard { "hard" } else { "soft" };
    format!(
        "{kind} revocation made at {}",
        crate::time::format_rfc3339(r.created)
    )
}

/// Where a data signature's issuer points: a primary key or one of its subkeys.
#[derive(Clone, Copy)]
struct Candidate<'a> {
    cert: &'a Cert,
    subkey: Option<&'a SubkeyBinding>,
}

impl Candidate<'_> {
    fn fingerprint(&self) -> String {
        match self.subkey {
            Some(sub) => hex_fpr(&sub.fingerprint),
            None => hex_fpr(&self.cert.fingerprint),
        }
    }

    fn verify(&self, sig: &Signature, data: &[u8]) -> bool {
        match self.subkey {
            Some(sub) => sig.verify(&sub.key, data).is_ok(),
            None => sig.verify(&self.cert.key, data).is_ok(),
        }
    }
}

fn verify_openpgp(
    keys: Option<&OpenPgpKeys>,
    block: &[u8],
    signed_data: &[u8],
    at: i64,
) -> SignatureCheck {
    let sig = match parse_detached(block) {
        Ok(sig) => sig,
        Err(detail) => return SignatureCheck::invalid(detail),
    };
    let issuer = describe_issuer(&sig);
    if !matches!(sig.version(), SignatureVersion::V4 | SignatureVersion::V6) {
        return SignatureCheck::invalid(format!(
            "OpenPGP signature by {issuer} has unsupported version {:?}",
            sig.version()
        ));
    }
    if !matches!(sig.typ(), Some(SignatureType::Binary | SignatureType::Text)) {
        return SignatureCheck::invalid(format!(
            "OpenPGP signature by {issuer} is not a data signature (type {:?})",
            sig.typ()
        ));
    }
    match sig.hash_alg() {
        Some(HashAlgorithm::Md5 | HashAlgorithm::Sha1 | HashAlgorithm::Ripemd160) | None => {
            return SignatureCheck::invalid(format!(
                "OpenPGP signature by {issuer} uses a weak or unknown hash algorithm ({:?})",
                sig.hash_alg()
            ));
        }
        Some(_) => {}
    }
    let Some(keys) = keys else {
        return SignatureCheck::not_allowed(format!(
            "OpenPGP signature by {issuer}, but no OpenPGP keys are configured"
        ));
    };
    let candidates = candidates(keys, &sig);
    if candidates.is_empty() {
        return SignatureCheck::not_allowed(format!(
            "OpenPGP signature by {issuer}, which is not among the trusted keys"
        ));
    }
    let Some(signer) = candidates.iter().find(|c| c.verify(&sig, signed_data)) else {
        let tried: Vec<String> = candidates.iter().map(Candidate::fingerprint).collect();
        return SignatureCheck::invalid(format!(
            "OpenPGP signature does not verify over the signed data with key {}",
            tried.join(", ")
        ));
    };
    if let Some(created) = timestamp(&sig)
        && let Some(expiry) = sig.signature_expiration_time()
        && expiry.as_secs() > 0
        && at >= created.saturating_add(i64::from(expiry.as_secs()))
    {
        return SignatureCheck::invalid(format!(
            "OpenPGP signature by {} expired",
            signer.fingerprint()
        ));
    }
    let cert = signer.cert;
    let (binding, name) = match cert.judge_primary(at) {
        Ok(ok) => ok,
        Err(detail) => return SignatureCheck::not_allowed(detail),
    };
    let usable = match signer.subkey {
        Some(sub) => cert.judge_subkey(sub, at),
        None if binding.can_sign == Some(false) => Err(format!(
            "OpenPGP key {} is not certified for signing (key flags)",
            hex_fpr(&cert.fingerprint)
        )),
        None => Ok(()),
    };
    match usable {
        Ok(()) => SignatureCheck::Verified {
            signer: name,
            kind: SignatureKind::OpenPgp,
            fingerprint: hex_fpr(&cert.fingerprint),
        },
        Err(detail) => SignatureCheck::not_allowed(detail),
    }
}

fn parse_detached(block: &[u8]) -> Result<Signature, String> {
    let text = std::str::from_utf8(block)
        .map_err(|_| "OpenPGP signature armor is not valid UTF-8".to_string())?;
    let (sigs, _headers) = DetachedSignature::from_string_many(text)
        .map_err(|e| format!("malformed OpenPGP signature: {e}"))?;
    let mut found = None;
    for sig in sigs {
        let sig = sig.map_err(|e| format!("malformed OpenPGP signature: {e}"))?;
        if found.is_some() {
            return Err("more than one OpenPGP signature in the block is not supported".into());
        }
        found = Some(sig.signature);
    }
    found.ok_or_else(|| "no OpenPGP signature packet in the block".to_string())
}

fn describe_issuer(sig: &Signature) -> String {
    if let Some(fpr) = sig.issuer_fingerprint().first() {
        return format!("key {}", hex_fpr(fpr));
    }
    if let Some(id) = sig.issuer_key_id().first() {
        return format!("key ID {}", id.to_string().to_ascii_uppercase());
    }
    "an unnamed key".into()
}

/// Keys (primary or subkey) the signature's issuer subpackets point at; with no issuer
/// subpacket at all, every key.
fn candidates<'a>(keys: &'a OpenPgpKeys, sig: &Signature) -> Vec<Candidate<'a>> {
    let fprs = sig.issuer_fingerprint();
    let ids = sig.issuer_key_id();
    let anonymous = fprs.is_empty() && ids.is_empty();
    let matches =
        |fpr: &Fingerprint, id: KeyId| anonymous || fprs.contains(&fpr) || ids.contains(&&id);
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for cert in &keys.certs {
        if matches(&cert.fingerprint, cert.key.legacy_key_id())
            && seen.insert(hex_fpr(&cert.fingerprint))
        {
            out.push(Candidate { cert, subkey: None });
        }
        for sub in &cert.subkeys {
            if matches(&sub.fingerprint, sub.key.legacy_key_id())
                && seen.insert(hex_fpr(&sub.fingerprint))
            {
                out.push(Candidate {
                    cert,
                    subkey: Some(sub),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEQ3ZmEVFbD0Kxbv9Jv2nGycqRMpmrP4VXk3hH5ZC3GN";

    fn parse_err(text: &str) -> SignatureError {
        AllowedSigners::parse(text).expect_err("should not parse")
    }

    #[test]
    fn parses_plain_and_optioned_lines() {
        let text = format!(
            "# comment\n\n  alice@example.com {ED25519} alice\n\
             \"bob@example.com,carol@example.com\" namespaces=\"git,file\",valid-after=\"20240101\",VALID-BEFORE=\"20300101120000Z\" {ED25519}\n"
        );
        let signers = AllowedSigners::parse(&text).unwrap();
        assert_eq!(signers.len(), 2);
        assert_eq!(signers.first_principal(), Some("alice@example.com"));
        let second = &signers.entries[1];
        assert_eq!(second.line, 4);
        assert_eq!(second.principals, "bob@example.com,carol@example.com");
        assert_eq!(second.namespaces.as_deref(), Some("git,file"));
        assert_eq!(second.valid_after, Some(1_704_067_200));
        assert_eq!(second.valid_before, Some(1_893_499_200));
    }

    #[test]
    fn parse_errors_name_the_line() {
        let cases = [
            (format!("# c\nalice {ED25519}\nbob\n"), 3, "missing key"),
            (
                format!("\n\nbob cert-authority {ED25519}"),
                3,
                "not supported",
            ),
            (
                format!("bob valid-after=\"2024\" {ED25519}"),
                1,
                "invalid timestamp",
            ),
            (
                format!("bob valid-after=20240101 {ED25519}"),
                1,
                "double quotes",
            ),
            (format!("bob namespaces=git {ED25519}"), 1, "double quotes"),
            (
                format!("bob valid-after=\"20240230\" {ED25519}"),
                1,
                "invalid timestamp",
            ),
            (format!("bob frobnicate {ED25519}"), 1, "unsupported option"),
            (
                format!("bob namespaces=\"git {ED25519}"),
                1,
                "unterminated quote",
            ),
            (
                "bob ssh-ed25519 AAAA!!".to_string(),
                1,
                "invalid ssh-ed25519 key",
            ),
            ("bob ssh-ed25519".to_string(), 1, "missing base64"),
            (
                "bob ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIEQ3ZmEVFbD0Kxbv9Jv2nGycqRMpmrP4VXk3hH5ZC3GN"
                    .to_string(),
                1,
                "invalid ssh-rsa key",
            ),
            (
                "bob ssh-ed25519-cert-v01@openssh.com AAAA".to_string(),
                1,
                "certificate key type",
            ),
            ("bob ssh-dss AAAA".to_string(), 1, "DSA"),
            (
                format!("bob valid-after=\"20300101\",valid-before=\"20200101\" {ED25519}"),
                1,
                "later than",
            ),
            (
                format!("bob namespaces=\"git\",namespaces=\"file\" {ED25519}"),
                1,
                "twice",
            ),
        ];
        for (text, line, needle) in cases {
            let err = parse_err(&text);
            let SignatureError::AllowedSigners { line: got, detail } = &err else {
                panic!("unexpected {err:?}");
            };
            assert_eq!(*got, line, "{text}: {err}");
            assert!(detail.contains(needle), "{text}: {err}");
            assert!(
                err.to_string()
                    .starts_with(&format!("allowed_signers line {line}:"))
            );
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_ssh_time("19700101"), Ok(0));
        assert_eq!(parse_ssh_time("19700101Z"), Ok(0));
        assert_eq!(parse_ssh_time("200002290000"), Ok(951_782_400));
        assert_eq!(parse_ssh_time("20240301123456Z"), Ok(1_709_296_496));
        assert!(parse_ssh_time("20230229").is_err());
        assert!(parse_ssh_time("20231301").is_err());
        assert!(parse_ssh_time("2023010124").is_err());
        assert!(parse_ssh_time("202301012400").is_err());
        assert!(parse_ssh_time("-2023010").is_err());
        assert_eq!(
            crate::time::format_rfc3339(1_709_296_496),
            "2024-03-01T12:34:56Z"
        );
        assert_eq!(crate::time::format_rfc3339(-1), "1969-12-31T23:59:59Z");
        for secs in [0, 951_782_400, 4_102_444_800, -86_400 * 365] {
            let text = crate::time::format_rfc3339(secs);
            let compact: String = text.chars().filter(char::is_ascii_digit).collect();
            assert_eq!(parse_ssh_time(&compact), Ok(secs));
        }
    }

    #[test]
    fn pattern_lists() {
        assert!(match_pattern_list("git", "git"));
        assert!(match_pattern_list("git", "file,git"));
        assert!(match_pattern_list("git", "g*"));
        assert!(match_pattern_list("git", "g?t"));
        assert!(match_pattern_list("git", "*"));
        assert!(!match_pattern_list("git", "file"));
        assert!(!match_pattern_list("git", "*,!git"));
        assert!(!match_pattern_list("git", "!git"));
        assert!(!match_pattern_list("git", "gi"));
        assert!(glob_match(b"*@example.com", b"alice@example.com"));
        assert!(!glob_match(b"*@example.com", b"alice@example.org"));
        assert!(glob_match(b"a*b*c", b"axxbyyc"));
        assert!(!glob_match(b"a*b*c", b"axxbyy"));
        assert!(glob_match(b"**", b""));
        let long = vec![b'a'; 4096];
        assert!(!glob_match(b"*a*a*a*a*a*b", &long));
    }

    #[test]
    fn empty_signature_is_not_signed() {
        let trust = SignerTrust::default();
        assert_eq!(verify(&trust, b"", b"data", 0), SignatureCheck::NotSigned);
        assert_eq!(
            verify(&trust, b" \n\t", b"data", 0),
            SignatureCheck::NotSigned
        );
    }

    #[test]
    fn unsupported_and_garbage_signatures_are_invalid() {
        let trust = SignerTrust::default();
        for sig in [
            &b"-----BEGIN SIGNED MESSAGE-----\nMIAG\n-----END SIGNED MESSAGE-----\n"[..],
            b"-----BEGIN PGP MESSAGE-----\nowE\n-----END PGP MESSAGE-----\n",
            b"hello",
            b"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n",
            b"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n",
            b"-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----\nextra",
            b"-----BEGIN PGP SIGNATURE-----\n\n-----END PGP SIGNATURE-----",
            b"-----BEGIN PGP SIGNATURE-----\n\niQ==\n-----END PGP SIGNATURE-----",
            b"-----BEGIN PGP SIGNATURE-----\n\x80\xff\n-----END PGP SIGNATURE-----",
        ] {
            let check = verify(&trust, sig, b"data", 0);
            assert!(matches!(check, SignatureCheck::Invalid { .. }), "{check:?}");
        }
        let huge = vec![b'A'; MAX_SIGNATURE_LEN + 1];
        assert!(matches!(
            verify(&trust, &huge, b"", 0),
            SignatureCheck::Invalid { .. }
        ));
    }

    #[test]
    fn random_bytes_never_panic() {
        // xorshift: deterministic pseudo-random input, also behind valid armor headers.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let trust = SignerTrust::default();
        for round in 0..2_000 {
            let len = (next() % 600) as usize;
            let body: Vec<u8> = (0..len).map(|_| (next() & 0xff) as u8).collect();
            let b64: Vec<u8> = body
                .iter()
                .map(|b| {
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/\n="
                        [usize::from(*b) % 66]
                })
                .collect();
            for (begin, end) in [(SSH_BEGIN, SSH_END), (PGP_BEGIN, PGP_END)] {
                let mut sig = begin.to_vec();
                sig.extend_from_slice(if round % 2 == 0 { b"\n" } else { b"\n\n" });
                sig.extend_from_slice(if round % 3 == 0 { &body } else { &b64 });
                sig.push(b'\n');
                sig.extend_from_slice(end);
                let _ = verify(&trust, &sig, b"data", 0);
            }
            let _ = verify(&trust, &body, b"data", 0);
            let _ = split_tag(&body);
        }
    }

    #[test]
    fn split_tag_finds_last_marker_in_the_message() {
        let raw = b"object 0123\ntype commit\ntag v1\ntagger T <t@e> 1 +0000\n\nmsg\n-----BEGIN PGP SIGNATURE-----\nquoted\n-----END PGP SIGNATURE-----\n-----BEGIN SSH SIGNATURE-----\nabc\n-----END SSH SIGNATURE-----\n";
        let (data, sig) = split_tag(raw).unwrap();
        assert!(data.ends_with(b"-----END PGP SIGNATURE-----\n"));
        assert!(sig.starts_with(SSH_BEGIN));
        assert_eq!(data.len() + sig.len(), raw.len());

        let unsigned = b"object 0123\ntype commit\ntag v1\ntagger T <t@e> 1 +0000\n\nmsg\n";
        assert_eq!(split_tag(unsigned), None);
        assert_eq!(
            split_tag(b"tree 0123\n\n-----BEGIN PGP SIGNATURE-----\n"),
            None
        );
        assert_eq!(split_tag(b"object 0123"), None);
        assert_eq!(split_tag(b""), None);
        let empty_message = b"object 1\ntype commit\ntag t\n\n-----BEGIN SSH SIGNATURE-----\nx\n";
        assert!(split_tag(empty_message).is_some());
        let indented = b"object 1\ntype commit\ntag t\n\n -----BEGIN SSH SIGNATURE-----\nx\n";
        assert_eq!(split_tag(indented), None);
    }

    #[test]
    fn openpgp_parse_errors_name_the_block() {
        let err = OpenPgpKeys::parse_armored(&["not armor".to_string()]).unwrap_err();
        assert!(
            matches!(err, SignatureError::OpenPgpKey { block: 1, .. }),
            "{err}"
        );
        let sig = "-----BEGIN PGP SIGNATURE-----\n\niQ==\n-----END PGP SIGNATURE-----\n";
        let err = OpenPgpKeys::parse_armored(&[String::new(), sig.to_string()]).unwrap_err();
        assert!(
            matches!(err, SignatureError::OpenPgpKey { block: 1, .. }),
            "{err}"
        );
        let keys = OpenPgpKeys::parse_armored(&[]).unwrap();
        assert!(keys.is_empty());
    }
}
