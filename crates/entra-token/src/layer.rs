//! A tower middleware for outgoing requests: [`BearerLayer`] / [`Bearer`] acquire a token for
//! each `http::Request` and set `Authorization: Bearer` before calling the inner service (an HTTP
//! client). A request carrying a [`UserAssertion`] in its extensions is sent on behalf of that
//! user; any other as the application. A 401 answer with an `insufficient_claims` challenge becomes
//! [`BearerError::ClaimsChallenge`]. Unlike [`DownstreamApi`](crate::DownstreamApi), the layer
//! does not retry a plain 401: a request body cannot in general be replayed; the 401 is returned.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::StatusCode;

use crate::assertion::UserAssertion;
use crate::confidential::ConfidentialClient;
use crate::error::{ClaimsChallenge, TokenError};
use crate::token::Scopes;

/// Adds [`Bearer`] around a service.
#[derive(Debug, Clone)]
pub struct BearerLayer {
    client: ConfidentialClient,
    scopes: Scopes,
}

impl BearerLayer {
    /// Tokens for `scopes` from `client`.
    pub fn new(client: ConfidentialClient, scopes: Scopes) -> Self {
        Self { client, scopes }
    }
}

impl<S> tower::Layer<S> for BearerLayer {
    type Service = Bearer<S>;

    fn layer(&self, inner: S) -> Bearer<S> {
        Bearer {
            inner,
            client: self.client.clone(),
            scopes: self.scopes.clone(),
        }
    }
}

/// The middleware (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Bearer<S> {
    inner: S,
    client: ConfidentialClient,
    scopes: Scopes,
}

impl<S> Bearer<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// Why a request through [`Bearer`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BearerError<E> {
    /// No token (the request was not sent).
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The downstream API answered 401 `insufficient_claims`.
    #[error(transparent)]
    ClaimsChallenge(ClaimsChallenge),
    /// The inner service failed.
    #[error("the downstream service failed")]
    Inner(#[source] E),
}

/// The response future of [`Bearer`].
pub type ResponseFuture<T, E> =
    Pin<Box<dyn Future<Output = Result<T, BearerError<E>>> + Send + 'static>>;

impl<S, ReqB, ResB> tower::Service<http::Request<ReqB>> for Bearer<S>
where
    S: tower::Service<http::Request<ReqB>, Response = http::Response<ResB>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqB: Send + 'static,
    ResB: Send + 'static,
{
    type Response = http::Response<ResB>;
    type Error = BearerError<S::Error>;
    type Future = ResponseFuture<Self::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(BearerError::Inner)
    }

    fn call(&mut self, mut req: http::Request<ReqB>) -> Self::Future {
        // The service that was polled ready is the one that sends (tower's clone-and-swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let client = self.client.clone();
        let scopes = self.scopes.clone();
        Box::pin(async move {
            let token = match req.extensions().get::<UserAssertion>() {
                Some(user) => client.acquire_on_behalf_of(user, &scopes).await?,
                None => client.acquire_for_app(&scopes).await?,
            };
            let value = token
                .authorization_header()
                .ok_or(TokenError::InvalidResponse {
                    status: StatusCode::OK,
                    reason: "access_token cannot be a header value",
                })?;
            req.headers_mut().insert(http::header::AUTHORIZATION, value);
            let res = inner.call(req).await.map_err(BearerError::Inner)?;
            if res.status() == StatusCode::UNAUTHORIZED {
                if let Some(c) = crate::challenge::claims_challenge(res.headers()) {
                    return Err(BearerError::ClaimsChallenge(c));
                }
            }
            Ok(res)
        })
    }
}
