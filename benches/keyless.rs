//! `cargo bench --bench keyless`: offline keyless (Sigstore) verification per signature, on
//! real material, against, in the same run, a baseline of one plain `PublicKey::verify` of the
//! same signature over the same artifact with the signing certificate's P-256 key (what a
//! key-based check costs). The ratio is the cost of everything beyond that signature:
//! certificate parse, chain to the Fulcio CA, SCT, Rekor SET / inclusion proof / signed
//! checkpoint, entry body match, RFC 3161 timestamp, identity.
//! (a) `verify_bundle` on the conformance `happy-path-v0.3` message-signature bundle
//!     (built-in production root; Rekor v1 entry with SET and inclusion proof) and on
//!     `rekor2-happy-path` (its own trusted_root.json; Rekor v2 entry, RFC 3161 timestamp);
//! (b) connaisseur's cosign legacy keyless `.sig` layer: `legacy_bundle` + `verify_bundle`;
//! (c) `Bundle::from_json` alone for both bundles;
//! and, for the two bundles, what the parts cost on their own: the certificate chain at one
//! instant (`x509::verify_chain`), the SCTs (`fulcio::verify_scts`), the log entry
//! (`rekor::verify_entry`: SET, inclusion proof, checkpoint) and the RFC 3161 timestamp.
//! Prints per-operation medians and ratios; asserts every verification succeeds, nothing
//! about time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sealgate::crypto::{KeyAlgorithm, PublicKey, decode_base64_lenient, parse_pem_blocks};
use sealgate::sigstore::bundle::{Bundle, Content};
use sealgate::sigstore::fulcio::{self, SigningCert};
use sealgate::sigstore::trust::TrustedRoot;
use sealgate::sigstore::verify::{
    Artifact, Expected, Identity, Matcher, Options, legacy_bundle, verify_bundle,
};
use sealgate::sigstore::{rekor, tsa, x509};

/// Median over this many runs of `ITERS` operations each.
const RUNS: usize = 7;
const ITERS: usize = 200;

const CONFORMANCE_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
const CONNAISSEUR_IDENTITY: &str = "philipp.belitz@securesystems.de";
const CONNAISSEUR_ISSUER: &str = "https://github.com/login/oauth";
/// The connaisseur image whose `.sig` manifest carries the keyless layer.
const CONNAISSEUR_SIG: &str =
    "sha256-31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee.sig.json";

fn fixtures() -> PathBuf {
    std::env::var_os("SEALGATE_FIXTURES").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
        PathBuf::from,
    )
}

/// Median time of one operation: `RUNS` runs of `ITERS` calls each.
fn per_op<T>(mut f: impl FnMut() -> T) -> Duration {
    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        for _ in 0..ITERS {
            std::hint::black_box(f());
        }
        runs.push(t.elapsed() / ITERS as u32);
    }
    runs.sort();
    runs[RUNS / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn identity(issuer: &str, subject: &str) -> Identity {
    Identity {
        issuer: Matcher::Exact(issuer.into()),
        subject: Matcher::Exact(subject.into()),
        claims: BTreeMap::new(),
    }
}

/// The leaf certificate's key: the baseline verifies with it, as a key attestor would.
fn leaf_key(bundle: &Bundle) -> PublicKey {
    let (leaf, _) = bundle.certificates().unwrap();
    let key = SigningCert::parse(leaf).unwrap().public_key;
    assert_eq!(key.algorithm(), KeyAlgorithm::EcdsaP256, "P-256 baseline");
    key
}

struct Case {
    label: &'static str,
    baseline: Duration,
    parse: Option<Duration>,
    verify: Duration,
    /// (part, time of one call) for the breakdown.
    parts: Vec<(&'static str, Duration)>,
}

/// The SubjectPublicKeyInfo DER of the certificate among `candidates` that issued `cert`.
fn issuer_spki(cert: &SigningCert, candidates: &[Vec<u8>]) -> Vec<u8> {
    use der::{Decode as _, Encode as _};
    let issuer = fulcio::find_issuer(cert, candidates).unwrap();
    x509_cert::Certificate::from_der(issuer)
        .unwrap()
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap()
}

/// Each verification step of a bundle alone, timed.
fn parts(bundle: &Bundle, root: &TrustedRoot) -> Vec<(&'static str, Duration)> {
    let (leaf, extras) = bundle.certificates().unwrap();
    let cert = SigningCert::parse(leaf).unwrap();
    let at = cert.not_before;
    let ca = x509::verify_chain(
        leaf,
        extras,
        &root.certificate_authorities,
        at,
        x509::CODE_SIGNING,
    )
    .unwrap();
    let mut candidates = extras.to_vec();
    candidates.extend(root.certificate_authorities[ca].chain.iter().cloned());
    let spki = issuer_spki(&cert, &candidates);
    fulcio::verify_scts(leaf, &spki, root).unwrap();
    let mut out = vec![
        ("certificate parse", per_op(|| SigningCert::parse(leaf))),
        (
            "chain to Fulcio CA (one instant)",
            per_op(|| {
                x509::verify_chain(
                    leaf,
                    extras,
                    &root.certificate_authorities,
                    at,
                    x509::CODE_SIGNING,
                )
            }),
        ),
        ("SCT", per_op(|| fulcio::verify_scts(leaf, &spki, root))),
    ];
    for entry in &bundle.tlog_entries {
        rekor::verify_entry(entry, root, true).unwrap();
        out.push((
            if entry.is_rekor_v2() {
                "Rekor v2 entry (proof, checkpoint)"
            } else {
                "Rekor v1 entry (SET, proof, checkpoint)"
            },
            per_op(|| rekor::verify_entry(entry, root, true)),
        ));
    }
    for ts in &bundle.timestamps {
        let sig = bundle.content.signature();
        tsa::verify_timestamp(ts, sig, &root.timestamp_authorities).unwrap();
        out.push((
            "RFC 3161 timestamp",
            per_op(|| tsa::verify_timestamp(ts, sig, &root.timestamp_authorities)),
        ));
    }
    out
}

/// A conformance message-signature bundle over `a.txt`.
fn conformance_case(label: &'static str, dir: &str, own_root: bool) -> Case {
    let suite = fixtures().join("sigstore-conformance/bundle-verify");
    let artifact = std::fs::read(suite.join("a.txt")).unwrap();
    let json = std::fs::read(suite.join(dir).join("bundle.sigstore.json")).unwrap();
    let root = if own_root {
        std::sync::Arc::new(
            TrustedRoot::from_file(&suite.join(dir).join("trusted_root.json")).unwrap(),
        )
    } else {
        TrustedRoot::production()
    };
    let bundle = Bundle::from_json(&json).unwrap();
    let id = identity(GITHUB_ISSUER, CONFORMANCE_IDENTITY);
    let opts = Options {
        ignore_tlog: false,
        now: sealgate::base::time::now(),
    };
    let verify = || {
        verify_bundle(
            &bundle,
            Artifact::Bytes(&artifact),
            Expected::Keyless(&id),
            &root,
            opts,
        )
    };
    let v = verify().unwrap_or_else(|f| panic!("{label}: {f}"));
    assert_eq!(v.signer, CONFORMANCE_IDENTITY);
    let key = leaf_key(&bundle);
    let Content::Message { signature, .. } = &bundle.content else {
        panic!("{label}: a message signature bundle")
    };
    key.verify(&artifact, signature).unwrap();
    Case {
        label,
        baseline: per_op(|| key.verify(&artifact, signature)),
        parse: Some(per_op(|| Bundle::from_json(&json))),
        verify: per_op(verify),
        parts: parts(&bundle, &root),
    }
}

/// connaisseur's legacy keyless `.sig` layer: annotations → v0.1 bundle → verification.
fn legacy_case() -> Case {
    let image = fixtures().join("connaisseur/cosign/securesystemsengineering/testimage");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(image.join("manifests").join(CONNAISSEUR_SIG)).unwrap(),
    )
    .unwrap();
    let layer = &manifest["layers"][0];
    let annotations: BTreeMap<String, String> = layer["annotations"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let payload = std::fs::read(
        image
            .join("blobs")
            .join(format!("{}.json", layer["digest"].as_str().unwrap())),
    )
    .unwrap();
    let signature =
        decode_base64_lenient(&annotations["dev.cosignproject.cosign/signature"]).unwrap();
    let root = TrustedRoot::production();
    let id = identity(CONNAISSEUR_ISSUER, CONNAISSEUR_IDENTITY);
    let opts = Options {
        ignore_tlog: false,
        now: sealgate::base::time::now(),
    };
    let verify = || {
        let b = legacy_bundle(
            &annotations,
            Content::Message {
                digest: None,
                signature: signature.clone(),
            },
        )
        .unwrap()
        .unwrap();
        verify_bundle(
            &b,
            Artifact::Bytes(&payload),
            Expected::Keyless(&id),
            &root,
            opts,
        )
    };
    let v = verify().unwrap_or_else(|f| panic!("legacy keyless layer: {f}"));
    assert_eq!(v.signer, CONNAISSEUR_IDENTITY);
    let leaf = parse_pem_blocks(&annotations["dev.sigstore.cosign/certificate"]).unwrap();
    let key = SigningCert::parse(&leaf[0].contents).unwrap().public_key;
    assert_eq!(key.algorithm(), KeyAlgorithm::EcdsaP256, "P-256 baseline");
    key.verify(&payload, &signature).unwrap();
    Case {
        label: "legacy .sig layer (connaisseur)",
        baseline: per_op(|| key.verify(&payload, &signature)),
        parse: None,
        verify: per_op(verify),
        parts: Vec::new(),
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --all-targets` builds and runs benches without --bench
    }
    let cases = [
        conformance_case("happy-path-v0.3 (Rekor v1)", "happy-path-v0.3", false),
        conformance_case("rekor2-happy-path (TSA)", "rekor2-happy-path", true),
        legacy_case(),
    ];
    println!(
        "keyless verification benchmark (offline, per signature, median of {RUNS} runs x {ITERS})"
    );
    println!(
        "  {:<34} {:>12} {:>12} {:>12} {:>8}",
        "case", "P-256 verify", "parse", "verify", "ratio"
    );
    for c in &cases {
        println!(
            "  {:<34} {:>9.1} us {:>12} {:>9.1} us {:>7.1}x",
            c.label,
            us(c.baseline),
            c.parse
                .map_or_else(|| "-".to_owned(), |p| format!("{:.1} us", us(p))),
            us(c.verify),
            us(c.verify) / us(c.baseline),
        );
    }
    println!(
        "  parse: Bundle::from_json alone; verify: verify_bundle (legacy: legacy_bundle + \
         verify_bundle); ratio: verify / P-256 verify of the same signature"
    );
    println!("parts, each alone (x the case's P-256 verify):");
    for c in cases.iter().filter(|c| !c.parts.is_empty()) {
        println!("  {}", c.label);
        for (part, d) in &c.parts {
            println!(
                "    {:<40} {:>9.1} us {:>7.1}x",
                part,
                us(*d),
                us(*d) / us(c.baseline)
            );
        }
    }
}
