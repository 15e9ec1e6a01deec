//! HTTP surface of the standalone daemon (`sealgate run`).
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /status` | the current status document (`application/json`) |
//! | `GET /metrics` | [`Metrics::encode`] (OpenMetrics text) |
//! | `GET /healthz` | `200 ok` while the process serves |
//! | `GET /readyz` | `200` once the first reconcile completed, `503` before |
//! | `POST /hooks/git` | GitHub / GitLab push webhook, see [`router`] |
//! | `GET /`, `/gates/<name>`, `/assets/…` | the release manager's page ([`crate::serve::page`]) |
//!
//! The page and `/status` honour [`AppState::http`] (path prefix, token); `/metrics`,
//! the health probes and the webhook stay outside the token (the webhook has its own
//! secret).
//!
//! Unknown paths answer 404 and a known path with another method 405.
//! Nothing here logs a secret, a signature or a webhook body.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;
use tokio::sync::{RwLock, mpsc};

use crate::serve::metrics::Metrics;

/// Largest webhook body accepted; larger ones answer 413.
pub const WEBHOOK_BODY_LIMIT: usize = 5 * 1024 * 1024;

/// How long a client may take to send a webhook body before it gets 408.
pub const WEBHOOK_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Content type of `GET /metrics`.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the daemon shares with the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    /// The current status document (the daemon replaces it after every reconcile).
    pub status: Arc<RwLock<serde_json::Value>>,
    /// Set after the first reconcile completed (healthy or not): /readyz
    /// answers 200 from then on, 503 before.
    pub ready: Arc<AtomicBool>,
    /// The daemon's metrics, served on `GET /metrics`.
    pub metrics: Arc<Metrics>,
    /// Webhook secret; `None` = `POST /hooks/git` answers 404 (disabled: fail
    /// closed, never unauthenticated).
    pub webhook_secret: Option<Arc<String>>,
    /// Where accepted push events go (the daemon reconciles at once).
    /// `try_send`: a full channel is fine (a reconcile is already pending).
    pub trigger: mpsc::Sender<Trigger>,
    /// The gates the page shows; `None` serves no page.
    pub gates: Option<crate::serve::page::Gates>,
    /// Path prefix and token of the page and `/status`.
    pub http: crate::serve::page::Settings,
}

// Hand-written so that the secret never reaches a log through `{:?}`.
impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("ready", &self.ready)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// An accepted push event: the daemon should reconcile now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// `"github"` or `"gitlab"`.
    pub source: &'static str,
    /// The pushed ref (`refs/heads/main`), when the payload has one.
    pub git_ref: Option<String>,
    /// The commit the ref points to after the push, when the payload has one.
    pub after: Option<String>,
}

/// The daemon's routes, see the module documentation.
///
/// `POST /hooks/git`:
/// - no secret configured → 404;
/// - `X-GitHub-Event` set → GitHub: `X-Hub-Signature-256: sha256=<hex>` must
///   be HMAC-SHA256(secret, raw body) (checked in constant time), else 401;
///   then `push` → 202 and a [`Trigger`], `ping` → 200, any other event → 202
///   ignored;
/// - else `X-Gitlab-Event` set → GitLab: `X-Gitlab-Token` must equal the
///   secret (constant time), else 401; then `Push Hook` / `Tag Push Hook` →
///   202 and a [`Trigger`], any other event → 202 ignored;
/// - neither header → 400;
/// - body over [`WEBHOOK_BODY_LIMIT`] → 413; a push body that is not a JSON
///   object with optional string `ref` / `after` → 400;
/// - trigger channel closed (the daemon loop is gone) → 503.
pub fn router(state: AppState) -> Router {
    let mut people = Router::new()
        .route("/status", get(status))
        .with_state(state.clone());
    if let Some(gates) = &state.gates {
        people = people.merge(crate::serve::page::routes(gates.clone(), &state.http));
    }
    let open = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/hooks/git",
            post(git_hook).layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT)),
        )
        .with_state(state.clone());
    Router::new()
        .merge(crate::serve::page::mount(people, &state.http))
        .merge(open)
}

/// Serves [`router`] on `listener` until `shutdown` resolves; then stops
/// accepting and lets in-flight requests finish (graceful).
///
/// # Errors
/// An I/O error of the server.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "HTTP server listening");
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn status(State(state): State<AppState>) -> Response {
    let body = {
        let doc = state.status.read().await;
        serde_json::to_vec(&*doc)
    };
    match body {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "serializing the status document failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(OPENMETRICS_CONTENT_TYPE),
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

/// Why a webhook was refused; each maps to one status code.
#[derive(Debug, thiserror::Error)]
enum HookError {
    #[error("webhooks are disabled")]
    Disabled,
    #[error("no X-GitHub-Event or X-Gitlab-Event header")]
    UnknownForge,
    #[error("missing or invalid signature or token")]
    Unauthorized,
    #[error("request body too large")]
    TooLarge,
    #[error("request body not received in time")]
    BodyTimeout,
    #[error("request body could not be read")]
    BodyUnreadable(StatusCode),
    #[error("payload is not a push event JSON object")]
    BadPayload,
    #[error("the daemon is shutting down")]
    DaemonGone,
}

impl IntoResponse for HookError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::Disabled => StatusCode::NOT_FOUND,
            Self::UnknownForge | Self::BadPayload => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::BodyUnreadable(status) => status,
            Self::DaemonGone => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, self.to_string()).into_response()
    }
}

/// Which forge sent the webhook, and which event.
enum Forge {
    GitHub { event: String },
    GitLab { event: String },
}

/// The fields of a push payload we use; both forges name them alike.
#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    after: Option<String>,
}

async fn git_hook(State(state): State<AppState>, request: Request) -> Response {
    match handle_git_hook(&state, request).await {
        Ok(response) => response,
        // Disabled webhooks are probed by scanners: keep that out of warnings.
        Err(err @ HookError::Disabled) => {
            tracing::debug!(reason = %err, "webhook refused");
            err.into_response()
        }
        Err(err) => {
            tracing::warn!(reason = %err, "webhook refused");
            err.into_response()
        }
    }
}

async fn handle_git_hook(state: &AppState, request: Request) -> Result<Response, HookError> {
    let Some(secret) = state.webhook_secret.as_deref() else {
        return Err(HookError::Disabled);
    };
    let headers = request.headers();
    let forge = if let Some(event) = headers.get("x-github-event") {
        Forge::GitHub {
            event: header_text(event),
        }
    } else if let Some(event) = headers.get("x-gitlab-event") {
        Forge::GitLab {
            event: header_text(event),
        }
    } else {
        return Err(HookError::UnknownForge);
    };

    // GitLab's token does not depend on the body: refuse before reading it.
    if let Forge::GitLab { .. } = forge {
        let token = headers.get("x-gitlab-token").map(HeaderValue::as_bytes);
        if !token.is_some_and(|token| token_matches(secret.as_bytes(), token)) {
            return Err(HookError::Unauthorized);
        }
    }
    let github_signature = match forge {
        Forge::GitHub { .. } => Some(github_signature(request.headers())?),
        Forge::GitLab { .. } => None,
    };

    let body = read_body(request).await?;

    if let Some(signature) = github_signature
        && !github_signature_matches(secret.as_bytes(), &body, &signature)
    {
        return Err(HookError::Unauthorized);
    }

    let (source, push) = match &forge {
        Forge::GitHub { event } => match event.as_str() {
            "push" => ("github", true),
            "ping" => {
                tracing::info!("GitHub webhook ping");
                return Ok((StatusCode::OK, "pong").into_response());
            }
            _ => ("github", false),
        },
        Forge::GitLab { event } => (
            "gitlab",
            matches!(event.as_str(), "Push Hook" | "Tag Push Hook"),
        ),
    };
    if !push {
        tracing::debug!(source, "webhook event ignored");
        return Ok((StatusCode::ACCEPTED, "ignored").into_response());
    }

    // serde would also take a JSON array for a struct: insist on an object.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(HookError::BadPayload);
    }
    let payload: PushPayload = serde_json::from_slice(&body).map_err(|_| HookError::BadPayload)?;
    let trigger = Trigger {
        source,
        git_ref: payload.git_ref,
        after: payload.after,
    };
    match state.trigger.try_send(trigger) {
        Ok(()) => tracing::info!(source, "webhook push accepted: reconcile triggered"),
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::info!(
                source,
                "webhook push accepted: a reconcile is already pending"
            );
        }
        Err(mpsc::error::TrySendError::Closed(_)) => return Err(HookError::DaemonGone),
    }
    Ok((StatusCode::ACCEPTED, "accepted").into_response())
}

/// A header value as text for matching; non-visible-ASCII values become "".
fn header_text(value: &HeaderValue) -> String {
    value
        .to_str()
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The decoded `X-Hub-Signature-256: sha256=<hex>` value; missing or
/// malformed → 401.
fn github_signature(headers: &HeaderMap) -> Result<Vec<u8>, HookError> {
    let value = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .ok_or(HookError::Unauthorized)?;
    let hex_digest = value
        .trim()
        .strip_prefix("sha256=")
        .ok_or(HookError::Unauthorized)?;
    hex::decode(hex_digest).map_err(|_| HookError::Unauthorized)
}

/// HMAC-SHA256(secret, body) == signature, in constant time.
fn github_signature_matches(secret: &[u8], body: &[u8], signature: &[u8]) -> bool {
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac.chain_update(body).verify_slice(signature).is_ok(),
        // HMAC takes keys of any length; refuse if that ever changes.
        Err(_) => false,
    }
}

/// `provided == secret` in constant time, whatever the lengths: both are
/// MACed under the secret and the tags compared with `verify_slice`.
pub(crate) fn token_matches(secret: &[u8], provided: &[u8]) -> bool {
    let Ok(mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    let expected = mac.clone().chain_update(secret).finalize().into_bytes();
    mac.chain_update(provided).verify_slice(&expected).is_ok()
}

/// Reads the whole body under [`WEBHOOK_BODY_LIMIT`] and
/// [`WEBHOOK_BODY_TIMEOUT`].
async fn read_body(request: Request) -> Result<Bytes, HookError> {
    match tokio::time::timeout(WEBHOOK_BODY_TIMEOUT, Bytes::from_request(request, &())).await {
        Err(_) => Err(HookError::BodyTimeout),
        Ok(Ok(body)) => Ok(body),
        Ok(Err(rejection)) => match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Err(HookError::TooLarge),
            status => Err(HookError::BodyUnreadable(status)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "It's a Secret to Everybody";

    /// The GitHub documentation's test vector for `X-Hub-Signature-256`.
    #[test]
    fn github_documented_signature() {
        let sig = hex::decode("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
            .unwrap_or_default();
        assert!(github_signature_matches(
            SECRET.as_bytes(),
            b"Hello, World!",
            &sig
        ));
        assert!(!github_signature_matches(
            SECRET.as_bytes(),
            b"Hello, World?",
            &sig
        ));
        assert!(!github_signature_matches(
            SECRET.as_bytes(),
            b"Hello, World!",
            &sig[..31]
        ));
        assert!(!github_signature_matches(
            SECRET.as_bytes(),
            b"Hello, World!",
            &[]
        ));
    }

    #[test]
    fn token_comparison() {
        assert!(token_matches(b"s3cret", b"s3cret"));
        assert!(!token_matches(b"s3cret", b"s3cre"));
        assert!(!token_matches(b"s3cret", b"s3cret "));
        assert!(!token_matches(b"s3cret", b""));
        assert!(!token_matches(b"s3cret", b"S3CRET"));
    }

    #[test]
    fn signature_header_parsing() {
        let mut headers = HeaderMap::new();
        assert!(github_signature(&headers).is_err());
        headers.insert("x-hub-signature-256", HeaderValue::from_static("sha1=00"));
        assert!(github_signature(&headers).is_err());
        headers.insert("x-hub-signature-256", HeaderValue::from_static("sha256=zz"));
        assert!(github_signature(&headers).is_err());
        headers.insert(
            "x-hub-signature-256",
            HeaderValue::from_static("sha256=0aFF"),
        );
        assert_eq!(github_signature(&headers).ok(), Some(vec![0x0a, 0xff]));
    }

    // ---- against a real listening server ----

    use std::net::SocketAddr;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    struct Server {
        base: String,
        state: AppState,
        triggers: mpsc::Receiver<Trigger>,
        stop: Option<oneshot::Sender<()>>,
        task: JoinHandle<std::io::Result<()>>,
        client: reqwest::Client,
    }

    impl Server {
        async fn start(secret: Option<&str>) -> Self {
            Self::start_with_capacity(secret, 8).await
        }

        async fn start_with_capacity(secret: Option<&str>, capacity: usize) -> Self {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr: SocketAddr = listener.local_addr().unwrap();
            let (tx, triggers) = mpsc::channel(capacity);
            let state = AppState {
                status: Arc::new(RwLock::new(serde_json::json!({"phase": "starting"}))),
                ready: Arc::new(AtomicBool::new(false)),
                metrics: Arc::new(Metrics::new()),
                webhook_secret: secret.map(|s| Arc::new(s.to_owned())),
                trigger: tx,
                gates: None,
                http: Default::default(),
            };
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(serve(listener, state.clone(), async move {
                let _ = stopped.await;
            }));
            Self {
                base: format!("http://{addr}"),
                state,
                triggers,
                stop: Some(stop),
                task,
                client: reqwest::Client::new(),
            }
        }

        fn url(&self, path: &str) -> String {
            format!("{}{path}", self.base)
        }

        async fn get(&self, path: &str) -> reqwest::Response {
            self.client.get(self.url(path)).send().await.unwrap()
        }

        async fn shutdown(mut self) {
            drop(self.client);
            if let Some(stop) = self.stop.take() {
                stop.send(()).unwrap();
            }
            let result = tokio::time::timeout(Duration::from_secs(10), self.task)
                .await
                .expect("graceful shutdown within 10 s")
                .unwrap();
            assert!(result.is_ok(), "{result:?}");
        }

        fn no_trigger(&mut self) {
            assert_eq!(
                self.triggers.try_recv().err(),
                Some(mpsc::error::TryRecvError::Empty)
            );
        }
    }

    fn github_sig(secret: &str, body: &[u8]) -> String {
        let mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .unwrap()
            .chain_update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    const PUSH: &str = r#"{"ref":"refs/heads/main","before":"0000","after":"4f2b9c1d","repository":{"full_name":"o/r"}}"#;

    fn github_post(
        server: &Server,
        event: &str,
        body: Vec<u8>,
        sig: Option<String>,
    ) -> reqwest::RequestBuilder {
        let mut req = server
            .client
            .post(server.url("/hooks/git"))
            .header("X-GitHub-Event", event)
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(sig) = sig {
            req = req.header("X-Hub-Signature-256", sig);
        }
        req
    }

    fn gitlab_post(
        server: &Server,
        event: &str,
        token: Option<&str>,
        body: &str,
    ) -> reqwest::RequestBuilder {
        let mut req = server
            .client
            .post(server.url("/hooks/git"))
            .header("X-Gitlab-Event", event)
            .body(body.to_owned());
        if let Some(token) = token {
            req = req.header("X-Gitlab-Token", token);
        }
        req
    }

    #[tokio::test]
    async fn read_only_routes() {
        let server = Server::start(None).await;

        let res = server.get("/healthz").await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), "ok");

        let res = server.get("/status").await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "application/json");
        let doc: serde_json::Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
        assert_eq!(doc, serde_json::json!({"phase": "starting"}));

        // The daemon replaces the document; the next GET sees the new one.
        *server.state.status.write().await = serde_json::json!({"phase": "blocked", "images": 2});
        let res = server.get("/status").await;
        let doc: serde_json::Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
        assert_eq!(doc, serde_json::json!({"phase": "blocked", "images": 2}));

        server.state.metrics.set_blocked_gates(1);
        let res = server.get("/metrics").await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], OPENMETRICS_CONTENT_TYPE);
        let text = res.text().await.unwrap();
        assert!(
            text.lines().any(|l| l == "sealgate_blocked_gates 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");

        let res = server.get("/nope").await;
        assert_eq!(res.status(), 404);
        let res = server
            .client
            .post(server.url("/status"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405);
        let res = server
            .client
            .delete(server.url("/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405);
        let res = server.get("/hooks/git").await;
        assert_eq!(res.status(), 405);

        server.shutdown().await;
    }

    #[tokio::test]
    async fn readyz_flips_after_first_reconcile() {
        let server = Server::start(None).await;
        let res = server.get("/readyz").await;
        assert_eq!(res.status(), 503);
        server.state.ready.store(true, Ordering::Release);
        let res = server.get("/readyz").await;
        assert_eq!(res.status(), 200);
        server.shutdown().await;
    }

    #[tokio::test]
    async fn webhook_disabled_without_secret() {
        let mut server = Server::start(None).await;
        let body = PUSH.as_bytes().to_vec();
        // Even a request signed with some key gets 404: there is no secret to check against.
        let sig = github_sig("", &body);
        let res = github_post(&server, "push", body, Some(sig))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
        let res = gitlab_post(&server, "Push Hook", Some(""), PUSH)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
        server.no_trigger();
        server.shutdown().await;
    }

    #[tokio::test]
    async fn github_push_with_good_signature_triggers() {
        let mut server = Server::start(Some("topsecret")).await;
        let body = PUSH.as_bytes().to_vec();
        let sig = github_sig("topsecret", &body);
        let res = github_post(&server, "push", body, Some(sig))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        let trigger = tokio::time::timeout(Duration::from_secs(5), server.triggers.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            trigger,
            Trigger {
                source: "github",
                git_ref: Some("refs/heads/main".into()),
                after: Some("4f2b9c1d".into()),
            }
        );

        // ref and after are optional.
        let body = b"{}".to_vec();
        let sig = github_sig("topsecret", &body);
        let res = github_post(&server, "push", body, Some(sig))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        assert_eq!(
            server.triggers.recv().await.unwrap(),
            Trigger {
                source: "github",
                git_ref: None,
                after: None
            }
        );
        server.shutdown().await;
    }

    #[tokio::test]
    async fn github_bad_or_missing_signature_is_401() {
        let mut server = Server::start(Some("topsecret")).await;
        let body = PUSH.as_bytes().to_vec();
        let cases = [
            None,
            Some(github_sig("wrong", &body)),
            Some(github_sig("topsecret", b"another body")),
            Some(github_sig("topsecret", &body).replace("sha256=", "sha1=")),
            Some("sha256=not-hex".to_owned()),
            Some("sha256=".to_owned()),
            Some(github_sig("topsecret", &body)[..40].to_owned()),
        ];
        for sig in cases {
            let res = github_post(&server, "push", body.clone(), sig.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 401, "{sig:?}");
        }
        // Ping and ignored events need a valid signature too.
        let res = github_post(&server, "ping", b"{}".to_vec(), None)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        let res = github_post(&server, "issues", b"{}".to_vec(), None)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        server.no_trigger();
        server.shutdown().await;
    }

    #[tokio::test]
    async fn github_ping_other_events_and_bad_json() {
        let mut server = Server::start(Some("topsecret")).await;

        let body = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#.to_vec();
        let sig = github_sig("topsecret", &body);
        let res = github_post(&server, "ping", body, Some(sig))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);

        let body = br#"{"action":"opened"}"#.to_vec();
        let sig = github_sig("topsecret", &body);
        let res = github_post(&server, "pull_request", body, Some(sig))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        assert_eq!(res.text().await.unwrap(), "ignored");

        for body in [
            &b"not json"[..],
            b"",
            b"{\"ref\": 42}",
            b"[1,2",
            b"[\"refs/heads/main\", \"abc\"]",
            b"null",
        ] {
            let sig = github_sig("topsecret", body);
            let res = github_post(&server, "push", body.to_vec(), Some(sig))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 400, "{:?}", String::from_utf8_lossy(body));
        }
        server.no_trigger();
        server.shutdown().await;
    }

    #[tokio::test]
    async fn gitlab_token() {
        let mut server = Server::start(Some("glsecret")).await;

        let res = gitlab_post(&server, "Push Hook", Some("glsecret"), PUSH)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        assert_eq!(
            server.triggers.recv().await.unwrap(),
            Trigger {
                source: "gitlab",
                git_ref: Some("refs/heads/main".into()),
                after: Some("4f2b9c1d".into()),
            }
        );
        let tag = r#"{"ref":"refs/tags/v1.2.0","after":"abc"}"#;
        let res = gitlab_post(&server, "Tag Push Hook", Some("glsecret"), tag)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        assert_eq!(
            server.triggers.recv().await.unwrap().git_ref.as_deref(),
            Some("refs/tags/v1.2.0")
        );

        for token in [
            None,
            Some("wrong"),
            Some("glsecre"),
            Some("glsecret2"),
            Some(""),
        ] {
            let res = gitlab_post(&server, "Push Hook", token, PUSH)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 401, "{token:?}");
        }
        let res = gitlab_post(&server, "Merge Request Hook", Some("wrong"), "{}")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        let res = gitlab_post(&server, "Merge Request Hook", Some("glsecret"), "{}")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        assert_eq!(res.text().await.unwrap(), "ignored");
        let res = gitlab_post(&server, "Push Hook", Some("glsecret"), "nope")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        server.no_trigger();
        server.shutdown().await;
    }

    #[tokio::test]
    async fn webhook_without_forge_header_is_400() {
        let mut server = Server::start(Some("s")).await;
        let res = server
            .client
            .post(server.url("/hooks/git"))
            .header("X-Hub-Signature-256", github_sig("s", PUSH.as_bytes()))
            .header("X-Gitlab-Token", "s")
            .body(PUSH)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        server.no_trigger();
        server.shutdown().await;
    }

    #[tokio::test]
    async fn webhook_body_limit() {
        let mut server = Server::start(Some("big")).await;
        // Exactly at the limit: read and verified (then not JSON → 400).
        let body = vec![b' '; WEBHOOK_BODY_LIMIT];
        let sig = github_sig("big", &body);
        let res = github_post(&server, "push", body, Some(sig))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        // One byte over: 413.
        let body = vec![b' '; WEBHOOK_BODY_LIMIT + 1];
        let sig = github_sig("big", &body);
        let res = github_post(&server, "push", body, Some(sig))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 413);
        server.no_trigger();
        server.shutdown().await;
    }

    #[tokio::test]
    async fn full_channel_still_accepts_and_closed_channel_is_503() {
        let mut server = Server::start_with_capacity(Some("s"), 1).await;
        let body = PUSH.as_bytes().to_vec();
        for _ in 0..3 {
            let sig = github_sig("s", &body);
            let res = github_post(&server, "push", body.clone(), Some(sig))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 202);
        }
        // One trigger queued, the others coalesced into it.
        assert!(server.triggers.try_recv().is_ok());
        server.no_trigger();

        server.triggers.close();
        let sig = github_sig("s", &body);
        let res = github_post(&server, "push", body, Some(sig))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 503);
        server.shutdown().await;
    }

    #[tokio::test]
    async fn graceful_shutdown_finishes_in_flight_requests() {
        let mut server = Server::start(None).await;
        // Hold the status lock so that GET /status stays in flight.
        let guard = server.state.status.write().await;
        let client = server.client.clone();
        let url = server.url("/status");
        let in_flight = tokio::spawn(async move { client.get(url).send().await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        server.stop.take().unwrap().send(()).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !server.task.is_finished(),
            "serve waits for the in-flight request"
        );
        drop(guard);
        let res = in_flight.await.unwrap().unwrap();
        assert_eq!(res.status(), 200);
        drop(res);
        server.shutdown().await;
    }

    #[test]
    fn debug_redacts_the_secret() {
        let (tx, _rx) = mpsc::channel(1);
        let state = AppState {
            status: Arc::default(),
            ready: Arc::default(),
            metrics: Arc::default(),
            webhook_secret: Some(Arc::new("hunter2".to_owned())),
            trigger: tx,
            gates: None,
            http: Default::default(),
        };
        let text = format!("{state:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }
}
