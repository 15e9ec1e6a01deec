//! The standalone gate (`sealgate run`): a driver of the [reconcile core](crate::reconcile)
//! over a [`GateConfig`]. It owns what is specific to running outside a cluster: trust and
//! approvers read from files, approvals as signed tags `sealgate/approved/<sha>` in the
//! source repository, the deploy repository reached with the source's credentials, and
//! the status kept in memory for `GET /status`. The sub-steps and the conditions they own
//! are the core's.

pub mod config;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::crypto::git_signature::{self, AllowedSigners, SignatureCheck, SignerTrust};
use crate::decision::Report;
use crate::edge::registry::AnyRegistry;
use crate::edge::source::git::Repo;
use crate::edge::verify::{Cache, GatherOptions};
use crate::reconcile::{
    self, Approval, Driver, Files, GateSpec, Reason, RepoOpener, SourceSpec, TargetSpec,
};
use crate::standalone::config::GateConfig;

pub use crate::reconcile::{Condition, ImageStatus, MAX_STATUS_IMAGES, Outcome};

/// The gate's status document (`GET /status`): the core's one status type.
pub type Status = crate::reconcile::GateStatus;

/// The tag prefix of approvals: `sealgate/approved/<sha>`.
pub const APPROVAL_TAG_PREFIX: &str = "sealgate/approved/";

/// Why the gate could not be set up (registry settings; trust files are read and
/// checked by [`config::load`]).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("registry client")]
    Registry(#[source] crate::edge::registry::RegistryError),
    #[error("docker config")]
    DockerConfig(#[source] crate::edge::registry::credentials::CredentialsError),
    #[error("{0}")]
    SummaryKey(String),
}

/// Reads and decrypts the summary key: a file or variable (password from `passwordEnv`),
/// or a Kubernetes Secret already fetched into `secrets` (its `cosign.password` wins, as
/// cosign does for `k8s://` keys). Never logged.
fn summary_spec(
    c: &crate::standalone::config::SummaryConfig,
    registry: &crate::standalone::config::RegistryConfig,
    secrets: &crate::policy::keysource::Resolved,
) -> Result<reconcile::SummarySpec, SetupError> {
    let bad = |m: String| SetupError::SummaryKey(format!("summary.key: {m}"));
    let attach = attach_store(c, registry)?;
    if let Some(uri) = c.key.kms() {
        // a transit or KMS key: read when the first summary is signed
        let signer = crate::edge::kms::Signer::from_uri(uri)
            .map_err(|e| bad(crate::base::error::chain(&e)))?;
        return Ok(reconcile::SummarySpec {
            key: Arc::new(signer),
            verifier_id: c.verifier_id.clone(),
            attach,
        });
    }
    let (pem, from_secret) = c
        .key
        .read_private(secrets)
        .map_err(|e| bad(crate::base::error::chain(&e)))?;
    let password = match from_secret {
        Some(p) => p,
        None => std::env::var_os(&c.password_env)
            .ok_or_else(|| {
                bad(format!(
                    "the key's password is read from {}, which is not set (it may be empty)",
                    c.password_env
                ))
            })?
            .into_encoded_bytes(),
    };
    let key = crate::crypto::PrivateKey::from_encrypted_pem(&pem, &password)
        .map_err(|e| bad(crate::base::error::chain(&e)))?;
    Ok(reconcile::SummarySpec {
        key: Arc::new(crate::edge::kms::Signer::Local(Box::new(key))),
        verifier_id: c.verifier_id.clone(),
        attach,
    })
}

/// The registry writer for `summary.attachToImages` (none when not asked for).
fn attach_store(
    c: &crate::standalone::config::SummaryConfig,
    registry: &crate::standalone::config::RegistryConfig,
) -> Result<Option<Arc<crate::edge::registry::store::Store>>, SetupError> {
    if !c.attach_to_images {
        return Ok(None);
    }
    let store = crate::edge::registry::store::Store::open(
        registry.oci_layout.as_deref(),
        &registry.insecure,
        registry.docker_config.as_deref(),
        registry.timeout.as_secs(),
    )
    .map_err(|e| SetupError::SummaryKey(format!("summary.attachToImages: {e}")))?;
    Ok(Some(Arc::new(store)))
}

/// The gate: configuration, the normalized spec, clients, cache and the current status.
pub struct Gate {
    pub config: GateConfig,
    spec: GateSpec,
    approvers: Option<AllowedSigners>,
    registry: AnyRegistry,
    pub cache: Cache,
    pub status: Mutex<Status>,
    /// The inputs digest of the last pass and when (Flux's status-as-cache rule).
    last_pass: Mutex<Option<(String, Instant)>>,
    /// Set while Git work runs on a blocking thread (see [`reconcile::blocking`]).
    net_busy: Arc<AtomicBool>,
    /// `(verdict, reason)` counts of the last report (`sealgate_image_verdicts`).
    verdicts: Mutex<BTreeMap<(String, String), i64>>,
    /// What the release manager's page shows beside the status.
    journal: Arc<Mutex<crate::reconcile::journal::Journal>>,
    /// Where the core's scans are counted (`sealgate run` sets it).
    metrics: std::sync::OnceLock<Arc<crate::serve::metrics::Metrics>>,
}

fn located(url: &str, what: &str, path: &str) -> String {
    let url = crate::reconcile::journal::redact_userinfo(url);
    if path.is_empty() {
        format!("{url} {what}")
    } else {
        format!("{url} {what} /{path}")
    }
}

impl Gate {
    /// Builds the registry client over a validated config (whose trust files are already
    /// parsed).
    ///
    /// # Errors
    /// [`SetupError`] for invalid registry settings.
    pub fn new(config: GateConfig) -> Result<Self, SetupError> {
        Self::with_observer(config, None)
    }

    /// [`Gate::new`] with an observer of every registry request (for metrics).
    ///
    /// # Errors
    /// As [`Gate::new`].
    pub fn with_observer(
        config: GateConfig,
        observer: Option<crate::edge::registry::http::Observer>,
    ) -> Result<Self, SetupError> {
        Self::with_secrets(
            config,
            observer,
            &crate::policy::keysource::Resolved::default(),
        )
    }

    /// [`Gate::with_observer`] with the Kubernetes Secrets a `k8s://` summary key names
    /// already fetched ([`crate::edge::kube::fetch_secrets`]).
    ///
    /// # Errors
    /// As [`Gate::new`].
    pub fn with_secrets(
        config: GateConfig,
        observer: Option<crate::edge::registry::http::Observer>,
        secrets: &crate::policy::keysource::Resolved,
    ) -> Result<Self, SetupError> {
        let (trust, material) = match &config.source.verify_commits {
            None => (None, Vec::new()),
            Some(v) => (Some(v.trust.clone()), v.material.clone()),
        };
        let approvers = config.approval.approvers.clone();
        let registry = match &config.registry.oci_layout {
            Some(dir) => AnyRegistry::Layout(
                crate::edge::registry::layout::OciLayout::open(dir)
                    .map_err(SetupError::Registry)?,
            ),
            None => {
                let docker = crate::edge::registry::credentials::DockerConfig::load(
                    config.registry.docker_config.as_deref(),
                )
                .map_err(SetupError::DockerConfig)?;
                AnyRegistry::Http(
                    crate::edge::registry::http::HttpRegistry::new(
                        crate::edge::registry::http::HttpOptions {
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
        let open: RepoOpener = {
            let (dir, url, auth, timeout) = (
                config.state_dir.clone(),
                config.source.url.clone(),
                config.source.auth.clone(),
                config.source.timeout,
            );
            Arc::new(move || Repo::open(&dir, &url, auth.clone(), timeout))
        };
        let spec = GateSpec {
            source: SourceSpec {
                url: config.source.url.clone(),
                git_ref: config.source.git_ref.clone(),
                path: config.source.path.clone(),
                timeout: config.source.timeout,
                open,
            },
            policy_digest: config.policy_digest(),
            policies: config.policies.clone(),
            trust,
            trust_material: material,
            approval_required: config.approval.required,
            target: TargetSpec::Promote(config.promote.clone()),
            gather: GatherOptions {
                concurrency: config.registry.concurrency,
                max_attestation_bytes: config.max_sbom_size,
                tag_ttl: None,
            },
            cache_ttl: config.cache_ttl,
            trust_field: "source.verifyCommits",
            summary: config
                .summary
                .as_ref()
                .map(|s| summary_spec(s, &config.registry, secrets))
                .transpose()?,
            image_updates: config.image_updates.clone(),
        };
        let status = Status {
            source: Some(located(
                &config.source.url,
                &config.source.git_ref,
                &config.source.path,
            )),
            target: Some(located(
                &config.promote.url,
                &config.promote.branch,
                &config.promote.path,
            )),
            ..Status::default()
        };
        Ok(Self {
            cache: Cache::new(config.cache_ttl, config.negative_cache_ttl),
            config,
            spec,
            approvers,
            registry,
            status: Mutex::new(status),
            last_pass: Mutex::new(None),
            net_busy: Arc::new(AtomicBool::new(false)),
            verdicts: Mutex::new(BTreeMap::new()),
            journal: Arc::default(),
            metrics: std::sync::OnceLock::new(),
        })
    }

    /// Registry requests made so far.
    pub fn registry_requests(&self) -> u64 {
        self.registry.requests()
    }

    /// The current status (a copy).
    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `sealgate_image_verdicts` of the last report: every image, typed labels.
    pub fn image_verdicts(&self) -> Vec<(String, String, i64)> {
        self.verdicts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|((v, r), n)| (v.clone(), r.clone(), *n))
            .collect()
    }

    /// Counts what the reconcile core reports (image update scans) in `metrics`.
    pub fn use_metrics(&self, metrics: Arc<crate::serve::metrics::Metrics>) {
        let _ = self.metrics.set(metrics);
    }

    /// Carries `other`'s journal (history, timeline) over to this gate: a gate rebuilt from
    /// the same config (the demo, after its image store changed) keeps its history.
    pub fn continue_journal(&self, other: &Gate) {
        let j = other
            .journal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        *self.journal.lock().unwrap_or_else(PoisonError::into_inner) = j;
    }

    /// The gate as the release manager's page shows it.
    pub fn view(&self) -> crate::serve::page::GateView {
        let url = self.config.source.url.clone();
        let approve: Option<crate::serve::page::model::ApproveCommand> =
            self.config.approval.required.then(|| {
                Arc::new(move |rev: &str| {
                    format!("sealgate approve --repo {url} --key ~/.ssh/id_ed25519 {rev}")
                }) as crate::serve::page::model::ApproveCommand
            });
        crate::serve::page::GateView {
            name: self.config.name.clone(),
            status: self.status(),
            journal: self
                .journal
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            approve,
        }
    }

    /// One reconcile at instant `now` (seconds since the epoch). Updates the status.
    pub async fn reconcile(self: &Arc<Self>, now: i64) -> Outcome {
        let mut st = self.status();
        let outcome = reconcile::reconcile(&self.spec, self.as_ref(), &mut st, now).await;
        st.last_reconcile_time = Some(crate::base::time::format_rfc3339(now));
        *self.status.lock().unwrap_or_else(PoisonError::into_inner) = st;
        outcome
    }
}

impl Driver for Gate {
    fn registry(&self) -> &AnyRegistry {
        &self.registry
    }

    fn journal(&self) -> Option<Arc<Mutex<crate::reconcile::journal::Journal>>> {
        Some(self.journal.clone())
    }

    fn on_image_scan(
        &self,
        policies: &[crate::reconcile::status::ImageUpdateStatus],
        scan: &crate::reconcile::updates::Scan,
    ) {
        if let Some(m) = self.metrics.get() {
            m.image_scan(policies, scan);
        }
    }

    fn cache(&self) -> &Cache {
        &self.cache
    }

    fn git_busy(&self) -> Arc<AtomicBool> {
        self.net_busy.clone()
    }

    fn last_pass(&self) -> Option<(String, Instant)> {
        self.last_pass
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn remember_pass(&self, pass: Option<String>) {
        *self
            .last_pass
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = pass.map(|p| (p, Instant::now()));
    }

    /// A valid approval is the tag `sealgate/approved/<sha>`, pointing at the commit and
    /// signed by a key of the approvers file; fetched under the one-Git-operation guard.
    async fn approval(&self, spec: &GateSpec, commit: git2::Oid, now: i64) -> Approval {
        let name = format!("{APPROVAL_TAG_PREFIX}{commit}");
        let open = spec.source.open.clone();
        let wanted = name.clone();
        let tag = match reconcile::blocking(
            &self.net_busy,
            &Reason::GitFetchFailed,
            spec.net_deadline(),
            move || {
                let repo = open()?;
                repo.fetch_tags(APPROVAL_TAG_PREFIX)?;
                Ok(repo.tag(&wanted))
            },
        )
        .await
        {
            Ok(t) => t,
            Err(o) => return Approval::Failed(o),
        };
        let Some((raw, target)) = tag else {
            return Approval::Waiting(format!(
                "no approval tag {name} (sealgate approve --repo {} {commit})",
                spec.source.url
            ));
        };
        if target != commit {
            return Approval::Waiting(format!("{name} points at {target}, not {commit}"));
        }
        let Some((data, sig)) = git_signature::split_tag(&raw) else {
            return Approval::Waiting(format!("{name} is not signed"));
        };
        let trust = SignerTrust {
            ssh: self.approvers.clone(),
            openpgp: None,
        };
        match git_signature::verify(&trust, sig, data, now) {
            SignatureCheck::Verified { signer, .. } => {
                Approval::Approved(format!("approved by {signer}"))
            }
            SignatureCheck::NotSigned => Approval::Waiting(format!("{name} is not signed")),
            SignatureCheck::SignerNotAllowed { detail } => {
                Approval::Waiting(format!("{name} is not signed by an approver: {detail}"))
            }
            SignatureCheck::Invalid { detail } => {
                Approval::Waiting(format!("{name} has an invalid signature: {detail}"))
            }
        }
    }

    fn approve_hint(&self, revision: &str) -> String {
        format!(
            "the tag {APPROVAL_TAG_PREFIX}{revision}: sealgate approve --repo {} {revision}",
            self.config.source.url
        )
    }

    /// The deploy repository is reached with the source's credentials (the same forge,
    /// usually the same repository).
    async fn target_repo(&self, _spec: &GateSpec) -> Result<RepoOpener, Outcome> {
        let (dir, url, auth, timeout) = (
            self.config.state_dir.clone(),
            self.config.promote.url.clone(),
            self.config.source.auth.clone(),
            self.config.source.timeout,
        );
        Ok(Arc::new(move || {
            Repo::open(&dir, &url, auth.clone(), timeout)
        }))
    }

    async fn apply(
        &self,
        _spec: &GateSpec,
        _commit: &str,
        _files: Files,
        _st: &mut Status,
        _stamp: &str,
    ) -> Outcome {
        Outcome::failed(
            &Reason::InvalidSpec,
            "the standalone gate promotes to a deploy branch; apply needs the controller",
        )
    }

    fn on_report(&self, report: &Report) {
        *self.verdicts.lock().unwrap_or_else(PoisonError::into_inner) =
            reconcile::image_verdict_counts(report);
    }

    fn progress(&self, st: &Status) {
        *self.status.lock().unwrap_or_else(PoisonError::into_inner) = st.clone();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::crypto::PrivateKey;
    use crate::policy::keysource::{KeySource, Resolved, SecretKeys};
    use crate::standalone::config::{RegistryConfig, SummaryConfig};

    fn registry() -> RegistryConfig {
        RegistryConfig {
            docker_config: None,
            insecure: Vec::new(),
            oci_layout: None,
            concurrency: 1,
            timeout: std::time::Duration::from_secs(1),
        }
    }

    #[test]
    fn a_k8s_summary_key_is_read_from_its_secret_with_its_password() {
        let key = PrivateKey::generate_p256().unwrap();
        let pem = key.to_encrypted_pem(b"s3cret").unwrap();
        let secret = |password: &[u8]| {
            let mut r = Resolved::default();
            r.secrets.insert(
                ("ops".into(), "gate-key".into()),
                SecretKeys {
                    public: None,
                    private: Some(pem.clone()),
                    password: Some(password.to_vec()),
                },
            );
            r
        };
        let c = SummaryConfig {
            key: KeySource::Kubernetes {
                namespace: "ops".into(),
                name: "gate-key".into(),
            },
            password_env: "SEALGATE_TEST_NEVER_SET".into(),
            verifier_id: "https://sealgate.dev/gate/prod".into(),
            attach_to_images: false,
        };
        let s = summary_spec(&c, &registry(), &secret(b"s3cret")).unwrap();
        let crate::edge::kms::Signer::Local(read) = s.key.as_ref() else {
            panic!("a Secret's key is a local key");
        };
        assert_eq!(read.public_key().to_pem(), key.public_key().to_pem());
        assert_eq!(s.verifier_id, "https://sealgate.dev/gate/prod");
        assert!(s.attach.is_none());
        // a wrong password, a Secret that was not fetched: errors naming the key
        for r in [secret(b"wrong"), Resolved::default()] {
            let e = summary_spec(&c, &registry(), &r).err().unwrap().to_string();
            assert!(e.starts_with("summary.key: "), "{e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
    }
}
