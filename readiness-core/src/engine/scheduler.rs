//! When checks run, the data: one timer heap over every check of the engine and, per pool of
//! permits, the lanes a due check waits in. `driver` moves checks through them.
//!
//! When checks run: one driver task over every check of the engine, under the in-flight bounds,
//! fair under saturation.
//!
//! - **One timer queue.** Every check has one entry in a heap of due instants; one driver task
//!   pops what is due and starts runs (each run is a task in a bounded set, so only runs in
//!   flight cost a task). A check costs a heap entry and a few atomics, not a task and a timer.
//! - **Lanes.** Each pool of permits (the instance's `max_in_flight`, the tenants'
//!   `max_tenant_in_flight`) serves three queues in order: checks whose last run ended in time
//!   (passing or failing), first runs, then the **slow lane**: checks whose last run timed out
//!   or died. The slow lane holds at most a quarter of the pool's permits (at least one), so
//!   thousands of hanging checks never take the turns of healthy ones. Within it, checks that
//!   are not failing yet (an outage just starting) go before those already failing.
//! - **Back-off while saturated.** A failing check whose run timed out again while others wait
//!   in its slow lane waits twice its previous delay (from its period up to
//!   `slow_backoff_max`, 60 s by default) before its next run. The cost: a hanging check's
//!   recovery is seen later, at worst after the back-off cap plus its wait in the slow lane
//!   (about `hanging checks x timeout / slow permits`).
//! - **Supervision.** A run that dies (a panic while its future is dropped at the timeout, or in
//!   the record path) is recorded as a failure, logged once and run again after a restart
//!   back-off that doubles per consecutive death (1 s to 60 s by default). The driver and the
//!   watchdog run under a supervisor that restarts them with the same kind of back-off.
//! - **Staleness.** The watchdog holds one entry per check whose result can expire and marks
//!   a result stale when its deadline passes (see [`super::record`]).

use std::cmp::Ordering as CmpOrdering;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::{Mutex, Weak};

use tokio::sync::Notify;

use super::scope::{CheckRef, TenantCore};

/// A check's next run (nanoseconds on the engine's clock; `seq` keeps checks due at the same
/// instant in the order they were scheduled): 24 bytes a check.
pub(super) struct Timer {
    pub(super) at: u64,
    pub(super) seq: u32,
    pub(super) idx: u32,
    pub(super) tenant: Option<Weak<TenantCore>>,
}

impl Timer {
    pub(super) fn check(self) -> CheckRef {
        CheckRef::from_parts(self.tenant, self.idx)
    }
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timer {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        // Earliest first out of a max-heap.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// A check waiting in the slow lane: not yet failing before failing, then by due instant.
pub(super) struct SlowEntry {
    pub(super) failing: bool,
    pub(super) due: u64,
    pub(super) seq: u64,
    pub(super) check: CheckRef,
}

impl SlowEntry {
    fn key(&self) -> (bool, u64, u64) {
        (self.failing, self.due, self.seq)
    }
}
impl PartialEq for SlowEntry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for SlowEntry {}
impl PartialOrd for SlowEntry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for SlowEntry {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.key().cmp(&self.key())
    }
}

/// One pool of permits and its lanes.
pub(super) struct Pool {
    pub(super) limit: usize,
    pub(super) slow_limit: usize,
    pub(super) in_flight: usize,
    pub(super) slow_in_flight: usize,
    pub(super) healthy: VecDeque<CheckRef>,
    pub(super) first: VecDeque<CheckRef>,
    pub(super) slow: BinaryHeap<SlowEntry>,
    /// Refreshes waiting for a permit of this pool.
    pub(super) refreshes_waiting: usize,
}

impl Pool {
    pub(super) fn new(limit: usize) -> Self {
        Self {
            limit,
            slow_limit: (limit / 4).max(1),
            in_flight: 0,
            slow_in_flight: 0,
            healthy: VecDeque::new(),
            first: VecDeque::new(),
            slow: BinaryHeap::new(),
            refreshes_waiting: 0,
        }
    }

    /// The next check to start and whether it takes a slow permit, if a permit is free.
    pub(super) fn pick(&mut self) -> Option<(CheckRef, bool)> {
        if self.in_flight >= self.limit {
            return None;
        }
        if let Some(c) = self.healthy.pop_front().or_else(|| self.first.pop_front()) {
            return Some((c, false));
        }
        if self.slow_in_flight < self.slow_limit {
            return self.slow.pop().map(|e| (e.check, true));
        }
        None
    }

    pub(super) fn queued(&self) -> bool {
        !self.healthy.is_empty() || !self.first.is_empty() || !self.slow.is_empty()
    }

    pub(super) fn clear(&mut self) {
        self.healthy.clear();
        self.first.clear();
        self.slow.clear();
    }
}

pub(super) struct Plan {
    pub(super) timers: BinaryHeap<Timer>,
    pub(super) seq: u64,
    pub(super) pools: [Pool; 2],
}

/// The scheduler's shared state: the timer heap, the lanes and the permits.
pub(super) struct Scheduler {
    pub(super) plan: Mutex<Plan>,
    /// Wakes the driver: new checks, a permit freed.
    pub(super) wake: Notify,
    /// Wakes refreshes waiting for a permit.
    pub(super) freed: Notify,
}

impl Scheduler {
    pub(super) fn new(max_in_flight: usize, max_tenant_in_flight: usize) -> Self {
        Self {
            plan: Mutex::new(Plan {
                timers: BinaryHeap::new(),
                seq: 0,
                pools: [Pool::new(max_in_flight), Pool::new(max_tenant_in_flight)],
            }),
            wake: Notify::new(),
            freed: Notify::new(),
        }
    }
}
