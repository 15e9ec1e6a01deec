//! The Kubernetes controller (`sealgate controller`): the gate's engine driven by
//! `DeploymentGate` custom resources (kube-rs controller-rs shape, Flux behaviour).
//!
//! One reconcile is an ordered list of sub-steps, each owning its condition: fetch source →
//! verify source (`SourceVerified`) → extract → verify images (`ImagesVerified`) → decide →
//! await approval (`AwaitingApproval`) → apply or promote (`Applied` / `Promoted`) → report
//! (`Ready`, `Stalled`, `Reconciling` per kstatus; `observedGeneration`). The status is
//! computed as a value and patched once, only when it changed; Kubernetes Events are
//! published only on transitions (blocked, unblocked, applied, promoted, approved).
//!
//! Re-verification happens only when the revision, the generation, a referenced policy or
//! trust material (keys, signer Secrets) changed, the evidence cache entry expired, or the
//! last result was not a pass (Flux's status-as-cache rule): the inputs are digested into
//! `status.verifiedInputs`. A blocked revision applies nothing: the last good one stays.
//!
//! Depends on the engine (`source`, `manifests`, `gate`, `verify`, `target`) and on
//! kube-rs; side effects go through the [`Context`]'s clients, so tests drive it over a
//! mocked API server.

pub mod apply;
pub mod crd;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource as _, ResourceExt as _};

use crate::config::GitAuth;
use crate::gate::{self, Report};
use crate::keysource::{ClusterScope, Resolved};
use crate::manifests::{self, LoadOptions};
use crate::metrics::{Metrics, ReconcileResult};
use crate::policy::Policy;
use crate::registry::AnyRegistry;
use crate::source::git::Repo;
use crate::source::signature::{self, AllowedSigners, OpenPgpKeys, SignatureCheck, SignerTrust};
use crate::target::promote::{self, PromoteOutcome, Promotion};
use crate::verdict::Decision;
use crate::verify::{self, Cache, GatherOptions};
use crd::{
    ClusterImagePolicy, DeploymentGate, DeploymentGateStatus, FINALIZER, ImagePolicy, Inventory,
};

/// Default source interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
/// Longest backoff after failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Controller settings (flags of `sealgate controller`).
#[derive(Debug, Clone)]
pub struct Options {
    /// Working directory for Git mirrors, checkouts and credentials (0700).
    pub state_dir: PathBuf,
    pub registry_concurrency: usize,
    pub max_sbom_size: u64,
    /// Default trusted root for keyless attestors.
    pub trusted_root: Option<Arc<crate::sigstore::trust::TrustedRoot>>,
    /// How long a passing verification stands without re-verifying (the evidence TTL).
    pub cache_ttl: Duration,
    pub negative_cache_ttl: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            state_dir: std::env::temp_dir().join("sealgate-controller"),
            registry_concurrency: 16,
            max_sbom_size: crate::attest::DEFAULT_MAX_STATEMENT_BYTES,
            trusted_root: None,
            cache_ttl: Duration::from_secs(3600),
            negative_cache_ttl: Duration::from_secs(60),
        }
    }
}

/// Builds a client that acts as a user (`system:serviceaccount:<ns>:<name>`).
pub type Impersonate = Box<dyn Fn(&str) -> Result<kube::Client, kube::Error> + Send + Sync>;

/// What reconciles share.
pub struct Context {
    pub client: kube::Client,
    /// Clients acting as a gate's `serviceAccountName`.
    pub impersonate: Impersonate,
    pub registry: AnyRegistry,
    pub cache: Cache,
    pub recorder: Recorder,
    pub metrics: Option<Arc<Metrics>>,
    pub options: Options,
    memory: std::sync::Mutex<HashMap<String, Memory>>,
    /// Cache lookups already counted in the metrics (hits, misses).
    cache_reported: std::sync::Mutex<(u64, u64)>,
}

/// What the controller remembers of a gate between reconciles (not in the status).
#[derive(Default)]
struct Memory {
    /// Inputs digest of the last pass and when it was verified.
    last_pass: Option<(String, std::time::Instant)>,
    /// Consecutive failed reconciles (backoff).
    failures: u32,
    /// Set while Git work of this gate runs on a blocking thread.
    busy: Arc<AtomicBool>,
    /// The last report's (verdict, reason) counts, for the summed gauges.
    verdicts: BTreeMap<(String, String), i64>,
    /// Whether the last verified revision was blocked.
    blocked: bool,
    /// `k8s://` Secrets the gate's policies read last time (a change requeues the gate).
    secrets: Vec<(String, String)>,
}

impl Context {
    pub fn new(
        client: kube::Client,
        impersonate: Impersonate,
        registry: AnyRegistry,
        recorder: Recorder,
        metrics: Option<Arc<Metrics>>,
        options: Options,
    ) -> Self {
        Self {
            cache: Cache::new(options.cache_ttl, options.negative_cache_ttl),
            client,
            impersonate,
            registry,
            recorder,
            metrics,
            options,
            memory: std::sync::Mutex::new(HashMap::new()),
            cache_reported: std::sync::Mutex::new((0, 0)),
        }
    }

    /// Counts the cache lookups made since the last report in
    /// `sealgate_verification_cache_total` (once each, whichever gate made them).
    fn report_cache(&self) {
        let Some(m) = &self.metrics else {
            return;
        };
        let mut last = self
            .cache_reported
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (hits, misses) = self.cache.stats();
        (last.0..hits).for_each(|_| m.cache(true));
        (last.1..misses).for_each(|_| m.cache(false));
        *last = (hits.max(last.0), misses.max(last.1));
    }

    /// Updates the image-verdict and blocked-gate gauges with this gate's latest report
    /// (the gauges sum over every gate; labels never name gates or images).
    fn gauges(&self, key: &str, report: &Report) {
        let Some(metrics) = &self.metrics else {
            return;
        };
        let mut counts: BTreeMap<(String, String), i64> = BTreeMap::new();
        for i in &report.images {
            let reason = i
                .verdict
                .reasons()
                .first()
                .map(|r| r.code.as_str().to_owned())
                .unwrap_or_default();
            *counts
                .entry((i.verdict.as_str().to_owned(), reason))
                .or_default() += 1;
        }
        let blocked = report.decision == Decision::Blocked;
        let (all, blocked_gates) = self.remember_all(|m| {
            let e = m.entry(key.to_owned()).or_default();
            e.verdicts = counts;
            e.blocked = blocked;
            let mut all: BTreeMap<(String, String), i64> = BTreeMap::new();
            for g in m.values() {
                for (k, n) in &g.verdicts {
                    *all.entry(k.clone()).or_default() += n;
                }
            }
            (all, m.values().filter(|g| g.blocked).count())
        });
        let all: Vec<(String, String, i64)> =
            all.into_iter().map(|((v, r), n)| (v, r, n)).collect();
        metrics.set_image_verdicts(&all);
        metrics.set_blocked_gates(i64::try_from(blocked_gates).unwrap_or(i64::MAX));
    }

    /// Whether the gate's policies read the Secret `ns/name` at the last reconcile.
    pub fn uses_secret(&self, gate: &DeploymentGate, ns: &str, name: &str) -> bool {
        self.remember(&key_of(gate), |m| {
            m.secrets.iter().any(|(n, s)| n == ns && s == name)
        })
    }

    fn remember_all<T>(&self, f: impl FnOnce(&mut HashMap<String, Memory>) -> T) -> T {
        let mut m = self
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut m)
    }

    fn remember<T>(&self, key: &str, f: impl FnOnce(&mut Memory) -> T) -> T {
        let mut m = self
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(m.entry(key.to_owned()).or_default())
    }
}

/// Errors of a reconcile that could not even report (the API refused the status or the
/// finalizer): retried with backoff by [`error_policy`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
    #[error("{0}")]
    Invalid(String),
}

/// What a reconcile ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Applied { revision: String, pruned: usize },
    Promoted { commit: String, new: bool },
    UpToDate,
    Blocked { reason: String },
    AwaitingApproval,
    Failed { reason: String, message: String },
}

fn failed(reason: &str, message: impl Into<String>) -> Outcome {
    Outcome::Failed {
        reason: reason.into(),
        message: message.into(),
    }
}

fn set(
    st: &mut DeploymentGateStatus,
    type_: &str,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    now: &str,
    generation: Option<i64>,
) {
    crate::daemon::set_condition(
        &mut st.conditions,
        type_,
        status,
        reason,
        message,
        now,
        generation,
    );
}

fn unset(st: &mut DeploymentGateStatus, type_: &str) {
    st.conditions.retain(|c| c.type_ != type_);
}

fn duration(text: Option<&str>, default: Duration) -> Duration {
    text.and_then(|t| crate::time::parse_duration(t).ok())
        .map_or(default, Duration::from_secs)
}

fn key_of(g: &DeploymentGate) -> String {
    format!("{}/{}", g.namespace().unwrap_or_default(), g.name_any())
}

/// Reconciles one gate (the kube-runtime `Controller` entry point).
///
/// # Errors
/// Only when the API refuses the finalizer or the status patch; every other failure is a
/// status (`Stalled`, `Ready=False`) and a requeue with backoff.
pub async fn reconcile(gate: Arc<DeploymentGate>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = gate
        .namespace()
        .ok_or_else(|| Error::Invalid("a DeploymentGate is namespaced".into()))?;
    let api: Api<DeploymentGate> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, FINALIZER, gate, |event| async {
        match event {
            finalizer::Event::Apply(g) => reconcile_gate(g, ctx.clone()).await,
            finalizer::Event::Cleanup(g) => cleanup(g, ctx.clone()).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

/// Requeue after a reconcile error: exponential backoff per gate, at most 5 minutes.
pub fn error_policy(gate: Arc<DeploymentGate>, err: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(gate = %key_of(&gate), error = %err, "reconcile failed");
    if let Some(m) = &ctx.metrics {
        m.reconcile(ReconcileResult::Error, 0.0);
    }
    let n = ctx.remember(&key_of(&gate), |m| {
        m.failures = m.failures.saturating_add(1);
        m.failures
    });
    Action::requeue(backoff(n))
}

fn backoff(failures: u32) -> Duration {
    let secs = 5u64.saturating_mul(1u64 << failures.clamp(1, 7).saturating_sub(1));
    Duration::from_secs(secs).min(MAX_BACKOFF)
}

/// Deleting a gate: with `prune`, everything it applied is deleted first — unless the gate
/// is suspended (`suspend` prunes nothing, as in Flux: deleting a suspended gate orphans
/// its objects).
async fn cleanup(gate: Arc<DeploymentGate>, ctx: Arc<Context>) -> Result<Action, Error> {
    let Some(a) = &gate.spec.target.apply else {
        return Ok(Action::await_change());
    };
    let inventory = gate
        .status
        .as_ref()
        .and_then(|s| s.inventory.clone())
        .unwrap_or_default();
    if a.prune && !gate.spec.suspend && !inventory.entries.is_empty() {
        let client = apply_client(&gate, &ctx)?;
        let deleted = apply::prune(&client, &inventory, &Inventory::default())
            .await
            .map_err(|e| Error::Invalid(e.to_string()))?;
        publish(
            &ctx,
            &gate,
            EventType::Normal,
            "Pruned",
            "Delete",
            format!("gate deleted: pruned {} objects", deleted.len()),
        )
        .await;
    }
    ctx.remember_all(|m| m.remove(&key_of(&gate)));
    Ok(Action::await_change())
}

fn apply_client(gate: &DeploymentGate, ctx: &Context) -> Result<kube::Client, Error> {
    let ns = gate.namespace().unwrap_or_default();
    match gate
        .spec
        .target
        .apply
        .as_ref()
        .and_then(|a| a.service_account_name.as_deref())
    {
        Some(sa) => Ok((ctx.impersonate)(&format!(
            "system:serviceaccount:{ns}:{sa}"
        ))?),
        None => Ok(ctx.client.clone()),
    }
}

async fn publish(
    ctx: &Context,
    gate: &DeploymentGate,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1024).collect()),
        action: action.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &gate.object_ref(&())).await {
        tracing::warn!(gate = %key_of(gate), error = %e, "could not publish an event");
    }
}

async fn reconcile_gate(gate: Arc<DeploymentGate>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let key = key_of(&gate);
    let interval = duration(gate.spec.source.interval.as_deref(), DEFAULT_INTERVAL);
    if gate.spec.suspend {
        tracing::info!(gate = %key, "suspended");
        return Ok(Action::await_change());
    }
    let now = crate::time::now();
    let stamp = crate::time::format_rfc3339(now);
    let old = gate.status.clone().unwrap_or_default();
    let mut st = old.clone();
    st.observed_generation = gate.metadata.generation;
    let outcome = run(&gate, &ctx, &mut st, now, &stamp).await;
    finish(&gate, &mut st, &outcome, &stamp);

    let ns = gate.namespace().unwrap_or_default();
    if st != old {
        let api: Api<DeploymentGate> = Api::namespaced(ctx.client.clone(), &ns);
        let patch = serde_json::json!({"status": status_patch(&st)});
        api.patch_status(
            &gate.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    }
    events(&ctx, &gate, &old, &st, &outcome).await;

    let result = match &outcome {
        Outcome::Applied { .. } => ReconcileResult::Applied,
        Outcome::Promoted { new: true, .. } => ReconcileResult::Promoted,
        Outcome::Promoted { new: false, .. } | Outcome::UpToDate => ReconcileResult::Unchanged,
        Outcome::Blocked { .. } => ReconcileResult::Blocked,
        Outcome::AwaitingApproval => ReconcileResult::AwaitingApproval,
        Outcome::Failed { .. } => ReconcileResult::Error,
    };
    if let Some(m) = &ctx.metrics {
        m.reconcile(result, started.elapsed().as_secs_f64());
        if matches!(
            result,
            ReconcileResult::Applied | ReconcileResult::Promoted | ReconcileResult::Unchanged
        ) {
            m.set_last_success(now);
        }
        if let Outcome::Promoted { new: true, .. } = outcome {
            m.set_last_promotion(now);
        }
    }
    Ok(match outcome {
        Outcome::Failed { .. } => {
            let n = ctx.remember(&key, |m| {
                m.failures = m.failures.saturating_add(1);
                m.failures
            });
            Action::requeue(backoff(n).min(interval))
        }
        _ => {
            ctx.remember(&key, |m| m.failures = 0);
            Action::requeue(interval)
        }
    })
}

/// The status as a JSON merge patch: optional fields that are now absent are sent as
/// `null`, so a value of an earlier reconcile does not linger.
fn status_patch(st: &DeploymentGateStatus) -> serde_json::Value {
    let mut v = serde_json::to_value(st).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        for k in [
            "observedGeneration",
            "lastAttemptedRevision",
            "lastVerifiedRevision",
            "lastAppliedRevision",
            "lastPromotionCommit",
            "verifiedInputs",
            "images",
            "problems",
            "inventory",
        ] {
            o.entry(k).or_insert(serde_json::Value::Null);
        }
    }
    v
}

/// The report step: `Ready`, `Stalled` and `Reconciling` from the outcome.
fn finish(gate: &DeploymentGate, st: &mut DeploymentGateStatus, outcome: &Outcome, now: &str) {
    let generation = gate.metadata.generation;
    unset(st, "Reconciling");
    let target = target_text(gate);
    match outcome {
        Outcome::Failed { reason, message } => {
            set(
                st,
                "Stalled",
                true,
                reason,
                message.clone(),
                now,
                generation,
            );
            set(st, "Ready", false, reason, message.clone(), now, generation);
        }
        Outcome::Applied { .. } | Outcome::Promoted { .. } | Outcome::UpToDate => {
            unset(st, "Stalled");
            let rev = st
                .last_applied_revision
                .clone()
                .or_else(|| st.last_verified_revision.clone())
                .unwrap_or_default();
            set(
                st,
                "Ready",
                true,
                "Succeeded",
                format!("{rev} is verified and {target}"),
                now,
                generation,
            );
        }
        Outcome::Blocked { reason } => {
            unset(st, "Stalled");
            let kept = st
                .last_applied_revision
                .clone()
                .unwrap_or_else(|| "nothing yet".into());
            let msg = format!(
                "revision {} is blocked ({} of {} images); the last good revision stays: {kept}",
                st.last_attempted_revision.clone().unwrap_or_default(),
                st.images_blocked,
                st.images_total
            );
            set(st, "Ready", false, reason, msg, now, generation);
        }
        Outcome::AwaitingApproval => {
            unset(st, "Stalled");
            let rev = st.last_verified_revision.clone().unwrap_or_default();
            set(
                st,
                "Ready",
                false,
                "AwaitingApproval",
                format!(
                    "revision {rev} passed and waits for approval (sealgate approve {} -n {})",
                    gate.name_any(),
                    gate.namespace().unwrap_or_default()
                ),
                now,
                generation,
            );
        }
    }
}

fn target_text(gate: &DeploymentGate) -> String {
    match (&gate.spec.target.apply, &gate.spec.target.promote) {
        (Some(a), _) => format!(
            "applied{}",
            a.target_namespace
                .as_deref()
                .map(|n| format!(" to {n}"))
                .unwrap_or_default()
        ),
        (None, Some(p)) => format!("promoted to {}", p.branch),
        (None, None) => "has no target".into(),
    }
}

/// Events on transitions only.
async fn events(
    ctx: &Context,
    gate: &DeploymentGate,
    old: &DeploymentGateStatus,
    new: &DeploymentGateStatus,
    outcome: &Outcome,
) {
    let was_blocked = old
        .condition("ImagesVerified")
        .is_some_and(|c| c.status == "False");
    match outcome {
        Outcome::Blocked { reason } => {
            let again = old
                .condition("Ready")
                .is_some_and(|c| c.status == "False" && c.reason == *reason)
                && old.last_attempted_revision == new.last_attempted_revision;
            if !again {
                let msg = new
                    .condition("Ready")
                    .map(|c| c.message.clone())
                    .unwrap_or_default();
                publish(ctx, gate, EventType::Warning, "Blocked", "Verify", msg).await;
            }
        }
        Outcome::Applied { revision, pruned } => {
            if was_blocked {
                publish(
                    ctx,
                    gate,
                    EventType::Normal,
                    "Unblocked",
                    "Verify",
                    format!("{revision}: every image passes"),
                )
                .await;
            }
            publish(
                ctx,
                gate,
                EventType::Normal,
                "Applied",
                "Apply",
                format!("applied {revision}; pruned {pruned} objects"),
            )
            .await;
        }
        Outcome::Promoted { commit, new: true } => {
            if was_blocked {
                publish(
                    ctx,
                    gate,
                    EventType::Normal,
                    "Unblocked",
                    "Verify",
                    "every image passes".into(),
                )
                .await;
            }
            publish(
                ctx,
                gate,
                EventType::Normal,
                "Promoted",
                "Promote",
                format!(
                    "{} promoted as {commit}",
                    new.last_verified_revision.clone().unwrap_or_default()
                ),
            )
            .await;
        }
        _ => {}
    }
    let approved_now = new
        .condition("AwaitingApproval")
        .is_some_and(|c| c.status == "False" && c.reason == "Approved");
    let approved_before = old
        .condition("AwaitingApproval")
        .is_some_and(|c| c.status == "False" && c.reason == "Approved");
    if approved_now && !approved_before {
        publish(
            ctx,
            gate,
            EventType::Normal,
            "Approved",
            "Approve",
            format!(
                "revision {} approved",
                new.last_verified_revision.clone().unwrap_or_default()
            ),
        )
        .await;
    }
}

/// Secret data as UTF-8 strings.
async fn secret(
    ctx: &Context,
    ns: &str,
    name: &str,
) -> Result<BTreeMap<String, Vec<u8>>, kube::Error> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let s = api.get(name).await?;
    Ok(s.data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}

/// Writes a credential file into the gate's private directory (0600).
fn private_file(dir: &std::path::Path, name: &str, data: &[u8]) -> std::io::Result<PathBuf> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let path = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(data)?;
    Ok(path)
}

/// Git credentials from the gate's Secret, written to private files the Git layer reads.
async fn git_auth(
    ctx: &Context,
    gate: &DeploymentGate,
    secret_name: Option<&str>,
    purpose: &str,
) -> Result<GitAuth, Outcome> {
    let Some(name) = secret_name else {
        return Ok(GitAuth::None);
    };
    let ns = gate.namespace().unwrap_or_default();
    let data = secret(ctx, &ns, name).await.map_err(|e| {
        failed(
            "SecretNotFound",
            format!("Secret {ns}/{name} ({purpose}): {e}"),
        )
    })?;
    let dir = ctx
        .options
        .state_dir
        .join("auth")
        .join(&ns)
        .join(gate.name_any())
        .join(purpose);
    let write = |file: &str, bytes: &[u8]| {
        private_file(&dir, file, bytes).map_err(|e| {
            failed(
                "GitFetchFailed",
                format!("writing credentials of {ns}/{name}: {e}"),
            )
        })
    };
    if let Some(token) = data.get("token").or_else(|| data.get("password")) {
        let username = data
            .get("username")
            .and_then(|u| String::from_utf8(u.clone()).ok())
            .unwrap_or_else(|| "x-access-token".into());
        return Ok(GitAuth::Token {
            env: None,
            file: Some(write("token", token)?),
            username,
        });
    }
    if let Some(identity) = data.get("identity") {
        let known = data.get("known_hosts").ok_or_else(|| {
            failed(
                "SecretInvalid",
                format!(
                    "Secret {ns}/{name} has an SSH `identity` but no `known_hosts` (host keys are never accepted blindly)"
                ),
            )
        })?;
        return Ok(GitAuth::Ssh {
            key_file: write("identity", identity)?,
            known_hosts: write("known_hosts", known)?,
            username: None,
        });
    }
    Err(failed(
        "SecretInvalid",
        format!("Secret {ns}/{name} has neither `token` nor `identity`"),
    ))
}

/// The policies a gate must pass: its `policyRefs` (same namespace) and every
/// `ClusterImagePolicy`, compiled with their `k8s://` keys, and a digest of all of it.
async fn policies(ctx: &Context, gate: &DeploymentGate) -> Result<(Vec<Policy>, String), Outcome> {
    use sha2::Digest as _;
    let ns = gate.namespace().unwrap_or_default();
    let mut docs: Vec<(serde_json::Value, ClusterScope, String)> = Vec::new();
    let api: Api<ImagePolicy> = Api::namespaced(ctx.client.clone(), &ns);
    for r in &gate.spec.policy_refs {
        let p = api.get(&r.name).await.map_err(|e| {
            failed(
                "PolicyNotFound",
                format!("ImagePolicy {ns}/{}: {e}", r.name),
            )
        })?;
        docs.push((
            serde_json::json!({
                "apiVersion": "sealgate.dev/v1alpha1",
                "kind": "ImagePolicy",
                "metadata": {"name": p.name_any()},
                "spec": p.spec.0,
            }),
            ClusterScope {
                namespace: Some(ns.clone()),
            },
            format!("ImagePolicy {ns}/{}", r.name),
        ));
    }
    let cluster: Api<ClusterImagePolicy> = Api::all(ctx.client.clone());
    let list = cluster.list(&ListParams::default()).await.map_err(|e| {
        failed(
            "PolicyNotFound",
            format!("listing ClusterImagePolicies: {e}"),
        )
    })?;
    for p in list.items {
        docs.push((
            serde_json::json!({
                "apiVersion": "sealgate.dev/v1alpha1",
                "kind": "ClusterImagePolicy",
                "metadata": {"name": p.name_any()},
                "spec": p.spec.0,
            }),
            ClusterScope { namespace: None },
            format!("ClusterImagePolicy {}", p.name_any()),
        ));
    }
    if docs.is_empty() {
        return Err(failed(
            "PolicyNotFound",
            "no policy applies: set spec.policyRefs or create a ClusterImagePolicy",
        ));
    }
    let mut digest = sha2::Sha256::new();
    let mut out = Vec::new();
    let mut used = Vec::new();
    for (doc, scope, what) in docs {
        let refs: Vec<(String, String)> = key_refs(&doc);
        used.extend(refs.iter().cloned());
        let mut resolved = if refs.is_empty() {
            Resolved::default()
        } else {
            for (sns, name) in &refs {
                if scope.namespace.as_ref().is_some_and(|own| own != sns) {
                    return Err(failed(
                        "PolicyInvalid",
                        format!(
                            "{what}: k8s://{sns}/{name}: an ImagePolicy reads Secrets of its own namespace only"
                        ),
                    ));
                }
            }
            crate::keysource::fetch_secrets(&ctx.client, &refs)
                .await
                .map_err(|e| {
                    failed(
                        "SecretNotFound",
                        format!("{what}: {}", crate::error::chain(&e)),
                    )
                })?
        };
        resolved.cluster = Some(scope);
        if let Some(root) = &ctx.options.trusted_root {
            resolved = resolved.with_trusted_root(root.clone());
        }
        let file = PathBuf::from(&what);
        let p = crate::policy::compile_with(
            doc,
            &file,
            std::path::Path::new("/nonexistent"),
            &resolved,
        )
        .map_err(|e| failed("PolicyInvalid", crate::error::chain(&e)))?;
        digest.update(p.sha256.as_bytes());
        for r in &p.rules {
            for a in r.signatures.iter().flat_map(|s| s.attestors.iter()) {
                if let Some(k) = a.key() {
                    digest.update(k.spki_der());
                }
            }
        }
        out.push(p);
    }
    ctx.remember(&key_of(gate), |m| m.secrets = used);
    Ok((out, hex::encode(digest.finalize())))
}

/// `k8s://namespace/name` key references of a policy document.
fn key_refs(doc: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for rule in doc
        .pointer("/spec/rules")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
    {
        for a in rule
            .pointer("/signatures/attestors")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(rest) = a
                .pointer("/key/path")
                .and_then(serde_json::Value::as_str)
                .and_then(|p| p.strip_prefix("k8s://"))
                && let Some((ns, name)) = rest.split_once('/')
            {
                out.push((ns.to_owned(), name.to_owned()));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Commit-signature trust from the `verify.secretRef` Secret.
async fn signer_trust(
    ctx: &Context,
    gate: &DeploymentGate,
) -> Result<Option<(SignerTrust, Vec<u8>)>, Outcome> {
    let Some(v) = &gate.spec.source.verify else {
        return Ok(None);
    };
    let ns = gate.namespace().unwrap_or_default();
    let name = &v.secret_ref.name;
    let data = secret(ctx, &ns, name).await.map_err(|e| {
        failed(
            "SecretNotFound",
            format!("Secret {ns}/{name} (commit signers): {e}"),
        )
    })?;
    let invalid = |m: String| failed("SecretInvalid", format!("Secret {ns}/{name}: {m}"));
    let mut material = Vec::new();
    let ssh = match data.get("allowed_signers") {
        None => None,
        Some(b) => {
            material.extend_from_slice(b);
            let text = String::from_utf8(b.clone())
                .map_err(|_| invalid("allowed_signers is not UTF-8".into()))?;
            Some(AllowedSigners::parse(&text).map_err(|e| invalid(crate::error::chain(&e)))?)
        }
    };
    let blocks: Vec<String> = data
        .iter()
        .filter(|(k, _)| k.ends_with(".asc"))
        .filter_map(|(_, v)| {
            material.extend_from_slice(v);
            String::from_utf8(v.clone()).ok()
        })
        .collect();
    let openpgp = if blocks.is_empty() {
        None
    } else {
        Some(OpenPgpKeys::parse_armored(&blocks).map_err(|e| invalid(crate::error::chain(&e)))?)
    };
    if ssh.is_none() && openpgp.is_none() {
        return Err(invalid("neither `allowed_signers` nor `*.asc` keys".into()));
    }
    Ok(Some((SignerTrust { ssh, openpgp }, material)))
}

/// The sub-steps; updates `st` as it goes.
#[allow(
    clippy::too_many_lines,
    reason = "one ordered list of sub-steps, as Flux writes it"
)]
async fn run(
    gate: &Arc<DeploymentGate>,
    ctx: &Arc<Context>,
    st: &mut DeploymentGateStatus,
    now: i64,
    stamp: &str,
) -> Outcome {
    use sha2::Digest as _;
    let generation = gate.metadata.generation;
    let key = key_of(gate);
    let spec = &gate.spec;
    let ns = gate.namespace().unwrap_or_default();
    let busy = ctx.remember(&key, |m| m.busy.clone());
    let timeout = duration(spec.source.timeout.as_deref(), Duration::from_secs(60));
    if spec.target.apply.is_some() == spec.target.promote.is_some() {
        return failed(
            "InvalidSpec",
            "spec.target needs exactly one of `apply` or `promote`",
        );
    }

    // policies and trust material
    let (policies, policy_digest) = match policies(ctx, gate).await {
        Ok(p) => p,
        Err(o) => return o,
    };
    let trust = match signer_trust(ctx, gate).await {
        Ok(t) => t,
        Err(o) => return o,
    };

    // 1. fetch source
    let auth = match git_auth(
        ctx,
        gate,
        spec.source.secret_ref.as_ref().map(|s| s.name.as_str()),
        "source",
    )
    .await
    {
        Ok(a) => a,
        Err(o) => return o,
    };
    let state_dir = ctx.options.state_dir.clone();
    let url = spec.source.url.clone();
    let open = {
        let (state_dir, url, auth) = (state_dir.clone(), url.clone(), auth.clone());
        move || Repo::open(&state_dir, &url, auth.clone(), timeout)
    };
    let git_ref = spec.source.git_ref.clone();
    let o2 = open.clone();
    let fetched = match crate::daemon::blocking(
        &busy,
        "GitFetchFailed",
        timeout + Duration::from_secs(5),
        move || o2()?.fetch(&git_ref),
    )
    .await
    {
        Ok(f) => f,
        Err(o) => return daemon_outcome(o),
    };
    let commit = fetched.commit.to_string();
    st.last_attempted_revision = Some(commit.clone());
    set(
        st,
        "Reconciling",
        true,
        "Progressing",
        format!("reconciling {commit}"),
        stamp,
        generation,
    );

    // the inputs of verification: unchanged and passed within the TTL → nothing to do
    let mut inputs = sha2::Sha256::new();
    inputs.update(commit.as_bytes());
    inputs.update(generation.unwrap_or_default().to_be_bytes());
    inputs.update(policy_digest.as_bytes());
    if let Some((_, material)) = &trust {
        inputs.update(material);
    }
    let inputs = hex::encode(inputs.finalize());
    let passed_recently = ctx.remember(&key, |m| {
        m.last_pass
            .as_ref()
            .is_some_and(|(i, at)| *i == inputs && at.elapsed() < ctx.options.cache_ttl)
    });
    let done = match (&spec.target.apply, &spec.target.promote) {
        (Some(_), _) => st.last_applied_revision.as_deref() == Some(&commit),
        _ => {
            st.condition("Promoted").is_some_and(|c| c.status == "True")
                && st.last_verified_revision.as_deref() == Some(&commit)
        }
    };
    if passed_recently && done && st.verified_inputs.as_deref() == Some(&inputs) {
        return Outcome::UpToDate;
    }

    // 2. verify source
    match &trust {
        Some((trust, _)) => {
            let o2 = open.clone();
            let oid = fetched.commit;
            let read = crate::daemon::blocking(
                &busy,
                "GitReadFailed",
                Duration::from_secs(600),
                move || {
                    let repo = o2()?;
                    Ok((repo.commit_signature(oid), repo.commit_time(oid)))
                },
            );
            let (sig, time) = match read.await {
                Ok(v) => v,
                Err(o) => return daemon_outcome(o),
            };
            let check = match &sig {
                None => SignatureCheck::NotSigned,
                Some((signature, data)) => {
                    signature::verify(trust, signature, data, time.unwrap_or(now))
                }
            };
            let (ok, reason, message) = crate::daemon::commit_check(&commit, check);
            set(st, "SourceVerified", ok, reason, message, stamp, generation);
            if !ok {
                set(
                    st,
                    "ImagesVerified",
                    false,
                    "SourceNotVerified",
                    "not checked",
                    stamp,
                    generation,
                );
                return Outcome::Blocked {
                    reason: reason.into(),
                };
            }
        }
        None => set(
            st,
            "SourceVerified",
            true,
            "NotRequired",
            "commit signatures are not required (spec.source.verify)",
            stamp,
            generation,
        ),
    }

    // 3. extract
    let o2 = open.clone();
    let oid = fetched.commit;
    let sub = spec.source.path.clone();
    let checked = match crate::daemon::blocking(
        &busy,
        "GitReadFailed",
        Duration::from_secs(600),
        move || o2()?.checkout(oid, &sub),
    )
    .await
    {
        Ok(c) => c,
        Err(o) => return daemon_outcome(o),
    };
    let mut extra = Vec::new();
    for p in &policies {
        extra.extend(p.extra_image_paths.iter().cloned());
    }
    let root = checked.root().to_path_buf();
    let snapshot = manifests::load_paths(
        std::slice::from_ref(&root),
        &LoadOptions {
            extra_image_paths: extra,
            ..LoadOptions::default()
        },
    );

    // 4. verify images, 5. decide
    let wanted = gate::plan(&snapshot, &policies, true);
    let gather = GatherOptions {
        concurrency: ctx.options.registry_concurrency,
        max_attestation_bytes: ctx.options.max_sbom_size,
    };
    let enough = crate::policy::eval::signatures_enough(&policies, now);
    let evidence = verify::gather_until(
        &ctx.registry,
        &wanted,
        &gather,
        Some(&ctx.cache),
        Some(&enough),
    )
    .await;
    ctx.report_cache();
    let report = gate::decide(&snapshot, &policies, &evidence, now);
    record_images(st, &report, &root);
    ctx.gauges(&key, &report);
    if report.decision == Decision::Blocked {
        let reason = crate::daemon::first_reason(&report);
        let msg = format!(
            "{} of {} images blocked, {} manifest problems",
            st.images_blocked,
            st.images_total,
            report.problems.len()
        );
        set(st, "ImagesVerified", false, &reason, msg, stamp, generation);
        st.verified_inputs = None;
        ctx.remember(&key, |m| m.last_pass = None);
        unset(st, "AwaitingApproval");
        return Outcome::Blocked { reason };
    }
    st.last_verified_revision = Some(commit.clone());
    st.verified_inputs = Some(inputs.clone());
    set(
        st,
        "ImagesVerified",
        true,
        "Succeeded",
        format!("all {} images passed", st.images_total),
        stamp,
        generation,
    );

    // 6. await approval
    if spec.approval.required {
        if spec.approved_revision.as_deref() == Some(commit.as_str()) {
            set(
                st,
                "AwaitingApproval",
                false,
                "Approved",
                format!("{commit} is approved (spec.approvedRevision)"),
                stamp,
                generation,
            );
        } else {
            set(
                st,
                "AwaitingApproval",
                true,
                "AwaitingApproval",
                format!(
                    "{commit} passed; approve it with: sealgate approve {} -n {ns}{}",
                    gate.name_any(),
                    spec.approved_revision
                        .as_deref()
                        .map(|r| format!(" (approved: {r}, another revision)"))
                        .unwrap_or_default()
                ),
                stamp,
                generation,
            );
            return Outcome::AwaitingApproval;
        }
    } else {
        unset(st, "AwaitingApproval");
    }

    // 7. apply or promote (pinned to the verified digests)
    let pinned = match manifests::pin::apply(&gate::pin_plan(&report)) {
        Ok(p) => p,
        Err(e) => return failed("PinFailed", crate::error::chain(&e)),
    };
    let mut pinned_text: BTreeMap<PathBuf, String> =
        pinned.into_iter().map(|p| (p.path, p.text)).collect();
    let mut files: BTreeMap<String, (Vec<u8>, i32)> = BTreeMap::new();
    for (rel, mode) in &checked.files {
        let path = root.join(rel);
        let data = match pinned_text.remove(&path) {
            Some(t) => t.into_bytes(),
            None => match std::fs::read(&path) {
                Ok(d) => d,
                Err(e) => return failed("GitReadFailed", format!("{rel}: {e}")),
            },
        };
        files.insert(rel.clone(), (data, *mode));
    }
    drop(checked);
    let outcome = match (&spec.target.apply, &spec.target.promote) {
        (Some(a), _) => {
            let texts: Vec<(String, String)> = files
                .iter()
                .filter(|(rel, _)| {
                    rel.ends_with(".yaml") || rel.ends_with(".yml") || rel.ends_with(".json")
                })
                .filter_map(|(rel, (data, _))| {
                    String::from_utf8(data.clone())
                        .ok()
                        .map(|t| (rel.clone(), t))
                })
                .collect();
            let target_ns = a.target_namespace.clone().unwrap_or_else(|| ns.clone());
            let objects = match apply::objects(&texts, &target_ns) {
                Ok(o) => o,
                Err(e) => return failed("ApplyFailed", e.to_string()),
            };
            let client = match apply_client(gate, ctx) {
                Ok(c) => c,
                Err(e) => return failed("ApplyFailed", e.to_string()),
            };
            let inventory = match apply::apply(&client, &objects, a.force).await {
                Ok(i) => i,
                Err(e) => {
                    let reason = match e.status() {
                        Some(409) => "ApplyConflict",
                        Some(403) => "ApplyForbidden",
                        _ => "ApplyFailed",
                    };
                    set(
                        st,
                        "Applied",
                        false,
                        reason,
                        e.to_string(),
                        stamp,
                        generation,
                    );
                    return failed(reason, e.to_string());
                }
            };
            let old = st.inventory.clone().unwrap_or_default();
            let pruned = if a.prune {
                match apply::prune(&client, &old, &inventory).await {
                    Ok(d) => d.len(),
                    Err(e) => {
                        set(
                            st,
                            "Applied",
                            false,
                            "PruneFailed",
                            e.to_string(),
                            stamp,
                            generation,
                        );
                        return failed("PruneFailed", e.to_string());
                    }
                }
            } else {
                0
            };
            let count = inventory.entries.len();
            st.inventory = Some(inventory);
            st.last_applied_revision = Some(commit.clone());
            set(
                st,
                "Applied",
                true,
                "Applied",
                format!("{commit}: {count} objects applied, {pruned} pruned"),
                stamp,
                generation,
            );
            Outcome::Applied {
                revision: commit.clone(),
                pruned,
            }
        }
        (None, Some(p)) => {
            let auth = match &p.secret_ref {
                Some(s) => match git_auth(ctx, gate, Some(&s.name), "target").await {
                    Ok(a) => a,
                    Err(o) => return o,
                },
                None => auth.clone(),
            };
            let promotion = Promotion {
                branch: p.branch.clone(),
                path: p.path.clone(),
                files,
                source_commit: commit.clone(),
                source_ref: spec.source.git_ref.clone(),
                source_url: spec.source.url.clone(),
                policy_digest: format!("sha256:{policy_digest}"),
                author_name: p.author_name.clone().unwrap_or_else(|| "sealgate".into()),
                author_email: p
                    .author_email
                    .clone()
                    .unwrap_or_else(|| "sealgate@localhost".into()),
                time: now,
            };
            let target_url = p.url.clone().unwrap_or_else(|| spec.source.url.clone());
            let result = crate::daemon::blocking(
                &busy,
                "PromotionFailed",
                (timeout + Duration::from_secs(5)) * 4,
                move || {
                    promote::promote(
                        &Repo::open(&state_dir, &target_url, auth, timeout)?,
                        &promotion,
                    )
                },
            )
            .await;
            match result {
                Ok(PromoteOutcome::Promoted { commit: c }) => {
                    st.last_promotion_commit = Some(c.clone());
                    set(
                        st,
                        "Promoted",
                        true,
                        "Promoted",
                        format!("{commit} is on {} as {c}", p.branch),
                        stamp,
                        generation,
                    );
                    Outcome::Promoted {
                        commit: c,
                        new: true,
                    }
                }
                Ok(PromoteOutcome::AlreadyPromoted { commit: c }) => {
                    st.last_promotion_commit = Some(c.clone());
                    set(
                        st,
                        "Promoted",
                        true,
                        "AlreadyPromoted",
                        format!("{commit} is on {} as {c}", p.branch),
                        stamp,
                        generation,
                    );
                    Outcome::Promoted {
                        commit: c,
                        new: false,
                    }
                }
                Err(o) => {
                    let o = daemon_outcome(o);
                    if let Outcome::Failed { reason, message } = &o {
                        set(
                            st,
                            "Promoted",
                            false,
                            reason,
                            message.clone(),
                            stamp,
                            generation,
                        );
                    }
                    return o;
                }
            }
        }
        (None, None) => return failed("InvalidSpec", "no target"),
    };
    ctx.remember(&key, |m| {
        m.last_pass = Some((inputs, std::time::Instant::now()))
    });
    outcome
}

fn daemon_outcome(o: crate::daemon::Outcome) -> Outcome {
    match o {
        crate::daemon::Outcome::Failed { reason, message } => Outcome::Failed { reason, message },
        other => failed("Internal", format!("{other:?}")),
    }
}

fn record_images(st: &mut DeploymentGateStatus, report: &Report, root: &std::path::Path) {
    st.images_total = report.images.len();
    st.images_blocked = report.images.iter().filter(|i| i.blocking).count();
    st.images = crate::daemon::image_statuses(report);
    st.problems = crate::daemon::problem_lines(report, root);
}

// ---------------------------------------------------------------------------------------
// Which gates a change of another object requeues (the controller's `watches` mappers).

/// Gates of the policy's namespace that reference it in `policyRefs`.
pub fn gates_for_policy(
    gates: &[Arc<DeploymentGate>],
    policy: &ImagePolicy,
) -> Vec<ObjectRef<DeploymentGate>> {
    let ns = policy.namespace();
    let name = policy.name_any();
    gates
        .iter()
        .filter(|g| g.namespace() == ns && g.spec.policy_refs.iter().any(|r| r.name == name))
        .map(|g| ObjectRef::from_obj(g.as_ref()))
        .collect()
}

/// Every gate (a `ClusterImagePolicy` applies to all of them).
pub fn all_gates(gates: &[Arc<DeploymentGate>]) -> Vec<ObjectRef<DeploymentGate>> {
    gates
        .iter()
        .map(|g| ObjectRef::from_obj(g.as_ref()))
        .collect()
}

/// Gates that name the Secret `ns/name` (source credentials, commit signers, deploy
/// credentials) or whose policies read it for keys at their last reconcile.
pub fn gates_for_secret(
    gates: &[Arc<DeploymentGate>],
    ctx: &Context,
    ns: &str,
    name: &str,
) -> Vec<ObjectRef<DeploymentGate>> {
    gates
        .iter()
        .filter(|g| {
            let same_ns = g.namespace().as_deref() == Some(ns);
            let s = &g.spec;
            let direct = same_ns
                && (s.source.secret_ref.as_ref().is_some_and(|r| r.name == name)
                    || s.source
                        .verify
                        .as_ref()
                        .is_some_and(|v| v.secret_ref.name == name)
                    || s.target
                        .promote
                        .as_ref()
                        .and_then(|p| p.secret_ref.as_ref())
                        .is_some_and(|r| r.name == name));
            direct || ctx.uses_secret(g, ns, name)
        })
        .map(|g| ObjectRef::from_obj(g.as_ref()))
        .collect()
}

/// Why an approval was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApproveError {
    #[error("DeploymentGate {namespace}/{name}: {source}")]
    Api {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("DeploymentGate {0} has no verified revision yet: nothing to approve")]
    NothingVerified(String),
    #[error(
        "DeploymentGate {gate}: only the verified revision {verified} can be approved, not {asked}"
    )]
    NotVerified {
        gate: String,
        verified: String,
        asked: String,
    },
}

/// `sealgate approve GATE [--revision SHA] -n NS`: sets `spec.approvedRevision` to the
/// gate's currently verified revision (RBAC on `patch deploymentgates` decides who may).
/// Returns the approved revision.
///
/// # Errors
/// The gate cannot be read or patched, nothing is verified, or `revision` is not the
/// verified revision.
pub async fn approve(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    revision: Option<&str>,
) -> Result<String, ApproveError> {
    let api: Api<DeploymentGate> = Api::namespaced(client.clone(), namespace);
    let api_err = |source| ApproveError::Api {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        source,
    };
    let gate = api.get(name).await.map_err(api_err)?;
    let verified = gate
        .status
        .as_ref()
        .and_then(|s| s.last_verified_revision.clone())
        .ok_or_else(|| ApproveError::NothingVerified(format!("{namespace}/{name}")))?;
    if let Some(asked) = revision
        && asked != verified
    {
        return Err(ApproveError::NotVerified {
            gate: format!("{namespace}/{name}"),
            verified,
            asked: asked.to_owned(),
        });
    }
    let patch = serde_json::json!({"spec": {"approvedRevision": verified}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api_err)?;
    Ok(verified)
}
