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
        max_age: max_age.map(|a| crate::base::time::parse_duration(a).unwrap()),
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
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"));
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
    let base = || json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "vulnerabilities": []});
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
