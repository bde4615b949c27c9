//! Operations: `/metrics` counts exactly what happened, `/readyz` names what is missing, `/metrics` can be
//! restricted, and `X-Forwarded-*` headers are believed only from trusted proxies.

use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{report_body, spawn_app, spawn_app_with, Persona, TestApp, TestConfig};

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics", None).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.unwrap()
}

/// The value of the one sample line `series` (name with labels), or None when absent.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

#[tokio::test]
async fn metrics_count_a_known_sequence_of_requests_exactly() {
    let app = spawn_app().await;
    app.mock_weather_ok().await;
    // One reader token throughout (the verified-token cache sees it once cold, then warm).
    let reader = app.token(Persona::Reader).unwrap();
    // 2 x 200, 1 x 401 missing_token, 1 x 403 insufficient_scope on the list route.
    for _ in 0..2 {
        assert_eq!(app.get("/api/reports", Some(&reader)).await.status(), 200);
    }
    assert_eq!(
        app.get_as(Persona::Anonymous, "/api/reports")
            .await
            .status(),
        401
    );
    assert_eq!(
        app.get_as(Persona::Writer, "/api/reports").await.status(),
        403
    );
    // One weather miss (upstream call), then one hit.
    for _ in 0..2 {
        let response = app
            .get("/api/weather/portland?state=OR&country=US", Some(&reader))
            .await;
        assert_eq!(response.status(), 200);
    }
    // One stored report; one unknown path.
    let created = app
        .post_report_as(Persona::Writer, &report_body("Foggy", "Salem"))
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(app.get("/no/such/page", None).await.status(), 404);

    let text = scrape(&app).await;
    let expect = |series: &str, n: f64| {
        assert_eq!(value(&text, series), Some(n), "{series} in\n{text}");
    };
    expect(
        r#"weather_api_http_requests_total{route="/api/reports",method="GET",status="200"}"#,
        2.0,
    );
    expect(
        r#"weather_api_http_requests_total{route="/api/reports",method="GET",status="401"}"#,
        1.0,
    );
    expect(
        r#"weather_api_http_requests_total{route="/api/reports",method="GET",status="403"}"#,
        1.0,
    );
    expect(
        r#"weather_api_http_requests_total{route="/api/reports",method="POST",status="201"}"#,
        1.0,
    );
    // The route template, not the raw path (bounded cardinality).
    expect(
        r#"weather_api_http_requests_total{route="/api/weather/{city}",method="GET",status="200"}"#,
        2.0,
    );
    expect(
        r#"weather_api_http_requests_total{route="unmatched",method="GET",status="404"}"#,
        1.0,
    );
    assert!(
        !text.contains("portland"),
        "raw path leaked into labels:\n{text}"
    );
    expect(
        r#"weather_api_http_request_duration_seconds_count{route="/api/reports",method="GET"}"#,
        4.0,
    );
    expect(
        r#"weather_api_http_request_duration_seconds_bucket{route="/api/reports",method="GET",le="+Inf"}"#,
        4.0,
    );
    // Auth: 2 list + 2 weather + 1 post accepted; one rejection per code.
    expect("entra_auth_tokens_accepted_total", 5.0);
    expect(
        r#"entra_auth_tokens_rejected_total{code="missing_token"}"#,
        1.0,
    );
    expect(
        r#"entra_auth_tokens_rejected_total{code="insufficient_scope"}"#,
        1.0,
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("entra_auth_tokens_rejected_total{"))
            .count(),
        2,
        "{text}"
    );
    // Warm-up fetched the metadata document and the key set once each.
    expect("entra_auth_key_fetches_total", 2.0);
    expect("entra_auth_key_fetch_failures_total", 0.0);
    assert!(
        value(&text, "entra_auth_key_age_seconds").is_some(),
        "{text}"
    );
    // Token cache: the reader token cold once then 3 hits; each writer token (fresh `uti`) cold.
    expect("entra_auth_token_cache_hits_total", 3.0);
    expect("entra_auth_token_cache_misses_total", 3.0);
    expect("weather_api_weather_cache_misses_total", 1.0);
    expect("weather_api_weather_cache_hits_total", 1.0);
    expect("weather_api_upstream_requests_total", 1.0);
    assert!(
        !text.contains("weather_api_upstream_failures_total{"),
        "{text}"
    );
    expect("weather_api_reports_stored_total", 1.0);
    assert_eq!(app.upstream_hits().await, 1);

    // The scrape itself is counted by the next scrape.
    let again = scrape(&app).await;
    assert_eq!(
        value(
            &again,
            r#"weather_api_http_requests_total{route="/metrics",method="GET",status="200"}"#
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn upstream_failures_are_counted_by_kind() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .up_to_n_times(1)
        .mount(&app.upstream)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&app.upstream)
        .await;
    let token = app.token(Persona::Reader);
    assert_eq!(
        app.get("/api/weather/atlantis", token.as_deref())
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get("/api/weather/paris", token.as_deref())
            .await
            .status(),
        502
    );
    let text = scrape(&app).await;
    assert_eq!(
        value(&text, "weather_api_upstream_requests_total"),
        Some(2.0)
    );
    assert_eq!(
        value(
            &text,
            r#"weather_api_upstream_failures_total{kind="city_not_found"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            r#"weather_api_upstream_failures_total{kind="status"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "weather_api_weather_cache_misses_total"),
        Some(2.0)
    );
}

#[tokio::test]
async fn each_app_has_its_own_metrics() {
    let first = spawn_app().await;
    first.get_as(Persona::Anonymous, "/api/reports").await;
    let second = spawn_app().await;
    let text = scrape(&second).await;
    assert_eq!(value(&text, "entra_auth_tokens_accepted_total"), Some(0.0));
    assert!(!text.contains("route=\"/api/reports\""), "{text}");
}

#[tokio::test]
async fn metrics_allow_refuses_other_clients_with_403() {
    let app = spawn_app_with(TestConfig::new().set("METRICS_ALLOW", "10.0.0.0/8")).await;
    let response = app.get("/metrics", None).await;
    assert_eq!(response.status().as_u16(), 403);
    let body = crate::helpers::problem(response).await;
    assert_eq!(body["code"], "metrics_forbidden");

    let app = spawn_app_with(TestConfig::new().set("METRICS_ALLOW", "127.0.0.1, ::1")).await;
    assert_eq!(app.get("/metrics", None).await.status().as_u16(), 200);
}

#[tokio::test]
async fn readyz_names_missing_signing_keys_with_503() {
    let issuer = entra_dev::DevIssuer::spawn(entra_dev::DevIssuerConfig::default())
        .await
        .unwrap();
    issuer.issuer.set_outage(true);
    let mut config = TestConfig::new();
    config.issuer = Some(issuer);
    config.warm_up = false;
    let app = spawn_app_with(config).await;
    let response = app.get("/readyz", None).await;
    assert_eq!(response.status().as_u16(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "not ready");
    assert_eq!(body["missing"], serde_json::json!(["signing_keys"]));
    assert_eq!(body["checks"]["database"], true);
}

#[tokio::test]
async fn readyz_names_a_missing_database_with_503() {
    let Some((url, schema)) = crate::store::postgres_schema().await else {
        return;
    };
    let app = spawn_app_with(TestConfig::new().set("DATABASE_URL", &url)).await;
    let ready: Value = app.get("/readyz", None).await.json().await.unwrap();
    assert_eq!(ready["missing"], serde_json::json!([]));
    // The database loses the service's tables (schema dropped under it).
    crate::store::drop_schema(&schema).await;
    // The check is cached (1 s), not kept: the outage shows once the cached answer ages out. The
    // 30 s bound only ends a hang.
    let started = std::time::Instant::now();
    let response = loop {
        let response = app.get("/readyz", None).await;
        if response.status().as_u16() != 200 || started.elapsed() > Duration::from_secs(30) {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(response.status().as_u16(), 503, "the outage never showed");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["missing"], serde_json::json!(["database"]));
    assert_eq!(body["checks"]["signing_keys"], true);
    app.stop().await;
}

/// Sends GET /healthz with a chosen request id and forwarded headers; returns the captured log line
/// fragment `request_id=... client_ip=...` for it.
async fn logged_client_ip(app: &TestApp) -> String {
    let request_id = uuid::Uuid::new_v4().to_string();
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", &request_id)
        .header("x-forwarded-for", "203.0.113.7")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let logs = crate::logging::capture().text();
    let needle = format!("request_id={request_id} client_ip=");
    let start = logs
        .find(&needle)
        .unwrap_or_else(|| panic!("no log for {request_id}:\n{logs}"));
    logs[start + needle.len()..]
        .split(|c: char| c == '}' || c.is_whitespace())
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app_with(TestConfig::new().set("TRUSTED_PROXIES", "10.0.0.0/8")).await;
    assert_eq!(logged_client_ip(&app).await, "127.0.0.1");
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_is_the_logged_client() {
    let app = spawn_app_with(TestConfig::new().set("TRUSTED_PROXIES", "127.0.0.1/32,::1")).await;
    assert_eq!(logged_client_ip(&app).await, "203.0.113.7");
}

#[tokio::test]
async fn metrics_allow_applies_to_the_forwarded_client_behind_a_trusted_proxy() {
    let app = spawn_app_with(
        TestConfig::new()
            .set("TRUSTED_PROXIES", "127.0.0.1")
            .set("METRICS_ALLOW", "127.0.0.1"),
    )
    .await;
    // Through the proxy, on behalf of an outside client: refused.
    let response = app
        .client
        .get(app.url("/metrics"))
        .header("x-forwarded-for", "198.51.100.20")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    // Directly from the allowed address: served.
    assert_eq!(app.get("/metrics", None).await.status().as_u16(), 200);
}
