//! The standalone gate (`sealgate run`) end to end: real Git repositories served by a real
//! `git daemon`, a real `docker-registry`, images signed with `sealgate sign`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;

use common::git::{GitServer, git};
use common::*;

const APP: &str = "# the web app\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web   # keep this name\n  namespace: apps\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: IMAGE   # pinned by sealgate\n          ports: [{containerPort: 8080}]\n";

struct World {
    reg: TestRegistry,
    git: GitServer,
    _dir: tempfile::TempDir,
    signed: String,
    unsigned: String,
    key: PathBuf,
    config: PathBuf,
}

impl World {
    async fn new(extra_config: &str) -> Self {
        let reg = TestRegistry::start();
        push_image(&oci(), &reg, "team/web", "v1").await;
        push_image(&oci(), &reg, "team/debug", "latest").await;
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = keypair(dir.path(), "ci");
        let signed = reg.reference("team/web", "v1");
        let unsigned = reg.reference("team/debug", "latest");
        let r = run(sealgate()
            .env("COSIGN_PASSWORD", "pw")
            .arg("sign")
            .arg("--key")
            .arg(&key)
            .args(["--insecure-registry", &reg.addr, &signed]));
        assert_eq!(r.code, 0, "{r}");
        write_policy(dir.path(), "**", &[("ci", &public)], None, "");
        let git = GitServer::daemon();
        let config = dir.path().join("gate.yaml");
        std::fs::write(
            &config,
            format!(
                "apiVersion: sealgate.dev/v1alpha1\nkind: GateConfig\nsource:\n  url: {}\n  ref: main\n  path: deploy\n  interval: 1m\npolicies: [policy.yaml]\nregistry: {{insecure: [\"{}\"]}}\ntarget:\n  promote:\n    branch: deploy/prod\n    author: {{name: sealgate, email: gate@example.com}}\nstateDir: state\nlisten: 127.0.0.1:0\n{extra_config}",
                git.url, reg.addr
            ),
        )
        .unwrap();
        Self {
            reg,
            git,
            _dir: dir,
            signed,
            unsigned,
            key,
            config,
        }
    }

    fn app(&self, image: &str) -> String {
        APP.replace("IMAGE", image)
    }

    fn once(&self) -> Run {
        run(sealgate()
            .args(["run", "--once", "--json", "--config"])
            .arg(&self.config))
    }
}

fn condition(status: &serde_json::Value, kind: &str) -> (String, String) {
    let c = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .unwrap_or_else(|| panic!("no condition {kind} in {status:#}"));
    (
        c["status"].as_str().unwrap().to_string(),
        c["reason"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn promotes_pinned_then_blocks_then_promotes_again() {
    let w = World::new("").await;
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
    assert_eq!(condition(&s, "Ready"), ("True".into(), "Succeeded".into()));
    assert_eq!(
        condition(&s, "Promoted"),
        ("True".into(), "Promoted".into())
    );
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
    assert_eq!(
        condition(&s, "Ready"),
        ("False".into(), "NoSignature".into())
    );
    assert_eq!(condition(&s, "ImagesVerified").0, "False");
    assert_eq!(s["lastAttemptedRevision"], c2);
    assert_eq!(s["lastPromotedRevision"], serde_json::Value::Null, "{s:#}");
    assert_eq!(s["imagesBlocked"], 1);
    assert_eq!(s["images"][0]["verdict"], "fail", "blocked first: {s:#}");
    assert_eq!(w.git.head("deploy/prod").unwrap(), head);

    // 4. the image gets signed → promoted
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "pw")
        .arg("sign")
        .arg("--key")
        .arg(&w.key)
        .args(["--insecure-registry", &w.reg.addr, &w.unsigned]));
    assert_eq!(r.code, 0, "{r}");
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
    let w = World::new("").await;
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
    assert_eq!(
        condition(&s, "Ready"),
        ("False".into(), "RegistryUnavailable".into())
    );
    assert_eq!(s["images"][0]["verdict"], "unverifiable");
    assert!(w.git.head("deploy/prod").is_none());

    // git remote unreachable: Stalled with a reason, nothing promoted
    let gone = format!("git://127.0.0.1:{}/origin.git", free_port());
    std::fs::write(&w.config, cfg.replace(&w.git.url, &gone)).unwrap();
    let r = w.once();
    assert_eq!(r.code, 1, "{r}");
    let s = r.json();
    assert_eq!(
        condition(&s, "Stalled"),
        ("True".into(), "GitFetchFailed".into())
    );
    assert_eq!(condition(&s, "Ready").0, "False");
}

#[tokio::test(flavor = "multi_thread")]
async fn force_push_is_reported() {
    let w = World::new("").await;
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
    let w = World::new("").await;
    let digest = sha256(&w.reg.get(
        "/v2/team/web/manifests/v1",
        "application/vnd.oci.image.manifest.v1+json",
    ));
    let pinned = format!("{}@{digest}", w.signed);
    w.git
        .commit(&[("deploy/web.yaml", &w.app(&pinned))], "pinned");
    let config = sealgate::config::load(&w.config).unwrap();
    let gate = std::sync::Arc::new(sealgate::daemon::Gate::new(config).unwrap());
    let now = sealgate::time::now();
    let first = gate.reconcile(now).await;
    assert!(
        matches!(first, sealgate::daemon::Outcome::Promoted { .. }),
        "{first:?}"
    );
    let cold = gate.registry_requests();
    assert!(cold > 0);
    let second = gate.reconcile(now).await;
    assert_eq!(second, sealgate::daemon::Outcome::UpToDate);
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
        matches!(third, sealgate::daemon::Outcome::Promoted { .. }),
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
