//! [`AppState`]: the handles every handler may need, cheap to clone; sub-states via `FromRef`; and
//! [`HttpLimits`], the operational limits [`build_router`](crate::startup::build_router) applies.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use entra_auth::{AuthState, TokenValidator};

use crate::auth::AppRoles;
use crate::dev_mode::ModeInfo;
use crate::metrics::Metrics;
use crate::middleware::client_info::{IpNet, TrustedProxies};
use crate::middleware::rate_limit::RateLimiter;
use crate::page_cache::NewestPageCache;
use crate::settings::AzureAdSettings;
use crate::store::{CachedPing, ReportStore};
use crate::templates::Templates;
use crate::upstream::WeatherProvider;

/// Operational limits applied by [`build_router`](crate::startup::build_router).
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Largest accepted request body (413 beyond).
    pub max_body_bytes: usize,
    /// Time limit of one request (503 beyond).
    pub request_timeout: Duration,
    /// Most requests in flight (503 `overloaded` with `Retry-After` beyond).
    pub max_in_flight: usize,
}

/// Shared application state: one [`Arc`], so that the `State` extractor's clone for each request is one
/// reference-count increment, however many handles it holds. Its fields are [`Shared`]'s, reached
/// through `Deref`.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// The state made of these handles.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The handles inside [`AppState`].
#[derive(Debug)]
pub struct Shared {
    /// Report storage.
    pub store: Arc<dyn ReportStore>,
    /// Current weather (cached).
    pub weather: Arc<dyn WeatherProvider>,
    /// The bearer-token validator.
    pub validator: TokenValidator,
    /// The validator and each permission's requirement (for `Authorized<P>`, [`crate::auth`]).
    pub auth: AuthState,
    /// App-role names.
    pub roles: Arc<AppRoles>,
    /// HTML templates.
    pub templates: Arc<Templates>,
    /// Development or production facts.
    pub mode: Arc<ModeInfo>,
    /// Body size and time limits.
    pub limits: HttpLimits,
    /// This instance's metrics (`/metrics`).
    pub metrics: Arc<Metrics>,
    /// Proxies whose `X-Forwarded-*` headers are honoured.
    pub trusted_proxies: Arc<TrustedProxies>,
    /// Who may read `/metrics`; empty = anyone.
    pub metrics_allow: Arc<Vec<IpNet>>,
    /// The database readiness check, cached ([`CachedPing`]).
    pub readiness: Arc<CachedPing>,
    /// Per-caller rate limits (the `RateLimited<C>` extractor).
    pub rate_limiter: Arc<RateLimiter>,
    /// The newest page of reports as last answered, while the store says nothing changed.
    pub newest_page: NewestPageCache,
    /// The identity settings, to name the key behind a refused authority (readiness).
    pub azure_ad: Arc<AzureAdSettings>,
}

impl FromRef<AppState> for Arc<RateLimiter> {
    fn from_ref(state: &AppState) -> Self {
        state.rate_limiter.clone()
    }
}

impl FromRef<AppState> for Arc<dyn ReportStore> {
    fn from_ref(state: &AppState) -> Self {
        state.store.clone()
    }
}

impl FromRef<AppState> for Arc<dyn WeatherProvider> {
    fn from_ref(state: &AppState) -> Self {
        state.weather.clone()
    }
}

impl FromRef<AppState> for TokenValidator {
    fn from_ref(state: &AppState) -> Self {
        state.validator.clone()
    }
}

impl FromRef<AppState> for AuthState {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

impl FromRef<AppState> for Arc<Templates> {
    fn from_ref(state: &AppState) -> Self {
        state.templates.clone()
    }
}
