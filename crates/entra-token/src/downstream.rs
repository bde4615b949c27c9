//! Calling a downstream API with a fresh token: [`DownstreamApi`] attaches `Authorization:
//! Bearer` to an outgoing `reqwest` request (with the token of any [`TokenCredential`], or on
//! behalf of the request's user), turns a downstream 401 carrying a claims challenge into a
//! [`ClaimsChallenge`], and retries a plain 401 once with a token that bypasses the cache.
//! [`DownstreamError`] is the HTTP answer for the API's own caller (see
//! [`TokenError::to_response`]; `IntoResponse` with the `axum` feature).

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;

use crate::assertion::UserAssertion;
use crate::error::answer::{self, Answer};
use crate::error::{ClaimsChallenge, TokenError};
use crate::token::{AccessToken, Scopes};
use crate::token_credential::{TokenCredential, TokenRequestOptions};

/// A downstream API reached with tokens for `scopes` from a [`TokenCredential`].
#[derive(Debug, Clone)]
pub struct DownstreamApi {
    credential: Arc<dyn TokenCredential>,
    scopes: Scopes,
}

/// Why a downstream call failed. As an HTTP answer (see [`TokenError::to_response`]): the
/// token errors as listed there; a claims challenge 401 `insufficient_claims`; the downstream API
/// unreachable 502 `downstream_unreachable`, answering an error status 502 `downstream_refused`,
/// or a body that is not the expected JSON 502 `downstream_invalid_response`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DownstreamError {
    /// No token could be acquired (a claims challenge from the token endpoint included).
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The downstream API answered 401 with `insufficient_claims`: answer the caller 401 with
    /// this challenge (see [`ClaimsChallenge`]).
    #[error(transparent)]
    ClaimsChallenge(ClaimsChallenge),
    /// The request could not be sent (or its body cannot be replayed for the retry).
    #[error("the downstream request failed")]
    Request(#[source] reqwest::Error),
    /// The bearer token cannot be a header value (it never can with Entra's tokens).
    #[error("the token cannot be sent as a header")]
    InvalidTokenHeader,
    /// The downstream API answered an error status ([`DownstreamApi::json`]).
    #[error("the downstream API answered {status}")]
    Refused {
        /// The downstream API's status.
        status: StatusCode,
    },
    /// The downstream API's body is not the expected JSON ([`DownstreamApi::json`]).
    #[error("the downstream API answered {status} with a body that is not the expected JSON")]
    InvalidBody {
        /// The downstream API's status.
        status: StatusCode,
    },
}

impl DownstreamError {
    /// The claims challenge, from the downstream API or the token endpoint.
    pub fn claims_challenge(&self) -> Option<&ClaimsChallenge> {
        match self {
            Self::ClaimsChallenge(c) => Some(c),
            Self::Token(t) => t.claims_challenge(),
            _ => None,
        }
    }

    fn answer(&self) -> Answer {
        match self {
            Self::Token(t) => t.answer(),
            Self::ClaimsChallenge(c) => Answer::claims(c),
            Self::Request(_) => Answer::new(
                StatusCode::BAD_GATEWAY,
                "downstream_unreachable",
                "the downstream API could not be reached: retry later",
            ),
            Self::InvalidTokenHeader => Answer::new(
                StatusCode::BAD_GATEWAY,
                "token_endpoint_invalid_response",
                "the identity provider's token cannot be sent as a header: the API's operator \
                 finds the cause in its log",
            ),
            Self::Refused { status } => Answer::new(
                StatusCode::BAD_GATEWAY,
                "downstream_refused",
                format!("the downstream API answered {status}"),
            ),
            Self::InvalidBody { status } => Answer::new(
                StatusCode::BAD_GATEWAY,
                "downstream_invalid_response",
                format!("the downstream API answered {status} with a body that is not the expected JSON"),
            ),
        }
    }

    /// The HTTP status of the answer to the API's caller.
    pub fn status(&self) -> StatusCode {
        self.answer().status
    }

    /// The stable machine code of the answer's problem body.
    pub fn code(&self) -> &'static str {
        self.answer().code
    }

    /// The answer to the API's caller, as [`TokenError::to_response`] (which lists the codes).
    pub fn to_response<B: From<Bytes>>(&self) -> http::Response<B> {
        let answer = self.answer();
        answer::log(&answer, self);
        answer.into_response()
    }
}

#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for DownstreamError {
    fn into_response(self) -> axum_core::response::Response {
        self.to_response()
    }
}

impl DownstreamApi {
    /// Calls with tokens for `scopes` from `credential` (a [`ConfidentialClient`](crate::ConfidentialClient),
    /// a [`PublicClient`](crate::PublicClient), a [`StaticToken`](crate::StaticToken), an
    /// `Arc<dyn TokenCredential>`).
    pub fn new(credential: impl TokenCredential + 'static, scopes: Scopes) -> Self {
        Self {
            credential: Arc::new(credential),
            scopes,
        }
    }

    /// The scopes.
    pub fn scopes(&self) -> &Scopes {
        &self.scopes
    }

    /// Sends `request` on behalf of `user` (the incoming token; the credential must be a
    /// [`ConfidentialClient`](crate::ConfidentialClient)).
    ///
    /// # Errors
    /// [`DownstreamError::Token`] (the request is not sent), [`DownstreamError::ClaimsChallenge`],
    /// [`DownstreamError::Request`]. Any other answer, 401 after the retry included, is returned
    /// as a response.
    pub async fn send_on_behalf_of(
        &self,
        user: &UserAssertion,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, DownstreamError> {
        self.send_with(TokenRequestOptions::on_behalf_of(user), request)
            .await
    }

    /// Sends `request` with the credential's own token: the application's (client credentials)
    /// for a [`ConfidentialClient`](crate::ConfidentialClient), the signed-in user's for a
    /// [`PublicClient`](crate::PublicClient).
    ///
    /// # Errors
    /// As [`send_on_behalf_of`](Self::send_on_behalf_of).
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, DownstreamError> {
        self.send_with(TokenRequestOptions::default(), request)
            .await
    }

    /// The JSON body of a successful `response` (2xx).
    ///
    /// # Errors
    /// [`DownstreamError::Refused`] for any other status, [`DownstreamError::InvalidBody`] when
    /// the body is not `T` as JSON, [`DownstreamError::Request`] when it cannot be read.
    pub async fn json<T: serde::de::DeserializeOwned>(
        response: reqwest::Response,
    ) -> Result<T, DownstreamError> {
        let status = response.status();
        if !status.is_success() {
            tracing::debug!(target: "entra_token", %status, "downstream API refused the call");
            return Err(DownstreamError::Refused { status });
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| DownstreamError::Request(e.without_url()))?;
        serde_json::from_slice(&body).map_err(|_| DownstreamError::InvalidBody { status })
    }

    async fn send_with(
        &self,
        options: TokenRequestOptions<'_>,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, DownstreamError> {
        let token = self.token(options).await?;
        let retry = request.try_clone();
        let first = with_token(request, &token)?
            .send()
            .await
            .map_err(|e| DownstreamError::Request(e.without_url()))?;
        if first.status() != StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        if let Some(challenge) = self.claims_challenge(first.headers()) {
            return Err(DownstreamError::ClaimsChallenge(challenge));
        }
        let Some(retry) = retry else {
            // A streaming body cannot be sent twice: hand back the 401.
            return Ok(first);
        };
        tracing::debug!(target: "entra_token", "downstream answered 401; retrying once with a new token");
        let fresh = self.token(options.rejecting(&token)).await?;
        let second = with_token(retry, &fresh)?
            .send()
            .await
            .map_err(|e| DownstreamError::Request(e.without_url()))?;
        if second.status() == StatusCode::UNAUTHORIZED {
            if let Some(challenge) = self.claims_challenge(second.headers()) {
                return Err(DownstreamError::ClaimsChallenge(challenge));
            }
        }
        Ok(second)
    }

    async fn token(&self, options: TokenRequestOptions<'_>) -> Result<AccessToken, TokenError> {
        self.credential.get_token(&self.scopes, options).await
    }

    /// The downstream API's claims challenge, naming the credential's authority as where the
    /// user signs in again.
    fn claims_challenge(&self, headers: &http::HeaderMap) -> Option<ClaimsChallenge> {
        crate::token_credential::claims_challenge_from(headers, self.credential.as_ref())
    }
}

fn with_token(
    request: reqwest::RequestBuilder,
    token: &AccessToken,
) -> Result<reqwest::RequestBuilder, DownstreamError> {
    let value = token
        .authorization_header()
        .ok_or(DownstreamError::InvalidTokenHeader)?;
    Ok(request.header(http::header::AUTHORIZATION, value))
}
