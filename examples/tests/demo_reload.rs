//! The demo's `SIGHUP` reload (issue 20), on the built binary over loopback: a ready-to-ready
//! reload answers 200 throughout while `/readyz` is polled every 10 ms, moves no counter and
//! never writes `readiness_state` 0; open gRPC `Watch` streams (`liveness` and `""`) carry on
//! with no `NOT_SERVING`; a reload removes a check and adds one; a reload during the drain
//! keeps it (503, exit 0 after the delay); a checks file that does not parse keeps the running
//! engine with one log line naming the line.
#![cfg(unix)]

mod common;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Demo, STEP, http_get, run_demo};
use readiness_testkit::Exposition;
use readiness_tower::grpc::ServingStatus;
use readiness_tower::grpc::pb::HealthCheckRequest;
use readiness_tower::grpc::pb::health_client::HealthClient;

/// A TCP dependency that accepts and drops every connection, for `tcp://` checks.
fn tcp_dependency() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in l.incoming() {
            drop(conn);
        }
    });
    addr
}

/// A free loopback port for `--grpc-listen`.
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

struct ChecksFile(PathBuf);

impl ChecksFile {
    fn new(test: &str, text: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "readiness-demo-{test}-{}.checks",
            std::process::id()
        ));
        let file = Self(path);
        file.write(text);
        file
    }
    fn write(&self, text: &str) {
        std::fs::write(&self.0, text).expect("checks file written");
    }
    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 path")
    }
}

impl Drop for ChecksFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `/readyz` until it answers 200 (bounded).
fn wait_ready(demo: &Demo) {
    let deadline = Instant::now() + STEP;
    while http_get(demo.addr, "/readyz").0 != 200 {
        assert!(Instant::now() < deadline, "the demo never turned ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn metrics(demo: &Demo) -> Exposition {
    let (status, text) = http_get(demo.addr, "/metrics");
    assert_eq!(status, 200);
    Exposition::parse(&text).expect("valid exposition")
}

/// Every series of the readiness families (name and labels), with its value where it must not
/// move while the same engine serves on: states, draining, tenant counts and transitions. The
/// check durations go on as the checks run: only their series are compared.
fn readiness_series(e: &Exposition) -> BTreeMap<String, Option<f64>> {
    use readiness_core::metrics::{
        CHECK_STATE, READINESS_DRAINING, READINESS_STATE, READINESS_TRANSITIONS_TOTAL,
        TENANT_STATE, TENANT_TENANTS, TENANT_TRANSITIONS_TOTAL,
    };
    const STILL: [&str; 7] = [
        READINESS_STATE,
        CHECK_STATE,
        READINESS_DRAINING,
        READINESS_TRANSITIONS_TOTAL,
        TENANT_STATE,
        TENANT_TENANTS,
        TENANT_TRANSITIONS_TOTAL,
    ];
    e.samples()
        .iter()
        .filter(|s| s.name.starts_with("readiness_") || s.name.starts_with("tenant_readiness_"))
        .map(|s| {
            let value = STILL.contains(&s.name.as_str()).then_some(s.value);
            (format!("{}{:?}", s.name, s.labels), value)
        })
        .collect()
}

fn transitions(e: &Exposition, to: &str) -> Option<f64> {
    e.value("readiness_transitions_total", &[("to", to)])
}

/// Polls `/readyz` every 10 ms on a thread of its own, counting answers that are not 200.
struct Poller {
    stop: Arc<AtomicBool>,
    bad: Arc<AtomicUsize>,
    polls: Arc<AtomicUsize>,
    thread: std::thread::JoinHandle<()>,
}

impl Poller {
    fn start(addr: SocketAddr) -> Self {
        let (stop, bad, polls) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let thread = {
            let (stop, bad, polls) = (stop.clone(), bad.clone(), polls.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    if http_get(addr, "/readyz").0 != 200 {
                        bad.fetch_add(1, Ordering::SeqCst);
                    }
                    polls.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        Self {
            stop,
            bad,
            polls,
            thread,
        }
    }

    /// (polls, answers that were not 200)
    fn stop(self) -> (usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("the poller does not panic");
        (
            self.polls.load(Ordering::SeqCst),
            self.bad.load(Ordering::SeqCst),
        )
    }
}

/// Every status a `Watch` stream sends until it ends (bounded).
fn watch_all(
    rt: &tokio::runtime::Runtime,
    grpc: SocketAddr,
    service: &str,
) -> tokio::task::JoinHandle<Vec<ServingStatus>> {
    let service = service.to_owned();
    rt.spawn(async move {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        let mut stream = HealthClient::new(channel)
            .watch(HealthCheckRequest { service })
            .await
            .expect("watch")
            .into_inner();
        let mut seen = Vec::new();
        while let Ok(Ok(Some(msg))) = tokio::time::timeout(STEP * 3, stream.message()).await {
            seen.push(msg.status());
        }
        seen
    })
}

#[test]
fn sighup_reloads_with_no_dip_no_phantom_transition_and_watches_carry_on() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (db, cache, queue) = (tcp_dependency(), tcp_dependency(), tcp_dependency());
    let file = ChecksFile::new(
        "reload",
        &format!("# reloaded on SIGHUP\ncheck cache=tcp://{cache}\n"),
    );
    let grpc = free_port();
    let mut demo = Demo::start(&[
        "--check",
        &format!("db=tcp://{db}"),
        "--checks-file",
        file.path(),
        "--grpc-listen",
        &grpc.to_string(),
        "--period",
        "250ms",
        "--drain-delay",
        "1s",
        "--show-details",
    ]);
    wait_ready(&demo);
    let liveness = watch_all(&rt, grpc, "liveness");
    let instance = watch_all(&rt, grpc, "");
    let before = metrics(&demo);
    assert_eq!(before.value("readiness_state", &[]), Some(1.0));
    let poller = Poller::start(demo.addr);
    std::thread::sleep(Duration::from_millis(200));

    // The reload removes `cache` and adds `queue`.
    file.write(&format!("check queue=tcp://{queue}\n"));
    demo.signal("HUP");
    demo.wait_for_line("demo: reloaded: 2 checks, 0 tenants");
    std::thread::sleep(Duration::from_millis(500));
    let (polls, bad) = poller.stop();
    assert!(polls > 10, "the poller ran: {polls} polls");
    assert_eq!(
        bad, 0,
        "no 503 during a ready-to-ready reload ({polls} polls)"
    );

    let (status, body) = http_get(demo.addr, "/readyz?verbose");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("[+]queue ok") && !body.contains("cache"),
        "{body}"
    );
    let after = metrics(&demo);
    assert_eq!(after.value("readiness_state", &[]), Some(1.0));
    for to in ["ready", "not_ready"] {
        assert_eq!(
            transitions(&after, to),
            transitions(&before, to),
            "no `to=\"{to}\"` increment across the reload"
        );
    }
    assert_eq!(
        after.value("readiness_check_state", &[("check", "queue")]),
        Some(1.0)
    );

    // The same streams see the new engine's drain, and end with it.
    demo.signal("TERM");
    let (status, log, stderr) = demo.wait_exit();
    assert_eq!(
        status.code(),
        Some(0),
        "{status}; stderr: {stderr}; log: {log:#?}"
    );
    let liveness = rt.block_on(liveness).expect("no panic");
    let instance = rt.block_on(instance).expect("no panic");
    assert_eq!(
        liveness,
        vec![ServingStatus::Serving],
        "liveness never NOT_SERVING, open until the close"
    );
    assert_eq!(
        instance,
        vec![ServingStatus::Serving, ServingStatus::NotServing],
        "no NOT_SERVING at the reload: only the drain's"
    );
}

#[test]
fn sighup_during_the_drain_keeps_it_and_the_demo_exits_0_after_the_delay() {
    let db = tcp_dependency();
    let mut demo = Demo::start(&[
        "--check",
        &format!("db=tcp://{db}"),
        "--period",
        "250ms",
        "--drain-delay",
        "3s",
    ]);
    wait_ready(&demo);
    demo.signal("TERM");
    demo.wait_for_line("shutdown signal");
    assert_eq!(http_get(demo.addr, "/readyz").0, 503);
    demo.signal("HUP");
    demo.wait_for_line("demo: reloaded: 1 checks, 0 tenants");
    let (status, body) = http_get(demo.addr, "/readyz");
    assert_eq!(status, 503, "still draining after the reload: {body}");
    assert!(body.contains("[-]shutdown failed"), "{body}");
    assert_eq!(metrics(&demo).value("readiness_draining", &[]), Some(1.0));
    let (status, log, stderr) = demo.wait_exit();
    assert_eq!(status.code(), Some(0), "{status}; stderr: {stderr}");
    assert!(
        log.iter().any(|l| l.contains("drain delay over")),
        "{log:#?}"
    );
}

#[test]
fn a_checks_file_that_does_not_parse_keeps_the_running_engine() {
    let db = tcp_dependency();
    let file = ChecksFile::new("bad", &format!("check db=tcp://{db}\n"));
    let mut demo = Demo::start(&["--checks-file", file.path(), "--period", "250ms"]);
    wait_ready(&demo);
    let before = metrics(&demo);

    for (text, needle) in [
        (
            format!("check db=tcp://{db}\ncheck broken\n"),
            format!("{}:2:", file.path()),
        ),
        (
            format!("# fine\ncheck db=tcp://{db}\ncheck db=tcp://{db}\n"),
            format!("{}:3: the check name \"db\" is given twice", file.path()),
        ),
        (
            "check Bad=tcp://127.0.0.1:1\n".to_owned(),
            format!("{}:1:", file.path()),
        ),
        (
            "frobnicate x=tcp://127.0.0.1:1\n".to_owned(),
            format!("{}:1: unknown kind", file.path()),
        ),
    ] {
        file.write(&text);
        demo.signal("HUP");
        let line = demo.wait_for_line("reload refused");
        assert!(line.contains(&needle), "{needle:?} not in {line:?}");
    }
    std::fs::remove_file(&file.0).expect("removed");
    demo.signal("HUP");
    let line = demo.wait_for_line("reload refused");
    assert!(line.contains("--checks-file"), "{line}");

    let (status, body) = http_get(demo.addr, "/readyz?verbose");
    assert_eq!(status, 200, "the running engine serves on: {body}");
    assert!(body.contains("[+]db ok"), "{body}");
    let after = metrics(&demo);
    for to in ["ready", "not_ready"] {
        assert_eq!(transitions(&after, to), transitions(&before, to));
    }
    let (before, after) = (readiness_series(&before), readiness_series(&after));
    assert!(
        before
            .keys()
            .any(|k| k.starts_with("readiness_check_state")),
        "the check's series are there to compare: {before:#?}"
    );
    assert_eq!(after, before, "a refused reload changes no series");
    assert!(
        !demo.log.iter().any(|l| l.contains("demo: reloaded")),
        "{:#?}",
        demo.log
    );
}

#[test]
fn a_checks_file_that_does_not_parse_at_start_exits_2_naming_the_line() {
    let file = ChecksFile::new(
        "start",
        "check db=tcp://127.0.0.1:1\noptional x=ftp://h:1\n",
    );
    let (status, out, err) = run_demo(&["--checks-file", file.path()]);
    assert_eq!(status.code(), Some(2), "{out}{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "demo: --checks-file {}:2: invalid URL",
            file.path()
        )),
        "{err}"
    );
    let (status, _, err) = run_demo(&["--checks-file", "/nonexistent/readiness.checks"]);
    assert_eq!(status.code(), Some(2));
    assert!(
        err.starts_with("demo: --checks-file /nonexistent/readiness.checks: "),
        "{err}"
    );
}
