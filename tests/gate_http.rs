//! The standalone gate (`sealgate run`) against a token-protected smart-HTTP Git server:
//! a small Python server (written by the test) that demands HTTP Basic auth on every
//! request and bridges authorized ones to the real `git http-backend` CGI, a real
//! `docker-registry`, images signed with `sealgate sign`. The gate fetches and promotes
//! (pushes) over HTTP with `source.auth` and never prints or logs the token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::gate::{self, DEPLOY, condition, stalled};
use common::git::{GitServer, git};
use common::*;

const USER: &str = "gate-bot";

/// The smart-HTTP server. argv: project root, user, port file, request log; the token
/// comes in `$GIT_HTTP_TOKEN` (not on argv, visible in `ps`) and is never written out.
const SERVER_PY: &str = r#"
import base64, hmac, os, subprocess, sys, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

root, user, port_file, log_file = sys.argv[1:5]
token = os.environ.pop("GIT_HTTP_TOKEN")
expected = ("Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()).encode()
del token


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self, status):
        # method, path, status: never a header
        with open(log_file, "a") as f:
            f.write(f"{self.command} {self.path} {status}\n")

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def reply(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.record(status)

    def serve(self):
        body = self.read_body()
        auth = (self.headers.get("Authorization") or "").encode()
        if not hmac.compare_digest(auth, expected):
            self.reply(401, [("WWW-Authenticate", 'Basic realm="git"'),
                             ("Content-Type", "text/plain")], b"authentication required\n")
            return
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": root,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_PROJECT_ROOT": root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "PATH_INFO": urllib.parse.unquote(path),
            "REQUEST_METHOD": self.command,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": user,
            "REMOTE_ADDR": self.client_address[0],
        }
        for h in ("Git-Protocol", "Content-Encoding"):
            if self.headers.get(h):
                env["HTTP_" + h.upper().replace("-", "_")] = self.headers[h]
        p = subprocess.run(["git", "http-backend"], input=body, capture_output=True, env=env)
        out = p.stdout
        ends = [i for i in (out.find(b"\r\n\r\n"), out.find(b"\n\n")) if i >= 0]
        if not ends:
            sys.stderr.write(p.stderr.decode(errors="replace"))
            self.reply(500, [("Content-Type", "text/plain")], b"bad CGI output\n")
            return
        end = min(ends)
        head = out[:end].decode("latin-1")
        rest = out[end:]
        rest = rest[4:] if rest.startswith(b"\r\n\r\n") else rest[2:]
        status, headers = 200, []
        for line in head.replace("\r\n", "\n").split("\n"):
            if not line.strip():
                continue
            k, _, v = line.partition(":")
            if k.strip().lower() == "status":
                status = int(v.strip().split()[0])
            elif k.strip().lower() != "content-length":
                headers.append((k.strip(), v.strip()))
        self.reply(status, headers, rest)

    do_GET = serve
    do_POST = serve


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
"#;

/// The Python smart-HTTP server in front of a [`GitServer`]'s bare repository; killed on drop.
struct HttpGit {
    child: Child,
    url: String,
    log: PathBuf,
    err: PathBuf,
}

impl HttpGit {
    fn start(origin: &GitServer, dir: &Path, token: &str) -> Self {
        git(&origin.bare, &["config", "http.receivepack", "true"]);
        let script = dir.join("git_http_server.py");
        std::fs::write(&script, SERVER_PY).unwrap();
        let port_file = dir.join("git_http.port");
        let log = dir.join("git_http.log");
        let err = dir.join("git_http.err");
        let child = Command::new("python3")
            .arg(&script)
            .arg(origin.dir.path())
            .arg(USER)
            .arg(&port_file)
            .arg(&log)
            .env("GIT_HTTP_TOKEN", token)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("python3 (the smart-HTTP Git server)");
        let mut server = Self {
            child,
            url: String::new(),
            log,
            err,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&port_file)
                && let Ok(p) = p.trim().parse::<u16>()
            {
                break p;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "the HTTP Git server exited ({status}):\n{}",
                    std::fs::read_to_string(&server.err).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the HTTP Git server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        server.url = format!("http://127.0.0.1:{port}/origin.git");
        server
    }

    /// Request-log lines: `METHOD PATH STATUS`.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn count(&self, method: &str, path: &str, status: u16) -> usize {
        self.log()
            .lines()
            .filter(|l| {
                let mut it = l.split(' ');
                it.next() == Some(method)
                    && it.next().is_some_and(|p| p.starts_with(path))
                    && it.next() == Some(status.to_string().as_str())
            })
            .count()
    }
}

impl Drop for HttpGit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A distinctive random secret.
fn secret(prefix: &str) -> String {
    format!("{prefix}{}", hex::encode(rand_bytes::<16>()))
}

/// The shared gate world on a `file://` origin with one passing commit, served by
/// [`HttpGit`]; every `sealgate` run is kept to check that the token never leaked.
struct World {
    gate: gate::World,
    http: HttpGit,
    token: String,
    runs: Vec<Run>,
}

impl World {
    /// `auth` is the YAML of `source.auth` (indented under `source:`), or "".
    async fn new(auth: &str) -> Self {
        let mut gate = gate::World::builder()
            .file_origin()
            .source("  interval: 1m\n  timeout: 30s\n")
            .source(auth)
            .extra("listen: 127.0.0.1:0\n")
            .start()
            .await;
        gate.git
            .commit(&[("deploy/web.yaml", &gate.app(&gate.signed))], "web v1");
        let token = secret("sgtok-");
        let http = HttpGit::start(&gate.git, gate.dir.path(), &token);
        gate.set_url(&http.url);
        Self {
            gate,
            http,
            token,
            runs: Vec::new(),
        }
    }

    /// `sealgate run --once --json` with `GIT_TOKEN` set to `env_token` (if any) and debug
    /// logging on (more output that must not carry the token).
    fn once(&mut self, env_token: Option<&str>) -> &Run {
        let mut cmd = sealgate();
        cmd.env("SEALGATE_LOG", "debug")
            .env_remove("GIT_TOKEN")
            .args(["run", "--once", "--json", "--config"])
            .arg(&self.gate.config);
        if let Some(t) = env_token {
            cmd.env("GIT_TOKEN", t);
        }
        self.runs.push(run(&mut cmd));
        self.runs.last().unwrap()
    }

    /// The right token is in no run's output, nor in the server's log, nor in the state dir.
    fn assert_token_never_leaked(&self) {
        for r in &self.runs {
            assert!(
                !r.stdout.contains(&self.token) && !r.stderr.contains(&self.token),
                "the token leaked into the gate's output:\n{r}"
            );
        }
        let log = self.http.log();
        assert!(!log.contains(&self.token), "token in the request log");
        assert!(
            !log.contains("Basic ") && !log.contains("Authorization"),
            "auth header in the request log:\n{log}"
        );
        let err = std::fs::read_to_string(&self.http.err).unwrap_or_default();
        assert!(!err.contains(&self.token), "token in the server's stderr");
        assert_not_in_files(&self.gate.dir.path().join("state"), self.token.as_bytes());
    }
}

fn assert_not_in_files(dir: &Path, needle: &[u8]) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let e = e.unwrap();
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            assert_not_in_files(&p, needle);
        } else if let Ok(data) = std::fs::read(&p) {
            assert!(
                !data.windows(needle.len()).any(|w| w == needle),
                "the token is stored in {}",
                p.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn token_env_fetches_and_promotes_over_smart_http() {
    let mut w = World::new("  auth: {tokenEnv: GIT_TOKEN, username: gate-bot}\n").await;
    let source = w.gate.git.head("main").unwrap();
    let token = w.token.clone();

    let r = w.once(Some(&token));
    assert_eq!(r.code, 0, "{r}");
    let s = r.json();
    assert_eq!(condition(&s, "Ready").0, "True", "{s:#}");
    assert_eq!(condition(&s, "Promoted").1, "Promoted", "{s:#}");
    assert_eq!(s["lastPromotedRevision"], source);
    w.gate.assert_promoted(&source);

    // the server demanded credentials, and the fetch and the push went through it
    assert!(
        w.http.count("GET", "/origin.git/info/refs", 401) > 0,
        "{}",
        w.http.log()
    );
    assert!(
        w.http
            .count("GET", "/origin.git/info/refs?service=git-upload-pack", 200)
            > 0,
        "{}",
        w.http.log()
    );
    assert!(
        w.http.count("POST", "/origin.git/git-upload-pack", 200) > 0,
        "{}",
        w.http.log()
    );
    assert!(
        w.http
            .count("GET", "/origin.git/info/refs?service=git-receive-pack", 200)
            > 0,
        "{}",
        w.http.log()
    );
    assert_eq!(
        w.http.count("POST", "/origin.git/git-receive-pack", 200),
        1,
        "one push: {}",
        w.http.log()
    );

    // again: the deploy branch is read back over HTTP, nothing is pushed
    let r = w.once(Some(&token));
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(condition(&r.json(), "Promoted").1, "AlreadyPromoted");
    assert_eq!(w.http.count("POST", "/origin.git/git-receive-pack", 200), 1);

    // a new revision: promoted on top of the last one
    let c2 = w
        .gate
        .git
        .commit(&[("deploy/NOTES.md", "notes\n")], "notes");
    let r = w.once(Some(&token));
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(r.json()["lastPromotedRevision"], c2);
    w.gate.assert_promoted(&c2);
    assert_eq!(w.gate.git.log(DEPLOY).len(), 2);
    w.assert_token_never_leaked();
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_token_stalls_and_is_never_printed() {
    let mut w = World::new("  auth: {tokenEnv: GIT_TOKEN, username: gate-bot}\n").await;
    let wrong = secret("sgwrong-");
    let r = w.once(Some(&wrong));
    assert_eq!(r.code, 1, "{r}");
    assert!(
        !r.stdout.contains(&wrong) && !r.stderr.contains(&wrong),
        "the wrong token leaked:\n{r}"
    );
    let s = r.json();
    let message = stalled(&s, "GitFetchFailed");
    assert!(
        message.contains("rejected the token from source.auth.tokenEnv GIT_TOKEN"),
        "{message}"
    );
    assert_eq!(condition(&s, "Ready").0, "False");
    assert_eq!(s["lastPromotedRevision"], serde_json::Value::Null, "{s:#}");
    assert!(w.gate.git.head(DEPLOY).is_none(), "nothing promoted");
    assert_eq!(
        w.http.count("POST", "/origin.git/git-receive-pack", 200),
        0,
        "{}",
        w.http.log()
    );
    assert_eq!(w.http.count("GET", "/origin.git/info/refs", 200), 0);
    assert!(!w.http.log().contains(&wrong));
    assert_not_in_files(&w.gate.dir.path().join("state"), wrong.as_bytes());
    w.assert_token_never_leaked();
}

#[tokio::test(flavor = "multi_thread")]
async fn token_file_works_too() {
    let mut w = World::new("  auth: {tokenFile: git-token, username: gate-bot}\n").await;
    // trailing newline, as `echo TOKEN > file` writes it
    std::fs::write(
        w.gate.dir.path().join("git-token"),
        format!("{}\n", w.token),
    )
    .unwrap();
    let source = w.gate.git.head("main").unwrap();
    let r = w.once(None);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(r.json()["lastPromotedRevision"], source);
    w.gate.assert_promoted(&source);
    assert_eq!(w.http.count("POST", "/origin.git/git-receive-pack", 200), 1);

    // the file is read per fetch: a rotated (wrong) token is used at once
    std::fs::write(w.gate.dir.path().join("git-token"), "rotated-but-wrong\n").unwrap();
    let r = w.once(None);
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(condition(&r.json(), "Stalled").1, "GitFetchFailed");
    w.assert_token_never_leaked();
}

#[tokio::test(flavor = "multi_thread")]
async fn no_auth_configured_says_credentials_are_needed() {
    let mut w = World::new("").await;
    // even with the token in the environment: nothing is sent unless configured
    let token = w.token.clone();
    let r = w.once(Some(&token));
    assert_eq!(r.code, 1, "{r}");
    let s = r.json();
    let message = stalled(&s, "GitFetchFailed");
    assert!(
        message.contains("credentials") && message.contains("source.auth"),
        "{message}"
    );
    assert!(w.gate.git.head(DEPLOY).is_none());
    assert!(
        w.http.count("GET", "/origin.git/info/refs", 401) > 0,
        "{}",
        w.http.log()
    );
    assert_eq!(w.http.count("GET", "/origin.git/info/refs", 200), 0);
    w.assert_token_never_leaked();
}
