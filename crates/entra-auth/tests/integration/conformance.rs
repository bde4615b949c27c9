//! Conformance: documents in the shape Microsoft serves them and tokens in the shape of each
//! family, replayed over real HTTP (axum on 127.0.0.1:0 serving the crate's `CannedIdp`) with a
//! fixed clock (`NOW`), each accepted or refused as Entra would (the exact code asserted).
//!
//! The documents are written from Microsoft's documentation and published captures (the source of
//! each shape is named where it is built). Only the URLs the validator fetches (`jwks_uri`, the
//! endpoints) point at the loopback server: the `issuer` values are Microsoft's, verbatim. The
//! keys are the crate's two test keys, each with a real self-signed certificate in `x5c`
//! (`conformance/*.x5c`, made with `openssl req -x509` from `src/testdata/*.pem`) and its SHA-1
//! thumbprint as `x5t` and `kid`, as Entra writes them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::Router;
use entra_auth::test_util::{CannedIdp, TestSigner, CID, NOW, TEST_KEY_N, TID};
use entra_auth::{AuthConfig, AuthConfigBuilder, ManualClock, TokenValidator};
use http::StatusCode;
use serde_json::{json, Value};

use crate::common::{sign_foreign, OTHER_TENANT};

/// The personal Microsoft account (MSA) tenant
/// (<https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference>, `tid`).
const MSA_TID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
/// An Azure AD B2C tenant and an External ID (CIAM) tenant.
const B2C_TID: &str = "775527ff-9a37-4307-8b3d-cc311f58d925";
const CIAM_TID: &str = "c0ffee00-1234-4abc-9def-0123456789ab";

fn trimmed(s: &str) -> String {
    s.trim().to_owned()
}

/// The org key's kid and x5t (the certificate thumbprint) and its x5c.
fn org_kid() -> String {
    trimmed(include_str!("conformance/test_key.x5t"))
}
fn org_x5c() -> String {
    trimmed(include_str!("conformance/test_key.x5c"))
}
/// The MSA key ("Live ID STS Signing Public Key"), signed with `common::sign_foreign`.
fn msa_kid() -> String {
    trimmed(include_str!("conformance/other_key.x5t"))
}
fn msa_x5c() -> String {
    trimmed(include_str!("conformance/other_key.x5c"))
}
fn msa_n() -> String {
    trimmed(include_str!("../../src/testdata/other_key.n"))
}

/// A v2 key in the shape of `/discovery/v2.0/keys`: kty, use, kid, x5t (= kid), n, e, x5c and,
/// on v2 sets, issuer; newer sets add a key-level cloud_instance_name. Sources: IdentityModel's
/// test data `OpenIdConfigData.cs` ("AADCommonV2"),
/// <https://github.com/AzureAD/azure-activedirectory-identitymodel-extensions-for-dotnet/blob/dev/test/Microsoft.IdentityModel.Protocols.OpenIdConnect.Tests/OpenIdConfigData.cs>,
/// and <https://login.microsoftonline.com/common/discovery/v2.0/keys>.
fn entra_key(kid: &str, n: &str, x5c: &str, issuer: Option<&str>, cloud: Option<&str>) -> Value {
    let mut k = json!({"kty": "RSA", "use": "sig", "kid": kid, "x5t": kid, "n": n, "e": "AQAB",
        "x5c": [x5c]});
    if let Some(i) = issuer {
        k["issuer"] = json!(i);
    }
    if let Some(c) = cloud {
        k["cloud_instance_name"] = json!(c);
    }
    k
}

fn org_key(issuer: Option<&str>) -> Value {
    entra_key(&org_kid(), TEST_KEY_N.trim(), &org_x5c(), issuer, None)
}

fn msa_key() -> Value {
    entra_key(
        &msa_kid(),
        &msa_n(),
        &msa_x5c(),
        Some(&format!("https://login.microsoftonline.com/{MSA_TID}/v2.0")),
        None,
    )
}

/// A v2 discovery document of Entra ID (tenant, common, organizations, consumers, US Government,
/// China): the fields of IdentityModel's "AADCommonV2 2/2/2024" capture and panva/wellknown's
/// `issuers/entra-common` (<https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration>).
/// `host` is the login host the endpoints name; `base` the loopback server standing for it.
fn entra_v2_discovery(base: &str, path: &str, issuer: &str, region: Value, cloud: &Cloud) -> Value {
    let login = cloud.login;
    json!({
        "token_endpoint": format!("{login}/{path}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}{path}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer,
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("https://{}/oidc/userinfo", cloud.msgraph),
        "authorization_endpoint": format!("{login}/{path}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{login}/{path}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{login}/{path}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
            "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce",
            "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{login}/{path}/kerberos"),
        "tenant_region_scope": region,
        "cloud_instance_name": cloud.instance_name,
        "cloud_graph_host_name": cloud.aad_graph,
        "msgraph_host": cloud.msgraph,
        "rbac_url": cloud.rbac,
    })
}

/// A v1 discovery document (IdentityModel's "AADCommonV1" capture,
/// <https://login.microsoftonline.com/common/.well-known/openid-configuration>): issuer
/// `https://sts.windows.net/{tid}/` with the trailing slash, keys at `/discovery/keys`.
fn entra_v1_discovery(base: &str, path: &str, issuer: &str, cloud: &Cloud) -> Value {
    let login = cloud.login;
    json!({
        "token_endpoint": format!("{login}/{path}/oauth2/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}{path}/discovery/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid"],
        "issuer": issuer,
        "microsoft_multi_refresh_token": true,
        "authorization_endpoint": format!("{login}/{path}/oauth2/authorize"),
        "device_authorization_endpoint": format!("{login}/{path}/oauth2/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{login}/{path}/oauth2/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
            "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr",
            "nonce", "email", "given_name", "family_name", "nickname"],
        "check_session_iframe": format!("{login}/{path}/oauth2/checksession"),
        "userinfo_endpoint": format!("{login}/{path}/openid/userinfo"),
        "kerberos_endpoint": format!("{login}/{path}/kerberos"),
        "tenant_region_scope": "NA",
        "cloud_instance_name": cloud.instance_name,
        "cloud_graph_host_name": cloud.aad_graph,
        "msgraph_host": cloud.msgraph,
        "rbac_url": cloud.rbac,
    })
}

/// The host names of a cloud. Public: the captures above. US Government: `login.microsoftonline.us`
/// and `cloud_instance_name` "microsoftonline.us" (MSAL.NET `KnownMetadataProvider.cs`;
/// IdentityModel's IDX40012 test), Graph `graph.microsoft.us`. China: `login.partner.microsoftonline.cn`
/// (MSAL.NET `KnownMetadataProvider.cs`), v1 issuer `https://sts.chinacloudapi.cn/{tid}/`
/// (MicrosoftDocs/azure-docs #123050); its `cloud_instance_name` and v2 issuer were NOT verified
/// in a capture (inferred from the login host, as MSAL's authority rules do).
struct Cloud {
    login: &'static str,
    instance_name: &'static str,
    aad_graph: &'static str,
    msgraph: &'static str,
    rbac: &'static str,
}

const PUBLIC: Cloud = Cloud {
    login: "https://login.microsoftonline.com",
    instance_name: "microsoftonline.com",
    aad_graph: "graph.windows.net",
    msgraph: "graph.microsoft.com",
    rbac: "https://pas.windows.net",
};
const US_GOV: Cloud = Cloud {
    login: "https://login.microsoftonline.us",
    instance_name: "microsoftonline.us",
    aad_graph: "graph.microsoftazure.us",
    msgraph: "graph.microsoft.us",
    rbac: "https://pasff.usgovcloudapi.net",
};
const CHINA: Cloud = Cloud {
    login: "https://login.partner.microsoftonline.cn",
    instance_name: "partner.microsoftonline.cn",
    aad_graph: "graph.chinacloudapi.cn",
    msgraph: "microsoftgraph.chinacloudapi.cn",
    rbac: "https://pas.chinacloudapi.cn",
};

/// The identity provider on 127.0.0.1: every document by URL, over real HTTP.
struct Provider {
    base: String,
    idp: Arc<CannedIdp>,
    /// The paths requested over HTTP, in order.
    served: Arc<Mutex<Vec<String>>>,
}

impl Provider {
    async fn start() -> Self {
        let idp = Arc::new(CannedIdp::empty());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        let served = Arc::new(Mutex::new(Vec::new()));
        let (docs, prefix, log) = (Arc::clone(&idp), base.clone(), Arc::clone(&served));
        let app = Router::new().fallback(move |req: Request| {
            let (docs, prefix, log) = (Arc::clone(&docs), prefix.clone(), Arc::clone(&log));
            async move {
                let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
                log.lock().unwrap().push(path.to_owned());
                let url = format!("{prefix}{}", path.trim_start_matches('/'));
                match docs.answer(&url) {
                    Some((status, body)) => (
                        StatusCode::from_u16(status).unwrap(),
                        [(
                            http::header::CONTENT_TYPE,
                            "application/json; charset=utf-8",
                        )],
                        body,
                    )
                        .into_response(),
                    None => Response::builder().status(404).body("".into()).unwrap(),
                }
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, idp, served }
    }

    /// How many requests asked for `path`.
    fn hits(&self, path: &str) -> usize {
        self.served
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.as_str() == path)
            .count()
    }

    fn publish(&self, path: &str, doc: &Value) {
        self.idp
            .set(&format!("{}{path}", self.base), 200, doc.to_string());
    }

    fn keys(&self, path: &str, keys: Vec<Value>) {
        self.publish(path, &json!({ "keys": keys }));
    }

    /// A validator over real HTTP (the default reqwest transport) at this provider, clock at NOW.
    fn validator(
        &self,
        tenant: &str,
        f: impl FnOnce(AuthConfigBuilder) -> AuthConfigBuilder,
    ) -> TokenValidator {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW.unsigned_abs()));
        let builder = AuthConfig::builder(tenant, CID)
            .instance(&self.base)
            .clock(Arc::new(clock));
        TokenValidator::new(f(builder).build().unwrap()).unwrap()
    }
}

/// A v2 access token's claims (access-token-claims-reference, "v2.0" example).
fn v2_claims(iss: &str, tid: &str) -> Value {
    json!({"aud": CID, "iss": iss, "iat": NOW - 60, "nbf": NOW - 60, "exp": NOW + 3540,
        "aio": "AXQAi/8TAAAA", "azp": "0e7c8d9a-1b2c-4d3e-8f4a-5b6c7d8e9f0a", "azpacr": "0",
        "name": "Alice", "oid": "a11ce000-0000-4000-8000-00000000a11c",
        "preferred_username": "alice@contoso.com", "rh": "0.AR8A", "scp": "weather.read",
        "sub": "pairwise-subject", "tid": tid, "uti": "fqiBqXLPj0eQa82S-IYFAA", "ver": "2.0"})
}

/// A v1 access token's claims (access-token-claims-reference, "v1.0" example): `aud` the App ID
/// URI, `appid`, `upn`, `unique_name`.
fn v1_claims(iss: &str, tid: &str) -> Value {
    json!({"aud": format!("api://{CID}"), "iss": iss, "iat": NOW - 60, "nbf": NOW - 60,
        "exp": NOW + 3540, "acr": "1", "aio": "ASQA2/8DAAAA", "amr": ["pwd"],
        "appid": "0e7c8d9a-1b2c-4d3e-8f4a-5b6c7d8e9f0a", "appidacr": "0", "family_name": "Example",
        "given_name": "Alice", "ipaddr": "203.0.113.7", "name": "Alice Example",
        "oid": "a11ce000-0000-4000-8000-00000000a11c", "rh": "0.AR8A", "scp": "weather.read",
        "sub": "v1-subject", "tid": tid, "unique_name": "alice@contoso.com",
        "upn": "alice@contoso.com", "uti": "fqiBqXLPj0eQa82S-IYFAA", "ver": "1.0"})
}

fn with(mut claims: Value, edits: &[(&str, Value)]) -> Value {
    for (k, v) in edits {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(*k);
        } else {
            claims[*k] = v.clone();
        }
    }
    claims
}

/// v2 header: kid only ("x5t is a legacy claim emitted only in v1.0 tokens").
fn v2_header(kid: &str) -> Value {
    json!({"typ": "JWT", "alg": "RS256", "kid": kid})
}
/// v1 header: x5t and kid with the same value (IdentityModel #551).
fn v1_header(kid: &str) -> Value {
    json!({"typ": "JWT", "alg": "RS256", "x5t": kid, "kid": kid})
}

fn sign_org(header: &Value, claims: &Value) -> String {
    TestSigner::new().sign_raw(header.to_string().as_bytes(), claims.to_string().as_bytes())
}

/// Validates each `(name, token, expected)`; `expected` is `"accepted"` or the error code. All
/// mismatches are reported at once.
async fn check(v: &TokenValidator, cases: Vec<(&str, String, &str)>) {
    let mut wrong = Vec::new();
    for (name, token, expected) in cases {
        let got = match v.validate(&token).await {
            Ok(_) => "accepted".to_owned(),
            Err(e) => {
                assert_eq!(
                    e.status(),
                    if e.code() == "keys_unavailable" {
                        503
                    } else {
                        401
                    }
                );
                e.code().to_owned()
            }
        };
        if got != expected {
            let detail = v.validate(&token).await.err().map(|e| e.to_string());
            wrong.push(format!(
                "{name}: expected {expected}, got {got} ({detail:?})"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The documents of a workforce tenant: v2 and v1 discovery and key sets.
fn publish_workforce(p: &Provider) {
    let v2_iss = format!("https://login.microsoftonline.com/{TID}/v2.0");
    let v1_iss = format!("https://sts.windows.net/{TID}/");
    p.publish(
        &format!("{TID}/v2.0/.well-known/openid-configuration"),
        &entra_v2_discovery(&p.base, TID, &v2_iss, json!("NA"), &PUBLIC),
    );
    p.publish(
        &format!("{TID}/.well-known/openid-configuration"),
        &entra_v1_discovery(&p.base, TID, &v1_iss, &PUBLIC),
    );
    // The tenant's v2 set: the org key with the {tenantid} issuer, the MSA key, and a key of the
    // US Government cloud served in the global set (key-level cloud_instance_name).
    p.keys(
        &format!("{TID}/discovery/v2.0/keys"),
        vec![
            org_key(Some("https://login.microsoftonline.com/{tenantid}/v2.0")),
            msa_key(),
            entra_key(
                "gov-key",
                &msa_n(),
                &msa_x5c(),
                Some("https://login.microsoftonline.us/{tenantid}/v2.0"),
                Some("microsoftonline.us"),
            ),
        ],
    );
    // The v1 set: the same keys without issuer.
    p.keys(&format!("{TID}/discovery/keys"), vec![org_key(None)]);
}

#[tokio::test]
async fn workforce_tenant_v1_and_v2_tokens_are_judged_as_entra_does() {
    let p = Provider::start().await;
    publish_workforce(&p);
    let v2_iss = format!("https://login.microsoftonline.com/{TID}/v2.0");
    let v1_iss = format!("https://sts.windows.net/{TID}/");
    let v = p.validator(TID, |b| b);
    let kid = org_kid();
    let app_only = with(
        v2_claims(&v2_iss, TID),
        &[
            ("scp", Value::Null),
            ("roles", json!(["Weather.Read.All"])),
            ("idtyp", json!("app")),
        ],
    );
    // An ID token of the same app registration: aud the client id, nonce, at_hash, no scp
    // (id-token-claims-reference).
    let id_token = with(
        v2_claims(&v2_iss, TID),
        &[
            ("scp", Value::Null),
            ("nonce", json!("n-0S6_WzA2Mj")),
            ("at_hash", json!("77QmUPtjPfzWtF2AnpK9RQ")),
        ],
    );
    check(
        &v,
        vec![
            (
                "v2 delegated, kid only",
                sign_org(&v2_header(&kid), &v2_claims(&v2_iss, TID)),
                "accepted",
            ),
            (
                "v2 app-only with roles",
                sign_org(&v2_header(&kid), &app_only),
                "accepted",
            ),
            (
                "v1 with x5t and kid",
                sign_org(&v1_header(&kid), &v1_claims(&v1_iss, TID)),
                "accepted",
            ),
            (
                "v1 with x5t only, no kid",
                sign_org(
                    &json!({"typ": "JWT", "alg": "RS256", "x5t": kid}),
                    &v1_claims(&v1_iss, TID),
                ),
                "accepted",
            ),
            (
                "v1 aud as the client id",
                sign_org(
                    &v1_header(&kid),
                    &with(v1_claims(&v1_iss, TID), &[("aud", json!(CID))]),
                ),
                "accepted",
            ),
            (
                "v2 signed by the MSA key (its issuer is the MSA tenant)",
                sign_foreign(&v2_header(&msa_kid()), &v2_claims(&v2_iss, TID)),
                "key_issuer_mismatch",
            ),
            (
                "v2 signed by a US Government key",
                sign_foreign(&v2_header("gov-key"), &v2_claims(&v2_iss, TID)),
                "key_issuer_mismatch",
            ),
            (
                "v2 token with a v1 issuer",
                sign_org(&v2_header(&kid), &v2_claims(&v1_iss, TID)),
                "issuer_mismatch",
            ),
            (
                "v2 of another tenant",
                sign_org(
                    &v2_header(&kid),
                    &v2_claims(
                        &format!("https://login.microsoftonline.com/{OTHER_TENANT}/v2.0"),
                        OTHER_TENANT,
                    ),
                ),
                "issuer_mismatch",
            ),
            (
                "ID token as bearer",
                sign_org(&v2_header(&kid), &id_token),
                "id_token_as_access_token",
            ),
            (
                "v1 for Azure AD Graph (URI with slash)",
                sign_org(
                    &v1_header(&kid),
                    &with(
                        v1_claims(&v1_iss, TID),
                        &[("aud", json!("https://graph.windows.net/"))],
                    ),
                ),
                "token_for_other_resource",
            ),
            (
                "v1 for Azure AD Graph (app id)",
                sign_org(
                    &v1_header(&kid),
                    &with(
                        v1_claims(&v1_iss, TID),
                        &[("aud", json!("00000002-0000-0000-c000-000000000000"))],
                    ),
                ),
                "token_for_other_resource",
            ),
            (
                "v1 for Azure Resource Manager",
                sign_org(
                    &v1_header(&kid),
                    &with(
                        v1_claims(&v1_iss, TID),
                        &[("aud", json!("https://management.core.windows.net/"))],
                    ),
                ),
                "token_for_other_resource",
            ),
            (
                "v2 for Key Vault (app id)",
                sign_org(
                    &v2_header(&kid),
                    &with(
                        v2_claims(&v2_iss, TID),
                        &[("aud", json!("cfa8b339-82a2-471a-a3c9-0fc0be7a4093"))],
                    ),
                ),
                "token_for_other_resource",
            ),
            (
                "v2 for another API",
                sign_org(
                    &v2_header(&kid),
                    &with(
                        v2_claims(&v2_iss, TID),
                        &[("aud", json!("api://someone-else"))],
                    ),
                ),
                "audience_mismatch",
            ),
            (
                "v2 expired an hour ago",
                sign_org(
                    &v2_header(&kid),
                    &with(v2_claims(&v2_iss, TID), &[("exp", json!(NOW - 3600))]),
                ),
                "token_expired",
            ),
            (
                "unknown kid",
                sign_org(&v2_header("rotated-away"), &v2_claims(&v2_iss, TID)),
                "unknown_signing_key",
            ),
        ],
    )
    .await;
    // fetched over HTTP: each metadata document once, each key set once more per unknown kid at
    // most (the forced refresh is rate-limited)
    for doc in [
        format!("/{TID}/v2.0/.well-known/openid-configuration"),
        format!("/{TID}/.well-known/openid-configuration"),
        format!("/{TID}/discovery/v2.0/keys"),
        format!("/{TID}/discovery/keys"),
    ] {
        assert!((1..=2).contains(&p.hits(&doc)), "{doc}: {}", p.hits(&doc));
    }
    // The Azure AD Graph answer names the resource and the fix.
    let e = v
        .validate(&sign_org(
            &v1_header(&kid),
            &with(
                v1_claims(&v1_iss, TID),
                &[("aud", json!("https://graph.windows.net"))],
            ),
        ))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("an access token for Azure AD Graph"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains(&format!("scope api://{CID}/.default")),
        "{e}"
    );
    assert!(
        e.to_string()
            .ends_with("not for https://graph.windows.net/.default"),
        "{e}"
    );
}

/// common and organizations publish the `{tenantid}` template issuer (IdentityModel "AADCommonV2";
/// panva/wellknown `entra-common.mjs`, `entra-organizations.mjs`); both key sets hold the org keys
/// and the MSA keys.
#[tokio::test]
async fn common_and_organizations_judge_each_tenant_by_the_allow_list() {
    let p = Provider::start().await;
    let template = "https://login.microsoftonline.com/{tenantid}/v2.0";
    for path in ["common", "organizations"] {
        p.publish(
            &format!("{path}/v2.0/.well-known/openid-configuration"),
            &entra_v2_discovery(&p.base, path, template, Value::Null, &PUBLIC),
        );
        p.keys(
            &format!("{path}/discovery/v2.0/keys"),
            vec![org_key(Some(template)), msa_key()],
        );
    }
    let kid = org_kid();
    let iss = |t: &str| format!("https://login.microsoftonline.com/{t}/v2.0");
    let personal = with(
        v2_claims(&iss(MSA_TID), MSA_TID),
        &[
            ("idp", json!("live.com")),
            ("preferred_username", json!("alice@outlook.com")),
        ],
    );
    for (authority, msa_allowed) in [("common", true), ("organizations", false)] {
        let mut allowed = vec![TID];
        if msa_allowed {
            allowed.push(MSA_TID);
        }
        let v = p.validator(authority, |b| {
            b.accepted_versions([entra_auth::TokenVersion::V2])
                .allowed_tenants(allowed)
        });
        check(
            &v,
            vec![
                (
                    "allowed tenant",
                    sign_org(&v2_header(&kid), &v2_claims(&iss(TID), TID)),
                    "accepted",
                ),
                (
                    "tenant not in the allow-list",
                    sign_org(
                        &v2_header(&kid),
                        &v2_claims(&iss(OTHER_TENANT), OTHER_TENANT),
                    ),
                    "tenant_not_allowed",
                ),
                (
                    "personal account signed by the MSA key",
                    sign_foreign(&v2_header(&msa_kid()), &personal),
                    if msa_allowed {
                        "accepted"
                    } else {
                        "tenant_not_allowed"
                    },
                ),
                (
                    "work account signed by the MSA key",
                    sign_foreign(&v2_header(&msa_kid()), &v2_claims(&iss(TID), TID)),
                    "key_issuer_mismatch",
                ),
                (
                    "tid and issuer tenant disagree",
                    sign_org(&v2_header(&kid), &v2_claims(&iss(TID), OTHER_TENANT)),
                    "issuer_mismatch",
                ),
                (
                    "no tid under a template issuer",
                    sign_org(
                        &v2_header(&kid),
                        &with(v2_claims(&iss(TID), TID), &[("tid", Value::Null)]),
                    ),
                    "missing_claim",
                ),
            ],
        )
        .await;
    }
}

/// consumers: the MSA tenant's issuer (coreos/go-oidc #121; the MSA key's issuer property). The
/// crate names that authority by its GUID (it has no `consumers` keyword).
#[tokio::test]
async fn consumers_accepts_personal_accounts_only() {
    let p = Provider::start().await;
    let iss = format!("https://login.microsoftonline.com/{MSA_TID}/v2.0");
    p.publish(
        &format!("{MSA_TID}/v2.0/.well-known/openid-configuration"),
        &entra_v2_discovery(&p.base, MSA_TID, &iss, Value::Null, &PUBLIC),
    );
    p.keys(&format!("{MSA_TID}/discovery/v2.0/keys"), vec![msa_key()]);
    let v = p.validator(MSA_TID, |b| {
        b.accepted_versions([entra_auth::TokenVersion::V2])
    });
    check(
        &v,
        vec![
            (
                "personal account",
                sign_foreign(&v2_header(&msa_kid()), &v2_claims(&iss, MSA_TID)),
                "accepted",
            ),
            (
                "work account",
                sign_org(
                    &v2_header(&org_kid()),
                    &v2_claims(
                        &format!("https://login.microsoftonline.com/{TID}/v2.0"),
                        TID,
                    ),
                ),
                "unknown_signing_key",
            ),
        ],
    )
    .await;
}

/// Azure AD B2C user flows and custom policies. Discovery at
/// `{tenant}.b2clogin.com/{tenant}.onmicrosoft.com/{policy}/v2.0/.well-known/openid-configuration`;
/// `iss` `https://{domain}/{tid}/v2.0/` (trailing slash) by default, or
/// `https://{domain}/tfp/{tid}/{policy}/v2.0/` (IssuanceClaimPattern AuthorityWithTfp); the policy in
/// `tfp` (default) or `acr` (backward compatibility); access tokens `ver` 1.0; keys with kid, use,
/// kty, e, n only. Sources: <https://learn.microsoft.com/azure/active-directory-b2c/tokens-overview>,
/// <https://learn.microsoft.com/azure/active-directory-b2c/configure-tokens>, dotnet/aspnetcore
/// #52283 (a B2C key set in a log).
fn b2c_discovery(base: &str, policy: &str, issuer: &str) -> Value {
    let host = "https://contoso.b2clogin.com/contoso.onmicrosoft.com";
    let p = policy.to_ascii_lowercase();
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{host}/{p}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{host}/{p}/oauth2/v2.0/token"),
        "end_session_endpoint": format!("{host}/{p}/oauth2/v2.0/logout"),
        "jwks_uri": format!("{base}contoso.onmicrosoft.com/{p}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "response_types_supported": ["code", "code id_token", "code token", "code id_token token",
            "id_token", "id_token token", "token", "token id_token"],
        "scopes_supported": ["openid"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["name", "emails", "sub", "idp", "tfp", "iss", "iat", "exp", "aud",
            "acr", "nonce", "auth_time"],
    })
}

fn b2c_claims(iss: &str, policy_claim: Option<(&str, &str)>) -> Value {
    let mut c = json!({"exp": NOW + 3600, "nbf": NOW - 60, "ver": "1.0", "iss": iss,
        "sub": "b2c-user-object-id", "aud": CID, "iat": NOW - 60, "auth_time": NOW - 60,
        "oid": "b2c00000-0000-4000-8000-0000000000b2", "scp": "weather.read",
        "azp": "0e7c8d9a-1b2c-4d3e-8f4a-5b6c7d8e9f0a"});
    if let Some((k, v)) = policy_claim {
        c[k] = json!(v);
    }
    c
}

#[tokio::test]
async fn b2c_user_flows_custom_policies_and_legacy_issuers() {
    let p = Provider::start().await;
    let b2c_key = json!({"kid": "X5eXk4xyojNFum1kl2Ytv8dlNP4-c57dO6QGTVBwaNk", "use": "sig",
        "kty": "RSA", "e": "AQAB", "n": TEST_KEY_N.trim()});
    let kid = "X5eXk4xyojNFum1kl2Ytv8dlNP4-c57dO6QGTVBwaNk";
    let header = json!({"alg": "RS256", "kid": kid, "typ": "JWT"});
    let default_iss = format!("https://contoso.b2clogin.com/{B2C_TID}/v2.0/");
    let tfp_iss = format!("https://contoso.b2clogin.com/tfp/{B2C_TID}/b2c_1a_signin/v2.0/");
    // before b2clogin.com: login.microsoftonline.com, the same trailing slash
    let legacy_iss = format!("https://login.microsoftonline.com/{B2C_TID}/v2.0/");
    for (policy, issuer) in [
        ("B2C_1_susi", &default_iss),
        ("B2C_1A_signin", &tfp_iss),
        ("B2C_1_legacy", &legacy_iss),
    ] {
        let lower = policy.to_ascii_lowercase();
        p.publish(
            &format!("contoso.onmicrosoft.com/{policy}/v2.0/.well-known/openid-configuration"),
            &b2c_discovery(&p.base, policy, issuer),
        );
        p.keys(
            &format!("contoso.onmicrosoft.com/{lower}/discovery/v2.0/keys"),
            vec![b2c_key.clone()],
        );
    }
    let user_flow = p.validator(TID, |b| b.b2c("contoso", "B2C_1_susi"));
    check(
        &user_flow,
        vec![
            (
                "tfp",
                sign_org(
                    &header,
                    &b2c_claims(&default_iss, Some(("tfp", "B2C_1_susi"))),
                ),
                "accepted",
            ),
            (
                "acr",
                sign_org(
                    &header,
                    &b2c_claims(&default_iss, Some(("acr", "b2c_1_susi"))),
                ),
                "accepted",
            ),
            (
                "neither tfp nor acr",
                sign_org(&header, &b2c_claims(&default_iss, None)),
                "accepted",
            ),
            (
                "issuer without the trailing slash",
                sign_org(
                    &header,
                    &b2c_claims(
                        default_iss.trim_end_matches('/'),
                        Some(("tfp", "B2C_1_susi")),
                    ),
                ),
                "issuer_mismatch",
            ),
            (
                "legacy login.microsoftonline.com issuer",
                sign_org(
                    &header,
                    &b2c_claims(&legacy_iss, Some(("tfp", "B2C_1_susi"))),
                ),
                "issuer_mismatch",
            ),
            (
                "ID token of the user flow",
                sign_org(
                    &header,
                    &with(
                        b2c_claims(&default_iss, Some(("tfp", "B2C_1_susi"))),
                        &[("scp", Value::Null), ("nonce", json!("n"))],
                    ),
                ),
                "id_token_as_access_token",
            ),
        ],
    )
    .await;
    let custom = p.validator(TID, |b| b.b2c("contoso", "B2C_1A_signin"));
    check(
        &custom,
        vec![
            (
                "tfp issuer, acr",
                sign_org(
                    &header,
                    &b2c_claims(&tfp_iss, Some(("acr", "b2c_1a_signin"))),
                ),
                "accepted",
            ),
            (
                "tfp issuer, tfp",
                sign_org(
                    &header,
                    &b2c_claims(&tfp_iss, Some(("tfp", "B2C_1A_signin"))),
                ),
                "accepted",
            ),
            (
                "default issuer against a tfp policy",
                sign_org(
                    &header,
                    &b2c_claims(&default_iss, Some(("tfp", "B2C_1A_signin"))),
                ),
                "issuer_mismatch",
            ),
        ],
    )
    .await;
    let legacy = p.validator(TID, |b| b.b2c("contoso", "B2C_1_legacy"));
    check(
        &legacy,
        vec![(
            "legacy issuer with trailing slash",
            sign_org(
                &header,
                &b2c_claims(&legacy_iss, Some(("tfp", "B2C_1_legacy"))),
            ),
            "accepted",
        )],
    )
    .await;
}

/// External ID (CIAM): discovery at `{name}.ciamlogin.com/{tid}/v2.0/.well-known/openid-configuration`,
/// issuer `https://{tid}.ciamlogin.com/{tid}/v2.0` (the GUID as the host label; MSAL.NET
/// `OidcRetrieverWithCache.ValidateIssuer`, msal-js #8595), endpoints and keys on the name host
/// (a published capture; oauth2-proxy #3476). No captured CIAM key set shows a key `issuer`: keys
/// are accepted with none or with the ciamlogin issuer of the token's own tenant (what
/// Microsoft.Identity.Web's `EnableAadSigningKeyIssuerValidation` lets through), never another
/// tenant's key.
#[tokio::test]
async fn external_id_accepts_keys_of_its_own_tenant_only() {
    let p = Provider::start().await;
    let iss = format!("https://{CIAM_TID}.ciamlogin.com/{CIAM_TID}/v2.0");
    let ciam = Cloud {
        login: "https://contoso.ciamlogin.com",
        ..PUBLIC
    };
    let doc = entra_v2_discovery(&p.base, CIAM_TID, &iss, json!("NA"), &ciam);
    p.publish(
        &format!("{CIAM_TID}/v2.0/.well-known/openid-configuration"),
        &doc,
    );
    let n = TEST_KEY_N.trim();
    p.keys(
        &format!("{CIAM_TID}/discovery/v2.0/keys"),
        vec![
            entra_key("no-issuer", n, &org_x5c(), None, None),
            entra_key("own-tenant", n, &org_x5c(), Some(&iss), None),
            entra_key(
                "template",
                n,
                &org_x5c(),
                Some("https://{tenantid}.ciamlogin.com/{tenantid}/v2.0"),
                None,
            ),
            entra_key(
                "other-tenant",
                n,
                &org_x5c(),
                Some(&format!(
                    "https://{OTHER_TENANT}.ciamlogin.com/{OTHER_TENANT}/v2.0"
                )),
                None,
            ),
            entra_key(
                "workforce-issuer",
                n,
                &org_x5c(),
                Some(&format!(
                    "https://login.microsoftonline.com/{CIAM_TID}/v2.0"
                )),
                None,
            ),
        ],
    );
    // Configured by its domain, the same tenant is served the same document (issuer on the GUID
    // host, whatever the name in the URL: msal-js #8595).
    p.publish(
        "contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration",
        &doc,
    );
    let by_domain = p.validator("contoso.onmicrosoft.com", |b| {
        b.accepted_versions([entra_auth::TokenVersion::V2])
    });
    let v = p.validator(CIAM_TID, |b| {
        b.accepted_versions([entra_auth::TokenVersion::V2])
    });
    let claims = v2_claims(&iss, CIAM_TID);
    check(
        &by_domain,
        vec![
            (
                "by domain, key without issuer",
                sign_org(&v2_header("no-issuer"), &claims),
                "accepted",
            ),
            (
                "by domain, another tenant's key",
                sign_org(&v2_header("other-tenant"), &claims),
                "key_issuer_mismatch",
            ),
        ],
    )
    .await;
    check(
        &v,
        vec![
            (
                "key without issuer",
                sign_org(&v2_header("no-issuer"), &claims),
                "accepted",
            ),
            (
                "key with the tenant's ciamlogin issuer",
                sign_org(&v2_header("own-tenant"), &claims),
                "accepted",
            ),
            (
                "key with the ciamlogin template",
                sign_org(&v2_header("template"), &claims),
                "accepted",
            ),
            (
                "another tenant's key",
                sign_org(&v2_header("other-tenant"), &claims),
                "key_issuer_mismatch",
            ),
            (
                "a workforce-issuer key",
                sign_org(&v2_header("workforce-issuer"), &claims),
                "key_issuer_mismatch",
            ),
            (
                "token with the login.microsoftonline.com issuer",
                sign_org(
                    &v2_header("no-issuer"),
                    &v2_claims(
                        &format!("https://login.microsoftonline.com/{CIAM_TID}/v2.0"),
                        CIAM_TID,
                    ),
                ),
                "issuer_mismatch",
            ),
            (
                "token of another CIAM tenant",
                sign_org(
                    &v2_header("other-tenant"),
                    &v2_claims(
                        &format!("https://{OTHER_TENANT}.ciamlogin.com/{OTHER_TENANT}/v2.0"),
                        OTHER_TENANT,
                    ),
                ),
                "issuer_mismatch",
            ),
        ],
    )
    .await;
}

/// US Government and China: each cloud's issuers; a token of the public cloud is refused, and the
/// cloud's own Microsoft Graph is named.
#[tokio::test]
async fn us_government_and_china_tokens_are_judged_by_their_cloud() {
    for (cloud, v2_iss, v1_iss) in [
        (
            &US_GOV,
            format!("https://login.microsoftonline.us/{TID}/v2.0"),
            None,
        ),
        (
            &CHINA,
            // v2 issuer inferred (not captured); v1 from MicrosoftDocs/azure-docs #123050
            format!("https://login.partner.microsoftonline.cn/{TID}/v2.0"),
            Some(format!("https://sts.chinacloudapi.cn/{TID}/")),
        ),
    ] {
        let p = Provider::start().await;
        p.publish(
            &format!("{TID}/v2.0/.well-known/openid-configuration"),
            &entra_v2_discovery(&p.base, TID, &v2_iss, json!("NA"), cloud),
        );
        p.keys(
            &format!("{TID}/discovery/v2.0/keys"),
            vec![entra_key(
                &org_kid(),
                TEST_KEY_N.trim(),
                &org_x5c(),
                Some(&format!("{}/{{tenantid}}/v2.0", cloud.login)),
                Some(cloud.instance_name),
            )],
        );
        let kid = org_kid();
        let graph = format!("https://{}", cloud.msgraph);
        let mut cases = vec![
            (
                "v2 of the cloud",
                sign_org(&v2_header(&kid), &v2_claims(&v2_iss, TID)),
                "accepted",
            ),
            (
                "v2 of the public cloud",
                sign_org(
                    &v2_header(&kid),
                    &v2_claims(
                        &format!("https://login.microsoftonline.com/{TID}/v2.0"),
                        TID,
                    ),
                ),
                "issuer_mismatch",
            ),
            (
                "v2 for the cloud's Microsoft Graph",
                sign_org(
                    &v2_header(&kid),
                    &with(v2_claims(&v2_iss, TID), &[("aud", json!(graph))]),
                ),
                "token_for_other_resource",
            ),
        ];
        let versions = if let Some(v1) = &v1_iss {
            p.publish(
                &format!("{TID}/.well-known/openid-configuration"),
                &entra_v1_discovery(&p.base, TID, v1, cloud),
            );
            p.keys(&format!("{TID}/discovery/keys"), vec![org_key(None)]);
            cases.push((
                "v1 of the cloud",
                sign_org(&v1_header(&kid), &v1_claims(v1, TID)),
                "accepted",
            ));
            cases.push((
                "v1 of the public cloud",
                sign_org(
                    &v1_header(&kid),
                    &v1_claims(&format!("https://sts.windows.net/{TID}/"), TID),
                ),
                "issuer_mismatch",
            ));
            vec![entra_auth::TokenVersion::V2, entra_auth::TokenVersion::V1]
        } else {
            vec![entra_auth::TokenVersion::V2]
        };
        let v = p.validator(TID, |b| b.accepted_versions(versions));
        check(&v, cases).await;
    }
}

/// Over HTTP through the AuthLayer (a route requiring `weather.read` or `Weather.Read.All`): the
/// common mistakes answer 401 with an `invalid_token` challenge and a problem body naming the fix
/// (an ID token got 403 "neither a scope nor a roles claim" before).
#[tokio::test]
async fn common_mistakes_answer_401_with_the_fix_over_http() {
    let p = Provider::start().await;
    publish_workforce(&p);
    let api = crate::common::serve(crate::common::protected_router(p.validator(TID, |b| b))).await;
    let v1_iss = format!("https://sts.windows.net/{TID}/");
    let v2_iss = format!("https://login.microsoftonline.com/{TID}/v2.0");
    let kid = org_kid();
    let cases = [
        (
            sign_org(
                &v1_header(&kid),
                &with(v1_claims(&v1_iss, TID), &[("aud", json!("https://graph.windows.net"))]),
            ),
            "token_for_other_resource",
            "this is an access token for Azure AD Graph",
        ),
        (
            sign_org(
                &v1_header(&kid),
                &with(v1_claims(&v1_iss, TID), &[("aud", json!("https://storage.azure.com/"))]),
            ),
            "token_for_other_resource",
            "not for https://storage.azure.com/.default",
        ),
        (
            sign_org(
                &v2_header(&kid),
                &with(
                    v2_claims(&v2_iss, TID),
                    &[("scp", Value::Null), ("nonce", json!("n-0S6_WzA2Mj")), ("c_hash", json!("LDktKdoQak3Pk0cnXxCltA"))],
                ),
            ),
            "id_token_as_access_token",
            "this is an ID token, not an access token (it carries nonce, c_hash and neither a scp nor a roles claim)",
        ),
    ];
    let client = crate::common::client();
    for (token, code, says) in cases {
        let res = client
            .get(format!("{api}/weather"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{code}");
        let challenge = res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\", error_description=\""),
            "{challenge}"
        );
        assert!(challenge.contains(says), "{challenge}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], code);
        assert_eq!(body["status"], 401);
        assert_eq!(body["type"], format!("urn:entra-auth:problem:{code}"));
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{detail}");
        assert!(
            detail.contains(&format!("api://{CID}/.default")),
            "{detail}"
        );
    }
}
