//! `sealgate import kyverno|policy-controller`: policies written in the documented shapes of
//! Kyverno and policy-controller (`tests/fixtures/import/`), imported, then run through
//! `sealgate check` on a real `docker-registry` holding real cosign signatures (connaisseur's
//! key-signed and keyless test image) — each image gets the verdict the source policy gives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/scangen.rs"]
mod scangen;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;

const REPO: &str = "securesystemsengineering/testimage";
const SUBJECT: &str = "philipp.belitz@securesystems.de";

/// A fixture with `${NAME}` filled in; a line that is only `${KEY}` becomes the PEM, indented
/// two more than the line before it.
fn fill(name: &str, vars: &[(&str, &str)]) -> String {
    let text = std::fs::read_to_string(fixtures().join("import").join(name)).unwrap();
    let mut out = String::new();
    let mut prev_indent = 0;
    for line in text.lines() {
        let t = line.trim();
        if let Some((_, v)) = vars.iter().find(|(k, _)| t == format!("${{{k}}}")) {
            for l in v.trim_end().lines() {
                out.push_str(&" ".repeat(prev_indent + 2));
                out.push_str(l);
                out.push('\n');
            }
            continue;
        }
        let mut l = line.to_string();
        for (k, v) in vars {
            l = l.replace(&format!("${{{k}}}"), v);
        }
        prev_indent = l.len() - l.trim_start().len();
        out.push_str(&l);
        out.push('\n');
    }
    out
}

fn key(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(format!("connaisseur/cosign/{name}.key"))).unwrap()
}

struct Setup {
    reg: TestRegistry,
    dir: tempfile::TempDir,
    manifests: PathBuf,
    images: BTreeMap<&'static str, String>,
}

async fn setup() -> Setup {
    let reg = TestRegistry::start_with(|storage| load_dump(storage, REPO, &connaisseur_dump()));
    push_image(&oci(), &reg, "acme/app", "v1").await;
    push_image(&oci(), &reg, "outside/tool", "v1").await;
    let dir = tempfile::tempdir().unwrap();
    let mut images = BTreeMap::new();
    for (label, repo, tag) in [
        ("alice", REPO, "multi-cosigned-alice"),
        (
            "alice-bob-charlie",
            REPO,
            "multi-cosigned-alice-bob-charlie",
        ),
        ("keyless", REPO, "keyless"),
        ("acme-app", "acme/app", "v1"),
        ("outside", "outside/tool", "v1"),
    ] {
        images.insert(label, reg.reference(repo, tag));
    }
    let manifests = dir.path().join("manifests");
    let all: Vec<&str> = images.values().map(String::as_str).collect();
    write_deployment(&manifests, "app.yaml", &all);
    Setup {
        reg,
        dir,
        manifests,
        images,
    }
}

impl Setup {
    fn source(&self, fixture: &str) -> PathBuf {
        let text = fill(
            fixture,
            &[
                ("REGISTRY", &self.reg.addr),
                ("SUBJECT", SUBJECT),
                ("ALICE", &key("alice")),
                ("BOB", &key("bob")),
                ("CHARLIE", &key("charlie")),
            ],
        );
        let p = self.dir.path().join(fixture);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn import(&self, from: &str, files: &[&Path], extra: &[&str]) -> Run {
        run(sealgate().arg("import").arg(from).args(files).args(extra))
    }

    /// Imports, writes the result, checks every image: label → (verdict, reason codes).
    fn round_trip(
        &self,
        from: &str,
        fixture: &str,
        extra: &[&str],
    ) -> BTreeMap<String, (String, Vec<String>)> {
        let src = self.source(fixture);
        let r = self.import(from, &[&src], extra);
        assert_eq!(r.code, 0, "{r}");
        let policy = self.dir.path().join(format!("{fixture}.sealgate.yaml"));
        std::fs::write(&policy, &r.stdout).unwrap();
        let c = run(sealgate()
            .arg("check")
            .arg(&self.manifests)
            .arg("--policy")
            .arg(&policy)
            .args(["-o", "json", "--insecure-registry", &self.reg.addr]));
        assert!(c.code == 0 || c.code == 1, "{c}");
        let report = c.json();
        let mut out = BTreeMap::new();
        for img in report["images"].as_array().unwrap() {
            let reference = img["image"].as_str().unwrap();
            let label = self
                .images
                .iter()
                .find(|(_, r)| r.as_str() == reference)
                .map(|(l, _)| l.to_string())
                .unwrap_or_else(|| panic!("unknown image {reference} in {c}"));
            let codes = img["reasons"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| x["code"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default();
            out.insert(label, (img["verdict"].as_str().unwrap().to_string(), codes));
        }
        assert_eq!(out.len(), 5, "{c}");
        out
    }
}

fn verdicts(m: &BTreeMap<String, (String, Vec<String>)>) -> Vec<(&str, &str)> {
    m.iter()
        .map(|(k, (v, _))| (k.as_str(), v.as_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn kyverno_key_set_with_count_round_trips_through_check() {
    let s = setup().await;
    let got = s.round_trip("kyverno", "kyverno-keys.yaml", &[]);
    // Kyverno: two of alice/bob/charlie must have signed what the rule matches; acme/app
    // is matched and unsigned; outside/tool is matched by no rule, so Kyverno admits it.
    assert_eq!(
        verdicts(&got),
        [
            ("acme-app", "fail"),
            ("alice", "fail"),
            ("alice-bob-charlie", "pass"),
            ("keyless", "fail"),
            ("outside", "allowed"),
        ],
        "{got:?}"
    );
    assert_eq!(got["alice"].1, ["ThresholdNotMet"], "{got:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn kyverno_keyless_identity_round_trips_through_check() {
    let s = setup().await;
    let got = s.round_trip("kyverno", "kyverno-keyless.yaml", &[]);
    assert_eq!(
        verdicts(&got),
        [
            ("acme-app", "allowed"),
            ("alice", "fail"),
            ("alice-bob-charlie", "fail"),
            ("keyless", "pass"),
            ("outside", "allowed"),
        ],
        "{got:?}"
    );
    // another subject in the source: the same image is refused for its identity
    std::fs::write(
        s.dir.path().join("other.yaml"),
        std::fs::read_to_string(s.source("kyverno-keyless.yaml"))
            .unwrap()
            .replace(SUBJECT, "someone.else@securesystems.de"),
    )
    .unwrap();
    let r = s.import("kyverno", &[&s.dir.path().join("other.yaml")], &[]);
    assert_eq!(r.code, 0, "{r}");
    let policy = s.dir.path().join("other.sealgate.yaml");
    std::fs::write(&policy, &r.stdout).unwrap();
    let dir = s.dir.path().join("one");
    write_deployment(&dir, "a.yaml", &[&s.images["keyless"]]);
    let c = run(sealgate()
        .arg("check")
        .arg(&dir)
        .arg("--policy")
        .arg(&policy)
        .args(["-o", "json", "--insecure-registry", &s.reg.addr]));
    assert_eq!(c.code, 1, "{c}");
    assert_eq!(
        c.json()["images"][0]["reasons"][0]["code"],
        "IdentityMismatch",
        "{c}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kyverno_image_validating_policy_round_trips_through_check() {
    let s = setup().await;
    let got = s.round_trip("kyverno", "kyverno-image-validating-policy.yaml", &[]);
    // one signature of alice or of the keyless identity, on every matched image
    assert_eq!(
        verdicts(&got),
        [
            ("acme-app", "fail"),
            ("alice", "pass"),
            ("alice-bob-charlie", "pass"),
            ("keyless", "pass"),
            ("outside", "allowed"),
        ],
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_controller_authorities_round_trip_through_check() {
    let s = setup().await;
    let got = s.round_trip("policy-controller", "policy-controller.yaml", &[]);
    // any one authority: the keyless identity; acme/app by the static pass; outside/tool is
    // matched by no policy: denied (policy-controller's no-match-policy default)
    assert_eq!(
        verdicts(&got),
        [
            ("acme-app", "pass"),
            ("alice", "fail"),
            ("alice-bob-charlie", "fail"),
            ("keyless", "pass"),
            ("outside", "fail"),
        ],
        "{got:?}"
    );
    assert_eq!(got["outside"].1, ["NoPolicyMatch"], "{got:?}");
    assert_eq!(got["alice"].1, ["NoMatchingSignature"], "{got:?}");
    // --unmatched allow: the cluster's no-match-policy is allow
    let got = s.round_trip(
        "policy-controller",
        "policy-controller.yaml",
        &["--unmatched", "allow"],
    );
    assert_eq!(got["outside"].0, "allowed", "{got:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn what_does_not_translate_is_reported_and_nothing_written_without_allow_partial() {
    let s = setup().await;
    let src = s.source("policy-controller-key.yaml");
    let r = s.import("policy-controller", &[&src], &[]);
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stdout.is_empty(), "nothing written: {r}");
    assert!(
        r.stderr.contains(
            "ClusterImagePolicy/key-testimage: spec.authorities[0].key: dropped: with ctlog, policy-controller requires a Rekor entry"
        ),
        "{r}"
    );
    assert!(r.stderr.contains("1 dropped"), "{r}");
    // --allow-partial writes it, reported the same; the key attestor then admits alice's
    // signatures without a log entry (the reported difference)
    let out = s.dir.path().join("out");
    let r = s.import(
        "policy-controller",
        &[&src],
        &["--allow-partial", "--out-dir", out.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stderr.contains("spec.authorities[0].key: dropped"), "{r}");
    let file = out.join("key-testimage.yaml");
    assert_eq!(r.stdout.trim(), file.display().to_string());
    let dir = s.dir.path().join("one");
    write_deployment(&dir, "a.yaml", &[&s.images["alice"]]);
    let c = run(sealgate()
        .arg("check")
        .arg(&dir)
        .arg("--policy")
        .arg(&file)
        .args(["-o", "json", "--insecure-registry", &s.reg.addr]));
    assert_eq!(c.code, 0, "{c}");
    // --out-dir never overwrites
    let r = s.import(
        "policy-controller",
        &[&src],
        &["--allow-partial", "--out-dir", out.to_str().unwrap()],
    );
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("never overwritten"), "{r}");
    // usage errors: exit 2
    let r = s.import("kyverno", &[&s.manifests.join("app.yaml")], &[]);
    assert_eq!(r.code, 2, "a Deployment is no Kyverno policy: {r}");
    let r = s.import("kyverno", &[&s.dir.path().join("missing.yaml")], &[]);
    assert_eq!(r.code, 2, "{r}");
}

/// A policy-controller `TrustRoot` (`sigstoreKeys`, PEM in base64 as Kubernetes writes
/// `[]byte`) carrying the public-good Sigstore material of sealgate's built-in root, minus
/// whatever `skip` names.
fn trust_root_of_public_good(name: &str, skip: &[&str]) -> String {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let pem = |label: &str, der: &str| {
        let der = base64::engine::general_purpose::STANDARD
            .decode(der)
            .unwrap();
        let body = b64(&der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    };
    let root: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sigstore/roots/production.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let cas = |key: &str| -> serde_json::Value {
        root[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let chain: String = c["certChain"]["certificates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| pem("CERTIFICATE", x["rawBytes"].as_str().unwrap()))
                    .collect();
                serde_json::json!({
                    "subject": c["subject"],
                    "uri": c["uri"],
                    "certChain": b64(chain.as_bytes()),
                })
            })
            .collect()
    };
    let logs = |key: &str| -> serde_json::Value {
        root[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                serde_json::json!({
                    "baseURL": l["baseUrl"],
                    "hashAlgorithm": "sha-256",
                    "publicKey": b64(pem("PUBLIC KEY", l["publicKey"]["rawBytes"].as_str().unwrap()).as_bytes()),
                })
            })
            .collect()
    };
    let mut keys = serde_json::json!({
        "certificateAuthorities": cas("certificateAuthorities"),
        "tLogs": logs("tlogs"),
        "ctLogs": logs("ctlogs"),
        "timestampAuthorities": cas("timestampAuthorities"),
    });
    for k in skip {
        keys.as_object_mut().unwrap().remove(*k);
    }
    serde_json::to_string(&serde_json::json!({
        "apiVersion": "policy.sigstore.dev/v1alpha1",
        "kind": "TrustRoot",
        "metadata": {"name": name},
        "spec": {"sigstoreKeys": keys},
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_controller_trust_root_becomes_a_trusted_root_file() {
    let s = setup().await;
    let policy = format!(
        "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {{name: private-sigstore}}\n\
         spec:\n  images:\n  - glob: '{}/securesystemsengineering/**'\n  authorities:\n  - name: oauth\n    \
         keyless:\n      url: https://fulcio.example.internal\n      trustRootRef: my-sigstore\n      identities:\n      \
         - {{issuer: 'https://github.com/login/oauth', subject: '{SUBJECT}'}}\n    ctlog:\n      \
         url: https://rekor.example.internal\n      trustRootRef: my-sigstore\n",
        s.reg.addr
    );
    let check = |dir: &Path, image: &str| {
        let m = dir.join("m");
        write_deployment(&m, "a.yaml", &[image]);
        run(sealgate()
            .arg("check")
            .arg(&m)
            .arg("--policy")
            .arg(dir.join("policies"))
            .args(["-o", "json", "--insecure-registry", &s.reg.addr]))
    };
    for (case, skip, keyless_verdict) in [
        ("full", &[][..], "pass"),
        ("no-fulcio", &["certificateAuthorities"][..], "fail"),
    ] {
        let dir = s.dir.path().join(case);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cip.yaml"), &policy).unwrap();
        std::fs::write(
            dir.join("trustroot.json"),
            trust_root_of_public_good("my-sigstore", skip),
        )
        .unwrap();
        let out = dir.join("policies");
        let r = s.import(
            "policy-controller",
            &[&dir.join("cip.yaml"), &dir.join("trustroot.json")],
            &["--out-dir", out.to_str().unwrap()],
        );
        assert_eq!(r.code, 0, "{r}");
        assert!(r.stderr.contains("keyless.url: ignored"), "{r}");
        let written = std::fs::read_to_string(out.join("private-sigstore.yaml")).unwrap();
        assert!(
            written.contains("path: my-sigstore.trusted_root.json"),
            "{written}"
        );
        let c = check(&dir, &s.images["keyless"]);
        assert_eq!(
            c.json()["images"][0]["verdict"],
            keyless_verdict,
            "{case}: {c}"
        );
        if case == "full" {
            // the log IDs are those of the Sigstore root (SHA-256 of each log's key)
            let ours: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(out.join("my-sigstore.trusted_root.json")).unwrap(),
            )
            .unwrap();
            let theirs: serde_json::Value = serde_json::from_slice(
                &std::fs::read(
                    Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("src/sigstore/roots/production.json"),
                )
                .unwrap(),
            )
            .unwrap();
            for (k, url) in [
                ("tlogs", "https://rekor.sigstore.dev"),
                ("ctlogs", "https://ctfe.sigstore.dev/2022"),
            ] {
                let id = |v: &serde_json::Value| {
                    v[k].as_array()
                        .unwrap()
                        .iter()
                        .find(|l| l["baseUrl"] == url)
                        .map(|l| l["logId"]["keyId"].clone())
                        .unwrap()
                };
                assert_eq!(id(&ours), id(&theirs), "{k} {url}");
            }
            assert_eq!(
                check(&dir, &s.images["alice"]).json()["images"][0]["verdict"],
                "fail"
            );
        }
    }
    // without --out-dir there is nowhere to put the trusted root; a reference to a TrustRoot
    // not imported is dropped
    let dir = s.dir.path().join("full");
    let r = s.import(
        "policy-controller",
        &[&dir.join("cip.yaml"), &dir.join("trustroot.json")],
        &[],
    );
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("--out-dir"), "{r}");
    let r = s.import("policy-controller", &[&dir.join("cip.yaml")], &[]);
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stderr
            .contains("TrustRoot \"my-sigstore\" is not among the imported files"),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kyverno_scan_age_condition_becomes_max_age() {
    let reg = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let (ci, pem) = keypair(dir.path(), "ci");
    push_image(&oci(), &reg, "acme/app", "v1").await;
    let image = reg.reference("acme/app", "v1");
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "pw")
        .arg("sign")
        .arg("--key")
        .arg(&ci)
        .args(["--insecure-registry", &reg.addr])
        .arg(&image));
    assert_eq!(r.code, 0, "{r}");
    let trivy = scangen::trivy_json(&scangen::sample_vulns(), "2026-06-01T00:00:00Z");
    let pred = scangen::cosign_vuln(Some(&trivy), "2026-06-01T00:00:00Z", "2026-06-01T00:00:00Z");
    let file = dir.path().join("vuln.json");
    std::fs::write(&file, pred).unwrap();
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "pw")
        .arg("attest")
        .arg("--key")
        .arg(&ci)
        .arg("--predicate")
        .arg(&file)
        .args(["--type", "vuln", "--insecure-registry", &reg.addr])
        .arg(&image));
    assert_eq!(r.code, 0, "{r}");

    let src = dir.path().join("kyverno.yaml");
    std::fs::write(
        &src,
        fill(
            "kyverno-vuln-scan-age.yaml",
            &[("REGISTRY", &reg.addr), ("CI", &pem)],
        ),
    )
    .unwrap();
    // translated, and reported: Kyverno checks every vulnerability attestation, sealgate the
    // newest
    let r = run(sealgate().arg("import").arg("kyverno").arg(&src));
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stderr
            .contains("conditions[0].all[0]: dropped: translated as vulnerabilities.maxAge: 24h"),
        "{r}"
    );
    let r = run(sealgate()
        .arg("import")
        .arg("kyverno")
        .arg(&src)
        .arg("--allow-partial"));
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stdout.contains("maxAge: 24h"), "{r}");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, &r.stdout).unwrap();
    let manifests = dir.path().join("m");
    write_deployment(&manifests, "a.yaml", &[&image]);
    let check = |now: &str| {
        run(sealgate()
            .arg("check")
            .arg(&manifests)
            .arg("--policy")
            .arg(&policy)
            .args(["-o", "json", "--insecure-registry", &reg.addr, "--now", now]))
    };
    // Kyverno: time_since(scanFinishedOn) <= 24h holds half a day later, not two days later
    let c = check("2026-06-01T12:00:00Z");
    assert_eq!(c.code, 0, "{c}");
    let c = check("2026-06-03T00:00:00Z");
    assert_eq!(c.code, 1, "{c}");
    let codes: Vec<String> = c.json()["images"][0]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes, ["ScanTooOld"], "{c}");
    // another condition is not translated
    std::fs::write(
        &src,
        std::fs::read_to_string(&src)
            .unwrap()
            .replace("LessThanOrEquals", "GreaterThan"),
    )
    .unwrap();
    let r = run(sealgate().arg("import").arg("kyverno").arg(&src));
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stderr
            .contains("conditions[0].all[0]: dropped: condition not translated"),
        "{r}"
    );
}

#[test]
fn every_fixture_translates_without_a_dropped_field_but_the_key_authority() {
    // the fixtures as written (placeholders filled with a fixed registry)
    for (from, fixture, dropped) in [
        ("kyverno", "kyverno-keys.yaml", false),
        ("kyverno", "kyverno-keyless.yaml", false),
        ("kyverno", "kyverno-image-validating-policy.yaml", false),
        ("policy-controller", "policy-controller.yaml", false),
        ("policy-controller", "policy-controller-key.yaml", true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let text = fill(
            fixture,
            &[
                ("REGISTRY", "registry.example.com:5000"),
                ("SUBJECT", SUBJECT),
                ("ALICE", &key("alice")),
                ("BOB", &key("bob")),
                ("CHARLIE", &key("charlie")),
            ],
        );
        let p = dir.path().join(fixture);
        std::fs::write(&p, text).unwrap();
        let r = run(sealgate().arg("import").arg(from).arg(&p));
        assert_eq!(r.code, i32::from(dropped), "{fixture}: {r}");
    }
}
