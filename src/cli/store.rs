//! Where `sign` and `attest` write: the library's [`sealgate::edge::registry::store`], plus
//! the CLI's choice of what to sign when given a tag.

use anyhow::Context as _;

use sealgate::base::reference::{Digest, ImageRef};
pub(crate) use sealgate::edge::registry::store::{Appended, NewLayer, Store, append_layer};

/// Resolves the digest to sign: the reference's own, or its tag's (with a warning).
pub(crate) async fn digest_to_sign(store: &Store, image: &ImageRef) -> anyhow::Result<Digest> {
    if let Some(d) = image.digest() {
        return Ok(d.clone());
    }
    let tag = image.tag().unwrap_or("latest");
    let (digest, _) = store
        .manifest(image, tag)
        .await?
        .with_context(|| format!("{}:{tag} not found", image.repository()))?;
    eprintln!(
        "sealgate: warning: {image} is a tag; signing the digest it points to now, {digest}. Sign by digest to be sure what you sign."
    );
    Ok(digest)
}
