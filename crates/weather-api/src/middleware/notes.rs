//! [`RequestNotes`]: what the inner parts of the request path (the router, the rate-limit extractor)
//! tell the outer layers about a request, in one shared allocation per request.

use std::sync::{Arc, OnceLock};

use axum::extract::MatchedPath;

use crate::domain::RateDecision;

/// Facts noted while a request is handled, read back when its answer passes the outer layers (which
/// no longer see the request's extensions by then). Put into the request by
/// [`EdgeLayer`](super::layers::EdgeLayer); each fact is written at most once.
#[derive(Debug, Clone, Default)]
pub struct RequestNotes(Arc<Facts>);

#[derive(Debug, Default)]
struct Facts {
    /// The matched route template, for the request metrics (noted inside the router).
    route: OnceLock<MatchedPath>,
    /// The caller's rate-limit decision, for the `RateLimit` headers (noted by the extractor).
    rate: OnceLock<RateDecision>,
}

impl RequestNotes {
    /// Notes the route template (the first note wins).
    pub fn set_route(&self, route: MatchedPath) {
        let _ = self.0.route.set(route);
    }

    /// The route template, once the router matched one.
    pub fn route(&self) -> Option<&str> {
        self.0.route.get().map(MatchedPath::as_str)
    }

    /// Notes the rate-limit decision (the first note wins).
    pub fn set_rate(&self, decision: RateDecision) {
        let _ = self.0.rate.set(decision);
    }

    /// The rate-limit decision, when a rate-limited route ran its extractor.
    pub fn rate(&self) -> Option<&RateDecision> {
        self.0.rate.get()
    }
}
