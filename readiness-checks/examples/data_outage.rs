//! How long the data checks take to see a server stop, hang (`SIGSTOP`) and come back, on the
//! real clock, against throwaway PostgreSQL, MariaDB and Redis servers (Debian's binaries, as
//! the tests use them; run as root, like the tests).
//!
//! ```text
//! cargo run -p readiness-checks --example data_outage --features postgres,mysql,redis
//! ```
//!
//! Each check runs with period 1 s, timeout 1 s, failure threshold 3 and success threshold 1,
//! so the contract's bound to turn not ready is `period x failure_threshold + timeout` = 4 s
//! (plus the period's jitter, off here) and back within one period. The figures are printed,
//! not asserted; every wait is bounded.

#[path = "../tests/common/servers.rs"]
#[allow(dead_code, unreachable_pub)]
mod servers;

use std::time::{Duration, Instant};

use readiness_checks::{MysqlCheck, PostgresCheck, RedisCheck};
use readiness_core::{Check, CheckSpec, Engine};
use servers::Server;

const PERIOD: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(1);
const FAILURES: u32 = 3;
const BOUND: Duration = Duration::from_secs(30);

fn engine(check: impl Check) -> Engine {
    Engine::builder()
        .without_heartbeat()
        .check(
            CheckSpec::readiness("db", check)
                .period(PERIOD)
                .jitter(Duration::ZERO)
                .timeout(TIMEOUT)
                .failure_threshold(FAILURES)
                .success_threshold(1),
        )
        .build()
        .expect("engine")
}

/// Waits (bounded) until readiness is `ready`; the time it took.
async fn until(engine: &Engine, ready: bool) -> Duration {
    let started = Instant::now();
    while engine.is_ready() != ready {
        assert!(started.elapsed() < BOUND, "readiness stayed {}", !ready);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

fn reason(engine: &Engine) -> String {
    engine
        .snapshot()
        .check("db")
        .and_then(|c| c.reason())
        .unwrap_or("")
        .to_owned()
}

/// One outage: `down(server)`, the time until readiness turns false and the reason, then
/// `up(server)` and the time until it is back. A run or two pass first, so the outage starts at
/// an arbitrary point of a period.
async fn outage(
    engine: &Engine,
    server: &mut Server,
    down: fn(&mut Server),
    up: fn(&mut Server),
) -> (Duration, String, Duration) {
    tokio::time::sleep(PERIOD + Duration::from_millis(300)).await;
    down(server);
    let failed = until(engine, false).await;
    let why = reason(engine);
    up(server);
    let back = until(engine, true).await;
    (failed, why, back)
}

async fn measure(kind: &str, mut server: Server, check: impl Check) {
    let engine = engine(check);
    until(&engine, true).await;
    let (stopped, why_stopped, back) =
        outage(&engine, &mut server, Server::shutdown, Server::start).await;
    let (hung, why_hung, resumed) =
        outage(&engine, &mut server, Server::pause, Server::resume).await;

    let bound = PERIOD * FAILURES + TIMEOUT;
    println!(
        "{kind:<8} stopped: not ready after {:>5} ms ({why_stopped}); back {:>4} ms after start",
        stopped.as_millis(),
        back.as_millis()
    );
    println!(
        "{kind:<8} hung:    not ready after {:>5} ms ({why_hung}); back {:>4} ms after SIGCONT  (bound {} ms)",
        hung.as_millis(),
        resumed.as_millis(),
        bound.as_millis()
    );
    engine.shutdown().await;
}

#[tokio::main]
async fn main() {
    let pg = Server::postgres();
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port());
    measure("postgres", pg, PostgresCheck::from_url(&url).expect("url")).await;

    let my = Server::mariadb();
    let url = format!("mysql://root@127.0.0.1:{}/test", my.port());
    measure("mysql", my, MysqlCheck::from_url(&url).expect("url")).await;

    let rd = Server::redis(None);
    let url = format!("redis://127.0.0.1:{}", rd.port());
    measure("redis", rd, RedisCheck::from_url(&url).expect("url")).await;
}
