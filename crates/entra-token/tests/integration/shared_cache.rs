//! The Redis shared cache: two instances share tokens; values are encrypted and keys hashed; a
//! dead Redis fails no call and logs one WARN per outage.

use std::sync::Arc;

use entra_token::cache::{EncryptionKey, RedisCache, RedisCacheConfig};
use entra_token::{ConfidentialClient, Scopes, UserAssertion};

use crate::common::{self, FakeEndpoint};

fn key() -> EncryptionKey {
    EncryptionKey::from_bytes(&[7u8; 32]).unwrap()
}

fn client_with(ep: &FakeEndpoint, cache: Arc<RedisCache>) -> ConfidentialClient {
    ConfidentialClient::new(ep.secret_builder().shared_cache(cache).build().unwrap()).unwrap()
}

#[tokio::test]
async fn second_instance_uses_token_cached_by_first_through_redis() {
    let Some(url) = common::redis_url() else {
        return;
    };
    let prefix = format!("entra-token-test:{}:", uuid::Uuid::new_v4());
    let ep = FakeEndpoint::start().await;
    let cache =
        || Arc::new(RedisCache::new(RedisCacheConfig::new(&url, key()).prefix(&prefix)).unwrap());
    let (a, b) = (client_with(&ep, cache()), client_with(&ep, cache()));
    let user =
        UserAssertion::parse(&common::user_token("alice-oid", common::unix_now() + 3600)).unwrap();
    let scopes = Scopes::parse(common::DOWNSTREAM_SCOPE);

    let from_a = a.acquire_on_behalf_of(&user, &scopes).await.unwrap();
    let from_b = b.acquire_on_behalf_of(&user, &scopes).await.unwrap();
    assert_eq!(from_b.secret(), from_a.secret());
    assert_eq!(ep.count(), 1);
    assert_eq!((b.stats().shared_hits, b.stats().token_requests), (1, 0));

    // What Redis holds: a hashed key with a TTL, an encrypted value.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys = common::redis_keys(&mut conn, &prefix).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let alice_key = keys[0].clone();
    let suffix = &alice_key[prefix.len()..];
    assert!(
        suffix.len() == 64 && suffix.chars().all(|c| c.is_ascii_hexdigit()),
        "{suffix}"
    );
    let value: Vec<u8> = redis::cmd("GET")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&value);
    assert!(!text.contains("tok-1") && !text.contains("alice"), "{text}");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((3_500_000..=3_600_000).contains(&ttl), "{ttl}");

    // A value copied under another user's key does not decrypt: that user gets its own token.
    let bob =
        UserAssertion::parse(&common::user_token("bob-oid", common::unix_now() + 3600)).unwrap();
    b.acquire_on_behalf_of(&bob, &scopes).await.unwrap();
    let keys = common::redis_keys(&mut conn, &prefix).await;
    let bob_key = keys
        .iter()
        .find(|k| **k != keys[0] || keys.len() == 1)
        .cloned()
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(&bob_key)
        .arg(value)
        .query_async(&mut conn)
        .await
        .unwrap();
    let c = client_with(&ep, cache());
    let for_bob = c.acquire_on_behalf_of(&bob, &scopes).await.unwrap();
    assert!(
        for_bob.secret().ends_with("-for-bob-oid"),
        "{}",
        for_bob.secret()
    );

    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn dead_redis_fails_no_call_and_warns_once_per_outage() {
    let logs = common::Logs::default();
    let _guard = logs.capture(tracing::Level::WARN);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("redis://{}/", listener.local_addr().unwrap());
    drop(listener);
    let ep = FakeEndpoint::start().await;
    let client = client_with(
        &ep,
        Arc::new(RedisCache::new(RedisCacheConfig::new(dead, key())).unwrap()),
    );
    for i in 0..5 {
        let user = UserAssertion::parse(&common::user_token(
            &format!("u{i}"),
            common::unix_now() + 3600,
        ))
        .unwrap();
        let t = client
            .acquire_on_behalf_of(&user, &Scopes::parse(common::DOWNSTREAM_SCOPE))
            .await
            .unwrap();
        assert!(t.secret().ends_with(&format!("-for-u{i}")));
    }
    assert_eq!(ep.count(), 5);
    let text = logs.text();
    assert_eq!(
        text.matches("shared token cache failing").count(),
        1,
        "{text}"
    );
    assert!(text.contains("WARN"), "{text}");
    assert!(
        !text.contains("tok-") && !text.contains(common::SECRET),
        "{text}"
    );
}
