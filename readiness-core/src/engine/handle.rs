//! The [`Engine`] handle: reads, drain, shutdown and refresh of the instance.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::handover::Release;
use super::shared::Shared;
use super::sync::lock;
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

/// Why [`Engine::refresh`] or [`Engine::refresh_tenant`] ran nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefreshError {
    /// The engine was shut down: it runs no check any more.
    ShutDown,
    /// No tenant has that id.
    UnknownTenant,
}

impl std::fmt::Display for RefreshError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RefreshError::ShutDown => "the engine is shut down: it runs no check any more",
            RefreshError::UnknownTenant => "no such tenant",
        })
    }
}

impl std::error::Error for RefreshError {}

pub(super) struct Inner {
    pub(super) shared: Arc<Shared>,
    /// The scheduler's and the watchdog's supervisors.
    pub(super) tasks: Mutex<Vec<JoinHandle<()>>>,
    /// The heartbeat's ticker.
    pub(super) ticker: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let shared = &self.shared;
        shared.stopping.send_replace(true);
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
        if let Some(ticker) = lock(&self.ticker).take() {
            ticker.abort();
        }
        // From here on nothing this engine still runs writes a series (a run in flight is
        // aborted at its next await); the last writes are the hand-over's.
        shared.gone.store(true, Ordering::SeqCst);
        {
            // Wait for a result being recorded right now, then let the series go.
            let _state = lock(&shared.global.state);
            let _counts = lock(&shared.tenant_sync);
        }
        for tenant in shared.tenants.all() {
            tenant.removed.store(true, Ordering::SeqCst);
        }
        shared.release_series(Release::Drop);
        // A reload replaced it: the lineage's drain and close carry on with the newer engine.
        shared.series.handle().close_if_alone(&shared.series);
    }
}

impl Engine {
    /// The engines built from this one and from which it was built, with `reload_from`.
    pub(crate) fn lineage(&self) -> super::lineage::LineageHandle<Shared> {
        self.inner.shared.series.handle()
    }

    /// A handle that does not keep the engine's tasks alive (for bridges and watchers).
    pub fn downgrade(&self) -> WeakEngine {
        WeakEngine {
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// The latest snapshot. Cheap: one atomic load and a reference count. A result older than
    /// its deadline (period + timeout + the staleness margin) reads as failing
    /// (`stale: no result for Ns`) even before the engine has marked it.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        let shared = &self.inner.shared;
        shared.global.current(shared.clock)
    }

    /// Whether the instance is ready, in O(1) without allocating or locking. It fails closed
    /// on its own: past the deadline of a result readiness rests on, it reads `false` even if
    /// no task runs any more.
    pub fn is_ready(&self) -> bool {
        let shared = &self.inner.shared;
        shared.global.snapshot.load().ready && shared.clock.before(&shared.global.ready_until)
    }

    /// Whether the instance is live, in O(1) without allocating or locking (a liveness result
    /// past its deadline reads as failing, as for [`is_ready`](Self::is_ready)).
    pub fn is_live(&self) -> bool {
        let shared = &self.inner.shared;
        shared.global.snapshot.load().live && shared.clock.before(&shared.global.live_until)
    }

    /// Whether the instance has started, in O(1) without allocating or locking.
    pub fn is_started(&self) -> bool {
        self.inner.shared.global.snapshot.load().started
    }

    /// Read the latest snapshot in place, without touching its reference count (past a
    /// deadline, a copy in which the expired results fail as stale).
    pub fn with_snapshot<R>(&self, f: impl FnOnce(&Snapshot) -> R) -> R {
        let shared = &self.inner.shared;
        let snap = shared.global.snapshot.load();
        if shared.clock.before(&shared.global.any_until) {
            f(&snap)
        } else {
            f(&shared.global.expired(&snap, shared.clock))
        }
    }

    /// A watch channel of the aggregate state; it changes once per transition.
    pub fn subscribe(&self) -> watch::Receiver<Aggregate> {
        self.inner.shared.watch.subscribe()
    }

    /// Turn readiness off for good: a `shutdown` entry fails with "shutting down", liveness
    /// stays as it is, checks keep running, and `readiness_draining` reads 1. Idempotent.
    ///
    /// This is step one of a graceful shutdown; [`drain_on`](Self::drain_on) does the whole
    /// sequence (signal, drain, keep serving for the delay, [`close`](Self::close)) as one
    /// future for the server, after which you call [`shutdown`](Self::shutdown). Keep serving
    /// after `drain` long enough for everything that routes traffic here to notice:
    ///
    /// - the delay ≥ the readiness probe's `periodSeconds × failureThreshold` + endpoint
    ///   propagation (Kubernetes' default probe, 10 s × 3, plus about 5 s: 35 s);
    /// - `terminationGracePeriodSeconds` ≥ the `preStop` hook + the delay + the longest
    ///   in-flight request, or the kubelet kills the process mid-drain;
    /// - when the pod is the last endpoint of its Service, Kubernetes falls back to
    ///   terminating endpoints that still pass readiness (KEP-1669), so draining at once
    ///   refuses requests the pod could still serve: start a replacement first, or use a
    ///   `preStop` sleep for a single replica.
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let engine = readiness_core::Engine::builder().build()?;
    /// engine.refresh().await?;
    /// assert!(engine.is_ready());
    /// engine.drain();
    /// assert!(!engine.is_ready() && engine.is_live() && engine.is_draining());
    /// # Ok(()) }
    /// ```
    pub fn drain(&self) {
        self.inner.shared.series.handle().drain();
    }

    /// Whether [`drain`](Self::drain) was called, on this engine or on one it replaced or that
    /// replaced it (a drain survives a reload).
    pub fn is_draining(&self) -> bool {
        self.inner.shared.series.draining()
    }

    /// End the drain: its delay is over and the server is about to stop accepting, so
    /// long-lived streams that follow the engine (gRPC `Watch`) end now instead of holding a
    /// graceful shutdown open. Drains first if [`drain`](Self::drain) was not called.
    /// Idempotent; [`shutdown`](Self::shutdown) closes too, and so does dropping the last
    /// handle of the last engine of a reload's lineage (an engine that a reload replaced closes
    /// nothing when it goes: the newer engine serves on).
    pub fn close(&self) {
        self.inner.shared.series.handle().close();
    }

    /// Whether [`close`](Self::close) was called (or the engine was shut down).
    pub fn is_closed(&self) -> bool {
        self.inner.shared.series.handle().is_closed()
    }

    /// Resolves once the engine is closed ([`close`](Self::close), [`shutdown`](Self::shutdown),
    /// or the last handle dropped with no newer engine of a reload left to serve). A reload
    /// does not resolve it: give it to `serve_with_shutdown` and the server keeps serving
    /// across reloads. It holds no handle: waiting never keeps the engine alive.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static + use<> {
        self.inner.shared.series.handle().closed()
    }

    /// Drain, then stop every background task and wait until they have all ended (runs in
    /// flight included). Afterwards the engine starts nothing: [`add_tenant`](Self::add_tenant)
    /// answers [`ConfigProblem::ShutDown`](crate::ConfigProblem::ShutDown) and
    /// [`refresh`](Self::refresh) [`RefreshError::ShutDown`].
    ///
    /// This is for shutting the process down: it drains and closes every engine of a reload's
    /// lineage. To reload a configuration, use [`ReloadableEngine::reload`](crate::ReloadableEngine::reload)
    /// (or build the new engine with [`EngineBuilder::reload_from`](crate::EngineBuilder::reload_from)
    /// and drop the old one): the series pass from one to the other without a drain. An engine that still
    /// owns its series when it stops, with no newer engine to hand them to, sets its
    /// `readiness_check_state` series to 0.
    pub async fn shutdown(&self) {
        let shared = &self.inner.shared;
        // A tenant being added is added before, or refused.
        shared.tenants.close();
        shared.shut_down.store(true, Ordering::SeqCst);
        self.close();
        shared.stopping.send_replace(true);
        let ticker = lock(&self.inner.ticker).take();
        if let Some(ticker) = ticker {
            ticker.abort();
            let _ = ticker.await;
        }
        // The supervisors end by themselves once told to stop (the driver's after ending every
        // run in flight and waiting for their futures to be dropped).
        let tasks: Vec<_> = lock(&self.inner.tasks).drain(..).collect();
        for task in tasks {
            let _ = task.await;
        }
        shared.release_series(Release::Shutdown);
    }

    /// Run every check now and wait for the results. Concurrent callers share one run per
    /// check: a caller that finds a run of a check in flight waits for it and takes its result
    /// instead of starting another. Runs respect the in-flight bound. After
    /// [`shutdown`](Self::shutdown) it runs nothing and answers [`RefreshError::ShutDown`].
    pub async fn refresh(&self) -> Result<(), RefreshError> {
        let shared = &self.inner.shared;
        if shared.shut_down.load(Ordering::SeqCst) {
            return Err(RefreshError::ShutDown);
        }
        if shared.global.deps.is_some() {
            Box::pin(shared.refresh_levels(None)).await;
            return Ok(());
        }
        let runs = (0..shared.global.slots.len()).map(|idx| shared.run_coalesced(None, idx));
        futures_util::future::join_all(runs).await;
        Ok(())
    }

    /// Run every check of one tenant now, as [`refresh`](Self::refresh) does.
    pub async fn refresh_tenant(&self, id: &str) -> Result<(), RefreshError> {
        let shared = &self.inner.shared;
        if shared.shut_down.load(Ordering::SeqCst) {
            return Err(RefreshError::ShutDown);
        }
        let Some(tenant) = shared.tenant(id) else {
            return Err(RefreshError::UnknownTenant);
        };
        if tenant.core.deps.is_some() {
            Box::pin(shared.refresh_levels(Some(&tenant))).await;
            return Ok(());
        }
        let runs = (0..tenant.core.slots.len()).map(|idx| shared.run_coalesced(Some(&tenant), idx));
        futures_util::future::join_all(runs).await;
        Ok(())
    }

    /// A `ReloadableEngine` swaps this engine in: it takes the series (and the audit log's
    /// account of what is served) over now.
    pub(crate) fn take_over_at_swap(&self) {
        self.inner.shared.take_over_at_swap();
    }

    /// Whether [`shutdown`](Self::shutdown) was called on this engine.
    pub(crate) fn is_shut_down(&self) -> bool {
        self.inner.shared.shut_down.load(Ordering::SeqCst)
    }

    /// A reload's wait before the swap: every check's first result, then readiness, bounded
    /// by the longest `timeout + (success_threshold − 1) × (period + jitter)` of its checks.
    /// Nothing to wait for while draining, and a drain that begins during the wait ends it
    /// (a draining engine is never ready: the readiness it waits for cannot come).
    pub(crate) async fn first_results(&self) {
        let shared = &self.inner.shared;
        // Subscribed before the check, so a drain right after it still ends the wait.
        let mut drained = self.subscribe();
        if shared.series.draining() {
            return;
        }
        let tenants = shared.tenants.all();
        let bound = std::iter::once(&shared.global)
            .chain(tenants.iter().map(|t| &t.core))
            .flat_map(|core| core.slots.iter())
            .map(|slot| {
                let cfg = &slot.cfg;
                let more = cfg.success_threshold.saturating_sub(1);
                cfg.timeout
                    .saturating_add(cfg.period.saturating_add(cfg.jitter).saturating_mul(more))
            })
            .max()
            .unwrap_or(Duration::ZERO);
        drop(tenants);
        let wait = async {
            let _ = self.refresh().await;
            let ids = self.tenant_ids();
            futures_util::future::join_all(ids.iter().map(|id| self.refresh_tenant(id))).await;
            let mut rx = self.subscribe();
            let _ = rx.wait_for(|a| a.ready).await;
        };
        let drained = async move {
            if drained.wait_for(|a| a.draining).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let _ = tokio::time::timeout(bound, async {
            tokio::select! {
                () = wait => {}
                () = drained => {}
            }
        })
        .await;
    }

    /// How many runs of a check have started, or `None` for an unknown name. Meant for tests
    /// and diagnostics (for example, that probes never make checks run more often).
    pub fn runs_started(&self, check: &str) -> Option<u64> {
        if let Some((tenant, name)) = check.split_once('/') {
            let t = self.inner.shared.tenant(tenant)?;
            return t
                .core
                .find(name)
                .map(|i| t.core.slots[i].runs_started.load(Ordering::SeqCst));
        }
        let core = &self.inner.shared.global;
        core.find(check)
            .map(|i| core.slots[i].runs_started.load(Ordering::SeqCst))
    }
}
