//! What the long-running front ends serve: the HTTP surface of `sealgate run` ([`http`]:
//! `/status`, `/metrics`, health, Git webhooks), the release manager's page both serve
//! ([`page`]) and the Prometheus metrics both the standalone gate and the controller record
//! ([`metrics`]).

pub mod http;
pub mod metrics;
pub mod page;
