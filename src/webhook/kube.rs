//! `sealgate webhook --kube`: policies from the cluster, and Events for denials.
//!
//! Two kube-runtime reflectors keep every `ImagePolicy` and `ClusterImagePolicy`; after both
//! have listed, and again after every change (changes within [`DEBOUNCE`] are taken
//! together) and every `resync` (which re-reads the `k8s://` Secrets they name: the webhook
//! may `get` Secrets, not watch them), the whole set is compiled with the controller's code
//! ([`crate::edge::kube::compile_policy_resource`]) and swapped in — no restart.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use kube::Api;
use kube::ResourceExt as _;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};

use super::policies::{Broken, Policies, PolicySet};
use crate::controller::crd::{ClusterImagePolicy, ImagePolicy};
use crate::decision::admission::{Answer, Review};
use crate::manifests::ImagePath;
use crate::sigstore::trust::TrustedRoot;

/// Changes that arrive within this of each other are compiled once.
pub const DEBOUNCE: Duration = Duration::from_millis(100);
/// Default interval of full recompiles (fresh Secret reads).
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(300);

/// Where policies and their keys come from.
#[derive(Clone)]
pub struct Source {
    pub client: kube::Client,
    pub trusted_root: Option<Arc<TrustedRoot>>,
    /// `--image-path` locations (added to every scope).
    pub extra: Vec<ImagePath>,
    pub resync: Duration,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("resync", &self.resync)
            .finish_non_exhaustive()
    }
}

/// Compiles what the stores hold into one set (sorted by namespace and name, so the result
/// does not depend on watch order).
pub async fn compile(
    source: &Source,
    namespaced: &[Arc<ImagePolicy>],
    cluster: &[Arc<ClusterImagePolicy>],
) -> PolicySet {
    let mut items: Vec<(Option<String>, String, &crate::policy::ImagePolicySpec)> = namespaced
        .iter()
        .map(|p| {
            (
                Some(p.namespace().unwrap_or_default()),
                p.name_any(),
                &p.spec.0,
            )
        })
        .chain(cluster.iter().map(|p| (None, p.name_any(), &p.spec.0)))
        .collect();
    items.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let (mut cluster_out, mut namespaced_out, mut broken) = (Vec::new(), Vec::new(), Vec::new());
    for (ns, name, spec) in items {
        let compiled = match crate::edge::kube::compile_policy_resource(
            &source.client,
            ns.as_deref(),
            &name,
            spec,
            source.trusted_root.clone(),
        )
        .await
        {
            // hashivault:// keys read now (a refusal: the policy is not loaded)
            // (only a ClusterImagePolicy may name one)
            Ok((p, _)) => match crate::edge::kms::activate(std::slice::from_ref(&p)).await {
                Ok(()) => Ok(p),
                Err(crate::edge::kms::KmsError::InPolicy { error, .. }) => {
                    Err(format!("ClusterImagePolicy {name}: {error}"))
                }
                Err(e) => Err(format!("ClusterImagePolicy {name}: {e}")),
            },
            Err(e) => Err(e.to_string()),
        };
        match compiled {
            Ok(p) => match ns {
                Some(ns) => namespaced_out.push((ns, p)),
                None => cluster_out.push(p),
            },
            Err(message) => {
                tracing::warn!(error = %message, "policy not loaded; reviews in its scope are denied");
                broken.push(Broken {
                    namespace: ns,
                    message,
                });
            }
        }
    }
    PolicySet::from_resources(cluster_out, namespaced_out, broken, &source.extra)
}

/// Keeps `policies` in step with the cluster until the task is dropped.
pub async fn watch(source: Source, policies: Arc<Policies>) {
    let changed = Arc::new(tokio::sync::Notify::new());
    let (namespaced, ns_task) = reflect(
        Api::<ImagePolicy>::all(source.client.clone()),
        changed.clone(),
    );
    let (cluster, cl_task) = reflect(
        Api::<ClusterImagePolicy>::all(source.client.clone()),
        changed.clone(),
    );
    let _tasks = AbortOnDrop(vec![ns_task, cl_task]);
    if namespaced.wait_until_ready().await.is_err() || cluster.wait_until_ready().await.is_err() {
        return;
    }
    loop {
        let set = compile(&source, &namespaced.state(), &cluster.state()).await;
        tracing::info!(
            policies = set.len(),
            broken = set.broken().len(),
            "admission policies loaded"
        );
        policies.replace(set);
        tokio::select! {
            () = changed.notified() => tokio::time::sleep(DEBOUNCE).await,
            () = tokio::time::sleep(source.resync) => {}
        }
    }
}

struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// A reflector over `api`, driven by its own task, that notifies `changed` on every event.
fn reflect<K>(
    api: Api<K>,
    changed: Arc<tokio::sync::Notify>,
) -> (Store<K>, tokio::task::JoinHandle<()>)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store::<K>();
    let stream =
        reflector::reflector(writer, watcher(api, watcher::Config::default())).default_backoff();
    let task = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => changed.notify_one(),
                Err(e) => tracing::warn!(
                    kind = K::kind(&()).as_ref(),
                    error = %e,
                    "watching policies failed; retrying"
                ),
            }
        }
    });
    (reader, task)
}

/// Publishes a Warning Event on a denied object (in its namespace; reason: the first reason
/// code, action `Admission`), never for dry runs or objects without a namespace. Runs in the background: the answer does not wait for it.
pub fn publish_denial(recorder: &Recorder, review: &Review, answer: &Answer) {
    if review.dry_run || answer.allowed {
        return;
    }
    let Some(namespace) = review.namespace.clone() else {
        return;
    };
    let object = review.object.as_ref();
    let text = |p: &str| {
        object
            .and_then(|o| o.pointer(p))
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let name = if review.name.is_empty() {
        text("/metadata/generateName")
    } else {
        review.name.clone()
    };
    let reference = k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some(text("/apiVersion")).filter(|s| !s.is_empty()),
        kind: Some(review.kind.clone()),
        name: Some(name),
        namespace: Some(namespace),
        ..Default::default()
    };
    let event = Event {
        type_: EventType::Warning,
        // the first reason code: a bounded set; the same denial again becomes a series
        reason: answer.reason.unwrap_or("AdmissionDenied").into(),
        note: Some(answer.message.chars().take(1024).collect()),
        action: "Admission".into(),
        secondary: None,
    };
    let recorder = recorder.clone();
    tokio::spawn(async move {
        if let Err(e) = recorder.publish(&event, &reference).await {
            tracing::warn!(error = %e, "could not publish the denial event");
        }
    });
}
