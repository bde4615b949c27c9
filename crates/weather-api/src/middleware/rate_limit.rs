//! Fair limits per caller: the [`RateLimited<C>`] extractor, the [`RateLimiter`] behind it (a local
//! GCRA, and when `rate_limit.redis_url` is set the same GCRA shared through Redis), and the
//! [`add_headers`] function that puts `RateLimit-Policy` / `RateLimit` on allowed answers.
//!
//! **Who the caller is.** The extractor runs after authentication (a handler lists it after its auth
//! extractor; with a route layer, the layer ran before): it reads the `VerifiedClaims` the auth step put
//! in the request extensions. A user is `tid` + `oid`; an app-only token is `tid` + its client id
//! (`azp`/`appid`); a request without verified claims (anonymous routes) is its client address (after
//! the trusted-proxy rules). A token that does not validate never reaches the extractor, so it cannot
//! spend anybody's budget, and a refused request never reaches the handler's database work.
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
use std::hash::BuildHasher;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRef, FromRequestParts};
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

/// Who the caller is, as a limiter key: `u:{tid}:{oid}`, `a:{tid}:{client id}` or `ip:{address}`.
pub fn caller_key(extensions: &http::Extensions) -> String {
    if let Some(claims) = extensions.get::<VerifiedClaims>() {
        let tid = claims.tid().unwrap_or("-");
        if !claims.is_app_only() {
            if let Some(oid) = claims.oid() {
                return format!("u:{tid}:{oid}");
            }
        }
        if let Some(app) = claims.client_id() {
            return format!("a:{tid}:{app}");
        }
        if let Some(sub) = claims.sub() {
            return format!("s:{tid}:{sub}");
        }
    }
    match extensions.get::<ClientInfo>().and_then(|c| c.ip) {
        Some(ip) => format!("ip:{ip}"),
        None => "ip:unknown".to_owned(),
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
                secrecy::ExposeSecret::expose_secret(url),
                config.redis_timeout,
                config.redis_key_prefix.clone(),
            )?),
            None => None,
        };
        Ok(Self {
            read: Gcra::new(config.read, config.max_callers),
            write: Gcra::new(config.write, config.max_callers),
            shared,
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
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        (gcra.check(caller, now, class), now)
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
fn evict(table: &mut Table, now: u64, limit: usize) {
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
    }
}
