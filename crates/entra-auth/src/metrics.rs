//! Counters the application can export: accepted, rejected by code, key fetches, key age.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::clock::{from_unix_seconds, unix_seconds};
use crate::error::{AuthError, CODES};

const NEVER: i64 = i64::MIN;

/// Lock-free counters shared by the validator and the key store.
#[derive(Debug)]
pub(crate) struct Metrics {
    accepted: AtomicU64,
    rejected: Vec<AtomicU64>,
    key_fetches: AtomicU64,
    key_fetch_failures: AtomicU64,
    last_key_fetch: AtomicI64,
    keys_loaded_at: AtomicI64,
    token_cache_hits: AtomicU64,
    token_cache_misses: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            accepted: AtomicU64::new(0),
            rejected: CODES.iter().map(|_| AtomicU64::new(0)).collect(),
            key_fetches: AtomicU64::new(0),
            key_fetch_failures: AtomicU64::new(0),
            last_key_fetch: AtomicI64::new(NEVER),
            keys_loaded_at: AtomicI64::new(NEVER),
            token_cache_hits: AtomicU64::new(0),
            token_cache_misses: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    pub(crate) fn record_accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_rejected(&self, err: &AuthError) {
        if let Some(i) = CODES.iter().position(|c| *c == err.code()) {
            self.rejected[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn record_token_cache(&self, hit: bool) {
        let counter = if hit {
            &self.token_cache_hits
        } else {
            &self.token_cache_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_key_fetch(&self, at: SystemTime, ok: bool) {
        self.key_fetches.fetch_add(1, Ordering::Relaxed);
        self.last_key_fetch
            .store(unix_seconds(at), Ordering::Relaxed);
        if ok {
            self.keys_loaded_at
                .store(unix_seconds(at), Ordering::Relaxed);
        } else {
            self.key_fetch_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self, now: SystemTime, token_cache_entries: usize) -> AuthMetrics {
        let at = |a: &AtomicI64| match a.load(Ordering::Relaxed) {
            NEVER => None,
            s => Some(s),
        };
        AuthMetrics {
            accepted: self.accepted.load(Ordering::Relaxed),
            rejected: CODES
                .iter()
                .zip(&self.rejected)
                .map(|(c, n)| (*c, n.load(Ordering::Relaxed)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            key_fetches: self.key_fetches.load(Ordering::Relaxed),
            key_fetch_failures: self.key_fetch_failures.load(Ordering::Relaxed),
            last_key_fetch: at(&self.last_key_fetch).map(from_unix_seconds),
            key_age: at(&self.keys_loaded_at)
                .map(|s| Duration::from_secs(u64::try_from(unix_seconds(now) - s).unwrap_or(0))),
            token_cache_hits: self.token_cache_hits.load(Ordering::Relaxed),
            token_cache_misses: self.token_cache_misses.load(Ordering::Relaxed),
            token_cache_entries,
        }
    }
}

/// A snapshot of the validator's counters (see [`TokenValidator::metrics`](crate::TokenValidator::metrics)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthMetrics {
    /// Requests accepted.
    pub accepted: u64,
    /// Requests rejected, by [`AuthError::code`] (codes never seen are absent).
    pub rejected: BTreeMap<&'static str, u64>,
    /// Key refreshes attempted, one per metadata source (metadata document, then its key set).
    pub key_fetches: u64,
    /// Key refreshes that failed (metadata or key set unreachable or invalid).
    pub key_fetch_failures: u64,
    /// When keys were last fetched (successfully or not).
    pub last_key_fetch: Option<SystemTime>,
    /// How old the keys in use are (time since the last successful fetch).
    pub key_age: Option<Duration>,
    /// Tokens answered from the verified-token cache (no signature check, no parsing).
    pub token_cache_hits: u64,
    /// Tokens looked up in the cache and verified in full (new, evicted, expired from the cache,
    /// or rejected). Zero when the cache is off.
    pub token_cache_misses: u64,
    /// Entries in the cache now.
    pub token_cache_entries: usize,
}

impl AuthMetrics {
    /// Total rejections.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// The share of cache lookups answered from the cache (0 when none was made).
    pub fn token_cache_hit_ratio(&self) -> f64 {
        let total = self.token_cache_hits + self.token_cache_misses;
        if total == 0 {
            0.0
        } else {
            self.token_cache_hits as f64 / total as f64
        }
    }

    /// Rejections with `code`.
    pub fn rejected_with(&self, code: &str) -> u64 {
        self.rejected.get(code).copied().unwrap_or(0)
    }
}
