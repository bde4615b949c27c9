//! What a cache hit costs: `acquire_for_app` and `acquire_on_behalf_of` when the token is in the
//! memory cache (the token endpoint is a canned in-process transport, called once).
//!
//! `cargo bench -p entra-token --bench cache`

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use entra_token::{
    Authority, BoxFuture, ClientCredential, ConfidentialClient, ConfidentialConfig, Scopes,
    TokenTransport, TransportError, UserAssertion,
};
use http::StatusCode;

const CLIENT_ID: &str = "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c";

#[derive(Debug)]
struct Canned;

impl TokenTransport for Canned {
    fn send(
        &self,
        _request: http::Request<Bytes>,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, TransportError>> {
        let token = format!("eyJ0eXAiOiJKV1QifQ.{}.sig", "a".repeat(1200));
        Box::pin(async move {
            let mut res = http::Response::new(Bytes::from(format!(
                r#"{{"token_type":"Bearer","expires_in":3600,"access_token":"{token}"}}"#
            )));
            *res.status_mut() = StatusCode::OK;
            Ok(res)
        })
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = ConfidentialConfig::builder(
        Authority::tenant("7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a").unwrap(),
        CLIENT_ID,
        ClientCredential::secret("secret"),
    )
    .build()
    .unwrap();
    let client = ConfidentialClient::with_transport(config, Arc::new(Canned));
    let app_scopes = Scopes::app_default("api://downstream");
    let obo_scopes = Scopes::parse("api://downstream/access_as_user");
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let claims = serde_json::json!({
        "aud": CLIENT_ID, "oid": "a11ce000-0000-4000-8000-00000000a11c", "tid": "t", "scp": "access_as_user",
        "exp": exp, "name": "Alice Example", "padding": "x".repeat(900),
    });
    let incoming = format!(
        "eyJhbGciOiJSUzI1NiJ9.{}.{}",
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        "s".repeat(342)
    );
    let user = UserAssertion::parse(&incoming).unwrap();
    rt.block_on(client.acquire_for_app(&app_scopes)).unwrap();
    rt.block_on(client.acquire_on_behalf_of(&user, &obo_scopes))
        .unwrap();

    c.bench_function("cache_hit_client_credentials", |b| {
        b.iter(|| rt.block_on(client.acquire_for_app(&app_scopes)).unwrap())
    });
    c.bench_function("cache_hit_on_behalf_of", |b| {
        b.iter(|| {
            rt.block_on(client.acquire_on_behalf_of(&user, &obo_scopes))
                .unwrap()
        })
    });
    c.bench_function("cache_hit_on_behalf_of_including_assertion_parse", |b| {
        b.iter(|| {
            let user = UserAssertion::parse(&incoming).unwrap();
            rt.block_on(client.acquire_on_behalf_of(&user, &obo_scopes))
                .unwrap()
        })
    });
    assert_eq!(client.stats().token_requests, 2);
}

criterion_group!(benches, bench);
criterion_main!(benches);
