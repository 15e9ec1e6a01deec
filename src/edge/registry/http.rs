//! The OCI distribution API over HTTP(S).
//!
//! Built on reqwest (the HTTP stack oci-client itself uses) rather than on oci-client's
//! pull functions, because the gate needs what those hide: response headers
//! (`Retry-After`, `Docker-Content-Digest`), the status of every answer (429 vs 5xx vs
//! 401), bounded streaming reads, and one `/v2/` ping per registry instead of one per
//! request. Per registry host: one ping (single-flight) learns the auth scheme; bearer
//! tokens are fetched once per repository scope and reused until they expire; a
//! semaphore bounds requests in flight.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, RETRY_AFTER, WWW_AUTHENTICATE,
};
use tokio::sync::{Mutex, OnceCell, Semaphore};

use super::credentials::{Credentials, DockerConfig};
use super::{
    Descriptor, Index, MANIFEST_ACCEPT, MAX_MANIFEST_BYTES, MAX_REFERRER_PAGES, MAX_REFERRERS,
    Manifest, OCI_INDEX, Registry, RegistryError, check_manifest_digest,
};
use crate::base::evidence::SignatureSource;
use crate::base::reference::{Digest, Repository};

/// Largest token response read.
const MAX_TOKEN_BYTES: u64 = 1024 * 1024;

/// Options of the HTTP registry client.
#[derive(Clone)]
pub struct HttpOptions {
    /// Hosts (`host` or `host:port`) reached over plain HTTP.
    pub insecure: Vec<String>,
    /// Requests in flight per registry host.
    pub concurrency: usize,
    /// Timeout of one request (connect + full body).
    pub timeout: Duration,
    /// Retries after a 429, a 5xx or a connection error.
    pub max_retries: u32,
    /// First backoff; doubles each retry.
    pub backoff: Duration,
    /// Longest `Retry-After` honoured; a longer one fails at once as rate limited.
    pub max_retry_after: Duration,
    /// Called after every request with the registry host and the HTTP status (0: no
    /// answer) — the daemon's `sealgate_registry_requests_total` metric.
    pub observer: Option<Observer>,
}

/// See [`HttpOptions::observer`].
pub type Observer = Arc<dyn Fn(&str, u16) + Send + Sync>;

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            insecure: Vec::new(),
            concurrency: 16,
            timeout: Duration::from_secs(30),
            max_retries: 3,
            backoff: Duration::from_millis(200),
            max_retry_after: Duration::from_secs(10),
            observer: None,
        }
    }
}

#[derive(Debug, Clone)]
enum AuthScheme {
    Anonymous,
    Bearer {
        realm: String,
        service: Option<String>,
    },
    Basic,
}

struct Host {
    base: String,
    ping: OnceCell<AuthScheme>,
    /// A challenge met on a request after the ping answered 200 (registries that allow
    /// anonymous `/v2/` but protect repositories).
    challenge: std::sync::Mutex<Option<AuthScheme>>,
    credentials: OnceCell<Option<Credentials>>,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    budget: Semaphore,
}

/// An OCI distribution client with the gate's limits.
pub struct HttpRegistry {
    client: reqwest::Client,
    opts: HttpOptions,
    docker: Arc<DockerConfig>,
    hosts: std::sync::Mutex<HashMap<String, Arc<Host>>>,
    requests: AtomicU64,
    /// Whether a registry implements the referrers API (`false` after a 404/405: OCI
    /// distribution-spec 1.1 forbids a 404 from one that does), remembered for an hour;
    /// without it discovery goes straight to the fallback tag.
    referrers_api: std::sync::Mutex<HashMap<String, (bool, std::time::Instant)>>,
    /// One probe at a time per registry while its answer is unknown (single flight), so
    /// concurrent images do not all probe an API that is not there.
    referrers_probe: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// How long a registry without the referrers API is remembered as such.
const NO_REFERRERS_API_TTL: Duration = Duration::from_secs(3600);

impl HttpRegistry {
    /// # Errors
    /// [`RegistryError::Unavailable`] when the HTTP client cannot be built.
    pub fn new(opts: HttpOptions, docker: DockerConfig) -> Result<Self, RegistryError> {
        let client = reqwest::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(opts.concurrency.max(1))
            .user_agent(concat!("sealgate/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| RegistryError::Unavailable {
                registry: "-".into(),
                message: format!("cannot build HTTP client: {e}"),
            })?;
        Ok(Self {
            client,
            opts,
            docker: Arc::new(docker),
            hosts: std::sync::Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            referrers_api: std::sync::Mutex::new(HashMap::new()),
            referrers_probe: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// HTTP requests sent so far (pings, tokens, manifests, blobs; retries included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn host(&self, registry: &str) -> Arc<Host> {
        let mut hosts = match self.hosts.lock() {
            Ok(h) => h,
            Err(poisoned) => poisoned.into_inner(),
        };
        hosts
            .entry(registry.to_string())
            .or_insert_with(|| {
                let api_host = if registry == "docker.io" {
                    "registry-1.docker.io"
                } else {
                    registry
                };
                let insecure: HashSet<&str> =
                    self.opts.insecure.iter().map(String::as_str).collect();
                let scheme = if insecure.contains(registry) || insecure.contains(api_host) {
                    "http"
                } else {
                    "https"
                };
                Arc::new(Host {
                    base: format!("{scheme}://{api_host}"),
                    ping: OnceCell::new(),
                    challenge: std::sync::Mutex::new(None),
                    credentials: OnceCell::new(),
                    tokens: Mutex::new(HashMap::new()),
                    budget: Semaphore::new(self.opts.concurrency.max(1)),
                })
            })
            .clone()
    }

    async fn credentials(
        &self,
        registry: &str,
        host: &Host,
    ) -> Result<Option<Credentials>, RegistryError> {
        host.credentials
            .get_or_try_init(|| async {
                self.docker.credentials_for(registry).await.map_err(|e| {
                    RegistryError::Credentials {
                        registry: registry.to_string(),
                        message: e.to_string(),
                    }
                })
            })
            .await
            .cloned()
    }

    /// One request with the budget, timeout and retry policy. Auth headers are added by the caller.
    async fn send(
        &self,
        registry: &str,
        host: &Host,
        build: &(dyn Fn() -> reqwest::RequestBuilder + Send + Sync),
        url: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        let mut attempt = 0u32;
        loop {
            let result = {
                let _permit =
                    host.budget
                        .acquire()
                        .await
                        .map_err(|_| RegistryError::Unavailable {
                            registry: registry.to_string(),
                            message: "client is shutting down".into(),
                        })?;
                self.requests.fetch_add(1, Ordering::Relaxed);
                let r = build().send().await;
                if let Some(observe) = &self.opts.observer {
                    observe(
                        registry,
                        r.as_ref().map_or(0, |resp| resp.status().as_u16()),
                    );
                }
                r
            };
            let (retryable, delay, err) = match result {
                Ok(resp) => {
                    let status = resp.status();
                    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                        let after = retry_after(resp.headers());
                        let err = if status == StatusCode::TOO_MANY_REQUESTS {
                            RegistryError::RateLimited {
                                registry: registry.to_string(),
                                attempts: attempt + 1,
                            }
                        } else {
                            RegistryError::Unavailable {
                                registry: registry.to_string(),
                                message: format!("HTTP {status} for {url}"),
                            }
                        };
                        (true, after, err)
                    } else {
                        return Ok(resp);
                    }
                }
                Err(e) if e.is_timeout() => {
                    return Err(RegistryError::Timeout {
                        url: url.to_string(),
                        seconds: self.opts.timeout.as_secs(),
                    });
                }
                Err(e) => (
                    e.is_connect() || e.is_request(),
                    None,
                    RegistryError::Unavailable {
                        registry: registry.to_string(),
                        message: crate::base::error::chain(&e),
                    },
                ),
            };
            let backoff = self
                .opts
                .backoff
                .saturating_mul(2u32.saturating_pow(attempt));
            let delay = delay.unwrap_or(backoff);
            if !retryable || attempt >= self.opts.max_retries || delay > self.opts.max_retry_after {
                return Err(err);
            }
            tracing::debug!(
                registry,
                url,
                attempt,
                delay_ms = delay.as_millis() as u64,
                "retrying"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn ping(&self, registry: &str, host: &Host) -> Result<AuthScheme, RegistryError> {
        host.ping
            .get_or_try_init(|| async {
                let url = format!("{}/v2/", host.base);
                let resp = self
                    .send(registry, host, &|| self.client.get(&url), &url)
                    .await?;
                match resp.status() {
                    s if s.is_success() => Ok(AuthScheme::Anonymous),
                    StatusCode::UNAUTHORIZED => {
                        Ok(parse_challenge(resp.headers()).unwrap_or(AuthScheme::Basic))
                    }
                    // Some registries answer 404 on /v2/ but serve the API; treat as anonymous.
                    StatusCode::NOT_FOUND => Ok(AuthScheme::Anonymous),
                    s => Err(RegistryError::UnexpectedStatus {
                        registry: registry.to_string(),
                        status: s.as_u16(),
                        url,
                    }),
                }
            })
            .await
            .cloned()
    }

    /// The Authorization header value for `repo`, fetching a token if needed.
    async fn authorization(
        &self,
        repo: &Repository,
        host: &Host,
        refresh: bool,
    ) -> Result<Option<String>, RegistryError> {
        let registry = repo.registry.as_str();
        let mut scheme = self.ping(registry, host).await?;
        if matches!(scheme, AuthScheme::Anonymous)
            && let Some(c) = host.challenge.lock().ok().and_then(|c| c.clone())
        {
            scheme = c;
        }
        match scheme {
            AuthScheme::Anonymous => Ok(None),
            AuthScheme::Basic => Ok(match self.credentials(registry, host).await? {
                Some(Credentials::Basic { username, password }) => Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}"))
                )),
                _ => None,
            }),
            AuthScheme::Bearer { realm, service } => {
                let scope = format!("repository:{}:pull", repo.path);
                let mut tokens = host.tokens.lock().await;
                if !refresh
                    && let Some((t, exp)) = tokens.get(&scope)
                    && Instant::now() < *exp
                {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let creds = self.credentials(registry, host).await?;
                let (token, ttl) = self
                    .fetch_token(repo, host, &realm, service.as_deref(), &scope, creds)
                    .await?;
                tokens.insert(scope, (token.clone(), Instant::now() + ttl));
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    async fn fetch_token(
        &self,
        repo: &Repository,
        host: &Host,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        creds: Option<Credentials>,
    ) -> Result<(String, Duration), RegistryError> {
        let registry = repo.registry.as_str();
        let mut url = reqwest::Url::parse(realm).map_err(|e| RegistryError::Malformed {
            what: format!("auth challenge of {registry}"),
            message: format!("realm {realm:?} is not a URL: {e}"),
        })?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            q.append_pair("scope", scope);
        }
        let url_s = url.to_string();
        let creds_ref = creds.as_ref();
        let build = || match creds_ref {
            Some(Credentials::IdentityToken(t)) => self.client.post(realm).form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", t.as_str()),
                ("service", service.unwrap_or_default()),
                ("scope", scope),
                ("client_id", "sealgate"),
            ]),
            Some(Credentials::Basic { username, password }) => self
                .client
                .get(url.clone())
                .basic_auth(username, Some(password)),
            None => self.client.get(url.clone()),
        };
        let resp = self.send(registry, host, &build, &url_s).await?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(auth_failed(repo, status, creds.is_none()));
        }
        if !status.is_success() {
            return Err(RegistryError::UnexpectedStatus {
                registry: registry.to_string(),
                status: status.as_u16(),
                url: realm.to_string(),
            });
        }
        let body = read_limited(resp, MAX_TOKEN_BYTES, realm, self.opts.timeout).await?;
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let t: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| RegistryError::Malformed {
                what: format!("token response of {registry}"),
                message: e.to_string(),
            })?;
        let token = t
            .token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::Malformed {
                what: format!("token response of {registry}"),
                message: "no token".into(),
            })?;
        // Renew a little early; docker's default lifetime is 60 s.
        let ttl = Duration::from_secs(t.expires_in.unwrap_or(60).clamp(10, 3600).saturating_sub(5));
        Ok((token, ttl))
    }

    /// GET with auth; retries once with a fresh token on 401.
    async fn get(
        &self,
        repo: &Repository,
        url: &str,
        accept: Option<&str>,
    ) -> Result<reqwest::Response, RegistryError> {
        self.request(reqwest::Method::GET, repo, url, accept).await
    }

    async fn request(
        &self,
        method: reqwest::Method,
        repo: &Repository,
        url: &str,
        accept: Option<&str>,
    ) -> Result<reqwest::Response, RegistryError> {
        let host = self.host(&repo.registry);
        let mut refreshed = false;
        loop {
            let auth = self.authorization(repo, &host, refreshed).await?;
            let build = || {
                let mut r = self.client.request(method.clone(), url);
                if let Some(a) = accept {
                    r = r.header(ACCEPT, a);
                }
                if let Some(a) = &auth {
                    r = r.header(AUTHORIZATION, a);
                }
                r
            };
            let resp = self.send(&repo.registry, &host, &build, url).await?;
            match resp.status() {
                StatusCode::UNAUTHORIZED if !refreshed && auth.is_some() => refreshed = true,
                StatusCode::UNAUTHORIZED if !refreshed => {
                    // The ping said anonymous, but this repository wants auth: follow its challenge.
                    let Some(c) = parse_challenge(resp.headers()) else {
                        return Err(auth_failed(repo, resp.status(), true));
                    };
                    if let Ok(mut slot) = host.challenge.lock() {
                        *slot = Some(c);
                    }
                    refreshed = true;
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(auth_failed(repo, resp.status(), auth.is_none()));
                }
                _ => return Ok(resp),
            }
        }
    }
}

fn auth_failed(repo: &Repository, status: StatusCode, anonymous: bool) -> RegistryError {
    RegistryError::AuthFailed {
        registry: repo.registry.clone(),
        repository: repo.path.clone(),
        status: status.as_u16(),
        hint: if anonymous {
            "; no credentials configured for it (docker login, or --docker-config)".into()
        } else {
            String::new()
        },
    }
}

impl HttpRegistry {
    /// Whether `GET /v2/<name>/referrers/<digest>` is served (OCI distribution 1.1). 404, 405
    /// and 400 mean "no API" (clients then maintain the `sha256-<hex>` fallback tag).
    ///
    /// # Errors
    /// [`RegistryError`] when the registry cannot be asked.
    pub async fn referrers_supported(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        Ok(self.referrers(repo, digest, None).await?.is_some())
    }
}

/// The `rel="next"` target of a `Link` header, resolved against `base` (scheme://host).
/// Only same-registry targets are followed (credentials never go elsewhere).
fn next_link(headers: &HeaderMap, base: &str) -> Option<String> {
    for value in headers.get_all(reqwest::header::LINK) {
        let Ok(value) = value.to_str() else { continue };
        for part in value.split(',') {
            let part = part.trim();
            let Some(end) = part.find('>') else { continue };
            let target = part.get(1..end)?;
            let params = part.get(end + 1..).unwrap_or_default();
            let is_next = params.split(';').any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            if !is_next || !part.starts_with('<') {
                continue;
            }
            if target.starts_with('/') {
                return Some(format!("{base}{target}"));
            }
            if target.starts_with(&format!("{base}/")) {
                return Some(target.to_string());
            }
            return None;
        }
    }
    None
}

impl Registry for HttpRegistry {
    async fn manifest(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<Option<Manifest>, RegistryError> {
        let url = format!(
            "{}/v2/{}/manifests/{}",
            self.host(&repo.registry).base,
            repo.path,
            reference
        );
        let resp = self
            .get(repo, &url, Some(&MANIFEST_ACCEPT.join(", ")))
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => return Ok(None),
            s if s.is_success() => {}
            s => {
                return Err(RegistryError::UnexpectedStatus {
                    registry: repo.registry.clone(),
                    status: s.as_u16(),
                    url,
                });
            }
        }
        let announced = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let media_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or(s).trim().to_string());
        let bytes = read_limited(resp, MAX_MANIFEST_BYTES, &url, self.opts.timeout).await?;
        let what = format!("manifest {repo}:{reference}");
        let digest = check_manifest_digest(&what, &bytes, reference, announced.as_deref())?;
        Ok(Some(Manifest {
            bytes,
            digest,
            media_type,
        }))
    }

    async fn manifest_exists(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let url = format!(
            "{}/v2/{}/manifests/{}",
            self.host(&repo.registry).base,
            repo.path,
            digest
        );
        let resp = self
            .request(
                reqwest::Method::HEAD,
                repo,
                &url,
                Some(&MANIFEST_ACCEPT.join(", ")),
            )
            .await?;
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(false),
            s if s.is_success() => Ok(true),
            s => Err(RegistryError::UnexpectedStatus {
                registry: repo.registry.clone(),
                status: s.as_u16(),
                url,
            }),
        }
    }

    async fn blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        max_bytes: u64,
    ) -> Result<Bytes, RegistryError> {
        let url = format!(
            "{}/v2/{}/blobs/{}",
            self.host(&repo.registry).base,
            repo.path,
            digest
        );
        let resp = self.get(repo, &url, None).await?;
        match resp.status() {
            StatusCode::NOT_FOUND => {
                return Err(RegistryError::NotFound {
                    repository: repo.to_string(),
                    what: format!("blob {digest}"),
                });
            }
            s if s.is_success() => {}
            s => {
                return Err(RegistryError::UnexpectedStatus {
                    registry: repo.registry.clone(),
                    status: s.as_u16(),
                    url,
                });
            }
        }
        let bytes = read_limited(resp, max_bytes, &url, self.opts.timeout).await?;
        if !digest.matches(&bytes) {
            return Err(RegistryError::DigestMismatch {
                what: format!("blob {repo}@{digest}"),
                expected: digest.to_string(),
                actual: Digest::sha256_of(&bytes).to_string(),
            });
        }
        Ok(bytes)
    }

    async fn referrers(
        &self,
        repo: &Repository,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<Vec<Descriptor>>, RegistryError> {
        match self.referrers_api_known(&repo.registry) {
            Some(false) => return Ok(None),
            Some(true) => {}
            None => {
                let lock = self
                    .referrers_probe
                    .lock()
                    .map_err(|_| RegistryError::Unavailable {
                        registry: repo.registry.clone(),
                        message: "internal lock poisoned".into(),
                    })?
                    .entry(repo.registry.clone())
                    .or_default()
                    .clone();
                let _probe = lock.lock().await;
                if self.referrers_api_known(&repo.registry) == Some(false) {
                    return Ok(None);
                }
                return self.referrers_fetch(repo, digest, artifact_type).await;
            }
        }
        self.referrers_fetch(repo, digest, artifact_type).await
    }

    fn source(&self) -> SignatureSource {
        SignatureSource::LegacyTag
    }
}

impl HttpRegistry {
    /// What is known of the registry's referrers API (within the memo's TTL).
    fn referrers_api_known(&self, registry: &str) -> Option<bool> {
        self.referrers_api
            .lock()
            .ok()
            .and_then(|m| m.get(registry).copied())
            .filter(|(_, at)| at.elapsed() < NO_REFERRERS_API_TTL)
            .map(|(supported, _)| supported)
    }

    fn remember_referrers_api(&self, registry: &str, supported: bool) {
        if let Ok(mut m) = self.referrers_api.lock() {
            m.insert(registry.to_owned(), (supported, std::time::Instant::now()));
        }
    }

    async fn referrers_fetch(
        &self,
        repo: &Repository,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<Vec<Descriptor>>, RegistryError> {
        let base = self.host(&repo.registry).base.clone();
        let mut url = format!("{base}/v2/{}/referrers/{digest}", repo.path);
        if let Some(t) = artifact_type {
            url = format!(
                "{url}?artifactType={}",
                crate::base::reference::percent_encode(t)
            );
        }
        let mut out = Vec::new();
        for page in 0..MAX_REFERRER_PAGES {
            let resp = self.get(repo, &url, Some(OCI_INDEX)).await?;
            match resp.status() {
                s @ (StatusCode::NOT_FOUND
                | StatusCode::METHOD_NOT_ALLOWED
                | StatusCode::BAD_REQUEST)
                    if page == 0 =>
                {
                    if s != StatusCode::BAD_REQUEST {
                        self.remember_referrers_api(&repo.registry, false);
                    }
                    return Ok(None);
                }
                s if s.is_success() => {}
                s => {
                    return Err(RegistryError::UnexpectedStatus {
                        registry: repo.registry.clone(),
                        status: s.as_u16(),
                        url,
                    });
                }
            }
            let is_index = resp
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|t| t.starts_with(OCI_INDEX));
            let next = next_link(resp.headers(), &base);
            let bytes = read_limited(resp, MAX_MANIFEST_BYTES, &url, self.opts.timeout).await?;
            let index: Index = match serde_json::from_slice(&bytes) {
                Ok(i) => i,
                // a registry without the API may answer 200 with something else (an HTML page)
                Err(_) if page == 0 && !is_index => return Ok(None),
                Err(e) => {
                    return Err(RegistryError::Malformed {
                        what: format!("referrers of {repo}@{digest}"),
                        message: format!("not an image index: {e}"),
                    });
                }
            };
            out.extend(
                index.manifests.into_iter().filter(|d| {
                    artifact_type.is_none_or(|t| d.artifact_type.as_deref() == Some(t))
                }),
            );
            if out.len() > MAX_REFERRERS {
                return Err(RegistryError::Malformed {
                    what: format!("referrers of {repo}@{digest}"),
                    message: format!("more than {MAX_REFERRERS} referrers"),
                });
            }
            match next {
                Some(n) => url = n,
                None => {
                    self.remember_referrers_api(&repo.registry, true);
                    return Ok(Some(out));
                }
            }
        }
        Err(RegistryError::Malformed {
            what: format!("referrers of {repo}@{digest}"),
            message: format!("more than {MAX_REFERRER_PAGES} pages"),
        })
    }
}

impl HttpRegistry {
    /// Lists the tags of `repo` (`GET /v2/<name>/tags/list?n=1000`), following `Link:
    /// <…>; rel="next"` pages on the same registry up to [`super::MAX_TAG_PAGES`] pages and
    /// [`super::MAX_TAGS`] tags (more is an error, never a silently cut list). 429 and 5xx
    /// are retried with `Retry-After` as every request is.
    ///
    /// # Errors
    /// [`RegistryError`]: unreachable, refused, not found, malformed or too long a listing.
    pub async fn tags(&self, repo: &Repository) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let base = self.host(&repo.registry).base.clone();
        let mut url = format!(
            "{base}/v2/{}/tags/list?n={}",
            repo.path,
            super::TAGS_PAGE_SIZE
        );
        let mut out: Vec<String> = Vec::new();
        for _ in 0..super::MAX_TAG_PAGES {
            let resp = self.get(repo, &url, Some("application/json")).await?;
            match resp.status() {
                s if s.is_success() => {}
                StatusCode::NOT_FOUND => {
                    return Err(RegistryError::NotFound {
                        repository: repo.to_string(),
                        what: "tags".into(),
                    });
                }
                s => {
                    return Err(RegistryError::UnexpectedStatus {
                        registry: repo.registry.clone(),
                        status: s.as_u16(),
                        url,
                    });
                }
            }
            let next = next_link(resp.headers(), &base);
            let bytes =
                read_limited(resp, super::MAX_TAG_PAGE_BYTES, &url, self.opts.timeout).await?;
            let page: TagList =
                serde_json::from_slice(&bytes).map_err(|e| RegistryError::Malformed {
                    what: format!("tags of {repo}"),
                    message: format!("not a tag list: {e}"),
                })?;
            out.extend(page.tags.unwrap_or_default());
            if out.len() > super::MAX_TAGS {
                return Err(RegistryError::Malformed {
                    what: format!("tags of {repo}"),
                    message: format!("more than {} tags", super::MAX_TAGS),
                });
            }
            match next {
                Some(n) => url = n,
                None => return Ok(out),
            }
        }
        Err(RegistryError::Malformed {
            what: format!("tags of {repo}"),
            message: format!("more than {} pages", super::MAX_TAG_PAGES),
        })
    }
}

/// Reads a body, failing as soon as it exceeds `limit` (announced or actual).
async fn read_limited(
    resp: reqwest::Response,
    limit: u64,
    url: &str,
    timeout: Duration,
) -> Result<Bytes, RegistryError> {
    let too_large = || RegistryError::TooLarge {
        url: url.to_string(),
        limit,
    };
    if let Some(len) = resp
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit
    {
        return Err(too_large());
    }
    let mut out = BytesMut::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            if e.is_timeout() {
                RegistryError::Timeout {
                    url: url.to_string(),
                    seconds: timeout.as_secs(),
                }
            } else {
                RegistryError::Unavailable {
                    registry: url.to_string(),
                    message: crate::base::error::chain(&e),
                }
            }
        })?;
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let v = h.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// `Bearer realm="…",service="…",scope="…"`.
fn parse_challenge(h: &HeaderMap) -> Option<AuthScheme> {
    let v = h.get(WWW_AUTHENTICATE)?.to_str().ok()?;
    let (scheme, params) = v.trim().split_once(' ').unwrap_or((v.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(AuthScheme::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    for (k, val) in parse_params(params) {
        match k.to_ascii_lowercase().as_str() {
            "realm" => realm = Some(val),
            "service" => service = Some(val),
            _ => {}
        }
    }
    Some(AuthScheme::Bearer {
        realm: realm?,
        service,
    })
}

fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((k, after)) = rest.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_string();
        let after = after.trim_start();
        let (val, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_string(), &after[end..]),
                None => (after.trim().to_string(), ""),
            }
        };
        out.push((k, val));
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn referrers_pages_follow_same_registry_links_only() {
        let base = "https://r.example";
        let link = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(reqwest::header::LINK, HeaderValue::from_str(v).unwrap());
            next_link(&h, base)
        };
        assert_eq!(
            link(r#"</v2/a/referrers/sha256:1?n=10&last=x>; rel="next""#).as_deref(),
            Some("https://r.example/v2/a/referrers/sha256:1?n=10&last=x")
        );
        assert_eq!(
            link(r#"<https://r.example/v2/a/referrers/sha256:1?page=2>;rel=next"#).as_deref(),
            Some("https://r.example/v2/a/referrers/sha256:1?page=2")
        );
        assert_eq!(link(r#"<https://evil.example/steal>; rel="next""#), None);
        assert_eq!(link(r#"<https://r.example.evil/x>; rel="next""#), None);
        assert_eq!(link(r#"</v2/a/x>; rel="prev""#), None);
        assert_eq!(link("garbage"), None);
        assert_eq!(next_link(&HeaderMap::new(), base), None);
        assert_eq!(
            crate::base::reference::percent_encode("application/vnd.dev.sigstore.bundle.v0.3+json"),
            "application%2Fvnd.dev.sigstore.bundle.v0.3%2Bjson"
        );
    }

    #[test]
    fn parses_bearer_challenge() {
        let mut h = HeaderMap::new();
        h.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#),
        );
        match parse_challenge(&h) {
            Some(AuthScheme::Bearer { realm, service }) => {
                assert_eq!(realm, "https://auth.docker.io/token");
                assert_eq!(service.as_deref(), Some("registry.docker.io"));
            }
            other => panic!("{other:?}"),
        }
        h.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="Registry Realm""#),
        );
        assert!(matches!(parse_challenge(&h), Some(AuthScheme::Basic)));
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }
}
