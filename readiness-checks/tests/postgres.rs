//! `PostgresCheck` against real PostgreSQL servers, through each adapter: from a URL, the
//! application's `tokio_postgres::Client`, deadpool-postgres, bb8-postgres and sqlx pools.
//! Read-only tests use the local server (5432, trust, database `test`); the ones that stop,
//! hang, exhaust or count connections start a throwaway server of their own.

mod common;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use common::data::{
    engine_of, hundred_runs_add_at_most, hung_then_resumed, passes, ready_while_pools_are_held,
    reason_of, refresh_readyz, sqlx_pool, stopped_then_started,
};
use common::scenarios::{Sql, shared_scenarios};
use common::servers::Server;
use readiness_checks::PostgresCheck;
use readiness_core::Check;
use tokio_postgres::NoTls;

const LOCAL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn deadpool(url: &str, max: usize) -> deadpool_postgres::Pool {
    let config = tokio_postgres::Config::from_str(url).expect("config");
    let manager = deadpool_postgres::Manager::new(config, NoTls);
    deadpool_postgres::Pool::builder(manager)
        .max_size(max)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .expect("deadpool")
}

fn bb8(url: &str, max: u32) -> bb8::Pool<bb8_postgres::PostgresConnectionManager<NoTls>> {
    let config = tokio_postgres::Config::from_str(url).expect("config");
    bb8::Pool::builder()
        .max_size(max)
        .connection_timeout(Duration::from_millis(300))
        .build_unchecked(bb8_postgres::PostgresConnectionManager::new(config, NoTls))
}

fn sqlx(url: &str, max: u32) -> sqlx::PgPool {
    sqlx_pool(url, max)
}

async fn client(url: &str) -> Arc<tokio_postgres::Client> {
    let config = tokio_postgres::Config::from_str(url).expect("config");
    let (client, conn) = config.connect(NoTls).await.expect("client connects");
    tokio::spawn(conn);
    Arc::new(client)
}

/// A throwaway PostgreSQL server, and the URL of its database `postgres` as `postgres`.
fn throwaway() -> (Server, String) {
    let server = Server::postgres();
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port());
    (server, url)
}

/// One check per pool adapter (and the URL's own), all against `url`.
fn pool_checks(url: &str) -> Vec<(&'static str, Box<dyn Check>)> {
    vec![
        ("url", Box::new(PostgresCheck::from_url(url).expect("url"))),
        (
            "deadpool",
            Box::new(PostgresCheck::from_pool(&deadpool(url, 2))),
        ),
        ("bb8", Box::new(PostgresCheck::from_pool(&bb8(url, 2)))),
        ("sqlx", Box::new(PostgresCheck::from_pool(&sqlx(url, 2)))),
    ]
}

#[tokio::test]
async fn every_adapter_passes_against_the_local_server() {
    let mut checks = pool_checks(LOCAL);
    checks.push((
        "client",
        Box::new(PostgresCheck::from_client(client(LOCAL).await)),
    ));
    passes(checks).await;
}

// An unknown database (3D000), a refused connection, a wrong password (28P01), through the pool
// adapters and the URL's (the application's own client needs a server to be built).
shared_scenarios!(Sql::Postgres, pool_checks, PostgresCheck);

#[tokio::test]
async fn a_stopped_server_fails_at_the_threshold_and_passes_on_its_first_run_back() {
    let (mut server, url) = throwaway();
    let app_client = client(&url).await;
    let engine = engine_of(pool_checks(&url), 3, 1);
    let client_engine = engine_of(
        vec![("client", Box::new(PostgresCheck::from_client(app_client)))],
        1,
        1,
    );
    assert_eq!(refresh_readyz(&client_engine).await.0, 200);
    stopped_then_started(&engine, &mut server, |name, reason| {
        assert_eq!(reason, Some("connect: connection refused"), "{name}");
    })
    .await;
    // The application's own client lost its connection for good; the check says so.
    refresh_readyz(&client_engine).await;
    assert_eq!(
        reason_of(&client_engine, "client").as_deref(),
        Some("postgres: connection closed")
    );
}

#[tokio::test]
async fn a_hung_server_fails_by_timeout_and_passes_after_sigcont() {
    let (mut server, url) = throwaway();
    let mut checks = pool_checks(&url);
    checks.push((
        "client",
        Box::new(PostgresCheck::from_client(client(&url).await)),
    ));
    hung_then_resumed(&engine_of(checks, 2, 1), &mut server).await;
}

#[tokio::test]
async fn pools_held_by_business_transactions_leave_readyz_at_200() {
    let (server, url) = throwaway();
    let (dp, b8, sq) = (deadpool(&url, 2), bb8(&url, 2), sqlx(&url, 2));
    let engine = engine_of(
        vec![
            ("deadpool", Box::new(PostgresCheck::from_pool(&dp))),
            ("bb8", Box::new(PostgresCheck::from_pool(&b8))),
            ("sqlx", Box::new(PostgresCheck::from_pool(&sq))),
        ],
        1,
        1,
    );
    // Business traffic: two transactions per pool, each holding its connection in pg_sleep
    // (60 s, cancelled below, so the test stays bounded).
    let business = || {
        let (dp, b8, sq) = (dp.clone(), b8.clone(), sq.clone());
        vec![
            tokio::spawn(async move {
                let c = dp.get().await.expect("deadpool connection");
                let _ = c.simple_query("BEGIN; SELECT pg_sleep(60); COMMIT").await;
            }),
            tokio::spawn(async move {
                let c = b8.get_owned().await.expect("bb8 connection");
                let _ = c.simple_query("BEGIN; SELECT pg_sleep(60); COMMIT").await;
            }),
            tokio::spawn(async move {
                let mut tx = sq.begin().await.expect("sqlx transaction");
                let _ = sqlx::query("SELECT pg_sleep(60)").execute(&mut *tx).await;
            }),
        ]
    };
    let sleeping = || {
        server.sql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND state = 'active' AND pid <> pg_backend_pid()")
    };
    // Every pool is exhausted: the application waits for a connection...
    let exhausted = async || {
        assert_eq!(dp.status().available, 0);
        let wait = deadpool_postgres::Timeouts::wait_millis(200);
        assert!(
            matches!(
                dp.timeout_get(&wait).await,
                Err(deadpool_postgres::PoolError::Timeout(_))
            ),
            "deadpool has no connection to give"
        );
        assert!(
            matches!(b8.get().await, Err(bb8::RunError::TimedOut)),
            "bb8 has no connection to give"
        );
        assert!(sq.try_acquire().is_none(), "sqlx has no connection to give");
    };
    // ...and the instance stays ready: busy is not down.
    ready_while_pools_are_held(
        &engine,
        business,
        || sleeping() == "6",
        exhausted,
        || {
            server.sql("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()");
        },
    )
    .await;
}

#[tokio::test]
async fn a_hundred_runs_add_at_most_one_connection_per_check() {
    let (server, url) = throwaway();
    let (dp, b8, sq) = (deadpool(&url, 4), bb8(&url, 4), sqlx(&url, 4));
    // The application's pools are warm: each holds an open connection.
    drop(dp.get().await.expect("deadpool"));
    drop(b8.get().await.expect("bb8"));
    sqlx::query("SELECT 1").execute(&sq).await.expect("sqlx");
    let app_client = client(&url).await;
    let checks: Vec<(&str, Box<dyn Check>)> = vec![
        ("url", Box::new(PostgresCheck::from_url(&url).expect("url"))),
        ("deadpool", Box::new(PostgresCheck::from_pool(&dp))),
        ("bb8", Box::new(PostgresCheck::from_pool(&b8))),
        ("sqlx", Box::new(PostgresCheck::from_pool(&sq))),
        ("client", Box::new(PostgresCheck::from_client(app_client))),
    ];
    hundred_runs_add_at_most(&server, &checks, |name| usize::from(name != "client")).await;
}
