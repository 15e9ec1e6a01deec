use super::openpgp::*;
use super::ssh::*;
use super::*;

const ED25519: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEQ3ZmEVFbD0Kxbv9Jv2nGycqRMpmrP4VXk3hH5ZC3GN";

fn parse_err(text: &str) -> SignatureError {
    AllowedSigners::parse(text).expect_err("should not parse")
}

#[test]
fn parses_plain_and_optioned_lines() {
    let text = format!(
        "# comment\n\n  alice@example.com {ED25519} alice\n\
             \"bob@example.com,carol@example.com\" namespaces=\"git,file\",valid-after=\"20240101\",VALID-BEFORE=\"20300101120000Z\" {ED25519}\n"
    );
    let signers = AllowedSigners::parse(&text).unwrap();
    assert_eq!(signers.len(), 2);
    assert_eq!(signers.first_principal(), Some("alice@example.com"));
    let second = &signers.entries[1];
    assert_eq!(second.line, 4);
    assert_eq!(second.principals, "bob@example.com,carol@example.com");
    assert_eq!(second.namespaces.as_deref(), Some("git,file"));
    assert_eq!(second.valid_after, Some(1_704_067_200));
    assert_eq!(second.valid_before, Some(1_893_499_200));
}

#[test]
fn parse_errors_name_the_line() {
    let cases = [
        (format!("# c\nalice {ED25519}\nbob\n"), 3, "missing key"),
        (
            format!("\n\nbob cert-authority {ED25519}"),
            3,
            "not supported",
        ),
        (
            format!("bob valid-after=\"2024\" {ED25519}"),
            1,
            "invalid timestamp",
        ),
        (
            format!("bob valid-after=20240101 {ED25519}"),
            1,
            "double quotes",
        ),
        (format!("bob namespaces=git {ED25519}"), 1, "double quotes"),
        (
            format!("bob valid-after=\"20240230\" {ED25519}"),
            1,
            "invalid timestamp",
        ),
        (format!("bob frobnicate {ED25519}"), 1, "unsupported option"),
        (
            format!("bob namespaces=\"git {ED25519}"),
            1,
            "unterminated quote",
        ),
        (
            "bob ssh-ed25519 AAAA!!".to_string(),
            1,
            "invalid ssh-ed25519 key",
        ),
        ("bob ssh-ed25519".to_string(), 1, "missing base64"),
        (
            "bob ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIEQ3ZmEVFbD0Kxbv9Jv2nGycqRMpmrP4VXk3hH5ZC3GN"
                .to_string(),
            1,
            "invalid ssh-rsa key",
        ),
        (
            "bob ssh-ed25519-cert-v01@openssh.com AAAA".to_string(),
            1,
            "certificate key type",
        ),
        ("bob ssh-dss AAAA".to_string(), 1, "DSA"),
        (
            format!("bob valid-after=\"20300101\",valid-before=\"20200101\" {ED25519}"),
            1,
            "later than",
        ),
        (
            format!("bob namespaces=\"git\",namespaces=\"file\" {ED25519}"),
            1,
            "twice",
        ),
    ];
    for (text, line, needle) in cases {
        let err = parse_err(&text);
        let SignatureError::AllowedSigners { line: got, detail } = &err else {
            panic!("unexpected {err:?}");
        };
        assert_eq!(*got, line, "{text}: {err}");
        assert!(detail.contains(needle), "{text}: {err}");
        assert!(
            err.to_string()
                .starts_with(&format!("allowed_signers line {line}:"))
        );
    }
}

#[test]
fn timestamps() {
    assert_eq!(parse_ssh_time("19700101"), Ok(0));
    assert_eq!(parse_ssh_time("19700101Z"), Ok(0));
    assert_eq!(parse_ssh_time("200002290000"), Ok(951_782_400));
    assert_eq!(parse_ssh_time("20240301123456Z"), Ok(1_709_296_496));
    assert!(parse_ssh_time("20230229").is_err());
    assert!(parse_ssh_time("20231301").is_err());
    assert!(parse_ssh_time("2023010124").is_err());
    assert!(parse_ssh_time("202301012400").is_err());
    assert!(parse_ssh_time("-2023010").is_err());
    assert_eq!(
        crate::base::time::format_rfc3339(1_709_296_496),
        "2024-03-01T12:34:56Z"
    );
    assert_eq!(
        crate::base::time::format_rfc3339(-1),
        "1969-12-31T23:59:59Z"
    );
    for secs in [0, 951_782_400, 4_102_444_800, -86_400 * 365] {
        let text = crate::base::time::format_rfc3339(secs);
        let compact: String = text.chars().filter(char::is_ascii_digit).collect();
        assert_eq!(parse_ssh_time(&compact), Ok(secs));
    }
}

#[test]
fn pattern_lists() {
    assert!(match_pattern_list("git", "git"));
    assert!(match_pattern_list("git", "file,git"));
    assert!(match_pattern_list("git", "g*"));
    assert!(match_pattern_list("git", "g?t"));
    assert!(match_pattern_list("git", "*"));
    assert!(!match_pattern_list("git", "file"));
    assert!(!match_pattern_list("git", "*,!git"));
    assert!(!match_pattern_list("git", "!git"));
    assert!(!match_pattern_list("git", "gi"));
    assert!(glob_match(b"*@example.com", b"alice@example.com"));
    assert!(!glob_match(b"*@example.com", b"alice@example.org"));
    assert!(glob_match(b"a*b*c", b"axxbyyc"));
    assert!(!glob_match(b"a*b*c", b"axxbyy"));
    assert!(glob_match(b"**", b""));
    let long = vec![b'a'; 4096];
    assert!(!glob_match(b"*a*a*a*a*a*b", &long));
}

#[test]
fn empty_signature_is_not_signed() {
    let trust = SignerTrust::default();
    assert_eq!(verify(&trust, b"", b"data", 0), SignatureCheck::NotSigned);
    assert_eq!(
        verify(&trust, b" \n\t", b"data", 0),
        SignatureCheck::NotSigned
    );
}

#[test]
fn unsupported_and_garbage_signatures_are_invalid() {
    let trust = SignerTrust::default();
    for sig in [
        &b"-----BEGIN SIGNED MESSAGE-----\nMIAG\n-----END SIGNED MESSAGE-----\n"[..],
        b"-----BEGIN PGP MESSAGE-----\nowE\n-----END PGP MESSAGE-----\n",
        b"hello",
        b"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n",
        b"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n",
        b"-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----\nextra",
        b"-----BEGIN PGP SIGNATURE-----\n\n-----END PGP SIGNATURE-----",
        b"-----BEGIN PGP SIGNATURE-----\n\niQ==\n-----END PGP SIGNATURE-----",
        b"-----BEGIN PGP SIGNATURE-----\n\x80\xff\n-----END PGP SIGNATURE-----",
    ] {
        let check = verify(&trust, sig, b"data", 0);
        assert!(matches!(check, SignatureCheck::Invalid { .. }), "{check:?}");
    }
    let huge = vec![b'A'; MAX_SIGNATURE_LEN + 1];
    assert!(matches!(
        verify(&trust, &huge, b"", 0),
        SignatureCheck::Invalid { .. }
    ));
}

#[test]
fn random_bytes_never_panic() {
    // xorshift: deterministic pseudo-random input, also behind valid armor headers.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let trust = SignerTrust::default();
    for round in 0..2_000 {
        let len = (next() % 600) as usize;
        let body: Vec<u8> = (0..len).map(|_| (next() & 0xff) as u8).collect();
        let b64: Vec<u8> = body
            .iter()
            .map(|b| {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/\n="
                    [usize::from(*b) % 66]
            })
            .collect();
        for (begin, end) in [(SSH_BEGIN, SSH_END), (PGP_BEGIN, PGP_END)] {
            let mut sig = begin.to_vec();
            sig.extend_from_slice(if round % 2 == 0 { b"\n" } else { b"\n\n" });
            sig.extend_from_slice(if round % 3 == 0 { &body } else { &b64 });
            sig.push(b'\n');
            sig.extend_from_slice(end);
            let _ = verify(&trust, &sig, b"data", 0);
        }
        let _ = verify(&trust, &body, b"data", 0);
        let _ = split_tag(&body);
    }
}

#[test]
fn split_tag_finds_last_marker_in_the_message() {
    let raw = b"object 0123\ntype commit\ntag v1\ntagger T <t@e> 1 +0000\n\nmsg\n-----BEGIN PGP SIGNATURE-----\nquoted\n-----END PGP SIGNATURE-----\n-----BEGIN SSH SIGNATURE-----\nabc\n-----END SSH SIGNATURE-----\n";
    let (data, sig) = split_tag(raw).unwrap();
    assert!(data.ends_with(b"-----END PGP SIGNATURE-----\n"));
    assert!(sig.starts_with(SSH_BEGIN));
    assert_eq!(data.len() + sig.len(), raw.len());

    let unsigned = b"object 0123\ntype commit\ntag v1\ntagger T <t@e> 1 +0000\n\nmsg\n";
    assert_eq!(split_tag(unsigned), None);
    assert_eq!(
        split_tag(b"tree 0123\n\n-----BEGIN PGP SIGNATURE-----\n"),
        None
    );
    assert_eq!(split_tag(b"object 0123"), None);
    assert_eq!(split_tag(b""), None);
    let empty_message = b"object 1\ntype commit\ntag t\n\n-----BEGIN SSH SIGNATURE-----\nx\n";
    assert!(split_tag(empty_message).is_some());
    let indented = b"object 1\ntype commit\ntag t\n\n -----BEGIN SSH SIGNATURE-----\nx\n";
    assert_eq!(split_tag(indented), None);
}

#[test]
fn openpgp_parse_errors_name_the_block() {
    let err = OpenPgpKeys::parse_armored(&["not armor".to_string()]).unwrap_err();
    assert!(
        matches!(err, SignatureError::OpenPgpKey { block: 1, .. }),
        "{err}"
    );
    let sig = "-----BEGIN PGP SIGNATURE-----\n\niQ==\n-----END PGP SIGNATURE-----\n";
    let err = OpenPgpKeys::parse_armored(&[String::new(), sig.to_string()]).unwrap_err();
    assert!(
        matches!(err, SignatureError::OpenPgpKey { block: 1, .. }),
        "{err}"
    );
    let keys = OpenPgpKeys::parse_armored(&[]).unwrap();
    assert!(keys.is_empty());
}
