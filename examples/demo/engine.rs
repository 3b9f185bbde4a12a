//! The engine the flags describe: the dependencies they name, or simulated ones.

use std::sync::Arc;

use readiness_core::{BuildError, CheckSpec, Engine, EngineBuilder, ReloadableEngine};
use readiness_testkit::{Fault, FaultInjector, FaultPlan};

use crate::checks_file::FileChecks;
use crate::flags::{Dep, Flags};

/// The configuration the flags and the checks file describe, ready to build (at start) or to
/// reload (on `SIGHUP`), and what the reload line says of it: checks and tenants.
pub(crate) struct Config {
    pub(crate) builder: EngineBuilder,
    pub(crate) checks: usize,
    pub(crate) tenants: usize,
}

/// The engine the flags and the checks file describe (on the recorder installed globally).
pub(crate) fn config(f: &Flags, file: &FileChecks) -> Config {
    let b = Engine::builder().defaults(f.defaults);
    if f.names_dependencies() || !file.is_empty() {
        named(b, f, file)
    } else {
        Config {
            builder: simulated(b),
            checks: 2,
            tenants: 2,
        }
    }
}

/// Only what the flags and the file name.
fn named(mut b: EngineBuilder, f: &Flags, file: &FileChecks) -> Config {
    let mut checks = 0;
    for d in f.checks.iter().chain(&file.checks) {
        b = b.check(d.spec());
        checks += 1;
    }
    for d in f.optional.iter().chain(&file.optional) {
        b = b.check(d.spec().critical(false));
        checks += 1;
    }
    let tenant_checks: Vec<&(String, Dep)> =
        f.tenant_checks.iter().chain(&file.tenant_checks).collect();
    // A tenant named only by a tenant check is registered too.
    let mut ids: Vec<&str> = f.tenants.iter().map(String::as_str).collect();
    for (id, _) in &tenant_checks {
        if !ids.contains(&id.as_str()) {
            ids.push(id);
        }
    }
    let tenants = ids.len();
    for id in ids {
        let checks = tenant_checks
            .iter()
            .filter(|(t, _)| t == id)
            .map(|(_, d)| d.spec())
            .collect();
        b = b.tenant(id, checks);
    }
    Config {
        builder: b,
        checks,
        tenants,
    }
}

/// A build error on one line: its problems joined by `; `.
pub(crate) fn one_line(e: &BuildError) -> String {
    let problems: Vec<String> = e.problems().iter().map(ToString::to_string).collect();
    problems.join("; ")
}

/// `SIGHUP`: a new engine from the flags and the checks file read again, swapped in through
/// the library's reload (no readiness dip, no phantom transition; gRPC names and open Watch
/// streams carry on). One log line either way; a bad file or configuration keeps the running
/// engine. Never exits.
pub(crate) async fn reload_on_hangup(
    engine: ReloadableEngine,
    flags: Arc<Flags>,
    mut hangups: crate::shutdown::Hangups,
) {
    while hangups.next().await {
        let file = match crate::checks_file::load(&flags) {
            Ok(file) => file,
            Err(e) => {
                tracing::warn!("demo: reload refused, the running engine serves on: {e}");
                continue;
            }
        };
        let config = config(&flags, &file);
        match engine.reload(config.builder).await {
            Ok(()) => tracing::info!(
                "demo: reloaded: {} checks, {} tenants",
                config.checks,
                config.tenants
            ),
            Err(e) => tracing::warn!(
                "demo: reload refused, the running engine serves on: {}",
                one_line(&e)
            ),
        }
    }
}

/// Simulated dependencies: up for 30 runs, down for 10, over and over.
fn simulated(b: EngineBuilder) -> EngineBuilder {
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
    b.check(CheckSpec::readiness(
        "database",
        FaultInjector::standalone(database),
    ))
    .check(CheckSpec::readiness("search", FaultInjector::standalone(search)).critical(false))
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
    )
}
