//! The page's view model: a gate's status and journal → plain values the templates print.
//! Pure (no I/O, no clock: `now` is an argument), so every decision the page makes — the
//! state a gate is in, the order of the overview, which findings go in the table, what the
//! approve command is — is tested with plain values.

use crate::reconcile::journal::{
    ImageDetail, Journal, ReconcileEntry, Result as Ran, redact_userinfo,
};
use crate::reconcile::{ConditionType, GateStatus};

/// What a front end hands the page for one gate.
#[derive(Clone, Default)]
pub struct GateView {
    /// `metadata.name` (standalone) or `namespace/name` (controller): the page's URL.
    pub name: String,
    pub status: GateStatus,
    pub journal: Journal,
    /// How to approve `revision` (the exact command), when the gate requires approvals.
    pub approve: Option<ApproveCommand>,
}

/// Builds the approve command of a revision.
pub type ApproveCommand = std::sync::Arc<dyn Fn(&str) -> String + Send + Sync>;

impl std::fmt::Debug for GateView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GateView")
            .field("name", &self.name)
            .field("status", &self.status)
            .field("journal", &self.journal)
            .field("approve", &self.approve.is_some())
            .finish()
    }
}

/// A gate's state at a glance, in the order the overview sorts them (what needs a person
/// first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// A passing revision waits for a release manager.
    AwaitingApproval,
    /// The newest revision failed policy; the last good one stays.
    Blocked,
    /// The source or target cannot be reached or read (retried).
    Stalled,
    /// No reconcile has finished yet.
    Pending,
    /// The target carries the latest good revision.
    Ready,
}

impl State {
    pub fn label(self) -> &'static str {
        match self {
            Self::AwaitingApproval => "Awaiting approval",
            Self::Blocked => "Blocked",
            Self::Stalled => "Stalled",
            Self::Pending => "Pending",
            Self::Ready => "Ready",
        }
    }

    /// A text symbol shown beside the label (colour is never the only signal).
    pub fn icon(self) -> &'static str {
        match self {
            Self::AwaitingApproval => "‖",
            Self::Blocked => "✗",
            Self::Stalled => "⚠",
            Self::Pending => "…",
            Self::Ready => "✓",
        }
    }

    /// The CSS class (`state-blocked`, …).
    pub fn class(self) -> &'static str {
        match self {
            Self::AwaitingApproval => "state-approval",
            Self::Blocked => "state-blocked",
            Self::Stalled => "state-stalled",
            Self::Pending => "state-pending",
            Self::Ready => "state-ready",
        }
    }
}

/// The state of a gate and the condition that says why.
pub fn state_of(st: &GateStatus) -> (State, String, String) {
    let of = |t: ConditionType| {
        st.get(t)
            .map(|c| (c.reason.clone(), c.message.clone()))
            .unwrap_or_default()
    };
    if st.is_true(ConditionType::Stalled) {
        let (r, m) = of(ConditionType::Stalled);
        return (State::Stalled, r, m);
    }
    if st.is_true(ConditionType::AwaitingApproval) {
        let (r, m) = of(ConditionType::AwaitingApproval);
        return (State::AwaitingApproval, r, m);
    }
    let failed = |t: ConditionType| st.get(t).is_some_and(|c| c.status == "False");
    if st.decision.as_deref() == Some("blocked")
        || failed(ConditionType::ImagesVerified)
        || failed(ConditionType::SourceVerified)
    {
        let (r, m) = of(ConditionType::Ready);
        return (State::Blocked, r, m);
    }
    match st.get(ConditionType::Ready) {
        Some(c) if c.status == "True" => (State::Ready, c.reason.clone(), c.message.clone()),
        Some(c) if c.status == "False" => (State::Blocked, c.reason.clone(), c.message.clone()),
        _ => (
            State::Pending,
            String::new(),
            "no reconcile has finished yet".into(),
        ),
    }
}

/// One line of the overview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub name: String,
    pub state: State,
    pub reason: String,
    pub message: String,
    pub source: String,
    pub target: String,
    /// The revision the last reconcile looked at (short).
    pub source_revision: String,
    /// The revision the target carries (short).
    pub target_revision: String,
    /// `3h 12m ago`, or `never`.
    pub since_promotion: String,
    pub images_total: usize,
    pub images_blocked: usize,
}

/// The first 12 characters of a revision, `-` for none.
pub fn short(rev: Option<&str>) -> String {
    rev.map(|r| r.get(..12).unwrap_or(r).to_owned())
        .unwrap_or_else(|| "-".into())
}

/// `seconds` as `45s`, `12m`, `3h 12m`, `4d 2h`.
pub fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// When the target last changed: the journal's last promotion, else the `Promoted` /
/// `Applied` condition's transition (the status survives a restart, the journal does not).
fn last_promotion(g: &GateView) -> Option<i64> {
    if let Some(p) = g.journal.promotions.back() {
        return Some(p.at);
    }
    [ConditionType::Promoted, ConditionType::Applied]
        .into_iter()
        .filter_map(|t| g.status.get(t))
        .filter(|c| c.status == "True")
        .find_map(|c| crate::base::time::parse_rfc3339(&c.last_transition_time).ok())
}

fn row(g: &GateView, now: i64) -> Row {
    let st = &g.status;
    let (state, reason, message) = state_of(st);
    Row {
        name: g.name.clone(),
        state,
        reason,
        message,
        source: redact_userinfo(st.source.as_deref().unwrap_or("-")),
        target: redact_userinfo(st.target.as_deref().unwrap_or("-")),
        source_revision: short(st.last_attempted_revision.as_deref()),
        target_revision: short(
            st.last_promoted_revision
                .as_deref()
                .or(st.last_applied_revision.as_deref()),
        ),
        since_promotion: last_promotion(g)
            .map(|at| format!("{} ago", duration(now - at)))
            .unwrap_or_else(|| "never".into()),
        images_total: st.images_total,
        images_blocked: st.images_blocked,
    }
}

/// The overview: what needs a person first (awaiting approval, blocked, stalled), then by
/// name.
pub fn overview(gates: &[GateView], now: i64) -> Vec<Row> {
    let mut rows: Vec<Row> = gates.iter().map(|g| row(g, now)).collect();
    rows.sort_by(|a, b| (a.state, &a.name).cmp(&(b.state, &b.name)));
    rows
}

/// One attestation finding (a denied package, a CVE, a stale scan) of one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub image: String,
    pub code: String,
    pub message: String,
}

/// Reason codes that come from attestation gates (SBOM, vulnerability scans, summaries).
pub fn is_attestation_code(code: &str) -> bool {
    code.starts_with("Sbom")
        || code.starts_with("Vulnerability")
        || code.starts_with("Attestation")
        || code.starts_with("Summary")
        || code == "ScanTooOld"
}

/// The revision under review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub commit: String,
    pub author: String,
    pub time: String,
    pub subject: String,
    /// The rest of the message after the subject line.
    pub body: String,
    /// `SourceVerified`: (verified, reason, message).
    pub signature: Option<(bool, String, String)>,
}

/// One slot of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    pub result: Ran,
    /// `2026-12-08T10:00:00Z promoted 1c6e2f… ` (the slot's title).
    pub title: String,
}

/// One line of the promotion history, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionRow {
    pub revision: String,
    pub time: String,
    pub ago: String,
    pub commit: String,
    pub summary: Option<String>,
}

/// A gate's page.
#[derive(Debug, Clone)]
pub struct Page {
    pub row: Row,
    /// Image update policies (verified image automation), with rejected newer tags.
    pub updates: Vec<crate::reconcile::status::ImageUpdateStatus>,
    pub pending: Option<Pending>,
    /// The revision the images belong to (short).
    pub images_of: String,
    pub images: Vec<ImageDetail>,
    pub findings: Vec<Finding>,
    pub problems: Vec<String>,
    /// The exact approve command, while a revision waits for approval.
    pub approve: Option<String>,
    pub promotions: Vec<PromotionRow>,
    pub timeline: Vec<Tick>,
    pub force_push: Option<String>,
    pub summary: Option<String>,
    /// `(type, status, reason, message)` of every condition.
    pub conditions: Vec<(String, String, String, String)>,
}

fn tick(e: &ReconcileEntry) -> Tick {
    let mut title = format!(
        "{} {} {}",
        crate::base::time::format_rfc3339(e.at),
        e.result.as_str(),
        short(e.revision.as_deref())
    );
    if !e.reason.is_empty() {
        title.push_str(&format!(" ({})", e.reason));
    }
    Tick {
        result: e.result,
        title,
    }
}

/// A gate's page at instant `now`.
pub fn page(g: &GateView, now: i64) -> Page {
    let st = &g.status;
    let row = row(g, now);
    let pending = g.journal.revision.as_ref().map(|r| {
        let body = r
            .message
            .split_once('\n')
            .map(|(_, rest)| rest.trim().to_owned())
            .unwrap_or_default();
        Pending {
            commit: r.commit.clone(),
            author: r.author.clone(),
            time: r.time.clone(),
            subject: r.subject().to_owned(),
            body,
            signature: st
                .get(ConditionType::SourceVerified)
                .map(|c| (c.status == "True", c.reason.clone(), c.message.clone())),
        }
    });
    let findings = g
        .journal
        .images
        .iter()
        .flat_map(|i| {
            i.reasons
                .iter()
                .filter(|r| is_attestation_code(&r.code))
                .map(|r| Finding {
                    image: i.image.clone(),
                    code: r.code.clone(),
                    message: r.message.clone(),
                })
        })
        .collect();
    let approve = match (&g.approve, row.state) {
        (Some(cmd), State::AwaitingApproval) => st
            .last_verified_revision
            .as_deref()
            .or(st.last_attempted_revision.as_deref())
            .map(|rev| redact_userinfo(&cmd(rev))),
        _ => None,
    };
    Page {
        updates: st.image_updates.clone(),
        pending,
        images_of: short(g.journal.images_of.as_deref()),
        images: g.journal.images.clone(),
        findings,
        problems: st.problems.clone(),
        approve,
        promotions: g
            .journal
            .promotions
            .iter()
            .rev()
            .map(|p| PromotionRow {
                revision: p.revision.clone(),
                time: crate::base::time::format_rfc3339(p.at),
                ago: format!("{} ago", duration(now - p.at)),
                commit: p.commit.clone().unwrap_or_else(|| "applied".into()),
                summary: p.summary.clone(),
            })
            .collect(),
        timeline: g.journal.reconciles.iter().map(tick).collect(),
        force_push: st.force_push.clone(),
        summary: st.summary.as_ref().map(|s| s.digest.clone()),
        conditions: st
            .conditions
            .iter()
            .map(|c| {
                (
                    c.type_.clone(),
                    c.status.clone(),
                    c.reason.clone(),
                    c.message.clone(),
                )
            })
            .collect(),
        row,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::journal::{ReasonLine, RevisionInfo};
    use crate::reconcile::{Outcome, Reason};

    fn status(conds: &[(ConditionType, bool, Reason)]) -> GateStatus {
        let mut st = GateStatus::default();
        for (t, s, r) in conds {
            st.set(*t, *s, r, "m", "2026-12-08T10:00:00Z");
        }
        st
    }

    fn gate(name: &str, st: GateStatus) -> GateView {
        GateView {
            name: name.into(),
            status: st,
            ..GateView::default()
        }
    }

    #[test]
    fn states_follow_the_conditions() {
        let ready = status(&[(ConditionType::Ready, true, Reason::Promoted)]);
        assert_eq!(state_of(&ready).0, State::Ready);
        let mut blocked = status(&[
            (
                ConditionType::Ready,
                false,
                Reason::Code("NoSignature".into()),
            ),
            (
                ConditionType::ImagesVerified,
                false,
                Reason::Code("NoSignature".into()),
            ),
        ]);
        blocked.decision = Some("blocked".into());
        assert_eq!(
            state_of(&blocked),
            (State::Blocked, "NoSignature".into(), "m".into())
        );
        let waiting = status(&[
            (ConditionType::Ready, false, Reason::AwaitingApproval),
            (
                ConditionType::AwaitingApproval,
                true,
                Reason::AwaitingApproval,
            ),
        ]);
        assert_eq!(state_of(&waiting).0, State::AwaitingApproval);
        let stalled = status(&[
            (ConditionType::Ready, false, Reason::GitFetchFailed),
            (ConditionType::Stalled, true, Reason::GitFetchFailed),
        ]);
        assert_eq!(state_of(&stalled).0, State::Stalled);
        assert_eq!(state_of(&GateStatus::default()).0, State::Pending);
    }

    #[test]
    fn the_overview_puts_what_needs_a_person_first() {
        let gates = vec![
            gate(
                "a-ready",
                status(&[(ConditionType::Ready, true, Reason::Promoted)]),
            ),
            gate(
                "b-stalled",
                status(&[(ConditionType::Stalled, true, Reason::GitFetchFailed)]),
            ),
            gate(
                "c-blocked",
                status(&[(ConditionType::Ready, false, Reason::Code("X".into()))]),
            ),
            gate(
                "d-waiting",
                status(&[(
                    ConditionType::AwaitingApproval,
                    true,
                    Reason::AwaitingApproval,
                )]),
            ),
            gate("e-new", GateStatus::default()),
        ];
        let names: Vec<String> = overview(&gates, 0).into_iter().map(|r| r.name).collect();
        assert_eq!(
            names,
            ["d-waiting", "c-blocked", "b-stalled", "e-new", "a-ready"]
        );
    }

    #[test]
    fn time_since_promotion_comes_from_the_journal_else_the_condition() {
        let mut g = gate(
            "g",
            status(&[(ConditionType::Promoted, true, Reason::Promoted)]),
        );
        let t = crate::base::time::parse_rfc3339("2026-12-08T10:00:00Z").unwrap_or_default();
        assert_eq!(row(&g, t + 3 * 3600 + 120).since_promotion, "3h 2m ago");
        g.status.last_promoted_revision = Some("abc".into());
        g.journal.record(
            t + 3600,
            &Outcome::Promoted { commit: "c".into() },
            &g.status.clone(),
        );
        assert_eq!(row(&g, t + 3600 + 59).since_promotion, "59s ago");
        assert_eq!(
            row(&gate("n", GateStatus::default()), t).since_promotion,
            "never"
        );
        assert_eq!(duration(2 * 86_400 + 7200), "2d 2h");
    }

    #[test]
    fn the_page_shows_the_approve_command_only_while_waiting() {
        let mut g = gate(
            "g",
            status(&[(
                ConditionType::AwaitingApproval,
                true,
                Reason::AwaitingApproval,
            )]),
        );
        g.status.last_verified_revision = Some("1c6e".into());
        g.approve = Some(std::sync::Arc::new(|rev: &str| {
            format!("sealgate approve --repo R {rev}")
        }));
        assert_eq!(
            page(&g, 0).approve.as_deref(),
            Some("sealgate approve --repo R 1c6e")
        );
        g.status = status(&[(ConditionType::Ready, true, Reason::Promoted)]);
        g.status.last_verified_revision = Some("1c6e".into());
        assert_eq!(page(&g, 0).approve, None);
    }

    #[test]
    fn findings_are_the_attestation_reasons_and_the_message_splits() {
        let mut g = gate("g", GateStatus::default());
        g.journal.revision = Some(RevisionInfo::new(
            "c0ffee",
            "Eve <eve@example.com>",
            0,
            "bump web\n\nwith <b>notes</b>\n",
        ));
        g.journal.images = vec![ImageDetail {
            image: "r/web:1".into(),
            digest: None,
            verdict: "fail".into(),
            blocking: true,
            reasons: vec![
                ReasonLine {
                    code: "NoSignature".into(),
                    message: "none".into(),
                },
                ReasonLine {
                    code: "SbomDeniedPackage".into(),
                    message: "log4j-core 2.14.1".into(),
                },
                ReasonLine {
                    code: "VulnerabilityTooSevere".into(),
                    message: "CVE-2021-44228 critical".into(),
                },
            ],
            attestors: vec![],
            places: vec![],
        }];
        let p = page(&g, 0);
        let codes: Vec<&str> = p.findings.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, ["SbomDeniedPackage", "VulnerabilityTooSevere"]);
        let pending = p.pending.unwrap_or_else(|| unreachable!());
        assert_eq!(pending.subject, "bump web");
        assert_eq!(pending.body, "with <b>notes</b>");
    }
}
