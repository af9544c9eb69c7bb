//! KEDA's activation semantics: who owns 0 ↔ 1.
//!
//! KEDA polls its triggers every `pollingInterval` (30 s) and decides only activation: from
//! zero (or the idle count) to `max(minReplicaCount, 1)` when a trigger is active, and back to
//! zero (or idle) when none has been active for `cooldownPeriod` (300 s). Everything between
//! 1 and N is the HPA's job ([`Hpa`](crate::hpa::Hpa)). [`KedaScaler::poll`] follows the
//! scale-loop decision table of `RequestScale` (`pkg/scaling/executor/scale_scaledobjects.go`):
//!
//! | trigger  | replicas                                   | action                              |
//! |----------|--------------------------------------------|-------------------------------------|
//! | active   | 0, or below min with an idle count set     | set `max(min, 1)`, mark active      |
//! | active   | otherwise                                  | mark active (the HPA scales)        |
//! | inactive | above idle (idle set), or > 0 with min 0   | after the cooldown: set idle or min |
//! | inactive | below min, no idle count                   | set min                             |
//! | inactive | otherwise                                  | nothing                             |
//!
//! The cooldown counts from the last poll that saw the trigger active (`lastActiveTime`); when
//! no poll ever did, from the scaler's creation plus `initialCooldownPeriod` (0 by default), as
//! in `scaleToZeroOrIdle`. A scaler error is not an input here: KEDA takes no action on one
//! (unless a fallback is configured), so a caller with no data should not call
//! [`KedaScaler::poll`].

use chrono::{DateTime, Utc};

use crate::util::plus_secs;

/// KEDA's default `pollingInterval`, in seconds.
pub const DEFAULT_POLLING_SECS: i64 = 30;

/// KEDA's default `cooldownPeriod`, in seconds.
pub const DEFAULT_COOLDOWN_SECS: i64 = 300;

/// The KEDA scale loop of one ScaledObject. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KedaScaler {
    /// `pollingInterval` in seconds (default 30).
    pub polling_secs: i64,
    /// `cooldownPeriod` in seconds (default 300): how long no trigger must have been active
    /// before scaling to zero (or idle).
    pub cooldown_secs: i64,
    /// `initialCooldownPeriod` in seconds (default 0): the cooldown after creation when no
    /// trigger has been active yet.
    pub initial_cooldown_secs: i64,
    /// `minReplicaCount` (default 0).
    pub min_replicas: u32,
    /// `idleReplicaCount` (unset by default; only 0 works correctly in KEDA).
    pub idle_replicas: Option<u32>,
    /// When the ScaledObject was created (the origin of the initial cooldown).
    pub created_at: DateTime<Utc>,
    /// `status.lastActiveTime`: the last poll at which a trigger was active.
    pub last_active: Option<DateTime<Utc>>,
    /// The last poll, if any.
    pub last_poll: Option<DateTime<Utc>>,
}

impl KedaScaler {
    /// A scale loop created at `created_at` with the KEDA defaults (30 s polling, 300 s
    /// cooldown, no initial cooldown, no idle count) and `min_replicas`.
    pub const fn new(min_replicas: u32, created_at: DateTime<Utc>) -> Self {
        Self {
            polling_secs: DEFAULT_POLLING_SECS,
            cooldown_secs: DEFAULT_COOLDOWN_SECS,
            initial_cooldown_secs: 0,
            min_replicas,
            idle_replicas: None,
            created_at,
            last_active: None,
            last_poll: None,
        }
    }

    /// Whether a poll is due at `now`: no poll yet, or at least `polling_secs` since the last.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.last_poll
            .is_none_or(|last| now >= plus_secs(last, self.polling_secs.max(0)))
    }

    /// [`poll`](Self::poll) when one is due at `now`, otherwise `None`.
    pub fn tick(&mut self, now: DateTime<Utc>, active: bool, replicas: u32) -> Option<u32> {
        if self.is_due(now) {
            self.poll(now, active, replicas)
        } else {
            None
        }
    }

    /// One poll of the scale loop at `now`: whether any trigger is `active` and the target's
    /// current `replicas`. Returns the replica count KEDA sets, or `None` when it leaves the
    /// target alone (the HPA owns it).
    pub fn poll(&mut self, now: DateTime<Utc>, active: bool, replicas: u32) -> Option<u32> {
        self.last_poll = Some(now);
        let min = self.min_replicas;
        if active {
            self.last_active = Some(now);
            let below_idle_min = self.idle_replicas.is_some() && replicas < min;
            return (replicas == 0 || below_idle_min).then_some(min.max(1));
        }
        let above_idle = self.idle_replicas.is_some_and(|idle| replicas > idle);
        if above_idle || (replicas > 0 && min == 0) {
            let target = self.idle_replicas.unwrap_or(min);
            return self.cooled_down(now).then_some(target);
        }
        if self.idle_replicas.is_none() && replicas < min {
            return Some(min);
        }
        None
    }

    /// Whether the cooldown has passed at `now` (strictly after `lastActiveTime + cooldown`,
    /// or `creation + initialCooldown` when never active).
    pub fn cooled_down(&self, now: DateTime<Utc>) -> bool {
        match self.last_active {
            Some(last) => plus_secs(last, self.cooldown_secs) < now,
            None => plus_secs(self.created_at, self.initial_cooldown_secs) < now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        plus_secs(DateTime::from_timestamp(1_700_000_000, 0).unwrap(), secs)
    }

    #[test]
    fn activation_from_zero_goes_to_max_of_min_and_one() {
        let mut keda = KedaScaler::new(0, t(0));
        assert_eq!(keda.poll(t(30), true, 0), Some(1));
        assert_eq!(keda.last_active, Some(t(30)));
        // Active with replicas: the HPA scales, KEDA only refreshes lastActiveTime.
        assert_eq!(keda.poll(t(60), true, 3), None);
        assert_eq!(keda.last_active, Some(t(60)));
        let mut keda = KedaScaler::new(3, t(0));
        assert_eq!(keda.poll(t(30), true, 0), Some(3));
    }

    #[test]
    fn scale_to_zero_waits_for_the_cooldown_since_last_active() {
        let mut keda = KedaScaler::new(0, t(0));
        assert_eq!(keda.poll(t(0), true, 4), None);
        // Inactive from 30 s: nothing until 300 s after the last active poll (strictly).
        for s in (30..=300).step_by(30) {
            assert_eq!(keda.poll(t(s), false, 4), None, "at {s} s");
        }
        assert_eq!(keda.poll(t(330), false, 4), Some(0), "straight from N to 0");
        // Activity resets the cooldown.
        let mut keda = KedaScaler::new(0, t(0));
        assert_eq!(keda.poll(t(0), true, 2), None);
        assert_eq!(keda.poll(t(270), true, 2), None);
        assert_eq!(keda.poll(t(330), false, 2), None);
        assert_eq!(keda.poll(t(600), false, 2), Some(0));
        // At zero and inactive: nothing to do.
        assert_eq!(keda.poll(t(630), false, 0), None);
    }

    #[test]
    fn never_active_uses_the_initial_cooldown() {
        let mut keda = KedaScaler::new(0, t(0));
        assert_eq!(keda.poll(t(1), false, 2), Some(0));
        let mut keda = KedaScaler::new(0, t(0));
        keda.initial_cooldown_secs = 120;
        assert_eq!(keda.poll(t(90), false, 2), None);
        assert_eq!(keda.poll(t(121), false, 2), Some(0));
    }

    #[test]
    fn min_replicas_and_idle_count() {
        // min 2 without idle: inactive never goes below 2; below min is corrected.
        let mut keda = KedaScaler::new(2, t(0));
        assert_eq!(keda.poll(t(0), false, 5), None);
        assert_eq!(keda.poll(t(30), false, 1), Some(2));
        // idle 0 with min 3: inactive goes to 0 after the cooldown, activation to 3.
        let mut keda = KedaScaler::new(3, t(0));
        keda.idle_replicas = Some(0);
        assert_eq!(keda.poll(t(0), true, 5), None);
        assert_eq!(keda.poll(t(301), false, 5), Some(0));
        assert_eq!(keda.poll(t(331), true, 0), Some(3));
        assert_eq!(
            keda.poll(t(361), true, 2),
            Some(3),
            "below min with idle set"
        );
    }

    #[test]
    fn polls_follow_the_interval() {
        let mut keda = KedaScaler::new(0, t(0));
        assert!(keda.is_due(t(0)));
        assert_eq!(keda.tick(t(0), true, 0), Some(1));
        assert!(!keda.is_due(t(29)));
        assert_eq!(keda.tick(t(15), true, 0), None, "not due");
        assert_eq!(keda.tick(t(30), true, 0), Some(1));
        // Extreme settings do not panic.
        keda.polling_secs = i64::MAX;
        keda.cooldown_secs = i64::MIN;
        assert!(!keda.is_due(t(60)));
        let _ = keda.poll(DateTime::<Utc>::MAX_UTC, false, 1);
    }
}
