//! `sealgate webhook`: the Kubernetes admission webhook. The cluster asks it about every Pod and
//! pod-template object (and CRDs with `extraImagePaths`) before they are stored; it answers
//! from the same check pipeline as `sealgate check` ([`crate::edge::verify::check`]) through
//! the shared evidence [`Cache`], within `--deadline`.
//!
//! | route | answer |
//! | --- | --- |
//! | `POST /validate` | the `AdmissionReview` response: allowed, or denied with a 403 status naming every failing image |
//! | `POST /mutate` | (only with `--mutate-digest`) the same, plus a JSONPatch pinning every verified tag to its digest |
//! | `GET /healthz` | `200 ok` while serving |
//! | `GET /readyz` | `200 ok` once policies are loaded (`--kube`: after the first sync), else 503 |
//! | `GET /metrics` | OpenMetrics text (also on `--metrics-listen` without TLS) |
//!
//! A body that is not an `admission.k8s.io/v1` `AdmissionReview` (wrong content type, over
//! 3 MiB, not JSON, no `request`, …) answers HTTP 400 with the reason as text. A review whose
//! check does not finish within the deadline is denied with `VerificationTimeout`; the check
//! goes on in the background and fills the cache, so the API server's retry is fast.
//!
//! The protocol translation (request → snapshot, report → response) is the pure
//! [`crate::decision::admission`]; this module is the HTTPS server around it.

pub mod kube;
pub mod policies;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::base::verdict::{Reason, ReasonCode};
use crate::decision::admission::{self, Answer, MAX_REVIEW_BYTES};
use crate::edge::registry::Registry;
use crate::edge::verify::{Cache, CheckOptions};
use crate::serve::metrics::{AdmissionResult, Metrics};
use policies::Policies;

/// Default `--deadline`: below the API server's default `timeoutSeconds` of 10.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(8);
/// How long a client may take for the TLS handshake and for sending a request's headers.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an oversized body is read (and dropped) before answering 400.
const DRAIN_LIMIT: usize = 16 << 20;
/// How long a client may take to send a review body.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// How the webhook answers.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Every review is answered within this.
    pub deadline: Duration,
    /// Serve `POST /mutate` (digest pinning).
    pub mutate: bool,
    /// Options of the check pipeline.
    pub check: CheckOptions,
}

/// What the handlers share: the registry, the compiled policies, the evidence cache.
pub struct Webhook<R> {
    registry: Arc<R>,
    policies: Arc<Policies>,
    cache: Arc<Cache>,
    settings: Settings,
    metrics: Arc<Metrics>,
    /// Events for denials (`--kube`).
    recorder: Option<::kube::runtime::events::Recorder>,
}

impl<R> std::fmt::Debug for Webhook<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("policies", &self.policies.current().map(|p| p.len()))
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<R: Registry + 'static> Webhook<R> {
    /// A webhook over the current `policies` (their `extraImagePaths` apply to CRDs).
    pub fn new(
        registry: Arc<R>,
        policies: Arc<Policies>,
        cache: Arc<Cache>,
        settings: Settings,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            registry,
            policies,
            cache,
            settings,
            metrics,
            recorder: None,
        }
    }

    /// Publishes an Event on every denied object (never for dry runs).
    #[must_use]
    pub fn with_events(mut self, recorder: ::kube::runtime::events::Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Policies are loaded (`GET /readyz` answers 200).
    pub fn is_ready(&self) -> bool {
        self.policies.is_ready()
    }

    /// Answers one review body: `Err((status, message))` for a request that is not an
    /// answerable review, else the response document.
    pub async fn review(
        &self,
        body: &[u8],
        mutate: bool,
    ) -> Result<serde_json::Value, (StatusCode, String)> {
        let started = Instant::now();
        let review = match admission::parse_review(body) {
            Ok(r) => r,
            Err(e) => {
                self.metrics.admission(
                    AdmissionResult::Invalid,
                    None,
                    started.elapsed().as_secs_f64(),
                );
                return Err((StatusCode::BAD_REQUEST, e.to_string()));
            }
        };
        let answer = self.answer(&review, mutate).await;
        let result = if !answer.allowed {
            AdmissionResult::Denied
        } else if answer.warnings.is_empty() {
            AdmissionResult::Allowed
        } else {
            AdmissionResult::Warned
        };
        self.metrics
            .admission(result, answer.reason, started.elapsed().as_secs_f64());
        let (hits, misses) = self.cache.stats();
        self.metrics.cache_totals(hits, misses);
        if let Some(recorder) = &self.recorder {
            kube::publish_denial(recorder, &review, &answer);
        }
        if !answer.allowed {
            tracing::info!(
                uid = %review.uid,
                operation = review.operation.as_str(),
                dry_run = review.dry_run,
                reason = answer.reason.unwrap_or(""),
                "admission denied: {}",
                answer.message
            );
        }
        Ok(answer.to_review(&review.uid))
    }

    async fn answer(&self, review: &admission::Review, mutate: bool) -> Answer {
        if !review.needs_check() {
            return Answer::allow();
        }
        let Some(set) = self.policies.current() else {
            return Answer::deny(
                review,
                &Reason::new(
                    ReasonCode::PolicyUnavailable,
                    "the webhook has not loaded its policies yet; retry shortly",
                ),
            );
        };
        let scope = match set.scope(review.namespace.as_deref()) {
            Ok(s) => s.clone(),
            // fail closed: the broken policy might have named this object's images
            Err(reason) => return Answer::deny(review, &reason),
        };
        let snapshot = review.snapshot(&scope.extra);
        if snapshot.images.is_empty() {
            return Answer::allow();
        }
        if scope.policies.is_empty() {
            // fail closed: with no policy, no image can have passed one
            return Answer::deny(
                review,
                &Reason::new(
                    ReasonCode::NoPolicyMatch,
                    match &review.namespace {
                        Some(ns) => format!(
                            "no ClusterImagePolicy, and no ImagePolicy in namespace {ns}, applies"
                        ),
                        None => "no ClusterImagePolicy applies".to_owned(),
                    },
                ),
            );
        }
        let registry = self.registry.clone();
        let policies = scope.policies;
        let cache = self.cache.clone();
        let mut opts = self.settings.check.clone();
        opts.resolve_all |= mutate;
        let now = crate::base::time::now();
        // Spawned so that it runs on past the deadline and fills the cache for the retry.
        let check = tokio::spawn(async move {
            crate::edge::verify::check(
                &*registry,
                &snapshot,
                &policies,
                &opts,
                Some(&cache),
                now,
                None,
            )
            .await
        });
        match tokio::time::timeout(self.settings.deadline, check).await {
            Ok(Ok(report)) => Answer::from_report(review, &report, mutate),
            Ok(Err(e)) => Answer::deny(
                review,
                &Reason::new(
                    ReasonCode::VerificationTimeout,
                    format!("the verification did not complete: {e}"),
                ),
            ),
            Err(_) => Answer::deny(
                review,
                &Reason::new(
                    ReasonCode::VerificationTimeout,
                    format!(
                        "verification did not finish within the {}s deadline; it continues, \
                         retry shortly",
                        self.settings.deadline.as_secs_f64()
                    ),
                ),
            ),
        }
    }

    /// The routes (see the module docs).
    pub fn router(self: Arc<Self>) -> Router {
        let mut router = Router::new()
            .route("/validate", post(validate::<R>))
            .route("/healthz", get(ok))
            .route("/readyz", get(ready::<R>))
            .route("/metrics", get(metrics::<R>));
        if self.settings.mutate {
            router = router.route("/mutate", post(mutate::<R>));
        }
        router.with_state(self)
    }
}

async fn ok() -> &'static str {
    "ok"
}

async fn ready<R: Registry + 'static>(State(hook): State<Arc<Webhook<R>>>) -> Response {
    if hook.is_ready() {
        "ok".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "policies not loaded yet\n").into_response()
    }
}

async fn metrics<R: Registry + 'static>(State(hook): State<Arc<Webhook<R>>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            crate::serve::http::OPENMETRICS_CONTENT_TYPE,
        )],
        hook.metrics.encode(),
    )
        .into_response()
}

async fn validate<R: Registry + 'static>(
    State(hook): State<Arc<Webhook<R>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(&hook, &headers, body, false).await
}

async fn mutate<R: Registry + 'static>(
    State(hook): State<Arc<Webhook<R>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(&hook, &headers, body, true).await
}

async fn handle<R: Registry + 'static>(
    hook: &Webhook<R>,
    headers: &HeaderMap,
    body: Body,
    mutate: bool,
) -> Response {
    let bad = |message: String| {
        hook.metrics.admission(AdmissionResult::Invalid, None, 0.0);
        (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response()
    };
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return bad("expected Content-Type: application/json (an AdmissionReview)".into());
    }
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, read_body(body)).await {
        Ok(Ok(b)) => b,
        Ok(Err(message)) => return bad(message),
        Err(_) => return bad("request body not received in time".into()),
    };
    match hook.review(&bytes, mutate).await {
        Ok(doc) => (
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_vec(&doc).unwrap_or_default(),
        )
            .into_response(),
        Err((status, message)) => (status, format!("{message}\n")).into_response(),
    }
}

/// Reads a review body of at most [`MAX_REVIEW_BYTES`]. An oversized body is read on (and
/// dropped) up to [`DRAIN_LIMIT`] so that the client, still sending, gets the 400 answer
/// instead of a reset connection.
async fn read_body(body: Body) -> Result<Bytes, String> {
    use futures::StreamExt as _;
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("reading the request body: {e}"))?;
        total = total.saturating_add(chunk.len());
        if total <= MAX_REVIEW_BYTES {
            buf.extend_from_slice(&chunk);
        } else if total > DRAIN_LIMIT {
            break;
        }
    }
    if total > MAX_REVIEW_BYTES {
        return Err(format!(
            "request body is over the limit of {MAX_REVIEW_BYTES} bytes"
        ));
    }
    Ok(Bytes::from(buf))
}

/// Serves `router` over TLS on `listener` until `shutdown` completes: each connection gets a
/// TLS handshake (bounded by a timeout) with the current certificate, then HTTP/1.1 with
/// keep-alive.
///
/// # Errors
/// Accepting from the listener failed.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    router: Router,
    config: Arc<rustls::ServerConfig>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let service = hyper_util::service::TowerToHyperService::new(router);
            let served = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT)
                .keep_alive(true)
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
}
