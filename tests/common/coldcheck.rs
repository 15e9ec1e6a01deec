//! A cold in-process check, as `sealgate check` does it (new client, nothing cached), for
//! the benchmarks.

use std::path::Path;

use sealgate::edge::registry::credentials::DockerConfig;
use sealgate::edge::registry::http::{HttpOptions, HttpRegistry};
use sealgate::manifests::{self, LoadOptions};

/// Checks the manifests in `dir` against `policy` on the plain-HTTP `registry`:
/// (decision, registry requests).
pub async fn cold_check(
    dir: &Path,
    policy: &Path,
    registry: &str,
    concurrency: usize,
) -> (String, u64) {
    let policies = sealgate::policy::load(policy).unwrap();
    let snapshot = manifests::load_paths(&[dir.to_path_buf()], &LoadOptions::default());
    let wanted = sealgate::decision::plan(&snapshot, &policies, false);
    let now = sealgate::base::time::now();
    let enough = sealgate::policy::eval::signatures_enough(&policies, now);
    let http = HttpRegistry::new(
        HttpOptions {
            insecure: vec![registry.to_string()],
            concurrency,
            ..HttpOptions::default()
        },
        DockerConfig::default(),
    )
    .unwrap();
    let evidence = sealgate::edge::verify::gather_until(
        &http,
        &wanted,
        &sealgate::edge::verify::GatherOptions {
            concurrency,
            ..Default::default()
        },
        None,
        Some(&enough),
    )
    .await;
    let report = sealgate::decision::decide(&snapshot, &policies, &evidence, now);
    (report.decision.as_str().to_string(), http.requests())
}
