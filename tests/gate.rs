//! The standalone gate (`sealgate run`) end to end: real Git repositories served by a real
//! `git daemon`, a real `docker-registry`, images signed with `sealgate sign`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::gate::{World, assert_condition, condition, sign};
use common::git::git;
use common::*;

/// The world of these tests: an unsigned image too, `interval: 1m`, `listen` on a free port.
async fn world() -> World {
    World::builder()
        .unsigned_image()
        .source("  interval: 1m\n")
        .extra("listen: 127.0.0.1:0\n")
        .start()
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn promotes_pinned_then_blocks_then_promotes_again() {
    let w = world().await;
    let c1 = w.git.commit(
        &[
            ("deploy/web.yaml", &w.app(&w.signed)),
            ("deploy/README.md", "not a manifest\n"),
            ("other/ignored.yaml", "kind: Pod\n"),
        ],
        "web v1",
    );

    // 1. all signed → promoted, digest-pinned, formatting kept, trailers
    let r = w.once();
    assert_eq!(r.code, 0, "{r}");
    let s = r.json();
    assert_condition(&s, "Ready", "True", "Succeeded");
    assert_condition(&s, "Promoted", "True", "Promoted");
    assert_eq!(s["lastPromotedRevision"], c1);
    let head = w.git.head("deploy/prod").expect("deploy branch");
    let promoted = w.git.show("deploy/prod", "web.yaml");
    let digest = w.reg.get(
        "/v2/team/web/manifests/v1",
        "application/vnd.oci.image.manifest.v1+json",
    );
    let digest = sha256(&digest);
    assert_eq!(
        promoted,
        w.app(&format!("{}@{digest}", w.signed)).trim_end(),
        "only the image scalar changes"
    );
    assert_eq!(w.git.show("deploy/prod", "README.md"), "not a manifest");
    let msg = w.git.message(&head);
    assert!(msg.contains(&format!("Sealgate-Source: {c1}")), "{msg}");
    assert!(msg.contains("Sealgate-Policy: sha256:"), "{msg}");
    assert!(msg.contains("Sealgate-Decision: pass"), "{msg}");

    // 2. again: nothing new (idempotent, from the trailer)
    let r = w.once();
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(condition(&r.json(), "Promoted").1, "AlreadyPromoted");
    assert_eq!(w.git.head("deploy/prod").unwrap(), head);

    // 3. an unsigned image → blocked; the deploy branch keeps the last good revision
    let c2 = w.git.commit(
        &[(
            "deploy/debug.yaml",
            &w.app(&w.unsigned).replace("web", "debug"),
        )],
        "add debug",
    );
    let r = w.once();
    assert_eq!(r.code, 1, "{r}");
    let s = r.json();
    assert_condition(&s, "Ready", "False", "NoSignature");
    assert_eq!(condition(&s, "ImagesVerified").0, "False");
    assert_eq!(s["lastAttemptedRevision"], c2);
    assert_eq!(s["lastPromotedRevision"], serde_json::Value::Null, "{s:#}");
    assert_eq!(s["imagesBlocked"], 1);
    assert_eq!(s["images"][0]["verdict"], "fail", "blocked first: {s:#}");
    assert_eq!(w.git.head("deploy/prod").unwrap(), head);

    // 4. the image gets signed → promoted
    sign(&w.reg, &w.key, &w.unsigned);
    let r = w.once();
    assert_eq!(r.code, 0, "{r}");
    let log = w.git.log("deploy/prod");
    assert_eq!(log.len(), 2, "one promotion per passing revision");
    assert!(
        w.git
            .message(&log[0])
            .contains(&format!("Sealgate-Source: {c2}"))
    );
    assert!(w.git.show("deploy/prod", "debug.yaml").contains("@sha256:"));
    // the table form
    let r = run(sealgate()
        .args(["run", "--once", "--config"])
        .arg(&w.config));
    assert_eq!(r.code, 0, "{r}");
    assert!(
        r.stdout.contains("Ready") && r.stdout.contains("AlreadyPromoted"),
        "{r}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_remote_and_registry_down() {
    let w = world().await;
    w.git
        .commit(&[("deploy/web.yaml", &w.app(&w.signed))], "web");
    // registry down: blocked as unverifiable, nothing promoted
    let cfg = std::fs::read_to_string(&w.config).unwrap();
    let down = format!("127.0.0.1:{}", free_port());
    std::fs::write(&w.config, cfg.replace(&w.reg.addr, &down)).unwrap();
    w.git.commit(
        &[(
            "deploy/web.yaml",
            &w.app(&w.signed.replace(&w.reg.addr, &down)),
        )],
        "registry moved",
    );
    let r = w.once();
    assert_eq!(r.code, 1, "{r}");
    let s = r.json();
    assert_condition(&s, "Ready", "False", "RegistryUnavailable");
    assert_eq!(s["images"][0]["verdict"], "unverifiable");
    assert!(w.git.head("deploy/prod").is_none());

    // git remote unreachable: Stalled with a reason, nothing promoted
    let gone = format!("git://127.0.0.1:{}/origin.git", free_port());
    std::fs::write(&w.config, cfg.replace(&w.git.url, &gone)).unwrap();
    let r = w.once();
    assert_eq!(r.code, 1, "{r}");
    let s = r.json();
    assert_condition(&s, "Stalled", "True", "GitFetchFailed");
    assert_eq!(condition(&s, "Ready").0, "False");
}

#[tokio::test(flavor = "multi_thread")]
async fn force_push_is_reported() {
    let w = world().await;
    w.git
        .commit(&[("deploy/web.yaml", &w.app(&w.signed))], "one");
    assert_eq!(w.once().code, 0);
    // rewrite history: a new root commit force-pushed to main
    git(&w.git.work, &["checkout", "-q", "--orphan", "rewritten"]);
    git(&w.git.work, &["commit", "-q", "-m", "rewritten"]);
    git(
        &w.git.work,
        &["push", "-q", "-f", "origin", "rewritten:main"],
    );
    let r = w.once();
    assert_eq!(r.code, 0, "{r}");
    let s = r.json();
    assert!(
        s["forcePush"]
            .as_str()
            .unwrap_or_default()
            .contains("force-pushed"),
        "{s:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn warm_reconcile_makes_no_registry_request_for_pinned_images() {
    let w = world().await;
    let digest = sha256(&w.reg.get(
        "/v2/team/web/manifests/v1",
        "application/vnd.oci.image.manifest.v1+json",
    ));
    let pinned = format!("{}@{digest}", w.signed);
    w.git
        .commit(&[("deploy/web.yaml", &w.app(&pinned))], "pinned");
    let config = sealgate::standalone::config::load(&w.config).unwrap();
    let gate = std::sync::Arc::new(sealgate::standalone::Gate::new(config).unwrap());
    let now = sealgate::base::time::now();
    let first = gate.reconcile(now).await;
    assert!(
        matches!(first, sealgate::standalone::Outcome::Promoted { .. }),
        "{first:?}"
    );
    let cold = gate.registry_requests();
    assert!(cold > 0);
    let second = gate.reconcile(now).await;
    assert_eq!(second, sealgate::standalone::Outcome::UpToDate);
    assert_eq!(
        gate.registry_requests(),
        cold,
        "warm: zero registry requests"
    );
    // a new revision with the same images: verified again, from the evidence cache
    let c2 = w
        .git
        .commit(&[("deploy/NOTES.md", "release notes\n")], "notes");
    let third = gate.reconcile(now).await;
    assert!(
        matches!(third, sealgate::standalone::Outcome::Promoted { .. }),
        "{third:?}"
    );
    assert_eq!(
        gate.status().last_promoted_revision.as_deref(),
        Some(c2.as_str())
    );
    assert_eq!(
        gate.registry_requests(),
        cold,
        "cached evidence: zero registry requests"
    );
    assert!(gate.cache.stats().0 > 0, "cache hits");
}

/// Regression: `sealgate_image_verdicts` counts every image of the report (the status keeps
/// only the first 50) with the report's verdict labels (never the status's `… (warn)`).
#[tokio::test(flavor = "multi_thread")]
async fn image_verdict_metrics_count_every_image_with_typed_labels() {
    let w = world().await;
    // warn mode: 60 images that do not exist are reported, never block
    let policy = std::fs::read_to_string(w.path("policy.yaml")).unwrap();
    std::fs::write(
        w.path("policy.yaml"),
        policy.replace("spec:\n", "spec:\n  mode: warn\n"),
    )
    .unwrap();
    let pods: String = (0..60)
        .map(|i| {
            format!(
                "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}}}\nspec:\n  containers:\n    - name: c\n      image: {}/team/missing{i}:v1\n",
                w.reg.addr
            )
        })
        .collect();
    w.git.commit(&[("deploy/pods.yaml", &pods)], "sixty pods");
    let config = sealgate::standalone::config::load(&w.config).unwrap();
    let gate = std::sync::Arc::new(sealgate::standalone::Gate::new(config).unwrap());
    let outcome = gate.reconcile(sealgate::base::time::now()).await;
    assert!(
        matches!(outcome, sealgate::standalone::Outcome::Promoted { .. }),
        "{outcome:?}"
    );
    let s = gate.status();
    assert_eq!(s.images_total, 60);
    assert_eq!(s.images.len(), sealgate::standalone::MAX_STATUS_IMAGES);
    assert_eq!(s.images[0].verdict, "unverifiable (warn)");
    assert_eq!(
        gate.image_verdicts(),
        [("unverifiable".to_string(), "ImageNotFound".to_string(), 60)]
    );
}
