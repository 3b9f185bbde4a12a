//! The `grpc.health.v1.Health` service: `Check`, `Watch` and `List`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use readiness_core::Engine;
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use super::pb::health_server::{Health, HealthServer};
use super::pb::{HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse};
use super::reporter::HealthReporter;
use super::status::{Apps, Target, response, status_of};
use super::stream::{Changes, WatchStream, watch_stream};
use super::{LIVENESS, MAX_SERVICE_NAME_LEN, READINESS, STARTUP, tenant_service};
use crate::source::{EngineSource, WeakSource};

/// How many services `List` answers at most, as in the spec and grpc-go.
const DEFAULT_LIST_LIMIT: usize = 100;

/// The engine's own services: `""`, `readiness`, `liveness` and `startup`.
const BUILT_IN: [&str; 4] = ["", READINESS, LIVENESS, STARTUP];

/// The `grpc.health.v1.Health` service following an engine (see the [module docs](super)).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use readiness_tower::grpc::HealthService;
///
/// let engine = readiness_core::Engine::builder().without_heartbeat().build()?;
/// let health = HealthService::new(&engine).list_limit(1_000);
/// let reporter = health.reporter();
/// reporter.set_serving("helloworld.Greeter")?;
/// let server = health.into_server();
/// # let _ = server;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HealthService {
    engine: WeakSource,
    apps: Arc<watch::Sender<Apps>>,
    changes: Arc<Changes>,
    list_limit: usize,
}

impl fmt::Debug for HealthService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthService")
            .field("list_limit", &self.list_limit)
            .finish_non_exhaustive()
    }
}

/// The health service for `engine` (an [`Engine`] or a
/// [`ReloadableEngine`](readiness_core::ReloadableEngine), whose reloads it follows), ready
/// for `Server::add_service`, and the reporter for the application's own services. Needs no
/// runtime and spawns nothing.
///
/// ```
/// # fn f(engine: readiness_core::Engine) {
/// let (health, reporter) = readiness_tower::grpc::health_service(&engine);
/// # let _ = (health, reporter);
/// # }
/// ```
pub fn health_service(
    engine: impl Into<EngineSource>,
) -> (HealthServer<HealthService>, HealthReporter) {
    let service = HealthService::new(engine);
    let reporter = service.reporter();
    (service.into_server(), reporter)
}

impl HealthService {
    /// A service following `engine` (an [`Engine`] or a
    /// [`ReloadableEngine`](readiness_core::ReloadableEngine)); it holds a weak handle only.
    pub fn new(engine: impl Into<EngineSource>) -> Self {
        let engine = engine.into().downgrade();
        let apps = Arc::new(watch::Sender::new(Apps::new()));
        Self {
            changes: Arc::new(Changes::new(engine.clone(), apps.clone())),
            engine,
            apps,
            list_limit: DEFAULT_LIST_LIMIT,
        }
    }

    /// How many services `List` answers before it gives `RESOURCE_EXHAUSTED` (default 100).
    /// Count the four built-in names, every tenant and every application service.
    pub fn list_limit(mut self, n: usize) -> Self {
        self.list_limit = n;
        self
    }

    /// The handle that sets the application's own services.
    pub fn reporter(&self) -> HealthReporter {
        HealthReporter::new(self.apps.clone())
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> HealthServer<Self> {
        HealthServer::new(self)
    }

    fn list(&self) -> Result<HashMap<String, HealthCheckResponse>, Status> {
        let engine = self.engine.engine();
        let apps = self.apps.borrow();
        let engine = engine.as_ref();
        let exhausted = |n: usize| {
            Status::resource_exhausted(format!(
                "{n} health services, more than the limit of {}",
                self.list_limit
            ))
        };
        // Counted before anything is built: a large fleet costs nothing to refuse.
        let count = BUILT_IN.len() + engine.map_or(0, Engine::tenant_count) + apps.len();
        if count > self.list_limit {
            return Err(exhausted(count));
        }
        let mut out = HashMap::with_capacity(count);
        for name in BUILT_IN {
            if let Some(s) = status_of(engine, &apps, Target::parse(name)) {
                out.insert(name.to_owned(), response(s));
            }
        }
        for id in engine.map(Engine::tenant_ids).unwrap_or_default() {
            // A tenant removed meanwhile is left out: List is a non-atomic snapshot.
            if let Some(s) = status_of(engine, &apps, Target::Tenant(&id)) {
                out.insert(tenant_service(&id), response(s));
            }
        }
        for name in apps.keys() {
            if let Some(s) = status_of(engine, &apps, Target::App(name)) {
                out.insert(name.to_string(), response(s));
            }
        }
        if out.len() > self.list_limit {
            return Err(exhausted(out.len()));
        }
        Ok(out)
    }
}

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let target = Target::parse(&request.get_ref().service);
        let engine = self.engine.engine();
        match status_of(engine.as_ref(), &self.apps.borrow(), target) {
            Some(s) => Ok(Response::new(response(s))),
            // No echo of the name: it is client input of any length.
            None => Err(Status::not_found("unknown health service")),
        }
    }

    async fn list(
        &self,
        _request: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        let statuses = HealthService::list(self)?;
        Ok(Response::new(HealthListResponse { statuses }))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let name = request.into_inner().service;
        // A stream keeps its name for its life: one no service can have is refused, its bytes
        // freed here, never echoed.
        if name.len() > MAX_SERVICE_NAME_LEN {
            return Err(Status::invalid_argument(format!(
                "health service name of {} bytes, longer than any service ({MAX_SERVICE_NAME_LEN})",
                name.len()
            )));
        }
        Ok(Response::new(watch_stream(name, self.changes.clone())))
    }
}
