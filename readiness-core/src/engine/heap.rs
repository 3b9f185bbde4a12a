//! A min-heap of entries ordered by a key of theirs: the scheduler's timers and slow lane, the
//! watchdog's deadlines. The order is written once here, not in an `Ord` of each entry.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// An entry of a [`MinHeap`]: its key orders it, and only its key.
pub(super) trait Keyed {
    type Key: Ord;
    fn key(&self) -> Self::Key;
}

/// Entries popped smallest key first (equal keys in no particular order).
pub(super) struct MinHeap<T>(BinaryHeap<Smallest<T>>);

/// `BinaryHeap` pops its greatest entry: the smallest key is the greatest here.
struct Smallest<T>(T);

impl<T: Keyed> PartialEq for Smallest<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0.key() == other.0.key()
    }
}

impl<T: Keyed> Eq for Smallest<T> {}

impl<T: Keyed> PartialOrd for Smallest<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: Keyed> Ord for Smallest<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.key().cmp(&self.0.key())
    }
}

impl<T: Keyed> MinHeap<T> {
    pub(super) fn new() -> Self {
        Self(BinaryHeap::new())
    }

    pub(super) fn push(&mut self, entry: T) {
        self.0.push(Smallest(entry));
    }

    /// The entry with the smallest key, taken out.
    pub(super) fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|e| e.0)
    }

    /// The entry with the smallest key.
    pub(super) fn peek(&self) -> Option<&T> {
        self.0.peek().map(|e| &e.0)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }
}
