//! `cargo bench --bench summaries`: what admitting on a gate's verification summary saves.
//! 100 images on a local docker-registry, each signed (cosign `.sig`), with a signed
//! CycloneDX SBOM attestation (2,000 components) and the gate's signed summary in its
//! `.att` manifest. In the same run, cold `check`s (new client, nothing cached) of the
//! same manifests against
//! (a) the full policy: signature by `ci`, SBOM by `rel` with a denied-package rule, and
//! (b) the summary policy: `threshold: 0`, a `vsa` rule naming the gate.
//! Prints medians, requests and bytes fetched per image, and the ratio; asserts both pass
//! and nothing about time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/coldcheck.rs"]
mod coldcheck;
#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/common/sbomgen.rs"]
mod sbomgen;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use sealgate::attest::vsa::Summary;
use sealgate::base::reference::{Digest, ImageRef};
use sealgate::crypto::PrivateKey;
use sealgate::edge::registry::store::{self, NewLayer, Store};
use sigstore::crypto::SigningScheme;

const IMAGES: usize = 100;
const COMPONENTS: usize = 2_000;
const RUNS: usize = 3;
const CONCURRENCY: usize = 16;
const VERIFIER: &str = "https://sealgate.dev/gate/bench";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn check(dir: &Path, policy: &Path, registry: &str) -> (String, u64) {
    coldcheck::cold_check(dir, policy, registry, CONCURRENCY).await
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benchmark skipped: run it with `cargo bench --bench summaries`");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let reg = TestRegistry::start();
    let client = oci();
    let ci = signer(SigningScheme::ECDSA_P256_SHA256_ASN1);
    let rel = PrivateKey::generate_p256().unwrap();
    let gate = PrivateKey::generate_p256().unwrap();
    eprintln!("setting up {IMAGES} signed and attested images…");
    let repos: Vec<String> = (0..IMAGES).map(|i| format!("bench/app-{i:03}")).collect();
    let digests = rt.block_on(push_signed_images(&client, &reg, &ci, &repos));
    let store = Store::open(None, std::slice::from_ref(&reg.addr), None, 30).unwrap();
    let images: Vec<(String, Digest)> = repos
        .iter()
        .zip(&digests)
        .map(|(r, d)| (format!("{}/{r}", reg.addr), Digest::parse(d).unwrap()))
        .collect();
    let summary = Summary {
        verifier_id: VERIFIER.into(),
        time_verified: sealgate::base::time::now(),
        source: ("https://git.example/apps.git".into(), "a".repeat(40)),
        policy_set_sha256: "b".repeat(64),
        policies: Vec::new(),
        inputs: Vec::new(),
        images: images.clone(),
        promotion: Some(("https://git.example/deploy.git".into(), "c".repeat(40))),
    };
    let envelope = summary.sign(&gate).unwrap();
    let sbom = sbomgen::cyclonedx_json(COMPONENTS, 7, &[], "2026-12-01T00:00:00Z");
    let mut sbom_bytes = 0;
    rt.block_on(async {
        for (name, digest) in &images {
            let image = ImageRef::parse(&format!("{name}@{digest}")).unwrap();
            let (ptype, body) =
                sealgate::attest::statement(name, digest, "cyclonedx", sbom.as_bytes(), "")
                    .unwrap();
            let env = sealgate::attest::envelope(&rel, &body).unwrap();
            sbom_bytes = env.len();
            let mut annotations = serde_json::Map::new();
            annotations.insert("predicateType".into(), ptype.into());
            let layer = NewLayer {
                media_type: sealgate::attest::DSSE_MEDIA_TYPE,
                blob: env,
                annotations,
            };
            store::append_layer(&store, &image, &digest.attestation_tag(), &layer, &|_| {
                false
            })
            .await
            .unwrap();
            store::attach_summary(
                &store,
                &image,
                &envelope,
                &gate.public_key(),
                VERIFIER,
                summary.promotion.as_ref().unwrap(),
            )
            .await
            .unwrap();
        }
    });
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    write(dir, "ci.pub", &ci.public_pem);
    write(dir, "rel.pub", &rel.public_key().to_pem());
    write(dir, "gate.pub", &gate.public_key().to_pem());
    let full = write(
        dir,
        "full.yaml",
        "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: full}\nspec:\n  rules:\n    - name: all\n      images: [\"**\"]\n      signatures:\n        threshold: 1\n        attestors:\n          - {name: ci, key: {path: ci.pub}}\n          - {name: rel, key: {path: rel.pub}}\n      attestations:\n        - predicateType: cyclonedx\n          attestors: [rel]\n          sbom: {deniedPackages: ['log4j-core@<2.17.1', 'pkg:npm/event-stream@3.3.6']}\n",
    );
    let vsa = write(
        dir,
        "vsa.yaml",
        &format!(
            "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {{name: summary}}\nspec:\n  rules:\n    - name: all\n      images: [\"**\"]\n      signatures:\n        threshold: 0\n        attestors:\n          - {{name: gate, key: {{path: gate.pub}}}}\n      attestations:\n        - predicateType: vsa\n          summary: {{verifier: {VERIFIER}, maxAge: 24h}}\n"
        ),
    );
    let tree = dir.join("deploy");
    std::fs::create_dir_all(&tree).unwrap();
    for (i, r) in repos.iter().enumerate() {
        write(
            &tree,
            &format!("app-{i:03}.yaml"),
            &format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app-{i}}}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {}\n",
                reg.reference(r, "v1")
            ),
        );
    }

    let (mut t_full, mut t_vsa) = (Vec::new(), Vec::new());
    let (mut r_full, mut r_vsa) = (0, 0);
    for _ in 0..RUNS {
        let t = Instant::now();
        let (d, r) = rt.block_on(check(&tree, &full, &reg.addr));
        t_full.push(t.elapsed());
        assert_eq!(d, "pass", "the full policy passes");
        r_full = r;
        let t = Instant::now();
        let (d, r) = rt.block_on(check(&tree, &vsa, &reg.addr));
        t_vsa.push(t.elapsed());
        assert_eq!(d, "pass", "the summary policy passes");
        r_vsa = r;
    }
    let (full_ms, vsa_ms) = (ms(median(t_full)), ms(median(t_vsa)));
    println!(
        "summary admission benchmark ({IMAGES} images; each signed, SBOM-attested ({COMPONENTS} components, {sbom_bytes} bytes envelope) and summarized; cold checks, median of {RUNS})"
    );
    println!(
        "  full policy (signature + SBOM)  {full_ms:8.1} ms  {r_full} requests ({:.2} per image)",
        r_full as f64 / IMAGES as f64
    );
    println!(
        "  summary policy (vsa rule)       {vsa_ms:8.1} ms  {r_vsa} requests ({:.2} per image)  = {:.2}x the full policy's time",
        r_vsa as f64 / IMAGES as f64,
        vsa_ms / full_ms
    );
}
