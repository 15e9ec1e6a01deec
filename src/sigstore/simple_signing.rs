//! The cosign "simple signing" payload (`application/vnd.dev.cosign.simplesigning.v1+json`):
//! `{"critical":{"identity":{"docker-reference":…},"image":{"docker-manifest-digest":…},"type":…},"optional":…}`.
//!
//! Parsed like cosign parses it (Go `encoding/json`): object keys match struct fields
//! case-insensitively and the last duplicate wins. The bytes are never re-serialized.

use serde_json::{Map, Value};

/// Largest payload accepted (cosign's are ~250 bytes).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("payload is larger than {MAX_PAYLOAD_BYTES} bytes")]
    TooLarge,
    #[error("payload is not JSON: {0}")]
    NotJson(String),
    #[error("payload has no critical.image.docker-manifest-digest string")]
    MissingDigest,
}

/// The fields of a simple-signing payload that verification uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleSigning {
    pub docker_manifest_digest: String,
    pub docker_reference: Option<String>,
    pub kind: Option<String>,
    pub optional: Option<Map<String, Value>>,
}

/// Go-style field lookup: case-insensitive, last match wins.
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .next_back()
}

/// Parses a payload.
///
/// # Errors
/// [`PayloadError`] when the bytes are too large, not JSON, or lack the digest.
pub fn parse(bytes: &[u8]) -> Result<SimpleSigning, PayloadError> {
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(PayloadError::TooLarge);
    }
    // serde_json keeps the last of duplicate keys, as Go does.
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    let root = v.as_object().ok_or(PayloadError::MissingDigest)?;
    let critical = field(root, "critical")
        .and_then(Value::as_object)
        .ok_or(PayloadError::MissingDigest)?;
    let digest = field(critical, "image")
        .and_then(Value::as_object)
        .and_then(|i| field(i, "docker-manifest-digest"))
        .and_then(Value::as_str)
        .ok_or(PayloadError::MissingDigest)?;
    let docker_reference = field(critical, "identity")
        .and_then(Value::as_object)
        .and_then(|i| field(i, "docker-reference"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(SimpleSigning {
        docker_manifest_digest: digest.to_string(),
        docker_reference,
        kind: field(critical, "type")
            .and_then(Value::as_str)
            .map(str::to_string),
        optional: field(root, "optional").and_then(Value::as_object).cloned(),
    })
}

/// The exact bytes cosign writes for `digest` (Go `encoding/json`, compact). Used by
/// signers and tests.
pub fn payload_for(docker_reference: &str, digest: &str) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":{}}},"image":{{"docker-manifest-digest":{}}},"type":"cosign container image signature"}},"optional":null}}"#,
        Value::String(docker_reference.to_string()),
        Value::String(digest.to_string())
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cosign_bytes() {
        let p = payload_for("index.docker.io/acme/web", "sha256:abc");
        let s = parse(&p).unwrap();
        assert_eq!(s.docker_manifest_digest, "sha256:abc");
        assert_eq!(
            s.docker_reference.as_deref(),
            Some("index.docker.io/acme/web")
        );
        assert_eq!(s.kind.as_deref(), Some("cosign container image signature"));
    }

    #[test]
    fn keys_match_case_insensitively_last_wins() {
        let p = br#"{"Critical":{"Image":{"Docker-manifest-digest":"sha256:a","docker-manifest-digest":"sha256:b"}}}"#;
        assert_eq!(parse(p).unwrap().docker_manifest_digest, "sha256:b");
    }

    #[test]
    fn rejects_junk() {
        assert!(matches!(parse(b"nope"), Err(PayloadError::NotJson(_))));
        assert_eq!(parse(b"[]"), Err(PayloadError::MissingDigest));
        assert_eq!(
            parse(br#"{"critical":{"image":{"docker-manifest-digest":5}}}"#),
            Err(PayloadError::MissingDigest)
        );
        assert_eq!(
            parse(&vec![b' '; MAX_PAYLOAD_BYTES + 1]),
            Err(PayloadError::TooLarge)
        );
    }
}
