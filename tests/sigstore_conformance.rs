//! The Sigstore conformance suite (`sigstore-conformance/bundle-verify`), black box: one
//! `sealgate verify-blob` process per case, exactly as a user runs it. Every case without
//! `_fail` must verify (exit 0) and every `_fail` case must be refused: exit 1, or exit 2 for
//! the two cases whose bad part is a command-line input (`REFUSED_AS_USAGE_ERRORS`). No case
//! is skipped. The table of every case's result is printed.
//!
//! Fixtures: the vendored `tests/fixtures` (`$SEALGATE_FIXTURES` overrides).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The conformance suite's default signer (its README).
const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

fn fixtures() -> PathBuf {
    let dir = std::env::var_os("SEALGATE_FIXTURES").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
        PathBuf::from,
    );
    assert!(
        dir.is_dir(),
        "real-tool fixtures not found at {}: set SEALGATE_FIXTURES",
        dir.display()
    );
    dir
}

struct Run {
    code: i32,
    stderr: String,
}

fn verify_blob(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .arg("verify-blob")
        .args(args)
        .output()
        .expect("run sealgate");
    Run {
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    }
}

/// Runs one case directory the way the conformance harness does.
fn run_case(dir: &Path, identity: Option<(&str, &str)>) -> Run {
    let suite = dir.parent().unwrap();
    let artifact = if dir.join("artifact").exists() {
        dir.join("artifact")
    } else {
        suite.join("a.txt")
    };
    let mut args: Vec<String> = vec![
        artifact.display().to_string(),
        "--bundle".into(),
        dir.join("bundle.sigstore.json").display().to_string(),
        "--offline".into(),
    ];
    if dir.join("trusted_root.json").exists() {
        args.push("--trusted-root".into());
        args.push(dir.join("trusted_root.json").display().to_string());
    }
    if dir.join("key.pub").exists() {
        args.push("--key".into());
        args.push(dir.join("key.pub").display().to_string());
    } else {
        let read = |f: &str| {
            std::fs::read_to_string(dir.join(f))
                .ok()
                .map(|s| s.trim().to_owned())
        };
        let (id, iss) = match identity {
            Some((i, s)) => (i.to_owned(), s.to_owned()),
            None => (
                read("identity").unwrap_or_else(|| DEFAULT_IDENTITY.into()),
                read("issuer").unwrap_or_else(|| DEFAULT_ISSUER.into()),
            ),
        };
        args.extend([
            "--certificate-identity".into(),
            id,
            "--certificate-oidc-issuer".into(),
            iss,
        ]);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    verify_blob(&refs)
}

/// Reason codes the `_fail` cases that stand for the issue's negative list must report.
const EXPECTED_REASONS: &[(&str, &str)] = &[
    ("intoto-expired-certificate_fail", "CertificateInvalid"),
    ("bundle-from-wrong-instance_fail", "CertificateInvalid"),
    ("invalid-ct-key_fail", "CertificateInvalid"),
    ("bundle-with-root-cert_fail", "CertificateInvalid"),
    ("integrated-time-in-future_fail", "CertificateInvalid"),
    (
        "intoto-set-outside-signing-cert-validity_fail",
        "CertificateInvalid",
    ),
    ("set-invalid-signature_fail", "TlogInvalid"),
    ("inclusion-proof-corrupted-hash_fail", "TlogInvalid"),
    ("invalid-inclusion-proof_fail", "TlogInvalid"),
    ("checkpoint-bad-keyhint_fail", "TlogInvalid"),
    ("checkpoint-wrong-roothash_fail", "TlogInvalid"),
    ("invalid-checkpoint-signature_fail", "TlogInvalid"),
    ("wrong-hashedrekord-cert-and-sig_fail", "TlogInvalid"),
    ("wrong-hashedrekord-entry_fail", "TlogInvalid"),
    ("intoto-log-entry-mismatch_fail", "TlogInvalid"),
    ("rekor2-no-timestamp_fail", "TlogInvalid"),
    ("wrong-material_fail", "PayloadDigestMismatch"),
    ("message-digest-mismatch_fail", "PayloadDigestMismatch"),
    ("signature-mismatch_fail", "SignatureInvalid"),
];

/// `_fail` cases whose bad part is an input the user gives on the command line (a trusted root
/// missing a required field, a key file that is not a key): those are refused as usage
/// errors (exit 2, the file and the problem named), like any unreadable `--key`.
const REFUSED_AS_USAGE_ERRORS: &[(&str, &str)] = &[
    (
        "trust-root-tlog-missing-validity-start_fail",
        "validFor.start is missing",
    ),
    ("managed-key-wrong-key_fail", "not a PEM public key"),
];

#[test]
fn sigstore_conformance_bundle_verify_suite() {
    let suite = fixtures().join("sigstore-conformance/bundle-verify");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&suite)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 70,
        "expected the whole suite, found {} cases",
        cases.len()
    );
    let mut wrong = Vec::new();
    let mut table = String::new();
    for dir in &cases {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let must_fail = name.ends_with("_fail");
        let r = run_case(dir, None);
        let reason = r
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("sealgate: verification failed: "))
            .unwrap_or("")
            .to_owned();
        let code_name = reason.split(':').next().unwrap_or("").to_owned();
        let ok = match (must_fail, r.code) {
            (false, 0) => true,
            (true, 2) => REFUSED_AS_USAGE_ERRORS
                .iter()
                .any(|(n, why)| *n == name && r.stderr.contains(why)),
            (true, 1) => EXPECTED_REASONS
                .iter()
                .find(|(n, _)| *n == name)
                .is_none_or(|(_, want)| *want == code_name),
            _ => false,
        };
        table.push_str(&format!(
            "{:<4} {:<62} exit {} {}\n",
            if ok { "ok" } else { "BAD" },
            name,
            r.code,
            if r.code == 0 {
                "verified"
            } else if reason.is_empty() {
                &r.stderr
            } else {
                &reason
            }
        ));
        if !ok {
            wrong.push(format!("{name}: exit {} — {}", r.code, r.stderr));
        }
    }
    println!("{table}");
    assert!(
        wrong.is_empty(),
        "{} of {} conformance cases wrong:\n{}\n\n{table}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[test]
fn another_identity_or_issuer_is_refused_with_identity_mismatch() {
    let dir = fixtures().join("sigstore-conformance/bundle-verify/happy-path-v0.3");
    let ok = run_case(&dir, Some((DEFAULT_IDENTITY, DEFAULT_ISSUER)));
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    for (id, iss) in [
        (
            "https://github.com/someone-else/repo/.github/workflows/x.yml@refs/heads/main",
            DEFAULT_ISSUER,
        ),
        (DEFAULT_IDENTITY, "https://accounts.google.com"),
    ] {
        let r = run_case(&dir, Some((id, iss)));
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("IdentityMismatch"), "{}", r.stderr);
    }
    // anchored regular expressions: a prefix alone does not match
    let bundle = dir.join("bundle.sigstore.json");
    let artifact = dir.parent().unwrap().join("a.txt");
    let run = |re: &str| {
        verify_blob(&[
            artifact.to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
            "--certificate-identity-regexp",
            re,
            "--certificate-oidc-issuer-regexp",
            r"https://token\.actions\.githubusercontent\.com",
        ])
    };
    assert_eq!(
        run(r"https://github\.com/sigstore-conformance/.+@refs/heads/main").code,
        0
    );
    let r = run(r"https://github\.com/sigstore-conformance/");
    assert_eq!(
        r.code, 1,
        "an unanchored prefix must not match: {}",
        r.stderr
    );
}

#[test]
fn digest_input_and_usage_errors() {
    let suite = fixtures().join("sigstore-conformance/bundle-verify");
    let a = std::fs::read(suite.join("a.txt")).unwrap();
    let digest = format!("sha256:{}", sealgate::crypto::sha256_hex(&a));
    let bundle = suite.join("happy-path-v0.3/bundle.sigstore.json");
    let r = verify_blob(&[
        &digest,
        "--bundle",
        bundle.to_str().unwrap(),
        "--certificate-identity",
        DEFAULT_IDENTITY,
        "--certificate-oidc-issuer",
        DEFAULT_ISSUER,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let other = format!("sha256:{}", sealgate::crypto::sha256_hex(b"other"));
    let r = verify_blob(&[
        &other,
        "--bundle",
        bundle.to_str().unwrap(),
        "--certificate-identity",
        DEFAULT_IDENTITY,
        "--certificate-oidc-issuer",
        DEFAULT_ISSUER,
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("PayloadDigestMismatch"), "{}", r.stderr);
    // no identity: usage error
    let r = verify_blob(&[&digest, "--bundle", bundle.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // an invalid regular expression: usage error
    let r = verify_blob(&[
        &digest,
        "--bundle",
        bundle.to_str().unwrap(),
        "--certificate-identity-regexp",
        "(",
        "--certificate-oidc-issuer",
        DEFAULT_ISSUER,
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

/// Robustness: 1,200 corrupted variants of real bundles (a bit flipped, a field truncated,
/// emptied or extended inside the certificates, SETs, proofs, bodies, timestamps and
/// signatures) never panic, and never verify (but for the unsigned parts of a timestamp).
#[test]
fn corrupted_bundles_never_panic_and_never_verify() {
    use base64::Engine as _;
    use sealgate::sigstore::bundle::Bundle;
    use sealgate::sigstore::trust::TrustedRoot;
    use sealgate::sigstore::verify::{
        Artifact, Expected, Identity, Matcher, Options, verify_bundle,
    };
    use serde_json::Value;

    let b64 = base64::engine::general_purpose::STANDARD;
    let suite = fixtures().join("sigstore-conformance/bundle-verify");
    let artifact = std::fs::read(suite.join("a.txt")).unwrap();
    let identity = Identity {
        issuer: Matcher::Exact(DEFAULT_ISSUER.into()),
        subject: Matcher::Exact(DEFAULT_IDENTITY.into()),
        claims: Default::default(),
    };
    let opts = Options {
        ignore_tlog: false,
        now: sealgate::base::time::now(),
    };
    // xorshift: deterministic, no dependency
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut tried = 0;
    for case in ["happy-path-v0.1", "happy-path-v0.3", "rekor2-happy-path"] {
        let dir = suite.join(case);
        let root = if dir.join("trusted_root.json").exists() {
            std::sync::Arc::new(TrustedRoot::from_file(&dir.join("trusted_root.json")).unwrap())
        } else {
            TrustedRoot::production()
        };
        let original: Value =
            serde_json::from_slice(&std::fs::read(dir.join("bundle.sigstore.json")).unwrap())
                .unwrap();
        // every base64 string field, by JSON pointer
        let mut fields = Vec::new();
        fn walk(v: &Value, at: String, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => m
                    .iter()
                    .for_each(|(k, v)| walk(v, format!("{at}/{k}"), out)),
                Value::Array(a) => a
                    .iter()
                    .enumerate()
                    .for_each(|(i, v)| walk(v, format!("{at}/{i}"), out)),
                Value::String(s)
                    if s.len() >= 16
                        && base64::engine::general_purpose::STANDARD.decode(s).is_ok() =>
                {
                    out.push(at)
                }
                _ => {}
            }
        }
        walk(&original, String::new(), &mut fields);
        assert!(fields.len() >= 5, "{case}: {fields:?}");
        let valid = Bundle::from_json(&serde_json::to_vec(&original).unwrap()).unwrap();
        assert!(
            verify_bundle(
                &valid,
                Artifact::Bytes(&artifact),
                Expected::Keyless(&identity),
                &root,
                opts
            )
            .is_ok(),
            "{case} must verify before it is corrupted"
        );
        for _ in 0..400 {
            let mut v = original.clone();
            let at = &fields[(next() as usize) % fields.len()];
            let slot = v.pointer_mut(at).unwrap();
            let mut raw = b64.decode(slot.as_str().unwrap()).unwrap();
            let len = raw.len();
            let how = match next() % 4 {
                0 if !raw.is_empty() => {
                    let i = (next() as usize) % raw.len();
                    raw[i] ^= 1 << (next() % 8);
                    format!("flip at {i} of {len}")
                }
                1 if !raw.is_empty() => {
                    raw.truncate((next() as usize) % raw.len());
                    format!("truncate {len} to {}", raw.len())
                }
                2 => {
                    raw.clear();
                    "empty".to_owned()
                }
                _ => {
                    raw.extend_from_slice(&[0x30, 0x80, 0xff]);
                    "trailing bytes".to_owned()
                }
            };
            *slot = Value::String(b64.encode(&raw));
            let bytes = serde_json::to_vec(&v).unwrap();
            tried += 1;
            if let Ok(b) = Bundle::from_json(&bytes) {
                let r = verify_bundle(
                    &b,
                    Artifact::Bytes(&artifact),
                    Expected::Keyless(&identity),
                    &root,
                    opts,
                );
                // An RFC 3161 token's `certificates` are not signed: when the trusted root
                // supplies the signer certificate, a corrupted embedded copy is not used and
                // the timestamp still verifies (correctly). Everything else is signed.
                if !at.ends_with("/signedTimestamp") {
                    assert!(r.is_err(), "{case}: corrupting {at} ({how}) still verified");
                }
            }
        }
    }
    assert_eq!(tried, 1200);
}
