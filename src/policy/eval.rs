//! Pure policy evaluation of one image against every loaded policy.
//!
//! Semantics (contract "Policy file"): within a policy the first matching rule applies
//! and all its parts must pass; every policy whose rules match must pass; a policy's
//! `registries` allowlist applies to every image (fail closed); when no policy has a
//! matching rule the image is `allowed` only if every policy says `unmatched: allow`.
//! Failures of `mode: warn` policies are reported but do not block.

use crate::base::evidence::{AttestationEvidence, ImageEvidence};
use crate::base::reference::{Digest, ImageRef};
use crate::base::verdict::{Reason, ReasonCode, Verdict};
use crate::policy::attestations::{self as attest_check, FoundAttestation, Opened};
use crate::policy::signatures::{self, AttestorResult};
use crate::policy::{Mode, Policy, Unmatched};

/// The outcome for one image over all policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageOutcome {
    pub verdict: Verdict,
    /// Whether the verdict blocks (some enforce-mode policy did not pass).
    pub blocking: bool,
    /// `policy/rule` of every rule that applied.
    pub rules: Vec<String>,
    pub signatures: Vec<AttestorResult>,
    /// Every attestation found, with what became of it (merged over the rules that looked).
    pub attestations: Vec<FoundAttestation>,
    pub digest: Option<Digest>,
}

/// Whether any policy needs signature evidence for this image (so the edge fetches it).
pub fn needs_signatures(policies: &[Policy], image: &ImageRef) -> bool {
    let name = image.name();
    policies.iter().any(|p| {
        p.registry_allowed(&name)
            && p.rule_for(&name)
                .is_some_and(|r| r.required_signatures().is_some())
    })
}

/// Whether the signatures found so far for `digest` in `repo` already satisfy every signature
/// rule that applies to the repository (threshold met by verified signatures), so signature
/// discovery may stop: the paths not yet read can only add signatures. `false` when no rule
/// needs signatures or any applicable rule does not pass yet.
pub fn signatures_suffice(
    policies: &[Policy],
    repo: &crate::base::reference::Repository,
    digest: &Digest,
    layers: &[crate::base::evidence::SignatureLayer],
    now: i64,
) -> bool {
    let name = format!("{}/{}", &repo.registry, repo.path);
    let evidence = crate::base::evidence::SignatureEvidence::Layers(layers.to_vec());
    let mut any = false;
    for p in policies {
        if !p.registry_allowed(&name) {
            return false;
        }
        let Some(rule) = p.rule_for(&name) else {
            continue;
        };
        let Some(sig_rule) = rule.required_signatures() else {
            continue;
        };
        any = true;
        if !matches!(
            signatures::check(sig_rule, digest, &evidence, now).verdict,
            Verdict::Pass | Verdict::Allowed
        ) {
            return false;
        }
    }
    any
}

/// [`signatures_suffice`] as the predicate [`crate::edge::verify::gather_until`] takes.
pub fn signatures_enough(
    policies: &[Policy],
    now: i64,
) -> impl Fn(
    &crate::base::reference::Repository,
    &Digest,
    &[crate::base::evidence::SignatureLayer],
) -> bool
+ Sync
+ '_ {
    move |repo, digest, layers| signatures_suffice(policies, repo, digest, layers, now)
}

/// Whether any policy has attestation rules for this image (so the edge fetches them).
pub fn needs_attestations(policies: &[Policy], image: &ImageRef) -> bool {
    let name = image.name();
    policies.iter().any(|p| {
        p.registry_allowed(&name)
            && p.rule_for(&name)
                .is_some_and(|r| !r.attestations.is_empty())
    })
}

/// The predicate types the image's attestation rules accept (over every policy): what
/// attestation discovery needs to fetch.
pub fn attestation_types(
    policies: &[Policy],
    image: &ImageRef,
) -> Vec<crate::attest::PredicateMatcher> {
    let name = image.name();
    let mut out: Vec<crate::attest::PredicateMatcher> = Vec::new();
    for p in policies.iter().filter(|p| p.registry_allowed(&name)) {
        for a in p.rule_for(&name).iter().flat_map(|r| r.attestations.iter()) {
            if !out.contains(&a.matcher) {
                out.push(a.matcher.clone());
            }
        }
    }
    out
}

/// Adds a part's verdict to the image's reasons (fail messages prefixed with
/// `policy/rule`; unverifiable ones too when `prefix_unverifiable`). Returns whether the
/// part passed.
fn absorb(
    verdict: Verdict,
    prefix: &str,
    fails: &mut Vec<Reason>,
    unverifiable: &mut Option<Reason>,
    prefix_unverifiable: bool,
) -> bool {
    match verdict {
        Verdict::Pass | Verdict::Allowed => true,
        Verdict::Fail(r) => {
            fails.extend(r.into_iter().map(|mut r| {
                r.message = format!("{prefix}: {}", r.message);
                r
            }));
            false
        }
        Verdict::Unverifiable(mut r) => {
            if prefix_unverifiable {
                r.message = format!("{prefix}: {}", r.message);
            }
            unverifiable.get_or_insert(r);
            false
        }
    }
}

/// The digest the evidence resolved, or why there is none.
fn resolved_digest(evidence: Option<&ImageEvidence>) -> Result<&Digest, Reason> {
    match evidence.map(|e| &e.digest) {
        Some(Ok(d)) => Ok(d),
        Some(Err(r)) => Err(r.clone()),
        None => Err(Reason::new(
            ReasonCode::RegistryUnavailable,
            "no evidence was gathered",
        )),
    }
}

/// Merges one rule's view of the found attestations into the image's list (by origin).
fn merge_found(into: &mut Vec<FoundAttestation>, found: Vec<FoundAttestation>) {
    for f in found {
        match into.iter_mut().find(|g| g.origin == f.origin) {
            None => into.push(f),
            Some(g) => {
                if !g.verified && f.verified {
                    g.verified = true;
                    g.attestor = f.attestor.clone();
                    g.note = None;
                }
                g.attestor = g.attestor.take().or(f.attestor);
                g.used |= f.used;
            }
        }
    }
}

/// Evaluates `image` (with its evidence, when fetched) against all policies; `now`
/// (seconds since the epoch) is the instant time-dependent checks use.
pub fn evaluate(
    policies: &[Policy],
    image: &ImageRef,
    evidence: Option<&ImageEvidence>,
    now: i64,
) -> ImageOutcome {
    let name = image.name();
    let mut fails: Vec<Reason> = Vec::new();
    let mut unverifiable: Option<Reason> = None;
    let mut blocking = false;
    let mut rules = Vec::new();
    let mut signatures = Vec::new();
    let mut attestations: Vec<FoundAttestation> = Vec::new();
    let mut opened: Option<Vec<Opened>> = None;
    let mut matched = false;
    let mut deny_unmatched: Vec<&Policy> = Vec::new();
    let digest = image
        .digest()
        .cloned()
        .or_else(|| evidence.and_then(|e| e.digest.as_ref().ok().cloned()));

    for p in policies {
        let enforce = p.mode == Mode::Enforce;
        if !p.registry_allowed(&name) {
            fails.push(Reason::new(
                ReasonCode::RegistryNotAllowed,
                format!(
                    "{name} is not in the registries allowlist of policy {}",
                    p.name
                ),
            ));
            blocking |= enforce;
            matched = true;
            continue;
        }
        let Some(rule) = p.rule_for(&name) else {
            if p.unmatched == Unmatched::Deny {
                deny_unmatched.push(p);
            }
            continue;
        };
        matched = true;
        rules.push(format!("{}/{}", p.name, rule.name));
        let mut ok = true;
        if rule.require_digest && image.digest().is_none() {
            fails.push(Reason::new(
                ReasonCode::TagNotPinned,
                format!(
                    "rule {}/{} requires a digest; {image} is referenced by tag only",
                    p.name, rule.name
                ),
            ));
            ok = false;
        }
        if let Some(sig_rule) = rule.required_signatures() {
            match (
                resolved_digest(evidence),
                evidence.and_then(|e| e.signatures.as_ref()),
            ) {
                (Err(r), _) => {
                    unverifiable.get_or_insert(r);
                    ok = false;
                }
                (Ok(_), None) => {
                    unverifiable.get_or_insert(Reason::new(
                        ReasonCode::RegistryUnavailable,
                        "signatures were not fetched",
                    ));
                    ok = false;
                }
                (Ok(d), Some(ev)) => {
                    let outcome = signatures::check(sig_rule, d, ev, now);
                    signatures.extend(outcome.attestors);
                    ok &= absorb(
                        outcome.verdict,
                        &format!("{}/{}", p.name, rule.name),
                        &mut fails,
                        &mut unverifiable,
                        false,
                    );
                }
            }
        }
        if !rule.attestations.is_empty() {
            match (
                resolved_digest(evidence),
                evidence.and_then(|e| e.attestations.as_ref()),
            ) {
                (Err(r), _) => {
                    unverifiable.get_or_insert(r);
                    ok = false;
                }
                (Ok(_), None) => {
                    unverifiable.get_or_insert(Reason::new(
                        ReasonCode::RegistryUnavailable,
                        "attestations were not fetched",
                    ));
                    ok = false;
                }
                (Ok(_), Some(AttestationEvidence::Unverifiable(r))) => {
                    unverifiable.get_or_insert(r.clone());
                    ok = false;
                }
                (Ok(d), Some(AttestationEvidence::Found(list))) => {
                    let opened = opened.get_or_insert_with(|| attest_check::open_all(list));
                    for a in &rule.attestations {
                        let outcome = attest_check::check(a, d, opened, now);
                        merge_found(&mut attestations, outcome.found);
                        ok &= absorb(
                            outcome.verdict,
                            &format!("{}/{}", p.name, rule.name),
                            &mut fails,
                            &mut unverifiable,
                            true,
                        );
                    }
                }
            }
        }
        blocking |= enforce && !ok;
    }
    if !matched && !deny_unmatched.is_empty() {
        let names: Vec<&str> = deny_unmatched.iter().map(|p| p.name.as_str()).collect();
        fails.push(Reason::new(
            ReasonCode::NoPolicyMatch,
            format!(
                "no rule matches {name} (policies with unmatched: deny: {})",
                names.join(", ")
            ),
        ));
        blocking |= deny_unmatched.iter().any(|p| p.mode == Mode::Enforce);
    }
    let verdict = if !fails.is_empty() {
        // A definite failure wins; an unverifiable part is still reported.
        fails.extend(unverifiable);
        Verdict::Fail(fails)
    } else if let Some(r) = unverifiable {
        Verdict::Unverifiable(r)
    } else if !matched {
        Verdict::Allowed
    } else {
        Verdict::Pass
    };
    ImageOutcome {
        verdict,
        blocking,
        rules,
        signatures,
        attestations,
        digest,
    }
}
