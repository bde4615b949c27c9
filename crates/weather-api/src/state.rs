//! [`AppState`]: the handles every handler may need, cheap to clone; sub-states via `FromRef`.

use std::sync::Arc;

use axum::extract::FromRef;
use entra_auth::TokenValidator;
use url::Url;

use crate::metrics::Metrics;
use crate::proxy::{IpNet, TrustedProxies};
use crate::store::ReportStore;
use crate::templates::Templates;
use crate::upstream::WeatherProvider;

/// The app roles that stand in for the delegated scopes in app-only (daemon) tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRoles {
    /// Grants what `weather.read` grants.
    pub read: String,
    /// Grants what `weather.write` grants.
    pub write: String,
}

/// How the service runs: production (no development issuer) or development mode.
#[derive(Debug, Clone, Default)]
pub struct ModeInfo {
    /// The development issuer, mounted by `build_router` under `/dev-issuer`, in development mode only.
    pub dev_issuer: Option<entra_dev::DevIssuer>,
}

impl ModeInfo {
    /// The development issuer's instance URL, in development mode.
    pub fn dev_issuer_url(&self) -> Option<&Url> {
        self.dev_issuer.as_ref().map(entra_dev::DevIssuer::instance)
    }
}

/// Shared application state.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Report storage.
    pub store: Arc<dyn ReportStore>,
    /// Current weather (cached).
    pub weather: Arc<dyn WeatherProvider>,
    /// The bearer-token validator.
    pub validator: TokenValidator,
    /// App-role names.
    pub roles: Arc<AppRoles>,
    /// HTML templates.
    pub templates: Arc<Templates>,
    /// Development or production facts.
    pub mode: Arc<ModeInfo>,
    /// Body size and time limits.
    pub limits: crate::startup::HttpLimits,
    /// This instance's metrics (`/metrics`).
    pub metrics: Arc<Metrics>,
    /// Proxies whose `X-Forwarded-*` headers are honoured.
    pub trusted_proxies: Arc<TrustedProxies>,
    /// Who may read `/metrics`; empty = anyone.
    pub metrics_allow: Arc<Vec<IpNet>>,
    /// The OpenAPI document and Swagger UI configuration, built once at start-up.
    pub docs: Arc<crate::openapi::ApiDocs>,
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

impl FromRef<AppState> for Arc<Templates> {
    fn from_ref(state: &AppState) -> Self {
        state.templates.clone()
    }
}
