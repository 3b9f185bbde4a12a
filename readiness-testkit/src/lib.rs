//! Deterministic fault injection for testing code built on `readiness`.
//!
//! Everything in this crate sits behind the **`chaos`** feature. Without it the crate compiles
//! to this documentation and nothing else: no item, no dependency. Enable it only where tests
//! need it, typically as a dev-dependency:
//!
//! ```toml
//! [dev-dependencies]
//! readiness-testkit = { version = "0.1", features = ["chaos"] }
//! # `#[tokio::test(start_paused = true)]`, which every example here uses, needs `test-util`:
//! # without it the test fails to compile with an error that does not say so.
//! tokio = { version = "1", features = ["macros", "rt", "time", "test-util"] }
//! ```
//!
//! The tests and examples run on tokio's paused clock (`start_paused = true`): the schedule of
//! checks, timeouts and faults covers minutes in milliseconds, and nothing depends on how busy
//! the machine is. That attribute exists only with tokio's **`test-util`** feature, as above.
//!
//! With the feature on, the crate provides:
//!
//! - `Fault`: what one run of a check does — pass, fail with a reason, hang, pass after a
//!   delay, or panic.
//! - `FaultPlan`: which fault each run gets — scripted sequences (`then`, `then_n`, `repeat`,
//!   `looping`, `then_always`), `always`, `flap`, and seeded random plans (`random`,
//!   `random_weighted`).
//! - `FaultInjector`: a `readiness_core::Check` that follows a plan, standing in for a
//!   dependency (`standalone`) or wrapping a real check (`wrap`), and its cloneable
//!   `FaultHandle` that changes the plan while the engine runs and reports what happened.
//! - `chaos_seed` / `try_chaos_seed`: a seed taken from `READINESS_CHAOS_SEED` to replay a run,
//!   or derived fresh, and printed either way.
//! - `ProbeClient`: probes called in-process, without sockets, on an engine or on the whole
//!   application (`for_service`), reasons withheld as in production unless `with_details`,
//!   with assertions (`assert_ready`, `assert_live`, `assert_status`) whose panic message
//!   carries the verbose probe body.
//! - `wait_until`, `wait_until_ready`, `wait_for_check`: let the background schedule run (on
//!   tokio's paused clock, minutes in milliseconds) until a condition holds, with a timeout
//!   that says what the checks were doing.
//! - `MetricsCapture` and `Exposition`: a local Prometheus recorder to build the engine under,
//!   and a parser of the text exposition (label values unescaped) to read what was emitted.
//!
//! # The chaos suite
//!
//! This crate's `tests/chaos.rs` holds the project's chaos suite, and `tests/chaos_day.rs` its
//! simulated day (its own test binary: it counts the heap with a global allocator). Their
//! tests are `#[ignore]`d, so
//! `cargo test --workspace` runs none of them; exactly they run with
//! `cargo test -p readiness-testkit --features chaos --test chaos --test chaos_day -- --ignored`.
//!
//! # Determinism
//!
//! Faults never depend on wall-clock time or on scheduling. A plan is a pure function from the
//! run number (0 for the first call of the check, 1 for the next, ...) to a fault, and an
//! injector advances its plan by exactly one step per call of `Check::check`. Random plans draw
//! from a counter-based generator (SplitMix64) keyed by the seed: the same seed gives the same
//! faults on every platform and in every run. `Fault::Delay` and `Fault::Hang` wait on tokio's
//! timer, never block the thread, and so work on tokio's paused clock
//! (`#[tokio::test(start_paused = true)]`), where a test covering minutes of faults takes
//! milliseconds.
//!
//! Nothing is global: each injector owns its plan, so tests run in parallel without
//! interfering (unlike a process-wide fail-point registry).
//!
//! # Features
//!
//! | feature | enables |
//! |---|---|
//! | `chaos` | everything above (off by default: without it the crate is empty and pulls in no dependency) |
//!
//! # The other crates
//!
//! - [`readiness-core`](https://docs.rs/readiness-core): the engine whose checks the injector
//!   stands in for.
//! - [`readiness-tower`](https://docs.rs/readiness-tower): the layer `ProbeClient` calls.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    feature = "chaos",
    doc = r#"
# Example

A dependency that is up, goes down for three runs, then comes back for good, checked by a real
engine on tokio's paused clock:

```
use std::time::Duration;
use readiness_core::{CheckSpec, Engine};
use readiness_testkit::{Fault, FaultInjector, FaultPlan};

# #[tokio::main(flavor = "current_thread", start_paused = true)]
# async fn main() -> Result<(), Box<dyn std::error::Error>> {
let plan = FaultPlan::new()
    .then(Fault::Pass)
    .then_n(Fault::fail("connection refused"), 3)
    .then_always(Fault::Pass);
let db = FaultInjector::standalone(plan);
let handle = db.handle();

let engine = Engine::builder()
    .check(
        CheckSpec::readiness("db", db)
            .period(Duration::from_secs(1))
            .failure_threshold(1)
            .jitter(Duration::ZERO),
    )
    .build()?;

engine.refresh().await?; // run 0: pass
assert!(engine.is_ready());
engine.refresh().await?; // run 1: fail
assert!(!engine.is_ready());
assert_eq!(handle.last_fault(), Some(Fault::fail("connection refused")));

// Take over at run time: from now on the dependency hangs and the engine's timeout fires.
handle.set(Fault::Hang);
engine.refresh().await?;
let reason = engine.snapshot().check("db").and_then(|c| c.reason().map(String::from));
assert_eq!(reason.as_deref(), Some("timed out after 1s"));
# Ok(()) }
```

In a randomised test, take the seed from [`chaos_seed`] so that a failing run can be replayed
with `READINESS_CHAOS_SEED=<seed>`:

```
use readiness_testkit::{chaos_seed, FaultPlan};

let plan = FaultPlan::random(chaos_seed(), 0.2)?;
# let _ = plan;
# Ok::<(), readiness_testkit::PlanError>(())
```
"#
)]

#[cfg(feature = "chaos")]
mod exposition;
#[cfg(feature = "chaos")]
mod fault;
#[cfg(feature = "chaos")]
mod injector;
#[cfg(feature = "chaos")]
mod plan;
#[cfg(feature = "chaos")]
mod probe;
#[cfg(feature = "chaos")]
mod rng;
#[cfg(feature = "chaos")]
mod seed;
#[cfg(feature = "chaos")]
mod wait;

#[cfg(feature = "chaos")]
#[cfg_attr(docsrs, doc(cfg(feature = "chaos")))]
pub use {
    exposition::{Exposition, ExpositionError, MetricsCapture, Sample},
    fault::{DEFAULT_FAILURE_REASON, Fault},
    injector::{FaultHandle, FaultInjector},
    plan::{FaultPlan, PlanError},
    probe::{NotAProbe, ProbeClient, ProbeResponse},
    seed::{SEED_ENV, SeedError, chaos_seed, parse_seed, try_chaos_seed},
    wait::{WaitTimeout, wait_for_check, wait_until, wait_until_not_ready, wait_until_ready},
};
