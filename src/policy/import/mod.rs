//! `sealgate import`: Kyverno and sigstore policy-controller policies translated into
//! ImagePolicy documents (pure: text in, documents and findings out).
//!
//! Nothing is guessed. Every field of the source is either translated exactly, or reported
//! as a [`Finding`] with its path and one of three levels:
//!
//! * [`Level::Ignored`]: an admission-controller setting with no meaning for a gate (it
//!   changes no verdict);
//! * [`Level::Stricter`]: translated so that sealgate checks *more* than the source policy
//!   (it may block what the source admits, never the other way round);
//! * [`Level::Dropped`]: not translated; the result would admit something the source blocks,
//!   so `sealgate import` exits 1 unless `--allow-partial`.
//!
//! Unknown fields are [`Level::Dropped`] too: a field this version does not know may
//! restrict what the source admits.

mod kyverno;
mod kyverno_ivp;
mod patterns;
mod policy_controller;
mod trust_root;

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::policy::{ImagePolicySpec, Unmatched};

/// Which tool wrote the source policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Kyverno,
    PolicyController,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Self::Kyverno => "kyverno",
            Self::PolicyController => "policy-controller",
        }
    }
}

/// How far a field is from an exact translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ignored,
    Stricter,
    Dropped,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ignored => "ignored",
            Self::Stricter => "stricter",
            Self::Dropped => "dropped",
        }
    }
}

/// A field that did not translate exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The source document (`ClusterPolicy/check-images`).
    pub document: String,
    /// The field path inside it (`spec.rules[0].verifyImages[0].attestors[0].entries[1].keys.kms`).
    pub path: String,
    pub level: Level,
    pub message: String,
}

/// One translated ImagePolicy document.
#[derive(Debug, Clone)]
pub struct Imported {
    pub name: String,
    /// `ImagePolicy` (namespaced sources) or `ClusterImagePolicy`.
    pub kind: &'static str,
    /// The source document it came from.
    pub from: String,
    pub spec: ImagePolicySpec,
}

/// A `trusted_root.json` made from a policy-controller `TrustRoot`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedRootFile {
    /// The file name policies refer to: [`trusted_root_file`] of the TrustRoot's name.
    pub file_name: String,
    pub from: String,
    pub json: String,
}

/// The file a `TrustRoot` named `name` is written to (next to the policies).
pub fn trusted_root_file(name: &str) -> String {
    format!("{}.trusted_root.json", slug(name))
}

/// The result of importing one file.
#[derive(Debug, Clone, Default)]
pub struct Import {
    pub policies: Vec<Imported>,
    pub trusted_roots: Vec<TrustedRootFile>,
    pub findings: Vec<Finding>,
}

impl Import {
    /// Whether anything was dropped (the result admits something the source would block).
    pub fn dropped(&self) -> bool {
        self.findings.iter().any(|f| f.level == Level::Dropped)
    }
}

/// Options of an import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// What images no rule matches get; default per source (Kyverno: allow, since it only
    /// checks what its rules match; policy-controller: deny, its `no-match-policy` default).
    pub unmatched: Option<Unmatched>,
    /// The policy-controller `TrustRoot`s imported alongside ([`trust_root_names`]): an
    /// authority's `trustRootRef` to one of them becomes `trustedRoot: {path:
    /// NAME.trusted_root.json}`.
    pub trust_roots: std::collections::BTreeSet<String>,
}

/// Why a file could not be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("not a YAML/JSON document: {0}")]
    Parse(String),
    #[error("no {0} policy in the file")]
    Empty(&'static str),
}

/// The names of the policy-controller `TrustRoot` documents of `text` (for
/// [`Options::trust_roots`], gathered over every file before any is imported).
pub fn trust_root_names(text: &str) -> Vec<String> {
    let docs: Vec<Value> = match serde_saphyr::from_str_multiple(text) {
        Ok(d) => d,
        Err(_) => return Vec::new(),
    };
    docs.iter()
        .filter(|d| {
            d.get("kind").and_then(Value::as_str) == Some("TrustRoot")
                && d.get("apiVersion")
                    .and_then(Value::as_str)
                    .is_some_and(|a| a.starts_with("policy.sigstore.dev/"))
        })
        .filter_map(|d| d.pointer("/metadata/name").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// Largest source text accepted.
pub const MAX_SOURCE_BYTES: usize = 4 * 1024 * 1024;

/// Translates every policy document of `text` (multi-document YAML or JSON).
///
/// # Errors
/// [`ImportError`] when the text is not YAML, or holds no policy of `source` at all.
pub fn import(source: Source, text: &str, options: Options) -> Result<Import, ImportError> {
    if text.len() > MAX_SOURCE_BYTES {
        return Err(ImportError::Parse(format!(
            "larger than {MAX_SOURCE_BYTES} bytes"
        )));
    }
    let docs: Vec<Value> =
        serde_saphyr::from_str_multiple(text).map_err(|e| ImportError::Parse(e.to_string()))?;
    let mut out = Import::default();
    let mut any = false;
    for (i, doc) in docs.iter().enumerate() {
        if doc.is_null() {
            continue;
        }
        let Some(map) = doc.as_object() else {
            out.findings.push(Finding {
                document: format!("document {i}"),
                path: String::new(),
                level: Level::Dropped,
                message: "not a mapping".into(),
            });
            continue;
        };
        let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = map
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let label = if name.is_empty() {
            format!("{kind} (document {i})")
        } else {
            format!("{kind}/{name}")
        };
        let mut cx = Cx {
            document: label,
            findings: Vec::new(),
            roots: Vec::new(),
        };
        let handled = match source {
            Source::Kyverno => kyverno::document(doc, kind, name, &options, &mut cx),
            Source::PolicyController => {
                policy_controller::document(doc, kind, name, &options, &mut cx)
            }
        };
        match handled {
            Some(policies) => {
                any = true;
                out.policies.extend(policies);
            }
            None => cx.report(
                "kind",
                Level::Ignored,
                format!("{kind:?} is not a {} image policy", source.name()),
            ),
        }
        out.findings.extend(cx.findings);
        out.trusted_roots.extend(cx.roots);
    }
    if !any {
        return Err(ImportError::Empty(source.name()));
    }
    Ok(out)
}

/// The findings of one source document.
pub(crate) struct Cx {
    document: String,
    findings: Vec<Finding>,
    roots: Vec<TrustedRootFile>,
}

impl Cx {
    pub(crate) fn report(&mut self, path: &str, level: Level, message: impl Into<String>) {
        self.findings.push(Finding {
            document: self.document.clone(),
            path: path.to_string(),
            level,
            message: message.into(),
        });
    }
}

/// A mapping of the source being read: every key taken is marked, and [`Obj::finish`]
/// reports the keys nobody took, so no field goes unmentioned.
pub(crate) struct Obj<'a> {
    map: Option<&'a Map<String, Value>>,
    path: String,
    taken: BTreeSet<&'a str>,
}

impl<'a> Obj<'a> {
    /// `v` as a mapping at `path`; anything else is reported as dropped and reads as empty.
    pub(crate) fn new(v: &'a Value, path: &str, cx: &mut Cx) -> Self {
        let map = v.as_object();
        if map.is_none() && !v.is_null() {
            cx.report(path, Level::Dropped, "expected a mapping");
        }
        Self {
            map,
            path: path.to_string(),
            taken: BTreeSet::new(),
        }
    }

    pub(crate) fn at(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Takes a key (marking it translated).
    /// Whether the key is set (not null), without taking it.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.map
            .and_then(|m| m.get(key))
            .is_some_and(|v| !v.is_null())
    }

    pub(crate) fn get(&mut self, key: &str) -> Option<&'a Value> {
        let map = self.map?;
        let (k, v) = map.get_key_value(key)?;
        self.taken.insert(k.as_str());
        (!v.is_null()).then_some(v)
    }

    /// Takes a string key; another type is reported as dropped.
    pub(crate) fn str(&mut self, key: &str, cx: &mut Cx) -> Option<&'a str> {
        let v = self.get(key)?;
        match v.as_str() {
            Some(s) => Some(s),
            None => {
                cx.report(&self.at(key), Level::Dropped, "expected a string");
                None
            }
        }
    }

    /// Takes a boolean key; another type is reported as dropped.
    pub(crate) fn bool(&mut self, key: &str, cx: &mut Cx) -> Option<bool> {
        let v = self.get(key)?;
        match v.as_bool() {
            Some(b) => Some(b),
            None => {
                cx.report(&self.at(key), Level::Dropped, "expected true or false");
                None
            }
        }
    }

    /// Takes a list key; another type is reported as dropped.
    pub(crate) fn list(&mut self, key: &str, cx: &mut Cx) -> &'a [Value] {
        let Some(v) = self.get(key) else {
            return &[];
        };
        match v.as_array() {
            Some(a) => a,
            None => {
                cx.report(&self.at(key), Level::Dropped, "expected a list");
                &[]
            }
        }
    }

    /// Takes a key and reports it at `level` when present.
    pub(crate) fn note(&mut self, key: &str, level: Level, message: &str, cx: &mut Cx) {
        if self.get(key).is_some() {
            cx.report(&self.at(key), level, message);
        }
    }

    /// Takes each key and reports the ones present at `level`.
    pub(crate) fn notes(&mut self, level: Level, fields: &[(&str, &str)], cx: &mut Cx) {
        for (key, why) in fields {
            self.note(key, level, why, cx);
        }
    }

    /// Takes a hash-algorithm key; anything but SHA-256 is dropped.
    pub(crate) fn sha256_only(&mut self, key: &str, cx: &mut Cx) {
        if let Some(alg) = self.str(key, cx)
            && alg != "sha256"
        {
            cx.report(
                &self.at(key),
                Level::Dropped,
                format!("{key} {alg} is not translated (sha256 only)"),
            );
        }
    }

    /// Reports every key not taken as dropped (unknown to this translation).
    pub(crate) fn finish(self, cx: &mut Cx) {
        let Some(map) = self.map else { return };
        for (k, v) in map {
            if !self.taken.contains(k.as_str()) && !v.is_null() {
                cx.report(
                    &self.at(k),
                    Level::Dropped,
                    "not translated (unknown to sealgate import)",
                );
            }
        }
    }
}

static NULL: Value = Value::Null;

/// The top of a source document: `apiVersion`, `kind`, `metadata` and `status` taken (the
/// callers have read what they need of them), anything else reported; its `spec`.
pub(crate) fn spec_of<'a>(doc: &'a Value, cx: &mut Cx) -> &'a Value {
    let mut o = Obj::new(doc, "", cx);
    for k in ["apiVersion", "kind", "metadata", "status"] {
        o.get(k);
    }
    let spec = o.get("spec").unwrap_or(&NULL);
    o.finish(cx);
    spec
}

/// A cosign `key:` as policy-controller and ImageValidatingPolicy write it (`data`, `kms`,
/// `secretRef`, `hashAlgorithm`): the PEM keys of `data` and a supported `kms` key;
/// the rest reported.
pub(crate) fn cosign_key(v: &Value, at: &str, cx: &mut Cx) -> Vec<crate::policy::KeySpec> {
    let mut o = Obj::new(v, at, cx);
    let mut keys = Vec::new();
    if let Some(data) = o.str("data", cx) {
        match split_pem(data) {
            Ok(k) => keys.extend(k.into_iter().map(|pem| crate::policy::KeySpec {
                path: None,
                pem: Some(pem),
            })),
            Err(e) => cx.report(
                &o.at("data"),
                Level::Dropped,
                format!("not a PEM public key: {e}"),
            ),
        }
    }
    if let Some(uri) = o.str("kms", cx) {
        keys.extend(kms_key(uri, &o.at("kms"), cx));
    }
    o.notes(
        Level::Dropped,
        &[(
            "secretRef",
            "a key in a Secret: write it as key: {path: k8s://NAMESPACE/NAME}",
        )],
        cx,
    );
    o.sha256_only("hashAlgorithm", cx);
    o.finish(cx);
    keys
}

/// A cosign KMS key URI as a key path: `hashivault://NAME` and `awskms://…` translate (read
/// with sealgate's own `VAULT_*` / `AWS_*` configuration, as the source tool reads its own);
/// another scheme is reported.
pub(crate) fn kms_key(uri: &str, at: &str, cx: &mut Cx) -> Option<crate::policy::KeySpec> {
    use crate::policy::keysource::KeySource;
    let uri = uri.trim();
    match KeySource::parse(uri, std::path::Path::new(".")) {
        Ok(KeySource::Kms(_)) => Some(crate::policy::KeySpec {
            path: Some(uri.to_string()),
            pem: None,
        }),
        Ok(_) | Err(_) => {
            let shown: String = uri.chars().take(60).collect();
            cx.report(
                at,
                Level::Dropped,
                format!(
                    "{shown:?}: only hashivault:// and awskms:// key manager keys are supported"
                ),
            );
            None
        }
    }
}

/// A cosign identity (`issuer`, `subject`, `issuerRegExp`, `subjectRegExp`, as
/// policy-controller and Kyverno's ImageValidatingPolicy write it) as a keyless spec: regular
/// expressions unanchored as cosign matches them, an absent field any value. An exact value
/// with a regular expression for the same field (cosign checks both) keeps the exact value
/// when it matches the expression. `None` (reported) when it does not translate.
pub(crate) fn cosign_identity(
    v: &Value,
    at: &str,
    cx: &mut Cx,
) -> Option<crate::policy::KeylessSpec> {
    let mut o = Obj::new(v, at, cx);
    let mut ok = true;
    let mut field =
        |o: &mut Obj<'_>, name: &str, cx: &mut Cx| -> (Option<String>, Option<String>) {
            let exact = o.str(name, cx).map(str::to_string);
            let re_field = format!("{name}RegExp");
            let re = match o.str(&re_field, cx).map(patterns::unanchored_regex) {
                None => None,
                Some(Ok(r)) => Some(r),
                Some(Err(e)) => {
                    cx.report(&o.at(&re_field), Level::Dropped, e);
                    ok = false;
                    None
                }
            };
            match (exact, re) {
                (Some(e), Some(r)) => {
                    let holds = crate::sigstore::verify::Matcher::regex(&r)
                        .map(|m| m.matches(&e))
                        .unwrap_or(false);
                    if !holds {
                        cx.report(
                            &o.at(name),
                            Level::Dropped,
                            format!("{name} does not match {re_field}: no signature can pass"),
                        );
                        ok = false;
                    }
                    (Some(e), None)
                }
                (None, None) => (None, Some(".*".into())),
                other => other,
            }
        };
    let (issuer, issuer_regexp) = field(&mut o, "issuer", cx);
    let (subject, subject_regexp) = field(&mut o, "subject", cx);
    o.finish(cx);
    ok.then_some(crate::policy::KeylessSpec {
        issuer,
        issuer_regexp,
        subject,
        subject_regexp,
        claims: Default::default(),
    })
}

/// A name usable as a policy or attestor name: lowercase letters, digits, `-` and `.`, as a
/// Kubernetes object name.
pub(crate) fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    // a Kubernetes object name: starts and ends with a letter or digit, at most 253 long
    let mut t = out.trim_matches(['-', '.']).to_string();
    t.truncate(200);
    let t = t.trim_end_matches(['-', '.']).to_string();
    if t.is_empty() { "policy".into() } else { t }
}

/// The documents as multi-document YAML, each headed by where it came from.
///
/// # Errors
/// Serialization failure (should not happen for these types).
pub fn to_yaml(source: Source, file: &str, policies: &[Imported]) -> Result<String, String> {
    let mut out = String::new();
    for p in policies {
        let mut spec = serde_json::to_value(&p.spec).map_err(|e| e.to_string())?;
        prune(&mut spec);
        let doc = serde_json::json!({
            "apiVersion": "sealgate.dev/v1alpha1",
            "kind": p.kind,
            "metadata": {"name": p.name},
            "spec": spec,
        });
        let text = serde_saphyr::to_string(&doc).map_err(|e| e.to_string())?;
        out.push_str("---\n");
        out.push_str(&format!(
            "# sealgate import {} {}: {}\n",
            source.name(),
            file.replace(['\n', '\r'], " "),
            p.from.replace(['\n', '\r'], " ")
        ));
        out.push_str(&text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

/// Removes nulls, empty lists and maps, and `false` (every boolean of the schema defaults
/// to false), so the YAML shows only what was set.
fn prune(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for x in m.values_mut() {
                prune(x);
            }
            m.retain(|_, x| match x {
                Value::Null | Value::Bool(false) => false,
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !o.is_empty(),
                _ => true,
            });
        }
        Value::Array(a) => a.iter_mut().for_each(prune),
        _ => {}
    }
}

/// PEM blocks of a text holding one or more public keys, each re-armoured on its own.
pub(crate) fn split_pem(text: &str) -> Result<Vec<String>, String> {
    let blocks = crate::crypto::parse_pem_blocks(text).map_err(|e| e.to_string())?;
    let keys: Vec<String> = blocks
        .into_iter()
        .filter(|b| b.label == "PUBLIC KEY" || b.label == "RSA PUBLIC KEY")
        .map(|b| {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD.encode(&b.contents);
            let mut s = format!("-----BEGIN {}-----\n", b.label);
            for chunk in b64.as_bytes().chunks(64) {
                s.push_str(std::str::from_utf8(chunk).unwrap_or_default());
                s.push('\n');
            }
            s.push_str(&format!("-----END {}-----\n", b.label));
            s
        })
        .collect();
    for k in &keys {
        crate::crypto::PublicKey::from_pem(k).map_err(|e| e.to_string())?;
    }
    if keys.is_empty() {
        return Err("no PUBLIC KEY block".into());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests;
