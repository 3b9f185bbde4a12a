//! Reload while serving, as the README's Reload section shows it (`examples/tests/examples.rs`
//! keeps the two identical): `cargo run -p readiness-examples --example reload`, then
//! `kill -HUP <pid>` swaps in the new configuration's engine and `kill <pid>` drains.
// README-BEGIN
use std::time::Duration;

use axum::{Router, routing::get};
use readiness_checks::TcpCheck;
use readiness_tower::{CheckSpec, Engine, EngineBuilder, ReadinessLayer, ReloadableEngine};
use tokio::signal::unix::{SignalKind, signal};
use tower::ServiceBuilder;

/// The engine a configuration describes (a file, a ConfigMap, …).
fn configured(db: &str) -> EngineBuilder {
    Engine::builder()
        .check(CheckSpec::readiness("db", TcpCheck::new(db)).period(Duration::from_secs(5)))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = ReloadableEngine::new(configured("127.0.0.1:5432").build()?);
    let app = ServiceBuilder::new()
        .layer(ReadinessLayer::new(engine.clone())) // follows every reload
        .service(Router::new().route("/", get(|| async { "hello" })));

    // SIGHUP: build the new configuration's engine and swap it in, with no readiness dip and
    // no phantom transition; a configuration that does not build changes nothing.
    let mut hangups = signal(SignalKind::hangup())?;
    let reloader = engine.clone();
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match reloader.reload(configured("127.0.0.1:5433")).await {
                Ok(()) => println!("reloaded"),
                Err(e) => eprintln!("reload refused, the running engine serves on: {e}"),
            }
        }
    });

    // SIGTERM or Ctrl-C: 503 at once, serve 35 s more, stop. A reload in between neither
    // ends the drain nor restarts its delay.
    let shutdown = engine.drain_on(
        readiness_tower::sigterm_or_ctrl_c(),
        Duration::from_secs(35),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, tower::make::Shared::new(app))
        .with_graceful_shutdown(shutdown)
        .await?;
    engine.shutdown().await;
    Ok(())
}
// README-END
