//! Sigstore/cosign formats checked over bytes already fetched (pure): the cosign
//! simple-signing payload and key-based verification of legacy `.sig` layers.
//! May depend on `crypto` and `reference`, never on the registry edge.

pub mod cosign;
pub mod simple_signing;
