//! Evaluation

#[allow(clippy::wildcard_imports)]
use super::*;

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
    pub(super) fn effective_severity(&self) -> Severity {
        if self.severity_unknown {
            Severity::Critical
        } else {
            self.severity
        }
    }
}

/// The non-blank, trimmed entries of a deny or ignore list.
pub(super) fn id_list(list: &[String]) -> Vec<&str> {
    list.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The first entry of `list` naming `v` by id or alias.
pub(super) fn listed<'a>(v: &Vulnerability, list: &[&'a str]) -> Option<&'a str> {
    list.iter().copied().find(|entry| {
        entry.eq_ignore_ascii_case(&v.id) || v.aliases.iter().any(|a| entry.eq_ignore_ascii_case(a))
    })
}

pub(super) fn dedup_key(v: &Vulnerability) -> (String, Option<String>) {
    (v.id.to_ascii_lowercase(), v.package.clone())
}

/// `CVE-2021-44228 (critical) in log4j-core 2.14.1 at Results[0].Vulnerabilities[3]`.
pub(super) fn describe(v: &Vulnerability) -> String {
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

pub(super) use crate::base::time::format_duration as duration;
