//! Overload: beyond `max_in_flight` the service sheds load at once (503 `overloaded` + `Retry-After`)
//! instead of queueing; under a sustained flood the real binary's memory stays bounded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use entra_dev::{DevIssuer, DevIssuerConfig};
use serde_json::json;
use tokio::sync::Semaphore;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::binary::{settings, Binary};
use crate::helpers::{
    openweather_body, problem, spawn_app_with, user_with_scopes, Persona, TestConfig,
};

#[tokio::test]
async fn request_beyond_capacity_gets_503_with_retry_after_at_once_then_capacity_returns() {
    let app = spawn_app_with(TestConfig::new().set("MAX_IN_FLIGHT", "2")).await;
    Mock::given(method("GET"))
        .and(path("/data/2.5/weather"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(openweather_body())
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&app.upstream)
        .await;
    let token = app.token(Persona::Reader).unwrap();
    // Two slow requests (different cities: no cache sharing) hold the whole capacity.
    let slow: Vec<_> = ["portland", "seattle"]
        .into_iter()
        .map(|city| {
            let request = app
                .client
                .get(app.url(&format!("/api/weather/{city}")))
                .bearer_auth(&token)
                .send();
            tokio::spawn(request)
        })
        .collect();
    // Wait until both are inside (OpenWeatherMap has seen them), bounded.
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.upstream_hits().await < 2 {
        assert!(Instant::now() < deadline, "slow requests never arrived");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let started = Instant::now();
    let shed = app.get("/healthz", None).await;
    let elapsed = started.elapsed();
    assert_eq!(shed.status().as_u16(), 503);
    assert_eq!(shed.headers()["retry-after"], "1");
    assert!(shed.headers().contains_key("x-request-id"));
    let body = problem(shed).await;
    assert_eq!(body["code"], "overloaded");
    // Answered without waiting for capacity (the slow requests take 3 s).
    assert!(
        elapsed < Duration::from_secs(2),
        "shedding took {elapsed:?}"
    );

    for s in slow {
        assert_eq!(s.await.unwrap().unwrap().status().as_u16(), 200);
    }
    assert_eq!(app.get("/healthz", None).await.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn sustained_flood_keeps_memory_bounded_and_never_answers_other_5xx() {
    const REQUESTS: usize = 6_000;
    const CONCURRENCY: usize = 256;
    let dir = tempfile::tempdir().unwrap();
    let issuer = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/data/2.5/weather"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(openweather_body())
                .set_delay(Duration::from_millis(20)),
        )
        .mount(&upstream)
        .await;
    let config = settings(
        &issuer,
        &upstream.uri(),
        &dir.path().join("weather.db"),
        json!({"max_in_flight": 64, "cache_ttl_secs": 1}),
    );
    let binary = Binary::start(dir.path(), &config, "warn");
    let idle_kib = binary.peak_rss_kib().unwrap_or(0);
    let read = issuer
        .issuer
        .mint(&user_with_scopes(&["weather.read"]))
        .unwrap();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let counts: Arc<[AtomicUsize; 4]> = Arc::new(Default::default()); // 2xx, 503 overloaded, other 4xx, other
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..REQUESTS {
        let permit = slots.clone().acquire_owned().await.unwrap();
        let (client, counts, read) = (client.clone(), counts.clone(), read.clone());
        // a mix: token validation + database, HTML + database, upstream + cache
        let url = match i % 3 {
            0 => binary.url("/api/reports"),
            1 => binary.url("/"),
            _ => binary.url(&format!("/api/weather/city{}", i % 50)),
        };
        tasks.spawn(async move {
            let _permit = permit;
            let slot = match client.get(&url).bearer_auth(&read).send().await {
                Ok(r) if r.status().is_success() => 0,
                Ok(r) if r.status().as_u16() == 503 && r.headers().contains_key("retry-after") => 1,
                Ok(r) if r.status().is_client_error() => 2,
                _ => 3,
            };
            counts[slot].fetch_add(1, Ordering::Relaxed);
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let peak_kib = binary.peak_rss_kib().unwrap_or(0);
    let [ok, shed, client_errors, other] = counts.each_ref().map(|c| c.load(Ordering::Relaxed));
    eprintln!(
        "flood: {REQUESTS} requests, {CONCURRENCY} concurrent, max_in_flight 64, {:.1} s: {ok} ok, {shed} shed (503 + Retry-After), {client_errors} 4xx, {other} other; VmHWM idle {idle_kib} KiB, after flood {peak_kib} KiB",
        elapsed.as_secs_f64()
    );
    assert_eq!(ok + shed + client_errors + other, REQUESTS);
    assert_eq!(other, 0, "5xx other than shedding, or transport errors");
    assert_eq!(client_errors, 0);
    assert!(ok > REQUESTS / 10, "almost everything was shed");
    // Bounded: a debug build under this flood stays far below 256 MiB (measured in RELIABILITY.md).
    if cfg!(target_os = "linux") {
        assert!(
            peak_kib > 0 && peak_kib < 256 * 1024,
            "peak RSS {peak_kib} KiB"
        );
    }
    let health = reqwest::get(binary.url("/healthz")).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
}
