//! The HTTP side: `/metrics`, `/healthz`, `/readyz`, the JSON API and the operators' page.
//!
//! | path | answer |
//! |---|---|
//! | `GET /` | the operators' page ([`page`](crate::api::page)): every ScaledObject with a chart of its last day, its decision, settings in force, accuracy and cost (HTML) |
//! | `GET /services/{namespace}/{name}` | one ScaledObject's page: the same in detail (HTML; 404 page when not registered) |
//! | `GET /metrics` | OpenMetrics text of every metric in `docs/metrics.md` |
//! | `GET /healthz` | 200 while the process serves |
//! | `GET /readyz` | 200 once the gRPC listener is up and saved registrations are loaded, else 503 |
//! | `GET /api/v1/services` | every ScaledObject: mode, phase, decision and reason |
//! | `GET /api/v1/services/{namespace}/{name}` | one ScaledObject: settings, patterns, trend, anomalies, forecast, decision with reason, safety state, accuracy, last error, the last day of history held and of decisions |
//! | `GET /api/v1/cost` | replica-hours and dollars per service (when cost tracking is on) |
//!
//! `api_token_file` guards the JSON API and the pages alike (they show the same data).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::api::telemetry::Telemetry;
use crate::registry::status::ServiceSummary;
use crate::registry::{ObjectKey, Registry};

/// Gives the body of `/api/v1/cost` and the cost the operators' page shows.
pub trait CostReport: Send + Sync {
    /// The cost snapshot.
    fn snapshot(&self) -> prescale_kube::cost::CostSnapshot;

    /// The cost snapshot as JSON.
    fn cost_json(&self) -> serde_json::Value {
        serde_json::to_value(self.snapshot()).unwrap_or_default()
    }
}

/// What the handlers read.
#[derive(Clone)]
pub struct HttpState {
    /// The registered ScaledObjects.
    pub registry: Arc<Registry>,
    /// The metrics.
    pub telemetry: Arc<Telemetry>,
    /// Set once the server is ready.
    pub ready: Arc<AtomicBool>,
    /// Cost tracking, when on.
    pub cost: Option<Arc<dyn CostReport>>,
    /// A file holding the bearer token `/api` requires (read at every call, so that a
    /// rotated token takes effect at once); `None`: `/api` is open.
    pub api_token_file: Option<std::path::PathBuf>,
}

/// The router.
pub fn router(state: HttpState) -> Router {
    let api = Router::new()
        .route("/api/v1/services", get(services))
        .route("/api/v1/services/{namespace}/{name}", get(service))
        .route("/api/v1/cost", get(cost))
        .merge(crate::api::page::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api_auth,
        ));
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(api)
        .with_state(state)
}

/// `/api` and the operators' pages with `api_token_file`: the request must carry
/// `Authorization: Bearer <token>` (compared in constant time), else 401. `/metrics` and the
/// health checks stay open.
async fn api_auth(
    State(s): State<HttpState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use subtle::ConstantTimeEq;
    let Some(path) = &s.api_token_file else {
        return next.run(req).await;
    };
    let expected = match tokio::fs::read_to_string(path).await {
        Ok(t) => t.trim_end_matches(['\n', '\r']).to_string(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "Cannot read the API token file.");
            String::new()
        }
    };
    if expected.is_empty() {
        return (StatusCode::SERVICE_UNAVAILABLE, "API token unavailable\n").into_response();
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(g) if bool::from(g.as_bytes().ct_eq(expected.as_bytes())) => next.run(req).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "unauthorized: /api and the pages need Authorization: Bearer <token>\n",
        )
            .into_response(),
    }
}

async fn metrics(State(s): State<HttpState>) -> Response {
    s.telemetry.set_scaled_objects(s.registry.len());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.telemetry.encode(),
    )
        .into_response()
}

async fn readyz(State(s): State<HttpState>) -> Response {
    if s.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
    }
}

async fn services(State(s): State<HttpState>) -> Json<serde_json::Value> {
    // The summary is taken under the lock: a copy of every status (with its day of history
    // and decisions) is not needed for one line each.
    let list: Vec<ServiceSummary> = s
        .registry
        .slots()
        .iter()
        .map(|slot| {
            let reg = slot.registration();
            let status = reg.status.lock().unwrap_or_else(|e| e.into_inner());
            ServiceSummary::from(&*status)
        })
        .collect();
    Json(json!({ "services": list }))
}

async fn service(
    State(s): State<HttpState>,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    let key = ObjectKey::new(namespace, name);
    match s.registry.get(&key) {
        Some(slot) => Json(slot.registration().status()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("ScaledObject {key} is not registered") })),
        )
            .into_response(),
    }
}

async fn cost(State(s): State<HttpState>) -> Response {
    match &s.cost {
        Some(c) => Json(c.cost_json()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "cost tracking is off (no `cost` section in the config file)" })),
        )
            .into_response(),
    }
}
