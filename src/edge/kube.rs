//! Kubernetes Secret reads: the `k8s://namespace/name` key references of policies and
//! `--key` flags, fetched once at start-up into a [`Resolved`] that the pure key-source
//! code ([`crate::policy::keysource`]) resolves from.

use k8s_openapi::api::core::v1::Secret;

use crate::policy::keysource::{ClusterScope, KeySourceError, Resolved, SecretKeys};
use crate::policy::{ImagePolicySpec, Policy, PolicyError};
use crate::sigstore::trust::TrustedRoot;

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

/// Why an `ImagePolicy` / `ClusterImagePolicy` resource could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum PolicyResourceError {
    /// A namespaced `ImagePolicy` names a Secret of another namespace.
    #[error(
        "{what}: k8s://{namespace}/{name}: an ImagePolicy reads Secrets of its own namespace only"
    )]
    OtherNamespace {
        what: String,
        namespace: String,
        name: String,
    },
    /// A Secret it names could not be read.
    #[error("{what}: {}", crate::base::error::chain(source))]
    Secret {
        what: String,
        source: KeySourceError,
    },
    /// The spec does not compile (field path and problem).
    #[error("{}", crate::base::error::chain(source))]
    Invalid { source: PolicyError },
}

/// One policy custom resource, compiled the same way by every driver (controller, webhook):
/// `spec` is the resource's spec, `namespace` is `Some` for an `ImagePolicy` (it may read
/// only Secrets of its own namespace, and never the driver's files or environment). Returns
/// the policy and the `k8s://` Secrets it read (to re-read when they change).
///
/// # Errors
/// [`PolicyResourceError`] naming the resource.
pub async fn compile_policy_resource(
    client: &kube::Client,
    namespace: Option<&str>,
    name: &str,
    spec: &ImagePolicySpec,
    trusted_root: Option<std::sync::Arc<TrustedRoot>>,
) -> Result<(Policy, Vec<(String, String)>), PolicyResourceError> {
    let (kind, what) = match namespace {
        Some(ns) => ("ImagePolicy", format!("ImagePolicy {ns}/{name}")),
        None => ("ClusterImagePolicy", format!("ClusterImagePolicy {name}")),
    };
    let doc = serde_json::json!({
        "apiVersion": "sealgate.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    });
    let refs = crate::policy::key_refs_of(&doc);
    if let Some(own) = namespace
        && let Some((sns, sname)) = refs.iter().find(|(sns, _)| sns != own)
    {
        return Err(PolicyResourceError::OtherNamespace {
            what,
            namespace: sns.clone(),
            name: sname.clone(),
        });
    }
    let mut resolved = if refs.is_empty() {
        Resolved::default()
    } else {
        fetch_secrets(client, &refs)
            .await
            .map_err(|source| PolicyResourceError::Secret {
                what: what.clone(),
                source,
            })?
    };
    resolved.cluster = Some(ClusterScope {
        namespace: namespace.map(str::to_owned),
    });
    if let Some(root) = trusted_root {
        resolved = resolved.with_trusted_root(root);
    }
    let policy = crate::policy::compile_with(
        doc,
        std::path::Path::new(&what),
        std::path::Path::new("/nonexistent"),
        &resolved,
    )
    .map_err(|source| PolicyResourceError::Invalid { source })?;
    Ok((policy, refs))
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::policy::keysource::KeySource;

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
