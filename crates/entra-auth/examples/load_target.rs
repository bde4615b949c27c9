//! The load benchmark's library-level target (`bench/run.sh`): two routes with the *same* handler,
//! one public and one behind [`AuthLayer`], so the throughput ratio between them is the cost of
//! token validation and nothing else.
//!
//! ```text
//! cargo run --release -p entra-auth --example load_target -- \
//!     --bind 127.0.0.1:8500 --instance http://127.0.0.1:8400/ [--cache-capacity 0]
//! ```
//!
//! * `GET /open`: public, answers `[]` (application/json);
//! * `GET /protected`: the same handler, requiring scope `weather.read` or app role
//!   `Weather.Read.All`;
//! * `GET /metrics`: the validator's counters (token cache hits and misses, key fetches) as JSON.
//!
//! Tokens are those of the development tenant and API (`entra-dev token --instance ...`); the
//! instance is an Entra-shaped issuer such as `entra-dev serve`.

use std::error::Error;
use std::net::SocketAddr;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use entra_auth::{AuthConfig, AuthLayer, Requirement, TokenValidator};
use entra_dev::defaults::{DEV_API_CLIENT_ID, DEV_TENANT_ID};
use serde_json::{json, Value};

async fn reports() -> Json<Value> {
    Json(json!([]))
}

async fn metrics(State(validator): State<TokenValidator>) -> Json<Value> {
    let m = validator.metrics();
    Json(json!({
        "accepted": m.accepted,
        "rejected": m.rejected_total(),
        "key_fetches": m.key_fetches,
        "token_cache_hits": m.token_cache_hits,
        "token_cache_misses": m.token_cache_misses,
        "token_cache_entries": m.token_cache_entries,
    }))
}

struct Args {
    bind: SocketAddr,
    instance: String,
    cache_capacity: Option<usize>,
}

fn args() -> Result<Args, Box<dyn Error>> {
    let mut bind = None;
    let mut instance = None;
    let mut cache_capacity = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--bind" => bind = Some(value.parse()?),
            "--instance" => instance = Some(value),
            "--cache-capacity" => cache_capacity = Some(value.parse()?),
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    Ok(Args {
        bind: bind.ok_or("--bind ADDR is required")?,
        instance: instance.ok_or("--instance URL is required")?,
        cache_capacity,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = args()?;
    let mut config = AuthConfig::builder(DEV_TENANT_ID, DEV_API_CLIENT_ID).instance(&args.instance);
    if let Some(n) = args.cache_capacity {
        config = config.token_cache(entra_auth::TokenCacheOptions {
            capacity: n,
            ..Default::default()
        });
    }
    let validator = TokenValidator::new(config.build()?)?;
    validator.warm_up().await?;
    let _refresh = validator.spawn_background_refresh();

    let protected = Router::new().route("/protected", get(reports)).layer(
        AuthLayer::new(validator.clone())
            .require(Requirement::scopes(["weather.read"]).or_roles(["Weather.Read.All"])),
    );
    let app = Router::new()
        .route("/open", get(reports))
        .route("/metrics", get(metrics))
        .with_state(validator)
        .merge(protected);
    let listener = tokio::net::TcpListener::bind(args.bind).await?;
    eprintln!(
        "load_target: listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
