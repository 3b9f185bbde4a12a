//! The watchdog: one entry per check whose result can expire, in a heap of deadlines; when a
//! deadline passes, the result is marked stale through the record path.

use std::sync::Mutex;

use tokio::sync::Notify;

use super::heap::{Keyed, MinHeap};
use super::scope::CheckRef;
use super::sync::lock;

/// The watchdog: one entry per check whose result can expire.
pub(super) struct Watchdog {
    heap: Mutex<MinHeap<WatchEntry>>,
    pub(super) wake: Notify,
}

/// A check's deadline: 24 bytes a check.
struct WatchEntry {
    at: u64,
    check: CheckRef,
}

impl Keyed for WatchEntry {
    type Key = u64;
    fn key(&self) -> u64 {
        self.at
    }
}

impl Watchdog {
    pub(super) fn new() -> Self {
        Self {
            heap: Mutex::new(MinHeap::new()),
            wake: Notify::new(),
        }
    }

    /// Watch a check's result until `at` (called when it gets a deadline it had not).
    pub(super) fn push(&self, check: CheckRef, at: u64) {
        let mut heap = lock(&self.heap);
        let earliest = heap.peek().is_none_or(|e| at < e.at);
        heap.push(WatchEntry { at, check });
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
        while heap.peek().is_some_and(|e| e.at <= now) {
            if let Some(e) = heap.pop() {
                due.push(e.check);
            }
        }
        (due, heap.peek().map(|e| e.at))
    }
}
