//! The Kubernetes controller (`sealgate::controller::reconcile`) over a scripted API server
//! (controller-rs's `ApiServerVerifier` shape, `tests/common/apiserver.rs`): every scenario
//! lists the exact API calls one reconcile must make — method, path, query (`fieldManager`,
//! `dryRun`, `force`), content type, `Impersonate-User` and body — and a call that does not
//! match, an extra call or a missing one fails the test. Git and the registry are real: a
//! `git daemon` origin and a `docker-registry` holding an image signed with `sealgate sign`
//! and an unsigned one.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

#[path = "common/apiserver.rs"]
mod apiserver;
mod common;

use std::sync::Arc;
use std::time::Duration;

use apiserver::{Call, Expect, MockApi, status_success};
use common::gate::World;
use common::{OCI_MANIFEST, keypair, sha256};
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use sealgate::controller::crd::{
    ApplyTarget, DeploymentGate, DeploymentGateSpec, DeploymentGateStatus, FINALIZER, GateSource,
    GateTarget, ImagePolicy, ImagePolicyCrdSpec, Inventory, InventoryEntry, LocalObjectReference,
    PromoteTarget, VerifySpec,
};
use sealgate::controller::{self, ApproveError, Context, Options};
use sealgate::edge::registry::AnyRegistry;
use sealgate::edge::registry::credentials::DockerConfig;
use sealgate::edge::registry::http::{HttpOptions, HttpRegistry};
use sealgate::serve::metrics::Metrics;
use serde_json::{Value, json};

const NS: &str = "team";
const SA: &str = "deployer";
const SA_USER: &str = "system:serviceaccount:team:deployer";
/// `spec.source.interval` of the test gates.
const INTERVAL: Duration = Duration::from_secs(120);
const GROUP: &str = "/apis/sealgate.dev/v1alpha1";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/team/events";

fn gate_path() -> String {
    format!("{GROUP}/namespaces/team/deploymentgates/web")
}

fn status_path() -> String {
    format!("{}/status", gate_path())
}

// ---------------------------------------------------------------------------------------
// The revision's objects

/// One object of the test revisions: what its apply and inventory entry look like.
#[derive(Debug, Clone, Copy)]
struct Obj {
    kind: &'static str,
    name: &'static str,
    collection: &'static str,
    id: &'static str,
}

impl Obj {
    fn path(self) -> String {
        format!("{}/{}", self.collection, self.name)
    }

    fn entry(self) -> InventoryEntry {
        InventoryEntry {
            id: self.id.into(),
            v: "v1".into(),
        }
    }
}

const CONFIGMAP: Obj = Obj {
    kind: "ConfigMap",
    name: "web-config",
    collection: "/api/v1/namespaces/team/configmaps",
    id: "team_web-config__ConfigMap",
};
const DEPLOYMENT: Obj = Obj {
    kind: "Deployment",
    name: "web",
    collection: "/apis/apps/v1/namespaces/team/deployments",
    id: "team_web_apps_Deployment",
};
const SERVICE: Obj = Obj {
    kind: "Service",
    name: "web",
    collection: "/api/v1/namespaces/team/services",
    id: "team_web__Service",
};
/// Every object of a full revision, in apply order (files sorted, documents in order).
const ALL: [Obj; 3] = [CONFIGMAP, DEPLOYMENT, SERVICE];

const CONFIG_YAML: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  mode: production\n";

/// A Deployment running `image` and its Service (no namespace: the gate's is used).
fn web_yaml(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {{app: web}}\nspec:\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n        - name: web\n          image: {image}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 8080}}]\n"
    )
}

fn inventory(objs: &[Obj]) -> Inventory {
    let mut entries: Vec<InventoryEntry> = objs.iter().map(|o| o.entry()).collect();
    entries.sort();
    Inventory { entries }
}

// ---------------------------------------------------------------------------------------
// Gates

/// Builds `DeploymentGate` test objects: `team/web`, generation 1, the finalizer present.
#[derive(Clone)]
struct GateBuilder(DeploymentGate);

impl GateBuilder {
    /// An apply gate following `main` of `url`, manifests under `deploy/`, interval 2m.
    fn apply(url: &str) -> Self {
        let spec = DeploymentGateSpec {
            source: GateSource {
                url: url.into(),
                git_ref: "main".into(),
                path: "deploy".into(),
                interval: Some("2m".into()),
                timeout: Some("30s".into()),
                secret_ref: None,
                verify: None,
            },
            policy_refs: Vec::new(),
            target: GateTarget {
                apply: Some(ApplyTarget::default()),
                promote: None,
            },
            approval: Default::default(),
            approved_revision: None,
            suspend: false,
            summary: None,
            image_updates: None,
        };
        let mut g = DeploymentGate::new("web", spec);
        g.metadata.namespace = Some(NS.into());
        g.metadata.uid = Some("5e1d0c3a-7b2f-4c49-9a57-3f0d3d1c2b10".into());
        g.metadata.generation = Some(1);
        g.metadata.finalizers = Some(vec![FINALIZER.into()]);
        Self(g)
    }

    fn named(mut self, ns: &str, name: &str) -> Self {
        self.0.metadata.namespace = Some(ns.into());
        self.0.metadata.name = Some(name.into());
        self
    }

    fn policy(mut self, name: &str) -> Self {
        self.0
            .spec
            .policy_refs
            .push(LocalObjectReference { name: name.into() });
        self
    }

    fn apply_target(&mut self) -> &mut ApplyTarget {
        self.0.spec.target.apply.as_mut().expect("an apply gate")
    }

    fn prune(mut self, on: bool) -> Self {
        self.apply_target().prune = on;
        self
    }

    fn sa(mut self, name: &str) -> Self {
        self.apply_target().service_account_name = Some(name.into());
        self
    }

    fn force(mut self) -> Self {
        self.apply_target().force = true;
        self
    }

    fn approval(mut self) -> Self {
        self.0.spec.approval.required = true;
        self
    }

    fn approved(mut self, revision: &str) -> Self {
        self.0.spec.approved_revision = Some(revision.into());
        self
    }

    fn suspend(mut self) -> Self {
        self.0.spec.suspend = true;
        self
    }

    fn source_secret(mut self, name: &str) -> Self {
        self.0.spec.source.secret_ref = Some(LocalObjectReference { name: name.into() });
        self
    }

    fn verify_secret(mut self, name: &str) -> Self {
        self.0.spec.source.verify = Some(VerifySpec {
            secret_ref: LocalObjectReference { name: name.into() },
        });
        self
    }

    fn promote(mut self, secret: &str) -> Self {
        self.0.spec.target = GateTarget {
            apply: None,
            promote: Some(PromoteTarget {
                branch: "deploy/prod".into(),
                secret_ref: Some(LocalObjectReference {
                    name: secret.into(),
                }),
                ..Default::default()
            }),
        };
        self
    }

    fn generation(mut self, g: i64) -> Self {
        self.0.metadata.generation = Some(g);
        self
    }

    fn without_finalizer(mut self) -> Self {
        self.0.metadata.finalizers = None;
        self
    }

    fn deleting(mut self) -> Self {
        self.0.metadata.deletion_timestamp =
            Some(serde_json::from_value(json!("2026-01-02T03:04:05Z")).unwrap());
        self
    }

    fn status(mut self, st: DeploymentGateStatus) -> Self {
        self.0.status = Some(st);
        self
    }

    fn image_updates(mut self, yaml: &str) -> Self {
        self.0.spec.image_updates = Some(serde_saphyr::from_str(yaml).unwrap());
        self
    }

    fn build(self) -> DeploymentGate {
        self.0
    }
}

// ---------------------------------------------------------------------------------------
// Policies

/// An ImagePolicy `team/production` trusting `pem` for every image, plus `more_rules`.
fn policy_json(pem: &str, more_rules: &[Value]) -> Value {
    let mut rules = vec![json!({
        "name": "signed",
        "images": ["**"],
        "signatures": {"attestors": [{"name": "ci", "key": {"pem": pem}}]},
    })];
    rules.extend(more_rules.iter().cloned());
    json!({
        "apiVersion": "sealgate.dev/v1alpha1",
        "kind": "ImagePolicy",
        "metadata": {"name": "production", "namespace": NS, "resourceVersion": "11", "uid": "0b9e3c1e-1111-4f7a-8f3e-2d7c5f0a9b11"},
        "spec": {"mode": "enforce", "rules": rules},
    })
}

fn cluster_policies(items: Vec<Value>) -> Value {
    json!({
        "apiVersion": "sealgate.dev/v1alpha1",
        "kind": "ClusterImagePolicyList",
        "metadata": {"resourceVersion": "12"},
        "items": items,
    })
}

/// The policy reads every reconcile makes: the gate's ImagePolicy, then the cluster's.
fn reads(policy: &Value, cluster: Vec<Value>) -> Vec<Expect> {
    vec![
        Expect::get(format!("{GROUP}/namespaces/team/imagepolicies/production"))
            .reply(200, policy.clone()),
        Expect::get(format!("{GROUP}/clusterimagepolicies")).reply(200, cluster_policies(cluster)),
    ]
}

// ---------------------------------------------------------------------------------------
// Expected calls

/// RFC 7386 JSON merge patch, as the API server applies it (`null` deletes).
fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// `gate` with a status merge patch applied, as the server stores it.
fn patched(gate: &Value, body: &Value) -> Value {
    let mut g = gate.clone();
    merge_patch(&mut g, body);
    g
}

/// The status merge patch; `check` gets the status the server ends up with (the gate's
/// status with the patch merged). Answered with the patched gate.
fn status_patch(
    gate: &DeploymentGate,
    check: impl Fn(&DeploymentGateStatus) + Send + Sync + 'static,
) -> Expect {
    let object = serde_json::to_value(gate).unwrap();
    let answer = object.clone();
    Expect::patch_merge(status_path())
        .check("status", move |body| {
            let keys: Vec<&String> = body.as_object().expect("an object").keys().collect();
            assert_eq!(keys, ["status"], "only the status is patched");
            let st: DeploymentGateStatus =
                serde_json::from_value(patched(&object, body)["status"].clone())
                    .expect("a DeploymentGateStatus");
            check(&st);
        })
        .reply_with(move |body| (200, patched(&answer, body)))
}

fn check_event(body: &Value, reason: &str, type_: &str) {
    assert_eq!(body["reason"], reason);
    assert_eq!(body["type"], type_);
    assert_eq!(body["reportingController"], "sealgate");
    assert_eq!(body["regarding"]["kind"], "DeploymentGate");
    assert_eq!(body["regarding"]["namespace"], NS);
    assert_eq!(body["regarding"]["name"], "web");
}

/// A new Event (POST) with `reason`, `type` and a note containing `note`.
fn event(reason: &'static str, type_: &'static str, note: impl Into<String>) -> Expect {
    let note = note.into();
    Expect::post(EVENTS).check(&format!("event {reason}"), move |b| {
        check_event(b, reason, type_);
        let n = b["note"].as_str().unwrap_or_default();
        assert!(n.contains(&note), "note {n:?} should contain {note:?}");
        assert!(b["series"].is_null(), "a first occurrence");
    })
}

/// The same Event again within the recorder's cache window: a PATCH of its series.
fn event_again(reason: &'static str, type_: &'static str, count: i64) -> Expect {
    Expect::patch_merge(EVENTS)
        .under(format!("{EVENTS}/web."))
        .check(&format!("event {reason} ×{count}"), move |b| {
            check_event(b, reason, type_);
            assert_eq!(b["series"]["count"], count);
        })
}

/// Condition `(status, reason, message)`, panicking with the whole status if absent.
fn cond(st: &DeploymentGateStatus, type_: &str) -> (String, String, String) {
    let c = st
        .condition(type_)
        .unwrap_or_else(|| panic!("no condition {type_} in {st:#?}"));
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

fn assert_cond(st: &DeploymentGateStatus, type_: &str, status: &str, reason: &str) {
    let (s, r, m) = cond(st, type_);
    assert_eq!(
        (s.as_str(), r.as_str()),
        (status, reason),
        "{type_}: {m}\n{st:#?}"
    );
}

/// The status `gate` has after the status patch among `calls`.
fn written_status(gate: &DeploymentGate, calls: &[Call]) -> DeploymentGateStatus {
    let c = calls
        .iter()
        .find(|c| c.path == status_path())
        .expect("a status patch");
    let object = serde_json::to_value(gate).unwrap();
    serde_json::from_value(patched(&object, &c.body)["status"].clone()).unwrap()
}

fn context(
    api: &MockApi,
    insecure: Vec<String>,
    state: &std::path::Path,
    metrics: Option<Arc<Metrics>>,
) -> Arc<Context> {
    let client = api.client();
    let registry = AnyRegistry::Http(
        HttpRegistry::new(
            HttpOptions {
                insecure: insecure.clone(),
                ..Default::default()
            },
            DockerConfig::default(),
        )
        .unwrap(),
    );
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "sealgate".into(),
            instance: None,
        },
    );
    Arc::new(Context::new(
        client,
        api.impersonate(),
        registry,
        recorder,
        metrics,
        Options {
            state_dir: state.to_path_buf(),
            store: Some(Arc::new(
                sealgate::edge::registry::store::Store::open(None, &insecure, None, 30).unwrap(),
            )),
            ..Options::default()
        },
    ))
}

/// A mocked API server and a context without registry or Git (deletion, mappers).
struct Bare {
    api: MockApi,
    ctx: Arc<Context>,
    _state: tempfile::TempDir,
}

impl Bare {
    fn new() -> Self {
        let api = MockApi::new();
        let state = tempfile::tempdir().unwrap();
        let ctx = context(&api, Vec::new(), state.path(), None);
        Self {
            api,
            ctx,
            _state: state,
        }
    }

    async fn reconcile(
        &mut self,
        gate: &DeploymentGate,
        script: Vec<Expect>,
    ) -> (Result<Action, controller::Error>, Vec<Call>) {
        let fut = controller::reconcile(Arc::new(gate.clone()), self.ctx.clone());
        self.api.run(script, fut).await
    }
}

/// The world of a scenario: a real registry (a signed `team/web:v1`, an unsigned
/// `team/debug:latest`), a `git daemon` origin, the mocked API server and a context.
struct Env {
    w: World,
    api: MockApi,
    ctx: Arc<Context>,
    metrics: Arc<Metrics>,
    /// The public key the signed image verifies with.
    pem: String,
    /// The signed image's digest.
    digest: String,
    _state: tempfile::TempDir,
}

impl Env {
    async fn new() -> Self {
        let w = World::builder().unsigned_image().start().await;
        let pem = std::fs::read_to_string(w.path("ci.pub")).unwrap();
        let digest = sha256(&w.reg.get("/v2/team/web/manifests/v1", OCI_MANIFEST));
        let api = MockApi::new();
        let state = tempfile::tempdir().unwrap();
        let metrics = Arc::new(Metrics::new());
        let ctx = context(
            &api,
            vec![w.reg.addr.clone()],
            state.path(),
            Some(metrics.clone()),
        );
        Self {
            w,
            api,
            ctx,
            metrics,
            pem,
            digest,
            _state: state,
        }
    }

    /// The signed image as applied: tag kept, verified digest pinned.
    fn pinned(&self) -> String {
        format!("{}@{}", self.w.signed, self.digest)
    }

    /// A commit with the ConfigMap, the Deployment (signed image) and the Service.
    fn commit_good(&self, note: &str) -> String {
        self.w.git.commit(
            &[
                ("deploy/config.yaml", CONFIG_YAML),
                ("deploy/web.yaml", &web_yaml(&self.w.signed)),
                ("deploy/NOTES.txt", note),
            ],
            note,
        )
    }

    /// A commit whose Deployment runs the unsigned image.
    fn commit_unsigned(&self, note: &str) -> String {
        self.w.git.commit(
            &[
                ("deploy/web.yaml", &web_yaml(&self.w.unsigned)),
                ("deploy/NOTES.txt", note),
            ],
            note,
        )
    }

    /// The usual gate: policy `production`, prune, applied as ServiceAccount `deployer`.
    fn gate(&self) -> GateBuilder {
        GateBuilder::apply(&self.w.git.url)
            .policy("production")
            .prune(true)
            .sa(SA)
    }

    fn policy(&self) -> Value {
        policy_json(&self.pem, &[])
    }

    /// The gate's policy reads, answered with the usual policy and no cluster policy.
    fn reads(&self) -> Vec<Expect> {
        reads(&self.policy(), Vec::new())
    }

    /// One server-side apply of `o` (dry run or real) with the checks of its body.
    fn apply(&self, o: Obj, dry_run: bool, force: bool, user: Option<&str>) -> Expect {
        let mut e = Expect::apply(o.path(), "sealgate");
        if dry_run {
            e = e.query(&[("dryRun", "All")]);
        }
        if force {
            e = e.query(&[("force", "true")]);
        }
        if let Some(u) = user {
            e = e.acting_as(u);
        }
        let pinned = self.pinned();
        e.check(&format!("{} {}", o.kind, o.name), move |b| {
            assert_eq!(b["kind"], o.kind);
            assert_eq!(b["metadata"]["name"], o.name);
            assert_eq!(b["metadata"]["namespace"], NS, "the gate's namespace");
            if o.kind == "Deployment" {
                assert_eq!(
                    b["spec"]["template"]["spec"]["containers"][0]["image"],
                    pinned.as_str(),
                    "the verified digest is pinned"
                );
            }
        })
    }

    /// Every object with `dryRun=All` first, then every object for real.
    fn applies(&self, objs: &[Obj], force: bool, user: Option<&str>) -> Vec<Expect> {
        let mut out: Vec<Expect> = objs
            .iter()
            .map(|o| self.apply(*o, true, force, user))
            .collect();
        out.extend(objs.iter().map(|o| self.apply(*o, false, force, user)));
        out
    }

    async fn reconcile(
        &mut self,
        gate: &DeploymentGate,
        script: Vec<Expect>,
    ) -> (Result<Action, controller::Error>, Vec<Call>) {
        let fut = controller::reconcile(Arc::new(gate.clone()), self.ctx.clone());
        self.api.run(script, fut).await
    }

    /// A reconcile that must apply `objs` (as `user`) and publish `applied`: the status.
    async fn pass(
        &mut self,
        gate: &DeploymentGate,
        objs: &[Obj],
        user: Option<&str>,
        applied: Expect,
    ) -> DeploymentGateStatus {
        let mut script = self.reads();
        script.extend(self.applies(objs, false, user));
        script.push(status_patch(gate, |st| {
            assert_cond(st, "Ready", "True", "Succeeded")
        }));
        script.push(applied);
        let (r, calls) = self.reconcile(gate, script).await;
        assert_eq!(r.unwrap(), Action::requeue(INTERVAL));
        written_status(gate, &calls)
    }

    /// `sealgate_<family>` lines of the metrics.
    fn metric(&self, line_start: &str) -> Vec<String> {
        self.metrics
            .encode()
            .lines()
            .filter(|l| l.starts_with(line_start))
            .map(str::to_owned)
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// (1) a new gate whose revision passes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_passing_revision_is_dry_run_then_applied_as_the_service_account_and_reported() {
    let mut e = Env::new().await;
    let commit = e.commit_good("v1");
    let gate = e.gate().build();

    let mut script = e.reads();
    script.extend(e.applies(&ALL, false, Some(SA_USER)));
    let c = commit.clone();
    let digest = e.digest.clone();
    script.push(status_patch(&gate, move |st| {
        assert_eq!(st.observed_generation, Some(1));
        assert_cond(st, "Ready", "True", "Succeeded");
        assert_cond(st, "SourceVerified", "True", "NotRequired");
        assert_cond(st, "ImagesVerified", "True", "Succeeded");
        assert_cond(st, "Applied", "True", "Applied");
        let (_, _, applied) = cond(st, "Applied");
        assert_eq!(applied, format!("{c}: 3 objects applied, 0 pruned"));
        for absent in ["Stalled", "Reconciling", "AwaitingApproval"] {
            assert!(st.condition(absent).is_none(), "{absent}: {st:#?}");
        }
        assert!(
            st.conditions
                .iter()
                .all(|c| c.observed_generation == Some(1)),
            "{st:#?}"
        );
        assert_eq!(st.last_attempted_revision.as_deref(), Some(c.as_str()));
        assert_eq!(st.last_verified_revision.as_deref(), Some(c.as_str()));
        assert_eq!(st.last_applied_revision.as_deref(), Some(c.as_str()));
        assert!(st.verified_inputs.as_ref().is_some_and(|d| d.len() == 64));
        assert_eq!((st.images_total, st.images_blocked), (1, 0));
        assert_eq!(st.images[0].verdict, "pass");
        assert_eq!(st.images[0].digest.as_deref(), Some(digest.as_str()));
        assert!(st.problems.is_empty(), "{:?}", st.problems);
        assert_eq!(st.inventory, Some(inventory(&ALL)));
    }));
    script.push(event(
        "Applied",
        "Normal",
        format!("applied {commit}; pruned 0 objects"),
    ));
    let (r, calls) = e.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::requeue(INTERVAL));
    // the controller's own reads and writes are not impersonated (checked per call), the
    // applies are: 6 of 10 calls
    assert_eq!(calls.iter().filter(|c| c.user.is_some()).count(), 6);
    assert_eq!(
        e.metric("sealgate_reconciles_total{result=\"applied\"}"),
        ["sealgate_reconciles_total{result=\"applied\"} 1"]
    );
}

// ---------------------------------------------------------------------------------------
// (2) a blocked image

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_image_applies_nothing_reports_once_and_keeps_the_last_good_revision() {
    let mut e = Env::new().await;
    let good = e.commit_good("v1");
    let gate = e.gate().build();
    let st1 = e
        .pass(
            &gate,
            &ALL,
            Some(SA_USER),
            event("Applied", "Normal", good.as_str()),
        )
        .await;

    // an unsigned image: no apply at all, Ready=False NoSignature, one Blocked event
    let bad = e.commit_unsigned("v2 with an unsigned image");
    let gate = e.gate().status(st1.clone()).build();
    let mut script = e.reads();
    let (g, b) = (good.clone(), bad.clone());
    let inv = st1.inventory.clone();
    script.push(status_patch(&gate, move |st| {
        assert_cond(st, "Ready", "False", "NoSignature");
        let (_, _, msg) = cond(st, "Ready");
        assert!(
            msg.contains(&format!("revision {b} is blocked (1 of 1 images)"))
                && msg.contains(&format!("the last good revision stays: {g}")),
            "{msg}"
        );
        assert_cond(st, "ImagesVerified", "False", "NoSignature");
        assert_cond(st, "Applied", "True", "Applied");
        assert!(st.condition("Stalled").is_none(), "blocked is not stalled");
        assert_eq!(st.last_attempted_revision.as_deref(), Some(b.as_str()));
        assert_eq!(st.last_applied_revision.as_deref(), Some(g.as_str()));
        assert_eq!(
            st.verified_inputs, None,
            "a block is never cached as verified"
        );
        assert_eq!((st.images_total, st.images_blocked), (1, 1));
        assert_eq!(st.images[0].verdict, "fail");
        assert_eq!(st.images[0].reasons[0].code, "NoSignature");
        assert_eq!(st.inventory, inv, "the inventory of the last apply stays");
    }));
    script.push(event(
        "Blocked",
        "Warning",
        format!("revision {bad} is blocked"),
    ));
    let (r, calls) = e.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::requeue(INTERVAL));
    let st2 = written_status(&gate, &calls);
    assert_eq!(
        e.metric("sealgate_blocked_gates "),
        ["sealgate_blocked_gates 1"]
    );
    // the page: blocked, the unsigned image with its reason and location, one applied and
    // one blocked reconcile on the timeline, the apply in the history
    let views = e.ctx.views();
    let page = sealgate::serve::page::model::page(&views[0], sealgate::base::time::now());
    assert_eq!(page.row.state, sealgate::serve::page::model::State::Blocked);
    assert_eq!(page.images.len(), 1);
    assert_eq!(page.images[0].reasons[0].code, "NoSignature");
    assert_eq!(page.images[0].places[0].file, "web.yaml");
    assert!(!page.images[0].places[0].pointer.is_empty());
    let results: Vec<&str> = page.timeline.iter().map(|t| t.result.as_str()).collect();
    assert_eq!(results, ["promoted", "blocked"]);
    assert_eq!(page.promotions.len(), 1);
    assert_eq!(page.promotions[0].revision, good);
    assert_eq!(page.approve, None);

    // the same blocked revision again: verified again, but no status write, no second event
    let gate = e.gate().status(st2.clone()).build();
    let (r, _) = e.reconcile(&gate, e.reads()).await;
    assert_eq!(r.unwrap(), Action::requeue(INTERVAL));
    assert_eq!(
        e.metric("sealgate_reconciles_total{result=\"blocked\"}"),
        ["sealgate_reconciles_total{result=\"blocked\"} 2"]
    );

    // fixed: applied again, with an Unblocked event and the Applied event's second occurrence
    let fixed = e.commit_good("v3");
    let gate = e.gate().status(st2).build();
    let mut script = e.reads();
    script.extend(e.applies(&ALL, false, Some(SA_USER)));
    let f = fixed.clone();
    script.push(status_patch(&gate, move |st| {
        assert_cond(st, "Ready", "True", "Succeeded");
        assert_cond(st, "ImagesVerified", "True", "Succeeded");
        assert_eq!(st.last_applied_revision.as_deref(), Some(f.as_str()));
        assert_eq!(st.images_blocked, 0);
    }));
    script.push(event(
        "Unblocked",
        "Normal",
        format!("{fixed}: every image passes"),
    ));
    script.push(event_again("Applied", "Normal", 2));
    let (r, _) = e.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::requeue(INTERVAL));
    assert_eq!(
        e.metric("sealgate_blocked_gates "),
        ["sealgate_blocked_gates 0"]
    );
}

// ---------------------------------------------------------------------------------------
// (3) an unchanged revision

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_revision_is_neither_applied_nor_written_until_the_generation_changes() {
    let mut e = Env::new().await;
    let commit = e.commit_good("v1");
    let gate = e.gate().build();
    let st1 = e
        .pass(
            &gate,
            &ALL,
            Some(SA_USER),
            event("Applied", "Normal", commit.as_str()),
        )
        .await;

    // same revision, same policies, passed within the TTL: only the policy reads
    let gate = e.gate().status(st1.clone()).build();
    for _ in 0..2 {
        let (r, calls) = e.reconcile(&gate, e.reads()).await;
        assert_eq!(r.unwrap(), Action::requeue(INTERVAL));
        assert_eq!(calls.len(), 2);
    }
    assert_eq!(
        e.metric("sealgate_reconciles_total{result=\"unchanged\"}"),
        ["sealgate_reconciles_total{result=\"unchanged\"} 2"]
    );

    // a new generation (spec edited) is a new input: verified and applied again
    let gate = e.gate().generation(2).status(st1.clone()).build();
    let mut script = e.reads();
    script.extend(e.applies(&ALL, false, Some(SA_USER)));
    let old_inputs = st1.verified_inputs.clone();
    script.push(status_patch(&gate, move |st| {
        assert_eq!(st.observed_generation, Some(2));
        assert!(
            st.conditions
                .iter()
                .all(|c| c.observed_generation == Some(2))
        );
        assert_ne!(st.verified_inputs, old_inputs);
    }));
    script.push(event_again("Applied", "Normal", 2));
    let (r, _) = e.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::requeue(INTERVAL));
    // re-verifying the same digest used the shared evidence cache (no registry fetch)
    assert_eq!(
        e.metric("sealgate_verification_cache_total{result=\"hit\"}"),
        ["sealgate_verification_cache_total{result=\"hit\"} 1"]
    );
    assert_eq!(
        e.metric("sealgate_verification_cache_total{result=\"miss\"}"),
        ["sealgate_verification_cache_total{result=\"miss\"} 1"]
    );
}

// ---------------------------------------------------------------------------------------
// (4) prune

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_the_new_revision_drops_is_pruned_as_the_service_account_after_the_applies() {
    let mut e = Env::new().await;
    let first = e.commit_good("v1");
    let gate = e.gate().build();
    let st1 = e
        .pass(
            &gate,
            &ALL,
            Some(SA_USER),
            event("Applied", "Normal", first.as_str()),
        )
        .await;
    assert_eq!(st1.inventory, Some(inventory(&ALL)));

    e.w.git.remove("deploy/config.yaml");
    let second = e.commit_good_without_config("v2 drops the ConfigMap");
    let gate = e.gate().status(st1).build();
    let mut script = e.reads();
    script.extend(e.applies(&[DEPLOYMENT, SERVICE], false, Some(SA_USER)));
    script.push(
        Expect::delete(CONFIGMAP.path())
            .acting_as(SA_USER)
            .check("background propagation", |b| {
                assert_eq!(b["propagationPolicy"], "Background");
            })
            .reply(200, status_success()),
    );
    let s = second.clone();
    script.push(status_patch(&gate, move |st| {
        assert_eq!(st.inventory, Some(inventory(&[DEPLOYMENT, SERVICE])));
        assert_eq!(st.last_applied_revision.as_deref(), Some(s.as_str()));
        let (_, _, msg) = cond(st, "Applied");
        assert_eq!(msg, format!("{s}: 2 objects applied, 1 pruned"));
    }));
    script.push(event_again("Applied", "Normal", 2));
    let (r, _) = e.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::requeue(INTERVAL));
}

impl Env {
    /// A commit of the Deployment and Service only (after `deploy/config.yaml` was removed).
    fn commit_good_without_config(&self, note: &str) -> String {
        self.w.git.commit(
            &[
                ("deploy/web.yaml", &web_yaml(&self.w.signed)),
                ("deploy/NOTES.txt", note),
            ],
            note,
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_skips_objects_already_gone_and_a_refused_delete_stalls_the_gate() {
    let mut e = Env::new().await;
    let commit = e.commit_good("v1");
    let gone = InventoryEntry {
        id: "team_a-gone__ConfigMap".into(),
        v: "v1".into(),
    };
    let locked = InventoryEntry {
        id: "team_b-locked__Secret".into(),
        v: "v1".into(),
    };
    let old = Inventory {
        entries: vec![gone, locked],
    };
    let gate = e
        .gate()
        .status(DeploymentGateStatus {
            inventory: Some(old.clone()),
            ..Default::default()
        })
        .build();
    let mut script = e.reads();
    script.extend(e.applies(&ALL, false, Some(SA_USER)));
    script.push(
        Expect::delete("/api/v1/namespaces/team/configmaps/a-gone")
            .acting_as(SA_USER)
            .fail(404, "NotFound", "configmaps \"a-gone\" not found"),
    );
    script.push(
        Expect::delete("/api/v1/namespaces/team/secrets/b-locked")
            .acting_as(SA_USER)
            .fail(403, "Forbidden", "secrets \"b-locked\" is forbidden: User \"system:serviceaccount:team:deployer\" cannot delete resource \"secrets\""),
    );
    let c = commit.clone();
    script.push(status_patch(&gate, move |st| {
        assert_cond(st, "Applied", "False", "PruneFailed");
        assert_cond(st, "Stalled", "True", "PruneFailed");
        assert_cond(st, "Ready", "False", "PruneFailed");
        let (_, _, msg) = cond(st, "Applied");
        assert!(
            msg.contains("team_b-locked__Secret") && msg.contains("forbidden"),
            "{msg}"
        );
        assert_eq!(st.last_applied_revision, None);
        assert_eq!(st.last_verified_revision.as_deref(), Some(c.as_str()));
        assert_eq!(
            st.inventory.as_ref(),
            Some(&old),
            "the old inventory stays until the prune succeeds"
        );
    }));
    let (r, _) = e.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::requeue(Duration::from_secs(5)));
}

// ---------------------------------------------------------------------------------------
// (5) suspend

#[tokio::test]
async fn a_suspended_gate_makes_no_call_and_deleting_it_orphans_what_it_applied() {
    let mut b = Bare::new();
    let gate = GateBuilder::apply("git://127.0.0.1:1/none.git")
        .policy("production")
        .prune(true)
        .sa(SA)
        .suspend()
        .status(DeploymentGateStatus {
            inventory: Some(inventory(&ALL)),
            ..Default::default()
        })
        .build();
    let (r, calls) = b.reconcile(&gate, Vec::new()).await;
    assert_eq!(r.unwrap(), Action::await_change());
    assert!(calls.is_empty());

    // deleting a suspended gate prunes nothing (as `suspend` says): only the finalizer goes
    let gate = GateBuilder(gate).deleting().build();
    let (r, _) = b.reconcile(&gate, vec![remove_finalizer(&gate)]).await;
    assert_eq!(r.unwrap(), Action::await_change());
}

// ---------------------------------------------------------------------------------------
// (6) approval

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_waits_for_approval_of_exactly_the_verified_revision_then_applies() {
    let mut e = Env::new().await;
    let commit = e.commit_good("v1");
    let gate = e.gate().approval().build();

    // verified, not applied: AwaitingApproval
    let mut script = e.reads();
    let c = commit.clone();
    script.push(status_patch(&gate, move |st| {
        assert_cond(st, "AwaitingApproval", "True", "AwaitingApproval");
        let (_, _, msg) = cond(st, "AwaitingApproval");
        assert!(msg.contains("sealgate approve web -n team"), "{msg}");
        assert_cond(st, "Ready", "False", "AwaitingApproval");
        assert_cond(st, "ImagesVerified", "True", "Succeeded");
        assert!(st.condition("Applied").is_none());
        assert!(st.condition("Stalled").is_none());
        assert_eq!(st.last_verified_revision.as_deref(), Some(c.as_str()));
        assert_eq!(st.last_applied_revision, None);
        assert_eq!(st.inventory, None);
    }));
    let (r, calls) = e.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::requeue(INTERVAL));
    let st1 = written_status(&gate, &calls);
    // the release manager's page of this replica: waiting, with the exact command
    let views = e.ctx.views();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].name, "team/web");
    let page = sealgate::serve::page::model::page(&views[0], sealgate::base::time::now());
    assert_eq!(
        page.row.state,
        sealgate::serve::page::model::State::AwaitingApproval
    );
    assert_eq!(
        page.approve.as_deref(),
        Some(format!("sealgate approve web -n team --revision {commit}").as_str())
    );
    assert_eq!(
        page.pending.as_ref().map(|p| p.commit.as_str()),
        Some(commit.as_str())
    );
    let html = sealgate::serve::page::render::gate(&page, "", "now");
    assert!(html.contains("Waiting for approval"), "{html}");
    let overview = sealgate::serve::page::render::overview(
        &sealgate::serve::page::model::overview(&views, 0),
        "",
        "now",
    );
    assert!(overview.contains("href=\"/gates/team/web\""), "{overview}");
    let waiting = e.gate().approval().status(st1.clone()).build();

    // approving another revision is refused without a write
    let client = e.api.client();
    let (r, _) = e
        .api
        .run(
            vec![Expect::get(gate_path()).reply(200, serde_json::to_value(&waiting).unwrap())],
            controller::approve(
                &client,
                NS,
                "web",
                Some("0123456789abcdef0123456789abcdef01234567"),
            ),
        )
        .await;
    match r {
        Err(ApproveError::NotVerified {
            verified, asked, ..
        }) => {
            assert_eq!(verified, commit);
            assert_eq!(asked, "0123456789abcdef0123456789abcdef01234567");
        }
        other => panic!("{other:?}"),
    }
    // and nothing verified yet: nothing to approve
    let fresh = e.gate().approval().build();
    let (r, _) = e
        .api
        .run(
            vec![Expect::get(gate_path()).reply(200, serde_json::to_value(&fresh).unwrap())],
            controller::approve(&client, NS, "web", None),
        )
        .await;
    assert!(matches!(r, Err(ApproveError::NothingVerified(_))), "{r:?}");

    // `sealgate approve web -n team`: GET, then a merge patch of spec.approvedRevision
    let c = commit.clone();
    let approved_obj = serde_json::to_value(e.gate().approval().approved(&commit).build()).unwrap();
    let (r, _) = e
        .api
        .run(
            vec![
                Expect::get(gate_path()).reply(200, serde_json::to_value(&waiting).unwrap()),
                Expect::patch_merge(gate_path())
                    .check("approvedRevision", move |b| {
                        assert_eq!(*b, json!({"spec": {"approvedRevision": c}}));
                    })
                    .reply(200, approved_obj),
            ],
            controller::approve(&client, NS, "web", None),
        )
        .await;
    assert_eq!(r.unwrap(), commit);
    // `--revision` naming the verified revision is the same approval
    let c = commit.clone();
    let approved_obj = serde_json::to_value(e.gate().approval().approved(&commit).build()).unwrap();
    let (r, _) = e
        .api
        .run(
            vec![
                Expect::get(gate_path()).reply(200, serde_json::to_value(&waiting).unwrap()),
                Expect::patch_merge(gate_path())
                    .check("approvedRevision", move |b| {
                        assert_eq!(*b, json!({"spec": {"approvedRevision": c}}));
                    })
                    .reply(200, approved_obj),
            ],
            controller::approve(&client, NS, "web", Some(&commit)),
        )
        .await;
    assert_eq!(r.unwrap(), commit);

    // the approved gate (a spec change: generation 2) applies and says so
    let gate = e
        .gate()
        .approval()
        .approved(&commit)
        .generation(2)
        .status(st1)
        .build();
    let mut script = e.reads();
    script.extend(e.applies(&ALL, false, Some(SA_USER)));
    let c = commit.clone();
    script.push(status_patch(&gate, move |st| {
        assert_cond(st, "AwaitingApproval", "False", "Approved");
        assert_cond(st, "Applied", "True", "Applied");
        assert_cond(st, "Ready", "True", "Succeeded");
        assert_eq!(st.last_applied_revision.as_deref(), Some(c.as_str()));
    }));
    script.push(event("Applied", "Normal", format!("applied {commit}")));
    script.push(event(
        "Approved",
        "Normal",
        format!("revision {commit} approved"),
    ));
    let (r, _) = e.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::requeue(INTERVAL));
}

// ---------------------------------------------------------------------------------------
// (7) API failures

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_on_apply_stalls_with_growing_backoff_until_force_takes_over() {
    let mut e = Env::new().await;
    let commit = e.commit_good("v1");
    // applied with the controller's own identity: no impersonation anywhere
    let url = e.w.git.url.clone();
    let plain = || GateBuilder::apply(&url).policy("production").prune(true);
    let conflict =
        "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using v1: .data.mode";
    let gate = plain().build();
    let failing = |e: &Env| {
        let mut script = e.reads();
        script.extend(ALL.iter().map(|o| e.apply(*o, true, false, None)));
        script.push(
            e.apply(CONFIGMAP, false, false, None)
                .fail(409, "Conflict", conflict),
        );
        script
    };
    let mut script = failing(&e);
    let c = commit.clone();
    script.push(status_patch(&gate, move |st| {
        assert_cond(st, "Applied", "False", "ApplyConflict");
        assert_cond(st, "Stalled", "True", "ApplyConflict");
        assert_cond(st, "Ready", "False", "ApplyConflict");
        let (_, _, msg) = cond(st, "Ready");
        assert!(
            msg.contains("apply team_web-config__ConfigMap") && msg.contains("conflict"),
            "{msg}"
        );
        assert_cond(st, "ImagesVerified", "True", "Succeeded");
        assert_eq!(st.last_verified_revision.as_deref(), Some(c.as_str()));
        assert_eq!(st.last_applied_revision, None);
        assert_eq!(st.inventory, None);
    }));
    let (r, calls) = e.reconcile(&gate, script).await;
    let backoff = Duration::from_secs(5);
    assert_eq!(r.unwrap(), Action::requeue(backoff));
    assert!(backoff < INTERVAL);

    // the same conflict again: same status (no write), a longer backoff
    let gate = plain().status(written_status(&gate, &calls)).build();
    let (r, _) = e.reconcile(&gate, failing(&e)).await;
    assert_eq!(r.unwrap(), Action::requeue(Duration::from_secs(10)));

    // `force: true` (a new generation) takes the fields over: force=true on every apply
    let gate = plain()
        .force()
        .generation(2)
        .status(gate.status.clone().unwrap())
        .build();
    let mut script = e.reads();
    script.extend(e.applies(&ALL, true, None));
    script.push(status_patch(&gate, |st| {
        assert_cond(st, "Ready", "True", "Succeeded");
        assert_cond(st, "Applied", "True", "Applied");
        assert!(st.condition("Stalled").is_none(), "{st:#?}");
    }));
    script.push(event("Applied", "Normal", commit.as_str()));
    let (r, _) = e.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::requeue(INTERVAL), "failures are reset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_status_write_is_an_error_retried_with_growing_backoff() {
    let mut e = Env::new().await;
    let commit = e.commit_good("v1");
    let gate = e.gate().build();
    let failing = |e: &Env| {
        let mut script = e.reads();
        script.extend(e.applies(&ALL, false, Some(SA_USER)));
        script.push(status_patch(&gate, |_| {}).fail(
            500,
            "InternalError",
            "etcdserver: request timed out",
        ));
        script
    };
    let mut backoffs = Vec::new();
    for _ in 0..2 {
        // the status never landed, so the next reconcile applies again (no event either)
        let (r, _) = e.reconcile(&gate, failing(&e)).await;
        let err = r.unwrap_err();
        assert!(matches!(err, controller::Error::Finalizer(_)), "{err:?}");
        assert!(
            sealgate::base::error::chain(&err).contains("etcdserver: request timed out"),
            "{}",
            sealgate::base::error::chain(&err)
        );
        backoffs.push(controller::error_policy(
            Arc::new(gate.clone()),
            &err,
            e.ctx.clone(),
        ));
    }
    backoffs.push(controller::error_policy(
        Arc::new(gate.clone()),
        &controller::Error::NotNamespaced,
        e.ctx.clone(),
    ));
    assert_eq!(
        backoffs,
        [5, 10, 20].map(|s| Action::requeue(Duration::from_secs(s)))
    );
    assert_eq!(
        e.metric("sealgate_reconciles_total{result=\"error\"}"),
        ["sealgate_reconciles_total{result=\"error\"} 3"]
    );

    // the API recovers: written, the event published, the failures forgotten
    let st = e
        .pass(
            &gate,
            &ALL,
            Some(SA_USER),
            event("Applied", "Normal", commit.as_str()),
        )
        .await;
    assert_eq!(st.last_applied_revision.as_deref(), Some(commit.as_str()));
    let again = controller::error_policy(
        Arc::new(gate.clone()),
        &controller::Error::NotNamespaced,
        e.ctx.clone(),
    );
    assert_eq!(again, Action::requeue(Duration::from_secs(5)));
}

// ---------------------------------------------------------------------------------------
// (8) deletion and the finalizer

/// The JSON patch that removes the finalizer at index 0 (guarded by a test op).
fn remove_finalizer(gate: &DeploymentGate) -> Expect {
    let object = serde_json::to_value(gate).unwrap();
    Expect::patch_json(gate_path())
        .check("removes sealgate.dev/prune", |b| {
            assert_eq!(
                *b,
                json!([
                    {"op": "test", "path": "/metadata/finalizers/0", "value": FINALIZER},
                    {"op": "remove", "path": "/metadata/finalizers/0"},
                ])
            );
        })
        .reply(200, object)
}

#[tokio::test]
async fn deleting_a_gate_prunes_its_inventory_as_the_service_account_then_drops_the_finalizer() {
    let mut b = Bare::new();
    let live = || {
        GateBuilder::apply("git://127.0.0.1:1/none.git")
            .policy("production")
            .prune(true)
            .sa(SA)
            .status(DeploymentGateStatus {
                inventory: Some(inventory(&[DEPLOYMENT, SERVICE])),
                ..Default::default()
            })
    };
    let gate = live().deleting().build();
    let script = vec![
        // inventory order (Service sorts before apps' Deployment); both as the SA
        Expect::delete(SERVICE.path())
            .acting_as(SA_USER)
            .check("background propagation", |b| {
                assert_eq!(b["propagationPolicy"], "Background");
            })
            .reply(200, status_success()),
        Expect::delete(DEPLOYMENT.path())
            .acting_as(SA_USER)
            .reply(200, status_success()),
        event("Pruned", "Normal", "gate deleted: pruned 2 objects"),
        remove_finalizer(&gate),
    ];
    let (r, _) = b.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::await_change());

    // a refused delete keeps the finalizer (the deletion is retried)
    let mut b = Bare::new();
    let (r, _) = b
        .reconcile(
            &gate,
            vec![Expect::delete(SERVICE.path()).acting_as(SA_USER).fail(
                403,
                "Forbidden",
                "services \"web\" is forbidden",
            )],
        )
        .await;
    let err = r.unwrap_err();
    assert!(
        sealgate::base::error::chain(&err).contains("forbidden"),
        "{}",
        sealgate::base::error::chain(&err)
    );

    // without prune, nothing is deleted
    let mut b = Bare::new();
    let gate = live().prune(false).deleting().build();
    let (r, _) = b.reconcile(&gate, vec![remove_finalizer(&gate)]).await;
    assert_eq!(r.unwrap(), Action::await_change());
}

#[tokio::test]
async fn a_gate_without_the_finalizer_only_gets_it_added() {
    let mut b = Bare::new();
    let gate = GateBuilder::apply("git://127.0.0.1:1/none.git")
        .policy("production")
        .without_finalizer()
        .build();
    let object = serde_json::to_value(&gate).unwrap();
    let script = vec![
        Expect::patch_json(gate_path())
            .check("adds sealgate.dev/prune", |b| {
                assert_eq!(
                    *b,
                    json!([
                        {"op": "test", "path": "/metadata/finalizers", "value": null},
                        {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]},
                    ])
                );
            })
            .reply(200, object),
    ];
    let (r, _) = b.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::await_change());
}

// ---------------------------------------------------------------------------------------
// (9) what requeues a gate

fn image_policy(ns: &str, name: &str) -> ImagePolicy {
    let spec = serde_json::from_value(json!({"rules": []})).unwrap();
    let mut p = ImagePolicy::new(name, ImagePolicyCrdSpec(spec));
    p.metadata.namespace = Some(ns.into());
    p
}

fn names(refs: &[ObjectRef<DeploymentGate>]) -> Vec<String> {
    let mut out: Vec<String> = refs
        .iter()
        .map(|r| format!("{}/{}", r.namespace.clone().unwrap_or_default(), r.name))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn policy_and_secret_changes_map_to_exactly_the_gates_that_use_them() {
    let url = "git://127.0.0.1:1/none.git";
    let gates: Vec<Arc<DeploymentGate>> = vec![
        GateBuilder::apply(url)
            .policy("production")
            .source_secret("git-auth")
            .build(),
        GateBuilder::apply(url)
            .named(NS, "api")
            .policy("staging")
            .policy("production")
            .verify_secret("signers")
            .build(),
        GateBuilder::apply(url)
            .named(NS, "promo")
            .policy("staging")
            .promote("deploy-key")
            .build(),
        GateBuilder::apply(url)
            .named("other", "web")
            .policy("production")
            .source_secret("git-auth")
            .build(),
    ]
    .into_iter()
    .map(Arc::new)
    .collect();

    let by_policy = |ns: &str, name: &str| {
        names(&controller::gates_for_policy(
            &gates,
            &image_policy(ns, name),
        ))
    };
    assert_eq!(by_policy(NS, "production"), ["team/api", "team/web"]);
    assert_eq!(by_policy(NS, "staging"), ["team/api", "team/promo"]);
    assert_eq!(by_policy("other", "production"), ["other/web"]);
    assert!(by_policy("other", "staging").is_empty());
    assert!(by_policy(NS, "unused").is_empty());
    assert_eq!(
        names(&controller::all_gates(&gates)),
        ["other/web", "team/api", "team/promo", "team/web"]
    );

    let b = Bare::new();
    let by_secret =
        |ns: &str, name: &str| names(&controller::gates_for_secret(&gates, &b.ctx, ns, name));
    assert_eq!(by_secret(NS, "git-auth"), ["team/web"]);
    assert_eq!(by_secret("other", "git-auth"), ["other/web"]);
    assert_eq!(by_secret(NS, "signers"), ["team/api"]);
    assert_eq!(by_secret(NS, "deploy-key"), ["team/promo"]);
    assert!(
        by_secret(NS, "cosign-key").is_empty(),
        "not read by any policy yet"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_policy_reverifies_and_reapplies_and_a_new_cluster_policy_can_block() {
    let mut e = Env::new().await;
    let commit = e.commit_good("v1");
    let gate = e.gate().build();
    let st1 = e
        .pass(
            &gate,
            &ALL,
            Some(SA_USER),
            event("Applied", "Normal", commit.as_str()),
        )
        .await;
    let gate = e.gate().status(st1.clone()).build();
    // unchanged inputs: nothing to do
    let (r, calls) = e.reconcile(&gate, e.reads()).await;
    assert_eq!((r.unwrap(), calls.len()), (Action::requeue(INTERVAL), 2));

    // the ImagePolicy gained a rule: verified again and applied again
    let changed = policy_json(
        &e.pem,
        &[json!({"name": "elsewhere", "images": ["example.com/**"], "requireDigest": true})],
    );
    let mut script = reads(&changed, Vec::new());
    script.extend(e.applies(&ALL, false, Some(SA_USER)));
    let old_inputs = st1.verified_inputs.clone();
    script.push(status_patch(&gate, move |st| {
        assert_cond(st, "Ready", "True", "Succeeded");
        assert!(st.verified_inputs.is_some());
        assert_ne!(st.verified_inputs, old_inputs, "the policy is an input");
    }));
    script.push(event_again("Applied", "Normal", 2));
    let (r, calls) = e.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::requeue(INTERVAL));
    let st2 = written_status(&gate, &calls);

    // a ClusterImagePolicy trusting only another key appears: blocked, nothing applied
    let dir = tempfile::tempdir().unwrap();
    let (_, other_pem) = keypair(dir.path(), "other");
    let cluster = json!({
        "apiVersion": "sealgate.dev/v1alpha1",
        "kind": "ClusterImagePolicy",
        "metadata": {"name": "baseline", "resourceVersion": "13"},
        "spec": {"rules": [{
            "name": "release-key",
            "images": ["**"],
            "signatures": {"attestors": [{"name": "release", "key": {"pem": other_pem}}]},
        }]},
    });
    let gate = e.gate().status(st2).build();
    let mut script = reads(&changed, vec![cluster]);
    let c = commit.clone();
    script.push(status_patch(&gate, move |st| {
        let (s, reason, _) = cond(st, "Ready");
        assert_eq!(s, "False");
        assert!(
            reason == "NoMatchingSignature" || reason == "SignatureInvalid",
            "{reason}: {st:#?}"
        );
        assert_cond(st, "ImagesVerified", "False", &reason);
        assert_eq!(st.last_applied_revision.as_deref(), Some(c.as_str()));
    }));
    script.push(event("Blocked", "Warning", "1 of 1 images"));
    let (r, _) = e.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::requeue(INTERVAL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_key_in_a_secret_is_read_and_maps_a_change_of_that_secret_to_the_gate() {
    use base64::Engine as _;
    let mut e = Env::new().await;
    let commit = e.commit_good("v1");
    let gate = e.gate().build();
    let gates = vec![Arc::new(gate.clone())];
    assert!(controller::gates_for_secret(&gates, &e.ctx, NS, "cosign-key").is_empty());

    let policy = json!({
        "apiVersion": "sealgate.dev/v1alpha1",
        "kind": "ImagePolicy",
        "metadata": {"name": "production", "namespace": NS},
        "spec": {"rules": [{
            "name": "signed",
            "images": ["**"],
            "signatures": {"attestors": [{"name": "ci", "key": {"path": "k8s://team/cosign-key"}}]},
        }]},
    });
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "cosign-key", "namespace": NS},
        "data": {"cosign.pub": base64::engine::general_purpose::STANDARD.encode(&e.pem)},
    });
    let mut script = reads(&policy, Vec::new());
    script.push(Expect::get("/api/v1/namespaces/team/secrets/cosign-key").reply(200, secret));
    script.extend(e.applies(&ALL, false, Some(SA_USER)));
    script.push(status_patch(&gate, |st| {
        assert_cond(st, "Ready", "True", "Succeeded");
    }));
    script.push(event("Applied", "Normal", commit.as_str()));
    let (r, _) = e.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::requeue(INTERVAL));
    assert_eq!(
        names(&controller::gates_for_secret(
            &gates,
            &e.ctx,
            NS,
            "cosign-key"
        )),
        ["team/web"]
    );
    assert!(controller::gates_for_secret(&gates, &e.ctx, "other", "cosign-key").is_empty());
}

#[tokio::test]
async fn a_missing_policy_or_a_key_of_another_namespace_stalls_without_touching_git() {
    let mut b = Bare::new();
    let gate = GateBuilder::apply("git://127.0.0.1:1/none.git")
        .policy("production")
        .build();

    // the ImagePolicy does not exist
    let script = vec![
        Expect::get(format!("{GROUP}/namespaces/team/imagepolicies/production")).fail(
            404,
            "NotFound",
            "imagepolicies.sealgate.dev \"production\" not found",
        ),
        status_patch(&gate, |st| {
            assert_cond(st, "Ready", "False", "PolicyNotFound");
            assert_cond(st, "Stalled", "True", "PolicyNotFound");
            let (_, _, msg) = cond(st, "Ready");
            assert!(msg.contains("ImagePolicy team/production"), "{msg}");
            assert_eq!(st.last_attempted_revision, None, "nothing fetched");
        }),
    ];
    let (r, _) = b.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::requeue(Duration::from_secs(5)));

    // a namespaced policy naming a Secret of another namespace: refused before reading it
    let mut b = Bare::new();
    let policy = json!({
        "apiVersion": "sealgate.dev/v1alpha1",
        "kind": "ImagePolicy",
        "metadata": {"name": "production", "namespace": NS},
        "spec": {"rules": [{
            "name": "signed",
            "images": ["**"],
            "signatures": {"attestors": [{"name": "ci", "key": {"path": "k8s://kube-system/cosign-key"}}]},
        }]},
    });
    let mut script = reads(&policy, Vec::new());
    script.push(status_patch(&gate, |st| {
        assert_cond(st, "Ready", "False", "PolicyInvalid");
        let (_, _, msg) = cond(st, "Ready");
        assert!(
            msg.contains("k8s://kube-system/cosign-key") && msg.contains("own namespace"),
            "{msg}"
        );
    }));
    let (r, _) = b.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::requeue(Duration::from_secs(5)));

    // a tenant's ImagePolicy naming a Vault transit key: the controller's Vault is for
    // cluster-wide policies only
    let mut b = Bare::new();
    let transit = json!([{"name": "ci", "key": {"path": "hashivault://ci"}}]);
    let mut policy = policy.clone();
    policy["spec"]["rules"][0]["signatures"]["attestors"] = transit.clone();
    let mut script = reads(&policy, Vec::new());
    script.push(status_patch(&gate, |st| {
        assert_cond(st, "Stalled", "True", "PolicyInvalid");
        let (_, _, msg) = cond(st, "Ready");
        assert!(
            msg.contains("hashivault://ci") && msg.contains("ClusterImagePolicy"),
            "{msg}"
        );
    }));
    let (r, _) = b.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::requeue(Duration::from_secs(5)));

    // a ClusterImagePolicy may, but Vault must answer: here it is not even configured
    // (no VAULT_ADDR in the controller's environment) — stalled, nothing fetched
    let mut b = Bare::new();
    let mut own = policy.clone();
    own["spec"]["rules"][0]["signatures"]["attestors"] = json!([{"name": "ci", "key": {"pem": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEusIAt6EJ3YrTHdg2qkWVS0KuotWQ\nwHDtyaXlq7Nhj8279+1u/l5pZhXJPW8PnGRRLdO5NbsuM6aT7pOcP100uw==\n-----END PUBLIC KEY-----\n"}}]);
    let cluster = json!({
        "apiVersion": "sealgate.dev/v1alpha1",
        "kind": "ClusterImagePolicy",
        "metadata": {"name": "vault-signed"},
        "spec": {"rules": [{
            "name": "signed",
            "images": ["**"],
            "signatures": {"attestors": transit},
        }]},
    });
    let mut script = reads(&own, vec![cluster]);
    script.push(status_patch(&gate, |st| {
        assert_cond(st, "Stalled", "True", "KeyManagerFailed");
        let (_, _, msg) = cond(st, "Ready");
        assert!(
            msg.contains("policy vault-signed: hashivault://ci") && msg.contains("VAULT_ADDR"),
            "{msg}"
        );
        assert_eq!(st.last_attempted_revision, None, "nothing fetched");
    }));
    let (r, _) = b.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::requeue(Duration::from_secs(5)));
}

// ---------------------------------------------------------------------------------------
// signed verification summaries (docs/summaries.md)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applied_revision_gets_its_signed_summary_in_the_status_and_on_the_image() {
    let mut e = Env::new().await;
    let commit = e.commit_good("v1");
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = keypair(keys.path(), "gate");
    let mut gate = e.gate().build();
    gate.spec.summary = Some(sealgate::controller::crd::SummarySpec {
        key: sealgate::controller::crd::SummaryKey {
            secret_ref: LocalObjectReference {
                name: "gate-key".into(),
            },
        },
        verifier_id: None,
        attach_to_images: true,
    });
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "gate-key", "namespace": NS},
        "data": {
            "cosign.key": b64.encode(std::fs::read(&key).unwrap()),
            "cosign.password": b64.encode("pw"),
        },
    });
    let mut script = e.reads();
    script.push(Expect::get("/api/v1/namespaces/team/secrets/gate-key").reply(200, secret));
    script.extend(e.applies(&ALL, false, Some(SA_USER)));
    let (c, digest, repo) = (
        commit.clone(),
        e.digest.clone(),
        format!("{}/team/web", e.w.reg.addr),
    );
    let public_key = sealgate::crypto::PublicKey::from_pem(&public).unwrap();
    script.push(status_patch(&gate, move |st| {
        assert_cond(st, "Ready", "True", "Succeeded");
        let s = st.summary.as_ref().expect("status.summary");
        assert_eq!(s.revision, c);
        assert_eq!(s.stored_in, ["status", "images"]);
        let envelope = s.envelope.as_ref().expect("the envelope is in the status");
        assert_eq!(s.digest, sha256(envelope.as_bytes()));
        let summary =
            sealgate::attest::vsa::Summary::open(envelope.as_bytes(), &public_key).unwrap();
        assert_eq!(summary.verifier_id, "https://sealgate.dev/gate/team/web");
        assert_eq!(summary.source.1, c);
        assert_eq!(summary.promotion, None, "an apply has no promotion commit");
        let d = sealgate::base::reference::Digest::parse(&digest).unwrap();
        assert!(summary.covers(&repo, &d), "{summary:?}");
    }));
    script.push(event(
        "Applied",
        "Normal",
        format!("applied {commit}; pruned 0 objects"),
    ));
    let (r, _) = e.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::requeue(INTERVAL));
    // the image carries it as a cosign attestation layer annotated with the VSA type
    let att = e.w.reg.get(
        &format!(
            "/v2/team/web/manifests/sha256-{}.att",
            e.digest.trim_start_matches("sha256:")
        ),
        OCI_MANIFEST,
    );
    let att: Value = serde_json::from_slice(&att).unwrap();
    assert_eq!(
        att["layers"][0]["annotations"]["predicateType"],
        "https://slsa.dev/verification_summary/v1"
    );
}

#[tokio::test]
async fn a_summary_key_that_cannot_be_read_stalls_the_gate() {
    let mut e = Env::new().await;
    e.commit_good("v1");
    let mut gate = e.gate().build();
    gate.spec.summary = Some(sealgate::controller::crd::SummarySpec {
        key: sealgate::controller::crd::SummaryKey {
            secret_ref: LocalObjectReference {
                name: "gate-key".into(),
            },
        },
        verifier_id: None,
        attach_to_images: false,
    });
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "gate-key", "namespace": NS},
        "data": {"cosign.pub": "UFVC"},
    });
    let mut script = e.reads();
    script.push(Expect::get("/api/v1/namespaces/team/secrets/gate-key").reply(200, secret));
    script.push(status_patch(&gate, |st| {
        assert_cond(st, "Ready", "False", "SecretInvalid");
        assert_cond(st, "Stalled", "True", "SecretInvalid");
        let (_, _, m) = cond(st, "Stalled");
        assert!(
            m.contains("Secret team/gate-key (summary key): no UTF-8 `cosign.key`"),
            "{m}"
        );
        assert_eq!(st.last_attempted_revision, None, "nothing fetched");
    }));
    let (r, _) = e.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::requeue(Duration::from_secs(5)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_commit_gets_its_signed_summary_as_a_git_note() {
    use base64::Engine as _;
    let mut e = Env::new().await;
    let commit = e.commit_good("v1");
    let keys = tempfile::tempdir().unwrap();
    let (key, public) = keypair(keys.path(), "gate");
    let mut gate = e.gate().promote("unused").build();
    if let Some(p) = &mut gate.spec.target.promote {
        p.secret_ref = None; // the git daemon takes anonymous pushes
    }
    gate.spec.summary = Some(sealgate::controller::crd::SummarySpec {
        key: sealgate::controller::crd::SummaryKey {
            secret_ref: LocalObjectReference {
                name: "gate-key".into(),
            },
        },
        verifier_id: Some("https://gates.example/prod".into()),
        attach_to_images: false,
    });
    let b64 = base64::engine::general_purpose::STANDARD;
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "gate-key", "namespace": NS},
        "data": {
            "cosign.key": b64.encode(std::fs::read(&key).unwrap()),
            "cosign.password": b64.encode("pw"),
        },
    });
    let mut script = e.reads();
    script.push(Expect::get("/api/v1/namespaces/team/secrets/gate-key").reply(200, secret));
    let c = commit.clone();
    script.push(status_patch(&gate, move |st| {
        assert_cond(st, "Ready", "True", "Succeeded");
        assert_cond(st, "Promoted", "True", "Promoted");
        let s = st.summary.as_ref().expect("status.summary");
        assert_eq!(s.revision, c);
        assert_eq!(s.stored_in, ["refs/notes/sealgate"]);
        assert_eq!(s.envelope, None, "the note holds it");
    }));
    script.push(event("Promoted", "Normal", format!("{commit} promoted as")));
    let (r, calls) = e.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::requeue(INTERVAL));
    let st = written_status(&gate, &calls);
    let head = e.w.git.head("deploy/prod").expect("promoted");
    assert_eq!(st.last_promotion_commit.as_deref(), Some(head.as_str()));
    // the note on the promotion commit is the summary the status names
    let note = common::git::git(&e.w.git.bare, &["notes", "--ref=sealgate", "show", &head]);
    assert_eq!(
        st.summary.unwrap().digest,
        sha256(note.trim_end().as_bytes())
    );
    let summary = sealgate::attest::vsa::Summary::open(
        note.trim_end().as_bytes(),
        &sealgate::crypto::PublicKey::from_pem(&public).unwrap(),
    )
    .unwrap();
    assert_eq!(summary.verifier_id, "https://gates.example/prod");
    assert_eq!(
        summary.promotion.as_ref().map(|p| p.1.as_str()),
        Some(head.as_str())
    );
    assert_eq!(summary.source.1, commit);
}

// ---------------------------------------------------------------------------------------
// Image updates

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_image_updates_commits_the_verified_newer_tag_then_applies_it_with_one_event_each() {
    let mut e = Env::new().await;
    // web:v0 (signed) in Git with a marker; web:v1 (signed) is newer: the scan commits
    // v1 pinned to its verified digest, then the same reconcile applies that revision
    let v0 = common::push_image(&common::oci(), &e.w.reg, "team/web", "v0").await;
    common::gate::sign(&e.w.reg, &e.w.key, &e.w.reg.reference("team/web", "v0"));
    // v2 is newer still, but nobody signed it
    common::push_image(&common::oci(), &e.w.reg, "team/web", "v2").await;
    let marked = format!(
        "{} # {{\"$imagepolicy\": \"web\"}}",
        e.w.reg.reference("team/web", "v0")
    );
    let before = e.w.git.commit(
        &[
            ("deploy/config.yaml", CONFIG_YAML),
            ("deploy/web.yaml", &web_yaml(&marked)),
        ],
        "web v0",
    );
    let updates = format!(
        "commit: {{author: {{name: sealgate, email: bot@example.com}}}}\npolicies:\n  - name: web\n    image: {}/team/web\n    select: {{semver: \">=0.0.0\"}}\n",
        e.w.reg.addr
    );
    let gate = e.gate().image_updates(&updates).build();
    let mut script = e.reads();
    script.extend(e.applies(&ALL, false, Some(SA_USER)));
    let (digest, b) = (e.digest.clone(), before.clone());
    script.push(status_patch(&gate, move |st| {
        assert_cond(st, "Ready", "True", "Succeeded");
        let u = &st.image_updates[0];
        assert_eq!(u.name, "web");
        assert_eq!(u.current.as_deref(), Some(format!("v1@{digest}").as_str()));
        assert_eq!(u.rejected.len(), 1, "{u:?}");
        assert_eq!(
            (u.rejected[0].tag.as_str(), u.rejected[0].reason.as_str()),
            ("v2", "NoSignature")
        );
        let commit = st.last_image_update_commit.clone().unwrap();
        assert_ne!(commit, b);
        assert_eq!(st.last_applied_revision.as_deref(), Some(commit.as_str()));
    }));
    script.push(event("ImageUpdated", "Normal", "web v1@sha256:"));
    script.push(event(
        "ImageUpdateRejected",
        "Warning",
        "web v2: NoSignature: ",
    ));
    script.push(event("Applied", "Normal", ""));
    let (r, calls) = e.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::requeue(INTERVAL));
    let st = written_status(&gate, &calls);
    let head = e.w.git.head("main").unwrap();
    assert_eq!(st.last_image_update_commit.as_deref(), Some(head.as_str()));
    let msg = e.w.git.message(&head);
    assert!(
        msg.contains(&format!("Sealgate-Image-Update: web v0 -> v1 {}", e.digest)),
        "{msg}"
    );
    assert!(e.w.git.show("main", "deploy/web.yaml").contains(&format!(
        "{}@{} # {{\"$imagepolicy\": \"web\"}}",
        e.w.signed, e.digest
    )));
    assert_ne!(v0, e.digest);
    assert_eq!(
        e.metric("sealgate_image_updates_total"),
        ["sealgate_image_updates_total{result=\"updated\"} 1"]
    );
    assert_eq!(
        e.metric("sealgate_image_update_rejections_total"),
        ["sealgate_image_update_rejections_total{reason=\"NoSignature\"} 1"]
    );

    // the same scan again (a second later): the rejection stands (no second Event, no
    // registry request for it), nothing to commit; only the scan times change
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let gate = e.gate().image_updates(&updates).status(st.clone()).build();
    let mut script = e.reads();
    script.push(status_patch(&gate, |st| {
        assert_eq!(st.image_updates[0].rejected[0].tag, "v2");
    }));
    let (r, _) = e.reconcile(&gate, script).await;
    assert_eq!(r.unwrap(), Action::requeue(INTERVAL));
    assert_eq!(
        e.w.git.head("main").as_deref(),
        Some(head.as_str()),
        "no second commit"
    );
}
