//! `sealgate explain IMAGE`: wiring only — flags → policies, registry → the explanation of
//! [`sealgate::edge::verify::explain`], printed as text or JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};

use sealgate::edge::registry::layout::OciLayout;
use sealgate::edge::verify::{CheckOptions, GatherOptions, explain};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExplainFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The image reference, as a manifest would write it.
    #[arg(value_name = "IMAGE")]
    image: String,
    /// One ImagePolicy file, or a directory of them (all apply), read as `check` reads them.
    #[arg(long, value_name = "FILE|DIR")]
    policy: PathBuf,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    output: ExplainFormat,
    #[command(flatten)]
    registry: super::RegistryArgs,
    /// Read images and signatures from an OCI image layout instead of registries (needs --oci-layout).
    #[arg(long)]
    offline: bool,
    /// The OCI image layout directory for --offline.
    #[arg(long, value_name = "DIR")]
    oci_layout: Option<PathBuf>,
    /// Sigstore trusted_root.json for keyless verification.
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    /// Evaluate as of this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// More logging on stderr (-v, -vv).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

pub fn run(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    args.registry.validate()?;
    if args.image.trim().is_empty() {
        bail!("IMAGE is empty");
    }
    if args.offline != args.oci_layout.is_some() {
        bail!(
            "--offline and --oci-layout DIR go together (images and signatures from a directory)"
        );
    }
    let now = match &args.now {
        Some(now) => sealgate::base::time::parse_rfc3339(now)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("--now {now:?} is not an RFC 3339 timestamp"))?,
        None => sealgate::base::time::now(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let policies = rt.block_on(super::load_policies(
        &args.policy,
        args.trusted_root.as_deref(),
    ))?;
    let opts = CheckOptions {
        gather: GatherOptions {
            concurrency: args.registry.concurrency,
            ..GatherOptions::default()
        },
        // explain resolves every image itself
        ..CheckOptions::default()
    };
    let explanation = if let Some(dir) = &args.oci_layout {
        let layout = OciLayout::open(dir).map_err(anyhow::Error::new)?;
        rt.block_on(explain::explain(layout, &args.image, &policies, &opts, now))
    } else {
        let registry = args.registry.http()?;
        rt.block_on(explain::explain(
            registry,
            &args.image,
            &policies,
            &opts,
            now,
        ))
    };
    match args.output {
        ExplainFormat::Text => print!("{}", explain::render_text(&explanation)),
        ExplainFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&explain::to_json(&explanation))?
        ),
    }
    Ok(if explanation.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
