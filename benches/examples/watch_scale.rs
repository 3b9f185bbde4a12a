//! `Watch` at scale (issue 24): our `grpc.health.v1` service and tonic-health 0.14's, side by
//! side in one server process, each under 10,000 open `Watch` streams from tonic's client over
//! loopback; resident bytes per stream, the time from a transition to the last stream that
//! receives it, and whether every stream ends when the engine is closed.
//!
//! ```text
//! cargo run --release -p readiness-benches --example watch_scale                # 10,000 streams, 4 connections
//! cargo run --release -p readiness-benches --example watch_scale -- 2000 4      # STREAMS CONNECTIONS
//! ```
//!
//! The servers run in a child process (this binary, `serve NODELAY`), so that its resident set
//! (`/proc/self/statm`) holds the servers and nothing of the client: this process is the
//! client. The child serves ours on one port and tonic-health's on another (each a tonic
//! `Server` on a listener handed to it, `TCP_NODELAY` set as tonic's own `serve` sets it) and
//! takes commands on its standard input: `rss`, `flip ours`, `flip theirs`, `close`.
//!
//! - Bytes per stream: the child's resident set before the streams, after `STREAMS` streams on
//!   the first service (each has had its first message), and after as many on the second,
//!   divided by `STREAMS`. Freed memory that the second service reuses would flatter it, so the
//!   run is done twice in fresh children, once in each order.
//! - Fan-out: the child flips the status (ours: the engine's one check fails or passes again
//!   and `refresh()` makes the transition; theirs: `set_service_status("")`) and prints the
//!   wall-clock time just before; the client stamps each message on arrival. Fan-out is the
//!   last stamp minus the child's, three flips each.
//! - Close: `engine.close()` must end every one of our streams; tonic-health has no such end
//!   (its streams end only when the service is cleared), so only ours is asked.
//! - Nagle: 200 streams on one connection, on a listener with and without `TCP_NODELAY`: the
//!   spread from the first message of a transition to the last.
//!
//! A server's default for concurrent streams per HTTP/2 connection: tonic 0.14 sets none (its
//! `None` overrides hyper's 200), so the default server takes the 2,500 streams per connection
//! that 10,000 on 4 connections need; a server that sets `max_concurrent_streams` needs more
//! connections.

use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use readiness_core::{CheckSpec, Engine, ReloadableEngine};
use readiness_testkit::{Fault, FaultInjector, FaultPlan};
use readiness_tower::grpc::HealthService;
use readiness_tower::grpc::pb::HealthCheckRequest;
use readiness_tower::grpc::pb::health_client::HealthClient;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::mpsc;
use tonic::transport::Channel;
use tonic::transport::server::TcpIncoming;

/// Any wait gives up after this long: a hang fails the run.
const BOUND: Duration = Duration::from_secs(120);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["serve", nodelay] => rt.block_on(serve(nodelay == "1")),
        [] => rt.block_on(run(10_000, 4)),
        [n] => rt.block_on(run(number(n), 4)),
        [n, c] => rt.block_on(run(number(n), number(c))),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: watch_scale [STREAMS [CONNECTIONS]]");
    std::process::exit(2);
}

fn number(s: &str) -> usize {
    match s.parse() {
        Ok(n) if n > 0 => n,
        _ => usage(),
    }
}

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos()
}

/// Resident set size (Linux), in bytes.
fn resident_bytes() -> u64 {
    readiness_benches::resident_bytes().expect("Linux /proc")
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

// ---------------------------------------------------------------- the server (child) side

async fn serve(nodelay: bool) {
    // The engine's one check, passing until the first `flip ours`.
    let check = FaultInjector::standalone(FaultPlan::always(Fault::Pass));
    let flip = check.handle();
    let engine = Engine::builder()
        .without_heartbeat()
        .check(
            CheckSpec::readiness("dep", check)
                .period(Duration::from_secs(3600))
                .jitter(Duration::ZERO)
                .failure_threshold(1),
        )
        .build()
        .expect("a valid engine");
    engine.refresh().await.expect("runs");
    assert!(engine.is_ready());
    // Served as the demo serves it: through the handle that reloads follow.
    let engine = ReloadableEngine::new(engine);

    let ours = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let theirs = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let ports = (
        ours.local_addr().expect("addr").port(),
        theirs.local_addr().expect("addr").port(),
    );
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(HealthService::new(&engine).into_server())
            .serve_with_incoming(TcpIncoming::from(ours).with_nodelay(Some(nodelay))),
    );
    let (reporter, their_service) = tonic_health::server::health_reporter();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(their_service)
            .serve_with_incoming(TcpIncoming::from(theirs).with_nodelay(Some(nodelay))),
    );
    println!("ports {} {}", ports.0, ports.1);

    let mut ours_serving = true;
    let mut theirs_serving = true;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        match line.as_str() {
            "rss" => println!("{} {}", resident_bytes(), open_descriptors()),
            "flip ours" => {
                ours_serving = !ours_serving;
                let fault = if ours_serving {
                    Fault::Pass
                } else {
                    Fault::fail("flipped")
                };
                let t0 = unix_nanos();
                flip.set(fault);
                let current = engine.current();
                current.refresh().await.expect("runs");
                assert_eq!(current.is_ready(), ours_serving);
                println!("{t0}");
            }
            "flip theirs" => {
                theirs_serving = !theirs_serving;
                let status = if theirs_serving {
                    tonic_health::ServingStatus::Serving
                } else {
                    tonic_health::ServingStatus::NotServing
                };
                let t0 = unix_nanos();
                reporter.set_service_status("", status).await;
                println!("{t0}");
            }
            "close" => {
                engine.close();
                println!("closed");
            }
            _ => break,
        }
    }
}

// ---------------------------------------------------------------- the client (this process)

struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    ports: [u16; 2],
}

impl Server {
    async fn start(nodelay: bool) -> Self {
        let me = std::env::current_exe().expect("this binary");
        let mut child = tokio::process::Command::new(me)
            .args(["serve", if nodelay { "1" } else { "0" }])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the server");
        let stdin = child.stdin.take().expect("piped");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
        let line = read(&mut stdout).await;
        let ports: Vec<u16> = line
            .strip_prefix("ports ")
            .expect("ports")
            .split(' ')
            .map(|p| p.parse().expect("a port"))
            .collect();
        Self {
            child,
            stdin,
            stdout,
            ports: [ports[0], ports[1]],
        }
    }

    async fn ask(&mut self, command: &str) -> String {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .expect("the server reads");
        read(&mut self.stdout).await
    }

    /// Resident bytes and open descriptors.
    async fn rss(&mut self) -> (u64, usize) {
        // Let the last stream's buffers settle.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let line = self.ask("rss").await;
        let mut it = line.split(' ').map(|v| v.parse::<u64>().expect("number"));
        let rss = it.next().expect("rss");
        let fds = it.next().expect("fds");
        (rss, usize::try_from(fds).expect("small"))
    }

    async fn stop(mut self) {
        drop(self.stdin);
        let _ = tokio::time::timeout(BOUND, self.child.wait()).await;
    }
}

async fn read(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
    tokio::time::timeout(BOUND, lines.next_line())
        .await
        .expect("the server answers in time")
        .expect("read")
        .expect("the server is running")
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Which {
    Ours,
    Theirs,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Ours => "ours",
            Which::Theirs => "tonic-health",
        }
    }
    fn port(self, s: &Server) -> u16 {
        s.ports[match self {
            Which::Ours => 0,
            Which::Theirs => 1,
        }]
    }
}

/// What a stream's reader task reports: a message's arrival, or the stream's end.
enum Event {
    Message(u128),
    Ended,
}

/// `n` Watch streams of `""` over `conns` connections, each read by its own task; returns once
/// every stream has had its first message.
async fn open_streams(port: u16, n: usize, conns: usize) -> mpsc::UnboundedReceiver<Event> {
    let mut channels = Vec::new();
    for _ in 0..conns {
        channels.push(
            tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
                .expect("uri")
                .connect()
                .await
                .expect("connect"),
        );
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let opened = futures_util::stream::iter(0..n)
        .map(|i| {
            let channel: Channel = channels[i % conns].clone();
            let tx = tx.clone();
            async move {
                let mut stream = HealthClient::new(channel)
                    .watch(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                    .expect("watch")
                    .into_inner();
                tokio::spawn(async move {
                    while let Ok(Some(_)) = stream.message().await {
                        let _ = tx.send(Event::Message(unix_nanos()));
                    }
                    let _ = tx.send(Event::Ended);
                });
            }
        })
        .buffer_unordered(256)
        .count();
    tokio::time::timeout(BOUND, opened)
        .await
        .expect("every stream opens in time");
    for _ in 0..n {
        match tokio::time::timeout(BOUND, rx.recv()).await {
            Ok(Some(Event::Message(_))) => {}
            _ => panic!("a first message on every stream"),
        }
    }
    rx
}

/// One transition: the time from the server's flip to the last of `n` streams receiving it,
/// and from the first stream's receipt to the last's.
async fn fan_out(
    server: &mut Server,
    which: Which,
    rx: &mut mpsc::UnboundedReceiver<Event>,
    n: usize,
) -> (Duration, Duration) {
    let command = match which {
        Which::Ours => "flip ours",
        Which::Theirs => "flip theirs",
    };
    let t0: u128 = server.ask(command).await.parse().expect("a time");
    let (mut first, mut last) = (u128::MAX, 0);
    for _ in 0..n {
        match tokio::time::timeout(BOUND, rx.recv()).await {
            Ok(Some(Event::Message(t))) => {
                first = first.min(t);
                last = last.max(t);
            }
            _ => panic!("every stream receives the transition"),
        }
    }
    let nanos = |d: u128| Duration::from_nanos(u64::try_from(d).unwrap_or(u64::MAX));
    (nanos(last.saturating_sub(t0)), nanos(last - first))
}

async fn run(n: usize, conns: usize) {
    println!(
        "{n} Watch streams of \"\" on each service, {conns} HTTP/2 connections each, loopback\n"
    );
    println!(
        "| order | service | resident bytes per stream | server descriptors | fan-out to the last stream (3 transitions) |"
    );
    println!("|---|---|---|---|---|");
    for order in [[Which::Ours, Which::Theirs], [Which::Theirs, Which::Ours]] {
        let mut server = Server::start(true).await;
        let (mut rss, _) = server.rss().await;
        let mut receivers = Vec::new();
        let mut rows = Vec::new();
        for which in order {
            let rx = open_streams(which.port(&server), n, conns).await;
            let (now, fds) = server.rss().await;
            rows.push((which, now.saturating_sub(rss) / n as u64, fds));
            rss = now;
            receivers.push((which, rx));
        }
        let mut fan = Vec::new();
        for (which, rx) in &mut receivers {
            let mut times = Vec::new();
            for _ in 0..3 {
                times.push(fan_out(&mut server, *which, rx, n).await.0);
            }
            fan.push(times);
        }
        let label = format!("{} first", order[0].name());
        for ((which, per_stream, fds), times) in rows.into_iter().zip(fan) {
            let times: Vec<String> = times.iter().map(|t| format!("{t:.1?}")).collect();
            println!(
                "| {label} | {} | {per_stream} | {fds} | {} |",
                which.name(),
                times.join(", ")
            );
        }
        // The close ends every one of our streams.
        server.ask("close").await;
        let (_, rx) = receivers
            .iter_mut()
            .find(|(w, _)| *w == Which::Ours)
            .expect("ours");
        let mut ended = 0;
        while ended < n {
            match tokio::time::timeout(BOUND, rx.recv()).await {
                Ok(Some(Event::Ended)) => ended += 1,
                Ok(Some(Event::Message(_))) => {}
                _ => break,
            }
        }
        println!("|   | ours: streams ended by `engine.close()` | {ended} of {n} | | |");
        drop(receivers);
        server.stop().await;
    }

    println!(
        "\nNagle: 200 streams of ours on one connection, the spread of one transition's messages"
    );
    println!("(first receipt to last), listener handed to tonic with and without TCP_NODELAY:\n");
    println!("| listener | spread, 5 transitions |");
    println!("|---|---|");
    for nodelay in [false, true] {
        let mut server = Server::start(nodelay).await;
        let mut rx = open_streams(Which::Ours.port(&server), 200, 1).await;
        let mut spreads = Vec::new();
        for _ in 0..5 {
            spreads.push(format!(
                "{:.1?}",
                fan_out(&mut server, Which::Ours, &mut rx, 200).await.1
            ));
        }
        let label = if nodelay {
            "`.with_nodelay(Some(true))`"
        } else {
            "`TcpIncoming::from(listener)`"
        };
        println!("| {label} | {} |", spreads.join(", "));
        server.stop().await;
    }
}
