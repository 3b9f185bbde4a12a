//! The engine: runs checks in the background and keeps the snapshot probes read.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use futures_util::FutureExt;
use tokio::sync::{Semaphore, broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::check::{Check, Heartbeat};
use crate::config::{
    BuildError, CheckSpec, ConfigProblem, Defaults, Kind, Resolved, Scope, resolve_specs,
};
use crate::metrics::{CheckMetrics, GlobalMetrics, Outcome, TenantCounts, TenantSeries};
use crate::snapshot::{Aggregate, CheckStatus, Snapshot, Status};
use crate::tenant::{AuditEntry, Auditor, TenantEvent, TenantMetricsMode, TenantStatus};

/// Name of the built-in liveness check that watches the runtime.
pub const HEARTBEAT_CHECK: &str = "heartbeat";
/// Name of the entry that drain adds to readiness.
pub const SHUTDOWN_ENTRY: &str = "shutdown";
/// The reason the `shutdown` entry gives.
pub const SHUTDOWN_REASON: &str = "shutting down";

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

/// The check engine: one value, cloned cheaply, is the single source of truth for every
/// probe, metric and subscriber.
///
/// Dropping the last clone stops every background task; [`Engine::shutdown`] does so and
/// waits for them.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snap = self.snapshot();
        f.debug_struct("Engine")
            .field("ready", &snap.is_ready())
            .field("live", &snap.is_live())
            .field("checks", &snap.checks().len())
            .finish_non_exhaustive()
    }
}

/// A handle that does not keep the engine running; see [`Engine::downgrade`].
#[derive(Clone, Debug)]
pub struct WeakEngine {
    inner: std::sync::Weak<Inner>,
}

impl WeakEngine {
    /// The engine, if a strong handle still exists.
    pub fn upgrade(&self) -> Option<Engine> {
        self.inner.upgrade().map(|inner| Engine { inner })
    }
}

struct Inner {
    shared: Arc<Shared>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.closed.send_replace(true);
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
        // A check that no longer runs is not passing: zero its series (see `Engine::shutdown`).
        self.shared.global.zero_check_states();
        // As if each tenant were removed: its series stop and read 1 (see `remove_tenant`).
        for tenant in self.shared.stop_tenants() {
            tenant
                .series
                .removed(tenant.effective.load(Ordering::SeqCst));
        }
    }
}

impl Engine {
    /// Start configuring an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// A handle that does not keep the engine's tasks alive (for bridges and watchers).
    pub fn downgrade(&self) -> WeakEngine {
        WeakEngine {
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// The latest snapshot. Cheap: one atomic load and a reference count.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.shared.global.snapshot.load_full()
    }

    /// Whether the instance is ready, in O(1) without allocating or locking.
    pub fn is_ready(&self) -> bool {
        self.inner.shared.global.snapshot.load().ready
    }

    /// Whether the instance is live, in O(1) without allocating or locking.
    pub fn is_live(&self) -> bool {
        self.inner.shared.global.snapshot.load().live
    }

    /// Whether the instance has started, in O(1) without allocating or locking.
    pub fn is_started(&self) -> bool {
        self.inner.shared.global.snapshot.load().started
    }

    /// Read the latest snapshot in place, without touching its reference count.
    pub fn with_snapshot<R>(&self, f: impl FnOnce(&Snapshot) -> R) -> R {
        f(&self.inner.shared.global.snapshot.load())
    }

    /// A watch channel of the aggregate state; it changes once per transition.
    pub fn subscribe(&self) -> watch::Receiver<Aggregate> {
        self.inner.shared.watch.subscribe()
    }

    /// Turn readiness off for good: a `shutdown` entry fails with "shutting down", liveness
    /// stays as it is, checks keep running, and `readiness_draining` reads 1. Idempotent.
    ///
    /// This is step one of a graceful shutdown; [`drain_on`](Self::drain_on) does the whole
    /// sequence (signal, drain, keep serving for the delay, [`close`](Self::close)) as one
    /// future for the server, after which you call [`shutdown`](Self::shutdown). Keep serving
    /// after `drain` long enough for everything that routes traffic here to notice:
    ///
    /// - the delay ≥ the readiness probe's `periodSeconds × failureThreshold` + endpoint
    ///   propagation (Kubernetes' default probe, 10 s × 3, plus about 5 s: 35 s);
    /// - `terminationGracePeriodSeconds` ≥ the `preStop` hook + the delay + the longest
    ///   in-flight request, or the kubelet kills the process mid-drain;
    /// - when the pod is the last endpoint of its Service, Kubernetes falls back to
    ///   terminating endpoints that still pass readiness (KEP-1669), so draining at once
    ///   refuses requests the pod could still serve: start a replacement first, or use a
    ///   `preStop` sleep for a single replica.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let engine = readiness_core::Engine::builder().build()?;
    /// engine.refresh().await;
    /// assert!(engine.is_ready());
    /// engine.drain();
    /// assert!(!engine.is_ready() && engine.is_live() && engine.is_draining());
    /// # Ok(()) }
    /// ```
    pub fn drain(&self) {
        let shared = &self.inner.shared;
        if !shared.draining.swap(true, Ordering::SeqCst) {
            tracing::info!(target: "readiness", "draining: readiness is off for good");
            shared.metrics.draining();
            let mut state = lock(&shared.global.state);
            shared.publish(&mut state);
        }
    }

    /// Whether [`drain`](Self::drain) was called.
    pub fn is_draining(&self) -> bool {
        self.inner.shared.draining.load(Ordering::SeqCst)
    }

    /// End the drain: its delay is over and the server is about to stop accepting, so
    /// long-lived streams that follow the engine (gRPC `Watch`) end now instead of holding a
    /// graceful shutdown open. Drains first if [`drain`](Self::drain) was not called.
    /// Idempotent; [`shutdown`](Self::shutdown) and dropping the last handle close too.
    pub fn close(&self) {
        self.drain();
        self.inner.shared.closed.send_replace(true);
    }

    /// Whether [`close`](Self::close) was called (or the engine was shut down).
    pub fn is_closed(&self) -> bool {
        *self.inner.shared.closed.borrow()
    }

    /// Resolves once the engine is closed ([`close`](Self::close), [`shutdown`](Self::shutdown)
    /// or the last handle dropped). It holds no handle: waiting never keeps the engine alive.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.inner.shared.closed.subscribe();
        async move {
            // An error means the engine is gone, which is closed too.
            let _ = rx.wait_for(|closed| *closed).await;
        }
    }

    /// Drain, then stop every background task and wait until they have all ended.
    ///
    /// This is for shutting the process down. To reload a configuration, build the new engine
    /// on the same recorder and drop the old one instead: dropping stops its tasks without
    /// draining, so `readiness_state` and `readiness_transitions_total` see no drain. Either
    /// way the engine's `readiness_check_state` series are set to 0 when it stops; a check the
    /// new engine still has is set again on its next result, one that was removed stays 0.
    pub async fn shutdown(&self) {
        self.close();
        let tasks: Vec<_> = lock(&self.inner.tasks).drain(..).collect();
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
        self.inner.shared.global.zero_check_states();
        for tenant in self.inner.shared.stop_tenants() {
            tenant.join().await;
        }
    }

    /// Run every check now and wait for the results. Concurrent callers share one run per
    /// check: a caller that finds a run of a check in flight waits for it and takes its result
    /// instead of starting another. Runs respect the in-flight bound.
    pub async fn refresh(&self) {
        let shared = &self.inner.shared;
        let runs = (0..shared.global.slots.len()).map(|idx| shared.run_coalesced(None, idx));
        futures_util::future::join_all(runs).await;
    }

    /// Run every check of one tenant now, as [`refresh`](Self::refresh) does. Returns `false`
    /// for an unknown tenant.
    pub async fn refresh_tenant(&self, id: &str) -> bool {
        let shared = &self.inner.shared;
        let Some(tenant) = shared.tenant(id) else {
            return false;
        };
        let runs = (0..tenant.core.slots.len()).map(|idx| shared.run_coalesced(Some(&tenant), idx));
        futures_util::future::join_all(runs).await;
        true
    }

    /// Add a tenant with its readiness checks, while probes are served. Its id follows the
    /// check-name rules; `tenants` is reserved, and its checks may not be named `instance` or
    /// `shutdown`. Every problem is returned at once; nothing is added on error.
    pub fn add_tenant(&self, id: &str, checks: Vec<CheckSpec>) -> Result<(), BuildError> {
        let shared = &self.inner.shared;
        let mut problems = Vec::new();
        validate_tenant(id, &mut problems);
        let resolved = resolve_tenant_checks(id, &checks, &shared.defaults, &mut problems);
        if !problems.is_empty() {
            return Err(BuildError::new(problems));
        }
        let mut map = write(&shared.tenants);
        if map.contains_key(id) {
            return Err(BuildError::new(vec![ConfigProblem::DuplicateTenant {
                id: id.to_owned(),
            }]));
        }
        if map.len() >= shared.max_tenants {
            return Err(BuildError::new(vec![ConfigProblem::TooManyTenants {
                max: shared.max_tenants,
            }]));
        }
        shared.insert_tenant_locked(&mut map, id, resolved);
        Ok(())
    }

    /// Remove a tenant: its checks stop, its probe answers 404, and it leaves the
    /// `tenant_readiness_tenants` counts. Its per-tenant series are no longer updated;
    /// `tenant_readiness_state` is set to 1 first, so that a tenant removed while not ready
    /// does not keep a not-ready alert firing (the facade cannot delete a series: an exporter
    /// idle timeout drops it). Returns `false` for an unknown tenant.
    pub fn remove_tenant(&self, id: &str) -> bool {
        let shared = &self.inner.shared;
        let Some(tenant) = write(&shared.tenants).remove(id) else {
            return false;
        };
        tenant.abort();
        shared.forget_tenant(&tenant);
        true
    }

    /// A tenant's state: its snapshot and whether it is ready (its critical checks pass and
    /// the instance is ready). `None` for an unknown tenant.
    pub fn tenant(&self, id: &str) -> Option<TenantStatus> {
        let shared = &self.inner.shared;
        let tenant = shared.tenant(id)?;
        let instance = shared.global.snapshot.load();
        Some(TenantStatus {
            snapshot: tenant.core.snapshot.load_full(),
            ready: tenant.effective.load(Ordering::SeqCst),
            instance_ready: instance.ready,
            draining: instance.draining,
        })
    }

    /// Whether a tenant is ready, in O(1) without allocating; `None` for an unknown tenant.
    pub fn tenant_ready(&self, id: &str) -> Option<bool> {
        read(&self.inner.shared.tenants)
            .get(id)
            .map(|t| t.effective.load(Ordering::SeqCst))
    }

    /// Whether a tenant's own critical checks pass, not counting the instance; `None` for an
    /// unknown tenant. O(1), no allocation. Shedding uses this, so that a draining instance
    /// keeps serving every tenant until it stops.
    pub fn tenant_checks_pass(&self, id: &str) -> Option<bool> {
        read(&self.inner.shared.tenants)
            .get(id)
            .map(|t| t.core.snapshot.load().ready)
    }

    /// The ids of every tenant, in no particular order.
    pub fn tenant_ids(&self) -> Vec<Arc<str>> {
        read(&self.inner.shared.tenants).keys().cloned().collect()
    }

    /// How many tenants there are.
    pub fn tenant_count(&self) -> usize {
        read(&self.inner.shared.tenants).len()
    }

    /// Every change of a tenant's readiness (and every removal), as it happens. A receiver
    /// that lags behind gets `RecvError::Lagged` and should re-read [`tenant_ids`](Self::tenant_ids)
    /// and [`tenant_ready`](Self::tenant_ready).
    pub fn subscribe_tenants(&self) -> broadcast::Receiver<TenantEvent> {
        self.inner.shared.tenant_events.subscribe()
    }

    /// A read-only view for auditors: every scope's snapshot and the bounded log of
    /// transitions. It has no method that changes anything.
    pub fn auditor(&self) -> Auditor {
        Auditor::new(self.clone())
    }

    pub(crate) fn audit_log(&self) -> Vec<AuditEntry> {
        lock(&self.inner.shared.audit).iter().cloned().collect()
    }

    /// How many runs of a check have started, or `None` for an unknown name. Meant for tests
    /// and diagnostics (for example, that probes never make checks run more often).
    pub fn runs_started(&self, check: &str) -> Option<u64> {
        if let Some((tenant, name)) = check.split_once('/') {
            let t = self.inner.shared.tenant(tenant)?;
            return t
                .core
                .index
                .get(name)
                .map(|&i| t.core.slots[i].runs_started.load(Ordering::SeqCst));
        }
        let core = &self.inner.shared.global;
        core.index
            .get(check)
            .map(|&i| core.slots[i].runs_started.load(Ordering::SeqCst))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of our locks cannot leave the data half-written (every
    // critical section finishes its writes before it can panic), so poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

/// Names a tenant's checks may not take: the tenant probe uses them for its own entries.
const TENANT_RESERVED: &[&str] = &["instance", "shutdown", "tenants"];

fn validate_tenant(id: &str, problems: &mut Vec<ConfigProblem>) -> bool {
    let scope = Scope::Tenant(id.into());
    if let Err(error) = crate::config::validate_name(id) {
        problems.push(ConfigProblem::InvalidName {
            scope,
            name: id.to_owned(),
            error,
        });
        false
    } else if crate::config::RESERVED_NAMES.contains(&id) {
        problems.push(ConfigProblem::ReservedName {
            scope,
            name: id.to_owned(),
        });
        false
    } else {
        true
    }
}

fn resolve_tenant_checks(
    id: &str,
    checks: &[CheckSpec],
    defaults: &Defaults,
    problems: &mut Vec<ConfigProblem>,
) -> Vec<Resolved> {
    let scope = Scope::Tenant(id.into());
    for c in checks {
        if c.kind() != Kind::Readiness {
            problems.push(ConfigProblem::TenantCheckKind {
                tenant: id.to_owned(),
                name: c.name().to_owned(),
                kind: c.kind(),
            });
        }
        if TENANT_RESERVED.contains(&c.name()) {
            problems.push(ConfigProblem::ReservedName {
                scope: scope.clone(),
                name: c.name().to_owned(),
            });
        }
    }
    resolve_specs(&scope, checks, defaults, problems)
}

struct Shared {
    /// `true` once the drain is over ([`Engine::close`]): long-lived streams end.
    closed: watch::Sender<bool>,
    global: ScopeCore,
    draining: AtomicBool,
    semaphore: Arc<Semaphore>,
    tenant_semaphore: Arc<Semaphore>,
    watch: watch::Sender<Aggregate>,
    metrics: GlobalMetrics,
    tenants: RwLock<HashMap<Arc<str>, Arc<TenantCore>>>,
    /// Serialises every change of a tenant's effective readiness, and holds the counts.
    tenant_sync: Mutex<TenantCounts>,
    tenant_events: broadcast::Sender<TenantEvent>,
    tenant_mode: TenantMetricsMode,
    max_tenants: usize,
    defaults: Defaults,
    runtime: tokio::runtime::Handle,
    audit: Mutex<VecDeque<AuditEntry>>,
    audit_capacity: usize,
}

struct Slot {
    cfg: Resolved,
    run_lock: tokio::sync::Mutex<()>,
    runs_started: AtomicU64,
    runs_completed: AtomicU64,
    /// Per-check series: global checks only (tenant checks are attributed to their tenant).
    metrics: Option<CheckMetrics>,
}

#[derive(Clone)]
struct RunState {
    status: Status,
    reason: Option<Arc<str>>,
    ok_run: u32,
    fail_run: u32,
}

struct ScopeState {
    runs: Vec<RunState>,
    started: bool,
}

struct ScopeCore {
    slots: Vec<Slot>,
    index: Arc<HashMap<Arc<str>, usize>>,
    snapshot: ArcSwap<Snapshot>,
    state: Mutex<ScopeState>,
}

/// One tenant: its own checks and state, its series and its tasks.
pub(crate) struct TenantCore {
    id: Arc<str>,
    core: ScopeCore,
    series: TenantSeries,
    /// Its readiness as last published: own critical checks passing and the instance ready.
    effective: AtomicBool,
    removed: AtomicBool,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl TenantCore {
    fn abort(&self) {
        self.removed.store(true, Ordering::SeqCst);
        for t in lock(&self.tasks).iter() {
            t.abort();
        }
    }

    async fn join(&self) {
        let tasks: Vec<_> = lock(&self.tasks).drain(..).collect();
        for t in tasks {
            let _ = t.await;
        }
    }
}

impl ScopeCore {
    fn new(resolved: Vec<Resolved>, check_metrics: bool) -> Self {
        let index: HashMap<_, _> = resolved
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.clone(), i))
            .collect();
        let slots: Vec<Slot> = resolved
            .into_iter()
            .map(|cfg| Slot {
                metrics: check_metrics.then(|| CheckMetrics::register(&cfg.name)),
                cfg,
                run_lock: tokio::sync::Mutex::new(()),
                runs_started: AtomicU64::new(0),
                runs_completed: AtomicU64::new(0),
            })
            .collect();
        let state = ScopeState {
            runs: vec![
                RunState {
                    status: Status::Pending,
                    reason: None,
                    ok_run: 0,
                    fail_run: 0,
                };
                slots.len()
            ],
            started: false,
        };
        let index = Arc::new(index);
        let snapshot = build_snapshot(&slots, &index, &state, false);
        let mut state = state;
        state.started = snapshot.started;
        Self {
            slots,
            index,
            snapshot: ArcSwap::from_pointee(snapshot),
            state: Mutex::new(state),
        }
    }

    fn zero_check_states(&self) {
        for slot in &self.slots {
            if let Some(m) = &slot.metrics {
                m.state(false);
            }
        }
    }
}

fn build_snapshot(
    slots: &[Slot],
    index: &Arc<HashMap<Arc<str>, usize>>,
    state: &ScopeState,
    draining: bool,
) -> Snapshot {
    let mut live = true;
    let mut checks_ready = true;
    let mut startup_ok = true;
    let checks: Vec<CheckStatus> = slots
        .iter()
        .zip(&state.runs)
        .map(|(slot, run)| {
            let cfg = &slot.cfg;
            match cfg.kind {
                Kind::Liveness => live &= run.status != Status::Failing,
                Kind::Readiness if cfg.critical => checks_ready &= run.status == Status::Passing,
                Kind::Readiness => {}
                Kind::Startup => startup_ok &= run.status == Status::Passing,
            }
            CheckStatus {
                name: cfg.name.clone(),
                kind: cfg.kind,
                critical: cfg.critical,
                group: cfg.group.clone(),
                status: run.status,
                reason: run.reason.clone(),
            }
        })
        .collect();
    let started = state.started || (startup_ok && checks_ready);
    Snapshot {
        checks,
        index: index.clone(),
        ready: started && checks_ready && !draining,
        live,
        started,
        draining,
    }
}

impl Shared {
    fn tenant(&self, id: &str) -> Option<Arc<TenantCore>> {
        read(&self.tenants).get(id).cloned()
    }

    fn insert_tenant(self: &Arc<Self>, id: &str, resolved: Vec<Resolved>) {
        let mut map = write(&self.tenants);
        self.insert_tenant_locked(&mut map, id, resolved);
    }

    fn insert_tenant_locked(
        self: &Arc<Self>,
        map: &mut HashMap<Arc<str>, Arc<TenantCore>>,
        id: &str,
        resolved: Vec<Resolved>,
    ) {
        let id: Arc<str> = id.into();
        let core = ScopeCore::new(resolved, false);
        let tenant = Arc::new(TenantCore {
            series: TenantSeries::register(&id, self.tenant_mode),
            id: id.clone(),
            core,
            effective: AtomicBool::new(false),
            removed: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
        });
        {
            let mut counts = lock(&self.tenant_sync);
            counts.add();
            // Subscribers (the gRPC bridge) learn of the tenant at once, not at its first
            // transition.
            let _ = self.tenant_events.send(TenantEvent {
                tenant: id.clone(),
                ready: false,
                removed: false,
            });
        }
        // A tenant with no critical check is ready as soon as the instance is.
        self.sync_tenant(&tenant);
        let mut tasks = Vec::with_capacity(tenant.core.slots.len());
        for idx in 0..tenant.core.slots.len() {
            tasks.push(
                self.runtime
                    .spawn(check_task(self.clone(), Some(tenant.clone()), idx)),
            );
        }
        *lock(&tenant.tasks) = tasks;
        map.insert(id, tenant);
    }

    fn forget_tenant(&self, tenant: &TenantCore) {
        let mut counts = lock(&self.tenant_sync);
        let was_ready = tenant.effective.load(Ordering::SeqCst);
        counts.remove(was_ready);
        tenant.series.removed(was_ready);
        let _ = self.tenant_events.send(TenantEvent {
            tenant: tenant.id.clone(),
            ready: false,
            removed: true,
        });
        self.audit(Scope::Tenant(tenant.id.clone()), None, "removed", None);
    }

    /// Stop every tenant's tasks; returns them so that a caller can wait for the tasks.
    fn stop_tenants(&self) -> Vec<Arc<TenantCore>> {
        let tenants: Vec<_> = read(&self.tenants).values().cloned().collect();
        for t in &tenants {
            t.abort();
        }
        tenants
    }

    fn audit(
        &self,
        scope: Scope,
        check: Option<Arc<str>>,
        to: &'static str,
        reason: Option<Arc<str>>,
    ) {
        if self.audit_capacity == 0 {
            return;
        }
        let mut log = lock(&self.audit);
        if log.len() >= self.audit_capacity {
            log.pop_front();
        }
        log.push_back(AuditEntry {
            at: std::time::SystemTime::now(),
            scope,
            check,
            to,
            reason,
        });
    }

    /// Re-evaluate a tenant's effective readiness and publish a change once: gauge, counter,
    /// counts, event, tracing, audit.
    fn sync_tenant(&self, tenant: &TenantCore) {
        let mut counts = lock(&self.tenant_sync);
        self.sync_tenant_locked(&mut counts, tenant);
    }

    fn sync_tenant_locked(&self, counts: &mut TenantCounts, tenant: &TenantCore) {
        if tenant.removed.load(Ordering::SeqCst) {
            return;
        }
        let own = tenant.core.snapshot.load().ready;
        let instance = self.global.snapshot.load().ready;
        let ready = own && instance;
        let before = tenant.effective.swap(ready, Ordering::SeqCst);
        if before == ready {
            tenant.series.reassert(ready);
            return;
        }
        counts.changed(ready);
        tenant.series.transition(ready);
        let _ = self.tenant_events.send(TenantEvent {
            tenant: tenant.id.clone(),
            ready,
            removed: false,
        });
        let to = if ready { "ready" } else { "not_ready" };
        tracing::info!(target: "readiness", tenant = %tenant.id, to, instance_ready = instance, "tenant readiness changed");
        self.audit(Scope::Tenant(tenant.id.clone()), None, to, None);
    }

    /// Rebuild and publish the instance snapshot, and count every aggregate transition once.
    fn publish(&self, state: &mut ScopeState) {
        let draining = self.draining.load(Ordering::SeqCst);
        let snap = build_snapshot(&self.global.slots, &self.global.index, state, draining);
        state.started = snap.started;
        let before = self.global.snapshot.load().aggregate();
        let after = snap.aggregate();
        self.global.snapshot.store(Arc::new(snap));
        if before.ready != after.ready {
            self.metrics.transition(after.ready);
            if after.ready {
                tracing::info!(target: "readiness", ready = true, "instance readiness changed: ready");
            } else {
                tracing::warn!(target: "readiness", ready = false, draining, "instance readiness changed: not ready");
            }
            let to = if after.ready { "ready" } else { "not_ready" };
            let reason = draining.then(|| Arc::from(SHUTDOWN_REASON));
            self.audit(Scope::Global, None, to, reason);
            // Every tenant's readiness includes the instance's.
            let tenants: Vec<_> = read(&self.tenants).values().cloned().collect();
            let mut counts = lock(&self.tenant_sync);
            for t in &tenants {
                self.sync_tenant_locked(&mut counts, t);
            }
        }
        if before.started != after.started {
            tracing::info!(target: "readiness", "instance started");
        }
        if before.live != after.live {
            tracing::warn!(target: "readiness", live = after.live, "instance liveness changed");
        }
        if before != after {
            self.watch.send_replace(after);
        }
    }

    fn core<'a>(&'a self, tenant: Option<&'a TenantCore>) -> &'a ScopeCore {
        tenant.map_or(&self.global, |t| &t.core)
    }

    /// The one place every check result passes through: metrics, hysteresis, snapshot,
    /// tracing, audit and subscribers all hang here.
    fn record(
        &self,
        tenant: Option<&TenantCore>,
        idx: usize,
        outcome: Outcome,
        reason: Option<String>,
        elapsed: Duration,
    ) {
        let core = self.core(tenant);
        let slot = &core.slots[idx];
        if let Some(m) = &slot.metrics {
            m.duration(outcome, elapsed);
        }
        if let Some(t) = tenant {
            t.series.check_time(elapsed);
        }
        let cfg = &slot.cfg;
        let mut state = lock(&core.state);
        let run = &mut state.runs[idx];
        let before = run.status;
        let passed = outcome == Outcome::Ok;
        if passed {
            run.ok_run = run.ok_run.saturating_add(1);
            run.fail_run = 0;
        } else {
            run.fail_run = run.fail_run.saturating_add(1);
            run.ok_run = 0;
        }
        let after = match (before, passed) {
            (Status::Passing, false) if run.fail_run >= cfg.failure_threshold => Status::Failing,
            // A pending readiness or startup check is already not passing: its first failure
            // shows the reason at once. A pending liveness check counts as live, so it waits
            // for its threshold like a passing one.
            (Status::Pending, false) if cfg.kind != Kind::Liveness => Status::Failing,
            (Status::Pending, false) if run.fail_run >= cfg.failure_threshold => Status::Failing,
            (Status::Pending | Status::Failing, true) if run.ok_run >= cfg.success_threshold => {
                Status::Passing
            }
            (s, _) => s,
        };
        let new_reason: Option<Arc<str>> = match after {
            Status::Passing => None,
            _ if passed => run.reason.clone(),
            _ => reason.map(Arc::from),
        };
        // Re-asserted on every result, not only on transitions: after a reload the new engine
        // corrects, within one period, a series the old one zeroed when it was dropped.
        if let Some(m) = &slot.metrics {
            m.state(after == Status::Passing);
        }
        if before == after && new_reason == run.reason {
            match tenant {
                Some(t) => {
                    drop(state);
                    // Under the tenant lock, so a transition published meanwhile is not
                    // overwritten with a stale value.
                    let counts = lock(&self.tenant_sync);
                    if !t.removed.load(Ordering::SeqCst) {
                        t.series.reassert(t.effective.load(Ordering::SeqCst));
                    }
                    counts.reassert();
                }
                // Under the instance's state lock, for the same reason.
                None => self.metrics.reassert(self.global.snapshot.load().ready),
            }
            return;
        }
        run.status = after;
        run.reason = new_reason;
        if before != after {
            let scope = tenant.map_or(Scope::Global, |t| Scope::Tenant(t.id.clone()));
            tracing::info!(
                target: "readiness",
                scope = %scope,
                check = %cfg.name,
                kind = cfg.kind.as_str(),
                critical = cfg.critical,
                from = before.as_str(),
                to = after.as_str(),
                reason = run.reason.as_deref().unwrap_or(""),
                "check state changed"
            );
            self.audit(
                scope,
                Some(cfg.name.clone()),
                after.as_str(),
                run.reason.clone(),
            );
        }
        match tenant {
            None => self.publish(&mut state),
            Some(t) => {
                let snap = build_snapshot(&core.slots, &core.index, &state, false);
                state.started = snap.started;
                core.snapshot.store(Arc::new(snap));
                drop(state);
                self.sync_tenant(t);
            }
        }
    }

    async fn run_once(&self, tenant: Option<&TenantCore>, idx: usize) {
        let slot = &self.core(tenant).slots[idx];
        slot.runs_started.fetch_add(1, Ordering::SeqCst);
        let semaphore = if tenant.is_some() {
            &self.tenant_semaphore
        } else {
            &self.semaphore
        };
        let _permit = if slot.cfg.bounded {
            match semaphore.acquire().await {
                Ok(p) => Some(p),
                Err(_) => return,
            }
        } else {
            None
        };
        let start = Instant::now();
        let check = &slot.cfg.check;
        let run = std::panic::catch_unwind(AssertUnwindSafe(|| check.check()));
        let result = match run {
            Ok(fut) => tokio::time::timeout(slot.cfg.timeout, AssertUnwindSafe(fut).catch_unwind())
                .await
                .map_err(|_| ()),
            Err(panic) => Ok(Err(panic)),
        };
        let elapsed = start.elapsed();
        let (outcome, reason) = match result {
            Err(()) => (
                Outcome::Timeout,
                Some(format!("timed out after {:?}", slot.cfg.timeout)),
            ),
            Ok(Err(panic)) => (
                Outcome::Panic,
                Some(format!("panicked: {}", panic_message(&*panic))),
            ),
            Ok(Ok(Err(failure))) => (Outcome::Error, Some(failure.reason().to_owned())),
            Ok(Ok(Ok(()))) => (Outcome::Ok, None),
        };
        self.record(tenant, idx, outcome, reason, elapsed);
        slot.runs_completed.fetch_add(1, Ordering::SeqCst);
    }

    async fn run_coalesced(&self, tenant: Option<&TenantCore>, idx: usize) {
        let slot = &self.core(tenant).slots[idx];
        let seen = slot.runs_completed.load(Ordering::SeqCst);
        let _guard = slot.run_lock.lock().await;
        if slot.runs_completed.load(Ordering::SeqCst) > seen {
            // A run finished while this caller waited (the one in flight when it asked, or
            // one started since): share its result, as singleflight does.
            return;
        }
        self.run_once(tenant, idx).await;
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}

/// splitmix64: a small deterministic generator for jitter, seeded by the check's name.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn jittered(period: Duration, jitter: Duration, rng: &mut u64) -> Duration {
    let nanos = jitter.as_nanos().min(u128::from(u64::MAX)) as u64;
    if nanos == 0 {
        return period;
    }
    // Saturating: a period of `Duration::MAX` ("once") must not overflow.
    period.saturating_add(Duration::from_nanos(
        next_random(rng) % nanos.saturating_add(1),
    ))
}

async fn check_task(shared: Arc<Shared>, tenant: Option<Arc<TenantCore>>, idx: usize) {
    let tenant = tenant.as_deref();
    let cfg = &shared.core(tenant).slots[idx].cfg;
    let mut rng = {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        cfg.name.hash(&mut h);
        if let Some(t) = tenant {
            t.id.hash(&mut h);
        }
        h.finish()
    };
    if !cfg.initial_delay.is_zero() {
        tokio::time::sleep(cfg.initial_delay).await;
    }
    loop {
        shared.run_coalesced(tenant, idx).await;
        tokio::time::sleep(jittered(cfg.period, cfg.jitter, &mut rng)).await;
    }
}

async fn heartbeat_task(base: Instant, interval: Duration, last: Arc<AtomicU64>) {
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let ms = base.elapsed().as_millis().min(u128::from(u64::MAX)) as u64;
        last.store(ms, Ordering::Relaxed);
    }
}
