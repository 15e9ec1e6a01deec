//! `sealgate webhook` black box over real HTTPS: a test CA and server certificate (rcgen), the
//! binary against a real `docker-registry` with images signed by `sealgate sign`, and
//! AdmissionReview bodies posted by an HTTPS client that trusts only that CA.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::proxy::{Proxy, Rule};
use common::*;
use serde_json::{Value, json};

/// A CA and a server certificate for `localhost` / 127.0.0.1 issued by it, as PEM files.
struct Pki {
    ca_pem: String,
    cert: PathBuf,
    key: PathBuf,
}

fn pki(dir: &Path, name: &str) -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("test CA {name}"));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("webhook {name}"));
    let cert = params.signed_by(&key, &issuer).unwrap();
    let (cert_file, key_file) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert: cert_file,
        key: key_file,
    }
}

fn client(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A running `sealgate webhook`; killed on drop.
struct Hook {
    child: Child,
    url: String,
}

impl Drop for Hook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(pki: &Pki, policy: &Path, registry: &str, extra: &[&str]) -> Hook {
    let port = free_port();
    let child = sealgate()
        .arg("webhook")
        .arg("--policy")
        .arg(policy)
        .arg("--tls-cert")
        .arg(&pki.cert)
        .arg("--tls-key")
        .arg(&pki.key)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--insecure-registry", registry])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let hook = Hook {
        child,
        url: format!("https://localhost:{port}"),
    };
    let c = client(&pki.ca_pem);
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = c.get(format!("{}/healthz", hook.url)).send().await
            && r.status() == 200
        {
            return hook;
        }
        assert!(Instant::now() < until, "webhook did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn review(object: &Value, operation: &str, sub_resource: Option<&str>) -> Value {
    let mut request = json!({
        "uid": format!("uid-{}", hex::encode(rand_bytes::<8>())),
        "kind": {"group": "", "version": "v1", "kind": object["kind"]},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": "team-a",
        "name": object["metadata"]["name"],
        "operation": operation,
        "userInfo": {"username": "kubernetes-admin"},
        "object": object,
        "dryRun": false
    });
    if let Some(s) = sub_resource {
        request["subResource"] = s.into();
    }
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
}

fn pod(images: &[&str]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, im)| json!({"name": format!("c{i}"), "image": im}))
        .collect();
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
           "spec": {"containers": containers}})
}

/// Posts a review; returns its `response` after checking the uid is echoed.
async fn post(c: &reqwest::Client, url: &str, review: &Value) -> Value {
    let r = c
        .post(url)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(review).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(doc["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(doc["kind"], "AdmissionReview");
    assert_eq!(doc["response"]["uid"], review["request"]["uid"]);
    doc["response"].clone()
}

/// Applies JSONPatch `replace` operations (all the webhook sends) to `doc`.
fn apply_patch(doc: &mut Value, response: &Value) {
    let patch = base64::engine::general_purpose::STANDARD
        .decode(response["patch"].as_str().unwrap())
        .unwrap();
    let ops: Vec<Value> = serde_json::from_slice(&patch).unwrap();
    for op in ops {
        assert_eq!(op["op"], "replace");
        *doc.pointer_mut(op["path"].as_str().unwrap()).unwrap() = op["value"].clone();
    }
}

/// Signed `team/web:v1` and unsigned `team/debug:latest` in a real registry, a policy trusting
/// the `ci` key for every image.
struct Setup {
    reg: TestRegistry,
    dir: tempfile::TempDir,
    signed: String,
    signed_digest: String,
    unsigned: String,
    public: String,
}

async fn setup() -> Setup {
    let reg = TestRegistry::start();
    let signed_digest = push_image(&oci(), &reg, "team/web", "v1").await;
    push_image(&oci(), &reg, "team/debug", "latest").await;
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = keypair(dir.path(), "ci");
    let signed = reg.reference("team/web", "v1");
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "pw")
        .arg("sign")
        .arg("--key")
        .arg(&key)
        .args(["--insecure-registry", &reg.addr, &signed]));
    assert_eq!(r.code, 0, "{r}");
    let unsigned = reg.reference("team/debug", "latest");
    Setup {
        reg,
        dir,
        signed,
        signed_digest,
        unsigned,
        public,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_over_https_allow_deny_and_pin() {
    let s = setup().await;
    let policy = write_policy(
        s.dir.path(),
        "**",
        &[("ci", &s.public)],
        None,
        "  extraImagePaths: [\"Worker=/spec/runtime/image\"]\n",
    );
    let tls = pki(s.dir.path(), "a");
    let hook = start(&tls, &policy, &s.reg.addr, &["--mutate-digest"]).await;
    let c = client(&tls.ca_pem);
    let validate = format!("{}/validate", hook.url);

    // a Pod of the signed image is allowed
    let ok = post(&c, &validate, &review(&pod(&[&s.signed]), "CREATE", None)).await;
    assert_eq!(ok["allowed"], true, "{ok}");
    assert!(ok.get("status").is_none(), "{ok}");

    // one unsigned container denies the Pod: 403 naming the image, its pointer, the code
    let denied = post(
        &c,
        &validate,
        &review(&pod(&[&s.signed, &s.unsigned]), "CREATE", None),
    )
    .await;
    assert_eq!(denied["allowed"], false, "{denied}");
    assert_eq!(denied["status"]["code"], 403);
    let msg = denied["status"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("sealgate denied Pod team-a/web: 1 image failed policy: "),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "{} at /spec/containers/1/image: NoSignature",
            s.unsigned
        )),
        "{msg}"
    );
    assert!(!msg.contains(&format!("{} at", s.signed)), "{msg}");

    // pod templates: Deployment and CronJob, same verdicts
    let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"template": {"spec": {"initContainers": [{"name": "i", "image": s.unsigned}],
                                       "containers": [{"name": "c", "image": s.signed}]}}}});
    let r = post(&c, &validate, &review(&deploy, "UPDATE", None)).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("/spec/template/spec/initContainers/0/image: NoSignature"),
        "{r}"
    );
    let cron = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "n"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": s.signed}]}}}}}});
    assert_eq!(
        post(&c, &validate, &review(&cron, "CREATE", None)).await["allowed"],
        true
    );

    // the ephemeral-container subresource: the debug container's image is checked
    let mut debug = pod(&[&s.signed]);
    debug["spec"]["ephemeralContainers"] = json!([{"name": "dbg", "image": s.unsigned}]);
    let r = post(
        &c,
        &validate,
        &review(&debug, "UPDATE", Some("ephemeralcontainers")),
    )
    .await;
    assert_eq!(r["allowed"], false, "{r}");
    let msg = r["status"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("sealgate denied ephemeralcontainers of Pod team-a/web"),
        "{msg}"
    );
    assert!(
        msg.contains("/spec/ephemeralContainers/0/image: NoSignature"),
        "{msg}"
    );

    // a CRD through the policy's extraImagePaths
    let worker = json!({"apiVersion": "example.com/v1", "kind": "Worker", "metadata": {"name": "w"},
        "spec": {"runtime": {"image": s.unsigned}}});
    let r = post(&c, &validate, &review(&worker, "CREATE", None)).await;
    assert_eq!(r["allowed"], false, "{r}");
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("/spec/runtime/image"),
        "{r}"
    );

    // DELETE is allowed without a look, dryRun is answered like any review
    let mut del = review(&pod(&[&s.unsigned]), "DELETE", None);
    del["request"]["object"] = Value::Null;
    assert_eq!(post(&c, &validate, &del).await["allowed"], true);
    let mut dry = review(&pod(&[&s.unsigned]), "CREATE", None);
    dry["request"]["dryRun"] = true.into();
    assert_eq!(post(&c, &validate, &dry).await["allowed"], false);

    // /mutate pins the verified tag; applying the patch gives the digest-pinned object
    let object = pod(&[&s.signed]);
    let r = post(
        &c,
        &format!("{}/mutate", hook.url),
        &review(&object, "CREATE", None),
    )
    .await;
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(r["patchType"], "JSONPatch", "{r}");
    let mut patched = object.clone();
    apply_patch(&mut patched, &r);
    assert_eq!(
        patched["spec"]["containers"][0]["image"],
        format!("{}@{}", s.signed, s.signed_digest)
    );
    // /validate never sends a patch
    let r = post(&c, &validate, &review(&object, "CREATE", None)).await;
    assert!(r.get("patch").is_none(), "{r}");

    // the metrics count what was answered, with bounded labels
    let m = c
        .get(format!("{}/metrics", hook.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains(r#"sealgate_admission_requests_total{result="denied",reason="NoSignature"} 5"#),
        "{m}"
    );
    assert!(
        m.contains("sealgate_admission_duration_seconds_count"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warn_mode_policies_allow_with_warnings() {
    let s = setup().await;
    let policy = write_policy(
        s.dir.path(),
        "**",
        &[("ci", &s.public)],
        None,
        "  mode: warn\n",
    );
    let tls = pki(s.dir.path(), "w");
    let hook = start(&tls, &policy, &s.reg.addr, &[]).await;
    let c = client(&tls.ca_pem);
    let r = post(
        &c,
        &format!("{}/validate", hook.url),
        &review(&pod(&[&s.unsigned]), "CREATE", None),
    )
    .await;
    assert_eq!(r["allowed"], true, "{r}");
    let warnings = r["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{r}");
    assert!(warnings[0].as_str().unwrap().contains("NoSignature"), "{r}");
    // /mutate is not served without --mutate-digest
    let m = c
        .post(format!("{}/mutate", hook.url))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(m.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_400_with_a_message() {
    let s = setup().await;
    let policy = write_policy(s.dir.path(), "**", &[("ci", &s.public)], None, "");
    let tls = pki(s.dir.path(), "b");
    let hook = start(&tls, &policy, &s.reg.addr, &[]).await;
    let c = client(&tls.ca_pem);
    let url = format!("{}/validate", hook.url);
    let mut wrong_version = review(&pod(&[&s.signed]), "CREATE", None);
    wrong_version["apiVersion"] = "admission.k8s.io/v1beta1".into();
    let mut no_request = review(&pod(&[&s.signed]), "CREATE", None);
    no_request.as_object_mut().unwrap().remove("request");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("application/json", b"\x01garbage{".to_vec(), "not JSON"),
        ("application/json", vec![b' '; 4 << 20], "over the limit"),
        (
            "application/json",
            serde_json::to_vec(&wrong_version).unwrap(),
            "v1beta1",
        ),
        (
            "application/json",
            serde_json::to_vec(&no_request).unwrap(),
            "no request",
        ),
        (
            "text/plain",
            serde_json::to_vec(&review(&pod(&[&s.signed]), "CREATE", None)).unwrap(),
            "Content-Type",
        ),
    ];
    for (ct, body, needle) in cases {
        let r = c
            .post(&url)
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{needle}");
        let text = r.text().await.unwrap();
        assert!(text.contains(needle), "{needle}: {text}");
    }
    // an object without images is allowed without a registry request
    let before = s.reg.log_lines().len();
    let cm =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}});
    let r = post(&c, &url, &review(&cm, "CREATE", None)).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(s.reg.log_lines().len(), before);
    // still serving after all that
    let h = c.get(format!("{}/healthz", hook.url)).send().await.unwrap();
    assert_eq!(h.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_registry_is_denied_within_the_deadline_and_the_retry_passes() {
    let s = setup().await;
    let proxy = Proxy::start(&s.reg.addr);
    let image = s.signed.replace(&s.reg.addr, &proxy.addr);
    // signed again under the proxy's name (the payload names the reference signed)
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "pw")
        .arg("sign")
        .arg("--key")
        .arg(s.dir.path().join("ci.key"))
        .args(["--insecure-registry", &proxy.addr, &image]));
    assert_eq!(r.code, 0, "{r}");
    // the next resolve of the tag hangs for 6 s, then fails; the deadline is 2 s
    proxy.rule(Rule::new("/manifests/v1", 1, 503).delay(Duration::from_secs(6)));
    let policy = write_policy(s.dir.path(), "**", &[("ci", &s.public)], None, "");
    let tls = pki(s.dir.path(), "d");
    let hook = start(
        &tls,
        &policy,
        &proxy.addr,
        &["--deadline", "2", "--timeout", "20"],
    )
    .await;
    let c = client(&tls.ca_pem);
    let url = format!("{}/validate", hook.url);
    let started = Instant::now();
    let r = post(&c, &url, &review(&pod(&[&image]), "CREATE", None)).await;
    let took = started.elapsed();
    assert_eq!(r["allowed"], false, "{r}");
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("VerificationTimeout"),
        "{r}"
    );
    assert!(took < Duration::from_secs(6), "answered after {took:?}");
    // once the registry answers again, the retry is allowed
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let r = post(&c, &url, &review(&pod(&[&image]), "CREATE", None)).await;
        if r["allowed"] == true {
            break;
        }
        assert!(Instant::now() < until, "still denied: {r}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn push_signed(s: &Setup, repo: &str) -> String {
    push_image(&oci(), &s.reg, repo, "v1").await;
    let image = s.reg.reference(repo, "v1");
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "pw")
        .arg("sign")
        .arg("--key")
        .arg(s.dir.path().join("ci.key"))
        .args(["--insecure-registry", &s.reg.addr, &image]));
    assert_eq!(r.code, 0, "{r}");
    image
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reviews_of_a_new_image_share_one_verification() {
    let s = setup().await;
    let one = push_signed(&s, "team/one").await;
    let many = push_signed(&s, "team/many").await;
    let policy = write_policy(s.dir.path(), "**", &[("ci", &s.public)], None, "");
    let tls = pki(s.dir.path(), "s");
    let hook = start(&tls, &policy, &s.reg.addr, &[]).await;
    let c = client(&tls.ca_pem);
    let url = format!("{}/validate", hook.url);
    // warm the connection to the registry (the /v2/ ping)
    assert_eq!(
        post(&c, &url, &review(&pod(&[&s.signed]), "CREATE", None)).await["allowed"],
        true
    );

    // requests made by pushing and signing, before any review of these images
    let pushed_one = s.reg.count(&["/v2/team/one/"]);
    let pushed_many = s.reg.count(&["/v2/team/many/"]);
    let pushed_tag = s.reg.count(&["/v2/team/many/manifests/v1"]);

    // what one review of a new image costs
    let r = post(&c, &url, &review(&pod(&[&one, &one]), "CREATE", None)).await;
    assert_eq!(r["allowed"], true, "{r}");
    let single = s.reg.count(&["/v2/team/one/"]) - pushed_one;
    assert!(
        single >= 2,
        "a resolve and a signature lookup at least: {single}"
    );

    // 100 concurrent reviews of another new image cost the same
    let reviews = (0..100).map(|_| {
        let (c, url, body) = (
            c.clone(),
            url.clone(),
            review(&pod(&[&many]), "CREATE", None),
        );
        tokio::spawn(async move { post(&c, &url, &body).await })
    });
    for r in futures::future::join_all(reviews).await {
        let r = r.unwrap();
        assert_eq!(r["allowed"], true, "{r}");
    }
    assert_eq!(s.reg.count(&["/v2/team/many/"]) - pushed_many, single);
    assert_eq!(
        s.reg.count(&["/v2/team/many/manifests/v1"]) - pushed_tag,
        1,
        "the tag is resolved once"
    );

    // warm: answered from the cache without a registry request
    let before = s.reg.log_lines().len();
    let r = post(&c, &url, &review(&pod(&[&many]), "CREATE", None)).await;
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(s.reg.log_lines().len(), before);
}

/// The certificate the server presents, as DER, via a client that trusts `ca_pem`.
async fn presented(url: &str, ca_pem: &str) -> Result<(), reqwest::Error> {
    client(ca_pem)
        .get(format!("{url}/healthz"))
        .send()
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_certificate_is_presented_on_the_next_handshake() {
    let s = setup().await;
    let policy = write_policy(s.dir.path(), "**", &[("ci", &s.public)], None, "");
    let old = pki(s.dir.path(), "old");
    let hook = start(&old, &policy, &s.reg.addr, &[]).await;
    let new = pki(s.dir.path(), "new");
    assert!(
        presented(&hook.url, &new.ca_pem).await.is_err(),
        "the new CA is not in use yet"
    );
    // rotate in place, as a Secret update does
    std::fs::copy(&new.key, &old.key).unwrap();
    std::fs::copy(&new.cert, &old.cert).unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while presented(&hook.url, &new.ca_pem).await.is_err() {
        assert!(
            Instant::now() < until,
            "the new certificate was never presented"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        presented(&hook.url, &old.ca_pem).await.is_err(),
        "the old certificate is gone"
    );
}

#[test]
fn refuses_to_start_without_a_matching_certificate_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let a = pki(dir.path(), "a");
    let b = pki(dir.path(), "b");
    std::fs::write(dir.path().join("p.yaml"), "").unwrap();
    let start = |cert: &Path, key: &Path| {
        run(sealgate()
            .arg("webhook")
            .args(["--policy", "p.yaml", "--listen", "127.0.0.1:0"])
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .current_dir(dir.path()))
    };
    let r = start(&a.cert, &b.key);
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr
            .contains("is not the private key of the certificate"),
        "{r}"
    );
    let r = start(&dir.path().join("missing.crt"), &a.key);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("missing.crt"), "{r}");
    let r = start(&a.key, &a.key);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("no PEM certificate"), "{r}");
}

#[test]
fn policies_come_from_files_or_the_cluster_never_both_or_neither() {
    let dir = tempfile::tempdir().unwrap();
    let a = pki(dir.path(), "a");
    std::fs::write(dir.path().join("p.yaml"), "").unwrap();
    let start = |args: &[&str], kubeconfig: &Path| {
        run(sealgate()
            .arg("webhook")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .arg("--tls-cert")
            .arg(&a.cert)
            .arg("--tls-key")
            .arg(&a.key)
            .env("KUBECONFIG", kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .current_dir(dir.path()))
    };
    let none = dir.path().join("no-kubeconfig");
    let r = start(&[], &none);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("--policy"), "{r}");
    let r = start(&["--policy", "p.yaml", "--kube"], &none);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("cannot be used with"), "{r}");
    let r = start(&["--policy", "p.yaml", "--policy-resync", "60"], &none);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("--kube"), "{r}");
    // --kube without a cluster to talk to: a clear error, not a webhook that denies everything
    let r = start(&["--kube"], &none);
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr
            .contains("--kube: connecting to the Kubernetes API"),
        "{r}"
    );
}

#[test]
fn the_controller_serves_the_webhook_only_with_a_certificate() {
    let r = run(sealgate().args(["controller", "--webhook", "--no-leader-election"]));
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("--tls-cert"), "{r}");
    let dir = tempfile::tempdir().unwrap();
    let a = pki(dir.path(), "a");
    let b = pki(dir.path(), "b");
    // a mismatched pair stops it before it talks to any cluster
    let r = run(sealgate()
        .args([
            "controller",
            "--webhook",
            "--no-leader-election",
            "--state-dir",
        ])
        .arg(dir.path().join("state"))
        .arg("--tls-cert")
        .arg(&a.cert)
        .arg("--tls-key")
        .arg(&b.key)
        .env("KUBECONFIG", dir.path().join("none")));
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr
            .contains("is not the private key of the certificate"),
        "{r}"
    );
}

/// A gate (`sealgate run`, `summary.attachToImages`) promotes the signed image and attaches
/// its verification summary; a webhook whose rule admits on a summary from that gate alone
/// (`threshold: 0`, a `vsa` attestation with `summary: {verifier}`) admits the covered image
/// with one `.att` lookup and no signature fetch, and denies an image no summary covers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_summary_admits_the_images_it_covers() {
    let w = common::gate::World::builder()
        .unsigned_image()
        .extra("metadata: {name: prod}\nsummary:\n  key: gate.key\n  attachToImages: true\n")
        .start()
        .await;
    keypair(w.dir.path(), "gate");
    w.commit("v1");
    let r = w.once_env(&[("COSIGN_PASSWORD", "pw")]);
    assert_eq!(r.code, 0, "{r}");
    let digest = w.pinned_digest("web.yaml");
    let policy = w.path("vsa-policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {{name: summaries}}\nspec:\n  rules:\n    - name: gated\n      images: [\"{}/**\"]\n      signatures:\n        threshold: 0\n        attestors:\n          - {{name: gate, key: {{path: gate.pub}}}}\n      attestations:\n        - predicateType: vsa\n          summary: {{verifier: https://sealgate.dev/gate/prod, maxAge: 24h}}\n",
            w.reg.addr
        ),
    )
    .unwrap();
    let tls = pki(w.dir.path(), "vsa");
    let hook = start(&tls, &policy, &w.reg.addr, &[]).await;
    let c = client(&tls.ca_pem);
    let validate = format!("{}/validate", hook.url);

    let (sig_before, att_before) = (w.reg.count(&[".sig"]), w.reg.count(&[".att"]));
    let covered = format!("{}/team/web@sha256:{digest}", w.reg.addr);
    let ok = post(&c, &validate, &review(&pod(&[&covered]), "CREATE", None)).await;
    assert_eq!(ok["allowed"], true, "{ok}");
    assert_eq!(w.reg.count(&[".sig"]), sig_before, "no signature fetched");
    let att_lookups = w.reg.count(&[".att"]) - att_before;
    assert_eq!(att_lookups, 1, "one lookup of the .att manifest");
    // the next review of the same digest is answered from the cache
    let again = post(&c, &validate, &review(&pod(&[&covered]), "CREATE", None)).await;
    assert_eq!(again["allowed"], true, "{again}");
    assert_eq!(w.reg.count(&[".att"]) - att_before, att_lookups, "cached");

    // an image no summary covers is denied
    let denied = post(&c, &validate, &review(&pod(&[&w.unsigned]), "CREATE", None)).await;
    assert_eq!(denied["allowed"], false, "{denied}");
    let msg = denied["status"]["message"].as_str().unwrap();
    assert!(msg.contains("AttestationMissing"), "{msg}");
}
