//! The public client against the development issuer over real HTTP: the browser sign-in
//! (authorization code + PKCE, the test playing the browser), the device code flow, silent
//! refresh with rotation, revocation, and two clients refreshing one file at once.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use entra_auth::ManualClock;
use entra_dev::defaults::{
    ALICE_EMAIL, ALICE_OID, BOB_OID, DEV_API_APP_ID_URI, DEV_PUBLIC_CLIENT_ID, DEV_TENANT_ID,
};
use entra_dev::testing::{Answer, Browser};
use entra_dev::{DevIssuer, DevIssuerConfig, RunningDevIssuer};
use entra_token::{
    AadstsKind, AuthResult, Authority, FileCache, PublicClient, PublicConfig, Scopes, SignInReason,
    TokenError, TokenSource,
};
use serde_json::Value;

fn scopes() -> Scopes {
    Scopes::parse(&format!(
        "{DEV_API_APP_ID_URI}/weather.read {DEV_API_APP_ID_URI}/weather.write"
    ))
}

async fn dev() -> RunningDevIssuer {
    DevIssuer::spawn(DevIssuerConfig {
        device_poll_interval: Duration::from_secs(1),
        ..DevIssuerConfig::default()
    })
    .await
    .unwrap()
}

fn client(dev: &RunningDevIssuer, file: &Path, clock: &ManualClock) -> PublicClient {
    let authority = Authority::public(DEV_TENANT_ID)
        .unwrap()
        .with_instance(dev.url().as_str())
        .unwrap();
    let config = PublicConfig::builder(authority, DEV_PUBLIC_CLIENT_ID, FileCache::new(file))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    PublicClient::new(config).unwrap()
}

/// A development issuer, a cache file in a temporary directory, a manual clock and a client.
struct Setup {
    dev: RunningDevIssuer,
    _dir: tempfile::TempDir,
    file: std::path::PathBuf,
    clock: ManualClock,
    client: PublicClient,
}

async fn setup() -> Setup {
    let dev = dev().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app/tokens.json");
    let clock = ManualClock::starting_now();
    let client = client(&dev, &file, &clock);
    Setup {
        dev,
        _dir: dir,
        file,
        clock,
        client,
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Enters `user_code` on the verification page and signs in as `user` (or cancels).
async fn approve(dev: &RunningDevIssuer, user_code: &str, user: Option<&str>) {
    let answer = match user {
        Some(u) => Answer::accept(u, &["weather.read", "weather.write"]),
        None => Answer::Cancel,
    };
    Browser::new()
        .unwrap()
        .approve_device_code(dev.url(), user_code, answer)
        .await
        .unwrap();
}

/// The device code flow, the test entering the code shown as `user`.
async fn device_sign_in(
    client: &PublicClient,
    dev: &RunningDevIssuer,
    user: Option<&str>,
) -> Result<AuthResult, TokenError> {
    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    let tx = std::sync::Mutex::new(Some(tx));
    let show = move |p: &entra_token::DeviceCodePrompt| {
        assert!(p.verification_uri.as_str().ends_with("/devicelogin"));
        if let Some(tx) = tx.lock().unwrap().take() {
            let _ = tx.send(p.user_code.clone());
        }
    };
    let scopes = scopes();
    let flow = client.acquire_by_device_code(&scopes, &show);
    let approve_after_prompt = async {
        let code = rx.await.unwrap();
        approve(dev, &code, user).await;
    };
    let (result, ()) = tokio::join!(flow, approve_after_prompt);
    result
}

fn file_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).expect("the cache file parses")
}

fn refresh_token_in(path: &Path) -> String {
    file_json(path)["accounts"][0]["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn device_code_sign_in_is_cached_then_refreshed_with_a_rotated_refresh_token() {
    let Setup {
        dev,
        _dir,
        file,
        clock,
        client,
    } = setup().await;

    let signed_in = device_sign_in(&client, &dev, Some("alice")).await.unwrap();
    assert_eq!(signed_in.source, TokenSource::DeviceCode);
    assert_eq!(signed_in.account.oid, ALICE_OID);
    assert_eq!(signed_in.account.tenant_id, DEV_TENANT_ID);
    assert_eq!(signed_in.account.username, ALICE_EMAIL);
    let first_refresh = refresh_token_in(&file);
    assert!(first_refresh.len() >= 40);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let requests = dev.issuer.stats().token_requests;

    let cached = client.acquire_silent(None, &scopes()).await.unwrap();
    assert_eq!(cached.source, TokenSource::Cache);
    assert_eq!(
        cached.access_token.secret(),
        signed_in.access_token.secret()
    );
    assert_eq!(dev.issuer.stats().token_requests, requests, "no request");

    clock.advance(Duration::from_secs(2 * 3600));
    let refreshed = client.acquire_silent(None, &scopes()).await.unwrap();
    assert_eq!(refreshed.source, TokenSource::RefreshToken);
    assert_ne!(
        refreshed.access_token.secret(),
        signed_in.access_token.secret()
    );
    assert_eq!(dev.issuer.stats().refresh_token_requests, 1);
    let second_refresh = refresh_token_in(&file);
    assert_ne!(second_refresh, first_refresh, "rotated");
    // The replaced refresh token is refused by the issuer: the cache kept the right one.
    let old = http()
        .post(format!("{}{DEV_TENANT_ID}/oauth2/v2.0/token", dev.url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", DEV_PUBLIC_CLIENT_ID),
            ("refresh_token", first_refresh.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 400);
    let body: Value = old.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_codes"][0], 70000);
    // No token of any kind appears in Debug.
    let debug = format!("{refreshed:?} {client:?}");
    assert!(!debug.contains(refreshed.access_token.secret()));
    assert!(!debug.contains(&second_refresh));
}

#[tokio::test]
async fn revoked_refresh_token_is_sign_in_required_and_the_account_keeps_no_token() {
    let Setup {
        dev,
        _dir,
        file,
        clock,
        client,
    } = setup().await;
    device_sign_in(&client, &dev, Some("alice")).await.unwrap();
    assert_eq!(dev.issuer.revoke_refresh_tokens("alice"), 1);
    clock.advance(Duration::from_secs(2 * 3600));

    let e = client.acquire_silent(None, &scopes()).await.unwrap_err();
    let TokenError::SignInRequired {
        reason: SignInReason::RefreshTokenRefused,
        refusal: Some(refusal),
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(refusal.error, "invalid_grant");
    assert_eq!(refusal.primary_code(), 50173);
    assert_eq!(refusal.kind, AadstsKind::SignInNoLongerValid);
    assert!(e.to_string().ends_with(": sign in again"), "{e}");
    let json = file_json(&file);
    assert!(json["accounts"][0].get("refresh_token").is_none(), "{json}");
    assert_eq!(json["accounts"][0]["access_tokens"], Value::Array(vec![]));

    let again = client.acquire_silent(None, &scopes()).await.unwrap_err();
    assert!(matches!(
        again,
        TokenError::SignInRequired {
            reason: SignInReason::NoRefreshToken,
            ..
        }
    ));
}

#[tokio::test]
async fn two_clients_refreshing_one_file_at_once_spend_the_refresh_token_once() {
    let Setup {
        dev,
        _dir,
        file,
        clock,
        client: first,
    } = setup().await;
    device_sign_in(&first, &dev, Some("bob")).await.unwrap();
    clock.advance(Duration::from_secs(2 * 3600));
    // Another process's client: its own instance over the same file.
    let second = client(&dev, &file, &clock);
    let scopes = scopes();
    let (a, b) = tokio::join!(
        first.acquire_silent(None, &scopes),
        second.acquire_silent(None, &scopes)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.access_token.secret(), b.access_token.secret());
    let mut sources = [a.source, b.source];
    sources.sort_by_key(|s| *s == TokenSource::Cache);
    assert_eq!(sources, [TokenSource::RefreshToken, TokenSource::Cache]);
    assert_eq!(dev.issuer.stats().refresh_token_requests, 1);
    let json = file_json(&file);
    assert_eq!(json["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(json["accounts"][0]["oid"], BOB_OID);
}

#[tokio::test]
async fn device_code_declined_on_the_page_is_sign_in_declined_and_caches_nothing() {
    let Setup {
        dev,
        _dir,
        file,
        client,
        ..
    } = setup().await;
    let e = device_sign_in(&client, &dev, None).await.unwrap_err();
    assert!(
        matches!(&e, TokenError::SignInDeclined { error, .. } if error == "authorization_declined"),
        "{e:?}"
    );
    assert!(!file.exists());
}

#[tokio::test]
async fn browser_sign_in_redeems_the_code_with_pkce_and_two_accounts_can_be_switched() {
    let Setup {
        dev,
        _dir,
        file,
        client,
        ..
    } = setup().await;
    let alice = browser_sign_in(&client, "alice").await;
    assert_eq!(alice.source, TokenSource::Interactive);
    assert_eq!(alice.account.oid, ALICE_OID);
    assert!(alice
        .granted_scopes
        .as_deref()
        .unwrap()
        .contains("weather.write"));
    let bob = browser_sign_in(&client, "bob").await;
    assert_eq!(bob.account.oid, BOB_OID);

    let cache = FileCache::new(&file);
    let accounts = cache.accounts().await.unwrap();
    assert_eq!(accounts.len(), 2);
    assert_eq!(cache.active_account().await.unwrap().unwrap().oid, BOB_OID);
    let silent = client.acquire_silent(None, &scopes()).await.unwrap();
    assert_eq!(silent.account.oid, BOB_OID);
    cache.set_active(&alice.account.id).await.unwrap();
    let silent = client.acquire_silent(None, &scopes()).await.unwrap();
    assert_eq!(silent.account.oid, ALICE_OID);
    assert_eq!(silent.source, TokenSource::Cache);
    assert_eq!(dev.issuer.stats().authorization_code_requests, 2);
}

#[tokio::test]
async fn silent_without_any_sign_in_is_sign_in_required_without_a_request() {
    let Setup {
        dev, _dir, client, ..
    } = setup().await;
    let e = client.acquire_silent(None, &scopes()).await.unwrap_err();
    assert_eq!(e.to_string(), "no signed-in account: sign in again");
    assert_eq!(dev.issuer.stats().token_requests, 0);
}

/// The browser sign-in, the test playing the browser on the issuer's login page.
async fn browser_sign_in(client: &PublicClient, user: &str) -> AuthResult {
    let (tx, rx) = tokio::sync::oneshot::channel::<url::Url>();
    let tx = std::sync::Mutex::new(Some(tx));
    let show = move |u: &url::Url| {
        if let Some(tx) = tx.lock().unwrap().take() {
            let _ = tx.send(u.clone());
        }
    };
    let scopes = scopes();
    let flow = client.acquire_interactive(&scopes, "the test", Duration::from_secs(30), &show);
    let browser = async {
        let url = rx.await.unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["code_challenge_method"], "S256");
        assert!(q["scope"].contains("offline_access"));
        let location = Browser::new()
            .unwrap()
            .sign_in(
                url.as_str(),
                Answer::accept(user, &["weather.read", "weather.write"]),
            )
            .await
            .unwrap();
        let back = http().get(location).send().await.unwrap();
        assert_eq!(back.status(), 200);
        assert!(back
            .text()
            .await
            .unwrap()
            .contains("You are signed in to the test"));
    };
    let (result, ()) = tokio::join!(flow, browser);
    result.unwrap()
}

#[tokio::test]
async fn trace_logs_of_a_sign_in_a_refresh_and_a_refusal_carry_no_token() {
    let Setup {
        dev,
        _dir,
        file,
        clock,
        client,
    } = setup().await;
    let logs = crate::common::Logs::default();
    let _guard = logs.capture(tracing::Level::TRACE);
    // Other tests' threads may have cached these call sites' interest while no subscriber wanted
    // them: recompute it with this thread's subscriber registered.
    tracing::callsite::rebuild_interest_cache();
    let signed_in = device_sign_in(&client, &dev, Some("alice")).await.unwrap();
    let first_refresh = refresh_token_in(&file);
    clock.advance(Duration::from_secs(2 * 3600));
    tracing::callsite::rebuild_interest_cache();
    let refreshed = client.acquire_silent(None, &scopes()).await.unwrap();
    let second_refresh = refresh_token_in(&file);
    dev.issuer.revoke_refresh_tokens("alice");
    clock.advance(Duration::from_secs(2 * 3600));
    tracing::callsite::rebuild_interest_cache();
    client.acquire_silent(None, &scopes()).await.unwrap_err();
    let text = logs.text();
    // (Which entra_token events show depends on other tests' threads registering the same call
    // sites first, a known limit of per-thread subscribers; some always do.)
    assert!(
        text.contains(" entra_token: "),
        "events were captured: {text}"
    );
    for secret in [
        signed_in.access_token.secret(),
        refreshed.access_token.secret(),
        &first_refresh,
        &second_refresh,
    ] {
        assert!(!text.contains(secret), "a token in the logs: {text}");
    }
}

#[tokio::test]
async fn reacquire_silent_never_serves_the_rejected_token_again() {
    let Setup {
        dev, _dir, client, ..
    } = setup().await;
    let signed_in = browser_sign_in(&client, "alice").await;
    let again = client
        .reacquire_silent(None, &scopes(), &signed_in.access_token)
        .await
        .unwrap();
    assert_eq!(again.source, TokenSource::RefreshToken);
    assert_ne!(again.access_token.secret(), signed_in.access_token.secret());
    // The replacement is cached: an ordinary call serves it without a request.
    let cached = client.acquire_silent(None, &scopes()).await.unwrap();
    assert_eq!(cached.source, TokenSource::Cache);
    assert_eq!(cached.access_token.secret(), again.access_token.secret());
    assert_eq!(dev.issuer.stats().refresh_token_requests, 1);
}
