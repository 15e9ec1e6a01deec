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

use crate::base::time::{format_rfc3339, parse_rfc3339};

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

mod documents;
mod leaves;
mod parse;
mod probe;
mod rules;
use documents::*;
use leaves::*;
pub use parse::*;
use probe::*;
pub use rules::*;

#[cfg(test)]
mod tests;
