//! The demo server: probes, `/metrics`, `/metrics/slis` (Kubernetes' health SLIs) and
//! (optionally) grpc.health.v1 over simulated or real dependencies. See `DEMO.md` for the
//! flags.
//!
//! ```text
//! cargo run -p readiness-examples --example demo -- [FLAGS]
//! ```
//!
//! With no flags it checks two simulated dependencies driven by the testkit's fault injector:
//! `database` (critical), which goes down for about 20 s every 80 s, and `search`
//! (non-critical), which fails a seeded fifth of its runs; and two tenants, `acme` (healthy)
//! and `globex`, whose `store` goes down for about 30 s every 70 s. With `--check`,
//! `--optional`, `--tenant` or `--tenant-check` it checks only what the flags name: TCP, HTTP(S)
//! (`http(s)://HOST:PORT/PATH`, kubelet's semantics), gRPC (`grpc(s)://HOST:PORT[/SERVICE]`,
//! the dependency's own `grpc.health.v1`), DNS (`dns://NAME`), free disk space
//! (`disk:PATH?min_free=SIZE`) and certificate files (`cert:PATH`), trusting `--ca-file`s
//! besides the system's roots.
//!
//! - [`flags`]: the flags, parsed; a bad one is one line naming it (exit 2).
//! - [`checks`]: URL → check, the one parser of dependency URLs.
//! - [`checks_file`]: `--checks-file`, one check a line.
//! - [`engine`]: the engine the flags describe (or the simulated one), and `SIGHUP`'s reload.
//! - [`server`]: the layered app and the gRPC health server.
//! - [`shutdown`]: signals, the drain and the cut-off.

mod checks;
mod checks_file;
mod data;
mod engine;
mod flags;
mod server;
mod shutdown;

use std::process::ExitCode;
use std::sync::Arc;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use readiness_core::ReloadableEngine;
use readiness_core::metrics::{CHECK_DURATION_SECONDS, DURATION_BUCKETS};

use crate::flags::{FlagError, USAGE, parse_flags};

#[tokio::main]
async fn main() -> ExitCode {
    let flags = match parse_flags(std::env::args().skip(1)) {
        Ok(Some(f)) => f,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(FlagError(msg)) => {
            eprintln!("demo: {msg}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let mut signals = match shutdown::Signals::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("demo: cannot listen for SIGTERM and Ctrl-C: {e}");
            return ExitCode::FAILURE;
        }
    };

    let recorder = match PrometheusBuilder::new().set_buckets_for_metric(
        Matcher::Full(CHECK_DURATION_SECONDS.into()),
        DURATION_BUCKETS,
    ) {
        Ok(b) => b.build_recorder(),
        Err(e) => {
            eprintln!("demo: metrics: {e}");
            return ExitCode::FAILURE;
        }
    };
    let handle = recorder.handle();
    if let Err(e) = metrics::set_global_recorder(recorder) {
        eprintln!("demo: metrics: {e}");
        return ExitCode::FAILURE;
    }

    log_stats_every(std::env::var("DEMO_STATS_SECS").ok().as_deref());

    let file = match checks_file::load(&flags) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::from(2);
        }
    };
    let engine = match engine::config(&flags, &file).builder.build() {
        Ok(e) => ReloadableEngine::new(e),
        Err(e) => {
            eprintln!("demo: {}", engine::one_line(&e));
            return ExitCode::from(2);
        }
    };
    let flags = Arc::new(flags);
    tokio::spawn(engine::reload_on_hangup(
        engine.clone(),
        flags.clone(),
        signals.hangups(),
    ));
    let app = match server::app(&engine, &flags, handle) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match server::bind_http(&flags).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let grpc = match server::spawn_grpc(&engine, &flags).await {
        Ok(g) => g,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    shutdown::serve_until_drained(
        &engine,
        signals,
        listener,
        app,
        grpc,
        flags.drain_delay,
        flags.shutdown_timeout,
    )
    .await
}

/// With `DEMO_STATS_SECS=N` (N > 0) in the environment, one log line every N seconds with the
/// runtime's alive tasks (`demo: stats: tasks=T`), which `scripts/soak.sh` watches for growth
/// next to the resident set and the open descriptors it reads from `/proc`. Not a flag: the
/// flags are the demo's interface, this is a measurement hook.
fn log_stats_every(secs: Option<&str>) {
    let Some(secs) = secs.and_then(|s| s.parse::<u64>().ok()).filter(|s| *s > 0) else {
        return;
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(secs));
        loop {
            tick.tick().await;
            let tasks = tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks();
            tracing::info!("demo: stats: tasks={tasks}");
        }
    });
}
