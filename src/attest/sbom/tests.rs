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
        e.to_string()
            .starts_with("the JSON text inside the Data field of the predicate is not valid JSON"),
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
    let e = err(r#"{"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld", "@graph": []}"#);
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
