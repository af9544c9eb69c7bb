//! The virtual cluster: pods that take a cold start to become ready, optional spot
//! preemptions, and billing.

use rand::{Rng, SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, LogNormal};
use serde::Serialize;

/// How long a new pod takes to become ready.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum ColdStart {
    /// Always this many seconds.
    Fixed(f64),
    /// Log-normal with this median and 95th percentile (seconds), e.g. GPU pods with a P50 of
    /// 5 minutes and a P95 of 8.
    LogNormal {
        /// Median seconds.
        p50: f64,
        /// 95th percentile seconds.
        p95: f64,
    },
}

impl ColdStart {
    /// The median.
    pub fn p50(&self) -> f64 {
        match *self {
            ColdStart::Fixed(s) => s,
            ColdStart::LogNormal { p50, .. } => p50,
        }
    }

    /// The 95th percentile (the lead time a predictive policy should plan with).
    pub fn p95(&self) -> f64 {
        match *self {
            ColdStart::Fixed(s) => s,
            ColdStart::LogNormal { p95, .. } => p95,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Pod {
    /// Seconds since the start at which the pod is ready.
    ready_at: f64,
}

/// The pods of one simulated deployment.
#[derive(Debug)]
pub(crate) struct Cluster {
    pods: Vec<Pod>,
    cold_start: ColdStart,
    lognormal: Option<LogNormal<f64>>,
    preemptions_per_hour: f64,
    rng: StdRng,
    pub(crate) cold_starts: u64,
    pub(crate) preemptions: u64,
}

impl Cluster {
    pub(crate) fn new(cold_start: ColdStart, preemptions_per_hour: f64, seed: u64) -> Self {
        let lognormal = match cold_start {
            ColdStart::LogNormal { p50, p95 } if p50 > 0.0 && p95 >= p50 => {
                // P95 = P50 * exp(1.645 sigma).
                let sigma = (p95 / p50).ln() / 1.644_853_6;
                LogNormal::new(p50.ln(), sigma.max(1e-9)).ok()
            }
            _ => None,
        };
        Self {
            pods: Vec::new(),
            cold_start,
            lognormal,
            preemptions_per_hour,
            rng: StdRng::seed_from_u64(seed),
            cold_starts: 0,
            preemptions: 0,
        }
    }

    fn sample_cold_start(&mut self) -> f64 {
        match (&self.lognormal, self.cold_start) {
            (Some(d), _) => d.sample(&mut self.rng),
            (None, c) => c.p50(),
        }
    }

    /// Pods requested (ready or starting).
    pub(crate) fn total(&self) -> u32 {
        self.pods.len() as u32
    }

    /// Pods ready at `now`.
    pub(crate) fn ready(&self, now: f64) -> u32 {
        self.pods.iter().filter(|p| p.ready_at <= now).count() as u32
    }

    /// Scales to `desired` pods at `now`: new pods start their cold start; removals take
    /// starting pods first (the newest), then ready ones.
    pub(crate) fn scale_to(&mut self, now: f64, desired: u32) {
        let total = self.total();
        if desired > total {
            for _ in total..desired {
                let ready_at = now + self.sample_cold_start();
                self.pods.push(Pod { ready_at });
                self.cold_starts += 1;
            }
        } else if desired < total {
            // Sort so that the pods that would be ready last come last, then drop from the end.
            self.pods.sort_by(|a, b| a.ready_at.total_cmp(&b.ready_at));
            self.pods.truncate(desired as usize);
        }
    }

    /// Spot preemptions during a tick of `len` seconds: each ready pod is lost with probability
    /// `rate * len / 3600`; the autoscaler sees fewer pods and starts replacements.
    pub(crate) fn preempt(&mut self, now: f64, len: f64) {
        if self.preemptions_per_hour <= 0.0 {
            return;
        }
        let p = (self.preemptions_per_hour * len / 3600.0).min(1.0);
        let before = self.pods.len();
        let rng = &mut self.rng;
        self.pods
            .retain(|pod| pod.ready_at > now || rng.random::<f64>() >= p);
        self.preemptions += (before - self.pods.len()) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_become_ready_after_the_cold_start() {
        let mut c = Cluster::new(ColdStart::Fixed(180.0), 0.0, 1);
        c.scale_to(0.0, 3);
        assert_eq!((c.total(), c.ready(179.0), c.ready(180.0)), (3, 0, 3));
        c.scale_to(200.0, 5);
        // Scaling down drops the two starting pods first.
        c.scale_to(210.0, 3);
        assert_eq!((c.total(), c.ready(210.0)), (3, 3));
        assert_eq!(c.cold_starts, 5);
    }

    #[test]
    fn lognormal_cold_starts_have_the_asked_median() {
        let mut c = Cluster::new(
            ColdStart::LogNormal {
                p50: 300.0,
                p95: 480.0,
            },
            0.0,
            7,
        );
        let mut v: Vec<f64> = (0..2001).map(|_| c.sample_cold_start()).collect();
        v.sort_by(f64::total_cmp);
        assert!((v[1000] - 300.0).abs() < 15.0, "{}", v[1000]);
        assert!((v[1900] - 480.0).abs() < 40.0, "{}", v[1900]);
    }

    #[test]
    fn spot_pods_get_preempted() {
        let mut c = Cluster::new(ColdStart::Fixed(0.0), 3600.0, 3);
        c.scale_to(0.0, 10);
        c.preempt(1.0, 1.0); // p = 1: every ready pod is lost
        assert_eq!((c.total(), c.preemptions), (0, 10));
    }
}
