//! Regenerates the offline demo under `examples/demo/`: a few small images and their
//! cosign `.sig` signatures in an OCI image layout, signed by the independent `sigstore`
//! crate with a fresh ECDSA P-256 key whose public half is written to `cosign.pub` (the
//! private key is thrown away).
//!
//! `cargo run --example make_demo` (then commit `examples/demo/`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use base64::Engine as _;
use serde_json::json;
use sha2::Digest as _;
use sigstore::crypto::SigningScheme;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

struct Layout {
    root: std::path::PathBuf,
    index: Vec<serde_json::Value>,
}

impl Layout {
    fn blob(&self, data: &[u8]) -> String {
        let hex = hex::encode(sha2::Sha256::digest(data));
        let p = self.root.join("blobs/sha256").join(&hex);
        std::fs::write(p, data).unwrap();
        format!("sha256:{hex}")
    }
    fn manifest(&mut self, name: &str, body: &[u8]) -> String {
        let d = self.blob(body);
        self.index.push(json!({
            "mediaType": OCI_MANIFEST, "digest": d, "size": body.len(),
            "annotations": {"org.opencontainers.image.ref.name": name},
        }));
        d
    }
}

fn main() {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo");
    let root = out.join("oci-layout");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("blobs/sha256")).unwrap();
    std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut layout = Layout {
        root: root.clone(),
        index: Vec::new(),
    };

    let signer = SigningScheme::ECDSA_P256_SHA256_ASN1
        .create_signer()
        .unwrap();
    let pem = signer
        .to_sigstore_keypair()
        .unwrap()
        .public_key_to_pem()
        .unwrap();
    std::fs::write(out.join("cosign.pub"), pem).unwrap();

    let images = [
        ("ghcr.io/sealgate-demo/web", "1.4.2", true),
        ("ghcr.io/sealgate-demo/worker", "2.0.1", true),
        ("ghcr.io/sealgate-demo/migrate", "1.4.2", true),
        ("ghcr.io/sealgate-demo/debug-tools", "latest", false),
    ];
    for (name, tag, signed) in images {
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"config":{{"Labels":{{"org.opencontainers.image.title":"{name}"}}}}}}"#
        );
        let layer = format!("demo layer of {name}:{tag}\n");
        let cd = layout.blob(config.as_bytes());
        let ld = layout.blob(layer.as_bytes());
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": layer.len()}],
        }))
        .unwrap();
        let digest = layout.manifest(&format!("{name}:{tag}"), &manifest);
        if !signed {
            continue;
        }
        let payload = sealgate::sigstore::simple_signing::payload_for(name, &digest);
        let sig = base64::engine::general_purpose::STANDARD.encode(signer.sign(&payload).unwrap());
        let pd = layout.blob(&payload);
        let sig_config = br#"{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#;
        let scd = layout.blob(sig_config);
        let sig_manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": sig_config.len(), "digest": scd},
            "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "size": payload.len(),
                        "digest": pd, "annotations": {"dev.cosignproject.cosign/signature": sig}}],
        }))
        .unwrap();
        layout.manifest(
            &format!("{name}:{}.sig", digest.replace(':', "-")),
            &sig_manifest,
        );
        println!("{name}:{tag} {digest} (signed)");
    }
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": layout.index});
    std::fs::write(
        root.join("index.json"),
        serde_json::to_vec_pretty(&index).unwrap(),
    )
    .unwrap();
}
