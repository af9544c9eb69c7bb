//! Server time: the wall clock, or the wall clock sped up.
//!
//! Production runs on the wall clock ([`TimeBase::real`]). For end-to-end tests that replay a
//! trace fast (one trace-minute per real second), the server can run on *scaled* time
//! ([`TimeBase::scaled`]): logical time runs `speed` times faster than the wall clock from a
//! real `origin`, where logical time is the origin rounded down to the minute (so that a
//! replay started at the origin puts its steps on the logical minute grid). Every schedule
//! (decision ticks, refreshes, refits, cold starts) shrinks by `speed`, and the demand source
//! is read at the matching real times (see [`Scaled`](crate::demand::source::Scaled)). Two servers
//! with the same origin and speed agree on logical time.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Logical time of the server. See the [module documentation](self).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeBase {
    /// Real instant of the origin.
    origin: DateTime<Utc>,
    /// Logical time at the origin.
    logical: DateTime<Utc>,
    speed: f64,
}

impl Default for TimeBase {
    fn default() -> Self {
        Self::real()
    }
}

impl TimeBase {
    /// The wall clock.
    pub const fn real() -> Self {
        Self {
            origin: DateTime::UNIX_EPOCH,
            logical: DateTime::UNIX_EPOCH,
            speed: 1.0,
        }
    }

    /// Time running `speed` times faster than the wall clock from the real instant
    /// `origin`, which is logical time `origin` rounded down to the minute (`speed` ≥ 1).
    pub fn scaled(origin: DateTime<Utc>, speed: f64) -> Self {
        Self {
            origin,
            logical: floor_to(origin, 60, 0),
            speed: if speed.is_finite() && speed >= 1.0 {
                speed
            } else {
                1.0
            },
        }
    }

    /// The speed-up (1 on the wall clock).
    pub const fn speed(&self) -> f64 {
        self.speed
    }

    /// Whether this is the wall clock.
    pub fn is_real(&self) -> bool {
        self.speed == 1.0
    }

    /// Logical now.
    pub fn now(&self) -> DateTime<Utc> {
        self.to_logical(Utc::now())
    }

    /// The logical time of a real instant.
    pub fn to_logical(&self, real: DateTime<Utc>) -> DateTime<Utc> {
        if self.is_real() {
            return real;
        }
        let ms = (real - self.origin).num_milliseconds() as f64 * self.speed;
        self.logical + chrono::Duration::milliseconds(ms.round() as i64)
    }

    /// The real instant of a logical time.
    pub fn to_real(&self, logical: DateTime<Utc>) -> DateTime<Utc> {
        if self.is_real() {
            return logical;
        }
        let ms = (logical - self.logical).num_milliseconds() as f64 / self.speed;
        self.origin + chrono::Duration::milliseconds(ms.round() as i64)
    }

    /// The real length of a logical duration.
    pub fn real_duration(&self, logical: Duration) -> Duration {
        logical.div_f64(self.speed)
    }

    /// Sleeps until logical time `t` (returns at once when it has passed).
    pub async fn sleep_until(&self, t: DateTime<Utc>) {
        let wait = (self.to_real(t) - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait).await;
    }
}

pub use prescale_control::grid::{floor_to, floor_to_ms, next_after, next_after_ms, stable_hash};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_and_scaling() {
        let t = DateTime::from_timestamp(1_000_017, 500_000_000).unwrap();
        assert_eq!(floor_to(t, 15, 0).timestamp(), 1_000_005);
        assert_eq!(floor_to(t, 300, 60).timestamp(), 999_960);
        assert_eq!(next_after(floor_to(t, 15, 0), 15, 0).timestamp(), 1_000_020);
        let origin = DateTime::from_timestamp(999_960, 0).unwrap();
        let tb = TimeBase::scaled(origin, 60.0);
        let real = origin + chrono::Duration::seconds(2);
        assert_eq!(tb.to_logical(real), origin + chrono::Duration::minutes(2));
        assert_eq!(
            tb.to_real(origin - chrono::Duration::hours(1)),
            origin - chrono::Duration::minutes(1)
        );
        assert_eq!(
            tb.real_duration(Duration::from_secs(60)),
            Duration::from_secs(1)
        );
        assert_eq!(TimeBase::real().to_real(real), real);
        // Off the minute, the origin is the logical minute it falls in.
        let tb = TimeBase::scaled(origin + chrono::Duration::seconds(7), 60.0);
        assert_eq!(tb.to_logical(origin + chrono::Duration::seconds(7)), origin);
        assert_eq!(
            tb.to_real(origin + chrono::Duration::minutes(1)),
            origin + chrono::Duration::seconds(8)
        );
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
