//! A bare hyper 1 server with probes: `cargo run -p readiness-examples --example hyper [ADDR]`.
//!
//! One `.layer(..)`; hyper-util's `TowerToHyperService` takes the layered service as it is,
//! since probes answer in the application's own `Full<Bytes>` body. SIGTERM or Ctrl-C drains:
//! `/readyz` answers 503 at once, the server accepts for the drain delay, then stops.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use readiness_tower::{Engine, ReadinessLayer, check_fn, sigterm_or_ctrl_c};
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
        .layer(ReadinessLayer::new(engine.clone()))
        .service(service_fn(|_req: http::Request<Incoming>| async {
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from("hello\n"))))
        }));

    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let shutdown = engine.drain_on(sigterm_or_ctrl_c(), Duration::from_secs(35));
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            // The drain delay is over. Connections in flight are left to finish on their own
            // tasks; hyper-util's `server::graceful::GracefulShutdown` can wait for them.
            () = &mut shutdown => break,
        };
        let svc = TowerToHyperService::new(svc.clone());
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            if let Err(e) = conn.await {
                eprintln!("connection error: {e}");
            }
        });
    }
    engine.shutdown().await;
    Ok(())
}
