//! Key rotation, persistence across restarts, file permissions, fault injection, mounting under a prefix.

use crate::common;

use std::time::Duration;

use crate::common::{get_json, http, shared_key, spawn, try_verify, verify};
use entra_dev::defaults::{DEV_API_CLIENT_ID, DEV_TENANT_ID};
use entra_dev::{DevIssuer, DevIssuerConfig, TokenRequest};
use serde_json::Value;

async fn keys(base: &str) -> Value {
    get_json(
        &http(),
        &format!("{base}{DEV_TENANT_ID}/discovery/v2.0/keys"),
    )
    .await
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn rotation_publishes_old_and_new_kid_and_tokens_signed_by_either_verify() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let issuer = running.issuer.issuer_v2(DEV_TENANT_ID);
    let old_kid = running.issuer.current_kid();
    let old_token = running.issuer.mint(&TokenRequest::default()).unwrap();

    let new_kid = running.issuer.rotate_key().unwrap();
    assert_ne!(new_kid, old_kid);
    assert_eq!(running.issuer.current_kid(), new_kid);
    let new_token = running.issuer.mint(&TokenRequest::default()).unwrap();
    assert_eq!(common::header(&new_token)["kid"], new_kid.as_str());

    let jwks = keys(&base).await;
    assert_eq!(kids(&jwks), vec![new_kid.clone(), old_kid.clone()]);
    verify(&old_token, &jwks, &issuer, DEV_API_CLIENT_ID);
    verify(&new_token, &jwks, &issuer, DEV_API_CLIENT_ID);
    let v1 = get_json(&http(), &format!("{base}{DEV_TENANT_ID}/discovery/keys")).await;
    assert_eq!(kids(&v1), vec![new_kid, old_kid]);
}

#[tokio::test]
async fn rotation_with_zero_grace_period_stops_publishing_the_old_key() {
    let running = common::spawn_with(DevIssuerConfig {
        key_grace_period: Duration::ZERO,
        ..DevIssuerConfig::default()
    })
    .await;
    let base = running.url().as_str().to_owned();
    let old_token = running.issuer.mint(&TokenRequest::default()).unwrap();
    let new_kid = running.issuer.rotate_key().unwrap();
    let jwks = keys(&base).await;
    assert_eq!(kids(&jwks), vec![new_kid]);
    let old_kid = common::header(&old_token)["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!kids(&jwks).contains(&old_kid));
    let infos = running.issuer.keys();
    assert_eq!(infos.len(), 1, "keys past their grace period are dropped");
}

#[tokio::test]
async fn key_persists_across_restart_with_same_kid_and_old_tokens_still_verify() {
    let dir = tempfile::tempdir().unwrap();
    let config = DevIssuerConfig {
        data_dir: Some(dir.path().join("entra-dev")),
        ..DevIssuerConfig::default()
    };
    let first = DevIssuer::spawn_with_key(config.clone(), shared_key())
        .await
        .unwrap();
    let kid = first.issuer.current_kid();
    let token = first.issuer.mint(&TokenRequest::default()).unwrap();
    first.shutdown().await.unwrap();

    // A different "fresh" key is offered: the persisted one must win.
    let other = DevIssuer::generate_key().unwrap();
    let second = DevIssuer::spawn_with_key(config, other).await.unwrap();
    assert_eq!(second.issuer.current_kid(), kid);
    let base = second.url().as_str().to_owned();
    let jwks = keys(&base).await;
    // The port differs, so the issuer does too: verify against the new issuer after re-minting, and the old
    // token's signature against the persisted key.
    let old = try_verify(&token, &jwks, &token_iss(&token), DEV_API_CLIENT_ID);
    assert!(old.is_ok(), "{old:?}");
    let fresh = second.issuer.mint(&TokenRequest::default()).unwrap();
    verify(
        &fresh,
        &jwks,
        &second.issuer.issuer_v2(DEV_TENANT_ID),
        DEV_API_CLIENT_ID,
    );
}

fn token_iss(token: &str) -> String {
    common::peek(token)["iss"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn rotation_is_persisted_and_survives_restart_with_both_keys_published() {
    let dir = tempfile::tempdir().unwrap();
    let config = DevIssuerConfig {
        data_dir: Some(dir.path().to_owned()),
        ..DevIssuerConfig::default()
    };
    let first = DevIssuer::spawn_with_key(config.clone(), shared_key())
        .await
        .unwrap();
    let old_kid = first.issuer.current_kid();
    let new_kid = first.issuer.rotate_key().unwrap();
    drop(first);
    let second = DevIssuer::spawn(config).await.unwrap();
    assert_eq!(second.issuer.current_kid(), new_kid);
    let jwks = keys(second.url().as_str()).await;
    assert_eq!(kids(&jwks), vec![new_kid, old_kid]);
}

#[cfg(unix)]
#[tokio::test]
async fn key_file_is_created_with_mode_0600_in_a_0700_directory() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("nested").join("entra-dev");
    let config = DevIssuerConfig {
        data_dir: Some(data_dir.clone()),
        ..DevIssuerConfig::default()
    };
    let issuer = DevIssuer::with_signing_key(
        config,
        url::Url::parse("http://127.0.0.1:1/").unwrap(),
        shared_key(),
    )
    .unwrap();
    let file = data_dir.join(entra_dev::KEY_FILE_NAME);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(&data_dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
    issuer.rotate_key().unwrap();
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "still private after rewriting");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("NEVER use them in production"));
}

#[tokio::test]
async fn corrupt_key_file_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(entra_dev::KEY_FILE_NAME), "not json").unwrap();
    let err = DevIssuer::with_signing_key(
        DevIssuerConfig {
            data_dir: Some(dir.path().to_owned()),
            ..DevIssuerConfig::default()
        },
        url::Url::parse("http://127.0.0.1:1/").unwrap(),
        shared_key(),
    )
    .unwrap_err();
    assert!(matches!(err, entra_dev::DevIssuerError::KeyFile { .. }));
    assert!(err.to_string().contains(entra_dev::KEY_FILE_NAME));
}

#[tokio::test]
async fn outage_makes_metadata_and_keys_answer_503_until_cleared_and_counts_requests() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let meta_url = format!("{base}{DEV_TENANT_ID}/v2.0/.well-known/openid-configuration");
    let keys_url = format!("{base}{DEV_TENANT_ID}/discovery/v2.0/keys");
    running.issuer.set_outage(true);
    for url in [&meta_url, &keys_url] {
        let res = http().get(url).send().await.unwrap();
        assert_eq!(res.status(), 503);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
    }
    running.issuer.set_outage(false);
    get_json(&http(), &meta_url).await;
    get_json(&http(), &keys_url).await;
    let stats = running.issuer.stats();
    assert_eq!(stats.metadata_requests, 2);
    assert_eq!(stats.key_requests, 2);
    assert_eq!(stats.token_requests, 0);
}

#[tokio::test]
async fn key_document_override_is_served_verbatim_until_removed() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let url = format!("{base}{DEV_TENANT_ID}/discovery/v2.0/keys");
    running
        .issuer
        .set_key_document_override(Some("{\"keys\":[]}".to_owned()));
    let res = http().get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "{\"keys\":[]}");
    running.issuer.set_key_document_override(None);
    let jwks = get_json(&http(), &url).await;
    assert_eq!(kids(&jwks), vec![running.issuer.current_kid()]);
    assert_eq!(running.issuer.stats().key_requests, 2);
}

#[tokio::test]
async fn router_nested_under_a_prefix_serves_absolute_urls_with_that_prefix() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let instance = url::Url::parse(&format!("http://{addr}/dev-issuer")).unwrap();
    let issuer =
        DevIssuer::with_signing_key(DevIssuerConfig::default(), instance, shared_key()).unwrap();
    assert_eq!(
        issuer.instance().as_str(),
        format!("http://{addr}/dev-issuer/")
    );
    let app = axum::Router::new().nest("/dev-issuer", issuer.router());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let meta = get_json(
        &http(),
        &format!("http://{addr}/dev-issuer/{DEV_TENANT_ID}/v2.0/.well-known/openid-configuration"),
    )
    .await;
    let iss = format!("http://{addr}/dev-issuer/{DEV_TENANT_ID}/v2.0");
    assert_eq!(meta["issuer"], iss.as_str());
    let jwks = get_json(&http(), meta["jwks_uri"].as_str().unwrap()).await;
    let token = issuer.mint(&TokenRequest::default()).unwrap();
    verify(&token, &jwks, &iss, DEV_API_CLIENT_ID);
    server.abort();
}

#[tokio::test]
async fn sign_raw_signs_exactly_what_it_is_given_and_fills_only_missing_header_fields() {
    let running = spawn().await;
    let mut header = serde_json::Map::new();
    header.insert("alg".into(), "HS256".into());
    let mut claims = serde_json::Map::new();
    claims.insert("iss".into(), "https://evil.example/".into());
    let token = running.issuer.sign_raw(header, claims).unwrap();
    let h = common::header(&token);
    assert_eq!(h["alg"], "HS256");
    assert_eq!(h["typ"], "JWT");
    assert_eq!(h["kid"], running.issuer.current_kid());
    assert_eq!(
        common::peek(&token),
        serde_json::json!({"iss": "https://evil.example/"})
    );
}

#[tokio::test]
async fn mint_honours_times_extra_claims_and_extra_header() {
    let running = spawn().await;
    let iat = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut extra = serde_json::Map::new();
    extra.insert("xms_cc".into(), serde_json::json!(["cp1"]));
    extra.insert("name".into(), "Overridden".into());
    let mut extra_header = serde_json::Map::new();
    extra_header.insert("nonce".into(), "graph-nonce".into());
    let token = running
        .issuer
        .mint(&TokenRequest {
            issued_at: Some(iat),
            lifetime: Some(Duration::from_secs(60)),
            not_before: Some(iat + Duration::from_secs(10)),
            audience: Some("api://other".into()),
            extra_claims: extra,
            extra_header,
            ..TokenRequest::default()
        })
        .unwrap();
    let c = common::peek(&token);
    assert_eq!(c["iat"], 1_700_000_000);
    assert_eq!(c["nbf"], 1_700_000_010);
    assert_eq!(c["exp"], 1_700_000_060);
    assert_eq!(c["aud"], "api://other");
    assert_eq!(c["xms_cc"], serde_json::json!(["cp1"]));
    assert_eq!(c["name"], "Overridden");
    assert_eq!(common::header(&token)["nonce"], "graph-nonce");
}

fn local(config: DevIssuerConfig) -> DevIssuer {
    DevIssuer::with_signing_key(
        config,
        url::Url::parse("http://127.0.0.1:1/").unwrap(),
        shared_key(),
    )
    .unwrap()
}

#[tokio::test]
async fn reload_keys_picks_up_a_rotation_made_by_another_process_sharing_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let config = DevIssuerConfig {
        data_dir: Some(dir.path().to_owned()),
        ..DevIssuerConfig::default()
    };
    let service = local(config.clone());
    let cli = local(config);
    let old_kid = service.current_kid();
    assert_eq!(cli.current_kid(), old_kid);
    assert!(!service.reload_keys().unwrap(), "nothing changed yet");

    let new_kid = cli.rotate_key().unwrap();
    assert!(service.reload_keys().unwrap());
    assert_eq!(service.current_kid(), new_kid);
    let published: Vec<String> = kids(&service.key_set());
    assert_eq!(published, vec![new_kid, old_kid]);
    // A token the CLI mints now verifies against what the service publishes.
    let token = cli.mint(&TokenRequest::default()).unwrap();
    verify(
        &token,
        &service.key_set(),
        &service.issuer_v2(DEV_TENANT_ID),
        DEV_API_CLIENT_ID,
    );
}

#[tokio::test]
async fn key_older_than_key_lifetime_is_rotated_at_start_and_stays_published() {
    let dir = tempfile::tempdir().unwrap();
    let config = DevIssuerConfig {
        data_dir: Some(dir.path().to_owned()),
        ..DevIssuerConfig::default()
    };
    let first = local(config.clone());
    let old_kid = first.current_kid();
    let again = local(DevIssuerConfig {
        key_lifetime: Some(Duration::from_secs(3600)),
        ..config.clone()
    });
    assert_eq!(again.current_kid(), old_kid, "a young key is kept");
    let rotated = DevIssuer::new(
        DevIssuerConfig {
            key_lifetime: Some(Duration::ZERO),
            ..config
        },
        url::Url::parse("http://127.0.0.1:1/").unwrap(),
    )
    .unwrap();
    assert_ne!(rotated.current_kid(), old_kid);
    assert_eq!(
        kids(&rotated.key_set()),
        vec![rotated.current_kid(), old_kid]
    );
}
