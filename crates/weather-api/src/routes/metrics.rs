//! `GET /metrics`: this instance's [`Metrics`] in the Prometheus text exposition format, public unless
//! the `metrics_allow` setting lists who may scrape.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::header;

use crate::error::ApiError;
use crate::metrics::{Metrics, CONTENT_TYPE};
use crate::middleware::client_info::ClientInfo;
use crate::state::AppState;

/// The `/metrics` route.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

/// `GET /metrics`: the Prometheus text exposition of this instance; [`ApiError::MetricsForbidden`]
/// for a client outside `metrics_allow` (when set).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    summary = "Prometheus metrics",
    description = "This instance's metrics in the Prometheus text exposition format.",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 403, description = "This address is not in `metrics_allow` (problem+json)",
            content_type = "application/problem+json", body = crate::error::Problem),
    ),
)]
pub(crate) async fn scrape(
    State(state): State<AppState>,
    client: ClientInfo,
) -> Result<Response, ApiError> {
    if !state.metrics_allow.is_empty()
        && !client
            .ip
            .is_some_and(|ip| state.metrics_allow.iter().any(|net| net.contains(ip)))
    {
        return Err(ApiError::MetricsForbidden);
    }
    let metrics: &Metrics = &state.metrics;
    let body = metrics.render(&state.validator.metrics());
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response())
}
