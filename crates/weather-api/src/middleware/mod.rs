//! The service's own middleware, applied by [`build_router`](crate::startup::build_router) around the
//! whole router (tower-http supplies the rest: request ids, trace, sensitive headers, body limit) as two
//! hand-written layers ([`layers`]: one plain future each, no boxing) that call the parts below, with
//! [`notes`] carrying what the inner parts learn about a request back to them:
//!
//! * [`client_info`]: who the client is (the TCP peer, or the forwarded client behind a trusted proxy);
//! * [`security`]: security headers on every answer, and request targets safe to log;
//! * [`http_metrics`]: request counts and latency by route template;
//! * [`rate_limit`]: per-caller quotas per route class (the `RateLimited<C>` extractor, local or shared
//!   through Redis) and the `RateLimit` headers;
//! * [`error_log`]: logs the cause of error answers in the request span and turns the bare answers of
//!   layers and the router (413, 405) into [`ApiError`](crate::error::ApiError) problems.

pub mod client_info;
pub mod error_log;
pub mod http_metrics;
pub mod layers;
pub mod notes;
pub mod rate_limit;
pub mod security;
