//! A tonic server with our grpc.health.v1 (Check, Watch, List) following the engine, and
//! HTTP/1.1 probes on the same port: `cargo run -p readiness-examples --example tonic [ADDR]`,
//! then `curl localhost:50051/readyz`, `grpc_health_probe -addr=localhost:50051 -service=liveness`
//! or `grpcurl -plaintext localhost:50051 grpc.health.v1.Health/List`.
//!
//! One `Server::builder().layer(..)`: probes answer in tonic's own body type.

use std::time::Duration;

use readiness_checks::TcpCheck;
use readiness_tower::{Engine, ReadinessLayer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::builder()
        .readiness("db", TcpCheck::new("127.0.0.1:5432"))
        .build()?;
    // "" and "readiness" are NOT_SERVING until the engine is first ready; "liveness",
    // "startup" and "tenants/{id}" follow /livez, /startupz and each tenant.
    let (health, reporter) = readiness_tower::grpc::health_service(&engine);
    // The application's own services (here a name only): NOT_SERVING on drain too.
    reporter.set_serving("helloworld.Greeter")?;

    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:50051".into());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // SIGTERM or Ctrl-C: readiness off at once, keep serving for the delay, then close the engine, which
    // ends every open Watch so the server returns.
    let shutdown = engine.drain_on(
        readiness_tower::sigterm_or_ctrl_c(),
        Duration::from_secs(35),
    );
    tonic::transport::Server::builder()
        .accept_http1(true)
        .layer(ReadinessLayer::new(engine.clone()))
        .add_service(health)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            shutdown,
        )
        .await?;
    engine.shutdown().await;
    Ok(())
}
