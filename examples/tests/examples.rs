//! The examples and the demo, run as a user runs them, over real loopback sockets: each is
//! started on a free port, asked over HTTP/1.1, and stopped. `cargo test` builds the examples
//! before it runs this, so the binaries are beside this test's own.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;

use common::{Demo, STEP, example_binary, http_get as http, run_demo};

/// Starts an example and waits for the line that gives its address.
fn start(name: &str, args: &[&str]) -> Demo {
    Demo::launch(&example_binary(name), args)
}

#[test]
fn the_axum_example_answers_probes_and_its_route() {
    let ex = start("axum", &["127.0.0.1:0"]);
    assert_eq!(http(ex.addr, "/"), (200, "hello\n".into()));
    assert_eq!(http(ex.addr, "/livez"), (200, "ok".into()));
    // The example checks 127.0.0.1:5432: ready only where something listens there.
    let (status, _) = http(ex.addr, "/readyz");
    assert!(status == 200 || status == 503, "{status}");
    assert_eq!(http(ex.addr, "/nope").0, 404, "the router's own 404");
}

#[test]
fn the_hyper_example_answers_probes_and_its_route() {
    let ex = start("hyper", &["127.0.0.1:0"]);
    assert_eq!(http(ex.addr, "/anything"), (200, "hello\n".into()));
    assert_eq!(http(ex.addr, "/livez"), (200, "ok".into()));
    assert_eq!(http(ex.addr, "/healthz?verbose").0, 200);
}

#[test]
fn the_tonic_example_answers_http1_probes_on_its_grpc_port() {
    let ex = start("tonic", &["127.0.0.1:0"]);
    assert_eq!(http(ex.addr, "/livez"), (200, "ok".into()));
    let (status, _) = http(ex.addr, "/readyz");
    assert!(status == 200 || status == 503, "{status}");
}

#[test]
fn the_demo_probes_answer_while_slow_requests_hold_every_permit() {
    let demo = start(
        "demo",
        &["--listen", "127.0.0.1:0", "--concurrency-limit", "1"],
    );
    assert_eq!(http(demo.addr, "/slow?ms=abc").0, 400);
    assert_eq!(http(demo.addr, "/slow?ms=60001").0, 400);
    assert_eq!(http(demo.addr, "/slow").0, 400);
    assert_eq!(http(demo.addr, "/slow?ms=0"), (200, "slept 0 ms\n".into()));
    // One request takes the only permit for a minute (sent, never read)...
    let mut held = TcpStream::connect_timeout(&demo.addr, STEP).expect("connect");
    write!(
        held,
        "GET /slow?ms=60000 HTTP/1.1\r\nHost: localhost\r\n\r\n"
    )
    .expect("send");
    // ...and the probes still answer. (That business traffic waits behind the permit is
    // tested in-process on the paused clock: readiness-tower/tests/backpressure.rs.)
    assert_eq!(http(demo.addr, "/livez"), (200, "ok".into()));
    assert_eq!(http(demo.addr, "/healthz").0, 200);
    assert!([200, 503].contains(&http(demo.addr, "/readyz").0));
    assert_eq!(http(demo.addr, "/metrics").0, 200);
    drop(held);
}

#[test]
fn demo_flag_errors_name_the_flag() {
    for (args, want) in [
        (
            &["--concurrency-limit", "0"][..],
            "demo: --concurrency-limit: expected a whole number of at least 1, got \"0\"",
        ),
        (
            &["--tenant-check", "tenants/db=tcp://127.0.0.1:1"][..],
            "demo: --tenant-check: the tenant id \"tenants\" is reserved",
        ),
        (
            &["--tenant", "shutdown"][..],
            "demo: --tenant: the tenant id \"shutdown\" is reserved",
        ),
    ] {
        let (status, _, err) = run_demo(args);
        assert_eq!(status.code(), Some(2), "{args:?}");
        assert_eq!(err.trim_end(), want, "{args:?}");
    }
}

/// The README's code blocks that are whole programs are these example files, byte for byte
/// between their markers, so the README compiles as written.
#[test]
fn the_readme_programs_are_examples() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    for file in ["examples/readme.rs", "examples/reload.rs"] {
        let example = std::fs::read_to_string(root.join(file)).expect(file);
        let begin =
            example.find("// README-BEGIN\n").expect("begin marker") + "// README-BEGIN\n".len();
        let end = example.find("// README-END").expect("end marker");
        let block = format!("```rust\n{}```", &example[begin..end]);
        assert!(
            readme.contains(&block),
            "a README block must be {file} between its markers, byte for byte:\n{block}"
        );
    }
}
