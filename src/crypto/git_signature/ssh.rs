//! SSH signatures (`SSHSIG`) and git's allowed_signers file.

use ssh_key::{Algorithm, HashAlg, SshSig, public::KeyData};

use super::*;

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
    pub(super) entries: Vec<AllowedSigner>,
}

#[derive(Debug, Clone)]
pub(super) struct AllowedSigner {
    pub(super) line: usize,
    pub(super) principals: String,
    pub(super) namespaces: Option<String>,
    pub(super) valid_after: Option<i64>,
    pub(super) valid_before: Option<i64>,
    pub(super) key: KeyData,
}

/// Plain (non-certificate) key types OpenSSH writes in allowed_signers lines.
pub(super) const SSH_KEY_TYPES: [&str; 8] = [
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
                crate::base::time::format_rfc3339(after)
            ));
        }
        if let Some(before) = self.valid_before
            && at > before
        {
            return Err(format!(
                "expired at {} (valid-before)",
                crate::base::time::format_rfc3339(before)
            ));
        }
        Ok(())
    }
}

pub(super) fn parse_signer_line(content: &str, line: usize) -> Result<AllowedSigner, String> {
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
pub(super) fn take_token(s: &str) -> Result<(&str, &str), String> {
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
pub(super) fn dequote(token: &str) -> String {
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

pub(super) fn is_key_type(token: &str) -> bool {
    SSH_KEY_TYPES.contains(&token) || token.ends_with("-cert-v01@openssh.com")
}

pub(super) fn parse_key(text: &str) -> Result<KeyData, String> {
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

pub(super) fn apply_options(entry: &mut AllowedSigner, options: &str) -> Result<(), String> {
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
pub(super) fn split_options(options: &str) -> Result<Vec<&str>, String> {
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
pub(super) fn unquote(value: &str) -> Result<String, String> {
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
pub(super) fn parse_ssh_time(text: &str) -> Result<i64, String> {
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
    Ok(
        crate::base::time::days_from_civil(year, month, day) * 86_400
            + hour * 3_600
            + minute * 60
            + second,
    )
}

pub(super) fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// OpenSSH `match_pattern_list`: true when some pattern matches and no `!pattern` does.
pub(super) fn match_pattern_list(subject: &str, list: &str) -> bool {
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
pub(super) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
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

pub(super) fn verify_ssh(
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
