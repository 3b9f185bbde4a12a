//! The load of `scripts/soak.sh`: real probes, business traffic and gRPC Watches against a
//! running demo, for a while, then a summary line; exit 1 if anything failed.
//!
//! ```text
//! cargo run -p readiness-benches --example soak_client -- HTTP_ADDR GRPC_ADDR SECONDS
//! ```
//!
//! - Probes as kubelet sends them (a new connection each, `User-Agent: kube-probe`,
//!   `Accept: */*`): `/livez`, `/readyz`, `/startupz`, `/readyz?verbose`,
//!   `/readyz/tenants/acme`, 50 a second in all. 200 and 503 are answers; anything else, or no
//!   answer within 5 s, is a failure.
//! - Business traffic: `GET /` 20 a second and `GET /slow?ms=50` 5 a second; anything but 200
//!   is a failure.
//! - gRPC: 200 `Watch` streams on 4 connections over `""`, `readiness`, `liveness`,
//!   `tenants/acme` and `tenants/globex`, 10 of them replaced by new ones every second (so a
//!   stream's state that outlived it would pile up), a `Check` every 200 ms and a `List` every
//!   second. A stream that ends or errs while the demo runs is a failure.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use readiness_tower::grpc::pb::health_client::HealthClient;
use readiness_tower::grpc::pb::{HealthCheckRequest, HealthListRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

const NAMES: [&str; 5] = [
    "",
    "readiness",
    "liveness",
    "tenants/acme",
    "tenants/globex",
];
const WATCHES: usize = 200;
const CHURN: usize = 10;
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Counts {
    probes: AtomicU64,
    probe_503: AtomicU64,
    business: AtomicU64,
    grpc_calls: AtomicU64,
    watch_messages: AtomicU64,
    watches_opened: AtomicU64,
    failures: AtomicU64,
}

impl Counts {
    fn fail(&self, what: &str) {
        if self.failures.fetch_add(1, Ordering::Relaxed) < 20 {
            eprintln!("soak_client: {what}");
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [http, grpc, secs] = &args[..] else {
        eprintln!("usage: soak_client HTTP_ADDR GRPC_ADDR SECONDS");
        std::process::exit(2);
    };
    let (Ok(http), Ok(grpc), Ok(secs)) = (
        http.parse::<SocketAddr>(),
        grpc.parse::<SocketAddr>(),
        secs.parse::<u64>(),
    ) else {
        eprintln!("usage: soak_client HTTP_ADDR GRPC_ADDR SECONDS");
        std::process::exit(2);
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let counts = Arc::new(Counts::default());
    rt.block_on(run(http, grpc, Duration::from_secs(secs), counts.clone()));
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    println!(
        "soak_client: probes={} (503: {}) business={} grpc_calls={} watches_opened={} watch_messages={} failures={}",
        get(&counts.probes),
        get(&counts.probe_503),
        get(&counts.business),
        get(&counts.grpc_calls),
        get(&counts.watches_opened),
        get(&counts.watch_messages),
        get(&counts.failures),
    );
    if get(&counts.failures) > 0 {
        std::process::exit(1);
    }
}

/// One request on a new connection, as kubelet probes: the status code.
async fn get(addr: SocketAddr, path: &str) -> Result<u16, String> {
    let exchange = async {
        let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: kube-probe/1.31\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
        let head = String::from_utf8_lossy(&buf[..buf.len().min(12)]).into_owned();
        head.get(9..12)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("no status line: {head:?}"))
    };
    tokio::time::timeout(ANSWER_WITHIN, exchange)
        .await
        .map_err(|_| format!("GET {path}: no answer within {ANSWER_WITHIN:?}"))?
}

async fn run(http: SocketAddr, grpc: SocketAddr, duration: Duration, counts: Arc<Counts>) {
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    // Probes: 5 paths every 100 ms.
    tasks.push(tokio::spawn({
        let counts = counts.clone();
        async move {
            let paths = [
                "/livez",
                "/readyz",
                "/startupz",
                "/readyz?verbose",
                "/readyz/tenants/acme",
            ];
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                for path in paths {
                    let counts = counts.clone();
                    tokio::spawn(async move {
                        match get(http, path).await {
                            Ok(200) => {}
                            Ok(503) => {
                                counts.probe_503.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(other) => counts.fail(&format!("GET {path}: {other}")),
                            Err(e) => counts.fail(&e),
                        }
                        counts.probes.fetch_add(1, Ordering::Relaxed);
                    });
                }
            }
        }
    }));
    // Business traffic: `/` every 50 ms, `/slow?ms=50` every 200 ms.
    for (path, every) in [("/", 50), ("/slow?ms=50", 200)] {
        let counts = counts.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(every));
            loop {
                tick.tick().await;
                let counts = counts.clone();
                tokio::spawn(async move {
                    match get(http, path).await {
                        Ok(200) => {}
                        Ok(other) => counts.fail(&format!("GET {path}: {other}")),
                        Err(e) => counts.fail(&e),
                    }
                    counts.business.fetch_add(1, Ordering::Relaxed);
                });
            }
        }));
    }

    let mut channels = Vec::new();
    for _ in 0..4 {
        match tonic::transport::Endpoint::from_shared(format!("http://{grpc}"))
            .expect("uri")
            .connect()
            .await
        {
            Ok(c) => channels.push(c),
            Err(e) => {
                counts.fail(&format!("gRPC connect: {e}"));
                return;
            }
        }
    }
    // Check and List.
    tasks.push(tokio::spawn({
        let counts = counts.clone();
        let mut client = HealthClient::new(channels[0].clone());
        async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            for i in 0u64.. {
                tick.tick().await;
                let service = NAMES[(i % 5) as usize].to_owned();
                let answer = tokio::time::timeout(
                    ANSWER_WITHIN,
                    client.check(HealthCheckRequest { service }),
                )
                .await;
                if !matches!(answer, Ok(Ok(_))) {
                    counts.fail(&format!("Check: {answer:?}"));
                }
                if i % 5 == 0 {
                    let answer =
                        tokio::time::timeout(ANSWER_WITHIN, client.list(HealthListRequest {}))
                            .await;
                    if !matches!(answer, Ok(Ok(_))) {
                        counts.fail(&format!("List: {answer:?}"));
                    }
                }
                counts.grpc_calls.fetch_add(1, Ordering::Relaxed);
            }
        }
    }));
    // Watches, CHURN of them replaced every second.
    let mut watches = std::collections::VecDeque::new();
    for i in 0..WATCHES {
        watches.push_back(open_watch(&channels[i % 4], NAMES[i % 5], &counts));
    }
    let churn = async {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        for i in 0usize.. {
            tick.tick().await;
            for j in 0..CHURN {
                if let Some(old) = watches.pop_front() {
                    old.abort();
                }
                let k = i * CHURN + j;
                watches.push_back(open_watch(&channels[k % 4], NAMES[k % 5], &counts));
            }
        }
    };
    let _ = tokio::time::timeout(duration, churn).await;
    for t in tasks.into_iter().chain(watches) {
        t.abort();
    }
}

fn open_watch(channel: &Channel, name: &'static str, counts: &Arc<Counts>) -> JoinHandle<()> {
    let mut client = HealthClient::new(channel.clone());
    let counts = counts.clone();
    counts.watches_opened.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(async move {
        let req = HealthCheckRequest {
            service: name.to_owned(),
        };
        let mut stream = match tokio::time::timeout(ANSWER_WITHIN, client.watch(req)).await {
            Ok(Ok(r)) => r.into_inner(),
            other => return counts.fail(&format!("Watch {name:?}: {other:?}")),
        };
        loop {
            match stream.message().await {
                Ok(Some(_)) => {
                    counts.watch_messages.fetch_add(1, Ordering::Relaxed);
                }
                Ok(None) => return counts.fail(&format!("Watch {name:?} ended")),
                Err(e) => return counts.fail(&format!("Watch {name:?}: {e}")),
            }
        }
    })
}
