//! The operators' page of `prescale serve`: server-rendered HTML, no script, no external
//! asset (inline styles, inline SVG charts), behind the same bearer token as the JSON API.
//!
//! | path | page |
//! |---|---|
//! | `GET /` | every registered ScaledObject, [`PER_PAGE`] a page (`/?page=2`, ...): name (a link to its page), phase and mode, the current decision and its reason in one line, the settings in force, the accuracy window, the cost (with cost tracking), the last collection error, and a small chart of the last day (demand, forecast band, capacity of the replicas decided) |
//! | `GET /services/{namespace}/{name}` | one ScaledObject: the same in detail, larger charts (and one of replicas decided and answered), every setting, SLO mode's latest tuning, the forecast, patterns, trend and anomalies, the last error; a 404 page when it is not registered |
//!
//! The pages render the structs the JSON API serializes — [`ServiceStatus`] (of
//! `/api/v1/services/{namespace}/{name}`), [`ServiceSummary`](crate::registry::status::ServiceSummary) (of `/api/v1/services`) and the
//! cost snapshot (of `/api/v1/cost`) — and compute nothing of their own; the charts are the
//! backtest report's ([`prescale_report::render_time_chart`]) over
//! [`ServiceStatus::recent`](crate::registry::status::ServiceStatus::recent) and the latest
//! forecast.
//!
//! Every string that came from a caller (namespace, name, metadata, error texts) is escaped.
//! Answers carry `Content-Type: text/html; charset=utf-8`, the Content Security Policy
//! [`CONTENT_SECURITY_POLICY`] (nothing may load or run: only inline styles and `data:`
//! images), `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` and
//! `Cache-Control: no-store`. Pages are drawn on a blocking thread.

mod chart;
mod detail;
mod html;
mod list;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prescale_kube::cost::{CostSnapshot, ServiceCostSnapshot};

use crate::api::http::HttpState;
use crate::registry::ObjectKey;
use crate::registry::status::ServiceStatus;

/// ScaledObjects listed per page of `/`: each takes some 18 KB with its chart, so that a full
/// page is under 2 MB (drawn in about 20 ms by a release build).
pub const PER_PAGE: usize = 100;

/// The pages' Content Security Policy (the header): nothing is loaded, nothing runs, no form
/// posts, no framing; only the inline styles (and `data:` images) apply.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The same policy in the pages' `<meta>` (for a saved copy), without `frame-ancestors`, which
/// a `<meta>` cannot carry (browsers log that they ignore it).
const META_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     img-src data:; base-uri 'none'; form-action 'none'";

/// The pages' routes (the caller adds the state and the token check).
pub(crate) fn routes() -> Router<HttpState> {
    Router::new()
        .route("/", get(index))
        .route("/services/{namespace}/{name}", get(service))
}

/// `status`'s entry in `cost`, if it is billed.
fn service_cost<'a>(
    cost: &'a CostSnapshot,
    status: &ServiceStatus,
) -> Option<&'a ServiceCostSnapshot> {
    cost.services
        .iter()
        .find(|s| s.namespace == status.namespace && s.service == status.name)
}

/// An HTML answer with the pages' headers.
fn html_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Renders on a blocking thread.
async fn rendered(
    status: StatusCode,
    render: impl FnOnce() -> String + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(render).await {
        Ok(body) => html_response(status, body),
        Err(e) => {
            tracing::warn!(error = %e, "Rendering a page failed.");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered\n",
            )
                .into_response()
        }
    }
}

/// The page number of a query string (`page=N`, from 1; anything else is page 1).
fn page_number(query: Option<&str>) -> usize {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("page=")?.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1)
}

async fn index(State(s): State<HttpState>, RawQuery(query): RawQuery) -> Response {
    let slots = s.registry.slots();
    let mut paging = list::Paging {
        page: page_number(query.as_deref()),
        total: slots.len(),
    };
    paging.page = paging.page.min(paging.pages());
    let statuses: Vec<ServiceStatus> = slots
        .iter()
        .skip(paging.offset())
        .take(PER_PAGE)
        .map(|slot| slot.registration().status())
        .collect();
    let cost = s.cost.as_ref().map(|c| c.snapshot());
    rendered(StatusCode::OK, move || {
        list::render(&statuses, cost.as_ref(), paging)
    })
    .await
}

async fn service(
    State(s): State<HttpState>,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    let key = ObjectKey::new(namespace, name);
    let Some(slot) = s.registry.get(&key) else {
        return html_response(
            StatusCode::NOT_FOUND,
            detail::not_found(&key.namespace, &key.name),
        );
    };
    let status = slot.registration().status();
    let cost = s.cost.as_ref().map(|c| c.snapshot());
    rendered(StatusCode::OK, move || {
        detail::render(&status, cost.as_ref())
    })
    .await
}

#[cfg(test)]
mod tests;
