//! X.509 certificate chains against Sigstore trusted-root authorities (formats.md §5.4): a
//! Fulcio signing certificate or a timestamp-authority certificate must chain, at the signing
//! instant, to the root of a `certificateAuthorities` / `timestampAuthorities` entry whose
//! `validFor` window contains that instant.
//!
//! Path building and signature checks are rustls-webpki's (aws-lc-rs algorithms); this module
//! adds what webpki leaves out: the authority's validity window, the trust anchor's own validity,
//! an explicit extended-key-usage requirement on the leaf, and readable errors. It also holds
//! the small DER helpers the RFC 3161 code ([`super::tsa`]) shares.
//!
//! Pure: bytes and an instant in, a verdict out. No function panics on any input.

use std::time::Duration;

use der::asn1::{GeneralizedTime, UtcTime};
use der::{Decode as _, Reader as _, SliceReader, Tag, TagNumber, Tagged as _};
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter};

use crate::base::time::format_rfc3339;
use crate::sigstore::trust::Authority;

/// Why a certificate chain was not accepted, or a certificate could not be read: one variant
/// per check of [`verify_chain`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The caller asked for an extended key usage that is not a dotted OID.
    #[error("invalid EKU OID {0:?}")]
    InvalidEku(String),
    /// The verification instant is before the Unix epoch.
    #[error("verification time {0} is before 1970")]
    TimeBeforeEpoch(i64),
    /// The certificate does not parse.
    #[error("certificate: {0}")]
    Unreadable(String),
    /// The leaf does not list the required extended key usage.
    #[error("certificate lacks the extended key usage {name} ({oid})")]
    MissingEku { name: &'static str, oid: String },
    /// The leaf's `notAfter` is before the verification instant.
    #[error("certificate expired at {not_after} (checked at {at})")]
    Expired { not_after: String, at: String },
    /// The leaf's `notBefore` is after the verification instant.
    #[error("certificate is not valid before {not_before} (checked at {at})")]
    NotYetValid { not_before: String, at: String },
    /// webpki refused the leaf as an end-entity certificate.
    #[error("certificate not accepted: {0}")]
    Rejected(String),
    /// No authority of the trusted root is valid at the verification instant.
    #[error("no authority in the trusted root is valid at {at} ({configured} configured)")]
    NoAuthorityValid { at: String, configured: usize },
    /// No valid authority chains the leaf; one reason per authority tried.
    #[error("certificate does not chain to a trusted authority at {at}: {}", failures.join("; "))]
    Untrusted { at: String, failures: Vec<String> },
}

/// Extended key usage `id-kp-codeSigning` (Fulcio signing certificates).
pub const CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";
/// Extended key usage `id-kp-timeStamping` (RFC 3161 timestamp authorities).
pub const TIME_STAMPING: &str = "1.3.6.1.5.5.7.3.8";
/// `anyExtendedKeyUsage`, accepted on intermediates only.
const ANY_EKU: &str = "2.5.29.37.0";

const OID_EKU: &str = "2.5.29.37";
const OID_SUBJECT_KEY_ID: &str = "2.5.29.14";

/// Signature algorithms accepted in certificate chains and for RFC 3161 signer signatures.
pub(crate) static SIGNATURE_ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::aws_lc_rs::ECDSA_P256_SHA256,
    webpki::aws_lc_rs::ECDSA_P256_SHA384,
    webpki::aws_lc_rs::ECDSA_P256_SHA512,
    webpki::aws_lc_rs::ECDSA_P384_SHA256,
    webpki::aws_lc_rs::ECDSA_P384_SHA384,
    webpki::aws_lc_rs::ECDSA_P384_SHA512,
    webpki::aws_lc_rs::ECDSA_P521_SHA256,
    webpki::aws_lc_rs::ECDSA_P521_SHA384,
    webpki::aws_lc_rs::ECDSA_P521_SHA512,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA384,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA512,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
    webpki::aws_lc_rs::ED25519,
];

/// Verifies that `leaf` (DER) chains to one of `authorities` at instant `at` (seconds since the
/// epoch). Only authorities whose `validFor` contains `at` are tried; for each, the trust anchor
/// is the last certificate of its chain and the intermediates are the rest of its chain plus
/// `untrusted` (extra certificates shipped with the signature, used for path building only).
/// Every certificate on the path, the anchor included, must be valid at `at`; the leaf must
/// carry the extended key usage `eku` (dotted OID) and intermediates that restrict their
/// extended key usage must allow it.
///
/// Returns the index in `authorities` of the authority that verified.
///
/// # Errors
/// No authority valid at `at`, or none the leaf chains to; the message says why for each
/// authority tried (expired at T, unknown issuer, EKU missing, bad signature, …).
pub fn verify_chain(
    leaf: &[u8],
    untrusted: &[Vec<u8>],
    authorities: &[Authority],
    at: i64,
    eku: &str,
) -> Result<usize, ChainError> {
    let when = format_rfc3339(at);
    let eku_arcs = oid_arcs(eku).ok_or_else(|| ChainError::InvalidEku(eku.to_owned()))?;
    let secs = u64::try_from(at).map_err(|_| ChainError::TimeBeforeEpoch(at))?;
    let time = UnixTime::since_unix_epoch(Duration::from_secs(secs));

    let info = CertInfo::parse(leaf).map_err(ChainError::Unreadable)?;
    if !info.has_eku(eku) {
        return Err(ChainError::MissingEku {
            name: eku_name(eku),
            oid: eku.to_owned(),
        });
    }
    if at > info.not_after {
        return Err(ChainError::Expired {
            not_after: format_rfc3339(info.not_after),
            at: when,
        });
    }
    if at < info.not_before {
        return Err(ChainError::NotYetValid {
            not_before: format_rfc3339(info.not_before),
            at: when,
        });
    }
    let leaf_der = CertificateDer::from(leaf);
    let end_entity =
        EndEntityCert::try_from(&leaf_der).map_err(|e| ChainError::Rejected(describe(&e, at)))?;

    let candidates: Vec<(usize, &Authority)> = authorities
        .iter()
        .enumerate()
        .filter(|(_, a)| a.valid_for.contains(at))
        .collect();
    if candidates.is_empty() {
        return Err(ChainError::NoAuthorityValid {
            at: when,
            configured: authorities.len(),
        });
    }

    let validator = EkuValidator {
        required: eku_arcs,
        any: oid_arcs(ANY_EKU).unwrap_or_default(),
    };
    let mut failures = Vec::new();
    for (index, authority) in candidates {
        let name = authority_name(authority);
        match verify_with_authority(&end_entity, untrusted, authority, time, at, &validator) {
            Ok(()) => return Ok(index),
            Err(why) => failures.push(format!("{name}: {why}")),
        }
    }
    Err(ChainError::Untrusted { at: when, failures })
}

fn verify_with_authority(
    end_entity: &EndEntityCert<'_>,
    untrusted: &[Vec<u8>],
    authority: &Authority,
    time: UnixTime,
    at: i64,
    validator: &EkuValidator,
) -> Result<(), String> {
    let Some((root, rest)) = authority.chain.split_last() else {
        return Err("the authority has no certificates".to_owned());
    };
    let (not_before, not_after) = CertInfo::parse(root)
        .map(|r| (r.not_before, r.not_after))
        .map_err(|e| format!("root certificate: {e}"))?;
    if at < not_before || at > not_after {
        return Err(format!(
            "root certificate is valid only from {} to {}",
            format_rfc3339(not_before),
            format_rfc3339(not_after)
        ));
    }
    let root_der = CertificateDer::from(root.as_slice());
    let anchor = webpki::anchor_from_trusted_cert(&root_der)
        .map_err(|e| format!("root certificate not usable as trust anchor: {e:?}"))?;
    let intermediates: Vec<CertificateDer<'_>> = rest
        .iter()
        .chain(untrusted)
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    end_entity
        .verify_for_usage(
            SIGNATURE_ALGORITHMS,
            &[anchor],
            &intermediates,
            time,
            validator,
            None,
            None,
        )
        .map(|_| ())
        .map_err(|e| describe(&e, at))
}

/// Whether a DER certificate is self-signed: its issuer equals its subject and its signature
/// verifies with its own key. A bundle must not ship a root. `false` for anything unreadable.
#[must_use]
pub fn is_self_signed(der: &[u8]) -> bool {
    let Ok(info) = CertInfo::parse(der) else {
        return false;
    };
    info.issuer == info.subject
        && verify_signature(
            info.spki,
            info.signature_algorithm,
            info.tbs,
            info.signature,
        )
        .is_ok()
}

/// Validity of a DER certificate: `(notBefore, notAfter)` in seconds since the epoch.
///
/// # Errors
/// The bytes are not a certificate, or a time is unreadable.
pub fn validity(der: &[u8]) -> Result<(i64, i64), ChainError> {
    CertInfo::parse(der)
        .map(|c| (c.not_before, c.not_after))
        .map_err(ChainError::Unreadable)
}

/// Accepts a certificate whose EKU extension is absent (no restriction), lists `required`, or
/// lists `anyExtendedKeyUsage`. Applied by webpki to every certificate on the path; the leaf
/// is held to the stricter "must list `required`" before path building.
struct EkuValidator {
    required: Vec<usize>,
    any: Vec<usize>,
}

impl ExtendedKeyUsageValidator for EkuValidator {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        let mut present = Vec::new();
        for id in iter {
            let oid = id?.to_decoded_oid();
            if oid == self.required || oid == self.any {
                return Ok(());
            }
            present.push(oid);
        }
        if present.is_empty() {
            Ok(())
        } else {
            Err(webpki::Error::RequiredEkuNotFoundContext(
                webpki::RequiredEkuNotFoundContext {
                    // The OID is reported by `verify_chain`'s message, not through this.
                    required: webpki::KeyUsage::required(&[]),
                    present,
                },
            ))
        }
    }
}

fn oid_arcs(oid: &str) -> Option<Vec<usize>> {
    let arcs = oid
        .split('.')
        .map(|a| a.parse::<usize>().ok())
        .collect::<Option<Vec<_>>>()?;
    (arcs.len() >= 2).then_some(arcs)
}

fn eku_name(oid: &str) -> &'static str {
    match oid {
        CODE_SIGNING => "codeSigning",
        TIME_STAMPING => "timeStamping",
        _ => "required",
    }
}

fn authority_name(a: &Authority) -> String {
    match (a.common_name.is_empty(), a.uri.is_empty()) {
        (false, false) => format!("{} ({})", a.common_name, a.uri),
        (false, true) => a.common_name.clone(),
        (true, false) => a.uri.clone(),
        (true, true) => "unnamed authority".to_owned(),
    }
}

/// A webpki error in words.
fn describe(e: &webpki::Error, at: i64) -> String {
    use webpki::Error as E;
    let secs = |t: &UnixTime| i64::try_from(t.as_secs()).unwrap_or(i64::MAX);
    match e {
        E::CertExpired { not_after, .. } => format!(
            "a certificate on the path expired at {} (checked at {})",
            format_rfc3339(secs(not_after)),
            format_rfc3339(at)
        ),
        E::CertNotValidYet { not_before, .. } => format!(
            "a certificate on the path is not valid before {} (checked at {})",
            format_rfc3339(secs(not_before)),
            format_rfc3339(at)
        ),
        E::UnknownIssuer => "unknown issuer: no path to the authority's root".to_owned(),
        E::RequiredEkuNotFoundContext(_) => {
            "an intermediate certificate does not allow the required extended key usage".to_owned()
        }
        E::InvalidSignatureForPublicKey => {
            "a certificate signature on the path does not verify".to_owned()
        }
        E::CaUsedAsEndEntity => "the certificate is a CA certificate, not a leaf".to_owned(),
        E::EndEntityUsedAsCa => "a leaf certificate is used as an issuer".to_owned(),
        E::PathLenConstraintViolated => "path length constraint violated".to_owned(),
        E::InvalidCertValidity => "a certificate ends before it starts".to_owned(),
        E::CertDistrusted => "a certificate on the path is distrusted".to_owned(),
        other => format!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// DER helpers shared with `tsa`

/// One DER element: its tag, its content octets and its complete encoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Element<'a> {
    pub tag: Tag,
    pub value: &'a [u8],
    pub raw: &'a [u8],
}

impl<'a> Element<'a> {
    /// The single DER element that is all of `bytes` (no trailing data).
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, String> {
        let mut c = Cursor::new(bytes)?;
        let e = c.next("element")?;
        c.finish("element")?;
        Ok(e)
    }

    /// This element, if it has tag `tag`.
    pub(crate) fn expect(self, tag: Tag, what: &str) -> Result<Self, String> {
        if self.tag == tag {
            Ok(self)
        } else {
            Err(format!("{what}: expected {tag}, found {}", self.tag))
        }
    }

    /// The elements inside this (constructed) element.
    pub(crate) fn children(&self) -> Result<Cursor<'a>, String> {
        if !self.tag.is_constructed() {
            return Err(format!("{} is not constructed", self.tag));
        }
        Cursor::new(self.value)
    }

    /// Whether this is an OBJECT IDENTIFIER equal to the dotted `oid`.
    pub(crate) fn is_oid(&self, oid: &str) -> bool {
        self.tag == Tag::ObjectIdentifier && oid_content(oid).is_some_and(|c| c == self.value)
    }

    /// The dotted form of an OBJECT IDENTIFIER (for messages).
    pub(crate) fn oid_string(&self) -> String {
        der::asn1::ObjectIdentifier::from_bytes(self.value).map_or_else(
            |_| format!("<malformed OID {}>", hex::encode(self.value)),
            |o| o.to_string(),
        )
    }
}

/// Reads consecutive DER elements from the content of a constructed element.
pub(crate) struct Cursor<'a> {
    reader: SliceReader<'a>,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(content: &'a [u8]) -> Result<Self, String> {
        SliceReader::new(content)
            .map(|reader| Self { reader })
            .map_err(|e| format!("malformed DER: {e}"))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.reader.is_finished()
    }

    /// The next element; an error when there is none.
    pub(crate) fn next(&mut self, what: &str) -> Result<Element<'a>, String> {
        if self.is_empty() {
            return Err(format!("{what} is missing"));
        }
        let raw = self
            .reader
            .tlv_bytes()
            .map_err(|e| format!("{what}: malformed DER: {e}"))?;
        let any = der::AnyRef::from_der(raw).map_err(|e| format!("{what}: malformed DER: {e}"))?;
        Ok(Element {
            tag: any.tag(),
            value: any.value(),
            raw,
        })
    }

    /// The next element if its tag is `tag`, else nothing (and nothing consumed).
    pub(crate) fn next_if(&mut self, tag: Tag, what: &str) -> Result<Option<Element<'a>>, String> {
        if self.is_empty() || Tag::peek(&self.reader).ok() != Some(tag) {
            return Ok(None);
        }
        self.next(what).map(Some)
    }

    /// Checks that every element has been read.
    pub(crate) fn finish(self, what: &str) -> Result<(), String> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(format!("{what}: unexpected trailing data"))
        }
    }
}

/// A context-specific tag `[n]`.
pub(crate) fn context_tag(number: u32, constructed: bool) -> Tag {
    Tag::ContextSpecific {
        constructed,
        number: TagNumber(number),
    }
}

/// The DER content octets of the dotted OID `oid`.
pub(crate) fn oid_content(oid: &str) -> Option<Vec<u8>> {
    der::asn1::ObjectIdentifier::new(oid)
        .ok()
        .map(|o| o.as_bytes().to_vec())
}

/// `AlgorithmIdentifier` content (algorithm OID element plus parameters, if any).
pub(crate) fn algorithm_identifier<'a>(
    e: Element<'a>,
    what: &str,
) -> Result<(Element<'a>, &'a [u8]), String> {
    let e = e.expect(Tag::Sequence, what)?;
    let mut c = e.children()?;
    let oid = c.next(what)?.expect(Tag::ObjectIdentifier, what)?;
    Ok((oid, e.value))
}

/// Verifies `signature` over `message` with the key in `spki` (a DER SubjectPublicKeyInfo)
/// under the signature algorithm whose `AlgorithmIdentifier` content is `algorithm`.
pub(crate) fn verify_signature(
    spki: &[u8],
    algorithm: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    let spki = Element::parse(spki)?.expect(Tag::Sequence, "SubjectPublicKeyInfo")?;
    let mut c = spki.children()?;
    let key_algorithm = c
        .next("key algorithm")?
        .expect(Tag::Sequence, "key algorithm")?;
    let key = c.next("public key")?.expect(Tag::BitString, "public key")?;
    c.finish("SubjectPublicKeyInfo")?;
    let key_bits = match key.value.split_first() {
        Some((0, bits)) => bits,
        _ => return Err("public key BIT STRING has unused bits".to_owned()),
    };
    let mut matched = false;
    for alg in SIGNATURE_ALGORITHMS {
        if alg.signature_alg_id().as_ref() != algorithm
            || alg.public_key_alg_id().as_ref() != key_algorithm.value
        {
            continue;
        }
        matched = true;
        if alg.verify_signature(key_bits, message, signature).is_ok() {
            return Ok(());
        }
    }
    if matched {
        Err("signature does not verify".to_owned())
    } else {
        Err("unsupported signature algorithm for this key".to_owned())
    }
}

/// One certificate extension.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Extension<'a> {
    pub oid: Element<'a>,
    pub critical: bool,
    /// Content of `extnValue` (the DER of the extension's own value).
    pub value: &'a [u8],
}

/// The parts of a certificate this crate looks at, borrowed from its DER.
#[derive(Debug, Clone)]
pub(crate) struct CertInfo<'a> {
    /// Complete `TBSCertificate` encoding (what the issuer signed).
    pub tbs: &'a [u8],
    /// Content octets of `serialNumber`.
    pub serial: &'a [u8],
    /// Complete encoding of the issuer `Name`.
    pub issuer: &'a [u8],
    /// Complete encoding of the subject `Name`.
    pub subject: &'a [u8],
    pub not_before: i64,
    pub not_after: i64,
    /// Complete encoding of the `SubjectPublicKeyInfo`.
    pub spki: &'a [u8],
    pub extensions: Vec<Extension<'a>>,
    /// Content of the outer `signatureAlgorithm` `AlgorithmIdentifier`.
    pub signature_algorithm: &'a [u8],
    /// The signature bits.
    pub signature: &'a [u8],
}

impl<'a> CertInfo<'a> {
    pub(crate) fn parse(der: &'a [u8]) -> Result<Self, String> {
        let cert = Element::parse(der)?.expect(Tag::Sequence, "Certificate")?;
        let mut c = cert.children()?;
        let tbs = c
            .next("tbsCertificate")?
            .expect(Tag::Sequence, "tbsCertificate")?;
        let (_, signature_algorithm) =
            algorithm_identifier(c.next("signatureAlgorithm")?, "signatureAlgorithm")?;
        let sig = c
            .next("signatureValue")?
            .expect(Tag::BitString, "signatureValue")?;
        c.finish("Certificate")?;
        let signature = match sig.value.split_first() {
            Some((0, bits)) => bits,
            _ => return Err("signatureValue has unused bits".to_owned()),
        };

        let mut t = tbs.children()?;
        t.next_if(context_tag(0, true), "version")?;
        let serial = t
            .next("serialNumber")?
            .expect(Tag::Integer, "serialNumber")?;
        t.next("signature")?.expect(Tag::Sequence, "signature")?;
        let issuer = t.next("issuer")?.expect(Tag::Sequence, "issuer")?;
        let validity = t.next("validity")?.expect(Tag::Sequence, "validity")?;
        let subject = t.next("subject")?.expect(Tag::Sequence, "subject")?;
        let spki = t
            .next("subjectPublicKeyInfo")?
            .expect(Tag::Sequence, "subjectPublicKeyInfo")?;
        t.next_if(context_tag(1, false), "issuerUniqueID")?;
        t.next_if(context_tag(2, false), "subjectUniqueID")?;
        let mut extensions = Vec::new();
        if let Some(exts) = t.next_if(context_tag(3, true), "extensions")? {
            let list = exts
                .children()?
                .next("extensions")?
                .expect(Tag::Sequence, "extensions")?;
            let mut l = list.children()?;
            while !l.is_empty() {
                extensions.push(parse_extension(l.next("extension")?)?);
            }
        }
        t.finish("tbsCertificate")?;

        let mut v = validity.children()?;
        let not_before = parse_time(v.next("notBefore")?)?;
        let not_after = parse_time(v.next("notAfter")?)?;
        v.finish("validity")?;

        Ok(Self {
            tbs: tbs.raw,
            serial: serial.value,
            issuer: issuer.raw,
            subject: subject.raw,
            not_before,
            not_after,
            spki: spki.raw,
            extensions,
            signature_algorithm,
            signature,
        })
    }

    /// The extension with this dotted OID.
    pub(crate) fn extension(&self, oid: &str) -> Option<&Extension<'a>> {
        self.extensions.iter().find(|e| e.oid.is_oid(oid))
    }

    /// The key purposes of the EKU extension (OID elements); empty when absent or malformed.
    pub(crate) fn ekus(&self) -> Vec<Element<'a>> {
        let Some(ext) = self.extension(OID_EKU) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let Ok(seq) = Element::parse(ext.value).and_then(|e| e.expect(Tag::Sequence, "EKU")) else {
            return out;
        };
        let Ok(mut c) = seq.children() else {
            return out;
        };
        while let Ok(Some(oid)) = c.next_if(Tag::ObjectIdentifier, "key purpose") {
            out.push(oid);
        }
        out
    }

    /// Whether the EKU extension lists `oid`.
    pub(crate) fn has_eku(&self, oid: &str) -> bool {
        self.ekus().iter().any(|e| e.is_oid(oid))
    }

    /// The subject key identifier, if the extension is present.
    pub(crate) fn subject_key_id(&self) -> Option<&'a [u8]> {
        let ext = self.extension(OID_SUBJECT_KEY_ID)?;
        Element::parse(ext.value)
            .and_then(|e| e.expect(Tag::OctetString, "subjectKeyIdentifier"))
            .ok()
            .map(|e| e.value)
    }
}

fn parse_extension(e: Element<'_>) -> Result<Extension<'_>, String> {
    let e = e.expect(Tag::Sequence, "extension")?;
    let mut c = e.children()?;
    let oid = c.next("extnID")?.expect(Tag::ObjectIdentifier, "extnID")?;
    let critical = match c.next_if(Tag::Boolean, "critical")? {
        None => false,
        Some(b) => match b.value {
            [0xff] => true,
            [0x00] => false,
            _ => return Err("extension: malformed critical flag".to_owned()),
        },
    };
    let value = c.next("extnValue")?.expect(Tag::OctetString, "extnValue")?;
    c.finish("extension")?;
    Ok(Extension {
        oid,
        critical,
        value: value.value,
    })
}

/// A certificate `Time` (UTCTime or GeneralizedTime) in seconds since the epoch.
fn parse_time(e: Element<'_>) -> Result<i64, String> {
    let duration = match e.tag {
        Tag::UtcTime => UtcTime::from_der(e.raw)
            .map(|t| t.to_unix_duration())
            .map_err(|err| format!("malformed UTCTime: {err}"))?,
        Tag::GeneralizedTime => GeneralizedTime::from_der(e.raw)
            .map(|t| t.to_unix_duration())
            .map_err(|err| format!("malformed GeneralizedTime: {err}"))?,
        other => return Err(format!("expected a time, found {other}")),
    };
    i64::try_from(duration.as_secs()).map_err(|_| "time out of range".to_owned())
}

/// Conformance-fixture helpers shared by this module's and `tsa`'s tests.
#[cfg(test)]
pub(crate) mod test_support {
    use std::path::{Path, PathBuf};

    use serde_json::Value;

    use crate::sigstore::trust::TrustedRoot;

    /// Base64 as Go's decoder reads it: line breaks inside are skipped (one conformance bundle
    /// wraps its `signedTimestamp` at 76 columns).
    fn decode_base64_lenient(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
        let joined: String = s.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
        crate::crypto::decode_base64_lenient(&joined)
    }

    /// `$SEALGATE_FIXTURES`, else the vendored `tests/fixtures` of the crate.
    pub(crate) fn fixtures_dir() -> PathBuf {
        let dir = std::env::var_os("SEALGATE_FIXTURES").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
            PathBuf::from,
        );
        assert!(dir.is_dir(), "fixtures not found at {}", dir.display());
        dir
    }

    /// A sigstore-conformance `bundle-verify` case.
    pub(crate) struct Case {
        pub name: String,
        pub bundle: Value,
        /// `None` when the case's trusted root does not parse (a trust-root `_fail` case).
        pub root: Option<TrustedRoot>,
    }

    impl Case {
        pub(crate) fn load(name: &str) -> Option<Self> {
            let dir = fixtures_dir()
                .join("sigstore-conformance/bundle-verify")
                .join(name);
            let bundle: Value =
                serde_json::from_slice(&std::fs::read(dir.join("bundle.sigstore.json")).ok()?)
                    .ok()?;
            let root_path = if dir.join("trusted_root.json").is_file() {
                dir.join("trusted_root.json")
            } else {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sigstore/roots/production.json")
            };
            Some(Self {
                name: name.to_owned(),
                bundle,
                root: TrustedRoot::from_file(&root_path).ok(),
            })
        }

        /// Every case whose bundle is JSON, by name.
        pub(crate) fn all() -> Vec<Self> {
            let dir = fixtures_dir().join("sigstore-conformance/bundle-verify");
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .filter_map(|e| {
                    let e = e.unwrap();
                    e.path()
                        .is_dir()
                        .then(|| e.file_name().to_string_lossy().into_owned())
                })
                .collect();
            names.sort();
            names.iter().filter_map(|n| Self::load(n)).collect()
        }

        pub(crate) fn root(&self) -> &TrustedRoot {
            self.root.as_ref().expect("trusted root parses")
        }

        fn material(&self) -> &Value {
            &self.bundle["verificationMaterial"]
        }

        /// The signing certificate (leaf) and the rest of the bundle's chain.
        pub(crate) fn certificates(&self) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
            let m = self.material();
            if let Some(raw) = m["certificate"]["rawBytes"].as_str() {
                return Some((decode_base64_lenient(raw).unwrap(), Vec::new()));
            }
            let certs = m["x509CertificateChain"]["certificates"].as_array()?;
            let mut ders = certs
                .iter()
                .map(|c| decode_base64_lenient(c["rawBytes"].as_str().unwrap()).unwrap());
            let leaf = ders.next()?;
            Some((leaf, ders.collect()))
        }

        /// The bytes an RFC 3161 timestamp covers: the message signature or the DSSE signature.
        pub(crate) fn signature(&self) -> Vec<u8> {
            let b = &self.bundle;
            let s = b["messageSignature"]["signature"]
                .as_str()
                .or_else(|| b["dsseEnvelope"]["signatures"][0]["sig"].as_str())
                .expect("bundle has a signature");
            decode_base64_lenient(s).unwrap()
        }

        pub(crate) fn timestamps(&self) -> Vec<Vec<u8>> {
            self.material()["timestampVerificationData"]["rfc3161Timestamps"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|t| {
                            decode_base64_lenient(t["signedTimestamp"].as_str().unwrap()).unwrap()
                        })
                        .collect()
                })
                .unwrap_or_default()
        }

        /// The first tlog entry's `integratedTime`, when present and non-zero.
        pub(crate) fn integrated_time(&self) -> Option<i64> {
            let t = &self.material()["tlogEntries"][0]["integratedTime"];
            let t = t
                .as_str()
                .and_then(|s| s.parse().ok())
                .or_else(|| t.as_i64())?;
            (t != 0).then_some(t)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::Case;
    use super::*;

    /// The signing time of a case: the tlog integratedTime, else the (unverified) genTime of its
    /// first RFC 3161 timestamp.
    fn signing_time(case: &Case) -> Option<i64> {
        case.integrated_time().or_else(|| {
            case.timestamps()
                .first()
                .map(|t| crate::sigstore::tsa::unverified_gen_time(t).unwrap())
        })
    }

    fn case(name: &str) -> Case {
        Case::load(name).unwrap_or_else(|| panic!("case {name} not found"))
    }

    /// Cases whose signing certificate must not chain at the signing time, and why.
    const CHAIN_FAILS: &[(&str, &str)] = &[
        ("bundle-from-wrong-instance_fail", "does not verify"),
        ("intoto-expired-certificate_fail", "not valid before 2030"),
        ("intoto-set-outside-signing-cert-validity_fail", "expired"),
        ("integrated-time-in-future_fail", "expired"),
        ("rekor2-timestamp-with-incorrect-time_fail", "expired"),
    ];

    #[test]
    fn every_conformance_certificate_chains_at_its_signing_time_or_fails_for_its_reason() {
        let mut checked = 0;
        for case in Case::all() {
            let Some(root) = case.root.as_ref() else {
                continue;
            };
            let Some((leaf, extra)) = case.certificates() else {
                continue;
            };
            let Some(at) = signing_time(&case) else {
                assert_eq!(
                    case.name, "rekor2-no-timestamp_fail",
                    "only this case has no time"
                );
                continue;
            };
            let result = verify_chain(
                &leaf,
                &extra,
                &root.certificate_authorities,
                at,
                CODE_SIGNING,
            );
            match CHAIN_FAILS.iter().find(|(n, _)| *n == case.name) {
                Some((_, why)) => {
                    let e = result.expect_err(&case.name).to_string();
                    assert!(e.contains(why), "{}: {e}", case.name);
                }
                None => {
                    let index = result.unwrap_or_else(|e| panic!("{}: {e}", case.name));
                    assert!(index < root.certificate_authorities.len());
                }
            }
            checked += 1;
        }
        assert!(checked >= 50, "only {checked} cases with certificates");
    }

    #[test]
    fn production_leaf_picks_the_authority_valid_at_the_time() {
        let c = case("happy-path-v0.3");
        let (leaf, _) = c.certificates().unwrap();
        let root = c.root();
        let at = c.integrated_time().unwrap();
        let index =
            verify_chain(&leaf, &[], &root.certificate_authorities, at, CODE_SIGNING).unwrap();
        // 2024 signature: the current Fulcio CA (the 2021 root ended 2022-12-31).
        assert!(root.certificate_authorities[index].valid_for.contains(at));
        assert!(!root.certificate_authorities[0].valid_for.contains(at));
        assert_eq!(index, 1);
        // The same authority list without the current CA: nothing is valid then.
        let only_old = &root.certificate_authorities[..1];
        let e = verify_chain(&leaf, &[], only_old, at, CODE_SIGNING)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no authority"), "{e}");
    }

    #[test]
    fn a_time_outside_the_leaf_validity_fails() {
        let c = case("happy-path-v0.3");
        let (leaf, _) = c.certificates().unwrap();
        let cas = &c.root().certificate_authorities;
        let (not_before, not_after) = validity(&leaf).unwrap();
        assert_eq!(
            not_after - not_before,
            600,
            "Fulcio certificates live 10 minutes"
        );
        assert!(
            verify_chain(&leaf, &[], cas, not_before, CODE_SIGNING).is_ok(),
            "start inclusive"
        );
        assert!(
            verify_chain(&leaf, &[], cas, not_after, CODE_SIGNING).is_ok(),
            "end inclusive"
        );
        let e = verify_chain(&leaf, &[], cas, not_after + 1, CODE_SIGNING)
            .unwrap_err()
            .to_string();
        assert!(e.contains("expired at"), "{e}");
        let e = verify_chain(&leaf, &[], cas, not_before - 1, CODE_SIGNING)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not valid before"), "{e}");
        assert!(verify_chain(&leaf, &[], cas, -1, CODE_SIGNING).is_err());
    }

    #[test]
    fn staging_certificate_does_not_chain_to_production() {
        let c = case("bundle-from-wrong-instance_fail");
        let (leaf, extra) = c.certificates().unwrap();
        let at = c.integrated_time().unwrap();
        let e = verify_chain(
            &leaf,
            &extra,
            &c.root().certificate_authorities,
            at,
            CODE_SIGNING,
        )
        .unwrap_err()
        .to_string();
        // Same issuer name as production's intermediate: the signature is what differs.
        assert!(e.contains("does not verify"), "{e}");
    }

    #[test]
    fn bundle_with_root_certificate_is_detected() {
        let c = case("bundle-with-root-cert_fail");
        let (leaf, extra) = c.certificates().unwrap();
        // Shipped as leaf, root, intermediate.
        assert_eq!(extra.len(), 2);
        assert!(!is_self_signed(&leaf));
        assert!(is_self_signed(&extra[0]), "root");
        assert!(!is_self_signed(&extra[1]), "intermediate");
        // Every authority's last certificate is a self-signed root; leaves are not.
        for ca in &c.root().certificate_authorities {
            assert!(is_self_signed(ca.chain.last().unwrap()));
            if ca.chain.len() > 1 {
                assert!(!is_self_signed(&ca.chain[0]));
            }
        }
        assert!(!is_self_signed(b"not a certificate"));
        assert!(!is_self_signed(&[]));
    }

    #[test]
    fn tampered_certificates_are_refused() {
        let c = case("happy-path-v0.3");
        let (leaf, _) = c.certificates().unwrap();
        let cas = &c.root().certificate_authorities;
        let at = c.integrated_time().unwrap();
        // Flip a bit in the last byte of the signature.
        let mut bad = leaf.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(verify_chain(&bad, &[], cas, at, CODE_SIGNING).is_err());
        // A root's signature no longer verifies after a TBS byte changes.
        let root = cas[1].chain.last().unwrap().clone();
        let mut bad_root = root.clone();
        let n = bad_root.len() / 2;
        bad_root[n] ^= 1;
        assert!(is_self_signed(&root));
        assert!(!is_self_signed(&bad_root));
    }

    #[test]
    fn timestamp_authority_leaf_is_refused_for_code_signing() {
        let c = case("rekor2-happy-path");
        let root = c.root();
        let tsa = &root.timestamp_authorities[0];
        let leaf = &tsa.chain[0];
        let at = 1_749_729_740; // 2025-06-12T12:02:20Z, the happy path's genTime
        assert_eq!(
            verify_chain(leaf, &[], &root.timestamp_authorities, at, TIME_STAMPING).unwrap(),
            0
        );
        let e = verify_chain(leaf, &[], &root.timestamp_authorities, at, CODE_SIGNING)
            .unwrap_err()
            .to_string();
        assert!(e.contains("codeSigning"), "{e}");
        // And a Fulcio leaf is no timestamping certificate.
        let (fulcio, _) = c.certificates().unwrap();
        let e = verify_chain(
            &fulcio,
            &[],
            &root.certificate_authorities,
            at,
            TIME_STAMPING,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("timeStamping"), "{e}");
    }

    #[test]
    fn untrusted_intermediates_are_used_for_path_building_only() {
        // v0.1 bundles ship only the leaf; the intermediate comes from the trusted root.
        let c = case("happy-path-v0.1");
        let (leaf, extra) = c.certificates().unwrap();
        assert!(extra.is_empty());
        let root = c.root();
        let at = c.integrated_time().unwrap();
        let index =
            verify_chain(&leaf, &[], &root.certificate_authorities, at, CODE_SIGNING).unwrap();
        // Strip the authority's intermediate: the leaf no longer reaches the root...
        let mut stripped = root.certificate_authorities[index].clone();
        let intermediate = stripped.chain.remove(0);
        let e = verify_chain(
            &leaf,
            &[],
            std::slice::from_ref(&stripped),
            at,
            CODE_SIGNING,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown issuer"), "{e}");
        // ...until the bundle supplies it.
        assert_eq!(
            verify_chain(
                &leaf,
                std::slice::from_ref(&intermediate),
                std::slice::from_ref(&stripped),
                at,
                CODE_SIGNING
            )
            .unwrap(),
            0
        );
        // An authority's last certificate is its trust anchor even when not self-signed.
        let mut pinned = stripped.clone();
        pinned.chain = vec![intermediate.clone()];
        assert_eq!(
            verify_chain(&leaf, &[], &[pinned], at, CODE_SIGNING).unwrap(),
            0
        );
        // A root shipped as an untrusted certificate never becomes an anchor.
        let production_root = stripped.chain[0].clone();
        let other = case("rekor2-happy-path")
            .root()
            .certificate_authorities
            .clone();
        let e = verify_chain(
            &leaf,
            &[intermediate, production_root],
            &other,
            at,
            CODE_SIGNING,
        )
        .unwrap_err()
        .to_string();
        // (Staging's intermediate has the same name, so webpki reports its signature.)
        assert!(e.contains("does not verify"), "{e}");
    }

    #[test]
    fn validity_reads_both_times_and_rejects_garbage() {
        let c = case("happy-path-v0.1");
        let (leaf, _) = c.certificates().unwrap();
        let (nb, na) = validity(&leaf).unwrap();
        assert_eq!(
            crate::base::time::format_rfc3339(nb),
            "2023-07-12T15:56:35Z"
        );
        assert!(na > nb);
        assert!(validity(b"\x30\x03\x02\x01\x01").is_err());
        assert!(validity(&leaf[..leaf.len() - 1]).is_err());
    }

    #[test]
    fn no_panic_on_truncated_or_mutated_input() {
        let c = case("bundle-with-root-cert_fail");
        let (leaf, extra) = c.certificates().unwrap();
        let cas = &c.root().certificate_authorities;
        for cert in std::iter::once(&leaf).chain(&extra) {
            for n in (0..cert.len()).step_by(7) {
                let t = &cert[..n];
                let _ = is_self_signed(t);
                let _ = validity(t);
                let _ = verify_chain(t, &extra, cas, 1_683_317_662, CODE_SIGNING);
                let mut m = cert.clone();
                m[n] = m[n].wrapping_add(0x41);
                let _ = is_self_signed(&m);
                let _ = validity(&m);
            }
        }
        let _ = verify_chain(&leaf, &[], cas, i64::MAX, CODE_SIGNING);
        let _ = verify_chain(&leaf, &[], cas, i64::MIN, CODE_SIGNING);
        assert!(verify_chain(&leaf, &[], cas, 0, "not an oid").is_err());
        assert!(verify_chain(&leaf, &[], &[], 1_683_317_662, CODE_SIGNING).is_err());
    }
}
