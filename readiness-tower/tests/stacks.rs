//! The layer on real stacks over loopback sockets: axum 0.8 and hyper 1.

mod common;

use std::convert::Infallible;

use axum::Router;
use axum::routing::get;
use common::{Flag, engine_with, http1, loopback};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use readiness_tower::ReadinessLayer;
use tower::make::Shared;
use tower::{ServiceBuilder, service_fn};

#[tokio::test]
async fn axum_router_wrapped_outermost() {
    let db = Flag::new(true);
    let engine = engine_with(vec![db.spec("db")]).await;
    let router: Router = Router::new().route("/", get(|| async { "hello" }));
    // One `.layer(..)`, no body mapping: the layered Router answers in axum's own body.
    let app = ServiceBuilder::new()
        .layer(ReadinessLayer::new(engine.clone()))
        .service(router);
    let (l, addr) = loopback().await;
    let server = tokio::spawn(async move { axum::serve(l, Shared::new(app)).await });

    assert_eq!(http1(addr, "GET", "/").await, (200, "hello".into()));
    assert_eq!(http1(addr, "GET", "/readyz").await, (200, "ok".into()));
    assert_eq!(http1(addr, "GET", "/nope").await.0, 404, "router's own 404");
    db.set(false);
    engine.refresh().await.expect("the engine runs");
    assert_eq!(
        http1(addr, "GET", "/readyz?verbose").await,
        (
            503,
            "[-]db failed: reason withheld\nreadyz check failed\n".into()
        )
    );
    assert_eq!(http1(addr, "HEAD", "/readyz").await, (503, String::new()));
    assert_eq!(http1(addr, "GET", "/livez").await, (200, "ok".into()));
    server.abort();
}

#[tokio::test]
async fn axum_router_with_router_layer() {
    let engine = engine_with(vec![Flag::new(true).spec("db")]).await;
    let app: Router = Router::new()
        .route("/", get(|| async { "hello" }))
        .layer(ReadinessLayer::new(engine));
    let (l, addr) = loopback().await;
    let server = tokio::spawn(async move { axum::serve(l, app).await });
    assert_eq!(http1(addr, "GET", "/").await, (200, "hello".into()));
    assert_eq!(http1(addr, "GET", "/readyz").await, (200, "ok".into()));
    assert_eq!(http1(addr, "GET", "/readyz/db").await, (200, "ok".into()));
    assert_eq!(http1(addr, "POST", "/readyz").await.0, 405);
    server.abort();
}

#[tokio::test]
async fn hyper_server() {
    let engine = engine_with(vec![Flag::new(false).spec("db")]).await;
    let svc = ServiceBuilder::new()
        .layer(ReadinessLayer::new(engine))
        .service(service_fn(|req: http::Request<Incoming>| async move {
            let text = format!("inner {} {}", req.method(), req.uri());
            Ok::<_, Infallible>(http::Response::new(Full::new(bytes::Bytes::from(text))))
        }));
    let (l, addr) = loopback().await;
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = l.accept().await else {
                return;
            };
            let svc = TowerToHyperService::new(svc.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc),
            );
        }
    });
    assert_eq!(http1(addr, "GET", "/startupz").await.0, 503);
    assert_eq!(http1(addr, "GET", "/healthz").await, (200, "ok".into()));
    assert_eq!(
        http1(addr, "GET", "/a?b").await,
        (200, "inner GET /a?b".into())
    );
    server.abort();
}
