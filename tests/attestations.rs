//! Attestation gates against a real registry: SBOM and vulnerability-scan attestations
//! written by `sealgate attest` (cosign's `.att` layers and Sigstore bundles) and by an
//! independent DSSE implementation (PAE written here from the DSSE spec, signed with the
//! `sigstore` crate), checked black-box through `sealgate check -o json`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/sbomgen.rs"]
mod sbomgen;
#[path = "common/scangen.rs"]
mod scangen;

use std::path::PathBuf;

use common::*;
use serde_json::{Value, json};

const IN_TOTO: &str = "application/vnd.in-toto+json";
const CYCLONEDX: &str = "https://cyclonedx.org/bom";
const SPDX: &str = "https://spdx.dev/Document";
const VULN: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";

/// A signed image in a fresh registry, a `ci` key pair, a Deployment using the image.
struct Setup {
    reg: TestRegistry,
    dir: tempfile::TempDir,
    key: PathBuf,
    public: String,
    repo: String,
    image: String,
    digest: String,
    manifests: PathBuf,
}

impl Setup {
    async fn new(repo: &str) -> Self {
        let reg = TestRegistry::start();
        let digest = push_image(&oci(), &reg, repo, "v1").await;
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = keypair(dir.path(), "ci");
        let image = reg.reference(repo, "v1");
        let r = run(sealgate()
            .env("COSIGN_PASSWORD", "pw")
            .arg("sign")
            .arg("--key")
            .arg(&key)
            .args(["--insecure-registry", &reg.addr, &image]));
        assert_eq!(r.code, 0, "{r}");
        let manifests = dir.path().join("manifests");
        write_deployment(&manifests, "app.yaml", &[&image]);
        Self {
            reg,
            dir,
            key,
            public,
            repo: repo.to_string(),
            image,
            digest,
            manifests,
        }
    }

    /// A policy whose one rule checks signatures by `ci` (and `extra` attestors) and the
    /// given `attestations:` entries (YAML, indented for the rule).
    fn policy(&self, attestations: &str, extra: &[(&str, &str)]) -> PathBuf {
        let mut attestors = vec![("ci", self.public.as_str())];
        attestors.extend_from_slice(extra);
        let p = write_policy(self.dir.path(), "**", &attestors, Some(1), "");
        let mut y = std::fs::read_to_string(&p).unwrap();
        y.push_str("      attestations:\n");
        for line in attestations.lines() {
            y.push_str(&format!("        {line}\n"));
        }
        std::fs::write(&p, y).unwrap();
        p
    }

    /// `sealgate attest --type kind` with `predicate`, signed by `key` (default `ci`).
    fn attest(&self, kind: &str, predicate: &[u8], key: Option<&PathBuf>, extra: &[&str]) -> Run {
        let file = self
            .dir
            .path()
            .join(format!("predicate-{}.json", hex::encode(rand_bytes::<6>())));
        std::fs::write(&file, predicate).unwrap();
        run(sealgate()
            .env("COSIGN_PASSWORD", "pw")
            .arg("attest")
            .arg("--key")
            .arg(key.unwrap_or(&self.key))
            .arg("--predicate")
            .arg(&file)
            .args(["--type", kind, "--insecure-registry", &self.reg.addr])
            .args(extra)
            .arg(&self.image))
    }

    fn attest_ok(&self, kind: &str, predicate: &[u8]) {
        let r = self.attest(kind, predicate, None, &[]);
        assert_eq!(r.code, 0, "{r}");
    }

    fn check(&self, policy: &PathBuf, extra: &[&str]) -> Run {
        run(sealgate()
            .arg("check")
            .arg(&self.manifests)
            .arg("--policy")
            .arg(policy)
            .args(["-o", "json", "--insecure-registry", &self.reg.addr])
            .args(extra))
    }
}

/// The image entry of a JSON report.
fn image(r: &Run) -> Value {
    r.json()["images"][0].clone()
}

fn codes(r: &Run) -> Vec<String> {
    image(r)["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_string())
        .collect()
}

fn messages(r: &Run) -> String {
    image(r)["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"].as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn planted(name: &str, version: &str, purl: &str, license: &str) -> sbomgen::GenPackage {
    sbomgen::GenPackage {
        name: name.into(),
        version: version.into(),
        purl: purl.into(),
        license: license.into(),
    }
}

fn vuln(id: &str, package: &str, version: &str, severity: &str, cvss: f64) -> scangen::GenVuln {
    scangen::GenVuln {
        id: id.into(),
        package: package.into(),
        version: version.into(),
        severity: severity.into(),
        cvss: Some(cvss),
    }
}

// ---------------------------------------------------------------------------------------
// Independent DSSE (from the spec; shares no code with src/)

fn statement(subject_name: &str, digest: &str, predicate_type: &str, predicate: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{"name": subject_name, "digest": {"sha256": digest.trim_start_matches("sha256:")}}],
        "predicate": predicate,
    }))
    .unwrap()
}

fn dsse(signer: &Signer, body: &[u8]) -> Vec<u8> {
    let mut pae = format!("DSSEv1 {} {IN_TOTO} {} ", IN_TOTO.len(), body.len()).into_bytes();
    pae.extend_from_slice(body);
    serde_json::to_vec(&json!({
        "payloadType": IN_TOTO,
        "payload": b64(body),
        "signatures": [{"keyid": "", "sig": signer.sign_b64(&pae)}],
    }))
    .unwrap()
}

/// Writes a cosign `.att` manifest for `digest` with these envelopes (replacing any).
async fn push_att(reg: &TestRegistry, repo: &str, digest: &str, envelopes: &[(&[u8], &str)]) {
    let annotated: Vec<(&[u8], Option<&str>)> =
        envelopes.iter().map(|(e, t)| (*e, Some(*t))).collect();
    push_att_annotated(reg, repo, digest, &annotated).await;
}

/// [`push_att`] with each layer's `predicateType` annotation given or left out.
async fn push_att_annotated(
    reg: &TestRegistry,
    repo: &str,
    digest: &str,
    envelopes: &[(&[u8], Option<&str>)],
) {
    let client = oci();
    let config = br#"{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#;
    let cd = push_blob(&client, reg, repo, config).await;
    let mut layers = Vec::new();
    for (env, predicate_type) in envelopes {
        let d = push_blob(&client, reg, repo, env).await;
        let mut annotations = json!({"dev.cosignproject.cosign/signature": ""});
        if let Some(t) = predicate_type {
            annotations["predicateType"] = json!(t);
        }
        layers.push(json!({
            "mediaType": "application/vnd.dsse.envelope.v1+json",
            "size": env.len(), "digest": d, "annotations": annotations,
        }));
    }
    let manifest = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": cd},
        "layers": layers,
    });
    push_manifest(
        &client,
        reg,
        repo,
        &format!("{}.att", digest.replace(':', "-")),
        &serde_json::to_vec(&manifest).unwrap(),
    )
    .await;
}

// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn sbom_rules_pass_then_block_on_a_denied_package_and_licence() {
    let s = Setup::new("sbom/app").await;
    let policy = s.policy(
        "- predicateType: cyclonedx\n  attestors: [ci]\n  sbom:\n    deniedPackages: ['pkg:npm/event-stream@3.3.6', 'log4j-core@<2.17.1']\n    deniedLicenses: [AGPL-3.0-only]\n",
        &[],
    );
    // no attestation yet
    let r = s.check(&policy, &[]);
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(codes(&r), ["AttestationMissing"], "{r}");

    // a clean SBOM of 3000 components (Syft-like), with a safe log4j-core
    let clean = sbomgen::cyclonedx_json(
        3000,
        1,
        &[planted(
            "log4j-core",
            "2.17.1",
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.17.1",
            "Apache-2.0",
        )],
        "2026-01-01T00:00:00Z",
    );
    s.attest_ok("cyclonedx", clean.as_bytes());
    let r = s.check(&policy, &[]);
    assert_eq!(r.code, 0, "{r}");
    let atts = image(&r)["attestations"].clone();
    assert_eq!(atts.as_array().unwrap().len(), 1, "{r}");
    assert_eq!(atts[0]["predicateType"], CYCLONEDX);
    assert_eq!(atts[0]["attestor"], "ci");
    assert_eq!(atts[0]["verified"], true);
    assert_eq!(atts[0]["used"], true);
    assert_eq!(atts[0]["source"], "legacy-tag");

    // a newer SBOM with a vulnerable log4j-core: the newest decides
    let bad = sbomgen::cyclonedx_json(
        3000,
        2,
        &[planted(
            "log4j-core",
            "2.14.1",
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
            "Apache-2.0",
        )],
        "2026-02-01T00:00:00Z",
    );
    s.attest_ok("cyclonedx", bad.as_bytes());
    let r = s.check(&policy, &[]);
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(codes(&r), ["SbomDeniedPackage"], "{r}");
    let m = messages(&r);
    assert!(m.contains("log4j-core") && m.contains("2.14.1"), "{m}");
    assert!(m.contains("log4j-core@<2.17.1"), "{m}");
    assert!(m.contains("components["), "{m}");
    let atts = image(&r)["attestations"].as_array().unwrap().clone();
    assert_eq!(atts.len(), 2);
    assert_eq!(
        atts.iter().filter(|a| a["used"] == true).count(),
        1,
        "{atts:?}"
    );

    // newer still: a clean package set but an AGPL component (in an SPDX-style licence
    // expression where every alternative is denied)
    let agpl = sbomgen::cyclonedx_json(
        3000,
        3,
        &[planted(
            "ghostscript-lib",
            "10.0.0",
            "pkg:npm/ghostscript-lib@10.0.0",
            "AGPL-3.0-only",
        )],
        "2026-03-01T00:00:00Z",
    );
    s.attest_ok("cyclonedx", agpl.as_bytes());
    let r = s.check(&policy, &[]);
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(codes(&r), ["SbomDeniedLicense"], "{r}");
    assert!(messages(&r).contains("ghostscript-lib"), "{r}");
    assert!(messages(&r).contains("AGPL-3.0-only"), "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn spdx_in_every_cosign_shape_and_dual_licences() {
    let s = Setup::new("spdx/app").await;
    let policy = s.policy(
        "- predicateType: spdx\n  sbom:\n    deniedPackages: ['pkg:npm/event-stream@3.3.6']\n    deniedLicenses: [AGPL-3.0-only, GPL-3.0-only]\n",
        &[],
    );
    // `MIT OR AGPL-3.0-only` passes: one alternative is allowed
    let dual = sbomgen::spdx_json(
        2000,
        7,
        &[planted(
            "dual",
            "1.0.0",
            "pkg:npm/dual@1.0.0",
            "MIT OR AGPL-3.0-only",
        )],
        "2026-01-01T00:00:00Z",
    );
    // cosign's `--type spdx` stores the document as a JSON string
    s.attest_ok("spdx", dual.as_bytes());
    let r = s.check(&policy, &[]);
    assert_eq!(r.code, 0, "{r}");

    // `--type spdxjson` (an object): `MIT AND GPL-3.0-only` fails
    let and = sbomgen::spdx_json(
        2000,
        8,
        &[planted(
            "both",
            "2.0.0",
            "pkg:npm/both@2.0.0",
            "MIT AND GPL-3.0-only",
        )],
        "2026-02-01T00:00:00Z",
    );
    s.attest_ok("spdxjson", and.as_bytes());
    let r = s.check(&policy, &[]);
    assert_eq!(codes(&r), ["SbomDeniedLicense"], "{r}");
    assert!(messages(&r).contains("GPL-3.0-only"), "{r}");

    // the older `{"Data": …}` wrapping, written by the independent DSSE implementation,
    // with a purl match on event-stream
    let indep = signer(sigstore::crypto::SigningScheme::ECDSA_P256_SHA256_ASN1);
    let policy = s.policy(
        "- predicateType: spdx\n  attestors: [indep]\n  sbom:\n    deniedPackages: ['pkg:npm/event-stream@3.3.6']\n",
        &[("indep", indep.public_pem.as_str())],
    );
    let evil = sbomgen::spdx_json(
        500,
        9,
        &[planted(
            "event-stream",
            "3.3.6",
            "pkg:npm/event-stream@3.3.6",
            "MIT",
        )],
        "2026-03-01T00:00:00Z",
    );
    let body = statement(
        &s.image,
        &s.digest,
        SPDX,
        json!({"Data": evil, "Timestamp": "2026-03-01T00:00:00Z"}),
    );
    push_att(&s.reg, &s.repo, &s.digest, &[(&dsse(&indep, &body), SPDX)]).await;
    let r = s.check(&policy, &[]);
    assert_eq!(codes(&r), ["SbomDeniedPackage"], "{r}");
    assert!(messages(&r).contains("pkg:npm/event-stream@3.3.6"), "{r}");
    assert_eq!(image(&r)["attestations"][0]["attestor"], "indep", "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn vulnerability_rules_on_cosign_vuln_trivy_and_sarif() {
    let s = Setup::new("vuln/app").await;
    let rule = "  vulnerabilities: {maxSeverity: high, deny: [CVE-2021-44228], ignore: [CVE-2023-0001], maxAge: 168h}\n";
    let policy = s.policy(&format!("- predicateType: vuln\n{rule}"), &[]);
    let now = ["--now", "2026-06-02T00:00:00Z"];

    // a vuln rule with no vuln attestation present
    let r = s.check(&policy, &now);
    assert_eq!(codes(&r), ["AttestationMissing"], "{r}");

    // cosign vuln predicate with a Trivy report: high and an ignored critical pass
    let trivy = scangen::trivy_json(
        &[
            vuln("CVE-2024-0001", "openssl", "3.0.1", "HIGH", 7.5),
            vuln("CVE-2023-0001", "zlib", "1.2.11", "CRITICAL", 9.8),
        ],
        "2026-06-01T00:00:00Z",
    );
    let pred = scangen::cosign_vuln(Some(&trivy), "2026-06-01T00:00:00Z", "2026-06-01T00:00:00Z");
    s.attest_ok("vuln", pred.as_bytes());
    let r = s.check(&policy, &now);
    assert_eq!(r.code, 0, "{r}");

    // the same scan is stale a month later
    let r = s.check(&policy, &["--now", "2026-07-01T00:00:00Z"]);
    assert_eq!(codes(&r), ["ScanTooOld"], "{r}");

    // a newer scan with a critical CVE
    let trivy = scangen::trivy_json(
        &[vuln("CVE-2024-3094", "xz-utils", "5.6.0", "CRITICAL", 10.0)],
        "2026-06-01T12:00:00Z",
    );
    let pred = scangen::cosign_vuln(Some(&trivy), "2026-06-01T12:00:00Z", "2026-06-01T12:00:00Z");
    s.attest_ok("vuln", pred.as_bytes());
    let r = s.check(&policy, &now);
    assert_eq!(codes(&r), ["VulnerabilityTooSevere"], "{r}");
    assert!(messages(&r).contains("CVE-2024-3094"), "{r}");
    assert!(messages(&r).contains("xz-utils"), "{r}");

    // newer still: a denied CVE even at low severity, in SARIF inside the cosign predicate
    let sarif = scangen::trivy_sarif(
        &[vuln("CVE-2021-44228", "log4j-core", "2.14.1", "LOW", 3.0)],
        Some("2026-06-01T18:00:00Z"),
    );
    let pred = scangen::cosign_vuln(Some(&sarif), "2026-06-01T18:00:00Z", "2026-06-01T18:00:00Z");
    s.attest_ok("vuln", pred.as_bytes());
    let r = s.check(&policy, &now);
    assert_eq!(codes(&r), ["VulnerabilityDenied"], "{r}");
    assert!(messages(&r).contains("CVE-2021-44228"), "{r}");

    // a Trivy JSON report and a SARIF log as custom predicate types
    let trivy_type = "https://trivy.dev/report/v1";
    let sarif_type = "https://docs.oasis-open.org/sarif/sarif/2.1.0";
    let policy = s.policy(
        &format!("- predicateType: {trivy_type}\n{rule}- predicateType: {sarif_type}\n{rule}"),
        &[],
    );
    let clean = scangen::trivy_json(
        &[vuln("CVE-2024-0002", "curl", "8.0.0", "MEDIUM", 5.0)],
        "2026-06-01T00:00:00Z",
    );
    s.attest_ok(trivy_type, clean.as_bytes());
    let severe = scangen::trivy_sarif(
        &[vuln("CVE-2024-0003", "glibc", "2.35", "CRITICAL", 9.1)],
        Some("2026-06-01T00:00:00Z"),
    );
    s.attest_ok(sarif_type, severe.as_bytes());
    let r = s.check(&policy, &now);
    assert_eq!(codes(&r), ["VulnerabilityTooSevere"], "{r}");
    assert!(messages(&r).contains("CVE-2024-0003"), "{r}");
    assert!(!messages(&r).contains("CVE-2024-0002"), "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_verified_attestations_about_this_image_count() {
    let s = Setup::new("trust/app").await;
    let indep = signer(sigstore::crypto::SigningScheme::ECDSA_P256_SHA256_ASN1);
    let policy = s.policy(
        "- predicateType: cyclonedx\n  sbom:\n    deniedPackages: [log4j-core]\n",
        &[("indep", indep.public_pem.as_str())],
    );
    let sbom: Value = serde_json::from_str(&sbomgen::cyclonedx_json(
        100,
        4,
        &[],
        "2026-01-01T00:00:00Z",
    ))
    .unwrap();

    // 1. signed by a key the policy does not trust
    let (other_key, _) = keypair(s.dir.path(), "other");
    let r = s.attest(
        "cyclonedx",
        sbom.to_string().as_bytes(),
        Some(&other_key),
        &[],
    );
    assert_eq!(r.code, 0, "{r}");
    let r = s.check(&policy, &[]);
    assert_eq!(codes(&r), ["AttestationMissing"], "{r}");
    assert!(
        messages(&r).contains("1 not signed by an allowed attestor"),
        "{r}"
    );
    assert_eq!(image(&r)["attestations"][0]["verified"], false, "{r}");

    // 2. a valid attestation of another image copied over
    let other_digest = push_image(&oci(), &s.reg, &s.repo, "other").await;
    let body = statement(&s.image, &other_digest, CYCLONEDX, sbom.clone());
    let copied = dsse(&indep, &body);
    push_att(&s.reg, &s.repo, &s.digest, &[(&copied, CYCLONEDX)]).await;
    let r = s.check(&policy, &[]);
    assert_eq!(codes(&r), ["AttestationSubjectMismatch"], "{r}");
    assert!(messages(&r).contains(&other_digest[7..]), "{r}");

    // 3. tampered: the payload changed after signing → not counted
    let body = statement(&s.image, &s.digest, CYCLONEDX, sbom.clone());
    let good = dsse(&indep, &body);
    let mut env: Value = serde_json::from_slice(&good).unwrap();
    let mut tampered_sbom = sbom.clone();
    tampered_sbom["components"] = json!([]);
    env["payload"] = json!(b64(&statement(
        &s.image,
        &s.digest,
        CYCLONEDX,
        tampered_sbom
    )));
    let tampered = serde_json::to_vec(&env).unwrap();
    push_att(&s.reg, &s.repo, &s.digest, &[(&tampered, CYCLONEDX)]).await;
    let r = s.check(&policy, &[]);
    assert_eq!(codes(&r), ["AttestationMissing"], "{r}");

    // ...while the untampered envelope passes, also next to the tampered one
    push_att(
        &s.reg,
        &s.repo,
        &s.digest,
        &[(&tampered, CYCLONEDX), (&good, CYCLONEDX)],
    )
    .await;
    let r = s.check(&policy, &[]);
    assert_eq!(r.code, 0, "{r}");
    let atts = image(&r)["attestations"].as_array().unwrap().clone();
    assert_eq!(atts.len(), 2, "{r}");
    assert_eq!(atts[0]["verified"], false);
    assert_eq!(atts[1]["verified"], true);
    assert_eq!(atts[1]["attestor"], "indep");

    // 4. a real cosign envelope (cosign's policy testdata; its key is not ours)
    let real = std::fs::read(fixtures().join("cosign/testdata/valid/vuln")).unwrap();
    push_att(&s.reg, &s.repo, &s.digest, &[(&real, VULN)]).await;
    let r = s.check(&policy, &[]);
    assert_eq!(codes(&r), ["AttestationMissing"], "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn layers_annotated_with_a_type_no_rule_wants_are_not_fetched() {
    let s = Setup::new("filter/app").await;
    let indep = signer(sigstore::crypto::SigningScheme::ECDSA_P256_SHA256_ASN1);
    let extra = [("indep", indep.public_pem.as_str())];
    let sbom_rule = "- predicateType: cyclonedx\n  attestors: [indep]\n  sbom:\n    deniedPackages: [log4j-core]\n";
    let sbom_only = s.policy(sbom_rule, &extra);
    let sbom = |serial: u64, time: &str| -> Value {
        serde_json::from_str(&sbomgen::cyclonedx_json(100, serial, &[], time)).unwrap()
    };
    let trivy = scangen::trivy_json(&[], "2026-01-01T00:00:00Z");
    let scan: Value = serde_json::from_str(&scangen::cosign_vuln(
        Some(&trivy),
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00Z",
    ))
    .unwrap();
    let env = |t: &str, p: Value| dsse(&indep, &statement(&s.image, &s.digest, t, p));
    let wanted = env(CYCLONEDX, sbom(1, "2026-01-01T00:00:00Z"));
    let unwanted = env(VULN, scan);
    // an SBOM whose layer claims another type, and one whose layer says nothing
    let mislabelled = env(CYCLONEDX, sbom(2, "2026-03-01T00:00:00Z"));
    let unannotated = env(CYCLONEDX, sbom(3, "2026-02-01T00:00:00Z"));
    push_att_annotated(
        &s.reg,
        &s.repo,
        &s.digest,
        &[
            (&wanted, Some(CYCLONEDX)),
            (&unwanted, Some(VULN)),
            (&mislabelled, Some(VULN)),
            (&unannotated, None),
        ],
    )
    .await;
    let blob = |e: &[u8]| format!("/blobs/{}", sha256(e));
    let fetched = |e: &[u8]| s.reg.count(&[&blob(e)]);

    let r = s.check(&sbom_only, &[]);
    assert_eq!(r.code, 0, "{r}");
    assert!(fetched(&wanted) >= 1 && fetched(&unannotated) >= 1, "{r}");
    assert_eq!(
        fetched(&unwanted),
        0,
        "a vuln layer is not fetched for SBOM rules"
    );
    assert_eq!(fetched(&mislabelled), 0);
    // what was fetched is judged by its signed statement: the unannotated SBOM (newer than
    // the annotated one) decides
    let atts = image(&r)["attestations"].as_array().unwrap().clone();
    assert_eq!(atts.len(), 2, "{atts:?}");
    assert!(
        atts.iter().all(|a| a["predicateType"] == CYCLONEDX),
        "{atts:?}"
    );
    assert_eq!(atts[1]["used"], true, "{atts:?}");

    // a policy that also wants vulnerability scans fetches those layers, and the
    // mislabelled SBOM (newest of all) is then read for what it is
    let both = s.policy(
        &format!("{sbom_rule}- predicateType: vuln\n  attestors: [indep]\n  vulnerabilities:\n    maxSeverity: high\n"),
        &extra,
    );
    let r = s.check(&both, &[]);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(fetched(&unwanted), 1);
    assert_eq!(fetched(&mislabelled), 1);
    let atts = image(&r)["attestations"].as_array().unwrap().clone();
    assert_eq!(atts.len(), 4, "{atts:?}");
    let used: Vec<&Value> = atts.iter().filter(|a| a["used"] == true).collect();
    assert_eq!(used.len(), 2, "one per rule: {atts:?}");

    // the evidence cache (shared by the webhook and every gate) serves a lookup only to runs
    // that want no type it skipped
    use sealgate::attest::PredicateMatcher;
    use sealgate::base::evidence::AttestationEvidence;
    use sealgate::decision::Wanted;
    use sealgate::edge::registry::credentials::DockerConfig;
    use sealgate::edge::registry::http::{HttpOptions, HttpRegistry};
    use sealgate::edge::verify::{Cache, GatherOptions, gather_cached};
    let registry = HttpRegistry::new(
        HttpOptions {
            insecure: vec![s.reg.addr.clone()],
            ..HttpOptions::default()
        },
        DockerConfig::default(),
    )
    .unwrap();
    let cache = Cache::new(
        std::time::Duration::from_secs(300),
        std::time::Duration::from_secs(30),
    );
    let pinned = sealgate::base::reference::ImageRef::parse(&format!(
        "{}/{}@{}",
        s.reg.addr, s.repo, s.digest
    ))
    .unwrap();
    let ask = |types: &[&str]| Wanted {
        image: pinned.clone(),
        signatures: false,
        attestations: true,
        attestation_types: types
            .iter()
            .map(|t| PredicateMatcher::parse(t).unwrap())
            .collect(),
    };
    let found = |wanted: &[&str]| {
        let (registry, cache, w) = (&registry, &cache, ask(wanted));
        async move {
            let ev = gather_cached(registry, &[w], &GatherOptions::default(), Some(cache)).await;
            match ev.into_values().next().unwrap().attestations.unwrap() {
                AttestationEvidence::Found(v) => v.len(),
                AttestationEvidence::Unverifiable(r) => panic!("{r:?}"),
            }
        }
    };
    let att_manifest = || s.reg.count(&[".att"]);
    let start = att_manifest();
    assert_eq!(found(&["cyclonedx"]).await, 2);
    assert_eq!(att_manifest(), start + 1);
    assert_eq!(found(&["cyclonedx"]).await, 2, "served from the cache");
    assert_eq!(att_manifest(), start + 1);
    assert_eq!(
        found(&["cyclonedx", "vuln"]).await,
        4,
        "vuln was skipped: looked up again"
    );
    assert_eq!(att_manifest(), start + 2);
    assert_eq!(
        found(&["vuln"]).await,
        4,
        "a subset of what was fetched: cached"
    );
    assert_eq!(att_manifest(), start + 2);
    assert_eq!(cache.stats(), (2, 2));
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_and_oversized_attestations_are_unverifiable() {
    let s = Setup::new("bad/app").await;
    let indep = signer(sigstore::crypto::SigningScheme::ECDSA_P256_SHA256_ASN1);
    let policy = s.policy(
        "- predicateType: cyclonedx\n  sbom:\n    deniedPackages: [log4j-core]\n",
        &[("indep", indep.public_pem.as_str())],
    );
    // components is not a list: a clear reason, no panic
    let body = statement(
        &s.image,
        &s.digest,
        CYCLONEDX,
        json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": "oops"}),
    );
    push_att(
        &s.reg,
        &s.repo,
        &s.digest,
        &[(&dsse(&indep, &body), CYCLONEDX)],
    )
    .await;
    let r = s.check(&policy, &[]);
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(image(&r)["verdict"], "unverifiable", "{r}");
    assert_eq!(codes(&r), ["MalformedAttestation"], "{r}");
    assert!(messages(&r).contains("components"), "{r}");

    // not an SBOM at all
    let body = statement(&s.image, &s.digest, CYCLONEDX, json!({"hello": "world"}));
    push_att(
        &s.reg,
        &s.repo,
        &s.digest,
        &[(&dsse(&indep, &body), CYCLONEDX)],
    )
    .await;
    let r = s.check(&policy, &[]);
    assert_eq!(codes(&r), ["MalformedAttestation"], "{r}");

    // an envelope that is not JSON is reported, not fatal
    push_att(&s.reg, &s.repo, &s.digest, &[(b"{not json", CYCLONEDX)]).await;
    let r = s.check(&policy, &[]);
    assert_eq!(codes(&r), ["AttestationMissing"], "{r}");
    assert!(messages(&r).contains("1 unreadable"), "{r}");

    // bigger than --max-sbom-size
    let big = sbomgen::cyclonedx_json(2000, 5, &[], "2026-01-01T00:00:00Z");
    let body = statement(
        &s.image,
        &s.digest,
        CYCLONEDX,
        serde_json::from_str(&big).unwrap(),
    );
    push_att(
        &s.reg,
        &s.repo,
        &s.digest,
        &[(&dsse(&indep, &body), CYCLONEDX)],
    )
    .await;
    let r = s.check(&policy, &[]);
    assert_eq!(r.code, 0, "{r}");
    let r = s.check(&policy, &["--max-sbom-size", "64KiB"]);
    assert_eq!(codes(&r), ["ResponseTooLarge"], "{r}");
    assert!(messages(&r).contains("--max-sbom-size"), "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bundles_through_the_fallback_tag_and_the_referrers_api() {
    let s = Setup::new("bundle/app").await;
    let policy = s.policy(
        "- predicateType: cyclonedx\n  sbom:\n    deniedPackages: [log4j-core]\n",
        &[],
    );
    let sbom = sbomgen::cyclonedx_json(200, 6, &[], "2026-01-01T00:00:00Z");
    let r = s.attest("cyclonedx", sbom.as_bytes(), None, &["--bundle"]);
    assert_eq!(r.code, 0, "{r}");
    // docker-registry has no referrers API: found through the fallback tag
    let r = s.check(&policy, &[]);
    assert_eq!(r.code, 0, "{r}");
    let atts = image(&r)["attestations"].as_array().unwrap().clone();
    assert_eq!(atts.len(), 1, "{r}");
    assert_eq!(atts[0]["source"], "fallback-tag");
    assert_eq!(atts[0]["verified"], true);

    // the same registry behind an OCI 1.1 front that serves the referrers API, in two
    // pages (Link header): found through the API, de-duplicated against the fallback tag
    let index: Value = serde_json::from_slice(&s.reg.get(
        &format!("/v2/{}/manifests/{}", s.repo, s.digest.replace(':', "-")),
        "application/vnd.oci.image.index.v1+json",
    ))
    .unwrap();
    let proxy = common::proxy::Proxy::start(&s.reg.addr);
    let page = |manifests: Value| {
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        }))
        .unwrap()
    };
    proxy.rule(
        common::proxy::Rule::new("page=2", usize::MAX, 200)
            .header("Content-Type", "application/vnd.oci.image.index.v1+json")
            .body(page(index["manifests"].clone())),
    );
    proxy.rule(
        common::proxy::Rule::new("/referrers/", usize::MAX, 200)
            .header("Content-Type", "application/vnd.oci.image.index.v1+json")
            .header(
                "Link",
                &format!(
                    "</v2/{}/referrers/{}?page=2>; rel=\"next\"",
                    s.repo, s.digest
                ),
            )
            .body(page(json!([]))),
    );
    let manifests = s.dir.path().join("via-proxy");
    write_deployment(
        &manifests,
        "app.yaml",
        &[&format!("{}/{}:v1", proxy.addr, s.repo)],
    );
    let r = run(sealgate()
        .arg("check")
        .arg(&manifests)
        .arg("--policy")
        .arg(&policy)
        .args(["-o", "json", "--insecure-registry", &proxy.addr]));
    assert_eq!(r.code, 0, "{r}");
    let atts = image(&r)["attestations"].as_array().unwrap().clone();
    assert_eq!(atts.len(), 1, "{r}");
    assert_eq!(atts[0]["source"], "referrers", "{r}");
    assert!(
        proxy.log().iter().any(|l| l.contains("page=2")),
        "{:?}",
        proxy.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_cosign_vuln_predicate_signed_with_a_real_cosign_key() {
    let s = Setup::new("real/app").await;
    // the predicate cosign wrote (pkg/policy/testdata/valid/vuln): no result, Go's zero time
    let env: Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("cosign/testdata/valid/vuln")).unwrap(),
    )
    .unwrap();
    use base64::Engine as _;
    let statement: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(env["payload"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let predicate = s.dir.path().join("vuln.json");
    std::fs::write(&predicate, statement["predicate"].to_string()).unwrap();
    // signed with policy-controller's cosign-generated key (empty password)
    let keys = fixtures().join("policy-controller/keys");
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "")
        .arg("attest")
        .arg("--key")
        .arg(keys.join("cosign.key"))
        .arg("--predicate")
        .arg(&predicate)
        .args([
            "--type",
            "vuln",
            "--insecure-registry",
            &s.reg.addr,
            &s.image,
        ]));
    assert_eq!(r.code, 0, "{r}");
    let pc = std::fs::read_to_string(keys.join("cosign.pub")).unwrap();
    let policy = s.policy(
        "- predicateType: vuln\n  attestors: [pc]\n  vulnerabilities: {maxSeverity: low}\n",
        &[("pc", pc.as_str())],
    );
    let r = s.check(&policy, &[]);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(image(&r)["attestations"][0]["attestor"], "pc", "{r}");
    let policy = s.policy(
        "- predicateType: vuln\n  attestors: [pc]\n  vulnerabilities: {maxSeverity: low, maxAge: 720h}\n",
        &[("pc", pc.as_str())],
    );
    let r = s.check(&policy, &[]);
    assert_eq!(codes(&r), ["ScanTooOld"], "{r}");
    assert!(messages(&r).contains("0001-01-01T00:00:00Z"), "{r}");
}

#[test]
fn attestations_in_an_oci_layout_offline() {
    let dir = tempfile::tempdir().unwrap();
    let layout = demo_layout_copy(&dir.path().join("layout"));
    let (key, public) = keypair(dir.path(), "k");
    let demo_key = std::fs::read_to_string(demo().join("cosign.pub")).unwrap();
    let demo_image = "ghcr.io/sealgate-demo/web:1.4.2";
    let attest = |predicate: &str, bundle: bool| {
        let file = dir.path().join("pred.json");
        std::fs::write(&file, predicate).unwrap();
        let r = run(sealgate()
            .env("COSIGN_PASSWORD", "pw")
            .arg("attest")
            .arg("--key")
            .arg(&key)
            .arg("--predicate")
            .arg(&file)
            .args(["--type", "cyclonedx", "--oci-layout"])
            .arg(&layout)
            .args(if bundle { &["--bundle"][..] } else { &[][..] })
            .arg(demo_image));
        assert_eq!(r.code, 0, "{r}");
    };
    let policy = write_policy(
        dir.path(),
        "ghcr.io/sealgate-demo/**",
        &[("demo", &demo_key), ("k", &public)],
        Some(1),
        "",
    );
    let mut y = std::fs::read_to_string(&policy).unwrap();
    y.push_str("      attestations:\n        - predicateType: cyclonedx\n          attestors: [k]\n          sbom: {deniedPackages: [log4j-core]}\n");
    std::fs::write(&policy, y).unwrap();
    let manifests = write_deployment(&dir.path().join("m"), "web.yaml", &[demo_image]);
    let check = || {
        run(sealgate()
            .arg("check")
            .arg(&manifests)
            .arg("--policy")
            .arg(&policy)
            .args(["-o", "json", "--offline", "--oci-layout"])
            .arg(&layout))
    };
    let r = check();
    assert_eq!(codes(&r), ["AttestationMissing"], "{r}");
    // a bundle in the layout (fallback index + referrer manifest with a subject)
    attest(
        &sbomgen::cyclonedx_json(50, 11, &[], "2026-01-01T00:00:00Z"),
        true,
    );
    let r = check();
    assert_eq!(r.code, 0, "{r}");
    let atts = image(&r)["attestations"].as_array().unwrap().clone();
    assert_eq!(atts.len(), 1, "{r}");
    assert_eq!(atts[0]["source"], "oci-layout");
    // then a newer `.att` layer with log4j-core
    attest(
        &sbomgen::cyclonedx_json(
            50,
            12,
            &[planted(
                "log4j-core",
                "2.0.0",
                "pkg:maven/org.apache.logging.log4j/log4j-core@2.0.0",
                "Apache-2.0",
            )],
            "2026-02-01T00:00:00Z",
        ),
        false,
    );
    let r = check();
    assert_eq!(codes(&r), ["SbomDeniedPackage"], "{r}");
    assert_eq!(
        image(&r)["attestations"].as_array().unwrap().len(),
        2,
        "{r}"
    );
}
