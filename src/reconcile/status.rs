//! The one status type of a gate (`GET /status` of `sealgate run`, `.status` of a
//! `DeploymentGate`), its kstatus conditions, and the condition setter.
//!
//! Condition types and the reconcile's own reasons are enums ([`ConditionType`],
//! [`Reason`]); a reason that comes from a verification report is the contract's reason
//! code ([`Reason::Code`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::edge::target::apply::Inventory;

/// The condition types a gate's status carries (kstatus plus one per sub-step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConditionType {
    /// The target carries the latest good revision.
    Ready,
    /// A reconcile is running.
    Reconciling,
    /// The source or target cannot be reached or read (retried with backoff).
    Stalled,
    /// The head commit's signature passed (or is not required).
    SourceVerified,
    /// Every image of the revision passed policy.
    ImagesVerified,
    /// True while a passing revision waits for its approval.
    AwaitingApproval,
    /// The revision is on the deploy branch.
    Promoted,
    /// The revision is server-side applied.
    Applied,
}

impl ConditionType {
    /// The `type` as written in the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "Ready",
            Self::Reconciling => "Reconciling",
            Self::Stalled => "Stalled",
            Self::SourceVerified => "SourceVerified",
            Self::ImagesVerified => "ImagesVerified",
            Self::AwaitingApproval => "AwaitingApproval",
            Self::Promoted => "Promoted",
            Self::Applied => "Applied",
        }
    }
}

/// The reasons the reconcile itself writes; report reason codes travel as [`Reason::Code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Progressing,
    Succeeded,
    NotRequired,
    SourceNotVerified,
    CommitSignatureVerified,
    CommitNotSigned,
    CommitSignerNotAllowed,
    AwaitingApproval,
    Approved,
    Promoted,
    AlreadyPromoted,
    Applied,
    ApplyFailed,
    ApplyConflict,
    ApplyForbidden,
    PruneFailed,
    GitFetchFailed,
    GitReadFailed,
    PromotionFailed,
    /// The verification summary could not be signed or attached to the images.
    SummaryFailed,
    PinFailed,
    InvalidSpec,
    PolicyNotFound,
    PolicyInvalid,
    SecretNotFound,
    SecretInvalid,
    /// A key manager key a policy names could not be read: Vault refused (token, policy,
    /// missing key) or is not configured.
    KeyManagerFailed,
    /// A reason code of the verification report (`NoSignature`, `ManifestParseError`, …).
    Code(String),
}

impl Reason {
    /// The reason as written in the status, events and metrics.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Progressing => "Progressing",
            Self::Succeeded => "Succeeded",
            Self::NotRequired => "NotRequired",
            Self::SourceNotVerified => "SourceNotVerified",
            Self::CommitSignatureVerified => "CommitSignatureVerified",
            Self::CommitNotSigned => "CommitNotSigned",
            Self::CommitSignerNotAllowed => "CommitSignerNotAllowed",
            Self::AwaitingApproval => "AwaitingApproval",
            Self::Approved => "Approved",
            Self::Promoted => "Promoted",
            Self::AlreadyPromoted => "AlreadyPromoted",
            Self::Applied => "Applied",
            Self::ApplyFailed => "ApplyFailed",
            Self::ApplyConflict => "ApplyConflict",
            Self::ApplyForbidden => "ApplyForbidden",
            Self::PruneFailed => "PruneFailed",
            Self::GitFetchFailed => "GitFetchFailed",
            Self::GitReadFailed => "GitReadFailed",
            Self::PromotionFailed => "PromotionFailed",
            Self::SummaryFailed => "SummaryFailed",
            Self::PinFailed => "PinFailed",
            Self::InvalidSpec => "InvalidSpec",
            Self::PolicyNotFound => "PolicyNotFound",
            Self::PolicyInvalid => "PolicyInvalid",
            Self::SecretNotFound => "SecretNotFound",
            Self::SecretInvalid => "SecretInvalid",
            Self::KeyManagerFailed => "KeyManagerFailed",
            Self::Code(c) => c,
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kstatus condition.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    pub reason: String,
    pub message: String,
    pub last_transition_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// One reason of an image verdict.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct ImageReason {
    pub code: String,
    pub message: String,
}

/// One image of the last verified revision.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageStatus {
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    pub verdict: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<ImageReason>,
}

/// The signed verification summary of the last revision that passed (docs/summaries.md).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SummaryStatus {
    /// The source revision it summarizes.
    pub revision: String,
    /// `sha256:<hex>` of the DSSE envelope's bytes.
    pub digest: String,
    /// Where it is stored: `refs/notes/sealgate` (on `lastPromotionCommit`), `status`, and
    /// `images` when attached to them.
    pub stored_in: Vec<String>,
    /// The DSSE envelope (JSON) when it is stored in the status (apply targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<String>,
}

/// A newer tag an image update policy did not take, and why.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RejectedCandidate {
    pub tag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The reason code (`NoSignature`, `SbomDeniedPackage`, …).
    pub reason: String,
    pub message: String,
    /// When it was verified (RFC 3339); it stands until `imageUpdates.recheck` has passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<String>,
}

/// One image update policy after the last scan (docs/updates.md).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageUpdateStatus {
    pub name: String,
    pub image: String,
    /// What the markers hold now (`tag` or `tag@sha256:…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// The newest candidate that passed policy (`tag@sha256:…`): what the markers get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<String>,
    /// Newer tags that did not pass (newest first, at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<RejectedCandidate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scan_time: Option<String>,
    /// When the current tag's digest was last compared with the registry's (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_checked_at: Option<String>,
    /// Registry requests the last scan of this policy made.
    #[serde(default)]
    pub requests: u64,
    /// Why the last scan could not finish for this policy (registry down, no marker…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A gate's status, computed as a value each reconcile (the controller writes it only when
/// it changed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateStatus {
    /// The watched source (`URL ref [/path]`; the standalone gate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The target (`URL branch [/path]`; the standalone gate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verified_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    /// The source revision the deploy branch carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_promoted_revision: Option<String>,
    /// The deploy-branch commit of the last promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_promotion_commit: Option<String>,
    /// Digest of what the last verification depended on (revision, generation, policies,
    /// trust material): a reconcile with the same digest does not verify again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_inputs: Option<String>,
    /// The last report's decision (`pass`, `warn`, `blocked`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    #[serde(default)]
    pub images_total: usize,
    #[serde(default)]
    pub images_blocked: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Set when the watched ref was rewritten (force-pushed) since the previous fetch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_push: Option<String>,
    /// When the last reconcile ended (the standalone gate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reconcile_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<Inventory>,
    /// The last signed verification summary (when the gate signs them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<SummaryStatus>,
    /// Image update policies after the last scan (when the gate has `imageUpdates`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_updates: Vec<ImageUpdateStatus>,
    /// When the last scan ran (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_image_scan_time: Option<String>,
    /// The last image update commit pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_image_update_commit: Option<String>,
}

impl GateStatus {
    /// The condition of a type (by its name), if set.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// The condition of a type, if set.
    pub fn get(&self, type_: ConditionType) -> Option<&Condition> {
        self.condition(type_.as_str())
    }

    /// Whether condition `type_` is set with status `True`.
    pub fn is_true(&self, type_: ConditionType) -> bool {
        self.get(type_).is_some_and(|c| c.status == "True")
    }

    /// Sets condition `type_` (kstatus): `lastTransitionTime` moves only when the status
    /// flips; `observedGeneration` is the status's.
    pub fn set(
        &mut self,
        type_: ConditionType,
        status: bool,
        reason: &Reason,
        message: impl Into<String>,
        now: &str,
    ) {
        let generation = self.observed_generation;
        let status = if status { "True" } else { "False" }.to_owned();
        let message = message.into();
        match self
            .conditions
            .iter_mut()
            .find(|c| c.type_ == type_.as_str())
        {
            Some(c) => {
                if c.status != status {
                    c.last_transition_time = now.to_owned();
                }
                c.status = status;
                c.reason = reason.as_str().to_owned();
                c.message = message;
                c.observed_generation = generation;
            }
            None => self.conditions.push(Condition {
                type_: type_.as_str().to_owned(),
                status,
                reason: reason.as_str().to_owned(),
                message,
                last_transition_time: now.to_owned(),
                observed_generation: generation,
            }),
        }
    }

    /// Removes condition `type_`.
    pub fn unset(&mut self, type_: ConditionType) {
        self.conditions.retain(|c| c.type_ != type_.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transition_time_moves_only_when_the_status_flips() {
        let mut st = GateStatus {
            observed_generation: Some(3),
            ..GateStatus::default()
        };
        st.set(
            ConditionType::Ready,
            false,
            &Reason::Code("NoSignature".into()),
            "a",
            "t1",
        );
        st.set(ConditionType::Ready, false, &Reason::Progressing, "b", "t2");
        let c = st.get(ConditionType::Ready).unwrap();
        assert_eq!(
            (
                c.last_transition_time.as_str(),
                c.reason.as_str(),
                c.message.as_str()
            ),
            ("t1", "Progressing", "b")
        );
        assert_eq!(c.observed_generation, Some(3));
        st.set(ConditionType::Ready, true, &Reason::Succeeded, "c", "t3");
        assert_eq!(
            st.get(ConditionType::Ready).unwrap().last_transition_time,
            "t3"
        );
        assert!(st.is_true(ConditionType::Ready));
        st.unset(ConditionType::Ready);
        assert!(st.conditions.is_empty());
    }
}
