//! policy-controller `TrustRoot` with `sigstoreKeys` → a Sigstore `trusted_root.json`.
//!
//! `sigstoreKeys` holds PEM (base64 in the resource, as Kubernetes writes `[]byte`): the
//! certificate chains of the Fulcio CAs and timestamp authorities (root last) and the public
//! keys of the Rekor and CT logs. The trusted root carries the same material as DER, each log
//! identified by the SHA-256 of its key (the log ID Rekor and CT use). policy-controller gives
//! the material no validity period, so each entry is valid from the epoch on, open-ended. The
//! result is parsed back with sealgate's own trusted-root reader before it is written.
//! `remote` and `repository` (TUF) are not translated.

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;

use super::{Cx, Level, Obj};
use crate::crypto::{KeyAlgorithm, PublicKey, parse_pem_blocks};

const MEDIA_TYPE: &str = "application/vnd.dev.sigstore.trustedroot+json;version=0.1";
const EPOCH: &str = "1970-01-01T00:00:00Z";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A `[]byte` field: base64 of PEM text (a PEM text written directly is accepted too).
fn pem_field(v: &Value, at: &str, cx: &mut Cx) -> Option<String> {
    let s = v.as_str()?.trim();
    if s.starts_with("-----BEGIN") {
        return Some(s.to_string());
    }
    let compact: String = s.split_whitespace().collect();
    match crate::crypto::decode_base64_lenient(&compact)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    {
        Some(t) if t.contains("-----BEGIN") => Some(t),
        _ => {
            cx.report(at, Level::Dropped, "not base64 of PEM text");
            None
        }
    }
}

fn key_details(k: &PublicKey) -> &'static str {
    match k.algorithm() {
        KeyAlgorithm::EcdsaP256 => "PKIX_ECDSA_P256_SHA_256",
        KeyAlgorithm::EcdsaP384 => "PKIX_ECDSA_P384_SHA_384",
        KeyAlgorithm::EcdsaP521 => "PKIX_ECDSA_P521_SHA_512",
        KeyAlgorithm::Rsa => "PKIX_RSA_PKCS1V15_2048_SHA256",
        KeyAlgorithm::Ed25519 => "PKIX_ED25519",
    }
}

fn logs(list: &[Value], at: &str, cx: &mut Cx) -> Vec<Value> {
    let mut out = Vec::new();
    for (i, l) in list.iter().enumerate() {
        let at = format!("{at}[{i}]");
        let mut o = Obj::new(l, &at, cx);
        let url = o.str("baseURL", cx).unwrap_or("").to_string();
        let hash = o.str("hashAlgorithm", cx);
        let key = o.get("publicKey");
        o.finish(cx);
        if hash.is_some_and(|h| !matches!(h, "sha-256" | "sha256" | "SHA2_256")) {
            cx.report(
                &format!("{at}.hashAlgorithm"),
                Level::Dropped,
                "only SHA-256 logs are translated",
            );
            continue;
        }
        let Some(pem) = key.and_then(|k| pem_field(k, &format!("{at}.publicKey"), cx)) else {
            cx.report(&at, Level::Dropped, "no publicKey");
            continue;
        };
        let key = match PublicKey::from_pem(&pem) {
            Ok(k) => k,
            Err(e) => {
                cx.report(&format!("{at}.publicKey"), Level::Dropped, e.to_string());
                continue;
            }
        };
        let der = key.spki_der();
        out.push(json!({
            "baseUrl": url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": b64(der),
                "keyDetails": key_details(&key),
                "validFor": {"start": EPOCH},
            },
            "logId": {"keyId": b64(&sha2::Sha256::digest(der))},
        }));
    }
    out
}

fn authorities(list: &[Value], at: &str, cx: &mut Cx) -> Vec<Value> {
    let mut out = Vec::new();
    for (i, a) in list.iter().enumerate() {
        let at = format!("{at}[{i}]");
        let mut o = Obj::new(a, &at, cx);
        let subject = o.get("subject").cloned().unwrap_or(Value::Null);
        let uri = o.str("uri", cx).unwrap_or("").to_string();
        let chain = o.get("certChain");
        o.finish(cx);
        let Some(pem) = chain.and_then(|c| pem_field(c, &format!("{at}.certChain"), cx)) else {
            cx.report(&at, Level::Dropped, "no certChain");
            continue;
        };
        let certs: Vec<Value> = match parse_pem_blocks(&pem) {
            Ok(blocks) => blocks
                .into_iter()
                .filter(|b| b.label == "CERTIFICATE")
                .map(|b| json!({"rawBytes": b64(&b.contents)}))
                .collect(),
            Err(e) => {
                cx.report(&format!("{at}.certChain"), Level::Dropped, e.to_string());
                continue;
            }
        };
        if certs.is_empty() {
            cx.report(&format!("{at}.certChain"), Level::Dropped, "no certificate");
            continue;
        }
        out.push(json!({
            "subject": {
                "organization": subject.get("organization").and_then(Value::as_str).unwrap_or(""),
                "commonName": subject.get("commonName").and_then(Value::as_str).unwrap_or(""),
            },
            "uri": uri,
            "certChain": {"certificates": certs},
            "validFor": {"start": EPOCH},
        }));
    }
    out
}

/// The `trusted_root.json` text of a `TrustRoot` document, or `None` (reported) when it
/// does not translate.
pub(super) fn convert(doc: &Value, cx: &mut Cx) -> Option<String> {
    let mut spec = Obj::new(super::spec_of(doc, cx), "spec", cx);
    for k in ["remote", "repository"] {
        if spec.get(k).is_some() {
            cx.report(
                &spec.at(k),
                Level::Dropped,
                "a TUF repository is not translated: write its trusted_root.json target and \
                 give the attestors trustedRoot: {path: …}",
            );
        }
    }
    let keys = spec.get("sigstoreKeys");
    spec.finish(cx);
    let Some(keys) = keys else {
        cx.report("spec.sigstoreKeys", Level::Dropped, "no sigstoreKeys");
        return None;
    };
    let at = "spec.sigstoreKeys";
    let mut k = Obj::new(keys, at, cx);
    let cas = authorities(
        k.list("certificateAuthorities", cx),
        &k.at("certificateAuthorities"),
        cx,
    );
    let tlogs = logs(k.list("tLogs", cx), &k.at("tLogs"), cx);
    let ctlogs = logs(k.list("ctLogs", cx), &k.at("ctLogs"), cx);
    let tsas = authorities(
        k.list("timestampAuthorities", cx),
        &k.at("timestampAuthorities"),
        cx,
    );
    k.finish(cx);
    let json = json!({
        "mediaType": MEDIA_TYPE,
        "tlogs": tlogs,
        "certificateAuthorities": cas,
        "ctlogs": ctlogs,
        "timestampAuthorities": tsas,
    });
    let text = serde_json::to_string_pretty(&json).ok()?;
    match crate::sigstore::trust::TrustedRoot::from_json(text.as_bytes(), "TrustRoot") {
        Ok(_) => Some(text + "\n"),
        Err(e) => {
            cx.report(
                at,
                Level::Dropped,
                format!("does not make a trusted root: {e}"),
            );
            None
        }
    }
}
