//! The engine's handles on the instance-wide series ([`GlobalMetrics`], one [`CheckMetrics`]
//! per global check) and the tenants' counts behind `tenant_readiness_tenants`. The names, HELP
//! texts and buckets they use are the public contract in [`crate::metrics`].

use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, SharedString};

use crate::metrics::{
    CHECK_DURATION_SECONDS, CHECK_STATE, Outcome, READINESS_DRAINING, READINESS_STATE,
    READINESS_TRANSITIONS_TOTAL, TENANT_TENANTS, describe,
};
use crate::tenant::TenantMetricsExport;

/// The instance-wide series, bound to the recorder in place when the engine was built.
/// Registering writes nothing: the engine writes only while it owns the series (see
/// [`crate::EngineBuilder::reload_from`]).
pub(super) struct GlobalMetrics {
    state: Gauge,
    to_ready: Counter,
    to_not_ready: Counter,
    draining: Gauge,
}

impl GlobalMetrics {
    pub(super) fn register() -> Self {
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
    pub(super) fn touch(&self, ready: bool, draining: bool) {
        self.state(ready);
        self.to_ready.increment(0);
        self.to_not_ready.increment(0);
        self.draining(draining);
    }

    pub(super) fn state(&self, ready: bool) {
        self.state.set(if ready { 1.0 } else { 0.0 });
    }

    /// Count one change of readiness, to `ready`.
    pub(super) fn count(&self, ready: bool) {
        if ready {
            self.to_ready.increment(1);
        } else {
            self.to_not_ready.increment(1);
        }
    }

    pub(super) fn draining(&self, draining: bool) {
        self.draining.set(if draining { 1.0 } else { 0.0 });
    }
}

/// One global check's series.
pub(super) struct CheckMetrics {
    state: Gauge,
    durations: [Histogram; 4],
}

impl CheckMetrics {
    pub(super) fn register(check: &Arc<str>) -> Self {
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

    pub(super) fn duration(&self, outcome: Outcome, elapsed: Duration) {
        let i = match outcome {
            Outcome::Ok => 0,
            Outcome::Error => 1,
            Outcome::Timeout => 2,
            Outcome::Panic => 3,
        };
        self.durations[i].record(elapsed.as_secs_f64());
    }

    pub(super) fn state(&self, passing: bool) {
        self.state.set(if passing { 1.0 } else { 0.0 });
    }
}

/// `tenant_readiness_tenants{state}`: the counts behind it, kept under the engine's tenant lock.
/// The counts move always; [`reassert`](Self::reassert) writes them to the recorder (the engine
/// calls it while it owns the series). In collector mode there are no gauges: the collector
/// reads the counts of the engine that owns the series.
pub(super) struct TenantCounts {
    total: usize,
    ready: usize,
    gauges: Option<Box<(Gauge, Gauge)>>,
}

impl TenantCounts {
    pub(super) fn register(export: TenantMetricsExport) -> Self {
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

    pub(super) fn reassert(&self) {
        if let Some(g) = &self.gauges {
            g.0.set(self.ready as f64);
            g.1.set((self.total - self.ready) as f64);
        }
    }

    /// How many tenants are ready, and how many not.
    pub(super) fn values(&self) -> (usize, usize) {
        (self.ready, self.total - self.ready)
    }

    pub(super) fn add(&mut self) {
        self.total += 1;
    }

    pub(super) fn remove(&mut self, was_ready: bool) {
        self.total = self.total.saturating_sub(1);
        if was_ready {
            self.ready = self.ready.saturating_sub(1);
        }
    }

    pub(super) fn changed(&mut self, ready: bool) {
        if ready {
            self.ready += 1;
        } else {
            self.ready = self.ready.saturating_sub(1);
        }
    }
}
