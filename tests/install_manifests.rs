//! Static checks of the Kubernetes install manifests (`manifests/`) and the examples
//! (`examples/`), without network or cluster: every YAML document is a Kubernetes object,
//! the kustomization's resources exist, the controller Deployment is locked down, RBAC is
//! least privilege, and the alerts and the Grafana dashboard only query metrics that
//! `src/serve/metrics.rs` defines. When `kubectl` is on PATH, `kubectl kustomize manifests/`
//! must build the install too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

const NAMESPACE: &str = "sealgate-system";
const CRDS: [&str; 3] = [
    "deploymentgates.sealgate.dev",
    "imagepolicies.sealgate.dev",
    "clusterimagepolicies.sealgate.dev",
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.yaml`/`.yml` file under `dir` (hidden entries skipped), sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.file_name().unwrap().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The documents of a multi-document YAML file (empty documents skipped).
fn docs(path: &Path) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(&read(path))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn manifest_docs(file: &str) -> Vec<Value> {
    docs(&repo().join("manifests").join(file))
}

/// Every document under `manifests/` and `examples/`, with `file#index`.
fn all_docs() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for dir in ["manifests", "examples"] {
        // examples/ci holds CI configuration, not Kubernetes objects (tests/examples_ci.rs)
        for file in yaml_files(&repo().join(dir))
            .into_iter()
            .filter(|f| !f.starts_with(repo().join("examples/ci")))
        {
            let shown = file.strip_prefix(repo()).unwrap().display().to_string();
            for (i, doc) in docs(&file).into_iter().enumerate() {
                out.push((format!("{shown}#{i}"), doc));
            }
        }
    }
    out
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap()).collect())
        .unwrap_or_default()
}

/// The named entry of a list of objects (`containers`, `env`, `volumes`, …).
fn named<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    list.as_array()
        .and_then(|a| a.iter().find(|e| e[key] == value))
        .unwrap_or_else(|| panic!("no entry with {key}={value} in {list}"))
}

#[test]
fn expected_files_exist() {
    for file in [
        "manifests/namespace.yaml",
        "manifests/rbac.yaml",
        "manifests/deployment.yaml",
        "manifests/service.yaml",
        "manifests/servicemonitor.yaml",
        "manifests/prometheusrule.yaml",
        "manifests/grafana-dashboard.json",
        "manifests/kustomization.yaml",
        "examples/README.md",
        "examples/web-app/namespace.yaml",
        "examples/web-app/serviceaccount-rbac.yaml",
        "examples/web-app/imagepolicy.yaml",
        "examples/web-app/clusterimagepolicy.yaml",
        "examples/web-app/deploymentgate-apply.yaml",
        "examples/web-app/deploymentgate-promote.yaml",
        "examples/web-app/git-auth-secret.example.yaml",
        "examples/web-app/app/deployment.yaml",
        "examples/web-app/app/service.yaml",
        "examples/argocd/application.yaml",
        "examples/flux/gitrepository.yaml",
        "examples/flux/web.yaml",
    ] {
        assert!(repo().join(file).is_file(), "{file} is missing");
    }
}

#[test]
fn every_yaml_document_is_a_kubernetes_object() {
    let docs = all_docs();
    assert!(docs.len() >= 25, "only {} documents found", docs.len());
    for (at, doc) in &docs {
        let api_version = doc["apiVersion"].as_str().unwrap_or_default();
        assert!(!api_version.is_empty(), "{at}: no apiVersion");
        assert!(
            doc["kind"].as_str().is_some_and(|k| !k.is_empty()),
            "{at}: no kind"
        );
        // A kustomize build file is configuration, not an object: it needs no name.
        if !api_version.starts_with("kustomize.config.k8s.io/") {
            assert!(
                doc["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| !n.is_empty()),
                "{at}: no metadata.name"
            );
        }
    }
}

#[test]
fn secrets_are_placeholders_only() {
    for (at, doc) in all_docs() {
        if doc["kind"] != "Secret" {
            continue;
        }
        assert!(at.starts_with("examples/"), "{at}: a Secret in the install");
        // base64 `data` could hide a real value; placeholders go in `stringData`.
        assert!(
            doc.get("data").is_none(),
            "{at}: use stringData placeholders"
        );
        for (key, value) in doc["stringData"].as_object().unwrap() {
            assert!(
                value.as_str().is_some_and(|v| v.contains("REPLACE")),
                "{at}: stringData.{key} is not a placeholder"
            );
        }
    }
}

#[test]
fn kustomization_lists_existing_resources_in_order() {
    let k = &manifest_docs("kustomization.yaml")[0];
    assert_eq!(k["kind"], "Kustomization");
    assert_eq!(k["namespace"], NAMESPACE);
    let resources = strs(&k["resources"]);
    assert_eq!(
        resources,
        [
            "namespace.yaml",
            "crds/deploymentgates.yaml",
            "crds/imagepolicies.yaml",
            "crds/clusterimagepolicies.yaml",
            "rbac.yaml",
            "deployment.yaml",
            "service.yaml",
            "servicemonitor.yaml",
            "prometheusrule.yaml",
        ]
    );
    let missing: Vec<&str> = resources
        .iter()
        .copied()
        .filter(|r| !repo().join("manifests").join(r).is_file())
        .collect();
    assert!(
        missing.is_empty(),
        "resources of manifests/kustomization.yaml missing: {missing:?} \
         (crds/ is written by `sealgate crdgen`)"
    );

    let pairs = &k["labels"][0]["pairs"];
    assert_eq!(pairs["app.kubernetes.io/name"], "sealgate");
    assert_eq!(pairs["app.kubernetes.io/part-of"], "sealgate");

    let generator = k["configMapGenerator"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| strs(&g["files"]).contains(&"grafana-dashboard.json"))
        .expect("a configMapGenerator for grafana-dashboard.json");
    assert_eq!(generator["options"]["disableNameSuffixHash"], true);
    assert_eq!(generator["options"]["labels"]["grafana_dashboard"], "1");
}

#[test]
fn controller_deployment_is_locked_down() {
    let docs = manifest_docs("deployment.yaml");
    let d = find(&docs, "Deployment", "sealgate-controller");
    assert_eq!(d["apiVersion"], "apps/v1");
    assert_eq!(d["metadata"]["namespace"], NAMESPACE);
    assert_eq!(d["spec"]["replicas"], 2);
    let template = &d["spec"]["template"];
    for (key, value) in d["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(
            &template["metadata"]["labels"][key], value,
            "selector {key}"
        );
    }

    let pod = &template["spec"];
    assert_eq!(pod["serviceAccountName"], "sealgate-controller");
    let psc = &pod["securityContext"];
    assert_eq!(psc["runAsNonRoot"], true);
    assert_eq!(psc["runAsUser"], 65532);
    assert_eq!(psc["seccompProfile"]["type"], "RuntimeDefault");
    for host in ["hostNetwork", "hostPID", "hostIPC"] {
        assert_ne!(pod[host], true, "{host}");
    }
    assert!(
        pod.get("topologySpreadConstraints").is_some()
            || pod["affinity"].get("podAntiAffinity").is_some(),
        "replicas are not spread over nodes"
    );

    let containers: Vec<&Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|k| pod[*k].as_array().into_iter().flatten())
        .collect();
    assert!(!containers.is_empty());
    for c in &containers {
        let name = &c["name"];
        let sc = &c["securityContext"];
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}");
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{name}");
        assert!(sc["capabilities"].get("add").is_none(), "{name}");
        assert_ne!(sc["privileged"], true, "{name}");
        // A container may restate the pod's settings, never loosen them.
        assert_ne!(sc["runAsNonRoot"], false, "{name}");
        if let Some(user) = sc.get("runAsUser") {
            assert_eq!(user, &json!(65532), "{name}");
        }
        if let Some(profile) = sc.get("seccompProfile") {
            assert_eq!(profile["type"], "RuntimeDefault", "{name}");
        }
        for bound in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                let v = &c["resources"][bound][resource];
                assert!(
                    v.is_string() || v.is_number(),
                    "{name}: resources.{bound}.{resource} not set"
                );
            }
        }
    }

    let c = named(&pod["containers"], "name", "controller");
    assert_eq!(c["image"], "ghcr.io/sealgate/sealgate:v0.1.0");
    let args = strs(&c["args"]);
    assert_eq!(args.first(), Some(&"controller"), "{args:?}");
    assert!(
        args.windows(2)
            .any(|w| w == ["--metrics-addr", "0.0.0.0:8080"]),
        "{args:?}"
    );
    assert!(
        args.windows(2)
            .any(|w| w == ["--state-dir", "/var/lib/sealgate"]),
        "{args:?}"
    );
    assert_eq!(
        named(&c["ports"], "name", "http-metrics")["containerPort"],
        8080
    );
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(c[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"], "http-metrics", "{probe}");
    }
    assert_eq!(named(&c["env"], "name", "SEALGATE_LOG")["value"], "info");
    for (var, field) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ] {
        assert_eq!(
            named(&c["env"], "name", var)["valueFrom"]["fieldRef"]["fieldPath"],
            field
        );
    }
    // The only writable places are emptyDirs.
    for dir in ["/tmp", "/var/lib/sealgate"] {
        let mount = named(&c["volumeMounts"], "mountPath", dir);
        let volume = named(&pod["volumes"], "name", mount["name"].as_str().unwrap());
        assert!(volume.get("emptyDir").is_some(), "{dir} is not an emptyDir");
    }
}

#[test]
fn metrics_service_and_service_monitor_match_the_pods() {
    let deployment = manifest_docs("deployment.yaml");
    let controller = find(&deployment, "Deployment", "sealgate-controller");
    let pod_labels = &controller["spec"]["template"]["metadata"]["labels"];
    let services = manifest_docs("service.yaml");
    let service = &services[0];
    assert_eq!(service["kind"], "Service");
    for (key, value) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&pod_labels[key], value, "Service selector {key}");
    }
    let port = named(&service["spec"]["ports"], "name", "http-metrics");
    assert_eq!(port["port"], 8080);

    let monitors = manifest_docs("servicemonitor.yaml");
    let monitor = find(&monitors, "ServiceMonitor", "sealgate-controller");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            &service["metadata"]["labels"][key], value,
            "ServiceMonitor selector {key}"
        );
    }
    let endpoint = named(&monitor["spec"]["endpoints"], "port", "http-metrics");
    assert_eq!(endpoint["path"], "/metrics");
}

/// `(apiGroup, resource)` → verbs granted by a role's rules.
fn grants(role: &Value) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut out: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for rule in role["rules"].as_array().unwrap() {
        for group in strs(&rule["apiGroups"]) {
            for resource in strs(&rule["resources"]) {
                out.entry((group.to_owned(), resource.to_owned()))
                    .or_default()
                    .extend(strs(&rule["verbs"]).into_iter().map(str::to_owned));
            }
        }
    }
    out
}

fn expected(entries: &[(&str, &str, &[&str])]) -> BTreeMap<(String, String), BTreeSet<String>> {
    entries
        .iter()
        .map(|(group, resource, verbs)| {
            (
                ((*group).to_owned(), (*resource).to_owned()),
                verbs.iter().map(|v| (*v).to_owned()).collect(),
            )
        })
        .collect()
}

#[test]
fn rbac_is_least_privilege() {
    let mut roles = 0;
    for (at, doc) in all_docs() {
        if doc["kind"] != "ClusterRole" && doc["kind"] != "Role" {
            continue;
        }
        roles += 1;
        for rule in doc["rules"].as_array().unwrap() {
            for field in ["apiGroups", "resources", "verbs", "nonResourceURLs"] {
                for v in strs(&rule[field]) {
                    assert!(!v.contains('*'), "{at}: wildcard {field} {v:?}");
                }
            }
            let verbs = strs(&rule["verbs"]);
            for v in &verbs {
                assert!(!["escalate", "bind"].contains(v), "{at}: verb {v}");
            }
            if strs(&rule["resources"]).contains(&"secrets") {
                assert!(
                    verbs.iter().all(|v| ["get", "list", "watch"].contains(v)),
                    "{at}: secrets write access {verbs:?}"
                );
            }
        }
    }
    assert!(roles >= 5, "only {roles} roles found");

    let rbac = manifest_docs("rbac.yaml");
    let controller = find(&rbac, "ClusterRole", "sealgate-controller");
    assert_eq!(
        grants(controller),
        expected(&[
            (
                "sealgate.dev",
                "deploymentgates",
                &["get", "list", "watch", "patch"]
            ),
            ("sealgate.dev", "imagepolicies", &["get", "list", "watch"]),
            (
                "sealgate.dev",
                "clusterimagepolicies",
                &["get", "list", "watch"]
            ),
            (
                "sealgate.dev",
                "deploymentgates/status",
                &["patch", "update"]
            ),
            (
                "sealgate.dev",
                "deploymentgates/finalizers",
                &["patch", "update"]
            ),
            ("", "secrets", &["get", "list", "watch"]),
            ("", "events", &["create", "patch"]),
            ("events.k8s.io", "events", &["create", "patch"]),
            ("", "serviceaccounts", &["impersonate"]),
        ]),
        "the controller's ClusterRole changed: keep it least privilege"
    );
    let leases = find(&rbac, "Role", "sealgate-leader-election");
    assert_eq!(leases["metadata"]["namespace"], NAMESPACE);
    assert_eq!(
        grants(leases),
        expected(&[(
            "coordination.k8s.io",
            "leases",
            &["create", "get", "update", "patch"]
        )])
    );
    assert_eq!(
        grants(find(&rbac, "ClusterRole", "sealgate-approver")),
        expected(&[("sealgate.dev", "deploymentgates", &["get", "list", "patch"])])
    );
    let viewer = find(&rbac, "ClusterRole", "sealgate-viewer");
    assert_eq!(
        grants(viewer),
        expected(&[
            ("sealgate.dev", "deploymentgates", &["get", "list", "watch"]),
            ("sealgate.dev", "imagepolicies", &["get", "list", "watch"]),
            (
                "sealgate.dev",
                "clusterimagepolicies",
                &["get", "list", "watch"]
            ),
        ])
    );
    assert_eq!(
        viewer["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"],
        "true"
    );

    let service_account = json!({
        "kind": "ServiceAccount", "name": "sealgate-controller", "namespace": NAMESPACE,
    });
    for (kind, name, role_kind) in [
        ("ClusterRoleBinding", "sealgate-controller", "ClusterRole"),
        ("RoleBinding", "sealgate-leader-election", "Role"),
    ] {
        let binding = find(&rbac, kind, name);
        assert_eq!(binding["roleRef"]["kind"], role_kind, "{kind}/{name}");
        find(
            &rbac,
            role_kind,
            binding["roleRef"]["name"].as_str().unwrap(),
        );
        assert_eq!(
            binding["subjects"],
            json!([service_account]),
            "{kind}/{name}"
        );
    }
    find(&rbac, "ServiceAccount", "sealgate-controller");
}

// ---------------------------------------------------------------------------------------
// Metric names in alerts and dashboard.

fn metrics_source() -> String {
    read(&repo().join("src/serve/metrics.rs"))
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Whether `word` occurs in `text` as a whole name (not as part of a longer one).
fn contains_name(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        !text[..i].chars().next_back().is_some_and(is_name_char)
            && !text[i + word.len()..]
                .chars()
                .next()
                .is_some_and(is_name_char)
    })
}

/// `expr` with the contents of its string literals blanked (label values are not names).
fn without_strings(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in expr.chars() {
        match quote {
            None => {
                if matches!(c, '"' | '\'' | '`') {
                    quote = Some(c);
                }
                out.push(c);
            }
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q != '`' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                    out.push(c);
                    continue;
                }
                out.push(' ');
            }
        }
    }
    out
}

/// The `sealgate_*` metric names a PromQL expression uses.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let expr = without_strings(expr);
    expr.match_indices("sealgate_")
        .filter(|(i, _)| !expr[..*i].chars().next_back().is_some_and(is_name_char))
        .map(|(i, _)| expr[i..].chars().take_while(|c| is_name_char(*c)).collect())
        .collect()
}

/// Whether `src/serve/metrics.rs` defines `name` (a histogram's series by their base name).
fn defined(source: &str, name: &str) -> bool {
    contains_name(source, name)
        || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
            name.strip_suffix(suffix)
                .is_some_and(|base| contains_name(source, base))
        })
}

#[test]
fn metric_name_helpers() {
    assert_eq!(
        metric_names(
            r#"sum(rate(sealgate_a_total{x="sealgate_no\"sealgate_x"}[5m])) / sealgate_b"#
        ),
        BTreeSet::from(["sealgate_a_total".to_owned(), "sealgate_b".to_owned()])
    );
    let source = "`sealgate_reconcile_duration_seconds` sealgate_reconciles_total";
    assert!(defined(
        source,
        "sealgate_reconcile_duration_seconds_bucket"
    ));
    assert!(defined(source, "sealgate_reconciles_total"));
    assert!(!defined(source, "sealgate_reconciles"));
    assert!(!defined(source, "sealgate_reconcile_duration"));
}

#[test]
fn alerts_use_only_metrics_defined_in_src_metrics_rs() {
    let source = metrics_source();
    let docs = manifest_docs("prometheusrule.yaml");
    let rule = find(&docs, "PrometheusRule", "sealgate");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    let alerts: BTreeMap<&str, &Value> = rule["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .filter_map(|r| Some((r["alert"].as_str()?, r)))
        .collect();
    let mut undefined = Vec::new();
    for (name, alert) in &alerts {
        let expr = alert["expr"].as_str().unwrap();
        let used = metric_names(expr);
        assert!(!used.is_empty(), "{name}: no sealgate metric in {expr}");
        undefined.extend(
            used.into_iter()
                .filter(|m| !defined(&source, m))
                .map(|m| format!("{name}: {m}")),
        );
        assert!(
            alert["labels"]["severity"]
                .as_str()
                .is_some_and(|s| ["info", "warning", "critical"].contains(&s)),
            "{name}: severity"
        );
        for key in ["summary", "description", "runbook"] {
            assert!(
                alert["annotations"][key]
                    .as_str()
                    .is_some_and(|s| !s.trim().is_empty()),
                "{name}: annotation {key}"
            );
        }
        let runbook = alert["annotations"]["runbook"].as_str().unwrap();
        assert!(
            runbook.contains("kubectl describe deploymentgate")
                && runbook.contains("kubectl get deploymentgates -A"),
            "{name}: runbook"
        );
    }
    assert!(
        undefined.is_empty(),
        "alerts use metrics src/serve/metrics.rs does not define: {undefined:?}"
    );

    let check_alert = |name: &str, parts: &[&str], duration: &str| {
        let alert = alerts
            .get(name)
            .unwrap_or_else(|| panic!("no alert {name}"));
        let expr = alert["expr"].as_str().unwrap();
        for part in parts {
            assert!(expr.contains(part), "{name}: {part:?} not in {expr}");
        }
        assert_eq!(alert["for"], duration, "{name}: for");
    };
    check_alert(
        "SealgateGateBlocked",
        &["sealgate_blocked_gates", "> 0"],
        "30m",
    );
    check_alert(
        "SealgateReconcileErrors",
        &[
            "increase(sealgate_reconciles_total{result=\"error\"}[10m])",
            "> 0",
        ],
        "10m",
    );
    check_alert(
        "SealgateRegistryRateLimited",
        &[
            "sealgate_image_verdicts{reason=\"RegistryRateLimited\"}",
            "> 0",
        ],
        "10m",
    );
    check_alert(
        "SealgateNoSuccessfulReconcile",
        &[
            "time() -",
            "sealgate_last_success_timestamp_seconds",
            "> 900",
        ],
        "5m",
    );
    assert_eq!(alerts.len(), 4, "{:?}", alerts.keys());
}

/// Every string value of a key named `key` anywhere below `v` (`expr`, `image`).
fn strings_under(v: &Value, key: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, value) in map {
                match value {
                    Value::String(s) if k == key => out.push(s.clone()),
                    _ => strings_under(value, key, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| strings_under(i, key, out)),
        _ => {}
    }
}

#[test]
fn grafana_dashboard_is_importable_and_uses_only_defined_metrics() {
    let text = read(&repo().join("manifests/grafana-dashboard.json"));
    let dash: Value = serde_json::from_str(&text).expect("grafana-dashboard.json is JSON");
    assert!(dash["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(dash["uid"].as_str().is_some_and(|u| !u.is_empty()));
    assert!(dash["schemaVersion"].as_u64().is_some_and(|v| v >= 36));

    // The data source is a variable, so the same JSON works imported by hand and
    // provisioned by the sidecar.
    let variables = dash["templating"]["list"].as_array().unwrap();
    assert!(
        variables.iter().any(|v| v["type"] == "datasource"
            && v["name"] == "DS_PROMETHEUS"
            && v["query"] == "prometheus"),
        "no DS_PROMETHEUS data source variable"
    );

    let panels: Vec<&Value> = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| std::iter::once(p).chain(p["panels"].as_array().into_iter().flatten()))
        .filter(|p| p["type"] != "row")
        .collect();
    let mut ids = BTreeSet::new();
    for panel in &panels {
        let title = &panel["title"];
        assert!(ids.insert(panel["id"].as_u64().unwrap()), "{title}: id");
        assert!(panel["gridPos"]["w"].is_u64() && panel["gridPos"]["h"].is_u64());
        assert_eq!(panel["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: no query");
        for target in targets {
            assert!(target["expr"].is_string(), "{title}: target without expr");
        }
    }
    let types: BTreeSet<&str> = panels.iter().map(|p| p["type"].as_str().unwrap()).collect();
    for t in ["stat", "timeseries"] {
        assert!(types.contains(t), "no {t} panel: {types:?}");
    }
    assert!(
        ["bargauge", "barchart", "table"]
            .iter()
            .any(|t| types.contains(t)),
        "no bar or table panel: {types:?}"
    );

    let mut queries = Vec::new();
    strings_under(&dash["panels"], "expr", &mut queries);
    for v in variables.iter().filter(|v| v["type"] == "query") {
        let query = v["query"].as_str().or_else(|| v["query"]["query"].as_str());
        queries.push(query.unwrap().to_owned());
    }
    let source = metrics_source();
    let mut used = BTreeSet::new();
    let mut undefined = Vec::new();
    for q in &queries {
        let names = metric_names(q);
        assert!(!names.is_empty(), "no sealgate metric in {q}");
        undefined.extend(names.iter().filter(|m| !defined(&source, m)).cloned());
        used.extend(names);
    }
    assert!(
        undefined.is_empty(),
        "the dashboard uses metrics src/serve/metrics.rs does not define: {undefined:?}"
    );
    for metric in [
        "sealgate_blocked_gates",
        "sealgate_reconciles_total",
        "sealgate_reconcile_duration_seconds_bucket",
        "sealgate_image_verdicts",
        "sealgate_registry_requests_total",
        "sealgate_verification_cache_total",
        "sealgate_last_success_timestamp_seconds",
    ] {
        assert!(used.contains(metric), "no panel shows {metric}");
    }
    assert!(
        queries
            .iter()
            .any(|q| q.contains("histogram_quantile(0.95")),
        "no p95"
    );
}

// ---------------------------------------------------------------------------------------
// Examples.

#[test]
fn examples_fit_together() {
    let dir = repo().join("examples/web-app");
    let gate = |file: &str| docs(&dir.join(file)).remove(0);
    let policy = &docs(&dir.join("imagepolicy.yaml"))[0];
    assert_eq!(policy["kind"], "ImagePolicy");
    assert_eq!(policy["metadata"]["namespace"], "web");
    let rbac = docs(&dir.join("serviceaccount-rbac.yaml"));
    let secret = &docs(&dir.join("git-auth-secret.example.yaml"))[0];

    let apply = gate("deploymentgate-apply.yaml");
    let promote = gate("deploymentgate-promote.yaml");
    for g in [&apply, &promote] {
        let name = &g["metadata"]["name"];
        assert_eq!(g["apiVersion"], "sealgate.dev/v1alpha1", "{name}");
        assert_eq!(g["kind"], "DeploymentGate", "{name}");
        assert_eq!(g["metadata"]["namespace"], "web", "{name}");
        assert_eq!(
            g["spec"]["policyRefs"][0]["name"], policy["metadata"]["name"],
            "{name}"
        );
        assert_eq!(
            g["spec"]["source"]["secretRef"]["name"], secret["metadata"]["name"],
            "{name}"
        );
    }
    let target = &apply["spec"]["target"]["apply"];
    assert_eq!(target["prune"], true);
    assert_eq!(target["targetNamespace"], "web");
    let deployer = target["serviceAccountName"].as_str().unwrap();
    find(&rbac, "ServiceAccount", deployer);
    let binding = find(&rbac, "RoleBinding", deployer);
    assert_eq!(binding["subjects"][0]["name"], deployer);

    let promoted = &promote["spec"]["target"]["promote"];
    assert_eq!(promote["spec"]["approval"]["required"], true);
    let (branch, path) = (
        promoted["branch"].as_str().unwrap(),
        promoted["path"].as_str().unwrap(),
    );
    assert_eq!(branch, "deploy/web");

    // Argo CD and Flux follow the promoted branch, never the source ref.
    let argo = &docs(&repo().join("examples/argocd/application.yaml"))[0];
    assert_eq!(argo["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(argo["spec"]["source"]["targetRevision"], branch);
    assert_eq!(argo["spec"]["source"]["path"], path);
    let flux_source = &docs(&repo().join("examples/flux/gitrepository.yaml"))[0];
    assert_eq!(flux_source["apiVersion"], "source.toolkit.fluxcd.io/v1");
    assert_eq!(flux_source["spec"]["ref"]["branch"], branch);
    let flux = &docs(&repo().join("examples/flux/web.yaml"))[0];
    assert_eq!(flux["apiVersion"], "kustomize.toolkit.fluxcd.io/v1");
    assert_eq!(
        flux["spec"]["sourceRef"]["name"],
        flux_source["metadata"]["name"]
    );
    assert_eq!(
        flux["spec"]["path"]
            .as_str()
            .unwrap()
            .trim_start_matches("./"),
        path
    );

    // The application as committed: images by tag, pinned only by the promotion.
    let mut images = 0;
    for file in yaml_files(&dir.join("app")) {
        let mut found = Vec::new();
        for doc in docs(&file) {
            strings_under(&doc, "image", &mut found);
        }
        for image in found {
            assert!(
                image.starts_with("ghcr.io/acme/") && !image.contains('@'),
                "{}: {image}",
                file.display()
            );
            images += 1;
        }
    }
    assert!(images >= 1);
}

// ---------------------------------------------------------------------------------------
// The admission webhook install (manifests/webhook/).

fn webhook_docs(file: &str) -> Vec<Value> {
    manifest_docs(&format!("webhook/{file}"))
}

const WEBHOOK_RULES: [(&str, &[&str]); 3] = [
    (
        "",
        &[
            "pods",
            "pods/ephemeralcontainers",
            "replicationcontrollers",
            "podtemplates",
        ],
    ),
    (
        "apps",
        &["deployments", "statefulsets", "daemonsets", "replicasets"],
    ),
    ("batch", &["jobs", "cronjobs"]),
];

/// A webhook configuration entry fails closed, has no side effects, exempts the system
/// namespaces, gets its CA from cert-manager and covers every pod-template kind.
fn check_webhook_configuration(config: &Value, path: &str) {
    assert_eq!(config["apiVersion"], "admissionregistration.k8s.io/v1");
    assert_eq!(
        config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
        format!("{NAMESPACE}/sealgate-webhook")
    );
    let hooks = config["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 1);
    let h = &hooks[0];
    assert_eq!(h["failurePolicy"], "Fail");
    assert_eq!(h["sideEffects"], "None");
    assert_eq!(h["timeoutSeconds"], 10);
    assert_eq!(h["admissionReviewVersions"], json!(["v1"]));
    let service = &h["clientConfig"]["service"];
    assert_eq!(service["name"], "sealgate-webhook");
    assert_eq!(service["namespace"], NAMESPACE);
    assert_eq!(service["path"], path);
    assert_eq!(service["port"], 443);
    let exempt = &h["namespaceSelector"]["matchExpressions"][0];
    assert_eq!(exempt["key"], "kubernetes.io/metadata.name");
    assert_eq!(exempt["operator"], "NotIn");
    let exempted = strs(&exempt["values"]);
    assert!(
        exempted.contains(&"kube-system") && exempted.contains(&NAMESPACE),
        "{exempted:?}"
    );
    let rules = h["rules"].as_array().unwrap();
    for (group, resources) in WEBHOOK_RULES {
        let rule = rules
            .iter()
            .find(|r| strs(&r["apiGroups"]) == [group])
            .unwrap_or_else(|| panic!("no rule for API group {group:?}"));
        assert_eq!(strs(&rule["resources"]), resources, "group {group:?}");
        let ops = strs(&rule["operations"]);
        assert!(
            ops.contains(&"CREATE") && ops.contains(&"UPDATE"),
            "{ops:?}"
        );
        assert!(!ops.contains(&"DELETE"), "{ops:?}");
    }
}

#[test]
fn webhook_install_fails_closed_and_stays_available() {
    let k = &webhook_docs("kustomization.yaml")[0];
    assert_eq!(k["namespace"], NAMESPACE);
    let resources = strs(&k["resources"]);
    for r in &resources {
        assert!(
            repo().join("manifests/webhook").join(r).is_file(),
            "manifests/webhook/{r} is missing"
        );
    }
    // the mutating configuration is opt-in
    assert!(!resources.contains(&"mutatingwebhookconfiguration.yaml"));
    assert!(resources.contains(&"validatingwebhookconfiguration.yaml"));

    let validating = webhook_docs("validatingwebhookconfiguration.yaml");
    let v = find(&validating, "ValidatingWebhookConfiguration", "sealgate");
    check_webhook_configuration(v, "/validate");
    let mutating = webhook_docs("mutatingwebhookconfiguration.yaml");
    let m = find(&mutating, "MutatingWebhookConfiguration", "sealgate");
    check_webhook_configuration(m, "/mutate");

    let deployment = webhook_docs("deployment.yaml");
    let d = find(&deployment, "Deployment", "sealgate-webhook");
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    let template = &d["spec"]["template"];
    let pod = &template["spec"];
    assert_eq!(pod["serviceAccountName"], "sealgate-webhook");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert!(pod.get("topologySpreadConstraints").is_some());
    let c = named(&pod["containers"], "name", "webhook");
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    let args = strs(&c["args"]);
    assert_eq!(args.first(), Some(&"webhook"));
    assert!(args.contains(&"--kube"), "{args:?}");
    for (flag, value) in [
        ("--tls-cert", "/tls/tls.crt"),
        ("--tls-key", "/tls/tls.key"),
        ("--listen", "0.0.0.0:8443"),
        ("--metrics-listen", "0.0.0.0:8080"),
    ] {
        assert!(
            args.windows(2).any(|w| w == [flag, value]),
            "{flag} {args:?}"
        );
    }
    // the deadline stays below the configuration's timeoutSeconds
    let deadline: f64 = args
        .windows(2)
        .find(|w| w[0] == "--deadline")
        .map(|w| w[1].parse().unwrap())
        .unwrap_or(8.0);
    assert!(deadline < 10.0, "--deadline {deadline}");
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(c[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(c[probe]["httpGet"]["scheme"], "HTTPS", "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"], "https", "{probe}");
    }
    let tls_mount = named(&c["volumeMounts"], "mountPath", "/tls");
    assert_eq!(tls_mount["readOnly"], true);
    let tls = named(&pod["volumes"], "name", tls_mount["name"].as_str().unwrap());
    assert_eq!(tls["secret"]["secretName"], "sealgate-webhook-tls");

    let pdb = find(&deployment, "PodDisruptionBudget", "sealgate-webhook");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    for (key, value) in pdb["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&template["metadata"]["labels"][key], value, "PDB {key}");
    }

    let services = webhook_docs("service.yaml");
    let svc = find(&services, "Service", "sealgate-webhook");
    for (key, value) in svc["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&template["metadata"]["labels"][key], value, "Service {key}");
    }
    let https = named(&svc["spec"]["ports"], "name", "https");
    assert_eq!(https["port"], 443);
    assert_eq!(https["targetPort"], "https");
    assert_eq!(named(&c["ports"], "name", "https")["containerPort"], 8443);

    let certs = webhook_docs("certificate.yaml");
    let cert = find(&certs, "Certificate", "sealgate-webhook");
    assert_eq!(cert["spec"]["secretName"], "sealgate-webhook-tls");
    let dns = strs(&cert["spec"]["dnsNames"]);
    assert!(
        dns.contains(&"sealgate-webhook.sealgate-system.svc"),
        "{dns:?}"
    );
    let issuer = &cert["spec"]["issuerRef"];
    find(
        &certs,
        issuer["kind"].as_str().unwrap(),
        issuer["name"].as_str().unwrap(),
    );

    // RBAC: read policies, get Secrets (no list/watch), write Events; nothing else
    let rbac = webhook_docs("rbac.yaml");
    assert_eq!(
        grants(find(&rbac, "ClusterRole", "sealgate-webhook")),
        expected(&[
            ("sealgate.dev", "imagepolicies", &["get", "list", "watch"]),
            (
                "sealgate.dev",
                "clusterimagepolicies",
                &["get", "list", "watch"]
            ),
            ("", "secrets", &["get"]),
            ("events.k8s.io", "events", &["create", "patch"]),
        ])
    );
    let binding = find(&rbac, "ClusterRoleBinding", "sealgate-webhook");
    assert_eq!(binding["subjects"][0]["name"], "sealgate-webhook");
    assert_eq!(binding["subjects"][0]["namespace"], NAMESPACE);
}

// ---------------------------------------------------------------------------------------
// kubectl kustomize, when kubectl is installed.

fn on_path(binary: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(binary))
        .find(|p| p.is_file())
}

#[test]
fn kubectl_kustomize_builds_the_install() {
    let Some(kubectl) = on_path("kubectl") else {
        eprintln!(
            "NOTE: kubectl is not on PATH, so `kubectl kustomize manifests/` was not run; \
             the static checks of the other tests still ran"
        );
        return;
    };
    let out = Command::new(&kubectl)
        .arg("kustomize")
        .arg(repo().join("manifests"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} kustomize manifests/ failed ({}):\n{}",
        kubectl.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let docs = serde_saphyr::from_multiple::<Value>(&text).unwrap();
    find(&docs, "Deployment", "sealgate-controller");
    for crd in CRDS {
        let crd = find(&docs, "CustomResourceDefinition", crd);
        assert_eq!(crd["spec"]["group"], "sealgate.dev");
    }
    let cluster_scoped = [
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
    ];
    for doc in &docs {
        let (kind, name) = (&doc["kind"], &doc["metadata"]["name"]);
        if !cluster_scoped.contains(&kind.as_str().unwrap()) {
            assert_eq!(doc["metadata"]["namespace"], NAMESPACE, "{kind}/{name}");
        }
        assert_eq!(
            doc["metadata"]["labels"]["app.kubernetes.io/part-of"], "sealgate",
            "{kind}/{name}"
        );
    }
    let out = Command::new(&kubectl)
        .arg("kustomize")
        .arg(repo().join("manifests/webhook"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kustomize manifests/webhook/ failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let webhook =
        serde_saphyr::from_multiple::<Value>(&String::from_utf8(out.stdout).unwrap()).unwrap();
    find(&webhook, "Deployment", "sealgate-webhook");
    find(&webhook, "ValidatingWebhookConfiguration", "sealgate");
    for doc in &webhook {
        let (kind, name) = (&doc["kind"], &doc["metadata"]["name"]);
        if ![
            "ClusterRole",
            "ClusterRoleBinding",
            "ValidatingWebhookConfiguration",
        ]
        .contains(&kind.as_str().unwrap())
        {
            assert_eq!(doc["metadata"]["namespace"], NAMESPACE, "{kind}/{name}");
        }
        assert_eq!(
            doc["metadata"]["labels"]["app.kubernetes.io/part-of"], "sealgate",
            "{kind}/{name}"
        );
    }

    let dashboard = find(&docs, "ConfigMap", "sealgate-grafana-dashboard");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let json_text = dashboard["data"]["grafana-dashboard.json"]
        .as_str()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(json_text).unwrap(),
        serde_json::from_str::<Value>(&read(&repo().join("manifests/grafana-dashboard.json")))
            .unwrap()
    );
}

/// The committed CRDs are exactly what `sealgate crdgen` generates from the Rust types: CI
/// fails when they drift (regenerate with `cargo run -- crdgen --out-dir manifests/crds`).
#[test]
fn committed_crds_match_crdgen() {
    let out = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .args(["crdgen", "--out-dir"])
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());
    let mut generated: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    generated.sort();
    assert_eq!(
        generated,
        [
            "clusterimagepolicies.yaml",
            "deploymentgates.yaml",
            "imagepolicies.yaml"
        ]
    );
    for f in &generated {
        let want = std::fs::read_to_string(out.path().join(f)).unwrap();
        let have =
            std::fs::read_to_string(repo().join("manifests/crds").join(f)).unwrap_or_default();
        assert!(
            want == have,
            "manifests/crds/{f} drifted from the Rust types: run `cargo run -- crdgen --out-dir manifests/crds`"
        );
    }
}
