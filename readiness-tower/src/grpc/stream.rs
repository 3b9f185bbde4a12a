//! `Watch`: one stream per call, woken by the engine's transitions, the reporter's changes and
//! reloads (the stream then follows the new engine), ended when the engine is closed.
//!
//! The streams of one service share their wake-ups: one wait on the engine's channels per kind
//! of name (the engine's own names, tenants, application services), fanned out to every stream
//! of that kind. A stream holds its name, its last status and a clone of that shared wait, not
//! channel waiters of its own: 10,000 streams cost the engine three waiters.
//!
//! A reload of a [`ReloadableEngine`](readiness_core::ReloadableEngine) ends the shared waits
//! (they wait on its swap too), and the next ones are taken on the engine serving then: a
//! stream reads its status from the new engine and sends it only if it differs from what it
//! last sent. Only the close of the instance (the lineage's, which a reload does not resolve)
//! or the last handle gone ends a stream.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use futures_util::Stream;
use futures_util::future::{FutureExt, Shared};
use readiness_core::Engine;
use tokio::sync::watch;
use tonic::Status;

use super::pb::HealthCheckResponse;
use super::pb::health_check_response::ServingStatus;
use super::status::{Apps, Target, response, status_of};
use crate::source::WeakSource;

/// The stream a `Watch` call answers with.
pub(crate) type WatchStream =
    Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send + 'static>>;

/// One wait for a change, shared by every stream of a kind: `true` once something changed
/// (a reload and an engine going away included: read again, from whatever serves then),
/// `false` once the instance is closed.
type Change = Shared<Pin<Box<dyn Future<Output = bool> + Send>>>;

/// What a name's status can change with, beside the engine's aggregate, reloads and the close.
#[derive(Clone, Copy)]
enum Kind {
    /// `""`, `readiness`, `liveness`, `startup`: the aggregate alone.
    Engine = 0,
    /// `tenants/{id}`: also the engine's tenant events.
    Tenants = 1,
    /// An application service: also the reporter.
    Apps = 2,
}

impl Kind {
    fn of(target: Target<'_>) -> Self {
        match target {
            Target::Readiness | Target::Liveness | Target::Startup => Self::Engine,
            Target::Tenant(_) => Self::Tenants,
            Target::App(_) => Self::Apps,
        }
    }
}

/// The service's wake-ups: the current wait of each [`Kind`].
pub(crate) struct Changes {
    source: WeakSource,
    apps: Arc<watch::Sender<Apps>>,
    current: [Mutex<Option<Change>>; 3],
}

impl Changes {
    pub(crate) fn new(source: WeakSource, apps: Arc<watch::Sender<Apps>>) -> Self {
        Self {
            source,
            apps,
            current: Default::default(),
        }
    }

    /// The wait that any change from now on ends; `None` once the engine is gone (a plain
    /// engine dropped, or every handle of a reloadable one).
    fn next(&self, kind: Kind) -> Option<Change> {
        let mut slot = self.current[kind as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(change) = slot.as_ref().filter(|c| c.peek().is_none()) {
            return Some(change.clone());
        }
        // Reloads first, then the engine: a swap between the two ends the wait at once.
        let reloads = self.source.reloads();
        let engine = self.source.engine()?;
        let change = wait(&engine, reloads, kind, &self.apps).shared();
        *slot = Some(change.clone());
        Some(change)
    }
}

/// A wait for the next change of `kind` on `engine` (or the next reload), subscribed now (so
/// that a change after this call ends it) and holding no strong handle on the engine.
fn wait(
    engine: &Engine,
    reloads: Option<watch::Receiver<u64>>,
    kind: Kind,
    apps: &watch::Sender<Apps>,
) -> Pin<Box<dyn Future<Output = bool> + Send>> {
    // The instance's close (a reload's lineage), not this engine's: a reload does not end it.
    let closed = engine.closed();
    let mut aggregate = engine.subscribe();
    let mut tenants = matches!(kind, Kind::Tenants).then(|| engine.subscribe_tenants());
    let mut apps = matches!(kind, Kind::Apps).then(|| apps.subscribe());
    let mut reloads = reloads;
    Box::pin(async move {
        let tenant = async {
            match &mut tenants {
                // Any tenant's event, missed events or the engine gone: each stream reads its
                // own again.
                Some(rx) => {
                    let _ = rx.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        let app = async {
            match &mut apps {
                Some(rx) => rx.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        let reloaded = async {
            match &mut reloads {
                // A swap, or the reloadable handle gone (the next wait finds out which).
                Some(rx) => {
                    let _ = rx.changed().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = closed => false,
            () = reloaded => true,
            // Closed when this engine goes (replaced, or dropped): the next wait follows the
            // engine serving then, or finds none.
            _ = aggregate.changed() => true,
            () = tenant => true,
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
    /// The status now, from the engine serving now; `SERVICE_UNKNOWN` for a service that does
    /// not exist (yet).
    fn current(&self) -> ServingStatus {
        let engine = self.changes.source.engine();
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
                this.change = this.changes.next(Kind::of(Target::parse(&this.name)));
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
