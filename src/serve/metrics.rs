//! Prometheus metrics of the sealgate daemon, exposed in the OpenMetrics text
//! format on `GET /metrics` (see [`crate::serve::http`]).
//!
//! Every metric is prefixed `sealgate_`. Labels only ever carry outcomes,
//! reasons, status classes and registry hosts — never image references or
//! Kubernetes object names, so the label cardinality stays bounded.
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `sealgate_reconciles_total` | counter | `result` |
//! | `sealgate_reconcile_duration_seconds` | histogram | — |
//! | `sealgate_image_verdicts` | gauge | `verdict`, `reason` |
//! | `sealgate_registry_requests_total` | counter | `registry`, `class` |
//! | `sealgate_verification_cache_total` | counter | `result` |
//! | `sealgate_blocked_gates` | gauge | — |
//! | `sealgate_last_promotion_timestamp_seconds` | gauge | — |
//! | `sealgate_admission_requests_total` | counter | `result`, `reason` |
//! | `sealgate_admission_duration_seconds` | histogram | — |
//!
//! Counters are registered without their `_total` suffix: the
//! prometheus-client encoder appends it to the sample line (and 0.26 rejects a
//! registered counter name that already ends in `_total`).

use std::sync::{PoisonError, RwLock};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Upper bounds (seconds) of the reconcile duration histogram: 5 ms … 5 min.
pub const RECONCILE_BUCKETS: [f64; 15] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Outcome of one reconcile, the `result` label of `sealgate_reconciles_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReconcileResult {
    /// A new revision was promoted (label value `promoted`).
    Promoted,
    /// The controller server-side applied a revision (`applied`).
    Applied,
    /// Nothing to do: the revision was already promoted (`unchanged`).
    Unchanged,
    /// The gate blocked the revision (`blocked`).
    Blocked,
    /// The revision waits for a manual approval (`awaiting_approval`).
    AwaitingApproval,
    /// The reconcile failed (`error`).
    Error,
}

impl ReconcileResult {
    /// The result of a reconcile's outcome (both drivers).
    pub fn of(o: &crate::reconcile::Outcome) -> Self {
        use crate::reconcile::Outcome;
        match o {
            Outcome::Applied { .. } => Self::Applied,
            Outcome::Promoted { .. } => Self::Promoted,
            Outcome::UpToDate => Self::Unchanged,
            Outcome::Blocked { .. } => Self::Blocked,
            Outcome::AwaitingApproval => Self::AwaitingApproval,
            Outcome::Failed { .. } => Self::Error,
        }
    }

    /// The label value exported for this result.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Promoted => "promoted",
            Self::Applied => "applied",
            Self::Unchanged => "unchanged",
            Self::Blocked => "blocked",
            Self::AwaitingApproval => "awaiting_approval",
            Self::Error => "error",
        }
    }
}

// The derive would export the Rust identifier verbatim ("AwaitingApproval");
// Prometheus label values are conventionally snake_case.
impl EncodeLabelValue for ReconcileResult {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

/// Class of a registry response, the `class` label of
/// `sealgate_registry_requests_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusClass {
    /// 200–299.
    Success,
    /// 300–399.
    Redirect,
    /// 400–499.
    ClientError,
    /// 500–599.
    ServerError,
    /// Transport error or timeout (status 0), or a status outside 200–599.
    Error,
}

impl StatusClass {
    /// Classifies an HTTP status; `0` stands for a transport error or timeout.
    pub fn from_status(status: u16) -> Self {
        match status {
            200..=299 => Self::Success,
            300..=399 => Self::Redirect,
            400..=499 => Self::ClientError,
            500..=599 => Self::ServerError,
            _ => Self::Error,
        }
    }

    /// The label value exported for this class.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "2xx",
            Self::Redirect => "3xx",
            Self::ClientError => "4xx",
            Self::ServerError => "5xx",
            Self::Error => "error",
        }
    }
}

// "2xx" is not a Rust identifier, so this value cannot come from the derive.
impl EncodeLabelValue for StatusClass {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

/// Outcome of a verification cache lookup.
/// Buckets of `sealgate_admission_duration_seconds`: a cache hit takes milliseconds, the
/// deadline is 8 s by default.
pub const ADMISSION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 8.0, 10.0,
];

/// What the admission webhook answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AdmissionResult {
    /// Allowed, no warning.
    Allowed,
    /// Allowed with warnings (warn-mode failures).
    Warned,
    /// Denied (a blocking failure, or the deadline).
    Denied,
    /// Not an answerable review (HTTP 400).
    Invalid,
}

impl AdmissionResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Warned => "warned",
            Self::Denied => "denied",
            Self::Invalid => "invalid",
        }
    }
}

impl EncodeLabelValue for AdmissionResult {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AdmissionLabels {
    result: AdmissionResult,
    /// A reason code, or `""`: bounded.
    reason: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum CacheResult {
    Hit,
    Miss,
}

impl EncodeLabelValue for CacheResult {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(
            encoder,
            match self {
                Self::Hit => "hit",
                Self::Miss => "miss",
            },
        )
    }
}

/// Labels of `sealgate_reconciles_total`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReconcileLabels {
    result: ReconcileResult,
}

/// Labels of `sealgate_image_verdicts`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct VerdictLabels {
    verdict: String,
    reason: String,
}

/// Labels of `sealgate_registry_requests_total`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RegistryLabels {
    registry: String,
    class: StatusClass,
}

/// Labels of `sealgate_image_updates_total`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct UpdateLabels {
    /// `updated`, `unchanged`, `failed`.
    result: &'static str,
}

/// Labels of `sealgate_image_update_rejections_total`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RejectionLabels {
    /// A reason code (bounded set).
    reason: String,
}

/// Labels of `sealgate_verification_cache_total`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CacheLabels {
    result: CacheResult,
}

/// The daemon's metric registry and families. `Send + Sync`: share it in an
/// `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ReconcileLabels, Counter>,
    reconcile_duration: Histogram,
    image_verdicts: Family<VerdictLabels, Gauge>,
    registry_requests: Family<RegistryLabels, Counter>,
    cache: Family<CacheLabels, Counter>,
    blocked_gates: Gauge,
    last_promotion: Gauge,
    last_success: Gauge,
    admission_requests: Family<AdmissionLabels, Counter>,
    admission_duration: Histogram,
    image_updates: Family<UpdateLabels, Counter>,
    update_rejections: Family<RejectionLabels, Counter>,
    /// The cache totals already counted by [`Metrics::cache_totals`].
    cache_counted: std::sync::Mutex<(u64, u64)>,
    /// Makes [`Metrics::set_image_verdicts`] (clear + refill) atomic with
    /// respect to [`Metrics::encode`]: a scrape never sees a half-replaced
    /// verdict family. Encoders share it, the replacement holds it alone.
    verdicts_swap: RwLock<()>,
}

impl Metrics {
    /// Creates the registry with every sealgate metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();

        let reconciles = Family::<ReconcileLabels, Counter>::default();
        registry.register(
            "sealgate_reconciles",
            "Reconciles completed, by result",
            reconciles.clone(),
        );

        let reconcile_duration = Histogram::new(RECONCILE_BUCKETS);
        registry.register_with_unit(
            "sealgate_reconcile_duration",
            "Wall-clock duration of a reconcile",
            Unit::Seconds,
            reconcile_duration.clone(),
        );

        let image_verdicts = Family::<VerdictLabels, Gauge>::default();
        registry.register(
            "sealgate_image_verdicts",
            "Images of the last reconcile, by verdict and reason",
            image_verdicts.clone(),
        );

        let registry_requests = Family::<RegistryLabels, Counter>::default();
        registry.register(
            "sealgate_registry_requests",
            "Requests to container registries, by registry host and response class",
            registry_requests.clone(),
        );

        let cache = Family::<CacheLabels, Counter>::default();
        registry.register(
            "sealgate_verification_cache",
            "Verification cache lookups, by result",
            cache.clone(),
        );

        let blocked_gates = Gauge::default();
        registry.register(
            "sealgate_blocked_gates",
            "Gates currently blocking a revision",
            blocked_gates.clone(),
        );

        let last_promotion = Gauge::default();
        registry.register_with_unit(
            "sealgate_last_promotion_timestamp",
            "Unix time of the last promotion",
            Unit::Seconds,
            last_promotion.clone(),
        );

        let last_success = Gauge::default();
        registry.register_with_unit(
            "sealgate_last_success_timestamp",
            "Unix time of the last reconcile that ended applied, promoted or unchanged",
            Unit::Seconds,
            last_success.clone(),
        );

        let admission_requests = Family::<AdmissionLabels, Counter>::default();
        registry.register(
            "sealgate_admission_requests",
            "Admission reviews answered, by result and first blocking reason code",
            admission_requests.clone(),
        );

        let admission_duration = Histogram::new(ADMISSION_BUCKETS);
        registry.register_with_unit(
            "sealgate_admission_duration",
            "Time from receiving an admission review to answering it",
            Unit::Seconds,
            admission_duration.clone(),
        );

        let image_updates = Family::<UpdateLabels, Counter>::default();
        registry.register(
            "sealgate_image_updates",
            "Image update policies scanned, by result (updated, unchanged, failed)",
            image_updates.clone(),
        );
        let update_rejections = Family::<RejectionLabels, Counter>::default();
        registry.register(
            "sealgate_image_update_rejections",
            "Newer tags image updates did not take, by reason code",
            update_rejections.clone(),
        );

        Self {
            image_updates,
            update_rejections,
            registry,
            reconciles,
            reconcile_duration,
            image_verdicts,
            registry_requests,
            cache,
            blocked_gates,
            last_promotion,
            last_success,
            admission_requests,
            admission_duration,
            cache_counted: std::sync::Mutex::new((0, 0)),
            verdicts_swap: RwLock::new(()),
        }
    }

    /// One image update scan: per policy `updated` (it moved), `failed` (it could not be
    /// scanned or pushed) or `unchanged`; every rejected newer tag by its reason.
    pub fn image_scan(
        &self,
        policies: &[crate::reconcile::status::ImageUpdateStatus],
        scan: &crate::reconcile::updates::Scan,
    ) {
        use crate::reconcile::updates::Scan;
        for p in policies {
            let result = match scan {
                Scan::Committed { moved, .. } if moved.contains(&p.name) => "updated",
                _ if p.message.is_some() => "failed",
                _ => "unchanged",
            };
            self.image_updates
                .get_or_create(&UpdateLabels { result })
                .inc();
            for r in &p.rejected {
                self.update_rejections
                    .get_or_create(&RejectionLabels {
                        reason: r.reason.clone(),
                    })
                    .inc();
            }
        }
    }

    /// OpenMetrics text for `GET /metrics`, ending with `# EOF`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _guard = self
            .verdicts_swap
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if let Err(err) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            // Writing to a String cannot fail and no label encoder of ours
            // errs; keep serving what was written rather than panicking.
            tracing::warn!(error = %err, "encoding metrics failed");
        }
        out
    }

    /// Records one admission answer: `sealgate_admission_requests_total{result, reason}` and
    /// `sealgate_admission_duration_seconds`.
    pub fn admission(&self, result: AdmissionResult, reason: Option<&'static str>, seconds: f64) {
        self.admission_requests
            .get_or_create(&AdmissionLabels {
                result,
                reason: reason.unwrap_or(""),
            })
            .inc();
        let seconds = if seconds.is_finite() && seconds > 0.0 {
            seconds
        } else {
            0.0
        };
        self.admission_duration.observe(seconds);
    }

    /// Records one reconcile: `sealgate_reconciles_total{result}` counter and
    /// `sealgate_reconcile_duration_seconds` histogram (buckets
    /// [`RECONCILE_BUCKETS`]). A negative or non-finite duration is recorded
    /// as 0 so that it cannot poison the histogram's sum.
    pub fn reconcile(&self, result: ReconcileResult, seconds: f64) {
        self.reconciles
            .get_or_create(&ReconcileLabels { result })
            .inc();
        let seconds = if seconds.is_finite() && seconds > 0.0 {
            seconds
        } else {
            0.0
        };
        self.reconcile_duration.observe(seconds);
    }

    /// Replaces the whole `sealgate_image_verdicts{verdict, reason}` gauge
    /// family with `counts` = `(verdict, reason, count)` (the last reconcile's
    /// images; reason `""` for a pass). Label sets absent from `counts`
    /// disappear; duplicate `(verdict, reason)` pairs are summed.
    pub fn set_image_verdicts(&self, counts: &[(String, String, i64)]) {
        let _guard = self
            .verdicts_swap
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        self.image_verdicts.clear();
        for (verdict, reason, count) in counts {
            let labels = VerdictLabels {
                verdict: verdict.clone(),
                reason: reason.clone(),
            };
            let gauge = self.image_verdicts.get_or_create(&labels);
            gauge.set(gauge.get().saturating_add(*count));
        }
    }

    /// Counts one registry request in
    /// `sealgate_registry_requests_total{registry, class}`; `registry` is the
    /// registry host, `status` the HTTP status or 0 for a transport error or
    /// timeout (class `error`).
    pub fn registry_request(&self, registry: &str, status: u16) {
        self.registry_requests
            .get_or_create(&RegistryLabels {
                registry: registry.to_owned(),
                class: StatusClass::from_status(status),
            })
            .inc();
    }

    /// Brings `sealgate_verification_cache_total` up to a cache's running totals (its
    /// `stats()`): counts what was not counted yet, so every user of one cache may call it
    /// after its own lookups and each lookup is counted once.
    pub fn cache_totals(&self, hits: u64, misses: u64) {
        let mut last = self
            .cache_counted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (counted_hits, counted_misses) = &mut *last;
        for (hit, now, before) in [(true, hits, counted_hits), (false, misses, counted_misses)] {
            if now > *before {
                let result = if hit {
                    CacheResult::Hit
                } else {
                    CacheResult::Miss
                };
                self.cache
                    .get_or_create(&CacheLabels { result })
                    .inc_by(now - *before);
                *before = now;
            }
        }
    }

    /// Sets `sealgate_blocked_gates` (0/1 for the standalone daemon, a count
    /// in the controller).
    pub fn set_blocked_gates(&self, n: i64) {
        self.blocked_gates.set(n);
    }

    /// Sets `sealgate_last_promotion_timestamp_seconds` to a Unix time.
    pub fn set_last_promotion(&self, unix_seconds: i64) {
        self.last_promotion.set(unix_seconds);
    }

    /// Sets `sealgate_last_success_timestamp_seconds` to a Unix time.
    pub fn set_last_success(&self, unix_seconds: i64) {
        self.last_success.set(unix_seconds);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sample and metadata lines of one metric family (`# HELP`, `# TYPE`,
    /// `# UNIT` and samples), in exposition order.
    fn family_lines(text: &str, name: &str) -> Vec<String> {
        text.lines()
            .filter(|line| {
                let rest = line
                    .strip_prefix("# HELP ")
                    .or_else(|| line.strip_prefix("# TYPE "))
                    .or_else(|| line.strip_prefix("# UNIT "))
                    .unwrap_or(line);
                rest.strip_prefix(name).is_some_and(|tail| {
                    tail.starts_with(' ')
                        || tail.starts_with('{')
                        || tail.starts_with("_total")
                        || tail.starts_with("_bucket")
                        || tail.starts_with("_sum")
                        || tail.starts_with("_count")
                })
            })
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn fresh_registry_exposes_only_unlabelled_metrics() {
        let m = Metrics::new();
        let text = m.encode();
        assert!(text.ends_with("# EOF\n"), "{text}");
        // A labelled family without any label set is not exposed at all.
        for family in [
            "sealgate_reconciles",
            "sealgate_image_verdicts",
            "sealgate_registry_requests",
            "sealgate_verification_cache",
        ] {
            assert_eq!(
                family_lines(&text, family),
                Vec::<String>::new(),
                "{family}"
            );
        }
        // The unlabelled ones are, at zero.
        assert_eq!(
            family_lines(&text, "sealgate_reconcile_duration_seconds")
                .last()
                .map(String::as_str),
            Some("sealgate_reconcile_duration_seconds_bucket{le=\"+Inf\"} 0")
        );
        assert_eq!(
            family_lines(&text, "sealgate_last_promotion_timestamp_seconds")
                .last()
                .map(String::as_str),
            Some("sealgate_last_promotion_timestamp_seconds 0")
        );
        assert_eq!(
            family_lines(&text, "sealgate_blocked_gates"),
            [
                "# HELP sealgate_blocked_gates Gates currently blocking a revision.",
                "# TYPE sealgate_blocked_gates gauge",
                "sealgate_blocked_gates 0",
            ]
        );
        // No metric name ends up with a doubled suffix.
        assert!(!text.contains("_total_total"), "{text}");
        assert!(!text.contains("_seconds_seconds"), "{text}");
    }

    #[test]
    fn reconciles_counter_and_histogram() {
        let m = Metrics::new();
        m.reconcile(ReconcileResult::Promoted, 0.003);
        m.reconcile(ReconcileResult::Promoted, 42.0);
        m.reconcile(ReconcileResult::AwaitingApproval, 0.5);
        m.reconcile(ReconcileResult::Error, f64::NAN);
        let text = m.encode();

        let mut counter = family_lines(&text, "sealgate_reconciles");
        counter[2..].sort();
        assert_eq!(
            counter,
            [
                "# HELP sealgate_reconciles Reconciles completed, by result.",
                "# TYPE sealgate_reconciles counter",
                "sealgate_reconciles_total{result=\"awaiting_approval\"} 1",
                "sealgate_reconciles_total{result=\"error\"} 1",
                "sealgate_reconciles_total{result=\"promoted\"} 2",
            ]
        );

        let hist = family_lines(&text, "sealgate_reconcile_duration_seconds");
        let expected = [
            "# HELP sealgate_reconcile_duration_seconds Wall-clock duration of a reconcile.",
            "# TYPE sealgate_reconcile_duration_seconds histogram",
            "# UNIT sealgate_reconcile_duration_seconds seconds",
            "sealgate_reconcile_duration_seconds_sum 42.503",
            "sealgate_reconcile_duration_seconds_count 4",
            "sealgate_reconcile_duration_seconds_bucket{le=\"0.005\"} 2",
            "sealgate_reconcile_duration_seconds_bucket{le=\"0.01\"} 2",
            "sealgate_reconcile_duration_seconds_bucket{le=\"0.025\"} 2",
            "sealgate_reconcile_duration_seconds_bucket{le=\"0.05\"} 2",
            "sealgate_reconcile_duration_seconds_bucket{le=\"0.1\"} 2",
            "sealgate_reconcile_duration_seconds_bucket{le=\"0.25\"} 2",
            "sealgate_reconcile_duration_seconds_bucket{le=\"0.5\"} 3",
            "sealgate_reconcile_duration_seconds_bucket{le=\"1.0\"} 3",
            "sealgate_reconcile_duration_seconds_bucket{le=\"2.5\"} 3",
            "sealgate_reconcile_duration_seconds_bucket{le=\"5.0\"} 3",
            "sealgate_reconcile_duration_seconds_bucket{le=\"10.0\"} 3",
            "sealgate_reconcile_duration_seconds_bucket{le=\"30.0\"} 3",
            "sealgate_reconcile_duration_seconds_bucket{le=\"60.0\"} 4",
            "sealgate_reconcile_duration_seconds_bucket{le=\"120.0\"} 4",
            "sealgate_reconcile_duration_seconds_bucket{le=\"300.0\"} 4",
            "sealgate_reconcile_duration_seconds_bucket{le=\"+Inf\"} 4",
        ];
        assert_eq!(hist, expected, "{text}");
        // 15 finite buckets + the +Inf bucket.
        assert_eq!(
            hist.iter().filter(|l| l.contains("_bucket{")).count(),
            RECONCILE_BUCKETS.len() + 1
        );
    }

    #[test]
    fn image_verdicts_are_replaced_wholesale() {
        let m = Metrics::new();
        m.set_image_verdicts(&[
            ("pass".into(), String::new(), 3),
            ("fail".into(), "unsigned".into(), 1),
            ("fail".into(), "expired".into(), 2),
        ]);
        let mut lines = family_lines(&m.encode(), "sealgate_image_verdicts");
        lines[2..].sort();
        assert_eq!(
            lines,
            [
                "# HELP sealgate_image_verdicts Images of the last reconcile, by verdict and reason.",
                "# TYPE sealgate_image_verdicts gauge",
                "sealgate_image_verdicts{verdict=\"fail\",reason=\"expired\"} 2",
                "sealgate_image_verdicts{verdict=\"fail\",reason=\"unsigned\"} 1",
                "sealgate_image_verdicts{verdict=\"pass\",reason=\"\"} 3",
            ]
        );

        // The next reconcile replaces the family: the fail label sets vanish,
        // duplicates are summed, odd characters are escaped.
        m.set_image_verdicts(&[
            ("pass".into(), String::new(), 4),
            ("pass".into(), String::new(), 1),
            ("warn".into(), "a \"quoted\"\nreason".into(), 1),
        ]);
        let mut lines = family_lines(&m.encode(), "sealgate_image_verdicts");
        lines[2..].sort();
        assert_eq!(
            lines[2..],
            [
                "sealgate_image_verdicts{verdict=\"pass\",reason=\"\"} 5",
                "sealgate_image_verdicts{verdict=\"warn\",reason=\"a \\\"quoted\\\"\\nreason\"} 1",
            ]
        );

        // An empty slice removes every label set: the family disappears.
        m.set_image_verdicts(&[]);
        assert_eq!(
            family_lines(&m.encode(), "sealgate_image_verdicts"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn registry_requests_by_class() {
        let m = Metrics::new();
        for status in [200, 204, 301, 404, 401, 503, 0, 101, 600] {
            m.registry_request("ghcr.io", status);
        }
        m.registry_request("registry.example:5000", 200);
        let mut lines = family_lines(&m.encode(), "sealgate_registry_requests");
        lines[2..].sort();
        assert_eq!(
            lines,
            [
                "# HELP sealgate_registry_requests Requests to container registries, by registry host and response class.",
                "# TYPE sealgate_registry_requests counter",
                "sealgate_registry_requests_total{registry=\"ghcr.io\",class=\"2xx\"} 2",
                "sealgate_registry_requests_total{registry=\"ghcr.io\",class=\"3xx\"} 1",
                "sealgate_registry_requests_total{registry=\"ghcr.io\",class=\"4xx\"} 2",
                "sealgate_registry_requests_total{registry=\"ghcr.io\",class=\"5xx\"} 1",
                "sealgate_registry_requests_total{registry=\"ghcr.io\",class=\"error\"} 3",
                "sealgate_registry_requests_total{registry=\"registry.example:5000\",class=\"2xx\"} 1",
            ]
        );
    }

    #[test]
    fn cache_totals_count_each_lookup_once_whoever_reports() {
        let m = Metrics::new();
        m.cache_totals(3, 1);
        m.cache_totals(3, 1); // a second user of the same cache, nothing new
        m.cache_totals(5, 1);
        m.cache_totals(4, 1); // an older reading never subtracts
        let mut lines = family_lines(&m.encode(), "sealgate_verification_cache");
        lines[2..].sort();
        assert_eq!(
            lines[2..],
            [
                "sealgate_verification_cache_total{result=\"hit\"} 5",
                "sealgate_verification_cache_total{result=\"miss\"} 1",
            ]
        );
    }

    #[test]
    fn cache_counter() {
        let m = Metrics::new();
        m.cache_totals(2, 1);
        let mut lines = family_lines(&m.encode(), "sealgate_verification_cache");
        lines[2..].sort();
        assert_eq!(
            lines,
            [
                "# HELP sealgate_verification_cache Verification cache lookups, by result.",
                "# TYPE sealgate_verification_cache counter",
                "sealgate_verification_cache_total{result=\"hit\"} 2",
                "sealgate_verification_cache_total{result=\"miss\"} 1",
            ]
        );
    }

    #[test]
    fn scalar_gauges() {
        let m = Metrics::new();
        m.set_blocked_gates(1);
        m.set_last_promotion(1_767_225_600);
        let text = m.encode();
        assert_eq!(
            family_lines(&text, "sealgate_blocked_gates")[2..],
            ["sealgate_blocked_gates 1"]
        );
        assert_eq!(
            family_lines(&text, "sealgate_last_promotion_timestamp_seconds"),
            [
                "# HELP sealgate_last_promotion_timestamp_seconds Unix time of the last promotion.",
                "# TYPE sealgate_last_promotion_timestamp_seconds gauge",
                "# UNIT sealgate_last_promotion_timestamp_seconds seconds",
                "sealgate_last_promotion_timestamp_seconds 1767225600",
            ]
        );
        m.set_blocked_gates(0);
        assert_eq!(
            family_lines(&m.encode(), "sealgate_blocked_gates")[2..],
            ["sealgate_blocked_gates 0"]
        );
    }

    #[test]
    fn every_metric_is_prefixed() {
        let m = Metrics::new();
        m.reconcile(ReconcileResult::Unchanged, 1.0);
        m.set_image_verdicts(&[("pass".into(), String::new(), 1)]);
        m.registry_request("r", 200);
        m.cache_totals(0, 1);
        let text = m.encode();
        for line in text.lines().filter(|l| *l != "# EOF") {
            let name = line
                .strip_prefix("# HELP ")
                .or_else(|| line.strip_prefix("# TYPE "))
                .or_else(|| line.strip_prefix("# UNIT "))
                .unwrap_or(line);
            assert!(name.starts_with("sealgate_"), "{line}");
        }
    }

    #[test]
    fn metrics_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Metrics>();
    }
}
