//! The release manager's page of `sealgate run`, rendered by a real headless Chromium
//! (Debian's `chromium`; `SEALGATE_CHROMIUM` names another binary) against the real daemon
//! over a real `git daemon` origin and a real `docker-registry`:
//! - a passing revision waiting for approval: the exact approve command, the copy button
//!   (our script runs under the page's CSP), the revision's author and message;
//! - then a revision with an unsigned image, a commit message and a file name carrying
//!   markup that would run script: the blocked image and `NoSignature` are visible, the
//!   injected markup is text (no element, the title unchanged, no handler ran);
//! - the token (`--http-auth-token-file`) and the path prefix (`--http-path-prefix`,
//!   `X-Forwarded-Prefix`).
//!
//! Screenshots (1280 px and 360 px wide) are written to `target/page-screenshots/`
//! (CI artefacts; `docs/images/` holds copies for the docs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::daemon::Daemon;
use common::gate::{APP, World};
use common::gitsig::{ssh_keygen, write_allowed_signers};
use common::*;

const TOKEN: &str = "page-token-0123456789abcdef";

/// Markup that runs script if it is ever parsed as HTML.
const INJECTED: &str = "<script>document.title='PWNED'</script><img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">";
/// A file name that is markup (Git and the checkout take any byte but `/` and NUL).
const EVIL_FILE: &str = "<img src=x onerror=alert(1)>.yaml";

fn chromium() -> PathBuf {
    let bin = std::env::var_os("SEALGATE_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        bin.exists(),
        "{} is missing: install Debian's chromium (bash .ci/run does) or set SEALGATE_CHROMIUM",
        bin.display()
    );
    bin
}

/// Headless Chromium as the machine's checks run it (as root it needs --no-sandbox; no
/// background connections: the network is closed here).
fn browser(profile: &Path) -> Command {
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--virtual-time-budget=3000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .stdin(Stdio::null());
    cmd
}

/// The DOM after load and scripts (`--dump-dom`).
fn dump_dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = browser(profile.path())
        .args(["--dump-dom", url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium --dump-dom {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A PNG of `url` at `width` px into `target/page-screenshots/<name>.png`; its path.
fn screenshot(url: &str, name: &str, width: u32, height: u32) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/page-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&file);
    let profile = tempfile::tempdir().unwrap();
    let out = browser(profile.path())
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", file.display()))
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium --screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&file).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    // IHDR: width and height, big-endian, at bytes 16..24
    let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert_eq!(w, width, "screenshot width");
    file
}

fn condition_is(s: &serde_json::Value, kind: &str, status: &str, reason: &str) -> bool {
    s["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == kind && c["status"] == status && c["reason"] == reason)
    })
}

async fn world(port: u16) -> World {
    let w = World::builder()
        .unsigned_image()
        .source("  interval: 1s\n")
        .extra(&format!(
            "approval: {{required: true, approversFile: approvers_allowed_signers}}\nlisten: 127.0.0.1:{port}\n"
        ))
        .start()
        .await;
    let approver = ssh_keygen(w.dir.path(), "approver", "ed25519");
    write_allowed_signers(
        w.dir.path(),
        "approvers_allowed_signers",
        &[approver.allowed_signers_line("release@example.com", "")],
    );
    w
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_browser_shows_the_waiting_then_the_blocked_revision_and_injected_markup_stays_text()
{
    let port = free_port();
    let w = world(port).await;
    let files = w.files("v1");
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let c1 = w
        .git
        .commit(&refs, &format!("release web {INJECTED}\n\nbody {INJECTED}"));
    let mut d = Daemon::start(&w, port, &[]);
    d.wait_status(&[], "the status", |s| {
        condition_is(s, "AwaitingApproval", "True", "AwaitingApproval")
            && s["lastVerifiedRevision"] == c1.as_str()
    })
    .await;

    // 1. waiting for approval: the exact command, and the copy button our script shows
    let dom = dump_dom(&d.url("/gates/gate"));
    let command = format!(
        "sealgate approve --repo {} --key ~/.ssh/id_ed25519 {c1}",
        w.git.url
    );
    assert!(
        dom.contains(&format!("<code id=\"approve-cmd\">{command}</code>")),
        "approve command missing:\n{dom}"
    );
    let button = dom
        .split("<button")
        .nth(1)
        .and_then(|b| b.split('>').next())
        .unwrap_or_else(|| panic!("no copy button:\n{dom}"));
    assert!(button.contains("data-copy=\"approve-cmd\""), "{button}");
    assert!(
        !button.contains("hidden"),
        "the page's own script ran under its CSP and showed the button: {button}"
    );
    assert!(dom.contains("Awaiting approval"), "{dom}");
    assert!(
        dom.contains("Dev &lt;dev@example.com&gt;"),
        "the author:\n{dom}"
    );
    assert!(dom.contains(&c1), "the revision:\n{dom}");
    injected_is_text(&dom);
    screenshot(&d.url("/gates/gate"), "gate-awaiting-approval", 1280, 1500);

    // 2. a revision adding an unsigned image in a file whose name is markup
    let mut files = w.files("v2");
    files.push((
        format!("deploy/{EVIL_FILE}"),
        APP.replace("IMAGE", &w.unsigned)
            .replace("name: web", "name: debug"),
    ));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let c2 = w.git.commit(&refs, &format!("add debug {INJECTED}"));
    d.wait_status(&[], "the status", |s| {
        s["lastAttemptedRevision"] == c2.as_str() && s["decision"] == "blocked"
    })
    .await;
    let dom = dump_dom(&d.url("/gates/gate"));
    let blocked_row = dom
        .split("<tr class=\"not-ok\">")
        .nth(1)
        .unwrap_or_else(|| panic!("no blocked image row:\n{dom}"));
    assert!(blocked_row.contains(&w.unsigned), "{blocked_row}");
    assert!(blocked_row.contains("NoSignature"), "{blocked_row}");
    assert!(
        blocked_row.contains("&lt;img src=x onerror=alert(1)&gt;.yaml"),
        "the file name is text: {blocked_row}"
    );
    assert!(
        !dom.contains("approve-cmd"),
        "nothing to approve while blocked"
    );
    injected_is_text(&dom);
    screenshot(&d.url("/gates/gate"), "gate-blocked", 1280, 1700);
    screenshot(&d.url("/gates/gate"), "gate-blocked-360", 360, 2600);

    // the overview: the gate, blocked, with its count
    let dom = dump_dom(&d.url("/"));
    assert!(dom.contains("Blocked"), "{dom}");
    assert!(dom.contains("1 of 2"), "{dom}");
    assert!(dom.contains("href=\"/gates/gate\""), "{dom}");
    screenshot(&d.url("/"), "overview", 1280, 500);
}

/// The injected markup of [`INJECTED`] is text: no element made from it, the title is the
/// page's, no handler ran.
fn injected_is_text(dom: &str) {
    assert!(
        dom.contains("&lt;script&gt;document.title='PWNED'&lt;/script&gt;"),
        "the commit message is shown as text:\n{dom}"
    );
    assert!(
        !dom.contains("PWNED</title>") && !dom.contains("<title>PWNED"),
        "{dom}"
    );
    assert!(dom.contains("<title>gate · sealgate</title>"), "{dom}");
    assert!(
        !dom.contains("data-pwned=\"1\""),
        "no injected handler ran:\n{dom}"
    );
    assert!(!dom.contains("<img"), "no injected image element:\n{dom}");
    assert_eq!(
        dom.matches("<script").count(),
        1,
        "only the page's own script element:\n{dom}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_and_status_need_the_token_and_links_follow_the_prefix() {
    let port = free_port();
    let w = world(port).await;
    w.commit("v1");
    let token_file = w.path("page-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let mut d = Daemon::start(
        &w,
        port,
        &[
            "--http-auth-token-file",
            token_file.to_str().unwrap(),
            "--http-path-prefix",
            "/sealgate/",
        ],
    );
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];
    d.wait_status(&auth, "the status", |s| {
        condition_is(s, "AwaitingApproval", "True", "AwaitingApproval")
    })
    .await;

    // without the token: 401 asking for basic auth; a wrong one too; /metrics stays open
    for path in [
        "/",
        "/gates/gate",
        "/status",
        "/sealgate/",
        "/sealgate/status",
    ] {
        let (code, h, body) = d.get(path, &[]).await;
        assert_eq!(code, 401, "{path}");
        assert_eq!(
            h.get("www-authenticate").and_then(|v| v.to_str().ok()),
            Some("Basic realm=\"sealgate\", charset=\"UTF-8\"")
        );
        assert!(!body.contains(TOKEN));
        let (code, _, _) = d.get(path, &[("Authorization", "Bearer nope")]).await;
        assert_eq!(code, 401, "{path}");
    }
    assert_eq!(d.get("/metrics", &[]).await.0, 200);
    assert_eq!(d.get("/healthz", &[]).await.0, 200);
    // basic auth with the token as the password (what a browser sends)
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("me:{TOKEN}"))
    );
    let (code, h, body) = d
        .get("/sealgate/gates/gate", &[("Authorization", &basic)])
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        h.get("content-security-policy")
            .and_then(|v| v.to_str().ok()),
        Some("default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    );
    assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
    // links start with the configured prefix, wherever the page is asked
    assert!(
        body.contains("href=\"/sealgate/assets/sealgate.css\""),
        "{body}"
    );
    assert!(body.contains("href=\"/sealgate/\""), "{body}");
    assert!(!body.contains(TOKEN), "the token is never rendered");
    let (code, h, css) = d.get("/sealgate/assets/sealgate.css", &auth).await;
    assert_eq!(
        (code, h.get("content-type").unwrap().to_str().unwrap()),
        (200, "text/css; charset=utf-8")
    );
    assert!(css.contains(".state-blocked"));
    let (code, _, over) = d.get("/sealgate", &auth).await;
    assert_eq!(code, 200);
    assert!(over.contains("href=\"/sealgate/gates/gate\""), "{over}");
    assert_eq!(d.get("/sealgate/gates/nope", &auth).await.0, 404);

    // `sealgate status` sends the token
    let r = run(sealgate()
        .args(["status", "--json", "--url", &d.base, "--token-file"])
        .arg(&token_file));
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stdout.contains("AwaitingApproval"), "{r}");
    let r = run(sealgate().args(["status", "--url", &d.base]));
    assert_ne!(r.code, 0, "{r}");
    assert!(r.stderr.contains("401"), "{r}");
    drop(d);

    // no configured prefix: a valid X-Forwarded-Prefix decides; an invalid one is ignored
    let port2 = free_port();
    let mut w2 = w;
    w2.yaml.extra = w2
        .yaml
        .extra
        .replace(&format!("127.0.0.1:{port}"), &format!("127.0.0.1:{port2}"));
    w2.write_config();
    let mut d = Daemon::start(&w2, port2, &[]);
    d.wait_status(&[], "the status", |s| s["lastVerifiedRevision"].is_string())
        .await;
    let (_, _, body) = d.get("/", &[("X-Forwarded-Prefix", "/ops/sealgate")]).await;
    assert!(body.contains("href=\"/ops/sealgate/gates/gate\""), "{body}");
    for bad in ["//evil.example", "/a/../b", "/x\"onmouseover=alert(1)"] {
        let (_, _, body) = d.get("/", &[("X-Forwarded-Prefix", bad)]).await;
        assert!(body.contains("href=\"/gates/gate\""), "{bad}: {body}");
        assert!(
            !body.contains("evil.example") && !body.contains("onmouseover"),
            "{body}"
        );
    }
    // and bad flags are configuration errors
    let r = run(sealgate()
        .args(["run", "--once", "--http-path-prefix", "//evil", "--config"])
        .arg(&w2.config));
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("--http-path-prefix"), "{r}");
    let empty = w2.path("empty-token");
    std::fs::write(&empty, "\n").unwrap();
    let r = run(sealgate()
        .args(["run", "--once", "--http-auth-token-file"])
        .arg(&empty)
        .arg("--config")
        .arg(&w2.config));
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("empty"), "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_keep_prints_the_page_url_and_serves_its_three_revisions() {
    use std::io::BufRead as _;
    let port = free_port();
    let mut child = sealgate()
        .args(["demo", "--keep", "--listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let want = format!("The release manager's page: http://127.0.0.1:{port}/");
    let mut seen = Vec::new();
    let mut kept = None;
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(120)) {
        if let Some(dir) = line.strip_prefix("Files kept in ") {
            kept = Some(PathBuf::from(dir.trim_end_matches('.')));
        }
        let done = line.starts_with(&want);
        seen.push(line);
        if done {
            break;
        }
    }
    assert!(seen.iter().any(|l| l.starts_with(&want)), "{seen:#?}");
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("http://127.0.0.1:{port}{path}")).send();
    let over = get("/").await.unwrap().text().await.unwrap();
    assert!(over.contains("href=\"/gates/gate\""), "{over}");
    assert!(over.contains("Ready"), "{over}");
    let page = get("/gates/gate").await.unwrap().text().await.unwrap();
    // the journal carried over the demo's rebuilt gates: promoted, blocked, promoted, updated
    assert!(
        page.contains("Last 4 reconciles: 3 promoted, 1 blocked"),
        "{page}"
    );
    assert_eq!(
        page.matches("<td data-label=\"Revision\">").count(),
        3,
        "{page}"
    );
    let _ = child.kill();
    let _ = child.wait();
    if let Some(dir) = kept {
        let _ = std::fs::remove_dir_all(dir);
    }
}
