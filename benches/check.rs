//! `cargo bench --bench check`: cold `check` of 2,000 manifests referencing 200 unique
//! signed images on a local docker-registry, against, in the same run,
//! (a) a bare-HTTP floor issuing the requests a legacy-only verifier needs (resolve, `.sig`
//!     manifest, payload blob: 3 per image) with no verification work,
//! (b) a per-image loop over the `sigstore` crate's cosign verification, and
//! (c) the same check over 200 images signed in the cosign v3 format (a Sigstore bundle
//!     attached through the referrers fallback tag), against the 4-request floor that format
//!     needs (resolve, fallback index, bundle manifest, bundle blob).
//! Also: YAML parse + extract throughput and peak RSS for 10,000 manifests.
//! Prints ratios; asserts nothing about time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/coldcheck.rs"]
mod coldcheck;
#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt as _;
use sealgate::manifests::{self, LoadOptions};
use sigstore::crypto::SigningScheme;

const IMAGES: usize = 200;
const MANIFESTS: usize = 2_000;
const BIG: usize = 10_000;
const RUNS: usize = 3;
const CONCURRENCY: usize = 16;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn write_tree(dir: &Path, n: usize, refs: &[String]) -> u64 {
    let mut bytes = 0;
    for i in 0..n {
        let a = &refs[i % refs.len()];
        let b = &refs[(i * 7 + 3) % refs.len()];
        let y = format!(
            "# service {i}\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc-{i}\n  namespace: team-{t}\n  labels: {{app: svc-{i}, tier: backend}}\nspec:\n  replicas: 3\n  selector:\n    matchLabels: {{app: svc-{i}}}\n  template:\n    metadata:\n      labels: {{app: svc-{i}}}\n    spec:\n      initContainers:\n        - name: init\n          image: {b}\n      containers:\n        - name: app\n          image: {a}\n          args: [\"--port=8080\", \"--log=json\"]\n          env:\n            - {{name: MODE, value: production}}\n          resources:\n            limits: {{cpu: 500m, memory: 256Mi}}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\n  namespace: team-{t}\nspec:\n  selector: {{app: svc-{i}}}\n  ports: [{{port: 80, targetPort: 8080}}]\n",
            t = i % 20
        );
        bytes += y.len() as u64;
        let sub = dir.join(format!("team-{:02}", i % 20));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(format!("svc-{i:05}.yaml")), y).unwrap();
    }
    bytes
}

fn policy(dir: &Path, pem: &str) -> PathBuf {
    std::fs::write(dir.join("ci.pub"), pem).unwrap();
    let p = dir.join("policy.yaml");
    std::fs::write(
        &p,
        "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: bench}\nspec:\n  rules:\n    - name: all\n      images: [\"**\"]\n      signatures:\n        attestors:\n          - name: ci\n            key: {path: ci.pub}\n",
    )
    .unwrap();
    p
}

async fn sealgate_check(dir: &Path, policy: &Path, registry: &str) -> (String, u64) {
    coldcheck::cold_check(dir, policy, registry, CONCURRENCY).await
}

/// The legacy floor: what a verifier of cosign `.sig` signatures only must request (ping,
/// then per image: resolve, `.sig` manifest, payload blob), with no verification, hashing
/// or policy work.
async fn floor(registry: &str, repos: &[String]) -> u64 {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let base = format!("http://{registry}");
    client
        .get(format!("{base}/v2/"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let accept = sealgate::edge::registry::MANIFEST_ACCEPT.join(", ");
    let counts: Vec<u64> = futures::stream::iter(repos.iter())
        .map(|repo| {
            let (client, base, accept) = (client.clone(), base.clone(), accept.clone());
            async move {
                let r = client
                    .get(format!("{base}/v2/{repo}/manifests/v1"))
                    .header("Accept", &accept)
                    .send()
                    .await
                    .unwrap();
                let digest = r.headers()["docker-content-digest"]
                    .to_str()
                    .unwrap()
                    .to_string();
                r.bytes().await.unwrap();
                let sig = client
                    .get(format!(
                        "{base}/v2/{repo}/manifests/{}.sig",
                        digest.replace(':', "-")
                    ))
                    .header("Accept", &accept)
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                let v: serde_json::Value = serde_json::from_slice(&sig).unwrap();
                let blob = v["layers"][0]["digest"].as_str().unwrap();
                client
                    .get(format!("{base}/v2/{repo}/blobs/{blob}"))
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                3u64
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    1 + counts.iter().sum::<u64>()
}

/// The cosign v3 floor: ping, one referrers-API probe (absent on docker-registry), then per
/// image: resolve, fallback index, bundle manifest, bundle blob; no verification work.
async fn bundle_floor(registry: &str, repos: &[String]) -> u64 {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let base = format!("http://{registry}");
    let get = |url: String, accept: Option<String>| {
        let client = client.clone();
        async move {
            let mut r = client.get(url);
            if let Some(a) = accept {
                r = r.header("Accept", a);
            }
            r.send().await.unwrap()
        }
    };
    get(format!("{base}/v2/"), None)
        .await
        .bytes()
        .await
        .unwrap();
    if let Some(repo) = repos.first() {
        let probe = format!("{base}/v2/{repo}/referrers/sha256:{}", "0".repeat(64));
        get(probe, None).await.bytes().await.unwrap();
    }
    let accept = sealgate::edge::registry::MANIFEST_ACCEPT.join(", ");
    let counts: Vec<u64> = futures::stream::iter(repos.iter())
        .map(|repo| {
            let (base, accept) = (base.clone(), accept.clone());
            let get = &get;
            async move {
                let r = get(
                    format!("{base}/v2/{repo}/manifests/v1"),
                    Some(accept.clone()),
                )
                .await;
                let digest = r.headers()["docker-content-digest"]
                    .to_str()
                    .unwrap()
                    .to_string();
                r.bytes().await.unwrap();
                let index = get(
                    format!("{base}/v2/{repo}/manifests/{}", digest.replace(':', "-")),
                    Some(accept.clone()),
                )
                .await
                .bytes()
                .await
                .unwrap();
                let v: serde_json::Value = serde_json::from_slice(&index).unwrap();
                let referrer = v["manifests"][0]["digest"].as_str().unwrap().to_owned();
                let m = get(
                    format!("{base}/v2/{repo}/manifests/{referrer}"),
                    Some("application/vnd.oci.image.manifest.v1+json".into()),
                )
                .await
                .bytes()
                .await
                .unwrap();
                let v: serde_json::Value = serde_json::from_slice(&m).unwrap();
                let blob = v["layers"][0]["digest"].as_str().unwrap();
                get(format!("{base}/v2/{repo}/blobs/{blob}"), None)
                    .await
                    .bytes()
                    .await
                    .unwrap();
                4u64
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    2 + counts.iter().sum::<u64>()
}

/// (b): a per-image loop over the sigstore crate's cosign verification.
async fn sigstore_loop(registry: &str, repos: &[String], pem: &str) -> usize {
    use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraintVec};
    use sigstore::cosign::{ClientBuilder, CosignCapabilities as _};
    use sigstore::registry::{Auth, OciReference};
    let mut client = ClientBuilder::default()
        .with_oci_client_config(sigstore::registry::ClientConfig {
            protocol: sigstore::registry::ClientProtocol::Http,
            ..Default::default()
        })
        .build()
        .unwrap();
    let constraints: VerificationConstraintVec = vec![Box::new(
        PublicKeyVerifier::new(pem.as_bytes(), &SigningScheme::ECDSA_P256_SHA256_ASN1).unwrap(),
    )];
    let mut ok = 0;
    for repo in repos {
        let image: OciReference = format!("{registry}/{repo}:v1").parse().unwrap();
        let layers = client
            .trusted_signature_layers(&Auth::Anonymous, &image)
            .await
            .unwrap();
        if sigstore::cosign::verify_constraints(&layers, constraints.iter()).is_ok() {
            ok += 1;
        }
    }
    ok
}

fn rss_child(dir: &str, policy: &str, registry: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (decision, _) = rt.block_on(sealgate_check(Path::new(dir), Path::new(policy), registry));
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: ? kB");
    println!("{decision} {hwm}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--rss-child") {
        return rss_child(&args[i + 1], &args[i + 2], &args[i + 3]);
    }
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test --all-targets` runs this binary without `--bench`: build-checked, not run.
        eprintln!("benchmark skipped: run it with `cargo bench --bench check`");
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
    let repos: Vec<String> = (0..IMAGES).map(|i| format!("bench/app-{i:03}")).collect();
    rt.block_on(push_signed_images(&client, &reg, &s, &repos));
    let refs: Vec<String> = repos.iter().map(|r| reg.reference(r, "v1")).collect();
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("deploy");
    let tree_bytes = write_tree(&tree, MANIFESTS, &refs);
    let pol = policy(work.path(), &s.public_pem);

    let mut t_floor = Vec::new();
    let mut t_check = Vec::new();
    let mut t_cli = Vec::new();
    let (mut floor_req, mut check_req) = (0, 0);
    for _ in 0..RUNS {
        let t = Instant::now();
        floor_req = rt.block_on(floor(&reg.addr, &repos));
        t_floor.push(t.elapsed());
        let t = Instant::now();
        let (decision, req) = rt.block_on(sealgate_check(&tree, &pol, &reg.addr));
        t_check.push(t.elapsed());
        assert_eq!(decision, "pass");
        check_req = req;
        let t = Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sealgate"))
            .arg("check")
            .arg(&tree)
            .arg("--policy")
            .arg(&pol)
            .args(["--insecure-registry", &reg.addr, "-q", "-o", "json"])
            .output()
            .unwrap();
        t_cli.push(t.elapsed());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // (c) the cosign v3 format: bundles through the referrers fallback tag
    eprintln!("setting up {IMAGES} bundle-signed images…");
    let bundle_repos: Vec<String> = (0..IMAGES).map(|i| format!("v3/app-{i:03}")).collect();
    for repo in &bundle_repos {
        rt.block_on(push_image(&client, &reg, repo, "v1"));
    }
    let bundle_refs: Vec<String> = bundle_repos
        .iter()
        .map(|r| reg.reference(r, "v1"))
        .collect();
    let bwork = tempfile::tempdir().unwrap();
    let (bkey, bpub) = keypair(bwork.path(), "v3");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .env("COSIGN_PASSWORD", "pw")
        .arg("sign")
        .arg("--key")
        .arg(&bkey)
        .args(["--bundle", "--insecure-registry", &reg.addr])
        .args(&bundle_refs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let btree = bwork.path().join("deploy");
    write_tree(&btree, MANIFESTS, &bundle_refs);
    let bpol = policy(bwork.path(), &bpub);
    let (mut t_bfloor, mut t_bcheck) = (Vec::new(), Vec::new());
    let (mut bfloor_req, mut bcheck_req) = (0, 0);
    for _ in 0..RUNS {
        let t = Instant::now();
        bfloor_req = rt.block_on(bundle_floor(&reg.addr, &bundle_repos));
        t_bfloor.push(t.elapsed());
        let t = Instant::now();
        let (decision, req) = rt.block_on(sealgate_check(&btree, &bpol, &reg.addr));
        t_bcheck.push(t.elapsed());
        assert_eq!(decision, "pass");
        bcheck_req = req;
    }

    eprintln!("running the sigstore-crate loop…");
    let t = Instant::now();
    let before = reg.log_lines().len();
    let ok = rt.block_on(sigstore_loop(&reg.addr, &repos, &s.public_pem));
    let t_sigstore = t.elapsed();
    let sigstore_req = reg.log_lines().len() - before;
    assert_eq!(ok, IMAGES);

    // YAML parse + extract throughput over 10,000 manifests
    let big = work.path().join("big");
    let big_bytes = write_tree(&big, BIG, &refs);
    let mut t_parse = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let snap = manifests::load_paths(std::slice::from_ref(&big), &LoadOptions::default());
        t_parse.push(t.elapsed());
        assert_eq!(snap.manifests, BIG * 2);
    }
    // The parser's own ceiling: granit events only, one thread, same bytes, no values built.
    let mut all = String::new();
    for team in std::fs::read_dir(&big).unwrap() {
        for f in std::fs::read_dir(team.unwrap().path()).unwrap() {
            all.push_str(&std::fs::read_to_string(f.unwrap().path()).unwrap());
            all.push_str("\n---\n");
        }
    }
    let mut t_events = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let mut parser = serde_saphyr::granit_parser::Parser::new_from_str(&all);
        let mut n = 0usize;
        while let Some(Ok(_)) = parser.next_event() {
            n += 1;
        }
        assert!(n > BIG);
        t_events.push(t.elapsed());
    }
    let exe = std::env::current_exe().unwrap();
    let rss = std::process::Command::new(exe)
        .args([
            "--rss-child",
            big.to_str().unwrap(),
            pol.to_str().unwrap(),
            &reg.addr,
        ])
        .output()
        .unwrap();

    let (f, c, cli, p) = (
        median(t_floor),
        median(t_check),
        median(t_cli),
        median(t_parse),
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "sealgate check benchmark ({MANIFESTS} manifests, {IMAGES} unique signed images, docker-registry on loopback, median of {RUNS})"
    );
    println!(
        "  bare-HTTP floor        {:8.1} ms  {floor_req} requests",
        ms(f)
    );
    println!(
        "  sealgate check (lib)   {:8.1} ms  {check_req} requests  = {:.2}x floor",
        ms(c),
        c.as_secs_f64() / f.as_secs_f64()
    );
    println!(
        "  sealgate check (CLI)   {:8.1} ms  (process, YAML, report)  = {:.2}x floor",
        ms(cli),
        cli.as_secs_f64() / f.as_secs_f64()
    );
    let per = |req: u64, fixed: u64| (req - fixed) as f64 / IMAGES as f64;
    println!(
        "  legacy .sig: {:.2} requests per image (floor 3.00; + ping)",
        per(check_req, 2)
    );
    let (bf, bc) = (median(t_bfloor), median(t_bcheck));
    println!(
        "  cosign v3 bundle floor {:8.1} ms  {bfloor_req} requests",
        ms(bf)
    );
    println!(
        "  sealgate check (v3)    {:8.1} ms  {bcheck_req} requests  = {:.2}x v3 floor; {:.2} requests per image (floor 4.00; + ping, referrers probe)",
        ms(bc),
        bc.as_secs_f64() / bf.as_secs_f64(),
        per(bcheck_req, 2)
    );
    println!(
        "  sigstore crate loop    {:8.1} ms  {sigstore_req} requests  = {:.1}x slower than sealgate check",
        ms(t_sigstore),
        t_sigstore.as_secs_f64() / c.as_secs_f64()
    );
    println!(
        "  YAML parse + extract   {:8.1} ms for {BIG} files ({:.1} MB): {:.1} MB/s",
        ms(p),
        big_bytes as f64 / 1e6,
        big_bytes as f64 / 1e6 / p.as_secs_f64()
    );
    let ev = median(t_events);
    println!(
        "  parser alone (events)  {:8.1} ms, one thread: {:.1} MB/s  (load+extract on {} threads = {:.2}x of it)",
        ms(ev),
        all.len() as f64 / 1e6 / ev.as_secs_f64(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        (big_bytes as f64 / p.as_secs_f64()) / (all.len() as f64 / ev.as_secs_f64())
    );
    println!(
        "  peak RSS, check of {BIG} manifests: {}",
        String::from_utf8_lossy(&rss.stdout).trim()
    );
    println!("  (tree of {MANIFESTS}: {:.1} MB)", tree_bytes as f64 / 1e6);
}
