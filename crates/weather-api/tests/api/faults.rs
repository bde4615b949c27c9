//! Faults at the service level: identity-provider outages, key rotation, unknown-kid floods and
//! malformed key documents (through the development issuer's fault injection), OpenWeatherMap down or
//! answering garbage while the cache is fresh, and the database becoming unavailable.

use std::time::{Duration, Instant};

use entra_dev::defaults::{DEV_API_CLIENT_ID, DEV_TENANT_ID};
use entra_dev::{DevIssuer, DevIssuerConfig};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{
    problem, report_body, spawn_app, spawn_app_with, Persona, TestApp, TestConfig,
};

/// A token naming `kid` (the key lookup fails before the signature is looked at).
fn with_kid(token: &str, kid: &str) -> String {
    use base64::Engine as _;
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid}).to_string();
    let mut parts = token.splitn(2, '.');
    let _ = parts.next();
    format!(
        "{}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header),
        parts.next().unwrap()
    )
}

/// Key-set fetches made by one refresh of every metadata source (the warm-up is one).
fn key_fetches(app: &TestApp) -> u64 {
    app.issuer.issuer.stats().key_requests
}

/// Polls `path` with `token` until it answers `status` (bounded).
async fn eventually(app: &TestApp, path: &str, token: Option<&str>, status: u16, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        if app.get(path, token).await.status().as_u16() == status {
            return;
        }
        assert!(Instant::now() < deadline, "{path} never answered {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn identity_provider_outage_at_start_then_recovery_by_itself() {
    let issuer = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    issuer.issuer.set_outage(true);
    let mut config = TestConfig::new();
    config.issuer = Some(issuer);
    config.warm_up = false;
    let app = spawn_app_with(config).await;
    let token = app.token(Persona::Reader).unwrap();
    let response = app.get("/api/reports", Some(&token)).await;
    assert_eq!(response.status().as_u16(), 503);
    let body = problem(response).await;
    assert_eq!(body["code"], "keys_unavailable");
    // a clear message: what is missing and to try again; where keys come from is configuration
    // (it goes to the log), and never a token
    let detail = body["detail"].as_str().unwrap();
    assert_eq!(
        detail,
        "signing keys not yet available: the identity provider's metadata and keys have not been loaded; try again shortly"
    );
    assert!(
        !detail.contains(&app.issuer.issuer.instance().to_string()),
        "{detail}"
    );
    assert!(!detail.contains(&token[..20]));
    // The provider comes back; nobody calls warm_up: the background refresh (retry with backoff)
    // loads the keys and the same token is accepted.
    app.issuer.issuer.set_outage(false);
    eventually(
        &app,
        "/api/reports",
        Some(&token),
        200,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(app.get("/readyz", None).await.status().as_u16(), 200);
}

#[tokio::test]
async fn mistyped_tenant_id_is_a_configuration_error_named_in_the_log_and_readiness_not_an_outage()
{
    // A valid GUID that is no tenant: the development issuer answers its metadata as Entra does,
    // 400 `invalid_tenant` with "AADSTS90002: Tenant '...' not found".
    let mistyped = uuid::Uuid::new_v4().to_string();
    let mut config = TestConfig::new().set("AZURE_AD__TENANT_ID", &mistyped);
    config.warm_up = false;
    let app = spawn_app_with(config).await;
    let instance = app.issuer.issuer.instance().to_string();
    // Readiness names the setting once the first refresh is refused (hang guard only).
    let deadline = Instant::now() + Duration::from_secs(30);
    let readiness = loop {
        let response = app.get("/readyz", None).await;
        assert_eq!(response.status().as_u16(), 503);
        let body: Value = response.json().await.unwrap();
        if body.get("configuration_error").is_some() {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "readiness never named a configuration error: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(readiness["missing"], json!(["signing_keys"]));
    let named = readiness["configuration_error"].as_str().unwrap();
    assert!(
        named.starts_with("azure_ad.tenant_id: the identity provider refused this authority"),
        "{named}"
    );
    assert!(named.contains("AADSTS90002"), "{named}");
    // the anonymous answers carry neither the value nor where keys come from
    for text in [named.to_owned(), readiness.to_string()] {
        assert!(!text.contains(&mistyped), "{text}");
        assert!(!text.contains(&instance), "{text}");
    }
    let token = app.token(Persona::Reader).unwrap();
    let response = app.get("/api/reports", Some(&token)).await;
    assert_eq!(response.status().as_u16(), 503);
    let body = problem(response).await.to_string();
    assert!(
        !body.contains(&instance) && !body.contains(&mistyped),
        "{body}"
    );
    // The log: one ERROR naming the key with the provider's own words, and no "last good keys"
    // (there never were any).
    let deadline = Instant::now() + Duration::from_secs(30);
    let ours = loop {
        let ours: Vec<String> = crate::logging::capture()
            .text()
            .lines()
            .filter(|l| l.contains(&mistyped))
            .map(str::to_owned)
            .collect();
        if ours.iter().any(|l| l.contains("ERROR")) {
            break ours;
        }
        assert!(Instant::now() < deadline, "no ERROR logged: {ours:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let errors: Vec<&String> = ours.iter().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let error = errors[0];
    assert!(error.contains("setting=azure_ad.tenant_id"), "{error}");
    assert!(
        error.contains(&format!("AADSTS90002: Tenant '{mistyped}' not found")),
        "{error}"
    );
    assert!(error.contains("status=400"), "{error}");
    assert!(
        !ours
            .iter()
            .any(|l| l.contains("keeping the last good keys")),
        "{ours:#?}"
    );
    assert!(
        ours.iter()
            .any(|l| l.contains("WARN") && l.contains("no keys loaded yet")),
        "{ours:#?}"
    );
    assert_eq!(
        app.validator.configuration_error().unwrap().code(),
        Some(90_002)
    );
}

#[tokio::test]
async fn mistyped_tenant_refused_after_an_identity_provider_outage_at_start_is_still_one_error() {
    let issuer = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    issuer.issuer.set_outage(true);
    let mistyped = uuid::Uuid::new_v4().to_string();
    let mut config = TestConfig::new().set("AZURE_AD__TENANT_ID", &mistyped);
    config.issuer = Some(issuer);
    config.warm_up = false;
    let app = spawn_app_with(config).await;
    // The first refresh meets the outage (503): no configuration error yet.
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.issuer.issuer.stats().metadata_requests == 0 {
        assert!(Instant::now() < deadline, "no metadata request");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.validator.first_refresh_done().await;
    assert!(app.validator.configuration_error().is_none());
    // The identity provider comes back and refuses the tenant: one ERROR naming the key.
    app.issuer.issuer.set_outage(false);
    let deadline = Instant::now() + Duration::from_secs(60);
    let errors = loop {
        let errors: Vec<String> = crate::logging::capture()
            .text()
            .lines()
            .filter(|l| l.contains(&mistyped) && l.contains("ERROR"))
            .map(str::to_owned)
            .collect();
        if !errors.is_empty() {
            break errors;
        }
        assert!(
            Instant::now() < deadline,
            "no ERROR logged after the outage"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains("setting=azure_ad.tenant_id"),
        "{errors:#?}"
    );
    assert!(errors[0].contains("AADSTS90002"), "{errors:#?}");
    let readiness: Value = app.get("/readyz", None).await.json().await.unwrap();
    assert!(
        readiness["configuration_error"]
            .as_str()
            .unwrap()
            .starts_with("azure_ad.tenant_id: "),
        "{readiness}"
    );
}

#[tokio::test]
async fn instance_with_a_tenant_path_is_refused_at_start_naming_azure_ad_instance() {
    for instance in [
        format!("https://login.microsoftonline.com/{DEV_TENANT_ID}/"),
        format!("https://login.microsoftonline.com/{DEV_TENANT_ID}/v2.0"),
        "https://login.microsoftonline.com/contoso.onmicrosoft.com".to_owned(),
        "https://login.microsoftonline.com/common/".to_owned(),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let env = [
            ("WEATHER_API__AZURE_AD__TENANT_ID", DEV_TENANT_ID),
            ("WEATHER_API__AZURE_AD__CLIENT_ID", DEV_API_CLIENT_ID),
            ("WEATHER_API__AZURE_AD__INSTANCE", instance.as_str()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let err = weather_api::Settings::load(None, dir.path(), env)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("azure_ad.instance: "), "{instance}: {err}");
        assert!(
            err.contains(
                "the instance is the cloud's base URL (https://login.microsoftonline.com/"
            ),
            "{err}"
        );
        assert!(err.contains("put the tenant in tenant_id"), "{err}");
    }
}

#[tokio::test]
async fn identity_provider_outage_after_warm_up_rejects_no_valid_request() {
    let app = spawn_app().await;
    app.issuer.issuer.set_outage(true);
    let mut ok = 0;
    for persona in [Persona::Reader, Persona::Daemon].repeat(10) {
        let r = app.get_as(persona, "/api/reports").await;
        assert_eq!(r.status().as_u16(), 200);
        ok += 1;
    }
    assert_eq!(ok, 20);
    // an unknown kid during the outage: 401 (the key is unknown), never 5xx
    let forged = with_kid(
        &app.token(Persona::Reader).unwrap(),
        "rotated-during-outage",
    );
    let r = app.get("/api/reports", Some(&forged)).await;
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(problem(r).await["code"], "unknown_signing_key");
    // still 200 afterwards, readiness unchanged (the last good keys are kept)
    assert_eq!(
        app.get_as(Persona::Writer, "/api/reports")
            .await
            .status()
            .as_u16(),
        403
    );
    assert_eq!(
        app.get_as(Persona::Reader, "/api/reports")
            .await
            .status()
            .as_u16(),
        200
    );
    assert_eq!(app.get("/readyz", None).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn key_rotation_rejects_no_valid_request_and_refreshes_once() {
    let app = spawn_app().await;
    let per_refresh = key_fetches(&app);
    assert!(per_refresh >= 1);
    let old = app.token(Persona::Reader).unwrap();
    app.issuer.issuer.rotate_key().unwrap();
    let new = app.token(Persona::Reader).unwrap();
    // 32 concurrent requests with the new key's token, 32 with the old one (still published)
    let mut set = tokio::task::JoinSet::new();
    for i in 0..64 {
        let token = if i % 2 == 0 { new.clone() } else { old.clone() };
        let (client, url) = (app.client.clone(), app.url("/api/reports"));
        set.spawn(async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let mut statuses = Vec::new();
    while let Some(s) = set.join_next().await {
        statuses.push(s.unwrap());
    }
    assert_eq!(statuses.len(), 64);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        key_fetches(&app) - per_refresh,
        per_refresh,
        "exactly one refresh for the new key"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_kid_flood_fetches_keys_at_most_once() {
    // 300 requests at once: above the default max_in_flight (256), so on a busy machine some were shed
    // (503 overloaded) before reaching the validator. This test is about key refreshes, not shedding.
    // Each request from its own client address (forwarded by the trusted proxy, the test): one address
    // would be over its invalid-token allowance after 100 and refused before key lookup (429).
    let app = spawn_app_with(
        TestConfig::new()
            .set("MAX_IN_FLIGHT", "1024")
            .set("TRUSTED_PROXIES", "127.0.0.1"),
    )
    .await;
    let per_refresh = key_fetches(&app);
    let good = app.token(Persona::Reader).unwrap();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..300 {
        let token = with_kid(&good, &format!("flood-{i}-{}", uuid::Uuid::new_v4()));
        let (client, url) = (app.client.clone(), app.url("/api/reports"));
        set.spawn(async move {
            client
                .get(url)
                .header("x-forwarded-for", format!("2001:db8:{i:x}::1"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let mut refused = 0;
    while let Some(s) = set.join_next().await {
        assert_eq!(s.unwrap(), 401);
        refused += 1;
    }
    assert_eq!(refused, 300);
    let extra = key_fetches(&app) - per_refresh;
    assert!(
        extra <= per_refresh,
        "{extra} key fetches for 300 unknown kids"
    );
    assert_eq!(
        app.get("/api/reports", Some(&good)).await.status().as_u16(),
        200
    );
}

#[tokio::test]
async fn malformed_key_document_keeps_the_last_good_keys() {
    let app = spawn_app().await;
    let good = app.token(Persona::Reader).unwrap();
    for garbage in [
        "{not json",
        r#"{"keys": []}"#,
        r#"{"keys": [{"kty": "RSA", "n": 5}]}"#,
        "[]",
    ] {
        app.issuer
            .issuer
            .set_key_document_override(Some(garbage.to_owned()));
        // force a refresh (unknown kid) that reads the garbage
        let forced = with_kid(&good, &format!("new-{}", uuid::Uuid::new_v4()));
        let r = app.get("/api/reports", Some(&forced)).await;
        assert_eq!(r.status().as_u16(), 401, "{garbage}");
        let r = app.get("/api/reports", Some(&good)).await;
        assert_eq!(r.status().as_u16(), 200, "{garbage}");
    }
    assert_eq!(app.get("/readyz", None).await.status().as_u16(), 200);
}

#[tokio::test]
async fn openweather_down_or_garbage_gives_502_while_fresh_cache_is_still_served() {
    let app = spawn_app().await;
    app.mock_weather_ok().await;
    let cached = app.get_as(Persona::Reader, "/api/weather/portland").await;
    assert_eq!(cached.status().as_u16(), 200);
    let cached: Value = cached.json().await.unwrap();
    assert_eq!(app.upstream_hits().await, 1);

    for (status, body, code) in [
        (500, "oops", "upstream_error"),
        (200, "<html>not json</html>", "upstream_error"),
        (200, r#"{"main": "not an object"}"#, "upstream_error"),
        (503, "", "upstream_error"),
    ] {
        app.upstream.reset().await;
        Mock::given(method("GET"))
            .and(path("/data/2.5/weather"))
            .respond_with(ResponseTemplate::new(status).set_body_string(body))
            .mount(&app.upstream)
            .await;
        let fresh = app.get_as(Persona::Reader, "/api/weather/portland").await;
        assert_eq!(
            fresh.status().as_u16(),
            200,
            "cache not served with {status} {body}"
        );
        assert_eq!(fresh.json::<Value>().await.unwrap(), cached);
        let uncached = app.get_as(Persona::Reader, "/api/weather/seattle").await;
        assert_eq!(uncached.status().as_u16(), 502, "{status} {body}");
        assert_eq!(problem(uncached).await["code"], code);
    }
}

#[tokio::test]
async fn slow_openweather_is_bounded_by_its_timeout_and_cache_still_served() {
    let app = spawn_app_with(TestConfig::new().set("OPENWEATHER_TIMEOUT_MS", "300")).await;
    app.mock_weather_ok().await;
    assert_eq!(
        app.get_as(Persona::Reader, "/api/weather/portland")
            .await
            .status()
            .as_u16(),
        200
    );
    app.upstream.reset().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&app.upstream)
        .await;
    let started = Instant::now();
    let r = app.get_as(Persona::Reader, "/api/weather/seattle").await;
    assert_eq!(r.status().as_u16(), 504);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        app.get_as(Persona::Reader, "/api/weather/portland")
            .await
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn sqlite_locked_by_another_writer_answers_503_and_acknowledges_nothing_unstored() {
    let app = spawn_app().await;
    let first = app
        .post_report_as(Persona::Writer, &report_body("Before the lock", "Portland"))
        .await;
    assert_eq!(first.status().as_u16(), 201);
    // Another process takes the write lock and keeps it (busy_timeout is 5 s).
    let path = app.db_path();
    let other = tokio::task::spawn_blocking(move || {
        let other = rusqlite::Connection::open(path).unwrap();
        other.execute_batch("BEGIN EXCLUSIVE").unwrap();
        other
    })
    .await
    .unwrap();

    let refused = app
        .post_report_as(Persona::Writer, &report_body("During the lock", "Portland"))
        .await;
    assert_eq!(refused.status().as_u16(), 503);
    let body = problem(refused).await;
    assert_eq!(body["code"], "database_unavailable");
    assert!(
        !body.to_string().contains("locked"),
        "internal error text leaked: {body}"
    );

    tokio::task::spawn_blocking(move || {
        other.execute_batch("ROLLBACK").unwrap();
        other.close().unwrap();
    })
    .await
    .unwrap();
    let after = app
        .post_report_as(Persona::Writer, &report_body("After the lock", "Portland"))
        .await;
    assert_eq!(after.status().as_u16(), 201);
    let list: Vec<Value> = app
        .get_as(Persona::Reader, "/api/reports")
        .await
        .json()
        .await
        .unwrap();
    let descriptions: Vec<&str> = list
        .iter()
        .map(|r| r["description"].as_str().unwrap())
        .collect();
    assert_eq!(descriptions, ["After the lock", "Before the lock"]);
}

#[tokio::test]
async fn postgres_schema_dropped_answers_503_and_stores_nothing() {
    let Some((url, schema)) = crate::store::postgres_schema().await else {
        return;
    };
    let app = spawn_app_with(TestConfig::new().set("DATABASE_URL", &url)).await;
    let ok = app
        .post_report_as(Persona::Writer, &report_body("Stored", "Denver"))
        .await;
    assert_eq!(ok.status().as_u16(), 201);
    crate::store::drop_schema(&schema).await;
    let refused = app
        .post_report_as(Persona::Writer, &report_body("Lost", "Denver"))
        .await;
    assert_eq!(refused.status().as_u16(), 503);
    assert_eq!(problem(refused).await["code"], "database_unavailable");
    let listed = app.get_as(Persona::Reader, "/api/reports").await;
    assert_eq!(listed.status().as_u16(), 503);
}

#[tokio::test]
async fn postgres_on_a_closed_port_stops_start_up_with_a_message_naming_the_setting() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let settings = weather_api::Settings::load(
        None,
        std::env::temp_dir().as_path(),
        [
            ("WEATHER_API__BIND".to_owned(), "127.0.0.1:0".to_owned()),
            (
                "WEATHER_API__AZURE_AD__INSTANCE".to_owned(),
                "http://127.0.0.1:9/".to_owned(),
            ),
            (
                "WEATHER_API__AZURE_AD__TENANT_ID".to_owned(),
                DEV_TENANT_ID.to_owned(),
            ),
            (
                "WEATHER_API__AZURE_AD__CLIENT_ID".to_owned(),
                DEV_API_CLIENT_ID.to_owned(),
            ),
            (
                "WEATHER_API__DATABASE_URL".to_owned(),
                format!("postgres://nobody:secret-pw@127.0.0.1:{port}/weather"),
            ),
        ],
    )
    .unwrap();
    let started = Instant::now();
    let err = weather_api::Application::build(settings).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(30));
    let text = err.to_string();
    assert!(text.starts_with("database_url:"), "{text}");
    assert!(!format!("{err:?}").contains("secret-pw"), "{err:?}");
}
