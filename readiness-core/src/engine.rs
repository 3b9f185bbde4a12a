//! The engine: runs checks in the background and keeps the snapshot probes read.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arc_swap::ArcSwap;
use futures_util::FutureExt;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::check::{Check, Heartbeat};
use crate::config::{
    BuildError, CheckSpec, ConfigProblem, Defaults, Kind, Resolved, Scope, resolve_specs,
};
use crate::metrics::{CheckMetrics, GlobalMetrics, Outcome};
use crate::snapshot::{Aggregate, CheckStatus, Snapshot, Status};

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
    defaults: Defaults,
    max_in_flight: usize,
    heartbeat: Option<(Duration, Duration)>,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        Self {
            specs: Vec::new(),
            defaults: Defaults::default(),
            max_in_flight: 64,
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

    /// At most this many check runs at once, across the whole engine (default 64), so that
    /// thousands of checks never stampede their dependencies or the runtime. Runs beyond the
    /// bound wait their turn; their timeout starts when they start.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// The built-in `heartbeat` liveness check: a task ticks every `interval`, and the check
    /// fails when the tick is later than `max_lateness` (default: every 1 s, 5 s late).
    pub fn heartbeat(mut self, interval: Duration, max_lateness: Duration) -> Self {
        self.heartbeat = Some((interval, max_lateness));
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
        let resolved = resolve_specs(&Scope::Global, &specs, &self.defaults, &mut problems);
        let runtime = match (runtime, problems.is_empty()) {
            (Some(rt), true) => rt,
            _ => return Err(BuildError::new(problems)),
        };

        let metrics = GlobalMetrics::register();
        let core = ScopeCore::new(resolved);
        let initial = core.snapshot.load().aggregate();
        if initial.ready {
            // Nothing to wait for (no critical readiness or startup check): ready from the
            // start, which is a transition like any other.
            metrics.transition(true);
            tracing::info!(target: "readiness", ready = true, "instance readiness changed: ready");
        }
        let (watch_tx, _) = watch::channel(initial);
        let shared = Arc::new(Shared {
            global: core,
            draining: AtomicBool::new(false),
            semaphore: Arc::new(Semaphore::new(self.max_in_flight)),
            watch: watch_tx,
            metrics,
        });

        let mut tasks = Vec::with_capacity(shared.global.slots.len() + 1);
        if let Some((interval, last)) = beat {
            tasks.push(runtime.spawn(heartbeat_task(base, interval, last)));
        }
        for idx in 0..shared.global.slots.len() {
            tasks.push(runtime.spawn(check_task(shared.clone(), idx)));
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

struct Inner {
    shared: Arc<Shared>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
        // A check that no longer runs is not passing: zero its series (see `Engine::shutdown`).
        self.shared.global.zero_check_states();
    }
}

impl Engine {
    /// Start configuring an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
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
    /// stays as it is, and checks keep running. Idempotent.
    pub fn drain(&self) {
        let shared = &self.inner.shared;
        if !shared.draining.swap(true, Ordering::SeqCst) {
            tracing::info!(target: "readiness", "draining: readiness is off for good");
            let mut state = lock(&shared.global.state);
            shared.publish(&mut state);
        }
    }

    /// Whether [`drain`](Self::drain) was called.
    pub fn is_draining(&self) -> bool {
        self.inner.shared.draining.load(Ordering::SeqCst)
    }

    /// Drain, then stop every background task and wait until they have all ended.
    ///
    /// This is for shutting the process down. To reload a configuration, build the new engine
    /// on the same recorder and drop the old one instead: dropping stops its tasks without
    /// draining, so `readiness_state` and `readiness_transitions_total` see no drain. Either
    /// way the engine's `readiness_check_state` series are set to 0 when it stops; a check the
    /// new engine still has is set again on its next result, one that was removed stays 0.
    pub async fn shutdown(&self) {
        self.drain();
        let tasks: Vec<_> = lock(&self.inner.tasks).drain(..).collect();
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
        self.inner.shared.global.zero_check_states();
    }

    /// Run every check now and wait for the results. Concurrent callers share one run per
    /// check: a caller that finds a run of a check in flight waits for it and takes its result
    /// instead of starting another. Runs respect the in-flight bound.
    pub async fn refresh(&self) {
        let shared = &self.inner.shared;
        let runs = (0..shared.global.slots.len()).map(|idx| shared.run_coalesced(idx));
        futures_util::future::join_all(runs).await;
    }

    /// How many runs of a check have started, or `None` for an unknown name. Meant for tests
    /// and diagnostics (for example, that probes never make checks run more often).
    pub fn runs_started(&self, check: &str) -> Option<u64> {
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

struct Shared {
    global: ScopeCore,
    draining: AtomicBool,
    semaphore: Arc<Semaphore>,
    watch: watch::Sender<Aggregate>,
    metrics: GlobalMetrics,
}

struct Slot {
    cfg: Resolved,
    run_lock: tokio::sync::Mutex<()>,
    runs_started: AtomicU64,
    runs_completed: AtomicU64,
    metrics: CheckMetrics,
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

impl ScopeCore {
    fn new(resolved: Vec<Resolved>) -> Self {
        let index: HashMap<_, _> = resolved
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.clone(), i))
            .collect();
        let slots: Vec<Slot> = resolved
            .into_iter()
            .map(|cfg| Slot {
                metrics: CheckMetrics::register(&cfg.name),
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
}

impl ScopeCore {
    fn zero_check_states(&self) {
        for slot in &self.slots {
            slot.metrics.state(false);
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
    /// Rebuild and publish the snapshot, and count every aggregate transition once.
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

    /// The one place every check result passes through: metrics, hysteresis, snapshot,
    /// tracing and subscribers all hang here.
    fn record(&self, idx: usize, outcome: Outcome, reason: Option<String>, elapsed: Duration) {
        let slot = &self.global.slots[idx];
        slot.metrics.duration(outcome, elapsed);
        let cfg = &slot.cfg;
        let mut state = lock(&self.global.state);
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
            // Pending is already not passing: the first failure shows its reason at once.
            (Status::Pending, false) => Status::Failing,
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
        slot.metrics.state(after == Status::Passing);
        if before == after && new_reason == run.reason {
            return;
        }
        run.status = after;
        run.reason = new_reason;
        if before != after {
            tracing::info!(
                target: "readiness",
                check = %cfg.name,
                kind = cfg.kind.as_str(),
                critical = cfg.critical,
                from = before.as_str(),
                to = after.as_str(),
                reason = run.reason.as_deref().unwrap_or(""),
                "check state changed"
            );
        }
        self.publish(&mut state);
    }

    async fn run_once(&self, idx: usize) {
        let slot = &self.global.slots[idx];
        slot.runs_started.fetch_add(1, Ordering::SeqCst);
        let Ok(_permit) = self.semaphore.acquire().await else {
            return;
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
        self.record(idx, outcome, reason, elapsed);
        slot.runs_completed.fetch_add(1, Ordering::SeqCst);
    }

    async fn run_coalesced(&self, idx: usize) {
        let slot = &self.global.slots[idx];
        let seen = slot.runs_completed.load(Ordering::SeqCst);
        let _guard = slot.run_lock.lock().await;
        if slot.runs_completed.load(Ordering::SeqCst) > seen {
            // A run finished while this caller waited (the one in flight when it asked, or
            // one started since): share its result, as singleflight does.
            return;
        }
        self.run_once(idx).await;
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
    period + Duration::from_nanos(next_random(rng) % (nanos + 1))
}

async fn check_task(shared: Arc<Shared>, idx: usize) {
    let cfg = &shared.global.slots[idx].cfg;
    let mut rng = {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        cfg.name.hash(&mut h);
        h.finish()
    };
    if !cfg.initial_delay.is_zero() {
        tokio::time::sleep(cfg.initial_delay).await;
    }
    loop {
        shared.run_coalesced(idx).await;
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
