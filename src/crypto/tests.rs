//! Interoperability tests against real-tool fixtures, plus sign/verify round trips, error
//! classification and no-panic checks for every key type.
//!
//! Fixtures are the real-tool data vendored under `tests/fixtures` (`$SEALGATE_FIXTURES`
//! overrides the location; `tests/fixtures/SOURCES.md` names where each folder came from).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use sha2::{Digest as _, Sha256, Sha512};
use spki::ObjectIdentifier;

use super::*;

// ---------------------------------------------------------------------------------------------
// Fixture helpers

fn fixtures_dir() -> PathBuf {
    let dir = std::env::var_os("SEALGATE_FIXTURES").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
        PathBuf::from,
    );
    assert!(
        dir.is_dir(),
        "real-tool fixtures not found at {}: SEALGATE_FIXTURES must name the folder \
         holding connaisseur/, sigstore-conformance/, … (default tests/fixtures)",
        dir.display()
    );
    dir
}

fn fixture(rel: &str) -> PathBuf {
    fixtures_dir().join(rel)
}

fn read_bytes(rel: &str) -> Vec<u8> {
    let path = fixture(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

fn read_text(rel: &str) -> String {
    String::from_utf8(read_bytes(rel)).unwrap()
}

fn read_json(rel: &str) -> Value {
    serde_json::from_slice(&read_bytes(rel)).unwrap()
}

fn pem_key(rel: &str) -> PublicKey {
    PublicKey::from_pem(&read_text(rel)).unwrap_or_else(|e| panic!("{rel}: {}", chain(&e)))
}

/// An error and all its sources, `: `-separated.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

const TESTIMAGE: &str = "connaisseur/cosign/securesystemsengineering/testimage";
const SIG_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// (payload blob bytes, decoded signature) of every layer of a cosign `.sig` manifest.
fn cosign_layers(manifest: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let m = read_json(&format!("{TESTIMAGE}/manifests/{manifest}"));
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| {
            let digest = layer["digest"].as_str().unwrap();
            let blob = read_bytes(&format!("{TESTIMAGE}/blobs/{digest}.json"));
            assert!(digest_matches(digest, &blob), "blob digest {digest}");
            let sig = layer["annotations"][SIG_ANNOTATION].as_str().unwrap();
            (blob, decode_base64_lenient(sig).unwrap())
        })
        .collect()
}

/// The parts of an X.509 certificate needed to check its signature (test-only DER walk).
struct Cert {
    tbs: Vec<u8>,
    spki: Vec<u8>,
    signature_algorithm: String,
    signature: Vec<u8>,
}

fn parse_cert(der: &[u8]) -> Cert {
    use spki::der::asn1::{AnyRef, BitStringRef};
    use spki::der::{Decode, Encode, Reader, SliceReader, Tagged};
    let outer = AnyRef::from_der(der).unwrap();
    let mut reader = SliceReader::new(outer.value()).unwrap();
    let tbs = AnyRef::decode(&mut reader).unwrap();
    let algorithm = spki::AlgorithmIdentifierRef::decode(&mut reader).unwrap();
    let signature = BitStringRef::decode(&mut reader).unwrap();
    let mut fields = SliceReader::new(tbs.value()).unwrap();
    let mut items = Vec::new();
    while !fields.is_finished() {
        items.push(AnyRef::decode(&mut fields).unwrap());
    }
    // [0] version, serial, signature, issuer, validity, subject, subjectPublicKeyInfo
    let skip = usize::from(items[0].tag().is_context_specific());
    Cert {
        tbs: tbs.to_der().unwrap(),
        spki: items[skip + 5].to_der().unwrap(),
        signature_algorithm: algorithm.oid.to_string(),
        signature: signature.as_bytes().unwrap().to_vec(),
    }
}

/// Check `cert`'s signature with `issuer` for the usual X.509 signature algorithms.
fn verify_cert(cert: &Cert, issuer: &PublicKey) -> Result<(), SignatureError> {
    let rsa = |hash| issuer.verify_rsa(&cert.tbs, &cert.signature, RsaPadding::Pkcs1v15, hash);
    let ecdsa = |curve| {
        assert_eq!(
            issuer.algorithm(),
            curve,
            "hash/curve pairing cosign would use"
        );
        issuer.verify(&cert.tbs, &cert.signature)
    };
    match cert.signature_algorithm.as_str() {
        "1.2.840.10045.4.3.2" => ecdsa(KeyAlgorithm::EcdsaP256),
        "1.2.840.10045.4.3.3" => ecdsa(KeyAlgorithm::EcdsaP384),
        "1.2.840.10045.4.3.4" => ecdsa(KeyAlgorithm::EcdsaP521),
        "1.2.840.113549.1.1.11" => rsa(HashAlgorithm::Sha256),
        "1.2.840.113549.1.1.12" => rsa(HashAlgorithm::Sha384),
        "1.2.840.113549.1.1.13" => rsa(HashAlgorithm::Sha512),
        other => panic!("unexpected certificate signature algorithm {other}"),
    }
}

fn cert_key(cert: &Cert) -> PublicKey {
    PublicKey::from_spki_der(&cert.spki).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Cosign legacy signatures (connaisseur registry dump)

#[test]
fn connaisseur_alice_signature_verifies_only_with_alice() {
    let alice = pem_key("connaisseur/cosign/alice.key");
    let others = ["bob", "charlie", "default"]
        .map(|name| pem_key(&format!("connaisseur/cosign/{name}.key")));
    let layers = cosign_layers(
        "sha256-071bf7a986f1ca9cb2a1f0bc8392822a7777f90d58f2d2c6f271913e08de7c81.sig.json",
    );
    assert_eq!(layers.len(), 1);
    let (payload, sig) = &layers[0];
    assert_eq!(sig[0], 0x30, "cosign stores ASN.1 DER signatures");
    assert_eq!(alice.algorithm(), KeyAlgorithm::EcdsaP256);
    alice.verify(payload, sig).unwrap();
    for key in &others {
        assert!(matches!(
            key.verify(payload, sig),
            Err(SignatureError::Invalid)
        ));
    }

    // The same signature as raw r||s also verifies; a changed payload or signature does not.
    let raw = p256::ecdsa::Signature::from_der(sig).unwrap().to_bytes();
    assert_eq!(raw.len(), 64);
    alice.verify(payload, &raw).unwrap();
    let mut tampered = payload.clone();
    tampered[10] ^= 1;
    assert!(matches!(
        alice.verify(&tampered, sig),
        Err(SignatureError::Invalid)
    ));
    let mut bad_sig = sig.clone();
    *bad_sig.last_mut().unwrap() ^= 1;
    assert!(matches!(
        alice.verify(payload, &bad_sig),
        Err(SignatureError::Invalid)
    ));
}

#[test]
fn connaisseur_three_layers_each_verify_with_their_own_signer_only() {
    let names = ["alice", "bob", "charlie", "default"];
    let keys = names.map(|name| pem_key(&format!("connaisseur/cosign/{name}.key")));
    let layers = cosign_layers(
        "sha256-bfec161fecb0a887df7cb85e4da327c65986ccda7060cf3cd92171c6c90d7533.sig.json",
    );
    assert_eq!(layers.len(), 3);
    let mut signers = Vec::new();
    for (payload, sig) in &layers {
        let ok: Vec<&str> = keys
            .iter()
            .zip(names)
            .filter(|(key, _)| key.verify(payload, sig).is_ok())
            .map(|(_, name)| name)
            .collect();
        assert_eq!(
            ok.len(),
            1,
            "exactly one key verifies each layer, got {ok:?}"
        );
        signers.push(ok[0]);
    }
    signers.sort_unstable();
    assert_eq!(signers, ["alice", "bob", "charlie"]);
}

#[test]
fn connaisseur_keyless_layer_verifies_with_certificate_key_and_fulcio_chain() {
    let m = read_json(&format!(
        "{TESTIMAGE}/manifests/sha256-31dc72a13a0c34b40eb95419d2b2fd67320c856baf3b72da518023ee8d370aee.sig.json"
    ));
    let layer = &m["layers"][0];
    let annotations = &layer["annotations"];
    let digest = layer["digest"].as_str().unwrap();
    let payload = read_bytes(&format!("{TESTIMAGE}/blobs/{digest}.json"));
    let sig = decode_base64_lenient(annotations[SIG_ANNOTATION].as_str().unwrap()).unwrap();

    let leaf_pem = annotations["dev.sigstore.cosign/certificate"]
        .as_str()
        .unwrap();
    let leaf = parse_cert(&parse_pem_block(leaf_pem).unwrap().contents);
    let leaf_key = cert_key(&leaf);
    assert_eq!(leaf_key.algorithm(), KeyAlgorithm::EcdsaP256);
    leaf_key.verify(&payload, &sig).unwrap();
    let alice = pem_key("connaisseur/cosign/alice.key");
    assert!(matches!(
        alice.verify(&payload, &sig),
        Err(SignatureError::Invalid)
    ));

    // Chain: leaf <- intermediate (P-384, ecdsa-with-SHA384) <- root (self-signed).
    let chain_pem = annotations["dev.sigstore.cosign/chain"].as_str().unwrap();
    let chain: Vec<Cert> = parse_pem_blocks(chain_pem)
        .unwrap()
        .iter()
        .map(|b| parse_cert(&b.contents))
        .collect();
    assert_eq!(chain.len(), 2);
    let intermediate = cert_key(&chain[0]);
    let root = cert_key(&chain[1]);
    assert_eq!(intermediate.algorithm(), KeyAlgorithm::EcdsaP384);
    assert_eq!(root.algorithm(), KeyAlgorithm::EcdsaP384);
    verify_cert(&leaf, &intermediate).unwrap();
    verify_cert(&chain[0], &root).unwrap();
    verify_cert(&chain[1], &root).unwrap();
    assert!(verify_cert(&leaf, &root).is_err());
}

// ---------------------------------------------------------------------------------------------
// Sigstore bundles and trusted roots

#[test]
fn conformance_managed_key_message_signature_and_key_hint() {
    let dir = "sigstore-conformance/bundle-verify";
    let key = pem_key(&format!("{dir}/managed-key-happy-path/key.pub"));
    let bundle = read_json(&format!(
        "{dir}/managed-key-happy-path/bundle.sigstore.json"
    ));
    let artifact = read_bytes(&format!("{dir}/a.txt"));

    let hint = bundle["verificationMaterial"]["publicKey"]["hint"]
        .as_str()
        .unwrap();
    assert_eq!(
        hex::encode(STANDARD.decode(hint).unwrap()),
        key.fingerprint()
    );

    let message = &bundle["messageSignature"];
    let digest = STANDARD
        .decode(message["messageDigest"]["digest"].as_str().unwrap())
        .unwrap();
    assert_eq!(digest, sha256(&artifact));
    let sig = decode_base64_lenient(message["signature"].as_str().unwrap()).unwrap();
    key.verify(&artifact, &sig).unwrap();
    assert!(matches!(
        key.verify(b"other", &sig),
        Err(SignatureError::Invalid)
    ));

    // The `_fail` case ships a corrupted key.pub, which must not load.
    let err = PublicKey::from_pem(&read_text(&format!(
        "{dir}/managed-key-wrong-key_fail/key.pub"
    )))
    .unwrap_err();
    assert!(!chain(&err).is_empty());
}

#[test]
fn rekor_v2_checkpoint_ed25519_signature_verifies() {
    let dir = "sigstore-conformance/bundle-verify/rekor2-happy-path";
    let root = read_json(&format!("{dir}/trusted_root.json"));
    let log = root["tlogs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["publicKey"]["keyDetails"] == "PKIX_ED25519")
        .unwrap();
    let key = PublicKey::from_spki_der(
        &STANDARD
            .decode(log["publicKey"]["rawBytes"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(key.algorithm(), KeyAlgorithm::Ed25519);

    let bundle = read_json(&format!("{dir}/bundle.sigstore.json"));
    let envelope = bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]
        ["envelope"]
        .as_str()
        .unwrap();
    let (text, signatures) = envelope.split_once("\n\n").unwrap();
    let note = format!("{text}\n");
    let mut verified = 0;
    for line in signatures.lines() {
        let (_, b64) = line.strip_prefix("— ").unwrap().split_once(' ').unwrap();
        let raw = STANDARD.decode(b64).unwrap();
        let sig = &raw[4..]; // 4-byte key hint, then the Ed25519 signature
        key.verify(note.as_bytes(), sig).unwrap();
        let tampered = note.replace('\n', "\n ");
        assert!(matches!(
            key.verify(tampered.as_bytes(), sig),
            Err(SignatureError::Invalid)
        ));
        verified += 1;
    }
    assert_eq!(verified, 1);
}

/// Every key of a trusted root loads with the algorithm its `keyDetails` names, and for ECDSA logs
/// (Rekor v1, CT) the `logId` is the SHA-256 of the SPKI, i.e. our fingerprint.
fn check_trusted_root_keys(rel: &str) -> usize {
    let root = read_json(rel);
    let mut checked = 0;
    for group in ["tlogs", "ctlogs"] {
        for log in root[group].as_array().into_iter().flatten() {
            let details = log["publicKey"]["keyDetails"].as_str().unwrap();
            let raw = STANDARD
                .decode(log["publicKey"]["rawBytes"].as_str().unwrap())
                .unwrap();
            let (key, algorithm) = match details {
                "PKIX_ECDSA_P256_SHA_256" => {
                    (PublicKey::from_spki_der(&raw), KeyAlgorithm::EcdsaP256)
                }
                "PKIX_ECDSA_P384_SHA_384" => {
                    (PublicKey::from_spki_der(&raw), KeyAlgorithm::EcdsaP384)
                }
                "PKIX_ED25519" => (PublicKey::from_spki_der(&raw), KeyAlgorithm::Ed25519),
                // Despite the PKIX-less name, some roots carry bare PKCS#1 here.
                "PKCS1_RSA_PKCS1V5" => {
                    assert!(matches!(
                        PublicKey::from_spki_der(&raw),
                        Err(KeyError::SpkiDecodeFailed(_))
                    ));
                    (PublicKey::from_pkcs1_der(&raw), KeyAlgorithm::Rsa)
                }
                other => panic!("{rel}: unexpected keyDetails {other}"),
            };
            let key = key.unwrap_or_else(|e| panic!("{rel} {details}: {}", chain(&e)));
            assert_eq!(key.algorithm(), algorithm, "{rel} {details}");
            let log_id = STANDARD
                .decode(log["logId"]["keyId"].as_str().unwrap())
                .unwrap();
            if details.starts_with("PKIX_ECDSA") {
                assert_eq!(hex::encode(log_id), key.fingerprint(), "{rel} logId");
            }
            checked += 1;
        }
    }
    checked
}

#[test]
fn trusted_root_log_keys_load_and_log_ids_match_fingerprints() {
    let mut roots = vec![
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/sigstore/roots/production.json"
        )
        .to_owned(),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/sigstore/roots/staging.json"
        )
        .to_owned(),
        "cosign/testdata/trusted_root_pgi.json".to_owned(),
    ];
    let conformance = fixture("sigstore-conformance/bundle-verify");
    for entry in std::fs::read_dir(&conformance).unwrap() {
        let path = entry.unwrap().path().join("trusted_root.json");
        if path.is_file() {
            let rel = path.strip_prefix(fixtures_dir()).unwrap();
            roots.push(rel.to_string_lossy().into_owned());
        }
    }
    let checked: usize = roots.iter().map(|r| check_trusted_root_keys(r)).sum();
    assert!(checked > 50, "only {checked} keys checked");
}

#[test]
fn fulcio_certificate_chains_verify_p384() {
    let root = read_json(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/sigstore/roots/production.json"
    ));
    let mut verified = 0;
    for ca in root["certificateAuthorities"].as_array().unwrap() {
        let certs: Vec<Cert> = ca["certChain"]["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| parse_cert(&STANDARD.decode(c["rawBytes"].as_str().unwrap()).unwrap()))
            .collect();
        for (i, cert) in certs.iter().enumerate() {
            let issuer = cert_key(certs.get(i + 1).unwrap_or(cert));
            verify_cert(cert, &issuer).unwrap();
            verified += 1;
        }
    }
    assert!(verified >= 3);
}

// ---------------------------------------------------------------------------------------------
// RSA interop (Notation JWS PS256/PS384 and self-signed RSA certificates)

/// Verify a Notation JWS envelope with its leaf certificate; returns the `alg` header too.
fn check_notation_jws(rel: &str) -> (String, PublicKey, Vec<u8>, Vec<u8>) {
    let env = read_json(rel);
    let protected = env["protected"].as_str().unwrap();
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(protected).unwrap()).unwrap();
    let signing_input = format!("{protected}.{}", env["payload"].as_str().unwrap());
    let sig = URL_SAFE_NO_PAD
        .decode(env["signature"].as_str().unwrap())
        .unwrap();
    let leaf = STANDARD
        .decode(env["header"]["x5c"][0].as_str().unwrap())
        .unwrap();
    let key = cert_key(&parse_cert(&leaf));
    (
        header["alg"].as_str().unwrap().to_owned(),
        key,
        signing_input.into_bytes(),
        sig,
    )
}

#[test]
fn notation_jws_pss_signatures_verify() {
    let (alg, key, msg, sig) = check_notation_jws("notation-go/testdata/jws_signature.sig");
    assert_eq!(alg, "PS256");
    assert_eq!(key.algorithm(), KeyAlgorithm::Rsa);
    key.verify_rsa(&msg, &sig, RsaPadding::Pss, HashAlgorithm::Sha256)
        .unwrap();
    key.verify(&msg, &sig).unwrap(); // cosign-style: PKCS#1 v1.5 or PSS, SHA-256
    assert!(matches!(
        key.verify_rsa(&msg, &sig, RsaPadding::Pkcs1v15, HashAlgorithm::Sha256),
        Err(SignatureError::Invalid)
    ));

    let (alg, key, msg, sig) =
        check_notation_jws("notation-go/mock/testdata/ca_valid_sig_env.json");
    assert_eq!(alg, "PS384");
    key.verify_rsa(&msg, &sig, RsaPadding::Pss, HashAlgorithm::Sha384)
        .unwrap();
    assert!(matches!(
        key.verify(&msg, &sig),
        Err(SignatureError::Invalid)
    ));

    let (alg, key, msg, sig) =
        check_notation_jws("notation-go/mock/testdata/ca_invalid_sig_env.json");
    let hash = match alg.as_str() {
        "PS256" => HashAlgorithm::Sha256,
        "PS384" => HashAlgorithm::Sha384,
        _ => HashAlgorithm::Sha512,
    };
    assert!(key.verify_rsa(&msg, &sig, RsaPadding::Pss, hash).is_err());
}

#[test]
fn self_signed_rsa_certificates_verify_pkcs1v15() {
    for (rel, bits) in [
        (
            "notation-go/testdata/truststore/x509/ca/valid-trust-store/NotationTestRoot.pem",
            3072,
        ),
        (
            "notation-go/testdata/truststore/x509/ca/valid-trust-store-self-signed/openssl-minimum-self-signed.pem",
            4096,
        ),
        ("connaisseur/notation/ca.pem", 2048),
        ("connaisseur/notation/digi_cert_root.pem", 4096), // sha384WithRSAEncryption
    ] {
        let cert = parse_cert(&parse_pem_block(&read_text(rel)).unwrap().contents);
        let key = cert_key(&cert);
        assert_eq!(key.rsa_bits(), Some(bits), "{rel}");
        verify_cert(&cert, &key).unwrap_or_else(|e| panic!("{rel}: {e}"));
        if cert.signature_algorithm == "1.2.840.113549.1.1.11" {
            key.verify(&cert.tbs, &cert.signature).unwrap();
        }
        let mut tbs = cert.tbs.clone();
        tbs[20] ^= 0x80;
        assert!(matches!(
            key.verify(&tbs, &cert.signature),
            Err(SignatureError::Invalid)
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// PEM public keys found anywhere in the fixtures

/// Every PEM public-key block in `text`, as written (indentation included).
fn public_key_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let candidate = &rest[start..];
        let label_end = candidate[11..].find("-----").map(|i| i + 11);
        let Some(label_end) = label_end else { break };
        let label = &candidate[11..label_end];
        if label != "PUBLIC KEY" && label != "RSA PUBLIC KEY" {
            rest = &candidate[label_end..];
            continue;
        }
        let end_marker = format!("-----END {label}-----");
        let end = candidate
            .find(&end_marker)
            .map_or(candidate.len(), |i| i + end_marker.len());
        blocks.push(candidate[..end].to_owned());
        rest = &candidate[end..];
    }
    blocks
}

fn json_strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| json_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| json_strings(v, out)),
        _ => {}
    }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, files);
        } else {
            files.push(path);
        }
    }
}

#[test]
fn every_pem_public_key_in_the_fixtures_parses_or_fails_clearly() {
    let root = fixtures_dir();
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    let mut parsed = Vec::new();
    let mut rejected = Vec::new();
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if !text.contains("PUBLIC KEY-----") {
            continue;
        }
        let rel = path.strip_prefix(&root).unwrap().display().to_string();
        let mut sources = vec![text.as_str()];
        let json: Option<Value> = serde_json::from_str(&text).ok();
        if let Some(json) = &json {
            sources.clear();
            json_strings(json, &mut sources);
        }
        for block in sources.iter().flat_map(|s| public_key_blocks(s)) {
            match PublicKey::from_pem(&block) {
                Ok(key) => {
                    // Round trip through our own PEM encoding.
                    assert_eq!(PublicKey::from_pem(&key.to_pem()).unwrap(), key);
                    parsed.push((rel.clone(), key.algorithm()));
                }
                Err(e) => rejected.push((rel.clone(), chain(&e))),
            }
        }
    }
    for (rel, reason) in &rejected {
        eprintln!("rejected {rel}: {reason}");
        assert!(reason.len() > 30, "unclear reason for {rel}: {reason}");
    }
    // Exactly the deliberately broken ones: base64 corrupted after the padding (connaisseur),
    // a post-quantum key (connaisseur "unknown keys") and the conformance wrong-key case.
    let rejected_files: Vec<&str> = rejected.iter().map(|(rel, _)| rel.as_str()).collect();
    assert_eq!(
        rejected_files,
        [
            "connaisseur/cosign/12_invalid_rekor_pub_key.yaml",
            "connaisseur/cosign/14_invalid_ct_log_pub_key.yaml",
            "connaisseur/notaryv1/10_unknown_keys.yaml",
            "sigstore-conformance/bundle-verify/managed-key-wrong-key_fail/key.pub",
        ]
    );
    assert!(
        rejected[2]
            .1
            .contains("unsupported key algorithm OID 1.3.6.1.4.1.2.267.7.6.5")
    );
    let count = |alg| parsed.iter().filter(|(_, a)| *a == alg).count();
    eprintln!(
        "parsed {} keys (P-256 {}, RSA {}, Ed25519 {}), rejected {}",
        parsed.len(),
        count(KeyAlgorithm::EcdsaP256),
        count(KeyAlgorithm::Rsa),
        count(KeyAlgorithm::Ed25519),
        rejected.len()
    );
    assert!(parsed.len() >= 30, "{parsed:?}");
    assert!(count(KeyAlgorithm::Rsa) >= 2);
}

#[test]
fn fixture_keys_have_expected_algorithms_and_fingerprints() {
    let alice = pem_key("connaisseur/cosign/alice.key");
    assert_eq!(alice.spki_der().len(), 91);
    assert_eq!(
        alice.fingerprint(),
        "32b0bd6e29fb7d0d6a3ca9cda2fc71636b1bd40a91b503f9a1bd698803b34f56"
    );
    assert_eq!(alice.fingerprint(), sha256_hex(alice.spki_der()));
    assert!(format!("{alice:?}").contains("EcdsaP256"));

    let google = pem_key("cosign/testdata/google");
    assert_eq!(google.algorithm(), KeyAlgorithm::Rsa);
    assert_eq!(google.rsa_bits(), Some(4096));
    assert_eq!(
        google.fingerprint(),
        "f1d8b68e50210d8e73d9a3e97f571773c52d7f28c0b1a71beee81d8562e6fd85"
    );

    // PKCS#1 "RSA PUBLIC KEY" PEM is re-encoded as SPKI.
    let pkcs1 = pem_key("cosign/testdata/rsa");
    assert_eq!(pkcs1.algorithm(), KeyAlgorithm::Rsa);
    assert_eq!(pkcs1.rsa_bits(), Some(4096));
    let reparsed = PublicKey::from_spki_der(pkcs1.spki_der()).unwrap();
    assert_eq!(reparsed, pkcs1);
    assert_eq!(reparsed.fingerprint(), pkcs1.fingerprint());

    for rel in [
        "policy-controller/keys/cosign.pub",
        "sigstore-conformance/bundle-verify/managed-key-happy-path/key.pub",
        "connaisseur/notaryv1/trust_data/keys/root.pub",
    ] {
        assert_eq!(pem_key(rel).algorithm(), KeyAlgorithm::EcdsaP256, "{rel}");
    }
}

// ---------------------------------------------------------------------------------------------
// Round trips with keys made in the test (or fixture private keys)

const MSG: &[u8] = b"{\"critical\":{\"type\":\"cosign container image signature\"}}";

fn flip_last_bit(sig: &[u8]) -> Vec<u8> {
    let mut out = sig.to_vec();
    *out.last_mut().unwrap() ^= 1;
    out
}

fn assert_rejects_garbage(key: &PublicKey) {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for len in 0..=600 {
        let sig = rng.bytes(len);
        assert!(
            key.verify(MSG, &sig).is_err(),
            "{:?} len {len}",
            key.algorithm()
        );
        let mut der_like = sig.clone();
        if len >= 2 {
            der_like[0] = 0x30;
            der_like[1] = u8::try_from(len - 2).unwrap_or(0x81);
        }
        assert!(key.verify(MSG, &der_like).is_err());
        assert!(key.verify(MSG, &vec![0; len]).is_err());
        assert!(key.verify(MSG, &vec![0xff; len]).is_err());
    }
    assert!(matches!(
        key.verify(MSG, b""),
        Err(SignatureError::Malformed(_))
    ));
    assert!(matches!(
        key.verify(MSG, b"\x30\x02\x01"),
        Err(SignatureError::Malformed(_))
    ));
}

macro_rules! ecdsa_round_trip {
    ($test:ident, $curve:ident, $signing_key:expr, $algorithm:expr, $raw_len:expr) => {
        #[test]
        fn $test() {
            use $curve::ecdsa::signature::Signer as _;
            use $curve::pkcs8::EncodePublicKey as _;
            let sk: $curve::ecdsa::SigningKey = $signing_key;
            let spki = sk.verifying_key().to_public_key_der().unwrap();
            let key = PublicKey::from_spki_der(spki.as_bytes()).unwrap();
            assert_eq!(key.algorithm(), $algorithm);
            assert_eq!(key.spki_der(), spki.as_bytes());
            assert_eq!(PublicKey::from_pem(&key.to_pem()).unwrap(), key);

            let sig: $curve::ecdsa::Signature = sk.sign(MSG);
            let der = sig.to_der();
            let raw = sig.to_bytes();
            assert_eq!(raw.len(), $raw_len);
            key.verify(MSG, der.as_bytes()).unwrap();
            key.verify(MSG, &raw).unwrap();
            // The other s of the pair (n - s): Go accepts both, so do we.
            {
                use $curve::elliptic_curve::ff::PrimeField as _;
                let (r, s) = sig.split_scalars();
                let neg_s: $curve::Scalar = -*s;
                let other = $curve::ecdsa::Signature::from_scalars(
                    $curve::FieldBytes::from(r),
                    neg_s.to_repr(),
                )
                .unwrap();
                assert_ne!(other, sig);
                key.verify(MSG, other.to_der().as_bytes()).unwrap();
                key.verify(MSG, &other.to_bytes()).unwrap();
            }
            for bad in [flip_last_bit(der.as_bytes()), flip_last_bit(&raw)] {
                assert!(matches!(
                    key.verify(MSG, &bad),
                    Err(SignatureError::Invalid)
                ));
            }
            assert!(matches!(
                key.verify(b"other message", der.as_bytes()),
                Err(SignatureError::Invalid)
            ));
            assert!(matches!(
                key.verify(MSG, &raw[..$raw_len - 1]),
                Err(SignatureError::Malformed(_))
            ));
            assert!(matches!(
                key.verify_rsa(MSG, &raw, RsaPadding::Pss, HashAlgorithm::Sha256),
                Err(SignatureError::Malformed(_))
            ));
            assert_rejects_garbage(&key);
        }
    };
}

ecdsa_round_trip!(
    ecdsa_p256_round_trip_with_fixture_private_key,
    p256,
    {
        use p256::pkcs8::DecodePrivateKey as _;
        let pem = read_text("sigstore-rs/data/keys/ecdsa_private.key");
        p256::ecdsa::SigningKey::from_pkcs8_der(&parse_pem_block(&pem).unwrap().contents).unwrap()
    },
    KeyAlgorithm::EcdsaP256,
    64
);
ecdsa_round_trip!(
    ecdsa_p384_round_trip,
    p384,
    p384::ecdsa::SigningKey::from_slice(&[0x42; 48]).unwrap(),
    KeyAlgorithm::EcdsaP384,
    96
);
ecdsa_round_trip!(
    ecdsa_p521_round_trip,
    p521,
    p521::ecdsa::SigningKey::from_slice(&[0x01; 66]).unwrap(),
    KeyAlgorithm::EcdsaP521,
    132
);

#[test]
fn ecdsa_signature_from_another_curve_is_rejected() {
    use p384::ecdsa::signature::Signer as _;
    let sk = p384::ecdsa::SigningKey::from_slice(&[0x42; 48]).unwrap();
    let sig: p384::ecdsa::Signature = sk.sign(MSG);
    let alice = pem_key("connaisseur/cosign/alice.key");
    assert!(alice.verify(MSG, sig.to_der().as_bytes()).is_err());
    assert!(matches!(
        alice.verify(MSG, &sig.to_bytes()),
        Err(SignatureError::Malformed(_))
    ));
}

fn rsa_fixture_private_key() -> rsa::PrivateKey {
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    let block = parse_pem_block(&read_text("sigstore-rs/data/keys/rsa_private.key")).unwrap();
    assert_eq!(block.label, "RSA PRIVATE KEY");
    rsa::PrivateKey::from_pkcs1_der(&block.contents).unwrap()
}

fn rsa_public(private: &rsa::PrivateKey) -> PublicKey {
    use rsa::pkcs8::EncodePublicKey as _;
    let spki = private.to_public_key().to_public_key_der().unwrap();
    PublicKey::from_spki_der(spki.as_bytes()).unwrap()
}

fn check_rsa_key(private: &rsa::PrivateKey, bits: usize) {
    use rsa::signature::{SignatureEncoding as _, Signer as _};
    let key = rsa_public(private);
    assert_eq!(key.algorithm(), KeyAlgorithm::Rsa);
    assert_eq!(key.rsa_bits(), Some(bits));

    let pkcs1 = private.pkcs1v15_sign::<Sha256>(MSG).unwrap();
    let pss = private.pss_sign::<Sha256>(MSG).unwrap();
    let pss_salt_20 = rsa::pss::SigningKey::<Sha256>::new_with_salt_len(private.clone(), 20)
        .sign(MSG)
        .to_vec();
    let pss_salt_0 = rsa::pss::SigningKey::<Sha256>::new_with_salt_len(private.clone(), 0)
        .sign(MSG)
        .to_vec();
    for sig in [&pkcs1, &pss, &pss_salt_20, &pss_salt_0] {
        assert_eq!(sig.len(), bits / 8);
        key.verify(MSG, sig).unwrap();
        assert!(matches!(
            key.verify(MSG, &flip_last_bit(sig)),
            Err(SignatureError::Invalid)
        ));
        assert!(matches!(
            key.verify(b"other", sig),
            Err(SignatureError::Invalid)
        ));
        assert!(matches!(
            key.verify(MSG, &sig[1..]),
            Err(SignatureError::Malformed(_))
        ));
    }

    // Explicit schemes: PSS requires salt = hash length there.
    key.verify_rsa(MSG, &pkcs1, RsaPadding::Pkcs1v15, HashAlgorithm::Sha256)
        .unwrap();
    key.verify_rsa(MSG, &pss, RsaPadding::Pss, HashAlgorithm::Sha256)
        .unwrap();
    assert!(
        key.verify_rsa(MSG, &pss_salt_20, RsaPadding::Pss, HashAlgorithm::Sha256)
            .is_err()
    );
    assert!(
        key.verify_rsa(MSG, &pss, RsaPadding::Pkcs1v15, HashAlgorithm::Sha256)
            .is_err()
    );
    assert!(
        key.verify_rsa(MSG, &pkcs1, RsaPadding::Pss, HashAlgorithm::Sha256)
            .is_err()
    );
    for (pkcs1, pss, hash) in [
        (
            private.pkcs1v15_sign::<sha2::Sha384>(MSG).unwrap(),
            private.pss_sign::<sha2::Sha384>(MSG).unwrap(),
            HashAlgorithm::Sha384,
        ),
        (
            private.pkcs1v15_sign::<Sha512>(MSG).unwrap(),
            private.pss_sign::<Sha512>(MSG).unwrap(),
            HashAlgorithm::Sha512,
        ),
    ] {
        key.verify_rsa(MSG, &pkcs1, RsaPadding::Pkcs1v15, hash)
            .unwrap();
        key.verify_rsa(MSG, &pss, RsaPadding::Pss, hash).unwrap();
        // `verify` is SHA-256 only, as cosign.
        assert!(matches!(
            key.verify(MSG, &pkcs1),
            Err(SignatureError::Invalid)
        ));
        assert!(
            key.verify_rsa(MSG, &pkcs1, RsaPadding::Pkcs1v15, HashAlgorithm::Sha256)
                .is_err()
        );
    }
    assert_rejects_garbage(&key);
}

#[test]
fn rsa_4096_fixture_key_pkcs1v15_and_pss_round_trip() {
    check_rsa_key(&rsa_fixture_private_key(), 4096);
}

#[test]
fn rsa_2048_generated_key_pkcs1v15_and_pss_round_trip() {
    let mut rng = sha2::digest::common::getrandom::SysRng;
    let private = rsa::PrivateKey::new(&mut rng, 2048).unwrap();
    check_rsa_key(&private, 2048);
}

fn ed25519_spki(public: &[u8; 32]) -> Vec<u8> {
    let mut der = hex::decode("302a300506032b6570032100").unwrap();
    der.extend_from_slice(public);
    der
}

fn check_ed25519_key(sk: &ed25519_dalek::SigningKey) {
    use ed25519_dalek::Signer as _;
    let key = PublicKey::from_spki_der(&ed25519_spki(sk.verifying_key().as_bytes())).unwrap();
    assert_eq!(key.algorithm(), KeyAlgorithm::Ed25519);
    assert_eq!(PublicKey::from_pem(&key.to_pem()).unwrap(), key);

    let pure = sk.sign(MSG).to_bytes();
    let ph = sk
        .sign_prehashed(Sha512::new_with_prefix(MSG), None)
        .unwrap()
        .to_bytes();
    assert_ne!(pure, ph);
    for sig in [pure, ph] {
        key.verify(MSG, &sig).unwrap();
        let mut bad = sig;
        bad[0] ^= 1;
        assert!(matches!(
            key.verify(MSG, &bad),
            Err(SignatureError::Invalid)
        ));
        assert!(matches!(
            key.verify(b"other", &sig),
            Err(SignatureError::Invalid)
        ));
        assert!(matches!(
            key.verify(MSG, &sig[..63]),
            Err(SignatureError::Malformed(_))
        ));
    }
    // Ed25519ph with a non-empty context is a different signature scheme.
    let ctx = sk
        .sign_prehashed(Sha512::new_with_prefix(MSG), Some(b"ctx"))
        .unwrap()
        .to_bytes();
    assert!(matches!(
        key.verify(MSG, &ctx),
        Err(SignatureError::Invalid)
    ));
    assert_rejects_garbage(&key);
}

#[test]
fn ed25519_fixture_key_pure_and_prehashed_round_trip() {
    use ed25519_dalek::pkcs8::DecodePrivateKey as _;
    let block = parse_pem_block(&read_text("sigstore-rs/data/keys/ed25519_private.key")).unwrap();
    check_ed25519_key(&ed25519_dalek::SigningKey::from_pkcs8_der(&block.contents).unwrap());
}

#[test]
fn ed25519_fixed_key_pure_and_prehashed_round_trip() {
    check_ed25519_key(&ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
}

// ---------------------------------------------------------------------------------------------
// Key parsing errors

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn oid(dotted: &str) -> Vec<u8> {
    tlv(0x06, ObjectIdentifier::new(dotted).unwrap().as_bytes())
}

const NULL: &[u8] = &[0x05, 0x00];

fn spki_der(algorithm: &str, parameters: Option<&[u8]>, key: &[u8], unused_bits: u8) -> Vec<u8> {
    let mut alg = oid(algorithm);
    alg.extend_from_slice(parameters.unwrap_or_default());
    let mut bits = vec![unused_bits];
    bits.extend_from_slice(key);
    let mut body = tlv(0x30, &alg);
    body.extend(tlv(0x03, &bits));
    tlv(0x30, &body)
}

/// PKCS#1 RSAPublicKey with a `bits`-bit odd modulus and exponent `e`.
fn pkcs1(bits: usize, e: &[u8]) -> Vec<u8> {
    let mut n = vec![0u8; bits.div_ceil(8)];
    let top = bits - (n.len() - 1) * 8; // bits used in the first byte
    n[0] = 1 << (top - 1);
    *n.last_mut().unwrap() |= 1;
    n[1] = 0x5a;
    if n[0] & 0x80 != 0 {
        n.insert(0, 0);
    }
    let mut body = tlv(0x02, &n);
    body.extend(tlv(0x02, e));
    tlv(0x30, &body)
}

const RSA: &str = "1.2.840.113549.1.1.1";
const EC: &str = "1.2.840.10045.2.1";
const ED25519: &str = "1.3.101.112";
const E_65537: &[u8] = &[0x01, 0x00, 0x01];

#[test]
fn rsa_key_size_limits() {
    for (bits, expected) in [
        (1024, Err(1024)),
        (2047, Err(2047)),
        (2048, Ok(())),
        (2049, Ok(())),
        (8192, Ok(())),
        (8200, Err(8200)),
    ] {
        let der = spki_der(RSA, Some(NULL), &pkcs1(bits, E_65537), 0);
        let result = PublicKey::from_spki_der(&der);
        match (expected, result) {
            (Ok(()), Ok(key)) => assert_eq!(key.rsa_bits(), Some(bits)),
            (Err(b), Err(KeyError::RsaKeyTooSmall { bits: got })) if b < 2048 => {
                assert_eq!(got, b);
            }
            (Err(b), Err(KeyError::RsaKeyTooLarge { bits: got })) => assert_eq!(got, b),
            (expected, result) => panic!("{bits} bits: expected {expected:?}, got {result:?}"),
        }
        // Same limits for PKCS#1.
        assert_eq!(
            PublicKey::from_pkcs1_der(&pkcs1(bits, E_65537)).is_ok(),
            (2048..=8192).contains(&bits)
        );
    }
    let err = PublicKey::from_pkcs1_der(&pkcs1(1024, E_65537)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "RSA key smaller than 2048 bits (1024 bits)"
    );
    let err = PublicKey::from_pkcs1_der(&pkcs1(16384, E_65537)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "RSA key larger than 8192 bits (16384 bits)"
    );
}

#[test]
fn malformed_or_unsupported_keys_are_rejected_with_reasons() {
    let alice = pem_key("connaisseur/cosign/alice.key");
    let alice_point = &alice.spki_der()[26..];
    assert_eq!(alice_point.len(), 65);
    let mut off_curve = alice_point.to_vec();
    off_curve[64] ^= 1;
    let p384_point = {
        let sk = p384::ecdsa::SigningKey::from_slice(&[0x42; 48]).unwrap();
        sk.verifying_key().to_sec1_point(false).as_bytes().to_vec()
    };
    let rsa_ok = pkcs1(2048, E_65537);
    let mut trailing = alice.spki_der().to_vec();
    trailing.push(0);

    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            spki_der("1.2.840.10040.4.1", None, &[1, 2, 3], 0),
            "unsupported key algorithm OID 1.2.840.10040.4.1",
        ),
        (
            spki_der(EC, Some(&oid("1.3.132.0.10")), alice_point, 0),
            "unsupported elliptic curve OID 1.3.132.0.10",
        ),
        (
            spki_der(EC, Some(NULL), alice_point, 0),
            "invalid ECDSA public key: parameters are not a named-curve OID",
        ),
        (
            spki_der(EC, None, alice_point, 0),
            "invalid ECDSA public key: parameters are not a named-curve OID",
        ),
        (
            spki_der(EC, Some(&oid("1.2.840.10045.3.1.7")), alice_point, 1),
            "invalid ECDSA public key: public key BIT STRING has unused bits",
        ),
        (
            spki_der(EC, Some(&oid("1.2.840.10045.3.1.7")), &off_curve, 0),
            "invalid ECDSA P-256 public key: not a valid SEC1 point on the curve",
        ),
        (
            spki_der(EC, Some(&oid("1.2.840.10045.3.1.7")), &p384_point, 0),
            "invalid ECDSA P-256 public key: not a valid SEC1 point on the curve",
        ),
        (
            spki_der(EC, Some(&oid("1.3.132.0.35")), &p384_point, 0),
            "invalid ECDSA P-521 public key: not a valid SEC1 point on the curve",
        ),
        (
            spki_der(EC, Some(&oid("1.2.840.10045.3.1.7")), &[0], 0),
            "invalid ECDSA P-256 public key: not a valid SEC1 point on the curve",
        ),
        (
            spki_der(RSA, None, &rsa_ok, 0),
            "invalid RSA public key: algorithm parameters must be NULL",
        ),
        (
            spki_der(RSA, Some(&oid("1.2.3")), &rsa_ok, 0),
            "invalid RSA public key: algorithm parameters must be NULL",
        ),
        (
            spki_der(RSA, Some(NULL), &pkcs1(2048, &[1]), 0),
            "invalid RSA public key: invalid modulus or public exponent",
        ),
        (
            spki_der(RSA, Some(NULL), &[0x30, 0x00], 0),
            "malformed PKCS#1 RSA public key DER",
        ),
        (
            spki_der(ED25519, Some(NULL), &[9; 32], 0),
            "invalid Ed25519 public key: algorithm parameters must be absent",
        ),
        (
            spki_der(ED25519, None, &[9; 31], 0),
            "invalid Ed25519 public key: public key must be 32 bytes",
        ),
        (
            spki_der(
                ED25519,
                None,
                &{
                    let mut identity = [0; 32];
                    identity[0] = 1;
                    identity
                },
                0,
            ),
            "invalid Ed25519 public key: small-order point",
        ),
        (trailing, "malformed SubjectPublicKeyInfo DER"),
        (Vec::new(), "malformed SubjectPublicKeyInfo DER"),
    ];
    for (der, expected) in cases {
        let err = PublicKey::from_spki_der(&der).unwrap_err();
        assert_eq!(err.to_string(), expected, "{}", hex::encode(&der));
        if expected.starts_with("malformed") {
            assert!(std::error::Error::source(&err).is_some(), "{expected}");
        }
    }
}

#[test]
fn pem_inputs_are_accepted_or_rejected_as_documented() {
    let text = read_text("connaisseur/cosign/alice.key");
    let alice = PublicKey::from_pem(&text).unwrap();
    for variant in [
        text.replace('\n', "\r\n"),
        format!("\n\n   {text}  \n\n"),
        text.trim_end().to_owned(),
        alice.to_pem(),
        text.replace("==\n", "\n"), // missing padding
    ] {
        assert_eq!(PublicKey::from_pem(&variant).unwrap(), alice, "{variant:?}");
    }

    let cert = read_text("connaisseur/notation/ca.pem");
    let private = read_text("sigstore-rs/data/keys/ecdsa_private.key");
    let encrypted = read_text("sigstore-rs/data/keys/cosign_generated_encrypted_empty_private.key");
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "not a PEM public key: no PEM block found"),
        (
            "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE".into(),
            "not a PEM public key: unexpected text",
        ),
        (
            format!("{text}{text}"),
            "not a PEM public key: expected exactly one PEM block, found 2",
        ),
        (
            format!("# alice\n{text}"),
            "not a PEM public key: unexpected text outside",
        ),
        (
            cert,
            "not a PEM public key: block is labelled \"CERTIFICATE\"",
        ),
        (
            private,
            "not a PEM public key: block is labelled \"PRIVATE KEY\"",
        ),
        (
            encrypted,
            "not a PEM public key: block is labelled \"ENCRYPTED SIGSTORE PRIVATE KEY\"",
        ),
        (
            text.replace("MFkw", "AAAA"),
            "malformed SubjectPublicKeyInfo DER",
        ),
        (
            "-----BEGIN RSA PUBLIC KEY-----\nMAA=\n-----END RSA PUBLIC KEY-----".into(),
            "malformed PKCS#1 RSA public key DER",
        ),
    ];
    for (pem, expected) in cases {
        let err = PublicKey::from_pem(&pem).unwrap_err();
        assert!(
            chain(&err).starts_with(expected),
            "{expected:?} vs {:?}",
            chain(&err)
        );
        // Errors never echo key material.
        assert!(!chain(&err).contains("MFkw"), "{}", chain(&err));
    }
}

// ---------------------------------------------------------------------------------------------
// No panics on garbage

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn garbage_keys_never_panic() {
    let mut rng = XorShift(42);
    for len in 0..=1200 {
        let bytes = rng.bytes(len);
        assert!(PublicKey::from_spki_der(&bytes).is_err());
        assert!(PublicKey::from_pkcs1_der(&bytes).is_err());
        let mut sequence = bytes.clone();
        if len >= 2 {
            sequence[0] = 0x30;
            sequence[1] = 0x80 | (len % 4) as u8;
        }
        assert!(PublicKey::from_spki_der(&sequence).is_err());
        assert!(PublicKey::from_pkcs1_der(&sequence).is_err());
        let _ = PublicKey::from_pem(&String::from_utf8_lossy(&bytes));
        let wrapped = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(&bytes)
        );
        assert!(PublicKey::from_pem(&wrapped).is_err());
        let _ = PublicKey::from_pem(&wrapped.replace("PUBLIC KEY", "RSA PUBLIC KEY"));
        let _ = parse_pem_blocks(&wrapped[..len.min(wrapped.len())]);
        let _ = decode_base64_lenient(&String::from_utf8_lossy(&bytes));
        let _ = digest_matches(&String::from_utf8_lossy(&bytes), &bytes);
    }
}

#[test]
fn mutated_and_truncated_valid_keys_never_panic() {
    use rsa::pkcs8::EncodePublicKey as _;
    let rsa_spki = rsa_fixture_private_key()
        .to_public_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec();
    let p521_spki = {
        use p521::pkcs8::EncodePublicKey as _;
        p521::ecdsa::SigningKey::from_slice(&[0x01; 66])
            .unwrap()
            .verifying_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes()
            .to_vec()
    };
    let keys = [
        pem_key("connaisseur/cosign/alice.key").spki_der().to_vec(),
        rsa_spki,
        p521_spki,
        ed25519_spki(
            ed25519_dalek::SigningKey::from_bytes(&[7; 32])
                .verifying_key()
                .as_bytes(),
        ),
    ];
    for spki in keys {
        PublicKey::from_spki_der(&spki).unwrap();
        for cut in 0..spki.len() {
            assert!(PublicKey::from_spki_der(&spki[..cut]).is_err());
        }
        for i in 0..spki.len() {
            for mask in [0x01, 0x80, 0xff] {
                let mut mutated = spki.clone();
                mutated[i] ^= mask;
                if let Ok(key) = PublicKey::from_spki_der(&mutated) {
                    let _ = key.verify(MSG, &[0; 64]);
                }
            }
        }
    }
}
