//! The demo's shutdown, on the built binary over loopback: SIGTERM or Ctrl-C drains (readiness
//! 503 at once, liveness 200, `readiness_draining 1`, still serving), the drain delay ends with
//! exit 0, and a second signal during the delay exits 1 at once with one line on stderr.
#![cfg(unix)]

mod common;

use common::{Demo, http_get};
use readiness_testkit::Exposition;

fn drains(demo: &mut Demo) {
    demo.wait_for_line("shutdown signal");
    let (status, body) = http_get(demo.addr, "/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("[-]shutdown failed"), "{body}");
    assert_eq!(http_get(demo.addr, "/livez"), (200, "ok".to_owned()));
    assert_eq!(
        http_get(demo.addr, "/"),
        (200, "hello from the readiness demo\n".to_owned()),
        "business traffic is still served during the drain"
    );
    let (status, metrics) = http_get(demo.addr, "/metrics");
    assert_eq!(status, 200);
    let e = Exposition::parse(&metrics).expect("valid exposition");
    assert_eq!(e.value("readiness_draining", &[]), Some(1.0));
    assert_eq!(e.value("readiness_state", &[]), Some(0.0));
}

fn cut_short(first: &str, second: &str) {
    // A drain delay far longer than the test: only the second signal can end it.
    let mut demo = Demo::start(&["--drain-delay", "10m"]);
    let (status, metrics) = http_get(demo.addr, "/metrics");
    assert_eq!(status, 200);
    let e = Exposition::parse(&metrics).expect("valid exposition");
    assert_eq!(
        e.value("readiness_draining", &[]),
        Some(0.0),
        "not draining yet"
    );

    demo.signal(first);
    drains(&mut demo);
    demo.signal(second);
    let (status, log, stderr) = demo.wait_exit();
    assert_eq!(status.code(), Some(1), "{status}; stderr: {stderr}");
    assert_eq!(
        stderr,
        "demo: second signal during the drain: drain cut short, exiting with status 1\n"
    );
    assert!(
        !log.iter().any(|l| l.contains("drain delay over")),
        "the delay was not waited out: {log:#?}"
    );
}

#[test]
fn a_second_sigterm_during_the_drain_exits_1_at_once() {
    cut_short("TERM", "TERM");
}

#[test]
fn ctrl_c_drains_like_sigterm_and_a_second_one_cuts_it_short() {
    cut_short("INT", "INT");
}

#[test]
fn one_sigterm_drains_for_the_delay_then_exits_0() {
    let demo = Demo::start(&["--drain-delay", "0s"]);
    demo.signal("TERM");
    let (status, log, stderr) = demo.wait_exit();
    assert_eq!(status.code(), Some(0), "{status}; stderr: {stderr}");
    assert_eq!(stderr, "");
    let order = ["shutdown signal", "drain delay over: closing", "stopped"];
    let at: Vec<usize> = order
        .iter()
        .map(|needle| {
            log.iter()
                .position(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("no {needle:?} in {log:#?}"))
        })
        .collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "{order:?} in order: {log:#?}"
    );
}

/// A keep-alive connection left idle after one answer (`GET /livez`, 200).
fn idle_after_one_answer(addr: std::net::SocketAddr) -> std::net::TcpStream {
    use std::io::{Read, Write};
    let mut idle = std::net::TcpStream::connect(addr).expect("connect");
    idle.write_all(b"GET /livez HTTP/1.1\r\nHost: demo\r\n\r\n")
        .expect("written");
    let mut buf = [0; 256];
    let n = idle.read(&mut buf).expect("answered");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    idle
}

#[test]
fn a_client_that_sent_half_a_request_does_not_hold_the_exit_past_the_shutdown_timeout() {
    // axum::serve (0.8) sets hyper no header read timeout: a connection with half a request
    // head held its graceful shutdown open for good, past any grace period.
    use std::io::Write;
    let mut demo = Demo::start(&["--drain-delay", "0s", "--shutdown-timeout", "1s"]);
    // An idle keep-alive connection after one answer, and one that sent half a request head
    // and nothing more (a slow or stuck client).
    let idle = idle_after_one_answer(demo.addr);
    let mut half = std::net::TcpStream::connect(demo.addr).expect("connect");
    half.write_all(b"GET /readyz HTTP/1.1\r\nHost: de")
        .expect("written");
    // Both are in the server's hands before the signal.
    assert_eq!(http_get(demo.addr, "/livez").0, 200);
    demo.signal("TERM");
    demo.wait_for_line("shutdown signal");
    let (status, log, stderr) = demo.wait_exit();
    assert_eq!(status.code(), Some(0), "{status}; stderr: {stderr}");
    assert!(
        log.iter()
            .any(|l| l.contains("still open 1s after the drain delay: closing them")),
        "{log:#?}"
    );
    drop((idle, half));
}

#[test]
fn connections_left_idle_or_silent_do_not_hold_the_exit_at_all() {
    // A shutdown timeout far longer than the test: only a clean exit ends it in time.
    let demo = Demo::start(&["--drain-delay", "0s", "--shutdown-timeout", "10m"]);
    let idle = idle_after_one_answer(demo.addr);
    let silent = std::net::TcpStream::connect(demo.addr).expect("connect");
    assert_eq!(http_get(demo.addr, "/livez").0, 200);
    demo.signal("TERM");
    let (status, log, stderr) = demo.wait_exit();
    assert_eq!(status.code(), Some(0), "{status}; stderr: {stderr}");
    assert!(!log.iter().any(|l| l.contains("closing them")), "{log:#?}");
    drop((idle, silent));
}
