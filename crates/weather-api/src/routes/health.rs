//! `GET /healthz` (liveness: the process answers) and `GET /readyz` (readiness: signing keys loaded and
//! the database answers; 503 otherwise, with `missing` naming what is not there, and
//! `configuration_error` naming the setting when the identity provider refused the configured
//! authority). Both public and not
//! rate limited (probes). The database check is cached for one second
//! ([`CachedPing`](crate::store::CachedPing)): a probe costs no query, and an outage shows within 1 s.
//!
//! The handlers return [`Liveness`] and [`Readiness`], the types the OpenAPI document describes.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::domain::{Liveness, LivenessStatus, Readiness, ReadinessChecks};
use crate::error::ApiError;
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
    responses((status = 200, description = "The process answers", body = Liveness)),
)]
pub(crate) async fn healthz() -> Json<Liveness> {
    Json(Liveness {
        status: LivenessStatus::Ok,
    })
}

/// Readiness
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "service",
    responses(
        (status = 200, description = "Signing keys loaded and the database answers (checked at most once a second)", body = Readiness),
        (status = 503, description = "Not ready: the checks say which part is missing", body = Readiness),
    ),
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<Response, ApiError> {
    let signing_keys = state.validator.is_ready();
    let database = state.readiness.is_ready(state.store.as_ref()).await;
    let configuration_error = match signing_keys {
        true => None,
        false => state
            .validator
            .configuration_error()
            .map(|refused| state.azure_ad.refused_setting(&refused).public()),
    };
    let readiness = Readiness::new(ReadinessChecks {
        signing_keys,
        database,
    })
    .with_configuration_error(configuration_error);
    if readiness.is_ready() {
        Ok(Json(readiness.to_json()).into_response())
    } else {
        Err(ApiError::NotReady(readiness))
    }
}
