//! A reload's *lineage*: the engines built from one another with
//! [`EngineBuilder::reload_from`](crate::EngineBuilder::reload_from), and what they share:
//! which of them owns the shared series, one drain and one close, and the list of its
//! members. It knows its engines only as [`Member`]s; `handover` adds the behaviour.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, Weak};

use tokio::sync::watch;

use super::sync::{lock, read};

/// What a lineage needs of its engines: whether one is gone (its last handle dropped).
pub(crate) trait Member: Send + Sync {
    fn gone(&self) -> bool;
}

/// Engines built from one another with `reload_from`.
pub(super) struct Lineage<M> {
    /// Writers of shared series hold it shared; a takeover holds it alone.
    pub(super) lock: RwLock<()>,
    pub(super) owner: AtomicU64,
    next: AtomicU64,
    /// What `readiness_state` last read (false before anything was written).
    pub(super) last_ready: AtomicBool,
    /// Set once by the first drain of any engine of the lineage; never cleared.
    draining: AtomicBool,
    /// `true` once the drain is over (`close`, `shutdown`, or the last engine gone): long-lived
    /// streams end, `drain_on` and `closed()` resolve.
    closed: watch::Sender<bool>,
    /// A leaf lock: held only to read or change the list.
    members: Mutex<Vec<(u64, Weak<M>)>>,
}

/// An engine's place in its lineage.
pub(super) struct Series<M> {
    pub(super) lineage: Arc<Lineage<M>>,
    pub(super) generation: u64,
}

/// A lineage, for [`EngineBuilder::reload_from`](crate::EngineBuilder::reload_from) and for
/// what follows the process rather than one engine (`drain_on`). It holds no engine.
pub(crate) struct LineageHandle<M>(pub(super) Arc<Lineage<M>>);

impl<M> Clone for LineageHandle<M> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<M> std::fmt::Debug for LineageHandle<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lineage")
            .field("owner", &self.0.owner.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl<M: Member> Series<M> {
    /// A new engine: the first of a lineage (it owns the series at once), or the next one.
    pub(super) fn new(after: Option<&LineageHandle<M>>) -> Self {
        match after {
            Some(LineageHandle(lineage)) => Self {
                generation: lineage.next.fetch_add(1, Ordering::SeqCst),
                lineage: lineage.clone(),
            },
            None => Self {
                lineage: Arc::new(Lineage {
                    lock: RwLock::new(()),
                    owner: AtomicU64::new(1),
                    next: AtomicU64::new(2),
                    last_ready: AtomicBool::new(false),
                    draining: AtomicBool::new(false),
                    closed: watch::Sender::new(false),
                    members: Mutex::new(Vec::new()),
                }),
                generation: 1,
            },
        }
    }

    pub(super) fn handle(&self) -> LineageHandle<M> {
        LineageHandle(self.lineage.clone())
    }

    pub(super) fn join(&self, shared: &Arc<M>) {
        let mut members = lock(&self.lineage.members);
        members.retain(|(_, w)| w.strong_count() > 0);
        members.push((self.generation, Arc::downgrade(shared)));
    }

    pub(super) fn owns(&self) -> bool {
        self.lineage.owner.load(Ordering::SeqCst) == self.generation
    }

    /// Held while writing shared series: `Some` only while this engine owns them and is
    /// still there.
    pub(super) fn guard(&self, gone: &AtomicBool) -> Option<RwLockReadGuard<'_, ()>> {
        let held = read(&self.lineage.lock);
        (self.owns() && !gone.load(Ordering::SeqCst)).then_some(held)
    }

    /// `readiness_state` was just written.
    pub(super) fn note_ready(&self, ready: bool) {
        self.lineage.last_ready.store(ready, Ordering::SeqCst);
    }

    /// The engine of the lineage that owns the series now, if it is still there. Read under
    /// the lineage's lock: a takeover (the owner changing and the counters carried over) is
    /// seen whole or not at all.
    pub(super) fn owner(&self) -> Option<Arc<M>> {
        let _held = read(&self.lineage.lock);
        self.member(self.lineage.owner.load(Ordering::SeqCst))
    }

    pub(super) fn member(&self, generation: u64) -> Option<Arc<M>> {
        lock(&self.lineage.members)
            .iter()
            .find(|(g, _)| *g == generation)
            .and_then(|(_, w)| w.upgrade())
    }

    /// The newest engine built after this one that is still there.
    pub(super) fn successor(&self) -> Option<Arc<M>> {
        lock(&self.lineage.members)
            .iter()
            .filter(|(g, _)| *g > self.generation)
            .filter_map(|(g, w)| w.upgrade().map(|s| (*g, s)))
            .filter(|(_, s)| !s.gone())
            .max_by_key(|(g, _)| *g)
            .map(|(_, s)| s)
    }

    pub(crate) fn draining(&self) -> bool {
        self.lineage.draining.load(Ordering::SeqCst)
    }

    /// Whether an engine of the lineage other than this one is still there.
    pub(super) fn others_alive(&self) -> bool {
        lock(&self.lineage.members)
            .iter()
            .filter(|(g, _)| *g != self.generation)
            .filter_map(|(_, w)| w.upgrade())
            .any(|s| !s.gone())
    }
}

impl<M: Member> LineageHandle<M> {
    /// The engines of the lineage that are still there, oldest first.
    pub(super) fn live(&self) -> Vec<Arc<M>> {
        let mut all: Vec<(u64, Arc<M>)> = lock(&self.0.members)
            .iter()
            .filter_map(|(g, w)| w.upgrade().map(|s| (*g, s)))
            .filter(|(_, s)| !s.gone())
            .collect();
        all.sort_unstable_by_key(|(g, _)| *g);
        all.into_iter().map(|(_, s)| s).collect()
    }

    /// Whether any engine of the lineage is still there.
    pub(crate) fn alive(&self) -> bool {
        !self.live().is_empty()
    }

    /// Mark the lineage draining; `true` the first time (the caller then drains its engines).
    pub(super) fn start_draining(&self) -> bool {
        !self.0.draining.swap(true, Ordering::SeqCst)
    }

    /// Mark the lineage closed (after its drain).
    pub(super) fn mark_closed(&self) {
        self.0.closed.send_replace(true);
    }

    pub(crate) fn is_closed(&self) -> bool {
        *self.0.closed.borrow()
    }

    /// Resolves once the lineage is closed. Holds only the lineage, never an engine.
    pub(crate) fn closed(&self) -> impl std::future::Future<Output = ()> + Send + use<M> {
        let mut rx = self.0.closed.subscribe();
        async move {
            // An error means every engine is gone, which is closed too.
            let _ = rx.wait_for(|closed| *closed).await;
        }
    }

    /// The last engine of the lineage went without closing it: close it now.
    pub(super) fn close_if_alone(&self, leaving: &Series<M>) {
        if !leaving.others_alive() {
            self.0.closed.send_replace(true);
        }
    }
}
