//! The routes' statuses, headers and bodies as Microsoft's sidecar answers them.

use entra_dev::{defaults, Subject, TokenRequest};
use serde_json::json;

use crate::harness::{payload, World, DOWNSTREAM_READ};

#[tokio::test]
async fn validate_without_token_is_401_with_a_bare_challenge_and_empty_body() {
    let w = World::start().await;
    let r = w.get("/Validate", None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), "Bearer");
    assert_eq!(r.text, "");
    assert_eq!(
        r.header("cache-control"),
        "",
        "no-store is for successes only"
    );
}

#[tokio::test]
async fn validate_with_a_tampered_token_is_401_invalid_token_and_empty_body() {
    let w = World::start().await;
    let token = format!("{}x", w.token(defaults::ALICE_USERNAME));
    let r = w.get("/Validate", Some(&token)).await;
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .starts_with("Bearer error=\"invalid_token\""),
        "{:?}",
        r.headers
    );
    assert_eq!(r.text, "");
}

#[tokio::test]
async fn validate_returns_protocol_token_and_claims_with_no_store_headers() {
    let w = World::start().await;
    let token = w.token(defaults::ALICE_USERNAME);
    let r = w.get("/Validate", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), "application/json");
    r.assert_no_store();
    let body = r.json();
    assert_eq!(body["protocol"], "Bearer");
    assert_eq!(body["token"], token);
    assert_eq!(body["claims"], payload(&token));
    assert_eq!(body["claims"]["oid"], defaults::ALICE_OID);
}

#[tokio::test]
async fn paths_and_route_names_are_case_insensitive() {
    let w = World::start().await;
    let token = w.token(defaults::ALICE_USERNAME);
    for path in ["/validate", "/VALIDATE", "/vAlIdAtE"] {
        let r = w.get(path, Some(&token)).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_eq!(r.json()["protocol"], "Bearer");
    }
    let r = w.get("/authorizationheader/DOWNSTREAM", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn wrong_method_is_405_and_unknown_path_is_404() {
    let w = World::start().await;
    let r = w.post("/Validate", None, None).await;
    assert_eq!(r.status, 405);
    let r = w.get("/DownstreamApi/downstream", None).await;
    assert_eq!(r.status, 405);
    let r = w.get("/nothing/here", None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.text, "");
}

#[tokio::test]
async fn token_without_scp_or_roles_is_accepted_as_acl_mode_forces() {
    let w = World::start().await;
    let token = w.mint(TokenRequest {
        subject: Subject::User(defaults::ALICE_USERNAME.into()),
        ..TokenRequest::default()
    });
    assert!(payload(&token).get("scp").is_none() && payload(&token).get("roles").is_none());
    let r = w.get("/Validate", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn configured_scopes_are_enforced_on_validate_only() {
    let w = World::start_with(|doc| {
        doc["AzureAd"]["Scopes"] = json!("weather.write access_as_user");
    })
    .await;
    let reader = w.token(defaults::ALICE_USERNAME);
    let r = w.get("/Validate", Some(&reader)).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.starts_with("IDW10203"), "{}", r.text);
    assert!(
        r.header("www-authenticate")
            .contains("error=\"insufficient_scope\""),
        "{:?}",
        r.headers
    );
    let writer = w.mint(TokenRequest {
        subject: Subject::User(defaults::ALICE_USERNAME.into()),
        scopes: vec![defaults::SCOPE_WRITE.into()],
        ..TokenRequest::default()
    });
    assert_eq!(w.get("/Validate", Some(&writer)).await.status, 200);
    // The same reader token may still ask for a downstream token.
    assert_eq!(
        w.get("/AuthorizationHeader/downstream", Some(&reader))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn unknown_api_is_400_no_scopes_found() {
    let w = World::start().await;
    let token = w.token(defaults::ALICE_USERNAME);
    let r = w.get("/AuthorizationHeader/nosuchapi", Some(&token)).await;
    r.assert_problem(
        400,
        "No scopes found for the API 'nosuchapi' or in optionsOverride.",
    );
    assert_eq!(r.json()["instance"], "/AuthorizationHeader/nosuchapi");
    let r = w
        .post("/DownstreamApiUnauthenticated/nosuchapi", None, None)
        .await;
    r.assert_problem(400, "No scopes found for the API 'nosuchapi'");
}

#[tokio::test]
async fn healthz_is_healthy_text() {
    let w = World::start().await;
    let r = w.get("/healthz", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "text/plain");
    assert_eq!(r.text, "Healthy");
    r.assert_no_store();
}

#[tokio::test]
async fn readyz_answers_503_naming_the_keys_until_they_load() {
    let dev = entra_dev::DevIssuer::spawn(entra_dev::DevIssuerConfig::default())
        .await
        .unwrap();
    dev.issuer.set_outage(true);
    let downstream = crate::harness::Downstream::start().await;
    let doc = crate::harness::base_config(dev.url().as_str(), &downstream.url);
    let mut config = entra_sidecar::config::Configuration::new();
    config
        .add_json("appsettings.json", &doc.to_string())
        .unwrap();
    let settings = entra_sidecar::Settings::from_configuration(
        &config,
        entra_sidecar::settings::Environment::new("Production"),
    )
    .unwrap();
    let sidecar = entra_sidecar::Sidecar::build(settings).await.unwrap();
    let url = format!("http://{}", sidecar.local_addrs()[0]);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let validator = sidecar.state().validator().clone();
    tokio::spawn(sidecar.run_until(async move {
        let _ = rx.await;
    }));
    let http = reqwest::Client::new();
    let r = http.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "not ready");
    assert!(
        body["missing"][0]
            .as_str()
            .unwrap()
            .contains("signing keys"),
        "{body}"
    );
    // Liveness stays compatible: Healthy while not ready.
    assert_eq!(
        http.get(format!("{url}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let token = dev
        .issuer
        .mint(&TokenRequest {
            subject: Subject::User("alice".into()),
            ..TokenRequest::default()
        })
        .unwrap();
    let r = http
        .get(format!("{url}/Validate"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503, "no keys: not the caller's fault");
    dev.issuer.set_outage(false);
    validator.ready().await;
    let r = http.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("{url}/Validate"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = tx.send(());
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_token_cache_levels() {
    let w = World::start().await;
    let token = w.token(defaults::ALICE_USERNAME);
    w.get("/Validate", None).await;
    w.get("/Validate", Some(&token)).await;
    w.get("/AuthorizationHeader/downstream", Some(&token)).await;
    w.get("/AuthorizationHeader/downstream", Some(&token)).await;
    let r = w.get("/metrics", None).await;
    assert_eq!(r.status, 200);
    assert!(
        r.text
            .contains("sidecar_requests_total{route=\"Validate\",status=\"401\"} 1"),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains("sidecar_requests_total{route=\"Validate\",status=\"200\"} 1"),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains("sidecar_requests_total{route=\"AuthorizationHeader\",status=\"200\"} 2"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("sidecar_token_requests_total 1"),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains("sidecar_token_cache_hits_total{level=\"memory\"} 1"),
        "{}",
        r.text
    );
    assert!(!r.text.contains(&token), "never a token in metrics");
    let _ = DOWNSTREAM_READ;
}
