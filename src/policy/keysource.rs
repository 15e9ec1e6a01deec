//! Where a key comes from, as cosign names it: inline PEM, a file path, `env://NAME` (the PEM in an
//! environment variable, as CI secrets are usually exposed), `k8s://namespace/name` (a
//! Kubernetes Secret with `cosign.pub` / `cosign.key` / `cosign.password`, as `cosign
//! generate-key-pair k8s://…` writes it), `hashivault://NAME` (a Vault transit key) or
//! `awskms://[HOST:PORT]/KEY` (an AWS KMS key), used through [`crate::edge::kms`]; cosign's
//! other KMS schemes are refused as not supported.
//! Used by policy `key.path` and by `--key` flags.
//! Reads happen once, at start-up: Secrets are fetched first
//! ([`crate::edge::kube::fetch_secrets`]), then every reference resolves from memory
//! ([`Resolved`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Largest key file or variable accepted.
const MAX_KEY_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The PEM text itself (`-----BEGIN …`).
    Inline(String),
    File(PathBuf),
    Env(String),
    Kubernetes {
        namespace: String,
        name: String,
    },
    /// A key in a key manager (`hashivault://NAME`).
    Kms(KmsUri),
}

/// A key manager key, named as cosign names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsUri {
    /// `hashivault://NAME`: a Vault / OpenBao transit key.
    HashiVault { key: String },
    /// `awskms://[HOST:PORT]/KEY`: an AWS KMS key — a key id, `alias/NAME`, or a key or
    /// alias ARN — at an endpoint of its own when `HOST:PORT` is given.
    AwsKms {
        endpoint: Option<String>,
        key: String,
    },
}

/// How the edge logs in to the key manager for a policy's keys (`spec.kms.auth`); `None`
/// in a cell: the front end's own token (`VAULT_TOKEN`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KmsAuth {
    /// Vault Kubernetes auth: `POST /v1/auth/<mount>/login` with the service-account token.
    Kubernetes {
        role: String,
        mount_path: String,
        token_path: PathBuf,
    },
    /// Vault AppRole: `POST /v1/auth/<mount>/login` with the role id and the secret id
    /// read from the file.
    AppRole {
        role_id: String,
        secret_id_file: PathBuf,
        mount_path: String,
    },
}

/// Where a pod's service-account token is (the default `tokenPath`).
pub const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

impl std::fmt::Display for KmsUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::HashiVault { key } => write!(f, "hashivault://{key}"),
            Self::AwsKms { endpoint, key } => {
                write!(f, "awskms://{}/{key}", endpoint.as_deref().unwrap_or(""))
            }
        }
    }
}

/// The public keys of a key manager key as an edge last read them
/// ([`crate::edge::kms::activate`]): every compiled attestor naming the key holds the same
/// cell, refreshed in place, so a long-running front end sees a rotation — and a retired
/// version stop counting — within the TTL, without recompiling its policies. Keys count
/// until their TTL runs out; after that (the key manager unreachable since) or before a
/// first read, [`KmsKeys::current`] says why they cannot be used and the images verify as
/// `KeyUnavailable`, never as passed.
#[derive(Debug)]
pub struct KmsKeys {
    pub uri: KmsUri,
    /// The policy's `spec.kms.auth`.
    pub auth: Option<KmsAuth>,
    state: std::sync::RwLock<KmsState>,
    /// Set once the edge keeps the cell fresh (a refresher task holds it).
    activated: std::sync::atomic::AtomicBool,
}

#[derive(Debug)]
struct KmsState {
    keys: std::sync::Arc<[crate::crypto::PublicKey]>,
    /// When the keys stop counting (`None`: never read).
    expires: Option<std::time::Instant>,
    read_at: Option<std::time::Instant>,
    /// Why the last read failed, when it did.
    error: Option<String>,
}

impl KmsKeys {
    pub fn new(uri: KmsUri, auth: Option<KmsAuth>) -> Self {
        Self {
            uri,
            auth,
            activated: std::sync::atomic::AtomicBool::new(false),
            state: std::sync::RwLock::new(KmsState {
                keys: std::sync::Arc::from(Vec::new()),
                expires: None,
                read_at: None,
                error: None,
            }),
        }
    }

    fn state(&self) -> std::sync::RwLockReadGuard<'_, KmsState> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A successful read: `keys` count for `ttl` from now.
    pub fn store(&self, keys: Vec<crate::crypto::PublicKey>, ttl: std::time::Duration) {
        let now = std::time::Instant::now();
        let mut s = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.keys = keys.into();
        s.read_at = Some(now);
        s.expires = now.checked_add(ttl);
        s.error = None;
    }

    /// Takes what `other` (a cell of the same key) has read.
    pub fn copy_from(&self, other: &KmsKeys) {
        let (keys, expires, read_at, error) = {
            let o = other.state();
            (o.keys.clone(), o.expires, o.read_at, o.error.clone())
        };
        let mut s = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.keys = keys;
        s.expires = expires;
        s.read_at = read_at;
        s.error = error;
    }

    /// A failed read: the keys read before still count until they expire.
    pub fn failed(&self, why: String) {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .error = Some(why);
    }

    /// The keys that count now, or why there are none.
    ///
    /// # Errors
    /// The reason message (never read, or expired with the key manager unreachable since).
    pub fn current(&self) -> Result<std::sync::Arc<[crate::crypto::PublicKey]>, String> {
        let s = self.state();
        let now = std::time::Instant::now();
        match (s.expires, s.read_at) {
            (Some(t), _) if now < t => Ok(s.keys.clone()),
            (_, Some(read)) => Err(format!(
                "{}: the public keys read {}s ago have expired and cannot be read again: {}",
                self.uri,
                now.saturating_duration_since(read).as_secs(),
                s.error.as_deref().unwrap_or("not read since")
            )),
            (_, None) => Err(format!(
                "{}: the public keys cannot be read: {}",
                self.uri,
                s.error.as_deref().unwrap_or("not read yet")
            )),
        }
    }

    /// Whether the edge keeps this cell fresh already.
    pub fn is_activated(&self) -> bool {
        self.activated.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Marks the cell as kept fresh; `false` when it already was.
    pub fn mark_activated(&self) -> bool {
        !self
            .activated
            .swap(true, std::sync::atomic::Ordering::AcqRel)
    }

    /// When the keys were last read.
    pub fn read_at(&self) -> Option<std::time::Instant> {
        self.state().read_at
    }
}

/// Whether `s` can be a key manager key name: one URL path segment of letters, digits,
/// `-`, `_` and `.` (not `.` or `..`), at most 128 bytes — what Vault takes for a transit
/// key or mount name.
pub fn is_key_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Key manager schemes cosign knows that sealgate does not support (yet).
const UNSUPPORTED_KMS: [&str; 3] = ["gcpkms://", "azurekms://", "gcp-kms://"];

/// `awskms://[HOST:PORT]/KEY` as cosign writes it: an endpoint of letters, digits, `.`, `-`
/// and one `:PORT`; a key id, `alias/NAME` or ARN of the characters AWS allows.
fn parse_awskms(rest: &str) -> Option<KmsUri> {
    let (host, key) = rest.split_once('/')?;
    let host_ok = host.len() <= 255
        && host.split(':').count() <= 2
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
    let key_ok = !key.is_empty()
        && key.len() <= 2048
        && !key
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b':' | b'.'));
    (host_ok && key_ok).then(|| KmsUri::AwsKms {
        endpoint: (!host.is_empty()).then(|| host.to_string()),
        key: key.to_string(),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum KeySourceError {
    #[error("{0:?} is not a key reference (a path, env://NAME or k8s://namespace/name)")]
    Invalid(String),
    #[error("{0}")]
    NotAllowed(String),
    #[error("{0}: this key manager is not supported yet (supported: hashivault://, awskms://)")]
    KmsUnsupported(String),
    #[error(
        "{0}: keys in a key manager are not usable here yet (export the public key with sealgate public-key --key {0} and name that file)"
    )]
    KmsNotHere(String),
    #[error("cannot read key file {path}")]
    ReadFailed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("key file {0} is larger than 1 MiB")]
    TooLarge(PathBuf),
    #[error("environment variable {0} is not set or not UTF-8")]
    EnvUnset(String),
    #[error("k8s://{namespace}/{name}: the Secret was not fetched")]
    KubernetesNotFetched { namespace: String, name: String },
    #[error("k8s://{namespace}/{name}: cannot read the Secret")]
    SecretFetchFailed {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("k8s://{namespace}/{name}: the Secret has no {key:?} entry")]
    SecretKeyMissing {
        namespace: String,
        name: String,
        key: &'static str,
    },
    #[error("cannot connect to Kubernetes (KUBECONFIG or in-cluster config)")]
    KubernetesUnavailable(#[source] kube::Error),
}

/// The cosign entries of a Kubernetes Secret.
#[derive(Clone, Default)]
pub struct SecretKeys {
    pub public: Option<String>,
    pub private: Option<String>,
    pub password: Option<Vec<u8>>,
}

impl std::fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SecretKeys {{ public: {}, private: {}, password: {} }}",
            self.public.is_some(),
            if self.private.is_some() {
                "<redacted>"
            } else {
                "none"
            },
            if self.password.is_some() {
                "<redacted>"
            } else {
                "none"
            }
        )
    }
}

/// What policies may refer to beyond their own files: Secrets fetched at start-up, by
/// (namespace, name), and the default Sigstore trusted root for keyless attestors without
/// their own `trustedRoot` (`--trusted-root`; else the built-in production root).
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    pub(crate) secrets: HashMap<(String, String), SecretKeys>,
    pub trusted_root: Option<std::sync::Arc<crate::sigstore::trust::TrustedRoot>>,
    /// Set when the policies come from custom resources (see [`ClusterScope`]).
    pub cluster: Option<ClusterScope>,
}

/// Restrictions on policies compiled from custom resources: files and environment
/// variables of the controller are never read (a tenant must not reach the controller's
/// filesystem), and a namespaced `ImagePolicy` may read only Secrets of its own namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterScope {
    /// The namespace `k8s://` keys must be in; `None` for a `ClusterImagePolicy`.
    pub namespace: Option<String>,
}

impl Resolved {
    /// Sets the default trusted root.
    #[must_use]
    pub fn with_trusted_root(
        mut self,
        root: std::sync::Arc<crate::sigstore::trust::TrustedRoot>,
    ) -> Self {
        self.trusted_root = Some(root);
        self
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<&SecretKeys> {
        self.secrets.get(&(namespace.to_string(), name.to_string()))
    }
}

impl KeySource {
    /// Parses a reference; relative file paths resolve against `base`.
    ///
    /// # Errors
    /// [`KeySourceError::Invalid`] for an empty or malformed reference.
    pub fn parse(s: &str, base: &Path) -> Result<Self, KeySourceError> {
        let invalid = || KeySourceError::Invalid(s.chars().take(40).collect());
        if s.trim_start().starts_with("-----BEGIN ") {
            return Ok(Self::Inline(s.to_string()));
        }
        if let Some(name) = s.strip_prefix("env://") {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(invalid());
            }
            return Ok(Self::Env(name.to_string()));
        }
        if let Some(rest) = s.strip_prefix("k8s://") {
            return match rest.split_once('/') {
                Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                    Ok(Self::Kubernetes {
                        namespace: ns.to_string(),
                        name: name.to_string(),
                    })
                }
                _ => Err(invalid()),
            };
        }
        if let Some(name) = s.strip_prefix("hashivault://") {
            if !is_key_name(name) {
                return Err(invalid());
            }
            return Ok(Self::Kms(KmsUri::HashiVault {
                key: name.to_string(),
            }));
        }
        if let Some(rest) = s.strip_prefix("awskms://") {
            return parse_awskms(rest).map(Self::Kms).ok_or_else(invalid);
        }
        if let Some(scheme) = UNSUPPORTED_KMS.iter().find(|p| s.starts_with(*p)) {
            return Err(KeySourceError::KmsUnsupported((*scheme).to_string()));
        }
        if s.is_empty() || s.contains("://") {
            return Err(invalid());
        }
        Ok(Self::File(base.join(s)))
    }

    /// The Secret this reference names, if it is one.
    pub fn kubernetes(&self) -> Option<(String, String)> {
        match self {
            Self::Kubernetes { namespace, name } => Some((namespace.clone(), name.clone())),
            _ => None,
        }
    }

    /// A public key: the file or variable, or the Secret's `cosign.pub`.
    ///
    /// # Errors
    /// [`KeySourceError`] when it cannot be read.
    pub fn read_public(&self, resolved: &Resolved) -> Result<String, KeySourceError> {
        self.read_entry(resolved, "cosign.pub", |s| s.public.clone())
    }

    /// A private key: the file or variable, or the Secret's `cosign.key` (with its
    /// `cosign.password`, when present).
    ///
    /// # Errors
    /// [`KeySourceError`] when it cannot be read.
    pub fn read_private(
        &self,
        resolved: &Resolved,
    ) -> Result<(String, Option<Vec<u8>>), KeySourceError> {
        let pem = self.read_entry(resolved, "cosign.key", |s| s.private.clone())?;
        let password = match self {
            Self::Kubernetes { namespace, name } => resolved
                .get(namespace, name)
                .and_then(|s| s.password.clone()),
            _ => None,
        };
        Ok((pem, password))
    }

    fn read_entry(
        &self,
        resolved: &Resolved,
        key: &'static str,
        pick: impl Fn(&SecretKeys) -> Option<String>,
    ) -> Result<String, KeySourceError> {
        match self {
            Self::Kubernetes { namespace, name } => {
                let s = resolved.get(namespace, name).ok_or_else(|| {
                    KeySourceError::KubernetesNotFetched {
                        namespace: namespace.clone(),
                        name: name.clone(),
                    }
                })?;
                pick(s).ok_or_else(|| KeySourceError::SecretKeyMissing {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    key,
                })
            }
            _ => self.read(),
        }
    }

    /// Reads the PEM text of a file or environment variable.
    ///
    /// # Errors
    /// [`KeySourceError`] when it cannot be read.
    pub fn read(&self) -> Result<String, KeySourceError> {
        match self {
            Self::Inline(pem) => Ok(pem.clone()),
            Self::File(path) => {
                match crate::base::files::read_regular_string(path, MAX_KEY_BYTES) {
                    Ok(t) => Ok(t),
                    Err(crate::base::files::FileError::TooLarge { .. }) => {
                        Err(KeySourceError::TooLarge(path.clone()))
                    }
                    Err(e) => Err(KeySourceError::ReadFailed {
                        path: path.clone(),
                        source: e.into_io(),
                    }),
                }
            }
            Self::Env(name) => {
                std::env::var(name).map_err(|_| KeySourceError::EnvUnset(name.clone()))
            }
            Self::Kubernetes { namespace, name } => Err(KeySourceError::KubernetesNotFetched {
                namespace: namespace.clone(),
                name: name.clone(),
            }),
            Self::Kms(uri) => Err(KeySourceError::KmsNotHere(uri.to_string())),
        }
    }

    /// The key manager key this reference names, if it is one.
    pub fn kms(&self) -> Option<&KmsUri> {
        match self {
            Self::Kms(uri) => Some(uri),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cosign_style_references() {
        let base = Path::new("/etc/policies");
        assert_eq!(
            KeySource::parse("keys/ci.pub", base).unwrap(),
            KeySource::File(base.join("keys/ci.pub"))
        );
        assert_eq!(
            KeySource::parse("/abs.pub", base).unwrap(),
            KeySource::File(PathBuf::from("/abs.pub"))
        );
        assert_eq!(
            KeySource::parse("env://COSIGN_PUB", base).unwrap(),
            KeySource::Env("COSIGN_PUB".into())
        );
        assert_eq!(
            KeySource::parse("k8s://signing/ci-key", base).unwrap(),
            KeySource::Kubernetes {
                namespace: "signing".into(),
                name: "ci-key".into()
            }
        );
        for bad in [
            "",
            "env://",
            "env://A-B",
            "k8s://ns",
            "k8s:///x",
            "k8s://a/b/c",
            "hashivault://",
            "hashivault://a/b",
            "hashivault://..",
        ] {
            assert!(KeySource::parse(bad, base).is_err(), "{bad}");
        }
        assert_eq!(
            KeySource::parse("hashivault://cosign-key", base).unwrap(),
            KeySource::Kms(KmsUri::HashiVault {
                key: "cosign-key".into()
            })
        );
        for (uri, endpoint, key) in [
            ("awskms:///alias/release", None, "alias/release"),
            (
                "awskms:///arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab",
                None,
                "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab",
            ),
            (
                "awskms://localhost:4566/1234abcd",
                Some("localhost:4566"),
                "1234abcd",
            ),
        ] {
            let parsed = KeySource::parse(uri, base).unwrap();
            assert_eq!(
                parsed,
                KeySource::Kms(KmsUri::AwsKms {
                    endpoint: endpoint.map(str::to_owned),
                    key: key.into()
                })
            );
            assert_eq!(parsed.kms().unwrap().to_string(), uri, "round trip");
        }
        for bad in [
            "awskms://",
            "awskms:///",
            "awskms://h/../k",
            "awskms://a b/k",
        ] {
            assert!(KeySource::parse(bad, base).is_err(), "{bad}");
        }
        for later in ["gcpkms://projects/p", "azurekms://v.vault"] {
            let e = KeySource::parse(later, base).unwrap_err();
            assert!(matches!(e, KeySourceError::KmsUnsupported(_)), "{later}");
            assert!(e.to_string().contains("not supported yet"), "{e}");
        }
    }

    #[test]
    fn key_manager_keys_count_until_their_ttl_runs_out() {
        let uri = KmsUri::HashiVault { key: "ci".into() };
        let cell = KmsKeys::new(uri, None);
        let e = cell.current().unwrap_err();
        assert!(
            e.contains("hashivault://ci") && e.contains("not read yet"),
            "{e}"
        );
        cell.failed("Vault at http://v is unreachable".into());
        let e = cell.current().unwrap_err();
        assert!(e.contains("unreachable"), "{e}");

        let key = crate::crypto::PrivateKey::generate_p256()
            .unwrap()
            .public_key();
        cell.store(vec![key.clone(), key], std::time::Duration::from_secs(3600));
        assert_eq!(cell.current().unwrap().len(), 2);
        // a failed refresh keeps the keys until they expire
        cell.failed("Vault answered 503".into());
        assert_eq!(cell.current().unwrap().len(), 2);
        cell.store(Vec::new(), std::time::Duration::ZERO);
        cell.failed("Vault answered 503".into());
        let e = cell.current().unwrap_err();
        assert!(e.contains("expired") && e.contains("503"), "{e}");
    }

    #[test]
    fn reads_files_and_reports_missing_sources() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("k.pub"), "PEM").unwrap();
        assert_eq!(
            KeySource::parse("k.pub", d.path()).unwrap().read().unwrap(),
            "PEM"
        );
        assert!(matches!(
            KeySource::parse("missing.pub", d.path()).unwrap().read(),
            Err(KeySourceError::ReadFailed { .. })
        ));
        assert!(matches!(
            KeySource::Env("SEALGATE_TEST_SURELY_UNSET_VAR".into()).read(),
            Err(KeySourceError::EnvUnset(_))
        ));
        assert!(matches!(
            KeySource::parse("k8s://a/b", d.path())
                .unwrap()
                .read_public(&Resolved::default()),
            Err(KeySourceError::KubernetesNotFetched { .. })
        ));
    }
}
