//! The token cache seen from outside: single-flight, refresh ahead of expiry, never an expired
//! token, never another user's token.

use std::sync::Arc;
use std::time::Duration;

use entra_auth::ManualClock;
use entra_token::{CacheOptions, ConfidentialClient, Scopes, TokenError, UserAssertion};
use proptest::prelude::*;

use crate::common::{self, Answer, FakeEndpoint};

fn clocked(ep: &FakeEndpoint, clock: &ManualClock) -> ConfidentialClient {
    ConfidentialClient::new(
        ep.secret_builder()
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn concurrent_callers_for_one_key_share_one_token_request() {
    let ep = FakeEndpoint::start().await;
    ep.set_delay(Duration::from_millis(200));
    let client = ep.secret_client();
    let scopes = Scopes::app_default("api://x");
    let calls = (0..20).map(|_| {
        let (c, s) = (client.clone(), scopes.clone());
        tokio::spawn(async move { c.acquire_for_app(&s).await.unwrap().secret().to_owned() })
    });
    let tokens: Vec<String> = futures_join(calls).await;
    assert_eq!(ep.count(), 1);
    assert!(tokens.iter().all(|t| t == "tok-1-for-app"), "{tokens:?}");
    assert_eq!(client.stats().token_requests, 1);
}

async fn futures_join(
    handles: impl Iterator<Item = tokio::task::JoinHandle<String>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn token_is_refreshed_after_refresh_in_not_before() {
    let ep = FakeEndpoint::start().await;
    ep.set(Answer::Token {
        expires_in: 3600,
        refresh_in: Some(600),
    });
    let clock = ManualClock::starting_now();
    let client = clocked(&ep, &clock);
    let scopes = Scopes::app_default("api://x");
    let first = client.acquire_for_app(&scopes).await.unwrap();
    clock.advance(Duration::from_secs(599));
    assert_eq!(
        client.acquire_for_app(&scopes).await.unwrap().secret(),
        first.secret()
    );
    assert_eq!(ep.count(), 1);
    clock.advance(Duration::from_secs(2));
    let second = client.acquire_for_app(&scopes).await.unwrap();
    assert_eq!(second.secret(), "tok-2-for-app");
    assert_eq!(ep.count(), 2);
}

#[tokio::test]
async fn without_refresh_in_token_is_refreshed_at_half_life() {
    let ep = FakeEndpoint::start().await;
    ep.set(Answer::Token {
        expires_in: 1000,
        refresh_in: None,
    });
    let clock = ManualClock::starting_now();
    let client = clocked(&ep, &clock);
    let scopes = Scopes::app_default("api://x");
    client.acquire_for_app(&scopes).await.unwrap();
    clock.advance(Duration::from_secs(499));
    client.acquire_for_app(&scopes).await.unwrap();
    assert_eq!(ep.count(), 1);
    clock.advance(Duration::from_secs(2));
    client.acquire_for_app(&scopes).await.unwrap();
    assert_eq!(ep.count(), 2);
}

#[tokio::test]
async fn failed_refresh_serves_still_valid_token_but_never_an_expired_one() {
    let ep = FakeEndpoint::start().await;
    ep.set(Answer::Token {
        expires_in: 1000,
        refresh_in: Some(100),
    });
    let clock = ManualClock::starting_now();
    let client = clocked(&ep, &clock);
    let scopes = Scopes::app_default("api://x");
    let first = client.acquire_for_app(&scopes).await.unwrap();

    ep.set(Answer::Raw {
        status: 503,
        body: "unavailable".into(),
    });
    clock.advance(Duration::from_secs(500));
    let during_outage = client.acquire_for_app(&scopes).await.unwrap();
    assert_eq!(during_outage.secret(), first.secret());
    assert_eq!(ep.count(), 2);

    // Within the 30 s expiry margin, then past expiry: the old token is never served.
    clock.advance(Duration::from_secs(480));
    let err = client.acquire_for_app(&scopes).await.unwrap_err();
    assert!(matches!(err, TokenError::InvalidResponse { .. }), "{err:?}");
    clock.advance(Duration::from_secs(100));
    let err = client.acquire_for_app(&scopes).await.unwrap_err();
    assert!(matches!(err, TokenError::InvalidResponse { .. }), "{err:?}");
    assert_eq!(ep.count(), 4);
}

#[tokio::test]
async fn memory_cache_entry_bound_holds_under_many_users() {
    let ep = FakeEndpoint::start().await;
    let client = ConfidentialClient::new(
        ep.secret_builder()
            .cache(CacheOptions {
                max_entries: 3,
                ..CacheOptions::default()
            })
            .build()
            .unwrap(),
    )
    .unwrap();
    let scopes = Scopes::parse(common::DOWNSTREAM_SCOPE);
    let users: Vec<UserAssertion> = (0..5)
        .map(|i| {
            UserAssertion::parse(&common::user_token(
                &format!("u{i}"),
                common::unix_now() + 3600,
            ))
            .unwrap()
        })
        .collect();
    for u in &users {
        client.acquire_on_behalf_of(u, &scopes).await.unwrap();
    }
    assert_eq!(ep.count(), 5);
    assert_eq!(client.stats().cached_tokens, 3);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the order of calls, users and scopes, a caller gets a token issued for its own
    /// user and scopes.
    #[test]
    fn one_users_token_is_never_served_for_another(calls in proptest::collection::vec((0usize..6, 0usize..2), 1..30)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let ep = FakeEndpoint::start().await;
            let client = ep.secret_client();
            let exp = common::unix_now() + 3600;
            let users: Vec<(String, UserAssertion)> = (0..6)
                .map(|i| {
                    let oid = format!("user-{i}");
                    let a = UserAssertion::parse(&common::user_token(&oid, exp)).unwrap();
                    (oid, a)
                })
                .collect();
            let scopes = [Scopes::parse("api://b/read"), Scopes::parse("api://b/read api://b/write")];
            let mut issued: std::collections::HashMap<(usize, usize), String> = Default::default();
            for (u, s) in calls {
                let token = client.acquire_on_behalf_of(&users[u].1, &scopes[s]).await.unwrap();
                prop_assert!(token.secret().ends_with(&format!("-for-{}", users[u].0)), "{} got {}", users[u].0, token.secret());
                let first = issued.entry((u, s)).or_insert_with(|| token.secret().to_owned());
                prop_assert_eq!(first.as_str(), token.secret());
            }
            prop_assert_eq!(ep.count() as usize, issued.len());
            Ok(())
        })?;
    }
}

/// Only a guard against a hang (a failure, not a measurement).
const HANG: Duration = Duration::from_secs(30);

#[tokio::test]
async fn while_one_caller_refreshes_others_get_the_still_valid_token_at_once() {
    let ep = FakeEndpoint::start().await;
    ep.set(Answer::Token {
        expires_in: 3600,
        refresh_in: Some(100),
    });
    let clock = ManualClock::starting_now();
    let client = clocked(&ep, &clock);
    let scopes = Scopes::app_default("api://x");
    let first = client.acquire_for_app(&scopes).await.unwrap();
    clock.advance(Duration::from_secs(150));
    // The refresh request is held at the token endpoint until the test lets it go.
    let gate = ep.hold();

    let refresher = {
        let (c, s) = (client.clone(), scopes.clone());
        tokio::spawn(async move { c.acquire_for_app(&s).await.unwrap() })
    };
    // Wait until the refresh request has reached the token endpoint (it stays there).
    let reached = async {
        while ep.count() < 2 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(HANG, reached)
        .await
        .expect("the refresh request reaches the token endpoint");
    // Another caller is answered while the refresh is still held (it cannot be answered by the
    // refresh): the still-valid token, and no second token request.
    let meanwhile = tokio::time::timeout(HANG, client.acquire_for_app(&scopes))
        .await
        .expect("answered without waiting for the held refresh")
        .unwrap();
    assert_eq!(meanwhile.secret(), first.secret());
    assert!(!refresher.is_finished(), "the refresh is still held");
    assert_eq!(ep.count(), 2);

    gate.add_permits(1);
    let refreshed = refresher.await.unwrap();
    assert_eq!(refreshed.secret(), "tok-2-for-app");
    assert_eq!(
        client.acquire_for_app(&scopes).await.unwrap().secret(),
        "tok-2-for-app"
    );
    assert_eq!(ep.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_obo_calls_for_100_users_and_2_scopes_make_200_token_requests() {
    let ep = FakeEndpoint::start().await;
    let client = ep.secret_client();
    let exp = common::unix_now() + 3600;
    let scopes = [
        Scopes::parse("api://b/read"),
        Scopes::parse("api://b/write"),
    ];
    let tasks: Vec<_> = (0..100)
        .map(|u| {
            let client = client.clone();
            let scopes = scopes.clone();
            let oid = format!("user-{u}");
            tokio::spawn(async move {
                let user = UserAssertion::parse(&common::user_token(&oid, exp)).unwrap();
                for i in 0..100 {
                    let t = client
                        .acquire_on_behalf_of(&user, &scopes[i % 2])
                        .await
                        .unwrap();
                    assert!(
                        t.secret().ends_with(&format!("-for-{oid}")),
                        "{}",
                        t.secret()
                    );
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(ep.count(), 200);
    let stats = client.stats();
    assert_eq!((stats.token_requests, stats.cached_tokens), (200, 200));
    assert_eq!(stats.memory_hits, 10_000 - 200);
}
