//! The loop's time grids: decision ticks, refresh points and refit points, each a multiple of
//! its period after an offset on the Unix epoch's grid.
//!
//! In production ([`Grids::spread`]) the offsets come from a stable hash of the service's key,
//! so that a thousand services do not decide, query Prometheus or refit in the same instant,
//! and every replica of the server puts one service on the same grid. A replay
//! ([`Grids::aligned`]) puts every grid at offset 0, on the simulator's ticks.

use chrono::{DateTime, Utc};

/// The periods of the loop, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Periods {
    /// Between decisions (KEDA's and the HPA's 15 s by default).
    pub decision_ms: i64,
    /// Between refreshes of history and forecast (a multiple of the decision period).
    pub refresh_ms: i64,
    /// Between refits of the model (a multiple of the refresh period).
    pub refit_ms: i64,
}

/// Where the grids of one service lie. See the [module documentation](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grids {
    /// The periods.
    pub periods: Periods,
    /// Offset of the decision grid, ms.
    pub tick_offset_ms: i64,
    /// Offset of the refresh grid, ms (a decision tick).
    pub refresh_offset_ms: i64,
    /// Offset of the refit grid, ms (a refresh point).
    pub refit_offset_ms: i64,
}

impl Grids {
    /// Every grid at offset 0: ticks on multiples of the decision period since the epoch.
    pub const fn aligned(periods: Periods) -> Self {
        Self {
            periods,
            tick_offset_ms: 0,
            refresh_offset_ms: 0,
            refit_offset_ms: 0,
        }
    }

    /// Every grid through `origin`: ticks on `origin` plus multiples of the decision period
    /// (a replay whose ticks start at a trace's first timestamp, whatever its phase).
    pub fn aligned_to(periods: Periods, origin: DateTime<Utc>) -> Self {
        let ms = origin.timestamp_millis();
        Self {
            periods,
            tick_offset_ms: ms.rem_euclid(periods.decision_ms.max(1)),
            refresh_offset_ms: ms.rem_euclid(periods.refresh_ms.max(1)),
            refit_offset_ms: ms.rem_euclid(periods.refit_ms.max(1)),
        }
    }

    /// Grids shifted by a stable hash of `key`: decisions anywhere in the decision period,
    /// refreshes on a decision tick anywhere in the refresh period, refits on a refresh point
    /// anywhere in the refit period.
    pub fn spread(periods: Periods, key: &str) -> Self {
        let decision = periods.decision_ms.max(1);
        let refresh = periods.refresh_ms.max(1);
        let hash = stable_hash(key);
        let tick_offset_ms = (hash % decision as u64) as i64;
        let ticks = (refresh / decision).max(1) as u64;
        let refresh_offset_ms = tick_offset_ms + ((hash >> 16) % ticks) as i64 * decision;
        let refreshes = (periods.refit_ms / refresh).max(1) as u64;
        let refit_offset_ms = refresh_offset_ms + ((hash >> 32) % refreshes) as i64 * refresh;
        Self {
            periods,
            tick_offset_ms,
            refresh_offset_ms,
            refit_offset_ms,
        }
    }

    /// The decision tick at or before `t`.
    pub fn tick_at(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        floor_to_ms(t, self.periods.decision_ms, self.tick_offset_ms)
    }

    /// The first decision tick strictly after `t`.
    pub fn next_tick(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        next_after_ms(t, self.periods.decision_ms, self.tick_offset_ms)
    }

    /// Whether `t` is a decision tick.
    pub fn is_tick(&self, t: DateTime<Utc>) -> bool {
        self.tick_at(t) == t
    }

    /// The refresh point at or before `t`.
    pub fn refresh_at(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        floor_to_ms(t, self.periods.refresh_ms, self.refresh_offset_ms)
    }

    /// The refit point at or before `t`.
    pub fn refit_at(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        floor_to_ms(t, self.periods.refit_ms, self.refit_offset_ms)
    }

    /// The refit point at or before `t` for a history that starts at `start`. While the
    /// history is younger than one refit period, the model is also refitted whenever its
    /// history has doubled: at the refresh point at or before `start + 2^k` refresh periods
    /// (k ≥ 0), so that a model fitted on the first minutes (no band, a fixed α) is not kept
    /// for a whole refit period. Later, the regular refit grid alone. A function of `t` and
    /// `start` only, so that replicas reading the same history refit alike.
    pub fn refit_for(&self, t: DateTime<Utc>, start: DateTime<Utc>) -> DateTime<Utc> {
        let regular = self.refit_at(t);
        let age = (t - start).num_milliseconds();
        let refresh = self.periods.refresh_ms.max(1);
        if age < refresh || age >= self.periods.refit_ms {
            return regular;
        }
        let mut span = refresh;
        while span <= age / 2 {
            span *= 2;
        }
        let early = self.refresh_at(start + chrono::Duration::milliseconds(span));
        regular.max(early)
    }
}

/// `t` rounded down to a multiple of `period` seconds after `offset` seconds (on the Unix
/// epoch's grid).
pub fn floor_to(t: DateTime<Utc>, period: i64, offset: i64) -> DateTime<Utc> {
    floor_to_ms(t, period * 1000, offset * 1000)
}

/// `t` rounded down to a multiple of `period_ms` milliseconds after `offset_ms`.
pub fn floor_to_ms(t: DateTime<Utc>, period_ms: i64, offset_ms: i64) -> DateTime<Utc> {
    let period = period_ms.max(1);
    let ms = t.timestamp_millis() - offset_ms;
    DateTime::from_timestamp_millis(ms.div_euclid(period) * period + offset_ms).unwrap_or(t)
}

/// The first grid point (multiple of `period` seconds after `offset`) strictly after `t`.
pub fn next_after(t: DateTime<Utc>, period: i64, offset: i64) -> DateTime<Utc> {
    next_after_ms(t, period * 1000, offset * 1000)
}

/// The first grid point (multiple of `period_ms` after `offset_ms`) strictly after `t`.
pub fn next_after_ms(t: DateTime<Utc>, period_ms: i64, offset_ms: i64) -> DateTime<Utc> {
    floor_to_ms(t, period_ms, offset_ms) + chrono::Duration::milliseconds(period_ms.max(1))
}

/// A stable 64-bit hash (FNV-1a) of `s`: the same on every replica and every run.
pub fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Periods = Periods {
        decision_ms: 15_000,
        refresh_ms: 300_000,
        refit_ms: 6 * 3_600_000,
    };

    #[test]
    fn spread_grids_nest_and_stay_within_their_periods() {
        for key in ["a/b", "ns/vllm", "x"] {
            let g = Grids::spread(P, key);
            assert!((0..15_000).contains(&g.tick_offset_ms));
            assert_eq!((g.refresh_offset_ms - g.tick_offset_ms) % 15_000, 0);
            assert!(g.refresh_offset_ms < 300_000);
            assert_eq!((g.refit_offset_ms - g.refresh_offset_ms) % 300_000, 0);
            assert!(g.refit_offset_ms < 6 * 3_600_000);
            let t = DateTime::from_timestamp(1_700_000_123, 0).unwrap();
            let r = g.refresh_at(t);
            assert!(g.is_tick(r) && r <= t);
            assert_eq!(g.refresh_at(g.refit_at(t)), g.refit_at(t));
            assert!(g.next_tick(t) > t && g.is_tick(g.next_tick(t)));
        }
        let a = Grids::aligned(P);
        let t = DateTime::from_timestamp(1_000_017, 0).unwrap();
        assert_eq!(a.tick_at(t).timestamp(), 1_000_005);
        assert_eq!(a.refresh_at(t).timestamp(), 999_900);
        // Through an origin off the minute grid: ticks, refreshes and refits all pass it.
        let origin = DateTime::from_timestamp(1_424_986_973, 0).unwrap(); // 21:42:53
        let g = Grids::aligned_to(P, origin);
        assert!(g.is_tick(origin));
        assert_eq!(g.refresh_at(origin), origin);
        assert_eq!(g.refit_at(origin), origin);
        assert!(g.is_tick(origin + chrono::Duration::seconds(15)));
    }

    #[test]
    fn a_young_history_is_refit_each_time_it_doubles() {
        let g = Grids::spread(P, "ns/vllm");
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let min = |m: i64| start + chrono::Duration::minutes(m);
        // Younger than one refresh period: the regular grid.
        assert_eq!(g.refit_for(min(3), start), g.refit_at(min(3)));
        // Each point is the refresh point at or before start + 5·2^k minutes, never after `t`.
        let mut seen = Vec::new();
        for m in 5..6 * 60 {
            let r = g.refit_for(min(m), start);
            assert!(r <= min(m) && g.refresh_at(r) == r, "{m}");
            assert!(r >= g.refit_at(min(m)), "{m}");
            if seen.last() != Some(&r) {
                seen.push(r);
            }
        }
        let early: Vec<_> = [5, 10, 20, 40, 80, 160, 320]
            .iter()
            .map(|&m| g.refresh_at(min(m)))
            .collect();
        assert!(early.iter().all(|e| seen.contains(e)), "{seen:?}");
        // From one refit period on, the regular grid alone.
        for m in [6 * 60, 7 * 60, 30 * 60] {
            assert_eq!(g.refit_for(min(m), start), g.refit_at(min(m)));
        }
        // Two replicas asking at the same time about the same history agree.
        assert_eq!(
            g.refit_for(min(77), start),
            Grids::spread(P, "ns/vllm").refit_for(min(77), start)
        );
    }
}
