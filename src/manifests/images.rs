//! Image extraction: which scalars of a Kubernetes object are container image references.
//!
//! Pure functions over `serde_json::Value`; no I/O. Built in:
//! - pod-spec kinds `Pod` (`/spec`), `Deployment`, `ReplicaSet`, `StatefulSet`, `DaemonSet`, `Job`,
//!   `ReplicationController` (`/spec/template/spec`), `PodTemplate` (`/template/spec`) and `CronJob`
//!   (`/spec/jobTemplate/spec/template/spec`); within the pod spec `containers[].image`,
//!   `initContainers[].image`, `ephemeralContainers[].image` and `volumes[].image.reference`;
//! - `List` and every other kind ending in `List` that has an `items` array: the items are walked
//!   (recursively), with pointers prefixed by `/items/N`;
//! - extra paths ([`ImagePath`], `KIND=POINTER`) for other kinds (CRDs).
//!
//! An object is a Kubernetes object when `apiVersion` and `kind` are non-empty strings; kinds match exactly
//! (case-sensitive). Only non-blank string values are images; everything else (numbers, empty strings,
//! strings elsewhere in the object) is ignored. Pointers are RFC 6901 (`~` → `~0`, `/` → `~1`).
//!
//! Also here: kustomize's image-override arithmetic ([`split_reference`], [`apply_override`]).

use serde_json::{Map, Value};

/// An extra place where a kind keeps image references: `KIND=POINTER`.
///
/// `pointer` is an RFC 6901 JSON pointer (escaped form, as written) in which a segment that is exactly `*`
/// matches every array index and every object key (so a literal key `*` cannot be addressed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePath {
    /// The object `kind` it applies to (exact, case-sensitive).
    pub kind: String,
    /// The JSON pointer, e.g. `/spec/template/spec/containers/*/image`.
    pub pointer: String,
}

/// Why an `--image-path` / `extraImagePaths` entry is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImagePathError {
    /// No `=` between kind and pointer.
    #[error(
        "image path {input:?} is not of the form KIND=POINTER (for example Rollout=/spec/template/spec/containers/*/image)"
    )]
    MissingSeparator {
        /// The text as given.
        input: String,
    },
    /// Nothing before the `=`.
    #[error("image path {input:?} has an empty KIND before '='")]
    EmptyKind {
        /// The text as given.
        input: String,
    },
    /// The kind contains whitespace or control characters.
    #[error("image path {input:?}: KIND {kind:?} must not contain whitespace")]
    InvalidKind {
        /// The text as given.
        input: String,
        /// The kind part.
        kind: String,
    },
    /// The pointer does not start with `/`.
    #[error("image path {input:?}: the pointer {pointer:?} must start with '/'")]
    PointerNotAbsolute {
        /// The text as given.
        input: String,
        /// The pointer part.
        pointer: String,
    },
    /// A `~` not followed by `0` or `1`.
    #[error(
        "image path {input:?}: pointer segment {segment:?} has a '~' not followed by 0 or 1 (write ~0 for '~' and ~1 for '/')"
    )]
    InvalidEscape {
        /// The text as given.
        input: String,
        /// The offending segment.
        segment: String,
    },
}

/// Parses `KIND=POINTER`, e.g. `Rollout=/spec/template/spec/containers/*/image`.
///
/// # Errors
/// [`ImagePathError`] when there is no `=`, the kind is empty or has whitespace, or the pointer is not an
/// absolute RFC 6901 pointer.
pub fn parse_image_path(s: &str) -> Result<ImagePath, ImagePathError> {
    let Some((kind, pointer)) = s.split_once('=') else {
        return Err(ImagePathError::MissingSeparator {
            input: s.to_owned(),
        });
    };
    if kind.is_empty() {
        return Err(ImagePathError::EmptyKind {
            input: s.to_owned(),
        });
    }
    if kind.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ImagePathError::InvalidKind {
            input: s.to_owned(),
            kind: kind.to_owned(),
        });
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(ImagePathError::PointerNotAbsolute {
            input: s.to_owned(),
            pointer: pointer.to_owned(),
        });
    };
    if let Some(segment) = rest.split('/').find(|seg| unescape_segment(seg).is_none()) {
        return Err(ImagePathError::InvalidEscape {
            input: s.to_owned(),
            segment: segment.to_owned(),
        });
    }
    Ok(ImagePath {
        kind: kind.to_owned(),
        pointer: pointer.to_owned(),
    })
}

/// Escapes one JSON-pointer reference token (RFC 6901: `~` → `~0`, `/` → `~1`).
pub fn escape_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Unescapes one JSON-pointer reference token; `None` when a `~` is not followed by `0` or `1`.
pub fn unescape_segment(segment: &str) -> Option<String> {
    let mut out = String::with_capacity(segment.len());
    let mut chars = segment.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// The array index a reference token names (RFC 6901: `0` or digits without a leading zero).
pub(crate) fn array_index(token: &str) -> Option<usize> {
    if token.is_empty()
        || !token.bytes().all(|b| b.is_ascii_digit())
        || (token.len() > 1 && token.starts_with('0'))
    {
        return None;
    }
    token.parse().ok()
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    /// An object key (or an array index, when it is one).
    Key(String),
    /// Every element of an array (built-in paths).
    AnyIndex,
    /// Every element of an array or every value of an object (`*` in extra paths).
    Any,
}

fn parse_pointer(pointer: &str) -> Option<Vec<Seg>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    pointer
        .strip_prefix('/')?
        .split('/')
        .map(|seg| {
            if seg == "*" {
                Some(Seg::Any)
            } else {
                unescape_segment(seg).map(Seg::Key)
            }
        })
        .collect()
}

/// Where the pod spec of a built-in kind lives.
fn pod_spec_base(kind: &str) -> Option<&'static [&'static str]> {
    match kind {
        "Pod" => Some(&["spec"]),
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "ReplicationController" => Some(&["spec", "template", "spec"]),
        "PodTemplate" => Some(&["template", "spec"]),
        "CronJob" => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

/// Image fields within a pod spec: (list field, path from an element to the image string).
const POD_SPEC_IMAGE_FIELDS: [(&str, &[&str]); 4] = [
    ("containers", &["image"]),
    ("initContainers", &["image"]),
    ("ephemeralContainers", &["image"]),
    ("volumes", &["image", "reference"]),
];

/// Nesting limit for `List`s inside `List`s.
const MAX_LIST_DEPTH: usize = 32;

/// `kind` of a Kubernetes object: `Some` when `apiVersion` and `kind` are non-empty strings.
pub fn kubernetes_kind(object: &Map<String, Value>) -> Option<&str> {
    let api_version = object.get("apiVersion").and_then(Value::as_str)?;
    let kind = object.get("kind").and_then(Value::as_str)?;
    (!api_version.is_empty() && !kind.is_empty()).then_some(kind)
}

fn is_list_kind(kind: &str) -> bool {
    kind.ends_with("List")
}

/// One Kubernetes object of a document (the document itself, or an item of a `List`) and its images.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectImages<'a> {
    /// Pointer of the object within the document (`""`, or `/items/3`, …).
    pub pointer: String,
    /// The object.
    pub object: &'a Map<String, Value>,
    /// `(reference, pointer from the document root)` in document order.
    pub images: Vec<(String, String)>,
}

impl ObjectImages<'_> {
    /// The object's `kind`.
    pub fn kind(&self) -> &str {
        self.object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The object's `metadata.name` (empty when absent).
    pub fn name(&self) -> &str {
        self.metadata_str("name").unwrap_or_default()
    }

    /// The object's `metadata.namespace`, when it is a string.
    pub fn namespace(&self) -> Option<&str> {
        self.metadata_str("namespace")
    }

    fn metadata_str(&self, field: &str) -> Option<&str> {
        self.object
            .get("metadata")
            .and_then(|m| m.get(field))
            .and_then(Value::as_str)
    }
}

/// The Kubernetes objects of a document with their images: the document itself, or the items of a `List`
/// (recursively). Objects without images are included (the caller counts manifests with them); a
/// document that is not a Kubernetes object gives nothing.
pub fn objects<'a>(doc: &'a Value, extra: &[ImagePath]) -> Vec<ObjectImages<'a>> {
    let mut out = Vec::new();
    collect_objects(doc, String::new(), extra, &mut out, 0);
    out
}

fn collect_objects<'a>(
    value: &'a Value,
    prefix: String,
    extra: &[ImagePath],
    out: &mut Vec<ObjectImages<'a>>,
    depth: usize,
) {
    let Some(object) = value.as_object() else {
        return;
    };
    let Some(kind) = kubernetes_kind(object) else {
        return;
    };
    if is_list_kind(kind)
        && let Some(items) = object.get("items").and_then(Value::as_array)
    {
        if depth < MAX_LIST_DEPTH {
            for (i, item) in items.iter().enumerate() {
                collect_objects(item, format!("{prefix}/items/{i}"), extra, out, depth + 1);
            }
        }
        return;
    }
    let images = object_images(value, kind, extra)
        .into_iter()
        .map(|(reference, pointer)| (reference, format!("{prefix}{pointer}")))
        .collect();
    out.push(ObjectImages {
        pointer: prefix,
        object,
        images,
    });
}

/// All image references of a document as `(reference, pointer)`, in document order. Pure.
pub fn extract(doc: &Value, extra: &[ImagePath]) -> Vec<(String, String)> {
    objects(doc, extra)
        .into_iter()
        .flat_map(|o| o.images)
        .collect()
}

/// A string found at a path: its position (index within each container on the way, for document order),
/// its pointer and its value.
struct Hit {
    position: Vec<usize>,
    pointer: String,
    reference: String,
}

/// Images of one (non-`List`) object, relative to the object.
fn object_images(object: &Value, kind: &str, extra: &[ImagePath]) -> Vec<(String, String)> {
    let mut hits = Vec::new();
    let mut position = Vec::new();
    let mut pointer = String::new();
    if let Some(base) = pod_spec_base(kind) {
        for (field, tail) in POD_SPEC_IMAGE_FIELDS {
            let segs: Vec<Seg> = base
                .iter()
                .map(|s| Seg::Key((*s).to_owned()))
                .chain([Seg::Key(field.to_owned()), Seg::AnyIndex])
                .chain(tail.iter().map(|s| Seg::Key((*s).to_owned())))
                .collect();
            resolve(object, &segs, &mut position, &mut pointer, &mut hits);
        }
    }
    for path in extra.iter().filter(|p| p.kind == kind) {
        match parse_pointer(&path.pointer) {
            Some(segs) => resolve(object, &segs, &mut position, &mut pointer, &mut hits),
            None => tracing::debug!(pointer = %path.pointer, "ignoring invalid extra image path"),
        }
    }
    hits.sort_by(|a, b| a.position.cmp(&b.position));
    hits.dedup_by(|a, b| a.pointer == b.pointer);
    hits.into_iter().map(|h| (h.reference, h.pointer)).collect()
}

fn resolve(
    value: &Value,
    segs: &[Seg],
    position: &mut Vec<usize>,
    pointer: &mut String,
    hits: &mut Vec<Hit>,
) {
    let Some((first, rest)) = segs.split_first() else {
        if let Some(s) = value.as_str()
            && !s.trim().is_empty()
        {
            hits.push(Hit {
                position: position.clone(),
                pointer: pointer.clone(),
                reference: s.to_owned(),
            });
        }
        return;
    };
    let mut descend = |index: usize, token: &str, child: &Value| {
        let len = pointer.len();
        pointer.push('/');
        pointer.push_str(token);
        position.push(index);
        resolve(child, rest, position, pointer, hits);
        position.pop();
        pointer.truncate(len);
    };
    match (first, value) {
        (Seg::Key(key), Value::Object(map)) => {
            if let Some((i, (k, child))) = map.iter().enumerate().find(|(_, (k, _))| *k == key) {
                descend(i, &escape_segment(k), child);
            }
        }
        (Seg::Key(key), Value::Array(items)) => {
            if let Some((i, child)) = array_index(key).and_then(|i| items.get(i).map(|c| (i, c))) {
                descend(i, &i.to_string(), child);
            }
        }
        (Seg::AnyIndex | Seg::Any, Value::Array(items)) => {
            for (i, child) in items.iter().enumerate() {
                descend(i, &i.to_string(), child);
            }
        }
        (Seg::Any, Value::Object(map)) => {
            for (i, (k, child)) in map.iter().enumerate() {
                descend(i, &escape_segment(k), child);
            }
        }
        _ => {}
    }
}

/// An entry of a kustomization's `images:` list.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ImageOverride {
    /// The image name to match (the reference without `:tag` / `@digest`).
    pub name: String,
    /// Replaces the name.
    pub new_name: Option<String>,
    /// Replaces the tag (and drops a digest, unless `digest` is set too).
    pub new_tag: Option<String>,
    /// Replaces tag and digest with `@digest` (kept with `newTag` when both are set: `name:tag@digest`).
    pub digest: Option<String>,
}

/// A reference split the way kustomize splits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferenceParts<'a> {
    /// Everything before `:tag` / `@digest`.
    pub name: &'a str,
    /// The tag, without `:`.
    pub tag: Option<&'a str>,
    /// The digest, without `@`.
    pub digest: Option<&'a str>,
}

/// Splits `name[:tag][@digest]` as kustomize does: the `:` / `@` are searched after the first `/`, so a
/// registry port (`localhost:5000/app`) is part of the name.
pub fn split_reference(reference: &str) -> ReferenceParts<'_> {
    let search_from = match reference.find('/') {
        Some(i) if i > 0 => i,
        _ => 0,
    };
    let tail = reference.get(search_from..).unwrap_or_default();
    let at = tail.find('@').map(|i| i + search_from);
    let colon = tail.find(':').map(|i| i + search_from);
    let part = |from: usize, to: usize| reference.get(from..to).unwrap_or_default();
    match (colon, at) {
        (None, None) => ReferenceParts {
            name: reference,
            tag: None,
            digest: None,
        },
        (Some(c), Some(a)) if c < a => ReferenceParts {
            name: part(0, c),
            tag: Some(part(c + 1, a)),
            digest: Some(part(a + 1, reference.len())),
        },
        (_, Some(a)) => ReferenceParts {
            name: part(0, a),
            tag: None,
            digest: Some(part(a + 1, reference.len())),
        },
        (Some(c), None) => ReferenceParts {
            name: part(0, c),
            tag: Some(part(c + 1, reference.len())),
            digest: None,
        },
    }
}

/// Applies one kustomize `images:` entry: `None` when its `name` does not match the reference's name,
/// otherwise the rewritten reference (which may equal the input).
pub fn apply_override(reference: &str, ov: &ImageOverride) -> Option<String> {
    let parts = split_reference(reference);
    if ov.name.is_empty() || parts.name != ov.name {
        return None;
    }
    let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    let name = non_empty(&ov.new_name).unwrap_or_else(|| parts.name.to_owned());
    let (tag, digest) = match (non_empty(&ov.new_tag), non_empty(&ov.digest)) {
        (Some(t), Some(d)) => (Some(t), Some(d)),
        (Some(t), None) => (Some(t), None),
        (None, Some(d)) => (None, Some(d)),
        (None, None) => (
            parts.tag.map(str::to_owned),
            parts.digest.map(str::to_owned),
        ),
    };
    let mut out = name;
    if let Some(t) = tag {
        out.push(':');
        out.push_str(&t);
    }
    if let Some(d) = digest {
        out.push('@');
        out.push_str(&d);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn parse_image_path_accepts_and_rejects() {
        assert_eq!(
            parse_image_path("Rollout=/spec/template/spec/containers/*/image").unwrap(),
            ImagePath {
                kind: "Rollout".into(),
                pointer: "/spec/template/spec/containers/*/image".into()
            }
        );
        assert_eq!(
            parse_image_path("X=/a~1b/c=d").unwrap().pointer,
            "/a~1b/c=d"
        );
        assert_eq!(
            parse_image_path("Rollout").unwrap_err(),
            ImagePathError::MissingSeparator {
                input: "Rollout".into()
            }
        );
        assert_eq!(
            parse_image_path("=/spec").unwrap_err(),
            ImagePathError::EmptyKind {
                input: "=/spec".into()
            }
        );
        assert_eq!(
            parse_image_path("My Kind=/spec").unwrap_err(),
            ImagePathError::InvalidKind {
                input: "My Kind=/spec".into(),
                kind: "My Kind".into()
            }
        );
        assert_eq!(
            parse_image_path("Rollout=spec/image").unwrap_err(),
            ImagePathError::PointerNotAbsolute {
                input: "Rollout=spec/image".into(),
                pointer: "spec/image".into()
            }
        );
        let err = parse_image_path("Rollout=/spec/a~2b").unwrap_err();
        assert_eq!(
            err,
            ImagePathError::InvalidEscape {
                input: "Rollout=/spec/a~2b".into(),
                segment: "a~2b".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "image path \"Rollout=/spec/a~2b\": pointer segment \"a~2b\" has a '~' not followed by 0 or 1 (write ~0 for '~' and ~1 for '/')"
        );
    }

    #[test]
    fn deployment_images_in_document_order() {
        let doc = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod"},
            "spec": {"template": {"spec": {
                "initContainers": [{"name": "init", "image": "busybox:1.36"}],
                "containers": [
                    {"name": "app", "image": "ghcr.io/acme/web:1.2.3"},
                    {"name": "side", "image": "envoy@sha256:abc"},
                    {"name": "noimage"},
                    {"name": "empty", "image": ""},
                    {"name": "num", "image": 5}
                ]
            }}}
        });
        assert_eq!(
            extract(&doc, &[]),
            pairs(&[
                ("busybox:1.36", "/spec/template/spec/initContainers/0/image"),
                (
                    "ghcr.io/acme/web:1.2.3",
                    "/spec/template/spec/containers/0/image"
                ),
                ("envoy@sha256:abc", "/spec/template/spec/containers/1/image"),
            ])
        );
        let objs = objects(&doc, &[]);
        assert_eq!(objs.len(), 1);
        assert_eq!(objs[0].kind(), "Deployment");
        assert_eq!(objs[0].name(), "web");
        assert_eq!(objs[0].namespace(), Some("prod"));
    }

    #[test]
    fn cronjob_pod_podtemplate_and_image_volumes() {
        let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"image": "cron:1"}]}}}}}});
        assert_eq!(
            extract(&cron, &[]),
            pairs(&[(
                "cron:1",
                "/spec/jobTemplate/spec/template/spec/containers/0/image"
            )])
        );
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {
            "containers": [{"image": "app:1"}],
            "volumes": [{"name": "cfg", "configMap": {"name": "x"}},
                        {"name": "model", "image": {"reference": "ghcr.io/acme/model:v1", "pullPolicy": "IfNotPresent"}}],
            "ephemeralContainers": [{"image": "debug:latest"}]
        }});
        assert_eq!(
            extract(&pod, &[]),
            pairs(&[
                ("app:1", "/spec/containers/0/image"),
                ("ghcr.io/acme/model:v1", "/spec/volumes/1/image/reference"),
                ("debug:latest", "/spec/ephemeralContainers/0/image"),
            ])
        );
        let tmpl = json!({"apiVersion": "v1", "kind": "PodTemplate",
            "template": {"spec": {"containers": [{"image": "t:1"}]}}});
        assert_eq!(
            extract(&tmpl, &[]),
            pairs(&[("t:1", "/template/spec/containers/0/image")])
        );
        // Same shape, unknown kind: nothing.
        let crd = json!({"apiVersion": "x/v1", "kind": "Rollout",
            "spec": {"template": {"spec": {"containers": [{"image": "r:1"}]}}}});
        assert_eq!(extract(&crd, &[]), Vec::<(String, String)>::new());
        // Not a Kubernetes object: nothing.
        let values = json!({"kind": "Pod", "spec": {"containers": [{"image": "v:1"}]}});
        assert!(extract(&values, &[]).is_empty());
        assert!(objects(&values, &[]).is_empty());
    }

    #[test]
    fn lists_are_walked_recursively() {
        let doc = json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}, "spec": {"containers": [{"image": "a:1"}]}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"image": "not-an-image:1"}},
            {"apiVersion": "apps/v1", "kind": "DeploymentList", "items": [
                {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"},
                 "spec": {"template": {"spec": {"containers": [{"image": "d:1"}]}}}}
            ]},
            {"kind": "Pod", "spec": {"containers": [{"image": "no-api-version:1"}]}}
        ]});
        assert_eq!(
            extract(&doc, &[]),
            pairs(&[
                ("a:1", "/items/0/spec/containers/0/image"),
                (
                    "d:1",
                    "/items/2/items/0/spec/template/spec/containers/0/image"
                ),
            ])
        );
        let objs = objects(&doc, &[]);
        let summary: Vec<(&str, &str, Option<&str>, &str)> = objs
            .iter()
            .map(|o| (o.pointer.as_str(), o.kind(), o.namespace(), o.name()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("/items/0", "Pod", None, "a"),
                ("/items/1", "ConfigMap", None, "cm"),
                ("/items/2/items/0", "Deployment", Some("n"), "d"),
            ]
        );
    }

    #[test]
    fn extra_paths_with_wildcards_and_escaping() {
        let doc = json!({"apiVersion": "acme.dev/v1", "kind": "App", "metadata": {"name": "x"},
        "spec": {
            "images": {"web/front~1": "web:1", "api": "api:2", "blank": "  "},
            "steps": [{"run": {"image": "s0:1"}}, {"run": {}}, {"run": {"image": "s2:1"}}]
        }});
        let extra = vec![
            parse_image_path("App=/spec/steps/*/run/image").unwrap(),
            parse_image_path("App=/spec/images/*").unwrap(),
            parse_image_path("Other=/spec/images/api").unwrap(),
            // Same scalar twice: reported once.
            parse_image_path("App=/spec/images/api").unwrap(),
        ];
        assert_eq!(
            extract(&doc, &extra),
            pairs(&[
                ("web:1", "/spec/images/web~1front~01"),
                ("api:2", "/spec/images/api"),
                ("s0:1", "/spec/steps/0/run/image"),
                ("s2:1", "/spec/steps/2/run/image"),
            ])
        );
        // An escaped key addresses exactly that key; an index addresses an array element.
        let exact = vec![
            parse_image_path("App=/spec/images/web~1front~01").unwrap(),
            parse_image_path("App=/spec/steps/2/run/image").unwrap(),
            parse_image_path("App=/spec/steps/02/run/image").unwrap(),
        ];
        assert_eq!(
            extract(&doc, &exact),
            pairs(&[
                ("web:1", "/spec/images/web~1front~01"),
                ("s2:1", "/spec/steps/2/run/image"),
            ])
        );
        // Extra paths add to built-in kinds, without duplicates.
        let dep = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"annotations": {"sidecar/image": "side:1"}},
            "spec": {"template": {"spec": {"containers": [{"image": "main:1"}]}}}});
        let extra = vec![
            parse_image_path("Deployment=/spec/template/spec/containers/*/image").unwrap(),
            parse_image_path("Deployment=/metadata/annotations/sidecar~1image").unwrap(),
        ];
        assert_eq!(
            extract(&dep, &extra),
            pairs(&[
                ("side:1", "/metadata/annotations/sidecar~1image"),
                ("main:1", "/spec/template/spec/containers/0/image"),
            ])
        );
    }

    #[test]
    fn pointer_token_helpers() {
        assert_eq!(escape_segment("a/b~c"), "a~1b~0c");
        assert_eq!(unescape_segment("a~1b~0c").as_deref(), Some("a/b~c"));
        assert_eq!(unescape_segment("~01").as_deref(), Some("~1"));
        assert_eq!(unescape_segment("a~"), None);
        assert_eq!(array_index("0"), Some(0));
        assert_eq!(array_index("12"), Some(12));
        assert_eq!(array_index("012"), None);
        assert_eq!(array_index("-1"), None);
        assert_eq!(array_index(""), None);
    }

    #[test]
    fn kustomize_reference_arithmetic() {
        let p = |r| {
            let s = split_reference(r);
            (s.name, s.tag, s.digest)
        };
        assert_eq!(p("nginx"), ("nginx", None, None));
        assert_eq!(p("nginx:1.25"), ("nginx", Some("1.25"), None));
        assert_eq!(p("localhost:5000/app"), ("localhost:5000/app", None, None));
        assert_eq!(
            p("localhost:5000/app:v1@sha256:ab"),
            ("localhost:5000/app", Some("v1"), Some("sha256:ab"))
        );
        assert_eq!(p("app@sha256:ab"), ("app", None, Some("sha256:ab")));
        let ov =
            |name: &str, new_name: Option<&str>, new_tag: Option<&str>, digest: Option<&str>| {
                ImageOverride {
                    name: name.into(),
                    new_name: new_name.map(Into::into),
                    new_tag: new_tag.map(Into::into),
                    digest: digest.map(Into::into),
                }
            };
        assert_eq!(
            apply_override("app:1", &ov("app", Some("reg.io/app"), None, None)).as_deref(),
            Some("reg.io/app:1")
        );
        assert_eq!(
            apply_override("app@sha256:aa", &ov("app", None, Some("2"), None)).as_deref(),
            Some("app:2")
        );
        assert_eq!(
            apply_override("app:1", &ov("app", None, None, Some("sha256:bb"))).as_deref(),
            Some("app@sha256:bb")
        );
        assert_eq!(
            apply_override(
                "app:1",
                &ov("app", Some("x/app"), Some("3"), Some("sha256:cc"))
            )
            .as_deref(),
            Some("x/app:3@sha256:cc")
        );
        assert_eq!(
            apply_override("app:1", &ov("app", None, None, None)).as_deref(),
            Some("app:1")
        );
        assert_eq!(
            apply_override("other/app:1", &ov("app", None, Some("2"), None)),
            None
        );
        assert_eq!(
            apply_override("app:1", &ov("", None, Some("2"), None)),
            None
        );
    }
}
