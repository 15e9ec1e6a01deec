//! `sealgate check` against a real CNCF distribution registry: interop with real cosign
//! output (connaisseur fixtures), images signed by the independent `sigstore` crate, the
//! negative matrix (each asserting the exact reason code and decision), auth, retries
//! and request budgets. Black box: the binary is run and its exit code and JSON checked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::proxy::{Proxy, Rule};
use common::*;
use serde_json::Value;
use sigstore::crypto::SigningScheme;

const REPO: &str = "securesystemsengineering/testimage";

fn check(reg: &str, dir: &Path, policy: &Path, extra: &[&str]) -> Run {
    run(sealgate()
        .arg("check")
        .arg(dir.join("deploy"))
        .arg("--policy")
        .arg(policy)
        .args(["--insecure-registry", reg, "-o", "json"])
        .args(extra))
}

/// The single image entry of a report.
fn only_image(r: &Run) -> Value {
    let j = r.json();
    let imgs = j["images"]
        .as_array()
        .unwrap_or_else(|| panic!("no images: {r}"));
    assert_eq!(imgs.len(), 1, "{r}");
    imgs[0].clone()
}

fn codes(img: &Value) -> Vec<String> {
    img["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts blocked (exit 1) with exactly this first reason code and verdict.
fn assert_blocked(r: &Run, verdict: &str, code: &str) {
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(r.json()["decision"], "blocked", "{r}");
    let img = only_image(r);
    assert_eq!(img["verdict"], verdict, "{r}");
    assert_eq!(codes(&img).first().map(String::as_str), Some(code), "{r}");
}

fn key(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(format!("connaisseur/cosign/{name}.key"))).unwrap()
}

fn connaisseur_registry() -> TestRegistry {
    TestRegistry::start_with(|storage| load_dump(storage, REPO, &connaisseur_dump()))
}

#[test]
fn real_cosign_signatures_alice_and_k_of_n() {
    let reg = connaisseur_registry();
    let dir = tempfile::tempdir().unwrap();
    let img = |tag: &str| reg.reference(REPO, tag);

    // alice-signed image passes with alice's key
    write_deployment(dir.path(), "deploy/a.yaml", &[&img("multi-cosigned-alice")]);
    let p = write_policy(dir.path(), "**", &[("alice", &key("alice"))], None, "");
    let r = check(&reg.addr, dir.path(), &p, &[]);
    assert_eq!(r.code, 0, "{r}");
    let i = only_image(&r);
    assert_eq!(i["verdict"], "pass");
    assert_eq!(
        i["digest"],
        "sha256:071bf7a986f1ca9cb2a1f0bc8392822a7777f90d58f2d2c6f271913e08de7c81"
    );
    assert_eq!(i["signatures"][0]["attestor"], "alice");
    assert_eq!(i["signatures"][0]["verified"], true);
    assert_eq!(i["signatures"][0]["source"], "legacy-tag");
    assert_eq!(
        i["locations"][0]["pointer"],
        "/spec/template/spec/containers/0/image"
    );

    // ... and fails with bob's
    let p = write_policy(dir.path(), "**", &[("bob", &key("bob"))], None, "");
    assert_blocked(
        &check(&reg.addr, dir.path(), &p, &[]),
        "fail",
        "NoMatchingSignature",
    );

    // alice+bob+charlie: 2-of-3 and 3-of-3 pass
    write_deployment(
        dir.path(),
        "deploy/a.yaml",
        &[&img("multi-cosigned-alice-bob-charlie")],
    );
    let abc = [
        ("alice", key("alice")),
        ("bob", key("bob")),
        ("charlie", key("charlie")),
    ];
    let abc: Vec<(&str, &str)> = abc.iter().map(|(n, k)| (*n, k.as_str())).collect();
    for t in [2, 3] {
        let p = write_policy(dir.path(), "**", &abc, Some(t), "");
        let r = check(&reg.addr, dir.path(), &p, &[]);
        assert_eq!(r.code, 0, "threshold {t}: {r}");
        let sigs = only_image(&r)["signatures"].as_array().unwrap().clone();
        assert!(sigs.iter().all(|s| s["verified"] == true), "{r}");
    }
    // 3-of-3 with one wrong key fails ThresholdNotMet, naming who verified
    let p = write_policy(
        dir.path(),
        "**",
        &[
            ("alice", &key("alice")),
            ("bob", &key("bob")),
            ("mallory", &key("default")),
        ],
        Some(3),
        "",
    );
    let r = check(&reg.addr, dir.path(), &p, &[]);
    assert_blocked(&r, "fail", "ThresholdNotMet");
    let msg = only_image(&r)["reasons"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("2 of 3") && msg.contains("missing: mallory"),
        "{msg}"
    );

    // the unsigned image (`co-unsigned.json`, the bytes `{}`) fails NoSignature. The real
    // registry refuses to serve a manifest that is not a known schema, so the proxy serves
    // those exact fixture bytes and forwards the signature lookup to the registry.
    let proxy = Proxy::start(&reg.addr);
    let unsigned = std::fs::read(connaisseur_dump().join("manifests/co-unsigned.json")).unwrap();
    proxy.rule(
        Rule::new("/manifests/co-unsigned", usize::MAX, 200)
            .header("Content-Type", OCI_MANIFEST)
            .body(unsigned.clone()),
    );
    write_deployment(
        dir.path(),
        "deploy/a.yaml",
        &[&format!("{}/{REPO}:co-unsigned", proxy.addr)],
    );
    let p = write_policy(dir.path(), "**", &[("alice", &key("alice"))], None, "");
    let r = check(&proxy.addr, dir.path(), &p, &[]);
    assert_blocked(&r, "fail", "NoSignature");
    assert_eq!(only_image(&r)["digest"], sha256(&unsigned).as_str());
    assert_eq!(
        proxy.count(&format!(
            "/manifests/{}.sig",
            sha256(&unsigned).replace(':', "-")
        )),
        1
    );

    // a keyless-signed image does not verify with a key
    write_deployment(dir.path(), "deploy/a.yaml", &[&img("keyless")]);
    assert_blocked(
        &check(&reg.addr, dir.path(), &p, &[]),
        "fail",
        "NoMatchingSignature",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn images_signed_by_the_sigstore_crate_verify_for_every_key_type() {
    let reg = TestRegistry::start();
    let client = oci();
    let dir = tempfile::tempdir().unwrap();
    let schemes = [
        ("p256", SigningScheme::ECDSA_P256_SHA256_ASN1),
        ("p384", SigningScheme::ECDSA_P384_SHA384_ASN1),
        ("p521", SigningScheme::ECDSA_P521_SHA512_ASN1),
        ("rsa-pkcs1", SigningScheme::RSA_PKCS1_SHA256(2048)),
        ("rsa-pss", SigningScheme::RSA_PSS_SHA256(2048)),
        ("ed25519", SigningScheme::ED25519),
    ];
    for (name, scheme) in schemes {
        let s = signer(scheme);
        let repo = format!("interop/{name}");
        let digest = push_image(&client, &reg, &repo, "v1").await;
        let payload = cosign_payload(&format!("{}/{repo}", reg.addr), &digest);
        push_signature(
            &client,
            &reg,
            &repo,
            &digest,
            &[SigLayer {
                signature: Some(s.sign_b64(&payload)),
                payload,
            }],
        )
        .await;
        write_deployment(dir.path(), "deploy/a.yaml", &[&reg.reference(&repo, "v1")]);
        let p = write_policy(dir.path(), "**", &[("ci", &s.public_pem)], None, "");
        let r = check(&reg.addr, dir.path(), &p, &[]);
        assert_eq!(r.code, 0, "{name}: {r}");
        assert_eq!(only_image(&r)["digest"], digest.as_str(), "{name}");
        // a different key of the same type does not verify
        let other = signer(match name {
            "p256" => SigningScheme::ECDSA_P256_SHA256_ASN1,
            "p384" => SigningScheme::ECDSA_P384_SHA384_ASN1,
            "p521" => SigningScheme::ECDSA_P521_SHA512_ASN1,
            "ed25519" => SigningScheme::ED25519,
            _ => SigningScheme::RSA_PKCS1_SHA256(2048),
        });
        let p = write_policy(dir.path(), "**", &[("ci", &other.public_pem)], None, "");
        assert_blocked(
            &check(&reg.addr, dir.path(), &p, &[]),
            "fail",
            "NoMatchingSignature",
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn signature_pushed_by_the_sigstore_cosign_client_verifies() {
    use sigstore::cosign::constraint::{Constraint as _, PrivateKeySigner};
    use sigstore::cosign::{ClientBuilder, CosignCapabilities as _};
    use sigstore::registry::{Auth, OciReference};

    let reg = TestRegistry::start();
    let digest = push_image(&oci(), &reg, "interop/cosign-client", "v1").await;
    let s = signer(SigningScheme::ECDSA_P256_SHA256_ASN1);
    let public_pem = s.public_pem.clone();
    let image: OciReference = format!("{}/interop/cosign-client@{digest}", reg.addr)
        .parse()
        .unwrap();
    let mut client = ClientBuilder::default()
        .with_oci_client_config(sigstore::registry::ClientConfig {
            protocol: sigstore::registry::ClientProtocol::Http,
            ..Default::default()
        })
        .build()
        .unwrap();
    let (sig_ref, _) = client.triangulate(&image, &Auth::Anonymous).await.unwrap();
    let mut layer =
        sigstore::cosign::signature_layers::SignatureLayer::new_unsigned(&image, &digest).unwrap();
    assert!(
        PrivateKeySigner::new_with_signer(s.signer)
            .add_constraint(&mut layer)
            .unwrap()
    );
    client
        .push_signature(None, &Auth::Anonymous, &sig_ref, vec![layer])
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    write_deployment(
        dir.path(),
        "deploy/a.yaml",
        &[&reg.reference("interop/cosign-client", "v1")],
    );
    let p = write_policy(dir.path(), "**", &[("ci", &public_pem)], None, "");
    let r = check(&reg.addr, dir.path(), &p, &[]);
    assert_eq!(r.code, 0, "{r}");
}

/// One signed image `neg/app:v1`; returns (registry, signer, digest, payload).
async fn signed_image(reg: &TestRegistry, repo: &str) -> (Signer, String, Vec<u8>) {
    let client = oci();
    let s = signer(SigningScheme::ECDSA_P256_SHA256_ASN1);
    let digest = push_image(&client, reg, repo, "v1").await;
    let payload = cosign_payload(&format!("{}/{repo}", reg.addr), &digest);
    push_signature(
        &client,
        reg,
        repo,
        &digest,
        &[SigLayer {
            signature: Some(s.sign_b64(&payload)),
            payload: payload.clone(),
        }],
    )
    .await;
    (s, digest, payload)
}

fn setup(
    reg: &TestRegistry,
    repo: &str,
    pem: &str,
    extra_spec: &str,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    write_deployment(dir.path(), "deploy/a.yaml", &[&reg.reference(repo, "v1")]);
    let p = write_policy(
        dir.path(),
        &format!("{}/**", reg.addr),
        &[("ci", pem)],
        None,
        extra_spec,
    );
    (dir, p)
}

#[tokio::test(flavor = "multi_thread")]
async fn negative_matrix_signatures() {
    let reg = TestRegistry::start();
    let client = oci();

    // unsigned
    push_image(&client, &reg, "neg/unsigned", "v1").await;
    let s = signer(SigningScheme::ECDSA_P256_SHA256_ASN1);
    let (dir, p) = setup(&reg, "neg/unsigned", &s.public_pem, "");
    assert_blocked(
        &check(&reg.addr, dir.path(), &p, &[]),
        "fail",
        "NoSignature",
    );

    // untrusted key
    let (_s, _, _) = signed_image(&reg, "neg/untrusted").await;
    let (dir, p) = setup(&reg, "neg/untrusted", &s.public_pem, "");
    assert_blocked(
        &check(&reg.addr, dir.path(), &p, &[]),
        "fail",
        "NoMatchingSignature",
    );

    // replayed: a valid signature of image A copied to image B's .sig tag
    let (sa, _da, payload_a) = signed_image(&reg, "neg/replay").await;
    let db = push_image(&client, &reg, "neg/replay", "other").await;
    push_signature(
        &client,
        &reg,
        "neg/replay",
        &db,
        &[SigLayer {
            signature: Some(sa.sign_b64(&payload_a)),
            payload: payload_a.clone(),
        }],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    write_deployment(
        dir.path(),
        "deploy/a.yaml",
        &[&reg.reference("neg/replay", "other")],
    );
    let p = write_policy(dir.path(), "**", &[("ci", &sa.public_pem)], None, "");
    assert_blocked(
        &check(&reg.addr, dir.path(), &p, &[]),
        "fail",
        "PayloadDigestMismatch",
    );

    // tampered payload (re-pushed consistently, so the digests match but the signature does not)
    let (st, dt, payload_t) = signed_image(&reg, "neg/tampered").await;
    let sig = st.sign_b64(&payload_t);
    let mut tampered = payload_t.clone();
    let pos = tampered.windows(6).position(|w| w == b"neg/ta").unwrap();
    tampered[pos] = b'N';
    push_signature(
        &client,
        &reg,
        "neg/tampered",
        &dt,
        &[SigLayer {
            signature: Some(sig.clone()),
            payload: tampered,
        }],
    )
    .await;
    let (dir, p) = setup(&reg, "neg/tampered", &st.public_pem, "");
    assert_blocked(
        &check(&reg.addr, dir.path(), &p, &[]),
        "fail",
        "NoMatchingSignature",
    );

    // tampered signature annotation: not a signature at all
    push_signature(
        &client,
        &reg,
        "neg/tampered",
        &dt,
        &[SigLayer {
            signature: Some("!!not base64!!".into()),
            payload: payload_t.clone(),
        }],
    )
    .await;
    assert_blocked(
        &check(&reg.addr, dir.path(), &p, &[]),
        "fail",
        "SignatureInvalid",
    );
    // tampered signature annotation: a well-formed signature with one bit flipped
    let mut raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &sig).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    push_signature(
        &client,
        &reg,
        "neg/tampered",
        &dt,
        &[SigLayer {
            signature: Some(b64(&raw)),
            payload: payload_t,
        }],
    )
    .await;
    assert_blocked(
        &check(&reg.addr, dir.path(), &p, &[]),
        "fail",
        "NoMatchingSignature",
    );

    // tag moved after signing: the new digest carries no signature
    let (sm, dm, _) = signed_image(&reg, "neg/moved").await;
    let (dir, p) = setup(&reg, "neg/moved", &sm.public_pem, "");
    assert_eq!(check(&reg.addr, dir.path(), &p, &[]).code, 0);
    let moved = push_image(&client, &reg, "neg/moved", "v1").await;
    assert_ne!(moved, dm);
    let r = check(&reg.addr, dir.path(), &p, &[]);
    assert_blocked(&r, "fail", "NoSignature");
    assert_eq!(only_image(&r)["digest"], moved.as_str());

    // malformed signature manifest: valid JSON, but layers is not a list
    let (sx, dx, _) = signed_image(&reg, "neg/malformed").await;
    let proxy = Proxy::start(&reg.addr);
    let tag = format!("{}.sig", dx.replace(':', "-"));
    proxy.rule(
        Rule::new(&tag, usize::MAX, 200)
            .header("Content-Type", OCI_MANIFEST)
            .body(br#"{"schemaVersion":2,"layers":{"a":1}}"#.to_vec()),
    );
    let dir = tempfile::tempdir().unwrap();
    write_deployment(
        dir.path(),
        "deploy/a.yaml",
        &[&format!("{}/neg/malformed:v1", proxy.addr)],
    );
    let p = write_policy(dir.path(), "**", &[("ci", &sx.public_pem)], None, "");
    assert_blocked(
        &check(&proxy.addr, dir.path(), &p, &[]),
        "unverifiable",
        "MalformedSignature",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn negative_matrix_registry() {
    let reg = TestRegistry::start();
    let (s, digest, payload) = signed_image(&reg, "neg/app").await;

    // registry not on the allowlist
    let (dir, p) = setup(
        &reg,
        "neg/app",
        &s.public_pem,
        "  registries: [ghcr.io/acme]\n",
    );
    assert_blocked(
        &check(&reg.addr, dir.path(), &p, &[]),
        "fail",
        "RegistryNotAllowed",
    );
    // ...and on it
    let (dir, p) = setup(
        &reg,
        "neg/app",
        &s.public_pem,
        &format!("  registries: [\"{}/neg\"]\n", reg.addr),
    );
    assert_eq!(check(&reg.addr, dir.path(), &p, &[]).code, 0);

    // no rule matches (default unmatched: deny), and unmatched: allow
    let dir = tempfile::tempdir().unwrap();
    write_deployment(
        dir.path(),
        "deploy/a.yaml",
        &[&reg.reference("neg/app", "v1")],
    );
    let p = write_policy(
        dir.path(),
        "ghcr.io/acme/**",
        &[("ci", &s.public_pem)],
        None,
        "",
    );
    assert_blocked(
        &check(&reg.addr, dir.path(), &p, &[]),
        "fail",
        "NoPolicyMatch",
    );
    let p = write_policy(
        dir.path(),
        "ghcr.io/acme/**",
        &[("ci", &s.public_pem)],
        None,
        "  unmatched: allow\n",
    );
    let before = reg.log_lines().len();
    let r = check(&reg.addr, dir.path(), &p, &[]);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(only_image(&r)["verdict"], "allowed");
    assert_eq!(
        reg.log_lines().len(),
        before,
        "an image allowed unchecked costs no registry request"
    );

    // 404
    let (dir, p) = setup(&reg, "neg/absent", &s.public_pem, "");
    assert_blocked(
        &check(&reg.addr, dir.path(), &p, &[]),
        "unverifiable",
        "ImageNotFound",
    );

    // registry down
    let down = format!("127.0.0.1:{}", free_port());
    let dir = tempfile::tempdir().unwrap();
    write_deployment(
        dir.path(),
        "deploy/a.yaml",
        &[&format!("{down}/neg/app:v1")],
    );
    let p = write_policy(dir.path(), "**", &[("ci", &s.public_pem)], None, "");
    assert_blocked(
        &check(&down, dir.path(), &p, &["--timeout", "5"]),
        "unverifiable",
        "RegistryUnavailable",
    );

    // 429 then success: Retry-After honoured, the check passes
    let proxy = Proxy::start(&reg.addr);
    proxy.rule(Rule::new("/manifests/v1", 2, 429).header("Retry-After", "1"));
    let dir = tempfile::tempdir().unwrap();
    write_deployment(
        dir.path(),
        "deploy/a.yaml",
        &[&format!("{}/neg/app:v1", proxy.addr)],
    );
    let p = write_policy(dir.path(), "**", &[("ci", &s.public_pem)], None, "");
    let started = std::time::Instant::now();
    let r = check(&proxy.addr, dir.path(), &p, &[]);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(proxy.count("/manifests/v1"), 3, "{:?}", proxy.log());
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "Retry-After: 1 twice was not honoured"
    );

    // 429 forever: bounded retries, then RegistryRateLimited
    let proxy = Proxy::start(&reg.addr);
    proxy.rule(Rule::new("/manifests/v1", usize::MAX, 429).header("Retry-After", "0"));
    write_deployment(
        dir.path(),
        "deploy/a.yaml",
        &[&format!("{}/neg/app:v1", proxy.addr)],
    );
    assert_blocked(
        &check(&proxy.addr, dir.path(), &p, &[]),
        "unverifiable",
        "RegistryRateLimited",
    );
    assert_eq!(
        proxy.count("/manifests/v1"),
        4,
        "1 try + 3 retries: {:?}",
        proxy.log()
    );

    // 503 forever: RegistryUnavailable
    let proxy = Proxy::start(&reg.addr);
    proxy.rule(Rule::new("/manifests/v1", usize::MAX, 503));
    write_deployment(
        dir.path(),
        "deploy/a.yaml",
        &[&format!("{}/neg/app:v1", proxy.addr)],
    );
    assert_blocked(
        &check(&proxy.addr, dir.path(), &p, &[]),
        "unverifiable",
        "RegistryUnavailable",
    );

    // a registry that does not answer within --timeout
    let proxy = Proxy::start(&reg.addr);
    proxy
        .rule(Rule::new("/manifests/v1", usize::MAX, 200).delay(std::time::Duration::from_secs(3)));
    write_deployment(
        dir.path(),
        "deploy/a.yaml",
        &[&format!("{}/neg/app:v1", proxy.addr)],
    );
    assert_blocked(
        &check(&proxy.addr, dir.path(), &p, &["--timeout", "1"]),
        "unverifiable",
        "Timeout",
    );

    // oversize manifest
    let proxy = Proxy::start(&reg.addr);
    let tag = format!("{}.sig", digest.replace(':', "-"));
    proxy.rule(Rule::new(&tag, usize::MAX, 200).body(vec![b' '; 5 * 1024 * 1024]));
    write_deployment(
        dir.path(),
        "deploy/a.yaml",
        &[&format!("{}/neg/app:v1", proxy.addr)],
    );
    assert_blocked(
        &check(&proxy.addr, dir.path(), &p, &[]),
        "unverifiable",
        "ResponseTooLarge",
    );

    // a manifest whose bytes do not match the announced digest
    let proxy = Proxy::start(&reg.addr);
    proxy.rule(
        Rule::new("/manifests/v1", usize::MAX, 200)
            .header("Docker-Content-Digest", &digest)
            .body(br#"{"schemaVersion":2}"#.to_vec()),
    );
    write_deployment(
        dir.path(),
        "deploy/a.yaml",
        &[&format!("{}/neg/app:v1", proxy.addr)],
    );
    assert_blocked(
        &check(&proxy.addr, dir.path(), &p, &[]),
        "unverifiable",
        "ContentDigestMismatch",
    );

    // a blob whose stored bytes do not match its digest (tampered in the registry's storage)
    let payload_digest = sha256(&payload);
    let hex = &payload_digest[7..];
    let blob = reg.storage().join(format!(
        "docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ));
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[10] ^= 0x20;
    std::fs::write(&blob, bytes).unwrap();
    let (dir, p) = setup(&reg, "neg/app", &s.public_pem, "");
    assert_blocked(
        &check(&reg.addr, dir.path(), &p, &[]),
        "unverifiable",
        "ContentDigestMismatch",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_with_docker_config_and_credential_helper() {
    let reg = TestRegistry::start_htpasswd("bot", "s3cret-pw");
    let client = oci_client::Client::new(oci_client::client::ClientConfig {
        protocol: oci_client::client::ClientProtocol::Http,
        ..Default::default()
    });
    let auth = oci_client::secrets::RegistryAuth::Basic("bot".into(), "s3cret-pw".into());
    let image: oci_client::Reference = format!("{}/private/app:v1", reg.addr).parse().unwrap();
    client
        .auth(&image, &auth, oci_client::RegistryOperation::Push)
        .await
        .unwrap();
    let digest = push_image(&client, &reg, "private/app", "v1").await;
    let s = signer(SigningScheme::ECDSA_P256_SHA256_ASN1);
    let payload = cosign_payload(&format!("{}/private/app", reg.addr), &digest);
    push_signature(
        &client,
        &reg,
        "private/app",
        &digest,
        &[SigLayer {
            signature: Some(s.sign_b64(&payload)),
            payload,
        }],
    )
    .await;
    let (dir, p) = setup(&reg, "private/app", &s.public_pem, "");

    // 401 without credentials
    let empty = tempfile::tempdir().unwrap();
    let r = check(
        &reg.addr,
        dir.path(),
        &p,
        &["--docker-config", empty.path().to_str().unwrap()],
    );
    assert_blocked(&r, "unverifiable", "RegistryAuthFailed");
    assert!(!r.stdout.contains("s3cret") && !r.stderr.contains("s3cret"));

    // config.json auths
    let cfg = tempfile::tempdir().unwrap();
    std::fs::write(
        cfg.path().join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            reg.addr,
            b64(b"bot:s3cret-pw")
        ),
    )
    .unwrap();
    let r = check(
        &reg.addr,
        dir.path(),
        &p,
        &["--docker-config", cfg.path().to_str().unwrap(), "-vv"],
    );
    assert_eq!(r.code, 0, "{r}");
    assert!(
        !r.stderr.contains("s3cret") && !r.stderr.contains(&b64(b"bot:s3cret-pw")),
        "secret logged: {r}"
    );

    // credHelpers through the docker-credential-<name> protocol
    let bin = tempfile::tempdir().unwrap();
    let helper = bin.path().join("docker-credential-sgtest");
    std::fs::write(
        &helper,
        "#!/bin/sh\nread server\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"bot\",\"Secret\":\"s3cret-pw\"}' \"$server\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        cfg.path().join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"sgtest"}}}}"#, reg.addr),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let with_helper_on_path = || {
        run(sealgate()
            .env("PATH", &path)
            .arg("check")
            .arg(dir.path().join("deploy"))
            .arg("--policy")
            .arg(&p)
            .args([
                "--insecure-registry",
                &reg.addr,
                "-o",
                "json",
                "--docker-config",
                cfg.path().to_str().unwrap(),
            ]))
    };
    let r = with_helper_on_path();
    assert_eq!(r.code, 0, "{r}");
    // credsStore: the same protocol, for every registry
    std::fs::write(cfg.path().join("config.json"), r#"{"credsStore":"sgtest"}"#).unwrap();
    let r = with_helper_on_path();
    assert_eq!(r.code, 0, "{r}");
}

/// A signed image behind a proxy demanding bearer tokens (`open_ping`: `/v2/` answers
/// anonymously); returns (registry, proxy, work dir with deploy/, policy).
async fn bearer_setup(
    open_ping: bool,
) -> (TestRegistry, Proxy, tempfile::TempDir, std::path::PathBuf) {
    let reg = TestRegistry::start();
    let (s, _, _) = signed_image(&reg, "tok/app").await;
    let proxy = Proxy::start(&reg.addr);
    if open_ping {
        proxy.require_bearer_open_ping("bot", "pw");
    } else {
        proxy.require_bearer("bot", "pw");
    }
    let dir = tempfile::tempdir().unwrap();
    write_deployment(
        dir.path(),
        "deploy/a.yaml",
        &[&format!("{}/tok/app:v1", proxy.addr)],
    );
    let p = write_policy(dir.path(), "**", &[("ci", &s.public_pem)], None, "");
    (reg, proxy, dir, p)
}

/// A docker config directory with username/password auths for `registry`.
fn docker_config_for(registry: &str, user: &str, password: &str) -> tempfile::TempDir {
    let cfg = tempfile::tempdir().unwrap();
    std::fs::write(
        cfg.path().join("config.json"),
        format!(r#"{{"auths":{{"{registry}":{{"username":"{user}","password":"{password}"}}}}}}"#),
    )
    .unwrap();
    cfg
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_token_challenge_fetches_one_token_per_repository() {
    let (_reg, proxy, dir, p) = bearer_setup(false).await;
    // anonymous: the token endpoint refuses
    let r = check(&proxy.addr, dir.path(), &p, &[]);
    assert_blocked(&r, "unverifiable", "RegistryAuthFailed");
    // with credentials: one ping, one token, then manifest + sig manifest + blob
    let cfg = docker_config_for(&proxy.addr, "bot", "pw");
    let before = proxy.log().len();
    let r = check(
        &proxy.addr,
        dir.path(),
        &p,
        &["--docker-config", cfg.path().to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{r}");
    let log: Vec<String> = proxy.log()[before..].to_vec();
    assert_eq!(proxy.tokens_issued(), 1, "{log:?}");
    assert_eq!(
        log.iter().filter(|l| l.ends_with("/v2/")).count(),
        1,
        "{log:?}"
    );
    assert_eq!(
        log.len(),
        7,
        "ping + token + manifest + referrers API + fallback tag + .sig + blob: {log:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn challenge_on_a_repository_after_an_anonymous_ping() {
    let (_reg, proxy, dir, p) = bearer_setup(true).await;
    let cfg = docker_config_for(&proxy.addr, "bot", "pw");
    let r = check(
        &proxy.addr,
        dir.path(),
        &p,
        &["--docker-config", cfg.path().to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(proxy.tokens_issued(), 1, "{:?}", proxy.log());
    assert_eq!(
        proxy.log().len(),
        8,
        "ping, 401, token, manifest, referrers API, fallback tag, .sig, blob: {:?}",
        proxy.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_digest_resolved_once_and_each_signature_fetched_once() {
    let reg = TestRegistry::start();
    let client = oci();
    let keys: Vec<Signer> = (0..3)
        .map(|_| signer(SigningScheme::ECDSA_P256_SHA256_ASN1))
        .collect();
    let mut refs = Vec::new();
    for name in ["count/a", "count/b"] {
        let digest = push_image(&client, &reg, name, "v1").await;
        let payload = cosign_payload(&format!("{}/{name}", reg.addr), &digest);
        let layers: Vec<SigLayer> = keys
            .iter()
            .map(|k| SigLayer {
                signature: Some(k.sign_b64(&payload)),
                payload: payload.clone(),
            })
            .collect();
        push_signature(&client, &reg, name, &digest, &layers).await;
        refs.push(reg.reference(name, "v1"));
    }
    let dir = tempfile::tempdir().unwrap();
    for i in 0..50 {
        // 3 containers per manifest over the same 2 images
        write_deployment(
            dir.path(),
            &format!("deploy/app-{i:02}.yaml"),
            &[&refs[0], &refs[1], &refs[i % 2]],
        );
    }
    let att: Vec<(String, String)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (format!("k{i}"), k.public_pem.clone()))
        .collect();
    let att: Vec<(&str, &str)> = att.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let p = write_policy(dir.path(), "**", &att, None, "");
    let before = reg.log_lines().len();
    // one request at a time: what discovery learned from count/a is exact for count/b
    let r = check(&reg.addr, dir.path(), &p, &["--concurrency", "1"]);
    assert_eq!(r.code, 0, "{r}");
    let j = r.json();
    assert_eq!(j["summary"]["manifests"], 50);
    assert_eq!(j["images"].as_array().unwrap().len(), 2);
    assert_eq!(
        j["images"][0]["locations"].as_array().unwrap().len(),
        75,
        "{}",
        j["images"][0]
    );
    let log: Vec<String> = reg.log_lines()[before..].to_vec();
    for name in ["count/a", "count/b"] {
        let resolves = log
            .iter()
            .filter(|l| l.contains(&format!("/v2/{name}/manifests/v1 ")))
            .count();
        let referrers = log
            .iter()
            .filter(|l| l.contains(&format!("/v2/{name}/referrers/sha256:")))
            .count();
        let sigs = log
            .iter()
            .filter(|l| l.contains(&format!("/v2/{name}/manifests/sha256-")))
            .count();
        let blobs = log
            .iter()
            .filter(|l| l.contains(&format!("/v2/{name}/blobs/")))
            .count();
        // count/a: the fallback tag (absent) and the `.sig` tag; count/b: the registry's
        // repositories keep their signatures in `.sig` tags, so only that one
        let want_sigs = if name == "count/a" { 2 } else { 1 };
        assert_eq!(
            (resolves, sigs, blobs),
            (1, want_sigs, 1),
            "{name}: {log:#?}"
        );
        assert!(referrers <= 1, "{name}: {log:#?}");
    }
    assert_eq!(
        log.iter().filter(|l| l.contains("GET /v2/ ")).count(),
        1,
        "one ping: {log:#?}"
    );
    // the referrers API is probed once per registry (single flight): its 404 says the
    // registry has none, and it is not asked again in the run
    let referrers = log.iter().filter(|l| l.contains("/referrers/")).count();
    assert_eq!(referrers, 1, "{log:#?}");
    assert_eq!(log.len(), 9, "{log:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn requires_digest_and_pins_on_pass() {
    let reg = TestRegistry::start();
    let (s, digest, _) = signed_image(&reg, "pin/app").await;
    let dir = tempfile::tempdir().unwrap();
    let deploy = dir.path().join("deploy");
    std::fs::create_dir_all(&deploy).unwrap();
    let image = reg.reference("pin/app", "v1");
    let original = format!(
        "# production web\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  template:\n    spec:\n      containers:\n        - name: web   # main\n          image: \"{image}\"  # pinned by sealgate\n          ports: [{{containerPort: 80}}]\n"
    );
    std::fs::write(deploy.join("web.yaml"), &original).unwrap();
    let p = write_policy(dir.path(), "**", &[("ci", &s.public_pem)], None, "");
    // requireDigest: a tag-only reference fails TagNotPinned
    let strict = std::fs::read_to_string(&p).unwrap().replace(
        "      signatures:",
        "      requireDigest: true\n      signatures:",
    );
    let strict_p = dir.path().join("strict.yaml");
    std::fs::write(&strict_p, strict).unwrap();
    assert_blocked(
        &check(&reg.addr, dir.path(), &strict_p, &[]),
        "fail",
        "TagNotPinned",
    );
    // --pin rewrites only the scalar
    let r = check(&reg.addr, dir.path(), &p, &["--pin"]);
    assert_eq!(r.code, 0, "{r}");
    let pinned = std::fs::read_to_string(deploy.join("web.yaml")).unwrap();
    assert_eq!(
        pinned,
        original.replace(&image, &format!("{image}@{digest}"))
    );
    // now the strict policy passes too
    assert_eq!(check(&reg.addr, dir.path(), &strict_p, &[]).code, 0);
    // a blocked check pins nothing
    let other = signer(SigningScheme::ECDSA_P256_SHA256_ASN1);
    std::fs::write(deploy.join("web.yaml"), &original).unwrap();
    let p = write_policy(dir.path(), "**", &[("ci", &other.public_pem)], None, "");
    assert_eq!(check(&reg.addr, dir.path(), &p, &["--pin"]).code, 1);
    assert_eq!(
        std::fs::read_to_string(deploy.join("web.yaml")).unwrap(),
        original
    );
}
