//! A ScaledObject's [`Slot`]: what KEDA is answered, its current registration, and how a
//! second prescale trigger is told from an edit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;

use super::{Answer, MetricTarget, ObjectKey, Registration};

/// A ScaledObject's place in the registry: its current registration and what KEDA is told.
#[derive(Debug)]
pub struct Slot {
    /// Which ScaledObject.
    pub key: ObjectKey,
    pub(super) current: RwLock<Arc<Registration>>,
    pub(super) answer: watch::Sender<Option<Answer>>,
    pub(super) target: watch::Sender<MetricTarget>,
    /// When KEDA last asked about it (or it was registered), and whether it never expires
    /// (declared in the server's config).
    pub(super) seen: Mutex<(tokio::time::Instant, bool)>,
    /// When its worker last published an answer (real time).
    pub(super) published: Mutex<Option<tokio::time::Instant>>,
    /// Other triggers' metadata (see [`SECOND_TRIGGER_WINDOW`]).
    pub(super) others: Mutex<Others>,
}

/// What a slot remembers to tell a second trigger from an edit.
#[derive(Debug)]
pub(super) struct Others {
    /// When a call last named the current metadata.
    pub(super) current_asked: tokio::time::Instant,
    /// Metadata replaced (or refused) lately, with when it was last seen; at most
    /// [`MAX_DISPLACED`].
    pub(super) displaced: Vec<(HashMap<String, String>, tokio::time::Instant)>,
}

/// How long metadata that was replaced stays a candidate second trigger: a call naming it
/// within this time, while the current metadata was asked about within it too, is refused.
/// KEDA asks about every trigger of a ScaledObject at each `pollingInterval` and each HPA sync
/// (15 s), one right after the other; an edit stops the old metadata's calls, so reverting an
/// edit takes effect at most this long after the reverted metadata was last asked about.
pub const SECOND_TRIGGER_WINDOW: std::time::Duration = std::time::Duration::from_secs(600);

/// The most displaced metadata a slot remembers.
const MAX_DISPLACED: usize = 8;

impl Slot {
    /// KEDA asked about it now.
    pub fn touch(&self) {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).0 = tokio::time::Instant::now();
    }

    /// How long since KEDA last asked (`None` when it never expires).
    pub fn idle(&self) -> Option<std::time::Duration> {
        let (at, pinned) = *self.seen.lock().unwrap_or_else(|e| e.into_inner());
        (!pinned).then(|| at.elapsed())
    }

    /// The current registration.
    pub fn registration(&self) -> Arc<Registration> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The latest answer (`None` before the first decision).
    pub fn answer(&self) -> Option<Answer> {
        *self.answer.borrow()
    }

    /// Publishes an answer (streams wake when `active` changes).
    pub fn publish(&self, answer: Answer) {
        *self.published.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(tokio::time::Instant::now());
        self.answer.send_replace(Some(answer));
    }

    /// How long since its worker last published an answer (real time; `None` before the
    /// first): a worker that stopped deciding shows here, whatever time its answers are
    /// stamped with.
    pub fn since_published(&self) -> Option<std::time::Duration> {
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|at| at.elapsed())
    }

    /// Subscribes to answers.
    pub fn answers(&self) -> watch::Receiver<Option<Answer>> {
        self.answer.subscribe()
    }

    /// The metric spec.
    pub fn target(&self) -> MetricTarget {
        self.target.borrow().clone()
    }

    /// Subscribes to metric specs.
    pub fn targets(&self) -> watch::Receiver<MetricTarget> {
        self.target.subscribe()
    }

    pub(super) fn lock_others(&self) -> std::sync::MutexGuard<'_, Others> {
        self.others.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `metadata` (not the current one) is a second trigger's: replaced within
    /// [`SECOND_TRIGGER_WINDOW`] while the current metadata is still asked about. Notes the
    /// call either way.
    pub(super) fn is_second_trigger(&self, metadata: &HashMap<String, String>) -> bool {
        let now = tokio::time::Instant::now();
        let mut others = self.lock_others();
        others
            .displaced
            .retain(|(_, seen)| now.duration_since(*seen) < SECOND_TRIGGER_WINDOW);
        let current_live = now.duration_since(others.current_asked) < SECOND_TRIGGER_WINDOW;
        match others.displaced.iter_mut().find(|(m, _)| m == metadata) {
            Some((_, seen)) if current_live => {
                *seen = now;
                true
            }
            _ => false,
        }
    }

    /// `old` was replaced by `new`: remember `old` as a candidate second trigger.
    pub(super) fn displace(&self, old: HashMap<String, String>, new: &HashMap<String, String>) {
        let now = tokio::time::Instant::now();
        let mut others = self.lock_others();
        others.current_asked = now;
        others.displaced.retain(|(m, _)| m != new && *m != old);
        if others.displaced.len() >= MAX_DISPLACED {
            others.displaced.remove(0);
        }
        others.displaced.push((old, now));
    }
}
