//! Black-box tests of `generate-key-pair` and `public-key`: cosign key files both ways
//! (keys made by cosign load; keys we make load in the independent `sigstore` crate).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt as _;

use common::*;

#[test]
fn generate_key_pair_writes_cosign_files_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("release");
    let gen_ = |extra: &[&str]| {
        run(sealgate()
            .env("COSIGN_PASSWORD", "s3cret-pw")
            .arg("generate-key-pair")
            .arg("--output-key-prefix")
            .arg(&prefix)
            .args(extra))
    };
    let r = gen_(&[]);
    assert_eq!(r.code, 0, "{r}");
    assert!(
        !r.stdout.contains("s3cret") && !r.stderr.contains("s3cret"),
        "{r}"
    );
    let key = std::fs::read_to_string(dir.path().join("release.key")).unwrap();
    let public = std::fs::read_to_string(dir.path().join("release.pub")).unwrap();
    assert!(
        key.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"),
        "{key}"
    );
    assert!(
        public.starts_with("-----BEGIN PUBLIC KEY-----\n"),
        "{public}"
    );
    let mode = std::fs::metadata(dir.path().join("release.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    // the independent sigstore crate decrypts it and finds the same public key
    let pair = sigstore::crypto::signing_key::SigStoreKeyPair::from_encrypted_pem(
        key.as_bytes(),
        b"s3cret-pw",
    )
    .unwrap();
    // (the sigstore crate writes CRLF line endings)
    assert_eq!(
        pair.public_key_to_pem()
            .unwrap()
            .replace("\r\n", "\n")
            .trim(),
        public.trim()
    );

    // public-key prints it back
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "s3cret-pw")
        .args(["public-key", "--key"])
        .arg(dir.path().join("release.key")));
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(r.stdout.trim(), public.trim());

    // no overwrite without --force; with it, a new key
    let r = gen_(&[]);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("already exists"), "{r}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("release.key")).unwrap(),
        key
    );
    let r = gen_(&["--force"]);
    assert_eq!(r.code, 0, "{r}");
    assert_ne!(
        std::fs::read_to_string(dir.path().join("release.pub")).unwrap(),
        public
    );

    // wrong password: exit 2, clear message
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "nope")
        .args(["public-key", "--key"])
        .arg(dir.path().join("release.key")));
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.to_lowercase().contains("password"), "{r}");

    // no password source at all (no terminal, no COSIGN_PASSWORD): refused, nothing written
    let other = dir.path().join("other");
    let r = run(sealgate()
        .env_remove("COSIGN_PASSWORD")
        .arg("generate-key-pair")
        .arg("--output-key-prefix")
        .arg(&other));
    assert_eq!(r.code, 2, "{r}");
    assert!(!dir.path().join("other.key").exists());
}

#[test]
fn keys_made_by_cosign_load() {
    // policy-controller's cosign.key (made by cosign, empty password) matches its cosign.pub
    let keys = fixtures().join("policy-controller/keys");
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "")
        .args(["public-key", "--key"])
        .arg(keys.join("cosign.key")));
    assert_eq!(r.code, 0, "{r}");
    let want = sealgate::crypto::PublicKey::from_pem(
        &std::fs::read_to_string(keys.join("cosign.pub")).unwrap(),
    )
    .unwrap();
    let got = sealgate::crypto::PublicKey::from_pem(&r.stdout).unwrap();
    assert_eq!(got.spki_der(), want.spki_der());

    // the older ENCRYPTED COSIGN PRIVATE KEY label, and RSA / Ed25519 keys from sigstore-rs
    let data = fixtures().join("sigstore-rs/data/keys");
    for (file, algorithm) in [
        (
            "ecdsa_encrypted_private.key",
            sealgate::crypto::KeyAlgorithm::EcdsaP256,
        ),
        (
            "rsa_encrypted_private.key",
            sealgate::crypto::KeyAlgorithm::Rsa,
        ),
        (
            "ed25519_encrypted_private.key",
            sealgate::crypto::KeyAlgorithm::Ed25519,
        ),
    ] {
        let r = run(sealgate()
            .env("COSIGN_PASSWORD", "123")
            .args(["public-key", "--key"])
            .arg(data.join(file)));
        assert_eq!(r.code, 0, "{file}: {r}");
        assert_eq!(
            sealgate::crypto::PublicKey::from_pem(&r.stdout)
                .unwrap()
                .algorithm(),
            algorithm,
            "{file}"
        );
    }
}

#[test]
fn keys_from_environment_variables() {
    let dir = tempfile::tempdir().unwrap();
    keypair(dir.path(), "ci");
    let key = std::fs::read_to_string(dir.path().join("ci.key")).unwrap();
    let public = std::fs::read_to_string(dir.path().join("ci.pub")).unwrap();
    // --key env://NAME, as CI secrets are exposed
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "pw")
        .env("SG_SIGNING_KEY", &key)
        .args(["public-key", "--key", "env://SG_SIGNING_KEY"]));
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(r.stdout.trim(), public.trim());
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "pw")
        .env_remove("SG_SIGNING_KEY")
        .args(["public-key", "--key", "env://SG_SIGNING_KEY"]));
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("SG_SIGNING_KEY"), "{r}");
    // a policy's key.path: env://NAME
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo");
    let policy = std::fs::read_to_string(demo.join("policy.yaml"))
        .unwrap()
        .replace("{path: cosign.pub}", "{path: \"env://SG_DEMO_PUB\"}");
    std::fs::write(dir.path().join("policy.yaml"), policy).unwrap();
    let check = |env: Option<&str>| {
        let mut c = sealgate();
        match env {
            Some(v) => c.env("SG_DEMO_PUB", v),
            None => c.env_remove("SG_DEMO_PUB"),
        };
        run(c
            .arg("check")
            .arg(demo.join("manifests"))
            .arg("--policy")
            .arg(dir.path().join("policy.yaml"))
            .args(["--offline", "--oci-layout"])
            .arg(demo.join("oci-layout")))
    };
    let r = check(Some(
        &std::fs::read_to_string(demo.join("cosign.pub")).unwrap(),
    ));
    assert_eq!(r.code, 0, "{r}");
    let r = check(None);
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr
            .contains("spec.rules[0].signatures.attestors[0].key.path")
            && r.stderr.contains("SG_DEMO_PUB"),
        "{r}"
    );
}

/// `k8s://namespace/name` through a KUBECONFIG pointing at a canned API endpoint on
/// loopback (the Secret read itself is also checked against kube-rs's mocked service in
/// the library tests).
#[test]
fn keys_from_kubernetes_secrets() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    keypair(dir.path(), "ci");
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = std::fs::read(dir.path().join("ci.key")).unwrap();
    let public = std::fs::read(dir.path().join("ci.pub")).unwrap();
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ci-key", "namespace": "signing"},
        "data": {"cosign.key": b64.encode(&key), "cosign.pub": b64.encode(&public), "cosign.password": b64.encode("pw")},
    });
    let api = common::proxy::Proxy::start(&format!("127.0.0.1:{}", free_port()));
    api.rule(
        common::proxy::Rule::new("/api/v1/namespaces/signing/secrets/ci-key", usize::MAX, 200)
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(&secret).unwrap()),
    );
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: t, cluster: {{server: \"http://{}\"}}}}]\nusers: [{{name: u, user: {{token: test-token}}}}]\ncontexts: [{{name: c, context: {{cluster: t, user: u, namespace: default}}}}]\ncurrent-context: c\n",
            api.addr
        ),
    )
    .unwrap();
    // the password comes from the Secret's cosign.password
    let r = run(sealgate()
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("COSIGN_PASSWORD")
        .args(["public-key", "--key", "k8s://signing/ci-key"]));
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(r.stdout.trim(), String::from_utf8_lossy(&public).trim());
    assert_eq!(
        api.count("GET /api/v1/namespaces/signing/secrets/ci-key"),
        1,
        "{:?}",
        api.log()
    );

    // sign into a layout with the Secret's key, check with a policy naming the Secret's cosign.pub
    let layout = demo_layout_copy(&dir.path().join("layout"));
    let image = "ghcr.io/sealgate-demo/debug-tools:latest";
    let r = run(sealgate()
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("COSIGN_PASSWORD")
        .args(["sign", "--key", "k8s://signing/ci-key", "--oci-layout"])
        .arg(&layout)
        .arg(image));
    assert_eq!(r.code, 0, "{r}");
    write_deployment(dir.path(), "deploy/a.yaml", &[image]);
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: k8s}\nspec:\n  rules:\n    - name: all\n      images: ['**']\n      signatures:\n        attestors:\n          - name: ci\n            key: {path: \"k8s://signing/ci-key\"}\n",
    )
    .unwrap();
    let check_with_secret = || {
        run(sealgate()
            .env("KUBECONFIG", &kubeconfig)
            .arg("check")
            .arg(dir.path().join("deploy"))
            .arg("--policy")
            .arg(&policy)
            .args(["--offline", "--oci-layout"])
            .arg(&layout))
    };
    let r = check_with_secret();
    assert_eq!(r.code, 0, "{r}");
    // a Secret that cannot be read: exit 2 naming it
    std::fs::write(
        &policy,
        std::fs::read_to_string(&policy)
            .unwrap()
            .replace("ci-key", "other"),
    )
    .unwrap();
    let r = check_with_secret();
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("k8s://signing/other"), "{r}");
}
