//! `weather report` and `weather reports` end to end against the development-mode service, with nothing
//! configured but `--api-url`.

use serde_json::Value;

use crate::helpers::{spawn_dev_service, Weather};

#[tokio::test]
async fn report_with_default_settings_is_stored_by_the_service() {
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    let run = weather
        .run(&[
            "report",
            "Misty sunrise",
            "--city",
            "Portland",
            "--state",
            "OR",
        ])
        .await;
    let stdout = run.ok();
    assert!(
        stdout.starts_with("Reported: Misty sunrise in portland, or, us (id "),
        "{stdout}"
    );
    let reports = service.api_reports().await;
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["description"], "Misty sunrise");
    // The service normalises places to lower case.
    assert_eq!(reports[0]["location"]["city"], "portland");
    assert_eq!(reports[0]["location"]["state"], "or");
    assert_eq!(reports[0]["location"]["country"], "us");
    let id = reports[0]["id"].as_str().unwrap();
    assert!(stdout.contains(id), "{stdout} names {id}");
}

#[tokio::test]
async fn reports_lists_reports_stored_through_the_api_newest_first() {
    let service = spawn_dev_service().await;
    service.api_post_report("Foggy", "Salem").await;
    service.api_post_report("Misty sunrise", "Portland").await;
    let run = Weather::new(&service).run(&["reports"]).await;
    let lines: Vec<&str> = run.ok().lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].ends_with("portland, or, us  Misty sunrise"),
        "{lines:?}"
    );
    assert!(lines[1].ends_with("salem, or, us     Foggy"), "{lines:?}");
}

#[tokio::test]
async fn reports_with_none_stored_says_so() {
    let service = spawn_dev_service().await;
    let run = Weather::new(&service).run(&["reports"]).await;
    assert_eq!(run.ok(), "No reports yet.\n");
}

#[tokio::test]
async fn reports_json_prints_what_the_service_answered() {
    let service = spawn_dev_service().await;
    service.api_post_report("Hail", "Bend").await;
    let run = Weather::new(&service).run(&["reports", "--json"]).await;
    let printed: Value = serde_json::from_str(run.ok()).unwrap();
    assert_eq!(printed, Value::Array(service.api_reports().await));
}

#[tokio::test]
async fn report_with_invalid_state_shows_the_services_detail_and_exits_6() {
    let service = spawn_dev_service().await;
    let run = Weather::new(&service)
        .run(&["report", "Rain", "--city", "Portland", "--state", "Oregon"])
        .await;
    assert_eq!(run.code, 6, "{run:#?}");
    assert!(
        run.stderr.starts_with(
            "weather: the service refused the request (HTTP 422): Invalid state: oregon."
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("state"), "{}", run.stderr);
    assert!(service.api_reports().await.is_empty());
}
