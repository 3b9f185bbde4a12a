//! The examples and the demo, run as a user runs them, over real loopback sockets: each is
//! started on a free port, asked over HTTP/1.1, and stopped. `cargo test` builds the examples
//! before it runs this, so the binaries are beside this test's own.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long anything here may take before the test fails instead of hanging.
const BOUND: Duration = Duration::from_secs(20);

/// A running example, killed when dropped.
struct Running {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn example_binary(name: &str) -> PathBuf {
    // target/<profile>/deps/examples-HASH -> target/<profile>/examples/NAME
    let exe = std::env::current_exe().expect("the test's own path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    dir.join("examples").join(name)
}

/// Start an example and wait for the line that gives its address (`listening on http://ADDR`).
fn start(name: &str, args: &[&str]) -> Running {
    let bin = example_binary(name);
    let mut child = Command::new(&bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if let Some(at) = line.find("listening on http://") {
                let rest = &line[at + "listening on http://".len()..];
                let addr = rest.split_whitespace().next().unwrap_or("").to_owned();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = match rx.recv_timeout(BOUND) {
        Ok(a) => a,
        Err(_) => {
            let _ = child.kill();
            panic!("{name} printed no address within {BOUND:?}");
        }
    };
    Running {
        child,
        addr: addr.parse().expect("a socket address"),
    }
}

/// One HTTP/1.1 request on a fresh connection: (status, body).
fn http(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, BOUND).expect("connect");
    stream.set_read_timeout(Some(BOUND)).expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("a whole answer");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
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
    let mut held = TcpStream::connect_timeout(&demo.addr, BOUND).expect("connect");
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
    let bin = example_binary("demo");
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
        let out = Command::new(&bin)
            .args(args)
            .output()
            .expect("run the demo");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
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
