//! Vulnerability-scan attestations (pure): reading the scan result a signed `vuln` (or
//! `custom`) attestation carries, and evaluating a policy's `vulnerabilities` rule on it.
//! No I/O and no clock: the instant scan ages are measured at is an argument.
//!
//! # Accepted predicates ([`parse`])
//! [`parse`] takes the raw JSON text of the in-toto statement's `predicate`:
//! - **cosign vuln** (`https://cosign.sigstore.dev/attestation/vuln/v1`, what
//!   `cosign attest --type vuln` and `trivy -f cosign-vuln` write): `{"invocation",
//!   "scanner": {"uri", "version", "db", "result"}, "metadata": {"scanStartedOn",
//!   "scanFinishedOn"}}`. `scanner.result` is a Trivy JSON report, a SARIF log or a
//!   CycloneDX BOM with vulnerabilities (an object, or a JSON string holding one); `null` or
//!   absent means no result, so no vulnerabilities.
//! - **Trivy JSON report** (`trivy image -f json`, `SchemaVersion` 2, or no
//!   `SchemaVersion` at all): every `Results[].Vulnerabilities[]` entry. Misconfigurations,
//!   secrets and licenses are not vulnerabilities.
//! - **SARIF 2.1.0 log** (`trivy -f sarif`, `grype -o sarif`): every `runs[].results[]`,
//!   except results of `kind` `pass` or `notApplicable` and results whose rule Trivy tags as
//!   a `misconfiguration`, `secret` or `license` finding (without `vulnerability`).
//!   `suppressions` and `baselineState` are not honoured: only the policy's `ignore` list
//!   silences a vulnerability.
//! - **CycloneDX 1.x JSON BOM with vulnerabilities** (`bomFormat: "CycloneDX"`,
//!   `specVersion` `1.x`, a `vulnerabilities` array; CycloneDX 1.4–1.6 as `trivy
//!   --format cyclonedx --scanners vuln`, `grype -o cyclonedx-json` and SBOM-then-scan
//!   pipelines write them, and standalone CycloneDX VEX / VDR documents): every
//!   `vulnerabilities[]` entry, once per affected package (see below). A CycloneDX document
//!   **without** a `vulnerabilities` key (or with `vulnerabilities: null`) is a plain SBOM
//!   and [`ScanError::NotAScan`], saying it carries no `vulnerabilities`, so a
//!   `vulnerabilities` rule pointed at an SBOM attestation fails clearly; an empty
//!   `vulnerabilities: []` is a clean scan. A `specVersion` that is not `1.x` is not a scan;
//!   a missing or non-string `specVersion` is [`ScanError::Invalid`].
//! - any of these wrapped as cosign's `custom` predicate, `{"Data": <the document, or a
//!   JSON string holding it>, "Timestamp": "…"}`, or as a JSON string holding the document.
//!
//! Anything else is [`ScanError::NotAScan`]. Wrong JSON types where the list of
//! vulnerabilities lives (`Results`, `Vulnerabilities`, `runs`, `results`, `rules`,
//! `vulnerabilities`, `ratings`, `affects`, `references`, `analysis`, `components`, …), a
//! vulnerability without an id, an unreadable time, duplicate keys, a `SchemaVersion` other
//! than 2, a SARIF `version` other than 2.1.0 or `runs: null` (the tool failed) are
//! [`ScanError::Invalid`], with the line and column when the JSON parser gives them: a
//! document that cannot be read completely is never taken as clean. `null` containers
//! and `null` array entries are empty. Descriptive fields of the wrong type (package
//! name, version, scanner name, aliases) are left out.
//!
//! ## Vulnerability ids
//! Trivy: `VulnerabilityID`, with `VendorIDs` as aliases. SARIF: the result's `ruleId`
//! (else its rule's `id`); when that embeds a CVE or GHSA id, as Grype's
//! `CVE-2021-44228-log4j-core` or Trivy's old `[HIGH] CVE-2021-44228` do, the embedded
//! id is the id and the full `ruleId` an alias; otherwise, when the result message or the
//! rule help has a `Vulnerability <id>` line (Trivy, Grype) naming the `ruleId` or its
//! first part before a `-` (Grype's `TEMP-0841856-B18BAF-bash`), that id. The package and installed version come
//! from the result message's `Package:` / `Installed Version:` lines (Trivy), else from
//! the rule help's `Package:` / `Installed Version:` / `Version:` lines (Grype).
//!
//! CycloneDX: `id`, with the `references[].id` of the same entry as aliases (CycloneDX
//! lists there the other ids of the same vulnerability: the GHSA behind a CVE, a vendor
//! advisory); only values that look like advisory ids are taken (an ASCII letter first,
//! then letters, digits, `-`, `_`, `.` or `:`, with a digit and a `-`, `_` or `:`, at most
//! 128 characters, not a `urn:`), so URLs and URNs put there are left out; repeats count
//! once. Each affected package gets the entry's aliases, and a document that would make
//! more than 2^20 alias strings in all that way is [`ScanError::Invalid`] (a small document
//! must not make a huge scan).
//!
//! ## CycloneDX packages and VEX analysis
//! - Each `affects[].ref` is a `bom-ref`, looked up among `metadata.component` and
//!   `components[]` (nested `components` included, first occurrence of a `bom-ref` wins),
//!   else among their `purl`s. A component found gives the package name (`group:name` for a
//!   Maven purl, as Trivy names jars; `group/name` for other groups; `name`, else the purl)
//!   and its `version` (else the purl's version). A ref found nowhere (a BOM-Link into
//!   another BOM, as standalone VEX documents write) is used as the package name, without a
//!   version.
//! - An entry with several `affects` gives one vulnerability per affected package (so
//!   findings, one per (id, package), keep them apart), located at
//!   `vulnerabilities[3].affects[1]`; with one affect (or none, giving no package) it is
//!   located at `vulnerabilities[3]`. `null` entries of `affects` are skipped, but an
//!   entry is never dropped for want of a usable affect.
//! - `analysis.state` `not_affected`, `false_positive` or `resolved` (case-insensitive)
//!   leaves the entry out: sealgate trusts the VEX statement the signed attestation itself
//!   makes, as it trusts the scan it carries. Every other state (`exploitable`,
//!   `in_triage`, `resolved_with_pedigree`, anything else, a state that is not a string, no
//!   analysis) keeps the entry: only the three states that say the vulnerability does not
//!   apply silence it. `affects[].versions[].status` is not read.
//!
//! ## Severity
//! Trivy `Severity`: `CRITICAL`, `HIGH`, `MEDIUM` (or `MODERATE`), `LOW` (or
//! `NEGLIGIBLE`), `NONE`; `UNKNOWN`, absent, or any other value: unknown.
//!
//! SARIF, the first of these that gives one (rule before result at each step):
//! 1. `properties["security-severity"]` (a CVSS score, string or number) above 0:
//!    0.1–3.9 low, 4.0–6.9 medium, 7.0–8.9 high, 9.0–10.0 critical. Scores outside
//!    0–10 or not numbers are ignored.
//! 2. a severity word in `properties.tags` (`CRITICAL`, `HIGH`, `MEDIUM`, `LOW`, …;
//!    `UNKNOWN`: unknown), the first one found.
//! 3. a `Severity: <word>` line in the result message or the rule help text, as Trivy and
//!    Grype write them (both write a score of `0.0` for a vulnerability of unknown
//!    severity, so a zero score alone does not decide).
//! 4. a score of exactly 0: none.
//! 5. the result's `level`, else the rule's `defaultConfiguration.level`: `error` →
//!    critical (fail closed: scanners use `error` for both high and critical), `warning` →
//!    medium, `note` → low, `none` → none.
//! 6. otherwise unknown.
//!
//! CycloneDX, from the entry's `ratings[]`:
//! 1. the highest `severity` word among them: `critical`, `high`, `medium`, `low`, `info`
//!    (taken as **low**: an informational rating is still a listed vulnerability, ranked
//!    above `none` by CycloneDX, and Grype writes its `negligible`, low here, as `info`;
//!    so `maxSeverity: none` fails on it and any other limit passes it), `none` (none),
//!    and the Trivy words above; `unknown` and other words give nothing here.
//! 2. else the highest CVSS band of a `score` above 0 whose `method` is `CVSSv2`,
//!    `CVSSv3`, `CVSSv31` or `CVSSv4` (case-insensitive; a score without one of these
//!    methods, as OWASP risk or SSVC, is not a CVSS score and is not read).
//! 3. else, when a rating says `unknown`: unknown.
//! 4. else a CVSS score of exactly 0: none.
//! 5. otherwise (no ratings, no usable rating) unknown.
//!
//! **Unknown severity counts as critical** (fail closed): [`Vulnerability::severity`] is
//! then [`Severity::Critical`] and [`Vulnerability::severity_unknown`] is set.
//!
//! ## Scan time ([`Scan::finished`])
//! cosign vuln: `metadata.scanFinishedOn` (cosign's zero value `0001-01-01T00:00:00Z` is
//! taken as written: a scan from year 1, so a `maxAge` rule fails), else the embedded
//! document's own time. Trivy: `CreatedAt`. SARIF: the latest `invocations[].endTimeUtc`
//! (Trivy writes none). CycloneDX: `metadata.timestamp`. Wrapped documents without a time
//! of their own: the wrapper's `Timestamp`.
//!
//! ## Scanner ([`Scan::scanner`])
//! CycloneDX: `metadata.tools`, either the 1.4 (and legacy 1.5+) array of `{vendor, name,
//! version}` or the 1.5+ object `{components: [{name, version, …}], services: […]}`:
//! `name version` of each tool (`trivy 0.50.1`), joined with `, ` when there are several
//! (`syft 1.0.1, grype 0.74.7`), at most 8; tools of the wrong shape are left out.
//!
//! # Rules ([`evaluate`])
//! - Ids compare case-insensitively; a `deny` or `ignore` entry matches a vulnerability by
//!   its id or any of its aliases (a GHSA id matches the CVE that names it as an alias and
//!   the other way round, when the document links them).
//! - `deny`: a listed vulnerability present fails the rule (`Denied`), whatever its
//!   severity; `ignore` does not override `deny`.
//! - `maxSeverity`: a vulnerability not ignored with a severity above it fails the rule
//!   (`TooSevere`); unknown severity counts as critical. `maxSeverity: critical` never
//!   fails; `none` fails on any vulnerability of low severity or more.
//! - `maxAge`: the scan finished longer than `maxAge` before now fails the rule
//!   (`TooOld`), and so does a scan without a finish time. A finish time in the future
//!   counts as age 0.
//! - One finding per (id, package) and kind: a vulnerability reported in several targets
//!   or files is named once (at its most severe occurrence, then its first).
//! - Findings come `Denied` first (document order), then `TooSevere` (most severe first,
//!   then document order), then `TooOld`. Nothing is truncated here.
//! - Durations in messages are written as days, hours, minutes and seconds, zero parts
//!   left out: `8d8h`, `7d`, `1h30m`, `0s`.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::time::{format_rfc3339, parse_rfc3339};

/// How many JSON strings holding JSON documents are unwrapped, at most, one inside another.
const MAX_EMBEDDING: usize = 3;
/// Go's zero `time.Time` (`0001-01-01T00:00:00Z`) in seconds since the epoch.
const GO_ZERO_TIME: i64 = -62_135_596_800;
/// Object keys named in a [`ScanError::NotAScan`] message, at most.
const KEYS_NAMED: usize = 8;

const COSIGN: &str = "cosign vuln predicate";
const TRIVY: &str = "Trivy JSON report";
const SARIF: &str = "SARIF log";
const CYCLONEDX: &str = "CycloneDX BOM";
/// The documents `scanner.result` may hold, for messages.
const RESULT_KINDS: &str =
    "a Trivy JSON report, a SARIF log or a CycloneDX BOM with vulnerabilities";
/// Tools named in a CycloneDX [`Scan::scanner`], at most.
const TOOLS_NAMED: usize = 8;
/// Alias strings a CycloneDX document may make, at most, counting each entry's aliases
/// once per affected package (the document is [`ScanError::Invalid`] beyond: a small
/// document must not make a huge scan). Real documents stay far below.
const MAX_CDX_ALIAS_COPIES: usize = 1 << 20;
const WRAPPER: &str = "scan document";

/// A vulnerability's severity, ordered from `None` to `Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// No severity (a CVSS score of 0).
    None,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// Parses a policy value: `none`, `low`, `medium`, `high` or `critical`
    /// (case-insensitive, surrounding blanks ignored).
    ///
    /// # Errors
    /// The problem, as text for the policy error.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "low" => Ok(Self::Low),
            "medium" => Ok(Self::Medium),
            "high" => Ok(Self::High),
            "critical" => Ok(Self::Critical),
            _ => Err(format!(
                "unknown severity {s:?} (expected none, low, medium, high or critical)"
            )),
        }
    }

    /// The lowercase name (`none` … `critical`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// A CVSS score's band; `None` when the score is not within 0–10.
    fn from_score(score: f64) -> Option<Self> {
        if !score.is_finite() || !(0.0..=10.0).contains(&score) {
            return None;
        }
        Some(if score >= 9.0 {
            Self::Critical
        } else if score >= 7.0 {
            Self::High
        } else if score >= 4.0 {
            Self::Medium
        } else if score > 0.0 {
            Self::Low
        } else {
            Self::None
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A severity word as scanners write it: `Some(Some(_))` a severity, `Some(None)` the
/// word "unknown", `None` not a severity word.
fn scanner_word(w: &str) -> Option<Option<Severity>> {
    match w.trim().to_ascii_lowercase().as_str() {
        "critical" => Some(Some(Severity::Critical)),
        "high" => Some(Some(Severity::High)),
        "medium" | "moderate" => Some(Some(Severity::Medium)),
        "low" | "negligible" => Some(Some(Severity::Low)),
        "none" => Some(Some(Severity::None)),
        "unknown" => Some(None),
        _ => None,
    }
}

/// Which document a [`Scan`] was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanFormat {
    /// A cosign vuln predicate; `inner` is what its `scanner.result` held: `"trivy"`,
    /// `"sarif"`, `"cyclonedx"` or `"empty"` (null or absent).
    CosignVuln {
        /// `"trivy"`, `"sarif"`, `"cyclonedx"` or `"empty"`.
        inner: &'static str,
    },
    /// A Trivy JSON report.
    Trivy,
    /// A SARIF 2.1.0 log.
    Sarif,
    /// A CycloneDX 1.x JSON BOM (or VEX / VDR document) with a `vulnerabilities` array.
    CycloneDx,
}

impl fmt::Display for ScanFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CosignVuln { inner: "trivy" } => f.write_str("cosign vuln (Trivy JSON)"),
            Self::CosignVuln { inner: "sarif" } => f.write_str("cosign vuln (SARIF)"),
            Self::CosignVuln { inner: "cyclonedx" } => f.write_str("cosign vuln (CycloneDX)"),
            Self::CosignVuln { inner: "empty" } => f.write_str("cosign vuln (no result)"),
            Self::CosignVuln { .. } => f.write_str("cosign vuln"),
            Self::Trivy => f.write_str("Trivy JSON"),
            Self::Sarif => f.write_str("SARIF"),
            Self::CycloneDx => f.write_str("CycloneDX"),
        }
    }
}

/// A scan result as read from a predicate.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The document's shape.
    pub format: ScanFormat,
    /// Scanner name and version when known (`trivy 0.50.1` from a cosign `scanner.uri` /
    /// `version`, Trivy's `Trivy.Version` or a CycloneDX `metadata.tools`, `Trivy 0.50.1`
    /// from a SARIF `tool.driver`).
    pub scanner: Option<String>,
    /// When the scan finished, seconds since the epoch (see the module doc).
    pub finished: Option<i64>,
    /// Every vulnerability reported, in document order (repeats included).
    pub vulnerabilities: Vec<Vulnerability>,
}

/// One reported vulnerability (one entry of the document).
#[derive(Debug, Clone)]
pub struct Vulnerability {
    /// The id (`CVE-2021-44228`, `GHSA-jfh8-c2jp-5v3q`, …) as the document writes it.
    pub id: String,
    /// Other ids (GHSA ↔ CVE, vendor advisories, a SARIF rule id with a suffix, CycloneDX
    /// `references[].id`) when the document gives them.
    pub aliases: Vec<String>,
    /// The severity; [`Severity::Critical`] when unknown.
    pub severity: Severity,
    /// The document gave no usable severity (counted as critical: fail closed).
    pub severity_unknown: bool,
    /// The affected package's name, when given.
    pub package: Option<String>,
    /// The installed version of the package, when given.
    pub installed_version: Option<String>,
    /// Where in the document: `Results[0].Vulnerabilities[3]`, `runs[0].results[2]`,
    /// `vulnerabilities[3]`, `vulnerabilities[3].affects[1]`,
    /// `scanner.result.Results[0].Vulnerabilities[3]`, `Data.runs[0].results[0]`.
    pub location: String,
}

/// Why a predicate is not a usable scan result.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The text is not JSON.
    #[error("the scan result is not JSON: {message} at line {line} column {column}")]
    NotJson {
        /// The JSON parser's message.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// JSON, but not one of the accepted documents.
    #[error("not a vulnerability scan result: {0}")]
    NotAScan(String),
    /// A recognized document that cannot be read completely.
    #[error("invalid {format}: {message}{}", position(.at))]
    Invalid {
        /// `cosign vuln predicate`, `Trivy JSON report`, `SARIF log`, `CycloneDX BOM` or
        /// `scan document`.
        format: &'static str,
        /// What is wrong, naming the JSON path when known.
        message: String,
        /// (line, column), 1-based, when the JSON parser gives them.
        at: Option<(usize, usize)>,
    },
    /// A problem in a document held as a JSON string inside the predicate.
    #[error("in the document held as a JSON string in {within}: {source}")]
    Embedded {
        /// Where the string is: `the predicate`, `Data` or `scanner.result`.
        within: &'static str,
        /// The problem, with lines and columns of the embedded text.
        source: Box<ScanError>,
    },
}

fn position(at: &Option<(usize, usize)>) -> String {
    match at {
        Some((line, column)) => format!(" at line {line} column {column}"),
        None => String::new(),
    }
}

fn invalid(format: &'static str, message: impl Into<String>) -> ScanError {
    ScanError::Invalid {
        format,
        message: message.into(),
        at: None,
    }
}

/// serde_json's message without its " at line L column C" suffix.
fn bare_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    full.strip_suffix(&suffix).unwrap_or(&full).to_string()
}

fn from_serde(format: &'static str, e: &serde_json::Error) -> ScanError {
    ScanError::Invalid {
        format,
        message: bare_message(e),
        at: (e.line() > 0).then_some((e.line(), e.column())),
    }
}

// ---------------------------------------------------------------------------------------
// Lenient leaves

/// Any JSON value, kept only as far as a leaf field needs it.
#[derive(Debug, Default)]
enum Scalar {
    #[default]
    Absent,
    Null,
    Bool,
    Num(f64),
    Str(String),
    List(Vec<Scalar>),
    Object,
}

impl Scalar {
    /// The trimmed string, when it is a non-blank string.
    fn text(&self) -> Option<&str> {
        match self {
            Self::Str(s) if !s.trim().is_empty() => Some(s.trim()),
            _ => None,
        }
    }

    /// A number, or a string holding one.
    fn number(&self) -> Option<f64> {
        match self {
            Self::Num(n) => Some(*n),
            Self::Str(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
    }

    /// A non-negative integral number usable as an index.
    fn index(&self) -> Option<usize> {
        match self {
            Self::Num(n) if n.is_finite() && *n >= 0.0 && n.fract() == 0.0 && *n < 9.0e15 => {
                Some(*n as usize)
            }
            _ => None,
        }
    }

    /// The non-blank strings of a list (nothing for anything else).
    fn texts(&self) -> impl Iterator<Item = &str> {
        let items: &[Scalar] = match self {
            Self::List(items) => items,
            _ => &[],
        };
        items.iter().filter_map(Scalar::text)
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Absent => "absent",
            Self::Null => "null",
            Self::Bool => "a boolean",
            Self::Num(_) => "a number",
            Self::Str(_) => "a string",
            Self::List(_) => "an array",
            Self::Object => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Num(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Num(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Num(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar::Str(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Scalar, D2::Error> {
                Scalar::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Scalar>()? {
                    items.push(item);
                }
                Ok(Scalar::List(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Object)
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------
// Shape detection: a first pass that validates the JSON and records the keys that tell
// the documents apart, without keeping the rest.

/// The keys recorded (with a nested probe of their values) by the shape-detection pass.
const PROBED: [&str; 13] = [
    "Data",
    "Timestamp",
    "scanner",
    "result",
    "SchemaVersion",
    "Results",
    "runs",
    "version",
    "$schema",
    "predicate",
    "bomFormat",
    "specVersion",
    "vulnerabilities",
];

#[derive(Debug)]
enum Probe {
    Null,
    Bool,
    Number(f64),
    Str(String),
    Array,
    Object(ObjProbe),
}

#[derive(Debug, Default)]
struct ObjProbe {
    /// The first [`KEYS_NAMED`] keys, for messages.
    keys: Vec<String>,
    /// How many keys there are.
    key_count: usize,
    fields: Vec<(&'static str, Probe)>,
}

impl ObjProbe {
    fn get(&self, key: &str) -> Option<&Probe> {
        self.fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn describe(&self) -> String {
        if self.key_count == 0 {
            return "an empty object".into();
        }
        let mut s = format!("an object with keys {}", self.keys.join(", "));
        if self.key_count > self.keys.len() {
            s.push_str(&format!(" and {} more", self.key_count - self.keys.len()));
        }
        s
    }
}

impl Probe {
    fn kind(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool => "a boolean",
            Self::Number(_) => "a number",
            Self::Str(_) => "a string",
            Self::Array => "an array",
            Self::Object(_) => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for Probe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Probe;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Probe, E> {
                Ok(Probe::Bool)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Probe, E> {
                Ok(Probe::Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Probe, E> {
                Ok(Probe::Number(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Probe, E> {
                Ok(Probe::Number(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Probe, E> {
                Ok(Probe::Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Probe, E> {
                Ok(Probe::Str(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Probe, E> {
                Ok(Probe::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Probe, E> {
                Ok(Probe::Null)
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Probe, D2::Error> {
                Probe::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Probe, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Probe::Array)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Probe, A::Error> {
                let mut obj = ObjProbe::default();
                while let Some(key) = map.next_key::<String>()? {
                    obj.key_count += 1;
                    match PROBED.iter().find(|k| **k == key) {
                        Some(name) => {
                            if obj.has(name) {
                                return Err(de::Error::custom(format_args!(
                                    "duplicate key {key:?}"
                                )));
                            }
                            let value = map.next_value::<Probe>()?;
                            obj.fields.push((name, value));
                        }
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                    if obj.keys.len() < KEYS_NAMED {
                        obj.keys.push(key);
                    }
                }
                Ok(Probe::Object(obj))
            }
        }
        d.deserialize_any(V)
    }
}

/// What `scanner.result` of a cosign predicate holds.
#[derive(Debug)]
enum Inner<'a> {
    Trivy,
    Sarif,
    CycloneDx,
    Empty,
    Text(&'a str),
}

/// A scan document (not a wrapper).
#[derive(Debug)]
enum Doc<'a> {
    Trivy,
    Sarif,
    CycloneDx,
    Cosign(Inner<'a>),
}

/// Tells which scan document an object is. `within` names it for messages.
fn classify<'a>(obj: &'a ObjProbe, within: &str) -> Result<Doc<'a>, ScanError> {
    let cosign = obj.has("scanner");
    let trivy = obj.has("SchemaVersion") || obj.has("Results");
    let sarif = obj.has("runs")
        || matches!(obj.get("version"), Some(Probe::Str(v)) if v.trim() == "2.1.0")
        || matches!(obj.get("$schema"), Some(Probe::Str(s)) if s.to_ascii_lowercase().contains("sarif"));
    let cyclonedx = obj.has("bomFormat");
    let kinds: Vec<&str> = [
        (cosign, COSIGN),
        (trivy, TRIVY),
        (sarif, SARIF),
        (cyclonedx, CYCLONEDX),
    ]
    .iter()
    .filter(|(yes, _)| *yes)
    .map(|(_, name)| *name)
    .collect();
    if kinds.len() > 1 {
        return Err(ScanError::NotAScan(format!(
            "{within} mixes the fields of a {}",
            kinds.join(" and a ")
        )));
    }
    if cosign {
        return classify_cosign(obj);
    }
    if cyclonedx {
        return classify_cyclonedx(obj, within);
    }
    if trivy {
        match obj.get("SchemaVersion") {
            None | Some(Probe::Null) => {}
            Some(Probe::Number(n)) if *n == 2.0 => {}
            Some(Probe::Number(n)) => {
                return Err(invalid(
                    TRIVY,
                    format!("unsupported SchemaVersion {n} (sealgate reads SchemaVersion 2)"),
                ));
            }
            Some(other) => {
                return Err(invalid(
                    TRIVY,
                    format!("SchemaVersion is {}, expected the number 2", other.kind()),
                ));
            }
        }
        return Ok(Doc::Trivy);
    }
    if sarif {
        match obj.get("version") {
            None | Some(Probe::Null) => {}
            Some(Probe::Str(v)) if v.trim() == "2.1.0" => {}
            Some(Probe::Str(v)) => {
                return Err(invalid(
                    SARIF,
                    format!("unsupported SARIF version {v:?} (sealgate reads 2.1.0)"),
                ));
            }
            Some(other) => {
                return Err(invalid(
                    SARIF,
                    format!("version is {}, expected \"2.1.0\"", other.kind()),
                ));
            }
        }
        return match obj.get("runs") {
            Some(Probe::Array) => Ok(Doc::Sarif),
            None => Err(invalid(SARIF, "no runs")),
            Some(Probe::Null) => Err(invalid(
                SARIF,
                "runs is null (the tool did not run to completion)",
            )),
            Some(other) => Err(invalid(
                SARIF,
                format!("runs is {}, expected an array", other.kind()),
            )),
        };
    }
    let mut message = format!(
        "{within} is {}; expected a cosign vuln predicate (with scanner), a Trivy JSON \
         report (SchemaVersion 2, Results), a SARIF 2.1.0 log (runs) or a CycloneDX BOM \
         with vulnerabilities (bomFormat, vulnerabilities)",
        obj.describe()
    );
    if obj.has("predicate") {
        message.push_str(" (this looks like an in-toto statement: pass its predicate)");
    }
    Err(ScanError::NotAScan(message))
}

fn classify_cosign(obj: &ObjProbe) -> Result<Doc<'_>, ScanError> {
    let scanner = match obj.get("scanner") {
        Some(Probe::Object(s)) => s,
        Some(other) => {
            return Err(invalid(
                COSIGN,
                format!("scanner is {}, expected an object", other.kind()),
            ));
        }
        None => return Err(invalid(COSIGN, "no scanner")),
    };
    let inner = match scanner.get("result") {
        None | Some(Probe::Null) => Inner::Empty,
        Some(Probe::Str(s)) => Inner::Text(s),
        Some(Probe::Object(o)) => {
            if o.has("Data") {
                return Err(ScanError::NotAScan(format!(
                    "scanner.result is a {{Data, Timestamp}} wrapper, expected {RESULT_KINDS}"
                )));
            }
            match classify(o, "scanner.result")? {
                Doc::Trivy => Inner::Trivy,
                Doc::Sarif => Inner::Sarif,
                Doc::CycloneDx => Inner::CycloneDx,
                Doc::Cosign(_) => {
                    return Err(ScanError::NotAScan(format!(
                        "scanner.result is another cosign vuln predicate, expected \
                         {RESULT_KINDS}"
                    )));
                }
            }
        }
        Some(other) => {
            return Err(invalid(
                COSIGN,
                format!(
                    "scanner.result is {}, expected {RESULT_KINDS}",
                    other.kind()
                ),
            ));
        }
    };
    Ok(Doc::Cosign(inner))
}

/// A CycloneDX document (`bomFormat` present): a scan only with a `vulnerabilities` array.
fn classify_cyclonedx<'a>(obj: &ObjProbe, within: &str) -> Result<Doc<'a>, ScanError> {
    match obj.get("bomFormat") {
        Some(Probe::Str(f)) if f.trim().eq_ignore_ascii_case("CycloneDX") => {}
        Some(Probe::Str(f)) => {
            return Err(ScanError::NotAScan(format!(
                "{within} has bomFormat {f:?}, expected \"CycloneDX\""
            )));
        }
        other => {
            return Err(ScanError::NotAScan(format!(
                "{within} has a bomFormat that is {}, expected \"CycloneDX\"",
                other.map_or("absent", Probe::kind)
            )));
        }
    }
    let spec = match obj.get("specVersion") {
        Some(Probe::Str(s)) if !s.trim().is_empty() => s.trim(),
        None | Some(Probe::Null | Probe::Str(_)) => {
            return Err(invalid(CYCLONEDX, "no specVersion"));
        }
        Some(other) => {
            return Err(invalid(
                CYCLONEDX,
                format!(
                    "specVersion is {}, expected a string such as \"1.5\"",
                    other.kind()
                ),
            ));
        }
    };
    if !spec.starts_with("1.") {
        return Err(ScanError::NotAScan(format!(
            "{within} is a CycloneDX {spec:?} document; sealgate reads CycloneDX 1.x JSON"
        )));
    }
    match obj.get("vulnerabilities") {
        Some(Probe::Array) => Ok(Doc::CycloneDx),
        found @ (None | Some(Probe::Null)) => Err(ScanError::NotAScan(format!(
            "{within} is a CycloneDX {spec} document that carries no `vulnerabilities`{}: \
             an SBOM without vulnerability data, not a scan result ({})",
            if found.is_some() { " (it is null)" } else { "" },
            obj.describe()
        ))),
        Some(other) => Err(invalid(
            CYCLONEDX,
            format!("vulnerabilities is {}, expected an array", other.kind()),
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Typed documents (only the fields used; unknown fields ignored)

#[derive(Deserialize)]
struct Wrapped<T> {
    #[serde(rename = "Data")]
    data: T,
}

#[derive(Deserialize)]
struct CosignDoc<R> {
    scanner: CosignScanner<R>,
    metadata: Option<CosignMetadata>,
}

#[derive(Deserialize)]
struct CosignScanner<R> {
    #[serde(default)]
    uri: Scalar,
    #[serde(default)]
    version: Scalar,
    result: Option<R>,
}

#[derive(Deserialize)]
struct CosignMetadata {
    #[serde(rename = "scanFinishedOn", default)]
    scan_finished_on: Scalar,
}

#[derive(Deserialize)]
struct TrivyReport {
    #[serde(rename = "CreatedAt", default)]
    created_at: Scalar,
    #[serde(rename = "Trivy")]
    trivy: Option<TrivyInfo>,
    #[serde(rename = "Results")]
    results: Option<Vec<Option<TrivyResult>>>,
}

#[derive(Deserialize)]
struct TrivyInfo {
    #[serde(rename = "Version", default)]
    version: Scalar,
}

#[derive(Deserialize)]
struct TrivyResult {
    #[serde(rename = "Vulnerabilities")]
    vulnerabilities: Option<Vec<Option<TrivyVuln>>>,
}

#[derive(Deserialize)]
struct TrivyVuln {
    #[serde(rename = "VulnerabilityID", default)]
    id: Scalar,
    #[serde(rename = "VendorIDs", default)]
    vendor_ids: Scalar,
    #[serde(rename = "PkgName", default)]
    pkg_name: Scalar,
    #[serde(rename = "PkgID", default)]
    pkg_id: Scalar,
    #[serde(rename = "InstalledVersion", default)]
    installed_version: Scalar,
    #[serde(rename = "Severity", default)]
    severity: Scalar,
}

#[derive(Deserialize)]
struct SarifLog {
    runs: Option<Vec<Option<SarifRun>>>,
}

#[derive(Deserialize)]
struct SarifRun {
    tool: Option<SarifTool>,
    results: Option<Vec<Option<SarifResult>>>,
    invocations: Option<Vec<Option<SarifInvocation>>>,
}

#[derive(Deserialize)]
struct SarifTool {
    driver: Option<SarifDriver>,
}

#[derive(Deserialize)]
struct SarifDriver {
    #[serde(default)]
    name: Scalar,
    #[serde(default)]
    version: Scalar,
    #[serde(rename = "semanticVersion", default)]
    semantic_version: Scalar,
    rules: Option<Vec<Option<SarifRule>>>,
}

#[derive(Deserialize)]
struct SarifRule {
    #[serde(default)]
    id: Scalar,
    help: Option<SarifText>,
    #[serde(rename = "defaultConfiguration")]
    default_configuration: Option<SarifConfiguration>,
    properties: Option<SarifProperties>,
}

#[derive(Deserialize)]
struct SarifText {
    #[serde(default)]
    text: Scalar,
}

#[derive(Deserialize)]
struct SarifConfiguration {
    #[serde(default)]
    level: Scalar,
}

#[derive(Deserialize)]
struct SarifProperties {
    #[serde(rename = "security-severity", default)]
    security_severity: Scalar,
    #[serde(default)]
    tags: Scalar,
}

#[derive(Deserialize)]
struct SarifResult {
    #[serde(rename = "ruleId", default)]
    rule_id: Scalar,
    #[serde(rename = "ruleIndex", default)]
    rule_index: Scalar,
    rule: Option<SarifRuleReference>,
    #[serde(default)]
    kind: Scalar,
    #[serde(default)]
    level: Scalar,
    message: Option<SarifText>,
    properties: Option<SarifProperties>,
}

#[derive(Deserialize)]
struct SarifRuleReference {
    #[serde(default)]
    id: Scalar,
    #[serde(default)]
    index: Scalar,
}

#[derive(Deserialize)]
struct SarifInvocation {
    #[serde(rename = "endTimeUtc", default)]
    end_time_utc: Scalar,
}

/// A `T` read only from a JSON object: serde's derived structs also take an array of the
/// field values in order, which would read `"analysis": ["not_affected"]` as a VEX
/// statement; the CycloneDX objects are read through this instead.
struct Obj<T>(T);

impl<T> std::ops::Deref for Obj<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Obj)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct CdxBom {
    metadata: Option<Obj<CdxMetadata>>,
    components: Option<Vec<Option<Obj<CdxComponent>>>>,
    vulnerabilities: Option<Vec<Option<Obj<CdxVuln>>>>,
}

#[derive(Deserialize)]
struct CdxMetadata {
    #[serde(default)]
    timestamp: Scalar,
    /// Descriptive only, and of two shapes (1.4 array, 1.5+ object): read loosely.
    #[serde(default)]
    tools: serde_json::Value,
    component: Option<Obj<CdxComponent>>,
}

#[derive(Deserialize)]
struct CdxComponent {
    #[serde(rename = "bom-ref", default)]
    bom_ref: Scalar,
    #[serde(default)]
    group: Scalar,
    #[serde(default)]
    name: Scalar,
    #[serde(default)]
    version: Scalar,
    #[serde(default)]
    purl: Scalar,
    components: Option<Vec<Option<Obj<CdxComponent>>>>,
}

#[derive(Deserialize)]
struct CdxVuln {
    #[serde(default)]
    id: Scalar,
    references: Option<Vec<Option<Obj<CdxReference>>>>,
    ratings: Option<Vec<Option<Obj<CdxRating>>>>,
    affects: Option<Vec<Option<Obj<CdxAffect>>>>,
    analysis: Option<Obj<CdxAnalysis>>,
}

#[derive(Deserialize)]
struct CdxReference {
    #[serde(default)]
    id: Scalar,
}

#[derive(Deserialize)]
struct CdxRating {
    #[serde(default)]
    score: Scalar,
    #[serde(default)]
    severity: Scalar,
    #[serde(default)]
    method: Scalar,
}

#[derive(Deserialize)]
struct CdxAffect {
    #[serde(rename = "ref", default)]
    reference: Scalar,
}

#[derive(Deserialize)]
struct CdxAnalysis {
    #[serde(default)]
    state: Scalar,
}

// ---------------------------------------------------------------------------------------
// Parsing

/// What one document yields before it is placed in a [`Scan`].
struct Read {
    scanner: Option<String>,
    finished: Option<i64>,
    vulnerabilities: Vec<Vulnerability>,
}

/// Parses a predicate: the raw JSON text of the in-toto statement's `predicate` (see the
/// module doc for the accepted documents).
///
/// # Errors
/// [`ScanError`]: not JSON, not a scan document, or a scan document that cannot be read
/// completely.
pub fn parse(predicate: &str) -> Result<Scan, ScanError> {
    parse_text(predicate, 0, "the predicate")
}

/// Parses a document; `name` says which one for messages (`the predicate`, or the JSON
/// text held in a string).
fn parse_text(text: &str, depth: usize, name: &str) -> Result<Scan, ScanError> {
    let probe: Probe = serde_json::from_str(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => from_serde(WRAPPER, &e),
        _ => ScanError::NotJson {
            message: bare_message(&e),
            line: e.line(),
            column: e.column(),
        },
    })?;
    match &probe {
        Probe::Str(s) if depth == 0 => embedded(s, depth, "the predicate", ""),
        Probe::Str(s) => embedded(s, depth, "a JSON string held in a JSON string", ""),
        Probe::Object(obj) => match obj.get("Data") {
            Some(data) => parse_wrapped(text, obj, data, depth),
            None => load(text, classify(obj, name)?, false, "", depth),
        },
        other => Err(ScanError::NotAScan(format!(
            "{name} is {}, expected a JSON object (a cosign vuln predicate, a Trivy JSON \
             report, a SARIF log or a CycloneDX BOM)",
            other.kind()
        ))),
    }
}

/// Parses a document held as a JSON string (`within` names where), prefixing its
/// locations with `prefix`.
fn embedded(
    text: &str,
    depth: usize,
    within: &'static str,
    prefix: &str,
) -> Result<Scan, ScanError> {
    if depth >= MAX_EMBEDDING {
        return Err(ScanError::NotAScan(format!(
            "{within} holds JSON text nested more than {MAX_EMBEDDING} levels deep"
        )));
    }
    let name = format!("the JSON text in {within}");
    let mut scan = parse_text(text, depth + 1, &name).map_err(|e| match e {
        ScanError::NotJson { message, .. } => ScanError::NotAScan(format!(
            "{within} is a string that is not a JSON document ({message})"
        )),
        e @ ScanError::NotAScan(_) => e,
        other => ScanError::Embedded {
            within,
            source: Box::new(other),
        },
    })?;
    if !prefix.is_empty() {
        for v in &mut scan.vulnerabilities {
            v.location.insert_str(0, prefix);
        }
    }
    Ok(scan)
}

/// `{"Data": …, "Timestamp": …}`.
fn parse_wrapped(
    text: &str,
    obj: &ObjProbe,
    data: &Probe,
    depth: usize,
) -> Result<Scan, ScanError> {
    if let Some(key) = ["scanner", "SchemaVersion", "Results", "runs", "bomFormat"]
        .iter()
        .find(|k| obj.has(k))
    {
        return Err(ScanError::NotAScan(format!(
            "the predicate has both Data (a cosign custom wrapper) and {key}"
        )));
    }
    let timestamp = match obj.get("Timestamp") {
        None | Some(Probe::Null) => None,
        Some(Probe::Str(s)) if s.trim().is_empty() => None,
        Some(Probe::Str(s)) => Some(parse_rfc3339(s.trim()).map_err(|e| {
            invalid(
                WRAPPER,
                format!("Timestamp {s:?} is not an RFC 3339 time: {e}"),
            )
        })?),
        Some(other) => {
            return Err(invalid(
                WRAPPER,
                format!("Timestamp is {}, expected a string", other.kind()),
            ));
        }
    };
    let mut scan = match data {
        Probe::Str(s) => embedded(s, depth, "Data", "Data.")?,
        Probe::Object(inner) if inner.has("Data") => {
            return Err(ScanError::NotAScan(
                "Data holds another {Data, Timestamp} wrapper".into(),
            ));
        }
        Probe::Object(inner) => load(text, classify(inner, "Data")?, true, "Data.", depth)?,
        other => {
            return Err(ScanError::NotAScan(format!(
                "Data is {}, expected a scan document or a JSON string holding one",
                other.kind()
            )));
        }
    };
    if scan.finished.is_none() {
        scan.finished = timestamp;
    }
    Ok(scan)
}

/// Deserializes `text` (or its `Data` when `wrapped`) as `T`.
fn typed<T: DeserializeOwned>(
    text: &str,
    wrapped: bool,
    format: &'static str,
) -> Result<T, ScanError> {
    let r = if wrapped {
        serde_json::from_str::<Wrapped<T>>(text).map(|w| w.data)
    } else {
        serde_json::from_str::<T>(text)
    };
    r.map_err(|e| from_serde(format, &e))
}

/// Reads a classified document. `prefix` is where it sits (`""` or `"Data."`).
fn load(
    text: &str,
    doc: Doc<'_>,
    wrapped: bool,
    prefix: &str,
    depth: usize,
) -> Result<Scan, ScanError> {
    let scan = |format: ScanFormat, r: Read| Scan {
        format,
        scanner: r.scanner,
        finished: r.finished,
        vulnerabilities: r.vulnerabilities,
    };
    match doc {
        Doc::Trivy => {
            let report: TrivyReport = typed(text, wrapped, TRIVY)?;
            Ok(scan(ScanFormat::Trivy, read_trivy(&report, prefix)?))
        }
        Doc::Sarif => {
            let log: SarifLog = typed(text, wrapped, SARIF)?;
            Ok(scan(ScanFormat::Sarif, read_sarif(&log, prefix)?))
        }
        Doc::CycloneDx => {
            let bom: CdxBom = typed(text, wrapped, CYCLONEDX)?;
            Ok(scan(ScanFormat::CycloneDx, read_cyclonedx(&bom, prefix)?))
        }
        Doc::Cosign(inner) => {
            let at = format!("{prefix}scanner.result.");
            let (uri, version, metadata, read, inner_name) = match inner {
                Inner::Trivy => {
                    let c: CosignDoc<TrivyReport> = typed(text, wrapped, COSIGN)?;
                    let r = c.scanner.result.as_ref().map(|r| read_trivy(r, &at));
                    (c.scanner.uri, c.scanner.version, c.metadata, r, "trivy")
                }
                Inner::Sarif => {
                    let c: CosignDoc<SarifLog> = typed(text, wrapped, COSIGN)?;
                    let r = c.scanner.result.as_ref().map(|r| read_sarif(r, &at));
                    (c.scanner.uri, c.scanner.version, c.metadata, r, "sarif")
                }
                Inner::CycloneDx => {
                    let c: CosignDoc<CdxBom> = typed(text, wrapped, COSIGN)?;
                    let r = c.scanner.result.as_ref().map(|r| read_cyclonedx(r, &at));
                    (c.scanner.uri, c.scanner.version, c.metadata, r, "cyclonedx")
                }
                Inner::Empty => {
                    let c: CosignDoc<IgnoredAny> = typed(text, wrapped, COSIGN)?;
                    (c.scanner.uri, c.scanner.version, c.metadata, None, "empty")
                }
                Inner::Text(s) => {
                    let c: CosignDoc<IgnoredAny> = typed(text, wrapped, COSIGN)?;
                    let inner = embedded(s, depth, "scanner.result", &at)?;
                    let name = match inner.format {
                        ScanFormat::Trivy => "trivy",
                        ScanFormat::Sarif => "sarif",
                        ScanFormat::CycloneDx => "cyclonedx",
                        ScanFormat::CosignVuln { .. } => {
                            return Err(ScanError::NotAScan(format!(
                                "scanner.result holds another cosign vuln predicate, \
                                 expected {RESULT_KINDS}"
                            )));
                        }
                    };
                    let r = Read {
                        scanner: inner.scanner,
                        finished: inner.finished,
                        vulnerabilities: inner.vulnerabilities,
                    };
                    (
                        c.scanner.uri,
                        c.scanner.version,
                        c.metadata,
                        Some(Ok(r)),
                        name,
                    )
                }
            };
            let read = read.transpose()?;
            let finished = match &metadata {
                Some(m) => time(
                    &m.scan_finished_on,
                    &format!("{prefix}metadata.scanFinishedOn"),
                    COSIGN,
                )?,
                None => None,
            };
            let (inner_scanner, inner_finished, vulnerabilities) = match read {
                Some(r) => (r.scanner, r.finished, r.vulnerabilities),
                None => (None, None, Vec::new()),
            };
            Ok(Scan {
                format: ScanFormat::CosignVuln { inner: inner_name },
                scanner: cosign_scanner(uri.text(), version.text()).or(inner_scanner),
                finished: finished.or(inner_finished),
                vulnerabilities,
            })
        }
    }
}

/// A time field: absent, null or blank is `None`; anything else must be RFC 3339.
fn time(v: &Scalar, path: &str, format: &'static str) -> Result<Option<i64>, ScanError> {
    match v {
        Scalar::Absent | Scalar::Null => Ok(None),
        Scalar::Str(s) if s.trim().is_empty() => Ok(None),
        Scalar::Str(s) => parse_rfc3339(s.trim())
            .map(Some)
            .map_err(|e| invalid(format, format!("{path} {s:?} is not an RFC 3339 time: {e}"))),
        other => Err(invalid(
            format,
            format!(
                "{path} is {}, expected an RFC 3339 time string",
                other.kind()
            ),
        )),
    }
}

/// `trivy 0.50.1` from cosign's `scanner.uri` (a purl such as
/// `pkg:github/aquasecurity/trivy@0.50.1`, or any text) and `scanner.version`.
fn cosign_scanner(uri: Option<&str>, version: Option<&str>) -> Option<String> {
    let (name, purl_version) = match uri {
        Some(u) => match u.strip_prefix("pkg:") {
            Some(purl) => {
                let purl = purl.split(['?', '#']).next().unwrap_or(purl);
                let (path, v) = match purl.split_once('@') {
                    Some((p, v)) => (p, Some(v).filter(|v| !v.is_empty())),
                    None => (purl, None),
                };
                let name = path.rsplit('/').next().filter(|n| !n.is_empty());
                (name.or(Some(u)), v)
            }
            None => (Some(u), None),
        },
        None => (None, None),
    };
    match (name, version.or(purl_version)) {
        (Some(n), Some(v)) => Some(format!("{n} {v}")),
        (Some(n), None) => Some(n.to_string()),
        (None, Some(v)) => Some(format!("scanner {v}")),
        (None, None) => None,
    }
}

fn nonblank(v: &Scalar) -> Option<String> {
    v.text().map(str::to_string)
}

/// Adds `alias` unless it is the id or already listed (case-insensitively).
fn push_alias(aliases: &mut Vec<String>, id: &str, alias: &str) {
    if !alias.eq_ignore_ascii_case(id) && !aliases.iter().any(|a| a.eq_ignore_ascii_case(alias)) {
        aliases.push(alias.to_string());
    }
}

fn read_trivy(report: &TrivyReport, prefix: &str) -> Result<Read, ScanError> {
    let finished = time(&report.created_at, &format!("{prefix}CreatedAt"), TRIVY)?;
    let scanner = report
        .trivy
        .as_ref()
        .and_then(|t| t.version.text())
        .map(|v| format!("trivy {v}"));
    let mut vulnerabilities = Vec::new();
    for (ri, result) in report.results.iter().flatten().enumerate() {
        let Some(list) = result.as_ref().and_then(|r| r.vulnerabilities.as_ref()) else {
            continue;
        };
        for (vi, v) in list.iter().enumerate() {
            let Some(v) = v else { continue };
            let location = format!("{prefix}Results[{ri}].Vulnerabilities[{vi}]");
            let Some(id) = v.id.text() else {
                return Err(invalid(
                    TRIVY,
                    format!(
                        "{location} has no VulnerabilityID (VulnerabilityID is {})",
                        v.id.kind()
                    ),
                ));
            };
            let mut aliases = Vec::new();
            for alias in v.vendor_ids.texts() {
                push_alias(&mut aliases, id, alias);
            }
            let severity = v.severity.text().and_then(scanner_word).flatten();
            vulnerabilities.push(Vulnerability {
                id: id.to_string(),
                aliases,
                severity: severity.unwrap_or(Severity::Critical),
                severity_unknown: severity.is_none(),
                package: nonblank(&v.pkg_name).or_else(|| nonblank(&v.pkg_id)),
                installed_version: nonblank(&v.installed_version),
                location,
            });
        }
    }
    Ok(Read {
        scanner,
        finished,
        vulnerabilities,
    })
}

fn read_sarif(log: &SarifLog, prefix: &str) -> Result<Read, ScanError> {
    let mut scanner = None;
    let mut finished: Option<i64> = None;
    let mut vulnerabilities = Vec::new();
    for (ri, run) in log.runs.iter().flatten().enumerate() {
        let Some(run) = run else { continue };
        let driver = run.tool.as_ref().and_then(|t| t.driver.as_ref());
        let rules: &[Option<SarifRule>] = driver.and_then(|d| d.rules.as_deref()).unwrap_or(&[]);
        if scanner.is_none() {
            scanner = driver.and_then(|d| {
                let name = d.name.text()?;
                Some(match d.version.text().or(d.semantic_version.text()) {
                    Some(v) => format!("{name} {v}"),
                    None => name.to_string(),
                })
            });
        }
        for (ii, inv) in run.invocations.iter().flatten().enumerate() {
            let Some(inv) = inv else { continue };
            let path = format!("{prefix}runs[{ri}].invocations[{ii}].endTimeUtc");
            if let Some(t) = time(&inv.end_time_utc, &path, SARIF)? {
                finished = Some(finished.map_or(t, |f| f.max(t)));
            }
        }
        let mut by_id: HashMap<&str, &SarifRule> = HashMap::new();
        for rule in rules.iter().flatten() {
            if let Some(id) = rule.id.text() {
                by_id.entry(id).or_insert(rule);
            }
        }
        for (i, result) in run.results.iter().flatten().enumerate() {
            let Some(result) = result else { continue };
            let location = format!("{prefix}runs[{ri}].results[{i}]");
            if let Some(v) = read_sarif_result(result, rules, &by_id, location)? {
                vulnerabilities.push(v);
            }
        }
    }
    Ok(Read {
        scanner,
        finished,
        vulnerabilities,
    })
}

fn read_sarif_result(
    result: &SarifResult,
    rules: &[Option<SarifRule>],
    by_id: &HashMap<&str, &SarifRule>,
    location: String,
) -> Result<Option<Vulnerability>, ScanError> {
    if matches!(result.kind.text(), Some("pass" | "notApplicable")) {
        return Ok(None);
    }
    let reference = result.rule.as_ref();
    let rule_id = result
        .rule_id
        .text()
        .or_else(|| reference.and_then(|r| r.id.text()));
    let index = result
        .rule_index
        .index()
        .or_else(|| reference.and_then(|r| r.index.index()));
    // ruleIndex first when it agrees with ruleId (some writers put 0 everywhere).
    let by_index = index
        .and_then(|i| rules.get(i))
        .and_then(Option::as_ref)
        .filter(|r| rule_id.is_none() || r.id.text() == rule_id);
    let rule = by_index.or_else(|| rule_id.and_then(|id| by_id.get(id).copied()));
    let Some(full_id) = rule_id.or_else(|| rule.and_then(|r| r.id.text())) else {
        return Err(invalid(
            SARIF,
            format!("{location} has no ruleId (and no rule with an id)"),
        ));
    };
    if let Some(tags) = rule.and_then(|r| r.properties.as_ref()).map(|p| &p.tags) {
        let has = |w: &str| tags.texts().any(|t| t.eq_ignore_ascii_case(w));
        if !has("vulnerability") && (has("misconfiguration") || has("secret") || has("license")) {
            return Ok(None);
        }
    }
    let message = result.message.as_ref().and_then(|m| m.text.text());
    let help = rule
        .and_then(|r| r.help.as_ref())
        .and_then(|h| h.text.text());
    let stated = [message, help]
        .into_iter()
        .flatten()
        .filter_map(|t| line_value(t, &["Vulnerability "]))
        .find(|v| is_id_prefix(full_id, v));
    let id = embedded_id(full_id)
        .or(stated)
        .unwrap_or_else(|| strip_bracket_prefix(full_id));
    let mut aliases = Vec::new();
    push_alias(&mut aliases, id, full_id);
    let package = message
        .and_then(|m| line_value(m, &["Package:"]))
        .or_else(|| help.and_then(|h| line_value(h, &["Package:"])));
    let installed_version = message
        .and_then(|m| line_value(m, &["Installed Version:"]))
        .or_else(|| help.and_then(|h| line_value(h, &["Installed Version:", "Version:"])));

    let severity = sarif_severity(rule, result, message, help);
    Ok(Some(Vulnerability {
        id: id.to_string(),
        aliases,
        severity: severity.unwrap_or(Severity::Critical),
        severity_unknown: severity.is_none(),
        package: package.map(str::to_string),
        installed_version: installed_version.map(str::to_string),
        location,
    }))
}

/// The SARIF severity (module doc); `None` is unknown.
fn sarif_severity(
    rule: Option<&SarifRule>,
    result: &SarifResult,
    message: Option<&str>,
    help: Option<&str>,
) -> Option<Severity> {
    let props = [
        rule.and_then(|r| r.properties.as_ref()),
        result.properties.as_ref(),
    ];
    let score = props
        .iter()
        .flatten()
        .filter_map(|p| p.security_severity.number())
        .find(|s| Severity::from_score(*s).is_some());
    if let Some(s) = score.filter(|s| *s > 0.0) {
        return Severity::from_score(s);
    }
    for p in props.iter().flatten() {
        if let Some(word) = p.tags.texts().find_map(scanner_word) {
            return word;
        }
    }
    for text in [message, help].into_iter().flatten() {
        if let Some(word) = line_value(text, &["Severity:"]).and_then(scanner_word) {
            return word;
        }
    }
    if score.is_some() {
        return Some(Severity::None);
    }
    let levels = [
        result.level.text(),
        rule.and_then(|r| r.default_configuration.as_ref())
            .and_then(|c| c.level.text()),
    ];
    levels
        .into_iter()
        .flatten()
        .find_map(|level| match level.to_ascii_lowercase().as_str() {
            "error" => Some(Severity::Critical),
            "warning" => Some(Severity::Medium),
            "note" => Some(Severity::Low),
            "none" => Some(Severity::None),
            _ => None,
        })
}

fn read_cyclonedx(bom: &CdxBom, prefix: &str) -> Result<Read, ScanError> {
    let metadata = bom.metadata.as_ref();
    let finished = match metadata {
        Some(m) => time(
            &m.timestamp,
            &format!("{prefix}metadata.timestamp"),
            CYCLONEDX,
        )?,
        None => None,
    };
    let scanner = metadata.and_then(|m| cdx_tools(&m.tools));
    let index = CdxIndex::new(
        metadata.and_then(|m| m.component.as_deref()),
        bom.components.as_deref().unwrap_or(&[]),
    );
    let mut vulnerabilities = Vec::new();
    let mut copies: usize = 0;
    for (vi, v) in bom.vulnerabilities.iter().flatten().enumerate() {
        let Some(v) = v else { continue };
        let location = format!("{prefix}vulnerabilities[{vi}]");
        let Some(id) = v.id.text() else {
            return Err(invalid(
                CYCLONEDX,
                format!("{location} has no id (id is {})", v.id.kind()),
            ));
        };
        let state = v.analysis.as_ref().and_then(|a| a.state.text());
        if state.is_some_and(|s| {
            ["not_affected", "false_positive", "resolved"]
                .iter()
                .any(|skip| s.eq_ignore_ascii_case(skip))
        }) {
            continue;
        }
        let mut aliases: Vec<String> = Vec::new();
        let mut seen = HashSet::from([id.to_ascii_lowercase()]);
        for reference in v.references.iter().flatten().flatten() {
            if let Some(alias) = reference.id.text().filter(|a| advisory_like(a))
                && seen.insert(alias.to_ascii_lowercase())
            {
                aliases.push(alias.to_string());
            }
        }
        let affects = v.affects.as_deref().unwrap_or(&[]);
        copies = copies.saturating_add(aliases.len().saturating_mul(affects.len().max(1)));
        if copies > MAX_CDX_ALIAS_COPIES {
            return Err(invalid(
                CYCLONEDX,
                format!(
                    "{location}: too many references times affected packages (more than \
                     {MAX_CDX_ALIAS_COPIES} aliases in all)"
                ),
            ));
        }
        let severity = cdx_severity(v.ratings.as_deref().unwrap_or(&[]));
        let entry =
            |package: Option<String>, version: Option<String>, location: String| Vulnerability {
                id: id.to_string(),
                aliases: aliases.clone(),
                severity: severity.unwrap_or(Severity::Critical),
                severity_unknown: severity.is_none(),
                package,
                installed_version: version,
                location,
            };
        let before = vulnerabilities.len();
        for (ai, affect) in affects.iter().enumerate() {
            let Some(affect) = affect else { continue };
            let (package, version) = match affect.reference.text() {
                Some(r) => index.resolve(r),
                None => (None, None),
            };
            let at = if affects.len() > 1 {
                format!("{location}.affects[{ai}]")
            } else {
                location.clone()
            };
            vulnerabilities.push(entry(package, version, at));
        }
        if vulnerabilities.len() == before {
            vulnerabilities.push(entry(None, None, location));
        }
    }
    Ok(Read {
        scanner,
        finished,
        vulnerabilities,
    })
}

/// `name version` of each CycloneDX tool (see the module doc).
fn cdx_tools(tools: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let lists: Vec<&Vec<Value>> = match tools {
        Value::Array(list) => vec![list],
        Value::Object(o) => ["components", "services"]
            .iter()
            .filter_map(|k| o.get(*k).and_then(Value::as_array))
            .collect(),
        _ => Vec::new(),
    };
    let mut named: Vec<String> = Vec::new();
    for tool in lists.into_iter().flatten() {
        let text = |key: &str| {
            tool.get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let Some(name) = text("name").or_else(|| text("vendor")) else {
            continue;
        };
        let one = match text("version") {
            Some(v) => format!("{name} {v}"),
            None => name.to_string(),
        };
        if !named.contains(&one) {
            named.push(one);
        }
        if named.len() == TOOLS_NAMED {
            break;
        }
    }
    (!named.is_empty()).then(|| named.join(", "))
}

/// The components of a CycloneDX BOM by `bom-ref`, and by `purl`.
struct CdxIndex<'a> {
    by_ref: HashMap<&'a str, &'a CdxComponent>,
    by_purl: HashMap<&'a str, &'a CdxComponent>,
}

impl<'a> CdxIndex<'a> {
    /// `metadata.component`, then `components[]`, depth first (nested components after
    /// their parent), without recursion.
    fn new(main: Option<&'a CdxComponent>, components: &'a [Option<Obj<CdxComponent>>]) -> Self {
        let mut index = Self {
            by_ref: HashMap::new(),
            by_purl: HashMap::new(),
        };
        let mut stack: Vec<&'a CdxComponent> =
            components.iter().rev().flatten().map(|c| &c.0).collect();
        stack.extend(main);
        while let Some(c) = stack.pop() {
            if let Some(r) = c.bom_ref.text() {
                index.by_ref.entry(r).or_insert(c);
            }
            if let Some(p) = c.purl.text() {
                index.by_purl.entry(p).or_insert(c);
            }
            stack.extend(c.components.iter().flatten().rev().flatten().map(|c| &c.0));
        }
        index
    }

    /// The package name and version an `affects[].ref` names (see the module doc).
    fn resolve(&self, reference: &str) -> (Option<String>, Option<String>) {
        let Some(c) = self
            .by_ref
            .get(reference)
            .or_else(|| self.by_purl.get(reference))
        else {
            return (Some(reference.to_string()), None);
        };
        let purl = c.purl.text();
        let name = match (c.group.text(), c.name.text()) {
            (Some(group), Some(name)) => {
                let maven = purl
                    .and_then(|p| p.get(..10))
                    .is_some_and(|head| head.eq_ignore_ascii_case("pkg:maven/"));
                Some(format!("{group}{}{name}", if maven { ':' } else { '/' }))
            }
            (None, Some(name)) => Some(name.to_string()),
            (_, None) => purl.map(str::to_string),
        };
        let version = nonblank(&c.version).or_else(|| purl.and_then(purl_version));
        (name.or_else(|| Some(reference.to_string())), version)
    }
}

/// The version of a purl (`pkg:deb/debian/libc6@2.36-9?arch=amd64` → `2.36-9`).
fn purl_version(purl: &str) -> Option<String> {
    let head = purl.split(['?', '#']).next().unwrap_or(purl);
    let (_, version) = head.rsplit_once('@')?;
    (!version.is_empty() && !version.contains('/')).then(|| version.to_string())
}

/// Whether a CycloneDX `references[].id` looks like an advisory id (module doc).
fn advisory_like(s: &str) -> bool {
    let b = s.as_bytes();
    (3..=128).contains(&b.len())
        && b.first().is_some_and(u8::is_ascii_alphabetic)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'))
        && b.iter().any(|c| matches!(c, b'-' | b'_' | b':'))
        && b.iter().any(u8::is_ascii_digit)
        && !s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

/// A CycloneDX severity word: as [`scanner_word`], plus `info` (low) and `none`.
fn cdx_word(w: &str) -> Option<Option<Severity>> {
    match w.trim().to_ascii_lowercase().as_str() {
        "info" | "informational" => Some(Some(Severity::Low)),
        "none" => Some(Some(Severity::None)),
        _ => scanner_word(w),
    }
}

/// The severity of a CycloneDX vulnerability from its ratings (module doc); `None` is
/// unknown.
fn cdx_severity(ratings: &[Option<Obj<CdxRating>>]) -> Option<Severity> {
    let mut word: Option<Severity> = None;
    let mut said_unknown = false;
    for r in ratings.iter().flatten() {
        match r.severity.text().and_then(cdx_word) {
            Some(Some(s)) => word = word.max(Some(s)),
            Some(None) => said_unknown = true,
            None => {}
        }
    }
    if word.is_some() {
        return word;
    }
    let cvss = |m: &str| {
        ["cvssv2", "cvssv3", "cvssv31", "cvssv4"]
            .iter()
            .any(|c| m.eq_ignore_ascii_case(c))
    };
    let top = ratings
        .iter()
        .flatten()
        .filter(|r| r.method.text().is_some_and(cvss))
        .filter_map(|r| r.score.number())
        .filter(|s| Severity::from_score(*s).is_some())
        .fold(None, |top: Option<f64>, s| {
            Some(top.map_or(s, |t| t.max(s)))
        });
    match top {
        Some(s) if s > 0.0 => Severity::from_score(s),
        Some(_) if !said_unknown => Some(Severity::None),
        _ => None,
    }
}

/// The trimmed, non-empty rest of the first line starting with one of `keys`.
fn line_value<'a>(text: &'a str, keys: &[&str]) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let line = line.trim();
        keys.iter()
            .find_map(|k| line.strip_prefix(k))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    })
}

/// Whether `prefix` is `rule_id` or its first part before a `-` (Grype's
/// `<vulnerability>-<package>` rule ids), case-insensitively.
fn is_id_prefix(rule_id: &str, prefix: &str) -> bool {
    let n = prefix.len();
    n > 0
        && rule_id
            .get(..n)
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        && matches!(rule_id.as_bytes().get(n), None | Some(b'-'))
}

/// `[HIGH] TEMP-0841856-B18BAF` → `TEMP-0841856-B18BAF` (Trivy's old SARIF template).
fn strip_bracket_prefix(id: &str) -> &str {
    match (id.starts_with('['), id.split_once("] ")) {
        (true, Some((_, rest))) if !rest.trim().is_empty() => rest.trim(),
        _ => id,
    }
}

/// The first CVE or GHSA id inside `s` that stands as its own token.
fn embedded_id(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let alnum = |i: usize| b.get(i).is_some_and(u8::is_ascii_alphanumeric);
    for start in 0..b.len() {
        if start > 0 && alnum(start - 1) {
            continue;
        }
        let Some(rest) = b.get(start..) else { break };
        if let Some(n) = cve_len(rest).or_else(|| ghsa_len(rest))
            && !alnum(start + n)
        {
            return s.get(start..start + n);
        }
    }
    None
}

/// Length of a `CVE-YYYY-NNNN…` id at the start of `b`.
fn cve_len(b: &[u8]) -> Option<usize> {
    if !b.get(..4)?.eq_ignore_ascii_case(b"CVE-")
        || !b.get(4..8)?.iter().all(u8::is_ascii_digit)
        || b.get(8) != Some(&b'-')
    {
        return None;
    }
    let digits = b
        .get(9..)?
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    (digits >= 4).then_some(9 + digits)
}

/// Length of a `GHSA-xxxx-xxxx-xxxx` id at the start of `b`.
fn ghsa_len(b: &[u8]) -> Option<usize> {
    if !b.get(..5)?.eq_ignore_ascii_case(b"GHSA-") {
        return None;
    }
    for group in 0..3 {
        let at = 5 + group * 5;
        if !b.get(at..at + 4)?.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        if group < 2 && b.get(at + 4) != Some(&b'-') {
            return None;
        }
    }
    Some(19)
}

// ---------------------------------------------------------------------------------------
// Evaluation

/// A policy's `vulnerabilities` rule.
#[derive(Debug, Clone, Default)]
pub struct VulnRule {
    /// Highest severity allowed; `None`: no severity limit.
    pub max_severity: Option<Severity>,
    /// Vulnerability ids that fail the rule whenever present.
    pub deny: Vec<String>,
    /// Vulnerability ids left out of the `max_severity` check (not out of `deny`).
    pub ignore: Vec<String>,
    /// Oldest scan accepted, in seconds; `None`: any age.
    pub max_age: Option<u64>,
}

/// What a [`VulnFinding`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VulnFindingKind {
    /// A vulnerability above `maxSeverity`.
    TooSevere,
    /// A vulnerability listed in `deny`.
    Denied,
    /// The scan is older than `maxAge`, or its time is unknown.
    TooOld,
}

/// One reason a scan fails a [`VulnRule`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VulnFinding {
    /// The kind.
    pub kind: VulnFindingKind,
    /// For the user: id, severity, package, version and location, or the scan's age.
    pub message: String,
    /// The vulnerability id (None for TooOld).
    pub id: Option<String>,
    /// The vulnerability's location in the document (None for TooOld).
    pub location: Option<String>,
}

/// Evaluates `rule` on `scan` at `now` (seconds since the epoch). Findings: `Denied`
/// first, then `TooSevere` (highest severity first, then document order), then `TooOld`;
/// one per (id, package) and kind (semantics in the module doc).
pub fn evaluate(scan: &Scan, rule: &VulnRule, now: i64) -> Vec<VulnFinding> {
    let deny = id_list(&rule.deny);
    let ignore = id_list(&rule.ignore);
    let mut findings = Vec::new();

    let mut seen = HashSet::new();
    for v in &scan.vulnerabilities {
        let Some(entry) = listed(v, &deny) else {
            continue;
        };
        if !seen.insert(dedup_key(v)) {
            continue;
        }
        let via = if entry.eq_ignore_ascii_case(&v.id) {
            String::new()
        } else {
            format!(" (deny lists {entry})")
        };
        findings.push(VulnFinding {
            kind: VulnFindingKind::Denied,
            message: format!("{} is denied{via}", describe(v)),
            id: Some(v.id.clone()),
            location: Some(v.location.clone()),
        });
    }

    if let Some(max) = rule.max_severity {
        let mut picked: Vec<&Vulnerability> = Vec::new();
        let mut index: HashMap<(String, Option<String>), usize> = HashMap::new();
        for v in &scan.vulnerabilities {
            if v.effective_severity() <= max || listed(v, &ignore).is_some() {
                continue;
            }
            match index.get(&dedup_key(v)).and_then(|&i| picked.get_mut(i)) {
                Some(kept) => {
                    if v.effective_severity() > kept.effective_severity() {
                        *kept = v;
                    }
                }
                None => {
                    index.insert(dedup_key(v), picked.len());
                    picked.push(v);
                }
            }
        }
        picked.sort_by_key(|v| std::cmp::Reverse(v.effective_severity()));
        for v in picked {
            findings.push(VulnFinding {
                kind: VulnFindingKind::TooSevere,
                message: format!("{} is above maxSeverity {}", describe(v), max.as_str()),
                id: Some(v.id.clone()),
                location: Some(v.location.clone()),
            });
        }
    }

    if let Some(max_age) = rule.max_age {
        let message = match scan.finished {
            None => Some(format!(
                "scan time unknown (the document records no finish time), so maxAge {} \
                 cannot be met",
                duration(u128::from(max_age))
            )),
            Some(finished) => {
                let age = (i128::from(now) - i128::from(finished)).max(0);
                let age = u128::try_from(age).unwrap_or(0);
                (age > u128::from(max_age)).then(|| {
                    let zero = if finished == GO_ZERO_TIME {
                        " (Go's zero time: the scanner recorded no real time)"
                    } else {
                        ""
                    };
                    format!(
                        "scan finished {}{zero} is {} old, more than maxAge {}",
                        format_rfc3339(finished),
                        duration(age),
                        duration(u128::from(max_age))
                    )
                })
            }
        };
        if let Some(message) = message {
            findings.push(VulnFinding {
                kind: VulnFindingKind::TooOld,
                message,
                id: None,
                location: None,
            });
        }
    }
    findings
}

impl Vulnerability {
    /// The severity the rules use: critical when unknown.
    fn effective_severity(&self) -> Severity {
        if self.severity_unknown {
            Severity::Critical
        } else {
            self.severity
        }
    }
}

/// The non-blank, trimmed entries of a deny or ignore list.
fn id_list(list: &[String]) -> Vec<&str> {
    list.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The first entry of `list` naming `v` by id or alias.
fn listed<'a>(v: &Vulnerability, list: &[&'a str]) -> Option<&'a str> {
    list.iter().copied().find(|entry| {
        entry.eq_ignore_ascii_case(&v.id) || v.aliases.iter().any(|a| entry.eq_ignore_ascii_case(a))
    })
}

fn dedup_key(v: &Vulnerability) -> (String, Option<String>) {
    (v.id.to_ascii_lowercase(), v.package.clone())
}

/// `CVE-2021-44228 (critical) in log4j-core 2.14.1 at Results[0].Vulnerabilities[3]`.
fn describe(v: &Vulnerability) -> String {
    let severity = if v.severity_unknown {
        "severity unknown, counted as critical"
    } else {
        v.severity.as_str()
    };
    let mut s = format!("{} ({severity})", v.id);
    if let Some(p) = &v.package {
        s.push_str(" in ");
        s.push_str(p);
        if let Some(version) = &v.installed_version {
            s.push(' ');
            s.push_str(version);
        }
    }
    s.push_str(" at ");
    s.push_str(&v.location);
    s
}

/// `8d8h`, `7d`, `1h30m`, `45s`, `0s`.
fn duration(secs: u128) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let parts = [
        (secs / 86_400, "d"),
        (secs % 86_400 / 3600, "h"),
        (secs % 3600 / 60, "m"),
        (secs % 60, "s"),
    ];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: &str = "2026-01-01T00:00:00Z";
    const HOUR: i64 = 3600;

    fn t0() -> i64 {
        parse_rfc3339(T0).unwrap()
    }

    fn ok(text: &str) -> Scan {
        match parse(text) {
            Ok(s) => s,
            Err(e) => panic!("{e}\nin: {text}"),
        }
    }

    fn err(text: &str) -> ScanError {
        match parse(text) {
            Ok(s) => panic!("parsed: {s:?}\nin: {text}"),
            Err(e) => e,
        }
    }

    fn ids(scan: &Scan) -> Vec<&str> {
        scan.vulnerabilities.iter().map(|v| v.id.as_str()).collect()
    }

    fn vuln(id: &str, sev: Option<Severity>, pkg: &str, location: &str) -> Vulnerability {
        Vulnerability {
            id: id.into(),
            aliases: Vec::new(),
            severity: sev.unwrap_or(Severity::Critical),
            severity_unknown: sev.is_none(),
            package: Some(pkg.into()),
            installed_version: Some("1.0".into()),
            location: location.into(),
        }
    }

    fn scan_of(vulns: Vec<Vulnerability>, finished: Option<i64>) -> Scan {
        Scan {
            format: ScanFormat::Trivy,
            scanner: None,
            finished,
            vulnerabilities: vulns,
        }
    }

    fn rule(max: Option<&str>, deny: &[&str], ignore: &[&str], max_age: Option<&str>) -> VulnRule {
        VulnRule {
            max_severity: max.map(|m| Severity::parse(m).unwrap()),
            deny: deny.iter().map(|s| s.to_string()).collect(),
            ignore: ignore.iter().map(|s| s.to_string()).collect(),
            max_age: max_age.map(|a| crate::time::parse_duration(a).unwrap()),
        }
    }

    /// A Trivy report as Trivy writes it (trimmed to the fields that matter and a few more).
    fn trivy_report() -> serde_json::Value {
        json!({
            "SchemaVersion": 2,
            "Trivy": {"Version": "0.50.1"},
            "CreatedAt": "2025-12-31T22:00:00.123456+01:00",
            "ArtifactName": "ghcr.io/acme/web:1.2.3",
            "ArtifactType": "container_image",
            "Metadata": {"OS": {"Family": "debian", "Name": "12.5"}, "ImageID": "sha256:aa"},
            "Results": [
                {
                    "Target": "ghcr.io/acme/web:1.2.3 (debian 12.5)",
                    "Class": "os-pkgs",
                    "Type": "debian",
                    "Vulnerabilities": [
                        {"VulnerabilityID": "CVE-2023-4911", "VendorIDs": ["DSA-5514-1"],
                         "PkgID": "libc6@2.36-9", "PkgName": "libc6",
                         "InstalledVersion": "2.36-9", "FixedVersion": "2.36-9+deb12u3",
                         "Status": "fixed", "Severity": "HIGH",
                         "CVSS": {"nvd": {"V3Score": 7.8}}},
                        {"VulnerabilityID": "CVE-2011-3374", "PkgName": "apt",
                         "InstalledVersion": "2.6.1", "Severity": "LOW"},
                        {"VulnerabilityID": "TEMP-0841856-B18BAF", "PkgName": "bash",
                         "InstalledVersion": "5.2.15-2", "Severity": "UNKNOWN"}
                    ]
                },
                {
                    "Target": "Java",
                    "Class": "lang-pkgs",
                    "Type": "jar",
                    "Vulnerabilities": [
                        {"VulnerabilityID": "CVE-2021-44228",
                         "VendorIDs": ["GHSA-jfh8-c2jp-5v3q"],
                         "PkgName": "org.apache.logging.log4j:log4j-core",
                         "PkgPath": "app/lib/log4j-core-2.14.1.jar",
                         "InstalledVersion": "2.14.1", "Severity": "CRITICAL"}
                    ]
                },
                {"Target": "app/package-lock.json", "Class": "lang-pkgs", "Type": "npm"}
            ]
        })
    }

    fn trivy_text() -> String {
        trivy_report().to_string()
    }

    /// A SARIF log as `trivy -f sarif` writes it.
    fn trivy_sarif() -> serde_json::Value {
        json!({
            "version": "2.1.0",
            "$schema": "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/main/sarif-2.1/schema/sarif-schema-2.1.0.json",
            "runs": [{
                "tool": {"driver": {
                    "fullName": "Trivy Vulnerability Scanner",
                    "informationUri": "https://github.com/aquasecurity/trivy",
                    "name": "Trivy",
                    "rules": [
                        {"id": "CVE-2021-44228", "name": "LanguageSpecificPackageVulnerability",
                         "shortDescription": {"text": "log4j-core: Remote code execution"},
                         "defaultConfiguration": {"level": "error"},
                         "help": {"text": "Vulnerability CVE-2021-44228\nSeverity: CRITICAL\nPackage: org.apache.logging.log4j:log4j-core\nFixed Version: 2.15.0\n"},
                         "properties": {"precision": "very-high", "security-severity": "10.0",
                                        "tags": ["vulnerability", "security", "CRITICAL"]}},
                        {"id": "CVE-2011-3374", "name": "OsPackageVulnerability",
                         "defaultConfiguration": {"level": "note"},
                         "properties": {"precision": "very-high", "security-severity": "3.7",
                                        "tags": ["vulnerability", "security", "LOW"]}},
                        {"id": "TEMP-0841856-B18BAF", "name": "OsPackageVulnerability",
                         "defaultConfiguration": {"level": "note"},
                         "properties": {"precision": "very-high", "security-severity": "0.0",
                                        "tags": ["vulnerability", "security", "UNKNOWN"]}},
                        {"id": "aws-access-key-id", "name": "Secret",
                         "defaultConfiguration": {"level": "error"},
                         "properties": {"precision": "very-high", "security-severity": "9.5",
                                        "tags": ["secret", "security", "CRITICAL"]}}
                    ],
                    "version": "0.50.1"
                }},
                "results": [
                    {"ruleId": "CVE-2021-44228", "ruleIndex": 0, "level": "error",
                     "message": {"text": "Package: org.apache.logging.log4j:log4j-core\nInstalled Version: 2.14.1\nVulnerability CVE-2021-44228\nSeverity: CRITICAL\nFixed Version: 2.15.0\nLink: [CVE-2021-44228](https://avd.aquasec.com/nvd/cve-2021-44228)"},
                     "locations": [{"physicalLocation": {"artifactLocation": {"uri": "app/lib/log4j-core-2.14.1.jar", "uriBaseId": "ROOTPATH"}}}]},
                    {"ruleId": "CVE-2011-3374", "ruleIndex": 1, "level": "note",
                     "message": {"text": "Package: apt\nInstalled Version: 2.6.1\nVulnerability CVE-2011-3374\nSeverity: LOW\n"}},
                    {"ruleId": "TEMP-0841856-B18BAF", "ruleIndex": 2, "level": "note",
                     "message": {"text": "Package: bash\nInstalled Version: 5.2.15-2\nVulnerability TEMP-0841856-B18BAF\nSeverity: UNKNOWN\n"}},
                    {"ruleId": "aws-access-key-id", "ruleIndex": 3, "level": "error",
                     "message": {"text": "Artifact: /app/.env\nType: \nSecret AWS Access Key ID\nSeverity: CRITICAL"}}
                ],
                "columnKind": "utf16CodeUnits"
            }]
        })
    }

    /// A SARIF log as `grype -o sarif` writes it: rule ids with the package as suffix, no
    /// result level, severity only as a score.
    fn grype_sarif() -> serde_json::Value {
        json!({
            "version": "2.1.0",
            "$schema": "https://json.schemastore.org/sarif-2.1.0-rtm.5.json",
            "runs": [{
                "tool": {"driver": {
                    "name": "grype", "version": "0.74.0",
                    "informationUri": "https://github.com/anchore/grype",
                    "rules": [
                        {"id": "CVE-2021-44228-log4j-core", "name": "JavaMatcherExactDirectMatch",
                         "help": {"text": "Vulnerability CVE-2021-44228\nSeverity: critical\nPackage: log4j-core\nVersion: 2.14.1\nFix Version: 2.15.0\nType: java-archive\n"},
                         "properties": {"security-severity": "10.0"}},
                        {"id": "GHSA-8489-44mv-ggj8-log4j-core", "name": "JavaMatcherExactDirectMatch",
                         "help": {"text": "Vulnerability GHSA-8489-44mv-ggj8\nSeverity: medium\nPackage: log4j-core\nVersion: 2.14.1\n"},
                         "properties": {"security-severity": "6.6"}},
                        {"id": "CVE-2005-2541-tar", "name": "DpkgMatcherExactDirectMatch",
                         "help": {"text": "Vulnerability CVE-2005-2541\nSeverity: negligible\nPackage: tar\nVersion: 1.34+dfsg-1.2\n"},
                         "properties": {"security-severity": "0.0"}}
                    ]
                }},
                "results": [
                    {"ruleId": "CVE-2021-44228-log4j-core",
                     "message": {"text": "A critical vulnerability in log4j-core at version 2.14.1"},
                     "locations": [{"physicalLocation": {"artifactLocation": {"uri": "/app/lib/log4j-core-2.14.1.jar"}}}]},
                    {"ruleId": "GHSA-8489-44mv-ggj8-log4j-core",
                     "message": {"text": "A medium vulnerability in log4j-core at version 2.14.1"}},
                    {"ruleId": "CVE-2005-2541-tar",
                     "message": {"text": "A negligible vulnerability in tar"}}
                ]
            }]
        })
    }

    fn cosign(result: serde_json::Value, finished: &str) -> String {
        json!({
            "invocation": {"parameters": null, "uri": "", "event_id": "", "builder.id": ""},
            "scanner": {
                "uri": "pkg:github/aquasecurity/trivy@0.50.1",
                "version": "0.50.1",
                "db": {"uri": "", "version": ""},
                "result": result
            },
            "metadata": {"scanStartedOn": finished, "scanFinishedOn": finished}
        })
        .to_string()
    }

    fn fixtures() -> std::path::PathBuf {
        let p = std::env::var_os("SEALGATE_FIXTURES")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
            });
        assert!(
            p.join("cosign/testdata/valid").is_dir(),
            "real-tool fixtures not found at {} (SEALGATE_FIXTURES overrides \
             the default tests/fixtures)",
            p.display()
        );
        p
    }

    fn base64_decode(s: &str) -> Vec<u8> {
        let value = |c: u8| -> u32 {
            match c {
                b'A'..=b'Z' => u32::from(c - b'A'),
                b'a'..=b'z' => u32::from(c - b'a') + 26,
                b'0'..=b'9' => u32::from(c - b'0') + 52,
                b'+' | b'-' => 62,
                b'/' | b'_' => 63,
                _ => panic!("not base64: {c}"),
            }
        };
        let bytes: Vec<u8> = s.bytes().filter(|c| *c != b'=').collect();
        let mut out = Vec::new();
        for chunk in bytes.chunks(4) {
            let mut n = 0u32;
            for (i, c) in chunk.iter().enumerate() {
                n |= value(*c) << (18 - 6 * i);
            }
            out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
        }
        out
    }

    /// The predicate of a real cosign DSSE envelope fixture, as raw JSON text.
    fn fixture_predicate(name: &str) -> (String, String) {
        let path = fixtures().join("cosign/testdata/valid").join(name);
        let envelope: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let payload = base64_decode(envelope["payload"].as_str().unwrap());
        let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        (
            statement["predicateType"].as_str().unwrap().to_string(),
            statement["predicate"].to_string(),
        )
    }

    // --- severity ------------------------------------------------------------------

    #[test]
    fn severity_policy_values() {
        for (text, sev) in [
            ("none", Severity::None),
            ("LOW", Severity::Low),
            (" Medium ", Severity::Medium),
            ("high", Severity::High),
            ("CriticaL", Severity::Critical),
        ] {
            assert_eq!(Severity::parse(text), Ok(sev));
            assert_eq!(Severity::parse(sev.as_str()), Ok(sev));
        }
        for bad in ["", "severe", "unknown", "moderate", "4"] {
            let e = Severity::parse(bad).unwrap_err();
            assert!(e.contains("none, low, medium, high or critical"), "{e}");
        }
        assert!(Severity::None < Severity::Low && Severity::High < Severity::Critical);
        assert_eq!(Severity::Critical.to_string(), "critical");
    }

    #[test]
    fn score_bands() {
        for (score, sev) in [
            (0.0, Some(Severity::None)),
            (0.1, Some(Severity::Low)),
            (3.9, Some(Severity::Low)),
            (4.0, Some(Severity::Medium)),
            (6.9, Some(Severity::Medium)),
            (7.0, Some(Severity::High)),
            (8.9, Some(Severity::High)),
            (9.0, Some(Severity::Critical)),
            (10.0, Some(Severity::Critical)),
            (10.1, None),
            (-1.0, None),
            (f64::NAN, None),
            (f64::INFINITY, None),
        ] {
            assert_eq!(Severity::from_score(score), sev, "{score}");
        }
    }

    // --- shape 1: cosign vuln ---------------------------------------------------------

    #[test]
    fn real_cosign_vuln_sample() {
        let (predicate_type, predicate) = fixture_predicate("vuln");
        assert_eq!(
            predicate_type,
            "https://cosign.sigstore.dev/attestation/vuln/v1"
        );
        let scan = ok(&predicate);
        assert_eq!(scan.format, ScanFormat::CosignVuln { inner: "empty" });
        assert_eq!(scan.format.to_string(), "cosign vuln (no result)");
        assert!(scan.vulnerabilities.is_empty());
        assert_eq!(scan.scanner, None, "uri and version are empty strings");
        assert_eq!(scan.finished, Some(GO_ZERO_TIME));

        // No vulnerabilities: every severity and deny rule passes …
        let r = rule(Some("none"), &["CVE-2021-44228"], &[], None);
        assert!(evaluate(&scan, &r, t0()).is_empty());
        // … but the zero time is a scan from year 1: maxAge fails.
        let f = evaluate(&scan, &rule(None, &[], &[], Some("168h")), t0());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, VulnFindingKind::TooOld);
        assert_eq!((f[0].id.as_deref(), f[0].location.as_deref()), (None, None));
        assert!(
            f[0].message
                .starts_with("scan finished 0001-01-01T00:00:00Z (Go's zero time"),
            "{}",
            f[0].message
        );
        assert!(
            f[0].message.ends_with("old, more than maxAge 7d"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn real_cosign_custom_sample_is_not_a_scan() {
        let (_, predicate) = fixture_predicate("custom");
        assert!(predicate.contains("foobar test attestation"));
        let e = err(&predicate);
        assert!(matches!(e, ScanError::NotAScan(_)), "{e:?}");
        assert!(
            e.to_string()
                .contains("Data is a string that is not a JSON document"),
            "{e}"
        );
    }

    #[test]
    fn cosign_with_trivy_result() {
        let scan = ok(&cosign(trivy_report(), "2026-01-01T10:00:00Z"));
        assert_eq!(scan.format, ScanFormat::CosignVuln { inner: "trivy" });
        assert_eq!(scan.format.to_string(), "cosign vuln (Trivy JSON)");
        assert_eq!(scan.scanner.as_deref(), Some("trivy 0.50.1"));
        // metadata.scanFinishedOn wins over the report's CreatedAt
        assert_eq!(scan.finished, Some(t0() + 10 * HOUR));
        assert_eq!(
            ids(&scan),
            [
                "CVE-2023-4911",
                "CVE-2011-3374",
                "TEMP-0841856-B18BAF",
                "CVE-2021-44228"
            ]
        );
        assert_eq!(
            scan.vulnerabilities[3].location,
            "scanner.result.Results[1].Vulnerabilities[0]"
        );
    }

    #[test]
    fn cosign_with_sarif_result_object_or_string() {
        for result in [trivy_sarif(), json!(trivy_sarif().to_string())] {
            let scan = ok(&cosign(result, T0));
            assert_eq!(scan.format, ScanFormat::CosignVuln { inner: "sarif" });
            assert_eq!(scan.finished, Some(t0()));
            assert_eq!(
                ids(&scan),
                ["CVE-2021-44228", "CVE-2011-3374", "TEMP-0841856-B18BAF"]
            );
            assert_eq!(
                scan.vulnerabilities[0].location,
                "scanner.result.runs[0].results[0]"
            );
        }
    }

    #[test]
    fn cosign_time_and_scanner_fallbacks() {
        // No metadata: the embedded report's CreatedAt; no uri/version: Trivy.Version.
        let doc = json!({"scanner": {"uri": "", "version": "", "result": trivy_report()}});
        let scan = ok(&doc.to_string());
        assert_eq!(scan.finished, Some(t0() - 3 * HOUR));
        assert_eq!(scan.scanner.as_deref(), Some("trivy 0.50.1"));
        // metadata without scanFinishedOn: the same
        let doc = json!({"scanner": {"result": trivy_report()}, "metadata": {}});
        assert_eq!(ok(&doc.to_string()).finished, Some(t0() - 3 * HOUR));
        // other scanner uris
        assert_eq!(
            cosign_scanner(Some("pkg:github/anchore/grype@v0.74.0?x=1"), None).as_deref(),
            Some("grype v0.74.0")
        );
        assert_eq!(
            cosign_scanner(Some("https://example.com/scanner"), Some("2")).as_deref(),
            Some("https://example.com/scanner 2")
        );
        assert_eq!(
            cosign_scanner(None, Some("2")).as_deref(),
            Some("scanner 2")
        );
    }

    #[test]
    fn cosign_bad_shapes() {
        let cases = [
            (json!({"scanner": null}), "scanner is null"),
            (json!({"scanner": "trivy"}), "scanner is a string"),
            (
                json!({"scanner": {"result": 5}}),
                "scanner.result is a number",
            ),
            (
                json!({"scanner": {"result": []}}),
                "scanner.result is an array",
            ),
            (
                json!({"scanner": {"result": {}}}),
                "scanner.result is an empty object",
            ),
            (
                json!({"scanner": {"result": {"matches": []}}}),
                "keys matches",
            ),
            (
                json!({"scanner": {"result": {"scanner": {"result": null}}}}),
                "another cosign vuln predicate",
            ),
            (
                json!({"scanner": {"result": json!({"scanner": {}}).to_string()}}),
                "another cosign vuln predicate",
            ),
            (
                json!({"scanner": {"result": {"Data": "x"}}}),
                "{Data, Timestamp} wrapper",
            ),
            (
                json!({"scanner": {"result": null}, "metadata": {"scanFinishedOn": "yesterday"}}),
                "metadata.scanFinishedOn \"yesterday\" is not an RFC 3339 time",
            ),
            (
                json!({"scanner": {"result": null}, "metadata": {"scanFinishedOn": 5}}),
                "metadata.scanFinishedOn is a number",
            ),
            (
                json!({"scanner": {"result": null}, "metadata": "now"}),
                "invalid type: string \"now\"",
            ),
        ];
        for (doc, want) in cases {
            let e = err(&doc.to_string());
            assert!(e.to_string().contains(want), "{doc}: {e}");
        }
    }

    // --- shape 2: Trivy JSON ---------------------------------------------------------------

    #[test]
    fn trivy_report_fields() {
        let scan = ok(&trivy_text());
        assert_eq!(scan.format, ScanFormat::Trivy);
        assert_eq!(scan.format.to_string(), "Trivy JSON");
        assert_eq!(scan.scanner.as_deref(), Some("trivy 0.50.1"));
        // 2025-12-31T22:00:00.123456+01:00 is 21:00 UTC
        assert_eq!(scan.finished, Some(t0() - 3 * HOUR));
        let v = &scan.vulnerabilities;
        assert_eq!(v.len(), 4);
        assert_eq!(
            (v[0].id.as_str(), v[0].severity, v[0].severity_unknown),
            ("CVE-2023-4911", Severity::High, false)
        );
        assert_eq!(v[0].aliases, ["DSA-5514-1"]);
        assert_eq!(v[0].package.as_deref(), Some("libc6"));
        assert_eq!(v[0].installed_version.as_deref(), Some("2.36-9"));
        assert_eq!(v[0].location, "Results[0].Vulnerabilities[0]");
        assert_eq!(v[1].severity, Severity::Low);
        // UNKNOWN: counted as critical
        assert_eq!(
            (v[2].severity, v[2].severity_unknown),
            (Severity::Critical, true)
        );
        assert_eq!(v[3].aliases, ["GHSA-jfh8-c2jp-5v3q"]);
        assert_eq!(
            v[3].package.as_deref(),
            Some("org.apache.logging.log4j:log4j-core")
        );
        assert_eq!(v[3].location, "Results[1].Vulnerabilities[0]");
    }

    #[test]
    fn trivy_severity_words() {
        for (word, sev) in [
            (json!("CRITICAL"), Some(Severity::Critical)),
            (json!("high"), Some(Severity::High)),
            (json!("MEDIUM"), Some(Severity::Medium)),
            (json!("MODERATE"), Some(Severity::Medium)),
            (json!("LOW"), Some(Severity::Low)),
            (json!("NEGLIGIBLE"), Some(Severity::Low)),
            (json!("UNKNOWN"), None),
            (json!("IMPORTANT"), None),
            (json!(""), None),
            (json!(null), None),
            (json!(4), None),
            (json!(["HIGH"]), None),
            (json!({"nvd": "HIGH"}), None),
        ] {
            let doc = json!({"SchemaVersion": 2, "Results": [{"Vulnerabilities": [
                {"VulnerabilityID": "CVE-2024-0001", "Severity": word}]}]});
            let v = &ok(&doc.to_string()).vulnerabilities[0];
            assert_eq!(v.severity_unknown, sev.is_none(), "{word}");
            assert_eq!(v.severity, sev.unwrap_or(Severity::Critical), "{word}");
        }
        // absent Severity, and no package or version
        let doc = r#"{"Results": [{"Vulnerabilities": [{"VulnerabilityID": " CVE-1 "}]}]}"#;
        let v = &ok(doc).vulnerabilities[0];
        assert!(v.severity_unknown);
        assert_eq!(
            (v.id.as_str(), &v.package, &v.installed_version),
            ("CVE-1", &None, &None)
        );
    }

    #[test]
    fn trivy_empty_and_null_forms() {
        for doc in [
            r#"{"SchemaVersion": 2}"#,
            r#"{"SchemaVersion": 2, "Results": null}"#,
            r#"{"SchemaVersion": 2, "Results": []}"#,
            r#"{"SchemaVersion": null, "Results": [null, {}, {"Vulnerabilities": null}, {"Vulnerabilities": [null]}]}"#,
            r#"{"SchemaVersion": 2, "CreatedAt": null, "Trivy": null, "ArtifactName": null, "Metadata": null, "Results": [{"Target": null, "Class": null, "Vulnerabilities": []}]}"#,
            r#"{"Results": [], "CreatedAt": ""}"#,
        ] {
            let scan = ok(doc);
            assert_eq!(scan.format, ScanFormat::Trivy, "{doc}");
            assert!(scan.vulnerabilities.is_empty(), "{doc}");
            assert_eq!(scan.finished, None, "{doc}");
        }
        // null descriptive fields inside a vulnerability
        let doc = r#"{"Results": [{"Vulnerabilities": [{"VulnerabilityID": "CVE-1", "VendorIDs": null,
            "PkgName": null, "PkgID": "zlib@1.2", "InstalledVersion": 1.2, "Severity": null}]}]}"#;
        let v = &ok(doc).vulnerabilities[0];
        assert_eq!(v.package.as_deref(), Some("zlib@1.2"));
        assert_eq!(v.installed_version, None);
        assert!(v.aliases.is_empty() && v.severity_unknown);
    }

    #[test]
    fn trivy_errors() {
        let cases = [
            (
                r#"{"SchemaVersion": 1, "Results": []}"#,
                "unsupported SchemaVersion 1",
            ),
            (r#"{"SchemaVersion": "2"}"#, "SchemaVersion is a string"),
            (
                r#"{"SchemaVersion": 123456789012345678901234567890}"#,
                "unsupported SchemaVersion",
            ),
            (
                "{\"SchemaVersion\": 2,\n \"Results\": 5}",
                "invalid type: integer `5`, expected a sequence at line 2 column 13",
            ),
            (
                r#"{"Results": [{"Vulnerabilities": {"a": 1}}]}"#,
                "invalid Trivy JSON report: invalid type: map",
            ),
            (r#"{"Results": [5]}"#, "invalid type: integer `5`"),
            (
                r#"{"Results": [{"Vulnerabilities": ["CVE-1"]}]}"#,
                "invalid type: string",
            ),
            (
                r#"{"Results": [{}, {"Vulnerabilities": [{"Severity": "HIGH"}]}]}"#,
                "Results[1].Vulnerabilities[0] has no VulnerabilityID (VulnerabilityID is absent)",
            ),
            (
                r#"{"Results": [{"Vulnerabilities": [{"VulnerabilityID": 44228}]}]}"#,
                "has no VulnerabilityID (VulnerabilityID is a number)",
            ),
            (
                r#"{"Results": [{"Vulnerabilities": [{"VulnerabilityID": "  "}]}]}"#,
                "has no VulnerabilityID",
            ),
            (
                r#"{"Results": [], "CreatedAt": "2024-13-01T00:00:00Z"}"#,
                "CreatedAt",
            ),
            (
                r#"{"Results": [], "CreatedAt": 0}"#,
                "CreatedAt is a number",
            ),
            (
                r#"{"Results": [], "Results": []}"#,
                "duplicate key \"Results\"",
            ),
            (
                r#"{"Results": [{"Vulnerabilities": [], "Vulnerabilities": []}]}"#,
                "duplicate field `Vulnerabilities`",
            ),
            (
                r#"{"Results": [{"Vulnerabilities": [{"VulnerabilityID": "CVE-1", "Severity": "LOW", "Severity": "CRITICAL"}]}]}"#,
                "duplicate field `Severity`",
            ),
        ];
        for (doc, want) in cases {
            let e = err(doc);
            assert!(matches!(e, ScanError::Invalid { .. }), "{doc}: {e:?}");
            assert!(e.to_string().contains(want), "{doc}: {e}");
        }
        // serde's position is kept as data too
        match err("{\"SchemaVersion\": 2,\n \"Results\": 5}") {
            ScanError::Invalid { format, at, .. } => {
                assert_eq!((format, at), (TRIVY, Some((2, 13))));
            }
            other => panic!("{other:?}"),
        }
    }

    // --- shape 3: SARIF ----------------------------------------------------------------------

    #[test]
    fn trivy_sarif_log() {
        let scan = ok(&trivy_sarif().to_string());
        assert_eq!(scan.format, ScanFormat::Sarif);
        assert_eq!(scan.format.to_string(), "SARIF");
        assert_eq!(scan.scanner.as_deref(), Some("Trivy 0.50.1"));
        assert_eq!(scan.finished, None, "Trivy writes no invocations");
        // the secret finding is not a vulnerability
        assert_eq!(
            ids(&scan),
            ["CVE-2021-44228", "CVE-2011-3374", "TEMP-0841856-B18BAF"]
        );
        let v = &scan.vulnerabilities;
        assert_eq!(
            (v[0].severity, v[0].severity_unknown),
            (Severity::Critical, false)
        );
        assert_eq!(
            v[0].package.as_deref(),
            Some("org.apache.logging.log4j:log4j-core")
        );
        assert_eq!(v[0].installed_version.as_deref(), Some("2.14.1"));
        assert_eq!(v[0].location, "runs[0].results[0]");
        assert!(v[0].aliases.is_empty());
        assert_eq!(v[1].severity, Severity::Low);
        // security-severity 0.0 with the UNKNOWN tag: unknown, not none
        assert_eq!(
            (v[2].severity, v[2].severity_unknown),
            (Severity::Critical, true)
        );
        assert_eq!(v[2].package.as_deref(), Some("bash"));
    }

    #[test]
    fn grype_sarif_log() {
        let scan = ok(&grype_sarif().to_string());
        assert_eq!(scan.scanner.as_deref(), Some("grype 0.74.0"));
        assert_eq!(
            ids(&scan),
            ["CVE-2021-44228", "GHSA-8489-44mv-ggj8", "CVE-2005-2541"]
        );
        let v = &scan.vulnerabilities;
        assert_eq!(v[0].aliases, ["CVE-2021-44228-log4j-core"]);
        assert_eq!(v[0].severity, Severity::Critical);
        assert_eq!(v[0].package.as_deref(), Some("log4j-core"));
        assert_eq!(v[0].installed_version.as_deref(), Some("2.14.1"));
        assert_eq!(v[1].aliases, ["GHSA-8489-44mv-ggj8-log4j-core"]);
        assert_eq!(v[1].severity, Severity::Medium);
        // score 0.0, help says negligible: low
        assert_eq!(
            (v[2].severity, v[2].severity_unknown),
            (Severity::Low, false)
        );
        assert_eq!(v[2].installed_version.as_deref(), Some("1.34+dfsg-1.2"));
    }

    /// One rule, one result; `rule_props`/`rule_level`/`result_level` vary.
    fn sarif_one(
        rule_props: serde_json::Value,
        rule_level: Option<&str>,
        result_level: Option<&str>,
    ) -> Vulnerability {
        let mut rule = json!({"id": "CVE-2024-1234", "properties": rule_props});
        if let Some(l) = rule_level {
            rule["defaultConfiguration"] = json!({"level": l});
        }
        let mut result = json!({"ruleId": "CVE-2024-1234", "ruleIndex": 0});
        if let Some(l) = result_level {
            result["level"] = json!(l);
        }
        let doc = json!({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x", "rules": [rule]}}, "results": [result]}]});
        let mut scan = ok(&doc.to_string());
        assert_eq!(scan.vulnerabilities.len(), 1);
        scan.vulnerabilities.remove(0)
    }

    #[test]
    fn sarif_severity_table() {
        use Severity::{Critical, High, Low, Medium, None as Zero};
        /// (rule properties, rule default level, result level, expected; None: unknown)
        type Row = (
            serde_json::Value,
            Option<&'static str>,
            Option<&'static str>,
            Option<Severity>,
        );
        let table: Vec<Row> = vec![
            // 1. security-severity
            (
                json!({"security-severity": "9.8"}),
                None,
                Some("note"),
                Some(Critical),
            ),
            (
                json!({"security-severity": "9.0"}),
                None,
                None,
                Some(Critical),
            ),
            (json!({"security-severity": "8.9"}), None, None, Some(High)),
            (json!({"security-severity": 7.0}), None, None, Some(High)),
            (
                json!({"security-severity": "6.9"}),
                None,
                None,
                Some(Medium),
            ),
            (
                json!({"security-severity": "4.0"}),
                None,
                None,
                Some(Medium),
            ),
            (json!({"security-severity": "3.9"}), None, None, Some(Low)),
            (json!({"security-severity": " 0.1 "}), None, None, Some(Low)),
            (
                json!({"security-severity": "10"}),
                None,
                None,
                Some(Critical),
            ),
            // score wins over tags
            (
                json!({"security-severity": "5.0", "tags": ["CRITICAL"]}),
                None,
                None,
                Some(Medium),
            ),
            // 2. tags
            (
                json!({"tags": ["vulnerability", "security", "CRITICAL"]}),
                None,
                None,
                Some(Critical),
            ),
            (
                json!({"tags": ["vulnerability", "HIGH", "openssl"]}),
                None,
                None,
                Some(High),
            ),
            (
                json!({"tags": ["medium"]}),
                None,
                Some("error"),
                Some(Medium),
            ),
            (json!({"tags": ["LOW"]}), None, None, Some(Low)),
            (
                json!({"tags": ["security", "UNKNOWN"]}),
                None,
                Some("note"),
                None,
            ),
            (
                json!({"security-severity": "0.0", "tags": ["UNKNOWN"]}),
                None,
                Some("note"),
                None,
            ),
            (
                json!({"security-severity": "0.0", "tags": ["HIGH"]}),
                None,
                None,
                Some(High),
            ),
            // 4. zero score alone: none (before levels)
            (
                json!({"security-severity": "0.0"}),
                None,
                Some("error"),
                Some(Zero),
            ),
            (json!({"security-severity": 0}), None, None, Some(Zero)),
            // unusable scores are skipped
            (
                json!({"security-severity": "11.0"}),
                None,
                Some("warning"),
                Some(Medium),
            ),
            (
                json!({"security-severity": "-1"}),
                None,
                Some("note"),
                Some(Low),
            ),
            (
                json!({"security-severity": "NaN"}),
                None,
                Some("note"),
                Some(Low),
            ),
            (json!({"security-severity": "inf"}), None, None, None),
            (json!({"security-severity": "high"}), None, None, None),
            (json!({"security-severity": 1e308}), None, None, None),
            (json!({"security-severity": [9.8]}), None, None, None),
            // 5. levels: the result's, else the rule's default
            (json!({}), None, Some("error"), Some(Critical)),
            (json!({}), None, Some("warning"), Some(Medium)),
            (json!({}), None, Some("note"), Some(Low)),
            (json!({}), None, Some("none"), Some(Zero)),
            (json!({}), Some("error"), None, Some(Critical)),
            (json!({}), Some("warning"), None, Some(Medium)),
            (json!({}), Some("note"), Some("warning"), Some(Medium)),
            (json!({}), Some("note"), Some("loud"), Some(Low)),
            // 6. nothing usable: unknown
            (json!({}), None, None, None),
            (json!(null), None, None, None),
            (json!({"tags": "HIGH"}), None, None, None),
            (
                json!({"tags": [1, null, "openssl"]}),
                None,
                Some("bogus"),
                None,
            ),
        ];
        for (props, rule_level, result_level, want) in table {
            let v = sarif_one(props.clone(), rule_level, result_level);
            assert_eq!(
                v.severity_unknown,
                want.is_none(),
                "{props} {rule_level:?} {result_level:?}"
            );
            assert_eq!(
                v.severity,
                want.unwrap_or(Critical),
                "{props} {rule_level:?} {result_level:?}"
            );
        }
    }

    #[test]
    fn sarif_severity_from_result_properties_and_text() {
        // result properties when the rule has none
        let doc = json!({"runs": [{"results": [
            {"ruleId": "CVE-1", "properties": {"security-severity": "7.5"}},
            {"ruleId": "CVE-2", "message": {"text": "Package: zlib\nSeverity: MEDIUM"}},
            {"ruleId": "CVE-3", "properties": {"tags": ["LOW"]}, "level": "error"}
        ]}]});
        let scan = ok(&doc.to_string());
        let sev: Vec<_> = scan.vulnerabilities.iter().map(|v| v.severity).collect();
        assert_eq!(sev, [Severity::High, Severity::Medium, Severity::Low]);
        assert_eq!(scan.vulnerabilities[1].package.as_deref(), Some("zlib"));
        assert_eq!(scan.scanner, None);
    }

    #[test]
    fn sarif_rule_lookup() {
        let doc = json!({"version": "2.1.0", "runs": [{
            "tool": {"driver": {"name": "x", "rules": [
                {"id": "CVE-2024-0001", "properties": {"security-severity": "2.0"}},
                null,
                {"id": "CVE-2024-0002", "properties": {"security-severity": "9.1"}}
            ]}},
            "results": [
                // ruleIndex 0 everywhere (an old Grype): the ruleId decides
                {"ruleId": "CVE-2024-0002", "ruleIndex": 0},
                // no ruleId: the index decides, and gives the id
                {"ruleIndex": 2},
                // a reportingDescriptorReference
                {"rule": {"id": "CVE-2024-0001"}},
                {"rule": {"index": 2}},
                // index out of range, huge, negative or fractional: the id decides
                {"ruleId": "CVE-2024-0001", "ruleIndex": 7},
                {"ruleId": "CVE-2024-0001", "ruleIndex": 1e20},
                {"ruleId": "CVE-2024-0001", "ruleIndex": -1},
                {"ruleId": "CVE-2024-0001", "ruleIndex": 0.5},
                // no such rule at all: result level, else unknown
                {"ruleId": "CVE-2024-0003", "level": "warning"},
                {"ruleId": "CVE-2024-0004", "ruleIndex": 1}
            ]
        }]});
        let scan = ok(&doc.to_string());
        let got: Vec<(&str, Severity, bool)> = scan
            .vulnerabilities
            .iter()
            .map(|v| (v.id.as_str(), v.severity, v.severity_unknown))
            .collect();
        use Severity::{Critical, Low, Medium};
        assert_eq!(
            got,
            [
                ("CVE-2024-0002", Critical, false),
                ("CVE-2024-0002", Critical, false),
                ("CVE-2024-0001", Low, false),
                ("CVE-2024-0002", Critical, false),
                ("CVE-2024-0001", Low, false),
                ("CVE-2024-0001", Low, false),
                ("CVE-2024-0001", Low, false),
                ("CVE-2024-0001", Low, false),
                ("CVE-2024-0003", Medium, false),
                ("CVE-2024-0004", Critical, true),
            ]
        );
    }

    #[test]
    fn sarif_ids() {
        for (rule_id, id, alias) in [
            ("CVE-2021-44228", "CVE-2021-44228", None),
            (
                "CVE-2021-44228-log4j-core",
                "CVE-2021-44228",
                Some("CVE-2021-44228-log4j-core"),
            ),
            (
                "cve-2021-44228-log4j-core",
                "cve-2021-44228",
                Some("cve-2021-44228-log4j-core"),
            ),
            (
                "[HIGH] CVE-2020-1752",
                "CVE-2020-1752",
                Some("[HIGH] CVE-2020-1752"),
            ),
            (
                "[LOW] TEMP-0841856-B18BAF",
                "TEMP-0841856-B18BAF",
                Some("[LOW] TEMP-0841856-B18BAF"),
            ),
            ("GHSA-jfh8-c2jp-5v3q", "GHSA-jfh8-c2jp-5v3q", None),
            (
                "GHSA-jfh8-c2jp-5v3q-log4j-core",
                "GHSA-jfh8-c2jp-5v3q",
                Some("GHSA-jfh8-c2jp-5v3q-log4j-core"),
            ),
            (
                "ANCHOREVULN_alpine:3.12_CVE-2021-36159_apk_apk-tools_2.10.6-r0",
                "CVE-2021-36159",
                Some("ANCHOREVULN_alpine:3.12_CVE-2021-36159_apk_apk-tools_2.10.6-r0"),
            ),
            ("TEMP-0841856-B18BAF", "TEMP-0841856-B18BAF", None),
            ("XCVE-2021-44228", "XCVE-2021-44228", None),
            ("CVE-2021-44228x", "CVE-2021-44228x", None),
            ("CVE-21-44228", "CVE-21-44228", None),
            ("CVE-2021-442", "CVE-2021-442", None),
            ("GHSA-jfh8-c2jp", "GHSA-jfh8-c2jp", None),
            ("ALAS2-2023-1234", "ALAS2-2023-1234", None),
            ("[", "[", None),
            ("CVE-", "CVE-", None),
            ("ÄCVE-2021-44228", "CVE-2021-44228", Some("ÄCVE-2021-44228")),
        ] {
            let doc = json!({"runs": [{"results": [{"ruleId": rule_id}]}]});
            let v = &ok(&doc.to_string()).vulnerabilities[0];
            assert_eq!(v.id, id, "{rule_id}");
            assert_eq!(v.aliases.first().map(String::as_str), alias, "{rule_id}");
        }
    }

    #[test]
    fn sarif_ids_stated_in_text() {
        for (rule_id, text, id) in [
            (
                "TEMP-0841856-B18BAF-bash",
                "Vulnerability TEMP-0841856-B18BAF\nSeverity: unknown",
                "TEMP-0841856-B18BAF",
            ),
            (
                "ALAS2-2023-2001-curl",
                "Vulnerability alas2-2023-2001",
                "alas2-2023-2001",
            ),
            ("TEMP-1", "Vulnerability TEMP-1", "TEMP-1"),
            ("TEMP-1x", "Vulnerability TEMP-1", "TEMP-1x"),
            ("TEMP-1-bash", "Vulnerability OTHER-1", "TEMP-1-bash"),
            ("TEMP-1-bash", "Vulnerability ", "TEMP-1-bash"),
            (
                "CVE-2021-44228-x",
                "Vulnerability CVE-2021-44228-x",
                "CVE-2021-44228",
            ),
        ] {
            for (message, help) in [
                (json!({"text": text}), json!(null)),
                (json!(null), json!({"text": text})),
            ] {
                let doc = json!({"runs": [{
                    "tool": {"driver": {"rules": [{"id": rule_id, "help": help}]}},
                    "results": [{"ruleId": rule_id, "message": message}]
                }]});
                let v = &ok(&doc.to_string()).vulnerabilities[0];
                assert_eq!(v.id, id, "{rule_id} {text}");
                assert_eq!(v.aliases.is_empty(), id == rule_id, "{rule_id} {text}");
            }
        }
    }

    #[test]
    fn sarif_skipped_results() {
        let doc = json!({"runs": [{
            "tool": {"driver": {"name": "Trivy", "rules": [
                {"id": "DS002", "properties": {"tags": ["misconfiguration", "security", "HIGH"]}},
                {"id": "MIT", "properties": {"tags": ["license", "security", "LOW"]}},
                {"id": "CVE-2024-1", "properties": {"tags": ["vulnerability", "security", "secret", "HIGH"]}}
            ]}},
            "results": [
                {"ruleId": "DS002", "ruleIndex": 0},
                {"ruleId": "MIT", "ruleIndex": 1},
                {"ruleId": "CVE-2024-1", "ruleIndex": 2},
                {"ruleId": "CVE-2024-2", "kind": "pass"},
                {"ruleId": "CVE-2024-3", "kind": "notApplicable"},
                {"ruleId": "CVE-2024-4", "kind": "fail",
                 "suppressions": [{"kind": "external"}], "baselineState": "unchanged"}
            ]
        }]});
        assert_eq!(ids(&ok(&doc.to_string())), ["CVE-2024-1", "CVE-2024-4"]);
    }

    #[test]
    fn sarif_times_runs_and_nulls() {
        let doc = json!({"version": "2.1.0", "runs": [
            null,
            {"tool": null, "results": null, "invocations": null},
            {"tool": {"driver": null}, "results": [null],
             "invocations": [null, {"startTimeUtc": "2025-12-31T00:00:00Z", "endTimeUtc": "2025-12-31T23:00:00Z"}]},
            {"tool": {"driver": {"name": "Trivy", "semanticVersion": "0.50.1", "rules": null}},
             "invocations": [{"endTimeUtc": T0}, {"endTimeUtc": null}, {"endTimeUtc": ""}],
             "results": [{"ruleId": "CVE-1", "level": "note", "message": null, "properties": null, "rule": null}]}
        ]});
        let scan = ok(&doc.to_string());
        assert_eq!(scan.finished, Some(t0()), "the latest endTimeUtc");
        assert_eq!(scan.scanner.as_deref(), Some("Trivy 0.50.1"));
        assert_eq!(ids(&scan), ["CVE-1"]);
        assert_eq!(scan.vulnerabilities[0].location, "runs[3].results[0]");

        for doc in [
            json!({"version": "2.1.0", "runs": []}),
            json!({"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "runs": [{}]}),
            json!({"runs": [{"results": []}]}),
        ] {
            let scan = ok(&doc.to_string());
            assert_eq!(scan.format, ScanFormat::Sarif);
            assert!(scan.vulnerabilities.is_empty());
            assert_eq!(scan.finished, None);
        }
    }

    #[test]
    fn sarif_errors() {
        let cases = [
            (json!({"version": "2.1.0"}), "invalid SARIF log: no runs"),
            (json!({"version": "2.1.0", "runs": null}), "runs is null"),
            (json!({"version": "2.1.0", "runs": {}}), "runs is an object"),
            (
                json!({"version": "2.0.0", "runs": []}),
                "unsupported SARIF version \"2.0.0\"",
            ),
            (json!({"version": 2.1, "runs": []}), "version is a number"),
            (json!({"runs": [5]}), "invalid type: integer `5`"),
            (json!({"runs": [{"results": {}}]}), "invalid type: map"),
            (
                json!({"runs": [{"tool": {"driver": {"rules": "x"}}}]}),
                "invalid type: string",
            ),
            (
                json!({"runs": [{"results": [{"level": "error"}]}]}),
                "runs[0].results[0] has no ruleId",
            ),
            (
                json!({"runs": [{"results": [{"ruleId": 5}]}]}),
                "has no ruleId",
            ),
            (
                json!({"runs": [{"invocations": [{"endTimeUtc": "soon"}]}]}),
                "runs[0].invocations[0].endTimeUtc \"soon\" is not an RFC 3339 time",
            ),
        ];
        for (doc, want) in cases {
            let e = err(&doc.to_string());
            assert!(matches!(e, ScanError::Invalid { .. }), "{doc}: {e:?}");
            assert!(e.to_string().contains(want), "{doc}: {e}");
        }
    }

    // --- shape 4: wrappers ---------------------------------------------------------------

    #[test]
    fn custom_wrapper_with_string_or_object() {
        let mut report = trivy_report();
        report.as_object_mut().unwrap().remove("CreatedAt");
        let ts = "2026-01-02T00:00:00Z";
        for data in [json!(report.to_string()), report.clone()] {
            let doc = json!({"Data": data, "Timestamp": ts});
            let scan = ok(&doc.to_string());
            assert_eq!(scan.format, ScanFormat::Trivy);
            assert_eq!(
                scan.finished,
                Some(t0() + 24 * HOUR),
                "the wrapper's Timestamp"
            );
            assert_eq!(scan.vulnerabilities.len(), 4);
            assert_eq!(
                scan.vulnerabilities[3].location,
                "Data.Results[1].Vulnerabilities[0]"
            );
        }
        // the document's own time wins over Timestamp
        for data in [json!(trivy_text()), trivy_report()] {
            let scan = ok(&json!({"Data": data, "Timestamp": ts}).to_string());
            assert_eq!(scan.finished, Some(t0() - 3 * HOUR));
        }
        // SARIF and cosign vuln inside the wrapper, and no Timestamp at all
        let scan = ok(&json!({"Data": grype_sarif()}).to_string());
        assert_eq!(scan.format, ScanFormat::Sarif);
        assert_eq!(scan.finished, None);
        assert_eq!(scan.vulnerabilities[0].location, "Data.runs[0].results[0]");
        let c: serde_json::Value = serde_json::from_str(&cosign(trivy_report(), T0)).unwrap();
        let scan = ok(&json!({"Data": c, "Timestamp": ts}).to_string());
        assert_eq!(scan.format, ScanFormat::CosignVuln { inner: "trivy" });
        assert_eq!(scan.finished, Some(t0()));
        assert_eq!(
            scan.vulnerabilities[0].location,
            "Data.scanner.result.Results[0].Vulnerabilities[0]"
        );
        let scan = ok(&json!({"Data": c.to_string(), "Timestamp": null}).to_string());
        assert_eq!(scan.vulnerabilities.len(), 4);
    }

    #[test]
    fn document_as_json_string() {
        let scan = ok(&json!(trivy_text()).to_string());
        assert_eq!(scan.format, ScanFormat::Trivy);
        assert_eq!(
            scan.vulnerabilities[0].location,
            "Results[0].Vulnerabilities[0]"
        );
        let scan = ok(&json!(trivy_sarif().to_string()).to_string());
        assert_eq!(scan.format, ScanFormat::Sarif);
        let scan = ok(&json!(cosign(json!(null), T0)).to_string());
        assert_eq!(scan.format, ScanFormat::CosignVuln { inner: "empty" });
        // a few levels are unwrapped, not more
        let mut text = trivy_text();
        for _ in 0..MAX_EMBEDDING {
            text = json!(text).to_string();
        }
        assert_eq!(ok(&text).vulnerabilities.len(), 4);
        let e = err(&json!(text).to_string());
        assert!(e.to_string().contains("nested more than"), "{e}");
    }

    #[test]
    fn wrapper_errors() {
        let cases: Vec<(String, &str)> = vec![
            (
                json!({"Data": "not json"}).to_string(),
                "Data is a string that is not a JSON document",
            ),
            (
                json!({"Data": "[1, 2]"}).to_string(),
                "the JSON text in Data is an array",
            ),
            (
                json!({"Data": "{\"a\": 1}"}).to_string(),
                "the JSON text in Data is an object with keys a",
            ),
            (json!({"Data": null}).to_string(), "Data is null"),
            (json!({"Data": 5}).to_string(), "Data is a number"),
            (
                json!({"Data": {"Data": {}}}).to_string(),
                "another {Data, Timestamp} wrapper",
            ),
            (
                json!({"Data": {"x": 1}}).to_string(),
                "Data is an object with keys x",
            ),
            (json!({"Data": {}, "runs": []}).to_string(), "both Data"),
            (
                json!({"Data": trivy_report(), "Timestamp": "last week"}).to_string(),
                "Timestamp \"last week\" is not an RFC 3339 time",
            ),
            (
                json!({"Data": trivy_report(), "Timestamp": 5}).to_string(),
                "Timestamp is a number",
            ),
            (
                r#"{"Data": "x", "Data": "y"}"#.to_string(),
                "duplicate key \"Data\"",
            ),
            (
                json!({"Data": json!({"Results": 5}).to_string()}).to_string(),
                "in the document held as a JSON string in Data: invalid Trivy JSON report: invalid type: integer `5`, expected a sequence at line 1 column 12",
            ),
            (
                json!(json!({"Results": 5}).to_string()).to_string(),
                "in the document held as a JSON string in the predicate: invalid Trivy JSON report",
            ),
            (
                json!("hello").to_string(),
                "the predicate is a string that is not a JSON document",
            ),
        ];
        for (doc, want) in cases {
            let e = err(&doc);
            assert!(e.to_string().contains(want), "{doc}: {e}");
        }
    }

    // --- malformed input -----------------------------------------------------------------

    #[test]
    fn not_json() {
        for (text, line, column) in [
            ("", 1, 0),
            ("   ", 1, 3),
            ("{", 1, 1),
            ("{\"Results\": [}", 1, 14),
            ("{\n  \"a\": tru\n}", 3, 0),
            ("{\n  \"a\": [1,, 2]\n}", 2, 11),
            ("{} {}", 1, 4),
            ("{\"SchemaVersion\": 1e999}", 1, 23),
            ("\u{feff}{}", 1, 1),
            ("nul", 1, 3),
        ] {
            match err(text) {
                ScanError::NotJson {
                    line: l, column: c, ..
                } => assert_eq!((l, c), (line, column), "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
        let e = err("{\"a\": tru}").to_string();
        assert!(e.starts_with("the scan result is not JSON: "), "{e}");
        assert!(e.ends_with(" at line 1 column 10"), "{e}");
        // deep nesting: skipped without recursion, or serde_json's recursion limit; never
        // the stack
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(err(&deep), ScanError::NotAScan(_)));
        let deep = format!(
            "{{\"Results\": {}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(matches!(err(&deep), ScanError::Invalid { .. }));
        let deep = format!("{}1{}", "{\"Data\":".repeat(10_000), "}".repeat(10_000));
        assert!(matches!(err(&deep), ScanError::NotJson { .. }));
    }

    #[test]
    fn not_a_scan() {
        for (text, want) in [
            ("null", "the predicate is null"),
            ("true", "the predicate is a boolean"),
            ("42", "the predicate is a number"),
            ("[]", "the predicate is an array"),
            ("[{\"SchemaVersion\": 2}]", "the predicate is an array"),
            ("{}", "the predicate is an empty object"),
            (
                r#"{"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "x"}"#,
                "keys spdxVersion, SPDXID, name",
            ),
            (
                r#"{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1}"#,
                "keys bomFormat, specVersion, version",
            ),
            (
                r#"{"_type": "https://in-toto.io/Statement/v1", "predicateType": "x", "subject": [], "predicate": {}}"#,
                "pass its predicate",
            ),
            (
                r#"{"scanner": {"result": null}, "Results": []}"#,
                "mixes the fields of a cosign vuln predicate and a Trivy JSON report",
            ),
            (
                r#"{"SchemaVersion": 2, "runs": []}"#,
                "mixes the fields of a Trivy JSON report and a SARIF log",
            ),
        ] {
            let e = err(text);
            assert!(matches!(e, ScanError::NotAScan(_)), "{text}: {e:?}");
            assert!(e.to_string().contains(want), "{text}: {e}");
        }
        let many = format!(
            "{{{}}}",
            (0..20)
                .map(|i| format!("\"k{i}\": {i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let e = err(&many).to_string();
        assert!(
            e.contains("k0, k1, k2, k3, k4, k5, k6, k7 and 12 more"),
            "{e}"
        );
    }

    #[test]
    fn never_panics_on_truncated_or_mangled_documents() {
        let docs = [
            trivy_text(),
            trivy_sarif().to_string(),
            cosign(grype_sarif(), T0),
            json!({"Data": trivy_text(), "Timestamp": T0}).to_string(),
        ];
        for doc in &docs {
            for end in 0..doc.len() {
                if let Some(prefix) = doc.get(..end) {
                    let _ = parse(prefix);
                }
            }
            let bytes = doc.as_bytes();
            for (i, replacement) in (0..bytes.len())
                .step_by(7)
                .zip([b'"', b'{', b'1', b']', b'n', b',', b'\\'].iter().cycle())
            {
                let mut b = bytes.to_vec();
                if let Some(slot) = b.get_mut(i) {
                    *slot = *replacement;
                }
                if let Ok(text) = String::from_utf8(b) {
                    let _ = parse(&text);
                }
            }
        }
    }

    #[test]
    fn null_everywhere() {
        for doc in [
            json!({"scanner": {"uri": null, "version": null, "db": null, "result": null}, "metadata": null, "invocation": null}),
            json!({"scanner": {"uri": null, "version": null, "result": null}, "metadata": {"scanStartedOn": null, "scanFinishedOn": null}}),
            json!({"scanner": {}}),
        ] {
            let scan = ok(&doc.to_string());
            assert_eq!(scan.format, ScanFormat::CosignVuln { inner: "empty" });
            assert!(scan.vulnerabilities.is_empty());
            assert_eq!((scan.finished, scan.scanner), (None, None));
        }
        let doc = json!({"Data": {"SchemaVersion": null, "Results": null}, "Timestamp": null});
        assert!(ok(&doc.to_string()).vulnerabilities.is_empty());
    }

    // --- shape 5: CycloneDX BOM with vulnerabilities -------------------------------------

    const LIBC: &str = "pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12.5";
    const CURL: &str = "pkg:deb/debian/curl@7.88.1-10?arch=amd64&distro=debian-12.5";
    const LIBCURL: &str = "pkg:deb/debian/libcurl4@7.88.1-10?arch=amd64&distro=debian-12.5";
    const LOG4J: &str = "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1";
    const BABEL: &str = "pkg:npm/%40babel/traverse@7.22.0";

    /// A CycloneDX 1.5 BOM as `trivy image --format cyclonedx --scanners vuln` writes it
    /// (the Debian packages nested under the OS component, to cover nesting), with a VEX
    /// statement on one entry.
    fn trivy_cdx() -> serde_json::Value {
        json!({
            "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
            "version": 1,
            "metadata": {
                "timestamp": "2026-01-01T01:00:00+01:00",
                "tools": {"components": [{"type": "application", "group": "aquasecurity",
                                          "name": "trivy", "version": "0.50.1"}]},
                "component": {"bom-ref": "pkg:oci/web@sha256%3Aaa?repository_url=ghcr.io%2Facme%2Fweb",
                              "type": "container", "name": "ghcr.io/acme/web:1.2.3",
                              "purl": "pkg:oci/web@sha256%3Aaa?repository_url=ghcr.io%2Facme%2Fweb"}
            },
            "components": [
                {"bom-ref": "0b7e5c4e-6f3c-4d1e-9a55-1c2f3e4d5a6b", "type": "operating-system",
                 "name": "debian", "version": "12.5",
                 "components": [
                    {"bom-ref": LIBC, "type": "library", "name": "libc6", "version": "2.36-9", "purl": LIBC},
                    {"bom-ref": CURL, "type": "library", "name": "curl", "version": "7.88.1-10", "purl": CURL},
                    {"bom-ref": LIBCURL, "type": "library", "name": "libcurl4", "version": "7.88.1-10", "purl": LIBCURL}
                 ]},
                {"bom-ref": LOG4J, "type": "library", "group": "org.apache.logging.log4j",
                 "name": "log4j-core", "version": "2.14.1", "purl": LOG4J},
                {"bom-ref": BABEL, "type": "library", "group": "@babel", "name": "traverse",
                 "version": "7.22.0", "purl": BABEL}
            ],
            "vulnerabilities": [
                {"id": "CVE-2023-4911",
                 "source": {"name": "debian", "url": "https://salsa.debian.org/security-tracker-team/security-tracker"},
                 "ratings": [
                    {"source": {"name": "debian"}, "severity": "high", "method": "other"},
                    {"source": {"name": "nvd"}, "score": 7.8, "severity": "high", "method": "CVSSv31",
                     "vector": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}
                 ],
                 "cwes": [122],
                 "description": "glibc: buffer overflow in ld.so",
                 "references": [
                    {"id": "DSA-5514-1", "source": {"name": "debian"}},
                    {"id": "https://security-tracker.debian.org/tracker/CVE-2023-4911", "source": {"name": "debian"}}
                 ],
                 "affects": [{"ref": LIBC, "versions": [{"version": "2.36-9", "status": "affected"}]}]},
                {"id": "CVE-2021-44228",
                 "source": {"name": "ghsa", "url": "https://github.com/advisories"},
                 "ratings": [{"source": {"name": "nvd"}, "score": 10.0, "severity": "critical", "method": "CVSSv31"}],
                 "references": [{"id": "GHSA-jfh8-c2jp-5v3q", "source": {"name": "github", "url": "https://github.com/advisories/GHSA-jfh8-c2jp-5v3q"}}],
                 "affects": [{"ref": LOG4J}]},
                {"id": "CVE-2023-38545",
                 "ratings": [{"source": {"name": "debian"}, "severity": "high"},
                             {"source": {"name": "nvd"}, "score": 9.8, "severity": "critical", "method": "CVSSv31"}],
                 "affects": [{"ref": CURL}, {"ref": LIBCURL}]},
                {"id": "CVE-2023-45133",
                 "ratings": [{"source": {"name": "ghsa"}, "score": 8.8, "method": "CVSSv31"}],
                 "affects": [{"ref": BABEL}]},
                {"id": "TEMP-0841856-B18BAF",
                 "ratings": [{"source": {"name": "debian"}, "severity": "unknown"}],
                 "affects": [{"ref": "pkg:deb/debian/bash@5.2.15-2?arch=amd64"}]},
                {"id": "CVE-2011-3374",
                 "ratings": [{"severity": "low"}],
                 "analysis": {"state": "not_affected", "justification": "code_not_reachable",
                              "detail": "apt does not fetch over the network in this image"},
                 "affects": [{"ref": LIBC}]}
            ]
        })
    }

    /// A CycloneDX BOM with one vulnerability `v` (merged into a minimal entry).
    fn cdx_with(v: serde_json::Value) -> String {
        let mut entry = json!({"id": "CVE-2024-0001"});
        for (k, value) in v.as_object().unwrap() {
            entry[k] = value.clone();
        }
        json!({"bomFormat": "CycloneDX", "specVersion": "1.6",
               "components": [{"bom-ref": "c1", "name": "zlib", "version": "1.3"}],
               "vulnerabilities": [entry]})
        .to_string()
    }

    #[test]
    fn cyclonedx_trivy_bom() {
        let scan = ok(&trivy_cdx().to_string());
        assert_eq!(scan.format, ScanFormat::CycloneDx);
        assert_eq!(scan.format.to_string(), "CycloneDX");
        assert_eq!(scan.scanner.as_deref(), Some("trivy 0.50.1"));
        assert_eq!(scan.finished, Some(t0()), "01:00+01:00 is midnight UTC");
        let got: Vec<_> = scan
            .vulnerabilities
            .iter()
            .map(|v| {
                (
                    v.id.as_str(),
                    (!v.severity_unknown).then_some(v.severity),
                    v.package.as_deref(),
                    v.installed_version.as_deref(),
                    v.location.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "CVE-2023-4911",
                    Some(Severity::High),
                    Some("libc6"),
                    Some("2.36-9"),
                    "vulnerabilities[0]"
                ),
                (
                    "CVE-2021-44228",
                    Some(Severity::Critical),
                    Some("org.apache.logging.log4j:log4j-core"),
                    Some("2.14.1"),
                    "vulnerabilities[1]"
                ),
                // the highest rating word, critical, over debian's high
                (
                    "CVE-2023-38545",
                    Some(Severity::Critical),
                    Some("curl"),
                    Some("7.88.1-10"),
                    "vulnerabilities[2].affects[0]"
                ),
                (
                    "CVE-2023-38545",
                    Some(Severity::Critical),
                    Some("libcurl4"),
                    Some("7.88.1-10"),
                    "vulnerabilities[2].affects[1]"
                ),
                // no word: the CVSS score
                (
                    "CVE-2023-45133",
                    Some(Severity::High),
                    Some("@babel/traverse"),
                    Some("7.22.0"),
                    "vulnerabilities[3]"
                ),
                // a ref that names no component: the ref itself, no version
                (
                    "TEMP-0841856-B18BAF",
                    None,
                    Some("pkg:deb/debian/bash@5.2.15-2?arch=amd64"),
                    None,
                    "vulnerabilities[4]"
                ),
                // CVE-2011-3374 is not_affected: left out
            ]
        );
        let v = &scan.vulnerabilities;
        assert_eq!(
            v[0].aliases,
            ["DSA-5514-1"],
            "the URL reference is left out"
        );
        assert_eq!(v[1].aliases, ["GHSA-jfh8-c2jp-5v3q"]);
        assert_eq!(v[2].aliases, Vec::<String>::new());
        assert!(v[5].severity_unknown && v[5].severity == Severity::Critical);
    }

    #[test]
    fn cyclonedx_evaluate() {
        let scan = ok(&trivy_cdx().to_string());
        // deny by the GHSA alias; the skipped not_affected CVE is never denied
        let r = rule(
            Some("high"),
            &["GHSA-jfh8-c2jp-5v3q", "CVE-2011-3374"],
            &[],
            Some("1h"),
        );
        let f = evaluate(&scan, &r, t0() + 30 * 60);
        let got: Vec<_> = f
            .iter()
            .map(|f| (f.kind, f.id.as_deref(), f.location.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    VulnFindingKind::Denied,
                    Some("CVE-2021-44228"),
                    Some("vulnerabilities[1]")
                ),
                (
                    VulnFindingKind::TooSevere,
                    Some("CVE-2021-44228"),
                    Some("vulnerabilities[1]")
                ),
                (
                    VulnFindingKind::TooSevere,
                    Some("CVE-2023-38545"),
                    Some("vulnerabilities[2].affects[0]")
                ),
                (
                    VulnFindingKind::TooSevere,
                    Some("CVE-2023-38545"),
                    Some("vulnerabilities[2].affects[1]")
                ),
                (
                    VulnFindingKind::TooSevere,
                    Some("TEMP-0841856-B18BAF"),
                    Some("vulnerabilities[4]")
                ),
            ]
        );
        assert_eq!(
            f[0].message,
            "CVE-2021-44228 (critical) in org.apache.logging.log4j:log4j-core 2.14.1 at \
             vulnerabilities[1] is denied (deny lists GHSA-jfh8-c2jp-5v3q)"
        );
        assert!(
            f[4].message.starts_with(
                "TEMP-0841856-B18BAF (severity unknown, counted as critical) in \
                 pkg:deb/debian/bash@5.2.15-2?arch=amd64 at vulnerabilities[4]"
            ),
            "{}",
            f[4].message
        );
        // maxAge on metadata.timestamp
        let f = evaluate(&scan, &rule(None, &[], &[], Some("1h")), t0() + 2 * HOUR);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, VulnFindingKind::TooOld);
    }

    fn cdx_severity_of(ratings: serde_json::Value) -> Option<Severity> {
        let scan = ok(&cdx_with(json!({"ratings": ratings})));
        let v = &scan.vulnerabilities[0];
        assert!(!v.severity_unknown || v.severity == Severity::Critical);
        (!v.severity_unknown).then_some(v.severity)
    }

    #[test]
    fn cyclonedx_severity_table() {
        use Severity::*;
        let cases = [
            // words: the highest wins, whatever the scores say
            (json!([{"severity": "critical"}]), Some(Critical)),
            (json!([{"severity": "HIGH"}]), Some(High)),
            (json!([{"severity": "medium"}]), Some(Medium)),
            (json!([{"severity": "low"}]), Some(Low)),
            (json!([{"severity": "info"}]), Some(Low)),
            (json!([{"severity": "none"}]), Some(None)),
            (json!([{"severity": "moderate"}]), Some(Medium)),
            (json!([{"severity": "negligible"}]), Some(Low)),
            (
                json!([{"severity": "none"}, {"severity": "info"}]),
                Some(Low),
            ),
            (
                json!([{"severity": "low"}, {"severity": "critical"}, {"severity": "high"}]),
                Some(Critical),
            ),
            (
                json!([{"severity": "unknown"}, {"severity": "medium"}]),
                Some(Medium),
            ),
            (
                json!([{"severity": "low", "score": 9.8, "method": "CVSSv31"}]),
                Some(Low),
            ),
            // scores, with a CVSS method only
            (json!([{"score": 9.8, "method": "CVSSv31"}]), Some(Critical)),
            (json!([{"score": "7.5", "method": "CVSSv3"}]), Some(High)),
            (json!([{"score": 5.0, "method": "CVSSv2"}]), Some(Medium)),
            (json!([{"score": 2.1, "method": "cvssv4"}]), Some(Low)),
            (
                json!([{"score": 2.1, "method": "CVSSv4"}, {"score": 9.1, "method": "CVSSv31"}]),
                Some(Critical),
            ),
            (json!([{"score": 9.8}]), Option::None),
            (json!([{"score": 9.8, "method": "OWASP"}]), Option::None),
            (json!([{"score": 9.8, "method": "other"}]), Option::None),
            (json!([{"score": 9.8, "method": "ssvc"}]), Option::None),
            (json!([{"score": 11, "method": "CVSSv31"}]), Option::None),
            (json!([{"score": -1, "method": "CVSSv31"}]), Option::None),
            (
                json!([{"score": "high", "method": "CVSSv31"}]),
                Option::None,
            ),
            (
                json!([{"score": 11, "method": "CVSSv31"}, {"score": 4.2, "method": "CVSSv3"}]),
                Some(Medium),
            ),
            // unknown word, then a zero score
            (
                json!([{"severity": "unknown"}, {"score": 6.1, "method": "CVSSv31"}]),
                Some(Medium),
            ),
            (json!([{"score": 0, "method": "CVSSv31"}]), Some(None)),
            (
                json!([{"severity": "unknown", "score": 0.0, "method": "CVSSv31"}]),
                Option::None,
            ),
            (json!([{"severity": "unknown"}]), Option::None),
            // nothing usable
            (json!([]), Option::None),
            (json!(null), Option::None),
            (json!([null]), Option::None),
            (json!([{}]), Option::None),
            (json!([{"severity": "important"}]), Option::None),
            (json!([{"severity": 4}]), Option::None),
            (json!([{"severity": ["high"]}]), Option::None),
        ];
        for (ratings, want) in cases {
            assert_eq!(cdx_severity_of(ratings.clone()), want, "{ratings}");
        }
        // no ratings key at all
        assert!(ok(&cdx_with(json!({}))).vulnerabilities[0].severity_unknown);
    }

    #[test]
    fn cyclonedx_tools() {
        let scanner = |tools: serde_json::Value| {
            let doc = json!({"bomFormat": "CycloneDX", "specVersion": "1.5",
                             "metadata": {"tools": tools}, "vulnerabilities": []});
            ok(&doc.to_string()).scanner
        };
        // 1.4: array of {vendor, name, version}
        assert_eq!(
            scanner(json!([{"vendor": "Aqua Security", "name": "trivy", "version": "0.50.1"}]))
                .as_deref(),
            Some("trivy 0.50.1")
        );
        // 1.5+: {components: […]}, and services
        assert_eq!(
            scanner(
                json!({"components": [{"type": "application", "author": "anchore",
                                           "name": "grype", "version": "0.74.7"}]})
            )
            .as_deref(),
            Some("grype 0.74.7")
        );
        assert_eq!(
            scanner(json!({"services": [{"name": "scanner-api"}]})).as_deref(),
            Some("scanner-api")
        );
        // several tools (SBOM, then scan), repeats named once
        assert_eq!(
            scanner(json!({"components": [
                {"name": "syft", "version": "1.0.1"},
                {"name": "grype", "version": "0.74.7"},
                {"name": "grype", "version": "0.74.7"}
            ]}))
            .as_deref(),
            Some("syft 1.0.1, grype 0.74.7")
        );
        // only a vendor
        assert_eq!(
            scanner(json!([{"vendor": "acme"}])).as_deref(),
            Some("acme")
        );
        // at most TOOLS_NAMED
        let many: Vec<_> = (0..20).map(|i| json!({"name": format!("t{i}")})).collect();
        assert_eq!(
            scanner(json!(many)).unwrap().split(", ").count(),
            TOOLS_NAMED
        );
        // wrong shapes: left out
        for tools in [
            json!(null),
            json!("trivy"),
            json!(5),
            json!([]),
            json!({}),
            json!({"components": "trivy"}),
            json!([null, 5, "x", {"name": 5}, {"name": "  "}, {"version": "1"}]),
        ] {
            assert_eq!(scanner(tools.clone()), None, "{tools}");
        }
        // no metadata at all
        let doc = json!({"bomFormat": "CycloneDX", "specVersion": "1.4", "vulnerabilities": []});
        let scan = ok(&doc.to_string());
        assert_eq!((scan.scanner, scan.finished), (None, None));
    }

    #[test]
    fn cyclonedx_vex_analysis() {
        for (analysis, kept) in [
            (
                json!({"state": "not_affected", "justification": "code_not_present"}),
                false,
            ),
            (json!({"state": "false_positive"}), false),
            (json!({"state": "resolved"}), false),
            (json!({"state": " Not_Affected "}), false),
            (
                json!({"state": "exploitable", "response": ["update"]}),
                true,
            ),
            (json!({"state": "in_triage"}), true),
            (json!({"state": "resolved_with_pedigree"}), true),
            (json!({"state": "affected"}), true),
            (json!({"state": ""}), true),
            (json!({"state": null}), true),
            (json!({"state": 1}), true),
            (json!({"state": ["not_affected"]}), true),
            (json!({"justification": "code_not_present"}), true),
            (json!({}), true),
            (json!(null), true),
        ] {
            let scan = ok(&cdx_with(json!({"analysis": analysis})));
            assert_eq!(scan.vulnerabilities.len(), usize::from(kept), "{analysis}");
        }
        // an analysis that is not an object: the document cannot be read
        for analysis in [json!("not_affected"), json!(["not_affected"]), json!(1)] {
            let e = err(&cdx_with(json!({"analysis": analysis})));
            assert!(matches!(e, ScanError::Invalid { .. }), "{analysis}: {e:?}");
            assert!(e.to_string().starts_with("invalid CycloneDX BOM: "), "{e}");
        }
        // a VEX-only document: every entry not affected is a clean scan
        let doc = json!({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
        "vulnerabilities": [
            {"id": "CVE-2021-44228", "analysis": {"state": "not_affected"},
             "affects": [{"ref": "urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"}]},
            {"id": "CVE-2021-45046", "analysis": {"state": "false_positive"}}
        ]});
        assert!(ok(&doc.to_string()).vulnerabilities.is_empty());
    }

    #[test]
    fn cyclonedx_affects_and_components() {
        let doc = json!({
            "bomFormat": "CycloneDX", "specVersion": "1.4",
            "metadata": {"component": {"bom-ref": "app", "name": "web", "version": "1.4.2",
                "components": [{"bom-ref": "inner", "name": "inner-lib", "version": "0.1"}]}},
            "components": [
                null,
                {"bom-ref": "a", "name": "first", "version": "1"},
                {"bom-ref": "a", "name": "second", "version": "2"},
                {"bom-ref": "deep", "name": "l1", "components": [
                    {"bom-ref": "deep2", "name": "l2", "components": [
                        {"bom-ref": "deep3", "group": "com.acme", "name": "l3",
                         "purl": "pkg:maven/com.acme/l3@3.0"}]}]},
                {"bom-ref": "nameless", "purl": "pkg:pypi/requests@2.31.0"},
                {"bom-ref": "bare"},
                {"purl": "pkg:golang/golang.org/x/net@v0.17.0", "name": "golang.org/x/net", "version": "v0.17.0"},
                {"bom-ref": 7, "name": 8, "version": [], "purl": {}}
            ],
            "vulnerabilities": [
                {"id": "CVE-1", "affects": [{"ref": "app"}, {"ref": "inner"}, {"ref": "a"},
                    {"ref": "deep3"}, {"ref": "nameless"}, {"ref": "bare"},
                    {"ref": "pkg:golang/golang.org/x/net@v0.17.0"}, {"ref": "nowhere"},
                    {"ref": 5}, {}, null]},
                {"id": "CVE-2"},
                {"id": "CVE-3", "affects": []},
                {"id": "CVE-4", "affects": null},
                {"id": "CVE-5", "affects": [null]},
                {"id": "CVE-6", "affects": [null, {"ref": "a"}]},
                null,
                {"id": "CVE-7", "affects": [{"ref": "a"}]}
            ]
        });
        let scan = ok(&doc.to_string());
        let got: Vec<_> = scan
            .vulnerabilities
            .iter()
            .map(|v| {
                (
                    v.id.as_str(),
                    v.package.as_deref(),
                    v.installed_version.as_deref(),
                    v.location.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "CVE-1",
                    Some("web"),
                    Some("1.4.2"),
                    "vulnerabilities[0].affects[0]"
                ),
                (
                    "CVE-1",
                    Some("inner-lib"),
                    Some("0.1"),
                    "vulnerabilities[0].affects[1]"
                ),
                (
                    "CVE-1",
                    Some("first"),
                    Some("1"),
                    "vulnerabilities[0].affects[2]"
                ),
                (
                    "CVE-1",
                    Some("com.acme:l3"),
                    Some("3.0"),
                    "vulnerabilities[0].affects[3]"
                ),
                (
                    "CVE-1",
                    Some("pkg:pypi/requests@2.31.0"),
                    Some("2.31.0"),
                    "vulnerabilities[0].affects[4]"
                ),
                ("CVE-1", Some("bare"), None, "vulnerabilities[0].affects[5]"),
                (
                    "CVE-1",
                    Some("golang.org/x/net"),
                    Some("v0.17.0"),
                    "vulnerabilities[0].affects[6]"
                ),
                (
                    "CVE-1",
                    Some("nowhere"),
                    None,
                    "vulnerabilities[0].affects[7]"
                ),
                ("CVE-1", None, None, "vulnerabilities[0].affects[8]"),
                ("CVE-1", None, None, "vulnerabilities[0].affects[9]"),
                ("CVE-2", None, None, "vulnerabilities[1]"),
                ("CVE-3", None, None, "vulnerabilities[2]"),
                ("CVE-4", None, None, "vulnerabilities[3]"),
                ("CVE-5", None, None, "vulnerabilities[4]"),
                (
                    "CVE-6",
                    Some("first"),
                    Some("1"),
                    "vulnerabilities[5].affects[1]"
                ),
                ("CVE-7", Some("first"), Some("1"), "vulnerabilities[7]"),
            ]
        );
        // findings: one per (id, package), so CVE-1's packages stay apart and its
        // package-less entries collapse into one
        let f = evaluate(&scan, &rule(None, &["CVE-1"], &[], None), t0());
        assert_eq!(f.len(), 9);
        assert_eq!(
            f[8].location.as_deref(),
            Some("vulnerabilities[0].affects[8]")
        );
    }

    #[test]
    fn cyclonedx_aliases() {
        let refs = json!([
            {"id": "GHSA-jfh8-c2jp-5v3q", "source": {"name": "github"}},
            {"id": "cve-2024-0001"},
            {"id": "RHSA-2023:5455"},
            {"id": "SNYK-JAVA-ORGAPACHELOGGINGLOG4J-2314720"},
            {"id": "GO-2022-0001"},
            {"id": "GHSA-jfh8-c2jp-5v3q"},
            {"id": "https://nvd.nist.gov/vuln/detail/CVE-2024-0001"},
            {"id": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79"},
            {"id": "pkg:maven/a/b@1"},
            {"id": "nvd.nist.gov"},
            {"id": "has space-1"},
            {"id": "1-CVE"},
            {"id": "X1"},
            {"id": 5},
            {"id": ""},
            {},
            null
        ]);
        let scan = ok(&cdx_with(json!({"references": refs})));
        assert_eq!(
            scan.vulnerabilities[0].aliases,
            [
                "GHSA-jfh8-c2jp-5v3q",
                "RHSA-2023:5455",
                "SNYK-JAVA-ORGAPACHELOGGINGLOG4J-2314720",
                "GO-2022-0001"
            ]
        );
        for (id, like) in [
            ("CVE-2021-44228", true),
            ("DSA-5514-1", true),
            ("TEMP-0841856-B18BAF", true),
            ("PYSEC_2021_1", true),
            ("ALAS2023-2023-123", true),
            ("GHSA-1", true),
            ("CVE", false),
            ("ab", false),
            ("http://x/1-2", false),
            ("URN:x-1", false),
            (&"A-1".repeat(50), false),
        ] {
            assert_eq!(advisory_like(id), like, "{id}");
        }
        // references of the wrong shape: the document cannot be read
        for refs in [json!("GHSA-jfh8-c2jp-5v3q"), json!(["GHSA-jfh8-c2jp-5v3q"])] {
            let e = err(&cdx_with(json!({"references": refs})));
            assert!(matches!(e, ScanError::Invalid { .. }), "{e:?}");
        }
    }

    #[test]
    fn cyclonedx_not_a_scan() {
        // an SBOM: no vulnerabilities key, or null
        for (doc, null) in [
            (
                json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
                       "components": [{"name": "zlib"}]}),
                false,
            ),
            (
                json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "vulnerabilities": null}),
                true,
            ),
        ] {
            let e = err(&doc.to_string());
            assert!(matches!(e, ScanError::NotAScan(_)), "{e:?}");
            let text = e.to_string();
            assert!(
                text.starts_with(
                    "not a vulnerability scan result: the predicate is a CycloneDX 1.5 \
                     document that carries no `vulnerabilities`"
                ),
                "{text}"
            );
            assert!(
                text.contains("an SBOM without vulnerability data"),
                "{text}"
            );
            assert_eq!(text.contains("(it is null)"), null, "{text}");
            assert!(text.contains("keys bomFormat, specVersion"), "{text}");
        }
        // an empty list is a clean scan
        let doc = json!({"bomFormat": "CycloneDX", "specVersion": "1.5",
                         "metadata": {"timestamp": T0}, "vulnerabilities": []});
        let scan = ok(&doc.to_string());
        assert_eq!(scan.format, ScanFormat::CycloneDx);
        assert!(scan.vulnerabilities.is_empty());
        assert_eq!(scan.finished, Some(t0()));
        assert!(evaluate(&scan, &rule(Some("none"), &["CVE-1"], &[], None), t0()).is_empty());
        // other not-a-scan shapes
        for (doc, want) in [
            (
                json!({"bomFormat": "SPDX", "specVersion": "1.5", "vulnerabilities": []}),
                "has bomFormat \"SPDX\", expected \"CycloneDX\"",
            ),
            (
                json!({"bomFormat": 1, "vulnerabilities": []}),
                "has a bomFormat that is a number",
            ),
            (
                json!({"bomFormat": "CycloneDX", "specVersion": "2.0", "vulnerabilities": []}),
                "is a CycloneDX \"2.0\" document; sealgate reads CycloneDX 1.x JSON",
            ),
            (
                json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "Results": [], "vulnerabilities": []}),
                "mixes the fields of a Trivy JSON report and a CycloneDX BOM",
            ),
            (
                json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "scanner": {}}),
                "mixes the fields of a cosign vuln predicate and a CycloneDX BOM",
            ),
            (
                json!({"vulnerabilities": [{"id": "CVE-1"}]}),
                "or a CycloneDX BOM with vulnerabilities (bomFormat, vulnerabilities)",
            ),
            (
                json!({"Data": {"bomFormat": "CycloneDX", "specVersion": "1.5"}}),
                "Data is a CycloneDX 1.5 document that carries no `vulnerabilities`",
            ),
            (
                json!({"Data": {}, "bomFormat": "CycloneDX"}),
                "both Data (a cosign custom wrapper) and bomFormat",
            ),
            (
                json!({"scanner": {"result": {"bomFormat": "CycloneDX", "specVersion": "1.5"}}}),
                "scanner.result is a CycloneDX 1.5 document that carries no `vulnerabilities`",
            ),
            (json!([]), "or a CycloneDX BOM)"),
        ] {
            let e = err(&doc.to_string());
            assert!(matches!(e, ScanError::NotAScan(_)), "{doc}: {e:?}");
            assert!(e.to_string().contains(want), "{doc}: {e}");
        }
    }

    #[test]
    fn cyclonedx_errors() {
        let base =
            || json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "vulnerabilities": []});
        let with = |key: &str, value: serde_json::Value| {
            let mut d = base();
            d[key] = value;
            d.to_string()
        };
        let cases: Vec<(String, &str)> = vec![
            (
                json!({"bomFormat": "CycloneDX", "vulnerabilities": []}).to_string(),
                "invalid CycloneDX BOM: no specVersion",
            ),
            (with("specVersion", json!(null)), "no specVersion"),
            (with("specVersion", json!(" ")), "no specVersion"),
            (
                with("specVersion", json!(1.5)),
                "specVersion is a number, expected a string such as \"1.5\"",
            ),
            (
                with("vulnerabilities", json!({"id": "CVE-1"})),
                "invalid CycloneDX BOM: vulnerabilities is an object, expected an array",
            ),
            (with("vulnerabilities", json!("CVE-1")), "vulnerabilities is a string"),
            (
                with("vulnerabilities", json!([{"id": null}])),
                "vulnerabilities[0] has no id (id is null)",
            ),
            (
                with("vulnerabilities", json!([null, {"bom-ref": "x"}])),
                "vulnerabilities[1] has no id (id is absent)",
            ),
            (
                with("vulnerabilities", json!([{"id": 5}])),
                "vulnerabilities[0] has no id (id is a number)",
            ),
            (
                with("vulnerabilities", json!([{"id": "CVE-1", "ratings": {"severity": "low"}}])),
                "invalid type: map, expected a sequence",
            ),
            (
                with("vulnerabilities", json!([{"id": "CVE-1", "affects": "c1"}])),
                "invalid type: string \"c1\", expected a sequence",
            ),
            (
                with("vulnerabilities", json!([{"id": "CVE-1", "affects": ["c1"]}])),
                "invalid type: string \"c1\"",
            ),
            (with("vulnerabilities", json!(["CVE-1"])), "invalid type: string"),
            // derived structs would take an array of field values: not here
            (
                with("vulnerabilities", json!([["CVE-1"]])),
                "invalid type: sequence, expected an object",
            ),
            (
                with("vulnerabilities", json!([{"id": "CVE-1", "ratings": [[9.8, "low"]]}])),
                "invalid type: sequence, expected an object",
            ),
            (
                with("metadata", json!(["2026-01-01T00:00:00Z"])),
                "invalid type: sequence, expected an object",
            ),
            (
                with("metadata", json!({"timestamp": "yesterday"})),
                "metadata.timestamp \"yesterday\" is not an RFC 3339 time",
            ),
            (
                with("metadata", json!({"timestamp": 1_700_000_000})),
                "metadata.timestamp is a number",
            ),
            (with("metadata", json!("now")), "invalid type: string \"now\""),
            (
                with("metadata", json!({"component": "web"})),
                "invalid type: string \"web\"",
            ),
            (with("components", json!({})), "invalid type: map"),
            (
                with("components", json!([{"name": "a", "components": 5}])),
                "invalid type: integer `5`",
            ),
            (
                r#"{"bomFormat": "CycloneDX", "specVersion": "1.5", "vulnerabilities": [], "vulnerabilities": []}"#
                    .to_string(),
                "duplicate key \"vulnerabilities\"",
            ),
            (
                r#"{"bomFormat": "CycloneDX", "specVersion": "1.5", "vulnerabilities": [{"id": "CVE-1", "id": "CVE-2"}]}"#
                    .to_string(),
                "duplicate field `id`",
            ),
        ];
        for (doc, want) in cases {
            let e = err(&doc);
            assert!(matches!(e, ScanError::Invalid { .. }), "{doc}: {e:?}");
            assert!(e.to_string().contains(want), "{doc}: {e}");
        }
        // positions from the parser
        let text = "{\"bomFormat\": \"CycloneDX\", \"specVersion\": \"1.5\",\n\"vulnerabilities\": [{\"id\": \"CVE-1\", \"ratings\": 5}]}";
        match err(text) {
            ScanError::Invalid { format, at, .. } => {
                assert_eq!((format, at.map(|(l, _)| l)), (CYCLONEDX, Some(2)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cyclonedx_wrapped_and_embedded() {
        let mut bom = trivy_cdx();
        bom["metadata"].as_object_mut().unwrap().remove("timestamp");
        let ts = "2026-01-02T00:00:00Z";
        // {Data, Timestamp}: the wrapper's time when the BOM has none
        for data in [json!(bom.to_string()), bom.clone()] {
            let scan = ok(&json!({"Data": data, "Timestamp": ts}).to_string());
            assert_eq!(scan.format, ScanFormat::CycloneDx);
            assert_eq!(scan.finished, Some(t0() + 24 * HOUR));
            assert_eq!(scan.vulnerabilities.len(), 6);
            assert_eq!(
                scan.vulnerabilities[3].location,
                "Data.vulnerabilities[2].affects[1]"
            );
        }
        // the BOM's own time wins
        let scan = ok(&json!({"Data": trivy_cdx(), "Timestamp": ts}).to_string());
        assert_eq!(scan.finished, Some(t0()));
        // a JSON string holding the BOM
        let scan = ok(&json!(trivy_cdx().to_string()).to_string());
        assert_eq!(scan.format, ScanFormat::CycloneDx);
        assert_eq!(scan.vulnerabilities[0].location, "vulnerabilities[0]");
        // cosign vuln with the BOM as scanner.result, object or string
        for result in [trivy_cdx(), json!(trivy_cdx().to_string())] {
            let scan = ok(&cosign(result, "2026-01-01T10:00:00Z"));
            assert_eq!(scan.format, ScanFormat::CosignVuln { inner: "cyclonedx" });
            assert_eq!(scan.format.to_string(), "cosign vuln (CycloneDX)");
            assert_eq!(scan.scanner.as_deref(), Some("trivy 0.50.1"));
            assert_eq!(scan.finished, Some(t0() + 10 * HOUR));
            assert_eq!(scan.vulnerabilities.len(), 6);
            assert_eq!(
                scan.vulnerabilities[2].location,
                "scanner.result.vulnerabilities[2].affects[0]"
            );
        }
        // no cosign metadata or scanner: the BOM's
        let doc = json!({"scanner": {"result": trivy_cdx()}});
        let scan = ok(&doc.to_string());
        assert_eq!(
            (scan.scanner.as_deref(), scan.finished),
            (Some("trivy 0.50.1"), Some(t0()))
        );
        // the cosign predicate wrapped in turn
        let c: serde_json::Value = serde_json::from_str(&cosign(trivy_cdx(), T0)).unwrap();
        let scan = ok(&json!({"Data": c}).to_string());
        assert_eq!(scan.format, ScanFormat::CosignVuln { inner: "cyclonedx" });
        assert_eq!(
            scan.vulnerabilities[0].location,
            "Data.scanner.result.vulnerabilities[0]"
        );
        // errors inside scanner.result
        let e = err(&cosign(
            json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "vulnerabilities": [{}]}),
            T0,
        ));
        assert!(
            e.to_string()
                .contains("invalid CycloneDX BOM: scanner.result.vulnerabilities[0] has no id"),
            "{e}"
        );
        let e = err(&cosign(
            json!(json!({"bomFormat": "CycloneDX", "specVersion": "1.5"}).to_string()),
            T0,
        ));
        assert!(matches!(e, ScanError::NotAScan(_)), "{e:?}");
        assert!(
            e.to_string().contains("carries no `vulnerabilities`"),
            "{e}"
        );
    }

    #[test]
    fn cyclonedx_never_panics() {
        let docs = [
            trivy_cdx().to_string(),
            cosign(trivy_cdx(), T0),
            json!({"Data": trivy_cdx().to_string(), "Timestamp": T0}).to_string(),
        ];
        for doc in &docs {
            for end in 0..doc.len() {
                if let Some(prefix) = doc.get(..end) {
                    let _ = parse(prefix);
                }
            }
            let bytes = doc.as_bytes();
            for (i, replacement) in (0..bytes.len()).step_by(5).zip(
                [b'"', b'{', b'1', b']', b'n', b',', b'\\', b'[']
                    .iter()
                    .cycle(),
            ) {
                let mut b = bytes.to_vec();
                if let Some(slot) = b.get_mut(i) {
                    *slot = *replacement;
                }
                if let Ok(text) = String::from_utf8(b) {
                    let _ = parse(&text);
                }
            }
        }
        // every field null, and deep nesting of components: an error or a scan, no panic
        let doc = json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "metadata": null,
                         "components": null, "vulnerabilities": [
                            {"id": "CVE-1", "references": null, "ratings": null,
                             "affects": null, "analysis": null}]});
        assert_eq!(ok(&doc.to_string()).vulnerabilities.len(), 1);
        let deep = format!(
            "{{\"bomFormat\": \"CycloneDX\", \"specVersion\": \"1.5\", \"vulnerabilities\": [], \"components\": {}[]{}}}",
            "[{\"components\": ".repeat(50_000),
            "}]".repeat(50_000)
        );
        assert!(matches!(err(&deep), ScanError::Invalid { .. }));
        // wide but shallow: many components and affects
        let components: Vec<_> = (0..2000)
            .map(|i| json!({"bom-ref": format!("c{i}"), "name": format!("p{i}"), "version": "1"}))
            .collect();
        let affects: Vec<_> = (0..2000).map(|i| json!({"ref": format!("c{i}")})).collect();
        let doc = json!({"bomFormat": "CycloneDX", "specVersion": "1.5",
                         "components": components,
                         "vulnerabilities": [{"id": "CVE-1", "affects": affects}]});
        let scan = ok(&doc.to_string());
        assert_eq!(scan.vulnerabilities.len(), 2000);
        assert_eq!(scan.vulnerabilities[1999].package.as_deref(), Some("p1999"));
        // many references times many affects: refused, not a huge scan
        let references: Vec<_> = (0..1100)
            .map(|i| json!({"id": format!("GHSA-{i:04}-aaaa-bbbb")}))
            .collect();
        let affects: Vec<_> = (0..1000).map(|i| json!({"ref": format!("c{i}")})).collect();
        let doc = json!({"bomFormat": "CycloneDX", "specVersion": "1.5",
                         "vulnerabilities": [{"id": "CVE-1", "references": references,
                                              "affects": affects}]});
        let e = err(&doc.to_string());
        assert!(matches!(e, ScanError::Invalid { .. }), "{e:?}");
        assert!(
            e.to_string()
                .contains("too many references times affected packages"),
            "{e}"
        );
        // … while a repeated reference counts once
        let references: Vec<_> = (0..5000)
            .map(|_| json!({"id": "GHSA-1111-aaaa-bbbb"}))
            .collect();
        let doc = json!({"bomFormat": "CycloneDX", "specVersion": "1.5",
                         "vulnerabilities": [{"id": "CVE-1", "references": references,
                                              "affects": affects}]});
        let scan = ok(&doc.to_string());
        assert_eq!(scan.vulnerabilities.len(), 1000);
        assert_eq!(scan.vulnerabilities[999].aliases, ["GHSA-1111-aaaa-bbbb"]);
    }

    // --- evaluation ------------------------------------------------------------------------

    #[test]
    fn max_severity_and_ignore() {
        let scan = ok(&trivy_text());
        // high: the critical log4j and the unknown TEMP (counted as critical) fail
        let f = evaluate(&scan, &rule(Some("high"), &[], &[], None), t0());
        let got: Vec<_> = f
            .iter()
            .map(|f| (f.kind, f.id.as_deref().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                (VulnFindingKind::TooSevere, "TEMP-0841856-B18BAF"),
                (VulnFindingKind::TooSevere, "CVE-2021-44228"),
            ]
        );
        assert_eq!(
            f[0].message,
            "TEMP-0841856-B18BAF (severity unknown, counted as critical) in bash 5.2.15-2 at \
             Results[0].Vulnerabilities[2] is above maxSeverity high"
        );
        assert_eq!(
            f[1].message,
            "CVE-2021-44228 (critical) in org.apache.logging.log4j:log4j-core 2.14.1 at \
             Results[1].Vulnerabilities[0] is above maxSeverity high"
        );
        assert_eq!(
            f[1].location.as_deref(),
            Some("Results[1].Vulnerabilities[0]")
        );
        // ignore by id (any case) and by alias
        let r = rule(
            Some("high"),
            &[],
            &["temp-0841856-b18baf", "GHSA-JFH8-C2JP-5V3Q"],
            None,
        );
        assert!(evaluate(&scan, &r, t0()).is_empty());
        // medium adds the high libc6; low is under every limit but none
        let f = evaluate(&scan, &rule(Some("medium"), &[], &[], None), t0());
        assert_eq!(f.len(), 3);
        assert_eq!(f[2].id.as_deref(), Some("CVE-2023-4911"));
        assert_eq!(
            evaluate(&scan, &rule(Some("low"), &[], &[], None), t0()).len(),
            3
        );
        assert_eq!(
            evaluate(&scan, &rule(Some("none"), &[], &[], None), t0()).len(),
            4
        );
        // critical: nothing is above, not even unknown
        assert!(evaluate(&scan, &rule(Some("critical"), &[], &[], None), t0()).is_empty());
        // no limit at all
        assert!(evaluate(&scan, &VulnRule::default(), t0()).is_empty());
    }

    #[test]
    fn too_severe_order() {
        let scan = scan_of(
            vec![
                vuln("CVE-1", Some(Severity::High), "a", "L0"),
                vuln("CVE-2", Some(Severity::Critical), "b", "L1"),
                vuln("CVE-3", None, "c", "L2"),
                vuln("CVE-4", Some(Severity::Medium), "d", "L3"),
                vuln("CVE-5", Some(Severity::High), "e", "L4"),
                vuln("CVE-6", Some(Severity::Critical), "f", "L5"),
            ],
            None,
        );
        let f = evaluate(&scan, &rule(Some("low"), &[], &[], None), t0());
        let got: Vec<_> = f.iter().map(|f| f.id.as_deref().unwrap()).collect();
        assert_eq!(got, ["CVE-2", "CVE-3", "CVE-6", "CVE-1", "CVE-5", "CVE-4"]);
    }

    #[test]
    fn deny_by_id_and_alias() {
        let scan = ok(&trivy_text());
        // deny by the GHSA alias of a CVE
        let f = evaluate(
            &scan,
            &rule(None, &["ghsa-jfh8-c2jp-5v3q"], &[], None),
            t0(),
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, VulnFindingKind::Denied);
        assert_eq!(f[0].id.as_deref(), Some("CVE-2021-44228"));
        assert_eq!(
            f[0].message,
            "CVE-2021-44228 (critical) in org.apache.logging.log4j:log4j-core 2.14.1 at \
             Results[1].Vulnerabilities[0] is denied (deny lists ghsa-jfh8-c2jp-5v3q)"
        );
        // deny a low one by id: regardless of severity; ignore does not override deny
        let r = rule(
            Some("critical"),
            &["CVE-2011-3374"],
            &["CVE-2011-3374"],
            None,
        );
        let f = evaluate(&scan, &r, t0());
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].message,
            "CVE-2011-3374 (low) in apt 2.6.1 at Results[0].Vulnerabilities[1] is denied"
        );
        // a Grype GHSA id matched by its full rule id, a CVE matched through the suffix form
        let g = ok(&grype_sarif().to_string());
        let f = evaluate(
            &g,
            &rule(
                None,
                &["GHSA-8489-44MV-GGJ8", "CVE-2021-44228-log4j-core"],
                &[],
                None,
            ),
            t0(),
        );
        let got: Vec<_> = f.iter().map(|f| f.id.as_deref().unwrap()).collect();
        assert_eq!(got, ["CVE-2021-44228", "GHSA-8489-44mv-ggj8"]);
        // not present: nothing; blank entries never match
        assert!(
            evaluate(
                &scan,
                &rule(None, &["CVE-1999-0001", " ", ""], &[], None),
                t0()
            )
            .is_empty()
        );
        // a vulnerability whose id is the GHSA and alias the CVE
        let mut v = vuln(
            "GHSA-jfh8-c2jp-5v3q",
            Some(Severity::Low),
            "log4j-core",
            "L",
        );
        v.aliases.push("CVE-2021-44228".into());
        let f = evaluate(
            &scan_of(vec![v], None),
            &rule(None, &["cve-2021-44228"], &[], None),
            t0(),
        );
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message
                .ends_with("is denied (deny lists cve-2021-44228)"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn finding_order_across_kinds() {
        let scan = scan_of(
            vec![
                vuln("CVE-1", Some(Severity::High), "a", "L0"),
                vuln("CVE-2", Some(Severity::Critical), "b", "L1"),
                vuln("CVE-3", Some(Severity::Low), "c", "L2"),
            ],
            Some(t0() - 200 * HOUR),
        );
        let r = rule(Some("medium"), &["CVE-3", "CVE-1"], &[], Some("168h"));
        let f = evaluate(&scan, &r, t0());
        let got: Vec<_> = f.iter().map(|f| (f.kind, f.id.as_deref())).collect();
        use VulnFindingKind::{Denied, TooOld, TooSevere};
        assert_eq!(
            got,
            [
                (Denied, Some("CVE-1")),
                (Denied, Some("CVE-3")),
                (TooSevere, Some("CVE-2")),
                (TooSevere, Some("CVE-1")),
                (TooOld, None),
            ]
        );
    }

    #[test]
    fn dedup_per_id_and_package() {
        let mut scan = scan_of(
            vec![
                vuln(
                    "CVE-1",
                    Some(Severity::High),
                    "openssl",
                    "Results[0].Vulnerabilities[0]",
                ),
                vuln(
                    "cve-1",
                    Some(Severity::Critical),
                    "openssl",
                    "Results[1].Vulnerabilities[0]",
                ),
                vuln(
                    "CVE-1",
                    Some(Severity::High),
                    "libssl3",
                    "Results[0].Vulnerabilities[1]",
                ),
                vuln(
                    "CVE-1",
                    Some(Severity::Critical),
                    "openssl",
                    "Results[2].Vulnerabilities[0]",
                ),
                vuln(
                    "CVE-2",
                    Some(Severity::Medium),
                    "zlib",
                    "Results[0].Vulnerabilities[2]",
                ),
            ],
            None,
        );
        scan.vulnerabilities[4].package = None;
        let mut no_pkg = scan.vulnerabilities[4].clone();
        no_pkg.location = "Results[3].Vulnerabilities[0]".into();
        scan.vulnerabilities.push(no_pkg);
        let f = evaluate(
            &scan,
            &rule(Some("low"), &["CVE-1", "CVE-2"], &[], None),
            t0(),
        );
        let got: Vec<_> = f
            .iter()
            .map(|f| {
                (
                    f.kind,
                    f.id.as_deref().unwrap(),
                    f.location.as_deref().unwrap(),
                )
            })
            .collect();
        use VulnFindingKind::{Denied, TooSevere};
        assert_eq!(
            got,
            [
                (Denied, "CVE-1", "Results[0].Vulnerabilities[0]"),
                (Denied, "CVE-1", "Results[0].Vulnerabilities[1]"),
                (Denied, "CVE-2", "Results[0].Vulnerabilities[2]"),
                // the most severe occurrence of (CVE-1, openssl), then its first
                (TooSevere, "cve-1", "Results[1].Vulnerabilities[0]"),
                (TooSevere, "CVE-1", "Results[0].Vulnerabilities[1]"),
                (TooSevere, "CVE-2", "Results[0].Vulnerabilities[2]"),
            ]
        );
        assert_eq!(
            f[5].message,
            "CVE-2 (medium) at Results[0].Vulnerabilities[2] is above maxSeverity low"
        );
        // the same CVE in two packages of a generated report: one finding each
        let doc = json!({"Results": [
            {"Vulnerabilities": [{"VulnerabilityID": "CVE-9", "PkgName": "a", "Severity": "HIGH"},
                                 {"VulnerabilityID": "CVE-9", "PkgName": "b", "Severity": "HIGH"}]},
            {"Vulnerabilities": [{"VulnerabilityID": "CVE-9", "PkgName": "a", "Severity": "HIGH"}]}
        ]});
        let f = evaluate(
            &ok(&doc.to_string()),
            &rule(Some("medium"), &["CVE-9"], &[], None),
            t0(),
        );
        assert_eq!(f.len(), 4);
    }

    #[test]
    fn max_age() {
        let r = rule(None, &[], &[], Some("168h"));
        let at = |finished: Option<i64>| evaluate(&scan_of(Vec::new(), finished), &r, t0());
        // younger, exactly maxAge, in the future: pass
        assert!(at(Some(t0() - 24 * HOUR)).is_empty());
        assert!(at(Some(t0() - 168 * HOUR)).is_empty());
        assert!(at(Some(t0() + 48 * HOUR)).is_empty());
        assert!(at(Some(i64::MAX)).is_empty());
        // older: fail
        let f = at(Some(t0() - 200 * HOUR));
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].message,
            "scan finished 2025-12-23T16:00:00Z is 8d8h old, more than maxAge 7d"
        );
        let f = at(Some(t0() - 168 * HOUR - 1));
        assert!(f[0].message.contains("is 7d1s old"), "{}", f[0].message);
        // unknown time: fail
        let f = at(None);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, VulnFindingKind::TooOld);
        assert!(
            f[0].message.starts_with("scan time unknown"),
            "{}",
            f[0].message
        );
        assert!(f[0].message.contains("maxAge 7d"), "{}", f[0].message);
        // extremes never overflow
        let f = evaluate(
            &scan_of(Vec::new(), Some(i64::MIN)),
            &rule(None, &[], &[], Some("0")),
            i64::MAX,
        );
        assert_eq!(f.len(), 1);
        let f = evaluate(
            &scan_of(Vec::new(), Some(0)),
            &VulnRule {
                max_age: Some(u64::MAX),
                ..VulnRule::default()
            },
            i64::MAX,
        );
        assert!(f.is_empty());
        // maxAge 0: any age fails, age 0 passes
        let r0 = rule(None, &[], &[], Some("0"));
        assert!(evaluate(&scan_of(Vec::new(), Some(t0())), &r0, t0()).is_empty());
        assert_eq!(
            evaluate(&scan_of(Vec::new(), Some(t0() - 1)), &r0, t0()).len(),
            1
        );
    }

    #[test]
    fn max_age_on_parsed_documents() {
        let r = rule(None, &[], &[], Some("24h"));
        let fresh = ok(&cosign(trivy_report(), "2025-12-31T12:00:00Z"));
        assert!(evaluate(&fresh, &r, t0()).is_empty());
        let stale = ok(&cosign(trivy_report(), "2025-12-30T12:00:00Z"));
        let f = evaluate(&stale, &r, t0());
        assert_eq!(
            f[0].message,
            "scan finished 2025-12-30T12:00:00Z is 1d12h old, more than maxAge 1d"
        );
        // Trivy SARIF has no time: unknown
        let f = evaluate(&ok(&trivy_sarif().to_string()), &r, t0());
        assert!(f[0].message.starts_with("scan time unknown"));
        // the cosign zero time fails even a generous maxAge
        let zero = ok(&cosign(json!(null), "0001-01-01T00:00:00Z"));
        assert_eq!(
            evaluate(&zero, &rule(None, &[], &[], Some("520w")), t0()).len(),
            1
        );
    }

    #[test]
    fn durations() {
        for (secs, text) in [
            (0, "0s"),
            (45, "45s"),
            (90, "1m30s"),
            (5400, "1h30m"),
            (86_400, "1d"),
            (200 * 3600, "8d8h"),
            (7 * 86_400 + 1, "7d1s"),
        ] {
            assert_eq!(duration(secs), text);
        }
    }
}
