//! RFC 3161 signed timestamps as Sigstore bundles carry them
//! (`verificationMaterial.timestampVerificationData.rfc3161Timestamps[].signedTimestamp`,
//! formats.md §5.6): a `TimeStampResp` (or a bare `TimeStampToken`) whose CMS `SignedData`
//! (RFC 5652) signs a `TSTInfo` over the hash of the bundle's signature bytes.
//!
//! Checks, in order: response status granted; `ContentInfo` is `id-signedData` with
//! `eContentType` `id-ct-TSTInfo`; the `TSTInfo` message imprint is the hash of the signed bytes;
//! exactly one `SignerInfo`, with signed attributes whose `contentType` is `id-ct-TSTInfo` and
//! whose `messageDigest` is the hash of the `TSTInfo`; the signature over the DER `SET OF`
//! signed attributes verifies with the signer certificate (the embedded certificate named by the
//! signer identifier, else an authority's leaf with that identity); an ESS signing-certificate
//! attribute (RFC 2634 / RFC 5816), when present, names that certificate; the signer
//! certificate carries a critical `id-kp-timeStamping` EKU (RFC 3161 §2.3), `genTime` lies in its
//! validity, and it chains ([`super::x509::verify_chain`]) at `genTime` to a timestamp authority
//! whose `validFor` contains `genTime`.
//!
//! Pure. No function panics on any input.

use der::Tag;
use sha1::Digest as _;

use crate::base::time::format_rfc3339;
use crate::crypto::HashAlgorithm;
use crate::sigstore::trust::Authority;
use crate::sigstore::x509::{
    self, CertInfo, Element, TIME_STAMPING, algorithm_identifier, context_tag,
};

/// Why a signed timestamp was not accepted: one variant per check of [`verify_timestamp`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsaError {
    /// Larger than [`MAX_TIMESTAMP_BYTES`].
    #[error("RFC 3161 timestamp: {0} bytes, limit {MAX_TIMESTAMP_BYTES}")]
    TooLarge(usize),
    /// The `TimeStampResp`, `SignedData`, `TSTInfo` or `SignerInfo` does not decode, or the
    /// response status is not granted.
    #[error("RFC 3161 timestamp: {0}")]
    Malformed(String),
    /// The message imprint is not the hash of the signed bytes.
    #[error("RFC 3161 timestamp: message imprint ({0}) is not the hash of the signature bytes")]
    Imprint(HashAlgorithm),
    /// Other than one `SignerInfo`.
    #[error("RFC 3161 timestamp: expected exactly one SignerInfo, found {0}")]
    SignerCount(usize),
    /// The signed attributes (content type, message digest) do not match the content.
    #[error("RFC 3161 timestamp: {0}")]
    SignedAttributes(String),
    /// No embedded or trusted certificate has the signer identifier.
    #[error(
        "RFC 3161 timestamp: no embedded or trusted certificate matches the signer identifier ({0})"
    )]
    NoSignerCertificate(String),
    /// No candidate signer certificate passed (signature, ESS binding, EKU, validity at
    /// `genTime`, chain); one reason per candidate.
    #[error("RFC 3161 timestamp: {}", .0.join("; "))]
    Signer(Vec<String>),
}

/// A timestamp that verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedTimestamp {
    /// `TSTInfo.genTime` in seconds since the epoch (fraction dropped).
    pub time: i64,
    /// Index of the timestamp authority (in the list given) whose chain verified.
    pub authority: usize,
}

/// Largest signed timestamp accepted, in bytes.
pub const MAX_TIMESTAMP_BYTES: usize = 1 << 20;

const OID_SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
const OID_CT_TST_INFO: &str = "1.2.840.113549.1.9.16.1.4";
const OID_ATTR_CONTENT_TYPE: &str = "1.2.840.113549.1.9.3";
const OID_ATTR_MESSAGE_DIGEST: &str = "1.2.840.113549.1.9.4";
const OID_ATTR_SIGNING_CERTIFICATE: &str = "1.2.840.113549.1.9.16.2.12";
const OID_ATTR_SIGNING_CERTIFICATE_V2: &str = "1.2.840.113549.1.9.16.2.47";
const OID_SHA256: &str = "2.16.840.1.101.3.4.2.1";
const OID_SHA384: &str = "2.16.840.1.101.3.4.2.2";
const OID_SHA512: &str = "2.16.840.1.101.3.4.2.3";
const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_EKU: &str = "2.5.29.37";

/// Verifies one RFC 3161 signed timestamp (`token`: DER `TimeStampResp` or bare
/// `TimeStampToken`) over `signed` (the bytes whose hash is the message imprint: the bundle's
/// signature bytes) against `authorities` (the trusted root's `timestampAuthorities`).
///
/// # Errors
/// Any failed check, with the reason.
pub fn verify_timestamp(
    token: &[u8],
    signed: &[u8],
    authorities: &[Authority],
) -> Result<VerifiedTimestamp, TsaError> {
    if token.len() > MAX_TIMESTAMP_BYTES {
        return Err(TsaError::TooLarge(token.len()));
    }
    let content_info = content_info(token).map_err(TsaError::Malformed)?;
    let sd = SignedData::parse(content_info).map_err(TsaError::Malformed)?;
    let tst = TstInfo::parse(sd.econtent).map_err(TsaError::Malformed)?;

    // The timestamp must be over these signature bytes.
    if tst.imprint_algorithm.digest(signed) != tst.imprint {
        return Err(TsaError::Imprint(tst.imprint_algorithm));
    }

    let [signer] = sd.signer_infos.as_slice() else {
        return Err(TsaError::SignerCount(sd.signer_infos.len()));
    };
    let signer = SignerInfo::parse(*signer).map_err(TsaError::Malformed)?;
    check_signed_attributes(&signer, sd.econtent).map_err(TsaError::SignedAttributes)?;

    // Candidate signer certificates: embedded ones named by the signer identifier, else the
    // authorities' leaves with that identity.
    let mut candidates: Vec<&[u8]> = sd
        .certificates
        .iter()
        .copied()
        .filter(|c| signer.sid.matches(c))
        .collect();
    if candidates.is_empty() {
        for a in authorities {
            if let Some(leaf) = a.chain.first()
                && signer.sid.matches(leaf)
                && !candidates.contains(&leaf.as_slice())
            {
                candidates.push(leaf);
            }
        }
    }
    if candidates.is_empty() {
        return Err(TsaError::NoSignerCertificate(signer.sid.to_string()));
    }

    let untrusted: Vec<Vec<u8>> = sd.certificates.iter().map(|c| c.to_vec()).collect();
    let mut failures = Vec::new();
    for cert in candidates {
        match check_signer(cert, &signer, &tst, &untrusted, authorities) {
            Ok(authority) => {
                return Ok(VerifiedTimestamp {
                    time: tst.gen_time,
                    authority,
                });
            }
            Err(e) => failures.push(e),
        }
    }
    Err(TsaError::Signer(failures))
}

/// The signer certificate: signature, ESS binding, EKU, validity at genTime, chain.
fn check_signer(
    cert: &[u8],
    signer: &SignerInfo<'_>,
    tst: &TstInfo,
    untrusted: &[Vec<u8>],
    authorities: &[Authority],
) -> Result<usize, String> {
    let info = CertInfo::parse(cert).map_err(|e| format!("signer certificate: {e}"))?;
    x509::verify_signature(
        info.spki,
        &signer.signature_algorithm,
        &signer.signed_message,
        signer.signature,
    )
    .map_err(|e| format!("signature over the signed attributes: {e}"))?;
    if let Some(ess) = &signer.ess {
        ess.check(cert)?;
    }
    let eku = info
        .extension(OID_EKU)
        .ok_or("signer certificate has no extended key usage extension")?;
    if !eku.critical {
        return Err(
            "signer certificate's extended key usage is not critical (RFC 3161 §2.3)".to_owned(),
        );
    }
    let ekus = info.ekus();
    if ekus.len() != 1 || !info.has_eku(TIME_STAMPING) {
        return Err(
            "signer certificate's extended key usage must be exactly timeStamping".to_owned(),
        );
    }
    if tst.gen_time < info.not_before || tst.gen_time > info.not_after {
        return Err(format!(
            "genTime {} is outside the signer certificate's validity ({} to {})",
            format_rfc3339(tst.gen_time),
            format_rfc3339(info.not_before),
            format_rfc3339(info.not_after)
        ));
    }
    x509::verify_chain(cert, untrusted, authorities, tst.gen_time, TIME_STAMPING)
        .map_err(|e| format!("timestamp authority: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Structure

/// The `ContentInfo` of a `TimeStampResp` (status checked) or of a bare token.
fn content_info(token: &[u8]) -> Result<Element<'_>, String> {
    let outer = Element::parse(token)?.expect(Tag::Sequence, "timestamp")?;
    let mut c = outer.children()?;
    let first = c.next("timestamp")?;
    match first.tag {
        Tag::ObjectIdentifier => Ok(outer),
        Tag::Sequence => {
            // TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken OPTIONAL }
            let mut s = first.children()?;
            let status = s.next("status")?.expect(Tag::Integer, "status")?;
            match status.value {
                [0] | [1] => {}
                v => {
                    return Err(format!(
                        "response status is not granted (status {})",
                        hex::encode(v)
                    ));
                }
            }
            let token = c
                .next("timeStampToken")?
                .expect(Tag::Sequence, "timeStampToken")?;
            c.finish("TimeStampResp")?;
            Ok(token)
        }
        other => Err(format!(
            "not a TimeStampResp or TimeStampToken (starts with {other})"
        )),
    }
}

struct SignedData<'a> {
    econtent: &'a [u8],
    certificates: Vec<&'a [u8]>,
    signer_infos: Vec<Element<'a>>,
}

impl<'a> SignedData<'a> {
    fn parse(content_info: Element<'a>) -> Result<Self, String> {
        let mut ci = content_info.children()?;
        let content_type = ci.next("contentType")?;
        if !content_type.is_oid(OID_SIGNED_DATA) {
            return Err(format!(
                "content type is {}, not id-signedData",
                content_type.oid_string()
            ));
        }
        let explicit = ci
            .next("content")?
            .expect(context_tag(0, true), "content")?;
        ci.finish("ContentInfo")?;
        let mut e = explicit.children()?;
        let sd = e.next("SignedData")?.expect(Tag::Sequence, "SignedData")?;
        e.finish("content")?;

        let mut c = sd.children()?;
        c.next("version")?.expect(Tag::Integer, "version")?;
        c.next("digestAlgorithms")?
            .expect(Tag::Set, "digestAlgorithms")?;
        let encap = c
            .next("encapContentInfo")?
            .expect(Tag::Sequence, "encapContentInfo")?;
        let mut certificates = Vec::new();
        if let Some(certs) = c.next_if(context_tag(0, true), "certificates")? {
            let mut l = certs.children()?;
            while !l.is_empty() {
                let cert = l.next("certificate")?;
                // Other CertificateChoices (attribute certificates, …) are not used.
                if cert.tag == Tag::Sequence {
                    certificates.push(cert.raw);
                }
            }
        }
        c.next_if(context_tag(1, true), "crls")?;
        let infos = c.next("signerInfos")?.expect(Tag::Set, "signerInfos")?;
        c.finish("SignedData")?;

        let mut ec = encap.children()?;
        let econtent_type = ec.next("eContentType")?;
        if !econtent_type.is_oid(OID_CT_TST_INFO) {
            return Err(format!(
                "eContentType is {}, not id-ct-TSTInfo",
                econtent_type.oid_string()
            ));
        }
        let econtent = ec
            .next("eContent")?
            .expect(context_tag(0, true), "eContent")?;
        ec.finish("encapContentInfo")?;
        let mut oc = econtent.children()?;
        let octets = oc.next("eContent")?.expect(Tag::OctetString, "eContent")?;
        oc.finish("eContent")?;

        let mut signer_infos = Vec::new();
        let mut l = infos.children()?;
        while !l.is_empty() {
            signer_infos.push(l.next("SignerInfo")?);
        }
        Ok(Self {
            econtent: octets.value,
            certificates,
            signer_infos,
        })
    }
}

struct TstInfo {
    imprint_algorithm: HashAlgorithm,
    imprint: Vec<u8>,
    gen_time: i64,
}

impl TstInfo {
    fn parse(der: &[u8]) -> Result<Self, String> {
        let tst = Element::parse(der)?.expect(Tag::Sequence, "TSTInfo")?;
        let mut c = tst.children()?;
        let version = c.next("version")?.expect(Tag::Integer, "version")?;
        if version.value != [1] {
            return Err("TSTInfo version is not 1".to_owned());
        }
        c.next("policy")?.expect(Tag::ObjectIdentifier, "policy")?;
        let imprint = c
            .next("messageImprint")?
            .expect(Tag::Sequence, "messageImprint")?;
        c.next("serialNumber")?
            .expect(Tag::Integer, "serialNumber")?;
        let gen_time = c.next("genTime")?.expect(Tag::GeneralizedTime, "genTime")?;
        // accuracy, ordering, nonce, tsa, extensions: well-formed, otherwise unused.
        while !c.is_empty() {
            c.next("TSTInfo field")?;
        }

        let mut m = imprint.children()?;
        let (alg, _) = algorithm_identifier(m.next("hashAlgorithm")?, "hashAlgorithm")?;
        let imprint_algorithm = hash_algorithm(&alg)?;
        let hashed = m
            .next("hashedMessage")?
            .expect(Tag::OctetString, "hashedMessage")?;
        m.finish("messageImprint")?;
        Ok(Self {
            imprint_algorithm,
            imprint: hashed.value.to_vec(),
            gen_time: parse_generalized_time(gen_time.value)?,
        })
    }
}

/// The signer identifier of a `SignerInfo`.
enum SignerId<'a> {
    IssuerSerial { issuer: &'a [u8], serial: &'a [u8] },
    KeyId(&'a [u8]),
}

impl SignerId<'_> {
    fn matches(&self, cert: &[u8]) -> bool {
        let Ok(info) = CertInfo::parse(cert) else {
            return false;
        };
        match self {
            Self::IssuerSerial { issuer, serial } => {
                info.issuer == *issuer && info.serial == *serial
            }
            Self::KeyId(id) => info.subject_key_id() == Some(*id),
        }
    }
}

impl std::fmt::Display for SignerId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::IssuerSerial { serial, .. } => {
                write!(f, "issuer and serial {}", hex::encode(serial))
            }
            Self::KeyId(id) => write!(f, "subject key identifier {}", hex::encode(id)),
        }
    }
}

struct SignerInfo<'a> {
    sid: SignerId<'a>,
    digest_algorithm: HashAlgorithm,
    /// The attributes as signed: the `[0] IMPLICIT` encoding re-tagged as `SET OF`.
    signed_message: Vec<u8>,
    attributes: Vec<(Element<'a>, Element<'a>)>,
    /// `AlgorithmIdentifier` content of the signature algorithm (normalised, see `parse`).
    signature_algorithm: Vec<u8>,
    signature: &'a [u8],
    ess: Option<EssCertId<'a>>,
}

impl<'a> SignerInfo<'a> {
    fn parse(e: Element<'a>) -> Result<Self, String> {
        let e = e.expect(Tag::Sequence, "SignerInfo")?;
        let mut c = e.children()?;
        c.next("version")?.expect(Tag::Integer, "version")?;
        let sid_e = c.next("sid")?;
        let sid = if sid_e.tag == Tag::Sequence {
            let mut s = sid_e.children()?;
            let issuer = s.next("issuer")?.expect(Tag::Sequence, "issuer")?;
            let serial = s
                .next("serialNumber")?
                .expect(Tag::Integer, "serialNumber")?;
            s.finish("issuerAndSerialNumber")?;
            SignerId::IssuerSerial {
                issuer: issuer.raw,
                serial: serial.value,
            }
        } else if sid_e.tag == context_tag(0, false) {
            SignerId::KeyId(sid_e.value)
        } else {
            return Err(format!("unsupported signer identifier {}", sid_e.tag));
        };
        let (digest_oid, _) = algorithm_identifier(c.next("digestAlgorithm")?, "digestAlgorithm")?;
        let digest_algorithm = hash_algorithm(&digest_oid)?;
        let attrs = c
            .next_if(context_tag(0, true), "signedAttrs")?
            .ok_or("signed attributes are missing")?;
        let (sig_oid, sig_alg) =
            algorithm_identifier(c.next("signatureAlgorithm")?, "signatureAlgorithm")?;
        let signature = c.next("signature")?.expect(Tag::OctetString, "signature")?;
        c.next_if(context_tag(1, true), "unsignedAttrs")?;
        c.finish("SignerInfo")?;

        // The signature covers the DER of the attributes as `SET OF` (tag 0x31), not `[0]`.
        let mut signed_message = Vec::with_capacity(attrs.raw.len());
        signed_message.push(0x31);
        signed_message.extend_from_slice(attrs.raw.get(1..).unwrap_or_default());

        let mut attributes: Vec<(Element<'a>, Element<'a>)> = Vec::new();
        let mut a = attrs.children()?;
        while !a.is_empty() {
            let attr = a.next("attribute")?.expect(Tag::Sequence, "attribute")?;
            let mut ac = attr.children()?;
            let oid = ac
                .next("attrType")?
                .expect(Tag::ObjectIdentifier, "attrType")?;
            let values = ac.next("attrValues")?.expect(Tag::Set, "attrValues")?;
            ac.finish("attribute")?;
            if attributes.iter().any(|(o, _)| o.value == oid.value) {
                return Err(format!(
                    "signed attribute {} appears twice",
                    oid.oid_string()
                ));
            }
            attributes.push((oid, values));
        }

        let ess = EssCertId::find(&attributes)?;
        Ok(Self {
            sid,
            digest_algorithm,
            signed_message,
            attributes,
            signature_algorithm: normalise_signature_algorithm(
                &sig_oid,
                sig_alg,
                digest_algorithm,
            )?,
            signature: signature.value,
            ess,
        })
    }

    /// The single value of the signed attribute `oid`.
    fn attribute(&self, oid: &str, name: &str) -> Result<Element<'a>, String> {
        let (_, values) = self
            .attributes
            .iter()
            .find(|(o, _)| o.is_oid(oid))
            .ok_or_else(|| format!("signed attribute {name} is missing"))?;
        let mut v = values.children()?;
        let value = v.next(name)?;
        v.finish(name)
            .map_err(|_| format!("signed attribute {name} has more than one value"))?;
        Ok(value)
    }
}

/// CMS names the signature algorithm either fully (`ecdsa-with-SHA256`,
/// `sha256WithRSAEncryption`) or by the key type alone (`rsaEncryption`, `id-ecPublicKey`)
/// with the hash from `digestAlgorithm`; the latter is mapped to the former, as the
/// `AlgorithmIdentifier` content the verifier matches.
fn normalise_signature_algorithm(
    oid: &Element<'_>,
    full: &[u8],
    digest: HashAlgorithm,
) -> Result<Vec<u8>, String> {
    let named = if oid.is_oid(OID_RSA_ENCRYPTION) {
        Some(match digest {
            HashAlgorithm::Sha256 => "1.2.840.113549.1.1.11",
            HashAlgorithm::Sha384 => "1.2.840.113549.1.1.12",
            HashAlgorithm::Sha512 => "1.2.840.113549.1.1.13",
        })
    } else if oid.is_oid(OID_EC_PUBLIC_KEY) {
        Some(match digest {
            HashAlgorithm::Sha256 => "1.2.840.10045.4.3.2",
            HashAlgorithm::Sha384 => "1.2.840.10045.4.3.3",
            HashAlgorithm::Sha512 => "1.2.840.10045.4.3.4",
        })
    } else {
        None
    };
    let Some(named) = named else {
        return Ok(full.to_vec());
    };
    let content = x509::oid_content(named).ok_or("internal: bad OID constant")?;
    let len = u8::try_from(content.len()).map_err(|_| "internal: OID too long")?;
    let mut out = vec![0x06, len];
    out.extend_from_slice(&content);
    if oid.is_oid(OID_RSA_ENCRYPTION) {
        out.extend_from_slice(&[0x05, 0x00]); // RSA PKCS#1 v1.5: NULL parameters
    }
    Ok(out)
}

fn check_signed_attributes(signer: &SignerInfo<'_>, econtent: &[u8]) -> Result<(), String> {
    let content_type = signer.attribute(OID_ATTR_CONTENT_TYPE, "contentType")?;
    if !content_type.is_oid(OID_CT_TST_INFO) {
        return Err(format!(
            "signed contentType is {}, not id-ct-TSTInfo",
            content_type.oid_string()
        ));
    }
    let digest = signer
        .attribute(OID_ATTR_MESSAGE_DIGEST, "messageDigest")?
        .expect(Tag::OctetString, "messageDigest")?;
    if signer.digest_algorithm.digest(econtent) != digest.value {
        return Err(format!(
            "messageDigest is not the {} of the TSTInfo",
            signer.digest_algorithm
        ));
    }
    Ok(())
}

/// The first certificate identifier of an ESS signing-certificate attribute.
struct EssCertId<'a> {
    /// `None`: SHA-1 (`SigningCertificate`, RFC 2634).
    algorithm: Option<HashAlgorithm>,
    hash: &'a [u8],
}

impl<'a> EssCertId<'a> {
    fn find(attributes: &[(Element<'a>, Element<'a>)]) -> Result<Option<Self>, String> {
        for (oid, values) in attributes {
            let v2 = oid.is_oid(OID_ATTR_SIGNING_CERTIFICATE_V2);
            if !v2 && !oid.is_oid(OID_ATTR_SIGNING_CERTIFICATE) {
                continue;
            }
            let mut v = values.children()?;
            let value = v
                .next("signingCertificate")?
                .expect(Tag::Sequence, "signingCertificate")?;
            let certs = value
                .children()?
                .next("certs")?
                .expect(Tag::Sequence, "certs")?;
            let first = certs
                .children()?
                .next("certs")?
                .expect(Tag::Sequence, "ESSCertID")?;
            let mut f = first.children()?;
            let algorithm = if v2 {
                Some(match f.next_if(Tag::Sequence, "hashAlgorithm")? {
                    None => HashAlgorithm::Sha256,
                    Some(alg) => hash_algorithm(&algorithm_identifier(alg, "hashAlgorithm")?.0)?,
                })
            } else {
                None
            };
            let hash = f.next("certHash")?.expect(Tag::OctetString, "certHash")?;
            return Ok(Some(Self {
                algorithm,
                hash: hash.value,
            }));
        }
        Ok(None)
    }

    fn check(&self, cert: &[u8]) -> Result<(), String> {
        let actual = match self.algorithm {
            Some(alg) => alg.digest(cert),
            None => sha1::Sha1::digest(cert).to_vec(),
        };
        if actual == self.hash {
            Ok(())
        } else {
            Err("the ESS signing-certificate attribute names another certificate".to_owned())
        }
    }
}

fn hash_algorithm(oid: &Element<'_>) -> Result<HashAlgorithm, String> {
    if oid.is_oid(OID_SHA256) {
        Ok(HashAlgorithm::Sha256)
    } else if oid.is_oid(OID_SHA384) {
        Ok(HashAlgorithm::Sha384)
    } else if oid.is_oid(OID_SHA512) {
        Ok(HashAlgorithm::Sha512)
    } else {
        Err(format!("unsupported hash algorithm {}", oid.oid_string()))
    }
}

/// `YYYYMMDDHHMMSS[.fff…]Z` into seconds since the epoch, the fraction dropped.
fn parse_generalized_time(value: &[u8]) -> Result<i64, String> {
    let bad = || format!("malformed genTime {:?}", String::from_utf8_lossy(value));
    let (main, rest) = value.split_at_checked(14).ok_or_else(bad)?;
    match rest {
        [b'Z'] => {}
        [b'.', frac @ .., b'Z'] if !frac.is_empty() && frac.iter().all(u8::is_ascii_digit) => {}
        _ => return Err(bad()),
    }
    if !main.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> i64 {
        main.get(r)
            .unwrap_or_default()
            .iter()
            .fold(0, |acc, d| acc * 10 + i64::from(d - b'0'))
    };
    let (year, month, day) = (num(0..4), num(4..6), num(6..8));
    let (hour, minute, second) = (num(8..10), num(10..12), num(12..14));
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if day < 1 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return Err(bad());
    }
    Ok(
        crate::base::time::days_from_civil(year, month, day) * 86_400
            + hour * 3600
            + minute * 60
            + second,
    )
}

/// `genTime` of a timestamp, without verifying anything (tests use it to find signing times).
#[cfg(test)]
pub(crate) fn unverified_gen_time(token: &[u8]) -> Result<i64, String> {
    let sd = SignedData::parse(content_info(token)?)?;
    TstInfo::parse(sd.econtent).map(|t| t.gen_time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigstore::x509::test_support::Case;

    fn case(name: &str) -> Case {
        Case::load(name).unwrap_or_else(|| panic!("case {name} not found"))
    }

    /// Verifies the case's single timestamp against its trusted root.
    fn verify_case(c: &Case) -> Result<VerifiedTimestamp, TsaError> {
        let ts = c.timestamps();
        assert_eq!(ts.len(), 1, "{}", c.name);
        verify_timestamp(&ts[0], &c.signature(), &c.root().timestamp_authorities)
    }

    /// Cases whose timestamp itself must be refused, and a word of the reason.
    const TIMESTAMP_FAILS: &[(&str, &str)] = &[
        (
            "rekor2-timestamp-outside-trust-root-tsa-validity_fail",
            "no authority",
        ),
        (
            "rekor2-timestamp-outside-tsa-cert-validity_fail",
            "outside the signer certificate",
        ),
        ("rekor2-timestamp-payload-mismatch_fail", "message imprint"),
        (
            "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail",
            "unknown issuer",
        ),
        (
            "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail",
            "signer identifier",
        ),
    ];

    /// A conformance case and a test of the error it must give.
    type Expect = (&'static str, fn(&TsaError) -> bool);

    /// The variant names the check that failed.
    #[test]
    fn failures_name_the_check_that_failed() {
        let kinds: [Expect; 3] = [
            ("rekor2-timestamp-payload-mismatch_fail", |e| {
                matches!(e, TsaError::Imprint(_))
            }),
            (
                "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail",
                |e| matches!(e, TsaError::NoSignerCertificate(_)),
            ),
            (
                "rekor2-timestamp-outside-tsa-cert-validity_fail",
                |e| matches!(e, TsaError::Signer(v) if v.len() == 1),
            ),
        ];
        for (name, is) in kinds {
            let e = verify_case(&case(name)).expect_err(name);
            assert!(is(&e), "{name}: {e:?}");
        }
        let big = vec![0u8; MAX_TIMESTAMP_BYTES + 1];
        assert_eq!(
            verify_timestamp(&big, b"x", &[]),
            Err(TsaError::TooLarge(MAX_TIMESTAMP_BYTES + 1))
        );
        assert!(matches!(
            verify_timestamp(b"not DER", b"x", &[]),
            Err(TsaError::Malformed(_))
        ));
    }

    #[test]
    fn every_conformance_timestamp_verifies_or_fails_for_its_reason() {
        let mut passed = Vec::new();
        for c in Case::all() {
            if c.root.is_none() || c.timestamps().is_empty() {
                continue;
            }
            let result = verify_case(&c);
            match TIMESTAMP_FAILS.iter().find(|(n, _)| *n == c.name) {
                Some((_, why)) => {
                    let e = result.expect_err(&c.name).to_string();
                    assert!(e.contains(why), "{}: {e}", c.name);
                }
                None => {
                    let v = result.unwrap_or_else(|e| panic!("{}: {e}", c.name));
                    assert!(
                        c.root().timestamp_authorities[v.authority]
                            .valid_for
                            .contains(v.time)
                    );
                    passed.push(c.name);
                }
            }
        }
        for name in [
            "rekor2-happy-path",
            "rekor2-timestamp-with-embedded-cert",
            "rekor2-timestamp-without-embedded-cert",
            "rekor2-timestamp-with-expired-cert-chain",
            "trust-root-tsa-validity-end-inclusive",
            "rekor2-dsse-happy-path",
            "rekor2-checkpoint-cosigned",
            "rekor2-checkpoint-multiple-cosigs",
            "rekor2-checkpoint-origin-not-first",
            "rekor2-checkpoint-two-sigs-cosigned",
            "rekor2-checkpoint-two-sigs-from-origin",
        ] {
            assert!(passed.iter().any(|p| p == name), "{name} was not verified");
        }
    }

    #[test]
    fn happy_path_time_and_authority() {
        let c = case("rekor2-happy-path");
        let v = verify_case(&c).unwrap();
        assert_eq!(
            crate::base::time::format_rfc3339(v.time),
            "2025-06-12T12:02:20Z"
        );
        assert_eq!(v.authority, 0);
    }

    #[test]
    fn tsa_validity_end_is_inclusive() {
        let c = case("trust-root-tsa-validity-end-inclusive");
        let v = verify_case(&c).unwrap();
        assert_eq!(
            Some(v.time),
            c.root().timestamp_authorities[0].valid_for.end
        );
        // One second less of validity and the same timestamp is refused.
        let mut tsas = c.root().timestamp_authorities.clone();
        tsas[0].valid_for.end = Some(v.time - 1);
        let e = verify_timestamp(&c.timestamps()[0], &c.signature(), &tsas).unwrap_err();
        assert!(e.to_string().contains("no authority"), "{e}");
    }

    #[test]
    fn expired_chain_verifies_at_gen_time() {
        let c = case("rekor2-timestamp-with-expired-cert-chain");
        let v = verify_case(&c).unwrap();
        let leaf = &c.root().timestamp_authorities[0].chain[0];
        let (not_before, not_after) = x509::validity(leaf).unwrap();
        assert!(not_before <= v.time && v.time <= not_after);
        assert!(
            not_after < crate::base::time::now(),
            "the chain has expired since"
        );
    }

    #[test]
    fn gen_time_outside_the_signing_certificate_is_for_the_caller_to_catch() {
        // The timestamps verify; what is wrong is the Fulcio certificate's validity at genTime.
        for name in [
            "rekor2-timestamp-with-incorrect-time_fail",
            "intoto-tsa-timestamp-outside-cert-validity_fail",
        ] {
            let c = case(name);
            let v = verify_case(&c).unwrap_or_else(|e| panic!("{name}: {e}"));
            let (leaf, _) = c.certificates().unwrap();
            let (not_before, not_after) = x509::validity(&leaf).unwrap();
            assert!(
                v.time < not_before || v.time > not_after,
                "{name}: genTime {} inside {not_before}..{not_after}",
                v.time
            );
        }
    }

    #[test]
    fn bare_time_stamp_token_is_accepted() {
        let c = case("rekor2-happy-path");
        let resp = &c.timestamps()[0];
        let outer = Element::parse(resp).unwrap();
        let mut children = outer.children().unwrap();
        children.next("status").unwrap();
        let token = children.next("token").unwrap().raw.to_vec();
        let tsas = &c.root().timestamp_authorities;
        let a = verify_timestamp(resp, &c.signature(), tsas).unwrap();
        let b = verify_timestamp(&token, &c.signature(), tsas).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn tampering_is_detected() {
        let c = case("rekor2-timestamp-with-embedded-cert");
        let token = c.timestamps()[0].clone();
        let signed = c.signature();
        let tsas = &c.root().timestamp_authorities;
        assert!(verify_timestamp(&token, &signed, tsas).is_ok());

        // The signed bytes differ.
        let mut other = signed.clone();
        other[0] ^= 1;
        let e = verify_timestamp(&token, &other, tsas)
            .unwrap_err()
            .to_string();
        assert!(e.contains("message imprint"), "{e}");

        // Locate the TSTInfo (eContent) and the signature inside the token.
        let sd = SignedData::parse(content_info(&token).unwrap()).unwrap();
        let tst_at = find(&token, sd.econtent);
        let signer = SignerInfo::parse(sd.signer_infos[0]).unwrap();
        let sig_at = find(&token, signer.signature);

        // A byte of the TSTInfo (inside the serial number, so it still parses).
        assert_eq!(&sd.econtent[68..70], &[0x02, 0x14], "20-byte serial number");
        let mut t = token.clone();
        t[tst_at + 75] ^= 1;
        let e = verify_timestamp(&t, &signed, tsas).unwrap_err().to_string();
        assert!(e.contains("messageDigest"), "{e}");

        // A byte of the ECDSA signature (the last byte of s).
        let mut t = token.clone();
        t[sig_at + signer.signature.len() - 1] ^= 1;
        let e = verify_timestamp(&t, &signed, tsas).unwrap_err().to_string();
        assert!(e.contains("does not verify"), "{e}");

        // A byte of the signed attributes (the signingTime UTCTime's seconds digit).
        let needle = b"\x17\x0d250806185136Z";
        let at = find(&token, needle);
        let mut t = token.clone();
        t[at + 13] = b'7';
        let e = verify_timestamp(&t, &signed, tsas).unwrap_err().to_string();
        assert!(e.contains("does not verify"), "{e}");
    }

    #[test]
    fn embedded_certificate_is_bound_by_ess() {
        // Replacing the embedded certificate by another with a different hash breaks the ESS
        // binding even before the chain is looked at.
        let c = case("rekor2-timestamp-with-embedded-cert");
        let token = c.timestamps()[0].clone();
        let sd = SignedData::parse(content_info(&token).unwrap()).unwrap();
        let signer = SignerInfo::parse(sd.signer_infos[0]).unwrap();
        let ess = signer.ess.as_ref().unwrap();
        assert_eq!(ess.algorithm, Some(HashAlgorithm::Sha256));
        assert!(ess.check(sd.certificates[0]).is_ok());
        assert!(
            ess.check(&c.root().timestamp_authorities[0].chain[1])
                .is_err()
        );
    }

    #[test]
    fn untrusted_tsa_reasons() {
        let c = case("rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail");
        let e = verify_case(&c).unwrap_err().to_string();
        assert!(
            e.contains("timestamp authority") && e.contains("unknown issuer"),
            "{e}"
        );
        let c = case("rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail");
        let e = verify_case(&c).unwrap_err().to_string();
        assert!(e.contains("no embedded or trusted certificate"), "{e}");
        // With no authorities at all nothing verifies.
        let c = case("rekor2-happy-path");
        assert!(verify_timestamp(&c.timestamps()[0], &c.signature(), &[]).is_err());
    }

    #[test]
    fn generalized_time_forms() {
        assert_eq!(parse_generalized_time(b"19700101000000Z").unwrap(), 0);
        assert_eq!(
            parse_generalized_time(b"20250612120220Z").unwrap(),
            crate::base::time::parse_rfc3339("2025-06-12T12:02:20Z").unwrap()
        );
        assert_eq!(
            parse_generalized_time(b"20250612120220.999Z").unwrap(),
            crate::base::time::parse_rfc3339("2025-06-12T12:02:20Z").unwrap()
        );
        assert_eq!(
            parse_generalized_time(b"20240229235959Z").unwrap(),
            crate::base::time::parse_rfc3339("2024-02-29T23:59:59Z").unwrap()
        );
        for bad in [
            &b"20250612120220"[..],
            b"20250612120220.Z",
            b"2025061212022Z",
            b"20250612120220+0100",
            b"20230229000000Z",
            b"20251301000000Z",
            b"20250612240000Z",
            b"2025061212026aZ",
            b"",
        ] {
            assert!(parse_generalized_time(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn no_panic_on_truncated_or_mutated_tokens() {
        for name in [
            "rekor2-timestamp-with-embedded-cert",
            "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail",
        ] {
            let c = case(name);
            let token = c.timestamps()[0].clone();
            let signed = c.signature();
            let tsas = &c.root().timestamp_authorities;
            let step = if token.len() > 2000 { 13 } else { 3 };
            for n in (0..token.len()).step_by(step) {
                assert!(verify_timestamp(&token[..n], &signed, tsas).is_err());
                let mut m = token.clone();
                m[n] = m[n].wrapping_add(0x5b);
                let _ = verify_timestamp(&m, &signed, tsas);
            }
        }
        assert!(verify_timestamp(&[], b"", &[]).is_err());
        assert!(verify_timestamp(&[0x30, 0x80, 0x00, 0x00], b"", &[]).is_err());
        assert!(verify_timestamp(&vec![0u8; MAX_TIMESTAMP_BYTES + 1], b"", &[]).is_err());
    }

    fn find(haystack: &[u8], needle: &[u8]) -> usize {
        haystack
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("sub-slice present")
    }
}
