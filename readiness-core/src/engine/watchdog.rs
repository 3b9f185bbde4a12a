//! The watchdog: one entry per check whose result can expire, in a heap of deadlines; when a
//! deadline passes, the result is marked stale through the record path.

use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::BinaryHeap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::Shared;
use super::record::Event;
use super::scope::CheckRef;
use super::sync::lock;

/// The watchdog: one entry per check whose result can expire.
pub(super) struct Watchdog {
    heap: Mutex<BinaryHeap<Reverse<WatchEntry>>>,
    wake: Notify,
}

/// A check's deadline: 24 bytes a check.
struct WatchEntry {
    at: u64,
    check: CheckRef,
}

impl PartialEq for WatchEntry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for WatchEntry {}
impl PartialOrd for WatchEntry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for WatchEntry {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.at.cmp(&other.at)
    }
}

impl Watchdog {
    pub(super) fn new() -> Self {
        Self {
            heap: Mutex::new(BinaryHeap::new()),
            wake: Notify::new(),
        }
    }

    /// Watch a check's result until `at` (called when it gets a deadline it had not).
    pub(super) fn push(&self, check: CheckRef, at: u64) {
        let mut heap = lock(&self.heap);
        let earliest = heap.peek().is_none_or(|Reverse(e)| at < e.at);
        heap.push(Reverse(WatchEntry { at, check }));
        drop(heap);
        if earliest {
            self.wake.notify_one();
        }
    }
}

pub(super) async fn watch(shared: &Arc<Shared>) {
    let mut stopping = shared.stopping.subscribe();
    let sleep = tokio::time::sleep_until(Instant::now());
    tokio::pin!(sleep);
    loop {
        if *stopping.borrow_and_update() {
            return;
        }
        let now = shared.clock.now();
        let mut due = Vec::new();
        let next = {
            let mut heap = lock(&shared.watchdog.heap);
            while heap.peek().is_some_and(|Reverse(e)| e.at <= now) {
                if let Some(Reverse(e)) = heap.pop() {
                    due.push(e.check);
                }
            }
            heap.peek().map(|Reverse(e)| e.at)
        };
        for check in due {
            if let Some(t) = check.resolve() {
                // Marks the result stale, or watches it again until its new deadline.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    shared.record(t.tenant.as_ref(), t.idx, Event::Stale);
                }));
            }
        }
        let at = next
            .and_then(|n| shared.clock.instant(n))
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
        sleep.as_mut().reset(at);
        tokio::select! {
            _ = stopping.changed() => {}
            _ = shared.watchdog.wake.notified() => {}
            _ = &mut sleep => {}
        }
    }
}
