//! Opt-in end to end against a real cluster (kind, k3d, minikube…):
//!
//! ```text
//! SEALGATE_E2E_KUBECONFIG=~/.kube/kind-config cargo test --test e2e_cluster -- --ignored --test-threads 1
//! ```
//!
//! Needs `kubectl`, `git` and `docker-registry` on PATH and a kubeconfig with cluster-admin
//! rights. Each test installs `manifests/` (`kubectl kustomize manifests/`, server-side
//! applied, without the controller Deployment — the controller runs here, as a local
//! `sealgate controller` process with that kubeconfig — and without the Prometheus
//! Operator objects unless their CRDs exist), then works in a fresh namespace: a
//! ServiceAccount + Role the gate applies as, an `ImagePolicy` with the inline public key,
//! a `DeploymentGate` following a `git daemon` origin on this machine, and images in a
//! local `docker-registry`. Only API objects are checked (pods need not start, so the
//! registry does not have to be reachable from the nodes). The namespace is deleted at the
//! end; the CRDs and `sealgate-system` stay.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::gate::World;
use common::{OCI_MANIFEST, free_port, rand_bytes, sealgate, sha256};
use serde_json::{Value, json};

/// One local controller at a time: two would both reconcile every gate of the cluster.
static SERIAL: Mutex<()> = Mutex::new(());

const WAIT: Duration = Duration::from_secs(180);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `kubectl --kubeconfig …` on the cluster under test.
struct Kubectl {
    kubeconfig: PathBuf,
}

impl Kubectl {
    fn from_env() -> Self {
        let Some(path) = std::env::var_os("SEALGATE_E2E_KUBECONFIG") else {
            panic!(
                "SEALGATE_E2E_KUBECONFIG is not set: point it at the kubeconfig of a disposable cluster \
                 (e.g. `kind create cluster && kind get kubeconfig > /tmp/kind.yaml`) and run \
                 `SEALGATE_E2E_KUBECONFIG=/tmp/kind.yaml cargo test --test e2e_cluster -- --ignored --test-threads 1`"
            )
        };
        let kubeconfig = PathBuf::from(path);
        assert!(
            kubeconfig.is_file(),
            "SEALGATE_E2E_KUBECONFIG={}: no such file",
            kubeconfig.display()
        );
        Self { kubeconfig }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("kubectl");
        c.arg("--kubeconfig").arg(&self.kubeconfig);
        c
    }

    /// Runs kubectl (with `stdin`); (success, stdout, stderr).
    fn run(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        let mut c = self.cmd();
        c.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c
            .spawn()
            .unwrap_or_else(|e| panic!("kubectl: {e} (is it installed?)"));
        if let Some(data) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(data.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs kubectl and panics with its output on failure; stdout.
    fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args, None);
        assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
        out
    }

    /// `kubectl apply --server-side -f -` of `objects` (one JSON `List`).
    fn apply(&self, objects: &[Value]) {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": objects}).to_string();
        let (ok, out, err) = self.run(
            &[
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager",
                "sealgate-e2e",
                "-f",
                "-",
            ],
            Some(&list),
        );
        assert!(ok, "kubectl apply failed:\n{out}\n{err}");
    }

    /// The object as JSON, or `None` when it does not exist.
    fn get(&self, ns: &str, what: &str) -> Option<Value> {
        let (ok, out, err) = self.run(&["get", "-n", ns, what, "-o", "json"], None);
        if ok {
            Some(serde_json::from_str(&out).unwrap())
        } else if err.contains("NotFound") || err.contains("not found") {
            None
        } else {
            panic!("kubectl get {what}: {err}")
        }
    }

    fn has_crd(&self, name: &str) -> bool {
        self.run(&["get", "crd", name], None).0
    }

    /// Installs `manifests/`: everything `kubectl kustomize` builds, server-side applied,
    /// except the controller Deployment (it runs locally) and the Prometheus Operator
    /// objects when their CRDs are missing; waits until the CRDs are established.
    fn install(&self) {
        let built = self.ok(&["kustomize", repo().join("manifests").to_str().unwrap()]);
        let docs: Vec<Value> = serde_saphyr::from_multiple(&built).unwrap();
        let monitoring = self.has_crd("servicemonitors.monitoring.coreos.com")
            && self.has_crd("prometheusrules.monitoring.coreos.com");
        let objects: Vec<Value> = docs
            .into_iter()
            .filter(|d| !d.is_null())
            .filter(|d| d["kind"] != "Deployment")
            .filter(|d| {
                monitoring
                    || !matches!(
                        d["kind"].as_str(),
                        Some("ServiceMonitor" | "PrometheusRule")
                    )
            })
            .collect();
        assert!(
            objects
                .iter()
                .any(|o| o["kind"] == "CustomResourceDefinition"),
            "manifests/ builds no CRD"
        );
        self.apply(&objects);
        self.ok(&[
            "wait",
            "--for",
            "condition=Established",
            "--timeout",
            "60s",
            "crd/deploymentgates.sealgate.dev",
            "crd/imagepolicies.sealgate.dev",
            "crd/clusterimagepolicies.sealgate.dev",
        ]);
    }
}

/// A `sealgate controller` process (no leader election), killed on drop.
struct Controller {
    child: Child,
    log: PathBuf,
    _state: tempfile::TempDir,
}

impl Controller {
    fn start(k: &Kubectl, registry: &str) -> Self {
        let state = tempfile::tempdir().unwrap();
        let log = state.path().join("controller.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = sealgate()
            .env("KUBECONFIG", &k.kubeconfig)
            .env("SEALGATE_LOG", "sealgate=debug,info")
            .args([
                "controller",
                "--no-leader-election",
                "--metrics-addr",
                &format!("127.0.0.1:{}", free_port()),
                "--insecure-registry",
                registry,
                "--cache-ttl",
                "10s",
                "--state-dir",
            ])
            .arg(state.path().join("state"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("sealgate controller");
        Self {
            child,
            log,
            _state: state,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A namespace of this run, deleted on drop (without waiting).
struct Namespace<'a> {
    k: &'a Kubectl,
    name: String,
}

impl Drop for Namespace<'_> {
    fn drop(&mut self) {
        // the gate first, so that its finalizer does not hold the namespace
        let _ = self.k.run(
            &[
                "delete",
                "deploymentgates.sealgate.dev",
                "--all",
                "-n",
                &self.name,
                "--wait=true",
                "--timeout=60s",
            ],
            None,
        );
        let _ = self
            .k
            .run(&["delete", "namespace", &self.name, "--wait=false"], None);
    }
}

/// Everything one test works with.
struct E2e<'a> {
    k: &'a Kubectl,
    ns: Namespace<'a>,
    w: World,
    controller: Controller,
    /// `signed@digest`, as the gate applies it.
    pinned: String,
}

const CONFIG_YAML: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  mode: production\n";

fn web_yaml(image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {{app: web}}\nspec:\n  replicas: 0\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n        - name: web\n          image: {image}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 8080}}]\n"
    )
}

impl<'a> E2e<'a> {
    fn start(k: &'a Kubectl) -> Self {
        k.install();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let w = rt.block_on(World::builder().unsigned_image().start());
        let pem = std::fs::read_to_string(w.path("ci.pub")).unwrap();
        let digest = sha256(&w.reg.get("/v2/team/web/manifests/v1", OCI_MANIFEST));
        let pinned = format!("{}@{digest}", w.signed);
        let name = format!("sealgate-e2e-{}", hex::encode(rand_bytes::<4>()));
        k.ok(&["create", "namespace", &name]);
        let ns = Namespace { k, name };
        let n = ns.name.as_str();
        k.apply(&[
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "deployer", "namespace": n}}),
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "deployer", "namespace": n},
                "rules": [
                    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
                    {"apiGroups": [""], "resources": ["services", "configmaps"], "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
                ],
            }),
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "deployer", "namespace": n},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
                "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": n}],
            }),
            json!({
                "apiVersion": "sealgate.dev/v1alpha1", "kind": "ImagePolicy",
                "metadata": {"name": "production", "namespace": n},
                "spec": {"rules": [{
                    "name": "signed", "images": ["**"],
                    "signatures": {"attestors": [{"name": "ci", "key": {"pem": pem}}]},
                }]},
            }),
        ]);
        let controller = Controller::start(k, &w.reg.addr);
        Self {
            k,
            ns,
            w,
            controller,
            pinned,
        }
    }

    fn ns(&self) -> &str {
        &self.ns.name
    }

    fn commit(&self, files: &[(&str, &str)], note: &str) -> String {
        let mut all: Vec<(&str, &str)> = files.to_vec();
        all.push(("deploy/NOTES.txt", note));
        self.w.git.commit(&all, note)
    }

    fn commit_good(&self, note: &str) -> String {
        self.commit(
            &[
                ("deploy/config.yaml", CONFIG_YAML),
                ("deploy/web.yaml", &web_yaml(&self.w.signed)),
            ],
            note,
        )
    }

    /// Creates the gate `web`: `main` of the origin, `deploy/`, every 5s, prune, as `deployer`.
    fn create_gate(&self, approval: bool) {
        self.k.apply(&[json!({
            "apiVersion": "sealgate.dev/v1alpha1", "kind": "DeploymentGate",
            "metadata": {"name": "web", "namespace": self.ns()},
            "spec": {
                "source": {"url": self.w.git.url, "ref": "main", "path": "deploy", "interval": "5s", "timeout": "30s"},
                "policyRefs": [{"name": "production"}],
                "target": {"apply": {"prune": true, "serviceAccountName": "deployer"}},
                "approval": {"required": approval},
            },
        })]);
    }

    fn gate(&self) -> Option<Value> {
        self.k.get(self.ns(), "deploymentgate.sealgate.dev/web")
    }

    /// Polls until `f` returns `Some`; on timeout, fails with the gate and the controller log.
    fn wait_for<T>(&self, what: &str, mut f: impl FnMut(&Self) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(v) = f(self) {
                return v;
            }
            if Instant::now() > deadline {
                let log = self.controller.log();
                let tail: Vec<&str> = log.lines().rev().take(80).collect();
                panic!(
                    "timed out after {WAIT:?} waiting for {what}\ngate: {:#}\ncontroller log (last lines):\n{}",
                    self.gate().unwrap_or(Value::Null),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// Waits until condition `type_` of the gate has `status`/`reason` with
    /// `revision_field` = `revision`; the gate.
    fn wait_condition(
        &self,
        type_: &str,
        status: &str,
        reason: &str,
        revision_field: &str,
        revision: &str,
    ) -> Value {
        self.wait_for(
            &format!("{type_}={status} ({reason}) at {revision_field}={revision}"),
            |e| {
                let g = e.gate()?;
                let st = &g["status"];
                let c = st["conditions"]
                    .as_array()?
                    .iter()
                    .find(|c| c["type"] == type_)?
                    .clone();
                (c["status"] == status
                    && c["reason"] == reason
                    && st[revision_field] == revision
                    && st["observedGeneration"] == g["metadata"]["generation"])
                    .then_some(g)
            },
        )
    }

    fn image(&self) -> String {
        let d = self
            .k
            .get(self.ns(), "deployment/web")
            .expect("the Deployment");
        d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn exists(&self, what: &str) -> bool {
        self.k.get(self.ns(), what).is_some()
    }

    /// The gate's Events (events.k8s.io) with `reason`.
    fn events(&self, reason: &str) -> Vec<Value> {
        let out = self.k.ok(&[
            "get",
            "events.events.k8s.io",
            "-n",
            self.ns(),
            "--field-selector",
            &format!("reason={reason}"),
            "-o",
            "json",
        ]);
        let v: Value = serde_json::from_str(&out).unwrap();
        v["items"].as_array().cloned().unwrap_or_default()
    }
}

#[test]
#[ignore = "needs a real cluster: SEALGATE_E2E_KUBECONFIG=… cargo test --test e2e_cluster -- --ignored"]
fn applies_a_signed_revision_blocks_an_unsigned_one_prunes_and_cleans_up() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let k = Kubectl::from_env();
    let e = E2e::start(&k);

    // 1. a signed revision: applied as `deployer`, digest-pinned, with an inventory
    let c1 = e.commit_good("v1");
    e.create_gate(false);
    let g = e.wait_condition("Ready", "True", "Succeeded", "lastAppliedRevision", &c1);
    let gate_finalizers = g["metadata"]["finalizers"].clone();
    assert_eq!(gate_finalizers, json!(["sealgate.dev/prune"]), "{g:#}");
    assert_eq!(e.image(), e.pinned);
    assert!(e.exists("configmap/web-config") && e.exists("service/web"));
    let d = e.k.get(e.ns(), "deployment/web").unwrap();
    let managers: Vec<&str> = d["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(managers.contains(&"sealgate"), "{managers:?}");
    assert_eq!(
        g["status"]["inventory"]["entries"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "{g:#}"
    );
    assert!(!e.events("Applied").is_empty());

    // 2. an unsigned image: blocked, nothing applied, the last good revision stays
    let c2 = e.commit(
        &[("deploy/web.yaml", &web_yaml(&e.w.unsigned))],
        "v2: unsigned",
    );
    let g = e.wait_condition(
        "Ready",
        "False",
        "NoSignature",
        "lastAttemptedRevision",
        &c2,
    );
    assert_eq!(g["status"]["lastAppliedRevision"], c1.as_str(), "{g:#}");
    assert_eq!(e.image(), e.pinned, "the Deployment is unchanged");
    // a few more 5s intervals: the blocked revision is verified again, but not reported again
    std::thread::sleep(Duration::from_secs(12));
    let blocked = e.events("Blocked");
    assert_eq!(blocked.len(), 1, "{blocked:#?}");
    assert!(
        blocked[0]["series"].is_null(),
        "published once, not repeated: {:#}",
        blocked[0]
    );

    // 3. signed again, without the ConfigMap: applied, the ConfigMap pruned
    e.w.git.remove("deploy/config.yaml");
    let c3 = e.commit(
        &[("deploy/web.yaml", &web_yaml(&e.w.signed))],
        "v3: no ConfigMap",
    );
    let g = e.wait_condition("Ready", "True", "Succeeded", "lastAppliedRevision", &c3);
    assert_eq!(
        g["status"]["inventory"]["entries"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{g:#}"
    );
    e.wait_for("the ConfigMap to be pruned", |e| {
        (!e.exists("configmap/web-config")).then_some(())
    });
    assert!(e.exists("deployment/web") && e.exists("service/web"));
    assert!(!e.events("Unblocked").is_empty());

    // 4. the gate deleted: what it applied is pruned before the finalizer goes
    e.k.ok(&[
        "delete",
        "deploymentgate.sealgate.dev/web",
        "-n",
        e.ns(),
        "--wait=true",
        "--timeout=120s",
    ]);
    e.wait_for("the Deployment and Service to be pruned", |e| {
        (!e.exists("deployment/web") && !e.exists("service/web")).then_some(())
    });
}

#[test]
#[ignore = "needs a real cluster: SEALGATE_E2E_KUBECONFIG=… cargo test --test e2e_cluster -- --ignored"]
fn a_revision_waits_for_sealgate_approve_then_applies() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let k = Kubectl::from_env();
    let e = E2e::start(&k);
    let c1 = e.commit_good("v1");
    e.create_gate(true);
    let g = e.wait_condition(
        "AwaitingApproval",
        "True",
        "AwaitingApproval",
        "lastVerifiedRevision",
        &c1,
    );
    assert!(g["status"]["lastAppliedRevision"].is_null(), "{g:#}");
    assert!(
        !e.exists("deployment/web"),
        "nothing is applied before approval"
    );

    // approving another revision is refused
    let r = common::run(
        sealgate()
            .env("KUBECONFIG", &k.kubeconfig)
            .args(["approve", "web", "-n", e.ns(), "--revision"])
            .arg("0123456789abcdef0123456789abcdef01234567"),
    );
    assert_ne!(r.code, 0, "{r}");
    // approving the verified one applies it
    let r = common::run(sealgate().env("KUBECONFIG", &k.kubeconfig).args([
        "approve",
        "web",
        "-n",
        e.ns(),
    ]));
    assert_eq!(r.code, 0, "{r}");
    let g = e.wait_condition("Ready", "True", "Succeeded", "lastAppliedRevision", &c1);
    assert_eq!(g["spec"]["approvedRevision"], c1.as_str());
    assert_eq!(e.image(), e.pinned);
    assert!(!e.events("Approved").is_empty());
}
