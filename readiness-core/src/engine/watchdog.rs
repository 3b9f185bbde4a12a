//! The watchdog: one entry per check whose result can expire, in a heap of deadlines; when a
//! deadline passes, the result is marked stale through the record path.

use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::BinaryHeap;
use std::sync::Mutex;

use tokio::sync::Notify;

use super::scope::CheckRef;
use super::sync::lock;

/// The watchdog: one entry per check whose result can expire.
pub(super) struct Watchdog {
    heap: Mutex<BinaryHeap<Reverse<WatchEntry>>>,
    pub(super) wake: Notify,
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

    /// The checks whose deadline is at or before `now`, taken off the heap, and the next
    /// deadline after them.
    pub(super) fn take_due(&self, now: u64) -> (Vec<CheckRef>, Option<u64>) {
        let mut heap = lock(&self.heap);
        let mut due = Vec::new();
        while heap.peek().is_some_and(|Reverse(e)| e.at <= now) {
            if let Some(Reverse(e)) = heap.pop() {
                due.push(e.check);
            }
        }
        (due, heap.peek().map(|Reverse(e)| e.at))
    }
}
