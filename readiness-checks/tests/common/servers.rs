//! Throwaway database servers for the tests that stop, hang, restart or exhaust a server: each one
//! runs from Debian's binaries on a free loopback port with a data directory of its own, and is
//! stopped (and its directory removed) when its guard drops, also when the test panics. Every wait
//! here is bounded; a server that does not come up fails the test with the tail of its log.
//!
//! The shared servers at the standard ports (`scripts/services.sh`) are only read from.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to start or stop before the test fails.
const START_BOUND: Duration = Duration::from_secs(60);
const STOP_BOUND: Duration = Duration::from_secs(20);
/// How long one command-line client call (psql, mariadb, redis-cli) may take.
const CLIENT_BOUND: &str = "30";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    MariaDb,
    Redis,
}

/// TLS material for a server: PEM certificate chain and key.
#[derive(Clone, Debug)]
pub struct ServerTls {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A private CA (PEM) and a server certificate it signed for `localhost` only, made now.
pub fn test_certificates() -> (String, ServerTls) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // OpenSSL (redis-cli) matches the leaf's issuer by name: the CA needs one.
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "readiness test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("key")).expect("CA");
    let key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .signed_by(&key, &ca)
        .expect("leaf");
    (
        ca.pem(),
        ServerTls {
            cert_pem: leaf.pem(),
            key_pem: key.serialize_pem(),
        },
    )
}

/// A running throwaway server. Dropping it stops the server and removes its directory.
pub struct Server {
    kind: Kind,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    stopped: bool,
    password: Option<String>,
    extra: Vec<String>,
    /// Redis over TLS only: the CA file redis-cli trusts.
    tls_ca: Option<PathBuf>,
}

fn unique_dir(prefix: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "readiness-{prefix}-{}-{n}-{nanos}",
        std::process::id()
    ));
    fs::create_dir_all(&dir).expect("create the server's directory");
    dir
}

/// Removes a directory when a server fails before it exists (its own drop does after).
struct DirGuard(Option<PathBuf>);

impl Drop for DirGuard {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// A port nobody listens on right now (bound and released; the server binds it next).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// The arguments that point a MariaDB client at the server on `port` as `root`.
fn mariadb_to(port: &str) -> [&str; 8] {
    [
        "--no-defaults",
        "--protocol=tcp",
        "-h",
        "127.0.0.1",
        "-P",
        port,
        "-u",
        "root",
    ]
}

fn postgres_bin(name: &str) -> PathBuf {
    let mut versions: Vec<u32> = fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (scripts/services.sh installs it)")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    versions.sort_unstable();
    let v = versions
        .last()
        .expect("a PostgreSQL version under /usr/lib/postgresql");
    PathBuf::from(format!("/usr/lib/postgresql/{v}/bin/{name}"))
}

/// Runs a command to its end, at most `CLIENT_BOUND` seconds (coreutils `timeout`).
fn run(program: &str, args: &[&str]) -> Output {
    Command::new("timeout")
        .arg(CLIENT_BOUND)
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

fn run_ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The process and all of its descendants, read from /proc (PostgreSQL's backends put
/// themselves in sessions of their own, so a process group does not reach them).
fn process_tree(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            let ppid = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok());
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    tree
}

/// Whether every thread of `pid` is stopped (state `T` in /proc), or the process is gone.
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(threads) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return true;
    };
    threads.flatten().all(|t| {
        fs::read_to_string(t.path().join("stat")).map_or(true, |stat| {
            // "tid (comm) state ...": comm may hold spaces and parentheses.
            stat.rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next())
                == Some("T")
        })
    })
}

fn signal(pids: &[u32], sig: &str) {
    if pids.is_empty() {
        return;
    }
    let mut cmd = Command::new("kill");
    cmd.arg(format!("-{sig}")).arg("--");
    for p in pids {
        cmd.arg(p.to_string());
    }
    let _ = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status();
}

impl Server {
    /// PostgreSQL (`initdb -A trust` as the `postgres` user), superuser `postgres`, database
    /// `postgres`; `app` / `app-secret` is a password-checked user (scram) for the auth tests.
    pub fn postgres() -> Server {
        Self::postgres_with(None)
    }

    /// PostgreSQL serving TLS with the given certificate (ssl = on).
    pub fn postgres_with(tls: Option<ServerTls>) -> Server {
        let dir = unique_dir("pg");
        let mut guard = DirGuard(Some(dir.clone()));
        run_ok(
            "chown",
            &["postgres:postgres", dir.to_str().expect("utf-8 dir")],
        );
        let data = dir.join("data");
        let data_s = data.to_str().expect("utf-8 dir").to_owned();
        run_ok(
            "runuser",
            &[
                "-u",
                "postgres",
                "--",
                postgres_bin("initdb").to_str().expect("utf-8"),
                "-D",
                &data_s,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        // Password-checked connections over TCP for `app`, trust for everyone else.
        fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhost all app 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 trust\n",
        )
        .expect("write pg_hba.conf");
        let mut extra = Vec::new();
        if let Some(tls) = tls {
            fs::write(data.join("server.crt"), tls.cert_pem).expect("write server.crt");
            fs::write(data.join("server.key"), tls.key_pem).expect("write server.key");
            let key = data.join("server.key");
            run_ok(
                "chown",
                &[
                    "postgres:postgres",
                    data.join("server.crt").to_str().expect("utf-8"),
                ],
            );
            run_ok(
                "chown",
                &["postgres:postgres", key.to_str().expect("utf-8")],
            );
            run_ok("chmod", &["600", key.to_str().expect("utf-8")]);
            extra.extend(["-c", "ssl=on"].map(String::from));
        }
        // From here the server's own drop removes the directory.
        guard.0 = None;
        let server = Self::started(Kind::Postgres, dir, None, extra, None);
        server.sql("CREATE ROLE app LOGIN PASSWORD 'app-secret'");
        server.sql("CREATE DATABASE app OWNER app");
        server
    }

    /// MariaDB (`mariadb-install-db`), `root` without a password over loopback; `app` /
    /// `app-secret` is a password-checked user, database `test`.
    pub fn mariadb() -> Server {
        let dir = unique_dir("maria");
        let mut guard = DirGuard(Some(dir.clone()));
        let data = dir.join("data");
        // MariaDB names its temporary tables after its pid and thread in its tmpdir: two
        // servers sharing /tmp (a bootstrap next to another test's server) delete each other's
        // ("Installation of system tables failed"). Each has a tmpdir of its own.
        let tmp = dir.join("tmp");
        fs::create_dir_all(&tmp).expect("create the server's tmpdir");
        run_ok(
            "mariadb-install-db",
            &[
                "--no-defaults",
                "--user=root",
                &format!("--datadir={}", data.display()),
                &format!("--tmpdir={}", tmp.display()),
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ],
        );
        // From here the server's own drop removes the directory.
        guard.0 = None;
        let server = Self::started(Kind::MariaDb, dir, None, Vec::new(), None);
        server.sql(
            "CREATE DATABASE test; CREATE USER 'app'@'%' IDENTIFIED BY 'app-secret'; \
             GRANT ALL ON test.* TO 'app'@'%'; CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; \
             GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; FLUSH PRIVILEGES",
        );
        server
    }

    /// Redis keeping nothing on disk; with `password`, the default user needs it (`requirepass`).
    pub fn redis(password: Option<&str>) -> Server {
        Self::redis_with(password, &[])
    }

    /// Redis with more `redis-server` arguments (e.g. `--cluster-enabled yes`, TLS files).
    pub fn redis_with(password: Option<&str>, args: &[&str]) -> Server {
        Self::started(
            Kind::Redis,
            unique_dir("redis"),
            password.map(str::to_owned),
            args.iter().map(|s| (*s).to_owned()).collect(),
            None,
        )
    }

    /// Redis serving TLS only (no plain port) with this certificate, key and CA (PEM);
    /// clients need no certificate of their own.
    pub fn redis_tls(tls: ServerTls, ca_pem: &str) -> Server {
        let dir = unique_dir("redis-tls");
        let file = |name: &str, text: &str| {
            let path = dir.join(name);
            fs::write(&path, text).expect("write a TLS file");
            path.to_str().expect("utf-8 path").to_owned()
        };
        let (cert, key, ca) = (
            file("server.crt", &tls.cert_pem),
            file("server.key", &tls.key_pem),
            file("ca.pem", ca_pem),
        );
        Self::started(
            Kind::Redis,
            dir,
            None,
            [
                "--tls-cert-file",
                &cert,
                "--tls-key-file",
                &key,
                "--tls-ca-cert-file",
                &ca,
                "--tls-auth-clients",
                "no",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
            Some(PathBuf::from(ca)),
        )
    }

    /// A server of `kind` keeping its files in `dir`, on a free port, started; `extra`: more
    /// arguments to the server.
    fn started(
        kind: Kind,
        dir: PathBuf,
        password: Option<String>,
        extra: Vec<String>,
        tls_ca: Option<PathBuf>,
    ) -> Server {
        let mut server = Server {
            kind,
            port: free_port(),
            dir,
            child: None,
            stopped: false,
            password,
            extra,
            tls_ca,
        };
        server.start();
        server
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Starts the server (again, after [`Server::shutdown`]) on the same port and directory,
    /// waiting (bounded) until it answers.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "server already running");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open server.log");
        let port = self.port.to_string();
        let dir = self.dir.to_str().expect("utf-8 dir").to_owned();
        let mut cmd = match self.kind {
            Kind::Postgres => {
                let mut c = Command::new("setpriv");
                c.args([
                    "--reuid=postgres",
                    "--regid=postgres",
                    "--init-groups",
                    "--",
                ])
                .arg(postgres_bin("postgres"))
                .args(["-D", &format!("{dir}/data"), "-k", &dir, "-p", &port])
                .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
                .args(["-c", "max_connections=40", "-c", "shared_buffers=16MB"])
                .args(&self.extra);
                c
            }
            Kind::MariaDb => {
                let mut c = Command::new("/usr/sbin/mariadbd");
                c.arg("--no-defaults")
                    .arg("--user=root")
                    .arg(format!("--datadir={dir}/data"))
                    .arg(format!("--tmpdir={dir}/tmp"))
                    .arg(format!("--socket={dir}/mysqld.sock"))
                    .arg(format!("--pid-file={dir}/mysqld.pid"))
                    .arg(format!("--port={port}"))
                    .args(["--bind-address=127.0.0.1", "--skip-name-resolve"])
                    .args(["--innodb-buffer-pool-size=16M", "--skip-log-bin"])
                    .args(["--max-connections=40", "--skip-networking=0"])
                    .args(&self.extra);
                c
            }
            Kind::Redis => {
                let mut c = Command::new("redis-server");
                if self.tls_ca.is_some() {
                    c.args(["--port", "0", "--tls-port", &port]);
                } else {
                    c.args(["--port", &port]);
                }
                c.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                    .args(["--dir", &dir]);
                if let Some(p) = &self.password {
                    c.args(["--requirepass", p]);
                }
                c.args(&self.extra);
                c
            }
        };
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().expect("spawn the server");
        self.child = Some(child);
        self.stopped = false;
        let started = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                panic!(
                    "{:?} exited at start ({status}):\n{}",
                    self.kind,
                    self.log_tail()
                );
            }
            let answer = self.answers();
            if answer.is_ok() {
                return;
            }
            if started.elapsed() > START_BOUND {
                panic!(
                    "{:?} did not answer within {START_BOUND:?} ({:?}):\n{}",
                    self.kind,
                    answer,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn answers(&self) -> Result<(), String> {
        let port = self.port.to_string();
        let out = match self.kind {
            Kind::Postgres => run(
                "pg_isready",
                &["-q", "-h", "127.0.0.1", "-p", &port, "-U", "postgres"],
            ),
            Kind::MariaDb => run(
                "mariadb-admin",
                &[&mariadb_to(&port)[..], &["ping"]].concat(),
            ),
            Kind::Redis => self.redis_cli(&["PING"]),
        };
        let pong =
            self.kind != Kind::Redis || String::from_utf8_lossy(&out.stdout).contains("PONG");
        if out.status.success() && pong {
            Ok(())
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn redis_cli(&self, args: &[&str]) -> Output {
        let port = self.port.to_string();
        let ca = self
            .tls_ca
            .as_ref()
            .map(|p| p.to_str().expect("utf-8 path").to_owned());
        let mut all = vec!["-h", "127.0.0.1", "-p", &port];
        if let Some(ca) = &ca {
            all.extend(["--tls", "--cacert", ca, "--sni", "localhost"]);
        }
        if let Some(p) = &self.password {
            all.extend(["-a", p, "--no-auth-warning"]);
        }
        all.extend(args);
        run("redis-cli", &all)
    }

    /// Runs SQL (PostgreSQL as `postgres` on database `postgres`, MariaDB as `root`) or a Redis
    /// command line (words split on spaces), returning what the client printed.
    pub fn sql(&self, stmt: &str) -> String {
        let port = self.port.to_string();
        match self.kind {
            Kind::Postgres => run_ok(
                "psql",
                &[
                    "-X",
                    "-q",
                    "-tA",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-c",
                    stmt,
                ],
            ),
            Kind::MariaDb => run_ok(
                "mariadb",
                &[&mariadb_to(&port)[..], &["-N", "-B", "-e", stmt]].concat(),
            ),
            Kind::Redis => {
                let words: Vec<&str> = stmt.split(' ').collect();
                let out = self.redis_cli(&words);
                assert!(
                    out.status.success(),
                    "redis-cli {stmt}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8_lossy(&out.stdout).trim().to_owned()
            }
        }
    }

    /// Client connections the server has open right now, counted server-side
    /// (`pg_stat_activity`, the process list, `CLIENT LIST`), not counting the one asking.
    pub fn client_connections(&self) -> usize {
        let n = match self.kind {
            Kind::Postgres => self.sql(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
            ),
            Kind::MariaDb => self.sql(
                "SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND <> 'Daemon' AND USER <> 'system user'",
            ),
            Kind::Redis => {
                let list = self.sql("CLIENT LIST");
                return list.lines().filter(|l| l.starts_with("id=")).count().saturating_sub(1);
            }
        };
        n.trim()
            .parse()
            .unwrap_or_else(|_| panic!("a count, got {n:?}"))
    }

    fn server_pids(&self) -> Vec<u32> {
        self.child
            .as_ref()
            .map(|c| process_tree(c.id()))
            .unwrap_or_default()
    }

    /// Hangs the server: SIGSTOP to it and every process it forked. It keeps its sockets, so
    /// connects are accepted by the kernel and nothing is answered.
    ///
    /// Returns once every thread of theirs is stopped: `kill` returns when the signal is sent,
    /// and a busy machine lets a server answer a request or two before it takes it.
    pub fn pause(&mut self) {
        let pids = self.server_pids();
        signal(&pids, "STOP");
        self.stopped = true;
        let started = Instant::now();
        while !pids.iter().all(|&p| all_threads_stopped(p)) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{pids:?} not stopped 10 s after SIGSTOP"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// SIGCONT to the server and its children.
    pub fn resume(&mut self) {
        let pids = self.server_pids();
        signal(&pids, "CONT");
        self.stopped = false;
    }

    /// Stops the server (a clean, fast shutdown; SIGKILL past the bound) and waits for it to
    /// exit; its directory stays, so [`Server::start`] brings it back with its data.
    pub fn shutdown(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pids = process_tree(child.id());
        if self.stopped {
            signal(&pids, "CONT");
            self.stopped = false;
        }
        // PostgreSQL: SIGINT is a fast shutdown; MariaDB and Redis shut down on SIGTERM.
        let sig = if self.kind == Kind::Postgres {
            "INT"
        } else {
            "TERM"
        };
        signal(&[child.id()], sig);
        let started = Instant::now();
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if started.elapsed() > STOP_BOUND {
                signal(&process_tree(child.id()), "KILL");
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
