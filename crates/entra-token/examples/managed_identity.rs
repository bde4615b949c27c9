//! A managed identity against the local development issuer (started in-process), which emulates a
//! VM's instance metadata service: the credential picks its source from the variables it is given,
//! gets the identity's token, serves it again from its cache, and then is the daemon's federated
//! credential (no secret). Prints what it measured.
//!
//! `cargo run -p entra-token --example managed_identity`

use std::time::Instant;

use entra_dev::{defaults, DevIssuer, DevIssuerConfig};
use entra_token::managed_identity::TOKEN_EXCHANGE_AUDIENCE;
use entra_token::{
    Authority, ClientCredential, ConfidentialClient, ConfidentialConfig, ManagedIdentityCredential,
    ManagedIdentityId, ManagedIdentityOptions, Scopes,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dev = DevIssuer::spawn(DevIssuerConfig::default()).await?;
    // What a VM's environment would say, here pointing at the development issuer.
    let vars = [(
        "AZURE_POD_IDENTITY_AUTHORITY_HOST".to_owned(),
        dev.url().to_string(),
    )];
    let mi = ManagedIdentityCredential::from_env_vars(
        vars,
        ManagedIdentityId::SystemAssigned,
        ManagedIdentityOptions::default(),
    )?;
    println!("source: {}", mi.source());

    let started = Instant::now();
    mi.acquire(TOKEN_EXCHANGE_AUDIENCE).await?;
    let cold = started.elapsed();
    let n = 10_000u32;
    let started = Instant::now();
    for _ in 0..n {
        mi.acquire(TOKEN_EXCHANGE_AUDIENCE).await?;
    }
    let per_hit = started.elapsed() / n;
    println!(
        "first token (endpoint): {cold:?}; {n} more from the cache: {per_hit:?} each; requests sent: {}",
        mi.requests_sent()
    );

    let authority =
        Authority::tenant(defaults::DEV_TENANT_ID)?.with_instance(dev.url().as_str())?;
    let config = ConfidentialConfig::builder(
        authority,
        defaults::DEV_DAEMON_CLIENT_ID,
        ClientCredential::managed_identity(mi.clone()),
    )
    .build()?;
    let client = ConfidentialClient::new(config)?;
    let scopes = Scopes::app_default(defaults::DEV_API_APP_ID_URI);
    let started = Instant::now();
    client.acquire_for_app(&scopes).await?;
    println!(
        "daemon token with the managed identity as its credential: {:?} (managed identity requests \
         still {}: its token was cached)",
        started.elapsed(),
        mi.requests_sent()
    );
    println!("issuer: {:?}", dev.issuer.stats());
    dev.shutdown().await?;
    Ok(())
}
