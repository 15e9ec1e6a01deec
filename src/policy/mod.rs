//! `ImagePolicy`: the policy schema (shared by the CLI and, later, the CRD), its validation
//! into a compiled [`Policy`] (keys loaded once, globs compiled), and pure evaluation
//! ([`eval`]). Reading policy files is the only I/O here and happens once, before any
//! network access.

pub mod attestations;
pub mod eval;
pub mod glob;
pub mod import;
pub mod keysource;
pub mod signatures;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::attest::sbom::{PackageMatcher, SbomRule};
use crate::attest::vuln::{Severity, VulnRule};
use crate::base::reference::normalize_name;
use crate::base::verdict::ReasonCode;
use crate::crypto::PublicKey;
use crate::manifests::{ImagePath, parse_image_path};
use crate::policy::keysource::Resolved;
use glob::Glob;

/// Largest policy file read.
const MAX_POLICY_BYTES: u64 = 4 * 1024 * 1024;

/// Why a policy could not be loaded. Each names the file and, where it applies, the
/// field path (`spec.rules[0].signatures.threshold`).
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{file}: cannot read policy")]
    ReadFailed {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: not a YAML/JSON policy document: {message}")]
    ParseFailed { file: PathBuf, message: String },
    #[error("{file}: {path}: {message}")]
    Invalid {
        file: PathBuf,
        path: String,
        message: String,
    },
    #[error("{file}: no policy files found")]
    Empty { file: PathBuf },
}

mod schema;
pub use schema::*;

// ---------------------------------------------------------------------------------------
// Compiled policy (what the engine uses).

/// A validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    /// sha256 (hex) of the policy document as parsed (canonical JSON of the document).
    pub sha256: String,
    pub file: PathBuf,
    pub mode: Mode,
    /// Normalized allowlist entries (repository prefixes on path boundaries).
    pub registries: Vec<String>,
    pub unmatched: Unmatched,
    pub rules: Vec<Rule>,
    pub extra_image_paths: Vec<ImagePath>,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub images: Vec<Glob>,
    pub require_digest: bool,
    pub signatures: Option<SignatureRule>,
    pub attestations: Vec<AttestationRule>,
}

impl Rule {
    /// The image signatures the rule requires: none with `threshold: 0`, where the
    /// attestors only verify the rule's attestations (a verification summary admits the
    /// image without its signatures being fetched).
    pub fn required_signatures(&self) -> Option<&SignatureRule> {
        self.signatures.as_ref().filter(|s| s.threshold > 0)
    }
}

/// A compiled `attestations` entry.
#[derive(Debug, Clone)]
pub struct AttestationRule {
    /// As written (alias or URI), for messages.
    pub predicate_type: String,
    /// Which statement `predicateType`s match.
    pub matcher: crate::attest::PredicateMatcher,
    /// The attestors whose signature counts.
    pub attestors: Vec<Attestor>,
    pub sbom: Option<SbomRule>,
    pub vulnerabilities: Option<VulnRule>,
    pub summary: Option<SummaryRule>,
}

/// `summary:` of an attestation rule: the verification summary must come from `verifier`,
/// say PASSED and (with `max_age`) be at most that many seconds old.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRule {
    pub verifier: String,
    pub max_age: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct SignatureRule {
    /// k of the attestors (validated 1 ≤ k ≤ n, or 0 when the rule has attestations: the
    /// attestors then verify only those).
    pub threshold: usize,
    pub attestors: Vec<Attestor>,
}

#[derive(Debug, Clone)]
pub struct Attestor {
    pub name: String,
    pub kind: AttestorKind,
    /// Trust material for certificates, transparency-log entries and timestamps (the
    /// attestor's `trustedRoot`, `--trusted-root`, or the built-in production root).
    pub trusted_root: std::sync::Arc<crate::sigstore::trust::TrustedRoot>,
    /// `ignoreTlog`: a keyless signature may rely on a signed timestamp alone.
    pub ignore_tlog: bool,
}

/// How an attestor's signatures are recognised.
#[derive(Debug, Clone)]
pub enum AttestorKind {
    Key(PublicKey),
    /// A key manager key (`hashivault://NAME`): a signature by any of its live versions
    /// counts, as last read by the edge (see [`crate::policy::keysource::KmsKeys`]).
    Kms(std::sync::Arc<crate::policy::keysource::KmsKeys>),
    Keyless(crate::sigstore::verify::Identity),
}

/// The keys a key-based attestor verifies with now.
pub enum Keys<'a> {
    One(&'a PublicKey),
    Kms(std::sync::Arc<[PublicKey]>),
}

impl std::ops::Deref for Keys<'_> {
    type Target = [PublicKey];
    fn deref(&self) -> &[PublicKey] {
        match self {
            Self::One(k) => std::slice::from_ref(*k),
            Self::Kms(k) => k,
        }
    }
}

impl Attestor {
    /// A key-based attestor's keys: `None` for a keyless one, `Some(Err(why))` when its key
    /// manager key cannot be read now (`KeyUnavailable`).
    pub fn keys(&self) -> Option<Result<Keys<'_>, String>> {
        match &self.kind {
            AttestorKind::Key(k) => Some(Ok(Keys::One(k))),
            AttestorKind::Kms(cell) => Some(cell.current().map(Keys::Kms)),
            AttestorKind::Keyless(_) => None,
        }
    }

    /// Why this attestor's keys cannot be used now, if they cannot.
    pub fn unavailable(&self) -> Option<String> {
        self.keys().and_then(Result::err)
    }

    /// [`crate::sigstore::verify::verify_bundle`] as this attestor: its keyless identity, or
    /// each of its keys in turn (the first that verifies; else the most telling failure).
    ///
    /// # Errors
    /// The [`crate::sigstore::verify::Failure`]; `KeyUnavailable` when the keys cannot be read.
    pub fn verify_bundle(
        &self,
        bundle: &crate::sigstore::bundle::Bundle,
        artifact: crate::sigstore::verify::Artifact<'_>,
        opts: crate::sigstore::verify::Options,
    ) -> Result<crate::sigstore::verify::Verified, crate::sigstore::verify::Failure> {
        use crate::sigstore::verify::{Expected, Failure, verify_bundle};
        if let AttestorKind::Keyless(id) = &self.kind {
            return verify_bundle(
                bundle,
                artifact,
                Expected::Keyless(id),
                &self.trusted_root,
                opts,
            );
        }
        let keys: Keys<'_> = match self.keys() {
            Some(Ok(keys)) => keys,
            Some(Err(why)) => {
                return Err(Failure {
                    code: ReasonCode::KeyUnavailable,
                    message: why,
                });
            }
            None => Keys::Kms(Vec::new().into()),
        };
        let mut last = Failure {
            code: ReasonCode::NoMatchingSignature,
            message: format!("{} has no key version to verify with", self.name),
        };
        for key in keys.iter() {
            match verify_bundle(
                bundle,
                artifact,
                Expected::Key(key),
                &self.trusted_root,
                opts,
            ) {
                Ok(v) => return Ok(v),
                Err(f) if f.code == ReasonCode::NoMatchingSignature => {
                    if last.code == ReasonCode::NoMatchingSignature {
                        last = f;
                    }
                }
                Err(f) => last = f,
            }
        }
        Err(last)
    }
}

impl Policy {
    /// The key manager keys its attestors name, each cell once (the edge reads them:
    /// [`crate::edge::kms::activate`]).
    pub fn kms_keys(&self) -> Vec<std::sync::Arc<crate::policy::keysource::KmsKeys>> {
        let mut out: Vec<std::sync::Arc<crate::policy::keysource::KmsKeys>> = Vec::new();
        let attestors = self.rules.iter().flat_map(|r| {
            r.signatures
                .iter()
                .flat_map(|s| s.attestors.iter())
                .chain(r.attestations.iter().flat_map(|a| a.attestors.iter()))
        });
        for a in attestors {
            if let AttestorKind::Kms(cell) = &a.kind
                && !out.iter().any(|c| std::sync::Arc::ptr_eq(c, cell))
            {
                out.push(cell.clone());
            }
        }
        out
    }

    /// The first rule (file order) whose `images` globs match the normalized name.
    pub fn rule_for(&self, name: &str) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.images.iter().any(|g| g.matches(name)))
    }

    /// Whether the allowlist (if any) admits the normalized repository name.
    pub fn registry_allowed(&self, name: &str) -> bool {
        self.registries.is_empty()
            || self.registries.iter().any(|prefix| {
                name == prefix
                    || name
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
    }
}

/// Loads one policy file, or every `.yaml`/`.yml`/`.json` file of a directory (sorted,
/// recursively, hidden entries skipped). A file may hold several documents.
///
/// # Errors
/// [`PolicyError`] naming the file, field path and problem; nothing is partially loaded.
pub fn load(path: &Path) -> Result<Vec<Policy>, PolicyError> {
    load_with(path, &Resolved::default())
}

/// The `k8s://namespace/name` key references of the policies at `path` (so the caller can
/// fetch those Secrets once, before [`load_with`]).
///
/// # Errors
/// [`PolicyError`] when the files cannot be read or parsed.
pub fn kubernetes_key_refs(path: &Path) -> Result<Vec<(String, String)>, PolicyError> {
    let mut files = Vec::new();
    collect_files(path, &mut files).map_err(|source| PolicyError::ReadFailed {
        file: path.to_path_buf(),
        source,
    })?;
    let mut refs = Vec::new();
    for f in files {
        for doc in read_docs(&f)? {
            refs.extend(key_refs_of(&doc));
        }
    }
    refs.sort();
    refs.dedup();
    Ok(refs)
}

/// The `k8s://namespace/name` key references of one policy document (attestors'
/// `key.path`), sorted, each once.
pub fn key_refs_of(doc: &serde_json::Value) -> Vec<(String, String)> {
    let mut refs = Vec::new();
    for rule in doc
        .pointer("/spec/rules")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
    {
        for a in rule
            .pointer("/signatures/attestors")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(p) = a.pointer("/key/path").and_then(serde_json::Value::as_str) else {
                continue;
            };
            if let Ok(src) = crate::policy::keysource::KeySource::parse(p, Path::new("."))
                && let Some(r) = src.kubernetes()
            {
                refs.push(r);
            }
        }
    }
    refs.sort();
    refs.dedup();
    refs
}

/// The one digest of what a set of policies checks: each policy's name and document
/// hash, and the SHA-256 of every attestor key it resolved (a key file or Secret that
/// changes behind an unchanged document changes the digest; a `hashivault://` key counts
/// by its name), sorted. It is the
/// `Sealgate-Policy` trailer of promotions and part of the reconcile's cache key.
pub fn digest(policies: &[Policy]) -> String {
    use sha2::Digest as _;
    let mut parts: Vec<String> = Vec::new();
    for p in policies {
        parts.push(format!("policy {}={}", p.name, p.sha256));
        for r in &p.rules {
            for a in r.signatures.iter().flat_map(|s| s.attestors.iter()) {
                // a key manager key counts by its name (in the document): its versions
                // change with rotations, and the reconcile re-verifies a revision anyway
                // once its pass is older than the cache TTL
                if let AttestorKind::Key(k) = &a.kind {
                    parts.push(format!(
                        "key {}={}",
                        p.name,
                        hex::encode(sha2::Sha256::digest(k.spki_der()))
                    ));
                }
            }
        }
    }
    parts.sort();
    parts.dedup();
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(parts.join("\n").as_bytes()))
    )
}

/// [`load`] with Kubernetes Secrets already fetched.
///
/// # Errors
/// As [`load`].
pub fn load_with(path: &Path, resolved: &Resolved) -> Result<Vec<Policy>, PolicyError> {
    let mut files = Vec::new();
    collect_files(path, &mut files).map_err(|source| PolicyError::ReadFailed {
        file: path.to_path_buf(),
        source,
    })?;
    if files.is_empty() {
        return Err(PolicyError::Empty {
            file: path.to_path_buf(),
        });
    }
    let mut out: Vec<Policy> = Vec::new();
    for f in files {
        for p in load_file(&f, resolved)? {
            if out.iter().any(|q| q.name == p.name) {
                return Err(PolicyError::Invalid {
                    file: f.clone(),
                    path: "metadata.name".into(),
                    message: format!("a policy named {:?} was already loaded", p.name),
                });
            }
            out.push(p);
        }
    }
    Ok(out)
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(path)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let p = e.path();
        if p.is_dir() {
            collect_files(&p, out)?;
        } else if name == "trusted_root.json" || name.ends_with(".trusted_root.json") {
            // Sigstore trust material kept beside the policies that name it (trustedRoot.path)
            continue;
        } else if name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json") {
            out.push(p);
        }
    }
    Ok(())
}

fn read_docs(file: &Path) -> Result<Vec<serde_json::Value>, PolicyError> {
    let read_err = |source| PolicyError::ReadFailed {
        file: file.to_path_buf(),
        source,
    };
    let bytes = match crate::base::files::read_regular(file, MAX_POLICY_BYTES) {
        Ok(b) => b,
        Err(crate::base::files::FileError::TooLarge { .. }) => {
            return Err(PolicyError::ParseFailed {
                file: file.to_path_buf(),
                message: format!("file is larger than {MAX_POLICY_BYTES} bytes"),
            });
        }
        Err(e) => return Err(read_err(e.into_io())),
    };
    let text = String::from_utf8(bytes).map_err(|e| PolicyError::ParseFailed {
        file: file.to_path_buf(),
        message: format!("invalid UTF-8 at byte {}", e.utf8_error().valid_up_to()),
    })?;
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_str_multiple(&text).map_err(|e| PolicyError::ParseFailed {
            file: file.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

fn load_file(file: &Path, resolved: &Resolved) -> Result<Vec<Policy>, PolicyError> {
    let base = file.parent().unwrap_or(Path::new("."));
    read_docs(file)?
        .into_iter()
        .map(|d| compile_with(d, file, base, resolved))
        .collect()
}

/// Validates one parsed policy document. `base` resolves relative key paths.
///
/// # Errors
/// [`PolicyError::Invalid`] with the field path.
pub fn compile(doc: serde_json::Value, file: &Path, base: &Path) -> Result<Policy, PolicyError> {
    compile_with(doc, file, base, &Resolved::default())
}

/// [`compile`] with Kubernetes Secrets already fetched.
///
/// # Errors
/// As [`compile`].
pub fn compile_with(
    doc: serde_json::Value,
    file: &Path,
    base: &Path,
    resolved: &Resolved,
) -> Result<Policy, PolicyError> {
    let invalid = |path: &str, message: String| PolicyError::Invalid {
        file: file.to_path_buf(),
        path: path.to_string(),
        message,
    };
    let sha256 = {
        use sha2::Digest as _;
        let canonical = serde_json::to_vec(&doc).unwrap_or_default();
        hex::encode(sha2::Sha256::digest(&canonical))
    };
    let raw: RawDocument = serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        invalid(
            if path == "." { "(document)" } else { &path },
            e.into_inner().to_string(),
        )
    })?;
    if raw.api_version != "sealgate.dev/v1alpha1" {
        return Err(invalid(
            "apiVersion",
            format!("expected sealgate.dev/v1alpha1, got {:?}", raw.api_version),
        ));
    }
    if raw.kind != "ImagePolicy" && raw.kind != "ClusterImagePolicy" {
        return Err(invalid(
            "kind",
            format!(
                "expected ImagePolicy or ClusterImagePolicy, got {:?}",
                raw.kind
            ),
        ));
    }
    if raw.metadata.name.trim().is_empty() {
        return Err(invalid("metadata.name", "must not be empty".into()));
    }
    let spec = raw.spec;
    let registries = spec
        .registries
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if r.trim().is_empty() || r.contains('*') {
                Err(invalid(
                    &format!("spec.registries[{i}]"),
                    format!("{r:?} is not a registry or repository prefix"),
                ))
            } else {
                Ok(normalize_name(r.trim()))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let extra_image_paths = spec
        .extra_image_paths
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let text = match e {
                ExtraImagePathSpec::Text(t) => t.clone(),
                ExtraImagePathSpec::Object { kind, pointer } => format!("{kind}={pointer}"),
            };
            parse_image_path(&text)
                .map_err(|err| invalid(&format!("spec.extraImagePaths[{i}]"), err.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let kms_auth = match &spec.kms {
        None => None,
        Some(k) => Some(compile_kms_auth(&k.auth, base, resolved, &invalid)?),
    };
    let mut rules = Vec::with_capacity(spec.rules.len());
    for (i, r) in spec.rules.iter().enumerate() {
        let at = |field: &str| format!("spec.rules[{i}]{field}");
        if r.name.trim().is_empty() {
            return Err(invalid(&at(".name"), "must not be empty".into()));
        }
        if rules.iter().any(|q: &Rule| q.name == r.name) {
            return Err(invalid(
                &at(".name"),
                format!("duplicate rule name {:?}", r.name),
            ));
        }
        if r.images.is_empty() {
            return Err(invalid(
                &at(".images"),
                "needs at least one image glob".into(),
            ));
        }
        let images = r
            .images
            .iter()
            .enumerate()
            .map(|(j, g)| {
                Glob::new(g).map_err(|e| invalid(&at(&format!(".images[{j}]")), e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let signatures = match &r.signatures {
            None => None,
            Some(s) => Some(compile_signatures(
                s,
                &at(".signatures"),
                base,
                resolved,
                kms_auth.as_ref(),
                &invalid,
            )?),
        };
        let mut attestations = Vec::new();
        for (j, a) in r.attestations.iter().flatten().enumerate() {
            attestations.push(compile_attestation(
                a,
                &at(&format!(".attestations[{j}]")),
                signatures.as_ref(),
                &invalid,
            )?);
        }
        if signatures.as_ref().is_some_and(|s| s.threshold == 0) && attestations.is_empty() {
            return Err(invalid(
                &at(".signatures.threshold"),
                "threshold 0 (no image signature required) needs attestations for the attestors to verify".into(),
            ));
        }
        rules.push(Rule {
            name: r.name.clone(),
            images,
            require_digest: r.require_digest,
            signatures,
            attestations,
        });
    }
    Ok(Policy {
        name: raw.metadata.name,
        sha256,
        file: file.to_path_buf(),
        mode: spec.mode,
        registries,
        unmatched: spec.unmatched,
        rules,
        extra_image_paths,
    })
}

fn compile_attestation(
    a: &AttestationSpec,
    at: &str,
    signatures: Option<&SignatureRule>,
    invalid: &dyn Fn(&str, String) -> PolicyError,
) -> Result<AttestationRule, PolicyError> {
    let matcher = crate::attest::PredicateMatcher::parse(&a.predicate_type)
        .map_err(|e| invalid(&format!("{at}.predicateType"), e))?;
    let Some(sigs) = signatures else {
        return Err(invalid(
            at,
            "attestations are verified with the rule's signatures.attestors: add them".into(),
        ));
    };
    let attestors = match &a.attestors {
        None => sigs.attestors.clone(),
        Some(names) if names.is_empty() => {
            return Err(invalid(
                &format!("{at}.attestors"),
                "must name at least one attestor (or be left out: any)".into(),
            ));
        }
        Some(names) => names
            .iter()
            .enumerate()
            .map(|(k, n)| {
                sigs.attestors
                    .iter()
                    .find(|x| &x.name == n)
                    .cloned()
                    .ok_or_else(|| {
                        invalid(
                            &format!("{at}.attestors[{k}]"),
                            format!("no attestor named {n:?} in this rule's signatures.attestors"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let sbom = match &a.sbom {
        None => None,
        Some(s) => {
            let denied_packages = s
                .denied_packages
                .iter()
                .enumerate()
                .map(|(k, e)| {
                    PackageMatcher::parse(e)
                        .map_err(|m| invalid(&format!("{at}.sbom.deniedPackages[{k}]"), m))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let denied_licenses = s
                .denied_licenses
                .iter()
                .enumerate()
                .map(|(k, e)| {
                    crate::attest::sbom::parse_license_id(e)
                        .map_err(|m| invalid(&format!("{at}.sbom.deniedLicenses[{k}]"), m))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Some(SbomRule {
                denied_packages,
                denied_licenses,
            })
        }
    };
    let vulnerabilities = match &a.vulnerabilities {
        None => None,
        Some(v) => {
            let max_severity = v
                .max_severity
                .as_deref()
                .map(Severity::parse)
                .transpose()
                .map_err(|m| invalid(&format!("{at}.vulnerabilities.maxSeverity"), m))?;
            let max_age = v
                .max_age
                .as_deref()
                .map(crate::base::time::parse_duration)
                .transpose()
                .map_err(|m| invalid(&format!("{at}.vulnerabilities.maxAge"), m.to_string()))?;
            for (field, list) in [("deny", &v.deny), ("ignore", &v.ignore)] {
                if let Some((k, e)) = list
                    .iter()
                    .enumerate()
                    .find(|(_, e)| e.trim().is_empty() || e.chars().any(char::is_whitespace))
                {
                    return Err(invalid(
                        &format!("{at}.vulnerabilities.{field}[{k}]"),
                        format!("{e:?} is not a vulnerability id"),
                    ));
                }
            }
            if let Some(e) = v
                .deny
                .iter()
                .find(|d| v.ignore.iter().any(|i| i.eq_ignore_ascii_case(d)))
            {
                return Err(invalid(
                    &format!("{at}.vulnerabilities"),
                    format!("{e} is both denied and ignored"),
                ));
            }
            Some(VulnRule {
                max_severity,
                deny: v.deny.clone(),
                ignore: v.ignore.clone(),
                max_age,
            })
        }
    };
    let summary = match &a.summary {
        None => None,
        Some(s) => {
            if matcher.uri() != crate::attest::vsa::PREDICATE {
                return Err(invalid(
                    &format!("{at}.summary"),
                    "applies to verification summaries: set predicateType: vsa".into(),
                ));
            }
            if sbom.is_some() || vulnerabilities.is_some() {
                return Err(invalid(
                    &format!("{at}.summary"),
                    "a verification summary has no SBOM or scan to check".into(),
                ));
            }
            let verifier = s.verifier.trim().to_string();
            if verifier.is_empty() {
                return Err(invalid(
                    &format!("{at}.summary.verifier"),
                    "names the summary's verifier.id".into(),
                ));
            }
            let max_age = s
                .max_age
                .as_deref()
                .map(crate::base::time::parse_duration)
                .transpose()
                .map_err(|m| invalid(&format!("{at}.summary.maxAge"), m.to_string()))?;
            Some(SummaryRule { verifier, max_age })
        }
    };
    Ok(AttestationRule {
        predicate_type: a.predicate_type.clone(),
        matcher,
        attestors,
        sbom,
        vulnerabilities,
        summary,
    })
}

/// Refuses key sources a policy from a custom resource may not use.
fn in_scope(
    src: &crate::policy::keysource::KeySource,
    resolved: &Resolved,
) -> Result<(), crate::policy::keysource::KeySourceError> {
    use crate::policy::keysource::{KeySource, KeySourceError};
    let Some(scope) = &resolved.cluster else {
        return Ok(());
    };
    match src {
        KeySource::Inline(_) => Ok(()),
        KeySource::File(p) => Err(KeySourceError::NotAllowed(format!(
            "{} (a policy in the cluster uses pem or k8s://namespace/secret, never files)",
            p.display()
        ))),
        KeySource::Env(v) => Err(KeySourceError::NotAllowed(format!(
            "env://{v} (a policy in the cluster uses pem or k8s://namespace/secret)"
        ))),
        KeySource::Kubernetes { namespace, name } => match &scope.namespace {
            Some(own) if own != namespace => Err(KeySourceError::NotAllowed(format!(
                "k8s://{namespace}/{name} (an ImagePolicy reads Secrets of its own namespace {own} only)"
            ))),
            _ => Ok(()),
        },
        // the controller's key manager serves cluster-wide policies only: a tenant's
        // ImagePolicy must not use its credentials
        KeySource::Kms(uri) => match &scope.namespace {
            Some(own) => Err(KeySourceError::NotAllowed(format!(
                "{uri} (an ImagePolicy in {own} cannot use the controller's key manager: name the key in a ClusterImagePolicy, or use pem or k8s://{own}/secret)"
            ))),
            None => Ok(()),
        },
    }
}

/// Fulcio claim names a `keyless.claims` entry may use.
pub const KEYLESS_CLAIMS: &[&str] = &[
    "githubWorkflowTrigger",
    "githubWorkflowSha",
    "githubWorkflowName",
    "githubWorkflowRepository",
    "githubWorkflowRef",
    "buildSignerURI",
    "buildSignerDigest",
    "runnerEnvironment",
    "sourceRepositoryURI",
    "sourceRepositoryDigest",
    "sourceRepositoryRef",
    "sourceRepositoryIdentifier",
    "sourceRepositoryOwnerURI",
    "sourceRepositoryOwnerIdentifier",
    "buildConfigURI",
    "buildConfigDigest",
    "buildTrigger",
    "runInvocationURI",
    "sourceRepositoryVisibilityAtSigning",
];

fn compile_keyless(
    k: &KeylessSpec,
    at: &str,
    invalid: &dyn Fn(&str, String) -> PolicyError,
) -> Result<crate::sigstore::verify::Identity, PolicyError> {
    use crate::sigstore::verify::Matcher;
    let matcher =
        |exact: &Option<String>, re: &Option<String>, name: &str| -> Result<Matcher, PolicyError> {
            match (exact, re) {
                (Some(s), None) if !s.is_empty() => Ok(Matcher::Exact(s.clone())),
                (None, Some(r)) => Matcher::regex(r).map_err(|e| {
                    invalid(
                        &format!("{at}.{name}RegExp"),
                        format!("invalid regular expression: {e}"),
                    )
                }),
                (Some(_), Some(_)) => Err(invalid(
                    at,
                    format!("set either `{name}` or `{name}RegExp`, not both"),
                )),
                _ => Err(invalid(at, format!("needs `{name}` or `{name}RegExp`"))),
            }
        };
    let issuer = matcher(&k.issuer, &k.issuer_regexp, "issuer")?;
    let subject = matcher(&k.subject, &k.subject_regexp, "subject")?;
    for name in k.claims.keys() {
        if !KEYLESS_CLAIMS.contains(&name.as_str()) {
            return Err(invalid(
                &format!("{at}.claims.{name}"),
                format!("unknown Fulcio claim; known: {}", KEYLESS_CLAIMS.join(", ")),
            ));
        }
    }
    Ok(crate::sigstore::verify::Identity {
        issuer,
        subject,
        claims: k.claims.clone(),
    })
}

/// `spec.kms.auth`: one login method, its mounts valid; in the cluster no file but the
/// pod's own service-account token.
fn compile_kms_auth(
    a: &KmsAuthSpec,
    base: &Path,
    resolved: &Resolved,
    invalid: &dyn Fn(&str, String) -> PolicyError,
) -> Result<crate::policy::keysource::KmsAuth, PolicyError> {
    use crate::policy::keysource::{KmsAuth, SERVICE_ACCOUNT_TOKEN, is_key_name};
    let mount = |m: &Option<String>, default: &str, at: &str| {
        let m = m.as_deref().unwrap_or(default).trim_matches('/');
        if m.is_empty() || !m.split('/').all(is_key_name) {
            Err(invalid(at, format!("{m:?} is not a Vault auth mount path")))
        } else {
            Ok(m.to_string())
        }
    };
    let in_cluster = resolved.cluster.is_some();
    match (&a.kubernetes, &a.approle) {
        (Some(k), None) => {
            if k.role.trim().is_empty() {
                return Err(invalid(
                    "spec.kms.auth.kubernetes.role",
                    "must not be empty".into(),
                ));
            }
            let token_path = match &k.token_path {
                None => PathBuf::from(SERVICE_ACCOUNT_TOKEN),
                Some(p) if in_cluster && p != SERVICE_ACCOUNT_TOKEN => {
                    return Err(invalid(
                        "spec.kms.auth.kubernetes.tokenPath",
                        "a policy in the cluster logs in with the controller's own service-account token (leave tokenPath unset)".into(),
                    ));
                }
                Some(p) => base.join(p),
            };
            Ok(KmsAuth::Kubernetes {
                role: k.role.trim().to_string(),
                mount_path: mount(
                    &k.mount_path,
                    "kubernetes",
                    "spec.kms.auth.kubernetes.mountPath",
                )?,
                token_path,
            })
        }
        (None, Some(r)) => {
            if in_cluster {
                return Err(invalid(
                    "spec.kms.auth.approle",
                    "a policy in the cluster cannot read the controller's files: use kubernetes auth".into(),
                ));
            }
            if r.role_id.trim().is_empty() || r.secret_id_file.trim().is_empty() {
                return Err(invalid(
                    "spec.kms.auth.approle",
                    "needs roleId and secretIdFile".into(),
                ));
            }
            Ok(KmsAuth::AppRole {
                role_id: r.role_id.trim().to_string(),
                secret_id_file: base.join(r.secret_id_file.trim()),
                mount_path: mount(&r.mount_path, "approle", "spec.kms.auth.approle.mountPath")?,
            })
        }
        _ => Err(invalid(
            "spec.kms.auth",
            "set exactly one of `kubernetes` ({role}) or `approle` ({roleId, secretIdFile})".into(),
        )),
    }
}

fn compile_signatures(
    s: &SignaturesSpec,
    at: &str,
    base: &Path,
    resolved: &Resolved,
    kms_auth: Option<&crate::policy::keysource::KmsAuth>,
    invalid: &dyn Fn(&str, String) -> PolicyError,
) -> Result<SignatureRule, PolicyError> {
    if s.attestors.is_empty() {
        return Err(invalid(
            &format!("{at}.attestors"),
            "needs at least one attestor".into(),
        ));
    }
    let mut attestors: Vec<Attestor> = Vec::new();
    for (j, a) in s.attestors.iter().enumerate() {
        let here = format!("{at}.attestors[{j}]");
        if a.name.trim().is_empty() {
            return Err(invalid(&format!("{here}.name"), "must not be empty".into()));
        }
        if attestors.iter().any(|b| b.name == a.name) {
            return Err(invalid(
                &format!("{here}.name"),
                format!("duplicate attestor name {:?}", a.name),
            ));
        }
        if resolved.cluster.is_some() && a.trusted_root.is_some() {
            return Err(invalid(
                &format!("{here}.trustedRoot"),
                "a policy in the cluster cannot read files: the controller's trusted root (--trusted-root) applies".into(),
            ));
        }
        let trusted_root = match &a.trusted_root {
            None => resolved
                .trusted_root
                .clone()
                .unwrap_or_else(crate::sigstore::trust::TrustedRoot::production),
            Some(t) => {
                let path = base.join(&t.path);
                std::sync::Arc::new(
                    crate::sigstore::trust::TrustedRoot::from_file(&path)
                        .map_err(|e| invalid(&format!("{here}.trustedRoot.path"), e.to_string()))?,
                )
            }
        };
        let kind = match (&a.key, &a.keyless) {
            (Some(key), None) => {
                let path_error = |e: &dyn std::error::Error| {
                    invalid(&format!("{here}.key.path"), crate::base::error::chain(e))
                };
                let pem = match (&key.path, &key.pem) {
                    (Some(p), None) => {
                        let src = crate::policy::keysource::KeySource::parse(p, base)
                            .map_err(|e| path_error(&e))?;
                        in_scope(&src, resolved).map_err(|e| path_error(&e))?;
                        match src.kms() {
                            // read by the edge after compiling (crate::edge::kms::activate)
                            Some(uri) => Err(uri.clone()),
                            None => Ok(src.read_public(resolved).map_err(|e| path_error(&e))?),
                        }
                    }
                    (None, Some(pem)) => Ok(pem.clone()),
                    _ => {
                        return Err(invalid(
                            &format!("{here}.key"),
                            "set exactly one of `path` or `pem`".into(),
                        ));
                    }
                };
                match pem {
                    Ok(pem) => AttestorKind::Key(PublicKey::from_pem(&pem).map_err(|e| {
                        invalid(&format!("{here}.key"), crate::base::error::chain(&e))
                    })?),
                    Err(uri) => AttestorKind::Kms(std::sync::Arc::new(
                        crate::policy::keysource::KmsKeys::new(uri, kms_auth.cloned()),
                    )),
                }
            }
            (None, Some(k)) => {
                AttestorKind::Keyless(compile_keyless(k, &format!("{here}.keyless"), invalid)?)
            }
            (Some(_), Some(_)) => {
                return Err(invalid(
                    &here,
                    "set either `key` or `keyless`, not both".into(),
                ));
            }
            (None, None) => {
                return Err(invalid(
                    &here,
                    "needs `key` ({path: …} or {pem: …}) or `keyless` ({issuer, subject})".into(),
                ));
            }
        };
        attestors.push(Attestor {
            name: a.name.clone(),
            kind,
            trusted_root,
            ignore_tlog: a.ignore_tlog.unwrap_or(false),
        });
    }
    let n = attestors.len();
    let threshold = match s.threshold {
        None => n,
        Some(k) if usize::try_from(k).is_ok_and(|k| k <= n) => usize::try_from(k).unwrap_or(n),
        Some(k) => {
            return Err(invalid(
                &format!("{at}.threshold"),
                format!("threshold {k} must be between 0 and the number of attestors ({n})"),
            ));
        }
    };
    Ok(SignatureRule {
        threshold,
        attestors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // connaisseur's alice.key (a real cosign P-256 public key)
    const KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEusIAt6EJ3YrTHdg2qkWVS0KuotWQ
wHDtyaXlq7Nhj8279+1u/l5pZhXJPW8PnGRRLdO5NbsuM6aT7pOcP100uw==
-----END PUBLIC KEY-----";

    fn compile_yaml(y: &str) -> Result<Policy, PolicyError> {
        let doc: serde_json::Value = serde_saphyr::from_str(y).unwrap();
        compile(doc, Path::new("p.yaml"), Path::new("."))
    }

    fn policy(spec: &str) -> String {
        format!(
            "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {{name: prod}}\nspec:\n{spec}"
        )
    }

    #[test]
    fn transit_key_attestors_compile_to_one_unread_cell_with_the_policys_login() {
        use crate::policy::keysource::{ClusterScope, KmsAuth};
        let rules = "  rules:\n    - name: r\n      images: [\"**\"]\n      signatures:\n        attestors:\n          - name: vault\n            key: {path: \"hashivault://ci\"}\n";
        let p = compile_yaml(&policy(&format!(
            "  kms:\n    auth:\n      approle: {{roleId: r-1, secretIdFile: sid}}\n{rules}"
        )))
        .unwrap();
        let cells = p.kms_keys();
        assert_eq!(cells.len(), 1);
        assert_eq!(cells[0].uri.to_string(), "hashivault://ci");
        assert_eq!(
            cells[0].auth,
            Some(KmsAuth::AppRole {
                role_id: "r-1".into(),
                secret_id_file: Path::new(".").join("sid"),
                mount_path: "approle".into(),
            })
        );
        let a = &p.rules[0].signatures.as_ref().unwrap().attestors[0];
        assert!(matches!(a.unavailable(), Some(m) if m.contains("not read yet")));

        let cluster = |kind: &str, namespace: Option<&str>, spec: &str| {
            let doc: serde_json::Value = serde_saphyr::from_str(
                &policy(spec).replace("kind: ImagePolicy", &format!("kind: {kind}")),
            )
            .unwrap();
            let resolved = Resolved {
                cluster: Some(ClusterScope {
                    namespace: namespace.map(str::to_owned),
                }),
                ..Resolved::default()
            };
            compile_with(doc, Path::new("p"), Path::new("/nonexistent"), &resolved)
        };
        // a tenant's ImagePolicy cannot use the controller's Vault; a ClusterImagePolicy can,
        // logging in with the controller's own service-account token only
        let (path, msg) = err_path(cluster("ImagePolicy", Some("team-a"), rules));
        assert_eq!(path, "spec.rules[0].signatures.attestors[0].key.path");
        assert!(msg.contains("ClusterImagePolicy"), "{msg}");
        assert!(cluster("ClusterImagePolicy", None, rules).is_ok());
        let k8s = format!("  kms:\n    auth:\n      kubernetes: {{role: gate}}\n{rules}");
        let p = cluster("ClusterImagePolicy", None, &k8s).unwrap();
        assert!(matches!(
            &p.kms_keys()[0].auth,
            Some(KmsAuth::Kubernetes { role, mount_path, token_path })
                if role == "gate" && mount_path == "kubernetes"
                    && token_path == Path::new(crate::policy::keysource::SERVICE_ACCOUNT_TOKEN)
        ));
        for (spec, at) in [
            (
                "      approle: {roleId: r, secretIdFile: sid}\n",
                "spec.kms.auth.approle",
            ),
            (
                "      kubernetes: {role: gate, tokenPath: /etc/other}\n",
                "spec.kms.auth.kubernetes.tokenPath",
            ),
        ] {
            let (path, _) = err_path(cluster(
                "ClusterImagePolicy",
                None,
                &format!("  kms:\n    auth:\n{spec}{rules}"),
            ));
            assert_eq!(path, at);
        }
        // one login method, valid mounts
        for (auth, at) in [
            ("{}", "spec.kms.auth"),
            (
                "{kubernetes: {role: a}, approle: {roleId: r, secretIdFile: s}}",
                "spec.kms.auth",
            ),
            (
                "{kubernetes: {role: a, mountPath: \"../x\"}}",
                "spec.kms.auth.kubernetes.mountPath",
            ),
            (
                "{kubernetes: {role: \" \"}}",
                "spec.kms.auth.kubernetes.role",
            ),
        ] {
            let (path, _) = err_path(compile_yaml(&policy(&format!(
                "  kms:\n    auth: {auth}\n{rules}"
            ))));
            assert_eq!(path, at, "{auth}");
        }
    }

    fn err_path(r: Result<Policy, PolicyError>) -> (String, String) {
        match r {
            Err(PolicyError::Invalid { path, message, .. }) => (path, message),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn compiles_a_full_policy() {
        let y = policy(&format!(
            "  registries: [ghcr.io/acme, localhost:5000]\n  rules:\n  - name: apps\n    images: ['ghcr.io/acme/**']\n    signatures:\n      threshold: 1\n      attestors:\n      - name: ci\n        key: {{pem: \"{}\"}}\n",
            KEY.replace('\n', "\\n")
        ));
        let p = compile_yaml(&y).unwrap();
        assert_eq!(p.name, "prod");
        assert_eq!(p.registries, vec!["ghcr.io/acme", "localhost:5000"]);
        assert_eq!(p.rules[0].signatures.as_ref().unwrap().threshold, 1);
        assert!(p.rule_for("ghcr.io/acme/web/api").is_some());
        assert!(p.rule_for("ghcr.io/other/web").is_none());
        assert!(p.registry_allowed("ghcr.io/acme/web"));
        assert!(!p.registry_allowed("ghcr.io/acmeevil/web"));
        assert!(p.registry_allowed("localhost:5000/x"));
        assert_eq!(p.sha256.len(), 64);
    }

    #[test]
    fn unknown_field_names_its_path() {
        let (path, msg) = err_path(compile_yaml(&policy(
            "  rules:\n  - name: a\n    images: ['*']\n    requireDigests: true\n",
        )));
        assert_eq!(path, "spec.rules[0].requireDigests");
        assert!(msg.contains("unknown field"), "{msg}");
    }

    #[test]
    fn threshold_above_attestors_is_invalid() {
        let y = policy(&format!(
            "  rules:\n  - name: a\n    images: ['**']\n    signatures:\n      threshold: 2\n      attestors:\n      - name: ci\n        key: {{pem: \"{}\"}}\n",
            KEY.replace('\n', "\\n")
        ));
        let (path, msg) = err_path(compile_yaml(&y));
        assert_eq!(path, "spec.rules[0].signatures.threshold");
        assert!(msg.contains("between 0 and"), "{msg}");
    }

    #[test]
    fn threshold_zero_verifies_only_attestations() {
        let rule = |att: &str| {
            policy(&format!(
                "  rules:\n  - name: a\n    images: ['**']\n    signatures:\n      threshold: 0\n      attestors:\n      - name: gate\n        key: {{pem: \"{}\"}}\n{att}",
                KEY.replace('\n', "\\n")
            ))
        };
        let p = compile_yaml(&rule(
            "    attestations:\n    - {predicateType: vsa, summary: {verifier: 'https://sealgate.dev/gate/prod', maxAge: 24h}}\n",
        ))
        .unwrap();
        let r = &p.rules[0];
        assert!(r.required_signatures().is_none());
        let s = r.attestations[0].summary.as_ref().unwrap();
        assert_eq!(s.verifier, "https://sealgate.dev/gate/prod");
        assert_eq!(s.max_age, Some(24 * 3600));
        let image = crate::base::reference::ImageRef::parse("ghcr.io/acme/web:1").unwrap();
        assert!(!crate::policy::eval::needs_signatures(
            std::slice::from_ref(&p),
            &image
        ));
        assert!(crate::policy::eval::needs_attestations(
            std::slice::from_ref(&p),
            &image
        ));
        let (path, msg) = err_path(compile_yaml(&rule("")));
        assert_eq!(path, "spec.rules[0].signatures.threshold");
        assert!(msg.contains("needs attestations"), "{msg}");
    }

    fn keyless_policy(attestor: &str) -> String {
        policy(&format!(
            "  rules:\n  - name: a\n    images: ['**']\n    signatures:\n      attestors:\n      - name: rel\n{attestor}"
        ))
    }

    #[test]
    fn keyless_attestors_compile_with_anchored_regexes_and_claims() {
        let p = compile_yaml(&keyless_policy(
            "        keyless:\n          issuer: https://token.actions.githubusercontent.com\n          subjectRegExp: https://github\\.com/acme/.+\n          claims: {githubWorkflowRepository: acme/app}\n        ignoreTlog: true\n",
        ))
        .unwrap();
        let a = &p.rules[0].signatures.as_ref().unwrap().attestors[0];
        assert!(a.ignore_tlog);
        assert!(a.keys().is_none());
        let AttestorKind::Keyless(id) = &a.kind else {
            panic!("keyless")
        };
        assert!(id.subject.matches("https://github.com/acme/x"));
        assert!(
            !id.subject.matches("xhttps://github.com/acme/x"),
            "anchored at the start"
        );
        assert!(
            id.issuer
                .matches("https://token.actions.githubusercontent.com")
        );
        assert!(
            !id.issuer
                .matches("https://token.actions.githubusercontent.com.evil")
        );
        assert_eq!(
            id.claims.get("githubWorkflowRepository").unwrap(),
            "acme/app"
        );
        assert_eq!(a.trusted_root.origin, "built-in production trusted root");
    }

    #[test]
    fn keyless_mistakes_are_named() {
        for (attestor, path, want) in [
            (
                "        keyless: {issuer: https://x}\n",
                "spec.rules[0].signatures.attestors[0].keyless",
                "needs `subject` or `subjectRegExp`",
            ),
            (
                "        keyless: {issuer: https://x, subjectRegExp: '('}\n",
                "spec.rules[0].signatures.attestors[0].keyless.subjectRegExp",
                "invalid regular expression",
            ),
            (
                "        keyless: {issuer: https://x, issuerRegExp: x, subject: a}\n",
                "spec.rules[0].signatures.attestors[0].keyless",
                "not both",
            ),
            (
                "        keyless: {issuer: https://x, subject: a, claims: {repo: x}}\n",
                "spec.rules[0].signatures.attestors[0].keyless.claims.repo",
                "unknown Fulcio claim",
            ),
            (
                "        keyless: {issuer: https://x, subject: a}\n        trustedRoot: {path: /nonexistent/trusted_root.json}\n",
                "spec.rules[0].signatures.attestors[0].trustedRoot.path",
                "/nonexistent/trusted_root.json",
            ),
            (
                "        keyless: {issuer: https://x, subject: a, email: b}\n",
                "spec.rules[0].signatures.attestors[0].keyless.email",
                "unknown field",
            ),
        ] {
            let (p, msg) = err_path(compile_yaml(&keyless_policy(attestor)));
            assert_eq!(p, path, "{attestor}: {msg}");
            assert!(msg.contains(want), "{attestor}: {msg}");
        }
    }

    fn with_attestations(att: &str) -> String {
        policy(&format!(
            "  rules:\n  - name: a\n    images: ['**']\n    signatures:\n      attestors:\n      - name: ci\n        key: {{pem: \"{}\"}}\n      - name: rel\n        key: {{pem: \"{}\"}}\n    attestations:\n{att}",
            KEY.replace('\n', "\\n"),
            KEY.replace('\n', "\\n")
        ))
    }

    #[test]
    fn attestation_rules_compile() {
        let p = compile_yaml(&with_attestations(
            "    - predicateType: cyclonedx\n      attestors: [rel]\n      sbom:\n        deniedPackages: ['pkg:npm/event-stream@3.3.6', 'log4j-core@<2.17.1']\n        deniedLicenses: [AGPL-3.0-only]\n      vulnerabilities: {maxSeverity: high, deny: [CVE-2021-44228], ignore: [CVE-2023-0001], maxAge: 168h}\n    - predicateType: https://example.com/custom/v1\n",
        ))
        .unwrap();
        let a = &p.rules[0].attestations;
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].predicate_type, "cyclonedx");
        assert!(a[0].matcher.matches("https://cyclonedx.org/bom"));
        assert!(!a[0].matcher.matches("https://spdx.dev/Document"));
        assert_eq!(
            a[0].attestors
                .iter()
                .map(|x| x.name.as_str())
                .collect::<Vec<_>>(),
            ["rel"]
        );
        assert_eq!(a[0].sbom.as_ref().unwrap().denied_packages.len(), 2);
        let v = a[0].vulnerabilities.as_ref().unwrap();
        assert_eq!(v.max_severity, Some(Severity::High));
        assert_eq!(v.max_age, Some(168 * 3600));
        // default: any of the rule's attestors
        assert_eq!(a[1].attestors.len(), 2);
        assert!(a[1].matcher.matches("https://example.com/custom/v1"));
    }

    #[test]
    fn attestation_rule_errors_name_their_field() {
        for (att, want_path, want_msg) in [
            (
                "    - predicateType: sbom\n",
                "spec.rules[0].attestations[0].predicateType",
                "alias",
            ),
            (
                "    - {predicateType: spdx, attestors: [nobody]}\n",
                "spec.rules[0].attestations[0].attestors[0]",
                "nobody",
            ),
            (
                "    - {predicateType: spdx, sbom: {deniedPackages: ['log4j@<<1']}}\n",
                "spec.rules[0].attestations[0].sbom.deniedPackages[0]",
                "",
            ),
            (
                "    - {predicateType: vuln, vulnerabilities: {maxSeverity: severe}}\n",
                "spec.rules[0].attestations[0].vulnerabilities.maxSeverity",
                "",
            ),
            (
                "    - {predicateType: vuln, vulnerabilities: {maxAge: 7years}}\n",
                "spec.rules[0].attestations[0].vulnerabilities.maxAge",
                "",
            ),
            (
                "    - {predicateType: vuln, vulnerabilities: {deny: [CVE-1], ignore: [cve-1]}}\n",
                "spec.rules[0].attestations[0].vulnerabilities",
                "both",
            ),
            (
                "    - {predicateType: vuln, vulnerabilties: {}}\n",
                "spec.rules[0].attestations[0].vulnerabilties",
                "unknown field",
            ),
            (
                "    - {predicateType: slsaprovenance1, summary: {verifier: https://g}}\n",
                "spec.rules[0].attestations[0].summary",
                "predicateType: vsa",
            ),
            (
                "    - {predicateType: vsa, summary: {verifier: ' '}}\n",
                "spec.rules[0].attestations[0].summary.verifier",
                "verifier.id",
            ),
            (
                "    - {predicateType: vsa, summary: {verifier: https://g, maxAge: soon}}\n",
                "spec.rules[0].attestations[0].summary.maxAge",
                "",
            ),
        ] {
            let (path, msg) = err_path(compile_yaml(&with_attestations(att)));
            assert_eq!(path, want_path, "{att}: {msg}");
            assert!(msg.contains(want_msg), "{att}: {msg}");
        }
        // attestations need attestors to verify them with
        let y = policy(
            "  rules:\n  - name: a\n    images: ['**']\n    attestations: [{predicateType: spdx}]\n",
        );
        let (path, msg) = err_path(compile_yaml(&y));
        assert_eq!(path, "spec.rules[0].attestations[0]");
        assert!(msg.contains("signatures.attestors"), "{msg}");
    }

    #[test]
    fn bad_key_glob_and_kind() {
        let y = policy(
            "  rules:\n  - name: a\n    images: ['**']\n    signatures:\n      attestors:\n      - name: ci\n        key: {pem: nope}\n",
        );
        assert_eq!(
            err_path(compile_yaml(&y)).0,
            "spec.rules[0].signatures.attestors[0].key"
        );
        let y = policy("  rules:\n  - name: a\n    images: ['ghcr.io/[a']\n");
        assert_eq!(err_path(compile_yaml(&y)).0, "spec.rules[0].images[0]");
        let y = "apiVersion: v1\nkind: ImagePolicy\nmetadata: {name: x}\nspec: {}\n";
        assert_eq!(err_path(compile_yaml(y)).0, "apiVersion");
        let y = policy("  mode: loud\n");
        assert_eq!(err_path(compile_yaml(&y)).0, "spec.mode");
    }

    #[test]
    fn key_path_is_relative_to_the_policy_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("keys")).unwrap();
        std::fs::write(dir.path().join("keys/ci.pub"), KEY).unwrap();
        std::fs::write(
            dir.path().join("p.yaml"),
            policy("  rules:\n  - name: a\n    images: ['**']\n    signatures:\n      attestors:\n      - name: ci\n        key: {path: keys/ci.pub}\n"),
        )
        .unwrap();
        let ps = load(dir.path()).unwrap();
        assert_eq!(ps.len(), 1);
        std::fs::write(dir.path().join("q.yaml"), policy("  rules: []\n")).unwrap();
        assert!(
            matches!(load(dir.path()), Err(PolicyError::Invalid { ref path, .. }) if path == "metadata.name")
        );
    }
}
