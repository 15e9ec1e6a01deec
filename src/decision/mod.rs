//! The pure pipeline: a snapshot of manifests plus gathered evidence → a [`Report`] with
//! per-image verdicts and the decision. No I/O: [`plan`] says what evidence is needed,
//! the edge gathers it ([`crate::edge::verify::gather`]), [`decide`] computes the outcome.

pub mod admission;
pub mod report;

use std::collections::HashMap;

use crate::base::evidence::ImageEvidence;
use crate::base::reference::ImageRef;
use crate::base::verdict::{Decision, Reason, ReasonCode, Verdict};
use crate::manifests::pin::PinEdit;
use crate::manifests::{FoundImage, Location, Origin, Problem, Snapshot};
use crate::policy::Policy;
use crate::policy::attestations::FoundAttestation;
use crate::policy::eval::{self, ImageOutcome};
use crate::policy::signatures::AttestorResult;

/// One image to gather evidence for (what [`plan`] lists for the edge).
#[derive(Debug, Clone)]
pub struct Wanted {
    pub image: ImageRef,
    /// Whether some policy needs its signatures (else only the digest is resolved).
    pub signatures: bool,
    /// Whether some policy has attestation rules for it.
    pub attestations: bool,
    /// The predicate types those rules accept: layers and bundles annotated with another
    /// type are not fetched.
    pub attestation_types: Vec<crate::attest::PredicateMatcher>,
}

/// The verdict of one unique reference, with every place it occurs.
#[derive(Debug, Clone)]
pub struct ImageReport {
    /// As written in the manifests (after kustomize overrides).
    pub image: String,
    /// Normalized reference, when it parses.
    pub reference: Option<ImageRef>,
    pub digest: Option<String>,
    pub rules: Vec<String>,
    pub verdict: Verdict,
    pub blocking: bool,
    pub signatures: Vec<AttestorResult>,
    pub attestations: Vec<FoundAttestation>,
    pub locations: Vec<Location>,
    /// The found images (with their pin origin), one per location.
    pub found: Vec<FoundImage>,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub manifests: usize,
    pub images: usize,
    pub pass: usize,
    pub allowed: usize,
    pub fail: usize,
    pub unverifiable: usize,
}

/// The outcome of a check.
#[derive(Debug, Clone)]
pub struct Report {
    pub decision: Decision,
    pub policies: Vec<(String, String)>,
    pub summary: Summary,
    pub images: Vec<ImageReport>,
    pub problems: Vec<Problem>,
}

/// Unique references as written, in first-seen order, with their occurrences.
fn group(snapshot: &Snapshot) -> Vec<(String, Vec<&FoundImage>)> {
    let mut order: Vec<(String, Vec<&FoundImage>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for f in &snapshot.images {
        match index.get(f.reference.as_str()) {
            Some(&i) => {
                if let Some(entry) = order.get_mut(i) {
                    entry.1.push(f);
                }
            }
            None => {
                index.insert(f.reference.as_str(), order.len());
                order.push((f.reference.clone(), vec![f]));
            }
        }
    }
    order
}

/// What evidence the snapshot needs: each normalized image once. Images no policy needs
/// signatures for are left out (no registry request is spent on them, which matters on
/// rate-limited registries) unless `resolve_all` (`--pin` needs every digest).
pub fn plan(snapshot: &Snapshot, policies: &[Policy], resolve_all: bool) -> Vec<Wanted> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (written, _) in group(snapshot) {
        let Ok(image) = ImageRef::parse(&written) else {
            continue;
        };
        if seen.insert(image.clone()) {
            let signatures = eval::needs_signatures(policies, &image);
            let attestations = eval::needs_attestations(policies, &image);
            if signatures || attestations || resolve_all {
                let attestation_types = eval::attestation_types(policies, &image);
                out.push(Wanted {
                    image,
                    signatures,
                    attestations,
                    attestation_types,
                });
            }
        }
    }
    out
}

/// Computes every verdict and the decision; `now` (seconds since the epoch) is the instant
/// time-dependent checks (scan age) use.
pub fn decide(
    snapshot: &Snapshot,
    policies: &[Policy],
    evidence: &HashMap<ImageRef, ImageEvidence>,
    now: i64,
) -> Report {
    let mut images = Vec::new();
    let mut summary = Summary {
        manifests: snapshot.manifests,
        ..Summary::default()
    };
    for (written, found) in group(snapshot) {
        let locations = found.iter().map(|f| f.location.clone()).collect();
        let found: Vec<FoundImage> = found.into_iter().cloned().collect();
        let report = match ImageRef::parse(&written) {
            Err(e) => ImageReport {
                image: written,
                reference: None,
                digest: None,
                rules: Vec::new(),
                verdict: Verdict::Unverifiable(Reason::new(
                    ReasonCode::UnresolvableReference,
                    e.to_string(),
                )),
                // "warn: report, never block": only an enforcing policy (or none at all)
                // makes an unreadable reference block; manifest problems block regardless
                blocking: policies.is_empty()
                    || policies
                        .iter()
                        .any(|p| p.mode == crate::policy::Mode::Enforce),
                signatures: Vec::new(),
                attestations: Vec::new(),
                locations,
                found,
            },
            Ok(image) => {
                let ImageOutcome {
                    verdict,
                    blocking,
                    rules,
                    signatures,
                    attestations,
                    digest,
                } = eval::evaluate(policies, &image, evidence.get(&image), now);
                ImageReport {
                    image: written,
                    digest: digest.map(|d| d.to_string()),
                    reference: Some(image),
                    rules,
                    verdict,
                    blocking,
                    signatures,
                    attestations,
                    locations,
                    found,
                }
            }
        };
        match report.verdict {
            Verdict::Pass => summary.pass += 1,
            Verdict::Allowed => summary.allowed += 1,
            Verdict::Fail(_) => summary.fail += 1,
            Verdict::Unverifiable(_) => summary.unverifiable += 1,
        }
        images.push(report);
    }
    summary.images = images.len();
    let decision = if !snapshot.problems.is_empty() || images.iter().any(|i| i.blocking) {
        Decision::Blocked
    } else if images.iter().any(|i| !i.verdict.is_ok()) {
        Decision::Warn
    } else {
        Decision::Pass
    };
    Report {
        decision,
        policies: policies
            .iter()
            .map(|p| (p.name.clone(), p.sha256.clone()))
            .collect(),
        summary,
        images,
        problems: snapshot.problems.clone(),
    }
}

pub use crate::manifests::pin::PinPlan;

/// What pinning the report's passing images takes.
pub fn pin_plan(report: &Report) -> PinPlan {
    let mut plan = PinPlan::default();
    for img in &report.images {
        let (Verdict::Pass, Some(digest), Some(reference)) =
            (&img.verdict, &img.digest, &img.reference)
        else {
            continue;
        };
        if reference.digest().is_some() {
            continue; // already pinned
        }
        let new = format!("{}@{digest}", img.image.trim());
        for f in &img.found {
            match &f.origin {
                Origin::Scalar { path: Some(path) } => {
                    plan.scalars.entry(path.clone()).or_default().push(PinEdit {
                        document: f.location.document,
                        pointer: f.location.pointer.clone(),
                        old: img.image.clone(),
                        new: new.clone(),
                    });
                }
                Origin::Scalar { path: None } => {}
                Origin::Kustomize { path, index } => {
                    plan.kustomizations
                        .entry(path.clone())
                        .or_default()
                        .push((*index, digest.clone()));
                }
            }
        }
    }
    for edits in plan.kustomizations.values_mut() {
        edits.sort();
        edits.dedup();
    }
    plan
}
