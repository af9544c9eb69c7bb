//! `static_peak`: enough replicas for the trace's peak demand, always on.
//!
//! This is how teams avoid missing the SLA without autoscaling: provision for the peak and pay
//! for idle GPUs the rest of the time. It knows the whole trace's peak (that is its
//! definition), so it never underprovisions except during the very first cold start.

use prescale_core::Series;

use crate::autoscaler::{Autoscaler, Observation};

/// The static peak policy.
#[derive(Debug, Clone, Copy)]
pub struct StaticPeak {
    replicas: u32,
}

impl StaticPeak {
    /// Replicas for the peak rate of `series` at `capacity_per_min` per replica (at least 1).
    pub fn for_series(series: &Series, capacity_per_min: f64) -> Self {
        let step = series.step_secs() as f64;
        let peak = series
            .values()
            .iter()
            .fold(0.0f64, |m, v| m.max(v * 60.0 / step));
        Self {
            replicas: ((peak / capacity_per_min).ceil() as u32).max(1),
        }
    }

    /// The replica count it holds.
    pub fn replicas(&self) -> u32 {
        self.replicas
    }
}

impl Autoscaler for StaticPeak {
    fn name(&self) -> &'static str {
        "static_peak"
    }

    fn desired(&mut self, _: &Observation<'_>) -> u32 {
        self.replicas
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use prescale_core::ValueKind;

    #[test]
    fn provisions_for_the_peak() {
        // Peak 300 per 5 minutes = 60/min; 25/min per replica → 3.
        let s = Series::new(
            DateTime::from_timestamp(0, 0).unwrap(),
            300,
            vec![10.0, 300.0, 50.0],
            ValueKind::Count,
        )
        .unwrap();
        assert_eq!(StaticPeak::for_series(&s, 25.0).replicas(), 3);
    }
}
