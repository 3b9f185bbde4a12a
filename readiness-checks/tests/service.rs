//! `ServiceCheck`: one call of the service a run, with a fresh request; a readiness error fails
//! the run without a call; a verdict judges the response; a service that panics in
//! `poll_ready`, `call` or `clone` fails that run and the next run works. (hostile_local.rs
//! attacks it with services that never answer, 1,000 runs each.)

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

mod common;

use common::net::{engine_with, refresh, run};
use readiness_checks::ServiceCheck;
use readiness_core::{CheckFailure, CheckSpec};
use tower::Service;

/// Counts readiness polls and calls; fails its readiness when told to.
#[derive(Clone)]
struct Probe {
    ready_error: bool,
    calls: Arc<AtomicUsize>,
}

impl Service<u32> for Probe {
    type Response = u32;
    type Error = String;
    type Future = std::future::Ready<Result<u32, String>>;
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        if self.ready_error {
            Poll::Ready(Err("overloaded".into()))
        } else {
            Poll::Ready(Ok(()))
        }
    }
    fn call(&mut self, req: u32) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(if req == 0 {
            Err("zero".into())
        } else {
            Ok(req)
        })
    }
}

impl Probe {
    /// A probe, and the count of its calls.
    fn counted(ready_error: bool) -> (Self, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let probe = Self {
            ready_error,
            calls: calls.clone(),
        };
        (probe, calls)
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn each_run_calls_the_service_once_with_a_fresh_request() {
    let (svc, calls) = Probe::counted(false);
    let next = Arc::new(AtomicUsize::new(2));
    let n = next.clone();
    let check = ServiceCheck::new(svc, move || n.load(Ordering::SeqCst) as u32);
    assert_eq!(run(&check).await, Ok(()));
    next.store(0, Ordering::SeqCst);
    assert_eq!(run(&check).await, Err("zero".to_owned()));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_readiness_error_fails_without_a_call() {
    let (svc, calls) = Probe::counted(true);
    let check = ServiceCheck::new(svc, || 1);
    assert_eq!(run(&check).await, Err("overloaded".to_owned()));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_verdict_judges_the_response() {
    let (svc, _) = Probe::counted(false);
    let check = ServiceCheck::new(svc, || 7).verdict(|r: Result<u32, String>| match r {
        Ok(n) if n > 5 => Err(CheckFailure::new(format!("too many: {n}"))),
        Ok(_) => Ok(()),
        Err(e) => Err(CheckFailure::new(e)),
    });
    assert_eq!(run(&check).await, Err("too many: 7".to_owned()));
}

/// A service that panics in `poll_ready`, in `call` or in `clone`, as told (once for `clone`).
#[derive(Default)]
struct Panicky {
    in_ready: bool,
    in_call: bool,
    clone_panics: Arc<std::sync::atomic::AtomicBool>,
}

impl Clone for Panicky {
    fn clone(&self) -> Self {
        if self.clone_panics.swap(false, Ordering::SeqCst) {
            panic!("clone blew up");
        }
        Self {
            in_ready: self.in_ready,
            in_call: self.in_call,
            clone_panics: self.clone_panics.clone(),
        }
    }
}

impl tower::Service<()> for Panicky {
    type Response = ();
    type Error = Infallible;
    type Future = std::future::Ready<Result<(), Infallible>>;
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        assert!(!self.in_ready, "poll_ready blew up");
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, (): ()) -> Self::Future {
        assert!(!self.in_call, "call blew up");
        std::future::ready(Ok(()))
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_service_check_that_panics_fails_its_run_and_the_next_run_works() {
    let clone_panics = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let panicky = |p: Panicky| ServiceCheck::new(p, || ());
    let engine = engine_with([
        CheckSpec::readiness(
            "ready",
            panicky(Panicky {
                in_ready: true,
                ..Panicky::default()
            }),
        ),
        CheckSpec::readiness(
            "call",
            panicky(Panicky {
                in_call: true,
                ..Panicky::default()
            }),
        ),
        CheckSpec::readiness(
            "clone",
            panicky(Panicky {
                clone_panics: clone_panics.clone(),
                ..Panicky::default()
            }),
        ),
    ]);
    refresh(&engine).await;
    let snap = engine.snapshot();
    for (name, what) in [
        ("ready", "poll_ready blew up"),
        ("call", "call blew up"),
        ("clone", "clone blew up"),
    ] {
        let reason = snap.check(name).and_then(|c| c.reason()).expect("failing");
        assert!(
            reason.starts_with("panicked: ") && reason.contains(what),
            "{name}: {reason}"
        );
    }
    // The lock a panicking clone poisoned does not stop the next run.
    refresh(&engine).await;
    assert!(
        engine
            .snapshot()
            .check("clone")
            .expect("known")
            .is_passing()
    );
}
