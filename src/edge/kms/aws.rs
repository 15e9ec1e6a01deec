//! AWS KMS keys (`awskms://[HOST:PORT]/KEY`, cosign's URI): `GetPublicKey` to verify, `Sign`
//! to sign, every request signed with SigV4 by the `aws-sigv4` crate.
//!
//! - The key: a key id, `alias/NAME`, or a key or alias ARN. The region comes from the ARN,
//!   else `AWS_REGION` / `AWS_DEFAULT_REGION`. The endpoint is `https://HOST:PORT` when the
//!   URI names one (always HTTPS, as cosign), else `AWS_ENDPOINT_URL_KMS` /
//!   `AWS_ENDPOINT_URL`, else `https://kms.REGION.amazonaws.com`. `AWS_CA_BUNDLE` adds CA
//!   certificates to trust.
//! - Credentials, in the AWS SDKs' order: the environment (`AWS_ACCESS_KEY_ID`,
//!   `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), the shared credentials file
//!   (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`; profile `AWS_PROFILE`, else
//!   `default`), web identity (EKS IRSA: `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`,
//!   exchanged with STS `AssumeRoleWithWebIdentity` and renewed before they expire).
//! - Signing: `MessageType=RAW` with the message itself when it is at most 4,096 bytes (KMS's
//!   limit; every cosign simple-signing payload and DSSE PAE of a small statement), else
//!   `DIGEST` with its hash. ECDSA keys sign with the hash of their curve, RSA keys with
//!   `RSASSA_PKCS1_V1_5_SHA_256` (the forms cosign writes). The answer is verified with the
//!   key's public key before it is returned.
//!
//! Secrets (the secret key, session and web identity tokens) are never logged or shown.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use serde_json::Value;

use crate::crypto::{HashAlgorithm, KeyAlgorithm, PublicKey};

/// Largest message KMS signs as `RAW`.
const MAX_RAW_MESSAGE: usize = 4096;
/// Largest credentials or token file read.
const MAX_FILE_BYTES: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("AWS configuration: {0}")]
    Config(String),
    #[error("AWS KMS at {endpoint} is unreachable")]
    Unreachable {
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("AWS answered {status} to {what}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Status {
        status: u16,
        what: String,
        message: String,
    },
    #[error("AWS's answer to {what} is not usable: {message}")]
    Malformed { what: String, message: String },
}

impl AwsError {
    /// "Not now" (unreachable, 5xx, throttled) rather than "refused".
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Status {
                status, message, ..
            } => *status >= 500 || *status == 429 || message.starts_with("ThrottlingException"),
            _ => false,
        }
    }
}

/// Access keys (the secret parts redacted from `Debug`).
#[derive(Clone)]
struct Credentials {
    access_key: String,
    secret_key: String,
    session_token: Option<String>,
    /// Web identity credentials expire.
    expires: Option<Instant>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials {{ access_key: {}, … }}", self.access_key)
    }
}

/// Where credentials come from.
#[derive(Debug, Clone)]
enum Source {
    Static(Credentials),
    WebIdentity {
        token_file: PathBuf,
        role_arn: String,
        session_name: String,
        sts: String,
    },
}

/// A KMS client for one key.
pub struct AwsKms {
    client: reqwest::Client,
    endpoint: String,
    region: String,
    key: String,
    source: Source,
    session: tokio::sync::Mutex<Option<Credentials>>,
}

impl std::fmt::Debug for AwsKms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKms")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The region of a key ARN (`arn:aws:kms:REGION:ACCOUNT:key/…`).
fn arn_region(key: &str) -> Option<&str> {
    let mut parts = key.split(':');
    (parts.next() == Some("arn"))
        .then(|| parts.nth(2))
        .flatten()
        .filter(|r| !r.is_empty())
}

impl AwsKms {
    /// The key `key` (a key id, `alias/NAME` or ARN) at `endpoint` (`HOST:PORT` from the URI,
    /// if it names one), configured from the environment.
    ///
    /// # Errors
    /// [`AwsError::Config`] when no region or no credentials can be found.
    pub fn from_env(endpoint: Option<&str>, key: &str) -> Result<Self, AwsError> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
        let region = arn_region(key)
            .map(str::to_owned)
            .or_else(|| var("AWS_REGION"))
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .ok_or_else(|| {
                AwsError::Config("no region: name the key by its ARN or set AWS_REGION".into())
            })?;
        let endpoint = match endpoint {
            Some(hp) => format!("https://{hp}"),
            None => var("AWS_ENDPOINT_URL_KMS")
                .or_else(|| var("AWS_ENDPOINT_URL"))
                .map(|u| u.trim_end_matches('/').to_string())
                .unwrap_or_else(|| format!("https://kms.{region}.amazonaws.com")),
        };
        let source = credentials_from_env(&region)?;
        let ca = var("AWS_CA_BUNDLE").map(PathBuf::from);
        let client = super::http_client(
            Duration::from_secs(30),
            ca.as_deref().map(|p| ("AWS_CA_BUNDLE", p)),
        )
        .map_err(AwsError::Config)?;
        Ok(Self {
            client,
            endpoint,
            region,
            key: key.to_string(),
            source,
            session: tokio::sync::Mutex::new(None),
        })
    }

    /// The key's public key.
    ///
    /// # Errors
    /// [`AwsError`] when KMS cannot be asked or the key is not an asymmetric signing key.
    pub async fn public_key(&self) -> Result<PublicKey, AwsError> {
        Ok(self.described().await?.0)
    }

    /// The public key and the key's id (KMS answers with its ARN).
    async fn described(&self) -> Result<(PublicKey, String), AwsError> {
        let what = format!("GetPublicKey of {}", self.key);
        let answer = self
            .call(
                "GetPublicKey",
                serde_json::json!({"KeyId": self.key}),
                &what,
            )
            .await?;
        let malformed = |message: &str| AwsError::Malformed {
            what: what.clone(),
            message: message.into(),
        };
        if answer.get("KeyUsage").and_then(Value::as_str) != Some("SIGN_VERIFY") {
            return Err(malformed("not a SIGN_VERIFY key"));
        }
        let der = answer
            .get("PublicKey")
            .and_then(Value::as_str)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .ok_or_else(|| malformed("no public key"))?;
        let arn = answer
            .get("KeyId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let key = PublicKey::from_spki_der(&der).map_err(|e| malformed(&e.to_string()))?;
        Ok((key, arn))
    }

    /// Signs `message` with the key: the signature as cosign writes it (DER ECDSA, PKCS#1
    /// v1.5 RSA), verified with `public` (the key's public key) before it is returned.
    ///
    /// # Errors
    /// [`AwsError`] when KMS refuses or answers with something that does not verify.
    pub async fn sign(&self, public: &PublicKey, message: &[u8]) -> Result<Vec<u8>, AwsError> {
        let what = format!("Sign with {}", self.key);
        let (algorithm, hash) = match public.algorithm() {
            KeyAlgorithm::EcdsaP256 => ("ECDSA_SHA_256", HashAlgorithm::Sha256),
            KeyAlgorithm::EcdsaP384 => ("ECDSA_SHA_384", HashAlgorithm::Sha384),
            KeyAlgorithm::EcdsaP521 => ("ECDSA_SHA_512", HashAlgorithm::Sha512),
            KeyAlgorithm::Rsa => ("RSASSA_PKCS1_V1_5_SHA_256", HashAlgorithm::Sha256),
            KeyAlgorithm::Ed25519 => {
                return Err(AwsError::Malformed {
                    what,
                    message: "an Ed25519 key cannot sign here".into(),
                });
            }
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        let (kind, input) = if message.len() <= MAX_RAW_MESSAGE {
            ("RAW", b64.encode(message))
        } else {
            ("DIGEST", b64.encode(hash.digest(message)))
        };
        let answer = self
            .call(
                "Sign",
                serde_json::json!({
                    "KeyId": self.key,
                    "Message": input,
                    "MessageType": kind,
                    "SigningAlgorithm": algorithm,
                }),
                &what,
            )
            .await?;
        let sig = answer
            .get("Signature")
            .and_then(Value::as_str)
            .and_then(|s| b64.decode(s).ok())
            .ok_or_else(|| AwsError::Malformed {
                what: what.clone(),
                message: "no signature".into(),
            })?;
        public
            .verify(message, &sig)
            .map_err(|e| AwsError::Malformed {
                what,
                message: format!("the signature does not verify with the key: {e}"),
            })?;
        Ok(sig)
    }

    /// Creates an `ECC_NIST_P256` signing key with the alias `alias/NAME` (what `cosign
    /// generate-key-pair --kms awskms:///alias/NAME` makes); an existing alias is kept. The
    /// public key and the key's ARN (its id as KMS names it, for an existing alias).
    ///
    /// # Errors
    /// [`AwsError`] when KMS refuses.
    pub async fn create_alias_key(&self) -> Result<(PublicKey, String), AwsError> {
        let Some(alias) = self.key.strip_prefix("alias/") else {
            return Err(AwsError::Config(format!(
                "{}: only awskms:///alias/NAME keys can be created",
                self.key
            )));
        };
        match self.described().await {
            Ok(k) => return Ok(k),
            Err(AwsError::Status { message, .. }) if message.starts_with("NotFoundException") => {}
            Err(e) => return Err(e),
        }
        let what = format!("CreateKey for alias/{alias}");
        let created = self
            .call(
                "CreateKey",
                serde_json::json!({"KeyUsage": "SIGN_VERIFY", "KeySpec": "ECC_NIST_P256"}),
                &what,
            )
            .await?;
        let id = created
            .pointer("/KeyMetadata/KeyId")
            .and_then(Value::as_str)
            .ok_or_else(|| AwsError::Malformed {
                what: what.clone(),
                message: "no key id".into(),
            })?
            .to_string();
        self.call(
            "CreateAlias",
            serde_json::json!({"AliasName": format!("alias/{alias}"), "TargetKeyId": id}),
            &format!("CreateAlias alias/{alias}"),
        )
        .await?;
        let (key, id) = self.described().await?;
        let arn = created
            .pointer("/KeyMetadata/Arn")
            .and_then(Value::as_str)
            .map_or(id, str::to_owned);
        Ok((key, arn))
    }

    async fn credentials(&self) -> Result<Credentials, AwsError> {
        match &self.source {
            Source::Static(c) => Ok(c.clone()),
            Source::WebIdentity {
                token_file,
                role_arn,
                session_name,
                sts,
            } => {
                let mut s = self.session.lock().await;
                if let Some(c) = s.as_ref()
                    && c.expires.is_none_or(|e| Instant::now() < e)
                {
                    return Ok(c.clone());
                }
                let c = self
                    .assume_role(token_file, role_arn, session_name, sts)
                    .await?;
                *s = Some(c.clone());
                Ok(c)
            }
        }
    }

    /// STS `AssumeRoleWithWebIdentity` (unsigned; the token is the proof).
    async fn assume_role(
        &self,
        token_file: &std::path::Path,
        role_arn: &str,
        session_name: &str,
        sts: &str,
    ) -> Result<Credentials, AwsError> {
        let token =
            crate::base::files::read_regular_string(token_file, MAX_FILE_BYTES).map_err(|e| {
                AwsError::Config(format!(
                    "AWS_WEB_IDENTITY_TOKEN_FILE {}: {}",
                    token_file.display(),
                    crate::base::error::chain(&e)
                ))
            })?;
        let what = format!("AssumeRoleWithWebIdentity for {role_arn}");
        let form = [
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", role_arn),
            ("RoleSessionName", session_name),
            ("WebIdentityToken", token.trim()),
        ];
        let resp = self
            .client
            .post(sts)
            .form(&form)
            .send()
            .await
            .map_err(|source| AwsError::Unreachable {
                endpoint: sts.to_string(),
                source,
            })?;
        let status = resp.status();
        let text = read_bounded(resp, sts).await?;
        let text = String::from_utf8_lossy(&text);
        if !status.is_success() {
            return Err(AwsError::Status {
                status: status.as_u16(),
                what,
                message: xml_text(&text, "Message").unwrap_or_default(),
            });
        }
        let field = |name: &str| {
            xml_text(&text, name).ok_or_else(|| AwsError::Malformed {
                what: what.clone(),
                message: format!("no {name}"),
            })
        };
        let expires = xml_text(&text, "Expiration")
            .and_then(|t| crate::base::time::parse_rfc3339(&t).ok())
            .map(|at| {
                let left = at.saturating_sub(crate::base::time::now()).max(0);
                // renewed five minutes (or a fifth of their life) before they expire
                let left = Duration::from_secs(left.unsigned_abs());
                Instant::now() + left - (left / 5).min(Duration::from_secs(300))
            });
        Ok(Credentials {
            access_key: field("AccessKeyId")?,
            secret_key: field("SecretAccessKey")?,
            session_token: Some(field("SessionToken")?),
            expires,
        })
    }

    /// One KMS JSON request (`TrentService.<action>`), signed with SigV4.
    async fn call(&self, action: &str, body: Value, what: &str) -> Result<Value, AwsError> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let creds = self.credentials().await?;
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let url = format!("{}/", self.endpoint);
        let target = format!("TrentService.{action}");
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        let identity = aws_credential_types::Credentials::new(
            creds.access_key.clone(),
            creds.secret_key.clone(),
            creds.session_token.clone(),
            None,
            "sealgate",
        )
        .into();
        let config = |e: &dyn std::fmt::Display| AwsError::Config(format!("SigV4: {e}"));
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("kms")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| config(&e))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.iter().copied(),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| config(&e))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| config(&e))?
            .into_parts();
        let mut req = self.client.post(&url).body(body.clone());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        for (k, v) in instructions.headers() {
            req = req.header(k, v);
        }
        let resp = req.send().await.map_err(|source| AwsError::Unreachable {
            endpoint: self.endpoint.clone(),
            source,
        })?;
        let status = resp.status();
        let bytes = read_bounded(resp, &self.endpoint).await?;
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        if !status.is_success() {
            // {"__type": "NotFoundException", "message": "…"} (or the XML error form of
            // the query protocol), bounded, no control characters
            let j = json.unwrap_or(Value::Null);
            let text = String::from_utf8_lossy(&bytes);
            let kind = j
                .get("__type")
                .and_then(Value::as_str)
                .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
                .or_else(|| xml_text(&text, "Code"))
                .unwrap_or_default();
            let msg = j
                .get("message")
                .or_else(|| j.get("Message"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| xml_text(&text, "Message"))
                .unwrap_or_default();
            let message = super::shown_message(&format!(
                "{kind}{}{msg}",
                if kind.is_empty() { "" } else { ": " }
            ));
            return Err(AwsError::Status {
                status: status.as_u16(),
                what: what.into(),
                message,
            });
        }
        json.ok_or_else(|| AwsError::Malformed {
            what: what.into(),
            message: "not JSON".into(),
        })
    }
}

async fn read_bounded(resp: reqwest::Response, endpoint: &str) -> Result<Vec<u8>, AwsError> {
    super::read_answer(resp)
        .await
        .map_err(|source| AwsError::Unreachable {
            endpoint: endpoint.to_string(),
            source,
        })?
        .ok_or_else(|| AwsError::Malformed {
            what: endpoint.to_string(),
            message: "the answer is larger than 1 MiB".into(),
        })
}

/// The text of the first `<name>…</name>` element.
fn xml_text(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].trim().to_string())
}

/// The credentials the environment names (see the module docs for the order).
fn credentials_from_env(region: &str) -> Result<Source, AwsError> {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
    if let (Some(access_key), Some(secret_key)) =
        (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
    {
        return Ok(Source::Static(Credentials {
            access_key,
            secret_key,
            session_token: var("AWS_SESSION_TOKEN"),
            expires: None,
        }));
    }
    let file = var("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".aws/credentials")));
    let profile = var("AWS_PROFILE").unwrap_or_else(|| "default".into());
    if let Some(file) = file.filter(|f| f.is_file()) {
        let text = crate::base::files::read_regular_string(&file, MAX_FILE_BYTES).map_err(|e| {
            AwsError::Config(format!(
                "{}: {}",
                file.display(),
                crate::base::error::chain(&e)
            ))
        })?;
        if let Some(c) = profile_credentials(&text, &profile) {
            return Ok(Source::Static(c));
        }
    }
    if let (Some(token_file), Some(role_arn)) =
        (var("AWS_WEB_IDENTITY_TOKEN_FILE"), var("AWS_ROLE_ARN"))
    {
        return Ok(Source::WebIdentity {
            token_file: PathBuf::from(token_file),
            role_arn,
            session_name: var("AWS_ROLE_SESSION_NAME").unwrap_or_else(|| "sealgate".into()),
            sts: var("AWS_ENDPOINT_URL_STS")
                .unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com"))
                .trim_end_matches('/')
                .to_string()
                + "/",
        });
    }
    Err(AwsError::Config(format!(
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a [{profile}] profile in ~/.aws/credentials, or AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN"
    )))
}

/// `aws_access_key_id` / `aws_secret_access_key` / `aws_session_token` of `[profile]` in
/// a shared credentials file.
fn profile_credentials(text: &str, profile: &str) -> Option<Credentials> {
    let mut inside = false;
    let (mut ak, mut sk, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == profile;
            continue;
        }
        if !inside {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().to_string();
            match k.trim() {
                "aws_access_key_id" => ak = Some(v),
                "aws_secret_access_key" => sk = Some(v),
                "aws_session_token" => token = Some(v),
                _ => {}
            }
        }
    }
    Some(Credentials {
        access_key: ak?,
        secret_key: sk?,
        session_token: token,
        expires: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_profiles_and_sts_answers() {
        assert_eq!(
            arn_region("arn:aws:kms:eu-west-1:111122223333:key/1234"),
            Some("eu-west-1")
        );
        assert_eq!(arn_region("alias/release"), None);
        assert_eq!(arn_region("1234abcd"), None);
        let c = profile_credentials(
            "[default]\naws_access_key_id = A1\naws_secret_access_key = S1\n\n[ci]\n# comment\naws_access_key_id=A2\naws_secret_access_key=S2\naws_session_token=T2\n",
            "ci",
        )
        .unwrap();
        assert_eq!(
            (c.access_key.as_str(), c.session_token.as_deref()),
            ("A2", Some("T2"))
        );
        assert!(!format!("{c:?}").contains("S2"), "secret redacted");
        assert!(profile_credentials("[default]\naws_access_key_id=A\n", "default").is_none());
        assert_eq!(
            xml_text(
                "<R><Credentials><AccessKeyId>AK</AccessKeyId></Credentials></R>",
                "AccessKeyId"
            )
            .as_deref(),
            Some("AK")
        );
        assert_eq!(xml_text("<R/>", "AccessKeyId"), None);
    }
}
