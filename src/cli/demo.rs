//! `sealgate demo [--keep]`: the gate end to end with nothing installed beyond the binary.
//!
//! In a temporary directory it creates a key pair, an OCI image layout with two images
//! (one signed), a Git repository of manifests and a gate config, then runs the gate
//! through three revisions — all signed → promoted; an unsigned image added → blocked,
//! the deploy branch unchanged; the image signed → promoted — printing the status after
//! each step. `--keep` then serves the release manager's page (`/`), `/status` and
//! `/metrics` until Ctrl-C.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use clap::Args;
use serde_json::json;

use sealgate::crypto::PrivateKey;
use sealgate::standalone::{Gate, Outcome};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const REGISTRY: &str = "registry.demo.sealgate.dev";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo's files, and serve /status and /metrics until Ctrl-C.
    #[arg(long)]
    keep: bool,
    /// Address to serve on with --keep.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9090")]
    listen: String,
}

/// A small OCI image layout writer.
struct Layout {
    root: PathBuf,
    index: Vec<serde_json::Value>,
}

impl Layout {
    fn create(root: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root.join("blobs/sha256"))?;
        std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)?;
        let l = Self {
            root: root.to_path_buf(),
            index: Vec::new(),
        };
        l.save()?;
        Ok(l)
    }

    fn blob(&self, data: &[u8]) -> anyhow::Result<String> {
        let d = sealgate::base::reference::Digest::sha256_of(data);
        std::fs::write(self.root.join("blobs/sha256").join(d.hex()), data)?;
        Ok(d.to_string())
    }

    fn manifest(&mut self, name: &str, body: &[u8]) -> anyhow::Result<String> {
        let d = self.blob(body)?;
        self.index.push(json!({
            "mediaType": OCI_MANIFEST, "digest": d, "size": body.len(),
            "annotations": {"org.opencontainers.image.ref.name": name},
        }));
        self.save()?;
        Ok(d)
    }

    fn save(&self) -> anyhow::Result<()> {
        let index = json!({"schemaVersion": 2, "manifests": self.index});
        std::fs::write(
            self.root.join("index.json"),
            serde_json::to_vec_pretty(&index)?,
        )?;
        Ok(())
    }

    /// A tiny image (config + one layer) tagged `repo:tag`; returns its digest.
    fn image(&mut self, repo: &str, tag: &str) -> anyhow::Result<String> {
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"config":{{"Labels":{{"demo":"{repo}:{tag}"}}}}}}"#
        );
        let layer = format!("sealgate demo layer of {repo}:{tag}\n").into_bytes();
        let cd = self.blob(config.as_bytes())?;
        let ld = self.blob(&layer)?;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": layer.len()}],
        }))?;
        self.manifest(&format!("{REGISTRY}/{repo}:{tag}"), &manifest)
    }

    /// A cosign `.sig` signature of `repo@digest` with `key`.
    fn sign(&mut self, key: &PrivateKey, repo: &str, digest: &str) -> anyhow::Result<()> {
        let name = format!("{REGISTRY}/{repo}");
        let payload = sealgate::sigstore::simple_signing::payload_for(&name, digest);
        let sig = key.sign(&payload).map_err(anyhow::Error::new)?;
        let config = br#"{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#;
        let cd = self.blob(config)?;
        let pd = self.blob(&payload)?;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": cd},
            "layers": [{
                "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                "size": payload.len(), "digest": pd,
                "annotations": {"dev.cosignproject.cosign/signature": base64::engine::general_purpose::STANDARD.encode(sig)},
            }],
        }))?;
        let tag = format!("{}.sig", digest.replace(':', "-"));
        self.manifest(&format!("{name}:{tag}"), &manifest)?;
        Ok(())
    }
}

/// Commits `files` as the whole tree on `main` of the bare repository.
fn commit(
    repo: &git2::Repository,
    files: &BTreeMap<String, String>,
    message: &str,
) -> anyhow::Result<String> {
    let files: BTreeMap<String, (Vec<u8>, i32)> = files
        .iter()
        .map(|(k, v)| (k.clone(), (v.clone().into_bytes(), 0o100644)))
        .collect();
    let tree = sealgate::edge::target::promote::build_tree(repo, &files)?;
    let tree = repo.find_tree(tree)?;
    let sig = git2::Signature::now("Dev", "dev@demo.sealgate.dev")?;
    let parent = repo
        .find_reference("refs/heads/main")
        .ok()
        .and_then(|r| r.peel_to_commit().ok());
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let id = repo.commit(
        Some("refs/heads/main"),
        &sig,
        &sig,
        message,
        &tree,
        &parents,
    )?;
    Ok(id.to_string())
}

fn deployment(name: &str, image: &str) -> String {
    format!(
        "# {name}: part of the demo app\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: demo\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n        - name: {name}\n          image: {image}   # sealgate pins this to a digest on the deploy branch\n"
    )
}

fn show(step: &str, story: &str, gate: &Gate, outcome: &Outcome) {
    println!("\n━━ {step}");
    println!("{story}");
    let verdict = match outcome {
        Outcome::Promoted { commit } => {
            format!("PROMOTED as {}", commit.get(..12).unwrap_or(commit))
        }
        Outcome::UpToDate => "UP TO DATE".into(),
        Outcome::Applied { revision, .. } => format!("APPLIED {revision}"),
        Outcome::Blocked { reason } => format!("BLOCKED ({reason})"),
        Outcome::AwaitingApproval => "AWAITING APPROVAL".into(),
        Outcome::Failed { reason, message } => format!("FAILED ({reason}: {message})"),
    };
    println!("→ {verdict}\n");
    for line in super::run::render_status(&gate.status()).lines() {
        println!("   {line}");
    }
}

fn deploy_branch(repo: &git2::Repository) -> Option<String> {
    repo.find_reference("refs/heads/deploy/prod")
        .ok()
        .and_then(|r| r.target())
        .map(|o| o.to_string())
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let tmp = tempfile::Builder::new()
        .prefix("sealgate-demo-")
        .tempdir()
        .context("creating the demo directory")?;
    let dir = tmp.path().to_path_buf();
    println!("sealgate demo in {}", dir.display());

    // a key pair (the private half only lives in memory)
    let key = PrivateKey::generate_p256().map_err(anyhow::Error::new)?;
    std::fs::write(dir.join("cosign.pub"), key.public_key().to_pem())?;

    // an OCI layout: web (signed), worker (not signed yet)
    let mut layout = Layout::create(&dir.join("oci-layout"))?;
    let web = layout.image("acme/web", "1.4.2")?;
    let worker = layout.image("acme/worker", "2.0.1")?;
    layout.sign(&key, "acme/web", &web)?;

    // a policy and a gate config
    std::fs::write(
        dir.join("policy.yaml"),
        format!(
            "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: production\nspec:\n  rules:\n    - name: acme\n      images: [\"{REGISTRY}/acme/**\"]\n      signatures:\n        attestors:\n          - name: ci\n            key: {{path: cosign.pub}}\n"
        ),
    )?;
    let origin = dir.join("origin.git");
    let repo = git2::Repository::init_bare(&origin).context("creating the Git repository")?;
    std::fs::write(
        dir.join("gate.yaml"),
        format!(
            "apiVersion: sealgate.dev/v1alpha1\nkind: GateConfig\nsource:\n  url: file://{}\n  ref: main\n  path: apps\npolicies: [policy.yaml]\nregistry: {{ociLayout: oci-layout}}\ntarget:\n  promote: {{branch: deploy/prod, author: {{name: sealgate, email: gate@demo.sealgate.dev}}}}\nstateDir: state\nlisten: {}\n",
            origin.display(),
            args.listen
        ),
    )?;
    let load = || -> anyhow::Result<Arc<Gate>> {
        let config = sealgate::standalone::config::load(&dir.join("gate.yaml"))
            .map_err(|e| anyhow::anyhow!(sealgate::base::error::chain(&e)))?;
        Ok(Arc::new(Gate::new(config).map_err(|e| {
            anyhow::anyhow!(sealgate::base::error::chain(&e))
        })?))
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let web_ref = format!("{REGISTRY}/acme/web:1.4.2");
    let worker_ref = format!("{REGISTRY}/acme/worker:2.0.1");
    let mut files = BTreeMap::new();
    files.insert("apps/web.yaml".to_string(), deployment("web", &web_ref));
    files.insert(
        "README.md".to_string(),
        "Manifests of the demo app; the gate promotes apps/ to deploy/prod.\n".to_string(),
    );

    // 1. all signed → promoted
    let gate = load()?;
    let c1 = commit(&repo, &files, "web 1.4.2")?;
    let o1 = rt.block_on(gate.reconcile(sealgate::base::time::now()));
    show(
        "Revision 1: the web app, signed in CI",
        &format!(
            "main is at {}; every image in apps/ is signed by the ci key.",
            &c1[..12]
        ),
        &gate,
        &o1,
    );
    if !matches!(o1, Outcome::Promoted { .. }) {
        bail!("revision 1 should have been promoted");
    }
    let promoted = deploy_branch(&repo);

    // 2. an unsigned image → blocked, the deploy branch keeps revision 1
    files.insert(
        "apps/worker.yaml".to_string(),
        deployment("worker", &worker_ref),
    );
    let c2 = commit(&repo, &files, "add the worker")?;
    let o2 = rt.block_on(gate.reconcile(sealgate::base::time::now()));
    show(
        "Revision 2: someone adds a worker whose image nobody signed",
        &format!("main is at {}; {worker_ref} has no signature.", &c2[..12]),
        &gate,
        &o2,
    );
    if !matches!(o2, Outcome::Blocked { .. }) || deploy_branch(&repo) != promoted {
        bail!("revision 2 should have been blocked with the deploy branch unchanged");
    }
    println!(
        "   deploy/prod still points at {}",
        promoted.as_deref().unwrap_or("-").get(..12).unwrap_or("-")
    );

    // 3. the image gets signed → promoted
    layout.sign(&key, "acme/worker", &worker)?;
    let before = gate;
    let gate = load()?; // a fresh registry view: the layout changed on disk
    gate.continue_journal(&before);
    let o3 = rt.block_on(gate.reconcile(sealgate::base::time::now()));
    show(
        "Revision 2 again, after CI signed the worker image",
        "The same revision, now with every image signed.",
        &gate,
        &o3,
    );
    if !matches!(o3, Outcome::Promoted { .. }) {
        bail!("revision 2 should have been promoted once the worker was signed");
    }
    let head = deploy_branch(&repo).unwrap_or_default();
    let pinned = repo
        .find_commit(git2::Oid::from_str(&head)?)?
        .tree()?
        .get_path(Path::new("worker.yaml"))?
        .to_object(&repo)?
        .peel_to_blob()?
        .content()
        .to_vec();
    println!(
        "\n   deploy/prod:worker.yaml now reads:\n{}",
        String::from_utf8_lossy(&pinned)
            .lines()
            .map(|l| format!("     | {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    println!(
        "\nArgo CD or Flux would sync deploy/prod: only revisions whose every image passed reach it."
    );

    // 4. verified image automation: web 1.5.0 (signed) and 1.6.0 (unsigned) are published;
    //    the gate bumps web to 1.5.0, pinned to the digest it verified, and promotes it
    let web_marked = deployment("web", &web_ref).replace(
        "   # sealgate pins this to a digest on the deploy branch",
        " # {\"$imagepolicy\": \"web\"}",
    );
    files.insert("apps/web.yaml".to_string(), web_marked);
    commit(&repo, &files, "let sealgate bump web")?;
    let web_150 = layout.image("acme/web", "1.5.0")?;
    layout.sign(&key, "acme/web", &web_150)?;
    layout.image("acme/web", "1.6.0")?;
    let mut config = std::fs::read_to_string(dir.join("gate.yaml"))?;
    config.push_str(&format!(
        "imageUpdates:\n  commit: {{author: {{name: sealgate, email: gate@demo.sealgate.dev}}}}\n  policies:\n    - name: web\n      image: {REGISTRY}/acme/web\n      select: {{semver: \">=1.4.0 <2.0.0\"}}\n"
    ));
    std::fs::write(dir.join("gate.yaml"), config)?;
    let before = gate;
    let gate = load()?;
    gate.continue_journal(&before);
    let o4 = rt.block_on(gate.reconcile(sealgate::base::time::now()));
    show(
        "Image automation: web 1.5.0 (signed) and 1.6.0 (not signed) are published",
        "imageUpdates follows web within >=1.4.0 <2.0.0: newer tags are verified newest first.",
        &gate,
        &o4,
    );
    let st = gate.status();
    let update = st.image_updates.first();
    let rejected = update.and_then(|u| u.rejected.first());
    if !matches!(o4, Outcome::Promoted { .. })
        || update.and_then(|u| u.current.as_deref()) != Some(format!("1.5.0@{web_150}").as_str())
        || rejected.map(|r| (r.tag.as_str(), r.reason.as_str())) != Some(("1.6.0", "NoSignature"))
    {
        bail!("web should have been bumped to 1.5.0 (1.6.0 refused) and promoted");
    }
    println!(
        "   main: sealgate committed web 1.5.0@{}…; 1.6.0 was refused ({})",
        web_150.get(..19).unwrap_or(&web_150),
        rejected.map(|r| r.reason.as_str()).unwrap_or_default()
    );

    if args.keep {
        let dir = tmp.keep();
        println!(
            "\nFiles kept in {}.\nThe release manager's page: http://{}/ (also /status and /metrics); Ctrl-C to stop.",
            dir.display(),
            args.listen
        );
        let metrics = Arc::new(sealgate::serve::metrics::Metrics::new());
        metrics.reconcile(sealgate::serve::metrics::ReconcileResult::Promoted, 0.0);
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let state = sealgate::serve::http::AppState {
            status: Arc::new(tokio::sync::RwLock::new(serde_json::to_value(
                gate.status(),
            )?)),
            ready: Arc::new(AtomicBool::new(true)),
            metrics,
            webhook_secret: None,
            trigger: tx,
            gates: Some({
                let gate = gate.clone();
                Arc::new(move || vec![gate.view()])
            }),
            http: Default::default(),
        };
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind(&args.listen)
                .await
                .with_context(|| format!("listening on {}", args.listen))?;
            sealgate::serve::http::serve(listener, state, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving")
        })?;
    }
    Ok(ExitCode::SUCCESS)
}
