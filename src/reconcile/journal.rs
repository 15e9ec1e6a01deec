//! What a gate remembers for people, beside its status: the revision under review (author,
//! message), each image's verdict with the attestors and the manifest locations, the last
//! [`MAX_RECONCILES`] reconciles and the last [`MAX_PROMOTIONS`] promotions. The reconcile
//! core writes it ([`super::reconcile`]); the release manager's page reads it
//! ([`crate::serve::page`]). Kept in memory by the process that reconciles: the status
//! stays the durable record (a restarted process starts with an empty history).
//!
//! Every string here may come from an attacker (commit messages, file names, registry
//! answers): the page escapes them; this module bounds their sizes.

use std::collections::VecDeque;

use serde::Serialize;

use crate::decision::Report;

/// Reconciles kept for the timeline.
pub const MAX_RECONCILES: usize = 30;
/// Promotions (or applies) kept for the history.
pub const MAX_PROMOTIONS: usize = 20;
/// Images kept with their details (blocked ones first, as the status).
pub const MAX_IMAGES: usize = super::MAX_STATUS_IMAGES;
/// Longest commit message kept (bytes, cut at a character boundary).
pub const MAX_MESSAGE: usize = 4096;
/// Longest other string kept (author, file, pointer, reason message).
pub const MAX_TEXT: usize = 1024;
/// Locations kept per image.
pub const MAX_LOCATIONS: usize = 20;

/// The commit a reconcile looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RevisionInfo {
    pub commit: String,
    /// `Name <email>` of the author.
    pub author: String,
    /// The commit time (RFC 3339).
    pub time: String,
    /// The whole message (bounded).
    pub message: String,
}

impl RevisionInfo {
    /// A bounded copy of what Git says of `commit`.
    pub fn new(commit: &str, author: &str, time: i64, message: &str) -> Self {
        Self {
            commit: bounded(commit, 64),
            author: bounded(author, MAX_TEXT),
            time: crate::base::time::format_rfc3339(time),
            message: bounded(message, MAX_MESSAGE),
        }
    }

    /// The message's first line.
    pub fn subject(&self) -> &str {
        self.message.lines().next().unwrap_or_default()
    }
}

/// Where an image is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Place {
    /// Relative to the checkout's root.
    pub file: String,
    pub document: usize,
    /// RFC 6901 pointer of the image scalar.
    pub pointer: String,
    /// `Kind namespace/name` of the object.
    pub object: String,
}

/// One attestor's answer for an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttestorLine {
    pub attestor: String,
    /// `signature` or the attestation's predicate type.
    pub what: String,
    pub verified: bool,
    /// Who signed (keyless identity and issuer), or why it did not count.
    pub note: String,
}

/// One reason of a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReasonLine {
    pub code: String,
    pub message: String,
}

/// One image of the revision, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageDetail {
    pub image: String,
    pub digest: Option<String>,
    /// `pass`, `allowed`, `fail`, `unverifiable`.
    pub verdict: String,
    /// Whether it blocks the revision (a `warn`-mode failure does not).
    pub blocking: bool,
    pub reasons: Vec<ReasonLine>,
    pub attestors: Vec<AttestorLine>,
    pub places: Vec<Place>,
}

impl ImageDetail {
    /// Passed (or allowed by an exception).
    pub fn ok(&self) -> bool {
        matches!(self.verdict.as_str(), "pass" | "allowed")
    }
}

/// How a reconcile ended, for the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Result {
    /// A new promotion commit, or the revision applied.
    Promoted,
    /// Nothing new to do.
    Unchanged,
    Blocked,
    AwaitingApproval,
    /// Could not reconcile.
    Error,
}

impl Result {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Promoted => "promoted",
            Self::Unchanged => "unchanged",
            Self::Blocked => "blocked",
            Self::AwaitingApproval => "awaiting approval",
            Self::Error => "error",
        }
    }

    /// What a reconcile outcome counts as.
    pub fn of(outcome: &super::Outcome) -> Self {
        match outcome {
            super::Outcome::Promoted { .. } | super::Outcome::Applied { .. } => Self::Promoted,
            super::Outcome::UpToDate => Self::Unchanged,
            super::Outcome::Blocked { .. } => Self::Blocked,
            super::Outcome::AwaitingApproval => Self::AwaitingApproval,
            super::Outcome::Failed { .. } => Self::Error,
        }
    }
}

/// One reconcile of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconcileEntry {
    /// When it ended (seconds since the epoch).
    pub at: i64,
    pub result: Result,
    /// The source revision it looked at.
    pub revision: Option<String>,
    /// The blocking or failure reason.
    pub reason: String,
}

/// One promotion of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromotionEntry {
    pub at: i64,
    /// The source revision promoted (or applied).
    pub revision: String,
    /// The deploy-branch commit (promote targets).
    pub commit: Option<String>,
    /// `sha256:…` of the signed verification summary, when the gate signs them.
    pub summary: Option<String>,
}

/// A gate's journal (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Journal {
    /// The revision the last reconcile fetched.
    pub revision: Option<RevisionInfo>,
    /// The revision [`Journal::images`] belong to.
    pub images_of: Option<String>,
    pub images: Vec<ImageDetail>,
    /// Oldest first.
    pub reconciles: VecDeque<ReconcileEntry>,
    /// Oldest first.
    pub promotions: VecDeque<PromotionEntry>,
}

impl Journal {
    /// Records the end of a reconcile at `at` (and a promotion when it promoted or applied).
    pub fn record(&mut self, at: i64, outcome: &super::Outcome, st: &super::GateStatus) {
        let result = Result::of(outcome);
        let reason = match outcome {
            super::Outcome::Blocked { reason } | super::Outcome::Failed { reason, .. } => {
                bounded(reason, MAX_TEXT)
            }
            _ => String::new(),
        };
        push_bounded(
            &mut self.reconciles,
            ReconcileEntry {
                at,
                result,
                revision: st.last_attempted_revision.clone(),
                reason,
            },
            MAX_RECONCILES,
        );
        let (revision, commit) = match outcome {
            super::Outcome::Promoted { commit } => {
                (st.last_promoted_revision.clone(), Some(commit.clone()))
            }
            super::Outcome::Applied { revision, .. } => (Some(revision.clone()), None),
            _ => (None, None),
        };
        if let Some(revision) = revision {
            let summary = st
                .summary
                .as_ref()
                .filter(|s| s.revision == revision)
                .map(|s| s.digest.clone());
            push_bounded(
                &mut self.promotions,
                PromotionEntry {
                    at,
                    revision,
                    commit,
                    summary,
                },
                MAX_PROMOTIONS,
            );
        }
    }

    /// Keeps the images of `report` (of revision `commit`; locations relative to `root`).
    pub fn set_images(&mut self, commit: &str, report: &Report, root: &std::path::Path) {
        self.images_of = Some(commit.to_owned());
        self.images = image_details(report, root);
    }
}

fn push_bounded<T>(q: &mut VecDeque<T>, item: T, max: usize) {
    q.push_back(item);
    while q.len() > max {
        q.pop_front();
    }
}

/// `text` with the user-info of every URL in it replaced by `***` (`https://tok@host` →
/// `https://***@host`): a credential written into a Git URL is never shown.
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace())
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// `s` cut to at most `max` bytes at a character boundary (`…` marks a cut).
pub fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The report's images as the page shows them: blocked first, at most [`MAX_IMAGES`].
pub fn image_details(report: &Report, root: &std::path::Path) -> Vec<ImageDetail> {
    let root_text = format!("{}/", root.display());
    let mut out: Vec<ImageDetail> = report
        .images
        .iter()
        .map(|i| {
            let mut attestors: Vec<AttestorLine> = i
                .signatures
                .iter()
                .map(|s| AttestorLine {
                    attestor: bounded(&s.attestor, MAX_TEXT),
                    what: "signature".into(),
                    verified: s.verified,
                    note: s
                        .identity
                        .as_ref()
                        .map(|(id, issuer)| match issuer {
                            Some(issuer) => bounded(&format!("{id} ({issuer})"), MAX_TEXT),
                            None => bounded(id, MAX_TEXT),
                        })
                        .unwrap_or_default(),
                })
                .collect();
            attestors.extend(i.attestations.iter().map(|a| AttestorLine {
                attestor: bounded(a.attestor.as_deref().unwrap_or("-"), MAX_TEXT),
                what: bounded(
                    a.predicate_type.as_deref().unwrap_or("attestation"),
                    MAX_TEXT,
                ),
                verified: a.verified,
                note: bounded(a.note.as_deref().unwrap_or_default(), MAX_TEXT),
            }));
            let reasons = i
                .verdict
                .reasons()
                .into_iter()
                .map(|r| ReasonLine {
                    code: r.code.as_str().to_owned(),
                    message: bounded(&r.message, MAX_TEXT),
                })
                .collect();
            ImageDetail {
                image: bounded(&i.image, MAX_TEXT),
                digest: i.digest.clone(),
                verdict: i.verdict.as_str().to_owned(),
                blocking: i.blocking,
                reasons,
                attestors,
                places: i
                    .locations
                    .iter()
                    .take(MAX_LOCATIONS)
                    .map(|l| Place {
                        file: bounded(l.file.trim_start_matches(&root_text), MAX_TEXT),
                        document: l.document,
                        pointer: bounded(&l.pointer, MAX_TEXT),
                        object: bounded(
                            &match &l.namespace {
                                Some(ns) => format!("{} {ns}/{}", l.kind, l.name),
                                None => format!("{} {}", l.kind, l.name),
                            },
                            MAX_TEXT,
                        ),
                    })
                    .collect(),
            }
        })
        .collect();
    out.sort_by_key(ImageDetail::ok);
    out.truncate(MAX_IMAGES);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::{GateStatus, Outcome};

    #[test]
    fn user_info_is_redacted() {
        assert_eq!(
            redact_userinfo("https://bot:ghp_x@git.example/a.git main"),
            "https://***@git.example/a.git main"
        );
        assert_eq!(
            redact_userinfo("ssh://git@h/r x https://h/p@v"),
            "ssh://***@h/r x https://h/p@v"
        );
        assert_eq!(redact_userinfo("file:///tmp/o.git"), "file:///tmp/o.git");
    }

    #[test]
    fn bounded_cuts_at_a_character_boundary() {
        assert_eq!(bounded("abc", 3), "abc");
        let s = "ééééé"; // 10 bytes
        let b = bounded(s, 6);
        assert!(b.len() <= 6, "{b}");
        assert!(b.ends_with('…'));
        assert_eq!(bounded("abcdef", 4), "a…");
    }

    #[test]
    fn the_timeline_keeps_the_last_30_and_promotions_carry_their_summary() {
        let mut j = Journal::default();
        let mut st = GateStatus {
            last_attempted_revision: Some("r".into()),
            ..GateStatus::default()
        };
        for n in 0..40 {
            j.record(n, &Outcome::UpToDate, &st);
        }
        assert_eq!(j.reconciles.len(), MAX_RECONCILES);
        assert_eq!(j.reconciles.front().map(|e| e.at), Some(10));
        st.last_promoted_revision = Some("abc".into());
        st.summary = Some(crate::reconcile::status::SummaryStatus {
            revision: "abc".into(),
            digest: "sha256:00".into(),
            ..Default::default()
        });
        j.record(
            50,
            &Outcome::Promoted {
                commit: "c1".into(),
            },
            &st,
        );
        j.record(
            51,
            &Outcome::Blocked {
                reason: "NoSignature".into(),
            },
            &st,
        );
        assert_eq!(j.promotions.len(), 1);
        let p = &j.promotions[0];
        assert_eq!(
            (
                p.revision.as_str(),
                p.commit.as_deref(),
                p.summary.as_deref()
            ),
            ("abc", Some("c1"), Some("sha256:00"))
        );
        let last = j.reconciles.back().map(|e| (e.result, e.reason.clone()));
        assert_eq!(last, Some((Result::Blocked, "NoSignature".into())));
        for n in 0..30 {
            j.record(
                100 + n,
                &Outcome::Applied {
                    revision: format!("r{n}"),
                    pruned: 0,
                },
                &st,
            );
        }
        assert_eq!(j.promotions.len(), MAX_PROMOTIONS);
        assert_eq!(
            j.promotions.back().map(|p| p.revision.as_str()),
            Some("r29")
        );
        assert_eq!(j.promotions.back().and_then(|p| p.summary.clone()), None);
    }
}
