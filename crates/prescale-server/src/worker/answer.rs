//! How a decision becomes KEDA's answer: the idle start, shadow mode's reactive values, and
//! the proactive events counted in the metrics.

use chrono::{DateTime, Duration, Utc};
use prescale_policy::{Decision, Reason};

use super::{STEP_SECS, Worker};

impl Worker {
    /// When demand became zero, for zero live demand at `at` seen for the first time: the
    /// step after the history's last non-zero value (or `at` when the history ends in demand),
    /// so that every replica, whenever it started, counts the idle time from the same data.
    pub(super) fn zero_run_start(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let values = self.history.values();
        let (Some(start), Some(end)) = (self.history.start(), self.history.end()) else {
            return at;
        };
        match values.iter().rposition(|v| *v > 0.0) {
            None => start.min(at),
            Some(i) if i + 1 == values.len() => at.min(end),
            Some(i) => (start + Duration::seconds(STEP_SECS * (i as i64 + 1))).min(at),
        }
    }

    /// What KEDA is told: the decision, or in shadow mode what reactive scaling would do
    /// (`ceil(live / threshold)` within the bounds; held when live data is missing).
    pub(super) fn reported(&self, d: &Decision, live: Option<(f64, DateTime<Utc>)>) -> (u32, bool) {
        if !self.shadow {
            return (d.desired_replicas, d.active);
        }
        let s = self.settings();
        match live {
            Some((v, _)) => {
                let need = (v / s.threshold)
                    .ceil()
                    .clamp(0.0, f64::from(s.max_replicas)) as u32;
                let may_sleep = s.scale_to_zero && s.min_replicas == 0;
                if need == 0 && may_sleep {
                    (0, false)
                } else {
                    (need.max(s.min_replicas).max(1), true)
                }
            }
            None => {
                let held = self.last.as_ref().map_or(1, |l| l.reported.max(1));
                (held, true)
            }
        }
    }

    pub(super) fn count_events(&self, d: &Decision) {
        let prev = self.last.as_ref().map(|l| l.desired);
        let Some(prev) = prev else { return };
        let m = self.shared.telemetry.service(&self.reg.key);
        let now = d.desired_replicas;
        if d.reason == Reason::Wakeup && prev == 0 && now > 0 {
            m.proactive("wake_up");
        } else if prev > 0 && now == 0 {
            m.proactive("scale_to_zero");
        } else if d.reason == Reason::Predictive && now > prev {
            m.proactive("prewarm");
        } else if now < prev && now > 0 && matches!(d.reason, Reason::Predictive | Reason::Floor) {
            m.proactive("scale_down");
        }
    }
}
