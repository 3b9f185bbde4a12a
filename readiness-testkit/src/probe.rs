//! Probes called in-process, without sockets, and assertions that explain themselves.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use readiness_core::Engine;
use readiness_tower::{ReadinessLayer, ReadinessService};
use tower_layer::Layer;
use tower_service::Service;

/// The inner service behind a [`ProbeClient`]: 404 for anything that is not a probe.
#[derive(Clone, Copy, Debug, Default)]
pub struct NotAProbe;

impl Service<Request<Full<Bytes>>> for NotAProbe {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Full<Bytes>>) -> Self::Future {
        let mut res = Response::new(Full::new(Bytes::from_static(b"not a probe\n")));
        *res.status_mut() = StatusCode::NOT_FOUND;
        std::future::ready(Ok(res))
    }
}

/// A probe's answer.
#[derive(Clone, Debug)]
pub struct ProbeResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, as text.
    pub body: String,
}

/// Calls probes in-process, without sockets: on an engine's default layer, on a layer the test
/// configures, or on the whole application ([`ProbeClient::for_service`]).
///
/// By default reasons are withheld, exactly as in production (`ReadinessLayer::new`), so a
/// body asserted here is the body a kubelet or load balancer sees; [`ProbeClient::with_details`]
/// shows them. Its assertions panic with a message that carries the verbose probe body, so a
/// failing test says which check was down.
///
/// ```
/// use readiness_core::{check_fn, Engine};
/// use readiness_testkit::ProbeClient;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let engine = Engine::builder()
///     .readiness("db", check_fn(|| async { Err::<(), _>("connection refused") }))
///     .build()?;
/// engine.refresh().await?;
/// let probes = ProbeClient::new(&engine);
/// probes.assert_not_ready().await;
/// probes.assert_live().await;
/// assert_eq!(probes.get("/readyz").await.body, "[-]db failed: reason withheld\nreadyz check failed\n");
/// let debug = ProbeClient::with_details(&engine);
/// assert_eq!(debug.get("/readyz").await.body, "[-]db failed: connection refused\nreadyz check failed\n");
/// # Ok(()) }
/// ```
///
/// Probing the whole application (business routes included), as a downstream test would:
///
/// ```
/// use axum::{Router, routing::get};
/// use readiness_core::{check_fn, Engine};
/// use readiness_testkit::ProbeClient;
/// use readiness_tower::ReadinessLayer;
/// use tower::ServiceBuilder;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let engine = Engine::builder()
///     .readiness("db", check_fn(|| async { Ok::<(), std::io::Error>(()) }))
///     .build()?;
/// engine.refresh().await?;
/// let router = Router::new().route("/orders", get(|| async { "[]" }));
/// let app = ServiceBuilder::new().layer(ReadinessLayer::new(engine)).service(router);
/// let client = ProbeClient::for_service(app);
/// client.assert_ready().await;
/// assert_eq!(client.get("/orders").await.body, "[]");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ProbeClient<S = ReadinessService<NotAProbe>> {
    service: S,
}

impl<S> fmt::Debug for ProbeClient<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeClient").finish_non_exhaustive()
    }
}

impl ProbeClient {
    /// Probes of `engine` at the default paths, reasons withheld as in production.
    pub fn new(engine: &Engine) -> Self {
        Self::with_layer(ReadinessLayer::new(engine.clone()))
    }

    /// Probes of `engine` at the default paths, with failure reasons shown (a test's view).
    pub fn with_details(engine: &Engine) -> Self {
        let layer = ReadinessLayer::builder(engine.clone())
            .show_details(true)
            .build()
            .expect("the default paths are valid");
        Self::with_layer(layer)
    }

    /// Probes through a layer configured by the test; other paths answer 404.
    pub fn with_layer(layer: ReadinessLayer) -> Self {
        Self {
            service: layer.layer(NotAProbe),
        }
    }
}

impl<S, B> ProbeClient<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone,
    S::Error: fmt::Debug,
    B: http_body::Body,
    B::Error: fmt::Debug,
{
    /// Requests go to `service`: typically the whole application with the layer outermost, so
    /// a test sees probes and business routes as a client would.
    pub fn for_service(service: S) -> Self {
        Self { service }
    }

    /// Send a request, driving the service as a server does (`poll_ready`, then `call`).
    /// Panics with the error if the service fails.
    pub async fn request(&self, req: Request<Full<Bytes>>) -> ProbeResponse {
        let mut svc = self.service.clone();
        if let Err(e) = std::future::poll_fn(|cx| svc.poll_ready(cx)).await {
            panic!("ProbeClient: the service is not ready: {e:?}");
        }
        let res = match svc.call(req).await {
            Ok(res) => res,
            Err(e) => panic!("ProbeClient: the service failed: {e:?}"),
        };
        let status = res.status();
        let headers = res.headers().clone();
        let body = match res.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => panic!("ProbeClient: reading the body failed: {e:?}"),
        };
        ProbeResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// `GET uri`.
    pub async fn get(&self, uri: &str) -> ProbeResponse {
        let req = match Request::get(uri).body(Full::default()) {
            Ok(r) => r,
            Err(e) => panic!("ProbeClient::get: invalid URI {uri:?}: {e}"),
        };
        self.request(req).await
    }

    /// Whether `GET uri` answers at once, without the clock moving: probes never wait on a
    /// check. Returns the answer, or `None` if it would have had to wait.
    pub fn get_now(&self, uri: &str) -> Option<ProbeResponse> {
        let fut = self.get(uri);
        let mut fut = std::pin::pin!(fut);
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        match Pin::as_mut(&mut fut).poll(&mut cx) {
            Poll::Ready(r) => Some(r),
            Poll::Pending => None,
        }
    }

    /// Panic unless `GET path` answers `status`; the message carries `path?verbose`'s body.
    pub async fn assert_status(&self, path: &str, status: u16) {
        let res = self.get(path).await;
        if res.status.as_u16() != status {
            let sep = if path.contains('?') { '&' } else { '?' };
            let verbose = self.get(&format!("{path}{sep}verbose")).await;
            panic!(
                "GET {path}: expected {status}, got {}\n--- GET {path}{sep}verbose ({}) ---\n{}",
                res.status.as_u16(),
                verbose.status.as_u16(),
                verbose.body
            );
        }
    }

    /// Panic unless `/readyz` answers 200.
    pub async fn assert_ready(&self) {
        self.assert_status("/readyz", 200).await;
    }

    /// Panic unless `/readyz` answers 503.
    pub async fn assert_not_ready(&self) {
        self.assert_status("/readyz", 503).await;
    }

    /// Panic unless `/livez` answers 200.
    pub async fn assert_live(&self) {
        self.assert_status("/livez", 200).await;
    }
}
