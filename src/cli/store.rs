//! Where `sign` and `attest` write: a registry (oci-client pushes) or an OCI layout, with
//! the read-modify-write of signature manifests and layer appends both commands share.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;

use sealgate::base::reference::{Digest, ImageRef};
use sealgate::edge::registry::Registry as _;
use sealgate::edge::registry::credentials::{Credentials, DockerConfig};
use sealgate::edge::registry::http::{HttpOptions, HttpRegistry};
use sealgate::edge::registry::layout::OciLayout;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The go-containerregistry "empty image" config cosign writes for signature manifests.
const SIG_CONFIG: &[u8] = br#"{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#;
/// Attempts of the read-modify-write when another signer writes concurrently.
const WRITE_ATTEMPTS: usize = 3;

async fn auth_for(docker: &DockerConfig, registry: &str) -> anyhow::Result<RegistryAuth> {
    Ok(
        match docker
            .credentials_for(registry)
            .await
            .map_err(anyhow::Error::new)?
        {
            Some(Credentials::Basic { username, password }) => {
                RegistryAuth::Basic(username, password)
            }
            Some(Credentials::IdentityToken(t)) => RegistryAuth::Bearer(t),
            None => RegistryAuth::Anonymous,
        },
    )
}

/// Where signatures are read from and written to. (One value per run: its size does not matter.)
#[allow(clippy::large_enum_variant)]
pub(crate) enum Store {
    Registry {
        reader: HttpRegistry,
        writer: oci_client::Client,
        docker: DockerConfig,
    },
    Layout(PathBuf),
}

impl Store {
    /// A layout directory, or the registries (with docker credentials).
    pub(crate) fn open(
        layout: Option<&std::path::Path>,
        insecure: &[String],
        docker_config: Option<&std::path::Path>,
        timeout: u64,
    ) -> anyhow::Result<Self> {
        if let Some(dir) = layout {
            OciLayout::open(dir).map_err(anyhow::Error::new)?;
            return Ok(Store::Layout(dir.to_path_buf()));
        }
        let docker = DockerConfig::load(docker_config).map_err(anyhow::Error::new)?;
        Ok(Store::Registry {
            reader: HttpRegistry::new(
                HttpOptions {
                    insecure: insecure.to_vec(),
                    timeout: Duration::from_secs(timeout.max(1)),
                    ..HttpOptions::default()
                },
                docker.clone(),
            )
            .map_err(anyhow::Error::new)?,
            writer: oci_client::Client::new(ClientConfig {
                protocol: ClientProtocol::HttpsExcept(insecure.to_vec()),
                read_timeout: Some(Duration::from_secs(timeout.max(1))),
                connect_timeout: Some(Duration::from_secs(timeout.clamp(1, 10))),
                ..ClientConfig::default()
            }),
            docker,
        })
    }

    /// Whether the registry serves the OCI referrers API for `digest` (else the fallback tag
    /// is maintained by clients). A layout has no API.
    pub(crate) async fn referrers_api(
        &self,
        image: &ImageRef,
        digest: &Digest,
    ) -> anyhow::Result<bool> {
        match self {
            Store::Registry { reader, .. } => reader
                .referrers_supported(&image.repository(), digest)
                .await
                .map_err(anyhow::Error::new),
            Store::Layout(_) => Ok(false),
        }
    }

    /// A blob of `image`'s repository, re-hashed, at most `max` bytes.
    pub(crate) async fn blob(
        &self,
        image: &ImageRef,
        digest: &Digest,
        max: u64,
    ) -> anyhow::Result<Vec<u8>> {
        let repo = image.repository();
        let b = match self {
            Store::Registry { reader, .. } => reader.blob(&repo, digest, max).await,
            Store::Layout(dir) => {
                OciLayout::open(dir)
                    .map_err(anyhow::Error::new)?
                    .blob(&repo, digest, max)
                    .await
            }
        };
        Ok(b.map_err(anyhow::Error::new)?.to_vec())
    }

    /// The manifest at `reference` (tag or digest): (digest, bytes).
    pub(crate) async fn manifest(
        &self,
        image: &ImageRef,
        reference: &str,
    ) -> anyhow::Result<Option<(Digest, Vec<u8>)>> {
        let repo = image.repository();
        let found = match self {
            Store::Registry { reader, .. } => reader.manifest(&repo, reference).await,
            Store::Layout(dir) => {
                OciLayout::open(dir)
                    .map_err(anyhow::Error::new)?
                    .manifest(&repo, reference)
                    .await
            }
        };
        Ok(found
            .map_err(anyhow::Error::new)?
            .map(|m| (m.digest, m.bytes.to_vec())))
    }

    pub(crate) async fn prepare(&self, image: &ImageRef, sig_tag: &str) -> anyhow::Result<()> {
        if let Store::Registry { writer, docker, .. } = self {
            let auth = auth_for(docker, image.registry()).await?;
            let target = oci_client::Reference::with_tag(
                image.registry().to_string(),
                image.path().to_string(),
                sig_tag.to_string(),
            );
            writer
                .auth(&target, &auth, oci_client::RegistryOperation::Push)
                .await
                .context("authenticating for push")?;
        }
        Ok(())
    }

    pub(crate) async fn put_blob(&self, image: &ImageRef, data: &[u8]) -> anyhow::Result<String> {
        let digest = Digest::sha256_of(data).to_string();
        match self {
            Store::Registry { writer, .. } => {
                let r = oci_client::Reference::with_digest(
                    image.registry().to_string(),
                    image.path().to_string(),
                    digest.clone(),
                );
                writer
                    .push_blob(&r, data.to_vec(), &digest)
                    .await
                    .context("pushing a blob")?;
            }
            Store::Layout(dir) => {
                let path = dir.join("blobs/sha256").join(&digest[7..]);
                if !path.is_file() {
                    write_atomic(&path, data)?;
                }
            }
        }
        Ok(digest)
    }

    /// Writes the signature manifest under `image`'s repository at `sig_tag`.
    async fn put_manifest(
        &self,
        image: &ImageRef,
        sig_tag: &str,
        body: &[u8],
    ) -> anyhow::Result<()> {
        self.put_typed(image, sig_tag, body, OCI_MANIFEST).await
    }

    /// Writes a manifest (or index) of `media_type` at a tag, or by digest when `reference`
    /// is one (in a layout: a blob only).
    pub(crate) async fn put_typed(
        &self,
        image: &ImageRef,
        reference: &str,
        body: &[u8],
        media_type: &str,
    ) -> anyhow::Result<()> {
        let sig_tag = reference;
        match self {
            Store::Registry { writer, .. } => {
                let target = if reference.contains(':') {
                    oci_client::Reference::with_digest(
                        image.registry().to_string(),
                        image.path().to_string(),
                        reference.to_string(),
                    )
                } else {
                    oci_client::Reference::with_tag(
                        image.registry().to_string(),
                        image.path().to_string(),
                        reference.to_string(),
                    )
                };
                writer
                    .push_manifest_raw(
                        &target,
                        body.to_vec(),
                        media_type.parse().context("media type")?,
                    )
                    .await
                    .with_context(|| format!("pushing the manifest {reference}"))?;
            }
            Store::Layout(_) if reference.contains(':') => {
                self.put_blob(image, body).await?;
            }
            Store::Layout(dir) => {
                let digest = self.put_blob(image, body).await?;
                let name = format!("{}:{sig_tag}", image.name());
                let index_path = dir.join("index.json");
                let mut index: serde_json::Value = serde_json::from_slice(
                    &std::fs::read(&index_path)
                        .with_context(|| format!("reading {}", index_path.display()))?,
                )
                .with_context(|| format!("{} is not JSON", index_path.display()))?;
                let entries = index
                    .get_mut("manifests")
                    .and_then(|m| m.as_array_mut())
                    .with_context(|| format!("{} has no manifests list", index_path.display()))?;
                entries.retain(|e| {
                    e.pointer("/annotations/org.opencontainers.image.ref.name")
                        .and_then(|n| n.as_str())
                        != Some(name.as_str())
                });
                entries.push(serde_json::json!({
                    "mediaType": media_type, "digest": digest, "size": body.len(),
                    "annotations": {"org.opencontainers.image.ref.name": name},
                }));
                write_atomic(&index_path, &serde_json::to_vec_pretty(&index)?)?;
            }
        }
        Ok(())
    }
}

fn write_atomic(path: &std::path::Path, data: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let tmp = dir.join(format!(
        ".{}.sealgate-tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, data).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

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

/// One layer to add to a signature or attestation manifest.
pub(crate) struct NewLayer {
    pub media_type: &'static str,
    pub blob: Vec<u8>,
    pub annotations: serde_json::Map<String, serde_json::Value>,
}

/// What [`append_layer`] did.
pub(crate) enum Appended {
    Written(usize),
    AlreadyThere,
}

/// Read-modify-write of the manifest at `tag`: keeps every existing layer as stored, skips
/// the write when `already` finds an equivalent layer, pushes blobs before the manifest,
/// and re-reads to detect a concurrent writer (then tries again).
pub(crate) async fn append_layer(
    store: &Store,
    image: &ImageRef,
    tag: &str,
    layer: &NewLayer,
    already: &(dyn Fn(&[serde_json::Value]) -> bool + Sync),
) -> anyhow::Result<Appended> {
    store.prepare(image, tag).await?;
    for _attempt in 0..WRITE_ATTEMPTS {
        let mut layers: Vec<serde_json::Value> = match store.manifest(image, tag).await? {
            None => Vec::new(),
            Some((_, bytes)) => {
                let v: serde_json::Value =
                    serde_json::from_slice(&bytes).context("existing manifest is not JSON")?;
                v.get("layers")
                    .and_then(|l| l.as_array())
                    .cloned()
                    .unwrap_or_default()
            }
        };
        if already(&layers) {
            return Ok(Appended::AlreadyThere);
        }
        let blob_digest = store.put_blob(image, &layer.blob).await?;
        let config_digest = store.put_blob(image, SIG_CONFIG).await?;
        layers.push(serde_json::json!({
            "mediaType": layer.media_type,
            "size": layer.blob.len(),
            "digest": blob_digest,
            "annotations": layer.annotations,
        }));
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": SIG_CONFIG.len(), "digest": config_digest},
            "layers": layers,
        }))?;
        store.put_manifest(image, tag, &manifest).await?;
        if let Some((_, now)) = store.manifest(image, tag).await?
            && now == manifest
        {
            return Ok(Appended::Written(layers.len()));
        }
    }
    bail!("the manifest at {tag} kept changing under concurrent writers; try again")
}
