//! The Redis shared cache: two instances share tokens; values are encrypted and keys hashed; a
//! value that does not decrypt (copied from another key, garbage, a rotated-out key) is a miss
//! and is overwritten; keys rotate through a keyring; a dead Redis fails no call and logs one WARN
//! per outage.

use std::sync::Arc;

use entra_token::cache::{EncryptionKey, Keyring, RedisCache, RedisCacheConfig};
use entra_token::{ConfidentialClient, Scopes, UserAssertion};

use crate::common::{self, FakeEndpoint};

fn key() -> EncryptionKey {
    EncryptionKey::from_bytes(&[7u8; 32]).unwrap()
}

/// This test's Redis: the server of `TEST_REDIS_URL` and a fresh key prefix (this test's keys only).
struct TestRedis {
    url: String,
    prefix: String,
}

impl TestRedis {
    /// `None` without `TEST_REDIS_URL` (the test is skipped).
    fn new() -> Option<Self> {
        Some(Self {
            url: common::redis_url()?,
            prefix: format!("entra-token-test:{}:", uuid::Uuid::new_v4()),
        })
    }

    /// A cache under this test's prefix with `keys`.
    fn cache(&self, keys: impl Into<Keyring>) -> Arc<RedisCache> {
        let config = RedisCacheConfig::new(&self.url, keys).prefix(&self.prefix);
        Arc::new(RedisCache::new(config).unwrap())
    }
}

fn client_with(ep: &FakeEndpoint, cache: Arc<RedisCache>) -> ConfidentialClient {
    ConfidentialClient::new(ep.secret_builder().shared_cache(cache).build().unwrap()).unwrap()
}

#[tokio::test]
async fn second_instance_uses_token_cached_by_first_through_redis() {
    let Some(r) = TestRedis::new() else {
        return;
    };
    let ep = FakeEndpoint::start().await;
    let cache = || r.cache(key());
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
    let client = redis::Client::open(r.url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys = common::redis_keys(&mut conn, &r.prefix).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let alice_key = keys[0].clone();
    let suffix = &alice_key[r.prefix.len()..];
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

    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// A Redis connection for looking at (and tampering with) what the cache stored.
async fn redis_conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn get_raw(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> Vec<u8> {
    redis::cmd("GET").arg(key).query_async(conn).await.unwrap()
}

async fn set_raw(conn: &mut redis::aio::MultiplexedConnection, key: &str, value: &[u8]) {
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .arg("EX")
        .arg(3600)
        .query_async(conn)
        .await
        .unwrap();
}

async fn delete_prefix(conn: &mut redis::aio::MultiplexedConnection, prefix: &str) {
    let keys = common::redis_keys(conn, prefix).await;
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(&keys)
            .query_async(conn)
            .await
            .unwrap();
    }
}

/// The one key under `prefix` that is not `known` (after a second user's token was stored).
async fn other_key(
    conn: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    known: &str,
) -> String {
    let keys = common::redis_keys(conn, prefix).await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    keys.into_iter().find(|k| k != known).unwrap()
}

#[tokio::test]
async fn value_copied_under_another_users_key_is_a_miss_and_is_overwritten() {
    let Some(r) = TestRedis::new() else {
        return;
    };
    let ep = FakeEndpoint::start().await;
    let cache = || r.cache(key());
    let scopes = Scopes::parse(common::DOWNSTREAM_SCOPE);
    let user = |oid: &str| {
        UserAssertion::parse(&common::user_token(oid, common::unix_now() + 3600)).unwrap()
    };
    let mut conn = redis_conn(&r.url).await;

    let a = client_with(&ep, cache());
    a.acquire_on_behalf_of(&user("alice-oid"), &scopes)
        .await
        .unwrap();
    let keys = common::redis_keys(&mut conn, &r.prefix).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let alice_key = keys[0].clone();
    a.acquire_on_behalf_of(&user("bob-oid"), &scopes)
        .await
        .unwrap();
    let bob_key = other_key(&mut conn, &r.prefix, &alice_key).await;
    assert_eq!(ep.count(), 2);

    // Alice's value copied under bob's key: it does not decrypt there.
    let alices_value = get_raw(&mut conn, &alice_key).await;
    set_raw(&mut conn, &bob_key, &alices_value).await;
    let c = client_with(&ep, cache());
    let for_bob = c
        .acquire_on_behalf_of(&user("bob-oid"), &scopes)
        .await
        .unwrap();
    assert!(
        for_bob.secret().ends_with("-for-bob-oid"),
        "{}",
        for_bob.secret()
    );
    assert_eq!(ep.count(), 3, "bob's token came from the token endpoint");
    assert_eq!(c.stats().shared_hits, 0);
    // ... and the value was overwritten with bob's own: another instance is served from Redis.
    assert_ne!(get_raw(&mut conn, &bob_key).await, alices_value);
    let d = client_with(&ep, cache());
    let from_redis = d
        .acquire_on_behalf_of(&user("bob-oid"), &scopes)
        .await
        .unwrap();
    assert_eq!(from_redis.secret(), for_bob.secret());
    assert_eq!((d.stats().shared_hits, d.stats().token_requests), (1, 0));
    assert_eq!(ep.count(), 3);
    delete_prefix(&mut conn, &r.prefix).await;
}

#[tokio::test]
async fn garbage_value_is_a_miss_overwritten_and_the_shared_cache_stays_on() {
    let Some(r) = TestRedis::new() else {
        return;
    };
    let logs = common::Logs::default();
    let _guard = logs.capture(tracing::Level::WARN);
    let ep = FakeEndpoint::start().await;
    let cache = || r.cache(key());
    let scopes = Scopes::app_default("api://downstream");
    let mut conn = redis_conn(&r.url).await;

    let a = client_with(&ep, cache());
    let first = a.acquire_for_app(&scopes).await.unwrap();
    let keys = common::redis_keys(&mut conn, &r.prefix).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    for garbage in [&b"not a value"[..], b"", b"kdefault"] {
        set_raw(&mut conn, &keys[0], garbage).await;
        let b = client_with(&ep, cache());
        let token = b.acquire_for_app(&scopes).await.unwrap();
        assert_ne!(token.secret(), first.secret());
        assert_eq!(
            b.stats().token_requests,
            1,
            "a miss: asked the token endpoint"
        );
        let c = client_with(&ep, cache());
        let again = c.acquire_for_app(&scopes).await.unwrap();
        assert_eq!(
            again.secret(),
            token.secret(),
            "overwritten: served from Redis"
        );
        assert_eq!((c.stats().shared_hits, c.stats().token_requests), (1, 0));
    }
    let text = logs.text();
    assert!(
        !text.contains("shared token cache failing"),
        "not an outage: {text}"
    );
    delete_prefix(&mut conn, &r.prefix).await;
}

#[tokio::test]
async fn rotated_key_values_of_the_previous_key_are_read_and_new_ones_use_the_current_key() {
    let Some(r) = TestRedis::new() else {
        return;
    };
    let ep = FakeEndpoint::start().await;
    let old = || EncryptionKey::from_bytes(&[7u8; 32]).unwrap();
    let new = || EncryptionKey::from_bytes(&[8u8; 32]).unwrap();
    let rotated = || {
        Keyring::new("2026-12", new())
            .unwrap()
            .with_previous(entra_token::cache::DEFAULT_KEY_ID, old())
            .unwrap()
    };
    let scopes = Scopes::parse(common::DOWNSTREAM_SCOPE);
    let user = |oid: &str| {
        UserAssertion::parse(&common::user_token(oid, common::unix_now() + 3600)).unwrap()
    };
    let mut conn = redis_conn(&r.url).await;

    // Before the rotation: alice's token under the old key (a bare key is named "default").
    let before = client_with(&ep, r.cache(Keyring::from(old())));
    let alices = before
        .acquire_on_behalf_of(&user("alice-oid"), &scopes)
        .await
        .unwrap();
    let alice_key = common::redis_keys(&mut conn, &r.prefix).await[0].clone();
    assert!(get_raw(&mut conn, &alice_key)
        .await
        .starts_with(b"kdefault"));

    // After: the old key's value is still read ...
    let after = client_with(&ep, r.cache(rotated()));
    let read = after
        .acquire_on_behalf_of(&user("alice-oid"), &scopes)
        .await
        .unwrap();
    assert_eq!(read.secret(), alices.secret());
    assert_eq!(
        (after.stats().shared_hits, after.stats().token_requests),
        (1, 0)
    );
    // ... and a new value is written under the current key.
    let bobs = after
        .acquire_on_behalf_of(&user("bob-oid"), &scopes)
        .await
        .unwrap();
    let bob_key = other_key(&mut conn, &r.prefix, &alice_key).await;
    assert!(get_raw(&mut conn, &bob_key).await.starts_with(b"k2026-12"));
    let only_new = client_with(&ep, r.cache(Keyring::new("2026-12", new()).unwrap()));
    let read = only_new
        .acquire_on_behalf_of(&user("bob-oid"), &scopes)
        .await
        .unwrap();
    assert_eq!(read.secret(), bobs.secret());
    assert_eq!(only_new.stats().shared_hits, 1);
    // Once the old key is dropped, its values are misses (and overwritten).
    let fresh = only_new
        .acquire_on_behalf_of(&user("alice-oid"), &scopes)
        .await
        .unwrap();
    assert_ne!(fresh.secret(), alices.secret());
    assert_eq!(only_new.stats().token_requests, 1);
    assert!(get_raw(&mut conn, &alice_key)
        .await
        .starts_with(b"k2026-12"));
    delete_prefix(&mut conn, &r.prefix).await;
}

#[test]
fn keyring_refuses_bad_and_repeated_key_ids() {
    let key = || EncryptionKey::from_bytes(&[1u8; 32]).unwrap();
    for bad in ["", "has space", "ü", &"x".repeat(33)] {
        let err = Keyring::new(bad, key()).unwrap_err();
        assert!(
            err.to_string().starts_with("invalid encryption key id"),
            "{bad:?}: {err}"
        );
    }
    let err = Keyring::new("a", key())
        .unwrap()
        .with_previous("a", key())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid encryption key id \"a\": it names another key of the keyring already"
    );
    let keys = Keyring::new("a", key())
        .unwrap()
        .with_previous("b", key())
        .unwrap();
    assert_eq!(
        format!("{keys:?}"),
        r#"Keyring { current: "a", previous: ["b"] }"#
    );
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
