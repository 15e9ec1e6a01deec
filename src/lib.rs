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
//! Modules, in data-flow order:
//! - [`manifests`]: safe tree walk, multi-document YAML/JSON, image extraction with JSON
//!   pointers, kustomize `images:` overrides, format-preserving pinning (pure but for reads).
//! - [`reference`]: the image reference grammar and normalization (pure).
//! - [`registry`]: the edge that fetches manifests and blobs (HTTP or OCI layout), with
//!   auth, limits, retries and digest re-checks; signature discovery.
//! - [`verify`]: orchestration — deduplicated, concurrent evidence gathering.
//! - [`evidence`]: the gathered bytes as plain values.
//! - [`crypto`], [`sigstore`]: public keys and cosign payload/signature checks (pure).
//! - [`attest`]: in-toto statements and DSSE envelopes (pure).
//! - [`keysource`]: where keys come from (files, `env://`, `k8s://`).
//! - [`policy`]: `ImagePolicy` schema, validation, pure evaluation.
//! - [`gate`]: snapshot + evidence → per-image verdicts → [`verdict::Decision`] (pure).
//! - [`report`]: text, JSON, SARIF and JUnit renderings (pure).
//! - [`config`]: the standalone gate's `GateConfig`, validated once.
//! - [`source`]: the Git edge (cached bare repositories, safe checkout, commit and tag
//!   signatures); [`target`]: promotion commits on a deploy branch.
//! - [`daemon`]: the reconcile core of `sealgate run` and its status (a value);
//!   [`http`] and [`metrics`]: its HTTP surface (`/status`, `/metrics`, webhooks).
//! - [`time`]: RFC 3339 timestamps and durations (pure; the clock is an argument).
//! - [`files`]: reading user-named files (regular files only, bounded, never blocking).
#![forbid(unsafe_code)]

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
pub mod reference;
pub mod registry;
pub mod report;
pub mod sigstore;
pub mod source;
pub mod target;
pub mod time;
pub mod verdict;
pub mod verify;
