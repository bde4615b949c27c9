//! Unit tests of the pipeline against canned metadata and keys; tokens are signed by the
//! independent `jsonwebtoken` implementation, with times relative to a manual clock.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Value};

use super::*;
use crate::clock::ManualClock;
use crate::error::PermissionFailure;
use crate::jwks::tests::TEST_N;

const TID: &str = "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a";
const OTHER_TID: &str = "11111111-2222-4333-8444-555555555555";
const CID: &str = "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c";
const INSTANCE: &str = "https://login.test/";
const KEY_PEM: &[u8] = include_bytes!("../testdata/test_key.pem");
const OTHER_KEY_PEM: &[u8] = include_bytes!("../testdata/other_key.pem");
const NOW: u64 = 1_800_000_000;

/// The crate's canned identity provider, empty: each test publishes what it needs.
type Canned = crate::test_util::CannedIdp;

fn key_doc(kid: &str, issuer: Option<&str>) -> String {
    let mut k =
        json!({"kty": "RSA", "use": "sig", "kid": kid, "x5t": kid, "n": TEST_N, "e": "AQAB"});
    if let Some(i) = issuer {
        k["issuer"] = json!(i);
    }
    json!({ "keys": [k] }).to_string()
}

/// Publishes v1 and v2 metadata for `tenant` (a GUID, or `common`).
fn publish(c: &Canned, tenant: &str, issuer_tenant: &str) {
    c.set(
        &format!("{INSTANCE}{tenant}/v2.0/.well-known/openid-configuration"),
        200,
        json!({"issuer": format!("{INSTANCE}{issuer_tenant}/v2.0"), "jwks_uri": format!("{INSTANCE}{tenant}/discovery/v2.0/keys")}).to_string(),
    );
    c.set(
        &format!("{INSTANCE}{tenant}/discovery/v2.0/keys"),
        200,
        key_doc("k1", Some(&format!("{INSTANCE}{{tenantid}}/v2.0"))),
    );
    c.set(
        &format!("{INSTANCE}{tenant}/.well-known/openid-configuration"),
        200,
        json!({"issuer": format!("https://sts.test/{issuer_tenant}/"), "jwks_uri": format!("{INSTANCE}{tenant}/discovery/keys")}).to_string(),
    );
    c.set(
        &format!("{INSTANCE}{tenant}/discovery/keys"),
        200,
        key_doc("k1", None),
    );
}

struct Fixture {
    canned: Arc<Canned>,
    clock: ManualClock,
    validator: TokenValidator,
}

fn fixture_with(
    tenant: &str,
    issuer_tenant: &str,
    f: impl FnOnce(crate::AuthConfigBuilder) -> crate::AuthConfigBuilder,
) -> Fixture {
    let canned = Arc::new(Canned::empty());
    publish(&canned, tenant, issuer_tenant);
    let clock = ManualClock::new(std::time::UNIX_EPOCH + Duration::from_secs(NOW));
    let builder = AuthConfig::builder(tenant, CID)
        .instance(INSTANCE)
        .clock(Arc::new(clock.clone()));
    let config = f(builder).build().unwrap();
    let validator = TokenValidator::with_fetcher(config, canned.clone());
    Fixture {
        canned,
        clock,
        validator,
    }
}

fn fixture() -> Fixture {
    fixture_with(TID, TID, |b| b)
}

fn now() -> i64 {
    NOW as i64
}

fn v2_claims() -> Value {
    json!({
        "iss": format!("{INSTANCE}{TID}/v2.0"), "aud": CID, "ver": "2.0", "tid": TID,
        "oid": "a11ce000-0000-4000-8000-00000000a11c", "sub": "s", "azp": "client",
        "name": "Alice", "preferred_username": "alice@dev.example", "scp": "weather.read",
        "iat": now(), "nbf": now(), "exp": now() + 3600, "custom": {"x": 1}
    })
}

fn v1_claims() -> Value {
    json!({
        "iss": format!("https://sts.test/{TID}/"), "aud": format!("api://{CID}"), "ver": "1.0",
        "tid": TID, "appid": "client", "roles": ["Weather.Read.All"], "idtyp": "app",
        "iat": now(), "nbf": now(), "exp": now() + 3600
    })
}

fn b64(v: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(v)
}

fn sign_with(header: Value, claims: &Value, pem: &[u8]) -> String {
    let msg = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem).unwrap();
    let sig =
        jsonwebtoken::crypto::sign(msg.as_bytes(), &key, jsonwebtoken::Algorithm::RS256).unwrap();
    format!("{msg}.{sig}")
}

fn sign(header: Value, claims: &Value) -> String {
    sign_with(header, claims, KEY_PEM)
}

fn token(claims: &Value) -> String {
    sign(json!({"alg": "RS256", "typ": "JWT", "kid": "k1"}), claims)
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    if value.is_null() {
        claims.as_object_mut().unwrap().remove(key);
    } else {
        claims[key] = value;
    }
    claims
}

async fn reject(f: &Fixture, token: &str) -> AuthError {
    match f.validator.validate(token).await {
        Ok(c) => panic!("expected a rejection, got {c:?}"),
        Err(e) => {
            assert!(!e.status().is_server_error(), "{e}");
            e
        }
    }
}

#[tokio::test]
async fn v2_user_token_is_accepted_with_typed_claims() {
    let f = fixture();
    let c = f.validator.validate(&token(&v2_claims())).await.unwrap();
    assert_eq!(c.version(), TokenVersion::V2);
    assert_eq!(c.tid(), Some(TID));
    assert_eq!(c.client_id(), Some("client"));
    assert!(c.has_scope("weather.read"));
    assert!(!c.is_app_only());
    assert_eq!(c.raw()["custom"], json!({"x": 1}));
    assert_eq!(
        c.expires_at(),
        crate::clock::from_unix_seconds(now() + 3600)
    );
    let m = f.validator.metrics();
    assert_eq!(m.accepted, 1);
    assert_eq!(m.key_fetches, 2);
    assert!(f.validator.is_ready());
}

#[tokio::test]
async fn v1_app_token_is_accepted_against_v1_issuer() {
    let f = fixture();
    let c = f.validator.validate(&token(&v1_claims())).await.unwrap();
    assert_eq!(c.version(), TokenVersion::V1);
    assert!(c.is_app_only());
    assert!(c.has_role("Weather.Read.All"));
}

#[tokio::test]
async fn expired_token_is_rejected_with_time_and_age() {
    let f = fixture();
    let e = reject(&f, &token(&with(v2_claims(), "exp", json!(now() - 301)))).await;
    assert_eq!(e.code(), "token_expired");
    assert!(e.to_string().contains("301 seconds ago"), "{e}");
    // within the 300 s skew it is still accepted
    assert_eq!(
        f.validator
            .validate(&token(&with(v2_claims(), "exp", json!(now() - 299))))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
}

#[tokio::test]
async fn token_expires_as_the_clock_moves() {
    let f = fixture();
    let t = token(&v2_claims());
    assert_eq!(
        f.validator
            .validate(&t)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    f.clock.advance(Duration::from_secs(3600 + 301));
    assert_eq!(reject(&f, &t).await.code(), "token_expired");
}

#[tokio::test]
async fn not_yet_valid_token_is_rejected_beyond_skew() {
    let f = fixture();
    let e = reject(&f, &token(&with(v2_claims(), "nbf", json!(now() + 301)))).await;
    assert_eq!(e.code(), "token_not_yet_valid");
    assert_eq!(
        f.validator
            .validate(&token(&with(v2_claims(), "nbf", json!(now() + 299))))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
}

#[tokio::test]
async fn missing_exp_is_rejected() {
    let f = fixture();
    let e = reject(&f, &token(&with(v2_claims(), "exp", Value::Null))).await;
    assert_eq!(e.code(), "missing_claim");
    assert!(e.to_string().contains("exp"));
}

#[tokio::test]
async fn alg_none_and_hmac_and_unconfigured_rsa_are_rejected() {
    let f = fixture();
    let claims = v2_claims();
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","kid":"k1"}"#),
        b64(claims.to_string().as_bytes())
    );
    assert_eq!(reject(&f, &unsigned).await.code(), "unsupported_algorithm");
    let none = format!(
        "{}.{}.c2ln",
        b64(br#"{"alg":"none","kid":"k1"}"#),
        b64(claims.to_string().as_bytes())
    );
    assert_eq!(reject(&f, &none).await.code(), "unsupported_algorithm");
    // HS256 keyed with the public modulus bytes (the classic key-confusion attack)
    let n = URL_SAFE_NO_PAD.decode(TEST_N.trim()).unwrap();
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some("k1".into()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&n),
    )
    .unwrap();
    let e = reject(&f, &hs).await;
    assert_eq!(e.code(), "unsupported_algorithm");
    assert!(e.to_string().contains("\"HS256\""));
    let rs512 = sign(json!({"alg": "RS512", "kid": "k1"}), &claims);
    assert_eq!(reject(&f, &rs512).await.code(), "unsupported_algorithm");
}

#[tokio::test]
async fn crit_header_is_rejected() {
    let f = fixture();
    let t = sign(
        json!({"alg": "RS256", "kid": "k1", "crit": ["exp"], "exp": 1}),
        &v2_claims(),
    );
    assert_eq!(reject(&f, &t).await.code(), "unsupported_critical_header");
}

#[tokio::test]
async fn nonce_header_is_explained_as_graph_token() {
    let f = fixture();
    let t = sign(
        json!({"alg": "RS256", "kid": "k1", "nonce": "abc"}),
        &v2_claims(),
    );
    let e = reject(&f, &t).await;
    assert_eq!(e.code(), "token_for_other_resource");
    assert!(e.to_string().contains(&format!("api://{CID}/.default")));
}

#[tokio::test]
async fn graph_audience_is_explained() {
    let f = fixture();
    let e = reject(
        &f,
        &token(&with(
            v2_claims(),
            "aud",
            json!("00000003-0000-0000-c000-000000000000"),
        )),
    )
    .await;
    assert_eq!(e.code(), "token_for_other_resource");
    let e = reject(
        &f,
        &token(&with(
            v1_claims(),
            "aud",
            json!("https://graph.microsoft.com"),
        )),
    )
    .await;
    assert_eq!(e.code(), "token_for_other_resource");
}

#[tokio::test]
async fn wrong_audience_says_expected_and_found() {
    let f = fixture();
    let e = reject(&f, &token(&with(v2_claims(), "aud", json!("api://other")))).await;
    assert_eq!(e.code(), "audience_mismatch");
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("api://{CID}")) && msg.contains("\"api://other\""),
        "{msg}"
    );
    assert_eq!(
        reject(&f, &token(&with(v2_claims(), "aud", Value::Null)))
            .await
            .code(),
        "missing_claim"
    );
    // an array audience containing an accepted value is fine
    assert_eq!(
        f.validator
            .validate(&token(&with(v2_claims(), "aud", json!(["x", CID]))))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
}

#[tokio::test]
async fn configured_extra_audience_is_accepted() {
    let f = fixture_with(TID, TID, |b| b.audiences([CID, "https://api.contoso.com"]));
    assert_eq!(
        f.validator
            .validate(&token(&with(
                v2_claims(),
                "aud",
                json!("https://api.contoso.com")
            )))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    assert_eq!(
        reject(
            &f,
            &token(&with(v2_claims(), "aud", json!(format!("api://{CID}"))))
        )
        .await
        .code(),
        "audience_mismatch"
    );
}

#[tokio::test]
async fn issuer_of_other_tenant_is_rejected_with_hint() {
    let f = fixture();
    let claims = with(
        with(
            v2_claims(),
            "iss",
            json!(format!("{INSTANCE}{OTHER_TID}/v2.0")),
        ),
        "tid",
        json!(OTHER_TID),
    );
    let e = reject(&f, &token(&claims)).await;
    assert_eq!(e.code(), "issuer_mismatch");
    assert!(e.to_string().contains("another tenant"), "{e}");
}

#[tokio::test]
async fn v2_token_with_v1_issuer_gets_version_hint() {
    let f = fixture();
    let e = reject(
        &f,
        &token(&with(
            v2_claims(),
            "iss",
            json!(format!("https://sts.test/{TID}/")),
        )),
    )
    .await;
    assert_eq!(e.code(), "issuer_mismatch");
    assert!(e.to_string().contains("v1 issuer"), "{e}");
}

#[tokio::test]
async fn tid_not_matching_issuer_tenant_is_rejected() {
    let f = fixture();
    let e = reject(&f, &token(&with(v2_claims(), "tid", json!(OTHER_TID)))).await;
    assert_eq!(e.code(), "tenant_mismatch");
    let e = reject(&f, &token(&with(v2_claims(), "tid", json!("not-a-guid")))).await;
    assert_eq!(e.code(), "invalid_claim");
}

#[tokio::test]
async fn key_issuer_property_binds_key_to_tenant() {
    let f = fixture();
    f.canned.set(
        &format!("{INSTANCE}{TID}/discovery/v2.0/keys"),
        200,
        key_doc("k1", Some(&format!("{INSTANCE}{OTHER_TID}/v2.0"))),
    );
    let e = reject(&f, &token(&v2_claims())).await;
    assert_eq!(e.code(), "key_issuer_mismatch");
    // v1 tokens are checked against the v1 key set, which has no issuer property
    assert_eq!(
        f.validator
            .validate(&token(&v1_claims()))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
}

#[tokio::test]
async fn multi_tenant_accepts_allowed_tenant_and_rejects_others() {
    let f = fixture_with("organizations", "{tenantid}", |b| {
        b.allowed_tenants([TID])
            .accepted_versions([TokenVersion::V2])
    });
    assert_eq!(
        f.validator
            .validate(&token(&v2_claims()))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    let other = with(
        with(
            v2_claims(),
            "iss",
            json!(format!("{INSTANCE}{OTHER_TID}/v2.0")),
        ),
        "tid",
        json!(OTHER_TID),
    );
    let e = reject(&f, &token(&other)).await;
    assert_eq!(e.code(), "tenant_not_allowed");
    // iss of one tenant, tid of another: the template substitution catches it
    let mixed = with(v2_claims(), "tid", json!(OTHER_TID));
    assert_eq!(reject(&f, &token(&mixed)).await.code(), "issuer_mismatch");
    let no_tid = with(v2_claims(), "tid", Value::Null);
    assert_eq!(reject(&f, &token(&no_tid)).await.code(), "missing_claim");
}

#[tokio::test]
async fn multi_tenant_any_tenant_opt_in_accepts_other_tenants() {
    let f = fixture_with("common", "{tenantid}", |b| {
        b.dangerous_accept_any_tenant()
            .accepted_versions([TokenVersion::V2])
    });
    let other = with(
        with(
            v2_claims(),
            "iss",
            json!(format!("{INSTANCE}{OTHER_TID}/v2.0")),
        ),
        "tid",
        json!(OTHER_TID),
    );
    assert_eq!(
        f.validator
            .validate(&token(&other))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
}

#[tokio::test]
async fn version_not_accepted_is_rejected() {
    let f = fixture_with(TID, TID, |b| b.accepted_versions([TokenVersion::V2]));
    let e = reject(&f, &token(&v1_claims())).await;
    assert_eq!(e.code(), "version_not_accepted");
    assert_eq!(
        reject(&f, &token(&with(v2_claims(), "ver", json!("3.0"))))
            .await
            .code(),
        "version_not_accepted"
    );
    assert_eq!(
        reject(&f, &token(&with(v2_claims(), "ver", Value::Null)))
            .await
            .code(),
        "missing_claim"
    );
}

#[tokio::test]
async fn tampered_payload_and_foreign_key_fail_signature() {
    let f = fixture();
    let t = token(&v2_claims());
    let parts: Vec<&str> = t.split('.').collect();
    let forged_payload = b64(with(v2_claims(), "scp", json!("weather.write"))
        .to_string()
        .as_bytes());
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(reject(&f, &tampered).await.code(), "invalid_signature");
    let foreign = sign_with(
        json!({"alg": "RS256", "kid": "k1"}),
        &v2_claims(),
        OTHER_KEY_PEM,
    );
    assert_eq!(reject(&f, &foreign).await.code(), "invalid_signature");
}

#[tokio::test]
async fn structural_garbage_is_malformed() {
    let f = fixture();
    for (name, t) in [
        ("two segments", "a.b".to_owned()),
        ("four segments", "a.b.c.d".to_owned()),
        ("jwe", "a.b.c.d.e".to_owned()),
        ("bad base64 header", "@@.b.c".to_owned()),
        ("header not json", format!("{}.e30.c2ln", b64(b"nope"))),
        ("header array", format!("{}.e30.c2ln", b64(b"[1]"))),
        (
            "payload not json",
            format!(
                "{}.{}.c2ln",
                b64(br#"{"alg":"RS256","kid":"k1"}"#),
                b64(b"x")
            ),
        ),
        (
            "padded signature",
            format!("{}.e30.c2ln==", b64(br#"{"alg":"RS256","kid":"k1"}"#)),
        ),
        (
            "typ not jwt",
            format!(
                "{}.e30.c2ln",
                b64(br#"{"alg":"RS256","kid":"k1","typ":"JWE"}"#)
            ),
        ),
        ("oversize", "a".repeat(20_000)),
    ] {
        let e = reject(&f, &t).await;
        assert_eq!(e.code(), "malformed_token", "{name}: {e}");
        assert_eq!(e.status(), StatusCode::UNAUTHORIZED, "{name}");
    }
}

#[tokio::test]
async fn jku_and_x5u_headers_are_ignored_never_fetched() {
    let f = fixture();
    let t = sign(
        json!({"alg": "RS256", "kid": "k1", "jku": "https://evil.test/keys", "x5u": "https://evil.test/cert", "jwk": {"kty": "RSA"}, "x5c": ["AAAA"]}),
        &v2_claims(),
    );
    assert_eq!(
        f.validator
            .validate(&t)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    assert_eq!(f.canned.hits("evil.test"), 0);
}

#[tokio::test]
async fn missing_kid_falls_back_to_x5t_or_is_rejected() {
    let f = fixture();
    let t = sign(json!({"alg": "RS256", "x5t": "k1"}), &v2_claims());
    assert_eq!(
        f.validator
            .validate(&t)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    let t = sign(json!({"alg": "RS256"}), &v2_claims());
    assert_eq!(reject(&f, &t).await.code(), "missing_key_id");
}

#[tokio::test]
async fn unknown_kid_refreshes_once_per_gap() {
    let f = fixture();
    f.validator.warm_up().await.unwrap();
    let keys = format!("{TID}/discovery/v2.0/keys");
    assert_eq!(f.canned.hits(&keys), 1);
    let t = sign(json!({"alg": "RS256", "kid": "new"}), &v2_claims());
    let e = reject(&f, &t).await;
    assert_eq!(e.code(), "unknown_signing_key");
    assert_eq!(f.canned.hits(&keys), 2);
    // within the gap: no more fetches
    for _ in 0..10 {
        reject(&f, &t).await;
    }
    assert_eq!(f.canned.hits(&keys), 2);
    // the identity provider rotates; after the gap the next miss refreshes and succeeds
    f.canned.set(
        &format!("{INSTANCE}{keys}"),
        200,
        key_doc("new", Some(&format!("{INSTANCE}{{tenantid}}/v2.0"))),
    );
    f.clock.advance(Duration::from_secs(301));
    let t = sign(
        json!({"alg": "RS256", "kid": "new"}),
        &with(v2_claims(), "exp", json!(now() + 7200)),
    );
    assert_eq!(
        f.validator
            .validate(&t)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    assert_eq!(f.canned.hits(&keys), 3);
}

#[tokio::test]
async fn no_keys_ever_loaded_is_503_then_recovers() {
    let f = fixture();
    let v2 = format!("{INSTANCE}{TID}/v2.0/.well-known/openid-configuration");
    let body = f.canned.answer(&v2).unwrap().1;
    f.canned.set(&v2, 503, "down");
    let e = f.validator.warm_up().await.unwrap_err();
    assert_eq!(e.code(), "keys_unavailable");
    assert!(e.to_string().contains("503"), "{e}");
    let e = f
        .validator
        .validate(&token(&v2_claims()))
        .await
        .unwrap_err();
    assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(e.to_string().starts_with("signing keys not yet available"));
    assert!(!f.validator.is_ready());
    f.canned.set(&v2, 200, body);
    f.clock.advance(Duration::from_secs(301));
    assert_eq!(
        f.validator
            .validate(&token(&v2_claims()))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
}

#[tokio::test]
async fn outage_after_warm_up_keeps_last_good_keys() {
    let f = fixture();
    f.validator.warm_up().await.unwrap();
    for url in [
        format!("{INSTANCE}{TID}/v2.0/.well-known/openid-configuration"),
        format!("{INSTANCE}{TID}/discovery/v2.0/keys"),
    ] {
        f.canned.set(&url, 500, "boom");
    }
    assert_eq!(
        f.validator.warm_up().await.map_err(|e| e.code()),
        Err("keys_unavailable"),
        "every document answers 500"
    );
    assert_eq!(
        f.validator
            .validate(&token(&v2_claims()))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    let m = f.validator.metrics();
    assert_eq!(m.key_fetch_failures, 1);
    assert!(f.validator.is_ready());
}

#[tokio::test]
async fn b2c_token_with_ver_1_is_validated_against_policy_metadata() {
    let canned = Arc::new(Canned::empty());
    let meta = format!(
        "{INSTANCE}contoso.onmicrosoft.com/B2C_1_susi/v2.0/.well-known/openid-configuration"
    );
    let keys = format!("{INSTANCE}contoso.onmicrosoft.com/B2C_1_susi/discovery/v2.0/keys");
    canned.set(
        &meta,
        200,
        json!({"issuer": format!("{INSTANCE}{TID}/v2.0/"), "jwks_uri": keys}).to_string(),
    );
    canned.set(&keys, 200, key_doc("k1", None));
    let clock = ManualClock::new(std::time::UNIX_EPOCH + Duration::from_secs(NOW));
    let config = AuthConfig::builder(TID, CID)
        .b2c("contoso", "B2C_1_susi")
        .instance(INSTANCE)
        .clock(Arc::new(clock))
        .build()
        .unwrap();
    let v = TokenValidator::with_fetcher(config, canned);
    let claims = json!({"iss": format!("{INSTANCE}{TID}/v2.0/"), "aud": CID, "ver": "1.0", "tfp": "B2C_1_susi",
        "sub": "u", "scp": "weather.read", "exp": now() + 60, "nbf": now()});
    let c = v.validate(&token(&claims)).await.unwrap();
    assert_eq!(c.version(), TokenVersion::V1);
    let wrong = with(claims, "iss", json!(format!("{INSTANCE}{TID}/v2.0")));
    assert_eq!(
        v.validate(&token(&wrong)).await.unwrap_err().code(),
        "issuer_mismatch"
    );
}

#[tokio::test]
async fn authorize_checks_requirement_and_counts_rejections() {
    let f = fixture();
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("bearer {}", token(&v2_claims()))).unwrap(),
    );
    let req = Requirement::scopes(["weather.write"]);
    match f.validator.authorize(&headers, Some(&req)).await {
        Err(AuthError::InsufficientScope { failure, .. }) => {
            assert_eq!(failure, PermissionFailure::MissingScope)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        f.validator
            .authorize(&headers, Some(&Requirement::scopes(["weather.read"])))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    let m = f.validator.metrics();
    assert_eq!(m.accepted, 1);
    assert_eq!(m.rejected_with("insufficient_scope"), 1);
}

fn headers(values: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in values {
        h.append(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_token68_strings_are_refused_as_client_errors(s in "[A-Za-z0-9._~+/=-]{0,600}") {
        block_on(async {
            let f = fixture();
            let e = f.validator.validate(&s).await.unwrap_err();
            assert!(e.status().is_client_error(), "{s}: {e}");
        });
    }

    #[test]
    fn random_segments_under_a_valid_header_are_refused(payload in proptest::collection::vec(proptest::num::u8::ANY, 0..300), sig in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        block_on(async {
            let f = fixture();
            let t = format!("{}.{}.{}", b64(br#"{"alg":"RS256","kid":"k1"}"#), b64(&payload), b64(&sig));
            let e = f.validator.validate(&t).await.unwrap_err();
            assert!(e.status().is_client_error(), "{e}");
        });
    }

    #[test]
    fn any_signed_claims_set_without_the_right_audience_is_refused(aud in "[ -~]{0,40}", scp in "[ -~]{0,40}") {
        proptest::prop_assume!(aud != CID && aud != format!("api://{CID}"));
        block_on(async {
            let f = fixture();
            let claims = with(with(v2_claims(), "aud", json!(aud)), "scp", json!(scp));
            let e = f.validator.validate(&token(&claims)).await.unwrap_err();
            assert!(matches!(e.code(), "audience_mismatch" | "token_for_other_resource"), "{e}");
            // found values are quoted into messages and the challenge stays a valid header
            assert!(e.www_authenticate().is_some());
        });
    }
}

#[tokio::test]
async fn b2c_older_tfp_issuer_form_is_taken_from_metadata() {
    let canned = Arc::new(Canned::empty());
    let meta = format!(
        "{INSTANCE}contoso.onmicrosoft.com/b2c_1_susi/v2.0/.well-known/openid-configuration"
    );
    let keys = format!("{INSTANCE}contoso.onmicrosoft.com/b2c_1_susi/discovery/v2.0/keys");
    let iss = format!("{INSTANCE}tfp/{TID}/b2c_1_susi/v2.0/");
    canned.set(
        &meta,
        200,
        json!({"issuer": iss, "jwks_uri": keys}).to_string(),
    );
    canned.set(&keys, 200, key_doc("k1", None));
    let clock = ManualClock::new(std::time::UNIX_EPOCH + Duration::from_secs(NOW));
    let config = AuthConfig::builder(TID, CID)
        .b2c("contoso", "b2c_1_susi")
        .instance(INSTANCE)
        .clock(Arc::new(clock))
        .build()
        .unwrap();
    let v = TokenValidator::with_fetcher(config, canned);
    let claims =
        json!({"iss": iss, "aud": CID, "ver": "1.0", "tid": TID, "sub": "u", "exp": now() + 60});
    assert_eq!(
        v.validate(&token(&claims))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
}

// ---- the verified-token cache ----

fn cache_counts(f: &Fixture) -> (u64, u64) {
    let m = f.validator.metrics();
    (m.token_cache_hits, m.token_cache_misses)
}

#[tokio::test]
async fn repeated_token_is_answered_from_cache_with_the_same_claims() {
    let f = fixture();
    let t = token(&v2_claims());
    let first = f.validator.validate(&t).await.unwrap();
    let second = f.validator.validate(&t).await.unwrap();
    assert!(VerifiedClaims::ptr_eq(&first, &second));
    assert_eq!(second.raw()["custom"], json!({"x": 1}));
    let m = f.validator.metrics();
    assert_eq!((m.token_cache_hits, m.token_cache_misses), (1, 1));
    assert_eq!(m.token_cache_entries, 1);
    assert!((m.token_cache_hit_ratio() - 0.5).abs() < f64::EPSILON);
    assert_eq!(m.accepted, 2);
}

#[tokio::test]
async fn cached_token_is_refused_once_expired() {
    let f = fixture();
    let t = token(&with(v2_claims(), "exp", json!(now() + 60)));
    f.validator.validate(&t).await.unwrap();
    f.clock.advance(Duration::from_secs(60 + 300));
    f.validator.validate(&t).await.unwrap(); // at exp + skew: still valid, from the cache
    assert_eq!(cache_counts(&f), (1, 1));
    f.clock.advance(Duration::from_secs(1));
    assert_eq!(reject(&f, &t).await.code(), "token_expired");
    assert_eq!(cache_counts(&f), (1, 2));
    assert_eq!(f.validator.metrics().token_cache_entries, 0);
}

#[tokio::test]
async fn cached_token_is_refused_when_the_clock_goes_back_before_nbf() {
    let f = fixture();
    let t = token(&v2_claims()); // nbf = now
    f.validator.validate(&t).await.unwrap();
    f.clock
        .set(std::time::UNIX_EPOCH + Duration::from_secs(NOW - 301));
    assert_eq!(reject(&f, &t).await.code(), "token_not_yet_valid");
    assert_eq!(cache_counts(&f), (0, 2));
}

#[tokio::test]
async fn cached_token_is_dropped_when_its_key_leaves_the_key_set() {
    let f = fixture();
    let t = token(&v2_claims());
    f.validator.validate(&t).await.unwrap();
    // a refresh that keeps the key: still served from the cache
    f.validator.warm_up().await.unwrap();
    f.validator.validate(&t).await.unwrap();
    assert_eq!(cache_counts(&f), (1, 1));
    // the identity provider replaces k1 by k2 (same modulus, other id): k1's tokens are refused
    f.canned.set(
        &format!("{INSTANCE}{TID}/discovery/v2.0/keys"),
        200,
        key_doc("k2", Some(&format!("{INSTANCE}{{tenantid}}/v2.0"))),
    );
    f.validator.warm_up().await.unwrap();
    assert_eq!(reject(&f, &t).await.code(), "unknown_signing_key");
    assert_eq!(cache_counts(&f), (1, 2));
    assert_eq!(f.validator.metrics().token_cache_entries, 0);
}

#[tokio::test]
async fn cached_token_is_verified_again_after_the_maximum_age() {
    let f = fixture_with(TID, TID, |b| {
        b.token_cache(crate::TokenCacheOptions {
            max_age: Duration::from_secs(60),
            ..Default::default()
        })
    });
    let t = token(&v2_claims());
    let first = f.validator.validate(&t).await.unwrap();
    f.clock.advance(Duration::from_secs(59));
    let hit = f.validator.validate(&t).await.unwrap();
    assert!(VerifiedClaims::ptr_eq(&first, &hit));
    f.clock.advance(Duration::from_secs(1));
    let again = f.validator.validate(&t).await.unwrap();
    assert!(!VerifiedClaims::ptr_eq(&first, &again));
    assert_eq!(cache_counts(&f), (1, 2));
}

#[tokio::test]
async fn cache_holds_at_most_its_capacity_evicting_the_oldest() {
    let f = fixture_with(TID, TID, |b| {
        b.token_cache(crate::TokenCacheOptions {
            capacity: 3,
            ..Default::default()
        })
    });
    let tokens: Vec<String> = (0..5)
        .map(|i| token(&with(v2_claims(), "sub", json!(format!("user-{i}")))))
        .collect();
    for t in &tokens {
        f.validator.validate(t).await.unwrap();
    }
    assert_eq!(f.validator.metrics().token_cache_entries, 3);
    f.validator.validate(&tokens[4]).await.unwrap(); // newest: kept
    assert_eq!(cache_counts(&f), (1, 5));
    f.validator.validate(&tokens[0]).await.unwrap(); // oldest: evicted
    assert_eq!(cache_counts(&f), (1, 6));
    assert_eq!(f.validator.metrics().token_cache_entries, 3);
}

#[tokio::test]
async fn tampered_copies_of_a_cached_token_never_hit() {
    let f = fixture();
    let t = token(&v2_claims());
    f.validator.validate(&t).await.unwrap();
    let (head, sig) = t.rsplit_once('.').unwrap();
    let forged_payload = {
        let (h, _) = head.split_once('.').unwrap();
        let claims = with(v2_claims(), "scp", json!("weather.read weather.write"));
        format!("{h}.{}.{sig}", b64(claims.to_string().as_bytes()))
    };
    let flipped_sig = {
        let mut s = sig.to_owned();
        let last = if s.ends_with('A') { "B" } else { "A" };
        s.replace_range(s.len() - 1.., last);
        format!("{head}.{s}")
    };
    for bad in [forged_payload, flipped_sig, format!("{t}A")] {
        let e = reject(&f, &bad).await;
        assert!(
            matches!(e.code(), "invalid_signature" | "malformed_token"),
            "{e}"
        );
    }
    assert_eq!(cache_counts(&f), (0, 4));
    f.validator.validate(&t).await.unwrap();
    assert_eq!(cache_counts(&f), (1, 4));
}

#[tokio::test]
async fn requirement_is_checked_on_every_request_even_from_cache() {
    let f = fixture();
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {}", token(&v2_claims()))).unwrap(),
    );
    let write = Requirement::scopes(["weather.write"]);
    for _ in 0..2 {
        let e = f
            .validator
            .authorize(&headers, Some(&write))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "insufficient_scope");
    }
    assert_eq!(cache_counts(&f), (1, 1));
}

#[tokio::test]
async fn disabled_cache_verifies_every_time() {
    let f = fixture_with(TID, TID, |b| {
        b.token_cache(crate::TokenCacheOptions::disabled())
    });
    let t = token(&v2_claims());
    let a = f.validator.validate(&t).await.unwrap();
    let b = f.validator.validate(&t).await.unwrap();
    assert!(!VerifiedClaims::ptr_eq(&a, &b));
    let m = f.validator.metrics();
    assert_eq!(
        (
            m.token_cache_hits,
            m.token_cache_misses,
            m.token_cache_entries
        ),
        (0, 0, 0)
    );
    assert_eq!(m.accepted, 2);
}

#[test]
fn token_cache_max_age_out_of_range_is_a_config_error() {
    for age in [Duration::ZERO, Duration::from_secs(86_401)] {
        let e = AuthConfig::builder(TID, CID)
            .token_cache(crate::TokenCacheOptions {
                max_age: age,
                ..Default::default()
            })
            .build()
            .unwrap_err();
        assert!(
            e.to_string().starts_with("token_cache_max_age must be"),
            "{e}"
        );
    }
}

#[tokio::test]
async fn sharded_cache_keeps_as_many_tokens_as_its_capacity_however_they_spread() {
    let f = fixture_with(TID, TID, |b| {
        b.token_cache(crate::TokenCacheOptions {
            capacity: 256,
            ..Default::default()
        })
    });
    let tokens: Vec<String> = (0..257)
        .map(|i| token(&with(v2_claims(), "sub", json!(format!("user-{i}")))))
        .collect();
    for t in &tokens[..256] {
        f.validator.validate(t).await.unwrap();
    }
    assert_eq!(f.validator.metrics().token_cache_entries, 256);
    for t in &tokens[..256] {
        f.validator.validate(t).await.unwrap();
    }
    assert_eq!(cache_counts(&f), (256, 256));
    f.validator.validate(&tokens[256]).await.unwrap();
    assert_eq!(f.validator.metrics().token_cache_entries, 256);
}

#[tokio::test]
async fn header_fast_path_hits_only_the_exact_token_and_keeps_request_errors() {
    let f = fixture();
    let t = token(&v2_claims());
    f.validator.validate(&t).await.unwrap();
    let two_spaces = format!("bearer  {t}");
    f.validator
        .authorize(&headers(&[two_spaces.as_str()]), None)
        .await
        .unwrap();
    assert_eq!(cache_counts(&f), (1, 1));
    for (value, code) in [
        (format!("Bearer {t} "), "invalid_request"),
        (format!("Bearer {t}!"), "invalid_request"),
        (format!("Bearer {t}x"), "malformed_token"),
    ] {
        let e = f
            .validator
            .authorize(&headers(&[value.as_str()]), None)
            .await
            .unwrap_err();
        assert_eq!(e.code(), code, "{value:?}");
    }
    let e = f
        .validator
        .authorize(
            &headers(&[format!("Bearer {t}").as_str(), "Bearer x"]),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_request");
    assert_eq!(cache_counts(&f).0, 1);
}
