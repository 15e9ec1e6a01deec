//! Acting on a passing revision: promotion (a digest-pinned commit on a deploy branch) and
//! server-side apply into a cluster.

pub mod apply;
pub mod promote;
pub mod update;

pub use promote::{PromoteOutcome, Promotion, promote};
