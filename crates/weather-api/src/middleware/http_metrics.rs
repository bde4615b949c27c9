//! Request metrics: [`EdgeLayer`](super::layers::EdgeLayer) (outermost) times each request and counts
//! it in [`Metrics`](crate::metrics::Metrics) under its route template; [`note_route`] (inside the
//! router, where axum knows the [`MatchedPath`]) names that template in the request's
//! [`RequestNotes`], so that answers made by outer layers (timeout 503, 413) are still counted under
//! their route.

use axum::extract::{MatchedPath, Request};

use super::notes::RequestNotes;

/// Inner request mapper (a `Router::layer` of `tower::util::MapRequestLayer`, where axum has matched the
/// route): notes the route template.
pub fn note_route(request: Request) -> Request {
    if let (Some(notes), Some(path)) = (
        request.extensions().get::<RequestNotes>(),
        request.extensions().get::<MatchedPath>(),
    ) {
        // `MatchedPath` is a shared string: cloning it allocates nothing.
        notes.set_route(path.clone());
    }
    request
}
