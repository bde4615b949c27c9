//! The device code polling rules (RFC 8628) against a scripted token endpoint, on tokio's paused
//! clock: the server's interval, `authorization_pending`, `slow_down` (+5 s), `expired_token`,
//! `authorization_declined` / `access_denied`, and a code that runs out while pending.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use entra_token::{
    Authority, BoxFuture, FileCache, Interaction, PublicClient, PublicConfig, Scopes, TokenError,
    TokenSource, TokenTransport, TransportError,
};
use http::StatusCode;

const CLIENT: &str = "5a5a5a5a-6b6b-4c7c-8d8d-9e9e9e9e9e9e";

/// Answers in order; records each request's URL, form and (paused) time since the start.
#[derive(Debug)]
struct Scripted {
    answers: Mutex<VecDeque<(u16, String)>>,
    seen: Mutex<Vec<(String, String, Duration)>>,
    start: tokio::time::Instant,
}

impl Scripted {
    fn new(answers: &[(u16, String)]) -> Arc<Self> {
        Arc::new(Self {
            answers: Mutex::new(answers.iter().cloned().collect()),
            seen: Mutex::new(Vec::new()),
            start: tokio::time::Instant::now(),
        })
    }

    /// Seconds (paused clock) at which each polling request was sent.
    fn poll_times(&self) -> Vec<u64> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(url, _, _)| url.ends_with("/token"))
            .map(|(_, _, t)| t.as_secs())
            .collect()
    }
}

impl TokenTransport for Scripted {
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, TransportError>> {
        Box::pin(async move {
            let body = String::from_utf8(request.body().to_vec()).unwrap();
            self.seen
                .lock()
                .unwrap()
                .push((request.uri().to_string(), body, self.start.elapsed()));
            let (status, body) = self
                .answers
                .lock()
                .unwrap()
                .pop_front()
                .expect("no more scripted answers");
            let mut res = http::Response::new(Bytes::from(body));
            *res.status_mut() = StatusCode::from_u16(status).unwrap();
            Ok(res)
        })
    }
}

fn start(interval: u64, expires_in: u64) -> (u16, String) {
    (
        200,
        format!(
            r#"{{"user_code":"ABCD1234E","device_code":"dev-code-secret","verification_uri":"https://login.example/devicelogin","expires_in":{expires_in},"interval":{interval},"message":"enter ABCD1234E"}}"#
        ),
    )
}

fn error(error: &str, code: u64) -> (u16, String) {
    (
        400,
        format!(
            r#"{{"error":"{error}","error_description":"AADSTS{code}: {error}","error_codes":[{code}]}}"#
        ),
    )
}

fn tokens() -> (u16, String) {
    let id = URL_SAFE_NO_PAD
        .encode(br#"{"oid":"o1","tid":"t1","preferred_username":"alice@dev.example"}"#);
    (
        200,
        format!(
            r#"{{"token_type":"Bearer","expires_in":3600,"access_token":"at-1","refresh_token":"rt-1","id_token":"h.{id}.s","scope":"api://x/read"}}"#
        ),
    )
}

fn client(transport: Arc<Scripted>, dir: &tempfile::TempDir) -> PublicClient {
    let config = PublicConfig::builder(
        Authority::public("organizations").unwrap(),
        CLIENT,
        FileCache::new(dir.path().join("tokens.json")),
    )
    .build()
    .unwrap();
    PublicClient::with_transport(config, transport)
}

async fn run(
    answers: &[(u16, String)],
) -> (
    Result<entra_token::AuthResult, TokenError>,
    Arc<Scripted>,
    Vec<String>,
) {
    let dir = tempfile::tempdir().unwrap();
    let transport = Scripted::new(answers);
    let shown = Arc::new(Mutex::new(Vec::new()));
    let shown2 = Arc::clone(&shown);
    let result = client(Arc::clone(&transport), &dir)
        .acquire_by_device_code(&Scopes::parse("api://x/read"), &move |p| {
            shown2
                .lock()
                .unwrap()
                .push(format!("{} {}", p.verification_uri, p.user_code));
        })
        .await;
    let shown = shown.lock().unwrap().clone();
    (result, transport, shown)
}

#[tokio::test(start_paused = true)]
async fn device_code_pending_then_slow_down_polls_at_the_interval_plus_five_seconds() {
    let (result, transport, shown) = run(&[
        start(5, 900),
        error("authorization_pending", 70016),
        error("slow_down", 70016),
        error("authorization_pending", 70016),
        tokens(),
    ])
    .await;
    let r = result.unwrap();
    assert_eq!(r.source, TokenSource::DeviceCode);
    assert_eq!(r.account.id, "o1.t1");
    assert_eq!(r.access_token.secret(), "at-1");
    assert_eq!(shown, ["https://login.example/devicelogin ABCD1234E"]);
    // 5 s, 10 s, then slow_down: every 10 s.
    assert_eq!(transport.poll_times(), [5, 10, 20, 30]);
    let seen = transport.seen.lock().unwrap();
    assert!(seen[0].0.ends_with("/organizations/oauth2/v2.0/devicecode"));
    assert!(seen[0].1.contains("offline_access"), "{}", seen[0].1);
    assert!(seen[1]
        .1
        .contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"));
    assert!(seen[1].1.contains("device_code=dev-code-secret"));
}

#[tokio::test(start_paused = true)]
async fn device_code_expired_token_answer_is_device_code_expired() {
    let (result, transport, _) = run(&[
        start(5, 900),
        error("authorization_pending", 70016),
        error("expired_token", 70019),
    ])
    .await;
    let e = result.unwrap_err();
    assert!(
        matches!(e, TokenError::DeviceCodeExpired { after } if after == Duration::from_secs(900)),
        "{e:?}"
    );
    assert!(e.to_string().contains("start again"), "{e}");
    assert_eq!(transport.poll_times(), [5, 10]);
}

#[tokio::test(start_paused = true)]
async fn device_code_authorization_declined_is_sign_in_declined() {
    let (result, _, _) = run(&[start(5, 900), error("authorization_declined", 70000)]).await;
    let e = result.unwrap_err();
    assert!(
        matches!(&e, TokenError::SignInDeclined { error, .. } if error == "authorization_declined"),
        "{e:?}"
    );
    assert!(e
        .to_string()
        .starts_with("the sign-in was declined (authorization_declined)"));
}

#[tokio::test(start_paused = true)]
async fn device_code_access_denied_is_sign_in_declined() {
    let (result, _, _) = run(&[start(5, 900), error("access_denied", 65004)]).await;
    assert!(matches!(
        result.unwrap_err(),
        TokenError::SignInDeclined { error, .. } if error == "access_denied"
    ));
}

#[tokio::test(start_paused = true)]
async fn device_code_still_pending_at_its_expiry_stops_without_another_poll() {
    let (result, transport, _) = run(&[
        start(5, 12),
        error("authorization_pending", 70016),
        error("authorization_pending", 70016),
    ])
    .await;
    assert!(matches!(
        result.unwrap_err(),
        TokenError::DeviceCodeExpired { .. }
    ));
    assert_eq!(transport.poll_times(), [5, 10]);
}

#[tokio::test(start_paused = true)]
async fn device_authorization_refused_for_an_unknown_client_is_typed_before_any_prompt() {
    let (result, transport, shown) = run(&[(
        401,
        r#"{"error":"invalid_client","error_description":"AADSTS700016: Application not found","error_codes":[700016]}"#
            .to_owned(),
    )])
    .await;
    let e = result.unwrap_err();
    assert!(
        matches!(&e, TokenError::Rejected(a) if a.kind == entra_token::AadstsKind::ApplicationNotFound),
        "{e:?}"
    );
    assert!(shown.is_empty());
    assert!(transport.poll_times().is_empty());
}

#[tokio::test(start_paused = true)]
async fn acquire_is_silent_first_and_prompts_only_without_a_usable_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let transport = Scripted::new(&[start(5, 900), tokens()]);
    let client = client(Arc::clone(&transport), &dir);
    let prompts = Arc::new(Mutex::new(0));
    let counted = Arc::clone(&prompts);
    let show = move |_: &entra_token::DeviceCodePrompt| *counted.lock().unwrap() += 1;
    let scopes = Scopes::parse("api://x/read");
    let first = client
        .acquire(&scopes, Interaction::DeviceCode { show_prompt: &show })
        .await
        .unwrap();
    assert_eq!(first.source, TokenSource::DeviceCode);
    let second = client
        .acquire(&scopes, Interaction::DeviceCode { show_prompt: &show })
        .await
        .unwrap();
    assert_eq!(second.source, TokenSource::Cache);
    assert_eq!(second.access_token.secret(), "at-1");
    assert_eq!(*prompts.lock().unwrap(), 1, "prompted once");
    assert_eq!(
        transport.seen.lock().unwrap().len(),
        2,
        "no request the second time"
    );
}

#[tokio::test(start_paused = true)]
async fn device_code_interval_of_zero_polls_once_a_second_never_back_to_back() {
    let (result, transport, _) = run(&[
        start(0, 900),
        error("authorization_pending", 70016),
        error("authorization_pending", 70016),
        tokens(),
    ])
    .await;
    assert_eq!(result.unwrap().source, TokenSource::DeviceCode);
    assert_eq!(transport.poll_times(), [1, 2, 3]);
}

/// A device authorization endpoint and token endpoint on 127.0.0.1 that answer what the test
/// gives (an identity provider gone wrong, or a hostile one): the device code answer, then
/// `authorization_pending` once, then tokens.
mod hostile {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use axum::routing::post;
    use axum::Router;

    pub(super) struct Idp {
        pub(super) url: String,
        pub(super) polls: Arc<AtomicU64>,
    }

    pub(super) async fn start(device_answer: String) -> Idp {
        let polls = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&polls);
        let app = Router::new()
            .route(
                "/organizations/oauth2/v2.0/devicecode",
                post(
                    move || async move { ([("content-type", "application/json")], device_answer) },
                ),
            )
            .route(
                "/organizations/oauth2/v2.0/token",
                post(move || async move {
                    let (status, body) = if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                        super::error("authorization_pending", 70016)
                    } else {
                        super::tokens()
                    };
                    (
                        http::StatusCode::from_u16(status).unwrap(),
                        [("content-type", "application/json")],
                        body,
                    )
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Idp { url, polls }
    }
}

#[tokio::test]
async fn device_code_answer_with_huge_expiry_zero_interval_and_a_long_message_signs_in_without_a_panic(
) {
    // A localised prompt longer than 120 characters, with the code at its end and an escape
    // sequence planted in it.
    let message = String::from(
        "Um sich anzumelden, öffnen Sie in einem Webbrowser die Seite \
         https://microsoft.com/devicelogin und geben Sie den Code ABCD1234E ein, \u{1b}[2J\u{202e}um \
         sich zu authentifizieren. Code: ABCD1234E"
    );
    let answer = serde_json::json!({
        "user_code": "ABCD1234E",
        "device_code": "dev-code-secret",
        "verification_uri": "https://microsoft.com/devicelogin",
        "expires_in": u64::MAX,
        "interval": 0,
        "message": message,
    });
    let idp = hostile::start(answer.to_string()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = PublicConfig::builder(
        Authority::public("organizations")
            .unwrap()
            .with_instance(&idp.url)
            .unwrap(),
        CLIENT,
        FileCache::new(dir.path().join("tokens.json")),
    )
    .build()
    .unwrap();
    let client = PublicClient::new(config).unwrap();
    let shown = Arc::new(Mutex::new(None));
    let keep = Arc::clone(&shown);
    let result = client
        .acquire_by_device_code(&Scopes::parse("api://x/read"), &move |p| {
            *keep.lock().unwrap() = Some(p.clone());
        })
        .await
        .unwrap();
    assert_eq!(result.source, TokenSource::DeviceCode);
    assert_eq!(result.account.id, "o1.t1");
    assert_eq!(idp.polls.load(std::sync::atomic::Ordering::SeqCst), 2);
    let prompt = shown.lock().unwrap().clone().unwrap();
    assert_eq!(
        prompt.expires_in,
        Duration::from_secs(3600),
        "at most an hour"
    );
    assert_eq!(prompt.interval, Duration::from_secs(1), "at least a second");
    // The whole message, its control and bidi characters replaced.
    assert_eq!(
        prompt.message.as_deref(),
        Some(message.replace(['\u{1b}', '\u{202e}'], "\u{fffd}").as_str())
    );
    assert!(message.chars().count() > 120);
    assert!(prompt.message.unwrap().ends_with("Code: ABCD1234E"));
}
