//! HTTP routes, one module per resource; each exposes `router(...) -> Router<AppState>`.
//!
//! Protected handlers state their permission in their signature (`Authorized<ReportsRead>`, the
//! permissions of [`crate::auth`]). Each handler carries its own `#[utoipa::path]` description;
//! [`crate::openapi`] lists them and derives each operation's security from its handler's permission.

pub mod docs;
pub mod health;
pub mod home;
pub mod metrics;
pub mod reports;
pub mod weather;

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::Uri;

use crate::error::ApiError;
use crate::templates::Templates;

/// Fallback: problem+json 404 under `/api`, an HTML page elsewhere.
pub async fn not_found(State(templates): State<Arc<Templates>>, uri: Uri) -> Response {
    if uri.path() == "/api" || uri.path().starts_with("/api/") {
        return ApiError::NotFound.into_response();
    }
    match templates.render("not_found.html", minijinja::context! { path => uri.path() }) {
        Ok(html) => ApiError::PageNotFound(html).into_response(),
        Err(e) => ApiError::Internal(e.into()).into_response(),
    }
}
