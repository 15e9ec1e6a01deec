//! Image references: the distribution reference grammar, normalization and digests.
//!
//! Pure: no I/O. Grammar (github.com/distribution/reference):
//! `[host[:port]/]path-component(/path-component)*[:tag][@algorithm:hex]`.
//! Normalization follows docker: no registry means `docker.io`, a single path
//! component on docker.io gets `library/`, `index.docker.io` is `docker.io`, and a
//! reference with neither tag nor digest means `:latest`.

use std::fmt;

/// Longest repository name (registry + path) the grammar allows.
const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// Longest tag the grammar allows.
const TAG_MAX: usize = 128;

/// Why a string is not a usable image reference. All of these map to the
/// `UnresolvableReference` reason code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("reference is empty")]
    Empty,
    #[error("reference looks like a template or variable ({0}); render it before checking")]
    Template(&'static str),
    #[error("invalid registry host {0:?}")]
    InvalidHost(String),
    #[error(
        "invalid repository path component {0:?} (lowercase letters, digits and separators . _ __ - only)"
    )]
    InvalidPath(String),
    #[error("repository name is longer than {NAME_TOTAL_LENGTH_MAX} characters")]
    NameTooLong,
    #[error("invalid tag {0:?}")]
    InvalidTag(String),
    #[error("invalid digest {0:?}: {1}")]
    InvalidDigest(String, &'static str),
}

/// A digest algorithm the OCI image spec registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DigestAlgorithm {
    Sha256,
    Sha512,
}

impl DigestAlgorithm {
    fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }
    fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }
}

/// A content digest, `algorithm:hex`, validated (known algorithm, exact length, lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: DigestAlgorithm,
    hex: String,
}

impl Digest {
    /// Parses `sha256:<64 hex>` or `sha512:<128 hex>`.
    ///
    /// # Errors
    /// [`ReferenceError::InvalidDigest`] for an unknown algorithm, wrong length or non-lowercase-hex.
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        let bad = |why| ReferenceError::InvalidDigest(s.to_string(), why);
        let (alg, hex) = s.split_once(':').ok_or_else(|| bad("missing ':'"))?;
        let algorithm = match alg {
            "sha256" => DigestAlgorithm::Sha256,
            "sha512" => DigestAlgorithm::Sha512,
            _ if is_digest_algorithm(alg) => {
                return Err(bad("unsupported algorithm (sha256 or sha512)"));
            }
            _ => return Err(bad("malformed algorithm")),
        };
        if hex.len() != algorithm.hex_len() {
            return Err(bad("wrong length for the algorithm"));
        }
        if !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad("not lowercase hex"));
        }
        Ok(Self {
            algorithm,
            hex: hex.to_string(),
        })
    }

    /// The sha256 digest of `data`.
    pub fn sha256_of(data: &[u8]) -> Self {
        use sha2::Digest as _;
        Self {
            algorithm: DigestAlgorithm::Sha256,
            hex: hex::encode(sha2::Sha256::digest(data)),
        }
    }

    /// Whether `data` hashes to this digest.
    pub fn matches(&self, data: &[u8]) -> bool {
        use sha2::Digest as _;
        let got = match self.algorithm {
            DigestAlgorithm::Sha256 => hex::encode(sha2::Sha256::digest(data)),
            DigestAlgorithm::Sha512 => hex::encode(sha2::Sha512::digest(data)),
        };
        got == self.hex
    }

    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The tag cosign stores signatures under: `sha256-<hex>.sig`.
    pub fn signature_tag(&self) -> String {
        format!("{}.sig", self.fallback_tag())
    }

    /// The tag cosign stores attestations under: `sha256-<hex>.att`.
    pub fn attestation_tag(&self) -> String {
        format!("{}.att", self.fallback_tag())
    }

    /// The OCI referrers fallback tag: `sha256-<hex>`.
    pub fn fallback_tag(&self) -> String {
        format!("{}-{}", self.algorithm.name(), self.hex)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

fn is_digest_algorithm(s: &str) -> bool {
    // component ([+._-] component)*, component = [A-Za-z][A-Za-z0-9]*
    !s.is_empty()
        && s.split(['+', '.', '_', '-']).all(|c| {
            let mut b = c.bytes();
            matches!(b.next(), Some(x) if x.is_ascii_alphabetic())
                && b.all(|x| x.is_ascii_alphanumeric())
        })
}

/// A normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// A repository: registry host plus path, e.g. `docker.io/library/nginx`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Repository {
    pub registry: String,
    pub path: String,
}

/// Percent-encodes a URL query value or path segment (RFC 3986 unreserved characters kept).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)
    }
}

impl ImageRef {
    /// Parses and normalizes a reference as written in a manifest.
    ///
    /// # Errors
    /// A [`ReferenceError`] saying what part is invalid; templates (`{{ … }}`, `$(VAR)`,
    /// `${VAR}`) are recognised and reported as such.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if s.contains("{{") || s.contains("}}") {
            return Err(ReferenceError::Template("Go/Helm template"));
        }
        if s.contains("$(") || s.contains("${") || s.starts_with('$') {
            return Err(ReferenceError::Template("variable"));
        }
        if s.contains('<') || s.contains('%') {
            return Err(ReferenceError::Template("placeholder"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(Digest::parse(d)?)),
            None => (s, None),
        };
        // A tag is after the last ':' that follows the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let split = last_slash + i;
                (&rest[..split], Some(&rest[split + 1..]))
            }
            None => (rest, None),
        };
        if let Some(t) = tag
            && !is_tag(t)
        {
            return Err(ReferenceError::InvalidTag(t.to_string()));
        }
        let (registry, path) = split_domain(name)?;
        for comp in path.split('/') {
            if !is_path_component(comp) {
                return Err(ReferenceError::InvalidPath(comp.to_string()));
            }
        }
        if registry.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong);
        }
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_string()),
            (t, _) => t.map(str::to_string),
        };
        Ok(Self {
            registry,
            repository: path,
            tag,
            digest,
        })
    }

    /// Registry host as normalized (`docker.io`, `ghcr.io`, `localhost:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }
    /// Repository path within the registry (`library/nginx`).
    pub fn path(&self) -> &str {
        &self.repository
    }
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }
    /// `registry/path`, the name policies match on.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
    pub fn repository(&self) -> Repository {
        Repository {
            registry: self.registry.clone(),
            path: self.repository.clone(),
        }
    }
    /// The same reference pinned to `digest` (tag kept).
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            digest: Some(digest),
            ..self.clone()
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Normalizes a repository-like string used in policies (`nginx`, `ghcr.io/acme`):
/// same domain rules as references, no tag. Used for allowlists and glob patterns.
pub fn normalize_name(name: &str) -> String {
    let name = name.trim_end_matches('/');
    if !name.contains('/') && (name.contains('.') || name.contains(':') || name == "localhost") {
        // a bare registry host: `ghcr.io`, `localhost:5000`
        return if name == "index.docker.io" {
            "docker.io".to_string()
        } else {
            name.to_string()
        };
    }
    match split_domain(name) {
        Ok((r, p)) => format!("{r}/{p}"),
        Err(_) => name.to_string(),
    }
}

fn split_domain(name: &str) -> Result<(String, String), ReferenceError> {
    let (first, rest) = match name.split_once('/') {
        Some((f, r))
            if f.contains('.')
                || f.contains(':')
                || f == "localhost"
                || f.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (Some(f), r)
        }
        _ => (None, name),
    };
    match first {
        Some(host) => {
            if !is_host(host) {
                return Err(ReferenceError::InvalidHost(host.to_string()));
            }
            let host = if host == "index.docker.io" {
                "docker.io"
            } else {
                host
            };
            let path = if host == "docker.io" && !rest.contains('/') {
                format!("library/{rest}")
            } else {
                rest.to_string()
            };
            Ok((host.to_string(), path))
        }
        None => {
            let path = if rest.contains('/') {
                rest.to_string()
            } else {
                format!("library/{rest}")
            };
            Ok(("docker.io".to_string(), path))
        }
    }
}

fn is_host(h: &str) -> bool {
    let (host, port) = if let Some(stripped) = h.strip_prefix('[') {
        // [ipv6]:port
        match stripped.split_once(']') {
            Some((v6, rest)) => {
                if v6.is_empty()
                    || !v6
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
                {
                    return false;
                }
                match rest {
                    "" => return true,
                    p => return p.strip_prefix(':').is_some_and(is_port),
                }
            }
            None => return false,
        }
    } else {
        match h.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (h, None),
        }
    };
    if let Some(p) = port
        && !is_port(p)
    {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
                && b.first().is_some_and(u8::is_ascii_alphanumeric)
                && b.last().is_some_and(u8::is_ascii_alphanumeric)
        })
}

fn is_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

fn is_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= TAG_MAX
        && b.first()
            .is_some_and(|x| x.is_ascii_alphanumeric() || *x == b'_')
        && b.iter()
            .all(|x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'))
}

/// alpha-numeric (separator alpha-numeric)*, separator = `.` | `_` | `__` | `-`+
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() {
        return false;
    }
    let alnum = |x: &u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !b.first().is_some_and(alnum) || !b.last().is_some_and(alnum) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let x = b[i];
        if alnum(&x) {
            i += 1;
            continue;
        }
        // a separator run
        let start = i;
        while i < b.len() && !alnum(&b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|s| s == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        ImageRef::parse(s).unwrap().to_string()
    }

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(norm("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(norm("nginx:1.25"), "docker.io/library/nginx:1.25");
        assert_eq!(norm("acme/web"), "docker.io/acme/web:latest");
        assert_eq!(
            norm("index.docker.io/nginx"),
            "docker.io/library/nginx:latest"
        );
        assert_eq!(norm("docker.io/nginx"), "docker.io/library/nginx:latest");
        assert_eq!(norm("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(norm("localhost/app:v1"), "localhost/app:v1");
        assert_eq!(
            norm("ghcr.io/acme/web/api:1.2.3"),
            "ghcr.io/acme/web/api:1.2.3"
        );
        assert_eq!(norm("127.0.0.1:5000/a/b"), "127.0.0.1:5000/a/b:latest");
        assert_eq!(norm("[::1]:5000/a"), "[::1]:5000/a:latest");
    }

    #[test]
    fn tag_and_digest() {
        let r = ImageRef::parse(&format!("ghcr.io/acme/web:1.2@{D}")).unwrap();
        assert_eq!(r.tag(), Some("1.2"));
        assert_eq!(r.digest().unwrap().to_string(), D);
        let r = ImageRef::parse(&format!("nginx@{D}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.to_string(), format!("docker.io/library/nginx@{D}"));
        assert_eq!(
            r.digest().unwrap().signature_tag(),
            format!("sha256-{}.sig", &D[7..])
        );
        assert_eq!(
            ImageRef::parse("localhost:5000/app:v1").unwrap().name(),
            "localhost:5000/app"
        );
    }

    #[test]
    fn digest_validation() {
        assert!(Digest::parse(D).is_ok());
        assert!(Digest::parse(&D[..70]).is_err(), "short");
        assert!(
            Digest::parse(&D.to_uppercase().replace("SHA256", "sha256")).is_err(),
            "uppercase hex"
        );
        assert!(matches!(
            Digest::parse("md5:d41d8cd98f00b204e9800998ecf8427e"),
            Err(ReferenceError::InvalidDigest(
                _,
                "unsupported algorithm (sha256 or sha512)"
            ))
        ));
        assert!(Digest::parse(&format!("sha512:{}", "a".repeat(128))).is_ok());
        assert!(Digest::parse(&format!("sha512:{}", "a".repeat(64))).is_err());
        assert!(Digest::parse("sha256").is_err());
        assert!(ImageRef::parse("nginx@sha256:abc").is_err());
        let d = Digest::sha256_of(b"hello");
        assert!(d.matches(b"hello"));
        assert!(!d.matches(b"hellO"));
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "upper/Case",
            "nginx:",
            "nginx:-bad",
            "a//b",
            "-a/b",
            "a/b-",
            "a/b_c__",
            "host:notaport/x",
            "ghcr.io/acme/web:1.2.3:4",
            &format!("ghcr.io/{}", "a".repeat(300)),
            &format!("nginx:{}", "t".repeat(129)),
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(ImageRef::parse("a/b__c/d-e--f/g.h").is_ok());
    }

    #[test]
    fn templates_are_unresolvable() {
        for t in [
            "{{ .Values.image }}",
            "ghcr.io/acme/web:{{ .Chart.AppVersion }}",
            "$(IMAGE)",
            "${IMAGE}",
            "$IMAGE",
            "<image>",
        ] {
            assert!(
                matches!(ImageRef::parse(t), Err(ReferenceError::Template(_))),
                "{t}"
            );
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "@",
            ":",
            "/",
            "a@",
            "a:@",
            "[",
            "[]:1/a",
            "a/:b",
            "é/ü",
            "a@sha256:",
            "\u{0}",
            "::::",
        ] {
            let _ = ImageRef::parse(s);
        }
    }

    #[test]
    fn normalize_policy_names() {
        assert_eq!(normalize_name("nginx"), "docker.io/library/nginx");
        assert_eq!(normalize_name("ghcr.io/acme"), "ghcr.io/acme");
        assert_eq!(normalize_name("localhost:5000"), "localhost:5000");
        assert_eq!(normalize_name("index.docker.io"), "docker.io");
    }
}
