//! `cargo bench --bench attest`: SBOM attestation gates on a 50,000-component SBOM
//! (CycloneDX and SPDX, Syft-like, from the test generator), against, in the same run, a
//! baseline of parsing the same document into a generic `serde_json::Value`:
//! (a) `sbom::parse` + `sbom::evaluate` (typed parse, denied packages with ranges, licence
//!     expressions),
//! (b) the whole attestation check: DSSE envelope decode, P-256 signature over the PAE,
//!     statement parse, subject match, SBOM parse and rules.
//! Prints medians and ratios; asserts the outcomes, nothing about time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/sbomgen.rs"]
mod sbomgen;

use std::path::Path;
use std::time::{Duration, Instant};

use sealgate::attest::{self, sbom};
use sealgate::base::evidence::{AttestationEnvelope, SignatureSource};
use sealgate::base::reference::Digest;
use sealgate::base::verdict::Verdict;
use sealgate::crypto::PrivateKey;
use sealgate::policy::attestations as check;

const COMPONENTS: usize = 50_000;
const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(f: impl Fn() -> T) -> (Duration, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..RUNS {
        let t = Instant::now();
        let out = f();
        times.push(t.elapsed());
        last = Some(out);
    }
    (median(times), last.unwrap())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --all-targets` builds and runs benches without --bench
    }
    let key = PrivateKey::generate_p256().unwrap();
    let pem = key.public_key().to_pem();
    let policy_yaml = format!(
        "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {{name: bench}}\nspec:\n  rules:\n    - name: all\n      images: ['**']\n      signatures:\n        attestors:\n          - name: ci\n            key: {{pem: {pem:?}}}\n      attestations:\n        - predicateType: PTYPE\n          sbom:\n            deniedPackages: ['pkg:npm/event-stream@3.3.6', 'log4j-core@<2.17.1', 'pkg:maven/org.apache.commons/commons-text@>=1.5 <1.10.0', 'openssl@<1.1.1', 'pkg:pypi/ctx', 'colors@>=1.4.1', 'ua-parser-js@0.7.29 || 0.8.0 || 1.0.0', 'node-ipc@>=10.1.1 <10.1.3', 'pkg:golang/github.com/dgrijalva/jwt-go', 'xz-utils@5.6.0 || 5.6.1']\n            deniedLicenses: [AGPL-3.0-only, SSPL-1.0, BUSL-1.1]\n"
    );
    let digest = Digest::sha256_of(b"bench image");
    let planted = sbomgen::GenPackage {
        name: "log4j-core".into(),
        version: "2.14.1".into(),
        purl: "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1".into(),
        license: "Apache-2.0".into(),
    };
    println!(
        "attestation benchmark ({COMPONENTS} components, one planted denied package, median of {RUNS})"
    );
    for (label, ptype, alias, doc) in [
        (
            "CycloneDX 1.6",
            "https://cyclonedx.org/bom",
            "cyclonedx",
            sbomgen::cyclonedx_json(
                COMPONENTS,
                42,
                std::slice::from_ref(&planted),
                "2026-01-01T00:00:00Z",
            ),
        ),
        (
            "SPDX 2.3",
            "https://spdx.dev/Document",
            "spdxjson",
            sbomgen::spdx_json(
                COMPONENTS,
                42,
                std::slice::from_ref(&planted),
                "2026-01-01T00:00:00Z",
            ),
        ),
    ] {
        let doc_value: serde_json::Value = serde_json::from_str(&doc).unwrap();
        let policy = sealgate::policy::compile(
            serde_saphyr::from_str::<serde_json::Value>(&policy_yaml.replace("PTYPE", alias))
                .unwrap(),
            Path::new("bench.yaml"),
            Path::new("."),
        )
        .unwrap();
        let rule = &policy.rules[0].attestations[0];
        let sbom_rule = rule.sbom.clone().unwrap();

        let (baseline, _) = time(|| serde_json::from_str::<serde_json::Value>(&doc).unwrap());
        let (typed, findings) = time(|| {
            let s = sbom::parse(&doc).unwrap();
            sbom::evaluate(&s, &sbom_rule)
        });
        assert_eq!(findings.len(), 1, "{findings:?}");

        let (_, statement) = attest::statement(
            "registry.example/app",
            &digest,
            alias,
            doc.as_bytes(),
            "2026-01-01T00:00:00Z",
        )
        .unwrap();
        let envelope = attest::envelope(&key, &statement).unwrap();
        let found = vec![AttestationEnvelope {
            source: SignatureSource::LegacyTag,
            origin: "bench".into(),
            envelope: envelope.clone().into(),
            bundle: None,
            annotations: Default::default(),
        }];
        let (full, outcome) = time(|| {
            let opened = check::open_all(&found);
            check::check(rule, &digest, &opened, 1_800_000_000)
        });
        match &outcome.verdict {
            Verdict::Fail(r) => assert!(r[0].message.contains("log4j-core"), "{r:?}"),
            other => panic!("expected a denied package, got {other:?}"),
        }
        drop(doc_value);
        println!(
            "  {label:<14} document {:>6.1} MB, envelope {:>6.1} MB, {ptype}",
            doc.len() as f64 / 1e6,
            envelope.len() as f64 / 1e6
        );
        println!(
            "    baseline: serde_json::Value parse   {:>7.1} ms",
            ms(baseline)
        );
        println!(
            "    sbom::parse + evaluate              {:>7.1} ms  = {:.2}x baseline",
            ms(typed),
            typed.as_secs_f64() / baseline.as_secs_f64()
        );
        println!(
            "    full attestation check (DSSE)       {:>7.1} ms  = {:.2}x baseline",
            ms(full),
            full.as_secs_f64() / baseline.as_secs_f64()
        );
    }
}
