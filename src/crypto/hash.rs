//! Message digests: SHA-2 hashing and OCI-style `"<algorithm>:<hex>"` digest strings.
//!
//! Pure functions over bytes; depends only on `sha2` and `hex`.

use sha2::{Digest as _, Sha256, Sha384, Sha512};

/// A SHA-2 hash function, as named in OCI digests (`sha256:…`) and signature algorithm names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-256 (32-byte output).
    Sha256,
    /// SHA-384 (48-byte output).
    Sha384,
    /// SHA-512 (64-byte output).
    Sha512,
}

impl HashAlgorithm {
    /// The lowercase name used in digest strings: `sha256`, `sha384`, `sha512`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// Parse a digest-string algorithm name (exact lowercase, as OCI requires).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Self::Sha256),
            "sha384" => Some(Self::Sha384),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// Output length in bytes.
    #[must_use]
    pub const fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// Hash `data` with this algorithm.
    #[must_use]
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha384 => Sha384::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

impl std::fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// SHA-256 of `data`.
#[must_use]
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Lowercase hex SHA-256 of `data` (64 characters).
#[must_use]
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The digest string `"<algorithm>:<lowercase hex>"` of `data`, e.g. `sha256:e3b0c4…`.
#[must_use]
pub fn digest_string(algorithm: HashAlgorithm, data: &[u8]) -> String {
    format!(
        "{}:{}",
        algorithm.name(),
        hex::encode(algorithm.digest(data))
    )
}

/// Whether `digest` (`"sha256:<hex>"`, `"sha384:<hex>"` or `"sha512:<hex>"`) is the digest of `data`.
///
/// # Guarantees
/// Returns `false` — never panics — for an unknown algorithm, a missing `:`, uppercase or non-hex
/// characters, or an encoded part of the wrong length (the OCI image spec requires lowercase hex of
/// exactly the algorithm's output length).
#[must_use]
pub fn digest_matches(digest: &str, data: &[u8]) -> bool {
    let Some((name, encoded)) = digest.split_once(':') else {
        return false;
    };
    let Some(algorithm) = HashAlgorithm::from_name(name) else {
        return false;
    };
    if encoded.len() != algorithm.output_len() * 2
        || !encoded
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return false;
    }
    hex::encode(algorithm.digest(data)) == encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn sha256_hex_of_known_inputs() {
        assert_eq!(sha256_hex(b""), EMPTY_SHA256);
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hex::encode(sha256(b"")), EMPTY_SHA256);
    }

    #[test]
    fn digest_string_round_trips_for_every_algorithm() {
        for alg in [
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha384,
            HashAlgorithm::Sha512,
        ] {
            let d = digest_string(alg, b"payload");
            assert!(d.starts_with(&format!("{alg}:")));
            assert_eq!(d.len(), alg.name().len() + 1 + 2 * alg.output_len());
            assert!(digest_matches(&d, b"payload"), "{d}");
            assert!(!digest_matches(&d, b"payload2"), "{d}");
            assert_eq!(HashAlgorithm::from_name(alg.name()), Some(alg));
        }
        assert_eq!(
            digest_string(HashAlgorithm::Sha384, b"abc"),
            "sha384:cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
             8086072ba1e7cc2358baeca134c825a7"
        );
    }

    #[test]
    fn digest_matches_rejects_malformed_digests() {
        let good = format!("sha256:{EMPTY_SHA256}");
        assert!(digest_matches(&good, b""));
        for bad in [
            String::new(),
            ":".to_owned(),
            EMPTY_SHA256.to_owned(),
            format!("SHA256:{EMPTY_SHA256}"),
            format!("sha256:{}", EMPTY_SHA256.to_uppercase()),
            format!("md5:{EMPTY_SHA256}"),
            format!("sha1:{EMPTY_SHA256}"),
            format!("sha256:{}", &EMPTY_SHA256[..63]),
            format!("sha256:{EMPTY_SHA256}0"),
            format!("sha256:{EMPTY_SHA256}:"),
            format!("sha256: {EMPTY_SHA256}"),
            format!("sha384:{EMPTY_SHA256}"),
            "sha256:é".to_owned(),
            format!("sha256:{}", "g".repeat(64)),
        ] {
            assert!(!digest_matches(&bad, b""), "{bad:?}");
        }
    }
}
