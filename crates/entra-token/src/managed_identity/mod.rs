//! [`ManagedIdentityCredential`]: tokens of an Azure managed identity, from the endpoint of the
//! platform the application runs on, each by its documented protocol:
//!
//! | source | picked when the variables hold | request |
//! |---|---|---|
//! | Service Fabric | `IDENTITY_ENDPOINT`, `IDENTITY_HEADER`, `IDENTITY_SERVER_THUMBPRINT` | `GET {IDENTITY_ENDPOINT}?api-version=2019-07-01-preview&resource=`, header `secret` |
//! | App Service, Functions, Container Apps | `IDENTITY_ENDPOINT`, `IDENTITY_HEADER` | `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=[&client_id=\|&object_id=\|&mi_res_id=]`, header `X-IDENTITY-HEADER` |
//! | Cloud Shell | `MSI_ENDPOINT` | `POST {MSI_ENDPOINT}` form `resource=`, header `Metadata: true` |
//! | Azure Arc | `IDENTITY_ENDPOINT`, `IMDS_ENDPOINT` | `GET {IDENTITY_ENDPOINT}?api-version=2019-11-01&resource=`, `Metadata: true`; its 401 `WWW-Authenticate: Basic realm=<key file>` answered with `Authorization: Basic <key>` |
//! | instance metadata service (VMs, scale sets) | none of the above (`AZURE_POD_IDENTITY_AUTHORITY_HOST` moves it) | `GET http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=[&client_id=\|&object_id=\|&msi_res_id=]`, `Metadata: true` |
//!
//! The library reads no environment: [`ManagedIdentityCredential::from_env_vars`] takes the variables
//! from the application, picks the source in MSAL's order and says which ([`source`], and an INFO
//! event). A user-assigned identity ([`ManagedIdentityId`]) is refused with
//! [`ManagedIdentityError::UserAssignedUnsupported`] where the source serves only the system-assigned
//! one (Cloud Shell, Azure Arc, Service Fabric). Endpoints are https, or plain http on loopback (the
//! platforms' local endpoints) or at the instance metadata service's 169.254.169.254.
//!
//! Requests go through entra-core's one HTTP client ([`HttpOptions`]: each attempt bounded by its
//! timeout). Answers 404, 408, 410, 429 and 5xx are retried as MSAL's policy for the instance metadata
//! service does ([`ManagedIdentityRetry`]: exponential backoff 1 s, 2 s, 4 s for at most 3 retries;
//! 410, the agent starting, every 10 s for up to 70 s), never past the deadline; then
//! [`ManagedIdentityError::Unavailable`] names the source, the last status and the fix. Tokens are
//! cached in memory (entra-token's cache, one request per resource at a time), refreshed at the answer's
//! `refresh_in`, else half their lifetime (`expires_on`, a number or a string), and never served within
//! [`CacheOptions::expiry_margin`] of expiry.
//!
//! Service Fabric's endpoint is https with the cluster's certificate, which no web root vouches for:
//! as MSAL does, the default transport trusts exactly the certificate whose SHA-1 thumbprint is
//! `IDENTITY_SERVER_THUMBPRINT` ([`server_thumbprint`](ManagedIdentityCredential::server_thumbprint);
//! entra-core's `ReqwestClient::pinned_to_thumbprint`), and no other.
//!
//! [`source`]: ManagedIdentityCredential::source

mod arc;
mod assertion;
pub(crate) mod error;
mod platform;
mod response;
mod source;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use entra_core::SecretString;
use http::StatusCode;

pub use arc::DEFAULT_ARC_KEY_DIRECTORY;
pub use assertion::ManagedIdentityAssertion;
pub use error::ManagedIdentityError;
pub use source::{ManagedIdentitySource, IMDS_ADDRESS};

use self::source::Endpoint;
use crate::cache::{CacheKey, CacheOptions, InFlight, MemoryCache};
use crate::error::{TokenError, TransportError};
use crate::token::{AccessToken, Scopes};
use crate::token_credential::{TokenCredential, TokenRequestOptions};
use crate::transport::{BoxFuture, HttpClient};
use entra_core::http::HttpOptions;
use entra_core::{Clock, SystemClock};

/// The audience of a managed identity's token used as a federated credential
/// (`api://AzureADTokenExchange`; sovereign clouds have their own, e.g.
/// `api://AzureADTokenExchangeUSGov`, `api://AzureADTokenExchangeChina`).
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// Which managed identity: the resource's system-assigned one, or a user-assigned one by one of its
/// ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ManagedIdentityId {
    /// The system-assigned identity.
    #[default]
    SystemAssigned,
    /// A user-assigned identity by client (application) id.
    ClientId(String),
    /// A user-assigned identity by object (principal) id.
    ObjectId(String),
    /// A user-assigned identity by Azure resource id
    /// (`/subscriptions/.../providers/Microsoft.ManagedIdentity/userAssignedIdentities/...`).
    ResourceId(String),
}

impl ManagedIdentityId {
    /// How a user-assigned identity is named (`client_id`, `object_id`, `resource_id`); `None` for
    /// the system-assigned one.
    pub fn kind(&self) -> Option<&'static str> {
        match self {
            Self::SystemAssigned => None,
            Self::ClientId(_) => Some("client_id"),
            Self::ObjectId(_) => Some("object_id"),
            Self::ResourceId(_) => Some("resource_id"),
        }
    }

    /// Whether this names a user-assigned identity.
    pub fn is_user_assigned(&self) -> bool {
        self.kind().is_some()
    }

    fn value(&self) -> &str {
        match self {
            Self::SystemAssigned => "",
            Self::ClientId(v) | Self::ObjectId(v) | Self::ResourceId(v) => v,
        }
    }
}

/// How the endpoint's refusals are retried (MSAL's policy for the instance metadata service, applied
/// to every source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ManagedIdentityRetry {
    /// Retries after 404, 408, 429 or 5xx (default 3).
    pub max_retries: u32,
    /// The first backoff, doubled at each retry (default 1 s).
    pub initial_backoff: Duration,
    /// The longest backoff (default 4 s).
    pub max_backoff: Duration,
    /// The wait between tries after 410 (the agent starting; default 10 s).
    pub gone_interval: Duration,
    /// No retry starts after this long since the first request (default 70 s: MSAL's bound for 410).
    pub deadline: Duration,
}

impl Default for ManagedIdentityRetry {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(4),
            gone_interval: Duration::from_secs(10),
            deadline: Duration::from_secs(70),
        }
    }
}

impl ManagedIdentityRetry {
    /// No retry at all.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            deadline: Duration::ZERO,
            ..Self::default()
        }
    }

    /// These retries with other waits and deadline (tests use milliseconds).
    pub fn with_timing(
        mut self,
        initial_backoff: Duration,
        max_backoff: Duration,
        gone_interval: Duration,
        deadline: Duration,
    ) -> Self {
        self.initial_backoff = initial_backoff;
        self.max_backoff = max_backoff;
        self.gone_interval = gone_interval;
        self.deadline = deadline;
        self
    }
}

/// How a [`ManagedIdentityCredential`] calls its endpoint and caches its tokens.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ManagedIdentityOptions {
    /// Timeouts and the response cap of each request (entra-core's [`HttpOptions`]).
    pub http: HttpOptions,
    /// The memory cache's bounds and expiry margin.
    pub cache: CacheOptions,
    /// Retries of 404, 408, 410, 429 and 5xx answers.
    pub retry: ManagedIdentityRetry,
    /// Where Azure Arc's agent writes its challenge keys (default [`DEFAULT_ARC_KEY_DIRECTORY`]): a
    /// challenge naming a file elsewhere is refused.
    pub arc_key_directory: PathBuf,
    /// The clock (default the system clock).
    pub clock: Arc<dyn Clock>,
}

impl Default for ManagedIdentityOptions {
    fn default() -> Self {
        Self {
            http: HttpOptions::default(),
            cache: CacheOptions::default(),
            retry: ManagedIdentityRetry::default(),
            arc_key_directory: PathBuf::from(DEFAULT_ARC_KEY_DIRECTORY),
            clock: Arc::new(SystemClock),
        }
    }
}

impl ManagedIdentityOptions {
    /// These options with `http`.
    pub fn with_http(mut self, http: HttpOptions) -> Self {
        self.http = http;
        self
    }

    /// These options with `retry`.
    pub fn with_retry(mut self, retry: ManagedIdentityRetry) -> Self {
        self.retry = retry;
        self
    }

    /// These options with Azure Arc's key directory.
    pub fn with_arc_key_directory(mut self, dir: impl Into<PathBuf>) -> Self {
        self.arc_key_directory = dir.into();
        self
    }

    /// These options with `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

/// Tokens of a managed identity (see the [module docs](self)). Cheap to clone (an `Arc` inside);
/// `Debug` shows the source, the identity and the endpoint, never a secret or token.
#[derive(Clone, Debug)]
pub struct ManagedIdentityCredential {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    endpoint: Endpoint,
    id: ManagedIdentityId,
    options: ManagedIdentityOptions,
    transport: Arc<dyn HttpClient>,
    memory: MemoryCache,
    in_flight: InFlight,
    requests: AtomicU64,
}

impl ManagedIdentityCredential {
    /// The credential of the platform the variables describe (the application passes its
    /// environment, e.g. `std::env::vars()`), picked in MSAL's order (module docs) and logged at INFO.
    ///
    /// # Errors
    /// [`ManagedIdentityError::InvalidEndpoint`] for an endpoint variable that is not an https URL
    /// (or http on loopback); [`ManagedIdentityError::UserAssignedUnsupported`] when `id` is
    /// user-assigned and the source serves only the system-assigned identity;
    /// [`ManagedIdentityError::Transport`] when the HTTP client cannot be built.
    #[cfg(feature = "reqwest")]
    pub fn from_env_vars(
        vars: impl IntoIterator<Item = (String, String)>,
        id: ManagedIdentityId,
        options: ManagedIdentityOptions,
    ) -> Result<Self, ManagedIdentityError> {
        let endpoint = Endpoint::from_vars(vars)?;
        let transport = default_transport(&endpoint, &options.http)?;
        Self::build(endpoint, id, options, transport)
    }

    /// The instance metadata service at 169.254.169.254 (a VM or scale set), whatever the
    /// environment.
    ///
    /// # Errors
    /// As [`from_env_vars`](Self::from_env_vars).
    #[cfg(feature = "reqwest")]
    pub fn imds(
        id: ManagedIdentityId,
        options: ManagedIdentityOptions,
    ) -> Result<Self, ManagedIdentityError> {
        let endpoint = Endpoint::imds(None)?;
        let transport = default_transport(&endpoint, &options.http)?;
        Self::build(endpoint, id, options, transport)
    }

    /// As [`from_env_vars`](Self::from_env_vars), sending through `transport` (the configured
    /// timeout still bounds each request).
    ///
    /// # Errors
    /// As [`from_env_vars`](Self::from_env_vars).
    pub fn with_transport(
        vars: impl IntoIterator<Item = (String, String)>,
        id: ManagedIdentityId,
        options: ManagedIdentityOptions,
        transport: Arc<dyn HttpClient>,
    ) -> Result<Self, ManagedIdentityError> {
        Self::build(Endpoint::from_vars(vars)?, id, options, transport)
    }

    fn build(
        endpoint: Endpoint,
        id: ManagedIdentityId,
        options: ManagedIdentityOptions,
        transport: Arc<dyn HttpClient>,
    ) -> Result<Self, ManagedIdentityError> {
        if let Some(kind) = id
            .kind()
            .filter(|_| !endpoint.source.supports_user_assigned())
        {
            return Err(ManagedIdentityError::UserAssignedUnsupported {
                platform: endpoint.source,
                kind,
            });
        }
        tracing::info!(target: "entra_token", source = endpoint.source.as_str(),
            endpoint = %endpoint.url, identity = id.kind().unwrap_or("system_assigned"),
            "managed identity source picked");
        let memory = MemoryCache::new(options.cache.max_entries, options.cache.max_bytes);
        Ok(Self {
            inner: Arc::new(Inner {
                endpoint,
                id,
                options,
                transport,
                memory,
                in_flight: InFlight::default(),
                requests: AtomicU64::new(0),
            }),
        })
    }

    /// The source picked.
    pub fn source(&self) -> ManagedIdentitySource {
        self.inner.endpoint.source
    }

    /// The identity asked for.
    pub fn id(&self) -> &ManagedIdentityId {
        &self.inner.id
    }

    /// Service Fabric's `IDENTITY_SERVER_THUMBPRINT`: the certificate its endpoint must present
    /// (the default transport trusts that certificate alone; a transport given to
    /// [`with_transport`](Self::with_transport) must pin it itself).
    pub fn server_thumbprint(&self) -> Option<&str> {
        self.inner.endpoint.server_thumbprint.as_deref()
    }

    /// Requests sent to the endpoint so far (retries and Azure Arc's challenge included).
    pub fn requests_sent(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// A token for `resource` (e.g. `https://vault.azure.net`, or [`TOKEN_EXCHANGE_AUDIENCE`]), from
    /// the cache while it is fresh.
    ///
    /// # Errors
    /// [`ManagedIdentityError`]: the endpoint refused, kept failing within the retry deadline, was
    /// slow, unreachable or answered garbage.
    pub async fn acquire(&self, resource: &str) -> Result<AccessToken, ManagedIdentityError> {
        self.acquire_rejecting(resource, None).await
    }

    async fn acquire_rejecting(
        &self,
        resource: &str,
        rejected: Option<&AccessToken>,
    ) -> Result<AccessToken, ManagedIdentityError> {
        let inner = &*self.inner;
        let key = CacheKey::new(
            &format!(
                "managed-identity:{}:{}",
                inner.id.kind().unwrap_or("system"),
                inner.id.value()
            ),
            inner.endpoint.url.as_str(),
            &Scopes::parse(resource),
            None,
        );
        let margin = inner.options.cache.expiry_margin;
        let is_rejected = |t: &AccessToken| rejected.is_some_and(|r| r.secret() == t.secret());
        let now = inner.options.clock.now();
        let mut stale = None;
        if let Some(t) = inner.memory.get(&key, now) {
            if !is_rejected(&t) && now + margin < t.expires_at() {
                if now < t.refresh_at() {
                    return Ok(t);
                }
                stale = Some(t);
            }
        }
        let lock = inner.in_flight.key_lock(key);
        let _guard = match (lock.lock.try_lock(), stale.take()) {
            (Ok(g), s) => {
                stale = s;
                g
            }
            // Someone refreshes it now: the still-valid token meanwhile.
            (Err(_), Some(t)) => return Ok(t),
            (Err(_), None) => lock.lock.lock().await,
        };
        let now = inner.options.clock.now();
        if let Some(t) = inner.memory.get(&key, now) {
            if !is_rejected(&t) && now < t.refresh_at() && now + margin < t.expires_at() {
                return Ok(t);
            }
        }
        match self.fetch(resource).await {
            Ok(t) => {
                inner
                    .memory
                    .insert(key, t.clone(), inner.options.clock.now());
                Ok(t)
            }
            Err(e) => {
                let now = inner.options.clock.now();
                match stale.filter(|t| now + margin < t.expires_at() && e.is_transient()) {
                    Some(t) => {
                        tracing::warn!(target: "entra_token", source = inner.endpoint.source.as_str(), error = %e,
                            "refreshing a managed identity token failed; the cached token is still valid and is used");
                        Ok(t)
                    }
                    None => Err(e),
                }
            }
        }
    }

    /// One token from the endpoint: retries as configured, Azure Arc's challenge answered.
    async fn fetch(&self, resource: &str) -> Result<AccessToken, ManagedIdentityError> {
        let inner = &*self.inner;
        let platform = inner.endpoint.source;
        let retry = inner.options.retry;
        let started = Instant::now();
        let mut attempts = 0u32;
        let mut retries = 0u32;
        let mut arc_key: Option<SecretString> = None;
        loop {
            let request = inner
                .endpoint
                .request(resource, &inner.id, arc_key.as_ref())?;
            attempts += 1;
            let res = self.send(request).await?;
            let status = res.status();
            if status.is_success() {
                let token =
                    response::parse_token(platform, status, res.body(), inner.options.clock.now())?;
                tracing::debug!(target: "entra_token", source = platform.as_str(), attempts,
                    elapsed_ms = started.elapsed().as_millis() as u64, "managed identity token acquired");
                return Ok(token);
            }
            if platform == ManagedIdentitySource::AzureArc
                && status == StatusCode::UNAUTHORIZED
                && arc_key.is_none()
            {
                arc_key = Some(
                    arc::challenge_key(res.headers(), &inner.options.arc_key_directory).await?,
                );
                continue;
            }
            let retriable =
                status.is_server_error() || matches!(status.as_u16(), 404 | 408 | 410 | 429);
            if !retriable {
                let (error, description) = response::refusal(res.body());
                tracing::info!(target: "entra_token", source = platform.as_str(), status = status.as_u16(),
                    error = %error, "managed identity endpoint refused");
                return Err(ManagedIdentityError::Refused {
                    platform,
                    status,
                    error,
                    description,
                    fix: platform.fix(),
                });
            }
            let (delay, allowed) = if status == StatusCode::GONE {
                (retry.gone_interval, true)
            } else {
                (
                    source::backoff(retry.initial_backoff, retry.max_backoff, retries),
                    retries < retry.max_retries,
                )
            };
            let elapsed = started.elapsed();
            if !allowed || elapsed + delay > retry.deadline {
                tracing::warn!(target: "entra_token", source = platform.as_str(), status = status.as_u16(),
                    attempts, elapsed_ms = elapsed.as_millis() as u64, "managed identity endpoint unavailable; retries exhausted");
                return Err(ManagedIdentityError::Unavailable {
                    platform,
                    status,
                    attempts,
                    elapsed,
                    deadline: retry.deadline,
                    fix: platform.fix(),
                });
            }
            tracing::info!(target: "entra_token", source = platform.as_str(), status = status.as_u16(),
                attempts, delay_ms = delay.as_millis() as u64, "managed identity endpoint answered a retriable status; retrying");
            retries += 1;
            tokio::time::sleep(delay).await;
        }
    }

    /// One request, bounded by the configured timeout.
    async fn send(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, ManagedIdentityError> {
        let inner = &*self.inner;
        let platform = inner.endpoint.source;
        let timeout = inner.options.http.timeout;
        inner.requests.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(timeout, inner.transport.send(request)).await {
            Err(_) | Ok(Err(TransportError::TimedOut)) => {
                tracing::warn!(target: "entra_token", source = platform.as_str(), endpoint = %inner.endpoint.url,
                    ?timeout, "managed identity endpoint timed out");
                Err(ManagedIdentityError::Timeout {
                    platform,
                    after: timeout,
                })
            }
            Ok(Err(cause)) => {
                tracing::warn!(target: "entra_token", source = platform.as_str(), endpoint = %inner.endpoint.url,
                    error = %cause, "managed identity endpoint unreachable");
                Err(ManagedIdentityError::Transport {
                    platform,
                    fix: platform.fix(),
                    cause,
                })
            }
            Ok(Ok(res)) => Ok(res),
        }
    }
}

#[cfg(feature = "reqwest")]
/// entra-core's reqwest client; for Service Fabric, pinned to `IDENTITY_SERVER_THUMBPRINT` (the
/// cluster's certificate, which no web root vouches for), as MSAL does.
fn default_transport(
    endpoint: &Endpoint,
    http: &HttpOptions,
) -> Result<Arc<dyn HttpClient>, ManagedIdentityError> {
    let platform = endpoint.source;
    let user_agent = concat!("entra-token/", env!("CARGO_PKG_VERSION"));
    let unbuilt = |cause| ManagedIdentityError::Transport {
        platform,
        fix: "the HTTP client cannot be built (TLS backend or proxy setting)",
        cause,
    };
    if let Some(pin) = endpoint.server_thumbprint.as_deref() {
        let thumbprint = entra_core::http::parse_sha1_thumbprint(pin).ok_or_else(|| {
            ManagedIdentityError::InvalidEndpoint {
                variable: "IDENTITY_SERVER_THUMBPRINT",
                found: pin.chars().take(64).collect(),
                reason: "expected the SHA-1 thumbprint of the cluster's certificate: 40 hex digits",
            }
        })?;
        let client =
            crate::transport::ReqwestTransport::pinned_to_thumbprint(http, user_agent, thumbprint)
                .map_err(unbuilt)?;
        return Ok(Arc::new(client));
    }
    let client = crate::transport::ReqwestTransport::new(http, user_agent)
        .map_err(|e| unbuilt(TransportError::Connect(Box::new(e))))?;
    Ok(Arc::new(client))
}

/// The managed identity's token for the one `{resource}/.default` scope (e.g.
/// `https://vault.azure.net/.default`); on-behalf-of is refused
/// ([`TokenError::OnBehalfOfUnsupported`]).
impl TokenCredential for ManagedIdentityCredential {
    fn get_token<'a>(
        &'a self,
        scopes: &'a Scopes,
        options: TokenRequestOptions<'a>,
    ) -> BoxFuture<'a, Result<AccessToken, TokenError>> {
        Box::pin(async move {
            if options.on_behalf_of.is_some() {
                return Err(TokenError::OnBehalfOfUnsupported {
                    credential: "ManagedIdentityCredential",
                });
            }
            scopes.check_app()?;
            let resource = scopes
                .iter()
                .next()
                .and_then(|s| s.strip_suffix("/.default"))
                .unwrap_or_default();
            Ok(self.acquire_rejecting(resource, options.rejected).await?)
        })
    }
}
