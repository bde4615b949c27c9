//! The tower middleware: [`AuthLayer`] / [`Auth`] / [`ResponseFuture`].
//!
//! It extracts the bearer token, validates it, checks the route's [`Requirement`], inserts the
//! [`VerifiedClaims`](crate::VerifiedClaims) into the request extensions and calls the inner
//! service; on failure it answers with the [`AuthError`]'s response (status, `WWW-Authenticate`,
//! problem+json) without calling the inner service.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::error::AuthError;
use crate::policy::Requirement;
use crate::validator::{Decision, TokenValidator};

/// Protects a tower service (a whole router or one route) with bearer-token validation.
///
/// ```no_run
/// # async fn run(validator: entra_auth::TokenValidator) {
/// use axum::{routing::get, Router};
/// use entra_auth::{Auth, Requirement};
///
/// let app: Router = Router::new()
///     .route("/forecast", get(|| async { "sunny" }))
///     .layer(Auth::layer(validator).require(Requirement::scopes(["weather.read"])));
/// # }
/// ```
///
/// Optional authentication ([`optional`](Self::optional)): a request without a token reaches the
/// service without claims; a token that is present is validated (401 if invalid, never silently
/// anonymous) and its claims inserted.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    validator: TokenValidator,
    requirement: Option<Arc<Requirement>>,
    optional: bool,
}

impl AuthLayer {
    /// Requires a valid token (any scope or role).
    pub fn new(validator: TokenValidator) -> Self {
        Self {
            validator,
            requirement: None,
            optional: false,
        }
    }

    /// Lets requests without a token through without claims (handlers read
    /// `Option<Authenticated>`); a token that is sent must be valid (and meet the requirement).
    ///
    /// ```no_run
    /// # async fn run(validator: entra_auth::TokenValidator) {
    /// use axum::{routing::get, Router};
    /// use entra_auth::{AuthLayer, Authenticated};
    ///
    /// let app: Router = Router::new()
    ///     .route("/", get(|caller: Option<Authenticated>| async move {
    ///         caller.and_then(|Authenticated(c)| c.name().map(str::to_owned))
    ///             .unwrap_or_else(|| "anonymous".into())
    ///     }))
    ///     .layer(AuthLayer::new(validator).optional());
    /// # }
    /// ```
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
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
            optional: self.optional,
        }
    }
}

/// The service made by [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct Auth<S> {
    inner: S,
    validator: TokenValidator,
    requirement: Option<Arc<Requirement>>,
    optional: bool,
}

impl Auth<()> {
    /// The layer that wraps services in [`Auth`] (tower-http's `Foo::layer()` convention; the
    /// same as [`AuthLayer::new`]).
    pub fn layer(validator: TokenValidator) -> AuthLayer {
        AuthLayer::new(validator)
    }
}

impl<S> Auth<S> {
    /// Wraps `inner` (see [`AuthLayer`]).
    pub fn new(inner: S, validator: TokenValidator, requirement: Option<Requirement>) -> Self {
        Self {
            inner,
            validator,
            requirement: requirement.map(Arc::new),
            optional: false,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming the middleware.
    pub fn into_inner(self) -> S {
        self.inner
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
    type Future = ResponseFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // Decided without I/O (a malformed request, a cached token, or, with one authority, a new
        // token whose key is in the snapshot: verified here, CPU only): no allocation here.
        let (hash, miss) = match self
            .validator
            .decide((&req).into(), self.requirement.as_deref())
        {
            Decision::Done(Err(AuthError::MissingToken)) if self.optional => {
                // Optional authentication: no token, no claims (not counted as a rejection).
                return ResponseFuture {
                    state: State::Inner {
                        future: self.inner.call(req),
                    },
                };
            }
            Decision::Done(result) => {
                self.validator.record(&result);
                let state = match result {
                    Ok(claims) => {
                        req.extensions_mut().insert(claims);
                        State::Inner {
                            future: self.inner.call(req),
                        }
                    }
                    Err(e) => State::Rejected {
                        response: Some(e.to_response()),
                    },
                };
                return ResponseFuture { state };
            }
            Decision::Verify { hash, miss } => (hash, miss),
        };
        // Keys to fetch (an unknown kid, metadata not loaded), a requirement that needs I/O, or
        // a token of one of several authorities: the one boxed future. The ready service goes
        // into it; the clone stays for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let validator = self.validator.clone();
        let requirement = self.requirement.clone();
        ResponseFuture {
            state: State::Verifying {
                future: Box::pin(async move {
                    let result = validator
                        .verify_request((&req).into(), hash, miss, requirement.as_deref())
                        .await;
                    validator.record(&result);
                    match result {
                        Ok(claims) => {
                            req.extensions_mut().insert(claims);
                            inner.call(req).await
                        }
                        Err(e) => Ok(e.to_response::<ResBody>()),
                    }
                }),
            },
        }
    }
}

type BoxFuture<B, E> = Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send>>;

pin_project! {
    /// The response future of [`Auth`]: the inner service's future (a token verified or found
    /// in the cache without I/O), the rejection, or the verification that needs I/O followed by
    /// the inner call.
    pub struct ResponseFuture<F, B, E> {
        #[pin]
        state: State<F, B, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B, E> {
        Inner { #[pin] future: F },
        Rejected { response: Option<Response<B>> },
        Verifying { future: BoxFuture<B, E> },
    }
}

impl<F, B, E> fmt::Debug for ResponseFuture<F, B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => future.poll(cx),
            StateProj::Rejected { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                // Polled after completion: never ready again, as futures may be.
                None => Poll::Pending,
            },
            StateProj::Verifying { future } => Poll::Ready(ready!(future.as_mut().poll(cx))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http::{header, StatusCode};
    use tower::ServiceExt;

    use super::*;
    use crate::test_util::{good_claims, validator, TestSigner};

    /// The inner service: answers the verified `oid`.
    async fn app(req: Request<Bytes>) -> Result<Response<Bytes>, Infallible> {
        let oid = req
            .extensions()
            .get::<crate::VerifiedClaims>()
            .and_then(|c| c.oid().map(str::to_owned))
            .unwrap_or_default();
        Ok(Response::new(Bytes::from(oid)))
    }

    fn request(token: Option<&str>) -> Request<Bytes> {
        let mut b = Request::builder().uri("/x");
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        b.body(Bytes::new()).unwrap()
    }

    #[tokio::test]
    async fn auth_layer_answers_rejections_cache_misses_and_hits_through_its_future() {
        let (validator, _) = validator();
        validator.warm_up().await.unwrap();
        let token = TestSigner::new().sign_payload(good_claims().to_string().as_bytes());
        let svc = Auth::layer(validator.clone())
            .require(Requirement::scopes(["weather.read"]))
            .layer(tower::service_fn(app));

        // rejected without calling the inner service (decided in `call`)
        let res = svc.clone().oneshot(request(None)).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(res.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
        assert_eq!(body["code"], "missing_token");

        // a new token (verified in the boxed future), then the same token (cache hit)
        for hits in [0, 1] {
            let res = svc.clone().oneshot(request(Some(&token))).await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(res.body(), "a11ce000-0000-4000-8000-00000000a11c");
            assert_eq!(validator.metrics().token_cache_hits, hits);
        }

        // a failed requirement on a cached token: 403 with the challenge, from `call`
        let strict = Auth::layer(validator.clone())
            .require(Requirement::scopes(["weather.write"]))
            .layer(tower::service_fn(app));
        let res = strict.oneshot(request(Some(&token))).await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let challenge = res.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(
            challenge.contains("error=\"insufficient_scope\""),
            "{challenge}"
        );
        assert_eq!(validator.metrics().accepted, 2);
    }

    #[test]
    fn auth_gives_access_to_its_inner_service() {
        let (validator, _) = validator();
        let mut svc = Auth::new(7_u32, validator, None);
        assert_eq!(*svc.get_ref(), 7);
        *svc.get_mut() = 8;
        assert_eq!(svc.into_inner(), 8);
    }
}
