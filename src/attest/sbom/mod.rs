//! SBOM attestations (pure): parsing SPDX 2.x and CycloneDX 1.x JSON predicates into a
//! flat package list, and evaluating a policy's denied packages and licences over it.
//!
//! # Accepted predicates ([`parse`])
//! 1. an SPDX 2.x JSON document (`spdxVersion`, `packages[]`);
//! 2. a CycloneDX 1.x JSON document (`bomFormat: "CycloneDX"`, `components[]`, nested
//!    `components`, `metadata.component`);
//! 3. a JSON string holding (1) or (2) (cosign `--type spdx` stores the file as text);
//! 4. `{"Data": <string or object>, "Timestamp": …}` (cosign `custom`): `Data` as above.
//!
//! Only the fields below are read; everything else is skipped without being kept.
//! - SPDX: each `packages[i]` gives `name`, `versionInfo`, the first `externalRefs` entry
//!   whose `referenceType` is `purl` (any `referenceCategory`: `PACKAGE-MANAGER`,
//!   `PACKAGE_MANAGER`, …) and its `referenceLocator`, and the licences
//!   `licenseConcluded` and `licenseDeclared`. `creationInfo.created` is the creation time.
//! - CycloneDX: `metadata.component` (location `metadata.component`) then every component
//!   of `components`, depth first, parents before children (`components[3].components[0]`),
//!   each with `name`, `group`, `version`, `purl` and its `licenses` entries
//!   (`license.id`, `license.name`, or `expression`). `metadata.timestamp` is the
//!   creation time.
//! - `NOASSERTION`, `NONE` and empty licences are not kept; an SPDX `versionInfo` of
//!   `NOASSERTION`/`NONE` or an empty version counts as no version. Numbers where text is
//!   expected are taken as their text; other wrong types are an [`SbomError::Invalid`]
//!   naming the line and column. A timestamp that is not RFC 3339 gives `created: None`.
//!
//! # Denied packages ([`PackageMatcher`])
//! An entry is a package URL (starting with `pkg:`) or a name, each optionally followed
//! by `@` and a version or range.
//! - **purl entries** (`pkg:npm/event-stream@3.3.6`, `pkg:maven/org.apache.logging.log4j/log4j-core@<2.17.1`)
//!   compare type, namespace and name with the component's `purl` (see [`purl`] for the
//!   normalization: type lowercased, percent-decoding, case-insensitive for npm, pypi,
//!   golang, github, gitlab, bitbucket, composer, nuget, cargo, hex, pub, deb, apk, alpm,
//!   docker, oci; PEP 503 names for pypi; case-sensitive for maven, gem, rpm and the
//!   rest). Qualifiers and subpath are ignored on both sides. A component without a purl
//!   (or with one that does not parse) never matches a purl entry. The version compared is
//!   the purl's, or the component's version when its purl has none.
//! - **name entries** (`log4j-core@<2.17.1`, `@babel/core@7.0.0`, `openssl`) split at the
//!   last `@` that is not the first character, and compare case-insensitively with the
//!   component's name, `group/name` and `group:name` (CycloneDX `group`), and the purl's
//!   name, `namespace/name` and `namespace:name` (so `org.apache.logging.log4j:log4j-core`
//!   and Go module paths such as `github.com/gin-gonic/gin` work). For pypi components
//!   PEP 503 normalization applies too (`typing_extensions` = `typing-extensions`). The
//!   version compared is the component's, or its purl's when it has none.
//! - **versions** (see [`version`]): no version means any version. A version part is
//!   always read as a range: a bare version is an exact match (by the lenient comparator,
//!   so `v1.2.3` = `1.2.3` and `1.2` = `1.2.0`); `<`, `<=`, `>`, `>=`, `=`, `^`, `~`,
//!   wildcards (`1.2.x`, `*`), hyphen ranges (`1.2.3 - 2.3.4`), space or comma (AND) and
//!   `||` (OR) form ranges. `*` is the same as no version. An invalid range is an error
//!   when the policy is loaded.
//! - **unknown versions**: a component with no version only matches entries without a
//!   version (or `@*`); a version or range never matches an unknown version.
//!
//! # Denied licences ([`parse_license_id`], [`license`])
//! Entries are single SPDX licence ids or `LicenseRef-…`, compared case-insensitively;
//! the deprecated GNU ids equal their `-only` forms (`GPL-2.0` ≡ `GPL-2.0-only`) and
//! `X+` ≡ `X-or-later`; `-only` and `-or-later` are different licences.
//! Each licence of a package is judged on its own:
//! - an SPDX expression: a licence is denied when listed; `A AND B` when either part is;
//!   `A OR B` only when every alternative is (otherwise the allowed one can be chosen);
//!   `X WITH exception` as `X`; `NOASSERTION`, `NONE` and empty are never denied;
//! - text that is not a valid expression (free-text CycloneDX `license.name`, lower-case
//!   operators, `GPL-2.0 or later`): denied when any token of it is a denied id.
//!
//! A package is denied when **any one** of its licence entries is: SPDX
//! `licenseConcluded` and `licenseDeclared` are both checked, and every CycloneDX licence
//! object — conservative, since a package's entries seldom disagree and the stricter
//! reading errs towards blocking.
//!
//! # Findings ([`evaluate`])
//! In document order; each package gives at most one [`FindingKind::DeniedPackage`]
//! (the first matching entry in policy order) and at most one
//! [`FindingKind::DeniedLicense`] (its first denied licence entry).

pub mod license;
pub mod purl;
pub mod version;

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::value::RawValue;

use self::license::DenyList;
use self::purl::{Purl, pep503};
use self::version::VersionReq;

/// Default cap on the size of an SBOM attestation the caller fetches and parses.
pub const DEFAULT_MAX_SBOM_BYTES: u64 = 64 * 1024 * 1024;

/// How many layers of JSON strings and `Data` wrappers are unwrapped at most.
const MAX_WRAPPING: usize = 4;
/// Longest package text a finding shows (characters).
const MAX_SHOWN: usize = 200;

/// What a denied-package entry compares against.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// a purl entry: the normalized identity ([`Purl::key`])
    Purl(String),
    /// a name entry: lowercased, and PEP 503-normalized for pypi components
    Name { lower: String, pep503: String },
}

/// One denied-package entry of the policy, compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageMatcher {
    entry: String,
    target: Target,
    /// `None`: any version (and packages without one)
    version: Option<VersionReq>,
}

impl PackageMatcher {
    /// Compiles an entry: `pkg:npm/event-stream@3.3.6`, `pkg:npm/event-stream` (any
    /// version), `pkg:maven/org.apache.logging.log4j/log4j-core@<2.17.1` (a range in a
    /// purl, our extension), `log4j-core@<2.17.1`, `log4j-core@>=2.0.0 <2.17.1 || 1.2.17`,
    /// `@babel/core@7.0.0`, `openssl` (a name, any version). See the module documentation.
    ///
    /// # Errors
    /// A human-readable description of the problem, for policy validation.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let e = entry.trim();
        if e.is_empty() {
            return Err("empty package entry".into());
        }
        if e.chars().any(char::is_control) {
            return Err(format!("{e:?} contains control characters"));
        }
        let is_purl = e.get(..4).is_some_and(|s| s.eq_ignore_ascii_case("pkg:"));
        let (target, version) = if is_purl {
            let p = Purl::parse(e)?;
            (Target::Purl(p.key()), p.version)
        } else {
            let (name, version) = match e.rfind('@') {
                Some(at) if at > 0 => (
                    e.get(..at).unwrap_or_default().trim(),
                    Some(e.get(at + 1..).unwrap_or_default().to_string()),
                ),
                _ => (e, None),
            };
            if !name.chars().any(char::is_alphanumeric) {
                return Err(format!("{e:?} has no package name"));
            }
            let target = Target::Name {
                lower: name.to_lowercase(),
                pep503: pep503(name),
            };
            (target, version)
        };
        let version = match version {
            None => None,
            Some(v) if v.trim().is_empty() => {
                return Err(format!(
                    "{e:?}: nothing after @ (leave out @ to deny every version)"
                ));
            }
            Some(v) => {
                let req = VersionReq::parse(&v).map_err(|m| format!("{e:?}: {m}"))?;
                (!req.is_any()).then_some(req)
            }
        };
        Ok(Self {
            entry: e.to_string(),
            target,
            version,
        })
    }

    /// The entry as written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.entry
    }

    /// Whether the package is denied by this entry. An entry with a version or range
    /// never matches a package whose version is unknown (neither the document nor its
    /// purl gives one); see [`PackageMatcher::names`] to find such packages.
    pub fn matches(&self, p: &Package) -> bool {
        self.matches_view(&PkgView::new(p))
    }

    /// Whether the entry names the package, whatever the versions: `matches` without the
    /// version check (for reporting packages whose unknown version could not be checked).
    pub fn names(&self, p: &Package) -> bool {
        self.target_hit(&PkgView::new(p)).0
    }

    /// Whether the entry has a version or range (`false`: any version).
    pub fn has_version(&self) -> bool {
        self.version.is_some()
    }

    /// (whether type/namespace/name match, the package version to compare)
    fn target_hit<'v>(&self, v: &'v PkgView<'_>) -> (bool, Option<&'v str>) {
        match &self.target {
            Target::Purl(key) => (
                v.purl_key.as_deref() == Some(key.as_str()),
                v.purl_version(),
            ),
            Target::Name { lower, pep503 } => (
                v.names.iter().any(|n| n == lower) || v.pypi_names.iter().any(|n| n == pep503),
                v.name_version(),
            ),
        }
    }

    fn matches_view(&self, v: &PkgView<'_>) -> bool {
        let (hit, version) = self.target_hit(v);
        hit && match (&self.version, version) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(req), Some(ver)) => req.matches(ver),
        }
    }
}

/// Validates a denied licence entry (an SPDX licence id or `LicenseRef-…`, compared
/// case-insensitively as SPDX says) and returns it normalized for display: deprecated
/// GNU ids become their `-only` form and `X+` becomes `X-or-later` (`gpl-2.0` →
/// `GPL-2.0-only`); other ids are returned as written.
///
/// # Errors
/// A human-readable description of the problem, for policy validation.
pub fn parse_license_id(entry: &str) -> Result<String, String> {
    license::parse_license_id(entry)
}

/// The SBOM part of an attestation rule, compiled.
#[derive(Debug, Clone, Default)]
pub struct SbomRule {
    /// Denied packages, in policy order (the first match is reported).
    pub denied_packages: Vec<PackageMatcher>,
    /// Denied licence ids, as returned by [`parse_license_id`].
    pub denied_licenses: Vec<String>,
}

/// The document format and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SbomFormat {
    /// SPDX; `version` without the `SPDX-` prefix (`2.3`).
    Spdx {
        /// e.g. `2.3`
        version: String,
    },
    /// CycloneDX; `spec_version` as in `specVersion` (`1.5`).
    CycloneDx {
        /// e.g. `1.5`
        spec_version: String,
    },
}

impl fmt::Display for SbomFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Spdx { version } => write!(f, "SPDX-{version}"),
            Self::CycloneDx { spec_version } => write!(f, "CycloneDX {spec_version}"),
        }
    }
}

/// A parsed SBOM: the packages a policy is evaluated over.
#[derive(Debug, Clone)]
pub struct Sbom {
    /// Format and version of the document.
    pub format: SbomFormat,
    /// Document creation time, seconds since the epoch (SPDX `creationInfo.created`,
    /// CycloneDX `metadata.timestamp`); `None` when absent or not RFC 3339.
    pub created: Option<i64>,
    /// Every package, in document order.
    pub packages: Vec<Package>,
}

/// One package (SPDX) or component (CycloneDX) of an SBOM.
#[derive(Debug, Clone)]
pub struct Package {
    /// Name as written (may be empty when the document has none).
    pub name: String,
    /// CycloneDX `group` (Maven groupId, npm scope, …); always `None` for SPDX.
    pub group: Option<String>,
    /// Version as written; `None` when absent or empty.
    pub version: Option<String>,
    /// Package URL as written.
    pub purl: Option<String>,
    /// Licence expressions as written (each entry one expression or free-text name);
    /// `NOASSERTION`, `NONE` and empty entries are left out, duplicates kept once.
    pub licenses: Vec<String>,
    /// Where in the document: `packages[12]` (SPDX), `components[3].components[0]` or
    /// `metadata.component` (CycloneDX).
    pub location: String,
}

/// Why a predicate could not be read as an SBOM. Messages say what is wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    /// The text is not JSON (with line and column).
    #[error("{message}")]
    NotJson {
        /// full description
        message: String,
    },
    /// Valid JSON, but not a supported SBOM document.
    #[error("{message}")]
    NotAnSbom {
        /// full description
        message: String,
    },
    /// An SPDX or CycloneDX document whose fields have the wrong shape.
    #[error("{message}")]
    Invalid {
        /// full description
        message: String,
    },
}

/// A leaf value read as text: strings as written, numbers as their JSON text, `null` as
/// absent; anything else is a type error.
#[derive(Debug, Default)]
struct Text(Option<String>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
        Ok(Text(Some(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
        Ok(Text(Some(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
        Ok(Text(Some(v.to_string())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
        Ok(Text(Some(v.to_string())))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
        Ok(Text(Some(v.to_string())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
        Ok(Text(None))
    }

    fn visit_none<E: de::Error>(self) -> Result<Text, E> {
        Ok(Text(None))
    }
}

impl Text {
    /// The text, unless absent or blank.
    fn present(self) -> Option<String> {
        self.0.filter(|s| !s.trim().is_empty())
    }
}

/// Top-level keys that tell the kind of document, kept raw so no type can fail here.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "spdxVersion", borrow, default)]
    spdx_version: Option<&'a RawValue>,
    #[serde(rename = "bomFormat", borrow, default)]
    bom_format: Option<&'a RawValue>,
    #[serde(rename = "specVersion", borrow, default)]
    spec_version: Option<&'a RawValue>,
    #[serde(rename = "Data", borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(rename = "@context", borrow, default)]
    context: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SpdxDoc {
    #[serde(rename = "creationInfo")]
    creation_info: Option<SpdxCreationInfo>,
    packages: Option<Vec<SpdxPackage>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SpdxCreationInfo {
    created: Text,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SpdxPackage {
    name: Text,
    #[serde(rename = "versionInfo")]
    version_info: Text,
    #[serde(rename = "externalRefs")]
    external_refs: Option<Vec<SpdxExternalRef>>,
    #[serde(rename = "licenseConcluded")]
    license_concluded: Text,
    #[serde(rename = "licenseDeclared")]
    license_declared: Text,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SpdxExternalRef {
    #[serde(rename = "referenceType")]
    reference_type: Text,
    #[serde(rename = "referenceLocator")]
    reference_locator: Text,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CdxDoc {
    metadata: Option<CdxMetadata>,
    components: Option<Vec<CdxComponent>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CdxMetadata {
    timestamp: Text,
    component: Option<CdxComponent>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CdxComponent {
    name: Text,
    group: Text,
    version: Text,
    purl: Text,
    licenses: Option<Vec<CdxLicenseChoice>>,
    components: Option<Vec<CdxComponent>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CdxLicenseChoice {
    license: Option<CdxLicense>,
    expression: Text,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CdxLicense {
    id: Text,
    name: Text,
}

/// Parses a predicate (the raw JSON text of the in-toto statement's `predicate`).
///
/// # Errors
/// [`SbomError::NotJson`] for malformed JSON, [`SbomError::NotAnSbom`] for JSON that is
/// no SPDX 2.x or CycloneDX 1.x document, [`SbomError::Invalid`] for a document whose
/// fields have the wrong types.
pub fn parse(predicate: &str) -> Result<Sbom, SbomError> {
    parse_layer(predicate, "the predicate", 0)
}

fn not_json(place: &str, e: &serde_json::Error) -> SbomError {
    SbomError::NotJson {
        message: format!("{place} is not valid JSON: {e}"),
    }
}

/// Where in the document a typed parse failed (`components[3].licenses`), learnt by parsing
/// again with path tracking — only on the error path, so the common case stays fast.
fn error_path<T: de::DeserializeOwned>(text: &str) -> Option<String> {
    let mut d = serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, T>(&mut d) {
        Err(e) => Some(e.path().to_string()).filter(|p| p != "."),
        Ok(_) => None,
    }
}

fn typed_error_at<T: de::DeserializeOwned>(
    text: &str,
    place: &str,
    what: &str,
    e: &serde_json::Error,
) -> SbomError {
    match (typed_error(place, what, e), error_path::<T>(text)) {
        (SbomError::Invalid { message }, Some(path)) => SbomError::Invalid {
            message: format!("{message} (at {path})"),
        },
        (other, _) => other,
    }
}

fn typed_error(place: &str, what: &str, e: &serde_json::Error) -> SbomError {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => SbomError::Invalid {
            message: format!("{place} is not a valid {what} document: {e}"),
        },
        _ if e.to_string().starts_with("recursion limit") => SbomError::Invalid {
            message: format!("{place} is nested too deeply to be a {what} document: {e}"),
        },
        _ => not_json(place, e),
    }
}

/// The JSON string value of a raw field, if it is one.
fn raw_string(raw: &RawValue) -> Option<String> {
    serde_json::from_str::<String>(raw.get()).ok()
}

fn parse_layer(text: &str, place: &str, depth: usize) -> Result<Sbom, SbomError> {
    if depth > MAX_WRAPPING {
        return Err(SbomError::NotAnSbom {
            message: format!(
                "{place}: too many layers of JSON strings or Data wrappers around the document"
            ),
        });
    }
    let first = text.trim_start().bytes().next();
    match first {
        None => Err(SbomError::NotJson {
            message: format!("{place} is empty"),
        }),
        Some(b'"') => {
            let inner: String = serde_json::from_str(text).map_err(|e| not_json(place, &e))?;
            parse_layer(&inner, &format!("the JSON text inside {place}"), depth + 1)
        }
        Some(b'{') => parse_object(text, place, depth),
        Some(c) => match serde_json::from_str::<de::IgnoredAny>(text) {
            Ok(_) => {
                let kind = match c {
                    b'[' => "an array",
                    b't' | b'f' => "a boolean",
                    b'n' => "null",
                    _ => "a number",
                };
                Err(SbomError::NotAnSbom {
                    message: format!(
                        "{place} is {kind}, not an SPDX or CycloneDX document (a JSON object, or a string holding one)"
                    ),
                })
            }
            Err(e) => Err(not_json(place, &e)),
        },
    }
}

fn parse_object(text: &str, place: &str, depth: usize) -> Result<Sbom, SbomError> {
    let probe: Probe<'_> =
        serde_json::from_str(text).map_err(|e| typed_error(place, "SBOM", &e))?;
    if let Some(raw) = probe.spdx_version {
        let v = raw_string(raw).ok_or_else(|| SbomError::Invalid {
            message: format!("{place}: spdxVersion is {}, not a string", raw.get()),
        })?;
        let t = v.trim();
        let version = t
            .get(..5)
            .filter(|p| p.eq_ignore_ascii_case("SPDX-"))
            .and_then(|_| t.get(5..))
            .unwrap_or(t);
        if !version.starts_with("2.") {
            return Err(SbomError::NotAnSbom {
                message: format!(
                    "{place} has spdxVersion {v:?}; only SPDX 2.x JSON documents (SPDX-2.2, SPDX-2.3) are supported"
                ),
            });
        }
        return parse_spdx(text, place, version);
    }
    if let Some(raw) = probe.bom_format {
        let f = raw_string(raw).unwrap_or_else(|| raw.get().to_string());
        if !f.trim().eq_ignore_ascii_case("CycloneDX") {
            return Err(SbomError::NotAnSbom {
                message: format!("{place} has bomFormat {f:?}, expected \"CycloneDX\""),
            });
        }
        let spec = match probe.spec_version {
            None => {
                return Err(SbomError::Invalid {
                    message: format!("{place} is a CycloneDX document without specVersion"),
                });
            }
            Some(raw) => raw_string(raw).ok_or_else(|| SbomError::Invalid {
                message: format!("{place}: specVersion is {}, not a string", raw.get()),
            })?,
        };
        let spec = spec.trim();
        if !spec.starts_with("1.") {
            return Err(SbomError::NotAnSbom {
                message: format!(
                    "{place} has CycloneDX specVersion {spec:?}; only CycloneDX 1.x JSON is supported"
                ),
            });
        }
        return parse_cyclonedx(text, place, spec);
    }
    if let Some(data) = probe.data {
        return parse_layer(data.get(), &format!("the Data field of {place}"), depth + 1);
    }
    if probe
        .context
        .is_some_and(|c| c.get().to_ascii_lowercase().contains("spdx"))
    {
        return Err(SbomError::NotAnSbom {
            message: format!(
                "{place} looks like an SPDX 3 JSON-LD document, which is not supported (SPDX 2.x JSON or CycloneDX JSON)"
            ),
        });
    }
    Err(SbomError::NotAnSbom {
        message: format!(
            "{place} is neither an SPDX (spdxVersion) nor a CycloneDX (bomFormat) document"
        ),
    })
}

fn timestamp(t: Text) -> Option<i64> {
    t.present()
        .and_then(|s| crate::time::parse_rfc3339(s.trim()).ok())
}

/// A licence worth keeping: not blank, `NOASSERTION` or `NONE`.
fn push_license(out: &mut Vec<String>, l: Text) {
    if let Some(l) = l.present() {
        let t = l.trim();
        if !t.eq_ignore_ascii_case("NOASSERTION")
            && !t.eq_ignore_ascii_case("NONE")
            && !out.iter().any(|x| x == t)
        {
            out.push(t.to_string());
        }
    }
}

fn parse_spdx(text: &str, place: &str, version: &str) -> Result<Sbom, SbomError> {
    let what = format!("SPDX-{version}");
    let doc: SpdxDoc = serde_json::from_str(text)
        .map_err(|e| typed_error_at::<SpdxDoc>(text, place, &what, &e))?;
    let packages = doc
        .packages
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let purl = p
                .external_refs
                .unwrap_or_default()
                .into_iter()
                .find(|r| {
                    r.reference_type
                        .0
                        .as_deref()
                        .is_some_and(|t| t.trim().eq_ignore_ascii_case("purl"))
                })
                .and_then(|r| r.reference_locator.present());
            let mut licenses = Vec::new();
            push_license(&mut licenses, p.license_concluded);
            push_license(&mut licenses, p.license_declared);
            let version = p.version_info.present().filter(|v| {
                !v.trim().eq_ignore_ascii_case("NOASSERTION")
                    && !v.trim().eq_ignore_ascii_case("NONE")
            });
            Package {
                name: p.name.0.unwrap_or_default(),
                group: None,
                version,
                purl,
                licenses,
                location: format!("packages[{i}]"),
            }
        })
        .collect();
    Ok(Sbom {
        format: SbomFormat::Spdx {
            version: version.to_string(),
        },
        created: doc.creation_info.and_then(|c| timestamp(c.created)),
        packages,
    })
}

/// Appends a component and then its nested components (depth is bounded by the JSON
/// parser's recursion limit).
fn push_component(c: CdxComponent, location: String, out: &mut Vec<Package>) {
    let mut licenses = Vec::new();
    for choice in c.licenses.unwrap_or_default() {
        if let Some(l) = choice.license {
            if l.id.0.as_deref().is_some_and(|s| !s.trim().is_empty()) {
                push_license(&mut licenses, l.id);
            } else {
                push_license(&mut licenses, l.name);
            }
        }
        push_license(&mut licenses, choice.expression);
    }
    let children = c.components.unwrap_or_default();
    out.push(Package {
        name: c.name.0.unwrap_or_default(),
        group: c.group.present(),
        version: c.version.present(),
        purl: c.purl.present(),
        licenses,
        location: location.clone(),
    });
    for (i, child) in children.into_iter().enumerate() {
        push_component(child, format!("{location}.components[{i}]"), out);
    }
}

fn parse_cyclonedx(text: &str, place: &str, spec: &str) -> Result<Sbom, SbomError> {
    let what = format!("CycloneDX {spec}");
    let doc: CdxDoc =
        serde_json::from_str(text).map_err(|e| typed_error_at::<CdxDoc>(text, place, &what, &e))?;
    let mut packages = Vec::new();
    let mut created = None;
    if let Some(m) = doc.metadata {
        created = timestamp(m.timestamp);
        if let Some(c) = m.component {
            push_component(c, "metadata.component".into(), &mut packages);
        }
    }
    for (i, c) in doc.components.unwrap_or_default().into_iter().enumerate() {
        push_component(c, format!("components[{i}]"), &mut packages);
    }
    Ok(Sbom {
        format: SbomFormat::CycloneDx {
            spec_version: spec.to_string(),
        },
        created,
        packages,
    })
}

/// What a matcher looks at in a package, computed once per package.
struct PkgView<'p> {
    purl: Option<Purl>,
    purl_key: Option<String>,
    /// lowercased: name, group/name, group:name, purl name, namespace/name, namespace:name
    names: Vec<String>,
    /// PEP 503 forms of `names`, for pypi components only
    pypi_names: Vec<String>,
    version: Option<&'p str>,
}

impl<'p> PkgView<'p> {
    fn new(p: &'p Package) -> Self {
        let purl = p.purl.as_deref().and_then(Purl::parse_lenient);
        let purl_key = purl.as_ref().map(Purl::key);
        let mut names: Vec<String> = Vec::new();
        let mut add = |n: String| {
            if !n.is_empty() && !names.contains(&n) {
                names.push(n);
            }
        };
        let name = p.name.trim().to_lowercase();
        if let Some(g) = p.group.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
            let g = g.to_lowercase();
            add(format!("{g}/{name}"));
            add(format!("{g}:{name}"));
        }
        add(name);
        if let Some(u) = &purl {
            let n = u.name.to_lowercase();
            if !u.namespace.is_empty() {
                let ns = u.namespace.to_lowercase();
                add(format!("{ns}/{n}"));
                add(format!("{ns}:{n}"));
            }
            add(n);
        }
        let pypi_names = if purl.as_ref().is_some_and(|u| u.ty == "pypi") {
            names.iter().map(|n| pep503(n)).collect()
        } else {
            Vec::new()
        };
        Self {
            purl,
            purl_key,
            names,
            pypi_names,
            version: p.version.as_deref().filter(|v| !v.trim().is_empty()),
        }
    }

    fn purl_own_version(&self) -> Option<&str> {
        self.purl
            .as_ref()
            .and_then(|u| u.version.as_deref())
            .filter(|v| !v.trim().is_empty())
    }

    /// For purl entries: the purl's version, else the package's.
    fn purl_version(&self) -> Option<&str> {
        self.purl_own_version().or(self.version)
    }

    /// For name entries: the package's version, else the purl's.
    fn name_version(&self) -> Option<&str> {
        self.version.or_else(|| self.purl_own_version())
    }
}

/// Denied-package entries indexed by what they compare against.
struct MatcherIndex<'r> {
    matchers: &'r [PackageMatcher],
    by_purl: HashMap<&'r str, Vec<usize>>,
    by_name: HashMap<&'r str, Vec<usize>>,
    by_pypi_name: HashMap<&'r str, Vec<usize>>,
}

impl<'r> MatcherIndex<'r> {
    fn new(matchers: &'r [PackageMatcher]) -> Self {
        let mut idx = Self {
            matchers,
            by_purl: HashMap::new(),
            by_name: HashMap::new(),
            by_pypi_name: HashMap::new(),
        };
        for (i, m) in matchers.iter().enumerate() {
            match &m.target {
                Target::Purl(k) => idx.by_purl.entry(k.as_str()).or_default().push(i),
                Target::Name { lower, pep503 } => {
                    idx.by_name.entry(lower.as_str()).or_default().push(i);
                    idx.by_pypi_name.entry(pep503.as_str()).or_default().push(i);
                }
            }
        }
        idx
    }

    /// The first entry (policy order) that denies the package.
    fn first_match(&self, v: &PkgView<'_>) -> Option<usize> {
        let mut candidates: Vec<usize> = Vec::new();
        if let Some(k) = &v.purl_key
            && let Some(ids) = self.by_purl.get(k.as_str())
        {
            candidates.extend(ids);
        }
        for n in &v.names {
            if let Some(ids) = self.by_name.get(n.as_str()) {
                candidates.extend(ids);
            }
        }
        for n in &v.pypi_names {
            if let Some(ids) = self.by_pypi_name.get(n.as_str()) {
                candidates.extend(ids);
            }
        }
        if candidates.is_empty() {
            return None;
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates
            .into_iter()
            .find(|&i| self.matchers.get(i).is_some_and(|m| m.matches_view(v)))
    }
}

/// What kind of deny entry a finding comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FindingKind {
    /// A `deniedPackages` entry matched the package.
    DeniedPackage,
    /// One of the package's licences is denied by `deniedLicenses`.
    DeniedLicense,
}

/// One denied package or licence found in an SBOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Which kind of entry matched.
    pub kind: FindingKind,
    /// The package for people: `log4j-core 2.14.1 (pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1)`
    /// (control characters replaced, long values shortened).
    pub package: String,
    /// Where in the document ([`Package::location`]).
    pub location: String,
    /// The deny entry that matched (package matcher as written, or the licence id).
    pub matched: String,
    /// For licences: the expression that was denied.
    pub expression: Option<String>,
}

impl Finding {
    /// One line for people, e.g. `package log4j-core 2.14.1 (pkg:…) at packages[12] is
    /// denied by "log4j-core@<2.17.1"`, or `package foo 1.0 at components[3] has licence
    /// "MIT AND AGPL-3.0-only", denied by AGPL-3.0-only`.
    pub fn message(&self) -> String {
        match self.kind {
            FindingKind::DeniedPackage => format!(
                "package {} at {} is denied by {:?}",
                self.package, self.location, self.matched
            ),
            FindingKind::DeniedLicense => format!(
                "package {} at {} has licence {:?}, denied by {}",
                self.package,
                self.location,
                shown(self.expression.as_deref().unwrap_or_default()),
                self.matched
            ),
        }
    }
}

/// Text from a document made safe to show: control characters replaced, length capped.
fn shown(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_SHOWN)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect();
    if s.chars().nth(MAX_SHOWN).is_some() {
        out.push('…');
    }
    out
}

fn describe(p: &Package) -> String {
    let mut s = shown(p.name.trim());
    if s.is_empty() {
        s.push_str("(unnamed)");
    }
    if let Some(v) = &p.version {
        s.push(' ');
        s.push_str(&shown(v));
    }
    if let Some(u) = &p.purl {
        s.push_str(" (");
        s.push_str(&shown(u));
        s.push(')');
    }
    s
}

/// All findings, in document order (packages first found first); per package at most
/// one denied-package finding (the first matching entry) then at most one
/// denied-licence finding (the first denied licence entry).
pub fn evaluate(sbom: &Sbom, rule: &SbomRule) -> Vec<Finding> {
    let index = MatcherIndex::new(&rule.denied_packages);
    let deny = DenyList::new(&rule.denied_licenses);
    let mut verdicts: HashMap<&str, Option<usize>> = HashMap::new();
    let mut out = Vec::new();
    for p in &sbom.packages {
        if !rule.denied_packages.is_empty()
            && let Some(m) = index
                .first_match(&PkgView::new(p))
                .and_then(|i| rule.denied_packages.get(i))
        {
            out.push(Finding {
                kind: FindingKind::DeniedPackage,
                package: describe(p),
                location: p.location.clone(),
                matched: m.entry.clone(),
                expression: None,
            });
        }
        if deny.is_empty() {
            continue;
        }
        for l in &p.licenses {
            let hit = *verdicts.entry(l.as_str()).or_insert_with(|| deny.check(l));
            if let Some(id) = hit.and_then(|i| rule.denied_licenses.get(i)) {
                out.push(Finding {
                    kind: FindingKind::DeniedLicense,
                    package: describe(p),
                    location: p.location.clone(),
                    matched: id.clone(),
                    expression: Some(l.clone()),
                });
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPDX: &str = r#"{
      "spdxVersion": "SPDX-2.3",
      "dataLicense": "CC0-1.0",
      "SPDXID": "SPDXRef-DOCUMENT",
      "name": "alpine:3.19",
      "documentNamespace": "https://anchore.com/syft/image/alpine-3.19-1",
      "creationInfo": {"created": "2024-05-30T10:00:00Z", "creators": ["Tool: syft-1.4.1"]},
      "packages": [
        {"SPDXID": "SPDXRef-Package-java-log4j-core", "name": "log4j-core", "versionInfo": "2.14.1",
         "downloadLocation": "NOASSERTION", "licenseConcluded": "NOASSERTION", "licenseDeclared": "Apache-2.0",
         "externalRefs": [
           {"referenceCategory": "SECURITY", "referenceType": "cpe23Type",
            "referenceLocator": "cpe:2.3:a:apache:log4j-core:2.14.1:*:*:*:*:*:*:*"},
           {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
            "referenceLocator": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"}]},
        {"SPDXID": "SPDXRef-2", "name": "musl", "versionInfo": "1.2.4-r2",
         "licenseConcluded": "MIT", "licenseDeclared": "MIT",
         "externalRefs": [{"referenceCategory": "PACKAGE_MANAGER", "referenceType": "purl",
           "referenceLocator": "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1"}]},
        {"SPDXID": "SPDXRef-3", "name": "agpl-thing", "versionInfo": "NOASSERTION",
         "licenseConcluded": "MIT AND AGPL-3.0-only", "licenseDeclared": "NONE"},
        {"SPDXID": "SPDXRef-4", "name": "weird", "versionInfo": 7, "licenseDeclared": null}
      ],
      "relationships": [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                         "relatedSpdxElement": "SPDXRef-2"}]
    }"#;

    const CDX: &str = r#"{
      "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
      "bomFormat": "CycloneDX",
      "specVersion": "1.5",
      "serialNumber": "urn:uuid:0",
      "version": 1,
      "metadata": {
        "timestamp": "2024-05-30T12:00:00+02:00",
        "tools": {"components": [{"type": "application", "author": "anchore", "name": "syft", "version": "1.4.1"}]},
        "component": {"bom-ref": "img", "type": "container", "name": "registry.example/app", "version": "sha256:abc"}
      },
      "components": [
        {"bom-ref": "a", "type": "library", "group": "org.apache.logging.log4j", "name": "log4j-core",
         "version": "2.14.1", "licenses": [{"license": {"id": "Apache-2.0"}}],
         "purl": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
         "properties": [{"name": "syft:package:foundBy", "value": "java-archive-cataloger"}],
         "components": [
           {"type": "library", "name": "shaded", "version": "1.0",
            "licenses": [{"license": {"name": "GNU Affero GPL, see AGPL-3.0-only"}}],
            "components": [{"type": "library", "name": "deep", "version": "0.1",
                            "licenses": [{"expression": "MIT OR GPL-2.0-only"}]}]}
         ]},
        {"type": "library", "name": "event-stream", "version": "3.3.6", "purl": "pkg:npm/event-stream@3.3.6",
         "licenses": [{"license": {"id": "MIT"}}, {"expression": "AGPL-3.0-or-later"}]},
        {"type": "library", "name": "nopurl", "group": "com.example"}
      ]
    }"#;

    fn rule(packages: &[&str], licenses: &[&str]) -> SbomRule {
        SbomRule {
            denied_packages: packages
                .iter()
                .map(|e| PackageMatcher::parse(e).unwrap())
                .collect(),
            denied_licenses: licenses
                .iter()
                .map(|e| parse_license_id(e).unwrap())
                .collect(),
        }
    }

    fn pkg(name: &str, group: Option<&str>, version: Option<&str>, purl: Option<&str>) -> Package {
        Package {
            name: name.into(),
            group: group.map(Into::into),
            version: version.map(Into::into),
            purl: purl.map(Into::into),
            licenses: Vec::new(),
            location: "packages[0]".into(),
        }
    }

    fn m(entry: &str, p: &Package) -> bool {
        PackageMatcher::parse(entry).unwrap().matches(p)
    }

    #[test]
    fn spdx_document() {
        let s = parse(SPDX).unwrap();
        assert_eq!(
            s.format,
            SbomFormat::Spdx {
                version: "2.3".into()
            }
        );
        assert_eq!(s.format.to_string(), "SPDX-2.3");
        assert_eq!(s.created, Some(1_717_063_200));
        assert_eq!(s.packages.len(), 4);
        let p = &s.packages[0];
        assert_eq!(p.name, "log4j-core");
        assert_eq!(p.version.as_deref(), Some("2.14.1"));
        assert_eq!(
            p.purl.as_deref(),
            Some("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1")
        );
        assert_eq!(p.licenses, vec!["Apache-2.0".to_string()]);
        assert_eq!(p.location, "packages[0]");
        assert_eq!(p.group, None);
        // SPDX 2.2 spelling of the category
        assert_eq!(
            s.packages[1].purl.as_deref(),
            Some("pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1")
        );
        assert_eq!(s.packages[1].licenses, vec!["MIT".to_string()]);
        assert_eq!(s.packages[2].version, None);
        assert_eq!(
            s.packages[2].licenses,
            vec!["MIT AND AGPL-3.0-only".to_string()]
        );
        assert_eq!(s.packages[2].purl, None);
        assert_eq!(s.packages[3].version.as_deref(), Some("7"));
        assert!(s.packages[3].licenses.is_empty());
        assert_eq!(s.packages[3].location, "packages[3]");
    }

    #[test]
    fn cyclonedx_document() {
        let s = parse(CDX).unwrap();
        assert_eq!(s.format.to_string(), "CycloneDX 1.5");
        assert_eq!(s.created, Some(1_717_063_200));
        let locs: Vec<&str> = s.packages.iter().map(|p| p.location.as_str()).collect();
        assert_eq!(
            locs,
            [
                "metadata.component",
                "components[0]",
                "components[0].components[0]",
                "components[0].components[0].components[0]",
                "components[1]",
                "components[2]"
            ]
        );
        let p = &s.packages[1];
        assert_eq!(p.group.as_deref(), Some("org.apache.logging.log4j"));
        assert_eq!(p.licenses, vec!["Apache-2.0".to_string()]);
        assert_eq!(
            s.packages[2].licenses,
            vec!["GNU Affero GPL, see AGPL-3.0-only".to_string()]
        );
        assert_eq!(
            s.packages[3].licenses,
            vec!["MIT OR GPL-2.0-only".to_string()]
        );
        assert_eq!(
            s.packages[4].licenses,
            vec!["MIT".to_string(), "AGPL-3.0-or-later".to_string()]
        );
        assert_eq!(s.packages[5].version, None);
        assert_eq!(s.packages[0].name, "registry.example/app");
    }

    #[test]
    fn wrapped_shapes() {
        let as_string = serde_json::to_string(SPDX).unwrap();
        let s = parse(&as_string).unwrap();
        assert_eq!(s.packages.len(), 4);
        let custom = format!(r#"{{"Data": {as_string}, "Timestamp": "2024-05-30T10:00:00Z"}}"#);
        assert_eq!(parse(&custom).unwrap().packages.len(), 4);
        let custom_obj = format!(r#"{{"Data": {CDX}, "Timestamp": "2024-05-30T10:00:00Z"}}"#);
        let s = parse(&custom_obj).unwrap();
        assert_eq!(s.format.to_string(), "CycloneDX 1.5");
        assert_eq!(s.packages.len(), 6);
        // a string holding a custom wrapper holding a string
        let twice = serde_json::to_string(&custom).unwrap();
        assert_eq!(parse(&twice).unwrap().packages.len(), 4);
        // leading whitespace
        assert!(parse(&format!("\n  {CDX}")).is_ok());
        // too many layers
        let mut t = SPDX.to_string();
        for _ in 0..8 {
            t = serde_json::to_string(&t).unwrap();
        }
        assert!(matches!(parse(&t), Err(SbomError::NotAnSbom { .. })));
    }

    fn err(text: &str) -> SbomError {
        match parse(text) {
            Ok(s) => panic!("{text:?} parsed: {s:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn malformed_inputs() {
        let e = err("not json");
        assert!(matches!(e, SbomError::NotJson { .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with("the predicate is not valid JSON: "),
            "{e}"
        );
        assert!(e.to_string().contains("line 1 column"), "{e}");
        assert!(matches!(err(""), SbomError::NotJson { .. }));
        assert!(matches!(err("   "), SbomError::NotJson { .. }));
        let e = err(r#"{"spdxVersion": "SPDX-2.3", "packages": [}"#);
        assert!(matches!(e, SbomError::NotJson { .. }), "{e}");
        let e = err("{\"spdxVersion\": \"SPDX-2.3\",\n \"packages\": [");
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = err("[1, 2]");
        assert!(matches!(e, SbomError::NotAnSbom { .. }));
        assert!(e.to_string().contains("is an array"), "{e}");
        for t in ["null", "42", "-1.5", "true"] {
            assert!(matches!(err(t), SbomError::NotAnSbom { .. }), "{t}");
        }
        assert!(matches!(err("[1, "), SbomError::NotJson { .. }));
        let e = err(r#"{"foo": 1}"#);
        assert_eq!(
            e.to_string(),
            "the predicate is neither an SPDX (spdxVersion) nor a CycloneDX (bomFormat) document"
        );
        let e = err(r#""just text""#);
        assert!(
            e.to_string()
                .starts_with("the JSON text inside the predicate is not valid JSON"),
            "{e}"
        );
        let e = err(r#"{"Data": "{nope", "Timestamp": "x"}"#);
        assert!(
            e.to_string().starts_with(
                "the JSON text inside the Data field of the predicate is not valid JSON"
            ),
            "{e}"
        );
        let e = err(r#"{"Data": {"a": 1}}"#);
        assert!(
            e.to_string()
                .contains("the Data field of the predicate is neither"),
            "{e}"
        );
        let e = err(r#"{"spdxVersion": "SPDX-3.0"}"#);
        assert!(matches!(e, SbomError::NotAnSbom { .. }) && e.to_string().contains("SPDX-3.0"));
        let e =
            err(r#"{"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld", "@graph": []}"#);
        assert!(e.to_string().contains("SPDX 3"), "{e}");
        assert!(matches!(
            err(r#"{"spdxVersion": 2}"#),
            SbomError::Invalid { .. }
        ));
        assert!(matches!(
            err(r#"{"bomFormat": "SPDX"}"#),
            SbomError::NotAnSbom { .. }
        ));
        let e = err(r#"{"bomFormat": "CycloneDX"}"#);
        assert!(matches!(e, SbomError::Invalid { .. }) && e.to_string().contains("specVersion"));
        assert!(matches!(
            err(r#"{"bomFormat": "CycloneDX", "specVersion": "2.0"}"#),
            SbomError::NotAnSbom { .. }
        ));
        // wrong types in fields
        let e = err(r#"{"spdxVersion": "SPDX-2.3", "packages": "many"}"#);
        assert!(matches!(e, SbomError::Invalid { .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with("the predicate is not a valid SPDX-2.3 document: invalid type"),
            "{e}"
        );
        assert!(e.to_string().contains("column"), "{e}");
        let e = err(r#"{"spdxVersion": "SPDX-2.3", "packages": [{"name": {"x": 1}}]}"#);
        assert!(matches!(e, SbomError::Invalid { .. }), "{e}");
        let e = err(r#"{"spdxVersion": "SPDX-2.3", "packages": [1]}"#);
        assert!(matches!(e, SbomError::Invalid { .. }), "{e}");
        let e = err(
            r#"{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"name": "a", "licenses": {"id": "MIT"}}]}"#,
        );
        assert!(
            e.to_string()
                .starts_with("the predicate is not a valid CycloneDX 1.6 document"),
            "{e}"
        );
        // deep nesting: an error, never a stack overflow
        let mut deep =
            String::from(r#"{"bomFormat": "CycloneDX", "specVersion": "1.5", "components": "#);
        for _ in 0..5000 {
            deep.push_str(r#"[{"name": "x", "components": "#);
        }
        deep.push_str("null");
        for _ in 0..5000 {
            deep.push_str("}]");
        }
        deep.push('}');
        assert!(parse(&deep).is_err());
        let arrays = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(&arrays).is_err());
    }

    #[test]
    fn lenient_but_empty_documents() {
        let s = parse(r#"{"spdxVersion": "SPDX-2.2"}"#).unwrap();
        assert!(s.packages.is_empty());
        assert_eq!(s.created, None);
        let s = parse(r#"{"spdxVersion": "SPDX-2.3", "packages": null, "creationInfo": {"created": "yesterday"}}"#)
            .unwrap();
        assert!(s.packages.is_empty());
        assert_eq!(s.created, None);
        let s = parse(r#"{"bomFormat": "CycloneDX", "specVersion": "1.4", "metadata": {"timestamp": "2024-01-01"}}"#)
            .unwrap();
        assert!(s.packages.is_empty());
        assert_eq!(s.created, None);
        let s = parse(
            r#"{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"version": "", "purl": "", "licenses": [{}, {"license": {}}, {"expression": "NOASSERTION"}]}]}"#,
        )
        .unwrap();
        let p = &s.packages[0];
        assert_eq!((p.name.as_str(), &p.version, &p.purl), ("", &None, &None));
        assert!(p.licenses.is_empty());
    }

    #[test]
    fn matcher_parsing() {
        for ok in [
            "pkg:npm/event-stream@3.3.6",
            "pkg:npm/event-stream",
            "pkg:maven/org.apache.logging.log4j/log4j-core@<2.17.1",
            "pkg:maven/org.apache.logging.log4j/log4j-core@>=2.0.0 <2.17.1 || 1.2.17",
            "log4j-core@<2.17.1",
            "log4j-core@>=2.0.0 <2.17.1 || 1.2.17",
            "@babel/core@7.0.0",
            "@babel/core",
            "openssl",
            "openssl@*",
            " lodash@^4.17.0 ",
        ] {
            let m = PackageMatcher::parse(ok).unwrap();
            assert_eq!(m.as_str(), ok.trim());
        }
        for bad in [
            "",
            "  ",
            "log4j@<<1",
            "foo@",
            "@",
            "@babel/core@",
            "pkg:npm/foo@",
            "pkg:npm",
            "pkg:npm/fo%zz",
            "foo@latest",
            "foo@1.0 ||",
            "a\u{7}b",
            "foo@>=1 <",
        ] {
            assert!(
                PackageMatcher::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        let e = PackageMatcher::parse("log4j@<<1").unwrap_err();
        assert!(e.contains("log4j@<<1") && e.contains("'<'"), "{e}");
        let scoped = PackageMatcher::parse("@babel/core@7.0.0").unwrap();
        assert_eq!(
            scoped.target,
            Target::Name {
                lower: "@babel/core".into(),
                pep503: "@babel/core".into()
            }
        );
        assert_eq!(PackageMatcher::parse("openssl@*").unwrap().version, None);
    }

    #[test]
    fn purl_matching() {
        let log4j = pkg(
            "log4j-core",
            None,
            Some("2.14.1"),
            Some("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1?type=jar#x"),
        );
        assert!(m(
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
            &log4j
        ));
        assert!(m("pkg:maven/org.apache.logging.log4j/log4j-core", &log4j));
        assert!(m(
            "pkg:maven/org.apache.logging.log4j/log4j-core@<2.17.1",
            &log4j
        ));
        assert!(m(
            "PKG:Maven/org.apache.logging.log4j/log4j-core@>=2.0 <2.17.1?classifier=x",
            &log4j
        ));
        assert!(!m(
            "pkg:maven/org.apache.logging.log4j/log4j-core@>=2.17.1",
            &log4j
        ));
        assert!(!m(
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.2",
            &log4j
        ));
        assert!(!m("pkg:maven/org.apache.logging.log4j/Log4j-Core", &log4j)); // maven is case-sensitive
        assert!(!m("pkg:maven/log4j-core", &log4j));
        assert!(!m("pkg:npm/log4j-core", &log4j));
        let es = pkg(
            "event-stream",
            None,
            Some("3.3.6"),
            Some("pkg:npm/event-stream@3.3.6"),
        );
        assert!(m("pkg:npm/Event-Stream@3.3.6", &es));
        assert!(m("pkg:npm/event-stream@3.3.x", &es));
        let scoped = pkg(
            "@babel/core",
            None,
            Some("7.0.0"),
            Some("pkg:npm/%40babel/core@7.0.0"),
        );
        assert!(m("pkg:npm/@babel/core@7.0.0", &scoped));
        assert!(m("pkg:npm/%40babel/core", &scoped));
        assert!(!m("pkg:npm/core", &scoped));
        let py = pkg("PyYAML", None, Some("5.3"), Some("pkg:pypi/PyYAML@5.3"));
        assert!(m("pkg:pypi/pyyaml@<5.4", &py));
        let te = pkg(
            "typing_extensions",
            None,
            Some("4.0"),
            Some("pkg:pypi/typing_extensions@4.0"),
        );
        assert!(m("pkg:pypi/typing-extensions", &te));
        let go = pkg(
            "github.com/gin-gonic/gin",
            None,
            Some("v1.9.0"),
            Some("pkg:golang/github.com/gin-gonic/gin@v1.9.0"),
        );
        assert!(m("pkg:golang/github.com/Gin-Gonic/gin@<1.9.1", &go));
        assert!(m("pkg:golang/github.com/gin-gonic/gin@1.9.0", &go));
        let deb = pkg(
            "libssl3",
            None,
            Some("3.0.11-1~deb12u2"),
            Some("pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12"),
        );
        assert!(m("pkg:deb/debian/libssl3@<3.0.11-1", &deb));
        assert!(m("pkg:deb/debian/libssl3@3.0.11-1%7Edeb12u2", &deb));
        // no purl → purl entries cannot match, name entries can
        let bare = pkg("event-stream", None, Some("3.3.6"), None);
        assert!(!m("pkg:npm/event-stream", &bare));
        assert!(m("event-stream@3.3.6", &bare));
        // purl without version: the package's version is used
        let nov = pkg(
            "event-stream",
            None,
            Some("3.3.6"),
            Some("pkg:npm/event-stream"),
        );
        assert!(m("pkg:npm/event-stream@3.3.6", &nov));
        // unparseable purl
        let junk = pkg("x", None, Some("1"), Some("not a purl"));
        assert!(!m("pkg:npm/x", &junk));
        assert!(m("x@1", &junk));
    }

    #[test]
    fn name_matching() {
        let log4j = pkg(
            "log4j-core",
            Some("org.apache.logging.log4j"),
            Some("2.14.1"),
            None,
        );
        assert!(m("log4j-core", &log4j));
        assert!(m("Log4j-Core@<2.17.1", &log4j));
        assert!(m("log4j-core@>=2.0.0 <2.17.1 || 1.2.17", &log4j));
        assert!(m("org.apache.logging.log4j/log4j-core@2.14.1", &log4j));
        assert!(m("org.apache.logging.log4j:log4j-core@v2.14.1", &log4j));
        assert!(!m("log4j-core@>=2.17.1", &log4j));
        assert!(!m("log4j", &log4j));
        assert!(!m("log4j-core@2.14", &log4j));
        let old = pkg("log4j-core", None, Some("1.2.17"), None);
        assert!(m("log4j-core@>=2.0.0 <2.17.1 || 1.2.17", &old));
        // SPDX: group comes from the purl namespace
        let spdx = pkg(
            "log4j-core",
            None,
            Some("2.14.1"),
            Some("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"),
        );
        assert!(m("org.apache.logging.log4j:log4j-core@<2.17.1", &spdx));
        let scoped = pkg("core", Some("@babel"), Some("7.0.0"), None);
        assert!(m("@babel/core@7.0.0", &scoped));
        assert!(!m("@babel/core@7.0.1", &scoped));
        let go = pkg(
            "github.com/gin-gonic/gin",
            None,
            Some("v1.9.0"),
            Some("pkg:golang/github.com/gin-gonic/gin@v1.9.0"),
        );
        assert!(m("github.com/gin-gonic/gin@<1.9.1", &go));
        let py = pkg(
            "typing_extensions",
            None,
            Some("4.0"),
            Some("pkg:pypi/typing-extensions@4.0"),
        );
        assert!(m("Typing.Extensions@4", &py));
        let not_py = pkg("typing_extensions", None, Some("4.0"), None);
        assert!(!m("typing-extensions", &not_py));
        // unknown versions
        let unknown = pkg("openssl", None, None, None);
        assert!(m("openssl", &unknown));
        assert!(m("openssl@*", &unknown));
        assert!(!m("openssl@<3", &unknown));
        assert!(!m("openssl@1.1.1", &unknown));
        let ranged = PackageMatcher::parse("openssl@<3").unwrap();
        assert!(ranged.has_version() && ranged.names(&unknown) && !ranged.matches(&unknown));
        assert!(!PackageMatcher::parse("openssl").unwrap().has_version());
        assert!(!PackageMatcher::parse("libssl@<3").unwrap().names(&unknown));
        // version from the purl when the package has none
        let via_purl = pkg(
            "openssl",
            None,
            None,
            Some("pkg:apk/alpine/openssl@3.1.4-r0"),
        );
        assert!(m("openssl@<3.1.5", &via_purl));
    }

    #[test]
    fn evaluation_and_messages() {
        let s = parse(SPDX).unwrap();
        let r = rule(
            &[
                "log4j-core@<2.17.1",
                "pkg:maven/org.apache.logging.log4j/log4j-core",
            ],
            &["AGPL-3.0-only"],
        );
        let f = evaluate(&s, &r);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].kind, FindingKind::DeniedPackage);
        assert_eq!(f[0].matched, "log4j-core@<2.17.1");
        assert_eq!(
            f[0].message(),
            "package log4j-core 2.14.1 (pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1) at packages[0] is denied by \"log4j-core@<2.17.1\""
        );
        assert_eq!(f[1].kind, FindingKind::DeniedLicense);
        assert_eq!(f[1].expression.as_deref(), Some("MIT AND AGPL-3.0-only"));
        assert_eq!(
            f[1].message(),
            "package agpl-thing at packages[2] has licence \"MIT AND AGPL-3.0-only\", denied by AGPL-3.0-only"
        );
        // policy order decides which entry is named
        let r = rule(
            &[
                "pkg:maven/org.apache.logging.log4j/log4j-core",
                "log4j-core@<2.17.1",
            ],
            &[],
        );
        let f = evaluate(&s, &r);
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].matched,
            "pkg:maven/org.apache.logging.log4j/log4j-core"
        );
        // nothing denied
        assert!(evaluate(&s, &SbomRule::default()).is_empty());
        assert!(
            evaluate(
                &s,
                &rule(&["log4j-core@>=2.17.1", "pkg:npm/musl"], &["GPL-2.0"])
            )
            .is_empty()
        );
    }

    #[test]
    fn cyclonedx_evaluation() {
        let s = parse(CDX).unwrap();
        let r = rule(
            &[
                "pkg:npm/event-stream@3.3.6",
                "org.apache.logging.log4j:log4j-core@<2.17.1",
                "nopurl",
            ],
            &["AGPL-3.0-only", "AGPL-3.0-or-later", "GPL-2.0-only"],
        );
        let f = evaluate(&s, &r);
        let got: Vec<(FindingKind, &str, &str)> = f
            .iter()
            .map(|f| (f.kind, f.location.as_str(), f.matched.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    FindingKind::DeniedPackage,
                    "components[0]",
                    "org.apache.logging.log4j:log4j-core@<2.17.1"
                ),
                // free-text name: by tokens
                (
                    FindingKind::DeniedLicense,
                    "components[0].components[0]",
                    "AGPL-3.0-only"
                ),
                // "MIT OR GPL-2.0-only": MIT can be chosen → not denied
                (
                    FindingKind::DeniedPackage,
                    "components[1]",
                    "pkg:npm/event-stream@3.3.6"
                ),
                (
                    FindingKind::DeniedLicense,
                    "components[1]",
                    "AGPL-3.0-or-later"
                ),
                (FindingKind::DeniedPackage, "components[2]", "nopurl"),
            ]
        );
        assert_eq!(
            f[3].message(),
            "package event-stream 3.3.6 (pkg:npm/event-stream@3.3.6) at components[1] has licence \"AGPL-3.0-or-later\", denied by AGPL-3.0-or-later"
        );
        assert_eq!(
            f[4].message(),
            "package nopurl at components[2] is denied by \"nopurl\""
        );
    }

    #[test]
    fn licence_entries_each_count() {
        let mut p = pkg("dual", None, Some("1.0"), None);
        p.licenses = vec![
            "MIT".into(),
            "GPL-2.0 OR AGPL-3.0".into(),
            "AGPL-3.0".into(),
        ];
        let s = Sbom {
            format: SbomFormat::Spdx {
                version: "2.3".into(),
            },
            created: None,
            packages: vec![p],
        };
        // the first denied entry is reported; for OR, its first alternative's deny entry
        let f = evaluate(&s, &rule(&[], &["agpl-3.0", "GPL-2.0"]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].matched, "GPL-2.0-only");
        assert_eq!(f[0].expression.as_deref(), Some("GPL-2.0 OR AGPL-3.0"));
        let f = evaluate(&s, &rule(&[], &["AGPL-3.0-only"]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].matched, "AGPL-3.0-only");
        assert_eq!(f[0].expression.as_deref(), Some("AGPL-3.0"));
        assert!(evaluate(&s, &rule(&[], &["GPL-2.0-only"])).is_empty());
        // SPDX concluded and declared both checked
        let doc = r#"{"spdxVersion": "SPDX-2.3", "packages": [
            {"name": "a", "licenseConcluded": "MIT", "licenseDeclared": "GPL-3.0+"}]}"#;
        let f = evaluate(&parse(doc).unwrap(), &rule(&[], &["GPL-3.0-or-later"]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].expression.as_deref(), Some("GPL-3.0+"));
    }

    #[test]
    fn hostile_text_is_shown_safely() {
        let mut p = pkg("evil\u{1b}[31mname", None, Some("1\n2"), None);
        p.licenses = vec!["AGPL-3.0-only\u{7}".into()];
        let long = "x".repeat(10_000);
        let q = pkg(&long, None, None, None);
        let s = Sbom {
            format: SbomFormat::CycloneDx {
                spec_version: "1.5".into(),
            },
            created: None,
            packages: vec![p, q],
        };
        let f = evaluate(&s, &rule(&["evil*name", "x*"], &["AGPL-3.0-only"]));
        // "evil*name" is a literal name, not a glob
        assert!(
            f.iter().all(|f| f.kind == FindingKind::DeniedLicense),
            "{f:?}"
        );
        let msg = f[0].message();
        assert!(!msg.chars().any(char::is_control), "{msg:?}");
        let f = evaluate(&s, &rule(&[&long], &[]));
        assert_eq!(f.len(), 1);
        assert!(f[0].package.chars().count() <= MAX_SHOWN + 1);
    }
}
