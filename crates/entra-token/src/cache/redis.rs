//! The shared token cache on Redis (feature `redis`). Keys are
//! `{prefix}{hex SHA-256 of the cache key}` (no user, scope or token in clear); values are
//! AES-256-GCM encrypted under a key from configuration, with a random nonce per value and the
//! Redis key as associated data (a value moved to another key does not decrypt); each entry's TTL
//! is its token's remaining lifetime.
//!
//! Every operation is bounded by a short timeout, and the connection is made lazily and remade
//! in the background: a dead Redis fails no call, and costs at most one timeout per
//! `CacheOptions::shared_cache_cooldown` (the client skips the shared cache meanwhile, falls back
//! to its memory cache and the token endpoint, and logs once per outage).

use std::time::{Duration, SystemTime};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret as _, SecretString};

use super::{CacheKey, SharedCache, SharedCacheError, StoredToken};
use crate::error::ConfigError;
use crate::token::AccessToken;
use crate::transport::BoxFuture;

/// A 32-byte AES-256 key. `Debug` never shows it.
#[derive(Clone)]
pub struct EncryptionKey([u8; 32]);

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey([REDACTED])")
    }
}

impl EncryptionKey {
    /// The key from 32 raw bytes.
    ///
    /// # Errors
    /// [`ConfigError::EncryptionKeyLength`] for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ConfigError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| ConfigError::EncryptionKeyLength { found: bytes.len() })?;
        Ok(Self(arr))
    }

    /// The key from standard base64 (as a setting or secret store holds it, e.g. the output of
    /// `openssl rand -base64 32`).
    ///
    /// # Errors
    /// [`ConfigError::EncryptionKeyLength`] when it is not base64 of 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, ConfigError> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| ConfigError::EncryptionKeyLength { found: 0 })?;
        Self::from_bytes(&bytes)
    }
}

/// Where and how to reach Redis.
#[derive(Debug, Clone)]
pub struct RedisCacheConfig {
    url: SecretString,
    key: EncryptionKey,
    prefix: String,
    op_timeout: Duration,
}

impl RedisCacheConfig {
    /// Redis at `url` (`redis://host:port/db`, may hold a password: kept secret), values encrypted
    /// under `key`. Key prefix `entra-token:`, operation timeout 250 ms.
    pub fn new(url: impl Into<String>, key: EncryptionKey) -> Self {
        Self {
            url: SecretString::from(url.into()),
            key,
            prefix: "entra-token:".to_owned(),
            op_timeout: Duration::from_millis(250),
        }
    }

    /// The prefix of every key (to share a Redis between applications or isolate tests).
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The longest a get or a put may take before the cache is skipped for that call.
    #[must_use]
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }
}

/// The Redis [`SharedCache`].
pub struct RedisCache {
    manager: ConnectionManager,
    aead: LessSafeKey,
    prefix: String,
    op_timeout: Duration,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("prefix", &self.prefix)
            .field("op_timeout", &self.op_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    /// A cache that connects on first use (so a service starts while Redis is down). Must be
    /// called inside a tokio runtime.
    ///
    /// # Errors
    /// [`ConfigError::InvalidRedisUrl`] when the URL cannot be parsed.
    pub fn new(config: RedisCacheConfig) -> Result<Self, ConfigError> {
        let client = redis::Client::open(config.url.expose_secret()).map_err(|e| {
            ConfigError::InvalidRedisUrl {
                reason: format!("{:?}", e.kind()),
            }
        })?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.op_timeout))
            .set_response_timeout(Some(config.op_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let manager =
            ConnectionManager::new_lazy_with_config(client, manager_config).map_err(|e| {
                ConfigError::InvalidRedisUrl {
                    reason: format!("{:?}", e.kind()),
                }
            })?;
        let unbound = UnboundKey::new(&AES_256_GCM, &config.key.0)
            .map_err(|_| ConfigError::EncryptionKeyLength { found: 32 })?;
        Ok(Self {
            manager,
            aead: LessSafeKey::new(unbound),
            prefix: config.prefix,
            op_timeout: config.op_timeout,
        })
    }

    fn redis_key(&self, key: &CacheKey) -> String {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(b"entra-token/redis/v1");
        ctx.update(key.as_bytes());
        let digest = ctx.finish();
        let mut out = String::with_capacity(self.prefix.len() + 64);
        out.push_str(&self.prefix);
        for b in digest.as_ref() {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    fn seal(&self, redis_key: &str, plain: Vec<u8>) -> Result<Vec<u8>, SharedCacheError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| SharedCacheError::Corrupt)?;
        let mut in_out = plain;
        self.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(redis_key.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| SharedCacheError::Corrupt)?;
        let mut out = Vec::with_capacity(NONCE_LEN + in_out.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&in_out);
        Ok(out)
    }

    fn open(&self, redis_key: &str, sealed: &[u8]) -> Result<AccessToken, SharedCacheError> {
        if sealed.len() < NONCE_LEN {
            return Err(SharedCacheError::Corrupt);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| SharedCacheError::Corrupt)?;
        let mut in_out = body.to_vec();
        let plain = self
            .aead
            .open_in_place(nonce, Aad::from(redis_key.as_bytes()), &mut in_out)
            .map_err(|_| SharedCacheError::Corrupt)?;
        let stored: StoredToken =
            serde_json::from_slice(plain).map_err(|_| SharedCacheError::Corrupt)?;
        Ok(stored.into_token())
    }

    async fn bounded<T>(
        &self,
        fut: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, SharedCacheError> {
        match tokio::time::timeout(self.op_timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(SharedCacheError::Unavailable(Box::new(e))),
            Err(elapsed) => Err(SharedCacheError::Unavailable(Box::new(elapsed))),
        }
    }
}

impl SharedCache for RedisCache {
    fn get<'a>(
        &'a self,
        key: &'a CacheKey,
    ) -> BoxFuture<'a, Result<Option<AccessToken>, SharedCacheError>> {
        Box::pin(async move {
            let redis_key = self.redis_key(key);
            let mut conn = self.manager.clone();
            let value: Option<Vec<u8>> = self
                .bounded(redis::cmd("GET").arg(&redis_key).query_async(&mut conn))
                .await?;
            value.map(|v| self.open(&redis_key, &v)).transpose()
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a CacheKey,
        token: &'a AccessToken,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<(), SharedCacheError>> {
        Box::pin(async move {
            let Ok(ttl) = token.expires_at().duration_since(now) else {
                return Ok(());
            };
            let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
            if ttl_ms == 0 {
                return Ok(());
            }
            let redis_key = self.redis_key(key);
            let plain = serde_json::to_vec(&StoredToken::from_token(token))
                .map_err(|_| SharedCacheError::Corrupt)?;
            let sealed = self.seal(&redis_key, plain)?;
            let mut conn = self.manager.clone();
            self.bounded::<()>(
                redis::cmd("SET")
                    .arg(&redis_key)
                    .arg(sealed)
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut conn),
            )
            .await
        })
    }
}
