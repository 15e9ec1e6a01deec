//! Lenient version comparison and semver-style ranges, for the version part of denied
//! package entries (`log4j-core@<2.17.1`, `pkg:npm/foo@^1.2.0`).
//!
//! # Comparison ([`compare`])
//! One comparator for every ecosystem an SBOM mixes: semver, Maven (`2.17`, `2.0.0-M1`,
//! `5.4.0.Final`), Debian (`1:2.3-4ubuntu1`, `1.0~rc1`), Go (`v1.2.3`, pseudo-versions),
//! Python (`2.0.0rc1`, `1!2.0`):
//! - surrounding whitespace and a leading `v`/`V` before a digit are ignored;
//! - an epoch `N:` (Debian) or `N!` (Python) compares first (absent = 0);
//! - the rest splits into runs of digits and runs of ASCII letters; every other character
//!   separates runs. Digit runs compare numerically (any length, no overflow), letter runs
//!   case-insensitively; at the same position a letter run sorts below a digit run;
//! - a run is a *pre-release* when it is a known pre-release word (`dev`, `alpha`, `beta`,
//!   `milestone`, `rc`, `cr`, `pre`, `preview`, `snapshot`; `a`, `b`, `c`, `m` only when a
//!   number follows, as in `1.0a1`, so OpenSSL's `1.1.1a` stays a release), a letter run
//!   right after `-` (`1.0.0-ubuntu`), or any run right after `~` (Debian). Pre-release
//!   runs sort below everything else at their position, and known words rank
//!   `dev` < `alpha` < `beta` < `milestone` < `rc` < `snapshot` < other words;
//! - when one version runs out of runs, the other's extra runs decide: trailing zeros and
//!   the words `final`, `ga`, `release` are ignored (`1.2` = `1.2.0` = `1.2.0.Final`), a
//!   pre-release run makes it lower (`1.0.0-rc1` < `1.0.0`, `2.0.0rc1` < `2.0.0`), anything
//!   else makes it higher (`2.3-4` > `2.3`, `2.17.1` > `2.17`, `1.1.1a` > `1.1.1`).
//!
//! # Ranges ([`VersionReq`])
//! - comparators `<`, `<=`, `>`, `>=`, `=` (also `==`), a bare version meaning `=`
//!   (equality by the comparator above, so `v1.2.3` = `1.2.3` and `1.2` = `1.2.0`);
//!   an operator may be separated from its version by spaces (`>= 1.2`);
//! - `^1.2.3` (`>=1.2.3 <2`), `^0.2.3` (`<0.3`), `^0.0.3` (`<0.0.4`), `^1.2` (`<2`);
//! - `~1.2.3` (`>=1.2.3 <1.3`), `~1` (`<2`);
//! - wildcards `1.2.x`, `1.2.*`, `1.x`, `*` (only alone or after `=`, `^`, `~`);
//! - hyphen ranges `1.2.3 - 2.3.4` (`>=1.2.3 <=2.3.4`; a wildcard upper end is exclusive:
//!   `1.0 - 2.x` is `>=1.0 <3`);
//! - spaces or commas between comparators mean AND, `||` means OR.
//!
//! Upper bounds are plain versions, so pre-releases of the bound itself fall inside
//! (`2.0.0-rc1` satisfies `^1.2.3`); for a deny list that errs towards matching.

use std::cmp::Ordering;

/// Known pre-release words and their rank (lower sorts first).
const PRE_WORDS: &[(&str, u8)] = &[
    ("dev", 0),
    ("devel", 0),
    ("alpha", 1),
    ("beta", 2),
    ("milestone", 3),
    ("rc", 4),
    ("cr", 4),
    ("pre", 4),
    ("preview", 4),
    ("snapshot", 5),
];
/// Single letters that are pre-release markers only when a number follows (`1.0a1`).
const PRE_LETTERS: &[(&str, u8)] = &[("a", 1), ("b", 2), ("m", 3), ("c", 4)];
/// Words that mean "the release itself" (Maven's `.Final`, `.GA`, `.RELEASE`).
const NEUTRAL_WORDS: &[&str] = &["final", "ga", "release"];
/// Rank of a pre-release run that is not a known word (after `-` or `~`).
const UNKNOWN_RANK: u8 = 6;

#[derive(Debug, Clone, Copy)]
struct Part<'a> {
    text: &'a str,
    numeric: bool,
    /// sorts below the release it is attached to
    pre: bool,
    /// ignored when trailing (zeros, `final`, …)
    neutral: bool,
    /// rank among pre-release words, when known
    rank: Option<u8>,
}

/// Epoch (digits) and the remaining text.
fn split_epoch(s: &str) -> (&str, &str) {
    for delim in [':', '!'] {
        if let Some((e, rest)) = s.split_once(delim)
            && !e.is_empty()
            && e.bytes().all(|c| c.is_ascii_digit())
        {
            return (e, rest);
        }
    }
    ("0", s)
}

fn strip_v(s: &str) -> &str {
    match s.strip_prefix(['v', 'V']) {
        Some(r) if r.starts_with(|c: char| c.is_ascii_digit()) => r,
        _ => s,
    }
}

fn word_rank(table: &[(&str, u8)], w: &str) -> Option<u8> {
    table
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(w))
        .map(|(_, r)| *r)
}

/// Splits a version (after epoch and `v`) into classified runs.
fn parts(s: &str) -> Vec<Part<'_>> {
    // (text, numeric, separator before: b'~' > b'-' > other > 0)
    let mut raw: Vec<(&str, bool, u8)> = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut sep = 0u8;
    while let Some(&c) = bytes.get(i) {
        if c.is_ascii_alphanumeric() {
            let numeric = c.is_ascii_digit();
            let start = i;
            while let Some(&d) = bytes.get(i) {
                let same = if numeric {
                    d.is_ascii_digit()
                } else {
                    d.is_ascii_alphabetic()
                };
                if !same {
                    break;
                }
                i += 1;
            }
            // runs are ASCII-only, so both ends are char boundaries
            if let Some(text) = s.get(start..i) {
                raw.push((text, numeric, sep));
            }
            sep = 0;
        } else {
            sep = match (sep, c) {
                (b'~', _) | (_, b'~') => b'~',
                (b'-', _) | (_, b'-') => b'-',
                _ => c,
            };
            i += 1;
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    for (k, &(text, numeric, sep)) in raw.iter().enumerate() {
        let next_numeric = raw.get(k + 1).is_some_and(|n| n.1);
        let tilde = sep == b'~';
        let part = if numeric {
            Part {
                text,
                numeric,
                pre: tilde,
                neutral: !tilde && text.bytes().all(|c| c == b'0'),
                rank: None,
            }
        } else {
            let known = word_rank(PRE_WORDS, text).or_else(|| {
                if next_numeric {
                    word_rank(PRE_LETTERS, text)
                } else {
                    None
                }
            });
            let neutral = !tilde && NEUTRAL_WORDS.iter().any(|w| w.eq_ignore_ascii_case(text));
            let pre = !neutral && (known.is_some() || tilde || sep == b'-');
            Part {
                text,
                numeric,
                pre,
                neutral,
                rank: if pre {
                    Some(known.unwrap_or(UNKNOWN_RANK))
                } else {
                    None
                },
            }
        };
        out.push(part);
    }
    out
}

/// Compares two digit strings numerically, whatever their length.
fn cmp_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn cmp_letters(a: &str, b: &str) -> Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

fn cmp_part(a: &Part<'_>, b: &Part<'_>) -> Ordering {
    match (a.pre, b.pre) {
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    match (a.numeric, b.numeric) {
        (true, true) => cmp_digits(a.text, b.text),
        (false, true) => Ordering::Less,
        (true, false) => Ordering::Greater,
        (false, false) => match (a.rank, b.rank) {
            (Some(x), Some(y)) if x != UNKNOWN_RANK && y != UNKNOWN_RANK => x.cmp(&y),
            (Some(x), Some(y)) => x.cmp(&y).then_with(|| cmp_letters(a.text, b.text)),
            _ => cmp_letters(a.text, b.text),
        },
    }
}

/// How the longer version's extra runs order it against the shorter one.
fn cmp_tail(rest: &[Part<'_>]) -> Ordering {
    for p in rest {
        if p.pre {
            return Ordering::Less;
        }
        if !p.neutral {
            return Ordering::Greater;
        }
    }
    Ordering::Equal
}

/// Compares two versions leniently (see the module documentation). Never fails: any text
/// is a version, though one without digits only compares sensibly with itself.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, ra) = split_epoch(a.trim());
    let (eb, rb) = split_epoch(b.trim());
    let epoch = cmp_digits(ea, eb);
    if epoch != Ordering::Equal {
        return epoch;
    }
    let pa = parts(strip_v(ra));
    let pb = parts(strip_v(rb));
    let mut ia = pa.iter();
    let mut ib = pb.iter();
    loop {
        match (ia.next(), ib.next()) {
            (Some(x), Some(y)) => {
                let o = cmp_part(x, y);
                if o != Ordering::Equal {
                    return o;
                }
            }
            (Some(x), None) => {
                let rest: Vec<Part<'_>> = std::iter::once(*x).chain(ia.copied()).collect();
                return cmp_tail(&rest);
            }
            (None, Some(y)) => {
                let rest: Vec<Part<'_>> = std::iter::once(*y).chain(ib.copied()).collect();
                return cmp_tail(&rest).reverse();
            }
            (None, None) => return Ordering::Equal,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Comparator {
    op: Op,
    version: String,
}

impl Comparator {
    fn new(op: Op, version: impl Into<String>) -> Self {
        Self {
            op,
            version: version.into(),
        }
    }

    fn test(&self, v: &str) -> bool {
        let o = compare(v, &self.version);
        match self.op {
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
            Op::Gt => o == Ordering::Greater,
            Op::Ge => o != Ordering::Less,
            Op::Eq => o == Ordering::Equal,
        }
    }
}

/// A parsed version range: alternatives (`||`) of comparator sets (AND).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionReq {
    alternatives: Vec<Vec<Comparator>>,
}

/// Operator prefixes, longest first.
const OPERATORS: &[&str] = &["<=", ">=", "==", "<", ">", "=", "^", "~"];

/// Characters a version may contain (besides ASCII letters and digits).
fn version_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_' | '~' | ':' | '!')
}

fn is_wild(part: &str) -> bool {
    matches!(part, "x" | "X" | "*")
}

/// A version as written in a range, checked.
enum Ver {
    Plain(String),
    /// numeric prefix before the wildcard (`1.2.x` → `["1", "2"]`)
    Wild(Vec<String>),
}

fn parse_version(token: &str, v: &str) -> Result<Ver, String> {
    if v.is_empty() {
        return Err(format!("an operator needs a version after it ({token:?})"));
    }
    let body = strip_v(v);
    let segs: Vec<&str> = body.split('.').collect();
    if let Some(first_wild) = segs.iter().position(|s| is_wild(s)) {
        let (prefix, rest) = segs.split_at(first_wild);
        if !rest.iter().all(|s| is_wild(s)) {
            return Err(format!(
                "nothing but wildcards may follow x or * in a version ({token:?})"
            ));
        }
        if !prefix
            .iter()
            .all(|s| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
        {
            return Err(format!(
                "only numbers may come before a wildcard, as in 1.2.x ({token:?})"
            ));
        }
        return Ok(Ver::Wild(prefix.iter().map(|s| (*s).to_string()).collect()));
    }
    if let Some(bad) = v.chars().find(|c| !version_char(*c)) {
        return Err(format!(
            "{bad:?} cannot appear in a version ({token:?}); spaces or commas mean AND, || means OR"
        ));
    }
    if !v.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "a version starts with a letter or digit ({token:?})"
        ));
    }
    if !v.bytes().any(|c| c.is_ascii_digit()) {
        return Err(format!(
            "{token:?} is not a version (no digits; tags like \"latest\" are not versions)"
        ));
    }
    Ok(Ver::Plain(v.to_string()))
}

/// Adds one to a digit string.
fn increment(digits: &str) -> String {
    let mut out: Vec<u8> = digits.trim_start_matches('0').bytes().collect();
    let mut carry = true;
    for c in out.iter_mut().rev() {
        if !carry {
            break;
        }
        if *c == b'9' {
            *c = b'0';
        } else {
            *c += 1;
            carry = false;
        }
    }
    if carry {
        out.insert(0, b'1');
    }
    String::from_utf8(out).unwrap_or_default()
}

/// `prefix` with its component at `at` incremented and the rest dropped (`[1,2,3]`, 1 → `1.3`).
fn bump(prefix: &[String], at: usize) -> String {
    let mut out: Vec<String> = prefix.iter().take(at).cloned().collect();
    out.push(increment(prefix.get(at).map_or("0", String::as_str)));
    out.join(".")
}

/// Leading numeric components of a version (at most 3): `1.2.3-beta` → `["1","2","3"]`.
fn numeric_prefix(v: &str) -> Vec<String> {
    let (_, rest) = split_epoch(v);
    let mut out = Vec::new();
    for seg in strip_v(rest).split('.') {
        let digits: String = seg.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() {
            break;
        }
        let whole = digits.len() == seg.len();
        out.push(digits);
        if !whole || out.len() == 3 {
            break;
        }
    }
    out
}

fn caret_or_tilde(token: &str, caret: bool, ver: Ver) -> Result<Vec<Comparator>, String> {
    let (lower, nums) = match ver {
        Ver::Plain(v) => {
            let nums = numeric_prefix(&v);
            (v, nums)
        }
        Ver::Wild(prefix) => (prefix.join("."), prefix),
    };
    if nums.is_empty() {
        if lower.is_empty() {
            return Ok(Vec::new()); // ^* / ~*
        }
        return Err(format!(
            "^ and ~ need a version starting with a number ({token:?})"
        ));
    }
    let at = if caret {
        match nums.iter().position(|n| n.bytes().any(|c| c != b'0')) {
            Some(k) => k,
            None if nums.len() == 3 => 2,
            None => nums.len().saturating_sub(1),
        }
    } else if nums.len() >= 2 {
        1
    } else {
        0
    };
    Ok(vec![
        Comparator::new(Op::Ge, lower),
        Comparator::new(Op::Lt, bump(&nums, at)),
    ])
}

fn simple(token: &str) -> Result<Vec<Comparator>, String> {
    let (op, v) = OPERATORS
        .iter()
        .find_map(|op| token.strip_prefix(op).map(|v| (*op, v)))
        .unwrap_or(("", token));
    let ver = parse_version(token, v)?;
    match op {
        "^" | "~" => caret_or_tilde(token, op == "^", ver),
        _ => match ver {
            Ver::Plain(v) => {
                let op = match op {
                    "<" => Op::Lt,
                    "<=" => Op::Le,
                    ">" => Op::Gt,
                    ">=" => Op::Ge,
                    _ => Op::Eq,
                };
                Ok(vec![Comparator::new(op, v)])
            }
            Ver::Wild(prefix) => {
                if !matches!(op, "" | "=" | "==") {
                    return Err(format!(
                        "wildcards combine only with =, ^ or ~ ({token:?}; write >=1.2 rather than >=1.2.x)"
                    ));
                }
                if prefix.is_empty() {
                    return Ok(Vec::new());
                }
                let last = prefix.len().saturating_sub(1);
                Ok(vec![
                    Comparator::new(Op::Ge, prefix.join(".")),
                    Comparator::new(Op::Lt, bump(&prefix, last)),
                ])
            }
        },
    }
}

/// One end of a hyphen range: a version without operator.
fn hyphen_end(token: &str, upper: bool) -> Result<Vec<Comparator>, String> {
    if OPERATORS.iter().any(|op| token.starts_with(op)) {
        return Err(format!(
            "the ends of a hyphen range (A - B) take no operator ({token:?})"
        ));
    }
    Ok(match parse_version(token, token)? {
        Ver::Plain(v) => vec![Comparator::new(if upper { Op::Le } else { Op::Ge }, v)],
        Ver::Wild(prefix) if prefix.is_empty() => Vec::new(),
        Ver::Wild(prefix) if upper => {
            let last = prefix.len().saturating_sub(1);
            vec![Comparator::new(Op::Lt, bump(&prefix, last))]
        }
        Ver::Wild(prefix) => vec![Comparator::new(Op::Ge, prefix.join("."))],
    })
}

fn parse_set(alt: &str) -> Result<Vec<Comparator>, String> {
    // glue a lone operator to the version after it (`>= 1.2`)
    let mut tokens: Vec<String> = Vec::new();
    let mut pending: Option<&str> = None;
    for t in alt
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
    {
        if OPERATORS.contains(&t) {
            if let Some(p) = pending {
                return Err(format!("{p:?} is followed by another operator {t:?}"));
            }
            pending = Some(t);
        } else if let Some(p) = pending.take() {
            tokens.push(format!("{p}{t}"));
        } else {
            tokens.push(t.to_string());
        }
    }
    if let Some(p) = pending {
        return Err(format!("{p:?} has no version after it"));
    }
    let mut set = Vec::new();
    let mut i = 0;
    while let Some(t) = tokens.get(i) {
        if t == "-" {
            return Err("a hyphen range needs a version on both sides (A - B)".into());
        }
        if tokens.get(i + 1).is_some_and(|n| n == "-") {
            let Some(hi) = tokens.get(i + 2) else {
                return Err(format!("the hyphen range from {t:?} has no upper end"));
            };
            if hi == "-" {
                return Err("a hyphen range needs a version on both sides (A - B)".into());
            }
            set.extend(hyphen_end(t, false)?);
            set.extend(hyphen_end(hi, true)?);
            i += 3;
        } else {
            set.extend(simple(t)?);
            i += 1;
        }
    }
    Ok(set)
}

impl VersionReq {
    /// Parses a version or range (see the module documentation).
    ///
    /// # Errors
    /// A human-readable description of what is wrong with the range.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty version".into());
        }
        let mut alternatives = Vec::new();
        for alt in text.split("||") {
            let alt = alt.trim();
            if alt.is_empty() {
                return Err("empty alternative next to ||".into());
            }
            alternatives.push(parse_set(alt)?);
        }
        Ok(Self { alternatives })
    }

    /// Whether every version satisfies it (`*`, `x`, `1.x || *`).
    pub fn is_any(&self) -> bool {
        self.alternatives.iter().any(Vec::is_empty)
    }

    /// Whether `version` satisfies the range.
    pub fn matches(&self, version: &str) -> bool {
        self.alternatives
            .iter()
            .any(|set| set.iter().all(|c| c.test(version)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn ordering_table() {
        let table: &[(&str, &str, Ordering)] = &[
            ("1.0.0", "1.0.0", Equal),
            ("1.0.0", "1.0.1", Less),
            ("1.10.0", "1.9.0", Greater),
            ("2.17.1", "2.17", Greater),
            ("2.17", "2.17.0", Equal),
            ("1.2", "1.2.0.Final", Equal),
            ("5.4.0.Final", "5.4.1", Less),
            ("1.0.0-rc1", "1.0.0", Less),
            ("1.0.0-rc.1", "1.0.0-rc.2", Less),
            ("1.0.0-alpha", "1.0.0-beta", Less),
            ("1.0.0-beta", "1.0.0-rc1", Less),
            ("1.0.0-rc1", "1.0", Less),
            ("1.0-rc1", "1.0.0", Less),
            ("2.0.0rc1", "2.0.0", Less),
            ("1.0a1", "1.0b1", Less),
            ("1.0b2", "1.0rc1", Less),
            ("1.0.dev1", "1.0a1", Less),
            ("2.0.0-M1", "2.0.0", Less),
            ("2.0.0-M1", "2.0.0-RC1", Less),
            ("1.0-SNAPSHOT", "1.0", Less),
            ("1.0-rc1", "1.0-SNAPSHOT", Less),
            ("2.3-4", "2.3", Greater),
            ("1:2.3-4ubuntu1", "2.3-4", Greater),
            ("1:1.0", "2:0.1", Less),
            ("2.3-4ubuntu1", "2.3-4ubuntu2", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~1", "1.0.0", Less),
            ("3.0.11-1~deb12u2", "3.0.11-1", Less),
            ("3.0.11-1+deb12u2", "3.0.11-1", Greater),
            ("v1.2.3", "1.2.3", Equal),
            ("V1.2.3", "v1.2.4", Less),
            (
                "v0.0.0-20210101120000-abcdef123456",
                "v0.0.0-20220101120000-0123",
                Less,
            ),
            ("1.1.1a", "1.1.1", Greater),
            ("1.1.1a", "1.1.1w", Less),
            ("1!1.0", "2.0", Greater),
            (
                "99999999999999999999999999",
                "99999999999999999999999998",
                Greater,
            ),
            ("007", "7", Equal),
            ("1.0.0+build.1", "1.0.0", Greater),
            ("", "0", Equal),
            ("latest", "latest", Equal),
            ("1.0", "1.0-final", Equal),
        ];
        for (a, b, want) in table {
            assert_eq!(compare(a, b), *want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        for s in [
            "", ":", "!", "v", "~", "-", "1:", "é1.ü", "..", "0x", "1:2:3", "\u{0}",
        ] {
            let _ = compare(s, "1.0");
            let _ = compare("1.0", s);
            let _ = VersionReq::parse(s);
        }
    }

    fn m(range: &str, v: &str) -> bool {
        VersionReq::parse(range).unwrap().matches(v)
    }

    #[test]
    fn comparators() {
        assert!(m("<2.17.1", "2.14.1"));
        assert!(m("<2.17.1", "2.17"));
        assert!(!m("<2.17.1", "2.17.1"));
        assert!(m("<2.17.1", "2.17.1-rc1"));
        assert!(m("<=2.17.1", "2.17.1"));
        assert!(m(">2.0", "2.0.1"));
        assert!(!m(">2.0", "2.0.0"));
        assert!(m(">=2.0.0", "2.0"));
        assert!(m("=1.2.3", "v1.2.3"));
        assert!(m("==1.2.3", "1.2.3"));
        assert!(m("1.2.3", "1.2.3"));
        assert!(!m("1.2.3", "1.2.4"));
        assert!(m(">= 2.0.0 < 2.17.1", "2.5"));
        assert!(m(">=2.0.0, <2.17.1", "2.5"));
        assert!(!m(">=2.0.0 <2.17.1", "1.2.17"));
        assert!(m(">=2.0.0 <2.17.1 || 1.2.17", "1.2.17"));
        assert!(!m(">=2.0.0 <2.17.1 || 1.2.17", "1.2.16"));
        assert!(m("1:2.3-4", "1:2.3-4"));
        assert!(!m("1:2.3-4", "2.3-4"));
    }

    #[test]
    fn caret_tilde_wildcards_hyphens() {
        assert!(m("^1.2.3", "1.9.9"));
        assert!(!m("^1.2.3", "2.0.0"));
        assert!(!m("^1.2.3", "1.2.2"));
        assert!(m("^0.2.3", "0.2.9"));
        assert!(!m("^0.2.3", "0.3.0"));
        assert!(m("^0.0.3", "0.0.3"));
        assert!(!m("^0.0.3", "0.0.4"));
        assert!(m("^1.2", "1.99"));
        assert!(!m("^0.0", "0.1.0"));
        assert!(m("^0.0", "0.0.9"));
        assert!(m("^1.2.3-beta.2", "1.2.3"));
        assert!(!m("^1.2.3-beta.2", "1.2.3-alpha"));
        assert!(m("~1.2.3", "1.2.9"));
        assert!(!m("~1.2.3", "1.3.0"));
        assert!(m("~1", "1.9"));
        assert!(!m("~1", "2.0"));
        assert!(m("1.2.x", "1.2.7"));
        assert!(m("1.2.*", "1.2"));
        assert!(!m("1.2.x", "1.3.0"));
        assert!(!m("1.x", "2.0.0"));
        assert!(m("1.9.x", "1.9.0"));
        assert!(!m("1.9.x", "1.10.0"));
        assert!(m("9.x", "9.99"));
        assert!(!m("9.x", "10.0"));
        assert!(m("*", "whatever"));
        assert!(VersionReq::parse("*").unwrap().is_any());
        assert!(VersionReq::parse("1.x || x").unwrap().is_any());
        assert!(!VersionReq::parse("1.x").unwrap().is_any());
        assert!(m("1.2.3 - 2.3.4", "2.3.4"));
        assert!(!m("1.2.3 - 2.3.4", "2.3.5"));
        assert!(!m("1.2.3 - 2.3.4", "1.2.2"));
        assert!(m("1.0 - 2.x", "2.9"));
        assert!(!m("1.0 - 2.x", "3.0"));
        assert!(m("^1.x", "1.5"));
        assert!(m("~1.2.x", "1.2.5"));
        assert!(!m("~1.2.x", "1.3"));
    }

    #[test]
    fn invalid_ranges() {
        for bad in [
            "", "<", "<<1", "<=", ">= ", "1 ||", "|| 1", "1 | 2", "1.x.3", "a.x", ">1.x", "1 -",
            "- 1", "1 - - 2", ">1 - 2", "latest", "^abc", "1.0/2", "1@2", "=>1", ">=<1", "~>1.2",
        ] {
            assert!(
                VersionReq::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn increments() {
        assert_eq!(increment("9"), "10");
        assert_eq!(increment("0"), "1");
        assert_eq!(increment("199"), "200");
        assert_eq!(
            increment("99999999999999999999999"),
            "100000000000000000000000"
        );
    }
}
