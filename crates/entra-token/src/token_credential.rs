//! "Something that gives a token": [`TokenCredential`] (after azure_core's trait of the same
//! name), so that [`DownstreamApi`](crate::DownstreamApi), [`BearerLayer`](crate::BearerLayer)
//! and applications take any token source instead of one concrete client.
//!
//! | implementation | [`get_token`](TokenCredential::get_token) | with [`TokenRequestOptions::on_behalf_of`] |
//! |---|---|---|
//! | [`ConfidentialClient`](crate::ConfidentialClient) | a token for the application (client credentials) | the on-behalf-of grant for that user |
//! | [`PublicClient`](crate::PublicClient) | the signed-in user's token, silently (cache, then refresh token) | refused: [`TokenError::OnBehalfOfUnsupported`] |
//! | [`StaticToken`] | the token it was given | refused: [`TokenError::OnBehalfOfUnsupported`] |
//! | [`ManagedIdentityCredential`](crate::ManagedIdentityCredential) | the managed identity's token for one `{resource}/.default` | refused: [`TokenError::OnBehalfOfUnsupported`] |
//!
//! The trait is object-safe: hold an `Arc<dyn TokenCredential>` to choose the source at run time.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, SystemTime};
//! use entra_token::{Scopes, StaticToken, TokenCredential, TokenRequestOptions};
//!
//! # async fn run() -> Result<(), entra_token::TokenError> {
//! let source: Arc<dyn TokenCredential> = Arc::new(StaticToken::new(
//!     "eyJ0eXAiOi...",
//!     SystemTime::now() + Duration::from_secs(600),
//! ));
//! let scopes = Scopes::parse("api://weather/weather.read");
//! let token = source.get_token(&scopes, TokenRequestOptions::default()).await?;
//! assert_eq!(token.secret(), "eyJ0eXAiOi...");
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(run()).unwrap();
//! ```

use std::sync::Arc;
use std::time::SystemTime;

use crate::assertion::UserAssertion;
use crate::authority::Authority;
use crate::error::{ClaimsChallenge, TokenError};
use crate::token::{AccessToken, Scopes};
use crate::transport::BoxFuture;

/// A source of access tokens (see the [module docs](self)).
pub trait TokenCredential: Send + Sync + std::fmt::Debug {
    /// A token for `scopes`.
    ///
    /// # Errors
    /// The source's [`TokenError`]s; [`TokenError::OnBehalfOfUnsupported`] when `options` asks
    /// for a user the source cannot act for.
    fn get_token<'a>(
        &'a self,
        scopes: &'a Scopes,
        options: TokenRequestOptions<'a>,
    ) -> BoxFuture<'a, Result<AccessToken, TokenError>>;

    /// The authority the tokens come from, if known: where a user signs in again to answer a
    /// claims challenge (its authorize endpoint becomes the challenge's `authorization_uri`).
    fn authority(&self) -> Option<&Authority> {
        None
    }
}

/// What else a token request needs besides its scopes.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct TokenRequestOptions<'a> {
    /// Act for this user (the on-behalf-of grant), not as the credential itself.
    pub on_behalf_of: Option<&'a UserAssertion>,
    /// A token the API refused before its expiry: never return it again (a newer cached one, or a
    /// new one).
    pub rejected: Option<&'a AccessToken>,
}

impl<'a> TokenRequestOptions<'a> {
    /// On behalf of `user`.
    pub fn on_behalf_of(user: &'a UserAssertion) -> Self {
        Self {
            on_behalf_of: Some(user),
            rejected: None,
        }
    }

    /// Never returns `token` (which the API refused).
    pub fn rejecting(mut self, token: &'a AccessToken) -> Self {
        self.rejected = Some(token);
        self
    }
}

impl<T: TokenCredential + ?Sized> TokenCredential for Arc<T> {
    fn get_token<'a>(
        &'a self,
        scopes: &'a Scopes,
        options: TokenRequestOptions<'a>,
    ) -> BoxFuture<'a, Result<AccessToken, TokenError>> {
        (**self).get_token(scopes, options)
    }

    fn authority(&self) -> Option<&Authority> {
        (**self).authority()
    }
}

/// A token obtained elsewhere (given on a command line, by another library, in a test), handed
/// out as it is for any scopes until it expires. `Debug` never shows it.
#[derive(Debug, Clone)]
pub struct StaticToken {
    token: AccessToken,
}

impl StaticToken {
    /// `token`, valid until `expires_at`.
    pub fn new(token: &str, expires_at: SystemTime) -> Self {
        Self {
            token: AccessToken::new(Arc::from(token), expires_at, expires_at),
        }
    }
}

/// The token, whatever the scopes; [`TokenError::StaticTokenExpired`] after its expiry or once
/// the API refused it (it cannot be renewed).
impl TokenCredential for StaticToken {
    fn get_token<'a>(
        &'a self,
        _scopes: &'a Scopes,
        options: TokenRequestOptions<'a>,
    ) -> BoxFuture<'a, Result<AccessToken, TokenError>> {
        let result = if options.on_behalf_of.is_some() {
            Err(TokenError::OnBehalfOfUnsupported {
                credential: "StaticToken",
            })
        } else if options.rejected.is_some() || SystemTime::now() >= self.token.expires_at() {
            Err(TokenError::StaticTokenExpired)
        } else {
            Ok(self.token.clone())
        };
        Box::pin(std::future::ready(result))
    }
}

/// The claims challenge of a downstream 401's headers, with `credential`'s authorize endpoint.
pub(crate) fn claims_challenge_from(
    headers: &http::HeaderMap,
    credential: &dyn TokenCredential,
) -> Option<ClaimsChallenge> {
    let challenge = crate::challenge::claims_challenge(headers)?;
    Some(match credential.authority() {
        Some(a) => challenge.with_authorization_uri(a.authorize_endpoint().as_str()),
        None => challenge,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn static_token_is_handed_out_until_refused_or_expired() {
        let scopes = Scopes::parse("api://x/read");
        let live = StaticToken::new("abc.def.ghi", SystemTime::now() + Duration::from_secs(60));
        let t = block_on(live.get_token(&scopes, TokenRequestOptions::default())).unwrap();
        assert_eq!(t.secret(), "abc.def.ghi");
        let refused =
            block_on(live.get_token(&scopes, TokenRequestOptions::default().rejecting(&t)));
        assert!(
            matches!(refused, Err(TokenError::StaticTokenExpired)),
            "{refused:?}"
        );
        let old = StaticToken::new("abc.def.ghi", SystemTime::now() - Duration::from_secs(1));
        let expired = block_on(old.get_token(&scopes, TokenRequestOptions::default()));
        assert!(
            matches!(expired, Err(TokenError::StaticTokenExpired)),
            "{expired:?}"
        );
        assert!(!format!("{live:?}").contains("abc.def"));
    }
}
