//! `sealgate approve GATE [--revision SHA] -n NS`: approves the verified revision of a
//! `DeploymentGate` in the cluster (sets `spec.approvedRevision`; RBAC on
//! `patch deploymentgates` — the `sealgate-approver` ClusterRole — decides who may).
//!
//! `sealgate approve --repo URL --key SSH_KEY <sha>`: records a release manager's approval
//! of a verified revision in Git, as the SSH-signed annotated tag
//! `sealgate/approved/<sha>` (what `git tag -s` with `gpg.format=ssh` makes: the tag is
//! signed by `ssh-keygen -Y sign -n git`, exactly as git does it), and pushes the tag.
//! The gate verifies it against its approvers' `allowed_signers`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context as _, bail};
use clap::Args;

use sealgate::edge::source::git::{PushOutcome, Repo};
use sealgate::standalone::APPROVAL_TAG_PREFIX;
use sealgate::standalone::config::GitAuth;

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// Standalone gate: its source repository (file://, git://, https://, ssh://); the
    /// approval becomes a signed tag. Without it, GATE names a DeploymentGate.
    #[arg(long, value_name = "URL", requires = "key")]
    repo: Option<String>,
    /// The SSH private key to sign with (its public key is in the approvers file).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Namespace of the DeploymentGate.
    #[arg(short, long, default_value = "default", conflicts_with = "repo")]
    namespace: String,
    /// The revision to approve; it must be the gate's verified revision (default: that one).
    #[arg(long, value_name = "SHA", conflicts_with = "repo")]
    revision: Option<String>,
    /// Tagger name and email (default: from `git config user.name` / `user.email`, else sealgate).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    #[arg(long, value_name = "EMAIL")]
    email: Option<String>,
    /// HTTPS token from this environment variable.
    #[arg(long, value_name = "NAME")]
    token_env: Option<String>,
    /// With --repo: the full commit id of the verified revision. Else: the DeploymentGate's name.
    #[arg(value_name = "GATE|SHA")]
    sha: String,
}

/// Cluster mode: patch `spec.approvedRevision` of the DeploymentGate.
fn approve_gate(args: &ApproveArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let client = kube::Client::try_default()
            .await
            .context("no Kubernetes configuration (KUBECONFIG or in-cluster)")?;
        match sealgate::controller::approve(
            &client,
            &args.namespace,
            &args.sha,
            args.revision.as_deref(),
        )
        .await
        {
            Ok(rev) => {
                println!(
                    "approved {rev} on DeploymentGate {}/{}",
                    args.namespace, args.sha
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!(
                    "sealgate: approval refused: {}",
                    sealgate::base::error::chain(&e)
                );
                Ok(ExitCode::from(1))
            }
        }
    })
}

fn git_config(key: &str) -> Option<String> {
    let out = Command::new("git").args(["config", key]).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Signs `data` with `ssh-keygen -Y sign -n git` (the armored SSH SIGNATURE block).
fn ssh_sign(key: &std::path::Path, data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut child = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", "git", "-f"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running ssh-keygen (needed to sign the approval)")?;
    child
        .stdin
        .take()
        .context("ssh-keygen stdin")?
        .write_all(data)
        .context("writing to ssh-keygen")?;
    let out = child.wait_with_output().context("ssh-keygen")?;
    if !out.status.success() {
        bail!(
            "ssh-keygen -Y sign failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

pub fn run(args: ApproveArgs) -> anyhow::Result<ExitCode> {
    let (Some(repo_url), Some(key)) = (args.repo.clone(), args.key.clone()) else {
        return approve_gate(&args);
    };
    let oid = git2::Oid::from_str(&args.sha)
        .ok()
        .filter(|_| args.sha.len() == 40)
        .with_context(|| format!("{:?} is not a full commit id (40 hex digits)", args.sha))?;
    let name = args
        .name
        .or_else(|| git_config("user.name"))
        .unwrap_or_else(|| "sealgate".into());
    let email = args
        .email
        .or_else(|| git_config("user.email"))
        .unwrap_or_else(|| "sealgate@localhost".into());
    let auth = GitAuth::token_env(args.token_env);
    let state = tempfile::tempdir().context("creating a work directory")?;
    let repo = Repo::open(
        state.path(),
        &repo_url,
        auth,
        std::time::Duration::from_secs(120),
    )
    .map_err(|e| anyhow::anyhow!(sealgate::base::error::chain(&e)))?;
    repo.fetch_all_heads()
        .map_err(|e| anyhow::anyhow!(sealgate::base::error::chain(&e)))?;
    if repo.git().find_commit(oid).is_err() {
        bail!("{} has no commit {} on any branch", repo_url, args.sha);
    }
    let tag = format!("{APPROVAL_TAG_PREFIX}{}", args.sha);
    let local = format!("refs/tags/{tag}");
    // libgit2 cannot compare two tag objects for a non-forced push ("object is no commit
    // object"): say what git says, before signing anything
    if repo
        .remote_ref(&local)
        .map_err(|e| anyhow::anyhow!(sealgate::base::error::chain(&e)))?
        .is_some()
    {
        bail!(
            "{tag} already exists on {} (approvals are never overwritten)",
            repo_url
        );
    }
    let now = sealgate::base::time::now();
    let body = format!(
        "object {}\ntype commit\ntag {tag}\ntagger {name} <{email}> {now} +0000\n\nApproved {} for promotion by sealgate approve\n",
        args.sha, args.sha
    );
    let signature = ssh_sign(&key, body.as_bytes())?;
    let mut object = body.into_bytes();
    object.extend_from_slice(&signature);
    let odb = repo.git().odb().context("object database")?;
    let tag_id = odb
        .write(git2::ObjectType::Tag, &object)
        .context("writing the tag object")?;
    repo.git()
        .reference(&local, tag_id, true, "sealgate approve")
        .context("creating the tag ref")?;
    let pushed = repo
        .push_ref(&local, &local)
        .map_err(|e| anyhow::anyhow!(sealgate::base::error::chain(&e)))?;
    if let PushOutcome::Refused(_) = pushed {
        bail!(
            "{tag} already exists on {} (approvals are never overwritten)",
            repo_url
        );
    }
    println!("approved {} in {repo_url} as tag {tag}", args.sha);
    Ok(ExitCode::SUCCESS)
}
