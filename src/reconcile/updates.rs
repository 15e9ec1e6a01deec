//! The image update step of the reconcile core (docs/updates.md): when `imageUpdates` is
//! set and a scan is due, read the `$imagepolicy` markers at the head of the update branch,
//! list each policy's tags once, verify the candidates newer than what the markers hold
//! (newest first) with the gate's own policies, and commit the first that passes of every
//! policy — pinned to the digest that was verified — in one commit. Newer tags that fail
//! are reported with their reason, never written. The revision it creates then goes through
//! the normal steps; its images are already in the evidence cache.

use std::collections::BTreeMap;

use crate::edge::source::git::{GitError, Repo};
use crate::edge::target::update::{self as commit, UpdateCommit, UpdateOutcome};
use crate::edge::verify::{self, CheckOptions};
use crate::manifests::{FoundImage, Location, Origin, Snapshot};
use crate::updates::markers::{self, Marker, Target};
use crate::updates::{ImageUpdates, MAX_REJECTED, UpdatePolicy};

use super::status::{ImageUpdateStatus, RejectedCandidate};
use super::{Driver, GateSpec, GateStatus, Reason, blocking};

/// What a scan did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// Not due yet (or no `imageUpdates`).
    Skipped,
    /// Nothing newer passed (or nothing to change).
    Unchanged,
    /// An update commit was pushed, moving these policies.
    Committed { commit: String, moved: Vec<String> },
    /// The branch could not be read or written.
    Failed { message: String },
}

/// Largest manifest file read for markers.
const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// A marked file at the branch head.
struct MarkedFile {
    /// Path in the repository.
    path: String,
    text: String,
    markers: Vec<Marker>,
}

fn repo_path(sub: &str, rel: &str) -> String {
    let sub = sub.trim_matches('/');
    if sub.is_empty() {
        rel.to_owned()
    } else {
        format!("{sub}/{rel}")
    }
}

/// The YAML files below `sub` at `head` that hold markers, and the problems found.
fn read_marked(
    repo: &Repo,
    head: git2::Oid,
    sub: &str,
) -> Result<(Vec<MarkedFile>, Vec<String>), GitError> {
    let checked = repo.checkout(head, sub)?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (rel, _) in &checked.files {
        if !(rel.ends_with(".yaml") || rel.ends_with(".yml")) {
            continue;
        }
        let Ok(text) =
            crate::base::files::read_regular_string(&checked.root().join(rel), MAX_FILE_BYTES)
        else {
            continue;
        };
        match markers::find(&text) {
            Ok((m, p)) => {
                problems.extend(p.into_iter().map(|p| format!("{rel}: {p}")));
                if !m.is_empty() {
                    out.push(MarkedFile {
                        path: repo_path(sub, rel),
                        text,
                        markers: m,
                    });
                }
            }
            Err(e) => {
                if text.contains("$imagepolicy") {
                    problems.push(format!("{rel}: {e}"));
                }
            }
        }
    }
    Ok((out, problems))
}

/// The one-image snapshot a candidate is verified as.
fn candidate(p: &UpdatePolicy, tag: &str) -> Snapshot {
    Snapshot {
        files: 1,
        manifests: 1,
        images: vec![FoundImage {
            reference: format!("{}:{tag}", p.image),
            location: Location {
                file: "imageUpdates".into(),
                document: 0,
                kind: "ImageUpdatePolicy".into(),
                namespace: None,
                name: p.name.clone(),
                pointer: "/image".into(),
            },
            origin: Origin::Scalar { path: None },
        }],
        ..Snapshot::default()
    }
}

/// Per policy: what it moves to (if anything) and its status.
#[allow(clippy::too_many_arguments, reason = "one step's inputs, named")]
async fn scan_policy<D: Driver>(
    spec: &GateSpec,
    driver: &D,
    u: &ImageUpdates,
    p: &UpdatePolicy,
    marked: &[MarkedFile],
    previous: Option<&ImageUpdateStatus>,
    listings: &mut BTreeMap<String, Result<Vec<String>, String>>,
    now: i64,
    stamp: &str,
) -> (Option<Target>, ImageUpdateStatus) {
    let mine: Vec<&Marker> = marked
        .iter()
        .flat_map(|f| f.markers.iter())
        .filter(|m| m.policy == p.name)
        .collect();
    let mut status = ImageUpdateStatus {
        name: p.name.clone(),
        image: p.image.clone(),
        last_scan_time: Some(stamp.to_owned()),
        ..ImageUpdateStatus::default()
    };
    if mine.is_empty() {
        status.message = Some(format!(
            "no marker names {:?} (# {{\"$imagepolicy\": \"{}\"}})",
            p.name, p.name
        ));
        return (None, status);
    }
    // what the markers hold: the newest of their tags under the selection (never move down)
    let tags_now: Vec<String> = mine.iter().filter_map(|m| m.current_tag()).collect();
    let current_tag = p
        .selection
        .order(&tags_now, &crate::updates::select::Exclude::default())
        .first()
        .map(|t| (*t).to_owned())
        .or_else(|| tags_now.first().cloned());
    let current_digest = mine.iter().find_map(|m| m.current_digest());
    status.current = current_tag.as_ref().map(|t| match &current_digest {
        Some(d) => format!("{t}@{d}"),
        None => t.clone(),
    });
    let before = driver.registry().requests();
    // one listing per repository and scan, whatever the number of policies that follow it
    let key = p.repository.to_string();
    let listed = match listings.get(&key) {
        Some(l) => l.clone(),
        None => {
            let l = driver
                .registry()
                .tags(&p.repository)
                .await
                .map_err(|e| format!("{}: {e}", e.code().as_str()));
            listings.insert(key, l.clone());
            l
        }
    };
    let tags = match listed {
        Ok(t) => t,
        Err(message) => {
            status.message = Some(message);
            status.requests = driver.registry().requests().saturating_sub(before);
            return (None, status);
        }
    };
    let recheck = i64::try_from(u.recheck.as_secs()).unwrap_or(i64::MAX);
    let fresh = |t: Option<&str>| {
        t.and_then(|t| crate::base::time::parse_rfc3339(t).ok())
            .is_some_and(|at| now.saturating_sub(at) < recheck)
    };
    let mut list: Vec<(String, bool)> = p
        .selection
        .newer(&tags, &p.exclude, current_tag.as_deref().unwrap_or(""))
        .into_iter()
        .take(u.max_candidates)
        .map(|t| (t.to_owned(), false))
        .collect();
    // the current tag re-pushed to another digest: checked once per `recheck`
    if let (Some(cur), Some(pinned)) = (&current_tag, &current_digest)
        && tags.contains(cur)
    {
        let before = previous.and_then(|q| q.current_checked_at.as_deref());
        if fresh(before) {
            status.current_checked_at = before.map(str::to_owned);
        } else {
            status.current_checked_at = Some(stamp.to_owned());
            use crate::edge::registry::Registry as _;
            match driver.registry().manifest(&p.repository, cur).await {
                Ok(Some(m)) if m.digest.to_string() != *pinned => list.push((cur.clone(), true)),
                Ok(_) => {}
                Err(e) => status.message = Some(format!("{}: {e}", e.code().as_str())),
            }
        }
    }
    let opts = CheckOptions {
        gather: spec.gather,
        resolve_all: true,
    };
    let mut target = None;
    for (tag, is_current) in list {
        if !is_current
            && let Some(r) = previous
                .and_then(|q| q.rejected.iter().find(|r| r.tag == tag))
                .filter(|r| fresh(r.checked_at.as_deref()))
        {
            // rejected within `recheck`: stands without a request
            if status.rejected.len() < MAX_REJECTED {
                status.rejected.push(r.clone());
            }
            continue;
        }
        let report = verify::check(
            driver.registry(),
            &candidate(p, &tag),
            &spec.policies,
            &opts,
            Some(driver.cache()),
            now,
            None,
        )
        .await;
        let Some(i) = report.images.first() else {
            continue;
        };
        let passed = !i.blocking && report.problems.is_empty();
        match (&i.digest, passed) {
            (Some(d), true) => {
                status.latest = Some(format!("{tag}@{d}"));
                target = Some(Target {
                    image: p.image.clone(),
                    tag: tag.clone(),
                    digest: d.clone(),
                });
                break;
            }
            _ => {
                let reason = i.verdict.reasons().into_iter().next();
                if status.rejected.len() < MAX_REJECTED {
                    status.rejected.push(RejectedCandidate {
                        tag: tag.clone(),
                        digest: i.digest.clone(),
                        reason: reason.as_ref().map_or_else(
                            || "UnresolvableReference".into(),
                            |r| r.code.as_str().to_owned(),
                        ),
                        message: reason.map_or_else(|| "not resolved".into(), |r| r.message),
                        checked_at: Some(stamp.to_owned()),
                    });
                }
            }
        }
    }
    if target.is_none() && status.latest.is_none() {
        status.latest.clone_from(&status.current);
    }
    status.requests = driver.registry().requests().saturating_sub(before);
    (target, status)
}

/// The update commit's message: a subject naming what moved, a trailer per move, the
/// policies' digest.
fn message(moves: &[String], policy_digest: &str) -> String {
    let short: Vec<&str> = moves
        .iter()
        .map(|m| m.rsplit_once(' ').map_or(m.as_str(), |(head, _)| head))
        .collect();
    let mut out = format!(
        "sealgate: update images ({})\n\nEvery new version passed policy; references are pinned to the digests that were verified.\n\n",
        short.join(", ")
    );
    for m in moves {
        out.push_str(&format!("Sealgate-Image-Update: {m}\n"));
    }
    out.push_str(&format!("Sealgate-Policy: {policy_digest}\n"));
    out
}

/// The rewrite of the marked files (read at `head`) to `targets`: the files that change and the
/// message, `None` when nothing changes.
fn rewrite_at(
    head: git2::Oid,
    marked: &[MarkedFile],
    targets: &BTreeMap<String, Target>,
    policy_digest: &str,
) -> Result<Option<commit::Rewrite>, GitError> {
    let mut files = BTreeMap::new();
    let mut moved: BTreeMap<String, String> = BTreeMap::new();
    for f in marked {
        let out =
            markers::rewrite(&f.text, &f.markers, targets).map_err(|e| GitError::ReadFailed {
                commit: head.to_string(),
                source: git2::Error::from_str(&format!("{}: {e}", f.path)),
            })?;
        if let Some(text) = out {
            for m in &f.markers {
                if let Some(t) = targets.get(&m.policy) {
                    let from = m.current_tag().unwrap_or_else(|| "-".into());
                    moved.entry(m.policy.clone()).or_insert_with(|| {
                        format!("{} {from} -> {} {}", m.policy, t.tag, t.digest)
                    });
                }
            }
            files.insert(f.path.clone(), text.into_bytes());
        }
    }
    if files.is_empty() {
        return Ok(None);
    }
    let moves: Vec<String> = moved.into_values().collect();
    Ok(Some((files, message(&moves, policy_digest))))
}

/// What a failed Git step says.
fn failure(o: super::Outcome) -> String {
    match o {
        super::Outcome::Failed { message, .. } => message,
        other => format!("{other:?}"),
    }
}

/// One scan when due (see the module documentation); records the per-policy status,
/// `lastImageScanTime` and `lastImageUpdateCommit`.
pub async fn scan<D: Driver>(
    spec: &GateSpec,
    driver: &D,
    st: &mut GateStatus,
    now: i64,
    stamp: &str,
) -> Scan {
    let Some(u) = spec.image_updates.clone() else {
        return Scan::Skipped;
    };
    if let (Some(interval), Some(last)) = (
        u.interval,
        st.last_image_scan_time
            .as_deref()
            .and_then(|t| crate::base::time::parse_rfc3339(t).ok()),
    ) && now.saturating_sub(last) < i64::try_from(interval.as_secs()).unwrap_or(i64::MAX)
    {
        return Scan::Skipped;
    }
    st.last_image_scan_time = Some(stamp.to_owned());
    let watched = spec
        .source
        .git_ref
        .trim_start_matches("refs/heads/")
        .to_owned();
    let branch = u.branch.clone().unwrap_or_else(|| watched.clone());
    let (open, sub) = (spec.source.open.clone(), spec.source.path.clone());
    let (b, start, s) = (branch.clone(), spec.source.git_ref.clone(), sub.clone());
    let read = blocking(
        &driver.git_busy(),
        &Reason::GitFetchFailed,
        spec.net_deadline(),
        move || {
            let repo = open()?;
            let head = match repo.fetch(&format!("refs/heads/{b}")) {
                Ok(f) => f.commit,
                Err(GitError::RefNotFound { .. }) if b != start => repo.fetch(&start)?.commit,
                Err(e) => return Err(e),
            };
            read_marked(&repo, head, &s).map(|(m, p)| (head, m, p))
        },
    )
    .await;
    let (scanned, marked, problems) = match read {
        Ok(r) => r,
        Err(o) => {
            let message = failure(o);
            for p in &mut st.image_updates {
                p.message = Some(format!("the branch could not be read: {message}"));
            }
            let scan = Scan::Failed { message };
            driver.on_image_scan(&st.image_updates, &scan);
            return scan;
        }
    };
    for p in &problems {
        tracing::warn!(problem = %p, "image update marker");
    }
    let mut targets = BTreeMap::new();
    let mut statuses = Vec::new();
    let previous = std::mem::take(&mut st.image_updates);
    let mut listings = BTreeMap::new();
    for p in &u.policies {
        let before = previous.iter().find(|q| q.name == p.name);
        let (target, mut status) = scan_policy(
            spec,
            driver,
            &u,
            p,
            &marked,
            before,
            &mut listings,
            now,
            stamp,
        )
        .await;
        if status.message.is_none()
            && let Some(problem) = problems
                .iter()
                .find(|q| q.contains(&format!("{:?}", p.name)))
        {
            status.message = Some(problem.clone());
        }
        if let Some(t) = target {
            targets.insert(p.name.clone(), t);
        }
        statuses.push(status);
    }
    st.image_updates = statuses;
    let moved: Vec<String> = targets.keys().cloned().collect();
    let scan = if targets.is_empty() {
        Scan::Unchanged
    } else {
        let c = UpdateCommit {
            branch,
            start: spec.source.git_ref.clone(),
            author_name: u.author_name.clone(),
            author_email: u.author_email.clone(),
            time: now,
        };
        let (open, digest) = (spec.source.open.clone(), spec.policy_digest.clone());
        let pushed = blocking(
            &driver.git_busy(),
            &Reason::PromotionFailed,
            spec.net_deadline() * 4,
            move || {
                let repo = open()?;
                commit::commit_update(&repo, &c, |repo, head| {
                    if head == scanned {
                        // the head the scan read: its files are at hand
                        return rewrite_at(head, &marked, &targets, &digest);
                    }
                    let (moved_on, _) = read_marked(repo, head, &sub)?;
                    rewrite_at(head, &moved_on, &targets, &digest)
                })
            },
        )
        .await;
        match pushed {
            Ok(UpdateOutcome::Committed { commit, .. }) => {
                st.last_image_update_commit = Some(commit.clone());
                for s in &mut st.image_updates {
                    if s.latest.is_some() && s.latest != s.current {
                        // just resolved and verified: it stands for `recheck`
                        s.current.clone_from(&s.latest);
                        s.current_checked_at = Some(stamp.to_owned());
                    }
                }
                Scan::Committed { commit, moved }
            }
            Ok(UpdateOutcome::NothingToDo { .. }) => Scan::Unchanged,
            Err(o) => {
                let message = failure(o);
                for s in &mut st.image_updates {
                    if s.latest != s.current {
                        s.message = Some(format!("the update could not be pushed: {message}"));
                    }
                }
                Scan::Failed { message }
            }
        }
    };
    driver.on_image_scan(&st.image_updates, &scan);
    scan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_has_a_subject_and_a_trailer_per_move() {
        let m = message(
            &[
                "web 1.0.0 -> 1.1.0 sha256:aa".into(),
                "api 2 -> 3 sha256:bb".into(),
            ],
            "sha256:pp",
        );
        assert!(
            m.starts_with("sealgate: update images (web 1.0.0 -> 1.1.0, api 2 -> 3)\n"),
            "{m}"
        );
        assert!(m.contains("\nSealgate-Image-Update: web 1.0.0 -> 1.1.0 sha256:aa\nSealgate-Image-Update: api 2 -> 3 sha256:bb\nSealgate-Policy: sha256:pp\n"), "{m}");
        assert_eq!(repo_path("/deploy/", "a.yaml"), "deploy/a.yaml");
        assert_eq!(repo_path("", "a.yaml"), "a.yaml");
    }
}
