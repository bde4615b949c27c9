//! The HTTP side: a small [`TokenTransport`] trait (POST a form, get status and body) and its
//! default implementation [`ReqwestTransport`] (feature `reqwest`): rustls, connect and request
//! timeouts, no redirects, no proxy from the environment, a response size cap.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::StatusCode;
use url::Url;

use crate::error::{TokenError, TransportError};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A complete answer.
#[derive(Debug, Clone)]
pub struct TransportResponse {
    /// The status.
    pub status: StatusCode,
    /// The body (at most the transport's cap).
    pub body: Bytes,
}

/// POSTs `application/x-www-form-urlencoded` bodies to a token endpoint. The body holds
/// secrets: an implementation must never log it.
pub trait TokenTransport: Send + Sync + Debug + 'static {
    /// POSTs `body` to `url`.
    fn post_form<'a>(
        &'a self,
        url: &'a Url,
        body: String,
    ) -> BoxFuture<'a, Result<TransportResponse, TransportError>>;
}

/// POSTs `body` to `url` through `transport`, bounded by `timeout`; a timeout or a transport
/// failure is logged (WARN, with the endpoint and the grant's name, never the body) and typed.
pub(crate) async fn post_bounded(
    transport: &dyn TokenTransport,
    url: &Url,
    body: String,
    timeout: std::time::Duration,
    grant: &'static str,
) -> Result<TransportResponse, TokenError> {
    match tokio::time::timeout(timeout, transport.post_form(url, body)).await {
        // The timeout elapsed here, or first in the transport (both are the configured one).
        Err(_) | Ok(Err(TransportError::TimedOut)) => {
            tracing::warn!(target: "entra_token", grant, endpoint = %url, ?timeout, "token endpoint timed out");
            Err(TokenError::Timeout { after: timeout })
        }
        Ok(Err(e)) => {
            tracing::warn!(target: "entra_token", grant, endpoint = %url, error = %e, "token endpoint unreachable");
            Err(TokenError::Transport(e))
        }
        Ok(Ok(res)) => Ok(res),
    }
}

/// The default [`TokenTransport`]: one `reqwest` client.
#[cfg(feature = "reqwest")]
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    max_bytes: usize,
}

#[cfg(feature = "reqwest")]
impl ReqwestTransport {
    /// A client with these timeouts and body cap; redirects disabled, proxies never read from
    /// the environment.
    ///
    /// # Errors
    /// [`ConfigError::HttpClient`](crate::ConfigError::HttpClient) when the TLS backend cannot
    /// be initialised.
    pub fn new(
        connect_timeout: std::time::Duration,
        timeout: std::time::Duration,
        max_bytes: usize,
    ) -> Result<Self, crate::ConfigError> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .user_agent(concat!("entra-token/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| crate::ConfigError::HttpClient(Box::new(e)))?;
        Ok(Self { client, max_bytes })
    }
}

#[cfg(feature = "reqwest")]
impl TokenTransport for ReqwestTransport {
    fn post_form<'a>(
        &'a self,
        url: &'a Url,
        body: String,
    ) -> BoxFuture<'a, Result<TransportResponse, TransportError>> {
        Box::pin(async move {
            // reqwest's request timeout (the configured one) is a timeout, not a connection
            // failure; a connect timeout stays a connection failure.
            let connect = |e: reqwest::Error| {
                if e.is_timeout() && !e.is_connect() {
                    TransportError::TimedOut
                } else {
                    TransportError::Connect(Box::new(e.without_url()))
                }
            };
            let mut res = self
                .client
                .post(url.clone())
                .header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .header(http::header::ACCEPT, "application/json")
                .body(body)
                .send()
                .await
                .map_err(connect)?;
            let status = res.status();
            let mut buf = bytes::BytesMut::new();
            while let Some(chunk) = res.chunk().await.map_err(connect)? {
                if buf.len() + chunk.len() > self.max_bytes {
                    return Err(TransportError::TooLarge {
                        limit: self.max_bytes,
                    });
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(TransportResponse {
                status,
                body: buf.freeze(),
            })
        })
    }
}
