//! `cargo bench --bench gate`: reconcile of a 2,000-manifest / 200-image revision by the
//! standalone gate (file:// Git repository, real docker-registry on loopback, every image
//! signed and digest-pinned), cold (fresh state directory and cache: fetch, checkout,
//! verify, promote) and warm (the same revision again), against, in the same run, a cold
//! in-process `sealgate check` of the same manifests as the baseline. Prints medians,
//! ratios and registry request counts; asserts outcomes, nothing about time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::git::GitServer;
use common::*;
use sealgate::standalone::{Gate, Outcome};
use sigstore::crypto::SigningScheme;

const IMAGES: usize = 200;
const MANIFESTS: usize = 2_000;
const RUNS: usize = 3;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benchmark skipped: run it with `cargo bench --bench gate`");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let reg = TestRegistry::start();
    let client = oci();
    let s = signer(SigningScheme::ECDSA_P256_SHA256_ASN1);
    eprintln!("setting up {IMAGES} signed images…");
    let repos: Vec<String> = (0..IMAGES).map(|i| format!("gate/app-{i:03}")).collect();
    let digests = rt.block_on(push_signed_images(&client, &reg, &s, &repos));
    let refs: Vec<String> = repos
        .iter()
        .zip(&digests)
        .map(|(repo, d)| format!("{}/{repo}:v1@{d}", reg.addr))
        .collect();
    let git = GitServer::file();
    let files: Vec<(String, String)> = (0..MANIFESTS)
        .map(|i| {
            let a = &refs[i % refs.len()];
            let b = &refs[(i * 7 + 3) % refs.len()];
            (
                format!("deploy/team-{:02}/svc-{i:05}.yaml", i % 20),
                format!(
                    "# service {i}\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc-{i}\n  namespace: team-{t}\nspec:\n  replicas: 3\n  template:\n    spec:\n      initContainers:\n        - name: init\n          image: {b}\n      containers:\n        - name: app\n          image: {a}\n          args: [\"--port=8080\"]\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  namespace: team-{t}\nspec:\n  ports: [{{port: 80}}]\n",
                    t = i % 20
                ),
            )
        })
        .collect();
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    git.commit(&borrowed, "2000 manifests");
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("ci.pub"), &s.public_pem).unwrap();
    std::fs::write(
        work.path().join("policy.yaml"),
        "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: bench}\nspec:\n  rules:\n    - name: all\n      images: [\"**\"]\n      signatures:\n        attestors:\n          - name: ci\n            key: {path: ci.pub}\n",
    )
    .unwrap();

    let (mut cold, mut warm, mut check) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cold_req, mut warm_req, mut check_req) = (0, 0, 0);
    for run in 0..RUNS {
        let cfg = work.path().join(format!("gate-{run}.yaml"));
        std::fs::write(
            &cfg,
            format!(
                "apiVersion: sealgate.dev/v1alpha1\nkind: GateConfig\nsource: {{url: {}, ref: main, path: deploy}}\npolicies: [policy.yaml]\nregistry: {{insecure: [\"{}\"]}}\ntarget:\n  promote: {{branch: deploy/run-{run}}}\nstateDir: state-{run}\n",
                git.url, reg.addr
            ),
        )
        .unwrap();
        let gate = Arc::new(Gate::new(sealgate::standalone::config::load(&cfg).unwrap()).unwrap());
        let t = Instant::now();
        let o = rt.block_on(gate.reconcile(sealgate::base::time::now()));
        cold.push(t.elapsed());
        assert!(matches!(o, Outcome::Promoted { .. }), "{o:?}");
        cold_req = gate.registry_requests();
        let t = Instant::now();
        let o = rt.block_on(gate.reconcile(sealgate::base::time::now()));
        warm.push(t.elapsed());
        assert_eq!(o, Outcome::UpToDate);
        warm_req = gate.registry_requests() - cold_req;

        // baseline: a cold in-process check of the same manifests
        let t = Instant::now();
        let r = std::process::Command::new(env!("CARGO_BIN_EXE_sealgate"))
            .arg("check")
            .arg(git.work.join("deploy"))
            .arg("--policy")
            .arg(work.path().join("policy.yaml"))
            .args(["--insecure-registry", &reg.addr, "-o", "json", "-v"])
            .output()
            .unwrap();
        check.push(t.elapsed());
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let stderr = String::from_utf8_lossy(&r.stderr);
        check_req = stderr
            .split("requests=")
            .nth(1)
            .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0u64);
    }
    let (c, w, k) = (median(cold), median(warm), median(check));
    println!(
        "gate benchmark ({MANIFESTS} manifests, {IMAGES} digest-pinned signed images, file:// Git, docker-registry on loopback, median of {RUNS})"
    );
    println!(
        "  sealgate check (CLI, baseline) {:>8.1} ms  {check_req} requests",
        ms(k)
    );
    println!(
        "  gate reconcile, cold           {:>8.1} ms  {cold_req} requests  = {:.2}x check (fetch + checkout + verify + promote)",
        ms(c),
        c.as_secs_f64() / k.as_secs_f64()
    );
    println!(
        "  gate reconcile, warm           {:>8.1} ms  {warm_req} requests  = {:.3}x cold",
        ms(w),
        w.as_secs_f64() / c.as_secs_f64()
    );
}
