//! Fulcio signing certificates (formats.md §5.1–5.4): the signer identity (SAN email, URI or
//! `otherName` username), the OIDC issuer and CI claims from the Fulcio extensions, and the
//! embedded signed certificate timestamps (RFC 6962 §3.2) checked against the trusted root's
//! CT log keys. Chain building is [`super::x509`]'s.

use std::collections::BTreeMap;

use der::asn1::{OctetString, Utf8StringRef};
use der::{Decode as _, Encode as _};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;

use crate::crypto::{PublicKey, sha256};
use crate::sigstore::trust::TrustedRoot;

/// What is wrong with a signing certificate: one variant per check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The bytes are not a DER certificate.
    #[error("certificate does not decode: {0}")]
    Undecodable(String),
    /// The subject public key is unreadable or of an unsupported kind.
    #[error("certificate key: {0}")]
    Key(String),
    /// The certificate carries the CT precertificate poison extension.
    #[error("a precertificate is not a signing certificate")]
    Precertificate,
    /// A field or extension (`field`) does not decode.
    #[error("{field}: {detail}")]
    Malformed { field: String, detail: String },
    /// No SCT list extension.
    #[error("the certificate carries no signed certificate timestamp")]
    NoSct,
    /// The SCT list's framing is wrong.
    #[error("{0}")]
    SctList(&'static str),
    /// No SCT verified against a trusted CT log; one reason per SCT.
    #[error("{}", if .0.is_empty() { "the SCT list is empty".to_owned() } else { .0.join("; ") })]
    SctUnverified(Vec<String>),
}

impl CertError {
    pub(crate) fn malformed(field: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        Self::Malformed {
            field: field.into(),
            detail: detail.to_string(),
        }
    }
}

const OID_SAN: &str = "2.5.29.17";
const OID_SCT_LIST: &str = "1.3.6.1.4.1.11129.2.4.2";
const OID_PRECERT_POISON: &str = "1.3.6.1.4.1.11129.2.4.3";
const FULCIO_ARC: &str = "1.3.6.1.4.1.57264.1.";
const OID_USERNAME_OTHERNAME: &str = "1.3.6.1.4.1.57264.1.7";

/// Fulcio extension names by the last arc of `1.3.6.1.4.1.57264.1.x` (formats.md §5.2). `.1`–`.6`
/// are raw UTF-8, the rest DER `UTF8String`s.
const CLAIMS: &[(u32, &str)] = &[
    (1, "issuer"),
    (2, "githubWorkflowTrigger"),
    (3, "githubWorkflowSha"),
    (4, "githubWorkflowName"),
    (5, "githubWorkflowRepository"),
    (6, "githubWorkflowRef"),
    (8, "issuer"),
    (9, "buildSignerURI"),
    (10, "buildSignerDigest"),
    (11, "runnerEnvironment"),
    (12, "sourceRepositoryURI"),
    (13, "sourceRepositoryDigest"),
    (14, "sourceRepositoryRef"),
    (15, "sourceRepositoryIdentifier"),
    (16, "sourceRepositoryOwnerURI"),
    (17, "sourceRepositoryOwnerIdentifier"),
    (18, "buildConfigURI"),
    (19, "buildConfigDigest"),
    (20, "buildTrigger"),
    (21, "runInvocationURI"),
    (22, "sourceRepositoryVisibilityAtSigning"),
];

/// One subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum San {
    Email(String),
    Uri(String),
    /// Fulcio's username `otherName` (`sub!domain`).
    Username(String),
}

impl San {
    pub fn value(&self) -> &str {
        match self {
            Self::Email(s) | Self::Uri(s) | Self::Username(s) => s,
        }
    }
}

/// A parsed signing certificate.
#[derive(Debug, Clone)]
pub struct SigningCert {
    pub der: Vec<u8>,
    pub not_before: i64,
    pub not_after: i64,
    pub sans: Vec<San>,
    /// OIDC issuer: extension `.8`, else the deprecated `.1`.
    pub issuer: Option<String>,
    /// Every Fulcio extension present, by name (`githubWorkflowRepository`,
    /// `sourceRepositoryRef`, …); `issuer` is the one above.
    pub claims: BTreeMap<String, String>,
    pub public_key: PublicKey,
    /// DER of the certificate's issuer `Name`, to find the issuing certificate.
    pub issuer_name: Vec<u8>,
}

fn utf8_raw(bytes: &[u8], what: &str) -> Result<String, CertError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| CertError::malformed(what, "not UTF-8"))
}

impl SigningCert {
    /// Parses a DER certificate and reads its identity.
    ///
    /// # Errors
    /// Undecodable DER, an unsupported key, a malformed SAN or Fulcio extension, a
    /// precertificate.
    pub fn parse(der: &[u8]) -> Result<Self, CertError> {
        let cert = Certificate::from_der(der).map_err(|e| CertError::Undecodable(e.to_string()))?;
        let tbs = cert.tbs_certificate();
        let validity = tbs.validity();
        let secs = |t: x509_cert::time::Time| {
            i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
        };
        let spki = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(|e| CertError::Key(e.to_string()))?;
        let public_key =
            PublicKey::from_spki_der(&spki).map_err(|e| CertError::Key(e.to_string()))?;
        let mut sans = Vec::new();
        let mut issuer_v1 = None;
        let mut issuer_v2 = None;
        let mut claims = BTreeMap::new();
        for ext in tbs.extensions().map(|e| e.as_slice()).unwrap_or_default() {
            let oid = ext.extn_id.to_string();
            let value = ext.extn_value.as_bytes();
            if oid == OID_PRECERT_POISON {
                return Err(CertError::Precertificate);
            }
            if oid == OID_SAN {
                let names = x509_cert::ext::pkix::SubjectAltName::from_der(value)
                    .map_err(|e| CertError::malformed("subjectAltName", e))?;
                for n in names.0 {
                    match n {
                        GeneralName::Rfc822Name(s) => sans.push(San::Email(s.to_string())),
                        GeneralName::UniformResourceIdentifier(s) => {
                            sans.push(San::Uri(s.to_string()));
                        }
                        GeneralName::OtherName(o)
                            if o.type_id.to_string() == OID_USERNAME_OTHERNAME =>
                        {
                            let s = o
                                .value
                                .decode_as::<Utf8StringRef<'_>>()
                                .map_err(|e| CertError::malformed("otherName username", e))?;
                            sans.push(San::Username(s.as_str().to_owned()));
                        }
                        _ => {}
                    }
                }
                continue;
            }
            let Some(arc) = oid
                .strip_prefix(FULCIO_ARC)
                .and_then(|a| a.parse::<u32>().ok())
            else {
                continue;
            };
            let Some((_, name)) = CLAIMS.iter().find(|(n, _)| *n == arc) else {
                continue;
            };
            let text = if arc <= 6 {
                utf8_raw(value, &format!("extension {oid}"))?
            } else {
                Utf8StringRef::from_der(value)
                    .map_err(|e| {
                        CertError::malformed(
                            format!("extension {oid}"),
                            format!("not a DER UTF8String: {e}"),
                        )
                    })?
                    .as_str()
                    .to_owned()
            };
            match arc {
                1 => issuer_v1 = Some(text),
                8 => issuer_v2 = Some(text),
                _ => {
                    claims.insert((*name).to_owned(), text);
                }
            }
        }
        let issuer = issuer_v2.or(issuer_v1);
        if let Some(i) = &issuer {
            claims.insert("issuer".into(), i.clone());
        }
        Ok(Self {
            der: der.to_vec(),
            not_before: secs(validity.not_before),
            not_after: secs(validity.not_after),
            sans,
            issuer,
            claims,
            public_key,
            issuer_name: tbs
                .issuer()
                .to_der()
                .map_err(|e| CertError::malformed("certificate issuer", e))?,
        })
    }

    /// Whether `t` (seconds) lies within the certificate's validity, ends included.
    pub fn valid_at(&self, t: i64) -> bool {
        self.not_before <= t && t <= self.not_after
    }

    /// The first SAN value, for messages.
    pub fn subject(&self) -> &str {
        self.sans.first().map_or("", San::value)
    }
}

/// Finds the certificate among `candidates` whose subject is `leaf`'s issuer.
pub fn find_issuer<'a>(leaf: &SigningCert, candidates: &'a [Vec<u8>]) -> Option<&'a [u8]> {
    candidates.iter().map(Vec::as_slice).find(|c| {
        Certificate::from_der(c)
            .ok()
            .and_then(|c| c.tbs_certificate().subject().to_der().ok())
            .is_some_and(|s| s == leaf.issuer_name)
    })
}

/// One decoded SCT (RFC 6962 §3.2).
struct Sct<'a> {
    log_id: &'a [u8],
    timestamp_ms: u64,
    extensions: &'a [u8],
    signature: &'a [u8],
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, rest) = buf.split_at_checked(n)?;
    *buf = rest;
    Some(head)
}

fn int(buf: &mut &[u8], n: usize) -> Option<u64> {
    take(buf, n).map(|b| b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
}

fn parse_sct(mut b: &[u8]) -> Option<Sct<'_>> {
    let version = int(&mut b, 1)?;
    if version != 0 {
        return None;
    }
    let log_id = take(&mut b, 32)?;
    let timestamp_ms = int(&mut b, 8)?;
    let ext_len = usize::try_from(int(&mut b, 2)?).ok()?;
    let extensions = take(&mut b, ext_len)?;
    let _hash = int(&mut b, 1)?;
    let _sig_alg = int(&mut b, 1)?;
    let sig_len = usize::try_from(int(&mut b, 2)?).ok()?;
    let signature = take(&mut b, sig_len)?;
    b.is_empty().then_some(Sct {
        log_id,
        timestamp_ms,
        extensions,
        signature,
    })
}

fn der_len(n: usize, out: &mut Vec<u8>) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    der_len(content.len(), &mut out);
    out.extend_from_slice(content);
    out
}

/// The leaf's TBSCertificate with the SCT list extension removed (what the CT log signed),
/// and the SCT list extension's value.
fn precert_tbs(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CertError> {
    let bad = |e: der::Error| CertError::malformed("certificate", e);
    let cert = der::AnyRef::from_der(der).map_err(bad)?;
    let mut outer = der::SliceReader::new(cert.value()).map_err(bad)?;
    let tbs = <der::AnyRef<'_> as der::Decode>::decode(&mut outer).map_err(bad)?;
    let mut fields = der::SliceReader::new(tbs.value()).map_err(bad)?;
    let mut content = Vec::new();
    let mut sct_list = None;
    while !der::Reader::is_finished(&fields) {
        let field = <der::AnyRef<'_> as der::Decode>::decode(&mut fields).map_err(bad)?;
        // [3] EXPLICIT Extensions
        let ext_tag = der::Tag::ContextSpecific {
            constructed: true,
            number: der::TagNumber(3),
        };
        if der::Tagged::tag(&field) == ext_tag {
            let exts = Vec::<x509_cert::ext::Extension>::from_der(field.value()).map_err(bad)?;
            let (scts, kept): (Vec<_>, Vec<_>) = exts
                .into_iter()
                .partition(|e| e.extn_id.to_string() == OID_SCT_LIST);
            sct_list = scts.into_iter().next().map(|e| e.extn_value);
            let seq = kept.to_der().map_err(bad)?;
            content.extend(tlv(0xa3, &seq));
        } else {
            content.extend(field.to_der().map_err(bad)?);
        }
    }
    let list = sct_list.ok_or(CertError::NoSct)?;
    let inner = OctetString::from_der(list.as_bytes())
        .map_err(|e| CertError::malformed("SCT list extension", e))?;
    Ok((tlv(0x30, &content), inner.as_bytes().to_vec()))
}

/// Verifies the embedded SCTs of `leaf` (issued by the certificate whose SPKI DER is
/// `issuer_spki`) against the trusted root's CT logs: at least one SCT must be signed by a CT
/// log key valid at the SCT's time.
///
/// # Errors
/// No SCT, an SCT from an unknown log, or none verifying (each reason listed).
pub fn verify_scts(leaf: &[u8], issuer_spki: &[u8], root: &TrustedRoot) -> Result<(), CertError> {
    let (tbs, list) = precert_tbs(leaf)?;
    let mut b = list.as_slice();
    let total = int(&mut b, 2).and_then(|n| usize::try_from(n).ok());
    if total != Some(b.len()) {
        return Err(CertError::SctList(
            "SCT list length does not match its content",
        ));
    }
    let issuer_key_hash = sha256(issuer_spki);
    let tbs_len = u32::try_from(tbs.len()).unwrap_or(u32::MAX);
    if tbs_len >= 1 << 24 {
        return Err(CertError::SctList("certificate too large for an SCT"));
    }
    let mut problems = Vec::new();
    while !b.is_empty() {
        let Some(item) = int(&mut b, 2)
            .and_then(|n| usize::try_from(n).ok())
            .and_then(|n| take(&mut b, n))
        else {
            return Err(CertError::SctList("SCT list is truncated"));
        };
        let Some(sct) = parse_sct(item) else {
            problems.push("an SCT does not decode".to_owned());
            continue;
        };
        let Some(log) = root.ctlog(sct.log_id) else {
            problems.push(format!(
                "SCT from CT log {} which {} does not trust",
                hex::encode(sct.log_id),
                root.origin
            ));
            continue;
        };
        let when = i64::try_from(sct.timestamp_ms / 1000).unwrap_or(i64::MAX);
        if !log.valid_for.contains(when) {
            problems.push(format!(
                "SCT time {} is outside the validity of CT log {}",
                crate::base::time::format_rfc3339(when),
                log.base_url
            ));
            continue;
        }
        let mut signed = Vec::with_capacity(tbs.len() + 64);
        signed.extend([0u8, 0u8]); // v1, certificate_timestamp
        signed.extend(sct.timestamp_ms.to_be_bytes());
        signed.extend([0u8, 1u8]); // precert_entry
        signed.extend(issuer_key_hash);
        signed.extend(tbs_len.to_be_bytes().get(1..).unwrap_or_default());
        signed.extend(&tbs);
        signed.extend(
            u16::try_from(sct.extensions.len())
                .unwrap_or(u16::MAX)
                .to_be_bytes(),
        );
        signed.extend(sct.extensions);
        match log.key.verify(&signed, sct.signature) {
            Ok(()) => return Ok(()),
            Err(e) => problems.push(format!("SCT by CT log {}: {e}", log.base_url)),
        }
    }
    Err(CertError::SctUnverified(problems))
}
