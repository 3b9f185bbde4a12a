//! An axum app with probes: `cargo run -p readiness-examples --example axum [ADDR]`.
//!
//! One `.layer(..)`, outermost, and `axum::serve` takes the result as it is: the layered
//! Router answers in axum's own body type (readiness-tower's `axum` feature), so probes never
//! reach the router's own layers and no response mapping is needed. SIGTERM (what Kubernetes
//! sends) or Ctrl-C shuts down gracefully: `/readyz` answers 503 at once, the server keeps
//! serving for the drain delay, then stops (`Engine::drain_on`, `sigterm_or_ctrl_c`).

use std::time::Duration;

use axum::{Router, routing::get};
use readiness_checks::TcpCheck;
use readiness_tower::{CheckSpec, Engine, ReadinessLayer};
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:3000".into());
    let engine = Engine::builder()
        .check(
            CheckSpec::readiness("db", TcpCheck::new("127.0.0.1:5432"))
                .period(Duration::from_secs(5))
                .timeout(Duration::from_secs(1)),
        )
        .build()?;

    let router = Router::new().route("/", get(|| async { "hello\n" }));
    let app = ServiceBuilder::new()
        .layer(ReadinessLayer::new(engine.clone()))
        .service(router);

    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // 35 s: Kubernetes' default readiness probe (10 s x 3) plus time for endpoints to update.
    let shutdown = engine.drain_on(
        readiness_tower::sigterm_or_ctrl_c(),
        Duration::from_secs(35),
    );
    axum::serve(listener, tower::make::Shared::new(app))
        .with_graceful_shutdown(shutdown)
        .await?;
    engine.shutdown().await;
    Ok(())
}
