//! An OCI image layout directory as a registry (`--offline --oci-layout DIR`).
//!
//! `index.json` names manifests through the `org.opencontainers.image.ref.name`
//! annotation, either as a full reference (`ghcr.io/acme/web:1.0`,
//! `ghcr.io/acme/web:sha256-….sig`) or a bare tag (`1.0`, which then matches any
//! repository), or through containerd's `io.containerd.image.name` (a full reference).
//! Content is read from `blobs/<alg>/<hex>` with the same size limits as the network
//! and re-hashed. Symlinks inside `blobs/` are not followed.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::Deserialize;

use super::{
    Descriptor, Index, MAX_MANIFEST_BYTES, MAX_REFERRERS, Manifest, Registry, RegistryError,
};
use crate::base::evidence::SignatureSource;
use crate::base::reference::{Digest, ImageRef, Repository};

const MAX_INDEX_BYTES: u64 = 16 * 1024 * 1024;

/// A loaded OCI layout.
#[derive(Debug)]
pub struct OciLayout {
    root: PathBuf,
    /// full reference "registry/path:tag" → digest
    full: HashMap<String, Digest>,
    /// bare tag → digest
    bare: HashMap<String, Digest>,
    /// every manifest listed by `index.json` (referrers are found among them)
    listed: Vec<Digest>,
}

impl OciLayout {
    /// Opens a layout directory (needs `oci-layout` and `index.json`).
    ///
    /// # Errors
    /// [`RegistryError::Malformed`] when the directory is not a readable OCI layout.
    pub fn open(root: &Path) -> Result<Self, RegistryError> {
        let bad = |message: String| RegistryError::Malformed {
            what: format!("OCI layout {}", root.display()),
            message,
        };
        if !root.join("oci-layout").is_file() {
            return Err(bad("no oci-layout file: not an OCI image layout".into()));
        }
        let bytes =
            read_file(&root.join("index.json"), MAX_INDEX_BYTES).map_err(|e| bad(e.to_string()))?;
        let index: Index =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("index.json: {e}")))?;
        let mut full = HashMap::new();
        let mut bare = HashMap::new();
        let mut listed = Vec::new();
        for m in index.manifests {
            let digest = Digest::parse(&m.digest).map_err(|e| bad(format!("index.json: {e}")))?;
            listed.push(digest.clone());
            for key in [
                "io.containerd.image.name",
                "org.opencontainers.image.ref.name",
            ] {
                let Some(name) = m.annotations.get(key) else {
                    continue;
                };
                if name.contains('/') {
                    if let Ok(r) = ImageRef::parse(name)
                        && let Some(t) = r.tag()
                    {
                        full.insert(format!("{}:{t}", r.name()), digest.clone());
                    }
                } else {
                    bare.insert(name.clone(), digest.clone());
                }
            }
        }
        Ok(Self {
            root: root.to_path_buf(),
            full,
            bare,
            listed,
        })
    }

    /// The tags `index.json` names for `repo` (full references of it, and bare tags).
    pub fn tags(&self, repo: &Repository) -> Vec<String> {
        let prefix = format!("{}:", repo);
        let mut tags: Vec<String> = self
            .full
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned))
            .chain(self.bare.keys().cloned())
            .collect();
        tags.sort();
        tags.dedup();
        tags
    }

    fn blob_path(&self, d: &Digest) -> PathBuf {
        let alg = d.to_string();
        let alg = alg.split(':').next().unwrap_or("sha256");
        self.root.join("blobs").join(alg).join(d.hex())
    }

    fn read_blob(&self, d: &Digest, limit: u64) -> Result<Option<Bytes>, RegistryError> {
        let path = self.blob_path(d);
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(RegistryError::Unavailable {
                    registry: self.root.display().to_string(),
                    message: format!("{}: {e}", path.display()),
                });
            }
            Ok(m) if !m.file_type().is_file() => {
                return Err(RegistryError::Malformed {
                    what: format!("blob {d}"),
                    message: "not a regular file (symlinks are not followed)".into(),
                });
            }
            Ok(_) => {}
        }
        let bytes = read_file(&path, limit).map_err(|e| match e {
            ReadError::TooLarge => RegistryError::TooLarge {
                url: path.display().to_string(),
                limit,
            },
            ReadError::Io(e) => RegistryError::Unavailable {
                registry: self.root.display().to_string(),
                message: format!("{}: {e}", path.display()),
            },
        })?;
        if !d.matches(&bytes) {
            return Err(RegistryError::DigestMismatch {
                what: format!("blob {d} in {}", self.root.display()),
                expected: d.to_string(),
                actual: Digest::sha256_of(&bytes).to_string(),
            });
        }
        Ok(Some(bytes))
    }
}

#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("file is larger than the limit")]
    TooLarge,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

fn read_file(path: &Path, limit: u64) -> Result<Bytes, ReadError> {
    let f =
        crate::base::files::open_regular(path).map_err(crate::base::files::FileError::into_io)?;
    let mut buf = Vec::new();
    f.take(limit.saturating_add(1)).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(ReadError::TooLarge);
    }
    Ok(buf.into())
}

impl Registry for OciLayout {
    async fn manifest(
        &self,
        repo: &Repository,
        reference: &str,
    ) -> Result<Option<Manifest>, RegistryError> {
        let digest = if reference.contains(':') {
            Digest::parse(reference).map_err(|e| RegistryError::Malformed {
                what: format!("manifest {repo}@{reference}"),
                message: e.to_string(),
            })?
        } else {
            match self
                .full
                .get(&format!("{repo}:{reference}"))
                .or_else(|| self.bare.get(reference))
            {
                Some(d) => d.clone(),
                None => return Ok(None),
            }
        };
        let Some(bytes) = self.read_blob(&digest, MAX_MANIFEST_BYTES)? else {
            return Ok(None);
        };
        let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("mediaType")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            });
        Ok(Some(Manifest {
            bytes,
            digest,
            media_type,
        }))
    }

    async fn blob(
        &self,
        repo: &Repository,
        digest: &Digest,
        max_bytes: u64,
    ) -> Result<Bytes, RegistryError> {
        self.read_blob(digest, max_bytes)?
            .ok_or_else(|| RegistryError::NotFound {
                repository: repo.to_string(),
                what: format!("blob {digest}"),
            })
    }

    /// Referrers in a layout are the manifests `index.json` lists whose `subject` is the
    /// digest (as `oras copy --to-oci-layout` and cosign v3 write them).
    async fn referrers(
        &self,
        repo: &Repository,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<Vec<Descriptor>>, RegistryError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Referrer {
            #[serde(default)]
            media_type: String,
            #[serde(default)]
            artifact_type: Option<String>,
            #[serde(default)]
            config: Option<Config>,
            #[serde(default)]
            subject: Option<Descriptor>,
            #[serde(default)]
            annotations: std::collections::BTreeMap<String, String>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Config {
            #[serde(default)]
            media_type: String,
        }
        let mut out = Vec::new();
        for d in self.listed.iter().take(MAX_REFERRERS) {
            let Some(bytes) = self.read_blob(d, MAX_MANIFEST_BYTES)? else {
                continue;
            };
            let Ok(m) = serde_json::from_slice::<Referrer>(&bytes) else {
                continue;
            };
            if m.subject
                .as_ref()
                .is_none_or(|s| s.digest != digest.to_string())
            {
                continue;
            }
            let kind = m.artifact_type.or_else(|| m.config.map(|c| c.media_type));
            if artifact_type.is_some_and(|t| kind.as_deref() != Some(t)) {
                continue;
            }
            out.push(Descriptor {
                media_type: m.media_type,
                digest: d.to_string(),
                size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
                artifact_type: kind,
                annotations: m.annotations,
            });
        }
        let _ = repo;
        Ok(Some(out))
    }

    fn source(&self) -> SignatureSource {
        SignatureSource::OciLayout
    }
}
