//! Load run over loopback (issue 8): serves an axum app on 127.0.0.1 with and without
//! `ReadinessLayer` and prints a markdown table of
//!
//! - business-route requests/s both ways and their ratio (a few concurrent HTTP/1.1
//!   keep-alive connections, alternating rounds of fixed length),
//! - `GET /readyz` p50 / p99 latency with healthy dependencies,
//! - `GET /readyz` p99 while every dependency hangs (checks that never answer, 1 s timeout),
//! - checks executed vs scheduled during a probe storm (`Engine::runs_started` against
//!   elapsed time / period): probes must never make checks run more often,
//! - resident bytes per tenant at 100,000 tenants.
//!
//! Bounded: about 12 s of load (1 s rounds, 3 per variant), and it gives up by itself after 30 s. Loopback only.
//!
//! ```text
//! cargo run --release -p readiness-benches --example load
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use axum::serve::ListenerExt;
use bytes::Bytes;
use http::header::HOST;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use readiness_core::{CheckSpec, Engine, check_fn};
use readiness_tower::ReadinessLayer;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tower::ServiceBuilder;
use tower::make::Shared;

/// The whole run gives up after this long.
const DEADLINE: Duration = Duration::from_secs(30);
/// Concurrent client connections for throughput and the probe storm.
const CONNECTIONS: usize = 4;
/// Length of one throughput round; rounds alternate bare / layered.
const ROUND: Duration = Duration::from_secs(1);
/// Alternating rounds per variant, after a warm-up round each.
const ROUNDS: u32 = 3;
/// Checks in the hanging and probe-storm scenarios.
const CHECKS: usize = 10;
/// Check period during the probe storm.
const STORM_PERIOD: Duration = Duration::from_millis(100);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if tokio::time::timeout(DEADLINE, run()).await.is_err() {
        eprintln!("load: did not finish within {DEADLINE:?}, giving up");
        std::process::exit(1);
    }
}

/// The application: one business route returning a static string.
fn router() -> Router {
    Router::new().route("/", get(|| async { "hello" }))
}

async fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = l.local_addr().expect("local address");
    (l, addr)
}

/// Serve the bare Router.
async fn serve_bare() -> SocketAddr {
    let (l, addr) = listener().await;
    let l = l.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(l, router()).await });
    addr
}

/// Serve the Router wrapped outermost by the layer (the recommended form).
async fn serve_layered(engine: Engine) -> SocketAddr {
    let (l, addr) = listener().await;
    let l = l.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let app = ServiceBuilder::new()
        .layer(ReadinessLayer::new(engine))
        .service(router());
    tokio::spawn(async move { axum::serve(l, Shared::new(app)).await });
    addr
}

/// One HTTP/1.1 keep-alive client connection.
async fn connect(addr: SocketAddr) -> SendRequest<Empty<Bytes>> {
    let stream = TcpStream::connect(addr)
        .await
        .expect("connect over loopback");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
}

/// One request, body read to the end.
async fn request(sender: &mut SendRequest<Empty<Bytes>>, path: &str) -> StatusCode {
    sender.ready().await.expect("connection ready");
    let req = Request::get(path)
        .header(HOST, "127.0.0.1")
        .body(Empty::new())
        .expect("a valid request");
    let res = sender.send_request(req).await.expect("a response");
    let status = res.status();
    res.into_body().collect().await.expect("the body");
    status
}

/// Requests answered by `CONNECTIONS` connections hammering `path` for `len`, and the time
/// it took. Every answer must have status `expect`.
async fn hammer(
    addr: SocketAddr,
    path: &'static str,
    len: Duration,
    expect: StatusCode,
) -> (u64, Duration) {
    let mut senders = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        senders.push(connect(addr).await);
    }
    let start = Instant::now();
    let stop = start + len;
    let mut tasks = JoinSet::new();
    for mut sender in senders {
        tasks.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < stop {
                assert_eq!(request(&mut sender, path).await, expect, "GET {path}");
                n += 1;
            }
            n
        });
    }
    let mut total = 0;
    while let Some(n) = tasks.join_next().await {
        total += n.expect("client task");
    }
    (total, start.elapsed())
}

/// Latencies of sequential `GET path` on one connection for `len`, sorted, and the statuses
/// seen.
async fn latencies(addr: SocketAddr, path: &str, len: Duration) -> (Vec<Duration>, Vec<u16>) {
    let mut sender = connect(addr).await;
    let mut samples = Vec::new();
    let mut statuses = Vec::new();
    let stop = Instant::now() + len;
    while Instant::now() < stop {
        let t = Instant::now();
        let status = request(&mut sender, path).await;
        samples.push(t.elapsed());
        if !statuses.contains(&status.as_u16()) {
            statuses.push(status.as_u16());
        }
    }
    samples.sort_unstable();
    (samples, statuses)
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    assert!(!sorted.is_empty(), "no samples");
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ok_check() -> readiness_core::FnCheck<impl Fn() -> std::future::Ready<Result<(), std::io::Error>>>
{
    check_fn(|| std::future::ready(Ok::<(), std::io::Error>(())))
}

async fn run() {
    let mut rows: Vec<(String, String)> = Vec::new();

    // 1. Business route, without and with the layer.
    let engine = Engine::builder()
        .readiness("db", ok_check())
        .build()
        .expect("a valid engine configuration");
    engine.refresh().await.expect("the engine runs");
    assert!(engine.is_ready());
    let bare = serve_bare().await;
    let layered = serve_layered(engine.clone()).await;
    for addr in [bare, layered] {
        hammer(addr, "/", ROUND / 2, StatusCode::OK).await; // warm-up
    }
    let (mut bare_n, mut bare_t) = (0, Duration::ZERO);
    let (mut layered_n, mut layered_t) = (0, Duration::ZERO);
    for _ in 0..ROUNDS {
        let (n, t) = hammer(bare, "/", ROUND, StatusCode::OK).await;
        bare_n += n;
        bare_t += t;
        let (n, t) = hammer(layered, "/", ROUND, StatusCode::OK).await;
        layered_n += n;
        layered_t += t;
    }
    let bare_rps = bare_n as f64 / bare_t.as_secs_f64();
    let layered_rps = layered_n as f64 / layered_t.as_secs_f64();
    rows.push((
        format!("business route `GET /`, bare Router ({CONNECTIONS} connections)"),
        format!("{bare_rps:.0} req/s"),
    ));
    rows.push((
        format!("business route `GET /`, ReadinessLayer outermost ({CONNECTIONS} connections)"),
        format!("{layered_rps:.0} req/s"),
    ));
    rows.push((
        "ratio layered / bare".into(),
        format!("{:.3}", layered_rps / bare_rps),
    ));

    // 2. Probe latency, healthy dependencies.
    let (healthy, statuses) = latencies(layered, "/readyz", Duration::from_secs(1)).await;
    assert_eq!(statuses, [200], "healthy /readyz answers 200");
    rows.push((
        format!(
            "`GET /readyz` p50, healthy ({} sequential requests)",
            healthy.len()
        ),
        micros(percentile(&healthy, 50.0)),
    ));
    rows.push((
        "`GET /readyz` p99, healthy".into(),
        micros(percentile(&healthy, 99.0)),
    ));
    engine.shutdown().await;

    // 3. Probe latency while every dependency hangs.
    let mut builder = Engine::builder();
    for i in 0..CHECKS {
        builder = builder.check(
            CheckSpec::readiness(
                format!("hung-{i}"),
                check_fn(std::future::pending::<Result<(), std::io::Error>>),
            )
            .timeout(Duration::from_secs(1))
            .period(Duration::from_secs(1))
            .jitter(Duration::ZERO),
        );
    }
    let hung = builder.build().expect("a valid engine configuration");
    let addr = serve_layered(hung.clone()).await;
    let (hanging, statuses) = latencies(addr, "/readyz", Duration::from_secs(2)).await;
    assert!(
        statuses.iter().all(|&s| s == 503),
        "hanging dependencies: /readyz answers 503, saw {statuses:?}"
    );
    rows.push((
        format!(
            "`GET /readyz` p99, all {CHECKS} dependencies hanging (1 s timeout; {} requests, all 503)",
            hanging.len()
        ),
        micros(percentile(&hanging, 99.0)),
    ));
    hung.shutdown().await;

    // 4. Probe storm: checks run on their schedule, not on probes.
    let mut builder = Engine::builder();
    let names: Vec<String> = (0..CHECKS).map(|i| format!("dep-{i}")).collect();
    for name in &names {
        builder = builder.check(
            CheckSpec::readiness(name.clone(), ok_check())
                .period(STORM_PERIOD)
                .jitter(Duration::ZERO),
        );
    }
    let storm = builder.build().expect("a valid engine configuration");
    storm.refresh().await.expect("the engine runs");
    let addr = serve_layered(storm.clone()).await;
    let runs = |engine: &Engine| -> u64 {
        names
            .iter()
            .map(|n| engine.runs_started(n).expect("a registered check"))
            .sum()
    };
    let before = runs(&storm);
    let (probes, elapsed) = hammer(addr, "/readyz", Duration::from_secs(2), StatusCode::OK).await;
    let executed = runs(&storm) - before;
    let scheduled = CHECKS as f64 * elapsed.as_secs_f64() / STORM_PERIOD.as_secs_f64();
    rows.push((
        format!(
            "checks executed vs scheduled, probe storm ({probes} probes in {:.1} s, {:.0} probes/s; {CHECKS} checks, period {STORM_PERIOD:?})",
            elapsed.as_secs_f64(),
            probes as f64 / elapsed.as_secs_f64(),
        ),
        format!(
            "{executed} / {scheduled:.0} ({:.2})",
            executed as f64 / scheduled
        ),
    ));
    storm.shutdown().await;

    // 5. Memory: resident set growth for 100,000 tenants with one check each, after every
    // tenant's first run (its task, its snapshot, its series in a Prometheus recorder).
    const TENANTS: usize = 100_000;
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let before = resident_bytes();
    let engine = metrics::with_local_recorder(&recorder, || {
        let engine = Engine::builder()
            .without_heartbeat()
            .max_tenants(TENANTS)
            .build()
            .expect("a valid engine configuration");
        readiness_benches::add_store_tenants(&engine, TENANTS);
        engine
    });
    readiness_benches::until_tenants_ready(&engine, TENANTS).await;
    let after = resident_bytes();
    rows.push((
        format!("resident bytes per tenant at {TENANTS} tenants (one check each, metrics recorder included)"),
        match (before, after) {
            (Some(b), Some(a)) => format!("{}", a.saturating_sub(b) / TENANTS as u64),
            _ => "n/a (no /proc/self/statm)".into(),
        },
    ));
    drop(engine);

    println!("| measurement | value |");
    println!("|---|---|");
    for (what, value) in rows {
        println!("| {what} | {value} |");
    }
}

/// Resident set size from `/proc/self/statm` (Linux), in bytes.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
