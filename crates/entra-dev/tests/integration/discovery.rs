//! Metadata documents and key sets over real HTTP: well-formed, consistent with minted tokens, and every
//! minted token verifies with an independent implementation (jsonwebtoken).

use crate::common;

use crate::common::{get_json, http, peek, spawn, spawn_with, verify};
use entra_dev::defaults::{DEV_API_APP_ID_URI, DEV_API_CLIENT_ID, DEV_TENANT_ID};
use entra_dev::{DevIssuerConfig, Subject, TokenRequest, TokenVersion};

#[tokio::test]
async fn v2_metadata_issuer_equals_iss_of_minted_v2_token_and_keys_verify_it() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let client = http();
    let meta = get_json(
        &client,
        &format!("{base}{DEV_TENANT_ID}/v2.0/.well-known/openid-configuration"),
    )
    .await;
    let issuer = meta["issuer"].as_str().unwrap();
    assert_eq!(issuer, format!("{base}{DEV_TENANT_ID}/v2.0"));
    assert_eq!(
        meta["jwks_uri"],
        format!("{base}{DEV_TENANT_ID}/discovery/v2.0/keys")
    );
    assert_eq!(
        meta["token_endpoint"],
        format!("{base}{DEV_TENANT_ID}/oauth2/v2.0/token")
    );
    assert_eq!(
        meta["authorization_endpoint"],
        format!("{base}{DEV_TENANT_ID}/oauth2/v2.0/authorize")
    );
    assert_eq!(meta["id_token_signing_alg_values_supported"][0], "RS256");

    let jwks = get_json(&client, meta["jwks_uri"].as_str().unwrap()).await;
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["kid"], running.issuer.current_kid());
    assert_eq!(key["x5t"], key["kid"]);
    assert_eq!(key["e"], "AQAB");
    assert!(key["x5c"][0].as_str().unwrap().len() > 500);
    assert_eq!(key["issuer"], format!("{base}{{tenantid}}/v2.0"));

    let token = running
        .issuer
        .mint(&TokenRequest {
            scopes: vec!["weather.read".into()],
            ..TokenRequest::default()
        })
        .unwrap();
    let claims = verify(&token, &jwks, issuer, DEV_API_CLIENT_ID);
    assert_eq!(claims["iss"], issuer);
    assert_eq!(claims["ver"], "2.0");
    assert_eq!(claims["scp"], "weather.read");
    assert_eq!(claims["tid"], DEV_TENANT_ID);
    assert_eq!(claims["name"], "Alice Example");
    assert_eq!(claims["preferred_username"], "alice@dev.example");
    assert_eq!(running.issuer.stats().metadata_requests, 1);
    assert_eq!(running.issuer.stats().key_requests, 1);
    // the same counters over HTTP, for load tests that run the issuer as a separate process
    let stats = get_json(&client, &format!("{base}stats")).await;
    assert_eq!(stats["metadata_requests"], 1);
    assert_eq!(stats["key_requests"], 1);
    assert_eq!(stats["tokens_issued"], 0);
}

#[tokio::test]
async fn v1_metadata_issuer_equals_iss_of_minted_v1_token_and_v1_keys_verify_it() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let client = http();
    let meta = get_json(
        &client,
        &format!("{base}{DEV_TENANT_ID}/.well-known/openid-configuration"),
    )
    .await;
    let issuer = meta["issuer"].as_str().unwrap();
    assert_eq!(issuer, format!("{base}{DEV_TENANT_ID}/"));
    assert_eq!(
        meta["jwks_uri"],
        format!("{base}{DEV_TENANT_ID}/discovery/keys")
    );
    assert_eq!(
        meta["token_endpoint"],
        format!("{base}{DEV_TENANT_ID}/oauth2/token")
    );
    let jwks = get_json(&client, meta["jwks_uri"].as_str().unwrap()).await;
    assert!(
        jwks["keys"][0].get("issuer").is_none(),
        "v1 keys carry no issuer"
    );

    let token = running
        .issuer
        .mint(&TokenRequest {
            version: TokenVersion::V1,
            scopes: vec!["weather.read".into(), "weather.write".into()],
            ..TokenRequest::default()
        })
        .unwrap();
    let header = common::header(&token);
    assert_eq!(header["x5t"], jwks["keys"][0]["x5t"]);
    assert_eq!(header["typ"], "JWT");
    let claims = verify(&token, &jwks, issuer, DEV_API_APP_ID_URI);
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(claims["scp"], "weather.read weather.write");
    assert_eq!(claims["upn"], "alice@dev.example");
    assert_eq!(claims["unique_name"], "alice@dev.example");
    assert_eq!(claims["appid"], entra_dev::defaults::DEV_PUBLIC_CLIENT_ID);
    assert_eq!(claims["appidacr"], "0");
}

#[tokio::test]
async fn common_metadata_has_template_issuer_matching_minted_tokens_after_substitution() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let client = http();
    for alias in ["common", "organizations"] {
        let meta = get_json(
            &client,
            &format!("{base}{alias}/v2.0/.well-known/openid-configuration"),
        )
        .await;
        assert_eq!(meta["issuer"], format!("{base}{{tenantid}}/v2.0"));
        assert_eq!(
            meta["jwks_uri"],
            format!("{base}{alias}/discovery/v2.0/keys")
        );
        let v1 = get_json(
            &client,
            &format!("{base}{alias}/.well-known/openid-configuration"),
        )
        .await;
        assert_eq!(v1["issuer"], format!("{base}{{tenantid}}/"));

        let other_tenant = "11111111-2222-4333-8444-555555555555";
        let token = running
            .issuer
            .mint(&TokenRequest {
                tenant_id: Some(other_tenant.into()),
                ..TokenRequest::default()
            })
            .unwrap();
        let template = meta["issuer"].as_str().unwrap();
        let expected = template.replace("{tenantid}", other_tenant);
        let jwks = get_json(&client, meta["jwks_uri"].as_str().unwrap()).await;
        let key_issuer = jwks["keys"][0]["issuer"].as_str().unwrap();
        assert_eq!(key_issuer.replace("{tenantid}", other_tenant), expected);
        let claims = verify(&token, &jwks, &expected, DEV_API_CLIENT_ID);
        assert_eq!(claims["tid"], other_tenant);
    }
}

#[tokio::test]
async fn b2c_metadata_issuer_has_trailing_slash_and_matches_b2c_tokens() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let client = http();
    let meta = get_json(
        &client,
        &format!("{base}devb2c.onmicrosoft.com/B2C_1_susi/v2.0/.well-known/openid-configuration"),
    )
    .await;
    let issuer = meta["issuer"].as_str().unwrap();
    assert_eq!(issuer, format!("{base}{DEV_TENANT_ID}/v2.0/"));
    assert_eq!(
        meta["jwks_uri"],
        format!("{base}devb2c.onmicrosoft.com/B2C_1_susi/discovery/v2.0/keys")
    );
    let jwks = get_json(&client, meta["jwks_uri"].as_str().unwrap()).await;
    assert!(jwks["keys"][0].get("issuer").is_none());
    let token = running
        .issuer
        .mint(&TokenRequest {
            b2c_policy: Some("B2C_1_susi".into()),
            scopes: vec!["weather.read".into()],
            ..TokenRequest::default()
        })
        .unwrap();
    let claims = verify(&token, &jwks, issuer, DEV_API_CLIENT_ID);
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(claims["tfp"], "B2C_1_susi");
    assert_eq!(claims["sub"], claims["oid"]);
}

#[tokio::test]
async fn app_only_tokens_carry_roles_idtyp_and_service_principal_and_verify() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let jwks = get_json(
        &http(),
        &format!("{base}{DEV_TENANT_ID}/discovery/v2.0/keys"),
    )
    .await;
    let token = running
        .issuer
        .mint(&TokenRequest {
            subject: Subject::App {
                client_id: entra_dev::defaults::DEV_DAEMON_CLIENT_ID.into(),
            },
            roles: vec!["Weather.Read.All".into()],
            ..TokenRequest::default()
        })
        .unwrap();
    let claims = verify(
        &token,
        &jwks,
        &running.issuer.issuer_v2(DEV_TENANT_ID),
        DEV_API_CLIENT_ID,
    );
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["roles"], serde_json::json!(["Weather.Read.All"]));
    assert!(claims.get("scp").is_none());
    assert_eq!(claims["azp"], entra_dev::defaults::DEV_DAEMON_CLIENT_ID);
    assert_eq!(claims["azpacr"], "1");
    assert_eq!(
        claims["oid"],
        entra_dev::defaults::DEV_DAEMON_SERVICE_PRINCIPAL_ID
    );
    assert_eq!(claims["sub"], claims["oid"]);
    assert_eq!(peek(&token)["ver"], "2.0");
}

#[tokio::test]
async fn x5c_certificate_holds_the_published_key_and_x5t_is_its_sha1_thumbprint() {
    use base64::Engine as _;
    use der::{Decode as _, Encode as _};
    use sha1::Digest as _;
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let jwks = get_json(
        &http(),
        &format!("{base}{DEV_TENANT_ID}/discovery/v2.0/keys"),
    )
    .await;
    let key = &jwks["keys"][0];
    let der_bytes = base64::engine::general_purpose::STANDARD
        .decode(key["x5c"][0].as_str().unwrap())
        .unwrap();
    let x5t =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&der_bytes));
    assert_eq!(key["x5t"], x5t.as_str());
    let cert = x509_cert::Certificate::from_der(&der_bytes).unwrap();
    let spki_der = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .unwrap();
    use rsa::pkcs8::DecodePublicKey as _;
    use rsa::traits::PublicKeyParts as _;
    let public = rsa::RsaPublicKey::from_public_key_der(&spki_der).unwrap();
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    assert_eq!(key["n"], b64(public.n().to_bytes_be()).as_str());
    assert_eq!(key["e"], b64(public.e().to_bytes_be()).as_str());
    assert_eq!(public.n().bits(), 2048);
    assert!(cert
        .tbs_certificate
        .subject
        .to_string()
        .contains("entra-dev"));
}

#[tokio::test]
async fn only_the_allowed_origins_may_read_documents_and_tokens_from_a_browser() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let metadata = format!("{base}{DEV_TENANT_ID}/v2.0/.well-known/openid-configuration");
    let token = format!("{base}{DEV_TENANT_ID}/oauth2/v2.0/token");
    // weather-api's /docs on its default address (the default allowed_origins)
    let res = http()
        .get(&metadata)
        .header("origin", "http://localhost:8000")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://localhost:8000"
    );
    assert!(res.headers()["vary"].to_str().unwrap().contains("origin"));
    let res = http()
        .request(reqwest::Method::OPTIONS, &token)
        .header("origin", "http://localhost:8000")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://localhost:8000"
    );
    assert!(res.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));

    // Any other page: no CORS headers, so the browser hides the answer (a dev token included).
    let evil = "https://evil.example";
    let res = http()
        .get(&metadata)
        .header("origin", evil)
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    let res = http()
        .post(&token)
        .header("origin", evil)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", entra_dev::defaults::DEV_DAEMON_CLIENT_ID),
            (
                "client_secret",
                entra_dev::defaults::DEV_DAEMON_CLIENT_SECRET,
            ),
            (
                "scope",
                &format!("api://{}/.default", entra_dev::defaults::DEV_API_CLIENT_ID),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "the issuer still serves non-browser clients"
    );
    assert!(res.headers().get("access-control-allow-origin").is_none());
    let res = http()
        .request(reqwest::Method::OPTIONS, &token)
        .header("origin", evil)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn control_endpoints_take_json_only_and_answer_no_cors() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    // A cross-site page can POST text/plain without a preflight: refused, nothing switched.
    for (method, path, body) in [
        (
            reqwest::Method::PUT,
            "control/switches",
            r#"{"outage": true}"#,
        ),
        (
            reqwest::Method::POST,
            "control/revoke",
            r#"{"user": "alice"}"#,
        ),
        (reqwest::Method::POST, "control/revoke", "user=alice"),
    ] {
        let res = http()
            .request(method, format!("{base}{path}"))
            .header("origin", "https://evil.example")
            .header("content-type", "text/plain")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 415, "{path}");
        assert!(res.headers().get("access-control-allow-origin").is_none());
        let error: serde_json::Value = res.json().await.unwrap();
        assert_eq!(error["error"], "invalid_request");
        assert!(error["error_description"]
            .as_str()
            .unwrap()
            .contains("Content-Type: application/json"));
    }
    assert!(!running.issuer.switches().outage, "nothing was switched");
    // Not even an allowed origin gets a preflight through to the control endpoints.
    let res = http()
        .request(reqwest::Method::OPTIONS, format!("{base}control/switches"))
        .header("origin", "http://localhost:8000")
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    // The CLI's and the tests' JSON requests work.
    let res = http()
        .put(format!("{base}control/switches"))
        .json(&serde_json::json!({"outage": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(running.issuer.switches().outage);
}

/// Sends `GET path` with this `Host` on a new connection; the status code.
fn status_for_host(addr: std::net::SocketAddr, path: &str, host: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

#[tokio::test]
async fn requests_for_other_hosts_are_refused_against_dns_rebinding() {
    let running = spawn_with(DevIssuerConfig {
        allowed_hosts: vec!["issuer.internal".into()],
        ..DevIssuerConfig::default()
    })
    .await;
    let addr = running.addr;
    let path = format!("/{DEV_TENANT_ID}/v2.0/.well-known/openid-configuration");
    let statuses = tokio::task::spawn_blocking(move || {
        [
            "evil.example",
            "evil.example:8400",
            "127.0.0.1.nip.io",
            "localhost:1",
            "127.0.0.1",
            "[::1]:8400",
            "issuer.internal:8400",
        ]
        .map(|host| (host, status_for_host(addr, &path, host)))
    })
    .await
    .unwrap();
    assert_eq!(
        statuses,
        [
            ("evil.example", 403),
            ("evil.example:8400", 403),
            ("127.0.0.1.nip.io", 403),
            ("localhost:1", 200),
            ("127.0.0.1", 200),
            ("[::1]:8400", 200),
            ("issuer.internal:8400", 200),
        ]
    );
}

#[tokio::test]
async fn index_page_links_the_documents_and_says_development_only() {
    let running = spawn().await;
    let base = running.url().as_str().to_owned();
    let res = http().get(&base).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("DEVELOPMENT ONLY"));
    assert!(html.contains(&format!(
        "{base}{DEV_TENANT_ID}/v2.0/.well-known/openid-configuration"
    )));
}
