//! Metric names, descriptions and histogram buckets: the one place they are defined.
//!
//! The engine emits through the [`metrics`] facade and never installs a recorder: install one
//! in your binary (for example `metrics-exporter-prometheus`) before building the engine. Handles
//! are created when the engine is built, so they bind to the recorder in place at that moment.
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

use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Unit};

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
/// `readiness_draining`: 1 while the instance drains, 0 otherwise.
pub const READINESS_DRAINING: &str = "readiness_draining";

/// Every metric name the crate exports, in the order of the table above.
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
];

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
    metrics::describe_gauge!(
        TENANT_STATE,
        Unit::Count,
        "Whether a tenant is ready: 1 ready, 0 not ready."
    );
    metrics::describe_counter!(
        TENANT_TRANSITIONS_TOTAL,
        Unit::Count,
        "Changes of a tenant's readiness, by tenant and the state changed to."
    );
    metrics::describe_counter!(
        TENANT_CHECK_SECONDS_TOTAL,
        Unit::Seconds,
        "Time spent running a tenant's checks, for cost attribution."
    );
    metrics::describe_gauge!(
        TENANT_TENANTS,
        Unit::Count,
        "How many tenants are ready and not ready."
    );
}

/// The instance-wide series, bound to the recorder in place when the engine was built.
pub(crate) struct GlobalMetrics {
    state: Gauge,
    to_ready: Counter,
    to_not_ready: Counter,
    draining: Gauge,
}

impl GlobalMetrics {
    pub(crate) fn register() -> Self {
        describe();
        let m = Self {
            state: metrics::gauge!(READINESS_STATE),
            to_ready: metrics::counter!(READINESS_TRANSITIONS_TOTAL, "to" => "ready"),
            to_not_ready: metrics::counter!(READINESS_TRANSITIONS_TOTAL, "to" => "not_ready"),
            draining: metrics::gauge!(READINESS_DRAINING),
        };
        // Make every series exist before the first transition; counters keep their totals
        // across a rebuild on the same recorder.
        m.state.set(0.0);
        m.to_ready.increment(0);
        m.to_not_ready.increment(0);
        m.draining.set(0.0);
        m
    }

    /// The drain has started: `readiness_draining` reads 1 from now on.
    pub(crate) fn draining(&self) {
        self.draining.set(1.0);
    }

    pub(crate) fn reassert(&self, ready: bool) {
        self.state.set(if ready { 1.0 } else { 0.0 });
    }

    pub(crate) fn transition(&self, ready: bool) {
        self.state.set(if ready { 1.0 } else { 0.0 });
        if ready {
            self.to_ready.increment(1);
        } else {
            self.to_not_ready.increment(1);
        }
    }
}

/// One global check's series.
pub(crate) struct CheckMetrics {
    state: Gauge,
    durations: [Histogram; 4],
}

impl CheckMetrics {
    pub(crate) fn register(check: &str) -> Self {
        let name = check.to_owned();
        let h = |outcome: Outcome| metrics::histogram!(CHECK_DURATION_SECONDS, "check" => name.clone(), "outcome" => outcome.as_str());
        let m = Self {
            state: metrics::gauge!(CHECK_STATE, "check" => name.clone()),
            durations: [
                h(Outcome::Ok),
                h(Outcome::Error),
                h(Outcome::Timeout),
                h(Outcome::Panic),
            ],
        };
        m.state.set(0.0);
        m
    }

    pub(crate) fn duration(&self, outcome: Outcome, elapsed: Duration) {
        let i = match outcome {
            Outcome::Ok => 0,
            Outcome::Error => 1,
            Outcome::Timeout => 2,
            Outcome::Panic => 3,
        };
        self.durations[i].record(elapsed.as_secs_f64());
    }

    pub(crate) fn state(&self, passing: bool) {
        self.state.set(if passing { 1.0 } else { 0.0 });
    }
}

/// `tenant_readiness_tenants{state}`: the counts behind it, kept under the engine's tenant lock.
pub(crate) struct TenantCounts {
    total: usize,
    ready: usize,
    ready_gauge: Gauge,
    not_ready_gauge: Gauge,
}

impl TenantCounts {
    pub(crate) fn register() -> Self {
        let c = Self {
            total: 0,
            ready: 0,
            ready_gauge: metrics::gauge!(TENANT_TENANTS, "state" => "ready"),
            not_ready_gauge: metrics::gauge!(TENANT_TENANTS, "state" => "not_ready"),
        };
        c.reassert();
        c
    }

    pub(crate) fn reassert(&self) {
        self.ready_gauge.set(self.ready as f64);
        self.not_ready_gauge.set((self.total - self.ready) as f64);
    }

    pub(crate) fn add(&mut self) {
        self.total += 1;
        self.reassert();
    }

    pub(crate) fn remove(&mut self, was_ready: bool) {
        self.total = self.total.saturating_sub(1);
        if was_ready {
            self.ready = self.ready.saturating_sub(1);
        }
        self.reassert();
    }

    pub(crate) fn changed(&mut self, ready: bool) {
        if ready {
            self.ready += 1;
        } else {
            self.ready = self.ready.saturating_sub(1);
        }
        self.reassert();
    }
}

/// One tenant's series. Tenant label values come only from registered, validated ids.
pub(crate) struct TenantSeries {
    id: std::sync::Arc<str>,
    /// `All` mode: handles bound when the tenant was added; `None` in `NotReadyOnly` mode.
    state: Option<(Gauge, Counter, Counter)>,
    check_seconds: Counter,
    /// Nanoseconds spent checking; the counter gets whole seconds and the rest carries over
    /// (the facade's counters are integers).
    nanos: std::sync::atomic::AtomicU64,
}

impl TenantSeries {
    pub(crate) fn register(
        id: &std::sync::Arc<str>,
        mode: crate::tenant::TenantMetricsMode,
    ) -> Self {
        let label = id.to_string();
        let state = match mode {
            crate::tenant::TenantMetricsMode::All => {
                let g = metrics::gauge!(TENANT_STATE, "tenant" => label.clone());
                let r = metrics::counter!(TENANT_TRANSITIONS_TOTAL, "tenant" => label.clone(), "to" => "ready");
                let n = metrics::counter!(TENANT_TRANSITIONS_TOTAL, "tenant" => label.clone(), "to" => "not_ready");
                g.set(0.0);
                r.increment(0);
                n.increment(0);
                Some((g, r, n))
            }
            crate::tenant::TenantMetricsMode::NotReadyOnly => None,
        };
        let check_seconds = metrics::counter!(TENANT_CHECK_SECONDS_TOTAL, "tenant" => label);
        check_seconds.increment(0);
        Self {
            id: id.clone(),
            state,
            check_seconds,
            nanos: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn lazy_gauge(&self) -> Gauge {
        metrics::gauge!(TENANT_STATE, "tenant" => self.id.to_string())
    }

    pub(crate) fn transition(&self, ready: bool) {
        let v = if ready { 1.0 } else { 0.0 };
        let to = if ready { "ready" } else { "not_ready" };
        match &self.state {
            Some((g, r, n)) => {
                g.set(v);
                if ready { r } else { n }.increment(1);
            }
            None => {
                self.lazy_gauge().set(v);
                metrics::counter!(TENANT_TRANSITIONS_TOTAL, "tenant" => self.id.to_string(), "to" => to)
                    .increment(1);
            }
        }
    }

    /// Set the state again without a transition, so an exporter idle timeout never drops a
    /// series that should stay (`All`), or the not-ready series stays fresh (`NotReadyOnly`).
    pub(crate) fn reassert(&self, ready: bool) {
        match &self.state {
            Some((g, _, _)) => g.set(if ready { 1.0 } else { 0.0 }),
            None if !ready => self.lazy_gauge().set(0.0),
            None => {}
        }
    }

    /// The tenant was removed: its state reads 1 (no failing tenant left behind).
    pub(crate) fn removed(&self, was_ready: bool) {
        match &self.state {
            Some((g, _, _)) => g.set(1.0),
            None if !was_ready => self.lazy_gauge().set(1.0),
            None => {}
        }
    }

    pub(crate) fn check_time(&self, elapsed: Duration) {
        let ns = elapsed.as_nanos().min(u128::from(u64::MAX)) as u64;
        let before = self
            .nanos
            .fetch_add(ns, std::sync::atomic::Ordering::Relaxed);
        let after = before.saturating_add(ns);
        let whole = after / 1_000_000_000 - before / 1_000_000_000;
        if whole > 0 {
            self.check_seconds.increment(whole);
        }
    }
}
