//! The CI examples in `examples/ci/` run: their YAML parses into the shape each CI system
//! reads, and every `sealgate` command line in them is run — as the CI system would run it,
//! through `bash` with the variables set — against the demo data (an OCI layout, so the test
//! adds `--offline --oci-layout` / `--oci-layout`): `check` must pass and write the report in
//! the format the example uploads, `sign` and `attest` must sign into the layout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn yaml(file: &str) -> Value {
    let text = std::fs::read_to_string(repo().join("examples/ci").join(file)).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The `sealgate …` command lines of a shell script (continuation lines joined).
fn invocations(script: &str) -> Vec<String> {
    script
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("sealgate "))
        .map(str::to_owned)
        .collect()
}

/// Every `run:` script of a list of GitHub Actions steps.
fn step_scripts(steps: &Value) -> Vec<String> {
    steps
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str().map(str::to_owned))
        .collect()
}

/// What the demo gives the examples' variables.
struct Demo {
    dir: tempfile::TempDir,
    layout: PathBuf,
    key_pem: String,
    public_pem: String,
}

fn demo_env() -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let layout = demo_layout_copy(&dir.path().join("layout"));
    let (key, public_pem) = keypair(dir.path(), "release");
    std::fs::write(
        dir.path().join("sbom.cdx.json"),
        r#"{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, "components": []}"#,
    )
    .unwrap();
    Demo {
        key_pem: std::fs::read_to_string(key).unwrap(),
        public_pem,
        dir,
        layout,
    }
}

/// Runs one command line through bash as CI would, with `sealgate` on PATH.
fn run_line(d: &Demo, line: &str, extra: &str) -> Run {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_sealgate"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-euc")
        .arg(format!("{line} {extra}"))
        .current_dir(d.dir.path())
        .env("PATH", path)
        .env("HOME", d.dir.path())
        .env_remove("DOCKER_CONFIG")
        .env("MANIFESTS", demo().join("manifests"))
        .env("POLICY", demo().join("policy.yaml"))
        .env("IMAGE", "ghcr.io/sealgate-demo/web:1.4.2")
        .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
        .env("COSIGN_KEY", &d.key_pem)
        .env("COSIGN_PASSWORD", "pw");
    run_stdin(&mut cmd, None)
}

/// Runs a `check` line against the demo and checks the report file it wrote.
fn check_passes(demo: &Demo, line: &str, extra: &str, report: &str, format: &str) {
    let r = run_line(demo, line, extra);
    assert_eq!(r.code, 0, "{line}\n{r}");
    let text = std::fs::read_to_string(demo.dir.path().join(report))
        .unwrap_or_else(|e| panic!("{line}: no report {report}: {e}"));
    match format {
        "sarif" => {
            let doc: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(doc["version"], "2.1.0", "{text}");
            assert_eq!(doc["runs"][0]["tool"]["driver"]["name"], "sealgate");
        }
        "junit" => assert!(text.contains("<testsuite"), "{text}"),
        other => panic!("format {other}"),
    }
}

#[test]
fn the_github_action_runs_check_and_uploads_sarif() {
    let action = yaml("github/action.yml");
    assert_eq!(action["runs"]["using"], "composite");
    let inputs = action["inputs"].as_object().unwrap();
    for (name, input) in inputs {
        assert!(
            input["description"].as_str().is_some_and(|d| !d.is_empty()),
            "input {name} is not documented"
        );
    }
    assert_eq!(action["inputs"]["policy"]["required"], true);
    let steps = &action["runs"]["steps"];
    for s in steps.as_array().unwrap() {
        if s.get("run").is_some() {
            assert_eq!(s["shell"], "bash", "a composite step needs a shell: {s}");
        }
    }
    let upload = steps
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("github/codeql-action/upload-sarif@"))
        })
        .expect("an upload-sarif step");
    assert!(
        upload["if"].as_str().unwrap().contains("always()"),
        "findings are uploaded when the check fails too"
    );

    let d = demo_env();
    let lines: Vec<String> = step_scripts(steps)
        .iter()
        .flat_map(|s| invocations(s))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    // the inputs as a workflow would give them, the layout through `args`
    let line = lines[0]
        .replace(
            "${{ inputs.paths }}",
            &demo().join("manifests").display().to_string(),
        )
        .replace(
            "${{ inputs.policy }}",
            &demo().join("policy.yaml").display().to_string(),
        )
        .replace(
            "${{ inputs.sarif-file }}",
            inputs["sarif-file"]["default"].as_str().unwrap(),
        )
        .replace(
            "${{ inputs.args }}",
            &format!("--offline --oci-layout {}", d.layout.display()),
        );
    assert!(!line.contains("${{"), "{line}");
    check_passes(&d, &line, "", "sealgate.sarif", "sarif");
}

#[test]
fn the_release_workflow_signs_and_attests_what_it_pushed() {
    let wf = yaml("github/release.yml");
    let jobs = wf["jobs"].as_object().unwrap();
    let build = &jobs["build-sign-attest"];
    let lines: Vec<String> = step_scripts(&build["steps"])
        .iter()
        .flat_map(|s| invocations(s))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("sealgate sign "), "{lines:?}");
    assert!(lines[1].starts_with("sealgate attest "), "{lines:?}");
    // the verify job uses the composite action
    assert!(
        jobs["verify-manifests"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["uses"] == "./examples/ci/github")
    );

    let d = demo_env();
    let layout = format!("--oci-layout {}", d.layout.display());
    for line in &lines {
        let r = run_line(&d, line, &layout);
        assert_eq!(r.code, 0, "{line}\n{r}");
    }
    // the image now carries a signature by the release key, and an attestation
    let index = std::fs::read_to_string(d.layout.join("index.json")).unwrap();
    assert!(index.contains(".att\""), "{index}");
    let policy_dir = d.dir.path().join("policy");
    std::fs::create_dir_all(&policy_dir).unwrap();
    let policy = write_policy(
        &policy_dir,
        "ghcr.io/sealgate-demo/web",
        &[("release", &d.public_pem)],
        None,
        "",
    );
    write_deployment(
        &policy_dir,
        "deploy/web.yaml",
        &["ghcr.io/sealgate-demo/web:1.4.2"],
    );
    let r = run(sealgate()
        .arg("check")
        .arg(policy_dir.join("deploy"))
        .arg("--policy")
        .arg(&policy)
        .args(["--offline", "--oci-layout"])
        .arg(&d.layout));
    assert_eq!(r.code, 0, "signed by the release key: {r}");
}

#[test]
fn the_gitlab_job_writes_the_junit_report_it_uploads() {
    let ci = yaml("gitlab/.gitlab-ci.yml");
    let job = &ci["verify-images"];
    assert_eq!(job["artifacts"]["when"], "always");
    let report = job["artifacts"]["reports"]["junit"].as_str().unwrap();
    let lines: Vec<String> = job["script"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| invocations(s.as_str().unwrap()))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let d = demo_env();
    let offline = format!("--offline --oci-layout {}", d.layout.display());
    check_passes(&d, &lines[0], &offline, report, "junit");
}

#[test]
fn the_jenkinsfile_writes_the_junit_report_it_publishes() {
    let text = std::fs::read_to_string(repo().join("examples/ci/jenkins/Jenkinsfile")).unwrap();
    let lines: Vec<String> = text
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("sh '")
                .and_then(|rest| rest.strip_suffix('\''))
        })
        .flat_map(invocations)
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let published = text
        .split("testResults: '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a junit step");
    let d = demo_env();
    let offline = format!("--offline --oci-layout {}", d.layout.display());
    check_passes(&d, &lines[0], &offline, published, "junit");
}
