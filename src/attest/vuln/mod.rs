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
mod tests;
