//! The data checks over TLS against real servers with certificates made here (rcgen): a
//! throwaway PostgreSQL with `ssl = on` (`sslmode=require` / `verify-full`) and a throwaway
//! Redis serving TLS only (`rediss://`). Verification is always on: the private CA passes only
//! when given, a name the certificate does not cover fails with its own reason.

mod common;

use common::data::{assert_reasons, engine_of, reason_of, refresh_readyz};
use common::net::trusting;
use common::servers::{Server, test_certificates};
use readiness_checks::{PostgresCheck, RedisCheck};
use readiness_core::Check;

#[tokio::test]
async fn postgres_sslmode_verifies_the_chain_and_the_name() {
    let (ca, server_tls) = test_certificates();
    let server = Server::postgres_with(Some(server_tls));
    let tls = trusting(&ca);
    let port = server.port();
    let url = |host: &str, mode: &str| {
        format!("postgres://app:app-secret@{host}:{port}/app?sslmode={mode}")
    };
    let with_tls = |host: &str, mode: &str| -> Box<dyn Check> {
        Box::new(PostgresCheck::from_url_with_tls(&url(host, mode), &tls).expect("url"))
    };
    let checks: Vec<(&str, Box<dyn Check>)> = vec![
        ("verify-full", with_tls("localhost", "verify-full")),
        ("require", with_tls("localhost", "require")),
        (
            "system-roots",
            Box::new(PostgresCheck::from_url(&url("localhost", "require")).expect("url")),
        ),
        ("wrong-name", with_tls("127.0.0.1", "verify-full")),
        ("plain", with_tls("localhost", "disable")),
    ];
    let engine = engine_of(checks, 1, 1);
    let (status, body) = refresh_readyz(&engine).await;
    assert_eq!(status, 503, "{body}");
    assert_reasons(
        &engine,
        &[
            ("verify-full", None),
            ("require", None),
            ("plain", None),
            (
                "system-roots",
                Some("tls: certificate signed by an unknown issuer"),
            ),
            (
                "wrong-name",
                Some("tls: certificate not valid for host name \"127.0.0.1\""),
            ),
        ],
    );
    assert!(!body.contains("app-secret"), "{body}");
    // The connection really is TLS: the server says so for the check's own connection.
    let ssl = server.sql(
        "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE ssl AND application_name = 'readiness'",
    );
    assert_eq!(ssl, "2", "verify-full and require connect over TLS");
}

#[test]
fn postgres_sslmodes_that_skip_verification_are_refused_at_build() {
    for mode in ["prefer", "allow", "verify-ca", "nonsense"] {
        let url = format!("postgres://app:s3krit@localhost/app?sslmode={mode}");
        let err = PostgresCheck::from_url(&url).expect_err(mode).to_string();
        assert!(
            err.contains("sslmode takes disable, require or verify-full"),
            "{err}"
        );
        assert!(!err.contains("s3krit"), "{err}");
    }
}

#[tokio::test]
async fn rediss_verifies_the_chain_and_the_name() {
    let (ca, server_tls) = test_certificates();
    let server = Server::redis_tls(server_tls, &ca);
    let tls = trusting(&ca);
    let port = server.port();
    let with_tls = |url: &str| -> Box<dyn Check> {
        Box::new(RedisCheck::from_url_with_tls(url, &tls).expect("url"))
    };
    let without =
        |url: &str| -> Box<dyn Check> { Box::new(RedisCheck::from_url(url).expect("url")) };
    let engine = engine_of(
        vec![
            ("rediss", with_tls(&format!("rediss://localhost:{port}/0"))),
            (
                "system-roots",
                without(&format!("rediss://localhost:{port}")),
            ),
            (
                "wrong-name",
                with_tls(&format!("rediss://127.0.0.1:{port}")),
            ),
            (
                "plain-to-tls",
                without(&format!("redis://localhost:{port}")),
            ),
        ],
        1,
        1,
    );
    let (status, body) = refresh_readyz(&engine).await;
    assert_eq!(status, 503, "{body}");
    assert_reasons(
        &engine,
        &[
            ("rediss", None),
            (
                "system-roots",
                Some("tls: certificate signed by an unknown issuer"),
            ),
            (
                "wrong-name",
                Some("tls: certificate not valid for host name \"127.0.0.1\""),
            ),
        ],
    );
    assert!(reason_of(&engine, "plain-to-tls").is_some(), "{body}");
    assert_eq!(
        server.client_connections(),
        1,
        "the rediss:// check's one connection"
    );
}
