//! Downstream tokens: on behalf of the caller, as the app, the override gates, the claims
//! challenge, and the cache shared by two sidecars over Redis.

use entra_dev::{defaults, DevIssuerConfig, MfaDemand, Switches};
use serde_json::json;

use crate::harness::{payload, spawn_sidecar, World, APP_DEFAULT};

fn header_token(body: &serde_json::Value) -> String {
    let header = body["authorizationHeader"].as_str().unwrap();
    header.strip_prefix("Bearer ").unwrap().to_owned()
}

#[tokio::test]
async fn authorization_header_is_on_behalf_of_the_caller_and_cached_per_user() {
    let w = World::start().await;
    let alice = w.token(defaults::ALICE_USERNAME);
    let bob = w.token(defaults::BOB_USERNAME);
    let r = w.get("/AuthorizationHeader/downstream", Some(&alice)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.assert_no_store();
    let a1 = header_token(&r.json());
    let claims = payload(&a1);
    assert_eq!(claims["oid"], defaults::ALICE_OID);
    assert_eq!(claims["aud"], defaults::DEV_DOWNSTREAM_API_CLIENT_ID);
    assert_eq!(claims["scp"], "downstream.read");
    assert_eq!(claims["azp"], defaults::DEV_API_CLIENT_ID);

    let b1 = header_token(
        &w.get("/AuthorizationHeader/downstream", Some(&bob))
            .await
            .json(),
    );
    assert_eq!(
        payload(&b1)["oid"],
        defaults::BOB_OID,
        "bob never gets alice's token"
    );
    let requests = w.token_requests();
    let a2 = header_token(
        &w.get("/AuthorizationHeader/downstream", Some(&alice))
            .await
            .json(),
    );
    let b2 = header_token(
        &w.get("/AuthorizationHeader/downstream", Some(&bob))
            .await
            .json(),
    );
    assert_eq!((a2.as_str(), b2.as_str()), (a1.as_str(), b1.as_str()));
    assert_eq!(w.token_requests(), requests, "served from the cache");
}

#[tokio::test]
async fn request_app_token_api_gets_an_app_token_for_the_first_scope() {
    let w = World::start().await;
    let alice = w.token(defaults::ALICE_USERNAME);
    let r = w.get("/AuthorizationHeader/appapi", Some(&alice)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let claims = payload(&header_token(&r.json()));
    assert_eq!(claims["idtyp"], "app");
    assert_ne!(claims["oid"], defaults::ALICE_OID);
    assert_eq!(claims["aud"], defaults::DEV_API_CLIENT_ID);
    assert_eq!(claims["azp"], defaults::DEV_API_CLIENT_ID);
}

#[tokio::test]
async fn overrides_are_honoured_on_the_authenticated_route_by_default() {
    let w = World::start().await;
    let alice = w.token(defaults::ALICE_USERNAME);
    let path = format!(
        "/AuthorizationHeader/downstream?optionsOverride.RequestAppToken=true&optionsOverride.Scopes={}",
        urlencode(APP_DEFAULT)
    );
    let r = w.get(&path, Some(&alice)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(payload(&header_token(&r.json()))["idtyp"], "app");
}

#[tokio::test]
async fn unauthenticated_route_ignores_overrides_unless_allowed() {
    // The override names a resource the issuer does not know: honoured, it fails; ignored, the
    // configured API's token comes back.
    let path = "/AuthorizationHeaderUnauthenticated/appapi?optionsOverride.Scopes=api%3A%2F%2Funknown-api%2F.default";
    let w = World::start().await;
    let r = w.get(path, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        payload(&header_token(&r.json()))["aud"],
        defaults::DEV_API_CLIENT_ID
    );

    let w = World::start_with(|doc| {
        doc["Sidecar"] = json!({"AllowOverrides": {"GetAuthorizationHeaderUnauthenticated": true}});
    })
    .await;
    let r = w.get(path, None).await;
    r.assert_problem(401, "AADSTS500011");
}

#[tokio::test]
async fn authenticated_route_can_have_its_overrides_switched_off() {
    let w = World::start_with(|doc| {
        doc["Sidecar"] = json!({"AllowOverrides": {"GetAuthorizationHeader": false}});
    })
    .await;
    let alice = w.token(defaults::ALICE_USERNAME);
    let path = format!(
        "/AuthorizationHeader/downstream?optionsOverride.RequestAppToken=true&optionsOverride.Scopes={}",
        urlencode(APP_DEFAULT)
    );
    let r = w.get(&path, Some(&alice)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let claims = payload(&header_token(&r.json()));
    assert_eq!(
        claims["oid"],
        defaults::ALICE_OID,
        "still on behalf of alice"
    );
}

#[tokio::test]
async fn claims_challenge_surfaces_as_401_with_the_providers_message() {
    let issuer = DevIssuerConfig::default();
    let w = World::start_full(issuer, |_| {}, &[], "Production").await;
    w.dev
        .issuer
        .set_switches(Switches {
            mfa_required: vec![MfaDemand::new(defaults::DEV_DOWNSTREAM_API_CLIENT_ID)],
            ..Switches::default()
        })
        .unwrap();
    let alice = w.token(defaults::ALICE_USERNAME);
    let r = w.get("/AuthorizationHeader/downstream", Some(&alice)).await;
    r.assert_problem(401, "AADSTS50076");
    let r = w
        .post("/DownstreamApi/downstream", Some(&alice), None)
        .await;
    r.assert_problem(401, "AADSTS50076");
    assert_eq!(
        w.downstream.seen().len(),
        0,
        "no downstream call without a token"
    );
}

#[tokio::test]
async fn consent_required_surfaces_as_401_naming_aadsts65001() {
    let w = World::start().await;
    w.dev
        .issuer
        .set_switches(Switches {
            consent_required: vec![defaults::DEV_DOWNSTREAM_API_CLIENT_ID.into()],
            ..Switches::default()
        })
        .unwrap();
    let alice = w.token(defaults::ALICE_USERNAME);
    let r = w.get("/AuthorizationHeader/downstream", Some(&alice)).await;
    r.assert_problem(401, "AADSTS65001");
}

#[tokio::test]
async fn app_only_caller_cannot_get_an_on_behalf_of_token() {
    let w = World::start().await;
    let app = w.mint(entra_dev::TokenRequest {
        subject: entra_dev::Subject::App {
            client_id: defaults::DEV_DAEMON_CLIENT_ID.into(),
        },
        roles: vec![defaults::ROLE_READ_ALL.into()],
        ..entra_dev::TokenRequest::default()
    });
    let r = w.get("/AuthorizationHeader/downstream", Some(&app)).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.header("content-type"), "application/problem+json");
}

#[tokio::test]
async fn two_sidecars_on_one_redis_share_downstream_tokens() {
    let Ok(redis_url) = std::env::var("TEST_REDIS_URL") else {
        eprintln!("skipped: set TEST_REDIS_URL");
        return;
    };
    let w = World::start().await;
    let prefix = format!("sidecar-test-{}-{}:", std::process::id(), uuid_like());
    let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes, base64
    let env = [
        ("TokenCache__Redis__ConnectionString", redis_url.as_str()),
        ("TokenCache__Redis__EncryptionKey", key),
        ("TokenCache__Redis__KeyPrefix", prefix.as_str()),
    ];
    let doc = crate::harness::base_config(w.dev.url().as_str(), &w.downstream.url);
    let (first, _stop1) = spawn_sidecar(&doc, &env, "Production").await;
    let (second, _stop2) = spawn_sidecar(&doc, &env, "Production").await;
    let alice = w.token(defaults::ALICE_USERNAME);
    let get = |base: &str| {
        w.http
            .get(format!("{base}/AuthorizationHeader/downstream"))
            .bearer_auth(&alice)
            .send()
    };
    let one: serde_json::Value = get(&first).await.unwrap().json().await.unwrap();
    let before = w.token_requests();
    let two: serde_json::Value = get(&second).await.unwrap().json().await.unwrap();
    assert_eq!(
        w.token_requests(),
        before,
        "the second sidecar made no token request"
    );
    assert_eq!(one["authorizationHeader"], two["authorizationHeader"]);
    let metrics = w
        .http
        .get(format!("{second}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sidecar_token_cache_hits_total{level=\"redis\"} 1"),
        "{metrics}"
    );
    // The value stored in Redis is not the token in clear.
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!keys.is_empty(), "a shared entry under {prefix}");
    let token = header_token(&one);
    for k in &keys {
        let v: Vec<u8> = redis::cmd("GET")
            .arg(k)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(
            !String::from_utf8_lossy(&v).contains(&token[..40]),
            "token stored in clear"
        );
        let _: () = redis::cmd("DEL")
            .arg(k)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

pub(crate) fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn redis_down_still_serves_tokens_from_memory_and_the_issuer() {
    // A port nothing listens on: the shared cache is down from the start.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("redis://127.0.0.1:{port}");
    let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let w = World::start_full(
        DevIssuerConfig::default(),
        |_| {},
        &[
            ("TokenCache__Redis__ConnectionString", url.as_str()),
            ("TokenCache__Redis__EncryptionKey", key),
        ],
        "Production",
    )
    .await;
    let alice = w.token(defaults::ALICE_USERNAME);
    let first = w.get("/AuthorizationHeader/downstream", Some(&alice)).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let before = w.token_requests();
    let second = w.get("/AuthorizationHeader/downstream", Some(&alice)).await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_eq!(second.json(), first.json(), "served from memory");
    assert_eq!(w.token_requests(), before);
}

/// The development issuer with the sidecar's app registered by `cert` instead of its secret.
fn issuer_trusting(cert: &entra_dev::GeneratedCertificate) -> DevIssuerConfig {
    let mut config = DevIssuerConfig::default();
    let api = config
        .clients
        .iter_mut()
        .find(|c| c.client_id == defaults::DEV_API_CLIENT_ID)
        .unwrap();
    api.secret = None;
    api.certificates = vec![cert.certificate.clone()];
    config
}

#[tokio::test]
async fn path_credential_with_a_pfx_and_certificate_password_gets_tokens() {
    use entra_dev::{CertificateFileFormat, GeneratedCertificate};
    let cert =
        GeneratedCertificate::generate("sidecar", std::time::Duration::from_secs(86_400)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pfx = dir.path().join("sidecar.pfx");
    std::fs::write(
        &pfx,
        cert.to_file(CertificateFileFormat::Pfx, Some("pfx-pass"))
            .unwrap(),
    )
    .unwrap();
    let encrypted_pem = cert
        .to_file(CertificateFileFormat::EncryptedPem, Some("pem-pass"))
        .unwrap();
    use base64::Engine as _;
    let base64 = base64::engine::general_purpose::STANDARD.encode(encrypted_pem);
    for source in [
        json!({ "SourceType": "Path", "CertificateDiskPath": pfx, "CertificatePassword": "pfx-pass" }),
        json!({ "SourceType": "Base64Encoded", "Base64EncodedValue": base64, "CertificatePassword": "pem-pass" }),
    ] {
        let w = World::start_full(
            issuer_trusting(&cert),
            |doc| doc["AzureAd"]["ClientCredentials"] = json!([source]),
            &[],
            "Production",
        )
        .await;
        let alice = w.token(defaults::ALICE_USERNAME);
        let r = w.get("/AuthorizationHeader/appapi", Some(&alice)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let claims = payload(&header_token(&r.json()));
        assert_eq!(claims["azp"], defaults::DEV_API_CLIENT_ID);
        assert_eq!(
            claims["azpacr"], "2",
            "authenticated by certificate: {claims}"
        );
    }
}

#[tokio::test]
async fn path_credential_with_a_wrong_certificate_password_stops_start_up_naming_the_entry() {
    use entra_dev::{CertificateFileFormat, GeneratedCertificate};
    let cert =
        GeneratedCertificate::generate("sidecar", std::time::Duration::from_secs(86_400)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pfx = dir.path().join("sidecar.pfx");
    std::fs::write(
        &pfx,
        cert.to_file(CertificateFileFormat::Pfx, Some("correct-pfx-pass"))
            .unwrap(),
    )
    .unwrap();
    let mut config = entra_sidecar::config::Configuration::new();
    let mut doc = crate::harness::base_config("http://127.0.0.1:9/", "http://127.0.0.1:9/");
    doc["AzureAd"]["ClientCredentials"] = json!([
        { "SourceType": "Path", "CertificateDiskPath": pfx, "CertificatePassword": "wrong-one" }
    ]);
    config
        .add_json("appsettings.json", &doc.to_string())
        .unwrap();
    let settings = entra_sidecar::Settings::from_configuration(
        &config,
        crate::harness::environment_named("Production"),
    )
    .unwrap();
    let Err(err) = entra_sidecar::Sidecar::build(settings).await else {
        panic!("a wrong CertificatePassword must stop start-up");
    };
    let text = err.to_string();
    assert!(text.contains("AzureAd:ClientCredentials:0"), "{text}");
    assert!(text.contains("password does not decrypt"), "{text}");
    assert!(
        !text.contains("wrong-one") && !text.contains("correct-pfx-pass"),
        "{text}"
    );
}

/// The development issuer with the API's secret removed: only its federated credentials (the
/// development managed identities, trusted by default) authenticate it.
fn issuer_without_the_api_secret() -> DevIssuerConfig {
    let mut config = DevIssuerConfig::default();
    let api = config
        .clients
        .iter_mut()
        .find(|c| c.client_id == defaults::DEV_API_CLIENT_ID)
        .unwrap();
    api.secret = None;
    config
}

#[tokio::test]
async fn signed_assertion_from_managed_identity_gets_app_and_on_behalf_of_tokens() {
    for source in [
        json!({ "SourceType": "SignedAssertionFromManagedIdentity" }),
        json!({
            "SourceType": "SignedAssertionFromManagedIdentity",
            "ManagedIdentityClientId": defaults::DEV_USER_MI_CLIENT_ID,
            "TokenExchangeUrl": "api://AzureADTokenExchange",
        }),
    ] {
        let w = World::start_full(
            issuer_without_the_api_secret(),
            |doc| {
                doc["AzureAd"]["ClientCredentials"] = json!([source]);
                // The platform's variable (a VM's IMDS moved to the development issuer), as the
                // environment would hold it.
                doc["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = doc["AzureAd"]["Instance"].clone();
            },
            &[],
            "Production",
        )
        .await;
        let alice = w.token(defaults::ALICE_USERNAME);
        let r = w.get("/AuthorizationHeader/appapi", Some(&alice)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let claims = payload(&header_token(&r.json()));
        assert_eq!(claims["azp"], defaults::DEV_API_CLIENT_ID);
        assert_eq!(
            claims["azpacr"], "2",
            "authenticated by an assertion: {claims}"
        );
        let r = w.get("/AuthorizationHeader/downstream", Some(&alice)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            payload(&header_token(&r.json()))["oid"],
            defaults::ALICE_OID
        );
        let stats = w.dev.issuer.stats();
        assert_eq!(stats.client_credentials_requests, 1);
        assert_eq!(stats.on_behalf_of_requests, 1);
        assert_eq!(
            stats.managed_identity_requests, 1,
            "one managed identity token for both"
        );
    }
}

#[tokio::test]
async fn managed_identity_endpoint_down_answers_503_naming_the_source() {
    let w = World::start_full(
        issuer_without_the_api_secret(),
        |doc| {
            doc["AzureAd"]["ClientCredentials"] =
                json!([{ "SourceType": "SignedAssertionFromManagedIdentity" }]);
            doc["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = doc["AzureAd"]["Instance"].clone();
        },
        &[],
        "Production",
    )
    .await;
    w.dev.issuer.fail_managed_identity(500, 1000).unwrap();
    let alice = w.token(defaults::ALICE_USERNAME);
    let r = w.get("/AuthorizationHeader/appapi", Some(&alice)).await;
    r.assert_problem(503, "instance metadata service");
    assert_eq!(w.dev.issuer.stats().client_credentials_requests, 0);
}
