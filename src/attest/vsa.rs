//! Verification summaries (issue 16's core, pure): an in-toto Statement v1 with the SLSA
//! VSA v1 predicate (`https://slsa.dev/verification_summary/v1`) saying that a revision's
//! images passed, signed as a DSSE envelope, and read back with the checks
//! `verify-promotion` needs. Not wired to a front end yet.
//!
//! Shape (VSA v1 fields):
//! * `subject`: every image (`name` = repository, `digest` = {algorithm: hex}) plus the
//!   promotion commit (`name` = `git+<url>`, `digest` = `{gitCommit: sha}`);
//! * `verifier.id`, `timeVerified` (RFC 3339), `resourceUri` = `git+<source url>@<commit>`;
//! * `policy`: VSA has **one** policy descriptor, so it names the policy set: `uri`
//!   [`POLICY_SET_URI`], `digest.sha256` = the set's digest (as in the report), and each
//!   policy (name, sha256) in `annotations.policies`;
//! * `inputAttestations`: the signatures and attestations that counted (`uri`, `digest`);
//! * `verificationResult: PASSED` (a summary is only ever written for a revision that passed).
//!
//! [`check_promotion`] is what `sealgate verify-promotion` decides once it has the commit's
//! note and its manifests' image references.

use serde_json::{Value, json};

use crate::attest::{IN_TOTO_PAYLOAD_TYPE, STATEMENT_V1, envelope, verify_envelope};
use crate::base::reference::Digest;
use crate::crypto::{PrivateKey, PublicKey};

pub const PREDICATE: &str = "https://slsa.dev/verification_summary/v1";
pub const POLICY_SET_URI: &str = "https://sealgate.dev/policy-set";

/// A policy that applied: its name and the sha256 of its document (as in the report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRef {
    pub name: String,
    pub sha256: String,
}

/// A signature or attestation that counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRef {
    pub uri: String,
    pub sha256: String,
}

/// What a summary says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub verifier_id: String,
    /// Seconds since the epoch.
    pub time_verified: i64,
    /// The source repository URL and the verified commit.
    pub source: (String, String),
    /// The digest of the policy set (`policy::digest`).
    pub policy_set_sha256: String,
    pub policies: Vec<PolicyRef>,
    pub inputs: Vec<InputRef>,
    /// (repository, digest) of every image the revision references.
    pub images: Vec<(String, Digest)>,
    /// The promotion commit: (deploy repository URL, commit sha).
    pub promotion: Option<(String, String)>,
}

/// Why a summary does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VsaError {
    #[error(
        "the envelope's signature does not verify with the key (or it is no in-toto DSSE envelope)"
    )]
    BadSignature,
    #[error("not a verification summary: {0}")]
    NotASummary(String),
    #[error("the summary's result is {0:?}, not PASSED")]
    NotPassed(String),
    #[error("signing failed: {0}")]
    Sign(String),
}

impl Summary {
    /// The in-toto statement.
    pub fn statement(&self) -> Value {
        let mut subjects: Vec<Value> = self
            .images
            .iter()
            .map(|(repo, d)| json!({"name": repo, "digest": {algorithm(d): d.hex()}}))
            .collect();
        if let Some((url, sha)) = &self.promotion {
            subjects.push(json!({"name": format!("git+{url}"), "digest": {"gitCommit": sha}}));
        }
        json!({
            "_type": STATEMENT_V1,
            "subject": subjects,
            "predicateType": PREDICATE,
            "predicate": {
                "verifier": {"id": self.verifier_id},
                "timeVerified": crate::base::time::format_rfc3339(self.time_verified),
                "resourceUri": format!("git+{}@{}", self.source.0, self.source.1),
                "policy": {
                    "uri": POLICY_SET_URI,
                    "digest": {"sha256": self.policy_set_sha256},
                    "annotations": {
                        "policies": self.policies.iter()
                            .map(|p| json!({"name": p.name, "sha256": p.sha256}))
                            .collect::<Vec<_>>(),
                    },
                },
                "inputAttestations": self.inputs.iter()
                    .map(|i| json!({"uri": i.uri, "digest": {"sha256": i.sha256}}))
                    .collect::<Vec<_>>(),
                "verificationResult": "PASSED",
            },
        })
    }

    /// The DSSE envelope (cosign's byte layout) over the statement, signed with `key`.
    ///
    /// # Errors
    /// [`VsaError::Sign`].
    pub fn sign(&self, key: &PrivateKey) -> Result<Vec<u8>, VsaError> {
        let body =
            serde_json::to_vec(&self.statement()).map_err(|e| VsaError::Sign(e.to_string()))?;
        envelope(key, &body).map_err(|e| VsaError::Sign(e.to_string()))
    }

    /// Verifies `envelope` with `key` and reads the summary.
    ///
    /// # Errors
    /// [`VsaError`]: a signature that does not verify, another statement, a result other
    /// than PASSED.
    pub fn open(envelope: &[u8], key: &PublicKey) -> Result<Self, VsaError> {
        let body = verify_envelope(envelope, key).ok_or(VsaError::BadSignature)?;
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| VsaError::NotASummary(format!("payload is not JSON: {e}")))?;
        Self::from_statement(&v)
    }

    /// Reads a statement (its signature already checked).
    ///
    /// # Errors
    /// [`VsaError::NotASummary`], [`VsaError::NotPassed`].
    pub fn from_statement(v: &Value) -> Result<Self, VsaError> {
        let bad = |m: &str| VsaError::NotASummary(m.to_string());
        if v["_type"] != STATEMENT_V1 {
            return Err(bad("not an in-toto Statement v1"));
        }
        if v["predicateType"] != PREDICATE {
            return Err(bad("predicateType is not the SLSA VSA v1"));
        }
        let p = &v["predicate"];
        let result = p["verificationResult"].as_str().unwrap_or("");
        if result != "PASSED" {
            return Err(VsaError::NotPassed(result.to_string()));
        }
        let s = |x: &Value, what: &str| {
            x.as_str()
                .map(str::to_string)
                .ok_or_else(|| bad(&format!("no {what}")))
        };
        let time_verified =
            crate::base::time::parse_rfc3339(&s(&p["timeVerified"], "timeVerified")?)
                .map_err(|e| bad(&format!("timeVerified: {e}")))?;
        let resource = s(&p["resourceUri"], "resourceUri")?;
        let source = resource
            .strip_prefix("git+")
            .and_then(|r| r.rsplit_once('@'))
            .map(|(u, c)| (u.to_string(), c.to_string()))
            .ok_or_else(|| bad("resourceUri is not git+URL@COMMIT"))?;
        let mut images = Vec::new();
        let mut promotion = None;
        for sub in v["subject"].as_array().ok_or_else(|| bad("no subject"))? {
            let name = s(&sub["name"], "subject name")?;
            let digests = sub["digest"]
                .as_object()
                .ok_or_else(|| bad("a subject without digest"))?;
            if let Some(url) = name.strip_prefix("git+") {
                let sha = digests
                    .get("gitCommit")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("a git subject without gitCommit"))?;
                promotion = Some((url.to_string(), sha.to_string()));
                continue;
            }
            for (alg, hex) in digests {
                let hex = hex
                    .as_str()
                    .ok_or_else(|| bad("a digest that is not a string"))?;
                let d = Digest::parse(&format!("{alg}:{hex}"))
                    .map_err(|e| bad(&format!("subject {name}: {e}")))?;
                images.push((name.clone(), d));
            }
        }
        let list = |x: &Value| x.as_array().cloned().unwrap_or_default();
        let policies = list(&p["policy"]["annotations"]["policies"])
            .iter()
            .map(|x| {
                Ok(PolicyRef {
                    name: s(&x["name"], "policy name")?,
                    sha256: s(&x["sha256"], "policy sha256")?,
                })
            })
            .collect::<Result<_, VsaError>>()?;
        let inputs = list(&p["inputAttestations"])
            .iter()
            .map(|x| {
                Ok(InputRef {
                    uri: s(&x["uri"], "input uri")?,
                    sha256: s(&x["digest"]["sha256"], "input sha256")?,
                })
            })
            .collect::<Result<_, VsaError>>()?;
        Ok(Self {
            verifier_id: s(&p["verifier"]["id"], "verifier.id")?,
            time_verified,
            source,
            policy_set_sha256: s(&p["policy"]["digest"]["sha256"], "policy digest")?,
            policies,
            inputs,
            images,
            promotion,
        })
    }

    /// Whether the summary covers `repository@digest`.
    pub fn covers(&self, repository: &str, digest: &Digest) -> bool {
        self.images
            .iter()
            .any(|(r, d)| r == repository && d == digest)
    }
}

/// Why a promotion commit is not verified by its summary (`sealgate verify-promotion`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotVerified {
    #[error("the commit has no verification summary (no note in refs/notes/sealgate)")]
    NoSummary,
    #[error("{0}")]
    Summary(VsaError),
    #[error("the summary is for commit {found}, not {commit}")]
    CommitMismatch { commit: String, found: String },
    #[error("the summary was checked against policy set sha256:{found}, not {wanted}")]
    PolicyDigestDiffers { wanted: String, found: String },
    #[error("{image} is not pinned to a digest")]
    NotPinned { image: String },
    #[error("{image} is not covered by the summary")]
    NotCovered { image: String },
    #[error("the manifests could not all be read: {0}")]
    Unreadable(String),
}

impl NotVerified {
    /// The reason code (`-o json`, the printed reason).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoSummary => "NoSummary",
            Self::Summary(VsaError::BadSignature) => "BadSignature",
            Self::Summary(_) => "NotASummary",
            Self::CommitMismatch { .. } => "CommitMismatch",
            Self::PolicyDigestDiffers { .. } => "PolicyDigestDiffers",
            Self::NotPinned { .. } => "ImageNotPinned",
            Self::NotCovered { .. } => "ImageNotCovered",
            Self::Unreadable(_) => "ManifestUnreadable",
        }
    }
}

/// Whether `summary` (its signature already checked) verifies the promotion commit
/// `commit`: its commit subject is `commit`, its policy set is `policy_digest` when one is
/// required (`sha256:<hex>` or `<hex>`), and every image reference written in the
/// commit's manifests is pinned to a digest the summary lists for that repository.
///
/// # Errors
/// The first [`NotVerified`] reason.
pub fn check_promotion(
    summary: &Summary,
    commit: &str,
    images: &[String],
    policy_digest: Option<&str>,
) -> Result<(), NotVerified> {
    let found = summary.promotion.as_ref().map(|(_, c)| c.as_str());
    if found != Some(commit) {
        return Err(NotVerified::CommitMismatch {
            commit: commit.to_string(),
            found: found.unwrap_or("(no commit subject)").to_string(),
        });
    }
    if let Some(want) = policy_digest {
        let hex = want.trim().trim_start_matches("sha256:");
        if !hex.eq_ignore_ascii_case(&summary.policy_set_sha256) {
            return Err(NotVerified::PolicyDigestDiffers {
                wanted: want.to_string(),
                found: summary.policy_set_sha256.clone(),
            });
        }
    }
    for written in images {
        let r = crate::base::reference::ImageRef::parse(written).map_err(|_| {
            NotVerified::NotPinned {
                image: written.clone(),
            }
        })?;
        let Some(d) = r.digest() else {
            return Err(NotVerified::NotPinned {
                image: written.clone(),
            });
        };
        if !summary.covers(&r.name(), d) {
            return Err(NotVerified::NotCovered {
                image: written.clone(),
            });
        }
    }
    Ok(())
}

fn algorithm(d: &Digest) -> String {
    d.to_string()
        .split(':')
        .next()
        .unwrap_or("sha256")
        .to_string()
}

/// The payload type of summary envelopes.
pub const PAYLOAD_TYPE: &str = IN_TOTO_PAYLOAD_TYPE;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use base64::Engine as _;

    fn digest(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    fn summary() -> Summary {
        Summary {
            verifier_id: "https://sealgate.dev/gate/prod".into(),
            time_verified: 1_780_000_000,
            source: ("https://git.example/acme/app.git".into(), "a".repeat(40)),
            policy_set_sha256: "b".repeat(64),
            policies: vec![PolicyRef {
                name: "prod".into(),
                sha256: "c".repeat(64),
            }],
            inputs: vec![InputRef {
                uri: "oci://ghcr.io/acme/web@sha256:dd".into(),
                sha256: "d".repeat(64),
            }],
            images: vec![
                ("ghcr.io/acme/web".into(), digest('1')),
                ("ghcr.io/acme/api".into(), digest('2')),
            ],
            promotion: Some(("https://git.example/acme/deploy.git".into(), "e".repeat(40))),
        }
    }

    #[test]
    fn signs_and_reads_back_what_it_said() {
        let key = PrivateKey::generate_p256().unwrap();
        let env = summary().sign(&key).unwrap();
        let back = Summary::open(&env, &key.public_key()).unwrap();
        assert_eq!(back, summary());
        assert!(back.covers("ghcr.io/acme/web", &digest('1')));
        assert!(!back.covers("ghcr.io/acme/web", &digest('2')));
        let other = PrivateKey::generate_p256().unwrap();
        assert_eq!(
            Summary::open(&env, &other.public_key()),
            Err(VsaError::BadSignature)
        );
    }

    #[test]
    fn the_sigstore_crate_verifies_the_envelope_over_the_pae() {
        // an independent check: the PAE computed here from the DSSE spec, the signature
        // verified by the sigstore crate's verification key
        let key = PrivateKey::generate_p256().unwrap();
        let env: Value = serde_json::from_slice(&summary().sign(&key).unwrap()).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let body = b64.decode(env["payload"].as_str().unwrap()).unwrap();
        let mut pae = format!(
            "DSSEv1 {} {} {} ",
            PAYLOAD_TYPE.len(),
            PAYLOAD_TYPE,
            body.len()
        )
        .into_bytes();
        pae.extend_from_slice(&body);
        let sig = b64
            .decode(env["signatures"][0]["sig"].as_str().unwrap())
            .unwrap();
        let vk = sigstore::crypto::CosignVerificationKey::from_pem(
            key.public_key().to_pem().as_bytes(),
            &sigstore::crypto::SigningScheme::ECDSA_P256_SHA256_ASN1,
        )
        .unwrap();
        vk.verify_signature(sigstore::crypto::Signature::Raw(&sig), &pae)
            .unwrap();
        let statement: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(statement["predicateType"], PREDICATE);
        assert_eq!(statement["predicate"]["verificationResult"], "PASSED");
        assert_eq!(
            statement["subject"][2],
            json!({"name": "git+https://git.example/acme/deploy.git", "digest": {"gitCommit": "e".repeat(40)}})
        );
        assert_eq!(
            statement["predicate"]["resourceUri"],
            format!("git+https://git.example/acme/app.git@{}", "a".repeat(40))
        );
    }

    #[test]
    fn a_promotion_is_checked_against_commit_policy_and_every_image() {
        let s = summary();
        let commit = "e".repeat(40);
        let web = format!("ghcr.io/acme/web:1.0@{}", digest('1'));
        let api = format!("ghcr.io/acme/api@{}", digest('2'));
        assert_eq!(
            check_promotion(&s, &commit, &[web.clone(), api.clone()], None),
            Ok(())
        );
        let policy = format!("sha256:{}", "b".repeat(64));
        assert_eq!(
            check_promotion(&s, &commit, std::slice::from_ref(&web), Some(&policy)),
            Ok(())
        );
        let other = format!("sha256:{}", "f".repeat(64));
        let r = check_promotion(&s, &commit, std::slice::from_ref(&web), Some(&other)).unwrap_err();
        assert_eq!(r.code(), "PolicyDigestDiffers");
        let r = check_promotion(&s, &"0".repeat(40), std::slice::from_ref(&web), None).unwrap_err();
        assert_eq!(r.code(), "CommitMismatch");
        let moved = format!("ghcr.io/acme/web@{}", digest('3'));
        let r = check_promotion(&s, &commit, &[web.clone(), moved.clone()], None).unwrap_err();
        assert_eq!(r, NotVerified::NotCovered { image: moved });
        // the digest of another repository does not cover this one
        let swapped = format!("ghcr.io/acme/web@{}", digest('2'));
        assert_eq!(
            check_promotion(&s, &commit, &[swapped], None)
                .unwrap_err()
                .code(),
            "ImageNotCovered"
        );
        let r = check_promotion(&s, &commit, &["ghcr.io/acme/web:1.0".into()], None).unwrap_err();
        assert_eq!(r.code(), "ImageNotPinned");
        let mut none = s.clone();
        none.promotion = None;
        assert_eq!(
            check_promotion(&none, &commit, &[], None)
                .unwrap_err()
                .code(),
            "CommitMismatch"
        );
    }

    #[test]
    fn another_statement_or_result_is_refused() {
        let mut s = summary().statement();
        s["predicate"]["verificationResult"] = json!("FAILED");
        assert_eq!(
            Summary::from_statement(&s),
            Err(VsaError::NotPassed("FAILED".into()))
        );
        let mut s = summary().statement();
        s["predicateType"] = json!("https://slsa.dev/provenance/v1");
        assert!(matches!(
            Summary::from_statement(&s),
            Err(VsaError::NotASummary(_))
        ));
        let mut s = summary().statement();
        s["subject"][0]["digest"] = json!({"sha256": "zz"});
        assert!(matches!(
            Summary::from_statement(&s),
            Err(VsaError::NotASummary(_))
        ));
    }
}
