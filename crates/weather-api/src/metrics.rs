//! Prometheus metrics, held per application instance in [`AppState`](crate::state::AppState) (no global
//! recorder: every test gets fresh counters) and rendered in the Prometheus text exposition format (0.0.4)
//! by `GET /metrics`.
//!
//! What is counted here: HTTP requests by matched route template (never the raw path, so cardinality stays
//! bounded), method and status, with a latency histogram; weather cache hits and misses; upstream
//! (OpenWeatherMap) calls and failures by kind; reports stored. The token validator's own counters
//! (accepted, rejected by code, key fetches, key age, verified-token cache hits and misses) are read from
//! [`TokenValidator::metrics`](entra_auth::TokenValidator::metrics) at scrape time, so nothing is counted
//! twice.
//!
//! A leaf module (the registry only): the HTTP middleware that feeds it is
//! [`middleware::http_metrics`](crate::middleware::http_metrics), the scrape handler
//! [`routes::metrics`](crate::routes::metrics), and the weather cache counts its own lookups.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use entra_auth::AuthMetrics;
use http::Method;

/// The content type of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The route label of requests that matched no route (the fallback).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Upper bounds (seconds) of the request-latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Non-cumulative counts per bucket; the last slot is `+Inf`.
    buckets: [u64; LATENCY_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let i = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[i] += 1;
        self.sum += seconds;
        self.count += 1;
    }
}

/// One (route, method) pair's counters: answers by status, and latency.
#[derive(Debug, Default, Clone)]
struct MethodStats {
    statuses: BTreeMap<u16, u64>,
    latency: Histogram,
}

/// The service's own counters, cheap to update from any task.
#[derive(Debug, Default)]
pub struct Metrics {
    /// route -> method -> counters. One lock for both series; keyed by route first so that a request
    /// looks its route up by `&str` and allocates nothing once the route has been seen.
    http: Mutex<BTreeMap<String, BTreeMap<&'static str, MethodStats>>>,
    weather_cache_hits: AtomicU64,
    weather_cache_misses: AtomicU64,
    upstream_calls: AtomicU64,
    upstream_failures: Mutex<BTreeMap<&'static str, u64>>,
    reports_stored: AtomicU64,
}

/// Methods outside this set are counted as `other` (a client cannot grow the label set).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

impl Metrics {
    /// Fresh, zeroed counters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one answered request under its route template.
    pub fn record_request(&self, route: &str, method: &Method, status: u16, elapsed: Duration) {
        let method = method_label(method);
        let seconds = elapsed.as_secs_f64();
        let mut http = self.http.lock().unwrap_or_else(PoisonError::into_inner);
        let methods = match http.get_mut(route) {
            Some(methods) => methods,
            None => http.entry(route.to_owned()).or_default(),
        };
        let stats = methods.entry(method).or_default();
        *stats.statuses.entry(status).or_default() += 1;
        stats.latency.observe(seconds);
    }

    /// Counts a weather cache lookup.
    pub fn record_weather_cache(&self, hit: bool) {
        let counter = if hit {
            &self.weather_cache_hits
        } else {
            &self.weather_cache_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an upstream (OpenWeatherMap) call and, when it failed, its failure kind
    /// (`UpstreamError::kind`).
    pub fn record_upstream(&self, failure: Option<&'static str>) {
        self.upstream_calls.fetch_add(1, Ordering::Relaxed);
        if let Some(kind) = failure {
            *self
                .upstream_failures
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(kind)
                .or_default() += 1;
        }
    }

    /// Counts a stored report.
    pub fn record_report_stored(&self) {
        self.reports_stored.fetch_add(1, Ordering::Relaxed);
    }

    /// Renders every metric, with the validator's counters `auth` read at scrape time.
    pub fn render(&self, auth: &AuthMetrics) -> String {
        let mut out = String::with_capacity(4096);
        self.render_http(&mut out);
        render_auth(&mut out, auth);
        header(
            &mut out,
            "weather_api_weather_cache_hits_total",
            "counter",
            "Current-weather lookups answered from the cache.",
        );
        sample(
            &mut out,
            "weather_api_weather_cache_hits_total",
            &[],
            self.weather_cache_hits.load(Ordering::Relaxed),
        );
        header(
            &mut out,
            "weather_api_weather_cache_misses_total",
            "counter",
            "Current-weather lookups that went to OpenWeatherMap.",
        );
        sample(
            &mut out,
            "weather_api_weather_cache_misses_total",
            &[],
            self.weather_cache_misses.load(Ordering::Relaxed),
        );
        header(
            &mut out,
            "weather_api_upstream_requests_total",
            "counter",
            "Calls to OpenWeatherMap (including those that failed).",
        );
        sample(
            &mut out,
            "weather_api_upstream_requests_total",
            &[],
            self.upstream_calls.load(Ordering::Relaxed),
        );
        header(
            &mut out,
            "weather_api_upstream_failures_total",
            "counter",
            "Failed calls to OpenWeatherMap by kind.",
        );
        for (kind, n) in self
            .upstream_failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            sample(
                &mut out,
                "weather_api_upstream_failures_total",
                &[("kind", kind)],
                *n,
            );
        }
        header(
            &mut out,
            "weather_api_reports_stored_total",
            "counter",
            "Reports stored by this instance.",
        );
        sample(
            &mut out,
            "weather_api_reports_stored_total",
            &[],
            self.reports_stored.load(Ordering::Relaxed),
        );
        out
    }

    fn render_http(&self, out: &mut String) {
        header(
            out,
            "weather_api_http_requests_total",
            "counter",
            "HTTP requests answered, by route template, method and status.",
        );
        // A copy, so that rendering never holds the lock a request needs.
        let http = self
            .http
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (route, methods) in &http {
            for (method, stats) in methods {
                for (status, n) in &stats.statuses {
                    sample(
                        out,
                        "weather_api_http_requests_total",
                        &[
                            ("route", route),
                            ("method", method),
                            ("status", &status.to_string()),
                        ],
                        *n,
                    );
                }
            }
        }
        let name = "weather_api_http_request_duration_seconds";
        header(
            out,
            name,
            "histogram",
            "Time to answer an HTTP request, by route template and method.",
        );
        let latency = http.iter().flat_map(|(route, methods)| {
            methods
                .iter()
                .map(move |(method, stats)| (route, method, &stats.latency))
        });
        for (route, method, h) in latency {
            let mut cumulative = 0;
            for (i, count) in h.buckets.iter().enumerate() {
                cumulative += count;
                let le = LATENCY_BUCKETS
                    .get(i)
                    .map_or_else(|| "+Inf".to_owned(), ToString::to_string);
                sample(
                    out,
                    &format!("{name}_bucket"),
                    &[("route", route), ("method", method), ("le", &le)],
                    cumulative,
                );
            }
            let labels = [("route", route.as_str()), ("method", *method)];
            sample_f64(out, &format!("{name}_sum"), &labels, h.sum);
            sample(out, &format!("{name}_count"), &labels, h.count);
        }
    }
}

fn render_auth(out: &mut String, auth: &AuthMetrics) {
    header(
        out,
        "entra_auth_tokens_accepted_total",
        "counter",
        "Requests whose bearer token was valid and met the route's requirement.",
    );
    sample(out, "entra_auth_tokens_accepted_total", &[], auth.accepted);
    header(
        out,
        "entra_auth_tokens_rejected_total",
        "counter",
        "Requests refused by the auth layer, by reason code (missing_token, token_expired, insufficient_scope...).",
    );
    for (code, n) in &auth.rejected {
        sample(
            out,
            "entra_auth_tokens_rejected_total",
            &[("code", code)],
            *n,
        );
    }
    header(
        out,
        "entra_auth_key_fetches_total",
        "counter",
        "Signing-key refreshes attempted (metadata document, then key set).",
    );
    sample(out, "entra_auth_key_fetches_total", &[], auth.key_fetches);
    header(
        out,
        "entra_auth_key_fetch_failures_total",
        "counter",
        "Signing-key refreshes that failed.",
    );
    sample(
        out,
        "entra_auth_key_fetch_failures_total",
        &[],
        auth.key_fetch_failures,
    );
    if let Some(age) = auth.key_age {
        header(
            out,
            "entra_auth_key_age_seconds",
            "gauge",
            "Time since the signing keys in use were fetched.",
        );
        sample(out, "entra_auth_key_age_seconds", &[], age.as_secs());
    }
    if let Some(at) = auth.last_key_fetch {
        let secs = at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        header(
            out,
            "entra_auth_last_key_fetch_timestamp_seconds",
            "gauge",
            "When signing keys were last fetched (successfully or not), in Unix seconds.",
        );
        sample(
            out,
            "entra_auth_last_key_fetch_timestamp_seconds",
            &[],
            secs,
        );
    }
    render_token_cache(out, auth);
}

/// The validated-token cache's counters (entra-auth's verified-token cache; zero when it is off).
fn render_token_cache(out: &mut String, auth: &AuthMetrics) {
    header(
        out,
        "entra_auth_token_cache_hits_total",
        "counter",
        "Tokens answered from the verified-token cache.",
    );
    sample(
        out,
        "entra_auth_token_cache_hits_total",
        &[],
        auth.token_cache_hits,
    );
    header(
        out,
        "entra_auth_token_cache_misses_total",
        "counter",
        "Tokens looked up in the verified-token cache and verified in full.",
    );
    sample(
        out,
        "entra_auth_token_cache_misses_total",
        &[],
        auth.token_cache_misses,
    );
    header(
        out,
        "entra_auth_token_cache_entries",
        "gauge",
        "Entries in the verified-token cache.",
    );
    sample(
        out,
        "entra_auth_token_cache_entries",
        &[],
        u64::try_from(auth.token_cache_entries).unwrap_or(u64::MAX),
    );
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn labels(out: &mut String, labels: &[(&str, &str)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        for c in v.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

fn sample(out: &mut String, name: &str, label_pairs: &[(&str, &str)], value: u64) {
    out.push_str(name);
    labels(out, label_pairs);
    let _ = writeln!(out, " {value}");
}

fn sample_f64(out: &mut String, name: &str, label_pairs: &[(&str, &str)], value: f64) {
    out.push_str(name);
    labels(out, label_pairs);
    let _ = writeln!(out, " {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_inf() {
        let m = Metrics::new();
        m.record_request("/a", &Method::GET, 200, Duration::from_millis(3));
        m.record_request("/a", &Method::GET, 200, Duration::from_secs(20));
        let text = m.render(&AuthMetrics::default());
        assert!(text.contains(
            "weather_api_http_request_duration_seconds_bucket{route=\"/a\",method=\"GET\",le=\"0.001\"} 0\n"
        ));
        assert!(text.contains(
            "weather_api_http_request_duration_seconds_bucket{route=\"/a\",method=\"GET\",le=\"0.005\"} 1\n"
        ));
        assert!(text.contains(
            "weather_api_http_request_duration_seconds_bucket{route=\"/a\",method=\"GET\",le=\"10\"} 1\n"
        ));
        assert!(text.contains(
            "weather_api_http_request_duration_seconds_bucket{route=\"/a\",method=\"GET\",le=\"+Inf\"} 2\n"
        ));
        assert!(text.contains(
            "weather_api_http_request_duration_seconds_count{route=\"/a\",method=\"GET\"} 2\n"
        ));
        assert!(text.contains(
            "weather_api_http_requests_total{route=\"/a\",method=\"GET\",status=\"200\"} 2\n"
        ));
    }

    #[test]
    fn label_values_are_escaped_and_unknown_methods_folded() {
        let m = Metrics::new();
        let odd = Method::from_bytes(b"BREW").unwrap();
        m.record_request("/q\"\\\n", &odd, 404, Duration::ZERO);
        let text = m.render(&AuthMetrics::default());
        assert!(
            text.contains(
                "weather_api_http_requests_total{route=\"/q\\\"\\\\\\n\",method=\"other\",status=\"404\"} 1\n"
            ),
            "{text}"
        );
    }
}
