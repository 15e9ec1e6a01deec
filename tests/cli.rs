//! Black-box CLI tests that need no registry: the offline demo (OCI layout), manifest
//! problems (each blocks with its code), exit code 2 for configuration errors, output
//! formats, stdin, kustomize, CRD image paths, warn mode and several policies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn offline(paths: &[&Path], policy: &Path, layout: &Path, extra: &[&str]) -> Run {
    run(sealgate()
        .arg("check")
        .args(paths)
        .arg("--policy")
        .arg(policy)
        .args(["--offline", "--oci-layout"])
        .arg(layout)
        .args(extra))
}

fn problem_codes(j: &Value) -> Vec<String> {
    j["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn demo_passes_offline_and_blocks_the_unsigned_image() {
    let d = demo();
    let r = offline(
        &[&d.join("manifests")],
        &d.join("policy.yaml"),
        &d.join("oci-layout"),
        &["-o", "json"],
    );
    assert_eq!(r.code, 0, "{r}");
    let j = r.json();
    assert_eq!(j["decision"], "pass");
    assert_eq!(j["summary"]["images"], 3);
    assert_eq!(j["summary"]["manifests"], 3);
    for i in j["images"].as_array().unwrap() {
        assert_eq!(i["verdict"], "pass", "{i}");
        assert_eq!(i["signatures"][0]["source"], "oci-layout");
        assert!(i["digest"].as_str().unwrap().starts_with("sha256:"));
    }
    let r = offline(
        &[&d.join("blocked")],
        &d.join("policy.yaml"),
        &d.join("oci-layout"),
        &[],
    );
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.stdout
            .contains("FAIL         ghcr.io/sealgate-demo/debug-tools:latest"),
        "{r}"
    );
    assert!(r.stdout.contains("NoSignature"), "{r}");
    assert!(
        r.stdout.contains("at "),
        "failing images name their location: {r}"
    );
    assert!(r.stdout.ends_with("decision: blocked (1 manifests, 2 images: 1 pass, 0 allowed, 1 fail, 0 unverifiable; 0 problems)\n"), "{r}");
}

#[test]
fn layout_blob_that_does_not_match_its_digest_is_unverifiable() {
    let d = demo();
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    copy_dir(&d.join("oci-layout"), &layout);
    // tamper with the web image's signature payload in place
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let sig = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            let n = m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap();
            n.starts_with("ghcr.io/sealgate-demo/web:sha256-")
        })
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let sig_manifest: Value = serde_json::from_slice(
        &std::fs::read(layout.join("blobs/sha256").join(&sig[7..])).unwrap(),
    )
    .unwrap();
    let payload = sig_manifest["layers"][0]["digest"].as_str().unwrap();
    let path = layout.join("blobs/sha256").join(&payload[7..]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[5] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let r = offline(
        &[&d.join("manifests/web")],
        &d.join("policy.yaml"),
        &layout,
        &["-o", "json"],
    );
    assert_eq!(r.code, 1, "{r}");
    let j = r.json();
    let web = j["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"] == "ghcr.io/sealgate-demo/web:1.4.2")
        .unwrap()
        .clone();
    assert_eq!(web["verdict"], "unverifiable");
    assert_eq!(web["reasons"][0]["code"], "ContentDigestMismatch");
    let migrate = j["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"] == "ghcr.io/sealgate-demo/migrate:1.4.2")
        .unwrap()
        .clone();
    assert_eq!(migrate["verdict"], "pass", "other images are unaffected");
}

/// A tree with manifests of the demo images plus one bad file; returns the report.
fn with_bad_file(name: &str, content: &[u8]) -> (Run, Value) {
    let d = demo();
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("deploy");
    copy_dir(&d.join("manifests"), &tree);
    std::fs::write(tree.join(name), content).unwrap();
    let r = offline(
        &[&tree],
        &d.join("policy.yaml"),
        &d.join("oci-layout"),
        &["-o", "json"],
    );
    let j = r.json();
    (r, j)
}

#[test]
fn manifest_problems_block_with_their_code() {
    let (r, j) = with_bad_file("bad.yaml", b"apiVersion: v1\nkind: Pod\nspec: [unclosed\n");
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(j["decision"], "blocked");
    assert_eq!(problem_codes(&j), vec!["ManifestParseError"]);
    assert_eq!(
        j["summary"]["pass"], 3,
        "the good images are still verified: {r}"
    );

    let (r, j) = with_bad_file(
        "utf8.yaml",
        b"apiVersion: v1\nkind: Pod\nmetadata: {name: \xff\xfe}\n",
    );
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(problem_codes(&j), vec!["ManifestParseError"]);

    let mut bomb = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in names.windows(2) {
        bomb.push_str(&format!(
            "  {}: &{} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n",
            w[1],
            w[1],
            p = w[0]
        ));
    }
    let (r, j) = with_bad_file("bomb.yaml", bomb.as_bytes());
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(problem_codes(&j), vec!["ManifestParseError"]);

    let (r, j) = with_bad_file(
        "templated.yaml",
        b"apiVersion: v1\nkind: Pod\nmetadata: {name: t}\nspec:\n  containers:\n    - name: a\n      image: \"{{ .Values.image }}\"\n",
    );
    assert_eq!(r.code, 1, "{r}");
    let t = j["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"] == "{{ .Values.image }}")
        .unwrap()
        .clone();
    assert_eq!(t["verdict"], "unverifiable");
    assert_eq!(t["reasons"][0]["code"], "UnresolvableReference");
}

#[test]
fn symlink_escaping_the_root_is_an_unsafe_path() {
    let d = demo();
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("deploy");
    copy_dir(&d.join("manifests"), &tree);
    let outside = tmp.path().join("outside.yaml");
    std::fs::write(&outside, "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: a, image: evil/miner}]}\n").unwrap();
    std::os::unix::fs::symlink(&outside, tree.join("link.yaml")).unwrap();
    let r = offline(
        &[&tree],
        &d.join("policy.yaml"),
        &d.join("oci-layout"),
        &["-o", "json"],
    );
    assert_eq!(r.code, 1, "{r}");
    let j = r.json();
    assert_eq!(problem_codes(&j), vec!["UnsafePath"]);
    assert!(
        !r.stdout.contains("evil/miner"),
        "the escaping file was read: {r}"
    );
}

#[test]
fn configuration_errors_exit_2_and_name_the_problem() {
    let d = demo();
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("policy.yaml");
    std::fs::write(&bad, "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: p}\nspec:\n  rules:\n    - name: r\n      images: ['**']\n      signatures:\n        threshold: 3\n        attestors: [{name: ci, key: {path: ci.pub}}]\n").unwrap();
    std::fs::copy(d.join("cosign.pub"), tmp.path().join("ci.pub")).unwrap();
    let r = offline(&[&d.join("manifests")], &bad, &d.join("oci-layout"), &[]);
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr.contains("policy.yaml") && r.stderr.contains("spec.rules[0].signatures.threshold"),
        "{r}"
    );
    assert!(r.stdout.is_empty(), "{r}");

    // a keyless attestor without a subject is named
    std::fs::write(&bad, "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: p}\nspec:\n  rules:\n    - name: r\n      images: ['**']\n      signatures:\n        attestors: [{name: rel, keyless: {issuer: 'https://token.actions.githubusercontent.com'}}]\n").unwrap();
    let r = offline(&[&d.join("manifests")], &bad, &d.join("oci-layout"), &[]);
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr
            .contains("spec.rules[0].signatures.attestors[0].keyless")
            && r.stderr.contains("needs `subject` or `subjectRegExp`"),
        "{r}"
    );
    // an unreadable --trusted-root is a usage error
    let r = offline(
        &[&d.join("manifests")],
        &d.join("policy.yaml"),
        &d.join("oci-layout"),
        &["--trusted-root", "/nonexistent/trusted_root.json"],
    );
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("/nonexistent/trusted_root.json"), "{r}");

    // no manifests, missing path, unknown flag, --offline without a layout
    let empty = tempfile::tempdir().unwrap();
    let r = offline(
        &[empty.path()],
        &d.join("policy.yaml"),
        &d.join("oci-layout"),
        &[],
    );
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("no manifests found"), "{r}");
    let r = offline(
        &[&tmp.path().join("nope")],
        &d.join("policy.yaml"),
        &d.join("oci-layout"),
        &[],
    );
    assert_eq!(r.code, 2, "{r}");
    let r = offline(
        &[&d.join("manifests")],
        &d.join("policy.yaml"),
        &d.join("oci-layout"),
        &["--frobnicate"],
    );
    assert_eq!(r.code, 2, "{r}");
    let r = run(sealgate()
        .arg("check")
        .arg(d.join("manifests"))
        .arg("--policy")
        .arg(d.join("policy.yaml"))
        .arg("--offline"));
    assert_eq!(r.code, 2, "{r}");
    let r = offline(
        &[&d.join("manifests")],
        &d.join("policy.yaml"),
        &d.join("oci-layout"),
        &["--trusted-root", "x.json"],
    );
    assert_eq!(r.code, 2, "{r}");
}

#[test]
fn stdin_stream_is_checked() {
    let d = demo();
    let mut stream = Vec::new();
    for f in ["manifests/web/deployment.yaml", "manifests/worker.yaml"] {
        stream.extend(std::fs::read(d.join(f)).unwrap());
        stream.extend(b"\n---\n");
    }
    let r = run_stdin(
        sealgate()
            .args(["check", "-", "--policy"])
            .arg(d.join("policy.yaml"))
            .args(["--offline", "--oci-layout"])
            .arg(d.join("oci-layout"))
            .args(["-o", "json"]),
        Some(&stream),
    );
    assert_eq!(r.code, 0, "{r}");
    let j = r.json();
    assert_eq!(j["summary"]["images"], 3);
    assert_eq!(j["images"][0]["locations"][0]["file"], "-");
}

#[test]
fn sarif_and_junit_reports() {
    let d = demo();
    let r = offline(
        &[&d.join("blocked")],
        &d.join("policy.yaml"),
        &d.join("oci-layout"),
        &["-o", "sarif"],
    );
    assert_eq!(r.code, 1, "{r}");
    let s = r.json();
    assert_eq!(s["version"], "2.1.0");
    let results = s["runs"][0]["results"].as_array().unwrap();
    assert_eq!(
        results.len(),
        1,
        "one result per failing image location: {r}"
    );
    assert_eq!(results[0]["ruleId"], "NoSignature");
    assert_eq!(results[0]["level"], "error");
    assert!(
        results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("blocked/debug.yaml")
    );
    assert_eq!(
        s["runs"][0]["tool"]["driver"]["rules"][0]["id"],
        "NoSignature"
    );

    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("report.xml");
    let r = offline(
        &[&d.join("blocked")],
        &d.join("policy.yaml"),
        &d.join("oci-layout"),
        &["-o", "junit", "--output-file", file.to_str().unwrap()],
    );
    assert_eq!(r.code, 1, "{r}");
    assert!(r.stdout.is_empty(), "report went to the file: {r}");
    let xml = std::fs::read_to_string(&file).unwrap();
    assert!(
        xml.contains(r#"tests="2" failures="1" errors="0""#),
        "{xml}"
    );
    assert!(xml.contains(r#"<failure type="NoSignature""#), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 2, "{xml}");
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn kustomize_overrides_crd_paths_warn_mode_and_several_policies() {
    let d = demo();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // a kustomization that renames an unsigned reference to the signed worker image
    write(
        t,
        "deploy/base/job.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: worker}]\n",
    );
    write(
        t,
        "deploy/base/kustomization.yaml",
        "resources: [job.yaml]\nimages:\n  - name: worker\n    newName: ghcr.io/sealgate-demo/worker\n    newTag: 2.0.1\n",
    );
    // an Argo Rollout (a CRD) whose image only --image-path reveals
    write(
        t,
        "deploy/rollout.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: ghcr.io/sealgate-demo/debug-tools:latest}]\n",
    );
    let r = offline(
        &[&t.join("deploy")],
        &d.join("policy.yaml"),
        &d.join("oci-layout"),
        &["-o", "json"],
    );
    assert_eq!(r.code, 0, "{r}");
    let j = r.json();
    assert_eq!(j["images"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(
        j["images"][0]["image"],
        "ghcr.io/sealgate-demo/worker:2.0.1"
    );
    assert_eq!(j["images"][0]["verdict"], "pass");

    let r = offline(
        &[&t.join("deploy")],
        &d.join("policy.yaml"),
        &d.join("oci-layout"),
        &[
            "-o",
            "json",
            "--image-path",
            "Rollout=/spec/template/spec/containers/*/image",
        ],
    );
    assert_eq!(r.code, 1, "{r}");
    let j = r.json();
    let rollout = j["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["locations"][0]["kind"] == "Rollout")
        .unwrap()
        .clone();
    assert_eq!(rollout["reasons"][0]["code"], "NoSignature");
    assert_eq!(
        rollout["locations"][0]["pointer"],
        "/spec/template/spec/containers/0/image"
    );

    // the policy's spec.extraImagePaths does the same as --image-path
    let with_paths = t.join("with-paths");
    std::fs::create_dir_all(&with_paths).unwrap();
    std::fs::copy(d.join("cosign.pub"), with_paths.join("cosign.pub")).unwrap();
    let policy = std::fs::read_to_string(d.join("policy.yaml"))
        .unwrap()
        .replace(
            "spec:\n",
            "spec:\n  extraImagePaths: [\"Rollout=/spec/template/spec/containers/*/image\"]\n",
        );
    std::fs::write(with_paths.join("policy.yaml"), policy).unwrap();
    let r = offline(
        &[&t.join("deploy")],
        &with_paths.join("policy.yaml"),
        &d.join("oci-layout"),
        &["-o", "json"],
    );
    assert_eq!(r.code, 1, "{r}");
    assert!(
        r.json()["images"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["locations"][0]["kind"] == "Rollout"),
        "{r}"
    );

    // the same policy in warn mode reports but does not block
    let policies = t.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::copy(d.join("cosign.pub"), policies.join("cosign.pub")).unwrap();
    let warn = std::fs::read_to_string(d.join("policy.yaml"))
        .unwrap()
        .replace("spec:\n", "spec:\n  mode: warn\n");
    std::fs::write(policies.join("a-demo.yaml"), &warn).unwrap();
    let args = [
        "-o",
        "json",
        "--image-path",
        "Rollout=/spec/template/spec/containers/*/image",
    ];
    let r = offline(
        &[&t.join("deploy")],
        &policies,
        &d.join("oci-layout"),
        &args,
    );
    assert_eq!(r.code, 0, "{r}");
    assert_eq!(r.json()["decision"], "warn");
    // a second, enforcing policy in the directory that also matches: all matching policies apply
    std::fs::write(
        policies.join("b-strict.yaml"),
        "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: strict}\nspec:\n  rules:\n    - name: pinned\n      images: ['ghcr.io/**']\n      requireDigest: true\n",
    )
    .unwrap();
    let r = offline(
        &[&t.join("deploy")],
        &policies,
        &d.join("oci-layout"),
        &args,
    );
    assert_eq!(r.code, 1, "{r}");
    let j = r.json();
    assert_eq!(j["policies"].as_array().unwrap().len(), 2);
    let worker = j["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["image"] == "ghcr.io/sealgate-demo/worker:2.0.1")
        .unwrap()
        .clone();
    assert_eq!(worker["reasons"][0]["code"], "TagNotPinned");
    assert_eq!(worker["rule"], "demo/demo-apps, strict/pinned");
}

#[test]
fn the_gate_demo_promotes_blocks_promotes_and_bumps_a_verified_version() {
    let r = run(sealgate().arg("demo"));
    assert_eq!(r.code, 0, "{r}");
    let steps: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("→ ")).collect();
    assert_eq!(steps.len(), 4, "{r}");
    assert!(steps[0].starts_with("→ PROMOTED"), "{r}");
    assert_eq!(steps[1], "→ BLOCKED (NoSignature)", "{r}");
    assert!(steps[2].starts_with("→ PROMOTED"), "{r}");
    assert!(steps[3].starts_with("→ PROMOTED"), "{r}");
    assert!(
        r.stdout
            .contains("main: sealgate committed web 1.5.0@sha256:"),
        "{r}"
    );
    assert!(r.stdout.contains("REJECTED 1.6.0 NoSignature"), "{r}");
    assert!(r.stdout.contains("deploy/prod still points at"), "{r}");
    assert!(r.stdout.contains("worker:2.0.1@sha256:"), "{r}");
    // nothing is left behind without --keep
    let dir = r
        .stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("sealgate demo in "))
        .unwrap()
        .to_string();
    assert!(!std::path::Path::new(&dir).exists(), "{dir} was kept");
}

fn mkfifo(path: &Path) {
    let st = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success(), "mkfifo {}", path.display());
}

#[test]
fn warn_mode_never_blocks_on_unreadable_references_but_manifest_problems_do() {
    let d = demo();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    std::fs::copy(d.join("cosign.pub"), t.join("cosign.pub")).unwrap();
    let warn = std::fs::read_to_string(d.join("policy.yaml"))
        .unwrap()
        .replace("spec:\n", "spec:\n  mode: warn\n");
    std::fs::write(t.join("policy.yaml"), &warn).unwrap();
    // Helm and envsubst placeholders: references that cannot be parsed
    write(
        t,
        "deploy/templated.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: t}\nspec:\n  containers:\n    - {name: a, image: '{{ .Values.image }}'}\n    - {name: b, image: '$(IMAGE)'}\n",
    );
    let r = offline(
        &[&t.join("deploy")],
        &t.join("policy.yaml"),
        &d.join("oci-layout"),
        &["-o", "json"],
    );
    assert_eq!(r.code, 0, "{r}");
    let j = r.json();
    assert_eq!(j["decision"], "warn", "{r}");
    let images = j["images"].as_array().unwrap();
    assert_eq!(images.len(), 2, "{r}");
    for i in images {
        assert_eq!(i["verdict"], "unverifiable", "{r}");
        assert_eq!(i["reasons"][0]["code"], "UnresolvableReference", "{r}");
    }
    // the same under an enforcing policy blocks
    let r = offline(
        &[&t.join("deploy")],
        &d.join("policy.yaml"),
        &d.join("oci-layout"),
        &["-o", "json"],
    );
    assert_eq!(r.code, 1, "{r}");
    assert_eq!(r.json()["decision"], "blocked");
    // a manifest that cannot be parsed may hide images: it blocks in warn mode too
    write(t, "deploy/broken.yaml", "apiVersion: v1\nkind: [unclosed\n");
    let r = offline(
        &[&t.join("deploy")],
        &t.join("policy.yaml"),
        &d.join("oci-layout"),
        &["-o", "json"],
    );
    assert_eq!(r.code, 1, "{r}");
    let j = r.json();
    assert_eq!(j["decision"], "blocked");
    assert_eq!(problem_codes(&j), vec!["ManifestParseError"]);
}

#[test]
fn fifos_and_other_special_files_are_refused_never_read() {
    let d = demo();
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // a FIFO named *.yaml in the --policy directory: a clear error naming it, not a hang
    let policies = t.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::copy(d.join("cosign.pub"), policies.join("cosign.pub")).unwrap();
    std::fs::copy(d.join("policy.yaml"), policies.join("a.yaml")).unwrap();
    mkfifo(&policies.join("b.yaml"));
    let r = offline(
        &[&d.join("manifests")],
        &policies,
        &d.join("oci-layout"),
        &[],
    );
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr.contains("b.yaml") && r.stderr.contains("not a regular file (a FIFO)"),
        "{r}"
    );
    // a FIFO as the policy's key file
    let keyed = t.join("keyed");
    std::fs::create_dir_all(&keyed).unwrap();
    std::fs::copy(d.join("policy.yaml"), keyed.join("policy.yaml")).unwrap();
    mkfifo(&keyed.join("cosign.pub"));
    let r = offline(
        &[&d.join("manifests")],
        &keyed.join("policy.yaml"),
        &d.join("oci-layout"),
        &[],
    );
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr.contains("cosign.pub") && r.stderr.contains("FIFO"),
        "{r}"
    );
    // a FIFO, a directory and a device as --trusted-root
    let fifo = t.join("root.json");
    mkfifo(&fifo);
    for (path, kind) in [
        (fifo.as_path(), "a FIFO"),
        (t, "a directory"),
        (Path::new("/dev/zero"), "a character device"),
    ] {
        let r = offline(
            &[&d.join("manifests")],
            &d.join("policy.yaml"),
            &d.join("oci-layout"),
            &["--trusted-root", path.to_str().unwrap()],
        );
        assert_eq!(r.code, 2, "{r}");
        assert!(r.stderr.contains(kind), "{kind}: {r}");
    }
    // a FIFO among the manifests is a problem (never read, never skipped silently)
    let deploy = t.join("deploy");
    std::fs::create_dir_all(&deploy).unwrap();
    std::fs::copy(d.join("manifests/worker.yaml"), deploy.join("worker.yaml")).unwrap();
    mkfifo(&deploy.join("pipe.yaml"));
    let r = offline(
        &[&deploy],
        &d.join("policy.yaml"),
        &d.join("oci-layout"),
        &["-o", "json"],
    );
    assert_eq!(r.code, 1, "{r}");
    let j = r.json();
    assert_eq!(problem_codes(&j), vec!["ManifestParseError"]);
    assert!(
        j["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("FIFO"),
        "{r}"
    );
}
