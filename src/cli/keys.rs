//! `sealgate generate-key-pair` and `sealgate public-key`: cosign-compatible key files.
//!
//! Passwords come from `COSIGN_PASSWORD` (cosign's variable, so existing CI secrets work;
//! empty is allowed), else from an interactive prompt on the terminal (never echoed, never
//! logged). Without either, the command fails rather than guessing.

use std::io::{IsTerminal as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;

use sealgate::crypto::PrivateKey;
use sealgate::policy::keysource::{KeySource, Resolved};

/// The environment variable cosign reads the key password from.
pub const PASSWORD_ENV: &str = "COSIGN_PASSWORD";

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Write NAME.key (encrypted private key) and NAME.pub (public key); with --kms only
    /// NAME.pub.
    #[arg(long, value_name = "NAME", default_value = "cosign")]
    output_key_prefix: PathBuf,
    /// Overwrite existing key files.
    #[arg(long)]
    force: bool,
    /// Create the key in a key manager instead (hashivault://NAME: an ecdsa-p256 transit
    /// key; VAULT_ADDR, VAULT_TOKEN…), as cosign generate-key-pair --kms does; an existing
    /// key of that name is kept.
    #[arg(long, value_name = "hashivault://NAME")]
    kms: Option<String>,
}

#[derive(Debug, Args)]
pub struct PublicKeyArgs {
    /// The private key: a file, env://NAME, k8s://NAMESPACE/NAME (a Secret with cosign.key
    /// and cosign.password) or hashivault://NAME (a Vault transit key: its newest version).
    #[arg(long, value_name = "FILE|env://NAME|k8s://NS/NAME|hashivault://NAME")]
    key: PathBuf,
    /// Write the public key to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    outfile: Option<PathBuf>,
}

/// The password: `COSIGN_PASSWORD`, else a prompt (with confirmation when `confirm`).
fn password(prompt: &str, confirm: bool) -> anyhow::Result<Vec<u8>> {
    if let Some(p) = std::env::var_os(PASSWORD_ENV) {
        return Ok(p.into_encoded_bytes());
    }
    if !std::io::stdin().is_terminal() {
        bail!("no password: set {PASSWORD_ENV} (it may be empty) or run on a terminal");
    }
    let first = rpassword::prompt_password(prompt).context("reading the password")?;
    if confirm {
        let again = rpassword::prompt_password("Enter password for private key again: ")
            .context("reading the password")?;
        if again != first {
            bail!("passwords do not match");
        }
    }
    Ok(first.into_bytes())
}

fn with_ext(prefix: &Path, ext: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// Writes `data` to a new file (mode `mode`); refuses an existing one unless `force`.
fn write_new(path: &Path, data: &[u8], mode: u32, force: bool) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).mode(mode);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(data)
        .with_context(|| format!("writing {}", path.display()))?;
    // An existing file keeps its mode on truncate: make sure a private key is not readable by others.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    Ok(())
}

/// A runtime for one key manager call of a command that runs none yet.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Creates the key `generate-key-pair --kms` names, as cosign does: an `ecdsa-p256` transit
/// key, or an `ECC_NIST_P256` KMS key with its alias (existing ones are kept). Its public key
/// (PEM) and what to tell the user.
async fn create_kms_key(uri: &sealgate::edge::kms::KmsUri) -> Result<(String, String), String> {
    use sealgate::base::error::chain;
    use sealgate::edge::kms::{KmsUri, aws::AwsKms, vault::Vault};
    match uri {
        KmsUri::HashiVault { key: name } => {
            let vault = Vault::from_env().map_err(|e| chain(&e))?;
            let key = vault
                .create_key(name, "ecdsa-p256")
                .await
                .map_err(|e| chain(&e))?;
            let latest = key
                .latest()
                .ok_or_else(|| format!("transit key {name:?} lists no newest version"))?;
            Ok((
                latest.key.to_pem(),
                format!(
                    "Transit key {name} ({}, version {}) is in Vault",
                    key.kind, latest.version
                ),
            ))
        }
        KmsUri::AwsKms { endpoint, key } => {
            let kms = AwsKms::from_env(endpoint.as_deref(), key).map_err(|e| chain(&e))?;
            let (public, arn) = kms.create_alias_key().await.map_err(|e| chain(&e))?;
            Ok((
                public.to_pem(),
                format!("KMS key {uri} ({arn}) is in AWS KMS"),
            ))
        }
    }
}

/// The KMS key a `--key`/`--kms` value names, or a usage error.
fn kms_key(value: &str) -> anyhow::Result<Option<sealgate::edge::kms::KmsUri>> {
    match KeySource::parse(value, Path::new(".")) {
        Ok(KeySource::Kms(uri)) => Ok(Some(uri)),
        Ok(_) => Ok(None),
        Err(e) => Err(anyhow::anyhow!(sealgate::base::error::chain(&e))),
    }
}

pub fn generate(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let pub_path = with_ext(&args.output_key_prefix, "pub");
    if let Some(kms) = &args.kms {
        let uri = match kms_key(kms)? {
            Some(uri) => uri,
            None => bail!(
                "--kms {kms:?} is not a key manager key (hashivault://NAME, awskms:///alias/NAME)"
            ),
        };
        if !args.force && pub_path.exists() {
            bail!(
                "{} already exists (use --force to overwrite)",
                pub_path.display()
            );
        }
        let (pem, what) = runtime()?
            .block_on(create_kms_key(&uri))
            .map_err(|e| anyhow::anyhow!("{uri}: {e}"))?;
        write_new(&pub_path, pem.as_bytes(), 0o644, args.force)?;
        eprintln!("{what}; public key written to {}", pub_path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let key_path = with_ext(&args.output_key_prefix, "key");
    if !args.force {
        for p in [&key_path, &pub_path] {
            if p.exists() {
                bail!("{} already exists (use --force to overwrite)", p.display());
            }
        }
    }
    let pw = password("Enter password for private key: ", true)?;
    let key = PrivateKey::generate_p256().map_err(anyhow::Error::new)?;
    let pem = key.to_encrypted_pem(&pw).map_err(anyhow::Error::new)?;
    write_new(&key_path, pem.as_bytes(), 0o600, args.force)?;
    write_new(
        &pub_path,
        key.public_key().to_pem().as_bytes(),
        0o644,
        args.force,
    )?;
    eprintln!("Private key written to {}", key_path.display());
    eprintln!("Public key written to {}", pub_path.display());
    Ok(ExitCode::SUCCESS)
}

/// The public keys a `--key` value names for verifying: a transit key's every live version
/// (`min_decryption_version` to the newest, newest first: see docs/kms.md), else the one PEM
/// of a file or `env://` variable. `what` names the flag in errors.
pub fn verification_keys(
    value: &str,
    what: &str,
) -> anyhow::Result<Vec<sealgate::crypto::PublicKey>> {
    if let Some(uri) = kms_key(value)? {
        return runtime()?
            .block_on(sealgate::edge::kms::verification_keys(&uri))
            .map_err(|e| anyhow::anyhow!("{e}"));
    }
    let source = KeySource::parse(value, Path::new("."))
        .map_err(|e| anyhow::anyhow!(sealgate::base::error::chain(&e)))?;
    let pem = source
        .read()
        .map_err(|e| anyhow::anyhow!("{what}: {}", sealgate::base::error::chain(&e)))?;
    let key = sealgate::crypto::PublicKey::from_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{what} {value}: {}", sealgate::base::error::chain(&e)))?;
    Ok(vec![key])
}

/// The key `sign` and `attest` sign with: a transit key (`hashivault://NAME`, read from
/// Vault when first used) or a key file as [`load_private_key`] reads it.
pub fn load_signer(path: &Path) -> anyhow::Result<sealgate::edge::kms::Signer> {
    use sealgate::edge::kms::Signer;
    match kms_key(&path.to_string_lossy())? {
        Some(uri) => Signer::from_uri(&uri)
            .map_err(|e| anyhow::anyhow!("{uri}: {}", sealgate::base::error::chain(&e))),
        None => Ok(Signer::Local(Box::new(load_private_key(path)?))),
    }
}

/// Reads the Kubernetes Secret `(namespace, name)` a `k8s://` key names, now (in-cluster
/// config or KUBECONFIG), for a command that runs no runtime yet.
pub fn fetch_secret_now(secret: (String, String)) -> anyhow::Result<Resolved> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(async {
            let client = sealgate::edge::kube::default_client().await?;
            sealgate::edge::kube::fetch_secrets(&client, &[secret]).await
        })
        .map_err(|e| anyhow::anyhow!(sealgate::base::error::chain(&e)))
}

/// Reads and decrypts a private key file (password from the environment or a prompt).
pub fn load_private_key(path: &Path) -> anyhow::Result<PrivateKey> {
    let source = KeySource::parse(&path.to_string_lossy(), Path::new("."))
        .map_err(|e| anyhow::anyhow!(sealgate::base::error::chain(&e)))?;
    let resolved = match source.kubernetes() {
        None => Resolved::default(),
        Some(r) => fetch_secret_now(r)?,
    };
    let (pem, secret_password) = source
        .read_private(&resolved)
        .map_err(|e| anyhow::anyhow!(sealgate::base::error::chain(&e)))?;
    // a Secret's cosign.password wins, as cosign does for k8s:// keys
    let pw = match secret_password {
        Some(p) => p,
        None => password("Enter password for private key: ", false)?,
    };
    PrivateKey::from_encrypted_pem(&pem, &pw)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), sealgate::base::error::chain(&e)))
}

pub fn public_key(args: PublicKeyArgs) -> anyhow::Result<ExitCode> {
    let pem = match kms_key(&args.key.to_string_lossy())? {
        // the newest transit version, or the KMS key
        Some(uri) => {
            let signer = sealgate::edge::kms::Signer::from_uri(&uri)
                .map_err(|e| anyhow::anyhow!("{uri}: {}", sealgate::base::error::chain(&e)))?;
            runtime()?
                .block_on(signer.public_key())
                .map_err(|e| anyhow::anyhow!("{uri}: {}", sealgate::base::error::chain(&e)))?
                .to_pem()
        }
        None => load_private_key(&args.key)?.public_key().to_pem(),
    };
    match &args.outfile {
        Some(f) => std::fs::write(f, &pem).with_context(|| format!("writing {}", f.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(pem.as_bytes());
        }
    }
    Ok(ExitCode::SUCCESS)
}
