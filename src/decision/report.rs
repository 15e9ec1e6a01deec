//! Rendering a [`Report`]: `json` (the contract's shape), `text`, `sarif` (2.1.0) and
//! `junit`. Pure: returns strings.

use serde_json::{Value, json};

use crate::base::verdict::Verdict;
use crate::decision::{ImageReport, Report};

/// Output formats of `sealgate check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
    Junit,
}

/// Renders the report in `format`.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => text(report),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&to_json(report)).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Sarif => {
            let mut s = serde_json::to_string_pretty(&sarif(report)).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Junit => junit(report),
    }
}

fn image_json(i: &ImageReport) -> Value {
    json!({
        "image": i.image,
        "reference": i.reference.as_ref().map_or_else(|| i.image.clone(), ToString::to_string),
        "digest": i.digest,
        "rule": if i.rules.is_empty() { Value::Null } else { Value::String(i.rules.join(", ")) },
        "verdict": i.verdict.as_str(),
        "reasons": i.verdict.reasons(),
        "signatures": i.signatures.iter().map(|s| {
            let mut v = json!({
                "attestor": s.attestor,
                "source": s.source.map(|s| s.as_str()),
                "verified": s.verified,
            });
            if let Some((identity, issuer)) = &s.identity {
                v["identity"] = json!(identity);
                v["issuer"] = json!(issuer);
            }
            v
        }).collect::<Vec<_>>(),
        "attestations": i.attestations.iter().map(|a| json!({
            "predicateType": a.predicate_type,
            "attestor": a.attestor,
            "verified": a.verified,
            "source": a.source.as_str(),
            "origin": a.origin,
            "used": a.used,
            "note": a.note,
        })).collect::<Vec<_>>(),
        "locations": i.locations,
    })
}

/// The contract's JSON report.
pub fn to_json(report: &Report) -> Value {
    json!({
        "decision": report.decision.as_str(),
        "policies": report.policies.iter().map(|(n, s)| json!({"name": n, "sha256": s})).collect::<Vec<_>>(),
        "summary": {
            "manifests": report.summary.manifests,
            "images": report.summary.images,
            "pass": report.summary.pass,
            "allowed": report.summary.allowed,
            "fail": report.summary.fail,
            "unverifiable": report.summary.unverifiable,
        },
        "images": report.images.iter().map(image_json).collect::<Vec<_>>(),
        "problems": report.problems,
    })
}

fn short_digest(d: Option<&str>) -> String {
    match d {
        Some(d) => d.get(..19).unwrap_or(d).to_string(),
        None => "-".into(),
    }
}

fn text(report: &Report) -> String {
    let mut out = String::new();
    for i in &report.images {
        let verdict = match (&i.verdict, i.blocking) {
            (Verdict::Pass, _) => "PASS",
            (Verdict::Allowed, _) => "ALLOWED",
            (Verdict::Fail(_), true) => "FAIL",
            (Verdict::Fail(_), false) => "WARN",
            (Verdict::Unverifiable(_), true) => "UNVERIFIABLE",
            (Verdict::Unverifiable(_), false) => "WARN",
        };
        out.push_str(&format!(
            "{verdict:<12} {} {}",
            i.image,
            short_digest(i.digest.as_deref())
        ));
        let verified: Vec<&str> = i
            .signatures
            .iter()
            .filter(|s| s.verified)
            .map(|s| s.attestor.as_str())
            .collect();
        if !verified.is_empty() {
            out.push_str(&format!(" verified-by={}", verified.join(",")));
        }
        out.push('\n');
        for r in i.verdict.reasons() {
            out.push_str(&format!("    {}: {}\n", r.code.as_str(), r.message));
        }
        if !i.verdict.is_ok() && !i.signatures.is_empty() {
            let not: Vec<&str> = i
                .signatures
                .iter()
                .filter(|s| !s.verified)
                .map(|s| s.attestor.as_str())
                .collect();
            out.push_str(&format!(
                "    attestors verified: [{}]; not verified: [{}]\n",
                verified.join(", "),
                not.join(", ")
            ));
        }
        if !i.verdict.is_ok() {
            for a in &i.attestations {
                out.push_str(&format!(
                    "    attestation {} {} ({}): {}{}{}\n",
                    a.predicate_type.as_deref().unwrap_or("?"),
                    a.origin,
                    a.source.as_str(),
                    match (&a.attestor, a.verified) {
                        (Some(n), true) => format!("verified by {n}"),
                        (Some(n), false) => format!("signed by {n}, not counted"),
                        (None, _) => "not verified".to_string(),
                    },
                    if a.used { ", decided" } else { "" },
                    a.note
                        .as_deref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default(),
                ));
            }
        }
        if !i.verdict.is_ok() {
            for l in &i.locations {
                out.push_str(&format!(
                    "    at {}#{} {}/{} {}\n",
                    l.file, l.document, l.kind, l.name, l.pointer
                ));
            }
        }
    }
    for p in &report.problems {
        let doc = p.document.map(|d| format!("#{d}")).unwrap_or_default();
        out.push_str(&format!(
            "PROBLEM      {}{doc} {:?}: {}\n",
            p.file, p.code, p.message
        ));
    }
    let s = &report.summary;
    out.push_str(&format!(
        "decision: {} ({} manifests, {} images: {} pass, {} allowed, {} fail, {} unverifiable; {} problems)\n",
        report.decision.as_str(),
        s.manifests,
        s.images,
        s.pass,
        s.allowed,
        s.fail,
        s.unverifiable,
        report.problems.len()
    ));
    out
}

fn sarif(report: &Report) -> Value {
    let mut rules: Vec<&'static str> = Vec::new();
    let mut results = Vec::new();
    for i in &report.images {
        if i.verdict.is_ok() {
            continue;
        }
        let level = if i.blocking { "error" } else { "warning" };
        for r in i.verdict.reasons() {
            if !rules.contains(&r.code.as_str()) {
                rules.push(r.code.as_str());
            }
            for l in &i.locations {
                results.push(json!({
                    "ruleId": r.code.as_str(),
                    "level": level,
                    "message": {"text": format!("{}: {}", i.image, r.message)},
                    "locations": [{
                        "physicalLocation": {"artifactLocation": {"uri": l.file}},
                        "logicalLocations": [{
                            "name": l.name,
                            "kind": "object",
                            "fullyQualifiedName": format!("{}/{}#{}{}", l.kind, l.name, l.document, l.pointer),
                        }],
                    }],
                    "properties": {"image": i.image, "digest": i.digest, "pointer": l.pointer, "document": l.document},
                }));
            }
        }
    }
    for p in &report.problems {
        let code = format!("{:?}", p.code);
        results.push(json!({
            "ruleId": code,
            "level": "error",
            "message": {"text": p.message},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": p.file}}}],
        }));
    }
    let mut rule_defs: Vec<Value> = rules
        .iter()
        .map(|r| json!({"id": r, "shortDescription": {"text": r}}))
        .collect();
    for p in &report.problems {
        let code = format!("{:?}", p.code);
        if !rule_defs.iter().any(|d| d["id"] == code.as_str()) {
            rule_defs.push(json!({"id": code, "shortDescription": {"text": code}}));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "sealgate",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://sealgate.dev",
                "rules": rule_defs,
            }},
            "results": results,
        }],
    })
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

fn junit(report: &Report) -> String {
    let failures = report
        .images
        .iter()
        .filter(|i| matches!(i.verdict, Verdict::Fail(_)))
        .count();
    let errors = report
        .images
        .iter()
        .filter(|i| matches!(i.verdict, Verdict::Unverifiable(_)))
        .count()
        + report.problems.len();
    let tests = report.images.len() + report.problems.len();
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    o.push_str(&format!(
        "<testsuites name=\"sealgate\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">\n  <testsuite name=\"sealgate check\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">\n"
    ));
    for i in &report.images {
        let class = i.locations.first().map(|l| l.file.as_str()).unwrap_or("-");
        o.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\">\n",
            xml_escape(class),
            xml_escape(&i.image)
        ));
        let body: String = i
            .verdict
            .reasons()
            .iter()
            .map(|r| format!("{}: {}", r.code.as_str(), r.message))
            .chain(
                i.locations
                    .iter()
                    .map(|l| format!("at {}#{} {}", l.file, l.document, l.pointer)),
            )
            .collect::<Vec<_>>()
            .join("\n");
        match &i.verdict {
            Verdict::Pass => {}
            Verdict::Allowed => {
                o.push_str("      <skipped message=\"allowed unchecked (unmatched: allow)\"/>\n")
            }
            Verdict::Fail(r) => o.push_str(&format!(
                "      <failure type=\"{}\" message=\"{}\">{}</failure>\n",
                r.first().map_or("Fail", |r| r.code.as_str()),
                xml_escape(&r.first().map(|r| r.message.clone()).unwrap_or_default()),
                xml_escape(&body)
            )),
            Verdict::Unverifiable(r) => o.push_str(&format!(
                "      <error type=\"{}\" message=\"{}\">{}</error>\n",
                r.code.as_str(),
                xml_escape(&r.message),
                xml_escape(&body)
            )),
        }
        o.push_str("    </testcase>\n");
    }
    for p in &report.problems {
        o.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"manifest\">\n      <error type=\"{:?}\" message=\"{}\"/>\n    </testcase>\n",
            xml_escape(&p.file),
            p.code,
            xml_escape(&p.message)
        ));
    }
    o.push_str("  </testsuite>\n</testsuites>\n");
    o
}
