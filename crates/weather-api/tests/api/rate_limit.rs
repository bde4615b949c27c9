//! Per-caller rate limits: 429 with `Retry-After`, `RateLimit-Policy`, `RateLimit` and a problem body;
//! budgets per verified caller and per route class; shared through Redis (`TEST_REDIS_URL`), failing
//! open to the local limiter when Redis is down.

use entra_dev::{Subject, TokenRequest};
use serde_json::Value;

use crate::helpers::{problem, report_body, spawn_app_with, user_with_scopes, Persona, TestConfig};

/// Read quota `read` and write quota `write` per 60 s.
fn limits(read: u32, write: u32) -> TestConfig {
    TestConfig::new()
        .set("RATE_LIMIT__READ__REQUESTS", &read.to_string())
        .set("RATE_LIMIT__READ__WINDOW_SECS", "60")
        .set("RATE_LIMIT__WRITE__REQUESTS", &write.to_string())
        .set("RATE_LIMIT__WRITE__WINDOW_SECS", "60")
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

fn bob() -> TokenRequest {
    TokenRequest {
        subject: Subject::User("bob".to_owned()),
        scopes: vec!["weather.read".to_owned()],
        ..TokenRequest::default()
    }
}

/// A unique Redis key prefix for one test.
fn redis_prefix(test: &str) -> String {
    format!("weather-api-test:{test}:{}:", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn reader_over_read_quota_gets_429_with_retry_after_ratelimit_headers_and_problem() {
    let app = spawn_app_with(limits(2, 10)).await;
    let token = app.token(Persona::Reader).unwrap();
    for remaining in [1, 0] {
        let response = app.get("/api/reports", Some(&token)).await;
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(header(&response, "ratelimit-policy"), "\"read\";q=2;w=60");
        let limit = header(&response, "ratelimit");
        assert!(
            limit.starts_with(&format!("\"read\";r={remaining};t=")),
            "{limit}"
        );
    }
    let response = app.get("/api/reports", Some(&token)).await;
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = header(&response, "retry-after").parse().unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    assert_eq!(header(&response, "ratelimit-policy"), "\"read\";q=2;w=60");
    assert!(header(&response, "ratelimit").starts_with("\"read\";r=0;t="));
    let body = problem(response).await;
    assert_eq!(body["status"], 429);
    assert_eq!(body["code"], "rate_limited");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("2 read requests per 60 s"), "{detail}");
    assert!(detail.contains("Retry-After"), "{detail}");
}

#[tokio::test]
async fn one_callers_exhausted_budget_leaves_other_callers_theirs() {
    let app = spawn_app_with(limits(1, 10)).await;
    let alice = app.token(Persona::Reader).unwrap();
    assert_eq!(app.get("/api/reports", Some(&alice)).await.status(), 200);
    assert_eq!(app.get("/api/reports", Some(&alice)).await.status(), 429);
    // A new token of the same user shares the user's budget.
    let alice_again = app.mint(&user_with_scopes(&["weather.read"]));
    assert_eq!(
        app.get("/api/reports", Some(&alice_again)).await.status(),
        429
    );
    let bob = app.mint(&bob());
    let response = app.get("/api/reports", Some(&bob)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        Value::Array(vec![])
    );
    // An app-only caller is keyed by its client id.
    assert_eq!(
        app.get_as(Persona::Daemon, "/api/reports").await.status(),
        200
    );
}

#[tokio::test]
async fn invalid_tokens_never_spend_a_callers_budget() {
    let app = spawn_app_with(limits(2, 10)).await;
    // Alice's expired token names alice: refused by authentication, before the limiter.
    let expired = app.expired_token();
    for _ in 0..5 {
        let response = app.get("/api/reports", Some(&expired)).await;
        assert_eq!(response.status().as_u16(), 401);
        assert!(response.headers().get("ratelimit").is_none());
    }
    for _ in 0..5 {
        let response = app.get("/api/reports", Some("not.a.token")).await;
        assert_eq!(response.status().as_u16(), 401);
    }
    let token = app.token(Persona::Reader).unwrap();
    for remaining in [1, 0] {
        let response = app.get("/api/reports", Some(&token)).await;
        assert_eq!(response.status().as_u16(), 200, "alice's budget is whole");
        assert!(header(&response, "ratelimit").starts_with(&format!("\"read\";r={remaining};")));
    }
}

#[tokio::test]
async fn write_quota_is_separate_from_the_read_quota_and_refuses_before_storing() {
    let app = spawn_app_with(limits(5, 1)).await;
    let writer = app.token(Persona::Daemon).unwrap();
    let first = app
        .post_report(&report_body("first", "Portland"), Some(&writer))
        .await;
    assert_eq!(first.status().as_u16(), 201);
    assert_eq!(header(&first, "ratelimit-policy"), "\"write\";q=1;w=60");
    let second = app
        .post_report(&report_body("second", "Portland"), Some(&writer))
        .await;
    assert_eq!(second.status().as_u16(), 429);
    assert_eq!(header(&second, "ratelimit-policy"), "\"write\";q=1;w=60");
    assert_eq!(problem(second).await["code"], "rate_limited");
    // Reads still have their own budget; only the first report was stored.
    let list = app.get_as(Persona::Daemon, "/api/reports").await;
    assert_eq!(list.status().as_u16(), 200);
    let reports: Vec<Value> = list.json().await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["description"], "first");
}

#[tokio::test]
async fn anonymous_home_page_is_limited_by_client_address() {
    let app = spawn_app_with(limits(1, 10)).await;
    let first = app.get("/", None).await;
    assert_eq!(first.status().as_u16(), 200);
    assert_eq!(header(&first, "ratelimit-policy"), "\"read\";q=1;w=60");
    let second = app.get("/", None).await;
    assert_eq!(second.status().as_u16(), 429);
    assert_eq!(problem(second).await["code"], "rate_limited");
    // Health probes are not limited.
    assert_eq!(app.get("/healthz", None).await.status(), 200);
}

#[tokio::test]
async fn two_instances_on_one_redis_share_the_callers_budget() {
    let Ok(redis_url) = std::env::var("TEST_REDIS_URL") else {
        println!("skipped: set TEST_REDIS_URL");
        return;
    };
    let prefix = redis_prefix("shared");
    let config = || {
        limits(3, 10)
            .set("RATE_LIMIT__REDIS_URL", &redis_url)
            .set("RATE_LIMIT__REDIS_KEY_PREFIX", &prefix)
    };
    let a = spawn_app_with(config()).await;
    // The second instance trusts the first one's issuer.
    let b = spawn_app_with(config().set("AZURE_AD__INSTANCE", a.issuer.issuer.instance().as_ref()))
        .await;
    let token = a.token(Persona::Reader).unwrap();
    assert_eq!(a.get("/api/reports", Some(&token)).await.status(), 200);
    assert_eq!(a.get("/api/reports", Some(&token)).await.status(), 200);
    let third = b.get("/api/reports", Some(&token)).await;
    assert_eq!(third.status(), 200);
    assert!(
        header(&third, "ratelimit").starts_with("\"read\";r=0;"),
        "global count"
    );
    // Instance b has seen one request of this caller; its local limiter alone would allow two more.
    let fourth = b.get("/api/reports", Some(&token)).await;
    assert_eq!(fourth.status().as_u16(), 429);
    assert_eq!(problem(fourth).await["code"], "rate_limited");
    // Another caller is unaffected on both.
    let bob = a.mint(&bob());
    assert_eq!(b.get("/api/reports", Some(&bob)).await.status(), 200);
}

#[tokio::test]
async fn redis_outage_fails_open_to_the_local_limiter_with_one_warning() {
    let logs = crate::logging::capture();
    // A closed loopback port: every Redis call fails at once.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let prefix = redis_prefix("outage");
    let app = spawn_app_with(
        limits(3, 10)
            .set(
                "RATE_LIMIT__REDIS_URL",
                &format!("redis://127.0.0.1:{closed}"),
            )
            .set("RATE_LIMIT__REDIS_KEY_PREFIX", &prefix),
    )
    .await;
    let token = app.token(Persona::Reader).unwrap();
    for _ in 0..3 {
        assert_eq!(app.get("/api/reports", Some(&token)).await.status(), 200);
    }
    // The local limiter still protects.
    let refused = app.get("/api/reports", Some(&token)).await;
    assert_eq!(refused.status().as_u16(), 429);
    let warnings = logs
        .text()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("Redis unavailable") && l.contains(&prefix))
        .count();
    assert_eq!(warnings, 1, "one warning per outage, not per request");
}

#[tokio::test]
async fn weather_reads_share_the_read_quota_and_refuse_before_calling_the_upstream() {
    let app = spawn_app_with(limits(1, 10)).await;
    app.mock_weather_ok().await;
    let token = app.token(Persona::Reader).unwrap();
    let first = app
        .get("/api/weather/portland?state=OR", Some(&token))
        .await;
    assert_eq!(first.status().as_u16(), 200);
    assert_eq!(header(&first, "ratelimit-policy"), "\"read\";q=1;w=60");
    let second = app.get("/api/weather/seattle?state=WA", Some(&token)).await;
    assert_eq!(second.status().as_u16(), 429);
    assert!(header(&second, "retry-after").parse::<u64>().unwrap() >= 1);
    assert_eq!(problem(second).await["code"], "rate_limited");
    assert_eq!(
        app.upstream_hits().await,
        1,
        "the refused read never reached OpenWeatherMap"
    );
}
