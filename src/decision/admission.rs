//! The Kubernetes admission protocol (`admission.k8s.io/v1` `AdmissionReview`), pure: a review
//! request in → a [`Snapshot`] of the images of `request.object` (extracted by the same code as
//! `sealgate check`); a check [`Report`] out → the review response: `allowed`, a `403` status
//! whose message names every failing image with its JSON pointer and reason codes, `warnings`
//! for failures of `mode: warn` policies (kubectl prints them), and for `/mutate` a JSONPatch
//! that pins every verified tag reference to its digest. The HTTPS server, the deadline and the
//! cache are the webhook front end's.
//!
//! Everything taken from the request is bounded ([`MAX_REVIEW_BYTES`], the uid length) and
//! every string that goes back is plain JSON text (the API server shows it verbatim; nothing is
//! rendered as markup).

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::base::verdict::{Decision, Reason, Verdict};
use crate::decision::{ImageReport, Report};
use crate::manifests::images::{self, ImagePath};
use crate::manifests::{FoundImage, Location, Origin, Snapshot};

/// Largest review body accepted (the API server's own request limit is 3 MiB).
pub const MAX_REVIEW_BYTES: usize = 3 << 20;
/// The one review version answered (`admissionReviewVersions: [v1]`).
pub const API_VERSION: &str = "admission.k8s.io/v1";
/// What [`Location::file`] says for images of a review's object.
pub const OBJECT_FILE: &str = "request.object";
/// Longest `request.uid` accepted (a UUID is 36 characters).
const MAX_UID_LEN: usize = 256;
/// Longest denial message; the rest is summarized as "… and N more".
const MAX_MESSAGE_LEN: usize = 8 << 10;
/// Warnings per response, and characters per warning (the API server truncates longer ones).
const MAX_WARNINGS: usize = 20;
const MAX_WARNING_LEN: usize = 256;

/// Why a request is not an answerable review (the webhook answers HTTP 400 with the message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    /// Over [`MAX_REVIEW_BYTES`].
    #[error("request body is {0} bytes, over the limit of {MAX_REVIEW_BYTES} bytes")]
    TooLarge(usize),
    /// Not JSON.
    #[error("request body is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not an `admission.k8s.io/v1` `AdmissionReview`.
    #[error(
        "expected apiVersion \"{API_VERSION}\" and kind \"AdmissionReview\", got {api_version:?} and {kind:?}"
    )]
    NotAReview { api_version: String, kind: String },
    /// An `AdmissionReview` without `request`.
    #[error("AdmissionReview has no request")]
    NoRequest,
    /// A request field that is missing or of the wrong type.
    #[error("AdmissionReview request.{field}: {problem}")]
    Field {
        field: &'static str,
        problem: &'static str,
    },
}

/// `request.operation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "CREATE" => Some(Self::Create),
            "UPDATE" => Some(Self::Update),
            "DELETE" => Some(Self::Delete),
            "CONNECT" => Some(Self::Connect),
            _ => None,
        }
    }

    /// As the API server writes it (`"CREATE"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
        }
    }
}

/// The parts of an `AdmissionReview` request the webhook uses.
#[derive(Debug, Clone)]
pub struct Review {
    /// `request.uid`, echoed in the response.
    pub uid: String,
    pub operation: Operation,
    /// `request.kind.kind` (`Pod`, `Deployment`, a CRD's kind, …).
    pub kind: String,
    /// `request.subResource` (`ephemeralcontainers`), when there is one.
    pub sub_resource: Option<String>,
    /// `request.namespace` (absent for cluster-scoped objects).
    pub namespace: Option<String>,
    /// `request.name` (may be empty on CREATE with `generateName`).
    pub name: String,
    /// `request.dryRun`: no side effects (no events, nothing cached as a side effect).
    pub dry_run: bool,
    /// `request.object` (absent on DELETE).
    pub object: Option<Value>,
}

/// Parses an `AdmissionReview` body.
///
/// # Errors
/// Oversized, not JSON, not an `admission.k8s.io/v1` `AdmissionReview`, no `request`, or a
/// request without a usable `uid` or `operation`.
pub fn parse_review(body: &[u8]) -> Result<Review, ReviewError> {
    if body.len() > MAX_REVIEW_BYTES {
        return Err(ReviewError::TooLarge(body.len()));
    }
    let mut doc: Value =
        serde_json::from_slice(body).map_err(|e| ReviewError::NotJson(e.to_string()))?;
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let (api_version, kind) = (
        text(&doc, "apiVersion").unwrap_or_default(),
        text(&doc, "kind").unwrap_or_default(),
    );
    if api_version != API_VERSION || kind != "AdmissionReview" {
        return Err(ReviewError::NotAReview { api_version, kind });
    }
    let Some(Value::Object(mut request)) = doc.get_mut("request").map(Value::take) else {
        return Err(ReviewError::NoRequest);
    };
    let field = |field, problem| ReviewError::Field { field, problem };
    let uid = match request.get("uid") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_UID_LEN => s.clone(),
        Some(Value::String(s)) if s.is_empty() => return Err(field("uid", "is empty")),
        Some(Value::String(_)) => return Err(field("uid", "is too long")),
        Some(_) => return Err(field("uid", "is not a string")),
        None => return Err(field("uid", "is missing")),
    };
    let operation = match request.get("operation") {
        Some(Value::String(s)) => {
            Operation::parse(s).ok_or_else(|| field("operation", "is not a known operation"))?
        }
        Some(_) => return Err(field("operation", "is not a string")),
        None => return Err(field("operation", "is missing")),
    };
    let get =
        |m: &Map<String, Value>, key: &str| m.get(key).and_then(Value::as_str).map(str::to_owned);
    let kind = request
        .get("kind")
        .and_then(Value::as_object)
        .and_then(|k| get(k, "kind"))
        .unwrap_or_default();
    let object = match request.remove("object") {
        None | Some(Value::Null) => None,
        Some(o @ Value::Object(_)) => Some(o),
        Some(_) => return Err(field("object", "is not an object")),
    };
    if object.is_none() && matches!(operation, Operation::Create | Operation::Update) {
        return Err(field("object", "is missing"));
    }
    Ok(Review {
        uid,
        operation,
        kind,
        sub_resource: get(&request, "subResource").filter(|s| !s.is_empty()),
        namespace: get(&request, "namespace").filter(|s| !s.is_empty()),
        name: get(&request, "name").unwrap_or_default(),
        dry_run: request
            .get("dryRun")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        object,
    })
}

impl Review {
    /// Whether the images need checking: CREATE and UPDATE do; DELETE and CONNECT admit nothing
    /// new and are allowed without a look.
    pub fn needs_check(&self) -> bool {
        matches!(self.operation, Operation::Create | Operation::Update) && self.object.is_some()
    }

    /// The images of `request.object` (containers, init and ephemeral containers of a Pod or of
    /// any pod-template kind, plus `extra` paths of policies for CRDs), as a one-document
    /// snapshot whose pointers are relative to the object. The object's namespace defaults to
    /// the request's (a Pod created without `metadata.namespace`).
    pub fn snapshot(&self, extra: &[ImagePath]) -> Snapshot {
        let mut snapshot = Snapshot {
            files: 1,
            ..Snapshot::default()
        };
        let Some(object) = &self.object else {
            return snapshot;
        };
        for o in images::objects(object, extra) {
            snapshot.manifests += 1;
            let namespace = o
                .namespace()
                .map(str::to_owned)
                .or_else(|| self.namespace.clone());
            for (reference, pointer) in o.images.iter().cloned() {
                snapshot.images.push(FoundImage {
                    reference,
                    location: Location {
                        file: OBJECT_FILE.to_owned(),
                        document: 0,
                        kind: o.kind().to_owned(),
                        namespace: namespace.clone(),
                        name: o.name().to_owned(),
                        pointer,
                    },
                    origin: Origin::Scalar { path: None },
                });
            }
        }
        snapshot
    }

    /// What the object is called in messages: `Pod team-a/web-7d9f` (`ephemeralcontainers` of
    /// it, for the subresource).
    pub fn subject(&self) -> String {
        let name = if self.name.is_empty() {
            self.object
                .as_ref()
                .and_then(|o| o.pointer("/metadata/generateName"))
                .and_then(Value::as_str)
                .map_or_else(|| "(unnamed)".to_owned(), |g| format!("{g}*"))
        } else {
            self.name.clone()
        };
        let object = match &self.namespace {
            Some(ns) => format!("{} {ns}/{name}", self.kind),
            None => format!("{} {name}", self.kind),
        };
        match &self.sub_resource {
            Some(sub) => format!("{sub} of {object}"),
            None => object,
        }
    }
}

/// What the webhook answers for one review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub allowed: bool,
    /// The denial message (empty when allowed).
    pub message: String,
    /// Warnings shown to the client (warn-mode failures).
    pub warnings: Vec<String>,
    /// The JSONPatch operations (only `/mutate` sends them).
    pub patch: Vec<Value>,
    /// The first blocking reason code, for the metric label (`None` when allowed).
    pub reason: Option<&'static str>,
}

impl Answer {
    /// Allows without a check (DELETE, CONNECT, an object without images).
    pub fn allow() -> Self {
        Self {
            allowed: true,
            message: String::new(),
            warnings: Vec::new(),
            patch: Vec::new(),
            reason: None,
        }
    }

    /// Denies every image of the review for one reason (the deadline passed, the check
    /// could not run).
    pub fn deny(review: &Review, reason: &Reason) -> Self {
        Self {
            allowed: false,
            message: bounded(format!(
                "sealgate denied {}: {}: {}",
                review.subject(),
                reason.code.as_str(),
                reason.message
            )),
            warnings: Vec::new(),
            patch: Vec::new(),
            reason: Some(reason.code.as_str()),
        }
    }

    /// The answer a check report gives: denied when the decision is blocked (every blocking
    /// image named with its pointer and reason codes), allowed with warnings for non-blocking
    /// failures; with `mutate`, the digest pins of every passing tag reference.
    pub fn from_report(review: &Review, report: &Report, mutate: bool) -> Self {
        let blocked = report.decision == Decision::Blocked;
        let mut failing = Vec::new();
        let mut warnings = Vec::new();
        let mut reason = None;
        for img in &report.images {
            let Some(line) = failure_line(img) else {
                continue;
            };
            if img.blocking {
                if reason.is_none() {
                    reason = first_code(&img.verdict);
                }
                failing.push(line);
            } else {
                warnings.push(truncate(&format!("sealgate: {line}"), MAX_WARNING_LEN));
            }
        }
        for p in &report.problems {
            failing.push(format!("{}: {}", p.code.as_str(), p.message));
        }
        if warnings.len() > MAX_WARNINGS {
            let more = warnings.len() - (MAX_WARNINGS - 1);
            warnings.truncate(MAX_WARNINGS - 1);
            warnings.push(format!("sealgate: … and {more} more warnings"));
        }
        if !blocked {
            return Self {
                allowed: true,
                message: String::new(),
                warnings,
                patch: if mutate {
                    pin_patch(report)
                } else {
                    Vec::new()
                },
                reason: None,
            };
        }
        let count = failing.len();
        Self {
            allowed: false,
            message: bounded(format!(
                "sealgate denied {}: {count} image{} failed policy: {}",
                review.subject(),
                if count == 1 { "" } else { "s" },
                failing.join("; ")
            )),
            warnings,
            patch: Vec::new(),
            reason: reason.or_else(|| report.problems.first().map(|p| p.code.as_str())),
        }
    }

    /// The `AdmissionReview` response document echoing `uid`.
    pub fn to_review(&self, uid: &str) -> Value {
        let mut response = Map::new();
        response.insert("uid".into(), uid.into());
        response.insert("allowed".into(), self.allowed.into());
        if !self.allowed {
            response.insert(
                "status".into(),
                json!({"code": 403, "reason": "Forbidden", "message": self.message}),
            );
        }
        if !self.warnings.is_empty() {
            response.insert("warnings".into(), self.warnings.clone().into());
        }
        if !self.patch.is_empty() {
            let bytes = serde_json::to_vec(&self.patch).unwrap_or_default();
            response.insert("patchType".into(), "JSONPatch".into());
            response.insert(
                "patch".into(),
                base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .into(),
            );
        }
        json!({"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response})
    }
}

/// `image (pointer, pointer): Code message, Code message` for an image that did not pass.
fn failure_line(img: &ImageReport) -> Option<String> {
    let reasons: Vec<String> = match &img.verdict {
        Verdict::Pass | Verdict::Allowed => return None,
        Verdict::Fail(rs) => rs
            .iter()
            .map(|r| format!("{}: {}", r.code.as_str(), r.message))
            .collect(),
        Verdict::Unverifiable(r) => vec![format!("{}: {}", r.code.as_str(), r.message)],
    };
    let pointers: Vec<&str> = img.locations.iter().map(|l| l.pointer.as_str()).collect();
    Some(format!(
        "{} at {}: {}",
        img.image,
        pointers.join(", "),
        reasons.join(", ")
    ))
}

fn first_code(v: &Verdict) -> Option<&'static str> {
    match v {
        Verdict::Fail(rs) => rs.first().map(|r| r.code.as_str()),
        Verdict::Unverifiable(r) => Some(r.code.as_str()),
        Verdict::Pass | Verdict::Allowed => None,
    }
}

/// JSONPatch `replace` operations pinning every passing tag reference of the report to its
/// digest (`name:tag@sha256:…`, the tag kept for readers), one per occurrence.
pub fn pin_patch(report: &Report) -> Vec<Value> {
    let mut ops = Vec::new();
    for img in &report.images {
        let (Verdict::Pass, Some(digest), Some(reference)) =
            (&img.verdict, &img.digest, &img.reference)
        else {
            continue;
        };
        if reference.digest().is_some() {
            continue;
        }
        let pinned = format!("{}@{digest}", img.image.trim());
        for l in &img.locations {
            ops.push(json!({"op": "replace", "path": l.pointer, "value": pinned}));
        }
    }
    ops
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn bounded(message: String) -> String {
    truncate(&message, MAX_MESSAGE_LEN)
}

#[cfg(test)]
mod tests;
