//! Web hardening: security headers on HTML and JSON answers, inert stored markup, and no token or
//! secret in the logs of the real binary even at TRACE level.

use entra_dev::{DevIssuer, DevIssuerConfig};
use serde_json::json;
use weather_api::middleware::security::HTML_CSP;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::binary::{settings, Binary, API_KEY};
use crate::helpers::{openweather_body, report_body, spawn_app, user_with_scopes, Persona};

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn assert_common(r: &reqwest::Response, what: &str) {
    assert_eq!(header(r, "x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header(r, "referrer-policy"), "no-referrer", "{what}");
}

#[tokio::test]
async fn html_pages_carry_a_csp_without_inline_script_and_deny_framing() {
    let app = spawn_app().await;
    for (page, status) in [("/", 200), ("/no-such-page", 404)] {
        let r = app.get(page, None).await;
        assert_eq!(r.status().as_u16(), status);
        assert_common(&r, page);
        assert_eq!(header(&r, "content-security-policy"), HTML_CSP, "{page}");
        assert_eq!(header(&r, "x-frame-options"), "DENY", "{page}");
        let html = r.text().await.unwrap();
        // the policy allows no inline script, and the pages need none
        assert!(!html.contains("<script"), "{page} has a script element");
        assert!(!html.to_lowercase().contains(" onload="), "{page}");
    }
}

#[tokio::test]
async fn authenticated_json_answers_are_no_store_and_nosniff() {
    let app = spawn_app().await;
    let r = app.get_as(Persona::Reader, "/api/reports").await;
    assert_eq!(r.status().as_u16(), 200);
    assert_common(&r, "reports");
    assert_eq!(header(&r, "cache-control"), "no-store");
    assert!(header(&r, "content-type").starts_with("application/json"));
    assert!(!r.headers().contains_key("content-security-policy"));

    let r = app
        .post_report_as(Persona::Writer, &report_body("Fog", "Portland"))
        .await;
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(header(&r, "cache-control"), "no-store");
    assert_common(&r, "post");
}

#[tokio::test]
async fn auth_error_answers_are_no_store_and_nosniff() {
    let app = spawn_app().await;
    let expired = app.expired_token();
    for (token, status) in [
        (None, 401),
        (Some(expired.as_str()), 401),
        (app.token(Persona::Writer).as_deref(), 403),
    ] {
        let r = app.get("/api/reports", token).await;
        assert_eq!(r.status().as_u16(), status);
        assert_eq!(header(&r, "cache-control"), "no-store", "{status}");
        assert_common(&r, "auth error");
    }
    // public answers are cacheable as before (static assets)
    let css = app.get("/static/css/site.css", None).await;
    assert_eq!(header(&css, "cache-control"), "public, max-age=3600");
    assert_common(&css, "css");
}

#[tokio::test]
async fn stored_markup_in_reports_is_inert_on_the_home_page() {
    let app = spawn_app().await;
    let payloads = [
        "<script>alert(1)</script>",
        "\"><img src=x onerror=alert(1)>",
        "' onmouseover='alert(1)",
        "<svg/onload=alert(1)>",
        "javascript:alert(1)",
    ];
    for p in payloads {
        let r = app
            .post_report_as(Persona::Writer, &report_body(p, "Portland"))
            .await;
        assert_eq!(r.status().as_u16(), 201, "{p}");
    }
    let r = app.get("/", None).await;
    assert_eq!(header(&r, "content-security-policy"), HTML_CSP);
    let html = r.text().await.unwrap();
    for raw in ["<script>", "<img src=x", "<svg/onload", "' onmouseover='"] {
        assert!(!html.contains(raw), "{raw} reached the page unescaped");
    }
    // minijinja's HTML escaping: < > & " ' and / become entities
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{html}"
    );
    assert!(html.contains("&#x27; onmouseover=&#x27;alert(1)"), "{html}");
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn trace_level_logs_of_a_full_request_cycle_never_contain_the_token_or_the_api_key() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/data/2.5/weather"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openweather_body()))
        .mount(&upstream)
        .await;
    let config = settings(
        &issuer,
        &upstream.uri(),
        &dir.path().join("weather.db"),
        json!({}),
    );
    let binary = Binary::start(dir.path(), &config, "trace");
    let read = issuer
        .issuer
        .mint(&user_with_scopes(&["weather.read"]))
        .unwrap();
    let write = issuer
        .issuer
        .mint(&user_with_scopes(&["weather.write"]))
        .unwrap();
    let client = reqwest::Client::new();
    let post = client
        .post(binary.url("/api/reports"))
        .bearer_auth(&write)
        .json(&report_body("Trace me", "Portland"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status().as_u16(), 201);
    let list = client
        .get(binary.url("/api/reports"))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status().as_u16(), 200);
    let weather = client
        .get(binary.url("/api/weather/portland?state=OR"))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap();
    assert_eq!(weather.status().as_u16(), 200);
    // OpenWeatherMap really got the key (so it was in play during the cycle)
    let seen = upstream.received_requests().await.unwrap();
    assert!(seen[0].url.query().unwrap_or_default().contains(API_KEY));
    let refused = client
        .get(binary.url("/api/reports"))
        .bearer_auth(format!("{read}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let in_query = client
        .get(binary.url(&format!("/api/reports?access_token={read}")))
        .send()
        .await
        .unwrap();
    assert_eq!(in_query.status().as_u16(), 400);
    let ok = client.get(binary.url("/healthz")).send().await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);

    let logs = binary.logs();
    assert!(
        logs.lines().filter(|l| l.contains("\"TRACE\"")).count() > 10,
        "TRACE was not on"
    );
    assert!(logs.contains("/api/reports"), "requests not logged");
    for (what, secret) in [
        ("read token", read.as_str()),
        ("read token signature", read.rsplit('.').next().unwrap()),
        ("write token signature", write.rsplit('.').next().unwrap()),
        ("read token payload", read.split('.').nth(1).unwrap()),
        ("API key", API_KEY),
    ] {
        assert!(!logs.contains(secret), "the {what} is in the TRACE logs");
    }
}
