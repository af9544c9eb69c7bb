//! Robust daily profiles: the median of each time of day over recent days, smoothed.

use chrono::DateTime;

use crate::calendar::BusinessCalendar;
use crate::model::FitInput;

/// One table of the profile, indexed by time of day in steps.
#[derive(Debug, Clone)]
struct Table {
    /// The smoothed median of each time of day.
    values: Vec<f64>,
}

/// The tables made at the start of one day from the days before it.
#[derive(Debug, Clone)]
struct Build {
    tables: Vec<Table>,
    /// The overall mean of the tables, weighted by their share of the days.
    mean: f64,
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
///
/// The profile is rebuilt at the start of every (UTC) day from the days before it, and a
/// forecast from origin `o` uses the build of `o`'s day: every forecast, in the selection and
/// the calibration as well as from the end of the data, uses a profile made from data before
/// its origin. (A profile made from the whole window would contain the very values a
/// backcast is scored on, and look better in the selection than it forecasts.) Days before the
/// first day with enough history (two days, and two of each type) use the first build; only
/// the warm-up of the filters reaches them.
#[derive(Debug, Clone)]
pub(super) struct Profile {
    builds: Vec<Build>,
    /// For each day from `first_day` on, the index of its build.
    day_build: Vec<usize>,
    first_day: usize,
    two_types: bool,
    steps_per_day: usize,
    /// The period of the tables in steps: a day, or an hour for the hourly profile.
    period: usize,
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
    /// The one-table profile over the last `days` days (at least two), rebuilt daily from
    /// index `from` on.
    pub(super) fn daily(
        y: &[f64],
        input: &FitInput<'_>,
        spd: usize,
        days: usize,
        from: usize,
    ) -> Option<Self> {
        Self::build(y, input, spd, days, None, from, spd)
    }

    /// The one-table profile of the time within the hour (cron-like hourly patterns), over
    /// the last `days` days, unsmoothed; `None` unless an hour is a whole number of at least
    /// two steps.
    pub(super) fn hourly(
        y: &[f64],
        input: &FitInput<'_>,
        spd: usize,
        days: usize,
        from: usize,
    ) -> Option<Self> {
        let period = usize::try_from(3_600 / input.step_secs).ok()?;
        if 3_600 % input.step_secs != 0 || period < 2 || !spd.is_multiple_of(period) {
            return None;
        }
        Self::build(y, input, spd, days, None, from, period)
    }

    /// The two-table profile over the last `days` days; needs two days of each type.
    pub(super) fn by_day_type(
        y: &[f64],
        input: &FitInput<'_>,
        spd: usize,
        days: usize,
        types: DayTypes<'_>,
        from: usize,
    ) -> Option<Self> {
        Self::build(y, input, spd, days, Some(types), from, spd)
    }

    /// A short label for reports.
    pub(super) fn label(&self) -> &'static str {
        match (self.two_types, &self.calendar) {
            (false, _) if self.period < self.steps_per_day => "hourly",
            (false, _) => "daily",
            (true, None) => "weekday/weekend",
            (true, Some(_)) => "business-day",
        }
    }

    /// The UTC day (counted from the day of index 0) of index `i`.
    fn day(&self, i: usize) -> usize {
        (self.phase0 + i) / self.steps_per_day
    }

    fn build(
        y: &[f64],
        input: &FitInput<'_>,
        spd: usize,
        days: usize,
        types: Option<DayTypes<'_>>,
        from: usize,
        period: usize,
    ) -> Option<Self> {
        let n = y.len();
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
        let phase0 = input.phase_of_day(0);
        let two_types = types.is_some();
        let width = if period < spd {
            1
        } else {
            ((900 / input.step_secs).max(3) as usize) | 1
        };
        // `from` past the data: one build from the last days before the end of the data,
        // for every origin.
        let fresh = from > n;
        let last_day = (phase0 + n) / spd;
        let first_day = if fresh {
            last_day
        } else {
            (phase0 + from) / spd
        };
        let mut builds = Vec::new();
        let mut day_build = Vec::with_capacity(last_day + 1 - first_day);
        for d in first_day..=last_day {
            // The data before the start of day `d` (or before the end, fresh).
            let end = if fresh {
                n
            } else {
                (d * spd).saturating_sub(phase0).min(n)
            };
            let begin = end.saturating_sub(days * spd);
            let tables = Tables {
                phase0,
                spd,
                period,
                two_types,
                width,
            };
            match tables.build(&y[begin..end], begin, &off) {
                Some(b) => {
                    builds.push(b);
                    day_build.push(builds.len() - 1);
                }
                None if builds.is_empty() => day_build.push(0),
                None => day_build.push(builds.len() - 1),
            }
        }
        if builds.is_empty() {
            return None;
        }
        Some(Self {
            builds,
            day_build,
            first_day,
            two_types,
            steps_per_day: spd,
            period,
            phase0,
            off,
            calendar,
            start_secs: input.start.timestamp(),
            step_secs: input.step_secs,
        })
    }

    /// Whether index `i` falls on the second day type.
    fn off_day(&self, i: usize) -> bool {
        if !self.two_types {
            return false;
        }
        if let Some(&off) = self.off.get(i) {
            return off;
        }
        let t = self.start_secs + i as i64 * self.step_secs;
        match &self.calendar {
            Some(cal) => !DateTime::from_timestamp(t, 0).is_some_and(|u| cal.is_business_day_at(u)),
            None => is_weekend(t.div_euclid(86_400)),
        }
    }

    /// The build in force for forecasts from origin `o`, the value of its table for index
    /// `t`, and its mean.
    fn lookup(&self, o: usize, t: usize) -> (f64, f64) {
        let d = self.day(o).saturating_sub(self.first_day);
        let b = &self.builds[self.day_build[d.min(self.day_build.len() - 1)]];
        let table = &b.tables[usize::from(self.off_day(t)).min(b.tables.len() - 1)];
        (table.values[(self.phase0 + t) % self.period], b.mean)
    }

    /// The index where the day after the day of index `o` starts.
    pub(super) fn next_day(&self, o: usize) -> usize {
        o + self.steps_per_day - (self.phase0 + o) % self.steps_per_day
    }

    /// The additive (or, with `relative`, the relative) profile of every index of
    /// `first..end`, as known from an origin on the same day (the first vector) and from an
    /// origin on the day before (the second): what the selection looks up for forecasts of
    /// less than a day ahead.
    pub(super) fn window(&self, first: usize, end: usize, relative: bool) -> [Vec<f64>; 2] {
        let value = |o: usize, t: usize| {
            if relative {
                self.relative(o, t)
            } else {
                self.additive(o, t)
            }
        };
        let mut same = Vec::with_capacity(end.saturating_sub(first));
        let mut before = Vec::with_capacity(end.saturating_sub(first));
        for t in first..end {
            same.push(value(t, t));
            // The last index of the day before `t`'s day (none before the first day).
            let day_start = ((self.phase0 + t) / self.steps_per_day * self.steps_per_day)
                .checked_sub(self.phase0);
            before.push(match day_start {
                Some(d) if d >= 1 => value(d - 1, t),
                _ => value(t, t),
            });
        }
        [same, before]
    }

    /// The additive profile (profile minus its mean) of index `t` as known at origin `o`
    /// (indices relative to the training data; `t` may be past its end).
    pub(super) fn additive(&self, o: usize, t: usize) -> f64 {
        let (v, mean) = self.lookup(o, t);
        v - mean
    }

    /// The relative profile (profile over its mean, floored at 0.05) of index `t` as known at
    /// origin `o`.
    pub(super) fn relative(&self, o: usize, t: usize) -> f64 {
        let (v, mean) = self.lookup(o, t);
        (v / mean).max(0.05)
    }
}

/// How the tables of a build are made.
struct Tables {
    phase0: usize,
    spd: usize,
    period: usize,
    two_types: bool,
    width: usize,
}

impl Tables {
    /// The tables of the values `y` (whose first index is `begin`): the smoothed median of
    /// each phase of the period, per day type; `None` without two days of each type or with a
    /// mean of 0.
    fn build(&self, y: &[f64], begin: usize, off: &[bool]) -> Option<Build> {
        let (spd, period) = (self.spd, self.period);
        if y.len() < 2 * spd {
            return None;
        }
        let types = if self.two_types { 2 } else { 1 };
        let cycles = y.len().div_ceil(period);
        // values[type][phase] = the samples of that phase on days of that type.
        let mut values: Vec<Vec<Vec<f64>>> = vec![vec![Vec::with_capacity(cycles); period]; types];
        let mut steps = vec![0usize; types];
        for (k, &v) in y.iter().enumerate() {
            let i = begin + k;
            let ty = usize::from(self.two_types && off.get(i).copied().unwrap_or(false));
            steps[ty] += 1;
            values[ty][(self.phase0 + i) % period].push(v);
        }
        if steps.iter().any(|&c| c < 2 * spd) {
            return None;
        }
        let smoothed: Vec<Vec<f64>> = values
            .iter_mut()
            .map(|t| median_smooth(t, self.width))
            .collect();
        // One mean for both tables, weighted by their share of the days, so that the level
        // difference between the day types stays in the profile.
        let total: usize = steps.iter().sum();
        let mean = smoothed
            .iter()
            .zip(&steps)
            .map(|(s, &c)| s.iter().sum::<f64>() / period as f64 * c as f64)
            .sum::<f64>()
            / total as f64;
        if mean <= 0.0 || !mean.is_finite() {
            return None;
        }
        Some(Build {
            tables: smoothed
                .into_iter()
                .map(|values| Table { values })
                .collect(),
            mean,
        })
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
    fn each_day_uses_the_profile_of_the_days_before_it() {
        // Hourly data: the daily shape rises 10 per hour for five days, then 20 per hour.
        let start = DateTime::from_timestamp(1_704_067_200, 0).unwrap();
        let y: Vec<f64> = (0..24 * 10)
            .map(|i| 100.0 + if i < 24 * 5 { 10.0 } else { 20.0 } * (i % 24) as f64)
            .collect();
        let input = FitInput {
            values: &y,
            start,
            step_secs: 3600,
            horizon: 1,
        };
        let rise = |p: &Profile, o: usize| p.additive(o, 22) - p.additive(o, 1);
        let rolling = Profile::daily(&y, &input, 24, 7, 0).unwrap();
        // From an origin on day 5, the five days before it: the old shape, whatever follows.
        assert!((rise(&rolling, 5 * 24 + 3) - 210.0).abs() < 1e-9);
        // From the end: four of the seven days have the new shape.
        assert!((rise(&rolling, 10 * 24) - 420.0).abs() < 1e-9);
        // The latest profile (built once from the last seven days) is the same everywhere.
        let latest = Profile::daily(&y, &input, 24, 7, usize::MAX).unwrap();
        assert!((rise(&latest, 5 * 24 + 3) - 420.0).abs() < 1e-9);
        // The window lookups agree with the direct ones.
        let [same, before] = rolling.window(4 * 24, 10 * 24, false);
        assert_eq!(same[24 + 5], rolling.additive(5 * 24 + 5, 5 * 24 + 5));
        assert_eq!(before[24 + 5], rolling.additive(5 * 24 - 1, 5 * 24 + 5));
        assert_eq!(rolling.next_day(5 * 24 + 3), 6 * 24);
        // The hourly profile: the time within the hour (here every hour is alike).
        let five: Vec<f64> = (0..288 * 3).map(|i| 10.0 + (i % 12) as f64).collect();
        let input = FitInput {
            values: &five,
            start,
            step_secs: 300,
            horizon: 1,
        };
        let hourly = Profile::hourly(&five, &input, 288, 7, 0).unwrap();
        assert_eq!(hourly.label(), "hourly");
        assert!((hourly.relative(700, 12 * 50 + 11) - 21.0 / 15.5).abs() < 1e-9);
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
        let p = Profile::by_day_type(&y, &input, 24, 14, DayTypes::Weekend, 0).unwrap();
        // From the end of the data: the fourteen days before it.
        // Mean = (10 * 100 + 4 * 40) / 14 ≈ 82.86.
        let end = 14 * 24;
        let mean = (10.0 * 100.0 + 4.0 * 40.0) / 14.0;
        assert!((p.additive(end, 0) - (100.0 - mean)).abs() < 1e-9);
        assert!((p.additive(end, 5 * 24 + 3) - (40.0 - mean)).abs() < 1e-9); // Saturday
        assert!((p.relative(end, 14 * 24) - 100.0 / mean).abs() < 1e-9); // the next Monday
        // Forecasts from an earlier origin use the profile of the days before its day: on the
        // second Friday, the first week (5 weekdays, 2 weekend days) and four weekdays.
        let mean = (9.0 * 100.0 + 2.0 * 40.0) / 11.0;
        assert!((p.additive(11 * 24 + 5, 0) - (100.0 - mean)).abs() < 1e-9);
        // Before the first weekend is over there is no two-type profile: the first one is
        // used.
        assert_eq!(p.additive(3, 0), p.additive(7 * 24, 0));
        let d = Profile::daily(&y, &input, 24, 7, 0).unwrap();
        assert_eq!(d.label(), "daily");
        // The median day of any week reads 100 at every hour: a flat profile.
        assert!(d.additive(9 * 24, 0).abs() < 1e-9);
        assert!((d.relative(9 * 24, 5) - 1.0).abs() < 1e-9);
        assert!(Profile::by_day_type(&y[..24 * 5], &input, 24, 14, DayTypes::Weekend, 0).is_none());
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
        let c = Profile::by_day_type(&y, &input, 24, 14, DayTypes::Calendar(&cal), 0).unwrap();
        assert_eq!(c.label(), "business-day");
        // Thursday is a business day, Friday is not (but still reads 100 in the data).
        assert!(c.additive(end, 3 * 24) > c.additive(end, 4 * 24));
    }
}
