//! Getting an access token: from `--token`/`WEATHER_TOKEN`, from a user's cached sign-in (`weather login`),
//! or with the client-credentials grant, reusing cached tokens until shortly before they expire.

use serde_json::Value;

use crate::cache::{now_unix, CacheKey, CachedToken, TokenCache, TokenKind};
use crate::config::{Authority, ConfigError, Settings};
use crate::error::{CliError, ConnectFailure, Peer, TokenOrigin};
use crate::secret::Secret;

/// A successful token response (RFC 6749 section 5.1).
#[derive(Debug, Clone)]
pub(crate) struct TokenResponse {
    /// The access token.
    pub(crate) access_token: Secret,
    /// Lifetime in seconds (`expires_in`; Entra's v1 endpoint sends it as a string).
    pub(crate) expires_in: u64,
    /// Granted scopes, when the server says.
    pub(crate) scope: Option<String>,
    /// The ID token (user sign-in with `openid`).
    pub(crate) id_token: Option<Secret>,
}

impl TokenResponse {
    /// Parses a token endpoint's 200 body.
    ///
    /// # Errors
    /// `None` when the body is not a token response.
    pub(crate) fn parse(body: &[u8]) -> Option<Self> {
        let v: Value = serde_json::from_slice(body).ok()?;
        let access_token = v.get("access_token")?.as_str()?.to_owned();
        let expires_in = match v.get("expires_in") {
            Some(Value::Number(n)) => n.as_u64()?,
            Some(Value::String(s)) => s.parse().ok()?,
            // Without a lifetime, assume the shortest Entra issues (and the cache margin still applies).
            _ => 300,
        };
        Some(Self {
            access_token: Secret::new(access_token),
            expires_in,
            scope: v.get("scope").and_then(Value::as_str).map(str::to_owned),
            id_token: v.get("id_token").and_then(Value::as_str).map(Secret::new),
        })
    }

    /// The cache entry for this response, obtained at `now`.
    pub(crate) fn to_cached(
        &self,
        key: CacheKey,
        kind: TokenKind,
        now: u64,
        account: Option<String>,
    ) -> CachedToken {
        CachedToken {
            key,
            kind,
            access_token: self.access_token.clone(),
            expires_at: now.saturating_add(self.expires_in),
            account,
            granted_scope: self.scope.clone(),
        }
    }
}

/// POSTs `form` to the authority's token endpoint.
///
/// # Errors
/// [`CliError::Unreachable`], [`CliError::TokenRefused`] (an OAuth 2.0 error answer) or
/// [`CliError::IdentityProviderAnswer`].
pub(crate) async fn request_token(
    http: &reqwest::Client,
    authority: &Authority,
    client_id: &str,
    form: &[(&str, &str)],
) -> Result<TokenResponse, CliError> {
    let url = authority.token_endpoint();
    let response = http
        .post(url.clone())
        .form(form)
        .send()
        .await
        .map_err(|source| CliError::Unreachable {
            peer: Peer::IdentityProvider,
            url: url.clone(),
            failure: ConnectFailure::of(&source),
            service_hosts_issuer: authority.is_hosted_by_service,
            source,
        })?;
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    if (200..300).contains(&status) {
        return TokenResponse::parse(&body).ok_or(CliError::IdentityProviderAnswer {
            url,
            status,
            service_hosts_issuer: authority.is_hosted_by_service,
        });
    }
    let error: Option<(String, String)> =
        serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
            let error = v.get("error")?.as_str()?.to_owned();
            let description = v
                .get("error_description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            Some((error, description))
        });
    match error {
        Some((error, description)) => Err(CliError::TokenRefused {
            client_id: client_id.to_owned(),
            error,
            description,
        }),
        None => Err(CliError::IdentityProviderAnswer {
            url,
            status,
            service_hosts_issuer: authority.is_hosted_by_service,
        }),
    }
}

/// The cache key of a user's sign-in with these settings (None when login is not configured).
pub(crate) fn user_key(settings: &Settings, user_scope: Option<&str>) -> Option<CacheKey> {
    Some(CacheKey {
        authority: settings.authority.url.to_string(),
        client_id: settings.public_client_id.clone()?,
        scope: user_scope.or(settings.user_scope.as_deref())?.to_owned(),
    })
}

/// How this run gets its token.
#[derive(Debug)]
enum Plan {
    /// Given outright.
    Given(Secret),
    /// A user's cached sign-in.
    User(CachedToken),
    /// The client-credentials grant.
    ClientCredentials {
        /// Cache key (authority, client, scope).
        key: CacheKey,
        /// The client secret.
        secret: Secret,
    },
}

/// Hands out the token of this run and renews it once if the service refuses a cached one.
#[derive(Debug)]
pub(crate) struct TokenProvider {
    plan: Plan,
    http: reqwest::Client,
    authority: Authority,
    cache: Option<TokenCache>,
    current: Option<Secret>,
    current_from_cache: bool,
}

impl TokenProvider {
    /// Chooses the token source: `--token`, else a cached user sign-in, else client credentials.
    ///
    /// # Errors
    /// [`CliError::NoCredentials`] when there is nothing to get a token with; [`CliError::Cache`].
    pub(crate) async fn choose(
        settings: &Settings,
        http: reqwest::Client,
        cache: Option<TokenCache>,
    ) -> Result<Self, CliError> {
        let plan = if let Some(token) = &settings.token {
            Plan::Given(token.clone())
        } else {
            let signed_in = match (&cache, user_key(settings, None)) {
                (Some(cache), Some(key)) => cache.get(&key).await?,
                _ => None,
            };
            match (signed_in, &settings.client_id, &settings.client_secret) {
                (Some(user), _, _) => Plan::User(user),
                (None, Some(client_id), Some(secret)) => {
                    let scope = settings.scope.clone().ok_or(ConfigError::Missing {
                        key: "scope",
                        how: "set --api-client-id (api_client_id in the settings file) or --scope",
                    })?;
                    Plan::ClientCredentials {
                        key: CacheKey {
                            authority: settings.authority.url.to_string(),
                            client_id: client_id.clone(),
                            scope,
                        },
                        secret: secret.clone(),
                    }
                }
                (None, _, _) => {
                    return Err(CliError::NoCredentials {
                        authority: settings.authority.url.clone(),
                    })
                }
            }
        };
        Ok(Self {
            plan,
            http,
            authority: settings.authority.clone(),
            cache,
            current: None,
            current_from_cache: false,
        })
    }

    /// Where the token comes from.
    pub(crate) fn origin(&self) -> TokenOrigin {
        match self.plan {
            Plan::Given(_) => TokenOrigin::Given,
            Plan::User(_) => TokenOrigin::User,
            Plan::ClientCredentials { .. } => TokenOrigin::ClientCredentials,
        }
    }

    /// Whether [`TokenProvider::token`] will make a network call.
    pub(crate) fn needs_request(&self) -> bool {
        self.current.is_none() && matches!(self.plan, Plan::ClientCredentials { .. })
    }

    /// The token to send.
    ///
    /// # Errors
    /// [`CliError::SignInExpired`]; the errors of [`request_token`]; [`CliError::Cache`].
    pub(crate) async fn token(&mut self) -> Result<Secret, CliError> {
        if let Some(t) = &self.current {
            return Ok(t.clone());
        }
        let now = now_unix();
        let token = match &self.plan {
            Plan::Given(t) => t.clone(),
            Plan::User(user) => {
                if !user.is_fresh(now) {
                    return Err(CliError::SignInExpired {
                        account: user
                            .account
                            .clone()
                            .unwrap_or_else(|| "the user".to_owned()),
                    });
                }
                self.current_from_cache = true;
                user.access_token.clone()
            }
            Plan::ClientCredentials { key, secret } => {
                let cached = match &self.cache {
                    Some(cache) => cache.get(key).await?.filter(|t| t.is_fresh(now)),
                    None => None,
                };
                if let Some(cached) = cached {
                    self.current_from_cache = true;
                    cached.access_token
                } else {
                    let response = request_token(
                        &self.http,
                        &self.authority,
                        &key.client_id,
                        &[
                            ("grant_type", "client_credentials"),
                            ("client_id", &key.client_id),
                            ("client_secret", secret.expose()),
                            ("scope", &key.scope),
                        ],
                    )
                    .await?;
                    if let Some(cache) = &self.cache {
                        cache
                            .put(response.to_cached(
                                key.clone(),
                                TokenKind::ClientCredentials,
                                now,
                                None,
                            ))
                            .await?;
                    }
                    self.current_from_cache = false;
                    response.access_token
                }
            }
        };
        self.current = Some(token.clone());
        Ok(token)
    }

    /// The service refused the current token. A cached client-credentials token is dropped from the cache
    /// and `true` says that asking again can help; otherwise `false`.
    ///
    /// # Errors
    /// [`CliError::Cache`].
    pub(crate) async fn refused(&mut self) -> Result<bool, CliError> {
        let renewable = self.current_from_cache;
        if let (Plan::ClientCredentials { key, .. }, true) = (&self.plan, renewable) {
            if let Some(cache) = &self.cache {
                cache.remove(key).await?;
            }
            self.current = None;
            self.current_from_cache = false;
            return Ok(true);
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_responses_parse_numeric_and_string_lifetimes() {
        let r = TokenResponse::parse(
            br#"{"token_type":"Bearer","access_token":"abc","expires_in":3599,"scope":"s"}"#,
        )
        .unwrap();
        assert_eq!(r.access_token.expose(), "abc");
        assert_eq!(r.expires_in, 3599);
        assert_eq!(r.scope.as_deref(), Some("s"));
        let v1 = TokenResponse::parse(br#"{"access_token":"x","expires_in":"3600"}"#).unwrap();
        assert_eq!(v1.expires_in, 3600);
        assert!(TokenResponse::parse(br#"{"error":"invalid_client"}"#).is_none());
        assert!(TokenResponse::parse(b"<html>").is_none());
    }

    #[test]
    fn cache_entries_expire_expires_in_after_the_request() {
        let r = TokenResponse::parse(br#"{"access_token":"x","expires_in":3600}"#).unwrap();
        let key = CacheKey {
            authority: "a".into(),
            client_id: "c".into(),
            scope: "s".into(),
        };
        let cached = r.to_cached(key, TokenKind::ClientCredentials, 1_000, None);
        assert_eq!(cached.expires_at, 4_600);
    }
}
