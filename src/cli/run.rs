//! `sealgate run --config FILE [--once]`: the standalone gate (Git → verify → promote), and
//! `sealgate status --url URL`: its status as a table.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;

use sealgate::serve::http::{AppState, Trigger};
use sealgate::serve::metrics::Metrics;
use sealgate::standalone::{Gate, Outcome, Status};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The GateConfig file (see config/gate.yaml).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// One reconcile, then exit: 0 promoted or up to date, 1 blocked (or failed), 2
    /// configuration error, 3 waiting for approval.
    #[arg(long)]
    once: bool,
    /// With --once: print the status as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Evaluate time-dependent checks at this instant (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// More logging on stderr (-v, -vv).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// No logging on stderr.
    #[arg(short, long, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
    #[command(flatten)]
    http: HttpArgs,
}

/// How the page and `/status` are served (`sealgate run` and `sealgate controller`).
#[derive(Debug, Args, Clone, Default)]
pub struct HttpArgs {
    /// Links of the page start with this path (`/sealgate`), and the page and /status also
    /// answer below it. Without it, a valid X-Forwarded-Prefix header decides per request.
    #[arg(long, value_name = "PATH")]
    pub http_path_prefix: Option<String>,
    /// The page and /status need this token: `Authorization: Bearer TOKEN`, or basic auth
    /// with it as the password. /metrics, /healthz and /readyz stay open.
    #[arg(long, value_name = "FILE")]
    pub http_auth_token_file: Option<PathBuf>,
}

impl HttpArgs {
    /// The page's settings (the token file read now).
    ///
    /// # Errors
    /// An invalid prefix or an unreadable / empty token file.
    pub fn settings(&self) -> anyhow::Result<sealgate::serve::page::Settings> {
        let prefix = match &self.http_path_prefix {
            None => None,
            Some(p) => Some(sealgate::serve::page::valid_prefix(p).with_context(|| {
                format!("--http-path-prefix {p:?}: expected /segment[/segment…] of letters, digits, - . _ ~")
            })?),
        };
        let token = match &self.http_auth_token_file {
            None => None,
            Some(f) => Some(sealgate::serve::page::read_token(f).map_err(anyhow::Error::msg)?),
        };
        Ok(sealgate::serve::page::Settings { prefix, token })
    }
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The gate's HTTP address (`listen` in its config).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9090")]
    url: String,
    /// Print the raw JSON.
    #[arg(long)]
    json: bool,
    /// Send this token (the gate's --http-auth-token-file) as a bearer token.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
}

/// A `flux get`-style table of a status document.
pub fn render_status(s: &Status) -> String {
    let cond = |k: &str| {
        s.condition(k)
            .map(|c| format!("{:<5} {:<24} {}", c.status, c.reason, c.message))
            .unwrap_or_else(|| "-".into())
    };
    let mut out = String::new();
    out.push_str(&format!(
        "SOURCE     {}\n",
        s.source.as_deref().unwrap_or("-")
    ));
    out.push_str(&format!(
        "TARGET     {}\n",
        s.target.as_deref().unwrap_or("-")
    ));
    for k in [
        "Ready",
        "Stalled",
        "SourceVerified",
        "ImagesVerified",
        "AwaitingApproval",
        "Promoted",
    ] {
        if s.condition(k).is_some() {
            out.push_str(&format!("{k:<17}  {}\n", cond(k)));
        }
    }
    let short = |r: &Option<String>| {
        r.as_deref()
            .map(|r| r.get(..12).unwrap_or(r).to_string())
            .unwrap_or_else(|| "-".into())
    };
    out.push_str(&format!(
        "REVISIONS  attempted {}  verified {}  promoted {}\n",
        short(&s.last_attempted_revision),
        short(&s.last_verified_revision),
        short(&s.last_promoted_revision)
    ));
    if let Some(f) = &s.force_push {
        out.push_str(&format!("FORCE-PUSH {f}\n"));
    }
    out.push_str(&format!(
        "IMAGES     {} total, {} blocked\n",
        s.images_total, s.images_blocked
    ));
    for i in s
        .images
        .iter()
        .filter(|i| !matches!(i.verdict.as_str(), "pass" | "allowed"))
    {
        out.push_str(&format!("  {:<13} {}\n", i.verdict.to_uppercase(), i.image));
        for r in &i.reasons {
            out.push_str(&format!("      {}: {}\n", r.code.as_str(), r.message));
        }
    }
    for p in &s.problems {
        out.push_str(&format!("  PROBLEM {p}\n"));
    }
    for u in &s.image_updates {
        let short = |v: &Option<String>| {
            v.as_deref()
                .map(|v| match v.split_once("@sha256:") {
                    Some((t, d)) => format!("{t}@sha256:{}", d.get(..12).unwrap_or(d)),
                    None => v.to_owned(),
                })
                .unwrap_or_else(|| "-".into())
        };
        out.push_str(&format!(
            "UPDATE     {}  {}  current {}  latest {}\n",
            u.name,
            u.image,
            short(&u.current),
            short(&u.latest)
        ));
        if let Some(m) = &u.message {
            out.push_str(&format!("  PROBLEM {m}\n"));
        }
        for r in &u.rejected {
            out.push_str(&format!(
                "  REJECTED {} {}: {}\n",
                r.tag, r.reason, r.message
            ));
        }
    }
    out
}

fn now_of(args: &Option<String>) -> anyhow::Result<Option<i64>> {
    match args {
        None => Ok(None),
        Some(n) => Ok(Some(
            sealgate::base::time::parse_rfc3339(n)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("--now {n:?}"))?,
        )),
    }
}

fn record(metrics: &Metrics, gate: &Gate, o: &Outcome, seconds: f64) {
    metrics.reconcile(sealgate::serve::metrics::ReconcileResult::of(o), seconds);
    // every image of the last report, not the status's first 50
    metrics.set_image_verdicts(&gate.image_verdicts());
    metrics.set_blocked_gates(i64::from(matches!(o, Outcome::Blocked { .. })));
    if let Outcome::Promoted { .. } = o {
        metrics.set_last_promotion(sealgate::base::time::now());
    }
    if matches!(
        o,
        Outcome::Promoted { .. } | Outcome::UpToDate | Outcome::Applied { .. }
    ) {
        metrics.set_last_success(sealgate::base::time::now());
    }
    let (hits, misses) = gate.cache.stats();
    metrics.cache_totals(hits, misses);
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let fixed_now = now_of(&args.now)?;
    let http = match args.http.settings() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("sealgate: error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let config = match sealgate::standalone::config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sealgate: error: {}", sealgate::base::error::chain(&e));
            return Ok(ExitCode::from(2));
        }
    };
    let metrics = Arc::new(Metrics::new());
    let observer: sealgate::edge::registry::http::Observer = {
        let m = metrics.clone();
        Arc::new(move |registry: &str, status: u16| m.registry_request(registry, status))
    };
    // a k8s:// summary key: its Secret is read once, now (in-cluster config or KUBECONFIG)
    let secrets = match config.summary.as_ref().and_then(|s| s.key.kubernetes()) {
        None => sealgate::policy::keysource::Resolved::default(),
        Some(secret) => match super::keys::fetch_secret_now(secret) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("sealgate: error: summary.key: {e:#}");
                return Ok(ExitCode::from(2));
            }
        },
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let gate = match Gate::with_secrets(config, Some(observer), &secrets) {
        Ok(g) => {
            g.use_metrics(metrics.clone());
            Arc::new(g)
        }
        Err(e) => {
            eprintln!("sealgate: error: {}", sealgate::base::error::chain(&e));
            return Ok(ExitCode::from(2));
        }
    };
    if args.once {
        let outcome =
            rt.block_on(gate.reconcile(fixed_now.unwrap_or_else(sealgate::base::time::now)));
        // a Git operation abandoned at its deadline must not keep the process alive
        rt.shutdown_background();
        let status = gate.status();
        if args.json {
            println!("{}", serde_json::to_string_pretty(&status)?);
        } else {
            print!("{}", render_status(&status));
        }
        return Ok(match outcome {
            Outcome::Promoted { .. } | Outcome::UpToDate | Outcome::Applied { .. } => {
                ExitCode::SUCCESS
            }
            Outcome::Blocked { .. } | Outcome::Failed { .. } => ExitCode::from(1),
            Outcome::AwaitingApproval => ExitCode::from(3),
        });
    }
    let result = rt.block_on(daemon(gate, metrics, fixed_now, http));
    rt.shutdown_background();
    result?;
    Ok(ExitCode::SUCCESS)
}

/// The daemon: poll with jitter, reconcile at once on a webhook, back off on errors,
/// stop cleanly on SIGTERM/SIGINT (a running reconcile finishes first: promotion is one
/// atomic ref update on the remote, so nothing is left half-written).
async fn daemon(
    gate: Arc<Gate>,
    metrics: Arc<Metrics>,
    fixed_now: Option<i64>,
    http: sealgate::serve::page::Settings,
) -> anyhow::Result<()> {
    let cfg = &gate.config;
    let secret = match (&cfg.webhook_secret_env, &cfg.webhook_secret_file) {
        (Some(e), _) => Some(
            std::env::var(e)
                .with_context(|| format!("webhook.secretEnv: {e} is not set"))?
                .trim()
                .to_string(),
        ),
        (None, Some(f)) => Some(
            sealgate::base::files::read_regular_string(f, sealgate::base::files::MAX_SMALL_FILE)
                .context("webhook.secretFile")?
                .trim()
                .to_string(),
        ),
        (None, None) => None,
    };
    let status_doc = Arc::new(tokio::sync::RwLock::new(serde_json::to_value(
        gate.status(),
    )?));
    let ready = Arc::new(AtomicBool::new(false));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Trigger>(1);
    let state = AppState {
        status: status_doc.clone(),
        ready: ready.clone(),
        metrics: metrics.clone(),
        webhook_secret: secret.map(Arc::new),
        trigger: tx,
        gates: Some({
            let gate = gate.clone();
            Arc::new(move || vec![gate.view()])
        }),
        http,
    };
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.listen))?;
    eprintln!(
        "sealgate: gate {} → {} ({}); serving the page (/) /status /metrics /healthz /readyz /hooks/git on http://{}",
        cfg.source.url,
        cfg.promote.branch,
        cfg.source.git_ref,
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
    // one stop flag everybody can wait on without missing it (a watch keeps its value)
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop_tx = Arc::new(stop_tx);
    {
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            super::shutdown_signal().await;
            let _ = stop_tx.send(true);
        });
    }
    let server = {
        let mut rx = stop_rx.clone();
        tokio::spawn(sealgate::serve::http::serve(listener, state, async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }))
    };
    let stopping = || *stop_rx.borrow();
    let mut failures: u32 = 0;
    let mut stop_wait = stop_rx.clone();
    loop {
        if stopping() {
            break;
        }
        let started = Instant::now();
        let outcome = gate
            .reconcile(fixed_now.unwrap_or_else(sealgate::base::time::now))
            .await;
        record(&metrics, &gate, &outcome, started.elapsed().as_secs_f64());
        *status_doc.write().await = serde_json::to_value(gate.status())?;
        ready.store(true, Ordering::SeqCst);
        tracing::info!(
            ?outcome,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "reconciled"
        );
        let wait = match outcome {
            Outcome::Failed { .. } => {
                failures = failures.saturating_add(1);
                let backoff = Duration::from_secs(2u64.saturating_pow(failures.min(10)));
                backoff.min(cfg.source.interval)
            }
            _ => {
                failures = 0;
                jitter(cfg.source.interval)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            t = rx.recv() => {
                if let Some(t) = t {
                    tracing::info!(source = t.source, git_ref = ?t.git_ref, "webhook: reconciling now");
                }
            }
            _ = stop_wait.wait_for(|stop| *stop) => break,
        }
    }
    eprintln!("sealgate: stopping");
    let _ = stop_tx.send(true);
    let _ = server.await;
    Ok(())
}

/// ±10 % of the interval, so many gates do not poll in step.
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    let frac = f64::from(nanos % 2001) / 10_000.0 - 0.1; // -0.1 ..= 0.1
    d.mul_f64(1.0 + frac)
}

pub fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let url = format!("{}/status", args.url.trim_end_matches('/'));
    let token = match &args.token_file {
        None => None,
        Some(f) => Some(sealgate::serve::page::read_token(f).map_err(anyhow::Error::msg)?),
    };
    let body = rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let mut req = client.get(&url);
        if let Some(t) = &token {
            req = req.bearer_auth(t.as_str());
        }
        let resp = req.send().await?.error_for_status()?;
        resp.text().await
    });
    let body = body.with_context(|| format!("GET {url}"))?;
    if args.json {
        println!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let status: Status = serde_json::from_str(&body).context("not a sealgate status document")?;
    print!("{}", render_status(&status));
    Ok(
        if status
            .condition("Ready")
            .is_some_and(|c| c.status == "True")
        {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}
