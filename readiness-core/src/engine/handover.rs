//! Reload handover: the engines built from one another share one *lineage*, which owns what
//! belongs to the process rather than to one engine: the shared series, the drain and the close.
//!
//! The library keeps no global state, so engines coordinate through what the user hands over:
//! [`EngineBuilder::reload_from`](crate::EngineBuilder::reload_from) puts the new engine in
//! the old one's lineage (a small shared token).
//!
//! - **Series.** One engine of a lineage owns the series; the others write none of them. A new
//!   engine takes them over when it is first ready, or when the owner is dropped or shut down
//!   (the owner hands them to its newest live successor then); taking over writes every series
//!   once with the new engine's values, counts a transition only if readiness really changed
//!   (so a ready-to-ready reload moves no counter and never writes `readiness_state` 0), and
//!   sets the series of checks and tenants the reload removed as the old engine's own stop
//!   would have. An engine that no longer owns the series never writes them again, its drop
//!   included.
//! - **Drain.** A drain is the process's: it reaches every live engine of the lineage, and an
//!   engine that joins a draining lineage is draining from its first moment, so a reload during
//!   a rollout never turns the instance ready again.
//! - **Close.** [`Engine::close`](crate::Engine::close) and `shutdown` close the lineage;
//!   dropping an engine closes it only when no other engine of the lineage is left, so a
//!   server stopped by `drain_on` or `closed()` keeps serving across a reload.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, Weak};

use tokio::sync::watch;

use super::Shared;
use super::scope::{ScopeState, TenantCore};
use super::sync::{lock, read, write};
use crate::config::Scope;
use crate::snapshot::Status;

/// The audit log's reason for a change that a reload made at its swap.
const RELOAD: &str = "reload";

fn ready_str(ready: bool) -> &'static str {
    if ready { "ready" } else { "not_ready" }
}

/// Engines built from one another with `reload_from`.
pub(super) struct Lineage {
    /// Writers of shared series hold it shared; a takeover holds it alone.
    lock: RwLock<()>,
    owner: AtomicU64,
    next: AtomicU64,
    /// What `readiness_state` last read (false before anything was written).
    last_ready: AtomicBool,
    /// Set once by the first drain of any engine of the lineage; never cleared.
    draining: AtomicBool,
    /// `true` once the drain is over (`close`, `shutdown`, or the last engine gone): long-lived
    /// streams end, `drain_on` and `closed()` resolve.
    closed: watch::Sender<bool>,
    /// A leaf lock: held only to read or change the list.
    members: Mutex<Vec<(u64, Weak<Shared>)>>,
}

/// An engine's place in its lineage.
pub(super) struct Series {
    lineage: Arc<Lineage>,
    generation: u64,
}

/// Why an engine lets its series go.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Release {
    /// `shutdown()`: its checks stop.
    Shutdown,
    /// The last handle went: its checks and tenants stop.
    Drop,
}

/// A lineage, for [`EngineBuilder::reload_from`](crate::EngineBuilder::reload_from) and for
/// what follows the process rather than one engine (`drain_on`). It holds no engine.
#[derive(Clone)]
pub(crate) struct LineageHandle(pub(super) Arc<Lineage>);

impl std::fmt::Debug for LineageHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lineage")
            .field("owner", &self.0.owner.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl Series {
    /// A new engine: the first of a lineage (it owns the series at once), or the next one.
    pub(super) fn new(after: Option<&LineageHandle>) -> Self {
        match after {
            Some(LineageHandle(lineage)) => Self {
                generation: lineage.next.fetch_add(1, Ordering::SeqCst),
                lineage: lineage.clone(),
            },
            None => Self {
                lineage: Arc::new(Lineage {
                    lock: RwLock::new(()),
                    owner: AtomicU64::new(1),
                    next: AtomicU64::new(2),
                    last_ready: AtomicBool::new(false),
                    draining: AtomicBool::new(false),
                    closed: watch::Sender::new(false),
                    members: Mutex::new(Vec::new()),
                }),
                generation: 1,
            },
        }
    }

    pub(super) fn handle(&self) -> LineageHandle {
        LineageHandle(self.lineage.clone())
    }

    pub(super) fn join(&self, shared: &Arc<Shared>) {
        let mut members = lock(&self.lineage.members);
        members.retain(|(_, w)| w.strong_count() > 0);
        members.push((self.generation, Arc::downgrade(shared)));
    }

    pub(super) fn owns(&self) -> bool {
        self.lineage.owner.load(Ordering::SeqCst) == self.generation
    }

    /// Held while writing shared series: `Some` only while this engine owns them and is
    /// still there.
    pub(super) fn guard(&self, gone: &AtomicBool) -> Option<RwLockReadGuard<'_, ()>> {
        let held = read(&self.lineage.lock);
        (self.owns() && !gone.load(Ordering::SeqCst)).then_some(held)
    }

    /// `readiness_state` was just written.
    pub(super) fn note_ready(&self, ready: bool) {
        self.lineage.last_ready.store(ready, Ordering::SeqCst);
    }

    /// The engine of the lineage that owns the series now, if it is still there. Read under
    /// the lineage's lock: a takeover (the owner changing and the counters carried over) is
    /// seen whole or not at all.
    pub(super) fn owner(&self) -> Option<Arc<Shared>> {
        let _held = read(&self.lineage.lock);
        self.member(self.lineage.owner.load(Ordering::SeqCst))
    }

    fn member(&self, generation: u64) -> Option<Arc<Shared>> {
        lock(&self.lineage.members)
            .iter()
            .find(|(g, _)| *g == generation)
            .and_then(|(_, w)| w.upgrade())
    }

    /// The newest engine built after this one that is still there.
    fn successor(&self) -> Option<Arc<Shared>> {
        lock(&self.lineage.members)
            .iter()
            .filter(|(g, _)| *g > self.generation)
            .filter_map(|(g, w)| w.upgrade().map(|s| (*g, s)))
            .filter(|(_, s)| !s.gone.load(Ordering::SeqCst))
            .max_by_key(|(g, _)| *g)
            .map(|(_, s)| s)
    }

    pub(crate) fn draining(&self) -> bool {
        self.lineage.draining.load(Ordering::SeqCst)
    }

    /// Whether an engine of the lineage other than this one is still there.
    pub(super) fn others_alive(&self) -> bool {
        lock(&self.lineage.members)
            .iter()
            .filter(|(g, _)| *g != self.generation)
            .filter_map(|(_, w)| w.upgrade())
            .any(|s| !s.gone.load(Ordering::SeqCst))
    }
}

impl LineageHandle {
    /// The engines of the lineage that are still there, oldest first.
    fn live(&self) -> Vec<Arc<Shared>> {
        let mut all: Vec<(u64, Arc<Shared>)> = lock(&self.0.members)
            .iter()
            .filter_map(|(g, w)| w.upgrade().map(|s| (*g, s)))
            .filter(|(_, s)| !s.gone.load(Ordering::SeqCst))
            .collect();
        all.sort_unstable_by_key(|(g, _)| *g);
        all.into_iter().map(|(_, s)| s).collect()
    }

    /// Whether any engine of the lineage is still there.
    pub(crate) fn alive(&self) -> bool {
        !self.live().is_empty()
    }

    /// Turn readiness off for good, in every engine of the lineage and in those that join it
    /// later. Idempotent.
    pub(crate) fn drain(&self) {
        if self.0.draining.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::info!(target: "readiness", "draining: readiness is off for good");
        // One engine at a time, each under its own state lock only (see the lock order).
        for shared in self.live() {
            let mut state = lock(&shared.global.state);
            shared.publish(&mut state);
        }
    }

    /// The drain is over: drain first if it was not, then close.
    pub(crate) fn close(&self) {
        self.drain();
        self.0.closed.send_replace(true);
    }

    pub(crate) fn is_closed(&self) -> bool {
        *self.0.closed.borrow()
    }

    /// Resolves once the lineage is closed. Holds only the lineage, never an engine.
    pub(crate) fn closed(&self) -> impl std::future::Future<Output = ()> + Send + use<> {
        let mut rx = self.0.closed.subscribe();
        async move {
            // An error means every engine is gone, which is closed too.
            let _ = rx.wait_for(|closed| *closed).await;
        }
    }

    /// The last engine of the lineage went without closing it: close it now.
    pub(super) fn close_if_alone(&self, leaving: &Series) {
        if !leaving.others_alive() {
            self.0.closed.send_replace(true);
        }
    }
}

impl Shared {
    /// Take the series over, if a newer engine has not already. Call with the instance's state
    /// lock held.
    ///
    /// What the series (and the audit log) said up to now is what the previous owner served;
    /// from here on it is this engine's. So every scope whose readiness differs between the
    /// two counts one transition (and logs it, reason `reload`), and one that reads the same
    /// counts none, whatever this engine went through before it took over. A tenant this
    /// engine adds counts as added then (not ready), one it drops as removed. When the
    /// previous owner is already gone, the tenants' series are set without a count.
    pub(super) fn take_over_locked(&self, state: &ScopeState) {
        if self.gone.load(Ordering::SeqCst) {
            return;
        }
        let tenants = self.tenants.all();
        let counts = lock(&self.tenant_sync);
        let lineage = &self.series.lineage;
        let _alone = write(&lineage.lock);
        let previous = lineage.owner.load(Ordering::SeqCst);
        if previous >= self.series.generation {
            return;
        }
        lineage
            .owner
            .store(self.series.generation, Ordering::SeqCst);
        self.deferred_takeover.store(false, Ordering::SeqCst);
        let snap = self.global.snapshot.load();
        let was_ready = lineage.last_ready.load(Ordering::SeqCst);
        self.metrics.touch(snap.ready, snap.draining);
        if was_ready != snap.ready {
            self.metrics.count(snap.ready);
            self.audit(
                Scope::Global,
                None,
                ready_str(snap.ready),
                Some(RELOAD.into()),
            );
        }
        lineage.last_ready.store(snap.ready, Ordering::SeqCst);
        counts.reassert();
        for (slot, run) in self.global.slots.iter().zip(&state.runs) {
            if let Some(m) = &slot.metrics {
                m.state(run.status == Status::Passing);
            }
        }
        // The older owner, if still there: its tenants' series are what scrapers saw.
        let old = self.series.member(previous);
        for t in &tenants {
            if t.removed.load(Ordering::SeqCst) {
                continue;
            }
            let own = t.core.snapshot.load();
            t.series
                .own(&t.id, own.ready, TenantCore::own_failure(&own));
            let effective = t.effective.load(Ordering::SeqCst);
            let was = old.as_ref().map(|old| old.tenants.get(&t.id));
            match &was {
                // Taken over before its first results (the older engine went first): keep
                // what the older engine published until they come.
                Some(Some(was)) if !t.decided.load(Ordering::SeqCst) => {
                    t.series.touch_from(&was.series, effective);
                }
                // A tenant the reload adds starts not ready, as `add_tenant` starts one.
                Some(None) => {
                    t.series.touch(false);
                    if effective {
                        t.series.effective(true);
                    }
                }
                _ => t.series.touch(effective),
            }
            // The audit log: what was served of it (the older engine's readiness, or not
            // ready for a tenant it did not have) against what is served from now on.
            let served = was.map(|w| w.is_some_and(|w| w.effective.load(Ordering::SeqCst)));
            if served.is_some_and(|served| served != effective) {
                self.audit(
                    Scope::Tenant(t.id.clone()),
                    None,
                    ready_str(effective),
                    Some(RELOAD.into()),
                );
            }
        }
        #[cfg(test)]
        self.faults.takeover();
        if let Some(old) = old {
            // What the reload removed reads as the old engine's stop would have left it.
            for slot in &old.global.slots {
                if self.global.find(&slot.name).is_none()
                    && let Some(m) = &slot.metrics
                {
                    m.state(false);
                }
            }
            // The tenants' maps are leaves: each read holds nothing else of theirs.
            for t in old.tenants.all() {
                match self.tenants.get(&t.id) {
                    None => {
                        t.series.removed();
                        self.audit(
                            Scope::Tenant(t.id.clone()),
                            None,
                            "removed",
                            Some(RELOAD.into()),
                        );
                    }
                    // The collector's counters live in each engine's tenants: carried here.
                    Some(mine) => {
                        mine.series.carry_over(&t.series);
                        // What the old engine published is what scrapers saw: a tenant whose
                        // readiness differs here changed, once.
                        mine.series.carry_transition(&t.series);
                    }
                }
            }
        }
    }

    /// A reload's engine that is ready takes the series over once every tenant of its own is
    /// decided (each critical check of theirs has a result): taking them over earlier would write
    /// a pending tenant's state 0 and count its first result as a transition that never
    /// happened. Takes the instance's state lock: call it holding no lock.
    pub(super) fn take_over_if_decided(&self) {
        if self.series.owns()
            || self.undecided.load(Ordering::SeqCst) != 0
            || self.deferred_takeover.load(Ordering::SeqCst)
        {
            return;
        }
        let state = lock(&self.global.state);
        if self.global.snapshot.load().ready {
            self.take_over_locked(&state);
        }
    }

    /// A tenant's own readiness is known now (its first results are in).
    pub(super) fn tenant_decided(&self, tenant: &TenantCore) {
        if tenant.decided.load(Ordering::SeqCst) {
            return;
        }
        let last = {
            let _counts = lock(&self.tenant_sync);
            // Counted as undecided only once registered; before that it just notes it.
            let registered = tenant.registered.load(Ordering::SeqCst);
            !tenant.decided.swap(true, Ordering::SeqCst)
                && registered
                && self.undecided.fetch_sub(1, Ordering::SeqCst) == 1
        };
        if last {
            self.take_over_if_decided();
        }
    }

    /// A `ReloadableEngine` swaps this engine in: it serves from now on, and takes the series
    /// over now if it has not yet.
    pub(super) fn take_over_at_swap(&self) {
        self.deferred_takeover.store(false, Ordering::SeqCst);
        self.take_over();
    }

    /// Take the series over from an owner that stops.
    fn take_over(&self) {
        let state = lock(&self.global.state);
        self.take_over_locked(&state);
    }

    /// The engine stops: hand the series to its newest live successor, or, as the last of its
    /// lineage, leave them as a stopped engine should (checks 0; on drop, tenants as removed).
    pub(super) fn release_series(&self, why: Release) {
        let lineage = &self.series.lineage;
        let successor = {
            let _alone = write(&lineage.lock);
            if !self.series.owns() {
                return;
            }
            let successor = self.series.successor();
            if successor.is_none() {
                for slot in &self.global.slots {
                    if let Some(m) = &slot.metrics {
                        m.state(false);
                    }
                }
                if why == Release::Drop {
                    for t in self.tenants.all() {
                        t.series.removed();
                    }
                }
            }
            successor
        };
        if let Some(next) = successor {
            next.take_over();
        }
    }

    /// The series' values at build time, for an engine that owns them from the start.
    pub(super) fn first_writes(&self, state: &ScopeState) {
        let counts = lock(&self.tenant_sync);
        let Some(_owned) = self.series.guard(&self.gone) else {
            return;
        };
        let snap = self.global.snapshot.load();
        self.metrics.touch(snap.ready, snap.draining);
        let was_ready = self.series.lineage.last_ready.load(Ordering::SeqCst);
        if snap.ready && !was_ready {
            // Nothing to wait for (no critical readiness or startup check): ready from the
            // start, which is a transition like any other.
            self.metrics.count(true);
        }
        self.series.note_ready(snap.ready);
        counts.reassert();
        for (slot, run) in self.global.slots.iter().zip(&state.runs) {
            if let Some(m) = &slot.metrics {
                m.state(run.status == Status::Passing);
            }
        }
    }
}
