//! A managed identity as the federated credential of an app registration: the identity's token for
//! the token exchange audience (`api://AzureADTokenExchange`) is the confidential client's
//! `client_assertion` (`client_assertion_type` jwt-bearer), for client credentials and on-behalf-of
//! alike; no secret, no certificate to rotate. The identity's token lives in the
//! [`ManagedIdentityCredential`]'s own cache, apart from the tokens it buys.

use super::{ManagedIdentityCredential, ManagedIdentityError, TOKEN_EXCHANGE_AUDIENCE};
use crate::token::AccessToken;

/// A managed identity whose token is the client assertion (see
/// [`ClientCredential::managed_identity`](crate::ClientCredential::managed_identity)).
#[derive(Debug, Clone)]
pub struct ManagedIdentityAssertion {
    credential: ManagedIdentityCredential,
    audience: String,
}

impl ManagedIdentityAssertion {
    /// `credential`'s tokens for [`TOKEN_EXCHANGE_AUDIENCE`].
    pub fn new(credential: ManagedIdentityCredential) -> Self {
        Self::with_audience(credential, TOKEN_EXCHANGE_AUDIENCE)
    }

    /// `credential`'s tokens for `audience`: the audience of the app registration's federated
    /// credential (sovereign clouds: `api://AzureADTokenExchangeUSGov`,
    /// `api://AzureADTokenExchangeChina`).
    pub fn with_audience(
        credential: ManagedIdentityCredential,
        audience: impl Into<String>,
    ) -> Self {
        Self {
            credential,
            audience: audience.into(),
        }
    }

    /// The managed identity.
    pub fn credential(&self) -> &ManagedIdentityCredential {
        &self.credential
    }

    /// The audience asked for.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The current assertion: the identity's cached token while it is fresh.
    pub(crate) async fn token(&self) -> Result<AccessToken, ManagedIdentityError> {
        self.credential.acquire(&self.audience).await
    }
}
