//! The [`Engine`] handle: reads, drain, shutdown and refresh of the instance.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Shared, lock};
use crate::snapshot::{Aggregate, Snapshot};

/// The check engine: one value, cloned cheaply, is the single source of truth for every
/// probe, metric and subscriber.
///
/// Dropping the last clone stops every background task; [`Engine::shutdown`] does so and
/// waits for them.
#[derive(Clone)]
pub struct Engine {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snap = self.snapshot();
        f.debug_struct("Engine")
            .field("ready", &snap.is_ready())
            .field("live", &snap.is_live())
            .field("checks", &snap.checks().len())
            .finish_non_exhaustive()
    }
}

/// A handle that does not keep the engine running; see [`Engine::downgrade`].
#[derive(Clone, Debug)]
pub struct WeakEngine {
    pub(super) inner: std::sync::Weak<Inner>,
}

impl WeakEngine {
    /// The engine, if a strong handle still exists.
    pub fn upgrade(&self) -> Option<Engine> {
        self.inner.upgrade().map(|inner| Engine { inner })
    }
}

pub(super) struct Inner {
    pub(super) shared: Arc<Shared>,
    pub(super) tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.closed.send_replace(true);
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
        // A check that no longer runs is not passing: zero its series (see `Engine::shutdown`).
        self.shared.global.zero_check_states();
        // As if each tenant were removed: its series stop and read 1 (see `remove_tenant`).
        for tenant in self.shared.stop_tenants() {
            tenant
                .series
                .removed(tenant.effective.load(Ordering::SeqCst));
        }
    }
}

impl Engine {
    /// A handle that does not keep the engine's tasks alive (for bridges and watchers).
    pub fn downgrade(&self) -> WeakEngine {
        WeakEngine {
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// The latest snapshot. Cheap: one atomic load and a reference count.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.shared.global.snapshot.load_full()
    }

    /// Whether the instance is ready, in O(1) without allocating or locking.
    pub fn is_ready(&self) -> bool {
        self.inner.shared.global.snapshot.load().ready
    }

    /// Whether the instance is live, in O(1) without allocating or locking.
    pub fn is_live(&self) -> bool {
        self.inner.shared.global.snapshot.load().live
    }

    /// Whether the instance has started, in O(1) without allocating or locking.
    pub fn is_started(&self) -> bool {
        self.inner.shared.global.snapshot.load().started
    }

    /// Read the latest snapshot in place, without touching its reference count.
    pub fn with_snapshot<R>(&self, f: impl FnOnce(&Snapshot) -> R) -> R {
        f(&self.inner.shared.global.snapshot.load())
    }

    /// A watch channel of the aggregate state; it changes once per transition.
    pub fn subscribe(&self) -> watch::Receiver<Aggregate> {
        self.inner.shared.watch.subscribe()
    }

    /// Turn readiness off for good: a `shutdown` entry fails with "shutting down", liveness
    /// stays as it is, and checks keep running. Idempotent.
    pub fn drain(&self) {
        let shared = &self.inner.shared;
        if !shared.draining.swap(true, Ordering::SeqCst) {
            tracing::info!(target: "readiness", "draining: readiness is off for good");
            let mut state = lock(&shared.global.state);
            shared.publish(&mut state);
        }
    }

    /// Whether [`drain`](Self::drain) was called.
    pub fn is_draining(&self) -> bool {
        self.inner.shared.draining.load(Ordering::SeqCst)
    }

    /// End the drain: its delay is over and the server is about to stop accepting, so
    /// long-lived streams that follow the engine (gRPC `Watch`) end now instead of holding a
    /// graceful shutdown open. Drains first if [`drain`](Self::drain) was not called.
    /// Idempotent; [`shutdown`](Self::shutdown) and dropping the last handle close too.
    pub fn close(&self) {
        self.drain();
        self.inner.shared.closed.send_replace(true);
    }

    /// Whether [`close`](Self::close) was called (or the engine was shut down).
    pub fn is_closed(&self) -> bool {
        *self.inner.shared.closed.borrow()
    }

    /// Resolves once the engine is closed ([`close`](Self::close), [`shutdown`](Self::shutdown)
    /// or the last handle dropped). It holds no handle: waiting never keeps the engine alive.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.inner.shared.closed.subscribe();
        async move {
            // An error means the engine is gone, which is closed too.
            let _ = rx.wait_for(|closed| *closed).await;
        }
    }

    /// Drain, then stop every background task and wait until they have all ended.
    ///
    /// This is for shutting the process down. To reload a configuration, build the new engine
    /// on the same recorder and drop the old one instead: dropping stops its tasks without
    /// draining, so `readiness_state` and `readiness_transitions_total` see no drain. Either
    /// way the engine's `readiness_check_state` series are set to 0 when it stops; a check the
    /// new engine still has is set again on its next result, one that was removed stays 0.
    pub async fn shutdown(&self) {
        self.close();
        let tasks: Vec<_> = lock(&self.inner.tasks).drain(..).collect();
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
        self.inner.shared.global.zero_check_states();
        for tenant in self.inner.shared.stop_tenants() {
            tenant.join().await;
        }
    }

    /// Run every check now and wait for the results. Concurrent callers share one run per
    /// check: a caller that finds a run of a check in flight waits for it and takes its result
    /// instead of starting another. Runs respect the in-flight bound.
    pub async fn refresh(&self) {
        let shared = &self.inner.shared;
        let runs = (0..shared.global.slots.len()).map(|idx| shared.run_coalesced(None, idx));
        futures_util::future::join_all(runs).await;
    }

    /// How many runs of a check have started, or `None` for an unknown name. Meant for tests
    /// and diagnostics (for example, that probes never make checks run more often).
    pub fn runs_started(&self, check: &str) -> Option<u64> {
        if let Some((tenant, name)) = check.split_once('/') {
            let t = self.inner.shared.tenant(tenant)?;
            return t
                .core
                .index
                .get(name)
                .map(|&i| t.core.slots[i].runs_started.load(Ordering::SeqCst));
        }
        let core = &self.inner.shared.global;
        core.index
            .get(check)
            .map(|&i| core.slots[i].runs_started.load(Ordering::SeqCst))
    }
}
