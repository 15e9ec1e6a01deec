//! The webhook's serving certificate: read from `--tls-cert` / `--tls-key` (PEM), checked to
//! belong together, and reloaded when either file changes (cert-manager renewing the Secret,
//! the kubelet swapping the mounted `..data` symlink) without dropping connections: every TLS
//! handshake looks at the files' metadata and, when it changed, loads the new pair. A new pair
//! that does not load (half written, mismatched) is logged and the old one is kept; the next
//! handshake tries again.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Largest certificate chain or key file read.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// Why the serving certificate could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read (the message names it).
    #[error(transparent)]
    Read(#[from] crate::base::files::FileError),
    /// No `CERTIFICATE` PEM block (or one that does not decode).
    #[error("{path}: no PEM certificate in the file{}", detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    NoCertificate {
        path: PathBuf,
        detail: Option<String>,
    },
    /// No private key PEM block (PKCS#8, PKCS#1 or SEC1).
    #[error("{path}: no PEM private key in the file ({detail})")]
    NoKey { path: PathBuf, detail: String },
    /// The key is of a kind the TLS provider cannot sign with.
    #[error("{path}: unsupported private key: {detail}")]
    UnsupportedKey { path: PathBuf, detail: String },
    /// The key is not the certificate's.
    #[error("{key} is not the private key of the certificate in {cert}")]
    Mismatch { cert: PathBuf, key: PathBuf },
    /// The TLS configuration could not be built.
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// What identifies a file version: modification time, length and inode of both files.
type Stamp = Option<[(std::time::SystemTime, u64, u64); 2]>;

fn stamp(cert: &Path, key: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt as _;
    let one = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len(), m.ino())))
    };
    Some([one(cert)?, one(key)?])
}

/// Loads and checks a certificate chain and its key.
///
/// # Errors
/// A file that cannot be read, holds no certificate or key, a key the provider cannot use, or a
/// key that is not the certificate's.
pub fn load_pair(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let read = |p: &Path| crate::base::files::read_regular(p, MAX_PEM_BYTES);
    let cert_pem = read(cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::NoCertificate {
            path: cert.to_path_buf(),
            detail: Some(e.to_string()),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_path_buf(),
            detail: None,
        });
    }
    let key_pem = read(key)?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::NoKey {
        path: key.to_path_buf(),
        detail: e.to_string(),
    })?;
    let signing = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| TlsError::UnsupportedKey {
            path: key.to_path_buf(),
            detail: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::Mismatch {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            })
        }
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(certified),
        Err(e) => Err(TlsError::NoCertificate {
            path: cert.to_path_buf(),
            detail: Some(e.to_string()),
        }),
    }
}

/// The serving certificate, reloaded on change (see the module docs).
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Mutex<(Stamp, Arc<CertifiedKey>)>,
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ReloadingCert {
    /// Loads the pair once (refusing to start on any [`TlsError`]).
    ///
    /// # Errors
    /// See [`load_pair`].
    pub fn load(cert: &Path, key: &Path, provider: Arc<CryptoProvider>) -> Result<Self, TlsError> {
        let stamp = stamp(cert, key);
        let pair = load_pair(cert, key, &provider)?;
        Ok(Self {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider,
            current: Mutex::new((stamp, Arc::new(pair))),
        })
    }

    /// The pair to present now, reloading first when the files changed.
    pub fn current(&self) -> Option<Arc<CertifiedKey>> {
        let mut guard = self.current.lock().ok()?;
        let now = stamp(&self.cert, &self.key);
        if now.is_some() && now != guard.0 {
            match load_pair(&self.cert, &self.key, &self.provider) {
                Ok(pair) => {
                    tracing::info!(cert = %self.cert.display(), "serving certificate reloaded");
                    *guard = (now, Arc::new(pair));
                }
                Err(e) => {
                    // keep serving the old pair; the next handshake tries again
                    tracing::warn!(error = %e, "serving certificate changed but does not load; keeping the previous one");
                }
            }
        }
        Some(guard.1.clone())
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current()
    }
}

/// The TLS provider of the whole program (aws-lc-rs, as kube and reqwest use).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A server configuration presenting `cert` (TLS 1.2 and 1.3, HTTP/1.1 by ALPN).
///
/// # Errors
/// The provider does not support the default protocol versions.
pub fn server_config(cert: Arc<ReloadingCert>) -> Result<rustls::ServerConfig, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(cert.provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
