//! THE pipeline: header -> token -> key -> signature -> claims -> [`VerifiedClaims`].
//!
//! No other code in this crate decodes a token.

use std::sync::Arc;

use http::HeaderMap;
use tokio::task::JoinHandle;

use crate::authority::{is_guid, TokenVersion};
use crate::bearer::{has_access_token_param, BearerHeader};
use crate::cache::{TokenCache, TokenHash, Verified};
use crate::claims::{OneOrMany, PayloadError, TokenClaims, VerifiedClaims};
use crate::clock::unix_seconds;
use crate::config::AuthConfig;
use crate::discovery::{expected_issuer, tenant_segment, TemplateError};
use crate::error::{clip, AuthError, InvalidRequestReason, MalformedReason};
use crate::fetch::HttpFetch;
use crate::jwks::{KeyStore, SourceKeys, Trigger};
use crate::jws::{Compact, JoseHeader, MAX_SIGNATURE_BYTES};
use crate::metrics::{AuthMetrics, Metrics};
use crate::mistake;
use crate::policy::Requirement;

/// What [`TokenValidator::authorize`] reads of a request: its headers and, when known, its URI
/// (to refuse an `access_token` query parameter).
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    uri: Option<&'a http::Uri>,
    headers: &'a HeaderMap,
}

impl<'a> RequestHead<'a> {
    /// A request with this URI and these headers.
    pub fn new(uri: &'a http::Uri, headers: &'a HeaderMap) -> Self {
        Self {
            uri: Some(uri),
            headers,
        }
    }
}

impl<'a> From<&'a HeaderMap> for RequestHead<'a> {
    /// Headers only: the URI's query is not checked.
    fn from(headers: &'a HeaderMap) -> Self {
        Self { uri: None, headers }
    }
}

impl<'a, B> From<&'a http::Request<B>> for RequestHead<'a> {
    fn from(req: &'a http::Request<B>) -> Self {
        Self::new(req.uri(), req.headers())
    }
}

impl<'a> From<&'a http::request::Parts> for RequestHead<'a> {
    fn from(parts: &'a http::request::Parts) -> Self {
        Self::new(&parts.uri, &parts.headers)
    }
}

/// What [`TokenValidator::decide`] found.
pub(crate) enum Decision {
    /// Decided without I/O (an error before the cache, or a cache hit and its requirement check).
    Done(Result<VerifiedClaims, AuthError>),
    /// The token must be verified; the hash of its bytes, if computed.
    Verify(Option<TokenHash>),
}

/// Why [`Inner::verify_now`] could not finish without I/O.
enum Pending {
    /// The token is refused.
    Failed(AuthError),
    /// The key snapshot lacks the token's metadata source or key: fetch, then decide.
    Keys,
}

impl From<AuthError> for Pending {
    fn from(e: AuthError) -> Self {
        Self::Failed(e)
    }
}

/// Validates Microsoft identity platform access tokens. Cheap to clone (an `Arc` inside).
///
/// One validator serves one authority ([`new`](Self::new)) or several named ones
/// ([`multi`](Self::multi): e.g. the workforce tenant and a B2C user flow), each with its own
/// configuration, keys, refresh and token cache. With several, the token's `iss` (read before
/// anything is trusted) selects the authority whose rules then decide; a token whose issuer is
/// none of theirs is refused with `unknown_issuer`, naming the accepted issuers.
#[derive(Debug, Clone)]
pub struct TokenValidator {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// At least one.
    authorities: Box<[Inner]>,
    metrics: Arc<Metrics>,
}

/// One authority: its configuration, keys and verified-token cache.
#[derive(Debug)]
struct Inner {
    config: AuthConfig,
    keys: Arc<KeyStore>,
    metrics: Arc<Metrics>,
    /// The verified-token cache (`None` when configured off).
    cache: Option<TokenCache>,
}

impl TokenValidator {
    /// A validator that fetches metadata and keys with the default HTTP client (rustls, timeouts,
    /// no redirects, size cap). Nothing is fetched yet: call [`warm_up`](Self::warm_up) and/or
    /// [`spawn_background_refresh`](Self::spawn_background_refresh).
    ///
    /// # Errors
    /// [`ConfigError::HttpClient`](crate::ConfigError::HttpClient) when the HTTP client cannot be built.
    #[cfg(feature = "reqwest")]
    pub fn new(config: AuthConfig) -> Result<Self, crate::error::ConfigError> {
        let fetcher = default_fetcher(&config)?;
        Ok(Self::with_fetcher(config, fetcher))
    }

    /// A validator that fetches through `fetcher` (for canned responses in tests, or a custom
    /// transport).
    pub fn with_fetcher(config: AuthConfig, fetcher: Arc<dyn HttpFetch>) -> Self {
        let metrics = Arc::new(Metrics::default());
        let one = Inner::new(config, fetcher, &metrics);
        Self {
            inner: Arc::new(Shared {
                authorities: Box::new([one]),
                metrics,
            }),
        }
    }

    /// A validator for several authorities, each named ([`AuthConfigBuilder::name`](crate::AuthConfigBuilder::name))
    /// and fetched with its own default HTTP client (its own timeouts and proxy).
    ///
    /// ```
    /// use entra_auth::{AuthConfig, TokenValidator};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let workforce = AuthConfig::builder(
    ///     "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a",
    ///     "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c",
    /// )
    /// .name("workforce")
    /// .build()?;
    /// let customers = AuthConfig::builder(
    ///     "contosob2c.onmicrosoft.com",
    ///     "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
    /// )
    /// .b2c("contosob2c", "B2C_1_signin")
    /// .name("customers")
    /// .build()?;
    /// let validator = TokenValidator::multi([workforce, customers])?;
    /// assert_eq!(validator.authorities().count(), 2);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::NoAuthorities`](crate::ConfigError::NoAuthorities),
    /// [`ConfigError::AuthorityNames`](crate::ConfigError::AuthorityNames) when a name is
    /// missing or repeated, [`ConfigError::HttpClient`](crate::ConfigError::HttpClient).
    #[cfg(feature = "reqwest")]
    pub fn multi(
        configs: impl IntoIterator<Item = AuthConfig>,
    ) -> Result<Self, crate::error::ConfigError> {
        let with_fetchers = configs
            .into_iter()
            .map(|c| default_fetcher(&c).map(|f| (c, f)))
            .collect::<Result<Vec<_>, _>>()?;
        Self::multi_with_fetchers(with_fetchers)
    }

    /// [`multi`](Self::multi) with a transport per authority.
    ///
    /// # Errors
    /// [`ConfigError::NoAuthorities`](crate::ConfigError::NoAuthorities) or
    /// [`ConfigError::AuthorityNames`](crate::ConfigError::AuthorityNames).
    pub fn multi_with_fetchers(
        configs: impl IntoIterator<Item = (AuthConfig, Arc<dyn HttpFetch>)>,
    ) -> Result<Self, crate::error::ConfigError> {
        let configs: Vec<_> = configs.into_iter().collect();
        if configs.is_empty() {
            return Err(crate::error::ConfigError::NoAuthorities);
        }
        let names: Vec<Option<String>> = configs
            .iter()
            .map(|(c, _)| c.name().map(str::to_owned))
            .collect();
        let mut distinct: Vec<&str> = names.iter().flatten().map(String::as_str).collect();
        distinct.sort_unstable();
        distinct.dedup();
        if configs.len() > 1 && distinct.len() != configs.len() {
            return Err(crate::error::ConfigError::AuthorityNames { found: names });
        }
        let metrics = Arc::new(Metrics::default());
        let authorities = configs
            .into_iter()
            .map(|(c, f)| Inner::new(c, f, &metrics))
            .collect();
        Ok(Self {
            inner: Arc::new(Shared {
                authorities,
                metrics,
            }),
        })
    }

    /// The configuration (of the first authority, when there are several: see
    /// [`authorities`](Self::authorities)).
    pub fn config(&self) -> &AuthConfig {
        &self.first().config
    }

    /// The configuration of every authority, in the order given.
    pub fn authorities(&self) -> impl Iterator<Item = &AuthConfig> {
        self.inner.authorities.iter().map(|a| &a.config)
    }

    fn first(&self) -> &Inner {
        // `authorities` is never empty (checked by the constructors).
        &self.inner.authorities[0]
    }

    /// Fetches metadata and keys of every authority now (joining refreshes already in flight).
    ///
    /// # Errors
    /// [`AuthError::KeysUnavailable`] when some metadata document or key set could not be loaded
    /// (the service can still start: requests answer 503 until keys arrive; other authorities'
    /// tokens are served).
    pub async fn warm_up(&self) -> Result<(), AuthError> {
        let mut failures = Vec::new();
        for a in self.inner.authorities.iter() {
            a.keys.refresh(Trigger::Scheduled).await;
            if !(a.keys.is_ready() && a.keys.last_refresh_ok()) {
                failures.push(match a.config.name() {
                    Some(n) if self.inner.authorities.len() > 1 => {
                        format!("{n}: {}", a.keys.last_error())
                    }
                    _ => a.keys.last_error(),
                });
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(AuthError::KeysUnavailable {
                detail: failures.join("; "),
            })
        }
    }

    /// Starts the background refresh of every authority (each on its own schedule): it retries
    /// with jittered backoff until keys load, then refreshes every
    /// [`KeyRefresh::interval`](crate::config::KeyRefresh::interval). Abort the handle to stop
    /// them all.
    ///
    /// # Panics
    /// When called outside a Tokio runtime.
    pub fn spawn_background_refresh(&self) -> JoinHandle<()> {
        let tasks: Vec<_> = self
            .inner
            .authorities
            .iter()
            .map(|a| (Arc::clone(&a.keys), a.config.key_refresh().interval))
            .collect();
        if let [(keys, interval)] = &tasks[..] {
            return tokio::spawn(Arc::clone(keys).run_background(*interval));
        }
        tokio::spawn(async move {
            let mut set = tokio::task::JoinSet::new();
            for (keys, interval) in tasks {
                set.spawn(keys.run_background(interval));
            }
            // Aborting this task drops the set, which aborts every refresh.
            while set.join_next().await.is_some() {}
        })
    }

    /// Whether keys have been loaded for every metadata source of every authority (readiness).
    pub fn is_ready(&self) -> bool {
        self.inner.authorities.iter().all(|a| a.keys.is_ready())
    }

    /// Resolves once keys have been loaded for every metadata source (by
    /// [`warm_up`](Self::warm_up), the background refresh or a request). Combine with a timeout.
    pub async fn ready(&self) {
        for a in self.inner.authorities.iter() {
            a.keys.wait_ready().await;
        }
    }

    /// A snapshot of the counters (of all authorities together).
    pub fn metrics(&self) -> AuthMetrics {
        let entries = self
            .inner
            .authorities
            .iter()
            .map(|a| a.cache.as_ref().map_or(0, TokenCache::len))
            .sum();
        self.inner
            .metrics
            .snapshot(self.first().config.clock().now(), entries)
    }

    /// Validates a bearer token (the part after `Bearer `).
    ///
    /// # Errors
    /// An [`AuthError`] saying what was expected and what was found.
    pub async fn validate(&self, token: &str) -> Result<VerifiedClaims, AuthError> {
        let result = if self.inner.authorities.len() == 1 {
            self.first().validate_token(token).await
        } else {
            self.validate_among(token).await
        };
        self.record(&result);
        result
    }

    /// [`validate`](Self::validate) with several authorities: every cache first (one hash), then
    /// the authority the token's issuer selects.
    async fn validate_among(&self, token: &str) -> Result<VerifiedClaims, AuthError> {
        if token.len() > self.first().config.max_token_bytes() {
            return self.first().validate_token(token).await;
        }
        let hash = TokenHash::of(token);
        if let Some(claims) = self.probe(&hash) {
            return Ok(claims);
        }
        self.select(token)
            .await?
            .validate_hashed(token, Some(hash))
            .await
    }

    /// The claims of `hash` in the cache of any authority (a hit is counted).
    fn probe(&self, hash: &TokenHash) -> Option<VerifiedClaims> {
        self.inner
            .authorities
            .iter()
            .find_map(|a| a.cache.as_ref().and_then(|c| a.cache_lookup(c, hash)))
    }

    /// Authorizes a request: extracts its bearer token (RFC 6750: one `Authorization` header,
    /// no `access_token` query parameter when the URI is known), validates it, then checks
    /// `requirement` if any. `request` is an `&http::Request<B>`, `&http::request::Parts`, a
    /// [`RequestHead`] or just the `&HeaderMap`.
    ///
    /// A token the cache holds is answered without verifying its signature again (see
    /// [`AuthConfigBuilder::token_cache`](crate::AuthConfigBuilder::token_cache)).
    ///
    /// # Errors
    /// As [`validate`](Self::validate); also [`AuthError::MissingToken`],
    /// [`AuthError::UnsupportedScheme`], [`AuthError::InvalidRequest`] and the requirement's
    /// errors ([`Requirement::check`]).
    pub async fn authorize<'r>(
        &self,
        request: impl Into<RequestHead<'r>>,
        requirement: Option<&Requirement>,
    ) -> Result<VerifiedClaims, AuthError> {
        let head = request.into();
        let result = match self.decide(head, requirement) {
            Decision::Done(result) => result,
            Decision::Verify(hash) => self.verify_request(head, hash, requirement).await,
        };
        self.record(&result);
        result
    }

    /// What can be decided about a request without I/O: a malformed request, a cache hit (and
    /// its requirement check, unless the requirement needs I/O), or else the token must be
    /// verified (with its hash, if computed). Not counted: the caller [`record`](Self::record)s
    /// the outcome.
    pub(crate) fn decide(
        &self,
        head: RequestHead<'_>,
        requirement: Option<&Requirement>,
    ) -> Decision {
        if head
            .uri
            .and_then(http::Uri::query)
            .is_some_and(has_access_token_param)
        {
            return Decision::Done(Err(AuthError::InvalidRequest {
                reason: InvalidRequestReason::TokenInQuery,
            }));
        }
        let first = self.first();
        let bearer = match BearerHeader::find(head.headers, first.config.max_token_bytes()) {
            Ok(b) => b,
            Err(e) => return Decision::Done(Err(e)),
        };
        let claims = match first.cached(&bearer) {
            Ok(claims) => claims,
            Err(hash) if self.inner.authorities.len() == 1 => {
                return first.decide_uncached(&bearer, hash, requirement);
            }
            Err(None) => return Decision::Verify(None),
            Err(Some(hash)) => {
                // Several authorities: the same hash in the others' caches.
                match self.inner.authorities[1..]
                    .iter()
                    .find_map(|a| a.cache.as_ref().and_then(|c| a.cache_lookup(c, &hash)))
                {
                    Some(claims) => claims,
                    None => return Decision::Verify(Some(hash)),
                }
            }
        };
        match requirement {
            Some(r) if r.is_async() => Decision::Verify(None),
            Some(r) => Decision::Done(r.check(&claims).map(|()| claims)),
            None => Decision::Done(Ok(claims)),
        }
    }

    /// The rest of [`authorize`](Self::authorize) after [`Decision::Verify`] (not counted).
    pub(crate) async fn verify_request(
        &self,
        head: RequestHead<'_>,
        hash: Option<TokenHash>,
        requirement: Option<&Requirement>,
    ) -> Result<VerifiedClaims, AuthError> {
        let bearer = BearerHeader::find(head.headers, self.first().config.max_token_bytes())?;
        let token = bearer.token()?;
        let claims = self
            .select(token)
            .await?
            .validate_hashed(token, hash)
            .await?;
        if let Some(r) = requirement {
            r.check_async(&claims).await?;
        }
        Ok(claims)
    }

    /// Counts an outcome, and logs a rejection (once per request: every path ends here).
    pub(crate) fn record(&self, result: &Result<VerifiedClaims, AuthError>) {
        match result {
            Ok(_) => self.inner.metrics.record_accepted(),
            Err(e) => {
                self.inner.metrics.record_rejected(e);
                tracing::debug!(target: "entra_auth", code = e.code(), status = e.status().as_u16(), reason = %e, "bearer token rejected");
            }
        }
    }

    /// The pipeline of [`validate`](Self::validate) without the token cache and the counters, in
    /// the authority the token's issuer selects, for [`explain`](Self::explain) (`crate::explain`).
    pub(crate) async fn verify_uncached(&self, token: &str) -> Result<VerifiedClaims, AuthError> {
        self.select(token).await?.verify_uncached(token).await
    }

    /// The metadata and keys the first authority checks tokens of `version` against, if loaded.
    pub(crate) fn source_for(&self, version: TokenVersion) -> Option<Arc<SourceKeys>> {
        self.first().source_for(version)
    }

    /// The authority whose rules decide `token`: the only one, or the one whose issuer is the
    /// token's `iss` (read without trusting it; a token that cannot be read goes to the first
    /// authority, whose pipeline says what is wrong with it).
    async fn select(&self, token: &str) -> Result<&Inner, AuthError> {
        let all = &self.inner.authorities;
        if all.len() == 1 {
            return Ok(self.first());
        }
        let Some((iss, tid)) = unverified_issuer(token) else {
            return Ok(self.first());
        };
        if let Some(a) = all.iter().find(|a| a.issues(&iss, tid.as_deref())) {
            return Ok(a);
        }
        // Authorities whose metadata is not loaded yet may be the issuer: one rate-limited
        // refresh each, then decide.
        let mut unloaded = Vec::new();
        for a in all.iter().filter(|a| !a.keys.is_ready()) {
            a.keys.refresh(Trigger::Forced).await;
            if a.issues(&iss, tid.as_deref()) {
                return Ok(a);
            }
            if !a.keys.is_ready() {
                unloaded.push(a);
            }
        }
        if let Some(a) = unloaded.first() {
            return Err(AuthError::KeysUnavailable {
                detail: format!(
                    "the token's issuer is not one of the loaded authorities, and the metadata of {} could not be loaded: {}",
                    a.config.name().unwrap_or("an authority"),
                    a.keys.last_error()
                ),
            });
        }
        Err(AuthError::UnknownIssuer {
            found: clip(&iss),
            accepted: all.iter().flat_map(Inner::issuers).collect(),
        })
    }
}

#[cfg(feature = "reqwest")]
fn default_fetcher(config: &AuthConfig) -> Result<Arc<dyn HttpFetch>, crate::error::ConfigError> {
    crate::fetch::reqwest_fetch(config.http())
}

/// The `iss` and `tid` of a token, read without verifying anything (only to choose the
/// authority whose rules then verify it).
fn unverified_issuer(token: &str) -> Option<(String, Option<String>)> {
    let jws = Compact::split(token).ok()?;
    let payload = jws.payload_bytes().ok()?;
    let claims = TokenClaims::parse(&payload).ok()?;
    let iss = claims.iss.as_deref()?.to_owned();
    Some((iss, claims.tid.as_deref().map(str::to_owned)))
}

impl Inner {
    fn new(config: AuthConfig, fetcher: Arc<dyn HttpFetch>, metrics: &Arc<Metrics>) -> Self {
        let keys = Arc::new(KeyStore::new(
            config.sources().to_vec(),
            fetcher,
            Arc::clone(config.clock()),
            config.key_refresh().min_gap,
            Arc::clone(metrics),
        ));
        let options = *config.token_cache();
        let cache = options
            .is_enabled()
            .then(|| TokenCache::new(options.capacity, options.max_age));
        Self {
            config,
            keys,
            metrics: Arc::clone(metrics),
            cache,
        }
    }

    /// Whether one of this authority's loaded metadata documents names `iss` as its issuer
    /// (templates filled with `tid`).
    fn issues(&self, iss: &str, tid: Option<&str>) -> bool {
        (0..self.config.sources().len()).any(|i| {
            self.keys.with_source(i, |s| {
                s.is_some_and(|s| {
                    expected_issuer(&s.issuer, tid).is_ok_and(|expected| expected == iss)
                })
            })
        })
    }

    /// The issuers of the loaded metadata documents (templates as published).
    fn issuers(&self) -> Vec<String> {
        (0..self.config.sources().len())
            .filter_map(|i| self.keys.source(i).map(|s| s.issuer.clone()))
            .collect()
    }

    /// The request path's fast path: the claims of the bearer token if the cache holds it,
    /// looked up by the hash of the located token bytes before any character check (only tokens
    /// that passed every check, so only well-formed ones, are ever cached). Otherwise the hash,
    /// if one was computed, for [`validate_hashed`](Self::validate_hashed).
    fn cached(&self, bearer: &BearerHeader<'_>) -> Result<VerifiedClaims, Option<TokenHash>> {
        let (Some(cache), Some(token)) = (&self.cache, bearer.candidate()) else {
            return Err(None);
        };
        let hash = TokenHash::of_bytes(token);
        match self.cache_lookup(cache, &hash) {
            Some(claims) => Ok(claims),
            None => Err(Some(hash)),
        }
    }

    /// A cache hit (counted), or `None` (the miss is counted by the caller's verification).
    fn cache_lookup(&self, cache: &TokenCache, hash: &TokenHash) -> Option<VerifiedClaims> {
        let config = &self.config;
        let skew = i64::try_from(config.clock_skew().as_secs()).unwrap_or(0);
        let claims = cache.get(hash, config.clock().now(), skew, &self.keys)?;
        self.metrics.record_token_cache(true);
        Some(claims)
    }

    async fn validate_token(&self, token: &str) -> Result<VerifiedClaims, AuthError> {
        self.validate_hashed(token, None).await
    }

    /// Validates `token`, whose hash the caller may already have computed (and then already
    /// looked up in the cache, without a hit).
    async fn validate_hashed(
        &self,
        token: &str,
        hash: Option<TokenHash>,
    ) -> Result<VerifiedClaims, AuthError> {
        let config = &self.config;
        self.check_size(token)?;
        let Some(cache) = &self.cache else {
            return self.verify(token).await.map(|v| v.claims);
        };
        // Fast path: the very same bytes verified before, still within exp/nbf, the maximum
        // age, and signed by a key still in the key set.
        let hash = match hash {
            Some(h) => h,
            None => {
                let h = TokenHash::of(token);
                if let Some(claims) = self.cache_lookup(cache, &h) {
                    return Ok(claims);
                }
                h
            }
        };
        self.metrics.record_token_cache(false);
        let verified = self.verify(token).await?;
        let claims = verified.claims.clone();
        cache.insert(hash, verified, config.clock().now());
        Ok(claims)
    }

    /// A single authority's request whose token the cache does not hold: verified here from the
    /// key snapshot (CPU only, so the tower layer needs no boxed future), unless keys must be
    /// fetched or the requirement needs I/O.
    fn decide_uncached(
        &self,
        bearer: &BearerHeader<'_>,
        hash: Option<TokenHash>,
        requirement: Option<&Requirement>,
    ) -> Decision {
        if requirement.is_some_and(Requirement::is_async) {
            return Decision::Verify(hash);
        }
        let token = match bearer.token() {
            Ok(t) => t,
            Err(e) => return Decision::Done(Err(e)),
        };
        match self.validate_now(token, hash) {
            None => Decision::Verify(hash),
            Some(Ok(claims)) => match requirement {
                Some(r) => Decision::Done(r.check(&claims).map(|()| claims)),
                None => Decision::Done(Ok(claims)),
            },
            Some(Err(e)) => Decision::Done(Err(e)),
        }
    }

    /// [`validate_hashed`](Self::validate_hashed) for a token the cache does not hold, decided
    /// from the key snapshot without I/O; `None` when keys must be fetched first (the caller
    /// then takes the async path, which counts the cache miss).
    fn validate_now(
        &self,
        token: &str,
        hash: Option<TokenHash>,
    ) -> Option<Result<VerifiedClaims, AuthError>> {
        if let Err(e) = self.check_size(token) {
            return Some(Err(e));
        }
        let verified = match self.verify_now(token, false) {
            Ok(v) => v,
            Err(Pending::Keys) => return None,
            Err(Pending::Failed(e)) => {
                if self.cache.is_some() && hash.is_some() {
                    self.metrics.record_token_cache(false);
                }
                return Some(Err(e));
            }
        };
        let claims = verified.claims.clone();
        if let (Some(cache), Some(hash)) = (&self.cache, hash) {
            self.metrics.record_token_cache(false);
            cache.insert(hash, verified, self.config.clock().now());
        }
        Some(Ok(claims))
    }

    fn check_size(&self, token: &str) -> Result<(), AuthError> {
        let max = self.config.max_token_bytes();
        if token.len() > max {
            return Err(malformed(MalformedReason::TooLarge { max }));
        }
        Ok(())
    }

    /// The pipeline of [`validate`](Self::validate) without the token cache and the counters,
    /// for [`TokenValidator::explain`] (`crate::explain`).
    pub(crate) async fn verify_uncached(&self, token: &str) -> Result<VerifiedClaims, AuthError> {
        self.check_size(token)?;
        self.verify(token).await.map(|v| v.claims)
    }

    /// The metadata and keys the tokens of `version` are checked against, if loaded.
    pub(crate) fn source_for(&self, version: TokenVersion) -> Option<Arc<SourceKeys>> {
        let index = self.config.source_for(version)?;
        self.keys.source(index)
    }

    /// The full pipeline: parse once, find the key, verify, check the claims. Keys that are not
    /// in the snapshot (metadata never loaded, or an unknown `kid`) cause one rate-limited
    /// refresh, then a second pass that decides.
    async fn verify(&self, token: &str) -> Result<Verified, AuthError> {
        match self.verify_now(token, false) {
            Ok(v) => Ok(v),
            Err(Pending::Failed(e)) => Err(e),
            Err(Pending::Keys) => {
                self.keys.refresh(Trigger::Forced).await;
                self.verify_now(token, true).map_err(|p| match p {
                    Pending::Failed(e) => e,
                    // `refreshed` turns every key miss into its error: not reached.
                    Pending::Keys => AuthError::KeysUnavailable {
                        detail: self.keys.last_error(),
                    },
                })
            }
        }
    }

    /// [`verify`](Self::verify) from the current key snapshot, without I/O: the CPU work of the
    /// pipeline. A key miss is [`Pending::Keys`] on the first pass (`refreshed` false), and its
    /// error (keys unavailable, unknown signing key) after the refresh.
    fn verify_now(&self, token: &str, refreshed: bool) -> Result<Verified, Pending> {
        let config = &self.config;
        let jws = Compact::split(token)?;

        // 1. header
        let header_bytes = jws.header_bytes()?;
        let header = JoseHeader::parse(&header_bytes, config.algorithms(), config.client_id())?;
        let (alg, kid, x5t) = (header.alg, header.kid.as_deref(), header.x5t.as_deref());

        // 2. payload, parsed once into typed claims (the bytes are kept for `raw()`)
        let payload = jws.payload_bytes()?;
        let claims = TokenClaims::parse(&payload).map_err(|e| {
            malformed(match e {
                PayloadError::TooDeep => MalformedReason::TooDeep {
                    max: crate::claims::MAX_JSON_DEPTH,
                },
                PayloadError::Json { line, column } => MalformedReason::Json {
                    segment: "payload",
                    line,
                    column,
                },
            })
        })?;
        let mut sig_buf = [0u8; MAX_SIGNATURE_BYTES + 8];
        let signature = jws.signature(&mut sig_buf)?;

        // 3. version -> metadata source
        let ver = claims
            .ver
            .as_deref()
            .ok_or(AuthError::MissingClaim { claim: "ver" })?;
        let version = TokenVersion::from_claim(ver)
            .filter(|v| config.accepted_versions().contains(v))
            .ok_or_else(|| AuthError::VersionNotAccepted {
                found: clip(ver),
                accepted: TokenVersion::names(config.accepted_versions()),
            })?;
        let source_index =
            config
                .source_for(version)
                .ok_or_else(|| AuthError::VersionNotAccepted {
                    found: clip(ver),
                    accepted: TokenVersion::names(config.accepted_versions()),
                })?;

        // 4. key (kid, x5t as fallback) from the snapshot; one rate-limited refresh on a miss
        if kid.is_none() && x5t.is_none() {
            return Err(AuthError::MissingKeyId.into());
        }
        let source = match self.keys.source(source_index) {
            Some(s) => s,
            None if refreshed => {
                return Err(AuthError::KeysUnavailable {
                    detail: self.keys.last_error(),
                }
                .into())
            }
            None => return Err(Pending::Keys),
        };
        let key_index = match source.keys.position(kid, x5t) {
            Some(i) => i,
            None if refreshed => {
                return Err(AuthError::UnknownSigningKey {
                    kid: clip(kid.or(x5t).unwrap_or("")),
                    jwks_uri: source.jwks_uri.to_string(),
                }
                .into())
            }
            None => return Err(Pending::Keys),
        };
        let key = &source.keys.keys()[key_index];

        // 5. signature over the exact bytes received
        if !key.verify(alg, jws.signing_input(), signature) {
            return Err(AuthError::InvalidSignature.into());
        }

        // 6. lifetime
        let now = unix_seconds(config.clock().now());
        let skew = i64::try_from(config.clock_skew().as_secs()).unwrap_or(0);
        let exp =
            numeric_date(claims.exp, "exp")?.ok_or(AuthError::MissingClaim { claim: "exp" })?;
        if now > exp.saturating_add(skew) {
            return Err(AuthError::Expired {
                expired_at: exp,
                seconds_ago: now - exp,
            }
            .into());
        }
        let nbf = numeric_date(claims.nbf, "nbf")?;
        if let Some(nbf) = nbf {
            if nbf.saturating_sub(skew) > now {
                return Err(AuthError::NotYetValid {
                    not_before: nbf,
                    seconds_until: nbf - now,
                }
                .into());
            }
        }

        // 7. issuer, tenant, key issuer
        self.check_issuer(&claims, &source, key.issuer(), version)?;

        // 8. an ID token sent as a bearer token, then the audience (or the Microsoft API the
        // token was meant for)
        mistake::reject_id_token(&claims, &payload, config.client_id())?;
        let found: &[String] = claims.aud.as_ref().map_or(&[], OneOrMany::values);
        if found.is_empty() {
            return Err(AuthError::MissingClaim { claim: "aud" }.into());
        }
        if !found.iter().any(|a| config.audiences().contains(a)) {
            return Err(
                mistake::audience_error(found, config.audiences(), config.client_id()).into(),
            );
        }

        // 9. verified
        Ok(Verified {
            claims: VerifiedClaims::new(
                claims.keep(&payload),
                payload,
                version,
                exp,
                config.name_arc(),
            ),
            source_index,
            source,
            key_index,
            exp,
            nbf,
        })
    }

    fn check_issuer(
        &self,
        claims: &TokenClaims<'_>,
        source: &SourceKeys,
        key_issuer: Option<&str>,
        version: TokenVersion,
    ) -> Result<(), AuthError> {
        let config = &self.config;
        let iss = claims
            .iss
            .as_deref()
            .ok_or(AuthError::MissingClaim { claim: "iss" })?;
        let tid = claims.tid.as_deref();
        if let Some(t) = tid {
            if !is_guid(t) {
                return Err(AuthError::InvalidClaim {
                    claim: "tid",
                    expected: "a tenant id GUID",
                });
            }
        }
        let expected = expected_issuer(&source.issuer, tid).map_err(|e| match e {
            TemplateError::MissingTid => AuthError::MissingClaim { claim: "tid" },
            TemplateError::TidNotGuid => AuthError::InvalidClaim {
                claim: "tid",
                expected: "a tenant id GUID",
            },
        })?;
        if iss != expected {
            return Err(AuthError::IssuerMismatch {
                hint: issuer_hint(&expected, iss, version),
                expected: expected.into_owned(),
                found: clip(iss),
            });
        }
        // tid must be the tenant segment of iss
        if let (Some(t), Some(seg)) = (tid, tenant_segment(iss)) {
            if !t.eq_ignore_ascii_case(seg) {
                return Err(AuthError::TenantMismatch {
                    tid: clip(t),
                    issuer: clip(iss),
                });
            }
        }
        // allow-list (required for multi-tenant authorities unless any tenant is accepted)
        let allowed = config.allowed_tenants();
        if !config.is_any_tenant_accepted() && !allowed.is_empty() {
            let tenant = tid.or_else(|| tenant_segment(iss)).unwrap_or("");
            if !allowed
                .iter()
                .any(|a| a.as_str().eq_ignore_ascii_case(tenant))
            {
                return Err(AuthError::TenantNotAllowed {
                    tid: clip(tenant),
                    allowed: allowed.iter().map(ToString::to_string).collect(),
                });
            }
        }
        // the key's own issuer property (v2 tokens)
        if version == TokenVersion::V2 {
            if let Some(key_iss) = key_issuer {
                let key_expected =
                    expected_issuer(key_iss, tid).map_err(|_| AuthError::KeyIssuerMismatch {
                        key_issuer: key_iss.to_owned(),
                        found: clip(iss),
                    })?;
                if key_expected != iss {
                    return Err(AuthError::KeyIssuerMismatch {
                        key_issuer: key_expected.into_owned(),
                        found: clip(iss),
                    });
                }
            }
        }
        Ok(())
    }
}

fn issuer_hint(expected: &str, found: &str, version: TokenVersion) -> Option<&'static str> {
    let found_v2 = found.contains("/v2.0");
    let expected_v2 = expected.contains("/v2.0");
    if found_v2 != expected_v2 {
        return Some(match version {
            TokenVersion::V2 => "the token says ver 2.0 but carries a v1 issuer (https://sts.windows.net/{tid}/); check the identity provider",
            TokenVersion::V1 => "the token says ver 1.0 but carries a v2 issuer; check the identity provider",
        });
    }
    match (tenant_segment(expected), tenant_segment(found)) {
        (Some(a), Some(b)) if !a.eq_ignore_ascii_case(b) => {
            Some("the token was issued by another tenant; request a token from this API's tenant")
        }
        _ if found.starts_with("https://sts.windows.net/") != expected.starts_with("https://sts.windows.net/") => {
            Some("v1 tokens are issued by https://sts.windows.net/{tid}/ and v2 tokens by {instance}{tid}/v2.0; the API's app registration (accessTokenAcceptedVersion) decides which it receives")
        }
        _ => Some("the token was issued by another authority or cloud instance than the one configured"),
    }
}

fn malformed(reason: MalformedReason) -> AuthError {
    AuthError::MalformedToken { reason }
}

fn numeric_date(v: Option<f64>, claim: &'static str) -> Result<Option<i64>, AuthError> {
    match v {
        None => Ok(None),
        Some(f) if (0.0..1e15).contains(&f) => Ok(Some(f as i64)),
        Some(_) => Err(AuthError::InvalidClaim {
            claim,
            expected: "a NumericDate (seconds since 1970)",
        }),
    }
}

#[cfg(test)]
mod tests;
