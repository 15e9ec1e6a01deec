//! Cryptographic primitives for signature verification: public keys (ECDSA P-256/384/521, RSA,
//! Ed25519 incl. Ed25519ph), signature checks the way cosign makes them, PEM decoding, SHA-2
//! digests and lenient base64.
//!
//! Everything here is pure and synchronous: bytes in, values or errors out. No I/O, no clock; the only
//! other sealgate module used is [`crate::base`]. [`git_signature`] checks Git commit and tag
//! signatures (SSH `sshsig`, OpenPGP). Higher layers (cosign payloads, bundles, Notation, TUF)
//! build on [`PublicKey::verify`] and the digest helpers.
//!
//! No function in this module panics on any input.

pub mod git_signature;
mod hash;
pub mod keyfile;
mod keys;
mod pem;

#[cfg(test)]
mod tests;

pub use hash::{HashAlgorithm, digest_matches, digest_string, sha256, sha256_hex};
pub use keyfile::{KeyFileError, PrivateKey};
pub use keys::{
    KeyAlgorithm, KeyError, MAX_RSA_BITS, MIN_RSA_BITS, PublicKey, RsaPadding, SignatureError,
};
pub use pem::{PemBlock, PemError, parse_pem_block, parse_pem_blocks};

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard-alphabet base64 that accepts input with or without `=` padding.
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decode standard-alphabet base64 (`+/`), with or without `=` padding, ignoring leading and
/// trailing whitespace (signature annotations and key files often end with a newline).
///
/// # Errors
/// Returns the [`base64::DecodeError`] for characters outside the standard alphabet (including
/// the URL-safe `-_` and inner whitespace), an impossible length, or non-zero trailing bits.
pub fn decode_base64_lenient(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    STANDARD_LENIENT.decode(s.trim())
}

#[cfg(test)]
mod base64_tests {
    use super::decode_base64_lenient;

    #[test]
    fn accepts_padded_unpadded_and_surrounding_whitespace() {
        for input in ["aGk=", "aGk", " aGk=\n", "\r\n\taGk\r\n"] {
            assert_eq!(decode_base64_lenient(input).unwrap(), b"hi", "{input:?}");
        }
        assert_eq!(decode_base64_lenient("").unwrap(), b"");
        assert_eq!(decode_base64_lenient("+/8=").unwrap(), [0xfb, 0xff]);
    }

    #[test]
    fn rejects_other_alphabets_and_garbage() {
        for input in ["-_8=", "aG k=", "a", "aGk==", "!!!!", "aGl="] {
            assert!(decode_base64_lenient(input).is_err(), "{input:?}");
        }
    }
}
