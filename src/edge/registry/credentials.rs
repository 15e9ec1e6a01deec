//! Docker/podman credentials: `config.json` `auths` (base64 `auth`, `username`/`password`,
//! `identitytoken`), `credHelpers` and `credsStore` (the `docker-credential-<name> get`
//! protocol). Secrets never appear in `Debug` output or logs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;

/// Largest `config.json` read.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// How long a credential helper may take.
const HELPER_TIMEOUT: Duration = Duration::from_secs(10);

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`, or a helper's `<token>` user).
    IdentityToken(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Self::IdentityToken(_) => write!(f, "IdentityToken(<redacted>)"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read {path}")]
    ReadFailed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid docker config: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("credential helper docker-credential-{helper} failed for {registry}: {message}")]
    HelperFailed {
        helper: String,
        registry: String,
        message: String,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConfig {
    #[serde(default)]
    auths: BTreeMap<String, RawAuth>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Clone, Default, Deserialize)]
struct RawAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl fmt::Debug for RawAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawAuth(<redacted>)")
    }
}

/// A loaded docker config.
#[derive(Debug, Clone, Default)]
pub struct DockerConfig {
    path: Option<PathBuf>,
    auths: BTreeMap<String, RawAuth>,
    cred_helpers: BTreeMap<String, String>,
    creds_store: Option<String>,
}

impl DockerConfig {
    /// Loads `DIR/config.json`; with `None`, `$DOCKER_CONFIG` then `~/.docker`. A missing
    /// file is an empty config (anonymous access).
    ///
    /// # Errors
    /// [`CredentialsError`] when the file exists but cannot be read or parsed.
    pub fn load(dir: Option<&Path>) -> Result<Self, CredentialsError> {
        let dir = match dir {
            Some(d) => Some(d.to_path_buf()),
            None => std::env::var_os("DOCKER_CONFIG")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker"))),
        };
        let Some(dir) = dir else {
            return Ok(Self::default());
        };
        let path = dir.join("config.json");
        let bytes = match crate::base::files::read_regular(&path, MAX_CONFIG_BYTES) {
            Ok(b) => b,
            Err(crate::base::files::FileError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(Self::default());
            }
            Err(crate::base::files::FileError::TooLarge { .. }) => {
                return Err(CredentialsError::Invalid {
                    path,
                    message: "file is too large".into(),
                });
            }
            Err(e) => {
                return Err(CredentialsError::ReadFailed {
                    path,
                    source: e.into_io(),
                });
            }
        };
        let raw: RawConfig =
            serde_json::from_slice(&bytes).map_err(|e| CredentialsError::Invalid {
                path: path.clone(),
                // serde_json errors carry only position and kind, never values.
                message: e.to_string(),
            })?;
        Ok(Self {
            path: Some(path),
            auths: raw.auths,
            cred_helpers: raw.cred_helpers,
            creds_store: raw.creds_store,
        })
    }

    /// Where the config was read from, if anywhere.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Credentials for a registry host (`ghcr.io`, `localhost:5000`, `docker.io`).
    /// Order as docker: `credHelpers[host]`, then `auths` (a matching entry), then `credsStore`.
    ///
    /// # Errors
    /// [`CredentialsError::HelperFailed`] when a configured helper fails.
    pub async fn credentials_for(
        &self,
        registry: &str,
    ) -> Result<Option<Credentials>, CredentialsError> {
        let keys = server_keys(registry);
        for k in &keys {
            if let Some(helper) = self.cred_helpers.get(k) {
                return run_helper(helper, k).await;
            }
        }
        for (key, entry) in &self.auths {
            let host = normalize_server(key);
            if keys.iter().any(|k| normalize_server(k) == host)
                && let Some(c) = decode_entry(entry)
            {
                return Ok(Some(c));
            }
        }
        if let Some(store) = &self.creds_store {
            // docker stores Docker Hub credentials under its v1 URL.
            let server = keys.last().map_or(registry, String::as_str);
            return run_helper(store, server).await;
        }
        Ok(None)
    }
}

/// The server names docker uses for a registry host.
fn server_keys(registry: &str) -> Vec<String> {
    if registry == "docker.io"
        || registry == "index.docker.io"
        || registry == "registry-1.docker.io"
    {
        vec![
            "docker.io".into(),
            "index.docker.io".into(),
            "https://index.docker.io/v1/".into(),
        ]
    } else {
        vec![registry.to_string()]
    }
}

/// `https://host/v1/` → `host`.
fn normalize_server(s: &str) -> String {
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        h => h.to_string(),
    }
}

fn decode_entry(e: &RawAuth) -> Option<Credentials> {
    if let Some(t) = e.identitytoken.as_deref().filter(|t| !t.is_empty()) {
        return Some(Credentials::IdentityToken(t.to_string()));
    }
    if let Some(a) = e.auth.as_deref().filter(|a| !a.is_empty()) {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(a.trim())
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (u, p) = text.split_once(':')?;
        return Some(Credentials::Basic {
            username: u.to_string(),
            password: p.to_string(),
        });
    }
    match (&e.username, &e.password) {
        (Some(u), Some(p)) if !u.is_empty() => Some(Credentials::Basic {
            username: u.clone(),
            password: p.clone(),
        }),
        _ => None,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperOutput {
    username: String,
    secret: String,
}

async fn run_helper(helper: &str, server: &str) -> Result<Option<Credentials>, CredentialsError> {
    let fail = |message: String| CredentialsError::HelperFailed {
        helper: helper.to_string(),
        registry: server.to_string(),
        message,
    };
    if helper.is_empty()
        || !helper
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(fail("invalid helper name".into()));
    }
    let mut child = tokio::process::Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| fail(format!("cannot run it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt as _;
        stdin
            .write_all(server.as_bytes())
            .await
            .map_err(|e| fail(format!("cannot write to it: {e}")))?;
    }
    let out = tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| fail(format!("no answer within {} s", HELPER_TIMEOUT.as_secs())))?
        .map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout);
        // "credentials not found in native keychain" means anonymous, as docker treats it.
        if msg.contains("credentials not found") {
            return Ok(None);
        }
        return Err(fail(format!("exit status {}", out.status)));
    }
    let h: HelperOutput = serde_json::from_slice(&out.stdout)
        .map_err(|_| fail("output is not the helper JSON protocol".into()))?;
    if h.username == "<token>" {
        Ok(Some(Credentials::IdentityToken(h.secret)))
    } else {
        Ok(Some(Credentials::Basic {
            username: h.username,
            password: h.secret,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> (tempfile::TempDir, DockerConfig) {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("config.json"), json).unwrap();
        let c = DockerConfig::load(Some(d.path())).unwrap();
        (d, c)
    }

    #[tokio::test]
    async fn auths_entries() {
        let (_d, c) = cfg(
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},
                "ghcr.io":{"username":"bot","password":"s3cret"},
                "quay.io":{"identitytoken":"tok"}}}"#,
        );
        assert_eq!(
            c.credentials_for("docker.io").await.unwrap(),
            Some(Credentials::Basic {
                username: "user".into(),
                password: "pass".into()
            })
        );
        assert_eq!(
            c.credentials_for("ghcr.io").await.unwrap(),
            Some(Credentials::Basic {
                username: "bot".into(),
                password: "s3cret".into()
            })
        );
        assert_eq!(
            c.credentials_for("quay.io").await.unwrap(),
            Some(Credentials::IdentityToken("tok".into()))
        );
        assert_eq!(c.credentials_for("example.com").await.unwrap(), None);
        let dbg = format!("{:?} {:?}", c, c.credentials_for("ghcr.io").await.unwrap());
        assert!(
            !dbg.contains("s3cret") && !dbg.contains("dXNlcjpwYXNz"),
            "{dbg}"
        );
    }

    #[tokio::test]
    async fn missing_config_is_anonymous_and_bad_helper_fails() {
        let d = tempfile::tempdir().unwrap();
        let c = DockerConfig::load(Some(d.path())).unwrap();
        assert_eq!(c.credentials_for("ghcr.io").await.unwrap(), None);
        let (_d, c) = cfg(r#"{"credHelpers":{"ghcr.io":"sealgate-test-absent"}}"#);
        assert!(matches!(
            c.credentials_for("ghcr.io").await,
            Err(CredentialsError::HelperFailed { .. })
        ));
        let (_d, c) = cfg(r#"{"credHelpers":{"ghcr.io":"../evil"}}"#);
        assert!(c.credentials_for("ghcr.io").await.is_err());
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("config.json"), "{not json").unwrap();
        assert!(matches!(
            DockerConfig::load(Some(d.path())),
            Err(CredentialsError::Invalid { .. })
        ));
    }
}
