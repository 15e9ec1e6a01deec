//! The standalone gate's flows end to end, black-box through the `sealgate` binary: signed
//! source commits (real `git commit -S` with SSH and OpenPGP keys), approvals (`sealgate
//! approve` and real `git tag -s`), a push race on the deploy branch (a `pre-receive` hook
//! that lands another commit first), a crash between commit and push (failpoint), and the
//! daemon (HTTP status/metrics/readiness, a signed GitHub webhook, `sealgate status`,
//! SIGTERM). Every test has its own registry, `git daemon` and temporary directories.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::gate::{DEPLOY, World, assert_condition, condition};
use common::git::git;
use common::gitsig::{GitRepo, GpgHome, SshKey, ssh_keygen, write_allowed_signers};
use common::*;

/// A `git daemon` origin; `source_extra`: more lines under `source:` (indented two spaces);
/// `extra`: more top-level keys. `source.interval` and `listen` are not set unless given.
async fn world(source_extra: &str, extra: &str) -> World {
    World::builder()
        .source(source_extra)
        .extra(extra)
        .start()
        .await
}

// ----------------------------------------------------------------------------------------
// 1. Commit verification
// ----------------------------------------------------------------------------------------

const VERIFY_SSH: &str = "  verifyCommits:\n    allowedSignersFile: allowed_signers\n";

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_head_commit_is_not_promoted() {
    let w = world(VERIFY_SSH, "").await;
    let alice = ssh_keygen(w.dir.path(), "alice", "ed25519");
    write_allowed_signers(
        w.dir.path(),
        "allowed_signers",
        &[alice.allowed_signers_line("alice@example.com", "")],
    );
    // an earlier signed commit does not vouch for the unsigned head
    w.commit_with(w.work().git_ssh(&alice), "signed");
    let head = w.commit("unsigned on top");
    let before = w.manifest_requests();

    let r = w.once();
    assert_eq!(r.code, 1, "{r}");
    let s = r.json();
    assert_condition(&s, "Ready", "False", "CommitNotSigned");
    assert_condition(&s, "SourceVerified", "False", "CommitNotSigned");
    assert!(
        condition(&s, "SourceVerified")
            .2
            .contains(&format!("{head} is not signed")),
        "{s:#}"
    );
    assert_condition(&s, "ImagesVerified", "False", "SourceNotVerified");
    assert_condition(&s, "Promoted", "False", "CommitNotSigned");
    assert_eq!(s["lastAttemptedRevision"], head);
    assert_eq!(s["lastPromotedRevision"], serde_json::Value::Null);
    assert_eq!(w.deploy_head(), None, "nothing promoted");
    assert_eq!(
        w.manifest_requests(),
        before,
        "an unverified source is never read for images"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ssh_signed_commits_promote_only_allowed_signers() {
    let w = world(VERIFY_SSH, "").await;
    let alice = ssh_keygen(w.dir.path(), "alice", "ed25519");
    let mallory = ssh_keygen(w.dir.path(), "mallory", "ed25519");
    let allowed = write_allowed_signers(
        w.dir.path(),
        "allowed_signers",
        &[alice.allowed_signers_line("alice@example.com", "")],
    );

    // signed by a key in allowed_signers → promoted
    let c1 = w.commit_with(w.work().git_ssh(&alice), "by alice");
    assert!(
        w.work().git_verifies_commit(&c1, Some(&allowed), None),
        "git itself accepts the commit"
    );
    let r = w.once();
    assert_eq!(r.code, 0, "{r}");
    let s = r.json();
    assert_condition(&s, "Ready", "True", "Succeeded");
    assert_condition(&s, "SourceVerified", "True", "CommitSignatureVerified");
    assert!(
        condition(&s, "SourceVerified")
            .2
            .contains("signed by alice@example.com"),
        "{s:#}"
    );
    assert_eq!(s["lastPromotedRevision"], c1);
    let promoted = w.deploy_head().expect("deploy branch");
    assert_eq!(w.promotions_of(&c1), 1);
    assert!(w.git.show(DEPLOY, "web.yaml").contains("@sha256:"));

    // signed by a key that is not in allowed_signers → blocked, the branch stays
    let c2 = w.commit_with(w.work().git_ssh(&mallory), "by mallory");
    assert!(!w.work().git_verifies_commit(&c2, Some(&allowed), None));
    let r = w.once();
    assert_eq!(r.code, 1, "{r}");
    let s = r.json();
    assert_condition(&s, "Ready", "False", "CommitSignerNotAllowed");
    assert_condition(&s, "SourceVerified", "False", "CommitSignerNotAllowed");
    let message = condition(&s, "SourceVerified").2;
    assert!(
        message.contains(&c2) && message.contains(&mallory.fingerprint()),
        "names the commit and the key: {message}"
    );
    assert_condition(&s, "Promoted", "False", "CommitSignerNotAllowed");
    assert_eq!(s["lastAttemptedRevision"], c2);
    assert_eq!(
        w.deploy_head().unwrap(),
        promoted,
        "deploy branch unchanged"
    );
    assert_eq!(w.promotions_of(&c2), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn gpg_signed_commit_is_promoted_with_gpg_key_files() {
    let w = world(
        "  verifyCommits:\n    allowedSignersFile: allowed_signers\n    gpgKeyFiles: [keys/release.asc]\n",
        "",
    )
    .await;
    let alice = ssh_keygen(w.dir.path(), "alice", "ed25519");
    write_allowed_signers(
        w.dir.path(),
        "allowed_signers",
        &[alice.allowed_signers_line("alice@example.com", "")],
    );
    // gpg-agent's socket lives in GNUPGHOME: keep the path short
    let gpg_dir = tempfile::Builder::new().prefix("g").tempdir().unwrap();
    let home = GpgHome::new(&gpg_dir.path().join("h"));
    let fpr = home.gen_key("Release Bot <release@example.com>", "ed25519", "never");
    std::fs::create_dir_all(w.path("keys")).unwrap();
    std::fs::write(w.path("keys/release.asc"), home.export(&fpr)).unwrap();

    let c1 = w.commit_with(w.work().git_gpg(&home, &fpr), "release signed");
    let raw = String::from_utf8(w.work().cat_file("commit", &c1)).unwrap();
    assert!(raw.contains("-----BEGIN PGP SIGNATURE-----"), "{raw}");
    let r = w.once();
    assert_eq!(r.code, 0, "{r}");
    let s = r.json();
    assert_condition(&s, "SourceVerified", "True", "CommitSignatureVerified");
    assert!(
        condition(&s, "SourceVerified")
            .2
            .contains("release@example.com"),
        "{s:#}"
    );
    assert_condition(&s, "Ready", "True", "Succeeded");
    assert_eq!(s["lastPromotedRevision"], c1);
    assert_eq!(w.promotions_of(&c1), 1);

    // a key that is not in gpgKeyFiles → blocked
    let other = home.gen_key("Intruder <intruder@example.com>", "ed25519", "never");
    let c2 = w.commit_with(w.work().git_gpg(&home, &other), "intruder signed");
    let r = w.once();
    assert_eq!(r.code, 1, "{r}");
    let s = r.json();
    assert_condition(&s, "SourceVerified", "False", "CommitSignerNotAllowed");
    assert_eq!(s["lastAttemptedRevision"], c2);
    assert_eq!(w.promotions_of(&c2), 0);
}

// ----------------------------------------------------------------------------------------
// 2. Approvals
// ----------------------------------------------------------------------------------------

fn approve(w: &World, key: &SshKey, sha: &str) -> Run {
    run(sealgate()
        .args(["approve", "--repo", &w.git.url, "--key"])
        .arg(&key.private)
        .args([
            "--name",
            "Release Manager",
            "--email",
            "rm@example.com",
            sha,
        ]))
}

#[tokio::test(flavor = "multi_thread")]
async fn approvals_gate_promotion() {
    let w = world(
        "",
        "approval: {required: true, approversFile: approvers_allowed_signers}\n",
    )
    .await;
    let approver = ssh_keygen(w.dir.path(), "approver", "ed25519");
    let mallory = ssh_keygen(w.dir.path(), "mallory", "ed25519");
    let approvers = write_allowed_signers(
        w.dir.path(),
        "approvers_allowed_signers",
        &[approver.allowed_signers_line("release@example.com", "")],
    );

    // a passing revision waits: exit 3, the deploy branch is untouched
    let c1 = w.commit("v1");
    let r = w.once();
    assert_eq!(r.code, 3, "{r}");
    let s = r.json();
    assert_condition(&s, "ImagesVerified", "True", "Succeeded");
    assert_condition(&s, "AwaitingApproval", "True", "AwaitingApproval");
    assert!(
        condition(&s, "AwaitingApproval")
            .2
            .contains(&format!("no approval tag sealgate/approved/{c1}")),
        "{s:#}"
    );
    assert_condition(&s, "Ready", "False", "AwaitingApproval");
    assert_condition(&s, "Promoted", "False", "AwaitingApproval");
    assert_eq!(s["lastVerifiedRevision"], c1);
    assert_eq!(w.deploy_head(), None);

    // the release manager approves: a signed tag that git itself verifies
    let r = approve(&w, &approver, &c1);
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stdout.contains(&format!("sealgate/approved/{c1}")), "{r}");
    let tag = format!("sealgate/approved/{c1}");
    assert_eq!(git(&w.git.bare, &["cat-file", "-t", &tag]), "tag");
    assert_eq!(git(&w.git.bare, &["rev-parse", &format!("{tag}^{{}}")]), c1);
    let origin = GitRepo {
        dir: w.git.bare.clone(),
    };
    assert!(
        origin.git_verifies_tag(&tag, Some(&approvers), None),
        "git verify-tag accepts the approval"
    );

    let r = w.once();
    assert_eq!(r.code, 0, "{r}");
    let s = r.json();
    assert_condition(&s, "AwaitingApproval", "False", "Approved");
    assert!(
        condition(&s, "AwaitingApproval")
            .2
            .contains("approved by release@example.com"),
        "{s:#}"
    );
    assert_condition(&s, "Promoted", "True", "Promoted");
    assert_condition(&s, "Ready", "True", "Succeeded");
    let promoted = w.deploy_head().expect("promoted");
    assert_eq!(w.promotions_of(&c1), 1);

    // a new head: the approval of the older commit does not carry over
    let c2 = w.commit("v2");
    let r = w.once();
    assert_eq!(r.code, 3, "{r}");
    let s = r.json();
    assert_condition(&s, "AwaitingApproval", "True", "AwaitingApproval");
    assert!(
        condition(&s, "AwaitingApproval")
            .2
            .contains(&format!("sealgate/approved/{c2}")),
        "{s:#}"
    );
    assert_eq!(w.deploy_head().unwrap(), promoted);

    // a real `git tag -s` (gpg.format=ssh) by a key that is not an approver
    let bad = format!("sealgate/approved/{c2}");
    common::gitsig::run(w.work().git_ssh(&mallory).args([
        "tag",
        "-s",
        &bad,
        "-m",
        "approved (not really)",
        &c2,
    ]));
    git(
        &w.git.work,
        &["push", "-q", "origin", &format!("refs/tags/{bad}")],
    );
    let r = w.once();
    assert_eq!(r.code, 3, "{r}");
    let s = r.json();
    let (state, reason, message) = condition(&s, "AwaitingApproval");
    assert_eq!(
        (state.as_str(), reason.as_str()),
        ("True", "AwaitingApproval")
    );
    assert!(
        message.contains(&format!("{bad} is not signed by an approver"))
            && message.contains(&mallory.fingerprint()),
        "says why: {message}"
    );
    assert_eq!(w.deploy_head().unwrap(), promoted, "still not promoted");
    assert_eq!(w.promotions_of(&c2), 0);

    // approvals are never overwritten, not even by a real approver
    let r = approve(&w, &approver, &c2);
    assert_ne!(r.code, 0, "{r}");
    assert!(r.stderr.contains("already exists"), "{r}");
}

// ----------------------------------------------------------------------------------------
// 3. Push race on the deploy branch
// ----------------------------------------------------------------------------------------

/// Installs a `pre-receive` hook in the origin. On the first push to the deploy branch only
/// (a marker file), it lands another commit on that branch first, so receive-pack's ref
/// update of that push fails. Every pushed ref is logged in `hook-calls`. Returns the file
/// that receives the other commit's id.
fn install_racing_hook(w: &World) -> PathBuf {
    let marker = w.path("race-done");
    let other = w.path("other-commit");
    let calls = w.path("hook-calls");
    let hook = w.git.bare.join("hooks/pre-receive");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(
        &hook,
        format!(
            r#"#!/bin/sh
set -e
while read old new ref; do
  echo "$ref" >> '{calls}'
  if [ "$ref" = refs/heads/{DEPLOY} ] && [ ! -e '{marker}' ]; then
    : > '{marker}'
    # leave receive-pack's quarantine: this commit lands for real, before the push
    unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
    export GIT_AUTHOR_NAME=Other GIT_AUTHOR_EMAIL=other@example.com
    export GIT_COMMITTER_NAME=Other GIT_COMMITTER_EMAIL=other@example.com
    tree=$(git rev-parse "$old^{{tree}}")
    commit=$(git commit-tree "$tree" -p "$old" -m "hotfix: someone else was faster")
    git update-ref refs/heads/{DEPLOY} "$commit" "$old"
    echo "$commit" > '{other}'
  fi
done
exit 0
"#,
            calls = calls.display(),
            marker = marker.display(),
            other = other.display(),
        ),
    )
    .unwrap();
    make_executable(&hook);
    other
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Pushes to the deploy branch the origin's `pre-receive` hook saw.
fn deploy_pushes(w: &World) -> usize {
    std::fs::read_to_string(w.path("hook-calls"))
        .unwrap_or_default()
        .lines()
        .filter(|l| *l == format!("refs/heads/{DEPLOY}"))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn push_race_rebuilds_on_top_of_the_other_commit() {
    let w = world("", "").await;
    let c1 = w.commit("v1");
    assert_eq!(w.once().code, 0);
    let first = w.deploy_head().expect("first promotion");

    let other_file = install_racing_hook(&w);
    let c2 = w.commit("v2");
    let r = w.once();
    assert_eq!(r.code, 0, "{r}");
    let s = r.json();
    assert_condition(&s, "Promoted", "True", "Promoted");
    assert_eq!(s["lastPromotedRevision"], c2);
    let other = std::fs::read_to_string(&other_file)
        .expect("the hook raced the push")
        .trim()
        .to_string();

    let log = w.git.log(DEPLOY);
    assert_eq!(log.len(), 3, "promotion, the other commit, first promotion");
    assert_eq!(log[1], other, "our promotion's parent is the other commit");
    assert_eq!(log[2], first);
    assert_eq!(
        git(&w.git.bare, &["rev-parse", &format!("{}^", log[0])]),
        other
    );
    assert!(
        w.git
            .message(&log[0])
            .contains(&format!("Sealgate-Source: {c2}"))
    );
    assert_eq!(s["lastPromotionCommit"], log[0]);
    assert_eq!(w.promotions_of(&c1), 1);
    assert_eq!(w.promotions_of(&c2), 1);
    assert_eq!(deploy_pushes(&w), 2, "one refused push, one retry");

    // and nothing more on the next reconcile
    let r = w.once();
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(w.deploy_head().unwrap(), log[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn declined_push_is_not_retried() {
    let w = world("", "").await;
    let c1 = w.commit("v1");
    let calls = w.path("hook-calls");
    let hook = w.git.bare.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nwhile read old new ref; do echo \"$ref\" >> '{}'; done\necho 'protected branch: you are not allowed to push' >&2\nexit 1\n",
            calls.display()
        ),
    )
    .unwrap();
    make_executable(&hook);
    let r = w.once();
    assert_eq!(r.code, 1, "{r}");
    let s = r.json();
    assert_condition(&s, "Ready", "False", "PromotionFailed");
    let (_, _, message) = condition(&s, "Stalled");
    assert!(message.contains("declined"), "{message}");
    assert_eq!(deploy_pushes(&w), 1, "a declined push is not retried");
    assert_eq!(w.deploy_head(), None);
    assert_eq!(w.promotions_of(&c1), 0);
}

// ----------------------------------------------------------------------------------------
// 4. Crash between commit and push
// ----------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn crash_between_commit_and_push_promotes_exactly_once() {
    let w = world("", "").await;
    let crash = [("SEALGATE_FAILPOINT", "promote-before-push")];

    // the deploy branch does not exist yet
    let c1 = w.commit("v1");
    let r = w.once_env(&crash);
    assert_eq!(r.code, 99, "{r}");
    assert_eq!(w.deploy_head(), None, "nothing pushed");
    let r = w.once();
    assert_eq!(r.code, 0, "{r}");
    assert_condition(&r.json(), "Promoted", "True", "Promoted");
    let first = w.deploy_head().expect("promoted");
    assert_eq!(w.git.log(DEPLOY), vec![first.clone()]);
    let r = w.once();
    assert_eq!(r.code, 0, "{r}");
    assert_condition(&r.json(), "Promoted", "True", "AlreadyPromoted");
    assert_eq!(w.deploy_head().unwrap(), first);

    // the branch exists
    let c2 = w.commit("v2");
    let r = w.once_env(&crash);
    assert_eq!(r.code, 99, "{r}");
    assert_eq!(w.deploy_head().unwrap(), first, "deploy branch unchanged");
    let r = w.once();
    assert_eq!(r.code, 0, "{r}");
    assert_condition(&r.json(), "Promoted", "True", "Promoted");
    let log = w.git.log(DEPLOY);
    assert_eq!(log.len(), 2, "exactly one more promotion commit");
    assert_eq!(log[1], first);
    assert_eq!(w.promotions_of(&c1), 1);
    assert_eq!(w.promotions_of(&c2), 1);
    let r = w.once();
    assert_eq!(r.code, 0, "{r}");
    assert_condition(&r.json(), "Promoted", "True", "AlreadyPromoted");
    assert_eq!(w.git.log(DEPLOY), log, "no new commit");
}

// ----------------------------------------------------------------------------------------
// 5. Daemon mode
// ----------------------------------------------------------------------------------------

const SECRET: &str = "s3cr3t-webhook";

/// `sealgate run` (no --once) as a child process, killed on drop.
struct Daemon {
    child: Child,
    log: PathBuf,
    base: String,
    client: reqwest::Client,
}

impl Daemon {
    fn start(w: &World, port: u16) -> Self {
        let log = w.path("daemon.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = sealgate()
            .args(["run", "--config"])
            .arg(&w.config)
            .env("SEALGATE_WEBHOOK_SECRET", SECRET)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Self {
            child,
            log,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Status code of `GET path`, or `None` while nothing listens.
    async fn get_status(&self, path: &str) -> Option<u16> {
        self.client
            .get(self.url(path))
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    }

    async fn get_text(&self, path: &str) -> String {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        r.text().await.unwrap()
    }

    async fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.get_text("/status").await).unwrap()
    }

    /// Polls `GET path` until it answers `code` (panics with the log after `within`).
    async fn wait_for(&mut self, path: &str, code: u16, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if self.get_status(path).await == Some(code) {
                return;
            }
            if let Ok(Some(exit)) = self.child.try_wait() {
                panic!("the daemon exited ({exit}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "GET {path} never answered {code}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls `/status` until `ok` holds for it; the matching document.
    async fn wait_status(
        &self,
        within: Duration,
        ok: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let s = self.status().await;
            if ok(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "status never matched:\n{s:#}\n--- log\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn hook(&self, body: &[u8], signature: &str) -> u16 {
        self.client
            .post(self.url("/hooks/git"))
            .header("X-GitHub-Event", "push")
            .header("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
            .header("Content-Type", "application/json")
            .header("X-Hub-Signature-256", signature)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    fn terminate(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM");
    }

    /// Waits for the process to exit; its exit code.
    async fn wait_exit(&mut self, within: Duration) -> i32 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                return exit
                    .code()
                    .unwrap_or_else(|| panic!("killed by a signal: {exit}\n{}", self.log()));
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not exit within {within:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `X-Hub-Signature-256` of `body` (HMAC-SHA256 with the webhook secret).
fn github_signature(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit as _, Mac as _};
    let mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .unwrap()
        .chain_update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn push_event(before: &str, after: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "ref": "refs/heads/main",
        "before": before,
        "after": after,
        "repository": {"full_name": "acme/apps"},
        "pusher": {"name": "dev"},
    }))
    .unwrap()
}

fn daemon_config(port: u16) -> String {
    format!("listen: 127.0.0.1:{port}\nwebhook: {{secretEnv: SEALGATE_WEBHOOK_SECRET}}\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_serves_status_metrics_and_reconciles_on_webhook() {
    let port = free_port();
    let w = world("  interval: 1h\n", &daemon_config(port)).await;
    let c1 = w.commit("v1");
    let mut d = Daemon::start(&w, port);

    // ready once the first reconcile completed: c1 promoted
    d.wait_for("/readyz", 200, Duration::from_secs(60)).await;
    assert_eq!(d.get_text("/healthz").await, "ok");
    let s = d.status().await;
    assert_eq!(s["lastPromotedRevision"], c1, "{s:#}");
    assert_condition(&s, "Ready", "True", "Succeeded");
    assert_condition(&s, "Promoted", "True", "Promoted");
    let first = w.deploy_head().expect("promoted");
    assert_eq!(s["lastPromotionCommit"], first);

    let metrics = d.get_text("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"sealgate_reconciles_total{result="promoted"} 1"#),
        "{metrics}"
    );
    let registry_lines: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("sealgate_registry_requests_total{"))
        .collect();
    assert!(
        registry_lines
            .iter()
            .any(|l| l.contains(&format!(r#"registry="{}""#, w.reg.addr))
                && l.contains(r#"class="2xx""#)),
        "{metrics}"
    );
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");

    // a new commit; a webhook with a bad signature is refused and triggers nothing
    let c2 = w.commit("v2");
    let body = push_event(&c1, &c2);
    assert_eq!(
        d.hook(&body, &github_signature("wrong secret", &body))
            .await,
        401
    );
    let tampered = push_event(&c1, &c1);
    assert_eq!(
        d.hook(&tampered, &github_signature(SECRET, &body)).await,
        401
    );
    let quiet_until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < quiet_until {
        let s = d.status().await;
        assert_eq!(s["lastAttemptedRevision"], c1, "no reconcile: {s:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // the signed push event reconciles at once (the interval is 1h)
    assert_eq!(d.hook(&body, &github_signature(SECRET, &body)).await, 202);
    let s = d
        .wait_status(Duration::from_secs(30), |s| {
            s["lastPromotedRevision"] == c2.as_str()
        })
        .await;
    assert_condition(&s, "Ready", "True", "Succeeded");
    let log = w.git.log(DEPLOY);
    assert_eq!(log.len(), 2);
    assert_eq!(log[1], first);
    assert_eq!(s["lastPromotionCommit"], log[0]);
    assert!(
        w.git
            .message(&log[0])
            .contains(&format!("Sealgate-Source: {c2}"))
    );
    let metrics = d.get_text("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"sealgate_reconciles_total{result="promoted"} 2"#),
        "{metrics}"
    );

    // `sealgate status` renders the table
    let r = run(sealgate().args(["status", "--url", &d.base]));
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stdout.contains("Ready"), "{r}");
    let ready = r
        .stdout
        .lines()
        .find(|l| l.starts_with("Ready"))
        .unwrap_or_else(|| panic!("no Ready row:\n{r}"));
    assert!(ready.contains("True") && ready.contains("Succeeded"), "{r}");
    assert!(r.stdout.contains(&c2[..12]), "{r}");

    // SIGTERM: a clean exit
    d.terminate();
    assert_eq!(d.wait_exit(Duration::from_secs(10)).await, 0, "{}", d.log());
    assert!(d.log().contains("sealgate: stopping"), "{}", d.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn daemon_sigterm_during_a_reconcile_exits_after_it() {
    let port = free_port();
    let mut w = world("  interval: 1h\n", &daemon_config(port)).await;
    // a registry that accepts connections and never answers: the reconcile takes the
    // registry timeout (3 s)
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hole_addr = hole.local_addr().unwrap().to_string();
    w.yaml.registry = ", timeout: 3s".into();
    w.write_config();
    let cfg = std::fs::read_to_string(&w.config).unwrap();
    std::fs::write(&w.config, cfg.replace(&w.reg.addr, &hole_addr)).unwrap();
    w.git.commit(
        &[(
            "deploy/web.yaml",
            &w.app(&format!("{hole_addr}/team/web:v1")),
        )],
        "slow registry",
    );
    let mut d = Daemon::start(&w, port);
    d.wait_for("/healthz", 200, Duration::from_secs(30)).await;
    assert_eq!(
        d.get_status("/readyz").await,
        Some(503),
        "the first reconcile is still running"
    );
    d.terminate();
    // the running reconcile finishes (≈3 s), then the daemon stops instead of sleeping 1h
    assert_eq!(d.wait_exit(Duration::from_secs(30)).await, 0, "{}", d.log());
    assert!(d.log().contains("sealgate: stopping"), "{}", d.log());
    drop(hole);
}
