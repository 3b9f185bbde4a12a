//! The built demo binary, run as a user runs it: spawned on a loopback port, read through its
//! log, asked over plain HTTP, and sent signals. Every wait is bounded.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long any one step may take before the test fails (a debug build on a busy machine).
pub const STEP: Duration = Duration::from_secs(20);

/// `target/<profile>/examples/demo`, which `cargo test -p readiness-examples` builds next to
/// this test's own binary (`target/<profile>/deps/…`). Fails if it is missing or older than
/// a source file in `examples/demo/`, rather than test an old demo.
pub fn demo_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary is in target/<profile>/deps");
    let demo = profile_dir
        .join("examples")
        .join(format!("demo{}", std::env::consts::EXE_SUFFIX));
    let rebuild = "build it with `cargo build -p readiness-examples --example demo` \
                   (`cargo test -p readiness-examples` builds it)";
    let built = std::fs::metadata(&demo)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{}: {e}: {rebuild}", demo.display()));
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo");
    let files =
        std::fs::read_dir(&sources).unwrap_or_else(|e| panic!("{}: {e}", sources.display()));
    for file in files {
        let source = file.expect("a directory entry").path();
        let edited = std::fs::metadata(&source)
            .and_then(|m| m.modified())
            .unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        assert!(
            built >= edited,
            "{} is older than {}: {rebuild}",
            demo.display(),
            source.display()
        );
    }
    demo
}

/// `demo ARGS`: its exit status, stdout and stderr. For flags that make it exit by itself
/// (`--help`, a bad flag).
pub fn run_demo(args: &[&str]) -> (ExitStatus, String, String) {
    let mut child = Command::new(demo_binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the demo starts");
    let out = reader(child.stdout.take().expect("piped"));
    let err = reader(child.stderr.take().expect("piped"));
    let status = wait_bounded(&mut child);
    (status, join(out), join(err))
}

fn reader(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = pipe.read_to_string(&mut s);
        s
    })
}

fn join(h: std::thread::JoinHandle<String>) -> String {
    h.join().expect("the reader thread does not panic")
}

fn wait_bounded(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + STEP;
    loop {
        if let Some(status) = child.try_wait().expect("the demo can be waited for") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the demo did not exit within {STEP:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A running demo on a free loopback port; killed when dropped.
pub struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
    /// Every stdout line read so far.
    pub log: Vec<String>,
    pub addr: SocketAddr,
}

impl Demo {
    /// Starts `demo --listen 127.0.0.1:0 ARGS` and waits for its `listening on` line.
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(demo_binary())
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the demo starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Some(reader(child.stderr.take().expect("piped")));
        let mut demo = Self {
            child,
            lines,
            stderr,
            log: Vec::new(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let line = demo.wait_for_line("listening on http://");
        let addr = line
            .split("listening on http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        demo.addr = addr;
        demo
    }

    /// The next stdout line (after those already read) that contains `needle`.
    pub fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no line with {needle:?} ({e}); log so far:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Sends a signal by name (`TERM`, `INT`) with `kill`, as an operator would.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .expect("`kill` runs");
        assert!(status.success(), "kill -s {name} failed: {status}");
    }

    /// Waits (bounded) for the demo to exit: its status, the rest of stdout, and stderr.
    pub fn wait_exit(mut self) -> (ExitStatus, Vec<String>, String) {
        let status = wait_bounded(&mut self.child);
        // The pipe closes with the process: read up to its end.
        while let Ok(line) = self.lines.recv_timeout(STEP) {
            self.log.push(line);
        }
        let stderr = self.stderr.take().map(join).unwrap_or_default();
        (status, std::mem::take(&mut self.log), stderr)
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One `GET` on a fresh connection, as the kubelet probes: the status and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, STEP).expect("the demo accepts");
    stream.set_read_timeout(Some(STEP)).expect("timeout set");
    stream.set_write_timeout(Some(STEP)).expect("timeout set");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n"
    )
    .expect("request written");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("response read");
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {raw:?}"));
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let chunked = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding")
                && v.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

/// An HTTP/1.1 chunked body (a streamed answer, such as `/metrics`), joined.
pub fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let Some((size, rest)) = body.split_once("\r\n") else {
            panic!("a chunk without its size line: {body:?}");
        };
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or_else(|_| panic!("a bad chunk size: {size:?}"));
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = rest[size..]
            .strip_prefix("\r\n")
            .expect("a chunk ends with CRLF");
    }
}
