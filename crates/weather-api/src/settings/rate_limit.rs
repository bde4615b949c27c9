//! The `rate_limit` section: per-caller quotas per route class, and Redis for limits shared by every
//! instance.
//!
//! ```json
//! "rate_limit": {
//!   "read":  { "requests": 600, "window_secs": 60 },
//!   "write": { "requests": 60,  "window_secs": 60 },
//!   "max_callers": 100000,
//!   "redis_url": "redis://127.0.0.1:6379/0",
//!   "redis_timeout_ms": 50,
//!   "redis_key_prefix": "weather-api:rl:"
//! }
//! ```

use std::time::Duration;

use super::raw::{RawQuota, RawRateLimit};
use super::SettingsError;
use crate::domain::Quota;
use entra_core::SecretString;

/// The limiter's configuration, parsed.
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    /// The quota of read routes (per caller).
    pub read: Quota,
    /// The quota of write routes (per caller).
    pub write: Quota,
    /// Most callers tracked locally per class; beyond, the stalest are forgotten.
    pub max_callers: usize,
    /// Shared limits through Redis (`redis://...`), or `None` for this instance's local limits only.
    pub redis_url: Option<SecretString>,
    /// Time limit of one Redis call; beyond it a request fails open to the local limiter.
    pub redis_timeout: Duration,
    /// Prefix of every Redis key.
    pub redis_key_prefix: String,
}

impl RawQuota {
    fn parse(&self, key: &str) -> Result<Quota, SettingsError> {
        let requests = u32::try_from(self.requests).map_err(|_| {
            SettingsError::invalid(format!("rate_limit.{key}.requests"), "too large")
        })?;
        Quota::new(requests, Duration::from_secs(self.window_secs)).ok_or_else(|| {
            SettingsError::invalid(
                format!("rate_limit.{key}"),
                "expected a positive number of requests per positive window_secs",
            )
        })
    }
}

impl RateLimitSettings {
    /// Parses the raw section.
    ///
    /// # Errors
    /// [`SettingsError::Invalid`] naming the `rate_limit.*` key.
    pub(crate) fn parse(raw: RawRateLimit) -> Result<Self, SettingsError> {
        let redis_url = match raw.redis_url {
            None => None,
            Some(url) => {
                if redis::Client::open(url.as_str()).is_err() {
                    return Err(SettingsError::invalid(
                        "rate_limit.redis_url",
                        "expected a Redis URL such as redis://127.0.0.1:6379/0 (rediss:// for TLS)",
                    ));
                }
                Some(SecretString::from(url))
            }
        };
        Ok(Self {
            read: raw.read.parse("read")?,
            write: raw.write.parse("write")?,
            max_callers: usize::try_from(raw.max_callers)
                .map_err(|_| SettingsError::invalid("rate_limit.max_callers", "too large"))?,
            redis_url,
            redis_timeout: Duration::from_millis(raw.redis_timeout_ms),
            redis_key_prefix: raw.redis_key_prefix,
        })
    }
}
