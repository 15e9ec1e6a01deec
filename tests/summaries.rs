//! Signed verification summaries end to end over a real `docker-registry` and a real Git
//! origin (`git daemon`): the gate writes a DSSE-signed SLSA VSA as the note
//! `refs/notes/sealgate` on its promotion commit; the envelope is checked independently
//! (the PAE computed here from the DSSE spec, the signature verified by the `sigstore`
//! crate); `sealgate verify-promotion` accepts it and refuses every way it can be wrong;
//! re-runs and a crash between the branch push and the note push leave exactly one note.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine as _;
use serde_json::Value;

use common::gate::{DEPLOY, World, assert_condition};
use common::git::git;
use common::*;

const PASSWORD: [(&str, &str); 1] = [("COSIGN_PASSWORD", "pw")];

/// A gate that signs summaries with the `gate` key; the key's public half.
async fn world() -> (World, String) {
    let w = World::builder()
        .extra("metadata: {name: prod}\nsummary:\n  key: gate.key\n")
        .start()
        .await;
    let (_, public) = keypair(w.dir.path(), "gate");
    (w, public)
}

/// `git notes --ref=sealgate show COMMIT` in the origin (None: no note).
fn note(w: &World, commit: &str) -> Option<String> {
    let out = std::process::Command::new("git")
        .current_dir(&w.git.bare)
        .args(["notes", "--ref=sealgate", "show", commit])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Commits on the origin's notes ref (0 without it).
fn note_commits(w: &World) -> usize {
    let out = std::process::Command::new("git")
        .current_dir(&w.git.bare)
        .args(["rev-list", "--count", "refs/notes/sealgate"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

fn verify_promotion(w: &World, key: &std::path::Path, extra: &[&str]) -> Run {
    let mut cmd = sealgate();
    cmd.arg("verify-promotion")
        .arg("--repo")
        .arg(&w.git.bare)
        .args(["--ref", DEPLOY, "--key"])
        .arg(key)
        .args(extra);
    run(&mut cmd)
}

/// The reason code of a `verify-promotion -o json` that did not verify.
fn refused(r: &Run) -> String {
    assert_eq!(r.code, 1, "{r}");
    let v = r.json();
    assert_eq!(v["verified"], false, "{r}");
    v["reason"]["code"].as_str().unwrap().to_string()
}

/// The statement inside the envelope, after checking its signature independently: the PAE
/// built here from the DSSE spec, the signature verified by the sigstore crate.
fn independently_verified(envelope: &str, public_pem: &str) -> Value {
    let env: Value = serde_json::from_str(envelope).unwrap();
    let (body, _) = dsse_verified_by_sigstore(&env, public_pem);
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn promotion_carries_a_signed_summary_that_verify_promotion_checks() {
    let (w, public) = world().await;
    let source = w.commit("v1");
    let r = w.once_env(&PASSWORD);
    assert_eq!(r.code, 0, "{r}");
    assert_condition(&r.json(), "Promoted", "True", "Promoted");
    let (_, _, message) = common::gate::condition(&r.json(), "Promoted");
    assert!(message.contains("signed verification summary"), "{message}");
    w.assert_promoted(&source);
    let head = w.deploy_head().unwrap();

    // the statement: the image by digest, the promotion commit, the source, the policy
    let envelope = note(&w, &head).expect("the promotion commit has a note");
    let record = &r.json()["summary"];
    assert_eq!(record["revision"], source.as_str());
    assert_eq!(
        record["storedIn"],
        serde_json::json!(["refs/notes/sealgate"])
    );
    assert_eq!(
        record["digest"],
        sha256(envelope.trim_end().as_bytes()).as_str()
    );
    assert!(record.get("envelope").is_none(), "the note holds it");
    let st = independently_verified(&envelope, &public);
    assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        st["predicateType"],
        "https://slsa.dev/verification_summary/v1"
    );
    let digest = w.pinned_digest("web.yaml");
    let repo = format!("{}/team/web", w.reg.addr);
    let subjects = st["subject"].as_array().unwrap();
    assert_eq!(subjects.len(), 2, "{st}");
    assert_eq!(subjects[0]["name"], repo.as_str());
    assert_eq!(subjects[0]["digest"]["sha256"], digest.as_str());
    assert_eq!(subjects[1]["digest"]["gitCommit"], head.as_str());
    assert!(
        subjects[1]["name"].as_str().unwrap().starts_with("git+"),
        "{st}"
    );
    let p = &st["predicate"];
    assert_eq!(p["verifier"]["id"], "https://sealgate.dev/gate/prod");
    assert_eq!(p["verificationResult"], "PASSED");
    assert_eq!(
        p["resourceUri"],
        format!("git+{}@{source}", w.git.url).as_str()
    );
    let trailer = w
        .git
        .message(&head)
        .lines()
        .find_map(|l| l.strip_prefix("Sealgate-Policy: ").map(str::to_string))
        .unwrap();
    assert_eq!(
        format!(
            "sha256:{}",
            p["policy"]["digest"]["sha256"].as_str().unwrap()
        ),
        trailer
    );
    // the signature that counted, by the digest of its bytes (the .sig layer blob)
    let inputs = p["inputAttestations"].as_array().unwrap();
    assert_eq!(inputs.len(), 1, "{st}");
    let layer = inputs[0]["digest"]["sha256"].as_str().unwrap();
    assert!(
        inputs[0]["uri"]
            .as_str()
            .unwrap()
            .starts_with(&format!("oci://{repo}@sha256:{digest}#")),
        "{st}"
    );
    let blob = w.reg.count(&[&format!("/blobs/sha256:{layer}")]);
    assert!(
        blob > 0,
        "the input digest is the signature layer the gate fetched"
    );

    // verify-promotion: passes; with the policy digest; as JSON
    let gate_pub = w.path("gate.pub");
    let r = verify_promotion(&w, &gate_pub, &[]);
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stdout.starts_with(&format!("VERIFIED {head}")), "{r}");
    let r = verify_promotion(&w, &gate_pub, &["--policy-digest", &trailer, "-o", "json"]);
    assert_eq!(r.code, 0, "{r}");
    let v = r.json();
    assert_eq!(v["verified"], true);
    assert_eq!(v["summaryCommit"], head.as_str());
    assert_eq!(v["summary"]["verifier"], "https://sealgate.dev/gate/prod");
    // another policy digest, another key
    let other = format!("sha256:{}", "0".repeat(64));
    let r = verify_promotion(&w, &gate_pub, &["--policy-digest", &other, "-o", "json"]);
    assert_eq!(refused(&r), "PolicyDigestDiffers");
    let r = verify_promotion(&w, &w.path("ci.pub"), &["-o", "json"]);
    assert_eq!(refused(&r), "BadSignature");

    // re-running the gate writes no second note
    let r = w.once_env(&PASSWORD);
    assert_eq!(r.code, 0, "{r}");
    assert_condition(&r.json(), "Promoted", "True", "AlreadyPromoted");
    assert_eq!(note_commits(&w), 1);
    assert_eq!(note(&w, &head).unwrap(), envelope);

    // a later commit on the deploy branch: scaling keeps the images covered (via the
    // promotion commit's summary), a changed digest does not; --exact wants a note on it
    let clone = w.dir.path().join("deploy-clone");
    git(
        w.dir.path(),
        &[
            "clone",
            "-q",
            "-b",
            DEPLOY,
            &w.git.bare.to_string_lossy(),
            "deploy-clone",
        ],
    );
    let edit = |from: &str, to: &str, msg: &str| {
        let text = std::fs::read_to_string(clone.join("web.yaml")).unwrap();
        assert!(text.contains(from));
        std::fs::write(clone.join("web.yaml"), text.replace(from, to)).unwrap();
        git(&clone, &["commit", "-q", "-am", msg]);
        git(&clone, &["push", "-q", "origin", DEPLOY]);
    };
    // the docs' recipe with generic tools (git, jq, openssl) verifies the note as it stands
    std::fs::copy(&gate_pub, clone.join("gate.pub")).unwrap();
    let r = bash(&docs_recipe(), &clone, &[]);
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stdout.contains("Verified OK"), "{r}");
    assert!(r.stdout.contains("\"PASSED\""), "{r}");
    assert!(r.stdout.contains(&digest), "{r}");

    edit("containerPort: 8080", "containerPort: 8081", "port");
    let r = verify_promotion(&w, &gate_pub, &["-o", "json"]);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(r.json()["summaryCommit"], head.as_str());
    let r = verify_promotion(&w, &gate_pub, &["--exact", "-o", "json"]);
    assert_eq!(refused(&r), "NoSummary");
    edit(&digest, &"1".repeat(64), "another digest");
    let r = verify_promotion(&w, &gate_pub, &["-o", "json"]);
    assert_eq!(refused(&r), "ImageNotCovered");
    assert!(
        r.json()["reason"]["message"]
            .as_str()
            .unwrap()
            .contains(&"1".repeat(64)),
        "{r}"
    );

    // the note copied onto another commit names its own commit: refused
    let moved = git(&clone, &["rev-parse", "HEAD"]);
    git(
        &w.git.bare,
        &["notes", "--ref=sealgate", "copy", &head, &moved],
    );
    let r = verify_promotion(&w, &gate_pub, &["-o", "json"]);
    assert_eq!(refused(&r), "CommitMismatch");

    // a tampered note (one digest changed in the payload, signature kept): refused
    let mut env: Value = serde_json::from_str(&envelope).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = String::from_utf8(b64.decode(env["payload"].as_str().unwrap()).unwrap()).unwrap();
    env["payload"] = Value::String(b64.encode(body.replace(&digest, &"1".repeat(64))));
    git(
        &w.git.bare,
        &[
            "notes",
            "--ref=sealgate",
            "add",
            "-f",
            "-m",
            &env.to_string(),
            &moved,
        ],
    );
    let r = verify_promotion(&w, &gate_pub, &["-o", "json"]);
    assert_eq!(refused(&r), "BadSignature");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_note_and_a_crash_before_the_note_converge_to_one_note() {
    let (w, _) = world().await;
    let gate_pub = w.path("gate.pub");
    // a deploy branch promoted without summaries has none to verify
    let plain = w.config.with_file_name("plain.yaml");
    let text = std::fs::read_to_string(&w.config).unwrap();
    std::fs::write(
        &plain,
        text.replace("summary:\n  key: gate.key\n", "")
            .replace("stateDir: state", "stateDir: plain-state"),
    )
    .unwrap();
    w.commit("v0");
    let r = run(sealgate()
        .args(["run", "--once", "--json", "--config"])
        .arg(&plain));
    assert_eq!(r.code, 0, "{r}");
    let r = verify_promotion(&w, &gate_pub, &["-o", "json"]);
    assert_eq!(refused(&r), "NoSummary");

    // the gate dies after pushing the promotion, before its note
    let source = w.commit("v1");
    let crash = [
        ("COSIGN_PASSWORD", "pw"),
        ("SEALGATE_FAILPOINT", "promote-before-note"),
    ];
    let r = w.once_env(&crash);
    assert_eq!(r.code, 99, "{r}");
    w.assert_promoted(&source);
    let head = w.deploy_head().unwrap();
    assert_eq!(note(&w, &head), None);
    let r = verify_promotion(&w, &gate_pub, &["--exact", "-o", "json"]);
    assert_eq!(refused(&r), "NoSummary");
    // the next run finds the promotion and adds the note, once
    let r = w.once_env(&PASSWORD);
    assert_eq!(r.code, 0, "{r}");
    assert_condition(&r.json(), "Promoted", "True", "AlreadyPromoted");
    assert_eq!(w.deploy_head().unwrap(), head, "no second promotion");
    assert!(note(&w, &head).is_some());
    assert_eq!(note_commits(&w), 1);
    let r = w.once_env(&PASSWORD);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(note_commits(&w), 1, "no second note");
    let r = verify_promotion(&w, &gate_pub, &["--exact"]);
    assert_eq!(r.code, 0, "{r}");

    // a key that cannot be read stops the gate before anything is written
    let r = w.once_env(&[]);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("COSIGN_PASSWORD"), "{r}");
}

/// Runs `script` through bash with `sealgate` on PATH, in `dir`, with `env`.
fn bash(script: &str, dir: &std::path::Path, env: &[(&str, String)]) -> Run {
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_sealgate"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("PATH", path)
        .env("HOME", dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

/// The shell block of docs/summaries.md that verifies a note with openssl.
fn docs_recipe() -> String {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/summaries.md");
    let text = std::fs::read_to_string(file).unwrap();
    let (_, rest) = text.split_once("with `openssl` alone:\n\n```sh\n").unwrap();
    let (block, _) = rest.split_once("```").unwrap();
    format!("set -euo pipefail\n{block}")
}

fn example_yaml(path: &str) -> Value {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    serde_saphyr::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_argo_cd_plugin_and_the_ci_job_run_verify_promotion() {
    let (w, public) = world().await;
    w.commit("v1");
    let r = w.once_env(&PASSWORD);
    assert_eq!(r.code, 0, "{r}");
    let head = w.deploy_head().unwrap();

    // the plugin's generate script, as the CMP server runs it: in the checked-out
    // application path, with Argo CD's build environment
    let cm = example_yaml("examples/argocd/cmp/plugin.yaml");
    let plugin: Value =
        serde_saphyr::from_str(cm["data"]["plugin.yaml"].as_str().unwrap()).unwrap();
    assert_eq!(plugin["kind"], "ConfigManagementPlugin");
    let app = example_yaml("examples/argocd/cmp/application.yaml");
    assert_eq!(
        app["spec"]["source"]["plugin"]["name"],
        format!(
            "{}-{}",
            plugin["metadata"]["name"].as_str().unwrap(),
            plugin["spec"]["version"].as_str().unwrap()
        )
        .as_str()
    );
    assert_eq!(plugin["spec"]["generate"]["command"][0], "bash");
    let script = plugin["spec"]["generate"]["args"][0].as_str().unwrap();
    let checkout = w.dir.path().join("argocd-checkout");
    git(
        w.dir.path(),
        &["clone", "-q", "-b", DEPLOY, &w.git.url, "argocd-checkout"],
    );
    let argocd = |revision: &str| {
        git(&checkout, &["fetch", "-q", "origin"]);
        git(&checkout, &["checkout", "-q", revision]);
        bash(
            script,
            &checkout,
            &[
                ("ARGOCD_APP_SOURCE_REPO_URL", w.git.url.clone()),
                ("ARGOCD_APP_REVISION", revision.to_string()),
                ("ARGOCD_APP_SOURCE_PATH", ".".into()),
                (
                    "ARGOCD_ENV_SEALGATE_KEY",
                    w.path("gate.pub").display().to_string(),
                ),
                ("ARGOCD_ENV_SEALGATE_POLICY_DIGEST", String::new()),
            ],
        )
    };
    let r = argocd(&head);
    assert_eq!(r.code, 0, "{r}");
    assert!(r.stderr.contains(&format!("VERIFIED {head}")), "{r}");
    let docs: Vec<Value> = serde_saphyr::from_multiple(&r.stdout).unwrap();
    assert!(
        docs.iter().any(|d| d["kind"] == "Deployment"),
        "the manifests are rendered: {r}"
    );
    assert!(r.stdout.contains("@sha256:"), "{r}");

    // a commit on the deploy branch that swaps the digest: the plugin renders nothing
    let text = std::fs::read_to_string(checkout.join("web.yaml")).unwrap();
    let digest = text.split("@sha256:").nth(1).unwrap().get(..64).unwrap();
    git(&checkout, &["checkout", "-q", DEPLOY]);
    std::fs::write(
        checkout.join("web.yaml"),
        text.replace(digest, &"2".repeat(64)),
    )
    .unwrap();
    git(&checkout, &["commit", "-q", "-am", "swap the digest"]);
    git(&checkout, &["push", "-q", "origin", DEPLOY]);
    let swapped = git(&checkout, &["rev-parse", "HEAD"]);
    let r = argocd(&swapped);
    assert_ne!(r.code, 0, "{r}");
    assert!(r.stderr.contains("ImageNotCovered"), "{r}");
    assert_eq!(r.stdout, "", "nothing rendered: {r}");

    // the CI job's command line, with GitHub's variables, on both commits
    let workflow = example_yaml("examples/ci/github/verify-deploy-branch.yml");
    let steps = &workflow["jobs"]["verify-promotion"]["steps"];
    let line = steps
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .find(|s| s.contains("sealgate verify-promotion"))
        .unwrap();
    let (server, repository) = w.git.url.rsplit_once('/').unwrap();
    let job = |sha: &str| {
        let r = bash(
            line,
            w.dir.path(),
            &[
                ("GITHUB_SERVER_URL", server.to_string()),
                (
                    "GITHUB_REPOSITORY",
                    repository.trim_end_matches(".git").into(),
                ),
                ("GITHUB_SHA", sha.to_string()),
                ("GATE_PUBLIC_KEY", public.clone()),
                ("POLICY_DIGEST", String::new()),
                ("GIT_TOKEN", "unused-by-git-daemon".into()),
            ],
        );
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(w.path("verification.json")).unwrap())
                .unwrap();
        (r, report)
    };
    let (r, report) = job(&head);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(report["verified"], true);
    let (r, report) = job(&swapped);
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(report["reason"]["code"], "ImageNotCovered");
}

/// GETs a registry document (an OCI manifest or a JSON blob).
async fn registry_json(url: String) -> Value {
    let r = reqwest::Client::new()
        .get(&url)
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

/// `examples/summaries/imagepolicy-require-summary.yaml` for this world's registry (its
/// `gate.pub` beside it): images admitted on a summary from the `prod` gate alone.
fn vsa_policy(w: &World) -> std::path::PathBuf {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/summaries/imagepolicy-require-summary.yaml");
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains("\"ghcr.io/acme/**\""), "{text}");
    let p = w.path("vsa-policy.yaml");
    std::fs::write(
        &p,
        text.replace("\"ghcr.io/acme/**\"", &format!("\"{}/**\"", w.reg.addr)),
    )
    .unwrap();
    p
}

#[test]
fn the_kyverno_example_requires_the_gates_summary() {
    let doc = example_yaml("examples/summaries/kyverno-require-summary.yaml");
    assert_eq!(doc["kind"], "ClusterPolicy");
    let verify = &doc["spec"]["rules"][0]["verifyImages"][0];
    assert!(
        verify.get("attestors").is_none(),
        "no image signature is required"
    );
    let att = &verify["attestations"][0];
    assert_eq!(att["type"], "https://slsa.dev/verification_summary/v1");
    let keys = &att["attestors"][0]["entries"][0]["keys"];
    assert_eq!(
        keys["rekor"]["ignoreTlog"], true,
        "the gate writes no Rekor entry"
    );
    let conditions = att["conditions"][0]["all"].as_array().unwrap();
    let pairs: Vec<(&str, &str)> = conditions
        .iter()
        .map(|c| (c["key"].as_str().unwrap(), c["value"].as_str().unwrap()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("{{ verifier.id }}", "https://sealgate.dev/gate/prod"),
            ("{{ verificationResult }}", "PASSED")
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn summaries_attached_to_images_admit_them_under_a_vsa_rule() {
    let w = World::builder()
        .unsigned_image()
        .extra("metadata: {name: prod}\nsummary:\n  key: gate.key\n  attachToImages: true\n")
        .start()
        .await;
    let (_, _) = keypair(w.dir.path(), "gate");
    let source = w.commit("v1");
    let r = w.once_env(&PASSWORD);
    assert_eq!(r.code, 0, "{r}");
    w.assert_promoted(&source);
    assert_eq!(
        r.json()["summary"]["storedIn"],
        serde_json::json!(["refs/notes/sealgate", "images"])
    );
    let head = w.deploy_head().unwrap();
    let digest = w.pinned_digest("web.yaml");
    let att = format!("/team/web/manifests/sha256-{digest}.att");
    let manifest = |w: &World| {
        let url = format!("http://{}/v2{att}", w.reg.addr);
        registry_json(url)
    };
    let layers = manifest(&w).await["layers"].as_array().unwrap().clone();
    assert_eq!(layers.len(), 1);
    assert_eq!(
        layers[0]["annotations"]["predicateType"],
        "https://slsa.dev/verification_summary/v1"
    );

    // check with the vsa rule: the image passes on the summary alone, by tag or digest
    let policy = vsa_policy(&w);
    let manifests = w.path("check");
    write_deployment(&manifests, "web.yaml", &[&w.signed]);
    let check = || {
        run(sealgate()
            .args([
                "check",
                "-o",
                "json",
                "--insecure-registry",
                &w.reg.addr,
                "--policy",
            ])
            .arg(&policy)
            .arg(&manifests))
    };
    let before = w.reg.count(&[".sig"]);
    let r = check();
    assert_eq!(r.code, 0, "{r}");
    let report = r.json();
    assert_eq!(report["images"][0]["verdict"], "pass", "{r}");
    assert_eq!(
        report["images"][0]["attestations"][0]["predicateType"],
        "https://slsa.dev/verification_summary/v1"
    );
    assert_eq!(report["images"][0]["attestations"][0]["used"], true);
    assert_eq!(w.reg.count(&[".sig"]), before, "no signature was fetched");
    // an image no summary covers is refused
    write_deployment(&manifests, "debug.yaml", &[&w.unsigned]);
    let r = check();
    assert_eq!(r.code, 1, "{r}");
    let debug = r.json()["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"] == w.unsigned.as_str())
        .cloned()
        .unwrap();
    assert_eq!(debug["reasons"][0]["code"], "AttestationMissing", "{debug}");

    // re-running the gate attaches nothing new; a new promotion replaces the summary
    let r = w.once_env(&PASSWORD);
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(manifest(&w).await["layers"], Value::Array(layers.clone()));
    w.commit("v2");
    let r = w.once_env(&PASSWORD);
    assert_eq!(r.code, 0, "{r}");
    let next = w.deploy_head().unwrap();
    assert_ne!(next, head);
    let now = manifest(&w).await["layers"].as_array().unwrap().clone();
    assert_eq!(now.len(), 1, "one summary per verifier and image: {now:?}");
    assert_ne!(now[0]["digest"], layers[0]["digest"]);
    let b64 = base64::engine::general_purpose::STANDARD;
    let env = registry_json(format!(
        "http://{}/v2/team/web/blobs/{}",
        w.reg.addr,
        now[0]["digest"].as_str().unwrap()
    ))
    .await;
    let st: Value =
        serde_json::from_slice(&b64.decode(env["payload"].as_str().unwrap()).unwrap()).unwrap();
    let subjects = st["subject"].as_array().unwrap();
    assert_eq!(
        subjects.last().unwrap()["digest"]["gitCommit"],
        next.as_str(),
        "the attached summary names the new promotion commit"
    );
}

#[test]
fn sealgate_import_reads_the_kyverno_and_policy_controller_examples_back() {
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = keypair(dir.path(), "gate");
    let body: String = public
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("\n");
    // Kyverno's verifier condition translates onto summary.verifier (reported: Kyverno
    // checks it on every summary, sealgate on the newest); policy-controller's CUE does not
    for (source, file, dropped, verifier) in [
        (
            "kyverno",
            "kyverno-require-summary.yaml",
            "spec.rules[0].verifyImages[0].attestations[0].conditions[0].all[0]",
            Some("https://sealgate.dev/gate/prod"),
        ),
        (
            "policy-controller",
            "policy-controller-require-summary.yaml",
            "spec.authorities[0].attestations[0].policy",
            None,
        ),
    ] {
        let example = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples/summaries")
                .join(file),
        )
        .unwrap();
        // the placeholder line becomes the key's base64 lines, indented alike
        let text: String = example
            .lines()
            .map(|l| match l.split_once("REPLACE-WITH-THE-GATE-PUBLIC-KEY") {
                Some((indent, _)) => body
                    .lines()
                    .map(|b| format!("{indent}{b}\n"))
                    .collect::<String>(),
                None => format!("{l}\n"),
            })
            .collect();
        let path = dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        let r = run(sealgate().args(["import", source]).arg(&path));
        assert_eq!(r.code, 1, "{file}: {r}");
        assert!(
            r.stderr.contains(&format!("{dropped}: dropped")),
            "{file}: {r}"
        );
        assert!(r.stderr.contains("1 dropped"), "{file}: {r}");
        // with --allow-partial: the VSA is required, signed by the gate key, nothing else
        let r = run(sealgate()
            .args(["import", source, "--allow-partial"])
            .arg(&path));
        assert_eq!(r.code, 0, "{file}: {r}");
        let doc: Value = serde_saphyr::from_str(&r.stdout).unwrap();
        let rule = &doc["spec"]["rules"][0];
        assert_eq!(
            rule["attestations"][0]["predicateType"], "https://slsa.dev/verification_summary/v1",
            "{file}: {}",
            r.stdout
        );
        // the attestation's attestors sign only it: no image signature is required
        assert_eq!(rule["signatures"]["threshold"], 0, "{file}: {}", r.stdout);
        assert_eq!(
            rule["attestations"][0]["summary"]["verifier"].as_str(),
            verifier,
            "{file}: {}",
            r.stdout
        );
    }
}

/// `verify-promotion --key hashivault://gate --ref REF [more…]` (`args`: the ref, then more).
fn verify_with_transit_key(bao: &common::bao::Bao, w: &World, args: &[&str]) -> Run {
    run(bao
        .sealgate()
        .arg("verify-promotion")
        .arg("--repo")
        .arg(&w.git.bare)
        .args(["--key", "hashivault://gate", "--ref"])
        .args(args))
}

/// Replaces the note of `commit` in the origin with `text`.
fn rewrite_note(w: &World, commit: &str, text: &[u8]) {
    let file = w.path("note.json");
    std::fs::write(&file, text).unwrap();
    let out = std::process::Command::new("git")
        .current_dir(&w.git.bare)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(["notes", "--ref=sealgate", "add", "-f", "-F"])
        .arg(&file)
        .arg(commit)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_promotion_takes_a_transit_key_and_any_live_version() {
    let bao = common::bao::Bao::start();
    let vault = bao.vault(common::bao::TOKEN);
    vault.create_key("gate", "ecdsa-p256").await.unwrap();
    let (w, _) = world().await;
    w.commit("v1");
    let r = w.once_env(&PASSWORD);
    assert_eq!(r.code, 0, "{r}");
    let head = w.deploy_head().unwrap();
    // the gate's statement, signed by the transit key instead (as a gate with a Vault key
    // would sign it)
    let env: Value = serde_json::from_str(&note(&w, &head).unwrap()).unwrap();
    let body = base64::engine::general_purpose::STANDARD
        .decode(env["payload"].as_str().unwrap())
        .unwrap();
    let (v1, version) = resign(&vault, &body).await;
    assert_eq!(version, 1);
    rewrite_note(&w, &head, &v1);
    let verify = || verify_with_transit_key(&bao, &w, &[DEPLOY, "-o", "json"]);
    let r = verify();
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(r.json()["verified"], true, "{r}");

    // rotated: the summary signed by version 1 still verifies; the file key no longer does
    bao.ok(&["write", "-f", "transit/keys/gate/rotate"]);
    let r = verify();
    assert_eq!(r.code, 0, "{r}");
    let r = verify_promotion(&w, &w.path("gate.pub"), &["-o", "json"]);
    assert_eq!(refused(&r), "BadSignature");
    // version 1 retired: refused, until the summary is signed again (by version 2)
    bao.ok(&[
        "write",
        "transit/keys/gate/config",
        "min_decryption_version=2",
    ]);
    assert_eq!(refused(&verify()), "BadSignature");
    let (v2, version) = resign(&vault, &body).await;
    assert_eq!(version, 2);
    rewrite_note(&w, &head, &v2);
    assert_eq!(verify().code, 0);

    // verify-blob with the transit key: a message-signature bundle signed by Vault
    let blob = b"release notes";
    let (sig, _) = vault.sign("gate", blob).await.unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let bundle = serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": ""}, "tlogEntries": []},
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": b64.encode(sha2_256(blob))},
            "signature": b64.encode(&sig),
        },
    });
    let (file, bundle_file) = (w.path("notes.txt"), w.path("notes.sigstore.json"));
    std::fs::write(&file, blob).unwrap();
    std::fs::write(&bundle_file, bundle.to_string()).unwrap();
    let verify_blob = |file: &std::path::Path| {
        run(bao
            .sealgate()
            .arg("verify-blob")
            .arg(file)
            .arg("--bundle")
            .arg(&bundle_file)
            .args(["--key", "hashivault://gate", "--insecure-ignore-tlog"]))
    };
    let r = verify_blob(&file);
    assert_eq!(r.code, 0, "{r}");
    std::fs::write(&file, b"other notes").unwrap();
    assert_eq!(verify_blob(&file).code, 1);
}

/// `body` signed by the transit key `gate` as a DSSE envelope, with the version that signed.
async fn resign(vault: &sealgate::edge::kms::vault::Vault, body: &[u8]) -> (Vec<u8>, u64) {
    use sealgate::attest::{IN_TOTO_PAYLOAD_TYPE, pae, signed_envelope};
    let (sig, version) = vault
        .sign("gate", &pae(IN_TOTO_PAYLOAD_TYPE, body))
        .await
        .unwrap();
    (signed_envelope(body, &sig), version)
}

fn sha2_256(data: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gate_signs_its_summaries_with_a_transit_key() {
    let bao = common::bao::Bao::start();
    bao.ok(&["write", "-f", "transit/keys/gate", "type=ecdsa-p256"]);
    let w = World::builder()
        .extra("metadata: {name: prod}\nsummary:\n  key: hashivault://gate\n")
        .start()
        .await;
    let vault_env = [
        ("VAULT_ADDR", bao.addr.as_str()),
        ("VAULT_TOKEN", common::bao::TOKEN),
    ];
    // a wrong token: the branch is pushed, its note cannot be signed: the promotion step
    // fails with Vault's answer (retried next time)
    w.commit("v1");
    let r = w.once_env(&[
        ("VAULT_ADDR", bao.addr.as_str()),
        ("VAULT_TOKEN", "not-the-token"),
    ]);
    assert_ne!(r.code, 0, "{r}");
    assert_condition(&r.json(), "Ready", "False", "PromotionFailed");
    assert!(r.stdout.contains("403"), "{r}");
    assert!(!r.stdout.contains("not-the-token") && !r.stderr.contains("not-the-token"));
    let head = w.deploy_head().unwrap();
    assert!(note(&w, &head).is_none());

    // the right token: the note is added, signed by the transit key
    let r = w.once_env(&vault_env);
    assert_eq!(r.code, 0, "{r}");
    let first = note(&w, &head).expect("a note");
    let verify = || verify_with_transit_key(&bao, &w, &[DEPLOY, "-o", "json"]);
    assert_eq!(verify().code, 0);
    let public = bao.key("gate")["keys"]["1"]["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let st = independently_verified(&first, &public);
    assert_eq!(
        st["predicate"]["verifier"]["id"],
        "https://sealgate.dev/gate/prod"
    );

    // rotated, then a new revision: its note is signed by version 2; both verify
    bao.ok(&["write", "-f", "transit/keys/gate/rotate"]);
    w.commit("v2");
    let r = w.once_env(&vault_env);
    assert_eq!(r.code, 0, "{r}");
    let next = w.deploy_head().unwrap();
    assert_ne!(next, head);
    let second = note(&w, &next).expect("a note");
    let v2 = bao.key("gate")["keys"]["2"]["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    independently_verified(&second, &v2);
    assert_eq!(verify().code, 0);
    let r = verify_with_transit_key(&bao, &w, &[&head, "--exact"]);
    assert_eq!(r.code, 0, "the note made before the rotation: {r}");
}
