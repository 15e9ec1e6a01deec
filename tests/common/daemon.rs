//! `sealgate run` as a daemon for the tests that watch it over HTTP (the page, image
//! updates): started on a [`World`]'s config with more arguments, killed on drop.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::gate::World;
use super::sealgate;

pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    client: reqwest::Client,
}

impl Daemon {
    /// `sealgate run --config <world's config> ARGS…`, its output in `daemon-PORT.log`.
    pub fn start(w: &World, port: u16, args: &[&str]) -> Self {
        let log = w.path(&format!("daemon-{port}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = sealgate()
            .args(["run", "--config"])
            .arg(&w.config)
            .args(args)
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

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path` with `headers`: status (0 while nothing listens), headers, body.
    pub async fn get(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let mut req = self.client.get(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        match req.send().await {
            Ok(r) => {
                let code = r.status().as_u16();
                let h = r.headers().clone();
                (code, h, r.text().await.unwrap_or_default())
            }
            Err(_) => (0, reqwest::header::HeaderMap::new(), String::new()),
        }
    }

    /// Polls `/status` (with `headers`) until `ok` holds for it, for at most 90 s.
    pub async fn wait_status(
        &mut self,
        headers: &[(&str, &str)],
        what: &str,
        ok: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let (code, _, body) = self.get("/status", headers).await;
            if code == 200 {
                let s: serde_json::Value = serde_json::from_str(&body).unwrap();
                if ok(&s) {
                    return s;
                }
            }
            if let Ok(Some(exit)) = self.child.try_wait() {
                panic!("the daemon exited ({exit}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "{what} never happened ({code}):\n{body}\n--- log\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
