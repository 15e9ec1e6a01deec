//! Signature discovery that stops when the answer is known, counted request by request on
//! a real docker-registry: once every rule's threshold is met by verified signatures the
//! remaining paths are not read; the path that held a repository's (and its registry's)
//! signatures is tried first next time; failing images still read every path; a
//! digest-pinned image without signatures is confirmed with one `HEAD`.
//! `--concurrency 1` makes the order (and so what was learned before each image) exact.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn sign(reg: &TestRegistry, key: &Path, extra: &[&str], image: &str) {
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "pw")
        .arg("sign")
        .arg("--key")
        .arg(key)
        .args(["--insecure-registry", &reg.addr])
        .args(extra)
        .arg(image));
    assert_eq!(r.code, 0, "{r}");
}

fn check(reg: &TestRegistry, dir: &Path) -> Run {
    run(sealgate()
        .arg("check")
        .arg(dir.join("deploy"))
        .arg("--policy")
        .arg(dir.join("policy.yaml"))
        .args(["--insecure-registry", &reg.addr, "-o", "json"])
        .args(["--concurrency", "1"]))
}

/// Requests that name `/v2/<repo>/`, as `METHOD path` (query and protocol dropped).
fn requests(log: &[String], repo: &str) -> Vec<String> {
    let needle = format!("/v2/{repo}/");
    log.iter()
        .filter(|l| l.contains(&needle))
        .filter_map(|l| {
            let start = l.find('"')? + 1;
            let rest = &l[start..];
            let mut parts = rest.split(' ');
            let method = parts.next()?;
            let path = parts.next()?;
            let path = path.split('?').next()?;
            Some(format!("{method} {}", path.replacen(&needle, "", 1)))
        })
        .collect()
}

fn image<'a>(j: &'a Value, needle: &str) -> &'a Value {
    j["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"].as_str().unwrap().contains(needle))
        .unwrap_or_else(|| panic!("{needle} not in {j:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_stops_once_every_rule_is_satisfied_and_learns_the_path() {
    let reg = TestRegistry::start();
    let client = oci();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ci_key, ci_pub) = keypair(d, "ci");
    let (rel_key, rel_pub) = keypair(d, "rel");
    std::fs::write(d.join("ci.pub"), &ci_pub).unwrap();
    std::fs::write(d.join("rel.pub"), &rel_pub).unwrap();

    // sorted order of the repositories is the order they are checked in
    let mut digests = std::collections::BTreeMap::new();
    for repo in [
        "a-bundle/one",
        "a-bundle/two",
        "b-legacy/one",
        "b-legacy/two",
        "c-both/app",
        "d-unsigned/app",
    ] {
        digests.insert(repo, push_image(&client, &reg, repo, "v1").await);
    }
    for repo in ["a-bundle/one", "a-bundle/two"] {
        sign(&reg, &ci_key, &["--bundle"], &reg.reference(repo, "v1"));
    }
    for repo in ["b-legacy/one", "b-legacy/two"] {
        sign(&reg, &ci_key, &[], &reg.reference(repo, "v1"));
    }
    // two signers, two formats; the rule needs both
    sign(&reg, &ci_key, &[], &reg.reference("c-both/app", "v1"));
    sign(
        &reg,
        &rel_key,
        &["--bundle"],
        &reg.reference("c-both/app", "v1"),
    );
    let missing = format!("sha256:{}", "0".repeat(64));
    let refs: Vec<String> = digests
        .keys()
        .map(|r| reg.reference(r, "v1"))
        .chain([
            // pinned, unsigned, exists → NoSignature; pinned, absent → ImageNotFound
            format!("{}/d-unsigned/app@{}", reg.addr, digests["d-unsigned/app"]),
            format!("{}/e-missing/app@{missing}", reg.addr),
        ])
        .collect();
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    write_deployment(d, "deploy/all.yaml", &refs);
    std::fs::write(
        d.join("policy.yaml"),
        "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: p}\nspec:\n  rules:\n    - name: both\n      images: ['**/c-both/*']\n      signatures:\n        threshold: 2\n        attestors:\n          - {name: ci, key: {path: ci.pub}}\n          - {name: rel, key: {path: rel.pub}}\n    - name: any\n      images: ['**']\n      signatures:\n        threshold: 1\n        attestors:\n          - {name: ci, key: {path: ci.pub}}\n          - {name: rel, key: {path: rel.pub}}\n",
    )
    .unwrap();

    let before = reg.log_lines().len();
    let r = check(&reg, d);
    assert_eq!(r.code, 1, "{r}");
    let j = r.json();
    let log = reg.log_lines()[before..].to_vec();
    for repo in [
        "a-bundle/one",
        "a-bundle/two",
        "b-legacy/one",
        "b-legacy/two",
    ] {
        assert_eq!(image(&j, repo)["verdict"], "pass", "{repo}: {r}");
    }
    assert_eq!(image(&j, "c-both/app:v1")["verdict"], "pass", "{r}");
    let unsigned_tag = image(&j, "d-unsigned/app:v1");
    assert_eq!(unsigned_tag["reasons"][0]["code"], "NoSignature", "{r}");
    let unsigned_pinned = image(&j, "d-unsigned/app@");
    assert_eq!(unsigned_pinned["reasons"][0]["code"], "NoSignature", "{r}");
    let absent = image(&j, "e-missing/app@");
    assert_eq!(absent["verdict"], "unverifiable", "{r}");
    assert_eq!(absent["reasons"][0]["code"], "ImageNotFound", "{r}");

    let fallback = |repo: &str| format!("GET manifests/{}", digests[repo].replace(':', "-"));
    let legacy = |repo: &str| format!("{}.sig", fallback(repo));
    let resolve = "GET manifests/v1".to_owned();
    // cold, nothing learned: the referrers API (probed once for the registry, absent), the
    // fallback tag lists the bundle: manifest + blob, and the `.sig` tag is never asked
    let one = requests(&log, "a-bundle/one");
    assert_eq!(one.len(), 5, "{one:#?}");
    assert_eq!(one[0], resolve);
    assert!(one[1].starts_with("GET referrers/"), "{one:#?}");
    assert_eq!(one[2], fallback("a-bundle/one"));
    assert!(!one.contains(&legacy("a-bundle/one")), "{one:#?}");
    // the 4 requests the cosign v3 format needs: resolve, fallback index, bundle manifest, blob
    let two = requests(&log, "a-bundle/two");
    assert_eq!(two.len(), 4, "{two:#?}");
    assert_eq!(two[1], fallback("a-bundle/two"));
    // the registry's repositories used the fallback tag: tried first, misses, `.sig` holds it
    let b1 = requests(&log, "b-legacy/one");
    assert_eq!(
        b1[..3],
        [
            resolve.clone(),
            fallback("b-legacy/one"),
            legacy("b-legacy/one")
        ],
        "{b1:#?}"
    );
    assert_eq!(b1.len(), 4, "{b1:#?}");
    // learned: the 3 requests of a legacy-only verifier
    let b2 = requests(&log, "b-legacy/two");
    assert_eq!(
        b2[..2],
        [resolve.clone(), legacy("b-legacy/two")],
        "{b2:#?}"
    );
    assert_eq!(b2.len(), 3, "{b2:#?}");
    // threshold 2: the `.sig` signature alone is not enough, so every path is read
    let both = requests(&log, "c-both/app");
    assert!(both.contains(&legacy("c-both/app")), "{both:#?}");
    assert!(both.contains(&fallback("c-both/app")), "{both:#?}");
    assert_eq!(both.len(), 6, "{both:#?}");
    // a failing image reads every path; the pinned one then confirms it exists (HEAD)
    let unsigned = requests(&log, "d-unsigned/app");
    assert!(
        unsigned.contains(&legacy("d-unsigned/app")),
        "{unsigned:#?}"
    );
    assert!(
        unsigned.contains(&fallback("d-unsigned/app")),
        "{unsigned:#?}"
    );
    let heads: Vec<&String> = unsigned.iter().filter(|l| l.starts_with("HEAD ")).collect();
    assert_eq!(
        heads,
        [&format!("HEAD manifests/{}", digests["d-unsigned/app"])],
        "{unsigned:#?}"
    );
    let absent = requests(&log, "e-missing/app");
    assert_eq!(
        absent.last().unwrap(),
        &format!("HEAD manifests/{missing}"),
        "{absent:#?}"
    );
    // passing images never cost a HEAD
    for repo in ["a-bundle/one", "b-legacy/two", "c-both/app"] {
        assert!(
            requests(&log, repo).iter().all(|l| !l.starts_with("HEAD ")),
            "{repo}"
        );
    }
}
