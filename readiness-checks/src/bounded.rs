//! Blocking work a check needs (the system resolver, `statvfs`, reading a file) on tokio's
//! blocking pool, at most one call in flight per check.
//!
//! A run that times out drops its future, but a blocking call cannot be cancelled: its thread
//! runs on until the call returns. A resolver or a file system that hangs would leave one
//! blocked thread behind per run, run after run. Here the call holds the check's only permit
//! until it returns, so a run that finds its previous call still blocked fails at once with a
//! reason instead of starting another: at most one thread per check is ever held.

use std::fmt;
use std::sync::Arc;

use tokio::sync::Semaphore;

/// One check's blocking calls: at most one in flight.
#[derive(Clone)]
pub(crate) struct Bounded {
    permit: Arc<Semaphore>,
}

/// Whether a call is in flight, which is all a check's `Debug` needs to show of it.
impl fmt::Debug for Bounded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let busy = self.permit.available_permits() == 0;
        f.debug_struct("Bounded").field("busy", &busy).finish()
    }
}

impl Bounded {
    pub(crate) fn new() -> Self {
        Self {
            permit: Arc::new(Semaphore::new(1)),
        }
    }

    /// `call()` on the blocking pool; `what` names it in a reason (`resolve db.internal`).
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        what: &str,
        call: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, String> {
        let Ok(permit) = self.permit.clone().try_acquire_owned() else {
            return Err(format!(
                "{what}: the previous call has not returned yet (hung?); not starting another"
            ));
        };
        tokio::task::spawn_blocking(move || {
            // Released when the call returns, not when the run gives up on it.
            let _permit = permit;
            call()
        })
        .await
        .map_err(|e| format!("{what}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    #[tokio::test(flavor = "current_thread")]
    async fn a_hung_call_holds_one_thread_and_later_runs_fail_at_once() {
        use futures_util::FutureExt;
        let bounded = Bounded::new();
        let started = Arc::new(AtomicUsize::new(0));
        let (release, hung) = mpsc::channel::<()>();
        let hung = Arc::new(std::sync::Mutex::new(hung));
        let mut reasons = Vec::new();
        for _ in 0..5 {
            let (s, h) = (started.clone(), hung.clone());
            let run = bounded.run("resolve db.internal", move || {
                s.fetch_add(1, Ordering::SeqCst);
                // Blocks until the test releases it (10 s at most: a bound on the test).
                let _ = h
                    .lock()
                    .expect("lock")
                    .recv_timeout(Duration::from_secs(10));
            });
            // Polled once, then dropped: what the engine's timeout does to a run.
            if let Some(r) = run.now_or_never() {
                reasons.push(r.expect_err("the permit is held"));
            }
        }
        assert_eq!(
            reasons.len(),
            4,
            "the first run waits, the others fail at once"
        );
        assert!(
            reasons.iter().all(|r| r.contains("has not returned yet")),
            "{reasons:?}"
        );
        // The one blocking call gets its thread (a bounded wait), and it is the only one.
        for _ in 0..10_000 {
            if started.load(Ordering::SeqCst) > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            started.load(Ordering::SeqCst),
            1,
            "one blocked thread, not five"
        );
        release.send(()).expect("release");
        // Once the call returns, its thread gives the permit back (a bounded wait for it).
        for _ in 0..10_000 {
            if bounded.permit.available_permits() == 1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(bounded.run("x", || 7).await, Ok(7), "the next run works");
    }
}
