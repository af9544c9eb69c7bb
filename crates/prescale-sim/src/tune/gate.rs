//! Sharing the compute: a re-tune takes turns with the other services' work.

use std::fmt;
use std::sync::Arc;

/// Taken before a piece of a re-tune's work and held while it runs (see
/// [`super::Tuner::retune_gated`]). The server passes one that waits for a forecast thread
/// (the same semaphore its refreshes take), so that a re-tune of minutes never holds a
/// forecast thread for more than one refresh's fit or one candidate's replay at a time.
#[derive(Clone)]
pub struct Gate(Arc<dyn Fn() -> GateGuard + Send + Sync>);

/// Held while a piece of work runs; dropping it lets the next one in.
pub struct GateGuard(#[allow(dead_code)] Box<dyn Send>);

impl GateGuard {
    /// A guard holding `held` (a semaphore permit, say) until it is dropped.
    pub fn new(held: impl Send + 'static) -> Self {
        Self(Box::new(held))
    }
}

impl Gate {
    /// A gate that calls `enter` (which may block) before each piece of work.
    pub fn new(enter: impl Fn() -> GateGuard + Send + Sync + 'static) -> Self {
        Self(Arc::new(enter))
    }

    /// Waits for a turn; the turn lasts while the guard lives.
    pub fn enter(&self) -> GateGuard {
        (self.0)()
    }
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Gate")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_guard_holds_its_turn_until_dropped() {
        let inside = Arc::new(AtomicUsize::new(0));
        let i = inside.clone();
        let gate = Gate::new(move || {
            i.fetch_add(1, Ordering::SeqCst);
            let i = i.clone();
            GateGuard::new(scopeguard(move || {
                i.fetch_sub(1, Ordering::SeqCst);
            }))
        });
        let g = gate.enter();
        assert_eq!(inside.load(Ordering::SeqCst), 1);
        drop(g);
        assert_eq!(inside.load(Ordering::SeqCst), 0);
    }

    struct OnDrop<F: FnMut()>(F);
    impl<F: FnMut()> Drop for OnDrop<F> {
        fn drop(&mut self) {
            (self.0)();
        }
    }
    fn scopeguard<F: FnMut() + Send + 'static>(f: F) -> OnDrop<F> {
        OnDrop(f)
    }
}
