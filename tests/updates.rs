//! Verified image automation (`imageUpdates`) through the `sealgate` binary, against a real
//! `docker-registry` and a real `git daemon` origin: the scan takes the newest tag in range
//! whose image passes the gate's policy, pinned to the verified digest, in one commit with
//! trailers; newer tags that fail are reported and never written; a warm scan only lists
//! tags; a re-pushed current tag is verified again; pagination, 429 with `Retry-After`, a
//! registry that is down, a push race.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::daemon::Daemon;
use common::gate::{DEPLOY, World, sign};
use common::proxy::{Proxy, Rule};
use common::*;

/// The app's manifest: a comment, a marked image line, more fields (all must stay).
fn app_yaml(image: &str) -> String {
    format!(
        "# the app, bumped by sealgate\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app   # keep this name\n  namespace: apps\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {image} # {{\"$imagepolicy\": \"app\"}}\n          ports: [{{containerPort: 8080}}]\n"
    )
}

fn updates_yaml(image: &str, select: &str, more: &str) -> String {
    format!(
        "imageUpdates:\n  commit: {{author: {{name: sealgate-bot, email: bot@example.com}}}}\n{more}  policies:\n    - name: app\n      image: {image}\n      select: {select}\n"
    )
}

/// Pushes `tags` of `repo` (each its own image), signs those in `signed`; tag → digest.
async fn publish(w: &World, repo: &str, tags: &[&str], signed: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for t in tags {
        let d = push_image(&oci(), &w.reg, repo, t).await;
        if signed.contains(t) {
            sign(&w.reg, &w.key, &w.reg.reference(repo, t));
        }
        out.push(((*t).to_owned(), d));
    }
    out
}

fn digest_of<'a>(tags: &'a [(String, String)], tag: &str) -> &'a str {
    &tags.iter().find(|(t, _)| t == tag).unwrap().1
}

/// Adds `addr` to `registry.insecure` of the written config.
fn allow_insecure(w: &World, addr: &str) {
    let cfg = std::fs::read_to_string(&w.config).unwrap().replacen(
        "insecure: [\"",
        &format!("insecure: [\"{addr}\", \""),
        1,
    );
    std::fs::write(&w.config, cfg).unwrap();
}

fn policy_status(s: &serde_json::Value) -> &serde_json::Value {
    &s["imageUpdates"][0]
}

#[tokio::test(flavor = "multi_thread")]
async fn the_newest_signed_tag_in_range_is_committed_pinned_and_a_warm_scan_only_lists_tags() {
    let port = free_port();
    let mut w = World::builder().source("  interval: 1s\n").start().await;
    let repo = "team/app";
    let image = format!("{}/{repo}", w.reg.addr);
    w.yaml.extra = format!(
        "listen: 127.0.0.1:{port}\n{}",
        updates_yaml(&image, "{semver: \">=1.0.0 <2.0.0\"}", "  interval: 1s\n")
    );
    w.write_config();
    let tags = publish(
        &w,
        repo,
        &["1.0.0", "1.1.0", "1.2.0", "2.0.0"],
        &["1.0.0", "1.1.0", "2.0.0"],
    )
    .await;
    let d11 = digest_of(&tags, "1.1.0").to_owned();
    let original = app_yaml(&format!("{image}:1.0.0"));
    let c0 = w.git.commit(
        &[
            ("deploy/app.yaml", &original),
            ("deploy/web.yaml", &w.app(&w.signed)),
        ],
        "app 1.0.0",
    );

    let resolved_200 = w.reg.count(&["/manifests/2.0.0"]);
    // the scan: 1.1.0 (signed, in range) is written pinned; 1.2.0 (unsigned) is refused;
    // 2.0.0 (out of range) is never looked at; the gate then promotes the update commit
    let mut d = Daemon::start(&w, port, &[]);
    let s = d
        .wait_status(&[], "the update and its promotion", |s| {
            s["lastImageUpdateCommit"].is_string()
                && s["lastPromotedRevision"] == s["lastImageUpdateCommit"]
        })
        .await;
    let update = s["lastImageUpdateCommit"].as_str().unwrap().to_owned();
    assert_eq!(w.git.head("main").as_deref(), Some(update.as_str()));
    let msg = w.git.message(&update);
    assert!(
        msg.starts_with("sealgate: update images (app 1.0.0 -> 1.1.0)\n"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "\nSealgate-Image-Update: app 1.0.0 -> 1.1.0 {d11}\n"
        )),
        "{msg}"
    );
    assert!(msg.contains("\nSealgate-Policy: sha256:"), "{msg}");
    common::git::git(&w.git.work, &["fetch", "-q", "origin"]);
    let parents = common::git::git(&w.git.work, &["rev-list", "--parents", "-n", "1", &update]);
    assert!(
        parents.ends_with(&c0),
        "one commit on top of {c0}: {parents}"
    );
    // byte-identical except the image scalar
    let updated = w.git.show("main", "deploy/app.yaml");
    assert_eq!(
        updated.trim_end(),
        original
            .replace(&format!("{image}:1.0.0"), &format!("{image}:1.1.0@{d11}"))
            .trim_end()
    );
    assert_eq!(
        w.git.show("main", "deploy/web.yaml").trim_end(),
        w.app(&w.signed).trim_end()
    );
    let p = policy_status(&s);
    assert_eq!(p["latest"], format!("1.1.0@{d11}"), "{p:#}");
    assert_eq!(p["current"], format!("1.1.0@{d11}"), "{p:#}");
    assert_eq!(p["rejected"][0]["tag"], "1.2.0", "{p:#}");
    assert_eq!(p["rejected"][0]["reason"], "NoSignature", "{p:#}");
    assert_eq!(
        p["rejected"].as_array().unwrap().len(),
        1,
        "2.0.0 is out of range: {p:#}"
    );
    assert!(
        w.git
            .show(DEPLOY, "app.yaml")
            .contains(&format!("{image}:1.1.0@{d11}")),
        "the deploy branch carries the verified digest"
    );
    assert_eq!(
        w.reg.count(&["/manifests/2.0.0"]),
        resolved_200,
        "2.0.0 was never resolved"
    );

    // warm: later scans with nothing new list the tags and make no other request
    let scanned = s["lastImageScanTime"].as_str().unwrap().to_owned();
    let s = d
        .wait_status(&[], "a second scan", |s| {
            s["lastImageScanTime"].as_str() != Some(scanned.as_str())
        })
        .await;
    let (all, listings) = (w.reg.count(&["/v2/"]), w.reg.count(&["/tags/list"]));
    let scanned = s["lastImageScanTime"].as_str().unwrap().to_owned();
    let mut seen = 0;
    let mut last = scanned;
    while seen < 2 {
        let s = d
            .wait_status(&[], "another scan", |s| {
                s["lastImageScanTime"].as_str() != Some(last.as_str())
            })
            .await;
        last = s["lastImageScanTime"].as_str().unwrap().to_owned();
        seen += 1;
    }
    let (all2, listings2) = (w.reg.count(&["/v2/"]), w.reg.count(&["/tags/list"]));
    assert!(listings2 >= listings + 2, "each scan lists the tags");
    assert_eq!(
        all2 - all,
        listings2 - listings,
        "a warm scan makes no request beyond the tags listing"
    );
    assert_eq!(
        w.git.head("main").as_deref(),
        Some(update.as_str()),
        "no new commit"
    );
    let metrics = reqwest::get(format!("{}/metrics", d.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sealgate_image_updates_total{result=\"updated\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sealgate_image_update_rejections_total{reason=\"NoSignature\"}"),
        "{metrics}"
    );
    drop(d);

    // 1.1.0 re-pushed to an unsigned image: the next scan verifies the new digest, refuses
    // it and reports it; the file keeps the digest that was verified
    let repushed = push_image(&oci(), &w.reg, repo, "1.1.0").await;
    assert_ne!(repushed, d11);
    let r = w.once();
    assert_eq!(r.code, 0, "{r}");
    let s = r.json();
    let p = policy_status(&s);
    let rejected: Vec<(&str, &str, &str)> = p["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["tag"].as_str().unwrap(),
                r["digest"].as_str().unwrap_or_default(),
                r["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        rejected.contains(&("1.1.0", repushed.as_str(), "NoSignature")),
        "{p:#}"
    );
    assert_eq!(
        w.git.head("main").as_deref(),
        Some(update.as_str()),
        "nothing committed"
    );
    assert!(
        w.git
            .show("main", "deploy/app.yaml")
            .contains(&format!("1.1.0@{d11}"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn thousands_of_tags_are_paged_a_429_is_retried_and_a_registry_that_is_down_commits_nothing()
{
    let w = World::builder().start().await;
    let repo = "team/many";
    // 2,500 tags of one signed image (the listing pages at 1,000)
    let d = push_image(&oci(), &w.reg, repo, "1.0.0").await;
    sign(&w.reg, &w.key, &w.reg.reference(repo, "1.0.0"));
    let manifest = reqwest::Client::new()
        .get(format!("http://{}/v2/{repo}/manifests/{d}", w.reg.addr))
        .header("Accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    for n in 1..2500 {
        push_manifest(&oci(), &w.reg, repo, &format!("1.0.{n}"), &manifest).await;
    }
    // distribution 2.8 answers every tag in one page: the proxy in front of it serves the
    // real listing in three `Link`-chained pages of 1,000 (as registries that page do),
    // after rate-limiting the first request
    let listing: serde_json::Value =
        reqwest::get(format!("http://{}/v2/{repo}/tags/list", w.reg.addr))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let all: Vec<String> = listing["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(all.len(), 2501, "2,500 versions and the signature's tag");
    let proxy = Proxy::start(&w.reg.addr);
    proxy.rule(Rule::new("/tags/list", 1, 429).header("Retry-After", "1"));
    let pages: Vec<&[String]> = all.chunks(1000).collect();
    for (i, page) in pages.iter().enumerate() {
        let asked = if i == 0 {
            "/tags/list?n=1000".to_owned()
        } else {
            format!("last={}", pages[i - 1].last().unwrap())
        };
        let mut rule = Rule::new(&asked, 1, 200)
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(&serde_json::json!({"name": repo, "tags": page})).unwrap());
        if i + 1 < pages.len() {
            rule = rule.header(
                "Link",
                &format!(
                    "</v2/{repo}/tags/list?n=1000&last={}>; rel=\"next\"",
                    page.last().unwrap()
                ),
            );
        }
        proxy.rule(rule);
    }
    let image = format!("{}/{repo}", proxy.addr);
    let mut w = w;
    w.yaml.extra = updates_yaml(&image, "{semver: \"1.0.x\"}", "");
    w.write_config();
    allow_insecure(&w, &proxy.addr);
    let original = app_yaml(&format!("{image}:1.0.0"));
    let c0 = w
        .git
        .commit(&[("deploy/app.yaml", &original)], "many 1.0.0");
    let r = w.once();
    assert_eq!(r.code, 0, "{r}");
    let s = r.json();
    let p = policy_status(&s);
    assert_eq!(p["latest"], format!("1.0.2499@{d}"), "{p:#}");
    assert_eq!(
        proxy.count("/tags/list"),
        4,
        "one 429, then three pages: {:?}",
        proxy.log()
    );
    assert!(
        proxy.count("last=") >= 2,
        "the Link pages were followed: {:?}",
        proxy.log()
    );
    let head = w.git.head("main").unwrap();
    assert_ne!(head, c0);
    assert!(
        w.git
            .show("main", "deploy/app.yaml")
            .contains(&format!("{image}:1.0.2499@{d}"))
    );

    // the registry answers nothing: the status says so, nothing is committed
    let dead = format!("127.0.0.1:{}", free_port());
    let image = format!("{dead}/{repo}");
    w.yaml.registry = ", timeout: 2s".into();
    w.yaml.extra = updates_yaml(&image, "{semver: \"1.0.x\"}", "");
    w.write_config();
    allow_insecure(&w, &dead);
    common::git::git(&w.git.work, &["pull", "-q", "--ff-only", "origin", "main"]);
    w.git.commit(
        &[("deploy/app.yaml", &app_yaml(&format!("{image}:1.0.0")))],
        "dead registry",
    );
    let before = w.git.head("main").unwrap();
    let r = w.once();
    let s = r.json();
    let p = policy_status(&s);
    assert!(
        p["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("RegistryUnavailable"),
        "{p:#}"
    );
    assert_eq!(w.git.head("main").unwrap(), before, "nothing committed");
}

/// A CycloneDX SBOM with one component.
fn sbom(name: &str, version: &str) -> String {
    serde_json::json!({
        "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
        "components": [{"type": "library", "name": name, "version": version,
                        "purl": format!("pkg:maven/org.apache.logging.log4j/{name}@{version}")}],
    })
    .to_string()
}

fn attest(w: &World, image: &str, sbom: &str) {
    let file = w.path(&format!("sbom-{}.json", hex::encode(rand_bytes::<6>())));
    std::fs::write(&file, sbom).unwrap();
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "pw")
        .arg("attest")
        .arg("--key")
        .arg(&w.key)
        .arg("--predicate")
        .arg(&file)
        .args([
            "--type",
            "cyclonedx",
            "--insecure-registry",
            &w.reg.addr,
            image,
        ]));
    assert_eq!(r.code, 0, "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_sbom_gate_refuses_a_newer_tag_with_a_denied_package_and_a_push_race_is_recomputed() {
    let mut w = World::builder().start().await;
    let repo = "team/app";
    let image = format!("{}/{repo}", w.reg.addr);
    // the gate's policy: web signed; app signed and with an SBOM free of old log4j-core
    std::fs::write(
        w.path("policy.yaml"),
        "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: test\nspec:\n  rules:\n    - name: web\n      images: [\"**/team/web\"]\n      signatures:\n        attestors: [{name: ci, key: {path: ci.pub}}]\n    - name: app\n      images: [\"**/team/app\"]\n      signatures:\n        attestors: [{name: ci, key: {path: ci.pub}}]\n      attestations:\n        - predicateType: cyclonedx\n          attestors: [ci]\n          sbom:\n            deniedPackages: ['log4j-core@<2.17.1']\n",
    )
    .unwrap();
    w.yaml.extra = updates_yaml(&image, "{semver: \"^1.0.0\"}", "");
    w.write_config();
    let tags = publish(
        &w,
        repo,
        &["1.0.0", "1.1.0", "1.2.0"],
        &["1.0.0", "1.1.0", "1.2.0"],
    )
    .await;
    attest(
        &w,
        &w.reg.reference(repo, "1.0.0"),
        &sbom("log4j-core", "2.17.1"),
    );
    attest(
        &w,
        &w.reg.reference(repo, "1.1.0"),
        &sbom("log4j-core", "2.17.2"),
    );
    attest(
        &w,
        &w.reg.reference(repo, "1.2.0"),
        &sbom("log4j-core", "2.14.1"),
    );
    let d11 = digest_of(&tags, "1.1.0").to_owned();
    let original = app_yaml(&format!("{image}:1.0.0"));
    w.git.commit(
        &[("deploy/app.yaml", &original), ("deploy/NOTES.txt", "v1\n")],
        "app 1.0.0",
    );
    // the first push to main lands another commit first (a teammate): the update is
    // recomputed on top of it and pushed again, never forced
    let hook = w.git.bare.join("hooks/pre-receive");
    let marker = w.path("race-done");
    let other = w.path("other-commit");
    std::fs::write(
        &hook,
        format!(
            r#"#!/bin/sh
set -e
while read old new ref; do
  if [ "$ref" = refs/heads/main ] && [ ! -e '{marker}' ]; then
    : > '{marker}'
    # leave receive-pack's quarantine: this commit lands for real, before the push
    unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
    export GIT_AUTHOR_NAME=Mate GIT_AUTHOR_EMAIL=mate@example.com
    export GIT_COMMITTER_NAME=Mate GIT_COMMITTER_EMAIL=mate@example.com
    tree=$(git rev-parse "$old^{{tree}}")
    c=$(git commit-tree "$tree" -p "$old" -m "teammate: something else")
    git update-ref refs/heads/main "$c" "$old"
    echo "$c" > '{other}'
  fi
done
exit 0
"#,
            marker = marker.display(),
            other = other.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&hook)
        .status()
        .unwrap();

    let r = w.once();
    assert_eq!(r.code, 0, "{r}");
    let s = r.json();
    let p = policy_status(&s);
    assert_eq!(p["latest"], format!("1.1.0@{d11}"), "{p:#}");
    assert_eq!(p["rejected"][0]["tag"], "1.2.0", "{p:#}");
    assert_eq!(p["rejected"][0]["reason"], "SbomDeniedPackage", "{p:#}");
    let teammate = std::fs::read_to_string(&other)
        .expect("the hook raced")
        .trim()
        .to_owned();
    let head = w.git.head("main").unwrap();
    common::git::git(&w.git.work, &["fetch", "-q", "origin"]);
    let line = common::git::git(&w.git.work, &["rev-list", "--parents", "-n", "1", &head]);
    assert!(
        line.ends_with(&teammate),
        "the update sits on the teammate's commit: {line}"
    );
    assert_eq!(
        w.git.message(&teammate).trim(),
        "teammate: something else",
        "the other commit stays"
    );
    assert!(
        w.git
            .show("main", "deploy/app.yaml")
            .contains(&format!("{image}:1.1.0@{d11}"))
    );
    assert_eq!(s["lastPromotedRevision"], head.as_str(), "{s:#}");
}

#[test]
fn an_invalid_update_policy_is_a_configuration_error_naming_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.yaml"), "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: p}\nspec:\n  rules:\n    - name: r\n      images: [\"**\"]\n      signatures: {attestors: [{name: k, key: {path: k.pub}}]}\n").unwrap();
    keypair(dir.path(), "k");
    let cfg = dir.path().join("gate.yaml");
    for (select, field) in [
        (
            "{semver: \">=banana\"}",
            "imageUpdates.policies[0].select.semver",
        ),
        ("{regex: '('}", "imageUpdates.policies[0].select.regex"),
        ("{}", "imageUpdates.policies[0].select"),
    ] {
        std::fs::write(
            &cfg,
            format!(
                "apiVersion: sealgate.dev/v1alpha1\nkind: GateConfig\nsource: {{url: file:///nowhere.git, ref: main}}\npolicies: [policy.yaml]\ntarget: {{promote: {{branch: deploy}}}}\n{}",
                updates_yaml("ghcr.io/acme/web", select, "")
            ),
        )
        .unwrap();
        let r = run(sealgate().args(["run", "--once", "--config"]).arg(&cfg));
        assert_eq!(r.code, 2, "{r}");
        assert!(
            r.stderr.contains(&format!("gate.yaml: {field}: ")),
            "{field}: {r}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_policies_of_one_repository_share_one_listing_and_a_separate_branch_leaves_main_alone()
{
    let mut w = World::builder().start().await;
    let repo = "team/app";
    let image = format!("{}/{repo}", w.reg.addr);
    w.yaml.extra = format!(
        "imageUpdates:\n  commit: {{branch: sealgate/updates, author: {{name: bot, email: bot@example.com}}}}\n  policies:\n    - name: stable\n      image: {image}\n      select: {{semver: \"~1.0.0\"}}\n    - name: edge\n      image: {image}\n      select: {{semver: \">=1.0.0\"}}\n"
    );
    w.write_config();
    let tags = publish(
        &w,
        repo,
        &["1.0.0", "1.0.1", "1.1.0"],
        &["1.0.0", "1.0.1", "1.1.0"],
    )
    .await;
    let stable = app_yaml(&format!("{image}:1.0.0")).replace("\"app\"", "\"stable\"");
    let edge = app_yaml(&format!("{image}:1.0.0"))
        .replace("\"app\"", "\"edge\"")
        .replace("name: app ", "name: edge ");
    let c0 = w.git.commit(
        &[("deploy/stable.yaml", &stable), ("deploy/edge.yaml", &edge)],
        "two apps",
    );
    let listings = w.reg.count(&["/tags/list"]);
    let r = w.once();
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(
        w.reg.count(&["/tags/list"]),
        listings + 1,
        "one listing for both policies"
    );
    let s = r.json();
    let current: Vec<&str> = s["imageUpdates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["current"].as_str().unwrap())
        .collect();
    assert_eq!(
        current,
        [
            format!("1.0.1@{}", digest_of(&tags, "1.0.1")),
            format!("1.1.0@{}", digest_of(&tags, "1.1.0"))
        ]
    );
    // the update went to its own branch, on top of main; main and what the gate promoted
    // stay at the reviewed revision
    assert_eq!(w.git.head("main").as_deref(), Some(c0.as_str()));
    let branch = w.git.head("sealgate/updates").expect("the update branch");
    common::git::git(&w.git.work, &["fetch", "-q", "origin"]);
    let line = common::git::git(&w.git.work, &["rev-list", "--parents", "-n", "1", &branch]);
    assert!(line.ends_with(&c0), "{line}");
    assert!(
        w.git
            .show("sealgate/updates", "deploy/stable.yaml")
            .contains(&format!("{image}:1.0.1@"))
    );
    assert!(
        w.git
            .show("sealgate/updates", "deploy/edge.yaml")
            .contains(&format!("{image}:1.1.0@"))
    );
    assert_eq!(s["lastPromotedRevision"], c0.as_str());
    let msg = w.git.message(&branch);
    assert!(
        msg.contains("Sealgate-Image-Update: stable 1.0.0 -> 1.0.1 "),
        "{msg}"
    );
    assert!(
        msg.contains("Sealgate-Image-Update: edge 1.0.0 -> 1.1.0 "),
        "{msg}"
    );
}
