//! The public facade, [`TokenValidator`]: one or several authorities, the request's bearer token
//! (RFC 6750), the verified-token caches, the choice of the authority whose rules decide, and
//! the counters.
//!
//! Its parts: `validator/authority.rs` (one authority's validator and its three verbs: cache
//! lookup, CPU verification, verification with I/O) and `validator/pipeline.rs` (the numbered
//! steps from the token to [`VerifiedClaims`], CPU only; the only code in this crate that decodes
//! a token).

mod authority;
mod pipeline;

use std::sync::Arc;

use http::HeaderMap;
use tokio::task::JoinHandle;

use self::authority::{AuthorityValidator, IssuerMatch};
use self::pipeline::{KeyMiss, Pending};
use crate::authority::TokenVersion;
use crate::bearer::{has_access_token_param, BearerHeader};
use crate::cache::TokenHash;
use crate::claims::{TokenClaims, VerifiedClaims};
use crate::config::AuthConfig;
use crate::discovery::MetadataRefused;
use crate::error::{clip, AuthError, InvalidRequestReason};
use crate::fetch::HttpFetch;
use crate::jwks::{SourceKeys, Trigger};
use crate::jws::Compact;
use crate::metrics::{AuthMetrics, Metrics};
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
    /// The token must be verified with I/O ([`TokenValidator::verify_request`]).
    Verify {
        /// The hash of the token's bytes, if computed.
        hash: Option<TokenHash>,
        /// The parsed token, when its key was missing from the snapshot.
        miss: Option<Box<KeyMiss>>,
    },
}

/// Validates Microsoft identity platform access tokens. Cheap to clone (an `Arc` inside).
///
/// One validator serves one authority ([`new`](Self::new)) or several named ones
/// ([`multi`](Self::multi): e.g. the workforce tenant and a B2C user flow), each with its own
/// configuration, keys, refresh and token cache. With several, the token's `iss` (read before
/// anything is trusted) selects the authorities whose metadata names it, an exact issuer before
/// a `{tenantid}` template, and the first of them whose rules accept the token decides (so the
/// order of configuration never matters); a token whose issuer is none of theirs is refused with
/// `unknown_issuer` (the accepted issuers go to the log, not to the caller).
#[derive(Debug, Clone)]
pub struct TokenValidator {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// At least one.
    authorities: Box<[AuthorityValidator]>,
    metrics: Arc<Metrics>,
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
        let one = AuthorityValidator::new(config, fetcher, &metrics);
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
            .map(|(c, f)| AuthorityValidator::new(c, f, &metrics))
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

    fn first(&self) -> &AuthorityValidator {
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

    /// The identity provider's refusal of an authority's metadata, while it lasts: a 400 or 404
    /// answer before any key of that authority was loaded (a tenant that does not exist, a tenant
    /// path inside the instance URL). A configuration mistake rather than an outage: report it
    /// loudly and name the setting. `None` when no authority is refused (loaded, loading, or
    /// failing otherwise, such as an unreachable identity provider).
    pub fn configuration_error(&self) -> Option<MetadataRefused> {
        self.inner.authorities.iter().find_map(|a| a.keys.refused())
    }

    /// Resolves once every authority has completed at least one key refresh, whether it loaded
    /// keys or not: from then on [`configuration_error`](Self::configuration_error) can tell a
    /// refused configuration. Combine with a timeout.
    pub async fn first_refresh_done(&self) {
        for a in self.inner.authorities.iter() {
            a.keys.wait_attempted().await;
        }
    }

    /// A snapshot of the counters (of all authorities together).
    pub fn metrics(&self) -> AuthMetrics {
        let entries = self
            .inner
            .authorities
            .iter()
            .map(AuthorityValidator::cached_tokens)
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
            self.first().validate(token, None).await
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
            return self.first().validate(token, None).await;
        }
        let hash = TokenHash::of(token);
        if let Some(claims) = self.probe(&hash) {
            return Ok(claims);
        }
        let candidates = self.candidates(token).await?;
        candidates
            .first_accepting(|a| a.validate(token, Some(hash)))
            .await
    }

    /// The claims of `hash` in the cache of any authority (a hit is counted).
    fn probe(&self, hash: &TokenHash) -> Option<VerifiedClaims> {
        self.inner.authorities.iter().find_map(|a| a.lookup(hash))
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
            Decision::Verify { hash, miss } => {
                self.verify_request(head, hash, miss, requirement).await
            }
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
        let claims = match first.lookup_bearer(&bearer) {
            Ok(claims) => claims,
            Err(hash) if self.inner.authorities.len() == 1 => {
                return decide_uncached(first, &bearer, hash, requirement);
            }
            Err(None) => {
                return Decision::Verify {
                    hash: None,
                    miss: None,
                }
            }
            Err(Some(hash)) => {
                // Several authorities: the same hash in the others' caches.
                match self.inner.authorities[1..]
                    .iter()
                    .find_map(|a| a.lookup(&hash))
                {
                    Some(claims) => claims,
                    None => {
                        return Decision::Verify {
                            hash: Some(hash),
                            miss: None,
                        }
                    }
                }
            }
        };
        match requirement {
            Some(r) if r.is_async() => Decision::Verify {
                hash: None,
                miss: None,
            },
            Some(r) => Decision::Done(r.check(&claims).map(|()| claims)),
            None => Decision::Done(Ok(claims)),
        }
    }

    /// The rest of [`authorize`](Self::authorize) after [`Decision::Verify`] (not counted): a
    /// token parsed before its key was found resumes after the fetch (one authority); any
    /// other is read from the request and validated by the authority its issuer selects.
    pub(crate) async fn verify_request(
        &self,
        head: RequestHead<'_>,
        hash: Option<TokenHash>,
        miss: Option<Box<KeyMiss>>,
        requirement: Option<&Requirement>,
    ) -> Result<VerifiedClaims, AuthError> {
        let claims = match miss {
            Some(miss) => self.first().resume(miss, hash).await?,
            None => {
                let bearer =
                    BearerHeader::find(head.headers, self.first().config.max_token_bytes())?;
                let token = bearer.token()?;
                let candidates = self.candidates(token).await?;
                candidates
                    .first_accepting(|a| a.validate(token, hash))
                    .await?
            }
        };
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
        let candidates = self.candidates(token).await?;
        candidates
            .first_accepting(|a| a.verify_uncached(token))
            .await
    }

    /// The metadata and keys the first authority checks tokens of `version` against, if loaded.
    pub(crate) fn source_for(&self, version: TokenVersion) -> Option<Arc<SourceKeys>> {
        self.first().source_for(version)
    }

    /// The authorities whose rules may decide `token`, best first: the only one; or every
    /// authority whose metadata names the token's `iss` (read without trusting it), those whose
    /// issuer is exactly `iss` before those whose `{tenantid}` template yields it, each group in
    /// configuration order. A multi-tenant authority therefore never captures the tokens of a
    /// single-tenant authority on the same instance, whatever the order of configuration. A
    /// token that cannot be read goes to the first authority, whose pipeline says what is wrong
    /// with it.
    async fn candidates(&self, token: &str) -> Result<Candidates<'_>, AuthError> {
        let all = &self.inner.authorities;
        let only_first = || Candidates {
            best: self.first(),
            others: Vec::new(),
        };
        if all.len() == 1 {
            return Ok(only_first());
        }
        let Some((iss, tid)) = unverified_issuer(token) else {
            return Ok(only_first());
        };
        let tid = tid.as_deref();
        let found = matching(all, &iss, tid);
        let unloaded = || all.iter().filter(|a| !a.keys.is_ready());
        let exact = |found: &[(IssuerMatch, &AuthorityValidator)]| {
            found.first().is_some_and(|(m, _)| *m == IssuerMatch::Exact)
        };
        if exact(&found) || unloaded().next().is_none() {
            if let Some(c) = Candidates::of(found) {
                return Ok(c);
            }
        }
        // Authorities whose metadata is not loaded yet may be the issuer (or its exact issuer,
        // ahead of a template): one rate-limited refresh each, then decide.
        for a in unloaded() {
            a.keys.refresh(Trigger::Forced).await;
        }
        if let Some(c) = Candidates::of(matching(all, &iss, tid)) {
            return Ok(c);
        }
        if let Some(a) = unloaded().next() {
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
            accepted: all.iter().flat_map(AuthorityValidator::issuers).collect(),
        })
    }
}

/// The authorities that name `iss` as their issuer: exact matches first, then templates, each in
/// configuration order.
fn matching<'a>(
    all: &'a [AuthorityValidator],
    iss: &str,
    tid: Option<&str>,
) -> Vec<(IssuerMatch, &'a AuthorityValidator)> {
    let mut found: Vec<_> = all
        .iter()
        .filter_map(|a| a.issues(iss, tid).map(|m| (m, a)))
        .collect();
    found.sort_by_key(|(m, _)| *m);
    found
}

/// The authorities that may decide a token, best first (never none).
struct Candidates<'a> {
    best: &'a AuthorityValidator,
    others: Vec<&'a AuthorityValidator>,
}

impl<'a> Candidates<'a> {
    fn of(found: Vec<(IssuerMatch, &'a AuthorityValidator)>) -> Option<Self> {
        let mut all = found.into_iter().map(|(_, a)| a);
        Some(Self {
            best: all.next()?,
            others: all.collect(),
        })
    }

    /// The claims from the first candidate whose pipeline accepts the token, else the best
    /// candidate's refusal.
    async fn first_accepting<F, Fut>(&self, mut validate: F) -> Result<VerifiedClaims, AuthError>
    where
        F: FnMut(&'a AuthorityValidator) -> Fut,
        Fut: std::future::Future<Output = Result<VerifiedClaims, AuthError>>,
    {
        let refusal = match validate(self.best).await {
            Ok(claims) => return Ok(claims),
            Err(e) => e,
        };
        for a in &self.others {
            if let Ok(claims) = validate(a).await {
                return Ok(claims);
            }
        }
        Err(refusal)
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

/// A single authority's request whose token the cache does not hold: verified here from the key
/// snapshot (CPU only, so the tower layer needs no boxed future), unless keys must be fetched
/// (the parsed token travels in the decision) or the requirement needs I/O.
fn decide_uncached(
    authority: &AuthorityValidator,
    bearer: &BearerHeader<'_>,
    hash: Option<TokenHash>,
    requirement: Option<&Requirement>,
) -> Decision {
    if requirement.is_some_and(Requirement::is_async) {
        return Decision::Verify { hash, miss: None };
    }
    let token = match bearer.token() {
        Ok(t) => t,
        Err(e) => return Decision::Done(Err(e)),
    };
    match authority.verify_now(token, hash) {
        Ok(claims) => Decision::Done(match requirement {
            Some(r) => r.check(&claims).map(|()| claims),
            None => Ok(claims),
        }),
        Err(Pending::Failed(e)) => Decision::Done(Err(e)),
        Err(Pending::Keys(miss)) => Decision::Verify {
            hash,
            miss: Some(miss),
        },
    }
}

#[cfg(test)]
mod tests;
