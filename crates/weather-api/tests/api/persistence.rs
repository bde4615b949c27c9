//! Reports survive a restart on the same database; graceful shutdown lets in-flight requests finish.

use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{openweather_body, report_body, spawn_app, spawn_app_with, Persona};

#[tokio::test]
async fn sqlite_file_is_created_on_first_start() {
    let app = spawn_app().await;
    assert!(app.db_path().is_file());
}

#[tokio::test]
async fn reports_survive_an_app_restart_on_the_same_database() {
    let app = spawn_app().await;
    let created: Value = app
        .post_report_as(Persona::Writer, &report_body("Windy", "Chicago"))
        .await
        .json()
        .await
        .unwrap();
    let reuse = app.stop().await;

    let app = spawn_app_with(reuse).await;
    let list: Vec<Value> = app
        .get_as(Persona::Reader, "/api/reports")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, vec![created]);
}

#[tokio::test]
async fn graceful_shutdown_lets_in_flight_request_finish() {
    let app = spawn_app().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(openweather_body())
                .set_delay(Duration::from_millis(500)),
        )
        .mount(&app.upstream)
        .await;
    let token = app.token(Persona::Reader).unwrap();
    let request = app
        .client
        .get(app.url("/api/weather/portland"))
        .bearer_auth(token)
        .send();
    let in_flight = tokio::spawn(request);
    // Wait until the request has reached the upstream, i.e. is in flight inside the app.
    while app.upstream_hits().await == 0 {
        tokio::task::yield_now().await;
    }
    let address = app.address.clone();
    app.stop().await;
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["temp"], 61.5);
    // And the server no longer accepts connections.
    assert!(crate::helpers::client()
        .get(format!("{address}/healthz"))
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn reports_survive_an_app_restart_on_postgres() {
    let Some((url, schema)) = crate::store::postgres_schema().await else {
        return;
    };
    let app = spawn_app_with(crate::helpers::TestConfig::new().set("DATABASE_URL", &url)).await;
    let created: Value = app
        .post_report_as(Persona::Writer, &report_body("Snow", "Denver"))
        .await
        .json()
        .await
        .unwrap();
    let reuse = app.stop().await.set("DATABASE_URL", &url);
    let app = spawn_app_with(reuse).await;
    let list: Vec<Value> = app
        .get_as(Persona::Reader, "/api/reports")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list, vec![created]);
    app.stop().await;
    crate::store::drop_schema(&schema).await;
}
