//! SPDX licence expressions and the deny decision over them.
//!
//! Grammar (SPDX 2.3 Annex D): licence ids (`MIT`, `LicenseRef-x`,
//! `DocumentRef-d:LicenseRef-x`, optionally with a `+` suffix) combined with `WITH`
//! (tightest), `AND`, then `OR`, and parentheses. Operators are upper-case as SPDX
//! requires; anything else (`MIT or Apache-2.0`, free text) does not parse and is judged
//! by its tokens instead (see [`DenyList::check`]).
//!
//! Identifiers compare case-insensitively after normalization ([`normalize_id`]): the
//! deprecated GNU ids equal their `-only` forms (`GPL-2.0` ≡ `GPL-2.0-only`, likewise
//! GPL-1.0/3.0, LGPL-2.0/2.1/3.0, AGPL-1.0/3.0, GFDL-1.1/1.2/1.3), `X+` ≡ `X-or-later`,
//! and the deprecated `GPL-2.0-with-…-exception` ids equal `GPL-2.0-only` (same for 3.0).
//! `-only` and `-or-later` stay distinct licences: deny both when both are unwanted.

use std::collections::HashMap;

/// Deprecated GNU ids that mean the `-only` form.
const GNU_BARE: &[&str] = &[
    "gpl-1.0", "gpl-2.0", "gpl-3.0", "lgpl-2.0", "lgpl-2.1", "lgpl-3.0", "agpl-1.0", "agpl-3.0",
    "gfdl-1.1", "gfdl-1.2", "gfdl-1.3",
];
/// Nesting limit for parentheses (deeper expressions are judged by their tokens).
const MAX_DEPTH: usize = 32;

/// The comparison key of a licence id: lowercased, deprecated GNU forms and `+` mapped.
pub fn normalize_id(id: &str) -> String {
    let lower = id.trim().to_ascii_lowercase();
    if let Some(base) = lower.strip_suffix('+') {
        let base = base.strip_suffix("-only").unwrap_or(base);
        if base.ends_with("-or-later") {
            return base.to_string();
        }
        return format!("{base}-or-later");
    }
    if GNU_BARE.contains(&lower.as_str()) {
        return format!("{lower}-only");
    }
    for base in ["gpl-2.0", "gpl-3.0"] {
        if let Some(rest) = lower.strip_prefix(base)
            && rest.starts_with("-with-")
            && rest.ends_with("-exception")
        {
            return format!("{base}-only");
        }
    }
    lower
}

fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':')
}

/// Checks a licence id's characters: `idstring` with an optional `+` suffix.
fn valid_id(s: &str) -> bool {
    let body = s.strip_suffix('+').unwrap_or(s);
    !body.is_empty() && body.chars().all(id_char)
}

/// Validates a denied licence entry and returns it normalized for display (deprecated
/// GNU ids and `+` become their current forms, e.g. `gpl-2.0+` → `GPL-2.0-or-later`;
/// other ids are returned as written, since comparison ignores case anyway).
///
/// # Errors
/// A human-readable description of what is wrong with the entry.
pub fn parse_license_id(entry: &str) -> Result<String, String> {
    let t = entry.trim();
    if t.is_empty() {
        return Err("empty licence id".into());
    }
    if t.contains(|c: char| c.is_whitespace() || c == '(' || c == ')') {
        return Err(format!(
            "{t:?} is not a single licence id: list each denied SPDX licence id on its own"
        ));
    }
    if !valid_id(t) {
        return Err(format!(
            "{t:?} is not an SPDX licence id (letters, digits, '.', '-', optionally a final '+')"
        ));
    }
    let upper = t.to_ascii_uppercase();
    if matches!(upper.as_str(), "NOASSERTION" | "NONE") {
        return Err(format!(
            "{t:?} means \"no licence information\" and cannot be denied"
        ));
    }
    if matches!(upper.as_str(), "AND" | "OR" | "WITH") {
        return Err(format!("{t:?} is an operator, not a licence id"));
    }
    if !t.chars().any(|c| c.is_ascii_alphabetic()) {
        return Err(format!("{t:?} is not an SPDX licence id"));
    }
    let lower = t.to_ascii_lowercase();
    if let Some((doc, lic)) = lower.split_once(':') {
        let ok = doc
            .strip_prefix("documentref-")
            .is_some_and(|d| !d.is_empty())
            && lic
                .strip_prefix("licenseref-")
                .is_some_and(|l| !l.is_empty());
        if !ok {
            return Err(format!(
                "{t:?}: ':' only appears in DocumentRef-<doc>:LicenseRef-<id>"
            ));
        }
        return Ok(t.to_string());
    }
    if let Some(rest) = lower.strip_prefix("licenseref-") {
        if rest.is_empty() {
            return Err(format!("{t:?}: LicenseRef- needs an id after it"));
        }
        return Ok(format!("LicenseRef-{}", t.get(11..).unwrap_or(rest)));
    }
    let key = normalize_id(t);
    for family in ["lgpl-", "agpl-", "gfdl-", "gpl-"] {
        if let Some(rest) = key.strip_prefix(family)
            && rest.starts_with(|c: char| c.is_ascii_digit())
        {
            return Ok(format!("{}{rest}", family.to_ascii_uppercase()));
        }
    }
    Ok(t.to_string())
}

/// A parsed licence expression; leaves hold [`normalize_id`] keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// One licence (the exception of `WITH` is dropped: the licence part is what counts).
    License(String),
    /// All of these apply.
    And(Vec<Expr>),
    /// Any one of these may be chosen.
    Or(Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    Open,
    Close,
    And,
    Or,
    With,
    Id(&'a str),
}

fn tokenize(s: &str) -> Result<Vec<Tok<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start();
        let Some(c) = rest.chars().next() else {
            return Ok(out);
        };
        if c == '(' || c == ')' {
            out.push(if c == '(' { Tok::Open } else { Tok::Close });
            rest = rest.get(1..).unwrap_or_default();
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '(' || c == ')')
            .unwrap_or(rest.len());
        let word = rest.get(..end).unwrap_or_default();
        rest = rest.get(end..).unwrap_or_default();
        out.push(match word {
            "AND" => Tok::And,
            "OR" => Tok::Or,
            "WITH" => Tok::With,
            w if valid_id(w) => Tok::Id(w),
            w => return Err(format!("{w:?} is not a licence id")),
        });
    }
}

struct Parser<'a> {
    toks: Vec<Tok<'a>>,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<Tok<'a>> {
        self.toks.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<Tok<'a>> {
        let t = self.peek();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut v = vec![self.and()?];
        while self.peek() == Some(Tok::Or) {
            self.pos += 1;
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.pop().unwrap_or(Expr::Or(Vec::new()))
        } else {
            Expr::Or(v)
        })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut v = vec![self.with()?];
        while self.peek() == Some(Tok::And) {
            self.pos += 1;
            v.push(self.with()?);
        }
        Ok(if v.len() == 1 {
            v.pop().unwrap_or(Expr::And(Vec::new()))
        } else {
            Expr::And(v)
        })
    }

    fn with(&mut self) -> Result<Expr, String> {
        let e = self.atom()?;
        if self.peek() == Some(Tok::With) {
            self.pos += 1;
            match self.next() {
                Some(Tok::Id(_)) => {}
                _ => return Err("WITH needs an exception id after it".into()),
            }
        }
        Ok(e)
    }

    fn atom(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::Id(id)) => Ok(Expr::License(normalize_id(id))),
            Some(Tok::Open) => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err("parentheses nested too deeply".into());
                }
                let e = self.or()?;
                if self.next() != Some(Tok::Close) {
                    return Err("missing )".into());
                }
                self.depth -= 1;
                Ok(e)
            }
            Some(t) => Err(format!("unexpected {t:?}")),
            None => Err("expression ends too early".into()),
        }
    }
}

/// Parses an SPDX licence expression.
///
/// # Errors
/// A short description of why it is not a valid expression.
pub fn parse_expression(s: &str) -> Result<Expr, String> {
    let toks = tokenize(s)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err("unexpected text after the expression".into());
    }
    Ok(e)
}

/// Denied licence ids, compiled for lookup.
#[derive(Debug, Clone, Default)]
pub struct DenyList {
    keys: HashMap<String, usize>,
}

impl DenyList {
    /// Compiles deny entries; [`DenyList::check`] answers with an index into `ids`.
    pub fn new<S: AsRef<str>>(ids: &[S]) -> Self {
        let mut keys = HashMap::new();
        for (i, id) in ids.iter().enumerate() {
            keys.entry(normalize_id(id.as_ref())).or_insert(i);
        }
        Self { keys }
    }

    /// Whether nothing is denied.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn lookup(&self, key: &str) -> Option<usize> {
        self.keys.get(key).copied()
    }

    fn eval(&self, e: &Expr) -> Option<usize> {
        match e {
            Expr::License(k) => self.lookup(k),
            Expr::And(parts) => parts.iter().find_map(|p| self.eval(p)),
            Expr::Or(alts) => {
                let mut first = None;
                for a in alts {
                    let d = self.eval(a)?;
                    first.get_or_insert(d);
                }
                first
            }
        }
    }

    /// Whether the licence text (an expression, or free text such as a CycloneDX
    /// `license.name`) is denied, and by which entry (index into the ids given to
    /// [`DenyList::new`]).
    ///
    /// - `NOASSERTION`, `NONE`, empty → not denied;
    /// - a valid expression: a licence is denied when listed; `A AND B` when any part is;
    ///   `A OR B` only when every alternative is (the first alternative's entry is named);
    ///   `X WITH exception` as `X`;
    /// - anything else: denied when any token of it (split at characters that cannot be
    ///   part of an id) is a denied id — conservative.
    pub fn check(&self, text: &str) -> Option<usize> {
        let t = text.trim();
        if self.keys.is_empty()
            || t.is_empty()
            || t.eq_ignore_ascii_case("NOASSERTION")
            || t.eq_ignore_ascii_case("NONE")
        {
            return None;
        }
        match parse_expression(t) {
            Ok(e) => self.eval(&e),
            Err(_) => t
                .split(|c: char| !(id_char(c) || c == '+'))
                .map(|w| w.trim_end_matches(['.', '-', ':']))
                .filter(|w| !w.is_empty())
                .find_map(|w| self.lookup(&normalize_id(w))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deny(ids: &[&str]) -> DenyList {
        DenyList::new(ids)
    }

    #[test]
    fn normalization() {
        assert_eq!(normalize_id("GPL-2.0"), "gpl-2.0-only");
        assert_eq!(normalize_id("GPL-2.0-only"), "gpl-2.0-only");
        assert_eq!(normalize_id("GPL-2.0+"), "gpl-2.0-or-later");
        assert_eq!(normalize_id("LGPL-2.1+"), "lgpl-2.1-or-later");
        assert_eq!(normalize_id("agpl-3.0"), "agpl-3.0-only");
        assert_eq!(normalize_id("GFDL-1.3"), "gfdl-1.3-only");
        assert_eq!(normalize_id("Apache-2.0+"), "apache-2.0-or-later");
        assert_eq!(
            normalize_id("GPL-2.0-with-classpath-exception"),
            "gpl-2.0-only"
        );
        assert_eq!(normalize_id("mit"), "mit");
    }

    #[test]
    fn parse_ids() {
        assert_eq!(
            parse_license_id(" AGPL-3.0-only ").unwrap(),
            "AGPL-3.0-only"
        );
        assert_eq!(parse_license_id("gpl-2.0").unwrap(), "GPL-2.0-only");
        assert_eq!(parse_license_id("GPL-2.0+").unwrap(), "GPL-2.0-or-later");
        assert_eq!(
            parse_license_id("lgpl-2.1-or-later").unwrap(),
            "LGPL-2.1-or-later"
        );
        assert_eq!(parse_license_id("MIT").unwrap(), "MIT");
        assert_eq!(
            parse_license_id("licenseref-Proprietary").unwrap(),
            "LicenseRef-Proprietary"
        );
        assert_eq!(
            parse_license_id("DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2").unwrap(),
            "DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2"
        );
        for bad in [
            "",
            "  ",
            "MIT OR Apache-2.0",
            "(MIT)",
            "NOASSERTION",
            "none",
            "AND",
            "GPL+2.0",
            "MIT/X11",
            "1.0",
            "LicenseRef-",
            "foo:LicenseRef-x",
            "DocumentRef-x:MIT",
            "+",
        ] {
            assert!(parse_license_id(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn expressions() {
        assert_eq!(
            parse_expression("MIT AND (Apache-2.0 OR GPL-2.0)").unwrap(),
            Expr::And(vec![
                Expr::License("mit".into()),
                Expr::Or(vec![
                    Expr::License("apache-2.0".into()),
                    Expr::License("gpl-2.0-only".into())
                ])
            ])
        );
        // AND binds tighter than OR
        assert_eq!(
            parse_expression("A OR B AND C").unwrap(),
            Expr::Or(vec![
                Expr::License("a".into()),
                Expr::And(vec![Expr::License("b".into()), Expr::License("c".into())])
            ])
        );
        assert_eq!(
            parse_expression("GPL-2.0-only WITH Classpath-exception-2.0").unwrap(),
            Expr::License("gpl-2.0-only".into())
        );
        for bad in [
            "",
            "MIT AND",
            "OR MIT",
            "(MIT",
            "MIT)",
            "MIT Apache-2.0",
            "MIT WITH",
            "MIT or GPL-2.0",
            "MIT, GPL",
            "a AND AND b",
            "()",
        ] {
            assert!(parse_expression(bad).is_err(), "{bad:?} should not parse");
        }
        let deep = format!("{}MIT{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse_expression(&deep).is_err());
    }

    #[test]
    fn deny_decisions() {
        let d = deny(&["AGPL-3.0-only", "GPL-2.0-only", "LicenseRef-Evil"]);
        assert_eq!(d.check("AGPL-3.0-only"), Some(0));
        assert_eq!(d.check("agpl-3.0"), Some(0));
        assert_eq!(d.check("MIT"), None);
        assert_eq!(d.check("MIT AND AGPL-3.0-only"), Some(0));
        assert_eq!(d.check("MIT OR AGPL-3.0-only"), None);
        assert_eq!(d.check("GPL-2.0 OR AGPL-3.0-only"), Some(1));
        assert_eq!(d.check("(MIT OR GPL-2.0) AND BSD-3-Clause"), None);
        assert_eq!(d.check("(AGPL-3.0 OR GPL-2.0) AND BSD-3-Clause"), Some(0));
        assert_eq!(d.check("MIT AND (Apache-2.0 OR (GPL-2.0 AND ISC))"), None);
        assert_eq!(d.check("MIT AND ((GPL-2.0 AND ISC) OR AGPL-3.0)"), Some(1));
        assert_eq!(
            d.check("GPL-2.0-only WITH Classpath-exception-2.0"),
            Some(1)
        );
        assert_eq!(d.check("GPL-2.0-with-classpath-exception"), Some(1));
        assert_eq!(d.check("GPL-2.0+"), None);
        assert_eq!(d.check("GPL-2.0-or-later"), None);
        assert_eq!(d.check("licenseref-evil"), Some(2));
        assert_eq!(d.check("NOASSERTION"), None);
        assert_eq!(d.check("NONE"), None);
        assert_eq!(d.check(""), None);
        // free text and broken expressions: by tokens
        assert_eq!(d.check("GPL-2.0 or later"), Some(1));
        assert_eq!(d.check("MIT or AGPL-3.0-only"), Some(0));
        assert_eq!(d.check("GNU Affero General Public License v3"), None);
        assert_eq!(d.check("licensed under GPL-2.0."), Some(1));
        assert_eq!(d.check("(MIT"), None);
        let later = deny(&["GPL-2.0+"]);
        assert_eq!(later.check("GPL-2.0-or-later"), Some(0));
        assert_eq!(later.check("GPL-2.0"), None);
        assert!(deny(&[] as &[&str]).check("AGPL-3.0-only").is_none());
        // case of the whole deny entry
        assert_eq!(deny(&["mit"]).check("MIT"), Some(0));
    }
}
