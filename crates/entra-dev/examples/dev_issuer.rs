//! Runs a development issuer on 127.0.0.1:<random port>, mints a token directly, fetches one over HTTP with
//! the client credentials grant, and prints where everything is. DEVELOPMENT ONLY.
//!
//! ```text
//! cargo run -p entra-dev --example dev_issuer
//! ```

use entra_dev::defaults::{
    DEV_API_APP_ID_URI, DEV_DAEMON_CLIENT_ID, DEV_DAEMON_CLIENT_SECRET, DEV_TENANT_ID,
};
use entra_dev::{DevIssuer, DevIssuerConfig, Subject, TokenRequest};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let running = DevIssuer::spawn(DevIssuerConfig::default()).await?;
    let base = running.url().clone();
    println!("DEVELOPMENT ONLY issuer at {base}");
    println!("v2 metadata: {base}{DEV_TENANT_ID}/v2.0/.well-known/openid-configuration");

    // 1. Directly, as tests do.
    let user_token = running.issuer.mint(&TokenRequest {
        subject: Subject::User("bob".into()),
        scopes: vec!["weather.read".into()],
        ..TokenRequest::default()
    })?;
    println!("\nbob's delegated token:\n{user_token}");

    // 2. Over HTTP, as a daemon would.
    let response: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}{DEV_TENANT_ID}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_DAEMON_CLIENT_ID),
            ("client_secret", DEV_DAEMON_CLIENT_SECRET),
            ("scope", &format!("{DEV_API_APP_ID_URI}/.default")),
        ])
        .send()
        .await?
        .json()
        .await?;
    println!("\ndaemon's app-only token response:\n{response:#}");

    running.shutdown().await?;
    Ok(())
}
