//! The vocabulary every layer shares, pure and dependency-free within the crate: the image
//! reference grammar ([`reference`]), verdicts and reason codes ([`verdict`]), gathered bytes
//! as values ([`evidence`]), RFC 3339 time ([`time`]), the crate's top-level error
//! ([`error`]), and the one way user-named files are read ([`files`]: regular files only,
//! bounded, never blocking).

pub mod error;
pub mod evidence;
pub mod files;
pub mod reference;
pub mod time;
pub mod verdict;
