//! The standalone gate (`sealgate run`): one reconcile core — fetch source → verify
//! source → extract → verify images → decide → await approval → promote → report — and
//! the status it produces, as a value.
//!
//! Each sub-step owns its condition (Flux's reconcile lists). Conditions follow kstatus:
//! `Ready` (the deploy branch carries the latest good revision), `Reconciling` (a reconcile
//! is running), `Stalled` (the source or target cannot be reached or read: retried with
//! backoff), and the positive-polarity `SourceVerified`, `ImagesVerified`, `Promoted`,
//! plus `AwaitingApproval` (true while a passing revision waits for its approval tag).
//! Reasons are the contract's reason codes where they apply.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::GateConfig;
use crate::gate::{self, Report};
use crate::manifests::{self, LoadOptions};
use crate::registry::AnyRegistry;
use crate::source::git::{GitError, Repo};
use crate::source::signature::{self, AllowedSigners, OpenPgpKeys, SignatureCheck, SignerTrust};
use crate::target::promote::{self, PromoteOutcome, Promotion};
use crate::verdict::{Decision, Verdict};
use crate::verify::{self, Cache, GatherOptions};

/// Most per-image entries kept in the status (blocked ones first).
pub const MAX_STATUS_IMAGES: usize = 50;
/// The tag prefix of approvals: `sealgate/approved/<sha>`.
pub const APPROVAL_TAG_PREFIX: &str = "sealgate/approved/";

/// Why the gate could not be set up (configuration, trust files).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("reading {path}")]
    ReadFailed {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("registry client")]
    Registry(#[source] crate::registry::RegistryError),
    #[error("docker config")]
    DockerConfig(#[source] crate::registry::credentials::CredentialsError),
}

/// One kstatus-style condition (the same type as the controller's status uses).
pub use crate::controller::crd::Condition;

/// One image in the status (the same type as the controller's status uses).
pub use crate::controller::crd::ImageStatus;

/// The gate's status document (`GET /status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Status {
    pub source: String,
    pub target: String,
    pub conditions: Vec<Condition>,
    pub last_attempted_revision: Option<String>,
    pub last_verified_revision: Option<String>,
    pub last_promoted_revision: Option<String>,
    /// The deploy-branch commit of the last promotion.
    pub last_promotion_commit: Option<String>,
    pub decision: Option<String>,
    pub images_total: usize,
    pub images_blocked: usize,
    pub images: Vec<ImageStatus>,
    pub problems: Vec<String>,
    /// Set when the watched ref was rewritten (force-pushed) since the previous reconcile.
    pub force_push: Option<String>,
    pub last_reconcile_time: Option<String>,
}

impl Status {
    /// The condition of a type, if set.
    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == kind)
    }

    fn set(
        &mut self,
        kind: &str,
        status: bool,
        reason: &str,
        message: impl Into<String>,
        now: &str,
    ) {
        set_condition(
            &mut self.conditions,
            kind,
            status,
            reason,
            message,
            now,
            None,
        );
    }

    fn unset(&mut self, kind: &str) {
        self.conditions.retain(|c| c.type_ != kind);
    }
}

/// Sets condition `type_` (kstatus): `lastTransitionTime` moves only when the status flips.
pub(crate) fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    now: &str,
    generation: Option<i64>,
) {
    let status = if status { "True" } else { "False" }.to_owned();
    let message = message.into();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = now.to_owned();
            }
            c.status = status;
            c.reason = reason.to_owned();
            c.message = message;
            c.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: type_.to_owned(),
            status,
            reason: reason.to_owned(),
            message,
            last_transition_time: now.to_owned(),
            observed_generation: generation,
        }),
    }
}

/// What a reconcile ended in (`--once` exit codes: 0, 0, 1, 3, and 1 for errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Promoted {
        commit: String,
    },
    UpToDate,
    Blocked {
        reason: String,
    },
    AwaitingApproval,
    /// Could not reconcile (source/target unreachable, unreadable revision…): retried.
    Failed {
        reason: String,
        message: String,
    },
}

/// The gate: configuration, trust, clients, cache and the current status.
pub struct Gate {
    pub config: GateConfig,
    trust: Option<SignerTrust>,
    approvers: Option<AllowedSigners>,
    registry: AnyRegistry,
    pub cache: Cache,
    pub status: std::sync::Mutex<Status>,
    /// The last revision that passed and is on the deploy branch, with the policy digest
    /// it passed under and when (Flux's status-as-cache rule).
    last_pass: std::sync::Mutex<Option<(String, String, std::time::Instant)>>,
    /// Set while Git work runs on a blocking thread (see `blocking`).
    net_busy: Arc<std::sync::atomic::AtomicBool>,
}

fn read(path: &std::path::Path) -> Result<String, SetupError> {
    crate::files::read_regular_string(path, crate::files::MAX_SMALL_FILE).map_err(|e| {
        SetupError::ReadFailed {
            path: path.to_path_buf(),
            source: e.into_io(),
        }
    })
}

impl Gate {
    /// Loads trust material and builds the registry client.
    ///
    /// # Errors
    /// [`SetupError`] for unreadable or invalid trust files or registry settings.
    pub fn new(config: GateConfig) -> Result<Self, SetupError> {
        Self::with_observer(config, None)
    }

    /// [`Gate::new`] with an observer of every registry request (for metrics).
    ///
    /// # Errors
    /// As [`Gate::new`].
    pub fn with_observer(
        config: GateConfig,
        observer: Option<crate::registry::http::Observer>,
    ) -> Result<Self, SetupError> {
        let trust = match &config.source.verify_commits {
            None => None,
            Some(v) => {
                let ssh =
                    match &v.allowed_signers_file {
                        None => None,
                        Some(f) => Some(AllowedSigners::parse(&read(f)?).map_err(|e| {
                            SetupError::Invalid {
                                path: f.clone(),
                                message: crate::error::chain(&e),
                            }
                        })?),
                    };
                let openpgp = if v.gpg_key_files.is_empty() {
                    None
                } else {
                    let blocks = v
                        .gpg_key_files
                        .iter()
                        .map(|f| read(f))
                        .collect::<Result<Vec<_>, _>>()?;
                    Some(
                        OpenPgpKeys::parse_armored(&blocks).map_err(|e| SetupError::Invalid {
                            path: v.gpg_key_files.first().cloned().unwrap_or_default(),
                            message: crate::error::chain(&e),
                        })?,
                    )
                };
                Some(SignerTrust { ssh, openpgp })
            }
        };
        let approvers = match &config.approval.approvers_file {
            None => None,
            Some(f) => Some(
                AllowedSigners::parse(&read(f)?).map_err(|e| SetupError::Invalid {
                    path: f.clone(),
                    message: crate::error::chain(&e),
                })?,
            ),
        };
        let registry = match &config.registry.oci_layout {
            Some(dir) => AnyRegistry::Layout(
                crate::registry::layout::OciLayout::open(dir).map_err(SetupError::Registry)?,
            ),
            None => {
                let docker = crate::registry::credentials::DockerConfig::load(
                    config.registry.docker_config.as_deref(),
                )
                .map_err(SetupError::DockerConfig)?;
                AnyRegistry::Http(
                    crate::registry::http::HttpRegistry::new(
                        crate::registry::http::HttpOptions {
                            insecure: config.registry.insecure.clone(),
                            concurrency: config.registry.concurrency,
                            timeout: config.registry.timeout,
                            observer,
                            ..Default::default()
                        },
                        docker,
                    )
                    .map_err(SetupError::Registry)?,
                )
            }
        };
        let status = Status {
            source: format!(
                "{} {}{}",
                config.source.url,
                config.source.git_ref,
                if config.source.path.is_empty() {
                    String::new()
                } else {
                    format!(" /{}", config.source.path)
                }
            ),
            target: format!(
                "{} {}{}",
                config.promote.url,
                config.promote.branch,
                if config.promote.path.is_empty() {
                    String::new()
                } else {
                    format!(" /{}", config.promote.path)
                }
            ),
            ..Status::default()
        };
        Ok(Self {
            cache: Cache::new(config.cache_ttl, config.negative_cache_ttl),
            config,
            trust,
            approvers,
            registry,
            status: std::sync::Mutex::new(status),
            last_pass: std::sync::Mutex::new(None),
            net_busy: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        })
    }

    /// Registry requests made so far.
    pub fn registry_requests(&self) -> u64 {
        self.registry.requests()
    }

    /// The current status (a copy).
    pub fn status(&self) -> Status {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn source_repo(&self) -> Result<Repo, GitError> {
        Repo::open(
            &self.config.state_dir,
            &self.config.source.url,
            self.config.source.auth.clone(),
            self.config.source.timeout,
        )
    }

    fn target_repo(&self) -> Result<Repo, GitError> {
        // the target uses the source's credentials (same forge, usually the same repository)
        Repo::open(
            &self.config.state_dir,
            &self.config.promote.url,
            self.config.source.auth.clone(),
            self.config.source.timeout,
        )
    }

    /// One reconcile at instant `now` (seconds since the epoch). Updates the status.
    pub async fn reconcile(self: &Arc<Self>, now: i64) -> Outcome {
        let stamp = crate::time::format_rfc3339(now);
        if let Ok(mut s) = self.status.lock() {
            s.set("Reconciling", true, "Progressing", "reconciling", &stamp);
        }
        let me = self.clone();
        let outcome = me.run(now, &stamp).await;
        if let Ok(mut s) = self.status.lock() {
            s.unset("Reconciling");
            s.last_reconcile_time = Some(stamp.clone());
            match &outcome {
                Outcome::Failed { reason, message } => {
                    s.set("Stalled", true, reason, message.clone(), &stamp);
                    s.set("Ready", false, reason, message.clone(), &stamp);
                }
                Outcome::Promoted { .. } | Outcome::UpToDate => {
                    s.unset("Stalled");
                    let msg = format!(
                        "{} is promoted to {}",
                        s.last_promoted_revision.clone().unwrap_or_default(),
                        self.config.promote.branch
                    );
                    s.set("Ready", true, "Succeeded", msg, &stamp);
                }
                Outcome::Blocked { reason } => {
                    s.unset("Stalled");
                    let msg = format!(
                        "revision {} is blocked; {} keeps {}",
                        s.last_attempted_revision.clone().unwrap_or_default(),
                        self.config.promote.branch,
                        s.last_promoted_revision
                            .clone()
                            .unwrap_or_else(|| "nothing yet".into())
                    );
                    s.set("Ready", false, reason, msg, &stamp);
                }
                Outcome::AwaitingApproval => {
                    s.unset("Stalled");
                    let msg = format!(
                        "revision {} passed and waits for the tag {APPROVAL_TAG_PREFIX}{}",
                        s.last_verified_revision.clone().unwrap_or_default(),
                        s.last_verified_revision.clone().unwrap_or_default()
                    );
                    s.set("Ready", false, "AwaitingApproval", msg, &stamp);
                }
            }
        }
        outcome
    }

    async fn run(self: Arc<Self>, now: i64, stamp: &str) -> Outcome {
        let cfg = &self.config;
        // deadlines of the blocking Git work (network, and local reads of a checkout)
        let net = cfg.source.timeout + std::time::Duration::from_secs(5);
        let local = std::time::Duration::from_secs(600);
        // 1. fetch source
        let me = self.clone();
        let git_ref = cfg.source.git_ref.clone();
        let fetched = match blocking(&self.net_busy, "GitFetchFailed", net, move || {
            me.source_repo()?.fetch(&git_ref)
        })
        .await
        {
            Ok(f) => f,
            Err(o) => return o,
        };
        let commit = fetched.commit.to_string();
        if let Ok(mut s) = self.status.lock() {
            s.last_attempted_revision = Some(commit.clone());
            s.force_push = fetched.force_pushed.then(|| {
                format!(
                    "{} was force-pushed: {} does not descend from {}",
                    cfg.source.git_ref,
                    commit,
                    fetched.previous.map(|p| p.to_string()).unwrap_or_default()
                )
            });
            if fetched.force_pushed {
                tracing::warn!(git_ref = %cfg.source.git_ref, %commit, "watched ref was force-pushed");
            }
        }

        // Unchanged since the last pass (same revision, same policies, within the cache
        // TTL): nothing to verify or write again.
        let unchanged = self.last_pass.lock().ok().is_some_and(|l| {
            l.as_ref().is_some_and(|(c, p, at)| {
                *c == commit && *p == cfg.policy_digest() && at.elapsed() < cfg.cache_ttl
            })
        });
        if unchanged {
            if let Ok(mut s) = self.status.lock() {
                s.set(
                    "Promoted",
                    true,
                    "AlreadyPromoted",
                    format!("{commit} is unchanged since the last reconcile"),
                    stamp,
                );
            }
            return Outcome::UpToDate;
        }

        // 2. verify source
        if let Some(trust) = &self.trust {
            let me = self.clone();
            let oid = fetched.commit;
            let read = blocking(&self.net_busy, "GitReadFailed", local, move || {
                let repo = me.source_repo()?;
                Ok((repo.commit_signature(oid), repo.commit_time(oid)))
            });
            let (sig, time) = match read.await {
                Ok(v) => v,
                Err(o) => return o,
            };
            let check = match &sig {
                None => SignatureCheck::NotSigned,
                Some((signature, data)) => {
                    signature::verify(trust, signature, data, time.unwrap_or(now))
                }
            };
            let (ok, reason, message) = commit_check(&commit, check);
            let reason = reason.to_string();
            if let Ok(mut s) = self.status.lock() {
                s.set("SourceVerified", ok, &reason, message.clone(), stamp);
                if !ok {
                    s.set(
                        "ImagesVerified",
                        false,
                        "SourceNotVerified",
                        "not checked",
                        stamp,
                    );
                    s.set("Promoted", false, &reason, "nothing promoted", stamp);
                    s.decision = Some("blocked".into());
                }
            }
            if !ok {
                return Outcome::Blocked { reason };
            }
        } else if let Ok(mut s) = self.status.lock() {
            s.set(
                "SourceVerified",
                true,
                "NotRequired",
                "commit signatures are not required (source.verifyCommits)",
                stamp,
            );
        }

        // 3. extract
        let me = self.clone();
        let oid = fetched.commit;
        let read = blocking(&self.net_busy, "GitReadFailed", local, move || {
            me.source_repo()?.checkout(oid, &me.config.source.path)
        });
        let checked = match read.await {
            Ok(c) => c,
            Err(o) => return o,
        };
        let mut extra = Vec::new();
        for p in &cfg.policies {
            extra.extend(p.extra_image_paths.iter().cloned());
        }
        let opts = LoadOptions {
            extra_image_paths: extra,
            ..LoadOptions::default()
        };
        let root = checked.root().to_path_buf();
        let snapshot = manifests::load_paths(std::slice::from_ref(&root), &opts);

        // 4. verify images (cache) and 5. decide
        let wanted = gate::plan(&snapshot, &cfg.policies, true);
        let gather = GatherOptions {
            concurrency: cfg.registry.concurrency,
            max_attestation_bytes: cfg.max_sbom_size,
        };
        let enough = crate::policy::eval::signatures_enough(&cfg.policies, now);
        let evidence = verify::gather_until(
            &self.registry,
            &wanted,
            &gather,
            Some(&self.cache),
            Some(&enough),
        )
        .await;
        let report = gate::decide(&snapshot, &cfg.policies, &evidence, now);
        self.record_images(&report, &root, stamp);
        if report.decision == Decision::Blocked {
            let reason = first_reason(&report);
            if let Ok(mut s) = self.status.lock() {
                let msg = format!(
                    "{} of {} images blocked, {} manifest problems",
                    s.images_blocked,
                    s.images_total,
                    report.problems.len()
                );
                s.set("ImagesVerified", false, &reason, msg, stamp);
                s.set(
                    "Promoted",
                    false,
                    &reason,
                    "the revision is blocked: nothing promoted",
                    stamp,
                );
                s.unset("AwaitingApproval");
            }
            return Outcome::Blocked { reason };
        }
        if let Ok(mut s) = self.status.lock() {
            s.last_verified_revision = Some(commit.clone());
            let msg = format!("all {} images passed", s.images_total);
            s.set("ImagesVerified", true, "Succeeded", msg, stamp);
        }

        // 6. await approval
        if cfg.approval.required {
            match self.clone().approved(fetched.commit, now).await {
                Ok(Ok(approver)) => {
                    if let Ok(mut s) = self.status.lock() {
                        s.set(
                            "AwaitingApproval",
                            false,
                            "Approved",
                            format!("approved by {approver}"),
                            stamp,
                        );
                    }
                }
                Ok(Err(why)) => {
                    if let Ok(mut s) = self.status.lock() {
                        s.set("AwaitingApproval", true, "AwaitingApproval", why, stamp);
                        s.set(
                            "Promoted",
                            false,
                            "AwaitingApproval",
                            "waiting for approval",
                            stamp,
                        );
                    }
                    return Outcome::AwaitingApproval;
                }
                Err(e) => {
                    return Outcome::Failed {
                        reason: "GitFetchFailed".into(),
                        message: crate::error::chain(&e),
                    };
                }
            }
        }

        // 7. promote
        let pinned = match manifests::pin::apply(&gate::pin_plan(&report)) {
            Ok(p) => p,
            Err(e) => {
                return Outcome::Failed {
                    reason: "PinFailed".into(),
                    message: crate::error::chain(&e),
                };
            }
        };
        let mut pinned_text: BTreeMap<std::path::PathBuf, String> =
            pinned.into_iter().map(|p| (p.path, p.text)).collect();
        let mut files = BTreeMap::new();
        for (rel, mode) in &checked.files {
            let path = root.join(rel);
            let data = match pinned_text.remove(&path) {
                Some(t) => t.into_bytes(),
                None => match std::fs::read(&path) {
                    Ok(d) => d,
                    Err(e) => {
                        return Outcome::Failed {
                            reason: "GitReadFailed".into(),
                            message: format!("{rel}: {e}"),
                        };
                    }
                },
            };
            files.insert(rel.clone(), (data, *mode));
        }
        let promotion = Promotion {
            branch: cfg.promote.branch.clone(),
            path: cfg.promote.path.clone(),
            files,
            source_commit: commit.clone(),
            source_ref: cfg.source.git_ref.clone(),
            source_url: cfg.source.url.clone(),
            policy_digest: cfg.policy_digest(),
            author_name: cfg.promote.author_name.clone(),
            author_email: cfg.promote.author_email.clone(),
            time: now,
        };
        let me = self.clone();
        let result = blocking(&self.net_busy, "PromotionFailed", net * 4, move || {
            promote::promote(&me.target_repo()?, &promotion)
        })
        .await;
        drop(checked);
        match result {
            Ok(o) => {
                let (outcome, target_commit, reason) = match o {
                    PromoteOutcome::Promoted { commit: c } => {
                        (Outcome::Promoted { commit: c.clone() }, c, "Promoted")
                    }
                    PromoteOutcome::AlreadyPromoted { commit: c } => {
                        (Outcome::UpToDate, c, "AlreadyPromoted")
                    }
                };
                if let Ok(mut l) = self.last_pass.lock() {
                    *l = Some((
                        commit.clone(),
                        cfg.policy_digest(),
                        std::time::Instant::now(),
                    ));
                }
                if let Ok(mut s) = self.status.lock() {
                    s.last_promoted_revision = Some(commit.clone());
                    s.last_promotion_commit = Some(target_commit.clone());
                    s.set(
                        "Promoted",
                        true,
                        reason,
                        format!("{commit} is on {} as {target_commit}", cfg.promote.branch),
                        stamp,
                    );
                }
                outcome
            }
            Err(o) => o,
        }
    }

    /// Whether `commit` carries a valid approval tag: `Ok(Ok(approver))`, `Ok(Err(why not))`.
    async fn approved(
        self: Arc<Self>,
        commit: git2::Oid,
        now: i64,
    ) -> Result<Result<String, String>, GitError> {
        let me = self.clone();
        let limit = self.config.source.timeout + std::time::Duration::from_secs(5);
        let work = tokio::task::spawn_blocking(move || {
            let repo = me.source_repo()?;
            repo.fetch_tags(APPROVAL_TAG_PREFIX)?;
            Ok::<_, GitError>(repo.tag(&format!("{APPROVAL_TAG_PREFIX}{commit}")))
        });
        let tag = tokio::time::timeout(limit, work)
            .await
            .map_err(|_| GitError::FetchTimeout {
                url: self.config.source.url.clone(),
                seconds: limit.as_secs(),
            })?
            .map_err(|e| GitError::Credentials(e.to_string()))??;
        let name = format!("{APPROVAL_TAG_PREFIX}{commit}");
        let Some((raw, target)) = tag else {
            return Ok(Err(format!(
                "no approval tag {name} (sealgate approve --repo {} {commit})",
                self.config.source.url
            )));
        };
        if target != commit {
            return Ok(Err(format!("{name} points at {target}, not {commit}")));
        }
        let Some((data, sig)) = signature::split_tag(&raw) else {
            return Ok(Err(format!("{name} is not signed")));
        };
        let trust = SignerTrust {
            ssh: self.approvers.clone(),
            openpgp: None,
        };
        Ok(match signature::verify(&trust, sig, data, now) {
            SignatureCheck::Verified { signer, .. } => Ok(signer),
            SignatureCheck::NotSigned => Err(format!("{name} is not signed")),
            SignatureCheck::SignerNotAllowed { detail } => {
                Err(format!("{name} is not signed by an approver: {detail}"))
            }
            SignatureCheck::Invalid { detail } => {
                Err(format!("{name} has an invalid signature: {detail}"))
            }
        })
    }

    fn record_images(&self, report: &Report, root: &std::path::Path, stamp: &str) {
        let images = image_statuses(report);
        let blocked = report.images.iter().filter(|i| i.blocking).count();
        if let Ok(mut s) = self.status.lock() {
            s.images_total = report.images.len();
            s.images_blocked = blocked;
            s.images = images;
            s.decision = Some(report.decision.as_str().to_string());
            s.problems = problem_lines(report, root);
            let _ = stamp;
        }
    }
}

/// Runs blocking Git work; a failure becomes a `Failed` outcome with `reason`.
///
/// libgit2 only checks the fetch deadline while data flows; a server that accepts the
/// connection and then says nothing is caught here: after `limit` the work is abandoned
/// (its thread finishes on its own; the next reconcile starts afresh).
pub(crate) async fn blocking<T: Send + 'static>(
    busy: &Arc<std::sync::atomic::AtomicBool>,
    reason: &str,
    limit: std::time::Duration,
    f: impl FnOnce() -> Result<T, GitError> + Send + 'static,
) -> Result<T, Outcome> {
    use std::sync::atomic::Ordering;
    // At most one piece of Git work at a time: one that was abandoned at its deadline
    // keeps the flag until it really ends, so a silent server costs one thread, not one
    // per reconcile.
    if busy.swap(true, Ordering::SeqCst) {
        return Err(Outcome::Failed {
            reason: reason.into(),
            message: "an earlier Git operation has not answered yet (abandoned at its deadline)"
                .into(),
        });
    }
    let done = busy.clone();
    let work = tokio::task::spawn_blocking(move || {
        let r = f();
        done.store(false, Ordering::SeqCst);
        r
    });
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(Ok(v))) => Ok(v),
        Ok(Ok(Err(e))) => Err(Outcome::Failed {
            reason: reason.into(),
            message: crate::error::chain(&e),
        }),
        Ok(Err(e)) => Err(Outcome::Failed {
            reason: reason.into(),
            message: e.to_string(),
        }),
        Err(_) => Err(Outcome::Failed {
            reason: reason.into(),
            message: format!("no answer within {} s: abandoned", limit.as_secs()),
        }),
    }
}

/// The `SourceVerified` verdict of a head-commit signature check: (passed, reason, message).
pub(crate) fn commit_check(commit: &str, check: SignatureCheck) -> (bool, &'static str, String) {
    match check {
        SignatureCheck::Verified { signer, .. } => (
            true,
            "CommitSignatureVerified",
            format!("{commit} is signed by {signer}"),
        ),
        SignatureCheck::NotSigned => (false, "CommitNotSigned", format!("{commit} is not signed")),
        SignatureCheck::SignerNotAllowed { detail } => (
            false,
            "CommitSignerNotAllowed",
            format!("{commit}: {detail}"),
        ),
        SignatureCheck::Invalid { detail } => (
            false,
            "CommitSignerNotAllowed",
            format!("{commit}: invalid signature: {detail}"),
        ),
    }
}

/// The report's images as status entries: at most [`MAX_STATUS_IMAGES`], blocked and failing
/// ones first; a failure of a warn-mode policy reads `fail (warn)`.
pub(crate) fn image_statuses(report: &Report) -> Vec<ImageStatus> {
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
                .map(|r| crate::controller::crd::ImageReason {
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

/// The report's manifest problems as status lines, paths relative to the checkout `root`.
pub(crate) fn problem_lines(report: &Report, root: &std::path::Path) -> Vec<String> {
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
pub(crate) fn first_reason(report: &Report) -> String {
    if let Some(p) = report.problems.first() {
        return p.code.as_str().to_string();
    }
    report
        .images
        .iter()
        .filter(|i| i.blocking)
        .find_map(|i| match &i.verdict {
            Verdict::Fail(r) => r.first().map(|r| r.code.as_str().to_string()),
            Verdict::Unverifiable(r) => Some(r.code.as_str().to_string()),
            _ => None,
        })
        .unwrap_or_else(|| "Blocked".into())
}
