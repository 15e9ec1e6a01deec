//! The custom resources (`sealgate.dev/v1alpha1`): `DeploymentGate` (namespaced: a Git
//! source, the policies it must pass, and where a passing revision goes), `ImagePolicy`
//! (namespaced) and `ClusterImagePolicy` (cluster-wide), whose spec is exactly the policy
//! file's schema. `sealgate crdgen` prints the CRDs from these types.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::policy::ImagePolicySpec;

/// The API group.
pub const GROUP: &str = "sealgate.dev";
/// The finalizer that prunes applied objects when a gate is deleted.
pub const FINALIZER: &str = "sealgate.dev/prune";

/// `ImagePolicy`: the contract's policy schema, namespaced.
#[derive(CustomResource, Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "sealgate.dev",
    version = "v1alpha1",
    kind = "ImagePolicy",
    namespaced,
    shortname = "imgpol",
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
pub struct ImagePolicyCrdSpec(pub ImagePolicySpec);

/// `ClusterImagePolicy`: the same schema, cluster-wide; it applies to every gate.
#[derive(CustomResource, Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "sealgate.dev",
    version = "v1alpha1",
    kind = "ClusterImagePolicy",
    shortname = "cimgpol",
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
pub struct ClusterImagePolicyCrdSpec(pub ImagePolicySpec);

/// A Secret in the gate's namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct LocalObjectReference {
    pub name: String,
}

/// Where the manifests come from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateSource {
    /// `https://`, `ssh://`, `git://` or `file://` URL of the repository.
    pub url: String,
    /// Branch or tag to follow.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// Sub-directory holding the manifests (default: the whole repository).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// How often the source is checked (Go duration, default `5m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Deadline of one fetch (default `60s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Secret with `token` (and optional `username`) for HTTPS, or `identity` and
    /// `known_hosts` for SSH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Require the head commit to be signed by a key in this Secret (`allowed_signers` for
    /// SSH signatures, `*.asc` entries for OpenPGP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifySpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifySpec {
    pub secret_ref: LocalObjectReference,
}

/// Server-side apply into this cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplyTarget {
    /// Delete objects a later revision drops (and everything applied, when the gate is deleted).
    #[serde(default)]
    pub prune: bool,
    /// Namespace for namespaced objects that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    /// Apply as this ServiceAccount of the gate's namespace (impersonation), so a tenant's
    /// gate cannot write outside the tenant's rights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Take over fields other managers own (server-side apply `force`).
    #[serde(default)]
    pub force: bool,
}

/// Commit the revision, digest-pinned, to a deploy branch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromoteTarget {
    /// Repository of the deploy branch (default: the source repository).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub branch: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// Credentials for the deploy repository (default: the source's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_email: Option<String>,
}

/// Exactly one of `apply` or `promote`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateTarget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplyTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote: Option<PromoteTarget>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalSpec {
    /// A verified revision waits until `spec.approvedRevision` names it
    /// (`sealgate approve GATE -n NS`).
    #[serde(default)]
    pub required: bool,
}

/// `spec.summary`: signed verification summaries (docs/summaries.md).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SummarySpec {
    pub key: SummaryKey,
    /// `predicate.verifier.id` (default `https://sealgate.dev/gate/<namespace>/<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifier_id: Option<String>,
    /// Also attach the summary to every image it covers (a cosign `.att` layer).
    #[serde(default)]
    pub attach_to_images: bool,
}

/// The gate's signing key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SummaryKey {
    /// A Secret of the gate's namespace with `cosign.key` (an encrypted cosign or sealgate
    /// private key) and `cosign.password` — what `cosign generate-key-pair k8s://NS/NAME`
    /// creates.
    pub secret_ref: LocalObjectReference,
}

/// `DeploymentGate`: applies or promotes a Git revision only when every image passes.
#[derive(CustomResource, Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "sealgate.dev",
    version = "v1alpha1",
    kind = "DeploymentGate",
    namespaced,
    shortname = "dgate",
    status = "DeploymentGateStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.lastAttemptedRevision"}"#,
    printcolumn = r#"{"name":"Blocked","type":"integer","jsonPath":".status.imagesBlocked"}"#,
    printcolumn = r#"{"name":"Status","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentGateSpec {
    pub source: GateSource,
    /// ImagePolicies of this namespace that every image must pass (every ClusterImagePolicy
    /// applies too).
    #[serde(default)]
    pub policy_refs: Vec<LocalObjectReference>,
    pub target: GateTarget,
    #[serde(default)]
    pub approval: ApprovalSpec,
    /// The revision a release manager approved (only the verified revision can be).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_revision: Option<String>,
    /// Stop reconciling (nothing is fetched, applied or pruned).
    #[serde(default)]
    pub suspend: bool,
    /// Sign a verification summary of every revision that passes: the Git note
    /// `refs/notes/sealgate` on the promotion commit (promote), `status.summary` (apply),
    /// and the images with `attachToImages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<SummarySpec>,
    /// Verified image automation: new tags that pass the gate's policies are committed to
    /// Git, pinned to the verified digest (docs/updates.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_updates: Option<crate::updates::ImageUpdatesSpec>,
}

pub use crate::edge::target::apply::{Inventory, InventoryEntry};
pub use crate::reconcile::status::{Condition, ImageReason, ImageStatus};

/// The gate's status: the reconcile core's one status type.
pub type DeploymentGateStatus = crate::reconcile::status::GateStatus;

/// The CRDs as YAML documents, in install order.
///
/// # Errors
/// Serialization errors (none expected).
pub fn crds() -> Result<BTreeMap<&'static str, String>, serde_saphyr::SerializeError> {
    use kube::CustomResourceExt as _;
    let mut out = BTreeMap::new();
    out.insert(
        "deploymentgates.yaml",
        serde_saphyr::to_string(&DeploymentGate::crd())?,
    );
    out.insert(
        "imagepolicies.yaml",
        serde_saphyr::to_string(&ImagePolicy::crd())?,
    );
    out.insert(
        "clusterimagepolicies.yaml",
        serde_saphyr::to_string(&ClusterImagePolicy::crd())?,
    );
    Ok(out)
}
