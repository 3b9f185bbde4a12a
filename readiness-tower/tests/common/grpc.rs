//! The gRPC side: tonic servers on loopback with our health service, clients connected to
//! them, and the calls the tests make, each bounded.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use readiness_core::Engine;
use readiness_tower::ReadinessLayer;
use readiness_tower::grpc::pb::health_client::HealthClient;
use readiness_tower::grpc::pb::{HealthCheckRequest, HealthCheckResponse, HealthListRequest};
use readiness_tower::grpc::{HealthReporter, HealthService, ServingStatus};
use tokio::task::JoinHandle;
use tonic::Code;
use tonic::codec::Streaming;
use tonic::transport::Channel;
use tonic::transport::server::{Router, TcpIncoming};

pub const SERVING: ServingStatus = ServingStatus::Serving;
pub const NOT_SERVING: ServingStatus = ServingStatus::NotServing;
pub const UNKNOWN: ServingStatus = ServingStatus::ServiceUnknown;
/// A bound on every wait: a hang fails the test instead of stalling the suite.
pub const BOUND: Duration = Duration::from_secs(10);

/// A server the tests talk to, and a client connected to it.
pub struct Server {
    pub addr: SocketAddr,
    pub client: HealthClient<Channel>,
    pub reporter: HealthReporter,
    pub task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Server {
    /// Waits (bounded) for the server to return, as it does once `closed` resolved.
    pub async fn stopped(self, what: &str) {
        tokio::time::timeout(BOUND, self.task)
            .await
            .unwrap_or_else(|_| panic!("{what}"))
            .expect("join")
            .expect("serve");
    }
}

/// A tonic server on loopback with the layer (HTTP/1.1 probes accepted) and our health
/// service, stopping when the engine is closed, and a client connected to it.
pub async fn serve(engine: &Engine, health: HealthService) -> Server {
    let layer = ReadinessLayer::new(engine.clone());
    serve_until(layer, health, engine.closed()).await
}

/// [`serve`] with any layer, stopping when `closed` resolves.
pub async fn serve_until(
    layer: ReadinessLayer,
    health: HealthService,
    closed: impl Future<Output = ()> + Send + 'static,
) -> Server {
    let reporter = health.reporter();
    let router = tonic::transport::Server::builder()
        .accept_http1(true)
        .layer(layer)
        .add_service(health.into_server());
    let (addr, task) = spawn_router(router, closed).await;
    Server {
        addr,
        client: connect(addr).await,
        reporter,
        task,
    }
}

/// Our health service alone (no layer) on loopback, served until the test ends it (not by
/// the engine's close); its address and task.
pub async fn serve_alone(
    health: readiness_tower::grpc::pb::health_server::HealthServer<HealthService>,
) -> (SocketAddr, JoinHandle<Result<(), tonic::transport::Error>>) {
    let router = tonic::transport::Server::builder().add_service(health);
    spawn_router(router, std::future::pending()).await
}

/// Serves `router` on a free loopback port until `closed` resolves; its address and task.
pub async fn spawn_router<L>(
    router: Router<L>,
    closed: impl Future<Output = ()> + Send + 'static,
) -> (SocketAddr, JoinHandle<Result<(), tonic::transport::Error>>)
where
    L: tower::Layer<tonic::service::Routes> + Send + 'static,
    L::Service: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
        > + Clone
        + Send
        + Sync
        + 'static,
    <L::Service as tower::Service<http::Request<tonic::body::Body>>>::Future: Send + 'static,
    <L::Service as tower::Service<http::Request<tonic::body::Body>>>::Error:
        Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    let (l, addr) = super::loopback().await;
    let task = tokio::spawn(router.serve_with_incoming_shutdown(TcpIncoming::from(l), closed));
    (addr, task)
}

/// A client of the server at `addr`.
pub async fn connect(addr: SocketAddr) -> HealthClient<Channel> {
    HealthClient::new(channel_to(addr, None).await)
}

/// A channel to `addr`, with this HTTP/2 stream window when one is given.
pub async fn channel_to(addr: SocketAddr, stream_window: Option<u32>) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("uri")
        .initial_stream_window_size(stream_window)
        .connect()
        .await
        .expect("connect")
}

pub fn req(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

/// Check of `service`: its status, or the call's error code.
pub async fn check(
    client: &mut HealthClient<Channel>,
    service: &str,
) -> Result<ServingStatus, Code> {
    match client.check(req(service)).await {
        Ok(r) => Ok(r.into_inner().status()),
        Err(status) => Err(status.code()),
    }
}

/// A Watch of `service`; the call itself must succeed.
pub async fn watch(
    client: &mut HealthClient<Channel>,
    service: &str,
) -> Streaming<HealthCheckResponse> {
    client
        .watch(req(service))
        .await
        .expect("watch")
        .into_inner()
}

/// The next message of a Watch stream, or `None` when it ended.
pub async fn next(stream: &mut Streaming<HealthCheckResponse>) -> Option<ServingStatus> {
    tokio::time::timeout(BOUND, stream.message())
        .await
        .expect("a message or the end arrives in time")
        .expect("no stream error")
        .map(|r| r.status())
}

/// Every message of a Watch stream up to its end.
pub async fn rest(stream: &mut Streaming<HealthCheckResponse>) -> Vec<ServingStatus> {
    let mut out = Vec::new();
    while let Some(s) = next(stream).await {
        out.push(s);
    }
    out
}

/// List: every name and its status, or the call's error code.
pub async fn list(
    client: &mut HealthClient<Channel>,
) -> Result<HashMap<String, ServingStatus>, Code> {
    match client.list(HealthListRequest {}).await {
        Ok(r) => Ok(r
            .into_inner()
            .statuses
            .into_iter()
            .map(|(k, v)| (k, v.status()))
            .collect()),
        Err(status) => Err(status.code()),
    }
}

/// Wait (bounded) until Check of `service` answers `want`.
pub async fn eventually(
    client: &mut HealthClient<Channel>,
    service: &str,
    want: Result<ServingStatus, Code>,
) {
    for _ in 0..1000 {
        if check(client, service).await == want {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{service:?} never answered {want:?}");
}
