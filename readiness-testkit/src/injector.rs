//! A check that follows a fault plan, and the handle that steers it.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use readiness_core::{Check, CheckFailure, CheckFuture};

use crate::fault::Fault;
use crate::plan::FaultPlan;

/// A [`Check`] whose runs follow a [`FaultPlan`].
///
/// [`standalone`](Self::standalone) stands in for a dependency: [`Fault::Pass`] passes.
/// [`wrap`](Self::wrap) wraps a real check: [`Fault::Pass`] (and [`Fault::Delay`], after its
/// delay) runs the wrapped check and returns its result, while the other faults never call it.
///
/// Each call of [`Check::check`] takes the next step of the plan, at the call (not when the
/// returned future is polled), so the run count and the faults applied are exact whatever the
/// engine does with the future. Steer the injector at run time through its
/// [`FaultHandle`], from [`handle`](Self::handle).
///
/// ```
/// use readiness_core::{Check, CheckFailure};
/// use readiness_testkit::{Fault, FaultInjector, FaultPlan};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let db = FaultInjector::standalone(FaultPlan::new().then(Fault::Pass).then(Fault::fail("down")));
/// let handle = db.handle();
/// assert_eq!(db.check().await, Ok(()));
/// assert_eq!(db.check().await, Err(CheckFailure::new("down")));
/// handle.set(Fault::Pass);
/// assert_eq!(db.check().await, Ok(()));
/// assert_eq!(handle.runs(), 3);
/// # }
/// ```
pub struct FaultInjector {
    inner: Option<Box<dyn Check>>,
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    plan: FaultPlan,
    /// Runs since the current plan was set: the plan's next run number.
    position: u64,
    /// Runs since the injector was made.
    runs: u64,
    last: Option<Fault>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // No code panics while holding the lock, and every critical section writes whole values,
    // so a poisoned lock still holds consistent data.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FaultInjector {
    /// An injector standing in for a dependency: [`Fault::Pass`] passes.
    pub fn standalone(plan: FaultPlan) -> Self {
        Self::make(None, plan)
    }

    /// An injector around a real check: [`Fault::Pass`] and [`Fault::Delay`] run `inner`,
    /// the other faults replace it.
    pub fn wrap(inner: impl Check, plan: FaultPlan) -> Self {
        Self::make(Some(Box::new(inner)), plan)
    }

    fn make(inner: Option<Box<dyn Check>>, plan: FaultPlan) -> Self {
        Self {
            inner,
            state: Arc::new(Mutex::new(State {
                plan,
                position: 0,
                runs: 0,
                last: None,
            })),
        }
    }

    /// A handle to change the plan and read the counters while the engine owns the injector.
    /// Every handle of an injector (and every clone of one) steers the same injector.
    pub fn handle(&self) -> FaultHandle {
        FaultHandle {
            state: Arc::clone(&self.state),
        }
    }

    /// Take the next step of the plan.
    fn advance(&self) -> Fault {
        let mut state = lock(&self.state);
        let fault = state.plan.fault_at(state.position);
        state.position = state.position.saturating_add(1);
        state.runs = state.runs.saturating_add(1);
        state.last = Some(fault.clone());
        fault
    }

    /// What a pass does: run the wrapped check, or pass.
    async fn pass(&self) -> Result<(), CheckFailure> {
        match &self.inner {
            Some(inner) => inner.check().await,
            None => Ok(()),
        }
    }
}

impl Check for FaultInjector {
    fn check(&self) -> CheckFuture<'_> {
        match self.advance() {
            Fault::Pass => match &self.inner {
                Some(inner) => inner.check(),
                None => Box::pin(async { Ok(()) }),
            },
            Fault::Fail(reason) => Box::pin(async move { Err(CheckFailure::new(reason)) }),
            Fault::Hang => Box::pin(std::future::pending()),
            Fault::Delay(delay) => Box::pin(async move {
                tokio::time::sleep(delay).await;
                self.pass().await
            }),
            Fault::Panic(message) => Box::pin(async move { panic!("{message}") }),
        }
    }
}

impl fmt::Debug for FaultInjector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultInjector")
            .field("wraps_a_check", &self.inner.is_some())
            .field("state", &*lock(&self.state))
            .finish()
    }
}

/// Steers a [`FaultInjector`] at run time and reports what it did. Cheap to clone; every
/// clone steers the same injector.
///
/// ```
/// use readiness_testkit::{Fault, FaultInjector, FaultPlan};
///
/// let handle = FaultInjector::standalone(FaultPlan::always(Fault::Pass)).handle();
/// handle.set(Fault::fail("maintenance"));
/// assert_eq!(handle.runs(), 0);
/// assert_eq!(handle.last_fault(), None);
/// ```
#[derive(Clone)]
pub struct FaultHandle {
    state: Arc<Mutex<State>>,
}

impl FaultHandle {
    /// Follow `plan` from the next run on, starting at its first step (run 0 of `plan`).
    /// A run already in flight keeps the fault it started with. [`runs`](Self::runs) keeps
    /// counting.
    pub fn set_plan(&self, plan: FaultPlan) {
        let mut state = lock(&self.state);
        state.plan = plan;
        state.position = 0;
    }

    /// Apply `fault` on every run from the next one on: shorthand for
    /// `set_plan(FaultPlan::always(fault))`.
    pub fn set(&self, fault: Fault) {
        self.set_plan(FaultPlan::always(fault));
    }

    /// How many times the check has been called since the injector was made, across plan
    /// changes. A call counts when the run starts, whether or not its future completes.
    pub fn runs(&self) -> u64 {
        lock(&self.state).runs
    }

    /// How many runs the current plan has applied, since it was set.
    pub fn plan_runs(&self) -> u64 {
        lock(&self.state).position
    }

    /// The fault applied on the latest run, or `None` before the first run.
    pub fn last_fault(&self) -> Option<Fault> {
        lock(&self.state).last.clone()
    }

    /// The fault the next run will get.
    pub fn next_fault(&self) -> Fault {
        let state = lock(&self.state);
        state.plan.fault_at(state.position)
    }
}

impl fmt::Debug for FaultHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultHandle")
            .field("state", &*lock(&self.state))
            .finish()
    }
}
