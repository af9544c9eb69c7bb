//! How a decision becomes KEDA's answer: the idle start, shadow mode's reactive values, and
//! the proactive events counted in the metrics.

use chrono::{DateTime, Utc};
use prescale_policy::{Decision, Reason};

use super::Worker;

impl Worker {
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
