//! What the checks run against and how: loopback listeners and servers, runs bounded in time,
//! an engine around ready-made checks, files in a directory of the test's own.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use readiness_core::{Check, CheckSpec, Engine};
use tokio::net::TcpListener;

/// A bound on every run: a hang fails the test instead of stalling the suite.
pub const BOUND: Duration = Duration::from_secs(10);

/// One run of `check`, bounded: its reason if it fails.
pub async fn run(check: &impl Check) -> Result<(), String> {
    tokio::time::timeout(BOUND, check.check())
        .await
        .expect("the run ends in time")
        .map_err(|f| f.reason().to_owned())
}

/// A listener on a free loopback port, and its address.
pub async fn loopback() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    (l, addr)
}

/// Reads a request head (up to its blank line, or the end of the stream) from `s`.
pub async fn read_head(s: &mut tokio::net::TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut buf = [0; 1024];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    head
}

/// A server that accepts every connection and never writes a byte (nor closes one).
pub async fn silent_server() -> SocketAddr {
    let (l, addr) = loopback().await;
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    addr
}

/// An engine with no heartbeat running `specs`.
pub fn engine_with(specs: impl IntoIterator<Item = CheckSpec>) -> Engine {
    specs
        .into_iter()
        .fold(Engine::builder().without_heartbeat(), |b, s| b.check(s))
        .build()
        .expect("valid")
}

/// Runs every check of `engine` once, bounded.
pub async fn refresh(engine: &Engine) {
    within(BOUND, "the engine's run", engine.refresh())
        .await
        .expect("the engine runs");
}

/// `fut`'s output, which must come within `bound`.
pub async fn within<T>(bound: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(bound, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not end within {bound:?}"))
}

/// Waits (bounded) for each task to end: none may panic.
pub async fn join_all<T>(tasks: Vec<tokio::task::JoinHandle<T>>, what: &str) {
    for task in tasks {
        within(Duration::from_secs(30), what, task)
            .await
            .expect("the task ends without a panic");
    }
}

/// A fresh directory for this test's files: `prefix`, the process and `name`.
pub fn temp_dir(prefix: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("{prefix}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Writes `text` to `name` in `dir`; its path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// A TLS configuration that trusts `ca_pem` (besides the system's roots).
pub fn trusting(ca_pem: &str) -> readiness_checks::TlsConfig {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = temp_dir("readiness-ca", &nanos.to_string());
    let file = write(&dir, "ca.pem", ca_pem);
    let tls = readiness_checks::TlsConfig::builder()
        .ca_file(&file)
        .expect("CA file")
        .build()
        .expect("config");
    let _ = std::fs::remove_dir_all(&dir);
    tls
}
