//! The shared token cache on Redis (feature `redis`). Keys are
//! `{prefix}{hex SHA-256 of the cache key}` (no user, scope or token in clear); values are
//! AES-256-GCM encrypted under the current key of a [`Keyring`] from configuration, with a random
//! nonce per value and the Redis key and the key's id as associated data (a value moved to another
//! key does not decrypt); each entry's TTL is its token's remaining lifetime.
//!
//! A value is `k`, the key id's length, the key id, the nonce, then the ciphertext and tag. A value
//! that does not decrypt (its key was rotated out, an older format, or garbage written by anyone
//! with access to the Redis) is a miss: the client asks the token endpoint and overwrites it.
//!
//! Rotating the key without a miss: give every instance the new key as a previous key (read
//! only: [`Keyring::with_previous`]); then make it the current one everywhere, keeping the old one
//! as a previous key until the values it wrote have expired (24 h at most); then drop it.
//!
//! Every operation is bounded by a short timeout, and the connection is made lazily and remade
//! in the background: a dead Redis fails no call, and costs at most one timeout per
//! `CacheOptions::shared_cache_cooldown` (the client skips the shared cache meanwhile, falls back
//! to its memory cache and the token endpoint, and logs once per outage).

use std::time::{Duration, SystemTime};

use entra_core::crypto::{self, Aes256Gcm, AES_256_GCM_NONCE_LEN as NONCE_LEN};
use entra_core::{ExposeSecret as _, SecretString};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

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

/// The encryption keys of a [`RedisCache`], each with an id stored beside the values it
/// encrypts: one current key (encrypts new values, and decrypts) and previous keys (decrypt only),
/// so that keys can be rotated. An id is 1 to 32 characters from `A-Z a-z 0-9 . _ -`.
///
/// ```
/// use entra_token::cache::{EncryptionKey, Keyring};
/// let old = EncryptionKey::from_bytes(&[1; 32])?;
/// let new = EncryptionKey::from_bytes(&[2; 32])?;
/// let keys = Keyring::new("2026-12", new)?.with_previous("default", old)?;
/// assert_eq!(keys.current_id(), "2026-12");
/// # Ok::<(), entra_token::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Keyring {
    current: (String, EncryptionKey),
    previous: Vec<(String, EncryptionKey)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.0)
            .field(
                "previous",
                &self.previous.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The id of a key made from a bare [`EncryptionKey`].
pub const DEFAULT_KEY_ID: &str = "default";

impl Keyring {
    /// A keyring whose current key is `key`, named `id`.
    ///
    /// # Errors
    /// [`ConfigError::InvalidKeyId`] when `id` is empty, longer than 32 characters, or has other
    /// characters than `A-Z a-z 0-9 . _ -`.
    pub fn new(id: &str, key: EncryptionKey) -> Result<Self, ConfigError> {
        Ok(Self {
            current: (checked_key_id(id)?, key),
            previous: Vec::new(),
        })
    }

    /// Also decrypts values written under `key`, named `id` (a key being rotated out, or one
    /// about to become current elsewhere).
    ///
    /// # Errors
    /// [`ConfigError::InvalidKeyId`] (as [`Keyring::new`], or an id already in the keyring).
    pub fn with_previous(mut self, id: &str, key: EncryptionKey) -> Result<Self, ConfigError> {
        let id = checked_key_id(id)?;
        if id == self.current.0 || self.previous.iter().any(|(p, _)| *p == id) {
            return Err(ConfigError::InvalidKeyId {
                found: id,
                reason: "it names another key of the keyring already",
            });
        }
        self.previous.push((id, key));
        Ok(self)
    }

    /// The id of the key that encrypts new values.
    pub fn current_id(&self) -> &str {
        &self.current.0
    }
}

impl From<EncryptionKey> for Keyring {
    /// A keyring of this one key, named [`DEFAULT_KEY_ID`].
    fn from(key: EncryptionKey) -> Self {
        Self {
            current: (DEFAULT_KEY_ID.to_owned(), key),
            previous: Vec::new(),
        }
    }
}

fn checked_key_id(id: &str) -> Result<String, ConfigError> {
    let valid = (1..=MAX_KEY_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(id.to_owned())
    } else {
        Err(ConfigError::InvalidKeyId {
            found: crate::error::clip(id),
            reason: "expected 1 to 32 characters from A-Z a-z 0-9 . _ -",
        })
    }
}

/// The longest key id.
const MAX_KEY_ID: usize = 32;

/// The first byte of every value (the format).
const FORMAT: u8 = b'k';

/// Where and how to reach Redis.
#[derive(Debug, Clone)]
pub struct RedisCacheConfig {
    url: SecretString,
    keys: Keyring,
    prefix: String,
    op_timeout: Duration,
}

impl RedisCacheConfig {
    /// Redis at `url` (`redis://host:port/db`, may hold a password: kept secret), values encrypted
    /// under `keys` (a [`Keyring`], or one [`EncryptionKey`], named [`DEFAULT_KEY_ID`]). Key prefix
    /// `entra-token:`, operation timeout 250 ms.
    pub fn new(url: impl Into<String>, keys: impl Into<Keyring>) -> Self {
        Self {
            url: SecretString::from(url.into()),
            keys: keys.into(),
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

/// A key ready to seal and open.
struct SealingKey {
    id: String,
    aead: Aes256Gcm,
}

impl SealingKey {
    fn new((id, key): &(String, EncryptionKey)) -> Result<Self, ConfigError> {
        let aead =
            Aes256Gcm::new(&key.0).map_err(|_| ConfigError::EncryptionKeyLength { found: 32 })?;
        Ok(Self {
            id: id.clone(),
            aead,
        })
    }
}

/// Why a stored value was not used (a miss, logged at DEBUG).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unusable {
    /// Not this format (an older release's value, or garbage).
    Format,
    /// Encrypted under a key the keyring does not hold (rotated out).
    UnknownKey,
    /// The tag does not verify (tampered with, or copied from another key).
    Tampered,
    /// Decrypted, but not a stored token.
    Content,
}

/// The Redis [`SharedCache`].
pub struct RedisCache {
    manager: ConnectionManager,
    current: SealingKey,
    previous: Vec<SealingKey>,
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
        Ok(Self {
            manager,
            current: SealingKey::new(&config.keys.current)?,
            previous: config
                .keys
                .previous
                .iter()
                .map(SealingKey::new)
                .collect::<Result<_, _>>()?,
            prefix: config.prefix,
            op_timeout: config.op_timeout,
        })
    }

    fn redis_key(&self, key: &CacheKey) -> String {
        let mut ctx = crypto::Sha256::new();
        ctx.update(b"entra-token/redis/v1");
        ctx.update(key.as_bytes());
        let digest = ctx.finish();
        let mut out = String::with_capacity(self.prefix.len() + 64);
        out.push_str(&self.prefix);
        for b in digest {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// `k`, the key id's length and the key id: the start of a value, and with the Redis key its
    /// associated data.
    fn header(id: &str) -> Vec<u8> {
        let mut header = Vec::with_capacity(2 + id.len());
        header.push(FORMAT);
        // At most MAX_KEY_ID (32) bytes: checked when the keyring was built.
        header.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
        header.extend_from_slice(id.as_bytes());
        header
    }

    fn aad(redis_key: &str, header: &[u8]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(redis_key.len() + header.len());
        aad.extend_from_slice(redis_key.as_bytes());
        aad.extend_from_slice(header);
        aad
    }

    fn seal(&self, redis_key: &str, plain: Vec<u8>) -> Result<Vec<u8>, SharedCacheError> {
        let key = &self.current;
        let mut nonce = [0u8; NONCE_LEN];
        crypto::fill_random(&mut nonce).map_err(|_| SharedCacheError::Corrupt)?;
        let header = Self::header(&key.id);
        let mut in_out = plain;
        key.aead
            .seal_in_place_append_tag(nonce, &Self::aad(redis_key, &header), &mut in_out)
            .map_err(|_| SharedCacheError::Corrupt)?;
        let mut out = header;
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&in_out);
        Ok(out)
    }

    fn open(&self, redis_key: &str, sealed: &[u8]) -> Result<AccessToken, Unusable> {
        let (&format, rest) = sealed.split_first().ok_or(Unusable::Format)?;
        let (&id_len, rest) = rest.split_first().ok_or(Unusable::Format)?;
        let id_len = usize::from(id_len);
        if format != FORMAT || id_len == 0 || id_len > MAX_KEY_ID || rest.len() < id_len + NONCE_LEN
        {
            return Err(Unusable::Format);
        }
        let (id, rest) = rest.split_at(id_len);
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id.as_bytes() == id)
            .ok_or(Unusable::UnknownKey)?;
        let header = &sealed[..2 + id_len];
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Unusable::Format)?;
        let mut in_out = body.to_vec();
        let plain = key
            .aead
            .open_in_place(nonce, &Self::aad(redis_key, header), &mut in_out)
            .map_err(|_| Unusable::Tampered)?;
        let stored: StoredToken = serde_json::from_slice(plain).map_err(|_| Unusable::Content)?;
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
            let Some(value) = value else {
                return Ok(None);
            };
            match self.open(&redis_key, &value) {
                Ok(token) => Ok(Some(token)),
                Err(why) => {
                    // A miss, not an outage: the client fetches a token and overwrites the value.
                    // DEBUG only: anyone who can write to the Redis could flood a louder log.
                    tracing::debug!(target: "entra_token", ?why,
                        "shared token cache: a value that does not decrypt with the keyring is a miss and is overwritten");
                    Ok(None)
                }
            }
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
