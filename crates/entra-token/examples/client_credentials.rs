//! Client credentials against the local development issuer (started in-process): the daemon
//! client asks for a token for the development API, twice; the second comes from the cache.
//!
//! `cargo run -p entra-token --example client_credentials`

use entra_dev::{defaults, DevIssuer, DevIssuerConfig};
use entra_token::{Authority, ClientCredential, ConfidentialClient, ConfidentialConfig, Scopes};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dev = DevIssuer::spawn(DevIssuerConfig::default()).await?;
    let authority =
        Authority::tenant(defaults::DEV_TENANT_ID)?.with_instance(dev.url().as_str())?;
    let config = ConfidentialConfig::builder(
        authority,
        defaults::DEV_DAEMON_CLIENT_ID,
        ClientCredential::secret(defaults::DEV_DAEMON_CLIENT_SECRET),
    )
    .build()?;
    let client = ConfidentialClient::new(config)?;
    let scopes = Scopes::app_default(defaults::DEV_API_APP_ID_URI);

    let token = client.acquire_for_app(&scopes).await?;
    let again = client.acquire_for_app(&scopes).await?;
    let left = token
        .expires_at()
        .duration_since(std::time::SystemTime::now())?
        .as_secs();
    println!("token for {scopes}: expires in {left} s (the token itself is never printed)");
    println!(
        "same token the second time: {}",
        token.secret() == again.secret()
    );
    println!("{:?}", client.stats());
    dev.shutdown().await?;
    Ok(())
}
