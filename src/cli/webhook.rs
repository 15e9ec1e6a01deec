//! `sealgate webhook`: wiring only — flags → policies, registry, cache, certificate → the
//! HTTPS server of [`sealgate::webhook`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;

use sealgate::edge::verify::{Cache, CheckOptions, GatherOptions};
use sealgate::serve::metrics::Metrics;
use sealgate::webhook::policies::{Policies, PolicySet};
use sealgate::webhook::{self, Settings, Webhook, tls};

#[derive(Debug, Args)]
pub struct WebhookArgs {
    /// One ImagePolicy file, or a directory of them (all apply), read as `check` reads them.
    #[arg(
        long,
        value_name = "FILE|DIR",
        required_unless_present = "kube",
        conflicts_with = "kube"
    )]
    policy: Option<PathBuf>,
    /// Take policies from the cluster instead: every ClusterImagePolicy, and each
    /// ImagePolicy for objects of its namespace (watched; re-compiled on change), with
    /// k8s:// keys; publish an Event for every denial.
    #[arg(long)]
    kube: bool,
    /// With --kube: re-compile all policies (re-reading the Secrets they name) this often,
    /// in seconds, besides on every change [default: 300].
    #[arg(long, value_name = "SECONDS")]
    policy_resync: Option<u64>,
    /// PEM certificate chain served (reloaded when the file changes).
    #[arg(long, value_name = "FILE")]
    tls_cert: PathBuf,
    /// PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE")]
    tls_key: PathBuf,
    /// Address to serve HTTPS on.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8443")]
    listen: SocketAddr,
    /// Answer every review within this many seconds; past it the object is denied with
    /// VerificationTimeout (the check goes on and fills the cache). Keep it below the
    /// webhook's timeoutSeconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 8.0)]
    deadline: f64,
    /// Also serve POST /mutate: pin every verified tag reference to its digest (JSONPatch).
    #[arg(long)]
    mutate_digest: bool,
    /// Also serve GET /metrics over plain HTTP on this address (for Prometheus).
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    #[command(flatten)]
    registry: super::RegistryArgs,
    /// Sigstore trusted_root.json for keyless verification.
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    /// How long verified evidence and each tag's digest are reused, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    cache_ttl: u64,
    /// Extra image location for a kind: KIND=/json/pointer (`*` matches every array index); repeatable.
    #[arg(long, value_name = "KIND=POINTER")]
    image_path: Vec<String>,
    /// More logging on stderr (-v, -vv).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// No logging on stderr.
    #[arg(short, long, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
}

pub fn run(args: WebhookArgs) -> anyhow::Result<ExitCode> {
    if !(args.deadline.is_finite() && args.deadline > 0.0 && args.deadline <= 30.0) {
        bail!(
            "--deadline must be more than 0 and at most 30 seconds (the API server waits at most 30)"
        );
    }
    if args.policy_resync.is_some() && !args.kube {
        bail!("--policy-resync needs --kube (policies from files are read once)");
    }
    args.registry.validate()?;
    // refuse to start without a usable certificate
    let cert = Arc::new(
        tls::ReloadingCert::load(&args.tls_cert, &args.tls_key, tls::provider())
            .context("loading the serving certificate (--tls-cert, --tls-key)")?,
    );
    let tls_config = Arc::new(tls::server_config(cert)?);
    let mut extra = Vec::new();
    for s in &args.image_path {
        extra.push(
            sealgate::manifests::parse_image_path(s)
                .with_context(|| format!("--image-path {s:?}"))?,
        );
    }
    let registry = Arc::new(args.registry.http()?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let mut kube_client = None;
        let policies = match &args.policy {
            Some(path) => Policies::fixed(PolicySet::fixed(
                super::load_policies(path, args.trusted_root.as_deref()).await?,
                extra,
            )),
            None => {
                let client = kube::Client::try_default()
                    .await
                    .context("--kube: connecting to the Kubernetes API")?;
                let trusted_root = match &args.trusted_root {
                    Some(p) => Some(
                        sealgate::sigstore::trust::TrustedRoot::load(p)
                            .map_err(|e| anyhow::anyhow!("--trusted-root {}: {e}", p.display()))?,
                    ),
                    None => None,
                };
                let policies = Policies::pending();
                tokio::spawn(webhook::kube::watch(
                    webhook::kube::Source {
                        client: client.clone(),
                        trusted_root,
                        extra,
                        resync: args
                            .policy_resync
                            .map_or(webhook::kube::DEFAULT_RESYNC, |s| {
                                Duration::from_secs(s.max(1))
                            }),
                    },
                    policies.clone(),
                ));
                kube_client = Some(client);
                policies
            }
        };
        let ttl = Duration::from_secs(args.cache_ttl);
        let metrics = Arc::new(Metrics::new());
        let hook = Webhook::new(
            registry,
            policies,
            Arc::new(Cache::new(ttl, ttl.min(Duration::from_secs(30)))),
            Settings {
                deadline: Duration::from_secs_f64(args.deadline),
                mutate: args.mutate_digest,
                check: CheckOptions {
                    gather: GatherOptions {
                        concurrency: args.registry.concurrency,
                        tag_ttl: Some(ttl),
                        ..GatherOptions::default()
                    },
                    resolve_all: false,
                },
            },
            metrics.clone(),
        );
        let hook = Arc::new(match kube_client {
            Some(client) => hook.with_events(kube::runtime::events::Recorder::new(
                client,
                kube::runtime::events::Reporter {
                    controller: "sealgate-webhook".into(),
                    instance: std::env::var("POD_NAME").ok(),
                },
            )),
            None => hook,
        });
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        if let Some(m) = args.metrics_listen {
            let metrics_listener = tokio::net::TcpListener::bind(m)
                .await
                .with_context(|| format!("listening on {m}"))?;
            let router = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let metrics = metrics.clone();
                    async move {
                        (
                            [(
                                axum::http::header::CONTENT_TYPE,
                                sealgate::serve::http::OPENMETRICS_CONTENT_TYPE,
                            )],
                            metrics.encode(),
                        )
                    }
                }),
            );
            tokio::spawn(async move {
                if let Err(e) = axum::serve(metrics_listener, router).await {
                    tracing::error!(error = %e, "metrics listener stopped");
                }
            });
        }
        tracing::info!(%addr, mutate = args.mutate_digest, "admission webhook serving");
        eprintln!("sealgate: admission webhook listening on https://{addr}");
        webhook::serve_tls(
            listener,
            hook.router(),
            tls_config,
            super::shutdown_signal(),
        )
        .await?;
        Ok(ExitCode::SUCCESS)
    })
}
