use std::path::{Path, PathBuf};

use serde_json::Value;

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn conformance_dir() -> PathBuf {
    Path::new(FIXTURES).join("sigstore-conformance/bundle-verify")
}

// ---- test-only bundle JSON → TlogEntry decoder -------------------------------------------

fn field<'v>(v: &'v Value, k: &str) -> Option<&'v Value> {
    v.get(k).filter(|x| !x.is_null())
}

fn int(v: Option<&Value>, what: &str) -> Result<i64, String> {
    match v {
        None => Ok(0), // proto3 JSON: absent = 0
        Some(Value::String(s)) => s.parse().map_err(|e| format!("{what}: {e}")),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| format!("{what}: not an int64")),
        Some(other) => Err(format!("{what}: unexpected {other}")),
    }
}

fn b64(v: Option<&Value>, what: &str) -> Result<Vec<u8>, String> {
    let s = v
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{what}: missing"))?;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| format!("{what}: {e}"))
}

fn string(v: Option<&Value>, what: &str) -> Result<String, String> {
    v.and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("{what}: missing"))
}

fn decode_entry(v: &Value) -> Result<TlogEntry, String> {
    let kv = field(v, "kindVersion").ok_or("kindVersion missing")?;
    let integrated = int(field(v, "integratedTime"), "integratedTime")?;
    let proof = match field(v, "inclusionProof") {
        None => None,
        Some(p) => Some(InclusionProof {
            log_index: int(field(p, "logIndex"), "inclusionProof.logIndex")?,
            root_hash: b64(field(p, "rootHash"), "rootHash")?,
            tree_size: int(field(p, "treeSize"), "treeSize")?,
            hashes: field(p, "hashes")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|h| b64(Some(h), "hashes[]")).collect())
                .unwrap_or(Ok(Vec::new()))?,
            checkpoint: field(p, "checkpoint")
                .and_then(|c| field(c, "envelope"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        }),
    };
    Ok(TlogEntry {
        log_index: int(field(v, "logIndex"), "logIndex")?,
        log_id: b64(
            field(v, "logId").and_then(|l| field(l, "keyId")),
            "logId.keyId",
        )?,
        kind: string(field(kv, "kind"), "kind")?,
        version: string(field(kv, "version"), "version")?,
        integrated_time: (integrated != 0).then_some(integrated),
        signed_entry_timestamp: match field(v, "inclusionPromise") {
            None => None,
            Some(p) => Some(b64(
                field(p, "signedEntryTimestamp"),
                "signedEntryTimestamp",
            )?),
        },
        inclusion_proof: proof,
        canonicalized_body: b64(field(v, "canonicalizedBody"), "canonicalizedBody")?,
    })
}

fn decode_entries(bundle: &Value) -> Result<Vec<TlogEntry>, String> {
    let entries = field(bundle, "verificationMaterial")
        .and_then(|m| field(m, "tlogEntries"))
        .and_then(Value::as_array)
        .ok_or("no tlogEntries")?;
    if entries.is_empty() {
        return Err("no tlogEntries".into());
    }
    entries.iter().map(decode_entry).collect()
}

/// Bundle v0.2+ requires inclusion proofs.
fn requires_proof(bundle: &Value) -> bool {
    let mt = bundle["mediaType"].as_str().unwrap_or_default();
    !mt.ends_with("version=0.1")
}

// ---- conformance cases ------------------------------------------------------------------

/// Loads a case's trusted root. The staging roots list a PKCS#1 (`PKCS1_RSA_PKCS1V5`) CT
/// log key that `trust.rs` cannot read yet; CT logs play no part at this layer, so such
/// entries are dropped and the load retried.
fn load_root(path: &Path) -> Result<TrustedRoot, String> {
    match TrustedRoot::from_file(path) {
        Ok(r) => Ok(r),
        Err(e) if e.to_string().contains("ctlogs[") => {
            let mut j: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
            if let Some(ct) = j.get_mut("ctlogs").and_then(Value::as_array_mut) {
                ct.retain(|c| {
                    !c["publicKey"]["keyDetails"]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with("PKCS1_")
                });
            }
            TrustedRoot::from_json(&serde_json::to_vec(&j).unwrap(), path.display().to_string())
                .map_err(|e2| format!("{e2} (first: {e})"))
        }
        Err(e) => Err(e.to_string()),
    }
}

struct Case {
    name: String,
    dir: PathBuf,
    bundle: Result<Value, String>,
    root: Result<TrustedRoot, String>,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(conformance_dir()).unwrap() {
        let dir = e.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let bundle = std::fs::read(dir.join("bundle.sigstore.json"))
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()));
        let tr = dir.join("trusted_root.json");
        let root = if tr.exists() {
            load_root(&tr)
        } else {
            Ok((*TrustedRoot::production()).clone())
        };
        out.push(Case {
            name,
            dir,
            bundle,
            root,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(
        out.len() >= 70,
        "only {} conformance cases found",
        out.len()
    );
    out
}

/// The transparency-log layer: every entry verifies and its body parses.
fn tlog_layer(case: &Case) -> Result<(), String> {
    let bundle = case.bundle.as_ref().map_err(|e| format!("bundle: {e}"))?;
    let root = case.root.as_ref().map_err(|e| format!("root: {e}"))?;
    let require = requires_proof(bundle);
    for entry in decode_entries(bundle)? {
        verify_entry(&entry, root, require).map_err(|e| e.to_string())?;
        parse_body(&entry).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The body layer: each entry body agrees with the bundle's content and signer. `Ok(false)`
/// when the case has no signer to check against (managed key without `key.pub`).
fn body_layer(case: &Case) -> Result<bool, String> {
    let bundle = case.bundle.as_ref().map_err(|e| format!("bundle: {e}"))?;
    let vm = &bundle["verificationMaterial"];
    let cert = field(vm, "certificate")
        .and_then(|c| field(c, "rawBytes"))
        .or_else(|| {
            field(vm, "x509CertificateChain")
                .and_then(|c| field(c, "certificates"))
                .and_then(|c| c.get(0))
                .and_then(|c| field(c, "rawBytes"))
        })
        .map(|c| b64(Some(c), "certificate"))
        .transpose()?;
    let key = match std::fs::read_to_string(case.dir.join("key.pub")) {
        Ok(pem) => Some(PublicKey::from_pem(&pem).map_err(|e| e.to_string())?),
        Err(_) => None,
    };
    let signer = match (&cert, &key) {
        (Some(c), _) => Signer::Certificate(c),
        (None, Some(k)) => Signer::Key(k),
        (None, None) => return Ok(false),
    };
    let artifact = {
        let own = case.dir.join("artifact");
        std::fs::read(if own.exists() {
            own
        } else {
            conformance_dir().join("a.txt")
        })
        .unwrap()
    };
    let digest = sha256(&artifact);
    let (payload, payload_type, sig);
    let signed = if let Some(ms) = field(bundle, "messageSignature") {
        sig = b64(field(ms, "signature"), "signature")?;
        Signed::Message {
            digest_algorithm: "sha256",
            digest: &digest,
            signature: &sig,
        }
    } else {
        let env = field(bundle, "dsseEnvelope").ok_or("no content")?;
        payload = b64(field(env, "payload"), "payload")?;
        payload_type = string(field(env, "payloadType"), "payloadType")?;
        let sigs = field(env, "signatures")
            .and_then(Value::as_array)
            .ok_or("no sigs")?;
        if sigs.len() != 1 {
            return Err("DSSE envelope must have exactly one signature".into());
        }
        sig = b64(field(&sigs[0], "sig"), "sig")?;
        Signed::Dsse {
            payload_type: &payload_type,
            payload: &payload,
            signature: &sig,
        }
    };
    for entry in decode_entries(bundle)? {
        let body = parse_body(&entry).map_err(|e| e.to_string())?;
        check_body(&body, &signed, &signer).map_err(|e| e.to_string())?;
    }
    Ok(true)
}

const TLOG_MUST_FAIL: &[&str] = &[
    "checkpoint-bad-keyhint_fail",
    "checkpoint-wrong-roothash_fail",
    "invalid-checkpoint-signature_fail",
    "inclusion-proof-corrupted-hash_fail",
    "invalid-inclusion-proof_fail",
    "set-invalid-signature_fail",
    "bundle-negative-log-index_fail",
    "intoto-missing-inclusion-proof_fail",
    "rekor2-no-inclusion-proof_fail",
    "rekor2-checkpoint-missing-log-signature_fail",
    "rekor2-checkpoint-missing-origin_fail",
    "rekor2-checkpoint-missing-root-hash_fail",
    "rekor2-checkpoint-missing-size_fail",
    "rekor2-checkpoint-no-matching-signature_fail",
    "bundle-from-wrong-instance_fail",
];

const BODY_MUST_FAIL: &[&str] = &[
    "wrong-hashedrekord-entry_fail",
    "wrong-hashedrekord-cert-and-sig_fail",
    "incorrect-public-key_fail",
    "dsse-mismatch-envelope_fail",
    "dsse-mismatch-sig_fail",
    "intoto-log-entry-mismatch_fail",
    "rekor2-dsse-mismatch-envelope_fail",
    "rekor2-dsse-mismatch-sig_fail",
];

#[test]
fn conformance_cases_at_the_tlog_and_body_layers() {
    let mut problems = Vec::new();
    for case in cases() {
        let tlog = tlog_layer(&case);
        let body = body_layer(&case);
        eprintln!(
            "{:58} tlog: {:60} body: {}",
            case.name,
            match &tlog {
                Ok(()) => "ok".to_owned(),
                Err(e) => format!("FAIL {}", e.chars().take(120).collect::<String>()),
            },
            match &body {
                Ok(true) => "ok".to_owned(),
                Ok(false) => "(no signer)".to_owned(),
                Err(e) => format!("FAIL {e}"),
            }
        );
        let must_pass = !case.name.ends_with("_fail");
        if must_pass && tlog.is_err() {
            problems.push(format!("{}: tlog layer should pass: {tlog:?}", case.name));
        }
        if must_pass && !matches!(body, Ok(true)) {
            problems.push(format!("{}: body layer should pass: {body:?}", case.name));
        }
        if TLOG_MUST_FAIL.contains(&case.name.as_str()) && tlog.is_ok() {
            problems.push(format!("{}: tlog layer should fail", case.name));
        }
        if BODY_MUST_FAIL.contains(&case.name.as_str()) && body.is_ok() {
            problems.push(format!("{}: body layer should fail", case.name));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

fn load(case: &str) -> (Value, TrustedRoot) {
    let dir = conformance_dir().join(case);
    let bundle: Value =
        serde_json::from_slice(&std::fs::read(dir.join("bundle.sigstore.json")).unwrap()).unwrap();
    let tr = dir.join("trusted_root.json");
    let root = if tr.exists() {
        load_root(&tr).unwrap()
    } else {
        (*TrustedRoot::production()).clone()
    };
    (bundle, root)
}

fn first_entry(bundle: &Value) -> TlogEntry {
    decode_entries(bundle).unwrap().remove(0)
}

fn verify_err(case: &str, require: bool) -> String {
    let (bundle, root) = load(case);
    let entry = first_entry(&bundle);
    verify_entry(&entry, &root, require)
        .unwrap_err()
        .to_string()
}

#[test]
fn failures_say_what_is_wrong() {
    let expect = [
        ("checkpoint-bad-keyhint_fail", "no signature by log"),
        ("checkpoint-wrong-roothash_fail", "checkpoint tree size"),
        ("invalid-checkpoint-signature_fail", "does not verify"),
        ("inclusion-proof-corrupted-hash_fail", "inclusion proof"),
        ("set-invalid-signature_fail", "SET"),
        ("bundle-negative-log-index_fail", "negative logIndex"),
        ("intoto-missing-inclusion-proof_fail", "no inclusion proof"),
        (
            "rekor2-no-inclusion-proof_fail",
            "Rekor v2 log entry has no inclusion proof",
        ),
        (
            "rekor2-checkpoint-missing-log-signature_fail",
            "no signature lines",
        ),
        ("rekor2-checkpoint-missing-origin_fail", "checkpoint needs"),
        (
            "rekor2-checkpoint-missing-root-hash_fail",
            "checkpoint needs",
        ),
        ("rekor2-checkpoint-missing-size_fail", "checkpoint needs"),
        ("rekor2-checkpoint-no-matching-signature_fail", "origin"),
        (
            "bundle-from-wrong-instance_fail",
            "not from a log in built-in production",
        ),
    ];
    for (case, needle) in expect {
        let e = verify_err(case, true);
        assert!(e.contains(needle), "{case}: {e}");
    }
}

/// A fixture case and a test of the error it must give.
type Expect = (&'static str, fn(&TlogError) -> bool);

/// The variant names the check that failed (what callers and metrics can match on).
#[test]
fn failures_name_the_check_that_failed() {
    let expect: [Expect; 7] = [
        ("checkpoint-bad-keyhint_fail", |e| {
            matches!(e, TlogError::Checkpoint(_))
        }),
        ("inclusion-proof-corrupted-hash_fail", |e| {
            matches!(e, TlogError::Inclusion(_))
        }),
        ("set-invalid-signature_fail", |e| {
            matches!(e, TlogError::Set(_))
        }),
        ("bundle-negative-log-index_fail", |e| {
            matches!(e, TlogError::Malformed(_))
        }),
        ("intoto-missing-inclusion-proof_fail", |e| {
            matches!(e, TlogError::NoProof(_))
        }),
        ("rekor2-checkpoint-missing-origin_fail", |e| {
            matches!(e, TlogError::Checkpoint(_))
        }),
        ("bundle-from-wrong-instance_fail", |e| {
            matches!(e, TlogError::UnknownLog(_))
        }),
    ];
    for (case, is) in expect {
        let (bundle, root) = load(case);
        let e = verify_entry(&first_entry(&bundle), &root, true).unwrap_err();
        assert!(is(&e), "{case}: {e:?}");
    }
}

#[test]
fn v01_bundle_without_proof_relies_on_the_set() {
    let (bundle, root) = load("happy-path-v0.1");
    let mut entry = first_entry(&bundle);
    let v = verify_entry(&entry, &root, false).unwrap();
    assert!(v.has_promise && v.has_proof);
    assert_eq!(v.integrated_time, Some(1_689_177_396));
    assert_eq!(v.log.host(), "rekor.sigstore.dev");
    entry.inclusion_proof = None;
    let v = verify_entry(&entry, &root, false).unwrap();
    assert!(v.has_promise && !v.has_proof);
    let e = verify_entry(&entry, &root, true).unwrap_err().to_string();
    assert!(e.contains("no inclusion proof"), "{e}");
    // neither SET nor proof
    entry.signed_entry_timestamp = None;
    let e = verify_entry(&entry, &root, false).unwrap_err().to_string();
    assert!(e.contains("neither"), "{e}");
}

#[test]
fn proof_without_set_gives_no_integrated_time_and_checks_validity() {
    let (bundle, root) = load("happy-path-v0.3");
    let mut entry = first_entry(&bundle);
    entry.signed_entry_timestamp = None;
    let v = verify_entry(&entry, &root, true).unwrap();
    assert!(v.has_proof && !v.has_promise);
    assert_eq!(
        v.integrated_time, None,
        "unsigned integrated time is not returned"
    );
    // an integrated time before the log's validity is rejected
    entry.integrated_time = Some(1);
    let e = verify_entry(&entry, &root, true).unwrap_err().to_string();
    assert!(e.contains("outside the validity"), "{e}");
    entry.integrated_time = Some(-5);
    assert!(verify_entry(&entry, &root, true).is_err());
}

#[test]
fn proof_without_checkpoint() {
    let (bundle, root) = load("happy-path-v0.1");
    let mut entry = first_entry(&bundle);
    entry.inclusion_proof.as_mut().unwrap().checkpoint.clear();
    // v0.1: the SET carries it; the proof is checked but anchors nothing
    let v = verify_entry(&entry, &root, false).unwrap();
    assert!(v.has_promise && !v.has_proof);
    let e = verify_entry(&entry, &root, true).unwrap_err().to_string();
    assert!(e.contains("no checkpoint"), "{e}");
}

#[test]
fn tampered_bodies_and_indices_fail() {
    let (bundle, root) = load("happy-path-v0.3");
    let entry = first_entry(&bundle);
    let mut e = entry.clone();
    e.canonicalized_body.push(b' ');
    assert!(verify_entry(&e, &root, true).is_err());
    let mut e = entry.clone();
    e.log_index += 1;
    let msg = verify_entry(&e, &root, true).unwrap_err().to_string();
    assert!(msg.contains("SET"), "{msg}");
    let mut e = entry.clone();
    e.inclusion_proof.as_mut().unwrap().log_index = -1;
    assert!(verify_entry(&e, &root, true).is_err());
    let mut e = entry;
    e.inclusion_proof.as_mut().unwrap().tree_size += 1;
    assert!(verify_entry(&e, &root, true).is_err());
}

#[test]
fn rekor_v2_entries() {
    let (bundle, root) = load("rekor2-happy-path");
    let entry = first_entry(&bundle);
    assert!(entry.is_rekor_v2());
    assert_eq!(entry.integrated_time, None);
    // v2 always requires the proof, whatever the caller says
    let v = verify_entry(&entry, &root, false).unwrap();
    assert!(v.has_proof && !v.has_promise && v.integrated_time.is_none());
    assert_eq!(v.log.host(), "log2025-alpha1.rekor.sigstage.dev");
    // the Rekor v2 log id is the C2SP note key id of (host, Ed25519 key)
    let raw = ed25519_raw(&v.log.key).unwrap();
    assert_eq!(
        ed25519_note_key_id(v.log.host(), &raw).to_vec(),
        v.log.log_id
    );
    let mut e = entry;
    e.inclusion_proof.as_mut().unwrap().checkpoint.clear();
    let msg = verify_entry(&e, &root, false).unwrap_err().to_string();
    assert!(msg.contains("no checkpoint"), "{msg}");
}

#[test]
fn kind_version_must_match_body() {
    let (bundle, _) = load("happy-path-v0.3");
    let mut entry = first_entry(&bundle);
    assert!(matches!(
        parse_body(&entry).unwrap(),
        EntryBody::HashedRekord { v2: false, .. }
    ));
    entry.version = "0.0.2".into();
    let e = parse_body(&entry).unwrap_err().to_string();
    assert!(e.contains("bundle says hashedrekord 0.0.2"), "{e}");
    entry.version = "0.0.1".into();
    entry.kind = "dsse".into();
    assert!(parse_body(&entry).is_err());
    entry.canonicalized_body = b"{".to_vec();
    assert!(parse_body(&entry).is_err());
}

// ---- checkpoints ------------------------------------------------------------------------

fn rekor2_checkpoint() -> (TrustedRoot, InclusionProof) {
    let (bundle, root) = load("rekor2-happy-path");
    (root, first_entry(&bundle).inclusion_proof.unwrap())
}

#[test]
fn checkpoint_parsing_and_signature_selection() {
    let (root, proof) = rekor2_checkpoint();
    let log = root
        .tlog(&first_entry(&load("rekor2-happy-path").0).log_id)
        .unwrap();
    let size = proof.tree_size as u64;
    let cp = proof.checkpoint.clone();
    verify_checkpoint(&cp, log, true, size, &proof.root_hash).unwrap();

    let note = parse_signed_note(&cp).unwrap();
    assert_eq!(note.signatures.len(), 1);
    assert_eq!(note.signatures[0].name, "log2025-alpha1.rekor.sigstage.dev");
    assert_eq!(note.signatures[0].key_hint, log.log_id[..4]);
    let c = parse_checkpoint(note.text).unwrap();
    assert_eq!(c.origin, "log2025-alpha1.rekor.sigstage.dev");
    assert_eq!(c.tree_size, size);

    // wrong size / root
    assert!(verify_checkpoint(&cp, log, true, size + 1, &proof.root_hash).is_err());
    assert!(verify_checkpoint(&cp, log, true, size, &[0u8; 32]).is_err());
    // an unknown extra signer is ignored, wherever it is
    let (text, sigs) = cp.split_at(cp.rfind("\n\n").unwrap() + 2);
    let witness = "\u{2014} witness.example AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n";
    verify_checkpoint(
        &format!("{text}{witness}{sigs}"),
        log,
        true,
        size,
        &proof.root_hash,
    )
    .unwrap();
    verify_checkpoint(&format!("{cp}{witness}"), log, true, size, &proof.root_hash).unwrap();
    // only an unknown signer: fails
    assert!(
        verify_checkpoint(
            &format!("{text}{witness}"),
            log,
            true,
            size,
            &proof.root_hash
        )
        .is_err()
    );
    // text changed: the log signature no longer verifies
    let changed = cp
        .replacen('\n', "\nX", 0)
        .replacen("\n\n", "\nExt: 1\n\n", 1);
    let e = verify_checkpoint(&changed, log, true, size, &proof.root_hash).unwrap_err();
    assert!(e.to_string().contains("does not verify"), "{e}");
    // malformed variants
    for bad in [
        cp.trim_end().to_owned(),              // no final newline
        cp.replace('\u{2014}', "-"),           // not an em dash
        cp.replacen("\n\n", "\n", 1),          // no blank line
        format!("{cp}garbage\n"),              // malformed signature line
        cp.replacen("\n736\n", "\n+736\n", 1), // not a plain decimal
        cp.replacen("\n736\n", "\n0736\n", 1), // leading zero
        String::new(),
        "\n\n".to_owned(),
    ] {
        assert!(
            verify_checkpoint(&bad, log, true, size, &proof.root_hash).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn rekor_v1_checkpoint_origin_and_hint() {
    let (bundle, root) = load("happy-path-v0.3");
    let entry = first_entry(&bundle);
    let log = root.tlog(&entry.log_id).unwrap();
    let proof = entry.inclusion_proof.unwrap();
    let note = parse_signed_note(&proof.checkpoint).unwrap();
    let cp = parse_checkpoint(note.text).unwrap();
    assert_eq!(cp.origin, "rekor.sigstore.dev - 2605736670972794746");
    assert_eq!(note.signatures[0].name, "rekor.sigstore.dev");
    assert_eq!(note.signatures[0].key_hint, log.log_id[..4]);
    assert_eq!(log.log_id, sha256(log.key.spki_der()).to_vec());
    // the v1 log's checkpoint is not acceptable for another log of the root
    let other = root.tlogs.iter().find(|l| l.log_id != log.log_id).unwrap();
    assert!(
        verify_checkpoint(
            &proof.checkpoint,
            other,
            false,
            proof.tree_size as u64,
            &proof.root_hash
        )
        .is_err()
    );
}

/// A Rekor v1 log of a private deployment (a log in a kind cluster): its checkpoint
/// origin is `<pod hostname> - <tree id>`, unrelated to the trusted root's `baseUrl`.
#[test]
fn rekor_v1_checkpoint_of_a_private_deployment_is_bound_by_the_log_key() {
    use base64::engine::general_purpose::STANDARD;
    use p256::ecdsa::signature::Signer as _;
    use p256::pkcs8::EncodePublicKey as _;
    let keypair = |seed: u8| {
        let sk = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap();
        let pem = sk
            .verifying_key()
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .unwrap();
        (sk, PublicKey::from_pem(&pem).unwrap())
    };
    let (sk, key) = keypair(5);
    let log = Log {
        base_url: "http://rekor.rekor-system.svc:3000".into(),
        log_id: sha256(key.spki_der()).to_vec(),
        key,
        key_details: "PKIX_ECDSA_P256_SHA_256".into(),
        checkpoint_key_id: None,
        valid_for: crate::sigstore::trust::TimeRange {
            start: 0,
            end: None,
        },
    };
    let root = [0xab_u8; 32];
    let pod = "rekor-00001-deployment-56bf7777c9-jds5x";
    let note = |sk: &p256::ecdsa::SigningKey, origin: &str, signer: &str| {
        let text = format!("{origin}\n7\n{}\n", STANDARD.encode(root));
        let sig: p256::ecdsa::Signature = sk.sign(text.as_bytes());
        let mut blob = log.log_id[..4].to_vec();
        blob.extend_from_slice(sig.to_der().as_bytes());
        format!("{text}\n\u{2014} {signer} {}\n", STANDARD.encode(blob))
    };
    let origin = format!("{pod} - 6364419738405537866");
    // sigstore-go verifies it (hasRekorV1STH): bound by the key, not by the host
    verify_checkpoint(&note(&sk, &origin, pod), &log, false, 7, &root).unwrap();
    // and it still commits to exactly this tree
    assert!(verify_checkpoint(&note(&sk, &origin, pod), &log, false, 8, &root).is_err());
    // another key under the same names: refused
    let (other, _) = keypair(6);
    let e = verify_checkpoint(&note(&other, &origin, pod), &log, false, 7, &root).unwrap_err();
    assert!(e.to_string().contains("does not verify"), "{e}");
    // a signer name that is neither the origin's nor the log's host: not the log's line
    let e = verify_checkpoint(&note(&sk, &origin, "witness"), &log, false, 7, &root).unwrap_err();
    assert!(e.to_string().contains("no signature by log"), "{e}");
    // no numeric tree id: not a Rekor v1 origin, so it must be the host
    for bad in [format!("{pod} - 12a"), format!("{pod} - "), pod.to_owned()] {
        let e = verify_checkpoint(&note(&sk, &bad, pod), &log, false, 7, &root).unwrap_err();
        assert!(e.to_string().contains("checkpoint origin"), "{bad}: {e}");
    }
    // Rekor v2 keeps the hostname binding
    let e = verify_checkpoint(&note(&sk, &origin, pod), &log, true, 7, &root).unwrap_err();
    assert!(e.to_string().contains("Rekor v2"), "{e}");
    let host = "rekor.rekor-system.svc:3000";
    verify_checkpoint(&note(&sk, host, host), &log, true, 7, &root).unwrap();
}

// ---- SET ---------------------------------------------------------------------------------

/// The legacy cosign `dev.sigstore.cosign/bundle` annotation (connaisseur fixture).
#[test]
fn legacy_cosign_bundle_annotation() {
    let base = Path::new(FIXTURES).join("connaisseur/cosign/securesystemsengineering/testimage");
    let manifest: Value = serde_json::from_slice(
            &std::fs::read(base.join(
                "manifests/sha256-31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee.sig.json",
            ))
            .unwrap(),
        )
        .unwrap();
    let layer = &manifest["layers"][0];
    let ann = &layer["annotations"];
    let rekor: Value =
        serde_json::from_str(ann["dev.sigstore.cosign/bundle"].as_str().unwrap()).unwrap();
    let payload = &rekor["Payload"];
    let body_b64 = payload["body"].as_str().unwrap();
    let t = payload["integratedTime"].as_i64().unwrap();
    let index = payload["logIndex"].as_i64().unwrap();
    let log_id = hex::decode(payload["logID"].as_str().unwrap()).unwrap();
    let set = b64(Some(&rekor["SignedEntryTimestamp"]), "SET").unwrap();
    let root = TrustedRoot::production();
    let log = root.tlog(&log_id).unwrap();
    verify_set(body_b64, t, index, log, &set).unwrap();
    assert!(verify_set(body_b64, t + 1, index, log, &set).is_err());
    assert!(verify_set(body_b64, t, index + 1, log, &set).is_err());
    assert!(verify_set(body_b64, t, -1, log, &set).is_err());
    let other = root.tlogs.iter().find(|l| l.log_id != log_id).unwrap();
    assert!(verify_set(body_b64, t, index, other, &set).is_err());

    // the body agrees with the layer
    let entry = TlogEntry {
        log_index: index,
        log_id,
        kind: "hashedrekord".into(),
        version: "0.0.1".into(),
        integrated_time: Some(t),
        signed_entry_timestamp: Some(set),
        inclusion_proof: None,
        canonicalized_body: decode_base64_lenient(body_b64).unwrap(),
    };
    let v = verify_entry(&entry, &root, false).unwrap();
    assert_eq!(v.integrated_time, Some(t));
    let body = parse_body(&entry).unwrap();
    let blob_digest = layer["digest"].as_str().unwrap();
    let blob = std::fs::read(base.join(format!("blobs/{blob_digest}.json"))).unwrap();
    let digest = sha256(&blob);
    let sig = b64(Some(&ann["dev.cosignproject.cosign/signature"]), "sig").unwrap();
    let cert =
        crate::crypto::parse_pem_block(ann["dev.sigstore.cosign/certificate"].as_str().unwrap())
            .unwrap()
            .contents;
    let signed = Signed::Message {
        digest_algorithm: "sha256",
        digest: &digest,
        signature: &sig,
    };
    check_body(&body, &signed, &Signer::Certificate(&cert)).unwrap();
    let wrong = sha256(b"other");
    let e = check_body(
        &body,
        &Signed::Message {
            digest_algorithm: "sha256",
            digest: &wrong,
            signature: &sig,
        },
        &Signer::Certificate(&cert),
    )
    .unwrap_err();
    assert!(e.to_string().contains("artifact digest"), "{e}");
    let e = check_body(
        &body,
        &Signed::Message {
            digest_algorithm: "sha384",
            digest: &digest,
            signature: &sig,
        },
        &Signer::Certificate(&cert),
    )
    .unwrap_err();
    assert!(e.to_string().contains("algorithm"), "{e}");
}

// ---- other real bundles -----------------------------------------------------------------

fn check_dsse_bundle(path: &Path) {
    let bundle: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let root = TrustedRoot::production();
    let cert = b64(
        Some(&bundle["verificationMaterial"]["certificate"]["rawBytes"]),
        "c",
    )
    .unwrap();
    let env = &bundle["dsseEnvelope"];
    let payload = b64(Some(&env["payload"]), "payload").unwrap();
    let sig = b64(Some(&env["signatures"][0]["sig"]), "sig").unwrap();
    let signed = Signed::Dsse {
        payload_type: env["payloadType"].as_str().unwrap(),
        payload: &payload,
        signature: &sig,
    };
    for entry in decode_entries(&bundle).unwrap() {
        let v = verify_entry(&entry, &root, true).unwrap();
        assert!(v.has_proof && v.has_promise);
        let body = parse_body(&entry).unwrap();
        assert!(matches!(body, EntryBody::Dsse { v2: false, .. }));
        check_body(&body, &signed, &Signer::Certificate(&cert)).unwrap();
        // another payload / signature / signer is rejected
        let e = check_body(
            &body,
            &Signed::Dsse {
                payload_type: "x",
                payload: b"{}",
                signature: &sig,
            },
            &Signer::Certificate(&cert),
        )
        .unwrap_err();
        assert!(e.to_string().contains("payload hash"), "{e}");
        let e = check_body(&body, &signed, &Signer::Certificate(b"not it")).unwrap_err();
        assert!(e.to_string().contains("certificate"), "{e}");
        let msg = Signed::Message {
            digest_algorithm: "sha256",
            digest: &[0; 32],
            signature: &sig,
        };
        assert!(check_body(&body, &msg, &Signer::Certificate(&cert)).is_err());
    }
}

#[test]
fn cosign_v3_dsse_bundles() {
    check_dsse_bundle(&Path::new(FIXTURES).join("sigstore-rs/data/bundle_v03.json"));
    check_dsse_bundle(&Path::new(FIXTURES).join("cosign/testdata/oci-attestation.sigstore.json"));
}

#[test]
fn rekor_v2_hashedrekord_over_dsse() {
    let (bundle, root) = load("rekor2-dsse-happy-path");
    let entry = first_entry(&bundle);
    verify_entry(&entry, &root, true).unwrap();
    let body = parse_body(&entry).unwrap();
    let EntryBody::HashedRekord {
        v2: true, digest, ..
    } = &body
    else {
        panic!("{body:?}")
    };
    let env = &bundle["dsseEnvelope"];
    let payload = b64(Some(&env["payload"]), "payload").unwrap();
    let ptype = env["payloadType"].as_str().unwrap();
    assert_eq!(digest.value, sha256(&pae(ptype, &payload)).to_vec());
    // a message signature over the PAE digest is a different statement: still consistent
    // as hashedrekord, but a 0.0.1 hashedrekord can never stand for a DSSE envelope
    let mut e1 = first_entry(&load("happy-path-v0.3").0);
    e1.kind = "hashedrekord".into();
    let b1 = parse_body(&e1).unwrap();
    let sig = [0u8; 8];
    let e = check_body(
        &b1,
        &Signed::Dsse {
            payload_type: ptype,
            payload: &payload,
            signature: &sig,
        },
        &Signer::Certificate(b""),
    )
    .unwrap_err();
    assert!(e.to_string().contains("0.0.1"), "{e}");
}

#[test]
fn managed_key_bodies() {
    let (bundle, _) = load("managed-key-happy-path");
    let entry = first_entry(&bundle);
    let body = parse_body(&entry).unwrap();
    let good = PublicKey::from_pem(
        &std::fs::read_to_string(conformance_dir().join("managed-key-happy-path/key.pub")).unwrap(),
    )
    .unwrap();
    // managed-key-wrong-key_fail/key.pub is not even a valid key; use another P-256 key
    let wrong = TrustedRoot::production().tlogs[0].key.clone();
    let sig = b64(Some(&bundle["messageSignature"]["signature"]), "sig").unwrap();
    let digest = sha256(&std::fs::read(conformance_dir().join("a.txt")).unwrap());
    let signed = Signed::Message {
        digest_algorithm: "sha256",
        digest: &digest,
        signature: &sig,
    };
    check_body(&body, &signed, &Signer::Key(&good)).unwrap();
    let e = check_body(&body, &signed, &Signer::Key(&wrong)).unwrap_err();
    assert!(e.to_string().contains("public key differs"), "{e}");
    let e = check_body(&body, &signed, &Signer::Certificate(b"x")).unwrap_err();
    assert!(e.to_string().contains("public key"), "{e}");
}

#[test]
fn pae_encoding() {
    assert_eq!(
        pae("application/vnd.in-toto+json", b"hello"),
        b"DSSEv1 28 application/vnd.in-toto+json 5 hello".to_vec()
    );
    assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
}

// ---- Merkle -----------------------------------------------------------------------------

/// RFC 6962 §2.1 MTH over leaf hashes, straight from the definition.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => sha256(b""),
        1 => leaves[0],
        n => {
            // k = the largest power of two smaller than n
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// RFC 6962 §2.1.1 PATH(m, D[n]).
fn path(m: usize, leaves: &[[u8; 32]]) -> Vec<Vec<u8>> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    if m < k {
        let mut p = path(m, &leaves[..k]);
        p.push(mth(&leaves[k..]).to_vec());
        p
    } else {
        let mut p = path(m - k, &leaves[k..]);
        p.push(mth(&leaves[..k]).to_vec());
        p
    }
}

#[test]
fn merkle_inclusion_on_small_trees() {
    for n in 1usize..=17 {
        let leaves: Vec<[u8; 32]> = (0..n)
            .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
            .collect();
        let root = mth(&leaves);
        for m in 0..n {
            let p = path(m, &leaves);
            let (mi, ni) = (m as u64, n as u64);
            verify_inclusion(&leaves[m], mi, ni, &p, &root)
                .unwrap_or_else(|e| panic!("n={n} m={m}: {e}"));
            // wrong leaf
            let other = leaves[(m + 1) % n];
            if n > 1 {
                assert!(
                    verify_inclusion(&other, mi, ni, &p, &root).is_err(),
                    "n={n} m={m}"
                );
            }
            // wrong index / wrong size
            if n > 1 {
                assert!(
                    verify_inclusion(&leaves[m], (mi + 1) % ni, ni, &p, &root).is_err(),
                    "n={n} m={m} index"
                );
            }
            // another size: rejected whenever its audit path has another length (with the
            // same length and shape the size is only bound by the signed checkpoint)
            for other in [n - 1, n + 1, 2 * n + 3] {
                if other <= m {
                    continue;
                }
                if path(m, &vec![[0u8; 32]; other]).len() != p.len() {
                    assert!(
                        verify_inclusion(&leaves[m], mi, other as u64, &p, &root).is_err(),
                        "n={n} m={m} size {other}"
                    );
                }
            }
            // flipped bit in each proof hash, and in the root
            for j in 0..p.len() {
                let mut q = p.clone();
                q[j][7] ^= 0x10;
                assert!(verify_inclusion(&leaves[m], mi, ni, &q, &root).is_err());
            }
            let mut r = root;
            r[0] ^= 1;
            assert!(verify_inclusion(&leaves[m], mi, ni, &p, &r).is_err());
            // extra / missing hash
            let mut q = p.clone();
            q.push(vec![0; 32]);
            assert!(verify_inclusion(&leaves[m], mi, ni, &q, &root).is_err());
            if !p.is_empty() {
                assert!(verify_inclusion(&leaves[m], mi, ni, &p[..p.len() - 1], &root).is_err());
            }
        }
        // index out of range
        assert!(verify_inclusion(&leaves[0], n as u64, n as u64, &[], &root).is_err());
    }
    // malformed inputs never panic
    let l = leaf_hash(b"x");
    assert!(verify_inclusion(&l, 0, 0, &[], &l).is_err());
    assert!(verify_inclusion(&l, 0, 1, &[], &l[..31]).is_err());
    assert!(verify_inclusion(&l, 0, 2, &[vec![0; 31]], &l).is_err());
    assert!(verify_inclusion(&l, u64::MAX - 1, u64::MAX, &vec![vec![0; 32]; 64], &l).is_err());
    verify_inclusion(&l, 0, 1, &[], &l).unwrap();
}
