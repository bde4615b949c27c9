//! The managed identity credential over real HTTP on 127.0.0.1: against the development issuer's
//! emulated instance metadata service and App Service endpoint (tokens, user-assigned identities,
//! throttling and start-up answers retried), and against small servers written here for what it does
//! not emulate (Cloud Shell, Service Fabric, Azure Arc's challenge, garbage and slow answers).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::RawQuery;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use entra_dev::defaults::{
    DEV_IDENTITY_HEADER, DEV_SYSTEM_MI_OBJECT_ID, DEV_USER_MI_CLIENT_ID, DEV_USER_MI_OBJECT_ID,
    DEV_USER_MI_RESOURCE_ID,
};
use entra_dev::{DevIssuer, DevIssuerConfig, RunningDevIssuer};
use entra_token::managed_identity::TOKEN_EXCHANGE_AUDIENCE;
use entra_token::{
    HttpOptions, ManagedIdentityCredential, ManagedIdentityError, ManagedIdentityId,
    ManagedIdentityOptions, ManagedIdentityRetry, ManagedIdentitySource, Scopes, TokenCredential,
    TokenError, TokenRequestOptions,
};

use crate::apps;
use crate::common::{payload, unix_now};

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Retries in milliseconds, so that tests wait for no real backoff.
fn fast_options() -> ManagedIdentityOptions {
    ManagedIdentityOptions::default().with_retry(ManagedIdentityRetry::default().with_timing(
        Duration::from_millis(5),
        Duration::from_millis(20),
        Duration::from_millis(5),
        Duration::from_secs(5),
    ))
}

fn imds_vars(dev: &RunningDevIssuer) -> Vec<(String, String)> {
    vars(&[("AZURE_POD_IDENTITY_AUTHORITY_HOST", dev.url().as_str())])
}

fn app_service_vars(dev: &RunningDevIssuer, header: &str) -> Vec<(String, String)> {
    let endpoint = dev.url().join("msi/token").unwrap();
    vars(&[
        ("IDENTITY_ENDPOINT", endpoint.as_str()),
        ("IDENTITY_HEADER", header),
    ])
}

async fn dev() -> RunningDevIssuer {
    DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap()
}

fn credential(vars: Vec<(String, String)>, id: ManagedIdentityId) -> ManagedIdentityCredential {
    ManagedIdentityCredential::from_env_vars(vars, id, fast_options()).unwrap()
}

#[tokio::test]
async fn imds_token_from_the_dev_issuer_is_cached_and_served_again() {
    let dev = dev().await;
    let mi = credential(imds_vars(&dev), ManagedIdentityId::SystemAssigned);
    assert_eq!(mi.source(), ManagedIdentitySource::Imds);
    let first = mi.acquire(TOKEN_EXCHANGE_AUDIENCE).await.unwrap();
    let claims = payload(first.secret());
    assert_eq!(claims["sub"], DEV_SYSTEM_MI_OBJECT_ID);
    assert_eq!(claims["aud"], TOKEN_EXCHANGE_AUDIENCE);
    let expires = first
        .expires_at()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(
        expires,
        claims["exp"].as_u64().unwrap(),
        "expires_on read from a string"
    );
    let second = mi.acquire(TOKEN_EXCHANGE_AUDIENCE).await.unwrap();
    assert_eq!(second.secret(), first.secret());
    assert_eq!(dev.issuer.stats().managed_identity_requests, 1);
    assert_eq!(mi.requests_sent(), 1);
}

#[tokio::test]
async fn app_service_token_from_the_dev_issuer_through_the_token_credential_trait() {
    let dev = dev().await;
    let mi = credential(
        app_service_vars(&dev, DEV_IDENTITY_HEADER),
        ManagedIdentityId::SystemAssigned,
    );
    assert_eq!(mi.source(), ManagedIdentitySource::AppService);
    let scopes = Scopes::app_default(TOKEN_EXCHANGE_AUDIENCE);
    let token = mi
        .get_token(&scopes, TokenRequestOptions::default())
        .await
        .unwrap();
    let claims = payload(token.secret());
    assert_eq!(claims["oid"], DEV_SYSTEM_MI_OBJECT_ID);
    let expires = token
        .expires_at()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(
        expires,
        claims["exp"].as_u64().unwrap(),
        "expires_on read from a number"
    );
    let delegated = Scopes::parse("api://x/read");
    let err = mi
        .get_token(&delegated, TokenRequestOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, TokenError::InvalidScopes { .. }), "{err:?}");
}

#[tokio::test]
async fn user_assigned_identity_by_each_id_kind_on_imds_and_app_service() {
    let dev = dev().await;
    let ids = [
        ManagedIdentityId::ClientId(DEV_USER_MI_CLIENT_ID.into()),
        ManagedIdentityId::ObjectId(DEV_USER_MI_OBJECT_ID.into()),
        ManagedIdentityId::ResourceId(DEV_USER_MI_RESOURCE_ID.into()),
    ];
    for id in ids {
        for vars in [imds_vars(&dev), app_service_vars(&dev, DEV_IDENTITY_HEADER)] {
            let mi = credential(vars, id.clone());
            let token = mi.acquire(TOKEN_EXCHANGE_AUDIENCE).await.unwrap();
            let claims = payload(token.secret());
            assert_eq!(
                claims["oid"],
                DEV_USER_MI_OBJECT_ID,
                "{id:?} {:?}",
                mi.source()
            );
            assert_eq!(claims["xms_mirid"], DEV_USER_MI_RESOURCE_ID);
        }
    }
}

#[tokio::test]
async fn unknown_user_assigned_identity_is_refused_with_the_endpoints_words() {
    let dev = dev().await;
    let mi = credential(
        imds_vars(&dev),
        ManagedIdentityId::ClientId("99999999-9999-4999-8999-999999999999".into()),
    );
    let err = mi.acquire(TOKEN_EXCHANGE_AUDIENCE).await.unwrap_err();
    let ManagedIdentityError::Refused {
        platform,
        status,
        description,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*platform, ManagedIdentitySource::Imds);
    assert_eq!(*status, 400);
    assert_eq!(description, "Identity not found");
    assert_eq!(mi.requests_sent(), 1, "a 400 is not retried");
}

#[tokio::test]
async fn app_service_with_a_wrong_identity_header_is_refused_without_echoing_it() {
    let dev = dev().await;
    let mi = credential(
        app_service_vars(&dev, "not-the-platforms-header"),
        ManagedIdentityId::SystemAssigned,
    );
    let err = mi.acquire(TOKEN_EXCHANGE_AUDIENCE).await.unwrap_err();
    assert!(
        matches!(
            err,
            ManagedIdentityError::Refused {
                platform: ManagedIdentitySource::AppService,
                ..
            }
        ),
        "{err:?}"
    );
    let text = format!("{err} {err:?} {mi:?}");
    assert!(text.contains("App Service"), "{text}");
    assert!(!text.contains("not-the-platforms-header"), "{text}");
}

#[tokio::test]
async fn imds_429_410_and_500_are_retried_and_then_the_token_arrives() {
    let dev = dev().await;
    for status in [429, 410, 500, 404] {
        let mi = credential(imds_vars(&dev), ManagedIdentityId::SystemAssigned);
        dev.issuer.fail_managed_identity(status, 2).unwrap();
        let token = mi.acquire(TOKEN_EXCHANGE_AUDIENCE).await;
        assert!(token.is_ok(), "{status}: {token:?}");
        assert_eq!(
            mi.requests_sent(),
            3,
            "{status}: two refusals, then the token"
        );
    }
}

#[tokio::test]
async fn imds_failing_past_the_retries_is_unavailable_naming_source_status_and_fix() {
    let dev = dev().await;
    let mi = credential(imds_vars(&dev), ManagedIdentityId::SystemAssigned);
    dev.issuer.fail_managed_identity(503, 100).unwrap();
    let err = mi.acquire(TOKEN_EXCHANGE_AUDIENCE).await.unwrap_err();
    let ManagedIdentityError::Unavailable {
        platform,
        status,
        attempts,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*platform, ManagedIdentitySource::Imds);
    assert_eq!(*status, 503);
    assert_eq!(*attempts, 4, "the first request and 3 retries");
    assert_eq!(mi.requests_sent(), 4);
    assert!(err.is_transient());
    let text = err.to_string();
    assert!(text.contains("instance metadata service"), "{text}");
    assert!(text.contains("503"), "{text}");
    assert!(text.contains("169.254.169.254"), "the fix: {text}");
    let as_token_error = TokenError::from(err);
    assert_eq!(as_token_error.status(), 503);
    dev.issuer.fail_managed_identity(503, 0).unwrap();
}

#[tokio::test]
async fn imds_410_is_retried_until_the_deadline_then_unavailable() {
    let dev = dev().await;
    let options =
        ManagedIdentityOptions::default().with_retry(ManagedIdentityRetry::default().with_timing(
            Duration::from_millis(5),
            Duration::from_millis(5),
            Duration::from_millis(100),
            Duration::from_secs(1),
        ));
    let mi = ManagedIdentityCredential::from_env_vars(
        imds_vars(&dev),
        ManagedIdentityId::SystemAssigned,
        options,
    )
    .unwrap();
    dev.issuer.fail_managed_identity(410, 1000).unwrap();
    let err = mi.acquire(TOKEN_EXCHANGE_AUDIENCE).await.unwrap_err();
    let ManagedIdentityError::Unavailable {
        status, attempts, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*status, 410);
    assert!(
        *attempts >= 2,
        "410 is retried past max_retries' kinds: {attempts}"
    );
    assert!(
        u64::from(*attempts) <= 11,
        "at most deadline / interval + 1 attempts: {attempts}"
    );
}

/// Serves one route on 127.0.0.1:0.
async fn serve(app: Router) -> apps::Running {
    apps::serve(app).await.unwrap()
}

fn token_json(expires_on: serde_json::Value) -> String {
    serde_json::json!({
        "access_token": "header.payload.signature",
        "expires_on": expires_on,
        "resource": TOKEN_EXCHANGE_AUDIENCE,
        "token_type": "Bearer",
    })
    .to_string()
}

#[tokio::test]
async fn garbage_answer_is_an_invalid_response_error() {
    let app = Router::new().route(
        "/msi/token",
        get(|| async { (StatusCode::OK, "<html>welcome to the proxy</html>") }),
    );
    let server = serve(app).await;
    let vars = vars(&[
        ("IDENTITY_ENDPOINT", &format!("{}msi/token", server.url)),
        ("IDENTITY_HEADER", "h"),
    ]);
    let mi = credential(vars, ManagedIdentityId::SystemAssigned);
    let err = mi.acquire(TOKEN_EXCHANGE_AUDIENCE).await.unwrap_err();
    assert!(
        matches!(
            err,
            ManagedIdentityError::InvalidResponse {
                platform: ManagedIdentitySource::AppService,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn slow_endpoint_is_a_timeout_error_within_the_configured_limit() {
    let app = Router::new().route(
        "/msi/token",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "late"
        }),
    );
    let server = serve(app).await;
    let vars = vars(&[
        ("IDENTITY_ENDPOINT", &format!("{}msi/token", server.url)),
        ("IDENTITY_HEADER", "h"),
    ]);
    let http = HttpOptions {
        timeout: Duration::from_millis(300),
        ..HttpOptions::default()
    };
    let mi = ManagedIdentityCredential::from_env_vars(
        vars,
        ManagedIdentityId::SystemAssigned,
        fast_options().with_http(http),
    )
    .unwrap();
    // A hang guard, not a timing assertion: the typed Timeout is what this proves.
    let result = tokio::time::timeout(Duration::from_secs(10), mi.acquire(TOKEN_EXCHANGE_AUDIENCE))
        .await
        .expect("the credential's own timeout ends the call");
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            ManagedIdentityError::Timeout {
                platform: ManagedIdentitySource::AppService,
                after,
            } if after == Duration::from_millis(300)
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
}

#[test]
fn source_is_picked_from_the_variables_in_msals_order() {
    let pick = |pairs: &[(&str, &str)]| {
        ManagedIdentityCredential::from_env_vars(
            vars(pairs),
            ManagedIdentityId::SystemAssigned,
            ManagedIdentityOptions::default(),
        )
        .unwrap()
        .source()
    };
    let endpoint = "http://127.0.0.1:40342/metadata/identity/oauth2/token";
    assert_eq!(
        pick(&[
            (
                "IDENTITY_ENDPOINT",
                "https://10.0.0.4:2377/metadata/identity/oauth2/token"
            ),
            ("IDENTITY_HEADER", "h"),
            (
                "IDENTITY_SERVER_THUMBPRINT",
                "ABCDEF0123456789ABCDEF0123456789ABCDEF01"
            ),
            ("MSI_ENDPOINT", endpoint),
        ]),
        ManagedIdentitySource::ServiceFabric
    );
    assert_eq!(
        pick(&[
            ("IDENTITY_ENDPOINT", "http://localhost:42356/msi/token"),
            ("IDENTITY_HEADER", "h"),
            ("IMDS_ENDPOINT", "http://localhost:40342"),
        ]),
        ManagedIdentitySource::AppService
    );
    assert_eq!(
        pick(&[
            ("MSI_ENDPOINT", "http://localhost:50342/oauth2/token"),
            ("IDENTITY_ENDPOINT", endpoint),
            ("IMDS_ENDPOINT", "http://localhost:40342"),
        ]),
        ManagedIdentitySource::CloudShell
    );
    assert_eq!(
        pick(&[
            ("IDENTITY_ENDPOINT", endpoint),
            ("IMDS_ENDPOINT", "http://localhost:40342"),
        ]),
        ManagedIdentitySource::AzureArc
    );
    assert_eq!(pick(&[]), ManagedIdentitySource::Imds);
    assert_eq!(
        pick(&[("IDENTITY_HEADER", "")]),
        ManagedIdentitySource::Imds
    );
    assert_eq!(
        pick(&[("IDENTITY_ENDPOINT", endpoint)]),
        ManagedIdentitySource::Imds,
        "IDENTITY_ENDPOINT alone names no source"
    );
}

#[test]
fn plain_http_to_a_remote_endpoint_is_refused_naming_the_variable() {
    for (name, value) in [
        ("IDENTITY_ENDPOINT", "http://metadata.example/msi/token"),
        ("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://10.0.0.1/"),
        ("MSI_ENDPOINT", "not a url"),
    ] {
        let mut pairs = vec![(name, value)];
        if name == "IDENTITY_ENDPOINT" {
            pairs.push(("IDENTITY_HEADER", "h"));
        }
        let err = ManagedIdentityCredential::from_env_vars(
            vars(&pairs),
            ManagedIdentityId::SystemAssigned,
            ManagedIdentityOptions::default(),
        )
        .unwrap_err();
        let ManagedIdentityError::InvalidEndpoint { variable, .. } = &err else {
            panic!("{name}: {err:?}")
        };
        assert_eq!(*variable, name);
    }
    let imds = ManagedIdentityCredential::imds(
        ManagedIdentityId::SystemAssigned,
        ManagedIdentityOptions::default(),
    )
    .unwrap();
    assert!(format!("{imds:?}").contains("http://169.254.169.254/metadata/identity/oauth2/token"));
}

#[test]
fn user_assigned_is_refused_where_the_source_serves_only_the_system_assigned_identity() {
    let endpoint = "http://127.0.0.1:40342/metadata/identity/oauth2/token";
    for (pairs, source) in [
        (
            vec![("MSI_ENDPOINT", endpoint)],
            ManagedIdentitySource::CloudShell,
        ),
        (
            vec![("IDENTITY_ENDPOINT", endpoint), ("IMDS_ENDPOINT", endpoint)],
            ManagedIdentitySource::AzureArc,
        ),
        (
            vec![
                ("IDENTITY_ENDPOINT", endpoint),
                ("IDENTITY_HEADER", "h"),
                (
                    "IDENTITY_SERVER_THUMBPRINT",
                    "AB0123456789ABCDEF0123456789ABCDEF012345",
                ),
            ],
            ManagedIdentitySource::ServiceFabric,
        ),
    ] {
        let err = ManagedIdentityCredential::from_env_vars(
            vars(&pairs),
            ManagedIdentityId::ClientId(DEV_USER_MI_CLIENT_ID.into()),
            ManagedIdentityOptions::default(),
        )
        .unwrap_err();
        assert!(
            matches!(err, ManagedIdentityError::UserAssignedUnsupported { platform, kind: "client_id" } if platform == source),
            "{source:?}: {err:?}"
        );
        assert!(err.to_string().contains(&source.to_string()), "{err}");
    }
}

#[tokio::test]
async fn cloud_shell_posts_the_resource_form_with_the_metadata_header() {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let record = Arc::clone(&seen);
    let app = Router::new().route(
        "/oauth2/token",
        post(move |headers: HeaderMap, body: String| {
            let record = Arc::clone(&record);
            async move {
                let metadata = headers
                    .get("metadata")
                    .map(|v| v.to_str().unwrap().to_owned());
                record.lock().unwrap().push(format!("{metadata:?} {body}"));
                if metadata.as_deref() != Some("true") {
                    return (StatusCode::BAD_REQUEST, "{}".to_owned());
                }
                (
                    StatusCode::OK,
                    token_json((unix_now() + 3600).to_string().into()),
                )
            }
        }),
    );
    let server = serve(app).await;
    let mi = credential(
        vars(&[("MSI_ENDPOINT", &format!("{}oauth2/token", server.url))]),
        ManagedIdentityId::SystemAssigned,
    );
    assert_eq!(mi.source(), ManagedIdentitySource::CloudShell);
    let token = mi.acquire("https://management.azure.com/").await.unwrap();
    assert_eq!(token.secret(), "header.payload.signature");
    assert_eq!(
        *seen.lock().unwrap(),
        vec![r#"Some("true") resource=https%3A%2F%2Fmanagement.azure.com%2F"#.to_owned()]
    );
}

#[tokio::test]
async fn service_fabric_sends_its_secret_header_and_api_version() {
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let record = Arc::clone(&seen);
    let app = Router::new().route(
        "/metadata/identity/oauth2/token",
        get(move |headers: HeaderMap, RawQuery(query): RawQuery| {
            let record = Arc::clone(&record);
            async move {
                let secret = headers
                    .get("secret")
                    .map(|v| v.to_str().unwrap().to_owned());
                record
                    .lock()
                    .unwrap()
                    .push(format!("{secret:?} {}", query.unwrap_or_default()));
                (StatusCode::OK, token_json((unix_now() + 3600).into()))
            }
        }),
    );
    let server = serve(app).await;
    let mi = credential(
        vars(&[
            (
                "IDENTITY_ENDPOINT",
                &format!("{}metadata/identity/oauth2/token", server.url),
            ),
            ("IDENTITY_HEADER", "sf-secret"),
            (
                "IDENTITY_SERVER_THUMBPRINT",
                "0123456789ABCDEF0123456789ABCDEF01234567",
            ),
        ]),
        ManagedIdentityId::SystemAssigned,
    );
    assert_eq!(mi.source(), ManagedIdentitySource::ServiceFabric);
    assert_eq!(
        mi.server_thumbprint(),
        Some("0123456789ABCDEF0123456789ABCDEF01234567")
    );
    mi.acquire("https://vault.azure.net").await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![r#"Some("sf-secret") api-version=2019-07-01-preview&resource=https%3A%2F%2Fvault.azure.net"#.to_owned()]
    );
    assert!(!format!("{mi:?}").contains("sf-secret"));
}

/// An Azure Arc endpoint: 401 with a challenge naming `key_path` until the request carries
/// `Authorization: Basic {key}`; counts the authorized requests.
async fn arc_server(
    key_path: std::path::PathBuf,
    key: &'static str,
) -> (apps::Running, Arc<AtomicU64>) {
    let authorized = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&authorized);
    let app = Router::new().route(
        "/metadata/identity/oauth2/token",
        get(move |headers: HeaderMap, RawQuery(query): RawQuery| {
            let count = Arc::clone(&count);
            let key_path = key_path.clone();
            async move {
                assert!(query
                    .unwrap_or_default()
                    .starts_with("api-version=2019-11-01&resource="));
                assert_eq!(headers["metadata"], "true");
                match headers.get("authorization") {
                    Some(v) => {
                        count.fetch_add(1, Ordering::Relaxed);
                        if v.to_str().unwrap() == format!("Basic {key}") {
                            (
                                StatusCode::OK,
                                HeaderMap::new(),
                                token_json((unix_now() + 3600).into()),
                            )
                        } else {
                            (StatusCode::UNAUTHORIZED, HeaderMap::new(), "{}".to_owned())
                        }
                    }
                    None => {
                        let mut h = HeaderMap::new();
                        h.insert(
                            "www-authenticate",
                            format!("Basic realm={}", key_path.display())
                                .parse()
                                .unwrap(),
                        );
                        (StatusCode::UNAUTHORIZED, h, String::new())
                    }
                }
            }
        }),
    );
    (serve(app).await, authorized)
}

fn arc_vars(server: &apps::Running) -> Vec<(String, String)> {
    vars(&[
        (
            "IDENTITY_ENDPOINT",
            &format!("{}metadata/identity/oauth2/token", server.url),
        ),
        ("IMDS_ENDPOINT", server.url.as_str()),
    ])
}

#[tokio::test]
async fn azure_arc_answers_the_challenge_with_the_key_file() {
    let keys = tempfile::tempdir().unwrap();
    let key_path = keys.path().join("challenge.key");
    std::fs::write(&key_path, "arc-key-123\n").unwrap();
    let (server, authorized) = arc_server(key_path, "arc-key-123").await;
    let mi = ManagedIdentityCredential::from_env_vars(
        arc_vars(&server),
        ManagedIdentityId::SystemAssigned,
        fast_options().with_arc_key_directory(keys.path()),
    )
    .unwrap();
    assert_eq!(mi.source(), ManagedIdentitySource::AzureArc);
    let token = mi.acquire("https://management.azure.com").await.unwrap();
    assert_eq!(token.secret(), "header.payload.signature");
    assert_eq!(mi.requests_sent(), 2, "the challenge, then the answer");
    assert_eq!(authorized.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn azure_arc_challenge_naming_a_file_elsewhere_is_refused_before_reading_it() {
    let keys = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let outside = elsewhere.path().join("stolen.key");
    std::fs::write(&outside, "not-for-the-endpoint").unwrap();
    let big = keys.path().join("big.key");
    std::fs::write(&big, "x".repeat(5000)).unwrap();
    let wrong_ext = keys.path().join("secret.txt");
    std::fs::write(&wrong_ext, "nope").unwrap();
    for path in [outside, big, wrong_ext] {
        let (server, authorized) = arc_server(path.clone(), "unused").await;
        let mi = ManagedIdentityCredential::from_env_vars(
            arc_vars(&server),
            ManagedIdentityId::SystemAssigned,
            fast_options().with_arc_key_directory(keys.path()),
        )
        .unwrap();
        let err = mi
            .acquire("https://management.azure.com")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ManagedIdentityError::ArcChallenge { path: Some(p), .. } if *p == path),
            "{path:?}: {err:?}"
        );
        assert_eq!(
            authorized.load(Ordering::Relaxed),
            0,
            "{path:?}: nothing sent"
        );
        assert!(!err.to_string().contains("not-for-the-endpoint"));
    }
}

#[tokio::test]
async fn on_behalf_of_is_refused_by_a_managed_identity() {
    let mi = ManagedIdentityCredential::imds(
        ManagedIdentityId::SystemAssigned,
        ManagedIdentityOptions::default(),
    )
    .unwrap();
    let token = crate::common::user_token(entra_dev::defaults::ALICE_OID, unix_now() + 600);
    let user = entra_token::UserAssertion::parse(&token).unwrap();
    let scopes = Scopes::parse("api://x/read");
    let err = mi
        .get_token(&scopes, TokenRequestOptions::on_behalf_of(&user))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            TokenError::OnBehalfOfUnsupported {
                credential: "ManagedIdentityCredential"
            }
        ),
        "{err:?}"
    );
}

/// A confidential client of the development issuer whose credential is the development system-assigned
/// managed identity (a federated credential of `client_id`'s registration).
fn fic_client(
    dev: &RunningDevIssuer,
    client_id: &str,
) -> (entra_token::ConfidentialClient, ManagedIdentityCredential) {
    let mi = credential(imds_vars(dev), ManagedIdentityId::SystemAssigned);
    let credential = entra_token::ClientCredential::managed_identity(mi.clone());
    (client_with(dev, client_id, credential), mi)
}

/// A confidential client of the development issuer with `credential`.
fn client_with(
    dev: &RunningDevIssuer,
    client_id: &str,
    credential: entra_token::ClientCredential,
) -> entra_token::ConfidentialClient {
    let authority = entra_token::Authority::tenant(entra_dev::defaults::DEV_TENANT_ID)
        .unwrap()
        .with_instance(dev.url().as_str())
        .unwrap();
    let config = entra_token::ConfidentialConfig::builder(authority, client_id, credential)
        .build()
        .unwrap();
    entra_token::ConfidentialClient::new(config).unwrap()
}

#[tokio::test]
async fn managed_identity_as_federated_credential_buys_app_tokens_and_is_fetched_once() {
    let dev = dev().await;
    let daemon = entra_dev::defaults::DEV_DAEMON_CLIENT_ID;
    let (client, mi) = fic_client(&dev, daemon);
    let api = Scopes::app_default(entra_dev::defaults::DEV_API_APP_ID_URI);

    let token = client.acquire_for_app(&api).await.unwrap();
    let claims = payload(token.secret());
    assert_eq!(claims["azp"], daemon);
    assert_eq!(
        claims["azpacr"], "2",
        "a client assertion authenticated the client"
    );
    assert_eq!(claims["aud"], entra_dev::defaults::DEV_API_CLIENT_ID);
    // A token the API refused: a new one is bought, with the managed identity's cached token.
    let other = client.reacquire_for_app(&api, &token).await.unwrap();
    assert_ne!(other.secret(), token.secret());
    // Cached apart: two tokens bought, the managed identity's token fetched once.
    let stats = dev.issuer.stats();
    assert_eq!(stats.client_credentials_requests, 2);
    assert_eq!(stats.managed_identity_requests, 1);
    assert_eq!(mi.requests_sent(), 1);
    assert_eq!(client.stats().token_requests, 2);
    // The bought token is served from the client's cache; nothing is asked again.
    client.acquire_for_app(&api).await.unwrap();
    assert_eq!(dev.issuer.stats().token_requests, 2);
    assert_eq!(dev.issuer.stats().managed_identity_requests, 1);
}

#[tokio::test]
async fn managed_identity_as_federated_credential_serves_on_behalf_of() {
    let dev = dev().await;
    let api = entra_dev::defaults::DEV_API_CLIENT_ID;
    let (client, mi) = fic_client(&dev, api);
    let alice = dev
        .issuer
        .mint(&entra_dev::TokenRequest {
            scopes: vec![entra_dev::defaults::SCOPE_READ.into()],
            ..entra_dev::TokenRequest::default()
        })
        .unwrap();
    let user = entra_token::UserAssertion::parse(&alice).unwrap();
    let scopes = Scopes::parse(&format!(
        "{}/{}",
        entra_dev::defaults::DEV_DOWNSTREAM_API_APP_ID_URI,
        entra_dev::defaults::SCOPE_DOWNSTREAM_READ
    ));
    let token = client.acquire_on_behalf_of(&user, &scopes).await.unwrap();
    let claims = payload(token.secret());
    assert_eq!(claims["oid"], entra_dev::defaults::ALICE_OID);
    assert_eq!(claims["azp"], api);
    assert_eq!(claims["scp"], entra_dev::defaults::SCOPE_DOWNSTREAM_READ);
    // And as the app, with the same managed identity token.
    client
        .acquire_for_app(&Scopes::app_default(
            entra_dev::defaults::DEV_API_APP_ID_URI,
        ))
        .await
        .unwrap();
    let stats = dev.issuer.stats();
    assert_eq!(stats.on_behalf_of_requests, 1);
    assert_eq!(stats.client_credentials_requests, 1);
    assert_eq!(stats.managed_identity_requests, 1);
    assert_eq!(mi.requests_sent(), 1);
}

#[tokio::test]
async fn managed_identity_for_an_audience_the_registration_does_not_trust_is_refused_700212() {
    let dev = dev().await;
    let mi = credential(imds_vars(&dev), ManagedIdentityId::SystemAssigned);
    let client = client_with(
        &dev,
        entra_dev::defaults::DEV_DAEMON_CLIENT_ID,
        entra_token::ClientCredential::managed_identity_for_audience(
            mi,
            format!("api://{}", entra_dev::defaults::DEV_API_CLIENT_ID),
        ),
    );
    let err = client
        .acquire_for_app(&Scopes::app_default(
            entra_dev::defaults::DEV_API_APP_ID_URI,
        ))
        .await
        .unwrap_err();
    let TokenError::Rejected(a) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(a.error, "invalid_client");
    assert_eq!(a.codes.first(), Some(&700_212), "{a:?}");
}

#[tokio::test]
async fn managed_identity_endpoint_down_is_a_transient_credential_error_of_the_client() {
    let dev = dev().await;
    let (client, _mi) = fic_client(&dev, entra_dev::defaults::DEV_DAEMON_CLIENT_ID);
    dev.issuer.fail_managed_identity(503, 100).unwrap();
    let err = client
        .acquire_for_app(&Scopes::app_default(
            entra_dev::defaults::DEV_API_APP_ID_URI,
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            TokenError::Credential(entra_token::CredentialError::ManagedIdentity(e))
                if matches!(**e, ManagedIdentityError::Unavailable { .. })
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(err.status(), 503);
    assert_eq!(
        dev.issuer.stats().token_requests,
        0,
        "nothing sent to the token endpoint"
    );
    dev.issuer.fail_managed_identity(503, 0).unwrap();
}

#[tokio::test]
async fn concurrent_callers_share_one_managed_identity_request() {
    let dev = dev().await;
    let mi = credential(imds_vars(&dev), ManagedIdentityId::SystemAssigned);
    let calls = (0..20).map(|_| {
        let mi = mi.clone();
        tokio::spawn(async move { mi.acquire(TOKEN_EXCHANGE_AUDIENCE).await })
    });
    let tokens: Vec<_> = futures_join(calls).await;
    let first = tokens[0].secret().to_owned();
    assert!(tokens.iter().all(|t| t.secret() == first));
    assert_eq!(mi.requests_sent(), 1, "single flight");
    assert_eq!(dev.issuer.stats().managed_identity_requests, 1);
}

async fn futures_join(
    handles: impl Iterator<
        Item = tokio::task::JoinHandle<Result<entra_token::AccessToken, ManagedIdentityError>>,
    >,
) -> Vec<entra_token::AccessToken> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await.unwrap().unwrap());
    }
    out
}

#[tokio::test]
async fn token_is_refreshed_after_half_its_lifetime_and_served_until_then() {
    let dev = dev().await;
    let clock = Arc::new(entra_token::ManualClock::starting_now());
    let mi = ManagedIdentityCredential::from_env_vars(
        imds_vars(&dev),
        ManagedIdentityId::SystemAssigned,
        fast_options().with_clock(clock.clone()),
    )
    .unwrap();
    let first = mi.acquire(TOKEN_EXCHANGE_AUDIENCE).await.unwrap();
    // The development issuer's 1 h token carries no refresh_in: refreshed after half its lifetime.
    clock.advance(Duration::from_secs(1799));
    let same = mi.acquire(TOKEN_EXCHANGE_AUDIENCE).await.unwrap();
    assert_eq!(same.secret(), first.secret());
    assert_eq!(mi.requests_sent(), 1);
    clock.advance(Duration::from_secs(2));
    let fresh = mi.acquire(TOKEN_EXCHANGE_AUDIENCE).await.unwrap();
    assert_eq!(mi.requests_sent(), 2, "refreshed ahead of expiry");
    assert_ne!(fresh.secret(), first.secret());
}

/// An https endpoint on loopback presenting `cert_pem` (self-signed: no web root vouches for it),
/// answering every request with a managed identity token; the number of answers served.
async fn tls_endpoint(cert_pem: &str, key_pem: &str) -> (String, Arc<AtomicU64>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let cert =
        rustls::pki_types::CertificateDer::from(pem::parse(cert_pem).unwrap().into_contents());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
        pem::parse(key_pem).unwrap().into_contents().into(),
    );
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&served);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let body = token_json((unix_now() + 3600).into());
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                count.fetch_add(1, Ordering::SeqCst);
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (
        format!("https://127.0.0.1:{port}/metadata/identity/oauth2/token"),
        served,
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[tokio::test]
async fn service_fabric_trusts_the_pinned_cluster_certificate_and_no_other() {
    let cluster =
        entra_dev::GeneratedCertificate::generate("sf-cluster", Duration::from_secs(3600)).unwrap();
    let (url, served) = tls_endpoint(&cluster.certificate_pem, &cluster.private_key_pem).await;
    let der = pem::parse(&cluster.certificate_pem)
        .unwrap()
        .into_contents();
    let pinned = hex(&entra_core::crypto::sha1_for_thumbprint(&der));
    let sf = |thumbprint: &str| {
        credential(
            vars(&[
                ("IDENTITY_ENDPOINT", &url),
                ("IDENTITY_HEADER", "sf-secret"),
                ("IDENTITY_SERVER_THUMBPRINT", thumbprint),
            ]),
            ManagedIdentityId::SystemAssigned,
        )
    };

    // The cluster's certificate, pinned by its thumbprint (lower case as well): a token.
    let token = sf(&pinned.to_lowercase())
        .acquire("https://vault.azure.net")
        .await
        .expect("the pinned certificate is trusted");
    assert_eq!(token.secret(), "header.payload.signature");
    assert_eq!(served.load(Ordering::SeqCst), 1);

    // Another thumbprint: the handshake fails before any request is sent.
    let err = sf("0123456789ABCDEF0123456789ABCDEF01234567")
        .acquire("https://vault.azure.net")
        .await
        .expect_err("a certificate other than the pinned one is refused");
    assert!(
        matches!(
            err,
            ManagedIdentityError::Transport {
                platform: ManagedIdentitySource::ServiceFabric,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        served.load(Ordering::SeqCst),
        1,
        "no request reached the endpoint"
    );
}

#[tokio::test]
async fn service_fabric_thumbprint_that_is_not_sha1_hex_is_refused_naming_the_variable() {
    let err = ManagedIdentityCredential::from_env_vars(
        vars(&[
            (
                "IDENTITY_ENDPOINT",
                "https://127.0.0.1:2377/metadata/identity/oauth2/token",
            ),
            ("IDENTITY_HEADER", "sf-secret"),
            ("IDENTITY_SERVER_THUMBPRINT", "not-a-thumbprint"),
        ]),
        ManagedIdentityId::SystemAssigned,
        fast_options(),
    )
    .expect_err("a thumbprint must be 40 hex digits");
    assert!(
        matches!(
            err,
            ManagedIdentityError::InvalidEndpoint {
                variable: "IDENTITY_SERVER_THUMBPRINT",
                ..
            }
        ),
        "{err:?}"
    );
}
