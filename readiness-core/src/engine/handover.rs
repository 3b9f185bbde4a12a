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
use std::sync::atomic::Ordering;

use super::lineage::{LineageHandle, Member};
use super::scope::{ScopeState, TenantCore};
use super::shared::Shared;
use super::sync::{lock, write};
use crate::problem::Scope;
use crate::snapshot::Status;

/// The audit log's reason for a change that a reload made at its swap.
const RELOAD: &str = "reload";

fn ready_str(ready: bool) -> &'static str {
    if ready { "ready" } else { "not_ready" }
}

/// Why an engine lets its series go.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Release {
    /// `shutdown()`: its checks stop.
    Shutdown,
    /// The last handle went: its checks and tenants stop.
    Drop,
}

impl Member for Shared {
    fn gone(&self) -> bool {
        self.gone.load(Ordering::SeqCst)
    }
}

impl LineageHandle<Shared> {
    /// Turn readiness off for good, in every engine of the lineage and in those that join it
    /// later. Idempotent.
    pub(crate) fn drain(&self) {
        if !self.start_draining() {
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
        self.mark_closed();
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
                None,
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
                    None,
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
                            None,
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
