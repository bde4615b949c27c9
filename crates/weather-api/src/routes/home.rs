//! The public HTML side: `GET /` (home page with recent reports), `/static/...` (embedded assets),
//! `GET /favicon.ico` (redirect).

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use entra_auth::Authenticated;
use http::{header, HeaderValue};

use crate::domain::{PageLimit, PageRequest};
use crate::error::ApiError;
use crate::middleware::rate_limit::{RateLimited, ReadClass};
use crate::state::AppState;

/// How many reports the home page lists (the newest page of that size, read as `GET /api/reports` reads
/// its pages).
pub const RECENT_REPORTS: PageLimit = PageLimit::new(20);

/// Files under `/static`, embedded in the binary: (path, content type, bytes).
const STATIC_FILES: &[(&str, &str, &[u8])] = &[
    (
        "css/site.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/css/site.css"),
    ),
    (
        "img/cloud.svg",
        "image/svg+xml",
        include_bytes!("../../static/img/cloud.svg"),
    ),
    (
        "img/favicon.ico",
        "image/x-icon",
        include_bytes!("../../static/img/favicon.ico"),
    ),
];

/// The home routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/favicon.ico", get(favicon))
        .route("/static/{*path}", get(static_file))
}

/// Home page
///
/// HTML: what the service does, a link to these docs, recent reports. Public; with a valid bearer
/// token it greets the signed-in caller by name (an invalid token is refused with 401, never
/// treated as anonymous).
#[utoipa::path(
    get,
    path = "/",
    tag = "service",
    operation_id = "home_page",
    responses(
        (status = 200, description = "The home page", content_type = "text/html", body = String),
        (status = 401, response = crate::error::Unauthorized),
        (status = 429, response = crate::error::TooManyRequests),
        (status = 503, response = crate::error::ServiceUnavailable),
    ),
)]
pub(crate) async fn index(
    caller: Option<Authenticated>,
    _rate: RateLimited<ReadClass>,
    State(state): State<AppState>,
) -> Result<Html<String>, ApiError> {
    let signed_in = caller.map(|Authenticated(c)| {
        c.name()
            .or(c.preferred_username())
            .unwrap_or("signed-in caller")
            .to_owned()
    });
    let reports = state
        .store
        .page(PageRequest::first(RECENT_REPORTS))
        .await?
        .reports;
    let html = state
        .templates
        .render(
            "index.html",
            minijinja::context! {
                reports => reports,
                signed_in => signed_in,
                development_mode => state.mode.dev_issuer.is_some(),
                dev_issuer => state.mode.dev_issuer_url().map(url::Url::as_str),
                read_role => state.roles.read,
                write_role => state.roles.write,
            },
        )
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(Html(html))
}

async fn favicon() -> Redirect {
    Redirect::permanent("/static/img/favicon.ico")
}

async fn static_file(State(state): State<AppState>, Path(path): Path<String>) -> Response {
    match STATIC_FILES.iter().find(|(p, _, _)| *p == path) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=3600"),
                ),
            ],
            *bytes,
        )
            .into_response(),
        None => {
            let uri = format!("/static/{path}")
                .parse()
                .unwrap_or_else(|_| http::Uri::from_static("/static"));
            super::not_found(State(state.templates.clone()), uri).await
        }
    }
}
