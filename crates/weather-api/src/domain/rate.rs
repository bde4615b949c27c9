//! Rate-limit vocabulary: the [`RouteClass`] a route belongs to, its [`Quota`], and the [`RateDecision`]
//! the limiter takes for one request, with the IETF `RateLimit-Policy` / `RateLimit` field values
//! (draft-ietf-httpapi-ratelimit-headers-10: `"read";q=600;w=60` and `"read";r=599;t=1`).
//!
//! A leaf module: the limiter ([`crate::middleware::rate_limit`]) and the one status mapping
//! ([`crate::error`]) both read these types.

use std::num::NonZeroU32;
use std::time::Duration;

/// The class of a route, each with its own quota per caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteClass {
    /// Reads: `GET /api/reports...`, the home page.
    Read,
    /// Writes: `POST /api/reports`.
    Write,
}

impl RouteClass {
    /// The policy name in the headers and the setting's key (`rate_limit.read`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

/// At most `requests` per `window`, per caller; a caller who was quiet may send all of them at once
/// (GCRA: emission interval `window / requests`, burst tolerance `window - interval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    requests: NonZeroU32,
    window: Duration,
}

impl Quota {
    /// `requests` per `window`; `None` when either is zero.
    pub fn new(requests: u32, window: Duration) -> Option<Self> {
        let requests = NonZeroU32::new(requests)?;
        (!window.is_zero()).then_some(Self { requests, window })
    }

    /// Requests per window.
    pub fn requests(&self) -> u32 {
        self.requests.get()
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The time one request "costs": `window / requests` (at least 1 ns).
    pub fn emission_interval(&self) -> Duration {
        (self.window / self.requests.get()).max(Duration::from_nanos(1))
    }
}

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// The route's class.
    pub class: RouteClass,
    /// Its quota.
    pub quota: Quota,
    /// Requests the caller may still send right now.
    pub remaining: u32,
    /// Time until the caller's whole quota is available again.
    pub reset: Duration,
    /// `Some` when refused: the time until the next request is allowed.
    pub retry_after: Option<Duration>,
}

impl RateDecision {
    /// True when the request may proceed.
    pub fn is_allowed(&self) -> bool {
        self.retry_after.is_none()
    }

    /// `Retry-After` in whole seconds, rounded up, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        ceil_secs(self.retry_after.unwrap_or_default()).max(1)
    }

    /// The `RateLimit-Policy` field value: `"read";q=600;w=60`.
    pub fn policy_header(&self) -> String {
        format!(
            "\"{}\";q={};w={}",
            self.class.as_str(),
            self.quota.requests(),
            ceil_secs(self.quota.window()).max(1)
        )
    }

    /// The `RateLimit` field value: `"read";r=599;t=1` (`t`: seconds until the quota is whole again).
    pub fn limit_header(&self) -> String {
        format!(
            "\"{}\";r={};t={}",
            self.class.as_str(),
            self.remaining,
            ceil_secs(self.reset)
        )
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_follow_the_ietf_draft_syntax() {
        let quota = Quota::new(600, Duration::from_secs(60)).unwrap();
        let decision = RateDecision {
            class: RouteClass::Read,
            quota,
            remaining: 0,
            reset: Duration::from_millis(59_500),
            retry_after: Some(Duration::from_millis(100)),
        };
        assert_eq!(decision.policy_header(), "\"read\";q=600;w=60");
        assert_eq!(decision.limit_header(), "\"read\";r=0;t=60");
        assert_eq!(decision.retry_after_secs(), 1);
        assert!(!decision.is_allowed());
        assert_eq!(quota.emission_interval(), Duration::from_millis(100));
    }

    #[test]
    fn zero_quota_is_refused() {
        assert_eq!(Quota::new(0, Duration::from_secs(1)), None);
        assert_eq!(Quota::new(1, Duration::ZERO), None);
    }
}
