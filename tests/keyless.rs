//! Keyless (Fulcio/Rekor) and cosign v3 bundle verification of images, end to end against the
//! real `docker-registry`, with material written by the real tools:
//! - sigstore-rs `bundle_v03.json`: a real cosign v3 `cosign sign` bundle (GitHub Actions
//!   identity, Rekor v1 dsse entry) attached as an OCI 1.1 referrer of its image digest;
//! - cosign `oci-attestation.sigstore.json`: a real `cosign attest` bundle (email identity);
//! - connaisseur's `keyless` image: a cosign legacy `.sig` layer with certificate, chain and
//!   Rekor bundle annotations.
//!
//! The real registry has no referrers API, so the fallback tag and the legacy paths are tested
//! against it directly. The referrers API path goes through the harness's **referrers test
//! shim** (`common::proxy`): it answers only `GET /v2/<name>/referrers/<digest>` with an index
//! computed from the real registry's own fallback-tag content and forwards everything else.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use common::{
    TestRegistry, connaisseur_dump, fixtures, load_dump, oci, push_blob, push_manifest, run,
    sealgate, write_deployment,
};
use serde_json::{Value, json};

const GITHUB: &str = "https://token.actions.githubusercontent.com";
const KUBEWARDEN: &str = "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0";
const BUNDLE_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(rel)).unwrap()
}

/// The statement's first subject digest (`sha256:<hex>`) and predicate type of a bundle.
fn statement_of(bundle: &[u8]) -> (String, String) {
    let b: Value = serde_json::from_slice(bundle).unwrap();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(b["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let s: Value = serde_json::from_slice(&payload).unwrap();
    (
        format!(
            "sha256:{}",
            s["subject"][0]["digest"]["sha256"].as_str().unwrap()
        ),
        s["predicateType"].as_str().unwrap().to_owned(),
    )
}

/// Attaches `bundle` to `subject` in `repo` the way cosign v3 `WriteReferrer` does, on a
/// registry without the referrers API: the referrer manifest, then the fallback tag index.
async fn attach_bundle(
    reg: &TestRegistry,
    repo: &str,
    subject: &str,
    bundle: &[u8],
    predicate: &str,
) {
    let client = oci();
    let config = push_blob(&client, reg, repo, b"{}").await;
    let layer = push_blob(&client, reg, repo, bundle).await;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": common::OCI_MANIFEST,
        "artifactType": BUNDLE_TYPE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2, "digest": config},
        "layers": [{"mediaType": BUNDLE_TYPE, "size": bundle.len(), "digest": layer}],
        "subject": {"mediaType": common::OCI_MANIFEST, "size": 1000, "digest": subject},
        "annotations": {
            "dev.sigstore.bundle.content": "dsse-envelope",
            "dev.sigstore.bundle.predicateType": predicate,
        },
    });
    let body = serde_json::to_vec(&manifest).unwrap();
    let digest = push_manifest(&client, reg, repo, &common::sha256(&body), &body).await;
    let tag = subject.replace(':', "-");
    // read-modify-write the fallback index, keeping other referrers
    let mut manifests: Vec<Value> = Vec::new();
    let r: oci_client::Reference = format!("{}/{repo}:{tag}", reg.addr).parse().unwrap();
    if let Ok((existing, _)) = client
        .pull_manifest_raw(
            &r,
            &oci_client::secrets::RegistryAuth::Anonymous,
            &[OCI_INDEX],
        )
        .await
        && let Ok(v) = serde_json::from_slice::<Value>(&existing)
        && let Some(m) = v["manifests"].as_array()
    {
        manifests.extend(m.iter().cloned());
    }
    manifests.push(json!({
        "mediaType": common::OCI_MANIFEST,
        "digest": digest,
        "size": body.len(),
        "artifactType": BUNDLE_TYPE,
        "annotations": manifest["annotations"],
    }));
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    }))
    .unwrap();
    client
        .push_manifest_raw(&r, index, OCI_INDEX.parse().unwrap())
        .await
        .unwrap();
}

/// A policy with one keyless attestor (and optionally attestation rules for it).
fn keyless_policy(
    dir: &Path,
    issuer: &str,
    subject_key: &str,
    subject: &str,
    extra: &str,
) -> PathBuf {
    let y = format!(
        "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: keyless\nspec:\n  rules:\n    - name: r\n      images: [\"**\"]\n      signatures:\n        attestors:\n          - name: release\n            keyless:\n              issuer: {issuer:?}\n              {subject_key}: {subject:?}\n{extra}"
    );
    let p = dir.join("policy.yaml");
    std::fs::write(&p, y).unwrap();
    p
}

fn check(manifests: &Path, policy: &Path, insecure: &str, extra: &[&str]) -> common::Run {
    run(sealgate()
        .arg("check")
        .arg(manifests)
        .arg("--policy")
        .arg(policy)
        .args(["-o", "json", "--insecure-registry", insecure])
        .args(extra))
}

fn codes(r: &common::Run) -> Vec<String> {
    r.json()["images"][0]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["code"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn cosign_v3_keyless_image_signature_from_fallback_tag_and_referrers_api() {
    let reg = TestRegistry::start();
    let bundle = read("sigstore-rs/data/bundle_v03.json");
    let (subject, predicate) = statement_of(&bundle);
    assert_eq!(predicate, "https://sigstore.dev/cosign/sign/v1");
    let repo = "kubewarden/kubewarden-controller";
    attach_bundle(&reg, repo, &subject, &bundle, &predicate).await;
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("m");
    write_deployment(
        &manifests,
        "app.yaml",
        &[&format!("{}/{repo}@{subject}", reg.addr)],
    );

    // fallback tag (the real registry has no referrers API)
    let p = keyless_policy(dir.path(), GITHUB, "subject", KUBEWARDEN, "");
    let r = check(&manifests, &p, &reg.addr, &[]);
    assert_eq!(r.code, 0, "{r}");
    let img = &r.json()["images"][0];
    assert_eq!(img["signatures"][0]["verified"], true, "{r}");
    assert_eq!(img["signatures"][0]["source"], "fallback-tag", "{r}");
    assert_eq!(img["signatures"][0]["identity"], KUBEWARDEN, "{r}");
    assert_eq!(img["signatures"][0]["issuer"], GITHUB, "{r}");

    // anchored regular expressions, and a claim of the certificate
    let p = keyless_policy(
        dir.path(),
        GITHUB,
        "subjectRegExp",
        r"https://github\.com/kubewarden/.+/release\.yml@refs/tags/v.+",
        "              claims: {githubWorkflowRepository: kubewarden/kubewarden-controller}\n",
    );
    assert_eq!(check(&manifests, &p, &reg.addr, &[]).code, 0);
    let p = keyless_policy(
        dir.path(),
        GITHUB,
        "subjectRegExp",
        r"https://github\.com/kubewarden/",
        "",
    );
    let r = check(&manifests, &p, &reg.addr, &[]);
    assert_eq!(
        codes(&r),
        ["IdentityMismatch"],
        "a prefix is not a match: {r}"
    );

    // another subject, another issuer, another claim: IdentityMismatch
    for (issuer, subject, claims) in [
        (
            GITHUB,
            "https://github.com/evil/fork/.github/workflows/release.yml@refs/tags/v1.34.0",
            "",
        ),
        ("https://accounts.google.com", KUBEWARDEN, ""),
        (
            GITHUB,
            KUBEWARDEN,
            "              claims: {githubWorkflowRef: refs/heads/main}\n",
        ),
    ] {
        let p = keyless_policy(dir.path(), issuer, "subject", subject, claims);
        let r = check(&manifests, &p, &reg.addr, &[]);
        assert_eq!(r.code, 1, "{r}");
        assert_eq!(codes(&r), ["IdentityMismatch"], "{r}");
    }

    // the referrers API, through the referrers test shim over the real registry's content
    let index = reg.get(
        &format!("/v2/{repo}/manifests/{}", subject.replace(':', "-")),
        OCI_INDEX,
    );
    let proxy = common::proxy::Proxy::start(&reg.addr);
    proxy.rule(
        common::proxy::Rule::new(&format!("/v2/{repo}/referrers/{subject}"), usize::MAX, 200)
            .header("Content-Type", OCI_INDEX)
            .body(index),
    );
    let via = dir.path().join("via-shim");
    write_deployment(
        &via,
        "app.yaml",
        &[&format!("{}/{repo}@{subject}", proxy.addr)],
    );
    let p = keyless_policy(dir.path(), GITHUB, "subject", KUBEWARDEN, "");
    let r = check(&via, &p, &proxy.addr, &[]);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(
        r.json()["images"][0]["signatures"][0]["source"],
        "referrers",
        "{r}"
    );
    assert_eq!(proxy.count("/referrers/"), 1, "{:?}", proxy.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bundle_moved_to_another_image_or_tampered_with_fails_with_its_reason() {
    let reg = TestRegistry::start();
    let bundle = read("sigstore-rs/data/bundle_v03.json");
    let (subject, predicate) = statement_of(&bundle);
    let dir = tempfile::tempdir().unwrap();
    let p = keyless_policy(dir.path(), GITHUB, "subject", KUBEWARDEN, "");

    // the real bundle attached to another image: its statement names another digest
    let other = common::push_image(&oci(), &reg, "moved/app", "v1").await;
    attach_bundle(&reg, "moved/app", &other, &bundle, &predicate).await;
    let m = dir.path().join("moved");
    write_deployment(
        &m,
        "app.yaml",
        &[&format!("{}/moved/app@{other}", reg.addr)],
    );
    let r = check(&m, &p, &reg.addr, &[]);
    assert_eq!(codes(&r), ["PayloadDigestMismatch"], "{r}");

    // the SET flipped: TlogInvalid
    let mut v: Value = serde_json::from_slice(&bundle).unwrap();
    let set =
        v["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]["signedEntryTimestamp"]
            .as_str()
            .unwrap()
            .to_owned();
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(set)
        .unwrap();
    let last = raw.len() - 3;
    raw[last] ^= 1;
    v["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]["signedEntryTimestamp"] =
        base64::engine::general_purpose::STANDARD.encode(raw).into();
    let tampered = serde_json::to_vec(&v).unwrap();
    attach_bundle(&reg, "tampered/app", &subject, &tampered, &predicate).await;
    let m = dir.path().join("tampered");
    write_deployment(
        &m,
        "app.yaml",
        &[&format!("{}/tampered/app@{subject}", reg.addr)],
    );
    let r = check(&m, &p, &reg.addr, &[]);
    assert_eq!(codes(&r), ["TlogInvalid"], "{r}");

    // verified against another trusted root (staging): the certificate does not chain
    let r = check(
        &m,
        &keyless_policy(dir.path(), GITHUB, "subject", KUBEWARDEN, ""),
        &reg.addr,
        &["--trusted-root", "builtin:staging"],
    );
    assert_eq!(r.code, 1, "{r}");
    let c = codes(&r);
    assert!(
        c == ["CertificateInvalid"] || c == ["TlogInvalid"],
        "staging does not vouch for a production signature: {r}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_cosign_attest_bundle_counts_for_its_keyless_attestor() {
    let reg = TestRegistry::start();
    let bundle = read("cosign/testdata/oci-attestation.sigstore.json");
    let (subject, predicate) = statement_of(&bundle);
    let repo = "cosign/attested";
    attach_bundle(&reg, repo, &subject, &bundle, &predicate).await;
    let dir = tempfile::tempdir().unwrap();
    // the image is signed by a key attestor; the attestation by the keyless one
    let (key, public) = common::keypair(dir.path(), "ci");
    let image = format!("{}/{repo}@{subject}", reg.addr);
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "pw")
        .arg("sign")
        .arg("--key")
        .arg(&key)
        .args(["--insecure-registry", &reg.addr, &image]));
    assert_eq!(r.code, 0, "{r}");
    std::fs::write(dir.path().join("ci.pub"), &public).unwrap();
    let manifests = dir.path().join("m");
    write_deployment(&manifests, "app.yaml", &[&image]);
    let policy = |subject: &str| {
        let y = format!(
            "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: att\nspec:\n  rules:\n    - name: r\n      images: [\"**\"]\n      signatures:\n        threshold: 1\n        attestors:\n          - name: ci\n            key: {{path: ci.pub}}\n          - name: cody\n            keyless: {{issuer: \"https://github.com/login/oauth\", subject: {subject:?}}}\n      attestations:\n        - predicateType: custom\n          attestors: [cody]\n"
        );
        let p = dir.path().join("att.yaml");
        std::fs::write(&p, y).unwrap();
        p
    };
    let r = check(&manifests, &policy("cody@soyland.com"), &reg.addr, &[]);
    assert_eq!(r.code, 0, "{r}");
    let att = &r.json()["images"][0]["attestations"][0];
    assert_eq!(att["attestor"], "cody", "{r}");
    assert_eq!(att["verified"], true, "{r}");
    assert_eq!(att["source"], "fallback-tag", "{r}");
    let r = check(&manifests, &policy("someone@else.example"), &reg.addr, &[]);
    assert_eq!(codes(&r), ["AttestationMissing"], "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn connaisseur_legacy_keyless_signature_verifies_with_identity_and_issuer() {
    const REPO: &str = "securesystemsengineering/testimage";
    let reg = TestRegistry::start_with(|storage| load_dump(storage, REPO, &connaisseur_dump()));
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("m");
    write_deployment(&manifests, "app.yaml", &[&reg.reference(REPO, "keyless")]);
    let oauth = "https://github.com/login/oauth";
    let p = keyless_policy(
        dir.path(),
        oauth,
        "subject",
        "philipp.belitz@securesystems.de",
        "",
    );
    let r = check(&manifests, &p, &reg.addr, &[]);
    assert_eq!(r.code, 0, "{r}");
    let sig = &r.json()["images"][0]["signatures"][0];
    assert_eq!(sig["verified"], true, "{r}");
    assert_eq!(sig["source"], "legacy-tag", "{r}");
    assert_eq!(sig["identity"], "philipp.belitz@securesystems.de", "{r}");
    for (issuer, subject) in [
        (oauth, "someone.else@securesystems.de"),
        (
            "https://accounts.google.com",
            "philipp.belitz@securesystems.de",
        ),
    ] {
        let p = keyless_policy(dir.path(), issuer, "subject", subject, "");
        let r = check(&manifests, &p, &reg.addr, &[]);
        assert_eq!(r.code, 1, "{r}");
        assert_eq!(codes(&r), ["IdentityMismatch"], "{r}");
    }
    // a key attestor does not accept the keyless signature
    let alice = std::fs::read_to_string(connaisseur_dump().join("../../alice.key")).unwrap();
    let p = common::write_policy(dir.path(), "**", &[("alice", &alice)], None, "");
    let r = check(&manifests, &p, &reg.addr, &[]);
    assert_eq!(codes(&r), ["NoMatchingSignature"], "{r}");
}
