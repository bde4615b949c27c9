//! The client's handling of a failing shared cache, with a SharedCache that fails on demand:
//! calls keep working, one WARN per outage, an INFO when it recovers, a WARN again on the next.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use entra_token::cache::{CacheKey, SharedCache, SharedCacheError};
use entra_token::{AccessToken, BoxFuture, Scopes, UserAssertion};

use crate::common::{self, FakeEndpoint};

#[derive(Debug, Default)]
struct Flaky {
    down: AtomicBool,
    calls: AtomicU64,
}

impl Flaky {
    fn answer(&self) -> Result<(), SharedCacheError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(SharedCacheError::Unavailable("connection refused".into()));
        }
        Ok(())
    }
}

impl SharedCache for Flaky {
    fn get<'a>(
        &'a self,
        _key: &'a CacheKey,
    ) -> BoxFuture<'a, Result<Option<AccessToken>, SharedCacheError>> {
        Box::pin(async move { self.answer().map(|()| None) })
    }

    fn put<'a>(
        &'a self,
        _key: &'a CacheKey,
        _token: &'a AccessToken,
        _now: SystemTime,
    ) -> BoxFuture<'a, Result<(), SharedCacheError>> {
        Box::pin(async move { self.answer() })
    }
}

#[tokio::test]
async fn shared_cache_outage_warns_once_then_info_on_recovery_then_warns_again() {
    let logs = common::Logs::default();
    let _guard = logs.capture(tracing::Level::INFO);

    let ep = FakeEndpoint::start().await;
    let flaky = Arc::new(Flaky::default());
    let client = entra_token::ConfidentialClient::new(
        ep.secret_builder()
            .shared_cache(flaky.clone())
            .cache(entra_token::CacheOptions {
                shared_cache_cooldown: std::time::Duration::ZERO,
                ..entra_token::CacheOptions::default()
            })
            .build()
            .unwrap(),
    )
    .unwrap();
    let scopes = Scopes::parse(common::DOWNSTREAM_SCOPE);
    let mut n = 0;
    let mut call = || {
        n += 1;
        let user = UserAssertion::parse(&common::user_token(
            &format!("u{n}"),
            common::unix_now() + 3600,
        ))
        .unwrap();
        let client = client.clone();
        let scopes = scopes.clone();
        async move { client.acquire_on_behalf_of(&user, &scopes).await.unwrap() }
    };

    flaky.down.store(true, Ordering::SeqCst);
    for _ in 0..4 {
        call().await;
    }
    assert_eq!(
        logs.text().matches("shared token cache failing").count(),
        1,
        "{}",
        logs.text()
    );
    flaky.down.store(false, Ordering::SeqCst);
    call().await;
    assert_eq!(
        logs.text()
            .matches("shared token cache reachable again")
            .count(),
        1,
        "{}",
        logs.text()
    );
    flaky.down.store(true, Ordering::SeqCst);
    call().await;
    call().await;
    let text = logs.text();
    assert_eq!(
        text.matches("shared token cache failing").count(),
        2,
        "{text}"
    );
    assert_eq!(ep.count(), 7);
    // get + put per call
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 14);
}

#[tokio::test]
async fn failing_shared_cache_is_skipped_during_cooldown() {
    let ep = FakeEndpoint::start().await;
    let flaky = Arc::new(Flaky::default());
    flaky.down.store(true, Ordering::SeqCst);
    let client = entra_token::ConfidentialClient::new(
        ep.secret_builder()
            .shared_cache(flaky.clone())
            .build()
            .unwrap(),
    )
    .unwrap();
    let scopes = Scopes::parse(common::DOWNSTREAM_SCOPE);
    for i in 0..5 {
        let user = UserAssertion::parse(&common::user_token(
            &format!("u{i}"),
            common::unix_now() + 3600,
        ))
        .unwrap();
        client.acquire_on_behalf_of(&user, &scopes).await.unwrap();
    }
    assert_eq!(ep.count(), 5);
    // The first miss tried the shared cache (get failed); the default 1 s cooldown skipped the rest.
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 1);
}
