//! `GET /api/reports` pages: `limit`, the `after` cursor, `Link: rel="next"`, `ETag` and 304.

use std::collections::HashSet;

use serde_json::Value;

use crate::helpers::{problem, report_body, spawn_app, Persona, TestApp};

/// Posts `n` reports as the writer; returns their ids, oldest first.
async fn post_reports(app: &TestApp, n: usize, prefix: &str) -> Vec<String> {
    let token = app.token(Persona::Writer).unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let response = app
            .post_report(
                &report_body(&format!("{prefix} {i}"), "Portland"),
                Some(&token),
            )
            .await;
        assert_eq!(response.status().as_u16(), 201);
        let body: Value = response.json().await.unwrap();
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    ids
}

/// The `rel="next"` target of a `Link` header, resolved against `/api/reports`.
fn next_link(response: &reqwest::Response) -> Option<String> {
    let link = response.headers().get("link")?.to_str().unwrap().to_owned();
    let target = link
        .strip_prefix('<')
        .and_then(|l| l.split_once(">; rel=\"next\""))
        .map(|(target, _)| target.to_owned())
        .unwrap_or_else(|| panic!("unexpected Link header {link:?}"));
    assert!(target.starts_with('?'), "query-only reference: {target}");
    Some(format!("/api/reports{target}"))
}

/// The number of reports in a page's JSON body.
async fn page_len(response: reqwest::Response) -> usize {
    response
        .json::<Value>()
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .len()
}

fn ids(body: &Value) -> Vec<String> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn list_reports_without_parameters_returns_newest_50_and_a_next_link() {
    let app = spawn_app().await;
    let mut posted = post_reports(&app, 53, "report").await;
    posted.reverse();
    let response = app.get_as(Persona::Reader, "/api/reports").await;
    assert_eq!(response.status().as_u16(), 200);
    let next = next_link(&response).expect("a next page");
    assert!(next.starts_with("/api/reports?limit=50&after="), "{next}");
    assert!(response.headers().contains_key("etag"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(ids(&body), posted[..50].to_vec());

    let response = app.get_as(Persona::Reader, &next).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(next_link(&response), None, "last page: no Link");
    let body: Value = response.json().await.unwrap();
    assert_eq!(ids(&body), posted[50..].to_vec());
}

#[tokio::test]
async fn list_reports_with_limit_out_of_range_returns_400_naming_the_bounds() {
    let app = spawn_app().await;
    for bad in ["0", "501", "-3", "many"] {
        let response = app
            .get_as(Persona::Reader, &format!("/api/reports?limit={bad}"))
            .await;
        assert_eq!(response.status().as_u16(), 400, "limit={bad}");
        let body = problem(response).await;
        assert_eq!(body["code"], "invalid_limit");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("Invalid limit: {bad}.")),
            "{detail}"
        );
        assert!(detail.contains("from 1 to 500"), "{detail}");
    }
    let response = app.get_as(Persona::Reader, "/api/reports?limit=500").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        Value::Array(vec![])
    );
}

#[tokio::test]
async fn list_reports_with_malformed_cursor_returns_400_invalid_cursor() {
    let app = spawn_app().await;
    post_reports(&app, 3, "report").await;
    let response = app.get_as(Persona::Reader, "/api/reports?limit=2").await;
    let next = next_link(&response).unwrap();
    let (base, cursor) = next.split_once("after=").unwrap();
    // Edited out of shape: truncated, lengthened, a character outside the alphabet.
    let truncated = format!("{base}after={}", &cursor[..cursor.len() - 1]);
    let lengthened = format!("{base}after={cursor}AA");
    let foreign = format!("{base}after=%2B{}", &cursor[1..]);
    for path in [
        truncated.as_str(),
        lengthened.as_str(),
        foreign.as_str(),
        "/api/reports?after=not-a-cursor",
    ] {
        let response = app.get_as(Persona::Reader, path).await;
        assert_eq!(response.status().as_u16(), 400, "{path}");
        let body = problem(response).await;
        assert_eq!(body["code"], "invalid_cursor");
        assert!(body["detail"].as_str().unwrap().contains("Link"), "{body}");
    }
    // The untouched cursor still works.
    let response = app.get_as(Persona::Reader, &next).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(page_len(response).await, 1);
}

#[tokio::test]
async fn paging_while_reports_are_posted_skips_none_and_repeats_none() {
    let app = spawn_app().await;
    let existing = post_reports(&app, 30, "before").await;
    let writer = {
        let app_url = app.url("/api/reports");
        let token = app.token(Persona::Writer).unwrap();
        let client = app.client.clone();
        tokio::spawn(async move {
            let mut n = 0;
            for i in 0..40 {
                let response = client
                    .post(&app_url)
                    .bearer_auth(&token)
                    .json(&report_body(&format!("during {i}"), "Austin"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status().as_u16(), 201);
                n += 1;
            }
            n
        })
    };
    let token = app.token(Persona::Reader).unwrap();
    let mut path = Some("/api/reports?limit=4".to_owned());
    let mut seen = Vec::new();
    let mut created = Vec::new();
    while let Some(p) = path.take() {
        let response = app.get(&p, Some(&token)).await;
        assert_eq!(response.status().as_u16(), 200);
        path = next_link(&response);
        let body: Value = response.json().await.unwrap();
        for r in body.as_array().unwrap() {
            seen.push(r["id"].as_str().unwrap().to_owned());
            created.push(r["created_date"].as_str().unwrap().to_owned());
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(writer.await.unwrap(), 40);
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a report was shown twice");
    for id in &existing {
        assert!(unique.contains(id), "report {id} was skipped");
    }
    let mut sorted = created.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(created, sorted, "newest first across pages");
}

#[tokio::test]
async fn list_reports_with_current_etag_returns_304_and_a_new_report_changes_it() {
    let app = spawn_app().await;
    post_reports(&app, 2, "report").await;
    let token = app.token(Persona::Reader).unwrap();
    let first = app.get("/api/reports", Some(&token)).await;
    assert_eq!(first.status().as_u16(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    let conditional = |tag: String| {
        app.client
            .get(app.url("/api/reports"))
            .bearer_auth(&token)
            .header("if-none-match", tag)
            .send()
    };
    let response = conditional(etag.clone()).await.unwrap();
    assert_eq!(response.status().as_u16(), 304);
    assert_eq!(response.headers()["etag"], etag.as_str());
    assert!(response.bytes().await.unwrap().is_empty());
    // A list of tags, weak form included, matches too.
    let response = conditional(format!("\"other\", W/{etag}")).await.unwrap();
    assert_eq!(response.status().as_u16(), 304);

    post_reports(&app, 1, "new").await;
    let response = conditional(etag.clone()).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let new_etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    assert_eq!(page_len(response).await, 3);
}

#[tokio::test]
async fn get_report_with_its_etag_returns_304_without_body() {
    let app = spawn_app().await;
    let id = post_reports(&app, 1, "report").await.remove(0);
    let token = app.token(Persona::Reader).unwrap();
    let path = format!("/api/reports/{id}");
    let response = app.get(&path, Some(&token)).await;
    assert_eq!(response.status().as_u16(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let response = app
        .client
        .get(app.url(&path))
        .bearer_auth(&token)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 304);
    assert_eq!(response.headers()["etag"], etag.as_str());
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn newest_page_is_served_again_until_anyone_commits_even_another_process() {
    let app = spawn_app().await;
    post_reports(&app, 3, "report").await;
    let token = app.token(Persona::Reader).unwrap();
    let read = || async {
        let response = app.get("/api/reports?limit=2", Some(&token)).await;
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        let link = next_link(&response);
        let body: Vec<Value> = response.json().await.unwrap();
        let descriptions: Vec<String> = body
            .iter()
            .map(|r| r["description"].as_str().unwrap().to_owned())
            .collect();
        (etag, link, descriptions)
    };
    let first = read().await;
    assert_eq!(first.2, ["report 2", "report 1"]);
    assert!(first.1.is_some(), "a third report follows");
    // The second read is the kept answer: the same tag, link and body.
    assert_eq!(read().await, first);

    // Through the API: seen at once.
    post_reports(&app, 1, "posted").await;
    let second = read().await;
    assert_eq!(second.2, ["posted 0", "report 2"]);
    assert_ne!(second.0, first.0);

    // Another process writes the file directly: seen at once too (SQLite's data_version).
    let path = app.db_path().to_owned();
    tokio::task::spawn_blocking(move || {
        let other = rusqlite::Connection::open(path).unwrap();
        other
            .execute(
                "INSERT INTO reports (id, description, city, state, country, created_date) \
                 VALUES (?1, 'from elsewhere', 'portland', NULL, 'us', '2099-01-01T00:00:00.000000Z')",
                [uuid::Uuid::new_v4().to_string()],
            )
            .unwrap();
    })
    .await
    .unwrap();
    let third = read().await;
    assert_eq!(third.2, ["from elsewhere", "posted 0"]);
    assert_ne!(third.0, second.0);
}
