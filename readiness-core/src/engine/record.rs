//! The record path: the one place every check result passes through.
//!
//! A result first lands where probes read it (the run's state, the snapshot, the deadlines),
//! and only then reaches code the engine does not own (the metrics exporter, `tracing`
//! subscribers): an exporter that panics cannot leave a probe reading an old answer.
//!
//! Results expire: a result is valid for its period (plus its jitter, or the longer delay the
//! scheduler planned), its timeout and the engine's staleness margin. The watchdog marks an
//! expired result `failing` with reason `stale: no result for Ns` (snapshot, probes, metrics,
//! log); until it has, probes compare the scopes' earliest deadlines with the clock, so a result
//! nobody renewed fails closed even when no task runs at all.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::time::Instant;

use super::SHUTDOWN_REASON;
use super::global_metrics::TenantCounts;
use super::scope::{
    CheckRef, Event, NEVER, ScopeCore, ScopeState, TenantCore, block, build_snapshot, stale_reason,
};
use super::shared::Shared;
use super::sync::lock;
use crate::check::Kind;
use crate::metrics::Outcome;
use crate::problem::Scope;
use crate::snapshot::{Status, blocking};
use crate::tenant::{AuditEntry, TenantEvent};

impl Shared {
    pub(super) fn core<'a>(&'a self, tenant: Option<&'a TenantCore>) -> &'a ScopeCore {
        tenant.map_or(&self.global, |t| &t.core)
    }

    /// An entry of the audit log: `check` of `scope` (the scope itself when `None`) turned `to`,
    /// for `reason`, blocked by the dependency `blocked_by` if one blocks it.
    pub(super) fn audit(
        &self,
        scope: Scope,
        check: Option<Arc<str>>,
        to: &'static str,
        reason: Option<Arc<str>>,
        blocked_by: Option<Arc<str>>,
    ) {
        // The log records what the engine serves: an engine built to replace another logs
        // from its takeover on (the takeover logs what it changed), and one replaced logs
        // nothing more.
        if self.audit_capacity == 0 || !self.series.owns() {
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
            blocked_by,
        });
    }

    /// The one place every check result passes through: hysteresis, deadlines, snapshot,
    /// metrics, tracing, audit and subscribers all hang here.
    pub(super) fn record(&self, tenant: Option<&Arc<TenantCore>>, idx: usize, mut event: Event) {
        let t = tenant.map(|t| &**t);
        if self.gone.load(Ordering::SeqCst) || t.is_some_and(|t| t.removed.load(Ordering::SeqCst)) {
            return;
        }
        let core = self.core(t);
        let slot = &core.slots[idx];
        let cfg = &slot.cfg;
        let mut state = lock(&core.state);
        if core.deps.is_some() && matches!(event, Event::Run { .. }) {
            event = self.gate_result(t, idx, event);
        }
        let now = match &event {
            Event::Run { at, .. } => self.clock.nanos(*at),
            Event::Stale | Event::Blocked { .. } => self.clock.now(),
        };
        let run = &mut state.runs[idx];
        let before = run.status;
        let before_reason = run.reason.clone();
        let mut sample = None;
        match event {
            Event::Stale => {
                let deadline = slot.deadline.load(Ordering::Acquire);
                if deadline == NEVER {
                    return;
                }
                if deadline > now {
                    // Renewed since the watchdog looked: watch it until its new deadline.
                    self.watchdog.push(CheckRef::new(tenant, idx), deadline);
                    return;
                }
                run.status = Status::Failing;
                run.reason = Some(stale_reason(now, slot.result_at.load(Ordering::Acquire)).into());
                run.ok_run = 0;
                run.fail_run = run.fail_run.saturating_add(1).max(cfg.failure_threshold);
                slot.deadline.store(NEVER, Ordering::Release);
            }
            Event::Blocked { by } => {
                if !block(run, &by) {
                    return;
                }
                // It gets no result until it runs again: nothing to expire.
                slot.deadline.store(NEVER, Ordering::Release);
            }
            Event::Run {
                outcome,
                reason,
                elapsed,
                ..
            } => {
                sample = Some((outcome, elapsed));
                run.blocked = false;
                let passed = outcome == Outcome::Ok;
                if passed {
                    run.ok_run = run.ok_run.saturating_add(1);
                    run.fail_run = 0;
                } else {
                    run.fail_run = run.fail_run.saturating_add(1);
                    run.ok_run = 0;
                }
                let after = match (before, passed) {
                    (Status::Passing, false) if run.fail_run >= cfg.failure_threshold => {
                        Status::Failing
                    }
                    // A pending readiness or startup check is already not passing: its first
                    // failure shows the reason at once. A pending liveness check counts as
                    // live, so it waits for its threshold like a passing one.
                    (Status::Pending, false) if cfg.kind != Kind::Liveness => Status::Failing,
                    (Status::Pending, false) if run.fail_run >= cfg.failure_threshold => {
                        Status::Failing
                    }
                    (Status::Pending | Status::Failing, true)
                        if run.ok_run >= cfg.success_threshold =>
                    {
                        Status::Passing
                    }
                    (s, _) => s,
                };
                run.reason = match after {
                    Status::Passing => None,
                    _ if passed => run.reason.clone(),
                    _ => reason.map(Arc::from),
                };
                run.status = after;
                slot.result_at.store(now, Ordering::Release);
                let deadline = self.clock.after(now, cfg.valid);
                let old = slot.deadline.swap(deadline, Ordering::AcqRel);
                if old == NEVER && deadline != NEVER {
                    self.watchdog.push(CheckRef::new(tenant, idx), deadline);
                }
            }
        }
        let after = run.status;
        let changed = before != after || before_reason != run.reason;
        let reason_now = run.reason.clone();
        let blocked_now = run.blocked;
        slot.failing
            .store(after == Status::Failing, Ordering::SeqCst);
        core.refresh_deadlines(&state);

        if changed && t.is_some() {
            // The tenant's own snapshot first; the instance's is published below.
            let snap = build_snapshot(&core.slots, &core.index, &state, false);
            state.started = snap.started;
            core.snapshot.store(Arc::new(snap));
        }
        // Code the engine does not own, from here on: the exporter, then subscribers.
        let owned = self.series.guard(&self.gone);
        if owned.is_some() {
            if let (Some(m), Some((outcome, elapsed))) = (&slot.metrics, sample) {
                m.duration(outcome, elapsed);
            }
            // Re-set on every result, not only on transitions: an exporter's idle timeout
            // never drops it, and a reload's new engine owns it from its takeover on.
            if let Some(m) = &slot.metrics {
                m.state(after == Status::Passing);
            }
        }
        if let (Some(t), Some((_, elapsed))) = (t, sample) {
            let whole = t.series.check_time(elapsed);
            if owned.is_some() {
                t.series.count_seconds(whole);
            }
        }
        if before != after {
            let scope = t.map_or(Scope::Global, |t| Scope::Tenant(t.id.clone()));
            tracing::info!(
                target: "readiness",
                scope = %scope,
                check = %slot.name,
                kind = cfg.kind.as_str(),
                critical = cfg.critical,
                from = before.as_str(),
                to = after.as_str(),
                reason = reason_now.as_deref().unwrap_or(""),
                "check state changed"
            );
            let blocked_by = if blocked_now {
                blocking(reason_now.as_deref()).map(Arc::from)
            } else {
                None
            };
            self.audit(
                scope,
                Some(slot.name.clone()),
                after.as_str(),
                reason_now,
                blocked_by,
            );
        }
        match t {
            None if changed => {
                // Publishing may take the series over: not while holding them shared.
                drop(owned);
                self.publish(&mut state);
                drop(state);
            }
            None => {
                // Under the instance's state lock, so a transition published meanwhile is not
                // overwritten with a stale value.
                if owned.is_some() {
                    let ready = self.global.snapshot.load().ready;
                    self.metrics.state(ready);
                    self.series.note_ready(ready);
                }
                drop(owned);
                drop(state);
            }
            Some(t) => {
                drop(owned);
                drop(state);
                self.sync_tenant(t);
                if changed && TenantCore::own_decided(&t.core.snapshot.load()) {
                    self.tenant_decided(t);
                }
            }
        }
        if before != after
            && (core.deps.is_some()
                || (t.is_none() && self.global.tenants_depend.load(Ordering::Relaxed)))
        {
            self.dependency_changed(tenant, idx);
        }
    }

    /// Rebuild and publish the instance snapshot, and count every aggregate transition once.
    /// Called with the instance's state lock held.
    pub(super) fn publish(&self, state: &mut ScopeState) {
        let draining = self.series.draining();
        let snap = build_snapshot(&self.global.slots, &self.global.index, state, draining);
        state.started = snap.started;
        let before = self.global.snapshot.load().aggregate();
        let after = snap.aggregate();
        self.global.snapshot.store(Arc::new(snap));
        if before != after {
            self.watch.send_replace(after);
        }
        let ready_changed = before.ready != after.ready;
        let mut changed = Vec::new();
        if ready_changed {
            // Every tenant's readiness includes the instance's: all of them first, then the
            // exporter.
            let tenants = self.tenants.all();
            let mut counts = lock(&self.tenant_sync);
            for t in tenants {
                if let Some(ready) = self.update_effective(&mut counts, &t) {
                    changed.push((t, ready));
                }
            }
            if let Some(_owned) = self.series.guard(&self.gone) {
                counts.reassert();
                for (t, _) in &changed {
                    t.series.effective(t.effective.load(Ordering::SeqCst));
                }
            }
        }
        match self.series.guard(&self.gone) {
            Some(_owned) => {
                self.metrics.state(after.ready);
                if ready_changed {
                    self.metrics.count(after.ready);
                }
                self.series.note_ready(after.ready);
                if before.draining != after.draining {
                    self.metrics.draining(after.draining);
                }
            }
            // A reload's new engine takes the series over when it is first ready with its
            // tenants decided (a `ReloadableEngine`'s at the swap).
            None if after.ready
                && self.undecided.load(Ordering::SeqCst) == 0
                && !self.deferred_takeover.load(Ordering::SeqCst) =>
            {
                self.take_over_locked(state)
            }
            None => {}
        }
        if ready_changed {
            if after.ready {
                tracing::info!(target: "readiness", ready = true, "instance readiness changed: ready");
            } else {
                tracing::warn!(target: "readiness", ready = false, draining, "instance readiness changed: not ready");
            }
            let to = if after.ready { "ready" } else { "not_ready" };
            let reason = draining.then(|| Arc::from(SHUTDOWN_REASON));
            self.audit(Scope::Global, None, to, reason, None);
            for (t, ready) in changed {
                self.announce_tenant(&t, ready);
            }
        }
        if before.started != after.started {
            tracing::info!(target: "readiness", "instance started");
        }
        if before.live != after.live {
            tracing::warn!(target: "readiness", live = after.live, "instance liveness changed");
        }
    }

    /// Re-evaluate a tenant's readiness (own checks and the instance), publish a change once
    /// (counts, event, gauge, counter, tracing, audit), and re-set its series.
    pub(super) fn sync_tenant(&self, tenant: &TenantCore) {
        let mut counts = lock(&self.tenant_sync);
        let changed = self.update_effective(&mut counts, tenant);
        if !tenant.removed.load(Ordering::SeqCst)
            && let Some(_owned) = self.series.guard(&self.gone)
        {
            counts.reassert();
            tenant
                .series
                .effective(tenant.effective.load(Ordering::SeqCst));
            let own = tenant.core.snapshot.load();
            tenant
                .series
                .own(&tenant.id, own.ready, TenantCore::own_failure(&own));
        }
        drop(counts);
        if let Some(ready) = changed {
            self.announce_tenant(tenant, ready);
        }
    }

    /// The state half of a tenant's sync: its effective readiness, the counts, the event.
    pub(super) fn update_effective(
        &self,
        counts: &mut TenantCounts,
        tenant: &TenantCore,
    ) -> Option<bool> {
        if tenant.removed.load(Ordering::SeqCst) {
            return None;
        }
        let own = tenant.core.snapshot.load().ready;
        let instance = self.global.snapshot.load().ready;
        let ready = own && instance;
        let before = tenant.effective.swap(ready, Ordering::SeqCst);
        if before == ready {
            return None;
        }
        counts.changed(ready);
        let _ = self.tenant_events.send(TenantEvent {
            tenant: tenant.id.clone(),
            ready,
            removed: false,
        });
        Some(ready)
    }

    fn announce_tenant(&self, tenant: &TenantCore, ready: bool) {
        let to = if ready { "ready" } else { "not_ready" };
        let instance_ready = self.global.snapshot.load().ready;
        tracing::info!(target: "readiness", tenant = %tenant.id, to, instance_ready, "tenant readiness changed");
        self.audit(Scope::Tenant(tenant.id.clone()), None, to, None, None);
    }

    /// The scheduler planned the check's next run later than its period: its result stays
    /// valid until that run could have answered.
    pub(super) fn extend_deadline(
        &self,
        tenant: Option<&Arc<TenantCore>>,
        idx: usize,
        at: Instant,
    ) {
        let core = self.core(tenant.map(|t| &**t));
        let slot = &core.slots[idx];
        let state = lock(&core.state);
        let current = slot.deadline.load(Ordering::Acquire);
        if current == NEVER {
            return;
        }
        let valid = slot.cfg.timeout.saturating_add(slot.cfg.margin());
        let extended = self.clock.after(self.clock.nanos(at), valid);
        if extended > current {
            slot.deadline.store(extended, Ordering::Release);
            core.refresh_deadlines(&state);
        }
    }
}
