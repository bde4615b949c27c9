//! Start-up: [`Application::build`] binds the listener, opens the store, builds the validator (and, in
//! development mode, the development issuer) and the router; [`Application::run_until_stopped`] serves until
//! the shutdown future resolves, letting in-flight requests finish.
//!
//! [`build_router`] is THE router (routes + operational layers), used by `serve` and by the tests.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::error_handling::HandleErrorLayer;
use axum::Router;
use entra_auth::TokenValidator;
use http::header::AUTHORIZATION;
use http::Request;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::{BoxError, ServiceBuilder};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use url::Url;

use crate::auth::AppRoles;
use crate::dev_mode::{self, dev_banner, DevMode, ModeInfo, NetworkBindRefused, DEV_ISSUER_PATH};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::middleware::client_info::ClientInfo;
use crate::middleware::layers::{AnswerLayer, EdgeLayer, MakeRequestId};
use crate::middleware::rate_limit::{InvalidTokenLayer, RateLimiter};
use crate::middleware::{http_metrics, security};
use crate::openapi::{ApiDocs, DocsSettings};
use crate::page_cache::NewestPageCache;
use crate::routes;
use crate::server::{self, ConnectionLimits};
use crate::settings::{config_error, AzureAdSettings, Identity, Mode, Settings, SettingsError};
use crate::state::{AppState, HttpLimits, Shared};
use crate::store::{self, StoreError};
use crate::templates::Templates;
use crate::upstream::{CachedWeather, Clock, OpenWeather, SystemClock};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// A setting is invalid (the message names the key).
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The listen address could not be bound.
    #[error("bind: cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The database could not be opened or migrated.
    #[error("database_url: cannot open the report database")]
    Store(#[from] StoreError),
    /// The OpenWeatherMap client could not be built.
    #[error("openweather_base_url: cannot build the HTTP client")]
    HttpClient(#[source] reqwest::Error),
    /// Development mode was asked to listen on a non-loopback address (the message names both fixes).
    #[error(transparent)]
    DevModeOnNetwork(#[from] NetworkBindRefused),
    /// The development issuer could not start (e.g. its key file in the data directory is unreadable).
    #[error("development issuer: cannot start")]
    DevIssuer(#[from] entra_dev::DevIssuerError),
    /// `rate_limit.redis_url` is not a usable Redis URL.
    #[error("rate_limit.redis_url: cannot use this Redis URL")]
    RateLimit(#[source] redis::RedisError),
    /// An embedded template does not compile (a bug).
    #[error("templates: {0}")]
    Templates(#[from] minijinja::Error),
    /// Serving failed.
    #[error("server error")]
    Serve(#[source] std::io::Error),
}

/// A built, bound, not yet serving application.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    router: Router,
    validator: TokenValidator,
    azure_ad: Arc<AzureAdSettings>,
    mode: Arc<ModeInfo>,
    has_api_key: bool,
    connection_limits: ConnectionLimits,
}

/// The parts of a running application handed to [`Application::build_with`] by tests.
#[derive(Debug, Clone)]
pub struct Overrides {
    /// The clock of the weather cache.
    pub clock: Arc<dyn Clock>,
    /// Development mode's key directory; `None` = `entra_dev::default_data_dir()` (shared with the
    /// `entra-dev` CLI, so that its tokens are accepted).
    pub dev_data_dir: Option<std::path::PathBuf>,
}

impl Default for Overrides {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            dev_data_dir: None,
        }
    }
}

impl Application {
    /// Builds the application from settings, binding `settings.bind`.
    ///
    /// # Errors
    /// [`StartupError`], whose message names the failing setting.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with(settings, Overrides::default()).await
    }

    /// [`Application::build`] with injected parts (tests).
    ///
    /// # Errors
    /// As [`Application::build`].
    pub async fn build_with(
        settings: Settings,
        overrides: Overrides,
    ) -> Result<Self, StartupError> {
        if settings.is_development_mode() {
            dev_mode::check_bind(settings.bind, settings.dangerous_dev_mode_on_network)?;
        }
        let listener =
            TcpListener::bind(settings.bind)
                .await
                .map_err(|source| StartupError::Bind {
                    addr: settings.bind,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: settings.bind,
            source,
        })?;

        let (validator, mode) = match (&settings.azure_ad.identity, settings.mode) {
            (Some(identity), Mode::Production) => (
                to_validator(&settings.azure_ad, identity, None)?,
                ModeInfo::default(),
            ),
            (None, Mode::Production) => {
                return Err(SettingsError::invalid(
                    "azure_ad.tenant_id",
                    "must be set in production mode, with azure_ad.client_id",
                )
                .into())
            }
            (_, Mode::Development) => {
                let dev = DevMode::start(
                    addr,
                    overrides.dev_data_dir.clone(),
                    settings.dangerous_dev_mode_on_network,
                )?;
                let validator =
                    to_validator(&settings.azure_ad, &dev.identity, Some(&dev.instance))?;
                (
                    validator,
                    ModeInfo {
                        dev_issuer: Some(dev.issuer),
                        dangerous_on_network: settings.dangerous_dev_mode_on_network,
                    },
                )
            }
        };
        let mode = Arc::new(mode);
        let azure_ad = Arc::new(settings.azure_ad.clone());

        let store = store::connect(&settings.database_url).await?;
        let openweather = OpenWeather::new(
            &settings.openweather_base_url,
            settings.api_key.clone(),
            settings.openweather_timeout,
        )
        .map_err(StartupError::HttpClient)?;
        let metrics = Arc::new(Metrics::new());
        let weather = CachedWeather::new(
            openweather,
            settings.cache_ttl,
            settings.cache_capacity,
            overrides.clock,
        )
        .with_metrics(metrics.clone());
        let roles = AppRoles {
            read: settings.azure_ad.read_role.clone(),
            write: settings.azure_ad.write_role.clone(),
        };
        let auth = crate::auth::auth_state(
            validator.clone(),
            &roles,
            &crate::openapi::protected_operations().map(|(_, p)| p),
        )?;
        let docs = ApiDocs::new(
            &DocsSettings::new(
                validator.config(),
                mode.docs_client_id(settings.azure_ad.docs_client_id.clone()),
            ),
            &auth,
        );
        let state = AppState::new(Shared {
            store,
            weather: Arc::new(weather),
            validator: validator.clone(),
            auth,
            roles: Arc::new(roles),
            templates: Arc::new(Templates::new()?),
            mode: mode.clone(),
            limits: HttpLimits {
                max_body_bytes: settings.max_body_bytes,
                request_timeout: settings.request_timeout,
                max_in_flight: settings.max_in_flight,
            },
            metrics,
            trusted_proxies: Arc::new(settings.trusted_proxies.clone()),
            metrics_allow: Arc::new(settings.metrics_allow.clone()),
            readiness: Arc::new(store::CachedPing::new(store::PING_CACHE_TTL)),
            rate_limiter: Arc::new(
                RateLimiter::new(&settings.rate_limit).map_err(StartupError::RateLimit)?,
            ),
            newest_page: NewestPageCache::new(),
            azure_ad: azure_ad.clone(),
        });
        let router = build_router(state, Arc::new(docs));
        Ok(Self {
            listener,
            addr,
            router,
            validator,
            azure_ad,
            mode,
            has_api_key: settings.api_key.is_some(),
            connection_limits: ConnectionLimits {
                header_read_timeout: settings.header_read_timeout,
                max_header_bytes: settings.max_header_bytes,
            },
        })
    }

    /// The bound address (the real port when `bind` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The token validator (tests await its warm-up).
    pub fn validator(&self) -> &TokenValidator {
        &self.validator
    }

    /// The development issuer, in development mode.
    pub fn dev_issuer(&self) -> Option<&entra_dev::DevIssuer> {
        self.mode.dev_issuer.as_ref()
    }

    /// The development-mode banner (None in production mode): what mode this is and the exact commands
    /// to get a token and call each endpoint.
    pub fn banner(&self) -> Option<String> {
        self.mode
            .dev_issuer
            .as_ref()
            .map(|issuer| dev_banner(self.addr, issuer, self.has_api_key))
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish. The
    /// validator's background key refresh runs meanwhile and is stopped at the end.
    ///
    /// # Errors
    /// [`StartupError::Serve`] when the server fails.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let refresh: JoinHandle<()> = self.validator.spawn_background_refresh();
        let refused = tokio::spawn(report_refused_configuration(
            self.validator.clone(),
            self.azure_ad.clone(),
        ));
        let key_watcher = self.mode.watch_keys();
        match self.mode.dev_issuer.as_ref() {
            Some(issuer) => tracing::warn!(
                addr = %self.addr,
                dev_issuer = %issuer.instance(),
                "listening in DEVELOPMENT MODE (built-in development issuer, not for production)"
            ),
            None => tracing::info!(addr = %self.addr, "listening"),
        }
        if self.mode.is_development() && !self.addr.ip().to_canonical().is_loopback() {
            tracing::warn!(
                addr = %self.addr,
                "the development issuer is reachable from the network \
                 (dangerous_dev_mode_on_network): anyone who reaches it can mint tokens"
            );
        }
        let result =
            server::serve(self.listener, self.router, self.connection_limits, shutdown).await;
        refresh.abort();
        refused.abort();
        if let Some(watcher) = key_watcher {
            watcher.abort();
        }
        tracing::info!("stopped");
        result.map_err(StartupError::Serve)
    }
}

/// From the first key refresh on, until keys load: when the identity provider refuses the
/// configured authority (a tenant that does not exist, a tenant path in the instance), one ERROR
/// naming the settings key and carrying the provider's answer. The service keeps running
/// (readiness says the same; the background refresh keeps retrying), but this is no outage to wait
/// out. Checked once a second after the first refresh, so a refusal that follows an unreachable
/// identity provider is reported too.
async fn report_refused_configuration(validator: TokenValidator, azure_ad: Arc<AzureAdSettings>) {
    validator.first_refresh_done().await;
    loop {
        if let Some(refused) = validator.configuration_error() {
            let setting = azure_ad.refused_setting(&refused);
            tracing::error!(
                setting = %setting.key,
                status = refused.status().as_u16(),
                url = %refused.url(),
                error_description = refused.error_description().unwrap_or("-"),
                "{}: the identity provider refused the configured authority, a configuration error: {}; \
                 the service stays not ready (GET /readyz) until this is fixed",
                setting.key,
                setting.fix,
            );
            return;
        }
        if validator.is_ready() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// Development mode's rule for every request ([`dev_mode::check_local`]): refused ones get 403
/// [`ApiError::DevModeRemote`].
pub async fn local_requests_only(
    axum::extract::State(mode): axum::extract::State<Arc<ModeInfo>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match dev_mode::check_local(&request, mode.dangerous_on_network) {
        Ok(()) => next.run(request).await,
        Err(refused) => {
            axum::response::IntoResponse::into_response(ApiError::DevModeRemote(refused))
        }
    }
}

/// The answer to a tower layer's error (load shedding, timeout): the [`ApiError`] it maps to.
async fn layer_error(err: BoxError) -> ApiError {
    ApiError::from(err)
}

/// Builds the token validator (no network I/O yet: keys are fetched by its background refresh) for
/// the configured authority, or all of them (`azure_ad.authorities`); `instance` overrides the
/// primary authority's instance (development mode).
///
/// # Errors
/// [`SettingsError::Invalid`] naming the `azure_ad.*` key that entra-auth refused.
pub fn to_validator(
    azure_ad: &AzureAdSettings,
    identity: &Identity,
    instance: Option<&Url>,
) -> Result<TokenValidator, SettingsError> {
    let mut configs = azure_ad.to_auth_configs(identity, instance)?;
    if configs.len() == 1 {
        if let Some(config) = configs.pop() {
            return TokenValidator::new(config).map_err(config_error);
        }
    }
    TokenValidator::multi(configs).map_err(config_error)
}

/// THE router: all routes (protected ones by their handlers' `Authorized<P>`), `/metrics`, the development issuer under `/dev-issuer`
/// (without its control endpoints) when the state says development mode, where every request also passes
/// [`local_requests_only`] (loopback `Host`, no `X-Forwarded-*`), the JSON/HTML fallback, and the operational layers (outermost
/// first): Authorization marked sensitive, request id, client address (trusted proxies) and request
/// metrics ([`EdgeLayer`]), trace span with the request id and client address, request-id propagation,
/// then [`AnswerLayer`]: `RateLimit` headers, error-cause logging and problem+json for bare 413s and 405s
/// ([`error_log`](crate::middleware::error_log)), security headers ([`security`]); the pre-limit on
/// invalid tokens per client address ([`InvalidTokenLayer`]); load shedding beyond `max_in_flight` (503 `overloaded` +
/// `Retry-After`), request timeout (503 problem+json), body limit (413). The errors of the shedding and
/// timeout layers become [`ApiError`]s (`From<BoxError>`).
pub fn build_router(state: AppState, docs: Arc<ApiDocs>) -> Router {
    let limits = state.limits;
    let metrics = state.metrics.clone();
    let rate_limiter = state.rate_limiter.clone();
    let trusted_proxies = state.trusted_proxies.clone();
    let request_id_header = http::HeaderName::from_static("x-request-id");
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request<_>| {
            let request_id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            // The field values are only computed when the span is enabled.
            tracing::info_span!(
                "request",
                method = %request.method(),
                uri = %security::loggable_uri(request.uri()),
                request_id = %request_id,
                client_ip = %request
                    .extensions()
                    .get::<ClientInfo>()
                    .map_or_else(|| "-".to_owned(), ClientInfo::ip_for_log),
            )
        })
        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO));
    let mut routes = Router::new();
    let mode = state.mode.clone();
    if let Some(issuer) = &mode.dev_issuer {
        routes = routes.nest(
            DEV_ISSUER_PATH,
            issuer.router_without_control().with_state(()),
        );
    }
    let routes = routes
        .merge(routes::home::router())
        .merge(routes::health::router())
        .merge(routes::weather::router())
        .merge(routes::reports::router())
        .merge(routes::metrics::router())
        .merge(routes::docs::router(routes::docs::DocsState {
            docs,
            templates: state.templates.clone(),
        }))
        .fallback(routes::not_found)
        .layer(tower::util::MapRequestLayer::new(http_metrics::note_route))
        .with_state(state);
    let routes = if mode.is_development() {
        routes.layer(axum::middleware::from_fn_with_state(
            mode,
            local_requests_only,
        ))
    } else {
        routes
    };
    // The operational layers wrap the whole router as one service (`Router::layer` would wrap each route
    // separately, missing the answers the router makes itself, such as 405).
    Router::new().fallback_service(routes).layer(
        ServiceBuilder::new()
            .layer(SetSensitiveRequestHeadersLayer::new([AUTHORIZATION]))
            .layer(SetRequestIdLayer::new(
                request_id_header.clone(),
                MakeRequestId,
            ))
            .layer(EdgeLayer::new(trusted_proxies, metrics))
            .layer(trace)
            .layer(PropagateRequestIdLayer::new(request_id_header))
            .layer(AnswerLayer)
            .layer(InvalidTokenLayer::new(rate_limiter))
            .layer(HandleErrorLayer::new(layer_error))
            .layer(LoadShedLayer::new())
            .layer(GlobalConcurrencyLimitLayer::new(limits.max_in_flight))
            .layer(HandleErrorLayer::new(layer_error))
            .layer(tower::timeout::TimeoutLayer::new(limits.request_timeout))
            .layer(RequestBodyLimitLayer::new(limits.max_body_bytes)),
    )
}
