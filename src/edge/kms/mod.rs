//! Key managers: keys that never leave a server, named as cosign names them.
//!
//! - [`vault`]: HashiCorp Vault / OpenBao transit keys (`hashivault://NAME`).
//!
//! The URIs are parsed by the pure [`crate::policy::keysource`] (`KeySource::Kms`); this
//! module talks to the servers.

pub mod vault;

pub use crate::policy::keysource::KmsUri;

use crate::crypto::{PrivateKey, PublicKey};

/// A key that signs: a decrypted key file, or a key manager key used over the network.
#[derive(Debug)]
pub enum Signer {
    Local(Box<PrivateKey>),
    /// A transit key.
    Vault(Box<TransitSigner>),
}

/// A Vault client and the transit key it signs with: the key's versions are read on first
/// use and again when Vault signs with a version not seen yet (a rotation).
#[derive(Debug)]
pub struct TransitSigner {
    vault: vault::Vault,
    name: String,
    key: tokio::sync::Mutex<Option<vault::TransitKey>>,
}

impl TransitSigner {
    /// # Errors
    /// [`vault::VaultError::Config`] for a name Vault would not take.
    pub fn new(vault: vault::Vault, name: &str) -> Result<Self, vault::VaultError> {
        vault::check_key_name(name)?;
        Ok(Self {
            vault,
            name: name.to_string(),
            key: tokio::sync::Mutex::new(None),
        })
    }

    /// The transit key `name` of the Vault the environment names ([`vault::Vault::from_env`]).
    ///
    /// # Errors
    /// As [`vault::Vault::from_env`] and [`TransitSigner::new`].
    pub fn from_env(name: &str) -> Result<Self, vault::VaultError> {
        Self::new(vault::Vault::from_env()?, name)
    }

    /// The key as read (now, unless it was read before).
    async fn key(
        &self,
    ) -> Result<tokio::sync::MutexGuard<'_, Option<vault::TransitKey>>, vault::VaultError> {
        let mut guard = self.key.lock().await;
        if guard.is_none() {
            *guard = Some(self.vault.key(&self.name).await?);
        }
        Ok(guard)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error(transparent)]
    Local(#[from] crate::crypto::KeyFileError),
    #[error(transparent)]
    Vault(#[from] vault::VaultError),
    #[error("transit key {0:?} lists no newest version")]
    NoLatestVersion(String),
}

impl Signer {
    /// The public key new signatures verify with (a transit key's newest version).
    ///
    /// # Errors
    /// [`SignerError`] when the transit key cannot be read or lists no newest version.
    pub async fn public_key(&self) -> Result<PublicKey, SignerError> {
        match self {
            Self::Local(k) => Ok(k.public_key()),
            Self::Vault(t) => {
                let guard = t.key().await?;
                guard
                    .as_ref()
                    .and_then(vault::TransitKey::latest)
                    .map(|v| v.key.clone())
                    .ok_or_else(|| SignerError::NoLatestVersion(t.name.clone()))
            }
        }
    }

    /// Signs `message` (DER ECDSA, PKCS#1 v1.5 RSA or raw Ed25519, as cosign writes them).
    ///
    /// # Errors
    /// [`SignerError`] when the key or the key manager refuses.
    pub async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        match self {
            Self::Local(k) => Ok(k.sign(message)?),
            Self::Vault(t) => {
                let mut guard = t.key().await?;
                let Some(key) = guard.as_mut() else {
                    return Err(SignerError::NoLatestVersion(t.name.clone()));
                };
                Ok(t.vault.sign_with(key, message).await?.0)
            }
        }
    }

    /// A DSSE envelope (cosign's byte layout) over the in-toto statement `body`.
    ///
    /// # Errors
    /// As [`Signer::sign`].
    pub async fn envelope(&self, body: &[u8]) -> Result<Vec<u8>, SignerError> {
        use crate::attest::{IN_TOTO_PAYLOAD_TYPE, pae, signed_envelope};
        let sig = self.sign(&pae(IN_TOTO_PAYLOAD_TYPE, body)).await?;
        Ok(signed_envelope(body, &sig))
    }
}
