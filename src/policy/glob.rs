//! Image globs on normalized repository names: `*` matches within one path segment,
//! `**` matches across segments (including none), `?` one character other than `/`.
//! A pattern whose first segment has no wildcard is normalized like a reference, so
//! `nginx` means `docker.io/library/nginx` and `acme/*` means `docker.io/acme/*`.

use crate::base::reference::normalize_name;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    #[error("empty pattern")]
    Empty,
    #[error("{0:?}: character classes and escapes ([ ] {{ }} \\) are not supported; use * ** ?")]
    Unsupported(String),
    #[error("{0:?}: *** is not a valid wildcard")]
    TripleStar(String),
    #[error("{0:?}: a glob matches repositories; drop the tag or digest")]
    HasTagOrDigest(String),
}

/// A compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Lit(u8),
    Any,        // ?
    Star,       // *
    DoubleStar, // **
}

impl Glob {
    /// # Errors
    /// [`GlobError`] for empty patterns, unsupported syntax, or a tag/digest in the pattern.
    pub fn new(pattern: &str) -> Result<Self, GlobError> {
        let p = pattern.trim();
        if p.is_empty() {
            return Err(GlobError::Empty);
        }
        if p.contains(['[', ']', '{', '}', '\\']) {
            return Err(GlobError::Unsupported(p.to_string()));
        }
        if p.contains("***") {
            return Err(GlobError::TripleStar(p.to_string()));
        }
        if p.contains('@')
            || p.rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':') && p.contains('/'))
        {
            return Err(GlobError::HasTagOrDigest(p.to_string()));
        }
        let first = p.split('/').next().unwrap_or(p);
        let normalized = if first.contains(['*', '?']) || !p.contains('/') && p.contains(['*', '?'])
        {
            p.to_string()
        } else {
            normalize_name(p)
        };
        let b = normalized.as_bytes();
        let mut tokens = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'*' if b.get(i + 1) == Some(&b'*') => {
                    tokens.push(Token::DoubleStar);
                    i += 2;
                }
                b'*' => {
                    tokens.push(Token::Star);
                    i += 1;
                }
                b'?' => {
                    tokens.push(Token::Any);
                    i += 1;
                }
                c => {
                    tokens.push(Token::Lit(c));
                    i += 1;
                }
            }
        }
        Ok(Self {
            pattern: normalized,
            tokens,
        })
    }

    /// The normalized pattern.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether the normalized repository name matches.
    pub fn matches(&self, name: &str) -> bool {
        // `a/**/b` also matches `a/b`: try the pattern with "**/" collapsed as well.
        matches_at(&self.tokens, name.as_bytes())
    }
}

/// Iterative glob matcher with backtracking bounded by O(pattern × text).
fn matches_at(tokens: &[Token], text: &[u8]) -> bool {
    // memo[i][j]: tokens[i..] vs text[j..] already known to fail
    let mut failed = vec![false; (tokens.len() + 1) * (text.len() + 1)];
    fn go(tokens: &[Token], text: &[u8], i: usize, j: usize, failed: &mut [bool]) -> bool {
        let w = text.len() + 1;
        if failed.get(i * w + j).copied().unwrap_or(false) {
            return false;
        }
        let ok = match tokens.get(i) {
            None => j == text.len(),
            Some(Token::Lit(c)) => text.get(j) == Some(c) && go(tokens, text, i + 1, j + 1, failed),
            Some(Token::Any) => {
                text.get(j).is_some_and(|c| *c != b'/') && go(tokens, text, i + 1, j + 1, failed)
            }
            Some(Token::Star) => {
                let mut k = j;
                loop {
                    if go(tokens, text, i + 1, k, failed) {
                        break true;
                    }
                    match text.get(k) {
                        Some(c) if *c != b'/' => k += 1,
                        _ => break false,
                    }
                }
            }
            Some(Token::DoubleStar) => {
                // `**/` may also match nothing at all (so `a/**/b` matches `a/b`).
                if tokens.get(i + 1) == Some(&Token::Lit(b'/'))
                    && go(tokens, text, i + 2, j, failed)
                {
                    true
                } else {
                    (j..=text.len()).any(|k| go(tokens, text, i + 1, k, failed))
                }
            }
        };
        if !ok && let Some(f) = failed.get_mut(i * w + j) {
            *f = true;
        }
        ok
    }
    go(tokens, text, 0, 0, &mut failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        Glob::new(p).unwrap().matches(n)
    }

    #[test]
    fn star_is_one_segment_double_star_any() {
        assert!(m("ghcr.io/acme/*", "ghcr.io/acme/web"));
        assert!(!m("ghcr.io/acme/*", "ghcr.io/acme/web/api"));
        assert!(m("ghcr.io/acme/**", "ghcr.io/acme/web/api"));
        assert!(m("ghcr.io/acme/**", "ghcr.io/acme/web"));
        assert!(!m("ghcr.io/acme/**", "ghcr.io/acmex/web"));
        assert!(m("**", "docker.io/library/nginx"));
        assert!(m("*/acme/*", "ghcr.io/acme/web"));
        assert!(m("ghcr.io/**/api", "ghcr.io/api"));
        assert!(m("ghcr.io/**/api", "ghcr.io/a/b/api"));
        assert!(m("ghcr.io/acme/we?", "ghcr.io/acme/web"));
        assert!(!m("ghcr.io/acme/we?", "ghcr.io/acme/we/"));
        assert!(m("localhost:5000/**", "localhost:5000/app"));
    }

    #[test]
    fn short_names_are_normalized() {
        assert!(m("nginx", "docker.io/library/nginx"));
        assert!(m("acme/*", "docker.io/acme/web"));
        assert!(!m("nginx", "docker.io/library/nginx2"));
    }

    #[test]
    fn rejects_bad_patterns() {
        assert!(Glob::new("").is_err());
        assert!(Glob::new("ghcr.io/[ab]").is_err());
        assert!(Glob::new("ghcr.io/***").is_err());
        assert!(Glob::new("ghcr.io/acme/web:1.0").is_err());
        assert!(Glob::new("ghcr.io/acme/web@sha256:00").is_err());
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        let g = Glob::new(&format!("{}x", "**/".repeat(40))).unwrap();
        assert!(!g.matches(&"a/".repeat(200)));
    }
}
