//! Test helpers (feature `testing`): the user's side of a sign-in, played over plain HTTP.
//!
//! A client under test sends its user to the issuer's login page (authorization code + PKCE) or shows
//! a user code to type on the verification page (device code). [`Browser`] is that user: it opens the
//! page, answers the sign-in form ([`LoginForm`]) as a test user or cancels, and reports what the
//! issuer answered. It speaks HTTP only, so the tests of any client (entra-token, the weather CLI,
//! entra-dev's own) drive the pages the same way, whatever library the client is built on.
//!
//! ```no_run
//! # async fn demo(authorize_url: &str, instance: &url::Url, user_code: &str)
//! #     -> Result<(), entra_dev::testing::BrowserError> {
//! use entra_dev::testing::{Answer, Browser};
//! let browser = Browser::new()?;
//! // authorization code: the page's redirect back to the client, with `code` and `state`
//! let back = browser
//!     .sign_in(authorize_url, Answer::accept("alice", &["weather.read"]))
//!     .await?;
//! // device code: enter the code shown by the client, sign in as bob
//! browser
//!     .approve_device_code(instance, user_code, Answer::accept("bob", &["weather.read"]))
//!     .await?;
//! # let _ = back; Ok(()) }
//! ```

use url::Url;

use crate::LoginForm;

/// How the test user answers the sign-in form.
#[derive(Debug, Clone, Copy)]
pub enum Answer<'a> {
    /// Sign in as the test user `user` (user name, e.g. `alice`), consenting to `consent` (scope
    /// values as the page lists them, e.g. `weather.read`).
    Accept {
        /// The test user.
        user: &'a str,
        /// The scopes consented to.
        consent: &'a [&'a str],
    },
    /// Press Cancel: the client gets `access_denied` (sign-in) or `authorization_declined` (device code).
    Cancel,
}

impl<'a> Answer<'a> {
    /// Sign in as `user`, consenting to `consent`.
    pub fn accept(user: &'a str, consent: &'a [&'a str]) -> Self {
        Self::Accept { user, consent }
    }

    fn form_body(self, form: &LoginForm) -> Vec<(String, String)> {
        match self {
            Self::Accept { user, consent } => form.accept(user, consent),
            Self::Cancel => form.cancel(),
        }
    }
}

/// What went wrong while playing the user: an unexpected answer from the issuer, or no connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrowserError {
    /// The HTTP client could not be built, or the request failed.
    #[error("{what}: {source}")]
    Http {
        /// Which step.
        what: &'static str,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The issuer answered another status than the step expects; `body` is its answer.
    #[error("{what}: expected HTTP {expected}, the issuer answered {status}: {body}")]
    Status {
        /// Which step.
        what: &'static str,
        /// The status the step expects.
        expected: u16,
        /// The status answered.
        status: u16,
        /// The answer's body.
        body: String,
    },
    /// The page has no sign-in form (an error page, or not the issuer's page).
    #[error("{what}: the page has no sign-in form: {html}")]
    NoForm {
        /// Which step.
        what: &'static str,
        /// The page.
        html: String,
    },
    /// A redirect without a usable `Location`.
    #[error("the sign-in answered a redirect without a valid Location: {0}")]
    Location(String),
}

/// The user's browser, over plain HTTP: it follows no redirect, so the redirect back to the client
/// is returned, not followed.
#[derive(Debug, Clone)]
pub struct Browser {
    http: reqwest::Client,
}

impl Browser {
    /// A browser with its own HTTP client.
    ///
    /// # Errors
    /// [`BrowserError::Http`] when the HTTP client cannot be built.
    pub fn new() -> Result<Self, BrowserError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|source| BrowserError::Http {
                what: "building the HTTP client",
                source,
            })?;
        Ok(Self { http })
    }

    /// Opens the login page at `authorize_url` (the URL a client sends its user to, query included),
    /// answers its form, and returns where the issuer redirects the browser: the client's redirect URI
    /// with `code` and `state` (or `error=access_denied` after [`Answer::Cancel`]).
    ///
    /// # Errors
    /// [`BrowserError`] when the page is not a 200 with a sign-in form, or the answer not a 302.
    pub async fn sign_in(
        &self,
        authorize_url: &str,
        answer: Answer<'_>,
    ) -> Result<Url, BrowserError> {
        let page = self
            .send("opening the login page", self.http.get(authorize_url))
            .await?;
        let form = form(
            "opening the login page",
            expect(page, "opening the login page", 200).await?,
        )?;
        let res = self
            .send(
                "answering the login page",
                self.http.post(form.action()).form(&answer.form_body(&form)),
            )
            .await?;
        let res = expect_response(res, "answering the login page", 302).await?;
        let location = res
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default();
        Url::parse(location).map_err(|_| BrowserError::Location(location.to_owned()))
    }

    /// Enters `user_code` on the verification page of the issuer at `instance`
    /// (`{instance}devicelogin`) and answers the sign-in form: after [`Answer::Accept`] the client's
    /// next poll gets the tokens, after [`Answer::Cancel`] `authorization_declined`.
    ///
    /// # Errors
    /// [`BrowserError`] when the code is refused (400 with the page) or the answer is not a 200.
    pub async fn approve_device_code(
        &self,
        instance: &Url,
        user_code: &str,
        answer: Answer<'_>,
    ) -> Result<(), BrowserError> {
        let what = "entering the user code";
        let url = format!("{instance}devicelogin");
        let page = self
            .send(what, self.http.post(url).form(&[("user_code", user_code)]))
            .await?;
        let form = form(what, expect(page, what, 200).await?)?;
        let what = "answering the verification page";
        let res = self
            .send(
                what,
                self.http.post(form.action()).form(&answer.form_body(&form)),
            )
            .await?;
        expect(res, what, 200).await.map(|_| ())
    }

    async fn send(
        &self,
        what: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, BrowserError> {
        request
            .send()
            .await
            .map_err(|source| BrowserError::Http { what, source })
    }
}

/// The body of `res` when its status is `expected`.
async fn expect(
    res: reqwest::Response,
    what: &'static str,
    expected: u16,
) -> Result<String, BrowserError> {
    expect_response(res, what, expected)
        .await?
        .text()
        .await
        .map_err(|source| BrowserError::Http { what, source })
}

/// `res` when its status is `expected`, else [`BrowserError::Status`] with the body.
async fn expect_response(
    res: reqwest::Response,
    what: &'static str,
    expected: u16,
) -> Result<reqwest::Response, BrowserError> {
    let status = res.status();
    if status.as_u16() == expected {
        return Ok(res);
    }
    let body = res.text().await.unwrap_or_default();
    Err(BrowserError::Status {
        what,
        expected,
        status: status.as_u16(),
        body,
    })
}

fn form(what: &'static str, html: String) -> Result<LoginForm, BrowserError> {
    LoginForm::parse(&html).ok_or(BrowserError::NoForm { what, html })
}
