//! Command-line front ends: parse arguments → validated config → engine → render.
//! Exit codes (contract): 0 pass/warn, 1 blocked, 2 usage or configuration error.

mod approve;
mod attest;
mod bundle;
mod check;
mod controller;
mod demo;
mod explain;
mod import;
mod keys;
mod run;
mod sign;
mod store;
mod verify_blob;
mod verify_promotion;
mod webhook;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// sealgate: verify every container image of a revision before it ships.
#[derive(Debug, Parser)]
#[command(name = "sealgate", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify every image in a tree of manifests against policy (the CI gate).
    Check(check::CheckArgs),
    /// Generate a cosign-compatible ECDSA P-256 key pair (NAME.key, NAME.pub).
    GenerateKeyPair(keys::GenerateArgs),
    /// Print the public key of an encrypted private key file.
    PublicKey(keys::PublicKeyArgs),
    /// Sign images with a key (cosign `.sig` format; tags are resolved to digests).
    Sign(sign::SignArgs),
    /// Attest an image: an in-toto statement in a DSSE envelope (cosign `.att` format).
    Attest(attest::AttestArgs),
    /// The standalone gate: watch a Git repository, verify each revision, promote what passes.
    Run(run::RunArgs),
    /// Print a running gate's status (like `flux get`).
    Status(run::StatusArgs),
    /// Approve a verified revision: push the SSH-signed tag sealgate/approved/<sha>.
    Approve(approve::ApproveArgs),
    /// Run the gate end to end on a generated example (keys, images, a Git repository).
    Demo(demo::DemoArgs),
    /// Verify a Sigstore bundle over a file or digest, offline (cosign verify-blob's flags).
    VerifyBlob(verify_blob::VerifyBlobArgs),
    /// The Kubernetes controller: reconcile DeploymentGates (leader-elected).
    Controller(controller::ControllerArgs),
    /// Print (or write) the CustomResourceDefinitions.
    Crdgen(controller::CrdgenArgs),
    /// The Kubernetes admission webhook: refuse Pods and pod templates whose images fail policy.
    Webhook(webhook::WebhookArgs),
    /// Explain one image's verdict: policies and rules matched, every discovery path tried, each attestor's result.
    Explain(explain::ExplainArgs),
    /// Translate Kyverno or policy-controller image policies into ImagePolicy documents.
    Import(import::ImportArgs),
    /// Check a deploy-branch commit against its signed verification summary (Git note).
    VerifyPromotion(verify_promotion::VerifyPromotionArgs),
}

/// Logging to stderr; stdout carries only the report.
fn init_logging(verbose: u8, quiet: bool) {
    let level = if quiet {
        "off"
    } else {
        match verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SEALGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("sealgate={level}")));
    // the SigV4 signer traces canonical requests, which carry AWS session tokens: never
    // shown, whatever SEALGATE_LOG asks for
    let filter = match "aws_sigv4=off".parse() {
        Ok(d) => filter.add_directive(d),
        Err(_) => filter,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Runs the parsed command and maps the outcome to the contract's exit codes.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Check(args) => {
            init_logging(args.verbose, args.quiet);
            check::run(args)
        }
        Command::GenerateKeyPair(args) => {
            init_logging(0, false);
            keys::generate(args)
        }
        Command::PublicKey(args) => {
            init_logging(0, false);
            keys::public_key(args)
        }
        Command::Sign(args) => {
            init_logging(0, false);
            sign::run(args)
        }
        Command::Attest(args) => {
            init_logging(0, false);
            attest::run(args)
        }
        Command::Run(args) => {
            init_logging(args.verbose.max(1), args.quiet);
            run::run(args)
        }
        Command::Status(args) => {
            init_logging(0, false);
            run::status(args)
        }
        Command::Approve(args) => {
            init_logging(0, false);
            approve::run(args)
        }
        Command::Demo(args) => {
            init_logging(0, false);
            demo::run(args)
        }
        Command::Controller(args) => {
            init_logging(args.verbose.max(1), false);
            controller::run(args)
        }
        Command::Crdgen(args) => controller::crdgen(args),
        Command::Webhook(args) => {
            init_logging(args.verbose.max(1), args.quiet);
            webhook::run(args)
        }
        Command::Explain(args) => {
            init_logging(args.verbose, false);
            explain::run(args)
        }
        Command::Import(args) => {
            init_logging(0, false);
            import::run(args)
        }
        Command::VerifyBlob(args) => {
            init_logging(0, false);
            verify_blob::run(args)
        }
        Command::VerifyPromotion(args) => {
            init_logging(0, false);
            verify_promotion::run(args)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sealgate: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Reads the ImagePolicy file or directory `policy` as `check` does: keys in Kubernetes
/// Secrets (`k8s://`) fetched once before the policies are compiled, `--trusted-root` for
/// keyless rules.
/// The registry flags of `check`, `explain` and `webhook`.
#[derive(Debug, clap::Args)]
pub(crate) struct RegistryArgs {
    /// Directory holding config.json (auths, credHelpers, credsStore). Default: $DOCKER_CONFIG, then ~/.docker.
    #[arg(long, value_name = "DIR")]
    docker_config: Option<std::path::PathBuf>,
    /// Allow plain HTTP for this registry (host[:port]); repeatable.
    #[arg(long, value_name = "HOST[:PORT]")]
    insecure_registry: Vec<String>,
    /// Registry requests in flight per registry.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub(crate) concurrency: usize,
    /// Timeout of one registry request, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
}

impl RegistryArgs {
    /// Refuses values no registry client can use (before any network access).
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        if self.concurrency == 0 {
            anyhow::bail!("--concurrency must be at least 1");
        }
        Ok(())
    }

    /// The HTTP registry client these flags describe (credentials from the docker config).
    pub(crate) fn http(&self) -> anyhow::Result<sealgate::edge::registry::http::HttpRegistry> {
        use sealgate::edge::registry::http::{HttpOptions, HttpRegistry};
        let docker = sealgate::edge::registry::credentials::DockerConfig::load(
            self.docker_config.as_deref(),
        )
        .map_err(anyhow::Error::new)?;
        HttpRegistry::new(
            HttpOptions {
                insecure: self.insecure_registry.clone(),
                concurrency: self.concurrency,
                timeout: std::time::Duration::from_secs(self.timeout.max(1)),
                ..HttpOptions::default()
            },
            docker,
        )
        .map_err(anyhow::Error::new)
    }
}

pub(crate) async fn load_policies(
    policy: &std::path::Path,
    trusted_root: Option<&std::path::Path>,
) -> anyhow::Result<Vec<sealgate::policy::Policy>> {
    use sealgate::policy::{self, keysource::Resolved};
    let trusted_root = match trusted_root {
        None => None,
        Some(tr) => {
            Some(sealgate::sigstore::trust::TrustedRoot::load(tr).map_err(anyhow::Error::new)?)
        }
    };
    let refs = policy::kubernetes_key_refs(policy).map_err(anyhow::Error::new)?;
    let resolved = if refs.is_empty() {
        Resolved::default()
    } else {
        let fetched = async {
            let client = sealgate::edge::kube::default_client().await?;
            sealgate::edge::kube::fetch_secrets(&client, &refs).await
        };
        fetched
            .await
            .map_err(|e| anyhow::anyhow!(sealgate::base::error::chain(&e)))?
    };
    let resolved = match trusted_root {
        Some(root) => resolved.with_trusted_root(root),
        None => resolved,
    };
    let policies = policy::load_with(policy, &resolved).map_err(anyhow::Error::new)?;
    // hashivault:// attestor keys: read now (a refusal stops here), kept fresh after
    sealgate::edge::kms::activate(&policies)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(policies)
}

/// Now as RFC 3339 UTC (`2026-11-25T15:04:05Z`).
pub(crate) fn now_rfc3339() -> String {
    sealgate::base::time::format_rfc3339(sealgate::base::time::now())
}

/// Resolves on SIGTERM or SIGINT (the daemon and the controller stop cleanly on either).
pub(crate) async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
