//! A bare hyper 1 server with probes: `cargo run -p readiness-examples --example hyper`.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use readiness_core::{Engine, check_fn};
use readiness_tower::ReadinessLayer;
use tower::{ServiceBuilder, service_fn};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::builder()
        .readiness(
            "config",
            check_fn(|| async { tokio::fs::metadata("/etc/hostname").await.map(|_| ()) }),
        )
        .build()?;

    let svc = ServiceBuilder::new()
        .layer(ReadinessLayer::new(engine))
        .service(service_fn(|_req: http::Request<Incoming>| async {
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from("hello\n"))))
        }));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!(
        "listening on http://{}/readyz?verbose",
        listener.local_addr()?
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let svc = TowerToHyperService::new(svc.clone());
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = conn.await {
                eprintln!("connection error: {e}");
            }
        });
    }
}
