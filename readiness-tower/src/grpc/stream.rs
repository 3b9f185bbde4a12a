//! `Watch`: one stream per call, woken by the engine's transitions and the reporter's changes,
//! ended when the engine is closed.
//!
//! The streams of one service share their wake-ups: one wait on the engine's channels per kind
//! of name (the engine's own names, tenants, application services), fanned out to every stream
//! of that kind. A stream holds its name, its last status and a clone of that shared wait, not
//! channel waiters of its own: 10,000 streams cost the engine three waiters.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use futures_util::Stream;
use futures_util::future::{FutureExt, Shared};
use readiness_core::{Engine, WeakEngine};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tonic::Status;

use super::ServingStatus;
use super::pb::HealthCheckResponse;
use super::service::response;
use super::status::{Apps, Target, status_of};

/// The stream a `Watch` call answers with.
pub(crate) type WatchStream =
    Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send + 'static>>;

/// One wait for a change, shared by every stream of a kind: `true` once something changed,
/// `false` once the engine is closed or gone.
type Change = Shared<Pin<Box<dyn Future<Output = bool> + Send>>>;

/// What a name's status can change with, beside the engine's aggregate and its close.
#[derive(Clone, Copy)]
enum Source {
    /// `""`, `readiness`, `liveness`, `startup`: the aggregate alone.
    Engine = 0,
    /// `tenants/{id}`: also the engine's tenant events.
    Tenants = 1,
    /// An application service: also the reporter.
    Apps = 2,
}

impl Source {
    fn of(target: Target<'_>) -> Self {
        match target {
            Target::Readiness | Target::Liveness | Target::Startup => Self::Engine,
            Target::Tenant(_) => Self::Tenants,
            Target::App(_) => Self::Apps,
        }
    }
}

/// The service's wake-ups: the current wait of each [`Source`].
pub(crate) struct Changes {
    engine: WeakEngine,
    apps: Arc<watch::Sender<Apps>>,
    current: [Mutex<Option<Change>>; 3],
}

impl Changes {
    pub(crate) fn new(engine: WeakEngine, apps: Arc<watch::Sender<Apps>>) -> Self {
        Self {
            engine,
            apps,
            current: Default::default(),
        }
    }

    /// The wait that any change from now on ends; `None` once the engine is gone.
    fn next(&self, source: Source) -> Option<Change> {
        let mut slot = self.current[source as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(change) = slot.as_ref().filter(|c| c.peek().is_none()) {
            return Some(change.clone());
        }
        let engine = self.engine.upgrade()?;
        let change = wait(&engine, source, &self.apps).shared();
        *slot = Some(change.clone());
        Some(change)
    }
}

/// A wait for the next change of `source`, subscribed now (so that a change after this call
/// ends it) and holding no strong handle on the engine.
fn wait(
    engine: &Engine,
    source: Source,
    apps: &watch::Sender<Apps>,
) -> Pin<Box<dyn Future<Output = bool> + Send>> {
    let closed = engine.closed();
    let mut aggregate = engine.subscribe();
    let mut tenants = matches!(source, Source::Tenants).then(|| engine.subscribe_tenants());
    let mut apps = matches!(source, Source::Apps).then(|| apps.subscribe());
    Box::pin(async move {
        let tenant = async {
            match &mut tenants {
                // Any tenant's event (or missed events): each stream reads its own again.
                Some(rx) => !matches!(rx.recv().await, Err(RecvError::Closed)),
                None => std::future::pending().await,
            }
        };
        let app = async {
            match &mut apps {
                Some(rx) => rx.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = closed => false,
            changed = aggregate.changed() => changed.is_ok(),
            alive = tenant => alive,
            alive = app => alive,
        }
    })
}

/// One `Watch` stream: its name, the wait taken before its last read, and what it last sent.
struct Watcher {
    name: Box<str>,
    changes: Arc<Changes>,
    change: Option<Change>,
    /// The engine is closed or gone: send what changed, then end.
    ending: bool,
    ended: bool,
    last: Option<ServingStatus>,
}

pub(crate) fn watch_stream(name: String, changes: Arc<Changes>) -> WatchStream {
    Box::pin(Watcher {
        name: name.into_boxed_str(),
        changes,
        change: None,
        ending: false,
        ended: false,
        last: None,
    })
}

impl Watcher {
    /// The status now; `SERVICE_UNKNOWN` for a service that does not exist (yet).
    fn current(&self) -> ServingStatus {
        let engine = self.changes.engine.upgrade();
        let apps = self.changes.apps.borrow();
        status_of(engine.as_ref(), &apps, Target::parse(&self.name))
            .unwrap_or(ServingStatus::ServiceUnknown)
    }
}

impl Stream for Watcher {
    type Item = Result<HealthCheckResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            if let Some(change) = &mut this.change {
                let alive = ready!(change.poll_unpin(cx));
                this.ending |= !alive;
                this.change = None;
            }
            // The wait is taken before the read, so a change after the read ends it.
            if !this.ending {
                this.change = this.changes.next(Source::of(Target::parse(&this.name)));
                this.ending = this.change.is_none();
            }
            let now = this.current();
            if this.last != Some(now) {
                this.last = Some(now);
                return Poll::Ready(Some(Ok(response(now))));
            }
            this.ended = this.ending;
        }
    }
}
