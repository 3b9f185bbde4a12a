//! A bare hyper 1 server with probes: `cargo run -p readiness-examples --example hyper [ADDR]`.
//!
//! One `.layer(..)`; hyper-util's `TowerToHyperService` takes the layered service as it is,
//! since probes answer in the application's own `Full<Bytes>` body.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use readiness_tower::{Engine, ReadinessLayer, check_fn};
use tower::{ServiceBuilder, service_fn};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:3000".into());
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

    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
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
