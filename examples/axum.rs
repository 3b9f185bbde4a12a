//! An axum app with probes: `cargo run -p readiness-examples --example axum`.
//!
//! The layer sits outermost, so probes never reach the router's own layers. `axum::serve`
//! wants axum's own response type, so responses are mapped back with `ResponseBody::into_body`.
//! Ctrl-C shuts down gracefully: `/readyz` answers 503 at once, the server keeps serving for
//! the drain delay, then stops (`Engine::drain_on`).

use std::time::Duration;

use axum::{Router, body::Body, response::Response, routing::get};
use readiness_core::{CheckSpec, Engine, TcpCheck};
use readiness_tower::{ReadinessLayer, ResponseBody};
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::builder()
        .check(
            CheckSpec::readiness("db", TcpCheck::new("127.0.0.1:5432"))
                .period(Duration::from_secs(5))
                .timeout(Duration::from_secs(1)),
        )
        .build()?;

    let router: Router = Router::new().route("/", get(|| async { "hello\n" }));
    let app = ServiceBuilder::new()
        .map_response(|res: Response<ResponseBody<Body>>| res.map(ResponseBody::into_body))
        .layer(ReadinessLayer::new(engine.clone()))
        .service(router);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!(
        "listening on http://{}/readyz?verbose",
        listener.local_addr()?
    );
    // 35 s: Kubernetes' default readiness probe (10 s x 3) plus time for endpoints to update.
    let shutdown = engine.drain_on(tokio::signal::ctrl_c(), Duration::from_secs(35));
    axum::serve(listener, tower::make::Shared::new(app))
        .with_graceful_shutdown(shutdown)
        .await?;
    engine.shutdown().await;
    Ok(())
}
