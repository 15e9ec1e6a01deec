//! `moto` in server mode as the AWS KMS and STS stand-in (the one the AWS ecosystem uses for
//! KMS tests; AWS itself cannot run here): PyPI `moto[server]`'s `moto_server`
//! (`$SEALGATE_MOTO`, which `.ci/run` sets, else `moto_server` on `PATH`) over HTTPS with a
//! test CA on a free loopback port, as cosign's `awskms://HOST:PORT/…` form requires;
//! stopped on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::{free_port, sealgate};

/// The test access key (moto accepts any).
pub const ACCESS_KEY: &str = "AKIASEALGATETEST0001";
pub const SECRET_KEY: &str = "sealgate-test-secret-key-never-shown";

pub fn moto_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SEALGATE_MOTO") {
        return PathBuf::from(p);
    }
    let found = Command::new("sh")
        .args(["-c", "command -v moto_server"])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "moto_server is needed: set SEALGATE_MOTO (bash .ci/run installs PyPI moto[server] into target/ci-venv and sets it)"
    );
    PathBuf::from(String::from_utf8(found.stdout).unwrap().trim())
}

pub struct Moto {
    child: Child,
    /// `127.0.0.1:PORT`, as the `awskms://` URI names it.
    pub host: String,
    /// The CA that signed the server's certificate (`AWS_CA_BUNDLE`).
    pub ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl Moto {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// With IAM authentication on from the first request (`INITIAL_NO_AUTH_ACTION_COUNT=0`):
    /// access keys moto's IAM does not know are refused, as AWS refuses them.
    pub fn start_checking_credentials() -> Self {
        Self::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")])
    }

    fn start_with(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "moto test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let (ca_file, cert_file, key_file) = (
            dir.path().join("ca.pem"),
            dir.path().join("moto.crt"),
            dir.path().join("moto.key"),
        );
        std::fs::write(&ca_file, ca.pem()).unwrap();
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        let port = free_port();
        let child = Command::new(moto_binary())
            .args(["-H", "127.0.0.1", "-p", &port.to_string(), "-c"])
            .arg(&cert_file)
            .arg("-k")
            .arg(&key_file)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let m = Self {
            child,
            host: format!("127.0.0.1:{port}"),
            ca: ca_file,
            _dir: dir,
        };
        for _ in 0..300 {
            if std::net::TcpStream::connect(&m.host).is_ok() {
                return m;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("moto did not start at {}", m.host);
    }

    /// `awskms://HOST:PORT/KEY`.
    pub fn uri(&self, key: &str) -> String {
        format!("awskms://{}/{key}", self.host)
    }

    /// `sealgate generate-key-pair --kms URI --output-key-prefix PREFIX`.
    pub fn generate(&self, uri: &str, prefix: &std::path::Path) -> super::Run {
        super::run(
            self.sealgate()
                .args(["generate-key-pair", "--kms", uri, "--output-key-prefix"])
                .arg(prefix),
        )
    }

    /// `sealgate` with the environment an AWS user sets: access keys, region, the test CA;
    /// nothing from the machine's own AWS configuration.
    pub fn sealgate(&self) -> Command {
        let mut c = sealgate();
        for v in [
            "AWS_PROFILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_SESSION_TOKEN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_ROLE_ARN",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_KMS",
        ] {
            c.env_remove(v);
        }
        c.env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_CA_BUNDLE", &self.ca);
        c
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
