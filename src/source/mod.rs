//! The Git edge: fetching the watched ref into a cached bare repository, reading a
//! revision's files into a private directory under the manifest loader's rules, commit
//! and tag signature checks, and (in [`crate::target`]) writing promotion commits.
//!
//! Everything here blocks (libgit2); async callers run it on a blocking thread.

pub mod git;
pub mod signature;

pub use git::{CheckedOut, FetchOutcome, GitError, Repo};
