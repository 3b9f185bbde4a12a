//! One tenant's series ([`TenantSeries`]): through the facade's handles, or in the tenant's own
//! record for the collector to render at scrape time. The names and HELP texts are the public
//! contract in [`crate::metrics`].

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics::{Counter, Gauge, SharedString};

use crate::metrics::{TENANT_CHECK_SECONDS_TOTAL, TENANT_STATE, TENANT_TRANSITIONS_TOTAL};
use crate::tenant::{TenantMetricsExport, TenantMetricsMode};

/// How an engine exports its per-tenant series: which families, and through what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct TenantSeriesConfig {
    pub(super) mode: TenantMetricsMode,
    pub(super) export: TenantMetricsExport,
}

impl TenantSeriesConfig {
    pub(super) fn collector(self) -> bool {
        self.export == TenantMetricsExport::Collector
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
pub(super) struct TenantSample {
    /// `tenant_readiness_state`, or `None` when the tenant has no state series
    /// ([`TenantMetricsMode::NotReadyOnly`] before its first failure): no transition series
    /// either then.
    pub(super) state: Option<bool>,
    pub(super) to_ready: u64,
    pub(super) to_not_ready: u64,
    pub(super) check_seconds: u64,
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
pub(super) struct TenantSeries {
    mode: TenantMetricsMode,
    own: AtomicU8,
    /// Nanoseconds spent checking; the counter gets whole seconds and the rest carries over
    /// (the facade's counters are integers).
    nanos: AtomicU64,
    out: Output,
}

impl TenantSeries {
    /// Bind the tenant's handles, or set up its values (writes nothing).
    pub(super) fn register(id: &Arc<str>, config: TenantSeriesConfig) -> Self {
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
    pub(super) fn touch(&self, effective: bool) {
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
    pub(super) fn effective(&self, ready: bool) {
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
    pub(super) fn touch_from(&self, old: &TenantSeries, effective: bool) {
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
    pub(super) fn own(&self, id: &Arc<str>, ready: bool, failing: bool) {
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
    pub(super) fn removed(&self) {
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
    pub(super) fn check_time(&self, elapsed: Duration) -> u64 {
        let ns = elapsed.as_nanos().min(u128::from(u64::MAX)) as u64;
        let before = self.nanos.fetch_add(ns, Ordering::Relaxed);
        let after = before.saturating_add(ns);
        after / 1_000_000_000 - before / 1_000_000_000
    }

    pub(super) fn count_seconds(&self, whole: u64) {
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
    pub(super) fn carry_over(&self, old: &TenantSeries) {
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
    pub(super) fn carry_transition(&self, old: &TenantSeries) {
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
    pub(super) fn sample(&self) -> Option<TenantSample> {
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
