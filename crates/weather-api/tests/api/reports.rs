//! `GET /api/reports`, `GET /api/reports/{id}`, `POST /api/reports`: creation, order, body validation.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{problem, report_body, spawn_app, spawn_app_with, Persona, TestConfig};

#[tokio::test]
async fn post_report_returns_201_with_uuid_created_date_and_location() {
    let app = spawn_app().await;
    let before = chrono::Utc::now();
    let response = app
        .post_report_as(
            Persona::Writer,
            &report_body("  Sunny and warm ", " Portland "),
        )
        .await;
    assert_eq!(response.status().as_u16(), 201);
    let location = response
        .headers()
        .get("location")
        .expect("Location header")
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    let id = Uuid::parse_str(body["id"].as_str().unwrap()).expect("id is a UUID");
    assert_eq!(location, format!("/api/reports/{id}"));
    assert_eq!(body["description"], "Sunny and warm");
    assert_eq!(
        body["location"],
        json!({"city": "portland", "state": "or", "country": "us"})
    );
    let created: chrono::DateTime<chrono::Utc> =
        body["created_date"].as_str().unwrap().parse().unwrap();
    assert!(created >= before - chrono::Duration::seconds(1));

    // The Location resolves to the same report.
    let fetched: Value = app
        .get_as(Persona::Reader, &location)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, body);
}

#[tokio::test]
async fn post_report_without_country_defaults_to_us_and_state_is_optional() {
    let app = spawn_app().await;
    let response = app
        .post_report_as(
            Persona::Writer,
            &json!({"description": "Fog", "location": {"city": "London"}}),
        )
        .await;
    assert_eq!(response.status().as_u16(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["location"],
        json!({"city": "london", "state": null, "country": "us"})
    );
}

#[tokio::test]
async fn list_reports_returns_newest_first() {
    let app = spawn_app().await;
    for description in ["first", "second", "third"] {
        let r = app
            .post_report_as(Persona::Writer, &report_body(description, "Portland"))
            .await;
        assert_eq!(r.status().as_u16(), 201);
    }
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
    assert_eq!(descriptions, ["third", "second", "first"]);
}

#[tokio::test]
async fn list_reports_on_empty_store_returns_empty_array() {
    let app = spawn_app().await;
    let response = app.get_as(Persona::Reader, "/api/reports").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!([]));
}

#[tokio::test]
async fn get_unknown_report_returns_404_problem() {
    let app = spawn_app().await;
    for id in [Uuid::new_v4().to_string(), "not-a-uuid".to_owned()] {
        let response = app
            .get_as(Persona::Reader, &format!("/api/reports/{id}"))
            .await;
        assert_eq!(response.status().as_u16(), 404);
        assert_eq!(problem(response).await["code"], "not_found");
    }
}

#[tokio::test]
async fn unknown_api_route_returns_json_404() {
    let app = spawn_app().await;
    let response = app.get("/api/nothing/here", None).await;
    assert_eq!(response.status().as_u16(), 404);
    let body = problem(response).await;
    assert_eq!(body["status"], 404);
    assert_eq!(body["code"], "not_found");
}

async fn assert_body_refused(body: Value, status: u16, code: &str, detail: &str) {
    let app = spawn_app().await;
    let response = app.post_report_as(Persona::Writer, &body).await;
    assert_eq!(response.status().as_u16(), status, "{body}");
    let problem = problem(response).await;
    assert_eq!(problem["code"], code, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains(detail),
        "{problem}"
    );
    // Nothing was stored.
    let list: Vec<Value> = app
        .get_as(Persona::Reader, "/api/reports")
        .await
        .json()
        .await
        .unwrap();
    assert!(list.is_empty());
}

#[tokio::test]
async fn post_report_with_empty_description_returns_422() {
    assert_body_refused(
        report_body("   ", "Portland"),
        422,
        "missing_description",
        "Description is required.",
    )
    .await;
}

#[tokio::test]
async fn post_report_with_too_long_description_returns_422() {
    assert_body_refused(
        report_body(&"x".repeat(1001), "Portland"),
        422,
        "description_too_long",
        "at most 1000 characters",
    )
    .await;
}

#[tokio::test]
async fn post_report_without_city_returns_422() {
    assert_body_refused(
        json!({"description": "Sunny", "location": {"country": "US"}}),
        422,
        "missing_city",
        "City is required.",
    )
    .await;
}

#[tokio::test]
async fn post_report_without_location_returns_422() {
    assert_body_refused(
        json!({"description": "Sunny"}),
        422,
        "missing_location",
        "Location is required.",
    )
    .await;
}

#[tokio::test]
async fn post_report_with_bad_country_returns_422_with_original_message() {
    assert_body_refused(
        json!({"description": "Sunny", "location": {"city": "Paris", "country": "France"}}),
        422,
        "invalid_country",
        "Invalid country: france. It must be a two letter abbreviation such as US or GB.",
    )
    .await;
}

#[tokio::test]
async fn post_report_with_bad_state_returns_422_with_original_message() {
    assert_body_refused(
        json!({"description": "Sunny", "location": {"city": "Portland", "state": "Oregon"}}),
        422,
        "invalid_state",
        "Invalid state: oregon. It must be a two letter abbreviation such as CA or KS (use for US only).",
    )
    .await;
}

#[tokio::test]
async fn post_report_with_wrong_json_types_returns_400() {
    assert_body_refused(
        json!({"description": 42, "location": {"city": "Portland"}}),
        400,
        "invalid_body",
        "expected",
    )
    .await;
}

#[tokio::test]
async fn post_report_with_invalid_json_returns_400() {
    let app = spawn_app().await;
    let token = app.token(Persona::Writer).unwrap();
    let response = app
        .client
        .post(app.url("/api/reports"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(r#"{"description": "Sunny", "location": "#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body = problem(response).await;
    assert_eq!(body["code"], "invalid_json");
    assert!(body["detail"].as_str().unwrap().contains("not valid JSON"));
}

#[tokio::test]
async fn post_report_with_wrong_content_type_returns_415() {
    let app = spawn_app().await;
    let token = app.token(Persona::Writer).unwrap();
    let response = app
        .client
        .post(app.url("/api/reports"))
        .bearer_auth(token)
        .header("content-type", "text/plain")
        .body(report_body("Sunny", "Portland").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
    assert_eq!(problem(response).await["code"], "unsupported_media_type");
}

#[tokio::test]
async fn post_report_larger_than_body_limit_returns_413_problem() {
    let app = spawn_app_with(TestConfig::new().set("MAX_BODY_BYTES", "256")).await;
    let response = app
        .post_report_as(Persona::Writer, &report_body(&"x".repeat(400), "Portland"))
        .await;
    assert_eq!(response.status().as_u16(), 413);
    let body = problem(response).await;
    assert_eq!(body["code"], "payload_too_large");
    assert_eq!(body["status"], 413);
}

#[tokio::test]
async fn unsupported_method_returns_405_problem_with_allow_header() {
    let app = spawn_app().await;
    // Authentication comes first on protected paths (an anonymous DELETE gets 401).
    let response = app
        .client
        .delete(app.url("/api/reports"))
        .bearer_auth(app.token(Persona::Daemon).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    assert_eq!(problem(response).await["code"], "method_not_allowed");
}

#[tokio::test]
async fn post_report_with_terminal_escape_in_description_returns_422_naming_the_field() {
    // An OSC title change, a BEL, then "clear screen": what a reader's terminal would obey.
    assert_body_refused(
        report_body("Sunny\u{1b}]0;pwned\u{7}\u{1b}[2J", "Portland"),
        422,
        "description_has_control_character",
        "Invalid description: it contains U+001B (a control character).",
    )
    .await;
}

#[tokio::test]
async fn post_report_with_line_break_inside_description_returns_422() {
    assert_body_refused(
        report_body("Sunny\rRain for everyone", "Portland"),
        422,
        "description_has_control_character",
        "U+000D (a control character)",
    )
    .await;
}

#[tokio::test]
async fn post_report_with_bidi_override_in_city_returns_422_naming_the_field() {
    assert_body_refused(
        report_body("Sunny", "Port\u{202E}dnal"),
        422,
        "city_has_control_character",
        "Invalid city: it contains U+202E (a bidirectional override).",
    )
    .await;
}

#[tokio::test]
async fn post_report_with_mistyped_location_field_returns_400_naming_it() {
    assert_body_refused(
        json!({"description": "Sunny", "location": {"city": "Portland", "sate": "OR"}}),
        400,
        "invalid_body",
        "location.sate: unknown field `sate`, expected one of `city`, `state`, `country`",
    )
    .await;
}

#[tokio::test]
async fn post_report_with_unknown_top_level_field_returns_400_naming_it() {
    assert_body_refused(
        json!({"description": "Sunny", "location": {"city": "Portland"}, "severity": 3}),
        400,
        "invalid_body",
        "unknown field `severity`, expected `description` or `location`",
    )
    .await;
}

#[tokio::test]
async fn post_report_as_json_array_returns_400_and_stores_nothing() {
    assert_body_refused(
        json!(["Sunny", {"city": "Portland", "state": "OR"}]),
        400,
        "invalid_body",
        "invalid type: sequence, expected a JSON object",
    )
    .await;
}

#[tokio::test]
async fn post_report_with_location_as_json_array_returns_400() {
    assert_body_refused(
        json!({"description": "Sunny", "location": ["Portland", "OR", "US"]}),
        400,
        "invalid_body",
        "invalid type: sequence, expected a JSON object",
    )
    .await;
}

#[tokio::test]
async fn post_report_with_right_to_left_mark_is_stored() {
    // Marks (not overrides) are ordinary in right-to-left text.
    let app = spawn_app().await;
    let response = app
        .post_report_as(Persona::Writer, &report_body("גשם\u{200F} 12°", "Tel Aviv"))
        .await;
    assert_eq!(response.status().as_u16(), 201);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["description"], "גשם\u{200F} 12°");
}
