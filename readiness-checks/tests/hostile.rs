//! Hostile dependencies (issue 24, item 2): the ready-made checks that connect to a server
//! (HTTP(S), gRPC(s), TCP, PostgreSQL, MySQL, Redis) and `CertificateCheck` against dependencies
//! that misbehave on purpose, 1,000 runs each (`HOSTILE_RUNS` to change it), on tokio's paused
//! clock over loopback:
//!
//! - a server that accepts and never answers (and, for TLS, a handshake that stalls);
//! - one that sends a valid answer one byte a second;
//! - 1 MiB of headers (HTTP, HTTP/2; the data protocols' equivalent: a 1 MiB message);
//! - an endless body (HTTP, gRPC; data protocols: a message announced larger than anything
//!   sent, streamed without end);
//! - a reset (RST) in the middle of the answer;
//! - a listener whose backlog is full (TCP: the connect never completes);
//! - a certificate file that is a FIFO nobody writes (the read never returns) or far larger than
//!   any PEM file.
//!
//! `hostile_local.rs` attacks `DiskSpaceCheck` and `ServiceCheck` the same way. (A name that
//! never resolves needs a resolver that hangs, which only the crate's own unit tests can plug
//! in: `dns.rs` (`DnsCheck`, 1,000 runs) and `resolve.rs` (the lookup the checks that connect
//! make).)
//!
//! Every run must end within the check's timeout (2 s) with a reason, and after the runs the
//! process's open descriptors (`/proc/self/fd`), tokio's alive tasks and the live heap (dhat:
//! this binary's allocator) must be where they were before them (the heap within 64 KiB: a few
//! bytes a run would show). Each attack prints its reason and the three levels. The
//! measurement is `common/attack.rs`'s.
//!
//! One attack at a time (dhat counts the whole process): each test runs its body through
//! `alone`, which takes a lock before it builds the test's runtime.

mod common;

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::attack::{alone, alone_on, attack, attack_each};
use common::net::{loopback, temp_dir, trusting};
use futures_util::StreamExt;
use http_body_util::StreamBody;
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use readiness_checks::{
    CertificateCheck, GrpcCheck, HttpCheck, MysqlCheck, PostgresCheck, RedisCheck, TcpCheck,
    TlsConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const MIB: usize = 1 << 20;

// ------------------------------------------------------------------ hostile servers

/// What a hostile server does with each connection it accepts.
#[derive(Clone)]
enum Hostile {
    /// Reads whatever comes and never writes.
    Stall,
    /// Writes these bytes one a second, then waits.
    Trickle(Vec<u8>),
    /// Writes `head`, then `len` bytes of `a` (`None`: without end, 64 KiB every 100 ms of the
    /// paused clock), then waits.
    Flood { head: Vec<u8>, len: Option<usize> },
    /// Writes these bytes, then resets the connection (RST, not FIN).
    Reset(Vec<u8>),
}

/// A server on loopback doing `what` to every connection until the client goes, once the
/// client has sent something (HTTP, TLS, PostgreSQL, Redis: the client speaks first).
async fn hostile(what: Hostile) -> String {
    serve(what, true).await
}

/// [`hostile`] for a protocol whose server speaks first (MySQL's greeting, HTTP/2's SETTINGS).
async fn hostile_first(what: Hostile) -> String {
    serve(what, false).await
}

async fn serve(what: Hostile, client_first: bool) -> String {
    let (listener, addr) = loopback().await;
    let addr = addr.to_string();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(misbehave(stream, what.clone(), client_first));
        }
    });
    addr
}

async fn misbehave(stream: TcpStream, what: Hostile, client_first: bool) {
    if let Hostile::Reset(_) = what {
        let _ = stream.set_zero_linger();
    }
    let (mut rd, mut wr) = stream.into_split();
    if client_first {
        let mut buf = [0u8; 4096];
        if !matches!(rd.read(&mut buf).await, Ok(n) if n > 0) {
            return;
        }
    }
    let reader = async {
        let mut buf = [0u8; 4096];
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    let writer = async {
        match &what {
            Hostile::Stall => {}
            Hostile::Trickle(bytes) => {
                for b in bytes {
                    if wr.write_all(&[*b]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            Hostile::Flood { head, len } => {
                if wr.write_all(head).await.is_err() {
                    return;
                }
                let chunk = vec![b'a'; 64 * 1024];
                let mut left = len.unwrap_or(usize::MAX);
                while left > 0 {
                    let n = left.min(chunk.len());
                    if wr.write_all(&chunk[..n]).await.is_err() {
                        return;
                    }
                    left -= n;
                    if len.is_none() {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            Hostile::Reset(bytes) => {
                let _ = wr.write_all(bytes).await;
                // Dropped with SO_LINGER 0: the kernel sends RST.
                return;
            }
        }
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = reader => {}
        () = writer => {}
    }
}

/// An HTTP/2 server (for gRPC) answering every request with `response()`.
async fn hostile_h2(
    response: fn() -> http::Response<http_body_util::combinators::BoxBody<Bytes, Infallible>>,
) -> String {
    let (listener, addr) = loopback().await;
    let addr = addr.to_string();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let svc =
                hyper::service::service_fn(
                    move |_req| async move { Ok::<_, Infallible>(response()) },
                );
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc),
            );
        }
    });
    addr
}

/// An HTTP/2 server that reads the client's preface and frames up to its first request's
/// HEADERS, then answers on that stream with `frames` (raw), and waits.
async fn hostile_h2_raw(frames: Vec<u8>) -> String {
    let (listener, addr) = loopback().await;
    let addr = addr.to_string();
    let frames = Arc::new(frames);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let frames = frames.clone();
            tokio::spawn(async move {
                let (mut rd, mut wr) = stream.into_split();
                let mut preface = [0u8; 24];
                if rd.read_exact(&mut preface).await.is_err() {
                    return;
                }
                loop {
                    let mut head = [0u8; 9];
                    if rd.read_exact(&mut head).await.is_err() {
                        return;
                    }
                    let len = usize::from(head[0]) << 16
                        | usize::from(head[1]) << 8
                        | usize::from(head[2]);
                    let mut payload = vec![0u8; len];
                    if rd.read_exact(&mut payload).await.is_err() {
                        return;
                    }
                    if head[3] == 0x1 {
                        break;
                    }
                }
                if wr.write_all(&frames).await.is_err() {
                    return;
                }
                let mut buf = [0u8; 4096];
                while matches!(rd.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    addr
}

/// A frame header: length, type, flags, stream.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut v = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// SETTINGS, then a response on stream 1 whose header block is 1 MiB: one literal header
/// `x-pad` of 1 MiB, in a HEADERS frame and CONTINUATION frames of 16 KiB.
fn h2_huge_headers() -> Vec<u8> {
    let mut block = vec![0x00, 5];
    block.extend_from_slice(b"x-pad");
    // The value's length, an HPACK integer with a 7-bit prefix.
    let mut n = MIB - 127;
    block.push(127);
    while n >= 128 {
        block.push((n % 128) as u8 | 0x80);
        n /= 128;
    }
    block.push(n as u8);
    block.extend(std::iter::repeat_n(b'a', MIB));
    let mut out = h2_frame(0x4, 0, 0, &[]);
    let chunks: Vec<&[u8]> = block.chunks(16 * 1024).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let kind = if i == 0 { 0x1 } else { 0x9 };
        let flags = if i + 1 == chunks.len() { 0x4 } else { 0 };
        out.extend(h2_frame(kind, flags, 1, chunk));
    }
    out
}

fn grpc_endless_body() -> http::Response<http_body_util::combinators::BoxBody<Bytes, Infallible>> {
    use http_body_util::BodyExt;
    // A message announced at 4 MiB - 1 (under tonic's decode limit), then bytes without end.
    let head = futures_util::stream::once(async {
        Ok::<_, Infallible>(Frame::data(Bytes::from_static(&[
            0, 0x00, 0x3f, 0xff, 0xff,
        ])))
    });
    let endless = futures_util::stream::unfold((), |()| async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((
            Ok::<_, Infallible>(Frame::data(Bytes::from(vec![0u8; 16 * 1024]))),
            (),
        ))
    });
    http::Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .body(BodyExt::boxed(StreamBody::new(head.chain(endless))))
        .expect("response")
}

fn http_response_slowly() -> Vec<u8> {
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()
}

// ------------------------------------------------------------------ the attacks

#[test]
fn http_against_hostile_servers() {
    alone(|| async {
        let check = |addr: String| HttpCheck::new(&format!("http://{addr}/healthz")).expect("url");
        let endless_body =
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 1000000000000\r\n\r\n".to_vec();
        attack_each(
            hostile,
            check,
            [
                ("http: accepted, never answered", Hostile::Stall),
                (
                    "http: one byte a second",
                    Hostile::Trickle(http_response_slowly()),
                ),
                (
                    "http: 1 MiB of headers",
                    Hostile::Flood {
                        head: b"HTTP/1.1 200 OK\r\nX-Pad: ".to_vec(),
                        len: Some(MIB),
                    },
                ),
                (
                    "http: an endless body",
                    Hostile::Flood {
                        head: endless_body,
                        len: None,
                    },
                ),
                (
                    "http: reset mid-answer",
                    Hostile::Reset(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhal".to_vec()),
                ),
            ],
        )
        .await;
    });
}

/// A CA file for the TLS attacks (the handshakes never get as far as a certificate).
fn tls() -> TlsConfig {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = p
        .self_signed(&rcgen::KeyPair::generate().expect("key"))
        .expect("CA");
    trusting(&ca.pem())
}

/// A TLS record header announcing a ServerHello of 64 bytes, and a few of them.
fn server_hello_start() -> Vec<u8> {
    let mut v = vec![
        0x16, 0x03, 0x03, 0x00, 0x40, 0x02, 0x00, 0x00, 0x3c, 0x03, 0x03,
    ];
    v.extend_from_slice(&[7; 16]);
    v
}

#[test]
fn https_and_grpcs_handshakes_against_hostile_servers() {
    alone(|| async {
        let tls = tls();
        for (scheme, what) in [
            ("https", Hostile::Stall),
            ("https", Hostile::Trickle(server_hello_start())),
            ("https", Hostile::Reset(server_hello_start())),
            ("grpcs", Hostile::Stall),
            ("grpcs", Hostile::Trickle(server_hello_start())),
        ] {
            let name = match &what {
                Hostile::Stall => "a handshake that stalls",
                Hostile::Trickle(_) => "a handshake one byte a second",
                _ => "a handshake reset midway",
            };
            let addr = hostile(what).await;
            let label = format!("{scheme}: {name}");
            if scheme == "https" {
                let check = HttpCheck::with_tls(&format!("https://{addr}/"), &tls).expect("url");
                attack(&label, check).await;
            } else {
                let check = GrpcCheck::with_tls(&format!("https://{addr}"), &tls).expect("url");
                attack(&label, check).await;
            }
        }
    });
}

/// An empty HTTP/2 SETTINGS frame: the server preface a gRPC client waits for.
const H2_SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];

#[test]
fn grpc_against_hostile_servers() {
    alone(|| async {
        let check = |addr: String| GrpcCheck::new(&format!("http://{addr}")).expect("url");
        attack(
            "grpc: accepted, never answered",
            check(hostile(Hostile::Stall).await),
        )
        .await;
        attack(
            "grpc: one byte a second",
            check(hostile_first(Hostile::Trickle(H2_SETTINGS.to_vec())).await),
        )
        .await;
        attack(
            "grpc: 1 MiB of headers",
            check(hostile_h2_raw(h2_huge_headers()).await),
        )
        .await;
        attack(
            "grpc: an endless body",
            check(hostile_h2(grpc_endless_body).await),
        )
        .await;
        attack(
            "grpc: reset mid-answer",
            check(hostile(Hostile::Reset(H2_SETTINGS.to_vec())).await),
        )
        .await;
    });
}

#[test]
fn tcp_against_a_listener_that_never_accepts() {
    alone(|| async {
        // Backlog 1 and never accepted: once the queue is full, a connect is never answered.
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind");
        let addr = socket.local_addr().expect("addr");
        let listener = socket.listen(1).expect("listen");
        let check = TcpCheck::new(addr.to_string());
        // Fill the queue: these connects complete and stay queued.
        let mut queued = Vec::new();
        for _ in 0..4 {
            if let Ok(Ok(s)) =
                tokio::time::timeout(Duration::from_millis(100), TcpStream::connect(addr)).await
            {
                queued.push(s);
            }
        }
        attack("tcp: a backlog that is full", check).await;
        drop((queued, listener));
    });
}

/// A postgres message: its type, then its length (itself included) and `body`.
fn pg_message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![kind];
    v.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

#[test]
fn postgres_against_hostile_servers() {
    alone(|| async {
        let check = |addr: String| {
            PostgresCheck::from_url(&format!("postgres://app@{addr}/orders")).expect("url")
        };
        let auth_ok = pg_message(b'R', &0u32.to_be_bytes());
        let mut big = vec![b'S'];
        big.extend_from_slice(&((MIB + 4) as u32).to_be_bytes());
        let mut endless = vec![b'S'];
        endless.extend_from_slice(&(64 * MIB as u32).to_be_bytes());
        attack_each(
            hostile,
            check,
            [
                ("postgres: accepted, never answered", Hostile::Stall),
                (
                    "postgres: one byte a second",
                    Hostile::Trickle(auth_ok.clone()),
                ),
                (
                    "postgres: a 1 MiB message",
                    Hostile::Flood {
                        head: [auth_ok.clone(), big].concat(),
                        len: Some(MIB),
                    },
                ),
                (
                    "postgres: an endless message",
                    Hostile::Flood {
                        head: [auth_ok.clone(), endless].concat(),
                        len: None,
                    },
                ),
                (
                    "postgres: reset mid-answer",
                    Hostile::Reset(auth_ok[..5].to_vec()),
                ),
            ],
        )
        .await;
    });
}

/// A MySQL packet: 3-byte length, sequence 0, `body`.
fn mysql_packet_header(len: usize) -> Vec<u8> {
    vec![len as u8, (len >> 8) as u8, (len >> 16) as u8, 0]
}

#[test]
fn mysql_against_hostile_servers() {
    alone(|| async {
        let check =
            |addr: String| MysqlCheck::from_url(&format!("mysql://root@{addr}/")).expect("url");
        // The start of a server greeting (protocol 10, a version string).
        let mut greeting = mysql_packet_header(74);
        greeting.extend_from_slice(b"\x0a5.7.44\0");
        // Never greeted: this server waits for the client, which waits for the greeting.
        attack(
            "mysql: accepted, never greeted",
            check(hostile(Hostile::Stall).await),
        )
        .await;
        attack_each(
            hostile_first,
            check,
            [
                (
                    "mysql: one byte a second",
                    Hostile::Trickle(greeting.clone()),
                ),
                (
                    "mysql: a 1 MiB packet",
                    Hostile::Flood {
                        head: mysql_packet_header(MIB),
                        len: Some(MIB),
                    },
                ),
                (
                    "mysql: an endless packet",
                    Hostile::Flood {
                        head: mysql_packet_header(0xff_ffff),
                        len: None,
                    },
                ),
                ("mysql: reset mid-greeting", Hostile::Reset(greeting)),
            ],
        )
        .await;
    });
}

#[test]
fn redis_against_hostile_servers() {
    alone(|| async {
        let check = |addr: String| RedisCheck::from_url(&format!("redis://{addr}/0")).expect("url");
        attack_each(
            hostile,
            check,
            [
                ("redis: accepted, never answered", Hostile::Stall),
                (
                    "redis: one byte a second",
                    Hostile::Trickle(b"+PONG\r\n".to_vec()),
                ),
                (
                    "redis: a 1 MiB reply",
                    Hostile::Flood {
                        head: format!("${MIB}\r\n").into_bytes(),
                        len: Some(MIB),
                    },
                ),
                (
                    "redis: an endless reply",
                    Hostile::Flood {
                        head: b"$1000000000\r\n".to_vec(),
                        len: None,
                    },
                ),
                ("redis: reset mid-answer", Hostile::Reset(b"+PO".to_vec())),
            ],
        )
        .await;
    });
}

fn cert_dir(name: &str) -> PathBuf {
    temp_dir("readiness-hostile-cert", name)
}

/// A valid certificate file at `path` (the check reads it when it is built).
fn valid_cert(path: &std::path::Path) {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    std::fs::write(path, cert.pem()).expect("write");
}

#[test]
fn a_certificate_file_far_larger_than_any_pem_is_not_read_whole() {
    alone(|| async {
        let d = cert_dir("large");
        let path = d.join("tls.crt");
        valid_cert(&path);
        let check = CertificateCheck::new(&path).expect("valid");
        // Then replaced by 64 MiB (sparse: no disk used), as a misconfigured path might be.
        let big = std::fs::File::create(&path).expect("create");
        big.set_len(64 * MIB as u64).expect("sparse");
        drop(big);
        let reason = attack("cert: a 64 MiB file", check).await;
        assert!(reason.contains("larger than"), "{reason}");
        let peak = dhat::HeapStats::get().max_bytes;
        assert!(
            peak < 16 * MIB,
            "peak heap {peak} bytes: the file was read whole"
        );
        let _ = std::fs::remove_dir_all(&d);
    });
}

#[test]
fn a_certificate_file_that_never_answers_holds_one_thread() {
    // The real clock: one run waits out its 2 s timeout, the others fail at once.
    alone_on(false, || async {
        let d = cert_dir("fifo");
        let path = d.join("tls.crt");
        valid_cert(&path);
        let check = CertificateCheck::new(&path).expect("valid");
        // Replaced by a FIFO that nobody writes: opening it blocks until a writer comes.
        std::fs::remove_file(&path).expect("remove");
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        let threads = || std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count());
        let before = threads();
        let reason = attack("cert: a FIFO nobody writes", check).await;
        assert!(
            reason.contains("previous call has not returned") || reason.contains("timed out"),
            "{reason}"
        );
        assert!(
            threads() <= before + 1,
            "one blocked read at most: {before} -> {}",
            threads()
        );
        // Release the blocked read: a writer opens the FIFO and closes it.
        drop(std::fs::OpenOptions::new().write(true).open(&path));
        let _ = std::fs::remove_dir_all(&d);
    });
}
