//! The load of the `obo_load` driver, also run by entra-token's end-to-end tests (included with
//! `#[path]`): calls to API A over HTTP rotating over callers and the two downstream scopes, each
//! answer checked (200, the caller's own `oid` at API B, the route's scope), and the issuer's
//! `/stats` counters.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use entra_dev::{defaults, DevIssuer, Subject, TokenRequest};
use serde_json::Value;

use crate::apps::BoxError;

/// One caller: its token for API A and its `oid`.
pub(crate) struct Caller {
    /// The bearer token.
    pub(crate) token: String,
    /// Its `oid`.
    pub(crate) oid: String,
}

/// `n` callers `load-user-{i}`, each with a token for API A (scope weather.read).
pub(crate) fn callers(issuer: &DevIssuer, n: usize) -> Result<Vec<Caller>, BoxError> {
    (0..n)
        .map(|i| {
            let token = issuer.mint(&TokenRequest {
                subject: Subject::User(format!("load-user-{i}")),
                scopes: vec![defaults::SCOPE_READ.to_owned()],
                ..TokenRequest::default()
            })?;
            let payload = token.split('.').nth(1).ok_or("a minted token is a JWT")?;
            use base64::Engine as _;
            let claims: Value = serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?,
            )?;
            let oid = claims["oid"].as_str().ok_or("a user token has an oid")?;
            Ok(Caller {
                token,
                oid: oid.to_owned(),
            })
        })
        .collect()
}

/// The route and the scope B must report for call `i`: each caller alternates read and write.
fn operation(i: usize, users: usize) -> (&'static str, &'static str) {
    if (i / users).is_multiple_of(2) {
        ("read", defaults::SCOPE_DOWNSTREAM_READ)
    } else {
        ("write", defaults::SCOPE_DOWNSTREAM_WRITE)
    }
}

/// Calls A once; `Err` says what was wrong with the answer.
async fn call_once(
    http: &reqwest::Client,
    api_a: &str,
    caller: &Caller,
    op: (&str, &str),
) -> Result<(), String> {
    let res = http
        .get(format!("{api_a}call/{}", op.0))
        .bearer_auth(&caller.token)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = res.status();
    let body: Value = res
        .json()
        .await
        .map_err(|e| format!("{status}: body is not JSON: {e}"))?;
    if status != 200 {
        return Err(format!("{status}: {body}"));
    }
    let at_b = &body["downstream"];
    if at_b["oid"].as_str() != Some(caller.oid.as_str()) {
        return Err(format!(
            "B saw oid {} for caller {}",
            at_b["oid"], caller.oid
        ));
    }
    if at_b["scp"] != serde_json::json!([op.1]) {
        return Err(format!("B saw scp {} on /{}", at_b["scp"], op.0));
    }
    Ok(())
}

/// The issuer's `GET /stats` document.
pub(crate) async fn stats(http: &reqwest::Client, issuer: &str) -> Result<Value, BoxError> {
    Ok(http
        .get(format!("{issuer}stats"))
        .send()
        .await?
        .json()
        .await?)
}

/// A counter of the `/stats` document.
pub(crate) fn counter(stats: &Value, name: &str) -> u64 {
    stats[name].as_u64().unwrap_or(0)
}

/// The outcome of [`drive`].
pub(crate) struct Run {
    /// From the first call to the last answer.
    pub(crate) elapsed: Duration,
    /// Each call's latency, sorted.
    pub(crate) latencies: Vec<Duration>,
    /// What was wrong with the answers that were wrong.
    pub(crate) errors: Vec<String>,
}

/// `calls` calls to API A at `api_a`, `concurrency` at a time: call `i` is made by caller
/// `i % callers` on `/call/read` or `/call/write` (each caller alternates per round).
pub(crate) async fn drive(
    http: &reqwest::Client,
    api_a: &str,
    callers: Arc<Vec<Caller>>,
    calls: usize,
    concurrency: usize,
) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, api_a, callers) = (http.clone(), api_a.to_owned(), callers.clone());
            let (next, errors) = (next.clone(), errors.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= calls {
                        return latencies;
                    }
                    let caller = &callers[i % callers.len()];
                    let t = Instant::now();
                    let outcome =
                        call_once(&http, &api_a, caller, operation(i, callers.len())).await;
                    latencies.push(t.elapsed());
                    if let Err(e) = outcome {
                        errors.lock().unwrap_or_else(|p| p.into_inner()).push(e);
                    }
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(calls);
    for w in workers {
        match w.await {
            Ok(l) => latencies.extend(l),
            Err(e) => errors
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(format!("a worker failed: {e}")),
        }
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let errors = std::mem::take(&mut *errors.lock().unwrap_or_else(|p| p.into_inner()));
    Run {
        elapsed,
        latencies,
        errors,
    }
}

/// The `p` quantile (0 to 1) of sorted durations.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}
