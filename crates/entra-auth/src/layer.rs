//! The tower middleware: [`AuthLayer`] / [`Auth`] / [`ResponseFuture`].
//!
//! It extracts the bearer token, validates it, checks the route's [`Requirement`], inserts the
//! [`VerifiedClaims`](crate::VerifiedClaims) into the request extensions and calls the inner
//! service; on failure it answers with the [`AuthError`](crate::AuthError)'s response (status, `WWW-Authenticate`,
//! problem+json) without calling the inner service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower::{Layer, Service};

use crate::policy::Requirement;
use crate::validator::TokenValidator;

/// Protects a tower service (a whole router or one route) with bearer-token validation.
///
/// ```no_run
/// # async fn run(validator: entra_auth::TokenValidator) {
/// use axum::{routing::get, Router};
/// use entra_auth::{AuthLayer, Requirement};
///
/// let app: Router = Router::new()
///     .route("/forecast", get(|| async { "sunny" }))
///     .layer(AuthLayer::new(validator).require(Requirement::scopes(["weather.read"])));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AuthLayer {
    validator: TokenValidator,
    requirement: Option<Arc<Requirement>>,
}

impl AuthLayer {
    /// Requires a valid token (any scope or role).
    pub fn new(validator: TokenValidator) -> Self {
        Self {
            validator,
            requirement: None,
        }
    }

    /// Also requires `requirement` (403 `insufficient_scope` when unmet).
    pub fn require(mut self, requirement: Requirement) -> Self {
        self.requirement = Some(Arc::new(requirement));
        self
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            validator: self.validator.clone(),
            requirement: self.requirement.clone(),
        }
    }
}

/// The service made by [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct Auth<S> {
    inner: S,
    validator: TokenValidator,
    requirement: Option<Arc<Requirement>>,
}

impl<S> Auth<S> {
    /// Wraps `inner` (see [`AuthLayer`]).
    pub fn new(inner: S, validator: TokenValidator, requirement: Option<Requirement>) -> Self {
        Self {
            inner,
            validator,
            requirement: requirement.map(Arc::new),
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Auth<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: 'static,
    ReqBody: Send + 'static,
    ResBody: From<Bytes> + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // The ready service goes into the future; the clone stays for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let validator = self.validator.clone();
        let requirement = self.requirement.clone();
        ResponseFuture {
            inner: Box::pin(async move {
                let result = validator
                    .authorize_request(req.uri(), req.headers(), requirement.as_deref())
                    .await;
                match result {
                    Ok(claims) => {
                        req.extensions_mut().insert(claims);
                        inner.call(req).await
                    }
                    Err(e) => Ok(e.to_response::<ResBody>()),
                }
            }),
        }
    }
}

/// The response future of [`Auth`].
pub struct ResponseFuture<B, E> {
    inner: Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send>>,
}

impl<B, E> fmt::Debug for ResponseFuture<B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<B, E> Future for ResponseFuture<B, E> {
    type Output = Result<Response<B>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}
