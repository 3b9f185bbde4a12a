//! The scheduler's driver: one task that starts what is due under the in-flight bounds, the
//! permits refreshes take, and what happens when a run ends (see `scheduler` for the rules).

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::task::{Id, JoinSet};
use tokio::time::Instant;

use super::run::{RunClass, doubled, jittered};
use super::scheduler::{Plan, Scheduler, SlowEntry, Timer};
use super::scope::{
    CheckRef, IDLE, LANE_FIRST, LANE_HEALTHY, LANE_SLOW, NEVER, QUEUED, RUNNING, Slot, TIMED,
    Target, TenantCore,
};
use super::shared::Shared;
use super::sync::lock;

/// A permit of a pool; giving it back wakes the driver and waiting refreshes.
pub(super) struct Permit {
    shared: Arc<Shared>,
    pool: usize,
    slow: bool,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let sched = &self.shared.sched;
        let (queued, waiting) = {
            let mut plan = lock(&sched.plan);
            let pool = &mut plan.pools[self.pool];
            pool.in_flight = pool.in_flight.saturating_sub(1);
            if self.slow {
                pool.slow_in_flight = pool.slow_in_flight.saturating_sub(1);
            }
            (pool.queued(), pool.refreshes_waiting > 0)
        };
        // Wake only who can use the permit: the driver if runs wait in the lanes, refreshes
        // if some wait for a permit.
        if queued {
            sched.wake.notify_one();
        }
        if waiting {
            sched.freed.notify_waiters();
        }
    }
}

/// A refresh counted as waiting for a permit of a pool, until it has one or gives up.
struct Waiting<'a> {
    sched: &'a Scheduler,
    pool: usize,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut plan = lock(&self.sched.plan);
        let p = &mut plan.pools[self.pool];
        p.refreshes_waiting = p.refreshes_waiting.saturating_sub(1);
    }
}

pub(super) struct RunEnd {
    check: CheckRef,
    class: RunClass,
    /// When the run started (`None` when its task died unseen): periods count from starts, as
    /// the kubelet's probes do, so a run that takes its whole timeout does not push the next
    /// one a timeout later.
    started: Option<Instant>,
}

impl Scheduler {
    /// Schedule the first run of a scope's checks (after their initial delay; never jittered).
    pub(super) fn add(&self, shared: &Shared, tenant: Option<&Arc<TenantCore>>) {
        let core = shared.core(tenant.map(|t| &**t));
        let now = Instant::now();
        {
            let mut plan = lock(&self.plan);
            for (idx, slot) in core.slots.iter().enumerate() {
                match now.checked_add(slot.cfg.initial_delay) {
                    Some(at) => push_timer(&mut plan, shared, slot, CheckRef::new(tenant, idx), at),
                    None => slot.sched.state.store(IDLE, Ordering::SeqCst),
                }
            }
        }
        self.wake.notify_one();
    }

    /// Run a check as soon as a permit allows, instead of at its planned instant (its
    /// dependency passes again). A check already due or running is left as it is.
    pub(super) fn run_now(&self, shared: &Shared, check: CheckRef) {
        let Some(target) = check.resolve() else {
            return;
        };
        let slot = target.slot(&shared.global);
        {
            let mut plan = lock(&self.plan);
            match slot.sched.state.load(Ordering::SeqCst) {
                TIMED | IDLE => push_timer(&mut plan, shared, slot, check, Instant::now()),
                // Maybe a turn that found the check blocked: then it runs as soon as it ends.
                RUNNING => {
                    slot.sched.rerun.store(true, Ordering::SeqCst);
                    return;
                }
                _ => return,
            }
        }
        self.wake.notify_one();
    }

    /// A permit for a refresh: waits while the pool is full.
    pub(super) async fn acquire(&self, shared: &Arc<Shared>, pool: usize) -> Permit {
        let permit = || Permit {
            shared: shared.clone(),
            pool,
            slow: false,
        };
        {
            let mut plan = lock(&self.plan);
            let p = &mut plan.pools[pool];
            if p.in_flight < p.limit {
                p.in_flight += 1;
                return permit();
            }
            // Full: count this refresh as waiting, then wait with the wake-up registered
            // before each look, so a permit freed in between is not missed.
            p.refreshes_waiting += 1;
        }
        let _waiting = Waiting { sched: self, pool };
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut plan = lock(&self.plan);
                let p = &mut plan.pools[pool];
                if p.in_flight < p.limit {
                    p.in_flight += 1;
                    return permit();
                }
            }
            freed.await;
        }
    }

    /// Move what is due into the lanes and start what the permits allow. Returns when the
    /// next timer is due.
    fn tick(
        &self,
        shared: &Arc<Shared>,
        runs: &mut JoinSet<RunEnd>,
        ids: &mut HashMap<Id, CheckRef>,
    ) -> Option<Instant> {
        let now = shared.clock.now();
        let mut plan = lock(&self.plan);
        while plan.timers.peek().is_some_and(|t| t.at <= now) {
            let Some(t) = plan.timers.pop() else { break };
            let due = t.at;
            let check = t.check();
            let Some(target) = check.resolve() else {
                continue;
            };
            let slot = target.slot(&shared.global);
            if slot.sched.due.load(Ordering::SeqCst) != due {
                // Superseded: `run_now` planned the check sooner.
                continue;
            }
            if !slot.cfg.bounded {
                // The heartbeat: never queued behind anything.
                spawn_run(shared, runs, ids, target, None);
                continue;
            }
            slot.sched.state.store(QUEUED, Ordering::SeqCst);
            plan.seq += 1;
            let seq = plan.seq;
            let pool = &mut plan.pools[target.pool()];
            match slot.sched.lane.load(Ordering::SeqCst) {
                LANE_HEALTHY => pool.healthy.push_back(check),
                LANE_FIRST => pool.first.push_back(check),
                _ => pool.slow.push(SlowEntry {
                    failing: slot.failing.load(Ordering::SeqCst),
                    due,
                    seq,
                    check,
                }),
            }
        }
        for p in 0..plan.pools.len() {
            while let Some((check, slow)) = plan.pools[p].pick() {
                let Some(target) = check.resolve() else {
                    continue;
                };
                let pool = &mut plan.pools[p];
                pool.in_flight += 1;
                if slow {
                    pool.slow_in_flight += 1;
                }
                let permit = Permit {
                    shared: shared.clone(),
                    pool: p,
                    slow,
                };
                spawn_run(shared, runs, ids, target, Some(permit));
            }
        }
        plan.timers.peek().and_then(|t| shared.clock.instant(t.at))
    }

    /// A run ended: decide when the check runs next.
    fn finish(&self, shared: &Shared, end: RunEnd) {
        let Some(target) = end.check.resolve() else {
            return;
        };
        let slot = target.slot(&shared.global);
        let cfg = &slot.cfg;
        let s = &slot.sched;
        let next = jittered(
            cfg.period,
            cfg.jitter,
            s.salt,
            slot.runs_started.load(Ordering::SeqCst),
        );
        let mut plan = lock(&self.plan);
        let rerun = s.rerun.swap(false, Ordering::SeqCst);
        // `true`: the delay counts from the run's start (its period); `false`: from now (a
        // back-off after a timeout or a death).
        let (delay, from_start) = match end.class {
            RunClass::InTime | RunClass::Coalesced => {
                s.streak.store(0, Ordering::SeqCst);
                s.deaths.store(0, Ordering::SeqCst);
                s.lane.store(LANE_HEALTHY, Ordering::SeqCst);
                (next, true)
            }
            // Its dependency passed while it found itself blocked: its turn comes at once.
            RunClass::NotRun if rerun => (Duration::ZERO, false),
            RunClass::NotRun => (next, true),
            RunClass::TimedOut => {
                s.deaths.store(0, Ordering::SeqCst);
                let streak = s.streak.fetch_add(1, Ordering::SeqCst).saturating_add(1);
                s.lane.store(LANE_SLOW, Ordering::SeqCst);
                let saturated = !plan.pools[target.pool()].slow.is_empty();
                if saturated && slot.failing.load(Ordering::SeqCst) {
                    let cap = cfg.period.max(shared.options.slow_backoff_max);
                    (doubled(cfg.period, streak, cap).max(next), false)
                } else {
                    (next, true)
                }
            }
            RunClass::Died => {
                let deaths = s.deaths.fetch_add(1, Ordering::SeqCst).saturating_add(1);
                s.streak.fetch_add(1, Ordering::SeqCst);
                s.lane.store(LANE_SLOW, Ordering::SeqCst);
                (shared.restart_backoff(deaths).max(next), false)
            }
        };
        let now = Instant::now();
        let from = match end.started {
            Some(started) if from_start => started.min(now),
            _ => now,
        };
        // A run that took longer than its period runs again at once.
        let at = from.checked_add(delay).map(|at| at.max(now));
        match at {
            Some(at) => push_timer(&mut plan, shared, slot, end.check, at),
            None => {
                s.due.store(NEVER, Ordering::SeqCst);
                s.state.store(IDLE, Ordering::SeqCst);
            }
        }
        drop(plan);
        if let Some(at) = at
            && delay > cfg.period.saturating_add(cfg.jitter)
        {
            // A planned delay longer than the period: the result stays valid until then.
            shared.extend_deadline(target.tenant.as_ref(), target.idx, at);
        }
    }

    /// Rebuild the queues from what each check says about itself, after the driver died
    /// (it may have died half-way through an update).
    pub(super) fn reconcile(&self, shared: &Shared) {
        let tenants = shared.tenants.all();
        let mut plan = lock(&self.plan);
        plan.timers.clear();
        for pool in &mut plan.pools {
            pool.clear();
        }
        let scopes = std::iter::once(None).chain(tenants.iter().map(Some));
        for tenant in scopes {
            let core = shared.core(tenant.map(|t| &**t));
            for (idx, slot) in core.slots.iter().enumerate() {
                let state = slot.sched.state.load(Ordering::SeqCst);
                if state == TIMED || state == QUEUED {
                    let at = shared
                        .clock
                        .instant(slot.sched.due.load(Ordering::SeqCst))
                        .unwrap_or_else(Instant::now);
                    push_timer(&mut plan, shared, slot, CheckRef::new(tenant, idx), at);
                }
            }
        }
    }
}

fn push_timer(plan: &mut Plan, shared: &Shared, slot: &Slot, check: CheckRef, at: Instant) {
    let at = shared.clock.nanos(at);
    slot.sched.due.store(at, Ordering::SeqCst);
    slot.sched.state.store(TIMED, Ordering::SeqCst);
    plan.seq = plan.seq.wrapping_add(1);
    let seq = plan.seq as u32;
    let (tenant, idx) = check.into_parts();
    plan.timers.push(Timer {
        at,
        seq,
        idx,
        tenant,
    });
}

fn spawn_run(
    shared: &Arc<Shared>,
    runs: &mut JoinSet<RunEnd>,
    ids: &mut HashMap<Id, CheckRef>,
    target: Target,
    permit: Option<Permit>,
) {
    let check = target.to_ref();
    target
        .slot(&shared.global)
        .sched
        .state
        .store(RUNNING, Ordering::SeqCst);
    let s = shared.clone();
    let end_ref = check.clone();
    let handle = runs.spawn(async move {
        let started = Some(Instant::now());
        let class = AssertUnwindSafe(s.run_scheduled(&target))
            .catch_unwind()
            .await
            .unwrap_or(RunClass::Died);
        drop(permit);
        RunEnd {
            check: end_ref,
            class,
            started,
        }
    });
    ids.insert(handle.id(), check);
}

/// The driver: runs until the engine stops; the supervisor restarts it if it dies.
pub(super) async fn drive(
    shared: &Arc<Shared>,
    runs: &mut JoinSet<RunEnd>,
    ids: &mut HashMap<Id, CheckRef>,
) {
    let mut stopping = shared.stopping.subscribe();
    let far = || Instant::now() + Duration::from_secs(86_400);
    let sleep = tokio::time::sleep_until(far());
    tokio::pin!(sleep);
    loop {
        if *stopping.borrow_and_update() {
            return;
        }
        #[cfg(test)]
        shared.faults.driver();
        let next = shared.sched.tick(shared, runs, ids);
        sleep.as_mut().reset(next.unwrap_or_else(far));
        tokio::select! {
            _ = stopping.changed() => {}
            Some(joined) = runs.join_next_with_id(), if !runs.is_empty() => {
                let end = match joined {
                    Ok((id, end)) => {
                        ids.remove(&id);
                        Some(end)
                    }
                    // Only an abort ends a run without a result (the engine is stopping).
                    Err(e) => ids.remove(&e.id()).map(|check| RunEnd {
                        check,
                        class: RunClass::Died,
                        started: None,
                    }),
                };
                if let Some(end) = end {
                    shared.sched.finish(shared, end);
                }
            }
            _ = shared.sched.wake.notified() => {}
            _ = &mut sleep => {}
        }
    }
}
