//! Deterministic generators of vulnerability-scan documents shaped as the real tools write
//! them: Trivy's JSON report, SARIF log and CycloneDX BOM with vulnerabilities, Grype's
//! SARIF log, and cosign's `vuln` and `custom` predicates. The same input always gives the same bytes (no clock, no
//! randomness, insertion-ordered keys), pretty-printed with two spaces as Trivy and cosign
//! write them.
//!
//! Where a vulnerability goes in a Trivy report: a package named like a Maven artifact
//! (`group:artifact`) goes to the `Java` target (class `lang-pkgs`, type `jar`); any other
//! package to the OS target `<image> (debian 12.5)` (class `os-pkgs`, type `debian`). Both
//! targets are always present, with no `Vulnerabilities` key when they have none (as
//! Trivy omits it).
#![allow(dead_code)]

use serde_json::{Map, Value, json};

/// The image every generated document is about.
pub const IMAGE: &str = "ghcr.io/acme/web:1.4.2";
/// Its repository (what Trivy's SARIF writes as the OS packages' location).
pub const REPOSITORY: &str = "ghcr.io/acme/web";
/// The Trivy version the generated documents claim.
pub const TRIVY_VERSION: &str = "0.50.1";
/// The Grype version the generated documents claim.
pub const GRYPE_VERSION: &str = "0.74.7";
const OS_TARGET_SUFFIX: &str = " (debian 12.5)";
const JAVA_TARGET: &str = "Java";
const DIGEST: &str = "sha256:5b0c7e1c3e0d2a9f4b6c8d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a";
const IMAGE_ID: &str = "sha256:9f2d6c1b7a4e3f5d8c0b2a1e4d6f8a0c2e4b6d8f0a1c3e5b7d9f1a3c5e7b9d1f";
const DIFF_ID: &str = "sha256:1c2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e";

/// One vulnerability to write.
#[derive(Debug, Clone, PartialEq)]
pub struct GenVuln {
    /// `CVE-2021-44228`, `GHSA-…`, `TEMP-…`.
    pub id: String,
    /// Package name: `libc6`, or `org.apache.logging.log4j:log4j-core` for a jar.
    pub package: String,
    /// Installed version.
    pub version: String,
    /// Trivy's word: `CRITICAL`, `HIGH`, `MEDIUM`, `LOW` or `UNKNOWN`.
    pub severity: String,
    /// CVSS v3 base score, when the vulnerability has one.
    pub cvss: Option<f64>,
}

impl GenVuln {
    /// A vulnerability from borrowed parts.
    pub fn new(id: &str, package: &str, version: &str, severity: &str, cvss: Option<f64>) -> Self {
        Self {
            id: id.to_string(),
            package: package.to_string(),
            version: version.to_string(),
            severity: severity.to_string(),
            cvss,
        }
    }

    fn is_jar(&self) -> bool {
        self.package.contains(':')
    }

    /// The artifact name of a Maven package, else the package.
    fn short_name(&self) -> &str {
        self.package.rsplit(':').next().unwrap_or(&self.package)
    }

    fn purl(&self) -> String {
        match self.package.split_once(':') {
            Some((group, artifact)) => {
                format!("pkg:maven/{group}/{artifact}@{}", self.version)
            }
            None => format!(
                "pkg:deb/debian/{}@{}?arch=amd64&distro=debian-12.5",
                self.package, self.version
            ),
        }
    }

    fn jar_path(&self) -> String {
        format!("app/lib/{}-{}.jar", self.short_name(), self.version)
    }

    fn upper_severity(&self) -> String {
        self.severity.trim().to_ascii_uppercase()
    }

    fn has_fix(&self) -> bool {
        !matches!(self.upper_severity().as_str(), "LOW" | "UNKNOWN")
    }

    fn fixed_version(&self) -> String {
        if self.has_fix() {
            format!("{}+fix.1", self.version)
        } else {
            String::new()
        }
    }

    fn primary_url(&self) -> String {
        format!(
            "https://avd.aquasec.com/nvd/{}",
            self.id.to_ascii_lowercase()
        )
    }

    fn title(&self) -> String {
        format!("{}: flaw in {}", self.short_name(), self.id)
    }
}

/// Trivy's vendor severity number for a word.
fn vendor_severity(word: &str) -> u8 {
    match word {
        "LOW" => 1,
        "MEDIUM" => 2,
        "HIGH" => 3,
        "CRITICAL" => 4,
        _ => 0,
    }
}

/// Trivy's `security-severity` fallback when a vulnerability has no CVSS score.
fn trivy_score(v: &GenVuln) -> String {
    match v.cvss {
        Some(score) => format!("{score:.1}"),
        None => match v.upper_severity().as_str() {
            "CRITICAL" => "9.5",
            "HIGH" => "8.0",
            "MEDIUM" => "5.5",
            "LOW" => "2.0",
            _ => "0.0",
        }
        .to_string(),
    }
}

/// Trivy's SARIF level for a severity word.
fn trivy_level(word: &str) -> &'static str {
    match word {
        "CRITICAL" | "HIGH" => "error",
        "MEDIUM" => "warning",
        "LOW" | "UNKNOWN" => "note",
        _ => "none",
    }
}

/// A stable 16-hex-digit id (FNV-1a 64) for Trivy's package `UID`s.
fn uid(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn trivy_vulnerability(v: &GenVuln) -> Value {
    let severity = v.upper_severity();
    let mut o = Map::new();
    o.insert("VulnerabilityID".into(), json!(v.id));
    o.insert(
        "PkgID".into(),
        json!(format!("{}@{}", v.package, v.version)),
    );
    o.insert("PkgName".into(), json!(v.package));
    if v.is_jar() {
        o.insert("PkgPath".into(), json!(v.jar_path()));
    }
    o.insert(
        "PkgIdentifier".into(),
        json!({"PURL": v.purl(), "UID": uid(&[&v.package, &v.version])}),
    );
    o.insert("InstalledVersion".into(), json!(v.version));
    if v.has_fix() {
        o.insert("FixedVersion".into(), json!(v.fixed_version()));
    }
    o.insert(
        "Status".into(),
        json!(if v.has_fix() { "fixed" } else { "affected" }),
    );
    o.insert("Layer".into(), json!({"DiffID": DIFF_ID}));
    o.insert(
        "SeveritySource".into(),
        json!(if v.is_jar() { "ghsa" } else { "nvd" }),
    );
    o.insert("PrimaryURL".into(), json!(v.primary_url()));
    o.insert(
        "DataSource".into(),
        if v.is_jar() {
            json!({"ID": "ghsa", "Name": "GitHub Security Advisory Maven",
                   "URL": "https://github.com/advisories?query=type%3Areviewed+ecosystem%3Amaven"})
        } else {
            json!({"ID": "debian", "Name": "Debian Security Tracker",
                   "URL": "https://salsa.debian.org/security-tracker-team/security-tracker"})
        },
    );
    o.insert("Title".into(), json!(v.title()));
    o.insert(
        "Description".into(),
        json!(format!(
            "A flaw was found in {} {} ({}).",
            v.short_name(),
            v.version,
            v.id
        )),
    );
    o.insert("Severity".into(), json!(severity));
    o.insert("CweIDs".into(), json!(["CWE-20"]));
    o.insert(
        "VendorSeverity".into(),
        json!({"nvd": vendor_severity(&severity)}),
    );
    if let Some(score) = v.cvss {
        o.insert(
            "CVSS".into(),
            json!({"nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                           "V3Score": score}}),
        );
    }
    o.insert(
        "References".into(),
        json!([
            format!("https://nvd.nist.gov/vuln/detail/{}", v.id),
            v.primary_url()
        ]),
    );
    o.insert("PublishedDate".into(), json!("2023-10-03T18:15:10.463Z"));
    o.insert("LastModifiedDate".into(), json!("2024-01-21T01:49:12.183Z"));
    Value::Object(o)
}

fn trivy_target(target: &str, class: &str, kind: &str, vulns: &[&GenVuln]) -> Value {
    let mut o = Map::new();
    o.insert("Target".into(), json!(target));
    o.insert("Class".into(), json!(class));
    o.insert("Type".into(), json!(kind));
    if !vulns.is_empty() {
        o.insert(
            "Vulnerabilities".into(),
            Value::Array(vulns.iter().map(|v| trivy_vulnerability(v)).collect()),
        );
    }
    Value::Object(o)
}

/// A Trivy JSON report (`trivy image -f json`, SchemaVersion 2) of [`IMAGE`] made at
/// `created` (RFC 3339), with the vulnerabilities in the OS and `Java` targets (see the
/// module doc), in the given order within each target.
pub fn trivy_json(vulns: &[GenVuln], created: &str) -> String {
    let os: Vec<&GenVuln> = vulns.iter().filter(|v| !v.is_jar()).collect();
    let jars: Vec<&GenVuln> = vulns.iter().filter(|v| v.is_jar()).collect();
    let report = json!({
        "SchemaVersion": 2,
        "Trivy": {"Version": TRIVY_VERSION},
        "ReportID": format!("019{}", uid(&[created, &vulns.len().to_string()])),
        "CreatedAt": created,
        "ArtifactName": IMAGE,
        "ArtifactType": "container_image",
        "Metadata": {
            "Size": 81_241_088,
            "OS": {"Family": "debian", "Name": "12.5"},
            "ImageID": IMAGE_ID,
            "DiffIDs": [DIFF_ID],
            "RepoTags": [IMAGE],
            "RepoDigests": [format!("{REPOSITORY}@{DIGEST}")],
            "ImageConfig": {
                "architecture": "amd64",
                "created": "2024-03-12T09:30:00Z",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [DIFF_ID]},
                "config": {"Cmd": ["java", "-jar", "/app/app.jar"],
                           "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}
            }
        },
        "Results": [
            trivy_target(&format!("{IMAGE}{OS_TARGET_SUFFIX}"), "os-pkgs", "debian", &os),
            trivy_target(JAVA_TARGET, "lang-pkgs", "jar", &jars),
        ]
    });
    pretty(&report)
}

/// A SARIF 2.1.0 log as `trivy image -f sarif` writes it for [`IMAGE`]: one rule per
/// vulnerability id (shared by its results, `ruleIndex` pointing at it), one result per
/// vulnerability. Real Trivy writes no `invocations`; `end_time` adds one with that
/// `endTimeUtc`.
pub fn trivy_sarif(vulns: &[GenVuln], end_time: Option<&str>) -> String {
    let mut rules: Vec<Value> = Vec::new();
    let mut rule_ids: Vec<&str> = Vec::new();
    let mut results = Vec::new();
    for v in vulns {
        let severity = v.upper_severity();
        let level = trivy_level(&severity);
        let index = match rule_ids.iter().position(|id| *id == v.id) {
            Some(i) => i,
            None => {
                rule_ids.push(&v.id);
                rules.push(json!({
                    "id": v.id,
                    "name": if v.is_jar() { "LanguageSpecificPackageVulnerability" } else { "OsPackageVulnerability" },
                    "shortDescription": {"text": v.title()},
                    "fullDescription": {"text": format!("A flaw was found in {} {} ({}).", v.short_name(), v.version, v.id)},
                    "defaultConfiguration": {"level": level},
                    "helpUri": v.primary_url(),
                    "help": {
                        "text": format!(
                            "Vulnerability {}\nSeverity: {severity}\nPackage: {}\nFixed Version: {}\nLink: [{}]({})\n{}",
                            v.id, v.package, v.fixed_version(), v.id, v.primary_url(), v.title()
                        ),
                        "markdown": format!(
                            "**Vulnerability {}**\n| Severity | Package | Fixed Version | Link |\n| --- | --- | --- | --- |\n|{severity}|{}|{}|[{}]({})|\n\n{}",
                            v.id, v.package, v.fixed_version(), v.id, v.primary_url(), v.title()
                        )
                    },
                    "properties": {
                        "precision": "very-high",
                        "security-severity": trivy_score(v),
                        "tags": ["vulnerability", "security", severity]
                    }
                }));
                rule_ids.len() - 1
            }
        };
        let path = if v.is_jar() {
            v.jar_path()
        } else {
            REPOSITORY.to_string()
        };
        results.push(json!({
            "ruleId": v.id,
            "ruleIndex": index,
            "level": level,
            "message": {"text": format!(
                "Package: {}\nInstalled Version: {}\nVulnerability {}\nSeverity: {severity}\nFixed Version: {}\nLink: [{}]({})",
                v.package, v.version, v.id, v.fixed_version(), v.id, v.primary_url()
            )},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": path, "uriBaseId": "ROOTPATH"},
                    "region": {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 1}
                },
                "message": {"text": format!("{path}: {}@{}", v.package, v.version)}
            }]
        }));
    }
    let mut run = Map::new();
    run.insert(
        "tool".into(),
        json!({"driver": {
            "fullName": "Trivy Vulnerability Scanner",
            "informationUri": "https://github.com/aquasecurity/trivy",
            "name": "Trivy",
            "rules": rules,
            "version": TRIVY_VERSION
        }}),
    );
    run.insert("results".into(), Value::Array(results));
    run.insert("columnKind".into(), json!("utf16CodeUnits"));
    run.insert(
        "originalUriBaseIds".into(),
        json!({"ROOTPATH": {"uri": "file:///"}}),
    );
    run.insert(
        "properties".into(),
        json!({
            "imageID": IMAGE_ID,
            "imageName": IMAGE,
            "repoDigests": [format!("{REPOSITORY}@{DIGEST}")],
            "repoTags": [IMAGE]
        }),
    );
    if let Some(end) = end_time {
        run.insert(
            "invocations".into(),
            json!([{"executionSuccessful": true, "endTimeUtc": end}]),
        );
    }
    pretty(&json!({
        "version": "2.1.0",
        "$schema": "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/main/sarif-2.1/schema/sarif-schema-2.1.0.json",
        "runs": [Value::Object(run)]
    }))
}

/// A SARIF 2.1.0 log as `grype -o sarif` writes it: one rule per (vulnerability, package)
/// with id `<vulnerability>-<package>`, severity only as `security-severity` (the CVSS
/// score, else `0.0`) and the help text, results without `level`.
pub fn grype_sarif(vulns: &[GenVuln]) -> String {
    let mut rules: Vec<Value> = Vec::new();
    let mut rule_ids: Vec<String> = Vec::new();
    let mut results = Vec::new();
    for v in vulns {
        let rule_id = format!("{}-{}", v.id, v.short_name());
        let severity = v.upper_severity().to_ascii_lowercase();
        let (kind, matcher, location) = if v.is_jar() {
            (
                "java-archive",
                "JavaMatcherExactDirectMatch",
                format!("/{}", v.jar_path()),
            )
        } else {
            (
                "deb",
                "DpkgMatcherExactDirectMatch",
                "/var/lib/dpkg/status".to_string(),
            )
        };
        if !rule_ids.contains(&rule_id) {
            rule_ids.push(rule_id.clone());
            rules.push(json!({
                "id": rule_id,
                "name": matcher,
                "shortDescription": {"text": format!("{} {severity} vulnerability for {} package", v.id, v.short_name())},
                "fullDescription": {"text": v.title()},
                "helpUri": "https://github.com/anchore/grype",
                "help": {
                    "text": format!(
                        "Vulnerability {}\nSeverity: {severity}\nPackage: {}\nVersion: {}\nFix Version: {}\nType: {kind}\nLocation: {location}\nData Namespace: nvd:cpe\nLink: [{}]({})",
                        v.id, v.short_name(), v.version, v.fixed_version(), v.id, v.primary_url()
                    ),
                    "markdown": format!(
                        "**Vulnerability {}**\n| Severity | Package | Version | Fix Version | Type | Location | Data Namespace | Link |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n| {severity}  | {}  | {}  | {}  | {kind}  | {location}  | nvd:cpe  | [{}]({})  |\n",
                        v.id, v.short_name(), v.version, v.fixed_version(), v.id, v.primary_url()
                    )
                },
                "properties": {
                    "security-severity": v.cvss.map_or_else(|| "0.0".to_string(), |s| format!("{s:.1}"))
                }
            }));
        }
        results.push(json!({
            "ruleId": rule_id,
            "message": {"text": format!(
                "A {severity} vulnerability in {kind} package: {}, version {} was found in image {IMAGE} at: {location}",
                v.short_name(), v.version
            )},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": location},
                    "region": {"startLine": 1, "startColumn": 1, "endLine": 1, "endColumn": 1}
                },
                "logicalLocations": [{"name": location, "fullyQualifiedName": format!("{IMAGE}@{DIGEST}:{location}")}]
            }]
        }));
    }
    pretty(&json!({
        "version": "2.1.0",
        "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/cos02/schemas/sarif-schema-2.1.0.json",
        "runs": [{
            "tool": {"driver": {
                "name": "grype",
                "version": GRYPE_VERSION,
                "informationUri": "https://github.com/anchore/grype",
                "rules": rules
            }},
            "results": results
        }]
    }))
}

/// Other ids of a few well-known vulnerabilities, with the database that publishes them:
/// what the generated CycloneDX `references` list.
const RELATED: [(&str, &str, &str); 4] = [
    ("CVE-2021-44228", "GHSA-jfh8-c2jp-5v3q", "ghsa"),
    ("CVE-2021-45046", "GHSA-7rjr-3q55-vv33", "ghsa"),
    ("CVE-2022-42889", "GHSA-599f-7c49-w659", "ghsa"),
    ("CVE-2023-4911", "DSA-5514-1", "debian"),
];

/// The ids [`RELATED`] links to `id`, each with its source name.
fn related_ids(id: &str) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    for (cve, other, source) in RELATED {
        if id.eq_ignore_ascii_case(cve) {
            out.push((other, source));
        } else if id.eq_ignore_ascii_case(other) {
            out.push((cve, "nvd"));
        }
    }
    out
}

/// Where an advisory id is published.
fn advisory_url(id: &str) -> String {
    if id.starts_with("GHSA-") {
        format!("https://github.com/advisories/{id}")
    } else if id.starts_with("CVE-") {
        format!("https://nvd.nist.gov/vuln/detail/{id}")
    } else {
        format!("https://security-tracker.debian.org/tracker/{id}")
    }
}

/// A stable UUID-shaped id (for CycloneDX `serialNumber` and `bom-ref`s).
fn uuid(parts: &[&str]) -> String {
    let mut more = parts.to_vec();
    more.push("uuid");
    let hex = format!("{}{}", uid(parts), uid(&more));
    format!(
        "{}-{}-5{}-8{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// The generated image as CycloneDX `metadata.component`.
fn cyclonedx_image() -> Value {
    let digest = DIGEST.replace(':', "%3A");
    let purl = format!(
        "pkg:oci/web@{digest}?arch=amd64&repository_url={}",
        REPOSITORY.replace('/', "%2F")
    );
    json!({
        "bom-ref": purl,
        "type": "container",
        "name": IMAGE,
        "purl": purl,
        "properties": [
            {"name": "aquasecurity:trivy:DiffID", "value": DIFF_ID},
            {"name": "aquasecurity:trivy:ImageID", "value": IMAGE_ID},
            {"name": "aquasecurity:trivy:RepoDigest", "value": format!("{REPOSITORY}@{DIGEST}")},
            {"name": "aquasecurity:trivy:RepoTag", "value": IMAGE},
            {"name": "aquasecurity:trivy:SchemaVersion", "value": "2"}
        ]
    })
}

/// A package as a CycloneDX library component, its `bom-ref` its purl.
fn cyclonedx_component(v: &GenVuln) -> Value {
    let mut o = Map::new();
    o.insert("bom-ref".into(), json!(v.purl()));
    o.insert("type".into(), json!("library"));
    match v.package.split_once(':') {
        Some((group, artifact)) => {
            o.insert("group".into(), json!(group));
            o.insert("name".into(), json!(artifact));
        }
        None => {
            o.insert("name".into(), json!(v.package));
        }
    }
    o.insert("version".into(), json!(v.version));
    o.insert("purl".into(), json!(v.purl()));
    let mut properties = vec![
        json!({"name": "aquasecurity:trivy:PkgID", "value": format!("{}@{}", v.package, v.version)}),
        json!({"name": "aquasecurity:trivy:PkgType", "value": if v.is_jar() { "jar" } else { "debian" }}),
    ];
    if v.is_jar() {
        properties.push(json!({"name": "aquasecurity:trivy:FilePath", "value": v.jar_path()}));
    }
    o.insert("properties".into(), Value::Array(properties));
    Value::Object(o)
}

/// One CycloneDX vulnerability for `v` (its first occurrence), affecting `refs`.
fn cyclonedx_vulnerability(v: &GenVuln, refs: &[(String, String)]) -> Value {
    let severity = v.upper_severity().to_ascii_lowercase();
    let vendor = if v.is_jar() { "ghsa" } else { "debian" };
    let mut ratings = vec![json!({"source": {"name": vendor}, "severity": severity})];
    if let Some(score) = v.cvss {
        ratings.push(json!({
            "source": {"name": "nvd"},
            "score": score,
            "severity": severity,
            "method": "CVSSv31",
            "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
        }));
    }
    let mut o = Map::new();
    o.insert("id".into(), json!(v.id));
    o.insert(
        "source".into(),
        if v.is_jar() {
            json!({"name": "ghsa", "url": "https://github.com/advisories?query=type%3Areviewed+ecosystem%3Amaven"})
        } else {
            json!({"name": "debian", "url": "https://salsa.debian.org/security-tracker-team/security-tracker"})
        },
    );
    let references: Vec<Value> = related_ids(&v.id)
        .into_iter()
        .map(|(id, source)| json!({"id": id, "source": {"name": source, "url": advisory_url(id)}}))
        .collect();
    if !references.is_empty() {
        o.insert("references".into(), Value::Array(references));
    }
    o.insert("ratings".into(), Value::Array(ratings));
    o.insert("cwes".into(), json!([20]));
    o.insert(
        "description".into(),
        json!(format!(
            "A flaw was found in {} {} ({}).",
            v.short_name(),
            v.version,
            v.id
        )),
    );
    if v.has_fix() {
        o.insert(
            "recommendation".into(),
            json!(format!(
                "Upgrade {} to version {}",
                v.package,
                v.fixed_version()
            )),
        );
    }
    o.insert(
        "advisories".into(),
        json!([{"url": v.primary_url()}, {"url": advisory_url(&v.id)}]),
    );
    o.insert("published".into(), json!("2023-10-03T18:15:10+00:00"));
    o.insert("updated".into(), json!("2024-01-21T01:49:12+00:00"));
    o.insert(
        "affects".into(),
        Value::Array(
            refs.iter()
                .map(|(r, version)| {
                    json!({"ref": r, "versions": [{"version": version, "status": "affected"}]})
                })
                .collect(),
        ),
    );
    Value::Object(o)
}

/// A CycloneDX 1.5 BOM with vulnerabilities (a VDR) as `trivy image --format cyclonedx
/// --scanners vuln` writes it for [`IMAGE`], made at `timestamp` (RFC 3339):
/// `metadata.tools` naming Trivy, the image as `metadata.component`, an operating-system
/// component, one library component per (package, version) in order of first appearance
/// (`bom-ref` and `purl` the package's purl; Maven packages with `group`), `dependencies`,
/// and one `vulnerabilities[]` entry per id in order of first appearance, with the
/// severity and score of its first occurrence (a vendor rating, plus an NVD `CVSSv31`
/// rating when it has a score), `cwes`, `description`, `advisories`, `references` to the
/// related ids of a few well-known vulnerabilities, and one `affects` per distinct package.
/// No `analysis`: every vulnerability applies.
pub fn cyclonedx_vex(vulns: &[GenVuln], timestamp: &str) -> String {
    let image = cyclonedx_image();
    let image_ref = image["bom-ref"].clone();
    let os_ref = uuid(&["os", "debian", "12.5"]);
    let mut components = vec![json!({
        "bom-ref": os_ref,
        "type": "operating-system",
        "name": "debian",
        "version": "12.5",
        "properties": [
            {"name": "aquasecurity:trivy:Class", "value": "os-pkgs"},
            {"name": "aquasecurity:trivy:Type", "value": "debian"}
        ]
    })];
    let mut seen: Vec<String> = Vec::new();
    let mut os_deps = Vec::new();
    let mut image_deps = vec![json!(os_ref)];
    for v in vulns {
        let r = v.purl();
        if seen.contains(&r) {
            continue;
        }
        seen.push(r.clone());
        components.push(cyclonedx_component(v));
        if v.is_jar() {
            image_deps.push(json!(r));
        } else {
            os_deps.push(json!(r));
        }
    }
    let mut ids: Vec<&str> = Vec::new();
    let mut entries = Vec::new();
    for v in vulns {
        if ids.iter().any(|id| id.eq_ignore_ascii_case(&v.id)) {
            continue;
        }
        ids.push(&v.id);
        let mut refs: Vec<(String, String)> = Vec::new();
        for same in vulns.iter().filter(|o| o.id.eq_ignore_ascii_case(&v.id)) {
            let r = (same.purl(), same.version.clone());
            if !refs.contains(&r) {
                refs.push(r);
            }
        }
        entries.push(cyclonedx_vulnerability(v, &refs));
    }
    pretty(&json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", uuid(&["bom", timestamp, &vulns.len().to_string()])),
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": {"components": [{
                "type": "application",
                "group": "aquasecurity",
                "name": "trivy",
                "version": TRIVY_VERSION
            }]},
            "component": image
        },
        "components": components,
        "dependencies": [
            {"ref": image_ref, "dependsOn": image_deps},
            {"ref": os_ref, "dependsOn": os_deps}
        ],
        "vulnerabilities": entries
    }))
}

/// cosign's vuln predicate (`cosign attest --type vuln`, `trivy -f cosign-vuln`) with the
/// scanner Trivy, embedding `result_json` (a Trivy or SARIF document) as the
/// `scanner.result` object; text that is not JSON is embedded as a JSON string, and
/// `None` writes `"result": null`.
pub fn cosign_vuln(result_json: Option<&str>, started: &str, finished: &str) -> String {
    let result = match result_json {
        Some(text) => {
            serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_string()))
        }
        None => Value::Null,
    };
    pretty(&json!({
        "invocation": {"parameters": null, "uri": "", "event_id": "", "builder.id": ""},
        "scanner": {
            "uri": format!("pkg:github/aquasecurity/trivy@{TRIVY_VERSION}"),
            "version": TRIVY_VERSION,
            "db": {"uri": "", "version": ""},
            "result": result
        },
        "metadata": {"scanStartedOn": started, "scanFinishedOn": finished}
    }))
}

/// cosign's `custom` predicate (`cosign attest --type custom`): the file's text as the
/// `Data` string, and the attestation time.
pub fn cosign_custom(data: &str, timestamp: &str) -> String {
    pretty(&json!({"Data": data, "Timestamp": timestamp}))
}

/// A handful of vulnerabilities as real images have them: log4shell in a jar (with its
/// GHSA twin in the same jar), glibc's looney tunables, an old apt issue of low severity,
/// an unknown-severity Debian TEMP id, and the same curl CVE in two packages.
pub fn sample_vulns() -> Vec<GenVuln> {
    vec![
        GenVuln::new(
            "CVE-2021-44228",
            "org.apache.logging.log4j:log4j-core",
            "2.14.1",
            "CRITICAL",
            Some(10.0),
        ),
        GenVuln::new(
            "GHSA-7rjr-3q55-vv33",
            "org.apache.logging.log4j:log4j-core",
            "2.14.1",
            "CRITICAL",
            Some(9.0),
        ),
        GenVuln::new(
            "CVE-2023-4911",
            "libc6",
            "2.36-9+deb12u1",
            "HIGH",
            Some(7.8),
        ),
        GenVuln::new("CVE-2011-3374", "apt", "2.6.1", "LOW", Some(3.7)),
        GenVuln::new(
            "TEMP-0841856-B18BAF",
            "bash",
            "5.2.15-2+b2",
            "UNKNOWN",
            None,
        ),
        GenVuln::new(
            "CVE-2023-38545",
            "curl",
            "7.88.1-10+deb12u3",
            "HIGH",
            Some(9.8),
        ),
        GenVuln::new(
            "CVE-2023-38545",
            "libcurl4",
            "7.88.1-10+deb12u3",
            "HIGH",
            Some(9.8),
        ),
    ]
}
