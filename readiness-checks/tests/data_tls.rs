//! The data checks over TLS against real servers with certificates made here (rcgen): a
//! throwaway PostgreSQL with `ssl = on` (`sslmode=require` / `verify-full`) and a throwaway
//! Redis serving TLS only (`rediss://`). Verification is always on: the private CA passes only
//! when given, a name the certificate does not cover fails with its own reason.

mod common;

use common::data::{engine_of, reason_of, refresh_readyz};
use common::servers::{Server, test_certificates};
use readiness_checks::{PostgresCheck, RedisCheck, TlsConfig};
use readiness_core::Check;

/// Trusts `ca_pem` (besides the system's roots).
fn trusting(ca_pem: &str) -> TlsConfig {
    let dir = std::env::temp_dir().join(format!("readiness-data-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join(format!("ca-{}.pem", rand_suffix()));
    std::fs::write(&file, ca_pem).expect("write CA");
    let tls = TlsConfig::builder()
        .ca_file(&file)
        .expect("CA file")
        .build()
        .expect("config");
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_dir(&dir);
    tls
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

#[tokio::test]
async fn postgres_sslmode_verifies_the_chain_and_the_name() {
    let (ca, server_tls) = test_certificates();
    let server = Server::postgres_with(Some(server_tls));
    let tls = trusting(&ca);
    let port = server.port();
    let url = |host: &str, mode: &str| {
        format!("postgres://app:app-secret@{host}:{port}/app?sslmode={mode}")
    };
    let checks: Vec<(&str, Box<dyn Check>)> = vec![
        (
            "verify-full",
            Box::new(
                PostgresCheck::from_url_with_tls(&url("localhost", "verify-full"), &tls)
                    .expect("url"),
            ),
        ),
        (
            "require",
            Box::new(
                PostgresCheck::from_url_with_tls(&url("localhost", "require"), &tls).expect("url"),
            ),
        ),
        (
            "system-roots",
            Box::new(PostgresCheck::from_url(&url("localhost", "require")).expect("url")),
        ),
        (
            "wrong-name",
            Box::new(
                PostgresCheck::from_url_with_tls(&url("127.0.0.1", "verify-full"), &tls)
                    .expect("url"),
            ),
        ),
        (
            "plain",
            Box::new(
                PostgresCheck::from_url_with_tls(&url("localhost", "disable"), &tls).expect("url"),
            ),
        ),
    ];
    let engine = engine_of(checks, 1, 1);
    let (status, body) = refresh_readyz(&engine).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(reason_of(&engine, "verify-full"), None, "{body}");
    assert_eq!(reason_of(&engine, "require"), None, "{body}");
    assert_eq!(reason_of(&engine, "plain"), None, "{body}");
    assert_eq!(
        reason_of(&engine, "system-roots").as_deref(),
        Some("tls: certificate signed by an unknown issuer")
    );
    assert_eq!(
        reason_of(&engine, "wrong-name").as_deref(),
        Some("tls: certificate not valid for host name \"127.0.0.1\"")
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
    let engine = engine_of(
        vec![
            (
                "rediss",
                Box::new(
                    RedisCheck::from_url_with_tls(&format!("rediss://localhost:{port}/0"), &tls)
                        .expect("url"),
                ),
            ),
            (
                "system-roots",
                Box::new(RedisCheck::from_url(&format!("rediss://localhost:{port}")).expect("url")),
            ),
            (
                "wrong-name",
                Box::new(
                    RedisCheck::from_url_with_tls(&format!("rediss://127.0.0.1:{port}"), &tls)
                        .expect("url"),
                ),
            ),
            (
                "plain-to-tls",
                Box::new(RedisCheck::from_url(&format!("redis://localhost:{port}")).expect("url")),
            ),
        ],
        1,
        1,
    );
    let (status, body) = refresh_readyz(&engine).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(reason_of(&engine, "rediss"), None, "{body}");
    assert_eq!(
        reason_of(&engine, "system-roots").as_deref(),
        Some("tls: certificate signed by an unknown issuer")
    );
    assert_eq!(
        reason_of(&engine, "wrong-name").as_deref(),
        Some("tls: certificate not valid for host name \"127.0.0.1\"")
    );
    assert!(reason_of(&engine, "plain-to-tls").is_some(), "{body}");
    assert_eq!(
        server.client_connections(),
        1,
        "the rediss:// check's one connection"
    );
}
