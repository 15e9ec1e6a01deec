//! Checking an image's attestations against one attestation rule (pure).
//!
//! For each DSSE envelope found (see [`crate::edge::registry::discovery::attestations`]):
//! 1. the envelope must be DSSE JSON with `payloadType` `application/vnd.in-toto+json`;
//! 2. one of its signatures must verify over the DSSE pre-authentication encoding with the
//!    key of one of the rule's attestors;
//! 3. the payload must be an in-toto Statement (v0.1 or v1) whose `predicateType` matches
//!    the rule (aliases, see [`crate::attest::PredicateMatcher`]);
//! 4. one of its subjects must carry the image digest (`AttestationSubjectMismatch` when
//!    only statements about other digests verify).
//!
//! Only attestations passing all four count. Of those, **the newest decides**: newest by
//! the time the predicate itself states (signed with it): the SBOM's creation time
//! (SPDX `creationInfo.created`, CycloneDX `metadata.timestamp`), the scan's finish time
//! (cosign vuln `metadata.scanFinishedOn`, Trivy `CreatedAt`, SARIF invocation
//! `endTimeUtc`), SLSA `buildFinishedOn`/`finishedOn`, cosign `custom`'s `Timestamp`.
//! Attestations without a readable time rank below any with one; among equals the one
//! found later (later layer of the `.att` manifest, which cosign appends to) wins. An
//! older attestation that passes never outvotes a newer one that fails. When the newest
//! one cannot be read as the rule needs (not an SBOM, malformed JSON), the image is
//! unverifiable (`MalformedAttestation`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::attest::{IN_TOTO_PAYLOAD_TYPE, STATEMENT_V01, STATEMENT_V1, pae, sbom, vuln};
use crate::base::evidence::{AttestationEnvelope, SignatureSource};
use crate::base::reference::Digest;
use crate::base::verdict::{Reason, ReasonCode, Verdict};
use crate::policy::AttestationRule;

/// Most findings named in one reason message (the rest are counted).
const MAX_FINDINGS_NAMED: usize = 5;

/// An envelope decoded once per image (base64 decoded, PAE built, statement parsed), so
/// several rules can check it without redoing the work.
#[derive(Debug)]
pub struct Opened {
    pub origin: String,
    pub source: SignatureSource,
    /// sha256 (hex) of the envelope's bytes (the `.att` layer blob, or the bundle).
    pub digest: String,
    /// Why the envelope is unusable, if it is.
    content: Result<Content, String>,
    /// The Sigstore material it came with (a bundle, or a legacy layer's keyless
    /// annotations turned into one), or why that does not decode.
    bundle: Result<Option<crate::sigstore::bundle::Bundle>, String>,
}

#[derive(Debug)]
struct Content {
    /// DSSE pre-authentication encoding of the payload (what the signatures sign).
    pae: Vec<u8>,
    signatures: Vec<Vec<u8>>,
    statement: Result<Statement, String>,
}

#[derive(Debug, Deserialize)]
struct Statement {
    #[serde(rename = "_type")]
    kind: String,
    #[serde(default)]
    subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
    #[serde(default)]
    predicate: Option<Box<RawValue>>,
}

#[derive(Debug, Deserialize)]
struct Subject {
    #[serde(default)]
    digest: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload_type: String,
    payload: String,
    #[serde(default)]
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Deserialize)]
struct EnvelopeSignature {
    #[serde(default)]
    sig: String,
}

/// Decodes every envelope found for an image.
pub fn open_all(found: &[AttestationEnvelope]) -> Vec<Opened> {
    found
        .iter()
        .map(|f| Opened {
            origin: f.origin.clone(),
            source: f.source,
            digest: crate::base::reference::Digest::sha256_of(
                f.bundle.as_ref().unwrap_or(&f.envelope),
            )
            .hex()
            .to_owned(),
            content: open(&f.envelope),
            bundle: open_bundle(f),
        })
        .collect()
}

fn open_bundle(f: &AttestationEnvelope) -> Result<Option<crate::sigstore::bundle::Bundle>, String> {
    use crate::sigstore::bundle::{Bundle, Content as BundleContent, Envelope as BundleEnvelope};
    if let Some(b) = &f.bundle {
        return Bundle::from_json(b).map(Some).map_err(|e| e.to_string());
    }
    if !f
        .annotations
        .contains_key(crate::sigstore::verify::CERTIFICATE_ANNOTATION)
    {
        return Ok(None);
    }
    let env: Envelope =
        serde_json::from_slice(&f.envelope).map_err(|e| format!("not a DSSE envelope: {e}"))?;
    let payload = crate::attest::decode_any_base64(&env.payload).ok_or("payload is not base64")?;
    let [sig] = env.signatures.as_slice() else {
        return Err("a keyless envelope must carry exactly one signature".into());
    };
    let signature = crate::attest::decode_any_base64(&sig.sig).ok_or("signature is not base64")?;
    crate::sigstore::verify::legacy_bundle(
        &f.annotations,
        BundleContent::Dsse(BundleEnvelope {
            payload_type: env.payload_type,
            payload,
            signature,
        }),
    )
}

/// Whether attestor `a` signed the envelope: a key attestor's key verifies a signature over
/// the PAE (or the bundle, with its tlog material, verifies with that key); a keyless
/// attestor's identity is proven by the bundle's certificate, tlog entries and timestamps.
/// The statement's subject is checked by the caller.
fn signed_by(
    a: &crate::policy::Attestor,
    o: &Opened,
    content: &Content,
    now: i64,
) -> Result<(), String> {
    use crate::sigstore::verify::{Artifact, Options};
    let opts = Options {
        ignore_tlog: a.ignore_tlog,
        now,
    };
    match (&o.bundle, a.keys()) {
        // material that does not decode is never bypassed with a bare signature check
        (Err(e), _) => Err(format!("SignatureInvalid: {e}")),
        (Ok(Some(b)), _) => a
            .verify_bundle(b, Artifact::StatementChecked, opts)
            .map(|_| ())
            .map_err(|f| format!("{}: {}", f.code.as_str(), f.message)),
        (_, Some(Err(why))) => Err(format!("KeyUnavailable: {why}")),
        (_, Some(Ok(keys))) => {
            if content
                .signatures
                .iter()
                .any(|sig| keys.iter().any(|key| key.verify(&content.pae, sig).is_ok()))
            {
                Ok(())
            } else {
                Err(format!("NoMatchingSignature: not signed by {}", a.name))
            }
        }
        (_, None) => Err(format!(
            "NoMatchingSignature: no certificate, so not a keyless signature of {}",
            a.name
        )),
    }
}

fn open(bytes: &[u8]) -> Result<Content, String> {
    let env: Envelope =
        serde_json::from_slice(bytes).map_err(|e| format!("not a DSSE envelope: {e}"))?;
    if env.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(format!(
            "payloadType {:?} is not {IN_TOTO_PAYLOAD_TYPE}",
            env.payload_type
        ));
    }
    let body = crate::attest::decode_any_base64(&env.payload).ok_or("payload is not base64")?;
    let signatures = env
        .signatures
        .iter()
        .filter_map(|s| crate::attest::decode_any_base64(&s.sig))
        .collect();
    let statement = serde_json::from_slice::<Statement>(&body)
        .map_err(|e| format!("payload is not an in-toto statement: {e}"))
        .and_then(|s| {
            if s.kind == STATEMENT_V1 || s.kind == STATEMENT_V01 {
                Ok(s)
            } else {
                Err(format!("unknown statement _type {:?}", s.kind))
            }
        });
    Ok(Content {
        pae: pae(IN_TOTO_PAYLOAD_TYPE, &body),
        signatures,
        statement,
    })
}

/// What became of one envelope under one rule (the report's `attestations` entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundAttestation {
    pub origin: String,
    /// sha256 (hex) of the envelope's bytes (the `.att` layer blob, or the bundle).
    pub digest: String,
    pub source: SignatureSource,
    /// The statement's `predicateType`, when the payload could be read.
    pub predicate_type: Option<String>,
    /// The attestor whose key verified it.
    pub attestor: Option<String>,
    /// Signed by an allowed attestor and about this image.
    pub verified: bool,
    /// This attestation decided the rule.
    pub used: bool,
    /// Why it does not count, when it does not.
    pub note: Option<String>,
    /// When no allowed attestor signed it: (attestor, why its check failed), in rule order
    /// (`sealgate explain` shows them).
    pub tried: Vec<(String, String)>,
}

/// The outcome of one attestation rule on one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleOutcome {
    pub verdict: Verdict,
    pub found: Vec<FoundAttestation>,
}

/// A candidate that passed steps 1–4, with the predicate read as the rule needs.
struct Candidate<'a> {
    index: usize,
    time: Option<i64>,
    predicate: &'a str,
}

/// Checks `rule` on an image at `digest` given its opened envelopes. `now` (seconds since
/// the epoch) is the instant scan ages are measured at.
pub fn check(rule: &AttestationRule, digest: &Digest, opened: &[Opened], now: i64) -> RuleOutcome {
    let mut out = check_with_keys(rule, digest, opened, now);
    // the newest attestation decides, and one of those an unreadable key would verify may
    // be newer than any that did: whatever the others say, the rule cannot be checked
    if let Some(why) = rule
        .attestors
        .iter()
        .find_map(crate::policy::Attestor::unavailable)
    {
        out.verdict = Verdict::Unverifiable(Reason::new(
            ReasonCode::KeyUnavailable,
            format!(
                "cannot check the {} attestations: {why}",
                rule.predicate_type
            ),
        ));
    }
    out
}

fn check_with_keys(
    rule: &AttestationRule,
    digest: &Digest,
    opened: &[Opened],
    now: i64,
) -> RuleOutcome {
    let mut found = Vec::with_capacity(opened.len());
    let mut candidates: Vec<Candidate<'_>> = Vec::new();
    let mut other_subject: Option<String> = None;
    let (mut untrusted, mut other_type, mut unreadable) = (0usize, 0usize, 0usize);
    let algorithm = digest.to_string();
    let algorithm = algorithm.split(':').next().unwrap_or("sha256").to_string();

    for (index, o) in opened.iter().enumerate() {
        let mut f = FoundAttestation {
            origin: o.origin.clone(),
            digest: o.digest.clone(),
            source: o.source,
            predicate_type: None,
            attestor: None,
            verified: false,
            used: false,
            note: None,
            tried: Vec::new(),
        };
        let content = match &o.content {
            Ok(c) => c,
            Err(e) => {
                unreadable += 1;
                f.note = Some(e.clone());
                found.push(f);
                continue;
            }
        };
        if let Ok(s) = &content.statement {
            f.predicate_type = Some(s.predicate_type.clone());
        }
        for a in &rule.attestors {
            match signed_by(a, o, content, now) {
                Ok(()) => {
                    f.attestor = Some(a.name.clone());
                    f.tried.clear();
                    break;
                }
                Err(why) => f.tried.push((a.name.clone(), why)),
            }
        }
        if f.attestor.is_none() {
            untrusted += 1;
            f.note = Some("not signed by an allowed attestor".into());
            found.push(f);
            continue;
        }
        let statement = match &content.statement {
            Ok(s) => s,
            Err(e) => {
                unreadable += 1;
                f.note = Some(e.clone());
                found.push(f);
                continue;
            }
        };
        let about_image = statement.subject.iter().any(|s| {
            s.digest
                .get(&algorithm)
                .is_some_and(|h| h.eq_ignore_ascii_case(digest.hex()))
        });
        let type_matches = rule.matcher.matches(&statement.predicate_type);
        if !about_image {
            let subjects: Vec<String> = statement
                .subject
                .iter()
                .flat_map(|s| s.digest.iter().map(|(k, v)| format!("{k}:{v}")))
                .collect();
            let text = if subjects.is_empty() {
                "no subject digest".to_string()
            } else {
                subjects.join(", ")
            };
            f.note = Some(format!("about {text}, not this image"));
            if type_matches {
                other_subject.get_or_insert(text);
            } else {
                other_type += 1;
            }
            found.push(f);
            continue;
        }
        f.verified = true;
        if !type_matches {
            other_type += 1;
            found.push(f);
            continue;
        }
        let predicate = statement.predicate.as_deref().map_or("null", RawValue::get);
        candidates.push(Candidate {
            index,
            time: None,
            predicate,
        });
        found.push(f);
    }

    let attestors: Vec<&str> = rule.attestors.iter().map(|a| a.name.as_str()).collect();
    if candidates.is_empty() {
        let verdict = match other_subject {
            Some(s) => Verdict::Fail(vec![Reason::new(
                ReasonCode::AttestationSubjectMismatch,
                format!(
                    "the {} attestation signed by {} is about {s}, not sha256:{}",
                    rule.predicate_type,
                    attestors.join("/"),
                    digest.hex()
                ),
            )]),
            None => Verdict::Fail(vec![Reason::new(
                ReasonCode::AttestationMissing,
                format!(
                    "no verified {} attestation signed by {} (found {}: {} not signed by an allowed attestor, {} of another type, {} unreadable)",
                    rule.predicate_type,
                    attestors.join(" or "),
                    opened.len(),
                    untrusted,
                    other_type,
                    unreadable
                ),
            )]),
        };
        return RuleOutcome { verdict, found };
    }

    // read each candidate as the rule needs, to learn its time
    let mut parsed: Vec<(Candidate<'_>, Result<Parsed, String>)> = candidates
        .into_iter()
        .map(|mut c| {
            let p = read(rule, c.predicate);
            c.time = match &p {
                Ok(p) => p.time,
                Err(_) => None,
            };
            (c, p)
        })
        .collect();
    parsed.sort_by_key(|(c, _)| (c.time.is_some(), c.time, c.index));
    let Some((chosen, content)) = parsed.pop() else {
        return RuleOutcome {
            verdict: Verdict::Unverifiable(Reason::new(
                ReasonCode::MalformedAttestation,
                "no candidate",
            )),
            found,
        };
    };
    if let Some(f) = found.get_mut(chosen.index) {
        f.used = true;
    }
    let origin = opened
        .get(chosen.index)
        .map(|o| o.origin.clone())
        .unwrap_or_default();
    let content = match content {
        Ok(c) => c,
        Err(e) => {
            return RuleOutcome {
                verdict: Verdict::Unverifiable(Reason::new(
                    ReasonCode::MalformedAttestation,
                    format!(
                        "the newest {} attestation ({origin}) cannot be read: {e}",
                        rule.predicate_type
                    ),
                )),
                found,
            };
        }
    };
    let mut reasons = Vec::new();
    if let (Some(r), Some(doc)) = (&rule.sbom, &content.sbom) {
        let findings = sbom::evaluate(doc, r);
        for kind in [
            sbom::FindingKind::DeniedPackage,
            sbom::FindingKind::DeniedLicense,
        ] {
            let msgs: Vec<String> = findings
                .iter()
                .filter(|f| f.kind == kind)
                .map(sbom::Finding::message)
                .collect();
            if !msgs.is_empty() {
                let code = match kind {
                    sbom::FindingKind::DeniedPackage => ReasonCode::SbomDeniedPackage,
                    sbom::FindingKind::DeniedLicense => ReasonCode::SbomDeniedLicense,
                };
                reasons.push(Reason::new(
                    code,
                    format!("{} SBOM ({origin}): {}", doc.format, summarize(&msgs)),
                ));
            }
        }
    }
    if let (Some(r), Some(scan)) = (&rule.vulnerabilities, &content.scan) {
        let findings = vuln::evaluate(scan, r, now);
        for kind in [
            vuln::VulnFindingKind::Denied,
            vuln::VulnFindingKind::TooSevere,
            vuln::VulnFindingKind::TooOld,
        ] {
            let msgs: Vec<String> = findings
                .iter()
                .filter(|f| f.kind == kind)
                .map(|f| f.message.clone())
                .collect();
            if !msgs.is_empty() {
                let code = match kind {
                    vuln::VulnFindingKind::Denied => ReasonCode::VulnerabilityDenied,
                    vuln::VulnFindingKind::TooSevere => ReasonCode::VulnerabilityTooSevere,
                    vuln::VulnFindingKind::TooOld => ReasonCode::ScanTooOld,
                };
                reasons.push(Reason::new(
                    code,
                    format!("{} scan ({origin}): {}", scan.format, summarize(&msgs)),
                ));
            }
        }
    }
    if let (Some(r), Some((verifier, result))) = (&rule.summary, &content.summary) {
        if *verifier != r.verifier {
            reasons.push(Reason::new(
                ReasonCode::SummaryNotAccepted,
                format!(
                    "the newest verification summary ({origin}) is from {verifier:?}, not {:?}",
                    r.verifier
                ),
            ));
        } else if result != "PASSED" {
            reasons.push(Reason::new(
                ReasonCode::SummaryNotAccepted,
                format!("the newest verification summary ({origin}) says {result:?}, not PASSED"),
            ));
        }
        if let Some(max) = r.max_age {
            match chosen.time {
                None => reasons.push(Reason::new(
                    ReasonCode::SummaryTooOld,
                    format!("the verification summary ({origin}) has no timeVerified"),
                )),
                Some(t) if now.saturating_sub(t) > i64::try_from(max).unwrap_or(i64::MAX) => {
                    reasons.push(Reason::new(
                        ReasonCode::SummaryTooOld,
                        format!(
                            "the newest verification summary ({origin}) is from {}, older than {}",
                            crate::base::time::format_rfc3339(t),
                            crate::base::time::format_duration(u128::from(max))
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
    }
    let verdict = if reasons.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(reasons)
    };
    RuleOutcome { verdict, found }
}

fn summarize(msgs: &[String]) -> String {
    let mut text = msgs
        .iter()
        .take(MAX_FINDINGS_NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if msgs.len() > MAX_FINDINGS_NAMED {
        text.push_str(&format!("; and {} more", msgs.len() - MAX_FINDINGS_NAMED));
    }
    text
}

/// A predicate read as a rule needs it.
struct Parsed {
    time: Option<i64>,
    sbom: Option<sbom::Sbom>,
    scan: Option<vuln::Scan>,
    /// A verification summary's (verifier.id, verificationResult).
    summary: Option<(String, String)>,
}

/// A verification summary predicate's verifier, result and time.
fn read_summary(predicate: &str) -> Result<(String, String, Option<i64>), String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Vsa {
        verifier: Verifier,
        #[serde(default)]
        verification_result: Text,
        #[serde(default)]
        time_verified: Text,
    }
    #[derive(Deserialize)]
    struct Verifier {
        id: String,
    }
    let v: Vsa =
        serde_json::from_str(predicate).map_err(|e| format!("not a verification summary: {e}"))?;
    let time = match v.time_verified.0 {
        Some(t) => {
            Some(crate::base::time::parse_rfc3339(&t).map_err(|e| format!("timeVerified: {e}"))?)
        }
        None => None,
    };
    Ok((
        v.verifier.id,
        v.verification_result.0.unwrap_or_default(),
        time,
    ))
}

fn read(rule: &AttestationRule, predicate: &str) -> Result<Parsed, String> {
    let sbom = match &rule.sbom {
        Some(_) => Some(sbom::parse(predicate).map_err(|e| e.to_string())?),
        None => None,
    };
    let scan = match &rule.vulnerabilities {
        Some(_) => Some(vuln::parse(predicate).map_err(|e| e.to_string())?),
        None => None,
    };
    if rule.summary.is_some() {
        let (verifier, result, time) = read_summary(predicate)?;
        return Ok(Parsed {
            time,
            sbom: None,
            scan: None,
            summary: Some((verifier, result)),
        });
    }
    let time = scan
        .as_ref()
        .and_then(|s| s.finished)
        .or_else(|| sbom.as_ref().and_then(|s| s.created))
        .or_else(|| {
            if sbom.is_none() && scan.is_none() {
                predicate_time(predicate)
            } else {
                None
            }
        });
    Ok(Parsed {
        time,
        sbom,
        scan,
        summary: None,
    })
}

/// A string field, or nothing when the field holds something else.
#[derive(Default)]
struct Text(Option<String>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(Some(v.to_string())))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_unit<E>(self) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_none<E>(self) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Text, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Text, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// The time a predicate of any other type states about itself, if any.
fn predicate_time(predicate: &str) -> Option<i64> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Times {
        #[serde(rename = "Timestamp")]
        timestamp: Text,
        metadata: Option<Meta>,
        #[serde(rename = "runDetails")]
        run_details: Option<RunDetails>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Meta {
        build_finished_on: Text,
        finished_on: Text,
        timestamp: Text,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct RunDetails {
        metadata: Option<Meta>,
    }
    let t: Times = serde_json::from_str(predicate).ok()?;
    let meta = t.metadata.unwrap_or_default();
    let run = t.run_details.and_then(|r| r.metadata).unwrap_or_default();
    [
        meta.build_finished_on.0,
        run.finished_on.0,
        meta.timestamp.0,
        t.timestamp.0,
    ]
    .into_iter()
    .flatten()
    .find_map(|s| crate::base::time::parse_rfc3339(&s).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::{PredicateMatcher, envelope, statement};
    use crate::crypto::PrivateKey;
    use crate::policy::Attestor;
    use bytes::Bytes;

    fn digest() -> Digest {
        Digest::sha256_of(b"image")
    }

    fn rule(ptype: &str, keys: &[(&str, &PrivateKey)]) -> AttestationRule {
        AttestationRule {
            predicate_type: ptype.into(),
            matcher: PredicateMatcher::parse(ptype).unwrap(),
            attestors: keys
                .iter()
                .map(|(n, k)| Attestor {
                    name: (*n).into(),
                    kind: crate::policy::AttestorKind::Key(k.public_key()),
                    trusted_root: crate::sigstore::trust::TrustedRoot::production(),
                    ignore_tlog: false,
                })
                .collect(),
            sbom: None,
            vulnerabilities: None,
            summary: None,
        }
    }

    fn env(key: &PrivateKey, d: &Digest, kind: &str, predicate: &str, now: &str) -> Bytes {
        let (_, body) = statement("r/app", d, kind, predicate.as_bytes(), now).unwrap();
        envelope(key, &body).unwrap().into()
    }

    fn found(envs: &[Bytes]) -> Vec<Opened> {
        let list: Vec<AttestationEnvelope> = envs
            .iter()
            .enumerate()
            .map(|(i, e)| AttestationEnvelope {
                source: SignatureSource::LegacyTag,
                origin: format!("layer {i}"),
                envelope: e.clone(),
                bundle: None,
                annotations: Default::default(),
            })
            .collect();
        open_all(&list)
    }

    fn code(o: &RuleOutcome) -> Option<ReasonCode> {
        o.verdict.reasons().first().map(|r| r.code)
    }

    /// A gate's verification summary covering `d` (and another image), signed with `key`.
    fn summary_env(key: &PrivateKey, d: &Digest, verifier: &str, at: i64) -> Bytes {
        let other = Digest::sha256_of(b"other");
        let s = crate::attest::vsa::Summary {
            verifier_id: verifier.into(),
            time_verified: at,
            source: ("https://git.example/apps.git".into(), "a".repeat(40)),
            policy_set_sha256: "b".repeat(64),
            policies: Vec::new(),
            inputs: Vec::new(),
            images: vec![("r/other".into(), other), ("r/app".into(), d.clone())],
            promotion: Some(("https://git.example/deploy.git".into(), "c".repeat(40))),
        };
        s.sign(key).unwrap().into()
    }

    #[test]
    fn a_verification_summary_admits_what_it_covers_from_its_verifier_within_max_age() {
        let gate = PrivateKey::generate_p256().unwrap();
        let mut r = rule("vsa", &[("gate", &gate)]);
        let id = "https://sealgate.dev/gate/prod";
        r.summary = Some(crate::policy::SummaryRule {
            verifier: id.into(),
            max_age: Some(3600),
        });
        let now = 1_800_000_000;
        let ok = summary_env(&gate, &digest(), id, now - 60);
        let o = check(&r, &digest(), &found(std::slice::from_ref(&ok)), now);
        assert_eq!(o.verdict, Verdict::Pass, "{o:?}");
        assert!(o.found[0].used);
        // a summary that does not list this digest is about other images
        let o = check(&r, &Digest::sha256_of(b"third"), &found(&[ok]), now);
        assert_eq!(
            code(&o),
            Some(ReasonCode::AttestationSubjectMismatch),
            "{o:?}"
        );
        // another verifier, too old, another key
        let o = check(
            &r,
            &digest(),
            &found(&[summary_env(
                &gate,
                &digest(),
                "https://other.example/gate",
                now,
            )]),
            now,
        );
        assert_eq!(code(&o), Some(ReasonCode::SummaryNotAccepted), "{o:?}");
        let o = check(
            &r,
            &digest(),
            &found(&[summary_env(&gate, &digest(), id, now - 7200)]),
            now,
        );
        assert_eq!(code(&o), Some(ReasonCode::SummaryTooOld), "{o:?}");
        assert!(
            o.verdict.reasons()[0].message.contains("older than 1h"),
            "{o:?}"
        );
        let stranger = PrivateKey::generate_p256().unwrap();
        let o = check(
            &r,
            &digest(),
            &found(&[summary_env(&stranger, &digest(), id, now)]),
            now,
        );
        assert_eq!(code(&o), Some(ReasonCode::AttestationMissing), "{o:?}");
        // of two summaries signed by the key, the newest counts
        let o = check(
            &r,
            &digest(),
            &found(&[
                summary_env(&gate, &digest(), "https://other.example/gate", now - 600),
                summary_env(&gate, &digest(), id, now - 30),
            ]),
            now,
        );
        assert_eq!(o.verdict, Verdict::Pass, "{o:?}");
    }

    #[test]
    fn verified_subject_and_type_must_all_hold() {
        let ci = PrivateKey::generate_p256().unwrap();
        let other = PrivateKey::generate_p256().unwrap();
        let r = rule("slsaprovenance1", &[("ci", &ci)]);
        let prov = r#"{"buildDefinition":{}}"#;
        let t = "2026-01-01T00:00:00Z";
        // good
        let ok = env(&ci, &digest(), "slsaprovenance1", prov, t);
        let o = check(&r, &digest(), &found(std::slice::from_ref(&ok)), 0);
        assert_eq!(o.verdict, Verdict::Pass);
        assert!(o.found[0].verified && o.found[0].used);
        assert_eq!(o.found[0].attestor.as_deref(), Some("ci"));
        // untrusted key
        let o = check(
            &r,
            &digest(),
            &found(&[env(&other, &digest(), "slsaprovenance1", prov, t)]),
            0,
        );
        assert_eq!(code(&o), Some(ReasonCode::AttestationMissing));
        assert!(!o.found[0].verified);
        // another type only
        let o = check(
            &r,
            &digest(),
            &found(&[env(&ci, &digest(), "slsaprovenance", prov, t)]),
            0,
        );
        assert_eq!(code(&o), Some(ReasonCode::AttestationMissing));
        assert!(o.found[0].verified, "verified, just not of the rule's type");
        // another image
        let o = check(
            &r,
            &digest(),
            &found(&[env(
                &ci,
                &Digest::sha256_of(b"x"),
                "slsaprovenance1",
                prov,
                t,
            )]),
            0,
        );
        assert_eq!(code(&o), Some(ReasonCode::AttestationSubjectMismatch));
        // tampered payload: signature no longer verifies
        let mut v: serde_json::Value = serde_json::from_slice(&ok).unwrap();
        let (_, body) = statement(
            "r/app",
            &digest(),
            "slsaprovenance1",
            br#"{"buildDefinition":{"evil":1}}"#,
            t,
        )
        .unwrap();
        v["payload"] = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .encode(&body)
                .into()
        };
        let tampered = Bytes::from(serde_json::to_vec(&v).unwrap());
        let o = check(&r, &digest(), &found(std::slice::from_ref(&tampered)), 0);
        assert_eq!(code(&o), Some(ReasonCode::AttestationMissing));
        // the good one next to it still counts
        let o = check(&r, &digest(), &found(&[tampered, ok]), 0);
        assert_eq!(o.verdict, Verdict::Pass);
        assert!(!o.found[0].verified && o.found[1].verified);
        // garbage envelopes are reported, never a panic
        for junk in [
            &b"{"[..],
            b"[]",
            b"{\"payloadType\":\"application/vnd.in-toto+json\",\"payload\":\"!!\"}",
            b"{\"payloadType\":\"text/plain\",\"payload\":\"\",\"signatures\":[]}",
        ] {
            let o = check(&r, &digest(), &found(&[Bytes::from_static(junk)]), 0);
            assert_eq!(code(&o), Some(ReasonCode::AttestationMissing));
            assert!(o.found[0].note.is_some());
        }
    }

    #[test]
    fn the_newest_by_predicate_time_decides() {
        let ci = PrivateKey::generate_p256().unwrap();
        let r = rule("custom", &[("ci", &ci)]);
        let old = env(&ci, &digest(), "custom", "old", "2026-01-01T00:00:00Z");
        let new = env(&ci, &digest(), "custom", "new", "2026-02-01T00:00:00Z");
        for order in [[old.clone(), new.clone()], [new.clone(), old.clone()]] {
            let o = check(&r, &digest(), &found(&order), 0);
            let used: Vec<&str> = o
                .found
                .iter()
                .filter(|f| f.used)
                .map(|f| f.origin.as_str())
                .collect();
            let want = if order[0] == new {
                "layer 0"
            } else {
                "layer 1"
            };
            assert_eq!(used, [want]);
        }
        assert_eq!(
            predicate_time(r#"{"Data":"x","Timestamp":"2026-02-01T00:00:00Z"}"#),
            Some(1_769_904_000)
        );
        assert_eq!(
            predicate_time(r#"{"runDetails":{"metadata":{"finishedOn":"1970-01-01T00:01:00Z"}}}"#),
            Some(60)
        );
        assert_eq!(
            predicate_time(
                r#"{"metadata":{"buildFinishedOn":7,"timestamp":"1970-01-01T00:00:02Z"}}"#
            ),
            Some(2)
        );
        assert_eq!(predicate_time(r#""just a string""#), None);
        assert_eq!(predicate_time(r#"{"Timestamp":["x"]}"#), None);
    }
}
