//! The release manager's page: `GET /` (every gate at a glance) and `GET /gates/<name>`
//! (one gate: the revision under review, each image's verdict, findings, the approve
//! command, the timeline and the promotion history), served by `sealgate run` and
//! `sealgate controller` on the listener of `/status` (docs/page.md).
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /` | the overview (`text/html`) |
//! | `GET /gates/<name>` | a gate's page; 404 page for an unknown gate |
//! | `GET /assets/sealgate.css`, `/assets/sealgate.js` | the page's stylesheet and its one script |
//!
//! Server-rendered ([`render`], maud: every value HTML-escaped) from a pure view model
//! ([`model`]); works without JavaScript. Every answer carries
//! `Content-Security-Policy: default-src 'self'; …`, `X-Content-Type-Options: nosniff`,
//! `Referrer-Policy: no-referrer`, `Cache-Control: no-store`. Links honour a path prefix:
//! `--http-path-prefix` (then the routes also answer below it) or, without it, a valid
//! `X-Forwarded-Prefix` of the request. [`protect`] puts the page and `/status` behind a
//! bearer / basic token (`--http-auth-token-file`).

pub mod model;
pub mod render;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;

pub use model::GateView;

/// Gives the page the gates as they are now.
pub type Gates = Arc<dyn Fn() -> Vec<GateView> + Send + Sync>;

/// The page's `Content-Security-Policy`: nothing from another origin, no inline script or
/// style, no framing, no forms.
pub const CSP: &str =
    "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Longest path prefix accepted.
pub const MAX_PREFIX: usize = 200;

/// How the page is served.
#[derive(Clone, Default)]
pub struct Settings {
    /// `--http-path-prefix` (validated by [`valid_prefix`]): links start with it and the
    /// routes also answer below it. `None`: `X-Forwarded-Prefix` decides per request.
    pub prefix: Option<String>,
    /// `--http-auth-token-file`'s token: the page and `/status` need it.
    pub token: Option<Arc<String>>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("prefix", &self.prefix)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A path prefix the page accepts: empty, or `/seg/seg` of RFC 3986 unreserved
/// characters, no empty, `.` or `..` segment (so `//host` can never become a link to
/// another site), at most [`MAX_PREFIX`] bytes. A trailing `/` is dropped.
pub fn valid_prefix(p: &str) -> Option<String> {
    let p = p.trim_end_matches('/');
    if p.is_empty() {
        return Some(String::new());
    }
    if p.len() > MAX_PREFIX || !p.starts_with('/') {
        return None;
    }
    let ok = p[1..].split('/').all(|seg| {
        !seg.is_empty()
            && seg != "."
            && seg != ".."
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    });
    ok.then(|| p.to_owned())
}

/// Reads `--http-auth-token-file` (bounded, regular file, trimmed; empty refused).
///
/// # Errors
/// A message naming the file.
pub fn read_token(path: &std::path::Path) -> Result<Arc<String>, String> {
    let text = crate::base::files::read_regular_string(path, crate::base::files::MAX_SMALL_FILE)
        .map_err(|e| format!("--http-auth-token-file {}: {e}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!(
            "--http-auth-token-file {}: the file is empty",
            path.display()
        ));
    }
    Ok(Arc::new(token.to_owned()))
}

#[derive(Clone)]
struct PageState {
    gates: Gates,
    prefix: Option<String>,
}

/// The page's routes over `gates` (see the module documentation), at the root; [`mount`]
/// adds the prefix, the headers and the token.
pub fn routes(gates: Gates, settings: &Settings) -> Router {
    let state = PageState {
        gates,
        prefix: settings.prefix.clone(),
    };
    Router::new()
        .route("/", get(overview))
        .route("/gates/{*name}", get(gate))
        .route("/assets/sealgate.css", get(css))
        .route("/assets/sealgate.js", get(js))
        .with_state(state)
}

/// `routes` (the page and `/status`) as served: at the root and, with a configured
/// prefix, below it too; the security headers on every answer; behind the token when one
/// is set.
pub fn mount(routes: Router, settings: &Settings) -> Router {
    let mounted = match settings.prefix.as_deref() {
        Some(p) if !p.is_empty() => Router::new()
            .merge(routes.clone())
            .nest(p, routes)
            .route(&format!("{p}/"), get(redirect_to_prefix)),
        _ => routes,
    }
    .layer(axum::middleware::from_fn(headers));
    protect(mounted, settings.token.clone())
}

async fn redirect_to_prefix(req: Request) -> Response {
    // `/prefix/` → the overview below the prefix
    let target = req.uri().path().trim_end_matches('/').to_owned();
    let mut r = StatusCode::OK.into_response();
    if let Ok(v) = HeaderValue::from_str(&target) {
        *r.status_mut() = StatusCode::FOUND;
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Puts `router` behind the token (none: unchanged). Bearer (`Authorization: Bearer T`)
/// or basic (any user, password `T`; browsers ask for it on the 401), compared in constant
/// time; the token is never logged or echoed.
pub fn protect(router: Router, token: Option<Arc<String>>) -> Router {
    match token {
        None => router,
        Some(token) => router.layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let token = token.clone();
                async move {
                    if authorized(req.headers(), &token) {
                        next.run(req).await
                    } else {
                        let mut r =
                            (StatusCode::UNAUTHORIZED, "authentication required\n").into_response();
                        r.headers_mut().insert(
                            header::WWW_AUTHENTICATE,
                            HeaderValue::from_static("Basic realm=\"sealgate\", charset=\"UTF-8\""),
                        );
                        r
                    }
                }
            },
        )),
    }
}

/// Whether the request carries the token (bearer, or as the basic password).
pub fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let provided: Vec<u8> = if scheme.eq_ignore_ascii_case("bearer") {
        rest.trim().as_bytes().to_vec()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest.trim()) else {
            return false;
        };
        match decoded.iter().position(|b| *b == b':') {
            Some(i) => decoded[i + 1..].to_vec(),
            None => return false,
        }
    } else {
        return false;
    };
    crate::serve::http::token_matches(token.as_bytes(), &provided)
}

async fn headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The prefix links start with: the configured one, else a valid `X-Forwarded-Prefix`.
fn prefix_of(state: &PageState, headers: &HeaderMap) -> String {
    if let Some(p) = &state.prefix {
        return p.clone();
    }
    headers
        .get("x-forwarded-prefix")
        .and_then(|v| v.to_str().ok())
        .and_then(valid_prefix)
        .unwrap_or_default()
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn now() -> (i64, String) {
    let now = crate::base::time::now();
    (now, crate::base::time::format_rfc3339(now))
}

async fn overview(State(state): State<PageState>, headers: HeaderMap) -> Response {
    let prefix = prefix_of(&state, &headers);
    let (now, stamp) = now();
    let gates = (state.gates)();
    html(
        StatusCode::OK,
        render::overview(&model::overview(&gates, now), &prefix, &stamp),
    )
}

async fn gate(
    State(state): State<PageState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let prefix = prefix_of(&state, &headers);
    let (now, stamp) = now();
    let name = name.trim_end_matches('/');
    match (state.gates)().into_iter().find(|g| g.name == name) {
        Some(g) => html(
            StatusCode::OK,
            render::gate(&model::page(&g, now), &prefix, &stamp),
        ),
        None => html(
            StatusCode::NOT_FOUND,
            render::not_found(&prefix, &model::short(Some(name)), &stamp),
        ),
    }
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        render::CSS,
    )
        .into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        render::JS,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_validated() {
        assert_eq!(valid_prefix("/sealgate/"), Some("/sealgate".into()));
        assert_eq!(valid_prefix(""), Some(String::new()));
        assert_eq!(valid_prefix("/a/b-c_d.e~f"), Some("/a/b-c_d.e~f".into()));
        for bad in [
            "//evil.example",
            "/a//b",
            "/a/../b",
            "/a/./b",
            "x",
            "/a b",
            "/a\"b",
            "/<script>",
            "https://x",
        ] {
            assert_eq!(valid_prefix(bad), None, "{bad}");
        }
        assert_eq!(valid_prefix(&format!("/{}", "a".repeat(MAX_PREFIX))), None);
    }

    #[test]
    fn tokens_are_bearer_or_basic_passwords() {
        let mut h = HeaderMap::new();
        assert!(!authorized(&h, "s3cret"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret"),
        );
        assert!(authorized(&h, "s3cret"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cre"),
        );
        assert!(!authorized(&h, "s3cret"));
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("anyone:s3cret")
        );
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&basic).unwrap_or_else(|_| unreachable!()),
        );
        assert!(authorized(&h, "s3cret"));
        let wrong = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("s3cret:nope")
        );
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&wrong).unwrap_or_else(|_| unreachable!()),
        );
        assert!(!authorized(&h, "s3cret"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Digest s3cret"),
        );
        assert!(!authorized(&h, "s3cret"));
    }
}
