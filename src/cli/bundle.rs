//! `sealgate sign --bundle`: a cosign v3 style Sigstore bundle for a key-based signature,
//! attached to the image as an OCI 1.1 referrer.
//!
//! The bundle (`application/vnd.dev.sigstore.bundle.v0.3+json`) holds a DSSE envelope over
//! the in-toto Statement v1 cosign v3 signs (`predicateType`
//! `https://sigstore.dev/cosign/sign/v1`, subject = the image digest, `-a` annotations on
//! the subject) and `verificationMaterial.publicKey.hint` = base64(sha256(SPKI)). No
//! transparency-log entry is made (offline; verify with cosign's `--insecure-ignore-tlog`
//! or a key-based policy). The referrer manifest is cosign's `WriteReferrer` shape; on a
//! registry without the referrers API (404) the `sha256-<hex>` fallback tag index is
//! updated (read-modify-write, other referrers kept).

use std::collections::BTreeMap;

use anyhow::Context as _;
use base64::Engine as _;
use serde_json::json;

use sealgate::attest;
use sealgate::base::reference::{Digest, ImageRef};
use sealgate::edge::kms::Signer;

use super::store::{Store, digest_to_sign};

pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
pub use sealgate::sigstore::bundle::COSIGN_SIGN_PREDICATE;
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const EMPTY_CONFIG: &[u8] = b"{}";

/// The statement cosign v3 signs for an image (exact key order as cosign writes it).
fn statement(digest: &Digest, annotations: &BTreeMap<String, String>) -> Vec<u8> {
    let mut digests = serde_json::Map::new();
    digests.insert("sha256".into(), digest.hex().into());
    serde_json::to_vec(&json!({
        "_type": attest::STATEMENT_V1,
        "subject": [{"digest": digests, "annotations": annotations}],
        "predicateType": COSIGN_SIGN_PREDICATE,
    }))
    .unwrap_or_default()
}

/// The bundle JSON for a key-based DSSE signature over `body`.
async fn bundle(key: &Signer, body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let sig = key
        .sign(&attest::pae(attest::IN_TOTO_PAYLOAD_TYPE, body))
        .await?;
    let hint = b64.encode(sealgate::crypto::sha256(key.public_key().await?.spki_der()));
    Ok(serde_json::to_vec(&json!({
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": hint}},
        "dsseEnvelope": {
            "payload": b64.encode(body),
            "payloadType": attest::IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": b64.encode(sig)}],
        },
    }))?)
}

/// Whether a referrer listed at the fallback tag already carries a bundle by `key` over `body`.
async fn already_signed(
    store: &Store,
    image: &ImageRef,
    fallback_tag: &str,
    key: &Signer,
    body: &[u8],
) -> anyhow::Result<bool> {
    let Some((_, bytes)) = store.manifest(image, fallback_tag).await? else {
        return Ok(false);
    };
    let index: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let public = key.public_key().await?;
    for m in index
        .get("manifests")
        .and_then(|m| m.as_array())
        .cloned()
        .unwrap_or_default()
    {
        if m.get("artifactType").and_then(|t| t.as_str()) != Some(BUNDLE_MEDIA_TYPE) {
            continue;
        }
        let Some(d) = m.get("digest").and_then(|d| d.as_str()) else {
            continue;
        };
        let Some((_, referrer)) = store.manifest(image, d).await? else {
            continue;
        };
        let referrer: serde_json::Value = serde_json::from_slice(&referrer).unwrap_or_default();
        let Some(layer) = referrer
            .pointer("/layers/0/digest")
            .and_then(|d| d.as_str())
            .and_then(|d| Digest::parse(d).ok())
        else {
            continue;
        };
        let b = store.blob(image, &layer, 16 * 1024 * 1024).await?;
        let Ok(b) = serde_json::from_slice::<serde_json::Value>(&b) else {
            continue;
        };
        let Some(envelope) = b.get("dsseEnvelope") else {
            continue;
        };
        let envelope = serde_json::to_vec(envelope)?;
        if attest::verify_envelope(&envelope, &public).is_some_and(|p| p == body) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Signs `image` with a bundle and attaches it as a referrer.
pub async fn sign_bundle(
    store: &Store,
    key: &Signer,
    image: &ImageRef,
    annotations: &BTreeMap<String, String>,
) -> anyhow::Result<String> {
    let digest = digest_to_sign(store, image).await?;
    let body = statement(&digest, annotations);
    attach_bundle(store, key, image, &digest, &body, COSIGN_SIGN_PREDICATE).await
}

/// Wraps `body` (an in-toto statement about `digest`) in a signed bundle and attaches it as
/// a referrer of the image; `predicate_type` goes into the referrer's annotations.
pub async fn attach_bundle(
    store: &Store,
    key: &Signer,
    image: &ImageRef,
    digest: &Digest,
    body: &[u8],
    predicate_type: &str,
) -> anyhow::Result<String> {
    let digest = digest.clone();
    let (_, subject_bytes) = store
        .manifest(image, &digest.to_string())
        .await?
        .with_context(|| format!("{}@{digest} not found", image.repository()))?;
    let subject_type = serde_json::from_slice::<serde_json::Value>(&subject_bytes)
        .ok()
        .and_then(|v| {
            v.get("mediaType")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| OCI_MANIFEST.to_string());
    let fallback_tag = digest.signature_tag().trim_end_matches(".sig").to_string();
    store.prepare(image, &fallback_tag).await?;
    if already_signed(store, image, &fallback_tag, key, body).await? {
        return Ok(format!(
            "{image}: {digest} already has this bundle ({predicate_type}) signed with this key; nothing written"
        ));
    }
    let bundle = bundle(key, body).await?;

    let bundle_digest = store.put_blob(image, &bundle).await?;
    let config_digest = store.put_blob(image, EMPTY_CONFIG).await?;
    let annotations_json = json!({
        "dev.sigstore.bundle.content": "dsse-envelope",
        "dev.sigstore.bundle.predicateType": predicate_type,
        "org.opencontainers.image.created": super::now_rfc3339(),
    });
    let referrer = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_MEDIA_TYPE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": EMPTY_CONFIG.len(),
                   "digest": config_digest, "artifactType": BUNDLE_MEDIA_TYPE},
        "layers": [{"mediaType": BUNDLE_MEDIA_TYPE, "size": bundle.len(), "digest": bundle_digest}],
        "subject": {"mediaType": subject_type, "size": subject_bytes.len(), "digest": digest.to_string()},
        "annotations": annotations_json,
    }))?;
    let referrer_digest = Digest::sha256_of(&referrer);
    store
        .put_typed(image, &referrer_digest.to_string(), &referrer, OCI_MANIFEST)
        .await?;
    if store.referrers_api(image, &digest).await? {
        return Ok(format!(
            "{image}: attached a {predicate_type} bundle for {digest}; referrer {referrer_digest} (registry referrers API)"
        ));
    }
    // fallback tag: an index of referrers, maintained by clients
    let mut index = match store.manifest(image, &fallback_tag).await? {
        Some((_, bytes)) => serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .filter(|v| v.get("manifests").is_some_and(serde_json::Value::is_array))
            .unwrap_or_else(
                || json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}),
            ),
        None => json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}),
    };
    if let Some(list) = index.get_mut("manifests").and_then(|m| m.as_array_mut()) {
        list.push(json!({
            "mediaType": OCI_MANIFEST,
            "digest": referrer_digest.to_string(),
            "size": referrer.len(),
            "artifactType": BUNDLE_MEDIA_TYPE,
            "annotations": annotations_json,
        }));
    }
    store
        .put_typed(
            image,
            &fallback_tag,
            &serde_json::to_vec(&index)?,
            OCI_INDEX,
        )
        .await?;
    Ok(format!(
        "{image}: attached a {predicate_type} bundle for {digest}; referrer {referrer_digest} listed at {}:{fallback_tag}",
        image.repository()
    ))
}
