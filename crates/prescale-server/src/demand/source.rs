//! Where demand comes from: a [`DemandSource`] evaluates a ScaledObject's query, instantly (the
//! live value) or over a range (history), and a [`SourceFactory`] gives the source of a
//! `serverAddress`.
//!
//! Production uses Prometheus (see [`crate::demand::prometheus`]); tests and benchmarks use
//! [`MemorySource`] (and [`Metered`] to count history reads). [`Bounded`] caps the history
//! reads at once; [`Scaled`] runs a source on scaled time (see [`TimeBase`]).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::timebase::TimeBase;

/// A boxed future, for dyn-compatible async traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A failed read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    /// Typed kind, the `kind` label of `prescale_collector_errors_total` (`connect`,
    /// `timeout`, `http_status`, `query_error`, `bad_response`, `many_series`, ...).
    pub kind: String,
    /// What happened, naming the place.
    pub message: String,
}

impl SourceError {
    /// An error of `kind`.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
        }
    }
}

/// One timestamped value.
pub use prescale_control::Point;

/// Evaluates demand queries.
pub trait DemandSource: Send + Sync {
    /// The value of `query` at `at`; `None` when the query has no result (no series).
    /// A query with more than one series is an error (aggregate it, e.g. with `sum`).
    fn instant<'a>(
        &'a self,
        query: &'a str,
        at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Option<f64>, SourceError>>;

    /// The values of `query` at `start, start + step, ..., end`, oldest first; steps without a
    /// value are left out (an empty result is an empty vector).
    fn range<'a>(
        &'a self,
        query: &'a str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> BoxFuture<'a, Result<Vec<Point>, SourceError>>;
}

/// Gives the source of a `serverAddress`.
pub trait SourceFactory: Send + Sync {
    /// The source for `server_address` (built once and reused by the caller).
    fn source(&self, server_address: &str) -> Result<Arc<dyn DemandSource>, SourceError>;
}

/// A source in memory: one minute series per query, plus injected failures. For tests and
/// benchmarks.
#[derive(Debug, Default)]
pub struct MemorySource {
    inner: Mutex<MemoryInner>,
}

/// A stored series: start, step seconds, values.
type Stored = (DateTime<Utc>, i64, Arc<Vec<f64>>);

#[derive(Debug, Default)]
struct MemoryInner {
    /// Query → (start, step seconds, values).
    series: HashMap<String, Stored>,
    failing: Option<SourceError>,
    failing_ranges: Option<SourceError>,
    instant_calls: u64,
    range_calls: u64,
}

impl MemorySource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `values` for `query`: value `i` at `start + i × step_secs` and at any time in
    /// that step.
    pub fn set(&self, query: &str, start: DateTime<Utc>, step_secs: i64, values: Vec<f64>) {
        self.lock()
            .series
            .insert(query.to_string(), (start, step_secs, Arc::new(values)));
    }

    /// Serves shared `values` for `query` (many queries may share one series).
    pub fn set_shared(
        &self,
        query: &str,
        start: DateTime<Utc>,
        step_secs: i64,
        values: Arc<Vec<f64>>,
    ) {
        self.lock()
            .series
            .insert(query.to_string(), (start, step_secs, values));
    }

    /// Makes every read fail with `error` (`None`: work again).
    pub fn fail(&self, error: Option<SourceError>) {
        self.lock().failing = error;
    }

    /// Makes range reads (history) fail with `error`, instant reads still work (`None`: work
    /// again).
    pub fn fail_ranges(&self, error: Option<SourceError>) {
        self.lock().failing_ranges = error;
    }

    /// Calls so far: (instant, range).
    pub fn calls(&self) -> (u64, u64) {
        let g = self.lock();
        (g.instant_calls, g.range_calls)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lookup(&self, query: &str, instant: bool) -> Result<Option<Stored>, SourceError> {
        let mut g = self.lock();
        if instant {
            g.instant_calls += 1;
        } else {
            g.range_calls += 1;
        }
        if let Some(e) = g
            .failing
            .as_ref()
            .or(g.failing_ranges.as_ref().filter(|_| !instant))
        {
            return Err(e.clone());
        }
        Ok(g.series.get(query).cloned())
    }
}

impl DemandSource for MemorySource {
    fn instant<'a>(
        &'a self,
        query: &'a str,
        at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Option<f64>, SourceError>> {
        let r = self.lookup(query, true).map(|found| {
            let (start, step, values) = found?;
            let i = (at - start).num_seconds().div_euclid(step);
            usize::try_from(i).ok().and_then(|i| values.get(i).copied())
        });
        Box::pin(async move { r })
    }

    fn range<'a>(
        &'a self,
        query: &'a str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> BoxFuture<'a, Result<Vec<Point>, SourceError>> {
        let r = self.lookup(query, false).map(|found| {
            let Some((s0, step0, values)) = found else {
                return Vec::new();
            };
            let step = (step.as_secs() as i64).max(1);
            let mut out = Vec::new();
            let mut t = start;
            while t <= end {
                let i = (t - s0).num_seconds().div_euclid(step0);
                if let Ok(i) = usize::try_from(i)
                    && let Some(v) = values.get(i)
                {
                    out.push((t, *v));
                }
                t += chrono::Duration::seconds(step);
            }
            out
        });
        Box::pin(async move { r })
    }
}

/// Every `serverAddress` gets the same source.
#[derive(Clone)]
pub struct SameSource(pub Arc<dyn DemandSource>);

impl std::fmt::Debug for SameSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SameSource")
    }
}

impl SourceFactory for SameSource {
    fn source(&self, _: &str) -> Result<Arc<dyn DemandSource>, SourceError> {
        Ok(self.0.clone())
    }
}

/// A source whose history reads (range queries) run at most `limit` at a time; live reads
/// are not held back.
pub struct Bounded {
    inner: Arc<dyn DemandSource>,
    reads: Arc<tokio::sync::Semaphore>,
}

impl Bounded {
    /// `inner`, at most `limit` (at least one) range queries at a time.
    pub fn new(inner: Arc<dyn DemandSource>, limit: usize) -> Self {
        Self {
            inner,
            reads: Arc::new(tokio::sync::Semaphore::new(limit.max(1))),
        }
    }
}

impl DemandSource for Bounded {
    fn instant<'a>(
        &'a self,
        query: &'a str,
        at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Option<f64>, SourceError>> {
        self.inner.instant(query, at)
    }

    fn range<'a>(
        &'a self,
        query: &'a str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> BoxFuture<'a, Result<Vec<Point>, SourceError>> {
        Box::pin(async move {
            let _permit = self
                .reads
                .acquire()
                .await
                .map_err(|e| SourceError::new("closed", e.to_string()))?;
            self.inner.range(query, start, end, step).await
        })
    }
}

/// A source that counts its history reads (range queries): how many, and the most at once,
/// each answered after a delay (a Prometheus' latency). Tests and benchmarks put it beneath
/// [`Bounded`] to check the bound from the source's side; live reads pass through uncounted.
pub struct Metered {
    inner: Arc<dyn DemandSource>,
    delay: Duration,
    reads: AtomicUsize,
    in_flight: Arc<AtomicUsize>,
    most: AtomicUsize,
}

impl Metered {
    /// `inner`, each history read answered `delay` late.
    pub fn new(inner: Arc<dyn DemandSource>, delay: Duration) -> Self {
        Self {
            inner,
            delay,
            reads: AtomicUsize::new(0),
            in_flight: Arc::new(AtomicUsize::new(0)),
            most: AtomicUsize::new(0),
        }
    }

    /// History reads started so far.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    /// The most history reads in progress at once so far.
    pub fn most_at_once(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

/// One read in progress (until dropped, also when the read is abandoned).
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl DemandSource for Metered {
    fn instant<'a>(
        &'a self,
        query: &'a str,
        at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Option<f64>, SourceError>> {
        self.inner.instant(query, at)
    }

    fn range<'a>(
        &'a self,
        query: &'a str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> BoxFuture<'a, Result<Vec<Point>, SourceError>> {
        Box::pin(async move {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            let _reading = InFlight(self.in_flight.clone());
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            self.inner.range(query, start, end, step).await
        })
    }
}

/// A source read on scaled time: server (logical) times are turned into the source's real
/// times and back, and steps are divided by the speed-up.
pub struct Scaled {
    inner: Arc<dyn DemandSource>,
    time: TimeBase,
}

impl Scaled {
    /// `inner` read through `time`.
    pub fn new(inner: Arc<dyn DemandSource>, time: TimeBase) -> Self {
        Self { inner, time }
    }
}

impl DemandSource for Scaled {
    fn instant<'a>(
        &'a self,
        query: &'a str,
        at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Option<f64>, SourceError>> {
        self.inner.instant(query, self.time.to_real(at))
    }

    fn range<'a>(
        &'a self,
        query: &'a str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> BoxFuture<'a, Result<Vec<Point>, SourceError>> {
        Box::pin(async move {
            let real_step = self.time.real_duration(step);
            let real_start = self.time.to_real(start);
            let points = self
                .inner
                .range(query, real_start, self.time.to_real(end), real_step)
                .await?;
            let step_ms = real_step.as_millis().max(1) as i64;
            let step_logical =
                chrono::Duration::from_std(step).unwrap_or(chrono::Duration::seconds(60));
            Ok(points
                .into_iter()
                .map(|(t, v)| {
                    let k = ((t - real_start).num_milliseconds() as f64 / step_ms as f64).round()
                        as i32;
                    (start + step_logical * k, v)
                })
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_source_serves_ranges_and_instants() {
        let t0 = DateTime::from_timestamp(600, 0).unwrap();
        let s = MemorySource::new();
        s.set("q", t0, 60, vec![1.0, 2.0, 3.0]);
        let r = s
            .range(
                "q",
                t0,
                t0 + chrono::Duration::minutes(5),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        assert_eq!(
            r.iter().map(|p| p.1).collect::<Vec<_>>(),
            vec![1.0, 2.0, 3.0]
        );
        assert_eq!(
            s.instant("q", t0 + chrono::Duration::seconds(90))
                .await
                .unwrap(),
            Some(2.0)
        );
        assert_eq!(s.instant("other", t0).await.unwrap(), None);
        s.fail(Some(SourceError::new("connect", "refused")));
        assert!(s.instant("q", t0).await.is_err());
        assert_eq!(s.calls(), (3, 1));
    }

    #[tokio::test]
    async fn scaled_source_maps_logical_minutes_to_real_seconds() {
        let origin = DateTime::from_timestamp(999_960, 0).unwrap();
        let inner = Arc::new(MemorySource::new());
        // Real data: one value per real second before the origin.
        inner.set(
            "q",
            origin - chrono::Duration::seconds(10),
            1,
            (0..20).map(f64::from).collect(),
        );
        let time = TimeBase::scaled(origin, 60.0);
        let s = Scaled::new(inner, time);
        // Logical minutes -5..-1 before the origin are real seconds -5..-1.
        let r = s
            .range(
                "q",
                origin - chrono::Duration::minutes(5),
                origin - chrono::Duration::minutes(1),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        assert_eq!(r.len(), 5);
        assert_eq!(r[0], (origin - chrono::Duration::minutes(5), 5.0));
        assert_eq!(r[4], (origin - chrono::Duration::minutes(1), 9.0));
        let v = s
            .instant("q", origin - chrono::Duration::minutes(2))
            .await
            .unwrap();
        assert_eq!(v, Some(8.0));
    }
}
