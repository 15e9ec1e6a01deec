//! Signature and attestation discovery, per image digest, in this order and de-duplicated:
//! Sigstore bundles through the OCI referrers API, bundles listed by its fallback tag
//! `sha256-<hex>`, then the cosign legacy `sha256-<hex>.sig` (signatures) or
//! `sha256-<hex>.att` (attestations) tag. Each manifest and blob is fetched once, re-hashed,
//! within limits.

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;
use serde::Deserialize;

use super::{Descriptor, Index, Registry, RegistryError};
use crate::base::evidence::{
    AttestationEnvelope, AttestationEvidence, SignatureEvidence, SignatureLayer, SignatureSource,
};
use crate::base::reference::{Digest, Repository};
use crate::base::verdict::{Reason, ReasonCode};
use crate::sigstore::simple_signing::MAX_PAYLOAD_BYTES;

/// Most layers considered in one signature manifest.
pub const MAX_SIGNATURE_LAYERS: usize = 256;
/// The cosign signature annotation.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SigManifest {
    #[serde(default)]
    layers: Option<Vec<Layer>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Layer {
    media_type: String,
    digest: String,
    size: i64,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

fn malformed(what: &str, message: impl Into<String>) -> SignatureEvidence {
    SignatureEvidence::Unverifiable(Reason::new(
        ReasonCode::MalformedSignature,
        format!("{what}: {}", message.into()),
    ))
}

/// A place signatures of an image are looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignaturePath {
    /// Sigstore bundles listed by the OCI referrers API.
    Referrers,
    /// Sigstore bundles listed by the referrers fallback tag `sha256-<hex>` (cosign v3).
    FallbackTag,
    /// The layers of the cosign legacy `sha256-<hex>.sig` manifest.
    Legacy,
}

impl SignaturePath {
    /// Every path, in the default order (also the order found signatures are listed in).
    pub const ALL: [Self; 3] = [Self::Referrers, Self::FallbackTag, Self::Legacy];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Referrers => "referrers",
            Self::FallbackTag => "fallback-tag",
            Self::Legacy => "legacy-sig",
        }
    }
}

/// Which discovery path held each repository's signatures last time (and, for a repository
/// not seen yet, the path its registry's repositories used last): tried first next time.
/// Only an order: a miss still falls back to every other path, so a hint never hides a
/// signature. Kept per run by the CLI and across reconciles in the daemon's and the
/// controller's evidence cache.
#[derive(Debug, Default)]
pub struct PathHints {
    repos: std::sync::Mutex<HashMap<Repository, SignaturePath>>,
    registries: std::sync::Mutex<HashMap<String, SignaturePath>>,
}

/// Most repositories remembered (a bound on memory; the map is cleared when full).
const MAX_PATH_HINTS: usize = 65_536;

impl PathHints {
    /// The path to try first for `repo`, if any was learned.
    pub fn get(&self, repo: &Repository) -> Option<SignaturePath> {
        let own = self.repos.lock().ok().and_then(|m| m.get(repo).copied());
        own.or_else(|| {
            self.registries
                .lock()
                .ok()
                .and_then(|m| m.get(&repo.registry).copied())
        })
    }

    /// Remembers that `repo`'s signatures were found through `path`.
    pub fn learn(&self, repo: &Repository, path: SignaturePath) {
        if let Ok(mut m) = self.repos.lock() {
            if m.len() >= MAX_PATH_HINTS && !m.contains_key(repo) {
                m.clear();
            }
            m.insert(repo.clone(), path);
        }
        if let Ok(mut m) = self.registries.lock() {
            if m.len() >= MAX_PATH_HINTS && !m.contains_key(&repo.registry) {
                m.clear();
            }
            m.insert(repo.registry.clone(), path);
        }
    }

    /// The order to try the paths in for `repo`: the learned one first, then the others in
    /// the default order.
    pub fn order(&self, repo: &Repository) -> Vec<SignaturePath> {
        let mut order = SignaturePath::ALL.to_vec();
        if let Some(first) = self.get(repo) {
            order.retain(|p| *p != first);
            order.insert(0, first);
        }
        order
    }

    /// Forgets everything.
    pub fn clear(&self) {
        if let Ok(mut m) = self.repos.lock() {
            m.clear();
        }
        if let Ok(mut m) = self.registries.lock() {
            m.clear();
        }
    }
}

/// Finds every signature of `digest` in `repo`, de-duplicated: Sigstore bundles listed by
/// the OCI referrers API, bundles listed by the referrers fallback tag `sha256-<hex>`
/// (cosign v3 `cosign sign`, key-based or keyless), and the layers of the cosign legacy
/// `sha256-<hex>.sig` manifest. Bundles are returned as layers of a bundle media type
/// whose payload is the bundle document. Bundles whose referrer annotation names another
/// predicate type (attestations) or that exceed the signature size limit are skipped: leaving
/// out a candidate can only fail a check, never pass one. Registry trouble on any path makes
/// the evidence unverifiable.
pub async fn signatures<R: Registry>(
    registry: &R,
    repo: &Repository,
    digest: &Digest,
) -> SignatureEvidence {
    signatures_until(registry, repo, digest, &|_| false, None)
        .await
        .evidence
}

/// What [`signatures_until`] found.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub evidence: SignatureEvidence,
    /// Whether every path was read (`false`: discovery stopped once the signatures were
    /// enough; a cache must not serve them to a caller with other rules unchecked).
    pub complete: bool,
}

/// [`signatures`], stopping once `enough` says the signatures found so far satisfy every
/// rule (the paths not yet read can only add signatures), trying first the path `hints`
/// learned for the repository and teaching it the path that held the signatures. Found
/// signatures are always listed in the default path order, whatever order the paths were
/// read in. Registry trouble on a path is remembered, not final: if the other paths'
/// signatures are enough the evidence is those; otherwise it is unverifiable (the
/// unreadable path might have held the signature), so the outcome does not depend on the
/// order the paths were read in.
pub async fn signatures_until<R: Registry>(
    registry: &R,
    repo: &Repository,
    digest: &Digest,
    enough: &(dyn Fn(&[SignatureLayer]) -> bool + Sync),
    hints: Option<&PathHints>,
) -> Discovered {
    let complete = |evidence| Discovered {
        evidence,
        complete: true,
    };
    let order = hints.map_or_else(|| SignaturePath::ALL.to_vec(), |h| h.order(repo));
    let mut budget = SIGNATURE_BUNDLES_BUDGET;
    let mut seen: HashSet<String> = HashSet::new();
    let mut found: BTreeMap<SignaturePath, Vec<SignatureLayer>> = BTreeMap::new();
    let mut trouble: Option<Reason> = None;
    let mut held: Option<SignaturePath> = None;
    let assemble = |found: &BTreeMap<SignaturePath, Vec<SignatureLayer>>| {
        let mut all: Vec<SignatureLayer> = Vec::new();
        let mut bundles = 0;
        for (path, layers) in found {
            for l in layers {
                let mut l = l.clone();
                if *path != SignaturePath::Legacy {
                    l.index = bundles;
                    bundles += 1;
                }
                all.push(l);
            }
        }
        all
    };
    let last = order.len().saturating_sub(1);
    for (i, path) in order.into_iter().enumerate() {
        let got = match path {
            SignaturePath::Legacy => match legacy_signatures(registry, repo, digest).await {
                SignatureEvidence::Missing => Ok(Vec::new()),
                SignatureEvidence::Layers(l) => Ok(l),
                SignatureEvidence::Unverifiable(r) => Err(r),
            },
            bundle_path => {
                signature_bundles(registry, repo, digest, bundle_path, &mut seen, &mut budget).await
            }
        };
        match got {
            Ok(layers) if layers.is_empty() => continue,
            Ok(layers) => {
                held.get_or_insert(path);
                found.insert(path, layers);
            }
            Err(r) => {
                trouble.get_or_insert(r);
                continue;
            }
        }
        // the last path read decides nothing more: the caller evaluates everything anyway
        if i < last {
            let all = assemble(&found);
            if enough(&all) {
                if let Some(h) = hints {
                    h.learn(repo, path);
                }
                return Discovered {
                    evidence: SignatureEvidence::Layers(all),
                    complete: false,
                };
            }
        }
    }
    if let Some(r) = trouble {
        // not enough without the unreadable path (or never asked): could not check
        let all = assemble(&found);
        if !all.is_empty() && enough(&all) {
            return Discovered {
                evidence: SignatureEvidence::Layers(all),
                complete: false,
            };
        }
        return complete(SignatureEvidence::Unverifiable(r));
    }
    if let (Some(h), Some(p)) = (hints, held) {
        h.learn(repo, p);
    }
    let all = assemble(&found);
    complete(if all.is_empty() {
        SignatureEvidence::Missing
    } else {
        SignatureEvidence::Layers(all)
    })
}

/// The signature bundles of `digest` listed through one bundle path, as layers.
async fn signature_bundles<R: Registry>(
    registry: &R,
    repo: &Repository,
    digest: &Digest,
    path: SignaturePath,
    seen: &mut HashSet<String>,
    budget: &mut u64,
) -> Result<Vec<SignatureLayer>, Reason> {
    let listed = list_referrers(registry, repo, digest, path).await?;
    let bundles = fetch_bundles(
        registry,
        repo,
        listed,
        MAX_SIGNATURE_BUNDLE_BYTES,
        budget,
        seen,
        |d| {
            d.annotations
                .get(BUNDLE_PREDICATE_ANNOTATION)
                .is_none_or(|t| t == COSIGN_SIGN_PREDICATE)
                && u64::try_from(d.size).is_ok_and(|s| s <= MAX_SIGNATURE_BUNDLE_BYTES)
        },
    )
    .await?;
    Ok(bundles
        .into_iter()
        .enumerate()
        .map(|(index, b)| SignatureLayer {
            index,
            origin: b.origin,
            media_type: b.media_type,
            payload: b.bytes,
            signature: None,
            annotations: Default::default(),
            source: b.source,
        })
        .collect())
}

/// Referrer annotation cosign writes with the bundle's predicate type.
pub const BUNDLE_PREDICATE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
pub use crate::sigstore::bundle::{COSIGN_SIGN_PREDICATE, is_bundle_type};
/// Largest signature bundle considered.
pub const MAX_SIGNATURE_BUNDLE_BYTES: u64 = 1 << 20;
/// All of an image's signature bundles together.
const SIGNATURE_BUNDLES_BUDGET: u64 = 16 << 20;

/// Fetches the cosign `.sig` signature object of `digest` in `repo`.
pub async fn legacy_signatures<R: Registry>(
    registry: &R,
    repo: &Repository,
    digest: &Digest,
) -> SignatureEvidence {
    let tag = digest.signature_tag();
    let what = format!("signature manifest {repo}:{tag}");
    let manifest = match registry.manifest(repo, &tag).await {
        Ok(None) => return SignatureEvidence::Missing,
        Ok(Some(m)) => m,
        Err(e) => return SignatureEvidence::Unverifiable(e.reason()),
    };
    let parsed: SigManifest = match serde_json::from_slice(&manifest.bytes) {
        Ok(m) => m,
        Err(e) => return malformed(&what, format!("not an OCI manifest: {e}")),
    };
    let Some(layers) = parsed.layers else {
        return malformed(&what, "no layers field");
    };
    if layers.len() > MAX_SIGNATURE_LAYERS {
        return malformed(
            &what,
            format!("{} layers, more than {MAX_SIGNATURE_LAYERS}", layers.len()),
        );
    }
    let mut blobs: HashMap<Digest, Bytes> = HashMap::new();
    let mut out = Vec::with_capacity(layers.len());
    for (index, l) in layers.into_iter().enumerate() {
        let d = match Digest::parse(&l.digest) {
            Ok(d) => d,
            Err(e) => return malformed(&what, format!("layer {index}: {e}")),
        };
        if l.size < 0 || l.size as u64 > MAX_PAYLOAD_BYTES as u64 {
            return SignatureEvidence::Unverifiable(Reason::new(
                ReasonCode::ResponseTooLarge,
                format!(
                    "{what}: layer {index} declares {} bytes, limit {MAX_PAYLOAD_BYTES}",
                    l.size
                ),
            ));
        }
        let payload = match blobs.get(&d) {
            Some(b) => b.clone(),
            None => match registry.blob(repo, &d, MAX_PAYLOAD_BYTES as u64).await {
                Ok(b) => {
                    blobs.insert(d.clone(), b.clone());
                    b
                }
                Err(e @ RegistryError::NotFound { .. }) => {
                    return malformed(&what, format!("layer {index}: {e}"));
                }
                Err(e) => return SignatureEvidence::Unverifiable(e.reason()),
            },
        };
        if payload.len() as i64 != l.size {
            return malformed(
                &what,
                format!("layer {index}: size {} but {} bytes", l.size, payload.len()),
            );
        }
        out.push(SignatureLayer {
            index,
            origin: format!("{tag} layer {index}"),
            media_type: l.media_type,
            payload,
            signature: l.annotations.get(SIGNATURE_ANNOTATION).cloned(),
            annotations: l.annotations,
            source: registry.source(),
        });
    }
    SignatureEvidence::Layers(out)
}

// ---------------------------------------------------------------------------------------
// Attestations: referrers API, referrers fallback tag, legacy `.att` tag.

/// The largest attestation blob (a DSSE envelope or a bundle) fetched for a statement
/// limit of `max_statement` bytes: base64 grows it by a third, plus room for signatures
/// and verification material.
pub fn attestation_blob_limit(max_statement: u64) -> u64 {
    max_statement.saturating_div(3).saturating_mul(4) + 1024 * 1024
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bundle {
    #[serde(default)]
    dsse_envelope: Option<Box<serde_json::value::RawValue>>,
}

/// Finds every DSSE attestation of `digest` in `repo`, in this order, de-duplicated:
/// Sigstore bundles listed by the OCI referrers API, bundles listed by the referrers
/// fallback tag `sha256-<hex>`, and the layers of the cosign `sha256-<hex>.att` manifest.
/// A registry without the referrers API falls back silently. Any other trouble on any path
/// makes the evidence unverifiable (a hidden attestation could be the newest one).
/// `max_statement` bounds each attestation (see [`attestation_blob_limit`]); all of an
/// image's attestations together are bounded by four times that. A layer or bundle whose
/// predicate-type annotation `wanted` refuses is not fetched (the annotation is not
/// trusted for anything else: whatever is fetched is judged by its signed statement); one
/// without the annotation always is.
pub async fn attestations<R: Registry>(
    registry: &R,
    repo: &Repository,
    digest: &Digest,
    max_statement: u64,
    wanted: &(dyn Fn(&str) -> bool + Sync),
) -> AttestationEvidence {
    match find_attestations(registry, repo, digest, max_statement, wanted).await {
        Ok(found) => AttestationEvidence::Found(found),
        Err(reason) => AttestationEvidence::Unverifiable(reason),
    }
}

async fn find_attestations<R: Registry>(
    registry: &R,
    repo: &Repository,
    digest: &Digest,
    max_statement: u64,
    wanted: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Vec<AttestationEnvelope>, Reason> {
    let limit = attestation_blob_limit(max_statement);
    let mut budget = limit.saturating_mul(4);
    let mut out = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();

    // 1 + 2: bundle referrers, through the API and the fallback tag
    for b in find_bundles(registry, repo, digest, limit, &mut budget, |d| {
        d.annotations
            .get(BUNDLE_PREDICATE_ANNOTATION)
            .is_none_or(|t| t != COSIGN_SIGN_PREDICATE && wanted(t))
    })
    .await?
    {
        seen.insert(b.digest.clone());
        let bundle: Bundle = serde_json::from_slice(&b.bytes).map_err(|e| {
            Reason::new(
                ReasonCode::MalformedSignature,
                format!("{}: not a Sigstore bundle: {e}", b.origin),
            )
        })?;
        // a message-signature bundle is a signature, not an attestation
        if let Some(env) = bundle.dsse_envelope {
            out.push(AttestationEnvelope {
                source: b.source,
                origin: b.origin,
                envelope: Bytes::from(env.get().as_bytes().to_vec()),
                bundle: Some(b.bytes),
                annotations: Default::default(),
            });
        }
    }

    // 3: the legacy `.att` tag
    let tag = digest.attestation_tag();
    let what = format!("attestation manifest {repo}:{tag}");
    if let Some(m) = registry
        .manifest(repo, &tag)
        .await
        .map_err(|e| e.reason())?
    {
        let manifest: SigManifest = serde_json::from_slice(&m.bytes).map_err(|e| {
            Reason::new(
                ReasonCode::MalformedSignature,
                format!("{what}: not an OCI manifest: {e}"),
            )
        })?;
        let layers = manifest.layers.unwrap_or_default();
        if layers.len() > MAX_SIGNATURE_LAYERS {
            return Err(Reason::new(
                ReasonCode::MalformedSignature,
                format!(
                    "{what}: {} layers, more than {MAX_SIGNATURE_LAYERS}",
                    layers.len()
                ),
            ));
        }
        for (index, layer) in layers.into_iter().enumerate() {
            if !seen.insert(layer.digest.clone()) {
                continue;
            }
            if layer
                .annotations
                .get("predicateType")
                .is_some_and(|t| !wanted(t))
            {
                continue;
            }
            let origin = format!("{tag} layer {index}");
            let bytes = fetch_layer(
                registry,
                repo,
                &layer,
                limit,
                &mut budget,
                &format!("{what}: layer {index}"),
            )
            .await?;
            out.push(AttestationEnvelope {
                source: registry.source(),
                origin,
                envelope: bytes,
                bundle: None,
                annotations: layer.annotations.clone(),
            });
        }
    }
    Ok(out)
}

/// A Sigstore bundle attached to an image as a referrer.
struct FoundBundle {
    source: SignatureSource,
    /// `referrer <repo>@<manifest digest>`.
    origin: String,
    /// The referrer manifest's digest (for de-duplication).
    digest: String,
    /// The bundle layer's media type.
    media_type: String,
    bytes: Bytes,
}

/// Every bundle referrer of `digest` that `wanted` keeps: through the referrers API, then the
/// fallback tag, de-duplicated by manifest digest; each manifest and layer re-hashed.
async fn find_bundles<R: Registry>(
    registry: &R,
    repo: &Repository,
    digest: &Digest,
    limit: u64,
    budget: &mut u64,
    wanted: impl Fn(&Descriptor) -> bool,
) -> Result<Vec<FoundBundle>, Reason> {
    let mut listed = list_referrers(registry, repo, digest, SignaturePath::Referrers).await?;
    listed.extend(list_referrers(registry, repo, digest, SignaturePath::FallbackTag).await?);
    let mut seen = HashSet::new();
    fetch_bundles(registry, repo, listed, limit, budget, &mut seen, wanted).await
}

/// The referrers of `digest` listed by the referrers API or by the fallback tag index.
async fn list_referrers<R: Registry>(
    registry: &R,
    repo: &Repository,
    digest: &Digest,
    path: SignaturePath,
) -> Result<Vec<(SignatureSource, Descriptor)>, Reason> {
    let layout = matches!(registry.source(), SignatureSource::OciLayout);
    match path {
        SignaturePath::Referrers => {
            let source = if layout {
                SignatureSource::OciLayout
            } else {
                SignatureSource::Referrers
            };
            Ok(registry
                .referrers(repo, digest, None)
                .await
                .map_err(|e| e.reason())?
                .unwrap_or_default()
                .into_iter()
                .map(|d| (source, d))
                .collect())
        }
        SignaturePath::FallbackTag => {
            let fallback = digest.fallback_tag();
            let Some(m) = registry
                .manifest(repo, &fallback)
                .await
                .map_err(|e| e.reason())?
            else {
                return Ok(Vec::new());
            };
            let index: Index = serde_json::from_slice(&m.bytes).map_err(|e| {
                Reason::new(
                    ReasonCode::MalformedSignature,
                    format!("referrers fallback tag {repo}:{fallback}: not an image index: {e}"),
                )
            })?;
            let source = if layout {
                SignatureSource::OciLayout
            } else {
                SignatureSource::FallbackTag
            };
            Ok(index.manifests.into_iter().map(|d| (source, d)).collect())
        }
        SignaturePath::Legacy => Ok(Vec::new()),
    }
}

/// Fetches the bundle referrers among `referrers` that `wanted` keeps and `seen` has not
/// had yet; each manifest and layer re-hashed.
async fn fetch_bundles<R: Registry>(
    registry: &R,
    repo: &Repository,
    referrers: Vec<(SignatureSource, Descriptor)>,
    limit: u64,
    budget: &mut u64,
    seen: &mut HashSet<String>,
    wanted: impl Fn(&Descriptor) -> bool,
) -> Result<Vec<FoundBundle>, Reason> {
    let mut out = Vec::new();
    for (source, d) in referrers {
        if !d.artifact_type.as_deref().is_some_and(is_bundle_type)
            || !wanted(&d)
            || !seen.insert(d.digest.clone())
        {
            continue;
        }
        let what = format!("referrer {repo}@{}", d.digest);
        let Some(m) = registry
            .manifest(repo, &d.digest)
            .await
            .map_err(|e| e.reason())?
        else {
            // listed but gone (deleted referrer): nothing to hide
            tracing::warn!("{what}: listed but not found");
            continue;
        };
        let manifest: SigManifest = serde_json::from_slice(&m.bytes).map_err(|e| {
            Reason::new(
                ReasonCode::MalformedSignature,
                format!("{what}: not an OCI manifest: {e}"),
            )
        })?;
        let Some(layer) = manifest.layers.unwrap_or_default().into_iter().next() else {
            return Err(Reason::new(
                ReasonCode::MalformedSignature,
                format!("{what}: no bundle layer"),
            ));
        };
        let bytes = fetch_layer(registry, repo, &layer, limit, budget, &what).await?;
        out.push(FoundBundle {
            source,
            origin: what,
            digest: d.digest,
            media_type: layer.media_type,
            bytes,
        });
    }

    Ok(out)
}

async fn fetch_layer<R: Registry>(
    registry: &R,
    repo: &Repository,
    layer: &Layer,
    limit: u64,
    budget: &mut u64,
    what: &str,
) -> Result<Bytes, Reason> {
    let d = Digest::parse(&layer.digest)
        .map_err(|e| Reason::new(ReasonCode::MalformedSignature, format!("{what}: {e}")))?;
    let size = u64::try_from(layer.size).map_err(|_| {
        Reason::new(
            ReasonCode::MalformedSignature,
            format!("{what}: negative size {}", layer.size),
        )
    })?;
    if size > limit || size > *budget {
        return Err(Reason::new(
            ReasonCode::ResponseTooLarge,
            format!(
                "{what}: {size} bytes, more than the attestation limit ({} bytes; --max-sbom-size)",
                limit.min(*budget)
            ),
        ));
    }
    let bytes = match registry.blob(repo, &d, size).await {
        Ok(b) => b,
        Err(e @ RegistryError::NotFound { .. }) => {
            return Err(Reason::new(
                ReasonCode::MalformedSignature,
                format!("{what}: {e}"),
            ));
        }
        Err(e) => return Err(e.reason()),
    };
    if bytes.len() as u64 != size {
        return Err(Reason::new(
            ReasonCode::MalformedSignature,
            format!("{what}: size {size} but {} bytes", bytes.len()),
        ));
    }
    *budget -= size;
    Ok(bytes)
}
