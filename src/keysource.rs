//! Where a key comes from, as cosign names it: a file path, `env://NAME` (the PEM in an
//! environment variable, as CI secrets are usually exposed), or `k8s://namespace/name` (a
//! Kubernetes Secret with `cosign.pub` / `cosign.key` / `cosign.password`). Used by policy
//! `key.path` and by `--key` flags. Reads happen once, at start-up.

use std::path::{Path, PathBuf};

/// Largest key file or variable accepted.
const MAX_KEY_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    File(PathBuf),
    Env(String),
    Kubernetes { namespace: String, name: String },
}

#[derive(Debug, thiserror::Error)]
pub enum KeySourceError {
    #[error("{0:?} is not a key reference (a path, env://NAME or k8s://namespace/name)")]
    Invalid(String),
    #[error("cannot read key file {path}")]
    ReadFailed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("key file {0} is larger than 1 MiB")]
    TooLarge(PathBuf),
    #[error("environment variable {0} is not set or not UTF-8")]
    EnvUnset(String),
    #[error(
        "k8s://{namespace}/{name}: Kubernetes Secret key sources are not supported yet by this version of sealgate"
    )]
    KubernetesUnsupported { namespace: String, name: String },
}

impl KeySource {
    /// Parses a reference; relative file paths resolve against `base`.
    ///
    /// # Errors
    /// [`KeySourceError::Invalid`] for an empty or malformed reference.
    pub fn parse(s: &str, base: &Path) -> Result<Self, KeySourceError> {
        let invalid = || KeySourceError::Invalid(s.to_string());
        if let Some(name) = s.strip_prefix("env://") {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(invalid());
            }
            return Ok(Self::Env(name.to_string()));
        }
        if let Some(rest) = s.strip_prefix("k8s://") {
            return match rest.split_once('/') {
                Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                    Ok(Self::Kubernetes {
                        namespace: ns.to_string(),
                        name: name.to_string(),
                    })
                }
                _ => Err(invalid()),
            };
        }
        if s.is_empty() || s.contains("://") {
            return Err(invalid());
        }
        Ok(Self::File(base.join(s)))
    }

    /// Reads the PEM text (public or private key, as stored).
    ///
    /// # Errors
    /// [`KeySourceError`] when it cannot be read.
    pub fn read(&self) -> Result<String, KeySourceError> {
        match self {
            Self::File(path) => {
                let meta =
                    std::fs::metadata(path).map_err(|source| KeySourceError::ReadFailed {
                        path: path.clone(),
                        source,
                    })?;
                if meta.len() > MAX_KEY_BYTES {
                    return Err(KeySourceError::TooLarge(path.clone()));
                }
                std::fs::read_to_string(path).map_err(|source| KeySourceError::ReadFailed {
                    path: path.clone(),
                    source,
                })
            }
            Self::Env(name) => {
                std::env::var(name).map_err(|_| KeySourceError::EnvUnset(name.clone()))
            }
            Self::Kubernetes { namespace, name } => Err(KeySourceError::KubernetesUnsupported {
                namespace: namespace.clone(),
                name: name.clone(),
            }),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_cosign_style_references() {
        let base = Path::new("/etc/policies");
        assert_eq!(
            KeySource::parse("keys/ci.pub", base).unwrap(),
            KeySource::File(base.join("keys/ci.pub"))
        );
        assert_eq!(
            KeySource::parse("/abs.pub", base).unwrap(),
            KeySource::File(PathBuf::from("/abs.pub"))
        );
        assert_eq!(
            KeySource::parse("env://COSIGN_PUB", base).unwrap(),
            KeySource::Env("COSIGN_PUB".into())
        );
        assert_eq!(
            KeySource::parse("k8s://signing/ci-key", base).unwrap(),
            KeySource::Kubernetes {
                namespace: "signing".into(),
                name: "ci-key".into()
            }
        );
        for bad in [
            "",
            "env://",
            "env://A-B",
            "k8s://ns",
            "k8s:///x",
            "k8s://a/b/c",
            "awskms://x",
        ] {
            assert!(KeySource::parse(bad, base).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_files_and_reports_missing_sources() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("k.pub"), "PEM").unwrap();
        assert_eq!(
            KeySource::parse("k.pub", d.path()).unwrap().read().unwrap(),
            "PEM"
        );
        assert!(matches!(
            KeySource::parse("missing.pub", d.path()).unwrap().read(),
            Err(KeySourceError::ReadFailed { .. })
        ));
        assert!(matches!(
            KeySource::Env("SEALGATE_TEST_SURELY_UNSET_VAR".into()).read(),
            Err(KeySourceError::EnvUnset(_))
        ));
        assert!(matches!(
            KeySource::parse("k8s://a/b", d.path()).unwrap().read(),
            Err(KeySourceError::KubernetesUnsupported { .. })
        ));
    }
}
