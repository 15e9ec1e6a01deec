//! Key managers: keys that never leave a server, named as cosign names them.
//!
//! - [`vault`]: HashiCorp Vault / OpenBao transit keys (`hashivault://NAME`).
//! - [`aws`]: AWS KMS keys (`awskms://[HOST:PORT]/KEY`).
//!
//! The URIs are parsed by the pure [`crate::policy::keysource`] (`KeySource::Kms`); this
//! module talks to the servers. Policies name keys that verify: compiling leaves each one an
//! unread [`KmsKeys`] cell, and [`activate`] reads them and keeps them fresh.

pub mod aws;
pub mod vault;

pub use crate::policy::keysource::KmsUri;

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::crypto::{PrivateKey, PublicKey};
use crate::policy::Policy;
use crate::policy::keysource::KmsKeys;

/// Largest key manager answer read.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// A key manager's answer body, at most 1 MiB: `Ok(None)` when it is larger.
pub(crate) async fn read_answer(
    mut resp: reqwest::Response,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Ok(None);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(bytes))
}

/// The HTTP client of a key manager: bounded timeouts, no redirects, sealgate's user agent,
/// and the CA certificates of the file `ca` names (`(variable, path)`: `VAULT_CACERT`,
/// `AWS_CA_BUNDLE`) trusted besides the system's.
///
/// # Errors
/// What is wrong with the CA file, or why the client cannot be built.
pub(crate) fn http_client(
    timeout: Duration,
    ca: Option<(&str, &std::path::Path)>,
) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("sealgate/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none());
    if let Some((var, path)) = ca {
        let pem = crate::base::files::read_regular_string(path, 1024 * 1024).map_err(|e| {
            format!(
                "{var} {}: {}",
                path.display(),
                crate::base::error::chain(&e)
            )
        })?;
        for c in reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| format!("{var} {}: {e}", path.display()))?
        {
            b = b.add_root_certificate(c);
        }
    }
    b.build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// A key manager's error message as shown: at most 300 characters, no control characters.
pub(crate) fn shown_message(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(300).collect()
}

/// How long public keys read from a key manager count when `SEALGATE_KMS_KEY_TTL` is unset.
pub const DEFAULT_KEY_TTL: Duration = Duration::from_secs(300);
/// Longest `SEALGATE_KMS_KEY_TTL`.
const MAX_KEY_TTL_SECS: u64 = 86_400;
/// A failed refresh is tried again after at most this long.
const RETRY: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    #[error("SEALGATE_KMS_KEY_TTL={0:?} is not a number of seconds from 1 to 86400")]
    Ttl(String),
    #[error("{uri}: {}", crate::base::error::chain(source))]
    Vault {
        uri: String,
        source: vault::VaultError,
    },
    #[error("{uri}: {}", crate::base::error::chain(source))]
    Aws { uri: String, source: aws::AwsError },
    /// The key of this policy could not be read.
    #[error("policy {policy}: {error}")]
    InPolicy {
        policy: String,
        error: Box<KmsError>,
    },
}

/// How long key manager public keys count: `SEALGATE_KMS_KEY_TTL` (seconds), else
/// [`DEFAULT_KEY_TTL`].
///
/// # Errors
/// [`KmsError::Ttl`] for a value that is not 1 to 86400.
pub fn key_ttl() -> Result<Duration, KmsError> {
    match std::env::var("SEALGATE_KMS_KEY_TTL") {
        Err(_) => Ok(DEFAULT_KEY_TTL),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(n) if (1..=MAX_KEY_TTL_SECS).contains(&n) => Ok(Duration::from_secs(n)),
            _ => Err(KmsError::Ttl(v.chars().take(20).collect())),
        },
    }
}

/// Reads the public keys of every key manager key the policies name, now, and keeps them
/// fresh: a task per key reads them again every half TTL while a policy holds them (a
/// recompiled policy's old cells are let go), so rotations and retired versions are seen
/// within the TTL. With Vault unreachable (or answering 5xx / 429) the keys stay unread or
/// expire, and images verify as `KeyUnavailable`; a refusal (token, login, missing key,
/// configuration) is an error the caller reports (the CLI exits 2, a gate stalls), and the
/// refused keys are asked for again by the next call. Cells already kept fresh are skipped,
/// so calling it before every reconcile costs nothing.
///
/// # Errors
/// [`KmsError`] naming the key.
pub async fn activate(policies: &[Policy]) -> Result<(), KmsError> {
    let cells: Vec<Arc<KmsKeys>> = policies
        .iter()
        .flat_map(Policy::kms_keys)
        .filter(|c| !c.is_activated())
        .collect();
    if cells.is_empty() {
        return Ok(());
    }
    let ttl = key_ttl()?;
    // Vault: one client per login method (a policy's spec.kms.auth, else VAULT_TOKEN)
    let mut by_auth: std::collections::BTreeMap<_, Vec<Arc<KmsKeys>>> = Default::default();
    let mut on_aws: std::collections::BTreeMap<String, Vec<Arc<KmsKeys>>> = Default::default();
    for c in cells {
        match &c.uri {
            KmsUri::HashiVault { .. } => by_auth.entry(c.auth.clone()).or_default().push(c),
            KmsUri::AwsKms { .. } => on_aws.entry(c.uri.to_string()).or_default().push(c),
        }
    }
    let mut first_error = None;
    // AWS KMS: one client per key
    for (uri, cells) in on_aws {
        let KmsUri::AwsKms { endpoint, key } = &cells[0].uri else {
            continue;
        };
        let done = match aws::AwsKms::from_env(endpoint.as_deref(), key) {
            Ok(kms) => {
                keep(
                    format!("aws|{uri}"),
                    &cells,
                    Reader::Aws(Arc::new(kms)),
                    ttl,
                )
                .await
            }
            Err(source) => Err(KmsError::Aws { uri, source }),
        };
        if let Err(e) = done {
            first_error.get_or_insert(e);
        }
    }
    for (auth, cells) in by_auth {
        let done = match vault::VaultConfig::from_env_with(auth).and_then(vault::Vault::new) {
            Ok(vault) => activate_with(&cells, Arc::new(vault), ttl).await,
            Err(source) => Err(KmsError::Vault {
                uri: cells[0].uri.to_string(),
                source,
            }),
        };
        if let Err(e) = done {
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        None => Ok(()),
        // named with the policy whose key it is
        Some(error @ (KmsError::Vault { .. } | KmsError::Aws { .. })) => {
            let (KmsError::Vault { uri, .. } | KmsError::Aws { uri, .. }) = &error else {
                return Err(error);
            };
            let owner = policies.iter().find(|p| {
                p.kms_keys()
                    .iter()
                    .any(|c| c.uri.to_string() == *uri && !c.is_activated())
            });
            Err(match owner {
                Some(p) => KmsError::InPolicy {
                    policy: p.name.clone(),
                    error: Box::new(error),
                },
                None => error,
            })
        }
        Some(e) => Err(e),
    }
}

/// [`activate`] with a given Vault client and TTL.
///
/// # Errors
/// As [`activate`].
pub async fn activate_with(
    cells: &[Arc<KmsKeys>],
    vault: Arc<vault::Vault>,
    ttl: Duration,
) -> Result<(), KmsError> {
    let mut groups: std::collections::BTreeMap<String, Vec<Arc<KmsKeys>>> = Default::default();
    for c in cells.iter().filter(|c| !c.is_activated()) {
        if let KmsUri::HashiVault { key } = &c.uri {
            groups.entry(key.clone()).or_default().push(c.clone());
        }
    }
    let mut first_error = None;
    for (name, group) in groups {
        let c = vault.config();
        let id = format!(
            "vault|{}|{:?}|{}|{:?}|{name}",
            c.addr, c.namespace, c.transit_path, c.auth
        );
        let reader = Reader::Vault {
            vault: vault.clone(),
            name,
        };
        if let Err(e) = keep(id, &group, reader, ttl).await {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Where one key's public keys are read from.
enum Reader {
    /// Every live version of the transit key `name`.
    Vault {
        vault: Arc<vault::Vault>,
        name: String,
    },
    /// The KMS key's public key.
    Aws(Arc<aws::AwsKms>),
}

/// A failed read: "not now" (unreachable, 5xx, throttled) or refused.
enum ReadError {
    Vault(vault::VaultError),
    Aws(aws::AwsError),
}

impl ReadError {
    fn unavailable(&self) -> bool {
        match self {
            Self::Vault(e) => e.is_unavailable(),
            Self::Aws(e) => e.is_unavailable(),
        }
    }

    fn text(&self) -> String {
        match self {
            Self::Vault(e) => crate::base::error::chain(e),
            Self::Aws(e) => crate::base::error::chain(e),
        }
    }

    fn into_error(self, uri: String) -> KmsError {
        match self {
            Self::Vault(source) => KmsError::Vault { uri, source },
            Self::Aws(source) => KmsError::Aws { uri, source },
        }
    }
}

impl Reader {
    async fn read(&self) -> Result<Vec<PublicKey>, ReadError> {
        match self {
            Self::Vault { vault, name } => read_keys(vault, name).await.map_err(ReadError::Vault),
            Self::Aws(kms) => kms
                .public_key()
                .await
                .map(|k| vec![k])
                .map_err(ReadError::Aws),
        }
    }
}

/// Reads one key for `group` (cells naming it) and keeps it fresh under `id` — or joins
/// the refresher already keeping it.
async fn keep(
    id: String,
    group: &[Arc<KmsKeys>],
    reader: Reader,
    ttl: Duration,
) -> Result<(), KmsError> {
    let Some(first) = group.first() else {
        return Ok(());
    };
    let uri = first.uri.to_string();
    if join(&id, group) {
        return Ok(());
    }
    match reader.read().await {
        Ok(keys) => group.iter().for_each(|c| c.store(keys.clone(), ttl)),
        Err(e) if e.unavailable() => {
            let why = e.text();
            tracing::warn!(key = %uri, error = %why, "cannot read the key manager's public keys; images it verifies are KeyUnavailable until it answers");
            group.iter().for_each(|c| c.failed(why.clone()));
        }
        Err(e) => {
            // not kept fresh: the next activation (the gate's next reconcile) asks again
            let why = e.text();
            group.iter().for_each(|c| c.failed(why.clone()));
            return Err(e.into_error(uri));
        }
    }
    let fresh: Vec<Weak<KmsKeys>> = group
        .iter()
        .filter(|c| c.mark_activated())
        .map(Arc::downgrade)
        .collect();
    if !fresh.is_empty() {
        let kept = Arc::new(Kept {
            cells: std::sync::Mutex::new(fresh),
        });
        registry().insert(id.clone(), Arc::downgrade(&kept));
        tokio::spawn(refresh(kept, id, reader, uri, ttl));
    }
    Ok(())
}

/// The cells one refresher keeps fresh (one key of one Vault, one login).
struct Kept {
    cells: std::sync::Mutex<Vec<Weak<KmsKeys>>>,
}

type Registry = std::collections::HashMap<String, Weak<Kept>>;

/// Keys kept fresh in this process, by Vault, login and key name: a policy compiled again
/// (the controller compiles a gate's policies at every reconcile) joins the refresher
/// already running instead of asking Vault again.
fn registry() -> std::sync::MutexGuard<'static, Registry> {
    static KEPT: std::sync::LazyLock<std::sync::Mutex<Registry>> =
        std::sync::LazyLock::new(Default::default);
    KEPT.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Joins `cells` to the refresher of `id`, taking what it has read; `false` when none runs.
fn join(id: &str, cells: &[Arc<KmsKeys>]) -> bool {
    let reg = registry();
    let Some(kept) = reg.get(id).and_then(Weak::upgrade) else {
        return false;
    };
    let mut held = kept
        .cells
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(source) = held.iter().find_map(Weak::upgrade) else {
        return false;
    };
    for c in cells {
        c.copy_from(&source);
        if c.mark_activated() {
            held.push(Arc::downgrade(c));
        }
    }
    true
}

/// The cells of `kept` still held by a policy; when none is, the refresher is unregistered
/// (under the registry lock, so that no cell joins it meanwhile) and `None` says it stops.
fn live_cells(kept: &Arc<Kept>, id: &str) -> Option<Vec<Arc<KmsKeys>>> {
    let mut reg = registry();
    let mut held = kept
        .cells
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    held.retain(|w| w.strong_count() > 0);
    if held.is_empty() {
        if reg
            .get(id)
            .is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(kept)))
        {
            reg.remove(id);
        }
        return None;
    }
    Some(held.iter().filter_map(Weak::upgrade).collect())
}

async fn read_keys(vault: &vault::Vault, name: &str) -> Result<Vec<PublicKey>, vault::VaultError> {
    Ok(vault
        .key(name)
        .await?
        .versions
        .into_iter()
        .map(|v| v.key)
        .collect())
}

async fn refresh(kept: Arc<Kept>, id: String, reader: Reader, uri: String, ttl: Duration) {
    let every = (ttl / 2).max(Duration::from_millis(100));
    let mut wait = every;
    loop {
        tokio::time::sleep(wait).await;
        let Some(live) = live_cells(&kept, &id) else {
            return;
        };
        match reader.read().await {
            Ok(keys) => {
                live.iter().for_each(|c| c.store(keys.clone(), ttl));
                wait = every;
            }
            Err(e) => {
                let why = e.text();
                tracing::warn!(key = %uri, error = %why, "cannot refresh the key manager's public keys; the ones read before count until their TTL runs out");
                live.iter().for_each(|c| c.failed(why.clone()));
                wait = every.min(RETRY);
            }
        }
    }
}

/// A key that signs: a decrypted key file, or a key manager key used over the network.
#[derive(Debug)]
pub enum Signer {
    Local(Box<PrivateKey>),
    /// A transit key.
    Vault(Box<TransitSigner>),
    /// An AWS KMS key (its public key read on first use).
    Aws(Box<AwsSigner>),
}

/// An AWS KMS key that signs, and its public key once read.
#[derive(Debug)]
pub struct AwsSigner {
    kms: aws::AwsKms,
    public: tokio::sync::Mutex<Option<PublicKey>>,
}

impl AwsSigner {
    async fn public(&self) -> Result<PublicKey, aws::AwsError> {
        let mut p = self.public.lock().await;
        if let Some(k) = p.as_ref() {
            return Ok(k.clone());
        }
        let k = self.kms.public_key().await?;
        *p = Some(k.clone());
        Ok(k)
    }
}

impl Signer {
    /// The signer of a key manager key, configured from the environment (Vault's or AWS's
    /// variables); nothing is asked of the server yet.
    ///
    /// # Errors
    /// [`SignerError`] for a configuration that cannot work (no address, no credentials).
    pub fn from_uri(uri: &KmsUri) -> Result<Self, SignerError> {
        Ok(match uri {
            KmsUri::HashiVault { key } => Self::Vault(Box::new(TransitSigner::from_env(key)?)),
            KmsUri::AwsKms { endpoint, key } => Self::Aws(Box::new(AwsSigner {
                kms: aws::AwsKms::from_env(endpoint.as_deref(), key)?,
                public: tokio::sync::Mutex::new(None),
            })),
        })
    }
}

/// The public keys a signature by `uri` may verify with, now: every live transit version
/// (newest first), or the KMS key's.
///
/// # Errors
/// [`KmsError`] naming the key.
pub async fn verification_keys(uri: &KmsUri) -> Result<Vec<PublicKey>, KmsError> {
    let name = uri.to_string();
    match uri {
        KmsUri::HashiVault { key } => {
            let vault = vault::Vault::from_env().map_err(|source| KmsError::Vault {
                uri: name.clone(),
                source,
            })?;
            let k = vault
                .key(key)
                .await
                .map_err(|source| KmsError::Vault { uri: name, source })?;
            Ok(k.versions.into_iter().rev().map(|v| v.key).collect())
        }
        KmsUri::AwsKms { endpoint, key } => {
            let aws = |source| KmsError::Aws {
                uri: name.clone(),
                source,
            };
            let kms = aws::AwsKms::from_env(endpoint.as_deref(), key).map_err(aws)?;
            Ok(vec![kms.public_key().await.map_err(aws)?])
        }
    }
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
    #[error(transparent)]
    Aws(#[from] aws::AwsError),
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
            Self::Aws(a) => Ok(a.public().await?),
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
            Self::Aws(a) => {
                let public = a.public().await?;
                Ok(a.kms.sign(&public, message).await?)
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
