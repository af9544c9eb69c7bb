//! Robust daily profiles: the median of each time of day over recent days, smoothed.

use crate::model::FitInput;

/// One table of the profile, indexed by time of day in steps.
#[derive(Debug, Clone)]
struct Table {
    /// Profile minus the profile's overall mean.
    additive: Vec<f64>,
    /// Profile over the profile's overall mean, floored at 0.05.
    relative: Vec<f64>,
}

/// A daily profile, either one table for every day or one for weekdays and one for weekends
/// (UTC Saturday and Sunday), which is how the weekly effect enters: coarsely, through the
/// day type, rather than as a 10,080-step weekly season learnt from two observations each.
#[derive(Debug, Clone)]
pub(super) struct Profile {
    tables: Vec<Table>,
    steps_per_day: usize,
    /// Time of day (in steps) of index 0.
    phase0: usize,
    /// Days since the Unix epoch of the day holding index 0.
    day0: i64,
}

/// Whether epoch day `day` is a Saturday or Sunday (1970-01-01 was a Thursday).
fn is_weekend(day: i64) -> bool {
    (day + 3).rem_euclid(7) >= 5
}

impl Profile {
    /// The one-table profile over the last `days` days (at least two).
    pub(super) fn daily(y: &[f64], input: &FitInput<'_>, spd: usize, days: usize) -> Option<Self> {
        Self::build(y, input, spd, days, false)
    }

    /// The weekday/weekend profile over the last `days` days; needs two days of each type.
    pub(super) fn by_day_type(
        y: &[f64],
        input: &FitInput<'_>,
        spd: usize,
        days: usize,
    ) -> Option<Self> {
        Self::build(y, input, spd, days, true)
    }

    /// A short label for reports.
    pub(super) fn label(&self) -> &'static str {
        if self.tables.len() == 2 {
            "weekday/weekend"
        } else {
            "daily"
        }
    }

    fn build(
        y: &[f64],
        input: &FitInput<'_>,
        spd: usize,
        days: usize,
        typed: bool,
    ) -> Option<Self> {
        let n = y.len();
        let days = days.min(n / spd);
        if days < 2 {
            return None;
        }
        let phase0 = input.phase_of_day(0);
        let day0 = input.start.timestamp().div_euclid(86_400);
        let types = if typed { 2 } else { 1 };
        // values[type][phase] = the samples of that time of day on days of that type.
        let mut values: Vec<Vec<Vec<f64>>> = vec![vec![Vec::with_capacity(days); spd]; types];
        let mut day_count = vec![0usize; types];
        let from = n - days * spd;
        for (i, &v) in y.iter().enumerate().skip(from) {
            let pos = phase0 + i;
            let ty = usize::from(typed && is_weekend(day0 + (pos / spd) as i64));
            if pos.is_multiple_of(spd) || i == from {
                day_count[ty] += 1;
            }
            values[ty][pos % spd].push(v);
        }
        if day_count.iter().any(|&c| c < 2) {
            return None;
        }
        let width = ((900 / input.step_secs).max(3) as usize) | 1;
        let smoothed: Vec<Vec<f64>> = values.iter_mut().map(|t| median_smooth(t, width)).collect();
        // One mean for both tables, weighted by days, so that the weekend/weekday level
        // difference stays in the profile.
        let total_days: usize = day_count.iter().sum();
        let mean = smoothed
            .iter()
            .zip(&day_count)
            .map(|(s, &c)| s.iter().sum::<f64>() / spd as f64 * c as f64)
            .sum::<f64>()
            / total_days as f64;
        if mean <= 0.0 {
            return None;
        }
        let tables = smoothed
            .into_iter()
            .map(|s| Table {
                additive: s.iter().map(|v| v - mean).collect(),
                relative: s.iter().map(|v| (v / mean).max(0.05)).collect(),
            })
            .collect();
        Some(Self {
            tables,
            steps_per_day: spd,
            phase0,
            day0,
        })
    }

    fn table(&self, i: usize) -> (&Table, usize) {
        let pos = self.phase0 + i;
        let ty = if self.tables.len() == 2 {
            usize::from(is_weekend(self.day0 + (pos / self.steps_per_day) as i64))
        } else {
            0
        };
        (&self.tables[ty], pos % self.steps_per_day)
    }

    /// The additive profile at index `i` (relative to the training data; may be past its end).
    pub(super) fn additive(&self, i: usize) -> f64 {
        let (t, p) = self.table(i);
        t.additive[p]
    }

    /// The relative profile at index `i`.
    pub(super) fn relative(&self, i: usize) -> f64 {
        let (t, p) = self.table(i);
        t.relative[p]
    }
}

/// The median of each phase, then a circular moving average of `width` steps.
fn median_smooth(by_phase: &mut [Vec<f64>], width: usize) -> Vec<f64> {
    let spd = by_phase.len();
    let raw: Vec<f64> = by_phase
        .iter_mut()
        .map(|v| {
            if v.is_empty() {
                return 0.0;
            }
            let mid = v.len() / 2;
            *v.select_nth_unstable_by(mid, f64::total_cmp).1
        })
        .collect();
    let half = width / 2;
    (0..spd)
        .map(|p| {
            (0..width)
                .map(|j| raw[(p + spd * (half + 1) + j - half) % spd])
                .sum::<f64>()
        })
        .map(|s| s / width as f64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    #[test]
    fn weekends_are_saturday_and_sunday() {
        // 1970-01-03 was a Saturday, 1970-01-05 a Monday.
        assert!(!is_weekend(0) && is_weekend(2) && is_weekend(3) && !is_weekend(4));
    }

    #[test]
    fn day_type_profile_separates_weekends() {
        // Hourly data starting Monday 2024-01-01: weekdays 100, weekends 40, flat within a day.
        let start = DateTime::from_timestamp(1_704_067_200, 0).unwrap();
        let y: Vec<f64> = (0..24 * 14)
            .map(|i| {
                if is_weekend(start.timestamp() / 86_400 + i / 24) {
                    40.0
                } else {
                    100.0
                }
            })
            .collect();
        let input = FitInput {
            values: &y,
            start,
            step_secs: 3600,
            horizon: 1,
        };
        let p = Profile::by_day_type(&y, &input, 24, 14).unwrap();
        // Mean = (10 * 100 + 4 * 40) / 14 ≈ 82.86.
        let mean = (10.0 * 100.0 + 4.0 * 40.0) / 14.0;
        assert!((p.additive(0) - (100.0 - mean)).abs() < 1e-9);
        assert!((p.additive(5 * 24 + 3) - (40.0 - mean)).abs() < 1e-9); // Saturday
        assert!((p.relative(14 * 24) - 100.0 / mean).abs() < 1e-9); // the next Monday
        let d = Profile::daily(&y, &input, 24, 7).unwrap();
        assert_eq!(d.label(), "daily");
        assert!(Profile::by_day_type(&y[..24 * 5], &input, 24, 14).is_none());
    }
}
