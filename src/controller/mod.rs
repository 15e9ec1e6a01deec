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

pub mod crd;

/// Server-side apply lives with the other targets.
pub use crate::edge::target::apply;

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

use crate::base::verdict::Decision;
use crate::crypto::git_signature::{AllowedSigners, OpenPgpKeys, SignerTrust};
use crate::decision::Report;
use crate::edge::kube::PolicyResourceError;
use crate::edge::registry::AnyRegistry;
use crate::edge::source::git::{GitAuth, Repo};
use crate::edge::verify::{Cache, GatherOptions};
use crate::policy::Policy;
use crate::reconcile::{
    self, Approval, ConditionType, Driver, Files, GateSpec, Outcome, PromoteSpec, Reason,
    RepoOpener, SourceSpec, TargetSpec,
};
use crate::serve::metrics::{Metrics, ReconcileResult};
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
    /// Where gates with `spec.summary.attachToImages` write (none: refused).
    pub store: Option<Arc<crate::edge::registry::store::Store>>,
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
            store: None,
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
    /// Shared with an in-process webhook (`sealgate controller --webhook`).
    pub registry: Arc<AnyRegistry>,
    /// Shared with an in-process webhook: what the gate verified is answered from here.
    pub cache: Arc<Cache>,
    pub recorder: Recorder,
    pub metrics: Option<Arc<Metrics>>,
    pub options: Options,
    memory: std::sync::Mutex<HashMap<String, Memory>>,
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
    /// What the release manager's page shows beside the status.
    journal: Arc<std::sync::Mutex<crate::reconcile::journal::Journal>>,
    /// The status of the last reconcile and whether the gate requires approvals (the page).
    shown: Option<(crate::reconcile::GateStatus, bool)>,
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
            cache: Arc::new(Cache::new(options.cache_ttl, options.negative_cache_ttl)),
            client,
            impersonate,
            registry: Arc::new(registry),
            recorder,
            metrics,
            options,
            memory: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Counts the cache lookups made since the last report in
    /// `sealgate_verification_cache_total` (once each, whichever gate made them).
    fn report_cache(&self) {
        if let Some(m) = &self.metrics {
            let (hits, misses) = self.cache.stats();
            m.cache_totals(hits, misses);
        }
    }

    /// Updates the image-verdict and blocked-gate gauges with this gate's latest report
    /// (the gauges sum over every gate; labels never name gates or images).
    fn gauges(&self, key: &str, report: &Report) {
        let Some(metrics) = &self.metrics else {
            return;
        };
        let counts = reconcile::image_verdict_counts(report);
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

    /// Every gate this process reconciled, as the release manager's page shows it
    /// (`namespace/name`; the approve command patches `spec.approvedRevision`).
    pub fn views(&self) -> Vec<crate::serve::page::GateView> {
        let m = self
            .memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        m.iter()
            .filter_map(|(key, mem)| {
                let (status, approval) = mem.shown.clone()?;
                let (ns, name) = key.split_once('/').unwrap_or(("default", key));
                let (ns, name) = (ns.to_owned(), name.to_owned());
                let approve: Option<crate::serve::page::model::ApproveCommand> =
                    approval.then(|| {
                        Arc::new(move |rev: &str| {
                            format!("sealgate approve {name} -n {ns} --revision {rev}")
                        }) as crate::serve::page::model::ApproveCommand
                    });
                Some(crate::serve::page::GateView {
                    name: key.clone(),
                    status,
                    journal: mem
                        .journal
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .clone(),
                    approve,
                })
            })
            .collect()
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
    #[error("a DeploymentGate is namespaced")]
    NotNamespaced,
    #[error("pruning: {0}")]
    Prune(#[source] apply::ApplyError),
}

impl Error {
    /// A short, bounded label of the error (for logs and metrics; kube-rs controller-rs).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Kube(_) => "kube",
            Self::Finalizer(_) => "finalizer",
            Self::NotNamespaced => "not_namespaced",
            Self::Prune(_) => "prune",
        }
    }
}

fn failed(reason: Reason, message: impl Into<String>) -> Outcome {
    Outcome::failed(&reason, message)
}

fn duration(text: Option<&str>, default: Duration) -> Duration {
    text.and_then(|t| crate::base::time::parse_duration(t).ok())
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
    let ns = gate.namespace().ok_or(Error::NotNamespaced)?;
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
        ctx.remember_all(|m| m.remove(&key_of(&gate)));
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
            .map_err(Error::Prune)?;
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
    let now = crate::base::time::now();
    let old = gate.status.clone().unwrap_or_default();
    let mut st = old.clone();
    st.observed_generation = gate.metadata.generation;
    let outcome = run(&gate, &ctx, &mut st, now).await;
    ctx.remember(&key, |m| {
        m.shown = Some((st.clone(), gate.spec.approval.required));
    });

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

    let result = ReconcileResult::of(&outcome);
    if let Some(m) = &ctx.metrics {
        m.reconcile(result, started.elapsed().as_secs_f64());
        if matches!(
            result,
            ReconcileResult::Applied | ReconcileResult::Promoted | ReconcileResult::Unchanged
        ) {
            m.set_last_success(now);
        }
        if let Outcome::Promoted { .. } = outcome {
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
/// Events of image update scans, on transitions only: `ImageUpdated` when a new update
/// commit was pushed, `ImageUpdateRejected` for a newer tag (or digest) refused for the
/// first time.
async fn image_update_events(
    ctx: &Context,
    gate: &DeploymentGate,
    old: &DeploymentGateStatus,
    new: &DeploymentGateStatus,
) {
    if new.last_image_update_commit.is_some()
        && new.last_image_update_commit != old.last_image_update_commit
    {
        let moved: Vec<String> = new
            .image_updates
            .iter()
            .filter(|p| {
                old.image_updates
                    .iter()
                    .find(|o| o.name == p.name)
                    .is_none_or(|o| o.current != p.current)
            })
            .map(|p| format!("{} {}", p.name, p.current.as_deref().unwrap_or("-")))
            .collect();
        let commit = new.last_image_update_commit.clone().unwrap_or_default();
        publish(
            ctx,
            gate,
            EventType::Normal,
            "ImageUpdated",
            "Update",
            format!("{commit}: {}", moved.join(", ")),
        )
        .await;
    }
    for p in &new.image_updates {
        let before = old.image_updates.iter().find(|o| o.name == p.name);
        for r in &p.rejected {
            let seen = before.is_some_and(|o| {
                o.rejected
                    .iter()
                    .any(|x| x.tag == r.tag && x.digest == r.digest && x.reason == r.reason)
            });
            if !seen {
                publish(
                    ctx,
                    gate,
                    EventType::Warning,
                    "ImageUpdateRejected",
                    "Update",
                    format!("{} {}: {}: {}", p.name, r.tag, r.reason, r.message),
                )
                .await;
            }
        }
    }
}

async fn events(
    ctx: &Context,
    gate: &DeploymentGate,
    old: &DeploymentGateStatus,
    new: &DeploymentGateStatus,
    outcome: &Outcome,
) {
    image_update_events(ctx, gate, old, new).await;
    let was_blocked = old
        .get(ConditionType::ImagesVerified)
        .is_some_and(|c| c.status == "False");
    match outcome {
        Outcome::Blocked { reason } => {
            let again = old
                .get(ConditionType::Ready)
                .is_some_and(|c| c.status == "False" && c.reason == *reason)
                && old.last_attempted_revision == new.last_attempted_revision;
            if !again {
                let msg = new
                    .get(ConditionType::Ready)
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
        Outcome::Promoted { commit } => {
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
        .get(ConditionType::AwaitingApproval)
        .is_some_and(|c| c.status == "False" && c.reason == Reason::Approved.as_str());
    let approved_before = old
        .get(ConditionType::AwaitingApproval)
        .is_some_and(|c| c.status == "False" && c.reason == Reason::Approved.as_str());
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
            Reason::SecretNotFound,
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
                Reason::GitFetchFailed,
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
            failed(Reason::SecretInvalid,
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
        Reason::SecretInvalid,
        format!("Secret {ns}/{name} has neither `token` nor `identity`"),
    ))
}

/// The policies a gate must pass: its `policyRefs` (same namespace) and every
/// `ClusterImagePolicy`, compiled with their `k8s://` keys.
async fn policies(ctx: &Context, gate: &DeploymentGate) -> Result<Vec<Policy>, Outcome> {
    let ns = gate.namespace().unwrap_or_default();
    let mut resources: Vec<(Option<String>, String, crate::policy::ImagePolicySpec)> = Vec::new();
    let api: Api<ImagePolicy> = Api::namespaced(ctx.client.clone(), &ns);
    for r in &gate.spec.policy_refs {
        let p = api.get(&r.name).await.map_err(|e| {
            failed(
                Reason::PolicyNotFound,
                format!("ImagePolicy {ns}/{}: {e}", r.name),
            )
        })?;
        resources.push((Some(ns.clone()), p.name_any(), p.spec.0));
    }
    let cluster: Api<ClusterImagePolicy> = Api::all(ctx.client.clone());
    let list = cluster.list(&ListParams::default()).await.map_err(|e| {
        failed(
            Reason::PolicyNotFound,
            format!("listing ClusterImagePolicies: {e}"),
        )
    })?;
    for p in list.items {
        resources.push((None, p.name_any(), p.spec.0));
    }
    if resources.is_empty() {
        return Err(failed(
            Reason::PolicyNotFound,
            "no policy applies: set spec.policyRefs or create a ClusterImagePolicy",
        ));
    }
    let mut out = Vec::new();
    let mut used = Vec::new();
    for (namespace, name, spec) in resources {
        let (p, refs) = crate::edge::kube::compile_policy_resource(
            &ctx.client,
            namespace.as_deref(),
            &name,
            &spec,
            ctx.options.trusted_root.clone(),
        )
        .await
        .map_err(|e| {
            let reason = match e {
                PolicyResourceError::Secret { .. } => Reason::SecretNotFound,
                PolicyResourceError::OtherNamespace { .. }
                | PolicyResourceError::Invalid { .. } => Reason::PolicyInvalid,
            };
            failed(reason, e.to_string())
        })?;
        used.extend(refs);
        out.push(p);
    }
    ctx.remember(&key_of(gate), |m| m.secrets = used);
    Ok(out)
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
            Reason::SecretNotFound,
            format!("Secret {ns}/{name} (commit signers): {e}"),
        )
    })?;
    let invalid = |m: String| failed(Reason::SecretInvalid, format!("Secret {ns}/{name}: {m}"));
    let mut material = Vec::new();
    let ssh = match data.get("allowed_signers") {
        None => None,
        Some(b) => {
            material.extend_from_slice(b);
            let text = String::from_utf8(b.clone())
                .map_err(|_| invalid("allowed_signers is not UTF-8".into()))?;
            Some(AllowedSigners::parse(&text).map_err(|e| invalid(crate::base::error::chain(&e)))?)
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
        Some(
            OpenPgpKeys::parse_armored(&blocks)
                .map_err(|e| invalid(crate::base::error::chain(&e)))?,
        )
    };
    if ssh.is_none() && openpgp.is_none() {
        return Err(invalid("neither `allowed_signers` nor `*.asc` keys".into()));
    }
    Ok(Some((SignerTrust { ssh, openpgp }, material)))
}

/// `spec.summary`: the signing key from the gate's Secret (decrypted with its
/// `cosign.password`, empty when absent), the verifier id, where images are written.
async fn summary_spec(
    ctx: &Context,
    gate: &DeploymentGate,
) -> Result<Option<reconcile::SummarySpec>, Outcome> {
    let Some(s) = &gate.spec.summary else {
        return Ok(None);
    };
    let ns = gate.namespace().unwrap_or_default();
    let name = &s.key.secret_ref.name;
    let data = secret(ctx, &ns, name).await.map_err(|e| {
        failed(
            Reason::SecretNotFound,
            format!("Secret {ns}/{name} (summary key): {e}"),
        )
    })?;
    let invalid = |m: String| {
        failed(
            Reason::SecretInvalid,
            format!("Secret {ns}/{name} (summary key): {m}"),
        )
    };
    let pem = data
        .get("cosign.key")
        .and_then(|b| String::from_utf8(b.clone()).ok())
        .ok_or_else(|| invalid("no UTF-8 `cosign.key`".into()))?;
    let password = data.get("cosign.password").cloned().unwrap_or_default();
    let key = crate::crypto::PrivateKey::from_encrypted_pem(&pem, &password)
        .map_err(|e| invalid(crate::base::error::chain(&e)))?;
    let attach = if s.attach_to_images {
        Some(ctx.options.store.clone().ok_or_else(|| {
            failed(
                Reason::InvalidSpec,
                "spec.summary.attachToImages: this controller has no registry writer",
            )
        })?)
    } else {
        None
    };
    let verifier_id = match &s.verifier_id {
        Some(v) if !v.trim().is_empty() => v.trim().to_owned(),
        Some(_) => {
            return Err(failed(
                Reason::InvalidSpec,
                "spec.summary.verifierId must not be empty",
            ));
        }
        None => reconcile::default_verifier_id(&format!("{ns}/{}", gate.name_any())),
    };
    Ok(Some(reconcile::SummarySpec {
        key: Arc::new(crate::edge::kms::Signer::Local(Box::new(key))),
        verifier_id,
        attach,
    }))
}

/// Reads what the gate needs (policies, signer trust, source credentials), normalizes it
/// into a [`GateSpec`] and runs the reconcile core with this gate's [`GateDriver`].
async fn run(
    gate: &Arc<DeploymentGate>,
    ctx: &Arc<Context>,
    st: &mut DeploymentGateStatus,
    now: i64,
) -> Outcome {
    let stamp = crate::base::time::format_rfc3339(now);
    let early = |st: &mut DeploymentGateStatus, o: Outcome| {
        reconcile::finish(st, &o, &target_text(gate), &|_: &str| String::new(), &stamp);
        o
    };
    let spec = &gate.spec;
    if spec.target.apply.is_some() == spec.target.promote.is_some() {
        return early(
            st,
            failed(
                Reason::InvalidSpec,
                "spec.target needs exactly one of `apply` or `promote`",
            ),
        );
    }
    // policies and trust material
    let policies = match policies(ctx, gate).await {
        Ok(p) => p,
        Err(o) => return early(st, o),
    };
    let trust = match signer_trust(ctx, gate).await {
        Ok(t) => t,
        Err(o) => return early(st, o),
    };
    let auth = match git_auth(
        ctx,
        gate,
        spec.source.secret_ref.as_ref().map(|s| s.name.as_str()),
        "source",
    )
    .await
    {
        Ok(a) => a,
        Err(o) => return early(st, o),
    };
    let summary = match summary_spec(ctx, gate).await {
        Ok(s) => s,
        Err(o) => return early(st, o),
    };
    let image_updates = match &spec.image_updates {
        None => None,
        Some(u) => match u.compile("spec.imageUpdates", |d| {
            crate::base::time::parse_duration(d)
                .ok()
                .map(Duration::from_secs)
        }) {
            Ok(c) => Some(Arc::new(c)),
            Err(e) => return early(st, failed(Reason::InvalidSpec, e.to_string())),
        },
    };
    let timeout = duration(spec.source.timeout.as_deref(), Duration::from_secs(60));
    let open: RepoOpener = {
        let (dir, url, auth) = (
            ctx.options.state_dir.clone(),
            spec.source.url.clone(),
            auth.clone(),
        );
        Arc::new(move || Repo::open(&dir, &url, auth.clone(), timeout))
    };
    let target = match (&spec.target.apply, &spec.target.promote) {
        (Some(_), _) => TargetSpec::Apply {
            description: target_text(gate),
        },
        (None, Some(p)) => TargetSpec::Promote(PromoteSpec {
            url: p.url.clone().unwrap_or_else(|| spec.source.url.clone()),
            branch: p.branch.clone(),
            path: p.path.clone(),
            author_name: p.author_name.clone().unwrap_or_else(|| "sealgate".into()),
            author_email: p
                .author_email
                .clone()
                .unwrap_or_else(|| "sealgate@localhost".into()),
        }),
        (None, None) => unreachable!("checked above"),
    };
    let (trust, material) = match trust {
        Some((t, m)) => (Some(Arc::new(t)), m),
        None => (None, Vec::new()),
    };
    let normalized = GateSpec {
        source: SourceSpec {
            url: spec.source.url.clone(),
            git_ref: spec.source.git_ref.clone(),
            path: spec.source.path.clone(),
            timeout,
            open,
        },
        policy_digest: crate::policy::digest(&policies),
        policies,
        trust,
        trust_material: material,
        approval_required: spec.approval.required,
        target,
        gather: GatherOptions {
            concurrency: ctx.options.registry_concurrency,
            max_attestation_bytes: ctx.options.max_sbom_size,
            tag_ttl: None,
        },
        cache_ttl: ctx.options.cache_ttl,
        trust_field: "spec.source.verify",
        summary,
        image_updates,
    };
    let driver = GateDriver {
        ctx,
        gate,
        key: key_of(gate),
        source_auth: auth,
        timeout,
    };
    reconcile::reconcile(&normalized, &driver, st, now).await
}

/// What is specific to a `DeploymentGate`: approvals in `spec.approvedRevision`, deploy
/// credentials from its Secret, server-side apply with an inventory, per-gate memory in
/// the [`Context`], summed gauges.
struct GateDriver<'a> {
    ctx: &'a Arc<Context>,
    gate: &'a DeploymentGate,
    key: String,
    source_auth: GitAuth,
    timeout: Duration,
}

impl Driver for GateDriver<'_> {
    fn registry(&self) -> &AnyRegistry {
        &self.ctx.registry
    }

    fn journal(&self) -> Option<Arc<std::sync::Mutex<crate::reconcile::journal::Journal>>> {
        Some(self.ctx.remember(&self.key, |m| m.journal.clone()))
    }

    fn on_image_scan(
        &self,
        policies: &[crate::reconcile::status::ImageUpdateStatus],
        scan: &crate::reconcile::updates::Scan,
    ) {
        if let Some(m) = &self.ctx.metrics {
            m.image_scan(policies, scan);
        }
    }

    fn cache(&self) -> &Cache {
        &self.ctx.cache
    }

    fn git_busy(&self) -> Arc<AtomicBool> {
        self.ctx.remember(&self.key, |m| m.busy.clone())
    }

    fn last_pass(&self) -> Option<(String, std::time::Instant)> {
        self.ctx.remember(&self.key, |m| m.last_pass.clone())
    }

    fn remember_pass(&self, pass: Option<String>) {
        self.ctx.remember(&self.key, |m| {
            m.last_pass = pass.map(|p| (p, std::time::Instant::now()));
        });
    }

    async fn approval(&self, _spec: &GateSpec, commit: git2::Oid, _now: i64) -> Approval {
        let commit = commit.to_string();
        let approved = self.gate.spec.approved_revision.as_deref();
        if approved == Some(commit.as_str()) {
            return Approval::Approved(format!("{commit} is approved (spec.approvedRevision)"));
        }
        Approval::Waiting(format!(
            "{commit} passed; approve it with: {}{}",
            self.approve_hint(&commit),
            approved
                .map(|r| format!(" (approved: {r}, another revision)"))
                .unwrap_or_default()
        ))
    }

    fn approve_hint(&self, _revision: &str) -> String {
        format!(
            "sealgate approve {} -n {}",
            self.gate.name_any(),
            self.gate.namespace().unwrap_or_default()
        )
    }

    async fn target_repo(&self, _spec: &GateSpec) -> Result<RepoOpener, Outcome> {
        let Some(p) = &self.gate.spec.target.promote else {
            return Err(failed(Reason::InvalidSpec, "no promote target"));
        };
        let auth = match &p.secret_ref {
            Some(s) => git_auth(self.ctx, self.gate, Some(&s.name), "target").await?,
            None => self.source_auth.clone(),
        };
        let dir = self.ctx.options.state_dir.clone();
        let url = p
            .url
            .clone()
            .unwrap_or_else(|| self.gate.spec.source.url.clone());
        let timeout = self.timeout;
        Ok(Arc::new(move || {
            Repo::open(&dir, &url, auth.clone(), timeout)
        }))
    }

    async fn apply(
        &self,
        _spec: &GateSpec,
        commit: &str,
        files: Files,
        st: &mut DeploymentGateStatus,
        stamp: &str,
    ) -> Outcome {
        let Some(a) = &self.gate.spec.target.apply else {
            return failed(Reason::InvalidSpec, "no apply target");
        };
        let ns = self.gate.namespace().unwrap_or_default();
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
        let target_ns = a.target_namespace.clone().unwrap_or(ns);
        let objects = match apply::objects(&texts, &target_ns) {
            Ok(o) => o,
            Err(e) => return failed(Reason::ApplyFailed, e.to_string()),
        };
        let client = match apply_client(self.gate, self.ctx) {
            Ok(c) => c,
            Err(e) => return failed(Reason::ApplyFailed, e.to_string()),
        };
        let inventory = match apply::apply(&client, &objects, a.force).await {
            Ok(i) => i,
            Err(e) => {
                let reason = match e.status() {
                    Some(409) => Reason::ApplyConflict,
                    Some(403) => Reason::ApplyForbidden,
                    _ => Reason::ApplyFailed,
                };
                st.set(ConditionType::Applied, false, &reason, e.to_string(), stamp);
                return failed(reason, e.to_string());
            }
        };
        let old = st.inventory.clone().unwrap_or_default();
        let pruned = if a.prune {
            match apply::prune(&client, &old, &inventory).await {
                Ok(d) => d.len(),
                Err(e) => {
                    st.set(
                        ConditionType::Applied,
                        false,
                        &Reason::PruneFailed,
                        e.to_string(),
                        stamp,
                    );
                    return failed(Reason::PruneFailed, e.to_string());
                }
            }
        } else {
            0
        };
        let count = inventory.entries.len();
        st.inventory = Some(inventory);
        st.last_applied_revision = Some(commit.to_owned());
        st.set(
            ConditionType::Applied,
            true,
            &Reason::Applied,
            format!("{commit}: {count} objects applied, {pruned} pruned"),
            stamp,
        );
        Outcome::Applied {
            revision: commit.to_owned(),
            pruned,
        }
    }

    fn on_report(&self, report: &Report) {
        self.ctx.report_cache();
        self.ctx.gauges(&self.key, report);
    }
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
                        .is_some_and(|r| r.name == name)
                    || s.summary
                        .as_ref()
                        .is_some_and(|x| x.key.secret_ref.name == name));
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
