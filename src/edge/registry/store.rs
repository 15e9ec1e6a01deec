//! Where signatures and attestations are written: a registry (oci-client pushes) or an OCI
//! layout, with the read-modify-write of signature manifests and layer appends that
//! `sealgate sign`, `sealgate attest` and the gate's summaries (`summary.attachToImages`)
//! share.

use std::path::PathBuf;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;

use crate::base::reference::{Digest, ImageRef};
use crate::edge::registry::Registry as _;
use crate::edge::registry::credentials::{Credentials, DockerConfig};
use crate::edge::registry::http::{HttpOptions, HttpRegistry};
use crate::edge::registry::layout::OciLayout;

/// Why a write (or the read before it) failed: what was being done, and why.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {message}")]
pub struct StoreError {
    pub what: String,
    pub message: String,
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// `.context("…")` for the results here.
trait Context<T> {
    fn context(self, what: &str) -> Result<T>;
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: std::error::Error> Context<T> for std::result::Result<T, E> {
    fn context(self, what: &str) -> Result<T> {
        self.with_context(|| what.to_string())
    }
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| StoreError {
            what: what(),
            message: crate::base::error::chain(&e),
        })
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, what: &str) -> Result<T> {
        self.with_context(|| what.to_string())
    }
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.ok_or_else(|| StoreError {
            what: what(),
            message: "missing".into(),
        })
    }
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The go-containerregistry "empty image" config cosign writes for signature manifests.
const SIG_CONFIG: &[u8] = br#"{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#;
/// Attempts of the read-modify-write when another signer writes concurrently.
const WRITE_ATTEMPTS: usize = 3;

async fn auth_for(docker: &DockerConfig, registry: &str) -> Result<RegistryAuth> {
    Ok(
        match docker
            .credentials_for(registry)
            .await
            .context("docker credentials")?
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
pub enum Store {
    Registry {
        reader: HttpRegistry,
        writer: oci_client::Client,
        docker: DockerConfig,
    },
    Layout(PathBuf),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Store::Registry { .. } => f.write_str("Store::Registry"),
            Store::Layout(dir) => write!(f, "Store::Layout({})", dir.display()),
        }
    }
}

impl Store {
    /// A layout directory, or the registries (with docker credentials).
    pub fn open(
        layout: Option<&std::path::Path>,
        insecure: &[String],
        docker_config: Option<&std::path::Path>,
        timeout: u64,
    ) -> Result<Self> {
        if let Some(dir) = layout {
            OciLayout::open(dir).context("OCI layout")?;
            return Ok(Store::Layout(dir.to_path_buf()));
        }
        let docker = DockerConfig::load(docker_config).context("docker config")?;
        Ok(Store::Registry {
            reader: HttpRegistry::new(
                HttpOptions {
                    insecure: insecure.to_vec(),
                    timeout: Duration::from_secs(timeout.max(1)),
                    ..HttpOptions::default()
                },
                docker.clone(),
            )
            .context("registry client")?,
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
    pub async fn referrers_api(&self, image: &ImageRef, digest: &Digest) -> Result<bool> {
        match self {
            Store::Registry { reader, .. } => reader
                .referrers_supported(&image.repository(), digest)
                .await
                .context("the referrers API"),
            Store::Layout(_) => Ok(false),
        }
    }

    /// A blob of `image`'s repository, re-hashed, at most `max` bytes.
    pub async fn blob(&self, image: &ImageRef, digest: &Digest, max: u64) -> Result<Vec<u8>> {
        let repo = image.repository();
        let b = match self {
            Store::Registry { reader, .. } => reader.blob(&repo, digest, max).await,
            Store::Layout(dir) => {
                OciLayout::open(dir)
                    .context("OCI layout")?
                    .blob(&repo, digest, max)
                    .await
            }
        };
        Ok(b.with_context(|| format!("reading blob {digest}"))?
            .to_vec())
    }

    /// The manifest at `reference` (tag or digest): (digest, bytes).
    pub async fn manifest(
        &self,
        image: &ImageRef,
        reference: &str,
    ) -> Result<Option<(Digest, Vec<u8>)>> {
        let repo = image.repository();
        let found = match self {
            Store::Registry { reader, .. } => reader.manifest(&repo, reference).await,
            Store::Layout(dir) => {
                OciLayout::open(dir)
                    .context("OCI layout")?
                    .manifest(&repo, reference)
                    .await
            }
        };
        Ok(found
            .with_context(|| format!("reading manifest {reference}"))?
            .map(|m| (m.digest, m.bytes.to_vec())))
    }

    pub async fn prepare(&self, image: &ImageRef, sig_tag: &str) -> Result<()> {
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

    pub async fn put_blob(&self, image: &ImageRef, data: &[u8]) -> Result<String> {
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
    async fn put_manifest(&self, image: &ImageRef, sig_tag: &str, body: &[u8]) -> Result<()> {
        self.put_typed(image, sig_tag, body, OCI_MANIFEST).await
    }

    /// Writes a manifest (or index) of `media_type` at a tag, or by digest when `reference`
    /// is one (in a layout: a blob only).
    pub async fn put_typed(
        &self,
        image: &ImageRef,
        reference: &str,
        body: &[u8],
        media_type: &str,
    ) -> Result<()> {
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
                let text = serde_json::to_vec_pretty(&index).context("index.json")?;
                write_atomic(&index_path, &text)?;
            }
        }
        Ok(())
    }
}

fn write_atomic(path: &std::path::Path, data: &[u8]) -> Result<()> {
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

/// One layer to add to a signature or attestation manifest.
pub struct NewLayer {
    pub media_type: &'static str,
    pub blob: Vec<u8>,
    pub annotations: serde_json::Map<String, serde_json::Value>,
}

/// What [`append_layer`] did.
pub enum Appended {
    Written(usize),
    AlreadyThere,
}

/// Read-modify-write of the manifest at `tag`: keeps every existing layer as stored, skips
/// the write when `already` finds an equivalent layer, pushes blobs before the manifest,
/// and re-reads to detect a concurrent writer (then tries again).
pub async fn append_layer(
    store: &Store,
    image: &ImageRef,
    tag: &str,
    layer: &NewLayer,
    already: &(dyn Fn(&[serde_json::Value]) -> bool + Sync),
) -> Result<Appended> {
    replace_layers(store, image, tag, layer, already, &|_| false).await
}

/// [`append_layer`], dropping the existing layers `superseded` names.
///
/// # Errors
/// [`StoreError`] when the manifest cannot be read or written.
pub async fn replace_layers(
    store: &Store,
    image: &ImageRef,
    tag: &str,
    layer: &NewLayer,
    already: &(dyn Fn(&[serde_json::Value]) -> bool + Sync),
    superseded: &(dyn Fn(&serde_json::Value) -> bool + Sync),
) -> Result<Appended> {
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
        layers.retain(|l| !superseded(l));
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
        }))
        .context("the manifest")?;
        store.put_manifest(image, tag, &manifest).await?;
        if let Some((_, now)) = store.manifest(image, tag).await?
            && now == manifest
        {
            return Ok(Appended::Written(layers.len()));
        }
    }
    Err(StoreError {
        what: format!("writing {tag}"),
        message: "the manifest kept changing under concurrent writers; try again".into(),
    })
}

/// The envelopes in the layers of the cosign `.att` manifest `tag` annotated with
/// `predicate_type`, by layer digest (each at most `max` bytes, its digest re-checked). None
/// when there is no such manifest.
///
/// # Errors
/// [`StoreError`] when the manifest or a blob cannot be read.
pub async fn att_envelopes(
    store: &Store,
    image: &ImageRef,
    tag: &str,
    predicate_type: &str,
    max: u64,
) -> Result<Vec<(Digest, Vec<u8>)>> {
    let mut out = Vec::new();
    let Some((_, bytes)) = store.manifest(image, tag).await? else {
        return Ok(out);
    };
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).context("existing .att manifest is not JSON")?;
    for l in v
        .get("layers")
        .and_then(|l| l.as_array())
        .into_iter()
        .flatten()
    {
        if l.pointer("/annotations/predicateType")
            .and_then(|t| t.as_str())
            != Some(predicate_type)
        {
            continue;
        }
        let Some(d) = l
            .get("digest")
            .and_then(|d| d.as_str())
            .and_then(|d| Digest::parse(d).ok())
        else {
            continue;
        };
        let env = store.blob(image, &d, max).await?;
        out.push((d, env));
    }
    Ok(out)
}

/// A cosign `.att` layer holding a DSSE `envelope` of `predicate_type`.
pub fn attestation_layer(envelope: Vec<u8>, predicate_type: &str) -> NewLayer {
    let mut annotations = serde_json::Map::new();
    annotations.insert(
        crate::edge::registry::discovery::SIGNATURE_ANNOTATION.to_string(),
        "".into(),
    );
    annotations.insert("predicateType".into(), predicate_type.into());
    NewLayer {
        media_type: crate::attest::DSSE_MEDIA_TYPE,
        blob: envelope,
        annotations,
    }
}

/// Largest earlier summary envelope read back.
const MAX_SUMMARY_BYTES: u64 = 4 * 1024 * 1024;

/// Attaches a gate's signed verification summary `envelope` to `image` (by digest) as a
/// layer of its cosign `.att` manifest, annotated with the VSA predicate type, so any
/// cosign-speaking verifier finds it. Idempotent and bounded: when the manifest already
/// holds a summary signed by `key` from `verifier_id` for the same promotion, nothing is
/// written; earlier summaries of that verifier (other promotions) are replaced, so an image
/// carries at most one summary per verifier. Other layers are kept as stored.
///
/// # Errors
/// [`StoreError`] when the manifest cannot be read or written.
pub async fn attach_summary(
    store: &Store,
    image: &ImageRef,
    envelope: &[u8],
    key: &crate::crypto::PublicKey,
    verifier_id: &str,
    promotion: &(String, String),
) -> Result<Appended> {
    use crate::attest::vsa::{PREDICATE, Summary};
    let digest = image
        .digest()
        .context("the image must be named by digest")?;
    let tag = digest.attestation_tag();
    let (mut same, mut superseded) = (Vec::new(), Vec::new());
    for (d, env) in att_envelopes(store, image, &tag, PREDICATE, MAX_SUMMARY_BYTES).await? {
        if let Ok(s) = Summary::open(&env, key)
            && s.verifier_id == verifier_id
        {
            if s.promotion.as_ref() == Some(promotion) {
                same.push(d.to_string());
            } else {
                superseded.push(d.to_string());
            }
        }
    }
    let named = |l: &serde_json::Value, list: &[String]| {
        l.get("digest")
            .and_then(|d| d.as_str())
            .is_some_and(|d| list.iter().any(|s| s == d))
    };
    let layer = attestation_layer(envelope.to_vec(), PREDICATE);
    replace_layers(
        store,
        image,
        &tag,
        &layer,
        &|layers| layers.iter().any(|l| named(l, &same)),
        &|l| named(l, &superseded),
    )
    .await
}
