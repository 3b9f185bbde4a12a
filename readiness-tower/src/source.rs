//! [`EngineSource`]: what the layer and the gRPC health service follow, one engine or a
//! [`ReloadableEngine`].

use readiness_core::{CurrentEngine, Engine, ReloadableEngine};
#[cfg(feature = "grpc")]
use readiness_core::{WeakEngine, WeakReloadableEngine, watch};

/// What a [`ReadinessLayer`](crate::ReadinessLayer) (or the gRPC health service) serves: one
/// [`Engine`], or a [`ReloadableEngine`] whose engine a reload swaps while the server runs.
/// Both convert into it, so `ReadinessLayer::new(engine)` takes either.
///
/// Following a plain engine costs nothing over holding it; following a reloadable one costs
/// one load of its pointer per request.
#[derive(Clone, Debug)]
pub struct EngineSource(Source);

#[derive(Clone, Debug)]
enum Source {
    Fixed(Engine),
    Reloadable(ReloadableEngine),
}

impl From<Engine> for EngineSource {
    fn from(engine: Engine) -> Self {
        Self(Source::Fixed(engine))
    }
}

impl From<&Engine> for EngineSource {
    fn from(engine: &Engine) -> Self {
        Self(Source::Fixed(engine.clone()))
    }
}

impl From<ReloadableEngine> for EngineSource {
    fn from(engine: ReloadableEngine) -> Self {
        Self(Source::Reloadable(engine))
    }
}

impl From<&ReloadableEngine> for EngineSource {
    fn from(engine: &ReloadableEngine) -> Self {
        Self(Source::Reloadable(engine.clone()))
    }
}

/// The engine serving now, for one request.
pub(crate) enum Loaded<'a> {
    Fixed(&'a Engine),
    Current(CurrentEngine),
}

impl std::ops::Deref for Loaded<'_> {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        match self {
            Loaded::Fixed(e) => e,
            Loaded::Current(e) => e,
        }
    }
}

impl EngineSource {
    /// The engine serving now.
    pub(crate) fn load(&self) -> Loaded<'_> {
        match &self.0 {
            Source::Fixed(e) => Loaded::Fixed(e),
            Source::Reloadable(r) => Loaded::Current(r.load()),
        }
    }

    /// The engine serving now, as a handle of its own.
    pub fn current(&self) -> Engine {
        Engine::clone(&self.load())
    }

    #[cfg(feature = "grpc")]
    pub(crate) fn downgrade(&self) -> WeakSource {
        match &self.0 {
            Source::Fixed(e) => WeakSource::Fixed(e.downgrade()),
            Source::Reloadable(r) => WeakSource::Reloadable(r.downgrade()),
        }
    }
}

/// A source that keeps nothing alive (the gRPC service's).
#[cfg(feature = "grpc")]
#[derive(Clone, Debug)]
pub(crate) enum WeakSource {
    Fixed(WeakEngine),
    Reloadable(WeakReloadableEngine),
}

#[cfg(feature = "grpc")]
impl WeakSource {
    /// The engine serving now, if it is still there.
    pub(crate) fn engine(&self) -> Option<Engine> {
        match self {
            WeakSource::Fixed(w) => w.upgrade(),
            WeakSource::Reloadable(w) => w.upgrade().map(|r| r.current()),
        }
    }

    /// Changes at every reload; `None` for a plain engine, which is never replaced.
    pub(crate) fn reloads(&self) -> Option<watch::Receiver<u64>> {
        match self {
            WeakSource::Fixed(_) => None,
            WeakSource::Reloadable(w) => w.upgrade().map(|r| r.subscribe_reloads()),
        }
    }
}
