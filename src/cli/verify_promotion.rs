//! `sealgate verify-promotion --repo URL|PATH --ref BRANCH|SHA --key PUB`: checks that a
//! deploy-branch commit carries a verification summary signed by the gate's key that
//! covers it: the note `refs/notes/sealgate` on the commit is a DSSE envelope whose
//! signature verifies, a PASSED SLSA VSA whose commit subject is this commit, (with
//! `--policy-digest`) checked against that policy set, and listing the digest of every
//! image reference the commit's manifests contain (read with the normal loader). What an
//! Argo CD Config Management Plugin or a CI job runs before a deploy branch is trusted.
//!
//! A commit without a note (someone committed to the deploy branch after the gate) is
//! checked against the summary of its nearest first-parent ancestor that has one: its
//! images must all be covered by that summary, so a later edit that changes a digest is
//! refused while one that only scales a Deployment is not. `--exact` requires the commit
//! itself to be a noted promotion commit.
//!
//! Exit codes: 0 verified, 1 not verified (the reason is printed), 2 usage or could not
//! check (unreachable repository, no such ref).

use std::process::ExitCode;

use anyhow::{Context as _, anyhow};
use clap::Args;
use serde_json::json;

use sealgate::attest::vsa::{self, NotVerified, Summary};
use sealgate::base::error::chain;
use sealgate::edge::source::git::{GitAuth, Repo};
use sealgate::edge::target::promote::{fetch_notes, note_of};

/// First-parent ancestors searched for the nearest summary.
const MAX_ANCESTORS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct VerifyPromotionArgs {
    /// The deploy repository: a URL (file://, git://, https://, ssh://) or a local path.
    #[arg(long, value_name = "URL|PATH")]
    repo: String,
    /// The deploy branch (its head is checked) or a full commit id.
    #[arg(long = "ref", value_name = "BRANCH|SHA")]
    git_ref: String,
    /// The gate's public key: a PEM file, env://NAME, or hashivault://NAME (a Vault /
    /// OpenBao transit key: any live version).
    #[arg(long, value_name = "FILE|env://NAME|hashivault://NAME")]
    key: String,
    /// Also require the summary's policy set digest (the `Sealgate-Policy` trailer's value).
    #[arg(long, value_name = "sha256:HEX")]
    policy_digest: Option<String>,
    /// Require the commit itself to carry the summary (no search of its ancestors).
    #[arg(long)]
    exact: bool,
    /// Only the manifests under this directory of the commit (default: all of it).
    #[arg(long, value_name = "DIR", default_value = "")]
    path: String,
    /// HTTPS token from this environment variable.
    #[arg(long, value_name = "NAME")]
    token_env: Option<String>,
    /// Network deadline of each Git operation, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    timeout: u64,
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: Output,
}

/// A local path becomes a `file://` URL; URLs and `user@host:path` stay as they are.
fn repo_url(repo: &str) -> anyhow::Result<String> {
    let scp_like = repo.contains('@') && repo.contains(':') && !repo.contains("://");
    if repo.contains("://") || scp_like {
        return Ok(repo.to_string());
    }
    let path = std::fs::canonicalize(repo).with_context(|| format!("{repo}: no such path"))?;
    Ok(format!("file://{}", path.display()))
}

/// The commit `git_ref` names on the remote: a full id (found on some branch) or a branch.
fn resolve(repo: &Repo, git_ref: &str) -> anyhow::Result<git2::Oid> {
    if git_ref.len() == 40
        && let Ok(oid) = git2::Oid::from_str(git_ref)
    {
        repo.fetch_all_heads().map_err(|e| anyhow!(chain(&e)))?;
        repo.git()
            .find_commit(oid)
            .with_context(|| format!("{} has no commit {git_ref} on any branch", repo.url))?;
        return Ok(oid);
    }
    Ok(repo.fetch(git_ref).map_err(|e| anyhow!(chain(&e)))?.commit)
}

/// Every image reference written in the commit's manifests under `path` (a manifest
/// that cannot be read: not verified, since its images cannot be checked).
fn images(
    repo: &Repo,
    commit: git2::Oid,
    path: &str,
) -> anyhow::Result<Result<Vec<String>, NotVerified>> {
    // Argo CD names the repository root `.`
    let path = path.trim_matches('/');
    let path = if path == "." { "" } else { path };
    let checked = repo
        .checkout(commit, path)
        .map_err(|e| anyhow!(chain(&e)))?;
    let snapshot = sealgate::manifests::load_paths(
        &[checked.root().to_path_buf()],
        &sealgate::manifests::LoadOptions::default(),
    );
    if let Some(p) = snapshot.problems.first() {
        return Ok(Err(NotVerified::Unreadable(format!(
            "{}: {}",
            p.file, p.message
        ))));
    }
    let mut out: Vec<String> = snapshot.images.into_iter().map(|f| f.reference).collect();
    out.sort();
    out.dedup();
    Ok(Ok(out))
}

/// The commit's note, else (unless `exact`) that of its nearest first-parent ancestor.
fn nearest_note(
    repo: &Repo,
    oid: git2::Oid,
    exact: bool,
) -> anyhow::Result<Option<(git2::Oid, Vec<u8>)>> {
    let mut cursor = oid;
    for _ in 0..=MAX_ANCESTORS {
        if let Some(note) = note_of(repo, cursor).map_err(|e| anyhow!(chain(&e)))? {
            return Ok(Some((cursor, note)));
        }
        if exact {
            break;
        }
        match repo.git().find_commit(cursor)?.parent_id(0) {
            Ok(parent) => cursor = parent,
            Err(_) => break,
        }
    }
    Ok(None)
}

/// What was decided: the summary (when its signature verified) and the verdict.
struct Outcome {
    commit: String,
    /// The commit whose note the summary is (the commit itself or an ancestor).
    summary_commit: Option<String>,
    images: Vec<String>,
    summary: Option<Summary>,
    verdict: Result<(), NotVerified>,
}

fn verify(args: &VerifyPromotionArgs) -> anyhow::Result<Outcome> {
    let keys = super::keys::verification_keys(&args.key, "--key")?;
    let url = repo_url(&args.repo)?;
    let auth = GitAuth::token_env(args.token_env.clone());
    let state = tempfile::tempdir().context("creating a work directory")?;
    let repo = Repo::open(
        state.path(),
        &url,
        auth,
        std::time::Duration::from_secs(args.timeout),
    )
    .map_err(|e| anyhow!(chain(&e)))?;
    let oid = resolve(&repo, &args.git_ref)?;
    let commit = oid.to_string();
    let mut outcome = Outcome {
        commit: commit.clone(),
        summary_commit: None,
        images: Vec::new(),
        summary: None,
        verdict: Err(NotVerified::NoSummary),
    };
    if !fetch_notes(&repo).map_err(|e| anyhow!(chain(&e)))? {
        return Ok(outcome);
    }
    let Some((noted, envelope)) = nearest_note(&repo, oid, args.exact)? else {
        return Ok(outcome);
    };
    outcome.summary_commit = Some(noted.to_string());
    // any live version of the key (one key unless it is a transit key)
    let mut opened = Err(vsa::VsaError::BadSignature);
    for key in &keys {
        opened = Summary::open(&envelope, key);
        if !matches!(opened, Err(vsa::VsaError::BadSignature)) {
            break;
        }
    }
    let summary = match opened {
        Ok(s) => s,
        Err(e) => {
            outcome.verdict = Err(NotVerified::Summary(e));
            return Ok(outcome);
        }
    };
    outcome.verdict = match images(&repo, oid, &args.path)? {
        Ok(images) => {
            let v = vsa::check_promotion(
                &summary,
                &noted.to_string(),
                &images,
                args.policy_digest.as_deref(),
            );
            outcome.images = images;
            v
        }
        Err(e) => Err(e),
    };
    outcome.summary = Some(summary);
    Ok(outcome)
}

fn render(o: &Outcome, format: Output) -> String {
    let clean = sealgate::edge::verify::explain::clean;
    match format {
        Output::Json => {
            let summary = o.summary.as_ref().map(|s| {
                json!({
                    "verifier": s.verifier_id,
                    "timeVerified": sealgate::base::time::format_rfc3339(s.time_verified),
                    "source": {"url": s.source.0, "commit": s.source.1},
                    "policySet": format!("sha256:{}", s.policy_set_sha256),
                    "policies": s.policies.iter().map(|p| json!({"name": p.name, "sha256": p.sha256})).collect::<Vec<_>>(),
                    "images": s.images.len(),
                })
            });
            let mut v = json!({
                "verified": o.verdict.is_ok(),
                "commit": o.commit,
                "summaryCommit": o.summary_commit,
                "images": o.images,
                "summary": summary,
            });
            if let Err(r) = &o.verdict {
                v["reason"] = json!({"code": r.code(), "message": r.to_string()});
            }
            let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
            s.push('\n');
            s
        }
        Output::Text => match (&o.verdict, &o.summary) {
            (Ok(()), Some(s)) => format!(
                "VERIFIED {}: {} images covered by the summary{} of {} (verified {}, policy set sha256:{}, source {}@{})\n",
                o.commit,
                o.images.len(),
                match &o.summary_commit {
                    Some(c) if *c != o.commit => format!(" on promotion commit {c}"),
                    _ => String::new(),
                },
                clean(&s.verifier_id),
                sealgate::base::time::format_rfc3339(s.time_verified),
                clean(&s.policy_set_sha256),
                clean(&s.source.0),
                clean(&s.source.1),
            ),
            (Ok(()), None) => format!("VERIFIED {}\n", o.commit),
            (Err(r), _) => format!(
                "NOT VERIFIED {}: {}: {}\n",
                o.commit,
                r.code(),
                clean(&r.to_string())
            ),
        },
    }
}

pub fn run(args: VerifyPromotionArgs) -> anyhow::Result<ExitCode> {
    let outcome = verify(&args)?;
    print!("{}", render(&outcome, args.output));
    Ok(if outcome.verdict.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
