//! Acting on a passing revision: promotion (a digest-pinned commit on a deploy branch).

pub mod promote;

pub use promote::{PromoteOutcome, Promotion, promote};
