//! Test helpers that make REAL git signatures with the real tools: `ssh-keygen` (keys and
//! `ssh-keygen -Y sign`), `gpg` (keys in a throw-away `GNUPGHOME`, detached signatures,
//! revocation) and `git` (`commit -S`, `tag -s` in both formats).
//!
//! Every command runs with an isolated environment: `HOME` is a scratch folder, the
//! user's and the system's git configuration are ignored, and no SSH or GPG agent of the
//! caller is reachable. Helpers panic with the tool's stderr when a tool fails.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Committer / tagger name used by [`GitRepo`].
pub const GIT_NAME: &str = "Sealgate Test";
/// Committer / tagger e-mail used by [`GitRepo`].
pub const GIT_EMAIL: &str = "test@example.com";

/// A command for `program` with an isolated environment rooted at `home`.
pub fn isolated(program: &str, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .env_remove("GNUPGHOME")
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_AUTHOR_DATE")
        .env_remove("GIT_COMMITTER_DATE")
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd`, panicking with its stderr when it fails; returns stdout.
pub fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.stdout
}

/// Runs `cmd`; returns whether it succeeded (stdout and stderr are discarded).
pub fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
        .success()
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("tool output is UTF-8")
}

// ----------------------------------------------------------------------------------------
// SSH
// ----------------------------------------------------------------------------------------

/// An SSH key pair made by `ssh-keygen` (no passphrase).
#[derive(Debug, Clone)]
pub struct SshKey {
    /// The private key file.
    pub private: PathBuf,
    /// The `.pub` file next to it.
    pub public: PathBuf,
}

impl SshKey {
    /// `keytype base64 comment` from the `.pub` file, without the newline.
    pub fn public_line(&self) -> String {
        fs::read_to_string(&self.public)
            .unwrap()
            .trim_end()
            .to_string()
    }

    /// An allowed_signers line: `principal [options] keytype base64 comment`.
    pub fn allowed_signers_line(&self, principal: &str, options: &str) -> String {
        if options.is_empty() {
            format!("{principal} {}", self.public_line())
        } else {
            format!("{principal} {options} {}", self.public_line())
        }
    }

    /// The key's `SHA256:…` fingerprint as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        let dir = self.private.parent().unwrap();
        let out = text(run(isolated("ssh-keygen", dir)
            .args(["-l", "-E", "sha256", "-f"])
            .arg(&self.public)));
        out.split_whitespace().nth(1).unwrap().to_string()
    }
}

/// Generates an SSH key `dir/name` with `ssh-keygen -N ''`. `key_type`: `ed25519`,
/// `ecdsa-p256`, `ecdsa-p384`, `ecdsa-p521`, `rsa` (3072 bits) or `rsa-4096`.
pub fn ssh_keygen(dir: &Path, name: &str, key_type: &str) -> SshKey {
    let (t, bits) = match key_type {
        "ed25519" => ("ed25519", None),
        "ecdsa-p256" => ("ecdsa", Some("256")),
        "ecdsa-p384" => ("ecdsa", Some("384")),
        "ecdsa-p521" => ("ecdsa", Some("521")),
        "rsa" => ("rsa", Some("3072")),
        "rsa-4096" => ("rsa", Some("4096")),
        other => panic!("unknown SSH key type {other}"),
    };
    let private = dir.join(name);
    let mut cmd = isolated("ssh-keygen", dir);
    cmd.args(["-q", "-t", t, "-N", "", "-C", name, "-f"])
        .arg(&private);
    if let Some(bits) = bits {
        cmd.args(["-b", bits]);
    }
    run(&mut cmd);
    SshKey {
        public: private.with_extension("pub"),
        private,
    }
}

/// Writes `lines` as an allowed_signers file `dir/name`; returns its path.
pub fn write_allowed_signers(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    let mut body = lines.join("\n");
    body.push('\n');
    fs::write(&path, body).unwrap();
    path
}

/// `ssh-keygen -Y sign -n namespace` over `data`; returns the armored signature.
pub fn ssh_sign(key: &SshKey, namespace: &str, data: &[u8]) -> String {
    let dir = key.private.parent().unwrap();
    let file = tempfile::Builder::new()
        .prefix("sshsig-data")
        .tempfile_in(dir)
        .unwrap();
    fs::write(file.path(), data).unwrap();
    run(isolated("ssh-keygen", dir)
        .args(["-q", "-Y", "sign", "-n", namespace, "-f"])
        .arg(&key.private)
        .arg(file.path()));
    let sig_path = PathBuf::from(format!("{}.sig", file.path().display()));
    let sig = fs::read_to_string(&sig_path).unwrap();
    fs::remove_file(sig_path).unwrap();
    sig
}

/// OpenSSH's own verdict: `ssh-keygen -Y verify` of `signature` over `data` for `principal`
/// in `namespace` against the allowed_signers file `allowed`.
pub fn ssh_keygen_verifies(
    allowed: &Path,
    principal: &str,
    namespace: &str,
    data: &[u8],
    signature: &str,
) -> bool {
    let dir = allowed.parent().unwrap();
    let sig = tempfile::Builder::new()
        .prefix("sshsig")
        .tempfile_in(dir)
        .unwrap();
    fs::write(sig.path(), signature).unwrap();
    let mut child = isolated("ssh-keygen", dir)
        .args(["-Y", "verify", "-n", namespace, "-I", principal, "-f"])
        .arg(allowed)
        .arg("-s")
        .arg(sig.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    child.wait().unwrap().success()
}

// ----------------------------------------------------------------------------------------
// GnuPG
// ----------------------------------------------------------------------------------------

/// A throw-away `GNUPGHOME`; its gpg-agent is stopped on drop.
#[derive(Debug)]
pub struct GpgHome {
    /// The GNUPGHOME folder (mode 0700).
    pub dir: PathBuf,
}

impl GpgHome {
    /// Creates `dir` (mode 0700) as a fresh GNUPGHOME. Keep the path short: gpg-agent's
    /// socket lives in it.
    pub fn new(dir: &Path) -> GpgHome {
        use std::os::unix::fs::PermissionsExt;
        fs::create_dir_all(dir).unwrap();
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).unwrap();
        GpgHome {
            dir: dir.to_path_buf(),
        }
    }

    /// `gpg --batch --homedir … args…`, isolated.
    pub fn gpg(&self) -> Command {
        let mut cmd = isolated("gpg", &self.dir);
        cmd.env("GNUPGHOME", &self.dir).args([
            "--batch",
            "--no-tty",
            "--pinentry-mode",
            "loopback",
        ]);
        cmd
    }

    /// `gpg --quick-gen-key uid algo sign expire` (no passphrase); returns the primary
    /// fingerprint. `algo`: e.g. `ed25519`, `rsa3072`, `nistp256`; `expire`: `never`, `1d`,
    /// `seconds=N`, ….
    pub fn gen_key(&self, uid: &str, algo: &str, expire: &str) -> String {
        self.gen_key_with_usage(uid, algo, "sign", expire)
    }

    /// Like [`GpgHome::gen_key`] with the primary key's usage given (`sign`, `cert`, …).
    pub fn gen_key_with_usage(&self, uid: &str, algo: &str, usage: &str, expire: &str) -> String {
        let out = text(run(self
            .gpg()
            .args(["--passphrase", "", "--status-fd", "1", "--quick-gen-key"])
            .args([uid, algo, usage, expire])));
        created_fingerprint(&out, "P")
    }

    /// `gpg --quick-add-key fpr algo usage expire`; returns the new subkey's fingerprint.
    pub fn add_subkey(&self, fpr: &str, algo: &str, usage: &str, expire: &str) -> String {
        let out = text(run(self
            .gpg()
            .args(["--passphrase", "", "--status-fd", "1", "--quick-add-key"])
            .args([fpr, algo, usage, expire])));
        created_fingerprint(&out, "S")
    }

    /// The ASCII-armored public key (primary, user IDs, subkeys).
    pub fn export(&self, fpr: &str) -> String {
        self.export_many(&[fpr])
    }

    /// Several keys in one ASCII-armored block.
    pub fn export_many(&self, fprs: &[&str]) -> String {
        text(run(self.gpg().args(["--armor", "--export"]).args(fprs)))
    }

    /// Revokes the key with the revocation certificate gpg wrote when it made the key.
    pub fn revoke(&self, fpr: &str) {
        let path = self.dir.join("openpgp-revocs.d").join(format!("{fpr}.rev"));
        let cert = fs::read_to_string(&path).unwrap();
        // gpg guards the certificate against accidental import with a leading ':'.
        let cert = cert.replace(
            ":-----BEGIN PGP PUBLIC KEY BLOCK-----",
            "-----BEGIN PGP PUBLIC KEY BLOCK-----",
        );
        let file = self.dir.join("revoke.asc");
        fs::write(&file, cert).unwrap();
        run(self.gpg().arg("--import").arg(&file));
    }

    /// A detached armored signature by `key` over `data`, like git makes (`-bsau key`);
    /// `extra` goes to gpg before the command (e.g. `["--digest-algo", "SHA1"]`).
    pub fn sign_detached(&self, key: &str, data: &[u8], extra: &[&str]) -> String {
        let input = self.dir.join("to-sign");
        fs::write(&input, data).unwrap();
        let out = text(run(self
            .gpg()
            .args(extra)
            .args([
                "--armor",
                "--local-user",
                key,
                "--output",
                "-",
                "--detach-sign",
            ])
            .arg(&input)));
        fs::remove_file(input).unwrap();
        out
    }
}

impl Drop for GpgHome {
    fn drop(&mut self) {
        let _ = isolated("gpgconf", &self.dir)
            .env("GNUPGHOME", &self.dir)
            .args(["--kill", "all"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn created_fingerprint(status: &str, kind: &str) -> String {
    status
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix("[GNUPG:] KEY_CREATED ")?;
            let mut parts = rest.split_whitespace();
            let k = parts.next()?;
            // "B" is primary and subkey at once.
            (k == kind || k == "B").then(|| parts.next().map(str::to_string))?
        })
        .unwrap_or_else(|| panic!("no KEY_CREATED {kind} in gpg status:\n{status}"))
}

// ----------------------------------------------------------------------------------------
// git
// ----------------------------------------------------------------------------------------

/// A scratch git repository with a fixed identity and no signing by default.
#[derive(Debug, Clone)]
pub struct GitRepo {
    /// The work tree.
    pub dir: PathBuf,
}

impl GitRepo {
    /// `git init -b main dir`.
    pub fn init(dir: &Path) -> GitRepo {
        fs::create_dir_all(dir).unwrap();
        let repo = GitRepo {
            dir: dir.to_path_buf(),
        };
        run(repo.git().args(["init", "-q", "-b", "main"]));
        repo
    }

    /// `git -C dir` with the identity set and signing off unless asked for.
    pub fn git(&self) -> Command {
        let mut cmd = isolated("git", &self.dir);
        cmd.arg("-C").arg(&self.dir).args([
            "-c",
            &format!("user.name={GIT_NAME}"),
            "-c",
            &format!("user.email={GIT_EMAIL}"),
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
        ]);
        cmd
    }

    /// `git` set up to sign with the SSH key (`gpg.format=ssh`, `user.signingkey=<private>`).
    pub fn git_ssh(&self, key: &SshKey) -> Command {
        let mut cmd = self.git();
        cmd.args(["-c", "gpg.format=ssh", "-c"])
            .arg(format!("user.signingkey={}", key.private.display()));
        cmd
    }

    /// `git` set up to sign with gpg (`gpg.program=gpg`, `user.signingkey=<key>`, GNUPGHOME).
    pub fn git_gpg(&self, home: &GpgHome, key: &str) -> Command {
        let mut cmd = self.git();
        cmd.env("GNUPGHOME", &home.dir)
            .args(["-c", "gpg.format=openpgp", "-c", "gpg.program=gpg", "-c"])
            .arg(format!("user.signingkey={key}"));
        cmd
    }

    /// An empty commit with `message`, unsigned; returns its id.
    pub fn commit_unsigned(&self, message: &str) -> String {
        run(self
            .git()
            .args(["commit", "-q", "--allow-empty", "-m", message]));
        self.rev_parse("HEAD")
    }

    /// An empty commit signed with the SSH key (`git commit -S`); returns its id.
    pub fn commit_ssh(&self, key: &SshKey, message: &str) -> String {
        run(self
            .git_ssh(key)
            .args(["commit", "-q", "--allow-empty", "-S", "-m", message]));
        self.rev_parse("HEAD")
    }

    /// An empty commit signed with gpg key `key` (`git commit -S`); returns its id.
    pub fn commit_gpg(&self, home: &GpgHome, key: &str, message: &str) -> String {
        run(self
            .git_gpg(home, key)
            .args(["commit", "-q", "--allow-empty", "-S", "-m", message]));
        self.rev_parse("HEAD")
    }

    /// `git tag -s name -m message HEAD` with the SSH key.
    pub fn tag_ssh(&self, key: &SshKey, name: &str, message: &str) {
        run(self
            .git_ssh(key)
            .args(["tag", "-s", name, "-m", message, "HEAD"]));
    }

    /// `git tag -s name -m message HEAD` with gpg key `key`.
    pub fn tag_gpg(&self, home: &GpgHome, key: &str, name: &str, message: &str) {
        run(self
            .git_gpg(home, key)
            .args(["tag", "-s", name, "-m", message, "HEAD"]));
    }

    /// An unsigned annotated tag (`git tag -a`).
    pub fn tag_annotated(&self, name: &str, message: &str) {
        run(self.git().args(["tag", "-a", name, "-m", message, "HEAD"]));
    }

    /// A lightweight tag (a plain ref to HEAD).
    pub fn tag_lightweight(&self, name: &str) {
        run(self.git().args(["tag", name, "HEAD"]));
    }

    /// `git rev-parse rev`.
    pub fn rev_parse(&self, rev: &str) -> String {
        text(run(self.git().args(["rev-parse", "--verify", rev])))
            .trim()
            .to_string()
    }

    /// `git cat-file -p rev^{type}` of the object `rev` names (for a lightweight tag name
    /// with `kind` "tag" git fails, so use [`GitRepo::object_type`] first).
    pub fn cat_file(&self, kind: &str, rev: &str) -> Vec<u8> {
        run(self.git().args(["cat-file", kind, rev]))
    }

    /// `git cat-file -t rev` (`commit`, `tag`, …).
    pub fn object_type(&self, rev: &str) -> String {
        text(run(self.git().args(["cat-file", "-t", rev])))
            .trim()
            .to_string()
    }

    /// git's own verdict on a commit: `git verify-commit` with `allowed` as
    /// `gpg.ssh.allowedSignersFile` (SSH) or with `home` as GNUPGHOME (OpenPGP).
    pub fn git_verifies_commit(
        &self,
        rev: &str,
        allowed: Option<&Path>,
        home: Option<&GpgHome>,
    ) -> bool {
        let mut cmd = self.git();
        if let Some(allowed) = allowed {
            cmd.arg("-c")
                .arg(format!("gpg.ssh.allowedSignersFile={}", allowed.display()));
        }
        if let Some(home) = home {
            cmd.env("GNUPGHOME", &home.dir);
        }
        succeeds(cmd.args(["verify-commit", rev]))
    }

    /// git's own verdict on a tag (`git verify-tag`), like [`GitRepo::git_verifies_commit`].
    pub fn git_verifies_tag(
        &self,
        name: &str,
        allowed: Option<&Path>,
        home: Option<&GpgHome>,
    ) -> bool {
        let mut cmd = self.git();
        if let Some(allowed) = allowed {
            cmd.arg("-c")
                .arg(format!("gpg.ssh.allowedSignersFile={}", allowed.display()));
        }
        if let Some(home) = home {
            cmd.env("GNUPGHOME", &home.dir);
        }
        succeeds(cmd.args(["verify-tag", name]))
    }
}

/// The time (seconds since the epoch) on the `tagger` (or `committer`) header line of a raw
/// tag (or commit) object.
pub fn header_time(raw: &[u8], header: &str) -> i64 {
    let text = String::from_utf8_lossy(raw);
    let prefix = format!("{header} ");
    let line = text
        .lines()
        .take_while(|l| !l.is_empty())
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {header} line in:\n{text}"));
    let mut parts = line.rsplit(' ');
    let _zone = parts.next();
    parts.next().unwrap().parse().unwrap()
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
