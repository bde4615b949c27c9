//! A public client signing a user in with a device code against the local development issuer
//! (started in-process), then getting the token silently from the file cache. The example plays
//! the user too: it enters the code on the issuer's verification page as alice.
//!
//! `cargo run -p entra-token --example device_code`

use std::time::Duration;

use entra_dev::testing::{Answer, Browser};
use entra_dev::{defaults, DevIssuer, DevIssuerConfig};
use entra_token::{Authority, FileCache, Interaction, PublicClient, PublicConfig, Scopes};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dev = DevIssuer::spawn(DevIssuerConfig {
        device_poll_interval: Duration::from_secs(1),
        ..DevIssuerConfig::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let authority =
        Authority::public(defaults::DEV_TENANT_ID)?.with_instance(dev.url().as_str())?;
    let cache = FileCache::new(dir.path().join("tokens.json"));
    let config = PublicConfig::builder(authority, defaults::DEV_PUBLIC_CLIENT_ID, cache).build()?;
    let client = PublicClient::new(config)?;
    let scopes = Scopes::parse(&format!("{}/weather.read", defaults::DEV_API_APP_ID_URI));

    let (tx, rx) = tokio::sync::watch::channel(String::new());
    let show = move |p: &entra_token::DeviceCodePrompt| {
        println!(
            "To sign in, open {} and enter the code {}",
            p.verification_uri, p.user_code
        );
        let _ = tx.send(p.user_code.clone());
    };
    let user = play_the_user(dev.url(), rx);
    let (signed_in, played) = tokio::join!(
        client.acquire(&scopes, Interaction::DeviceCode { show_prompt: &show }),
        user
    );
    played?;
    let signed_in = signed_in?;
    println!(
        "signed in as {} ({:?})",
        signed_in.account.display_name(),
        signed_in.source
    );
    let again = client
        .acquire(
            &scopes,
            Interaction::DeviceCode {
                show_prompt: &|_| {},
            },
        )
        .await?;
    println!(
        "second call: {:?}, no prompt (the token itself is never printed)",
        again.source
    );
    dev.shutdown().await?;
    Ok(())
}

/// Enters the code shown on the verification page and signs in as alice.
async fn play_the_user(
    issuer: &url::Url,
    mut code: tokio::sync::watch::Receiver<String>,
) -> Result<(), Box<dyn std::error::Error>> {
    code.changed().await?;
    let user_code = code.borrow().clone();
    Browser::new()?
        .approve_device_code(
            issuer,
            &user_code,
            Answer::accept(defaults::ALICE_USERNAME, &[defaults::SCOPE_READ]),
        )
        .await?;
    Ok(())
}
