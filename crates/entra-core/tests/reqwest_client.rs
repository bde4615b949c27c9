//! `ReqwestClient` over real HTTP on 127.0.0.1: the body cap (Content-Length first, then while
//! streaming), redirects returned and not followed, a configured proxy used, timeouts typed, and no
//! URL (nor its query) in any error.
#![cfg(feature = "reqwest")]
#![allow(missing_docs, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use entra_core::http::{get_json, post_form, HttpClient, HttpError, HttpOptions, ReqwestClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use url::Url;

/// Serves one connection: reads the request (head, then a Content-Length body), answers
/// `response`, then keeps the connection open when `hold`. Sends back what it received.
async fn serve_once(
    response: impl Into<Vec<u8>>,
    hold: bool,
) -> (SocketAddr, oneshot::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    let response = response.into();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let head_end = loop {
            let n = sock.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
            if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&got[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or(0);
        while got.len() < head_end + length {
            let n = sock.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        let _ = tx.send(String::from_utf8_lossy(&got).into_owned());
        if !response.is_empty() {
            sock.write_all(&response).await.unwrap();
        }
        if hold {
            std::future::pending::<()>().await;
        }
    });
    (addr, rx)
}

fn client(options: HttpOptions) -> ReqwestClient {
    ReqwestClient::new(&options, "entra-core-test/1").unwrap()
}

fn capped(max_response_bytes: usize) -> ReqwestClient {
    client(HttpOptions {
        max_response_bytes,
        ..HttpOptions::default()
    })
}

fn url(addr: SocketAddr, path: &str) -> Url {
    Url::parse(&format!("http://{addr}{path}")).unwrap()
}

#[tokio::test]
async fn form_post_arrives_with_its_headers_and_body_and_the_answer_comes_back_whole() {
    let (addr, got) = serve_once(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 17\r\n\r\n{\"access_token\":1",
        false,
    )
    .await;
    let res = capped(1024)
        .send(post_form(
            &url(addr, "/t/oauth2/v2.0/token"),
            "grant_type=client_credentials".into(),
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()[http::header::CONTENT_TYPE],
        "application/json"
    );
    assert_eq!(res.body(), &Bytes::from_static(b"{\"access_token\":1"));
    let got = got.await.unwrap();
    assert!(
        got.starts_with("POST /t/oauth2/v2.0/token HTTP/1.1\r\n"),
        "{got}"
    );
    let lower = got.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/x-www-form-urlencoded\r\n"),
        "{got}"
    );
    assert!(lower.contains("accept: application/json\r\n"), "{got}");
    assert!(lower.contains("user-agent: entra-core-test/1\r\n"), "{got}");
    assert!(
        got.ends_with("\r\n\r\ngrant_type=client_credentials"),
        "{got}"
    );
}

#[tokio::test]
async fn content_length_over_the_cap_is_refused_before_the_body_arrives() {
    // The body never comes: waiting for it would end in a timeout, not TooLarge.
    let (addr, _got) = serve_once(
        &b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n"[..],
        true,
    )
    .await;
    let err = capped(1024)
        .send(get_json(&url(addr, "/keys")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, HttpError::TooLarge { limit: 1024 }),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "response larger than 1024 bytes");
}

#[tokio::test]
async fn chunked_body_over_the_cap_is_refused_while_streaming() {
    let chunk = format!("200\r\n{}\r\n", "a".repeat(0x200));
    let response =
        format!("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{chunk}{chunk}0\r\n\r\n");
    let (addr, _got) = serve_once(response, false).await;
    let err = capped(1000)
        .send(get_json(&url(addr, "/keys")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, HttpError::TooLarge { limit: 1000 }),
        "{err:?}"
    );
}

#[tokio::test]
async fn redirect_is_returned_not_followed() {
    let (target, mut target_got) =
        serve_once(&b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..], false).await;
    let (addr, _got) = serve_once(
        format!("HTTP/1.1 302 Found\r\nlocation: http://{target}/elsewhere\r\ncontent-length: 0\r\n\r\n"),
        false,
    )
    .await;
    let res = capped(1024)
        .send(get_json(&url(addr, "/metadata")))
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(
        res.headers()[http::header::LOCATION],
        format!("http://{target}/elsewhere").as_str()
    );
    assert!(
        matches!(
            target_got.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        ),
        "the redirect target was never asked"
    );
}

#[tokio::test]
async fn configured_proxy_carries_every_request() {
    let (proxy, got) = serve_once(&b"HTTP/1.1 204 No Content\r\n\r\n"[..], false).await;
    let c = client(HttpOptions {
        proxy: Some(Url::parse(&format!("http://{proxy}")).unwrap()),
        ..HttpOptions::default()
    });
    let res = c
        .send(get_json(
            &Url::parse("http://idp.example/t/v2.0/.well-known/openid-configuration").unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let got = got.await.unwrap();
    assert!(
        got.starts_with(
            "GET http://idp.example/t/v2.0/.well-known/openid-configuration HTTP/1.1\r\n"
        ),
        "{got}"
    );
}

#[tokio::test]
async fn request_without_an_answer_is_a_timeout() {
    let (addr, _got) = serve_once(Vec::new(), true).await;
    let c = client(HttpOptions {
        timeout: Duration::from_millis(300),
        ..HttpOptions::default()
    });
    let err = c.send(get_json(&url(addr, "/slow"))).await.unwrap_err();
    assert!(matches!(err, HttpError::TimedOut), "{err:?}");
}

#[tokio::test]
async fn connection_errors_never_carry_the_url_or_its_query() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let secret_url = url(addr, "/t/oauth2/v2.0/token?client_secret=s3cr3t-value");
    let err = capped(1024)
        .send(post_form(&secret_url, "client_secret=s3cr3t-value".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Connect(_)), "{err:?}");
    let mut chain = format!("{err} {err:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        chain.push_str(&format!(" {s} {s:?}"));
        source = s.source();
    }
    assert!(!chain.contains("s3cr3t"), "{chain}");
    assert!(!chain.contains("/oauth2/"), "{chain}");
}
