//! The authorization code grant with PKCE (RFC 7636, S256) through a loopback redirect
//! (RFC 8252 section 7.3), for any CLI or desktop app.
//!
//! A listener on `127.0.0.1:0` receives the redirect (`http://127.0.0.1:{port}/`); a random
//! `state` ties the answer to this sign-in; the verifier never leaves the process until the code
//! is redeemed. Requests that are not the redirect (a favicon, a probe) get a 404, and a redirect
//! carrying another `state` (stale, or forged by any local process) a 400, and the wait goes on
//! until the deadline; each connection has 10 s to send its request head (at most 16 KiB).

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use url::Url;

use crate::error::{clip, LoopbackError, TokenError};

/// Time a browser connection gets to send its request line and headers.
const REQUEST_READ_LIMIT: Duration = Duration::from_secs(10);
/// Largest request head accepted on the loopback listener.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// A PKCE verifier and its S256 challenge. `Debug` hides the verifier.
#[derive(Clone)]
pub struct Pkce {
    verifier: String,
    challenge: String,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("verifier", &"[REDACTED]")
            .field("challenge", &self.challenge)
            .finish()
    }
}

impl Pkce {
    /// A fresh random verifier (32 random bytes, base64url: 43 characters).
    pub fn generate() -> Self {
        Self::from_verifier(random_token())
    }

    /// The challenge of a given verifier.
    ///
    /// ```
    /// // RFC 7636, appendix B.
    /// let p = entra_token::Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
    /// assert_eq!(p.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    /// ```
    pub fn from_verifier(verifier: String) -> Self {
        let challenge = URL_SAFE_NO_PAD.encode(entra_core::crypto::sha256(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }

    /// The secret verifier, sent only with the code to the token endpoint.
    pub fn verifier(&self) -> &str {
        &self.verifier
    }

    /// `BASE64URL(SHA256(verifier))`, sent in the authorization URL.
    pub fn challenge(&self) -> &str {
        &self.challenge
    }
}

/// 32 random bytes, base64url: a `state` or a PKCE verifier.
pub(crate) fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// The authorization request URL: `response_type=code`, `response_mode=query`, the S256
/// challenge, `state`, and `scope` as given (the caller adds `openid profile offline_access`).
pub fn authorize_url(
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
        .append_pair("scope", scope)
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
    Error { error: String, description: String },
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

/// The loopback listener, bound before the URL is shown.
#[derive(Debug)]
pub struct LoopbackListener {
    listener: TcpListener,
    redirect_uri: String,
    app_name: String,
}

impl LoopbackListener {
    /// Binds `127.0.0.1:0`. `app_name` is shown on the pages the browser gets back.
    ///
    /// # Errors
    /// [`LoopbackError::Listen`].
    pub async fn bind(app_name: &str) -> Result<Self, LoopbackError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(LoopbackError::Listen)?;
        let port = listener.local_addr().map_err(LoopbackError::Listen)?.port();
        Ok(Self {
            listener,
            redirect_uri: format!("http://127.0.0.1:{port}/"),
            app_name: app_name.to_owned(),
        })
    }

    /// `http://127.0.0.1:{port}/`.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Waits (at most `wait`) for the redirect carrying the code for `state`, answering the
    /// browser with a small page. A redirect with another `state` is answered 400 and ignored.
    ///
    /// # Errors
    /// [`TokenError::Loopback`] (timed out, listener failure),
    /// [`TokenError::SignInDeclined`] (`access_denied` and the like).
    pub async fn wait_for_code(self, state: &str, wait: Duration) -> Result<String, TokenError> {
        let app = html_escape(&self.app_name);
        let accept_loop = async {
            let mut reading: JoinSet<Option<(TcpStream, String)>> = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = self.listener.accept() => {
                        let (stream, _) = accepted.map_err(LoopbackError::Listen)?;
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
                                respond(&mut stream, "404 Not Found", "Not found", &format!("This is the sign-in listener of {app}.")).await;
                            }
                            Callback::Code(code) => {
                                respond(&mut stream, "200 OK", "Signed in", &format!("You are signed in to {app}. You can close this window.")).await;
                                return Ok(code);
                            }
                            Callback::Error { error, description } => {
                                let shown = format!("{}: {}", html_escape(&error), html_escape(&description));
                                respond(&mut stream, "200 OK", "Sign-in failed", &shown).await;
                                let (error, description) = (clip(&error), clip(&description));
                                if matches!(error.as_str(), "access_denied" | "authorization_declined" | "consent_required" | "interaction_required") {
                                    return Err(TokenError::SignInDeclined { error, description });
                                }
                                return Err(LoopbackError::Refused { error, description }.into());
                            }
                            Callback::StateMismatch => {
                                // Any local process can send this: refuse it and keep waiting for
                                // the browser (only the deadline ends the sign-in).
                                respond(&mut stream, "400 Bad Request", "Not this sign-in", "This answer does not belong to the sign-in in progress; it was ignored.").await;
                                tracing::warn!(target: "entra_token", "sign-in listener: ignored an answer carrying another state (stale or forged)");
                            }
                        }
                    }
                }
            }
        };
        tokio::time::timeout(wait, accept_loop)
            .await
            .map_err(|_| LoopbackError::TimedOut { after: wait })?
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

/// Answers the browser with a small HTML page (`message` is already escaped).
async fn respond(stream: &mut TcpStream, status: &str, title: &str, message: &str) {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body style=\"font-family: sans-serif\"><h1>{t}</h1><p>{message}</p></body></html>",
        t = html_escape(title),
    );
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\ncontent-security-policy: default-src 'none'; style-src 'unsafe-inline'\r\n\
         connection: close\r\n\r\n{body}",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_verifiers_are_43_characters_and_differ() {
        let g = Pkce::generate();
        assert_eq!(g.verifier().len(), 43);
        assert_ne!(g.verifier(), Pkce::generate().verifier());
        assert!(!format!("{g:?}").contains(g.verifier()));
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
            "api://x/weather.read openid",
            "st",
            &pkce,
        );
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["client_id"], "pub");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["redirect_uri"], "http://127.0.0.1:5555/");
        assert_eq!(q["scope"], "api://x/weather.read openid");
        assert_eq!(q["state"], "st");
        assert_eq!(q["code_challenge"], pkce.challenge());
        assert_eq!(q["code_challenge_method"], "S256");
        assert!(!url.as_str().contains(pkce.verifier()));
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
    fn html_is_escaped_in_browser_pages() {
        assert_eq!(
            html_escape("<b>\"x\" & 'y'"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;"
        );
    }

    #[tokio::test]
    async fn listener_skips_other_requests_and_returns_the_code() {
        let listener = LoopbackListener::bind("the <test> app").await.unwrap();
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
        assert_eq!(page.headers()["cache-control"], "no-store");
        let html = page.text().await.unwrap();
        assert!(
            html.contains("You are signed in to the &lt;test&gt; app"),
            "{html}"
        );
        assert_eq!(wait.await.unwrap().unwrap(), "c0de");
    }

    #[tokio::test]
    async fn listener_returns_declined_for_access_denied_and_escapes_the_description() {
        let listener = LoopbackListener::bind("app").await.unwrap();
        let base = listener.redirect_uri().to_owned();
        let wait = tokio::spawn(listener.wait_for_code("s1", Duration::from_secs(30)));
        let page = reqwest::get(format!(
            "{base}?error=access_denied&error_description=%3Cscript%3E&state=s1"
        ))
        .await
        .unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("access_denied: &lt;script&gt;"), "{html}");
        let err = wait.await.unwrap().unwrap_err();
        assert!(
            matches!(&err, TokenError::SignInDeclined { error, .. } if error == "access_denied"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn listener_answers_another_state_400_and_keeps_waiting_for_the_code() {
        let listener = LoopbackListener::bind("app").await.unwrap();
        let base = listener.redirect_uri().to_owned();
        let wait = tokio::spawn(listener.wait_for_code("s1", Duration::from_secs(30)));
        for forged in [
            "?code=stolen&state=other",
            "?code=stolen",
            "?error=access_denied&state=x",
        ] {
            let page = reqwest::get(format!("{base}{forged}")).await.unwrap();
            assert_eq!(page.status(), 400, "{forged}");
            assert!(page.text().await.unwrap().contains("it was ignored"));
        }
        assert!(
            !wait.is_finished(),
            "a forged answer does not end the sign-in"
        );
        let page = reqwest::get(format!("{base}?code=c0de&state=s1"))
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert_eq!(wait.await.unwrap().unwrap(), "c0de");
    }

    #[tokio::test]
    async fn listener_gives_up_after_the_wait() {
        let listener = LoopbackListener::bind("app").await.unwrap();
        let err = listener
            .wait_for_code("s1", Duration::from_millis(50))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "sign-in: no answer from the browser within 50ms"
        );
    }
}
