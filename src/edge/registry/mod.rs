//! The registry edge: everything that fetches bytes of images and signatures.
//!
//! The core owns the small [`Registry`] trait; two backends implement it: [`http`]
//! (the OCI distribution API over HTTPS, with docker credentials, bearer tokens, size
//! limits, timeouts, retries honouring `Retry-After` and a per-registry concurrency
//! budget) and [`layout`] (an OCI image layout directory, for `--offline`). Both
//! re-hash every manifest and blob they return and reject a mismatch.
//! [`discovery`] finds and fetches cosign signature objects through the trait.

pub mod credentials;
pub mod discovery;
pub mod http;
pub mod layout;
pub mod store;
pub mod trace;

use std::future::Future;

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Deserialize;

use crate::base::evidence::SignatureSource;
use crate::base::reference::{Digest, Repository};
use crate::base::verdict::{Reason, ReasonCode};

/// Media types accepted for manifests (image manifests and indexes, OCI and Docker).
pub const MANIFEST_ACCEPT: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// Largest manifest accepted (distribution's own limit is 4 MiB).
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// A manifest as fetched, with the digest computed over its bytes.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: Bytes,
    pub digest: Digest,
    pub media_type: Option<String>,
}

/// Media type of an OCI image index (the referrers API answers with one).
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Most referrers considered for one digest (all pages together).
pub const MAX_REFERRERS: usize = 1024;
/// Most pages of a paginated referrers answer followed.
pub const MAX_REFERRER_PAGES: usize = 16;
/// Tags asked for per page of a tags listing (`n=`).
pub const TAGS_PAGE_SIZE: usize = 1000;
/// Pages of a tags listing followed at most.
pub const MAX_TAG_PAGES: usize = 100;
/// Tags of one repository listed at most.
pub const MAX_TAGS: usize = 100_000;
/// Largest page of a tags listing.
pub const MAX_TAG_PAGE_BYTES: u64 = 8 * 1024 * 1024;

/// An OCI content descriptor, as listed by an index or the referrers API.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: i64,
    #[serde(default)]
    pub artifact_type: Option<String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image index (only what discovery reads).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// Why the registry edge could not fetch something. Every variant means "could not
/// check" and maps to an `unverifiable` reason code through [`RegistryError::reason`].
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry {registry} is unavailable: {message}")]
    Unavailable { registry: String, message: String },
    #[error("registry {registry} is rate limiting requests (HTTP 429) after {attempts} attempts")]
    RateLimited { registry: String, attempts: u32 },
    #[error("registry {registry} refused access to {repository} (HTTP {status}){hint}")]
    AuthFailed {
        registry: String,
        repository: String,
        status: u16,
        hint: String,
    },
    #[error("{what} not found in {repository}")]
    NotFound { repository: String, what: String },
    #[error("{url}: response is larger than the {limit}-byte limit")]
    TooLarge { url: String, limit: u64 },
    #[error("{what}: content digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{url}: timed out after {seconds} s")]
    Timeout { url: String, seconds: u64 },
    #[error("{what}: {message}")]
    Malformed { what: String, message: String },
    #[error("registry {registry}: unexpected HTTP {status} for {url}")]
    UnexpectedStatus {
        registry: String,
        status: u16,
        url: String,
    },
    #[error("credentials for {registry}: {message}")]
    Credentials { registry: String, message: String },
}

impl RegistryError {
    /// The contract's reason code for this failure.
    pub fn code(&self) -> ReasonCode {
        match self {
            Self::Unavailable { .. } | Self::UnexpectedStatus { .. } => {
                ReasonCode::RegistryUnavailable
            }
            Self::RateLimited { .. } => ReasonCode::RegistryRateLimited,
            Self::AuthFailed { .. } | Self::Credentials { .. } => ReasonCode::RegistryAuthFailed,
            Self::NotFound { .. } => ReasonCode::ImageNotFound,
            Self::TooLarge { .. } => ReasonCode::ResponseTooLarge,
            Self::DigestMismatch { .. } => ReasonCode::ContentDigestMismatch,
            Self::Timeout { .. } => ReasonCode::Timeout,
            Self::Malformed { .. } => ReasonCode::MalformedSignature,
        }
    }
    /// As a report reason.
    pub fn reason(&self) -> Reason {
        Reason::new(self.code(), self.to_string())
    }
}

/// What the core needs from a registry. Implementations re-hash all content.
pub trait Registry: Send + Sync {
    /// Fetches a manifest by tag or digest (`sha256:…`). `Ok(None)` when it does not exist.
    /// When `reference` is a digest, the returned bytes hash to it.
    fn manifest(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> impl Future<Output = Result<Option<Manifest>, RegistryError>> + Send;

    /// Whether the manifest `digest` exists in `repo` (HTTP: one `HEAD`, no body read).
    /// Asked only when an image pinned by digest has no signature, to tell `NoSignature`
    /// from `ImageNotFound`.
    fn manifest_exists(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> impl Future<Output = Result<bool, RegistryError>> + Send {
        async move {
            self.manifest(repo, &digest.to_string())
                .await
                .map(|m| m.is_some())
        }
    }

    /// Fetches a blob, at most `max_bytes`, re-hashed against `digest`.
    fn blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        max_bytes: u64,
    ) -> impl Future<Output = Result<Bytes, RegistryError>> + Send;

    /// Lists the referrers of `digest` (OCI distribution 1.1 `GET /v2/<name>/referrers/<digest>`),
    /// only those of `artifact_type` when given (filtered here too, whatever the server
    /// did), following `Link: <…>; rel="next"` pages up to [`MAX_REFERRER_PAGES`] and
    /// [`MAX_REFERRERS`]. `Ok(None)` when the backend has no referrers API (404, 405, 400, or
    /// an answer that is not an image index): callers then read the `sha256-<hex>` fallback tag.
    /// The listing itself is not content-addressed; every manifest it names is fetched by
    /// digest and re-hashed.
    fn referrers(
        &self,
        repo: &Repository,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> impl Future<Output = Result<Option<Vec<Descriptor>>, RegistryError>> + Send;

    /// How signatures found through this backend are reported.
    fn source(&self) -> SignatureSource;
}

/// Checks fetched manifest bytes against the digest that was asked for (if a digest) or
/// the one the server announced (if any), and returns the computed digest.
pub(crate) fn check_manifest_digest(
    what: &str,
    bytes: &[u8],
    requested: &str,
    announced: Option<&str>,
) -> Result<Digest, RegistryError> {
    let computed = Digest::sha256_of(bytes);
    let expected = if requested.contains(':') {
        Some(requested)
    } else {
        announced
    };
    if let Some(exp) = expected {
        let ok = match Digest::parse(exp) {
            Ok(d) => d.matches(bytes),
            Err(_) => false,
        };
        if !ok {
            return Err(RegistryError::DigestMismatch {
                what: what.to_string(),
                expected: exp.to_string(),
                actual: computed.to_string(),
            });
        }
        if let Ok(d) = Digest::parse(exp) {
            return Ok(d);
        }
    }
    Ok(computed)
}

/// Either backend, chosen at start-up (network, or an OCI layout for offline gates).
pub enum AnyRegistry {
    Http(http::HttpRegistry),
    Layout(layout::OciLayout),
}

impl AnyRegistry {
    /// The tags of `repo` (see [`http::HttpRegistry::tags`]; a layout lists the tags its
    /// `index.json` names for the repository, bare tags included).
    ///
    /// # Errors
    /// [`RegistryError`].
    pub async fn tags(&self, repo: &Repository) -> Result<Vec<String>, RegistryError> {
        match self {
            Self::Http(h) => h.tags(repo).await,
            Self::Layout(l) => Ok(l.tags(repo)),
        }
    }

    /// Registry requests made so far (0 for a layout).
    pub fn requests(&self) -> u64 {
        match self {
            Self::Http(h) => h.requests(),
            Self::Layout(_) => 0,
        }
    }
}

impl Registry for AnyRegistry {
    async fn manifest(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<Option<Manifest>, RegistryError> {
        match self {
            Self::Http(h) => h.manifest(repo, reference).await,
            Self::Layout(l) => l.manifest(repo, reference).await,
        }
    }

    async fn manifest_exists(
        &self,
        repo: &Repository,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        match self {
            Self::Http(h) => h.manifest_exists(repo, digest).await,
            Self::Layout(l) => l.manifest_exists(repo, digest).await,
        }
    }

    async fn blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        max_bytes: u64,
    ) -> Result<Bytes, RegistryError> {
        match self {
            Self::Http(h) => h.blob(repo, digest, max_bytes).await,
            Self::Layout(l) => l.blob(repo, digest, max_bytes).await,
        }
    }

    async fn referrers(
        &self,
        repo: &Repository,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<Vec<Descriptor>>, RegistryError> {
        match self {
            Self::Http(h) => h.referrers(repo, digest, artifact_type).await,
            Self::Layout(l) => l.referrers(repo, digest, artifact_type).await,
        }
    }

    fn source(&self) -> SignatureSource {
        match self {
            Self::Http(h) => h.source(),
            Self::Layout(l) => l.source(),
        }
    }
}
