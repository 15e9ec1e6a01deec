//! `GateConfig`: the standalone gate's configuration (`sealgate run --config FILE`), parsed
//! once into a validated [`GateConfig`] — policies compiled, durations parsed, paths
//! resolved against the config file's directory, commit-signer trust loaded. Secrets are
//! never held here: a token is read from its environment variable or file when a fetch
//! needs it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::policy::{self, Policy};

/// Largest config file read.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Why a config could not be loaded: the file, the field and the problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read config")]
    ReadFailed {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {path}: {message}")]
    Invalid {
        file: PathBuf,
        path: String,
        message: String,
    },
    #[error("{file}: policies")]
    Policy {
        file: PathBuf,
        #[source]
        source: policy::PolicyError,
    },
}

// ---------------------------------------------------------------------------------------
// Raw schema

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Raw {
    api_version: String,
    kind: String,
    source: RawSource,
    policies: Vec<String>,
    #[serde(default)]
    registry: RawRegistry,
    target: RawTarget,
    #[serde(default)]
    approval: RawApproval,
    #[serde(default)]
    listen: Option<String>,
    #[serde(default)]
    webhook: Option<RawWebhook>,
    #[serde(default)]
    cache: RawCache,
    #[serde(default)]
    state_dir: Option<String>,
    #[serde(default)]
    max_sbom_size: Option<u64>,
    #[serde(default)]
    metadata: Option<RawMetadata>,
    #[serde(default)]
    summary: Option<RawSummary>,
    #[serde(default)]
    image_updates: Option<crate::updates::ImageUpdatesSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetadata {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSummary {
    key: String,
    #[serde(default)]
    password_env: Option<String>,
    #[serde(default)]
    verifier_id: Option<String>,
    #[serde(default)]
    attach_to_images: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSource {
    url: String,
    #[serde(rename = "ref", default)]
    git_ref: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    auth: Option<RawAuth>,
    #[serde(default)]
    verify_commits: Option<RawVerifyCommits>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawAuth {
    #[serde(default)]
    token_env: Option<String>,
    #[serde(default)]
    token_file: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    ssh_key_file: Option<String>,
    #[serde(default)]
    known_hosts_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawVerifyCommits {
    #[serde(default)]
    allowed_signers_file: Option<String>,
    #[serde(default)]
    gpg_key_files: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRegistry {
    #[serde(default)]
    docker_config: Option<String>,
    #[serde(default)]
    insecure: Vec<String>,
    #[serde(default)]
    oci_layout: Option<String>,
    #[serde(default)]
    concurrency: Option<usize>,
    #[serde(default)]
    timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawTarget {
    promote: RawPromote,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPromote {
    #[serde(default)]
    url: Option<String>,
    branch: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    author: Option<RawAuthor>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuthor {
    name: String,
    email: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawApproval {
    #[serde(default)]
    required: bool,
    #[serde(default)]
    approvers_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawWebhook {
    #[serde(default)]
    secret_env: Option<String>,
    #[serde(default)]
    secret_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawCache {
    #[serde(default)]
    ttl: Option<String>,
    #[serde(default)]
    negative_ttl: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Validated config

pub use crate::edge::source::git::GitAuth;

use crate::crypto::git_signature::{AllowedSigners, OpenPgpKeys, SignerTrust};

/// Reads one trust file named by `field` (bounded, regular files only).
fn read_trust(file: &Path, field: &str, path: &Path) -> Result<String, ConfigError> {
    crate::base::files::read_regular_string(path, crate::base::files::MAX_SMALL_FILE)
        .map_err(|e| bad_trust(file, field, path, &e))
}

fn bad_trust(file: &Path, field: &str, path: &Path, e: &dyn std::error::Error) -> ConfigError {
    ConfigError::Invalid {
        file: file.to_path_buf(),
        path: field.to_string(),
        message: format!("{}: {}", path.display(), crate::base::error::chain(e)),
    }
}

/// Reads and parses the commit-signer trust files.
fn load_verify_commits(
    file: &Path,
    allowed_signers_file: Option<PathBuf>,
    gpg_key_files: Vec<PathBuf>,
) -> Result<VerifyCommits, ConfigError> {
    const SSH: &str = "source.verifyCommits.allowedSignersFile";
    const GPG: &str = "source.verifyCommits.gpgKeyFiles";
    let mut material = Vec::new();
    let ssh = match &allowed_signers_file {
        None => None,
        Some(f) => {
            let text = read_trust(file, SSH, f)?;
            material.extend_from_slice(text.as_bytes());
            Some(AllowedSigners::parse(&text).map_err(|e| bad_trust(file, SSH, f, &e))?)
        }
    };
    let openpgp = if gpg_key_files.is_empty() {
        None
    } else {
        let blocks = gpg_key_files
            .iter()
            .map(|f| read_trust(file, GPG, f))
            .collect::<Result<Vec<_>, _>>()?;
        blocks
            .iter()
            .for_each(|b| material.extend_from_slice(b.as_bytes()));
        let first = gpg_key_files.first().cloned().unwrap_or_default();
        Some(OpenPgpKeys::parse_armored(&blocks).map_err(|e| bad_trust(file, GPG, &first, &e))?)
    };
    Ok(VerifyCommits {
        allowed_signers_file,
        gpg_key_files,
        trust: Arc::new(SignerTrust { ssh, openpgp }),
        material,
    })
}

/// Commit-signature requirements of the source, with the trust files read and parsed once
/// here (the gate does not read them again).
#[derive(Debug, Clone, Default)]
pub struct VerifyCommits {
    pub allowed_signers_file: Option<PathBuf>,
    pub gpg_key_files: Vec<PathBuf>,
    /// The parsed SSH allowed signers and OpenPGP keys.
    pub trust: Arc<SignerTrust>,
    /// The trust files' bytes, in order: part of the status-as-cache key, so a changed
    /// trust file re-verifies an unchanged revision.
    pub material: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub url: String,
    /// Branch or tag name (`main`, `refs/heads/main`, `v1.2.0`).
    pub git_ref: String,
    /// Sub-path with the manifests, relative to the repository root ("" = root).
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub auth: GitAuth,
    pub verify_commits: Option<VerifyCommits>,
}

#[derive(Debug, Clone)]
pub struct RegistryConfig {
    pub docker_config: Option<PathBuf>,
    pub insecure: Vec<String>,
    /// Images and signatures come from this OCI layout instead of the network.
    pub oci_layout: Option<PathBuf>,
    pub concurrency: usize,
    pub timeout: Duration,
}

/// The deploy branch (the reconcile core's promote target).
pub use crate::reconcile::PromoteSpec as PromoteConfig;

#[derive(Debug, Clone)]
pub struct ApprovalConfig {
    pub required: bool,
    pub approvers_file: Option<PathBuf>,
    /// The approvers file, parsed once.
    pub approvers: Option<AllowedSigners>,
}

/// Signed verification summaries (`summary:`): the key is read when the gate starts.
#[derive(Debug, Clone)]
pub struct SummaryConfig {
    /// The encrypted private key (a file, `env://NAME` or `k8s://NS/NAME`, cosign or
    /// sealgate format).
    pub key: crate::policy::keysource::KeySource,
    /// The variable holding the key's password (`COSIGN_PASSWORD`).
    pub password_env: String,
    pub verifier_id: String,
    /// Also attach the summary to each image (`.att` layer, predicate type annotated).
    pub attach_to_images: bool,
}

/// A validated gate configuration.
#[derive(Debug, Clone)]
pub struct GateConfig {
    pub file: PathBuf,
    /// `metadata.name` (default: the config file's stem).
    pub name: String,
    pub summary: Option<SummaryConfig>,
    pub source: SourceConfig,
    pub policy_paths: Vec<PathBuf>,
    pub policies: Vec<Policy>,
    pub registry: RegistryConfig,
    pub promote: PromoteConfig,
    pub approval: ApprovalConfig,
    pub listen: String,
    /// Where the webhook secret is read from (env var name or file); none = webhook off.
    pub webhook_secret_env: Option<String>,
    pub webhook_secret_file: Option<PathBuf>,
    pub cache_ttl: Duration,
    pub negative_cache_ttl: Duration,
    /// Cached bare repositories live here.
    pub state_dir: PathBuf,
    pub max_sbom_size: u64,
    /// `imageUpdates`: verified image automation (docs/updates.md).
    pub image_updates: Option<std::sync::Arc<crate::updates::ImageUpdates>>,
}

impl GateConfig {
    /// The policies' digest ([`crate::policy::digest`]): the `Sealgate-Policy` trailer.
    pub fn policy_digest(&self) -> String {
        crate::policy::digest(&self.policies)
    }
}

/// Loads and validates a config file (and the policies it names).
///
/// # Errors
/// [`ConfigError`] naming the file, the field and the problem.
pub fn load(file: &Path) -> Result<GateConfig, ConfigError> {
    let invalid = |path: &str, message: String| ConfigError::Invalid {
        file: file.to_path_buf(),
        path: path.to_string(),
        message,
    };
    let text = match crate::base::files::read_regular_string(file, MAX_CONFIG_BYTES) {
        Ok(t) => t,
        Err(crate::base::files::FileError::TooLarge { .. }) => {
            return Err(invalid(
                "(file)",
                format!("larger than {MAX_CONFIG_BYTES} bytes"),
            ));
        }
        Err(e) => {
            return Err(ConfigError::ReadFailed {
                file: file.to_path_buf(),
                source: e.into_io(),
            });
        }
    };
    let value: serde_json::Value =
        serde_saphyr::from_str(&text).map_err(|e| invalid("(document)", e.to_string()))?;
    let raw: Raw = serde_path_to_error::deserialize(value).map_err(|e| {
        let p = e.path().to_string();
        invalid(
            if p == "." { "(document)" } else { &p },
            e.into_inner().to_string(),
        )
    })?;
    let base = file.parent().unwrap_or(Path::new("."));
    compile(raw, file, base)
}

fn duration(
    v: Option<&str>,
    default: Duration,
    path: &str,
    invalid: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Duration, ConfigError> {
    match v {
        None => Ok(default),
        Some(s) => crate::base::time::parse_duration(s)
            .map(Duration::from_secs)
            .map_err(|m| invalid(path, m.to_string())),
    }
}

/// `~/x` and relative paths resolved (relative to the config file's directory).
fn resolve(base: &Path, p: &str) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    let path = Path::new(p);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// Normalizes a repository sub-path: no leading/trailing `/`, no `.`/`..` segments.
fn sub_path(p: Option<&str>) -> Result<String, String> {
    let p = p.unwrap_or("").trim();
    let mut parts = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => return Err(format!("{p:?}: `..` is not allowed")),
            s => parts.push(s),
        }
    }
    Ok(parts.join("/"))
}

fn compile(raw: Raw, file: &Path, base: &Path) -> Result<GateConfig, ConfigError> {
    let invalid = |path: &str, message: String| ConfigError::Invalid {
        file: file.to_path_buf(),
        path: path.to_string(),
        message,
    };
    if raw.api_version != "sealgate.dev/v1alpha1" {
        return Err(invalid(
            "apiVersion",
            format!("expected sealgate.dev/v1alpha1, got {:?}", raw.api_version),
        ));
    }
    if raw.kind != "GateConfig" {
        return Err(invalid(
            "kind",
            format!("expected GateConfig, got {:?}", raw.kind),
        ));
    }
    // source
    let s = raw.source;
    let url = s.url.trim().to_string();
    let scheme_ok = ["file://", "git://", "https://", "http://", "ssh://"]
        .iter()
        .any(|p| url.starts_with(p))
        || (url.contains('@') && url.contains(':') && !url.contains("://"));
    if !scheme_ok {
        return Err(invalid(
            "source.url",
            format!("{url:?}: expected file://, git://, https://, ssh:// or user@host:path"),
        ));
    }
    let git_ref = s
        .git_ref
        .unwrap_or_else(|| "main".into())
        .trim()
        .to_string();
    if git_ref.is_empty() || git_ref.contains("..") || git_ref.contains(' ') {
        return Err(invalid("source.ref", format!("{git_ref:?} is not a ref")));
    }
    let path = sub_path(s.path.as_deref()).map_err(|m| invalid("source.path", m))?;
    let interval = duration(
        s.interval.as_deref(),
        Duration::from_secs(60),
        "source.interval",
        &invalid,
    )?;
    if interval < Duration::from_secs(1) {
        return Err(invalid("source.interval", "must be at least 1s".into()));
    }
    let timeout = duration(
        s.timeout.as_deref(),
        Duration::from_secs(60),
        "source.timeout",
        &invalid,
    )?;
    let auth = match s.auth {
        None => GitAuth::None,
        Some(a) => match (
            a.token_env,
            a.token_file,
            a.ssh_key_file,
            a.known_hosts_file,
        ) {
            (Some(env), None, None, None) => GitAuth::Token {
                env: Some(env),
                file: None,
                username: a.username.unwrap_or_else(|| "x-access-token".into()),
            },
            (None, Some(f), None, None) => GitAuth::Token {
                env: None,
                file: Some(resolve(base, &f)),
                username: a.username.unwrap_or_else(|| "x-access-token".into()),
            },
            (None, None, Some(k), Some(h)) => GitAuth::Ssh {
                key_file: resolve(base, &k),
                known_hosts: resolve(base, &h),
                username: a.username,
            },
            (None, None, Some(_), None) => {
                return Err(invalid(
                    "source.auth.knownHostsFile",
                    "an SSH key needs a known_hosts file: host keys are always checked".into(),
                ));
            }
            _ => {
                return Err(invalid(
                    "source.auth",
                    "set one of tokenEnv, tokenFile, or sshKeyFile with knownHostsFile".into(),
                ));
            }
        },
    };
    let verify_commits = match s.verify_commits {
        None => None,
        Some(v) => {
            if v.allowed_signers_file.is_none() && v.gpg_key_files.is_empty() {
                return Err(invalid(
                    "source.verifyCommits",
                    "needs allowedSignersFile or gpgKeyFiles".into(),
                ));
            }
            Some(load_verify_commits(
                file,
                v.allowed_signers_file.map(|f| resolve(base, &f)),
                v.gpg_key_files.iter().map(|f| resolve(base, f)).collect(),
            )?)
        }
    };
    // policies
    if raw.policies.is_empty() {
        return Err(invalid(
            "policies",
            "needs at least one policy file or directory".into(),
        ));
    }
    let policy_paths: Vec<PathBuf> = raw.policies.iter().map(|p| resolve(base, p)).collect();
    let mut policies: Vec<Policy> = Vec::new();
    for p in &policy_paths {
        for pol in policy::load(p).map_err(|source| ConfigError::Policy {
            file: file.to_path_buf(),
            source,
        })? {
            if policies.iter().any(|q| q.name == pol.name) {
                return Err(invalid(
                    "policies",
                    format!("two policies are named {:?}", pol.name),
                ));
            }
            policies.push(pol);
        }
    }
    // registry
    let r = raw.registry;
    let registry = RegistryConfig {
        docker_config: r.docker_config.map(|d| resolve(base, &d)),
        insecure: r.insecure,
        oci_layout: r.oci_layout.map(|d| resolve(base, &d)),
        concurrency: r.concurrency.unwrap_or(16).max(1),
        timeout: duration(
            r.timeout.as_deref(),
            Duration::from_secs(30),
            "registry.timeout",
            &invalid,
        )?,
    };
    // target
    let t = raw.target.promote;
    if t.branch.trim().is_empty() || t.branch.contains("..") || t.branch.contains(' ') {
        return Err(invalid(
            "target.promote.branch",
            format!("{:?} is not a branch name", t.branch),
        ));
    }
    let target_url = t.url.unwrap_or_else(|| url.clone());
    let branch = t
        .branch
        .trim()
        .trim_start_matches("refs/heads/")
        .to_string();
    if target_url == url && (branch == git_ref || format!("refs/heads/{branch}") == git_ref) {
        return Err(invalid(
            "target.promote.branch",
            "the deploy branch must differ from the watched ref".into(),
        ));
    }
    let (author_name, author_email) = match t.author {
        Some(a) => (a.name, a.email),
        None => ("sealgate".into(), "sealgate@localhost".into()),
    };
    let promote = PromoteConfig {
        url: target_url,
        branch,
        path: sub_path(t.path.as_deref()).map_err(|m| invalid("target.promote.path", m))?,
        author_name,
        author_email,
    };
    let approvers_file = raw.approval.approvers_file.map(|f| resolve(base, &f));
    let approvers = match &approvers_file {
        None => None,
        Some(f) => {
            const FIELD: &str = "approval.approversFile";
            let text = read_trust(file, FIELD, f)?;
            Some(AllowedSigners::parse(&text).map_err(|e| bad_trust(file, FIELD, f, &e))?)
        }
    };
    let approval = ApprovalConfig {
        required: raw.approval.required,
        approvers_file,
        approvers,
    };
    if approval.required && approval.approvers_file.is_none() {
        return Err(invalid(
            "approval.approversFile",
            "approval.required needs an approvers allowed_signers file".into(),
        ));
    }
    let (webhook_secret_env, webhook_secret_file) = match raw.webhook {
        None => (None, None),
        Some(RawWebhook {
            secret_env: Some(e),
            secret_file: None,
        }) => (Some(e), None),
        Some(RawWebhook {
            secret_env: None,
            secret_file: Some(f),
        }) => (None, Some(resolve(base, &f))),
        Some(_) => {
            return Err(invalid(
                "webhook",
                "set exactly one of secretEnv or secretFile".into(),
            ));
        }
    };
    let name = match raw.metadata {
        Some(m) => m.name.trim().to_string(),
        None => file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "gate".into()),
    };
    if name.is_empty() || name.len() > 253 {
        return Err(invalid("metadata.name", format!("{name:?} is not a name")));
    }
    let image_updates = match &raw.image_updates {
        None => None,
        Some(u) => Some(std::sync::Arc::new(
            u.compile("imageUpdates", |d| {
                crate::base::time::parse_duration(d)
                    .ok()
                    .map(Duration::from_secs)
            })
            .map_err(|e| invalid(&e.field, e.message))?,
        )),
    };
    let summary = match raw.summary {
        None => None,
        Some(s) => {
            let key = crate::policy::keysource::KeySource::parse(s.key.trim(), base)
                .map_err(|e| invalid("summary.key", crate::base::error::chain(&e)))?;
            let verifier_id = s
                .verifier_id
                .map(|v| v.trim().to_string())
                .unwrap_or_else(|| crate::reconcile::default_verifier_id(&name));
            if verifier_id.is_empty() {
                return Err(invalid("summary.verifierId", "must not be empty".into()));
            }
            Some(SummaryConfig {
                key,
                password_env: s.password_env.unwrap_or_else(|| "COSIGN_PASSWORD".into()),
                verifier_id,
                attach_to_images: s.attach_to_images,
            })
        }
    };
    let state_dir = match raw.state_dir {
        Some(d) => resolve(base, &d),
        None => std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir)
            .join("sealgate"),
    };
    Ok(GateConfig {
        file: file.to_path_buf(),
        name,
        summary,
        image_updates,
        source: SourceConfig {
            url,
            git_ref,
            path,
            interval,
            timeout,
            auth,
            verify_commits,
        },
        policy_paths,
        policies,
        registry,
        promote,
        approval,
        listen: raw.listen.unwrap_or_else(|| "127.0.0.1:9090".into()),
        webhook_secret_env,
        webhook_secret_file,
        cache_ttl: duration(
            raw.cache.ttl.as_deref(),
            Duration::from_secs(600),
            "cache.ttl",
            &invalid,
        )?,
        negative_cache_ttl: duration(
            raw.cache.negative_ttl.as_deref(),
            Duration::from_secs(60),
            "cache.negativeTtl",
            &invalid,
        )?,
        state_dir,
        max_sbom_size: raw
            .max_sbom_size
            .unwrap_or(crate::attest::DEFAULT_MAX_STATEMENT_BYTES),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, body: &str) -> PathBuf {
        std::fs::write(
            dir.join("policy.yaml"),
            "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: p}\nspec:\n  unmatched: allow\n",
        )
        .unwrap();
        let f = dir.join("gate.yaml");
        std::fs::write(&f, body).unwrap();
        f
    }

    const BASE: &str = "apiVersion: sealgate.dev/v1alpha1\nkind: GateConfig\nsource:\n  url: file:///srv/apps.git\n  path: deploy/prod/\npolicies: [policy.yaml]\ntarget:\n  promote: {branch: deploy/prod}\n";

    #[test]
    fn loads_with_defaults_relative_to_the_file() {
        let d = tempfile::tempdir().unwrap();
        let c = load(&write(d.path(), BASE)).unwrap();
        assert_eq!(c.source.git_ref, "main");
        assert_eq!(c.source.path, "deploy/prod");
        assert_eq!(c.source.interval, Duration::from_secs(60));
        assert_eq!(c.promote.url, "file:///srv/apps.git");
        assert_eq!(c.promote.path, "");
        assert_eq!(c.policies.len(), 1);
        assert_eq!(c.policy_paths[0], d.path().join("policy.yaml"));
        assert!(c.policy_digest().starts_with("sha256:"));
        assert_eq!(c.listen, "127.0.0.1:9090");
        assert_eq!(c.name, "gate");
        assert!(c.summary.is_none());
    }

    #[test]
    fn summaries_name_the_gate_and_read_keys_from_files_or_the_environment() {
        let d = tempfile::tempdir().unwrap();
        let c = load(&write(
            d.path(),
            &format!("{BASE}metadata: {{name: prod}}\nsummary: {{key: keys/gate.key}}\n"),
        ))
        .unwrap();
        let s = c.summary.unwrap();
        assert_eq!(s.verifier_id, "https://sealgate.dev/gate/prod");
        assert_eq!(s.password_env, "COSIGN_PASSWORD");
        assert_eq!(
            s.key,
            crate::policy::keysource::KeySource::File(d.path().join("keys/gate.key"))
        );
        let c = load(&write(
            d.path(),
            &format!("{BASE}summary: {{key: env://GATE_KEY, verifierId: https://ci.example/gate, passwordEnv: GATE_PW}}\n"),
        ))
        .unwrap();
        let s = c.summary.unwrap();
        assert_eq!(s.verifier_id, "https://ci.example/gate");
        assert_eq!(s.password_env, "GATE_PW");
        assert_eq!(
            s.key,
            crate::policy::keysource::KeySource::Env("GATE_KEY".into())
        );
    }

    #[test]
    fn errors_name_the_field() {
        let d = tempfile::tempdir().unwrap();
        for (body, path) in [
            (BASE.replace("file:///srv", "ftp://x"), "source.url"),
            (BASE.replace("deploy/prod/\n", "../etc\n"), "source.path"),
            (format!("{BASE}source2: 1\n"), "source2"),
            (
                BASE.replace("{branch: deploy/prod}", "{branch: main}"),
                "target.promote.branch",
            ),
            (
                format!("{BASE}approval: {{required: true}}\n"),
                "approval.approversFile",
            ),
            (
                BASE.replace(
                    "  path: deploy/prod/\n",
                    "  path: x\n  auth: {sshKeyFile: k}\n",
                ),
                "source.auth.knownHostsFile",
            ),
            (
                BASE.replace("  path: deploy/prod/\n", "  path: x\n  interval: soon\n"),
                "source.interval",
            ),
            (
                format!("{BASE}summary: {{key: 'https://x/k'}}\n"),
                "summary.key",
            ),
            (format!("{BASE}metadata: {{name: ' '}}\n"), "metadata.name"),
        ] {
            match load(&write(d.path(), &body)) {
                Err(ConfigError::Invalid { path: p, .. }) => assert_eq!(p, path, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}
