//! The Talk Python "Modern APIs with FastAPI" weather service, ported to Rust (axum) and secured with
//! [`entra_auth`]: current weather from OpenWeatherMap (cached), weather reports persisted in SQLite or
//! PostgreSQL, an HTML home page, and a development mode that runs on the built-in [`entra_dev`] issuer.
//!
//! Layout (the crate README has the map): [`settings`] (load once), [`telemetry`], [`startup`]
//! (`Application`, `build_router`), [`state`] (`AppState`, `HttpLimits`), [`dev_mode`] (everything about
//! development mode), [`auth`] (the permissions), [`error`] (the one status and problem-code mapping, the
//! Problem schema), [`middleware`] (client address, security headers, HTTP metrics, error logging, rate limits),
//! [`domain`], [`routes`] (one module per resource, `/metrics` and the docs included), [`store`],
//! [`upstream`], [`templates`], [`metrics`] (the counters), [`openapi`] (finishes the document: security
//! schemes, Swagger UI configuration), [`server`] (the HTTP/1.1 loop: header-read timeout, header size
//! cap, graceful shutdown), [`cli`] and [`check_token`] (the command line; `check-token` explains a
//! token against these settings).

pub mod auth;
/// The repository README's Rust snippet (using entra-auth in your own axum API), compiled as a
/// doctest here, in the application that builds on it.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct RepositoryReadmeDoctests;

pub mod check_token;
pub mod cli;
pub mod dev_mode;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod page_cache;
pub mod routes;
pub mod server;
pub mod settings;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod templates;
pub mod upstream;

pub use settings::Settings;
pub use startup::{build_router, Application};

/// Resolves on Ctrl-C or SIGTERM (the graceful-shutdown trigger of `main`).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
