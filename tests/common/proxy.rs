//! A tiny HTTP/1.1 proxy in front of the real registry, for what the registry itself never
//! does: rate limiting (429 + Retry-After), oversize or malformed bodies, 5xx, and a
//! bearer-token challenge with a token endpoint. Everything else is forwarded to the
//! real registry unchanged. Loopback only; one thread per connection; `Connection: close`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;

/// A canned answer for requests whose path contains `path_contains`, `times` times.
#[derive(Clone, Debug)]
pub struct Rule {
    pub path_contains: String,
    pub times: usize,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Rule {
    pub fn new(path_contains: &str, times: usize, status: u16) -> Self {
        Self {
            path_contains: path_contains.into(),
            times,
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn body(mut self, b: Vec<u8>) -> Self {
        self.body = b;
        self
    }
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    log: Vec<String>,
    /// (username, password, token) when the proxy demands bearer tokens.
    bearer: Option<(String, String, String)>,
    tokens_issued: usize,
    /// Answer `GET /v2/` with 200 even in bearer mode (registries that protect only repositories).
    open_ping: bool,
}

pub struct Proxy {
    pub addr: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(backend: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp, be, me) = (
            state.clone(),
            stop.clone(),
            backend.to_string(),
            addr.clone(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (st, be, me) = (st.clone(), be.clone(), me.clone());
                std::thread::spawn(move || {
                    let _ = handle(conn, &st, &be, &me);
                });
            }
        });
        Self { addr, state, stop }
    }

    pub fn rule(&self, r: Rule) {
        self.state.lock().unwrap().rules.push(r);
    }

    /// Demand `Authorization: Bearer` for registry calls, issuing tokens at `/token` for
    /// these basic credentials.
    pub fn require_bearer(&self, user: &str, password: &str) {
        self.state.lock().unwrap().bearer = Some((user.into(), password.into(), "tok-3f9a".into()));
    }

    /// Like [`Proxy::require_bearer`], but `/v2/` answers 200 anonymously.
    pub fn require_bearer_open_ping(&self, user: &str, password: &str) {
        self.require_bearer(user, password);
        self.state.lock().unwrap().open_ping = true;
    }

    /// "METHOD /path" of every request received.
    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn count(&self, needle: &str) -> usize {
        self.log().iter().filter(|l| l.contains(needle)).count()
    }

    pub fn tokens_issued(&self) -> usize {
        self.state.lock().unwrap().tokens_issued
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

fn respond(
    conn: &mut TcpStream,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    conn.write_all(body)?;
    conn.flush()
}

fn handle(
    mut conn: TcpStream,
    state: &Mutex<State>,
    backend: &str,
    me: &str,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut chunk)?;
        if n == 0 || buf.len() > 64 * 1024 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let auth = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.clone());

    let canned = {
        let mut st = state.lock().unwrap();
        st.log.push(format!("{method} {path}"));
        if let Some((user, pass, token)) = st.bearer.clone() {
            if path.starts_with("/token") {
                let want = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
                );
                let (status, body) = if auth.as_deref() == Some(want.as_str()) {
                    st.tokens_issued += 1;
                    (200, format!(r#"{{"token":"{token}","expires_in":300}}"#))
                } else {
                    (401, r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.to_string())
                };
                Some((status, vec![], body.into_bytes(), Duration::ZERO))
            } else if st.open_ping && path == "/v2/" {
                None
            } else if auth.as_deref() != Some(format!("Bearer {token}").as_str()) {
                Some((
                    401,
                    vec![(
                        "WWW-Authenticate".to_string(),
                        format!(r#"Bearer realm="http://{me}/token",service="sealgate-test""#),
                    )],
                    br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.to_vec(),
                    Duration::ZERO,
                ))
            } else {
                None
            }
        } else {
            None
        }
        .or_else(|| {
            st.rules
                .iter_mut()
                .find(|r| r.times > 0 && path.contains(&r.path_contains))
                .map(|r| {
                    r.times = r.times.saturating_sub(1);
                    (r.status, r.headers.clone(), r.body.clone(), r.delay)
                })
        })
    };
    if let Some((status, headers, body, delay)) = canned {
        std::thread::sleep(delay);
        return respond(&mut conn, status, &headers, &body);
    }
    // forward, with the request body (Content-Length bodies only)
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(buf.len(), |p| p + 4);
    let mut body = buf.get(head_end..).unwrap_or_default().to_vec();
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    while body.len() < length {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let mut up = TcpStream::connect(backend)?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {backend}\r\nConnection: close\r\n");
    for (k, v) in &headers {
        if !["host", "connection", "authorization"].contains(&k.to_ascii_lowercase().as_str()) {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    req.push_str("\r\n");
    up.write_all(req.as_bytes())?;
    up.write_all(&body)?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp)?;
    conn.write_all(&resp)?;
    conn.flush()
}
