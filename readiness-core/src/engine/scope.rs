//! A scope's checks and state (the instance's [`ScopeCore`], or one tenant's [`TenantCore`]),
//! and how a snapshot is built from them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::task::JoinHandle;

use super::lock;

use crate::config::{Kind, Resolved};
use crate::metrics::{CheckMetrics, TenantSeries};
use crate::snapshot::{CheckStatus, Snapshot, Status};

pub(super) struct Slot {
    pub(super) cfg: Resolved,
    pub(super) run_lock: tokio::sync::Mutex<()>,
    pub(super) runs_started: AtomicU64,
    pub(super) runs_completed: AtomicU64,
    /// Per-check series: global checks only (tenant checks are attributed to their tenant).
    pub(super) metrics: Option<CheckMetrics>,
}

#[derive(Clone)]
pub(super) struct RunState {
    pub(super) status: Status,
    pub(super) reason: Option<Arc<str>>,
    pub(super) ok_run: u32,
    pub(super) fail_run: u32,
}

pub(super) struct ScopeState {
    pub(super) runs: Vec<RunState>,
    pub(super) started: bool,
}

pub(super) struct ScopeCore {
    pub(super) slots: Vec<Slot>,
    pub(super) index: Arc<HashMap<Arc<str>, usize>>,
    pub(super) snapshot: ArcSwap<Snapshot>,
    pub(super) state: Mutex<ScopeState>,
}

impl ScopeCore {
    pub(super) fn new(resolved: Vec<Resolved>, check_metrics: bool) -> Self {
        let index: HashMap<_, _> = resolved
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.clone(), i))
            .collect();
        let slots: Vec<Slot> = resolved
            .into_iter()
            .map(|cfg| Slot {
                metrics: check_metrics.then(|| CheckMetrics::register(&cfg.name)),
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

    pub(super) fn zero_check_states(&self) {
        for slot in &self.slots {
            if let Some(m) = &slot.metrics {
                m.state(false);
            }
        }
    }
}

pub(super) fn build_snapshot(
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

/// One tenant: its own checks and state, its series and its tasks.
pub(super) struct TenantCore {
    pub(super) id: Arc<str>,
    pub(super) core: ScopeCore,
    pub(super) series: TenantSeries,
    /// Its readiness as last published: own critical checks passing and the instance ready.
    pub(super) effective: AtomicBool,
    pub(super) removed: AtomicBool,
    pub(super) tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl TenantCore {
    pub(super) fn abort(&self) {
        self.removed.store(true, Ordering::SeqCst);
        for t in lock(&self.tasks).iter() {
            t.abort();
        }
    }

    pub(super) async fn join(&self) {
        let tasks: Vec<_> = lock(&self.tasks).drain(..).collect();
        for t in tasks {
            let _ = t.await;
        }
    }
}
