//! [`EngineBuilder`]: every option, validated at once by [`EngineBuilder::build`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::HEARTBEAT_CHECK;
use super::depends;
use super::global_metrics::{GlobalMetrics, TenantCounts};
use super::handle::{Engine, Inner};
use super::lineage::{LineageHandle, Series};
use super::scheduler::Scheduler;
use super::scope::{Clock, Interner, Ran, ScopeCore, scope_salt};
use super::shared::{Options, Shared};
use super::supervisor::{heartbeat_task, supervise_driver, supervise_watchdog};
use super::sync::lock;
use super::tenant_map::TenantMap;
use super::tenant_series::TenantSeriesConfig;
use super::tenants::{resolve_tenant_checks, validate_tenant};
use super::watchdog::Watchdog;
use crate::check::{Check, Heartbeat};
use crate::config::{CheckSpec, Defaults, resolve_specs};
use crate::problem::{BuildError, ConfigProblem, Scope};
use crate::tenant::{TenantMetricsExport, TenantMetricsMode};

impl Engine {
    /// Start configuring an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }
}

/// Builds an [`Engine`]; see [`Engine::builder`].
#[derive(Debug)]
pub struct EngineBuilder {
    specs: Vec<CheckSpec>,
    tenants: Vec<(String, Vec<CheckSpec>)>,
    defaults: Defaults,
    max_in_flight: usize,
    max_tenant_in_flight: usize,
    max_tenants: usize,
    tenant_metrics: TenantMetricsMode,
    tenant_export: TenantMetricsExport,
    audit_capacity: usize,
    heartbeat: Option<(Duration, Duration)>,
    jitter_seed: Option<u64>,
    stale_margin: Duration,
    restart_backoff: (Duration, Duration),
    slow_backoff_max: Duration,
    reload_from: Option<LineageHandle<Shared>>,
    deferred_takeover: bool,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        Self {
            specs: Vec::new(),
            tenants: Vec::new(),
            defaults: Defaults::default(),
            max_in_flight: 64,
            max_tenant_in_flight: 64,
            max_tenants: 10_000,
            tenant_metrics: TenantMetricsMode::All,
            tenant_export: TenantMetricsExport::Collector,
            audit_capacity: 1024,
            heartbeat: Some((Duration::from_secs(1), Duration::from_secs(5))),
            jitter_seed: None,
            stale_margin: Duration::from_secs(1),
            restart_backoff: (Duration::from_secs(1), Duration::from_secs(60)),
            slow_backoff_max: Duration::from_secs(60),
            reload_from: None,
            deferred_takeover: false,
        }
    }
}

impl EngineBuilder {
    /// Register a check.
    pub fn check(mut self, spec: CheckSpec) -> Self {
        self.specs.push(spec);
        self
    }

    /// Register a critical readiness check with the builder's defaults.
    pub fn readiness(self, name: impl Into<String>, check: impl Check) -> Self {
        self.check(CheckSpec::readiness(name, check))
    }

    /// Register a liveness check with the builder's defaults. Keep it process-local: a
    /// liveness check that touches a dependency turns an outage into a restart storm.
    pub fn liveness(self, name: impl Into<String>, check: impl Check) -> Self {
        self.check(CheckSpec::liveness(name, check))
    }

    /// Register a startup check with the builder's defaults.
    pub fn startup(self, name: impl Into<String>, check: impl Check) -> Self {
        self.check(CheckSpec::startup(name, check))
    }

    setters! {
        /// Defaults for every option a [`CheckSpec`] leaves unset.
        defaults(defaults: Defaults) => defaults;

        /// At most this many runs of the instance's checks at once (default 64), so that
        /// thousands of checks never stampede their dependencies or the runtime. Runs beyond the
        /// bound wait their turn; their timeout starts when they start. The built-in `heartbeat`
        /// is not bounded, and tenants have their own bound
        /// ([`max_tenant_in_flight`](Self::max_tenant_in_flight)), so tenants that hang never
        /// delay the instance's checks.
        ///
        /// **Fair under saturation.** Runs wait in three lanes, served in order: checks whose last
        /// run ended within its timeout (passing or failing), first runs, and the *slow lane* of
        /// checks whose last run timed out or died. The slow lane never holds more than a quarter
        /// of the bound (at least one run), so checks that hang never take the turns of healthy
        /// ones: with 2,000 checks that never return, a healthy check still runs on its period and
        /// an outage of a healthy dependency is seen within one period. Within the slow lane, a
        /// check that is not failing yet goes first (its outage is just starting). A failing check
        /// that times out again while the slow lane is saturated backs off, doubling its delay up
        /// to [`slow_backoff_max`](Self::slow_backoff_max). The trade-off: a hanging dependency's
        /// *recovery* is seen later, after up to the back-off cap plus its wait in the slow lane
        /// (about hanging checks x timeout / slow permits: 2,000 x 1 s / 16 = 125 s with the
        /// defaults).
        ///
        /// ```
        /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
        /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
        /// let engine = readiness_core::Engine::builder().max_in_flight(16).build()?;
        /// # let _ = engine;
        /// # Ok(()) }
        /// ```
        max_in_flight(n: usize) => max_in_flight;

        /// At most this many runs of tenants' checks at once, across all tenants (default 64),
        /// in the same lanes as [`max_in_flight`](Self::max_in_flight): a newly added tenant's
        /// first run starts ahead of the tenants whose checks hang.
        max_tenant_in_flight(n: usize) => max_tenant_in_flight;
    }

    /// The built-in `heartbeat` liveness check: a task ticks every `interval`, and the check
    /// fails when the tick is later than `max_lateness` (default: every 1 s, 5 s late).
    pub fn heartbeat(mut self, interval: Duration, max_lateness: Duration) -> Self {
        self.heartbeat = Some((interval, max_lateness));
        self
    }

    /// Register a tenant with its readiness checks (more can be added at run time with
    /// [`Engine::add_tenant`]).
    pub fn tenant(mut self, id: impl Into<String>, checks: Vec<CheckSpec>) -> Self {
        self.tenants.push((id.into(), checks));
        self
    }

    setters! {
        /// At most this many tenants (default 10,000): adding one more is an error. It bounds the
        /// number of per-tenant metric series too.
        max_tenants(n: usize) => max_tenants;

        /// Which per-tenant series to export (default [`TenantMetricsMode::All`]).
        tenant_metrics(mode: TenantMetricsMode) => tenant_metrics;

        /// How the per-tenant series reach Prometheus (default [`TenantMetricsExport::Collector`]:
        /// rendered from the engine's state by whoever serves `/metrics`, the recorder holds none
        /// of them). Take [`TenantMetricsExport::Facade`] to export them through the recorder in
        /// place (OpenTelemetry, StatsD); it costs the recorder about 1,150 bytes per tenant with
        /// `metrics-exporter-prometheus`.
        ///
        /// Build a reload on the same export as the engine it replaces: from the collector to the
        /// facade the counters carry over, but from the facade to the collector they cannot be
        /// read back from the recorder and start again at 0 (Prometheus reads one counter reset).
        tenant_metrics_export(export: TenantMetricsExport) => tenant_export;

        /// How many transitions the auditors' log keeps (default 1024); older ones are dropped.
        audit_log_capacity(n: usize) => audit_capacity;
    }

    /// No built-in `heartbeat` check.
    pub fn without_heartbeat(mut self) -> Self {
        self.heartbeat = None;
        self
    }

    setters! {
        /// The seed of the checks' jitter. By default it comes from the operating system (through
        /// std's `RandomState`), so instances started together spread their checks instead of
        /// hitting a dependency in lock-step; give one to make a schedule repeatable in tests. A
        /// check's first run is never delayed by jitter. Every `u64` is a valid seed.
        ///
        /// ```
        /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
        /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
        /// let engine = readiness_core::Engine::builder().jitter_seed(42).build()?;
        /// # let _ = engine;
        /// # Ok(()) }
        /// ```
        jitter_seed(seed: u64) => jitter_seed;

        /// How long a result stays valid past its next run and that run's timeout (default 1 s).
        /// A check whose latest result is older than its period (plus jitter, or the longer
        /// delay the scheduler planned) + timeout + this margin is **failing** with reason
        /// `stale: no result for Ns`, whatever it last said, in the snapshot, the probes, the
        /// metrics and the transition log: a run that never came back, a lost wake-up or a
        /// wedged runtime can never leave a dependency passing. Readiness reads compare the
        /// deadline with the clock themselves, so they fail closed even when no task runs. Must be
        /// greater than zero. The built-in heartbeat's margin is at least its lateness bound.
        stale_margin(margin: Duration) => stale_margin;
    }

    /// The back-off before a check whose run died (a panic while its future was dropped at the
    /// timeout, or while its result was recorded) runs again: `initial`, doubling with each
    /// consecutive death up to `max` (default 1 s to 60 s), and never shorter than its period.
    /// Each death is recorded as a failure and logged once. The engine's own tasks (the
    /// scheduler, the watchdog) are restarted with the same back-off. `initial` must be greater
    /// than zero and `max` at least `initial`.
    pub fn restart_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.restart_backoff = (initial, max);
        self
    }

    /// The longest delay a failing check that keeps timing out waits while the slow lane is
    /// saturated (default 60 s; see [`max_in_flight`](Self::max_in_flight)). Must be greater
    /// than zero; a check never waits less than its period.
    pub fn slow_backoff_max(mut self, max: Duration) -> Self {
        self.slow_backoff_max = max;
        self
    }

    /// Build this engine as the reload of `old`: both write the same series through the same
    /// recorder, so they hand them over instead of fighting over them. The new engine writes
    /// none of the instance's series (`readiness_state`, `readiness_transitions_total`,
    /// `readiness_draining`, `tenant_readiness_tenants`) nor its checks' and tenants' until it
    /// takes them over: when it is first ready (with its tenants' first results in: a tenant still
    /// pending would read not ready and count its first result as a transition), or when `old`
    /// is dropped or shut down, whichever comes first; taken over before a tenant's first
    /// results, the tenant's series keep what `old` published until they come. Taking over writes the new engine's values once and counts a
    /// transition only if readiness really changed: a ready-to-ready reload moves no counter
    /// and never writes `readiness_state` 0. From then on `old` writes nothing, its drop
    /// included. Build on the same recorder as `old`.
    ///
    /// ```
    /// use readiness_core::{check_fn, Engine};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let ok = || check_fn(|| async { Ok::<(), std::io::Error>(()) });
    /// let old = Engine::builder().readiness("db", ok()).build()?;
    /// old.refresh().await?;
    /// let new = Engine::builder().readiness("db", ok()).reload_from(&old).build()?;
    /// new.refresh().await?; // ready: it owns the series now
    /// drop(old);            // writes nothing
    /// # assert!(new.is_ready());
    /// # Ok(()) }
    /// ```
    pub fn reload_from(mut self, old: &Engine) -> Self {
        self.reload_from = Some(old.inner.shared.series.handle());
        self
    }

    /// A `ReloadableEngine`'s reload: the engine takes the series over when the handle swaps
    /// it in (`Engine::take_over_at_swap`), not when it is first ready.
    pub(crate) fn takeover_at_swap(mut self) -> Self {
        self.deferred_takeover = true;
        self
    }

    /// Validate the configuration and start the engine on the current tokio runtime.
    ///
    /// Returns every problem at once: bad, reserved or duplicate names, zero periods,
    /// timeouts or thresholds, bad engine-wide options, and a missing runtime. Never panics on
    /// bad configuration.
    pub fn build(self) -> Result<Engine, BuildError> {
        let mut problems = Vec::new();
        let runtime = tokio::runtime::Handle::try_current().ok();
        if runtime.is_none() {
            problems.push(ConfigProblem::NoRuntime);
        }
        if self.max_in_flight == 0 {
            problems.push(ConfigProblem::ZeroLimit {
                option: "max_in_flight",
            });
        }
        if self.max_tenant_in_flight == 0 {
            problems.push(ConfigProblem::ZeroLimit {
                option: "max_tenant_in_flight",
            });
        }
        if self.stale_margin.is_zero() {
            problems.push(ConfigProblem::BadOption {
                option: "stale_margin",
                expected: "greater than zero",
            });
        }
        let (initial, max) = self.restart_backoff;
        if initial.is_zero() || max < initial {
            problems.push(ConfigProblem::BadOption {
                option: "restart_backoff",
                expected: "an initial delay greater than zero and a cap at least as long",
            });
        }
        if self.slow_backoff_max.is_zero() {
            problems.push(ConfigProblem::BadOption {
                option: "slow_backoff_max",
                expected: "greater than zero",
            });
        }
        let mut specs = self.specs;
        let base = Instant::now();
        let mut beat = None;
        if let Some((interval, max_lateness)) = self.heartbeat {
            let last = Arc::new(AtomicU64::new(0));
            specs.insert(
                0,
                CheckSpec::liveness(
                    HEARTBEAT_CHECK,
                    Heartbeat {
                        base,
                        last_beat_ms: last.clone(),
                        interval,
                        max_lateness,
                    },
                )
                .period(interval)
                .timeout(interval.max(Duration::from_millis(1)))
                .jitter(Duration::ZERO)
                .failure_threshold(1),
            );
            beat = Some((interval, max_lateness, last));
        }
        let mut resolved = resolve_specs(&Scope::Global, &specs, &self.defaults, &mut problems);
        depends::resolve_instance(&specs, &mut resolved, &self.tenants, &mut problems);
        for r in &mut resolved {
            r.cfg.set_margin(self.stale_margin);
        }
        if let Some((_, max_lateness, _)) = &beat
            && let Some(first) = resolved.first_mut()
        {
            // The heartbeat watches the runtime: it must never queue behind hanging checks,
            // and its result lasts at least as long as the lateness it tolerates.
            first.cfg.bounded = false;
            first.cfg.set_margin(self.stale_margin.max(*max_lateness));
        }
        if self.max_tenants == 0 {
            problems.push(ConfigProblem::ZeroLimit {
                option: "max_tenants",
            });
        } else if self.tenants.len() > self.max_tenants {
            problems.push(ConfigProblem::TooManyTenants {
                max: self.max_tenants,
            });
        }
        let mut tenant_ids = std::collections::HashSet::new();
        let mut tenants = Vec::with_capacity(self.tenants.len());
        for (id, checks) in &self.tenants {
            if validate_tenant(id, &mut problems) && !tenant_ids.insert(id.as_str()) {
                problems.push(ConfigProblem::DuplicateTenant { id: id.clone() });
            }
            let mut resolved =
                resolve_tenant_checks(id, checks, &self.defaults, self.stale_margin, &mut problems);
            depends::resolve_built_tenant(
                id,
                checks,
                &mut resolved,
                &specs,
                &self.tenants,
                &mut problems,
            );
            tenants.push((id, resolved));
        }
        let runtime = match (runtime, problems.is_empty()) {
            (Some(rt), true) => rt,
            _ => return Err(BuildError::new(problems)),
        };

        let seed = self.jitter_seed.unwrap_or_else(|| {
            use std::hash::{BuildHasher, Hasher};
            // Seeded from the operating system, once per process and thread, then stepped:
            // two engines never share a seed, two pods neither.
            let mut h = std::hash::RandomState::new().build_hasher();
            h.write_u64(0);
            h.finish()
        });
        let metrics = GlobalMetrics::register();
        let interner = Interner::default();
        let core = ScopeCore::new(resolved, true, scope_salt(seed, None), &interner);
        if tenants.iter().any(|(_, r)| depends::on_instance(r)) {
            core.tenants_depend.store(true, Ordering::SeqCst);
        }
        let initial = core.snapshot.load().aggregate();
        let (watch_tx, _) = watch::channel(initial);
        let (tenant_events, _) = broadcast::channel(1024);
        let (stopping, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            stopping,
            shut_down: AtomicBool::new(false),
            gone: AtomicBool::new(false),
            deferred_takeover: AtomicBool::new(self.deferred_takeover),
            clock: Clock { base },
            options: Options {
                margin: self.stale_margin,
                restart_backoff: self.restart_backoff,
                slow_backoff_max: self.slow_backoff_max,
                seed,
            },
            global: core,
            watch: watch_tx,
            metrics,
            series: Series::new(self.reload_from.as_ref()),
            tenants: TenantMap::new(self.max_tenants),
            tenant_sync: Mutex::new(TenantCounts::register(self.tenant_export)),
            tenant_events,
            tenant_mode: TenantSeriesConfig {
                mode: self.tenant_metrics,
                export: self.tenant_export,
            },
            defaults: self.defaults,
            audit: Mutex::new(VecDeque::new()),
            audit_capacity: self.audit_capacity,
            sched: Scheduler::new(self.max_in_flight, self.max_tenant_in_flight),
            interner,
            ran: Ran::default(),
            watchdog: Watchdog::new(),
            undecided: std::sync::atomic::AtomicUsize::new(0),
            #[cfg(test)]
            faults: Default::default(),
        });
        shared.series.join(&shared);
        {
            let mut state = lock(&shared.global.state);
            if shared.series.draining() {
                // It replaces a draining engine: draining from its first moment, never ready.
                shared.publish(&mut state);
            }
            if shared.series.owns() {
                shared.first_writes(&state);
            }
            if initial.ready {
                tracing::info!(target: "readiness", ready = true, "instance readiness changed: ready");
            }
        }
        shared.sched.add(&shared, None);
        for (id, resolved) in tenants {
            // Validated above: unique, within the cap, and nothing can shut the engine down yet.
            let _ = shared.insert_tenant(id, resolved);
        }
        // A reload that is ready from the start takes over once its tenants are in (and
        // decided), so that their counters carry on from the older engine's.
        shared.take_over_if_decided();
        let ticker =
            beat.map(|(interval, _, last)| runtime.spawn(heartbeat_task(base, interval, last)));
        let tasks = vec![
            runtime.spawn(supervise_driver(shared.clone())),
            runtime.spawn(supervise_watchdog(shared.clone())),
        ];
        Ok(Engine {
            inner: Arc::new(Inner {
                shared,
                tasks: Mutex::new(tasks),
                ticker: Mutex::new(ticker),
            }),
        })
    }
}
