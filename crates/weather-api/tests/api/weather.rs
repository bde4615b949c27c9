//! `GET /api/weather/{city}`: validation, the upstream call, the cache and the upstream failure mapping.

use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{openweather_body, problem, spawn_app, spawn_app_with, Persona, TestConfig};

async fn get_weather(app: &crate::helpers::TestApp, path_and_query: &str) -> reqwest::Response {
    app.get_as(Persona::Reader, path_and_query).await
}

#[tokio::test]
async fn weather_returns_upstream_main_object_for_normalised_query() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .and(path("/data/2.5/weather"))
        .and(query_param("q", "portland,or,us"))
        .and(query_param("appid", "test-api-key"))
        .and(query_param("units", "imperial"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openweather_body()))
        .expect(1)
        .mount(&app.upstream)
        .await;
    let response = get_weather(
        &app,
        "/api/weather/%20Portland%20?state=%20OR&country=US&units=IMPERIAL",
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, openweather_body()["main"]);
}

#[tokio::test]
async fn weather_without_state_queries_city_and_country_with_metric_default() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .and(path("/data/2.5/weather"))
        .and(query_param("q", "london,gb"))
        .and(query_param("units", "metric"))
        .and(query_param_is_missing("state"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openweather_body()))
        .expect(1)
        .mount(&app.upstream)
        .await;
    let response = get_weather(&app, "/api/weather/London?country=gb").await;
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn weather_defaults_country_to_us() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .and(query_param("q", "boston,us"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openweather_body()))
        .expect(1)
        .mount(&app.upstream)
        .await;
    let response = get_weather(&app, "/api/weather/boston").await;
    assert_eq!(response.status().as_u16(), 200);
}

async fn assert_400(path_and_query: &str, code: &str, detail: &str) {
    let app = spawn_app().await;
    app.mock_weather_ok().await;
    let response = get_weather(&app, path_and_query).await;
    assert_eq!(response.status().as_u16(), 400, "{path_and_query}");
    let body = problem(response).await;
    assert_eq!(body["status"], 400);
    assert_eq!(body["code"], code);
    assert_eq!(body["detail"], detail);
    assert_eq!(app.upstream_hits().await, 0, "no upstream call");
}

#[tokio::test]
async fn weather_with_three_letter_country_returns_400_with_original_message() {
    assert_400(
        "/api/weather/portland?country=USA",
        "invalid_country",
        "Invalid country: usa. It must be a two letter abbreviation such as US or GB.",
    )
    .await;
}

#[tokio::test]
async fn weather_with_three_letter_state_returns_400_with_original_message() {
    assert_400(
        "/api/weather/portland?state=Ore",
        "invalid_state",
        "Invalid state: ore. It must be a two letter abbreviation such as CA or KS (use for US only).",
    )
    .await;
}

#[tokio::test]
async fn weather_with_unknown_units_returns_400() {
    assert_400(
        "/api/weather/portland?units=kelvin",
        "invalid_units",
        "Invalid units 'kelvin', it must be one of standard, metric, imperial.",
    )
    .await;
}

#[tokio::test]
async fn weather_with_blank_city_returns_400() {
    assert_400("/api/weather/%20%20", "missing_city", "City is required.").await;
}

#[tokio::test]
async fn weather_with_too_long_city_returns_400() {
    let city = "a".repeat(101);
    assert_400(
        &format!("/api/weather/{city}"),
        "city_too_long",
        "Invalid city: it must be at most 100 characters long.",
    )
    .await;
}

#[tokio::test]
async fn second_identical_query_is_served_from_cache() {
    let app = spawn_app().await;
    app.mock_weather_ok().await;
    let first = get_weather(&app, "/api/weather/portland?state=OR").await;
    assert_eq!(first.status().as_u16(), 200);
    // Same query after normalisation: different case and spacing, explicit defaults.
    let second = get_weather(
        &app,
        "/api/weather/PORTLAND?state=or%20&country=us&units=metric",
    )
    .await;
    assert_eq!(second.status().as_u16(), 200);
    assert_eq!(second.json::<Value>().await.unwrap()["temp"], 61.5);
    assert_eq!(app.upstream_hits().await, 1);
}

#[tokio::test]
async fn different_units_are_cached_separately() {
    let app = spawn_app().await;
    app.mock_weather_ok().await;
    get_weather(&app, "/api/weather/portland").await;
    get_weather(&app, "/api/weather/portland?units=imperial").await;
    assert_eq!(app.upstream_hits().await, 2);
}

#[tokio::test]
async fn cache_entry_expires_after_one_hour() {
    let app = spawn_app().await;
    app.mock_weather_ok().await;
    get_weather(&app, "/api/weather/portland").await;
    app.clock.advance(Duration::from_secs(3599));
    get_weather(&app, "/api/weather/portland").await;
    assert_eq!(app.upstream_hits().await, 1);
    app.clock.advance(Duration::from_secs(1));
    get_weather(&app, "/api/weather/portland").await;
    assert_eq!(app.upstream_hits().await, 2);
}

async fn upstream_answers(status: u16) -> (reqwest::StatusCode, Value, usize) {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(status)
                .set_body_string(r#"{"cod":"x","message":"internal detail"}"#),
        )
        .mount(&app.upstream)
        .await;
    let response = get_weather(&app, "/api/weather/nowhere").await;
    let status = response.status();
    let body = problem(response).await;
    assert!(
        !body.to_string().contains("internal detail"),
        "upstream text leaked: {body}"
    );
    // Failures are not cached.
    get_weather(&app, "/api/weather/nowhere").await;
    (status, body, app.upstream_hits().await)
}

#[tokio::test]
async fn upstream_404_returns_404_city_not_found() {
    let (status, body, hits) = upstream_answers(404).await;
    assert_eq!(status.as_u16(), 404);
    assert_eq!(body["code"], "city_not_found");
    assert_eq!(hits, 2);
}

#[tokio::test]
async fn upstream_401_returns_502_telling_to_set_api_key() {
    let (status, body, _) = upstream_answers(401).await;
    assert_eq!(status.as_u16(), 502);
    assert_eq!(body["code"], "invalid_api_key");
    assert!(
        body["detail"].as_str().unwrap().contains("api_key"),
        "{body}"
    );
}

#[tokio::test]
async fn upstream_500_returns_502() {
    let (status, body, _) = upstream_answers(500).await;
    assert_eq!(status.as_u16(), 502);
    assert_eq!(body["code"], "upstream_error");
}

#[tokio::test]
async fn upstream_answer_without_main_returns_502() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"))
        .mount(&app.upstream)
        .await;
    let response = get_weather(&app, "/api/weather/portland").await;
    assert_eq!(response.status().as_u16(), 502);
    assert_eq!(problem(response).await["code"], "upstream_error");
}

#[tokio::test]
async fn slow_upstream_returns_504() {
    let app = spawn_app_with(TestConfig::new().set("OPENWEATHER_TIMEOUT_MS", "200")).await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(openweather_body())
                .set_delay(Duration::from_secs(2)),
        )
        .mount(&app.upstream)
        .await;
    let response = get_weather(&app, "/api/weather/portland").await;
    assert_eq!(response.status().as_u16(), 504);
    let body = problem(response).await;
    assert_eq!(body["code"], "upstream_timeout");
    assert_eq!(body["status"], 504);
}

#[tokio::test]
async fn unreachable_upstream_returns_502() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app_with(
        TestConfig::new().set("OPENWEATHER_BASE_URL", &format!("http://127.0.0.1:{port}")),
    )
    .await;
    let response = get_weather(&app, "/api/weather/portland").await;
    assert_eq!(response.status().as_u16(), 502);
    let body = problem(response).await;
    assert_eq!(body["code"], "upstream_unreachable");
}

#[tokio::test]
async fn missing_api_key_returns_502_telling_to_set_api_key_without_calling_upstream() {
    let app = spawn_app_with(TestConfig::new().set("API_KEY", "")).await;
    app.mock_weather_ok().await;
    let response = get_weather(&app, "/api/weather/portland").await;
    assert_eq!(response.status().as_u16(), 502);
    let body = problem(response).await;
    assert_eq!(body["code"], "missing_api_key");
    assert!(
        body["detail"].as_str().unwrap().contains("set api_key"),
        "{body}"
    );
    assert_eq!(app.upstream_hits().await, 0);
}

#[tokio::test]
async fn request_slower_than_request_timeout_returns_503_problem() {
    let app = spawn_app_with(TestConfig::new().set("REQUEST_TIMEOUT_MS", "200")).await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(openweather_body())
                .set_delay(Duration::from_secs(2)),
        )
        .mount(&app.upstream)
        .await;
    let response = get_weather(&app, "/api/weather/portland").await;
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(problem(response).await["code"], "request_timeout");
}

#[tokio::test]
async fn weather_with_undecodable_city_returns_400_problem() {
    let app = spawn_app().await;
    let response = get_weather(&app, "/api/weather/%FF%FE").await;
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(problem(response).await["code"], "invalid_path");
    assert_eq!(app.upstream_hits().await, 0);
}
