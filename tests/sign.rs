//! `sealgate sign` against a real registry: what it writes verifies with `sealgate check`
//! and with the independent `sigstore` crate's cosign client; layers of other signers
//! (real cosign output) are kept; signing twice adds nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::*;

fn sign(reg: &TestRegistry, key: &Path, extra: &[&str], images: &[&str]) -> Run {
    run(sealgate()
        .env("COSIGN_PASSWORD", "pw")
        .arg("sign")
        .arg("--key")
        .arg(key)
        .args(["--insecure-registry", &reg.addr])
        .args(extra)
        .args(images))
}

fn check(reg: &TestRegistry, dir: &Path, policy: &Path) -> Run {
    run(sealgate()
        .arg("check")
        .arg(dir.join("deploy"))
        .arg("--policy")
        .arg(policy)
        .args(["--insecure-registry", &reg.addr, "-o", "json"]))
}

fn sig_layers(reg: &TestRegistry, repo: &str, digest: &str) -> Vec<serde_json::Value> {
    let body = reg.get(
        &format!("/v2/{repo}/manifests/{}.sig", digest.replace(':', "-")),
        OCI_MANIFEST,
    );
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    v["layers"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn signatures_verify_here_and_in_the_sigstore_crate_and_are_idempotent() {
    let reg = TestRegistry::start();
    let digest = push_image(&oci(), &reg, "signed/app", "v1").await;
    let dir = tempfile::tempdir().unwrap();
    let (ci_key, ci_pub) = keypair(dir.path(), "ci");
    let (rel_key, rel_pub) = keypair(dir.path(), "release");
    let image = reg.reference("signed/app", "v1");

    let r = sign(&reg, &ci_key, &["-a", "env=prod"], &[&image]);
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stderr.contains("is a tag"), "a tag is warned about: {r}");
    assert_eq!(sig_layers(&reg, "signed/app", &digest).len(), 1);

    // again: nothing new
    let r = sign(
        &reg,
        &ci_key,
        &["-a", "env=prod"],
        &[&format!("{}/signed/app@{digest}", reg.addr)],
    );
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stderr.contains("already signed"), "{r}");
    assert_eq!(sig_layers(&reg, "signed/app", &digest).len(), 1);

    // a second signer appends
    assert_eq!(sign(&reg, &rel_key, &[], &[&image]).code, 0);
    let layers = sig_layers(&reg, "signed/app", &digest);
    assert_eq!(layers.len(), 2);

    // sealgate check: both attestors, 2 of 2
    write_deployment(dir.path(), "deploy/a.yaml", &[&image]);
    let p = write_policy(
        dir.path(),
        "**",
        &[("ci", &ci_pub), ("release", &rel_pub)],
        Some(2),
        "",
    );
    let r = check(&reg, dir.path(), &p);
    assert_eq!(r.code, 0, "{r}");

    // the sigstore crate's cosign client verifies our signature and our annotation
    use sigstore::cosign::verification_constraint::{
        AnnotationVerifier, PublicKeyVerifier, VerificationConstraintVec,
    };
    use sigstore::cosign::{ClientBuilder, CosignCapabilities as _};
    use sigstore::registry::{Auth, OciReference};
    let mut client = ClientBuilder::default()
        .with_oci_client_config(sigstore::registry::ClientConfig {
            protocol: sigstore::registry::ClientProtocol::Http,
            ..Default::default()
        })
        .build()
        .unwrap();
    let reference: OciReference = image.parse().unwrap();
    let found = client
        .trusted_signature_layers(&Auth::Anonymous, &reference)
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    let annotations = [("env".to_string(), "prod".to_string())]
        .into_iter()
        .collect();
    let constraints: VerificationConstraintVec = vec![
        Box::new(
            PublicKeyVerifier::new(
                ci_pub.as_bytes(),
                &sigstore::crypto::SigningScheme::ECDSA_P256_SHA256_ASN1,
            )
            .unwrap(),
        ),
        Box::new(AnnotationVerifier { annotations }),
    ];
    sigstore::cosign::verify_constraints(&found, constraints.iter()).unwrap();
}

#[test]
fn signing_keeps_other_signers_layers_written_by_cosign() {
    const REPO: &str = "securesystemsengineering/testimage";
    let reg = TestRegistry::start_with(|storage| load_dump(storage, REPO, &connaisseur_dump()));
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keypair(dir.path(), "ours");
    let image = reg.reference(REPO, "multi-cosigned-alice");
    let r = sign(&reg, &key, &[], &[&image]);
    assert_eq!(r.code, 0, "{r}");
    let layers = sig_layers(
        &reg,
        REPO,
        "sha256:071bf7a986f1ca9cb2a1f0bc8392822a7777f90d58f2d2c6f271913e08de7c81",
    );
    assert_eq!(layers.len(), 2, "alice's layer and ours");
    let alice = std::fs::read_to_string(fixtures().join("connaisseur/cosign/alice.key")).unwrap();
    write_deployment(dir.path(), "deploy/a.yaml", &[&image]);
    let p = write_policy(
        dir.path(),
        "**",
        &[("alice", &alice), ("ours", &public)],
        Some(2),
        "",
    );
    let r = check(&reg, dir.path(), &p);
    assert_eq!(
        r.code, 0,
        "alice's signature survived and ours verifies: {r}"
    );
}

#[test]
fn sign_failures_exit_non_zero() {
    let reg = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keypair(dir.path(), "k");
    // unknown image: 1, nothing written
    let r = sign(&reg, &key, &[], &[&reg.reference("nope/app", "v1")]);
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("not found"), "{r}");
    // wrong password: configuration error, 2
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "wrong")
        .arg("sign")
        .arg("--key")
        .arg(&key)
        .args([
            "--insecure-registry",
            &reg.addr,
            &reg.reference("nope/app", "v1"),
        ]));
    assert_eq!(r.code, 2, "{r}");
    // a bad annotation: 2
    let r = sign(
        &reg,
        &key,
        &["-a", "novalue"],
        &[&reg.reference("nope/app", "v1")],
    );
    assert_eq!(r.code, 2, "{r}");
}

#[test]
fn signs_into_an_oci_layout_that_check_reads_offline() {
    let dir = tempfile::tempdir().unwrap();
    let layout = demo_layout_copy(&dir.path().join("layout"));
    let (key, public) = keypair(dir.path(), "k");
    let image = "ghcr.io/sealgate-demo/debug-tools:latest";
    write_deployment(dir.path(), "deploy/a.yaml", &[image]);
    let p = write_policy(
        dir.path(),
        "ghcr.io/sealgate-demo/**",
        &[("k", &public)],
        None,
        "",
    );
    let offline = || {
        run(sealgate()
            .arg("check")
            .arg(dir.path().join("deploy"))
            .arg("--policy")
            .arg(&p)
            .args(["--offline", "--oci-layout"])
            .arg(&layout)
            .args(["-o", "json"]))
    };
    assert_eq!(offline().code, 1, "unsigned before");
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "pw")
        .arg("sign")
        .arg("--key")
        .arg(&key)
        .arg("--oci-layout")
        .arg(&layout)
        .arg(image));
    assert_eq!(r.code, 0, "{r}");
    let r = offline();
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(
        r.json()["images"][0]["signatures"][0]["source"],
        "oci-layout"
    );
    // the demo's own signatures are untouched
    let index = std::fs::read_to_string(layout.join("index.json")).unwrap();
    assert_eq!(index.matches(".sig\"").count(), 4, "{index}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_push_writes_nothing() {
    let reg = TestRegistry::start_htpasswd("bot", "pw2");
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keypair(dir.path(), "k");
    let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let before = reg.log_lines().len();
    let r = sign(
        &reg,
        &key,
        &["--docker-config", dir.path().to_str().unwrap()],
        &[&format!("{}/private/app@{digest}", reg.addr)],
    );
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stderr.contains("401") || r.stderr.to_lowercase().contains("auth"),
        "{r}"
    );
    let writes = reg.log_lines()[before..]
        .iter()
        .filter(|l| l.contains("\"PUT ") && l.contains(" 201 "))
        .count();
    assert_eq!(writes, 0, "{:#?}", reg.log_lines());
}

#[tokio::test(flavor = "multi_thread")]
async fn bundles_are_attached_through_the_referrers_fallback_tag() {
    use base64::Engine as _;
    let reg = TestRegistry::start();
    let digest = push_image(&oci(), &reg, "bundle/app", "v1").await;
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keypair(dir.path(), "k");
    let image = reg.reference("bundle/app", "v1");
    let r = sign(&reg, &key, &["--bundle", "-a", "team=web"], &[&image]);
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stderr.contains("listed at"), "{r}");

    // docker-registry has no referrers API: the sha256-<hex> index lists the referrer
    let get = |path: &str, accept: &str| {
        serde_json::from_slice::<serde_json::Value>(&reg.get(path, accept)).unwrap()
    };
    let index = get(
        &format!("/v2/bundle/app/manifests/{}", digest.replace(':', "-")),
        "application/vnd.oci.image.index.v1+json",
    );
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{index}");
    assert_eq!(
        entries[0]["artifactType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    assert_eq!(
        entries[0]["annotations"]["dev.sigstore.bundle.predicateType"],
        "https://sigstore.dev/cosign/sign/v1"
    );
    let referrer = get(
        &format!(
            "/v2/bundle/app/manifests/{}",
            entries[0]["digest"].as_str().unwrap()
        ),
        "application/vnd.oci.image.manifest.v1+json",
    );
    assert_eq!(referrer["subject"]["digest"], digest.as_str());
    assert_eq!(
        referrer["layers"][0]["mediaType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    let bundle = get(
        &format!(
            "/v2/bundle/app/blobs/{}",
            referrer["layers"][0]["digest"].as_str().unwrap()
        ),
        "*/*",
    );
    assert_eq!(
        bundle["mediaType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );

    // same shape as the real cosign v3 bundle in the sigstore-rs fixtures
    let real: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("sigstore-rs/data/bundle_v03.json")).unwrap(),
    )
    .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let real_stmt: serde_json::Value = serde_json::from_slice(
        &b64.decode(real["dsseEnvelope"]["payload"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let body = b64
        .decode(bundle["dsseEnvelope"]["payload"].as_str().unwrap())
        .unwrap();
    let stmt: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&stmt), keys(&real_stmt));
    assert_eq!(stmt["_type"], real_stmt["_type"]);
    assert_eq!(stmt["predicateType"], real_stmt["predicateType"]);
    assert_eq!(stmt["subject"][0]["digest"]["sha256"], &digest[7..]);
    assert_eq!(stmt["subject"][0]["annotations"]["team"], "web");
    assert_eq!(
        bundle["dsseEnvelope"]["payloadType"],
        real["dsseEnvelope"]["payloadType"]
    );

    // the key hint and the DSSE signature, checked with the sigstore crate
    let pk = sealgate::crypto::PublicKey::from_pem(&public).unwrap();
    assert_eq!(
        bundle["verificationMaterial"]["publicKey"]["hint"],
        b64.encode(sealgate::crypto::sha256(pk.spki_der()))
    );
    let mut pae = format!("DSSEv1 28 application/vnd.in-toto+json {} ", body.len()).into_bytes();
    pae.extend_from_slice(&body);
    let sig = b64
        .decode(
            bundle["dsseEnvelope"]["signatures"][0]["sig"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let vk = sigstore::crypto::CosignVerificationKey::from_pem(
        public.as_bytes(),
        &sigstore::crypto::SigningScheme::ECDSA_P256_SHA256_ASN1,
    )
    .unwrap();
    vk.verify_signature(sigstore::crypto::Signature::Raw(&sig), &pae)
        .unwrap();

    // again: nothing new; a second key: a second referrer, the first kept
    let r = sign(&reg, &key, &["--bundle", "-a", "team=web"], &[&image]);
    assert!(r.stderr.contains("already has this bundle"), "{r}");
    let (key2, _) = keypair(dir.path(), "k2");
    assert_eq!(sign(&reg, &key2, &["--bundle"], &[&image]).code, 0);
    let index = get(
        &format!("/v2/bundle/app/manifests/{}", digest.replace(':', "-")),
        "application/vnd.oci.image.index.v1+json",
    );
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2, "{index}");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_referrers_api_the_fallback_tag_is_left_alone() {
    let reg = TestRegistry::start();
    let digest = push_image(&oci(), &reg, "api/app", "v1").await;
    // docker-registry has no referrers API: a proxy answers it as an OCI 1.1 registry would
    let proxy = common::proxy::Proxy::start(&reg.addr);
    proxy.rule(
        common::proxy::Rule::new("/referrers/", usize::MAX, 200)
            .header("Content-Type", "application/vnd.oci.image.index.v1+json")
            .body(br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#.to_vec()),
    );
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keypair(dir.path(), "k");
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "pw")
        .arg("sign")
        .arg("--key")
        .arg(&key)
        .args([
            "--bundle",
            "--insecure-registry",
            &proxy.addr,
            &format!("{}/api/app@{digest}", proxy.addr),
        ]));
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stderr.contains("referrers API"), "{r}");
    let fallback = format!("/v2/api/app/manifests/{}", digest.replace(':', "-"));
    assert!(
        !proxy
            .log()
            .iter()
            .any(|l| l.starts_with("PUT ") && l.ends_with(&fallback)),
        "{:?}",
        proxy.log()
    );
    assert_eq!(
        proxy
            .log()
            .iter()
            .filter(|l| l.starts_with("PUT ") && l.contains("/manifests/sha256:"))
            .count(),
        1,
        "{:?}",
        proxy.log()
    );
}
