//! `MysqlCheck` against real MariaDB servers, through each adapter: from a URL, the
//! `mysql_async::Opts` of the application's pool, and an sqlx `MySqlPool`. Read-only tests use
//! the local server (3306, root without a password, database `test`); the ones that stop, hang,
//! exhaust or count connections start a throwaway server of their own.

mod common;

use std::time::Duration;

use common::data::{
    engine_of, hundred_runs_add_at_most, hung_then_resumed, passes, ready_while_pools_are_held,
    sqlx_pool, stopped_then_started,
};
use common::scenarios::{Sql, shared_scenarios};
use common::servers::Server;
use readiness_checks::MysqlCheck;
use readiness_core::Check;

const LOCAL: &str = "mysql://root@127.0.0.1:3306/test";

fn opts(url: &str) -> mysql_async::Opts {
    mysql_async::Opts::from_url(url).expect("opts")
}

/// The application's mysql_async pool of `max` connections.
fn async_pool(url: &str, max: usize) -> mysql_async::Pool {
    let constraints = mysql_async::PoolConstraints::new(0, max).expect("constraints");
    let opts = mysql_async::OptsBuilder::from_opts(opts(url))
        .prefer_socket(false)
        .pool_opts(mysql_async::PoolOpts::default().with_constraints(constraints));
    mysql_async::Pool::new(opts)
}

fn sqlx(url: &str, max: u32) -> sqlx::MySqlPool {
    sqlx_pool(url, max)
}

/// A throwaway MariaDB server, and the URL of its database `test` as root.
fn throwaway() -> (Server, String) {
    let server = Server::mariadb();
    let url = format!("mysql://root@127.0.0.1:{}/test", server.port());
    (server, url)
}

fn checks(url: &str) -> Vec<(&'static str, Box<dyn Check>)> {
    let from_opts = mysql_async::OptsBuilder::from_opts(opts(url)).prefer_socket(false);
    vec![
        ("url", Box::new(MysqlCheck::from_url(url).expect("url"))),
        ("opts", Box::new(MysqlCheck::from_opts(from_opts.into()))),
        ("sqlx", Box::new(MysqlCheck::from_pool(&sqlx(url, 2)))),
    ]
}

#[tokio::test]
async fn every_adapter_passes_against_the_local_server() {
    passes(checks(LOCAL)).await;
}

// An unknown database (1049), a refused connection, a wrong password (1045).
shared_scenarios!(Sql::MariaDb, checks, MysqlCheck);

#[tokio::test]
async fn a_stopped_server_fails_at_the_threshold_and_passes_on_its_first_run_back() {
    let (mut server, url) = throwaway();
    stopped_then_started(
        &engine_of(checks(&url), 3, 1),
        &mut server,
        |name, reason| {
            assert_eq!(reason, Some("connect: connection refused"), "{name}");
        },
    )
    .await;
}

#[tokio::test]
async fn a_hung_server_fails_by_timeout_and_passes_after_sigcont() {
    let (mut server, url) = throwaway();
    hung_then_resumed(&engine_of(checks(&url), 2, 1), &mut server).await;
}

#[tokio::test]
async fn pools_held_by_business_queries_leave_readyz_at_200() {
    let (server, url) = throwaway();
    let (my, sq) = (async_pool(&url, 2), sqlx(&url, 2));
    let from_opts = mysql_async::OptsBuilder::from_opts(opts(&url)).prefer_socket(false);
    let engine = engine_of(
        vec![
            ("opts", Box::new(MysqlCheck::from_opts(from_opts.into()))),
            ("sqlx", Box::new(MysqlCheck::from_pool(&sq))),
        ],
        1,
        1,
    );
    // Business traffic: two queries per pool, each holding its connection in SLEEP(60)
    // (killed below, so the test stays bounded).
    let business = || {
        let (my, sq) = (my.clone(), sq.clone());
        vec![
            tokio::spawn(async move {
                use mysql_async::prelude::Queryable as _;
                let mut c = my.get_conn().await.expect("mysql_async connection");
                let _ = c.query_drop("SELECT SLEEP(60)").await;
            }),
            tokio::spawn(async move {
                let _ = sqlx::query("SELECT SLEEP(60)").execute(&sq).await;
            }),
        ]
    };
    let sleeping = "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(60)'";
    // Both pools are exhausted: the application waits for a connection...
    let exhausted = async || {
        let waited = tokio::time::timeout(Duration::from_millis(300), my.get_conn()).await;
        assert!(waited.is_err(), "mysql_async has no connection to give");
        assert!(sq.try_acquire().is_none(), "sqlx has no connection to give");
    };
    // ...and the instance stays ready: busy is not down.
    ready_while_pools_are_held(
        &engine,
        business,
        || server.sql(sleeping).lines().count() == 4,
        exhausted,
        || {
            for id in server.sql(sleeping).lines() {
                server.sql(&format!("KILL QUERY {id}"));
            }
        },
    )
    .await;
}

#[tokio::test]
async fn a_hundred_runs_add_at_most_one_connection_per_check() {
    let (server, url) = throwaway();
    let sq = sqlx(&url, 4);
    sqlx::query("SELECT 1").execute(&sq).await.expect("sqlx");
    let from_opts = mysql_async::OptsBuilder::from_opts(opts(&url)).prefer_socket(false);
    let checks: Vec<(&str, Box<dyn Check>)> = vec![
        ("url", Box::new(MysqlCheck::from_url(&url).expect("url"))),
        ("opts", Box::new(MysqlCheck::from_opts(from_opts.into()))),
        ("sqlx", Box::new(MysqlCheck::from_pool(&sq))),
    ];
    hundred_runs_add_at_most(&server, &checks, |_| 1).await;
}

#[test]
fn bad_urls_are_typed_errors_without_the_password() {
    for (url, want) in [
        ("mysql://app:s3krit@/test", "no host"),
        (
            "mysql://app:s3krit@h/test?ssl-mode=required",
            "unknown option \"ssl-mode\"",
        ),
        ("mysql://app:s3@krit@h/test", "percent-encoded"),
        ("postgres://app:s3krit@h/test", "unsupported scheme"),
    ] {
        let err = MysqlCheck::from_url(url).expect_err(url).to_string();
        assert!(err.contains(want), "{url}: {err}");
        assert!(!err.contains("s3") && !err.contains("krit"), "{url}: {err}");
    }
}
