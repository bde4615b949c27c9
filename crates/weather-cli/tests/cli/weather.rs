//! `weather now` against a wiremock OpenWeatherMap behind the service.

use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{openweather_body, spawn_dev_service, Weather};

#[tokio::test]
async fn now_prints_the_current_weather_in_the_requested_units() {
    let service = spawn_dev_service().await;
    Mock::given(method("GET"))
        .and(path("/data/2.5/weather"))
        .and(query_param("q", "portland,or,us"))
        .and(query_param("units", "imperial"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openweather_body()))
        .expect(1)
        .mount(&service.upstream)
        .await;
    let run = Weather::new(&service)
        .run(&["now", "portland", "--state", "OR", "--units", "imperial"])
        .await;
    assert_eq!(
        run.ok(),
        "portland, OR, US: 61.5 °F (feels like 60.1 °F), min 58 °F, max 64.4 °F, humidity 62%, pressure 1021 hPa\n"
    );
    service.upstream.verify().await;
}

#[tokio::test]
async fn now_json_prints_the_main_object() {
    let service = spawn_dev_service().await;
    Mock::given(method("GET"))
        .and(path("/data/2.5/weather"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openweather_body()))
        .mount(&service.upstream)
        .await;
    let run = Weather::new(&service)
        .run(&["now", "portland", "--json"])
        .await;
    let printed: serde_json::Value = serde_json::from_str(run.ok()).unwrap();
    assert_eq!(printed["temp"], 61.5);
    assert_eq!(printed["humidity"], 62);
}

#[tokio::test]
async fn now_for_an_unknown_city_says_city_not_found_and_exits_5() {
    let service = spawn_dev_service().await;
    Mock::given(method("GET"))
        .and(path("/data/2.5/weather"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"cod": "404", "message": "city not found"})),
        )
        .mount(&service.upstream)
        .await;
    let run = Weather::new(&service).run(&["now", "atlantis"]).await;
    assert_eq!(run.code, 5, "{run:#?}");
    assert!(
        run.stderr
            .starts_with("weather: city not found: atlantis: "),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

#[tokio::test]
async fn now_when_openweathermap_fails_says_upstream_problem_and_exits_7() {
    let service = spawn_dev_service().await;
    Mock::given(method("GET"))
        .and(path("/data/2.5/weather"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .mount(&service.upstream)
        .await;
    let run = Weather::new(&service).run(&["now", "portland"]).await;
    assert_eq!(run.code, 7, "{run:#?}");
    assert!(
        run.stderr
            .starts_with("weather: upstream problem (OpenWeatherMap): "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("weather: hint: "), "{}", run.stderr);
}
