//! Running a check once: its future under its timeout, every way it can panic caught, its
//! result recorded; and the jitter and back-offs the scheduler spaces runs with.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::Instant;

use super::gate::Gate;
use super::scope::{Busy, Event, Target, TenantCore};
use super::shared::Shared;
use crate::check::RunLabels;
use crate::metrics::Outcome;

/// How a run ended, for the next decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RunClass {
    /// Within its timeout (passed or failed).
    InTime,
    /// It timed out.
    TimedOut,
    /// It died: a panic escaped it (dropping its future, or recording its result).
    Died,
    /// A refresh was running the check: that run's result counts.
    Coalesced,
    /// Its dependencies did not let it run (blocked, or waiting for a first result).
    NotRun,
}

impl Shared {
    /// A scheduled run: shares a refresh's run if one is in flight, never waits for it
    /// (it holds a permit).
    pub(super) async fn run_scheduled(self: &Arc<Self>, target: &Target) -> RunClass {
        let slot = target.slot(&self.global);
        let Some(_busy) = Busy::try_new(slot, &self.ran) else {
            return RunClass::Coalesced;
        };
        let class = self.run_once(target.tenant.as_ref(), target.idx).await;
        if class == RunClass::Died {
            let deaths = slot.sched.deaths.load(Ordering::SeqCst).saturating_add(1);
            let backoff = self.restart_backoff(deaths);
            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| {
                tracing::warn!(
                    target: "readiness",
                    scope = %scope_name(target.tenant.as_deref()),
                    check = %slot.name,
                    ?backoff,
                    "a run of the check died; restarting it after its back-off"
                );
            }));
        }
        class
    }

    /// Run a check once and record the result; a run that dies is recorded as a failure.
    pub(super) async fn run_once(&self, tenant: Option<&Arc<TenantCore>>, idx: usize) -> RunClass {
        let core = self.core(tenant.map(|t| &**t));
        let slot = &core.slots[idx];
        if core.deps.is_some() {
            match self.gate(tenant.map(|t| &**t), idx) {
                Gate::Open => {}
                // Not a run: the check is not called (its dependency's next transition wakes
                // it).
                Gate::Wait => return RunClass::NotRun,
                Gate::Blocked(by) => {
                    self.record(tenant, idx, Event::Blocked { by });
                    return RunClass::NotRun;
                }
            }
        }
        slot.runs_started.fetch_add(1, Ordering::SeqCst);
        let start = Instant::now();
        let timeout = slot.cfg.timeout;
        let check = &slot.check;
        let labels = RunLabels {
            check: slot.name.clone(),
            tenant: tenant.map(|t| t.id.clone()),
            deadline: start + timeout,
        };
        // One span per run (see the crate's docs): free when no subscriber wants it. It is
        // entered where the check's code runs (making its future, polling it, dropping it) and
        // while the result is recorded, so a transition's event belongs to it.
        let span = tracing::info_span!(
            target: "readiness",
            "readiness.check",
            check = &*slot.name,
            tenant = tenant.map(|t| &*t.id),
            kind = slot.cfg.kind.as_str(),
            outcome = tracing::field::Empty,
            duration = tracing::field::Empty,
        );
        let made = {
            let _in_span = span.enter();
            std::panic::catch_unwind(AssertUnwindSafe(|| labels.sync_scope(|| check.check())))
        };
        let (outcome, reason, mut class) = match made {
            Err(panic) => (
                Outcome::Panic,
                Some(format!("panicked: {}", panic_message(&*panic))),
                RunClass::InTime,
            ),
            Ok(fut) => {
                let mut fut = AssertUnwindSafe(labels.scope(fut)).catch_unwind();
                let timed = tokio::time::timeout(timeout, &mut fut);
                tokio::pin!(timed);
                // `Instrument` without a second handle on the span: polled inside it.
                let result = std::future::poll_fn(|cx| {
                    let _in_span = span.enter();
                    timed.as_mut().poll(cx)
                })
                .await;
                // Dropped here, under our own guard: a future that panics while dropped
                // at its timeout must not take the run (or anything else) down with it.
                let dropped = {
                    let _in_span = span.enter();
                    std::panic::catch_unwind(AssertUnwindSafe(move || drop(fut)))
                };
                let (outcome, reason, class) = match result {
                    Err(_) => (
                        Outcome::Timeout,
                        Some(format!("timed out after {timeout:?}")),
                        RunClass::TimedOut,
                    ),
                    Ok(Err(panic)) => (
                        Outcome::Panic,
                        Some(format!("panicked: {}", panic_message(&*panic))),
                        RunClass::InTime,
                    ),
                    Ok(Ok(Err(failure))) => (
                        Outcome::Error,
                        Some(failure.reason().to_owned()),
                        RunClass::InTime,
                    ),
                    Ok(Ok(Ok(()))) => (Outcome::Ok, None, RunClass::InTime),
                };
                match dropped {
                    Ok(()) => (outcome, reason, class),
                    Err(panic) => (
                        Outcome::Panic,
                        Some(format!(
                            "{}, then panicked when dropped: {}",
                            reason.as_deref().unwrap_or("ended"),
                            panic_message(&*panic)
                        )),
                        RunClass::Died,
                    ),
                }
            }
        };
        let end = Instant::now();
        let elapsed = end.saturating_duration_since(start);
        if !span.is_disabled() {
            span.record("outcome", outcome.as_str());
            span.record("duration", elapsed.as_secs_f64());
        }
        let in_span = span.enter();
        let event = Event::Run {
            outcome,
            reason,
            elapsed,
            at: end,
        };
        if let Err(panic) =
            std::panic::catch_unwind(AssertUnwindSafe(|| self.record(tenant, idx, event)))
        {
            // The record path died (a broken exporter or subscriber): the result may be half
            // published. Record the death itself; if that panics too, staleness takes over.
            let reason = format!(
                "panicked while recording its result: {}",
                panic_message(&*panic)
            );
            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| {
                self.record(
                    tenant,
                    idx,
                    Event::Run {
                        outcome: Outcome::Panic,
                        reason: Some(reason),
                        elapsed,
                        at: end,
                    },
                );
            }));
            class = RunClass::Died;
        }
        drop(in_span);
        slot.runs_completed.fetch_add(1, Ordering::SeqCst);
        class
    }

    /// Run every check of a scope whose checks depend on each other now, for a refresh: each
    /// once, a level of the dependency graph at a time, so that a check's run sees its
    /// dependencies' results. (A scope without dependencies runs all its checks at once.)
    pub(super) async fn refresh_levels(self: &Arc<Self>, tenant: Option<&Arc<TenantCore>>) {
        let core = self.core(tenant.map(|t| &**t));
        let levels = core.deps.as_ref().map(|d| d.levels()).unwrap_or_default();
        for level in levels {
            let runs = level.iter().map(|&idx| self.run_coalesced(tenant, idx));
            futures_util::future::join_all(runs).await;
        }
    }

    /// Run a check now for a refresh. Concurrent callers share one run per check: a caller
    /// that finds a run in flight waits for it and takes its result.
    pub(super) async fn run_coalesced(
        self: &Arc<Self>,
        tenant: Option<&Arc<TenantCore>>,
        idx: usize,
    ) {
        let slot = &self.core(tenant.map(|t| &**t)).slots[idx];
        let seen = slot.runs_completed.load(Ordering::SeqCst);
        if let Some(_busy) = Busy::try_new(slot, &self.ran) {
            return self.refresh_run(tenant, idx).await;
        }
        // A run is in flight: wait for it and take its result (boxed: the common case above
        // stays a small future).
        Box::pin(self.wait_for_run(tenant, idx, seen)).await;
    }

    async fn refresh_run(self: &Arc<Self>, tenant: Option<&Arc<TenantCore>>, idx: usize) {
        let slot = &self.core(tenant.map(|t| &**t)).slots[idx];
        let _permit = if slot.cfg.bounded {
            Some(
                self.sched
                    .acquire(self, usize::from(tenant.is_some()))
                    .await,
            )
        } else {
            None
        };
        self.run_once(tenant, idx).await;
    }

    async fn wait_for_run(
        self: &Arc<Self>,
        tenant: Option<&Arc<TenantCore>>,
        idx: usize,
        seen: u64,
    ) {
        let slot = &self.core(tenant.map(|t| &**t)).slots[idx];
        self.ran.waiters.fetch_add(1, Ordering::SeqCst);
        let _waiting = RanWaiter(self);
        loop {
            let ran = self.ran.notify.notified();
            tokio::pin!(ran);
            ran.as_mut().enable();
            if slot.runs_completed.load(Ordering::SeqCst) > seen {
                // A run finished while this caller waited (the one in flight when it asked,
                // or one started since): share its result, as singleflight does.
                return;
            }
            if let Some(_busy) = Busy::try_new(slot, &self.ran) {
                return self.refresh_run(tenant, idx).await;
            }
            ran.await;
        }
    }

    /// The restart back-off after `deaths` consecutive deaths.
    pub(super) fn restart_backoff(&self, deaths: u32) -> Duration {
        let (initial, max) = self.options.restart_backoff;
        doubled(initial, deaths, max)
    }
}

fn scope_name(tenant: Option<&TenantCore>) -> crate::problem::Scope {
    tenant.map_or(crate::problem::Scope::Global, |t| {
        crate::problem::Scope::Tenant(t.id.clone())
    })
}

/// `base x 2^(n-1)`, at most `cap`.
pub(super) fn doubled(base: Duration, n: u32, cap: Duration) -> Duration {
    let factor = 1u32 << n.saturating_sub(1).min(20);
    base.saturating_mul(factor).min(cap).max(base.min(cap))
}

pub(super) fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}

/// splitmix64: a small generator for jitter.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The period plus a random part of the jitter, drawn from the check's salt (the engine's
/// seed and the check's identity) and its run count.
pub(super) fn jittered(period: Duration, jitter: Duration, salt: u64, run: u64) -> Duration {
    let nanos = jitter.as_nanos().min(u128::from(u64::MAX)) as u64;
    if nanos == 0 {
        return period;
    }
    let r = mix(salt ^ mix(run));
    // Saturating: a period of `Duration::MAX` ("once") must not overflow.
    period.saturating_add(Duration::from_nanos(r % nanos.saturating_add(1)))
}

/// A refresh counted as waiting for a check's run in flight.
struct RanWaiter<'a>(&'a Shared);

impl Drop for RanWaiter<'_> {
    fn drop(&mut self) {
        self.0.ran.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}
