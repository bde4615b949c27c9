//! The issuer's HTTP surface: the router only. Each endpoint family has its module: [`discovery`] (metadata,
//! key sets, index, stats), [`token`] (every grant), [`authorize`] (the login page); [`endpoint`] resolves
//! the tenant or B2C policy part of the path, [`oauth`] holds the OAuth vocabulary and [`page`] the HTML.

pub(crate) mod authorize;
pub(crate) mod client_auth;
pub(crate) mod control;
pub(crate) mod device;
pub(crate) mod discovery;
pub(crate) mod endpoint;
pub(crate) mod guard;
pub(crate) mod managed_identity;
pub(crate) mod oauth;
pub(crate) mod page;
pub(crate) mod token;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::state::IssuerState;

/// Which endpoints a router serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Surface {
    /// Every endpoint, the control endpoints (`control/switches`, `control/revoke`) included.
    WithControl,
    /// Every endpoint but the control ones: for mounting inside a service whose callers must not switch
    /// the issuer's outage or revoke sign-ins.
    WithoutControl,
}

/// Every endpoint, with paths relative to the instance. `{tenant}` is the development tenant id, `common`
/// or `organizations`; `{tenant}/{policy}` is a B2C tenant (`{name}.onmicrosoft.com`) and user flow.
///
/// Every request passes [`guard::check_host`]; the control endpoints (with [`Surface::WithControl`])
/// take JSON bodies only ([`guard::require_json`]) and answer no CORS, the others answer CORS for
/// [`DevIssuerConfig::allowed_origins`](crate::DevIssuerConfig::allowed_origins) only.
pub(crate) fn router(state: Arc<IssuerState>, surface: Surface) -> Router {
    let public = public_routes(&state);
    let router = match surface {
        Surface::WithControl => public.merge(managed_identity_routes()).merge(
            Router::new()
                .route(
                    "/control/switches",
                    get(control::get_switches).put(control::put_switches),
                )
                .route("/control/revoke", post(control::revoke))
                .route(
                    "/control/managed-identity",
                    get(managed_identity::get_faults).put(managed_identity::put_faults),
                )
                .layer(axum::middleware::from_fn(guard::require_json)),
        ),
        Surface::WithoutControl => public,
    };
    router
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            guard::check_host,
        ))
        .with_state(state)
}

/// The emulated managed identity endpoints (no CORS: a page never calls them). Served with the
/// control endpoints only: a service that mounts the issuer does not hand its callers managed
/// identity tokens.
fn managed_identity_routes() -> Router<Arc<IssuerState>> {
    Router::new()
        .route(
            "/metadata/identity/oauth2/token",
            get(managed_identity::imds),
        )
        .route("/msi/token", get(managed_identity::app_service))
}

/// The endpoints a browser page may use (with CORS for the allowed origins).
fn public_routes(state: &IssuerState) -> Router<Arc<IssuerState>> {
    Router::new()
        .route("/", get(discovery::index))
        .route("/stats", get(discovery::stats))
        .route(
            "/devicelogin",
            get(device::verification_get).post(device::verification_post),
        )
        .route(
            "/{tenant}/oauth2/v2.0/devicecode",
            post(device::device_authorization),
        )
        .route(
            "/{tenant}/oauth2/devicecode",
            post(device::device_authorization),
        )
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery::metadata_v2),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(discovery::metadata_v1),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(discovery::keys_v2))
        .route("/{tenant}/discovery/keys", get(discovery::keys_v1))
        .route("/{tenant}/oauth2/v2.0/token", post(token::token_v2))
        .route("/{tenant}/oauth2/token", post(token::token_v1))
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route(
            "/{tenant}/oauth2/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route(
            "/{tenant}/{policy}/v2.0/.well-known/openid-configuration",
            get(discovery::metadata_v2),
        )
        .route(
            "/{tenant}/{policy}/discovery/v2.0/keys",
            get(discovery::keys_v2),
        )
        .route(
            "/{tenant}/{policy}/oauth2/v2.0/token",
            post(token::token_v2),
        )
        .route(
            "/{tenant}/{policy}/oauth2/v2.0/devicecode",
            post(device::device_authorization),
        )
        .route(
            "/{tenant}/{policy}/oauth2/v2.0/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .layer(cors(&state.config.allowed_origins))
        .layer(axum::middleware::from_fn(preflight_no_content))
}

/// Allow the configured browser origins (the API's Swagger UI) to read the documents and call the token
/// endpoint, as Entra does for a registration's single-page-application redirect URIs; any other page
/// gets no CORS headers and cannot read an answer. The answer depends on the `Origin`, hence `Vary`.
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(
            |origin| match HeaderValue::from_str(origin.trim_end_matches('/')) {
                Ok(value) => Some(value),
                Err(_) => {
                    tracing::warn!(%origin, "allowed_origins: not a valid origin, ignored");
                    None
                }
            },
        )
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::ACCEPT,
            HeaderName::from_static("x-requested-with"),
        ])
        .max_age(Duration::from_secs(3600))
}

/// `CorsLayer` answers a preflight `200` with an empty body; the issuer has always answered `204 No
/// Content`, which says the same and is what clients of the issuer pin.
async fn preflight_no_content(request: Request, next: Next) -> Response {
    let preflight = request.method() == Method::OPTIONS;
    let mut response = next.run(request).await;
    if preflight && response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    response
}
