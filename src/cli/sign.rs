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

const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The go-containerregistry "empty image" config cosign writes for signature manifests.
const SIG_CONFIG: &[u8] = br#"{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#;
/// Attempts of the read-modify-write when another signer writes concurrently.
const WRITE_ATTEMPTS: usize = 3;

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The encrypted private key (cosign or sealgate format); password from COSIGN_PASSWORD or a prompt.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Annotation KEY=VALUE written into the payload's `optional` section; repeatable.
    #[arg(short = 'a', long = "annotations", value_name = "KEY=VALUE")]
    annotations: Vec<String>,
    /// Directory holding config.json (auths, credHelpers, credsStore).
    #[arg(long, value_name = "DIR")]
    docker_config: Option<PathBuf>,
    /// Allow plain HTTP for this registry (host[:port]); repeatable.
    #[arg(long, value_name = "HOST[:PORT]")]
    insecure_registry: Vec<String>,
    /// Timeout of one registry request, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
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

pub fn run(args: SignArgs) -> anyhow::Result<ExitCode> {
    let key = super::keys::load_private_key(&args.key)?;
    let annotations = parse_annotations(&args.annotations)?;
    let images = args
        .images
        .iter()
        .map(|i| ImageRef::parse(i).map_err(|e| anyhow::anyhow!("{i}: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let docker = DockerConfig::load(args.docker_config.as_deref()).map_err(anyhow::Error::new)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let reader = HttpRegistry::new(
        HttpOptions {
            insecure: args.insecure_registry.clone(),
            timeout: Duration::from_secs(args.timeout.max(1)),
            ..HttpOptions::default()
        },
        DockerConfig::load(args.docker_config.as_deref()).map_err(anyhow::Error::new)?,
    )
    .map_err(anyhow::Error::new)?;
    let writer = oci_client::Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(args.insecure_registry.clone()),
        read_timeout: Some(Duration::from_secs(args.timeout.max(1))),
        connect_timeout: Some(Duration::from_secs(args.timeout.clamp(1, 10))),
        ..ClientConfig::default()
    });
    let mut failed = 0;
    for image in &images {
        match rt.block_on(sign_one(
            &reader,
            &writer,
            &docker,
            &key,
            image,
            &annotations,
        )) {
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

async fn sign_one(
    reader: &HttpRegistry,
    writer: &oci_client::Client,
    docker: &DockerConfig,
    key: &PrivateKey,
    image: &ImageRef,
    annotations: &BTreeMap<String, String>,
) -> anyhow::Result<String> {
    let repo = image.repository();
    let digest = match image.digest() {
        Some(d) => d.clone(),
        None => {
            let tag = image.tag().unwrap_or("latest");
            let m = reader
                .manifest(&repo, tag)
                .await
                .map_err(anyhow::Error::new)?
                .with_context(|| format!("{repo}:{tag} not found"))?;
            eprintln!(
                "sealgate: warning: {image} is a tag; signing the digest it points to now, {}. Sign by digest to be sure what you sign.",
                m.digest
            );
            m.digest
        }
    };
    let payload = payload(image, &digest, annotations);
    let public = key.public_key();
    let sig_tag = digest.signature_tag();
    let auth = auth_for(docker, image.registry()).await?;
    let target = oci_client::Reference::with_tag(
        image.registry().to_string(),
        image.path().to_string(),
        sig_tag.clone(),
    );
    writer
        .auth(&target, &auth, oci_client::RegistryOperation::Push)
        .await
        .context("authenticating for push")?;

    for _attempt in 0..WRITE_ATTEMPTS {
        // the current signature manifest, if any, with its layers exactly as stored
        let existing = reader
            .manifest(&repo, &sig_tag)
            .await
            .map_err(anyhow::Error::new)?;
        let mut layers: Vec<serde_json::Value> = match &existing {
            None => Vec::new(),
            Some(m) => {
                let v: serde_json::Value = serde_json::from_slice(&m.bytes)
                    .context("existing signature manifest is not JSON")?;
                v.get("layers")
                    .and_then(|l| l.as_array())
                    .cloned()
                    .unwrap_or_default()
            }
        };
        // idempotence: the same payload already signed by this key
        let payload_digest = Digest::sha256_of(&payload).to_string();
        for l in &layers {
            if l.get("digest").and_then(|d| d.as_str()) != Some(payload_digest.as_str()) {
                continue;
            }
            let sig = l
                .pointer(&format!(
                    "/annotations/{}",
                    SIGNATURE_ANNOTATION.replace('/', "~1")
                ))
                .and_then(|s| s.as_str())
                .and_then(|s| sealgate::crypto::decode_base64_lenient(s).ok());
            if sig.is_some_and(|s| public.verify(&payload, &s).is_ok()) {
                return Ok(format!(
                    "{image}: {digest} is already signed with this key; nothing written"
                ));
            }
        }
        let signature = base64::engine::general_purpose::STANDARD
            .encode(key.sign(&payload).map_err(anyhow::Error::new)?);
        // blobs first: a failure here leaves the old manifest untouched
        let blob_ref = oci_client::Reference::with_digest(
            image.registry().to_string(),
            image.path().to_string(),
            payload_digest.clone(),
        );
        writer
            .push_blob(&blob_ref, payload.clone(), &payload_digest)
            .await
            .context("pushing the payload")?;
        let config_digest = Digest::sha256_of(SIG_CONFIG).to_string();
        writer
            .push_blob(&blob_ref, SIG_CONFIG.to_vec(), &config_digest)
            .await
            .context("pushing the config")?;
        layers.push(serde_json::json!({
            "mediaType": SIMPLE_SIGNING,
            "size": payload.len(),
            "digest": payload_digest,
            "annotations": {SIGNATURE_ANNOTATION: signature},
        }));
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": SIG_CONFIG.len(), "digest": config_digest},
            "layers": layers,
        }))?;
        writer
            .push_manifest_raw(
                &target,
                manifest.clone(),
                OCI_MANIFEST.parse().context("media type")?,
            )
            .await
            .context("pushing the signature manifest")?;
        // another signer may have written in between: our manifest must be the current one
        match reader
            .manifest(&repo, &sig_tag)
            .await
            .map_err(anyhow::Error::new)?
        {
            Some(now) if now.bytes.as_ref() == manifest.as_slice() => {
                return Ok(format!(
                    "{image}: signed {digest}; signature at {repo}:{sig_tag} ({} layer(s))",
                    layers.len()
                ));
            }
            _ => continue,
        }
    }
    bail!("the signature manifest kept changing under concurrent writers; try again")
}
