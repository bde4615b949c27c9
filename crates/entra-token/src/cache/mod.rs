//! Token caches. An in-memory cache (L1, bounded by entries and bytes) is in every client; a [`SharedCache`] (L2, e.g.
//! `RedisCache` with the `redis` feature) is shared by the instances
//! of a service. Both are keyed by [`CacheKey`]: a SHA-256 of the client, the authority, the
//! normalised scopes and, for on-behalf-of, the SHA-256 of the incoming assertion, so one user's
//! token is never served for another and no key reveals a user, a scope or a token.
//!
//! A public client (CLI, desktop app) keeps its accounts, refresh tokens and access tokens in a
//! [`FileCache`] (0600, atomic writes, locked across processes); it is also a [`SharedCache`],
//! so a confidential client in a CLI can keep its app-only token across runs.

mod file;
mod flight;
mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) use file::AccountEntry;
pub use file::{Account, Cleared, FileCache};
pub(crate) use flight::InFlight;
pub(crate) use memory::MemoryCache;
#[cfg(feature = "redis")]
pub use redis::{EncryptionKey, Keyring, RedisCache, RedisCacheConfig, DEFAULT_KEY_ID};

use crate::token::{AccessToken, Scopes};
use crate::transport::BoxFuture;

/// The latest time a stored value may name (9999-12-31T23:59:59Z): a larger one, from a damaged or
/// hostile file or value (`u64::MAX` seconds), saturates here instead of overflowing `SystemTime`.
const MAX_UNIX_SECS: u64 = 253_402_300_799;

/// The longest an access token read back from a cache may still live: Entra's tokens live at most
/// 24 h (longer answers are capped to that when they arrive), plus an hour for a clock set back.
/// A stored expiry further ahead was not written by this crate and is not trusted.
pub(crate) const MAX_STORED_LIFETIME: Duration = Duration::from_secs(25 * 3600);

/// Unix seconds of `t` (0 before the epoch).
pub(crate) fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The time `secs` Unix seconds name, saturating at year 9999: never a panic on stored input.
pub(crate) fn from_unix(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs.min(MAX_UNIX_SECS))
}

/// Whether a stored expiry (Unix seconds) is still ahead of `now` and no further ahead than a
/// token can live ([`MAX_STORED_LIFETIME`]).
pub(crate) fn is_live(expires_at: u64, now: u64) -> bool {
    now < expires_at && expires_at <= now.saturating_add(MAX_STORED_LIFETIME.as_secs())
}

/// A cache key: SHA-256 over length-prefixed fields. `Debug` shows a prefix of its hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CacheKey({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

impl CacheKey {
    /// The key for a token of `client_id` from `authority` (its token endpoint) for `scopes`,
    /// on behalf of the user whose assertion hashes to `assertion_sha256` (none: app-only).
    pub(crate) fn new(
        client_id: &str,
        authority: &str,
        scopes: &Scopes,
        assertion_sha256: Option<&[u8; 32]>,
    ) -> Self {
        let mut ctx = entra_core::crypto::Sha256::new();
        let mut field = |b: &[u8]| {
            ctx.update(&(b.len() as u64).to_be_bytes());
            ctx.update(b);
        };
        field(b"entra-token/v1");
        field(client_id.as_bytes());
        field(authority.as_bytes());
        field(scopes.as_str().as_bytes());
        match assertion_sha256 {
            Some(h) => field(h),
            None => field(b""),
        }
        Self(ctx.finish())
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Why a shared cache operation failed (the client logs it and carries on without the cache).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SharedCacheError {
    /// The store could not be reached or answered an error.
    #[error("shared cache unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A value could not be encoded or encrypted. (A stored value that does not decrypt or
    /// decode is a miss, never an error: the client overwrites it.)
    #[error("shared cache value cannot be encoded or encrypted")]
    Corrupt,
}

/// A cache shared between instances or processes (L2), keyed by a [`CacheKey`] (a hash: the key
/// reveals nothing); an entry expires with its token. How values are protected is the
/// implementation's: `RedisCache` (feature `redis`) encrypts them (AES-256-GCM),
/// [`FileCache`] stores them in plain text in a file only its owner can read (0600).
pub trait SharedCache: Send + Sync + std::fmt::Debug + 'static {
    /// The token stored under `key`, if any. A stored value that cannot be decrypted or decoded
    /// is `Ok(None)` (a miss, so the client overwrites it), not an error: an error means the store
    /// itself is failing.
    fn get<'a>(
        &'a self,
        key: &'a CacheKey,
    ) -> BoxFuture<'a, Result<Option<AccessToken>, SharedCacheError>>;

    /// Stores `token` under `key` until `token.expires_at()` (`now` is the client's clock).
    fn put<'a>(
        &'a self,
        key: &'a CacheKey,
        token: &'a AccessToken,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<(), SharedCacheError>>;
}

/// The serialised form of a token for a shared cache (before encryption).
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredToken {
    #[serde(rename = "t")]
    token: String,
    #[serde(rename = "e")]
    expires_at: u64,
    #[serde(rename = "r")]
    refresh_at: u64,
}

impl StoredToken {
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn from_token(t: &AccessToken) -> Self {
        Self {
            token: t.secret().to_owned(),
            expires_at: unix(t.expires_at()),
            refresh_at: unix(t.refresh_at()),
        }
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn into_token(self) -> AccessToken {
        AccessToken::new(
            self.token.into(),
            from_unix(self.expires_at),
            from_unix(self.refresh_at),
        )
    }
}

/// The in-memory (L1) cache bounds and the expiry margin.
#[derive(Debug, Clone, Copy)]
pub struct CacheOptions {
    /// At most this many tokens (default 10,000).
    pub max_entries: usize,
    /// At most this many bytes of tokens (default 32 MiB).
    pub max_bytes: usize,
    /// A cached token is served only while it has at least this long left (default 30 s), so a
    /// token never expires on its way to the downstream API.
    pub expiry_margin: Duration,
    /// After a shared-cache failure, skip the shared cache for this long (default 1 s), so that
    /// an unreachable Redis costs at most one operation timeout per cooldown, not two per miss.
    /// Zero: try it on every miss.
    pub shared_cache_cooldown: Duration,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            max_bytes: 32 * 1024 * 1024,
            expiry_margin: Duration::from_secs(30),
            shared_cache_cooldown: Duration::from_secs(1),
        }
    }
}
