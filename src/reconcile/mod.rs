//! The one reconcile core of `sealgate run` (the standalone gate, [`crate::standalone`]) and
//! `sealgate controller` ([`crate::controller`]): the ordered sub-steps, each a function
//! that owns its conditions (Flux's reconciler lists are the model), over one normalized
//! [`GateSpec`] and one [`GateStatus`].
//!
//! | step | function | conditions it owns |
//! | --- | --- | --- |
//! | key manager keys | [`read_keys`] | — (`Stalled` `KeyManagerFailed` through the report) |
//! | image updates (when due) | [`updates::scan`] | `imageUpdates`, `lastImageScanTime`, `lastImageUpdateCommit` |
//! | fetch source | [`fetch_source`] | `Reconciling` (message), `lastAttemptedRevision`, `forcePush` |
//! | skip when unchanged | [`unchanged`] | — (status-as-cache: `verifiedInputs`) |
//! | verify source | [`verify_source`] | `SourceVerified` |
//! | extract | [`extract`] | — |
//! | verify images, decide | [`verify_images`] | `ImagesVerified`, images, problems, decision |
//! | await approval | [`await_approval`] | `AwaitingApproval` |
//! | pin + assemble | [`assemble`] | — |
//! | promote / apply | [`promote`], [`Driver::apply`] | `Promoted` / `Applied` |
//! | report | [`finish`] | `Ready`, `Stalled`, `Reconciling` |
//!
//! What differs between the front ends is behind [`Driver`]: where approvals come from (a
//! signed tag, `spec.approvedRevision`), the deploy repository's credentials, the apply
//! target, where live status goes, and what the driver counts. A new sub-step is added here
//! once and both drivers run it. Scheduling, persistence, HTTP, metrics and kube-runtime
//! wiring stay in the drivers.

pub mod journal;
pub mod status;
pub mod updates;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::base::verdict::{Decision, Verdict};
use crate::crypto::git_signature::{self, SignatureCheck, SignerTrust};
use crate::decision::{self, Report};
use crate::edge::registry::AnyRegistry;
use crate::edge::source::git::{CheckedOut as Checkout, FetchOutcome as Fetched, GitError, Repo};
use crate::edge::target::promote::{self as promotion, PromoteOutcome, Promotion};
use crate::edge::verify::{self, Cache, CheckOptions, GatherOptions};
use crate::manifests::{self, LoadOptions};
use crate::policy::Policy;

pub use status::{Condition, ConditionType, GateStatus, ImageReason, ImageStatus, Reason};

/// Most per-image entries kept in the status (blocked ones first).
pub const MAX_STATUS_IMAGES: usize = 50;
/// Deadline of local Git reads (a checkout of a large revision).
pub const LOCAL_GIT_DEADLINE: Duration = Duration::from_secs(600);

/// Opens a cached repository (the driver's credentials are inside).
pub type RepoOpener = Arc<dyn Fn() -> Result<Repo, GitError> + Send + Sync>;

/// What a reconcile ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The revision was server-side applied.
    Applied { revision: String, pruned: usize },
    /// A new promotion commit was pushed.
    Promoted { commit: String },
    /// The target already carries the revision (nothing written).
    UpToDate,
    /// The revision failed (source signature, an image, a manifest problem).
    Blocked { reason: String },
    /// The revision passed and waits for an approval.
    AwaitingApproval,
    /// Could not reconcile (source/target unreachable, unreadable revision…): retried.
    Failed { reason: String, message: String },
}

impl Outcome {
    /// A `Failed` outcome.
    pub fn failed(reason: &Reason, message: impl Into<String>) -> Self {
        Self::Failed {
            reason: reason.as_str().to_owned(),
            message: message.into(),
        }
    }
}

/// Where the manifests come from.
#[derive(Clone)]
pub struct SourceSpec {
    pub url: String,
    pub git_ref: String,
    /// Sub-directory of the manifests ("" = the whole repository).
    pub path: String,
    /// Deadline of one fetch (the guard adds 5 s).
    pub timeout: Duration,
    pub open: RepoOpener,
}

/// A deploy branch.
#[derive(Debug, Clone)]
pub struct PromoteSpec {
    pub url: String,
    pub branch: String,
    /// Where the files go on the target branch ("" = root).
    pub path: String,
    pub author_name: String,
    pub author_email: String,
}

/// Where a passing revision goes.
#[derive(Debug, Clone)]
pub enum TargetSpec {
    Promote(PromoteSpec),
    /// Server-side apply (the driver's [`Driver::apply`]); the text names the namespace.
    Apply {
        description: String,
    },
}

/// A normalized gate: what the standalone gate reads from its `GateConfig`, and the
/// controller from a `DeploymentGate` with its Secrets and policies.
#[derive(Clone)]
pub struct GateSpec {
    pub source: SourceSpec,
    pub policies: Vec<Policy>,
    /// [`crate::policy::digest`] of `policies`.
    pub policy_digest: String,
    /// Commit-signature trust (none: signatures are not required).
    pub trust: Option<Arc<SignerTrust>>,
    /// The bytes the trust came from (part of the cache key).
    pub trust_material: Vec<u8>,
    pub approval_required: bool,
    pub target: TargetSpec,
    pub gather: GatherOptions,
    /// How long a pass stands without re-verifying.
    pub cache_ttl: Duration,
    /// The field the source trust is configured in (for messages).
    pub trust_field: &'static str,
    /// Signed verification summaries (none: not written).
    pub summary: Option<SummarySpec>,
    /// Verified image automation (none: no scans).
    pub image_updates: Option<Arc<crate::updates::ImageUpdates>>,
}

/// How the gate signs verification summaries (`summary:` of the gate's config).
#[derive(Clone)]
pub struct SummarySpec {
    /// The gate's key: a decrypted key, or a transit key (`hashivault://`).
    pub key: Arc<crate::edge::kms::Signer>,
    /// `predicate.verifier.id`.
    pub verifier_id: String,
    /// `attachToImages`: where the summary is attached to each image (none: not attached).
    pub attach: Option<Arc<crate::edge::registry::store::Store>>,
}

/// The default `verifier.id` of the gate named `name`.
pub fn default_verifier_id(name: &str) -> String {
    format!("https://sealgate.dev/gate/{name}")
}

/// The verification summary of a revision that passed: every image the report resolved
/// (repository + digest), the policies with their digests, the signatures and attestations
/// that counted (by the sha256 of their bytes). The promotion commit is added by whoever
/// knows it (see [`promotion::NoteSigner`]).
pub fn summary_of(
    spec: &GateSpec,
    verifier_id: &str,
    report: &Report,
    commit: &str,
    now: i64,
) -> crate::attest::vsa::Summary {
    use crate::attest::vsa::{InputRef, PolicyRef, Summary};
    let mut images = Vec::new();
    let mut inputs = Vec::new();
    for i in &report.images {
        let (Some(r), Some(d)) = (
            &i.reference,
            i.digest
                .as_deref()
                .and_then(|d| crate::base::reference::Digest::parse(d).ok()),
        ) else {
            continue;
        };
        let at = format!("oci://{}@{d}", r.name());
        let verified = i
            .signatures
            .iter()
            .filter(|s| s.verified)
            .flat_map(|s| s.tried.iter())
            .filter(|t| t.failure.is_none())
            .filter_map(|t| Some((t.origin.as_str(), t.digest.clone()?)));
        let used = i
            .attestations
            .iter()
            .filter(|a| a.used)
            .map(|a| (a.origin.as_str(), a.digest.clone()));
        for (origin, sha256) in verified.chain(used) {
            let input = InputRef {
                uri: format!("{at}#{origin}"),
                sha256,
            };
            if !inputs.contains(&input) {
                inputs.push(input);
            }
        }
        let image = (r.name(), d);
        if !images.contains(&image) {
            images.push(image);
        }
    }
    Summary {
        verifier_id: verifier_id.to_owned(),
        time_verified: now,
        source: (spec.source.url.clone(), commit.to_owned()),
        policy_set_sha256: spec.policy_digest.trim_start_matches("sha256:").to_owned(),
        policies: report
            .policies
            .iter()
            .map(|(name, sha256)| PolicyRef {
                name: name.clone(),
                sha256: sha256.clone(),
            })
            .collect(),
        inputs,
        images,
        promotion: None,
    }
}

impl GateSpec {
    /// The digest of everything a verification depends on: revision, generation, policies,
    /// trust material (the status-as-cache key, `status.verifiedInputs`).
    pub fn inputs_digest(&self, commit: &str, generation: Option<i64>) -> String {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(commit.as_bytes());
        h.update(generation.unwrap_or_default().to_be_bytes());
        h.update(self.policy_digest.as_bytes());
        h.update(&self.trust_material);
        hex::encode(h.finalize())
    }

    /// "promoted to BRANCH" / "applied to NS".
    pub fn target_text(&self) -> String {
        match &self.target {
            TargetSpec::Promote(p) => format!("promoted to {}", p.branch),
            TargetSpec::Apply { description } => description.clone(),
        }
    }

    /// The source's deadline for network work (fetch, push).
    pub fn net_deadline(&self) -> Duration {
        self.source.timeout + Duration::from_secs(5)
    }
}

/// An approval's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// Approved (the message says by whom / how).
    Approved(String),
    /// Not (yet) approved: why, and how to approve.
    Waiting(String),
    /// Could not tell (the approval source is unreachable).
    Failed(Outcome),
}

/// What differs between the standalone gate and the controller.
pub trait Driver: Send + Sync {
    /// The registry client and the evidence cache (shared by the driver's gates).
    fn registry(&self) -> &AnyRegistry;
    fn cache(&self) -> &Cache;
    /// The one-Git-operation guard of this gate (see [`blocking`]).
    fn git_busy(&self) -> Arc<AtomicBool>;
    /// The inputs digest of the last pass and when it was verified (in memory).
    fn last_pass(&self) -> Option<(String, Instant)>;
    fn remember_pass(&self, pass: Option<String>);
    /// Whether `commit` is approved.
    fn approval(
        &self,
        spec: &GateSpec,
        commit: git2::Oid,
        now: i64,
    ) -> impl Future<Output = Approval> + Send;
    /// How a release manager approves `revision` (for the `Ready` message).
    fn approve_hint(&self, revision: &str) -> String;
    /// Opens the deploy repository (its credentials may need a read first).
    fn target_repo(
        &self,
        spec: &GateSpec,
    ) -> impl Future<Output = Result<RepoOpener, Outcome>> + Send;
    /// Server-side applies the pinned `files` of `commit`; owns `Applied`, the inventory
    /// and `lastAppliedRevision`.
    fn apply(
        &self,
        spec: &GateSpec,
        commit: &str,
        files: Files,
        st: &mut GateStatus,
        stamp: &str,
    ) -> impl Future<Output = Outcome> + Send;
    /// Hears every report (metrics); the default ignores it.
    fn on_report(&self, _report: &Report) {}
    /// Hears the status between steps (live `/status`); the default ignores it.
    fn progress(&self, _st: &GateStatus) {}
    /// Where the core keeps the gate's [`journal::Journal`] (the release manager's page);
    /// `None` (the default) keeps none.
    fn journal(&self) -> Option<Arc<std::sync::Mutex<journal::Journal>>> {
        None
    }
    /// Hears every image update scan (metrics); the default ignores it.
    fn on_image_scan(&self, _policies: &[status::ImageUpdateStatus], _scan: &updates::Scan) {}
}

/// Runs `f` on the driver's journal, if it keeps one (a poisoned lock is taken over: the
/// journal holds no invariant a panic could break).
fn with_journal<D: Driver>(driver: &D, f: impl FnOnce(&mut journal::Journal)) {
    if let Some(j) = driver.journal() {
        f(&mut j.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    }
}

/// A revision's files (relative path → bytes, Git file mode), digest-pinned.
pub type Files = BTreeMap<String, (Vec<u8>, i32)>;

/// One reconcile at instant `now` (seconds since the epoch): the sub-steps in order, then
/// the report step. `st` is the status of the previous reconcile, updated in place.
pub async fn reconcile<D: Driver>(
    spec: &GateSpec,
    driver: &D,
    st: &mut GateStatus,
    now: i64,
) -> Outcome {
    let stamp = crate::base::time::format_rfc3339(now);
    st.set(
        ConditionType::Reconciling,
        true,
        &Reason::Progressing,
        "reconciling",
        &stamp,
    );
    driver.progress(st);
    let outcome = steps(spec, driver, st, now, &stamp).await;
    finish(
        st,
        &outcome,
        &spec.target_text(),
        &|rev: &str| driver.approve_hint(rev),
        &stamp,
    );
    with_journal(driver, |j| j.record(now, &outcome, st));
    driver.progress(st);
    outcome
}

async fn steps<D: Driver>(
    spec: &GateSpec,
    driver: &D,
    st: &mut GateStatus,
    now: i64,
    stamp: &str,
) -> Outcome {
    if let Err(o) = read_keys(spec).await {
        return o;
    }
    updates::scan(spec, driver, st, now, stamp).await;
    let fetched = match fetch_source(spec, driver, st, stamp).await {
        Ok(f) => f,
        Err(o) => return o,
    };
    let commit = fetched.commit.to_string();
    let inputs = spec.inputs_digest(&commit, st.observed_generation);
    if unchanged(spec, driver, st, &commit, &inputs) {
        return Outcome::UpToDate;
    }
    if let Err(o) = verify_source(spec, driver, st, fetched.commit, now, stamp).await {
        return o;
    }
    driver.progress(st);
    let (checked, snapshot) = match extract(spec, driver, fetched.commit).await {
        Ok(c) => c,
        Err(o) => return o,
    };
    let report = match verify_images(spec, driver, st, &checked, &snapshot, now, stamp).await {
        Ok(r) => r,
        Err(o) => return o,
    };
    st.verified_inputs = Some(inputs.clone());
    driver.progress(st);
    if let Err(o) = await_approval(spec, driver, st, fetched.commit, now, stamp).await {
        return o;
    }
    let files = match assemble(&report, &checked) {
        Ok(f) => f,
        Err(o) => return o,
    };
    drop(checked);
    let summary = spec
        .summary
        .as_ref()
        .map(|s| (s, summary_of(spec, &s.verifier_id, &report, &commit, now)));
    let outcome = match &spec.target {
        TargetSpec::Promote(p) => {
            let note = summary
                .clone()
                .map(|(s, summary)| note_signer(s, summary, p.url.clone()));
            promote(spec, driver, p, st, &commit, files, note, now, stamp).await
        }
        TargetSpec::Apply { .. } => driver.apply(spec, &commit, files, st, stamp).await,
    };
    let outcome = match (summary, &outcome) {
        (
            Some((s, summary)),
            Outcome::Applied { .. } | Outcome::Promoted { .. } | Outcome::UpToDate,
        ) => match publish_summary(spec, s, summary, st, &commit).await {
            Ok(()) => outcome,
            Err(o) => o,
        },
        _ => outcome,
    };
    if !matches!(outcome, Outcome::Failed { .. }) {
        driver.remember_pass(Some(inputs));
    }
    outcome
}

/// Fetches the watched ref. Records `lastAttemptedRevision`, `forcePush` and the
/// `Reconciling` message.
///
/// # Errors
/// `Failed` (`GitFetchFailed`) when the source cannot be fetched within its deadline.
pub async fn fetch_source<D: Driver>(
    spec: &GateSpec,
    driver: &D,
    st: &mut GateStatus,
    stamp: &str,
) -> Result<Fetched, Outcome> {
    let open = spec.source.open.clone();
    let git_ref = spec.source.git_ref.clone();
    let (fetched, info) = blocking(
        &driver.git_busy(),
        &Reason::GitFetchFailed,
        spec.net_deadline(),
        move || {
            let repo = open()?;
            let fetched = repo.fetch(&git_ref)?;
            let info = repo.commit_info(fetched.commit);
            Ok((fetched, info))
        },
    )
    .await?;
    let commit = fetched.commit.to_string();
    with_journal(driver, |j| {
        j.revision = info.map(|(author, time, message)| {
            journal::RevisionInfo::new(&commit, &author, time, &message)
        });
    });
    st.last_attempted_revision = Some(commit.clone());
    st.force_push = fetched.force_pushed.then(|| {
        format!(
            "{} was force-pushed: {} does not descend from {}",
            spec.source.git_ref,
            commit,
            fetched.previous.map(|p| p.to_string()).unwrap_or_default()
        )
    });
    if fetched.force_pushed {
        tracing::warn!(git_ref = %spec.source.git_ref, %commit, "watched ref was force-pushed");
    }
    st.set(
        ConditionType::Reconciling,
        true,
        &Reason::Progressing,
        format!("reconciling {commit}"),
        stamp,
    );
    Ok(fetched)
}

/// Flux's status-as-cache rule: the same inputs passed within the cache TTL and the target
/// already carries the revision → nothing to verify or write again.
pub fn unchanged<D: Driver>(
    spec: &GateSpec,
    driver: &D,
    st: &GateStatus,
    commit: &str,
    inputs: &str,
) -> bool {
    let passed_recently = driver
        .last_pass()
        .is_some_and(|(i, at)| i == inputs && at.elapsed() < spec.cache_ttl);
    let done = match &spec.target {
        TargetSpec::Apply { .. } => st.last_applied_revision.as_deref() == Some(commit),
        TargetSpec::Promote(_) => {
            st.is_true(ConditionType::Promoted)
                && st.last_verified_revision.as_deref() == Some(commit)
        }
    };
    passed_recently && done && st.verified_inputs.as_deref() == Some(inputs)
}

/// Reads the key manager keys the policies name that are not kept fresh yet
/// ([`crate::edge::kms::activate`]; a no-op once they are). Vault refusing (token, login,
/// missing key) stalls the gate, retried each reconcile; Vault unreachable does not (its
/// images are `KeyUnavailable`).
///
/// # Errors
/// `Failed` (`KeyManagerFailed`) naming the key and Vault's answer.
pub async fn read_keys(spec: &GateSpec) -> Result<(), Outcome> {
    crate::edge::kms::activate(&spec.policies)
        .await
        .map_err(|e| Outcome::failed(&Reason::KeyManagerFailed, e.to_string()))
}

/// Checks the head commit's signature against the gate's signer trust; owns
/// `SourceVerified`. A failure blocks the revision (`ImagesVerified=False`
/// `SourceNotVerified`: images are not checked).
///
/// # Errors
/// `Blocked` with the commit reason; `Failed` (`GitReadFailed`) when the commit cannot be read.
pub async fn verify_source<D: Driver>(
    spec: &GateSpec,
    driver: &D,
    st: &mut GateStatus,
    oid: git2::Oid,
    now: i64,
    stamp: &str,
) -> Result<(), Outcome> {
    let Some(trust) = &spec.trust else {
        st.set(
            ConditionType::SourceVerified,
            true,
            &Reason::NotRequired,
            format!("commit signatures are not required ({})", spec.trust_field),
            stamp,
        );
        return Ok(());
    };
    let open = spec.source.open.clone();
    let (sig, time) = blocking(
        &driver.git_busy(),
        &Reason::GitReadFailed,
        LOCAL_GIT_DEADLINE,
        move || {
            let repo = open()?;
            Ok((repo.commit_signature(oid), repo.commit_time(oid)))
        },
    )
    .await?;
    let commit = oid.to_string();
    let check = match &sig {
        None => SignatureCheck::NotSigned,
        Some((signature, data)) => {
            git_signature::verify(trust, signature, data, time.unwrap_or(now))
        }
    };
    let (ok, reason, message) = commit_check(&commit, check);
    st.set(ConditionType::SourceVerified, ok, &reason, message, stamp);
    if ok {
        return Ok(());
    }
    st.set(
        ConditionType::ImagesVerified,
        false,
        &Reason::SourceNotVerified,
        "not checked",
        stamp,
    );
    blocked(spec, driver, st, &reason, stamp);
    Err(Outcome::Blocked {
        reason: reason.as_str().to_owned(),
    })
}

/// What a blocked revision leaves: the target's condition false, no approval pending, no
/// pass remembered.
fn blocked<D: Driver>(
    spec: &GateSpec,
    driver: &D,
    st: &mut GateStatus,
    reason: &Reason,
    stamp: &str,
) {
    if let TargetSpec::Promote(_) = spec.target {
        st.set(
            ConditionType::Promoted,
            false,
            reason,
            "the revision is blocked: nothing promoted",
            stamp,
        );
    }
    st.unset(ConditionType::AwaitingApproval);
    st.decision = Some(Decision::Blocked.as_str().to_owned());
    st.verified_inputs = None;
    driver.remember_pass(None);
}

/// Checks the revision out (regular files only, never following a symlink out of it) and
/// loads its manifests, with every policy's `extraImagePaths`.
///
/// # Errors
/// `Failed` (`GitReadFailed`).
pub async fn extract<D: Driver>(
    spec: &GateSpec,
    driver: &D,
    oid: git2::Oid,
) -> Result<(Checkout, manifests::Snapshot), Outcome> {
    let open = spec.source.open.clone();
    let sub = spec.source.path.clone();
    let checked = blocking(
        &driver.git_busy(),
        &Reason::GitReadFailed,
        LOCAL_GIT_DEADLINE,
        move || open()?.checkout(oid, &sub),
    )
    .await?;
    let opts = LoadOptions {
        extra_image_paths: spec
            .policies
            .iter()
            .flat_map(|p| p.extra_image_paths.iter().cloned())
            .collect(),
        ..LoadOptions::default()
    };
    let root = checked.root().to_path_buf();
    let snapshot = manifests::load_paths(std::slice::from_ref(&root), &opts);
    Ok((checked, snapshot))
}

/// Verifies every image (the check pipeline, through the driver's cache) and decides; owns
/// `ImagesVerified`, `images`, `problems`, `decision`, `lastVerifiedRevision`.
///
/// # Errors
/// `Blocked` with the first blocking reason.
#[allow(clippy::too_many_arguments, reason = "one step's inputs, named")]
pub async fn verify_images<D: Driver>(
    spec: &GateSpec,
    driver: &D,
    st: &mut GateStatus,
    checked: &Checkout,
    snapshot: &manifests::Snapshot,
    now: i64,
    stamp: &str,
) -> Result<Report, Outcome> {
    let opts = CheckOptions {
        gather: spec.gather,
        resolve_all: true,
    };
    let report = verify::check(
        driver.registry(),
        snapshot,
        &spec.policies,
        &opts,
        Some(driver.cache()),
        now,
        None,
    )
    .await;
    driver.on_report(&report);
    if let Some(commit) = &st.last_attempted_revision {
        with_journal(driver, |j| j.set_images(commit, &report, checked.root()));
    }
    st.images_total = report.images.len();
    st.images_blocked = report.images.iter().filter(|i| i.blocking).count();
    st.images = image_statuses(&report);
    st.problems = problem_lines(&report, checked.root());
    st.decision = Some(report.decision.as_str().to_owned());
    if report.decision == Decision::Blocked {
        let reason = first_reason(&report);
        let msg = format!(
            "{} of {} images blocked, {} manifest problems",
            st.images_blocked,
            st.images_total,
            report.problems.len()
        );
        st.set(ConditionType::ImagesVerified, false, &reason, msg, stamp);
        blocked(spec, driver, st, &reason, stamp);
        return Err(Outcome::Blocked {
            reason: reason.as_str().to_owned(),
        });
    }
    st.last_verified_revision = st.last_attempted_revision.clone();
    let msg = format!("all {} images passed", st.images_total);
    st.set(
        ConditionType::ImagesVerified,
        true,
        &Reason::Succeeded,
        msg,
        stamp,
    );
    Ok(report)
}

/// Waits for the driver's approval when the gate requires one; owns `AwaitingApproval`.
///
/// # Errors
/// `AwaitingApproval`, or `Failed` when the approval source cannot be read.
pub async fn await_approval<D: Driver>(
    spec: &GateSpec,
    driver: &D,
    st: &mut GateStatus,
    oid: git2::Oid,
    now: i64,
    stamp: &str,
) -> Result<(), Outcome> {
    if !spec.approval_required {
        st.unset(ConditionType::AwaitingApproval);
        return Ok(());
    }
    match driver.approval(spec, oid, now).await {
        Approval::Approved(msg) => {
            st.set(
                ConditionType::AwaitingApproval,
                false,
                &Reason::Approved,
                msg,
                stamp,
            );
            Ok(())
        }
        Approval::Waiting(why) => {
            st.set(
                ConditionType::AwaitingApproval,
                true,
                &Reason::AwaitingApproval,
                why,
                stamp,
            );
            if let TargetSpec::Promote(_) = spec.target {
                st.set(
                    ConditionType::Promoted,
                    false,
                    &Reason::AwaitingApproval,
                    "waiting for approval",
                    stamp,
                );
            }
            Err(Outcome::AwaitingApproval)
        }
        Approval::Failed(o) => Err(o),
    }
}

/// The revision's files with every passing image pinned to its verified digest.
///
/// # Errors
/// `Failed` (`PinFailed`, `GitReadFailed`).
pub fn assemble(report: &Report, checked: &Checkout) -> Result<Files, Outcome> {
    let pinned = manifests::pin::apply(&decision::pin_plan(report))
        .map_err(|e| Outcome::failed(&Reason::PinFailed, crate::base::error::chain(&e)))?;
    let mut pinned_text: BTreeMap<std::path::PathBuf, String> =
        pinned.into_iter().map(|p| (p.path, p.text)).collect();
    let root = checked.root();
    let mut files = Files::new();
    for (rel, mode) in &checked.files {
        let path = root.join(rel);
        let data = match pinned_text.remove(&path) {
            Some(t) => t.into_bytes(),
            None => std::fs::read(&path)
                .map_err(|e| Outcome::failed(&Reason::GitReadFailed, format!("{rel}: {e}")))?,
        };
        files.insert(rel.clone(), (data, *mode));
    }
    Ok(files)
}

/// Largest summary envelope kept in the status (a bigger one is only on the images).
const MAX_STATUS_ENVELOPE: usize = 256 * 1024;

/// After a passing revision went out: records the signed summary in `status.summary`
/// (apply targets: the envelope itself; promote targets: the note [`promote`] wrote) and,
/// with `attachToImages`, attaches it to each image it covers
/// ([`crate::edge::registry::store::attach_summary`]: idempotent, one summary per verifier
/// and image).
///
/// # Errors
/// `Failed` (`SummaryFailed`) when it cannot be signed or written.
async fn publish_summary(
    spec: &GateSpec,
    s: &SummarySpec,
    mut summary: crate::attest::vsa::Summary,
    st: &mut GateStatus,
    commit: &str,
) -> Result<(), Outcome> {
    // the revision went out: only the summary failed (Ready=False, Stalled, retried)
    let failed = |message: String| Outcome::failed(&Reason::SummaryFailed, message);
    if let TargetSpec::Promote(p) = &spec.target {
        let Some(promoted) = &st.last_promotion_commit else {
            return Ok(());
        };
        summary.promotion = Some((p.url.clone(), promoted.clone()));
    }
    let envelope = match sign_summary(&s.key, &summary).await {
        Ok(e) => e,
        Err(e) => return Err(failed(format!("signing the summary: {e}"))),
    };
    if let TargetSpec::Apply { .. } = &spec.target {
        let text = String::from_utf8_lossy(&envelope).into_owned();
        let kept = text.len() <= MAX_STATUS_ENVELOPE;
        st.summary = Some(status::SummaryStatus {
            revision: commit.to_owned(),
            digest: crate::base::reference::Digest::sha256_of(&envelope).to_string(),
            stored_in: if kept {
                vec!["status".into()]
            } else {
                Vec::new()
            },
            envelope: kept.then_some(text),
        });
    }
    let Some(store) = &s.attach else {
        return Ok(());
    };
    let promotion = summary.promotion.clone().unwrap_or_default();
    let public = match s.key.public_key().await {
        Ok(k) => k,
        Err(e) => {
            return Err(failed(format!(
                "the summary key: {}",
                crate::base::error::chain(&e)
            )));
        }
    };
    for (repo, digest) in &summary.images {
        let image = match crate::base::reference::ImageRef::parse(&format!("{repo}@{digest}")) {
            Ok(i) => i,
            Err(e) => return Err(failed(format!("{repo}@{digest}: {e}"))),
        };
        if let Err(e) = crate::edge::registry::store::attach_summary(
            store,
            &image,
            &envelope,
            &public,
            &s.verifier_id,
            &promotion,
        )
        .await
        {
            return Err(failed(format!(
                "attaching the verification summary to {image}: {}",
                crate::base::error::chain(&e)
            )));
        }
    }
    if let Some(record) = &mut st.summary
        && record.revision == commit
        && !record.stored_in.iter().any(|w| w == "images")
    {
        record.stored_in.push("images".into());
    }
    Ok(())
}

/// `status.summary` for the note of a promotion.
fn record_note(st: &mut GateStatus, revision: &str, note: Option<&[u8]>) {
    if let Some(n) = note {
        st.summary = Some(status::SummaryStatus {
            revision: revision.to_owned(),
            digest: crate::base::reference::Digest::sha256_of(n).to_string(),
            stored_in: vec![promotion::NOTES_REF.to_owned()],
            envelope: None,
        });
    }
}

/// The DSSE envelope of `summary`, signed with the gate's key.
async fn sign_summary(
    key: &crate::edge::kms::Signer,
    summary: &crate::attest::vsa::Summary,
) -> Result<Vec<u8>, String> {
    let body = serde_json::to_vec(&summary.statement()).map_err(|e| e.to_string())?;
    key.envelope(&body)
        .await
        .map_err(|e| crate::base::error::chain(&e))
}

/// Signs `summary` for the promotion commit of the deploy repository `url`. The signer runs
/// on promotion's blocking thread; a key manager is asked through the runtime it came from.
fn note_signer(
    s: &SummarySpec,
    summary: crate::attest::vsa::Summary,
    url: String,
) -> promotion::NoteSigner {
    let key = s.key.clone();
    let runtime = tokio::runtime::Handle::current();
    Box::new(move |promoted: &str| {
        let mut summary = summary.clone();
        summary.promotion = Some((url.clone(), promoted.to_owned()));
        runtime.block_on(sign_summary(&key, &summary))
    })
}

/// Commits the pinned files to the deploy branch (idempotent, never forced) with the
/// summary note when `note` signs one; owns `Promoted`, `lastPromotedRevision`,
/// `lastPromotionCommit`.
#[allow(clippy::too_many_arguments, reason = "one step's inputs, named")]
pub async fn promote<D: Driver>(
    spec: &GateSpec,
    driver: &D,
    p: &PromoteSpec,
    st: &mut GateStatus,
    commit: &str,
    files: Files,
    note: Option<promotion::NoteSigner>,
    now: i64,
    stamp: &str,
) -> Outcome {
    let noted = note.is_some();
    let open = match driver.target_repo(spec).await {
        Ok(o) => o,
        Err(o) => return o,
    };
    let promotion = Promotion {
        branch: p.branch.clone(),
        path: p.path.clone(),
        files,
        source_commit: commit.to_owned(),
        source_ref: spec.source.git_ref.clone(),
        source_url: spec.source.url.clone(),
        policy_digest: spec.policy_digest.clone(),
        author_name: p.author_name.clone(),
        author_email: p.author_email.clone(),
        time: now,
    };
    let result = blocking(
        &driver.git_busy(),
        &Reason::PromotionFailed,
        spec.net_deadline() * 4,
        move || promotion::promote(&open()?, &promotion, note.as_ref()),
    )
    .await;
    let (outcome, target_commit, reason) = match result {
        Ok((PromoteOutcome::Promoted { commit: c }, note)) => {
            record_note(st, commit, note.as_deref());
            (Outcome::Promoted { commit: c.clone() }, c, Reason::Promoted)
        }
        Ok((PromoteOutcome::AlreadyPromoted { commit: c }, note)) => {
            record_note(st, commit, note.as_deref());
            (Outcome::UpToDate, c, Reason::AlreadyPromoted)
        }
        Err(o) => {
            if let Outcome::Failed { reason, message } = &o {
                st.set(
                    ConditionType::Promoted,
                    false,
                    &Reason::Code(reason.clone()),
                    message.clone(),
                    stamp,
                );
            }
            return o;
        }
    };
    st.last_promoted_revision = Some(commit.to_owned());
    st.last_promotion_commit = Some(target_commit.clone());
    st.set(
        ConditionType::Promoted,
        true,
        &reason,
        format!(
            "{commit} is on {} as {target_commit}{}",
            p.branch,
            if noted {
                format!(
                    " with its signed verification summary ({})",
                    promotion::NOTES_REF
                )
            } else {
                String::new()
            }
        ),
        stamp,
    );
    outcome
}

/// The report step: `Ready`, `Stalled` and `Reconciling` from the outcome (kstatus).
/// `target_text` says where a good revision went ("promoted to deploy"), `approve_hint`
/// how to approve a revision. Drivers call it themselves only for a reconcile that failed
/// before the core ran (its inputs could not be read).
pub fn finish(
    st: &mut GateStatus,
    outcome: &Outcome,
    target_text: &str,
    approve_hint: &dyn Fn(&str) -> String,
    stamp: &str,
) {
    st.unset(ConditionType::Reconciling);
    let carried = st
        .last_applied_revision
        .clone()
        .or_else(|| st.last_promoted_revision.clone());
    match outcome {
        Outcome::Failed { reason, message } => {
            let reason = Reason::Code(reason.clone());
            st.set(
                ConditionType::Stalled,
                true,
                &reason,
                message.clone(),
                stamp,
            );
            st.set(ConditionType::Ready, false, &reason, message.clone(), stamp);
        }
        Outcome::Applied { .. } | Outcome::Promoted { .. } | Outcome::UpToDate => {
            st.unset(ConditionType::Stalled);
            let rev = carried
                .or_else(|| st.last_verified_revision.clone())
                .unwrap_or_default();
            let msg = format!("{rev} is verified and {target_text}");
            st.set(ConditionType::Ready, true, &Reason::Succeeded, msg, stamp);
        }
        Outcome::Blocked { reason } => {
            st.unset(ConditionType::Stalled);
            let msg = format!(
                "revision {} is blocked ({} of {} images); the last good revision stays: {}",
                st.last_attempted_revision.clone().unwrap_or_default(),
                st.images_blocked,
                st.images_total,
                carried.unwrap_or_else(|| "nothing yet".into())
            );
            st.set(
                ConditionType::Ready,
                false,
                &Reason::Code(reason.clone()),
                msg,
                stamp,
            );
        }
        Outcome::AwaitingApproval => {
            st.unset(ConditionType::Stalled);
            let rev = st.last_verified_revision.clone().unwrap_or_default();
            let msg = format!(
                "revision {rev} passed and waits for approval ({})",
                approve_hint(&rev)
            );
            st.set(
                ConditionType::Ready,
                false,
                &Reason::AwaitingApproval,
                msg,
                stamp,
            );
        }
    }
}

/// Runs blocking Git work under the gate's one-Git-operation guard; a failure becomes a
/// `Failed` outcome with `reason`.
///
/// libgit2 only checks the fetch deadline while data flows; a server that accepts the
/// connection and then says nothing is caught here: after `limit` the work is abandoned
/// (its thread finishes on its own; the next reconcile starts afresh). At most one piece of
/// Git work runs at a time: one abandoned at its deadline keeps the flag until it really
/// ends, so a silent server costs one thread, not one per reconcile.
///
/// # Errors
/// `Failed` with `reason`: the work failed, panicked, was abandoned, or an earlier one is
/// still running.
pub async fn blocking<T: Send + 'static>(
    busy: &Arc<AtomicBool>,
    reason: &Reason,
    limit: Duration,
    f: impl FnOnce() -> Result<T, GitError> + Send + 'static,
) -> Result<T, Outcome> {
    if busy.swap(true, Ordering::SeqCst) {
        return Err(Outcome::failed(
            reason,
            "an earlier Git operation has not answered yet (abandoned at its deadline)",
        ));
    }
    let done = busy.clone();
    let work = tokio::task::spawn_blocking(move || {
        let r = f();
        done.store(false, Ordering::SeqCst);
        r
    });
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(Ok(v))) => Ok(v),
        Ok(Ok(Err(e))) => Err(Outcome::failed(reason, crate::base::error::chain(&e))),
        Ok(Err(e)) => {
            // the task panicked or was cancelled: it no longer holds the guard
            busy.store(false, Ordering::SeqCst);
            Err(Outcome::failed(reason, format!("the Git task failed: {e}")))
        }
        Err(_) => Err(Outcome::failed(
            reason,
            format!("no answer within {} s: abandoned", limit.as_secs()),
        )),
    }
}

/// The `SourceVerified` verdict of a head-commit signature check: (passed, reason, message).
pub fn commit_check(commit: &str, check: SignatureCheck) -> (bool, Reason, String) {
    match check {
        SignatureCheck::Verified { signer, .. } => (
            true,
            Reason::CommitSignatureVerified,
            format!("{commit} is signed by {signer}"),
        ),
        SignatureCheck::NotSigned => (
            false,
            Reason::CommitNotSigned,
            format!("{commit} is not signed"),
        ),
        SignatureCheck::SignerNotAllowed { detail } => (
            false,
            Reason::CommitSignerNotAllowed,
            format!("{commit}: {detail}"),
        ),
        SignatureCheck::Invalid { detail } => (
            false,
            Reason::CommitSignerNotAllowed,
            format!("{commit}: invalid signature: {detail}"),
        ),
    }
}

/// The report's images as status entries: at most [`MAX_STATUS_IMAGES`], blocked and failing
/// ones first; a failure of a warn-mode policy reads `fail (warn)`.
pub fn image_statuses(report: &Report) -> Vec<ImageStatus> {
    let mut images: Vec<ImageStatus> = report
        .images
        .iter()
        .map(|i| ImageStatus {
            image: i.image.clone(),
            digest: i.digest.clone(),
            verdict: if i.blocking || i.verdict.is_ok() {
                i.verdict.as_str().to_owned()
            } else {
                format!("{} (warn)", i.verdict.as_str())
            },
            reasons: i
                .verdict
                .reasons()
                .into_iter()
                .map(|r| ImageReason {
                    code: r.code.as_str().to_owned(),
                    message: r.message,
                })
                .collect(),
        })
        .collect();
    images.sort_by_key(|i| matches!(i.verdict.as_str(), "pass" | "allowed"));
    images.truncate(MAX_STATUS_IMAGES);
    images
}

/// `sealgate_image_verdicts{verdict, reason}` of a report: every image counted (not only
/// those kept in the status), labelled with the verdict and its first reason code (`""`
/// for a pass), the same typed labels in both drivers.
pub fn image_verdict_counts(report: &Report) -> BTreeMap<(String, String), i64> {
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
    counts
}

/// The report's manifest problems as status lines, paths relative to the checkout `root`.
pub fn problem_lines(report: &Report, root: &std::path::Path) -> Vec<String> {
    let root_text = format!("{}/", root.display());
    report
        .problems
        .iter()
        .map(|p| {
            format!(
                "{} #{}: {}: {}",
                p.file.trim_start_matches(&root_text),
                p.document.map(|d| d.to_string()).unwrap_or_default(),
                p.code.as_str(),
                p.message
            )
        })
        .collect()
}

/// The reason code that blocked the report: its first manifest problem, else the first
/// blocking image's first reason.
pub fn first_reason(report: &Report) -> Reason {
    if let Some(p) = report.problems.first() {
        return Reason::Code(p.code.as_str().to_owned());
    }
    report
        .images
        .iter()
        .filter(|i| i.blocking)
        .find_map(|i| match &i.verdict {
            Verdict::Fail(r) => r.first().map(|r| Reason::Code(r.code.as_str().to_owned())),
            Verdict::Unverifiable(r) => Some(Reason::Code(r.code.as_str().to_owned())),
            _ => None,
        })
        .unwrap_or_else(|| Reason::Code("Blocked".into()))
}
