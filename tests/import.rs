//! `sealgate import kyverno|policy-controller`: policies written in the documented shapes of
//! Kyverno and policy-controller (`tests/fixtures/import/`), imported, then run through
//! `sealgate check` on a real `docker-registry` holding real cosign signatures (connaisseur's
//! key-signed and keyless test image) — each image gets the verdict the source policy gives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

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
            "ClusterImagePolicy/key-testimage: spec.authorities[0].key: dropped: policy-controller requires a Rekor entry"
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
