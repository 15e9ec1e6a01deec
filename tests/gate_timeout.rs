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
