//! Calling a downstream API with a fresh token: [`DownstreamApi`] attaches `Authorization:
//! Bearer` to an outgoing `reqwest` request (as the app, or on behalf of the request's user),
//! turns a downstream 401 carrying a claims challenge into a [`ClaimsChallenge`], and retries a
//! plain 401 once with a token that bypasses the cache.

use http::StatusCode;

use crate::assertion::UserAssertion;
use crate::confidential::ConfidentialClient;
use crate::error::{ClaimsChallenge, TokenError};
use crate::token::{AccessToken, Scopes};

/// A downstream API reached with tokens for `scopes`.
#[derive(Debug, Clone)]
pub struct DownstreamApi {
    client: ConfidentialClient,
    scopes: Scopes,
}

/// Why a downstream call failed.
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
}

impl DownstreamApi {
    /// Calls with tokens for `scopes` from `client`.
    pub fn new(client: ConfidentialClient, scopes: Scopes) -> Self {
        Self { client, scopes }
    }

    /// The scopes.
    pub fn scopes(&self) -> &Scopes {
        &self.scopes
    }

    /// Sends `request` on behalf of `user` (the incoming token).
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
        let token = self.client.acquire_on_behalf_of(user, &self.scopes).await?;
        self.send(request, token, |rejected| async move {
            self.client
                .reacquire_on_behalf_of(user, &self.scopes, &rejected)
                .await
        })
        .await
    }

    /// Sends `request` as the application (client credentials).
    ///
    /// # Errors
    /// As [`send_on_behalf_of`](Self::send_on_behalf_of).
    pub async fn send_as_app(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, DownstreamError> {
        let token = self.client.acquire_for_app(&self.scopes).await?;
        self.send(request, token, |rejected| async move {
            self.client.reacquire_for_app(&self.scopes, &rejected).await
        })
        .await
    }

    async fn send<F, Fut>(
        &self,
        request: reqwest::RequestBuilder,
        token: AccessToken,
        reacquire: F,
    ) -> Result<reqwest::Response, DownstreamError>
    where
        F: FnOnce(AccessToken) -> Fut,
        Fut: std::future::Future<Output = Result<AccessToken, TokenError>>,
    {
        let retry = request.try_clone();
        let first = with_token(request, &token)?
            .send()
            .await
            .map_err(|e| DownstreamError::Request(e.without_url()))?;
        if first.status() != StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        if let Some(challenge) = crate::challenge::claims_challenge(first.headers()) {
            return Err(DownstreamError::ClaimsChallenge(challenge));
        }
        let Some(retry) = retry else {
            // A streaming body cannot be sent twice: hand back the 401.
            return Ok(first);
        };
        tracing::debug!(target: "entra_token", "downstream answered 401; retrying once with a new token");
        let fresh = reacquire(token).await?;
        let second = with_token(retry, &fresh)?
            .send()
            .await
            .map_err(|e| DownstreamError::Request(e.without_url()))?;
        if second.status() == StatusCode::UNAUTHORIZED {
            if let Some(challenge) = crate::challenge::claims_challenge(second.headers()) {
                return Err(DownstreamError::ClaimsChallenge(challenge));
            }
        }
        Ok(second)
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
