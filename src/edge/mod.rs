//! The edges: everything that talks to the outside world. Pure layers never import these.
//!
//! - [`registry`]: OCI registries over HTTP or an OCI layout on disk (auth, limits, the
//!   digest of every fetched byte re-checked, signature discovery).
//! - [`verify`]: deduplicated concurrent gathering, the evidence cache, and
//!   [`verify::check`], the one check pipeline call (policies → plan → gather → decide).
//! - [`source`]: Git (cached bare repositories, safe checkout, tags).
//! - [`target`]: what acts on a passed revision (promotion commits, server-side apply).
//! - [`kube`]: Kubernetes Secret reads for `k8s://` key references.
//! - [`kms`]: key managers (Vault / OpenBao transit) for `hashivault://` keys.

pub mod kms;
pub mod kube;
pub mod registry;
pub mod source;
pub mod target;
pub mod verify;
