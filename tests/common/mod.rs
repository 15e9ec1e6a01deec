//! Test harness: a real CNCF distribution registry (`docker-registry`) per test binary
//! on a free 127.0.0.1 port, image pushes with oci-client, fixtures located through
//! `SEALGATE_FIXTURES`, and a black-box runner for the `sealgate` binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod bao;
pub mod daemon;
pub mod gate;
pub mod git;
pub mod gitsig;
pub mod moto;
pub mod proxy;

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use oci_client::Reference;
use oci_client::client::{ClientConfig, ClientProtocol};
use sha2::Digest as _;

/// The vendored real-tool data, `tests/fixtures` (or `$SEALGATE_FIXTURES`); panics with a
/// clear message if absent.
pub fn fixtures() -> PathBuf {
    let p = std::env::var_os("SEALGATE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"));
    assert!(
        p.join("connaisseur").is_dir(),
        "real-tool fixtures not found at {} (SEALGATE_FIXTURES overrides the default tests/fixtures)",
        p.display()
    );
    p
}

pub fn connaisseur_dump() -> PathBuf {
    fixtures().join("connaisseur/cosign/securesystemsengineering/testimage")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `docker-registry serve`, killed on drop.
pub struct TestRegistry {
    pub addr: String,
    child: Child,
    pub dir: tempfile::TempDir,
    log: PathBuf,
}

impl TestRegistry {
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// Starts a registry after `prepare` has written into its storage root.
    pub fn start_with(prepare: impl FnOnce(&Path)) -> Self {
        Self::start_config(prepare, "")
    }

    /// `extra` is appended to the YAML config (e.g. an `auth:` section).
    pub fn start_config(prepare: impl FnOnce(&Path), extra: &str) -> Self {
        let bin = which("docker-registry").unwrap_or_else(|| {
            panic!("docker-registry is not installed (apt-get install docker-registry; .ci/run does it)")
        });
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("data");
        std::fs::create_dir_all(&storage).unwrap();
        prepare(&storage);
        let log = dir.path().join("access.log");
        for _attempt in 0..5 {
            let port = free_port();
            let addr = format!("127.0.0.1:{port}");
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp: {{addr: {addr}}}\n{}",
                    storage.display(),
                    extra.replace("HTPASSWD", &storage.join("htpasswd").display().to_string())
                ),
            )
            .unwrap();
            let out = std::fs::File::create(&log).unwrap();
            let mut child = Command::new(&bin)
                .arg("serve")
                .arg(&config)
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .unwrap();
            if wait_ready(&mut child, &addr) {
                return Self {
                    addr,
                    child,
                    dir,
                    log,
                };
            }
            // port taken in the meantime, or a slow start: try another port
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "registry did not start; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    }

    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Access-log lines (one per request the registry served).
    pub fn log_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                l.contains("\"GET ")
                    || l.contains("\"HEAD ")
                    || l.contains("\"PUT ")
                    || l.contains("\"POST ")
                    || l.contains("\"PATCH ")
            })
            .map(str::to_string)
            .collect()
    }

    /// Requests whose line contains all of `needles`.
    pub fn count(&self, needles: &[&str]) -> usize {
        self.log_lines()
            .iter()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .count()
    }

    /// A registry that demands HTTP Basic auth for `user`/`password` (htpasswd, bcrypt).
    pub fn start_htpasswd(user: &str, password: &str) -> Self {
        let hash = Command::new("python3")
            .args(["-W", "ignore", "-c", "import sys, crypt; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))", password])
            .output()
            .unwrap();
        assert!(
            hash.status.success(),
            "python3 crypt: {}",
            String::from_utf8_lossy(&hash.stderr)
        );
        let line = format!("{user}:{}", String::from_utf8_lossy(&hash.stdout).trim());
        // the htpasswd file lives beside the registry's data (HTPASSWD is replaced by its path)
        Self::start_config(
            |storage| std::fs::write(storage.join("htpasswd"), &line).unwrap(),
            "auth: {htpasswd: {realm: sealgate-test, path: HTPASSWD}}\n",
        )
    }

    /// GET `path` on the registry (no auth) with `accept`; the body.
    pub fn get(&self, path: &str, accept: &str) -> Vec<u8> {
        let url = format!("http://{}{path}", self.addr);
        let out = Command::new("python3")
            .args(["-c", "import sys,urllib.request;r=urllib.request.Request(sys.argv[1],headers={'Accept':sys.argv[2]});sys.stdout.buffer.write(urllib.request.urlopen(r).read())", &url, accept])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    pub fn reference(&self, repo: &str, tag: &str) -> String {
        format!("{}/{repo}:{tag}", self.addr)
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_ready(child: &mut Child, addr: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let _ = s.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n");
            let mut buf = [0u8; 64];
            use std::io::Read as _;
            if let Ok(n) = s.read(&mut buf)
                && n > 0
                && (buf.starts_with(b"HTTP/1.0 200") || buf.starts_with(b"HTTP/1.0 401"))
            {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(bin))
            .find(|p| p.is_file())
    })
}

/// Loads a registry dump (`manifests/<tag>.json`, `blobs/sha256:<hex>.json`) into the
/// filesystem storage of a CNCF distribution registry, byte for byte: `docker-registry`
/// refuses to PUT a manifest whose blobs are absent and the dumps lack image layers, so the
/// storage layout (`docker/registry/v2/{blobs,repositories}`) is written directly.
pub fn load_dump(storage: &Path, repo: &str, dump: &Path) {
    fn write(path: &Path, data: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    fn sorted(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("registry dump {}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    }
    let v2 = storage.join("docker/registry/v2");
    let put_blob = |data: &[u8]| -> String {
        let hex = hex::encode(sha2::Sha256::digest(data));
        write(
            &v2.join("blobs/sha256")
                .join(&hex[..2])
                .join(&hex)
                .join("data"),
            data,
        );
        hex
    };
    let repo_dir = v2.join("repositories").join(repo);
    for blob in sorted(&dump.join("blobs")) {
        let hex = put_blob(&std::fs::read(&blob).unwrap());
        let link = format!("sha256:{hex}");
        write(
            &repo_dir.join("_layers/sha256").join(&hex).join("link"),
            link.as_bytes(),
        );
    }
    for manifest in sorted(&dump.join("manifests")) {
        let name = manifest.file_name().unwrap().to_str().unwrap();
        let tag = name.strip_suffix(".json").unwrap();
        let hex = put_blob(&std::fs::read(&manifest).unwrap());
        let link = format!("sha256:{hex}");
        let m = repo_dir.join("_manifests");
        write(
            &m.join("revisions/sha256").join(&hex).join("link"),
            link.as_bytes(),
        );
        write(
            &m.join("tags").join(tag).join("current/link"),
            link.as_bytes(),
        );
        write(
            &m.join("tags")
                .join(tag)
                .join("index/sha256")
                .join(&hex)
                .join("link"),
            link.as_bytes(),
        );
    }
}

// ---------------------------------------------------------------------------------------
// Pushing with oci-client

pub fn oci() -> oci_client::Client {
    oci_client::Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    })
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Pushes a blob and returns its digest.
pub async fn push_blob(
    client: &oci_client::Client,
    reg: &TestRegistry,
    repo: &str,
    data: &[u8],
) -> String {
    let d = sha256(data);
    let r: Reference = format!("{}/{repo}@{d}", reg.addr).parse().unwrap();
    client.push_blob(&r, data.to_vec(), &d).await.unwrap();
    d
}

/// Pushes raw manifest bytes under `reference` (tag or digest); returns the manifest digest.
pub async fn push_manifest(
    client: &oci_client::Client,
    reg: &TestRegistry,
    repo: &str,
    reference: &str,
    body: &[u8],
) -> String {
    let sep = if reference.contains(':') { "@" } else { ":" };
    let r: Reference = format!("{}/{repo}{sep}{reference}", reg.addr)
        .parse()
        .unwrap();
    client
        .push_manifest_raw(&r, body.to_vec(), OCI_MANIFEST.parse().unwrap())
        .await
        .unwrap();
    sha256(body)
}

/// Pushes a small random image (config + one layer) under `tag`; returns its digest.
pub async fn push_image(
    client: &oci_client::Client,
    reg: &TestRegistry,
    repo: &str,
    tag: &str,
) -> String {
    let nonce: [u8; 16] = rand_bytes();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"config":{{"Labels":{{"nonce":"{}"}}}}}}"#,
        hex::encode(nonce)
    );
    let layer = nonce.repeat(8);
    let cd = push_blob(client, reg, repo, config.as_bytes()).await;
    let ld = push_blob(client, reg, repo, &layer).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": layer.len()}],
    });
    push_manifest(
        client,
        reg,
        repo,
        tag,
        &serde_json::to_vec(&manifest).unwrap(),
    )
    .await
}

pub fn rand_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    let mut f = std::fs::File::open("/dev/urandom").unwrap();
    use std::io::Read as _;
    f.read_exact(&mut out).unwrap();
    out
}

/// One cosign signature layer to push: payload bytes and base64 signature annotation.
pub struct SigLayer {
    pub payload: Vec<u8>,
    pub signature: Option<String>,
}

/// Pushes a cosign `.sig` manifest with the given layers for `digest` (raw, like cosign writes it).
pub async fn push_signature(
    client: &oci_client::Client,
    reg: &TestRegistry,
    repo: &str,
    digest: &str,
    layers: &[SigLayer],
) -> String {
    let config = br#"{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}"#;
    let cd = push_blob(client, reg, repo, config).await;
    let mut ls = Vec::new();
    for l in layers {
        let d = push_blob(client, reg, repo, &l.payload).await;
        let mut ann = serde_json::Map::new();
        if let Some(s) = &l.signature {
            ann.insert(
                "dev.cosignproject.cosign/signature".into(),
                s.clone().into(),
            );
        }
        ls.push(serde_json::json!({
            "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
            "size": l.payload.len(), "digest": d, "annotations": ann,
        }));
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": config.len(), "digest": cd},
        "layers": ls,
    });
    let tag = format!("{}.sig", digest.replace(':', "-"));
    push_manifest(
        client,
        reg,
        repo,
        &tag,
        &serde_json::to_vec(&manifest).unwrap(),
    )
    .await
}

/// Pushes an image tagged `v1` to each repository and signs it (cosign `.sig`) with `s`;
/// returns the digests in order. 8 repositories at a time.
pub async fn push_signed_images(
    client: &oci_client::Client,
    reg: &TestRegistry,
    s: &Signer,
    repos: &[String],
) -> Vec<String> {
    use futures::StreamExt as _;
    futures::stream::iter(repos.iter())
        .map(|repo| async move {
            let digest = push_image(client, reg, repo, "v1").await;
            let payload = cosign_payload(&format!("{}/{repo}", reg.addr), &digest);
            push_signature(
                client,
                reg,
                repo,
                &digest,
                &[SigLayer {
                    signature: Some(s.sign_b64(&payload)),
                    payload,
                }],
            )
            .await;
            digest
        })
        .buffered(8)
        .collect()
        .await
}

pub fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// The payload cosign writes for an image digest.
pub fn cosign_payload(reference: &str, digest: &str) -> Vec<u8> {
    sealgate::sigstore::simple_signing::payload_for(reference, digest)
}

// ---------------------------------------------------------------------------------------
// Signing with the independent `sigstore` crate

pub struct Signer {
    pub signer: sigstore::crypto::SigStoreSigner,
    pub public_pem: String,
}

pub fn signer(scheme: sigstore::crypto::SigningScheme) -> Signer {
    let signer = scheme.create_signer().unwrap();
    let public_pem = signer
        .to_sigstore_keypair()
        .unwrap()
        .public_key_to_pem()
        .unwrap();
    Signer { signer, public_pem }
}

impl Signer {
    pub fn sign_b64(&self, payload: &[u8]) -> String {
        b64(&self.signer.sign(payload).unwrap())
    }
}

// ---------------------------------------------------------------------------------------
// Black-box CLI

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn sealgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sealgate"));
    c.env_remove("DOCKER_CONFIG")
        .env("HOME", std::env::temp_dir())
        .env_remove("SEALGATE_LOG");
    c
}

pub fn run(cmd: &mut Command) -> Run {
    run_stdin(cmd, None)
}

pub fn run_stdin(cmd: &mut Command, stdin: Option<&[u8]>) -> Run {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(data) = stdin {
        let mut s = child.stdin.take().unwrap();
        s.write_all(data).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Writes a policy with one rule over `images` and key attestors (name, PEM).
pub fn write_policy(
    dir: &Path,
    images: &str,
    attestors: &[(&str, &str)],
    threshold: Option<usize>,
    extra_spec: &str,
) -> PathBuf {
    let mut y = format!(
        "apiVersion: sealgate.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: test\nspec:\n{extra_spec}  rules:\n    - name: r\n      images: [\"{images}\"]\n      signatures:\n"
    );
    if let Some(t) = threshold {
        y.push_str(&format!("        threshold: {t}\n"));
    }
    y.push_str("        attestors:\n");
    for (name, pem) in attestors {
        let file = dir.join(format!("{name}.pub"));
        std::fs::write(&file, pem).unwrap();
        y.push_str(&format!(
            "          - name: {name}\n            key: {{path: {name}.pub}}\n"
        ));
    }
    let p = dir.join("policy.yaml");
    std::fs::write(&p, y).unwrap();
    p
}

/// Writes a Deployment using `images` to `dir/name`.
pub fn write_deployment(dir: &Path, name: &str, images: &[&str]) -> PathBuf {
    let containers: String = images
        .iter()
        .enumerate()
        .map(|(i, im)| format!("        - name: c{i}\n          image: {im}\n"))
        .collect();
    let y = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {}\n  namespace: apps\nspec:\n  template:\n    spec:\n      containers:\n{containers}",
        name.trim_end_matches(".yaml")
    );
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, y).unwrap();
    p
}

// ---------------------------------------------------------------------------------------
// Shared set-ups

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

/// The repository's demo (manifests, policy, key, OCI layout).
pub fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo")
}

/// A writable copy of the demo OCI layout at `dst`.
pub fn demo_layout_copy(dst: &Path) -> PathBuf {
    copy_dir(&demo().join("oci-layout"), dst);
    dst.to_path_buf()
}

/// `sealgate generate-key-pair` under `dir/name` with password `pw`: (key file, public PEM).
pub fn keypair(dir: &Path, name: &str) -> (PathBuf, String) {
    let r = run(sealgate()
        .env("COSIGN_PASSWORD", "pw")
        .arg("generate-key-pair")
        .arg("--output-key-prefix")
        .arg(dir.join(name)));
    assert_eq!(r.code, 0, "{r}");
    (
        dir.join(format!("{name}.key")),
        std::fs::read_to_string(dir.join(format!("{name}.pub"))).unwrap(),
    )
}

/// Checks a DSSE envelope's first signature with the `sigstore` crate (ECDSA P-256) over the
/// pre-authentication encoding built here from the DSSE spec, independently of sealgate;
/// returns (payload, signature). Panics when it does not verify.
pub fn dsse_verified_by_sigstore(
    envelope: &serde_json::Value,
    public_pem: &str,
) -> (Vec<u8>, Vec<u8>) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload_type = envelope["payloadType"].as_str().unwrap();
    assert_eq!(payload_type, "application/vnd.in-toto+json");
    let body = b64.decode(envelope["payload"].as_str().unwrap()).unwrap();
    let mut pae = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        body.len()
    )
    .into_bytes();
    pae.extend_from_slice(&body);
    let sig = b64
        .decode(envelope["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    let vk = sigstore::crypto::CosignVerificationKey::from_pem(
        public_pem.as_bytes(),
        &sigstore::crypto::SigningScheme::ECDSA_P256_SHA256_ASN1,
    )
    .unwrap();
    vk.verify_signature(sigstore::crypto::Signature::Raw(&sig), &pae)
        .expect("the sigstore crate verifies the envelope");
    (body, sig)
}
