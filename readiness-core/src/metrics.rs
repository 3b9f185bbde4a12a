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
//! [`TenantMetricsExport::Facade`]. By default
//! ([`TenantMetricsExport::Collector`]) the same writes
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
//! | `readiness_draining` | gauge, 1 while draining / 0 | none |
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

use std::time::Duration;

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use metrics::{Counter, Gauge, Histogram, SharedString, Unit};

use crate::tenant::{TenantMetricsExport, TenantMetricsMode};

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

/// The instance-wide series, bound to the recorder in place when the engine was built.
/// Registering writes nothing: the engine writes only while it owns the series (see
/// [`crate::EngineBuilder::reload_from`]).
pub(crate) struct GlobalMetrics {
    state: Gauge,
    to_ready: Counter,
    to_not_ready: Counter,
    draining: Gauge,
}

impl GlobalMetrics {
    pub(crate) fn register() -> Self {
        describe();
        Self {
            state: metrics::gauge!(READINESS_STATE),
            to_ready: metrics::counter!(READINESS_TRANSITIONS_TOTAL, "to" => "ready"),
            to_not_ready: metrics::counter!(READINESS_TRANSITIONS_TOTAL, "to" => "not_ready"),
            draining: metrics::gauge!(READINESS_DRAINING),
        }
    }

    /// Make every series exist with the engine's values (counters keep their totals across a
    /// rebuild on the same recorder).
    pub(crate) fn touch(&self, ready: bool, draining: bool) {
        self.state(ready);
        self.to_ready.increment(0);
        self.to_not_ready.increment(0);
        self.draining(draining);
    }

    pub(crate) fn state(&self, ready: bool) {
        self.state.set(if ready { 1.0 } else { 0.0 });
    }

    /// Count one change of readiness, to `ready`.
    pub(crate) fn count(&self, ready: bool) {
        if ready {
            self.to_ready.increment(1);
        } else {
            self.to_not_ready.increment(1);
        }
    }

    pub(crate) fn draining(&self, draining: bool) {
        self.draining.set(if draining { 1.0 } else { 0.0 });
    }
}

/// One global check's series.
pub(crate) struct CheckMetrics {
    state: Gauge,
    durations: [Histogram; 4],
}

impl CheckMetrics {
    pub(crate) fn register(check: &Arc<str>) -> Self {
        let name = SharedString::from(check.clone());
        let h = |outcome: Outcome| metrics::histogram!(CHECK_DURATION_SECONDS, "check" => name.clone(), "outcome" => outcome.as_str());
        Self {
            state: metrics::gauge!(CHECK_STATE, "check" => name.clone()),
            durations: [
                h(Outcome::Ok),
                h(Outcome::Error),
                h(Outcome::Timeout),
                h(Outcome::Panic),
            ],
        }
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

/// How an engine exports its per-tenant series: which families, and through what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TenantSeriesConfig {
    pub(crate) mode: TenantMetricsMode,
    pub(crate) export: TenantMetricsExport,
}

impl TenantSeriesConfig {
    pub(crate) fn collector(self) -> bool {
        self.export == TenantMetricsExport::Collector
    }
}

/// `tenant_readiness_tenants{state}`: the counts behind it, kept under the engine's tenant lock.
/// The counts move always; [`reassert`](Self::reassert) writes them to the recorder (the engine
/// calls it while it owns the series). In collector mode there are no gauges: the collector
/// reads the counts of the engine that owns the series.
pub(crate) struct TenantCounts {
    total: usize,
    ready: usize,
    gauges: Option<Box<(Gauge, Gauge)>>,
}

impl TenantCounts {
    pub(crate) fn register(export: TenantMetricsExport) -> Self {
        Self {
            total: 0,
            ready: 0,
            gauges: (export == TenantMetricsExport::Facade).then(|| {
                Box::new((
                    metrics::gauge!(TENANT_TENANTS, "state" => "ready"),
                    metrics::gauge!(TENANT_TENANTS, "state" => "not_ready"),
                ))
            }),
        }
    }

    pub(crate) fn reassert(&self) {
        if let Some(g) = &self.gauges {
            g.0.set(self.ready as f64);
            g.1.set((self.total - self.ready) as f64);
        }
    }

    /// How many tenants are ready, and how many not.
    pub(crate) fn values(&self) -> (usize, usize) {
        (self.ready, self.total - self.ready)
    }

    pub(crate) fn add(&mut self) {
        self.total += 1;
    }

    pub(crate) fn remove(&mut self, was_ready: bool) {
        self.total = self.total.saturating_sub(1);
        if was_ready {
            self.ready = self.ready.saturating_sub(1);
        }
    }

    pub(crate) fn changed(&mut self, ready: bool) {
        if ready {
            self.ready += 1;
        } else {
            self.ready = self.ready.saturating_sub(1);
        }
    }
}

/// A tenant's state series through the facade: its gauge and its two transition counters.
struct StateSeries {
    gauge: Gauge,
    to_ready: Counter,
    to_not_ready: Counter,
}

impl StateSeries {
    fn register(label: &SharedString) -> Self {
        Self {
            gauge: metrics::gauge!(TENANT_STATE, "tenant" => label.clone()),
            to_ready: metrics::counter!(TENANT_TRANSITIONS_TOTAL, "tenant" => label.clone(), "to" => "ready"),
            to_not_ready: metrics::counter!(TENANT_TRANSITIONS_TOTAL, "tenant" => label.clone(), "to" => "not_ready"),
        }
    }
}

/// The facade's handles of one tenant (boxed: the collector's tenants do not pay for them).
struct FacadeSeries {
    state: OnceLock<StateSeries>,
    check_seconds: Counter,
    /// What the state gauge was last set to (`NO_STATE` before): a reload's takeover compares it.
    published: AtomicU8,
}

/// `TenantValues::state`: no state series (yet).
const NO_STATE: u8 = 0;
/// `TenantValues::state`: the series exist and read 0.
const STATE_0: u8 = 1;
/// `TenantValues::state`: the series exist and read 1.
const STATE_1: u8 = 2;

/// The collector's copy of what the facade's handles would have received, in the tenant's own
/// record: written on the execution path (while the engine owns the series), read at scrape
/// time.
#[derive(Default)]
struct TenantValues {
    state: AtomicU8,
    to_ready: AtomicU64,
    to_not_ready: AtomicU64,
    seconds: AtomicU64,
}

enum Output {
    Facade(Box<FacadeSeries>),
    Collector(TenantValues),
}

/// One tenant's series as a scrape renders them (collector mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TenantSample {
    /// `tenant_readiness_state`, or `None` when the tenant has no state series
    /// ([`TenantMetricsMode::NotReadyOnly`] before its first failure): no transition series
    /// either then.
    pub(crate) state: Option<bool>,
    pub(crate) to_ready: u64,
    pub(crate) to_not_ready: u64,
    pub(crate) check_seconds: u64,
}

/// `NotReadyOnly`: the tenant has not failed on its own yet (no state series).
const OWN_NEVER_FAILED: u8 = 0;
/// `NotReadyOnly`: not ready on its own; its series exist and are re-set on each result.
const OWN_NOT_READY: u8 = 1;
/// `NotReadyOnly`: recovered; its series read 1 and are left alone.
const OWN_RECOVERED: u8 = 2;

/// One tenant's series. Tenant label values come only from registered, validated ids, and are
/// the tenant's own id (shared with the recorder's keys, never copied).
///
/// In [`TenantMetricsMode::All`] the state series follow the tenant's readiness (its checks and
/// the instance). In [`TenantMetricsMode::NotReadyOnly`] they follow the tenant's own checks and
/// exist only from its first own failure.
///
/// Through the facade ([`TenantMetricsExport::Facade`]) every write goes to the recorder's
/// handles; in collector mode ([`TenantMetricsExport::Collector`]) the same writes land in the
/// tenant's own atomics, and the recorder holds nothing of the tenant.
pub(crate) struct TenantSeries {
    mode: TenantMetricsMode,
    own: AtomicU8,
    /// Nanoseconds spent checking; the counter gets whole seconds and the rest carries over
    /// (the facade's counters are integers).
    nanos: AtomicU64,
    out: Output,
}

impl TenantSeries {
    /// Bind the tenant's handles, or set up its values (writes nothing).
    pub(crate) fn register(id: &Arc<str>, config: TenantSeriesConfig) -> Self {
        let mode = config.mode;
        let out = match config.export {
            TenantMetricsExport::Facade => {
                let label = SharedString::from(id.clone());
                let state = OnceLock::new();
                if mode == TenantMetricsMode::All {
                    let _ = state.set(StateSeries::register(&label));
                }
                Output::Facade(Box::new(FacadeSeries {
                    check_seconds: metrics::counter!(TENANT_CHECK_SECONDS_TOTAL, "tenant" => label),
                    state,
                    published: AtomicU8::new(NO_STATE),
                }))
            }
            TenantMetricsExport::Collector => {
                let values = TenantValues::default();
                if mode == TenantMetricsMode::All {
                    values.state.store(STATE_0, Ordering::SeqCst);
                }
                Output::Collector(values)
            }
        };
        Self {
            mode,
            own: AtomicU8::new(OWN_NEVER_FAILED),
            nanos: AtomicU64::new(0),
            out,
        }
    }

    /// Create the state series (`NotReadyOnly`, at the tenant's first own failure).
    fn create_state(&self, id: &Arc<str>) {
        match &self.out {
            Output::Facade(f) => {
                f.state
                    .get_or_init(|| StateSeries::register(&SharedString::from(id.clone())));
            }
            Output::Collector(v) => {
                let _ =
                    v.state
                        .compare_exchange(NO_STATE, STATE_0, Ordering::SeqCst, Ordering::SeqCst);
            }
        }
    }

    /// Set the state gauge, if the series exist.
    fn set(&self, ready: bool) {
        match &self.out {
            Output::Facade(f) => {
                if let Some(s) = f.state.get() {
                    s.gauge.set(if ready { 1.0 } else { 0.0 });
                    f.published
                        .store(if ready { STATE_1 } else { STATE_0 }, Ordering::SeqCst);
                }
            }
            Output::Collector(v) => {
                let new = if ready { STATE_1 } else { STATE_0 };
                let _ = v
                    .state
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| {
                        (s != NO_STATE).then_some(new)
                    });
            }
        }
    }

    /// Count one transition, if the series exist.
    fn count(&self, ready: bool) {
        match &self.out {
            Output::Facade(f) => {
                if let Some(s) = f.state.get() {
                    if ready { &s.to_ready } else { &s.to_not_ready }.increment(1);
                }
            }
            Output::Collector(v) => {
                if v.state.load(Ordering::SeqCst) != NO_STATE {
                    if ready { &v.to_ready } else { &v.to_not_ready }
                        .fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }

    /// Make the state series exist with this value (the facade's counters at 0).
    fn touch_state(&self, ready: bool) {
        self.set(ready);
        if let Output::Facade(f) = &self.out
            && let Some(s) = f.state.get()
        {
            s.to_ready.increment(0);
            s.to_not_ready.increment(0);
        }
    }

    /// Make the tenant's series exist with its current values (on adding it, or when the engine
    /// takes the series over).
    pub(crate) fn touch(&self, effective: bool) {
        if let Output::Facade(f) = &self.out {
            f.check_seconds.increment(0);
        }
        match self.mode {
            TenantMetricsMode::All => self.touch_state(effective),
            _ => {
                if self.own.load(Ordering::SeqCst) == OWN_NOT_READY {
                    self.set(false);
                }
            }
        }
    }

    /// `All` mode: the tenant's readiness was published (changed or not). A transition is
    /// counted when the state series change, so a value handed over at a reload's takeover
    /// ([`touch_from`](Self::touch_from)) is not counted again when the new engine's first
    /// result says the same.
    pub(crate) fn effective(&self, ready: bool) {
        if self.mode == TenantMetricsMode::All {
            let was = self.published();
            self.set(ready);
            if was.is_some_and(|was| was != ready) {
                self.count(ready);
            }
        }
    }

    /// At a reload's takeover, for a tenant whose own readiness is not known yet here (its
    /// first results are not in): its series keep what `old`, the same tenant in the engine
    /// that owned them, published, instead of reading not ready until the results come.
    pub(crate) fn touch_from(&self, old: &TenantSeries, effective: bool) {
        match (self.mode, old.published()) {
            (TenantMetricsMode::All, Some(was)) => {
                self.touch(was);
            }
            _ => self.touch(effective),
        }
    }

    /// `NotReadyOnly` mode: the tenant's own checks were evaluated: `ready` when they pass,
    /// `failing` when one of its critical checks has failed (not merely pending). `id` is the
    /// tenant's (its series are created from its first failure on).
    pub(crate) fn own(&self, id: &Arc<str>, ready: bool, failing: bool) {
        if self.mode == TenantMetricsMode::All {
            return;
        }
        match (self.own.load(Ordering::SeqCst), ready) {
            (OWN_NOT_READY, true) => {
                self.own.store(OWN_RECOVERED, Ordering::SeqCst);
                self.set(true);
                self.count(true);
            }
            // Re-set while not ready, so the exporter's idle timeout keeps the series.
            (OWN_NOT_READY, false) => self.set(false),
            (OWN_NEVER_FAILED | OWN_RECOVERED, false) if failing => {
                self.own.store(OWN_NOT_READY, Ordering::SeqCst);
                self.create_state(id);
                self.touch_state(false);
                self.count(false);
            }
            _ => {}
        }
    }

    /// The tenant was removed: its state reads 1 (no failing tenant left behind).
    pub(crate) fn removed(&self) {
        let live = match self.mode {
            TenantMetricsMode::All => true,
            _ => self.own.load(Ordering::SeqCst) == OWN_NOT_READY,
        };
        if live {
            self.set(true);
        }
    }

    /// Time spent checking (nanoseconds carried over); returns the whole seconds to count,
    /// which the caller writes with [`count_seconds`](Self::count_seconds) while it owns the
    /// series.
    pub(crate) fn check_time(&self, elapsed: Duration) -> u64 {
        let ns = elapsed.as_nanos().min(u128::from(u64::MAX)) as u64;
        let before = self.nanos.fetch_add(ns, Ordering::Relaxed);
        let after = before.saturating_add(ns);
        after / 1_000_000_000 - before / 1_000_000_000
    }

    pub(crate) fn count_seconds(&self, whole: u64) {
        if whole == 0 {
            return;
        }
        match &self.out {
            Output::Facade(f) => f.check_seconds.increment(whole),
            Output::Collector(v) => {
                v.seconds.fetch_add(whole, Ordering::Relaxed);
            }
        }
    }

    /// A reload's engine takes the series over from `old`, the same tenant in the engine that
    /// owned them: the counters carry on from `old`'s totals, as they do through the facade,
    /// where both engines' handles are one series of the recorder. In `NotReadyOnly` mode a
    /// tenant that was not ready on its own in `old` stays so here until its next result
    /// says otherwise (which counts its recovery), rather than dropping its series at once.
    ///
    /// From the facade to the collector the totals cannot be read back from the recorder: the
    /// collector's counters start at 0 there, which Prometheus reads as one counter reset.
    pub(crate) fn carry_over(&self, old: &TenantSeries) {
        match (&self.out, &old.out) {
            (Output::Collector(new), Output::Collector(was)) => {
                for (n, o) in [
                    (&new.to_ready, &was.to_ready),
                    (&new.to_not_ready, &was.to_not_ready),
                    (&new.seconds, &was.seconds),
                ] {
                    n.fetch_add(o.load(Ordering::SeqCst), Ordering::SeqCst);
                }
                if self.mode == TenantMetricsMode::NotReadyOnly
                    && new.state.load(Ordering::SeqCst) == NO_STATE
                    && old.own.load(Ordering::SeqCst) != OWN_NEVER_FAILED
                {
                    new.state
                        .store(was.state.load(Ordering::SeqCst), Ordering::SeqCst);
                    let _ = self.own.compare_exchange(
                        OWN_NEVER_FAILED,
                        old.own.load(Ordering::SeqCst),
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                    );
                }
            }
            (Output::Facade(new), Output::Collector(was)) => {
                new.check_seconds
                    .increment(was.seconds.load(Ordering::SeqCst));
                if let Some(s) = new.state.get() {
                    s.to_ready.increment(was.to_ready.load(Ordering::SeqCst));
                    s.to_not_ready
                        .increment(was.to_not_ready.load(Ordering::SeqCst));
                }
            }
            // Through the facade both engines wrote the same series of the recorder.
            (_, Output::Facade(_)) => {}
        }
    }

    /// What the state series last read, `None` before they exist.
    fn published(&self) -> Option<bool> {
        let state = match &self.out {
            Output::Facade(f) => f.published.load(Ordering::SeqCst),
            Output::Collector(v) => v.state.load(Ordering::SeqCst),
        };
        (state != NO_STATE).then_some(state == STATE_1)
    }

    /// `All` mode, at a reload's takeover (after [`touch`](Self::touch)): the state `old`
    /// published was what scrapers saw, so a tenant whose readiness reads otherwise here changed
    /// once, and is counted once; one that reads the same moved nothing.
    pub(crate) fn carry_transition(&self, old: &TenantSeries) {
        if self.mode != TenantMetricsMode::All {
            return;
        }
        if let (Some(was), Some(now)) = (old.published(), self.published())
            && was != now
        {
            self.count(now);
        }
    }

    /// The tenant's values as a scrape renders them; `None` when they go through the facade.
    pub(crate) fn sample(&self) -> Option<TenantSample> {
        let Output::Collector(v) = &self.out else {
            return None;
        };
        let state = match v.state.load(Ordering::SeqCst) {
            NO_STATE => None,
            s => Some(s == STATE_1),
        };
        Some(TenantSample {
            state,
            to_ready: v.to_ready.load(Ordering::SeqCst),
            to_not_ready: v.to_not_ready.load(Ordering::SeqCst),
            check_seconds: v.seconds.load(Ordering::Relaxed),
        })
    }
}
