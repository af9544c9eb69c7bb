//! Robust daily profiles: the median of each time of day over recent days, smoothed.

use chrono::DateTime;

use crate::calendar::BusinessCalendar;
use crate::model::FitInput;

/// One table of the profile, indexed by time of day in steps.
#[derive(Debug, Clone)]
struct Table {
    /// Profile minus the profile's overall mean.
    additive: Vec<f64>,
    /// Profile over the profile's overall mean, floored at 0.05.
    relative: Vec<f64>,
}

/// How days are split into two types for the two-table profile.
#[derive(Debug, Clone, Copy)]
pub(super) enum DayTypes<'a> {
    /// Saturday and Sunday (UTC) against the other days.
    Weekend,
    /// The calendar's business days (local dates, holidays included) against the others.
    Calendar(&'a BusinessCalendar),
}

/// A daily profile, either one table for every day or one for each of two day types (weekday
/// and weekend, or business and non-business days of a [`BusinessCalendar`]), which is how the
/// weekly effect enters: coarsely, through the day type, rather than as a 10,080-step weekly
/// season learnt from two observations each.
#[derive(Debug, Clone)]
pub(super) struct Profile {
    tables: Vec<Table>,
    steps_per_day: usize,
    /// Time of day (in steps) of index 0.
    phase0: usize,
    /// For a two-table profile: whether each index (training data plus horizon) falls on the
    /// second day type (a weekend or non-business day).
    off: Vec<bool>,
    /// The calendar, for indices past `off`.
    calendar: Option<BusinessCalendar>,
    start_secs: i64,
    step_secs: i64,
}

/// Whether epoch day `day` is a Saturday or Sunday (1970-01-01 was a Thursday).
fn is_weekend(day: i64) -> bool {
    (day + 3).rem_euclid(7) >= 5
}

impl Profile {
    /// The one-table profile over the last `days` days (at least two).
    pub(super) fn daily(y: &[f64], input: &FitInput<'_>, spd: usize, days: usize) -> Option<Self> {
        Self::build(y, input, spd, days, None)
    }

    /// The two-table profile over the last `days` days; needs two days of each type.
    pub(super) fn by_day_type(
        y: &[f64],
        input: &FitInput<'_>,
        spd: usize,
        days: usize,
        types: DayTypes<'_>,
    ) -> Option<Self> {
        Self::build(y, input, spd, days, Some(types))
    }

    /// A short label for reports.
    pub(super) fn label(&self) -> &'static str {
        match (self.tables.len(), &self.calendar) {
            (1, _) => "daily",
            (_, None) => "weekday/weekend",
            (_, Some(_)) => "business-day",
        }
    }

    fn build(
        y: &[f64],
        input: &FitInput<'_>,
        spd: usize,
        days: usize,
        types: Option<DayTypes<'_>>,
    ) -> Option<Self> {
        let n = y.len();
        let days = days.min(n / spd);
        if days < 2 {
            return None;
        }
        let len = n + input.horizon;
        let (off, calendar) = match types {
            None => (Vec::new(), None),
            Some(DayTypes::Weekend) => {
                let t0 = input.start.timestamp();
                let off = (0..len as i64)
                    .map(|i| is_weekend((t0 + i * input.step_secs).div_euclid(86_400)))
                    .collect();
                (off, None)
            }
            Some(DayTypes::Calendar(cal)) => {
                let mask = cal.day_mask(input.start, input.step_secs, len);
                (mask.into_iter().map(|b| !b).collect(), Some(cal.clone()))
            }
        };
        let types = if types.is_some() { 2 } else { 1 };
        let phase0 = input.phase_of_day(0);
        // values[type][phase] = the samples of that time of day on days of that type.
        let mut values: Vec<Vec<Vec<f64>>> = vec![vec![Vec::with_capacity(days); spd]; types];
        let mut steps = vec![0usize; types];
        for (i, &v) in y.iter().enumerate().skip(n - days * spd) {
            let ty = usize::from(off.get(i).copied().unwrap_or(false));
            steps[ty] += 1;
            values[ty][(phase0 + i) % spd].push(v);
        }
        if steps.iter().any(|&c| c < 2 * spd) {
            return None;
        }
        let width = ((900 / input.step_secs).max(3) as usize) | 1;
        let smoothed: Vec<Vec<f64>> = values.iter_mut().map(|t| median_smooth(t, width)).collect();
        // One mean for both tables, weighted by their share of the days, so that the level
        // difference between the day types stays in the profile.
        let total: usize = steps.iter().sum();
        let mean = smoothed
            .iter()
            .zip(&steps)
            .map(|(s, &c)| s.iter().sum::<f64>() / spd as f64 * c as f64)
            .sum::<f64>()
            / total as f64;
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
            off,
            calendar,
            start_secs: input.start.timestamp(),
            step_secs: input.step_secs,
        })
    }

    fn table(&self, i: usize) -> (&Table, usize) {
        let ty = if self.tables.len() == 1 {
            false
        } else if let Some(&off) = self.off.get(i) {
            off
        } else {
            let t = self.start_secs + i as i64 * self.step_secs;
            match &self.calendar {
                Some(cal) => {
                    !DateTime::from_timestamp(t, 0).is_some_and(|u| cal.is_business_day_at(u))
                }
                None => is_weekend(t.div_euclid(86_400)),
            }
        };
        (
            &self.tables[usize::from(ty)],
            (self.phase0 + i) % self.steps_per_day,
        )
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
        let p = Profile::by_day_type(&y, &input, 24, 14, DayTypes::Weekend).unwrap();
        // Mean = (10 * 100 + 4 * 40) / 14 ≈ 82.86.
        let mean = (10.0 * 100.0 + 4.0 * 40.0) / 14.0;
        assert!((p.additive(0) - (100.0 - mean)).abs() < 1e-9);
        assert!((p.additive(5 * 24 + 3) - (40.0 - mean)).abs() < 1e-9); // Saturday
        assert!((p.relative(14 * 24) - 100.0 / mean).abs() < 1e-9); // the next Monday
        let d = Profile::daily(&y, &input, 24, 7).unwrap();
        assert_eq!(d.label(), "daily");
        assert!(Profile::by_day_type(&y[..24 * 5], &input, 24, 14, DayTypes::Weekend).is_none());
        // A calendar whose business days are Mon–Thu moves Friday to the other table.
        let cal = BusinessCalendar::new(
            chrono_tz::UTC,
            vec![
                chrono::Weekday::Mon,
                chrono::Weekday::Tue,
                chrono::Weekday::Wed,
                chrono::Weekday::Thu,
            ],
            chrono::NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            chrono::NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
            Vec::new(),
        )
        .unwrap();
        let c = Profile::by_day_type(&y, &input, 24, 14, DayTypes::Calendar(&cal)).unwrap();
        assert_eq!(c.label(), "business-day");
        // Thursday is a business day, Friday is not (but still reads 100 in the data).
        assert!(c.additive(3 * 24) > c.additive(4 * 24));
    }
}
