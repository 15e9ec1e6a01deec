//! `sealgate explain IMAGE`: why one image passes or fails, from the same engine as `check`.
//!
//! The image is checked by [`super::check`] exactly as a manifest holding it would be, through
//! a [`Traced`] registry that records every call; the explanation is that record (each
//! discovery path tried, its status and what it held) joined with the report (the attestors
//! that verified, the attestations found, the reasons) and with which policies and rules
//! matched the repository and why. There is no separate decision code.
//!
//! Everything shown that came from a registry (media types, messages) is passed through
//! [`clean`], so a hostile registry cannot write terminal escapes.

use serde_json::{Value, json};

use super::{CheckOptions, check};
use crate::base::reference::ImageRef;
use crate::base::verdict::Verdict;
use crate::decision::ImageReport;
use crate::edge::registry::Registry;
use crate::edge::registry::trace::{Call, Entry, Op, Outcome, Traced};
use crate::manifests::{FoundImage, Location, Origin, Snapshot};
use crate::policy::{AttestorKind, Mode, Policy};

/// Why a policy applies to the image, or does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyMatch {
    pub policy: String,
    pub file: String,
    pub mode: &'static str,
    /// The registry allowlist admits the repository (always, without an allowlist).
    pub registry_allowed: bool,
    /// The first rule whose glob matches, with that glob.
    pub rule: Option<(String, String)>,
    /// Every rule's globs, to show why none matched.
    pub globs: Vec<(String, Vec<String>)>,
    /// Who the matched rule expects to have signed: (attestor, `key sha256:<SPKI digest>` or
    /// `keyless issuer … subject …`), and its threshold.
    pub attestors: Vec<(String, String)>,
    pub threshold: Option<usize>,
}

/// One registry call, named by the discovery path it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub path: String,
    pub call: Call,
}

/// Everything `explain` prints.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub image: String,
    pub policies: Vec<PolicyMatch>,
    pub steps: Vec<Step>,
    pub report: ImageReport,
}

impl Explanation {
    /// The image passes (or an `unmatched: allow` policy lets it through unchecked).
    pub fn passed(&self) -> bool {
        matches!(self.report.verdict, Verdict::Pass | Verdict::Allowed)
    }
}

/// Checks `image` against `policies` through `registry` and explains the verdict.
pub async fn explain<R: Registry>(
    registry: R,
    image: &str,
    policies: &[Policy],
    opts: &CheckOptions,
    now: i64,
) -> Explanation {
    let traced = Traced::new(registry);
    let snapshot = Snapshot {
        files: 1,
        manifests: 1,
        images: vec![FoundImage {
            reference: image.to_owned(),
            location: Location {
                file: "IMAGE".to_owned(),
                document: 0,
                kind: String::new(),
                namespace: None,
                name: String::new(),
                pointer: String::new(),
            },
            origin: Origin::Scalar { path: None },
        }],
        ..Snapshot::default()
    };
    let mut opts = opts.clone();
    // the digest is part of the explanation even when no rule needs signatures
    opts.resolve_all = true;
    let report = check(&traced, &snapshot, policies, &opts, None, now, None).await;
    let image_report = report.images.into_iter().next().unwrap_or(ImageReport {
        image: image.to_owned(),
        reference: None,
        digest: None,
        rules: Vec::new(),
        verdict: Verdict::Unverifiable(crate::base::verdict::Reason::new(
            crate::base::verdict::ReasonCode::UnresolvableReference,
            "the check produced no result for the image",
        )),
        blocking: true,
        signatures: Vec::new(),
        attestations: Vec::new(),
        locations: Vec::new(),
        found: Vec::new(),
    });
    let reference = ImageRef::parse(image).ok();
    let policies = reference
        .as_ref()
        .map(|r| matches(policies, &r.name()))
        .unwrap_or_default();
    let digest = image_report.digest.clone();
    let steps = traced
        .calls()
        .into_iter()
        .map(|call| Step {
            path: path_of(&call, reference.as_ref(), digest.as_deref()),
            call,
        })
        .collect();
    Explanation {
        image: image.to_owned(),
        policies,
        steps,
        report: image_report,
    }
}

/// Which policies and rules match the normalized repository `name`, and why.
pub fn matches(policies: &[Policy], name: &str) -> Vec<PolicyMatch> {
    policies
        .iter()
        .map(|p| {
            let signatures = p.rule_for(name).and_then(|r| r.signatures.as_ref());
            (p, signatures)
        })
        .map(|(p, signatures)| PolicyMatch {
            attestors: signatures
                .map(|s| {
                    s.attestors
                        .iter()
                        .map(|a| {
                            let who = match &a.kind {
                                AttestorKind::Key(k) => format!("key sha256:{}", k.fingerprint()),
                                AttestorKind::Kms(cell) => match cell.current() {
                                    Ok(keys) => format!(
                                        "key {} ({})",
                                        cell.uri,
                                        keys.iter()
                                            .map(|k| format!("sha256:{}", k.fingerprint()))
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    ),
                                    Err(why) => format!("key {} (unavailable: {why})", cell.uri),
                                },
                                AttestorKind::Keyless(id) => {
                                    format!("keyless issuer {} subject {}", id.issuer, id.subject)
                                }
                            };
                            (a.name.clone(), who)
                        })
                        .collect()
                })
                .unwrap_or_default(),
            threshold: signatures.map(|s| s.threshold),
            policy: p.name.clone(),
            file: p.file.display().to_string(),
            mode: match p.mode {
                Mode::Enforce => "enforce",
                Mode::Warn => "warn",
            },
            registry_allowed: p.registry_allowed(name),
            rule: p.rules.iter().find_map(|r| {
                r.images
                    .iter()
                    .find(|g| g.matches(name))
                    .map(|g| (r.name.clone(), g.as_str().to_owned()))
            }),
            globs: p
                .rules
                .iter()
                .map(|r| {
                    (
                        r.name.clone(),
                        r.images.iter().map(|g| g.as_str().to_owned()).collect(),
                    )
                })
                .collect(),
        })
        .collect()
}

/// The discovery path a call belongs to, from its shape.
fn path_of(call: &Call, image: Option<&ImageRef>, digest: Option<&str>) -> String {
    let hex = digest.and_then(|d| d.strip_prefix("sha256:"));
    match &call.op {
        Op::Referrers { artifact_type, .. } => match artifact_type {
            Some(t) => format!("referrers API ({})", clean(t)),
            None => "referrers API".to_owned(),
        },
        Op::Blob { .. } => "  blob".to_owned(),
        Op::Manifest { reference } => {
            if let Some(h) = hex {
                if *reference == format!("sha256-{h}.sig") {
                    return "cosign signatures (.sig tag)".to_owned();
                }
                if *reference == format!("sha256-{h}.att") {
                    return "cosign attestations (.att tag)".to_owned();
                }
                if *reference == format!("sha256-{h}") {
                    return "referrers fallback tag".to_owned();
                }
            }
            if Some(reference.as_str()) == digest {
                return "image manifest".to_owned();
            }
            if image.and_then(ImageRef::tag) == Some(reference.as_str()) {
                return format!("resolve tag {}", clean(reference));
            }
            if reference.starts_with("sha256:") {
                return "  referrer manifest".to_owned();
            }
            format!("manifest {}", clean(reference))
        }
    }
}

/// Control characters escaped (terminal output of registry-supplied strings).
pub fn clean(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .take(512)
        .collect()
}

fn entries(list: &[Entry]) -> String {
    if list.is_empty() {
        return "nothing".to_owned();
    }
    let shown: Vec<String> = list
        .iter()
        .take(8)
        .map(|e| {
            let mut s = clean(&e.media_type);
            if let Some(t) = &e.artifact_type {
                s.push_str(&format!(" [{}]", clean(t)));
            }
            if let Some(t) = &e.predicate_type {
                s.push_str(&format!(" {{predicateType {}}}", clean(t)));
            }
            s.push_str(&format!(" ({} B)", e.size));
            s
        })
        .collect();
    let more = if list.len() > 8 {
        format!(", and {} more", list.len() - 8)
    } else {
        String::new()
    };
    format!(
        "{} {}: {}{more}",
        list.len(),
        plural(list.len(), "entry", "entries"),
        shown.join(", ")
    )
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Manifest {
            digest,
            media_type,
            size,
            contents,
        } => format!(
            "found {digest} ({}, {size} B): {}",
            media_type
                .as_deref()
                .map_or_else(|| "no media type".to_owned(), clean),
            entries(contents)
        ),
        Outcome::Blob { size } => format!("{size} B, digest checked"),
        Outcome::Referrers { listed } => format!("listed {}", entries(listed)),
        Outcome::Unsupported => "not supported by the registry (the fallback tag is used)".into(),
        Outcome::NotFound => "not found (404)".into(),
        Outcome::Failed { code, message } => format!("{code}: {}", clean(message)),
    }
}

fn target(op: &Op) -> String {
    match op {
        Op::Manifest { reference } => clean(reference),
        Op::Blob { digest, .. } | Op::Referrers { digest, .. } => digest.clone(),
    }
}

/// The explanation as text (what a terminal shows).
pub fn render_text(e: &Explanation) -> String {
    let r = &e.report;
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!("image      {}", clean(&e.image)));
    match &r.reference {
        Some(reference) => line(format!("reference  {reference}")),
        None => line("reference  (does not parse)".to_owned()),
    }
    line(format!(
        "digest     {}",
        r.digest.as_deref().unwrap_or("(not resolved)")
    ));
    line("policies".to_owned());
    if e.policies.is_empty() {
        line("  none loaded".to_owned());
    }
    for p in &e.policies {
        let head = format!("  {} ({}, {})", p.policy, p.file, p.mode);
        if !p.registry_allowed {
            line(format!(
                "{head}: the registry allowlist does not admit this repository"
            ));
        } else if let Some((rule, glob)) = &p.rule {
            line(format!("{head}: rule {rule} matches (glob {glob:?})"));
            if let Some(k) = p.threshold {
                line(format!(
                    "    signatures: {k} of {} attestors",
                    p.attestors.len()
                ));
            }
            for (name, who) in &p.attestors {
                line(format!("    attestor {name}: {who}"));
            }
        } else {
            let globs: Vec<String> = p
                .globs
                .iter()
                .map(|(rule, g)| format!("{rule}: {g:?}"))
                .collect();
            line(format!("{head}: no rule matches ({})", globs.join("; ")));
        }
    }
    line(format!(
        "discovery ({} {})",
        e.steps.len(),
        plural(e.steps.len(), "lookup", "lookups")
    ));
    for s in &e.steps {
        line(format!(
            "  {:<30} {} → {}",
            s.path,
            target(&s.call.op),
            outcome_text(&s.call.outcome)
        ));
    }
    if !r.signatures.is_empty() {
        line("signatures".to_owned());
        for a in &r.signatures {
            let mut s = format!(
                "  attestor {}: {}",
                a.attestor,
                if a.verified {
                    "verified"
                } else {
                    "not verified"
                }
            );
            if let Some(src) = a.source {
                s.push_str(&format!(" (from {})", src.as_str()));
            }
            if let Some((subject, issuer)) = &a.identity {
                s.push_str(&format!(", signer {}", clean(subject)));
                if let Some(i) = issuer {
                    s.push_str(&format!(", issuer {}", clean(i)));
                }
            }
            line(s);
            for t in &a.tried {
                match &t.failure {
                    None => line(format!("    {}: verified", clean(&t.origin))),
                    Some(f) => line(format!(
                        "    {}: {}: {}",
                        clean(&t.origin),
                        f.code.as_str(),
                        clean(&f.message)
                    )),
                }
            }
        }
    }
    if !r.attestations.is_empty() {
        line("attestations".to_owned());
        for a in &r.attestations {
            let mut s = format!(
                "  {} ({}): {}",
                a.predicate_type
                    .as_deref()
                    .map_or_else(|| "unreadable".to_owned(), clean),
                a.source.as_str(),
                if a.verified {
                    "verified"
                } else {
                    "not verified"
                }
            );
            if let Some(att) = &a.attestor {
                s.push_str(&format!(" by {att}"));
            }
            if a.used {
                s.push_str(", decided the rule");
            }
            if let Some(n) = &a.note {
                s.push_str(&format!(" — {}", clean(n)));
            }
            line(s);
            for (att, why) in &a.tried {
                line(format!("    {}: {}", clean(att), clean(why)));
            }
        }
    }
    line(format!(
        "verdict    {}{}",
        r.verdict.as_str(),
        if r.blocking { "" } else { " (not blocking)" }
    ));
    for reason in r.verdict.reasons() {
        line(format!(
            "  {}: {}",
            reason.code.as_str(),
            clean(&reason.message)
        ));
    }
    out
}

/// The explanation as JSON (`-o json`).
pub fn to_json(e: &Explanation) -> Value {
    let r = &e.report;
    json!({
        "image": e.image,
        "reference": r.reference.as_ref().map(ToString::to_string),
        "digest": r.digest,
        "policies": e.policies.iter().map(|p| json!({
            "policy": p.policy,
            "file": p.file,
            "mode": p.mode,
            "registryAllowed": p.registry_allowed,
            "rule": p.rule.as_ref().map(|(rule, glob)| json!({"name": rule, "glob": glob})),
            "rules": p.globs.iter().map(|(rule, g)| json!({"name": rule, "images": g})).collect::<Vec<_>>(),
            "threshold": p.threshold,
            "attestors": p.attestors.iter().map(|(name, who)| json!({"name": name, "expects": who})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "discovery": e.steps.iter().map(|s| {
            let (op, target) = match &s.call.op {
                Op::Manifest { reference } => ("manifest", reference.clone()),
                Op::Blob { digest, .. } => ("blob", digest.clone()),
                Op::Referrers { digest, .. } => ("referrers", digest.clone()),
            };
            let entry = |e: &Entry| json!({"mediaType": e.media_type, "artifactType": e.artifact_type, "size": e.size, "predicateType": e.predicate_type});
            let outcome = match &s.call.outcome {
                Outcome::Manifest { digest, media_type, size, contents } => json!({
                    "result": "found", "digest": digest, "mediaType": media_type, "size": size,
                    "contents": contents.iter().map(entry).collect::<Vec<_>>(),
                }),
                Outcome::Blob { size } => json!({"result": "found", "size": size}),
                Outcome::Referrers { listed } => json!({
                    "result": "listed", "referrers": listed.iter().map(entry).collect::<Vec<_>>(),
                }),
                Outcome::Unsupported => json!({"result": "unsupported"}),
                Outcome::NotFound => json!({"result": "notFound"}),
                Outcome::Failed { code, message } => json!({"result": "failed", "code": code, "message": message}),
            };
            json!({"path": s.path.trim(), "repository": s.call.repository, "op": op, "target": target, "outcome": outcome})
        }).collect::<Vec<_>>(),
        "signatures": r.signatures.iter().map(|a| json!({
            "attestor": a.attestor,
            "verified": a.verified,
            "source": a.source.map(|s| s.as_str()),
            "identity": a.identity.as_ref().map(|(s, i)| json!({"subject": s, "issuer": i})),
            "tried": a.tried.iter().map(|t| json!({
                "origin": t.origin,
                "verified": t.failure.is_none(),
                "code": t.failure.as_ref().map(|f| f.code.as_str()),
                "message": t.failure.as_ref().map(|f| f.message.clone()),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "attestations": r.attestations.iter().map(|a| json!({
            "predicateType": a.predicate_type,
            "source": a.source.as_str(),
            "attestor": a.attestor,
            "verified": a.verified,
            "used": a.used,
            "note": a.note,
            "tried": a.tried.iter().map(|(att, why)| json!({"attestor": att, "message": why})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "verdict": r.verdict.as_str(),
        "blocking": r.blocking,
        "reasons": r.verdict.reasons().iter().map(|x| json!({"code": x.code.as_str(), "message": x.message})).collect::<Vec<_>>(),
        "passed": e.passed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_from_a_registry_are_shown_not_obeyed() {
        assert_eq!(clean("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\n");
        assert_eq!(clean(&"x".repeat(600)).len(), 512);
    }

    #[test]
    fn calls_are_named_by_their_discovery_path() {
        let image = ImageRef::parse("registry.test/team/web:v1").unwrap();
        let digest = format!("sha256:{}", "ab".repeat(32));
        let hex = "ab".repeat(32);
        let call = |reference: &str| Call {
            repository: "registry.test/team/web".into(),
            op: Op::Manifest {
                reference: reference.into(),
            },
            outcome: Outcome::NotFound,
        };
        for (reference, path) in [
            ("v1", "resolve tag v1"),
            (
                format!("sha256-{hex}.sig").as_str(),
                "cosign signatures (.sig tag)",
            ),
            (
                format!("sha256-{hex}.att").as_str(),
                "cosign attestations (.att tag)",
            ),
            (format!("sha256-{hex}").as_str(), "referrers fallback tag"),
            (digest.as_str(), "image manifest"),
            (
                format!("sha256:{}", "cd".repeat(32)).as_str(),
                "  referrer manifest",
            ),
        ] {
            assert_eq!(path_of(&call(reference), Some(&image), Some(&digest)), path);
        }
    }
}
