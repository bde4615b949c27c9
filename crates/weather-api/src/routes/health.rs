//! `GET /healthz` (liveness: the process answers) and `GET /readyz` (readiness: signing keys loaded and
//! the database answers; 503 otherwise, with `missing` naming what is not there). Both public.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use serde_json::json;

use crate::state::AppState;

/// The health routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// Liveness
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "service",
    responses((status = 200, description = "The process answers", body = crate::openapi::Liveness)),
)]
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "service",
    responses(
        (status = 200, description = "Signing keys loaded and the database answers", body = crate::openapi::Readiness),
        (status = 503, description = "Not ready: the checks say which part is missing", body = crate::openapi::Readiness),
    ),
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let keys = state.validator.is_ready();
    let database = match state.store.ping().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database does not answer");
            false
        }
    };
    let missing: Vec<&str> = [("signing_keys", keys), ("database", database)]
        .into_iter()
        .filter_map(|(name, ok)| (!ok).then_some(name))
        .collect();
    let ready = missing.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not ready" },
            "checks": { "signing_keys": keys, "database": database },
            "missing": missing,
        })),
    )
        .into_response()
}
