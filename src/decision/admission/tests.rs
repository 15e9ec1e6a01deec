use super::*;
use crate::base::reference::ImageRef;
use crate::base::verdict::ReasonCode;
use crate::decision::Summary;

fn review(object: Value, operation: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": object["kind"]},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "team-a",
            "name": object.pointer("/metadata/name").cloned().unwrap_or(Value::Null),
            "operation": operation,
            "userInfo": {"username": "admin"},
            "object": object,
            "dryRun": false
        }
    }))
    .unwrap()
}

fn pod() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {
            "initContainers": [{"name": "init", "image": "registry.test/init:1"}],
            "containers": [
                {"name": "app", "image": "registry.test/app:1.0"},
                {"name": "side", "image": "registry.test/app:1.0"}
            ],
            "ephemeralContainers": [{"name": "debug", "image": "registry.test/debug:2"}]
        }
    })
}

fn pointers(s: &Snapshot) -> Vec<(&str, &str)> {
    s.images
        .iter()
        .map(|f| (f.reference.as_str(), f.location.pointer.as_str()))
        .collect()
}

#[test]
fn a_pod_review_gives_every_container_image_with_its_pointer() {
    let r = parse_review(&review(pod(), "CREATE")).unwrap();
    assert_eq!(r.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert_eq!(r.operation, Operation::Create);
    assert!(r.needs_check());
    let s = r.snapshot(&[]);
    assert_eq!(s.manifests, 1);
    let mut got = pointers(&s);
    got.sort_unstable();
    assert_eq!(
        got,
        [
            ("registry.test/app:1.0", "/spec/containers/0/image"),
            ("registry.test/app:1.0", "/spec/containers/1/image"),
            ("registry.test/debug:2", "/spec/ephemeralContainers/0/image"),
            ("registry.test/init:1", "/spec/initContainers/0/image"),
        ]
    );
    // the request's namespace stands in for the object's missing one
    assert!(
        s.images
            .iter()
            .all(|f| f.location.namespace.as_deref() == Some("team-a"))
    );
    assert_eq!(r.subject(), "Pod team-a/web");
}

#[test]
fn pod_templates_and_extra_paths_of_crds_are_extracted() {
    let cron = json!({
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "c", "image": "registry.test/job:3"}]}}}}}
    });
    let s = parse_review(&review(cron, "UPDATE")).unwrap().snapshot(&[]);
    assert_eq!(
        pointers(&s),
        [(
            "registry.test/job:3",
            "/spec/jobTemplate/spec/template/spec/containers/0/image"
        )]
    );

    let crd = json!({
        "apiVersion": "example.com/v1", "kind": "Worker", "metadata": {"name": "w"},
        "spec": {"runtime": {"image": "registry.test/worker:9"}}
    });
    let r = parse_review(&review(crd, "CREATE")).unwrap();
    assert!(r.snapshot(&[]).images.is_empty());
    let extra = [crate::manifests::parse_image_path("Worker=/spec/runtime/image").unwrap()];
    assert_eq!(
        pointers(&r.snapshot(&extra)),
        [("registry.test/worker:9", "/spec/runtime/image")]
    );
}

#[test]
fn delete_and_dry_run_are_recognized() {
    let mut doc: Value = serde_json::from_slice(&review(pod(), "DELETE")).unwrap();
    doc["request"]["object"] = Value::Null;
    doc["request"]["dryRun"] = true.into();
    let r = parse_review(&serde_json::to_vec(&doc).unwrap()).unwrap();
    assert_eq!(r.operation, Operation::Delete);
    assert!(r.dry_run);
    assert!(!r.needs_check());
}

#[test]
fn bad_input_gets_a_clear_error() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"\x00\xffgarbage".to_vec(), "not JSON"),
        (vec![b' '; MAX_REVIEW_BYTES + 1], "over the limit"),
        (
            br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}}"#
                .to_vec(),
            "admission.k8s.io/v1beta1",
        ),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(),
            "no request",
        ),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE","object":{}}}"#
                .to_vec(),
            "request.uid: is missing",
        ),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"PATCH"}}"#
                .to_vec(),
            "request.operation: is not a known operation",
        ),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE"}}"#
                .to_vec(),
            "request.object: is missing",
        ),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","object":[1]}}"#
                .to_vec(),
            "request.object: is not an object",
        ),
        (b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]".to_vec(), "not JSON"),
    ];
    for (body, needle) in cases {
        let e = parse_review(&body).unwrap_err().to_string();
        assert!(e.contains(needle), "{needle}: {e}");
    }
}

fn image(written: &str, verdict: Verdict, blocking: bool, pointer: &str) -> ImageReport {
    ImageReport {
        image: written.to_owned(),
        reference: ImageRef::parse(written).ok(),
        digest: Some(format!("sha256:{}", "ab".repeat(32))),
        rules: vec!["prod".into()],
        verdict,
        blocking,
        signatures: Vec::new(),
        attestations: Vec::new(),
        locations: vec![Location {
            file: OBJECT_FILE.into(),
            document: 0,
            kind: "Pod".into(),
            namespace: Some("team-a".into()),
            name: "web".into(),
            pointer: pointer.into(),
        }],
        found: Vec::new(),
    }
}

fn report(decision: Decision, images: Vec<ImageReport>) -> Report {
    Report {
        decision,
        policies: Vec::new(),
        summary: Summary::default(),
        images,
        problems: Vec::new(),
    }
}

#[test]
fn a_blocked_report_denies_with_403_naming_image_pointer_and_codes() {
    let r = parse_review(&review(pod(), "CREATE")).unwrap();
    let rep = report(
        Decision::Blocked,
        vec![
            image(
                "registry.test/init:1",
                Verdict::Pass,
                false,
                "/spec/initContainers/0/image",
            ),
            image(
                "registry.test/app:1.0",
                Verdict::Fail(vec![Reason::new(
                    ReasonCode::NoSignature,
                    "no signature found",
                )]),
                true,
                "/spec/containers/0/image",
            ),
            image(
                "registry.test/debug:2",
                Verdict::Unverifiable(Reason::new(ReasonCode::RegistryUnavailable, "503")),
                false,
                "/spec/ephemeralContainers/0/image",
            ),
        ],
    );
    let a = Answer::from_report(&r, &rep, false);
    assert!(!a.allowed);
    assert_eq!(a.reason, Some("NoSignature"));
    assert_eq!(
        a.message,
        "sealgate denied Pod team-a/web: 1 image failed policy: registry.test/app:1.0 at \
         /spec/containers/0/image: NoSignature: no signature found"
    );
    assert_eq!(
        a.warnings,
        [
            "sealgate: registry.test/debug:2 at /spec/ephemeralContainers/0/image: \
          RegistryUnavailable: 503"
        ]
    );
    let doc = a.to_review(&r.uid);
    assert_eq!(doc["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(doc["response"]["uid"], r.uid.as_str());
    assert_eq!(doc["response"]["allowed"], false);
    assert_eq!(doc["response"]["status"]["code"], 403);
    assert_eq!(doc["response"]["status"]["message"], a.message.as_str());
    assert!(doc["response"].get("patch").is_none());
}

#[test]
fn warn_mode_failures_allow_with_warnings_and_mutate_pins_only_passing_tags() {
    let r = parse_review(&review(pod(), "CREATE")).unwrap();
    let digest = "sha256:".to_owned() + &"cd".repeat(32);
    let mut pinned = image(
        &format!("registry.test/pinned@{digest}"),
        Verdict::Pass,
        false,
        "/spec/containers/2/image",
    );
    pinned.digest = Some(digest);
    let rep = report(
        Decision::Warn,
        vec![
            image(
                "registry.test/app:1.0",
                Verdict::Pass,
                false,
                "/spec/containers/0/image",
            ),
            image(
                "registry.test/debug:2",
                Verdict::Fail(vec![Reason::new(
                    ReasonCode::IdentityMismatch,
                    "wrong signer",
                )]),
                false,
                "/spec/ephemeralContainers/0/image",
            ),
            pinned,
        ],
    );
    let a = Answer::from_report(&r, &rep, true);
    assert!(a.allowed);
    assert_eq!(a.warnings.len(), 1);
    assert!(
        a.warnings[0].contains("IdentityMismatch"),
        "{:?}",
        a.warnings
    );
    let want = format!("registry.test/app:1.0@sha256:{}", "ab".repeat(32));
    assert_eq!(
        a.patch,
        [json!({"op": "replace", "path": "/spec/containers/0/image", "value": want})]
    );
    let doc = a.to_review("u-1");
    assert_eq!(doc["response"]["allowed"], true);
    assert!(doc["response"].get("status").is_none());
    assert_eq!(doc["response"]["patchType"], "JSONPatch");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(doc["response"]["patch"].as_str().unwrap())
        .unwrap();
    let patch: Value = serde_json::from_slice(&patch).unwrap();
    assert_eq!(patch, Value::Array(a.patch.clone()));
    // without --mutate-digest there is no patch
    assert!(Answer::from_report(&r, &rep, false).patch.is_empty());
}

#[test]
fn messages_and_warnings_are_bounded() {
    let r = parse_review(&review(pod(), "CREATE")).unwrap();
    let long = "é".repeat(5_000);
    let images = (0..42)
        .map(|i| {
            image(
                &format!("registry.test/app{i}:1"),
                Verdict::Fail(vec![Reason::new(ReasonCode::NoSignature, long.clone())]),
                i % 2 == 0,
                &format!("/spec/containers/{i}/image"),
            )
        })
        .collect();
    let a = Answer::from_report(&r, &report(Decision::Blocked, images), false);
    assert!(a.message.len() <= MAX_MESSAGE_LEN, "{}", a.message.len());
    assert!(
        a.message
            .starts_with("sealgate denied Pod team-a/web: 21 images failed")
    );
    assert!(a.message.ends_with('…'));
    assert_eq!(a.warnings.len(), MAX_WARNINGS);
    assert!(a.warnings.iter().all(|w| w.len() <= MAX_WARNING_LEN));
    assert_eq!(
        a.warnings.last().unwrap(),
        "sealgate: … and 2 more warnings"
    );
}

#[test]
fn a_deny_for_one_reason_names_the_subject_and_code() {
    let mut doc: Value = serde_json::from_slice(&review(pod(), "UPDATE")).unwrap();
    doc["request"]["subResource"] = "ephemeralcontainers".into();
    let r = parse_review(&serde_json::to_vec(&doc).unwrap()).unwrap();
    let a = Answer::deny(&r, &Reason::new(ReasonCode::Timeout, "no answer within 8s"));
    assert!(!a.allowed);
    assert_eq!(
        a.message,
        "sealgate denied ephemeralcontainers of Pod team-a/web: Timeout: no answer within 8s"
    );
    assert_eq!(a.reason, Some("Timeout"));
}
