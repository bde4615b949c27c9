//! `entra-sidecar`: Microsoft's auth sidecar HTTP contract ("Microsoft Entra SDK for AgentID")
//! on entra-auth (inbound validation) and entra-token (downstream tokens), so an application in
//! any language validates its callers' tokens and calls downstream APIs over loopback HTTP.
//!
//! Configured exactly like Microsoft's container (`appsettings.json`, environment variables with
//! `__`, the command line, `ASPNETCORE_URLS` / `ASPNETCORE_HTTP_PORTS`,
//! `ASPNETCORE_ENVIRONMENT`), answering the routes, statuses and bodies its clients rely on; and
//! beyond it: a token cache shared across replicas in Redis (encrypted), an optional caller
//! secret, a readiness route that means something, Prometheus metrics.
//!
//! Modules, leaves first: [`config`] (ASP.NET's configuration model), [`settings`] (typed keys),
//! [`overrides`] (the `optionsOverride.*` query), [`problem`] (every failure's answer),
//! [`metrics`], [`acquire`] (entra-token), [`app`] (routes and edges), then this file's
//! start-up and serving.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod acquire;
pub mod app;
pub mod config;
pub mod metrics;
pub mod overrides;
pub mod problem;
pub mod settings;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use entra_auth::{AuthConfig, TokenValidator};
use entra_core::ExposeSecret as _;
use entra_token::cache::SharedCache;
use entra_token::cache::{EncryptionKey, RedisCache, RedisCacheConfig};
use tokio::net::TcpListener;
use tower::ServiceExt as _;

pub use settings::{Listen, Settings};

/// A sidecar bound to its addresses, ready to serve.
pub struct Sidecar {
    state: app::AppState,
    tcp: Vec<TcpListener>,
    unix: Vec<(std::path::PathBuf, tokio::net::UnixListener)>,
    refresh: tokio::task::JoinHandle<()>,
}

impl Sidecar {
    /// Builds the validator and the token clients of `settings` and binds its addresses.
    /// Signing keys are fetched in the background: the sidecar listens at once and answers 503
    /// on protected routes (and `/readyz`) until they arrive.
    ///
    /// # Errors
    /// Invalid identity settings, an unusable credential, or an address that cannot be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let ad = &settings.azure_ad;
        let mut builder = AuthConfig::builder(&ad.tenant_id, &ad.client_id)
            .instance(&ad.instance)
            .audiences(ad.audiences.iter().map(String::as_str));
        if let Some(policy) = &ad.b2c_policy {
            builder = builder.b2c(&ad.tenant_id, policy);
        }
        if !ad.allowed_tenants.is_empty() {
            builder = builder.allowed_tenants(ad.allowed_tenants.iter().map(String::as_str));
        }
        if ad.dangerous_accept_any_tenant {
            tracing::warn!(
                "AzureAd:DangerousAcceptAnyTenant: tokens of every Entra tenant are accepted"
            );
            builder = builder.dangerous_accept_any_tenant();
        }
        let auth = builder.build().context("AzureAd")?;
        let validator = TokenValidator::new(auth).context("AzureAd")?;
        let refresh = validator.spawn_background_refresh();
        let shared: Option<Arc<dyn SharedCache>> = match &settings.redis {
            None => None,
            Some(redis) => {
                let key = EncryptionKey::from_base64(redis.key.expose_secret())
                    .context("TokenCache:Redis:EncryptionKey")?;
                let cache = RedisCache::new(
                    RedisCacheConfig::new(redis.url.expose_secret(), key)
                        .prefix(redis.prefix.clone()),
                )
                .context("TokenCache:Redis:ConnectionString")?;
                tracing::info!(prefix = %redis.prefix, "downstream tokens shared in Redis (encrypted)");
                Some(Arc::new(cache))
            }
        };
        let tokens = acquire::Tokens::new(ad, shared)?;
        if tokens.is_none() {
            tracing::warn!(
                "no client credential (AzureAd:ClientCredentials): only /Validate works"
            );
        }
        let state = app::AppState::new(&settings, validator, tokens)?;
        let mut tcp = Vec::new();
        let mut unix = Vec::new();
        for listen in &settings.listen {
            match listen {
                Listen::Tcp(addr) => tcp.push(
                    TcpListener::bind(addr)
                        .await
                        .with_context(|| format!("cannot listen on {addr}"))?,
                ),
                Listen::Unix(path) => {
                    let _ = std::fs::remove_file(path);
                    let listener = tokio::net::UnixListener::bind(path)
                        .with_context(|| format!("cannot listen on unix:{}", path.display()))?;
                    set_mode(path, 0o660)?;
                    unix.push((path.clone(), listener));
                }
            }
        }
        Ok(Self {
            state,
            tcp,
            unix,
            refresh,
        })
    }

    /// The TCP addresses bound (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.tcp
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    ///
    /// # Errors
    /// An accept loop that failed.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
        let router = app::router(self.state.clone());
        let mut tasks = tokio::task::JoinSet::new();
        for listener in self.tcp {
            let router = router.clone();
            let mut stop = tx.subscribe();
            let service = tower::service_fn(move |request: http::Request<axum::body::Body>| {
                router.clone().oneshot(app::normalize_path(request))
            });
            let make = axum::ServiceExt::<http::Request<axum::body::Body>>::into_make_service_with_connect_info::<std::net::SocketAddr>(service);
            tasks.spawn(async move {
                axum::serve(listener, make)
                    .with_graceful_shutdown(async move {
                        let _ = stop.recv().await;
                    })
                    .await
            });
        }
        for (path, listener) in self.unix {
            let router = router.clone();
            let mut stop = tx.subscribe();
            let service = tower::service_fn(move |request: http::Request<axum::body::Body>| {
                router.clone().oneshot(app::normalize_path(request))
            });
            let make =
                axum::ServiceExt::<http::Request<axum::body::Body>>::into_make_service(service);
            tasks.spawn(async move {
                let result = axum::serve(listener, make)
                    .with_graceful_shutdown(async move {
                        let _ = stop.recv().await;
                    })
                    .await;
                let _ = std::fs::remove_file(&path);
                result
            });
        }
        let stopper = tx.clone();
        tasks.spawn(async move {
            shutdown.await;
            let _ = stopper.send(());
            Ok(())
        });
        let mut outcome = Ok(());
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    outcome = Err(anyhow::Error::from(e).context("serving"));
                    let _ = tx.send(());
                }
                Err(e) => {
                    outcome = Err(anyhow::Error::from(e).context("serving"));
                    let _ = tx.send(());
                }
            }
            if tx.receiver_count() == 0 {
                break;
            }
        }
        self.refresh.abort();
        outcome
    }

    /// The state (for tests and embedding).
    pub fn state(&self) -> &app::AppState {
        &self.state
    }
}

#[cfg(unix)]
fn set_mode(path: &std::path::Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Installs the log subscriber: `Logging:LogLevel:Default` (ASP.NET's level names), JSON lines
/// when `Logging:Console:FormatterName` is `json`. `RUST_LOG` overrides the level.
pub fn init_logging(settings: &Settings) {
    let level = match settings.log_level.to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "warning" => "warn",
        "error" | "critical" => "error",
        "none" => "off",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false);
    if settings.json_logs {
        builder.json().init();
    } else {
        builder.init();
    }
}
