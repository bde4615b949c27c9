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

#[tokio::test]
async fn reports_with_limit_prints_only_the_newest_n() {
    let service = spawn_dev_service().await;
    for city in ["Salem", "Bend", "Eugene"] {
        service
            .api_post_report(&format!("Rain in {city}"), city)
            .await;
    }
    let run = Weather::new(&service)
        .run(&["reports", "--limit", "2", "--json"])
        .await;
    let printed: Value = serde_json::from_str(run.ok()).unwrap();
    let descriptions: Vec<&str> = printed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["description"].as_str().unwrap())
        .collect();
    assert_eq!(descriptions, ["Rain in Eugene", "Rain in Bend"]);
}

#[tokio::test]
async fn reports_all_follows_the_next_links_to_every_report() {
    let service = spawn_dev_service().await;
    for i in 0..7 {
        service
            .api_post_report(&format!("report {i}"), "Salem")
            .await;
    }
    // Pages of 3: 3 + 3 + 1, joined newest first.
    let run = Weather::new(&service)
        .run(&["reports", "--all", "--limit", "3", "--json"])
        .await;
    let printed: Value = serde_json::from_str(run.ok()).unwrap();
    let descriptions: Vec<String> = printed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["description"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (0..7).rev().map(|i| format!("report {i}")).collect();
    assert_eq!(descriptions, expected);
    // Without --all the same limit is one page.
    let run = Weather::new(&service)
        .run(&["reports", "--limit", "3"])
        .await;
    assert_eq!(run.ok().lines().count(), 3, "{}", run.ok());
}

#[tokio::test]
async fn reports_with_limit_out_of_range_is_refused_before_any_call() {
    let service = spawn_dev_service().await;
    let run = Weather::new(&service)
        .run(&["reports", "--limit", "501"])
        .await;
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains("--limit"), "{}", run.stderr);
    assert!(run.stderr.contains("1..=500"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}
