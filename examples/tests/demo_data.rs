//! The demo's data checks end to end over real sockets: `postgres://`, `postgresql://`,
//! `mysql://` and `redis://` against the local servers (read only), a wrong password against
//! throwaway servers (the reason shown, the password nowhere: probe body, log, metrics), and
//! bad URLs (exit 2, one line naming the flag, never the password).

mod common;
#[path = "../../readiness-checks/tests/common/servers.rs"]
#[allow(dead_code, unreachable_pub)]
mod servers;

use std::time::{Duration, Instant};

use common::{Demo, STEP, http_get, run_demo};
use servers::{Server, test_certificates};

const WRONG: &str = "hunter2-wrong";

/// Polls `/readyz?verbose` until it answers `want` (bounded): the body.
fn readyz_until(demo: &Demo, want: u16) -> String {
    let deadline = Instant::now() + STEP;
    loop {
        let (status, body) = http_get(demo.addr, "/readyz?verbose");
        if status == want {
            return body;
        }
        assert!(Instant::now() < deadline, "/readyz stayed {status}: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `/readyz?verbose`, which answers 503 each time, until its body has what `came` looks
/// for (bounded): the body.
fn reasons_until(demo: &Demo, came: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + STEP;
    loop {
        let (status, body) = http_get(demo.addr, "/readyz?verbose");
        assert_eq!(status, 503, "{body}");
        if came(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "reasons never came: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The demo with `--period 250ms --show-details`, then `flags`, then a `--check` of each of
/// `checks`.
fn start_checking(flags: &[&str], checks: &[&str]) -> Demo {
    let mut args = vec!["--period", "250ms", "--show-details"];
    args.extend_from_slice(flags);
    for check in checks {
        args.extend(["--check", check]);
    }
    Demo::start(&args)
}

#[test]
fn every_data_url_form_passes_against_the_local_servers() {
    let demo = start_checking(
        &[],
        &[
            "pg=postgres://postgres@127.0.0.1:5432/test",
            "pgql=postgresql://postgres@127.0.0.1:5432/postgres",
            "my=mysql://root@127.0.0.1:3306/test",
            "cache=redis://127.0.0.1:6379/0",
        ],
    );
    let body = readyz_until(&demo, 200);
    for name in ["pg", "pgql", "my", "cache"] {
        assert!(body.contains(&format!("[+]{name} ok")), "{body}");
    }
}

#[test]
fn a_wrong_password_shows_its_reason_and_the_password_nowhere() {
    let (pg, my, rd) = (
        Server::postgres(),
        Server::mariadb(),
        Server::redis(Some("right-one")),
    );
    let pg_url = format!("pg=postgres://app:{WRONG}@127.0.0.1:{}/app", pg.port());
    let my_url = format!("my=mysql://app:{WRONG}@127.0.0.1:{}/test", my.port());
    let rd_url = format!("cache=redis://:{WRONG}@127.0.0.1:{}", rd.port());
    let demo = start_checking(&["--drain-delay", "0s"], &[&pg_url, &my_url, &rd_url]);
    let body = reasons_until(&demo, |body| {
        body.contains("28P01") && body.contains("1045") && body.contains("WRONGPASS")
    });
    assert!(
        body.contains("[-]pg failed: postgres: password authentication failed (28P01)"),
        "{body}"
    );
    assert!(
        body.contains("[-]my failed: mysql: access denied (1045)"),
        "{body}"
    );
    assert!(body.contains("[-]cache failed: redis: WRONGPASS"), "{body}");
    let (_, metrics) = http_get(demo.addr, "/metrics");
    demo.signal("TERM");
    let (_, log, stderr) = demo.wait_exit();
    for (what, text) in [
        ("probe body", body),
        ("metrics", metrics),
        ("log", log.join("\n")),
        ("stderr", stderr),
    ] {
        assert!(!text.contains(WRONG), "{what} shows the password:\n{text}");
    }
}

#[test]
fn a_bad_data_url_exits_2_with_one_line_naming_the_flag_and_never_the_password() {
    for (flag, value, want) in [
        ("--check", "db=postgres://app:s3krit@/db", "no host"),
        (
            "--check",
            "db=postgresql://app:s3krit@h/db?sslmod=require",
            "unknown option \"sslmod\"",
        ),
        (
            "--check",
            "db=postgres://app:s3@krit@h/db",
            "percent-encoded",
        ),
        (
            "--optional",
            "db=mysql://app:s3/krit@h:3306/db",
            "percent-encoded",
        ),
        ("--check", "db=redis://:s3krit@h:6379/zero", "not a number"),
        ("--tenant-check", "acme/db=redis://:s3krit@:6379", "no host"),
        ("--check", "postgres://app:s3krit@h/db", "expected NAME=URL"),
        (
            "--check",
            "db=mysqlx://app:s3krit@h/db",
            "unsupported scheme",
        ),
        // Found by fuzz/check_urls: the gRPC form split the URL at its first `/` and
        // handed what came before (`u:s3krit:43`, a password ending in `:43`) on as
        // HOST:PORT, whose error echoed it.
        ("--check", "api=grpc://u:s3krit:43/x@h:50051", "credentials"),
        (
            "--check",
            "api=grpcs://u:s3krit:43/x@h:50051",
            "credentials",
        ),
    ] {
        let mut args = vec![flag, value];
        if flag == "--tenant-check" {
            args.extend(["--tenant", "acme"]);
        }
        let (status, out, err) = run_demo(&args);
        assert_eq!(status.code(), Some(2), "{value}: {out}{err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{value}: {err}");
        assert!(lines[0].contains(flag), "{value}: {err}");
        assert!(lines[0].contains(want), "{value}: {err}");
        assert!(
            !err.contains("s3") && !err.contains("krit") && !out.contains("krit"),
            "{value}: {err}"
        );
    }
}

#[test]
fn tls_url_forms_pass_with_the_ca_file_and_fail_without_it() {
    let (ca, server_tls) = test_certificates();
    let pg = Server::postgres_with(Some(server_tls.clone()));
    let rd = Server::redis_tls(server_tls, &ca);
    let ca_file = pg.dir().join("ca-for-the-demo.pem");
    std::fs::write(&ca_file, &ca).expect("write the CA file");
    let ca_file = ca_file.to_str().expect("utf-8 path");
    let pg_url = format!(
        "pg=postgres://app:app-secret@localhost:{}/app?sslmode=verify-full",
        pg.port()
    );
    let rd_url = format!("cache=rediss://localhost:{}/0", rd.port());

    let demo = start_checking(&["--ca-file", ca_file], &[&pg_url, &rd_url]);
    let body = readyz_until(&demo, 200);
    assert!(
        body.contains("[+]pg ok") && body.contains("[+]cache ok"),
        "{body}"
    );
    drop(demo);

    // Without the CA file the same servers are not trusted, and the reason says why.
    let demo = start_checking(&[], &[&pg_url, &rd_url]);
    let unknown = "tls: certificate signed by an unknown issuer";
    let body = reasons_until(&demo, |body| {
        body.contains(&format!("[-]pg failed: {unknown}"))
            && body.contains(&format!("[-]cache failed: {unknown}"))
    });
    assert!(!body.contains("app-secret"), "{body}");
}
