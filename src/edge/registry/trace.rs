//! A [`Registry`] that records every call and what it returned (`sealgate explain`): the
//! verification runs unchanged through it, so the record is exactly the discovery the
//! engine did — every path tried, its status and what it found.

use std::sync::Mutex;

use bytes::Bytes;

use super::{Descriptor, Manifest, Registry, RegistryError};
use crate::base::evidence::SignatureSource;
use crate::base::reference::{Digest, Repository};

/// Most calls recorded (the rest are counted only).
pub const MAX_CALLS: usize = 512;

/// One registry call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub repository: String,
    pub op: Op,
    pub outcome: Outcome,
}

/// What was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A manifest by tag or digest.
    Manifest { reference: String },
    /// A blob, with the size limit it was read under.
    Blob { digest: String, limit: u64 },
    /// The referrers API for a digest.
    Referrers {
        digest: String,
        artifact_type: Option<String>,
    },
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A manifest: its digest, media type and a summary of what it holds.
    Manifest {
        digest: String,
        media_type: Option<String>,
        size: usize,
        contents: Vec<Entry>,
    },
    /// A blob of this many bytes (its digest re-checked by the registry client).
    Blob { size: usize },
    /// The referrers API answered with these descriptors.
    Referrers { listed: Vec<Entry> },
    /// The registry has no referrers API (the fallback tag is tried instead).
    Unsupported,
    /// Not there (HTTP 404).
    NotFound,
    /// The call failed: the reason code and message.
    Failed { code: String, message: String },
}

/// A layer, an index entry or a listed referrer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub size: i64,
    /// The `predicateType` annotation (cosign `.att` layers, bundle referrers): what
    /// discovery fetches only when some rule accepts it.
    pub predicate_type: Option<String>,
}

impl From<&Descriptor> for Entry {
    fn from(d: &Descriptor) -> Self {
        Self {
            media_type: d.media_type.clone(),
            artifact_type: d.artifact_type.clone(),
            size: d.size,
            predicate_type: d
                .annotations
                .get("predicateType")
                .or_else(|| {
                    d.annotations
                        .get(crate::edge::registry::discovery::BUNDLE_PREDICATE_ANNOTATION)
                })
                .cloned(),
        }
    }
}

/// The layers (image or artifact manifest) or entries (index) of a manifest document.
pub fn contents(bytes: &[u8]) -> Vec<Entry> {
    #[derive(serde::Deserialize)]
    struct Doc {
        #[serde(default)]
        layers: Vec<Descriptor>,
        #[serde(default)]
        manifests: Vec<Descriptor>,
    }
    serde_json::from_slice::<Doc>(bytes)
        .map(|d| {
            d.layers
                .iter()
                .chain(d.manifests.iter())
                .take(64)
                .map(Entry::from)
                .collect()
        })
        .unwrap_or_default()
}

/// Records the calls made through `inner`.
#[derive(Debug)]
pub struct Traced<R> {
    inner: R,
    calls: Mutex<Vec<Call>>,
}

impl<R: Registry> Traced<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            calls: Mutex::new(Vec::new()),
        }
    }

    /// The calls so far, in the order they completed.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn record(&self, repo: &Repository, op: Op, outcome: Outcome) {
        if let Ok(mut c) = self.calls.lock()
            && c.len() < MAX_CALLS
        {
            c.push(Call {
                repository: repo.to_string(),
                op,
                outcome,
            });
        }
    }
}

fn failed(e: &RegistryError) -> Outcome {
    if matches!(e, RegistryError::NotFound { .. }) {
        return Outcome::NotFound;
    }
    Outcome::Failed {
        code: e.code().as_str().to_owned(),
        message: e.to_string(),
    }
}

impl<R: Registry> Registry for Traced<R> {
    async fn manifest(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<Option<Manifest>, RegistryError> {
        let r = self.inner.manifest(repo, reference).await;
        let outcome = match &r {
            Ok(Some(m)) => Outcome::Manifest {
                digest: m.digest.to_string(),
                media_type: m.media_type.clone(),
                size: m.bytes.len(),
                contents: contents(&m.bytes),
            },
            Ok(None) => Outcome::NotFound,
            Err(e) => failed(e),
        };
        self.record(
            repo,
            Op::Manifest {
                reference: reference.to_owned(),
            },
            outcome,
        );
        r
    }

    async fn blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        max_bytes: u64,
    ) -> Result<Bytes, RegistryError> {
        let r = self.inner.blob(repo, digest, max_bytes).await;
        let outcome = match &r {
            Ok(b) => Outcome::Blob { size: b.len() },
            Err(e) => failed(e),
        };
        self.record(
            repo,
            Op::Blob {
                digest: digest.to_string(),
                limit: max_bytes,
            },
            outcome,
        );
        r
    }

    async fn referrers(
        &self,
        repo: &Repository,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<Vec<Descriptor>>, RegistryError> {
        let r = self.inner.referrers(repo, digest, artifact_type).await;
        let outcome = match &r {
            Ok(Some(list)) => Outcome::Referrers {
                listed: list.iter().map(Entry::from).collect(),
            },
            Ok(None) => Outcome::Unsupported,
            Err(e) => failed(e),
        };
        self.record(
            repo,
            Op::Referrers {
                digest: digest.to_string(),
                artifact_type: artifact_type.map(str::to_owned),
            },
            outcome,
        );
        r
    }

    fn source(&self) -> SignatureSource {
        self.inner.source()
    }
}
