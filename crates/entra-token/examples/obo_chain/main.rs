//! API A calls API B on behalf of its caller, with a local development issuer (entra-dev) standing
//! in for Microsoft Entra ID. Both APIs are protected by entra-auth, each with its own audience; A
//! exchanges the caller's token with entra-token's on-behalf-of grant and calls B through
//! `DownstreamApi` (see `apps.rs`).
//!
//! ```text
//! cargo run -p entra-token --example obo_chain                 # an issuer in-process
//! entra-dev serve &                                            # or a running one (it shares its
//! cargo run -p entra-token --example obo_chain -- --issuer http://127.0.0.1:8400/   #  key file)
//! cargo run -p entra-token --example obo_chain -- --serve      # then keep A and B up for curl
//! ```
//!
//! It walks through: alice's `oid` arriving at B; the second call served from A's token cache (the
//! issuer's `/stats` counts no new token request); the issuer's MFA switch turned into A's 401
//! `insufficient_claims` challenge, and the stepped-up token that passes; the consent switch
//! turned into A's 403 `consent_required`. Only the issuer's HTTP endpoints are used, except for
//! minting the callers' tokens (a stand-in for their sign-in), which uses the issuer's key file as
//! `entra-dev token` does. Tokens are never printed, except for the `--serve` curl lines.

mod apps;

use entra_dev::{defaults, DevIssuer, DevIssuerConfig, Subject, TokenRequest};
use entra_token::{ClientCredential, ConfidentialClient};
use serde_json::{json, Value};

use apps::{BoxError, Chain};

struct Args {
    issuer: Option<String>,
    serve: bool,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        issuer: None,
        serve: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--issuer" => out.issuer = Some(it.next().ok_or("--issuer needs a URL")?),
            "--serve" => out.serve = true,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: obo_chain [--issuer URL] [--serve]"
                ))
            }
        }
    }
    Ok(out)
}

/// Mints a caller's token for API A (scope weather.read), optionally with extra claims.
fn user_token(minter: &DevIssuer, user: &str, extra: Value) -> Result<String, BoxError> {
    let extra_claims = match extra {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    Ok(minter.mint(&TokenRequest {
        subject: Subject::User(user.to_owned()),
        scopes: vec![defaults::SCOPE_READ.to_owned()],
        extra_claims,
        ..TokenRequest::default()
    })?)
}

async fn get(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> Result<(u16, String, Value), BoxError> {
    let res = http.get(url).bearer_auth(token).send().await?;
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = res.json().await.unwrap_or(Value::Null);
    Ok((status, challenge, body))
}

async fn on_behalf_of_requests(http: &reqwest::Client, issuer: &str) -> Result<u64, BoxError> {
    let stats: Value = http
        .get(format!("{issuer}stats"))
        .send()
        .await?
        .json()
        .await?;
    Ok(stats["on_behalf_of_requests"].as_u64().unwrap_or(0))
}

async fn switches(http: &reqwest::Client, issuer: &str, doc: Value) -> Result<(), BoxError> {
    let res = http
        .put(format!("{issuer}control/switches"))
        .json(&doc)
        .send()
        .await?;
    if !res.status().is_success() {
        return Err(format!("the issuer refused the switches: {}", res.text().await?).into());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn,entra_token=info".to_owned()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = args()?;

    // The issuer: in-process, or a running `entra-dev serve` whose key file we share for minting.
    let (_running, issuer, minter) = match &args.issuer {
        None => {
            let running = DevIssuer::spawn(DevIssuerConfig::default()).await?;
            let url = running.url().to_string();
            let minter = running.issuer.clone();
            (Some(running), url, minter)
        }
        Some(url) => {
            let url = if url.ends_with('/') {
                url.clone()
            } else {
                format!("{url}/")
            };
            let config = DevIssuerConfig {
                data_dir: entra_dev::default_data_dir(),
                ..DevIssuerConfig::default()
            };
            let minter = DevIssuer::new(config, url.parse()?)?;
            (None, url, minter)
        }
    };

    // API A's client: the development API's own credential (a secret here; see the tests for a
    // certificate and a federated credential).
    let client = ConfidentialClient::new(
        apps::api_a_config(
            &issuer,
            ClientCredential::secret(defaults::DEV_API_CLIENT_SECRET),
        )?
        .build()?,
    )?;
    let chain = Chain::start(&issuer, client.clone()).await?;
    let http = reqwest::Client::new();
    let read = format!("{}call/read", chain.a.url);
    println!(
        "issuer {issuer}\nAPI A  {} (aud {})\nAPI B  {} (aud {})\n",
        chain.a.url,
        defaults::DEV_API_CLIENT_ID,
        chain.b.url,
        defaults::DEV_DOWNSTREAM_API_CLIENT_ID
    );

    // 1. alice calls A; A calls B on her behalf.
    let alice = user_token(&minter, defaults::ALICE_USERNAME, Value::Null)?;
    let before = on_behalf_of_requests(&http, &issuer).await?;
    let (status, _, body) = get(&http, &read, &alice).await?;
    println!("1. GET /call/read as alice -> {status}");
    if status != 200 {
        return Err(format!("API A answered {status}: {body}").into());
    }
    println!("   caller oid at A: {}", body["caller"]["oid"]);
    println!(
        "   user oid at B:   {} (tid {}, called by {})",
        body["downstream"]["oid"], body["downstream"]["tid"], body["downstream"]["azp"]
    );

    // 2. the same call again: A's cache answers.
    let (status, _, _) = get(&http, &read, &alice).await?;
    let after = on_behalf_of_requests(&http, &issuer).await?;
    println!(
        "2. again -> {status}; on-behalf-of requests at the issuer: {} (A's cache: {:?})",
        after - before,
        client.stats()
    );

    // 3. B demands MFA: the issuer answers interaction_required, A answers 401 with the challenge.
    switches(
        &http,
        &issuer,
        json!({ "mfa_required": [{ "api": defaults::DEV_DOWNSTREAM_API_APP_ID_URI }] }),
    )
    .await?;
    let bob = user_token(&minter, defaults::BOB_USERNAME, Value::Null)?;
    let (status, challenge, body) = get(&http, &read, &bob).await?;
    println!(
        "3. MFA switch on, GET /call/read as bob -> {status} {}\n   WWW-Authenticate: {challenge}",
        body["code"]
    );
    let stepped_up = user_token(
        &minter,
        defaults::BOB_USERNAME,
        json!({ "acrs": [apps::AUTH_CONTEXT] }),
    )?;
    let (status, _, body) = get(&http, &read, &stepped_up).await?;
    println!(
        "   signed in again with the claims (acrs c1) -> {status}, oid at B {}",
        body["downstream"]["oid"]
    );

    // 4. nobody consented to A calling B.
    switches(
        &http,
        &issuer,
        json!({ "consent_required": [defaults::DEV_DOWNSTREAM_API_APP_ID_URI] }),
    )
    .await?;
    let carol = user_token(&minter, "carol", Value::Null)?;
    let (status, _, body) = get(&http, &read, &carol).await?;
    println!(
        "4. consent switch on, GET /call/read as carol -> {status} {}\n   {}",
        body["code"], body["detail"]
    );
    switches(&http, &issuer, json!({})).await?;

    if args.serve {
        println!("\nA and B keep running (Ctrl-C stops them):");
        println!(
            "curl -i -H 'Authorization: Bearer {alice}' {}call/read",
            chain.a.url
        );
        println!(
            "curl -i -H 'Authorization: Bearer {alice}' {}call/write",
            chain.a.url
        );
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}
