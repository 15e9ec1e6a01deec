//! Kyverno `ClusterPolicy` / `Policy` `verifyImages` rules, current syntax
//! (`imageReferences` + `attestors` sets) and the older one (`image` + `key`).
//!
//! Semantics translated: every rule whose `imageReferences` match applies and each of its
//! attestor sets must pass (`count` of its entries, default all): one ImagePolicy document per
//! set, since every matching document must pass. A `publicKeys` text with several keys is one
//! entry per key (as Kyverno expands it). `validationFailureAction`/`failureAction` `Audit` →
//! `mode: warn` (Kyverno's default is Audit). Images no rule matches are allowed.

use serde_json::Value;

use super::patterns::{self, Translated};
use super::{Cx, Imported, Level, Obj, Options, slug, split_pem};
use crate::policy::{
    AttestationSpec, AttestorSpec, ImagePolicySpec, KeySpec, KeylessSpec, Mode, RuleSpec,
    SignaturesSpec, Unmatched,
};

const PUBLIC_REKOR: &str = "https://rekor.sigstore.dev";
const VULN_PREDICATE: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";

/// An attestation's `conditions`: every block must hold; a block's `all` entries each, its
/// `any` when it has one entry. The one form that maps exactly is the scan-age check of a
/// cosign vulnerability attestation, `{{ time_since('', '{{metadata.scanFinishedOn}}', '') }}`
/// `LessThanOrEquals` DURATION → `vulnerabilities.maxAge` (both fail a scan without a time) —
/// still reported as dropped, since Kyverno applies conditions to every attestation of the
/// type and sealgate's vulnerability rules to the newest. Everything else is dropped.
/// What an attestation's `conditions` translate into.
#[derive(Default)]
struct FromConditions {
    vulnerabilities: Option<crate::policy::VulnerabilitiesSpec>,
    summary: Option<crate::policy::SummarySpec>,
}

/// The attestation types whose conditions translate.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Vuln,
    Vsa,
    Other,
}

fn conditions(v: &Value, at: &str, kind: Kind, cx: &mut Cx) -> FromConditions {
    let Some(blocks) = v.as_array() else {
        cx.report(at, Level::Dropped, "expected a list of condition blocks");
        return FromConditions::default();
    };
    let mut max_age: Option<String> = None;
    let mut verifier: Option<String> = None;
    let vuln = kind == Kind::Vuln;
    for (b, block) in blocks.iter().enumerate() {
        let bat = format!("{at}[{b}]");
        let mut o = Obj::new(block, &bat, cx);
        let mut items: Vec<(String, &Value)> = o
            .list("all", cx)
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("{bat}.all[{i}]"), c))
            .collect();
        let any = o.list("any", cx);
        match any {
            [] => {}
            [one] => items.push((format!("{bat}.any[0]"), one)),
            _ => cx.report(
                &o.at("any"),
                Level::Dropped,
                "alternatives of several conditions are not translated",
            ),
        }
        o.finish(cx);
        for (cat, c) in items {
            let mut co = Obj::new(c, &cat, cx);
            let key = co.str("key", cx).unwrap_or("");
            let op = co.str("operator", cx).unwrap_or("");
            let value = co.get("value").and_then(Value::as_str).unwrap_or("");
            co.note("message", Level::Ignored, "a message", cx);
            co.finish(cx);
            let compact: String = key
                .chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| if c == '"' { '\'' } else { c })
                .collect();
            let is_age = compact == "{{time_since('','{{metadata.scanFinishedOn}}','')}}";
            if vuln
                && is_age
                && op == "LessThanOrEquals"
                && crate::base::time::parse_duration(value).is_ok()
                && max_age.is_none()
            {
                max_age = Some(value.to_string());
                cx.report(
                    &cat,
                    Level::Dropped,
                    format!(
                        "translated as vulnerabilities.maxAge: {value}, which sealgate checks on \
                         the newest verified vulnerability attestation; Kyverno checks every one \
                         (an older stale scan beside a fresh one blocks in Kyverno, not in \
                         sealgate)"
                    ),
                );
                continue;
            }
            if kind == Kind::Vsa && op == "Equals" {
                if compact == "{{verificationResult}}" && value == "PASSED" {
                    // exact: the summary rule only ever accepts PASSED
                    continue;
                }
                if compact == "{{verifier.id}}" && !value.trim().is_empty() && verifier.is_none() {
                    verifier = Some(value.trim().to_string());
                    cx.report(
                        &cat,
                        Level::Dropped,
                        format!(
                            "translated as summary.verifier: {value}, which sealgate checks on \
                             the newest verified summary; Kyverno checks every one (an older \
                             summary of another verifier beside a newer one blocks in Kyverno, \
                             not in sealgate)"
                        ),
                    );
                    continue;
                }
            }
            cx.report(
                &cat,
                Level::Dropped,
                "condition not translated (only the scan age of a vulnerability attestation, \
                 time_since(…metadata.scanFinishedOn…) LessThanOrEquals DURATION, maps onto \
                 vulnerabilities.maxAge, and a verification summary's {{verifier.id}} Equals \
                 ID onto summary.verifier)",
            );
        }
    }
    FromConditions {
        vulnerabilities: max_age.map(|a| crate::policy::VulnerabilitiesSpec {
            max_severity: None,
            deny: Vec::new(),
            ignore: Vec::new(),
            max_age: Some(a),
        }),
        summary: verifier.map(|v| crate::policy::SummarySpec {
            verifier: v,
            max_age: None,
        }),
    }
}

pub(super) fn document(
    doc: &Value,
    kind: &str,
    name: &str,
    options: &Options,
    cx: &mut Cx,
) -> Option<Vec<Imported>> {
    let out_kind = match kind {
        "ClusterPolicy" => "ClusterImagePolicy",
        "Policy" => "ImagePolicy",
        "ImageValidatingPolicy" | "NamespacedImageValidatingPolicy" => {
            let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            if !api.starts_with("policies.kyverno.io/") {
                return None;
            }
            return Some(super::kyverno_ivp::document(doc, kind, name, options, cx));
        }
        _ => return None,
    };
    let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if !api.starts_with("kyverno.io/") {
        return None;
    }
    if kind == "Policy"
        && doc
            .pointer("/metadata/namespace")
            .is_some_and(|n| !n.is_null())
    {
        cx.report(
            "metadata.namespace",
            Level::Stricter,
            "a namespaced Policy applies to its namespace only; sealgate applies it to every \
             manifest the gate checks",
        );
    }
    let mut spec = Obj::new(super::spec_of(doc, cx), "spec", cx);
    let mut mode = Mode::Warn; // Kyverno's default validationFailureAction is Audit
    if let Some(a) = spec.str("validationFailureAction", cx) {
        mode = action(a, &spec.at("validationFailureAction"), cx).unwrap_or(mode);
    }
    spec.notes(
        Level::Ignored,
        &[
            ("background", "background scans have no meaning for a gate"),
            (
                "failurePolicy",
                "sealgate fails closed: an image it cannot check is blocked",
            ),
            ("webhookTimeoutSeconds", "an admission webhook setting"),
            ("webhookConfiguration", "an admission webhook setting"),
            ("admission", "an admission webhook setting"),
            ("emitWarning", "an admission webhook setting"),
            ("useServerSideApply", "a generate-rule setting"),
            ("mutateExistingOnPolicyUpdate", "a mutate-rule setting"),
            ("generateExisting", "a generate-rule setting"),
            ("generateExistingOnPolicyUpdate", "a generate-rule setting"),
            ("schemaValidation", "a Kyverno validation setting"),
            ("applyRules", "sealgate applies every matching rule (All)"),
        ],
        cx,
    );
    spec.note(
        "validationFailureActionOverrides",
        Level::Dropped,
        "per-namespace failure actions are not translated",
        cx,
    );
    let rules = spec.list("rules", cx);
    spec.finish(cx);

    let policy_name = slug(name);
    let mut out = Vec::new();
    for (i, rule_v) in rules.iter().enumerate() {
        let at = format!("spec.rules[{i}]");
        let mut rule = Obj::new(rule_v, &at, cx);
        let rule_name = rule
            .str("name", cx)
            .map(slug)
            .unwrap_or_else(|| format!("rule-{i}"));
        let verify = rule.list("verifyImages", cx);
        let other = ["validate", "mutate", "generate", "cleanup"]
            .iter()
            .any(|k| rule.get(k).is_some());
        if verify.is_empty() {
            if !other {
                cx.report(&at, Level::Ignored, "a rule without verifyImages");
            } else {
                cx.report(
                    &at,
                    Level::Ignored,
                    "not an image verification rule (validate/mutate/generate are Kyverno's)",
                );
            }
            rule.taken_all();
            continue;
        }
        let mut rule_mode = mode;
        for k in ["validationFailureAction", "failureAction"] {
            if let Some(a) = rule.str(k, cx) {
                rule_mode = action(a, &rule.at(k), cx).unwrap_or(rule_mode);
            }
        }
        rule.notes(Level::Stricter, &[
            (
                "match",
                "sealgate checks every image of every manifest; the rule's resource match is not applied",
            ),
            (
                "exclude",
                "sealgate checks every image of every manifest; the rule's exclusions are not applied",
            ),
            (
                "preconditions",
                "preconditions are not evaluated: the rule always applies",
            ),
            (
                "celPreconditions",
                "preconditions are not evaluated: the rule always applies",
            ),
            (
                "context",
                "context variables are not evaluated (they only feed conditions)",
            ),
        ], cx);
        for k in ["skipBackgroundRequests", "reportProperties"] {
            rule.note(k, Level::Ignored, "a Kyverno reporting setting", cx);
        }
        rule.finish(cx);
        for (j, v) in verify.iter().enumerate() {
            let at = format!("{at}.verifyImages[{j}]");
            let base = if verify.len() == 1 {
                format!("{policy_name}.{rule_name}")
            } else {
                format!("{policy_name}.{rule_name}-{j}")
            };
            out.extend(verify_images(
                v,
                &at,
                &base,
                &rule_name,
                rule_mode,
                options,
                out_kind,
                &format!("{kind}/{name} {at}"),
                cx,
            ));
        }
    }
    Some(out)
}

impl Obj<'_> {
    /// Marks every key taken (a whole mapping reported once by the caller).
    fn taken_all(mut self) {
        if let Some(m) = self.map {
            for k in m.keys() {
                self.taken.insert(k.as_str());
            }
        }
    }
}

fn action(a: &str, at: &str, cx: &mut Cx) -> Option<Mode> {
    match a {
        "Audit" | "audit" => Some(Mode::Warn),
        "Enforce" | "enforce" => Some(Mode::Enforce),
        other => {
            cx.report(
                at,
                Level::Dropped,
                format!("unknown failure action {other:?}"),
            );
            None
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn verify_images(
    v: &Value,
    at: &str,
    base: &str,
    rule_name: &str,
    mut mode: Mode,
    options: &Options,
    kind: &'static str,
    from: &str,
    cx: &mut Cx,
) -> Vec<Imported> {
    let mut o = Obj::new(v, at, cx);
    for k in ["failureAction", "validationFailureAction"] {
        if let Some(a) = o.str(k, cx) {
            mode = action(a, &o.at(k), cx).unwrap_or(mode);
        }
    }
    if let Some(t) = o.str("type", cx)
        && t != "Cosign"
    {
        cx.report(
            &o.at("type"),
            Level::Dropped,
            format!("{t} signatures are not verified by this version (Cosign only)"),
        );
        o.taken_all();
        return Vec::new();
    }
    // images
    let mut patterns: Vec<(String, &str)> = Vec::new();
    for (k, p) in o.list("imageReferences", cx).iter().enumerate() {
        match p.as_str() {
            Some(s) => patterns.push((o.at(&format!("imageReferences[{k}]")), s)),
            None => cx.report(
                &o.at(&format!("imageReferences[{k}]")),
                Level::Dropped,
                "expected a string",
            ),
        }
    }
    if let Some(s) = o.str("image", cx) {
        patterns.push((o.at("image"), s));
    }
    let mut images = Vec::new();
    for (path, p) in patterns {
        match patterns::kyverno(p) {
            Translated::Exact(g) => images.extend(g),
            Translated::Stricter(g, why) => {
                cx.report(&path, Level::Stricter, why);
                images.extend(g);
            }
            Translated::Dropped(why) => cx.report(&path, Level::Dropped, why),
        }
    }
    images.dedup();
    o.note(
        "skipImageReferences",
        Level::Stricter,
        "sealgate has no exclusions: the skipped images are verified too",
        cx,
    );
    if o.bool("required", cx) == Some(false) {
        cx.report(
            &o.at("required"),
            Level::Dropped,
            "required: false admits images whose signatures fail; not translated",
        );
    }
    let mutate = o.bool("mutateDigest", cx).unwrap_or(true);
    let verify_digest = o.bool("verifyDigest", cx).unwrap_or(true);
    let require_digest = verify_digest && !mutate;
    if mutate && o.map.is_some_and(|m| m.contains_key("mutateDigest")) {
        cx.report(
            &o.at("mutateDigest"),
            Level::Ignored,
            "the gate pins digests when it promotes (and the webhook with --mutate-digest)",
        );
    }
    o.notes(
        Level::Ignored,
        &[
            ("useCache", "sealgate caches verified digests itself"),
            (
                "imageRegistryCredentials",
                "registry credentials come from the Docker config and the check flags",
            ),
            (
                "cosignOCI11",
                "sealgate discovers referrers and tag-based signatures alike",
            ),
        ],
        cx,
    );
    o.notes(
        Level::Dropped,
        &[
            (
                "repository",
                "signatures stored in another repository are not looked up",
            ),
            (
                "validate",
                "validate conditions on the image are not evaluated",
            ),
            (
                "annotations",
                "signature annotation checks are not translated",
            ),
            (
                "roots",
                "custom Fulcio roots: give the attestor a trustedRoot",
            ),
        ],
        cx,
    );
    // attestor sets
    let mut sets: Vec<(usize, Vec<AttestorSpec>)> = Vec::new();
    // the older syntax: key / subject + issuer on the entry itself
    let legacy_key = o.str("key", cx);
    let legacy_subject = o.str("subject", cx);
    let legacy_issuer = o.str("issuer", cx);
    let legacy_ext = o.get("additionalExtensions");
    if let Some(k) = legacy_key {
        let keys = public_keys(k, &o.at("key"), cx);
        cx.report(
            &o.at("key"),
            Level::Dropped,
            "Kyverno requires a Rekor entry for key-based signatures (write the key as an \
             attestor with rekor.ignoreTlog: true if the signatures have none); sealgate's \
             key attestors do not require one",
        );
        let n = keys.len();
        if n > 0 {
            sets.push((n, keys));
        }
    }
    if legacy_subject.is_some() || legacy_issuer.is_some() {
        let mut id = KeylessSpec {
            issuer: None,
            issuer_regexp: None,
            subject: None,
            subject_regexp: None,
            claims: Default::default(),
        };
        identity(
            &mut id,
            legacy_subject,
            legacy_issuer,
            None,
            None,
            &o.at("subject"),
            cx,
        );
        if let Some(e) = legacy_ext {
            id.claims = extensions(e, &o.at("additionalExtensions"), cx);
        }
        sets.push((
            1,
            vec![AttestorSpec {
                name: "keyless-1".into(),
                key: None,
                keyless: Some(id),
                trusted_root: None,
                ignore_tlog: None,
            }],
        ));
    }
    for (k, set) in o.list("attestors", cx).iter().enumerate() {
        if let Some(s) = attestor_set(set, &o.at(&format!("attestors[{k}]")), cx) {
            sets.push(s);
        }
    }
    let attestations = o.list("attestations", cx);
    o.finish(cx);

    let images_empty = images.is_empty();
    let rule =
        |signatures: Option<SignaturesSpec>, attestations: Option<Vec<AttestationSpec>>| RuleSpec {
            name: rule_name.to_string(),
            images: images.clone(),
            require_digest,
            signatures,
            attestations,
        };
    let spec = |r: RuleSpec| ImagePolicySpec {
        mode,
        registries: Vec::new(),
        unmatched: options.unmatched.unwrap_or(Unmatched::Allow),
        rules: vec![r],
        extra_image_paths: Vec::new(),
        kms: None,
    };
    if images_empty {
        cx.report(
            at,
            Level::Dropped,
            "no image pattern translated: the entry is left out",
        );
        return Vec::new();
    }
    let mut docs = Vec::new();
    // attestations verified with the entry's only attestor join its document; the others
    // get documents of their own
    let mut shared: Vec<AttestationSpec> = Vec::new();
    let mut own: Vec<(usize, Vec<AttestorSpec>, AttestationSpec)> = Vec::new();
    for (a, att) in attestations.iter().enumerate() {
        let at = format!("{at}.attestations[{a}]");
        let mut ao = Obj::new(att, &at, cx);
        let ty = ao.str("predicateType", cx).or_else(|| ao.str("type", cx));
        ao.note("name", Level::Ignored, "a label", cx);
        let conditions_v = ao.get("conditions");
        let conditions_at = ao.at("conditions");
        let att_sets: Vec<_> = ao
            .list("attestors", cx)
            .iter()
            .enumerate()
            .filter_map(|(k, s)| attestor_set(s, &ao.at(&format!("attestors[{k}]")), cx))
            .collect();
        ao.finish(cx);
        let Some(ty) = ty else {
            cx.report(&at, Level::Dropped, "no predicateType");
            continue;
        };
        let Ok(m) = crate::attest::PredicateMatcher::parse(ty) else {
            cx.report(
                &at,
                Level::Dropped,
                format!("{ty:?} is not a predicate type URI"),
            );
            continue;
        };
        let kind = match m.uri() {
            VULN_PREDICATE => Kind::Vuln,
            crate::attest::vsa::PREDICATE => Kind::Vsa,
            _ => Kind::Other,
        };
        let translated = conditions_v
            .map(|c| conditions(c, &conditions_at, kind, cx))
            .unwrap_or_default();
        let spec_of = |attestors| AttestationSpec {
            predicate_type: m.uri().to_string(),
            attestors,
            sbom: None,
            vulnerabilities: translated.vulnerabilities.clone(),
            summary: translated.summary.clone(),
        };
        if att_sets.is_empty() {
            match sets.as_slice() {
                [(_, one)] if one.len() == 1 => shared.push(spec_of(None)),
                [] => cx.report(
                    &at,
                    Level::Dropped,
                    "an attestation without attestors (nothing to verify it with)",
                ),
                _ => cx.report(
                    &at,
                    Level::Dropped,
                    "which of the image attestors must have signed the attestation is not \
                     translated: give the attestation its own attestors",
                ),
            }
            continue;
        }
        for (count, set) in att_sets {
            if count > 1 {
                cx.report(
                    &at,
                    Level::Dropped,
                    format!(
                        "count {count}: sealgate counts an attestation signed by one of its \
                         attestors"
                    ),
                );
            }
            // the attestation's own attestors sign only it, not the image: threshold 0
            own.push((0, set, spec_of(None)));
        }
    }
    let n_docs = sets.len() + own.len();
    let mut k = 0;
    let name = |k: &mut usize| {
        *k += 1;
        if n_docs <= 1 {
            base.to_string()
        } else {
            format!("{base}-{k}")
        }
    };
    for (count, attestors) in sets {
        let atts = (!shared.is_empty()).then(|| shared.clone());
        docs.push(Imported {
            name: name(&mut k),
            kind,
            from: from.to_string(),
            spec: spec(rule(
                Some(SignaturesSpec {
                    threshold: Some(count as u64),
                    attestors,
                }),
                atts,
            )),
        });
    }
    for (count, attestors, att) in own {
        docs.push(Imported {
            name: name(&mut k),
            kind,
            from: from.to_string(),
            spec: spec(rule(
                Some(SignaturesSpec {
                    threshold: Some(count as u64),
                    attestors,
                }),
                Some(vec![att]),
            )),
        });
    }
    if docs.is_empty() {
        docs.push(Imported {
            name: base.to_string(),
            kind,
            from: from.to_string(),
            spec: spec(rule(None, None)),
        });
    }
    docs
}

/// One `attestors[]` set: (threshold, attestors), or `None` when nothing in it translated.
fn attestor_set(v: &Value, at: &str, cx: &mut Cx) -> Option<(usize, Vec<AttestorSpec>)> {
    let mut o = Obj::new(v, at, cx);
    let count = o.get("count").map(|c| c.as_u64());
    let entries = o.list("entries", cx);
    o.finish(cx);
    let mut attestors = Vec::new();
    let mut dropped = false;
    for (e, entry) in entries.iter().enumerate() {
        let at = format!("{at}.entries[{e}]");
        let before = cx.findings.len();
        let got = entry_attestors(entry, &at, attestors.len(), cx);
        dropped |= cx.findings[before..]
            .iter()
            .any(|f| f.level == Level::Dropped);
        attestors.extend(got);
    }
    let n = attestors.len();
    let threshold = match count {
        None => n,
        Some(Some(c)) if c >= 1 => c as usize,
        Some(_) => {
            cx.report(
                &format!("{at}.count"),
                Level::Dropped,
                "count must be a positive number",
            );
            return None;
        }
    };
    if n == 0 {
        if !dropped {
            cx.report(at, Level::Dropped, "an attestor set without entries");
        }
        return None;
    }
    if threshold > n {
        cx.report(
            &format!("{at}.count"),
            Level::Dropped,
            format!("count {threshold} is more than the {n} entries that translated"),
        );
        return None;
    }
    if dropped && count.is_none() {
        // Kyverno needs every entry; with some left out, the rest still all must pass —
        // already reported as dropped above.
    }
    Some((threshold, attestors))
}

/// The attestors of one set entry (several for a multi-key `publicKeys`).
fn entry_attestors(v: &Value, at: &str, offset: usize, cx: &mut Cx) -> Vec<AttestorSpec> {
    let mut o = Obj::new(v, at, cx);
    let mut out = Vec::new();
    o.notes(
        Level::Dropped,
        &[
            ("certificates", "certificate attestors are not translated"),
            ("attestor", "nested attestor sets are not translated"),
            (
                "repository",
                "signatures stored in another repository are not looked up",
            ),
            (
                "annotations",
                "signature annotation checks are not translated",
            ),
        ],
        cx,
    );
    if let Some(keys) = o.get("keys") {
        let at = o.at("keys");
        let mut k = Obj::new(keys, &at, cx);
        let pems = k.str("publicKeys", cx);
        let kms = k
            .str("kms", cx)
            .and_then(|uri| super::kms_key(uri, &k.at("kms"), cx));
        k.notes(
            Level::Dropped,
            &[(
                "secret",
                "write the Secret as publicKeys: k8s://NAMESPACE/NAME (cosign.pub)",
            )],
            cx,
        );
        k.sha256_only("signatureAlgorithm", cx);
        let ignore_tlog = tlog_of(&mut k, cx);
        k.note(
            "ctlog",
            Level::Ignored,
            "key-based signatures carry no certificate",
            cx,
        );
        k.finish(cx);
        if !ignore_tlog {
            cx.report(
                &format!("{at}.rekor.ignoreTlog"),
                Level::Dropped,
                "Kyverno requires a Rekor entry for key-based signatures unless \
                 rekor.ignoreTlog is true; sealgate's key attestors do not require one",
            );
        }
        if let Some(p) = pems {
            out.extend(public_keys(p, &format!("{at}.publicKeys"), cx));
        }
        out.extend(kms.map(key_attestor));
    }
    if let Some(kl) = o.get("keyless") {
        let at = o.at("keyless");
        let mut k = Obj::new(kl, &at, cx);
        let subject = k.str("subject", cx);
        let issuer = k.str("issuer", cx);
        let subject_re = k.str("subjectRegExp", cx);
        let issuer_re = k.str("issuerRegExp", cx);
        if k.get("roots").is_some() {
            cx.report(
                &k.at("roots"),
                Level::Dropped,
                "custom Fulcio roots: give the attestor a trustedRoot",
            );
        }
        let mut id = KeylessSpec {
            issuer: None,
            issuer_regexp: None,
            subject: None,
            subject_regexp: None,
            claims: Default::default(),
        };
        identity(&mut id, subject, issuer, subject_re, issuer_re, &at, cx);
        if let Some(e) = k.get("additionalExtensions") {
            id.claims = extensions(e, &k.at("additionalExtensions"), cx);
        }
        let ignore_tlog = tlog_of(&mut k, cx);
        if let Some(ct) = k.get("ctlog") {
            let mut c = Obj::new(ct, &k.at("ctlog"), cx);
            if c.bool("ignoreSCT", cx) == Some(true) {
                cx.report(
                    &c.at("ignoreSCT"),
                    Level::Stricter,
                    "sealgate always verifies the certificate's SCT",
                );
            }
            for f in ["pubkey", "tsaCertChain", "url"] {
                if c.get(f).is_some() {
                    cx.report(
                        &c.at(f),
                        Level::Dropped,
                        "a private CT log or TSA: give the attestor a trustedRoot",
                    );
                }
            }
            c.finish(cx);
        }
        k.finish(cx);
        if ignore_tlog {
            cx.report(
                &format!("{at}.rekor.ignoreTlog"),
                Level::Stricter,
                "without a log entry sealgate still needs a signed RFC 3161 timestamp for the \
                 signing time",
            );
        }
        out.push(AttestorSpec {
            name: format!("keyless-{}", offset + out.len() + 1),
            key: None,
            keyless: Some(id),
            trusted_root: None,
            ignore_tlog: ignore_tlog.then_some(true),
        });
    }
    o.finish(cx);
    for (n, a) in out.iter_mut().enumerate() {
        if a.key.is_some() {
            a.name = format!("key-{}", offset + n + 1);
        }
    }
    out
}

/// Reads `rekor` of a keys/keyless entry: whether `ignoreTlog` is true. A private Rekor
/// (`url`, `pubkey`) while the log is checked is dropped.
fn tlog_of(k: &mut Obj<'_>, cx: &mut Cx) -> bool {
    let Some(r) = k.get("rekor") else {
        return false;
    };
    let mut r = Obj::new(r, &k.at("rekor"), cx);
    let ignore = r.bool("ignoreTlog", cx) == Some(true);
    let url = r.str("url", cx);
    let pubkey = r.get("pubkey").is_some();
    r.finish(cx);
    if !ignore && (url.is_some_and(|u| u.trim_end_matches('/') != PUBLIC_REKOR) || pubkey) {
        cx.report(
            &k.at("rekor"),
            Level::Dropped,
            "a private Rekor: give the attestor a trustedRoot",
        );
    }
    ignore
}

fn public_keys(text: &str, at: &str, cx: &mut Cx) -> Vec<AttestorSpec> {
    let t = text.trim();
    if t.starts_with("k8s://") {
        return vec![key_attestor(KeySpec {
            path: Some(t.to_string()),
            pem: None,
        })];
    }
    match split_pem(t) {
        Ok(keys) => keys
            .into_iter()
            .map(|pem| {
                key_attestor(KeySpec {
                    path: None,
                    pem: Some(pem),
                })
            })
            .collect(),
        Err(e) => {
            cx.report(
                at,
                Level::Dropped,
                format!("not a PEM public key or k8s://NAMESPACE/NAME: {e}"),
            );
            Vec::new()
        }
    }
}

fn key_attestor(key: KeySpec) -> AttestorSpec {
    AttestorSpec {
        name: "key".into(),
        key: Some(key),
        keyless: None,
        trusted_root: None,
        ignore_tlog: None,
    }
}

/// Kyverno's subject/issuer: exact strings or (unanchored) regular expressions; absent means
/// any.
fn identity(
    id: &mut KeylessSpec,
    subject: Option<&str>,
    issuer: Option<&str>,
    subject_re: Option<&str>,
    issuer_re: Option<&str>,
    at: &str,
    cx: &mut Cx,
) {
    let mut one = |exact: Option<&str>,
                   re: Option<&str>,
                   field: &str,
                   out_exact: &mut Option<String>,
                   out_re: &mut Option<String>| {
        if let Some(s) = exact {
            if s.contains('*') {
                cx.report(
                    &format!("{at}.{field}"),
                    Level::Dropped,
                    "a wildcard subject/issuer: write it as a regular expression",
                );
            } else {
                *out_exact = Some(s.to_string());
            }
        }
        if let Some(r) = re {
            match patterns::unanchored_regex(r) {
                Ok(x) => *out_re = Some(x),
                Err(e) => cx.report(&format!("{at}.{field}RegExp"), Level::Dropped, e),
            }
        }
        if let (Some(exact), Some(re)) = (out_exact.clone(), out_re.clone()) {
            // cosign checks both: the exact value alone says the same when it matches
            let holds = crate::sigstore::verify::Matcher::regex(&re)
                .map(|m| m.matches(&exact))
                .unwrap_or(false);
            if holds {
                *out_re = None;
            } else {
                *out_exact = None;
                cx.report(
                    &format!("{at}.{field}"),
                    Level::Dropped,
                    format!("{field} does not match {field}RegExp: no signature can pass"),
                );
            }
        }
        if out_exact.is_none() && out_re.is_none() {
            *out_re = Some(".*".into());
        }
    };
    one(
        subject,
        subject_re,
        "subject",
        &mut id.subject,
        &mut id.subject_regexp,
    );
    one(
        issuer,
        issuer_re,
        "issuer",
        &mut id.issuer,
        &mut id.issuer_regexp,
    );
}

fn extensions(v: &Value, at: &str, cx: &mut Cx) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let Some(m) = v.as_object() else {
        cx.report(at, Level::Dropped, "expected a mapping");
        return out;
    };
    for (k, v) in m {
        match v.as_str() {
            Some(s) if crate::policy::KEYLESS_CLAIMS.contains(&k.as_str()) => {
                out.insert(k.clone(), s.to_string());
            }
            _ => cx.report(
                &format!("{at}.{k}"),
                Level::Dropped,
                "not a known Fulcio claim with a string value",
            ),
        }
    }
    out
}
