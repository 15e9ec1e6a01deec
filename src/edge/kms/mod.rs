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
    /// A transit key (its public keys read once, when the signer was made).
    Vault(Box<TransitSigner>),
}

/// A Vault client and the transit key it signs with.
#[derive(Debug)]
pub struct TransitSigner {
    pub vault: vault::Vault,
    pub key: vault::TransitKey,
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
    /// [`SignerError::NoLatestVersion`] for a transit key whose newest version is not listed.
    pub fn public_key(&self) -> Result<PublicKey, SignerError> {
        match self {
            Self::Local(k) => Ok(k.public_key()),
            Self::Vault(t) => t
                .key
                .latest()
                .map(|v| v.key.clone())
                .ok_or_else(|| SignerError::NoLatestVersion(t.key.name.clone())),
        }
    }

    /// Signs `message` (DER ECDSA, PKCS#1 v1.5 RSA or raw Ed25519, as cosign writes them).
    ///
    /// # Errors
    /// [`SignerError`] when the key or the key manager refuses.
    pub async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        match self {
            Self::Local(k) => Ok(k.sign(message)?),
            Self::Vault(t) => Ok(t.vault.sign_with(&t.key, message).await?.0),
        }
    }
}
