//! [`ReloadableEngine`]: one handle that the layer, the gRPC health service and the drain
//! future follow, so that a running server can swap in a new engine.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::engine::{Engine, EngineBuilder};
use crate::problem::{BuildError, ConfigProblem};

/// An engine that can be replaced while it serves: the handle that everything serving probes
/// follows.
///
/// Hand clones of it to the layer (`ReadinessLayer::new(engine.clone())` in
/// `readiness-tower`), to the gRPC health service and to [`drain_on`](Self::drain_on); then
/// [`reload`](Self::reload) builds the new configuration's engine and swaps it in, and every
/// follower answers from it from that moment:
///
/// - probes answer from the new engine with no gap: `reload` waits for the new engine's first
///   results (see [`reload`](Self::reload)) before the swap, so a ready-to-ready reload never
///   answers 503;
/// - the shared series pass to the new engine without a dip or a phantom transition (see
///   [`EngineBuilder::reload_from`]);
/// - gRPC names keep their status (`liveness` never turns `NOT_SERVING` because the old engine
///   went away) and open `Watch` streams carry on with the new engine's transitions;
/// - [`drain_on`](Self::drain_on) and [`closed`](Self::closed) do not resolve at a reload, and a
///   drain survives it: an engine that replaces a draining one is draining from its first
///   moment, and the drain delay is not restarted.
///
/// A configuration that does not build returns its [`BuildError`] and changes nothing: the
/// running engine keeps serving and no series is written.
///
/// # Example
///
/// ```
/// use readiness_core::{Engine, ReloadableEngine, check_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ok = || check_fn(|| async { Ok::<(), std::io::Error>(()) });
/// let engine = ReloadableEngine::new(Engine::builder().readiness("db", ok()).build()?);
/// // `ReadinessLayer::new(engine.clone())`, `health_service(&engine)`,
/// // `with_graceful_shutdown(engine.drain_on(readiness_core::sigterm_or_ctrl_c(), delay))`…
/// engine.current().refresh().await?;
/// assert!(engine.current().is_ready());
///
/// // A new configuration (on SIGHUP, say): `cache` added.
/// engine
///     .reload(Engine::builder().readiness("db", ok()).readiness("cache", ok()))
///     .await?;
/// assert!(engine.current().is_ready());
/// assert!(engine.current().snapshot().check("cache").is_some());
///
/// // A bad one changes nothing.
/// let err = engine.reload(Engine::builder().readiness("Bad Name", ok())).await;
/// assert!(err.is_err());
/// assert!(engine.current().snapshot().check("cache").is_some());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ReloadableEngine {
    cell: Arc<Cell>,
}

/// A handle that does not keep the engine alive; see [`ReloadableEngine::downgrade`].
#[derive(Clone, Debug)]
pub struct WeakReloadableEngine {
    cell: Weak<Cell>,
}

struct Cell {
    current: ArcSwap<Engine>,
    /// Counts the swaps: followers re-subscribe to the new engine when it moves.
    reloads: watch::Sender<u64>,
    /// One reload at a time: the second builds on the first's engine. `shutdown` holds it
    /// too, so no reload swaps an engine in while (or after) the instance shuts down.
    reloading: tokio::sync::Mutex<()>,
    /// Set when `shutdown` begins: reloads are refused from then on.
    shut_down: AtomicBool,
}

/// The engine a [`ReloadableEngine`] serves now, borrowed for one read: it touches no
/// reference count and never blocks a reload (a reload that swaps meanwhile leaves it reading
/// the engine it loaded). Hold it for one request, not across awaits.
pub struct CurrentEngine {
    guard: arc_swap::Guard<Arc<Engine>>,
}

impl std::ops::Deref for CurrentEngine {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        &self.guard
    }
}

impl std::fmt::Debug for CurrentEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl std::fmt::Debug for ReloadableEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadableEngine")
            .field("current", &*self.load())
            .field("reloads", &*self.cell.reloads.borrow())
            .finish()
    }
}

impl From<Engine> for ReloadableEngine {
    fn from(engine: Engine) -> Self {
        Self::new(engine)
    }
}

impl ReloadableEngine {
    /// A handle serving `engine` until the first [`reload`](Self::reload).
    pub fn new(engine: Engine) -> Self {
        Self {
            cell: Arc::new(Cell {
                current: ArcSwap::from_pointee(engine),
                reloads: watch::Sender::new(0),
                reloading: tokio::sync::Mutex::new(()),
                shut_down: AtomicBool::new(false),
            }),
        }
    }

    /// The engine serving now, for one read (cheap: no reference count, no lock).
    pub fn load(&self) -> CurrentEngine {
        CurrentEngine {
            guard: self.cell.current.load(),
        }
    }

    /// The engine serving now, as a handle of its own (for [`Engine::add_tenant`], an
    /// [`Auditor`](crate::Auditor), a refresh…). Keep it only as long as you need it: a clone
    /// held keeps a replaced engine's checks running until it is dropped.
    pub fn current(&self) -> Engine {
        Engine::clone(&self.load())
    }

    /// Build `builder`'s engine as the reload of the one serving now, wait for its first
    /// results, and swap it in. Returns once every follower answers from the new engine;
    /// the old one stops when its last clone is dropped (the handle drops its own at the swap).
    ///
    /// - The new engine is built with [`EngineBuilder::reload_from`] the current one (whatever
    ///   `builder` says of it), so the series pass over without a dip or a phantom transition.
    ///   It takes them over at the swap: a scope (the instance, a tenant) whose readiness is
    ///   the same on both sides of the swap counts no transition, one whose readiness differs
    ///   counts one, and the audit log of the new engine starts with those (reason `reload`).
    /// - Before the swap it runs every check once ([`Engine::refresh`], tenants' too) and waits
    ///   until it is ready, at most until each check could have reached its success threshold
    ///   (`timeout + (success_threshold − 1) × (period + jitter)`, the longest of them): a
    ///   ready-to-ready reload never answers 503, and a configuration that is not ready (a new
    ///   check that fails) is swapped in when that wait is over, as it is. While it waits,
    ///   the old engine answers.
    /// - An instance that is draining stays draining: the new engine drains from its first
    ///   moment and is swapped in at once.
    /// - A drain that begins during that wait ends it (a draining engine never turns ready):
    ///   the new engine is swapped in at once, draining.
    /// - Reloads run one at a time; a second waits for the first and builds on its result.
    /// - Once [`shutdown`](Self::shutdown) has begun, a reload swaps nothing in: one in
    ///   flight stops the engine it built, and every reload answers
    ///   [`ConfigProblem::ShutDown`](crate::ConfigProblem::ShutDown), so no check runs after
    ///   the shutdown.
    ///
    /// Tenants added at run time ([`Engine::add_tenant`]) belong to the engine they were added
    /// to: put every tenant the new engine should have in `builder`.
    ///
    /// # Errors
    ///
    /// The builder's [`BuildError`], listing every problem: nothing is swapped, the running
    /// engine keeps serving, and no series is written. After (or racing)
    /// [`shutdown`](Self::shutdown): [`ConfigProblem::ShutDown`](crate::ConfigProblem::ShutDown).
    pub async fn reload(&self, builder: EngineBuilder) -> Result<(), BuildError> {
        let _one_at_a_time = self.cell.reloading.lock().await;
        if self.shutting_down() {
            return Err(shut_down());
        }
        let new = {
            let current = self.load();
            builder.reload_from(&current).takeover_at_swap().build()?
        };
        new.first_results().await;
        if self.shutting_down() {
            new.shutdown().await;
            return Err(shut_down());
        }
        // The series and the audit log pass to the new engine as it starts to serve: what
        // it went through while it was built is no transition of what was served.
        new.take_over_at_swap();
        let old = self.cell.current.swap(Arc::new(new));
        self.cell.reloads.send_modify(|n| *n = n.wrapping_add(1));
        tracing::info!(target: "readiness", "reloaded: the new engine serves");
        drop(old);
        Ok(())
    }

    /// A receiver that changes at every reload (its value counts them): a follower that keeps
    /// state of an engine (a subscription) takes the new engine's when it moves.
    pub fn subscribe_reloads(&self) -> watch::Receiver<u64> {
        self.cell.reloads.subscribe()
    }

    /// A handle that does not keep the engine alive (for bridges and watchers).
    pub fn downgrade(&self) -> WeakReloadableEngine {
        WeakReloadableEngine {
            cell: Arc::downgrade(&self.cell),
        }
    }

    /// [`Engine::drain`] for the process: every engine, the one serving now, any being built
    /// by a reload, and every later one.
    pub fn drain(&self) {
        self.load().drain();
    }

    /// Whether the instance drains ([`Engine::is_draining`]).
    pub fn is_draining(&self) -> bool {
        self.load().is_draining()
    }

    /// [`Engine::close`]: the drain is over, `Watch` streams end.
    pub fn close(&self) {
        self.load().close();
    }

    /// [`Engine::closed`]: resolves when the instance is closed, not at a reload.
    pub fn closed(&self) -> impl Future<Output = ()> + Send + 'static + use<> {
        self.load().closed()
    }

    /// [`Engine::drain_on`], following reloads: the signal drains whichever engine serves
    /// then, and the delay runs once.
    pub fn drain_on<S>(
        &self,
        signal: S,
        delay: Duration,
    ) -> impl Future<Output = ()> + Send + use<S>
    where
        S: Future + Send + 'static,
    {
        self.load().drain_on(signal, delay)
    }

    /// [`Engine::shutdown`] of the engine serving now, after the server has returned. A reload
    /// in flight is refused (the drain this begins with ends its wait) and any later one too:
    /// once this returns, no check of this handle runs.
    pub async fn shutdown(&self) {
        self.cell.shut_down.store(true, Ordering::SeqCst);
        self.drain();
        let _no_reload = self.cell.reloading.lock().await;
        let engine = self.current();
        engine.shutdown().await;
    }

    /// [`shutdown`](Self::shutdown) has begun, here or on the engine serving now.
    fn shutting_down(&self) -> bool {
        self.cell.shut_down.load(Ordering::SeqCst) || self.load().is_shut_down()
    }
}

fn shut_down() -> BuildError {
    BuildError::new(vec![ConfigProblem::ShutDown])
}

impl WeakReloadableEngine {
    /// The handle, if a strong one still exists.
    pub fn upgrade(&self) -> Option<ReloadableEngine> {
        self.cell.upgrade().map(|cell| ReloadableEngine { cell })
    }
}
