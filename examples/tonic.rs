//! A tonic server with grpc.health.v1 following the engine, and HTTP/1.1 probes on the same
//! port: `cargo run -p readiness-examples --example tonic [ADDR]`, then
//! `curl localhost:50051/readyz` or `grpc_health_probe -addr=localhost:50051`.
//!
//! One `Server::builder().layer(..)`: probes answer in tonic's own body type.

use readiness_core::{Engine, TcpCheck};
use readiness_tower::ReadinessLayer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::builder()
        .readiness("db", TcpCheck::new("127.0.0.1:5432"))
        .build()?;
    // NOT_SERVING until the engine is first ready; follows every transition after that.
    let (health, _bridge) = readiness_tower::grpc::health_service(&engine).await;

    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:50051".into());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    tonic::transport::Server::builder()
        .accept_http1(true)
        .layer(ReadinessLayer::new(engine))
        .add_service(health)
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
        .await?;
    Ok(())
}
