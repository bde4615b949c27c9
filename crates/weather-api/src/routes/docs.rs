//! `GET /openapi.json` (the OpenAPI 3.1 document) and the interactive documentation under `/docs`:
//! Swagger UI, served from the binary (no CDN: it works offline), and its OAuth2 redirect page. All
//! public.
//!
//! No page has an inline script: `/docs` loads `swagger-ui-bundle.js` and our `swagger-initializer.js`,
//! which fetches `swagger-ui-config.json` (the document URL and `initOAuth` options, built at start-up
//! from the settings). Every `/docs` answer carries the policy of [`crate::openapi::ApiDocs`]
//! (`script-src 'self'`); a security-header layer outside the router should set its own policy only
//! where none is present.

use std::sync::Arc;

use axum::extract::{FromRef, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use http::{header, HeaderValue};

use crate::openapi::ApiDocs;
use crate::templates::Templates;

/// The vendored swagger-ui-dist version (see `static/swagger-ui/README.md`).
pub const SWAGGER_UI_VERSION: &str = "5.35.0";

/// The `/docs` page: assets by absolute path, scripts from files only.
const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Weather Service - API docs</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
<link rel="icon" type="image/png" href="/docs/favicon-16x16.png" sizes="16x16">
</head>
<body>
<div id="swagger-ui"><p>Loading the API documentation... (it needs JavaScript; the raw document is at <a href="/openapi.json">/openapi.json</a>)</p></div>
<script src="/docs/swagger-ui-bundle.js" charset="utf-8"></script>
<script src="/docs/swagger-initializer.js" charset="utf-8"></script>
</body>
</html>
"#;

/// Files under `/docs/`, embedded in the binary: (name, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/swagger-ui/swagger-ui-bundle.js"),
    ),
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/swagger-ui/swagger-ui.css"),
    ),
    (
        "swagger-initializer.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/swagger-ui/swagger-initializer.js"),
    ),
    (
        "oauth2-redirect.html",
        "text/html; charset=utf-8",
        include_bytes!("../../static/swagger-ui/oauth2-redirect.html"),
    ),
    (
        "oauth2-redirect.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/swagger-ui/oauth2-redirect.js"),
    ),
    (
        "favicon-32x32.png",
        "image/png",
        include_bytes!("../../static/swagger-ui/favicon-32x32.png"),
    ),
    (
        "favicon-16x16.png",
        "image/png",
        include_bytes!("../../static/swagger-ui/favicon-16x16.png"),
    ),
];

/// The state of the documentation routes: the document built at start-up, and the templates of the HTML
/// 404 page.
#[derive(Debug, Clone)]
pub struct DocsState {
    /// The OpenAPI document, Swagger UI configuration and `/docs` policy.
    pub docs: Arc<ApiDocs>,
    /// The HTML templates (the 404 page of an unknown asset).
    pub templates: Arc<Templates>,
}

impl FromRef<DocsState> for Arc<Templates> {
    fn from_ref(state: &DocsState) -> Self {
        state.templates.clone()
    }
}

/// The documentation routes, with their own state (so that the application state does not depend on
/// the document, which is built from the routes).
pub fn router<S>(state: DocsState) -> Router<S> {
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs_page))
        .route("/docs/", get(|| async { Redirect::permanent("/docs") }))
        .route("/docs/swagger-ui-config.json", get(swagger_config))
        .route("/docs/{file}", get(asset))
        .with_state(state)
}

async fn openapi_json(State(state): State<DocsState>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        state.docs.openapi_json(),
    )
        .into_response()
}

async fn docs_page(State(state): State<DocsState>) -> Response {
    with_policy(
        &state,
        "text/html; charset=utf-8",
        "no-cache",
        DOCS_HTML.as_bytes(),
    )
}

async fn swagger_config(State(state): State<DocsState>) -> Response {
    let mut response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        state.docs.swagger_config_json(),
    )
        .into_response();
    set_policy(&state, &mut response);
    response
}

async fn asset(State(state): State<DocsState>, Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        // The page names the assets without a version: revalidate, so that an upgrade is seen at once.
        Some((_, content_type, bytes)) => {
            with_policy(&state, content_type, "public, max-age=300", bytes)
        }
        None => {
            let uri = format!("/docs/{file}")
                .parse()
                .unwrap_or_else(|_| http::Uri::from_static("/docs"));
            super::not_found(State(state.templates.clone()), uri).await
        }
    }
}

fn with_policy(
    state: &DocsState,
    content_type: &'static str,
    cache: &'static str,
    bytes: &'static [u8],
) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        bytes,
    )
        .into_response();
    set_policy(state, &mut response);
    response
}

fn set_policy(state: &DocsState, response: &mut Response) {
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        state.docs.content_security_policy(),
    );
}
