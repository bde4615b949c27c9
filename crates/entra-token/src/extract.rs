//! The on-behalf-of input of an axum handler (feature `axum`): [`OnBehalfOf`] is the caller's
//! [`UserAssertion`] built from what entra-auth already verified, so a handler that calls
//! downstream on behalf of its caller takes it instead of a `HeaderMap`.
//!
//! It reads the [`VerifiedClaims`] of the request (inserted by entra-auth's `AuthLayer`, or
//! validated here through the `AuthState` the router's state gives, exactly as entra-auth's
//! `Authenticated` does) and the bearer token found by entra-auth's RFC 6750 scanner, checked to
//! be the token those claims were verified from. The token is not decoded a second time: its
//! expiry and audiences come from the claims.
//!
//! Its rejection, [`OnBehalfOfRejection`], answers as follows:
//!
//! | status | `code` | when |
//! |---|---|---|
//! | 401 (+ `WWW-Authenticate`) | entra-auth's (`missing_token`, `token_expired`, ...) | no valid bearer token: entra-auth's own answer |
//! | 500 | `auth_layer_missing` | the route has no `AuthLayer` and the state's `AuthState` has no validator: add one |
//! | 403 | `app_only_token` | an app-only token (client credentials): there is no user to act for |
//! | 500 | `configuration_error` | the request's bearer token is not the one its claims were verified from (something between entra-auth and the handler replaced the `Authorization` header, or inserted claims of another token); logged at ERROR |
//!
//! ```
//! use axum::{extract::State, routing::get, Json, Router};
//! use entra_auth::{AuthLayer, AuthState, TokenValidator};
//! use entra_token::{ConfidentialClient, DownstreamApi, DownstreamError, OnBehalfOf, Scopes};
//! use serde_json::Value;
//!
//! #[derive(Clone)]
//! struct AppState { orders: DownstreamApi, http: reqwest::Client }
//! impl axum::extract::FromRef<AppState> for AuthState {
//!     fn from_ref(_: &AppState) -> Self { AuthState::layer_only() }
//! }
//!
//! async fn orders(
//!     State(s): State<AppState>,
//!     user: OnBehalfOf,
//! ) -> Result<Json<Value>, DownstreamError> {
//!     let request = s.http.get("https://orders.example/api/orders");
//!     let response = s.orders.send_on_behalf_of(user.assertion(), request).await?;
//!     Ok(Json(DownstreamApi::json(response).await?))
//! }
//!
//! fn router(validator: TokenValidator, client: ConfidentialClient) -> Router {
//!     let api = DownstreamApi::new(client, Scopes::parse("api://orders/Orders.Read"));
//!     Router::new()
//!         .route("/orders", get(orders))
//!         .with_state(AppState { orders: api, http: reqwest::Client::new() })
//!         .layer(AuthLayer::new(validator))
//! }
//! ```

use axum_core::extract::{FromRef, FromRequestParts};
use axum_core::response::{IntoResponse, Response};
use entra_auth::{AuthError, AuthState, Authenticated, VerifiedClaims};
use http::request::Parts;

use crate::assertion::UserAssertion;
use crate::error::answer;
use crate::error::{AssertionError, TokenError};

/// The caller of an API protected by entra-auth, as an on-behalf-of assertion: its verified
/// claims and the very bearer token they were verified from (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct OnBehalfOf {
    claims: VerifiedClaims,
    assertion: UserAssertion,
}

impl OnBehalfOf {
    /// The caller's verified claims.
    pub fn claims(&self) -> &VerifiedClaims {
        &self.claims
    }

    /// The caller's token as the on-behalf-of assertion, for
    /// [`DownstreamApi::send_on_behalf_of`](crate::DownstreamApi::send_on_behalf_of),
    /// [`ConfidentialClient::acquire_on_behalf_of`](crate::ConfidentialClient::acquire_on_behalf_of)
    /// or a request's extensions through [`BearerLayer::on_behalf_of`](crate::BearerLayer::on_behalf_of).
    pub fn assertion(&self) -> &UserAssertion {
        &self.assertion
    }

    /// The claims and the assertion.
    pub fn into_parts(self) -> (VerifiedClaims, UserAssertion) {
        (self.claims, self.assertion)
    }
}

/// Why [`OnBehalfOf`] refused a request (the answers are in the [module docs](self)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OnBehalfOfRejection {
    /// entra-auth refused the request, or could not validate it (no `AuthLayer` and no
    /// validator in the state's `AuthState`): its own answer.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The verified token cannot be an on-behalf-of assertion: app-only, or not the token in
    /// the request's `Authorization` header.
    #[error(transparent)]
    Assertion(#[from] AssertionError),
}

impl OnBehalfOfRejection {
    /// The HTTP status of the answer.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::Auth(e) => e.status(),
            Self::Assertion(e) => TokenError::Assertion(e.clone()).status(),
        }
    }
}

impl IntoResponse for OnBehalfOfRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Auth(e) => e.into_response(),
            Self::Assertion(e) => {
                let error = TokenError::Assertion(e);
                let answer = error.answer();
                answer::log(&answer, &error);
                answer.into_response()
            }
        }
    }
}

impl<S> FromRequestParts<S> for OnBehalfOf
where
    AuthState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = OnBehalfOfRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Authenticated(claims) = Authenticated::from_request_parts(parts, state).await?;
        let assertion = UserAssertion::from_verified_request(&claims, &parts.headers)?;
        Ok(Self { claims, assertion })
    }
}
