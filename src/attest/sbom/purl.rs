//! Package URLs (`pkg:type/namespace/name@version?qualifiers#subpath`): parsing and the
//! normalized identity used to match a denied package against an SBOM component.
//!
//! Parsing follows the purl specification's right-to-left algorithm: the subpath (`#…`)
//! and qualifiers (`?…`) are cut off and ignored, the scheme `pkg:` is checked
//! (case-insensitively; `pkg://` is tolerated), the type is the first segment, the
//! version is what follows the last `@` of the last path segment (so an unencoded npm
//! scope `pkg:npm/@babel/core` still parses), the name is the last segment and the
//! namespace the segments before it. Namespace, name and version are percent-decoded.
//!
//! Identity ([`Purl::key`]): the type lowercased, then namespace and name compared
//! exactly, except for types whose names are case-insensitive: `npm`, `pypi`, `golang`,
//! `github`, `gitlab`, `bitbucket`, `composer`, `nuget`, `cargo`, `hex`, `pub`, `deb`,
//! `apk`, `alpm`, `docker`, `oci` compare lowercased, and `pypi` names are also
//! normalized as PEP 503 says (runs of `-`, `_`, `.` become one `-`). Everything else
//! (`maven`, `gem`, `rpm`, `generic`, …) is case-sensitive.

/// Types whose namespace and name compare case-insensitively.
const CASE_INSENSITIVE_TYPES: &[&str] = &[
    "npm",
    "pypi",
    "golang",
    "github",
    "gitlab",
    "bitbucket",
    "composer",
    "nuget",
    "cargo",
    "hex",
    "pub",
    "deb",
    "apk",
    "alpm",
    "docker",
    "oci",
];

/// A parsed package URL; qualifiers and subpath are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl {
    /// Package type, lowercased (`npm`, `maven`, …).
    pub ty: String,
    /// Namespace, percent-decoded, segments joined with `/` (empty when absent).
    pub namespace: String,
    /// Name, percent-decoded.
    pub name: String,
    /// Version, percent-decoded, as written after `@` (no `@` → `None`).
    pub version: Option<String>,
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes. Strict: a bad escape is an error; lenient: it is kept as written.
/// Invalid UTF-8 after decoding becomes U+FFFD.
fn percent_decode(s: &str, strict: bool) -> Result<String, String> {
    if !s.contains('%') {
        return Ok(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hi = b.get(i + 1).copied().and_then(hex_val);
            let lo = b.get(i + 2).copied().and_then(hex_val);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push(hi * 16 + lo);
                i += 3;
                continue;
            }
            if strict {
                return Err(format!("bad percent-escape in {s:?} (expected %XX)"));
            }
        }
        out.push(c);
        i += 1;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// PEP 503 name normalization: lowercase, runs of `-`, `_`, `.` become one `-`.
pub fn pep503(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_sep {
                out.push('-');
            }
            in_sep = true;
        } else {
            out.extend(c.to_lowercase());
            in_sep = false;
        }
    }
    out
}

fn valid_type(t: &str) -> bool {
    t.starts_with(|c: char| c.is_ascii_alphabetic())
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'))
}

impl Purl {
    /// Parses a package URL strictly, as a policy entry must be.
    ///
    /// # Errors
    /// A human-readable description of what is wrong.
    pub fn parse(s: &str) -> Result<Self, String> {
        Self::parse_inner(s, true)
    }

    /// Parses a package URL as found in an SBOM: bad percent-escapes are kept as written.
    /// `None` when it has no `pkg:` scheme, type or name.
    pub fn parse_lenient(s: &str) -> Option<Self> {
        Self::parse_inner(s, false).ok()
    }

    fn parse_inner(s: &str, strict: bool) -> Result<Self, String> {
        let s = s.trim();
        let no_sub = s.split_once('#').map_or(s, |(a, _)| a);
        let no_q = no_sub.split_once('?').map_or(no_sub, |(a, _)| a);
        let (scheme, rest) = no_q
            .split_once(':')
            .ok_or_else(|| format!("{s:?} is not a package URL (pkg:type/name)"))?;
        if !scheme.eq_ignore_ascii_case("pkg") {
            return Err(format!(
                "{s:?} is not a package URL: the scheme must be pkg:"
            ));
        }
        let rest = rest.trim_start_matches('/');
        let (ty, path) = rest.split_once('/').ok_or_else(|| {
            format!("{s:?}: a package URL needs a type and a name (pkg:type/name)")
        })?;
        if !valid_type(ty) {
            return Err(format!(
                "{s:?}: {ty:?} is not a package type (letters, digits, '.', '+', '-')"
            ));
        }
        let path = path.trim_matches('/');
        let last_slash = path.rfind('/').map_or(0, |i| i + 1);
        let last_seg = path.get(last_slash..).unwrap_or_default();
        let (path, version) = match last_seg.rfind('@') {
            Some(at) if at > 0 => {
                let cut = last_slash + at;
                (
                    path.get(..cut).unwrap_or_default(),
                    path.get(cut + 1..).map(str::to_string),
                )
            }
            _ => (path, None),
        };
        let version = match version {
            Some(v) if v.is_empty() => {
                return Err(format!(
                    "{s:?}: nothing after @ (leave out @ for any version)"
                ));
            }
            Some(v) => Some(percent_decode(&v, strict).map_err(|m| format!("{s:?}: {m}"))?),
            None => None,
        };
        let mut segs: Vec<String> = Vec::new();
        for seg in path.split('/').filter(|g| !g.is_empty()) {
            segs.push(percent_decode(seg, strict).map_err(|m| format!("{s:?}: {m}"))?);
        }
        let name = segs.pop().unwrap_or_default();
        if name.is_empty() {
            return Err(format!("{s:?}: the package URL has no name"));
        }
        Ok(Self {
            ty: ty.to_ascii_lowercase(),
            namespace: segs.join("/"),
            name,
            version,
        })
    }

    /// The normalized identity (type, namespace, name) two purls are compared by.
    pub fn key(&self) -> String {
        let ci = CASE_INSENSITIVE_TYPES.contains(&self.ty.as_str());
        let (ns, name) = if self.ty == "pypi" {
            (self.namespace.to_lowercase(), pep503(&self.name))
        } else if ci {
            (self.namespace.to_lowercase(), self.name.to_lowercase())
        } else {
            (self.namespace.clone(), self.name.clone())
        };
        format!("{}\u{0}{ns}\u{0}{name}", self.ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Purl {
        Purl::parse(s).unwrap()
    }

    #[test]
    fn basic_parts() {
        let x = p("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1?type=jar#sub/path");
        assert_eq!(x.ty, "maven");
        assert_eq!(x.namespace, "org.apache.logging.log4j");
        assert_eq!(x.name, "log4j-core");
        assert_eq!(x.version.as_deref(), Some("2.14.1"));
        let x = p("pkg:npm/event-stream");
        assert_eq!(
            (x.namespace.as_str(), x.name.as_str(), x.version),
            ("", "event-stream", None)
        );
        let x = p("PKG:NPM/foo@1");
        assert_eq!(x.ty, "npm");
        let x = p("pkg://npm/foo/");
        assert_eq!(x.name, "foo");
    }

    #[test]
    fn npm_scopes_and_percent_encoding() {
        let a = p("pkg:npm/%40babel/core@7.0.0");
        let b = p("pkg:npm/@babel/core@7.0.0");
        assert_eq!(a, b);
        assert_eq!(a.namespace, "@babel");
        assert_eq!(a.name, "core");
        let c = p("pkg:npm/@babel/core");
        assert_eq!(c.namespace, "@babel");
        assert_eq!(c.version, None);
        let d = p("pkg:deb/debian/curl@7.50.3-1%2Bdeb9u1?arch=i386&distro=jessie");
        assert_eq!(d.version.as_deref(), Some("7.50.3-1+deb9u1"));
        let e = p("pkg:deb/debian/bash@1%3A5.2-1");
        assert_eq!(e.version.as_deref(), Some("1:5.2-1"));
        let f = p("pkg:golang/github.com/gorilla/context@v1.1.1");
        assert_eq!(f.namespace, "github.com/gorilla");
        assert_eq!(f.name, "context");
        let g = p("pkg:generic/na%20me@1%25");
        assert_eq!(g.name, "na me");
        assert_eq!(g.version.as_deref(), Some("1%"));
        let h = p("pkg:generic/%FF@1");
        assert_eq!(h.name, "\u{FFFD}");
    }

    #[test]
    fn range_versions_parse_as_text() {
        let x = p("pkg:maven/org.apache.logging.log4j/log4j-core@>=2.0.0 <2.17.1 || 1.2.17");
        assert_eq!(x.version.as_deref(), Some(">=2.0.0 <2.17.1 || 1.2.17"));
        assert_eq!(x.name, "log4j-core");
    }

    #[test]
    fn errors() {
        for bad in [
            "",
            "npm/foo",
            "http://x/y",
            "pkg:",
            "pkg:npm",
            "pkg:npm/",
            "pkg:/foo",
            "pkg:9x/foo",
            "pkg:np m/foo",
            "pkg:npm/foo@",
            "pkg:npm/fo%zzo",
            "pkg:npm/foo%4",
            "pkg:npm//",
        ] {
            assert!(Purl::parse(bad).is_err(), "{bad:?} should fail");
        }
        assert_eq!(
            Purl::parse_lenient("pkg:npm/fo%zzo@1").map(|p| p.name),
            Some("fo%zzo".to_string())
        );
        assert!(Purl::parse_lenient("not a purl").is_none());
    }

    #[test]
    fn keys() {
        assert_eq!(
            p("pkg:npm/Event-Stream").key(),
            p("pkg:NPM/event-stream@3").key()
        );
        assert_eq!(
            p("pkg:pypi/Typing_Extensions").key(),
            p("pkg:pypi/typing.extensions").key()
        );
        assert_eq!(p("pkg:pypi/a__b").key(), p("pkg:pypi/a-b").key());
        assert_eq!(
            p("pkg:golang/GitHub.com/Foo/Bar").key(),
            p("pkg:golang/github.com/foo/bar").key()
        );
        assert_ne!(
            p("pkg:maven/org.x/Foo").key(),
            p("pkg:maven/org.x/foo").key()
        );
        assert_ne!(p("pkg:npm/a/b").key(), p("pkg:npm/b").key());
        assert_ne!(p("pkg:npm/b").key(), p("pkg:pypi/b").key());
        assert_eq!(
            p("pkg:npm/%40babel/core").key(),
            p("pkg:npm/@babel/core@1").key()
        );
    }
}
