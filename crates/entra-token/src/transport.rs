//! The HTTP side, on entra-core's one client trait: [`TokenTransport`] is
//! [`entra_core::http::HttpClient`] and [`ReqwestTransport`] its one reqwest implementation
//! (feature `reqwest`): rustls, connect and request timeouts, no redirects, no proxy from the
//! environment, a response size cap checked against `Content-Length` first, URLs kept out of
//! errors. Token requests carry secrets in their bodies: an implementation must never log them.

use bytes::Bytes;
use http::StatusCode;
use url::Url;

use crate::error::{TokenError, TransportError};

/// The HTTP client that posts to the token endpoint: entra-core's [`HttpClient`] under the name
/// this crate's API uses.
pub use entra_core::http::HttpClient as TokenTransport;
#[cfg(feature = "reqwest")]
/// The default [`TokenTransport`]: entra-core's reqwest client.
pub use entra_core::http::ReqwestClient as ReqwestTransport;
pub use entra_core::http::{BoxFuture, HttpClient};

/// The default transport for these options, sending `entra-token/{version}` as its user agent.
#[cfg(feature = "reqwest")]
pub(crate) fn reqwest_transport(
    http: &crate::HttpOptions,
) -> Result<std::sync::Arc<dyn TokenTransport>, crate::ConfigError> {
    let transport = ReqwestTransport::new(http, concat!("entra-token/", env!("CARGO_PKG_VERSION")))
        .map_err(|e| crate::ConfigError::HttpClient(Box::new(e)))?;
    Ok(std::sync::Arc::new(transport))
}

/// A complete answer of the token endpoint.
#[derive(Debug, Clone)]
pub(crate) struct TransportResponse {
    /// The status.
    pub(crate) status: StatusCode,
    /// The body (at most the transport's cap).
    pub(crate) body: Bytes,
}

/// POSTs the form `body` to `url` through `transport`, bounded by `timeout`; a timeout or a
/// transport failure is logged (WARN, with the endpoint and the grant's name, never the body)
/// and typed.
pub(crate) async fn post_bounded(
    transport: &dyn TokenTransport,
    url: &Url,
    body: String,
    timeout: std::time::Duration,
    grant: &'static str,
) -> Result<TransportResponse, TokenError> {
    let request = entra_core::http::post_form(url, body);
    match tokio::time::timeout(timeout, transport.send(request)).await {
        // The timeout elapsed here, or first in the transport (both are the configured one).
        Err(_) | Ok(Err(TransportError::TimedOut)) => {
            tracing::warn!(target: "entra_token", grant, endpoint = %url, ?timeout, "token endpoint timed out");
            Err(TokenError::Timeout { after: timeout })
        }
        Ok(Err(e)) => {
            tracing::warn!(target: "entra_token", grant, endpoint = %url, error = %e, "token endpoint unreachable");
            Err(TokenError::Transport(e))
        }
        Ok(Ok(res)) => Ok(TransportResponse {
            status: res.status(),
            body: res.into_body(),
        }),
    }
}
