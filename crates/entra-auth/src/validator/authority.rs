//! One authority's validator: its configuration, key store and verified-token cache, and the
//! three verbs the facade ([`TokenValidator`](crate::TokenValidator)) composes:
//! [`lookup`](AuthorityValidator::lookup) (the cache), [`verify_now`](AuthorityValidator::verify_now)
//! (CPU only, from the key snapshot) and [`verify`](AuthorityValidator::verify) (fetching keys
//! first when the snapshot lacks them, then [`resume`](AuthorityValidator::resume) with the
//! parsed token).

use std::borrow::Cow;
use std::sync::Arc;

use crate::authority::TokenVersion;
use crate::bearer::BearerHeader;
use crate::cache::{TokenCache, TokenHash, Verified};
use crate::claims::VerifiedClaims;
use crate::config::AuthConfig;
use crate::discovery::expected_issuer;
use crate::error::{AuthError, MalformedReason};
use crate::fetch::HttpFetch;
use crate::jwks::{KeyStore, SourceKeys, Trigger};
use crate::metrics::Metrics;
use crate::validator::pipeline::{self, KeyMiss, Pending};

/// How an authority's metadata names a token's issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum IssuerMatch {
    /// The metadata's issuer is the token's `iss`.
    Exact,
    /// The metadata's `{tenantid}` template, filled with the token's `tid`, is the token's `iss`.
    Template,
}

/// One authority: its configuration, keys and verified-token cache.
#[derive(Debug)]
pub(crate) struct AuthorityValidator {
    pub(crate) config: AuthConfig,
    pub(crate) keys: Arc<KeyStore>,
    metrics: Arc<Metrics>,
    /// The verified-token cache (`None` when configured off).
    cache: Option<TokenCache>,
}

impl AuthorityValidator {
    pub(crate) fn new(
        config: AuthConfig,
        fetcher: Arc<dyn HttpFetch>,
        metrics: &Arc<Metrics>,
    ) -> Self {
        let keys = Arc::new(KeyStore::new(
            config.sources().to_vec(),
            fetcher,
            Arc::clone(config.clock()),
            config.key_refresh().min_gap,
            Arc::clone(metrics),
            config.name().map(str::to_owned),
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

    /// Whether one of this authority's loaded metadata documents names `iss` as its issuer, and
    /// how (an exact issuer is preferred to a template filled with `tid`).
    pub(crate) fn issues(&self, iss: &str, tid: Option<&str>) -> Option<IssuerMatch> {
        (0..self.config.sources().len())
            .filter_map(|i| {
                self.keys.with_source(i, |s| {
                    let s = s?;
                    let expected = expected_issuer(&s.issuer, tid).ok()?;
                    (expected == iss).then_some(match expected {
                        Cow::Borrowed(_) => IssuerMatch::Exact,
                        Cow::Owned(_) => IssuerMatch::Template,
                    })
                })
            })
            .min()
    }

    /// The issuers of the loaded metadata documents (templates as published).
    pub(crate) fn issuers(&self) -> Vec<String> {
        (0..self.config.sources().len())
            .filter_map(|i| self.keys.source(i).map(|s| s.issuer.clone()))
            .collect()
    }

    /// How many tokens the cache holds.
    pub(crate) fn cached_tokens(&self) -> usize {
        self.cache.as_ref().map_or(0, TokenCache::len)
    }

    /// Verb 1, the cache: the claims of the token whose hash is `hash`, if the cache holds it
    /// (a hit is counted; the miss is counted by the verification that follows).
    pub(crate) fn lookup(&self, hash: &TokenHash) -> Option<VerifiedClaims> {
        let cache = self.cache.as_ref()?;
        let config = &self.config;
        let skew = i64::try_from(config.clock_skew().as_secs()).unwrap_or(0);
        let claims = cache.get(hash, config.clock().now(), skew, &self.keys)?;
        self.metrics.record_token_cache(true);
        Some(claims)
    }

    /// [`lookup`](Self::lookup) of a request's bearer token, by the hash of the located token
    /// bytes before any character check (only tokens that passed every check, so only
    /// well-formed ones, are ever cached). On a miss, the hash if one was computed.
    pub(crate) fn lookup_bearer(
        &self,
        bearer: &BearerHeader<'_>,
    ) -> Result<VerifiedClaims, Option<TokenHash>> {
        let (Some(_), Some(token)) = (&self.cache, bearer.candidate()) else {
            return Err(None);
        };
        let hash = TokenHash::of_bytes(token);
        self.lookup(&hash).ok_or(Some(hash))
    }

    /// Verb 2, CPU only: verifies `token` from the key snapshot and caches the result under
    /// `hash` (the cache miss is counted). A key the snapshot lacks is [`Pending::Keys`],
    /// carrying the parsed token for [`resume`](Self::resume).
    pub(crate) fn verify_now(
        &self,
        token: &str,
        hash: Option<TokenHash>,
    ) -> Result<VerifiedClaims, Pending> {
        self.check_size(token)?;
        let result = pipeline::verify_now(&self.config, &self.keys, token);
        match result {
            Err(Pending::Keys(miss)) => Err(Pending::Keys(miss)),
            Err(Pending::Failed(e)) => {
                self.count_miss(hash.as_ref());
                Err(Pending::Failed(e))
            }
            Ok(verified) => Ok(self.keep(verified, hash)),
        }
    }

    /// Verb 3, with I/O: [`verify_now`](Self::verify_now), and on a key miss one rate-limited
    /// refresh, then [`resume`](Self::resume).
    pub(crate) async fn verify(
        &self,
        token: &str,
        hash: Option<TokenHash>,
    ) -> Result<VerifiedClaims, AuthError> {
        match self.verify_now(token, hash) {
            Ok(claims) => Ok(claims),
            Err(Pending::Failed(e)) => Err(e),
            Err(Pending::Keys(miss)) => self.resume(miss, hash).await,
        }
    }

    /// Fetches keys (one rate-limited refresh, joining one in flight), then finishes the
    /// token [`verify_now`](Self::verify_now) parsed: a key still missing is refused.
    pub(crate) async fn resume(
        &self,
        miss: Box<KeyMiss>,
        hash: Option<TokenHash>,
    ) -> Result<VerifiedClaims, AuthError> {
        self.keys.refresh(Trigger::Forced).await;
        let result = pipeline::resume(&self.config, &self.keys, *miss);
        match result {
            Ok(verified) => Ok(self.keep(verified, hash)),
            Err(e) => {
                self.count_miss(hash.as_ref());
                Err(e)
            }
        }
    }

    /// Validates `token`: its size, then the cache (by `hash`, or the hash computed here),
    /// then [`verify`](Self::verify).
    pub(crate) async fn validate(
        &self,
        token: &str,
        hash: Option<TokenHash>,
    ) -> Result<VerifiedClaims, AuthError> {
        self.check_size(token)?;
        let hash = match (hash, &self.cache) {
            (Some(h), _) => Some(h),
            (None, Some(_)) => {
                let h = TokenHash::of(token);
                if let Some(claims) = self.lookup(&h) {
                    return Ok(claims);
                }
                Some(h)
            }
            (None, None) => None,
        };
        self.verify(token, hash).await
    }

    /// The pipeline without the token cache and the counters, for
    /// [`TokenValidator::explain`](crate::TokenValidator::explain).
    pub(crate) async fn verify_uncached(&self, token: &str) -> Result<VerifiedClaims, AuthError> {
        self.check_size(token)?;
        let verified = match pipeline::verify_now(&self.config, &self.keys, token) {
            Ok(v) => v,
            Err(Pending::Failed(e)) => return Err(e),
            Err(Pending::Keys(miss)) => {
                self.keys.refresh(Trigger::Forced).await;
                pipeline::resume(&self.config, &self.keys, *miss)?
            }
        };
        Ok(verified.claims)
    }

    /// The metadata and keys the tokens of `version` are checked against, if loaded.
    pub(crate) fn source_for(&self, version: TokenVersion) -> Option<Arc<SourceKeys>> {
        let index = self.config.source_for(version)?;
        self.keys.source(index)
    }

    pub(crate) fn check_size(&self, token: &str) -> Result<(), AuthError> {
        let max = self.config.max_token_bytes();
        if token.len() > max {
            return Err(AuthError::MalformedToken {
                reason: MalformedReason::TooLarge { max },
            });
        }
        Ok(())
    }

    /// A verification with the cache on and a hash computed: a cache miss.
    fn count_miss(&self, hash: Option<&TokenHash>) {
        if self.cache.is_some() && hash.is_some() {
            self.metrics.record_token_cache(false);
        }
    }

    /// The claims of a verified token, cached under `hash` (the miss counted).
    fn keep(&self, verified: Verified, hash: Option<TokenHash>) -> VerifiedClaims {
        match (&self.cache, hash) {
            (Some(cache), Some(hash)) => {
                let claims = verified.claims.clone();
                self.metrics.record_token_cache(false);
                cache.insert(hash, verified, self.config.clock().now());
                claims
            }
            _ => verified.claims,
        }
    }
}
