//! Real signatures (ssh-keygen, gpg, git) through sealgate's signature module.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::gitsig;
use common::gitsig::{GitRepo, GpgHome, SshKey, now, ssh_keygen, write_allowed_signers};
use sealgate::crypto::git_signature::{
    AllowedSigners, OpenPgpKeys, SignatureCheck, SignatureKind, SignerTrust, split_tag, verify,
};
use std::path::Path;

const PRINCIPAL: &str = "alice@example.com";
const DAY: i64 = 86_400;

/// (signature, signed data, committer time) of a commit, as the integrator gets them.
fn commit_signature(repo: &GitRepo, id: &str) -> (Vec<u8>, Vec<u8>, i64) {
    let git = git2::Repository::open(&repo.dir).unwrap();
    let oid = git2::Oid::from_str(id).unwrap();
    let (sig, data) = git.extract_signature(&oid, None).unwrap();
    let time = git.find_commit(oid).unwrap().time().seconds();
    (sig.to_vec(), data.to_vec(), time)
}

fn ssh_trust(lines: &[String]) -> SignerTrust {
    SignerTrust {
        ssh: Some(AllowedSigners::parse(&lines.join("\n")).unwrap()),
        openpgp: None,
    }
}

fn pgp_trust(blocks: &[String]) -> SignerTrust {
    SignerTrust {
        ssh: None,
        openpgp: Some(OpenPgpKeys::parse_armored(blocks).unwrap()),
    }
}

fn assert_not_allowed(check: &SignatureCheck, needle: &str) {
    match check {
        SignatureCheck::SignerNotAllowed { detail } => {
            assert!(detail.contains(needle), "{detail:?} lacks {needle:?}")
        }
        other => panic!("expected SignerNotAllowed({needle}), got {other:?}"),
    }
}

fn assert_invalid(check: &SignatureCheck, needle: &str) {
    match check {
        SignatureCheck::Invalid { detail } => {
            assert!(detail.contains(needle), "{detail:?} lacks {needle:?}")
        }
        other => panic!("expected Invalid({needle}), got {other:?}"),
    }
}

/// Flip and truncate the binary inside an armored block; nothing may verify or panic.
/// Byte ranges of a binary OpenPGP v4 signature packet that the signature does not cover:
/// the unhashed subpacket area and the MPI bit counts (rpgp reads MPIs by byte length).
fn pgp_unprotected(binary: &[u8]) -> Vec<std::ops::Range<usize>> {
    let tag = binary[0];
    assert!(
        tag & 0x40 == 0,
        "old-format packet header expected from gpg"
    );
    let header = 1 + match tag & 3 {
        0 => 1,
        1 => 2,
        2 => 4,
        _ => 0,
    };
    let body = header;
    assert_eq!(binary[body], 4, "v4 signature");
    let hashed_len = usize::from(u16::from_be_bytes([binary[body + 4], binary[body + 5]]));
    let unhashed_at = body + 6 + hashed_len;
    let unhashed_len = usize::from(u16::from_be_bytes([
        binary[unhashed_at],
        binary[unhashed_at + 1],
    ]));
    let mut ranges = Vec::new();
    ranges.push(unhashed_at + 2..unhashed_at + 2 + unhashed_len);
    let mut mpi = unhashed_at + 2 + unhashed_len + 2;
    while mpi + 2 <= binary.len() {
        let bits = usize::from(u16::from_be_bytes([binary[mpi], binary[mpi + 1]]));
        ranges.push(mpi..mpi + 2);
        mpi += 2 + bits.div_ceil(8);
    }
    ranges
}

fn mutate_armored(trust: &SignerTrust, armored: &str, data: &[u8], at: i64) {
    let lines: Vec<&str> = armored.lines().collect();
    let begin = lines[0];
    let end = lines[lines.len() - 1];
    let body: String = lines[1..lines.len() - 1]
        .iter()
        .filter(|l| !l.is_empty() && !l.starts_with('=') && !l.contains(": "))
        .copied()
        .collect();
    let binary = STANDARD.decode(body).unwrap();
    let unprotected = if begin.contains("PGP") {
        pgp_unprotected(&binary)
    } else {
        Vec::new()
    };
    let rearmor = |bytes: &[u8]| {
        let b64 = STANDARD.encode(bytes);
        let mut out = format!("{begin}\n");
        if begin.contains("PGP") {
            out.push('\n');
        }
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap());
            out.push('\n');
        }
        out.push_str(end);
        out.push('\n');
        out
    };
    // Sanity: the re-armored original still verifies (no CRC, other line width).
    assert!(
        verify(trust, rearmor(&binary).as_bytes(), data, at).is_verified(),
        "re-armored original must verify"
    );
    let mut verified = 0;
    for i in 0..binary.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut m = binary.clone();
            m[i] ^= flip;
            if verify(trust, rearmor(&m).as_bytes(), data, at).is_verified()
                && !unprotected.iter().any(|r| r.contains(&i))
            {
                eprintln!("offset {i} of {} flip {flip:#x} verified", binary.len());
                verified += 1;
            }
        }
        let _ = verify(trust, rearmor(&binary[..i]).as_bytes(), data, at);
    }
    // Truncated armor text.
    for cut in (0..armored.len()).step_by(7) {
        let check = verify(trust, &armored.as_bytes()[..cut], data, at);
        assert!(!check.is_verified() || cut == 0, "{cut}: {check:?}");
    }
    assert_eq!(verified, 0, "mutated signatures verified");
}

// ------------------------------------------------------------------------------------------
// SSH
// ------------------------------------------------------------------------------------------

#[test]
fn ssh_signed_commits_verify_for_each_key_type() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = GitRepo::init(&tmp.path().join("repo"));
    for key_type in ["ed25519", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa"] {
        let key = ssh_keygen(tmp.path(), key_type, key_type);
        let line = key.allowed_signers_line(PRINCIPAL, "");
        let allowed = write_allowed_signers(tmp.path(), "allowed", std::slice::from_ref(&line));
        let id = repo.commit_ssh(&key, &format!("signed with {key_type}"));
        let (sig, data, at) = commit_signature(&repo, &id);
        assert!(sig.starts_with(b"-----BEGIN SSH SIGNATURE-----"));
        let check = verify(&ssh_trust(&[line]), &sig, &data, at);
        assert_eq!(
            check,
            SignatureCheck::Verified {
                signer: PRINCIPAL.into(),
                kind: SignatureKind::Ssh,
                fingerprint: key.fingerprint(),
            },
            "{key_type}"
        );
        assert!(
            repo.git_verifies_commit(&id, Some(&allowed), None),
            "git agrees ({key_type})"
        );
        if key_type == "rsa" {
            // git/ssh-keygen sign RSA with rsa-sha2-512.
            let text = String::from_utf8(sig.clone()).unwrap();
            let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
            let blob = STANDARD.decode(body).unwrap();
            assert!(blob.windows(12).any(|w| w == b"rsa-sha2-512"));
        }
    }
}

#[test]
fn ssh_principals_wildcards_and_multiple_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = GitRepo::init(&tmp.path().join("repo"));
    let key = ssh_keygen(tmp.path(), "k", "ed25519");
    let other = ssh_keygen(tmp.path(), "other", "ed25519");
    let id = repo.commit_ssh(&key, "m");
    let (sig, data, at) = commit_signature(&repo, &id);
    let lines = [
        other.allowed_signers_line("bob@example.com", ""),
        "# the team".to_string(),
        key.allowed_signers_line("\"*@example.com,carol@example.org\"", "namespaces=\"file\""),
        key.allowed_signers_line("*@example.com,carol@example.org", "namespaces=\"git\""),
    ];
    let trust = ssh_trust(&lines);
    assert_eq!(
        trust.ssh.as_ref().unwrap().first_principal(),
        Some("bob@example.com")
    );
    match verify(&trust, &sig, &data, at) {
        SignatureCheck::Verified { signer, .. } => {
            assert_eq!(signer, "*@example.com,carol@example.org")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ssh_unknown_key_is_not_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = GitRepo::init(&tmp.path().join("repo"));
    let allowed_key = ssh_keygen(tmp.path(), "alice", "ed25519");
    let intruder = ssh_keygen(tmp.path(), "mallory", "ecdsa-p256");
    let line = allowed_key.allowed_signers_line(PRINCIPAL, "");
    let allowed = write_allowed_signers(tmp.path(), "allowed", std::slice::from_ref(&line));
    let id = repo.commit_ssh(&intruder, "sneaky");
    let (sig, data, at) = commit_signature(&repo, &id);
    let check = verify(&ssh_trust(&[line]), &sig, &data, at);
    assert_not_allowed(&check, &intruder.fingerprint());
    assert_not_allowed(&check, "not in allowed_signers");
    assert!(!repo.git_verifies_commit(&id, Some(&allowed), None));

    // SSH signature but only OpenPGP trust (or none at all) configured.
    let only_pgp = SignerTrust {
        ssh: None,
        openpgp: Some(OpenPgpKeys::parse_armored(&[]).unwrap()),
    };
    assert_not_allowed(
        &verify(&only_pgp, &sig, &data, at),
        "no SSH allowed signers",
    );
    assert_not_allowed(&verify(&SignerTrust::default(), &sig, &data, at), "no SSH");
}

#[test]
fn ssh_namespace_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = GitRepo::init(&tmp.path().join("repo"));
    let key = ssh_keygen(tmp.path(), "k", "ed25519");
    let id = repo.commit_ssh(&key, "m");
    let (sig, data, at) = commit_signature(&repo, &id);
    let plain = key.allowed_signers_line(PRINCIPAL, "");
    let allowed = write_allowed_signers(tmp.path(), "allowed", std::slice::from_ref(&plain));

    // A signature over the same data in namespace "file", spliced in for the git one.
    let file_sig = gitsig::ssh_sign(&key, "file", &data);
    assert!(gitsig::ssh_keygen_verifies(
        &allowed, PRINCIPAL, "file", &data, &file_sig
    ));
    assert!(!gitsig::ssh_keygen_verifies(
        &allowed, PRINCIPAL, "git", &data, &file_sig
    ));
    assert_invalid(
        &verify(
            &ssh_trust(std::slice::from_ref(&plain)),
            file_sig.as_bytes(),
            &data,
            at,
        ),
        "namespace \"file\"",
    );
    // The same via ssh-keygen in namespace git verifies (independent of git).
    let git_sig = gitsig::ssh_sign(&key, "git", &data);
    assert!(
        verify(
            &ssh_trust(std::slice::from_ref(&plain)),
            git_sig.as_bytes(),
            &data,
            at
        )
        .is_verified()
    );

    for (options, ok) in [
        ("namespaces=\"file\"", false),
        ("namespaces=\"git,file\"", true),
        ("namespaces=\"g*\"", true),
        ("namespaces=\"*,!git\"", false),
        ("NAMESPACES=\"git\"", true),
    ] {
        let line = key.allowed_signers_line(PRINCIPAL, options);
        let check = verify(&ssh_trust(std::slice::from_ref(&line)), &sig, &data, at);
        let file = write_allowed_signers(tmp.path(), "ns", std::slice::from_ref(&line));
        assert_eq!(
            gitsig::ssh_keygen_verifies(
                &file,
                PRINCIPAL,
                "git",
                &data,
                std::str::from_utf8(&sig).unwrap()
            ),
            ok,
            "OpenSSH on {options}"
        );
        if ok {
            assert!(check.is_verified(), "{options}: {check:?}");
        } else {
            assert_not_allowed(&check, "namespaces=");
        }
    }
}

#[test]
fn ssh_tampered_data_is_invalid() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = GitRepo::init(&tmp.path().join("repo"));
    let key = ssh_keygen(tmp.path(), "k", "ecdsa-p256");
    let id = repo.commit_ssh(&key, "deploy v1");
    let (sig, data, at) = commit_signature(&repo, &id);
    let trust = ssh_trust(&[key.allowed_signers_line(PRINCIPAL, "")]);
    assert!(verify(&trust, &sig, &data, at).is_verified());
    let tampered = String::from_utf8(data.clone())
        .unwrap()
        .replace("deploy v1", "deploy v2");
    assert_invalid(
        &verify(&trust, &sig, tampered.as_bytes(), at),
        "does not verify",
    );
    // Unknown key + tampered data: still Invalid (crypto first).
    let other = ssh_keygen(tmp.path(), "o", "ed25519");
    let other_trust = ssh_trust(&[other.allowed_signers_line(PRINCIPAL, "")]);
    assert_invalid(
        &verify(&other_trust, &sig, tampered.as_bytes(), at),
        "does not verify",
    );
    // Data appended after the armor rides along unsigned: refused.
    let mut trailing = sig.clone();
    trailing.extend_from_slice(b"\nextra\n");
    assert_invalid(&verify(&trust, &trailing, &data, at), "after the END line");
}

#[test]
fn ssh_unsigned_commit_is_not_signed() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = GitRepo::init(&tmp.path().join("repo"));
    let id = repo.commit_unsigned("no signature");
    let git = git2::Repository::open(&repo.dir).unwrap();
    let oid = git2::Oid::from_str(&id).unwrap();
    let Err(err) = git.extract_signature(&oid, None) else {
        panic!("an unsigned commit has no signature")
    };
    assert_eq!(err.code(), git2::ErrorCode::NotFound, "{err}");
    // What the integrator passes on NotFound:
    let trust = SignerTrust::default();
    assert_eq!(verify(&trust, b"", b"", 0), SignatureCheck::NotSigned);
}

#[test]
fn ssh_validity_window() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = GitRepo::init(&tmp.path().join("repo"));
    let key = ssh_keygen(tmp.path(), "k", "ed25519");
    let id = repo.commit_ssh(&key, "m");
    let (sig, data, at) = commit_signature(&repo, &id);
    let sig_text = std::str::from_utf8(&sig).unwrap();
    for (options, needle) in [
        (
            "valid-before=\"20200101Z\"",
            Some("expired at 2020-01-01T00:00:00Z"),
        ),
        (
            "valid-after=\"20990101000000Z\"",
            Some("not valid before 2099-01-01"),
        ),
        ("valid-after=\"20200101Z\",valid-before=\"20990101Z\"", None),
        ("valid-after=20200101Z", Some("unused")),
        ("valid-after=\"202001011200Z\"", None),
    ] {
        let line = key.allowed_signers_line(PRINCIPAL, options);
        let file = write_allowed_signers(tmp.path(), "v", std::slice::from_ref(&line));
        let openssh = gitsig::ssh_keygen_verifies(&file, PRINCIPAL, "git", &data, sig_text);
        if needle == Some("unused") {
            let err = AllowedSigners::parse(&line).unwrap_err();
            assert!(err.to_string().contains("double quotes"), "{err}");
            assert!(!openssh, "OpenSSH refuses unquoted values too");
            continue;
        }
        let check = verify(&ssh_trust(std::slice::from_ref(&line)), &sig, &data, at);
        match needle {
            Some(needle) => {
                assert_not_allowed(&check, needle);
                assert!(!openssh, "OpenSSH agrees on {options}");
            }
            None => {
                assert!(check.is_verified(), "{options}: {check:?}");
                assert!(openssh, "OpenSSH agrees on {options}");
            }
        }
    }
    // Judged at the given time, not now.
    let line = key.allowed_signers_line(PRINCIPAL, "valid-before=\"20300101Z\"");
    let trust = ssh_trust(std::slice::from_ref(&line));
    assert!(verify(&trust, &sig, &data, at).is_verified());
    assert_not_allowed(&verify(&trust, &sig, &data, 1_893_456_001), "expired");
    // A later line for the same key may still admit it (first admitting line wins).
    let lines = [line, key.allowed_signers_line("late@example.com", "")];
    match verify(&ssh_trust(&lines), &sig, &data, 1_893_456_001) {
        SignatureCheck::Verified { signer, .. } => assert_eq!(signer, "late@example.com"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ssh_parse_errors_name_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let key = ssh_keygen(tmp.path(), "k", "ed25519");
    let good = key.allowed_signers_line(PRINCIPAL, "");
    let bad = key.allowed_signers_line(PRINCIPAL, "cert-authority");
    let text = format!("# c\n{good}\n\n{bad}\n");
    let err = AllowedSigners::parse(&text).unwrap_err();
    assert!(
        err.to_string().starts_with("allowed_signers line 4:"),
        "{err}"
    );
    assert!(err.to_string().contains("not supported"), "{err}");
    let truncated = &good[..good.len() - 20];
    let err = AllowedSigners::parse(&format!("{good}\n{truncated}")).unwrap_err();
    assert!(
        err.to_string().starts_with("allowed_signers line 2:"),
        "{err}"
    );
}

#[test]
fn ssh_signed_tags() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = GitRepo::init(&tmp.path().join("repo"));
    let key = ssh_keygen(tmp.path(), "k", "ed25519");
    let line = key.allowed_signers_line(PRINCIPAL, "");
    let allowed = write_allowed_signers(tmp.path(), "allowed", std::slice::from_ref(&line));
    let head = repo.commit_unsigned("release");
    let name = format!("sealgate/approved/{head}");
    repo.tag_ssh(&key, &name, "approved for production");
    assert!(repo.git_verifies_tag(&name, Some(&allowed), None));
    let raw = repo.cat_file("tag", &name);
    let (data, sig) = split_tag(&raw).expect("signed tag");
    assert!(data.starts_with(format!("object {head}\n").as_bytes()));
    assert!(sig.starts_with(b"-----BEGIN SSH SIGNATURE-----"));
    let at = gitsig::header_time(&raw, "tagger");
    let trust = ssh_trust(&[line]);
    assert!(verify(&trust, sig, data, at).is_verified());
    // Tampering with the tag message breaks it.
    let mut forged = data.to_vec();
    let pos = forged.windows(8).position(|w| w == b"approved").unwrap();
    forged[pos] = b'A';
    assert_invalid(&verify(&trust, sig, &forged, at), "does not verify");

    repo.tag_annotated("unsigned", "not signed");
    assert_eq!(split_tag(&repo.cat_file("tag", "unsigned")), None);
    repo.tag_lightweight("light");
    assert_eq!(repo.object_type("light"), "commit");
    assert_eq!(split_tag(&repo.cat_file("commit", "light")), None);
}

#[test]
fn ssh_mutations_never_verify_or_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = GitRepo::init(&tmp.path().join("repo"));
    for key_type in ["ed25519", "ecdsa-p256"] {
        let key = ssh_keygen(tmp.path(), key_type, key_type);
        let id = repo.commit_ssh(&key, "m");
        let (sig, data, at) = commit_signature(&repo, &id);
        let trust = ssh_trust(&[key.allowed_signers_line(PRINCIPAL, "")]);
        mutate_armored(&trust, std::str::from_utf8(&sig).unwrap(), &data, at);
    }
}

// ------------------------------------------------------------------------------------------
// OpenPGP
// ------------------------------------------------------------------------------------------

fn gpg_home(tmp: &Path, name: &str) -> GpgHome {
    GpgHome::new(&tmp.join(name))
}

#[test]
fn openpgp_signed_commits_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let home = gpg_home(tmp.path(), "g");
    let repo = GitRepo::init(&tmp.path().join("repo"));
    for (uid, algo) in [
        ("T <t@example.com>", "ed25519"),
        ("R <r@example.com>", "rsa3072"),
        ("P <p@example.com>", "nistp256"),
    ] {
        let fpr = home.gen_key(uid, algo, "never");
        let id = repo.commit_gpg(&home, &fpr, &format!("signed with {algo}"));
        assert!(
            repo.git_verifies_commit(&id, None, Some(&home)),
            "git agrees"
        );
        let (sig, data, at) = commit_signature(&repo, &id);
        assert!(sig.starts_with(b"-----BEGIN PGP SIGNATURE-----"));
        let check = verify(&pgp_trust(&[home.export(&fpr)]), &sig, &data, at);
        assert_eq!(
            check,
            SignatureCheck::Verified {
                signer: uid.into(),
                kind: SignatureKind::OpenPgp,
                fingerprint: fpr.clone(),
            },
            "{algo}"
        );
        let tampered = String::from_utf8(data.clone())
            .unwrap()
            .replace("signed with", "signed by");
        assert_invalid(
            &verify(
                &pgp_trust(&[home.export(&fpr)]),
                &sig,
                tampered.as_bytes(),
                at,
            ),
            "does not verify",
        );
    }
}

#[test]
fn openpgp_unknown_key_and_several_keys_per_block() {
    let tmp = tempfile::tempdir().unwrap();
    let home = gpg_home(tmp.path(), "g");
    let repo = GitRepo::init(&tmp.path().join("repo"));
    let alice = home.gen_key("Alice <alice@example.com>", "ed25519", "never");
    let bob = home.gen_key("Bob <bob@example.com>", "ed25519", "never");
    let mallory = home.gen_key("Mallory <m@example.com>", "ed25519", "never");
    let id = repo.commit_gpg(&home, &mallory, "sneaky");
    let (sig, data, at) = commit_signature(&repo, &id);

    let both = home.export_many(&[&alice, &bob]);
    let keys = OpenPgpKeys::parse_armored(std::slice::from_ref(&both)).unwrap();
    assert_eq!(keys.len(), 2);
    let mut fprs = keys.fingerprints();
    fprs.sort();
    let mut want = vec![alice.clone(), bob.clone()];
    want.sort();
    assert_eq!(fprs, want);
    let trust = pgp_trust(&[both]);
    assert_not_allowed(&verify(&trust, &sig, &data, at), &mallory);
    assert_not_allowed(
        &verify(&trust, &sig, &data, at),
        "not among the trusted keys",
    );
    assert_not_allowed(
        &verify(&SignerTrust::default(), &sig, &data, at),
        "no OpenPGP keys",
    );

    let id = repo.commit_gpg(&home, &bob, "bob's");
    let (sig, data, at) = commit_signature(&repo, &id);
    match verify(&trust, &sig, &data, at) {
        SignatureCheck::Verified {
            signer,
            fingerprint,
            ..
        } => {
            assert_eq!(signer, "Bob <bob@example.com>");
            assert_eq!(fingerprint, bob);
        }
        other => panic!("{other:?}"),
    }
    // A PGP signature when only SSH trust is configured.
    let ssh_only = SignerTrust {
        ssh: Some(AllowedSigners::parse("").unwrap()),
        openpgp: None,
    };
    assert_not_allowed(&verify(&ssh_only, &sig, &data, at), "no OpenPGP keys");
    // A private key block is refused at parse time.
    let secret = String::from_utf8(gitsig::run(home.gpg().args([
        "--passphrase",
        "",
        "--armor",
        "--export-secret-keys",
        &bob,
    ])))
    .unwrap();
    let err = OpenPgpKeys::parse_armored(&[home.export(&alice), secret]).unwrap_err();
    assert!(err.to_string().starts_with("OpenPGP key block 2:"), "{err}");
}

#[test]
fn openpgp_expired_and_revoked_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let home = gpg_home(tmp.path(), "g");
    let repo = GitRepo::init(&tmp.path().join("repo"));

    let expiring = home.gen_key("E <e@example.com>", "ed25519", "1d");
    let id = repo.commit_gpg(&home, &expiring, "short-lived");
    let (sig, data, at) = commit_signature(&repo, &id);
    let trust = pgp_trust(&[home.export(&expiring)]);
    assert!(verify(&trust, &sig, &data, at).is_verified());
    assert_not_allowed(&verify(&trust, &sig, &data, at + 2 * DAY), "expired at");
    // Judged at a time before the key existed.
    assert_not_allowed(&verify(&trust, &sig, &data, at - 2 * DAY), "was created at");

    let revoked = home.gen_key("V <v@example.com>", "ed25519", "never");
    let id = repo.commit_gpg(&home, &revoked, "before revocation");
    let (sig, data, at) = commit_signature(&repo, &id);
    let before = home.export(&revoked);
    assert!(verify(&pgp_trust(std::slice::from_ref(&before)), &sig, &data, at).is_verified());
    home.revoke(&revoked);
    let after = home.export(&revoked);
    assert_not_allowed(
        &verify(&pgp_trust(std::slice::from_ref(&after)), &sig, &data, at),
        "revoked",
    );
    // The same key twice (old copy and revoked copy): the revocation applies.
    let merged = pgp_trust(&[before, after]);
    assert_eq!(merged.openpgp.as_ref().unwrap().len(), 1);
    assert_not_allowed(&verify(&merged, &sig, &data, at), "revoked");
}

#[test]
fn openpgp_signing_subkey() {
    let tmp = tempfile::tempdir().unwrap();
    let home = gpg_home(tmp.path(), "g");
    let repo = GitRepo::init(&tmp.path().join("repo"));
    let primary = home.gen_key_with_usage("S <s@example.com>", "ed25519", "cert", "never");
    let subkey = home.add_subkey(&primary, "ed25519", "sign", "1d");
    let id = repo.commit_gpg(&home, &primary, "by the subkey");
    let (sig, data, at) = commit_signature(&repo, &id);
    let text = String::from_utf8(sig.clone()).unwrap();
    let trust = pgp_trust(&[home.export(&primary)]);
    match verify(&trust, text.as_bytes(), &data, at) {
        SignatureCheck::Verified {
            signer,
            fingerprint,
            ..
        } => {
            assert_eq!(signer, "S <s@example.com>");
            assert_eq!(fingerprint, primary, "primary fingerprint reported");
        }
        other => panic!("{other:?}"),
    }
    // The subkey expires after a day.
    assert_not_allowed(
        &verify(&trust, &sig, &data, at + 2 * DAY),
        &format!("subkey {subkey} expired"),
    );
    // gpg, asked for the subkey explicitly, makes the same kind of signature.
    let by_subkey = home.sign_detached(&format!("{subkey}!"), &data, &[]);
    assert!(verify(&trust, by_subkey.as_bytes(), &data, at).is_verified());
    // Without the subkey in the key block, the signer is unknown.
    let bare = home.export(&format!("{primary}!"));
    let check = verify(&pgp_trust(&[bare]), by_subkey.as_bytes(), &data, at);
    assert_not_allowed(&check, &subkey);
}

#[test]
fn openpgp_weak_hash_is_invalid() {
    let tmp = tempfile::tempdir().unwrap();
    let home = gpg_home(tmp.path(), "g");
    let fpr = home.gen_key("W <w@example.com>", "rsa2048", "never");
    let trust = pgp_trust(&[home.export(&fpr)]);
    let data = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\nmsg\n";
    let at = now();
    let good = home.sign_detached(&fpr, data, &["--digest-algo", "SHA512"]);
    assert!(verify(&trust, good.as_bytes(), data, at).is_verified());
    let sha1 = home.sign_detached(&fpr, data, &["--digest-algo", "SHA1"]);
    assert_invalid(&verify(&trust, sha1.as_bytes(), data, at), "weak");
    // A text-mode signature is a data signature too.
    let textmode = home.sign_detached(&fpr, data, &["--textmode"]);
    assert!(verify(&trust, textmode.as_bytes(), data, at).is_verified());
}

#[test]
fn openpgp_signed_tags() {
    let tmp = tempfile::tempdir().unwrap();
    let home = gpg_home(tmp.path(), "g");
    let repo = GitRepo::init(&tmp.path().join("repo"));
    let fpr = home.gen_key("T <t@example.com>", "ed25519", "never");
    let head = repo.commit_unsigned("release");
    let name = format!("sealgate/approved/{head}");
    repo.tag_gpg(&home, &fpr, &name, "approved");
    assert!(repo.git_verifies_tag(&name, None, Some(&home)));
    let raw = repo.cat_file("tag", &name);
    let (data, sig) = split_tag(&raw).expect("signed tag");
    assert!(sig.starts_with(b"-----BEGIN PGP SIGNATURE-----"));
    let at = gitsig::header_time(&raw, "tagger");
    let trust = pgp_trust(&[home.export(&fpr)]);
    assert_eq!(
        verify(&trust, sig, data, at),
        SignatureCheck::Verified {
            signer: "T <t@example.com>".into(),
            kind: SignatureKind::OpenPgp,
            fingerprint: fpr,
        }
    );
    let mut forged = data.to_vec();
    let pos = forged.windows(8).position(|w| w == b"approved").unwrap();
    forged[pos] = b'A';
    assert_invalid(&verify(&trust, sig, &forged, at), "does not verify");
}

#[test]
fn openpgp_mutations_never_verify_or_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let home = gpg_home(tmp.path(), "g");
    let repo = GitRepo::init(&tmp.path().join("repo"));
    let fpr = home.gen_key("T <t@example.com>", "ed25519", "never");
    let id = repo.commit_gpg(&home, &fpr, "m");
    let (sig, data, at) = commit_signature(&repo, &id);
    let trust = pgp_trust(&[home.export(&fpr)]);
    mutate_armored(&trust, std::str::from_utf8(&sig).unwrap(), &data, at);
}

#[test]
fn openpgp_key_blocks_mutated_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let home = gpg_home(tmp.path(), "g");
    let fpr = home.gen_key("T <t@example.com>", "ed25519", "never");
    let armored = home.export(&fpr);
    let lines: Vec<&str> = armored.lines().collect();
    let body: String = lines[1..lines.len() - 1]
        .iter()
        .filter(|l| !l.is_empty() && !l.starts_with('='))
        .copied()
        .collect();
    let binary = STANDARD.decode(body).unwrap();
    for i in 0..binary.len() {
        let mut m = binary.clone();
        m[i] ^= 0x55;
        let block = format!(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n{}\n-----END PGP PUBLIC KEY BLOCK-----\n",
            STANDARD.encode(&m)
        );
        let _ = OpenPgpKeys::parse_armored(&[block]);
    }
}

#[test]
fn ssh_key_in_openpgp_trust_and_vice_versa_do_not_mix() {
    let tmp = tempfile::tempdir().unwrap();
    let home = gpg_home(tmp.path(), "g");
    let repo = GitRepo::init(&tmp.path().join("repo"));
    let key: SshKey = ssh_keygen(tmp.path(), "k", "ed25519");
    let fpr = home.gen_key("T <t@example.com>", "ed25519", "never");
    let trust = SignerTrust {
        ssh: Some(AllowedSigners::parse(&key.allowed_signers_line(PRINCIPAL, "")).unwrap()),
        openpgp: Some(OpenPgpKeys::parse_armored(&[home.export(&fpr)]).unwrap()),
    };
    let a = repo.commit_ssh(&key, "ssh");
    let b = repo.commit_gpg(&home, &fpr, "pgp");
    for id in [a, b] {
        let (sig, data, at) = commit_signature(&repo, &id);
        assert!(verify(&trust, &sig, &data, at).is_verified());
    }
}
