//! Prometheus metrics: requests per route and status, the inbound validator's counters (key
//! fetches, verified-token cache) and the token client's (cache hits per level, token requests).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use entra_auth::AuthMetrics;
use entra_token::ClientStats;
use http::StatusCode;

/// Request counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
}

impl Metrics {
    /// Counts one answer of `route`.
    pub fn record(&self, route: &'static str, status: StatusCode) {
        let mut map = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry((route, status.as_u16())).or_insert(0) += 1;
    }

    /// The text exposition format.
    pub fn render(&self, auth: &AuthMetrics, tokens: Option<ClientStats>) -> String {
        let mut out = String::new();
        out.push_str("# HELP sidecar_requests_total Requests answered, by route and status.\n# TYPE sidecar_requests_total counter\n");
        {
            let map = self
                .requests
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for ((route, status), n) in map.iter() {
                let _ = writeln!(
                    out,
                    "sidecar_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        let counters: [(&str, &str, u64); 5] = [
            (
                "sidecar_inbound_accepted_total",
                "Inbound tokens accepted.",
                auth.accepted,
            ),
            (
                "sidecar_inbound_rejected_total",
                "Inbound tokens rejected.",
                auth.rejected_total(),
            ),
            (
                "sidecar_key_fetches_total",
                "Signing-key refreshes attempted (metadata, then key set).",
                auth.key_fetches,
            ),
            (
                "sidecar_key_fetch_failures_total",
                "Signing-key refreshes that failed.",
                auth.key_fetch_failures,
            ),
            (
                "sidecar_inbound_cache_hits_total",
                "Inbound tokens answered from the verified-token cache.",
                auth.token_cache_hits,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        if let Some(stats) = tokens {
            let _ = writeln!(
                out,
                "# HELP sidecar_token_cache_hits_total Downstream tokens served from a cache, by level.\n# TYPE sidecar_token_cache_hits_total counter\nsidecar_token_cache_hits_total{{level=\"memory\"}} {}\nsidecar_token_cache_hits_total{{level=\"redis\"}} {}",
                stats.memory_hits, stats.shared_hits
            );
            let _ = writeln!(
                out,
                "# HELP sidecar_token_requests_total Requests sent to the token endpoint.\n# TYPE sidecar_token_requests_total counter\nsidecar_token_requests_total {}",
                stats.token_requests
            );
        }
        out
    }
}
