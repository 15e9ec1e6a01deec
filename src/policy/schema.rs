//! The raw policy schema (what users write). Unknown fields are errors.

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawDocument {
    pub(super) api_version: String,
    pub(super) kind: String,
    pub(super) metadata: RawMetadata,
    pub(super) spec: ImagePolicySpec,
}

#[derive(Debug, Deserialize)]
pub(super) struct RawMetadata {
    pub(super) name: String,
}

/// `ImagePolicy.spec`, exactly the contract's schema.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImagePolicySpec {
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub registries: Vec<String>,
    #[serde(default)]
    pub unmatched: Unmatched,
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    #[serde(default)]
    #[schemars(schema_with = "string_or_object_list")]
    pub extra_image_paths: Vec<ExtraImagePathSpec>,
    /// How the key manager keys its attestors name (`key.path: hashivault://…`) are
    /// reached; without it, the front end's `VAULT_TOKEN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms: Option<KmsSpec>,
}

/// `spec.kms`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KmsSpec {
    pub auth: KmsAuthSpec,
}

/// `spec.kms.auth`: exactly one login method.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KmsAuthSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesAuthSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approle: Option<AppRoleAuthSpec>,
}

/// Vault's Kubernetes auth: log in with the pod's service-account token.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubernetesAuthSpec {
    pub role: String,
    /// The auth mount (default `kubernetes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_path: Option<String>,
    /// The service-account token file (default the pod's projected token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_path: Option<String>,
}

/// Vault's AppRole auth.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppRoleAuthSpec {
    pub role_id: String,
    /// A file holding the secret id (read at each login, never copied elsewhere).
    pub secret_id_file: String,
    /// The auth mount (default `approle`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_path: Option<String>,
}

/// `extraImagePaths` items are a string or an object: Kubernetes structural schemas
/// cannot say so, so the items keep unknown fields and are validated when compiled.
pub(super) fn string_or_object_list(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {"x-kubernetes-preserve-unknown-fields": true}
    })
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Enforce,
    Warn,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Unmatched {
    #[default]
    Deny,
    Allow,
}

/// An extra image location for CRDs: `"Rollout=/spec/template/spec/containers/*/image"`
/// or `{kind: Rollout, pointer: /spec/…}`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ExtraImagePathSpec {
    Text(String),
    Object { kind: String, pointer: String },
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleSpec {
    pub name: String,
    pub images: Vec<String>,
    #[serde(default)]
    pub require_digest: bool,
    #[serde(default)]
    pub signatures: Option<SignaturesSpec>,
    #[serde(default)]
    pub attestations: Option<Vec<AttestationSpec>>,
}

/// One entry of a rule's `attestations`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AttestationSpec {
    /// A URI, or an alias: cyclonedx, spdx, spdxjson, vuln, slsaprovenance,
    /// slsaprovenance02, slsaprovenance1, link, openvex, vsa, custom.
    pub predicate_type: String,
    /// Names of the rule's `signatures.attestors` whose signature counts (default: any).
    #[serde(default)]
    pub attestors: Option<Vec<String>>,
    #[serde(default)]
    pub sbom: Option<SbomSpec>,
    #[serde(default)]
    pub vulnerabilities: Option<VulnerabilitiesSpec>,
    /// A verification summary (`predicateType: vsa`) from this verifier, PASSED, at most
    /// `maxAge` old.
    #[serde(default)]
    pub summary: Option<SummarySpec>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SummarySpec {
    /// The summary's `verifier.id` (e.g. `https://sealgate.dev/gate/prod`).
    pub verifier: String,
    /// Oldest accepted `timeVerified` (`24h`, `7d`): the revocation window.
    #[serde(default)]
    pub max_age: Option<String>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SbomSpec {
    #[serde(default)]
    pub denied_packages: Vec<String>,
    #[serde(default)]
    pub denied_licenses: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VulnerabilitiesSpec {
    #[serde(default)]
    pub max_severity: Option<String>,
    #[serde(default)]
    pub deny: Vec<String>,
    #[serde(default)]
    pub ignore: Vec<String>,
    #[serde(default)]
    pub max_age: Option<String>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignaturesSpec {
    /// How many attestors must have signed the image (default: all). 0: none — the
    /// attestors only verify the rule's attestations (e.g. a verification summary).
    #[serde(default)]
    pub threshold: Option<u64>,
    pub attestors: Vec<AttestorSpec>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AttestorSpec {
    pub name: String,
    #[serde(default)]
    pub key: Option<KeySpec>,
    #[serde(default)]
    pub keyless: Option<KeylessSpec>,
    #[serde(default)]
    pub trusted_root: Option<TrustedRootSpec>,
    #[serde(default)]
    pub ignore_tlog: Option<bool>,
}

/// A keyless (Fulcio) identity: the OIDC issuer and the certificate subject, each exact or
/// an anchored regular expression, plus optional Fulcio claims that must equal exactly.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeylessSpec {
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default, rename = "issuerRegExp")]
    pub issuer_regexp: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default, rename = "subjectRegExp")]
    pub subject_regexp: Option<String>,
    /// Fulcio certificate claims by name (`githubWorkflowRepository`, `sourceRepositoryRef`, …).
    #[serde(default)]
    pub claims: std::collections::BTreeMap<String, String>,
}

/// Where a `trusted_root.json` comes from.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustedRootSpec {
    pub path: String,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub pem: Option<String>,
}
