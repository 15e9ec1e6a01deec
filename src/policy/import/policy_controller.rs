//! sigstore policy-controller `ClusterImagePolicy` (v1alpha1, v1beta1).
//!
//! Semantics translated: every policy whose `images` globs match applies (all must pass);
//! within a policy **any one** authority suffices, so the authorities become the attestors of
//! one rule with threshold 1 (a keyless authority with several identities is one attestor
//! per identity). A `static: {action: pass}` authority admits every matched image. `mode:
//! warn` → `mode: warn`. Images no policy matches are denied (policy-controller's
//! `no-match-policy` default), unless `--unmatched allow`.

use serde_json::Value;

use super::patterns::{self, Translated};
use super::{Cx, Imported, Level, Obj, Options, slug};
use crate::policy::{
    AttestationSpec, AttestorSpec, ImagePolicySpec, Mode, RuleSpec, SignaturesSpec,
    TrustedRootSpec, Unmatched,
};

const PUBLIC_FULCIO: &str = "https://fulcio.sigstore.dev";

pub(super) fn document(
    doc: &Value,
    kind: &str,
    name: &str,
    options: &Options,
    cx: &mut Cx,
) -> Option<Vec<Imported>> {
    let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if !api.starts_with("policy.sigstore.dev/") {
        return None;
    }
    match kind {
        "ClusterImagePolicy" => {}
        "TrustRoot" => {
            if let Some(json) = super::trust_root::convert(doc, cx) {
                cx.roots.push(super::TrustedRootFile {
                    file_name: super::trusted_root_file(name),
                    from: format!("{kind}/{name}"),
                    json,
                });
            }
            return Some(Vec::new());
        }
        _ => return None,
    }
    let mut spec = Obj::new(super::spec_of(doc, cx), "spec", cx);
    let mode = match spec.str("mode", cx) {
        None | Some("enforce") => Mode::Enforce,
        Some("warn") => Mode::Warn,
        Some(other) => {
            cx.report(
                "spec.mode",
                Level::Dropped,
                format!("unknown mode {other:?}"),
            );
            Mode::Enforce
        }
    };
    let mut images = Vec::new();
    for (i, g) in spec.list("images", cx).iter().enumerate() {
        let at = format!("spec.images[{i}]");
        let mut go = Obj::new(g, &at, cx);
        let glob = go.str("glob", cx);
        go.finish(cx);
        let Some(glob) = glob else {
            cx.report(&at, Level::Dropped, "no glob");
            continue;
        };
        match patterns::policy_controller(glob) {
            Translated::Exact(g) => images.extend(g),
            Translated::Stricter(g, why) => {
                cx.report(&format!("{at}.glob"), Level::Stricter, why);
                images.extend(g);
            }
            Translated::Dropped(why) => cx.report(&format!("{at}.glob"), Level::Dropped, why),
        }
    }
    images.dedup();
    spec.note(
        "match",
        Level::Stricter,
        "sealgate checks every image of every manifest; the resource match is not applied",
        cx,
    );
    spec.note(
        "policy",
        Level::Dropped,
        "CUE/Rego policies are not evaluated",
        cx,
    );
    let authorities = spec.list("authorities", cx);
    spec.finish(cx);

    let mut attestors: Vec<AttestorSpec> = Vec::new();
    let mut attestations: Vec<AttestationSpec> = Vec::new();
    let mut attestations_only = false;
    let mut static_pass = false;
    let with_attestations = authorities
        .iter()
        .filter(|a| a.get("attestations").is_some_and(|x| !x.is_null()))
        .count();
    for (i, a) in authorities.iter().enumerate() {
        let at = format!("spec.authorities[{i}]");
        let mut o = Obj::new(a, &at, cx);
        let base = o
            .str("name", cx)
            .map(slug)
            .unwrap_or_else(|| format!("authority-{i}"));
        let before = attestors.len();
        // the TrustRoot this authority verifies with (one for all its parts)
        let refs: std::collections::BTreeSet<&str> = ["keyless", "ctlog", "rfc3161timestamp"]
            .iter()
            .filter_map(|k| a.get(k)?.get("trustRootRef")?.as_str())
            .collect();
        let root = match refs.iter().collect::<Vec<_>>().as_slice() {
            [] => None,
            [one] if options.trust_roots.contains(**one) => Some(super::trusted_root_file(one)),
            [one] => {
                cx.report(
                    &at,
                    Level::Dropped,
                    format!("TrustRoot {one:?} is not among the imported files: import it too"),
                );
                None
            }
            _ => {
                cx.report(
                    &at,
                    Level::Dropped,
                    "different TrustRoots for the parts of one authority are not translated",
                );
                None
            }
        };
        let private = |cx: &mut Cx, at: &str, what: &str| {
            if root.is_some() {
                cx.report(
                    at,
                    Level::Ignored,
                    "verified with the keys of the TrustRoot the authority refers to",
                );
            } else {
                cx.report(
                    at,
                    Level::Dropped,
                    format!("a private {what}: import its TrustRoot (trustRootRef) or give the attestor a trustedRoot"),
                );
            }
        };
        if let Some(s) = o.get("static") {
            let mut so = Obj::new(s, &o.at("static"), cx);
            match so.str("action", cx) {
                Some("pass") => static_pass = true,
                Some("fail") => {}
                other => cx.report(
                    &so.at("action"),
                    Level::Dropped,
                    format!("unknown static action {other:?}"),
                ),
            }
            so.note("message", Level::Ignored, "a message", cx);
            so.finish(cx);
        }
        if let Some(k) = o.get("key") {
            for key in super::cosign_key(k, &o.at("key"), cx) {
                attestors.push(AttestorSpec {
                    name: String::new(),
                    key: Some(key),
                    keyless: None,
                    trusted_root: None,
                    ignore_tlog: None,
                });
            }
            // policy-controller skips the log for a key authority without `ctlog`
            // (SkipTlogVerify), as sealgate's key attestors do; with it, it needs an entry
            if o.has("ctlog") {
                cx.report(
                    &o.at("key"),
                    Level::Dropped,
                    "with ctlog, policy-controller requires a Rekor entry for the key's \
                     signatures; sealgate's key attestors do not require one",
                );
            }
        }
        if let Some(k) = o.get("keyless") {
            let mut ko = Obj::new(k, &o.at("keyless"), cx);
            if let Some(u) = ko.str("url", cx)
                && u.trim_end_matches('/') != PUBLIC_FULCIO
            {
                private(cx, &ko.at("url"), "Fulcio");
            }
            ko.get("trustRootRef");
            if ko.get("caCert").is_some() {
                cx.report(
                    &ko.at("caCert"),
                    Level::Dropped,
                    "a custom CA certificate: write it into a TrustRoot or a trustedRoot",
                );
            }
            if ko.bool("insecureIgnoreSCT", cx) == Some(true) {
                cx.report(
                    &ko.at("insecureIgnoreSCT"),
                    Level::Stricter,
                    "sealgate always verifies the certificate's SCT",
                );
            }
            let ids = ko.list("identities", cx);
            if ids.is_empty() {
                cx.report(
                    &ko.at("identities"),
                    Level::Dropped,
                    "a keyless authority without identities is not translated",
                );
            }
            for (n, id) in ids.iter().enumerate() {
                let at = ko.at(&format!("identities[{n}]"));
                let spec = super::cosign_identity(id, &at, cx);
                if let Some(spec) = spec {
                    attestors.push(AttestorSpec {
                        name: String::new(),
                        key: None,
                        keyless: Some(spec),
                        trusted_root: None,
                        ignore_tlog: None,
                    });
                }
            }
            ko.finish(cx);
        }
        if let Some(c) = o.get("ctlog") {
            let mut co = Obj::new(c, &o.at("ctlog"), cx);
            if let Some(u) = co.str("url", cx)
                && u.trim_end_matches('/') != "https://rekor.sigstore.dev"
            {
                private(cx, &co.at("url"), "Rekor");
            }
            co.get("trustRootRef");
            co.finish(cx);
        }
        if let Some(t) = o.get("rfc3161timestamp") {
            let mut to = Obj::new(t, &o.at("rfc3161timestamp"), cx);
            to.get("trustRootRef");
            to.finish(cx);
            if root.is_none() {
                private(cx, &o.at("rfc3161timestamp"), "timestamp authority");
            }
        }
        if let Some(s) = o.get("source") {
            let only_secrets = s.as_array().is_some_and(|l| {
                l.iter().all(|x| {
                    x.as_object()
                        .is_some_and(|m| m.keys().all(|k| k == "signaturePullSecrets"))
                })
            });
            if only_secrets {
                cx.report(
                    &o.at("source"),
                    Level::Ignored,
                    "registry credentials come from the Docker config and the check flags",
                );
            } else {
                cx.report(
                    &o.at("source"),
                    Level::Dropped,
                    "signatures stored in another repository are not looked up",
                );
            }
        }
        o.note(
            "signatureFormat",
            Level::Ignored,
            "sealgate reads simple-signing and bundle signatures alike",
            cx,
        );
        let atts = o.list("attestations", cx);
        if !atts.is_empty() {
            if authorities.len() > 1 || with_attestations > 1 {
                cx.report(
                    &o.at("attestations"),
                    Level::Dropped,
                    "attestations of one authority among several (any-of) are not translated",
                );
            } else {
                // an authority with attestations checks only those (no image signature):
                // sealgate's threshold 0
                attestations_only = true;
                for (n, att) in atts.iter().enumerate() {
                    let at = o.at(&format!("attestations[{n}]"));
                    let mut ao = Obj::new(att, &at, cx);
                    ao.note("name", Level::Ignored, "a label", cx);
                    ao.note(
                        "policy",
                        Level::Dropped,
                        "CUE/Rego attestation policies are not evaluated: only the presence \
                         of a verified attestation of this type is required",
                        cx,
                    );
                    let ty = ao.str("predicateType", cx);
                    ao.finish(cx);
                    match ty.map(crate::attest::PredicateMatcher::parse) {
                        Some(Ok(m)) => attestations.push(AttestationSpec {
                            predicate_type: m.uri().to_string(),
                            attestors: None,
                            sbom: None,
                            vulnerabilities: None,
                            summary: None,
                        }),
                        Some(Err(e)) => cx.report(&at, Level::Dropped, e),
                        None => cx.report(&at, Level::Dropped, "no predicateType"),
                    }
                }
            }
        }
        o.finish(cx);
        if let Some(path) = &root {
            for a in &mut attestors[before..] {
                a.trusted_root = Some(TrustedRootSpec { path: path.clone() });
            }
        }
        let added = attestors.len() - before;
        for (n, a) in attestors[before..].iter_mut().enumerate() {
            a.name = if added == 1 {
                base.clone()
            } else {
                format!("{base}-{}", n + 1)
            };
        }
    }
    // names unique within the rule
    let mut seen = std::collections::BTreeSet::new();
    for a in &mut attestors {
        let mut n = a.name.clone();
        let mut k = 2;
        while !seen.insert(n.clone()) {
            n = format!("{}-{k}", a.name);
            k += 1;
        }
        a.name = n;
    }
    if images.is_empty() {
        cx.report(
            "spec.images",
            Level::Dropped,
            "no glob translated: the policy is left out",
        );
        return Some(Vec::new());
    }
    let signatures = if static_pass {
        if !attestors.is_empty() {
            cx.report(
                "spec.authorities",
                Level::Ignored,
                "a static pass authority admits every matched image: the other authorities \
                 cannot change the verdict",
            );
        }
        attestations.clear();
        None
    } else if attestors.is_empty() {
        cx.report(
            "spec.authorities",
            Level::Dropped,
            "no authority translated (an always-failing policy cannot be written): the \
             policy is left out",
        );
        return Some(Vec::new());
    } else {
        Some(SignaturesSpec {
            threshold: Some(u64::from(!attestations_only || attestations.is_empty())),
            attestors,
        })
    };
    Some(vec![Imported {
        name: slug(name),
        kind: "ClusterImagePolicy",
        from: format!("{kind}/{name}"),
        spec: ImagePolicySpec {
            mode,
            registries: Vec::new(),
            unmatched: options.unmatched.unwrap_or(Unmatched::Deny),
            rules: vec![RuleSpec {
                name: "images".into(),
                images,
                require_digest: false,
                signatures,
                attestations: (!attestations.is_empty()).then_some(attestations),
            }],
            extra_image_paths: Vec::new(),
            kms: None,
        },
    }])
}
