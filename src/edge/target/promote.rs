//! Promotion: one commit on the deploy branch whose files under the target path are the
//! source path's files with every verified image pinned to its digest.
//!
//! # Guarantees
//! - Never a force-push: the branch only moves forward. When someone else pushed first
//!   (not a fast-forward, or the remote's compare-and-swap of the ref failed because it
//!   moved between our fetch and our push), the branch is fetched again and the commit
//!   rebuilt on the new head, a few times. Other refusals (a declined hook, missing
//!   permissions) fail at once.
//! - Idempotent: when the branch head already carries `Sealgate-Source: <sha>` for this
//!   source revision, nothing is written. A crash between commit and push leaves only a
//!   local object; the next reconcile fetches the branch, finds no trailer, and promotes
//!   once. A crash between push and status finds the trailer and does nothing.
//! - Files of the deploy branch outside the target path are kept.
//! - A verification summary, when the gate signs one, goes into a Git note
//!   ([`NOTES_REF`]) on the promotion commit, pushed right after it under the same rules:
//!   never forced, rebuilt on the remote's notes head when that moved, and written once
//!   (a commit that already has a note keeps it). A crash between the branch push and
//!   the note push is repaired by the next reconcile, which finds the promotion already
//!   there and adds the missing note.

use std::collections::BTreeMap;

use git2::{Commit, Oid, Signature, Tree};

use super::super::source::git::{GitError, PushOutcome, Repo};

/// Attempts when the remote branch moved under us.
const MAX_PUSH_ATTEMPTS: u32 = 4;
/// Pause before the second attempt; doubles for each further one.
const RETRY_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// What to promote.
#[derive(Debug, Clone)]
pub struct Promotion {
    pub branch: String,
    /// Where the files go on the branch ("" = the root).
    pub path: String,
    /// Relative path → (contents, git file mode).
    pub files: BTreeMap<String, (Vec<u8>, i32)>,
    pub source_commit: String,
    pub source_ref: String,
    pub source_url: String,
    /// `sha256:<hex>` of the policies that passed it.
    pub policy_digest: String,
    pub author_name: String,
    pub author_email: String,
    /// Commit time, seconds since the epoch.
    pub time: i64,
}

/// The notes ref verification summaries are written to.
pub const NOTES_REF: &str = "refs/notes/sealgate";

/// Signs the summary for a promotion commit (its sha in, the DSSE envelope out).
pub type NoteSigner = Box<dyn Fn(&str) -> Result<Vec<u8>, String> + Send>;

/// What promotion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromoteOutcome {
    /// A new commit was pushed.
    Promoted { commit: String },
    /// The branch head already promotes this source revision.
    AlreadyPromoted { commit: String },
}

/// The `Sealgate-Source` trailer of a commit message, if any.
pub fn source_trailer(message: &str) -> Option<&str> {
    message
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("Sealgate-Source:").map(str::trim))
}

fn message(p: &Promotion) -> String {
    let short = p.source_commit.get(..12).unwrap_or(&p.source_commit);
    format!(
        "sealgate: promote {short} from {}\n\nEvery image of {} at {} passed policy; image references are pinned to\nthe digests that were verified.\n\nSealgate-Source: {}\nSealgate-Policy: {}\nSealgate-Decision: pass\n",
        p.source_ref, p.source_url, p.source_commit, p.source_commit, p.policy_digest
    )
}

/// Builds a tree from `files` (paths with `/`).
pub fn build_tree(
    repo: &git2::Repository,
    files: &BTreeMap<String, (Vec<u8>, i32)>,
) -> Result<Oid, git2::Error> {
    // group by first segment
    let mut here: BTreeMap<&str, (Oid, i32)> = BTreeMap::new();
    let mut sub: BTreeMap<&str, BTreeMap<String, (Vec<u8>, i32)>> = BTreeMap::new();
    for (path, (data, mode)) in files {
        match path.split_once('/') {
            Some((dir, rest)) => {
                sub.entry(dir)
                    .or_default()
                    .insert(rest.to_string(), (data.clone(), *mode));
            }
            None => {
                here.insert(path.as_str(), (repo.blob(data)?, *mode));
            }
        }
    }
    let mut tb = repo.treebuilder(None)?;
    for (name, (oid, mode)) in here {
        tb.insert(name, oid, mode)?;
    }
    for (name, files) in sub {
        let oid = build_tree(repo, &files)?;
        tb.insert(name, oid, 0o040000)?;
    }
    tb.write()
}

/// Replaces the subtree at `path` of `base` (or the whole tree when `path` is empty).
fn replace_at(
    repo: &git2::Repository,
    base: Option<&Tree<'_>>,
    path: &str,
    new: Oid,
) -> Result<Oid, git2::Error> {
    let Some((first, rest)) = (if path.is_empty() {
        None
    } else {
        Some(path.split_once('/').unwrap_or((path, "")))
    }) else {
        return Ok(new);
    };
    let child = base
        .and_then(|t| t.get_name(first))
        .filter(|e| e.kind() == Some(git2::ObjectType::Tree))
        .and_then(|e| repo.find_tree(e.id()).ok());
    let replaced = replace_at(repo, child.as_ref(), rest, new)?;
    let mut tb = repo.treebuilder(base)?;
    tb.insert(first, replaced, 0o040000)?;
    tb.write()
}

/// Promotes `p` to the deploy branch of `repo`'s remote, then (with `note`) makes sure the
/// promotion commit carries its summary note.
///
/// # Errors
/// [`GitError`] when the branch or the note cannot be fetched, written or pushed.
/// The note's bytes are returned (the one written now, or the one that was there).
pub fn promote(
    repo: &Repo,
    p: &Promotion,
    note: Option<&NoteSigner>,
) -> Result<(PromoteOutcome, Option<Vec<u8>>), GitError> {
    let outcome = promote_branch(repo, p)?;
    let mut written = None;
    if let Some(sign) = note {
        let commit = match &outcome {
            PromoteOutcome::Promoted { commit } | PromoteOutcome::AlreadyPromoted { commit } => {
                commit
            }
        };
        // Crash-safety tests kill the process here (the branch is pushed, its note is not).
        if std::env::var_os("SEALGATE_FAILPOINT").is_some_and(|v| v == "promote-before-note") {
            tracing::error!("failpoint promote-before-note: exiting");
            std::process::exit(99);
        }
        written = Some(ensure_note(repo, commit, p, sign)?.1);
    }
    Ok((outcome, written))
}

/// Whether the note was written now or was there already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteOutcome {
    Written,
    AlreadyThere,
}

/// Adds the summary note to `commit` on the remote's [`NOTES_REF`] unless it has one; the
/// note's bytes (written now or found).
///
/// # Errors
/// [`GitError`] when the notes cannot be fetched, written or pushed, or signing failed.
pub fn ensure_note(
    repo: &Repo,
    commit: &str,
    p: &Promotion,
    sign: &NoteSigner,
) -> Result<(NoteOutcome, Vec<u8>), GitError> {
    let git = repo.git();
    let target = Oid::from_str(commit)?;
    let mut refused = String::new();
    for attempt in 0..MAX_PUSH_ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(RETRY_BACKOFF * 2u32.pow(attempt - 1));
        }
        // the notes as the remote has them now (possibly none yet)
        fetch_notes(repo)?;
        if let Some(found) = note_of(repo, target)? {
            return Ok((NoteOutcome::AlreadyThere, found));
        }
        let envelope = sign(commit).map_err(|m| {
            GitError::Git(git2::Error::from_str(&format!("signing the summary: {m}")))
        })?;
        let text = String::from_utf8(envelope).map_err(|_| {
            GitError::Git(git2::Error::from_str("the summary envelope is not UTF-8"))
        })?;
        let sig = Signature::new(&p.author_name, &p.author_email, &git2::Time::new(p.time, 0))?;
        git.note(&sig, &sig, Some(LOCAL_NOTES), target, &text, false)?;
        match repo.push_ref(LOCAL_NOTES, NOTES_REF)? {
            PushOutcome::Pushed => return Ok((NoteOutcome::Written, text.into_bytes())),
            PushOutcome::Refused(why) => {
                tracing::info!(%why, "the notes ref moved meanwhile; rebuilding the note");
                refused = why;
            }
        }
    }
    Err(GitError::PushFailed {
        url: repo.url.clone(),
        branch: NOTES_REF.to_string(),
        source: git2::Error::from_str(&format!(
            "the notes ref kept moving: the push was refused {MAX_PUSH_ATTEMPTS} times (last: {refused})"
        )),
    })
}

/// Largest summary note read.
pub const MAX_NOTE_BYTES: usize = 4 * 1024 * 1024;

/// Where [`fetch_notes`] puts the remote's notes.
const LOCAL_NOTES: &str = "refs/sealgate/notes";

/// Fetches the remote's [`NOTES_REF`]; `false` when it has none.
///
/// # Errors
/// [`GitError`] when the notes cannot be fetched.
pub fn fetch_notes(repo: &Repo) -> Result<bool, GitError> {
    let git = repo.git();
    if let Ok(mut r) = git.find_reference(LOCAL_NOTES) {
        r.delete()?;
    }
    match repo.fetch(NOTES_REF) {
        Ok(f) => {
            git.reference(LOCAL_NOTES, f.commit, true, "sealgate: notes")?;
            Ok(true)
        }
        Err(GitError::RefNotFound { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The summary note of `commit` in the notes [`fetch_notes`] fetched, if it has one.
///
/// # Errors
/// [`GitError`] when the notes cannot be read or the note is larger than
/// [`MAX_NOTE_BYTES`].
pub fn note_of(repo: &Repo, commit: Oid) -> Result<Option<Vec<u8>>, GitError> {
    let git = repo.git();
    let Ok(notes) = git.find_reference(LOCAL_NOTES) else {
        return Ok(None);
    };
    let notes = notes.peel_to_tree()?;
    let hex = commit.to_string();
    let entry = notes.get_name(&hex).map(|e| e.id()).or_else(|| {
        // fanned-out notes trees (`ab/cdef…`), as git writes them for many notes
        let (dir, rest) = hex.split_at(2);
        let sub = git.find_tree(notes.get_name(dir)?.id()).ok()?;
        sub.get_name(rest).map(|e| e.id())
    });
    let Some(blob) = entry else {
        return Ok(None);
    };
    // the size is checked before the blob is read
    let (size, kind) = git.odb()?.read_header(blob)?;
    if kind != git2::ObjectType::Blob || size > MAX_NOTE_BYTES {
        return Err(GitError::Git(git2::Error::from_str(&format!(
            "the note of {hex} is not a blob of at most {MAX_NOTE_BYTES} bytes"
        ))));
    }
    Ok(Some(git.find_blob(blob)?.content().to_vec()))
}

fn promote_branch(repo: &Repo, p: &Promotion) -> Result<PromoteOutcome, GitError> {
    let git = repo.git();
    let local = format!("refs/sealgate/target/{}", p.branch);
    let mut refused = String::new();
    for attempt in 0..MAX_PUSH_ATTEMPTS {
        if attempt > 0 {
            // a concurrent writer may still hold the remote ref's lock: let it finish
            std::thread::sleep(RETRY_BACKOFF * 2u32.pow(attempt - 1));
        }
        // the branch as the remote has it now (it may not exist yet)
        let head = match repo.fetch(&format!("refs/heads/{}", p.branch)) {
            Ok(f) => Some(f.commit),
            Err(GitError::RefNotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let parent: Option<Commit<'_>> = match head {
            Some(h) => Some(git.find_commit(h)?),
            None => None,
        };
        if let Some(c) = &parent
            && source_trailer(c.message().unwrap_or_default()) == Some(p.source_commit.as_str())
        {
            return Ok(PromoteOutcome::AlreadyPromoted {
                commit: c.id().to_string(),
            });
        }
        let files_tree = build_tree(git, &p.files)?;
        let base_tree = match &parent {
            Some(c) => Some(c.tree()?),
            None => None,
        };
        let tree_id = replace_at(git, base_tree.as_ref(), &p.path, files_tree)?;
        let tree = git.find_tree(tree_id)?;
        let sig = Signature::new(&p.author_name, &p.author_email, &git2::Time::new(p.time, 0))?;
        let parents: Vec<&Commit<'_>> = parent.iter().collect();
        let commit = git.commit(None, &sig, &sig, &message(p), &tree, &parents)?;
        git.reference(&local, commit, true, "sealgate: promotion")?;
        // Crash-safety tests kill the process here (the commit exists only locally).
        if std::env::var_os("SEALGATE_FAILPOINT").is_some_and(|v| v == "promote-before-push") {
            tracing::error!("failpoint promote-before-push: exiting");
            std::process::exit(99);
        }
        match repo.push(&local, &p.branch)? {
            PushOutcome::Pushed => {
                return Ok(PromoteOutcome::Promoted {
                    commit: commit.to_string(),
                });
            }
            PushOutcome::Refused(why) => {
                tracing::info!(branch = %p.branch, %why, "deploy branch moved meanwhile; rebuilding the promotion");
                refused = why;
            }
        }
    }
    Err(GitError::PushFailed {
        url: repo.url.clone(),
        branch: p.branch.clone(),
        source: git2::Error::from_str(&format!(
            "the branch kept moving: the push was refused {MAX_PUSH_ATTEMPTS} times (last: {refused})"
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers() {
        let p = Promotion {
            branch: "deploy".into(),
            path: String::new(),
            files: BTreeMap::new(),
            source_commit: "0123456789abcdef0123456789abcdef01234567".into(),
            source_ref: "main".into(),
            source_url: "file:///r".into(),
            policy_digest: "sha256:00".into(),
            author_name: "a".into(),
            author_email: "a@b".into(),
            time: 0,
        };
        let m = message(&p);
        assert_eq!(
            source_trailer(&m),
            Some("0123456789abcdef0123456789abcdef01234567")
        );
        assert!(m.contains("\nSealgate-Policy: sha256:00\nSealgate-Decision: pass\n"));
        assert_eq!(source_trailer("fix: things\n"), None);
    }
}
