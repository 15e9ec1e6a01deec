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
        .and_then(|s| crate::base::time::parse_rfc3339(s.trim()).ok())
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
mod tests;
