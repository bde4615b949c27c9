//! `GET /api/reports` (newest first) and `GET /api/reports/{id}` require [`ReportsRead`];
//! `POST /api/reports` requires [`ReportsWrite`]: each handler's signature says so.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use entra_auth::Authorized;
use http::{header, StatusCode};
use uuid::Uuid;

use crate::auth::{ReportsRead, ReportsWrite};
use crate::domain::{NewReport, RawNewReport, Report};
use crate::error::ApiError;
use crate::state::AppState;

/// The report routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/reports", get(list_reports).post(create_report))
        .route("/api/reports/{id}", get(get_report))
}

/// All weather reports
///
/// Every stored report, newest first.
#[utoipa::path(
    get,
    path = "/api/reports",
    tag = "reports",
    responses(
        (status = 200, description = "The reports, newest first", body = [Report]),
        (status = 400, response = crate::error::BadRequest),
        (status = 401, response = crate::error::Unauthorized),
        (status = 403, response = crate::error::Forbidden),
        (status = 503, response = crate::error::ServiceUnavailable),
    ),
)]
pub(crate) async fn list_reports(
    _auth: Authorized<ReportsRead>,
    State(state): State<AppState>,
) -> Result<Json<Vec<Report>>, ApiError> {
    Ok(Json(state.store.list(None).await?))
}

/// One weather report
#[utoipa::path(
    get,
    path = "/api/reports/{id}",
    tag = "reports",
    params(("id" = uuid::Uuid, Path, description = "The report's id (from the `Location` header of its creation)")),
    responses(
        (status = 200, description = "The report", body = Report),
        (status = 400, response = crate::error::BadRequest),
        (status = 401, response = crate::error::Unauthorized),
        (status = 403, response = crate::error::Forbidden),
        (status = 404, response = crate::error::NotFound),
        (status = 503, response = crate::error::ServiceUnavailable),
    ),
)]
pub(crate) async fn get_report(
    _auth: Authorized<ReportsRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Report>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
    state
        .store
        .get(id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// Report the weather
///
/// Stores a report; the answer is the stored report (normalised: trimmed, lower-cased codes, country
/// `us` by default) and its URL in `Location`.
#[utoipa::path(
    post,
    path = "/api/reports",
    tag = "reports",
    request_body(content = RawNewReport, content_type = "application/json"),
    responses(
        (status = 201, description = "The stored report", body = Report,
            headers(("Location" = String, description = "`/api/reports/{id}` of the new report"))),
        (status = 400, response = crate::error::BadRequest),
        (status = 401, response = crate::error::Unauthorized),
        (status = 403, response = crate::error::Forbidden),
        (status = 413, response = crate::error::PayloadTooLarge),
        (status = 415, response = crate::error::UnsupportedMediaType),
        (status = 422, response = crate::error::UnprocessableEntity),
        (status = 503, response = crate::error::ServiceUnavailable),
    ),
)]
pub(crate) async fn create_report(
    _auth: Authorized<ReportsWrite>,
    State(state): State<AppState>,
    body: Result<Json<RawNewReport>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(raw) = body?;
    let new = NewReport::parse(&raw).map_err(ApiError::InvalidBody)?;
    let report = state.store.add(new).await?;
    state.metrics.record_report_stored();
    tracing::info!(report.id = %report.id, "report stored");
    let location = format!("/api/reports/{}", report.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(report),
    )
        .into_response())
}
