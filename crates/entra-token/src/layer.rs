//! A tower middleware for outgoing requests: [`BearerLayer`] / [`Bearer`] acquire a token for
//! each `http::Request` from a [`TokenCredential`] and set `Authorization: Bearer` before calling
//! the inner service (an HTTP client). Whom the request acts for is chosen when the layer is
//! built, never guessed from the request:
//!
//! * [`BearerLayer::on_behalf_of`]: every request must carry the caller's [`UserAssertion`] in
//!   its extensions and is sent on behalf of that user; a request without one is refused with
//!   [`BearerError::MissingUserAssertion`] and not sent (the application's own token usually has
//!   broader rights than the user).
//! * [`BearerLayer::as_app`]: every request is sent with the credential's own token (the
//!   application's, for a [`ConfidentialClient`](crate::ConfidentialClient)).
//!
//! A 401 answer with an `insufficient_claims` challenge becomes [`BearerError::ClaimsChallenge`].
//! Unlike [`DownstreamApi`](crate::DownstreamApi), the layer does not retry a plain 401: a
//! request body cannot in general be replayed; the 401 is returned.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::StatusCode;

use crate::assertion::UserAssertion;
use crate::error::{ClaimsChallenge, TokenError};
use crate::token::Scopes;
use crate::token_credential::{TokenCredential, TokenRequestOptions};

/// Whom the requests through a [`Bearer`] act for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Acting {
    /// The user of the request's [`UserAssertion`], which must be there.
    OnBehalfOfUser,
    /// The credential itself.
    AsApp,
}

/// Adds [`Bearer`] around a service.
#[derive(Debug, Clone)]
pub struct BearerLayer {
    credential: Arc<dyn TokenCredential>,
    scopes: Scopes,
    acting: Acting,
}

impl BearerLayer {
    /// Tokens for `scopes` on behalf of each request's user: the [`UserAssertion`] in the
    /// request's extensions (a request without one fails with
    /// [`BearerError::MissingUserAssertion`], unsent). `credential` is normally the API's
    /// [`ConfidentialClient`](crate::ConfidentialClient).
    pub fn on_behalf_of(credential: impl TokenCredential + 'static, scopes: Scopes) -> Self {
        Self {
            credential: Arc::new(credential),
            scopes,
            acting: Acting::OnBehalfOfUser,
        }
    }

    /// Tokens for `scopes` as `credential` itself for every request (client credentials for a
    /// [`ConfidentialClient`](crate::ConfidentialClient)); a [`UserAssertion`] in the extensions
    /// is not used.
    pub fn as_app(credential: impl TokenCredential + 'static, scopes: Scopes) -> Self {
        Self {
            credential: Arc::new(credential),
            scopes,
            acting: Acting::AsApp,
        }
    }
}

impl<S> tower::Layer<S> for BearerLayer {
    type Service = Bearer<S>;

    fn layer(&self, inner: S) -> Bearer<S> {
        Bearer {
            inner,
            credential: self.credential.clone(),
            scopes: self.scopes.clone(),
            acting: self.acting,
        }
    }
}

/// The middleware (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Bearer<S> {
    inner: S,
    credential: Arc<dyn TokenCredential>,
    scopes: Scopes,
    acting: Acting,
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
    /// A layer built with [`BearerLayer::on_behalf_of`] got a request without a
    /// [`UserAssertion`] in its extensions (the request was not sent).
    #[error(
        "no user assertion in the request's extensions: this client acts on behalf of users; \
         insert the caller's UserAssertion, or build the layer with BearerLayer::as_app to call \
         as the application"
    )]
    MissingUserAssertion,
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
        let credential = self.credential.clone();
        let scopes = self.scopes.clone();
        let acting = self.acting;
        Box::pin(async move {
            let user = match acting {
                Acting::OnBehalfOfUser => Some(
                    req.extensions()
                        .get::<UserAssertion>()
                        .cloned()
                        .ok_or(BearerError::MissingUserAssertion)?,
                ),
                Acting::AsApp => None,
            };
            let options = match &user {
                Some(user) => TokenRequestOptions::on_behalf_of(user),
                None => TokenRequestOptions::default(),
            };
            let token = credential.get_token(&scopes, options).await?;
            let value = token
                .authorization_header()
                .ok_or(TokenError::InvalidResponse {
                    status: StatusCode::OK,
                    reason: "access_token cannot be a header value",
                })?;
            req.headers_mut().insert(http::header::AUTHORIZATION, value);
            let res = inner.call(req).await.map_err(BearerError::Inner)?;
            if res.status() == StatusCode::UNAUTHORIZED {
                if let Some(c) =
                    crate::token_credential::claims_challenge_from(res.headers(), &*credential)
                {
                    return Err(BearerError::ClaimsChallenge(c));
                }
            }
            Ok(res)
        })
    }
}
