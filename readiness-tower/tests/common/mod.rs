//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use readiness_core::{CheckFailure, CheckSpec, Engine, check_fn};
use readiness_tower::ReadinessLayer;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// A switchable check.
#[derive(Clone)]
pub struct Flag(pub Arc<AtomicBool>);

impl Flag {
    pub fn new(ok: bool) -> Self {
        Self(Arc::new(AtomicBool::new(ok)))
    }
    pub fn set(&self, ok: bool) {
        self.0.store(ok, Ordering::SeqCst);
    }
    pub fn spec(&self, name: &str) -> CheckSpec {
        self.spec_of(name, readiness_core::Kind::Readiness)
    }
    pub fn spec_of(&self, name: &str, kind: readiness_core::Kind) -> CheckSpec {
        let flag = self.0.clone();
        CheckSpec::new(
            name,
            kind,
            check_fn(move || {
                let ok = flag.load(Ordering::SeqCst);
                async move {
                    if ok {
                        Ok(())
                    } else {
                        Err(CheckFailure::new("connection refused"))
                    }
                }
            }),
        )
        .period(Duration::from_secs(1))
        .jitter(Duration::ZERO)
        .failure_threshold(1)
    }
}

/// The inner service: echoes method, path and query so tests can see it was reached.
pub fn app() -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send,
> + Clone {
    service_fn(|req: Request<Full<Bytes>>| async move {
        let text = format!("inner {} {}", req.method(), req.uri());
        let mut res = Response::new(Full::new(Bytes::from(text)));
        res.headers_mut()
            .insert("x-inner", "1".parse().expect("header"));
        Ok::<_, Infallible>(res)
    })
}

pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

pub async fn call(layer: &ReadinessLayer, req: Request<Full<Bytes>>) -> Answer {
    let svc = ServiceBuilder::new().layer(layer.clone()).service(app());
    let res: Response<Full<Bytes>> = svc.oneshot(req).await.expect("infallible");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res
        .into_body()
        .collect()
        .await
        .expect("infallible")
        .to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).expect("utf-8"),
    }
}

pub async fn get(layer: &ReadinessLayer, uri: &str) -> Answer {
    call(
        layer,
        Request::get(uri).body(Full::default()).expect("request"),
    )
    .await
}

/// An engine with these checks, each run once.
pub async fn engine_with(specs: Vec<CheckSpec>) -> Engine {
    let mut b = Engine::builder().without_heartbeat();
    for s in specs {
        b = b.check(s);
    }
    let engine = b.build().expect("valid");
    engine.refresh().await.expect("the engine runs");
    engine
}

/// One HTTP/1.1 request over a real loopback connection; returns status and body.
pub async fn http1(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String) {
    use hyper_util::rt::TokioIo;
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .body(Full::<Bytes>::default())
        .expect("request");
    let res = sender.send_request(req).await.expect("response");
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}
