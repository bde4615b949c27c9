//! The HTTP side of both libraries: ONE client trait, [`HttpClient`], over
//! `http::Request<Bytes>` / `http::Response<Bytes>` (tests pass canned responses, users their own
//! transport), its settings [`HttpOptions`], and ONE implementation on reqwest
//! ([`ReqwestClient`], feature `reqwest`).

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use url::Url;

/// A boxed, sendable future: what [`HttpClient::send`] (and other object-safe async traits of
/// entra-auth and entra-token) return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Default request timeout: 10 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default connect timeout: 5 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default largest accepted response body: 64 KiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// How the identity provider is reached: timeouts, the response size cap, a proxy.
///
/// ```
/// use std::time::Duration;
/// use entra_core::HttpOptions;
/// let http = HttpOptions {
///     timeout: Duration::from_secs(3),
///     ..HttpOptions::default()
/// };
/// assert_eq!(http.effective_connect_timeout(), Duration::from_secs(3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// The whole request, connect and body included (default 10 s): a slower answer is a
    /// timeout, never a hang.
    pub timeout: Duration,
    /// Connecting (default 5 s; never more than `timeout`): an unreachable host fails fast.
    pub connect_timeout: Duration,
    /// The largest response body accepted, in bytes (default 64 KiB: Entra's key sets are about
    /// 15 KB, its metadata and token answers a few KB). Checked against `Content-Length` before
    /// the body is read, then while it streams.
    pub max_response_bytes: usize,
    /// An HTTP(S) proxy for every request (default none: direct connections; the library never
    /// reads proxy settings from the environment).
    pub proxy: Option<Url>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            proxy: None,
        }
    }
}

impl HttpOptions {
    /// The connect timeout in force: `connect_timeout`, at most the request timeout.
    pub fn effective_connect_timeout(&self) -> Duration {
        self.connect_timeout.min(self.timeout)
    }
}

/// Why a request produced no complete response. Never carries a URL: a URL may hold a query
/// string with secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// Connection, TLS or I/O failure (the cause has its URL removed).
    #[error("connection failed")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// No complete answer within the request timeout.
    #[error("no complete answer within the request timeout")]
    TimedOut,
    /// The body is larger than the cap.
    #[error("response larger than {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
}

/// Sends one HTTP request and returns the complete response, its body read up to the client's
/// cap. Bodies may hold secrets (client secrets, assertions, tokens): an implementation must
/// never log them, nor the URL's query.
///
/// ```
/// use bytes::Bytes;
/// use entra_core::http::{BoxFuture, HttpClient, HttpError};
///
/// /// Answers every request with the same key set.
/// #[derive(Debug)]
/// struct Canned(&'static str);
///
/// impl HttpClient for Canned {
///     fn send(
///         &self,
///         _request: http::Request<Bytes>,
///     ) -> BoxFuture<'_, Result<http::Response<Bytes>, HttpError>> {
///         let body = Bytes::from_static(self.0.as_bytes());
///         Box::pin(async move { Ok(http::Response::new(body)) })
///     }
/// }
/// ```
pub trait HttpClient: Send + Sync + Debug + 'static {
    /// Sends `request` and reads the whole response.
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, HttpError>>;
}

/// A `GET url` with `Accept: application/json`.
pub fn get_json(url: &Url) -> http::Request<Bytes> {
    let mut req = http::Request::new(Bytes::new());
    *req.uri_mut() = uri(url);
    req.headers_mut().insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("application/json"),
    );
    req
}

/// A `POST url` of an `application/x-www-form-urlencoded` body, `Accept: application/json`.
pub fn post_form(url: &Url, body: String) -> http::Request<Bytes> {
    let mut req = get_json(url);
    *req.method_mut() = http::Method::POST;
    req.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    *req.body_mut() = Bytes::from(body);
    req
}

/// `url` as a request URI (a parsed `Url` is always a valid URI; the empty URI otherwise).
fn uri(url: &Url) -> http::Uri {
    url.as_str().parse().unwrap_or_default()
}

#[cfg(feature = "reqwest")]
pub use self::reqwest_client::ReqwestClient;

/// The `reqwest` implementation (feature `reqwest`).
#[cfg(feature = "reqwest")]
mod reqwest_client {
    use bytes::{Bytes, BytesMut};

    use super::{BoxFuture, HttpClient, HttpError, HttpOptions};

    /// The default [`HttpClient`]: one `reqwest` client with rustls, connect and request
    /// timeouts, redirects never followed, proxies never read from the environment (only
    /// [`HttpOptions::proxy`]), the body capped, URLs removed from errors.
    #[derive(Debug, Clone)]
    pub struct ReqwestClient {
        client: reqwest::Client,
        max_bytes: usize,
    }

    impl ReqwestClient {
        /// Builds the client, sending `user_agent` (e.g. `entra-auth/0.1.0`).
        ///
        /// # Errors
        /// When the TLS backend cannot be initialised or the proxy URL cannot be used.
        pub fn new(options: &HttpOptions, user_agent: &str) -> Result<Self, reqwest::Error> {
            let mut builder = reqwest::Client::builder().no_proxy();
            if let Some(p) = &options.proxy {
                builder = builder.proxy(reqwest::Proxy::all(p.as_str())?);
            }
            let client = builder
                .use_rustls_tls()
                .connect_timeout(options.effective_connect_timeout())
                .timeout(options.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(user_agent)
                .build()?;
            Ok(Self {
                client,
                max_bytes: options.max_response_bytes,
            })
        }
    }

    /// A reqwest failure as an [`HttpError`]: the request timeout (the configured one) is a
    /// timeout, a connect timeout stays a connection failure; the URL is removed.
    fn classify(e: reqwest::Error) -> HttpError {
        if e.is_timeout() && !e.is_connect() {
            HttpError::TimedOut
        } else {
            HttpError::Connect(Box::new(e.without_url()))
        }
    }

    impl HttpClient for ReqwestClient {
        fn send(
            &self,
            request: http::Request<Bytes>,
        ) -> BoxFuture<'_, Result<http::Response<Bytes>, HttpError>> {
            Box::pin(async move {
                let request = reqwest::Request::try_from(request).map_err(classify)?;
                let mut res = self.client.execute(request).await.map_err(classify)?;
                let too_large = HttpError::TooLarge {
                    limit: self.max_bytes,
                };
                if res
                    .content_length()
                    .is_some_and(|l| l > self.max_bytes as u64)
                {
                    return Err(too_large);
                }
                let mut out = http::Response::builder()
                    .status(res.status())
                    .version(res.version());
                if let Some(headers) = out.headers_mut() {
                    headers.extend(res.headers().iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                let mut body = BytesMut::new();
                while let Some(chunk) = res.chunk().await.map_err(classify)? {
                    if body.len() + chunk.len() > self.max_bytes {
                        return Err(too_large);
                    }
                    body.extend_from_slice(&chunk);
                }
                out.body(body.freeze())
                    .map_err(|e| HttpError::Connect(Box::new(e)))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_safest_of_both_libraries() {
        let o = HttpOptions::default();
        assert_eq!(o.timeout, Duration::from_secs(10));
        assert_eq!(o.connect_timeout, Duration::from_secs(5));
        assert_eq!(o.max_response_bytes, 64 * 1024);
        assert_eq!(o.proxy, None);
    }

    #[test]
    fn connect_timeout_never_exceeds_the_request_timeout() {
        let o = HttpOptions {
            timeout: Duration::from_secs(2),
            ..HttpOptions::default()
        };
        assert_eq!(o.effective_connect_timeout(), Duration::from_secs(2));
    }

    #[test]
    fn form_post_carries_its_content_type_and_body() {
        let url = Url::parse("https://login.test/t/oauth2/v2.0/token").unwrap();
        let req = post_form(&url, "grant_type=client_credentials".into());
        assert_eq!(req.method(), http::Method::POST);
        assert_eq!(req.uri(), "https://login.test/t/oauth2/v2.0/token");
        assert_eq!(
            req.headers()[http::header::CONTENT_TYPE],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(req.headers()[http::header::ACCEPT], "application/json");
        assert_eq!(req.body(), "grant_type=client_credentials");
    }
}
