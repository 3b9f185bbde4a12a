//! The demo server: probes, `/metrics` and (optionally) grpc.health.v1 over simulated or real
//! dependencies. See `DEMO.md` for the flags.
//!
//! ```text
//! cargo run -p readiness-examples --example demo -- [FLAGS]
//! ```
//!
//! With no flags it checks two simulated dependencies driven by the testkit's fault injector:
//! `database` (critical), which goes down for about 20 s every 80 s, and `search`
//! (non-critical), which fails a seeded fifth of its runs; and two tenants, `acme` (healthy)
//! and `globex`, whose `store` goes down for about 30 s every 70 s. With `--check`,
//! `--optional`, `--tenant` or `--tenant-check` it checks only what the flags name, over TCP,
//! HTTP (`http://HOST:PORT/PATH`, kubelet's semantics) or gRPC (`grpc://HOST:PORT[/SERVICE]`,
//! the dependency's own `grpc.health.v1`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::{Router, http::StatusCode, routing::get};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use readiness_core::metrics::{CHECK_DURATION_SECONDS, DURATION_BUCKETS};
use readiness_core::{
    CheckSpec, Defaults, Engine, HEARTBEAT_CHECK, RESERVED_NAMES, TcpCheck, validate_name,
};
use readiness_testkit::{Fault, FaultInjector, FaultPlan};
use readiness_tower::{GrpcCheck, HttpCheck, ReadinessLayer};
use tower::ServiceBuilder;
use tower::limit::ConcurrencyLimitLayer;

/// The most `GET /slow?ms=N` waits.
const MAX_SLOW_MS: u64 = 60_000;

/// `GET /slow?ms=N`: answers after N milliseconds, so a saturated concurrency limit can be
/// tried from outside. A missing or bad `ms` is a 400.
async fn slow(uri: http::Uri) -> (StatusCode, String) {
    let ms = uri
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("ms="))
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&ms| ms <= MAX_SLOW_MS);
    let Some(ms) = ms else {
        return (
            StatusCode::BAD_REQUEST,
            format!(
                "bad request: /slow wants ?ms=N, a whole number of milliseconds up to {MAX_SLOW_MS}\n"
            ),
        );
    };
    tokio::time::sleep(Duration::from_millis(ms)).await;
    (StatusCode::OK, format!("slept {ms} ms\n"))
}

const USAGE: &str = "usage: demo [FLAGS]

  --listen ADDR                 HTTP address (default 127.0.0.1:3000): GET /, probes, GET /metrics
  --grpc-listen ADDR            also serve grpc.health.v1 (Check, Watch, List): \"\" and readiness,
                                liveness, startup, tenants/ID
  --check NAME=URL              a critical readiness check (repeatable); URL is tcp://HOST:PORT
                                (connects), http://HOST:PORT/PATH (200-399 passes) or
                                grpc://HOST:PORT[/SERVICE] (its grpc.health.v1 Check is SERVING)
  --optional NAME=URL           a non-critical readiness check (repeatable)
  --tenant ID                   register a tenant (repeatable)
  --tenant-check ID/NAME=URL    a critical check of that tenant (repeatable)
  --period DUR                  check period (default 2s; DUR is 250ms, 2s, 1m, ...)
  --timeout DUR                 check timeout (default 1s)
  --failure-threshold N         consecutive failures to fail (default 3)
  --success-threshold N         consecutive successes to pass (default 1)
  --drain-delay DUR             on SIGTERM/Ctrl-C: 503 at once, serve DUR more, exit 0; a second
                                signal exits 1 at once (default 35s: Kubernetes' default readiness
                                probe, 10s x 3, plus 5s for endpoints to update)
  --shutdown-timeout DUR        after the drain delay, wait at most DUR for connections still
                                open, then close them and exit 0 (default 60s: the longest
                                GET /slow)
  --show-details                show failure reasons instead of `reason withheld`
  --tenant-header NAME          shed GET / of a not-ready tenant named in that header
  --concurrency-limit N         business routes behind tower's ConcurrencyLimitLayer (N at once);
                                probes never wait for it

Business routes: GET / answers at once; GET /slow?ms=N answers after N ms (at most 60000).

With no --check/--optional/--tenant/--tenant-check, checks simulated dependencies.";

/// A flag error: one line naming the flag; the demo exits 2.
struct FlagError(String);

/// The URL forms a dependency flag takes.
const URL_FORMS: &str = "tcp://HOST:PORT, http://HOST:PORT/PATH or grpc://HOST:PORT[/SERVICE]";

/// What a dependency flag checks, built once when the flag is parsed.
#[derive(Clone, Debug)]
enum Probe {
    Tcp(TcpCheck),
    Http(Arc<HttpCheck>),
    Grpc(Arc<GrpcCheck>),
}

impl Probe {
    fn spec(&self, name: &str) -> CheckSpec {
        match self {
            Self::Tcp(c) => CheckSpec::readiness(name, c.clone()),
            Self::Http(c) => CheckSpec::readiness(name, c.clone()),
            Self::Grpc(c) => CheckSpec::readiness(name, c.clone()),
        }
    }
}

#[derive(Debug)]
struct Dep {
    name: String,
    probe: Probe,
}

#[derive(Debug)]
struct Flags {
    listen: SocketAddr,
    grpc_listen: Option<SocketAddr>,
    checks: Vec<Dep>,
    optional: Vec<Dep>,
    tenants: Vec<String>,
    tenant_checks: Vec<(String, Dep)>,
    period: Duration,
    timeout: Duration,
    failure_threshold: u32,
    success_threshold: u32,
    drain_delay: Duration,
    shutdown_timeout: Duration,
    show_details: bool,
    tenant_header: Option<String>,
    concurrency_limit: Option<u32>,
}

impl Default for Flags {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            grpc_listen: None,
            checks: Vec::new(),
            optional: Vec::new(),
            tenants: Vec::new(),
            tenant_checks: Vec::new(),
            period: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            failure_threshold: 3,
            success_threshold: 1,
            // Kubernetes' default readiness probe fails a pod after periodSeconds x
            // failureThreshold = 10 s x 3; load balancers then need a few seconds more.
            drain_delay: Duration::from_secs(35),
            // The longest request the demo serves: past it, an open connection is a client
            // that never finished its request (axum::serve sets no header read timeout).
            shutdown_timeout: Duration::from_millis(MAX_SLOW_MS),
            show_details: false,
            tenant_header: None,
            concurrency_limit: None,
        }
    }
}

fn parse_duration(flag: &str, v: &str) -> Result<Duration, FlagError> {
    let err = || {
        FlagError(format!(
            "{flag}: invalid duration {v:?} (use 250ms, 2s, 1m)"
        ))
    };
    let split = v.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().map_err(|_| err())?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs).ok_or_else(err),
        "h" => n.checked_mul(3600).map(Duration::from_secs).ok_or_else(err),
        _ => Err(err()),
    }
}

fn parse_positive_duration(flag: &str, v: &str) -> Result<Duration, FlagError> {
    let d = parse_duration(flag, v)?;
    if d.is_zero() {
        return Err(FlagError(format!(
            "{flag}: must be greater than zero, got {v:?}"
        )));
    }
    Ok(d)
}

fn parse_count(flag: &str, v: &str) -> Result<u32, FlagError> {
    match v.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(FlagError(format!(
            "{flag}: expected a whole number of at least 1, got {v:?}"
        ))),
    }
}

fn parse_addr(flag: &str, v: &str) -> Result<SocketAddr, FlagError> {
    v.parse().map_err(|_| {
        FlagError(format!(
            "{flag}: expected HOST:PORT like 127.0.0.1:3000, got {v:?}"
        ))
    })
}

fn parse_name(flag: &str, what: &str, name: &str) -> Result<String, FlagError> {
    validate_name(name)
        .map(|()| name.to_owned())
        .map_err(|e| FlagError(format!("{flag}: invalid {what} {name:?}: {e}")))
}

/// `NAME=URL`, URL one of [`URL_FORMS`].
fn parse_dep(flag: &str, v: &str) -> Result<Dep, FlagError> {
    let (name, url) = v.split_once('=').ok_or_else(|| {
        FlagError(format!(
            "{flag}: expected NAME=URL ({URL_FORMS}), got {v:?}"
        ))
    })?;
    let name = parse_name(flag, "check name", name)?;
    Ok(Dep {
        name,
        probe: parse_url(flag, url)?,
    })
}

fn parse_url(flag: &str, url: &str) -> Result<Probe, FlagError> {
    let bad = |why: &str| FlagError(format!("{flag}: invalid URL {url:?}: {why}"));
    let host_port = |addr: &str| match addr.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0),
        None => false,
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad(&format!("expected {URL_FORMS}")));
    };
    match scheme {
        "tcp" if host_port(rest) => Ok(Probe::Tcp(TcpCheck::new(rest))),
        "tcp" => Err(bad("expected tcp://HOST:PORT")),
        "http" => HttpCheck::new(url)
            .map(|c| Probe::Http(Arc::new(c)))
            .map_err(|e| FlagError(format!("{flag}: {e}"))),
        "grpc" => {
            let (addr, service) = rest.split_once('/').unwrap_or((rest, ""));
            if !host_port(addr) {
                return Err(bad("expected grpc://HOST:PORT[/SERVICE]"));
            }
            GrpcCheck::new(&format!("http://{addr}"))
                .map(|c| Probe::Grpc(Arc::new(c.service(service))))
                .map_err(|e| FlagError(format!("{flag}: {e}")))
        }
        "https" | "grpcs" => Err(bad("TLS is not supported yet")),
        other => Err(bad(&format!(
            "unsupported scheme {other:?}: expected {URL_FORMS}"
        ))),
    }
}

fn parse_flags(args: impl IntoIterator<Item = String>) -> Result<Option<Flags>, FlagError> {
    let mut f = Flags::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        if flag == "--show-details" {
            f.show_details = match inline.as_deref() {
                None | Some("true") => true,
                Some("false") => false,
                Some(v) => {
                    return Err(FlagError(format!(
                        "{flag}: takes no value (or =true / =false), got {v:?}"
                    )));
                }
            };
            continue;
        }
        let known = [
            "--listen",
            "--grpc-listen",
            "--check",
            "--optional",
            "--tenant",
            "--tenant-check",
            "--period",
            "--timeout",
            "--failure-threshold",
            "--success-threshold",
            "--drain-delay",
            "--shutdown-timeout",
            "--tenant-header",
            "--concurrency-limit",
        ];
        if !known.contains(&flag.as_str()) {
            return Err(FlagError(format!("{flag}: unknown flag (try --help)")));
        }
        let value = match inline.or_else(|| args.next()) {
            Some(v) => v,
            None => return Err(FlagError(format!("{flag}: missing value"))),
        };
        let v = value.as_str();
        match flag.as_str() {
            "--listen" => f.listen = parse_addr(&flag, v)?,
            "--grpc-listen" => f.grpc_listen = Some(parse_addr(&flag, v)?),
            "--check" => f.checks.push(parse_dep(&flag, v)?),
            "--optional" => f.optional.push(parse_dep(&flag, v)?),
            "--tenant" => {
                let id = parse_name(&flag, "tenant id", v)?;
                // Naming a tenant twice registers it once.
                if !f.tenants.contains(&id) {
                    f.tenants.push(id);
                }
            }
            "--tenant-check" => {
                let shape = || {
                    FlagError(format!(
                        "{flag}: expected ID/NAME=URL ({URL_FORMS}), got {v:?}"
                    ))
                };
                let (id, rest) = v.split_once('/').ok_or_else(shape)?;
                let id = parse_name(&flag, "tenant id", id)?;
                f.tenant_checks.push((id, parse_dep(&flag, rest)?));
            }
            "--concurrency-limit" => f.concurrency_limit = Some(parse_count(&flag, v)?),
            "--period" => f.period = parse_positive_duration(&flag, v)?,
            "--timeout" => f.timeout = parse_positive_duration(&flag, v)?,
            "--failure-threshold" => f.failure_threshold = parse_count(&flag, v)?,
            "--success-threshold" => f.success_threshold = parse_count(&flag, v)?,
            "--drain-delay" => f.drain_delay = parse_duration(&flag, v)?,
            "--shutdown-timeout" => f.shutdown_timeout = parse_duration(&flag, v)?,
            "--tenant-header" => {
                if http::HeaderName::try_from(v).is_err() {
                    return Err(FlagError(format!("{flag}: invalid header name {v:?}")));
                }
                f.tenant_header = Some(v.to_ascii_lowercase());
            }
            _ => unreachable!("flag list checked above"),
        }
    }
    check_names(&f)?;
    Ok(Some(f))
}

/// Names the engine would refuse, reported against the flag that gave them.
fn check_names(f: &Flags) -> Result<(), FlagError> {
    let mut global = std::collections::HashSet::new();
    for (flag, dep) in f
        .checks
        .iter()
        .map(|d| ("--check", d))
        .chain(f.optional.iter().map(|d| ("--optional", d)))
    {
        if RESERVED_NAMES.contains(&dep.name.as_str()) || dep.name == HEARTBEAT_CHECK {
            return Err(FlagError(format!(
                "{flag}: the check name {:?} is reserved",
                dep.name
            )));
        }
        if !global.insert(dep.name.as_str()) {
            return Err(FlagError(format!(
                "{flag}: the check name {:?} is given twice",
                dep.name
            )));
        }
    }
    for (flag, id) in f
        .tenants
        .iter()
        .map(|id| ("--tenant", id))
        .chain(f.tenant_checks.iter().map(|(id, _)| ("--tenant-check", id)))
    {
        if RESERVED_NAMES.contains(&id.as_str()) {
            return Err(FlagError(format!(
                "{flag}: the tenant id {id:?} is reserved"
            )));
        }
    }
    let mut per_tenant = std::collections::HashSet::new();
    for (id, dep) in &f.tenant_checks {
        if ["instance", "shutdown", "tenants"].contains(&dep.name.as_str()) {
            return Err(FlagError(format!(
                "--tenant-check: the check name {:?} is reserved for tenants",
                dep.name
            )));
        }
        if !per_tenant.insert((id.as_str(), dep.name.as_str())) {
            return Err(FlagError(format!(
                "--tenant-check: {id}/{} is given twice",
                dep.name
            )));
        }
    }
    Ok(())
}

fn build_engine(f: &Flags) -> Result<Engine, readiness_core::BuildError> {
    let defaults = Defaults {
        period: f.period,
        timeout: f.timeout,
        failure_threshold: f.failure_threshold,
        success_threshold: f.success_threshold,
        ..Defaults::default()
    };
    let mut b = Engine::builder().defaults(defaults);
    let real = !f.checks.is_empty()
        || !f.optional.is_empty()
        || !f.tenants.is_empty()
        || !f.tenant_checks.is_empty();
    if real {
        for d in &f.checks {
            b = b.check(d.probe.spec(&d.name));
        }
        for d in &f.optional {
            b = b.check(d.probe.spec(&d.name).critical(false));
        }
        // A tenant named only by --tenant-check is registered too.
        let mut ids: Vec<&str> = f.tenants.iter().map(String::as_str).collect();
        for (id, _) in &f.tenant_checks {
            if !ids.contains(&id.as_str()) {
                ids.push(id);
            }
        }
        for id in ids {
            let checks = f
                .tenant_checks
                .iter()
                .filter(|(t, _)| t == id)
                .map(|(_, d)| d.probe.spec(&d.name))
                .collect();
            b = b.tenant(id, checks);
        }
    } else {
        // Simulated dependencies: up for 30 runs, down for 10, over and over.
        let database = FaultPlan::new()
            .then_n(Fault::Pass, 30)
            .then_n(Fault::fail("connection refused (simulated outage)"), 10)
            .looping();
        let search = FaultPlan::random(0x5EED, 0.2)
            .expect("a constant rate in 0..=1")
            .looping();
        // Two tenants: acme stays up; globex's store goes down on a different rhythm, so
        // its probe (and only its probe) turns 503 while the instance stays ready.
        let globex_store = FaultPlan::new()
            .then_n(Fault::Pass, 20)
            .then_n(Fault::fail("tenant store unreachable (simulated)"), 15)
            .looping();
        b = b
            .check(CheckSpec::readiness(
                "database",
                FaultInjector::standalone(database),
            ))
            .check(
                CheckSpec::readiness("search", FaultInjector::standalone(search)).critical(false),
            )
            .tenant(
                "acme",
                vec![CheckSpec::readiness(
                    "store",
                    FaultInjector::standalone(FaultPlan::always(Fault::Pass)),
                )],
            )
            .tenant(
                "globex",
                vec![CheckSpec::readiness(
                    "store",
                    FaultInjector::standalone(globex_store),
                )],
            );
    }
    b.build()
}

/// SIGTERM and Ctrl-C (SIGINT), as a stream: the first starts the drain, a second one cuts it
/// short. Registered before the server starts, so neither ever kills the process outright.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let flags = match parse_flags(std::env::args().skip(1)) {
        Ok(Some(f)) => f,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(FlagError(msg)) => {
            eprintln!("demo: {msg}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let mut signals = match Signals::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("demo: cannot listen for SIGTERM and Ctrl-C: {e}");
            return ExitCode::FAILURE;
        }
    };

    let recorder = match PrometheusBuilder::new().set_buckets_for_metric(
        Matcher::Full(CHECK_DURATION_SECONDS.into()),
        DURATION_BUCKETS,
    ) {
        Ok(b) => b.build_recorder(),
        Err(e) => {
            eprintln!("demo: metrics: {e}");
            return ExitCode::FAILURE;
        }
    };
    let handle = recorder.handle();
    if let Err(e) = metrics::set_global_recorder(recorder) {
        eprintln!("demo: metrics: {e}");
        return ExitCode::FAILURE;
    }

    let engine = match build_engine(&flags) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::from(2);
        }
    };

    let mut layer = ReadinessLayer::builder(engine.clone())
        .show_details(flags.show_details)
        .metrics(handle);
    if let Some(name) = &flags.tenant_header {
        match http::HeaderName::try_from(name.as_str()) {
            Ok(h) => layer = layer.shed_tenants_by_header(h),
            Err(_) => {
                eprintln!("demo: --tenant-header: invalid header name {name:?}");
                return ExitCode::from(2);
            }
        }
    }
    let layer = match layer.build() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::from(2);
        }
    };
    let router: Router = Router::new()
        .route("/", get(|| async { "hello from the readiness demo\n" }))
        .route("/slow", get(slow));
    // Without --concurrency-limit the limit is as wide as a semaphore goes: one code path.
    let limit = flags
        .concurrency_limit
        .map_or(tokio::sync::Semaphore::MAX_PERMITS, |n| n as usize);
    let app = ServiceBuilder::new()
        .layer(layer)
        .layer(ConcurrencyLimitLayer::new(limit))
        .service(router);

    let listener = match tokio::net::TcpListener::bind(flags.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("demo: --listen {}: {e}", flags.listen);
            return ExitCode::FAILURE;
        }
    };
    let local = listener.local_addr().unwrap_or(flags.listen);
    tracing::info!(
        "listening on http://{local}  (try /readyz?verbose, /livez, /startupz, /metrics, /readyz/tenants/ID?verbose)"
    );

    let mut grpc = None;
    if let Some(addr) = flags.grpc_listen {
        let (health, _reporter) = readiness_tower::grpc::health_service(&engine);
        let grpc_listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("demo: --grpc-listen {addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let bound = grpc_listener.local_addr().unwrap_or(addr);
        tracing::info!(
            "grpc.health.v1 on {bound}  (Check, Watch, List: \"\", readiness, liveness, startup, tenants/ID)"
        );
        grpc = Some(tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(health)
                .serve_with_incoming_shutdown(
                    // tonic's own `serve` sets TCP_NODELAY; a listener handed to it does
                    // not, and Nagle then holds small Watch messages back by tens of ms.
                    tonic::transport::server::TcpIncoming::from(grpc_listener)
                        .with_nodelay(Some(true)),
                    // drain_on closes the engine at the end of the drain delay, which ends
                    // every open Watch stream, so this server returns at once.
                    engine.closed(),
                ),
        ));
    }

    // The first signal starts the drain (readiness 503 at once, serving for the delay, then
    // the servers stop: the gRPC one when the engine closes); a second one cuts it short.
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
    let second_signal = async move {
        signals.next().await;
        let _ = first_tx.send(());
        signals.next().await;
    };
    let shutdown = engine.drain_on(
        async move {
            let _ = first_rx.await;
        },
        flags.drain_delay,
    );
    let serve = async {
        let served = axum::serve(listener, tower::make::Shared::new(app))
            .with_graceful_shutdown(shutdown)
            .await;
        if let Some(g) = grpc
            && let Ok(Err(e)) = g.await
        {
            eprintln!("demo: grpc server: {e}");
        }
        served
    };
    // After the drain delay, connections get the shutdown timeout to finish. axum::serve sets
    // hyper no header read timeout, so a client that sent half a request head would hold the
    // graceful shutdown open for good (until the kubelet's SIGKILL).
    let cut_off = {
        let closed = engine.closed();
        let timeout = flags.shutdown_timeout;
        async move {
            closed.await;
            tokio::time::sleep(timeout).await;
            tracing::warn!(
                "connections still open {timeout:?} after the drain delay: closing them"
            );
        }
    };
    let served = tokio::select! {
        served = serve => served,
        () = cut_off => Ok(()),
        () = second_signal => {
            eprintln!("demo: second signal during the drain: drain cut short, exiting with status 1");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = served {
        eprintln!("demo: server: {e}");
        return ExitCode::FAILURE;
    }
    engine.shutdown().await;
    tracing::info!("stopped");
    ExitCode::SUCCESS
}
