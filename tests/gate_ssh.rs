//! The standalone gate (`sealgate run`) over SSH end to end: a real OpenSSH server
//! (`/usr/sbin/sshd`, run by the test as a foreground child on 127.0.0.1 with its own host
//! key and `authorized_keys`) in front of a bare repository, a real `docker-registry`,
//! images signed with `sealgate sign`. The gate fetches and promotes (pushes) over
//! `ssh://` with `source.auth.sshKeyFile`, and accepts the server only if its host key is
//! listed in `source.auth.knownHostsFile` (plain `[host]:port` and hashed entries).
//!
//! Needs `/usr/sbin/sshd` (Debian: `openssh-server`). sshd runs `git-upload-pack` and
//! `git-receive-pack` through the user's shell with its default PATH
//! (`/usr/local/bin:/usr/bin:…`), where `git` (Debian's or a local build) is found: no
//! `SetEnv` needed. As root, sshd insists on `/run/sshd` (created here if missing).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::gate::{self, DEPLOY, assert_condition, condition, stalled};
use common::gitsig::{SshKey, isolated, ssh_keygen};
use common::*;

const SSHD: &str = "/usr/sbin/sshd";

/// The user the tests log in as: the current one (root in CI).
fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    assert!(out.status.success(), "id -un");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A real `sshd -D -e` on 127.0.0.1:PORT (public-key logins only, for the current user
/// with the keys in its own `authorized_keys`), killed on drop.
struct Sshd {
    child: Child,
    port: u16,
    /// The server's host key.
    host_key: SshKey,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sshd {
    fn start(authorized: &[&SshKey]) -> Self {
        assert!(
            Path::new(SSHD).is_file(),
            "{SSHD} is not installed (apt-get install openssh-server; .ci/run does it)"
        );
        // sshd started as root insists on its privilege-separation directory
        if current_user() == "root" {
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let host_key = ssh_keygen(dir.path(), "ssh_host_ed25519_key", "ed25519");
        let authorized_keys = dir.path().join("authorized_keys");
        let lines: Vec<String> = authorized.iter().map(|k| k.public_line()).collect();
        std::fs::write(&authorized_keys, lines.join("\n") + "\n").unwrap();
        let log = dir.path().join("sshd.log");
        let user = current_user();
        for _attempt in 0..5 {
            let port = free_port();
            let config = dir.path().join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {keys}\nPidFile {pid}\nAllowUsers {user}\nPermitRootLogin prohibit-password\nPubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitUserEnvironment no\nX11Forwarding no\nAllowTcpForwarding no\nLogLevel VERBOSE\n",
                    host = host_key.private.display(),
                    keys = authorized_keys.display(),
                    pid = dir.path().join("sshd.pid").display(),
                ),
            )
            .unwrap();
            let out = std::fs::File::create(&log).unwrap();
            let mut child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .expect("start sshd");
            let deadline = Instant::now() + Duration::from_secs(15);
            let listening = loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break false;
                }
                if std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .contains("Server listening on 127.0.0.1")
                {
                    break true;
                }
                if Instant::now() > deadline {
                    break false;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            if listening {
                return Self {
                    child,
                    port,
                    host_key,
                    log,
                    _dir: dir,
                };
            }
            // port taken in the meantime, or a slow start: try another port
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "sshd did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The `known_hosts` line OpenSSH writes for this server: `[127.0.0.1]:PORT type key`.
    fn known_hosts_line(&self) -> String {
        known_hosts_line(self.port, &self.host_key)
    }

    /// Log lines with `needle` and the key's fingerprint.
    fn count(&self, needle: &str, key: &SshKey) -> usize {
        let fp = key.fingerprint();
        self.log()
            .lines()
            .filter(|l| l.contains(needle) && l.contains(&fp))
            .count()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `[127.0.0.1]:PORT type base64` for `host_key` (no comment).
fn known_hosts_line(port: u16, host_key: &SshKey) -> String {
    let public = host_key.public_line();
    let mut it = public.split_whitespace();
    let (kind, blob) = (it.next().unwrap(), it.next().unwrap());
    format!("[127.0.0.1]:{port} {kind} {blob}")
}

/// The shared gate world on a bare origin reached as `ssh://USER@127.0.0.1:PORT/ABS/origin.git`
/// through [`Sshd`], with one passing commit, a client key `client` (authorized) and
/// `source.auth` naming it and the `known_hosts` file.
struct World {
    gate: gate::World,
    sshd: Sshd,
    /// The key the server accepts (`client` in the world's directory).
    client: SshKey,
    known_hosts: PathBuf,
    source: String,
}

impl World {
    /// `user_in_url`: the URL names the user (else `source.auth.username` does);
    /// `key_type`: the client key's type (see [`ssh_keygen`]).
    async fn new(user_in_url: bool, key_type: &str) -> Self {
        let user = current_user();
        let auth = if user_in_url {
            "  auth: {sshKeyFile: client, knownHostsFile: known_hosts}\n".to_string()
        } else {
            format!(
                "  auth: {{sshKeyFile: client, knownHostsFile: known_hosts, username: {user}}}\n"
            )
        };
        let mut gate = gate::World::builder()
            .file_origin()
            .source("  interval: 1m\n  timeout: 30s\n")
            .source(&auth)
            .extra("listen: 127.0.0.1:0\n")
            .start()
            .await;
        let source = gate.commit("web v1");
        let client = ssh_keygen(gate.dir.path(), "client", key_type);
        let sshd = Sshd::start(&[&client]);
        let known_hosts = gate.path("known_hosts");
        std::fs::write(&known_hosts, sshd.known_hosts_line() + "\n").unwrap();
        let bare = gate.git.bare.canonicalize().unwrap();
        let at = if user_in_url {
            format!("{user}@")
        } else {
            String::new()
        };
        gate.set_url(&format!(
            "ssh://{at}127.0.0.1:{}{}",
            sshd.port,
            bare.display()
        ));
        Self {
            gate,
            sshd,
            client,
            known_hosts,
            source,
        }
    }

    /// Successful logins with the client key so far.
    fn logins(&self) -> usize {
        self.sshd.count("Accepted publickey", &self.client)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fetches_and_promotes_over_ssh() {
    let w = World::new(true, "ed25519").await;
    let r = w.gate.once();
    assert_eq!(r.code, 0, "{r}\n--- sshd\n{}", w.sshd.log());
    let s = r.json();
    assert_condition(&s, "Ready", "True", "Succeeded");
    assert_condition(&s, "Promoted", "True", "Promoted");
    assert_eq!(s["lastPromotedRevision"], w.source);
    // the promotion landed in the bare repository behind sshd: pushed over SSH
    w.gate.assert_promoted(&w.source);
    assert_eq!(w.gate.promotions_of(&w.source), 1);
    let logins = w.logins();
    assert!(
        logins >= 2,
        "a fetch and a push, each an SSH login: {}",
        w.sshd.log()
    );

    // again: the deploy branch is read back over SSH, nothing is pushed
    let head = w.gate.deploy_head().unwrap();
    let r = w.gate.once();
    assert_eq!(r.code, 0, "{r}");
    assert_condition(&r.json(), "Promoted", "True", "AlreadyPromoted");
    assert_eq!(w.gate.deploy_head().unwrap(), head);
    assert!(w.logins() > logins, "{}", w.sshd.log());

    // a new revision: promoted on top of the last one
    let c2 = w.gate.commit("v2");
    let r = w.gate.once();
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(r.json()["lastPromotedRevision"], c2);
    w.gate.assert_promoted(&c2);
    assert_eq!(
        w.gate.git.log(DEPLOY),
        vec![w.gate.deploy_head().unwrap(), head]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_host_key_stalls_before_any_login() {
    let w = World::new(true, "ed25519").await;
    // the known_hosts file lists another key for [127.0.0.1]:PORT (a man in the middle,
    // or a reinstalled server)
    let other = ssh_keygen(w.gate.dir.path(), "other_host_key", "ed25519");
    std::fs::write(&w.known_hosts, known_hosts_line(w.sshd.port, &other) + "\n").unwrap();
    let r = w.gate.once();
    assert_eq!(r.code, 1, "{r}");
    let s = r.json();
    let message = stalled(&s, "GitFetchFailed");
    assert!(
        message.contains(&format!(
            "host key of [127.0.0.1]:{} is not in the known_hosts file",
            w.sshd.port
        )) && message.contains(&w.known_hosts.display().to_string()),
        "{message}"
    );
    assert_eq!(condition(&s, "Ready").0, "False");
    assert_eq!(s["lastPromotedRevision"], serde_json::Value::Null, "{s:#}");
    assert_eq!(w.gate.deploy_head(), None, "nothing promoted");
    assert_eq!(w.logins(), 0, "no key offered to an unknown host");
    assert_eq!(w.sshd.count("publickey", &w.client), 0, "{}", w.sshd.log());

    // an empty known_hosts file: the same
    std::fs::write(&w.known_hosts, "").unwrap();
    let r = w.gate.once();
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(condition(&r.json(), "Stalled").1, "GitFetchFailed");
    assert_eq!(w.gate.deploy_head(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn hashed_known_hosts_entry_and_configured_user_name() {
    // the user comes from source.auth.username (the URL has none)
    let w = World::new(false, "ed25519").await;
    common::gitsig::run(
        isolated("ssh-keygen", w.gate.dir.path())
            .arg("-H")
            .arg("-f")
            .arg(&w.known_hosts),
    );
    let hashed = std::fs::read_to_string(&w.known_hosts).unwrap();
    assert!(
        hashed.starts_with("|1|") && !hashed.contains("127.0.0.1"),
        "{hashed}"
    );
    let r = w.gate.once();
    assert_eq!(r.code, 0, "{r}\n--- sshd\n{}", w.sshd.log());
    assert_condition(&r.json(), "Promoted", "True", "Promoted");
    w.gate.assert_promoted(&w.source);
}

#[tokio::test(flavor = "multi_thread")]
async fn unauthorized_key_is_tried_once_and_named() {
    let w = World::new(true, "ed25519").await;
    // a key the server does not know replaces the authorized one
    let stranger = ssh_keygen(w.gate.dir.path(), "stranger", "ed25519");
    std::fs::copy(&stranger.private, &w.client.private).unwrap();
    std::fs::copy(&stranger.public, &w.client.public).unwrap();
    let r = w.gate.once();
    assert_eq!(r.code, 1, "{r}");
    let s = r.json();
    let message = stalled(&s, "GitFetchFailed");
    assert!(
        message.contains(&format!(
            "the remote rejected the SSH key {}",
            w.client.private.display()
        )),
        "{message}"
    );
    assert_eq!(w.gate.deploy_head(), None, "nothing promoted");
    // one authentication attempt with the key (sshd logs each one it refuses)
    let log = w.sshd.log();
    assert_eq!(
        w.sshd.count("Failed publickey", &stranger),
        1,
        "exactly one attempt with the key:\n{log}"
    );
    assert_eq!(w.sshd.count("Accepted publickey", &stranger), 0, "{log}");
}

/// `ssh-keygen`'s default output (OpenSSH-format private keys) works for every key type
/// libssh2 signs with: ed25519 (above), ECDSA and RSA (rsa-sha2-256/512; OpenSSH refuses
/// SHA-1 `ssh-rsa` signatures).
#[tokio::test(flavor = "multi_thread")]
async fn ecdsa_and_rsa_client_keys_work() {
    for key_type in ["ecdsa-p256", "rsa"] {
        let w = World::new(true, key_type).await;
        let head = std::fs::read_to_string(&w.client.private).unwrap();
        assert!(
            head.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"),
            "{key_type}: {head}"
        );
        let r = w.gate.once();
        assert_eq!(r.code, 0, "{key_type}: {r}\n--- sshd\n{}", w.sshd.log());
        w.gate.assert_promoted(&w.source);
        assert!(w.logins() >= 2, "{key_type}: {}", w.sshd.log());
    }
}
