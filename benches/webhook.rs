//! `cargo bench --bench webhook`: admission reviews of a Pod with 8 containers over 4 images,
//! each signed by 2 keys that the policy requires (threshold 2), over keep-alive HTTPS
//! (rustls) to an in-process webhook with a real docker-registry on loopback:
//! (a) warm: 1,000 reviews, 32 in flight over already open keep-alive connections, after the
//! first review filled the cache (and 200 one at a time, the latency without queueing);
//! (b) cold: the first review of a fresh webhook (empty cache), repeated;
//! against, in the same run, the registry floor: the check pipeline over the same images
//! with no cache and no HTTPS (`edge::verify::check`), repeated.
//! Prints p50/p99 and ratios plus registry request counts; asserts outcomes, nothing about
//! time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt as _;
use serde_json::{Value, json};

use sealgate::edge::registry::credentials::DockerConfig;
use sealgate::edge::registry::http::{HttpOptions, HttpRegistry};
use sealgate::edge::verify::{self, Cache, CheckOptions, GatherOptions};
use sealgate::serve::metrics::Metrics;
use sealgate::webhook::policies::{Policies, PolicySet};
use sealgate::webhook::{Settings, Webhook, tls};

const WARM_REVIEWS: usize = 1_000;
const IN_FLIGHT: usize = 32;
const COLD_RUNS: usize = 15;
const SERIAL_REVIEWS: usize = 200;

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn registry(addr: &str) -> Arc<HttpRegistry> {
    Arc::new(
        HttpRegistry::new(
            HttpOptions {
                insecure: vec![addr.to_owned()],
                ..HttpOptions::default()
            },
            DockerConfig::default(),
        )
        .unwrap(),
    )
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benchmark skipped: run it with `cargo bench --bench webhook`");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench());
}

async fn bench() {
    let reg = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let (key_a, pem_a) = keypair(dir.path(), "a");
    let (key_b, pem_b) = keypair(dir.path(), "b");
    let mut images = Vec::new();
    for i in 0..4 {
        let repo = format!("team/svc{i}");
        push_image(&oci(), &reg, &repo, "v1").await;
        let image = reg.reference(&repo, "v1");
        for key in [&key_a, &key_b] {
            let r = run(sealgate()
                .env("COSIGN_PASSWORD", "pw")
                .arg("sign")
                .arg("--key")
                .arg(key)
                .args(["--insecure-registry", &reg.addr, &image]));
            assert_eq!(r.code, 0, "{r}");
        }
        images.push(image);
    }
    let policy_file = write_policy(
        dir.path(),
        "**",
        &[("a", &pem_a), ("b", &pem_b)],
        Some(2),
        "",
    );
    let policies = sealgate::policy::load(&policy_file).unwrap();
    let containers: Vec<Value> = (0..8)
        .map(|i| json!({"name": format!("c{i}"), "image": images[i % 4]}))
        .collect();
    let object = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                        "spec": {"containers": containers}});
    let body = |n: usize| {
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": format!("u{n}"), "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "namespace": "team-a", "name": "web", "operation": "CREATE",
                        "object": object}
        }))
        .unwrap()
    };

    // TLS material for the in-process webhook
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    std::fs::write(dir.path().join("tls.crt"), leaf.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), leaf_key.serialize_pem()).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap()])
        .pool_max_idle_per_host(IN_FLIGHT)
        .build()
        .unwrap();

    // a fresh in-process webhook (empty cache) on its own port
    let start = || async {
        let cert = Arc::new(
            tls::ReloadingCert::load(
                &dir.path().join("tls.crt"),
                &dir.path().join("tls.key"),
                tls::provider(),
            )
            .unwrap(),
        );
        let config = Arc::new(tls::server_config(cert).unwrap());
        let ttl = Duration::from_secs(300);
        let http = registry(&reg.addr);
        let hook = Arc::new(Webhook::new(
            http.clone(),
            Policies::fixed(PolicySet::fixed(policies.clone(), Vec::new())),
            Arc::new(Cache::new(ttl, Duration::from_secs(30))),
            Settings {
                deadline: Duration::from_secs(8),
                mutate: false,
                check: CheckOptions {
                    gather: GatherOptions {
                        tag_ttl: Some(ttl),
                        ..GatherOptions::default()
                    },
                    resolve_all: false,
                },
            },
            Arc::new(Metrics::new()),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://localhost:{}/validate",
            listener.local_addr().unwrap().port()
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(sealgate::webhook::serve_tls(
            listener,
            hook.router(),
            config,
            async move {
                let _ = stopped.await;
            },
        ));
        (url, http, stop)
    };
    // the request bodies are made before anything is timed: the load generator's JSON work
    // would otherwise compete with the webhook for the same CPUs
    let bodies: Vec<bytes::Bytes> = (0..WARM_REVIEWS.max(SERIAL_REVIEWS).max(COLD_RUNS))
        .map(|n| bytes::Bytes::from(body(n)))
        .collect();
    let post = |url: String, n: usize| {
        let client = client.clone();
        let b = bodies[n % bodies.len()].clone();
        async move {
            let t = Instant::now();
            let r = client
                .post(url)
                .header("content-type", "application/json")
                .body(b)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let doc: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
            assert_eq!(doc["response"]["allowed"], true, "{doc}");
            t.elapsed()
        }
    };

    // registry floor: the check pipeline over the same snapshot, no cache, no HTTPS
    let review = sealgate::decision::admission::parse_review(&body(0)).unwrap();
    let snapshot = review.snapshot(&[]);
    let mut floor = Vec::new();
    let mut floor_requests = 0;
    for _ in 0..COLD_RUNS {
        let http = registry(&reg.addr);
        let t = Instant::now();
        let report = verify::check(
            &*http,
            &snapshot,
            &policies,
            &CheckOptions::default(),
            None,
            sealgate::base::time::now(),
            None,
        )
        .await;
        floor.push(t.elapsed());
        assert_eq!(report.decision, sealgate::base::verdict::Decision::Pass);
        floor_requests = http.requests();
    }

    // cold: the first review of a fresh webhook
    let mut cold = Vec::new();
    let mut cold_requests = 0;
    for n in 0..COLD_RUNS {
        let (url, http, stop) = start().await;
        // the TLS handshake is part of what the API server pays on a new connection too,
        // but keep-alive hides it afterwards: warm the connection with a health check
        client
            .get(url.replace("/validate", "/healthz"))
            .send()
            .await
            .unwrap();
        cold.push(post(url, n).await);
        cold_requests = http.requests();
        let _ = stop.send(());
    }

    // warm: 1,000 reviews, 32 in flight, on a webhook whose cache the first review filled
    let (url, http, _stop) = start().await;
    post(url.clone(), 0).await;
    // open the pool's keep-alive connections (the API server keeps its own open too): the
    // TLS handshakes are not part of a warm review
    let _: Vec<Duration> = futures::stream::iter(0..IN_FLIGHT)
        .map(|n| post(url.clone(), n))
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let before = http.requests();
    // one at a time: the latency of a review without queueing behind others
    let mut serial = Vec::new();
    for n in 0..SERIAL_REVIEWS {
        serial.push(post(url.clone(), n).await);
    }
    let t = Instant::now();
    let mut warm: Vec<Duration> = futures::stream::iter(0..WARM_REVIEWS)
        .map(|n| post(url.clone(), n))
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let wall = t.elapsed();
    let warm_requests = http.requests() - before;

    let (f50, f99) = (percentile(&mut floor, 0.5), percentile(&mut floor, 0.99));
    let (c50, c99) = (percentile(&mut cold, 0.5), percentile(&mut cold, 0.99));
    let (w50, w99) = (percentile(&mut warm, 0.5), percentile(&mut warm, 0.99));
    let (s50, s99) = (percentile(&mut serial, 0.5), percentile(&mut serial, 0.99));
    println!("admission webhook: Pod with 8 containers over 4 images, 2 required signatures each");
    println!(
        "  registry floor (check pipeline, no cache):  p50 {:>8.2} ms  p99 {:>8.2} ms  ({floor_requests} registry requests)",
        ms(f50),
        ms(f99)
    );
    println!(
        "  cold review (fresh webhook, over HTTPS):    p50 {:>8.2} ms  p99 {:>8.2} ms  ({cold_requests} registry requests)  p99 / floor p99 = {:.2}",
        ms(c50),
        ms(c99),
        c99.as_secs_f64() / f99.as_secs_f64()
    );
    println!(
        "  warm reviews ({WARM_REVIEWS}, {IN_FLIGHT} in flight):        p50 {:>8.2} ms  p99 {:>8.2} ms  ({warm_requests} registry requests)  {:.0} reviews/s",
        ms(w50),
        ms(w99),
        WARM_REVIEWS as f64 / wall.as_secs_f64()
    );
    println!(
        "  warm reviews ({SERIAL_REVIEWS}, one at a time):         p50 {:>8.2} ms  p99 {:>8.2} ms",
        ms(s50),
        ms(s99)
    );
    println!(
        "  machine: {} CPUs (client, webhook and registry share them)",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    assert_eq!(warm_requests, 0, "warm reviews are answered from the cache");
    assert_eq!(
        cold_requests, floor_requests,
        "a cold review costs what the pipeline does"
    );
}
