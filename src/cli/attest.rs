//! `sealgate attest --key FILE --predicate FILE --type TYPE IMAGE`: an in-toto Statement v1
//! about the image digest, in a DSSE envelope signed with the key, stored as cosign does at
//! the `sha256-<hex>.att` tag (one layer per attestation, `predicateType` annotation).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use sealgate::attest;
use sealgate::base::reference::{Digest, ImageRef};
use sealgate::edge::registry::store::{att_envelopes, attestation_layer};

use super::store::{Appended, append_layer, digest_to_sign};

/// Largest predicate file read (SBOMs can be large).
const MAX_PREDICATE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Args)]
pub struct AttestArgs {
    /// The encrypted private key: a file, env://NAME or k8s://NS/NAME (cosign or sealgate
    /// format; password from COSIGN_PASSWORD or a prompt), or hashivault://NAME (a Vault /
    /// OpenBao transit key; VAULT_ADDR, VAULT_TOKEN…).
    #[arg(long, value_name = "FILE|env://NAME|k8s://NS/NAME|hashivault://NAME")]
    key: PathBuf,
    /// The predicate file (JSON; raw text for `custom` and `spdx`).
    #[arg(long, value_name = "FILE")]
    predicate: PathBuf,
    /// Predicate type: slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson,
    /// cyclonedx, link, vuln, openvex, custom, or a URI.
    #[arg(long = "type", value_name = "TYPE", default_value = "custom")]
    kind: String,
    #[command(flatten)]
    target: super::sign::TargetArgs,
    /// Write a Sigstore bundle (DSSE) attached as an OCI referrer instead of a `.att` layer.
    #[arg(long)]
    bundle: bool,
    /// The image (`name:tag` is resolved to its digest).
    #[arg(value_name = "IMAGE")]
    image: String,
}

pub fn run(args: AttestArgs) -> anyhow::Result<ExitCode> {
    let key = super::keys::load_signer(&args.key)?;
    let image = ImageRef::parse(&args.image).map_err(|e| anyhow::anyhow!("{}: {e}", args.image))?;
    let predicate = sealgate::base::files::read_regular(&args.predicate, MAX_PREDICATE_BYTES)
        .context("reading the predicate")?;
    // validate the type and predicate before any network access
    attest::statement(
        &image.name(),
        &Digest::sha256_of(b""),
        &args.kind,
        &predicate,
        "",
    )
    .map_err(anyhow::Error::new)?;
    let store = args.target.open()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // a key manager key is read before anything is signed: one that cannot be used is a
    // set-up error (exit 2), not a per-image failure
    rt.block_on(key.public_key())
        .map_err(|e| anyhow::anyhow!(sealgate::base::error::chain(&e)))?;
    let result = rt.block_on(async {
        let digest = digest_to_sign(&store, &image).await?;
        let (predicate_type, body) = attest::statement(
            &image.name(),
            &digest,
            &args.kind,
            &predicate,
            &super::now_rfc3339(),
        )
        .map_err(anyhow::Error::new)?;
        if args.bundle {
            return super::bundle::attach_bundle(
                &store,
                &key,
                &image,
                &digest,
                &body,
                &predicate_type,
            )
            .await;
        }
        let envelope = key.envelope(&body).await?;
        let tag = digest.attestation_tag();
        let public = key.public_key().await?;
        // the same statement already attested with this key: nothing to write
        let seen: Vec<String> =
            att_envelopes(&store, &image, &tag, &predicate_type, MAX_PREDICATE_BYTES)
                .await?
                .into_iter()
                .filter(|(_, env)| attest::verify_envelope(env, &public).is_some_and(|p| p == body))
                .map(|(d, _)| d.to_string())
                .collect();
        let already = |layers: &[serde_json::Value]| {
            layers.iter().any(|l| {
                l.get("digest")
                    .and_then(|d| d.as_str())
                    .is_some_and(|d| seen.iter().any(|s| s == d))
            })
        };
        let layer = attestation_layer(envelope, &predicate_type);
        Ok::<_, anyhow::Error>(
            match append_layer(&store, &image, &tag, &layer, &already).await? {
                Appended::AlreadyThere => format!(
                    "{image}: {digest} already has this {predicate_type} attestation by this key"
                ),
                Appended::Written(n) => format!(
                    "{image}: attested {digest} ({predicate_type}); at {}:{tag} ({n} layer(s))",
                    image.repository()
                ),
            },
        )
    });
    match result {
        Ok(msg) => {
            eprintln!("{msg}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("sealgate: error: attesting {image}: {e:#}");
            Ok(ExitCode::from(1))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_now_is_well_formed() {
        let s = super::super::now_rfc3339();
        assert_eq!(s.len(), 20, "{s}");
        assert!(
            s.starts_with("20") && s.ends_with('Z') && s.as_bytes()[10] == b'T',
            "{s}"
        );
    }
}
