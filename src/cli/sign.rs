//! `sealgate sign --key FILE IMAGE...`: cosign key-based signing in the legacy
//! `sha256-<hex>.sig` format, byte-compatible with what cosign writes.
//!
//! Per image: resolve the tag to a digest (signing the digest, with a warning for tags),
//! build the simple-signing payload, sign it, then read-modify-write the signature
//! manifest: other signers' layers are kept as they are, an identical signature by the
//! same key is not added twice, and blobs are pushed before the manifest (a failed push
//! leaves the previous manifest in place). The write is re-read and retried when another
//! signer raced us.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use clap::Args;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;

use sealgate::crypto::PrivateKey;
use sealgate::reference::{Digest, ImageRef};
use sealgate::registry::Registry as _;
use sealgate::registry::credentials::{Credentials, DockerConfig};
use sealgate::registry::discovery::SIGNATURE_ANNOTATION;
use sealgate::registry::http::{HttpOptions, HttpRegistry};
use sealgate::registry::layout::OciLayout;

const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The go-containerregistry "empty image" config cosign writes for signature manifests.
const SIG_CONFIG: &[u8] = br#"{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#;
/// Attempts of the read-modify-write when another signer writes concurrently.
const WRITE_ATTEMPTS: usize = 3;

/// Where signatures and attestations are written: registry options, or an OCI layout.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Directory holding config.json (auths, credHelpers, credsStore).
    #[arg(long, value_name = "DIR")]
    docker_config: Option<PathBuf>,
    /// Allow plain HTTP for this registry (host[:port]); repeatable.
    #[arg(long, value_name = "HOST[:PORT]")]
    insecure_registry: Vec<String>,
    /// Timeout of one registry request, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
    /// Write into this OCI image layout directory instead of a registry (what
    /// `check --offline --oci-layout` reads).
    #[arg(long, value_name = "DIR")]
    oci_layout: Option<PathBuf>,
}

impl TargetArgs {
    pub(crate) fn open(&self) -> anyhow::Result<Store> {
        Store::open(
            self.oci_layout.as_deref(),
            &self.insecure_registry,
            self.docker_config.as_deref(),
            self.timeout,
        )
    }
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The encrypted private key: a file, or env://NAME (cosign or sealgate format);
    /// password from COSIGN_PASSWORD or a prompt.
    #[arg(long, value_name = "FILE|env://NAME|k8s://NS/NAME")]
    key: PathBuf,
    /// Annotation KEY=VALUE written into the payload's `optional` section; repeatable.
    #[arg(short = 'a', long = "annotations", value_name = "KEY=VALUE")]
    annotations: Vec<String>,
    #[command(flatten)]
    target: TargetArgs,
    /// Write a Sigstore bundle (cosign v3 style: DSSE over an in-toto statement with predicate
    /// `https://sigstore.dev/cosign/sign/v1`) attached as an OCI referrer (referrers API, or
    /// the `sha256-<hex>` fallback tag index), instead of the legacy `.sig` layer.
    #[arg(long)]
    bundle: bool,
    /// Images to sign (`name:tag` is resolved to its digest; `name@sha256:…` is signed as is).
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<String>,
}

/// The payload cosign writes: `docker-reference` is the repository (Docker Hub as
/// `index.docker.io/…`), `optional` the annotations (Go marshals map keys sorted) or null.
fn payload(image: &ImageRef, digest: &Digest, annotations: &BTreeMap<String, String>) -> Vec<u8> {
    let repo = if image.registry() == "docker.io" {
        format!("index.docker.io/{}", image.path())
    } else {
        image.name()
    };
    let base = sealgate::sigstore::simple_signing::payload_for(&repo, &digest.to_string());
    if annotations.is_empty() {
        return base;
    }
    let optional = serde_json::to_string(annotations).unwrap_or_else(|_| "null".into());
    let text = String::from_utf8_lossy(&base).replace(
        r#""optional":null}"#,
        &format!(r#""optional":{optional}}}"#),
    );
    text.into_bytes()
}

fn parse_annotations(raw: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    raw.iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => bail!("annotation {a:?} is not KEY=VALUE"),
        })
        .collect()
}

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

pub fn run(args: SignArgs) -> anyhow::Result<ExitCode> {
    let key = super::keys::load_private_key(&args.key)?;
    let annotations = parse_annotations(&args.annotations)?;
    let images = args
        .images
        .iter()
        .map(|i| ImageRef::parse(i).map_err(|e| anyhow::anyhow!("{i}: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let store = args.target.open()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut failed = 0;
    for image in &images {
        let job = async {
            if args.bundle {
                super::bundle::sign_bundle(&store, &key, image, &annotations).await
            } else {
                sign_one(&store, &key, image, &annotations).await
            }
        };
        match rt.block_on(job) {
            Ok(msg) => eprintln!("{msg}"),
            Err(e) => {
                failed += 1;
                eprintln!("sealgate: error: signing {image}: {e:#}");
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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

async fn sign_one(
    store: &Store,
    key: &PrivateKey,
    image: &ImageRef,
    annotations: &BTreeMap<String, String>,
) -> anyhow::Result<String> {
    let digest = digest_to_sign(store, image).await?;
    let payload = payload(image, &digest, annotations);
    let public = key.public_key();
    let sig_tag = digest.signature_tag();
    let payload_digest = Digest::sha256_of(&payload).to_string();
    // idempotence: the same payload already signed by this key
    let already = |layers: &[serde_json::Value]| {
        layers.iter().any(|l| {
            l.get("digest").and_then(|d| d.as_str()) == Some(payload_digest.as_str())
                && l.pointer(&format!(
                    "/annotations/{}",
                    SIGNATURE_ANNOTATION.replace('/', "~1")
                ))
                .and_then(|s| s.as_str())
                .and_then(|s| sealgate::crypto::decode_base64_lenient(s).ok())
                .is_some_and(|s| public.verify(&payload, &s).is_ok())
        })
    };
    let signature = base64::engine::general_purpose::STANDARD
        .encode(key.sign(&payload).map_err(anyhow::Error::new)?);
    let mut ann = serde_json::Map::new();
    ann.insert(SIGNATURE_ANNOTATION.to_string(), signature.into());
    let layer = NewLayer {
        media_type: SIMPLE_SIGNING,
        blob: payload.clone(),
        annotations: ann,
    };
    Ok(
        match append_layer(store, image, &sig_tag, &layer, &already).await? {
            Appended::AlreadyThere => {
                format!("{image}: {digest} is already signed with this key; nothing written")
            }
            Appended::Written(n) => format!(
                "{image}: signed {digest}; signature at {}:{sig_tag} ({n} layer(s))",
                image.repository()
            ),
        },
    )
}
