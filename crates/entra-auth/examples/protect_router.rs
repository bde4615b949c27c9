//! Protects an axum router with entra-auth, offline: a development issuer (entra-dev) runs on
//! 127.0.0.1 in the same process and stands in for Microsoft Entra ID.
//!
//! ```text
//! cargo run -p entra-auth --example protect_router
//! ```
//!
//! It prints a token and curl commands; Ctrl-C stops it. Against real Entra ID, drop the
//! development issuer and the `.instance(...)` line, and use your tenant id and client id.

use std::error::Error;

use axum::routing::get;
use axum::{Json, Router};
use entra_auth::{AuthConfig, AuthLayer, Authenticated, Requirement, TokenValidator};
use entra_dev::defaults::{DEV_API_CLIENT_ID, DEV_TENANT_ID};
use entra_dev::{DevIssuer, DevIssuerConfig, TokenRequest};
use serde_json::{json, Value};

async fn forecast(Authenticated(claims): Authenticated) -> Json<Value> {
    Json(json!({
        "forecast": "sunny",
        "for": claims.preferred_username(),
        "oid": claims.oid(),
        "app_only": claims.is_app_only(),
    }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // Stand-in identity provider (development only).
    let dev = DevIssuer::spawn(DevIssuerConfig::default()).await?;

    // 1. configure, 2. build the validator, 3. protect the routes.
    let config = AuthConfig::builder(DEV_TENANT_ID, DEV_API_CLIENT_ID)
        .instance(dev.issuer.instance().as_str())
        .build()?;
    let validator = TokenValidator::new(config)?;
    let app = Router::new()
        .route("/forecast", get(forecast))
        .layer(
            AuthLayer::new(validator.clone())
                .require(Requirement::scopes(["weather.read"]).or_roles(["Weather.Read.All"])),
        )
        .route("/health", get(|| async { "ok" }));

    // Load the keys before serving; keep them fresh in the background.
    validator.warm_up().await?;
    let refresh = validator.spawn_background_refresh();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let token = dev.issuer.mint(&TokenRequest {
        scopes: vec!["weather.read".into()],
        ..TokenRequest::default()
    })?;
    println!("listening on http://{addr}");
    println!("curl -i http://{addr}/forecast");
    println!("curl -i -H 'Authorization: Bearer {token}' http://{addr}/forecast");

    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    refresh.abort();
    Ok(())
}
