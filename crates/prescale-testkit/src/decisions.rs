//! Measures of a run of scaling decisions against the demand, shared by the trace-replay tests
//! of the server runtime and of `prescale serve` end to end.

use chrono::{DateTime, Utc};

/// One decision: its time, the replicas decided, the replicas the demand needed then.
pub type DecisionRow = (DateTime<Utc>, u32, u32);

/// For each replica level the demand climbs to: how many minutes before the demand needed it
/// the decisions first reached it (negative: late).
#[must_use]
pub fn leads(rows: &[DecisionRow]) -> Vec<(u32, i64)> {
    let Some(first_row) = rows.first() else {
        return Vec::new();
    };
    let first = |f: &dyn Fn(&DecisionRow) -> bool| rows.iter().find(|r| f(r)).map(|r| r.0);
    let low = first_row.1.max(first_row.2);
    let high = rows.iter().map(|r| r.2).max().unwrap_or(0);
    (low + 1..=high)
        .filter_map(|n| {
            let need = first(&|r| r.2 >= n)?;
            let decided = first(&|r| r.1 >= n)?;
            Some((n, (need - decided).num_minutes()))
        })
        .collect()
}

/// How decisions came down over a declining load: means over the first 2/7 of the run (busy)
/// and its last 1/7 (after the decline).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Release {
    /// Mean replicas decided while busy.
    pub busy: f64,
    /// Mean replicas decided at the end.
    pub late: f64,
    /// Mean replicas the demand needed at the end.
    pub need: f64,
    /// Decisions at the end below what the demand needed.
    pub short: usize,
    /// Decisions at the end.
    pub tail: usize,
}

impl Release {
    /// Panics unless the decisions came down with the demand: the end's mean at most 80% of
    /// the busy mean, at most twice what the demand needed, and at most a tenth of the end's
    /// decisions short of the need.
    pub fn assert_released(&self) {
        let Self {
            busy,
            late,
            need,
            short,
            tail,
        } = *self;
        assert!(late <= 0.8 * busy, "decisions {busy:.1} then {late:.1}");
        assert!(
            late <= 2.0 * need,
            "decisions {late:.1} for a need of {need:.1}"
        );
        assert!(short * 10 <= tail, "{short} of {tail} decisions short");
    }
}

/// The [`Release`] of `rows`.
#[must_use]
pub fn release(rows: &[DecisionRow]) -> Release {
    let mean = |rows: &[DecisionRow], f: fn(&DecisionRow) -> u32| {
        rows.iter().map(|r| f64::from(f(r))).sum::<f64>() / rows.len().max(1) as f64
    };
    let head = &rows[..rows.len() * 2 / 7];
    let tail = &rows[rows.len() * 6 / 7..];
    Release {
        busy: mean(head, |r| r.1),
        late: mean(tail, |r| r.1),
        need: mean(tail, |r| r.2),
        short: tail.iter().filter(|r| r.1 < r.2).count(),
        tail: tail.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "decisions 10.0 then 9.0")]
    fn a_release_that_stays_busy_fails() {
        Release {
            busy: 10.0,
            late: 9.0,
            need: 9.0,
            short: 0,
            tail: 10,
        }
        .assert_released();
    }

    #[test]
    fn a_release_in_step_with_the_need_passes() {
        Release {
            busy: 10.0,
            late: 5.0,
            need: 4.0,
            short: 1,
            tail: 10,
        }
        .assert_released();
    }

    fn rows(pairs: &[(u32, u32)]) -> Vec<DecisionRow> {
        let t0 = DateTime::from_timestamp(0, 0).unwrap();
        pairs
            .iter()
            .enumerate()
            .map(|(i, &(d, n))| (t0 + chrono::Duration::minutes(i as i64), d, n))
            .collect()
    }

    #[test]
    fn leads_count_minutes_ahead_and_late() {
        // Level 2 decided at minute 1, needed at 3 (2 ahead); level 3 decided at 4, needed at
        // 3 (1 late).
        let r = rows(&[(1, 1), (2, 1), (2, 1), (2, 3), (3, 3)]);
        assert_eq!(leads(&r), vec![(2, 2), (3, -1)]);
        assert!(leads(&[]).is_empty());
    }

    #[test]
    fn release_compares_the_busy_start_with_the_end() {
        let r = rows(&[(8, 8), (8, 8), (6, 5), (5, 4), (4, 3), (3, 2), (2, 3)]);
        let rel = release(&r);
        assert_eq!((rel.busy, rel.late, rel.need), (8.0, 2.0, 3.0));
        assert_eq!((rel.short, rel.tail), (1, 1));
    }
}
