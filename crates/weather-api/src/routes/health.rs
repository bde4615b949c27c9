//! `GET /healthz` (liveness: the process answers) and `GET /readyz` (readiness: signing keys loaded and
//! the database answers; 503 otherwise, with `missing` naming what is not there). Both public.
//!
//! The handlers return [`Liveness`] and [`Readiness`], the types the OpenAPI document describes. On the
//! wire the keys are in alphabetical order, as the service has always sent them.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::state::AppState;

/// The health routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// `GET /healthz`: the process answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct Liveness {
    /// Always `ok`.
    pub status: LivenessStatus,
}

/// The only liveness answer: the process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LivenessStatus {
    /// The process answers.
    Ok,
}

/// `GET /readyz`: whether the service can answer API calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "status": "ready", "checks": {"signing_keys": true, "database": true}, "missing": []
}))]
pub struct Readiness {
    /// `ready`, or `not ready` when a check failed.
    pub status: ReadinessStatus,
    /// Each check's result.
    pub checks: ReadinessChecks,
    /// The checks that failed (`signing_keys`, `database`); empty when ready.
    pub missing: Vec<String>,
}

/// Whether every readiness check passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ReadinessStatus {
    /// Every check passed.
    #[serde(rename = "ready")]
    Ready,
    /// At least one check failed (see `missing`).
    #[serde(rename = "not ready")]
    NotReady,
}

/// The checks behind [`Readiness`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReadinessChecks {
    /// The identity provider's signing keys are loaded.
    pub signing_keys: bool,
    /// The report database answers.
    pub database: bool,
}

impl Readiness {
    /// The answer for these check results.
    pub fn new(checks: ReadinessChecks) -> Self {
        let missing: Vec<String> = [
            ("signing_keys", checks.signing_keys),
            ("database", checks.database),
        ]
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| name.to_owned())
        .collect();
        let status = if missing.is_empty() {
            ReadinessStatus::Ready
        } else {
            ReadinessStatus::NotReady
        };
        Self {
            status,
            checks,
            missing,
        }
    }
}

/// The readiness contract of load balancers and orchestrators: 200 when ready, 503 when not (the body
/// is the same document either way; this is a probe answer, not an error). The body goes through a
/// `serde_json::Value`, whose keys are sorted: the bytes the service has always sent.
impl IntoResponse for Readiness {
    fn into_response(self) -> Response {
        let status = match self.status {
            ReadinessStatus::Ready => StatusCode::OK,
            ReadinessStatus::NotReady => StatusCode::SERVICE_UNAVAILABLE,
        };
        let body =
            serde_json::to_value(&self).expect("BUG: a readiness document always serialises");
        (status, Json(body)).into_response()
    }
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
        (status = 200, description = "Signing keys loaded and the database answers", body = Readiness),
        (status = 503, description = "Not ready: the checks say which part is missing", body = Readiness),
    ),
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Readiness {
    let signing_keys = state.validator.is_ready();
    let database = match state.store.ping().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database does not answer");
            false
        }
    };
    Readiness::new(ReadinessChecks {
        database,
        signing_keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readiness_bytes_are_those_the_service_always_sent() {
        let ready = Readiness::new(ReadinessChecks {
            signing_keys: true,
            database: true,
        })
        .into_response();
        assert_eq!(ready.status(), StatusCode::OK);
        let body = axum::body::to_bytes(ready.into_body(), 4096).await.unwrap();
        assert_eq!(
            body,
            r#"{"checks":{"database":true,"signing_keys":true},"missing":[],"status":"ready"}"#
        );
        let not_ready = Readiness::new(ReadinessChecks {
            database: false,
            signing_keys: false,
        });
        assert_eq!(not_ready.missing, ["signing_keys", "database"]);
        assert_eq!(
            serde_json::to_value(&not_ready).unwrap()["status"],
            "not ready"
        );
        assert_eq!(
            not_ready.into_response().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let live = serde_json::to_string(&Liveness {
            status: LivenessStatus::Ok,
        })
        .unwrap();
        assert_eq!(live, r#"{"status":"ok"}"#);
    }
}
