//! Image update commits: the files a scan rewrote, committed on top of a branch's head and
//! pushed with the promotion's rules — never forced; when the branch moved meanwhile, the
//! rewrite is computed again from the new head (so a concurrent commit is kept, and markers
//! it changed are honoured) and pushed again, a bounded number of times.

use std::collections::BTreeMap;

use git2::{Oid, Signature};

use super::super::source::git::{GitError, PushOutcome, Repo};

/// Attempts when the branch moved under us.
const MAX_PUSH_ATTEMPTS: u32 = 4;
/// Pause before the second attempt; doubles for each further one.
const RETRY_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);

/// Where and as whom.
#[derive(Debug, Clone)]
pub struct UpdateCommit {
    /// The branch the commit goes to.
    pub branch: String,
    /// Where the branch starts when it does not exist yet (the watched ref).
    pub start: String,
    pub author_name: String,
    pub author_email: String,
    /// Seconds since the epoch.
    pub time: i64,
}

/// What was pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// The commit now on the branch, and the head it was made on.
    Committed { commit: String, parent: String },
    /// The rewrite found nothing to change at the branch's head.
    NothingToDo { head: String },
}

/// Files to write (repository path → bytes) and the commit message.
pub type Rewrite = (BTreeMap<String, Vec<u8>>, String);

/// Commits what `rewrite` computes from the branch head (`None`: nothing to change) and
/// pushes it; see the module documentation.
///
/// # Errors
/// [`GitError`] when the branch cannot be fetched, the tree written, or the push keeps
/// being refused.
pub fn commit_update(
    repo: &Repo,
    c: &UpdateCommit,
    mut rewrite: impl FnMut(&Repo, Oid) -> Result<Option<Rewrite>, GitError>,
) -> Result<UpdateOutcome, GitError> {
    let git = repo.git();
    let local = format!("refs/sealgate/updates/{}", c.branch);
    let mut refused = String::new();
    for attempt in 0..MAX_PUSH_ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(RETRY_BACKOFF * 2u32.pow(attempt - 1));
        }
        let head = match repo.fetch(&format!("refs/heads/{}", c.branch)) {
            Ok(f) => f.commit,
            Err(GitError::RefNotFound { .. }) if c.start != c.branch => {
                repo.fetch(&c.start)?.commit
            }
            Err(e) => return Err(e),
        };
        let Some((files, message)) = rewrite(repo, head)? else {
            return Ok(UpdateOutcome::NothingToDo {
                head: head.to_string(),
            });
        };
        let parent = git.find_commit(head)?;
        let tree = set_files(git, &parent.tree()?, &files)?;
        let tree = git.find_tree(tree)?;
        let sig = Signature::new(&c.author_name, &c.author_email, &git2::Time::new(c.time, 0))?;
        let commit = git.commit(None, &sig, &sig, &message, &tree, &[&parent])?;
        git.reference(&local, commit, true, "sealgate: image update")?;
        match repo.push(&local, &c.branch)? {
            PushOutcome::Pushed => {
                return Ok(UpdateOutcome::Committed {
                    commit: commit.to_string(),
                    parent: head.to_string(),
                });
            }
            PushOutcome::Refused(why) => {
                tracing::info!(branch = %c.branch, %why, "branch moved meanwhile; recomputing the image update");
                refused = why;
            }
        }
    }
    Err(GitError::PushFailed {
        url: repo.url.clone(),
        branch: c.branch.clone(),
        source: git2::Error::from_str(&format!(
            "the branch kept moving: the push was refused {MAX_PUSH_ATTEMPTS} times (last: {refused})"
        )),
    })
}

/// `base` with the blobs of `files` (paths with `/`) replaced; existing entries keep their
/// mode, new ones are regular files.
fn set_files(
    repo: &git2::Repository,
    base: &git2::Tree<'_>,
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<Oid, git2::Error> {
    let mut here: BTreeMap<&str, &Vec<u8>> = BTreeMap::new();
    let mut below: BTreeMap<&str, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    for (path, data) in files {
        match path.split_once('/') {
            Some((dir, rest)) => {
                below
                    .entry(dir)
                    .or_default()
                    .insert(rest.to_owned(), data.clone());
            }
            None => {
                here.insert(path, data);
            }
        }
    }
    let mut tb = repo.treebuilder(Some(base))?;
    for (name, data) in here {
        let mode = base
            .get_name(name)
            .map(|e| e.filemode())
            .filter(|m| *m == 0o100644 || *m == 0o100755)
            .unwrap_or(0o100644);
        tb.insert(name, repo.blob(data)?, mode)?;
    }
    for (dir, files) in below {
        let sub = match base
            .get_name(dir)
            .filter(|e| e.kind() == Some(git2::ObjectType::Tree))
        {
            Some(e) => repo.find_tree(e.id())?,
            None => {
                let empty = repo.treebuilder(None)?.write()?;
                repo.find_tree(empty)?
            }
        };
        let oid = set_files(repo, &sub, &files)?;
        tb.insert(dir, oid, 0o040000)?;
    }
    tb.write()
}
