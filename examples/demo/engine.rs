//! The engine the flags describe: the dependencies they name, or simulated ones.

use readiness_core::{CheckSpec, Defaults, Engine, EngineBuilder};
use readiness_testkit::{Fault, FaultInjector, FaultPlan};

use crate::flags::Flags;

/// A new engine from the flags (on the recorder installed globally).
pub(crate) fn build_engine(f: &Flags) -> Result<Engine, readiness_core::BuildError> {
    let defaults = Defaults {
        period: f.period,
        timeout: f.timeout,
        failure_threshold: f.failure_threshold,
        success_threshold: f.success_threshold,
        ..Defaults::default()
    };
    let b = Engine::builder().defaults(defaults);
    let b = if f.names_dependencies() {
        named(b, f)
    } else {
        simulated(b)
    };
    b.build()
}

/// Only what the flags name.
fn named(mut b: EngineBuilder, f: &Flags) -> EngineBuilder {
    for d in &f.checks {
        b = b.check(d.spec());
    }
    for d in &f.optional {
        b = b.check(d.spec().critical(false));
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
            .map(|(_, d)| d.spec())
            .collect();
        b = b.tenant(id, checks);
    }
    b
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
