//! # sealgate
//!
//! A GitOps deployment gate: for every revision of a repository of Kubernetes manifests
//! it extracts every container image reference, resolves tags to digests, verifies the
//! images' signatures against policy, and only lets a revision through when every image
//! passed. Failures are verdicts with stable reason codes; "could not check" blocks too.
//!
//! **Gather bytes at the edges, decide in the middle, act at the edges.**
//!
//! ```text
//!  manifests ──► images ──► evidence ──► policy ──► decision ──► report / pin
//!  (safe walk,   (refs +     (registry:    (pure rule   (pure: pass/
//!   YAML docs,    JSON        resolve,      evaluation,  blocked/warn,
//!   limits)       pointers)   .sig fetch,   k-of-n)      per image)
//!                             re-hash)
//! ```
//!
//! Modules by layer (each may use only the layers above it; `tests/layering.rs` checks it,
//! docs/design.md has the map):
//! - pure basics: [`reference`](mod@reference) (the image reference grammar), [`verdict`], [`evidence`]
//!   (gathered bytes as values), [`time`], [`error`], [`files`] (reading user-named files:
//!   regular only, bounded, never blocking).
//! - [`manifests`]: safe tree walk, multi-document YAML/JSON, image extraction with JSON
//!   pointers, kustomize `images:` overrides, format-preserving pinning.
//! - [`crypto`] (public keys, key files), [`sigstore`] (bundles, Rekor, Fulcio, TSA, trusted
//!   roots: protocol only), [`attest`] (in-toto, DSSE, SBOM and scan readers),
//!   [`keysource`] (files, `env://`, `k8s://`).
//! - [`policy`]: `ImagePolicy` schema, validation, and rule evaluation
//!   ([`policy::signatures`], [`policy::attestations`], [`policy::eval`]), [`policy::digest`].
//! - [`gate`]: plan → decide → pin plan over a snapshot and evidence (pure); [`report`]: text,
//!   JSON, SARIF and JUnit renderings.
//! - edges: [`registry`] (HTTP or OCI layout, auth, limits, digest re-checks, signature
//!   discovery), [`verify`] (deduplicated concurrent gathering, the evidence cache, and
//!   [`verify::check`], the one check pipeline call), [`source`] (Git: cached bare
//!   repositories, safe checkout, commit and tag signatures), [`target`] (promotion commits,
//!   server-side apply).
//! - [`reconcile`]: the one reconcile core (ordered sub-steps, one status type, the
//!   [`reconcile::Driver`] trait).
//! - drivers and front ends: [`daemon`] (`sealgate run`), [`controller`] (`sealgate
//!   controller`, kube-runtime), [`config`] (the standalone gate's `GateConfig`), [`http`] and
//!   [`metrics`] (`/status`, `/metrics`, webhooks); the `sealgate` binary's `cli`.
#![forbid(unsafe_code)]
// Unit tests fail loudly: the one exception to the crate's unwrap/expect/panic lints.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        reason = "tests fail loudly"
    )
)]

pub mod attest;
pub mod config;
pub mod controller;
pub mod crypto;
pub mod daemon;
pub mod error;
pub mod evidence;
pub mod files;
pub mod gate;
pub mod http;
pub mod keysource;
pub mod manifests;
pub mod metrics;
pub mod policy;
pub mod reconcile;
pub mod reference;
pub mod registry;
pub mod report;
pub mod sigstore;
pub mod source;
pub mod target;
pub mod time;
pub mod verdict;
pub mod verify;
