//! The scheduler: one task per check runs it on its period, and the heartbeat task ticks.

use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::Instant;

use super::Shared;
use super::scope::TenantCore;
use crate::metrics::Outcome;

impl Shared {
    pub(super) async fn run_once(&self, tenant: Option<&TenantCore>, idx: usize) {
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

    pub(super) async fn run_coalesced(&self, tenant: Option<&TenantCore>, idx: usize) {
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

pub(super) fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}

/// splitmix64: a small deterministic generator for jitter, seeded by the check's name.
pub(super) fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(super) fn jittered(period: Duration, jitter: Duration, rng: &mut u64) -> Duration {
    let nanos = jitter.as_nanos().min(u128::from(u64::MAX)) as u64;
    if nanos == 0 {
        return period;
    }
    // Saturating: a period of `Duration::MAX` ("once") must not overflow.
    period.saturating_add(Duration::from_nanos(
        next_random(rng) % nanos.saturating_add(1),
    ))
}

pub(super) async fn check_task(shared: Arc<Shared>, tenant: Option<Arc<TenantCore>>, idx: usize) {
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

pub(super) async fn heartbeat_task(base: Instant, interval: Duration, last: Arc<AtomicU64>) {
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let ms = base.elapsed().as_millis().min(u128::from(u64::MAX)) as u64;
        last.store(ms, Ordering::Relaxed);
    }
}
