//! [`ConfidentialConfig`]: everything a confidential client needs, validated once by
//! [`ConfidentialConfigBuilder::build`]. The library reads no environment variable or file to
//! build it (the federated token file is read when a token is requested, at the path given here).

use std::sync::Arc;
use std::time::Duration;

use entra_core::{Clock, SystemClock};

use crate::authority::Authority;
use crate::cache::{FileCache, SharedCache};
use crate::credential::ClientCredential;
use crate::error::{clip, ConfigError};

/// A validated confidential-client configuration. Build it with [`ConfidentialConfig::builder`].
#[derive(Debug, Clone)]
pub struct ConfidentialConfig {
    pub(crate) authority: Authority,
    pub(crate) client_id: String,
    pub(crate) credential: ClientCredential,
    pub(crate) api_audiences: Vec<String>,
    pub(crate) http: HttpOptions,
    pub(crate) cache: CacheOptions,
    pub(crate) assertion_lifetime: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) shared_cache: Option<Arc<dyn SharedCache>>,
}

/// Timeouts, the response cap and a proxy for the token endpoint calls: entra-core's one
/// [`HttpOptions`] (request timeout 10 s, connect timeout 5 s, responses
/// up to 64 KiB, no proxy unless given).
pub use entra_core::http::HttpOptions;

pub use crate::cache::CacheOptions;

/// Builds a [`ConfidentialConfig`].
#[derive(Debug)]
#[must_use]
pub struct ConfidentialConfigBuilder {
    authority: Authority,
    client_id: String,
    credential: ClientCredential,
    api_audiences: Vec<String>,
    http: HttpOptions,
    cache: CacheOptions,
    assertion_lifetime: Duration,
    clock: Arc<dyn Clock>,
    shared_cache: Option<Arc<dyn SharedCache>>,
}

impl ConfidentialConfig {
    /// A configuration for the application `client_id` of `authority`, proving itself with
    /// `credential`.
    pub fn builder(
        authority: Authority,
        client_id: &str,
        credential: ClientCredential,
    ) -> ConfidentialConfigBuilder {
        ConfidentialConfigBuilder {
            authority,
            client_id: client_id.trim().to_owned(),
            credential,
            api_audiences: Vec::new(),
            http: HttpOptions::default(),
            cache: CacheOptions::default(),
            assertion_lifetime: Duration::from_secs(5 * 60),
            clock: Arc::new(SystemClock),
            shared_cache: None,
        }
    }

    /// The authority.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The application (client) id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The audiences an incoming on-behalf-of token may have.
    pub fn api_audiences(&self) -> &[String] {
        &self.api_audiences
    }

    /// The HTTP options.
    pub fn http(&self) -> &HttpOptions {
        &self.http
    }
}

impl ConfidentialConfigBuilder {
    /// The audiences accepted for an incoming on-behalf-of token (default: the client id and
    /// `api://{client id}`); a token for anything else is refused before any network call.
    pub fn api_audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.api_audiences = audiences.into_iter().map(Into::into).collect();
        self
    }

    /// Timeouts and the response cap.
    pub fn http(mut self, http: HttpOptions) -> Self {
        self.http = http;
        self
    }

    /// The in-memory cache bounds.
    pub fn cache(mut self, cache: CacheOptions) -> Self {
        self.cache = cache;
        self
    }

    /// A shared (L2) cache, e.g. `RedisCache`.
    pub fn shared_cache(mut self, cache: Arc<dyn SharedCache>) -> Self {
        self.shared_cache = Some(cache);
        self
    }

    /// The lifetime of a certificate's client assertion (default 5 min, at most 10 min).
    pub fn assertion_lifetime(mut self, lifetime: Duration) -> Self {
        self.assertion_lifetime = lifetime;
        self
    }

    /// The clock (default the system clock; tests pass an `entra_auth::ManualClock`).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Validates and returns the configuration.
    ///
    /// # Errors
    /// [`ConfigError::InvalidClientId`], [`ConfigError::OutOfRange`] (timeouts, assertion
    /// lifetime), [`ConfigError::Zero`] (cache bounds, response cap).
    pub fn build(self) -> Result<ConfidentialConfig, ConfigError> {
        check_client_id(&self.client_id)?;
        if self.authority.is_multi_tenant() {
            return Err(ConfigError::MultiTenantAuthority {
                found: self.authority.tenant_id().to_owned(),
            });
        }
        check_http(&self.http)?;
        range(
            "assertion_lifetime",
            self.assertion_lifetime,
            Duration::from_secs(60),
            Duration::from_secs(600),
        )?;
        range(
            "cache.expiry_margin",
            self.cache.expiry_margin,
            Duration::ZERO,
            Duration::from_secs(600),
        )?;
        range(
            "cache.shared_cache_cooldown",
            self.cache.shared_cache_cooldown,
            Duration::ZERO,
            Duration::from_secs(3600),
        )?;
        for (setting, v) in [
            ("cache.max_entries", self.cache.max_entries),
            ("cache.max_bytes", self.cache.max_bytes),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero { setting });
            }
        }
        let api_audiences = if self.api_audiences.is_empty() {
            vec![self.client_id.clone(), format!("api://{}", self.client_id)]
        } else {
            self.api_audiences
        };
        Ok(ConfidentialConfig {
            authority: self.authority,
            client_id: self.client_id,
            credential: self.credential,
            api_audiences,
            http: self.http,
            cache: self.cache,
            assertion_lifetime: self.assertion_lifetime,
            clock: self.clock,
            shared_cache: self.shared_cache,
        })
    }
}

/// A client id is 1 to 200 characters of letters, digits, `-`, `.` and `_`.
fn check_client_id(client_id: &str) -> Result<(), ConfigError> {
    let id_ok = !client_id.is_empty()
        && client_id.len() <= 200
        && client_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
    if !id_ok {
        return Err(ConfigError::InvalidClientId {
            found: clip(client_id),
        });
    }
    Ok(())
}

/// A validated public-client configuration (a CLI or desktop app signing users in). Build it
/// with [`PublicConfig::builder`].
#[derive(Debug, Clone)]
pub struct PublicConfig {
    pub(crate) authority: Authority,
    pub(crate) client_id: String,
    pub(crate) cache: FileCache,
    pub(crate) http: HttpOptions,
    pub(crate) expiry_margin: Duration,
    pub(crate) clock: Arc<dyn Clock>,
}

/// Builds a [`PublicConfig`].
#[derive(Debug)]
#[must_use]
pub struct PublicConfigBuilder {
    config: PublicConfig,
}

impl PublicConfig {
    /// A configuration for the public client `client_id` (an app registration that allows public
    /// client flows) signing users in at `authority` ([`Authority::public`] accepts
    /// `organizations` and `common`), keeping accounts and tokens in `cache`.
    pub fn builder(authority: Authority, client_id: &str, cache: FileCache) -> PublicConfigBuilder {
        PublicConfigBuilder {
            config: PublicConfig {
                authority,
                client_id: client_id.trim().to_owned(),
                cache,
                http: HttpOptions::default(),
                expiry_margin: Duration::from_secs(120),
                clock: Arc::new(SystemClock),
            },
        }
    }

    /// The authority.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The application (client) id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The persistent cache.
    pub fn cache(&self) -> &FileCache {
        &self.cache
    }

    /// The HTTP options.
    pub fn http(&self) -> &HttpOptions {
        &self.http
    }
}

impl PublicConfigBuilder {
    /// Timeouts and the response cap.
    pub fn http(mut self, http: HttpOptions) -> Self {
        self.config.http = http;
        self
    }

    /// A cached access token is used only while it has at least this long left (default 2 min,
    /// at most 10 min); after that the refresh token gets a new one.
    pub fn expiry_margin(mut self, margin: Duration) -> Self {
        self.config.expiry_margin = margin;
        self
    }

    /// The clock (default the system clock; tests pass an `entra_auth::ManualClock`).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.config.clock = clock;
        self
    }

    /// Validates and returns the configuration.
    ///
    /// # Errors
    /// [`ConfigError::InvalidClientId`], [`ConfigError::OutOfRange`] (timeouts, expiry margin),
    /// [`ConfigError::Zero`] (response cap).
    pub fn build(self) -> Result<PublicConfig, ConfigError> {
        let c = self.config;
        check_client_id(&c.client_id)?;
        check_http(&c.http)?;
        range(
            "expiry_margin",
            c.expiry_margin,
            Duration::ZERO,
            Duration::from_secs(600),
        )?;
        Ok(c)
    }
}

/// The HTTP options' bounds, shared by both configurations.
fn check_http(http: &HttpOptions) -> Result<(), ConfigError> {
    range(
        "http.timeout",
        http.timeout,
        Duration::from_millis(100),
        Duration::from_secs(300),
    )?;
    range(
        "http.connect_timeout",
        http.connect_timeout,
        Duration::from_millis(100),
        http.timeout.max(Duration::from_millis(100)),
    )?;
    if http.max_response_bytes == 0 {
        return Err(ConfigError::Zero {
            setting: "http.max_response_bytes",
        });
    }
    Ok(())
}

fn range(
    setting: &'static str,
    found: Duration,
    min: Duration,
    max: Duration,
) -> Result<(), ConfigError> {
    if found < min || found > max {
        return Err(ConfigError::OutOfRange {
            setting,
            min,
            max,
            found,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> ConfidentialConfigBuilder {
        ConfidentialConfig::builder(
            Authority::tenant("contoso.onmicrosoft.com").unwrap(),
            "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c",
            ClientCredential::secret("s"),
        )
    }

    #[test]
    fn default_api_audiences_are_client_id_and_app_id_uri() {
        let c = builder().build().unwrap();
        assert_eq!(
            c.api_audiences(),
            [
                "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c",
                "api://a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c"
            ]
        );
    }

    #[test]
    fn assertion_lifetime_over_ten_minutes_is_refused_naming_setting() {
        let err = builder()
            .assertion_lifetime(Duration::from_secs(601))
            .build()
            .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::OutOfRange {
                setting: "assertion_lifetime",
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "assertion_lifetime must be between 60s and 600s, found 601s"
        );
    }

    #[test]
    fn empty_client_id_is_refused() {
        let err = ConfidentialConfig::builder(
            Authority::tenant("contoso.onmicrosoft.com").unwrap(),
            " ",
            ClientCredential::secret("s"),
        )
        .build()
        .unwrap_err();
        assert!(matches!(err, ConfigError::InvalidClientId { .. }), "{err}");
    }

    #[test]
    fn confidential_client_refuses_a_multi_tenant_authority() {
        let err = ConfidentialConfig::builder(
            Authority::public("organizations").unwrap(),
            "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c",
            ClientCredential::secret("s"),
        )
        .build()
        .unwrap_err();
        assert!(
            matches!(err, ConfigError::MultiTenantAuthority { .. }),
            "{err}"
        );
    }

    #[test]
    fn public_config_refuses_a_long_expiry_margin_naming_it() {
        let err = PublicConfig::builder(
            Authority::public("common").unwrap(),
            "5a5a5a5a-6b6b-4c7c-8d8d-9e9e9e9e9e9e",
            FileCache::new("/nonexistent/tokens.json"),
        )
        .expiry_margin(Duration::from_secs(601))
        .build()
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "expiry_margin must be between 0ns and 600s, found 601s"
        );
    }

    #[test]
    fn zero_cache_entries_is_refused() {
        let err = builder()
            .cache(CacheOptions {
                max_entries: 0,
                ..CacheOptions::default()
            })
            .build()
            .unwrap_err();
        assert_eq!(err.to_string(), "cache.max_entries must be at least 1");
    }
}
