//! The demo's flags (DEMO.md): parsed into [`Flags`], or one line naming the bad flag.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use readiness_core::{Check, CheckSpec, Defaults, HEARTBEAT_CHECK, RESERVED_NAMES, validate_name};

use crate::checks::{CheckOptions, URL_FORMS, parse_check};

pub(crate) const USAGE: &str = "usage: demo [FLAGS]

  --listen ADDR                 HTTP address (default 127.0.0.1:3000): GET /, probes, GET /metrics
  --grpc-listen ADDR            also serve grpc.health.v1 (Check, Watch, List): \"\" and readiness,
                                liveness, startup, tenants/ID
  --check NAME=URL              a critical readiness check (repeatable); URL is tcp://HOST:PORT
                                (connects), http(s)://HOST:PORT/PATH (200-399 passes),
                                grpc(s)://HOST:PORT[/SERVICE] (its grpc.health.v1 Check is
                                SERVING), dns://NAME (resolves), disk:PATH?min_free=SIZE (free
                                space, 10MiB, 1GB, ...) or cert:PATH (the PEM certificate is valid)
  --ca-file PATH                trust the CA certificates in this PEM file (besides the system's
                                roots) for every TLS check (repeatable)
  --optional NAME=URL           a non-critical readiness check (repeatable)
  --tenant ID                   register a tenant (repeatable)
  --tenant-check ID/NAME=URL    a critical check of that tenant (repeatable)
  --checks-file PATH            more checks, one a line (`check NAME=URL`, `optional NAME=URL`,
                                `tenant-check ID/NAME=URL`; # starts a comment), read at start
                                and again on every SIGHUP (a reload)
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

SIGHUP reloads: a new engine from the flags and the checks file, swapped in with no readiness
dip; a file that does not parse keeps the running engine (one log line names the line).

With no --check/--optional/--tenant/--tenant-check, checks simulated dependencies.";

/// The most `GET /slow?ms=N` waits.
pub(crate) const MAX_SLOW_MS: u64 = 60_000;

/// A flag error: one line naming the flag; the demo exits 2.
#[derive(Debug)]
pub(crate) struct FlagError(pub(crate) String);

/// A named check from a dependency flag, built once when the flag is parsed.
#[derive(Clone)]
pub(crate) struct Dep {
    pub(crate) name: String,
    pub(crate) check: Arc<dyn Check>,
}

impl Dep {
    /// A critical readiness check named after the flag's NAME.
    pub(crate) fn spec(&self) -> CheckSpec {
        CheckSpec::readiness(&self.name, self.check.clone())
    }
}

pub(crate) struct Flags {
    pub(crate) listen: SocketAddr,
    pub(crate) grpc_listen: Option<SocketAddr>,
    pub(crate) checks: Vec<Dep>,
    pub(crate) optional: Vec<Dep>,
    pub(crate) tenants: Vec<String>,
    pub(crate) tenant_checks: Vec<(String, Dep)>,
    /// `--checks-file`: read at start and at every `SIGHUP`.
    pub(crate) checks_file: Option<PathBuf>,
    /// What every check built from a URL shares (`--ca-file`), the file's checks too.
    pub(crate) check_options: CheckOptions,
    /// `--period`, `--timeout`, `--failure-threshold` and `--success-threshold`: what every
    /// check takes unless it says otherwise.
    pub(crate) defaults: Defaults,
    pub(crate) drain_delay: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) show_details: bool,
    pub(crate) tenant_header: Option<String>,
    pub(crate) concurrency_limit: Option<u32>,
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
            checks_file: None,
            check_options: CheckOptions::default(),
            defaults: Defaults {
                period: Duration::from_secs(2),
                timeout: Duration::from_secs(1),
                failure_threshold: 3,
                success_threshold: 1,
                ..Defaults::default()
            },
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

impl Flags {
    /// Whether any flag names real dependencies or tenants (else the demo simulates them).
    pub(crate) fn names_dependencies(&self) -> bool {
        !self.checks.is_empty()
            || !self.optional.is_empty()
            || !self.tenants.is_empty()
            || !self.tenant_checks.is_empty()
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

pub(crate) fn parse_name(flag: &str, what: &str, name: &str) -> Result<String, FlagError> {
    validate_name(name)
        .map(|()| name.to_owned())
        .map_err(|e| FlagError(format!("{flag}: invalid {what} {name:?}: {e}")))
}

/// `NAME=URL`, URL one of [`URL_FORMS`], built with `opts` (a checks file's line, once the
/// flags are read).
pub(crate) fn parse_dep(flag: &str, v: &str, opts: &CheckOptions) -> Result<Dep, FlagError> {
    build_dep(split_dep(flag, v)?, opts)
}

/// `NAME=URL`, URL one of [`URL_FORMS`]: the name checked, the URL kept for
/// [`build_dep`] (the flags build theirs once every `--ca-file` is known).
fn split_dep(flag: &str, v: &str) -> Result<Pending, FlagError> {
    let (name, url) = v.split_once('=').ok_or_else(|| {
        FlagError(format!(
            "{flag}: expected NAME=URL ({URL_FORMS}), got {:?}",
            readiness_checks::redact_url(v)
        ))
    })?;
    Ok(Pending {
        flag: flag.to_owned(),
        name: parse_name(flag, "check name", name)?,
        url: url.to_owned(),
    })
}

/// A dependency flag read but not built yet.
struct Pending {
    flag: String,
    name: String,
    url: String,
}

fn build_dep(p: Pending, opts: &CheckOptions) -> Result<Dep, FlagError> {
    Ok(Dep {
        check: parse_check(&p.flag, &p.url, opts).map_err(FlagError)?,
        name: p.name,
    })
}

/// The flags, or `None` for `--help`.
pub(crate) fn parse_flags(
    args: impl IntoIterator<Item = String>,
) -> Result<Option<Flags>, FlagError> {
    let mut f = Flags::default();
    let mut ca_files: Vec<PathBuf> = Vec::new();
    let (mut checks, mut optional, mut tenant_checks) = (Vec::new(), Vec::new(), Vec::new());
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
            "--checks-file",
            "--period",
            "--timeout",
            "--failure-threshold",
            "--success-threshold",
            "--drain-delay",
            "--shutdown-timeout",
            "--tenant-header",
            "--concurrency-limit",
            "--ca-file",
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
            "--check" => checks.push(split_dep(&flag, v)?),
            "--optional" => optional.push(split_dep(&flag, v)?),
            "--ca-file" => ca_files.push(PathBuf::from(v)),
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
                        "{flag}: expected ID/NAME=URL ({URL_FORMS}), got {:?}",
                        readiness_checks::redact_url(v)
                    ))
                };
                let (id, rest) = v.split_once('/').ok_or_else(shape)?;
                let id = parse_name(&flag, "tenant id", id)?;
                tenant_checks.push((id, split_dep(&flag, rest)?));
            }
            "--checks-file" => f.checks_file = Some(PathBuf::from(v)),
            "--concurrency-limit" => f.concurrency_limit = Some(parse_count(&flag, v)?),
            "--period" => f.defaults.period = parse_positive_duration(&flag, v)?,
            "--timeout" => f.defaults.timeout = parse_positive_duration(&flag, v)?,
            "--failure-threshold" => f.defaults.failure_threshold = parse_count(&flag, v)?,
            "--success-threshold" => f.defaults.success_threshold = parse_count(&flag, v)?,
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
    // The URLs are built once every flag is read: `--ca-file` applies to every TLS check,
    // wherever it stands.
    let opts = CheckOptions::with_ca_files(&ca_files).map_err(FlagError)?;
    for p in checks {
        f.checks.push(build_dep(p, &opts)?);
    }
    for p in optional {
        f.optional.push(build_dep(p, &opts)?);
    }
    for (id, p) in tenant_checks {
        f.tenant_checks.push((id, build_dep(p, &opts)?));
    }
    f.check_options = opts;
    check_names(&f)?;
    Ok(Some(f))
}

/// A name the instance's checks may not take.
pub(crate) fn check_global_name(flag: &str, name: &str) -> Result<(), FlagError> {
    if RESERVED_NAMES.contains(&name) || name == HEARTBEAT_CHECK {
        return Err(FlagError(format!(
            "{flag}: the check name {name:?} is reserved"
        )));
    }
    Ok(())
}

/// A tenant id or tenant check name the engine would refuse.
pub(crate) fn check_tenant_names(flag: &str, id: &str, check: &str) -> Result<(), FlagError> {
    if RESERVED_NAMES.contains(&id) {
        return Err(FlagError(format!(
            "{flag}: the tenant id {id:?} is reserved"
        )));
    }
    if ["instance", "shutdown", "tenants"].contains(&check) {
        return Err(FlagError(format!(
            "{flag}: the check name {check:?} is reserved for tenants"
        )));
    }
    Ok(())
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
        check_global_name(flag, &dep.name)?;
        if !global.insert(dep.name.as_str()) {
            return Err(FlagError(format!(
                "{flag}: the check name {:?} is given twice",
                dep.name
            )));
        }
    }
    for id in &f.tenants {
        check_tenant_names("--tenant", id, "")?;
    }
    let mut per_tenant = std::collections::HashSet::new();
    for (id, dep) in &f.tenant_checks {
        check_tenant_names("--tenant-check", id, &dep.name)?;
        if !per_tenant.insert((id.as_str(), dep.name.as_str())) {
            return Err(FlagError(format!(
                "--tenant-check: {id}/{} is given twice",
                dep.name
            )));
        }
    }
    Ok(())
}
