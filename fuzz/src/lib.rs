//! What the fuzz targets share.

use std::sync::OnceLock;

use readiness_core::{Engine, EngineBuilder};
use tokio::runtime::Runtime;

/// A current-thread runtime with time and I/O, for the targets' engines and services.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// What a target builds once per process and reuses for every input: a [`runtime`] and what
/// runs on it.
pub struct World<T> {
    pub runtime: Runtime,
    pub state: T,
}

impl<T> World<T> {
    /// The world in `cell`, built on the first call: `init` makes the state with the new
    /// runtime (to `block_on` or `enter`).
    pub fn once(cell: &'static OnceLock<Self>, init: impl FnOnce(&Runtime) -> T) -> &'static Self {
        cell.get_or_init(|| {
            let runtime = runtime();
            let state = init(&runtime);
            Self { runtime, state }
        })
    }
}

/// What a target sends its inputs to, made from an engine that is kept alive beside it.
pub struct Served<S> {
    pub service: S,
    _engine: Engine,
}

impl<S> Served<S> {
    /// The engine `builder` makes, on `runtime`, refreshed once; then `serve` makes the service
    /// from it.
    pub fn new(
        runtime: &Runtime,
        builder: EngineBuilder,
        serve: impl FnOnce(&Engine) -> S,
    ) -> Self {
        runtime.block_on(async {
            let engine = builder.build().expect("an engine");
            engine.refresh().await.expect("runs");
            Self {
                service: serve(&engine),
                _engine: engine,
            }
        })
    }
}
