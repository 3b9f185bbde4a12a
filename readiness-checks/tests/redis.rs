//! `RedisCheck` against real Redis servers, through each adapter: from a URL, the application's
//! `ConnectionManager` and `MultiplexedConnection`, and a cluster node. Read-only tests use the
//! local server (6379); the ones that stop, hang, need a password or a cluster, or count
//! connections start a throwaway server of their own.

mod common;

use std::time::Duration;

use common::data::{
    all_pass, engine_of, hundred_runs_add_at_most, hung_then_resumed, reason_of, refresh_readyz,
    stopped_then_started, wait_until,
};
use common::servers::Server;
use readiness_checks::RedisCheck;
use readiness_core::Check;

const LOCAL: &str = "redis://127.0.0.1:6379";
const WRONG: &str = "hunter2-wrong";

async fn manager(url: &str) -> redis::aio::ConnectionManager {
    let client = redis::Client::open(url).expect("client");
    redis::aio::ConnectionManager::new(client)
        .await
        .expect("manager")
}

async fn multiplexed(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).expect("client");
    client
        .get_multiplexed_async_connection()
        .await
        .expect("multiplexed")
}

async fn checks(url: &str) -> Vec<(&'static str, Box<dyn Check>)> {
    vec![
        ("url", Box::new(RedisCheck::from_url(url).expect("url"))),
        (
            "manager",
            Box::new(RedisCheck::from_connection(manager(url).await)),
        ),
        (
            "multiplexed",
            Box::new(RedisCheck::from_connection(multiplexed(url).await)),
        ),
    ]
}

#[tokio::test]
async fn every_adapter_passes_against_the_local_server() {
    let engine = engine_of(checks(LOCAL).await, 1, 1);
    let (status, body) = refresh_readyz(&engine).await;
    assert_eq!(status, 200, "{body}");
    all_pass(&engine);
}

#[tokio::test]
async fn a_database_out_of_range_or_a_refused_connection_says_so() {
    let engine = engine_of(
        vec![
            (
                "db",
                Box::new(RedisCheck::from_url("redis://127.0.0.1:6379/4000").expect("url")),
            ),
            (
                "refused",
                Box::new(RedisCheck::from_url("redis://127.0.0.1:1").expect("url")),
            ),
        ],
        1,
        1,
    );
    assert_eq!(refresh_readyz(&engine).await.0, 503);
    assert_eq!(
        reason_of(&engine, "db").as_deref(),
        Some("redis: no such database (ERR)")
    );
    assert_eq!(
        reason_of(&engine, "refused").as_deref(),
        Some("connect: connection refused")
    );
}

#[tokio::test]
async fn a_wrong_or_missing_password_fails_with_the_servers_code_and_never_shows_it() {
    let server = Server::redis(Some("right-one"));
    let port = server.port();
    let wrong = format!("redis://:{WRONG}@127.0.0.1:{port}");
    let shown = format!("{:?}", RedisCheck::from_url(&wrong).expect("url"));
    assert!(!shown.contains(WRONG), "{shown}");
    let engine = engine_of(
        vec![
            (
                "wrong",
                Box::new(RedisCheck::from_url(&wrong).expect("url")),
            ),
            (
                "missing",
                Box::new(RedisCheck::from_url(&format!("redis://127.0.0.1:{port}")).expect("url")),
            ),
            (
                "right",
                Box::new(
                    RedisCheck::from_url(&format!("redis://:right-one@127.0.0.1:{port}/1"))
                        .expect("url"),
                ),
            ),
        ],
        1,
        1,
    );
    let (status, body) = refresh_readyz(&engine).await;
    assert_eq!(status, 503);
    assert!(
        !body.contains(WRONG) && !body.contains("right-one"),
        "{body}"
    );
    assert_eq!(
        reason_of(&engine, "wrong").as_deref(),
        Some("redis: WRONGPASS")
    );
    assert_eq!(
        reason_of(&engine, "missing").as_deref(),
        Some("redis: NOAUTH")
    );
    assert_eq!(reason_of(&engine, "right"), None);
}

#[tokio::test]
async fn a_stopped_server_fails_at_the_threshold_and_passes_on_its_first_run_back() {
    let mut server = Server::redis(None);
    let url = format!("redis://127.0.0.1:{}", server.port());
    let engine = engine_of(
        vec![
            ("url", Box::new(RedisCheck::from_url(&url).expect("url"))),
            (
                "manager",
                Box::new(RedisCheck::from_connection(manager(&url).await)),
            ),
        ],
        3,
        1,
    );
    let plain = engine_of(
        vec![(
            "multiplexed",
            Box::new(RedisCheck::from_connection(multiplexed(&url).await)),
        )],
        1,
        1,
    );
    assert_eq!(refresh_readyz(&plain).await.0, 200);
    // The URL's own connection is reopened, and the manager reconnects, within the first run
    // after the return.
    stopped_then_started(&engine, &mut server, |name, reason| {
        if name == "url" {
            assert_eq!(reason, Some("connect: connection refused"));
        } else {
            assert!(reason.is_some(), "{name}");
        }
    })
    .await;
    // A plain multiplexed connection never reconnects: the application's connection is gone,
    // and the check says so.
    refresh_readyz(&plain).await;
    assert!(reason_of(&plain, "multiplexed").is_some());
}

#[tokio::test]
async fn a_hung_server_fails_by_timeout_and_passes_after_sigcont() {
    let mut server = Server::redis(None);
    let url = format!("redis://127.0.0.1:{}", server.port());
    hung_then_resumed(&engine_of(checks(&url).await, 2, 1), &mut server).await;
}

#[tokio::test]
async fn blocked_business_connections_leave_readyz_at_200() {
    let server = Server::redis(None);
    let url = format!("redis://127.0.0.1:{}", server.port());
    let engine = engine_of(checks(&url).await, 1, 1);
    // Business traffic: clients blocked in BLPOP for 60 s on connections of their own (the
    // server is busy serving them; the test unblocks them below).
    let mut business = Vec::new();
    for _ in 0..4 {
        let mut conn = multiplexed(&url).await;
        business.push(tokio::spawn(async move {
            let _: Result<Option<(String, String)>, _> = redis::cmd("BLPOP")
                .arg("jobs")
                .arg(60)
                .query_async(&mut conn)
                .await;
        }));
    }
    wait_until(
        Duration::from_secs(30),
        "four business clients block",
        || {
            server
                .sql("INFO clients")
                .lines()
                .any(|l| l.trim() == "blocked_clients:4")
        },
    )
    .await;
    for _ in 0..3 {
        let (status, body) = refresh_readyz(&engine).await;
        assert_eq!(status, 200, "{body}");
    }
    for _ in 0..4 {
        server.sql("RPUSH jobs done");
    }
    for task in business {
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("business ends once unblocked")
            .expect("business task");
    }
}

#[tokio::test]
async fn a_hundred_runs_add_at_most_one_connection() {
    let server = Server::redis(None);
    let url = format!("redis://127.0.0.1:{}", server.port());
    let checks = checks(&url).await;
    hundred_runs_add_at_most(&server, &checks, |name| usize::from(name == "url")).await;
}

#[tokio::test]
async fn a_cluster_node_passes_only_when_the_cluster_state_is_ok() {
    let server = Server::redis_with(None, &["--cluster-enabled", "yes"]);
    let url = format!("redis://127.0.0.1:{}", server.port());
    let engine = engine_of(
        vec![
            (
                "url",
                Box::new(RedisCheck::from_url(&url).expect("url").cluster()),
            ),
            (
                "manager",
                Box::new(RedisCheck::from_connection(manager(&url).await).cluster()),
            ),
            ("ping", Box::new(RedisCheck::from_url(&url).expect("url"))),
        ],
        1,
        1,
    );
    // A node with no slots: it answers PING, and the cluster is down.
    assert_eq!(refresh_readyz(&engine).await.0, 503);
    assert_eq!(
        reason_of(&engine, "url").as_deref(),
        Some("redis: cluster_state:fail")
    );
    assert_eq!(
        reason_of(&engine, "manager").as_deref(),
        Some("redis: cluster_state:fail")
    );
    assert_eq!(reason_of(&engine, "ping"), None);

    server.sql("CLUSTER ADDSLOTSRANGE 0 16383");
    wait_until(Duration::from_secs(30), "the cluster turns ok", || {
        server.sql("CLUSTER INFO").contains("cluster_state:ok")
    })
    .await;
    let (status, body) = refresh_readyz(&engine).await;
    assert_eq!(status, 200, "{body}");

    // A node without cluster mode fails the cluster check with a reason of its own.
    let plain = engine_of(
        vec![(
            "url",
            Box::new(RedisCheck::from_url(LOCAL).expect("url").cluster()),
        )],
        1,
        1,
    );
    refresh_readyz(&plain).await;
    assert_eq!(
        reason_of(&plain, "url").as_deref(),
        Some("redis: cluster support disabled")
    );
}

#[test]
fn bad_urls_are_typed_errors_without_the_password() {
    for (url, want) in [
        ("redis://:s3krit@/0", "no host"),
        ("redis://:s3krit@h:6379/x", "not a number"),
        (
            "redis://:s3krit@h:6379/0?protocol=resp3",
            "unknown option \"protocol\"",
        ),
        ("redis://:s3@krit@h:6379", "percent-encoded"),
        ("redis://:s3krit@h:6379#insecure", "fragment"),
        ("http://:s3krit@h:6379", "unsupported scheme"),
    ] {
        let err = RedisCheck::from_url(url).expect_err(url).to_string();
        assert!(err.contains(want), "{url}: {err}");
        assert!(!err.contains("s3") && !err.contains("krit"), "{url}: {err}");
    }
}
