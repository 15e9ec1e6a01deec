//! `sealgate attest` against a real registry: the `.att` manifest cosign's way, a DSSE
//! envelope whose signature verifies with the independent `sigstore` crate over the PAE
//! computed here from the DSSE spec, the statement naming the image digest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine as _;
use common::*;

fn get(reg: &TestRegistry, path: &str) -> Vec<u8> {
    reg.get(path, OCI_MANIFEST)
}

#[tokio::test(flavor = "multi_thread")]
async fn attestations_are_cosign_att_layers_with_verifiable_dsse() {
    let reg = TestRegistry::start();
    let digest = push_image(&oci(), &reg, "att/app", "v1").await;
    let dir = tempfile::tempdir().unwrap();
    keypair(dir.path(), "k");
    let public = std::fs::read_to_string(dir.path().join("k.pub")).unwrap();
    let sbom = dir.path().join("bom.json");
    std::fs::write(&sbom, r#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"name":"log4j-core","version":"2.14.1"}]}"#).unwrap();
    let attest = || {
        run(sealgate()
            .env("COSIGN_PASSWORD", "pw")
            .arg("attest")
            .arg("--key")
            .arg(dir.path().join("k.key"))
            .arg("--predicate")
            .arg(&sbom)
            .args([
                "--type",
                "cyclonedx",
                "--insecure-registry",
                &reg.addr,
                &reg.reference("att/app", "v1"),
            ]))
    };
    let r = attest();
    assert_eq!(r.code, 0, "{r}");

    let tag = format!("{}.att", digest.replace(':', "-"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&get(&reg, &format!("/v2/att/app/manifests/{tag}"))).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.dsse.envelope.v1+json"
    );
    assert_eq!(
        layers[0]["annotations"]["predicateType"],
        "https://cyclonedx.org/bom"
    );
    assert_eq!(
        layers[0]["annotations"]["dev.cosignproject.cosign/signature"],
        ""
    );

    let envelope = get(
        &reg,
        &format!(
            "/v2/att/app/blobs/{}",
            layers[0]["digest"].as_str().unwrap()
        ),
    );
    let env: serde_json::Value = serde_json::from_slice(&envelope).unwrap();
    assert_eq!(env["payloadType"], "application/vnd.in-toto+json");
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = b64.decode(env["payload"].as_str().unwrap()).unwrap();
    let statement: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["subject"][0]["digest"]["sha256"], &digest[7..]);
    assert_eq!(
        statement["subject"][0]["name"],
        format!("{}/att/app", reg.addr)
    );
    assert_eq!(
        statement["predicate"]["components"][0]["name"],
        "log4j-core"
    );

    // the signature verifies in the sigstore crate over PAE(type, body) built from the spec
    let (_, sig) = dsse_verified_by_sigstore(&env, &public);
    let vk = sigstore::crypto::CosignVerificationKey::from_pem(
        public.as_bytes(),
        &sigstore::crypto::SigningScheme::ECDSA_P256_SHA256_ASN1,
    )
    .unwrap();
    // ...and not over anything else
    assert!(
        vk.verify_signature(sigstore::crypto::Signature::Raw(&sig), &body)
            .is_err()
    );

    // attesting the same statement again adds nothing
    let r = attest();
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stderr.contains("already has"), "{r}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&get(&reg, &format!("/v2/att/app/manifests/{tag}"))).unwrap();
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);

    // bad input: unknown type and a non-JSON predicate exit 2 before any request
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "pw")
        .arg("attest")
        .arg("--key")
        .arg(dir.path().join("k.key"))
        .arg("--predicate")
        .arg(&sbom)
        .args(["--type", "sbom", &reg.reference("att/app", "v1")]));
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("unknown attestation type"), "{r}");
}

#[test]
fn attestation_bundles_go_into_an_oci_layout_fallback_index() {
    let dir = tempfile::tempdir().unwrap();
    let layout = demo_layout_copy(&dir.path().join("layout"));
    keypair(dir.path(), "k");
    let predicate = dir.path().join("prov.json");
    std::fs::write(
        &predicate,
        r#"{"buildDefinition":{"buildType":"https://example.com/build/v1"}}"#,
    )
    .unwrap();
    let attest = || {
        run(sealgate()
            .env("COSIGN_PASSWORD", "pw")
            .arg("attest")
            .arg("--key")
            .arg(dir.path().join("k.key"))
            .arg("--predicate")
            .arg(&predicate)
            .args(["--type", "slsaprovenance1", "--bundle", "--oci-layout"])
            .arg(&layout)
            .arg("ghcr.io/sealgate-demo/web:1.4.2"))
    };
    let r = attest();
    assert_eq!(r.code, 0, "{r}");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let fallback = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            let n = m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap_or_default();
            n.starts_with("ghcr.io/sealgate-demo/web:sha256-") && !n.ends_with(".sig")
        })
        .unwrap()
        .clone();
    assert_eq!(
        fallback["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let referrers: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            layout
                .join("blobs/sha256")
                .join(&fallback["digest"].as_str().unwrap()[7..]),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        referrers["manifests"][0]["annotations"]["dev.sigstore.bundle.predicateType"],
        "https://slsa.dev/provenance/v1"
    );
    // idempotent; and the image's legacy signature still verifies offline
    let r = attest();
    assert!(r.stderr.contains("already has this bundle"), "{r}");
    let d = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo");
    let r = run(sealgate()
        .arg("check")
        .arg(d.join("manifests/web"))
        .arg("--policy")
        .arg(d.join("policy.yaml"))
        .args(["--offline", "--oci-layout"])
        .arg(&layout));
    assert_eq!(r.code, 0, "{r}");
}
