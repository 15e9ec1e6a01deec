//! Public keys and signature verification the way cosign does it.
//!
//! A [`PublicKey`] is parsed once (PEM or SPKI DER) and then verifies signatures over raw message
//! bytes: ECDSA P-256/P-384/P-521 (ASN.1 DER or raw `r‖s`, hash chosen by curve), RSA
//! (PKCS#1 v1.5 or PSS, SHA-256, 2048–8192-bit keys) and Ed25519 (pure or Ed25519ph).

use std::fmt;

use ecdsa::signature::Verifier as _;
use rsa::traits::PublicKeyParts as _;
use sha2::digest::FixedOutputReset;
use sha2::digest::const_oid::AssociatedOid;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::der::Decode as _;
use spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};

use super::hash::{HashAlgorithm, sha256_hex};
use super::pem::{PemError, encode_pem, parse_pem_block};

const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits.
pub const MAX_RSA_BITS: usize = 8192;

/// The algorithm of a [`PublicKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 with SHA-256 (cosign's default).
    EcdsaP256,
    /// ECDSA on NIST P-384 with SHA-384.
    EcdsaP384,
    /// ECDSA on NIST P-521 with SHA-512.
    EcdsaP521,
    /// RSA, 2048–8192 bits.
    Rsa,
    /// Ed25519 (pure or Ed25519ph signatures).
    Ed25519,
}

impl KeyAlgorithm {
    /// Human-readable name, e.g. `ECDSA P-256`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "ECDSA P-256",
            Self::EcdsaP384 => "ECDSA P-384",
            Self::EcdsaP521 => "ECDSA P-521",
            Self::Rsa => "RSA",
            Self::Ed25519 => "Ed25519",
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// RSA signature padding, for [`PublicKey::verify_rsa`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RsaPadding {
    /// RSASSA-PKCS1-v1_5.
    Pkcs1v15,
    /// RSASSA-PSS with MGF1 over the same hash and salt length = hash length.
    Pss,
}

/// Why a public key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The text is not a single well-formed PEM block.
    #[error("not a PEM public key")]
    PemDecodeFailed(#[source] PemError),
    /// The PEM block is something else, e.g. a certificate or a private key.
    #[error("not a PEM public key: block is labelled {label:?}, expected \"PUBLIC KEY\"")]
    NotPublicKeyPem {
        /// The PEM label found.
        label: String,
    },
    /// The bytes are not a DER `SubjectPublicKeyInfo`.
    #[error("malformed SubjectPublicKeyInfo DER")]
    SpkiDecodeFailed(#[source] spki::Error),
    /// The bytes are not a DER PKCS#1 `RSAPublicKey`.
    #[error("malformed PKCS#1 RSA public key DER")]
    Pkcs1DecodeFailed(#[source] spki::der::Error),
    /// The SubjectPublicKeyInfo names an algorithm other than EC, RSA or Ed25519.
    #[error("unsupported key algorithm OID {oid}")]
    UnsupportedAlgorithm {
        /// Dotted algorithm OID.
        oid: String,
    },
    /// An EC key on a curve other than P-256, P-384 or P-521.
    #[error("unsupported elliptic curve OID {oid}")]
    UnsupportedCurve {
        /// Dotted curve OID.
        oid: String,
    },
    /// The key's algorithm is supported but its parameters or key material are invalid.
    #[error("invalid {algorithm} public key: {reason}")]
    InvalidKey {
        /// Algorithm family (`ECDSA`, `RSA`, `Ed25519`, or a curve name).
        algorithm: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// RSA modulus below [`MIN_RSA_BITS`].
    #[error("RSA key smaller than {MIN_RSA_BITS} bits ({bits} bits)")]
    RsaKeyTooSmall {
        /// Modulus size in bits.
        bits: usize,
    },
    /// RSA modulus above [`MAX_RSA_BITS`].
    #[error("RSA key larger than {MAX_RSA_BITS} bits ({bits} bits)")]
    RsaKeyTooLarge {
        /// Modulus size in bits.
        bits: usize,
    },
    /// Re-encoding a PKCS#1 RSA key as SubjectPublicKeyInfo failed.
    #[error("could not encode RSA key as SubjectPublicKeyInfo")]
    SpkiEncodeFailed(#[source] spki::Error),
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The bytes are not a signature of the shape this key produces (wrong length, not DER, …).
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// The signature is well-formed but does not verify with this key over this message.
    #[error("signature does not verify")]
    Invalid,
}

#[derive(Clone)]
enum Inner {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
    Rsa(Box<rsa::PublicKey>),
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// A public key trusted to verify signatures, with its SubjectPublicKeyInfo DER.
///
/// Equality and hashing compare the SPKI DER bytes.
#[derive(Clone)]
pub struct PublicKey {
    inner: Inner,
    spki_der: Vec<u8>,
}

impl PublicKey {
    /// Parse a PEM public key: `PUBLIC KEY` (PKIX SubjectPublicKeyInfo, what `cosign
    /// generate-key-pair` writes) or `RSA PUBLIC KEY` (PKCS#1). Surrounding whitespace and CRLF
    /// line endings are fine; the text must hold exactly one PEM block and nothing else.
    ///
    /// # Errors
    /// [`KeyError::PemDecodeFailed`] / [`KeyError::NotPublicKeyPem`] when the text is not a
    /// single public-key PEM block, and every error of [`Self::from_spki_der`] /
    /// [`Self::from_pkcs1_der`].
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let block = parse_pem_block(pem).map_err(KeyError::PemDecodeFailed)?;
        match block.label.as_str() {
            "PUBLIC KEY" => Self::from_spki_der(&block.contents),
            "RSA PUBLIC KEY" => Self::from_pkcs1_der(&block.contents),
            _ => Err(KeyError::NotPublicKeyPem { label: block.label }),
        }
    }

    /// Parse a DER SubjectPublicKeyInfo (as in `PUBLIC KEY` PEM, X.509 certificates and the
    /// Sigstore trusted root). Supported: `id-ecPublicKey` on P-256/P-384/P-521,
    /// `rsaEncryption` (2048–8192 bits) and `id-Ed25519`.
    ///
    /// # Errors
    /// [`KeyError::SpkiDecodeFailed`] for malformed DER (including trailing bytes),
    /// [`KeyError::UnsupportedAlgorithm`] / [`KeyError::UnsupportedCurve`] for other key types,
    /// [`KeyError::InvalidKey`] for bad parameters or points, and
    /// [`KeyError::RsaKeyTooSmall`] / [`KeyError::RsaKeyTooLarge`].
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let spki = SubjectPublicKeyInfoRef::try_from(der).map_err(KeyError::SpkiDecodeFailed)?;
        let algorithm = &spki.algorithm;
        let key_bytes = spki.subject_public_key.as_bytes();
        let inner = if algorithm.oid == OID_EC_PUBLIC_KEY {
            let curve = algorithm
                .parameters_oid()
                .map_err(|_| KeyError::InvalidKey {
                    algorithm: "ECDSA",
                    reason: "parameters are not a named-curve OID",
                })?;
            let point = key_bytes.ok_or(KeyError::InvalidKey {
                algorithm: "ECDSA",
                reason: "public key BIT STRING has unused bits",
            })?;
            ec_key(curve, point)?
        } else if algorithm.oid == OID_RSA_ENCRYPTION {
            if !algorithm.parameters.is_some_and(|p| p.is_null()) {
                return Err(KeyError::InvalidKey {
                    algorithm: "RSA",
                    reason: "algorithm parameters must be NULL",
                });
            }
            let pkcs1 = key_bytes.ok_or(KeyError::InvalidKey {
                algorithm: "RSA",
                reason: "public key BIT STRING has unused bits",
            })?;
            Inner::Rsa(Box::new(rsa_key(pkcs1)?))
        } else if algorithm.oid == OID_ED25519 {
            ed25519_key(algorithm.parameters.is_some(), key_bytes)?
        } else {
            return Err(KeyError::UnsupportedAlgorithm {
                oid: algorithm.oid.to_string(),
            });
        };
        Ok(Self {
            inner,
            spki_der: der.to_vec(),
        })
    }

    /// Parse a DER PKCS#1 `RSAPublicKey` (the body of `RSA PUBLIC KEY` PEM). The key is
    /// re-encoded as SubjectPublicKeyInfo for [`Self::spki_der`] and [`Self::fingerprint`].
    ///
    /// # Errors
    /// [`KeyError::Pkcs1DecodeFailed`], [`KeyError::InvalidKey`], [`KeyError::RsaKeyTooSmall`],
    /// [`KeyError::RsaKeyTooLarge`].
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        use rsa::pkcs8::EncodePublicKey as _;
        let key = rsa_key(der)?;
        let spki_der = key
            .to_public_key_der()
            .map_err(KeyError::SpkiEncodeFailed)?
            .as_bytes()
            .to_vec();
        Ok(Self {
            inner: Inner::Rsa(Box::new(key)),
            spki_der,
        })
    }

    /// The key's algorithm.
    #[must_use]
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self.inner {
            Inner::P256(_) => KeyAlgorithm::EcdsaP256,
            Inner::P384(_) => KeyAlgorithm::EcdsaP384,
            Inner::P521(_) => KeyAlgorithm::EcdsaP521,
            Inner::Rsa(_) => KeyAlgorithm::Rsa,
            Inner::Ed25519(_) => KeyAlgorithm::Ed25519,
        }
    }

    /// The SubjectPublicKeyInfo DER (the input bytes for keys loaded from SPKI).
    #[must_use]
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// Lowercase hex SHA-256 of the SPKI DER — the key id Rekor v1 uses as `logID`.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        sha256_hex(&self.spki_der)
    }

    /// The key as `PUBLIC KEY` PEM (64-character lines, trailing newline).
    #[must_use]
    pub fn to_pem(&self) -> String {
        encode_pem("PUBLIC KEY", &self.spki_der)
    }

    /// RSA modulus size in bits; `None` for other algorithms.
    #[must_use]
    pub fn rsa_bits(&self) -> Option<usize> {
        match &self.inner {
            Inner::Rsa(key) => usize::try_from(key.n().bit_width_vartime()).ok(),
            _ => None,
        }
    }

    /// Verify `sig` over `msg` the way cosign does for this key type:
    /// * ECDSA: ASN.1 DER `SEQUENCE { r, s }` or raw fixed-size `r‖s`; the message is hashed
    ///   with SHA-256 (P-256), SHA-384 (P-384) or SHA-512 (P-521).
    /// * RSA: PKCS#1 v1.5 with SHA-256, else PSS with SHA-256 and any salt length.
    /// * Ed25519: PureEd25519, else Ed25519ph (SHA-512 prehash, empty context), which cosign ≥ 2
    ///   produces by default.
    ///
    /// # Errors
    /// [`SignatureError::Malformed`] when `sig` cannot be a signature of this key type (e.g. the
    /// wrong length, neither DER nor `r‖s`), [`SignatureError::Invalid`] when it does not verify.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
        // the same (key, message, signature) is checked again when discovery's early
        // evaluation and the final decision see one signature: answer from the memo
        let id = memo::id(self.spki_der(), msg, sig);
        if let Some(r) = memo::get(&id) {
            return r;
        }
        let r = self.verify_uncached(msg, sig);
        memo::put(id, &r);
        r
    }

    fn verify_uncached(&self, msg: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
        match &self.inner {
            Inner::P256(key) => verify_p256(key, msg, sig),
            Inner::P384(key) => verify_p384(key, msg, sig),
            Inner::P521(key) => verify_p521(key, msg, sig),
            Inner::Rsa(key) => {
                check_rsa_length(key, sig)?;
                if rsa_verifies::<Sha256>(key, msg, sig, RsaPadding::Pkcs1v15, false)
                    || rsa_verifies::<Sha256>(key, msg, sig, RsaPadding::Pss, true)
                {
                    Ok(())
                } else {
                    Err(SignatureError::Invalid)
                }
            }
            Inner::Ed25519(key) => verify_ed25519(key, msg, sig),
        }
    }

    /// The hash [`PublicKey::verify`] uses with this key: the curve's for ECDSA (SHA-256 for
    /// P-256, SHA-384 for P-384, SHA-512 for P-521), SHA-256 for RSA; `None` for Ed25519,
    /// which signs the whole message.
    pub fn default_hash(&self) -> Option<HashAlgorithm> {
        match &self.inner {
            Inner::P256(_) | Inner::Rsa(_) => Some(HashAlgorithm::Sha256),
            Inner::P384(_) => Some(HashAlgorithm::Sha384),
            Inner::P521(_) => Some(HashAlgorithm::Sha512),
            Inner::Ed25519(_) => None,
        }
    }

    /// Verify a signature over a message of which only the digest is known (`sha256:<hex>`
    /// artifacts, RFC 3161 and Sigstore message signatures whose `messageDigest` names the
    /// hash): ECDSA with the digest as the prehash — any SHA-2 digest at least half the
    /// curve's size, as Go's `ecdsa.Verify` (sigstore-go) and OpenSSL (sigstore-python)
    /// accept, so a P-384 key over a SHA-256 digest verifies; P-521 over SHA-256 is refused —,
    /// RSA PKCS#1 v1.5 with that hash. Ed25519 signs the whole message and cannot be checked
    /// from a digest.
    ///
    /// # Errors
    /// [`SignatureError::Malformed`] for a digest of the wrong length, an algorithm the key
    /// cannot use, or an Ed25519 key; [`SignatureError::Invalid`] when it does not verify.
    pub fn verify_digest(
        &self,
        algorithm: HashAlgorithm,
        digest: &[u8],
        sig: &[u8],
    ) -> Result<(), SignatureError> {
        use ecdsa::signature::hazmat::PrehashVerifier as _;
        if digest.len() != algorithm.digest(b"").len() {
            return Err(SignatureError::Malformed(format!(
                "a {algorithm} digest is {} bytes, got {}",
                algorithm.digest(b"").len(),
                digest.len()
            )));
        }
        // ECDSA reads the digest as an integer truncated to the order's size; one shorter
        // than half the field is no hash this curve is used with (RustCrypto refuses it too)
        let usable = |field_bytes: usize| {
            if digest.len() * 2 >= field_bytes {
                Ok(())
            } else {
                Err(SignatureError::Malformed(format!(
                    "a {} key cannot verify a {algorithm} digest",
                    self.algorithm()
                )))
            }
        };
        macro_rules! ec {
            ($curve:ident, $key:expr, $field:expr) => {{
                usable($field)?;
                let der = $curve::ecdsa::Signature::from_der(sig).ok();
                let raw = $curve::ecdsa::Signature::from_slice(sig).ok();
                if der.is_none() && raw.is_none() {
                    return Err(SignatureError::Malformed(
                        "ECDSA signature is neither ASN.1 DER nor r||s".into(),
                    ));
                }
                if der
                    .iter()
                    .chain(raw.iter())
                    .any(|s| $key.verify_prehash(digest, s).is_ok())
                {
                    Ok(())
                } else {
                    Err(SignatureError::Invalid)
                }
            }};
        }
        match &self.inner {
            Inner::P256(key) => ec!(p256, key, 32),
            Inner::P384(key) => ec!(p384, key, 48),
            Inner::P521(key) => ec!(p521, key, 66),
            Inner::Rsa(key) => {
                check_rsa_length(key, sig)?;
                let scheme = match algorithm {
                    HashAlgorithm::Sha256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
                    HashAlgorithm::Sha384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
                    HashAlgorithm::Sha512 => rsa::Pkcs1v15Sign::new::<Sha512>(),
                };
                key.verify(scheme, digest, sig)
                    .map_err(|_| SignatureError::Invalid)
            }
            Inner::Ed25519(_) => Err(SignatureError::Malformed(
                "an Ed25519 signature cannot be checked against a digest alone".into(),
            )),
        }
    }

    /// Verify an RSA signature with one explicit scheme (e.g. Notation's `PS384`, TUF's
    /// `rsassa-pss-sha256`). PSS requires salt length = hash length, as Go's verifiers do.
    ///
    /// # Errors
    /// [`SignatureError::Malformed`] for a non-RSA key or when the signature length differs from
    /// the modulus length, [`SignatureError::Invalid`] when it does not verify.
    pub fn verify_rsa(
        &self,
        msg: &[u8],
        sig: &[u8],
        padding: RsaPadding,
        hash: HashAlgorithm,
    ) -> Result<(), SignatureError> {
        let Inner::Rsa(key) = &self.inner else {
            return Err(SignatureError::Malformed(format!(
                "an RSA signature cannot be checked with an {} key",
                self.algorithm()
            )));
        };
        check_rsa_length(key, sig)?;
        let ok = match hash {
            HashAlgorithm::Sha256 => rsa_verifies::<Sha256>(key, msg, sig, padding, false),
            HashAlgorithm::Sha384 => rsa_verifies::<Sha384>(key, msg, sig, padding, false),
            HashAlgorithm::Sha512 => rsa_verifies::<Sha512>(key, msg, sig, padding, false),
        };
        if ok {
            Ok(())
        } else {
            Err(SignatureError::Invalid)
        }
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm())
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

impl Eq for PublicKey {}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.spki_der.hash(state);
    }
}

fn ec_key(curve: ObjectIdentifier, point: &[u8]) -> Result<Inner, KeyError> {
    let invalid = |algorithm| KeyError::InvalidKey {
        algorithm,
        reason: "not a valid SEC1 point on the curve",
    };
    if curve == OID_SECP256R1 {
        p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
            .map(Inner::P256)
            .map_err(|_| invalid("ECDSA P-256"))
    } else if curve == OID_SECP384R1 {
        p384::ecdsa::VerifyingKey::from_sec1_bytes(point)
            .map(Inner::P384)
            .map_err(|_| invalid("ECDSA P-384"))
    } else if curve == OID_SECP521R1 {
        p521::ecdsa::VerifyingKey::from_sec1_bytes(point)
            .map(Inner::P521)
            .map_err(|_| invalid("ECDSA P-521"))
    } else {
        Err(KeyError::UnsupportedCurve {
            oid: curve.to_string(),
        })
    }
}

fn ed25519_key(has_parameters: bool, key_bytes: Option<&[u8]>) -> Result<Inner, KeyError> {
    let invalid = |reason| KeyError::InvalidKey {
        algorithm: "Ed25519",
        reason,
    };
    if has_parameters {
        return Err(invalid("algorithm parameters must be absent"));
    }
    let bytes: &[u8; 32] = key_bytes
        .and_then(|b| b.try_into().ok())
        .ok_or(invalid("public key must be 32 bytes"))?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(bytes)
        .map_err(|_| invalid("not a valid curve point"))?;
    if key.is_weak() {
        return Err(invalid("small-order point"));
    }
    Ok(Inner::Ed25519(key))
}

/// Parse a PKCS#1 `RSAPublicKey`, enforcing the modulus size limits before any arithmetic.
fn rsa_key(pkcs1_der: &[u8]) -> Result<rsa::PublicKey, KeyError> {
    let parsed =
        rsa::pkcs1::RsaPublicKeyRef::from_der(pkcs1_der).map_err(KeyError::Pkcs1DecodeFailed)?;
    // DER INTEGER bytes with leading zeros stripped.
    let modulus = parsed.modulus.as_bytes();
    let bits = match modulus.first() {
        Some(&top) => (modulus.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
        None => 0,
    };
    if bits < MIN_RSA_BITS {
        return Err(KeyError::RsaKeyTooSmall { bits });
    }
    if bits > MAX_RSA_BITS {
        return Err(KeyError::RsaKeyTooLarge { bits });
    }
    rsa::PublicKey::try_from(parsed).map_err(|_| KeyError::InvalidKey {
        algorithm: "RSA",
        reason: "invalid modulus or public exponent",
    })
}

fn check_rsa_length(key: &rsa::PublicKey, sig: &[u8]) -> Result<(), SignatureError> {
    if sig.len() == key.size() {
        Ok(())
    } else {
        Err(SignatureError::Malformed(format!(
            "RSA signature must be {} bytes for this key, got {}",
            key.size(),
            sig.len()
        )))
    }
}

/// Whether `sig` is a valid RSA signature over `msg` with hash `D` and `padding`; `any_salt`
/// lets PSS accept any salt length instead of exactly the hash length.
fn rsa_verifies<D>(
    key: &rsa::PublicKey,
    msg: &[u8],
    sig: &[u8],
    padding: RsaPadding,
    any_salt: bool,
) -> bool
where
    D: Digest + FixedOutputReset + AssociatedOid,
{
    match padding {
        RsaPadding::Pkcs1v15 => key.pkcs1v15_verify::<D>(msg, sig).is_ok(),
        RsaPadding::Pss if any_salt => {
            let verifier = rsa::pss::VerifyingKey::<D>::new_with_auto_salt_len(key.clone());
            rsa::pss::Signature::try_from(sig).is_ok_and(|s| verifier.verify(msg, &s).is_ok())
        }
        RsaPadding::Pss => key.pss_verify::<D>(msg, sig).is_ok(),
    }
}

/// ECDSA verification for one curve: DER first, then raw `r‖s` (a 2n-byte DER signature can
/// parse both ways, so both are tried before giving up).
macro_rules! ecdsa_verifier {
    ($name:ident, $curve:ident, $algorithm:expr) => {
        fn $name(
            key: &$curve::ecdsa::VerifyingKey,
            msg: &[u8],
            sig: &[u8],
        ) -> Result<(), SignatureError> {
            let der = $curve::ecdsa::Signature::from_der(sig).ok();
            let raw = $curve::ecdsa::Signature::from_slice(sig).ok();
            if der.is_none() && raw.is_none() {
                return Err(SignatureError::Malformed(format!(
                    "{} signature is neither ASN.1 DER nor {}-byte r||s ({} bytes)",
                    $algorithm,
                    2 * <$curve::FieldBytes>::default().len(),
                    sig.len()
                )));
            }
            if der
                .iter()
                .chain(raw.iter())
                .any(|s| key.verify(msg, s).is_ok())
            {
                Ok(())
            } else {
                Err(SignatureError::Invalid)
            }
        }
    };
}

ecdsa_verifier!(verify_p256, p256, KeyAlgorithm::EcdsaP256);
ecdsa_verifier!(verify_p384, p384, KeyAlgorithm::EcdsaP384);
ecdsa_verifier!(verify_p521, p521, KeyAlgorithm::EcdsaP521);

fn verify_ed25519(
    key: &ed25519_dalek::VerifyingKey,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), SignatureError> {
    let bytes: &[u8; 64] = sig.try_into().map_err(|_| {
        SignatureError::Malformed(format!(
            "Ed25519 signature must be 64 bytes, got {}",
            sig.len()
        ))
    })?;
    let signature = ed25519_dalek::Signature::from_bytes(bytes);
    if key.verify(msg, &signature).is_ok() {
        return Ok(());
    }
    let prehash = Sha512::new_with_prefix(msg);
    key.verify_prehashed(prehash, None, &signature)
        .map_err(|_| SignatureError::Invalid)
}

/// A bounded memo of [`PublicKey::verify`] answers, keyed by the SHA-256 of the key's SPKI,
/// the message and the signature (each length-prefixed, so no two inputs share a key): the
/// answer of a pure function, so a hit is exactly what verifying again would say.
mod memo {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    use sha2::{Digest as _, Sha256};

    use super::SignatureError;

    /// Most answers kept; the memo starts over when full.
    const MAX: usize = 16_384;

    type Answer = Result<(), SignatureError>;

    fn map() -> &'static Mutex<HashMap<[u8; 32], Answer>> {
        static MAP: OnceLock<Mutex<HashMap<[u8; 32], Answer>>> = OnceLock::new();
        MAP.get_or_init(|| Mutex::new(HashMap::new()))
    }

    pub(super) fn id(spki: &[u8], msg: &[u8], sig: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        for part in [spki, msg, sig] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.finalize().into()
    }

    pub(super) fn get(id: &[u8; 32]) -> Option<Answer> {
        map().lock().ok()?.get(id).cloned()
    }

    pub(super) fn put(id: [u8; 32], answer: &Answer) {
        if let Ok(mut m) = map().lock() {
            if m.len() >= MAX {
                m.clear();
            }
            m.insert(id, answer.clone());
        }
    }
}
