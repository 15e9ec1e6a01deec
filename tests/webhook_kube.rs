//! `sealgate webhook --kube` in process: policies from a mocked Kubernetes API server
//! (kube-rs's `tower_test` service, every request checked by method, path and query) through
//! the webhook's reflectors, images in a real `docker-registry` signed by `sealgate sign`.
//! A ClusterImagePolicy created while the webhook runs applies to the next review without a
//! restart; an ImagePolicy applies to its namespace only; a policy that does not compile
//! denies its scope with `PolicyUnavailable`; denials publish an Event, dry runs do not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use http::{Method, Request, Response};
use kube::client::Body;
use serde_json::{Value, json};

use sealgate::edge::registry::credentials::DockerConfig;
use sealgate::edge::registry::http::{HttpOptions, HttpRegistry};
use sealgate::edge::verify::{Cache, CheckOptions};
use sealgate::serve::metrics::Metrics;
use sealgate::webhook::policies::{Policies, PolicySet};
use sealgate::webhook::{Settings, Webhook};

const GROUP: &str = "/apis/sealgate.dev/v1alpha1";
const KEY_SECRET: &str = "/api/v1/namespaces/sealgate-system/secrets/cosign";

type Send = tower_test::mock::SendResponse<Response<Body>>;

/// What the mocked API server holds and saw.
#[derive(Default)]
struct Server {
    /// Objects by resource (`imagepolicies`, `clusterimagepolicies`).
    objects: BTreeMap<&'static str, Vec<Value>>,
    resource_version: u64,
    /// Watches waiting for a change, by resource.
    watches: BTreeMap<&'static str, Vec<Send>>,
    public_pem: String,
    secret_reads: usize,
    events: Vec<Value>,
    /// Requests the server could not place (fail the test).
    unexpected: Vec<String>,
}

fn reply(send: Send, status: u16, body: &Value) {
    send.send_response(
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap(),
    );
}

fn query(req: &Request<Body>) -> BTreeMap<String, String> {
    req.uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

impl Server {
    fn handle(&mut self, req: Request<Body>, send: Send, body: Value) {
        let path = req.uri().path().to_owned();
        let q = query(&req);
        let resource = match path.as_str() {
            p if p == format!("{GROUP}/imagepolicies") => Some("imagepolicies"),
            p if p == format!("{GROUP}/clusterimagepolicies") => Some("clusterimagepolicies"),
            _ => None,
        };
        if let (Some(resource), &Method::GET) = (resource, req.method()) {
            if q.get("watch").map(String::as_str) == Some("true") {
                // a watch resumes from a version this server handed out
                let rv: u64 = q["resourceVersion"].parse().unwrap();
                assert!(rv <= self.resource_version, "watch from the future: {q:?}");
                self.watches.entry(resource).or_default().push(send);
            } else {
                let allowed = ["limit", "resourceVersion", "resourceVersionMatch"];
                assert!(
                    q.keys().all(|k| allowed.contains(&k.as_str())),
                    "list query {q:?}"
                );
                let kind = if resource == "imagepolicies" {
                    "ImagePolicyList"
                } else {
                    "ClusterImagePolicyList"
                };
                reply(
                    send,
                    200,
                    &json!({
                        "apiVersion": "sealgate.dev/v1alpha1", "kind": kind,
                        "metadata": {"resourceVersion": self.resource_version.to_string()},
                        "items": self.objects.get(resource).cloned().unwrap_or_default(),
                    }),
                );
            }
            return;
        }
        if req.method() == Method::GET && path == KEY_SECRET {
            self.secret_reads += 1;
            reply(
                send,
                200,
                &json!({
                    "apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "cosign", "namespace": "sealgate-system"},
                    "data": {"cosign.pub": b64(self.public_pem.as_bytes())},
                }),
            );
            return;
        }
        if req.method() == Method::POST
            && path.starts_with("/apis/events.k8s.io/v1/namespaces/")
            && path.ends_with("/events")
        {
            self.events.push(body.clone());
            reply(send, 201, &body);
            return;
        }
        self.unexpected
            .push(format!("{} {}", req.method(), req.uri()));
        reply(
            send,
            404,
            &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "reason": "NotFound", "code": 404, "message": "not in this test"}),
        );
    }

    /// Stores `object` under `resource` and tells the waiting watches.
    fn add(&mut self, resource: &'static str, mut object: Value) {
        self.resource_version += 1;
        object["metadata"]["resourceVersion"] = self.resource_version.to_string().into();
        object["metadata"]["uid"] = format!("uid-{}", self.resource_version).into();
        self.objects
            .entry(resource)
            .or_default()
            .push(object.clone());
        let line = serde_json::to_vec(&json!({"type": "ADDED", "object": object})).unwrap();
        for send in self.watches.remove(resource).unwrap_or_default() {
            send.send_response(
                Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(Body::from(line.clone()))
                    .unwrap(),
            );
        }
    }
}

fn cluster_policy(name: &str) -> Value {
    json!({
        "apiVersion": "sealgate.dev/v1alpha1", "kind": "ClusterImagePolicy",
        "metadata": {"name": name},
        "spec": {"rules": [{"name": "signed", "images": ["**"],
                  "signatures": {"attestors": [
                      {"name": "ci", "key": {"path": "k8s://sealgate-system/cosign"}}]}}]}
    })
}

fn image_policy(namespace: &str, name: &str, key: &str) -> Value {
    json!({
        "apiVersion": "sealgate.dev/v1alpha1", "kind": "ImagePolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"rules": [{"name": "signed", "images": ["**"],
                  "signatures": {"attestors": [{"name": "team", "key": {"path": key}}]}}]}
    })
}

fn review(namespace: &str, image: &str, dry_run: bool) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": format!("uid-{}", hex::encode(rand_bytes::<6>())),
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace, "name": "web", "operation": "CREATE",
            "userInfo": {"username": "someone"},
            "object": {"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": "web", "namespace": namespace},
                       "spec": {"containers": [{"name": "c", "image": image}]}},
            "dryRun": dry_run
        }
    }))
    .unwrap()
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_follow_the_cluster_without_a_restart_and_denials_publish_events() {
    let reg = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let (key, pem) = keypair(dir.path(), "ci");
    push_image(&oci(), &reg, "team/web", "v1").await;
    let image = reg.reference("team/web", "v1");
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "pw")
        .arg("sign")
        .arg("--key")
        .arg(&key)
        .args(["--insecure-registry", &reg.addr, &image]));
    assert_eq!(r.code, 0, "{r}");

    // the mocked API server
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let server = Arc::new(Mutex::new(Server {
        public_pem: pem,
        ..Server::default()
    }));
    let state = server.clone();
    let api = tokio::spawn(async move {
        while let Some((req, send)) = handle.next_request().await {
            let (parts, body) = req.into_parts();
            let bytes = body.collect_bytes().await.unwrap();
            let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            state
                .lock()
                .unwrap()
                .handle(Request::from_parts(parts, Body::empty()), send, json);
        }
    });

    let policies = Policies::pending();
    let registry = Arc::new(
        HttpRegistry::new(
            HttpOptions {
                insecure: vec![reg.addr.clone()],
                ..HttpOptions::default()
            },
            DockerConfig::default(),
        )
        .unwrap(),
    );
    let hook = Webhook::new(
        registry,
        policies.clone(),
        Arc::new(Cache::new(
            Duration::from_secs(300),
            Duration::from_secs(30),
        )),
        Settings {
            deadline: Duration::from_secs(20),
            mutate: false,
            check: CheckOptions::default(),
        },
        Arc::new(Metrics::new()),
    )
    .with_events(kube::runtime::events::Recorder::new(
        client.clone(),
        kube::runtime::events::Reporter {
            controller: "sealgate-webhook".into(),
            instance: None,
        },
    ));
    let ask = |body: Vec<u8>| {
        let hook = &hook;
        async move { hook.review(&body, false).await.unwrap()["response"].clone() }
    };

    // not synced yet: fail closed
    assert!(!hook.is_ready());
    let watch = tokio::spawn(sealgate::webhook::kube::watch(
        sealgate::webhook::kube::Source {
            client: client.clone(),
            trusted_root: None,
            extra: Vec::new(),
            resync: Duration::from_secs(3600),
        },
        policies.clone(),
    ));
    until("the first sync", || hook.is_ready()).await;

    // no policy at all: nothing matches, denied, with an Event in the pod's namespace
    let r = ask(review("team-a", &image, false)).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("NoPolicyMatch"),
        "{r}"
    );
    until("the denial event", || {
        server.lock().unwrap().events.len() == 1
    })
    .await;
    {
        let s = server.lock().unwrap();
        let e = &s.events[0];
        assert_eq!(e["reason"], "NoPolicyMatch");
        assert_eq!(e["action"], "Admission");
        assert_eq!(e["type"], "Warning");
        assert_eq!(e["reportingController"], "sealgate-webhook");
        assert_eq!(e["regarding"]["kind"], "Pod");
        assert_eq!(e["regarding"]["namespace"], "team-a");
        assert_eq!(e["regarding"]["name"], "web");
        assert!(e["note"].as_str().unwrap().contains("NoPolicyMatch"), "{e}");
    }
    // a dry run is answered the same, without an Event
    let r = ask(review("team-a", &image, true)).await;
    assert_eq!(r["allowed"], false, "{r}");

    // a ClusterImagePolicy appears: the next review passes, no restart
    server
        .lock()
        .unwrap()
        .add("clusterimagepolicies", cluster_policy("signed"));
    until("the new policy", || {
        policies.current().is_some_and(|p| p.len() == 1)
    })
    .await;
    let r = ask(review("team-a", &image, false)).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(server.lock().unwrap().secret_reads, 1);
    // an unsigned image is still refused
    push_image(&oci(), &reg, "team/other", "v1").await;
    let r = ask(review("team-c", &reg.reference("team/other", "v1"), false)).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("NoSignature"),
        "{r}"
    );

    // an ImagePolicy of team-a that names another namespace's Secret does not compile: team-a
    // is closed until it is fixed, team-b is not affected
    server.lock().unwrap().add(
        "imagepolicies",
        image_policy("team-a", "stolen", "k8s://team-b/keys"),
    );
    until("the broken policy", || {
        policies.current().is_some_and(|p| p.broken().len() == 1)
    })
    .await;
    let r = ask(review("team-a", &image, false)).await;
    assert_eq!(r["allowed"], false, "{r}");
    let message = r["status"]["message"].as_str().unwrap();
    assert!(message.contains("PolicyUnavailable"), "{message}");
    assert!(message.contains("ImagePolicy team-a/stolen"), "{message}");
    let r = ask(review("team-b", &image, false)).await;
    assert_eq!(r["allowed"], true, "{r}");

    until("the second denial event", || {
        server.lock().unwrap().events.len() >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    {
        let s = server.lock().unwrap();
        // denials: team-a (no policy), team-c (unsigned), team-a (broken); the dry run none
        let reasons: Vec<(&str, &str)> = s
            .events
            .iter()
            .map(|e| {
                (
                    e["regarding"]["namespace"].as_str().unwrap(),
                    e["reason"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            reasons,
            [
                ("team-a", "NoPolicyMatch"),
                ("team-c", "NoSignature"),
                ("team-a", "PolicyUnavailable")
            ]
        );
        assert!(s.unexpected.is_empty(), "{:?}", s.unexpected);
    }

    // a ClusterImagePolicy naming a Vault transit key the webhook cannot read (no Vault
    // configured here): not loaded, so every namespace it covers is denied, naming why
    let mut vault = cluster_policy("vault");
    vault["spec"]["rules"][0]["signatures"]["attestors"][0]["key"]["path"] =
        json!("hashivault://ci");
    server.lock().unwrap().add("clusterimagepolicies", vault);
    until("the unreadable key", || {
        policies.current().is_some_and(|p| p.broken().len() == 2)
    })
    .await;
    let r = ask(review("team-b", &image, true)).await;
    assert_eq!(r["allowed"], false, "{r}");
    let message = r["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("PolicyUnavailable")
            && message.contains("ClusterImagePolicy vault: hashivault://ci")
            && message.contains("VAULT_ADDR"),
        "{message}"
    );
    watch.abort();
    api.abort();
}

/// `sealgate controller --webhook` shares the controller's registry client and evidence cache
/// with the webhook: a Pod of an image the gate already verified (by tag) is admitted with no
/// registry request at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_gate_verified_is_admitted_without_a_registry_request() {
    let reg = TestRegistry::start();
    let dir = tempfile::tempdir().unwrap();
    let (key, pem) = keypair(dir.path(), "ci");
    let mut images = Vec::new();
    for repo in ["team/web", "team/api"] {
        push_image(&oci(), &reg, repo, "v1").await;
        let image = reg.reference(repo, "v1");
        let r = run(sealgate()
            .env("COSIGN_PASSWORD", "pw")
            .arg("sign")
            .arg("--key")
            .arg(&key)
            .args(["--insecure-registry", &reg.addr, &image]));
        assert_eq!(r.code, 0, "{r}");
        images.push(image);
    }
    let policy = write_policy(dir.path(), "**", &[("ci", &pem)], None, "");
    let policies = sealgate::policy::load(&policy).unwrap();
    let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = requests.clone();
    let registry = Arc::new(
        HttpRegistry::new(
            HttpOptions {
                insecure: vec![reg.addr.clone()],
                observer: Some(Arc::new(move |_: &str, _: u16| {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                })),
                ..HttpOptions::default()
            },
            DockerConfig::default(),
        )
        .unwrap(),
    );
    let cache = Arc::new(Cache::new(
        Duration::from_secs(300),
        Duration::from_secs(30),
    ));

    // the gate's check of a revision (tags resolved, never read back from the cache)
    let manifests = dir.path().join("repo");
    std::fs::create_dir_all(&manifests).unwrap();
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    write_deployment(&manifests, "web.yaml", &refs);
    let snapshot = sealgate::manifests::load_paths(
        &[manifests.join("web.yaml")],
        &sealgate::manifests::LoadOptions::default(),
    );
    assert_eq!(snapshot.images.len(), 2);
    let gate_options = CheckOptions::default();
    assert_eq!(
        gate_options.gather.tag_ttl, None,
        "the gate does not reuse tags"
    );
    let report = sealgate::edge::verify::check(
        &*registry,
        &snapshot,
        &policies,
        &gate_options,
        Some(&cache),
        sealgate::base::time::now(),
        None,
    )
    .await;
    assert_eq!(
        report.decision,
        sealgate::base::verdict::Decision::Pass,
        "{}",
        sealgate::decision::report::to_json(&report)
    );
    let gate_requests = requests.load(std::sync::atomic::Ordering::SeqCst);
    assert!(gate_requests >= 4, "{gate_requests}");

    // the webhook in the same process, same registry client and cache
    let hook = Webhook::new(
        registry.clone(),
        Policies::fixed(PolicySet::fixed(policies.clone(), Vec::new())),
        cache.clone(),
        Settings {
            deadline: Duration::from_secs(20),
            mutate: false,
            check: CheckOptions {
                gather: sealgate::edge::verify::GatherOptions {
                    tag_ttl: Some(Duration::from_secs(300)),
                    ..Default::default()
                },
                resolve_all: false,
            },
        },
        Arc::new(Metrics::new()),
    );
    for image in &images {
        let r = hook
            .review(&review("team-a", image, false), false)
            .await
            .unwrap();
        assert_eq!(r["response"]["allowed"], true, "{r}");
    }
    assert_eq!(
        requests.load(std::sync::atomic::Ordering::SeqCst),
        gate_requests,
        "admission of what the gate verified made registry requests"
    );

    // the gate's next run resolves the tags again (a moved tag is seen)
    let _ = sealgate::edge::verify::check(
        &*registry,
        &snapshot,
        &policies,
        &gate_options,
        Some(&cache),
        sealgate::base::time::now(),
        None,
    )
    .await;
    assert_eq!(
        requests.load(std::sync::atomic::Ordering::SeqCst),
        gate_requests + images.len(),
        "the gate resolves each tag once per run and takes the rest from the cache"
    );
}
