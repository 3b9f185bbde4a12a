//! `Watch`: one stream per call, woken by the engine's transitions, the reporter's changes and
//! reloads (the stream then follows the new engine), ended when the engine is closed.

use std::future::Future;
use std::pin::Pin;

use futures_util::Stream;
use readiness_core::{Aggregate, Engine, TenantEvent};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tonic::Status;

use super::pb::HealthCheckResponse;
use super::pb::health_check_response::ServingStatus;
use super::status::{Apps, Target, response, status_of};
use crate::source::WeakSource;

/// The stream a `Watch` call answers with.
pub(crate) type WatchStream =
    Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send + 'static>>;

struct Watcher {
    name: String,
    engine: WeakSource,
    apps: watch::Receiver<Apps>,
    /// Changes at every reload of a reloadable engine (`None` for a plain one).
    reloads: Option<watch::Receiver<u64>>,
    /// `None` once the engine is gone (or if it was gone at the start).
    aggregate: Option<watch::Receiver<Aggregate>>,
    /// Only for a `tenants/{id}` service.
    tenants: Option<broadcast::Receiver<TenantEvent>>,
    closed: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// The engine is closed or gone: send what changed, then end.
    ending: bool,
    last: Option<ServingStatus>,
}

pub(crate) fn watch_stream(
    name: String,
    engine: WeakSource,
    apps: watch::Receiver<Apps>,
) -> WatchStream {
    // Subscribe before the first read, so that no change between the two is missed.
    let reloads = engine.reloads();
    let strong = engine.engine();
    let closed: Pin<Box<dyn Future<Output = ()> + Send>> = match &strong {
        // The close of the instance (a reload's lineage), not of one engine: a stream carries
        // on across reloads.
        Some(e) => Box::pin(e.closed()),
        None => Box::pin(std::future::ready(())),
    };
    let mut watcher = Watcher {
        name,
        engine,
        apps,
        reloads,
        aggregate: None,
        tenants: None,
        closed,
        ending: false,
        last: None,
    };
    watcher.subscribe(strong.as_ref());
    // The stream holds no strong handle: a watcher never keeps the engine alive.
    drop(strong);
    Box::pin(futures_util::stream::unfold(watcher, |mut w| async move {
        let next = w.next().await?;
        Some((Ok(response(next)), w))
    }))
}

impl Watcher {
    /// Follow `engine`'s transitions (the engine serving now).
    fn subscribe(&mut self, engine: Option<&Engine>) {
        self.tenants = match (engine, Target::parse(&self.name)) {
            (Some(e), Target::Tenant(_)) => Some(e.subscribe_tenants()),
            _ => None,
        };
        self.aggregate = engine.map(Engine::subscribe);
    }

    /// The engine's channels closed or a reload swapped it: follow the engine serving now,
    /// or end when there is none (a plain engine dropped, or every handle gone).
    fn follow(&mut self) {
        let engine = match &mut self.reloads {
            Some(rx) => {
                rx.borrow_and_update();
                self.engine.engine()
            }
            None => None,
        };
        match engine {
            Some(e) => self.subscribe(Some(&e)),
            None => self.ending = true,
        }
    }

    /// The status now; `SERVICE_UNKNOWN` for a service that does not exist (yet). Marks the
    /// wake-up sources seen first, so a change after the read wakes the stream again.
    fn current(&mut self) -> ServingStatus {
        if let Some(rx) = &mut self.aggregate {
            rx.borrow_and_update();
        }
        let engine = self.engine.engine();
        let apps = self.apps.borrow_and_update();
        status_of(engine.as_ref(), &apps, Target::parse(&self.name))
            .unwrap_or(ServingStatus::ServiceUnknown)
    }

    /// The next status to send, or `None` when the stream ends.
    async fn next(&mut self) -> Option<ServingStatus> {
        loop {
            let now = self.current();
            if self.last != Some(now) {
                self.last = Some(now);
                return Some(now);
            }
            if self.ending {
                return None;
            }
            self.wake().await;
        }
    }

    /// Wait for anything that may change the status.
    async fn wake(&mut self) {
        let Self {
            name,
            aggregate,
            tenants,
            apps,
            reloads,
            closed,
            ending,
            ..
        } = self;
        let id = match Target::parse(name) {
            Target::Tenant(id) => Some(id),
            _ => None,
        };
        let aggregate_changed = async {
            match aggregate {
                Some(rx) => rx.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        let tenant_changed = async {
            let Some(rx) = tenants else {
                return std::future::pending().await;
            };
            loop {
                match rx.recv().await {
                    Ok(e) if Some(&*e.tenant) == id => return true,
                    Ok(_) => {}
                    // Missed events: read the tenant again.
                    Err(RecvError::Lagged(_)) => return true,
                    Err(RecvError::Closed) => return false,
                }
            }
        };
        let reloaded = async {
            match reloads {
                Some(rx) => {
                    let _ = rx.changed().await;
                }
                None => std::future::pending().await,
            }
        };
        let mut follow = false;
        tokio::select! {
            biased;
            () = closed.as_mut() => *ending = true,
            // A reload comes before the old engine's channels close: follow the new one.
            () = reloaded => follow = true,
            alive = aggregate_changed => follow = !alive,
            alive = tenant_changed => follow = !alive,
            alive = async { apps.changed().await.is_ok() } => *ending |= !alive,
        }
        if follow {
            self.follow();
        }
    }
}
