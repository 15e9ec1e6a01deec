//! HashiCorp Vault / OpenBao transit keys (`hashivault://NAME`, cosign's URI).
//!
//! Configured as cosign and the Vault CLI are: `VAULT_ADDR`, `VAULT_TOKEN` (else the token
//! file `~/.vault-token` the Vault CLI writes), `VAULT_NAMESPACE`, `VAULT_CACERT`, and
//! `TRANSIT_SECRET_ENGINE_PATH` (the transit mount, default `transit`). A policy's
//! `spec.kms.auth` logs in instead (Kubernetes auth with the service-account token, or
//! AppRole): the token it gets is renewed after two thirds of its TTL, got again by a new
//! login when it cannot be renewed or has expired, and after a 403 (revoked early).
//!
//! - Public keys: `GET /v1/<transit>/keys/NAME` lists every version still present; the
//!   versions a signature may verify with are those from `min_decryption_version` (for a
//!   signing key Vault's "minimum version allowed to verify") to `latest_version`, so a
//!   signature made before a rotation keeps verifying until that version is trimmed or
//!   `min_decryption_version` passes it.
//! - Signing: `POST /v1/<transit>/sign/NAME/<hash>` with the prehashed digest (the hash that
//!   matches the key: SHA-256 for P-256 and RSA, SHA-384 for P-384, SHA-512 for P-521;
//!   Ed25519 signs the message itself), `marshaling_algorithm=asn1`, RSA with PKCS#1 v1.5 —
//!   the forms cosign writes. The `vault:vN:` answer is decoded and verified against version
//!   N's public key before it is returned (a wrong key or a misbehaving server fails here,
//!   not later in someone's admission controller).
//!
//! Tokens, service-account JWTs and secret ids are never logged or shown (`Debug` redacts
//! the token). Answers are bounded (1 MiB)
//! and every request has a timeout.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use crate::crypto::{HashAlgorithm, KeyAlgorithm, PublicKey};
use crate::policy::keysource::KmsAuth;

/// The transit mount when `TRANSIT_SECRET_ENGINE_PATH` is unset (cosign's default).
pub const DEFAULT_TRANSIT_PATH: &str = "transit";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("Vault configuration: {0}")]
    Config(String),
    #[error("Vault at {addr} is unreachable")]
    Unreachable {
        addr: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("Vault answered {status} to {what}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Status {
        status: u16,
        what: String,
        message: String,
    },
    #[error("Vault's answer to {what} is not usable: {message}")]
    Malformed { what: String, message: String },
    #[error("transit key {0:?} cannot sign (type {1})")]
    NotASigningKey(String, String),
}

impl VaultError {
    /// "Not now" (unreachable, 5xx, 429) rather than "refused".
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// Where Vault is and how to authenticate.
#[derive(Clone)]
pub struct VaultConfig {
    /// `VAULT_ADDR`, e.g. `https://vault.example:8200`.
    pub addr: String,
    pub token: String,
    pub namespace: Option<String>,
    /// `VAULT_CACERT`: a PEM file of CA certificates to trust besides the system's.
    pub ca_cert: Option<PathBuf>,
    /// The transit mount path (`TRANSIT_SECRET_ENGINE_PATH`).
    pub transit_path: String,
    pub timeout: Duration,
    /// A login method (a policy's `spec.kms.auth`); `None`: [`VaultConfig::token`].
    pub auth: Option<KmsAuth>,
}

impl std::fmt::Debug for VaultConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultConfig")
            .field("addr", &self.addr)
            .field("token", &"<redacted>")
            .field("namespace", &self.namespace)
            .field("ca_cert", &self.ca_cert)
            .field("transit_path", &self.transit_path)
            .field("auth", &self.auth)
            .finish()
    }
}

impl VaultConfig {
    /// From the environment, as cosign reads it.
    ///
    /// # Errors
    /// [`VaultError::Config`] when `VAULT_ADDR` is unset or no token can be found.
    pub fn from_env() -> Result<Self, VaultError> {
        Self::from_env_with(None)
    }

    /// [`VaultConfig::from_env`], logging in with `auth` when given (no token needed then).
    ///
    /// # Errors
    /// As [`VaultConfig::from_env`].
    pub fn from_env_with(auth: Option<KmsAuth>) -> Result<Self, VaultError> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
        let addr =
            var("VAULT_ADDR").ok_or_else(|| VaultError::Config("VAULT_ADDR is not set".into()))?;
        let token = match var("VAULT_TOKEN") {
            _ if auth.is_some() => String::new(),
            Some(t) => t,
            None => {
                let file = std::env::var_os("HOME")
                    .map(|h| PathBuf::from(h).join(".vault-token"))
                    .ok_or_else(|| {
                        VaultError::Config("VAULT_TOKEN is not set and there is no HOME".into())
                    })?;
                crate::base::files::read_regular_string(&file, 64 * 1024)
                    .map(|t| t.trim().to_string())
                    .ok()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        VaultError::Config(format!(
                            "VAULT_TOKEN is not set and {} cannot be read",
                            file.display()
                        ))
                    })?
            }
        };
        let mut config = Self::new(
            &addr,
            token,
            var("VAULT_NAMESPACE"),
            var("VAULT_CACERT").map(PathBuf::from),
            var("TRANSIT_SECRET_ENGINE_PATH").as_deref(),
        )?;
        config.auth = auth;
        Ok(config)
    }

    /// # Errors
    /// [`VaultError::Config`] for an address that is not `http(s)://…` or a malformed mount
    /// path.
    pub fn new(
        addr: &str,
        token: String,
        namespace: Option<String>,
        ca_cert: Option<PathBuf>,
        transit_path: Option<&str>,
    ) -> Result<Self, VaultError> {
        let addr = addr.trim().trim_end_matches('/').to_string();
        if !(addr.starts_with("https://") || addr.starts_with("http://")) {
            return Err(VaultError::Config(format!(
                "VAULT_ADDR {addr:?} is not an http:// or https:// address"
            )));
        }
        let transit_path = transit_path
            .unwrap_or(DEFAULT_TRANSIT_PATH)
            .trim_matches('/')
            .to_string();
        if transit_path.is_empty()
            || transit_path
                .split('/')
                .any(|s| !crate::policy::keysource::is_key_name(s))
        {
            return Err(VaultError::Config(format!(
                "TRANSIT_SECRET_ENGINE_PATH {transit_path:?} is not a mount path"
            )));
        }
        if token.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(VaultError::Config("the Vault token is malformed".into()));
        }
        Ok(Self {
            addr,
            token,
            namespace,
            ca_cert,
            transit_path,
            timeout: Duration::from_secs(30),
            auth: None,
        })
    }
}

/// Checks a transit key name from a `hashivault://NAME` URI.
///
/// # Errors
/// [`VaultError::Config`] for a name Vault would not take as one path segment.
pub fn check_key_name(name: &str) -> Result<(), VaultError> {
    if crate::policy::keysource::is_key_name(name) {
        Ok(())
    } else {
        Err(VaultError::Config(format!(
            "{name:?} is not a transit key name (letters, digits, '-', '_', '.')"
        )))
    }
}

/// One version of a transit key.
#[derive(Debug, Clone)]
pub struct KeyVersion {
    pub version: u64,
    pub key: PublicKey,
}

/// A transit key: its type and the versions that may verify.
#[derive(Debug, Clone)]
pub struct TransitKey {
    pub name: String,
    /// Vault's key type (`ecdsa-p256`, `rsa-2048`, `ed25519`…).
    pub kind: String,
    pub latest_version: u64,
    pub min_decryption_version: u64,
    /// Versions `min_decryption_version..=latest_version` still present, oldest first.
    pub versions: Vec<KeyVersion>,
}

impl TransitKey {
    /// The newest version (the one that signs).
    pub fn latest(&self) -> Option<&KeyVersion> {
        self.versions
            .iter()
            .find(|v| v.version == self.latest_version)
    }
}

/// The transit key types that can sign, and how: (hash for the URL and prehash, RSA).
fn signing_scheme(kind: &str) -> Option<(Option<HashAlgorithm>, bool)> {
    match kind {
        "ecdsa-p256" => Some((Some(HashAlgorithm::Sha256), false)),
        "ecdsa-p384" => Some((Some(HashAlgorithm::Sha384), false)),
        "ecdsa-p521" => Some((Some(HashAlgorithm::Sha512), false)),
        "rsa-2048" | "rsa-3072" | "rsa-4096" => Some((Some(HashAlgorithm::Sha256), true)),
        "ed25519" => Some((None, false)),
        _ => None,
    }
}

fn vault_hash_name(h: HashAlgorithm) -> &'static str {
    match h {
        HashAlgorithm::Sha384 => "sha2-384",
        HashAlgorithm::Sha512 => "sha2-512",
        _ => "sha2-256",
    }
}

/// A Vault transit client.
pub struct Vault {
    client: reqwest::Client,
    config: VaultConfig,
    /// The token a login gave (with [`VaultConfig::auth`]).
    session: tokio::sync::Mutex<Option<Session>>,
}

/// A token from a login, and when to renew it.
struct Session {
    token: String,
    /// Until when it is used (its expiry less a margin); `None`: a token without a TTL.
    expires: Option<Instant>,
    renew_at: Option<Instant>,
    renewable: bool,
}

/// A token this close to its expiry (at most a tenth of its TTL) is not used: a new one
/// is got first.
const EXPIRY_MARGIN: Duration = Duration::from_secs(5);
/// Largest service-account token or secret id file read.
const MAX_CREDENTIAL_BYTES: u64 = 64 * 1024;

impl Session {
    /// From the `auth` object of a login or renewal answer.
    fn from_auth(auth: &Value) -> Option<Self> {
        let token = auth.get("client_token")?.as_str()?.to_string();
        if token.is_empty() || token.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return None;
        }
        let lease = auth
            .get("lease_duration")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let now = Instant::now();
        let (expires, renew_at) = if lease == 0 {
            (None, None)
        } else {
            // not used in its last moments (a request must not arrive after its expiry)
            let lease = Duration::from_secs(lease);
            (
                now.checked_add(lease - EXPIRY_MARGIN.min(lease / 10)),
                now.checked_add(lease * 2 / 3),
            )
        };
        Some(Self {
            token,
            expires,
            renew_at,
            renewable: auth.get("renewable").and_then(Value::as_bool) == Some(true),
        })
    }
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("config", &self.config)
            .finish()
    }
}

impl Vault {
    /// A client configured from the environment ([`VaultConfig::from_env`]).
    ///
    /// # Errors
    /// As [`VaultConfig::from_env`] and [`Vault::new`].
    pub fn from_env() -> Result<Self, VaultError> {
        VaultConfig::from_env().and_then(Self::new)
    }

    /// # Errors
    /// [`VaultError::Config`] when the CA file cannot be read or the client cannot be built.
    pub fn new(config: VaultConfig) -> Result<Self, VaultError> {
        let client = super::http_client(
            config.timeout,
            config.ca_cert.as_deref().map(|p| ("VAULT_CACERT", p)),
        )
        .map_err(VaultError::Config)?;
        Ok(Self {
            client,
            config,
            session: tokio::sync::Mutex::new(None),
        })
    }

    pub fn config(&self) -> &VaultConfig {
        &self.config
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/v1/{}/{path}",
            self.config.addr, self.config.transit_path
        )
    }

    /// Sends a transit request and returns the JSON answer's `data`. With a login method,
    /// a 403 (the token revoked or expired early) logs in again once and retries.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> Result<Value, VaultError> {
        let url = self.url(path);
        let mut retried = false;
        loop {
            let token = self.token().await?;
            match self
                .send(method.clone(), &url, body.clone(), what, Some(&token))
                .await
            {
                Err(VaultError::Status { status: 403, .. })
                    if self.config.auth.is_some() && !retried =>
                {
                    retried = true;
                    *self.session.lock().await = None;
                }
                r => return r.map(|json| json.get("data").cloned().unwrap_or(Value::Null)),
            }
        }
    }

    /// The token to send: the configured one, or the login's — renewed once two thirds of
    /// its TTL have passed, got again by logging in when it cannot be renewed or expired.
    async fn token(&self) -> Result<String, VaultError> {
        let Some(auth) = &self.config.auth else {
            return Ok(self.config.token.clone());
        };
        let mut session = self.session.lock().await;
        let now = Instant::now();
        if let Some(cur) = session.as_ref() {
            let usable = cur.expires.is_none_or(|e| now < e);
            if !usable {
                *session = None;
            } else if cur.renewable && cur.renew_at.is_some_and(|r| now >= r) {
                let url = format!("{}/v1/auth/token/renew-self", self.config.addr);
                let renewed = self
                    .send(
                        reqwest::Method::POST,
                        &url,
                        Some(serde_json::json!({})),
                        "renewing the Vault token",
                        Some(&cur.token),
                    )
                    .await;
                *session = match renewed
                    .ok()
                    .and_then(|j| j.get("auth").and_then(Session::from_auth))
                {
                    Some(s) => Some(s),
                    None => {
                        tracing::debug!("the Vault token could not be renewed; logging in again");
                        None
                    }
                };
            }
        }
        if session.is_none() {
            *session = Some(self.login(auth).await?);
        }
        Ok(session
            .as_ref()
            .map(|s| s.token.clone())
            .unwrap_or_default())
    }

    /// Logs in with the configured method.
    async fn login(&self, auth: &KmsAuth) -> Result<Session, VaultError> {
        let read = |path: &std::path::Path, what: &str| {
            crate::base::files::read_regular_string(path, MAX_CREDENTIAL_BYTES)
                .map(|t| t.trim().to_string())
                .map_err(|e| {
                    VaultError::Config(format!(
                        "cannot read the {what} {}: {}",
                        path.display(),
                        crate::base::error::chain(&e)
                    ))
                })
        };
        let (mount, body, what) = match auth {
            KmsAuth::Kubernetes {
                role,
                mount_path,
                token_path,
            } => (
                mount_path,
                serde_json::json!({
                    "role": role,
                    "jwt": read(token_path, "service-account token")?,
                }),
                format!("logging in with Kubernetes auth (role {role:?})"),
            ),
            KmsAuth::AppRole {
                role_id,
                secret_id_file,
                mount_path,
            } => (
                mount_path,
                serde_json::json!({
                    "role_id": role_id,
                    "secret_id": read(secret_id_file, "AppRole secret id")?,
                }),
                "logging in with AppRole".to_string(),
            ),
        };
        let url = format!("{}/v1/auth/{mount}/login", self.config.addr);
        let json = self
            .send(reqwest::Method::POST, &url, Some(body), &what, None)
            .await?;
        json.get("auth")
            .and_then(Session::from_auth)
            .ok_or_else(|| VaultError::Malformed {
                what,
                message: "no client token".into(),
            })
    }

    /// Sends one request (with `token`, if any); the whole JSON answer.
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
        what: &str,
        token: Option<&str>,
    ) -> Result<Value, VaultError> {
        let mut req = self
            .client
            .request(method, url)
            .header("X-Vault-Request", "true");
        if let Some(t) = token {
            req = req.header("X-Vault-Token", t);
        }
        if let Some(ns) = &self.config.namespace {
            req = req.header("X-Vault-Namespace", ns);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let unreachable = |source| VaultError::Unreachable {
            addr: self.config.addr.clone(),
            source,
        };
        let resp = req.send().await.map_err(unreachable)?;
        let status = resp.status();
        let bytes = super::read_answer(resp)
            .await
            .map_err(unreachable)?
            .ok_or_else(|| VaultError::Malformed {
                what: what.into(),
                message: "the answer is larger than 1 MiB".into(),
            })?;
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        if !status.is_success() {
            // Vault's {"errors": [...]}, bounded and without control characters
            let message = json
                .as_ref()
                .and_then(|j| j.get("errors"))
                .and_then(Value::as_array)
                .map(|e| {
                    e.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            let message = super::shown_message(&message);
            return Err(VaultError::Status {
                status: status.as_u16(),
                what: what.into(),
                message,
            });
        }
        json.ok_or_else(|| VaultError::Malformed {
            what: what.into(),
            message: "not JSON".into(),
        })
    }

    /// The key's type and the public keys of the versions that may verify.
    ///
    /// # Errors
    /// [`VaultError`] when Vault cannot be asked or the answer is not a usable key.
    pub async fn key(&self, name: &str) -> Result<TransitKey, VaultError> {
        check_key_name(name)?;
        let what = format!("reading transit key {name:?}");
        let data = self
            .call(reqwest::Method::GET, &format!("keys/{name}"), None, &what)
            .await?;
        parse_key(name, &data).map_err(|message| VaultError::Malformed { what, message })
    }

    /// Creates an `ecdsa-p256` transit key (what `cosign generate-key-pair --kms` makes);
    /// an existing key of that name is left as it is (Vault's own behaviour).
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses.
    pub async fn create_key(&self, name: &str, kind: &str) -> Result<TransitKey, VaultError> {
        check_key_name(name)?;
        if signing_scheme(kind).is_none() {
            return Err(VaultError::NotASigningKey(name.into(), kind.into()));
        }
        self.call(
            reqwest::Method::POST,
            &format!("keys/{name}"),
            Some(serde_json::json!({ "type": kind })),
            &format!("creating transit key {name:?}"),
        )
        .await?;
        self.key(name).await
    }

    /// Signs `message` with the newest version of the key: the signature (DER for ECDSA,
    /// PKCS#1 v1.5 for RSA, raw for Ed25519) and the version that made it, verified with
    /// that version's public key.
    ///
    /// # Errors
    /// [`VaultError`] when Vault refuses or answers with something that does not verify.
    pub async fn sign(&self, name: &str, message: &[u8]) -> Result<(Vec<u8>, u64), VaultError> {
        let mut key = self.key(name).await?;
        self.sign_with(&mut key, message).await
    }

    /// [`Vault::sign`] with the key already read; when Vault signed with a version `key`
    /// does not list (the key was rotated since), the key is read again (and `key`
    /// updated) before the signature is verified.
    ///
    /// # Errors
    /// As [`Vault::sign`].
    pub async fn sign_with(
        &self,
        key: &mut TransitKey,
        message: &[u8],
    ) -> Result<(Vec<u8>, u64), VaultError> {
        let name = key.name.clone();
        let name = name.as_str();
        let (hash, rsa) = signing_scheme(&key.kind)
            .ok_or_else(|| VaultError::NotASigningKey(name.into(), key.kind.clone()))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let (path, mut body) = match hash {
            Some(h) => (
                format!("sign/{name}/{}", vault_hash_name(h)),
                serde_json::json!({
                    "input": b64.encode(h.digest(message)),
                    "prehashed": true,
                    "marshaling_algorithm": "asn1",
                }),
            ),
            None => (
                format!("sign/{name}"),
                serde_json::json!({ "input": b64.encode(message) }),
            ),
        };
        if rsa {
            body["signature_algorithm"] = Value::from("pkcs1v15");
        }
        let what = format!("signing with transit key {name:?}");
        let data = self
            .call(reqwest::Method::POST, &path, Some(body), &what)
            .await?;
        let malformed = |message: String| VaultError::Malformed {
            what: what.clone(),
            message,
        };
        let text = data
            .get("signature")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("no signature".into()))?;
        let (version, sig) = parse_signature(text).map_err(malformed)?;
        if !key.versions.iter().any(|v| v.version == version) {
            *key = self.key(name).await?;
        }
        let public = key
            .versions
            .iter()
            .find(|v| v.version == version)
            .ok_or_else(|| {
                malformed(format!(
                    "signed with version {version}, which is not listed"
                ))
            })?;
        public.key.verify(message, &sig).map_err(|e| {
            malformed(format!(
                "the signature does not verify with version {version}: {e}"
            ))
        })?;
        Ok((sig, version))
    }
}

/// `vault:vN:<base64>` → (N, signature bytes).
fn parse_signature(s: &str) -> Result<(u64, Vec<u8>), String> {
    let rest = s
        .strip_prefix("vault:v")
        .ok_or_else(|| "the signature is not vault:vN:…".to_string())?;
    let (v, sig) = rest
        .split_once(':')
        .ok_or_else(|| "the signature is not vault:vN:…".to_string())?;
    let version: u64 = v
        .parse()
        .map_err(|_| format!("{v:?} is not a key version"))?;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .map_err(|e| format!("the signature is not base64: {e}"))?;
    Ok((version, sig))
}

fn as_version(v: Option<&Value>) -> Option<u64> {
    let v = v?;
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// Reads a `GET transit/keys/NAME` answer's `data`.
fn parse_key(name: &str, data: &Value) -> Result<TransitKey, String> {
    let kind = data
        .get("type")
        .and_then(Value::as_str)
        .ok_or("no key type")?
        .to_string();
    if signing_scheme(&kind).is_none() {
        return Err(format!("a {kind} key cannot sign or verify signatures"));
    }
    let latest_version = as_version(data.get("latest_version")).ok_or("no latest_version")?;
    // 0 means "every version" in Vault's API
    let min_decryption_version = as_version(data.get("min_decryption_version"))
        .unwrap_or(1)
        .max(1);
    let keys = data
        .get("keys")
        .and_then(Value::as_object)
        .ok_or("no keys")?;
    let mut versions = Vec::new();
    for (v, entry) in keys {
        let version: u64 = v.parse().map_err(|_| format!("key version {v:?}"))?;
        if version < min_decryption_version || version > latest_version {
            continue;
        }
        let text = entry
            .get("public_key")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("version {version} has no public key"))?;
        let key = public_key(&kind, text).map_err(|e| format!("version {version}: {e}"))?;
        versions.push(KeyVersion { version, key });
    }
    versions.sort_by_key(|v| v.version);
    if versions.is_empty() {
        return Err(format!("{name:?} has no version that may verify"));
    }
    Ok(TransitKey {
        name: name.to_string(),
        kind,
        latest_version,
        min_decryption_version,
        versions,
    })
}

/// A transit public key: PEM (ECDSA, RSA) or base64 of the raw 32 bytes (Ed25519).
fn public_key(kind: &str, text: &str) -> Result<PublicKey, String> {
    let key = if kind == "ed25519" {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| format!("ed25519 public key: {e}"))?;
        if raw.len() != 32 {
            return Err(format!("ed25519 public key of {} bytes", raw.len()));
        }
        // SubjectPublicKeyInfo for id-Ed25519 (RFC 8410)
        let mut spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        spki.extend_from_slice(&raw);
        PublicKey::from_spki_der(&spki).map_err(|e| crate::base::error::chain(&e))?
    } else {
        PublicKey::from_pem(text).map_err(|e| crate::base::error::chain(&e))?
    };
    let expected = match kind {
        "ecdsa-p256" => KeyAlgorithm::EcdsaP256,
        "ecdsa-p384" => KeyAlgorithm::EcdsaP384,
        "ecdsa-p521" => KeyAlgorithm::EcdsaP521,
        "ed25519" => KeyAlgorithm::Ed25519,
        _ => KeyAlgorithm::Rsa,
    };
    if key.algorithm() != expected {
        return Err(format!(
            "a {kind} key holds a {} public key",
            key.algorithm()
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_names() {
        assert_eq!(
            parse_signature("vault:v2:AQID").unwrap(),
            (2, vec![1, 2, 3])
        );
        for bad in [
            "AQID",
            "vault:v:AQID",
            "vault:vx:AQID",
            "vault:v1",
            "vault:v1:@@",
        ] {
            assert!(parse_signature(bad).is_err(), "{bad}");
        }
        assert!(check_key_name("cosign-key_1.0").is_ok());
        for bad in ["", "..", "a/b", "a?b", "a%2f", "a b"] {
            assert!(check_key_name(bad).is_err(), "{bad}");
        }
        assert!(VaultConfig::new("vault:8200", "t".into(), None, None, None).is_err());
        assert!(VaultConfig::new("http://v", "t".into(), None, None, Some("a/../b")).is_err());
        let c = VaultConfig::new(
            "http://v/",
            "s.secret".into(),
            None,
            None,
            Some("/kms/transit/"),
        )
        .unwrap();
        assert_eq!(c.transit_path, "kms/transit");
        assert!(!format!("{c:?}").contains("s.secret"));
    }

    #[test]
    fn versions_below_min_decryption_version_do_not_verify() {
        let k = |seed: u8| {
            let sk = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap();
            let pk = PublicKey::from_spki_der(
                p256::pkcs8::EncodePublicKey::to_public_key_der(sk.verifying_key())
                    .unwrap()
                    .as_bytes(),
            )
            .unwrap();
            pk.to_pem()
        };
        let data = serde_json::json!({
            "type": "ecdsa-p256", "latest_version": 3, "min_decryption_version": 2,
            "keys": {"1": {"public_key": k(1)}, "2": {"public_key": k(2)}, "3": {"public_key": k(3)}},
        });
        let key = parse_key("k", &data).unwrap();
        assert_eq!(
            key.versions.iter().map(|v| v.version).collect::<Vec<_>>(),
            [2, 3]
        );
        assert_eq!(key.latest().unwrap().version, 3);
        let mut wrong = data.clone();
        wrong["type"] = "ecdsa-p384".into();
        assert!(
            parse_key("k", &wrong).is_err(),
            "a P-256 key under a P-384 type"
        );
        wrong["type"] = "aes256-gcm96".into();
        assert!(parse_key("k", &wrong).is_err());
    }
}
