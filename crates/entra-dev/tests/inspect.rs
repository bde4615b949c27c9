//! `entra-dev inspect TOKEN --settings FILE`: the `entra-dev` binary explains tokens minted by an
//! in-process development issuer against a service's settings, fetching the metadata and keys over
//! real HTTP (or reading them from files for an offline replay), one case per rejection class.
#![cfg(feature = "inspect")]
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use entra_dev::defaults::{DEV_API_CLIENT_ID, DEV_TENANT_ID};
use entra_dev::{RunningDevIssuer, TokenRequest};
use serde_json::{json, Value};

fn inspect(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_entra-dev"))
        .arg("inspect")
        .args(args)
        .env_remove("ENTRA_DEV_INSTANCE")
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .unwrap()
}

/// Runs `inspect TOKEN --settings FILE --json ...` and returns (exit success, JSON, stderr).
fn explain(token: &str, settings: &Path, extra: &[&str]) -> (bool, Value, String) {
    let mut args = vec![token, "--settings", settings.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let out = inspect(&args);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (
        out.status.success(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &Path, name: &str, v: &Value) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p
}

/// weather-api's `azure_ad` section pointing at the running issuer (its development-mode setup).
fn settings(dir: &Path, dev: &RunningDevIssuer) -> std::path::PathBuf {
    write(
        dir,
        "settings.json",
        &json!({"bind": "127.0.0.1:8000", "azure_ad": {
            "instance": dev.url().as_str(), "tenant_id": DEV_TENANT_ID, "client_id": DEV_API_CLIENT_ID,
            "read_role": "Weather.Read.All"}}),
    )
}

fn mint(dev: &RunningDevIssuer, f: impl FnOnce(&mut TokenRequest)) -> String {
    let mut req = TokenRequest {
        scopes: vec!["weather.read".into()],
        ..TokenRequest::default()
    };
    f(&mut req);
    dev.issuer.mint(&req).unwrap()
}

fn step<'a>(j: &'a Value, check: &str) -> &'a Value {
    j["explanation"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["check"] == check)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_with_settings_names_the_failing_check_and_code_of_every_rejection_class() {
    let dev = common::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let file = settings(dir.path(), &dev);
    let header_kid = |kid: &str| {
        let mut m = serde_json::Map::new();
        m.insert("kid".into(), json!(kid));
        m
    };
    let nonce = {
        let mut m = serde_json::Map::new();
        m.insert("nonce".into(), json!("graph-nonce"));
        m
    };
    let good = mint(&dev, |_| {});
    // the payload of another token under the first one's signature
    let forged = {
        let other = mint(&dev, |r| r.scopes = vec!["weather.write".into()]);
        let g: Vec<&str> = good.split('.').collect();
        let o: Vec<&str> = other.split('.').collect();
        format!("{}.{}.{}", g[0], o[1], g[2])
    };
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "expired",
            mint(&dev, |r| {
                r.issued_at = Some(SystemTime::now() - Duration::from_secs(7200));
                r.lifetime = Some(Duration::from_secs(3600));
            }),
            "lifetime",
            "token_expired",
        ),
        (
            "not yet valid",
            mint(&dev, |r| {
                r.issued_at = Some(SystemTime::now() + Duration::from_secs(3600));
                r.not_before = Some(SystemTime::now() + Duration::from_secs(3600));
            }),
            "lifetime",
            "token_not_yet_valid",
        ),
        (
            "wrong audience",
            mint(&dev, |r| r.audience = Some("api://someone-else".into())),
            "audience",
            "audience_mismatch",
        ),
        (
            "Microsoft Graph audience",
            mint(&dev, |r| {
                r.audience = Some("00000003-0000-0000-c000-000000000000".into())
            }),
            "audience",
            "token_for_other_resource",
        ),
        (
            "Azure AD Graph audience",
            mint(&dev, |r| {
                r.audience = Some("https://graph.windows.net/".into())
            }),
            "audience",
            "token_for_other_resource",
        ),
        (
            "Graph nonce header",
            mint(&dev, |r| r.extra_header = nonce.clone()),
            "header",
            "token_for_other_resource",
        ),
        (
            "ID token",
            mint(&dev, |r| {
                r.scopes.clear();
                r.extra_claims.insert("nonce".into(), json!("n-0S6_WzA2Mj"));
                r.extra_claims
                    .insert("at_hash".into(), json!("77QmUPtjPfzWtF2AnpK9RQ"));
            }),
            "token_type",
            "id_token_as_access_token",
        ),
        (
            "foreign issuer",
            mint(&dev, |r| {
                r.extra_claims.insert(
                    "iss".into(),
                    json!(format!("https://evil.example/{DEV_TENANT_ID}/v2.0")),
                );
            }),
            "issuer",
            "issuer_mismatch",
        ),
        (
            "other tenant",
            mint(&dev, |r| {
                r.tenant_id = Some("11111111-2222-4333-8444-555555555555".into())
            }),
            "issuer",
            "issuer_mismatch",
        ),
        ("bad signature", forged, "signature", "invalid_signature"),
        (
            "unknown kid",
            mint(&dev, |r| r.extra_header = header_kid("rotated-away")),
            "signing_key",
            "unknown_signing_key",
        ),
    ];
    let mut wrong = Vec::new();
    for (name, token, check, code) in &cases {
        let (ok, j, stderr) = explain(token, &file, &[]);
        let e = &j["explanation"];
        let failed: Vec<&str> = e["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["outcome"] == "failed")
            .map(|s| s["check"].as_str().unwrap())
            .collect();
        if ok
            || e["code"] != *code
            || failed != [*check]
            || step(&j, check)["code"] != *code
            || !stderr.contains(&format!(
                "the service would refuse this token: 401 {code} at the {check} check"
            ))
        {
            wrong.push(format!("{name}: exit ok {ok}, {e}, stderr {stderr}"));
        }
        // the explanation never repeats the token
        assert!(!j.to_string().contains(token.as_str()), "{name}");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // accepted: every check passed, exit 0, values shown
    let (ok, j, stderr) = explain(&good, &file, &[]);
    assert!(ok, "{stderr}");
    assert_eq!(j["explanation"]["accepted"], true);
    assert_eq!(j["verified"], true);
    assert!(j["explanation"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["outcome"] == "passed"));
    assert_eq!(
        step(&j, "issuer")["expected"],
        dev.issuer.issuer_v2(DEV_TENANT_ID)
    );
    assert_eq!(step(&j, "issuer")["found"], step(&j, "issuer")["expected"]);
    assert_eq!(
        step(&j, "signing_key")["found"],
        format!("kid {}", dev.issuer.current_kid())
    );
    assert!(
        dev.issuer.stats().key_requests >= 1,
        "keys fetched over HTTP"
    );

    // the text report: decoded claims, then each check and the verdict
    let out = inspect(&[&cases[0].1, "--settings", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Checks of the service's validator"), "{text}");
    assert!(text.contains("[FAIL] lifetime"), "{text}");
    assert!(text.contains("token_expired: token expired at"), "{text}");
    assert!(text.contains("[ -- ] issuer"), "{text}");
    assert!(
        text.ends_with("REFUSED: 401 Unauthorized (code token_expired)\n"),
        "{text}"
    );
    dev.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_replays_offline_from_files_at_the_given_time() {
    let dev = common::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let file = settings(dir.path(), &dev);
    let base = dev.url().to_string();
    let client = common::http();
    let meta = common::get_json(
        &client,
        &format!("{base}{DEV_TENANT_ID}/v2.0/.well-known/openid-configuration"),
    )
    .await;
    let keys = common::get_json(&client, meta["jwks_uri"].as_str().unwrap()).await;
    let meta_file = write(dir.path(), "openid-configuration.json", &meta);
    let keys_file = write(dir.path(), "keys.json", &keys);
    let token = mint(&dev, |_| {});
    let exp = common::peek(&token)["exp"].as_i64().unwrap();
    dev.shutdown().await.unwrap(); // nothing listens any more: the replay must use the files
    let offline = |now: String| {
        explain(
            &token,
            &file,
            &[
                "--metadata",
                meta_file.to_str().unwrap(),
                "--keys",
                keys_file.to_str().unwrap(),
                "--now",
                &now,
            ],
        )
    };
    let (ok, j, stderr) = offline((exp - 60).to_string());
    assert!(ok, "{stderr} {j}");
    assert_eq!(j["explanation"]["accepted"], true);
    let (ok, j, _) = offline(entra_dev::format_unix_time(exp + 3600));
    assert!(!ok);
    assert_eq!(j["explanation"]["code"], "token_expired");
    assert_eq!(step(&j, "lifetime")["outcome"], "failed");
    assert!(
        step(&j, "lifetime")["expected"]
            .as_str()
            .unwrap()
            .contains(&format!(
                "(now {})",
                entra_dev::format_unix_time(exp + 3600)
            )),
        "{j}"
    );

    // the ASP.NET layout of the same registration
    let aspnet = write(
        dir.path(),
        "appsettings.json",
        &json!({"Logging": {"LogLevel": {"Default": "Information"}}, "AzureAd": {
            "Instance": base, "TenantId": DEV_TENANT_ID, "ClientId": DEV_API_CLIENT_ID}}),
    );
    let out = inspect(&[
        &token,
        "--settings",
        aspnet.to_str().unwrap(),
        "--metadata",
        meta_file.to_str().unwrap(),
        "--keys",
        keys_file.to_str().unwrap(),
        "--now",
        &(exp - 60).to_string(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // replayed before it was issued
    let (ok, j, _) = offline("1970-01-01T00:00:00Z".to_owned());
    assert!(!ok);
    assert_eq!(j["explanation"]["code"], "token_not_yet_valid");

    // a token that does not decode fails the format check
    let meta_arg = meta_file.to_str().unwrap();
    let keys_arg = keys_file.to_str().unwrap();
    let (ok, j, stderr) = explain(
        "not-a-token",
        &file,
        &["--metadata", meta_arg, "--keys", keys_arg],
    );
    assert!(!ok);
    assert_eq!(j["explanation"]["code"], "malformed_token");
    assert_eq!(step(&j, "format")["outcome"], "failed");
    assert_eq!(step(&j, "header")["outcome"], "not_checked");
    assert!(
        stderr.contains("401 malformed_token at the format check"),
        "{stderr}"
    );

    // settings without an identity: development mode, named
    let dev_mode = write(dir.path(), "dev.json", &json!({"bind": "127.0.0.1:8000"}));
    let out = inspect(&[&token, "--settings", dev_mode.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("development mode"));
    // --metadata without --keys is a usage error
    let out = inspect(&[
        &token,
        "--settings",
        file.to_str().unwrap(),
        "--metadata",
        meta_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--keys"));
}
