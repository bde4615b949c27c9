//! Calling a downstream API with a fresh token: [`DownstreamApi`] attaches `Authorization:
//! Bearer` to an outgoing `reqwest` request (as the app, or on behalf of the request's user),
//! turns a downstream 401 carrying a claims challenge into a [`ClaimsChallenge`], and retries a
//! plain 401 once with a token that bypasses the cache.

use base64::Engine as _;
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
        if let Some(challenge) = claims_challenge(first.headers()) {
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
            if let Some(challenge) = claims_challenge(second.headers()) {
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

/// A `Bearer error="insufficient_claims", claims="<base64 JSON>"` challenge in
/// `WWW-Authenticate`, decoded.
pub(crate) fn claims_challenge(headers: &http::HeaderMap) -> Option<ClaimsChallenge> {
    headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let params = auth_params(v.trim().strip_prefix("Bearer")?);
            let error = params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("error"))?;
            if error.1 != "insufficient_claims" {
                return None;
            }
            let claims = params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("claims"))?;
            let json = base64::engine::general_purpose::STANDARD
                .decode(claims.1.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())?;
            serde_json::from_str::<serde_json::Value>(&json).ok()?;
            Some(ClaimsChallenge::new(json))
        })
}

/// RFC 9110 auth-params: `k=v` or `k="quoted \" value"`, comma-separated.
fn auth_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key.trim().to_owned(), value.trim().to_owned()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::WWW_AUTHENTICATE, v.parse().unwrap());
        h
    }

    #[test]
    fn graph_style_claims_challenge_is_decoded() {
        let claims = r#"{"access_token":{"nbf":{"essential":true,"value":"1"}}}"#;
        let b64 = base64::engine::general_purpose::STANDARD.encode(claims);
        let h = headers(&format!(
            r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="{b64}""#
        ));
        assert_eq!(claims_challenge(&h).unwrap().claims(), claims);
    }

    #[test]
    fn invalid_token_challenge_is_not_claims_challenge() {
        let h = headers(r#"Bearer error="invalid_token", error_description="expired""#);
        assert!(claims_challenge(&h).is_none());
    }

    #[test]
    fn claims_that_are_not_base64_json_are_ignored() {
        let h = headers(r#"Bearer error="insufficient_claims", claims="!!!""#);
        assert!(claims_challenge(&h).is_none());
    }

    #[test]
    fn quoted_values_keep_commas_and_escapes() {
        let p = auth_params(r#" a="x, \"y\"", b=z"#);
        assert_eq!(
            p,
            vec![("a".into(), "x, \"y\"".into()), ("b".into(), "z".into())]
        );
    }
}
