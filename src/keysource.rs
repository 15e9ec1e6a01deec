//! Where a key comes from, as cosign names it: inline PEM, a file path, `env://NAME` (the PEM in an
//! environment variable, as CI secrets are usually exposed), or `k8s://namespace/name` (a
//! Kubernetes Secret with `cosign.pub` / `cosign.key` / `cosign.password`, as `cosign
//! generate-key-pair k8s://…` writes it). Used by policy `key.path` and by `--key` flags.
//! Reads happen once, at start-up: Secrets are fetched first ([`fetch_secrets`], the only
//! async edge here), then every reference resolves from memory ([`Resolved`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Secret;

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
}

#[derive(Debug, thiserror::Error)]
pub enum KeySourceError {
    #[error("{0:?} is not a key reference (a path, env://NAME or k8s://namespace/name)")]
    Invalid(String),
    #[error("{0}")]
    NotAllowed(String),
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
    secrets: HashMap<(String, String), SecretKeys>,
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

/// Fetches every `(namespace, name)` Secret once through the Kubernetes API.
///
/// # Errors
/// [`KeySourceError::SecretFetchFailed`] naming the Secret (RBAC, not found, API down).
pub async fn fetch_secrets(
    client: &kube::Client,
    refs: &[(String, String)],
) -> Result<Resolved, KeySourceError> {
    let mut out = Resolved::default();
    for (ns, name) in refs {
        if out.secrets.contains_key(&(ns.clone(), name.clone())) {
            continue;
        }
        let api: kube::Api<Secret> = kube::Api::namespaced(client.clone(), ns);
        let secret = api
            .get(name)
            .await
            .map_err(|source| KeySourceError::SecretFetchFailed {
                namespace: ns.clone(),
                name: name.clone(),
                source,
            })?;
        let data = secret.data.unwrap_or_default();
        let text = |k: &str| {
            data.get(k)
                .and_then(|b| String::from_utf8(b.0.clone()).ok())
        };
        out.secrets.insert(
            (ns.clone(), name.clone()),
            SecretKeys {
                public: text("cosign.pub"),
                private: text("cosign.key"),
                password: data.get("cosign.password").map(|b| b.0.clone()),
            },
        );
    }
    Ok(out)
}

/// A client from `KUBECONFIG` / `~/.kube/config` / the in-cluster service account.
///
/// # Errors
/// [`KeySourceError::KubernetesUnavailable`].
pub async fn default_client() -> Result<kube::Client, KeySourceError> {
    kube::Client::try_default()
        .await
        .map_err(KeySourceError::KubernetesUnavailable)
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
            Self::File(path) => match crate::files::read_regular_string(path, MAX_KEY_BYTES) {
                Ok(t) => Ok(t),
                Err(crate::files::FileError::TooLarge { .. }) => {
                    Err(KeySourceError::TooLarge(path.clone()))
                }
                Err(e) => Err(KeySourceError::ReadFailed {
                    path: path.clone(),
                    source: e.into_io(),
                }),
            },
            Self::Env(name) => {
                std::env::var(name).map_err(|_| KeySourceError::EnvUnset(name.clone()))
            }
            Self::Kubernetes { namespace, name } => Err(KeySourceError::KubernetesNotFetched {
                namespace: namespace.clone(),
                name: name.clone(),
            }),
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
        ] {
            assert!(KeySource::parse(bad, base).is_err(), "{bad}");
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

    /// kube-rs's mocked API server pattern: exact request checks over `tower_test::mock::pair`.
    #[tokio::test]
    async fn secrets_are_read_through_the_kubernetes_api() {
        use http::{Request, Response};
        use kube::client::Body;
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = kube::Client::new(service, "default");
        let server = tokio::spawn(async move {
            let (request, send) = handle.next_request().await.unwrap();
            assert_eq!(request.method(), http::Method::GET);
            assert_eq!(
                request.uri().to_string(),
                "/api/v1/namespaces/signing/secrets/ci-key"
            );
            let body = serde_json::json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "ci-key", "namespace": "signing"},
                "data": {"cosign.pub": "UFVCTElD", "cosign.key": "UFJJVkFURQ==", "cosign.password": "cHc="},
            });
            send.send_response(
                Response::builder()
                    .body(Body::from(serde_json::to_vec(&body).unwrap()))
                    .unwrap(),
            );
            // a second reference to the same Secret makes no request; the next one is a 404
            let (request, send) = handle.next_request().await.unwrap();
            assert_eq!(
                request.uri().to_string(),
                "/api/v1/namespaces/signing/secrets/absent"
            );
            let status = serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": "secrets absent not found", "reason": "NotFound", "code": 404});
            send.send_response(
                Response::builder()
                    .status(404)
                    .body(Body::from(serde_json::to_vec(&status).unwrap()))
                    .unwrap(),
            );
        });
        let refs = vec![
            ("signing".to_string(), "ci-key".to_string()),
            ("signing".to_string(), "ci-key".to_string()),
        ];
        let resolved = fetch_secrets(&client, &refs).await.unwrap();
        let src = KeySource::parse("k8s://signing/ci-key", Path::new(".")).unwrap();
        assert_eq!(src.read_public(&resolved).unwrap(), "PUBLIC");
        let (private, password) = src.read_private(&resolved).unwrap();
        assert_eq!(private, "PRIVATE");
        assert_eq!(password.as_deref(), Some(&b"pw"[..]));
        assert!(!format!("{:?}", resolved).contains("PRIVATE"));
        let err = fetch_secrets(&client, &[("signing".to_string(), "absent".to_string())])
            .await
            .unwrap_err();
        assert!(
            matches!(err, KeySourceError::SecretFetchFailed { .. }),
            "{err:?}"
        );
        tokio::time::timeout(std::time::Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap();
    }
}
