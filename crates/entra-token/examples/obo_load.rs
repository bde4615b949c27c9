//! Load driver for the on-behalf-of chain of the `obo_chain` example: `--calls` requests to API A
//! over HTTP (`GET /call/read` and `GET /call/write`: two downstream scopes) rotating over
//! `--users` callers, `--concurrency` at a time; every answer must be 200 and carry, from API B,
//! the caller's own `oid` and the scope of the route. Then the token requests the issuer counted
//! at `GET /stats` (goal: at most users × 2). With `--redis URL` (feature `redis`), two instances
//! of API A share a Redis cache (a random key prefix, removed afterwards): the first calls B for
//! every user and scope, then the second, which must make no token request.
//!
//! ```text
//! cargo run --release -p entra-token --features redis --example obo_load -- \
//!     --calls 10000 --users 100 --concurrency 32 --redis redis://127.0.0.1:6379
//! ```
//!
//! Everything runs in this process on one tokio runtime (issuer, API B, API A and the driver), on
//! 127.0.0.1. Prints a Markdown table; exits with status 1 when a goal is missed.

#[path = "obo_chain/apps.rs"]
mod apps;
#[path = "obo_chain/load.rs"]
mod load;

use std::sync::Arc;
use std::time::Duration;

use entra_dev::{defaults, DevIssuer, DevIssuerConfig};
use entra_token::{ClientCredential, ConfidentialClient};

use apps::{BoxError, Chain};
use load::{callers, counter, drive, percentile, stats, Caller};

struct Args {
    calls: usize,
    users: usize,
    concurrency: usize,
    redis: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        calls: 10_000,
        users: 100,
        concurrency: 32,
        redis: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        let number = |v: String| {
            v.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(format!("{arg} needs a positive number, found {v:?}"))
        };
        match arg.as_str() {
            "--calls" => out.calls = number(value()?)?,
            "--users" => out.users = number(value()?)?,
            "--concurrency" => out.concurrency = number(value()?)?,
            "--redis" => out.redis = Some(value()?),
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: obo_load [--calls N] [--users N] \
                     [--concurrency N] [--redis URL]"
                ))
            }
        }
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = args()?;
    let dev = DevIssuer::spawn(DevIssuerConfig::default()).await?;
    let issuer = dev.url().to_string();
    let secret = || ClientCredential::secret(defaults::DEV_API_CLIENT_SECRET);
    let client = ConfidentialClient::new(apps::api_a_config(&issuer, secret())?.build()?)?;
    let chain = Chain::start(&issuer, client.clone()).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    eprintln!(
        "issuer {issuer}, API A {}, API B {}",
        chain.a.url, chain.b.url
    );
    let callers = Arc::new(callers(&dev.issuer, args.users)?);
    let mut goals_met = true;

    let before = stats(&http, &issuer).await?;
    let run = drive(
        &http,
        &chain.a.url,
        callers.clone(),
        args.calls,
        args.concurrency,
    )
    .await;
    let after = stats(&http, &issuer).await?;
    let obo = counter(&after, "on_behalf_of_requests") - counter(&before, "on_behalf_of_requests");
    let all = counter(&after, "token_requests") - counter(&before, "token_requests");
    let bound = (args.users * 2) as u64;
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
    println!(
        "| calls | users x scopes | concurrency | wall time | calls/s | p50 | p99 | errors | \
         token requests at /stats (on-behalf-of / all) | goal <= {bound} |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---|");
    println!(
        "| {} | {} x 2 | {} | {:.2} s | {:.0} | {} | {} | {} | {obo} / {all} | {} |",
        args.calls,
        args.users,
        args.concurrency,
        run.elapsed.as_secs_f64(),
        args.calls as f64 / run.elapsed.as_secs_f64(),
        ms(percentile(&run.latencies, 0.5)),
        ms(percentile(&run.latencies, 0.99)),
        run.errors.len(),
        if all <= bound && run.errors.is_empty() {
            "met"
        } else {
            "MISSED"
        },
    );
    println!("\nAPI A's client: {:?}", client.stats());
    for e in run.errors.iter().take(5) {
        println!("error: {e}");
    }
    goals_met &= all <= bound && run.errors.is_empty();

    if let Some(url) = &args.redis {
        goals_met &= shared_cache(&issuer, &chain, &callers, url).await?;
    }
    dev.shutdown().await?;
    if !goals_met {
        std::process::exit(1);
    }
    Ok(())
}

/// Two instances of API A sharing Redis: the second makes no token request for users the first
/// has cached.
#[cfg(feature = "redis")]
async fn shared_cache(
    issuer: &str,
    chain: &Chain,
    callers: &Arc<Vec<Caller>>,
    url: &str,
) -> Result<bool, BoxError> {
    use entra_token::cache::{EncryptionKey, RedisCache, RedisCacheConfig};
    use serde_json::Value;
    let prefix = format!("obo-load:{}:", uuid::Uuid::new_v4());
    let key: [u8; 32] = rand::random();
    let instance = || -> Result<ConfidentialClient, BoxError> {
        let cache = RedisCache::new(
            RedisCacheConfig::new(url, EncryptionKey::from_bytes(&key)?).prefix(&prefix),
        )?;
        let config = apps::api_a_config(
            issuer,
            ClientCredential::secret(defaults::DEV_API_CLIENT_SECRET),
        )?
        .shared_cache(Arc::new(cache))
        .build()?;
        Ok(ConfidentialClient::new(config)?)
    };
    let (first, second) = (instance()?, instance()?);
    let a1 = Chain::start_a(issuer, first.clone(), &chain.b.url).await?;
    let a2 = Chain::start_a(issuer, second.clone(), &chain.b.url).await?;
    let http = reqwest::Client::new();
    let calls = callers.len() * 2;
    let obo = |s: Value| counter(&s, "on_behalf_of_requests");

    let t0 = obo(stats(&http, issuer).await?);
    let run1 = drive(&http, &a1.url, callers.clone(), calls, 16).await;
    let t1 = obo(stats(&http, issuer).await?);
    let run2 = drive(&http, &a2.url, callers.clone(), calls, 16).await;
    let t2 = obo(stats(&http, issuer).await?);
    println!(
        "\n| two instances of API A on one Redis | calls | errors | token requests at /stats | \
         instance's cache (memory hits / Redis hits) |"
    );
    println!("|---|---:|---:|---:|---|");
    let s1 = first.stats();
    let s2 = second.stats();
    println!(
        "| first (empty caches) | {calls} | {} | {} | {} / {} |",
        run1.errors.len(),
        t1 - t0,
        s1.memory_hits,
        s1.shared_hits
    );
    println!(
        "| second (same users and scopes) | {calls} | {} | {} | {} / {} |",
        run2.errors.len(),
        t2 - t1,
        s2.memory_hits,
        s2.shared_hits
    );
    let met = t2 == t1 && run1.errors.is_empty() && run2.errors.is_empty();
    println!(
        "\ngoal (the second instance makes no token request): {}",
        if met { "met" } else { "MISSED" }
    );

    let redis = redis::Client::open(url)?;
    let mut conn = redis.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await?;
    if !keys.is_empty() {
        let () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await?;
    }
    Ok(met)
}

#[cfg(not(feature = "redis"))]
async fn shared_cache(
    _issuer: &str,
    _chain: &Chain,
    _callers: &Arc<Vec<Caller>>,
    _url: &str,
) -> Result<bool, BoxError> {
    Err("--redis needs the feature: cargo run --features redis --example obo_load".into())
}
