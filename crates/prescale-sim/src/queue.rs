//! A FIFO fluid queue with a queueing-delay measurement.
//!
//! A tick's demand arrives evenly over the tick and is served first in, first out at the ready
//! capacity `μ` (units per second):
//!
//! - with no backlog and at least as much capacity as arrivals in the tick, nothing waits
//!   (delay 0), as in a fluid queue below saturation;
//! - otherwise the tick is cut into one-second slots; each slot's arrivals form a cohort that
//!   arrives at the middle of its slot, and a cohort portion served at offset `s` units into a
//!   slot completes at `slot_start + s / μ`. Its queueing delay is the completion time minus
//!   the arrival time, floored at 0: the time to drain the work ahead of it, or, with no ready
//!   pod, the time until capacity appears.
//!
//! Service time itself is not modelled: the SLA is judged on the queueing delay. Delays are
//! resolved to about a second; work that waits less than that only when the queue is saturated.

use std::collections::VecDeque;

/// The queue and the delays of everything it has served.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    cohorts: VecDeque<(f64, f64)>,
    backlog: f64,
    /// (delay in seconds, units, arrival in seconds) of every served portion.
    served: Vec<(f64, f64, f64)>,
}

impl Queue {
    /// Units waiting.
    pub(crate) fn backlog(&self) -> f64 {
        self.backlog
    }

    /// Adds `amount` units arriving at `at` (seconds since the start).
    fn arrive(&mut self, at: f64, amount: f64) {
        if amount > 0.0 {
            self.cohorts.push_back((at, amount));
            self.backlog += amount;
        }
    }

    /// One tick `[start, start + len)`: `amount` units arrive evenly and the queue is served at
    /// `rate` units per second.
    pub(crate) fn tick(&mut self, start: f64, len: f64, amount: f64, rate: f64) {
        if self.backlog <= 0.0 && rate * len >= amount {
            if amount > 0.0 {
                self.served.push((0.0, amount, start));
            }
            return;
        }
        let slots = len.ceil().max(1.0) as usize;
        let dt = len / slots as f64;
        for i in 0..slots {
            let t = start + i as f64 * dt;
            self.arrive(t + dt / 2.0, amount / slots as f64);
            self.serve(t, dt, rate);
        }
    }

    /// Serves for `[start, start + len)` at `rate` units per second.
    fn serve(&mut self, start: f64, len: f64, rate: f64) {
        if rate <= 0.0 {
            return;
        }
        let mut budget = rate * len;
        let mut used = 0.0;
        while budget > 1e-12 {
            let Some(front) = self.cohorts.front_mut() else {
                break;
            };
            let take = front.1.min(budget);
            used += take;
            let done_at = start + used / rate;
            self.served
                .push(((done_at - front.0).max(0.0), take, front.0));
            front.1 -= take;
            budget -= take;
            self.backlog -= take;
            if front.1 <= 1e-12 {
                self.cohorts.pop_front();
            }
        }
        if self.cohorts.is_empty() {
            self.backlog = 0.0;
        }
    }

    /// Share of all demand (served, plus what is still waiting, counted as late) whose delay is
    /// at most `sla` seconds, and the demand-weighted 95th percentile delay in seconds (waiting
    /// work counts with the delay it has so far at `now`).
    #[cfg(test)]
    pub(crate) fn finish(self, now: f64, sla: f64) -> (f64, f64) {
        let (sla, p95, _) = self.finish_by(now, sla, f64::INFINITY);
        (sla, p95)
    }

    /// Like [`Queue::finish`], with the demand and the demand within the SLA of every
    /// `bucket` seconds by arrival time (`(within, total)`, from the start).
    pub(crate) fn finish_by(
        mut self,
        now: f64,
        sla: f64,
        bucket: f64,
    ) -> (f64, f64, Vec<(f64, f64)>) {
        for (at, amount) in self.cohorts.drain(..) {
            self.served.push(((now - at).max(sla + 1e-9), amount, at));
        }
        let mut buckets: Vec<(f64, f64)> = Vec::new();
        if bucket.is_finite() && bucket > 0.0 {
            for &(d, w, at) in &self.served {
                let i = (at.max(0.0) / bucket) as usize;
                if buckets.len() <= i {
                    buckets.resize(i + 1, (0.0, 0.0));
                }
                buckets[i].1 += w;
                if d <= sla {
                    buckets[i].0 += w;
                }
            }
        }
        let total: f64 = self.served.iter().map(|s| s.1).sum();
        if total <= 0.0 {
            return (1.0, 0.0, buckets);
        }
        let within: f64 = self.served.iter().filter(|s| s.0 <= sla).map(|s| s.1).sum();
        self.served.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut acc = 0.0;
        let mut p95 = 0.0;
        for &(d, w, _) in &self.served {
            acc += w;
            p95 = d;
            if acc >= 0.95 * total {
                break;
            }
        }
        (within / total, p95, buckets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enough_capacity_means_no_delay() {
        let mut q = Queue::default();
        q.tick(0.0, 15.0, 10.0, 1.0);
        assert_eq!(q.backlog(), 0.0);
        let (sla, p95) = q.finish(15.0, 0.5);
        assert_eq!((sla, p95), (1.0, 0.0));
    }

    #[test]
    fn a_backlog_drains_in_order_with_growing_delay() {
        let mut q = Queue::default();
        // 30 units arrive over 15 s while nothing is ready; a pod serving 1 unit/s appears at
        // t = 15 and nothing more arrives.
        q.tick(0.0, 15.0, 30.0, 0.0);
        assert_eq!(q.backlog(), 30.0);
        q.tick(15.0, 15.0, 0.0, 1.0);
        assert!((q.backlog() - 15.0).abs() < 1e-9);
        q.tick(30.0, 15.0, 0.0, 1.0);
        assert!(q.backlog().abs() < 1e-9);
        let (sla, p95) = q.finish(45.0, 0.5);
        assert_eq!(sla, 0.0);
        // The last units arrive at 14.5 s and complete at 45 s.
        assert!((p95 - 30.0).abs() < 1.0, "{p95}");
    }

    #[test]
    fn saturation_builds_a_queue() {
        // Arrivals at 2 units/s, capacity 1 unit/s, for 60 s: the queue grows to 60.
        let mut q = Queue::default();
        for k in 0..4 {
            q.tick(k as f64 * 15.0, 15.0, 30.0, 1.0);
        }
        assert!((q.backlog() - 60.0).abs() < 1e-6);
    }

    #[test]
    fn unserved_work_counts_as_late() {
        let mut q = Queue::default();
        q.arrive(0.0, 5.0);
        let (sla, _) = q.finish(100.0, 0.5);
        assert_eq!(sla, 0.0);
    }
}
