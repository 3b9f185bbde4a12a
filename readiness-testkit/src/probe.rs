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

/// Calls probes on a [`ReadinessLayer`] in-process: no socket, no server.
///
/// Its assertions panic with a message that carries the verbose probe body, so a failing test
/// says which check was down and why.
///
/// ```
/// use readiness_core::{check_fn, Engine};
/// use readiness_testkit::ProbeClient;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let engine = Engine::builder()
///     .readiness("db", check_fn(|| async { Ok::<(), std::io::Error>(()) }))
///     .build()?;
/// engine.refresh().await?;
/// let probes = ProbeClient::new(&engine);
/// probes.assert_ready().await;
/// probes.assert_live().await;
/// assert_eq!(probes.get("/readyz?verbose").await.body, "[+]db ok\nreadyz check passed\n");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ProbeClient {
    service: ReadinessService<NotAProbe>,
}

impl fmt::Debug for ProbeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeClient").finish_non_exhaustive()
    }
}

impl ProbeClient {
    /// Probes of `engine` at the default paths, with failure reasons shown.
    pub fn new(engine: &Engine) -> Self {
        Self::with_layer(ReadinessLayer::new(engine.clone()).show_details(true))
    }

    /// Probes through a layer configured by the test.
    pub fn with_layer(layer: ReadinessLayer) -> Self {
        Self {
            service: layer.layer(NotAProbe),
        }
    }

    /// Send a request.
    pub async fn request(&self, req: Request<Full<Bytes>>) -> ProbeResponse {
        let mut svc = self.service.clone();
        let res = match svc.call(req).await {
            Ok(res) => res,
            Err(never) => match never {},
        };
        let status = res.status();
        let headers = res.headers().clone();
        let body = match res.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(never) => match never {},
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
