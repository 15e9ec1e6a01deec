//! Where a key comes from, as cosign names it: inline PEM, a file path, `env://NAME` (the PEM in an
//! environment variable, as CI secrets are usually exposed), `k8s://namespace/name` (a
//! Kubernetes Secret with `cosign.pub` / `cosign.key` / `cosign.password`, as `cosign
//! generate-key-pair k8s://…` writes it), or `hashivault://NAME` (a Vault transit key, used
//! through [`crate::edge::kms`]; cosign's other KMS schemes are refused as not supported).
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
}

impl std::fmt::Display for KmsUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::HashiVault { key } => write!(f, "hashivault://{key}"),
        }
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
const UNSUPPORTED_KMS: [&str; 4] = ["awskms://", "gcpkms://", "azurekms://", "gcp-kms://"];

#[derive(Debug, thiserror::Error)]
pub enum KeySourceError {
    #[error("{0:?} is not a key reference (a path, env://NAME or k8s://namespace/name)")]
    Invalid(String),
    #[error("{0}")]
    NotAllowed(String),
    #[error("{0}: this key manager is not supported yet (supported: hashivault://)")]
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
            "awskms://x",
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
        for later in [
            "awskms:///alias/x",
            "gcpkms://projects/p",
            "azurekms://v.vault",
        ] {
            let e = KeySource::parse(later, base).unwrap_err();
            assert!(matches!(e, KeySourceError::KmsUnsupported(_)), "{later}");
            assert!(e.to_string().contains("not supported yet"), "{e}");
        }
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
