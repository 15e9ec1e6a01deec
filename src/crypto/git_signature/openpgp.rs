//! OpenPGP detached signatures and public keys.

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{PublicKey as PgpPublicKey, PublicSubkey, RevocationCode, Signature};
use pgp::packet::{SignatureType, SignatureVersion, SubpacketData};
use pgp::types::{Fingerprint, KeyDetails, KeyId, Tag};

use super::*;

/// OpenPGP public keys (transferable public keys, "certificates"), parsed from one or more
/// ASCII-armored `PGP PUBLIC KEY BLOCK`s, each possibly holding several keys.
///
/// Self-signatures (user ID certifications, direct-key signatures, revocations, subkey
/// bindings and their back-signatures) are checked once, at parse time; those that do not
/// verify are dropped. A key with no valid self-signature at all is an error. The same key
/// given more than once is merged (so a revocation in any copy applies).
#[derive(Debug, Clone, Default)]
pub struct OpenPgpKeys {
    pub(super) certs: Vec<Cert>,
}

#[derive(Debug, Clone)]
pub(super) struct Cert {
    pub(super) key: PgpPublicKey,
    pub(super) fingerprint: Fingerprint,
    pub(super) created: i64,
    pub(super) direct: Vec<SelfSig>,
    pub(super) revocations: Vec<Revocation>,
    pub(super) user_ids: Vec<UserIdBinding>,
    pub(super) subkeys: Vec<SubkeyBinding>,
}

#[derive(Debug, Clone)]
pub(super) struct UserIdBinding {
    pub(super) id: String,
    pub(super) certifications: Vec<SelfSig>,
    pub(super) revocations: Vec<Revocation>,
}

#[derive(Debug, Clone)]
pub(super) struct SubkeyBinding {
    pub(super) key: PublicSubkey,
    pub(super) fingerprint: Fingerprint,
    pub(super) created: i64,
    pub(super) bindings: Vec<SelfSig>,
    pub(super) revocations: Vec<Revocation>,
}

/// What a verified self-signature says.
#[derive(Debug, Clone, Copy)]
pub(super) struct SelfSig {
    pub(super) created: i64,
    /// Seconds after the key's creation at which it expires (`None`: never).
    pub(super) key_expiry: Option<i64>,
    /// When the self-signature itself stops being valid.
    pub(super) expires: Option<i64>,
    /// `Some(can sign)` when a key flags subpacket is present.
    pub(super) can_sign: Option<bool>,
    pub(super) primary_user_id: bool,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Revocation {
    pub(super) created: i64,
    /// Hard revocations (no reason, compromised, unknown) apply regardless of time.
    pub(super) hard: bool,
}

impl OpenPgpKeys {
    /// Parses ASCII-armored public key blocks (one or more keys per block). The error names
    /// the (1-based) block.
    pub fn parse_armored(blocks: &[String]) -> Result<Self, SignatureError> {
        let mut keys = OpenPgpKeys::default();
        for (index, text) in blocks.iter().enumerate() {
            let block = index + 1;
            let err = |detail: String| SignatureError::OpenPgpKey { block, detail };
            let (parsed, _headers) = SignedPublicKey::from_string_many(text)
                .map_err(|e| err(format!("not an armored public key block: {e}")))?;
            let mut count = 0usize;
            for key in parsed {
                let key = key.map_err(|e| err(format!("malformed public key: {e}")))?;
                let cert = Cert::from_signed(&key).map_err(err)?;
                keys.add(cert);
                count += 1;
            }
            if count == 0 {
                return Err(err("no public key in the block".into()));
            }
        }
        Ok(keys)
    }

    /// The primary key fingerprints (uppercase hex), in the order given.
    pub fn fingerprints(&self) -> Vec<String> {
        self.certs.iter().map(|c| hex_fpr(&c.fingerprint)).collect()
    }

    /// How many distinct keys there are.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Whether there is no key.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    fn add(&mut self, cert: Cert) {
        match self
            .certs
            .iter_mut()
            .find(|c| c.fingerprint == cert.fingerprint)
        {
            Some(existing) => existing.merge(cert),
            None => self.certs.push(cert),
        }
    }
}

pub(super) fn hex_fpr(fingerprint: &Fingerprint) -> String {
    format!("{fingerprint:X}")
}

pub(super) fn timestamp(sig: &Signature) -> Option<i64> {
    sig.created().map(|t| i64::from(t.as_secs()))
}

pub(super) fn self_sig(sig: &Signature) -> Option<SelfSig> {
    let created = timestamp(sig)?;
    let config = sig.config()?;
    let can_sign = config.hashed_subpackets().find_map(|p| match &p.data {
        SubpacketData::KeyFlags(flags) => Some(flags.sign()),
        _ => None,
    });
    let key_expiry = sig
        .key_expiration_time()
        .map(|d| i64::from(d.as_secs()))
        .filter(|&d| d > 0);
    let expires = sig
        .signature_expiration_time()
        .map(|d| i64::from(d.as_secs()))
        .filter(|&d| d > 0)
        .map(|d| created.saturating_add(d));
    Some(SelfSig {
        created,
        key_expiry,
        expires,
        can_sign,
        primary_user_id: sig.is_primary(),
    })
}

pub(super) fn revocation(sig: &Signature) -> Option<Revocation> {
    let created = timestamp(sig)?;
    let hard = !matches!(
        sig.revocation_reason_code(),
        Some(
            RevocationCode::KeySuperseded
                | RevocationCode::KeyRetired
                | RevocationCode::CertUserIdInvalid
        )
    );
    Some(Revocation { created, hard })
}

/// Whether `sig` names `key` as its issuer (or names no issuer at all).
pub(super) fn issued_by(sig: &Signature, key_id: &KeyId, fingerprint: &Fingerprint) -> bool {
    let ids = sig.issuer_key_id();
    let fprs = sig.issuer_fingerprint();
    (ids.is_empty() && fprs.is_empty()) || ids.contains(&key_id) || fprs.contains(&fingerprint)
}

impl Cert {
    fn from_signed(key: &SignedPublicKey) -> Result<Cert, String> {
        let primary = &key.primary_key;
        let fingerprint = primary.fingerprint();
        let key_id = primary.legacy_key_id();
        let fpr = hex_fpr(&fingerprint);
        let ours = |sig: &&Signature| issued_by(sig, &key_id, &fingerprint);

        let mut direct = Vec::new();
        for sig in key.details.direct_signatures.iter().filter(ours) {
            if sig.typ() == Some(SignatureType::Key)
                && sig.verify_key(primary).is_ok()
                && let Some(s) = self_sig(sig)
            {
                direct.push(s);
            }
        }
        let mut revocations = Vec::new();
        for sig in key.details.revocation_signatures.iter().filter(ours) {
            if sig.typ() == Some(SignatureType::KeyRevocation)
                && sig.verify_key(primary).is_ok()
                && let Some(r) = revocation(sig)
            {
                revocations.push(r);
            }
        }
        let mut user_ids = Vec::new();
        for user in &key.details.users {
            let mut binding = UserIdBinding {
                id: String::from_utf8_lossy(user.id.id()).into_owned(),
                certifications: Vec::new(),
                revocations: Vec::new(),
            };
            for sig in user.signatures.iter().filter(ours) {
                if sig
                    .verify_certification(primary, Tag::UserId, &user.id)
                    .is_err()
                {
                    continue;
                }
                if sig.typ() == Some(SignatureType::CertRevocation) {
                    binding.revocations.extend(revocation(sig));
                } else {
                    binding.certifications.extend(self_sig(sig));
                }
            }
            if !binding.certifications.is_empty() {
                user_ids.push(binding);
            }
        }
        let mut subkeys = Vec::new();
        for sub in &key.public_subkeys {
            let mut binding = SubkeyBinding {
                key: sub.key.clone(),
                fingerprint: sub.key.fingerprint(),
                created: i64::from(sub.key.created_at().as_secs()),
                bindings: Vec::new(),
                revocations: Vec::new(),
            };
            for sig in sub.signatures.iter().filter(ours) {
                if sig.verify_subkey_binding(primary, &sub.key).is_err() {
                    continue;
                }
                match sig.typ() {
                    Some(SignatureType::SubkeyRevocation) => {
                        binding.revocations.extend(revocation(sig));
                    }
                    Some(SignatureType::SubkeyBinding) => {
                        let Some(mut s) = self_sig(sig) else { continue };
                        if s.can_sign == Some(true) {
                            // A signing subkey must sign the primary back (primary key binding).
                            let back = sig.embedded_signature().is_some_and(|back| {
                                back.verify_primary_key_binding(&sub.key, primary).is_ok()
                            });
                            if !back {
                                s.can_sign = Some(false);
                            }
                        }
                        binding.bindings.push(s);
                    }
                    _ => {}
                }
            }
            if !binding.bindings.is_empty() {
                subkeys.push(binding);
            }
        }
        if direct.is_empty() && user_ids.is_empty() {
            return Err(format!("key {fpr} has no valid self-signature"));
        }
        Ok(Cert {
            key: primary.clone(),
            fingerprint,
            created: i64::from(primary.created_at().as_secs()),
            direct,
            revocations,
            user_ids,
            subkeys,
        })
    }

    fn merge(&mut self, other: Cert) {
        self.direct.extend(other.direct);
        self.revocations.extend(other.revocations);
        for uid in other.user_ids {
            match self.user_ids.iter_mut().find(|u| u.id == uid.id) {
                Some(u) => {
                    u.certifications.extend(uid.certifications);
                    u.revocations.extend(uid.revocations);
                }
                None => self.user_ids.push(uid),
            }
        }
        for sub in other.subkeys {
            match self
                .subkeys
                .iter_mut()
                .find(|s| s.fingerprint == sub.fingerprint)
            {
                Some(s) => {
                    s.bindings.extend(sub.bindings);
                    s.revocations.extend(sub.revocations);
                }
                None => self.subkeys.push(sub),
            }
        }
    }

    /// The user IDs that are bound and not revoked at `at`, with their newest certification.
    fn live_user_ids(&self, at: i64) -> Vec<(&UserIdBinding, SelfSig)> {
        self.user_ids
            .iter()
            .filter_map(|u| {
                let newest = newest_at(&u.certifications, at)?;
                let revoked = u
                    .revocations
                    .iter()
                    .any(|r| r.created <= at && r.created >= newest.created);
                (!revoked).then_some((u, newest))
            })
            .collect()
    }

    /// The primary key's own validity at `at`; on success, the binding self-signature and
    /// the name to show.
    fn judge_primary(&self, at: i64) -> Result<(SelfSig, String), String> {
        let fpr = hex_fpr(&self.fingerprint);
        if self.created > at {
            return Err(format!(
                "OpenPGP key {fpr} was created at {}, after {}",
                crate::base::time::format_rfc3339(self.created),
                crate::base::time::format_rfc3339(at)
            ));
        }
        if let Some(r) = revoked_at(&self.revocations, at) {
            return Err(format!("OpenPGP key {fpr} is revoked ({})", describe(r)));
        }
        let live = self.live_user_ids(at);
        let binding = live
            .iter()
            .map(|(_, s)| *s)
            .chain(newest_at(&self.direct, at))
            .max_by_key(|s| s.created)
            .ok_or_else(|| {
                format!(
                    "OpenPGP key {fpr} has no self-signature valid at {}",
                    crate::base::time::format_rfc3339(at)
                )
            })?;
        if let Some(expiry) = binding.key_expiry {
            let expires = self.created.saturating_add(expiry);
            if at >= expires {
                return Err(format!(
                    "OpenPGP key {fpr} expired at {}",
                    crate::base::time::format_rfc3339(expires)
                ));
            }
        }
        let name = live
            .iter()
            .filter(|(_, s)| s.primary_user_id)
            .max_by_key(|(_, s)| s.created)
            .or_else(|| live.first())
            .map(|(u, _)| u.id.clone())
            .unwrap_or(fpr);
        Ok((binding, name))
    }

    /// The signing subkey's validity at `at` (the primary's is checked separately).
    fn judge_subkey(&self, sub: &SubkeyBinding, at: i64) -> Result<(), String> {
        let fpr = hex_fpr(&sub.fingerprint);
        if sub.created > at {
            return Err(format!(
                "OpenPGP subkey {fpr} was created at {}, after {}",
                crate::base::time::format_rfc3339(sub.created),
                crate::base::time::format_rfc3339(at)
            ));
        }
        if let Some(r) = revoked_at(&sub.revocations, at) {
            return Err(format!("OpenPGP subkey {fpr} is revoked ({})", describe(r)));
        }
        let binding = newest_at(&sub.bindings, at).ok_or_else(|| {
            format!(
                "OpenPGP subkey {fpr} has no binding signature valid at {}",
                crate::base::time::format_rfc3339(at)
            )
        })?;
        if binding.can_sign != Some(true) {
            return Err(format!(
                "OpenPGP subkey {fpr} is not bound as a signing key (no sign flag or no valid back-signature)"
            ));
        }
        if let Some(expiry) = binding.key_expiry {
            let expires = sub.created.saturating_add(expiry);
            if at >= expires {
                return Err(format!(
                    "OpenPGP subkey {fpr} expired at {}",
                    crate::base::time::format_rfc3339(expires)
                ));
            }
        }
        Ok(())
    }
}

/// The newest self-signature made at or before `at` that has not itself expired by `at`.
pub(super) fn newest_at(sigs: &[SelfSig], at: i64) -> Option<SelfSig> {
    sigs.iter()
        .filter(|s| s.created <= at && s.expires.is_none_or(|e| at < e))
        .max_by_key(|s| s.created)
        .copied()
}

pub(super) fn revoked_at(revocations: &[Revocation], at: i64) -> Option<&Revocation> {
    revocations.iter().find(|r| r.hard || r.created <= at)
}

pub(super) fn describe(r: &Revocation) -> String {
    let kind = if r.hard { "hard" } else { "soft" };
    format!(
        "{kind} revocation made at {}",
        crate::base::time::format_rfc3339(r.created)
    )
}

/// Where a data signature's issuer points: a primary key or one of its subkeys.
#[derive(Clone, Copy)]
pub(super) struct Candidate<'a> {
    pub(super) cert: &'a Cert,
    pub(super) subkey: Option<&'a SubkeyBinding>,
}

impl Candidate<'_> {
    fn fingerprint(&self) -> String {
        match self.subkey {
            Some(sub) => hex_fpr(&sub.fingerprint),
            None => hex_fpr(&self.cert.fingerprint),
        }
    }

    fn verify(&self, sig: &Signature, data: &[u8]) -> bool {
        match self.subkey {
            Some(sub) => sig.verify(&sub.key, data).is_ok(),
            None => sig.verify(&self.cert.key, data).is_ok(),
        }
    }
}

pub(super) fn verify_openpgp(
    keys: Option<&OpenPgpKeys>,
    block: &[u8],
    signed_data: &[u8],
    at: i64,
) -> SignatureCheck {
    let sig = match parse_detached(block) {
        Ok(sig) => sig,
        Err(detail) => return SignatureCheck::invalid(detail),
    };
    let issuer = describe_issuer(&sig);
    if !matches!(sig.version(), SignatureVersion::V4 | SignatureVersion::V6) {
        return SignatureCheck::invalid(format!(
            "OpenPGP signature by {issuer} has unsupported version {:?}",
            sig.version()
        ));
    }
    if !matches!(sig.typ(), Some(SignatureType::Binary | SignatureType::Text)) {
        return SignatureCheck::invalid(format!(
            "OpenPGP signature by {issuer} is not a data signature (type {:?})",
            sig.typ()
        ));
    }
    match sig.hash_alg() {
        Some(HashAlgorithm::Md5 | HashAlgorithm::Sha1 | HashAlgorithm::Ripemd160) | None => {
            return SignatureCheck::invalid(format!(
                "OpenPGP signature by {issuer} uses a weak or unknown hash algorithm ({:?})",
                sig.hash_alg()
            ));
        }
        Some(_) => {}
    }
    let Some(keys) = keys else {
        return SignatureCheck::not_allowed(format!(
            "OpenPGP signature by {issuer}, but no OpenPGP keys are configured"
        ));
    };
    let candidates = candidates(keys, &sig);
    if candidates.is_empty() {
        return SignatureCheck::not_allowed(format!(
            "OpenPGP signature by {issuer}, which is not among the trusted keys"
        ));
    }
    let Some(signer) = candidates.iter().find(|c| c.verify(&sig, signed_data)) else {
        let tried: Vec<String> = candidates.iter().map(Candidate::fingerprint).collect();
        return SignatureCheck::invalid(format!(
            "OpenPGP signature does not verify over the signed data with key {}",
            tried.join(", ")
        ));
    };
    if let Some(created) = timestamp(&sig)
        && let Some(expiry) = sig.signature_expiration_time()
        && expiry.as_secs() > 0
        && at >= created.saturating_add(i64::from(expiry.as_secs()))
    {
        return SignatureCheck::invalid(format!(
            "OpenPGP signature by {} expired",
            signer.fingerprint()
        ));
    }
    let cert = signer.cert;
    let (binding, name) = match cert.judge_primary(at) {
        Ok(ok) => ok,
        Err(detail) => return SignatureCheck::not_allowed(detail),
    };
    let usable = match signer.subkey {
        Some(sub) => cert.judge_subkey(sub, at),
        None if binding.can_sign == Some(false) => Err(format!(
            "OpenPGP key {} is not certified for signing (key flags)",
            hex_fpr(&cert.fingerprint)
        )),
        None => Ok(()),
    };
    match usable {
        Ok(()) => SignatureCheck::Verified {
            signer: name,
            kind: SignatureKind::OpenPgp,
            fingerprint: hex_fpr(&cert.fingerprint),
        },
        Err(detail) => SignatureCheck::not_allowed(detail),
    }
}

pub(super) fn parse_detached(block: &[u8]) -> Result<Signature, String> {
    let text = std::str::from_utf8(block)
        .map_err(|_| "OpenPGP signature armor is not valid UTF-8".to_string())?;
    let (sigs, _headers) = DetachedSignature::from_string_many(text)
        .map_err(|e| format!("malformed OpenPGP signature: {e}"))?;
    let mut found = None;
    for sig in sigs {
        let sig = sig.map_err(|e| format!("malformed OpenPGP signature: {e}"))?;
        if found.is_some() {
            return Err("more than one OpenPGP signature in the block is not supported".into());
        }
        found = Some(sig.signature);
    }
    found.ok_or_else(|| "no OpenPGP signature packet in the block".to_string())
}

pub(super) fn describe_issuer(sig: &Signature) -> String {
    if let Some(fpr) = sig.issuer_fingerprint().first() {
        return format!("key {}", hex_fpr(fpr));
    }
    if let Some(id) = sig.issuer_key_id().first() {
        return format!("key ID {}", id.to_string().to_ascii_uppercase());
    }
    "an unnamed key".into()
}

/// Keys (primary or subkey) the signature's issuer subpackets point at; with no issuer
/// subpacket at all, every key.
pub(super) fn candidates<'a>(keys: &'a OpenPgpKeys, sig: &Signature) -> Vec<Candidate<'a>> {
    let fprs = sig.issuer_fingerprint();
    let ids = sig.issuer_key_id();
    let anonymous = fprs.is_empty() && ids.is_empty();
    let matches =
        |fpr: &Fingerprint, id: KeyId| anonymous || fprs.contains(&fpr) || ids.contains(&&id);
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for cert in &keys.certs {
        if matches(&cert.fingerprint, cert.key.legacy_key_id())
            && seen.insert(hex_fpr(&cert.fingerprint))
        {
            out.push(Candidate { cert, subkey: None });
        }
        for sub in &cert.subkeys {
            if matches(&sub.fingerprint, sub.key.legacy_key_id())
                && seen.insert(hex_fpr(&sub.fingerprint))
            {
                out.push(Candidate {
                    cert,
                    subkey: Some(sub),
                });
            }
        }
    }
    out
}
