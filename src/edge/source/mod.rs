//! The Git edge: fetching the watched ref into a cached bare repository, reading a
//! revision's files into a private directory under the manifest loader's rules, commit
//! and tag reading (their signatures are checked by [`crate::crypto::git_signature`]), and (in [`crate::edge::target`]) writing promotion commits.
//!
//! Everything here blocks (libgit2); async callers run it on a blocking thread.

pub mod git;

pub use git::{CheckedOut, FetchOutcome, GitError, Repo};
