//! Signature discovery: the cosign legacy `sha256-<hex>.sig` tag. Fetches the signature
//! manifest and each distinct payload blob once, re-hashed, within limits.

use std::collections::HashMap;

use bytes::Bytes;
use serde::Deserialize;

use super::{Registry, RegistryError};
use crate::evidence::{SignatureEvidence, SignatureLayer};
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
    annotations: HashMap<String, String>,
}

fn malformed(what: &str, message: impl Into<String>) -> SignatureEvidence {
    SignatureEvidence::Unverifiable(Reason::new(
        ReasonCode::MalformedSignature,
        format!("{what}: {}", message.into()),
    ))
}

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
            media_type: l.media_type,
            payload,
            signature: l.annotations.get(SIGNATURE_ANNOTATION).cloned(),
            source: registry.source(),
        });
    }
    SignatureEvidence::Layers(out)
}
