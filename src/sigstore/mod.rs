//! Sigstore/cosign formats checked over bytes already fetched (pure): the cosign
//! simple-signing payload, key-based verification of legacy `.sig` layers, and keyless
//! Sigstore verification (trusted root, Fulcio certificates, Rekor entries, RFC 3161
//! timestamps, bundles). May depend on `crypto` and `reference`, never on the registry edge.

pub mod bundle;
pub mod fulcio;
pub mod rekor;
pub mod simple_signing;
pub mod trust;
pub mod tsa;
pub mod verify;
pub mod x509;
