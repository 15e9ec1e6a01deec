//! `sealgate verify-blob FILE --bundle B`: verify a Sigstore bundle over a file (release
//! artifacts, Helm chart tarballs), offline, with cosign's flags. Exit 0 verified, 1 not
//! verified (the reason printed), 2 usage error.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use sealgate::crypto::{HashAlgorithm, PublicKey};
use sealgate::sigstore::bundle::{Bundle, Content};
use sealgate::sigstore::trust::TrustedRoot;
use sealgate::sigstore::verify::{self, Artifact, Expected, Identity, Matcher, Options};

/// Files up to this size are verified over their bytes; larger ones over their digest.
const IN_MEMORY_LIMIT: u64 = 256 << 20;

#[derive(Debug, Args)]
pub struct VerifyBlobArgs {
    /// The file to verify, or its digest as `sha256:<hex>`.
    file: String,
    /// The Sigstore bundle (`.sigstore.json`).
    #[arg(long)]
    bundle: PathBuf,
    /// Verify with this public key (a PEM file, or hashivault://NAME: any live version of
    /// a Vault / OpenBao transit key) instead of a keyless identity.
    #[arg(long)]
    key: Option<PathBuf>,
    /// The certificate subject (SAN email or URI) that must have signed.
    #[arg(long, conflicts_with = "certificate_identity_regexp")]
    certificate_identity: Option<String>,
    /// A regular expression the certificate subject must match (anchored: the whole value).
    #[arg(long)]
    certificate_identity_regexp: Option<String>,
    /// The OIDC issuer that must have issued the identity.
    #[arg(long, conflicts_with = "certificate_oidc_issuer_regexp")]
    certificate_oidc_issuer: Option<String>,
    /// A regular expression the OIDC issuer must match (anchored).
    #[arg(long)]
    certificate_oidc_issuer_regexp: Option<String>,
    /// Sigstore trusted_root.json (default: the built-in public-good root).
    #[arg(long)]
    trusted_root: Option<PathBuf>,
    /// Accepted for cosign compatibility: verification is always offline.
    #[arg(long)]
    offline: bool,
    /// Accept a signature without a transparency log entry (it then needs a signed timestamp).
    #[arg(long)]
    insecure_ignore_tlog: bool,
    /// Evaluate at this instant (RFC 3339) instead of now.
    #[arg(long)]
    now: Option<String>,
}

fn read_limited(path: &std::path::Path, limit: u64, what: &str) -> anyhow::Result<Vec<u8>> {
    sealgate::base::files::read_regular(path, limit).with_context(|| what.to_string())
}

/// The artifact: `sha256:<hex>`, a small file's bytes, or a large file's streamed digest.
enum Subject {
    Bytes(Vec<u8>),
    Digest(HashAlgorithm, Vec<u8>),
}

fn subject(file: &str, alg: HashAlgorithm) -> anyhow::Result<Subject> {
    for (prefix, a) in [
        ("sha256:", HashAlgorithm::Sha256),
        ("sha384:", HashAlgorithm::Sha384),
        ("sha512:", HashAlgorithm::Sha512),
    ] {
        if let Some(h) = file.strip_prefix(prefix)
            && !std::path::Path::new(file).exists()
        {
            let d = hex::decode(h).with_context(|| format!("{file}: not a hex digest"))?;
            if d.len() != a.digest(b"").len() {
                bail!("{file}: wrong digest length");
            }
            return Ok(Subject::Digest(a, d));
        }
    }
    let path = std::path::Path::new(file);
    let meta = std::fs::metadata(path).with_context(|| format!("file {file}"))?;
    // the artifact may be a pipe (`<(curl …)`, `/dev/stdin`): it is streamed like a large
    // file; every other input (key, bundle, trusted root) must be a regular file
    if meta.is_file() && meta.len() <= IN_MEMORY_LIMIT {
        return Ok(Subject::Bytes(read_limited(path, IN_MEMORY_LIMIT, "file")?));
    }
    let mut f = std::fs::File::open(path).with_context(|| format!("file {file}"))?;
    let mut buf = vec![0u8; 1 << 20];
    macro_rules! stream {
        ($h:ty) => {{
            use sha2::Digest as _;
            let mut h = <$h>::new();
            loop {
                let n = f.read(&mut buf).with_context(|| format!("file {file}"))?;
                if n == 0 {
                    break;
                }
                h.update(buf.get(..n).unwrap_or_default());
            }
            h.finalize().to_vec()
        }};
    }
    let d = match alg {
        HashAlgorithm::Sha256 => stream!(sha2::Sha256),
        HashAlgorithm::Sha384 => stream!(sha2::Sha384),
        HashAlgorithm::Sha512 => stream!(sha2::Sha512),
    };
    Ok(Subject::Digest(alg, d))
}

pub fn run(args: VerifyBlobArgs) -> anyhow::Result<ExitCode> {
    let _ = args.offline;
    let now = match &args.now {
        None => sealgate::base::time::now(),
        Some(s) => sealgate::base::time::parse_rfc3339(s)
            .map_err(|e| anyhow::anyhow!("--now {s:?}: {e}"))?,
    };
    let key: Option<Vec<PublicKey>> = match &args.key {
        None => None,
        Some(p) if p.to_string_lossy().starts_with("hashivault://") => Some(
            super::keys::verification_keys(&p.to_string_lossy(), "--key")?,
        ),
        Some(p) => {
            let pem = read_limited(p, 1 << 20, "key")?;
            let pem = String::from_utf8(pem).context("key file is not text")?;
            Some(vec![
                PublicKey::from_pem(&pem).with_context(|| format!("key {}", p.display()))?,
            ])
        }
    };
    let identity = if key.is_some() {
        if args.certificate_identity.is_some()
            || args.certificate_identity_regexp.is_some()
            || args.certificate_oidc_issuer.is_some()
            || args.certificate_oidc_issuer_regexp.is_some()
        {
            bail!(
                "--key excludes --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp]"
            );
        }
        None
    } else {
        let subject = match (
            &args.certificate_identity,
            &args.certificate_identity_regexp,
        ) {
            (Some(s), None) if !s.is_empty() => Matcher::Exact(s.clone()),
            (None, Some(r)) => Matcher::regex(r)
                .map_err(|e| anyhow::anyhow!("--certificate-identity-regexp: {e}"))?,
            _ => bail!(
                "keyless verification needs --certificate-identity or --certificate-identity-regexp (or use --key)"
            ),
        };
        let issuer = match (
            &args.certificate_oidc_issuer,
            &args.certificate_oidc_issuer_regexp,
        ) {
            (Some(s), None) if !s.is_empty() => Matcher::Exact(s.clone()),
            (None, Some(r)) => Matcher::regex(r)
                .map_err(|e| anyhow::anyhow!("--certificate-oidc-issuer-regexp: {e}"))?,
            _ => bail!(
                "keyless verification needs --certificate-oidc-issuer or --certificate-oidc-issuer-regexp"
            ),
        };
        Some(Identity {
            issuer,
            subject,
            claims: Default::default(),
        })
    };
    let root = match &args.trusted_root {
        None => TrustedRoot::production(),
        Some(p) => TrustedRoot::load(p)?,
    };
    let bundle_bytes = read_limited(
        &args.bundle,
        sealgate::sigstore::bundle::MAX_BUNDLE_BYTES as u64,
        "bundle",
    )?;
    // From here on, anything wrong is a verdict (exit 1), not a usage error.
    let bundle = match Bundle::from_json(&bundle_bytes) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("sealgate: verification failed: MalformedSignature: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let alg = match &bundle.content {
        Content::Message {
            digest: Some((a, _)),
            ..
        } => *a,
        _ => HashAlgorithm::Sha256,
    };
    let subject = subject(&args.file, alg)?;
    let artifact = match &subject {
        Subject::Bytes(b) => Artifact::Bytes(b),
        Subject::Digest(a, d) => Artifact::Digest(*a, d),
    };
    let expected: Vec<Expected> = match (&key, &identity) {
        (Some(keys), _) => keys.iter().map(Expected::Key).collect(),
        (None, Some(id)) => vec![Expected::Keyless(id)],
        (None, None) => bail!("no key and no identity"),
    };
    let opts = Options {
        ignore_tlog: args.insecure_ignore_tlog,
        now,
    };
    // a transit key's live versions, newest first: the first that verifies, else the
    // newest one's failure
    let mut outcome = None;
    for e in expected {
        let r = verify::verify_bundle(&bundle, artifact, e, &root, opts);
        let done = r.is_ok();
        if outcome.is_none() || done {
            outcome = Some(r);
        }
        if done {
            break;
        }
    }
    let Some(outcome) = outcome else {
        bail!("the transit key has no live version");
    };
    match outcome {
        Ok(v) => {
            eprintln!(
                "Verified OK: signed by {}{} ({} transparency log entr{}, {} signing time{})",
                v.signer,
                v.issuer
                    .as_deref()
                    .map(|i| format!(" (issuer {i})"))
                    .unwrap_or_default(),
                v.tlog_entries,
                if v.tlog_entries == 1 { "y" } else { "ies" },
                v.times.len(),
                if v.times.len() == 1 { "" } else { "s" },
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(f) => {
            eprintln!("sealgate: verification failed: {f}");
            Ok(ExitCode::from(1))
        }
    }
}
