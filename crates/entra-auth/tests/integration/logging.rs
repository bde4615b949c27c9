//! Tracing: rejections at DEBUG under `entra_auth` with the reason code, refresh failures at WARN
//! with the URL and status, and never the token.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use crate::common::*;
use entra_auth::TokenVersion;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

#[derive(Clone, Default)]
struct Capture {
    events: Arc<Mutex<Vec<(Level, String, String)>>>,
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut f = Fields(String::new());
        event.record(&mut f);
        self.events.lock().unwrap().push((
            *event.metadata().level(),
            event.metadata().target().to_owned(),
            f.0,
        ));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// The capture, installed once as the process's global subscriber. A scoped (`set_default`)
/// subscriber misses events in this binary: the other tests, on other threads, reach the same
/// callsites with no subscriber, and tracing's per-callsite interest is process-wide. Every
/// test's events are captured, which only widens the "never a token" check below.
fn capture() -> &'static Capture {
    static CAPTURE: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        tracing::subscriber::set_global_default(capture.clone()).unwrap();
        capture
    })
}

#[tokio::test]
async fn rejections_log_debug_with_code_and_refresh_failures_log_warn_without_tokens() {
    let capture = capture();

    let e = env_with(|b| b.accepted_versions([TokenVersion::V2])).await;
    e.validator.warm_up().await.unwrap();
    let good = e.reader();
    let mut claims = claims_of(&good);
    claims.insert("aud".into(), serde_json::json!("api://someone-else"));
    let wrong_aud = e.sign_raw(
        serde_json::Value::Object(header_of(&good)),
        serde_json::Value::Object(claims),
    );
    assert_eq!(
        e.validator
            .validate(&wrong_aud)
            .await
            .map(|_| ())
            .map_err(|e| e.code()),
        Err("audience_mismatch")
    );

    e.issuer().set_outage(true);
    assert_eq!(
        e.validator.warm_up().await.map_err(|e| e.code()),
        Err("keys_unavailable"),
        "the identity provider is down"
    );

    let events = capture.events.lock().unwrap().clone();
    let ours: Vec<_> = events
        .iter()
        .filter(|(_, t, _)| t == "entra_auth")
        .collect();
    assert!(
        ours.iter()
            .any(|(l, _, f)| *l == Level::DEBUG && f.contains("code=\"audience_mismatch\"")),
        "{ours:?}"
    );
    let metadata_url = format!(
        "{}{}/v2.0/.well-known/openid-configuration",
        e.instance(),
        entra_dev::defaults::DEV_TENANT_ID
    );
    assert!(
        ours.iter().any(|(l, _, f)| *l == Level::WARN
            && f.contains(&metadata_url)
            && f.contains("status=503")),
        "{ours:?}"
    );
    for (_, _, fields) in &ours {
        for t in [&good, &wrong_aud] {
            let sig = t.rsplit('.').next().unwrap();
            assert!(!fields.contains(sig), "a token in the logs: {fields}");
            assert!(!fields.contains(t.split('.').nth(1).unwrap()));
        }
    }
}

#[tokio::test]
async fn authorized_extractor_rejection_is_logged_and_counted_once() {
    use axum::extract::FromRef;
    use entra_auth::{AuthState, Authorized, Permission, Requirement};

    struct LoggedOnce;
    impl Permission for LoggedOnce {}
    #[derive(Clone)]
    struct S(AuthState);
    impl FromRef<S> for AuthState {
        fn from_ref(s: &S) -> Self {
            s.0.clone()
        }
    }

    let capture = capture();
    let e = env().await;
    let app = axum::Router::new()
        .route(
            "/x",
            axum::routing::get(|_: Authorized<LoggedOnce>| async { "ok" }),
        )
        .with_state(S(AuthState::new(e.validator.clone())
            .permit::<LoggedOnce>(Requirement::scopes(["logged.once.marker"]))));
    let base = serve(app).await;
    let res = client()
        .get(format!("{base}/x"))
        .header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", e.reader()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.headers()[http::header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .ends_with("scope=\"logged.once.marker\""));
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "insufficient_scope");

    let logged = capture
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|(l, t, f)| {
            *l == Level::DEBUG && t == "entra_auth" && f.contains("logged.once.marker")
        })
        .count();
    assert_eq!(logged, 1, "the rejection is logged once");
    let m = e.validator.metrics();
    assert_eq!((m.accepted, m.rejected_with("insufficient_scope")), (0, 1));
}
