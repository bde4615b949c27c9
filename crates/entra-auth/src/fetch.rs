//! The HTTP side of discovery: a small [`HttpFetch`] trait (tests pass canned responses, users
//! their own transport) and its default implementation `ReqwestFetch` (feature `reqwest`, on by
//! default): one client, rustls, connect and request timeouts, redirects disabled, a response
//! size cap.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::StatusCode;
use url::Url;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A completed HTTP response: status and body.
#[derive(Debug, Clone)]
pub struct FetchResponse {
    /// The status code.
    pub status: StatusCode,
    /// The body (at most the configured size).
    pub body: Bytes,
}

/// Why a fetch failed before a response was complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Connection, TLS or timeout failure.
    #[error("transport error")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The body is larger than the cap.
    #[error("response larger than {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
}

/// Fetches a URL with GET.
pub trait HttpFetch: Send + Sync + Debug + 'static {
    /// GETs `url` and returns the status and body.
    fn get<'a>(&'a self, url: &'a Url) -> BoxFuture<'a, Result<FetchResponse, FetchError>>;
}

#[cfg(feature = "reqwest")]
pub use self::reqwest_fetch::ReqwestFetch;

/// The `reqwest` implementation (feature `reqwest`, on by default).
#[cfg(feature = "reqwest")]
mod reqwest_fetch {
    use std::time::Duration;

    use bytes::BytesMut;
    use url::Url;

    use super::{BoxFuture, FetchError, FetchResponse, HttpFetch};
    use crate::error::ConfigError;

    /// The default [`HttpFetch`]: one `reqwest` client with rustls, timeouts, no redirects and a body
    /// size cap.
    #[derive(Debug, Clone)]
    pub struct ReqwestFetch {
        client: reqwest::Client,
        max_bytes: usize,
    }

    impl ReqwestFetch {
        /// Builds the client. Proxy settings are never read from the environment.
        ///
        /// # Errors
        /// [`ConfigError::HttpClient`] when the TLS backend cannot be initialised.
        pub fn new(
            connect_timeout: Duration,
            timeout: Duration,
            max_bytes: usize,
        ) -> Result<Self, ConfigError> {
            Self::with_proxy(connect_timeout, timeout, max_bytes, None)
        }

        /// As [`new`](Self::new), through an HTTP(S) proxy when `proxy` is given.
        ///
        /// # Errors
        /// [`ConfigError::HttpClient`] when the TLS backend or the proxy cannot be set up.
        pub fn with_proxy(
            connect_timeout: Duration,
            timeout: Duration,
            max_bytes: usize,
            proxy: Option<&Url>,
        ) -> Result<Self, ConfigError> {
            let mut builder = reqwest::Client::builder().no_proxy();
            if let Some(p) = proxy {
                builder = builder
                    .proxy(reqwest::Proxy::all(p.as_str()).map_err(ConfigError::HttpClient)?);
            }
            let client = builder
                .use_rustls_tls()
                .connect_timeout(connect_timeout)
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("entra-auth/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(ConfigError::HttpClient)?;
            Ok(Self { client, max_bytes })
        }
    }

    impl HttpFetch for ReqwestFetch {
        fn get<'a>(&'a self, url: &'a Url) -> BoxFuture<'a, Result<FetchResponse, FetchError>> {
            Box::pin(async move {
                let mut res = self
                    .client
                    .get(url.clone())
                    .header(http::header::ACCEPT, "application/json")
                    .send()
                    .await
                    .map_err(|e| FetchError::Transport(Box::new(e)))?;
                let status = res.status();
                if res
                    .content_length()
                    .is_some_and(|l| l > self.max_bytes as u64)
                {
                    return Err(FetchError::TooLarge {
                        limit: self.max_bytes,
                    });
                }
                let mut body = BytesMut::new();
                while let Some(chunk) = res
                    .chunk()
                    .await
                    .map_err(|e| FetchError::Transport(Box::new(e)))?
                {
                    if body.len() + chunk.len() > self.max_bytes {
                        return Err(FetchError::TooLarge {
                            limit: self.max_bytes,
                        });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(FetchResponse {
                    status,
                    body: body.freeze(),
                })
            })
        }
    }
}
