//! `weather login`: the authorization code grant with PKCE (RFC 7636, S256) through the user's browser.
//!
//! A listener on `127.0.0.1:0` receives the redirect (`http://127.0.0.1:{port}/`, a loopback redirect URI
//! as RFC 8252 recommends for native apps); a random `state` ties the answer to this sign-in; the verifier
//! never leaves the process until the code is redeemed. The URL is always printed, and a browser is
//! started with `xdg-open`/`open` unless `--no-browser`.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use url::Url;

/// Time a browser connection gets to send its request line and headers.
const REQUEST_READ_LIMIT: Duration = Duration::from_secs(10);
/// Largest request head accepted on the loopback listener.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// Why the sign-in failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoginError {
    /// The loopback listener could not be opened.
    #[error("sign-in: cannot listen on 127.0.0.1 for the browser's answer")]
    Listen(#[source] std::io::Error),
    /// Nobody came back in time.
    #[error("sign-in: no answer from the browser within {0} s")]
    TimedOut(u64),
    /// The identity provider (or the user) refused.
    #[error("sign-in refused: {error}: {description}")]
    Refused {
        /// OAuth 2.0 `error`, e.g. `access_denied`.
        error: String,
        /// `error_description`.
        description: String,
    },
    /// The redirect does not belong to this sign-in.
    #[error("sign-in: the answer's state does not match this sign-in (a stale or forged redirect); try again")]
    StateMismatch,
}

/// A PKCE verifier and its S256 challenge.
#[derive(Debug, Clone)]
pub(crate) struct Pkce {
    /// The secret verifier (43 URL-safe characters).
    pub(crate) verifier: String,
    /// `BASE64URL(SHA256(verifier))`.
    pub(crate) challenge: String,
}

impl Pkce {
    /// A fresh random verifier.
    pub(crate) fn generate() -> Self {
        Self::from_verifier(random_token())
    }

    /// The challenge of a given verifier.
    pub(crate) fn from_verifier(verifier: String) -> Self {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

/// 32 random bytes, base64url: a `state` or a PKCE verifier.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The authorization request URL.
pub(crate) fn authorize_url(
    endpoint: &Url,
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    state: &str,
    pkce: &Pkce,
) -> Url {
    let mut url = endpoint.clone();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_mode", "query")
        .append_pair("scope", &format!("{scope} openid profile"))
        .append_pair("state", state)
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256");
    url
}

/// What a request to the loopback listener says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Callback {
    /// The authorization code.
    Code(String),
    /// An OAuth 2.0 error answer.
    Error {
        /// `error`.
        error: String,
        /// `error_description`.
        description: String,
    },
    /// A redirect with another `state`.
    StateMismatch,
    /// Some other request (favicon, probe).
    Other,
}

/// Interprets a request target (`/?code=...&state=...`) received on the listener.
pub(crate) fn parse_callback(target: &str, expected_state: &str) -> Callback {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/" {
        return Callback::Other;
    }
    let mut code = None;
    let mut state = None;
    let mut error = None;
    let mut description = String::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "code" => code = Some(v.into_owned()),
            "state" => state = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            "error_description" => description = v.into_owned(),
            _ => {}
        }
    }
    if code.is_none() && error.is_none() {
        return Callback::Other;
    }
    if state.as_deref() != Some(expected_state) {
        return Callback::StateMismatch;
    }
    match (code, error) {
        (_, Some(error)) => Callback::Error { error, description },
        (Some(code), None) => Callback::Code(code),
        (None, None) => Callback::Other,
    }
}

/// The loopback listener, bound before the URL is printed.
#[derive(Debug)]
pub(crate) struct Listener {
    listener: TcpListener,
    redirect_uri: String,
}

impl Listener {
    /// Binds `127.0.0.1:0`.
    ///
    /// # Errors
    /// [`LoginError::Listen`].
    pub(crate) async fn bind() -> Result<Self, LoginError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(LoginError::Listen)?;
        let port = listener.local_addr().map_err(LoginError::Listen)?.port();
        Ok(Self {
            listener,
            redirect_uri: format!("http://127.0.0.1:{port}/"),
        })
    }

    /// `http://127.0.0.1:{port}/`.
    pub(crate) fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Waits (at most `wait`) for the redirect carrying the code for `state`, answering the browser with a
    /// small page. Requests that are not the redirect get a 404 and the wait goes on.
    ///
    /// # Errors
    /// [`LoginError::TimedOut`], [`LoginError::Refused`], [`LoginError::StateMismatch`], [`LoginError::Listen`].
    pub(crate) async fn wait_for_code(
        self,
        state: &str,
        wait: Duration,
    ) -> Result<String, LoginError> {
        let accept_loop = async {
            let mut reading: JoinSet<Option<(TcpStream, String)>> = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = self.listener.accept() => {
                        let (stream, _) = accepted.map_err(LoginError::Listen)?;
                        reading.spawn(async move {
                            tokio::time::timeout(REQUEST_READ_LIMIT, read_target(stream))
                                .await
                                .ok()
                                .flatten()
                        });
                    }
                    Some(done) = reading.join_next() => {
                        let Ok(Some((mut stream, target))) = done else { continue };
                        match parse_callback(&target, state) {
                            Callback::Other => {
                                respond(&mut stream, "404 Not Found", "Not found", "This is the sign-in listener of the weather command.").await;
                            }
                            Callback::Code(code) => {
                                respond(&mut stream, "200 OK", "Signed in", "You are signed in to the weather command. You can close this window.").await;
                                return Ok(code);
                            }
                            Callback::Error { error, description } => {
                                respond(&mut stream, "200 OK", "Sign-in failed", &format!("{error}: {description}")).await;
                                return Err(LoginError::Refused { error, description });
                            }
                            Callback::StateMismatch => {
                                respond(&mut stream, "400 Bad Request", "Sign-in failed", "This answer does not belong to the sign-in in progress.").await;
                                return Err(LoginError::StateMismatch);
                            }
                        }
                    }
                }
            }
        };
        tokio::time::timeout(wait, accept_loop)
            .await
            .map_err(|_| LoginError::TimedOut(wait.as_secs()))?
    }
}

/// Reads a request head and returns the stream with the request target of a GET.
async fn read_target(mut stream: TcpStream) -> Option<(TcpStream, String)> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 || head.len() + n > MAX_REQUEST_HEAD {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let mut parts = line.split(' ');
    let (method, target) = (parts.next()?, parts.next()?);
    (method == "GET").then(|| (stream, target.to_owned()))
}

/// Answers the browser with a small HTML page.
async fn respond(stream: &mut TcpStream, status: &str, title: &str, message: &str) {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body style=\"font-family: sans-serif\"><h1>{t}</h1><p>{m}</p></body></html>",
        t = html_escape(title),
        m = html_escape(message)
    );
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    // The browser may be gone already: the outcome does not depend on this write.
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Starts the platform's URL opener (not waited for: the printed URL is the fallback).
pub(crate) fn open_browser(url: &Url) -> std::io::Result<tokio::process::Child> {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    tokio::process::Command::new(opener)
        .arg(url.as_str())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
}

/// The display name in an ID token (`name`, then `preferred_username`). For display only: the token came
/// straight from the token endpoint over the connection the CLI opened, and nothing is decided on it.
pub(crate) fn account_of(id_token: &str) -> Option<String> {
    let payload = id_token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let name = claims.get("name").and_then(|v| v.as_str());
    let user = claims.get("preferred_username").and_then(|v| v.as_str());
    match (name, user) {
        (Some(n), Some(u)) => Some(format!("{n} ({u})")),
        (Some(x), None) | (None, Some(x)) => Some(x.to_owned()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        let p = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
        assert_eq!(p.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        let g = Pkce::generate();
        assert_eq!(g.verifier.len(), 43);
        assert_ne!(g.verifier, Pkce::generate().verifier);
    }

    #[test]
    fn authorize_url_carries_pkce_state_and_the_loopback_redirect() {
        let endpoint =
            Url::parse("http://127.0.0.1:8000/dev-issuer/t/oauth2/v2.0/authorize").unwrap();
        let pkce = Pkce::from_verifier("v".repeat(43));
        let url = authorize_url(
            &endpoint,
            "pub",
            "http://127.0.0.1:5555/",
            "api://x/weather.read",
            "st",
            &pkce,
        );
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["client_id"], "pub");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["redirect_uri"], "http://127.0.0.1:5555/");
        assert_eq!(q["scope"], "api://x/weather.read openid profile");
        assert_eq!(q["state"], "st");
        assert_eq!(q["code_challenge"], pkce.challenge);
        assert_eq!(q["code_challenge_method"], "S256");
        assert!(!url.as_str().contains(&pkce.verifier));
    }

    #[test]
    fn callbacks_are_told_apart() {
        assert_eq!(
            parse_callback("/?code=abc&state=s1", "s1"),
            Callback::Code("abc".into())
        );
        assert_eq!(
            parse_callback("/?code=abc&state=other", "s1"),
            Callback::StateMismatch
        );
        assert_eq!(parse_callback("/?code=abc", "s1"), Callback::StateMismatch);
        assert_eq!(
            parse_callback(
                "/?error=access_denied&error_description=AADSTS65004%3A+declined&state=s1",
                "s1"
            ),
            Callback::Error {
                error: "access_denied".into(),
                description: "AADSTS65004: declined".into()
            }
        );
        assert_eq!(parse_callback("/favicon.ico", "s1"), Callback::Other);
        assert_eq!(parse_callback("/", "s1"), Callback::Other);
    }

    #[test]
    fn account_comes_from_name_and_preferred_username() {
        let payload = URL_SAFE_NO_PAD
            .encode(br#"{"name":"Alice Example","preferred_username":"alice@dev.example"}"#);
        assert_eq!(
            account_of(&format!("h.{payload}.s")).as_deref(),
            Some("Alice Example (alice@dev.example)")
        );
        assert_eq!(account_of("garbage"), None);
    }

    #[test]
    fn html_is_escaped_in_browser_pages() {
        assert_eq!(
            html_escape("<b>\"x\" & 'y'"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;"
        );
    }

    #[tokio::test]
    async fn listener_skips_other_requests_and_returns_the_code() {
        let listener = Listener::bind().await.unwrap();
        let base = listener.redirect_uri().to_owned();
        let wait = tokio::spawn(listener.wait_for_code("s1", Duration::from_secs(30)));
        let client = reqwest::Client::new();
        let favicon = client
            .get(format!("{base}favicon.ico"))
            .send()
            .await
            .unwrap();
        assert_eq!(favicon.status(), 404);
        let page = client
            .get(format!("{base}?code=c0de&state=s1"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("You are signed in"));
        assert_eq!(wait.await.unwrap().unwrap(), "c0de");
    }
}
