//! Parsing

#[allow(clippy::wildcard_imports)]
use super::*;

/// What one document yields before it is placed in a [`Scan`].
pub(super) struct Read {
    pub(super) scanner: Option<String>,
    pub(super) finished: Option<i64>,
    pub(super) vulnerabilities: Vec<Vulnerability>,
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
pub(super) fn parse_text(text: &str, depth: usize, name: &str) -> Result<Scan, ScanError> {
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
pub(super) fn embedded(
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
pub(super) fn parse_wrapped(
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
pub(super) fn typed<T: DeserializeOwned>(
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
pub(super) fn load(
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
pub(super) fn time(v: &Scalar, path: &str, format: &'static str) -> Result<Option<i64>, ScanError> {
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
pub(super) fn cosign_scanner(uri: Option<&str>, version: Option<&str>) -> Option<String> {
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

pub(super) fn nonblank(v: &Scalar) -> Option<String> {
    v.text().map(str::to_string)
}

/// Adds `alias` unless it is the id or already listed (case-insensitively).
pub(super) fn push_alias(aliases: &mut Vec<String>, id: &str, alias: &str) {
    if !alias.eq_ignore_ascii_case(id) && !aliases.iter().any(|a| a.eq_ignore_ascii_case(alias)) {
        aliases.push(alias.to_string());
    }
}

pub(super) fn read_trivy(report: &TrivyReport, prefix: &str) -> Result<Read, ScanError> {
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

pub(super) fn read_sarif(log: &SarifLog, prefix: &str) -> Result<Read, ScanError> {
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

pub(super) fn read_sarif_result(
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
pub(super) fn sarif_severity(
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

pub(super) fn read_cyclonedx(bom: &CdxBom, prefix: &str) -> Result<Read, ScanError> {
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
pub(super) fn cdx_tools(tools: &serde_json::Value) -> Option<String> {
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
pub(super) struct CdxIndex<'a> {
    pub(super) by_ref: HashMap<&'a str, &'a CdxComponent>,
    pub(super) by_purl: HashMap<&'a str, &'a CdxComponent>,
}

impl<'a> CdxIndex<'a> {
    /// `metadata.component`, then `components[]`, depth first (nested components after
    /// their parent), without recursion.
    pub(super) fn new(
        main: Option<&'a CdxComponent>,
        components: &'a [Option<Obj<CdxComponent>>],
    ) -> Self {
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
    pub(super) fn resolve(&self, reference: &str) -> (Option<String>, Option<String>) {
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
pub(super) fn purl_version(purl: &str) -> Option<String> {
    let head = purl.split(['?', '#']).next().unwrap_or(purl);
    let (_, version) = head.rsplit_once('@')?;
    (!version.is_empty() && !version.contains('/')).then(|| version.to_string())
}

/// Whether a CycloneDX `references[].id` looks like an advisory id (module doc).
pub(super) fn advisory_like(s: &str) -> bool {
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
pub(super) fn cdx_word(w: &str) -> Option<Option<Severity>> {
    match w.trim().to_ascii_lowercase().as_str() {
        "info" | "informational" => Some(Some(Severity::Low)),
        "none" => Some(Some(Severity::None)),
        _ => scanner_word(w),
    }
}

/// The severity of a CycloneDX vulnerability from its ratings (module doc); `None` is
/// unknown.
pub(super) fn cdx_severity(ratings: &[Option<Obj<CdxRating>>]) -> Option<Severity> {
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
pub(super) fn line_value<'a>(text: &'a str, keys: &[&str]) -> Option<&'a str> {
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
pub(super) fn is_id_prefix(rule_id: &str, prefix: &str) -> bool {
    let n = prefix.len();
    n > 0
        && rule_id
            .get(..n)
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        && matches!(rule_id.as_bytes().get(n), None | Some(b'-'))
}

/// `[HIGH] TEMP-0841856-B18BAF` → `TEMP-0841856-B18BAF` (Trivy's old SARIF template).
pub(super) fn strip_bracket_prefix(id: &str) -> &str {
    match (id.starts_with('['), id.split_once("] ")) {
        (true, Some((_, rest))) if !rest.trim().is_empty() => rest.trim(),
        _ => id,
    }
}

/// The first CVE or GHSA id inside `s` that stands as its own token.
pub(super) fn embedded_id(s: &str) -> Option<&str> {
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
pub(super) fn cve_len(b: &[u8]) -> Option<usize> {
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
pub(super) fn ghsa_len(b: &[u8]) -> Option<usize> {
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
