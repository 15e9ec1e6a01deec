//! Server-side apply of a verified revision (Flux kustomize-controller's behaviour): every
//! object is first applied with `dryRun=All` (nothing is written unless all of them would
//! be accepted), then applied for real with field manager `sealgate`, CRDs and Namespaces
//! first; the applied set is kept as an inventory in the gate's status, so objects a later
//! revision drops are deleted (`prune: true`), and everything is deleted with the gate.

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One applied object (Flux's inventory format): `id` is
/// `<namespace>_<name>_<group>_<kind>`, `v` the API version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema)]
pub struct InventoryEntry {
    pub id: String,
    pub v: String,
}

/// The objects a gate applied (kept in its status).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct Inventory {
    pub entries: Vec<InventoryEntry>,
}

/// The server-side apply field manager.
pub const FIELD_MANAGER: &str = "sealgate";

/// Most objects one revision may apply.
pub const MAX_OBJECTS: usize = 5000;

/// Kinds that are never namespaced (the rest get the target namespace when they name none).
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "RuntimeClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "APIService",
    "CSIDriver",
    "ClusterImagePolicy",
    "Node",
];

/// Why a revision could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{file}: document {index}: {message}")]
    Invalid {
        file: String,
        index: usize,
        message: String,
    },
    #[error("{0} objects, more than {MAX_OBJECTS}")]
    TooMany(usize),
    #[error("{verb} {id}: {source}")]
    Api {
        verb: &'static str,
        id: String,
        #[source]
        source: kube::Error,
    },
}

impl ApplyError {
    /// The HTTP status of an API refusal (409 conflict, 403 forbidden…).
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api {
                source: kube::Error::Api(s),
                ..
            } => Some(s.code),
            _ => None,
        }
    }
}

/// One object of a revision, ready to apply.
#[derive(Debug, Clone)]
pub struct Object {
    pub gvk: GroupVersionKind,
    pub namespace: Option<String>,
    pub name: String,
    pub body: Value,
}

impl Object {
    /// The inventory entry (`<namespace>_<name>_<group>_<kind>`, version).
    pub fn entry(&self) -> InventoryEntry {
        InventoryEntry {
            id: format!(
                "{}_{}_{}_{}",
                self.namespace.as_deref().unwrap_or(""),
                self.name,
                self.gvk.group,
                self.gvk.kind
            ),
            v: self.gvk.version.clone(),
        }
    }

    fn rank(&self) -> u8 {
        match self.gvk.kind.as_str() {
            "CustomResourceDefinition" => 0,
            "Namespace" => 1,
            _ => 2,
        }
    }
}

fn gvk_of(api_version: &str, kind: &str) -> GroupVersionKind {
    match api_version.split_once('/') {
        Some((g, v)) => GroupVersionKind::gvk(g, v, kind),
        None => GroupVersionKind::gvk("", api_version, kind),
    }
}

/// Reads the Kubernetes objects of a revision's files (YAML or JSON, several documents per
/// file) in apply order: CRDs, Namespaces, then the rest in file order. Documents without
/// `apiVersion`/`kind` (Helm values, CI files) and kustomize `Kustomization` files are
/// skipped. Namespaced objects without a namespace get `namespace`.
///
/// # Errors
/// A document that is not valid YAML, an object without a name, too many objects.
pub fn objects(files: &[(String, String)], namespace: &str) -> Result<Vec<Object>, ApplyError> {
    let mut out = Vec::new();
    for (file, text) in files {
        let docs: Vec<Value> =
            serde_saphyr::from_str_multiple(text).map_err(|e| ApplyError::Invalid {
                file: file.clone(),
                index: 0,
                message: e.to_string(),
            })?;
        for (index, mut doc) in docs.into_iter().enumerate() {
            let (Some(api_version), Some(kind)) = (
                doc.get("apiVersion")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                doc.get("kind").and_then(Value::as_str).map(str::to_owned),
            ) else {
                continue;
            };
            if api_version.starts_with("kustomize.config.k8s.io/") {
                continue;
            }
            let name = doc
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| ApplyError::Invalid {
                    file: file.clone(),
                    index,
                    message: format!("{kind} has no metadata.name"),
                })?;
            let namespaced = !CLUSTER_SCOPED.contains(&kind.as_str());
            let ns = if namespaced {
                let ns = doc
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .unwrap_or(namespace)
                    .to_owned();
                if let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.insert("namespace".into(), Value::String(ns.clone()));
                }
                Some(ns)
            } else {
                None
            };
            out.push(Object {
                gvk: gvk_of(&api_version, &kind),
                namespace: ns,
                name,
                body: doc,
            });
            if out.len() > MAX_OBJECTS {
                return Err(ApplyError::TooMany(out.len()));
            }
        }
    }
    out.sort_by_key(Object::rank);
    Ok(out)
}

fn api_for(client: &kube::Client, gvk: &GroupVersionKind, ns: Option<&str>) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(gvk);
    match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

/// Applies `objects` with `client`: all of them with `dryRun=All` first, then for real.
/// Returns the new inventory.
///
/// # Errors
/// The first refusal (dry run or apply), naming the object.
pub async fn apply(
    client: &kube::Client,
    objects: &[Object],
    force: bool,
) -> Result<Inventory, ApplyError> {
    for dry_run in [true, false] {
        let mut params = PatchParams::apply(FIELD_MANAGER);
        params.force = force;
        params.dry_run = dry_run;
        for o in objects {
            let api = api_for(client, &o.gvk, o.namespace.as_deref());
            api.patch(&o.name, &params, &Patch::Apply(&o.body))
                .await
                .map_err(|source| ApplyError::Api {
                    verb: if dry_run { "dry-run apply" } else { "apply" },
                    id: o.entry().id,
                    source,
                })?;
        }
    }
    let mut entries: Vec<InventoryEntry> = objects.iter().map(Object::entry).collect();
    entries.sort();
    entries.dedup();
    Ok(Inventory { entries })
}

/// Parses an inventory entry back into what to delete.
fn parse_entry(e: &InventoryEntry) -> Option<(GroupVersionKind, Option<String>, String)> {
    let mut parts = e.id.splitn(4, '_');
    let ns = parts.next()?;
    let name = parts.next()?;
    let group = parts.next()?;
    let kind = parts.next()?;
    Some((
        GroupVersionKind::gvk(group, &e.v, kind),
        (!ns.is_empty()).then(|| ns.to_owned()),
        name.to_owned(),
    ))
}

/// Deletes the objects of `old` that `keep` does not list (namespaces and CRDs last, so
/// their contents go first). An object already gone is not an error.
///
/// # Errors
/// The first refusal, naming the object.
pub async fn prune(
    client: &kube::Client,
    old: &Inventory,
    keep: &Inventory,
) -> Result<Vec<String>, ApplyError> {
    let mut gone: Vec<&InventoryEntry> = old
        .entries
        .iter()
        .filter(|e| !keep.entries.iter().any(|k| k.id == e.id))
        .collect();
    gone.sort_by_key(|e| {
        if e.id.ends_with("_Namespace") {
            1
        } else if e.id.ends_with("_CustomResourceDefinition") {
            2
        } else {
            0
        }
    });
    let mut deleted = Vec::new();
    for e in gone {
        let Some((gvk, ns, name)) = parse_entry(e) else {
            continue;
        };
        let api = api_for(client, &gvk, ns.as_deref());
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => deleted.push(e.id.clone()),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(source) => {
                return Err(ApplyError::Api {
                    verb: "delete",
                    id: e.id.clone(),
                    source,
                });
            }
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_ordered_defaulted_and_filtered() {
        let files = vec![
            (
                "app.yaml".to_owned(),
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n---\nreplicas: 3\n".to_owned(),
            ),
            (
                "crd.yaml".to_owned(),
                "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: things.example.com}\n".to_owned(),
            ),
            (
                "kustomization.yaml".to_owned(),
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nmetadata: {name: k}\n".to_owned(),
            ),
            (
                "svc.yaml".to_owned(),
                "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: other}\n".to_owned(),
            ),
        ];
        let o = objects(&files, "web").unwrap();
        let ids: Vec<String> = o.iter().map(|o| o.entry().id).collect();
        assert_eq!(
            ids,
            [
                "_things.example.com_apiextensions.k8s.io_CustomResourceDefinition",
                "_web__Namespace",
                "web_web_apps_Deployment",
                "other_web__Service",
            ]
        );
        assert_eq!(o[2].body["metadata"]["namespace"], "web");
        let e = o[2].entry();
        assert_eq!(
            parse_entry(&e).unwrap(),
            (
                GroupVersionKind::gvk("apps", "v1", "Deployment"),
                Some("web".to_owned()),
                "web".to_owned()
            )
        );
    }

    #[test]
    fn a_nameless_object_is_an_error() {
        let files = vec![(
            "x.yaml".to_owned(),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n".to_owned(),
        )];
        let e = objects(&files, "ns").unwrap_err().to_string();
        assert!(
            e.contains("x.yaml") && e.contains("no metadata.name"),
            "{e}"
        );
    }
}
