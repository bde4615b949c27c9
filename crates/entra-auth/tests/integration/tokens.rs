//! Tokens of every kind through a protected axum server over real HTTP: the valid ones are
//! accepted, and each malformed, forged or misdirected token or header is refused with the right
//! status, code and challenge, never a 5xx.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use crate::common::*;
use entra_auth::{Clock, TokenVersion};
use entra_dev::defaults::{DEV_API_CLIENT_ID, DEV_DAEMON_CLIENT_ID, DEV_TENANT_ID};
use entra_dev::{Subject, TokenRequest};
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::{json, Map, Value};

async fn get(base: &str, auth: &[Vec<u8>]) -> (u16, Option<String>, Value, String) {
    let mut req = client().get(format!("{base}/weather"));
    for a in auth {
        req = req.header(AUTHORIZATION, http::HeaderValue::from_bytes(a).unwrap());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let ctype = res
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap_or(Value::Null);
    (status, challenge, body, ctype)
}

fn bearer(token: &str) -> Vec<Vec<u8>> {
    vec![format!("Bearer {token}").into_bytes()]
}

#[tokio::test]
async fn valid_tokens_of_every_kind_are_accepted() {
    let e = env().await;
    let base = serve(protected_router(e.validator.clone())).await;

    // v2 delegated
    let (s, _, body, _) = get(&base, &bearer(&e.reader())).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["version"], "2.0");
    assert_eq!(body["oid"], entra_dev::defaults::ALICE_OID);
    assert_eq!(body["app_only"], false);

    // v1 delegated (aud = App ID URI, v1 issuer)
    let v1 = e.mint(&TokenRequest {
        version: entra_dev::TokenVersion::V1,
        scopes: vec!["weather.read".into()],
        ..e.request()
    });
    let (s, _, body, _) = get(&base, &bearer(&v1)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["version"], "1.0");

    // app-only (client credentials, v2 and v1)
    for version in [entra_dev::TokenVersion::V2, entra_dev::TokenVersion::V1] {
        let app = e.mint(&TokenRequest {
            subject: Subject::App {
                client_id: DEV_DAEMON_CLIENT_ID.into(),
            },
            version,
            roles: vec!["Weather.Read.All".into()],
            ..e.request()
        });
        let (s, _, body, _) = get(&base, &bearer(&app)).await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["app_only"], true);
    }

    // lower-case scheme
    let t = e.reader();
    let (s, _, _, _) = get(&base, &[format!("bearer {t}").into_bytes()]).await;
    assert_eq!(s, 200);
    let (s, _, _, _) = get(&base, &[format!("BEARER {t}").into_bytes()]).await;
    assert_eq!(s, 200);

    // a jku header is ignored: the known key is used, nothing is fetched from it
    let mut h = header_of(&t);
    h.insert("jku".into(), json!("http://127.0.0.1:9/evil-keys"));
    let jku = e.sign_raw(Value::Object(h), Value::Object(claims_of(&t)));
    let (s, _, _, _) = get(&base, &bearer(&jku)).await;
    assert_eq!(s, 200);

    let m = e.validator.metrics();
    assert_eq!(m.accepted, 7);
    assert_eq!(m.rejected_total(), 0);
}

#[tokio::test]
async fn b2c_token_is_accepted_against_the_policy_metadata() {
    let e = env_with(|b| b.b2c("devb2c", "B2C_1_susi")).await;
    let t = e.mint(&TokenRequest {
        b2c_policy: Some("B2C_1_susi".into()),
        scopes: vec!["weather.read".into()],
        ..e.request()
    });
    let c = e.validator.validate(&t).await.unwrap();
    assert_eq!(c.version(), TokenVersion::V1);
    assert_eq!(c.issuer().unwrap(), e.issuer().issuer_b2c(DEV_TENANT_ID));
    // a workforce v2 token is not a B2C token
    let err = e.validator.validate(&e.reader()).await.unwrap_err();
    assert_eq!(err.code(), "issuer_mismatch");
    assert_eq!(err.status(), 401);
    assert_eq!(e.metadata_requests(), 1);
}

#[tokio::test]
async fn multi_tenant_tokens_of_allowed_tenants_are_accepted_others_refused() {
    let e = env_for("organizations", |b| {
        b.allowed_tenants([DEV_TENANT_ID, OTHER_TENANT])
            .accepted_versions([TokenVersion::V2])
    })
    .await;
    for tenant in [DEV_TENANT_ID, OTHER_TENANT] {
        let t = e.mint(&TokenRequest {
            tenant_id: Some(tenant.into()),
            scopes: vec!["weather.read".into()],
            ..e.request()
        });
        let c = e.validator.validate(&t).await.unwrap();
        assert_eq!(c.tid(), Some(tenant));
    }
    let t = e.mint(&TokenRequest {
        tenant_id: Some(THIRD_TENANT.into()),
        ..e.request()
    });
    let err = e.validator.validate(&t).await.unwrap_err();
    assert_eq!(err.code(), "tenant_not_allowed");
    assert!(err.to_string().contains(THIRD_TENANT));
}

#[tokio::test]
async fn multi_tenant_any_tenant_opt_in_accepts_every_tenant() {
    let e = env_for("common", |b| {
        b.dangerous_accept_any_tenant()
            .accepted_versions([TokenVersion::V2])
    })
    .await;
    let t = e.mint(&TokenRequest {
        tenant_id: Some(THIRD_TENANT.into()),
        ..e.request()
    });
    assert_eq!(
        e.validator
            .validate(&t)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
}

struct Case {
    name: &'static str,
    auth: Vec<Vec<u8>>,
    status: u16,
    code: &'static str,
}

fn case(name: &'static str, auth: Vec<Vec<u8>>, status: u16, code: &'static str) -> Case {
    Case {
        name,
        auth,
        status,
        code,
    }
}

fn with(mut m: Map<String, Value>, k: &str, v: Value) -> Value {
    if v.is_null() {
        m.remove(k);
    } else {
        m.insert(k.into(), v);
    }
    Value::Object(m)
}

#[tokio::test]
async fn malformed_forged_and_misdirected_requests_are_refused_with_the_right_answer() {
    let e = env().await;
    let base = serve(protected_router(e.validator.clone())).await;
    let good = e.reader();
    let claims = claims_of(&good);
    let head = header_of(&good);
    let kid = e.issuer().current_kid();
    let now = e.clock.now();
    let parts: Vec<&str> = good.split('.').collect();
    let hdr = |h: Value| b64(h.to_string().as_bytes());
    let raw = |c: Value| e.sign_raw(Value::Object(head.clone()), c);
    let raw_h = |h: Value| e.sign_raw(h, Value::Object(claims.clone()));

    // the public modulus of the signing key, as an HMAC secret
    let key_set = e.issuer().key_set();
    let n = key_set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == json!(kid))
        .unwrap()["n"]
        .as_str()
        .unwrap()
        .to_owned();
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some(kid.clone()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &n).unwrap(),
        ),
    )
    .unwrap();

    let mut tampered_claims = claims.clone();
    tampered_claims.insert("scp".into(), json!("weather.read weather.write"));
    let other_token = e.mint(&TokenRequest {
        subject: Subject::User("bob".into()),
        scopes: vec!["weather.read".into()],
        ..e.request()
    });
    let other_sig = other_token.split('.').nth(2).unwrap();

    let truncated_sig = {
        let sig =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, parts[2])
                .unwrap();
        b64(&sig[..sig.len() - 8])
    };
    let mint = |r: TokenRequest| e.mint(&r);
    let base_req = || TokenRequest {
        scopes: vec!["weather.read".into()],
        ..e.request()
    };
    let ext = |pairs: &[(&str, Value)]| {
        let mut m = Map::new();
        for (k, v) in pairs {
            m.insert((*k).into(), v.clone());
        }
        m
    };
    let unix = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
    };

    let cases = vec![
        // --- the request ---
        case("no_authorization_header", vec![], 401, "missing_token"),
        case(
            "basic_scheme",
            vec![b"Basic dXNlcjpwYXNz".to_vec()],
            401,
            "unsupported_scheme",
        ),
        case(
            "token_without_scheme",
            vec![good.clone().into_bytes()],
            401,
            "unsupported_scheme",
        ),
        case(
            "duplicate_authorization_headers",
            vec![
                format!("Bearer {good}").into_bytes(),
                format!("Bearer {good}").into_bytes(),
            ],
            400,
            "invalid_request",
        ),
        case(
            "bearer_without_token",
            vec![b"Bearer".to_vec()],
            400,
            "invalid_request",
        ),
        case(
            "bearer_with_blank_token",
            vec![b"Bearer    ".to_vec()],
            400,
            "invalid_request",
        ),
        case(
            "token_with_space",
            vec![b"Bearer abc def".to_vec()],
            400,
            "invalid_request",
        ),
        case(
            "token_with_comma",
            vec![b"Bearer abc,def".to_vec()],
            400,
            "invalid_request",
        ),
        case(
            "token_with_quote",
            vec![b"Bearer \"abc\"".to_vec()],
            400,
            "invalid_request",
        ),
        case(
            "non_ascii_header_bytes",
            vec![b"Bearer \xff\xfe".to_vec()],
            400,
            "invalid_request",
        ),
        case(
            "oversize_header",
            vec![format!("Bearer {}", "a".repeat(20 * 1024)).into_bytes()],
            400,
            "invalid_request",
        ),
        // --- structure ---
        case("single_segment", bearer("abc"), 401, "malformed_token"),
        case(
            "two_segments",
            bearer(&format!("{}.{}", parts[0], parts[1])),
            401,
            "malformed_token",
        ),
        case(
            "four_segments",
            bearer(&format!("{good}.x")),
            401,
            "malformed_token",
        ),
        case(
            "five_segments_jwe",
            bearer("a.b.c.d.e"),
            401,
            "malformed_token",
        ),
        case(
            "empty_signature",
            bearer(&format!("{}.{}.", parts[0], parts[1])),
            401,
            "malformed_token",
        ),
        case(
            "header_not_base64url",
            bearer(&format!("a~b.{}.{}", parts[1], parts[2])),
            401,
            "malformed_token",
        ),
        case(
            "header_not_json",
            bearer(&format!("{}.{}.{}", b64(b"hello"), parts[1], parts[2])),
            401,
            "malformed_token",
        ),
        case(
            "payload_not_json",
            bearer(&format!("{}.{}.{}", parts[0], b64(b"[1,2"), parts[2])),
            401,
            "malformed_token",
        ),
        case(
            "padded_segments",
            bearer(&format!("{}.{}.{}==", parts[0], parts[1], parts[2])),
            401,
            "malformed_token",
        ),
        case(
            "typ_jwe",
            bearer(&raw_h(json!({"alg": "RS256", "kid": kid, "typ": "JWE"}))),
            401,
            "malformed_token",
        ),
        case(
            "exp_as_string",
            bearer(&raw(with(claims.clone(), "exp", json!("tomorrow")))),
            401,
            "malformed_token",
        ),
        // --- algorithm and keys ---
        case(
            "alg_none",
            bearer(&format!(
                "{}.{}.",
                hdr(json!({"alg": "none", "typ": "JWT"})),
                parts[1]
            )),
            401,
            "unsupported_algorithm",
        ),
        case(
            "alg_none_with_signature",
            bearer(&format!(
                "{}.{}.{}",
                hdr(json!({"alg": "none", "kid": kid})),
                parts[1],
                parts[2]
            )),
            401,
            "unsupported_algorithm",
        ),
        case(
            "hs256_keyed_with_public_key",
            bearer(&hs256),
            401,
            "unsupported_algorithm",
        ),
        case(
            "rs512_not_configured",
            bearer(&raw_h(json!({"alg": "RS512", "kid": kid}))),
            401,
            "unsupported_algorithm",
        ),
        case(
            "es256_algorithm",
            bearer(&raw_h(json!({"alg": "ES256", "kid": kid}))),
            401,
            "unsupported_algorithm",
        ),
        case(
            "unknown_kid",
            bearer(&raw_h(json!({"alg": "RS256", "kid": "no-such-key"}))),
            401,
            "unknown_signing_key",
        ),
        case(
            "missing_kid",
            bearer(&raw_h(json!({"alg": "RS256", "kid": null}))),
            401,
            "missing_key_id",
        ),
        case(
            "foreign_key_under_known_kid",
            bearer(&sign_foreign(
                &json!({"alg": "RS256", "kid": kid}),
                &Value::Object(claims.clone()),
            )),
            401,
            "invalid_signature",
        ),
        case(
            "tampered_payload",
            bearer(&format!(
                "{}.{}.{}",
                parts[0],
                b64(Value::Object(tampered_claims.clone())
                    .to_string()
                    .as_bytes()),
                parts[2]
            )),
            401,
            "invalid_signature",
        ),
        case(
            "signature_of_another_token",
            bearer(&format!("{}.{}.{}", parts[0], parts[1], other_sig)),
            401,
            "invalid_signature",
        ),
        case(
            "truncated_signature",
            bearer(&format!("{}.{}.{}", parts[0], parts[1], truncated_sig)),
            401,
            "invalid_signature",
        ),
        case(
            "embedded_jwk_with_attacker_key",
            bearer(&sign_foreign(
                &json!({"alg": "RS256", "kid": kid, "jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}}),
                &Value::Object(claims.clone()),
            )),
            401,
            "invalid_signature",
        ),
        case(
            "x5u_and_x5c_headers_with_attacker_key",
            bearer(&sign_foreign(
                &json!({"alg": "RS256", "kid": kid, "x5u": "http://127.0.0.1:9/cert", "x5c": ["MIIB"]}),
                &Value::Object(claims.clone()),
            )),
            401,
            "invalid_signature",
        ),
        case(
            "jku_header_with_unknown_kid",
            bearer(&raw_h(
                json!({"alg": "RS256", "kid": "attacker", "jku": "http://127.0.0.1:9/keys"}),
            )),
            401,
            "unknown_signing_key",
        ),
        case(
            "crit_header",
            bearer(&raw_h(
                json!({"alg": "RS256", "kid": kid, "crit": ["b64"], "b64": false}),
            )),
            401,
            "unsupported_critical_header",
        ),
        // --- misdirected ---
        case(
            "graph_token_nonce_header",
            bearer(&mint(TokenRequest {
                extra_header: ext(&[("nonce", json!("abc123"))]),
                ..base_req()
            })),
            401,
            "token_for_other_resource",
        ),
        case(
            "graph_audience_guid",
            bearer(&mint(TokenRequest {
                audience: Some("00000003-0000-0000-c000-000000000000".into()),
                ..base_req()
            })),
            401,
            "token_for_other_resource",
        ),
        case(
            "graph_audience_url",
            bearer(&mint(TokenRequest {
                audience: Some("https://graph.microsoft.com".into()),
                ..base_req()
            })),
            401,
            "token_for_other_resource",
        ),
        case(
            "wrong_audience",
            bearer(&mint(TokenRequest {
                audience: Some("api://someone-else".into()),
                ..base_req()
            })),
            401,
            "audience_mismatch",
        ),
        case(
            "missing_audience",
            bearer(&raw(with(claims.clone(), "aud", Value::Null))),
            401,
            "missing_claim",
        ),
        case(
            "wrong_issuer_host",
            bearer(&raw(with(
                claims.clone(),
                "iss",
                json!(format!(
                    "https://login.microsoftonline.com/{DEV_TENANT_ID}/v2.0"
                )),
            ))),
            401,
            "issuer_mismatch",
        ),
        case(
            "missing_issuer",
            bearer(&raw(with(claims.clone(), "iss", Value::Null))),
            401,
            "missing_claim",
        ),
        case(
            "other_tenant",
            bearer(&mint(TokenRequest {
                tenant_id: Some(OTHER_TENANT.into()),
                ..base_req()
            })),
            401,
            "issuer_mismatch",
        ),
        case(
            "tid_differs_from_issuer_tenant",
            bearer(&raw(with(claims.clone(), "tid", json!(OTHER_TENANT)))),
            401,
            "tenant_mismatch",
        ),
        case(
            "tid_not_a_guid",
            bearer(&raw(with(
                claims.clone(),
                "tid",
                json!("contoso.onmicrosoft.com"),
            ))),
            401,
            "invalid_claim",
        ),
        case(
            "v2_token_with_v1_issuer",
            bearer(&raw(with(
                claims.clone(),
                "iss",
                json!(e.issuer().issuer_v1(DEV_TENANT_ID)),
            ))),
            401,
            "issuer_mismatch",
        ),
        case(
            "v1_token_with_v2_issuer",
            bearer(&mint(TokenRequest {
                version: entra_dev::TokenVersion::V1,
                extra_claims: ext(&[("iss", json!(e.issuer().issuer_v2(DEV_TENANT_ID)))]),
                ..base_req()
            })),
            401,
            "issuer_mismatch",
        ),
        case(
            "b2c_token_for_workforce_api",
            bearer(&mint(TokenRequest {
                b2c_policy: Some("B2C_1_susi".into()),
                ..base_req()
            })),
            401,
            "issuer_mismatch",
        ),
        case(
            "unknown_version",
            bearer(&raw(with(claims.clone(), "ver", json!("3.0")))),
            401,
            "version_not_accepted",
        ),
        case(
            "missing_version",
            bearer(&raw(with(claims.clone(), "ver", Value::Null))),
            401,
            "missing_claim",
        ),
        // --- lifetime ---
        case(
            "expired",
            bearer(&mint(TokenRequest {
                issued_at: Some(now - Duration::from_secs(7200)),
                lifetime: Some(Duration::from_secs(3600)),
                ..base_req()
            })),
            401,
            "token_expired",
        ),
        case(
            "expired_just_beyond_skew",
            bearer(&raw(with(claims.clone(), "exp", json!(unix(now) - 301)))),
            401,
            "token_expired",
        ),
        case(
            "not_yet_valid",
            bearer(&mint(TokenRequest {
                not_before: Some(now + Duration::from_secs(600)),
                ..base_req()
            })),
            401,
            "token_not_yet_valid",
        ),
        case(
            "missing_exp",
            bearer(&raw(with(claims.clone(), "exp", Value::Null))),
            401,
            "missing_claim",
        ),
        case(
            "negative_exp",
            bearer(&raw(with(claims.clone(), "exp", json!(-1)))),
            401,
            "invalid_claim",
        ),
        // --- permissions (valid tokens) ---
        case(
            "missing_scope",
            bearer(&mint(TokenRequest {
                scopes: vec!["weather.write".into()],
                ..e.request()
            })),
            403,
            "insufficient_scope",
        ),
        case(
            "scope_differs_in_case",
            bearer(&mint(TokenRequest {
                scopes: vec!["Weather.Read".into()],
                ..e.request()
            })),
            403,
            "insufficient_scope",
        ),
        case(
            "scope_is_longer_word",
            bearer(&mint(TokenRequest {
                scopes: vec!["weather.readwrite".into()],
                ..e.request()
            })),
            403,
            "insufficient_scope",
        ),
        case(
            "neither_scp_nor_roles",
            bearer(&mint(e.request())),
            403,
            "insufficient_scope",
        ),
        case(
            "app_with_wrong_role",
            bearer(&mint(TokenRequest {
                subject: Subject::App {
                    client_id: DEV_DAEMON_CLIENT_ID.into(),
                },
                roles: vec!["Weather.Write.All".into()],
                ..e.request()
            })),
            403,
            "insufficient_scope",
        ),
    ];
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut names = std::collections::HashSet::new();
    for c in &cases {
        assert!(names.insert(c.name), "duplicate case {}", c.name);
        let (status, challenge, body, ctype) = get(&base, &c.auth).await;
        let name = c.name;
        assert_eq!(status, c.status, "{name}: {body}");
        assert_eq!(body["code"], c.code, "{name}: {body}");
        assert_eq!(body["status"], c.status, "{name}");
        assert_eq!(ctype, "application/problem+json", "{name}");
        let detail = body["detail"].as_str().unwrap();
        assert!(!detail.is_empty(), "{name}");
        for a in &c.auth {
            if let Ok(s) = std::str::from_utf8(a) {
                if let Some(sig) = s.rsplit('.').next().filter(|sig| sig.len() > 40) {
                    assert!(!detail.contains(sig), "{name}: the detail echoes the token");
                }
            }
        }
        let challenge = challenge.unwrap_or_else(|| panic!("{name}: no WWW-Authenticate"));
        match (c.status, c.code) {
            (401, "missing_token" | "unsupported_scheme") => {
                assert_eq!(challenge, "Bearer", "{name}")
            }
            (401, _) => assert!(
                challenge.starts_with("Bearer error=\"invalid_token\", error_description=\""),
                "{name}: {challenge}"
            ),
            (400, _) => assert!(
                challenge.starts_with("Bearer error=\"invalid_request\""),
                "{name}: {challenge}"
            ),
            (403, _) => {
                assert!(
                    challenge.starts_with("Bearer error=\"insufficient_scope\""),
                    "{name}: {challenge}"
                );
                assert!(
                    challenge.ends_with("scope=\"weather.read\""),
                    "{name}: {challenge}"
                );
            }
            _ => panic!("{name}: unexpected status"),
        }
    }
    let m = e.validator.metrics();
    assert_eq!(m.accepted, 0);
    assert_eq!(m.rejected_total(), cases.len() as u64);
    assert_eq!(m.rejected_with("insufficient_scope"), 5);
    // unknown kids caused at most one refresh beyond the first load
    assert!(e.key_requests() <= 4, "{}", e.key_requests());
    let _ = DEV_API_CLIENT_ID;
}

#[tokio::test]
async fn permission_failures_carry_the_idw_codes() {
    let e = env().await;
    let base = serve(protected_router(e.validator.clone())).await;
    for (req, idw) in [
        (
            TokenRequest {
                scopes: vec!["weather.write".into()],
                ..e.request()
            },
            "IDW10203",
        ),
        (e.request(), "IDW10201"),
        (
            TokenRequest {
                subject: Subject::App {
                    client_id: DEV_DAEMON_CLIENT_ID.into(),
                },
                roles: vec!["Weather.Write.All".into()],
                ..e.request()
            },
            "IDW10202",
        ),
    ] {
        let (status, challenge, body, _) = get(&base, &bearer(&e.mint(&req))).await;
        assert_eq!(status, 403);
        assert!(body["detail"].as_str().unwrap().starts_with(idw), "{body}");
        assert!(challenge.unwrap().contains(idw));
    }
}

#[tokio::test]
async fn messages_say_what_was_expected_and_found() {
    let e = env().await;
    let wrong_aud = e.mint(&TokenRequest {
        audience: Some("api://someone-else".into()),
        ..e.request()
    });
    let msg = e
        .validator
        .validate(&wrong_aud)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&format!(
            "[\"{DEV_API_CLIENT_ID}\", \"api://{DEV_API_CLIENT_ID}\"]"
        )),
        "{msg}"
    );
    assert!(msg.contains("\"api://someone-else\""), "{msg}");

    let expired = e.mint(&TokenRequest {
        issued_at: Some(e.clock.now() - Duration::from_secs(4000)),
        lifetime: Some(Duration::from_secs(3600)),
        ..e.request()
    });
    let msg = e
        .validator
        .validate(&expired)
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("token expired at 20"), "{msg}");
    assert!(msg.contains("400 seconds ago"), "{msg}");

    let other = e.mint(&TokenRequest {
        tenant_id: Some(OTHER_TENANT.into()),
        ..e.request()
    });
    let msg = e.validator.validate(&other).await.unwrap_err().to_string();
    assert!(
        msg.contains(&e.issuer().issuer_v2(DEV_TENANT_ID)) && msg.contains(OTHER_TENANT),
        "{msg}"
    );
    assert!(msg.contains("another tenant"), "{msg}");
}
