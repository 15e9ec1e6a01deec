//! `cargo bench --bench updates`: verified image automation at scale. 50 update policies
//! over 50 repositories of 500 tags each (`1.0.0` … `1.0.499`, one signed image), the
//! markers in Git at `1.0.494`: 5 candidates newer each, the newest passes. In the same
//! run, per round (fresh state, fresh origin):
//! - floor (a): the 50 tags listings alone (one client, cold);
//! - floor (b): a cold `sealgate check` of the 50 newest candidates (their verification);
//! - cold: one reconcile of a fresh gate with `imageUpdates` (the scan lists, verifies,
//!   commits; the gate then verifies and promotes the update commit);
//! - warm: the next reconcile (nothing new).
//!
//! Prints medians, registry requests (the scan's own from the status, and the gate's) and
//! the ratios; asserts outcomes, nothing about time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::git::GitServer;
use common::*;
use sealgate::standalone::{Gate, Outcome};
use sigstore::crypto::SigningScheme;

const POLICIES: usize = 50;
const TAGS: usize = 500;
const CURRENT: usize = 494;
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
        eprintln!("benchmark skipped: run it with `cargo bench --bench updates`");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let reg = TestRegistry::start();
    let client = oci();
    let s = signer(SigningScheme::ECDSA_P256_SHA256_ASN1);
    eprintln!("setting up {POLICIES} repositories of {TAGS} tags…");
    let repos: Vec<String> = (0..POLICIES).map(|i| format!("bench/app-{i:02}")).collect();
    let digests = rt.block_on(push_signed_images(&client, &reg, &s, &repos));
    rt.block_on(async {
        use futures::StreamExt as _;
        let jobs: Vec<(String, String)> = repos
            .iter()
            .zip(&digests)
            .flat_map(|(r, d)| (0..TAGS).map(move |n| (r.clone(), format!("{d} 1.0.{n}"))))
            .collect();
        let manifests: std::collections::HashMap<String, Vec<u8>> = {
            let mut m = std::collections::HashMap::new();
            for (r, d) in repos.iter().zip(&digests) {
                let body = reqwest::Client::new()
                    .get(format!("http://{}/v2/{r}/manifests/{d}", reg.addr))
                    .header("Accept", OCI_MANIFEST)
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap()
                    .to_vec();
                m.insert(r.clone(), body);
            }
            m
        };
        let (client, reg, manifests) = (&client, &reg, &manifests);
        futures::stream::iter(jobs)
            .map(|(r, spec)| async move {
                let tag = spec.split_once(' ').unwrap().1.to_owned();
                push_manifest(client, reg, &r, &tag, &manifests[&r]).await;
            })
            .buffer_unordered(16)
            .collect::<Vec<()>>()
            .await;
    });
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("ci.pub"), &s.public_pem).unwrap();
    std::fs::write(
        work.path().join("policy.yaml"),
        "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: bench}\nspec:\n  rules:\n    - name: all\n      images: [\"**\"]\n      signatures:\n        attestors:\n          - name: ci\n            key: {path: ci.pub}\n",
    )
    .unwrap();
    let manifest = |i: usize, tag: &str| {
        format!(
            "# app {i}\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  namespace: bench\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {}/{}:{tag} # {{\"$imagepolicy\": \"app-{i}\"}}\n",
            reg.addr, repos[i]
        )
    };
    let mut policies = String::new();
    for (i, r) in repos.iter().enumerate() {
        policies.push_str(&format!(
            "    - name: app-{i}\n      image: {}/{r}\n      select: {{semver: \">=1.0.0 <2.0.0\"}}\n",
            reg.addr
        ));
    }
    // floor (b): the newest candidates as a manifest directory for `sealgate check`
    let newest = work.path().join("newest");
    std::fs::create_dir_all(&newest).unwrap();
    for i in 0..POLICIES {
        std::fs::write(
            newest.join(format!("app-{i}.yaml")),
            manifest(i, &format!("1.0.{}", TAGS - 1)),
        )
        .unwrap();
    }

    let (mut list_t, mut check_t, mut cold_t, mut warm_t) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (
        mut list_req,
        mut check_req,
        mut cold_scan_req,
        mut cold_gate_req,
        mut warm_scan_req,
        mut warm_req,
    ) = (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    for run in 0..RUNS {
        // floor (a): the listings alone
        let http = sealgate::edge::registry::http::HttpRegistry::new(
            sealgate::edge::registry::http::HttpOptions {
                insecure: vec![reg.addr.clone()],
                ..Default::default()
            },
            sealgate::edge::registry::credentials::DockerConfig::default(),
        )
        .unwrap();
        let t = Instant::now();
        rt.block_on(async {
            for r in &repos {
                let repo = sealgate::base::reference::ImageRef::parse(&format!("{}/{r}", reg.addr))
                    .unwrap()
                    .repository();
                let tags = http.tags(&repo).await.unwrap();
                assert!(tags.len() > TAGS, "{} tags", tags.len());
            }
        });
        list_t.push(t.elapsed());
        list_req = http.requests();

        // floor (b): verifying the newest candidates, cold
        let t = Instant::now();
        let r = std::process::Command::new(env!("CARGO_BIN_EXE_sealgate"))
            .arg("check")
            .arg(&newest)
            .arg("--policy")
            .arg(work.path().join("policy.yaml"))
            .args(["--insecure-registry", &reg.addr, "-o", "json", "-v"])
            .output()
            .unwrap();
        check_t.push(t.elapsed());
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        check_req = String::from_utf8_lossy(&r.stderr)
            .split("requests=")
            .nth(1)
            .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);

        // the gate: a fresh origin at 1.0.494 and a fresh state
        let git = GitServer::file();
        let files: Vec<(String, String)> = (0..POLICIES)
            .map(|i| {
                (
                    format!("deploy/app-{i}.yaml"),
                    manifest(i, &format!("1.0.{CURRENT}")),
                )
            })
            .collect();
        let borrowed: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        git.commit(&borrowed, "50 apps at 1.0.494");
        let cfg = work.path().join(format!("gate-{run}.yaml"));
        std::fs::write(
            &cfg,
            format!(
                "apiVersion: sealgate.dev/v1alpha1\nkind: GateConfig\nsource: {{url: {}, ref: main, path: deploy}}\npolicies: [policy.yaml]\nregistry: {{insecure: [\"{}\"]}}\ntarget:\n  promote: {{branch: deploy/prod}}\nstateDir: state-{run}\nimageUpdates:\n  commit: {{author: {{name: sealgate, email: bot@example.com}}}}\n  policies:\n{policies}",
                git.url, reg.addr
            ),
        )
        .unwrap();
        let gate = Arc::new(Gate::new(sealgate::standalone::config::load(&cfg).unwrap()).unwrap());
        let t = Instant::now();
        let o = rt.block_on(gate.reconcile(sealgate::base::time::now()));
        cold_t.push(t.elapsed());
        assert!(matches!(o, Outcome::Promoted { .. }), "{o:?}");
        let st = gate.status();
        assert!(st.last_image_update_commit.is_some());
        assert!(
            st.image_updates.iter().all(|p| p
                .current
                .as_deref()
                .is_some_and(|c| c.starts_with(&format!("1.0.{}@", TAGS - 1)))),
            "every policy moved to the newest"
        );
        cold_scan_req = st.image_updates.iter().map(|p| p.requests).sum();
        let cold_total = gate.registry_requests();
        cold_gate_req = cold_total - cold_scan_req;
        let t = Instant::now();
        let o = rt.block_on(gate.reconcile(sealgate::base::time::now()));
        warm_t.push(t.elapsed());
        assert!(matches!(o, Outcome::UpToDate), "{o:?}");
        let st = gate.status();
        warm_scan_req = st.image_updates.iter().map(|p| p.requests).sum();
        warm_req = gate.registry_requests() - cold_total;
        assert_eq!(
            git.head("main"),
            st.last_image_update_commit,
            "no second commit"
        );
    }
    let (l, k, c, w) = (
        median(list_t),
        median(check_t),
        median(cold_t),
        median(warm_t),
    );
    println!(
        "image updates benchmark ({POLICIES} policies × {TAGS} tags, 5 newer candidates each, docker-registry on loopback, median of {RUNS})"
    );
    println!(
        "  floor (a): 50 tags listings      {:>8.1} ms  {list_req} requests",
        ms(l)
    );
    println!(
        "  floor (b): check of 50 newest    {:>8.1} ms  {check_req} requests",
        ms(k)
    );
    println!(
        "  cold reconcile (scan + gate)     {:>8.1} ms  scan {cold_scan_req} requests = {:.2}x floor (a+b); the gate's verify of the update {cold_gate_req}; time {:.2}x floor (a+b)",
        ms(c),
        cold_scan_req as f64 / (list_req + check_req) as f64,
        c.as_secs_f64() / (l + k).as_secs_f64()
    );
    println!(
        "  warm reconcile (nothing new)     {:>8.1} ms  {warm_req} requests (scan {warm_scan_req}) = {:.2}x floor (a)",
        ms(w),
        warm_req as f64 / list_req as f64
    );
}
