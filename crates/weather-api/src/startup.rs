//! Start-up: [`Application::build`] binds the listener, opens the store, builds the validator (and, in
//! development mode, the development issuer) and the router; [`Application::run_until_stopped`] serves until
//! the shutdown future resolves, letting in-flight requests finish.
//!
//! [`build_router`] is THE router (routes + operational layers), used by `serve` and by the tests.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::response::Response;
use axum::Router;
use entra_auth::TokenValidator;
use http::header::AUTHORIZATION;
use http::{Request, StatusCode};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use url::Url;

use crate::error::{log_error_causes, problem};
use crate::hardening;
use crate::metrics::{self, Metrics};
use crate::openapi::{ApiDocs, DocsSettings};
use crate::proxy::{self, ClientInfo};
use crate::routes;
use crate::server::{self, ConnectionLimits};
use crate::settings::{Identity, Settings, SettingsError};
use crate::state::{AppRoles, AppState, ModeInfo};
use crate::store::{self, StoreError};
use crate::templates::Templates;
use crate::upstream::{CachedWeather, Clock, OpenWeather, SystemClock};

/// The path under which development mode mounts the development issuer.
pub const DEV_ISSUER_PATH: &str = "/dev-issuer";

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
    /// The development issuer could not start (e.g. its key file in the data directory is unreadable).
    #[error("development issuer: cannot start")]
    DevIssuer(#[from] entra_dev::DevIssuerError),
    /// An embedded template does not compile (a bug).
    #[error("templates: {0}")]
    Templates(#[from] minijinja::Error),
    /// Serving failed.
    #[error("server error")]
    Serve(#[source] std::io::Error),
}

/// Operational limits applied by [`build_router`].
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Largest accepted request body (413 beyond).
    pub max_body_bytes: usize,
    /// Time limit of one request (503 beyond).
    pub request_timeout: Duration,
    /// Most requests in flight (503 `overloaded` with `Retry-After` beyond).
    pub max_in_flight: usize,
}

/// A built, bound, not yet serving application.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    router: Router,
    validator: TokenValidator,
    dev_issuer: Option<entra_dev::DevIssuer>,
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

        let (validator, dev_issuer) = match &settings.azure_ad.identity {
            Some(identity) => (settings.azure_ad.to_validator(identity, None)?, None),
            None => {
                let instance = dev_instance(addr);
                let config = entra_dev::DevIssuerConfig {
                    data_dir: overrides
                        .dev_data_dir
                        .clone()
                        .or_else(entra_dev::default_data_dir),
                    ..Default::default()
                };
                let identity = Identity {
                    tenant_id: config.tenant_id.clone(),
                    client_id: config.api_client_id.clone(),
                };
                let issuer = entra_dev::DevIssuer::new(config, instance.clone())?;
                let validator = settings.azure_ad.to_validator(&identity, Some(&instance))?;
                (validator, Some(issuer))
            }
        };

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
        // Swagger UI signs in as the development issuer's public client in development mode.
        let docs_client_id = match &dev_issuer {
            Some(_) => Some(entra_dev::defaults::DEV_PUBLIC_CLIENT_ID.to_owned()),
            None => settings.azure_ad.docs_client_id.clone(),
        };
        let docs = ApiDocs::new(&DocsSettings::new(
            validator.config(),
            docs_client_id,
            &roles,
        ));
        let state = AppState {
            store,
            weather: Arc::new(weather),
            validator: validator.clone(),
            roles: Arc::new(roles),
            templates: Arc::new(Templates::new()?),
            mode: Arc::new(ModeInfo {
                dev_issuer: dev_issuer.clone(),
            }),
            limits: HttpLimits {
                max_body_bytes: settings.max_body_bytes,
                request_timeout: settings.request_timeout,
                max_in_flight: settings.max_in_flight,
            },
            metrics,
            trusted_proxies: Arc::new(settings.trusted_proxies.clone()),
            metrics_allow: Arc::new(settings.metrics_allow.clone()),
            docs: Arc::new(docs),
        };
        let router = build_router(state);
        Ok(Self {
            listener,
            addr,
            router,
            validator,
            dev_issuer,
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
        self.dev_issuer.as_ref()
    }

    /// The development-mode banner (None in production mode): what mode this is and the exact commands
    /// to get a token and call each endpoint.
    pub fn banner(&self) -> Option<String> {
        self.dev_issuer
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
        // Development mode: pick up `entra-dev keys rotate` run in another terminal.
        let key_watcher = self
            .dev_issuer
            .as_ref()
            .map(|issuer| issuer.watch_key_file(Duration::from_secs(2)));
        match self.dev_issuer.as_ref() {
            Some(issuer) => tracing::warn!(
                addr = %self.addr,
                dev_issuer = %issuer.instance(),
                "listening in DEVELOPMENT MODE (built-in development issuer, not for production)"
            ),
            None => tracing::info!(addr = %self.addr, "listening"),
        }
        let result =
            server::serve(self.listener, self.router, self.connection_limits, shutdown).await;
        refresh.abort();
        if let Some(watcher) = key_watcher {
            watcher.abort();
        }
        tracing::info!("stopped");
        result.map_err(StartupError::Serve)
    }
}

/// The development issuer's instance URL on the bound address (a wildcard bind is reached on loopback).
fn dev_instance(addr: SocketAddr) -> Url {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let base = SocketAddr::new(ip, addr.port());
    Url::parse(&format!("http://{base}{DEV_ISSUER_PATH}/"))
        .expect("BUG: an http URL built from a socket address always parses")
}

/// The banner printed in development mode: the mode, and copy-paste commands to get tokens and call each
/// endpoint on the bound address.
pub fn dev_banner(addr: SocketAddr, issuer: &entra_dev::DevIssuer, has_api_key: bool) -> String {
    let config = issuer.config();
    let instance = issuer.instance();
    let base = format!("http://{}", dev_instance(addr).authority());
    let tenant = &config.tenant_id;
    let api = &config.api_client_id;
    let daemon = entra_dev::defaults::DEV_DAEMON_CLIENT_ID;
    let secret = entra_dev::defaults::DEV_DAEMON_CLIENT_SECRET;
    // The CLI's default instance is the service's default address; name it only when it differs.
    let instance_arg = if instance.as_str() == entra_dev::defaults::WEATHER_API_DEV_INSTANCE {
        String::new()
    } else {
        format!(" --instance {instance}")
    };
    let api_key_note = if has_api_key {
        ""
    } else {
        "    (no api_key configured: the weather call answers 502 asking you to set it;\n     \
         add \"api_key\" to settings.json or set WEATHER_API__API_KEY)\n"
    };
    let rule = "=".repeat(78);
    format!(
        "{rule}
 DEVELOPMENT MODE - NOT FOR PRODUCTION
 No azure_ad.tenant_id / azure_ad.client_id configured: tokens are issued by the
 built-in development issuer at {instance}
 and validated through the normal OpenID discovery path. Configure azure_ad in
 settings.json (see settings_template.json) to use Microsoft Entra ID.
{rule}

 1. Get a user token (alice) with the scope each call needs:
    READ=$(cargo run -q -p entra-dev -- token --scope weather.read{instance_arg})
    WRITE=$(cargo run -q -p entra-dev -- token --scope weather.write{instance_arg})

    or an app-only (daemon) token, roles Weather.Read.All + Weather.Write.All,
    with the client-credentials grant:
    APP=$(curl -s {instance}{tenant}/oauth2/v2.0/token \\
      -d grant_type=client_credentials -d client_id={daemon} \\
      -d client_secret={secret} -d scope=api://{api}/.default \\
      | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')

 2. Call each endpoint:
    curl -H \"Authorization: Bearer $READ\" '{base}/api/weather/portland?state=OR&country=US&units=imperial'
{api_key_note}    curl -H \"Authorization: Bearer $WRITE\" -H 'Content-Type: application/json' \\
      -d '{{\"description\": \"Sunny\", \"location\": {{\"city\": \"Portland\", \"state\": \"OR\"}}}}' \\
      {base}/api/reports
    curl -H \"Authorization: Bearer $READ\" {base}/api/reports
    curl -H \"Authorization: Bearer $APP\" {base}/api/reports
    curl {base}/healthz ; curl {base}/readyz
    Home page: {base}/
    Interactive API docs (Authorize signs in here): {base}/docs
{rule}
"
    )
}

/// Answers the request-timeout layer's error with problem+json 503.
async fn handle_timeout(err: tower::BoxError) -> Response {
    if err.is::<tower::timeout::error::Elapsed>() {
        problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "request_timeout",
            "The request took too long; try again later.",
        )
    } else {
        tracing::error!(error = %err, "unhandled middleware error");
        problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "An internal error occurred.",
        )
    }
}

/// THE router: all routes with their auth layers, `/metrics`, the development issuer under `/dev-issuer`
/// when the state says development mode, the JSON/HTML fallback, and the operational layers (outermost
/// first): Authorization marked sensitive, request id, client address (trusted proxies), request metrics,
/// trace span with the request id and client address,
/// request-id propagation, security headers ([`hardening`]), error-cause logging and problem+json for bare
/// 413s, load shedding beyond `max_in_flight` (503 `overloaded` + `Retry-After`), request timeout (503
/// problem+json), body limit (413).
pub fn build_router(state: AppState) -> Router {
    let limits = state.limits;
    let metrics = state.metrics.clone();
    let trusted_proxies = state.trusted_proxies.clone();
    let request_id_header = http::HeaderName::from_static("x-request-id");
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request<_>| {
            let request_id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            let client_ip = request
                .extensions()
                .get::<ClientInfo>()
                .map_or_else(|| "-".to_owned(), ClientInfo::ip_for_log);
            tracing::info_span!(
                "request",
                method = %request.method(),
                uri = %hardening::loggable_uri(request.uri()),
                request_id = %request_id,
                client_ip = %client_ip,
            )
        })
        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO));
    let mut routes = Router::new();
    if let Some(issuer) = &state.mode.dev_issuer {
        routes = routes.nest(DEV_ISSUER_PATH, issuer.router().with_state(()));
    }
    let routes = routes
        .merge(routes::home::router())
        .merge(routes::health::router())
        .merge(routes::weather::router(&state))
        .merge(routes::reports::router(&state))
        .merge(metrics::router())
        .merge(routes::docs::router())
        .fallback(routes::not_found)
        .layer(axum::middleware::from_fn(metrics::note_route))
        .with_state(state);
    // The operational layers wrap the whole router as one service (`Router::layer` would wrap each route
    // separately, missing the answers the router makes itself, such as 405).
    Router::new().fallback_service(routes).layer(
        ServiceBuilder::new()
            .layer(SetSensitiveRequestHeadersLayer::new([AUTHORIZATION]))
            .layer(SetRequestIdLayer::new(
                request_id_header.clone(),
                MakeRequestUuid,
            ))
            .layer(axum::middleware::from_fn_with_state(
                trusted_proxies,
                proxy::client_info,
            ))
            .layer(axum::middleware::from_fn_with_state(
                metrics,
                metrics::track_http,
            ))
            .layer(trace)
            .layer(PropagateRequestIdLayer::new(request_id_header))
            .layer(axum::middleware::from_fn(hardening::security_headers))
            .layer(axum::middleware::from_fn(log_error_causes))
            .layer(HandleErrorLayer::new(hardening::overloaded))
            .layer(LoadShedLayer::new())
            .layer(GlobalConcurrencyLimitLayer::new(limits.max_in_flight))
            .layer(HandleErrorLayer::new(handle_timeout))
            .layer(tower::timeout::TimeoutLayer::new(limits.request_timeout))
            .layer(RequestBodyLimitLayer::new(limits.max_body_bytes)),
    )
}
