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

/// Alice's or bob's delegated token as Azure AD B2C user flows issue them by default: no `oid`.
fn user_without_oid(user: &str) -> TokenRequest {
    let mut request = TokenRequest {
        subject: Subject::User(user.to_owned()),
        scopes: vec!["weather.read".to_owned()],
        ..TokenRequest::default()
    };
    request
        .extra_claims
        .insert("oid".to_owned(), serde_json::Value::Null);
    request
}

#[tokio::test]
async fn delegated_users_without_oid_each_have_their_own_budget() {
    let app = spawn_app_with(limits(1, 10)).await;
    let alice = app.mint(&user_without_oid("alice"));
    let bob = app.mint(&user_without_oid("bob"));
    let first = app.get("/api/reports", Some(&alice)).await;
    assert_eq!(first.status().as_u16(), 200);
    assert!(header(&first, "ratelimit").starts_with("\"read\";r=0;"));
    // Both came through the same client app: bob is not charged for alice's request...
    let bob_first = app.get("/api/reports", Some(&bob)).await;
    assert_eq!(bob_first.status().as_u16(), 200, "bob has his own budget");
    assert!(header(&bob_first, "ratelimit").starts_with("\"read\";r=0;"));
    // ...and alice is still limited as one user (keyed on `sub` within her tenant).
    let again = app.get("/api/reports", Some(&alice)).await;
    assert_eq!(again.status().as_u16(), 429);
    assert_eq!(problem(again).await["code"], "rate_limited");
}

/// GET / as an anonymous client whose address the trusted proxy (the test, on 127.0.0.1) forwards.
async fn home_from(app: &crate::helpers::TestApp, client: &str) -> reqwest::Response {
    app.client
        .get(app.url("/"))
        .header("x-forwarded-for", client)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn anonymous_ipv6_callers_share_one_budget_per_64_network() {
    let app = spawn_app_with(limits(1, 10).set("TRUSTED_PROXIES", "127.0.0.1")).await;
    let first = home_from(&app, "2001:db8:1:2::1").await;
    assert_eq!(first.status().as_u16(), 200);
    // Any address of the same /64 (one host can take them all) shares that budget...
    let same_network = home_from(&app, "2001:db8:1:2:ffff:ffff:ffff:9").await;
    assert_eq!(same_network.status().as_u16(), 429);
    assert_eq!(
        header(&same_network, "ratelimit-policy"),
        "\"read\";q=1;w=60"
    );
    assert_eq!(problem(same_network).await["code"], "rate_limited");
    // ...another /64 has its own, and IPv4 clients are still keyed per address.
    assert_eq!(
        home_from(&app, "2001:db8:1:3::1").await.status().as_u16(),
        200
    );
    assert_eq!(home_from(&app, "192.0.2.10").await.status().as_u16(), 200);
    assert_eq!(home_from(&app, "192.0.2.11").await.status().as_u16(), 200);
}

/// `token` with its signature replaced by random bytes: well-formed, a known key id, and one RSA
/// verification to refuse.
fn forged(token: &str) -> String {
    use base64::Engine as _;
    let (signed, _) = token.rsplit_once('.').unwrap();
    let signature: Vec<u8> = (0..256).map(|_| rand::random::<u8>()).collect();
    format!(
        "{signed}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature)
    )
}

/// `entra_auth_tokens_rejected_total` summed over its codes, from `/metrics`.
async fn tokens_rejected(app: &crate::helpers::TestApp) -> u64 {
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    metrics
        .lines()
        .filter(|l| l.starts_with("entra_auth_tokens_rejected_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// GET /api/reports with `token`, from `client` (forwarded by the trusted proxy).
async fn reports_from(
    app: &crate::helpers::TestApp,
    client: &str,
    token: &str,
) -> reqwest::Response {
    app.client
        .get(app.url("/api/reports"))
        .bearer_auth(token)
        .header("x-forwarded-for", client)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn flood_of_forged_tokens_from_one_address_is_refused_before_verification() {
    let app = spawn_app_with(TestConfig::new().set("TRUSTED_PROXIES", "127.0.0.1")).await;
    let valid = app.token(Persona::Reader).unwrap();
    let attacker = "203.0.113.66";
    let before = tokens_rejected(&app).await;
    // Forged tokens are verified (401) until the address has spent its allowance of invalid tokens...
    let mut verified = 0;
    let refused = loop {
        let response = reports_from(&app, attacker, &forged(&valid)).await;
        match response.status().as_u16() {
            401 => verified += 1,
            429 => break response,
            other => panic!("forged token answered {other}"),
        }
        assert!(verified < 1000, "1000 forged tokens verified: no pre-limit");
    };
    assert!(
        verified >= 10,
        "only {verified} verified before the pre-limit"
    );
    // ...then refused before any verification: 429 with Retry-After and a problem naming the reason.
    let retry_after: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!(retry_after >= 1, "{retry_after}");
    let body = problem(refused).await;
    assert_eq!(body["status"], 429);
    assert_eq!(body["code"], "too_many_invalid_tokens");
    assert!(
        body["detail"].as_str().unwrap().contains("invalid tokens"),
        "{body}"
    );
    // From now on the allowance refills slowly (10 a second): a 429 costs no verification; only what
    // the refill lets through (how much depends on the machine's speed) is verified.
    let rejected = tokens_rejected(&app).await;
    let (mut refused, mut checked) = (0, 0);
    for _ in 0..20 {
        match reports_from(&app, attacker, &forged(&valid))
            .await
            .status()
            .as_u16()
        {
            429 => refused += 1,
            401 => checked += 1,
            other => panic!("forged token answered {other}"),
        }
    }
    assert_eq!(
        tokens_rejected(&app).await,
        rejected + checked,
        "every verified forged token is a rejection; the {refused} refused ones were never verified"
    );
    assert_eq!(
        rejected,
        before + verified,
        "the first 429 was not verified either"
    );
    // Other addresses are not affected, valid tokens never spend the allowance.
    let other = reports_from(&app, "198.51.100.7", &valid).await;
    assert_eq!(other.status().as_u16(), 200);
    assert_eq!(
        reports_from(&app, "198.51.100.7", &forged(&valid))
            .await
            .status()
            .as_u16(),
        401
    );
}
