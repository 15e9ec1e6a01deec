//! The standalone gate's test world, shared by the `gate*` test files: a real
//! `docker-registry` holding a signed image (and optionally an unsigned one), a `ci`
//! keypair and a policy trusting it, a Git origin ([`GitServer`]) and a gate config
//! (`gate.yaml`) in a temporary directory. [`World::builder`] chooses the origin (a
//! `git daemon` or a plain `file://` repository) and the config's extra YAML; a test that
//! serves the origin another way (smart HTTP, SSH) points the config at it with
//! [`World::set_url`].
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

use super::git::{GitServer, git};
use super::gitsig::GitRepo;
use super::{Run, TestRegistry, keypair, oci, push_image, run, sealgate, write_policy};

/// A Deployment whose only image is `IMAGE` (with comments that promotion must keep).
pub const APP: &str = "# the web app\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web   # keep this name\n  namespace: apps\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: IMAGE   # pinned by sealgate\n          ports: [{containerPort: 8080}]\n";

/// The branch the gate promotes to.
pub const DEPLOY: &str = "deploy/prod";

/// The variable parts of `gate.yaml`; change them and call [`World::write_config`].
#[derive(Debug, Clone, Default)]
pub struct ConfigYaml {
    /// `source.url`.
    pub url: String,
    /// More lines under `source:` (each indented two spaces, newline-terminated).
    pub source: String,
    /// More keys inside `registry: {insecure: [...]…}`, e.g. `, timeout: 3s`.
    pub registry: String,
    /// More top-level keys (newline-terminated).
    pub extra: String,
}

/// How to build a [`World`].
#[derive(Debug, Default)]
pub struct Builder {
    file_origin: bool,
    unsigned: bool,
    source: String,
    extra: String,
}

impl Builder {
    /// A plain `file://` origin instead of one served by `git daemon`.
    pub fn file_origin(mut self) -> Self {
        self.file_origin = true;
        self
    }

    /// Also push `team/debug:latest`, left unsigned ([`World::unsigned`]).
    pub fn unsigned_image(mut self) -> Self {
        self.unsigned = true;
        self
    }

    /// More lines under `source:` (indented two spaces, newline-terminated).
    pub fn source(mut self, yaml: &str) -> Self {
        self.source.push_str(yaml);
        self
    }

    /// More top-level keys (newline-terminated).
    pub fn extra(mut self, yaml: &str) -> Self {
        self.extra.push_str(yaml);
        self
    }

    pub async fn start(self) -> World {
        let reg = TestRegistry::start();
        push_image(&oci(), &reg, "team/web", "v1").await;
        let unsigned = if self.unsigned {
            push_image(&oci(), &reg, "team/debug", "latest").await;
            reg.reference("team/debug", "latest")
        } else {
            String::new()
        };
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = keypair(dir.path(), "ci");
        let signed = reg.reference("team/web", "v1");
        sign(&reg, &key, &signed);
        write_policy(dir.path(), "**", &[("ci", &public)], None, "");
        let git = if self.file_origin {
            GitServer::file()
        } else {
            GitServer::daemon()
        };
        let config = dir.path().join("gate.yaml");
        let yaml = ConfigYaml {
            url: git.url.clone(),
            source: self.source,
            registry: String::new(),
            extra: self.extra,
        };
        let w = World {
            reg,
            git,
            dir,
            signed,
            unsigned,
            key,
            config,
            yaml,
        };
        w.write_config();
        w
    }
}

/// Signs `image` with the cosign key `key` (password `pw`) through `sealgate sign`.
pub fn sign(reg: &TestRegistry, key: &std::path::Path, image: &str) {
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "pw")
        .arg("sign")
        .arg("--key")
        .arg(key)
        .args(["--insecure-registry", &reg.addr, image]));
    assert_eq!(r.code, 0, "{r}");
}

/// A registry with a signed image, a policy trusting its key, a Git origin and a gate
/// config (`gate.yaml`) in a temporary directory.
pub struct World {
    pub reg: TestRegistry,
    pub git: GitServer,
    pub dir: tempfile::TempDir,
    /// `ADDR/team/web:v1`, signed with [`World::key`].
    pub signed: String,
    /// `ADDR/team/debug:latest`, unsigned (empty unless [`Builder::unsigned_image`]).
    pub unsigned: String,
    /// The `ci` cosign key (password `pw`) the policy trusts.
    pub key: PathBuf,
    pub config: PathBuf,
    /// What [`World::write_config`] writes.
    pub yaml: ConfigYaml,
}

impl World {
    /// A `git daemon` origin; no extra config.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Writes `gate.yaml` from [`World::yaml`]. `source.interval` and `listen` are not
    /// set unless given in the extra YAML.
    pub fn write_config(&self) {
        let y = &self.yaml;
        std::fs::write(
            &self.config,
            format!(
                "apiVersion: sealgate.dev/v1alpha1\nkind: GateConfig\nsource:\n  url: {}\n  ref: main\n  path: deploy\n{}policies: [policy.yaml]\nregistry: {{insecure: [\"{}\"]{}}}\ntarget:\n  promote:\n    branch: {DEPLOY}\n    author: {{name: sealgate, email: gate@example.com}}\nstateDir: state\n{}",
                y.url, y.source, self.reg.addr, y.registry, y.extra
            ),
        )
        .unwrap();
    }

    /// Points `source.url` at `url` (the origin served another way) and rewrites the config.
    pub fn set_url(&mut self, url: &str) {
        self.yaml.url = url.to_string();
        self.write_config();
    }

    /// A file in the world's directory (beside `gate.yaml`).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// [`APP`] with `image`.
    pub fn app(&self, image: &str) -> String {
        APP.replace("IMAGE", image)
    }

    /// The files of a revision whose only image is the signed one; `note` makes it unique.
    pub fn files(&self, note: &str) -> Vec<(String, String)> {
        vec![
            ("deploy/web.yaml".into(), self.app(&self.signed)),
            ("deploy/NOTES.txt".into(), format!("{note}\n")),
        ]
    }

    /// An unsigned commit of passing manifests on `main`, pushed; its id.
    pub fn commit(&self, note: &str) -> String {
        let files = self.files(note);
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        self.git.commit(&refs, note)
    }

    /// Writes the files, then commits with `cmd` (a `git` with signing set up; `commit -S`
    /// is appended) and pushes `main`; the commit id.
    pub fn commit_with(&self, mut cmd: Command, note: &str) -> String {
        for (p, c) in self.files(note) {
            let path = self.git.work.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, c).unwrap();
        }
        git(&self.git.work, &["add", "-A"]);
        super::gitsig::run(cmd.args(["commit", "-q", "-S", "-m", note]));
        git(&self.git.work, &["push", "-q", "origin", "main"]);
        git(&self.git.work, &["rev-parse", "HEAD"])
    }

    /// The work tree as a [`GitRepo`] (isolated `git` with a fixed identity).
    pub fn work(&self) -> GitRepo {
        GitRepo {
            dir: self.git.work.clone(),
        }
    }

    /// `sealgate run --once --json`.
    pub fn once(&self) -> Run {
        self.once_env(&[])
    }

    /// `sealgate run --once --json` with more environment variables.
    pub fn once_env(&self, env: &[(&str, &str)]) -> Run {
        let mut cmd = sealgate();
        cmd.args(["run", "--once", "--json", "--config"])
            .arg(&self.config);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(&mut cmd)
    }

    /// The hex digest `file` of the deploy branch pins its (first) image to.
    pub fn pinned_digest(&self, file: &str) -> String {
        let pinned = self.git.show(DEPLOY, file);
        pinned
            .split("@sha256:")
            .nth(1)
            .and_then(|d| d.get(..64))
            .unwrap_or_else(|| panic!("{file} on {DEPLOY} pins no digest: {pinned}"))
            .to_string()
    }

    /// The commit the deploy branch of the origin points at, if it exists.
    pub fn deploy_head(&self) -> Option<String> {
        self.git.head(DEPLOY)
    }

    /// How many commits of the deploy branch promote `source` (0 without the branch).
    pub fn promotions_of(&self, source: &str) -> usize {
        if self.deploy_head().is_none() {
            return 0;
        }
        self.git
            .log(DEPLOY)
            .iter()
            .filter(|c| {
                self.git
                    .message(c)
                    .contains(&format!("Sealgate-Source: {source}"))
            })
            .count()
    }

    /// The deploy branch's head promotes `source`: the trailers, and the signed image
    /// digest-pinned in `web.yaml`.
    pub fn assert_promoted(&self, source: &str) {
        let head = self.deploy_head().expect("deploy branch");
        let msg = self.git.message(&head);
        assert!(msg.contains(&format!("Sealgate-Source: {source}")), "{msg}");
        assert!(msg.contains("Sealgate-Policy: sha256:"), "{msg}");
        assert!(msg.contains("Sealgate-Decision: pass"), "{msg}");
        assert!(
            self.git.show(DEPLOY, "web.yaml").contains("@sha256:"),
            "digest-pinned"
        );
    }

    /// Manifest requests the registry has served so far.
    pub fn manifest_requests(&self) -> usize {
        self.reg.count(&["/manifests/"])
    }
}

/// (status, reason, message) of a condition in a status document.
pub fn condition(status: &serde_json::Value, kind: &str) -> (String, String, String) {
    let c = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .unwrap_or_else(|| panic!("no condition {kind} in {status:#}"));
    (
        c["status"].as_str().unwrap().to_string(),
        c["reason"].as_str().unwrap().to_string(),
        c["message"].as_str().unwrap_or_default().to_string(),
    )
}

/// The condition `kind` has status `want` and reason `reason`.
pub fn assert_condition(status: &serde_json::Value, kind: &str, want: &str, reason: &str) {
    let (s, r, m) = condition(status, kind);
    assert_eq!(
        (s.as_str(), r.as_str()),
        (want, reason),
        "{kind}: {m}\n{status:#}"
    );
}

/// Asserts that the gate stalled (`Stalled` true) for `reason`; the condition's message.
pub fn stalled(status: &serde_json::Value, reason: &str) -> String {
    let (s, r, m) = condition(status, "Stalled");
    assert_eq!(
        (s.as_str(), r.as_str()),
        ("True", reason),
        "{m}\n{status:#}"
    );
    m
}
