//! Real Git for the gate tests: a bare "origin" repository served by a real `git daemon`
//! (git:// with receive-pack enabled) on a free 127.0.0.1 port, and a work tree to make
//! commits with the real `git` CLI.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Runs git in `dir` with a fixed identity; panics with its output on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare origin plus a work tree, optionally served by `git daemon`.
pub struct GitServer {
    pub dir: tempfile::TempDir,
    pub bare: PathBuf,
    pub work: PathBuf,
    pub url: String,
    daemon: Option<Child>,
}

impl GitServer {
    /// A `file://` origin (no daemon).
    pub fn file() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("origin.git");
        std::fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "--bare", "-q", "-b", "main"]);
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        let url = format!("file://{}", bare.display());
        Self {
            dir,
            bare,
            work,
            url,
            daemon: None,
        }
    }

    /// A `git://127.0.0.1:PORT/origin.git` origin served by a real `git daemon`.
    pub fn daemon() -> Self {
        let mut s = Self::file();
        let port = super::free_port();
        // run git-daemon itself (not the `git daemon` wrapper) so that killing it stops it
        let exec_path = git(s.dir.path(), &["--exec-path"]);
        let child = Command::new(Path::new(&exec_path).join("git-daemon"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .args([
                "--reuseaddr",
                "--export-all",
                "--enable=receive-pack",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", s.dir.path().display()),
                s.dir.path().to_str().unwrap(),
            ])
            .spawn()
            .expect("git daemon");
        s.daemon = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "git daemon did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        s.url = format!("git://127.0.0.1:{port}/origin.git");
        s
    }

    /// Writes files (relative path → contents) into the work tree, commits and pushes `main`.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        for (p, c) in files {
            let path = self.work.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, c).unwrap();
        }
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", message]);
        git(&self.work, &["push", "-q", "origin", "main"]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Removes a file from the work tree (committed by the next [`commit`]).
    pub fn remove(&self, path: &str) {
        std::fs::remove_file(self.work.join(path)).unwrap();
    }

    /// The commit a branch of the origin points at, if it exists.
    pub fn head(&self, branch: &str) -> Option<String> {
        let out = Command::new("git")
            .current_dir(&self.bare)
            .args([
                "rev-parse",
                "--verify",
                "-q",
                &format!("refs/heads/{branch}"),
            ])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// `git show <branch>:<path>` in the origin.
    pub fn show(&self, branch: &str, path: &str) -> String {
        git(&self.bare, &["show", &format!("{branch}:{path}")])
    }

    /// Commits on a branch of the origin (newest first).
    pub fn log(&self, branch: &str) -> Vec<String> {
        git(&self.bare, &["log", "--format=%H", branch])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Full message of a commit in the origin.
    pub fn message(&self, commit: &str) -> String {
        git(&self.bare, &["log", "-1", "--format=%B", commit])
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        if let Some(c) = &mut self.daemon {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
