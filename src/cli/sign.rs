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

use anyhow::{Context as _, bail};
use base64::Engine as _;
use clap::Args;

use sealgate::base::reference::{Digest, ImageRef};
use sealgate::edge::kms::Signer;
use sealgate::edge::registry::discovery::SIGNATURE_ANNOTATION;

pub(crate) use super::store::{Appended, NewLayer, Store, append_layer, digest_to_sign};

const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

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
        .map_err(anyhow::Error::new)
    }
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The encrypted private key: a file, env://NAME or k8s://NS/NAME (cosign or sealgate
    /// format; password from COSIGN_PASSWORD or a prompt), or hashivault://NAME (a Vault /
    /// OpenBao transit key; VAULT_ADDR, VAULT_TOKEN…).
    #[arg(long, value_name = "FILE|env://NAME|k8s://NS/NAME|hashivault://NAME")]
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

pub fn run(args: SignArgs) -> anyhow::Result<ExitCode> {
    let key = super::keys::load_signer(&args.key)?;
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
    // a key manager key is read before anything is signed: one that cannot be used is a
    // set-up error (exit 2), not a per-image failure
    rt.block_on(key.public_key())
        .map_err(|e| anyhow::anyhow!(sealgate::base::error::chain(&e)))?;
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

async fn sign_one(
    store: &Store,
    key: &Signer,
    image: &ImageRef,
    annotations: &BTreeMap<String, String>,
) -> anyhow::Result<String> {
    let digest = digest_to_sign(store, image).await?;
    let payload = payload(image, &digest, annotations);
    let public = key.public_key().await?;
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
    let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&payload).await?);
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
