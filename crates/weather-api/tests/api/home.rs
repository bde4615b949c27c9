//! The public HTML side: home page, static files, favicon, HTML 404.

use crate::helpers::{report_body, spawn_app, Persona};

#[tokio::test]
async fn home_page_shows_title_and_working_example_link() {
    let app = spawn_app().await;
    let response = app.get("/", None).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(response
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = response.text().await.unwrap();
    assert!(html.contains("Weather Service — A RESTful weather service"));
    assert!(
        html.contains(r#"href="/api/weather/portland?state=OR&amp;country=US&amp;units=imperial""#)
    );
    assert!(!html.contains("Recent weather events"), "no reports yet");
    assert!(!html.contains("Development mode"));
}

#[tokio::test]
async fn home_page_lists_a_posted_report() {
    let app = spawn_app().await;
    let r = app
        .post_report_as(Persona::Writer, &report_body("Rain all day", "Seattle"))
        .await;
    assert_eq!(r.status().as_u16(), 201);
    let html = app.get("/", None).await.text().await.unwrap();
    assert!(html.contains("Recent weather events"));
    assert!(html.contains("seattle, US</span>: Rain all day"), "{html}");
}

#[tokio::test]
async fn home_page_escapes_html_in_reports() {
    let app = spawn_app().await;
    let r = app
        .post_report_as(
            Persona::Writer,
            &report_body("<script>alert('x')</script>", "Portland"),
        )
        .await;
    assert_eq!(r.status().as_u16(), 201);
    let html = app.get("/", None).await.text().await.unwrap();
    assert!(!html.contains("<script>alert"));
    assert!(html.contains("&lt;script&gt;alert("), "{html}");
}

#[tokio::test]
async fn static_files_are_served_with_their_content_types() {
    let app = spawn_app().await;
    for (path, content_type) in [
        ("/static/css/site.css", "text/css"),
        ("/static/img/cloud.svg", "image/svg+xml"),
        ("/static/img/favicon.ico", "image/x-icon"),
    ] {
        let response = app.get(path, None).await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let ct = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(ct.starts_with(content_type), "{path}: {ct}");
        assert!(!response.bytes().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn favicon_redirects_to_static_favicon() {
    let app = spawn_app().await;
    let response = app.get("/favicon.ico", None).await;
    assert!(response.status().is_redirection());
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        "/static/img/favicon.ico"
    );
}

#[tokio::test]
async fn unknown_page_returns_html_404() {
    let app = spawn_app().await;
    for path in ["/nope", "/static/missing.css"] {
        let response = app.get(path, None).await;
        assert_eq!(response.status().as_u16(), 404, "{path}");
        let html = response.text().await.unwrap();
        assert!(html.contains("Not found"), "{path}");
    }
}

#[tokio::test]
async fn responses_carry_a_request_id() {
    let app = spawn_app().await;
    let response = app.get("/healthz", None).await;
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

#[tokio::test]
async fn healthz_and_readyz_report_ok_when_keys_and_database_are_there() {
    let app = spawn_app().await;
    let health: serde_json::Value = app.get("/healthz", None).await.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status().as_u16(), 200);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["checks"]["signing_keys"], true);
    assert_eq!(ready["checks"]["database"], true);
}

#[tokio::test]
async fn home_page_with_valid_token_greets_the_signed_in_caller_and_stays_public() {
    let app = spawn_app().await;
    let anonymous = app.get("/", None).await;
    assert_eq!(anonymous.status().as_u16(), 200);
    let html = anonymous.text().await.unwrap();
    assert!(!html.contains("Signed in as"), "anonymous: no greeting");

    let reader = app.token(Persona::Reader).unwrap();
    let signed_in = app.get("/", Some(&reader)).await;
    assert_eq!(signed_in.status().as_u16(), 200);
    let html = signed_in.text().await.unwrap();
    assert!(
        html.contains(r#"<p class="signed-in">Signed in as <strong>Alice Example</strong></p>"#),
        "{html}"
    );
    assert!(html.contains("Weather Service — A RESTful weather service"));
}

#[tokio::test]
async fn home_page_with_invalid_token_returns_401_not_an_anonymous_page() {
    let app = spawn_app().await;
    let response = app.get("/", Some(&app.expired_token())).await;
    assert_eq!(response.status().as_u16(), 401);
    let challenge = crate::helpers::challenge(&response);
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\", error_description=\"token expired"),
        "{challenge}"
    );
    let body = crate::helpers::problem(response).await;
    assert_eq!(body["code"], "token_expired");
}
