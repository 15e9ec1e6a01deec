//! A Git server that accepts the connection and then says nothing: the gate gives up at
//! its deadline (`source.timeout`) instead of hanging, and reports it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn a_silent_git_server_stalls_the_gate_at_its_deadline() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // accept and hold connections, never answering
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming() {
            held.push(c);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.yaml"),
        "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: p}\nspec: {unmatched: allow}\n",
    )
    .unwrap();
    let config = dir.path().join("gate.yaml");
    std::fs::write(
        &config,
        format!(
            "apiVersion: sealgate.dev/v1alpha1\nkind: GateConfig\nsource: {{url: \"git://{addr}/origin.git\", timeout: 2s}}\npolicies: [policy.yaml]\ntarget:\n  promote: {{branch: deploy/prod}}\nstateDir: state\n"
        ),
    )
    .unwrap();
    let started = Instant::now();
    let r = run(sealgate()
        .args(["run", "--once", "--json", "--config"])
        .arg(&config));
    let took = started.elapsed();
    assert_eq!(r.code, 1, "{r}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let s = r.json();
    let stalled = s["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Stalled")
        .unwrap_or_else(|| panic!("{s:#}"))
        .clone();
    assert_eq!(stalled["status"], "True", "{s:#}");
    assert_eq!(stalled["reason"], "GitFetchFailed", "{s:#}");
    let message = stalled["message"].as_str().unwrap();
    assert!(
        message.contains("no answer within 7 s") || message.contains("timed out"),
        "{message}"
    );
}

/// A TCP proxy to `backend` that forwards the first connection and holds every later one
/// open without a byte (a Git server that goes silent after the source fetch).
fn first_connection_only(backend: &str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let backend = backend.to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for (n, c) in listener.incoming().enumerate() {
            let Ok(client) = c else { continue };
            if n > 0 {
                held.push(client);
                continue;
            }
            let server = std::net::TcpStream::connect(&backend).unwrap();
            let (mut c1, mut s1) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut c2, mut s2) = (client, server);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c1, &mut s1);
                let _ = s1.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s2, &mut c2);
                let _ = c2.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}

/// Regression: the approval-tag fetch runs under the one-Git-operation guard, like every
/// other Git operation. A server that goes silent there fails the reconcile at the deadline
/// as `GitFetchFailed` (not as a credentials error), and the next reconcile does not start
/// another thread on it while the abandoned one has not returned.
#[test]
fn a_silent_approval_fetch_is_abandoned_under_the_one_git_operation_guard() {
    // The abandoned Git thread never returns (the proxy holds its connection): the runtime
    // is shut down without waiting for it, as `sealgate run` does.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = rt.block_on(rt.spawn(silent_approval_fetch()));
    rt.shutdown_background();
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn silent_approval_fetch() {
    use common::gate::World;
    use common::gitsig::{ssh_keygen, write_allowed_signers};
    use sealgate::standalone::{Gate, Outcome};

    let mut w = World::builder()
        .source("  timeout: 2s\n")
        .extra("approval: {required: true, approversFile: approvers_allowed_signers}\n")
        .start()
        .await;
    let approver = ssh_keygen(w.dir.path(), "approver", "ed25519");
    write_allowed_signers(
        w.dir.path(),
        "approvers_allowed_signers",
        &[approver.allowed_signers_line("release@example.com", "")],
    );
    w.commit("v1");
    let backend = w
        .git
        .url
        .trim_start_matches("git://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let proxied = w
        .git
        .url
        .replace(&backend, &first_connection_only(&backend));
    w.set_url(&proxied);
    let gate = std::sync::Arc::new(
        Gate::new(sealgate::standalone::config::load(&w.config).unwrap()).unwrap(),
    );

    let first = gate.reconcile(sealgate::base::time::now()).await;
    let Outcome::Failed { reason, message } = &first else {
        panic!("{first:?}")
    };
    assert_eq!(reason, "GitFetchFailed");
    assert!(message.contains("no answer within 7 s"), "{message}");
    let s = gate.status();
    let cond = |t: &str| {
        let c = s.condition(t).unwrap_or_else(|| panic!("no {t}: {s:#?}"));
        (c.status.clone(), c.reason.clone())
    };
    // the source fetch and the images passed: it was the approval fetch that went silent
    assert_eq!(cond("ImagesVerified"), ("True".into(), "Succeeded".into()));
    assert_eq!(cond("Stalled"), ("True".into(), "GitFetchFailed".into()));

    let second = gate.reconcile(sealgate::base::time::now()).await;
    let Outcome::Failed { reason, message } = &second else {
        panic!("{second:?}")
    };
    assert_eq!(reason, "GitFetchFailed");
    assert!(
        message.contains("an earlier Git operation has not answered yet"),
        "{message}"
    );
}
