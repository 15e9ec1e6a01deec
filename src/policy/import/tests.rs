#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::patterns::{self, Translated};
use super::*;
use crate::policy::Mode;
use crate::policy::glob::Glob;

// -------------------------------------------------------------------------------------
// Oracles: the sources' matching, written from their documented algorithms, so every
// translation is checked against what the source would match on a set of references.

/// go-wildcard v2 (Kyverno): `*` any run (also `/`), `?` and `.` one character.
fn go_wildcard(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => go_wildcard(&p[1..], s) || (!s.is_empty() && go_wildcard(p, &s[1..])),
        (Some(b'?' | b'.'), Some(_)) => go_wildcard(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => go_wildcard(&p[1..], &s[1..]),
        _ => false,
    }
}

/// policy-controller: the glob as an anchored regex over the fully qualified reference.
fn pc_match(glob: &str, name: &str) -> bool {
    let g = match glob {
        "*/*" => "index.docker.io/*/*",
        "*" => "index.docker.io/library/*",
        g => g,
    };
    let re = g
        .replace('.', "\\.")
        .replace("**", "#")
        .replace('*', "[^/]*")
        .replace('#', ".*");
    regex::Regex::new(&format!("^{re}$"))
        .unwrap()
        .is_match(name)
}

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct Ref {
    /// Our normalized repository.
    repo: String,
    /// Kyverno's ImageInfo.String().
    kyverno: String,
    /// policy-controller's ref.Name().
    pc: String,
}

fn refs() -> Vec<Ref> {
    let mut out = Vec::new();
    for repo in [
        "ghcr.io/acme/app",
        "ghcr.io/acme/apple",
        "ghcr.io/acme/app/sub",
        "ghcr.io/acme/web/api",
        "ghcr.io/acme",
        "ghcr.io/acmex/app",
        "ghcr.io/other/app",
        "ghcr.io/kyverno/test-verify-image",
        "docker.io/library/nginx",
        "docker.io/library/nginx-unprivileged",
        "docker.io/acme/app",
        "localhost:5000/app",
        "registry.example.com/team/svc",
    ] {
        let pc_repo = repo.replacen("docker.io/", "index.docker.io/", 1);
        for suffix in [":latest", ":v1", ":signed", &format!("@{DIGEST}")] {
            out.push(Ref {
                repo: repo.to_string(),
                kyverno: format!("{repo}{suffix}"),
                pc: format!("{pc_repo}{suffix}"),
            });
        }
    }
    out
}

fn ours(globs: &[String], r: &Ref) -> bool {
    globs.iter().any(|g| Glob::new(g).unwrap().matches(&r.repo))
}

#[test]
fn kyverno_patterns_translate_exactly_or_stricter_on_every_reference() {
    let mut exact = 0;
    let mut stricter = 0;
    for p in [
        "*",
        "ghcr.io/acme/*",
        "ghcr.io/acme/app*",
        "ghcr.io/*",
        "localhost:5000/*",
        "docker.io/library/nginx*",
        "ghcr.io/kyverno/test-verify-image:*",
        "ghcr.io/kyverno/test-verify-image:sig*",
        "ghcr.io/acme/app:v1",
        "ghcr.io/acme/app",
        "registry.example.com/team/*",
    ] {
        match patterns::kyverno(p) {
            Translated::Exact(g) => {
                exact += 1;
                for r in refs() {
                    assert_eq!(
                        ours(&g, &r),
                        go_wildcard(p.as_bytes(), r.kyverno.as_bytes()),
                        "{p} → {g:?} on {}",
                        r.kyverno
                    );
                }
            }
            Translated::Stricter(g, why) => {
                stricter += 1;
                assert!(!why.is_empty());
                for r in refs() {
                    if go_wildcard(p.as_bytes(), r.kyverno.as_bytes()) {
                        assert!(ours(&g, &r), "{p} → {g:?} misses {}", r.kyverno);
                    }
                }
            }
            Translated::Dropped(why) => panic!("{p}: {why}"),
        }
    }
    assert_eq!((exact, stricter), (7, 4));
    for p in [
        "nginx:*",
        "*/nginx",
        "ghcr.io/*/app:*",
        "ghcr.io/acme/a?p",
        "index.docker.io/library/nginx*",
        "ghcr.io/acme/*/api*",
    ] {
        assert!(
            matches!(patterns::kyverno(p), Translated::Dropped(_)),
            "{p} should be dropped"
        );
    }
}

#[test]
fn policy_controller_globs_translate_exactly_or_stricter_on_every_reference() {
    let mut exact = 0;
    let mut stricter = 0;
    for g in [
        "**",
        "*",
        "*/*",
        "ghcr.io/acme/**",
        "ghcr.io/acme/*",
        "ghcr.io/acme/app*",
        "ghcr.io/acme/app**",
        "ghcr.io/*/app*",
        "index.docker.io/library/nginx*",
        "localhost:5000/*",
        "ghcr.io/kyverno/test-verify-image:**",
        "ghcr.io/acme/app:v1",
        "ghcr.io/acme/app",
    ] {
        match patterns::policy_controller(g) {
            Translated::Exact(out) => {
                exact += 1;
                for r in refs() {
                    assert_eq!(
                        ours(&out, &r),
                        pc_match(g, &r.pc),
                        "{g} → {out:?} on {}",
                        r.pc
                    );
                }
            }
            Translated::Stricter(out, why) => {
                stricter += 1;
                assert!(!why.is_empty());
                for r in refs() {
                    if pc_match(g, &r.pc) {
                        assert!(ours(&out, &r), "{g} → {out:?} misses {}", r.pc);
                    }
                }
            }
            Translated::Dropped(why) => panic!("{g}: {why}"),
        }
    }
    assert_eq!((exact, stricter), (10, 3));
    for g in [
        "nginx",
        "acme/*",
        "docker.io/library/*",
        "ghcr.io/**/app",
        "ghcr.io/acme/[ab]pp",
        "*.io/acme/*",
        "ghcr.io/acme/app@**",
    ] {
        assert!(
            matches!(patterns::policy_controller(g), Translated::Dropped(_)),
            "{g} should be dropped"
        );
    }
}

#[test]
fn unanchored_regexes_keep_cosigns_meaning() {
    for (go, samples) in [
        (
            "https://github\\.com/acme/.+",
            &[
                ("https://github.com/acme/app", true),
                ("x https://github.com/acme/app", true),
                ("https://github.com/other/app", false),
            ][..],
        ),
        (
            "^https://accounts\\.google\\.com$",
            &[
                ("https://accounts.google.com", true),
                ("https://accounts.google.com/x", false),
            ],
        ),
        (
            ".*kubernetes.default.*",
            &[("https://kubernetes.default.svc", true), ("other", false)],
        ),
        (
            "^a|b$",
            &[("ax", true), ("xb", true), ("xax", false), ("bx", false)],
        ),
        (
            "@acme\\.com",
            &[("me@acme.com", true), ("me@acme.org", false)],
        ),
    ] {
        let ours = patterns::unanchored_regex(go).unwrap();
        let m = crate::sigstore::verify::Matcher::regex(&ours).unwrap();
        let theirs = regex::Regex::new(go).unwrap();
        for (s, want) in samples {
            assert_eq!(theirs.is_match(s), *want, "oracle {go} on {s}");
            assert_eq!(m.matches(s), *want, "{go} → {ours} on {s}");
        }
    }
    assert_eq!(
        patterns::unanchored_regex("^https://accounts\\.google\\.com$").unwrap(),
        "https://accounts\\.google\\.com"
    );
    assert!(patterns::unanchored_regex("(?<=a)b").is_err());
}

// -------------------------------------------------------------------------------------
// Documents

const PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEW1tjpmQTL6edCNbtf/UU2ce5BcjS
m9Q0/IQdNdtjWi+gUJV/QE3qjbeDs+jImashq0iFHGfDrzrvRN2qbogcNQ==
-----END PUBLIC KEY-----
";

fn indent(s: &str, n: usize) -> String {
    s.lines()
        .map(|l| format!("{}{l}\n", " ".repeat(n)))
        .collect()
}

fn run(source: Source, text: &str) -> Import {
    let out = import(source, text, Options::default()).unwrap();
    // every translation loads as `check` loads it
    for p in &out.policies {
        let doc = serde_json::json!({
            "apiVersion": "sealgate.dev/v1alpha1", "kind": p.kind,
            "metadata": {"name": p.name}, "spec": serde_json::to_value(&p.spec).unwrap(),
        });
        crate::policy::compile(
            doc,
            std::path::Path::new("t.yaml"),
            std::path::Path::new("."),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", p.name));
    }
    // and the YAML reads back to the same documents
    let yaml = to_yaml(source, "t.yaml", &out.policies).unwrap();
    let back: Vec<serde_json::Value> = serde_saphyr::from_str_multiple(&yaml).unwrap();
    assert_eq!(back.len(), out.policies.len());
    out
}

fn levels(i: &Import, level: Level) -> Vec<String> {
    i.findings
        .iter()
        .filter(|f| f.level == level)
        .map(|f| f.path.clone())
        .collect()
}

fn kyverno_doc(verify: &str) -> String {
    format!(
        "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata:\n  name: verify\nspec:\n  \
         validationFailureAction: Enforce\n  rules:\n  - name: sig\n    match:\n      any:\n      \
         - resources: {{kinds: [Pod]}}\n    verifyImages:\n{}",
        indent(verify, 4)
    )
}

fn key_entry(extra: &str) -> String {
    format!(
        "- keys:\n    publicKeys: |-\n{}    rekor: {{ignoreTlog: true}}\n{extra}",
        indent(PEM, 6)
    )
}

#[test]
fn kyverno_attestations_with_their_own_attestors_need_no_image_signature() {
    // an attestation-only entry: its attestors sign the attestation, not the image
    // (threshold 0), and a summary's verifier condition becomes summary.verifier
    let text = kyverno_doc(&format!(
        "- imageReferences: ['ghcr.io/acme/*']\n  attestations:\n  - type: https://slsa.dev/verification_summary/v1\n    attestors:\n    - entries:\n{}    conditions:\n    - all:\n      - {{key: '{{{{ verifier.id }}}}', operator: Equals, value: 'https://sealgate.dev/gate/prod'}}\n      - {{key: '{{{{ verificationResult }}}}', operator: Equals, value: PASSED}}\n",
        indent(&key_entry(""), 6)
    ));
    let out = run(Source::Kyverno, &text);
    assert_eq!(
        levels(&out, Level::Dropped),
        ["spec.rules[0].verifyImages[0].attestations[0].conditions[0].all[0]"],
        "{:?}",
        out.findings
    );
    assert!(
        levels(&out, Level::Stricter)
            .iter()
            .all(|p| p == "spec.rules[0].match")
    );
    let r = &out.policies[0].spec.rules[0];
    assert_eq!(r.signatures.as_ref().unwrap().threshold, Some(0));
    let a = &r.attestations.as_ref().unwrap()[0];
    assert_eq!(a.predicate_type, "https://slsa.dev/verification_summary/v1");
    assert_eq!(
        a.summary.as_ref().unwrap().verifier,
        "https://sealgate.dev/gate/prod"
    );
    // another condition on a summary is not translated
    let other = text.replace(
        "verificationResult }}', operator: Equals, value: PASSED",
        "verificationResult }}', operator: Equals, value: FAILED",
    );
    let out = run(Source::Kyverno, &other);
    assert_eq!(levels(&out, Level::Dropped).len(), 2, "{:?}", out.findings);
}

#[test]
fn kyverno_attestor_sets_become_one_document_each_with_count_as_threshold() {
    let text = kyverno_doc(&format!(
        "- imageReferences: ['ghcr.io/acme/*']\n  attestors:\n  - count: 1\n    entries:\n{}\
         {}  - entries:\n{}",
        indent(&key_entry(""), 4),
        indent(
            "- keyless:\n    subject: https://github.com/acme/app/.github/workflows/r.yaml@refs/heads/main\n    issuer: https://token.actions.githubusercontent.com\n    additionalExtensions: {githubWorkflowRepository: acme/app}\n",
            4
        ),
        indent(&key_entry(""), 4),
    ));
    let out = run(Source::Kyverno, &text);
    assert!(!out.dropped(), "{:?}", out.findings);
    assert_eq!(out.policies.len(), 2);
    let first = &out.policies[0].spec;
    assert_eq!(out.policies[0].name, "verify.sig-1");
    assert_eq!(out.policies[0].kind, "ClusterImagePolicy");
    assert_eq!(first.mode, Mode::Enforce);
    assert_eq!(first.unmatched, Unmatched::Allow);
    assert_eq!(first.rules[0].images, vec!["ghcr.io/acme/**".to_string()]);
    let s = first.rules[0].signatures.as_ref().unwrap();
    assert_eq!(s.threshold, Some(1));
    assert_eq!(s.attestors.len(), 2);
    assert_eq!(s.attestors[0].name, "key-1");
    let kl = s.attestors[1].keyless.as_ref().unwrap();
    assert_eq!(
        kl.issuer.as_deref(),
        Some("https://token.actions.githubusercontent.com")
    );
    assert_eq!(kl.claims["githubWorkflowRepository"], "acme/app");
    let second = out.policies[1].spec.rules[0].signatures.as_ref().unwrap();
    assert_eq!(second.threshold, Some(1));
    assert_eq!(second.attestors.len(), 1);
    assert_eq!(levels(&out, Level::Stricter), vec!["spec.rules[0].match"]);
}

#[test]
fn kyverno_multi_key_text_is_one_attestor_per_key_all_required() {
    let other = crate::crypto::PrivateKey::generate_p256()
        .unwrap()
        .public_key()
        .to_pem();
    let text = kyverno_doc(&format!(
        "- imageReferences: ['ghcr.io/acme/app*']\n  attestors:\n  - entries:\n    - keys:\n        \
         publicKeys: |-\n{}{}        rekor: {{ignoreTlog: true}}\n",
        indent(PEM, 10),
        indent(&other, 10)
    ));
    let out = run(Source::Kyverno, &text);
    assert!(!out.dropped(), "{:?}", out.findings);
    let s = out.policies[0].spec.rules[0].signatures.as_ref().unwrap();
    assert_eq!(s.threshold, Some(2));
    assert_eq!(
        s.attestors
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>(),
        ["key-1", "key-2"]
    );
    assert_eq!(
        out.policies[0].spec.rules[0].images,
        ["ghcr.io/acme/app*", "ghcr.io/acme/app*/**"]
    );
}

#[test]
fn kyverno_audit_is_warn_and_the_default() {
    let text = kyverno_doc(&format!(
        "- imageReferences: ['ghcr.io/acme/*']\n  attestors:\n  - entries:\n{}",
        indent(&key_entry(""), 4)
    ))
    .replace("validationFailureAction: Enforce\n  ", "");
    let out = run(Source::Kyverno, &text);
    assert_eq!(out.policies[0].spec.mode, Mode::Warn);
    let out = run(
        Source::Kyverno,
        &text.replace("  rules:", "  validationFailureAction: Audit\n  rules:"),
    );
    assert_eq!(out.policies[0].spec.mode, Mode::Warn);
    let out = run(
        Source::Kyverno,
        &text.replace("- name: sig\n", "- name: sig\n    failureAction: Enforce\n"),
    );
    assert_eq!(out.policies[0].spec.mode, Mode::Enforce);
}

#[test]
fn kyverno_what_does_not_translate_is_dropped_with_its_path() {
    // a key without ignoreTlog (Kyverno then requires a Rekor entry), required: false, a
    // KMS key, attestation conditions, an unknown field, a Notary entry
    let text = kyverno_doc(&format!(
        "- imageReferences: ['ghcr.io/acme/*']\n  required: false\n  futureField: 1\n  attestors:\n  \
         - entries:\n    - keys:\n        publicKeys: |-\n{}    - keys: {{kms: 'gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k'}}\n  \
         attestations:\n  - predicateType: https://cyclonedx.org/bom\n    attestors:\n    - entries:\n{}\
         \x20   conditions:\n    - all: [{{key: a, operator: Equals, value: b}}]\n\
         - type: Notary\n  imageReferences: ['ghcr.io/acme/*']\n",
        indent(PEM, 10),
        indent(&key_entry(""), 6)
    ));
    let out = run(Source::Kyverno, &text);
    let dropped = levels(&out, Level::Dropped);
    let base = "spec.rules[0].verifyImages[0]";
    for want in [
        format!("{base}.required"),
        format!("{base}.futureField"),
        format!("{base}.attestors[0].entries[0].keys.rekor.ignoreTlog"),
        format!("{base}.attestors[0].entries[1].keys.kms"),
        format!("{base}.attestations[0].conditions[0].all[0]"),
        "spec.rules[0].verifyImages[1].type".to_string(),
    ] {
        assert!(dropped.contains(&want), "{want} not in {dropped:?}");
    }
    assert!(out.dropped());
    // the attestation with its own attestors: a document of its own
    assert_eq!(out.policies.len(), 2);
    let att = &out.policies[1].spec.rules[0];
    assert_eq!(
        att.attestations.as_ref().unwrap()[0].predicate_type,
        "https://cyclonedx.org/bom"
    );
}

#[test]
fn kyverno_older_syntax_image_and_key() {
    let text = format!(
        "apiVersion: kyverno.io/v1\nkind: Policy\nmetadata: {{name: old, namespace: apps}}\nspec:\n  \
         validationFailureAction: enforce\n  rules:\n  - name: check\n    verifyImages:\n    \
         - image: 'ghcr.io/acme/*'\n      key: |-\n{}",
        indent(PEM, 8)
    );
    let out = run(Source::Kyverno, &text);
    assert_eq!(out.policies.len(), 1);
    assert_eq!(out.policies[0].kind, "ImagePolicy");
    let r = &out.policies[0].spec.rules[0];
    assert_eq!(r.images, ["ghcr.io/acme/**"]);
    assert!(r.signatures.as_ref().unwrap().attestors[0].key.is_some());
    assert_eq!(
        levels(&out, Level::Dropped),
        ["spec.rules[0].verifyImages[0].key"]
    );
    assert_eq!(levels(&out, Level::Stricter), ["metadata.namespace"]);
}

#[test]
fn kyverno_keyless_regexes_and_secret_keys() {
    let text = kyverno_doc(
        "- imageReferences: ['ghcr.io/acme/*']\n  mutateDigest: false\n  attestors:\n  - entries:\n    \
         - keyless:\n        subjectRegExp: https://github\\.com/acme/.+\n        issuer: https://token.actions.githubusercontent.com\n        \
         rekor: {url: https://rekor.sigstore.dev}\n    - keys:\n        publicKeys: k8s://sealgate/cosign\n        rekor: {ignoreTlog: true}\n",
    );
    let out = import(Source::Kyverno, &text, Options::default()).unwrap();
    assert!(!out.dropped(), "{:?}", out.findings);
    let r = &out.policies[0].spec.rules[0];
    assert!(r.require_digest, "verifyDigest without mutateDigest");
    let s = r.signatures.as_ref().unwrap();
    assert_eq!(
        s.attestors[0]
            .keyless
            .as_ref()
            .unwrap()
            .subject_regexp
            .as_deref(),
        Some(".*(?:https://github\\.com/acme/.+).*")
    );
    assert_eq!(
        s.attestors[1].key.as_ref().unwrap().path.as_deref(),
        Some("k8s://sealgate/cosign")
    );
}

#[test]
fn key_manager_keys_translate_as_key_paths_from_kyverno_and_policy_controller() {
    // Kyverno: keys.kms with cosign's hashivault:// URI
    let text = kyverno_doc(
        "- imageReferences: ['ghcr.io/acme/*']\n  attestors:\n  - entries:\n    \
         - keys:\n        kms: hashivault://release\n        rekor: {ignoreTlog: true}\n",
    );
    let out = run(Source::Kyverno, &text);
    assert!(!out.dropped(), "{:?}", out.findings);
    let s = out.policies[0].spec.rules[0].signatures.as_ref().unwrap();
    assert_eq!(
        s.attestors[0].key.as_ref().unwrap().path.as_deref(),
        Some("hashivault://release")
    );
    // policy-controller: key.kms, Vault or AWS KMS
    let pc = |uri: &str| {
        run(
            Source::PolicyController,
            &pc_doc(&format!("- name: km\n  key:\n    kms: {uri}\n")),
        )
    };
    for uri in ["hashivault://release", "awskms:///alias/release"] {
        let out = pc(uri);
        assert!(!out.dropped(), "{:?}", out.findings);
        let s = out.policies[0].spec.rules[0].signatures.as_ref().unwrap();
        assert_eq!(
            s.attestors[0].key.as_ref().unwrap().path.as_deref(),
            Some(uri)
        );
    }
    // key managers sealgate does not support are reported at their path
    let out = pc("gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k");
    assert!(
        levels(&out, Level::Dropped).contains(&"spec.authorities[0].key.kms".to_string()),
        "{:?}",
        out.findings
    );
}

fn ivp(attestors: &str, validations: &str) -> String {
    format!(
        "apiVersion: policies.kyverno.io/v1alpha1\nkind: ImageValidatingPolicy\nmetadata: {{name: ivp}}\n\
         spec:\n  validationActions: [Audit]\n  matchConstraints:\n    resourceRules:\n    - apiGroups: ['']\n      \
         apiVersions: [v1]\n      operations: [CREATE]\n      resources: [pods]\n  matchImageReferences:\n  \
         - glob: 'ghcr.io/acme/*'\n  attestors:\n{}  attestations:\n  - name: sbom\n    intoto: {{type: https://cyclonedx.org/bom}}\n  \
         validations:\n{}",
        indent(attestors, 2),
        indent(validations, 2)
    )
}

#[test]
fn kyverno_image_validating_policy_translates_its_exact_cel_forms() {
    let attestors = format!(
        "- name: ci\n  cosign:\n    key:\n      data: |\n{}    ctlog: {{insecureIgnoreTlog: true}}\n\
         - name: release\n  cosign:\n    keyless:\n      identities:\n      - {{issuer: https://token.actions.githubusercontent.com, subjectRegExp: 'https://github\\.com/acme/.+'}}\n",
        indent(PEM, 8)
    );
    let text = ivp(
        &attestors,
        "- expression: >-\n    images.containers.map(image, verifyImageSignatures(image, [attestors.ci, attestors.release])).all(e, e > 0)\n  message: unsigned\n\
         - expression: images.containers.map(image, verifyAttestationSignatures(image, attestations.sbom, [attestors.ci])).all(e, e > 0)\n",
    );
    let out = run(Source::Kyverno, &text);
    assert!(!out.dropped(), "{:?}", out.findings);
    assert_eq!(out.policies.len(), 2);
    let first = &out.policies[0];
    assert_eq!(
        (first.name.as_str(), first.kind),
        ("ivp-1", "ClusterImagePolicy")
    );
    assert_eq!(first.spec.mode, Mode::Warn);
    assert_eq!(first.spec.rules[0].images, ["ghcr.io/acme/**"]);
    let s = first.spec.rules[0].signatures.as_ref().unwrap();
    assert_eq!(s.threshold, Some(1));
    assert_eq!(
        s.attestors
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>(),
        ["ci", "release"]
    );
    let second = &out.policies[1].spec.rules[0];
    assert_eq!(second.signatures.as_ref().unwrap().attestors[0].name, "ci");
    assert_eq!(
        second.attestations.as_ref().unwrap()[0].predicate_type,
        "https://cyclonedx.org/bom"
    );
    // the attestation call's attestor need not sign the image
    assert_eq!(second.signatures.as_ref().unwrap().threshold, Some(0));
    assert!(levels(&out, Level::Stricter).contains(&"spec.matchConstraints".to_string()));
    // the first v1alpha1 releases call the globs imageRules
    let older = run(
        Source::Kyverno,
        &text.replace("matchImageReferences", "imageRules"),
    );
    assert!(!older.dropped(), "{:?}", older.findings);
    assert_eq!(older.policies[0].spec.rules[0].images, ["ghcr.io/acme/**"]);

    // anything else is dropped; a key without insecureIgnoreTlog too
    let text = ivp(
        &attestors.replace("    ctlog: {insecureIgnoreTlog: true}\n", ""),
        "- expression: images.containers.map(image, verifyImageSignatures(image, [attestors.ci])).all(e, e >= 2)\n",
    );
    let out = import(Source::Kyverno, &text, Options::default()).unwrap();
    assert_eq!(
        levels(&out, Level::Dropped),
        [
            "spec.attestors[0].cosign.ctlog.insecureIgnoreTlog",
            "spec.validations[0].expression"
        ]
    );
    assert!(out.policies.is_empty());
}

fn pc_doc(authorities: &str) -> String {
    format!(
        "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {{name: image-policy}}\n\
         spec:\n  images:\n  - glob: 'ghcr.io/acme/**'\n  authorities:\n{}",
        indent(authorities, 2)
    )
}

#[test]
fn policy_controller_authorities_are_any_of() {
    let text = pc_doc(
        "- name: keyless\n  keyless:\n    url: https://fulcio.sigstore.dev\n    identities:\n    \
         - {issuer: https://accounts.google.com, subject: admin@example.com}\n    \
         - {issuerRegExp: '.*kubernetes.default.*', subjectRegExp: '.*serviceaccounts/default'}\n  \
         ctlog: {url: https://rekor.sigstore.dev}\n",
    );
    let out = run(Source::PolicyController, &text);
    assert!(!out.dropped(), "{:?}", out.findings);
    let p = &out.policies[0];
    assert_eq!(p.name, "image-policy");
    assert_eq!(p.spec.unmatched, Unmatched::Deny);
    assert_eq!(p.spec.mode, Mode::Enforce);
    let s = p.spec.rules[0].signatures.as_ref().unwrap();
    assert_eq!(s.threshold, Some(1));
    assert_eq!(
        s.attestors
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>(),
        ["keyless-1", "keyless-2"]
    );
    assert_eq!(
        s.attestors[1]
            .keyless
            .as_ref()
            .unwrap()
            .subject_regexp
            .as_deref(),
        Some("(?:.*serviceaccounts/default).*")
    );
}

#[test]
fn policy_controller_static_keys_attestations_and_trust_roots() {
    // static pass admits every matched image
    let out = run(
        Source::PolicyController,
        &pc_doc("- static: {action: pass}\n"),
    );
    assert!(out.policies[0].spec.rules[0].signatures.is_none());
    assert!(!out.dropped());
    // static fail alone cannot be written: dropped, nothing emitted
    let out = run(
        Source::PolicyController,
        &pc_doc("- static: {action: fail}\n"),
    );
    assert!(out.policies.is_empty());
    assert_eq!(levels(&out, Level::Dropped), ["spec.authorities"]);
    // a key without ctlog: exact (policy-controller then skips the log too); attestations
    // of the only authority kept, their CUE policy reported
    let out = run(
        Source::PolicyController,
        &pc_doc(&format!(
            "- name: release\n  key:\n    data: |\n{}  attestations:\n  - name: sbom\n    predicateType: cyclonedx\n    policy: {{type: cue, data: 'x: 1'}}\n",
            indent(PEM, 6)
        ))
        .replace("spec:\n", "spec:\n  mode: warn\n"),
    );
    assert_eq!(
        levels(&out, Level::Dropped),
        ["spec.authorities[0].attestations[0].policy"]
    );
    let r = &out.policies[0].spec.rules[0];
    assert_eq!(out.policies[0].spec.mode, Mode::Warn);
    assert_eq!(r.signatures.as_ref().unwrap().attestors[0].name, "release");
    assert_eq!(
        r.signatures.as_ref().unwrap().threshold,
        Some(0),
        "an authority with attestations checks only those"
    );
    assert_eq!(
        r.attestations.as_ref().unwrap()[0].predicate_type,
        "https://cyclonedx.org/bom"
    );
    // a key with ctlog: policy-controller then requires a Rekor entry, reported
    let out = run(
        Source::PolicyController,
        &pc_doc(&format!(
            "- name: release\n  key:\n    data: |\n{}  ctlog: {{url: 'https://rekor.sigstore.dev'}}\n",
            indent(PEM, 6)
        )),
    );
    assert_eq!(levels(&out, Level::Dropped), ["spec.authorities[0].key"]);
    // TrustRoot: reported
    let out = import(
        Source::PolicyController,
        "apiVersion: policy.sigstore.dev/v1alpha1\nkind: TrustRoot\nmetadata: {name: r}\nspec: {}\n",
        Options::default(),
    )
    .unwrap();
    assert!(out.dropped() && out.policies.is_empty());
}

#[test]
fn not_a_policy_and_bad_input_are_errors_without_panics() {
    assert!(matches!(
        import(Source::Kyverno, "a: [", Options::default()),
        Err(ImportError::Parse(_))
    ));
    assert!(matches!(
        import(
            Source::PolicyController,
            "kind: Deployment\n",
            Options::default()
        ),
        Err(ImportError::Empty(_))
    ));
    for junk in [
        "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nspec: 3\n",
        "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nspec: {rules: [{verifyImages: [7]}]}\n",
        "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nspec: {rules: [{verifyImages: [{imageReferences: 'x', attestors: [{count: -1, entries: 5}]}]}]}\n",
        "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nspec: {images: 1, authorities: [{key: {data: 'not pem'}}]}\n",
    ] {
        let out = import(Source::Kyverno, junk, Options::default())
            .or_else(|_| import(Source::PolicyController, junk, Options::default()))
            .unwrap();
        assert!(out.dropped(), "{junk}");
    }
}

#[test]
fn truncated_and_mangled_policies_never_panic() {
    let kyv = kyverno_doc(&format!(
        "- imageReferences: ['ghcr.io/acme/*']\n  attestors:\n  - count: 1\n    entries:\n{}  attestations:\n  - type: https://cosign.sigstore.dev/attestation/vuln/v1\n    conditions:\n    - all: [{{key: \"{{{{ time_since('','{{{{metadata.scanFinishedOn}}}}','') }}}}\", operator: LessThanOrEquals, value: 24h}}]\n",
        indent(&key_entry(""), 4)
    ));
    let pc = pc_doc(
        "- name: k\n  keyless:\n    trustRootRef: r\n    identities: [{issuer: a, subjectRegExp: '.*'}]\n- static: {action: pass}\n",
    );
    let mut seed: u64 = 0x5ea1_9a7e;
    let mut next = || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize
    };
    for (source, text) in [(Source::Kyverno, &kyv), (Source::PolicyController, &pc)] {
        let bytes = text.as_bytes();
        for cut in (0..bytes.len()).step_by(5) {
            let t = String::from_utf8_lossy(&bytes[..cut]);
            let _ = import(source, &t, Options::default());
        }
        for _ in 0..400 {
            let mut b = bytes.to_vec();
            for _ in 0..3 {
                let i = next() % b.len();
                b[i] = b"{}[]:-'\"*?,\n 0a"[next() % 15];
            }
            let t = String::from_utf8_lossy(&b);
            if let Ok(out) = import(source, &t, Options::default()) {
                // whatever translated is a valid document
                let _ = to_yaml(source, "t.yaml", &out.policies).unwrap();
            }
        }
    }
}

#[test]
fn names_are_kubernetes_object_names() {
    assert_eq!(slug("Check Images!"), "check-images");
    assert_eq!(slug(".."), "policy");
    assert_eq!(slug("-a.b-"), "a.b");
    assert_eq!(slug(&"x".repeat(400)).len(), 200);
    assert_eq!(slug("../../etc/passwd"), "etc-passwd");
}
