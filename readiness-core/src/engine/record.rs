//! The record path: the one place every check result passes through.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::scope::{ScopeCore, ScopeState, TenantCore, build_snapshot};
use super::{SHUTDOWN_REASON, Shared, lock, read};
use crate::config::{Kind, Scope};
use crate::metrics::Outcome;
use crate::snapshot::Status;
use crate::tenant::AuditEntry;

impl Shared {
    pub(super) fn audit(
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

    /// Rebuild and publish the instance snapshot, and count every aggregate transition once.
    pub(super) fn publish(&self, state: &mut ScopeState) {
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

    pub(super) fn core<'a>(&'a self, tenant: Option<&'a TenantCore>) -> &'a ScopeCore {
        tenant.map_or(&self.global, |t| &t.core)
    }

    /// The one place every check result passes through: metrics, hysteresis, snapshot,
    /// tracing, audit and subscribers all hang here.
    pub(super) fn record(
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
}
