//! Signature and attestation discovery, per image digest, in this order and de-duplicated:
//! Sigstore bundles through the OCI referrers API, bundles listed by its fallback tag
//! `sha256-<hex>`, then the cosign legacy `sha256-<hex>.sig` (signatures) or
//! `sha256-<hex>.att` (attestations) tag. Each manifest and blob is fetched once, re-hashed,
//! within limits.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use serde::Deserialize;

use super::{Descriptor, Index, Registry, RegistryError};
use crate::evidence::{
    AttestationEnvelope, AttestationEvidence, SignatureEvidence, SignatureLayer, SignatureSource,
};
use crate::reference::{Digest, Repository};
use crate::sigstore::simple_signing::MAX_PAYLOAD_BYTES;
use crate::verdict::{Reason, ReasonCode};

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

/// Finds every signature of `digest` in `repo`, in this order, de-duplicated: Sigstore
/// bundles listed by the OCI referrers API, bundles listed by the referrers fallback tag
/// `sha256-<hex>` (cosign v3 `cosign sign`, key-based or keyless), and the layers of the cosign
/// legacy `sha256-<hex>.sig` manifest. Bundles are returned as layers of a bundle media type
/// whose payload is the bundle document. Bundles whose referrer annotation names another
/// predicate type (attestations) or that exceed the signature size limit are skipped: leaving
/// out a candidate can only fail a check, never pass one. Registry trouble on any path makes
/// the evidence unverifiable.
pub async fn signatures<R: Registry>(
    registry: &R,
    repo: &Repository,
    digest: &Digest,
) -> SignatureEvidence {
    let mut budget = SIGNATURE_BUNDLES_BUDGET;
    let bundles = match find_bundles(
        registry,
        repo,
        digest,
        MAX_SIGNATURE_BUNDLE_BYTES,
        &mut budget,
        |d| {
            d.annotations
                .get(BUNDLE_PREDICATE_ANNOTATION)
                .is_none_or(|t| t == COSIGN_SIGN_PREDICATE)
                && u64::try_from(d.size).is_ok_and(|s| s <= MAX_SIGNATURE_BUNDLE_BYTES)
        },
    )
    .await
    {
        Ok(b) => b,
        Err(r) => return SignatureEvidence::Unverifiable(r),
    };
    let legacy = legacy_signatures(registry, repo, digest).await;
    let mut layers: Vec<SignatureLayer> = bundles
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
        .collect();
    match legacy {
        SignatureEvidence::Missing if layers.is_empty() => SignatureEvidence::Missing,
        SignatureEvidence::Missing => SignatureEvidence::Layers(layers),
        SignatureEvidence::Layers(l) => {
            layers.extend(l);
            SignatureEvidence::Layers(layers)
        }
        u @ SignatureEvidence::Unverifiable(_) => u,
    }
}

/// Referrer annotation cosign writes with the bundle's predicate type.
pub const BUNDLE_PREDICATE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
/// The predicate type of cosign v3 image signatures.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
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

/// Artifact types of Sigstore bundles (cosign v3 and the newer parameterised form).
pub fn is_bundle_type(t: &str) -> bool {
    t.starts_with("application/vnd.dev.sigstore.bundle")
}

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
/// image's attestations together are bounded by four times that.
pub async fn attestations<R: Registry>(
    registry: &R,
    repo: &Repository,
    digest: &Digest,
    max_statement: u64,
) -> AttestationEvidence {
    match find_attestations(registry, repo, digest, max_statement).await {
        Ok(found) => AttestationEvidence::Found(found),
        Err(reason) => AttestationEvidence::Unverifiable(reason),
    }
}

async fn find_attestations<R: Registry>(
    registry: &R,
    repo: &Repository,
    digest: &Digest,
    max_statement: u64,
) -> Result<Vec<AttestationEnvelope>, Reason> {
    let limit = attestation_blob_limit(max_statement);
    let mut budget = limit.saturating_mul(4);
    let mut out = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();

    // 1 + 2: bundle referrers, through the API and the fallback tag
    for b in find_bundles(registry, repo, digest, limit, &mut budget, |d| {
        d.annotations
            .get(BUNDLE_PREDICATE_ANNOTATION)
            .is_none_or(|t| t != COSIGN_SIGN_PREDICATE)
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
    let mut out = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut referrers: Vec<(SignatureSource, Descriptor)> = Vec::new();
    let api_source = match registry.source() {
        SignatureSource::OciLayout => SignatureSource::OciLayout,
        _ => SignatureSource::Referrers,
    };
    if let Some(list) = registry
        .referrers(repo, digest, None)
        .await
        .map_err(|e| e.reason())?
    {
        referrers.extend(list.into_iter().map(|d| (api_source, d)));
    }
    let fallback = digest.fallback_tag();
    if let Some(m) = registry
        .manifest(repo, &fallback)
        .await
        .map_err(|e| e.reason())?
    {
        let index: Index = serde_json::from_slice(&m.bytes).map_err(|e| {
            Reason::new(
                ReasonCode::MalformedSignature,
                format!("referrers fallback tag {repo}:{fallback}: not an image index: {e}"),
            )
        })?;
        let source = match registry.source() {
            SignatureSource::OciLayout => SignatureSource::OciLayout,
            _ => SignatureSource::FallbackTag,
        };
        referrers.extend(index.manifests.into_iter().map(|d| (source, d)));
    }
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
