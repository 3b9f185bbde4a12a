//! A scope's checks and state (the instance's [`ScopeCore`], or one tenant's [`TenantCore`]),
//! how a snapshot is built from them, how old a result may get before it fails closed, and what
//! the scheduler keeps about each check.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::time::Instant;

use super::depends::Deps;
use super::global_metrics::CheckMetrics;
use super::sync::lock;
use super::tenant_series::TenantSeries;
use crate::check::Check;
use crate::check::Kind;
use crate::config::{Resolved, Settings};
use crate::metrics::Outcome;
use crate::snapshot::{BLOCKED_BY, CheckStatus, Snapshot, Status, blocking};

/// A deadline that never comes: no result yet, a result already marked stale, or a period so
/// long that the next run never comes either.
pub(super) const NEVER: u64 = u64::MAX;

/// The engine's time base: deadlines are nanoseconds since the engine was built, so they fit
/// in atomics that probes read without a lock.
#[derive(Clone, Copy, Debug)]
pub(super) struct Clock {
    pub(super) base: Instant,
}

impl Clock {
    pub(super) fn nanos(self, at: Instant) -> u64 {
        let n = at.saturating_duration_since(self.base).as_nanos();
        // One short of NEVER at most: ~584 years after the engine was built.
        n.min(u128::from(NEVER - 1)) as u64
    }

    pub(super) fn now(self) -> u64 {
        self.nanos(Instant::now())
    }

    /// `at + d` in nanoseconds, or [`NEVER`] when that is past the representable range.
    pub(super) fn after(self, at: u64, d: Duration) -> u64 {
        let d = d.as_nanos();
        if d >= u128::from(NEVER - at) {
            NEVER
        } else {
            at + d as u64
        }
    }

    pub(super) fn instant(self, nanos: u64) -> Option<Instant> {
        (nanos != NEVER)
            .then(|| self.base.checked_add(Duration::from_nanos(nanos)))
            .flatten()
    }

    /// Whether a deadline is still ahead. Reads the clock only when there is a deadline, and
    /// compares instants (cheaper than turning the clock into nanoseconds on every probe).
    pub(super) fn before(self, deadline: &AtomicU64) -> bool {
        let d = deadline.load(Ordering::Acquire);
        if d == NEVER {
            return true;
        }
        match self.base.checked_add(Duration::from_nanos(d)) {
            Some(at) => Instant::now() < at,
            None => true,
        }
    }
}

/// What checks share: their names and settings, stored once per engine whatever the number
/// of tenants that use them (the set only grows with distinct names and settings).
#[derive(Default)]
pub(super) struct Interner {
    names: Mutex<HashSet<Arc<str>>>,
    settings: Mutex<HashSet<Arc<Settings>>>,
}

impl Interner {
    fn name(&self, name: &Arc<str>) -> Arc<str> {
        let mut names = lock(&self.names);
        if let Some(n) = names.get(name) {
            return n.clone();
        }
        names.insert(name.clone());
        name.clone()
    }

    fn settings(&self, mut settings: Settings) -> Arc<Settings> {
        settings.group = settings.group.map(|g| self.name(&g));
        let mut all = lock(&self.settings);
        if let Some(s) = all.get(&settings) {
            return s.clone();
        }
        let s = Arc::new(settings);
        all.insert(s.clone());
        s
    }
}

/// One check of a scope: its name, its `Check`, its (shared) settings, its counters, when its
/// result expires, and what the scheduler knows about it.
pub(super) struct Slot {
    pub(super) name: Arc<str>,
    pub(super) check: Arc<dyn Check>,
    pub(super) cfg: Arc<Settings>,
    /// Set while a run is in flight: a refresh waits for it and shares its result, a scheduled
    /// run finding it set leaves the turn to it.
    pub(super) busy: AtomicBool,
    pub(super) runs_started: AtomicU64,
    pub(super) runs_completed: AtomicU64,
    /// Per-check series: global checks only (tenant checks are attributed to their tenant).
    pub(super) metrics: Option<Box<CheckMetrics>>,
    /// When the latest result came ([`NEVER`] before the first).
    pub(super) result_at: AtomicU64,
    /// When the latest result goes stale ([`NEVER`] while there is none to expire).
    pub(super) deadline: AtomicU64,
    /// Whether the check's state is `failing` (the scheduler orders its slow lane by it).
    pub(super) failing: AtomicBool,
    pub(super) sched: SchedSlot,
}

/// The engine's "a run ended" signal: notified when a check's run ends, while refreshes wait
/// to share one.
#[derive(Default)]
pub(super) struct Ran {
    pub(super) notify: tokio::sync::Notify,
    /// Refreshes waiting: a run that ends notifies only when some wait.
    pub(super) waiters: std::sync::atomic::AtomicUsize,
}

/// Marks a check's run in flight; dropping it (the run ended, or was cancelled) wakes the
/// refreshes waiting for it, if any.
pub(super) struct Busy<'a> {
    slot: &'a Slot,
    ran: &'a Ran,
}

impl<'a> Busy<'a> {
    pub(super) fn try_new(slot: &'a Slot, ran: &'a Ran) -> Option<Self> {
        slot.busy
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
            .then(|| Self { slot, ran })
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.slot.busy.store(false, Ordering::SeqCst);
        if self.ran.waiters.load(Ordering::SeqCst) > 0 {
            self.ran.notify.notify_waiters();
        }
    }
}

/// Scopes with at most this many checks find a check by name with a scan, without an index
/// (a tenant has a few checks; a map per tenant would cost more than its checks).
const SCAN_UP_TO: usize = 8;

#[derive(Clone)]
pub(super) struct RunState {
    pub(super) status: Status,
    pub(super) reason: Option<Arc<str>>,
    /// Whether a dependency blocks the check (named by its reason), since it was blocked and
    /// until its next run.
    pub(super) blocked: bool,
    pub(super) ok_run: u32,
    pub(super) fail_run: u32,
}

pub(super) struct ScopeState {
    pub(super) runs: Box<[RunState]>,
    pub(super) started: bool,
}

/// The instance's checks, or one tenant's.
pub(super) struct ScopeCore {
    pub(super) slots: Box<[Slot]>,
    /// `None` for small scopes: see [`SCAN_UP_TO`].
    pub(super) index: Option<Arc<HashMap<Arc<str>, usize>>>,
    pub(super) snapshot: ArcSwap<Snapshot>,
    pub(super) state: Mutex<ScopeState>,
    /// The earliest deadline of a result the scope's readiness rests on (its critical
    /// readiness checks), of its liveness checks, and of any check: probes compare them with
    /// the clock, so a result nobody renewed fails closed even if no task runs.
    pub(super) ready_until: AtomicU64,
    pub(super) live_until: AtomicU64,
    pub(super) any_until: AtomicU64,
    /// Who depends on whom, when any check of the scope has a dependency.
    pub(super) deps: Option<Box<Deps>>,
    /// The instance's: set once some tenant's check depends on one of its checks, so that its
    /// transitions are followed into the tenants.
    pub(super) tenants_depend: AtomicBool,
}

impl ScopeCore {
    pub(super) fn new(
        resolved: Vec<Resolved>,
        check_metrics: bool,
        salt: u64,
        interner: &Interner,
    ) -> Self {
        let deps = Deps::new(&resolved);
        let slots: Box<[Slot]> = resolved
            .into_iter()
            .map(|r| {
                let name = interner.name(&r.name);
                Slot {
                    metrics: check_metrics.then(|| Box::new(CheckMetrics::register(&name))),
                    sched: SchedSlot::new(salt, &name),
                    cfg: interner.settings(r.cfg),
                    name,
                    check: r.check,
                    busy: AtomicBool::new(false),
                    runs_started: AtomicU64::new(0),
                    runs_completed: AtomicU64::new(0),
                    result_at: AtomicU64::new(NEVER),
                    deadline: AtomicU64::new(NEVER),
                    failing: AtomicBool::new(false),
                }
            })
            .collect();
        let index = (slots.len() > SCAN_UP_TO).then(|| {
            Arc::new(
                slots
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (s.name.clone(), i))
                    .collect(),
            )
        });
        let state = ScopeState {
            runs: vec![
                RunState {
                    status: Status::Pending,
                    reason: None,
                    blocked: false,
                    ok_run: 0,
                    fail_run: 0,
                };
                slots.len()
            ]
            .into_boxed_slice(),
            started: false,
        };
        let snapshot = build_snapshot(&slots, &index, &state, false);
        let mut state = state;
        state.started = snapshot.started;
        Self {
            slots,
            index,
            snapshot: ArcSwap::from_pointee(snapshot),
            state: Mutex::new(state),
            ready_until: AtomicU64::new(NEVER),
            live_until: AtomicU64::new(NEVER),
            any_until: AtomicU64::new(NEVER),
            deps,
            tenants_depend: AtomicBool::new(false),
        }
    }

    /// A check by name: one hash lookup, or a scan of a small scope.
    pub(super) fn find(&self, name: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(name).copied(),
            None => self.slots.iter().position(|s| &*s.name == name),
        }
    }

    /// Recompute the scope's earliest deadlines after one of its checks' moved. Called with
    /// the scope's state lock held, so concurrent updates never publish an older minimum.
    pub(super) fn refresh_deadlines(&self, _held: &ScopeState) {
        let (mut ready, mut live, mut any) = (NEVER, NEVER, NEVER);
        for slot in &self.slots {
            let d = slot.deadline.load(Ordering::Acquire);
            any = any.min(d);
            match slot.cfg.kind {
                Kind::Readiness if slot.cfg.critical => ready = ready.min(d),
                Kind::Liveness => live = live.min(d),
                _ => {}
            }
        }
        self.ready_until.store(ready, Ordering::Release);
        self.live_until.store(live, Ordering::Release);
        self.any_until.store(any, Ordering::Release);
    }

    /// The snapshot as a probe should see it now: the stored one, or, when a result has
    /// outlived its deadline and nothing has marked it yet (every task stopped, a wedged
    /// runtime), a copy in which those checks fail as stale. Allocates only in that case.
    pub(super) fn current(&self, clock: Clock) -> Arc<Snapshot> {
        let snap = self.snapshot.load_full();
        if clock.before(&self.any_until) {
            return snap;
        }
        Arc::new(self.expired(&snap, clock))
    }

    #[cold]
    #[inline(never)]
    pub(super) fn expired(&self, snap: &Snapshot, clock: Clock) -> Snapshot {
        let now = clock.now();
        let mut out = snap.clone();
        let mut live = true;
        let mut ready = out.started && !out.draining;
        for (c, slot) in out.checks.iter_mut().zip(&self.slots) {
            let d = slot.deadline.load(Ordering::Acquire);
            if d != NEVER && now >= d {
                c.status = Status::Failing;
                c.reason = Some(stale_reason(now, slot.result_at.load(Ordering::Acquire)).into());
            }
            match c.kind {
                Kind::Liveness => live &= c.status != Status::Failing,
                Kind::Readiness if c.critical => ready &= c.status == Status::Passing,
                _ => {}
            }
        }
        out.ready = ready;
        out.live = live;
        out
    }
}

/// `stale: no result for Ns`, whole seconds since the latest result.
pub(super) fn stale_reason(now: u64, result_at: u64) -> String {
    let secs = if result_at == NEVER {
        0
    } else {
        now.saturating_sub(result_at) / 1_000_000_000
    };
    format!("stale: no result for {secs}s")
}

pub(super) fn build_snapshot(
    slots: &[Slot],
    index: &Option<Arc<HashMap<Arc<str>, usize>>>,
    state: &ScopeState,
    draining: bool,
) -> Snapshot {
    let mut live = true;
    let mut checks_ready = true;
    let mut startup_ok = true;
    let mut checks: Vec<CheckStatus> = Vec::with_capacity(slots.len());
    for (slot, run) in slots.iter().zip(&state.runs) {
        let cfg = &slot.cfg;
        match cfg.kind {
            Kind::Liveness => live &= run.status != Status::Failing,
            Kind::Readiness if cfg.critical => checks_ready &= run.status == Status::Passing,
            Kind::Readiness => {}
            Kind::Startup => startup_ok &= run.status == Status::Passing,
        }
        checks.push(CheckStatus {
            name: slot.name.clone(),
            kind: cfg.kind,
            critical: cfg.critical,
            group: cfg.group.clone(),
            status: run.status,
            reason: run.reason.clone(),
            blocked: run.blocked,
        });
    }
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

/// One tenant: its own checks and state, and its series.
pub(super) struct TenantCore {
    pub(super) id: Arc<str>,
    pub(super) core: ScopeCore,
    pub(super) series: TenantSeries,
    /// Its readiness as last published: own critical checks passing and the instance ready.
    pub(super) effective: AtomicBool,
    pub(super) removed: AtomicBool,
    /// Counted in the tenants' counts (set and read under the engine's `tenant_sync`): a
    /// tenant removed while it was being added is never counted, or uncounted, twice.
    pub(super) registered: AtomicBool,
    /// Every critical check of its own has a result (or it has none): a reload's engine takes
    /// the series over only once all of its tenants are decided (set under `tenant_sync`).
    pub(super) decided: AtomicBool,
}

impl TenantCore {
    /// Whether the tenant's own critical checks pass, and have results young enough.
    pub(super) fn checks_pass(&self, clock: Clock) -> bool {
        self.core.snapshot.load().ready && clock.before(&self.core.ready_until)
    }

    /// Whether every critical check of its own has a result: its readiness is known.
    pub(super) fn own_decided(snap: &Snapshot) -> bool {
        !snap
            .checks
            .iter()
            .any(|c| c.critical && c.status == Status::Pending)
    }

    /// Whether one of its critical checks has failed (not merely pending).
    pub(super) fn own_failure(snap: &Snapshot) -> bool {
        snap.checks
            .iter()
            .any(|c| c.critical && c.status == Status::Failing)
    }
}

/// The check is in no queue: its period never comes again, or its tenant is gone.
pub(super) const IDLE: u8 = 0;
/// It waits in the timer heap for its due instant.
pub(super) const TIMED: u8 = 1;
/// It is due and waits in a lane for a permit.
pub(super) const QUEUED: u8 = 2;
/// A run is in flight.
pub(super) const RUNNING: u8 = 3;

/// It never ran.
pub(super) const LANE_FIRST: u8 = 0;
/// Its last run ended within its timeout.
pub(super) const LANE_HEALTHY: u8 = 1;
/// Its last run timed out or died.
pub(super) const LANE_SLOW: u8 = 2;

/// What the scheduler keeps about one check (written by the driver, under its lock).
pub(super) struct SchedSlot {
    pub(super) due: AtomicU64,
    pub(super) state: AtomicU8,
    pub(super) lane: AtomicU8,
    /// Consecutive runs that ended in the slow lane.
    pub(super) streak: AtomicU32,
    /// Consecutive runs that died.
    pub(super) deaths: AtomicU32,
    /// Run again as soon as the run in flight ends (a dependency passed meanwhile).
    pub(super) rerun: AtomicBool,
    /// Mixed into the jitter: the engine's seed and the check's identity.
    pub(super) salt: u64,
}

impl SchedSlot {
    pub(super) fn new(scope_salt: u64, name: &str) -> Self {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        name.hash(&mut h);
        Self {
            due: AtomicU64::new(NEVER),
            state: AtomicU8::new(IDLE),
            lane: AtomicU8::new(LANE_FIRST),
            streak: AtomicU32::new(0),
            deaths: AtomicU32::new(0),
            rerun: AtomicBool::new(false),
            salt: scope_salt ^ h.finish(),
        }
    }
}

/// The salt of a scope: the engine's jitter seed, and the tenant's id for a tenant.
pub(super) fn scope_salt(seed: u64, tenant: Option<&str>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    seed.hash(&mut h);
    tenant.hash(&mut h);
    h.finish()
}

/// A check, as the queues hold it: a removed tenant's entries fade away by themselves.
#[derive(Clone)]
pub(super) struct CheckRef {
    tenant: Option<Weak<TenantCore>>,
    idx: u32,
}

/// A check resolved for a run.
pub(super) struct Target {
    pub(super) tenant: Option<Arc<TenantCore>>,
    pub(super) idx: usize,
}

impl CheckRef {
    pub(super) fn from_parts(tenant: Option<Weak<TenantCore>>, idx: u32) -> Self {
        Self { tenant, idx }
    }

    pub(super) fn into_parts(self) -> (Option<Weak<TenantCore>>, u32) {
        (self.tenant, self.idx)
    }

    pub(super) fn new(tenant: Option<&Arc<TenantCore>>, idx: usize) -> Self {
        Self {
            tenant: tenant.map(Arc::downgrade),
            idx: idx as u32,
        }
    }

    pub(super) fn resolve(&self) -> Option<Target> {
        let tenant = match &self.tenant {
            None => None,
            Some(w) => {
                let t = w.upgrade()?;
                if t.removed.load(Ordering::SeqCst) {
                    return None;
                }
                Some(t)
            }
        };
        Some(Target {
            tenant,
            idx: self.idx as usize,
        })
    }
}

impl Target {
    /// Its slot; `global` is the instance's scope (a tenant's check is in its tenant's).
    pub(super) fn slot<'a>(&'a self, global: &'a ScopeCore) -> &'a Slot {
        let core = self.tenant.as_deref().map_or(global, |t| &t.core);
        &core.slots[self.idx]
    }

    pub(super) fn pool(&self) -> usize {
        usize::from(self.tenant.is_some())
    }

    pub(super) fn to_ref(&self) -> CheckRef {
        CheckRef::new(self.tenant.as_ref(), self.idx)
    }
}

/// What happened to a check.
pub(super) enum Event {
    /// A run ended.
    Run {
        outcome: Outcome,
        reason: Option<String>,
        elapsed: Duration,
        /// When it ended.
        at: Instant,
    },
    /// The watchdog found its result at or past its deadline.
    Stale,
    /// A dependency fails: the check does not run (`engine::gate`).
    Blocked { by: Arc<str> },
}

/// Block a check's state by `by`: failing at once with `blocked by BY`, counting no failure
/// of its own. `false` when it already reads so (nothing changes).
#[cold]
pub(super) fn block(run: &mut RunState, by: &str) -> bool {
    if run.status == Status::Failing && run.blocked && blocking(run.reason.as_deref()) == Some(by) {
        return false;
    }
    run.status = Status::Failing;
    run.reason = Some(format!("{BLOCKED_BY}{by}").into());
    run.blocked = true;
    run.ok_run = 0;
    run.fail_run = 0;
    true
}
