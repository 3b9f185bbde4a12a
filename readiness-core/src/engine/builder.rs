//! [`EngineBuilder`]: every option, validated at once by [`EngineBuilder::build`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{Semaphore, broadcast, watch};
use tokio::time::Instant;

use super::handle::{Engine, Inner};
use super::scheduler::{check_task, heartbeat_task};
use super::scope::ScopeCore;
use super::tenants::{resolve_tenant_checks, validate_tenant};
use super::{HEARTBEAT_CHECK, Shared};
use crate::check::{Check, Heartbeat};
use crate::config::{BuildError, CheckSpec, ConfigProblem, Defaults, Scope, resolve_specs};
use crate::metrics::{GlobalMetrics, TenantCounts};
use crate::tenant::TenantMetricsMode;

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
    audit_capacity: usize,
    heartbeat: Option<(Duration, Duration)>,
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
            audit_capacity: 1024,
            heartbeat: Some((Duration::from_secs(1), Duration::from_secs(5))),
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

    /// Defaults for every option a [`CheckSpec`] leaves unset.
    pub fn defaults(mut self, defaults: Defaults) -> Self {
        self.defaults = defaults;
        self
    }

    /// At most this many runs of the instance's checks at once (default 64), so that
    /// thousands of checks never stampede their dependencies or the runtime. Runs beyond the
    /// bound wait their turn; their timeout starts when they start. The built-in `heartbeat`
    /// is not bounded, and tenants have their own bound
    /// ([`max_tenant_in_flight`](Self::max_tenant_in_flight)), so tenants that hang never
    /// delay the instance's checks.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// At most this many runs of tenants' checks at once, across all tenants (default 64).
    pub fn max_tenant_in_flight(mut self, n: usize) -> Self {
        self.max_tenant_in_flight = n;
        self
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

    /// At most this many tenants (default 10,000): adding one more is an error. It bounds the
    /// number of per-tenant metric series too.
    pub fn max_tenants(mut self, n: usize) -> Self {
        self.max_tenants = n;
        self
    }

    /// Which per-tenant series to export (default [`TenantMetricsMode::All`]).
    pub fn tenant_metrics(mut self, mode: TenantMetricsMode) -> Self {
        self.tenant_metrics = mode;
        self
    }

    /// How many transitions the auditors' log keeps (default 1024); older ones are dropped.
    pub fn audit_log_capacity(mut self, n: usize) -> Self {
        self.audit_capacity = n;
        self
    }

    /// No built-in `heartbeat` check.
    pub fn without_heartbeat(mut self) -> Self {
        self.heartbeat = None;
        self
    }

    /// Validate the configuration and start the engine on the current tokio runtime.
    ///
    /// Returns every problem at once: bad, reserved or duplicate names, zero periods,
    /// timeouts or thresholds, and a missing runtime. Never panics on bad configuration.
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
            beat = Some((interval, last));
        }
        let mut resolved = resolve_specs(&Scope::Global, &specs, &self.defaults, &mut problems);
        if beat.is_some()
            && let Some(first) = resolved.first_mut()
        {
            // The heartbeat watches the runtime: it must never queue behind hanging checks.
            first.bounded = false;
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
            tenants.push((
                id,
                resolve_tenant_checks(id, checks, &self.defaults, &mut problems),
            ));
        }
        let runtime = match (runtime, problems.is_empty()) {
            (Some(rt), true) => rt,
            _ => return Err(BuildError::new(problems)),
        };

        let metrics = GlobalMetrics::register();
        let core = ScopeCore::new(resolved, true);
        let initial = core.snapshot.load().aggregate();
        if initial.ready {
            // Nothing to wait for (no critical readiness or startup check): ready from the
            // start, which is a transition like any other.
            metrics.transition(true);
            tracing::info!(target: "readiness", ready = true, "instance readiness changed: ready");
        }
        let (watch_tx, _) = watch::channel(initial);
        let (tenant_events, _) = broadcast::channel(1024);
        let (closed, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            closed,
            global: core,
            draining: AtomicBool::new(false),
            semaphore: Arc::new(Semaphore::new(self.max_in_flight)),
            tenant_semaphore: Arc::new(Semaphore::new(self.max_tenant_in_flight)),
            watch: watch_tx,
            metrics,
            tenants: RwLock::new(HashMap::new()),
            tenant_sync: Mutex::new(TenantCounts::register()),
            tenant_events,
            tenant_mode: self.tenant_metrics,
            max_tenants: self.max_tenants,
            defaults: self.defaults,
            runtime: runtime.clone(),
            audit: Mutex::new(VecDeque::new()),
            audit_capacity: self.audit_capacity,
        });

        let mut tasks = Vec::with_capacity(shared.global.slots.len() + 1);
        if let Some((interval, last)) = beat {
            tasks.push(runtime.spawn(heartbeat_task(base, interval, last)));
        }
        for idx in 0..shared.global.slots.len() {
            tasks.push(runtime.spawn(check_task(shared.clone(), None, idx)));
        }
        for (id, resolved) in tenants {
            shared.insert_tenant(id, resolved);
        }
        Ok(Engine {
            inner: Arc::new(Inner {
                shared,
                tasks: Mutex::new(tasks),
            }),
        })
    }
}
