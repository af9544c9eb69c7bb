//! KEDA's `externalscaler.ExternalScaler` service.
//!
//! Every call registers the ScaledObject it names on first sight (or when its metadata
//! changed) and answers from the latest decision of its background worker: nothing is
//! collected or forecast on the request path.
//!
//! - `GetMetricSpec` / `StreamMetricSpec`: one spec, `metricName` (default `prescale`) with
//!   target `threshold` (`targetSizeFloat` at milli precision, `targetSize` rounded).
//! - `GetMetrics`: one value, `replicas × target`, so that the HPA's `AverageValue` maths
//!   (`ceil(value / target)`) gives the decided replicas. Target and value are sent as floats
//!   that KEDA ≤ 2.19 (truncating to milli) and ≥ 2.20 (rounding) read alike
//!   ([`prescale_policy::quantity`]).
//! - One prescale trigger per ScaledObject: a second one's calls are `INVALID_ARGUMENT`
//!   ([`crate::registry`]); KEDA's `ScaledObjectRef` carries no trigger index.
//! - `IsActive` / `StreamIsActive`: the decision's activity; the stream sends the current
//!   state when it opens and then every change, and ends when the client goes or the server
//!   stops (KEDA reconnects and gets the current state again).
//! - Before a ScaledObject's first decision the unary calls wait up to
//!   [`ScalerService::first_answer_wait`], then answer `UNAVAILABLE`: KEDA and the HPA then
//!   keep the current replicas. Bad metadata is `INVALID_ARGUMENT` naming the key.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::api::telemetry::Telemetry;
use crate::keda::proto::external_scaler_server::ExternalScaler;
use crate::keda::proto::{
    GetMetricSpecResponse, GetMetricsRequest, GetMetricsResponse, IsActiveResponse, MetricSpec,
    MetricValue, ScaledObjectRef,
};
use crate::registry::{Answer, MetricTarget, RegisterError, Registry, Slot};

/// A server-streaming response.
type Stream<T> = Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

/// The gRPC service.
#[derive(Debug, Clone)]
pub struct ScalerService {
    registry: Arc<Registry>,
    telemetry: Arc<Telemetry>,
    shutdown: watch::Receiver<bool>,
    /// How long a unary call waits for a new ScaledObject's first decision.
    pub first_answer_wait: Duration,
    /// The longest a worker may go without publishing (real time): an older answer is
    /// `UNAVAILABLE` (a wedged worker), so that KEDA's fallback takes over. `None`: any age.
    pub max_answer_age: Option<Duration>,
}

impl ScalerService {
    /// A service over `registry`; streams end when `shutdown` turns true.
    pub fn new(
        registry: Arc<Registry>,
        telemetry: Arc<Telemetry>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            registry,
            telemetry,
            shutdown,
            first_answer_wait: Duration::from_secs(3),
            max_answer_age: None,
        }
    }

    /// The answer, unless its worker has not published for longer than `max_answer_age`.
    fn fresh(&self, slot: &Slot, a: Answer) -> Result<Answer, Status> {
        let (Some(max), Some(age)) = (self.max_answer_age, slot.since_published()) else {
            return Ok(a);
        };
        if age <= max {
            return Ok(a);
        }
        self.telemetry.stale_answer();
        Err(Status::unavailable(format!(
            "{}: no decision for {:.1} s (more than {:.1} s): its worker is behind or stopped",
            slot.key,
            age.as_secs_f64(),
            max.as_secs_f64()
        )))
    }

    fn slot(&self, r: &ScaledObjectRef) -> Result<Arc<Slot>, Status> {
        let (slot, _) = self
            .registry
            .resolve(&r.namespace, &r.name, &r.scaler_metadata)
            .map_err(|e| match e {
                RegisterError::Metadata(_)
                | RegisterError::MissingName(_)
                | RegisterError::BadName { .. }
                | RegisterError::SecondTrigger { .. } => Status::invalid_argument(e.to_string()),
                RegisterError::TooMany(_) => Status::resource_exhausted(e.to_string()),
            })?;
        self.telemetry.set_scaled_objects(self.registry.len());
        Ok(slot)
    }

    /// The latest answer, waiting for the first one.
    async fn answer(&self, slot: &Slot) -> Result<Answer, Status> {
        if let Some(a) = slot.answer() {
            return self.fresh(slot, a);
        }
        let mut rx = slot.answers();
        let first =
            tokio::time::timeout(self.first_answer_wait, rx.wait_for(Option::is_some)).await;
        match first {
            Ok(Ok(a)) => (*a).ok_or_else(|| Status::internal("answer vanished")),
            _ => {
                let status = slot.registration().status();
                Err(Status::unavailable(format!(
                    "{}: no decision yet ({})",
                    slot.key,
                    status.safety.unwrap_or_else(|| "starting".into())
                )))
            }
        }
    }

    fn timed<T>(
        &self,
        method: &'static str,
        started: Instant,
        r: Result<T, Status>,
    ) -> Result<T, Status> {
        let code = r.as_ref().map_or_else(Status::code, |_| tonic::Code::Ok);
        self.telemetry
            .grpc_call(method, code, started.elapsed().as_secs_f64());
        if let Err(e) = &r {
            tracing::debug!(method, code = ?e.code(), message = e.message(), "gRPC call failed.");
        }
        r
    }
}

fn spec_response(t: &MetricTarget) -> GetMetricSpecResponse {
    GetMetricSpecResponse {
        metric_specs: vec![MetricSpec {
            metric_name: t.metric_name.clone(),
            target_size: t.target_int,
            target_size_float: t.target,
        }],
    }
}

#[tonic::async_trait]
impl ExternalScaler for ScalerService {
    async fn is_active(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<IsActiveResponse>, Status> {
        let started = Instant::now();
        let r = async {
            let slot = self.slot(request.get_ref())?;
            let a = self.answer(&slot).await?;
            Ok(Response::new(IsActiveResponse { result: a.active }))
        }
        .await;
        self.timed("IsActive", started, r)
    }

    type StreamIsActiveStream = Stream<IsActiveResponse>;

    async fn stream_is_active(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<Self::StreamIsActiveStream>, Status> {
        let started = Instant::now();
        let r = self.slot(request.get_ref()).map(|slot| {
            let (tx, rx) = mpsc::channel(4);
            let mut answers = slot.answers();
            let mut shutdown = self.shutdown.clone();
            tokio::spawn(async move {
                let mut last: Option<bool> = None;
                loop {
                    // An open stream is KEDA asking: the registration does not expire.
                    slot.touch();
                    let now = answers.borrow_and_update().map(|a| a.active);
                    if let Some(active) = now.filter(|a| Some(*a) != last) {
                        last = Some(active);
                        if tx
                            .send(Ok(IsActiveResponse { result: active }))
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                    tokio::select! {
                        changed = answers.changed() => if changed.is_err() { break },
                        () = tx.closed() => break,
                        _ = shutdown.wait_for(|s| *s) => break,
                    }
                }
                tracing::debug!(scaled_object = %slot.key, "StreamIsActive ended.");
            });
            let stream: Self::StreamIsActiveStream = Box::pin(ReceiverStream::new(rx));
            Response::new(stream)
        });
        self.timed("StreamIsActive", started, r)
    }

    async fn get_metric_spec(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<GetMetricSpecResponse>, Status> {
        let started = Instant::now();
        let r = self
            .slot(request.get_ref())
            .map(|slot| Response::new(spec_response(&slot.target())));
        self.timed("GetMetricSpec", started, r)
    }

    async fn get_metrics(
        &self,
        request: Request<GetMetricsRequest>,
    ) -> Result<Response<GetMetricsResponse>, Status> {
        let started = Instant::now();
        let r = async {
            let req = request.get_ref();
            let object = req.scaled_object_ref.as_ref().ok_or_else(|| {
                Status::invalid_argument("GetMetricsRequest.scaledObjectRef is missing")
            })?;
            let slot = self.slot(object)?;
            let a = self.answer(&slot).await?;
            let metric_name = if req.metric_name.is_empty() {
                slot.target().metric_name
            } else {
                req.metric_name.clone()
            };
            Ok(Response::new(GetMetricsResponse {
                metric_values: vec![MetricValue {
                    metric_name,
                    metric_value: a.metric_value_int,
                    metric_value_float: a.metric_value,
                }],
            }))
        }
        .await;
        self.timed("GetMetrics", started, r)
    }

    type StreamMetricSpecStream = Stream<GetMetricSpecResponse>;

    async fn stream_metric_spec(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<Self::StreamMetricSpecStream>, Status> {
        let started = Instant::now();
        let r = self.slot(request.get_ref()).map(|slot| {
            let (tx, rx) = mpsc::channel(4);
            let mut targets = slot.targets();
            let mut shutdown = self.shutdown.clone();
            tokio::spawn(async move {
                loop {
                    let spec = spec_response(&targets.borrow_and_update());
                    if tx.send(Ok(spec)).await.is_err() {
                        break;
                    }
                    tokio::select! {
                        changed = targets.changed() => if changed.is_err() { break },
                        () = tx.closed() => break,
                        _ = shutdown.wait_for(|s| *s) => break,
                    }
                }
                tracing::debug!(scaled_object = %slot.key, "StreamMetricSpec ended.");
            });
            let stream: Self::StreamMetricSpecStream = Box::pin(ReceiverStream::new(rx));
            Response::new(stream)
        });
        self.timed("StreamMetricSpec", started, r)
    }
}
