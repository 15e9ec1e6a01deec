//! Kyverno `ImageValidatingPolicy` / `NamespacedImageValidatingPolicy`
//! (`policies.kyverno.io`): `matchImageReferences` globs, `attestors`, `attestations`, and
//! the CEL `validations` that map exactly:
//!
//! * `images.containers.map(image, verifyImageSignatures(image, [attestors.A, …])).all(e, e > 0)`
//!   → a document whose rule needs one signature of A, … (threshold 1);
//! * `images.containers.map(image, verifyAttestationSignatures(image, attestations.N, [attestors.A, …])).all(e, e > 0)`
//!   → a document requiring the attestation type of N signed by A, … (the image signature
//!   too: stricter).
//!
//! Every validation must hold in Kyverno; every matching document must pass in sealgate.
//! Any other expression is dropped. Globs (gobwas/glob without separators: `*` crosses `/`,
//! `.` is a dot) translate as Kyverno's `imageReferences` do.

use std::collections::BTreeMap;

use serde_json::Value;

use super::patterns::{self, Translated};
use super::{Cx, Imported, Level, Obj, Options, slug};
use crate::policy::{
    AttestationSpec, AttestorSpec, ImagePolicySpec, Mode, RuleSpec, SignaturesSpec, Unmatched,
};

pub(super) fn document(
    doc: &Value,
    kind: &str,
    name: &str,
    options: &Options,
    cx: &mut Cx,
) -> Vec<Imported> {
    let out_kind = if kind == "ImageValidatingPolicy" {
        "ClusterImagePolicy"
    } else {
        "ImagePolicy"
    };
    let mut spec = Obj::new(super::spec_of(doc, cx), "spec", cx);

    let mut mode = Mode::Enforce;
    let actions: Vec<&str> = spec
        .list("validationActions", cx)
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if !actions.is_empty() {
        if actions.contains(&"Deny") {
            mode = Mode::Enforce;
        } else if actions.iter().all(|a| *a == "Audit" || *a == "Warn") {
            mode = Mode::Warn;
        } else {
            cx.report(
                "spec.validationActions",
                Level::Dropped,
                format!("unknown actions {actions:?}"),
            );
        }
    }
    spec.notes(
        Level::Ignored,
        &[
            (
                "failurePolicy",
                "sealgate fails closed: an image it cannot check is blocked",
            ),
            ("webhookConfiguration", "an admission webhook setting"),
            ("evaluation", "an admission/background setting"),
            ("auditAnnotations", "a reporting setting"),
            (
                "credentials",
                "registry credentials come from the Docker config and the check flags",
            ),
        ],
        cx,
    );
    spec.notes(
        Level::Stricter,
        &[
            (
                "matchConstraints",
                "sealgate checks every image of every manifest; the resource match is not applied",
            ),
            (
                "matchConditions",
                "match conditions are not evaluated: the policy always applies",
            ),
        ],
        cx,
    );
    spec.notes(
        Level::Dropped,
        &[
            ("images", "custom image extraction (CEL) is not translated"),
            ("variables", "CEL variables are not evaluated"),
        ],
        cx,
    );
    let mut require_digest = false;
    if let Some(vc) = spec.get("validationConfigurations") {
        let mut o = Obj::new(vc, "spec.validationConfigurations", cx);
        let mutate = o.bool("mutateDigest", cx).unwrap_or(true);
        let verify = o.bool("verifyDigest", cx).unwrap_or(true);
        require_digest = verify && !mutate;
        if o.bool("required", cx) == Some(false) {
            cx.report(
                &o.at("required"),
                Level::Dropped,
                "required: false admits images whose signatures fail; not translated",
            );
        }
        o.finish(cx);
    }

    // images
    let mut images = Vec::new();
    // `imageRules` is the field's name in the first v1alpha1 releases
    let mut rules: Vec<(String, &Value)> = Vec::new();
    for field in ["matchImageReferences", "imageRules"] {
        for (i, m) in spec.list(field, cx).iter().enumerate() {
            rules.push((format!("spec.{field}[{i}]"), m));
        }
    }
    for (at, m) in rules {
        let mut o = Obj::new(m, &at, cx);
        let glob = o.str("glob", cx);
        if o.get("expression").is_some() {
            cx.report(
                &o.at("expression"),
                Level::Dropped,
                "CEL image matches are not translated",
            );
        }
        o.finish(cx);
        if let Some(g) = glob {
            if g.contains(['[', '{', '\\']) {
                cx.report(
                    &format!("{at}.glob"),
                    Level::Dropped,
                    "character classes and alternatives are not translated",
                );
                continue;
            }
            // gobwas/glob without separators: `**` is `*`
            let g = g.replace("**", "*");
            match patterns::kyverno(&g) {
                Translated::Exact(x) => images.extend(x),
                Translated::Stricter(x, why) => {
                    cx.report(&format!("{at}.glob"), Level::Stricter, why);
                    images.extend(x);
                }
                Translated::Dropped(why) => cx.report(&format!("{at}.glob"), Level::Dropped, why),
            }
        }
    }
    images.dedup();

    // attestors and attestations by name
    let mut attestors: BTreeMap<String, AttestorSpec> = BTreeMap::new();
    for (i, a) in spec.list("attestors", cx).iter().enumerate() {
        let at = format!("spec.attestors[{i}]");
        if let Some((n, spec)) = attestor(a, &at, cx) {
            attestors.insert(n, spec);
        }
    }
    let mut attestations: BTreeMap<String, String> = BTreeMap::new();
    for (i, a) in spec.list("attestations", cx).iter().enumerate() {
        let at = format!("spec.attestations[{i}]");
        let mut o = Obj::new(a, &at, cx);
        let n = o.str("name", cx).unwrap_or("").to_string();
        let ty = o
            .get("intoto")
            .and_then(|t| t.get("type"))
            .and_then(Value::as_str);
        if o.get("referrer").is_some() {
            cx.report(
                &o.at("referrer"),
                Level::Dropped,
                "OCI referrer attestations are not translated",
            );
        }
        o.finish(cx);
        match ty.map(crate::attest::PredicateMatcher::parse) {
            Some(Ok(m)) => {
                attestations.insert(n, m.uri().to_string());
            }
            Some(Err(e)) => cx.report(&format!("{at}.intoto.type"), Level::Dropped, e),
            None => {}
        }
    }
    let validations = spec.list("validations", cx);
    spec.finish(cx);

    let policy = slug(name);
    let mut out = Vec::new();
    for (i, v) in validations.iter().enumerate() {
        let at = format!("spec.validations[{i}]");
        let mut o = Obj::new(v, &at, cx);
        let expr = o.str("expression", cx).unwrap_or("");
        o.note("message", Level::Ignored, "a message", cx);
        o.note("messageExpression", Level::Ignored, "a message", cx);
        o.note("reason", Level::Ignored, "a message", cx);
        o.finish(cx);
        let Some(call) = parse_validation(expr) else {
            cx.report(
                &format!("{at}.expression"),
                Level::Dropped,
                "only images.containers.map(image, verifyImageSignatures(image, [attestors.X, …])).all(e, e > 0) and the verifyAttestationSignatures form translate",
            );
            continue;
        };
        cx.report(
            &format!("{at}.expression"),
            Level::Stricter,
            "sealgate verifies every image of the manifests (init and ephemeral containers too), not images.containers alone",
        );
        let mut set = Vec::new();
        let mut missing = false;
        for n in &call.attestors {
            match attestors.get(n) {
                Some(a) => set.push(a.clone()),
                None => {
                    cx.report(
                        &format!("{at}.expression"),
                        Level::Dropped,
                        format!("attestors.{n} is not an attestor that translated"),
                    );
                    missing = true;
                }
            }
        }
        if missing || set.is_empty() {
            continue;
        }
        let atts = match &call.attestation {
            None => None,
            Some(n) => match attestations.get(n) {
                // the attestors sign the attestation, not the image: threshold 0
                Some(uri) => Some(vec![AttestationSpec {
                    predicate_type: uri.clone(),
                    attestors: None,
                    sbom: None,
                    vulnerabilities: None,
                    summary: None,
                }]),
                None => {
                    cx.report(
                        &format!("{at}.expression"),
                        Level::Dropped,
                        format!("attestations.{n} is not an in-toto attestation that translated"),
                    );
                    continue;
                }
            },
        };
        out.push((set, atts));
    }
    if images.is_empty() {
        cx.report(
            "spec.matchImageReferences",
            Level::Dropped,
            "no image glob translated: the policy is left out",
        );
        return Vec::new();
    }
    let n = out.len();
    out.into_iter()
        .enumerate()
        .map(|(k, (set, atts))| Imported {
            name: if n == 1 {
                policy.clone()
            } else {
                format!("{policy}-{}", k + 1)
            },
            kind: out_kind,
            from: format!("{kind}/{name} spec.validations"),
            spec: ImagePolicySpec {
                mode,
                registries: Vec::new(),
                unmatched: options.unmatched.unwrap_or(Unmatched::Allow),
                rules: vec![RuleSpec {
                    name: "images".into(),
                    images: images.clone(),
                    require_digest,
                    signatures: Some(SignaturesSpec {
                        threshold: Some(u64::from(atts.is_none())),
                        attestors: set,
                    }),
                    attestations: atts,
                }],
                extra_image_paths: Vec::new(),
                kms: None,
            },
        })
        .collect()
}

/// One `attestors[]` entry: its name and the sealgate attestor.
fn attestor(v: &Value, at: &str, cx: &mut Cx) -> Option<(String, AttestorSpec)> {
    let mut o = Obj::new(v, at, cx);
    let name = o.str("name", cx)?.to_string();
    if o.get("notary").is_some() {
        cx.report(
            &o.at("notary"),
            Level::Dropped,
            "Notary attestors are not translated by this version",
        );
    }
    let cosign = o.get("cosign");
    o.finish(cx);
    let cosign = cosign?;
    let at = format!("{at}.cosign");
    let mut c = Obj::new(cosign, &at, cx);
    let mut ignore_tlog = false;
    if let Some(ct) = c.get("ctlog") {
        let mut o = Obj::new(ct, &c.at("ctlog"), cx);
        ignore_tlog = o.bool("insecureIgnoreTlog", cx) == Some(true);
        if o.bool("insecureIgnoreSCT", cx) == Some(true) {
            cx.report(
                &o.at("insecureIgnoreSCT"),
                Level::Stricter,
                "sealgate always verifies the certificate's SCT",
            );
        }
        for f in ["url", "rekorPubKey", "ctLogPubKey", "tsaCertChain"] {
            if o.get(f).is_some() {
                cx.report(
                    &o.at(f),
                    Level::Dropped,
                    "a private Rekor, CT log or TSA: give the attestor a trustedRoot",
                );
            }
        }
        o.finish(cx);
    }
    c.notes(
        Level::Dropped,
        &[
            ("tuf", "a custom TUF root: give the attestor a trustedRoot"),
            (
                "source",
                "signatures stored in another repository are not looked up",
            ),
            ("certificate", "certificate attestors are not translated"),
            (
                "annotations",
                "signature annotation checks are not translated",
            ),
        ],
        cx,
    );
    let mut out = None;
    if let Some(k) = c.get("key") {
        let mut keys = super::cosign_key(k, &c.at("key"), cx);
        if keys.len() > 1 {
            cx.report(&c.at("key.data"), Level::Dropped, "one key per attestor");
        } else if let Some(key) = keys.pop() {
            out = Some(AttestorSpec {
                name: slug(&name),
                key: Some(key),
                keyless: None,
                trusted_root: None,
                ignore_tlog: None,
            });
        }
        if !ignore_tlog {
            cx.report(
                &format!("{at}.ctlog.insecureIgnoreTlog"),
                Level::Dropped,
                "Kyverno requires a Rekor entry for key-based signatures unless \
                 ctlog.insecureIgnoreTlog is true; sealgate's key attestors do not require one",
            );
        }
    }
    if let Some(k) = c.get("keyless") {
        let mut ko = Obj::new(k, &c.at("keyless"), cx);
        if ko.get("roots").is_some() {
            cx.report(
                &ko.at("roots"),
                Level::Dropped,
                "custom Fulcio roots: give the attestor a trustedRoot",
            );
        }
        let ids = ko.list("identities", cx);
        if ids.len() != 1 {
            cx.report(
                &ko.at("identities"),
                Level::Dropped,
                "exactly one identity per attestor translates (write one attestor per identity)",
            );
        } else {
            let at = ko.at("identities[0]");
            let spec = super::cosign_identity(&ids[0], &at, cx);
            if let Some(spec) = spec {
                if ignore_tlog {
                    cx.report(
                        &format!("{at}.ctlog.insecureIgnoreTlog"),
                        Level::Stricter,
                        "without a log entry sealgate still needs a signed RFC 3161 timestamp",
                    );
                }
                out = Some(AttestorSpec {
                    name: slug(&name),
                    key: None,
                    keyless: Some(spec),
                    trusted_root: None,
                    ignore_tlog: ignore_tlog.then_some(true),
                });
            }
        }
        ko.finish(cx);
    }
    c.finish(cx);
    out.map(|a| (name, a))
}

/// A validation expression of the translatable forms.
#[derive(Debug, PartialEq, Eq)]
struct Call {
    attestation: Option<String>,
    attestors: Vec<String>,
}

fn parse_validation(expr: &str) -> Option<Call> {
    let e: String = expr.split_whitespace().collect();
    let inner = e
        .strip_prefix("images.containers.map(image,")?
        .strip_suffix(")).all(e,e>0)")?;
    let ident = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let list = |s: &str| -> Option<Vec<String>> {
        let body = s.strip_prefix('[')?.strip_suffix(']')?;
        let mut out = Vec::new();
        for item in body.split(',') {
            let n = item.strip_prefix("attestors.")?;
            if !ident(n) {
                return None;
            }
            out.push(n.to_string());
        }
        Some(out)
    };
    if let Some(args) = inner.strip_prefix("verifyImageSignatures(image,") {
        return Some(Call {
            attestation: None,
            attestors: list(args)?,
        });
    }
    let args = inner.strip_prefix("verifyAttestationSignatures(image,attestations.")?;
    let (att, rest) = args.split_once(',')?;
    if !ident(att) {
        return None;
    }
    Some(Call {
        attestation: Some(att.to_string()),
        attestors: list(rest)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_validation_forms_parse() {
        assert_eq!(
            parse_validation(
                "images.containers.map(image, verifyImageSignatures(image, [attestors.notary, attestors.ci])).all(e, e > 0)"
            ),
            Some(Call {
                attestation: None,
                attestors: vec!["notary".into(), "ci".into()]
            })
        );
        assert_eq!(
            parse_validation(
                "images.containers.map(image, verifyAttestationSignatures(image, attestations.sbom, [attestors.ci]))\n  .all(e, e > 0)"
            ),
            Some(Call {
                attestation: Some("sbom".into()),
                attestors: vec!["ci".into()]
            })
        );
        for no in [
            "images.containers.map(image, verifyImageSignatures(image, [attestors.ci])).all(e, e > 1)",
            "images.containers.map(image, verifyImageSignatures(image, [attestors.ci])).exists(e, e > 0)",
            "images.initContainers.map(image, verifyImageSignatures(image, [attestors.ci])).all(e, e > 0)",
            "images.containers.map(image, verifyImageSignatures(image, [attestors.ci])).all(e, e > 0) || true",
            "images.containers.map(image, verifyImageSignatures(image, [])).all(e, e > 0)",
            "true",
        ] {
            assert_eq!(parse_validation(no), None, "{no}");
        }
    }
}
