//! The HTTP side of discovery, on entra-core's one client trait: [`HttpFetch`] is
//! [`entra_core::http::HttpClient`] (tests pass canned responses, users their own transport) and
//! [`ReqwestFetch`] its one reqwest implementation (feature `reqwest`, on by default): rustls,
//! connect and request timeouts, no redirects, no proxy from the environment, a response size cap
//! checked against `Content-Length` first, URLs kept out of errors.

use bytes::Bytes;
use url::Url;

/// The HTTP client that fetches metadata and keys: entra-core's [`HttpClient`] under the name
/// this crate's API uses.
pub use entra_core::http::HttpClient as HttpFetch;
#[cfg(feature = "reqwest")]
/// The default [`HttpFetch`]: entra-core's reqwest client.
pub use entra_core::http::ReqwestClient as ReqwestFetch;
pub use entra_core::http::{BoxFuture, HttpClient, HttpError};

/// `GET url` (`Accept: application/json`) through `client`: the status and the body.
pub(crate) async fn get(
    client: &dyn HttpClient,
    url: &Url,
) -> Result<(http::StatusCode, Bytes), HttpError> {
    let res = client.send(entra_core::http::get_json(url)).await?;
    Ok((res.status(), res.into_body()))
}

/// The default client for these options, sending `entra-auth/{version}` as its user agent.
#[cfg(feature = "reqwest")]
pub(crate) fn reqwest_fetch(
    http: &crate::HttpOptions,
) -> Result<std::sync::Arc<dyn HttpFetch>, crate::ConfigError> {
    let client = ReqwestFetch::new(http, concat!("entra-auth/", env!("CARGO_PKG_VERSION")))
        .map_err(crate::ConfigError::HttpClient)?;
    Ok(std::sync::Arc::new(client))
}
