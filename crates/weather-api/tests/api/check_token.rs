//! `weather-api check-token TOKEN [--settings FILE]`: the real binary judges tokens minted by an
//! in-process development issuer against a settings file pointing `azure_ad` at it (metadata and keys
//! fetched over HTTP on 127.0.0.1), one case per rejection class.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use entra_dev::defaults::{DEV_API_CLIENT_ID, DEV_TENANT_ID};
use entra_dev::{DevIssuer, DevIssuerConfig, RunningDevIssuer, Subject, TokenRequest};
use serde_json::{json, Value};

/// Runs the binary in `dir` with no `WEATHER_API__*` variable, `token` on stdin (`-`).
fn check_token(dir: &Path, args: &[&str], token: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weather-api"));
    cmd.arg("check-token")
        .arg("-")
        .args(args)
        .current_dir(dir)
        .env("NO_PROXY", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars() {
        if name.starts_with("WEATHER_API__") {
            cmd.env_remove(name);
        }
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(token.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `check-token - --settings FILE --json`: (exit code, JSON, stderr).
fn explain(dir: &Path, settings: &Path, token: &str) -> (Option<i32>, Value, String) {
    let out = check_token(
        dir,
        &["--settings", settings.to_str().unwrap(), "--json"],
        token,
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code(), json, stderr)
}

fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p
}

/// weather-api settings whose `azure_ad` points at the running issuer.
fn settings(dir: &Path, dev: &RunningDevIssuer) -> PathBuf {
    write(
        dir,
        "service.json",
        &json!({"bind": "127.0.0.1:8000", "azure_ad": {
            "instance": dev.url().as_str(), "tenant_id": DEV_TENANT_ID, "client_id": DEV_API_CLIENT_ID}}),
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
        .unwrap_or_else(|| panic!("no {check} step in {j}"))
}

async fn issuer() -> RunningDevIssuer {
    DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_token_accepts_a_good_token_with_exit_0_and_names_the_permissions_it_grants() {
    let dev = issuer().await;
    let dir = tempfile::tempdir().unwrap();
    let file = settings(dir.path(), &dev);
    let token = mint(&dev, |_| {});

    let (code, j, stderr) = explain(dir.path(), &file, &token);
    assert_eq!(code, Some(0), "{stderr} {j}");
    assert_eq!(j["accepted"], true);
    assert!(j["explanation"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["outcome"] == "passed"));
    assert_eq!(
        step(&j, "issuer")["expected"],
        dev.issuer.issuer_v2(DEV_TENANT_ID)
    );
    assert_eq!(
        step(&j, "signing_key")["found"],
        format!("kid {}", dev.issuer.current_kid())
    );
    let granted: Vec<(&str, bool)> = j["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["permission"].as_str().unwrap(), p["granted"] == true))
        .collect();
    assert_eq!(
        granted,
        [
            ("WeatherRead", true),
            ("ReportsRead", true),
            ("ReportsWrite", false)
        ]
    );
    assert_eq!(j["permissions"][2]["code"], "insufficient_scope");
    assert!(
        dev.issuer.stats().key_requests >= 1,
        "keys fetched over HTTP"
    );
    assert!(
        !j.to_string().contains(&token),
        "the token is never printed"
    );

    // the text report: each check in plain words, the verdict, the permissions
    let out = check_token(
        dir.path(),
        &["--settings", file.to_str().unwrap()],
        &format!("Bearer {token}\n"),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with(&format!(
            "Checks of weather-api's token validator (settings {} and WEATHER_API__* variables; tenant \
             {DEV_TENANT_ID}, client id {DEV_API_CLIENT_ID}, instance {})",
            file.display(),
            dev.url()
        )),
        "{text}"
    );
    assert!(text.contains("[ok  ] "), "{text}");
    assert!(
        text.contains("ACCEPTED: the validator accepts this token"),
        "{text}"
    );
    assert!(
        text.contains("  [ok  ] ReportsRead (GET /api/reports, GET /api/reports/{id})"),
        "{text}"
    );
    assert!(
        text.contains("  [ -- ] ReportsWrite (POST /api/reports): 403 insufficient_scope"),
        "{text}"
    );
    assert!(!text.contains(&token), "the token is never printed");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dev.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_token_refuses_each_rejection_class_with_exit_1_and_names_check_and_code() {
    let dev = issuer().await;
    let dir = tempfile::tempdir().unwrap();
    let file = settings(dir.path(), &dev);
    let good = mint(&dev, |_| {});
    // the payload of another token under the first one's signature
    let forged = {
        let other = mint(&dev, |r| r.scopes = vec!["weather.write".into()]);
        let g: Vec<&str> = good.split('.').collect();
        let o: Vec<&str> = other.split('.').collect();
        format!("{}.{}.{}", g[0], o[1], g[2])
    };
    let mut unknown_kid = serde_json::Map::new();
    unknown_kid.insert("kid".into(), json!("rotated-away"));
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
            mint(&dev, |r| r.extra_header = unknown_kid),
            "signing_key",
            "unknown_signing_key",
        ),
        (
            "not a JWT",
            "not-a-token".to_owned(),
            "format",
            "malformed_token",
        ),
    ];
    let mut wrong = Vec::new();
    for (name, token, check, code) in &cases {
        let (exit, j, stderr) = explain(dir.path(), &file, token);
        let failed: Vec<&str> = j["explanation"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["outcome"] == "failed")
            .map(|s| s["check"].as_str().unwrap())
            .collect();
        if exit != Some(1)
            || j["accepted"] != false
            || j["explanation"]["code"] != *code
            || failed != [*check]
            || step(&j, check)["code"] != *code
            || j["permissions"] != json!([])
            || stderr
                != format!(
                    "weather-api: the service would refuse this token: 401 {code} at the {check} check\n"
                )
        {
            wrong.push(format!("{name}: exit {exit:?}, {j}, stderr {stderr}"));
        }
        assert!(
            !j.to_string().contains(token.as_str()),
            "{name}: token printed"
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // the text report of an expired token: the failing check in plain words, later ones not checked
    let out = check_token(
        dir.path(),
        &["--settings", file.to_str().unwrap()],
        &cases[0].1,
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
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
async fn check_token_reads_the_aspnet_layout_and_app_roles_like_the_service() {
    let dev = issuer().await;
    let dir = tempfile::tempdir().unwrap();
    let appsettings = write(
        dir.path(),
        "appsettings.json",
        &json!({"Logging": {"LogLevel": {"Default": "Information"}}, "AzureAd": {
            "Instance": dev.url().as_str(), "TenantId": DEV_TENANT_ID, "ClientId": DEV_API_CLIENT_ID}}),
    );
    let daemon = dev
        .issuer
        .mint(&TokenRequest {
            subject: Subject::App {
                client_id: entra_dev::defaults::DEV_DAEMON_CLIENT_ID.into(),
            },
            roles: vec!["Weather.Write.All".into()],
            ..TokenRequest::default()
        })
        .unwrap();
    let (code, j, stderr) = explain(dir.path(), &appsettings, &daemon);
    assert_eq!(code, Some(0), "{stderr} {j}");
    let granted: Vec<bool> = j["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["granted"] == true)
        .collect();
    assert_eq!(granted, [false, false, true], "{j}");
    dev.shutdown().await.unwrap();
}

#[test]
fn check_token_in_development_mode_or_with_invalid_settings_exits_2_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let dev_mode = write(dir.path(), "dev.json", &json!({"bind": "127.0.0.1:8000"}));
    let out = check_token(
        dir.path(),
        &["--settings", dev_mode.to_str().unwrap()],
        "a.b.c",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.starts_with("weather-api: check-token: no identity is configured"),
        "{stderr}"
    );
    assert!(stderr.contains("development mode"), "{stderr}");

    let bad = write(
        dir.path(),
        "bad.json",
        &json!({"azure_ad": {"tenant_id": DEV_TENANT_ID, "client_id": DEV_API_CLIENT_ID, "colour": 1}}),
    );
    let out = check_token(dir.path(), &["--settings", bad.to_str().unwrap()], "a.b.c");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr,
        "weather-api: check-token: invalid settings: azure_ad.colour: unknown key (see settings_template.json)\n"
    );
}
