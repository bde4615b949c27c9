//! The service's two own tower layers, each one plain struct per request (no boxed future), around tower-http's trace span:
//!
//! * [`EdgeLayer`] (outside the span): resolves the [`ClientInfo`] and puts it and the request's
//!   [`RequestNotes`] into the extensions; on the way out, counts the answer in [`Metrics`] under the
//!   route template the router noted.
//! * [`AnswerLayer`] (inside the span, so its log lines carry the request id): on the way out, the
//!   `RateLimit` headers, the error-cause log and problem bodies for bare 413/405 ([`error_log`]), then the
//!   security headers ([`security`]).
//!
//! They replace five `axum::middleware::from_fn` layers, each of which boxed a future and cloned the
//! rest of the stack behind it for every request (axum's router still clones the stack once per
//! request, as it does for any layered service).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use http::Method;
use tower::{Layer, Service};

use super::client_info::{ClientInfo, TrustedProxies};
use super::notes::RequestNotes;
use super::{error_log, rate_limit, security};
use crate::metrics::{Metrics, UNMATCHED_ROUTE};

/// What a layer does to the answer once the inner service produced it.
pub trait Finisher<B> {
    /// The answer as the layer passes it on.
    fn finish(self, response: http::Response<B>) -> http::Response<B>;
}

pin_project_lite::pin_project! {
    /// The inner service's future, followed by its layer's [`Finisher`].
    pub struct Finish<F, P> {
        #[pin]
        inner: F,
        then: Option<P>,
    }
}

impl<F, P, B, E> Future for Finish<F, P>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    P: Finisher<B>,
{
    type Output = Result<http::Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        Poll::Ready(result.map(|response| match this.then.take() {
            Some(then) => then.finish(response),
            None => response,
        }))
    }
}

/// The outer layer: client address and request notes in, request metrics out.
#[derive(Debug, Clone)]
pub struct EdgeLayer {
    proxies: Arc<TrustedProxies>,
    metrics: Arc<Metrics>,
}

impl EdgeLayer {
    /// Resolves clients with `proxies` and counts answers in `metrics`.
    pub fn new(proxies: Arc<TrustedProxies>, metrics: Arc<Metrics>) -> Self {
        Self { proxies, metrics }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Edge {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`EdgeLayer`].
#[derive(Debug, Clone)]
pub struct Edge<S> {
    inner: S,
    layer: EdgeLayer,
}

/// [`Edge`]'s finisher: counts the answer.
#[derive(Debug)]
pub struct CountAnswer {
    metrics: Arc<Metrics>,
    notes: RequestNotes,
    method: Method,
    started: Instant,
}

impl<B> Finisher<B> for CountAnswer {
    fn finish(self, response: http::Response<B>) -> http::Response<B> {
        self.metrics.record_request(
            self.notes.route().unwrap_or(UNMATCHED_ROUTE),
            &self.method,
            response.status().as_u16(),
            self.started.elapsed(),
        );
        response
    }
}

impl<S, B> Service<Request> for Edge<S>
where
    S: Service<Request, Response = http::Response<B>>,
{
    type Response = http::Response<B>;
    type Error = S::Error;
    type Future = Finish<S::Future, CountAnswer>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let client = ClientInfo::resolve(&self.layer.proxies, peer, request.headers());
        let notes = RequestNotes::default();
        request.extensions_mut().insert(client);
        request.extensions_mut().insert(notes.clone());
        let then = CountAnswer {
            metrics: self.layer.metrics.clone(),
            notes,
            method: request.method().clone(),
            started,
        };
        Finish {
            inner: self.inner.call(request),
            then: Some(then),
        }
    }
}

/// The inner layer: the answer's rate-limit headers, error-cause log, problem bodies and security
/// headers.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnswerLayer;

impl<S> Layer<S> for AnswerLayer {
    type Service = Answer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Answer { inner }
    }
}

/// The service of [`AnswerLayer`].
#[derive(Debug, Clone)]
pub struct Answer<S> {
    inner: S,
}

/// [`Answer`]'s finisher.
#[derive(Debug)]
pub struct FinishAnswer {
    sensitive: bool,
    notes: Option<RequestNotes>,
}

impl Finisher<axum::body::Body> for FinishAnswer {
    fn finish(self, mut response: Response) -> Response {
        if let Some(decision) = self.notes.as_ref().and_then(RequestNotes::rate) {
            rate_limit::add_headers(response.headers_mut(), decision);
        }
        let mut response = error_log::finish(response);
        security::add_headers(response.headers_mut(), self.sensitive);
        response
    }
}

impl<S> Service<Request> for Answer<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Finish<S::Future, FinishAnswer>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let then = FinishAnswer {
            sensitive: security::is_sensitive(&request),
            notes: request.extensions().get::<RequestNotes>().cloned(),
        };
        Finish {
            inner: self.inner.call(request),
            then: Some(then),
        }
    }
}

/// Request ids: random (version 4) UUIDs drawn from the thread's CSPRNG (`rand::thread_rng`, ChaCha
/// seeded from the OS), instead of one `getrandom` system call per request as
/// `tower_http::request_id::MakeRequestUuid` makes.
#[derive(Debug, Clone, Copy, Default)]
pub struct MakeRequestId;

impl tower_http::request_id::MakeRequestId for MakeRequestId {
    fn make_request_id<B>(
        &mut self,
        _request: &http::Request<B>,
    ) -> Option<tower_http::request_id::RequestId> {
        let bytes: [u8; 16] = rand::Rng::gen(&mut rand::thread_rng());
        let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
        let mut text = uuid::Uuid::encode_buffer();
        http::HeaderValue::from_str(id.hyphenated().encode_lower(&mut text))
            .ok()
            .map(tower_http::request_id::RequestId::new)
    }
}

#[cfg(test)]
mod tests {
    use tower_http::request_id::MakeRequestId as _;

    use super::*;

    #[test]
    fn request_ids_are_distinct_version_4_uuids() {
        let request = http::Request::new(());
        let mut ids = std::collections::HashSet::new();
        for _ in 0..1000 {
            let id = MakeRequestId.make_request_id(&request).unwrap();
            let id = uuid::Uuid::parse_str(id.header_value().to_str().unwrap()).unwrap();
            assert_eq!(id.get_version_num(), 4);
            assert!(ids.insert(id));
        }
    }
}
