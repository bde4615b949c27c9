//! HTTP routes, one module per resource; each exposes `router(...) -> Router<AppState>`.
//!
//! Protected modules take the state so that they can build their ONE `route_layer` (an
//! `entra_auth::AuthLayer` with the route's requirement) from its validator and role names.

pub mod docs;
pub mod health;
pub mod home;
pub mod reports;
pub mod weather;

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use http::{StatusCode, Uri};

use crate::error::ApiError;
use crate::state::AppState;

/// Fallback: problem+json 404 under `/api`, an HTML page elsewhere.
pub async fn not_found(State(state): State<AppState>, uri: Uri) -> Response {
    if uri.path() == "/api" || uri.path().starts_with("/api/") {
        return ApiError::NotFound.into_response();
    }
    match state
        .templates
        .render("not_found.html", minijinja::context! { path => uri.path() })
    {
        Ok(html) => (StatusCode::NOT_FOUND, Html(html)).into_response(),
        Err(e) => ApiError::Internal(e.into()).into_response(),
    }
}

/// The delegated scope that grants reading.
pub const READ_SCOPE: &str = "weather.read";
/// The delegated scope that grants writing.
pub const WRITE_SCOPE: &str = "weather.write";

/// The auth layer for a route that needs `scope` (delegated) or `role` (app-only).
pub(crate) fn require_scope_or_role(
    state: &AppState,
    scope: &str,
    role: &str,
) -> entra_auth::AuthLayer {
    entra_auth::AuthLayer::new(state.validator.clone())
        .require(entra_auth::Requirement::scopes([scope]).or_roles([role]))
}
