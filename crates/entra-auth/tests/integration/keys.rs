//! Keys over time against the development issuer over real HTTP: rotation, identity-provider
//! outage, unknown-kid floods, 503 before the first load, background refresh and readiness.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::common::*;
use entra_auth::TokenVersion;
use entra_dev::TokenRequest;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use serde_json::{json, Value};

async fn v2_env() -> Env {
    env_with(|b| b.accepted_versions([TokenVersion::V2])).await
}

/// A token naming `kid` with a well-formed (but irrelevant) signature: the key lookup fails first.
fn with_kid(good: &str, kid: &str) -> String {
    let parts: Vec<&str> = good.split('.').collect();
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        parts[1],
        parts[2]
    )
}

#[tokio::test]
async fn rotated_key_is_accepted_after_exactly_one_refresh() {
    let e = v2_env().await;
    e.validator.warm_up().await.unwrap();
    assert_eq!(e.key_requests(), 1);
    let old_token = e.reader();
    assert_eq!(
        e.validator
            .validate(&old_token)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );

    let old_kid = e.issuer().current_kid();
    let new_kid = e.issuer().rotate_key().unwrap();
    assert_ne!(old_kid, new_kid);
    let new_token = e.reader();
    assert_eq!(header_of(&new_token)["kid"], json!(new_kid));

    let claims = e.validator.validate(&new_token).await.unwrap();
    assert_eq!(claims.tid(), Some(entra_dev::defaults::DEV_TENANT_ID));
    assert_eq!(e.key_requests(), 2, "exactly one refresh");
    // both keys are now known: no further fetches
    assert_eq!(
        e.validator
            .validate(&old_token)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    assert_eq!(
        e.validator
            .validate(&new_token)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    assert_eq!(e.key_requests(), 2);
    assert_eq!(e.validator.metrics().key_fetches, 2);
}

#[tokio::test]
async fn identity_provider_outage_after_warm_up_keeps_known_keys_working() {
    let e = v2_env().await;
    let base = serve(protected_router(e.validator.clone())).await;
    e.validator.warm_up().await.unwrap();
    let token = e.reader();
    let (meta0, keys0) = (e.metadata_requests(), e.key_requests());
    assert_eq!((meta0, keys0), (1, 1));

    e.issuer().set_outage(true);
    // known key: accepted without touching the identity provider
    let res = client()
        .get(format!("{base}/weather"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!((e.metadata_requests(), e.key_requests()), (meta0, keys0));

    // an unknown kid tries one refresh, which fails: 401, not 5xx, and the old keys stay
    let unknown = with_kid(&token, "rotated-during-outage");
    let err = e.validator.validate(&unknown).await.unwrap_err();
    assert_eq!(err.code(), "unknown_signing_key");
    assert_eq!(err.status(), 401);
    assert_eq!(e.metadata_requests(), meta0 + 1);
    // a second one within the gap does not fetch again
    let _ = e.validator.validate(&unknown).await.unwrap_err();
    assert_eq!(e.metadata_requests(), meta0 + 1);

    // scheduled refreshes fail too, and still the known key works
    assert_eq!(
        e.validator.warm_up().await.unwrap_err().code(),
        "keys_unavailable"
    );
    assert_eq!(
        e.validator
            .validate(&token)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    assert!(e.validator.is_ready());
    let m = e.validator.metrics();
    assert_eq!(m.key_fetch_failures, 2);
    assert!(m.key_age.is_some());

    // recovery
    e.issuer().set_outage(false);
    e.validator.warm_up().await.unwrap();
    assert_eq!(
        e.validator
            .validate(&token)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flood_of_random_unknown_kids_fetches_at_most_once_per_gap() {
    let e = v2_env().await;
    e.validator.warm_up().await.unwrap();
    let good = e.reader();
    let before = e.key_requests();

    let flood = |good: String| {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..1000 {
            let v = e.validator.clone();
            let kid = format!("kid-{:016x}", rand::random::<u64>());
            let token = with_kid(&good, &kid);
            set.spawn(async move { v.validate(&token).await.unwrap_err() });
        }
        set
    };
    let mut set = flood(good.clone());
    let mut n = 0;
    while let Some(r) = set.join_next().await {
        let err = r.unwrap();
        assert_eq!(err.code(), "unknown_signing_key");
        assert_eq!(err.status(), 401);
        n += 1;
    }
    assert_eq!(n, 1000);
    let after_first = e.key_requests();
    assert!(
        after_first - before <= 1,
        "{} fetches",
        after_first - before
    );

    // still within the gap: a second flood fetches nothing
    let mut set = flood(good.clone());
    while set.join_next().await.is_some() {}
    assert_eq!(e.key_requests(), after_first);

    // after the minimum gap: at most one more
    e.clock.advance(Duration::from_secs(301));
    let mut set = flood(good.clone());
    while set.join_next().await.is_some() {}
    assert!(e.key_requests() - after_first <= 1);
    // and the known key was never disturbed
    assert_eq!(
        e.validator
            .validate(&good)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    assert_eq!(
        e.validator.metrics().rejected_with("unknown_signing_key"),
        3000
    );
}

#[tokio::test]
async fn no_keys_ever_loaded_answers_503_until_the_identity_provider_returns() {
    let e = v2_env().await;
    let base = serve(protected_router(e.validator.clone())).await;
    e.issuer().set_outage(true);
    let token = e.reader();

    for _ in 0..3 {
        let res = client()
            .get(format!("{base}/weather"))
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 503);
        assert!(res.headers().get(WWW_AUTHENTICATE).is_none());
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "keys_unavailable");
        let detail = body["detail"].as_str().unwrap();
        assert_eq!(
            detail,
            "signing keys not yet available: the identity provider's metadata and keys have not been loaded; try again shortly"
        );
        assert!(!detail.contains(&e.instance()), "{detail}");
    }
    // one attempt on the request path, then the minimum gap holds
    assert_eq!(e.metadata_requests(), 1);
    assert!(!e.validator.is_ready());

    e.issuer().set_outage(false);
    e.validator.warm_up().await.unwrap();
    assert!(e.validator.is_ready());
    let res = client()
        .get(format!("{base}/weather"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn background_refresh_retries_until_keys_load_and_ready_resolves() {
    let e = v2_env().await;
    e.issuer().set_outage(true);
    let handle = e.validator.spawn_background_refresh();
    // wait (without sleeping) until the first attempt has reached the issuer and failed
    tokio::time::timeout(Duration::from_secs(20), async {
        while e.validator.metrics().key_fetch_failures == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("a first, failed attempt");
    assert!(!e.validator.is_ready());
    assert!(e.metadata_requests() >= 1);
    // the task backs off and retries
    e.issuer().set_outage(false);
    tokio::time::timeout(Duration::from_secs(20), e.validator.ready())
        .await
        .expect("keys loaded by the background refresh");
    assert!(e.validator.is_ready());
    assert_eq!(
        e.validator
            .validate(&e.reader())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    handle.abort();
    let _ = handle.await;
}

#[tokio::test]
async fn invalid_key_document_keeps_the_last_good_keys() {
    let e = v2_env().await;
    e.validator.warm_up().await.unwrap();
    let token = e.reader();
    e.issuer()
        .set_key_document_override(Some("{\"keys\": \"nope\"}".into()));
    assert_eq!(
        e.validator.warm_up().await.unwrap_err().code(),
        "keys_unavailable"
    );
    assert_eq!(
        e.validator
            .validate(&token)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    e.issuer().set_key_document_override(None);
    e.validator.warm_up().await.unwrap();
    assert_eq!(e.validator.metrics().key_fetches, 3);
    let _ = TokenRequest::default();
}

#[tokio::test]
async fn unknown_tenant_is_a_configuration_error_carrying_the_providers_words_and_an_outage_is_not()
{
    let e = v2_env().await;
    // a valid GUID that is no tenant: answered 400 invalid_tenant, AADSTS90002, as Entra does
    let unknown = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9";
    let mistyped = entra_auth::TokenValidator::new(
        entra_auth::AuthConfig::builder(unknown, entra_dev::defaults::DEV_API_CLIENT_ID)
            .instance(&e.instance())
            .accepted_versions([TokenVersion::V2])
            .build()
            .unwrap(),
    )
    .unwrap();
    let err = mistyped.warm_up().await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("(AADSTS90002: Tenant '{unknown}' not found.")),
        "{err}"
    );
    assert!(
        err.contains("a configuration error, not an outage"),
        "{err}"
    );
    let refused = mistyped
        .configuration_error()
        .expect("a configuration error");
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.code(), Some(90_002));
    assert!(refused.is_unknown_tenant());
    assert_eq!(refused.error(), Some("invalid_tenant"));
    assert!(
        refused
            .error_description()
            .unwrap()
            .starts_with(&format!("AADSTS90002: Tenant '{unknown}' not found.")),
        "{refused:?}"
    );
    assert!(refused.url().path().starts_with(&format!("/{unknown}/")));
    // An outage before the first load (503) is no configuration error.
    e.issuer().set_outage(true);
    let outage = entra_auth::TokenValidator::new(
        entra_auth::AuthConfig::builder(
            entra_dev::defaults::DEV_TENANT_ID,
            entra_dev::defaults::DEV_API_CLIENT_ID,
        )
        .instance(&e.instance())
        .build()
        .unwrap(),
    )
    .unwrap();
    let err = outage.warm_up().await.unwrap_err();
    assert!(
        matches!(err, entra_auth::AuthError::KeysUnavailable { .. }),
        "{err:?}"
    );
    assert_eq!(outage.configuration_error(), None);
    // Back up: loads, and still none.
    e.issuer().set_outage(false);
    outage.warm_up().await.unwrap();
    assert_eq!(outage.configuration_error(), None);
    assert!(outage.is_ready());
}
