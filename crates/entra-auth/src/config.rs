//! Configuration: validated once, at build time.
//!
//! The library reads no environment variables and no files: the application builds an [`AuthConfig`]
//! with [`AuthConfig::builder`] and hands it to [`TokenValidator::new`](crate::TokenValidator::new).

use std::sync::Arc;
use std::time::Duration;

use entra_core::authority::PlainHttp;
use url::Url;

use crate::authority::{is_guid, Authority, MetadataSource, TenantId, TokenVersion};
use crate::clock::{Clock, SystemClock};
use crate::error::ConfigError;
use crate::jws::Algorithm;

/// Default clock skew tolerated on `exp` and `nbf` (as .NET): 300 seconds.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(300);
/// Default interval of the background key refresh: 12 hours.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(12 * 3600);
/// Default minimum gap between refreshes forced by unknown key ids: 5 minutes.
pub const DEFAULT_MIN_REFRESH_GAP: Duration = Duration::from_secs(300);
/// Default HTTP request timeout towards the identity provider.
pub const DEFAULT_HTTP_TIMEOUT: Duration = entra_core::http::DEFAULT_TIMEOUT;
/// Default largest accepted bearer token, in bytes (16 KiB).
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Default largest accepted metadata or key document, in bytes (64 KiB; Entra's key sets are
/// about 15 KB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = entra_core::http::DEFAULT_MAX_RESPONSE_BYTES;
/// Default number of verified tokens remembered by the token cache.
pub const DEFAULT_TOKEN_CACHE_CAPACITY: usize = 10_000;
/// Default longest time a verified token is remembered (never beyond its `exp`): 10 minutes.
pub const DEFAULT_TOKEN_CACHE_MAX_AGE: Duration = Duration::from_secs(600);

/// How the identity provider is reached ([`AuthConfigBuilder::http`]): entra-core's one
/// [`HttpOptions`](entra_core::HttpOptions) (request timeout 10 s, connect timeout 5 s, responses
/// up to 64 KiB, no proxy unless given).
///
/// ```
/// use std::time::Duration;
/// use entra_auth::config::HttpOptions;
/// let http = HttpOptions {
///     timeout: Duration::from_secs(3),
///     ..HttpOptions::default()
/// };
/// assert_eq!(http.effective_connect_timeout(), Duration::from_secs(3));
/// ```
pub use entra_core::http::HttpOptions;

/// When signing keys are fetched again ([`AuthConfigBuilder::key_refresh`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRefresh {
    /// Interval of the background refresh (default 12 h, jittered by up to 10 %; at least 1 s).
    pub interval: Duration,
    /// Minimum gap between refreshes forced by unknown key ids (default 5 min).
    pub min_gap: Duration,
}

impl Default for KeyRefresh {
    fn default() -> Self {
        Self {
            interval: DEFAULT_REFRESH_INTERVAL,
            min_gap: DEFAULT_MIN_REFRESH_GAP,
        }
    }
}

/// The verified-token cache ([`AuthConfigBuilder::token_cache`]).
///
/// A request presenting a remembered token skips the signature check and the JSON parsing; its
/// `exp`/`nbf`, the maximum age and the presence of its signing key in the current key set are
/// still checked every time, and so is the route's [`Requirement`](crate::Requirement). Each
/// entry costs about a kilobyte plus the token's claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCacheOptions {
    /// How many verified tokens to remember (default 10,000; 0 turns the cache off).
    pub capacity: usize,
    /// The longest time a verified token is remembered (default 10 minutes, between 1 second
    /// and 1 day; an entry is never used beyond the token's `exp` either).
    pub max_age: Duration,
}

impl Default for TokenCacheOptions {
    fn default() -> Self {
        Self {
            capacity: DEFAULT_TOKEN_CACHE_CAPACITY,
            max_age: DEFAULT_TOKEN_CACHE_MAX_AGE,
        }
    }
}

impl TokenCacheOptions {
    /// The cache off: every request verifies the signature.
    pub fn disabled() -> Self {
        Self {
            capacity: 0,
            ..Self::default()
        }
    }

    /// Whether the cache is on (capacity above 0).
    pub fn is_enabled(&self) -> bool {
        self.capacity > 0
    }
}

/// The validated configuration of a [`TokenValidator`](crate::TokenValidator).
#[derive(Debug, Clone)]
pub struct AuthConfig {
    instance: Url,
    authority: Authority,
    client_id: String,
    audiences: Vec<String>,
    versions: Vec<TokenVersion>,
    algorithms: Vec<Algorithm>,
    clock_skew: Duration,
    allowed_tenants: Vec<TenantId>,
    any_tenant: bool,
    key_refresh: KeyRefresh,
    http: HttpOptions,
    max_token_bytes: usize,
    metadata_app_id: bool,
    token_cache: TokenCacheOptions,
    clock: Arc<dyn Clock>,
    sources: Vec<MetadataSource>,
    name: Option<Arc<str>>,
}

impl AuthConfig {
    /// Starts a configuration for the API registered as `client_id` in `tenant`.
    ///
    /// `tenant` is a tenant id GUID, a domain (`contoso.onmicrosoft.com`), `common` or
    /// `organizations` (multi-tenant: then [`AuthConfigBuilder::allowed_tenants`] is required).
    /// Both are checked by [`AuthConfigBuilder::build`].
    ///
    /// ```
    /// use entra_auth::AuthConfig;
    /// let config = AuthConfig::builder(
    ///     "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a",
    ///     "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c",
    /// )
    /// .build()
    /// .unwrap();
    /// assert_eq!(
    ///     config.audiences(),
    ///     ["a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c", "api://a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c"]
    /// );
    /// ```
    pub fn builder(tenant: &str, client_id: &str) -> AuthConfigBuilder {
        AuthConfigBuilder {
            tenant: tenant.to_owned(),
            client_id: client_id.to_owned(),
            instance: None,
            audiences: None,
            versions: vec![TokenVersion::V1, TokenVersion::V2],
            algorithms: vec![Algorithm::RS256],
            clock_skew: DEFAULT_CLOCK_SKEW,
            allowed_tenants: Vec::new(),
            any_tenant: false,
            b2c: None,
            key_refresh: KeyRefresh::default(),
            http: HttpOptions::default(),
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            metadata_app_id: false,
            token_cache: TokenCacheOptions::default(),
            clock: Arc::new(SystemClock),
            name: None,
            plain_http: PlainHttp::LoopbackOnly,
        }
    }

    /// The instance URL (always ends with `/`).
    pub fn instance(&self) -> &Url {
        &self.instance
    }
    /// The authority.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }
    /// The API's client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
    /// The accepted `aud` values.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }
    /// The accepted token versions.
    pub fn accepted_versions(&self) -> &[TokenVersion] {
        &self.versions
    }
    /// The accepted signature algorithms.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }
    /// The tolerated clock skew.
    pub fn clock_skew(&self) -> Duration {
        self.clock_skew
    }
    /// The allowed tenants (multi-tenant authorities; for a single tenant an optional extra check).
    pub fn allowed_tenants(&self) -> &[TenantId] {
        &self.allowed_tenants
    }
    /// Whether [`AuthConfigBuilder::dangerous_accept_any_tenant`] was chosen.
    pub fn is_any_tenant_accepted(&self) -> bool {
        self.any_tenant
    }
    /// The key refresh schedule.
    pub fn key_refresh(&self) -> &KeyRefresh {
        &self.key_refresh
    }
    /// How the identity provider is reached (the connect timeout resolved).
    pub fn http(&self) -> &HttpOptions {
        &self.http
    }
    /// The largest accepted token, in bytes.
    pub fn max_token_bytes(&self) -> usize {
        self.max_token_bytes
    }
    /// Whether `?appid={client_id}` is appended to metadata URLs.
    pub fn metadata_app_id(&self) -> bool {
        self.metadata_app_id
    }
    /// The verified-token cache settings.
    pub fn token_cache(&self) -> &TokenCacheOptions {
        &self.token_cache
    }
    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
    /// The authority's name ([`AuthConfigBuilder::name`]), if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub(crate) fn name_arc(&self) -> Option<Arc<str>> {
        self.name.clone()
    }

    /// The metadata document URLs that will be fetched, in order.
    pub fn metadata_urls(&self) -> impl Iterator<Item = &Url> {
        self.sources.iter().map(|s| &s.url)
    }

    pub(crate) fn sources(&self) -> &[MetadataSource] {
        &self.sources
    }

    /// The index of the metadata source that validates tokens of `version`.
    pub(crate) fn source_for(&self, version: TokenVersion) -> Option<usize> {
        self.sources
            .iter()
            .position(|s| s.versions.contains(&version))
    }
}

/// Builds an [`AuthConfig`]; see [`AuthConfig::builder`].
#[derive(Debug, Clone)]
pub struct AuthConfigBuilder {
    tenant: String,
    client_id: String,
    instance: Option<String>,
    audiences: Option<Vec<String>>,
    versions: Vec<TokenVersion>,
    algorithms: Vec<Algorithm>,
    clock_skew: Duration,
    allowed_tenants: Vec<String>,
    any_tenant: bool,
    b2c: Option<(String, String)>,
    key_refresh: KeyRefresh,
    http: HttpOptions,
    max_token_bytes: usize,
    metadata_app_id: bool,
    token_cache: TokenCacheOptions,
    clock: Arc<dyn Clock>,
    name: Option<String>,
    plain_http: PlainHttp,
}

impl AuthConfigBuilder {
    /// Names the authority (e.g. `workforce`, `customers`): required for each of several
    /// authorities on one validator ([`TokenValidator::multi`](crate::TokenValidator::multi)),
    /// reported by [`VerifiedClaims::authority`](crate::VerifiedClaims::authority) and matched by
    /// [`Requirement::authority`](crate::Requirement::authority). Letters, digits, `-`, `_`, `.`.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// The instance (cloud) URL: default `https://login.microsoftonline.com/`; for Azure AD B2C
    /// `https://{tenant_name}.b2clogin.com/`. Any https URL is accepted (sovereign clouds,
    /// `https://{tenant}.ciamlogin.com/`); plain `http` only on a loopback host (127.0.0.0/8,
    /// `::1`, `localhost`: the development issuer) unless
    /// [`dangerous_allow_insecure_http`](Self::dangerous_allow_insecure_http).
    pub fn instance(mut self, url: &str) -> Self {
        self.instance = Some(url.to_owned());
        self
    }

    /// **Dangerous**: accept a plain `http` instance on any host, not only loopback. Metadata and
    /// signing keys then travel in clear text, so anyone on the path can substitute their own
    /// keys and mint accepted tokens. Only for test networks without TLS.
    pub fn dangerous_allow_insecure_http(mut self) -> Self {
        self.plain_http = PlainHttp::DangerousAnyHost;
        self
    }

    /// Replaces the accepted audiences (default: the client id and `api://{client_id}`).
    pub fn audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audiences = Some(audiences.into_iter().map(Into::into).collect());
        self
    }

    /// The accepted token versions (default both).
    pub fn accepted_versions<I: IntoIterator<Item = TokenVersion>>(mut self, versions: I) -> Self {
        self.versions = versions.into_iter().collect();
        self
    }

    /// The accepted signature algorithms (default RS256 only).
    pub fn algorithms<I: IntoIterator<Item = Algorithm>>(mut self, algorithms: I) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// The tolerated clock skew on `exp` and `nbf` (default 300 s; at most 1 hour).
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    /// The tenant ids (GUIDs) whose tokens a multi-tenant API accepts.
    pub fn allowed_tenants<I, S>(mut self, tenants: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.allowed_tenants = tenants.into_iter().map(|t| t.as_ref().to_owned()).collect();
        self
    }

    /// **Dangerous**: accept tokens of *every* Entra tenant in the world (multi-tenant authorities).
    /// Only for APIs that authorise each caller by other means (e.g. a per-tenant subscription check).
    pub fn dangerous_accept_any_tenant(mut self) -> Self {
        self.any_tenant = true;
        self
    }

    /// Azure AD B2C: validate tokens of `tenant_name` (e.g. `contoso`) issued by the user flow `policy`.
    /// The metadata comes from `{instance}{tenant_name}.onmicrosoft.com/{policy}/v2.0/.well-known/openid-configuration`.
    pub fn b2c(mut self, tenant_name: &str, policy: &str) -> Self {
        self.b2c = Some((tenant_name.to_owned(), policy.to_owned()));
        self
    }

    /// When signing keys are fetched again (default: every 12 h, forced refreshes at least
    /// 5 min apart).
    pub fn key_refresh(mut self, key_refresh: KeyRefresh) -> Self {
        self.key_refresh = key_refresh;
        self
    }

    /// How the identity provider is reached: timeouts, response size cap, proxy.
    pub fn http(mut self, http: HttpOptions) -> Self {
        self.http = http;
        self
    }

    /// Largest accepted token in bytes (default 16 KiB).
    pub fn max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max;
        self
    }

    /// Appends `?appid={client_id}` to the metadata URLs (apps with custom signing keys).
    pub fn metadata_app_id(mut self, enabled: bool) -> Self {
        self.metadata_app_id = enabled;
        self
    }

    /// The verified-token cache (default: 10,000 tokens for at most 10 minutes each;
    /// [`TokenCacheOptions::disabled`] turns it off).
    pub fn token_cache(mut self, token_cache: TokenCacheOptions) -> Self {
        self.token_cache = token_cache;
        self
    }

    /// The clock (default [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Validates the settings.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first invalid setting.
    pub fn build(self) -> Result<AuthConfig, ConfigError> {
        if let Some(n) = &self.name {
            if n.is_empty()
                || !n
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            {
                return Err(ConfigError::InvalidAuthorityName { found: n.clone() });
            }
        }
        let client_id = self.client_id.trim().to_ascii_lowercase();
        if !is_guid(&client_id) {
            return Err(ConfigError::InvalidClientId {
                found: self.client_id,
            });
        }
        let authority = Authority::parse(
            &self.tenant,
            self.b2c.as_ref().map(|(n, p)| (n.as_str(), p.as_str())),
        )?;
        let instance = authority.instance(self.instance.as_deref(), self.plain_http)?;

        let audiences = match self.audiences {
            Some(a) => a,
            None => vec![client_id.clone(), format!("api://{client_id}")],
        };
        if audiences.is_empty() {
            return Err(ConfigError::NoAudiences);
        }
        if let Some(bad) = audiences
            .iter()
            .find(|a| a.is_empty() || a.chars().any(char::is_whitespace))
        {
            return Err(ConfigError::InvalidAudience { found: bad.clone() });
        }
        let mut versions = self.versions;
        versions.sort();
        versions.dedup();
        if versions.is_empty() {
            return Err(ConfigError::NoVersions);
        }
        if self.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        if self.clock_skew > Duration::from_secs(3600) {
            return Err(ConfigError::OutOfRange {
                field: "clock_skew",
                requirement: "at most 1 hour",
            });
        }
        if self.key_refresh.interval < Duration::from_secs(1) {
            return Err(ConfigError::OutOfRange {
                field: "refresh_interval",
                requirement: "at least 1 second",
            });
        }
        if self.http.timeout.is_zero() || self.http.connect_timeout.is_zero() {
            return Err(ConfigError::OutOfRange {
                field: "http_timeout",
                requirement: "greater than zero",
            });
        }
        if self.max_token_bytes < 64 || self.http.max_response_bytes < 1024 {
            return Err(ConfigError::OutOfRange {
                field: "max_token_bytes/max_response_bytes",
                requirement: "at least 64 bytes / 1 KiB",
            });
        }
        if self.token_cache.max_age < Duration::from_secs(1)
            || self.token_cache.max_age > Duration::from_secs(24 * 3600)
        {
            return Err(ConfigError::OutOfRange {
                field: "token_cache_max_age",
                requirement: "between 1 second and 1 day",
            });
        }
        let allowed_tenants = self
            .allowed_tenants
            .iter()
            .map(|t| TenantId::parse(t))
            .collect::<Result<Vec<_>, _>>()?;
        if let Authority::MultiTenant(kind) = &authority {
            if allowed_tenants.is_empty() && !self.any_tenant {
                return Err(ConfigError::MissingTenantAllowList {
                    authority: kind.as_str(),
                });
            }
        }

        if let Some(p) = &self.http.proxy {
            if !matches!(p.scheme(), "http" | "https") || p.host_str().is_none() {
                return Err(ConfigError::InvalidProxy {
                    found: p.to_string(),
                });
            }
        }
        let mut http = self.http;
        http.connect_timeout = http.effective_connect_timeout();
        let sources = authority.metadata_sources(
            &instance,
            &versions,
            self.metadata_app_id.then_some(client_id.as_str()),
        )?;
        Ok(AuthConfig {
            instance,
            authority,
            client_id,
            audiences,
            versions,
            algorithms: self.algorithms,
            clock_skew: self.clock_skew,
            allowed_tenants,
            any_tenant: self.any_tenant,
            key_refresh: self.key_refresh,
            http,
            max_token_bytes: self.max_token_bytes,
            metadata_app_id: self.metadata_app_id,
            token_cache: self.token_cache,
            clock: self.clock,
            sources,
            name: self.name.map(Arc::from),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TID: &str = "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a";
    const CID: &str = "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c";

    fn urls(c: &AuthConfig) -> Vec<String> {
        c.metadata_urls().map(ToString::to_string).collect()
    }

    #[test]
    fn single_tenant_defaults_fetch_v1_and_v2_metadata() {
        let c = AuthConfig::builder(TID, CID).build().unwrap();
        assert_eq!(
            urls(&c),
            [
                format!("https://login.microsoftonline.com/{TID}/.well-known/openid-configuration"),
                format!(
                    "https://login.microsoftonline.com/{TID}/v2.0/.well-known/openid-configuration"
                ),
            ]
        );
        assert_eq!(c.clock_skew(), Duration::from_secs(300));
        assert_eq!(c.algorithms(), [Algorithm::RS256]);
        assert_eq!(c.key_refresh(), &KeyRefresh::default());
        assert_eq!(c.key_refresh().min_gap, Duration::from_secs(300));
        assert_eq!(c.http().connect_timeout, Duration::from_secs(5));
        assert_eq!(c.http().timeout, Duration::from_secs(10));
        assert_eq!(c.http().max_response_bytes, 64 * 1024);
        assert_eq!(c.token_cache().capacity, 10_000);
    }

    #[test]
    fn b2c_defaults_to_b2clogin_instance_and_policy_metadata() {
        let c = AuthConfig::builder(TID, CID)
            .b2c("contoso", "B2C_1_susi")
            .build()
            .unwrap();
        assert_eq!(
            urls(&c),
            ["https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_susi/v2.0/.well-known/openid-configuration"]
        );
        assert_eq!(c.source_for(TokenVersion::V1), Some(0));
        assert_eq!(c.source_for(TokenVersion::V2), Some(0));
    }

    #[test]
    fn metadata_app_id_appends_query() {
        let c = AuthConfig::builder(TID, CID)
            .instance("http://127.0.0.1:9/dev")
            .accepted_versions([TokenVersion::V2])
            .metadata_app_id(true)
            .build()
            .unwrap();
        assert_eq!(
            urls(&c),
            [format!(
                "http://127.0.0.1:9/dev/{TID}/v2.0/.well-known/openid-configuration?appid={CID}"
            )]
        );
    }

    #[test]
    fn multi_tenant_without_allow_list_is_rejected() {
        let err = AuthConfig::builder("common", CID).build().unwrap_err();
        assert!(matches!(
            err,
            ConfigError::MissingTenantAllowList {
                authority: "common"
            }
        ));
        let any = AuthConfig::builder("organizations", CID)
            .dangerous_accept_any_tenant()
            .build()
            .unwrap();
        assert!(any.is_any_tenant_accepted(), "the opt-in is kept");
        let c = AuthConfig::builder("common", CID)
            .allowed_tenants([TID])
            .build()
            .unwrap();
        assert_eq!(c.allowed_tenants()[0].as_str(), TID);
    }

    #[test]
    fn bad_values_fail_at_build() {
        assert!(matches!(
            AuthConfig::builder("not a tenant", CID).build(),
            Err(ConfigError::InvalidTenantId { .. })
        ));
        assert!(matches!(
            AuthConfig::builder(TID, "abc").build(),
            Err(ConfigError::InvalidClientId { .. })
        ));
        assert!(matches!(
            AuthConfig::builder(TID, CID).instance("ftp://x/").build(),
            Err(ConfigError::InvalidInstance { .. })
        ));
        assert!(matches!(
            AuthConfig::builder(TID, CID)
                .audiences(Vec::<String>::new())
                .build(),
            Err(ConfigError::NoAudiences)
        ));
        assert!(matches!(
            AuthConfig::builder(TID, CID).accepted_versions([]).build(),
            Err(ConfigError::NoVersions)
        ));
        assert!(matches!(
            AuthConfig::builder("common", CID)
                .allowed_tenants(["x"])
                .build(),
            Err(ConfigError::InvalidTenantId { .. })
        ));
        assert!(matches!(
            AuthConfig::builder(TID, CID).b2c("con toso", "p").build(),
            Err(ConfigError::InvalidB2c { .. })
        ));
        let proxy = |url: &str| HttpOptions {
            proxy: Some(Url::parse(url).unwrap()),
            ..HttpOptions::default()
        };
        assert!(matches!(
            AuthConfig::builder(TID, CID)
                .http(proxy("socks://x"))
                .build(),
            Err(ConfigError::InvalidProxy { .. })
        ));
        assert_eq!(
            AuthConfig::builder(TID, CID)
                .http(proxy("http://proxy.local:3128"))
                .build()
                .unwrap()
                .http()
                .proxy
                .as_ref()
                .map(Url::as_str),
            Some("http://proxy.local:3128/")
        );
        for (field, builder) in [
            (
                "http_timeout",
                AuthConfig::builder(TID, CID).http(HttpOptions {
                    connect_timeout: Duration::ZERO,
                    ..HttpOptions::default()
                }),
            ),
            (
                "refresh_interval",
                AuthConfig::builder(TID, CID).key_refresh(KeyRefresh {
                    interval: Duration::from_millis(10),
                    ..KeyRefresh::default()
                }),
            ),
            (
                "max_token_bytes/max_response_bytes",
                AuthConfig::builder(TID, CID).http(HttpOptions {
                    max_response_bytes: 10,
                    ..HttpOptions::default()
                }),
            ),
        ] {
            assert!(
                matches!(builder.build(), Err(ConfigError::OutOfRange { field: f, .. }) if f == field),
                "{field}"
            );
        }
    }

    #[test]
    fn plain_http_instance_off_loopback_is_refused_naming_the_setting_and_the_fix() {
        let err = AuthConfig::builder(TID, CID)
            .instance("http://example.com/")
            .build()
            .unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidInstance { found, .. } if found == "http://example.com/"),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.starts_with("invalid instance URL \"http://example.com/\""),
            "{text}"
        );
        assert!(text.contains("use https"), "{text}");
        assert!(text.contains("dangerous_allow_insecure_http()"), "{text}");
    }

    #[test]
    fn dangerous_allow_insecure_http_accepts_a_plain_http_instance_anywhere() {
        let c = AuthConfig::builder(TID, CID)
            .instance("http://example.com")
            .dangerous_allow_insecure_http()
            .accepted_versions([TokenVersion::V2])
            .build()
            .unwrap();
        assert_eq!(
            urls(&c),
            [format!(
                "http://example.com/{TID}/v2.0/.well-known/openid-configuration"
            )]
        );
    }

    #[test]
    fn domain_tenant_and_instance_without_slash_accepted() {
        let c = AuthConfig::builder("Contoso.onmicrosoft.com", CID)
            .instance("https://login.microsoftonline.us")
            .build()
            .unwrap();
        assert_eq!(c.instance().as_str(), "https://login.microsoftonline.us/");
        assert_eq!(
            c.authority(),
            &Authority::Tenant("contoso.onmicrosoft.com".into())
        );
    }
}
