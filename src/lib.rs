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
//! Modules by layer, lowest first (each may use only the layers before it; `tests/layering.rs`
//! checks it, docs/design.md has the map). The folder says what a file may import.
//! - [`base`]: the shared vocabulary, pure: [`base::reference`] (the image reference
//!   grammar), [`base::verdict`], [`base::evidence`] (gathered bytes as values),
//!   [`base::time`], [`base::error`], [`base::files`] (reading user-named files: regular only,
//!   bounded, never blocking).
//! - [`manifests`]: safe tree walk, multi-document YAML/JSON, image extraction with JSON
//!   pointers, kustomize `images:` overrides, format-preserving pinning.
//! - [`crypto`]: public keys, key files, digests, and [`crypto::git_signature`] (SSH and
//!   OpenPGP commit/tag signatures).
//! - [`sigstore`] (bundles, Rekor, Fulcio, TSA, trusted roots: protocol only) and [`attest`]
//!   (in-toto, DSSE, SBOM and scan readers): pure readers of fetched bytes.
//! - [`policy`]: the `ImagePolicy` schema, validation, key references
//!   ([`policy::keysource`]: files, `env://`, `k8s://`), rule evaluation
//!   ([`policy::signatures`], [`policy::attestations`], [`policy::eval`]) and
//!   [`policy::digest`].
//! - [`decision`]: plan → decide → pin plan over a snapshot and evidence (pure), and
//!   [`decision::report`] (text, JSON, SARIF and JUnit renderings).
//! - [`updates`]: image automation's pure half (update policies, tag selection, `$imagepolicy`
//!   markers and their rewrite).
//! - [`edge`]: everything that does I/O — [`edge::registry`] (HTTP or OCI layout, auth,
//!   limits, digest re-checks, signature discovery), [`edge::verify`] (deduplicated
//!   concurrent gathering, the evidence cache, and [`edge::verify::check`], the one check
//!   pipeline call), [`edge::source`] (Git: cached bare repositories, safe checkout),
//!   [`edge::target`] (promotion commits, server-side apply), [`edge::kube`] (Secret reads).
//! - [`reconcile`]: the one reconcile core (ordered sub-steps, one status type, the
//!   [`reconcile::Driver`] trait).
//! - drivers and front ends: [`standalone`] (`sealgate run` and its
//!   [`standalone::config`]), [`controller`] (`sealgate controller`, kube-runtime),
//!   [`serve`] (`/status`, `/metrics`, webhooks), [`webhook`] (`sealgate webhook`, the
//!   admission webhook over HTTPS, around the pure [`decision::admission`]); the `sealgate`
//!   binary's `cli`.
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

pub mod base;

pub mod crypto;
pub mod manifests;

pub mod attest;
pub mod sigstore;

pub mod policy;

pub mod decision;
pub mod updates;

pub mod edge;

pub mod reconcile;

pub mod controller;
pub mod serve;
pub mod standalone;
pub mod webhook;
