//! A scripted Kubernetes API server for controller tests (controller-rs's
//! `ApiServerVerifier`): a [`kube::Client`] over `tower_test::mock::pair`, and a verifier
//! task that answers each request from a list of [`Expect`]ations in order, checking the
//! method, path, query parameters, content type, impersonated user and JSON body of every
//! call. A call that does not match, a call beyond the script and an expected call that
//! never comes all fail the test, with the whole transcript.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::fmt::Write as _;
use std::future::Future;
use std::time::Duration;

use http::{Method, Request, Response};
use kube::client::Body;
use serde_json::{Value, json};

pub type Req = Request<Body>;
pub type Resp = Response<Body>;
pub type Mock = tower_test::mock::Mock<Req, Resp>;
pub type Handle = tower_test::mock::Handle<Req, Resp>;

/// How long the verifier waits for the next expected call.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a whole scripted run may take.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the verifier keeps listening after the code under test returned, so that a
/// late extra call still fails the test.
pub const QUIET: Duration = Duration::from_millis(150);

/// The header a client acting as another user sends.
pub const IMPERSONATE: &str = "Impersonate-User";

/// Which paths an expectation accepts.
#[derive(Debug, Clone)]
pub enum PathMatch {
    Exact(String),
    /// Any path under this prefix (names the server generates, e.g. Events).
    Prefix(String),
}

impl PathMatch {
    fn matches(&self, path: &str) -> bool {
        match self {
            Self::Exact(p) => p == path,
            Self::Prefix(p) => path.starts_with(p.as_str()),
        }
    }
}

impl std::fmt::Display for PathMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact(p) => f.write_str(p),
            Self::Prefix(p) => write!(f, "{p}*"),
        }
    }
}

type Check = Box<dyn Fn(&Value) + Send + Sync>;
type Reply = Box<dyn Fn(&Value) -> (u16, Value) + Send + Sync>;

/// One expected API call and the answer to it.
pub struct Expect {
    pub method: Method,
    pub path: PathMatch,
    /// The exact set of query parameters (order does not matter).
    pub query: Vec<(String, String)>,
    pub content_type: Option<String>,
    /// `Impersonate-User`; `None`: the header must be absent.
    pub user: Option<String>,
    checks: Vec<(String, Check)>,
    reply: Reply,
}

impl Expect {
    /// `method path`, no query, not impersonated, answered by echoing the request body.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: PathMatch::Exact(path.into()),
            query: Vec::new(),
            content_type: None,
            user: None,
            checks: Vec::new(),
            reply: Box::new(|body| (200, body.clone())),
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::POST, path).content_type("application/json")
    }

    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::DELETE, path).content_type("application/json")
    }

    pub fn patch_merge(path: impl Into<String>) -> Self {
        Self::new(Method::PATCH, path).content_type("application/merge-patch+json")
    }

    pub fn patch_json(path: impl Into<String>) -> Self {
        Self::new(Method::PATCH, path).content_type("application/json-patch+json")
    }

    /// A server-side apply PATCH with this field manager.
    pub fn apply(path: impl Into<String>, field_manager: &str) -> Self {
        Self::new(Method::PATCH, path)
            .content_type("application/apply-patch+yaml")
            .query(&[("fieldManager", field_manager)])
    }

    /// Accept any path under `prefix` instead.
    pub fn under(mut self, prefix: impl Into<String>) -> Self {
        self.path = PathMatch::Prefix(prefix.into());
        self
    }

    /// Adds query parameters to the exact set expected.
    pub fn query(mut self, pairs: &[(&str, &str)]) -> Self {
        self.query.extend(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        self
    }

    pub fn content_type(mut self, ct: &str) -> Self {
        self.content_type = Some(ct.to_owned());
        self
    }

    /// The call must carry `Impersonate-User: user`.
    pub fn acting_as(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// A check of the JSON body (assert inside; a panic fails the test with its message).
    pub fn check(mut self, what: &str, f: impl Fn(&Value) + Send + Sync + 'static) -> Self {
        self.checks.push((what.to_owned(), Box::new(f)));
        self
    }

    /// Answers with `status` and `body`.
    pub fn reply(mut self, status: u16, body: Value) -> Self {
        self.reply = Box::new(move |_| (status, body.clone()));
        self
    }

    /// Answers with what `f` makes of the request body.
    pub fn reply_with(
        mut self,
        f: impl Fn(&Value) -> (u16, Value) + Send + Sync + 'static,
    ) -> Self {
        self.reply = Box::new(f);
        self
    }

    /// Answers with a `Status` failure (`reason` as Kubernetes spells it, e.g. `Conflict`).
    pub fn fail(self, code: u16, reason: &str, message: &str) -> Self {
        self.reply(code, status_failure(code, reason, message))
    }

    fn describe(&self) -> String {
        let mut s = format!("{} {}", self.method, self.path);
        if !self.query.is_empty() {
            let mut q = self.query.clone();
            q.sort();
            let q: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
            write!(s, "?{}", q.join("&")).unwrap();
        }
        if let Some(u) = &self.user {
            write!(s, " (as {u})").unwrap();
        }
        for (what, _) in &self.checks {
            write!(s, " [{what}]").unwrap();
        }
        s
    }

    /// Why `call` does not match, if it does not (the body checks are run separately).
    fn mismatch(&self, call: &Call) -> Option<String> {
        let mut why = Vec::new();
        if call.method != self.method {
            why.push(format!("method {} ≠ {}", call.method, self.method));
        }
        if !self.path.matches(&call.path) {
            why.push(format!("path {} ≠ {}", call.path, self.path));
        }
        let mut want = self.query.clone();
        want.sort();
        if call.query != want {
            why.push(format!("query {:?} ≠ {want:?}", call.query));
        }
        if let Some(ct) = &self.content_type
            && call.content_type.as_deref() != Some(ct.as_str())
        {
            why.push(format!("content-type {:?} ≠ {ct}", call.content_type));
        }
        if call.user != self.user {
            why.push(format!("{IMPERSONATE} {:?} ≠ {:?}", call.user, self.user));
        }
        (!why.is_empty()).then(|| why.join("; "))
    }
}

/// A Kubernetes `Status` failure body.
pub fn status_failure(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code,
    })
}

/// A Kubernetes `Status` success body (what a DELETE may answer).
pub fn status_success() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 200})
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub uri: String,
    pub path: String,
    /// Sorted query parameters.
    pub query: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub user: Option<String>,
    /// The JSON body (`Null` when empty).
    pub body: Value,
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.uri)?;
        if let Some(u) = &self.user {
            write!(f, " (as {u})")?;
        }
        if !self.body.is_null() {
            let body = self.body.to_string();
            let cut: String = body.chars().take(1500).collect();
            write!(
                f,
                "\n      body: {cut}{}",
                if cut.len() < body.len() { "…" } else { "" }
            )?;
        }
        Ok(())
    }
}

impl Call {
    /// Whether this call matches (method, path).
    pub fn is(&self, method: &Method, path: &str) -> bool {
        self.method == method && self.path == path
    }
}

async fn read(req: Req) -> Call {
    let (parts, body) = req.into_parts();
    let bytes = body.collect_bytes().await.expect("request body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    let mut query: Vec<(String, String)> = parts
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (p.to_owned(), String::new()),
        })
        .collect();
    query.sort();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("<not UTF-8>").to_owned())
    };
    Call {
        method: parts.method.clone(),
        uri: parts.uri.to_string(),
        path: parts.uri.path().to_owned(),
        query,
        content_type: header("content-type"),
        user: header(IMPERSONATE),
        body,
    }
}

fn respond(send: tower_test::mock::SendResponse<Resp>, status: u16, body: &Value) {
    let resp = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap();
    send.send_response(resp);
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "<panic>".into())
}

struct Outcome {
    handle: Handle,
    calls: Vec<Call>,
    failures: Vec<String>,
}

async fn serve(
    mut handle: Handle,
    script: Vec<Expect>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Outcome {
    let total = script.len();
    let mut script = script.into_iter().enumerate().peekable();
    let mut calls = Vec::new();
    let mut failures = Vec::new();
    loop {
        let next = tokio::select! {
            r = tokio::time::timeout(CALL_TIMEOUT, handle.next_request()) => r,
            _ = &mut stop => {
                for (i, e) in script.by_ref() {
                    failures.push(format!("expected call #{} of {total} never came: {}", i + 1, e.describe()));
                }
                break;
            }
        };
        let (req, send) = match next {
            Ok(Some(r)) => r,
            Ok(None) => {
                failures.push("the client was dropped".into());
                break;
            }
            Err(_) => {
                if let Some((i, e)) = script.peek() {
                    failures.push(format!(
                        "no call within {CALL_TIMEOUT:?}; expected call #{} of {total}: {}",
                        i + 1,
                        e.describe()
                    ));
                    break;
                }
                continue;
            }
        };
        let call = read(req).await;
        let n = calls.len() + 1;
        match script.peek() {
            None => {
                failures.push(format!("request {n} is beyond the script: {call}"));
                respond(
                    send,
                    500,
                    &status_failure(500, "InternalError", "unexpected request (test script)"),
                );
            }
            Some((i, e)) => {
                if let Some(why) = e.mismatch(&call) {
                    failures.push(format!(
                        "request {n} does not match expected call #{} ({}): {why}\n      got: {call}",
                        i + 1,
                        e.describe()
                    ));
                    respond(
                        send,
                        500,
                        &status_failure(500, "InternalError", "unexpected request (test script)"),
                    );
                } else {
                    for (what, check) in &e.checks {
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            check(&call.body);
                        }));
                        if let Err(p) = r {
                            failures.push(format!(
                                "request {n} (expected call #{}, {}): check `{what}` failed: {}\n      got: {call}",
                                i + 1,
                                e.describe(),
                                panic_text(p.as_ref())
                            ));
                        }
                    }
                    let (status, body) = (e.reply)(&call.body);
                    respond(send, status, &body);
                    script.next();
                }
            }
        }
        calls.push(call);
    }
    Outcome {
        handle,
        calls,
        failures,
    }
}

/// A verifier running a script; see [`MockApi::expect`] and [`MockApi::done`].
pub struct Scenario {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Outcome>,
    script: Vec<String>,
}

/// The mocked API server: clients over it and the handle its verifier answers with.
pub struct MockApi {
    mock: Mock,
    handle: Option<Handle>,
}

impl Default for MockApi {
    fn default() -> Self {
        Self::new()
    }
}

impl MockApi {
    pub fn new() -> Self {
        let (mock, handle) = tower_test::mock::pair::<Req, Resp>();
        Self {
            mock,
            handle: Some(handle),
        }
    }

    /// A client (default namespace `default`).
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.mock.clone(), "default")
    }

    /// Clients acting as a user: the same server, with `Impersonate-User`.
    pub fn impersonate(&self) -> sealgate::controller::Impersonate {
        let mock = self.mock.clone();
        Box::new(move |user: &str| {
            let value = http::HeaderValue::from_str(user).expect("user name as a header");
            let svc = tower::ServiceBuilder::new()
                .map_request(move |mut r: Req| {
                    r.headers_mut().insert(IMPERSONATE, value.clone());
                    r
                })
                .service(mock.clone());
            Ok(kube::Client::new(svc, "default"))
        })
    }

    /// Starts answering `script` in order.
    pub fn expect(&mut self, script: Vec<Expect>) -> Scenario {
        let handle = self
            .handle
            .take()
            .expect("a scenario is already running (call done first)");
        let text = script.iter().map(Expect::describe).collect();
        let (stop, rx) = tokio::sync::oneshot::channel();
        Scenario {
            stop,
            task: tokio::spawn(serve(handle, script, rx)),
            script: text,
        }
    }

    /// Ends a scenario: waits [`QUIET`] for late calls, then fails the test (with the
    /// transcript) if a call did not match, came beyond the script, or never came.
    /// Returns every call received.
    pub async fn done(&mut self, scenario: Scenario) -> Vec<Call> {
        tokio::time::sleep(QUIET).await;
        let _ = scenario.stop.send(());
        let out = scenario.task.await.expect("the verifier task");
        self.handle = Some(out.handle);
        if !out.failures.is_empty() {
            panic!(
                "API calls did not go as scripted:\n  {}\n{}",
                out.failures.join("\n  "),
                transcript(&scenario.script, &out.calls)
            );
        }
        out.calls
    }

    /// Runs `fut` against `script` (with [`RUN_TIMEOUT`]); its output and the calls.
    pub async fn run<T>(
        &mut self,
        script: Vec<Expect>,
        fut: impl Future<Output = T>,
    ) -> (T, Vec<Call>) {
        let scenario = self.expect(script);
        let script_text = scenario.script.clone();
        let out = tokio::time::timeout(RUN_TIMEOUT, fut).await;
        let calls = self.done(scenario).await;
        match out {
            Ok(v) => (v, calls),
            Err(_) => panic!(
                "did not finish within {RUN_TIMEOUT:?}\n{}",
                transcript(&script_text, &calls)
            ),
        }
    }
}

fn transcript(script: &[String], calls: &[Call]) -> String {
    let mut s = String::from("script:\n");
    for (i, e) in script.iter().enumerate() {
        writeln!(s, "  #{} {e}", i + 1).unwrap();
    }
    s.push_str("received:\n");
    if calls.is_empty() {
        s.push_str("  (nothing)\n");
    }
    for (i, c) in calls.iter().enumerate() {
        writeln!(s, "  {} {c}", i + 1).unwrap();
    }
    s
}
