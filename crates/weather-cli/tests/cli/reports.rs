//! `weather report` and `weather reports` end to end against the development-mode service, with nothing
//! configured but `--api-url`.

use serde_json::Value;

use crate::helpers::{spawn_dev_service, Weather, REPORT_MISTY_PORTLAND};

#[tokio::test]
async fn report_with_default_settings_is_stored_by_the_service() {
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    let run = weather.run(REPORT_MISTY_PORTLAND).await;
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

/// A stand-in for the service (or another server) on 127.0.0.1: answers `GET /api/reports` with
/// what the test scripts, so the client's side is tested whatever a server sends.
mod scripted {
    pub(crate) use wiremock::matchers::{method, path, query_param};
    pub(crate) use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    /// One report as the service answers it.
    pub(crate) fn report(description: &str, city: &str) -> serde_json::Value {
        serde_json::json!({
            "id": "4f0c",
            "description": description,
            "location": {"city": city, "state": "or", "country": "us"},
            "created_date": "2026-11-29T10:31:37.123456Z"
        })
    }

    /// Requests `server` received with an `Authorization` header, and without.
    pub(crate) async fn with_and_without_token(server: &MockServer) -> (usize, usize) {
        let received = server.received_requests().await.unwrap_or_default();
        let with = received
            .iter()
            .filter(|r| r.headers.contains_key("authorization"))
            .count();
        (with, received.len() - with)
    }
}

#[tokio::test]
async fn reports_print_stored_escape_sequences_and_bidi_overrides_as_visible_escapes() {
    use scripted::*;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/reports"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([
            report(
                "Sunny\u{1b}[2J\u{1b}[H\u{1b}]0;owned\u{7}\nroot# fake prompt",
                "salem"
            ),
            report("Fog \u{202e}exe.txt\u{2066}", "bend\u{9b}31m"),
        ])))
        .mount(&server)
        .await;
    let weather = Weather::at(&server.uri()).env("WEATHER_TOKEN", "given-token");
    let run = weather.run(&["reports"]).await;
    let stdout = run.ok();
    assert!(
        !stdout.chars().any(|c| c.is_control() && c != '\n'
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)),
        "{stdout:?}"
    );
    assert_eq!(
        stdout,
        "2026-11-29 10:31  salem, or, us        Sunny\\x1b[2J\\x1b[H\\x1b]0;owned\\x07\\x0aroot# fake prompt\n\
         2026-11-29 10:31  bend\\x9b31m, or, us  Fog \\u{202e}exe.txt\\u{2066}\n"
    );
    // --json keeps the data, escaped the JSON way.
    let run = weather.run(&["reports", "--json"]).await;
    let json = run.ok();
    assert!(json.contains(r"Sunny\u001b[2J"), "{json}");
    assert!(json.contains(r"Fog \u202eexe.txt\u2066"), "{json}");
    assert!(json.contains(r"bend\u009b31m"), "{json}");
    assert!(!json.contains('\u{1b}') && !json.contains('\u{202e}') && !json.contains('\u{9b}'));
    let parsed: Value = serde_json::from_str(json).unwrap();
    assert_eq!(parsed[1]["description"], "Fog \u{202e}exe.txt\u{2066}");
}

#[tokio::test]
async fn reports_all_does_not_follow_a_next_link_to_another_origin_nor_send_it_the_token() {
    use scripted::*;
    let service = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/reports"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!([report("Rain", "salem")])),
        )
        .mount(&elsewhere)
        .await;
    let link = format!("<{}/api/reports?after=abc>; rel=\"next\"", elsewhere.uri());
    Mock::given(method("GET"))
        .and(path("/api/reports"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("link", link.as_str())
                .set_body_json(serde_json::json!([report("Fog", "bend")])),
        )
        .mount(&service)
        .await;
    let run = Weather::at(&service.uri())
        .env("WEATHER_TOKEN", "given-token")
        .run(&["reports", "--all"])
        .await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert_eq!(
        run.stderr,
        format!(
            "weather: weather reports --all: the service's next-page link points to {} instead of {}: \
             not followed (the token is sent to the service's origin only); 1 reports were read and \
             none are shown\n",
            elsewhere.uri(),
            service.uri()
        )
    );
    assert_eq!(with_and_without_token(&elsewhere).await, (0, 0));
    assert_eq!(with_and_without_token(&service).await, (1, 0));
}

#[tokio::test]
async fn reports_all_stops_when_a_next_link_leads_back_to_a_page_already_read() {
    use scripted::*;
    let service = MockServer::start().await;
    // Page 1 (no cursor) links to page 2, which links back to page 1.
    Mock::given(method("GET"))
        .and(path("/api/reports"))
        .and(query_param("after", "p2"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("link", "</api/reports?limit=500>; rel=\"next\"")
                .set_body_json(serde_json::json!([report("Hail", "bend")])),
        )
        .mount(&service)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/reports"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("link", "</api/reports?limit=500&after=p2>; rel=\"next\"")
                .set_body_json(serde_json::json!([report("Fog", "salem")])),
        )
        .mount(&service)
        .await;
    let run = Weather::at(&service.uri())
        .env("WEATHER_TOKEN", "given-token")
        .run(&["reports", "--all"])
        .await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(
        run.stderr,
        format!(
            "weather: weather reports --all: the service's next-page link leads back to a page \
             already read ({}/api/reports?limit=500); 2 reports were read and none are shown\n",
            service.uri()
        )
    );
    assert_eq!(with_and_without_token(&service).await, (2, 0));
}

#[tokio::test]
async fn reports_all_stops_after_the_page_cap_with_a_message() {
    use scripted::*;
    let service = MockServer::start().await;
    // Every page links to a new one.
    Mock::given(method("GET"))
        .and(path("/api/reports"))
        .respond_with(|request: &Request| {
            let n: u64 = request
                .url
                .query_pairs()
                .find(|(k, _)| k == "after")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            ResponseTemplate::new(200)
                .insert_header(
                    "link",
                    format!("</api/reports?limit=500&after={}>; rel=\"next\"", n + 1).as_str(),
                )
                .set_body_json(serde_json::json!([report(&format!("r{n}"), "salem")]))
        })
        .mount(&service)
        .await;
    let run = Weather::at(&service.uri())
        .env("WEATHER_TOKEN", "given-token")
        .run(&["reports", "--all"])
        .await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(
        run.stderr,
        "weather: weather reports --all: stopped after 1000 pages (the most it follows); 1000 \
         reports were read and none are shown\n"
    );
    assert_eq!(with_and_without_token(&service).await, (1000, 0));
}
