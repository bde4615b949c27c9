//! [`ConfidentialClient`]: client credentials and on-behalf-of, through the token cache.
//!
//! A request goes: pre-checks (scopes; for on-behalf-of B2C, the assertion's expiry, subject and
//! audience) -> L1 -> (per key, one at a time) L1 again -> L2 -> the token endpoint -> L1 and L2.
//! A token is refreshed once its `refresh_in` (else half its lifetime) has passed; while one
//! caller refreshes, the others keep using the still-valid token. An expired token is never
//! served.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use crate::assertion::UserAssertion;
use crate::authority::Authority;
use crate::cache::{CacheKey, InFlight, MemoryCache, SharedCacheError};
use crate::config::ConfidentialConfig;
use crate::error::TokenError;
use crate::response;
use crate::token::{AccessToken, Scopes};
use crate::token_credential::{TokenCredential, TokenRequestOptions};
use crate::transport::{BoxFuture, TokenTransport};

/// The jwt-bearer grant type of on-behalf-of.
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Acquires tokens as a confidential client. Cheap to clone (an `Arc` inside): build one per
/// application at start-up and share it.
#[derive(Debug, Clone)]
pub struct ConfidentialClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ConfidentialConfig,
    transport: Arc<dyn TokenTransport>,
    memory: MemoryCache,
    in_flight: InFlight,
    shared_down: AtomicBool,
    /// After a shared-cache failure, the shared cache is skipped until this instant.
    shared_retry_at: Mutex<Option<Instant>>,
    counters: Counters,
}

#[derive(Debug, Default)]
struct Counters {
    token_requests: AtomicU64,
    memory_hits: AtomicU64,
    shared_hits: AtomicU64,
}

/// Counters since the client was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ClientStats {
    /// Requests sent to the token endpoint.
    pub token_requests: u64,
    /// Tokens served from the in-memory cache.
    pub memory_hits: u64,
    /// Tokens served from the shared cache.
    pub shared_hits: u64,
    /// Tokens held in the memory cache now.
    pub cached_tokens: usize,
}

/// What to acquire.
#[derive(Clone, Copy)]
enum Grant<'a> {
    App,
    OnBehalfOf(&'a UserAssertion),
}

impl Grant<'_> {
    fn name(self) -> &'static str {
        match self {
            Self::App => "client_credentials",
            Self::OnBehalfOf(_) => "on_behalf_of",
        }
    }
}

impl ConfidentialClient {
    /// A client with the default transport ([`ReqwestTransport`](crate::ReqwestTransport), using
    /// the configured timeouts and response cap).
    ///
    /// # Errors
    /// [`ConfigError::HttpClient`](crate::ConfigError::HttpClient) when the HTTP client cannot be built.
    #[cfg(feature = "reqwest")]
    pub fn new(config: ConfidentialConfig) -> Result<Self, crate::error::ConfigError> {
        let transport = crate::transport::reqwest_transport(&config.http)?;
        Ok(Self::with_transport(config, transport))
    }

    /// A client posting through `transport` (the configured timeout still bounds each call).
    pub fn with_transport(config: ConfidentialConfig, transport: Arc<dyn TokenTransport>) -> Self {
        let memory = MemoryCache::new(config.cache.max_entries, config.cache.max_bytes);
        Self {
            inner: Arc::new(Inner {
                config,
                transport,
                memory,
                in_flight: InFlight::default(),
                shared_down: AtomicBool::new(false),
                shared_retry_at: Mutex::new(None),
                counters: Counters::default(),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ConfidentialConfig {
        &self.inner.config
    }

    /// Counters: token requests sent, cache hits.
    pub fn stats(&self) -> ClientStats {
        let c = &self.inner.counters;
        ClientStats {
            token_requests: c.token_requests.load(Ordering::Relaxed),
            memory_hits: c.memory_hits.load(Ordering::Relaxed),
            shared_hits: c.shared_hits.load(Ordering::Relaxed),
            cached_tokens: self.inner.memory.len(),
        }
    }

    /// A token for the application itself (client credentials), e.g. for
    /// `Scopes::app_default("https://graph.microsoft.com")`.
    ///
    /// # Errors
    /// [`TokenError::InvalidScopes`] unless `scopes` is one `{resource}/.default`; the token
    /// endpoint's refusals ([`TokenError::Rejected`]); [`TokenError::Timeout`],
    /// [`TokenError::Transport`], [`TokenError::InvalidResponse`]; [`TokenError::Credential`].
    pub async fn acquire_for_app(&self, scopes: &Scopes) -> Result<AccessToken, TokenError> {
        self.acquire(Grant::App, scopes, None).await
    }

    /// A token for the downstream `scopes` on behalf of the user of `user` (the incoming access
    /// token), cached per user.
    ///
    /// # Errors
    /// Before any network call: [`TokenError::B2cOnBehalfOf`], [`TokenError::InvalidScopes`],
    /// [`TokenError::Assertion`] (expired, foreign audience). Then as
    /// [`acquire_for_app`](Self::acquire_for_app), and [`TokenError::ClaimsChallenge`] when the
    /// downstream API needs more claims (MFA, Conditional Access).
    pub async fn acquire_on_behalf_of(
        &self,
        user: &UserAssertion,
        scopes: &Scopes,
    ) -> Result<AccessToken, TokenError> {
        self.acquire(Grant::OnBehalfOf(user), scopes, None).await
    }

    /// Like [`acquire_for_app`](Self::acquire_for_app), but never returns `rejected` again (a
    /// token the downstream API refused): a newer cached token if another caller already replaced
    /// it, else a new one from the token endpoint.
    ///
    /// # Errors
    /// As [`acquire_for_app`](Self::acquire_for_app).
    pub async fn reacquire_for_app(
        &self,
        scopes: &Scopes,
        rejected: &AccessToken,
    ) -> Result<AccessToken, TokenError> {
        self.acquire(Grant::App, scopes, Some(rejected)).await
    }

    /// Like [`acquire_on_behalf_of`](Self::acquire_on_behalf_of), never returning `rejected`.
    ///
    /// # Errors
    /// As [`acquire_on_behalf_of`](Self::acquire_on_behalf_of).
    pub async fn reacquire_on_behalf_of(
        &self,
        user: &UserAssertion,
        scopes: &Scopes,
        rejected: &AccessToken,
    ) -> Result<AccessToken, TokenError> {
        self.acquire(Grant::OnBehalfOf(user), scopes, Some(rejected))
            .await
    }

    async fn acquire(
        &self,
        grant: Grant<'_>,
        scopes: &Scopes,
        rejected: Option<&AccessToken>,
    ) -> Result<AccessToken, TokenError> {
        let inner = &*self.inner;
        let config = &inner.config;
        let now = config.clock.now();
        let assertion_hash = match grant {
            Grant::App => {
                scopes.check_app()?;
                None
            }
            Grant::OnBehalfOf(user) => {
                if let Some(policy) = config.authority.b2c_policy() {
                    return Err(TokenError::B2cOnBehalfOf {
                        policy: policy.to_owned(),
                    });
                }
                scopes.check_obo()?;
                user.check(now, &config.api_audiences)?;
                Some(user.hash())
            }
        };
        let key = CacheKey::new(
            &config.client_id,
            config.authority.token_endpoint().as_str(),
            scopes,
            assertion_hash,
        );
        let is_rejected = |t: &AccessToken| rejected.is_some_and(|r| r.secret() == t.secret());
        let margin = config.cache.expiry_margin;
        let usable = |t: &AccessToken, now: SystemTime| now + margin < t.expires_at();

        let mut stale = None;
        if let Some(t) = inner.memory.get(&key, now) {
            if !is_rejected(&t) && usable(&t, now) {
                if now < t.refresh_at() {
                    inner.counters.memory_hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(t);
                }
                stale = Some(t);
            }
        }

        let lock = inner.in_flight.key_lock(key);
        let _guard = match (lock.lock.try_lock(), stale.take()) {
            (Ok(g), stale_token) => {
                stale = stale_token;
                g
            }
            (Err(_), Some(t)) => {
                // Someone refreshes this key right now: keep using the still-valid token.
                inner.counters.memory_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(t);
            }
            (Err(_), None) => lock.lock.lock().await,
        };
        self.acquire_locked(grant, scopes, &key, rejected, stale)
            .await
    }

    async fn acquire_locked(
        &self,
        grant: Grant<'_>,
        scopes: &Scopes,
        key: &CacheKey,
        rejected: Option<&AccessToken>,
        stale: Option<AccessToken>,
    ) -> Result<AccessToken, TokenError> {
        let inner = &*self.inner;
        let config = &inner.config;
        let now = config.clock.now();
        let is_rejected = |t: &AccessToken| rejected.is_some_and(|r| r.secret() == t.secret());
        let margin = config.cache.expiry_margin;
        // Servable without a refresh: not refused downstream, before its refresh time, and with
        // more than the margin left.
        let fresh = |t: &AccessToken| {
            !is_rejected(t) && now < t.refresh_at() && now + margin < t.expires_at()
        };
        // Another caller may have fetched while this one waited.
        if let Some(t) = inner.memory.get(key, now) {
            if fresh(&t) {
                inner.counters.memory_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(t);
            }
        }
        if let Some(shared) = inner.shared_cache() {
            match shared.get(key).await {
                Ok(Some(t)) if fresh(&t) => {
                    inner.shared_ok();
                    inner.counters.shared_hits.fetch_add(1, Ordering::Relaxed);
                    inner.memory.insert(*key, t.clone(), now);
                    return Ok(t);
                }
                Ok(_) => inner.shared_ok(),
                Err(e) => inner.shared_failed(&e),
            }
        }
        if let Grant::OnBehalfOf(user) = grant {
            if let Err(e) = user.check_exchange_margin(now) {
                // A still-valid cached token is better than a refusal.
                if let Some(t) = stale.filter(|t| now + margin < t.expires_at()) {
                    return Ok(t);
                }
                return Err(e.into());
            }
        }
        let answer = self.request(grant, scopes).await;
        // A claims challenge names where the user signs in again: this authority.
        match answer.map_err(|e| e.with_authority(&config.authority)) {
            Ok(token) => {
                let now = config.clock.now();
                inner.memory.insert(*key, token.clone(), now);
                if let Some(shared) = inner.shared_cache() {
                    match shared.put(key, &token, now).await {
                        Ok(()) => inner.shared_ok(),
                        Err(e) => inner.shared_failed(&e),
                    }
                }
                Ok(token)
            }
            Err(e) => {
                let now = config.clock.now();
                let still_valid =
                    stale.filter(|t| now + margin < t.expires_at() && e.is_transient());
                if let Some(t) = still_valid {
                    tracing::warn!(target: "entra_token", grant = grant.name(), error = %e,
                        "refreshing a token ahead of expiry failed; the cached token is still valid and is used");
                    return Ok(t);
                }
                Err(e)
            }
        }
    }

    /// One request to the token endpoint, bounded by the configured timeout.
    async fn request(&self, grant: Grant<'_>, scopes: &Scopes) -> Result<AccessToken, TokenError> {
        let inner = &*self.inner;
        let config = &inner.config;
        let endpoint = config.authority.token_endpoint();
        let mut form: Vec<(&'static str, String)> = Vec::with_capacity(8);
        match grant {
            Grant::App => form.push(("grant_type", "client_credentials".to_owned())),
            Grant::OnBehalfOf(user) => {
                form.push(("grant_type", JWT_BEARER_GRANT.to_owned()));
                form.push(("assertion", user.token().to_owned()));
                form.push(("requested_token_use", "on_behalf_of".to_owned()));
            }
        }
        form.push(("client_id", config.client_id.clone()));
        form.push(("scope", scopes.as_str().to_owned()));
        config
            .credential
            .append_to(
                &mut form,
                &config.client_id,
                endpoint,
                config.clock.now(),
                config.assertion_lifetime,
            )
            .await?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        drop(form);

        inner
            .counters
            .token_requests
            .fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let timeout = config.http.timeout;
        let res = crate::transport::post_bounded(
            &*inner.transport,
            endpoint,
            body,
            timeout,
            grant.name(),
        )
        .await?;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let parsed = response::parse(res.status, &res.body, config.clock.now());
        match &parsed {
            Ok(_) => tracing::debug!(target: "entra_token", grant = grant.name(), scopes = %scopes,
                status = res.status.as_u16(), elapsed_ms, "token acquired"),
            Err(e) => tracing::info!(target: "entra_token", grant = grant.name(), scopes = %scopes,
                status = res.status.as_u16(), elapsed_ms, error = %e, "token request refused"),
        }
        parsed
    }
}

impl Inner {
    /// The shared cache, unless it failed less than `shared_cache_cooldown` ago.
    fn shared_cache(&self) -> Option<&dyn crate::cache::SharedCache> {
        let shared = self.config.shared_cache.as_deref()?;
        let mut retry_at = self
            .shared_retry_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match *retry_at {
            Some(t) if Instant::now() < t => None,
            Some(_) => {
                *retry_at = None;
                Some(shared)
            }
            None => Some(shared),
        }
    }

    fn shared_ok(&self) {
        if self.shared_down.swap(false, Ordering::Relaxed) {
            tracing::info!(target: "entra_token", "shared token cache reachable again");
        }
    }

    fn shared_failed(&self, e: &SharedCacheError) {
        let cooldown = self.config.cache.shared_cache_cooldown;
        if !cooldown.is_zero() {
            *self
                .shared_retry_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + cooldown);
        }
        if !self.shared_down.swap(true, Ordering::Relaxed) {
            tracing::warn!(target: "entra_token", error = %e, cause = ?std::error::Error::source(e).map(ToString::to_string),
                "shared token cache failing; using the memory cache and the token endpoint until it recovers (logged once per outage)");
        } else {
            tracing::debug!(target: "entra_token", error = %e, "shared token cache still failing");
        }
    }
}

/// As the application (client credentials), or on behalf of the user of
/// [`TokenRequestOptions::on_behalf_of`](crate::TokenRequestOptions::on_behalf_of).
impl TokenCredential for ConfidentialClient {
    fn get_token<'a>(
        &'a self,
        scopes: &'a Scopes,
        options: TokenRequestOptions<'a>,
    ) -> BoxFuture<'a, Result<AccessToken, TokenError>> {
        Box::pin(async move {
            match (options.on_behalf_of, options.rejected) {
                (Some(user), None) => self.acquire_on_behalf_of(user, scopes).await,
                (Some(user), Some(r)) => self.reacquire_on_behalf_of(user, scopes, r).await,
                (None, None) => self.acquire_for_app(scopes).await,
                (None, Some(r)) => self.reacquire_for_app(scopes, r).await,
            }
        })
    }

    fn authority(&self) -> Option<&Authority> {
        Some(self.config().authority())
    }
}
