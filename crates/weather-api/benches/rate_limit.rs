//! What the per-caller rate limiter costs a request (goal: ≤ 2 µs locally; with Redis one round
//! trip). `cargo bench -p weather-api --bench rate_limit`; with `TEST_REDIS_URL` set the shared
//! check is measured too.

// Benchmark code: a failed unwrap is a failed run.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use weather_api::domain::{Quota, RouteClass};
use weather_api::middleware::rate_limit::RateLimiter;
use weather_api::settings::RateLimitSettings;

fn settings(redis_url: Option<String>) -> RateLimitSettings {
    let quota = Quota::new(1_000_000_000, Duration::from_secs(60)).unwrap();
    RateLimitSettings {
        read: quota,
        write: quota,
        max_callers: 100_000,
        redis_url: redis_url.map(entra_core::SecretString::from),
        redis_timeout: Duration::from_millis(200),
        redis_key_prefix: format!("weather-api-bench:{}:", std::process::id()),
    }
}

fn local(c: &mut Criterion) {
    let limiter = RateLimiter::new(&settings(None)).unwrap();
    let mut group = c.benchmark_group("rate_limit");
    group.bench_function("local/one_caller", |b| {
        b.iter(|| limiter.check_local(RouteClass::Read, black_box("u:tenant:alice")))
    });
    // The key as the extractor builds it (one format! per request), over 10,000 callers.
    let tid = "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a";
    let oids: Vec<String> = (0..10_000)
        .map(|i| format!("00000000-0000-0000-0000-{i:012}"))
        .collect();
    let mut i = 0;
    group.bench_function("local/key_and_check_10k_callers", |b| {
        b.iter(|| {
            i = (i + 1) % oids.len();
            let key = format!("u:{tid}:{}", oids[i]);
            limiter.check_local(RouteClass::Read, black_box(&key))
        })
    });
    group.finish();
}

fn shared(c: &mut Criterion) {
    let Ok(url) = std::env::var("TEST_REDIS_URL") else {
        println!("rate_limit/redis: skipped (set TEST_REDIS_URL)");
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let limiter = RateLimiter::new(&settings(Some(url))).unwrap();
    // First call loads the script.
    runtime.block_on(limiter.check(RouteClass::Read, "u:tenant:warm-up"));
    let mut group = c.benchmark_group("rate_limit");
    group.bench_function("redis/one_caller", |b| {
        b.iter(|| runtime.block_on(limiter.check(RouteClass::Read, black_box("u:tenant:alice"))))
    });
    group.finish();
}

criterion_group!(benches, local, shared);
criterion_main!(benches);
