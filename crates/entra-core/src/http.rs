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

/// A SHA-1 certificate thumbprint in hex (40 digits, either case, `:` or spaces between bytes
/// allowed, as Windows and Azure print it); `None` for anything else.
pub fn parse_sha1_thumbprint(text: &str) -> Option<[u8; 20]> {
    let digits: Vec<u8> = text.bytes().filter(|b| !matches!(b, b':' | b' ')).collect();
    if digits.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, pair) in digits.chunks(2).enumerate() {
        let hex = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(hex, 16).ok()?;
    }
    Some(out)
}

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
            let client = builder(options, user_agent)?.use_rustls_tls().build()?;
            Ok(Self {
                client,
                max_bytes: options.max_response_bytes,
            })
        }

        /// Builds a client that trusts exactly one server certificate, named by the SHA-1
        /// thumbprint of its DER (Service Fabric's `IDENTITY_SERVER_THUMBPRINT`, as MSAL pins it),
        /// instead of the web roots: the handshake fails with any other certificate. The
        /// certificate's names and dates are not checked (a cluster certificate names the cluster,
        /// not the node); the server must still prove it holds the certificate's key. Use
        /// [`parse_sha1_thumbprint`](super::parse_sha1_thumbprint) for the hex form.
        ///
        /// # Errors
        /// [`HttpError::Connect`] when the TLS configuration or the client cannot be built.
        #[cfg(any(feature = "aws-lc-rs", feature = "ring"))]
        pub fn pinned_to_thumbprint(
            options: &HttpOptions,
            user_agent: &str,
            sha1_thumbprint: [u8; 20],
        ) -> Result<Self, HttpError> {
            let connect = |e: Box<dyn std::error::Error + Send + Sync>| HttpError::Connect(e);
            let tls = pinned::config(sha1_thumbprint).map_err(|e| connect(Box::new(e)))?;
            let client = builder(options, user_agent)
                .and_then(|b| b.use_preconfigured_tls(tls).build())
                .map_err(|e| connect(Box::new(e.without_url())))?;
            Ok(Self {
                client,
                max_bytes: options.max_response_bytes,
            })
        }
    }

    /// What every client shares: no proxy from the environment, timeouts, no redirects.
    fn builder(
        options: &HttpOptions,
        user_agent: &str,
    ) -> Result<reqwest::ClientBuilder, reqwest::Error> {
        let mut builder = reqwest::Client::builder().no_proxy();
        if let Some(p) = &options.proxy {
            builder = builder.proxy(reqwest::Proxy::all(p.as_str())?);
        }
        Ok(builder
            .connect_timeout(options.effective_connect_timeout())
            .timeout(options.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(user_agent))
    }

    /// The TLS configuration of [`ReqwestClient::pinned_to_thumbprint`].
    #[cfg(any(feature = "aws-lc-rs", feature = "ring"))]
    mod pinned {
        use std::sync::Arc;

        use rustls::client::danger::{
            HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
        };
        use rustls::crypto::WebPkiSupportedAlgorithms;
        use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
        use rustls::{DigitallySignedStruct, SignatureScheme};

        /// Accepts the one certificate whose SHA-1 thumbprint is pinned; verifies the handshake's
        /// signatures with that certificate's key as rustls does.
        #[derive(Debug)]
        struct Pinned {
            thumbprint: [u8; 20],
            algorithms: WebPkiSupportedAlgorithms,
        }

        impl ServerCertVerifier for Pinned {
            fn verify_server_cert(
                &self,
                end_entity: &CertificateDer<'_>,
                _intermediates: &[CertificateDer<'_>],
                _server_name: &ServerName<'_>,
                _ocsp_response: &[u8],
                _now: UnixTime,
            ) -> Result<ServerCertVerified, rustls::Error> {
                let seen = crate::crypto::sha1_for_thumbprint(end_entity.as_ref());
                // Public values: a plain comparison leaks nothing.
                if seen == self.thumbprint {
                    Ok(ServerCertVerified::assertion())
                } else {
                    Err(rustls::Error::InvalidCertificate(
                        rustls::CertificateError::ApplicationVerificationFailure,
                    ))
                }
            }

            fn verify_tls12_signature(
                &self,
                message: &[u8],
                cert: &CertificateDer<'_>,
                dss: &DigitallySignedStruct,
            ) -> Result<HandshakeSignatureValid, rustls::Error> {
                rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
            }

            fn verify_tls13_signature(
                &self,
                message: &[u8],
                cert: &CertificateDer<'_>,
                dss: &DigitallySignedStruct,
            ) -> Result<HandshakeSignatureValid, rustls::Error> {
                rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
            }

            fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
                self.algorithms.supported_schemes()
            }
        }

        pub(super) fn config(thumbprint: [u8; 20]) -> Result<rustls::ClientConfig, rustls::Error> {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let verifier = Pinned {
                thumbprint,
                algorithms: provider.signature_verification_algorithms,
            };
            Ok(rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth())
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
    fn sha1_thumbprints_parse_as_azure_and_windows_print_them_and_nothing_else() {
        let bytes: [u8; 20] = core::array::from_fn(|i| u8::try_from(i * 13).unwrap());
        let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(parse_sha1_thumbprint(&hex), Some(bytes));
        assert_eq!(parse_sha1_thumbprint(&hex.to_lowercase()), Some(bytes));
        let colons: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_sha1_thumbprint(&colons.join(":")), Some(bytes));
        assert_eq!(parse_sha1_thumbprint(&colons.join(" ")), Some(bytes));
        for bad in [
            "",
            "AB",
            &hex[..38],
            &format!("{hex}00"),
            &hex.replace('A', "G"),
            "é",
        ] {
            assert_eq!(parse_sha1_thumbprint(bad), None, "{bad:?}");
        }
    }

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
