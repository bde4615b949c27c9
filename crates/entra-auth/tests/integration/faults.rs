//! A slow or broken identity provider over real HTTP (the default reqwest transport and its
//! timeouts): requests are never held hostage beyond the configured HTTP timeout, valid tokens are
//! not slowed down by a refresh hanging in the background, and malformed metadata or key documents
//! never replace the last good keys.
#![allow(clippy::unwrap_used)]

use crate::harness;

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use entra_auth::{AuthConfig, ManualClock, TokenValidator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the fake identity provider behaves.
const SERVE: u8 = 0;
/// Accepts, reads the request, never answers.
const HANG: u8 = 1;
/// Answers 200 with a body that is not a metadata or key document.
const GARBAGE: u8 = 2;

struct Idp {
    instance: String,
    mode: Arc<AtomicU8>,
    requests: Arc<AtomicUsize>,
}

/// A fake identity provider on 127.0.0.1:0, serving the harness documents.
async fn idp() -> Idp {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let instance = format!("http://{}/", listener.local_addr().unwrap());
    let mode = Arc::new(AtomicU8::new(SERVE));
    let requests = Arc::new(AtomicUsize::new(0));
    let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    let (m, r, base) = (mode.clone(), requests.clone(), instance.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let (m, r, base, held) = (m.clone(), r.clone(), base.clone(), held.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                r.fetch_add(1, Ordering::SeqCst);
                let text = String::from_utf8_lossy(&head).into_owned();
                let path = text
                    .split(' ')
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/');
                let url = format!("{base}{path}");
                let (status, body) = match m.load(Ordering::SeqCst) {
                    HANG => {
                        held.lock().unwrap().push(stream);
                        return;
                    }
                    GARBAGE => ("200 OK", "{\"issuer\": 42, \"keys\": \"no\"".to_owned()),
                    _ => match harness::document(&base, &url) {
                        Some(doc) => ("200 OK", doc),
                        None => ("404 Not Found", String::new()),
                    },
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    Idp {
        instance,
        mode,
        requests,
    }
}

const HTTP_TIMEOUT: Duration = Duration::from_millis(1500);
/// Generous: the bound is the HTTP timeout (per fetch), never "as long as the provider likes".
const BOUND: Duration = Duration::from_secs(10);

fn validator(idp: &Idp) -> TokenValidator {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(harness::NOW as u64));
    let config = AuthConfig::builder(harness::TID, harness::CID)
        .instance(&idp.instance)
        .clock(Arc::new(clock))
        .http(entra_auth::HttpOptions {
            timeout: HTTP_TIMEOUT,
            connect_timeout: HTTP_TIMEOUT,
            ..Default::default()
        })
        .build()
        .unwrap();
    TokenValidator::new(config).unwrap()
}

fn good_token(idp: &Idp, key: &harness::TestSigner) -> String {
    harness::sign_payload(
        key,
        harness::good_claims_at(&idp.instance)
            .to_string()
            .as_bytes(),
    )
}

fn unknown_kid_token(idp: &Idp, key: &harness::TestSigner) -> String {
    harness::sign_raw(
        key,
        br#"{"alg":"RS256","typ":"JWT","kid":"not-published"}"#,
        harness::good_claims_at(&idp.instance)
            .to_string()
            .as_bytes(),
    )
}

#[tokio::test]
async fn provider_that_never_answers_before_the_first_load_gives_503_within_the_http_timeout() {
    let idp = idp().await;
    idp.mode.store(HANG, Ordering::SeqCst);
    let v = validator(&idp);
    let token = good_token(&idp, &harness::key_pair());
    // 20 concurrent requests: they share one refresh, and each returns within the bound
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (v, token) = (v.clone(), token.clone());
        set.spawn(async move { v.validate(&token).await.unwrap_err() });
    }
    let mut answered = 0;
    while let Some(e) = set.join_next().await {
        let e = e.unwrap();
        assert_eq!((e.status().as_u16(), e.code()), (503, "keys_unavailable"));
        answered += 1;
    }
    let elapsed = started.elapsed();
    assert_eq!(answered, 20);
    assert!(elapsed < BOUND, "held for {elapsed:?}");
    assert!(
        elapsed >= HTTP_TIMEOUT / 2,
        "did not even wait for the provider: {elapsed:?}"
    );
    assert!(!v.is_ready());
}

#[tokio::test]
async fn provider_hanging_after_warm_up_bounds_unknown_kids_and_never_slows_valid_tokens() {
    let idp = idp().await;
    let v = validator(&idp);
    v.warm_up().await.unwrap();
    let key = harness::key_pair();
    let good = good_token(&idp, &key);
    assert_eq!(
        v.validate(&good)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    let fetched = idp.requests.load(Ordering::SeqCst);

    idp.mode.store(HANG, Ordering::SeqCst);
    // an unknown kid forces a refresh that hangs until the HTTP timeout...
    let forced = {
        let (v, t) = (v.clone(), unknown_kid_token(&idp, &key));
        tokio::spawn(async move {
            let started = Instant::now();
            (v.validate(&t).await.unwrap_err(), started.elapsed())
        })
    };
    let deadline = Instant::now() + BOUND;
    while idp.requests.load(Ordering::SeqCst) == fetched {
        assert!(
            Instant::now() < deadline,
            "the unknown kid caused no refresh"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ...meanwhile a valid token is checked against the current keys without waiting for it
    let started = Instant::now();
    for _ in 0..10 {
        assert_eq!(
            v.validate(&good)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Ok(())
        );
    }
    let valid_elapsed = started.elapsed();
    let (e, forced_elapsed) = forced.await.unwrap();
    assert_eq!(
        (e.status().as_u16(), e.code()),
        (401, "unknown_signing_key")
    );
    assert!(forced_elapsed < BOUND, "held for {forced_elapsed:?}");
    assert!(
        valid_elapsed < forced_elapsed,
        "valid tokens waited for the hanging refresh ({valid_elapsed:?} vs {forced_elapsed:?})"
    );
    assert!(v.is_ready());
}

#[tokio::test]
async fn malformed_metadata_and_key_documents_keep_the_last_good_keys() {
    let idp = idp().await;
    let v = validator(&idp);
    v.warm_up().await.unwrap();
    let key = harness::key_pair();
    let good = good_token(&idp, &key);
    idp.mode.store(GARBAGE, Ordering::SeqCst);
    // the refresh reads garbage: it fails, and says so
    assert_eq!(
        v.warm_up().await.map_err(|e| e.code()),
        Err("keys_unavailable"),
        "the refresh read garbage"
    );
    let e = v
        .validate(&unknown_kid_token(&idp, &key))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "unknown_signing_key");
    // the known key still verifies
    let claims = v.validate(&good).await.unwrap();
    assert_eq!(claims.tid(), Some(harness::TID));
    assert!(v.is_ready());
    // and the provider's return is picked up
    idp.mode.store(SERVE, Ordering::SeqCst);
    v.warm_up().await.unwrap();
    assert_eq!(
        v.validate(&good)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
}
