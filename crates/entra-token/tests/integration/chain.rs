//! End to end, over real HTTP on 127.0.0.1: the `obo_chain` example's API A (entra-auth, audience
//! the development API) calls API B (entra-auth, audience the downstream API) on behalf of its
//! caller, with tokens from the development issuer (entra-dev) running in-process. Token requests
//! are counted at the issuer's `GET /stats`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::Path;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use entra_auth::ManualClock;
use entra_dev::testing::{Answer, Browser};
use entra_dev::{
    defaults, ClientCertificate, DevIssuer, DevIssuerConfig, FederatedCredential, MfaDemand,
    RunningDevIssuer, Subject, TokenRequest,
};
use entra_token::{
    AadstsKind, AssertionAlgorithm, AssertionError, Certificate, ClientCredential,
    ConfidentialClient, ConfidentialConfigBuilder, HttpOptions, TokenError, UserAssertion,
};
use serde_json::{json, Value};

use crate::apps::{self, Chain};
use crate::common::{self, Reply};
use crate::load;

/// The issuer, API A's client and the two APIs.
struct World {
    dev: RunningDevIssuer,
    url: String,
    client: ConfidentialClient,
    chain: Chain,
    http: reqwest::Client,
}

/// API A's client with the development API's secret.
fn secret(url: &str) -> ConfidentialConfigBuilder {
    apps::api_a_config(
        url,
        ClientCredential::secret(defaults::DEV_API_CLIENT_SECRET),
    )
    .unwrap()
}

/// The issuer's configuration with API A's registration changed by `f` (its secret removed first,
/// so that only the credential `f` registers can authenticate it).
fn config_with_api_a(f: impl FnOnce(&mut entra_dev::DevClient)) -> DevIssuerConfig {
    let mut config = DevIssuerConfig::default();
    let api_a = config
        .clients
        .iter_mut()
        .find(|c| c.client_id == defaults::DEV_API_CLIENT_ID)
        .unwrap();
    api_a.secret = None;
    f(api_a);
    config
}

impl World {
    async fn start(
        config: DevIssuerConfig,
        client: impl FnOnce(&str) -> ConfidentialConfigBuilder,
    ) -> Self {
        let dev = DevIssuer::spawn(config).await.unwrap();
        let url = dev.url().to_string();
        let client = ConfidentialClient::new(client(&url).build().unwrap()).unwrap();
        let chain = Chain::start(&url, client.clone()).await.unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            dev,
            url,
            client,
            chain,
            http,
        }
    }

    async fn default() -> Self {
        Self::start(DevIssuerConfig::default(), secret).await
    }

    /// A token for API A (scope weather.read) of `user`.
    fn token(&self, user: &str) -> String {
        self.mint(TokenRequest {
            subject: Subject::User(user.to_owned()),
            ..TokenRequest::default()
        })
    }

    fn mint(&self, req: TokenRequest) -> String {
        let req = TokenRequest {
            scopes: if req.scopes.is_empty() {
                vec![defaults::SCOPE_READ.to_owned()]
            } else {
                req.scopes
            },
            ..req
        };
        self.dev.issuer.mint(&req).unwrap()
    }

    /// `GET {A}call/{operation}` with `token`.
    async fn call(&self, operation: &str, token: &str) -> Reply {
        let res = self
            .http
            .get(format!("{}call/{operation}", self.chain.a.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        Reply::read(res).await
    }

    /// The `WWW-Authenticate` value of a claims challenge for `claims` at this issuer.
    fn claims_challenge(&self, claims: &str) -> String {
        format!(
            r#"Bearer realm="", authorization_uri="{}{}/oauth2/v2.0/authorize", error="insufficient_claims", claims="{}""#,
            self.url,
            defaults::DEV_TENANT_ID,
            STANDARD.encode(claims)
        )
    }

    /// A counter of the issuer's `GET /stats`.
    async fn stat(&self, name: &str) -> u64 {
        load::counter(&load::stats(&self.http, &self.url).await.unwrap(), name)
    }

    /// `PUT {issuer}control/switches`.
    async fn switches(&self, doc: Value) {
        let res = self
            .http
            .put(format!("{}control/switches", self.url))
            .json(&doc)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }
}

/// What API B saw for `user` calling through A on `/call/read` (or `write`).
fn assert_reached_b(reply: &Reply, oid: &str, scope: &str) {
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), "application/json");
    assert_eq!(reply.body["api"], "A");
    assert_eq!(reply.body["caller"]["oid"], oid);
    let b = &reply.body["downstream"];
    assert_eq!(b["api"], "B");
    assert_eq!(b["oid"], oid, "{b}");
    assert_eq!(b["tid"], defaults::DEV_TENANT_ID);
    assert_eq!(b["aud"], json!([defaults::DEV_DOWNSTREAM_API_CLIENT_ID]));
    assert_eq!(b["scp"], json!([scope]));
    assert_eq!(b["azp"], defaults::DEV_API_CLIENT_ID);
}

/// On-behalf-of through `client` for `token` (parsed, not verified) on B's scope `scope`.
async fn obo(
    client: &ConfidentialClient,
    token: &str,
    scope: &str,
) -> Result<entra_token::AccessToken, TokenError> {
    let user = UserAssertion::parse(token).unwrap();
    client
        .acquire_on_behalf_of(&user, &apps::downstream_scope(scope))
        .await
}

#[tokio::test]
async fn users_oid_and_tid_arrive_at_b_and_second_call_makes_no_token_request() {
    let w = World::default().await;
    let alice = w.token(defaults::ALICE_USERNAME);

    let first = w.call("read", &alice).await;
    assert_reached_b(&first, defaults::ALICE_OID, defaults::SCOPE_DOWNSTREAM_READ);
    assert_eq!(first.body["downstream"]["name"], defaults::ALICE_NAME);
    assert_eq!(first.body["downstream"]["azpacr"], "1");
    assert_eq!(w.stat("on_behalf_of_requests").await, 1);

    // The second call: A's cache answers, the issuer counts no token request.
    let second = w.call("read", &alice).await;
    assert_reached_b(
        &second,
        defaults::ALICE_OID,
        defaults::SCOPE_DOWNSTREAM_READ,
    );
    assert_eq!(w.stat("token_requests").await, 1);
    let stats = w.client.stats();
    assert_eq!((stats.token_requests, stats.memory_hits), (1, 1));

    // The other scope is another token; bob gets his own.
    let write = w.call("write", &alice).await;
    assert_reached_b(
        &write,
        defaults::ALICE_OID,
        defaults::SCOPE_DOWNSTREAM_WRITE,
    );
    let bob = w.call("read", &w.token(defaults::BOB_USERNAME)).await;
    assert_reached_b(&bob, defaults::BOB_OID, defaults::SCOPE_DOWNSTREAM_READ);
    assert_eq!(w.stat("on_behalf_of_requests").await, 3);

    // B has its own audience: the caller's token for A does not open it.
    let res = w
        .http
        .get(format!("{}read", w.chain.b.url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "audience_mismatch", "{body}");
}

/// Signs the user in again through the issuer's login page with the claims of `challenge` (the
/// `WWW-Authenticate` value A answered), as the user's client would; returns the new token.
async fn sign_in_with_claims(w: &World, challenge: &str) -> String {
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const REDIRECT: &str = "http://127.0.0.1:9/callback";
    let parsed = entra_core::challenge::parse(challenge).unwrap();
    let bearer = parsed.iter().find(|c| c.is_scheme("Bearer")).unwrap();
    let b64 = bearer.param("claims").unwrap();
    let claims = String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap();
    // Where the challenge says to sign in again: the issuer's authorize endpoint.
    let authorize = url::Url::parse_with_params(
        bearer.param("authorization_uri").unwrap(),
        &[
            ("client_id", defaults::DEV_PUBLIC_CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            (
                "scope",
                &format!("{}/{}", defaults::DEV_API_APP_ID_URI, defaults::SCOPE_READ),
            ),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("claims", &claims),
        ],
    )
    .unwrap();
    let location = Browser::new()
        .unwrap()
        .sign_in(
            authorize.as_str(),
            Answer::accept(defaults::ALICE_USERNAME, &[defaults::SCOPE_READ]),
        )
        .await
        .unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let res = w
        .http
        .post(format!(
            "{}{}/oauth2/v2.0/token",
            w.url,
            defaults::DEV_TENANT_ID
        ))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", defaults::DEV_PUBLIC_CLIENT_ID),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn mfa_switch_makes_a_answer_401_insufficient_claims_and_signing_in_with_the_claims_passes() {
    let w = World::default().await;
    w.switches(json!({ "mfa_required": [{ "api": defaults::DEV_DOWNSTREAM_API_APP_ID_URI }] }))
        .await;
    let demand = MfaDemand::new(defaults::DEV_DOWNSTREAM_API_APP_ID_URI).claims_challenge();

    let refused = w.call("read", &w.token(defaults::ALICE_USERNAME)).await;
    refused.assert_problem(401, "insufficient_claims");
    // Microsoft's claims challenge format, naming the issuer's authorize endpoint.
    assert_eq!(
        refused.header("www-authenticate"),
        w.claims_challenge(&demand)
    );
    assert_eq!(refused.header("cache-control"), "no-store");
    assert_eq!(
        refused.body["type"],
        "urn:entra-token:problem:insufficient_claims"
    );
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("sign in again at the challenge's authorization_uri"),
        "{}",
        refused.body
    );
    assert_eq!(w.client.stats().cached_tokens, 0);

    // The client signs the user in again with those claims; the new token passes.
    let stepped_up = sign_in_with_claims(&w, refused.header("www-authenticate")).await;
    assert_eq!(
        common::payload(&stepped_up)["acrs"],
        json!([apps::AUTH_CONTEXT])
    );
    let passed = w.call("read", &stepped_up).await;
    assert_reached_b(
        &passed,
        defaults::ALICE_OID,
        defaults::SCOPE_DOWNSTREAM_READ,
    );
    assert_eq!(w.stat("on_behalf_of_requests").await, 2);
}

#[tokio::test]
async fn claims_challenge_of_b_itself_reaches_the_caller_as_401_insufficient_claims() {
    let w = World::default().await;
    let refused = w
        .call("sensitive", &w.token(defaults::ALICE_USERNAME))
        .await;
    refused.assert_problem(401, "insufficient_claims");
    assert_eq!(
        refused.header("www-authenticate"),
        w.claims_challenge(&apps::step_up_claims())
    );
    // The issuer was asked once (the token B refused), and not again: no blind retry.
    assert_eq!(w.stat("on_behalf_of_requests").await, 1);

    // A token with the step-up keeps its acrs through on-behalf-of, and B lets it in.
    let stepped_up = w.mint(TokenRequest {
        extra_claims: json!({ "acrs": [apps::AUTH_CONTEXT] })
            .as_object()
            .unwrap()
            .clone(),
        ..TokenRequest::default()
    });
    let passed = w.call("sensitive", &stepped_up).await;
    assert_reached_b(
        &passed,
        defaults::ALICE_OID,
        defaults::SCOPE_DOWNSTREAM_READ,
    );
}

#[tokio::test]
async fn consent_switch_is_a_typed_error_and_a_answers_403_naming_admin_consent() {
    let w = World::default().await;
    w.switches(json!({ "consent_required": [defaults::DEV_DOWNSTREAM_API_CLIENT_ID] }))
        .await;
    let alice = w.token(defaults::ALICE_USERNAME);

    let reply = w.call("read", &alice).await;
    reply.assert_problem(403, "consent_required");
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("AADSTS65001") && detail.contains("admin consent"),
        "{detail}"
    );
    assert_eq!(reply.header("cache-control"), "no-store");

    // The same refusal, seen through the library: a typed error with the fix.
    let err = obo(&w.client, &alice, defaults::SCOPE_DOWNSTREAM_READ)
        .await
        .unwrap_err();
    let a = common::rejected(&err, AadstsKind::ConsentRequired, 65001);
    assert_eq!(a.error, "invalid_grant");

    // Consent granted: the call goes through.
    w.switches(json!({})).await;
    assert_reached_b(
        &w.call("read", &alice).await,
        defaults::ALICE_OID,
        defaults::SCOPE_DOWNSTREAM_READ,
    );
}

#[tokio::test]
async fn certificate_credential_against_dev_issuer_calls_b_with_ps256_and_rs256() {
    let cert = common::test_cert();
    let config = config_with_api_a(|a| {
        a.certificates = vec![ClientCertificate::from_pem(&cert.cert_pem, None).unwrap()];
    });
    let credential = || Certificate::from_pem(&cert.cert_pem, &cert.key_pem).unwrap();
    let w = World::start(config, |url| {
        apps::api_a_config(url, ClientCredential::certificate(credential())).unwrap()
    })
    .await;

    let reply = w.call("read", &w.token(defaults::ALICE_USERNAME)).await;
    assert_reached_b(&reply, defaults::ALICE_OID, defaults::SCOPE_DOWNSTREAM_READ);
    // azpacr 2: the issuer authenticated A by its certificate (it has no secret any more).
    assert_eq!(reply.body["downstream"]["azpacr"], "2");

    // RS256 assertions are accepted too; a secret is not (A has none registered).
    let rs256 = ConfidentialClient::new(
        apps::api_a_config(
            &w.url,
            ClientCredential::certificate(credential().with_algorithm(AssertionAlgorithm::Rs256)),
        )
        .unwrap()
        .build()
        .unwrap(),
    )
    .unwrap();
    let bob = w.token(defaults::BOB_USERNAME);
    let token = obo(&rs256, &bob, defaults::SCOPE_DOWNSTREAM_WRITE)
        .await
        .unwrap();
    let claims = common::payload(token.secret());
    assert_eq!(
        (claims["oid"].as_str(), claims["azpacr"].as_str()),
        (Some(defaults::BOB_OID), Some("2"))
    );
    let with_secret = ConfidentialClient::new(secret(&w.url).build().unwrap()).unwrap();
    let err = obo(&with_secret, &bob, defaults::SCOPE_DOWNSTREAM_WRITE)
        .await
        .unwrap_err();
    common::rejected(&err, AadstsKind::InvalidClientSecret, 7000215);
}

#[tokio::test]
async fn unregistered_certificate_is_certificate_assertion_rejected_with_fix() {
    let registered = common::test_cert();
    let other = common::test_cert();
    let config = config_with_api_a(|a| {
        a.certificates = vec![ClientCertificate::from_pem(&registered.cert_pem, None).unwrap()];
    });
    let w = World::start(config, |url| {
        apps::api_a_config(
            url,
            ClientCredential::certificate(
                Certificate::from_pem(&other.cert_pem, &other.key_pem).unwrap(),
            ),
        )
        .unwrap()
    })
    .await;
    let alice = w.token(defaults::ALICE_USERNAME);
    let err = obo(&w.client, &alice, defaults::SCOPE_DOWNSTREAM_READ)
        .await
        .unwrap_err();
    common::rejected(&err, AadstsKind::CertificateAssertionRejected, 700027);
    assert!(err.to_string().contains("upload the certificate"), "{err}");
    // Through A: a refusal of A's own configuration, not the caller's fault: 500 with a generic
    // detail (the fix is for A's operator, in A's log).
    let reply = w.call("read", &w.token(defaults::ALICE_USERNAME)).await;
    reply.assert_problem(500, "configuration_error");
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("its operator must fix it") && !detail.contains("certificate"),
        "{detail}"
    );
    assert_eq!(reply.header("www-authenticate"), "");
}

/// A workload-identity issuer (say, a Kubernetes cluster) that API A's federated credential trusts.
struct ExternalIssuer {
    signer: rsa::pkcs1v15::SigningKey<sha2::Sha256>,
    public: rsa::RsaPublicKey,
}

const EXTERNAL_ISSUER: &str = "https://oidc.cluster.example/obo";
const EXTERNAL_SUBJECT: &str = "system:serviceaccount:obo:api-a";

impl ExternalIssuer {
    fn new() -> Self {
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        Self {
            public: key.to_public_key(),
            signer: rsa::pkcs1v15::SigningKey::new(key),
        }
    }

    /// A service account token for `subject`, audience api://AzureADTokenExchange.
    fn token(&self, subject: &str) -> String {
        use rsa::signature::{SignatureEncoding as _, Signer as _};
        let now = common::unix_now();
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": "cluster-1" });
        let claims = json!({
            "iss": EXTERNAL_ISSUER, "sub": subject, "aud": [entra_dev::TOKEN_EXCHANGE_AUDIENCE],
            "iat": now, "nbf": now, "exp": now + 3600, "jti": uuid::Uuid::new_v4().to_string(),
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self.signer.sign(input.as_bytes()).to_bytes();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

/// Replaces the token file's content as the platform does (a new length or modification time).
fn rotate(path: &std::path::Path, token: &str, n: u64) {
    std::fs::write(path, token).unwrap();
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() + Duration::from_secs(10 * n))
        .unwrap();
}

#[tokio::test]
async fn federated_credential_file_against_dev_issuer_is_sent_and_reread_when_rotated() {
    let cluster = ExternalIssuer::new();
    let config = config_with_api_a(|a| {
        a.federated_credentials = vec![FederatedCredential::new(EXTERNAL_ISSUER, EXTERNAL_SUBJECT)
            .with_public_key(Some("cluster-1"), cluster.public.clone())];
    });
    let dir = std::env::temp_dir().join(format!("entra-token-chain-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("azure-identity-token");
    rotate(&path, &cluster.token(EXTERNAL_SUBJECT), 0);
    let w = World::start(config, |url| {
        apps::api_a_config(url, ClientCredential::federated_token_file(&path)).unwrap()
    })
    .await;

    let reply = w.call("read", &w.token(defaults::ALICE_USERNAME)).await;
    assert_reached_b(&reply, defaults::ALICE_OID, defaults::SCOPE_DOWNSTREAM_READ);
    assert_eq!(reply.body["downstream"]["azpacr"], "2");

    // The platform rotates the file to a token for another subject: it is read again, and the
    // issuer's refusal is the typed federated-credential error.
    rotate(&path, &cluster.token("system:serviceaccount:obo:other"), 1);
    let user = UserAssertion::parse(&w.token(defaults::ALICE_USERNAME)).unwrap();
    let write = apps::downstream_scope(defaults::SCOPE_DOWNSTREAM_WRITE);
    let err = w
        .client
        .acquire_on_behalf_of(&user, &write)
        .await
        .unwrap_err();
    common::rejected(&err, AadstsKind::FederatedCredentialRejected, 700213);

    // Rotated back to a valid token: the next request succeeds without a restart.
    rotate(&path, &cluster.token(EXTERNAL_SUBJECT), 2);
    let token = w.client.acquire_on_behalf_of(&user, &write).await.unwrap();
    assert_eq!(common::payload(token.secret())["oid"], defaults::ALICE_OID);
    assert_eq!(w.stat("on_behalf_of_requests").await, 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn malformed_expired_or_foreign_incoming_token_never_reaches_token_endpoint() {
    let w = World::default().await;
    let expired = w.mint(TokenRequest {
        issued_at: Some(SystemTime::now() - Duration::from_secs(7200)),
        lifetime: Some(Duration::from_secs(3600)),
        ..TokenRequest::default()
    });
    let for_b = w.mint(TokenRequest {
        audience: Some(defaults::DEV_DOWNSTREAM_API_CLIENT_ID.to_owned()),
        scopes: vec![defaults::SCOPE_DOWNSTREAM_READ.to_owned()],
        ..TokenRequest::default()
    });
    let stranger = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    let other_issuer = stranger
        .issuer
        .mint(&TokenRequest {
            scopes: vec![defaults::SCOPE_READ.to_owned()],
            ..TokenRequest::default()
        })
        .unwrap();

    // Through A: entra-auth refuses each before A's handler (and so the token endpoint) runs.
    for (token, code) in [
        ("not-a-jwt", "malformed_token"),
        (expired.as_str(), "token_expired"),
        (for_b.as_str(), "audience_mismatch"),
        (other_issuer.as_str(), "unknown_signing_key"),
    ] {
        let reply = w.call("read", token).await;
        reply.assert_problem(401, code);
        assert!(
            reply
                .header("www-authenticate")
                .starts_with(r#"Bearer error="invalid_token""#),
            "{code}: {}",
            reply.header("www-authenticate")
        );
    }

    // Through the library: a typed error first.
    assert_eq!(
        UserAssertion::parse("not-a-jwt").unwrap_err(),
        AssertionError::Malformed
    );
    let read = defaults::SCOPE_DOWNSTREAM_READ;
    let err = obo(&w.client, &expired, read).await.unwrap_err();
    assert!(
        matches!(err, TokenError::Assertion(AssertionError::Expired { .. })),
        "{err:?}"
    );
    let err = obo(&w.client, &for_b, read).await.unwrap_err();
    assert!(
        matches!(
            err,
            TokenError::Assertion(AssertionError::ForeignAudience { .. })
        ),
        "{err:?}"
    );
    assert_eq!(w.stat("token_requests").await, 0);
    assert_eq!(w.client.stats().token_requests, 0);

    // A token of another issuer, not verified by entra-auth, is refused by the token endpoint
    // with the typed invalid-assertion error.
    let err = obo(&w.client, &other_issuer, read).await.unwrap_err();
    common::rejected(&err, AadstsKind::InvalidAssertion, 50013);
}

#[tokio::test]
async fn token_expired_within_entra_auths_clock_skew_is_401_before_the_token_endpoint() {
    let w = World::default().await;
    // Expired a minute ago: entra-auth lets it in (300 s of skew), on-behalf-of refuses it first.
    let just_expired = w.mint(TokenRequest {
        issued_at: Some(SystemTime::now() - Duration::from_secs(3660)),
        lifetime: Some(Duration::from_secs(3600)),
        ..TokenRequest::default()
    });
    let reply = w.call("read", &just_expired).await;
    reply.assert_problem(401, "invalid_token");
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("expired") && detail.contains("sign in again or refresh"),
        "{detail}"
    );
    assert!(
        reply.header("www-authenticate").starts_with(
            r#"Bearer error="invalid_token", error_description="on-behalf-of refused"#
        ),
        "{}",
        reply.header("www-authenticate")
    );
    assert_eq!(w.stat("token_requests").await, 0);
}

#[tokio::test]
async fn token_expiring_within_the_exchange_margin_is_refused_before_the_token_endpoint() {
    let w = World::default().await;
    // Ten seconds left: entra-auth accepts it, but by the time an exchange reaches the identity
    // provider it may have expired there (AADSTS500133).
    let expiring = w.mint(TokenRequest {
        issued_at: Some(SystemTime::now() - Duration::from_secs(3590)),
        lifetime: Some(Duration::from_secs(3600)),
        ..TokenRequest::default()
    });
    let read = defaults::SCOPE_DOWNSTREAM_READ;
    let err = obo(&w.client, &expiring, read).await.unwrap_err();
    let TokenError::Assertion(AssertionError::ExpiresTooSoon {
        in_secs,
        margin_secs,
    }) = &err
    else {
        panic!("{err:?}")
    };
    assert!(*in_secs <= 10, "{in_secs}");
    assert_eq!(*margin_secs, UserAssertion::EXPIRY_MARGIN.as_secs());
    assert!(
        err.to_string().ends_with(
            "the caller must get a fresh token (refresh or sign in again) and call again"
        ),
        "{err}"
    );
    // Through A over HTTP: 401 invalid_token telling the caller to get a fresh token.
    let reply = w.call("read", &expiring).await;
    reply.assert_problem(401, "invalid_token");
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("too soon to exchange it") && detail.contains("get a fresh token"),
        "{detail}"
    );
    assert_eq!(w.stat("token_requests").await, 0);
    // Two minutes left is enough: exchanged at the issuer.
    let fresh_enough = w.mint(TokenRequest {
        issued_at: Some(SystemTime::now() - Duration::from_secs(3480)),
        lifetime: Some(Duration::from_secs(3600)),
        ..TokenRequest::default()
    });
    obo(&w.client, &fresh_enough, read).await.unwrap();
    assert_eq!(w.stat("on_behalf_of_requests").await, 1);
}

/// What a front in the path to the issuer's token endpoint does.
#[derive(Clone)]
enum Front {
    /// Waits, then forwards to the issuer.
    Slow(Duration),
    /// Answers this status and body (the issuer is never reached).
    Answer(u16, &'static str),
}

/// A front on 127.0.0.1 for the issuer's token endpoint at `issuer` (a slow network path, or a
/// proxy answering garbage).
async fn front(issuer: &str, mode: Front) -> apps::Running {
    let (issuer, http) = (issuer.to_owned(), reqwest::Client::new());
    let app = Router::new().route(
        "/{tenant}/oauth2/v2.0/token",
        post(
            move |Path(tenant): Path<String>, headers: HeaderMap, body: String| async move {
                match mode {
                    Front::Answer(status, body) => (
                        axum::http::StatusCode::from_u16(status).unwrap(),
                        [("content-type", "text/html")],
                        body.to_owned(),
                    ),
                    Front::Slow(d) => {
                        tokio::time::sleep(d).await;
                        let res = http
                            .post(format!("{issuer}{tenant}/oauth2/v2.0/token"))
                            .header("content-type", headers["content-type"].clone())
                            .body(body)
                            .send()
                            .await
                            .unwrap();
                        let status = axum::http::StatusCode::from_u16(res.status().as_u16());
                        (
                            status.unwrap(),
                            [("content-type", "application/json")],
                            res.text().await.unwrap(),
                        )
                    }
                }
            },
        ),
    );
    apps::serve(app).await.unwrap()
}

/// A world whose API A reaches the issuer's token endpoint through `mode`'s front, with a 500 ms
/// timeout.
async fn world_behind(mode: Front) -> (World, apps::Running) {
    let dev = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    let front = front(dev.url().as_str(), mode).await;
    let front_url = front.url.clone();
    let http = HttpOptions {
        timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(200),
        ..HttpOptions::default()
    };
    let url = dev.url().to_string();
    let client = ConfidentialClient::new(secret(&front_url).http(http).build().unwrap()).unwrap();
    let chain = Chain::start(&url, client.clone()).await.unwrap();
    let w = World {
        dev,
        url,
        client,
        chain,
        http: reqwest::Client::new(),
    };
    (w, front)
}

#[tokio::test]
async fn slow_token_endpoint_is_a_timeout_error_within_the_configured_limit() {
    let (w, _front) = world_behind(Front::Slow(Duration::from_secs(3))).await;
    let alice = w.token(defaults::ALICE_USERNAME);
    let started = Instant::now();
    let reply = w.call("read", &alice).await;
    let took = started.elapsed();
    reply.assert_problem(504, "token_endpoint_timeout");
    assert_eq!(
        reply.body["detail"],
        "the identity provider did not answer in time (transient): retry later"
    );
    // The answer's 504 and code prove the timeout; the bound only tells a hang from it.
    assert!(
        took < Duration::from_secs(10),
        "a hang, not the 500 ms timeout: {took:?}"
    );
    // Through the library: the typed error.
    let started = Instant::now();
    let err = obo(&w.client, &alice, defaults::SCOPE_DOWNSTREAM_WRITE)
        .await
        .unwrap_err();
    assert!(
        matches!(err, TokenError::Timeout { after } if after == Duration::from_millis(500)),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a hang, not the 500 ms timeout"
    );
}

#[tokio::test]
async fn garbage_token_endpoint_answers_are_typed_errors() {
    let (w, _front) = world_behind(Front::Answer(200, "<html>welcome to the proxy</html>")).await;
    let alice = w.token(defaults::ALICE_USERNAME);
    let reply = w.call("read", &alice).await;
    reply.assert_problem(502, "token_endpoint_invalid_response");
    let err = obo(&w.client, &alice, defaults::SCOPE_DOWNSTREAM_READ)
        .await
        .unwrap_err();
    assert!(
        matches!(err, TokenError::InvalidResponse { status, .. } if status == 200),
        "{err:?}"
    );
    assert!(!err.to_string().contains("welcome"), "{err}");

    let (w, _front) = world_behind(Front::Answer(503, "<html>upstream overloaded</html>")).await;
    let reply = w.call("read", &w.token(defaults::ALICE_USERNAME)).await;
    reply.assert_problem(503, "token_endpoint_unavailable");
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("retry later"),
        "{}",
        reply.body
    );
    // The answer said nothing about when: no invented Retry-After.
    assert_eq!(reply.header("retry-after"), "");
    // The issuer behind the front was never asked.
    assert_eq!(w.stat("token_requests").await, 0);
}

#[tokio::test]
async fn refresh_in_from_dev_issuer_schedules_the_refresh() {
    let config = DevIssuerConfig {
        refresh_in_min_lifetime: Some(Duration::ZERO),
        ..DevIssuerConfig::default()
    };
    let clock = ManualClock::starting_now();
    let c = clock.clone();
    let w = World::start(config, move |url| secret(url).clock(Arc::new(c))).await;
    let user = UserAssertion::parse(&w.token(defaults::ALICE_USERNAME)).unwrap();
    let read = apps::downstream_scope(defaults::SCOPE_DOWNSTREAM_READ);
    let first = w.client.acquire_on_behalf_of(&user, &read).await.unwrap();
    // The issuer answered refresh_in = half of the 1 h lifetime.
    clock.advance(Duration::from_secs(1799));
    let same = w.client.acquire_on_behalf_of(&user, &read).await.unwrap();
    assert_eq!(same.secret(), first.secret());
    assert_eq!(w.stat("on_behalf_of_requests").await, 1);
    clock.advance(Duration::from_secs(2));
    let refreshed = w.client.acquire_on_behalf_of(&user, &read).await.unwrap();
    assert_ne!(refreshed.secret(), first.secret());
    assert_eq!(w.stat("on_behalf_of_requests").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_calls_through_a_for_100_users_and_2_scopes_make_200_token_requests() {
    let w = World::default().await;
    let callers = Arc::new(load::callers(&w.dev.issuer, 100).unwrap());
    let run = load::drive(&w.http, &w.chain.a.url, callers, 10_000, 32).await;
    assert_eq!(run.errors, Vec::<String>::new());
    assert_eq!(run.latencies.len(), 10_000);
    assert_eq!(w.stat("on_behalf_of_requests").await, 200);
    assert_eq!(w.stat("token_requests").await, 200);
    let stats = w.client.stats();
    assert_eq!((stats.token_requests, stats.memory_hits), (200, 9_800));
    println!(
        "10,000 calls in {:.2} s, p50 {:?}, p99 {:?} (debug build)",
        run.elapsed.as_secs_f64(),
        load::percentile(&run.latencies, 0.5),
        load::percentile(&run.latencies, 0.99)
    );
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn second_instance_of_a_sharing_redis_makes_no_token_request_for_cached_users() {
    use entra_token::cache::{EncryptionKey, RedisCache, RedisCacheConfig};
    let Some(redis_url) = common::redis_url() else {
        return;
    };
    let prefix = format!("entra-token-chain:{}:", uuid::Uuid::new_v4());
    let key: [u8; 32] = rand::random();
    let shared = |url: &str| {
        let cache = RedisCache::new(
            RedisCacheConfig::new(&redis_url, EncryptionKey::from_bytes(&key).unwrap())
                .prefix(&prefix),
        )
        .unwrap();
        secret(url).shared_cache(Arc::new(cache))
    };
    let w = World::start(DevIssuerConfig::default(), shared).await;
    let second = ConfidentialClient::new(shared(&w.url).build().unwrap()).unwrap();
    let a2 = Chain::start_a(&w.url, second.clone(), &w.chain.b.url)
        .await
        .unwrap();
    let callers = Arc::new(load::callers(&w.dev.issuer, 10).unwrap());

    let first_run = load::drive(&w.http, &w.chain.a.url, callers.clone(), 20, 4).await;
    assert_eq!(first_run.errors, Vec::<String>::new());
    assert_eq!(w.stat("on_behalf_of_requests").await, 20);
    let second_run = load::drive(&w.http, &a2.url, callers, 20, 4).await;
    assert_eq!(second_run.errors, Vec::<String>::new());
    assert_eq!(w.stat("on_behalf_of_requests").await, 20);
    let stats = second.stats();
    assert_eq!((stats.token_requests, stats.shared_hits), (0, 20));

    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys = common::redis_keys(&mut conn, &prefix).await;
    assert_eq!(keys.len(), 20, "{keys:?}");
    let () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn dead_redis_fails_no_call_through_a_while_the_issuer_answers() {
    use entra_token::cache::{EncryptionKey, RedisCache, RedisCacheConfig};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("redis://{}/", listener.local_addr().unwrap());
    drop(listener);
    let w = World::start(DevIssuerConfig::default(), |url| {
        let cache = RedisCache::new(RedisCacheConfig::new(
            &dead,
            EncryptionKey::from_bytes(&[9u8; 32]).unwrap(),
        ))
        .unwrap();
        secret(url).shared_cache(Arc::new(cache))
    })
    .await;
    let alice = w.token(defaults::ALICE_USERNAME);
    for _ in 0..2 {
        let reply = w.call("read", &alice).await;
        assert_reached_b(&reply, defaults::ALICE_OID, defaults::SCOPE_DOWNSTREAM_READ);
    }
    // The memory cache still answers the second call.
    assert_eq!(w.stat("on_behalf_of_requests").await, 1);
    assert_eq!(w.client.stats().memory_hits, 1);
}

/// A tower HTTP client service: sends the request to API B with reqwest.
async fn send_to_b(req: http::Request<String>) -> Result<http::Response<String>, reqwest::Error> {
    let (parts, body) = req.into_parts();
    let mut out = reqwest::Client::new()
        .request(parts.method, parts.uri.to_string())
        .body(body);
    if let Some(auth) = parts.headers.get(http::header::AUTHORIZATION) {
        out = out.header(http::header::AUTHORIZATION, auth.clone());
    }
    let res = out.send().await?;
    let mut answer = http::Response::builder().status(res.status().as_u16());
    for (name, value) in res.headers() {
        answer = answer.header(name.as_str(), value.as_bytes());
    }
    Ok(answer.body(res.text().await?).unwrap())
}

#[tokio::test]
async fn bearer_layer_against_dev_issuer_carries_the_users_token_to_b_and_surfaces_its_challenge() {
    use tower::{Layer as _, ServiceExt as _};
    let w = World::default().await;
    let layer = entra_token::BearerLayer::on_behalf_of(
        w.client.clone(),
        apps::downstream_scope(defaults::SCOPE_DOWNSTREAM_READ),
    );
    let svc = layer.layer(tower::service_fn(send_to_b));
    let bob = UserAssertion::parse(&w.token(defaults::BOB_USERNAME)).unwrap();
    let request = |path: &str| {
        let mut req = http::Request::builder()
            .uri(format!("{}{path}", w.chain.b.url))
            .body(String::new())
            .unwrap();
        req.extensions_mut().insert(bob.clone());
        req
    };

    let res = svc.clone().oneshot(request("read")).await.unwrap();
    assert_eq!(res.status(), 200, "{}", res.body());
    let at_b: Value = serde_json::from_str(res.body()).unwrap();
    assert_eq!(
        (at_b["oid"].as_str(), at_b["azp"].as_str()),
        (Some(defaults::BOB_OID), Some(defaults::DEV_API_CLIENT_ID))
    );

    let err = svc.oneshot(request("sensitive")).await.unwrap_err();
    let entra_token::BearerError::ClaimsChallenge(c) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(c.claims(), apps::step_up_claims());
    let authorize = format!("{}{}/oauth2/v2.0/authorize", w.url, defaults::DEV_TENANT_ID);
    assert_eq!(c.authorization_uri(), Some(authorize.as_str()));
    // One on-behalf-of request: the second call reused the cached token for the same assertion.
    assert_eq!(w.stat("on_behalf_of_requests").await, 1);
}

#[tokio::test]
async fn on_behalf_of_bearer_layer_refuses_a_request_without_user_assertion_and_sends_nothing() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use tower::{Layer as _, ServiceExt as _};
    let w = World::default().await;
    let sent = Arc::new(AtomicU64::new(0));
    let counted = sent.clone();
    let svc = entra_token::BearerLayer::on_behalf_of(
        w.client.clone(),
        // `.default`: a scope on-behalf-of and client credentials both accept.
        entra_token::Scopes::app_default(defaults::DEV_DOWNSTREAM_API_APP_ID_URI),
    )
    .layer(tower::service_fn(move |req| {
        counted.fetch_add(1, Ordering::SeqCst);
        send_to_b(req)
    }));
    // A request that lost its user (no UserAssertion inserted): never sent as the application.
    let request = http::Request::builder()
        .uri(format!("{}read", w.chain.b.url))
        .body(String::new())
        .unwrap();
    let err = svc.oneshot(request).await.unwrap_err();
    assert!(
        matches!(err, entra_token::BearerError::MissingUserAssertion),
        "{err:?}"
    );
    assert!(err.to_string().contains("BearerLayer::as_app"), "{err}");
    assert_eq!(sent.load(Ordering::SeqCst), 0, "B was called");
    assert_eq!(w.stat("token_requests").await, 0);
    assert_eq!(w.stat("client_credentials_requests").await, 0);
}
