//! `/DownstreamApi*`: the call as configured, wrapped in a 200; BaseUrl overrides ignored;
//! redirects not followed.

use entra_dev::defaults;
use serde_json::json;

use crate::harness::{payload, Downstream, World};
use crate::tokens::urlencode;

#[tokio::test]
async fn downstream_answer_is_wrapped_in_200_with_content_headers_only() {
    let w = World::start().await;
    let alice = w.token(defaults::ALICE_USERNAME);
    let r = w
        .post(
            "/DownstreamApi/downstream?optionsOverride.HttpMethod=PUT&optionsOverride.ExtraQueryParameters.v=2",
            Some(&alice),
            Some(("application/json", r#"{"a":1}"#)),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.assert_no_store();
    let body = r.json();
    assert_eq!(body["statusCode"], 200);
    assert_eq!(
        body["headers"]["Content-Type"],
        json!(["application/json; charset=utf-8"])
    );
    assert!(body["headers"].get("x-not-content").is_none(), "{body}");
    let content: serde_json::Value =
        serde_json::from_str(body["content"].as_str().unwrap()).unwrap();
    assert_eq!(content["method"], "PUT");
    assert_eq!(content["path"], "/api/echo");
    assert_eq!(content["body"], r#"{"a":1}"#);
    let seen = w.downstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].query.as_deref(), Some("v=2"));
    assert_eq!(seen[0].headers["content-type"], "application/json");
    let auth = seen[0].headers["authorization"].to_str().unwrap();
    assert_eq!(
        payload(auth.strip_prefix("Bearer ").unwrap())["oid"],
        defaults::ALICE_OID
    );
}

#[tokio::test]
async fn body_is_forwarded_only_with_a_content_type_and_empty_answer_is_null() {
    let w = World::start().await;
    let alice = w.token(defaults::ALICE_USERNAME);
    let r = w
        .post(
            "/DownstreamApi/downstream?optionsOverride.RelativePath=empty",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let body = r.json();
    assert_eq!(body["statusCode"], 204);
    assert_eq!(body["content"], serde_json::Value::Null);
    let seen = w.downstream.seen();
    assert_eq!(seen[0].method, "GET");
    assert!(seen[0].body.is_empty());
    assert!(seen[0].headers.get("content-type").is_none());
}

#[tokio::test]
async fn downstream_failure_status_comes_back_inside_a_200() {
    let w = World::start().await;
    let alice = w.token(defaults::ALICE_USERNAME);
    let r = w
        .post(
            "/DownstreamApi/downstream?optionsOverride.RelativePath=fail",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let body = r.json();
    assert_eq!(body["statusCode"], 500);
    assert_eq!(body["content"], "downstream broke");
    assert_eq!(body["headers"]["Content-Type"], json!(["text/plain"]));
    assert!(body["headers"].get("x-internal").is_none());
}

#[tokio::test]
async fn base_url_override_is_always_ignored() {
    let w = World::start().await;
    let evil = Downstream::start().await;
    let alice = w.token(defaults::ALICE_USERNAME);
    let path = format!(
        "/DownstreamApi/downstream?optionsOverride.BaseUrl={}",
        urlencode(&format!("{}api/", evil.url))
    );
    let r = w.post(&path, Some(&alice), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(evil.seen().len(), 0, "the caller-supplied host saw nothing");
    assert_eq!(
        w.downstream.hits("/api/echo"),
        1,
        "the configured host was called"
    );
    // Unauthenticated with overrides allowed: still ignored.
    let w2 = World::start_with(|doc| {
        doc["Sidecar"] = json!({"AllowOverrides": {"CallDownstreamApiUnauthenticated": true}});
    })
    .await;
    let path = format!(
        "/DownstreamApiUnauthenticated/appapi?optionsOverride.BaseUrl={}",
        urlencode(&format!("{}api/", evil.url))
    );
    let r = w2.post(&path, None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(evil.seen().len(), 0);
    assert_eq!(w2.downstream.hits("/api/echo"), 1);
}

#[tokio::test]
async fn redirects_are_not_followed_unless_allowed() {
    let w = World::start().await;
    let alice = w.token(defaults::ALICE_USERNAME);
    let r = w
        .post(
            "/DownstreamApi/downstream?optionsOverride.RelativePath=redirect",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["statusCode"], 302);
    assert_eq!(w.downstream.hits("/api/redirect"), 1);
    assert_eq!(
        w.downstream.hits("/api/landed"),
        0,
        "the 302 was not followed"
    );

    let w = World::start_with(|doc| doc["Sidecar"] = json!({"AllowOutboundRedirects": true})).await;
    let alice = w.token(defaults::ALICE_USERNAME);
    let r = w
        .post(
            "/DownstreamApi/downstream?optionsOverride.RelativePath=redirect",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.json()["statusCode"], 200, "{}", r.text);
    assert_eq!(w.downstream.hits("/api/landed"), 1);
}

#[tokio::test]
async fn unauthenticated_downstream_call_uses_the_app_token() {
    let w = World::start().await;
    let r = w
        .post("/DownstreamApiUnauthenticated/appapi", None, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let seen = w.downstream.seen();
    let auth = seen[0].headers["authorization"].to_str().unwrap();
    assert_eq!(
        payload(auth.strip_prefix("Bearer ").unwrap())["idtyp"],
        "app"
    );
}

#[tokio::test]
async fn downstream_unreachable_is_502_problem() {
    let w = World::start_with(|doc| {
        doc["DownstreamApis"]["downstream"]["BaseUrl"] = json!("http://127.0.0.1:9/api/");
    })
    .await;
    let alice = w.token(defaults::ALICE_USERNAME);
    let r = w
        .post("/DownstreamApi/downstream", Some(&alice), None)
        .await;
    r.assert_problem(502, "could not be reached");
}
