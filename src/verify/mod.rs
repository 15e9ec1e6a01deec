//! Orchestration at the edge: turns the unique images of a revision into evidence.
//!
//! Deduplication happens before any request: each tag is resolved once per repository,
//! and each signature object is fetched once per (repository, digest), however many
//! manifests, containers, rules or attestors refer to it. Requests run concurrently,
//! bounded by `concurrency` here and by the registry backend's per-host budget.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::StreamExt as _;

use crate::evidence::{AttestationEvidence, ImageEvidence, SignatureEvidence};
use crate::reference::{Digest, ImageRef, Repository};
use crate::registry::{Registry, discovery};
use crate::verdict::{Reason, ReasonCode};

/// One image to gather evidence for.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub image: ImageRef,
    /// Whether some policy needs its signatures (else only the digest is resolved).
    pub signatures: bool,
    /// Whether some policy has attestation rules for it.
    pub attestations: bool,
}

/// Limits of evidence gathering.
#[derive(Debug, Clone, Copy)]
pub struct GatherOptions {
    /// Registry requests in flight (over all registries; each also has its own budget).
    pub concurrency: usize,
    /// Largest attestation statement (an SBOM, a scan report) accepted, in bytes.
    pub max_attestation_bytes: u64,
}

impl Default for GatherOptions {
    fn default() -> Self {
        Self {
            concurrency: 16,
            max_attestation_bytes: crate::attest::DEFAULT_MAX_STATEMENT_BYTES,
        }
    }
}

/// Gathers evidence for every wanted image. Never fails: trouble becomes an
/// `unverifiable` reason inside the evidence.
pub async fn gather<R: Registry>(
    registry: &R,
    wanted: &[Wanted],
    opts: &GatherOptions,
) -> HashMap<ImageRef, ImageEvidence> {
    let concurrency = opts.concurrency.max(1);
    let max_attestation = opts.max_attestation_bytes;
    // 1. resolve each (repository, tag) once
    let tags: BTreeSet<(Repository, String)> = wanted
        .iter()
        .filter(|w| w.image.digest().is_none())
        .filter_map(|w| w.image.tag().map(|t| (w.image.repository(), t.to_string())))
        .collect();
    let resolved: HashMap<(Repository, String), Result<Digest, Reason>> =
        futures::stream::iter(tags)
            .map(|(repo, tag)| async move {
                let r = match registry.manifest(&repo, &tag).await {
                    Ok(Some(m)) => Ok(m.digest),
                    Ok(None) => Err(Reason::new(
                        ReasonCode::ImageNotFound,
                        format!("{repo}:{tag} not found"),
                    )),
                    Err(e) => Err(e.reason()),
                };
                ((repo, tag), r)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
    let digest_of = |img: &ImageRef| -> Result<Digest, Reason> {
        if let Some(d) = img.digest() {
            return Ok(d.clone());
        }
        let key = (img.repository(), img.tag().unwrap_or("latest").to_string());
        resolved
            .get(&key)
            .cloned()
            .unwrap_or_else(|| Err(Reason::new(ReasonCode::RegistryUnavailable, "not resolved")))
    };
    // 2. fetch each signature object once
    let sig_keys: BTreeSet<(Repository, Digest)> = wanted
        .iter()
        .filter(|w| w.signatures)
        .filter_map(|w| digest_of(&w.image).ok().map(|d| (w.image.repository(), d)))
        .collect();
    let signatures: BTreeMap<(Repository, Digest), SignatureEvidence> =
        futures::stream::iter(sig_keys)
            .map(|(repo, d)| async move {
                let ev = discovery::legacy_signatures(registry, &repo, &d).await;
                ((repo, d), ev)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
    // 3. fetch each image's attestations once
    let att_keys: BTreeSet<(Repository, Digest)> = wanted
        .iter()
        .filter(|w| w.attestations)
        .filter_map(|w| digest_of(&w.image).ok().map(|d| (w.image.repository(), d)))
        .collect();
    let attestations: BTreeMap<(Repository, Digest), AttestationEvidence> =
        futures::stream::iter(att_keys)
            .map(|(repo, d)| async move {
                let ev = discovery::attestations(registry, &repo, &d, max_attestation).await;
                ((repo, d), ev)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
    // 4. assemble
    wanted
        .iter()
        .map(|w| {
            let digest = digest_of(&w.image);
            let sigs = match (&digest, w.signatures) {
                (Ok(d), true) => signatures.get(&(w.image.repository(), d.clone())).cloned(),
                _ => None,
            };
            let atts = match (&digest, w.attestations) {
                (Ok(d), true) => attestations
                    .get(&(w.image.repository(), d.clone()))
                    .cloned(),
                _ => None,
            };
            (
                w.image.clone(),
                ImageEvidence {
                    digest,
                    signatures: sigs,
                    attestations: atts,
                },
            )
        })
        .collect()
}
