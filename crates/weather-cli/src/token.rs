//! Getting an access token, on entra-token: from `--token`/`WEATHER_TOKEN`, or from a
//! [`TokenCredential`]: the active user's sign-in (`weather login`: the cached token, else the
//! refresh token, silently, [`PublicClient`]) or the client-credentials grant
//! ([`ConfidentialClient`], its token kept in the same file across runs).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use entra_token::{
    Authority as TokenAuthority, Certificate, ClientCredential, ConfidentialClient,
    ConfidentialConfig, FileCache, HttpOptions, ManagedIdentityCredential, ManagedIdentityId,
    ManagedIdentityOptions, PublicClient, PublicConfig, Scopes, SignInReason, TokenCredential,
    TokenError, TokenRequestOptions,
};

use crate::config::{Authority, ConfigError, Settings};
use crate::error::{CliError, ConnectFailure, Peer, TokenOrigin};
use entra_core::SecretString;

/// Connect timeout of the identity provider's client (at most the call's time limit).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The cache file's name, in the data directory.
pub(crate) const CACHE_FILE: &str = "tokens.json";

/// The token cache, telling the user when a damaged file is set aside.
pub(crate) fn file_cache(dir: &Path) -> FileCache {
    FileCache::new(dir.join(CACHE_FILE)).on_set_aside(|file, moved| {
        eprintln!(
            "weather: warning: the token cache {} was damaged and was moved to {}; sign in again if \
             you had signed in",
            file.display(),
            moved.display()
        );
    })
}

/// entra-token's view of the authority URL `{instance}{tenant}/`: the last segment is the tenant.
fn split_authority(authority: &Authority) -> (String, String) {
    let url = authority.url.as_str().trim_end_matches('/');
    match url.rsplit_once('/') {
        Some((instance, tenant)) => (format!("{instance}/"), tenant.to_owned()),
        None => (url.to_owned(), String::new()),
    }
}

fn http_options(settings: &Settings) -> HttpOptions {
    HttpOptions {
        timeout: settings.timeout,
        connect_timeout: CONNECT_TIMEOUT.min(settings.timeout),
        ..HttpOptions::default()
    }
}

/// The public client of `weather login` and of the signed-in user's commands.
///
/// # Errors
/// [`ConfigError::Missing`] without a public client id; [`ConfigError::Authority`].
pub(crate) fn public_client(
    settings: &Settings,
    cache: FileCache,
) -> Result<PublicClient, CliError> {
    let client_id = settings
        .public_client_id
        .as_deref()
        .ok_or(ConfigError::Missing {
        key: "public_client_id",
        how: "set --public-client-id (public_client_id in the settings file): an app registration \
                  allowing public client flows, with the redirect URI http://127.0.0.1/",
    })?;
    let (instance, tenant) = split_authority(&settings.authority);
    let authority = TokenAuthority::public(&tenant)
        .and_then(|a| a.with_instance(&instance))
        .map_err(ConfigError::Authority)?;
    let config = PublicConfig::builder(authority, client_id, cache)
        .http(http_options(settings))
        .build()
        .map_err(ConfigError::Authority)?;
    Ok(PublicClient::new(config).map_err(ConfigError::Authority)?)
}

/// The scopes a user signs in for.
///
/// # Errors
/// [`ConfigError::Missing`].
pub(crate) fn user_scopes(settings: &Settings) -> Result<Scopes, ConfigError> {
    settings
        .user_scope
        .as_deref()
        .map(Scopes::parse)
        .ok_or(ConfigError::Missing {
            key: "api_client_id",
            how: "set --api-client-id (api_client_id in the settings file) or --user-scope",
        })
}

/// The confidential client's credential: the host's managed identity when one is named, else its
/// certificate file when one is set, else its secret.
fn client_credential(settings: &Settings) -> Result<Option<ClientCredential>, CliError> {
    if let Some(mi) = &settings.client_managed_identity {
        let id = if mi.eq_ignore_ascii_case("system") {
            ManagedIdentityId::SystemAssigned
        } else {
            ManagedIdentityId::ClientId(mi.clone())
        };
        // The CLI is the application: it hands its environment over.
        let credential = ManagedIdentityCredential::from_env_vars(
            std::env::vars(),
            id,
            ManagedIdentityOptions::default(),
        )
        .map_err(ConfigError::ManagedIdentity)?;
        return Ok(Some(ClientCredential::managed_identity(credential)));
    }
    if let Some(path) = &settings.client_certificate {
        let password = settings.client_certificate_password.as_ref();
        let certificate =
            Certificate::from_file(path, password).map_err(|source| ConfigError::Certificate {
                path: path.clone(),
                source,
            })?;
        return Ok(Some(ClientCredential::certificate(certificate)));
    }
    Ok(settings.client_secret.clone().map(ClientCredential::Secret))
}

fn confidential_client(
    settings: &Settings,
    client_id: &str,
    credential: ClientCredential,
    cache: Option<FileCache>,
) -> Result<ConfidentialClient, CliError> {
    let (instance, tenant) = split_authority(&settings.authority);
    let authority = TokenAuthority::tenant(&tenant)
        .and_then(|a| a.with_instance(&instance))
        .map_err(ConfigError::Authority)?;
    let mut builder =
        ConfidentialConfig::builder(authority, client_id, credential).http(http_options(settings));
    if let Some(cache) = cache {
        builder = builder.shared_cache(Arc::new(cache));
    }
    let config = builder.build().map_err(ConfigError::Authority)?;
    Ok(ConfidentialClient::new(config).map_err(ConfigError::Authority)?)
}

/// How this run gets its token.
#[derive(Debug)]
enum Plan {
    /// Given outright.
    Given(SecretString),
    /// From a token source: the active user's sign-in ([`PublicClient`], silently) or the
    /// client-credentials grant ([`ConfidentialClient`]).
    Source {
        credential: Arc<dyn TokenCredential>,
        scopes: Scopes,
        origin: TokenOrigin,
        /// The account's name (a user's sign-in) or the client id (client credentials), for
        /// messages.
        who: String,
    },
}

/// Hands out the token of this run and renews it once if the service refuses an app-only one.
#[derive(Debug)]
pub(crate) struct TokenProvider {
    plan: Plan,
    authority: Authority,
    current: Option<entra_token::AccessToken>,
    given: Option<SecretString>,
}

impl TokenProvider {
    /// Chooses the token source: `--token`, else the active signed-in account, else client
    /// credentials.
    ///
    /// # Errors
    /// [`CliError::NoCredentials`] when there is nothing to get a token with; [`CliError::Token`]
    /// (the cache cannot be read); [`CliError::Config`].
    pub(crate) async fn choose(
        settings: &Settings,
        cache_dir: Option<PathBuf>,
    ) -> Result<Self, CliError> {
        let cache = cache_dir.as_deref().map(file_cache);
        let plan = if let Some(token) = &settings.token {
            Plan::Given(token.clone())
        } else {
            let active = match (&cache, &settings.public_client_id) {
                (Some(cache), Some(_)) => cache
                    .active_account()
                    .await
                    .map_err(|e| token_error(TokenError::Cache(e), settings, TokenOrigin::User))?,
                _ => None,
            };
            let has_credential =
                settings.client_secret.is_some() || settings.client_certificate.is_some();
            match (active, cache, &settings.client_id, has_credential) {
                (Some(account), Some(cache), _, _) => Plan::Source {
                    credential: Arc::new(public_client(settings, cache)?),
                    scopes: user_scopes(settings)?,
                    origin: TokenOrigin::User,
                    who: account.display_name(),
                },
                (None, cache, Some(client_id), true) => {
                    let scope = settings.scope.as_deref().ok_or(ConfigError::Missing {
                        key: "scope",
                        how: "set --api-client-id (api_client_id in the settings file) or --scope",
                    })?;
                    let credential = client_credential(settings)?.ok_or(ConfigError::Missing {
                        key: "client_secret",
                        how: "set --client-secret or --client-certificate",
                    })?;
                    let client = confidential_client(settings, client_id, credential, cache)?;
                    Plan::Source {
                        who: client.config().client_id().to_owned(),
                        credential: Arc::new(client),
                        scopes: Scopes::parse(scope),
                        origin: TokenOrigin::ClientCredentials,
                    }
                }
                _ => {
                    return Err(CliError::NoCredentials {
                        authority: settings.authority.url.clone(),
                    })
                }
            }
        };
        Ok(Self {
            plan,
            authority: settings.authority.clone(),
            current: None,
            given: None,
        })
    }

    /// Where the token comes from.
    pub(crate) fn origin(&self) -> TokenOrigin {
        match self.plan {
            Plan::Given(_) => TokenOrigin::Given,
            Plan::Source { origin, .. } => origin,
        }
    }

    /// Whether [`TokenProvider::token`] may make a network call.
    pub(crate) fn needs_request(&self) -> bool {
        !matches!(self.plan, Plan::Given(_)) && self.current.is_none()
    }

    /// The token to send.
    ///
    /// # Errors
    /// [`CliError::SignInExpired`] / [`CliError::SignInRevoked`] (sign in again), and the token
    /// endpoint's refusals and failures ([`token_error`]).
    pub(crate) async fn token(&mut self) -> Result<SecretString, CliError> {
        if let Some(t) = &self.given {
            return Ok(t.clone());
        }
        if let Some(t) = &self.current {
            return Ok(SecretString::from(t.secret()));
        }
        let token = match &self.plan {
            Plan::Given(t) => {
                self.given = Some(t.clone());
                return Ok(t.clone());
            }
            Plan::Source {
                credential, scopes, ..
            } => credential
                .get_token(scopes, TokenRequestOptions::default())
                .await
                .map_err(|e| self.source_error(e))?,
        };
        let secret = SecretString::from(token.secret());
        self.current = Some(token);
        Ok(secret)
    }

    /// The service refused the current token before its expiry. A token from the cache (app-only
    /// or the user's) is replaced, never served again, and `true` says that asking again can
    /// help; otherwise (a given token) `false`.
    ///
    /// # Errors
    /// As [`TokenProvider::token`].
    pub(crate) async fn refused(&mut self) -> Result<bool, CliError> {
        let Some(rejected) = &self.current else {
            return Ok(false);
        };
        let fresh = match &self.plan {
            Plan::Given(_) => return Ok(false),
            Plan::Source {
                credential, scopes, ..
            } => credential
                .get_token(scopes, TokenRequestOptions::default().rejecting(rejected))
                .await
                .map_err(|e| self.source_error(e))?,
        };
        self.current = Some(fresh);
        Ok(true)
    }

    /// A token source's failure, in the words of its origin.
    fn source_error(&self, e: TokenError) -> CliError {
        match &self.plan {
            Plan::Source {
                origin: TokenOrigin::User,
                who,
                ..
            } => user_error(e, who, &self.authority),
            Plan::Source { who, origin, .. } => map_error(e, who, &self.authority, *origin),
            Plan::Given(_) => map_error(e, "", &self.authority, TokenOrigin::Given),
        }
    }
}

/// A silent sign-in's failure: sign in again, said plainly, or the token endpoint's answer.
fn user_error(e: TokenError, account: &str, authority: &Authority) -> CliError {
    match e {
        TokenError::SignInRequired {
            reason: SignInReason::RefreshTokenRefused,
            refusal,
        } => CliError::SignInRevoked {
            account: account.to_owned(),
            code: refusal.map_or(0, |r| r.primary_code()),
        },
        TokenError::SignInRequired { .. } => CliError::SignInExpired {
            account: account.to_owned(),
        },
        other => map_error(other, "", authority, TokenOrigin::User),
    }
}

/// The settings' view of an error of the token cache or the token endpoint.
pub(crate) fn token_error(e: TokenError, settings: &Settings, origin: TokenOrigin) -> CliError {
    let client_id = match origin {
        TokenOrigin::ClientCredentials => settings.client_id.as_deref(),
        _ => settings.public_client_id.as_deref(),
    };
    map_error(e, client_id.unwrap_or(""), &settings.authority, origin)
}

fn map_error(
    e: TokenError,
    client_id: &str,
    authority: &Authority,
    origin: TokenOrigin,
) -> CliError {
    let service_hosts_issuer = authority.is_hosted_by_service;
    match e {
        TokenError::Rejected(a) => CliError::TokenRefused {
            client_id: client_id.to_owned(),
            error: a.error.clone(),
            description: a.description.clone(),
        },
        TokenError::InvalidResponse { status, .. } => CliError::IdentityProviderAnswer {
            url: authority.token_endpoint(),
            status: status.as_u16(),
            service_hosts_issuer,
        },
        TokenError::Timeout { .. } => CliError::Unreachable {
            peer: Peer::IdentityProvider,
            url: authority.token_endpoint(),
            failure: ConnectFailure::TimedOut,
            service_hosts_issuer,
            source: Box::new(e),
        },
        TokenError::Transport(t) => CliError::Unreachable {
            peer: Peer::IdentityProvider,
            url: authority.token_endpoint(),
            failure: ConnectFailure::of(&t),
            service_hosts_issuer,
            source: Box::new(t),
        },
        other => CliError::Token {
            error: other,
            origin,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority(url: &str) -> Authority {
        Authority {
            url: url::Url::parse(url).unwrap(),
            is_development: false,
            is_hosted_by_service: false,
        }
    }

    #[test]
    fn authority_url_splits_into_instance_and_tenant() {
        assert_eq!(
            split_authority(&authority(
                "http://127.0.0.1:8000/dev-issuer/7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a/"
            )),
            (
                "http://127.0.0.1:8000/dev-issuer/".to_owned(),
                "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a".to_owned()
            )
        );
        assert_eq!(
            split_authority(&authority(
                "https://login.microsoftonline.com/organizations/"
            )),
            (
                "https://login.microsoftonline.com/".to_owned(),
                "organizations".to_owned()
            )
        );
    }

    #[test]
    fn refused_refresh_token_is_sign_in_revoked_and_a_missing_one_is_expired() {
        let a = authority("https://login.example/t/");
        let revoked = user_error(
            TokenError::SignInRequired {
                reason: SignInReason::RefreshTokenRefused,
                refusal: None,
            },
            "Alice",
            &a,
        );
        assert!(matches!(revoked, CliError::SignInRevoked { .. }));
        assert_eq!(revoked.exit_code(), crate::exit::AUTH);
        let expired = user_error(
            TokenError::SignInRequired {
                reason: SignInReason::NoRefreshToken,
                refusal: None,
            },
            "Alice",
            &a,
        );
        assert_eq!(
            expired.to_string(),
            "not signed in: the sign-in of Alice has expired"
        );
    }
}
