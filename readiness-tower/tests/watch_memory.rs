//! What the server holds for a `Watch` stream, counted by dhat's heap profiler: per stream, at
//! or below tonic-health's; for a client that never reads, the same after 10,000 transitions
//! as after 1,000 (the latest status only, nothing queued per change); and nothing once the
//! streams have ended at the close.

mod common;

use std::pin::Pin;
use std::task::Context;
use std::time::Duration;

use common::Flag;
use futures_util::{Stream, StreamExt};
use readiness_core::Engine;
use readiness_tower::grpc::pb::health_client::HealthClient;
use readiness_tower::grpc::pb::health_server::Health;
use readiness_tower::grpc::pb::{HealthCheckRequest, HealthCheckResponse};
use readiness_tower::grpc::{HealthReporter, HealthService};
use tonic::codec::Streaming;
use tonic::transport::server::TcpIncoming;
use tonic_health::pb::health_server::Health as _;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// One profiler at a time, and no other test's allocations in its counts.
static PROFILER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A bound on every wait: a hang fails the test instead of stalling the suite.
const BOUND: Duration = Duration::from_secs(30);

fn heap_bytes() -> u64 {
    dhat::HeapStats::get().curr_bytes as u64
}

/// Poll once without a real waker: the stream parks on its wake-up sources, as it does
/// between two messages.
fn park<S: Stream + Unpin>(s: &mut S) {
    let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
    assert!(
        Pin::new(s).poll_next(&mut cx).is_pending(),
        "nothing more to send"
    );
}

/// A Watch of `name` on our service, called in-process: its first message read (SERVING),
/// then parked.
async fn parked_watch(ours: &HealthService, name: &str) -> <HealthService as Health>::WatchStream {
    let req = tonic::Request::new(common::grpc::req(name));
    let mut s = ours.watch(req).await.expect("watch").into_inner();
    let first = s.next().await.expect("a message").expect("ok");
    assert_eq!(first.status, 1, "{name:?} SERVING");
    park(&mut s);
    s
}

/// A ready engine, our health service over it, and the service's reporter, which has set the
/// application's `svc` SERVING.
async fn serving_svc() -> (Engine, HealthService, HealthReporter) {
    let engine = common::engine_with(vec![]).await;
    assert!(engine.is_ready());
    let health = HealthService::new(&engine);
    let reporter = health.reporter();
    reporter.set_serving("svc").expect("set");
    (engine, health, reporter)
}

#[tokio::test(flavor = "current_thread")]
async fn a_watch_stream_holds_no_more_than_tonic_healths() {
    let _one = PROFILER.lock().await;
    let (engine, ours, _reporter) = serving_svc().await;
    engine.add_tenant("acme", vec![]).expect("added");
    let (their_reporter, _) = tonic_health::server::health_reporter();
    their_reporter
        .set_service_status("svc", tonic_health::ServingStatus::Serving)
        .await;
    let theirs = tonic_health::server::HealthService::from_health_reporter(their_reporter);
    const STREAMS: u64 = 1_000;

    let _profiler = dhat::Profiler::builder().testing().build();
    // tonic-health's, watching "" (the instance) and an application service.
    let mut per_stream = Vec::new();
    for name in ["", "svc"] {
        let before = heap_bytes();
        let mut held = Vec::new();
        for _ in 0..STREAMS {
            let req = tonic::Request::new(tonic_health::pb::HealthCheckRequest {
                service: name.to_owned(),
            });
            let mut s = theirs.watch(req).await.expect("watch").into_inner();
            assert!(s.next().await.is_some(), "the current status");
            park(&mut s);
            held.push(s);
        }
        per_stream.push(("tonic-health", name, (heap_bytes() - before) / STREAMS));
    }
    let limit = per_stream
        .iter()
        .map(|(_, _, b)| *b)
        .max()
        .expect("measured");
    // Ours, for each kind of name: the instance, liveness, a tenant, an application service.
    for name in ["", "liveness", "tenants/acme", "svc"] {
        let before = heap_bytes();
        let mut held = Vec::new();
        for _ in 0..STREAMS {
            held.push(parked_watch(&ours, name).await);
        }
        per_stream.push(("ours", name, (heap_bytes() - before) / STREAMS));
    }
    eprintln!("heap bytes per parked Watch stream: {per_stream:?}");
    for (who, name, bytes) in &per_stream {
        assert!(
            *bytes <= limit,
            "{who} {name:?}: {bytes} bytes per stream, tonic-health's: {limit}"
        );
    }
}

/// The stalled client, in a child process (this test binary, this test alone, with the
/// server's address in [`CLIENT_ADDR`]) so that the server's heap counts the server only: it
/// opens [`STALLED`] Watch streams of `svc` on 10 connections with a 1 KiB window each, reads
/// the first status of each, prints `ready`, and reads nothing more until a line comes on its
/// standard input; then it reads every stream to its end and prints `ended N`.
#[tokio::test(flavor = "current_thread")]
#[ignore = "the child process of a_thousand_stalled_watches_..."]
async fn stalled_client() {
    let Ok(addr) = std::env::var(CLIENT_ADDR) else {
        return;
    };
    let mut stalled: Vec<Streaming<HealthCheckResponse>> = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..10 {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("uri")
            // 1 KiB a stream: the server can send about 140 messages before it must wait.
            .initial_stream_window_size(Some(1024))
            // h2 (0.4.16 on) ends a connection on which more small DATA frames wait unread
            // than half the connection window allows (about 130 for the default 64 KiB):
            // a client that never reads 100 streams needs a larger one to stay connected.
            .initial_connection_window_size(Some(16 << 20))
            .connect()
            .await
            .expect("connect");
        let mut client = HealthClient::new(channel);
        for _ in 0..STALLED / 10 {
            let mut s = client
                .watch(HealthCheckRequest {
                    service: "svc".into(),
                })
                .await
                .expect("watch")
                .into_inner();
            let first = tokio::time::timeout(BOUND, s.message())
                .await
                .expect("in time")
                .expect("ok")
                .expect("a message");
            assert_eq!(first.status, 1);
            stalled.push(s);
        }
        clients.push(client);
    }
    println!("ready");
    let mut line = String::new();
    tokio::io::AsyncBufReadExt::read_line(
        &mut tokio::io::BufReader::new(tokio::io::stdin()),
        &mut line,
    )
    .await
    .expect("a line");
    let mut ended = 0;
    for s in &mut stalled {
        let mut n = 0;
        while tokio::time::timeout(BOUND, s.message())
            .await
            .expect("the stream ends in time")
            .expect("no error")
            .is_some()
        {
            n += 1;
            assert!(n <= 20_000, "bounded");
        }
        ended += 1;
    }
    println!("ended {ended}");
}

const CLIENT_ADDR: &str = "WATCH_MEMORY_STALLED_CLIENT_ADDR";
const STALLED: usize = 1_000;

#[tokio::test(flavor = "current_thread")]
async fn a_thousand_stalled_watches_and_ten_thousand_transitions_leave_memory_flat() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

    let _one = PROFILER.lock().await;
    let (engine, health, reporter) = serving_svc().await;
    let (listener, addr) = common::loopback().await;
    let _profiler = dhat::Profiler::builder().testing().build();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health.into_server())
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                engine.closed(),
            ),
    );
    let start = heap_bytes();

    let mut client = tokio::process::Command::new(std::env::current_exe().expect("this test"))
        .args(["--exact", "stalled_client", "--ignored", "--nocapture"])
        .env(CLIENT_ADDR, addr.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the client process");
    let mut stdin = client.stdin.take().expect("piped");
    let mut lines = tokio::io::BufReader::new(client.stdout.take().expect("piped")).lines();
    let mut said = async |want: &str| loop {
        let line = tokio::time::timeout(BOUND, lines.next_line())
            .await
            .expect("the client answers in time")
            .expect("read")
            .expect("the client runs");
        if line.starts_with(want) {
            return line;
        }
    };
    said("ready").await;

    // Transitions, the server's tasks running between them, so that every stream sends what
    // its window lets it send.
    let settle = async || {
        for _ in 0..1_000 {
            tokio::task::yield_now().await;
        }
    };
    let flip = |i: usize| {
        if i.is_multiple_of(2) {
            reporter.set_not_serving("svc").expect("set");
        } else {
            reporter.set_serving("svc").expect("set");
        }
    };
    settle().await;
    let opened = heap_bytes();
    let mut held = Vec::new();
    for i in 0..10_000 {
        flip(i);
        tokio::task::yield_now().await;
        if (i + 1) % 1_000 == 0 {
            settle().await;
            held.push(heap_bytes());
        }
    }
    let per_stream = |b: u64| b.saturating_sub(start) / STALLED as u64;
    eprintln!(
        "server heap per stalled stream: {} once opened; after each 1,000 transitions: {:?}",
        per_stream(opened),
        held.iter().map(|b| per_stream(*b)).collect::<Vec<_>>()
    );
    // What an open stream costs the server, tonic's and h2's share included: tonic's default
    // codec buffer alone is 8 KiB a stream, held for the stream's life, for messages of 7 bytes.
    assert!(
        per_stream(opened) <= 4096,
        "{} bytes a stream",
        per_stream(opened)
    );
    // A queue of changes would grow by some 9,000 messages a stream (tens of MB); the latest
    // status only grows nothing. 16 bytes a stream of slack for buffers that grew a little.
    let (first, last) = (held[0], held[held.len() - 1]);
    assert!(
        last <= first + 16 * STALLED as u64,
        "after 1,000 transitions: {first}, after 10,000: {last}"
    );

    // The close ends every stream, the server returns, and it holds nothing of them.
    engine.close();
    stdin.write_all(b"read\n").await.expect("the client reads");
    assert_eq!(said("ended").await, format!("ended {STALLED}"));
    tokio::time::timeout(BOUND, server)
        .await
        .expect("the server returns")
        .expect("join")
        .expect("serve");
    let end = heap_bytes();
    eprintln!("server heap: {start} at the start, {end} once it has returned");
    assert!(
        end <= start + 64 * 1024,
        "nothing held once the streams ended: {start} -> {end}"
    );
}

/// The engine a reload test builds, again at each reload (as an application re-declares its
/// configuration): one switchable readiness check `db`, tenant `acme` with the same check.
fn reload_builder(db: &Flag) -> readiness_core::EngineBuilder {
    // Run only when asked: the test refreshes by hand.
    let spec = || db.spec("db").period(Duration::from_secs(3600));
    Engine::builder()
        .without_heartbeat()
        .check(spec())
        .tenant("acme", vec![spec()])
}

/// Streams of a `ReloadableEngine` follow its reloads on the shared waits: 1,000 parked
/// streams of each kind of name through 100 reloads send nothing (their status did not
/// change), end none, and hold the same heap after the 100th reload as after the 10th; the new
/// engine's transition reaches every one of them, and the close ends them all.
#[tokio::test(flavor = "current_thread")]
async fn parked_streams_follow_a_hundred_reloads_with_memory_flat() {
    let _one = PROFILER.lock().await;
    let db = Flag::new(true);
    let first = reload_builder(&db).build().expect("valid");
    first.refresh().await.expect("runs");
    first.refresh_tenant("acme").await.expect("runs");
    let engine = readiness_core::ReloadableEngine::new(first);
    let ours = HealthService::new(&engine);
    let reporter = ours.reporter();
    reporter.set_serving("svc").expect("set");
    const STREAMS: usize = 1_000;
    let names = ["", "liveness", "tenants/acme", "svc"];

    let _profiler = dhat::Profiler::builder().testing().build();
    let mut streams = Vec::new();
    for i in 0..STREAMS {
        let name = names[i % names.len()];
        streams.push(parked_watch(&ours, name).await);
    }
    let settle = async || {
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
    };
    let mut after = Vec::new();
    for i in 0..100 {
        tokio::time::timeout(BOUND, engine.reload(reload_builder(&db)))
            .await
            .expect("in time")
            .expect("valid");
        settle().await;
        // Every stream wakes, reads the new engine, and has nothing to send.
        for s in &mut streams {
            park(s);
        }
        if i == 9 || i == 99 {
            after.push(heap_bytes());
        }
    }
    eprintln!(
        "heap with {STREAMS} parked streams: {} after 10 reloads, {} after 100",
        after[0], after[1]
    );
    assert!(
        after[1] <= after[0] + 16 * STREAMS as u64,
        "flat across reloads: {} -> {}",
        after[0],
        after[1]
    );

    // The serving engine's transition reaches the streams that follow it.
    db.set(false);
    let current = engine.current();
    current.refresh().await.expect("runs");
    current.refresh_tenant("acme").await.expect("runs");
    drop(current);
    for (i, s) in streams.iter_mut().enumerate() {
        let name = names[i % names.len()];
        if matches!(name, "" | "tenants/acme") {
            let next = tokio::time::timeout(BOUND, s.next())
                .await
                .expect("in time")
                .expect("a message")
                .expect("ok");
            assert_eq!(next.status, 2, "{name:?} NOT_SERVING");
        }
        park(s);
    }
    engine.close();
    let mut ended = 0;
    for s in &mut streams {
        while tokio::time::timeout(BOUND, s.next())
            .await
            .expect("the stream ends in time")
            .is_some()
        {}
        ended += 1;
    }
    assert_eq!(ended, STREAMS);
}
