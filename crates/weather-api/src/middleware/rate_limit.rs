//! Fair limits per caller: the [`RateLimited<C>`] extractor, the [`RateLimiter`] behind it (a local
//! GCRA, and when `rate_limit.redis_url` is set the same GCRA shared through Redis), and the
//! [`add_headers`] function that puts `RateLimit-Policy` / `RateLimit` on allowed answers.
//!
//! **Who the caller is.** The extractor runs after authentication (a handler lists it after its auth
//! extractor; with a route layer, the layer ran before): it reads the `VerifiedClaims` the auth step put
//! in the request extensions. A delegated token is its user (`tid` + `oid`, else `iss` + `sub`), never
//! its client app; an app-only token is `tid` + its client id (`azp`/`appid`); a request without
//! verified claims (anonymous routes) is its client address (after the trusted-proxy rules; IPv6 per
//! /64): [`caller_key`]. A token that does not validate never reaches the extractor, so it cannot spend
//! anybody's budget, and a refused request never reaches the handler's database work.
//!
//! **Invalid tokens.** Verifying a token costs a signature check, so unauthenticated garbage must not
//! buy unlimited work: [`InvalidTokenLayer`] keeps, per client address ([`AddressKey`]), a GCRA that
//! only 401 answers to requests with a token spend ([`INVALID_TOKENS`]: a burst of 100, then 10 a
//! second). Over it, the address's requests with a token are answered 429 `too_many_invalid_tokens`
//! before any verification. Valid tokens never spend it, and while no address is over budget the check
//! is one atomic load. Local to each instance (a flood is stopped where it lands).
//!
//! **The algorithm.** GCRA (the generic cell rate algorithm): per key one "theoretical arrival time"
//! (TAT). A request at `now` is allowed when `max(TAT, now) + interval - window <= now`, and then moves
//! TAT to `max(TAT, now) + interval`, where `interval = window / requests`. One number per caller,
//! no timers; a quiet caller may send a whole window's quota at once. The local table is split into
//! shards behind `std` mutexes (never held across an await), and bounded: a full shard first drops the
//! callers whose TAT has passed (they are indistinguishable from new ones), then the one closest to it.
//!
//! **Shared.** With Redis the same GCRA runs as one Lua script (atomic; Redis' own clock, so instances
//! need not agree on time): one round trip per allowed-by-the-local-limiter request. The local limiter
//! is always consulted first, with the same quota: it never refuses what the global one would allow
//! (an instance sees a subset of the caller's requests), it saves the round trip for a caller already
//! over its quota, and it keeps protecting when Redis is down. A Redis error or timeout fails open to
//! the local decision, logs ONE warning per outage (and one info line when Redis answers again), and
//! Redis is not asked again for [`REDIS_RETRY`] so an outage costs no time per request.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{FromRef, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use entra_auth::VerifiedClaims;
use http::request::Parts;

use super::client_info::ClientInfo;
use super::notes::RequestNotes;
use crate::domain::{Quota, RateDecision, RouteClass};
use crate::error::{insert_rate_limit_headers, ApiError};
use crate::settings::RateLimitSettings;

/// How long Redis is left alone after an error before it is asked again.
pub const REDIS_RETRY: Duration = Duration::from_secs(1);

/// Local table shards (a power of two).
const SHARDS: usize = 16;

/// A route class for [`RateLimited`]: [`ReadClass`] or [`WriteClass`].
pub trait Class: Send + Sync + 'static {
    /// The class.
    const CLASS: RouteClass;
}

/// Read routes (`rate_limit.read`).
#[derive(Debug, Clone, Copy)]
pub struct ReadClass;

impl Class for ReadClass {
    const CLASS: RouteClass = RouteClass::Read;
}

/// Write routes (`rate_limit.write`).
#[derive(Debug, Clone, Copy)]
pub struct WriteClass;

impl Class for WriteClass {
    const CLASS: RouteClass = RouteClass::Write;
}

/// Extractor: the request is within its caller's quota for class `C` (or the handler does not run:
/// 429 [`ApiError::RateLimited`]). List it after the auth extractor.
#[derive(Debug, Clone, Copy)]
pub struct RateLimited<C>(pub RateDecision, PhantomData<C>);

impl<S, C> FromRequestParts<S> for RateLimited<C>
where
    S: Send + Sync,
    C: Class,
    Arc<RateLimiter>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let limiter = Arc::<RateLimiter>::from_ref(state);
        let caller = caller_key(&parts.extensions);
        let decision = limiter.check(C::CLASS, &caller).await;
        if let Some(notes) = parts.extensions.get::<RequestNotes>() {
            notes.set_rate(decision);
        }
        if decision.is_allowed() {
            Ok(Self(decision, PhantomData))
        } else {
            tracing::debug!(class = C::CLASS.as_str(), "rate limited");
            Err(ApiError::RateLimited(decision))
        }
    }
}

/// Who the caller is, as a limiter key:
///
/// - a delegated token (a user signed in to some client app): the user, `u:{tid}:{oid}`, or where the
///   token has no `oid` (Azure AD B2C user flows by default) `us:{iss}:{sub}` (`sub` is unique within
///   its issuer). Never the client app: one user of a single-page app must not spend every user's
///   quota. A delegated token naming no user at all is keyed by its client address;
/// - an app-only token: the app, `a:{tid}:{client id}`, else `as:{tid}:{sub}`;
/// - no verified claims (anonymous routes): the client address, `ip:{address}` for IPv4 and
///   `ip:{network}/64` for IPv6 (one host is routinely given a whole /64, so per address it would have
///   2^64 budgets).
pub fn caller_key(extensions: &http::Extensions) -> String {
    if let Some(claims) = extensions.get::<VerifiedClaims>() {
        let tid = claims.tid().unwrap_or("-");
        if claims.is_app_only() {
            if let Some(app) = claims.client_id() {
                return format!("a:{tid}:{app}");
            }
            if let Some(sub) = claims.sub() {
                return format!("as:{tid}:{sub}");
            }
        } else {
            if let Some(oid) = claims.oid() {
                return format!("u:{tid}:{oid}");
            }
            if let Some(sub) = claims.sub() {
                return format!("us:{}:{sub}", claims.issuer().unwrap_or(tid));
            }
        }
    }
    match extensions.get::<ClientInfo>().and_then(|c| c.ip) {
        Some(ip) => match ip.to_canonical() {
            IpAddr::V4(v4) => format!("ip:{v4}"),
            IpAddr::V6(_) => format!("ip:{}/64", Ipv6Addr::from(AddressKey::of(ip).0)),
        },
        None => "ip:unknown".to_owned(),
    }
}

/// A client address as the limits see it: an IPv4 address (as its IPv4-mapped IPv6 form), or an IPv6
/// address's /64 network. A number: no allocation to key a table with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressKey(u128);

impl AddressKey {
    /// The key of `ip`.
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self(u128::from(v4.to_ipv6_mapped())),
            IpAddr::V6(v6) => Self(u128::from(v6) & !u128::from(u64::MAX)),
        }
    }
}

/// `RateLimit-Policy` and `RateLimit` on the answer of a rate-limited route that was allowed (the 429
/// carries them already, from [`ApiError`]). The extractor notes its decision in the request's
/// [`RequestNotes`]; [`AnswerLayer`](super::layers::AnswerLayer) calls this with it.
pub fn add_headers(headers: &mut http::HeaderMap, decision: &RateDecision) {
    if decision.is_allowed() {
        insert_rate_limit_headers(headers, decision);
    }
}

/// The per-caller limiter: local GCRA tables per class, and the shared Redis GCRA when configured.
#[derive(Debug)]
pub struct RateLimiter {
    read: Gcra,
    write: Gcra,
    shared: Option<SharedGcra>,
    invalid_tokens: InvalidTokens,
    epoch: Instant,
}

impl RateLimiter {
    /// A limiter for `config`. No I/O: Redis is connected on first use.
    ///
    /// # Errors
    /// [`redis::RedisError`] when `redis_url` is not a valid Redis URL.
    pub fn new(config: &RateLimitSettings) -> Result<Self, redis::RedisError> {
        let shared = match &config.redis_url {
            Some(url) => Some(SharedGcra::new(
                entra_core::ExposeSecret::expose_secret(url),
                config.redis_timeout,
                config.redis_key_prefix.clone(),
            )?),
            None => None,
        };
        Ok(Self {
            read: Gcra::new(config.read, config.max_callers),
            write: Gcra::new(config.write, config.max_callers),
            shared,
            invalid_tokens: InvalidTokens::new(config.max_callers),
            epoch: Instant::now(),
        })
    }

    /// True when limits are shared through Redis.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// The decision for one request of `caller` on a `class` route (and its cost is spent if allowed):
    /// the local limiter's, then (when it allows and Redis is configured) the shared one's.
    pub async fn check(&self, class: RouteClass, caller: &str) -> RateDecision {
        let (local, now) = self.check_local_at(class, caller);
        if !local.is_allowed() {
            return local;
        }
        match &self.shared {
            Some(shared) => shared
                .check(class, local.quota, caller, now)
                .await
                .unwrap_or(local),
            None => local,
        }
    }

    /// This instance's decision alone (what [`RateLimiter::check`] costs without Redis; benchmarks).
    pub fn check_local(&self, class: RouteClass, caller: &str) -> RateDecision {
        self.check_local_at(class, caller).0
    }

    fn check_local_at(&self, class: RouteClass, caller: &str) -> (RateDecision, u64) {
        let gcra = match class {
            RouteClass::Read => &self.read,
            RouteClass::Write => &self.write,
        };
        let now = self.now();
        (gcra.check(caller, now, class), now)
    }

    /// Nanoseconds on the limiter's clock.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// `None` when a request with a token from `address` may be verified now; otherwise how long
    /// until it may (the address presented too many invalid tokens).
    pub fn invalid_token_wait(&self, address: AddressKey) -> Option<Duration> {
        self.invalid_tokens
            .wait(address, || self.now())
            .map(Duration::from_nanos)
    }

    /// Counts one invalid token presented from `address`.
    pub fn record_invalid_token(&self, address: AddressKey) {
        self.invalid_tokens.record(address, self.now());
    }
}

/// The invalid tokens one client address may present, at most: a burst of 100, then one every 100 ms.
/// Each costs a signature verification (an RSA operation) unless it fails earlier; legitimate clients
/// present few (an expired token, then a fresh one), valid tokens never count.
pub const INVALID_TOKENS: (u32, Duration) = (100, Duration::from_secs(10));

/// The pre-limit on invalid tokens per client address ([`AddressKey`]), a GCRA whose budget only
/// failed verifications spend. Consulted before a token is verified; while no address is over its
/// budget (the normal state) that is one atomic load.
#[derive(Debug)]
struct InvalidTokens {
    interval: u64,
    window: u64,
    per_shard: usize,
    /// How many addresses have a TAT in the table; 0 answers "may verify" without a lock.
    tracked: AtomicUsize,
    hasher: std::collections::hash_map::RandomState,
    shards: Box<[Mutex<HashMap<AddressKey, u64>>]>,
}

impl InvalidTokens {
    fn new(max_addresses: usize) -> Self {
        let (requests, window) = INVALID_TOKENS;
        let quota = Quota::new(requests, window).expect("BUG: INVALID_TOKENS is a positive quota");
        Self {
            interval: nanos(quota.emission_interval()),
            window: nanos(quota.window()),
            per_shard: (max_addresses / SHARDS).max(1),
            tracked: AtomicUsize::new(0),
            hasher: std::collections::hash_map::RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, address: AddressKey) -> &Mutex<HashMap<AddressKey, u64>> {
        let hash = self.hasher.hash_one(address);
        &self.shards[usize::try_from(hash).unwrap_or(0) & (SHARDS - 1)]
    }

    /// `None` when `address` may present a token now, else the nanoseconds until it may. An address
    /// whose TAT has passed is forgotten (its next invalid token starts a new budget).
    fn wait(&self, address: AddressKey, now: impl FnOnce() -> u64) -> Option<u64> {
        if self.tracked.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let now = now();
        let mut table = self
            .shard(address)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let tat = *table.get(&address)?;
        if tat <= now {
            table.remove(&address);
            self.tracked.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let allow_at = tat
            .saturating_add(self.interval)
            .saturating_sub(self.window);
        (now < allow_at).then(|| allow_at - now)
    }

    /// Spends one invalid token of `address`'s budget (never more than one window ahead, however
    /// many were in flight at once).
    fn record(&self, address: AddressKey, now: u64) {
        let mut table = self
            .shard(address)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let ceiling = now.saturating_add(self.window);
        if let Some(tat) = table.get_mut(&address) {
            *tat = (*tat).max(now).saturating_add(self.interval).min(ceiling);
            return;
        }
        if table.len() >= self.per_shard {
            let before = table.len();
            evict(&mut table, now, self.per_shard);
            self.tracked
                .fetch_sub(before - table.len(), Ordering::Relaxed);
        }
        table.insert(address, now.saturating_add(self.interval));
        self.tracked.fetch_add(1, Ordering::Relaxed);
    }
}

/// Tower layer: the pre-limit on invalid tokens. A request that carries a token (an `Authorization`
/// header or an `access_token` query parameter) from a client address over its [`INVALID_TOKENS`]
/// budget is answered 429 `too_many_invalid_tokens` with `Retry-After` before anything verifies its
/// token; a 401 answer to a request that carried one spends one of its address's budget. Sits inside
/// [`EdgeLayer`](super::layers::EdgeLayer), which resolved the client address.
#[derive(Debug, Clone)]
pub struct InvalidTokenLayer {
    limiter: Arc<RateLimiter>,
}

impl InvalidTokenLayer {
    /// The layer, counting in `limiter`.
    pub fn new(limiter: Arc<RateLimiter>) -> Self {
        Self { limiter }
    }
}

impl<S> tower::Layer<S> for InvalidTokenLayer {
    type Service = InvalidTokenGuard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InvalidTokenGuard {
            inner,
            limiter: Arc::clone(&self.limiter),
        }
    }
}

/// The service of [`InvalidTokenLayer`].
#[derive(Debug, Clone)]
pub struct InvalidTokenGuard<S> {
    inner: S,
    limiter: Arc<RateLimiter>,
}

/// True when the request presents a token (valid or not) to be verified.
fn carries_token(request: &Request) -> bool {
    request.headers().contains_key(http::header::AUTHORIZATION)
        || request
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p.starts_with("access_token=")))
}

impl<S> tower::Service<Request> for InvalidTokenGuard<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let address = carries_token(&request)
            .then(|| request.extensions().get::<ClientInfo>().and_then(|c| c.ip))
            .flatten()
            .map(AddressKey::of);
        if let Some(address) = address {
            if let Some(retry_after) = self.limiter.invalid_token_wait(address) {
                tracing::debug!("too many invalid tokens from this address: refused unverified");
                return GuardFuture {
                    inner: None,
                    refused: Some(ApiError::TooManyInvalidTokens { retry_after }.into_response()),
                    spend: None,
                };
            }
        }
        GuardFuture {
            inner: Some(self.inner.call(request)),
            refused: None,
            spend: address.map(|a| (Arc::clone(&self.limiter), a)),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`InvalidTokenGuard`]: the refusal, or the inner answer (counted when a 401).
    pub struct GuardFuture<F> {
        #[pin]
        inner: Option<F>,
        refused: Option<Response>,
        spend: Option<(Arc<RateLimiter>, AddressKey)>,
    }
}

impl<F, E> Future for GuardFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(refused) = this.refused.take() {
            return Poll::Ready(Ok(refused));
        }
        let inner = this
            .inner
            .as_pin_mut()
            .expect("BUG: GuardFuture polled after it completed");
        let response = ready!(inner.poll(cx))?;
        if response.status() == http::StatusCode::UNAUTHORIZED {
            if let Some((limiter, address)) = this.spend.take() {
                limiter.record_invalid_token(address);
            }
        }
        Poll::Ready(Ok(response))
    }
}

/// One shard: caller key -> TAT (nanoseconds on the limiter's clock).
type Table = HashMap<Box<str>, u64>;

/// One class's local GCRA table.
#[derive(Debug)]
struct Gcra {
    quota: Quota,
    interval: u64,
    window: u64,
    per_shard: usize,
    hasher: std::collections::hash_map::RandomState,
    shards: Box<[Mutex<Table>]>,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Gcra {
    fn new(quota: Quota, max_callers: usize) -> Self {
        Self {
            quota,
            interval: nanos(quota.emission_interval()),
            window: nanos(quota.window()),
            per_shard: (max_callers / SHARDS).max(1),
            hasher: std::collections::hash_map::RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// The decision at `now` (nanoseconds on the limiter's clock).
    fn check(&self, key: &str, now: u64, class: RouteClass) -> RateDecision {
        let hash = self.hasher.hash_one(key);
        let shard = &self.shards[usize::try_from(hash).unwrap_or(0) & (SHARDS - 1)];
        // A poisoned shard only means another request panicked mid-update of plain integers.
        let mut table = shard.lock().unwrap_or_else(|p| p.into_inner());
        let tat = table.get(key).copied().unwrap_or(now).max(now);
        let new_tat = tat.saturating_add(self.interval);
        let allow_at = new_tat.saturating_sub(self.window);
        if now < allow_at {
            return self.decision(class, tat - now, Some(allow_at - now));
        }
        if let Some(slot) = table.get_mut(key) {
            *slot = new_tat;
        } else {
            if table.len() >= self.per_shard {
                evict(&mut table, now, self.per_shard);
            }
            table.insert(key.into(), new_tat);
        }
        self.decision(class, new_tat - now, None)
    }

    /// The decision for a caller whose TAT is `ahead` nanoseconds after now.
    fn decision(&self, class: RouteClass, ahead: u64, retry_after: Option<u64>) -> RateDecision {
        decision(
            class,
            self.quota,
            self.interval,
            self.window,
            ahead,
            retry_after,
        )
    }
}

fn decision(
    class: RouteClass,
    quota: Quota,
    interval: u64,
    window: u64,
    ahead: u64,
    retry_after: Option<u64>,
) -> RateDecision {
    let remaining = window.saturating_sub(ahead) / interval.max(1);
    RateDecision {
        class,
        quota,
        remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
        reset: Duration::from_nanos(ahead),
        retry_after: retry_after.map(Duration::from_nanos),
    }
}

/// Makes room in a full shard: forget callers whose TAT has passed, else the one nearest to it.
fn evict<K: Clone + Eq + Hash>(table: &mut HashMap<K, u64>, now: u64, limit: usize) {
    table.retain(|_, tat| *tat > now);
    if table.len() >= limit {
        if let Some(key) = table
            .iter()
            .min_by_key(|(_, tat)| **tat)
            .map(|(k, _)| k.clone())
        {
            table.remove(&key);
        }
    }
}

/// The GCRA in Redis: KEYS[1] the caller's key; ARGV[1] the interval, ARGV[2] the window (both µs).
/// Returns {allowed (1/0), µs until allowed (0 when allowed), µs from now to the TAT after the call}.
const GCRA_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - window
if now < allow_at then
  return {0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, 0, new_tat - now}
";

/// The shared GCRA: one script call per request, fail-open with one warning per outage.
struct SharedGcra {
    client: redis::Client,
    connection: tokio::sync::OnceCell<redis::aio::ConnectionManager>,
    script: redis::Script,
    timeout: Duration,
    prefix: String,
    down: AtomicBool,
    /// Limiter-clock nanoseconds before which Redis is not asked (after an error).
    retry_at: AtomicU64,
}

impl std::fmt::Debug for SharedGcra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: not shown.
        f.debug_struct("SharedGcra")
            .field("timeout", &self.timeout)
            .field("prefix", &self.prefix)
            .field("down", &self.down.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl SharedGcra {
    fn new(url: &str, timeout: Duration, prefix: String) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            connection: tokio::sync::OnceCell::new(),
            script: redis::Script::new(GCRA_SCRIPT),
            timeout,
            prefix,
            down: AtomicBool::new(false),
            retry_at: AtomicU64::new(0),
        })
    }

    /// The shared decision, or `None` (fail open) when Redis does not answer in time.
    async fn check(
        &self,
        class: RouteClass,
        quota: Quota,
        caller: &str,
        now: u64,
    ) -> Option<RateDecision> {
        if now < self.retry_at.load(Ordering::Relaxed) {
            return None;
        }
        let key = format!("{}{}:{caller}", self.prefix, class.as_str());
        let interval = micros(quota.emission_interval());
        let window = micros(quota.window());
        let call = async {
            let connection = self
                .connection
                .get_or_try_init(|| self.client.get_connection_manager())
                .await?;
            let mut connection = connection.clone();
            self.script
                .key(&key)
                .arg(interval)
                .arg(window)
                .invoke_async::<(i64, i64, i64)>(&mut connection)
                .await
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok((allowed, wait, ahead))) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!(key_prefix = %self.prefix, "rate limit: Redis answers again; limits are shared again");
                }
                let us = |v: i64| u64::try_from(v).unwrap_or(0).saturating_mul(1000);
                Some(decision(
                    class,
                    quota,
                    interval.saturating_mul(1000),
                    window.saturating_mul(1000),
                    us(ahead),
                    (allowed == 0).then(|| us(wait)),
                ))
            }
            outcome => {
                self.retry_at
                    .store(now.saturating_add(nanos(REDIS_RETRY)), Ordering::Relaxed);
                if !self.down.swap(true, Ordering::Relaxed) {
                    let error = match outcome {
                        Ok(Err(e)) => e.to_string(),
                        _ => format!("no answer within {} ms", self.timeout.as_millis()),
                    };
                    tracing::warn!(
                        %error,
                        key_prefix = %self.prefix,
                        "rate limit: Redis unavailable; failing open to this instance's local \
                         limits until it answers again"
                    );
                }
                None
            }
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn gcra(requests: u32, window_secs: u64, max_callers: usize) -> Gcra {
        Gcra::new(
            Quota::new(requests, Duration::from_secs(window_secs)).unwrap(),
            max_callers,
        )
    }

    #[test]
    fn quota_is_a_burst_then_one_per_interval() {
        let g = gcra(3, 3, 100);
        let now = 10 * SEC;
        let remaining: Vec<u32> = (0..3)
            .map(|_| {
                let d = g.check("a", now, RouteClass::Read);
                assert!(d.is_allowed());
                d.remaining
            })
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = g.check("a", now, RouteClass::Read);
        assert_eq!(refused.retry_after, Some(Duration::from_secs(1)));
        assert_eq!(refused.reset, Duration::from_secs(3));
        // One interval later, one more.
        assert!(g.check("a", now + SEC, RouteClass::Read).is_allowed());
        assert!(!g.check("a", now + SEC, RouteClass::Read).is_allowed());
        // Another caller has its own budget.
        assert!(g.check("b", now, RouteClass::Read).is_allowed());
    }

    #[test]
    fn refused_requests_do_not_spend_the_budget() {
        let g = gcra(1, 1, 100);
        assert!(g.check("a", SEC, RouteClass::Read).is_allowed());
        for _ in 0..10 {
            assert!(!g.check("a", SEC, RouteClass::Read).is_allowed());
        }
        assert!(g.check("a", 2 * SEC, RouteClass::Read).is_allowed());
    }

    #[test]
    fn table_stays_bounded_and_keeps_live_callers() {
        let g = gcra(1, 60, SHARDS * 4);
        for i in 0..10_000 {
            g.check(&format!("caller {i}"), SEC, RouteClass::Read);
        }
        let tracked: usize = g.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(tracked <= SHARDS * 4, "{tracked}");
        // Expired callers are dropped first: after the window everybody is new again.
        assert!(g
            .check("caller 0", 120 * SEC, RouteClass::Read)
            .is_allowed());
    }

    #[test]
    fn address_keys_group_ipv6_by_64_and_keep_ipv4_per_address() {
        let key = |ip: &str| AddressKey::of(ip.parse().unwrap());
        assert_eq!(
            key("2001:db8:1:2::1"),
            key("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
        // A dual-stack socket's IPv4 client is that IPv4 address, not the ::ffff:0:0/64 network.
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_ne!(key("::ffff:192.0.2.1"), key("::ffff:192.0.2.2"));
    }

    #[test]
    fn invalid_token_budget_is_a_burst_then_refuses_until_it_refills() {
        let tokens = InvalidTokens::new(1000);
        let address = AddressKey::of("203.0.113.9".parse().unwrap());
        let other = AddressKey::of("203.0.113.10".parse().unwrap());
        let now = 100 * SEC;
        assert_eq!(tokens.wait(address, || now), None);
        for _ in 0..INVALID_TOKENS.0 {
            assert_eq!(tokens.wait(address, || now), None);
            tokens.record(address, now);
        }
        let wait = tokens.wait(address, || now).expect("over budget");
        assert_eq!(wait, tokens.interval);
        assert_eq!(tokens.wait(other, || now), None, "per address");
        // One interval later one more may be tried; a whole window later the address is forgotten.
        assert_eq!(tokens.wait(address, || now + tokens.interval), None);
        assert_eq!(tokens.wait(address, || now + 2 * tokens.window), None);
        assert_eq!(tokens.tracked.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn caller_key_prefers_the_verified_user_then_the_address() {
        let mut ext = http::Extensions::new();
        assert_eq!(caller_key(&ext), "ip:unknown");
        ext.insert(ClientInfo {
            peer: None,
            ip: Some("192.0.2.7".parse().unwrap()),
            scheme: "http",
            host: None,
            via_trusted_proxy: false,
        });
        assert_eq!(caller_key(&ext), "ip:192.0.2.7");
        for (ip, key) in [
            ("2001:db8::7", "ip:2001:db8::/64"),
            ("2001:db8:0:0:1:2:3:4", "ip:2001:db8::/64"),
            ("::ffff:192.0.2.7", "ip:192.0.2.7"),
        ] {
            ext.insert(ClientInfo {
                peer: None,
                ip: Some(ip.parse().unwrap()),
                scheme: "http",
                host: None,
                via_trusted_proxy: false,
            });
            assert_eq!(caller_key(&ext), key, "{ip}");
        }
    }
}
