//! Cached bare repositories driven by git2 (libgit2).
//!
//! One bare repository per remote URL under the state directory, reused across
//! reconciles: a fetch brings only new objects. The watched ref is fetched into
//! `refs/sealgate/source/…`; the last commit seen is kept at `refs/sealgate/seen/…` so a
//! force-push (a new head that does not descend from the last one) is detected. Fetches
//! have a deadline (checked on every progress callback, plus libgit2's server timeouts).
//! Credentials: an HTTPS token (from an environment variable or file, read per fetch,
//! never logged) or an SSH key whose server host key must be listed in a `known_hosts`
//! file (never "accept any").
//!
//! A revision's files are written into a fresh private directory (mode 0700): regular
//! files only — symlinks and submodules in the tree are skipped (never followed), paths
//! with `..` or absolute components cannot occur in a git tree, and sizes and counts are
//! bounded.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use git2::{
    AutotagOption, CertificateCheckStatus, Cred, CredentialType, FetchOptions, ObjectType, Oid,
    PushOptions, RemoteCallbacks, Repository, TreeWalkMode, TreeWalkResult,
};

/// How the source is reached. Secrets stay where they are (env var, file) until a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitAuth {
    None,
    /// HTTPS token from an environment variable or a file; `username` defaults to
    /// `x-access-token` (GitHub; GitLab accepts any user name with a token).
    Token {
        env: Option<String>,
        file: Option<PathBuf>,
        username: String,
    },
    /// SSH key file; the server's host key must be in `known_hosts`.
    Ssh {
        key_file: PathBuf,
        known_hosts: PathBuf,
        username: Option<String>,
    },
}

impl GitAuth {
    /// An HTTPS token from environment variable `env` (user `x-access-token`), or none:
    /// what the one-shot commands' `--token-env` means.
    pub fn token_env(env: Option<String>) -> Self {
        match env {
            Some(env) => Self::Token {
                env: Some(env),
                file: None,
                username: "x-access-token".into(),
            },
            None => Self::None,
        }
    }
}

/// Largest file read from a revision.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Largest total size of a revision's files.
pub const MAX_TOTAL_BYTES: u64 = 512 * 1024 * 1024;
/// Most files read from a revision.
pub const MAX_FILES: usize = 100_000;

/// Why a Git operation could not be done. All mean "could not check" for the gate.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("opening the cached repository {path}")]
    OpenFailed {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("fetching {url} ({git_ref})")]
    FetchFailed {
        url: String,
        git_ref: String,
        #[source]
        source: git2::Error,
    },
    #[error("fetching {url}: timed out after {seconds} s")]
    FetchTimeout { url: String, seconds: u64 },
    #[error("{url}: no branch or tag {git_ref:?}")]
    RefNotFound { url: String, git_ref: String },
    #[error("reading revision {commit}")]
    ReadFailed {
        commit: String,
        #[source]
        source: git2::Error,
    },
    #[error("revision {commit}: {message}")]
    TooLarge { commit: String, message: String },
    #[error("revision {commit}: no path {path:?}")]
    PathNotFound { commit: String, path: String },
    #[error("writing the checkout")]
    WriteFailed(#[source] std::io::Error),
    #[error("credentials: {0}")]
    Credentials(String),
    #[error("pushing {branch} to {url}")]
    PushFailed {
        url: String,
        branch: String,
        #[source]
        source: git2::Error,
    },
    #[error("{0}")]
    Git(#[from] git2::Error),
}

/// A cached bare repository for one remote.
pub struct Repo {
    pub url: String,
    repo: Repository,
    auth: GitAuth,
    timeout: Duration,
    /// Why the host-key check rejected the server, if it did: libgit2 replaces the
    /// callback's error with a generic "invalid or unknown remote ssh hostkey".
    host_key_rejected: std::sync::Mutex<Option<String>>,
}

/// What a fetch found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOutcome {
    /// The commit the ref points at now.
    pub commit: Oid,
    /// The commit seen at the previous fetch, if any.
    pub previous: Option<Oid>,
    /// The new commit does not descend from the previous one: history was rewritten.
    pub force_pushed: bool,
}

/// A revision's files in a private directory (removed on drop).
pub struct CheckedOut {
    pub commit: Oid,
    dir: tempfile::TempDir,
    /// Relative path (with `/`) → git file mode, for every file written.
    pub files: Vec<(String, i32)>,
    /// Entries not written: symlinks and submodules, with their paths.
    pub skipped: Vec<String>,
}

impl CheckedOut {
    /// The directory holding the sub-path's files.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

fn ref_key(git_ref: &str) -> String {
    git_ref
        .trim_start_matches("refs/")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_./".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Repo {
    /// Opens (or creates) the cached bare repository for `url` under `state_dir`.
    ///
    /// # Errors
    /// [`GitError::OpenFailed`].
    pub fn open(
        state_dir: &Path,
        url: &str,
        auth: GitAuth,
        timeout: Duration,
    ) -> Result<Self, GitError> {
        use sha2::Digest as _;
        let key = hex::encode(sha2::Sha256::digest(url.as_bytes()));
        let path = state_dir
            .join("repos")
            .join(format!("{}.git", key.get(..24).unwrap_or(&key)));
        let open_failed = |source| GitError::OpenFailed {
            path: path.clone(),
            source,
        };
        let repo = match Repository::open_bare(&path) {
            Ok(r) => r,
            Err(_) => {
                std::fs::create_dir_all(&path).map_err(GitError::WriteFailed)?;
                Repository::init_bare(&path).map_err(open_failed)?
            }
        };
        Ok(Self {
            url: url.to_string(),
            repo,
            auth,
            timeout,
            host_key_rejected: std::sync::Mutex::new(None),
        })
    }

    /// The underlying repository.
    pub fn git(&self) -> &Repository {
        &self.repo
    }

    /// Callbacks with credentials, host-key checking and a deadline.
    pub(crate) fn callbacks(&self, deadline: Instant) -> RemoteCallbacks<'_> {
        let mut cb = RemoteCallbacks::new();
        let auth = self.auth.clone();
        let mut attempts = 0;
        cb.credentials(move |_url, user_from_url, allowed| {
            // Over SSH, libgit2 first asks for the user name when the URL has none: no
            // authentication attempt yet.
            if let GitAuth::Ssh { username, .. } = &auth
                && allowed.contains(CredentialType::USERNAME)
            {
                return Cred::username(username.as_deref().or(user_from_url).unwrap_or("git"));
            }
            attempts += 1;
            // A static token or key cannot get better by resending it (and forges lock
            // accounts out after repeated failures): one try.
            if attempts > 1 {
                let from = match &auth {
                    GitAuth::Token { env: Some(e), .. } => {
                        format!("the token from source.auth.tokenEnv {e}")
                    }
                    GitAuth::Token { file: Some(f), .. } => {
                        format!("the token from source.auth.tokenFile {}", f.display())
                    }
                    GitAuth::Ssh { key_file, .. } => {
                        format!("the SSH key {}", key_file.display())
                    }
                    _ => "the configured credentials".to_string(),
                };
                return Err(git2::Error::from_str(&format!(
                    "the remote rejected {from}"
                )));
            }
            match &auth {
                GitAuth::None => Err(git2::Error::from_str(
                    "the remote asks for credentials and none are configured (source.auth)",
                )),
                GitAuth::Token {
                    env,
                    file,
                    username,
                } => {
                    if !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                        return Err(git2::Error::from_str(
                            "the remote does not accept a token over this transport",
                        ));
                    }
                    let token = read_token(env.as_deref(), file.as_deref())
                        .map_err(|m| git2::Error::from_str(&m))?;
                    Cred::userpass_plaintext(username, token.trim())
                }
                GitAuth::Ssh {
                    key_file, username, ..
                } => {
                    let user = username.as_deref().or(user_from_url).unwrap_or("git");
                    Cred::ssh_key(user, None, key_file, None)
                }
            }
        });
        if let GitAuth::Ssh { known_hosts, .. } = &self.auth {
            let known_hosts = known_hosts.clone();
            let port = ssh_port(&self.url);
            let rejected = &self.host_key_rejected;
            cb.certificate_check(move |cert, host| {
                let check = || {
                    let hk = cert.as_hostkey().ok_or("not an SSH host key")?;
                    let key = hk.hostkey().ok_or("the SSH host key is not available")?;
                    let text = crate::base::files::read_regular_string(
                        &known_hosts,
                        crate::base::files::MAX_SMALL_FILE,
                    )
                    .map_err(|e| format!("reading {e}"))?;
                    // libgit2 passes the host without the port; like OpenSSH, a server on
                    // another port than 22 is listed as `[host]:port`
                    let name = match port {
                        Some(p) if p != 22 => format!("[{host}]:{p}"),
                        _ => host.to_string(),
                    };
                    if known_hosts_match(&text, &name, key) {
                        Ok(CertificateCheckStatus::CertificateOk)
                    } else {
                        Err(format!(
                            "the SSH host key of {name} is not in the known_hosts file {}",
                            known_hosts.display()
                        ))
                    }
                };
                check().map_err(|why: String| {
                    if let Ok(mut r) = rejected.lock() {
                        *r = Some(why.clone());
                    }
                    git2::Error::from_str(&why)
                })
            });
        }
        cb.transfer_progress(move |_| Instant::now() < deadline);
        cb.sideband_progress(move |_| Instant::now() < deadline);
        cb
    }

    /// `e`, with the host-key check's own reason when that check failed it.
    fn explained(&self, e: git2::Error) -> git2::Error {
        match self
            .host_key_rejected
            .lock()
            .ok()
            .and_then(|mut r| r.take())
        {
            Some(why) => git2::Error::new(e.code(), e.class(), why),
            None => e,
        }
    }

    fn fetch_refspecs(
        &self,
        refspecs: &[String],
        git_ref: &str,
        tags: bool,
    ) -> Result<(), GitError> {
        let deadline = Instant::now() + self.timeout;
        let mut opts = FetchOptions::new();
        opts.remote_callbacks(self.callbacks(deadline));
        opts.download_tags(if tags {
            AutotagOption::All
        } else {
            AutotagOption::None
        });
        let mut remote = self.repo.remote_anonymous(&self.url)?;
        let specs: Vec<&str> = refspecs.iter().map(String::as_str).collect();
        remote
            .fetch(&specs, Some(&mut opts), None)
            .map_err(|source| {
                if Instant::now() >= deadline {
                    GitError::FetchTimeout {
                        url: self.url.clone(),
                        seconds: self.timeout.as_secs(),
                    }
                } else {
                    GitError::FetchFailed {
                        url: self.url.clone(),
                        git_ref: git_ref.to_string(),
                        source: self.explained(source),
                    }
                }
            })
    }

    /// Fetches `git_ref` (a branch or tag name, or a full `refs/…` name) and reports the
    /// commit it points at, and whether history was rewritten since the last fetch.
    ///
    /// # Errors
    /// [`GitError`] when the remote cannot be reached or has no such ref.
    pub fn fetch(&self, git_ref: &str) -> Result<FetchOutcome, GitError> {
        let key = ref_key(git_ref);
        let candidates: Vec<String> = if git_ref.starts_with("refs/") {
            vec![git_ref.to_string()]
        } else {
            vec![
                format!("refs/heads/{git_ref}"),
                format!("refs/tags/{git_ref}"),
            ]
        };
        let local = |i: usize| format!("refs/sealgate/source/{key}/{i}");
        let specs: Vec<String> = candidates
            .iter()
            .enumerate()
            .map(|(i, c)| format!("+{c}:{}", local(i)))
            .collect();
        // stale results of an earlier fetch must not answer for a ref that is gone now
        for i in 0..candidates.len() {
            if let Ok(mut r) = self.repo.find_reference(&local(i)) {
                let _ = r.delete();
            }
        }
        self.fetch_refspecs(&specs, git_ref, false)?;
        let commit = (0..candidates.len())
            .find_map(|i| {
                self.repo
                    .find_reference(&local(i))
                    .ok()
                    .and_then(|r| r.peel_to_commit().ok())
                    .map(|c| c.id())
            })
            .ok_or_else(|| GitError::RefNotFound {
                url: self.url.clone(),
                git_ref: git_ref.to_string(),
            })?;
        let seen = format!("refs/sealgate/seen/{key}");
        let previous = self
            .repo
            .find_reference(&seen)
            .ok()
            .and_then(|r| r.target());
        let force_pushed = match previous {
            Some(p) if p != commit => !self.repo.graph_descendant_of(commit, p).unwrap_or(false),
            _ => false,
        };
        self.repo
            .reference(&seen, commit, true, "sealgate: seen")
            .map_err(GitError::Git)?;
        Ok(FetchOutcome {
            commit,
            previous,
            force_pushed,
        })
    }

    /// Fetches the tags under `prefix` (e.g. `sealgate/approved/`) into `refs/tags/`.
    ///
    /// # Errors
    /// [`GitError`] when the remote cannot be reached.
    pub fn fetch_tags(&self, prefix: &str) -> Result<(), GitError> {
        // mirror the remote: a tag deleted there (a revoked approval) must not linger here
        let local: Vec<String> = self
            .repo
            .references_glob(&format!("refs/tags/{prefix}*"))?
            .filter_map(|r| r.ok().and_then(|r| r.name().ok().map(str::to_string)))
            .collect();
        for name in local {
            if let Ok(mut r) = self.repo.find_reference(&name) {
                let _ = r.delete();
            }
        }
        let spec = format!("+refs/tags/{prefix}*:refs/tags/{prefix}*");
        self.fetch_refspecs(&[spec], &format!("refs/tags/{prefix}*"), false)
    }

    /// Writes the files under `sub_path` of `commit` into a new private directory.
    ///
    /// # Errors
    /// [`GitError`] when the revision cannot be read, exceeds the limits, or has no such path.
    pub fn checkout(&self, commit: Oid, sub_path: &str) -> Result<CheckedOut, GitError> {
        let id = commit.to_string();
        let read_failed = |source| GitError::ReadFailed {
            commit: id.clone(),
            source,
        };
        let c = self.repo.find_commit(commit).map_err(read_failed)?;
        let root = c.tree().map_err(read_failed)?;
        let tree = if sub_path.is_empty() {
            root
        } else {
            let entry = root
                .get_path(Path::new(sub_path))
                .map_err(|_| GitError::PathNotFound {
                    commit: id.clone(),
                    path: sub_path.to_string(),
                })?;
            if entry.kind() != Some(ObjectType::Tree) {
                return Err(GitError::PathNotFound {
                    commit: id.clone(),
                    path: sub_path.to_string(),
                });
            }
            self.repo.find_tree(entry.id()).map_err(read_failed)?
        };
        let dir = tempfile::Builder::new()
            .prefix("sealgate-checkout-")
            .tempdir()
            .map_err(GitError::WriteFailed)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
                .map_err(GitError::WriteFailed)?;
        }
        let mut files = Vec::new();
        let mut skipped = Vec::new();
        let mut total: u64 = 0;
        let mut failure: Option<GitError> = None;
        tree.walk(TreeWalkMode::PreOrder, |parent, entry| {
            let name = String::from_utf8_lossy(entry.name_bytes()).to_string();
            let rel = format!("{parent}{name}");
            match (entry.kind(), entry.filemode()) {
                (Some(ObjectType::Tree), _) => return TreeWalkResult::Ok,
                (Some(ObjectType::Blob), mode @ (0o100644 | 0o100755)) => {
                    let blob = match self.repo.find_blob(entry.id()) {
                        Ok(b) => b,
                        Err(e) => {
                            failure = Some(read_failed(e));
                            return TreeWalkResult::Abort;
                        }
                    };
                    let size = blob.content().len() as u64;
                    total += size;
                    if size > MAX_FILE_BYTES || total > MAX_TOTAL_BYTES || files.len() >= MAX_FILES
                    {
                        failure = Some(GitError::TooLarge {
                            commit: id.clone(),
                            message: format!(
                                "{rel}: over the limits ({MAX_FILE_BYTES} bytes a file, {MAX_TOTAL_BYTES} in all, {MAX_FILES} files)"
                            ),
                        });
                        return TreeWalkResult::Abort;
                    }
                    let path = dir.path().join(&rel);
                    let written = path
                        .parent()
                        .map_or(Ok(()), std::fs::create_dir_all)
                        .and_then(|()| std::fs::write(&path, blob.content()));
                    if let Err(e) = written {
                        failure = Some(GitError::WriteFailed(e));
                        return TreeWalkResult::Abort;
                    }
                    files.push((rel, mode));
                }
                _ => skipped.push(rel),
            }
            TreeWalkResult::Ok
        })
        .map_err(|e| failure.take().unwrap_or_else(|| read_failed(e)))?;
        if let Some(f) = failure {
            return Err(f);
        }
        Ok(CheckedOut {
            commit,
            dir,
            files,
            skipped,
        })
    }

    /// The commit's signature and signed data, if it is signed.
    pub fn commit_signature(&self, commit: Oid) -> Option<(Vec<u8>, Vec<u8>)> {
        self.repo
            .extract_signature(&commit, None)
            .ok()
            .map(|(sig, data)| (sig.to_vec(), data.to_vec()))
    }

    /// Author (`Name <email>`), commit time (seconds since the epoch) and message of a
    /// commit (lossy UTF-8).
    pub fn commit_info(&self, commit: Oid) -> Option<(String, i64, String)> {
        let c = self.repo.find_commit(commit).ok()?;
        let author = c.author();
        let who = format!(
            "{} <{}>",
            String::from_utf8_lossy(author.name_bytes()),
            String::from_utf8_lossy(author.email_bytes())
        );
        let message = String::from_utf8_lossy(c.message_bytes()).into_owned();
        Some((who, c.time().seconds(), message))
    }

    /// Commit time (seconds since the epoch).
    pub fn commit_time(&self, commit: Oid) -> Option<i64> {
        self.repo
            .find_commit(commit)
            .ok()
            .map(|c| c.time().seconds())
    }

    /// The raw object of the annotated tag `refs/tags/<name>`, with the commit it points at.
    pub fn tag(&self, name: &str) -> Option<(Vec<u8>, Oid)> {
        let r = self
            .repo
            .find_reference(&format!("refs/tags/{name}"))
            .ok()?;
        let tag_id = r.target()?;
        let tag = self.repo.find_tag(tag_id).ok()?;
        let target = tag.target_id();
        let raw = self.repo.odb().ok()?.read(tag_id).ok()?.data().to_vec();
        Some((raw, target))
    }

    /// Pushes `local_ref` to `branch` on the remote, never forced.
    /// [`PushOutcome::Refused`] when the remote branch moved meanwhile (see [`push_ref`]).
    ///
    /// # Errors
    /// [`GitError::PushFailed`] for anything else.
    ///
    /// [`push_ref`]: Repo::push_ref
    pub fn push(&self, local_ref: &str, branch: &str) -> Result<PushOutcome, GitError> {
        self.push_ref(local_ref, &format!("refs/heads/{branch}"))
    }

    /// Fetches every branch of the remote (into `refs/sealgate/all/…`).
    ///
    /// # Errors
    /// [`GitError`] when the remote cannot be reached.
    pub fn fetch_all_heads(&self) -> Result<(), GitError> {
        self.fetch_refspecs(
            &["+refs/heads/*:refs/sealgate/all/*".to_string()],
            "refs/heads/*",
            false,
        )
    }

    /// Whether the remote has `remote_ref` (a full ref name) now: the id it advertises.
    ///
    /// # Errors
    /// [`GitError`] when the remote cannot be reached.
    pub fn remote_ref(&self, remote_ref: &str) -> Result<Option<Oid>, GitError> {
        let deadline = Instant::now() + self.timeout;
        let mut remote = self.repo.remote_anonymous(&self.url)?;
        let failed = |source| GitError::FetchFailed {
            url: self.url.clone(),
            git_ref: remote_ref.to_string(),
            source: self.explained(source),
        };
        let connection = remote
            .connect_auth(git2::Direction::Fetch, Some(self.callbacks(deadline)), None)
            .map_err(failed)?;
        let heads = connection.list().map_err(failed)?;
        Ok(heads
            .iter()
            .find(|h| h.name() == remote_ref)
            .map(git2::RemoteHead::oid))
    }

    /// Pushes `local_ref` to `remote_ref` (a full ref name), never forced.
    /// [`PushOutcome::Refused`] when the remote refused it because the ref is not where
    /// the push expected it (see [`refused_because_moved`]): not a fast-forward, a lost
    /// compare-and-swap on the remote, or an existing tag.
    ///
    /// # Errors
    /// [`GitError::PushFailed`] for anything else (a declined hook, missing permissions,
    /// an unreachable remote…): such refusals are not worth retrying.
    pub fn push_ref(&self, local_ref: &str, remote_ref: &str) -> Result<PushOutcome, GitError> {
        let branch = remote_ref.trim_start_matches("refs/heads/");
        let deadline = Instant::now() + self.timeout;
        let mut cb = self.callbacks(deadline);
        let rejected = std::rc::Rc::new(std::cell::RefCell::new(None::<String>));
        let r2 = rejected.clone();
        cb.push_update_reference(move |_name, status| {
            if let Some(s) = status {
                *r2.borrow_mut() = Some(s.to_string());
            }
            Ok(())
        });
        let mut opts = PushOptions::new();
        opts.remote_callbacks(cb);
        let mut remote = self.repo.remote_anonymous(&self.url)?;
        let spec = format!("{local_ref}:{remote_ref}");
        match remote.push(&[spec.as_str()], Some(&mut opts)) {
            Ok(()) => {}
            // libgit2's own check against the advertised ref, before anything is sent
            Err(e)
                if e.code() == git2::ErrorCode::NotFastForward
                    || refused_because_moved(e.message()) =>
            {
                return Ok(PushOutcome::Refused(e.message().to_string()));
            }
            Err(source) => {
                return Err(GitError::PushFailed {
                    url: self.url.clone(),
                    branch: branch.to_string(),
                    source: self.explained(source),
                });
            }
        }
        let status = rejected.borrow().clone();
        match status {
            None => Ok(PushOutcome::Pushed),
            Some(s) if refused_because_moved(&s) => Ok(PushOutcome::Refused(s)),
            Some(s) => Err(GitError::PushFailed {
                url: self.url.clone(),
                branch: branch.to_string(),
                source: git2::Error::from_str(&s),
            }),
        }
    }
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The remote ref now points at the pushed commit.
    Pushed,
    /// The remote refused the update because its ref is not where the push expected it
    /// (someone else pushed first; for a tag: it already exists). The reason as reported.
    Refused(String),
}

/// Whether a refusal reported for a pushed ref means "the remote ref moved meanwhile"
/// (fetch again and retry). Covers the client-side checks (`non-fast-forward`, libgit2's
/// `non-fastforwardable`, `fetch first`, `stale info`, `already exists`) and the server's lost compare-and-swap:
/// receive-pack checks the old value when it updates the ref, after the pack and the
/// `pre-receive` hook, and reports `failed to update ref` (`failed to lock` in old git)
/// when the ref changed or was locked by a concurrent update in between. Declined hooks
/// (protected branches, permissions), hidden or invalid refs, missing objects and unpack
/// errors are not: retrying cannot help.
pub fn refused_because_moved(status: &str) -> bool {
    const MOVED: [&str; 8] = [
        "fast-forward",
        "fastforward",
        "fetch first",
        "stale info",
        "failed to update ref",
        "failed to lock",
        "cannot lock ref",
        "already exists",
    ];
    let status = status.to_ascii_lowercase();
    MOVED.iter().any(|m| status.contains(m))
}

/// The port of an `ssh://` URL, if it names one (`user@host:path` never does).
fn ssh_port(url: &str) -> Option<u16> {
    let rest = ["ssh://", "ssh+git://", "git+ssh://"]
        .iter()
        .find_map(|s| url.strip_prefix(s))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let port = match host_port.rsplit_once(']') {
        Some((_, after)) => after.strip_prefix(':')?,
        None => host_port.rsplit_once(':')?.1,
    };
    port.parse().ok()
}

fn read_token(env: Option<&str>, file: Option<&Path>) -> Result<String, String> {
    match (env, file) {
        (Some(name), _) => std::env::var(name)
            .map_err(|_| format!("environment variable {name} (source.auth.tokenEnv) is not set")),
        (None, Some(f)) => {
            crate::base::files::read_regular_string(f, crate::base::files::MAX_SMALL_FILE)
                .map_err(|e| format!("reading the token file {e}"))
        }
        (None, None) => Err("no token configured".into()),
    }
}

/// Whether `known_hosts` text lists `key` (raw SSH wire-format key) for `host`
/// (plain host patterns with `*`/`?`/`!` negation, `[host]:port`, and hashed `|1|` entries).
pub fn known_hosts_match(text: &str, host: &str, key: &[u8]) -> bool {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(hosts), Some(_kind), Some(blob)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(blob) = b64.decode(blob) else { continue };
        if blob != key {
            continue;
        }
        if host_matches(hosts, host) {
            return true;
        }
    }
    false
}

fn host_matches(patterns: &str, host: &str) -> bool {
    use base64::Engine as _;
    if let Some(hashed) = patterns.strip_prefix("|1|") {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut it = hashed.split('|');
        let (Some(salt), Some(hash)) = (it.next(), it.next()) else {
            return false;
        };
        let (Ok(salt), Ok(hash)) = (b64.decode(salt), b64.decode(hash)) else {
            return false;
        };
        return hmac_sha1(&salt, host.as_bytes()) == hash.as_slice();
    }
    let mut matched = false;
    for p in patterns.split(',') {
        if let Some(neg) = p.strip_prefix('!') {
            if wildcard(neg, host) {
                return false;
            }
        } else if wildcard(p, host) {
            matched = true;
        }
    }
    matched
}

fn wildcard(p: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (p.chars().collect(), s.chars().collect());
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some(pi);
                mark = si;
                pi += 1;
            }
            Some(c) if *c == '?' || c.eq_ignore_ascii_case(&s[si]) => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some(st) => {
                    pi = st + 1;
                    mark += 1;
                    si = mark;
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// HMAC-SHA1 (RFC 2104) for hashed known_hosts entries.
fn hmac_sha1(key: &[u8], msg: &[u8]) -> Vec<u8> {
    use sha1::Digest as _;
    let mut k = [0u8; 64];
    if key.len() > 64 {
        let d = sha1::Sha1::digest(key);
        k[..d.len()].copy_from_slice(&d);
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = sha1::Sha1::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = sha1::Sha1::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hosts_entries() {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20abcdefghijklmnopqrstuvwxyz012345";
        let other = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
        let text = format!(
            "# comment\ngit.example.com,10.0.0.1 ssh-ed25519 {k}\n[git.example.com]:2222 ssh-ed25519 {k}\n*.corp.example,!bad.corp.example ssh-ed25519 {k}\n",
            k = b64.encode(key)
        );
        assert!(known_hosts_match(&text, "git.example.com", key));
        assert!(known_hosts_match(&text, "10.0.0.1", key));
        assert!(known_hosts_match(&text, "[git.example.com]:2222", key));
        assert!(known_hosts_match(&text, "a.corp.example", key));
        assert!(!known_hosts_match(&text, "bad.corp.example", key));
        assert!(!known_hosts_match(&text, "git.example.com", other));
        assert!(!known_hosts_match(&text, "evil.example.com", key));
        // hashed entry: |1|salt|HMAC-SHA1(salt, host)
        let salt = b"0123456789abcdefghij";
        let hashed = format!(
            "|1|{}|{} ssh-ed25519 {}\n",
            b64.encode(salt),
            b64.encode(hmac_sha1(salt, b"hashed.example")),
            b64.encode(key)
        );
        assert!(known_hosts_match(&hashed, "hashed.example", key));
        assert!(!known_hosts_match(&hashed, "other.example", key));
        assert!(!known_hosts_match(
            "garbage line\n|1|x|y ssh-rsa !!!\n",
            "x",
            key
        ));
    }

    #[test]
    fn push_refusals_that_mean_the_ref_moved() {
        for moved in [
            "non-fast-forward",
            "cannot push non-fastforwardable reference",
            "fetch first",
            "stale info",
            "failed to update ref",
            "failed to lock",
            "already exists",
        ] {
            assert!(refused_because_moved(moved), "{moved}");
        }
        for hard in [
            "pre-receive hook declined",
            "protected branch hook declined",
            "hook declined",
            "deny updating a hidden ref",
            "funny refname",
            "missing necessary objects",
            "unpacker error",
            "permission denied",
            "deletion prohibited",
        ] {
            assert!(!refused_because_moved(hard), "{hard}");
        }
    }

    #[test]
    fn ssh_ports() {
        assert_eq!(ssh_port("ssh://git@example.com:2222/a/b.git"), Some(2222));
        assert_eq!(ssh_port("ssh://example.com:22/a"), Some(22));
        assert_eq!(ssh_port("ssh://git@example.com/a/b.git"), None);
        assert_eq!(ssh_port("ssh://[::1]:2200/a"), Some(2200));
        assert_eq!(ssh_port("ssh://u@[::1]/a"), None);
        assert_eq!(ssh_port("git@example.com:a/b.git"), None);
        assert_eq!(ssh_port("https://example.com:8443/a"), None);
    }

    #[test]
    fn hmac_sha1_matches_rfc_2202() {
        assert_eq!(
            hex::encode(hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }
}
