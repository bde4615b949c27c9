//! Request metrics: [`track_http`] (outermost) times each request and counts it in
//! [`Metrics`] under its route template; [`note_route`] (inside the router, where axum knows the
//! [`MatchedPath`]) names that template.
//!
//! The route label comes from a slot that [`track_http`] puts into the request and [`note_route`]
//! fills, so that answers made by outer layers (timeout 503, 413) are still counted under their route.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::metrics::{Metrics, UNMATCHED_ROUTE};

/// Where [`note_route`] writes the matched route template for [`track_http`].
#[derive(Debug, Clone, Default)]
struct RouteSlot(Arc<OnceLock<MatchedPath>>);

/// Outermost metrics middleware: times the request and counts it under the route template noted by
/// [`note_route`] (or [`UNMATCHED_ROUTE`]).
pub async fn track_http(
    State(metrics): State<Arc<Metrics>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let slot = RouteSlot::default();
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    let route = slot.0.get().map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
    metrics.record_request(
        route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Inner middleware (a `Router::layer`, where axum has matched the route): notes the route template.
pub async fn note_route(request: Request, next: Next) -> Response {
    if let (Some(slot), Some(path)) = (
        request.extensions().get::<RouteSlot>(),
        request.extensions().get::<MatchedPath>(),
    ) {
        // `MatchedPath` is a shared string: cloning it allocates nothing.
        let _ = slot.0.set(path.clone());
    }
    next.run(request).await
}
