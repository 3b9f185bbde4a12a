//! Metric names, descriptions and histogram buckets: the one place they are defined.
//!
//! The engine emits through the [`metrics`] facade and never installs a recorder: install one
//! in your binary (for example `metrics-exporter-prometheus`) before building the engine. Handles
//! are created when the engine is built, so they bind to the recorder in place at that moment.
//!
//! The series are shared by every engine built on one recorder, so a reload hands them over:
//! an engine built with [`EngineBuilder::reload_from`](crate::EngineBuilder::reload_from) writes
//! none of them until it takes over from the older engine (when it is first ready, or when the
//! older one is dropped), and from then on the older one writes nothing.
//!
//! The per-tenant families (`tenant_readiness_*`) go through the recorder only with
//! [`TenantMetricsExport::Facade`](crate::TenantMetricsExport::Facade). By default
//! ([`TenantMetricsExport::Collector`](crate::TenantMetricsExport::Collector)) the same writes
//! land in each tenant's own record, and whoever serves `/metrics` renders them from there at
//! scrape time with [`Engine::tenant_collector`](crate::Engine::tenant_collector) (the
//! `readiness-tower` layer does): the same names, labels, HELP, TYPE and values, at no cost to
//! the recorder.
//!
//! | name | type | labels |
//! |---|---|---|
//! | `readiness_state` | gauge, 1 ready / 0 not | none |
//! | `readiness_transitions_total` | counter | `to` = `ready` / `not_ready` |
//! | `readiness_draining` | gauge, 1 while draining / 0 | none |
//! | `readiness_check_duration_seconds` | histogram | `check`, `outcome` = `ok` / `error` / `timeout` / `panic` |
//! | `readiness_check_state` | gauge, 1 / 0 | `check` |
//! | `tenant_readiness_state` | gauge, 1 / 0 | `tenant` |
//! | `tenant_readiness_transitions_total` | counter | `tenant`, `to` |
//! | `tenant_readiness_check_seconds_total` | counter | `tenant` |
//! | `tenant_readiness_tenants` | gauge | `state` = `ready` / `not_ready` |
//! | `readiness_certificate_expiry_timestamp_seconds` | gauge, unix seconds: the earliest `notAfter` among the certificates a check last saw | `check` (a tenant's check: also `tenant`) |
//!
//! A check records the certificate gauge with [`record_certificate_expiry`] during its run: the
//! engine supplies the labels (the check's registered name, and its tenant's registered id), so
//! no label value ever comes from the check or from a peer.
//!
//! Render `readiness_check_duration_seconds` as a histogram (with `_bucket` series, which the
//! shipped alert rules read) by handing [`DURATION_BUCKETS`] to the exporter:
//!
//! ```
//! use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
//! use readiness_core::metrics::{CHECK_DURATION_SECONDS, DURATION_BUCKETS};
//!
//! let recorder = PrometheusBuilder::new()
//!     .set_buckets_for_metric(
//!         Matcher::Full(CHECK_DURATION_SECONDS.to_string()),
//!         DURATION_BUCKETS,
//!     )
//!     .expect("buckets are not empty")
//!     .build_recorder();
//! # let _ = recorder;
//! ```

use metrics::{SharedString, Unit};

/// `readiness_state`: 1 when the instance is ready, 0 when not.
pub const READINESS_STATE: &str = "readiness_state";
/// `readiness_transitions_total{to}`: changes of the instance's readiness.
pub const READINESS_TRANSITIONS_TOTAL: &str = "readiness_transitions_total";
/// `readiness_check_duration_seconds{check, outcome}`: how long each check run took.
pub const CHECK_DURATION_SECONDS: &str = "readiness_check_duration_seconds";
/// `readiness_check_state{check}`: 1 when the check passes, 0 when pending or failing.
pub const CHECK_STATE: &str = "readiness_check_state";
/// `tenant_readiness_state{tenant}`: 1 when the tenant is ready.
pub const TENANT_STATE: &str = "tenant_readiness_state";
/// `tenant_readiness_transitions_total{tenant, to}`: changes of a tenant's readiness.
pub const TENANT_TRANSITIONS_TOTAL: &str = "tenant_readiness_transitions_total";
/// `tenant_readiness_check_seconds_total{tenant}`: time spent running a tenant's checks.
pub const TENANT_CHECK_SECONDS_TOTAL: &str = "tenant_readiness_check_seconds_total";
/// `tenant_readiness_tenants{state}`: how many tenants are ready and not ready.
pub const TENANT_TENANTS: &str = "tenant_readiness_tenants";
/// `readiness_draining`: 1 once the instance drains, 0 before. Lets SLIs tell a planned drain
/// from an outage.
pub const READINESS_DRAINING: &str = "readiness_draining";

/// `readiness_certificate_expiry_timestamp_seconds{check[, tenant]}`: the earliest `notAfter`
/// (unix seconds) among the certificates a check last saw; written through
/// [`record_certificate_expiry`].
pub const CERTIFICATE_EXPIRY_TIMESTAMP_SECONDS: &str =
    "readiness_certificate_expiry_timestamp_seconds";

/// Every metric name the crate exports.
pub const ALL: &[&str] = &[
    READINESS_STATE,
    READINESS_TRANSITIONS_TOTAL,
    READINESS_DRAINING,
    CHECK_DURATION_SECONDS,
    CHECK_STATE,
    TENANT_STATE,
    TENANT_TRANSITIONS_TOTAL,
    TENANT_CHECK_SECONDS_TOTAL,
    TENANT_TENANTS,
    CERTIFICATE_EXPIRY_TIMESTAMP_SECONDS,
];

/// The HELP texts of the per-tenant families: one source for the facade's descriptions and the
/// collector's `# HELP` lines.
pub(crate) const TENANT_STATE_HELP: &str = "Whether a tenant is ready: 1 ready, 0 not ready.";
pub(crate) const TENANT_TRANSITIONS_TOTAL_HELP: &str =
    "Changes of a tenant's readiness, by tenant and the state changed to.";
pub(crate) const TENANT_CHECK_SECONDS_TOTAL_HELP: &str =
    "Time spent running a tenant's checks, for cost attribution.";
pub(crate) const TENANT_TENANTS_HELP: &str = "How many tenants are ready and not ready.";

/// Buckets (seconds) for `readiness_check_duration_seconds`, from 1 ms to 10 s: checks are
/// expected to answer in milliseconds and time out in seconds.
pub const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How one run of a check ended: the `outcome` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The check passed.
    Ok,
    /// The check returned a failure.
    Error,
    /// The check did not answer within its timeout.
    Timeout,
    /// The check panicked.
    Panic,
}

impl Outcome {
    /// The label value: `ok`, `error`, `timeout` or `panic`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
            Outcome::Panic => "panic",
        }
    }
}

/// Describe every metric (HELP text and unit). Idempotent: the facade keeps the first
/// description, and describing creates no series.
pub fn describe() {
    metrics::describe_gauge!(
        READINESS_STATE,
        Unit::Count,
        "Whether the instance is ready: 1 ready, 0 not ready."
    );
    metrics::describe_counter!(
        READINESS_TRANSITIONS_TOTAL,
        Unit::Count,
        "Changes of the instance's readiness, by the state changed to."
    );
    metrics::describe_gauge!(
        READINESS_DRAINING,
        Unit::Count,
        "Whether the instance is draining: 1 while draining, 0 otherwise."
    );
    metrics::describe_histogram!(
        CHECK_DURATION_SECONDS,
        Unit::Seconds,
        "Duration of each check run, by check and outcome."
    );
    metrics::describe_gauge!(
        CHECK_STATE,
        Unit::Count,
        "Whether a check passes: 1 passing, 0 pending or failing."
    );
    metrics::describe_gauge!(TENANT_STATE, Unit::Count, TENANT_STATE_HELP);
    metrics::describe_counter!(
        TENANT_TRANSITIONS_TOTAL,
        Unit::Count,
        TENANT_TRANSITIONS_TOTAL_HELP
    );
    metrics::describe_counter!(
        TENANT_CHECK_SECONDS_TOTAL,
        Unit::Seconds,
        TENANT_CHECK_SECONDS_TOTAL_HELP
    );
    metrics::describe_gauge!(TENANT_TENANTS, Unit::Count, TENANT_TENANTS_HELP);
    metrics::describe_gauge!(
        CERTIFICATE_EXPIRY_TIMESTAMP_SECONDS,
        Unit::Seconds,
        "The earliest notAfter (unix time) among the certificates a check last saw."
    );
}

/// Record `readiness_certificate_expiry_timestamp_seconds` for the check whose run is calling:
/// `not_after` is the earliest `notAfter` among the certificates it saw (a TLS peer's chain, or
/// the application's own certificate files).
///
/// The labels are the engine's, never the caller's: `check` is the name the check was
/// registered under and `tenant` its tenant's id. Outside a run of an engine (a check called by
/// hand) there are no labels, nothing is recorded, and this returns `false`.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use readiness_core::metrics::record_certificate_expiry;
///
/// // Not in an engine's run: nothing to label the series with.
/// let not_after = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
/// assert!(!record_certificate_expiry(not_after));
/// ```
pub fn record_certificate_expiry(not_after: std::time::SystemTime) -> bool {
    let Some(run) = crate::check::RunLabels::current() else {
        return false;
    };
    let secs = match not_after.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    };
    let check = SharedString::from(run.check);
    match run.tenant {
        Some(tenant) => metrics::gauge!(
            CERTIFICATE_EXPIRY_TIMESTAMP_SECONDS,
            "check" => check,
            "tenant" => SharedString::from(tenant)
        )
        .set(secs),
        None => metrics::gauge!(CERTIFICATE_EXPIRY_TIMESTAMP_SECONDS, "check" => check).set(secs),
    }
    true
}
