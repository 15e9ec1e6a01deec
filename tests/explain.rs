//! `sealgate explain IMAGE` on a real `docker-registry`: one case per failure kind, each
//! asserting the verdict, the exit code, the discovery paths it reports as tried (with what
//! they held) and the attestor results — text and `-o json`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

struct Setup {
    reg: TestRegistry,
    dir: tempfile::TempDir,
    key: PathBuf,
    pem: String,
    other_key: PathBuf,
}

async fn setup() -> Setup {
    let reg = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let (key, pem) = keypair(dir.path(), "ci");
    let (other_key, _) = keypair(dir.path(), "other");
    Setup {
        reg,
        dir,
        key,
        pem,
        other_key,
    }
}

impl Setup {
    async fn image(&self, repo: &str, signers: &[&Path], bundle: bool) -> String {
        push_image(&oci(), &self.reg, repo, "v1").await;
        let image = self.reg.reference(repo, "v1");
        for key in signers {
            let mut cmd = sealgate();
            cmd.env("COSIGN_PASSWORD", "pw")
                .arg("sign")
                .arg("--key")
                .arg(key)
                .args(["--insecure-registry", &self.reg.addr]);
            if bundle {
                cmd.arg("--bundle");
            }
            let r = run(cmd.arg(&image));
            assert_eq!(r.code, 0, "{r}");
        }
        image
    }

    fn policy(&self, images: &str, threshold: Option<usize>, extra: &str) -> PathBuf {
        let dir = self
            .dir
            .path()
            .join(format!("p{}", hex::encode(rand_bytes::<4>())));
        std::fs::create_dir_all(&dir).unwrap();
        write_policy(&dir, images, &[("ci", &self.pem)], threshold, extra)
    }

    /// A policy in `dir` requiring ci's signature and a CycloneDX attestation (`extra` lines
    /// under the attestation entry).
    fn sbom_policy(&self, dir: &str, extra: &str) -> PathBuf {
        let dir = self.dir.path().join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ci.pub"), &self.pem).unwrap();
        let policy = dir.join("policy.yaml");
        std::fs::write(
            &policy,
            format!("apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {{name: sbom}}\nspec:\n  rules:\n    - name: r\n      images: [\"**\"]\n      signatures:\n        attestors:\n          - {{name: ci, key: {{path: ci.pub}}}}\n      attestations:\n        - predicateType: cyclonedx\n{extra}"),
        )
        .unwrap();
        policy
    }

    /// `sealgate attest` of an empty CycloneDX SBOM on `image`, signed with `key`.
    fn attest_sbom(&self, image: &str, key: &Path) {
        let sbom = self
            .dir
            .path()
            .join(format!("sbom-{}.json", hex::encode(rand_bytes::<4>())));
        std::fs::write(
            &sbom,
            r#"{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "components": []}"#,
        )
        .unwrap();
        let a = run(sealgate()
            .env("COSIGN_PASSWORD", "pw")
            .arg("attest")
            .arg("--key")
            .arg(key)
            .arg("--predicate")
            .arg(&sbom)
            .args([
                "--type",
                "cyclonedx",
                "--insecure-registry",
                &self.reg.addr,
                image,
            ]));
        assert_eq!(a.code, 0, "{a}");
    }

    fn explain(&self, image: &str, policy: &Path, json: bool) -> Run {
        let mut cmd = sealgate();
        cmd.arg("explain")
            .arg(image)
            .arg("--policy")
            .arg(policy)
            .args(["--insecure-registry", &self.reg.addr]);
        if json {
            cmd.args(["-o", "json"]);
        }
        run(&mut cmd)
    }
}

/// The discovery steps of a JSON explanation as (path, result).
fn steps(doc: &Value) -> Vec<(String, String)> {
    doc["discovery"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_owned(),
                s["outcome"]["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn has_step(doc: &Value, path: &str, result: &str) -> bool {
    steps(doc).iter().any(|(p, r)| p == path && r == result)
}

fn codes(doc: &Value) -> Vec<String> {
    doc["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_signed_image_passes_and_the_explanation_shows_where_the_signature_was() {
    let s = setup().await;
    let image = s.image("team/web", &[&s.key], false).await;
    let policy = s.policy("**", None, "");

    let r = s.explain(&image, &policy, false);
    assert_eq!(r.code, 0, "{r}");
    for expected in [
        "digest     sha256:",
        "rule r matches (glob \"**\")",
        "resolve tag v1",
        "cosign signatures (.sig tag)",
        "application/vnd.dev.cosign.simplesigning.v1+json",
        "attestor ci: verified (from legacy-tag)",
        "verdict    pass",
    ] {
        assert!(r.stdout.contains(expected), "{expected:?} missing:\n{r}");
    }

    let doc = s.explain(&image, &policy, true).json();
    assert_eq!(doc["passed"], true);
    assert_eq!(doc["verdict"], "pass");
    assert!(doc["digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(
        has_step(&doc, "resolve tag v1", "found"),
        "{:?}",
        steps(&doc)
    );
    assert!(
        has_step(&doc, "cosign signatures (.sig tag)", "found"),
        "{:?}",
        steps(&doc)
    );
    assert!(has_step(&doc, "blob", "found"), "{:?}", steps(&doc));
    assert_eq!(doc["signatures"][0]["attestor"], "ci");
    assert_eq!(doc["signatures"][0]["verified"], true);
    assert_eq!(doc["signatures"][0]["tried"][0]["verified"], true);
    // the expected signer: the attestor's key, named by the SHA-256 of its SPKI DER
    let der = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        s.pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>(),
    )
    .unwrap();
    assert_eq!(
        doc["policies"][0]["attestors"][0]["expects"],
        format!("key sha256:{}", sha256(&der).trim_start_matches("sha256:"))
    );
    assert_eq!(doc["policies"][0]["threshold"], 1);
}

/// A signature of one image copied onto another: found, signed by the right key, but its
/// payload names the other digest — expected and actual are both in the explanation.
#[tokio::test]
async fn a_signature_copied_from_another_image_names_both_digests() {
    let s = setup().await;
    let signed = s.image("team/src", &[&s.key], false).await;
    let target = s.image("team/dst", &[], false).await;
    let policy = s.policy("**", None, "");
    let src = s.explain(&signed, &policy, true).json();
    let dst = s.explain(&target, &policy, true).json();
    let (src_digest, dst_digest) = (
        src["digest"].as_str().unwrap().to_owned(),
        dst["digest"].as_str().unwrap().to_owned(),
    );
    // copy the .sig manifest of src under dst's .sig tag (blobs are mounted from src)
    let client = reqwest::Client::new();
    let base = format!("http://{}/v2", s.reg.addr);
    let src_tag = format!("sha256-{}.sig", src_digest.trim_start_matches("sha256:"));
    let dst_tag = format!("sha256-{}.sig", dst_digest.trim_start_matches("sha256:"));
    let manifest = client
        .get(format!("{base}/team/src/manifests/{src_tag}"))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    let media = manifest.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = manifest.bytes().await.unwrap();
    let m: Value = serde_json::from_slice(&body).unwrap();
    for d in std::iter::once(&m["config"]).chain(m["layers"].as_array().unwrap()) {
        let r = client
            .post(format!(
                "{base}/team/dst/blobs/uploads/?mount={}&from=team/src",
                d["digest"].as_str().unwrap()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "mount {d}");
    }
    let r = client
        .put(format!("{base}/team/dst/manifests/{dst_tag}"))
        .header("content-type", media)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let r = s.explain(&target, &policy, true);
    assert_eq!(r.code, 1, "{r}");
    let doc = r.json();
    assert_eq!(codes(&doc), ["PayloadDigestMismatch"]);
    let tried = &doc["signatures"][0]["tried"][0];
    assert_eq!(tried["code"], "PayloadDigestMismatch");
    let message = tried["message"].as_str().unwrap();
    assert!(
        message.contains(&src_digest) && message.contains(&dst_digest),
        "{message}"
    );
}

#[tokio::test]
async fn an_unsigned_image_fails_and_every_path_tried_is_listed() {
    let s = setup().await;
    let image = s.image("team/unsigned", &[], false).await;
    let policy = s.policy("**", None, "");
    let r = s.explain(&image, &policy, true);
    assert_eq!(r.code, 1, "{r}");
    let doc = r.json();
    assert_eq!(doc["passed"], false);
    assert_eq!(codes(&doc), ["NoSignature"]);
    // docker-registry has no referrers API: the fallback tag and the .sig tag were tried
    assert!(
        has_step(&doc, "referrers API", "unsupported") || has_step(&doc, "referrers API", "listed"),
        "{:?}",
        steps(&doc)
    );
    assert!(
        has_step(&doc, "referrers fallback tag", "notFound"),
        "{:?}",
        steps(&doc)
    );
    assert!(
        has_step(&doc, "cosign signatures (.sig tag)", "notFound"),
        "{:?}",
        steps(&doc)
    );
    let text = s.explain(&image, &policy, false);
    assert_eq!(text.code, 1);
    assert!(text.stdout.contains("not found (404)"), "{text}");
    assert!(text.stdout.contains("NoSignature:"), "{text}");
}

#[tokio::test]
async fn a_signature_by_another_key_is_found_but_does_not_verify() {
    let s = setup().await;
    let image = s.image("team/other", &[&s.other_key], false).await;
    let policy = s.policy("**", None, "");
    let r = s.explain(&image, &policy, true);
    assert_eq!(r.code, 1, "{r}");
    let doc = r.json();
    assert!(
        has_step(&doc, "cosign signatures (.sig tag)", "found"),
        "{:?}",
        steps(&doc)
    );
    assert_eq!(doc["signatures"][0]["verified"], false);
    let c = codes(&doc);
    assert!(
        c == ["NoMatchingSignature"] || c == ["SignatureInvalid"],
        "{c:?}"
    );
    // the signature it looked at, and why it does not count
    let tried = &doc["signatures"][0]["tried"][0];
    assert!(
        tried["origin"].as_str().unwrap().contains(".sig layer 0"),
        "{tried}"
    );
    assert_eq!(tried["verified"], false);
    assert_eq!(tried["code"], "NoMatchingSignature");
    let text = s.explain(&image, &policy, false);
    assert!(text.stdout.contains("attestor ci: not verified"), "{text}");
    assert!(
        text.stdout
            .contains("NoMatchingSignature: not signed by ci"),
        "{text}"
    );
}

#[tokio::test]
async fn a_threshold_not_met_names_the_attestors_that_did_not_verify() {
    let s = setup().await;
    let image = s.image("team/half", &[&s.key], false).await;
    let dir = s.dir.path().join("threshold");
    std::fs::create_dir_all(&dir).unwrap();
    let (_, second) = keypair(&dir, "second");
    let policy = write_policy(
        &dir,
        "**",
        &[("ci", &s.pem), ("second", &second)],
        Some(2),
        "",
    );
    let doc = s.explain(&image, &policy, true).json();
    assert_eq!(codes(&doc), ["ThresholdNotMet"]);
    let verified: Vec<(String, bool)> = doc["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["attestor"].as_str().unwrap().to_owned(),
                a["verified"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        verified,
        [("ci".to_owned(), true), ("second".to_owned(), false)]
    );
}

#[tokio::test]
async fn no_rule_matching_and_a_registry_outside_the_allowlist_say_why() {
    let s = setup().await;
    let image = s.image("team/web", &[&s.key], false).await;

    let policy = s.policy("elsewhere/**", None, "");
    let r = s.explain(&image, &policy, false);
    assert_eq!(r.code, 1, "{r}");
    // globs are shown normalized, as they are matched
    assert!(
        r.stdout
            .contains("no rule matches (r: [\"docker.io/elsewhere/**\"])"),
        "{r}"
    );
    assert!(r.stdout.contains("NoPolicyMatch"), "{r}");

    let policy = s.policy("**", None, "  registries: [\"registry.example\"]\n");
    let r = s.explain(&image, &policy, true);
    assert_eq!(r.code, 1, "{r}");
    let doc = r.json();
    assert_eq!(doc["policies"][0]["registryAllowed"], false);
    assert_eq!(codes(&doc), ["RegistryNotAllowed"]);
}

#[tokio::test]
async fn a_missing_tag_is_not_found() {
    let s = setup().await;
    let _ = s.image("team/web", &[&s.key], false).await;
    let policy = s.policy("**", None, "");
    let image = s.reg.reference("team/web", "v9");
    let r = s.explain(&image, &policy, true);
    assert_eq!(r.code, 1, "{r}");
    let doc = r.json();
    assert_eq!(codes(&doc), ["ImageNotFound"]);
    assert!(
        has_step(&doc, "resolve tag v9", "notFound"),
        "{:?}",
        steps(&doc)
    );
    assert!(doc["digest"].is_null());
}

#[tokio::test]
async fn a_cosign_v3_bundle_is_found_through_the_referrers_fallback_tag() {
    let s = setup().await;
    let image = s.image("team/bundled", &[&s.key], true).await;
    let policy = s.policy("**", None, "");
    let r = s.explain(&image, &policy, true);
    assert_eq!(r.code, 0, "{r}");
    let doc = r.json();
    assert!(
        has_step(&doc, "referrers fallback tag", "found"),
        "{:?}",
        steps(&doc)
    );
    assert!(
        has_step(&doc, "referrer manifest", "found"),
        "{:?}",
        steps(&doc)
    );
    assert_eq!(doc["signatures"][0]["verified"], true);
    assert_eq!(doc["signatures"][0]["source"], "fallback-tag");
}

#[test]
fn usage_errors_exit_2() {
    let r = run(sealgate().args(["explain", "registry.example/a:b"]));
    assert_eq!(r.code, 2, "{r}");
    let dir = tempfile::tempdir().unwrap();
    let r = run(sealgate()
        .args(["explain", "registry.example/a:b", "--policy"])
        .arg(dir.path().join("missing.yaml")));
    assert_eq!(r.code, 2, "{r}");
}

/// A signed image without the SBOM its rule requires: the .att path tried is shown, and then
/// with the SBOM attached it passes and the attestation that decided is named.
#[tokio::test]
async fn a_missing_attestation_shows_the_att_path_and_then_the_one_that_decided() {
    let s = setup().await;
    let image = s.image("team/sbom", &[&s.key], false).await;
    let policy = s.sbom_policy("att", "          attestors: [ci]\n");
    let r = s.explain(&image, &policy, true);
    assert_eq!(r.code, 1, "{r}");
    let doc = r.json();
    assert_eq!(codes(&doc), ["AttestationMissing"]);
    assert!(
        steps(&doc)
            .iter()
            .any(|(p, _)| p == "cosign attestations (.att tag)"),
        "{:?}",
        steps(&doc)
    );

    s.attest_sbom(&image, &s.key);
    let r = s.explain(&image, &policy, true);
    assert_eq!(r.code, 0, "{r}");
    let doc = r.json();
    assert!(
        has_step(&doc, "cosign attestations (.att tag)", "found"),
        "{:?}",
        steps(&doc)
    );
    let att = &doc["attestations"][0];
    assert_eq!(att["verified"], true, "{att}");
    assert_eq!(att["used"], true, "{att}");
    assert_eq!(att["attestor"], "ci");
    let text = s.explain(&image, &policy, false);
    assert!(text.stdout.contains("by ci, decided the rule"), "{text}");
    // the .att layer is listed with its predicate type
    assert!(
        text.stdout
            .contains("{predicateType https://cyclonedx.org/bom}"),
        "{text}"
    );
    let att_step = doc["discovery"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"] == "cosign attestations (.att tag)")
        .unwrap()
        .clone();
    assert_eq!(
        att_step["outcome"]["contents"][0]["predicateType"], "https://cyclonedx.org/bom",
        "{att_step}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attestation_by_another_key_lists_what_each_attestor_made_of_it() {
    let s = setup().await;
    let image = s.image("team/sbom-other", &[&s.key], false).await;
    let policy = s.sbom_policy("att-other", "");
    s.attest_sbom(&image, &s.other_key);
    let r = s.explain(&image, &policy, true);
    assert_eq!(r.code, 1, "{r}");
    let doc = r.json();
    assert_eq!(codes(&doc), ["AttestationMissing"], "{r}");
    let att = &doc["attestations"][0];
    assert_eq!(att["verified"], false, "{att}");
    assert_eq!(att["tried"][0]["attestor"], "ci", "{att}");
    assert_eq!(
        att["tried"][0]["message"], "NoMatchingSignature: not signed by ci",
        "{att}"
    );
    let text = s.explain(&image, &policy, false);
    assert!(
        text.stdout
            .contains("\n    ci: NoMatchingSignature: not signed by ci\n"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_keyless_signature_of_another_identity_names_expected_and_actual() {
    const REPO: &str = "securesystemsengineering/testimage";
    let reg = TestRegistry::start_with(|storage| load_dump(storage, REPO, &connaisseur_dump()));
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: keyless}\nspec:\n  rules:\n    - name: r\n      images: [\"**\"]\n      signatures:\n        attestors:\n          - name: release\n            keyless: {issuer: https://github.com/login/oauth, subject: someone.else@securesystems.de}\n",
    )
    .unwrap();
    let image = reg.reference(REPO, "keyless");
    let r = run(sealgate()
        .arg("explain")
        .arg(&image)
        .arg("--policy")
        .arg(&policy)
        .args(["-o", "json", "--insecure-registry", &reg.addr]));
    assert_eq!(r.code, 1, "{r}");
    let doc = r.json();
    assert_eq!(codes(&doc), ["IdentityMismatch"], "{r}");
    let tried = &doc["signatures"][0]["tried"][0];
    assert_eq!(tried["code"], "IdentityMismatch", "{tried}");
    let msg = tried["message"].as_str().unwrap();
    assert!(
        msg.contains("someone.else@securesystems.de")
            && msg.contains("philipp.belitz@securesystems.de"),
        "expected and actual subject: {msg}"
    );
}

/// Offline, on the demo's OCI layout: the signed demo image passes, the unsigned one does not,
/// and the signature path read is the layout's.
#[test]
fn the_demo_layout_explains_offline() {
    let dir = tempfile::tempdir().unwrap();
    let layout = demo_layout_copy(&dir.path().join("layout"));
    let explain = |image: &str| {
        run(sealgate()
            .args(["explain", image, "--policy"])
            .arg(demo().join("policy.yaml"))
            .args(["--offline", "--oci-layout"])
            .arg(&layout)
            .args(["-o", "json"]))
    };
    let r = explain("ghcr.io/sealgate-demo/web:1.4.2");
    assert_eq!(r.code, 0, "{r}");
    let doc = r.json();
    assert_eq!(doc["signatures"][0]["source"], "oci-layout");
    assert!(
        has_step(&doc, "cosign signatures (.sig tag)", "found"),
        "{:?}",
        steps(&doc)
    );
    let r = explain("ghcr.io/sealgate-demo/debug-tools:latest");
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(codes(&r.json()), ["NoSignature"]);
    // --offline without a layout is a usage error
    let r = run(sealgate()
        .args([
            "explain",
            "ghcr.io/sealgate-demo/web:1.4.2",
            "--offline",
            "--policy",
        ])
        .arg(demo().join("policy.yaml")));
    assert_eq!(r.code, 2, "{r}");
}

/// A registry that wants credentials the docker config does not have: the failed lookup is
/// shown with its reason code (could not check, exit 1), and no credential is ever printed.
#[tokio::test]
async fn a_registry_refusing_access_is_shown_as_such_and_no_secret_is_printed() {
    let reg = TestRegistry::start_htpasswd("ci", "s3cret-pass");
    let dir = tempfile::tempdir().unwrap();
    let (_, pem) = keypair(dir.path(), "ci");
    let policy = write_policy(dir.path(), "**", &[("ci", &pem)], None, "");
    let image = reg.reference("team/web", "v1");
    let explain = |config: Option<&Path>| {
        let mut cmd = sealgate();
        cmd.arg("explain")
            .arg(&image)
            .arg("--policy")
            .arg(&policy)
            .args(["--insecure-registry", &reg.addr, "-o", "json"]);
        if let Some(c) = config {
            cmd.arg("--docker-config").arg(c);
        }
        run(&mut cmd)
    };
    // no credentials at all
    let r = explain(None);
    assert_eq!(r.code, 1, "{r}");
    let doc = r.json();
    assert_eq!(codes(&doc), ["RegistryAuthFailed"]);
    assert_eq!(doc["verdict"], "unverifiable");
    assert!(
        has_step(&doc, "resolve tag v1", "failed"),
        "{:?}",
        steps(&doc)
    );
    // wrong credentials: refused the same way, and neither secret appears anywhere
    let config = dir.path().join("docker");
    std::fs::create_dir_all(&config).unwrap();
    let auth = b64(b"ci:wrong-pass");
    std::fs::write(
        config.join("config.json"),
        format!(r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#, reg.addr),
    )
    .unwrap();
    let r = explain(Some(&config));
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(codes(&r.json()), ["RegistryAuthFailed"]);
    for secret in ["wrong-pass", auth.as_str(), "s3cret-pass"] {
        assert!(
            !r.stdout.contains(secret) && !r.stderr.contains(secret),
            "{secret} printed:\n{r}"
        );
    }
}
