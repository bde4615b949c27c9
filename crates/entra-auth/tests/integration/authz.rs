//! Issue 12 over real HTTP (axum on 127.0.0.1:0, reqwest, tokens from entra-dev): several
//! authorities on one validator, optional authentication, the requirement rules, and named
//! permissions registered at start-up. Each answer is checked for status, `WWW-Authenticate`
//! and problem body.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use entra_auth::{
    AuthConfig, AuthLayer, AuthState, Authenticated, Authorized, ConfigError, ManualClock,
    Permission, PermissionId, Requirement, TenantCheck, TokenValidator,
};
use entra_dev::defaults::{DEV_API_CLIENT_ID, DEV_TENANT_ID};
use entra_dev::{DevIssuer, DevIssuerConfig, RunningDevIssuer, Subject, TokenRequest};
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use serde_json::{json, Map, Value};

use crate::common::*;

/// status, `WWW-Authenticate`, body (JSON when it parses, else the text as a JSON string)
async fn get_as(base: &str, path: &str, token: Option<&str>) -> (u16, Option<String>, Value) {
    let (status, challenge, text) = call(base, path, token).await;
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, challenge, body)
}

fn config_for(
    dev: &RunningDevIssuer,
    clock: &ManualClock,
    name: &str,
) -> entra_auth::AuthConfigBuilder {
    AuthConfig::builder(DEV_TENANT_ID, DEV_API_CLIENT_ID)
        .instance(dev.issuer.instance().as_str())
        .clock(Arc::new(clock.clone()))
        .http(entra_auth::HttpOptions {
            timeout: Duration::from_secs(5),
            ..Default::default()
        })
        .name(name)
}

fn request_at(clock: &ManualClock) -> TokenRequest {
    TokenRequest {
        issued_at: Some(entra_auth::Clock::now(clock)),
        ..TokenRequest::default()
    }
}

fn mint(dev: &RunningDevIssuer, req: &TokenRequest) -> String {
    dev.issuer.mint(req).unwrap()
}

struct Staff;
impl Permission for Staff {}

/// `/me` answers the accepting authority; `/staff` requires the workforce authority.
fn authority_app(validator: TokenValidator) -> Router {
    Router::new()
        .route(
            "/me",
            get(|Authenticated(c): Authenticated| async move {
                c.authority().unwrap_or("").to_owned()
            }),
        )
        .route("/staff", get(|_: Authorized<Staff>| async { "staff" }))
        .with_state(AppState {
            auth: AuthState::new(validator).permit::<Staff>(Requirement::authority("workforce")),
        })
}

#[tokio::test]
async fn several_authorities_each_decide_their_own_tokens_and_unknown_issuers_get_401() {
    let dev = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    let stranger = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    let clock = ManualClock::starting_now();
    let validator = TokenValidator::multi([
        config_for(&dev, &clock, "workforce").build().unwrap(),
        config_for(&dev, &clock, "customers")
            .b2c("devb2c", "B2C_1_susi")
            .build()
            .unwrap(),
    ])
    .unwrap();
    validator.warm_up().await.unwrap();
    let base = serve(authority_app(validator.clone())).await;

    let workforce = mint(
        &dev,
        &TokenRequest {
            scopes: vec!["weather.read".into()],
            ..request_at(&clock)
        },
    );
    let customer = mint(
        &dev,
        &TokenRequest {
            b2c_policy: Some("B2C_1_susi".into()),
            scopes: vec!["weather.read".into()],
            ..request_at(&clock)
        },
    );
    assert_eq!(
        get_as(&base, "/me", Some(&workforce)).await,
        (200, None, json!("workforce"))
    );
    assert_eq!(
        get_as(&base, "/me", Some(&customer)).await,
        (200, None, json!("customers"))
    );
    assert_eq!(
        get_as(&base, "/staff", Some(&workforce)).await,
        (200, None, json!("staff"))
    );

    // a requirement limited to an authority
    let (s, ch, body) = get_as(&base, "/staff", Some(&customer)).await;
    assert_eq!(s, 403);
    assert!(ch
        .unwrap()
        .starts_with("Bearer error=\"insufficient_scope\""));
    assert_eq!(body["code"], "requirement_not_met");
    assert_eq!(
        body["detail"],
        "the token does not meet the requirement a token accepted by the authority \"workforce\": \
         a token accepted by the authority \"workforce\": the token has authority Some(\"customers\")"
    );

    // a token of another issuer: 401 naming the token's issuer and the fix; the accepted
    // issuers (configuration) only in the log's text, never in the answer
    let foreign = mint(&stranger, &request_at(&clock));
    let (s, ch, body) = get_as(&base, "/me", Some(&foreign)).await;
    assert_eq!(s, 401);
    let ch = ch.unwrap();
    assert!(
        ch.starts_with("Bearer error=\"invalid_token\", error_description=\"the token's issuer"),
        "{ch}"
    );
    assert_eq!(body["code"], "unknown_issuer");
    let detail = body["detail"].as_str().unwrap();
    assert_eq!(
        detail,
        format!(
            "the token's issuer {:?} is not accepted by this API; request the token from the authority (tenant, cloud instance or user flow) the API is registered with",
            stranger.issuer.issuer_v2(DEV_TENANT_ID)
        )
    );
    let logged = validator.validate(&foreign).await.unwrap_err().to_string();
    for accepted in [
        dev.issuer.issuer_v2(DEV_TENANT_ID),
        dev.issuer.issuer_v1(DEV_TENANT_ID),
        dev.issuer.issuer_b2c(DEV_TENANT_ID),
    ] {
        assert!(!detail.contains(&accepted), "{detail}");
        assert!(!ch.contains(&accepted), "{ch}");
        assert!(logged.contains(&format!("\"{accepted}\"")), "{logged}");
    }
    let m = validator.metrics();
    assert_eq!(
        (
            m.accepted,
            m.rejected_with("unknown_issuer"),
            m.rejected_with("requirement_not_met")
        ),
        (3, 2, 1)
    );
    // validate() too: the second authority's token is found in its cache, by the one hash
    let hits = validator.metrics().token_cache_hits;
    let c = validator.validate(&customer).await.unwrap();
    assert_eq!(c.authority(), Some("customers"));
    assert_eq!(validator.metrics().token_cache_hits, hits + 1);
    let err = validator.validate(&foreign).await.unwrap_err();
    assert_eq!(err.code(), "unknown_issuer");
}

#[tokio::test]
async fn one_authority_outage_or_kid_flood_leaves_the_other_untouched() {
    let a = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    let b = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    let clock = ManualClock::starting_now();
    let validator = TokenValidator::multi([
        config_for(&a, &clock, "a").build().unwrap(),
        config_for(&b, &clock, "b").build().unwrap(),
    ])
    .unwrap();
    validator.warm_up().await.unwrap();
    let base = serve(authority_app(validator.clone())).await;
    let (a_keys, b_keys) = (a.issuer.stats().key_requests, b.issuer.stats().key_requests);

    // a flood of unknown kids claiming b's issuer: at most one refresh of b's keys, none of a's
    let good_b = mint(&b, &request_at(&clock));
    let parts: Vec<&str> = good_b.split('.').collect();
    for i in 0..20 {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": format!("flood-{i}")});
        let forged = format!(
            "{}.{}.{}",
            b64(header.to_string().as_bytes()),
            parts[1],
            parts[2]
        );
        let (s, ch, body) = get_as(&base, "/me", Some(&forged)).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (401, Some("unknown_signing_key"))
        );
        assert!(ch.unwrap().starts_with("Bearer error=\"invalid_token\""));
    }
    assert!(b.issuer.stats().key_requests <= b_keys + 2);
    assert_eq!(a.issuer.stats().key_requests, a_keys);

    // b's identity provider goes down and its keys rotate: a's tokens are still served
    b.issuer.set_outage(true);
    clock.advance(Duration::from_secs(600));
    assert!(validator
        .warm_up()
        .await
        .unwrap_err()
        .to_string()
        .contains("b: "));
    let good_a = mint(&a, &request_at(&clock));
    assert_eq!(
        get_as(&base, "/me", Some(&good_a)).await,
        (200, None, json!("a"))
    );
    // and b's own tokens with a known key keep working from its last good keys
    let good_b = mint(&b, &request_at(&clock));
    assert_eq!(
        get_as(&base, "/me", Some(&good_b)).await,
        (200, None, json!("b"))
    );
}

#[tokio::test]
async fn an_authority_that_never_loaded_answers_503_for_unknown_issuers_while_the_other_serves() {
    let a = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    let b = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    b.issuer.set_outage(true);
    let clock = ManualClock::starting_now();
    let validator = TokenValidator::multi([
        config_for(&a, &clock, "a").build().unwrap(),
        config_for(&b, &clock, "b").build().unwrap(),
    ])
    .unwrap();
    let err = validator.warm_up().await.unwrap_err();
    assert_eq!(err.code(), "keys_unavailable");
    assert!(!validator.is_ready());
    let base = serve(authority_app(validator.clone())).await;
    let good_a = mint(&a, &request_at(&clock));
    assert_eq!(
        get_as(&base, "/me", Some(&good_a)).await,
        (200, None, json!("a"))
    );
    // a token that may be b's cannot be decided while b's metadata is missing: 503, not 401
    let good_b = mint(&b, &request_at(&clock));
    let (s, ch, body) = get_as(&base, "/me", Some(&good_b)).await;
    assert_eq!((s, ch), (503, None));
    assert_eq!(body["code"], "keys_unavailable");
    let detail = body["detail"].as_str().unwrap();
    assert_eq!(
        detail,
        "signing keys not yet available: the identity provider's metadata and keys have not been loaded; try again shortly"
    );
    // the log's text names the authority and what failed
    let logged = validator.validate(&good_b).await.unwrap_err().to_string();
    assert!(logged.contains("metadata of b"), "{logged}");
    assert!(logged.contains(b.issuer.instance().as_str()), "{logged}");
}

/// A multi-tenant SaaS authority (`organizations`, customer tenants on an allow-list) and a
/// single-tenant partner authority on the same instance, configured in both orders: the
/// partner's tokens (whose issuer is exactly the partner's) are decided by the partner, the
/// customers' by the SaaS authority; a tenant neither allows is refused without the allow-list
/// in the answer.
#[tokio::test]
async fn a_multi_tenant_authority_never_captures_a_single_tenant_partner_in_either_order() {
    let dev = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    let clock = ManualClock::starting_now();
    let saas = || {
        AuthConfig::builder("organizations", DEV_API_CLIENT_ID)
            .instance(dev.issuer.instance().as_str())
            .clock(Arc::new(clock.clone()))
            .allowed_tenants([OTHER_TENANT])
            .name("saas")
            .build()
            .unwrap()
    };
    let partner = || config_for(&dev, &clock, "partner").build().unwrap();
    let token_of = |tenant: &str| {
        mint(
            &dev,
            &TokenRequest {
                tenant_id: Some(tenant.into()),
                scopes: vec!["weather.read".into()],
                ..request_at(&clock)
            },
        )
    };
    for (order, configs) in [
        ("saas first", [saas(), partner()]),
        ("partner first", [partner(), saas()]),
    ] {
        let validator = TokenValidator::multi(configs).unwrap();
        validator.warm_up().await.unwrap();
        let base = serve(authority_app(validator.clone())).await;

        let partner_answer = get_as(&base, "/me", Some(&token_of(DEV_TENANT_ID))).await;
        assert_eq!(partner_answer, (200, None, json!("partner")), "{order}");
        let customer_answer = get_as(&base, "/me", Some(&token_of(OTHER_TENANT))).await;
        assert_eq!(customer_answer, (200, None, json!("saas")), "{order}");

        let (s, ch, body) = get_as(&base, "/me", Some(&token_of(THIRD_TENANT))).await;
        assert_eq!(s, 401, "{order}: {body}");
        let ch = ch.unwrap();
        assert!(
            ch.starts_with("Bearer error=\"invalid_token\", error_description=\"tenant"),
            "{order}: {ch}"
        );
        assert_eq!(body["code"], "tenant_not_allowed", "{order}");
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(THIRD_TENANT), "{order}: {detail}");
        // the SaaS's customer list is not disclosed, in the body or the challenge
        assert!(!detail.contains(OTHER_TENANT), "{order}: {detail}");
        assert!(!ch.contains(OTHER_TENANT), "{order}: {ch}");
        let m = validator.metrics();
        assert_eq!(
            (m.accepted, m.rejected_with("tenant_not_allowed")),
            (2, 1),
            "{order}"
        );
    }
}

/// Two authorities with the same exact issuer (one tenant, two APIs with their own client
/// ids): in either order, each token is accepted by the authority whose audience it carries.
#[tokio::test]
async fn authorities_sharing_an_issuer_accept_the_token_the_one_that_validates_it_in_either_order()
{
    const OTHER_API: &str = "5c4b3a29-1807-4f6e-9d5c-4b3a29180706";
    let dev = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    let clock = ManualClock::starting_now();
    let first_api = || config_for(&dev, &clock, "first").build().unwrap();
    let other_api = || {
        AuthConfig::builder(DEV_TENANT_ID, OTHER_API)
            .instance(dev.issuer.instance().as_str())
            .clock(Arc::new(clock.clone()))
            .name("other")
            .build()
            .unwrap()
    };
    let token_for = |audience: Option<&str>| {
        mint(
            &dev,
            &TokenRequest {
                audience: audience.map(str::to_owned),
                scopes: vec!["weather.read".into()],
                ..request_at(&clock)
            },
        )
    };
    for (order, configs) in [
        ("first api first", [first_api(), other_api()]),
        ("other api first", [other_api(), first_api()]),
    ] {
        let validator = TokenValidator::multi(configs).unwrap();
        validator.warm_up().await.unwrap();
        let base = serve(authority_app(validator.clone())).await;
        assert_eq!(
            get_as(&base, "/me", Some(&token_for(None))).await,
            (200, None, json!("first")),
            "{order}"
        );
        assert_eq!(
            get_as(&base, "/me", Some(&token_for(Some(OTHER_API)))).await,
            (200, None, json!("other")),
            "{order}"
        );
        // a token for neither: refused by the first authority of the order given
        let (s, ch, body) = get_as(&base, "/me", Some(&token_for(Some("api://nobody")))).await;
        assert_eq!(
            (s, body["code"].as_str()),
            (401, Some("audience_mismatch")),
            "{order}"
        );
        assert!(
            ch.unwrap().starts_with("Bearer error=\"invalid_token\""),
            "{order}"
        );
    }
}

#[test]
fn several_authorities_need_distinct_names() {
    let c = |name: Option<&str>| {
        let b = AuthConfig::builder(DEV_TENANT_ID, DEV_API_CLIENT_ID);
        match name {
            Some(n) => b.name(n).build().unwrap(),
            None => b.build().unwrap(),
        }
    };
    let err = TokenValidator::multi([c(Some("x")), c(Some("x"))]).unwrap_err();
    assert!(matches!(err, ConfigError::AuthorityNames { .. }), "{err}");
    let err = TokenValidator::multi([c(Some("x")), c(None)]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("authority names must be present and distinct"),
        "{err}"
    );
    assert!(matches!(
        TokenValidator::multi([]).unwrap_err(),
        ConfigError::NoAuthorities
    ));
    let bad = AuthConfig::builder(DEV_TENANT_ID, DEV_API_CLIENT_ID)
        .name("with space")
        .build()
        .unwrap_err();
    assert_eq!(
        bad.to_string(),
        "invalid authority name \"with space\": expected letters, digits, '-', '_' or '.'"
    );
}

#[tokio::test]
async fn optional_authentication_runs_anonymous_without_a_token_and_refuses_invalid_ones() {
    let e = env().await;
    let greet = |caller: Option<Authenticated>| async move {
        match caller {
            Some(Authenticated(c)) => format!("hello {}", c.name().unwrap_or("?")),
            None => "hello stranger".to_owned(),
        }
    };
    // the extractor (through the state), and the layer's optional mode
    let by_extractor = Router::new().route("/x", get(greet)).with_state(AppState {
        auth: AuthState::new(e.validator.clone()),
    });
    let by_layer = Router::new()
        .route("/x", get(greet))
        .layer(AuthLayer::new(e.validator.clone()).optional());
    for app in [by_extractor, by_layer] {
        let base = serve(app).await;
        assert_eq!(
            get_as(&base, "/x", None).await,
            (200, None, json!("hello stranger"))
        );
        assert_eq!(
            get_as(&base, "/x", Some(&e.reader())).await,
            (200, None, json!("hello Alice Example"))
        );
        let (s, ch, body) = get_as(&base, "/x", Some("not.a.token")).await;
        assert_eq!(s, 401);
        assert!(ch.unwrap().starts_with("Bearer error=\"invalid_token\""));
        assert_eq!(body["code"], "malformed_token");
        // another scheme is a credential too: refused, not anonymous
        let res = client()
            .get(format!("{base}/x"))
            .header(AUTHORIZATION, "Basic YWxpY2U6cHc=")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(res.headers()[WWW_AUTHENTICATE], "Bearer");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], "unsupported_scheme");
    }
    // an anonymous request is not a rejection
    assert_eq!(e.validator.metrics().rejected_with("missing_token"), 0);
}

macro_rules! permissions {
    ($($p:ident),*) => { $(struct $p; impl Permission for $p {})* };
}
permissions!(AllOf, Combo, FromSpa, Daemons, Members, Admins, StepUp, Named, Customers, Forgotten);

const SPA: &str = "5b6a7c8d-0000-4000-8000-00000000005a";
const DAEMON: &str = "d0d0d0d0-0000-4000-8000-0000000000d0";
const ADMINS: &str = "a0a0a0a0-0000-4000-8000-0000000000a0";

async fn rules_app(e: &Env, customers: TenantCheck) -> String {
    let auth = AuthState::new(e.validator.clone())
        .permit::<AllOf>(Requirement::all_scopes(["weather.read", "weather.write"]))
        .permit::<Combo>(
            Requirement::all_scopes(["weather.read", "weather.write"])
                .or(Requirement::roles(["Weather.Admin"])),
        )
        .permit::<FromSpa>(
            Requirement::scopes(["weather.read"]).and(Requirement::calling_apps([SPA])),
        )
        .permit::<Daemons>(Requirement::scopes(["weather.read"]).or(Requirement::acl([DAEMON])))
        .permit::<Members>(Requirement::scopes(["weather.read"]).and(Requirement::no_guests()))
        .permit::<Admins>(Requirement::groups([ADMINS]))
        .permit::<StepUp>(
            Requirement::scopes(["weather.read"]).and(Requirement::auth_context("c1")),
        )
        .permit::<Named>(Requirement::predicate(
            "a user whose name starts with A",
            |c| c.name().is_some_and(|n| n.starts_with('A')),
        ))
        .permit::<Customers>(Requirement::tenant(customers));
    auth.ensure_permits(&[
        PermissionId::of::<AllOf>(),
        PermissionId::of::<Combo>(),
        PermissionId::of::<FromSpa>(),
        PermissionId::of::<Daemons>(),
        PermissionId::of::<Members>(),
        PermissionId::of::<Admins>(),
        PermissionId::of::<StepUp>(),
        PermissionId::of::<Named>(),
        PermissionId::of::<Customers>(),
    ])
    .unwrap();
    let app = Router::new()
        .route("/all", get(|_: Authorized<AllOf>| async { "ok" }))
        .route("/combo", get(|_: Authorized<Combo>| async { "ok" }))
        .route("/spa", get(|_: Authorized<FromSpa>| async { "ok" }))
        .route("/daemons", get(|_: Authorized<Daemons>| async { "ok" }))
        .route("/members", get(|_: Authorized<Members>| async { "ok" }))
        .route("/admins", get(|_: Authorized<Admins>| async { "ok" }))
        .route("/step-up", get(|_: Authorized<StepUp>| async { "ok" }))
        .route("/named", get(|_: Authorized<Named>| async { "ok" }))
        .route("/customers", get(|_: Authorized<Customers>| async { "ok" }))
        .route("/forgotten", get(|_: Authorized<Forgotten>| async { "ok" }))
        .with_state(AppState { auth });
    serve(app).await
}

fn claims(pairs: Value) -> Map<String, Value> {
    match pairs {
        Value::Object(m) => m,
        _ => panic!("object expected"),
    }
}

/// Asserts a 403 `requirement_not_met` whose detail contains each of `parts`.
fn assert_denied(answer: &(u16, Option<String>, Value), parts: &[&str]) {
    let (s, ch, body) = answer;
    assert_eq!(*s, 403, "{body}");
    let ch = ch.as_deref().unwrap();
    assert!(
        ch.starts_with("Bearer error=\"insufficient_scope\""),
        "{ch}"
    );
    assert_eq!(body["code"], "requirement_not_met", "{body}");
    assert_eq!(body["status"], 403);
    let detail = body["detail"].as_str().unwrap();
    for p in parts {
        assert!(detail.contains(p), "{p:?} not in {detail:?}");
    }
}

#[tokio::test]
async fn requirement_rules_over_http_answer_403_naming_what_was_required_and_found() {
    let e = env().await;
    let customers = TenantCheck::builder("the customer list")
        .build(|tid: String| async move { Ok::<_, std::io::Error>(tid == DEV_TENANT_ID) });
    let base = rules_app(&e, customers.clone()).await;
    let user = |scopes: &[&str], extra: Value| {
        e.mint(&TokenRequest {
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            extra_claims: claims(extra),
            ..e.request()
        })
    };
    let reader = user(&["weather.read"], json!({}));
    let both = user(&["weather.read", "weather.write"], json!({}));

    // all of the scopes
    assert_eq!(get_as(&base, "/all", Some(&both)).await.0, 200);
    let answer = get_as(&base, "/all", Some(&reader)).await;
    assert_denied(
        &answer,
        &[
            "all of the scopes [\"weather.read\", \"weather.write\"]",
            "the token has scopes [\"weather.read\"]",
        ],
    );
    assert!(answer
        .1
        .unwrap()
        .ends_with("scope=\"weather.read weather.write\""));

    // (read and write) or the Weather.Admin role
    assert_eq!(get_as(&base, "/combo", Some(&both)).await.0, 200);
    let admin_app = e.mint(&TokenRequest {
        subject: Subject::App {
            client_id: DAEMON.into(),
        },
        roles: vec!["Weather.Admin".into()],
        ..e.request()
    });
    assert_eq!(get_as(&base, "/combo", Some(&admin_app)).await.0, 200);
    assert_denied(
        &get_as(&base, "/combo", Some(&reader)).await,
        &[
            "(all of the scopes [\"weather.read\", \"weather.write\"] or any of the app roles [\"Weather.Admin\"])",
            "the token has scopes [\"weather.read\"] and app roles []",
        ],
    );

    // calling-application allow-list
    let from_spa = user(&["weather.read"], json!({"azp": SPA}));
    assert_eq!(get_as(&base, "/spa", Some(&from_spa)).await.0, 200);
    assert_denied(
        &get_as(&base, "/spa", Some(&reader)).await,
        &[
            &format!("a calling application (azp/appid) among [\"{SPA}\"]"),
            "the token has calling application Some(",
        ],
    );

    // ACL mode: a listed daemon without roles passes, an unlisted one does not
    let listed = e.mint(&TokenRequest {
        subject: Subject::App {
            client_id: DAEMON.into(),
        },
        ..e.request()
    });
    let unlisted = e.mint(&TokenRequest {
        subject: Subject::App {
            client_id: "e1e1e1e1-0000-4000-8000-0000000000e1".into(),
        },
        ..e.request()
    });
    assert_eq!(get_as(&base, "/daemons", Some(&listed)).await.0, 200);
    assert_eq!(get_as(&base, "/daemons", Some(&reader)).await.0, 200);
    assert_denied(
        &get_as(&base, "/daemons", Some(&unlisted)).await,
        &["an app-only token from calling application Some(\"e1e1e1e1-0000-4000-8000-0000000000e1\")"],
    );

    // guests
    assert_eq!(get_as(&base, "/members", Some(&reader)).await.0, 200);
    let guest = user(&["weather.read"], json!({"acct": 1}));
    assert_denied(
        &get_as(&base, "/members", Some(&guest)).await,
        &["the token has acct 1 (a guest account)"],
    );
    let external = user(
        &["weather.read"],
        json!({"idp": format!("https://sts.windows.net/{OTHER_TENANT}/")}),
    );
    assert_denied(
        &get_as(&base, "/members", Some(&external)).await,
        &[OTHER_TENANT],
    );

    // groups, and the overage answered explicitly
    let admin = user(&[], json!({"groups": [ADMINS]}));
    assert_eq!(get_as(&base, "/admins", Some(&admin)).await.0, 200);
    assert_denied(
        &get_as(
            &base,
            "/admins",
            Some(&user(&[], json!({"groups": ["other"]}))),
        )
        .await,
        &["the token has groups [\"other\"]"],
    );
    let overage = user(
        &[],
        json!({"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}}}),
    );
    let (s, ch, body) = get_as(&base, "/admins", Some(&overage)).await;
    assert_eq!(s, 403);
    assert!(ch
        .unwrap()
        .starts_with("Bearer error=\"insufficient_scope\""));
    assert_eq!(body["code"], "groups_overage");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("groups overage") && detail.contains(ADMINS),
        "{detail}"
    );
    assert!(!detail.contains("the token has groups"), "{detail}");

    // authentication context: 401 insufficient_claims with the claims request
    let stepped = user(&["weather.read"], json!({"acrs": ["c1"]}));
    assert_eq!(get_as(&base, "/step-up", Some(&stepped)).await.0, 200);
    let (s, ch, body) = get_as(&base, "/step-up", Some(&reader)).await;
    assert_eq!(s, 401);
    let ch = ch.unwrap();
    assert!(
        ch.starts_with("Bearer error=\"insufficient_claims\""),
        "{ch}"
    );
    let claims_b64 = ch.split("claims=\"").nth(1).unwrap().trim_end_matches('"');
    let request = base64::engine::general_purpose::STANDARD
        .decode(claims_b64)
        .unwrap();
    assert_eq!(
        String::from_utf8(request).unwrap(),
        r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#
    );
    assert_eq!(body["code"], "auth_context_required");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("\"c1\" (acrs; found [])"),
        "{body}"
    );

    // a custom predicate
    assert_eq!(get_as(&base, "/named", Some(&reader)).await.0, 200);
    let bob = e.mint(&TokenRequest {
        subject: Subject::User("bob".into()),
        ..e.request()
    });
    assert_denied(
        &get_as(&base, "/named", Some(&bob)).await,
        &["a user whose name starts with A"],
    );

    // the asynchronous tenant check, its answers cached
    assert_eq!(get_as(&base, "/customers", Some(&reader)).await.0, 200);
    assert_eq!(get_as(&base, "/customers", Some(&reader)).await.0, 200);
    assert_eq!(customers.lookups(), 1);
    let other_tenant = e.mint(&TokenRequest {
        tenant_id: Some(OTHER_TENANT.into()),
        ..e.request()
    });
    // (another tenant's token fails the issuer check first: a tenant the issuer accepts but the
    // list refuses is shown in the policy unit tests)
    let (s, _, body) = get_as(&base, "/customers", Some(&other_tenant)).await;
    assert_eq!((s, body["code"].as_str()), (401, Some("issuer_mismatch")));

    // a permission used but never registered: 500, and ensure_permits would have refused to start
    let (s, ch, body) = get_as(&base, "/forgotten", Some(&reader)).await;
    assert_eq!((s, ch), (500, None));
    assert_eq!(body["code"], "permission_not_registered");
    assert_eq!(
        body["detail"],
        "authentication is misconfigured on the server"
    );
}

#[test]
fn an_unregistered_permission_fails_at_start_up() {
    let auth = AuthState::layer_only().permit::<AllOf>(Requirement::scopes(["a"]));
    assert_eq!(
        auth.ensure_permits(&[PermissionId::of::<AllOf>()])
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    let err = auth
        .ensure_permits(&[PermissionId::of::<AllOf>(), PermissionId::of::<Forgotten>()])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "permission Forgotten is not registered: call AuthState::permit::<Forgotten>(requirement) at start-up"
    );
}

#[tokio::test]
async fn multi_tenant_saas_checks_tenants_at_run_time_with_a_cache() {
    let e = env_for("organizations", |b| b.dangerous_accept_any_tenant()).await;
    let customers = TenantCheck::builder("the customer list")
        .build(|tid: String| async move { Ok::<_, std::io::Error>(tid == DEV_TENANT_ID) });
    let base = rules_app(&e, customers.clone()).await;
    let mint_for = |tid: &str| {
        e.mint(&TokenRequest {
            tenant_id: Some(tid.into()),
            ..e.request()
        })
    };
    assert_eq!(
        get_as(&base, "/customers", Some(&mint_for(DEV_TENANT_ID))).await,
        (200, None, json!("ok"))
    );
    let answer = get_as(&base, "/customers", Some(&mint_for(OTHER_TENANT))).await;
    assert_denied(
        &answer,
        &[
            "a tenant allowed by the customer list",
            &format!("the token has tenant Some(\"{OTHER_TENANT}\")"),
        ],
    );
    let _ = get_as(&base, "/customers", Some(&mint_for(OTHER_TENANT))).await;
    assert_eq!(customers.lookups(), 2);
}
