use super::*;

fn write(root: &Path, rel: &str, text: &str) -> PathBuf {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, text).unwrap();
    p
}

/// (reference, file, document, kind, namespace, name, pointer) of an image.
type Row = (
    String,
    String,
    usize,
    String,
    Option<String>,
    String,
    String,
);

fn summary(snap: &Snapshot) -> Vec<Row> {
    snap.images
        .iter()
        .map(|i| {
            (
                i.reference.clone(),
                i.location.file.clone(),
                i.location.document,
                i.location.kind.clone(),
                i.location.namespace.clone(),
                i.location.name.clone(),
                i.location.pointer.clone(),
            )
        })
        .collect()
}

fn refs(snap: &Snapshot) -> Vec<&str> {
    snap.images.iter().map(|i| i.reference.as_str()).collect()
}

fn problems(snap: &Snapshot) -> Vec<(String, Option<usize>, ProblemCode, String)> {
    snap.problems
        .iter()
        .map(|p| (p.file.clone(), p.document, p.code, p.message.clone()))
        .collect()
}

fn s(v: &str) -> String {
    v.to_owned()
}

const MULTI: &str = "\
# web tier
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: prod
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: ghcr.io/acme/migrate:1.0
      containers:
        - name: app
          image: ghcr.io/acme/web:1.2.3
        - name: proxy
          image: \"envoyproxy/envoy@sha256:0123\"
---
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: job, image: 'busybox:1.36'}]
---
# Helm values: not a Kubernetes object
image:
  repository: nginx
---
apiVersion: v1
kind: Pod
metadata:
  name: model
spec:
  containers:
    - image: app:2
  volumes:
    - name: weights
      image:
        reference: ghcr.io/acme/weights:v3
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata: {name: a, namespace: x}
    spec: {containers: [{image: a:1}]}
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: cm}
    data: {image: not-an-image}
...
";

#[test]
fn multi_document_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "apps/all.yaml", MULTI);
    let snap = load_paths(std::slice::from_ref(&file), &LoadOptions::default());
    let f = display_path(&file);
    assert_eq!(snap.files, 1);
    assert_eq!(snap.manifests, 5);
    assert!(snap.problems.is_empty(), "{:?}", snap.problems);
    assert!(snap.missing.is_empty());
    assert_eq!(
        summary(&snap),
        vec![
            (
                s("ghcr.io/acme/migrate:1.0"),
                f.clone(),
                0,
                s("Deployment"),
                Some(s("prod")),
                s("web"),
                s("/spec/template/spec/initContainers/0/image")
            ),
            (
                s("ghcr.io/acme/web:1.2.3"),
                f.clone(),
                0,
                s("Deployment"),
                Some(s("prod")),
                s("web"),
                s("/spec/template/spec/containers/0/image")
            ),
            (
                s("envoyproxy/envoy@sha256:0123"),
                f.clone(),
                0,
                s("Deployment"),
                Some(s("prod")),
                s("web"),
                s("/spec/template/spec/containers/1/image")
            ),
            (
                s("busybox:1.36"),
                f.clone(),
                2,
                s("CronJob"),
                None,
                s("nightly"),
                s("/spec/jobTemplate/spec/template/spec/containers/0/image")
            ),
            (
                s("app:2"),
                f.clone(),
                4,
                s("Pod"),
                None,
                s("model"),
                s("/spec/containers/0/image")
            ),
            (
                s("ghcr.io/acme/weights:v3"),
                f.clone(),
                4,
                s("Pod"),
                None,
                s("model"),
                s("/spec/volumes/0/image/reference")
            ),
            (
                s("a:1"),
                f.clone(),
                5,
                s("Pod"),
                Some(s("x")),
                s("a"),
                s("/items/0/spec/containers/0/image")
            ),
        ]
    );
    assert_eq!(
        snap.skipped,
        vec![format!(
            "{f}#3: not a Kubernetes object (no apiVersion/kind)"
        )]
    );
    let canonical = fs::canonicalize(&file).unwrap();
    assert!(snap.images.iter().all(|i| i.origin
        == Origin::Scalar {
            path: Some(canonical.clone())
        }));

    // The same bytes on stdin.
    let stream = load_stream("-", MULTI.as_bytes(), &LoadOptions::default());
    assert_eq!(stream.files, 1);
    assert_eq!(stream.manifests, 5);
    assert_eq!(refs(&stream), refs(&snap));
    assert!(
        stream
            .images
            .iter()
            .all(|i| i.location.file == "-" && i.origin == Origin::Scalar { path: None })
    );
    assert_eq!(
        stream.skipped,
        vec![s("-#3: not a Kubernetes object (no apiVersion/kind)")]
    );
}

#[test]
fn directory_walk_json_order_hidden_and_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let pod = |img: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec: {{containers: [{{image: {img}}}]}}\n"
        )
    };
    write(&root, "b.yaml", &pod("b:1"));
    write(&root, "a/z.yml", &pod("az:1"));
    write(&root, "a.yaml", &pod("a:1"));
    write(&root, ".hidden/h.yaml", &pod("hidden:1"));
    write(&root, "c/.h.yaml", &pod("hidden:2"));
    write(&root, "c/notes.txt", &pod("txt:1"));
    write(
        &root,
        "d/list.json",
        r#"{"apiVersion": "v1", "kind": "List", "items": [
                {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ds", "namespace": "kube-system"},
                 "spec": {"template": {"spec": {"containers": [{"image": "ds:1"}]}}}}]}"#,
    );
    write(&root, "d/empty.json", "  \n");
    let snap = load_paths(std::slice::from_ref(&root), &LoadOptions::default());
    let r = display_path(&root);
    assert!(snap.problems.is_empty(), "{:?}", snap.problems);
    assert_eq!(snap.files, 5);
    assert_eq!(snap.manifests, 4);
    assert_eq!(refs(&snap), vec!["az:1", "a:1", "b:1", "ds:1"]);
    let files: Vec<&str> = snap
        .images
        .iter()
        .map(|i| i.location.file.as_str())
        .collect();
    assert_eq!(
        files,
        vec![
            format!("{r}/a/z.yml"),
            format!("{r}/a.yaml"),
            format!("{r}/b.yaml"),
            format!("{r}/d/list.json")
        ]
    );
    let ds = &snap.images[3].location;
    assert_eq!(
        (
            ds.document,
            ds.kind.as_str(),
            ds.namespace.as_deref(),
            ds.pointer.as_str()
        ),
        (
            0,
            "DaemonSet",
            Some("kube-system"),
            "/items/0/spec/template/spec/containers/0/image"
        )
    );
    // A file named explicitly is read whatever its extension.
    let txt = load_paths(&[root.join("c/notes.txt")], &LoadOptions::default());
    assert_eq!(refs(&txt), vec!["txt:1"]);
}

#[test]
fn extra_image_paths_from_options() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "rollout.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec:\n  template:\n    spec:\n      containers:\n        - image: r:1\n        - image: r:2\n",
    );
    let mut opts = LoadOptions::default();
    assert!(
        load_paths(std::slice::from_ref(&f), &opts)
            .images
            .is_empty()
    );
    opts.extra_image_paths =
        vec![images::parse_image_path("Rollout=/spec/template/spec/containers/*/image").unwrap()];
    let snap = load_paths(&[f], &opts);
    assert_eq!(refs(&snap), vec!["r:1", "r:2"]);
    assert_eq!(
        snap.images[1].location.pointer,
        "/spec/template/spec/containers/1/image"
    );
}

#[test]
fn missing_path_is_not_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let snap = load_paths(std::slice::from_ref(&missing), &LoadOptions::default());
    assert_eq!(snap.missing, vec![display_path(&missing)]);
    assert!(snap.problems.is_empty());
    assert_eq!(snap.files, 0);
}

#[cfg(unix)]
#[test]
fn fifos_named_like_manifests_are_problems_never_read() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write(
        &root,
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{image: ok:1}]}\n",
    );
    for name in ["pipe.yaml", "notes"] {
        let st = std::process::Command::new("mkfifo")
            .arg(root.join(name))
            .status()
            .unwrap();
        assert!(st.success());
    }
    symlink(root.join("pipe.yaml"), root.join("via-link.yml")).unwrap();
    // this returns at all only because the FIFOs are never opened
    let snap = load_paths(std::slice::from_ref(&root), &LoadOptions::default());
    let r = display_path(&root);
    assert_eq!(refs(&snap), vec!["ok:1"]);
    // `notes` has no manifest extension: like a regular `notes` file, not part of the check
    assert_eq!(
        problems(&snap),
        vec![
            (
                format!("{r}/pipe.yaml"),
                None,
                ProblemCode::ManifestParseError,
                s("not a regular file (a FIFO); not read")
            ),
            (
                format!("{r}/via-link.yml"),
                None,
                ProblemCode::ManifestParseError,
                s("not a regular file (a FIFO); not read")
            ),
        ]
    );
    // named as a PATH itself
    let fifo = root.join("pipe.yaml");
    let snap = load_paths(std::slice::from_ref(&fifo), &LoadOptions::default());
    assert_eq!(
        problems(&snap),
        vec![(
            display_path(&fifo),
            None,
            ProblemCode::ManifestParseError,
            s("not a regular file or directory (a FIFO); not read")
        )]
    );
}

#[cfg(unix)]
#[test]
fn symlinks_escaping_the_root_are_unsafe_inside_are_followed() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    write(
        &outside,
        "secret.yaml",
        "apiVersion: v1\nkind: Pod\nspec: {containers: [{image: evil:1}]}\n",
    );
    let root = dir.path().join("root");
    write(
        &root,
        "real/pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{image: ok:1}]}\n",
    );
    symlink(outside.join("secret.yaml"), root.join("leak.yaml")).unwrap();
    symlink(&outside, root.join("leakdir")).unwrap();
    symlink(root.join("real"), root.join("alias")).unwrap();
    symlink(&root, root.join("real/loop")).unwrap();
    symlink(root.join("missing.yaml"), root.join("broken.yaml")).unwrap();
    let snap = load_paths(std::slice::from_ref(&root), &LoadOptions::default());
    let r = display_path(&root);
    // `alias` and `real` are the same directory: entered once (at `alias`, the first in sorted order).
    assert_eq!(refs(&snap), vec!["ok:1"]);
    assert_eq!(snap.images[0].location.file, format!("{r}/alias/pod.yaml"));
    // Pinning writes the real file, so the link stays a link.
    assert_eq!(
        snap.images[0].origin,
        Origin::Scalar {
            path: Some(fs::canonicalize(root.join("real/pod.yaml")).unwrap())
        }
    );
    assert_eq!(
        problems(&snap),
        vec![
            (
                format!("{r}/broken.yaml"),
                None,
                ProblemCode::ManifestParseError,
                s("broken symbolic link")
            ),
            (
                format!("{r}/leak.yaml"),
                None,
                ProblemCode::UnsafePath,
                s("symbolic link resolves outside the checked root")
            ),
            (
                format!("{r}/leakdir"),
                None,
                ProblemCode::UnsafePath,
                s("symbolic link resolves outside the checked root")
            ),
        ]
    );
    assert_eq!(
        snap.skipped,
        vec![
            format!("{r}/alias/loop: directory already visited (symbolic link loop)"),
            format!("{r}/real: directory already visited (symbolic link loop)"),
        ]
    );
    // With a wider boundary the outside directory may be followed.
    let opts = LoadOptions {
        boundary: Some(dir.path().to_path_buf()),
        ..LoadOptions::default()
    };
    let wide = load_paths(std::slice::from_ref(&root), &opts);
    // (`leakdir/secret.yaml` is the file `leak.yaml` already read.)
    assert_eq!(refs(&wide), vec!["ok:1", "evil:1"]);
    assert_eq!(
        wide.skipped.last().unwrap(),
        &format!("{r}/leakdir/secret.yaml: same file as one already read")
    );
    // A root outside the boundary is refused.
    let narrow = LoadOptions {
        boundary: Some(root.join("real")),
        ..LoadOptions::default()
    };
    let refused = load_paths(std::slice::from_ref(&outside), &narrow);
    assert_eq!(
        problems(&refused),
        vec![(
            display_path(&outside),
            None,
            ProblemCode::UnsafePath,
            s("path resolves outside the allowed root directory")
        )]
    );
}

#[test]
fn kustomize_overrides_nested_and_not_read_twice() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    write(
        &root,
        "base/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n        - image: app:dev\n        - image: sidecar:1\n        - image: ghcr.io/acme/tool@sha256:aaa\n",
    );
    write(
        &root,
        "base/kustomization.yaml",
        "resources:\n  - deploy.yaml\nimages:\n  - name: app\n    newName: ghcr.io/acme/app\n    newTag: \"1.0\"\n  - name: ghcr.io/acme/tool\n    newTag: v2\n",
    );
    write(
        &root,
        "base/unlisted.yaml",
        "apiVersion: v1\nkind: Pod\nspec: {containers: [{image: unlisted:1}]}\n",
    );
    write(
        &root,
        "overlays/prod/kustomization.yml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\npatches:\n  - path: p.yaml\nresources:\n  - ../../base\n  - extra.yaml\n  - https://github.com/acme/remote//deploy?ref=v1\nimages:\n  - name: ghcr.io/acme/app\n    digest: sha256:bbb\n  - name: nomatch\n    newTag: x\n",
    );
    write(
        &root,
        "overlays/staging/kustomization.yaml",
        "resources: [../../base]\n",
    );
    write(
        &root,
        "overlays/prod/extra.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: extra}\nspec: {containers: [{image: extra:1}]}\n",
    );
    write(
        &root,
        "plain/pod.yaml",
        "apiVersion: v1\nkind: Pod\nspec: {containers: [{image: plain:1}]}\n",
    );
    let snap = load_paths(std::slice::from_ref(&root), &LoadOptions::default());
    let r = display_path(&root);
    assert!(snap.problems.is_empty(), "{:?}", snap.problems);
    assert_eq!(
        refs(&snap),
        vec![
            "ghcr.io/acme/app@sha256:bbb",
            "sidecar:1",
            "ghcr.io/acme/tool:v2",
            "extra:1",
            "ghcr.io/acme/app:1.0",
            "sidecar:1",
            "ghcr.io/acme/tool:v2",
            "plain:1"
        ]
    );
    let c = fs::canonicalize(&root).unwrap();
    let origins: Vec<Origin> = snap.images.iter().map(|i| i.origin.clone()).collect();
    let scalar = |rel: &str| Origin::Scalar {
        path: Some(c.join(rel)),
    };
    let kustomize = |rel: &str, index| Origin::Kustomize {
        path: c.join(rel),
        index,
    };
    assert_eq!(
        origins,
        vec![
            kustomize("overlays/prod/kustomization.yml", 0),
            scalar("base/deploy.yaml"),
            kustomize("base/kustomization.yaml", 1),
            scalar("overlays/prod/extra.yaml"),
            // The same base through the other overlay: same canonical paths.
            kustomize("base/kustomization.yaml", 0),
            scalar("base/deploy.yaml"),
            kustomize("base/kustomization.yaml", 1),
            scalar("plain/pod.yaml"),
        ]
    );
    let files: Vec<&str> = snap
        .images
        .iter()
        .map(|i| i.location.file.as_str())
        .collect();
    assert_eq!(
        files,
        vec![
            format!("{r}/base/deploy.yaml"),
            format!("{r}/base/deploy.yaml"),
            format!("{r}/base/deploy.yaml"),
            format!("{r}/overlays/prod/extra.yaml"),
            format!("{r}/base/deploy.yaml"),
            format!("{r}/base/deploy.yaml"),
            format!("{r}/base/deploy.yaml"),
            format!("{r}/plain/pod.yaml")
        ]
    );
    assert_eq!(snap.files, 4);
    assert_eq!(snap.manifests, 4);
    assert_eq!(
        snap.skipped,
        vec![
            format!("{r}/base: built as a resource of another kustomization"),
            format!(
                "{r}/overlays/prod/kustomization.yml: patches not applied (only resources and images are); images they set are not seen"
            ),
            format!(
                "{r}/overlays/prod/kustomization.yml: remote resource https://github.com/acme/remote//deploy?ref=v1 is not loaded"
            ),
        ]
    );
}

#[test]
fn kustomize_resource_problems() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("k");
    write(
        dir.path(),
        "outside.yaml",
        "apiVersion: v1\nkind: Pod\nspec: {containers: [{image: out:1}]}\n",
    );
    write(
        &root,
        "plain/x.yaml",
        "apiVersion: v1\nkind: Pod\nspec: {containers: [{image: x:1}]}\n",
    );
    write(
        &root,
        "kustomization.yaml",
        "resources: [missing.yaml, ../outside.yaml, plain]\n",
    );
    let snap = load_paths(std::slice::from_ref(&root), &LoadOptions::default());
    let k = format!("{}/kustomization.yaml", display_path(&root));
    assert!(snap.images.is_empty());
    assert_eq!(
        problems(&snap),
        vec![
            (
                k.clone(),
                None,
                ProblemCode::ManifestParseError,
                s("resource missing.yaml: no such file or directory")
            ),
            (
                k.clone(),
                None,
                ProblemCode::UnsafePath,
                s("resource ../outside.yaml resolves outside the checked root")
            ),
            (
                k.clone(),
                None,
                ProblemCode::ManifestParseError,
                s("resource plain is a directory without a kustomization file")
            ),
        ]
    );
    // A broken kustomization file is a problem too.
    fs::write(root.join("kustomization.yaml"), "resources: [a\n").unwrap();
    let broken = load_paths(&[root.join("kustomization.yaml")], &LoadOptions::default());
    assert_eq!(
        problems(&broken),
        vec![(
            k,
            Some(0),
            ProblemCode::ManifestParseError,
            s("document 0, line 1: unclosed bracket '['")
        )]
    );
}

#[test]
fn alias_bomb_is_bounded_and_fast() {
    let mut bomb = String::from(
        "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in names.windows(2) {
        let p = w[0];
        bomb.push_str(&format!(
            "  {n}: &{n} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n",
            n = w[1]
        ));
    }
    // Bounded by the alias/replay budget (a count, not a clock): an unbounded
    // expansion would be 9^9 nodes and never finish.
    let snap = load_stream("-", bomb.as_bytes(), &LoadOptions::default());
    assert!(snap.images.is_empty());
    assert_eq!(snap.problems.len(), 1);
    let p = &snap.problems[0];
    assert_eq!(
        (p.file.as_str(), p.document, p.code),
        ("-", Some(0), ProblemCode::ManifestParseError)
    );
    assert!(
            p.message.starts_with("document 0, line ")
                && p.message.contains("YAML exceeds the parser limits (alias expansion, size or nesting; an alias bomb?): more than 250000 nodes"),
            "{}",
            p.message
        );
}

#[test]
fn parse_errors_name_document_and_line_and_later_documents_survive() {
    let text = "apiVersion: v1\nkind: Pod\nspec: {containers: [{image: one:1}]}\n---\napiVersion: v1\nkind: Pod\nspec: {containers: [{image: two:1}\n---\n[1, 2]\n---\njust a string\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: dup}\nmetadata: {name: again}\n---\napiVersion: v1\nkind: Pod\nspec: {containers: [{image: five:1}]}\n";
    let snap = load_stream("-", text.as_bytes(), &LoadOptions::default());
    assert_eq!(refs(&snap), vec!["one:1", "five:1"]);
    assert_eq!(snap.images[1].location.document, 5);
    assert_eq!(
        problems(&snap),
        vec![
            (
                s("-"),
                Some(1),
                ProblemCode::ManifestParseError,
                s("document 1, line 7: unclosed bracket '['")
            ),
            (
                s("-"),
                Some(2),
                ProblemCode::ManifestParseError,
                s("document is not an object (found a sequence)")
            ),
            (
                s("-"),
                Some(3),
                ProblemCode::ManifestParseError,
                s("document is not an object (found a scalar)")
            ),
            (
                s("-"),
                Some(4),
                ProblemCode::ManifestParseError,
                s("document 4, line 16: duplicate mapping key: metadata")
            ),
        ]
    );
    // A JSON syntax error.
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "bad.json", "{\n  \"kind\": \"Pod\",\n}");
    let snap = load_paths(std::slice::from_ref(&f), &LoadOptions::default());
    assert_eq!(
        problems(&snap),
        vec![(
            display_path(&f),
            Some(0),
            ProblemCode::ManifestParseError,
            s("document 0, line 3: trailing comma at line 3 column 1")
        )]
    );
}

#[test]
fn invalid_utf8_and_size_limits() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"apiVersion: v1\nkind: Pod\n# caf".to_vec();
    bytes.extend_from_slice(&[0xC3, 0x28, b'\n']);
    let bad = dir.path().join("a-bad.yaml");
    fs::write(&bad, &bytes).unwrap();
    let big_text = format!(
        "apiVersion: v1\nkind: ConfigMap\ndata: {{x: \"{}\"}}\n",
        "x".repeat(300)
    );
    let big = write(dir.path(), "b-big.yaml", &big_text);
    let ok1 = write(
        dir.path(),
        "c-ok.yaml",
        "apiVersion: v1\nkind: Pod\nspec: {containers: [{image: c:1}]}\n",
    );
    let ok2 = write(
        dir.path(),
        "d-ok.yaml",
        "apiVersion: v1\nkind: Pod\nspec: {containers: [{image: d:1}]}\n",
    );
    let opts = LoadOptions {
        max_file_bytes: 200,
        max_total_bytes: 120,
        ..LoadOptions::default()
    };
    let snap = load_paths(&[dir.path().to_path_buf()], &opts);
    assert_eq!(refs(&snap), vec!["c:1"]);
    assert_eq!(snap.files, 2);
    assert_eq!(
        problems(&snap),
        vec![
            (
                display_path(&bad),
                None,
                ProblemCode::ManifestParseError,
                s("invalid UTF-8 at byte offset 30")
            ),
            (
                display_path(&big),
                None,
                ProblemCode::ManifestTooLarge,
                format!(
                    "file is {} bytes, over the limit of 200 bytes",
                    big_text.len()
                )
            ),
            (
                display_path(&ok2),
                None,
                ProblemCode::ManifestTooLarge,
                s("not read: the manifests together exceed the limit of 120 bytes")
            ),
        ]
    );
    let _ = ok1;
    // Stdin is bounded by the total limit; documents by max_documents.
    let stream = load_stream("-", &[b'a'; 300], &opts);
    assert_eq!(
        problems(&stream),
        vec![(
            s("-"),
            None,
            ProblemCode::ManifestTooLarge,
            s("input is 300 bytes, over the limit of 120 bytes")
        )]
    );
    let few = LoadOptions {
        max_documents: 2,
        ..LoadOptions::default()
    };
    let docs = "apiVersion: v1\nkind: Pod\nspec: {containers: [{image: a:1}]}\n---\n---\napiVersion: v1\nkind: Pod\nspec: {containers: [{image: c:1}]}\n";
    let stream = load_stream("-", docs.as_bytes(), &few);
    assert_eq!(refs(&stream), vec!["a:1"]);
    assert_eq!(
        problems(&stream),
        vec![(
            s("-"),
            None,
            ProblemCode::ManifestTooLarge,
            s("more than 2 documents; the rest of the file was not read")
        )]
    );
}

#[test]
fn deep_nesting_is_bounded_without_overflowing_the_stack() {
    let nested = |depth: usize| {
        let mut t = String::from("apiVersion: v1\nkind: ConfigMap\ndata:\n");
        for level in 0..depth {
            t.push_str(&" ".repeat(2 * level + 2));
            t.push_str("k:\n");
        }
        t.push_str(&" ".repeat(2 * depth + 2));
        t.push_str("leaf: 1\n");
        t
    };
    let ok = load_stream("-", nested(120).as_bytes(), &LoadOptions::default());
    assert!(ok.problems.is_empty(), "{:?}", ok.problems);
    assert_eq!(ok.manifests, 1);
    let deep = load_stream("-", nested(300).as_bytes(), &LoadOptions::default());
    assert_eq!(deep.problems.len(), 1);
    assert_eq!(deep.manifests, 0);
    let flow = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let snap = load_stream("-", flow.as_bytes(), &LoadOptions::default());
    assert_eq!(snap.problems.len(), 1);
    let json = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "deep.json", &json);
    let snap = load_paths(&[f], &LoadOptions::default());
    assert_eq!(snap.problems.len(), 1);
    assert!(
        snap.problems[0]
            .message
            .contains("recursion limit exceeded"),
        "{:?}",
        snap.problems
    );
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
}

#[test]
fn garbage_and_truncated_input_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let alphabet: &[u8] = b"ab:- \n\t[]{},&*!|>'\"#%@`?~.0123456789\\\r\xc3\xa9\xff\x00---...";
    let opts = LoadOptions::default();
    let rounds: usize = std::env::var("SEALGATE_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    for _ in 0..rounds {
        let len = rng.below(200);
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                if rng.below(4) == 0 {
                    u8::try_from(rng.below(256)).unwrap()
                } else {
                    alphabet[rng.below(alphabet.len())]
                }
            })
            .collect();
        let snap = load_stream("-", &bytes, &opts);
        assert!(snap.images.len() <= bytes.len());
        assert!(
            !snap
                .problems
                .iter()
                .any(|p| p.message.starts_with("internal error"))
        );
    }
    let bytes = MULTI.as_bytes();
    for cut in 0..bytes.len() {
        let snap = load_stream("-", &bytes[..cut], &opts);
        assert!(snap.images.len() <= 7);
        // Randomly damaged copies too.
        let mut damaged = bytes.to_vec();
        let at = rng.below(damaged.len());
        damaged[at] = alphabet[rng.below(alphabet.len())];
        let snap = load_stream("-", &damaged, &opts);
        assert!(
            !snap
                .problems
                .iter()
                .any(|p| p.message.starts_with("internal error"))
        );
    }
}

#[test]
fn split_documents_indices_and_ranges() {
    let text = "# lead\na: 1\n---\n---\n~\n--- !!null\n...\n# c\nb: [1\n---\n- x\n";
    let (docs, more) = split_documents(text, 100);
    assert!(!more);
    let summary: Vec<String> = docs
        .iter()
        .map(|d| match d {
            Split::Doc(d) => format!(
                "{} {:?} {:?} @{}",
                d.index,
                d.root,
                &text[d.start..d.end],
                d.start_line
            ),
            Split::Error {
                index,
                line,
                message,
            } => format!("{index} error line {line}: {message}"),
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            "0 Mapping \"# lead\\na: 1\\n\" @1",
            // Ranges tile the stream: an empty document ends right after its `---` or scalar.
            "1 Null \"---\" @3",
            "2 Null \"\\n---\\n~\" @3",
            "3 Null \"\\n--- !!null\\n...\" @5",
            "4 error line 9: unclosed bracket '['",
            "5 Sequence \"---\\n- x\\n\" @10",
        ]
    );
}

#[test]
fn display_paths() {
    assert_eq!(display_path(Path::new(".")), ".");
    assert_eq!(display_path(Path::new("./apps/web.yaml")), "apps/web.yaml");
    assert_eq!(display_path(Path::new("deploy/")), "deploy");
    assert_eq!(display_path(Path::new("/abs/x/../y")), "/abs/y");
    assert_eq!(display_path(Path::new("../a/./b")), "../a/b");
    assert_eq!(join_display(".", "apps/web.yaml"), "apps/web.yaml");
    assert_eq!(join_display("overlays/prod", "../../base"), "base");
    assert!(is_remote("github.com/acme/repo//base?ref=v1"));
    assert!(is_remote("https://example.com/x.yaml"));
    assert!(!is_remote("../base"));
}

#[test]
fn serialized_shapes() {
    let loc = Location {
        file: s("apps/web.yaml"),
        document: 0,
        kind: s("Deployment"),
        namespace: None,
        name: s("web"),
        pointer: s("/spec/template/spec/containers/0/image"),
    };
    assert_eq!(
        serde_json::to_string(&loc).unwrap(),
        r#"{"file":"apps/web.yaml","document":0,"kind":"Deployment","name":"web","pointer":"/spec/template/spec/containers/0/image"}"#
    );
    let problem = Problem {
        file: s("apps/bad.yaml"),
        document: Some(2),
        code: ProblemCode::ManifestParseError,
        message: s("m"),
    };
    assert_eq!(
        serde_json::to_string(&problem).unwrap(),
        r#"{"file":"apps/bad.yaml","document":2,"code":"ManifestParseError","message":"m"}"#
    );
}
