//! [`PublicClient`]: sign users in from a CLI or desktop app and keep them signed in.
//!
//! * Interactive: the authorization code grant with PKCE through a loopback redirect
//!   ([`loopback`]): [`PublicClient::acquire_interactive`].
//! * Device code (RFC 8628, for machines without a browser: SSH, containers):
//!   [`PublicClient::acquire_by_device_code`] shows the user code and URL through a callback,
//!   then polls at the server's `interval`; `authorization_pending` waits, `slow_down` adds 5 s,
//!   `expired_token` is [`TokenError::DeviceCodeExpired`], `authorization_declined` /
//!   `access_denied` are [`TokenError::SignInDeclined`].
//! * Silent ([`PublicClient::acquire_silent`]): the cache's access token, else the refresh token
//!   (`offline_access` is always asked for). The refresh token of each answer replaces the old
//!   one (Entra rotates them); the cache's lock is held across the redemption so that two
//!   processes never spend one refresh token twice. `invalid_grant` (revoked, expired, password
//!   changed) drops the account's tokens and is [`TokenError::SignInRequired`].
//! * [`PublicClient::acquire`]: silent first, and only then the interaction given.

pub mod device;
pub mod loopback;

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::StatusCode;
use url::Url;

use crate::authority::Authority;
use crate::cache::{Account, AccountEntry};
use crate::config::PublicConfig;
use crate::error::{clip, SignInReason, TokenError};
use crate::response::{self, Tokens};
use crate::token::{AccessToken, Scopes};
use crate::token_credential::{TokenCredential, TokenRequestOptions};
use crate::transport::{post_bounded, BoxFuture, TokenTransport};
use device::{DeviceCodePrompt, Poll, DEVICE_CODE_GRANT};
use entra_core::{ExposeSecret as _, SecretString};
use loopback::{LoopbackListener, Pkce};

/// The OpenID Connect scopes every sign-in adds: an ID token (the account) and a refresh token.
const SIGN_IN_SCOPES: &str = "openid profile offline_access";

/// Signs users in and keeps them signed in. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PublicClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: PublicConfig,
    transport: Arc<dyn TokenTransport>,
}

/// Where a token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSource {
    /// The persistent cache (no network).
    Cache,
    /// Redeemed the refresh token (silently).
    RefreshToken,
    /// The browser sign-in (authorization code + PKCE).
    Interactive,
    /// The device code sign-in.
    DeviceCode,
}

/// A token for the signed-in user.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuthResult {
    /// The access token (redacted in `Debug`).
    pub access_token: AccessToken,
    /// Who it is for.
    pub account: Account,
    /// The scopes granted (the answer's `scope`), when known.
    pub granted_scopes: Option<String>,
    /// Where it came from.
    pub source: TokenSource,
}

/// How [`PublicClient::acquire`] signs the user in when it cannot do so silently.
#[non_exhaustive]
pub enum Interaction<'a> {
    /// Through the browser: `show_url` gets the sign-in URL (print it, open a browser), the
    /// loopback listener waits at most `wait`; `app_name` is shown on its pages.
    Browser {
        /// Shown on the pages the browser gets back.
        app_name: &'a str,
        /// How long to wait for the browser.
        wait: Duration,
        /// Shows the URL.
        show_url: &'a (dyn Fn(&Url) + Send + Sync),
    },
    /// With a device code: `show_prompt` tells the user where to enter which code.
    DeviceCode {
        /// Shows the prompt.
        show_prompt: &'a (dyn Fn(&DeviceCodePrompt) + Send + Sync),
    },
}

impl PublicClient {
    /// A client with the default transport (the configured timeouts and response cap).
    ///
    /// # Errors
    /// [`ConfigError::HttpClient`](crate::ConfigError::HttpClient) when the HTTP client cannot be built.
    #[cfg(feature = "reqwest")]
    pub fn new(config: PublicConfig) -> Result<Self, crate::error::ConfigError> {
        let transport = crate::transport::reqwest_transport(&config.http)?;
        Ok(Self::with_transport(config, transport))
    }

    /// A client posting through `transport` (the configured timeout still bounds each call).
    pub fn with_transport(config: PublicConfig, transport: Arc<dyn TokenTransport>) -> Self {
        Self {
            inner: Arc::new(Inner { config, transport }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PublicConfig {
        &self.inner.config
    }

    /// Silent first, then `interaction`: the cached token, else the refresh token, and only
    /// when the user must sign in again, the browser or the device code.
    ///
    /// # Errors
    /// As [`acquire_silent`](Self::acquire_silent) except `SignInRequired`, then as the
    /// interaction's method.
    pub async fn acquire(
        &self,
        scopes: &Scopes,
        interaction: Interaction<'_>,
    ) -> Result<AuthResult, TokenError> {
        match self.acquire_silent(None, scopes).await {
            Err(e) if e.is_sign_in_required() => {}
            other => return other,
        }
        match interaction {
            Interaction::Browser {
                app_name,
                wait,
                show_url,
            } => {
                self.acquire_interactive(scopes, app_name, wait, show_url)
                    .await
            }
            Interaction::DeviceCode { show_prompt } => {
                self.acquire_by_device_code(scopes, show_prompt).await
            }
        }
    }

    /// A token for `scopes` for the account `account_id` (default: the active account) without
    /// user interaction: the cached access token while it has more than the expiry margin left,
    /// else a new one for the refresh token (which the answer's refresh token replaces).
    ///
    /// # Errors
    /// [`TokenError::SignInRequired`] (no account, no refresh token, or the refresh token was
    /// refused: revoked, expired); [`TokenError::ClaimsChallenge`] (MFA or Conditional Access
    /// need an interactive sign-in with those claims); [`TokenError::Cache`]; the token
    /// endpoint's other errors.
    pub async fn acquire_silent(
        &self,
        account_id: Option<&str>,
        scopes: &Scopes,
    ) -> Result<AuthResult, TokenError> {
        self.silent(account_id, scopes, None).await
    }

    /// Like [`acquire_silent`](Self::acquire_silent), but never returns `rejected` again (an
    /// access token the API refused before its expiry, e.g. after a revocation event): a newer
    /// cached token if another process already replaced it, else one for the refresh token.
    ///
    /// # Errors
    /// As [`acquire_silent`](Self::acquire_silent).
    pub async fn reacquire_silent(
        &self,
        account_id: Option<&str>,
        scopes: &Scopes,
        rejected: &AccessToken,
    ) -> Result<AuthResult, TokenError> {
        self.silent(account_id, scopes, Some(rejected)).await
    }

    async fn silent(
        &self,
        account_id: Option<&str>,
        scopes: &Scopes,
        rejected: Option<&AccessToken>,
    ) -> Result<AuthResult, TokenError> {
        let c = &self.inner.config;
        let instance = c.authority.instance().as_str();
        let mut locked = c.cache.lock().await?;
        let now = c.clock.now();
        let Some(entry) = locked.doc.entry_mut(&c.client_id, instance, account_id) else {
            return Err(sign_in(SignInReason::NoAccount));
        };
        let account = entry.account.clone();
        let cached = entry
            .access_token(scopes.as_str(), now, c.expiry_margin)
            .filter(|(t, _)| rejected.is_none_or(|r| r.secret() != t.secret()));
        if let Some((access_token, granted_scopes)) = cached {
            tracing::debug!(target: "entra_token", account = %account.id, "token from the file cache");
            return Ok(AuthResult {
                access_token,
                account,
                granted_scopes,
                source: TokenSource::Cache,
            });
        }
        let Some(refresh_token) = entry.refresh_token.clone() else {
            return Err(sign_in(SignInReason::NoRefreshToken));
        };
        // Ask again for what was granted last time (the user may have consented to fewer scopes
        // than were asked for: asking for more would be refused with consent_required).
        let ask = entry
            .granted(scopes.as_str())
            .map(Scopes::parse)
            .filter(|g| !g.is_empty())
            .unwrap_or_else(|| scopes.clone());
        let form = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("client_id", c.client_id.clone()),
            ("refresh_token", refresh_token.expose_secret().to_owned()),
            ("scope", sign_in_scope(&ask)),
        ];
        // The file lock is held across the redemption: a refresh token is spent once.
        let answer = self.redeem(form, "refresh_token").await;
        let Some(entry) = locked
            .doc
            .entry_mut(&c.client_id, instance, Some(&account.id))
        else {
            return Err(sign_in(SignInReason::NoAccount));
        };
        match answer {
            Ok(tokens) => {
                if let Some(rotated) = &tokens.refresh_token {
                    entry.refresh_token = Some(SecretString::from(rotated.as_str()));
                }
                entry.put_access_token(
                    scopes.as_str(),
                    &tokens.access,
                    tokens.scope.clone(),
                    c.clock.now(),
                );
                locked.commit().await?;
                tracing::debug!(target: "entra_token", account = %account.id, "token refreshed");
                Ok(AuthResult {
                    access_token: tokens.access,
                    account,
                    granted_scopes: tokens.scope,
                    source: TokenSource::RefreshToken,
                })
            }
            Err(TokenError::Rejected(refusal)) if refusal.error == "invalid_grant" => {
                entry.refresh_token = None;
                entry.access_tokens.clear();
                locked.commit().await?;
                tracing::info!(target: "entra_token", account = %account.id, code = refusal.primary_code(),
                    "the refresh token was refused; the account must sign in again");
                Err(TokenError::SignInRequired {
                    reason: SignInReason::RefreshTokenRefused,
                    refusal: Some(refusal),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Signs the user in through the browser (authorization code + PKCE, loopback redirect):
    /// binds `127.0.0.1:0`, gives `show_url` the sign-in URL (print it, start a browser), waits
    /// at most `wait` for the redirect, redeems the code, and stores the account (now the active
    /// one) and its tokens.
    ///
    /// # Errors
    /// [`TokenError::Loopback`] (listener, time out, forged state), [`TokenError::SignInDeclined`]
    /// (the user cancelled), the token endpoint's errors, [`TokenError::Cache`].
    pub async fn acquire_interactive(
        &self,
        scopes: &Scopes,
        app_name: &str,
        wait: Duration,
        show_url: &(dyn Fn(&Url) + Send + Sync),
    ) -> Result<AuthResult, TokenError> {
        let c = &self.inner.config;
        let listener = LoopbackListener::bind(app_name).await?;
        let redirect_uri = listener.redirect_uri().to_owned();
        let state = loopback::random_token();
        let pkce = Pkce::generate();
        let scope = sign_in_scope(scopes);
        let url = loopback::authorize_url(
            &c.authority.authorize_endpoint(),
            &c.client_id,
            &redirect_uri,
            &scope,
            &state,
            &pkce,
        );
        show_url(&url);
        let code = listener.wait_for_code(&state, wait).await?;
        let form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("client_id", c.client_id.clone()),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", pkce.verifier().to_owned()),
            ("scope", scope),
        ];
        let tokens = self.redeem(form, "authorization_code").await?;
        self.store(scopes, tokens, TokenSource::Interactive).await
    }

    /// Signs the user in with a device code (RFC 8628): asks for a code, gives `show_prompt` the
    /// user code and the verification URL, polls at the server's interval until the user has
    /// signed in on another device, and stores the account (now the active one) and its tokens.
    ///
    /// # Errors
    /// [`TokenError::DeviceCodeExpired`], [`TokenError::SignInDeclined`], the endpoints' other
    /// errors, [`TokenError::Cache`].
    pub async fn acquire_by_device_code(
        &self,
        scopes: &Scopes,
        show_prompt: &(dyn Fn(&DeviceCodePrompt) + Send + Sync),
    ) -> Result<AuthResult, TokenError> {
        let c = &self.inner.config;
        let endpoint = c.authority.device_code_endpoint();
        let body = encode(&[
            ("client_id", c.client_id.clone()),
            ("scope", sign_in_scope(scopes)),
        ]);
        let res = post_bounded(
            &*self.inner.transport,
            &endpoint,
            body,
            c.http.timeout,
            "device_authorization",
        )
        .await?;
        if !res.status.is_success() {
            return Err(response::parse_error(res.status, &res.body));
        }
        let start = device::parse(res.status, &res.body)?;
        show_prompt(&start.prompt);
        let lifetime = start.prompt.expires_in;
        // The lifetime is at most an hour (device::parse), so the deadline cannot overflow.
        let started = tokio::time::Instant::now();
        let deadline = started.checked_add(lifetime).unwrap_or(started);
        let mut interval = start.prompt.interval;
        loop {
            tokio::time::sleep(interval).await;
            if tokio::time::Instant::now() >= deadline {
                return Err(TokenError::DeviceCodeExpired { after: lifetime });
            }
            let form = vec![
                ("grant_type", DEVICE_CODE_GRANT.to_owned()),
                ("client_id", c.client_id.clone()),
                ("device_code", start.device_code.clone()),
            ];
            match self.redeem(form, "device_code").await {
                Ok(tokens) => return self.store(scopes, tokens, TokenSource::DeviceCode).await,
                Err(e) => match device::classify(&e) {
                    Poll::Pending => {}
                    Poll::SlowDown => {
                        interval = device::slowed_down(interval);
                        tracing::debug!(target: "entra_token", ?interval, "device code: slow_down");
                    }
                    Poll::Stop => return Err(device::terminal(e, lifetime)),
                },
            }
        }
    }

    /// One token request; the answer parsed.
    async fn redeem(
        &self,
        form: Vec<(&'static str, String)>,
        grant: &'static str,
    ) -> Result<Tokens, TokenError> {
        let c = &self.inner.config;
        let endpoint = c.authority.token_endpoint();
        let res = post_bounded(
            &*self.inner.transport,
            endpoint,
            encode(&form),
            c.http.timeout,
            grant,
        )
        .await?;
        let parsed = response::parse_tokens(res.status, &res.body, c.clock.now());
        if let Err(e) = &parsed {
            if device::classify(e) == Poll::Stop {
                tracing::info!(target: "entra_token", grant, status = res.status.as_u16(), error = %e, "token request refused");
            }
        }
        parsed
    }

    /// Stores a sign-in's account and tokens (the account becomes the active one).
    async fn store(
        &self,
        scopes: &Scopes,
        tokens: Tokens,
        source: TokenSource,
    ) -> Result<AuthResult, TokenError> {
        let c = &self.inner.config;
        let account =
            tokens
                .id_token
                .as_deref()
                .and_then(account_of)
                .ok_or(TokenError::InvalidResponse {
                    status: StatusCode::OK,
                    reason: "no ID token naming oid and tid (the openid scope was asked for)",
                })?;
        let mut locked = c.cache.lock().await?;
        let entry = locked.doc.upsert(AccountEntry {
            account: account.clone(),
            client_id: c.client_id.clone(),
            instance: c.authority.instance().as_str().to_owned(),
            refresh_token: tokens.refresh_token.as_deref().map(SecretString::from),
            access_tokens: Vec::new(),
        });
        entry.put_access_token(
            scopes.as_str(),
            &tokens.access,
            tokens.scope.clone(),
            c.clock.now(),
        );
        locked.commit().await?;
        tracing::debug!(target: "entra_token", account = %account.id, ?source, "signed in");
        Ok(AuthResult {
            access_token: tokens.access,
            account,
            granted_scopes: tokens.scope,
            source,
        })
    }
}

fn sign_in(reason: SignInReason) -> TokenError {
    TokenError::SignInRequired {
        reason,
        refusal: None,
    }
}

/// The scopes asked for plus `openid profile offline_access`.
fn sign_in_scope(scopes: &Scopes) -> String {
    Scopes::new([scopes.as_str(), SIGN_IN_SCOPES])
        .as_str()
        .to_owned()
}

fn encode(form: &[(&str, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
        .finish()
}

/// The account an ID token names (`oid`, `tid`, `preferred_username`, `name`). Read without a
/// signature check: the token came straight from the token endpoint over the connection this
/// client opened, and it only names the account in the cache (nothing is authorised on it).
fn account_of(id_token: &str) -> Option<Account> {
    let payload = id_token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let text = |k: &str| claims.get(k).and_then(|v| v.as_str()).map(clip);
    let oid = text("oid")?;
    let tenant_id = text("tid")?;
    let username = text("preferred_username")
        .or_else(|| text("upn"))
        .or_else(|| text("email"))
        .unwrap_or_else(|| oid.clone());
    Some(Account {
        id: format!("{oid}.{tenant_id}"),
        tenant_id,
        oid,
        username,
        name: text("name"),
    })
}

/// The signed-in (active) account's token, silently: the cached token, else one for the refresh
/// token; [`TokenError::SignInRequired`] when the user must sign in again.
impl TokenCredential for PublicClient {
    fn get_token<'a>(
        &'a self,
        scopes: &'a Scopes,
        options: TokenRequestOptions<'a>,
    ) -> BoxFuture<'a, Result<AccessToken, TokenError>> {
        Box::pin(async move {
            if options.on_behalf_of.is_some() {
                return Err(TokenError::OnBehalfOfUnsupported {
                    credential: "PublicClient",
                });
            }
            let result = match options.rejected {
                Some(r) => self.reacquire_silent(None, scopes, r).await?,
                None => self.acquire_silent(None, scopes).await?,
            };
            Ok(result.access_token)
        })
    }

    fn authority(&self) -> Option<&Authority> {
        Some(self.config().authority())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_comes_from_oid_tid_preferred_username_and_name() {
        let payload = URL_SAFE_NO_PAD.encode(
            br#"{"oid":"o1","tid":"t1","name":"Alice Example","preferred_username":"alice@dev.example"}"#,
        );
        let a = account_of(&format!("h.{payload}.s")).unwrap();
        assert_eq!(a.id, "o1.t1");
        assert_eq!(a.display_name(), "Alice Example (alice@dev.example)");
        assert_eq!(account_of("garbage"), None);
        let no_oid = URL_SAFE_NO_PAD.encode(br#"{"tid":"t1"}"#);
        assert_eq!(account_of(&format!("h.{no_oid}.s")), None);
    }

    #[test]
    fn sign_in_scope_adds_openid_profile_and_offline_access_once() {
        assert_eq!(
            sign_in_scope(&Scopes::parse("api://x/read offline_access")),
            "api://x/read offline_access openid profile"
        );
    }
}
