//! Which fault each run gets: scripted sequences and seeded random plans.

use std::fmt;
use std::sync::Arc;

use crate::fault::{DEFAULT_FAILURE_REASON, Fault};
use crate::rng;

/// Which [`Fault`] each run of a check gets.
///
/// A plan is a pure function of the run number (0 for the first run): [`fault_at`] gives the
/// fault of any run, and [`faults`] lists them in order. A
/// [`FaultInjector`](crate::FaultInjector) applies run 0 on its first call, run 1 on the next,
/// and so on.
///
/// # Scripts
///
/// Build a script step by step with [`then`] and [`then_n`]; [`repeat`] and [`looping`] repeat
/// everything scripted so far. **When a script ends, its last fault is kept** for every later
/// run; end with [`then_always`] to choose another. An empty script (or one repeated zero
/// times) passes on every run.
///
/// ```
/// use readiness_testkit::{Fault, FaultPlan};
///
/// let fail = Fault::fail("down");
/// let plan = FaultPlan::new()
///     .then(Fault::Pass)
///     .then_n(fail.clone(), 2)
///     .repeat(2)                    // pass fail fail, twice
///     .then(Fault::Hang);           // then hang, and keep hanging
/// let runs: Vec<Fault> = plan.faults().take(8).collect();
/// assert_eq!(runs, [
///     Fault::Pass, fail.clone(), fail.clone(),
///     Fault::Pass, fail.clone(), fail,
///     Fault::Hang, Fault::Hang,
/// ]);
/// assert_eq!(plan.script_len(), Some(7));
/// ```
///
/// # Endless plans
///
/// [`always`], [`flap`], [`looping`], [`then_always`] and the random plans never end; steps added
/// after an endless part are never reached.
///
/// # Random plans
///
/// [`random`] and [`random_weighted`] draw each run's fault from a generator keyed by a seed:
/// the same seed gives the same faults, on every platform and in every run. Take the seed from
/// [`chaos_seed`](crate::chaos_seed) so that a failing test can be replayed.
///
/// [`fault_at`]: FaultPlan::fault_at
/// [`faults`]: FaultPlan::faults
/// [`then`]: FaultPlan::then
/// [`then_n`]: FaultPlan::then_n
/// [`repeat`]: FaultPlan::repeat
/// [`looping`]: FaultPlan::looping
/// [`then_always`]: FaultPlan::then_always
/// [`always`]: FaultPlan::always
/// [`flap`]: FaultPlan::flap
/// [`random`]: FaultPlan::random
/// [`random_weighted`]: FaultPlan::random_weighted
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultPlan {
    steps: Vec<Node>,
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    /// One fault for `count` runs.
    Fixed { fault: Fault, count: u64 },
    /// A random fault on every run, forever.
    Random(Arc<Mix>),
    /// `body` played `times` times, or forever for `None`.
    Repeat { body: Vec<Node>, times: Option<u64> },
}

/// How a random plan picks a fault.
#[derive(Debug, PartialEq)]
enum Mix {
    /// Fail with probability `rate`, else pass.
    Rate { seed: u64, rate: f64 },
    /// Pick by weight; `choices` holds each fault with its cumulative weight.
    Weighted {
        seed: u64,
        choices: Vec<(Fault, u64)>,
        total: u64,
    },
}

impl Mix {
    fn pick(&self, run: u64) -> Fault {
        match self {
            Self::Rate { seed, rate } => {
                if rng::unit(rng::draw(*seed, run)) < *rate {
                    Fault::fail(DEFAULT_FAILURE_REASON)
                } else {
                    Fault::Pass
                }
            }
            Self::Weighted {
                seed,
                choices,
                total,
            } => {
                let x = rng::below(rng::draw(*seed, run), *total);
                choices
                    .iter()
                    .find(|(_, upto)| x < *upto)
                    .map_or(Fault::Pass, |(fault, _)| fault.clone())
            }
        }
    }
}

/// Length of a sequence of nodes in runs, or `None` when it never ends.
fn seq_len(nodes: &[Node]) -> Option<u64> {
    nodes
        .iter()
        .try_fold(0u64, |acc, node| Some(acc.saturating_add(node.len()?)))
}

/// The fault at position `i` of a sequence; `run` is the overall run number (for random draws).
fn seq_at(nodes: &[Node], mut i: u64, run: u64) -> Option<Fault> {
    for node in nodes {
        match node.len() {
            Some(len) if i >= len => i -= len,
            _ => return node.at(i, run),
        }
    }
    None
}

impl Node {
    fn len(&self) -> Option<u64> {
        match self {
            Self::Fixed { count, .. } => Some(*count),
            Self::Random(_) => None,
            Self::Repeat { body, times } => match (seq_len(body), *times) {
                (Some(0), _) | (_, Some(0)) => Some(0),
                (Some(len), Some(times)) => Some(len.saturating_mul(times)),
                (None, _) | (_, None) => None,
            },
        }
    }

    fn at(&self, i: u64, run: u64) -> Option<Fault> {
        match self {
            Self::Fixed { fault, .. } => Some(fault.clone()),
            Self::Random(mix) => Some(mix.pick(run)),
            Self::Repeat { body, .. } => match seq_len(body) {
                Some(0) => None,
                Some(len) => seq_at(body, i % len, run),
                None => seq_at(body, i, run),
            },
        }
    }
}

impl FaultPlan {
    /// An empty script: every run passes until steps are added.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same fault on every run, forever.
    ///
    /// ```
    /// use readiness_testkit::{Fault, FaultPlan};
    /// let plan = FaultPlan::always(Fault::Hang);
    /// assert!(plan.faults().take(100).all(|f| f == Fault::Hang));
    /// assert_eq!(plan.script_len(), None);
    /// ```
    pub fn always(fault: Fault) -> Self {
        Self::new().then_always(fault)
    }

    /// Pass for `period_runs` runs, then fail (with [`DEFAULT_FAILURE_REASON`]) for
    /// `period_runs` runs, and so on forever.
    ///
    /// # Errors
    ///
    /// [`PlanError::ZeroPeriod`] when `period_runs` is 0.
    ///
    /// ```
    /// use readiness_testkit::{Fault, FaultPlan, PlanError};
    /// let plan = FaultPlan::flap(2)?;
    /// let failing: Vec<bool> = plan.faults().take(6).map(|f| f != Fault::Pass).collect();
    /// assert_eq!(failing, [false, false, true, true, false, false]);
    /// assert_eq!(FaultPlan::flap(0), Err(PlanError::ZeroPeriod));
    /// # Ok::<(), PlanError>(())
    /// ```
    pub fn flap(period_runs: u64) -> Result<Self, PlanError> {
        if period_runs == 0 {
            return Err(PlanError::ZeroPeriod);
        }
        Ok(Self::new()
            .then_n(Fault::Pass, period_runs)
            .then_n(Fault::fail(DEFAULT_FAILURE_REASON), period_runs)
            .looping())
    }

    /// Fail with probability `failure_rate` on each run (with [`DEFAULT_FAILURE_REASON`]),
    /// else pass, forever. The draws depend only on `seed` and the run number.
    ///
    /// # Errors
    ///
    /// [`PlanError::InvalidRate`] when `failure_rate` is not in `0.0..=1.0` (NaN included).
    ///
    /// ```
    /// use readiness_testkit::{FaultPlan, PlanError};
    /// let a = FaultPlan::random(7, 0.25)?;
    /// let b = FaultPlan::random(7, 0.25)?;
    /// assert!(a.faults().take(1000).eq(b.faults().take(1000)));
    /// assert!(matches!(FaultPlan::random(7, f64::NAN), Err(PlanError::InvalidRate(_))));
    /// # Ok::<(), PlanError>(())
    /// ```
    pub fn random(seed: u64, failure_rate: f64) -> Result<Self, PlanError> {
        if !(0.0..=1.0).contains(&failure_rate) {
            return Err(PlanError::InvalidRate(failure_rate));
        }
        Ok(Self {
            steps: vec![Node::Random(Arc::new(Mix::Rate {
                seed,
                rate: failure_rate,
            }))],
        })
    }

    /// On each run, pick one of these faults with probability proportional to its weight,
    /// forever. The draws depend only on `seed`, the run number and the list (its order
    /// included). A fault with weight 0 is never picked.
    ///
    /// # Errors
    ///
    /// [`PlanError::NoWeight`] when the list is empty or every weight is 0.
    ///
    /// ```
    /// use std::time::Duration;
    /// use readiness_testkit::{Fault, FaultPlan, PlanError};
    ///
    /// let plan = FaultPlan::random_weighted(42, [
    ///     (Fault::Pass, 90),
    ///     (Fault::fail("refused"), 6),
    ///     (Fault::Delay(Duration::from_millis(800)), 3),
    ///     (Fault::Hang, 1),
    /// ])?;
    /// let passes = plan.faults().take(10_000).filter(|f| *f == Fault::Pass).count();
    /// assert!((8_500..9_500).contains(&passes));
    /// # Ok::<(), PlanError>(())
    /// ```
    pub fn random_weighted(
        seed: u64,
        weights: impl IntoIterator<Item = (Fault, u32)>,
    ) -> Result<Self, PlanError> {
        let mut total = 0u64;
        let mut choices = Vec::new();
        for (fault, weight) in weights {
            if weight > 0 {
                total += u64::from(weight);
                choices.push((fault, total));
            }
        }
        if total == 0 {
            return Err(PlanError::NoWeight);
        }
        Ok(Self {
            steps: vec![Node::Random(Arc::new(Mix::Weighted {
                seed,
                choices,
                total,
            }))],
        })
    }

    /// Add one run of `fault` to the script.
    #[must_use]
    pub fn then(self, fault: Fault) -> Self {
        self.then_n(fault, 1)
    }

    /// Add `runs` runs of `fault` to the script (none when `runs` is 0).
    #[must_use]
    pub fn then_n(mut self, fault: Fault, runs: u64) -> Self {
        self.steps.push(Node::Fixed { fault, count: runs });
        self
    }

    /// End the script with `fault` on every later run, instead of keeping the last fault.
    #[must_use]
    pub fn then_always(mut self, fault: Fault) -> Self {
        self.steps.push(Node::Repeat {
            body: vec![Node::Fixed { fault, count: 1 }],
            times: None,
        });
        self
    }

    /// Play everything scripted so far `times` times in all (`repeat(1)` changes nothing,
    /// `repeat(0)` removes it). Steps added afterwards follow the repetitions.
    #[must_use]
    pub fn repeat(mut self, times: u64) -> Self {
        let body = std::mem::take(&mut self.steps);
        self.steps.push(Node::Repeat {
            body,
            times: Some(times),
        });
        self
    }

    /// Play everything scripted so far over and over, forever. Looping an empty script
    /// leaves it empty.
    ///
    /// ```
    /// use readiness_testkit::{Fault, FaultPlan};
    /// let plan = FaultPlan::new().then(Fault::Pass).then(Fault::Hang).looping();
    /// let runs: Vec<Fault> = plan.faults().take(5).collect();
    /// assert_eq!(runs, [Fault::Pass, Fault::Hang, Fault::Pass, Fault::Hang, Fault::Pass]);
    /// ```
    #[must_use]
    pub fn looping(mut self) -> Self {
        let body = std::mem::take(&mut self.steps);
        self.steps.push(Node::Repeat { body, times: None });
        self
    }

    /// The fault of run `run`, counting from 0.
    pub fn fault_at(&self, run: u64) -> Fault {
        match seq_len(&self.steps) {
            Some(0) => None,
            // Past the end: keep the last fault.
            Some(len) if run >= len => seq_at(&self.steps, len - 1, len - 1),
            _ => seq_at(&self.steps, run, run),
        }
        .unwrap_or_default()
    }

    /// The faults of runs 0, 1, 2, ... in order. The iterator never ends: take what you need.
    pub fn faults(&self) -> impl Iterator<Item = Fault> + '_ {
        (0..=u64::MAX).map(|run| self.fault_at(run))
    }

    /// How many runs the script lasts before its last fault is kept, or `None` for an endless
    /// plan.
    pub fn script_len(&self) -> Option<u64> {
        seq_len(&self.steps)
    }
}

/// A plan that cannot be built from the given input.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum PlanError {
    /// A failure rate outside `0.0..=1.0`, or NaN.
    InvalidRate(f64),
    /// A flap period of 0 runs.
    ZeroPeriod,
    /// A weighted random plan with no fault of positive weight.
    NoWeight,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidRate(rate) => {
                write!(f, "failure rate {rate} is not a probability in 0.0..=1.0")
            }
            Self::ZeroPeriod => f.write_str("flap period must be at least 1 run"),
            Self::NoWeight => f.write_str("a weighted plan needs a fault with a weight above 0"),
        }
    }
}

impl std::error::Error for PlanError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_repeats_index_correctly() {
        let plan = FaultPlan::new()
            .then(Fault::Pass)
            .then(Fault::Hang)
            .repeat(2)
            .then(Fault::fail("x"))
            .repeat(2);
        let got: Vec<String> = plan.faults().take(11).map(|f| f.to_string()).collect();
        assert_eq!(
            got,
            [
                "pass", "hang", "pass", "hang", "fail: x", "pass", "hang", "pass", "hang",
                "fail: x", "fail: x"
            ]
        );
        assert_eq!(plan.script_len(), Some(10));
    }

    #[test]
    fn zero_length_parts_are_skipped() {
        let plan = FaultPlan::new()
            .then_n(Fault::Hang, 0)
            .looping()
            .then(Fault::fail("a"))
            .then_n(Fault::Hang, 0);
        assert_eq!(plan.script_len(), Some(1));
        assert!(plan.faults().take(3).all(|f| f == Fault::fail("a")));
    }

    #[test]
    fn huge_repeats_saturate_instead_of_overflowing() {
        let plan = FaultPlan::new()
            .then_n(Fault::Pass, u64::MAX)
            .then(Fault::Hang)
            .repeat(u64::MAX);
        assert_eq!(plan.script_len(), Some(u64::MAX));
        assert_eq!(plan.fault_at(u64::MAX), Fault::Pass);
    }
}
