//! The cost of a token check, against the floor of one RS256 signature verification.
//!
//! Tokens are minted by the development issuer (`entra-dev`: Entra-shaped claims, 2048-bit key);
//! the validator reads canned metadata and keys, so nothing touches the network. Run with
//! `bench/criterion.sh`, which also prints every figure as a ratio to the floor.
//!
//! * `floor/rs256_verify_aws_lc_rs_parsed_key`: one RS256 verification of a real token with
//!   aws-lc-rs and a key parsed once, as the validator does (default backend, feature `aws-lc-rs`);
//!   `floor/rs256_verify_aws_lc_rs` the same building the key from its components per call;
//!   `floor/rs256_verify_ring` with ring (the backend without that feature, per call).
//! * `validate/cold_no_cache`: a never-seen token, cache off (pool of distinct tokens).
//! * `validate/cold_cache_miss`: a never-seen token with the cache on (lookup miss + insert).
//! * `validate/warm`: the same token again (cache hit).
//! * `request/warm`: what the middleware does per request: bearer header parsing, validation
//!   (hit), requirement check.
//! * `request/warm_two_authorities`: the same with a validator of two authorities, the token being
//!   the second one's (the worst case: the first authority's cache is probed first).
//! * `parts/bearer_header`, `parts/policy_check`: header parsing and the requirement check alone;
//!   `parts/policy_tree_5_leaves`: a requirement tree of five leaves (scope, calling application,
//!   no guests, role or all-of scopes), all checked.
//!
//! The measurement is the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time:
//! on a shared 2-core machine, wall time mostly measures the other processes.
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use entra_auth::test_util::CannedIdp;
use entra_auth::{AuthConfig, Requirement, TokenValidator};
use entra_dev::{defaults, DevIssuer, DevIssuerConfig, TokenRequest};
use http::{HeaderMap, HeaderValue};
use url::Url;

const INSTANCE: &str = "https://issuer.bench/";
/// The tenant of the first authority of the two-authority validator (not the tokens').
const OTHER_TENANT: &str = "11111111-2222-4333-8444-555555555555";

/// The calling thread's CPU time in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

/// Criterion measurement: CPU time of the benchmark thread.
struct CpuTime;

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanos
    }
}

struct Nanos;

impl ValueFormatter for Nanos {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = match typical {
            t if t < 1e3 => (1.0, "ns"),
            t if t < 1e6 => (1e-3, "µs"),
            t if t < 1e9 => (1e-6, "ms"),
            _ => (1e-9, "s"),
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }
    fn scale_throughputs(
        &self,
        _: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let per = match throughput {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) | Throughput::Elements(n) => *n,
        } as f64;
        values.iter_mut().for_each(|v| *v = per * 1e9 / *v);
        "per s"
    }
    fn scale_for_machines(&self, _: &mut [f64]) -> &'static str {
        "ns"
    }
}
const POOL: usize = 2_000;

struct Setup {
    issuer: DevIssuer,
    canned: Arc<CannedIdp>,
    tokens: Vec<String>,
}

fn setup() -> Setup {
    let issuer = DevIssuer::new(DevIssuerConfig::default(), Url::parse(INSTANCE).unwrap()).unwrap();
    let tid = defaults::DEV_TENANT_ID;
    let metadata = serde_json::json!({
        "issuer": issuer.issuer_v2(tid),
        "jwks_uri": format!("{INSTANCE}{tid}/discovery/v2.0/keys"),
    })
    .to_string();
    let keys = issuer.key_set().to_string();
    // the development issuer's documents, from memory
    let canned = CannedIdp::empty();
    canned.set(
        &format!("{INSTANCE}{tid}/v2.0/.well-known/openid-configuration"),
        200,
        metadata,
    );
    canned.set(
        &format!("{INSTANCE}{tid}/discovery/v2.0/keys"),
        200,
        keys.clone(),
    );
    // another tenant on the same instance, for the two-authority validator
    let other = OTHER_TENANT;
    let other_metadata = serde_json::json!({
        "issuer": issuer.issuer_v2(other),
        "jwks_uri": format!("{INSTANCE}{other}/discovery/v2.0/keys"),
    })
    .to_string();
    canned.set(
        &format!("{INSTANCE}{other}/v2.0/.well-known/openid-configuration"),
        200,
        other_metadata,
    );
    canned.set(&format!("{INSTANCE}{other}/discovery/v2.0/keys"), 200, keys);
    let req = TokenRequest {
        scopes: vec!["weather.read".into()],
        ..TokenRequest::default()
    };
    let tokens = (0..POOL).map(|_| issuer.mint(&req).unwrap()).collect();
    Setup {
        issuer,
        canned: Arc::new(canned),
        tokens,
    }
}

fn validator(s: &Setup, rt: &tokio::runtime::Runtime, cache: Option<usize>) -> TokenValidator {
    let mut b = AuthConfig::builder(defaults::DEV_TENANT_ID, defaults::DEV_API_CLIENT_ID)
        .instance(INSTANCE)
        .accepted_versions([entra_auth::TokenVersion::V2]);
    b = match cache {
        Some(n) => b.token_cache(entra_auth::TokenCacheOptions {
            capacity: n,
            ..Default::default()
        }),
        None => b.token_cache(entra_auth::TokenCacheOptions::disabled()),
    };
    let v = TokenValidator::with_fetcher(b.build().unwrap(), s.canned.clone());
    rt.block_on(v.warm_up()).unwrap();
    v
}

/// (signing input, signature, n, e) of a token and the issuer's current key.
fn raw_parts(s: &Setup, token: &str) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let (input, sig) = token.rsplit_once('.').unwrap();
    let jwks = s.issuer.key_set();
    let key = &jwks["keys"][0];
    let d = |v: &serde_json::Value| URL_SAFE_NO_PAD.decode(v.as_str().unwrap()).unwrap();
    (
        input.as_bytes().to_vec(),
        URL_SAFE_NO_PAD.decode(sig).unwrap(),
        d(&key["n"]),
        d(&key["e"]),
    )
}

fn benches(c: &mut Criterion<CpuTime>) {
    let s = setup();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (input, sig, n, e) = raw_parts(&s, &s.tokens[0]);

    let mut floor = c.benchmark_group("floor");
    floor.bench_function("rs256_verify_ring", |b| {
        let key = ring::signature::RsaPublicKeyComponents { n: &n, e: &e };
        b.iter(|| {
            key.verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, &input, &sig)
                .unwrap()
        })
    });
    #[cfg(feature = "aws-lc-rs")]
    floor.bench_function("rs256_verify_aws_lc_rs", |b| {
        let key = aws_lc_rs::signature::RsaPublicKeyComponents { n: &n, e: &e };
        b.iter(|| {
            key.verify(
                &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                &input,
                &sig,
            )
            .unwrap()
        })
    });
    #[cfg(feature = "aws-lc-rs")]
    floor.bench_function("rs256_verify_aws_lc_rs_parsed_key", |b| {
        let key = aws_lc_rs::signature::RsaPublicKeyComponents { n: &n, e: &e }
            .to_parsed_public_key(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256)
            .unwrap();
        b.iter(|| key.verify_sig(&input, &sig).unwrap())
    });
    floor.finish();

    let mut g = c.benchmark_group("validate");
    let cold = validator(&s, &rt, None);
    let mut i = 0;
    g.bench_function("cold_no_cache", |b| {
        b.iter(|| {
            i = (i + 1) % POOL;
            rt.block_on(cold.validate(&s.tokens[i])).unwrap()
        })
    });
    // Capacity below the pool: with oldest-first eviction a cycle over the pool always misses.
    let missing = validator(&s, &rt, Some(POOL / 2));
    let mut i = 0;
    g.bench_function("cold_cache_miss", |b| {
        b.iter(|| {
            i = (i + 1) % POOL;
            rt.block_on(missing.validate(&s.tokens[i])).unwrap()
        })
    });
    assert_eq!(
        missing.metrics().token_cache_hits,
        0,
        "the cold pool hit the cache"
    );
    let warm = validator(&s, &rt, Some(10_000));
    g.bench_function("warm", |b| {
        b.iter(|| rt.block_on(warm.validate(&s.tokens[0])).unwrap())
    });
    g.finish();

    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {}", s.tokens[0])).unwrap(),
    );
    let requirement = Requirement::scopes(["weather.read"]).or_roles(["Weather.Read.All"]);
    let mut r = c.benchmark_group("request");
    r.bench_function("warm", |b| {
        b.iter(|| {
            rt.block_on(warm.authorize(&headers, Some(&requirement)))
                .unwrap()
        })
    });
    let config = |tenant: &str, name: &str| {
        AuthConfig::builder(tenant, defaults::DEV_API_CLIENT_ID)
            .instance(INSTANCE)
            .accepted_versions([entra_auth::TokenVersion::V2])
            .name(name)
            .build()
            .unwrap()
    };
    let fetcher: Arc<dyn entra_auth::HttpFetch> = s.canned.clone();
    let two = TokenValidator::multi_with_fetchers([
        (config(OTHER_TENANT, "other"), fetcher.clone()),
        (config(defaults::DEV_TENANT_ID, "dev"), fetcher),
    ])
    .unwrap();
    rt.block_on(two.warm_up()).unwrap();
    let claims = rt.block_on(two.authorize(&headers, None)).unwrap();
    assert_eq!(claims.authority(), Some("dev"));
    rt.block_on(two.authorize(&headers, Some(&requirement)))
        .unwrap();
    assert_eq!(
        two.metrics().token_cache_hits,
        1,
        "the warm path hits the cache"
    );
    r.bench_function("warm_two_authorities", |b| {
        b.iter(|| {
            rt.block_on(two.authorize(&headers, Some(&requirement)))
                .unwrap()
        })
    });
    r.finish();

    let mut p = c.benchmark_group("parts");
    p.bench_function("bearer_header", |b| {
        b.iter(|| {
            entra_auth::bearer::bearer_token(&headers, 16 * 1024)
                .unwrap()
                .len()
        })
    });
    let claims = rt.block_on(warm.validate(&s.tokens[0])).unwrap();
    p.bench_function("policy_check", |b| {
        b.iter(|| requirement.check(&claims).unwrap())
    });
    let tree = Requirement::scopes(["weather.read"])
        .and(Requirement::calling_apps([defaults::DEV_PUBLIC_CLIENT_ID]))
        .and(Requirement::no_guests())
        .and(Requirement::roles(["Weather.Admin"]).or(Requirement::all_scopes(["weather.read"])));
    tree.check(&claims).unwrap();
    p.bench_function("policy_tree_5_leaves", |b| {
        b.iter(|| tree.check(&claims).unwrap())
    });
    p.bench_function("token_hash_sha256", |b| {
        b.iter(|| ring::digest::digest(&ring::digest::SHA256, s.tokens[0].as_bytes()))
    });
    p.finish();
}

criterion_group! {
    name = validation;
    config = Criterion::default().with_measurement(CpuTime);
    targets = benches
}
criterion_main!(validation);
