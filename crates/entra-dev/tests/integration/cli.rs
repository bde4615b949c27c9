//! Smoke tests of the `entra-dev` binary: help, token (offline, with the persisted key), inspect, keys,
//! and the loopback-only rule of serve.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use entra_dev::defaults::{
    DEV_API_APP_ID_URI, DEV_API_CLIENT_ID, DEV_DAEMON_CLIENT_ID, DEV_TENANT_ID,
};
use entra_dev::testing::{Answer, Browser};
use entra_dev::{DevIssuer, DevIssuerConfig};
use serde_json::Value;

fn entra_dev(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_entra-dev"))
        .args(args)
        .env("ENTRA_DEV_HOME", data_dir)
        .env_remove("ENTRA_DEV_INSTANCE")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// The key set of an issuer reading the same data dir: what the weather API would publish.
fn service_key_set(data_dir: &Path, instance: &str) -> (DevIssuer, Value) {
    let issuer = DevIssuer::new(
        DevIssuerConfig {
            data_dir: Some(data_dir.to_owned()),
            ..DevIssuerConfig::default()
        },
        url::Url::parse(instance).unwrap(),
    )
    .unwrap();
    let jwks = issuer.key_set();
    (issuer, jwks)
}

#[test]
fn help_teaches_commands_and_says_development_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = stdout(&entra_dev(dir.path(), &["--help"]));
    for needle in [
        "serve",
        "token",
        "keys",
        "inspect",
        "DEVELOPMENT ONLY",
        "EXAMPLES",
        "ENTRA_DEV_HOME",
    ] {
        assert!(out.contains(needle), "help lacks {needle}:\n{out}");
    }
    let token_help = stdout(&entra_dev(dir.path(), &["token", "--help"]));
    for needle in [
        "--scope",
        "--role",
        "--app",
        "--user",
        "--version",
        "--audience",
        "--lifetime",
        "--not-before",
        "--expired",
        "--claim",
        "--tenant",
        "--json",
        "--count",
        "--instance",
        "http://127.0.0.1:8000/dev-issuer/",
    ] {
        assert!(token_help.contains(needle), "token help lacks {needle}");
    }
}

#[test]
fn token_is_signed_with_the_persisted_key_and_verifies_for_a_service_sharing_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let token = stdout(&entra_dev(
        dir.path(),
        &["token", "--scope", "weather.read"],
    ));
    let token = token.trim();
    let instance = "http://127.0.0.1:8000/dev-issuer/";
    let (issuer, jwks) = service_key_set(dir.path(), instance);
    let claims = common::verify(
        token,
        &jwks,
        &issuer.issuer_v2(DEV_TENANT_ID),
        DEV_API_CLIENT_ID,
    );
    assert_eq!(claims["scp"], "weather.read");
    assert_eq!(claims["name"], "Alice Example");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join(entra_dev::KEY_FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn token_count_prints_that_many_distinct_valid_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let out = stdout(&entra_dev(
        dir.path(),
        &["token", "--scope", "weather.read", "--count", "5"],
    ));
    let tokens: Vec<&str> = out.lines().collect();
    assert_eq!(tokens.len(), 5);
    let distinct: std::collections::BTreeSet<&str> = tokens.iter().copied().collect();
    assert_eq!(distinct.len(), 5);
    let (issuer, jwks) = service_key_set(dir.path(), "http://127.0.0.1:8000/dev-issuer/");
    for t in tokens {
        let claims = common::verify(
            t,
            &jwks,
            &issuer.issuer_v2(DEV_TENANT_ID),
            DEV_API_CLIENT_ID,
        );
        assert_eq!(claims["scp"], "weather.read");
    }
    let refused = entra_dev(dir.path(), &["token", "--count", "0"]);
    assert!(!refused.status.success());
}

#[test]
fn token_json_for_app_v1_with_extras_prints_decoded_claims() {
    let dir = tempfile::tempdir().unwrap();
    let out = stdout(&entra_dev(
        dir.path(),
        &[
            "token",
            "--app",
            "--version",
            "1",
            "--claim",
            "xms_cc=[\"cp1\"]",
            "--claim",
            "acct=0",
            "--instance",
            "http://127.0.0.1:9999/",
            "--json",
        ],
    ));
    let v: Value = serde_json::from_str(&out).unwrap();
    let claims = &v["claims"];
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["appid"], DEV_DAEMON_CLIENT_ID);
    assert_eq!(
        claims["roles"],
        serde_json::json!(["Weather.Read.All", "Weather.Write.All"])
    );
    assert_eq!(claims["aud"], DEV_API_APP_ID_URI);
    assert_eq!(
        claims["iss"],
        format!("http://127.0.0.1:9999/{DEV_TENANT_ID}/")
    );
    assert_eq!(claims["xms_cc"], serde_json::json!(["cp1"]));
    assert_eq!(claims["acct"], 0);
    assert!(v["header"]["x5t"].is_string());
    let (_, jwks) = service_key_set(dir.path(), "http://127.0.0.1:9999/");
    common::verify(
        v["token"].as_str().unwrap(),
        &jwks,
        &format!("http://127.0.0.1:9999/{DEV_TENANT_ID}/"),
        DEV_API_APP_ID_URI,
    );
}

#[test]
fn token_expired_and_not_before_produce_tokens_a_verifier_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let expired = stdout(&entra_dev(dir.path(), &["token", "--expired", "--json"]));
    let not_yet = stdout(&entra_dev(
        dir.path(),
        &["token", "--not-before", "10m", "--json"],
    ));
    let (issuer, jwks) = service_key_set(dir.path(), "http://127.0.0.1:8000/dev-issuer/");
    let iss = issuer.issuer_v2(DEV_TENANT_ID);
    for (out, kind) in [
        (expired, jsonwebtoken::errors::ErrorKind::ExpiredSignature),
        (not_yet, jsonwebtoken::errors::ErrorKind::ImmatureSignature),
    ] {
        let v: Value = serde_json::from_str(&out).unwrap();
        let err = common::try_verify(v["token"].as_str().unwrap(), &jwks, &iss, DEV_API_CLIENT_ID)
            .unwrap_err();
        assert_eq!(*err.kind(), kind);
    }
}

#[test]
fn inspect_decodes_explains_and_says_it_does_not_verify() {
    let dir = tempfile::tempdir().unwrap();
    let token = stdout(&entra_dev(dir.path(), &["token", "--user", "bob"]));
    let out = stdout(&entra_dev(dir.path(), &["inspect", token.trim()]));
    assert!(out.starts_with("NOT VERIFIED"), "{out}");
    assert!(out.contains("Bob Example"));
    assert!(out.contains("delegated scopes"));
    assert!(out
        .contains("Summary: user token for Bob Example, v2.0, scp \"weather.read weather.write\""));
    let bad = entra_dev(dir.path(), &["inspect", "not-a-token"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("3 dot-separated parts"));
}

#[test]
fn keys_rotate_keeps_the_old_key_published_and_show_lists_both() {
    let dir = tempfile::tempdir().unwrap();
    let first = stdout(&entra_dev(dir.path(), &["keys", "show"]));
    let old_kid = first
        .lines()
        .find_map(|l| l.trim().strip_prefix("kid "))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let rotated = stdout(&entra_dev(dir.path(), &["keys", "rotate"]));
    let new_kid = rotated
        .lines()
        .find_map(|l| l.strip_prefix("New signing key: "))
        .unwrap()
        .to_owned();
    assert_ne!(old_kid, new_kid);
    // Running issuers and a development-mode weather API re-read the key file: no restart.
    assert!(
        rotated.contains(
            "A running `entra-dev serve` and a weather API in development mode pick it up by \
             themselves within seconds (they re-read the key file every 2 s): no restart needed."
        ),
        "{rotated}"
    );
    assert!(!rotated.contains("restart the weather API"), "{rotated}");
    let shown = stdout(&entra_dev(dir.path(), &["keys", "show"]));
    assert!(shown.contains(&format!("kid {new_kid}")));
    assert!(shown.contains(&format!("kid {old_kid}")));
    assert!(shown.contains("current (signs new tokens)"));
    assert!(shown.contains("still published"));
}

#[test]
fn serve_refuses_a_non_loopback_bind_without_allow_remote() {
    let dir = tempfile::tempdir().unwrap();
    let out = entra_dev(dir.path(), &["serve", "--bind", "0.0.0.0:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to listen on 0.0.0.0:0"), "{err}");
    assert!(err.contains("--allow-remote"));
}

#[test]
fn keys_rotate_with_zero_grace_unpublishes_the_old_key_for_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let (before, _) = service_key_set(dir.path(), "http://127.0.0.1:1/");
    let old_kid = before.current_kid();
    stdout(&entra_dev(dir.path(), &["keys", "rotate", "--grace", "0s"]));
    // A reader with the default 24 h grace period still honours the end of publication recorded at rotation.
    let (after, jwks) = service_key_set(dir.path(), "http://127.0.0.1:1/");
    assert_ne!(after.current_kid(), old_kid);
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, vec![after.current_kid().as_str()]);
}

#[test]
fn cert_create_writes_certificate_and_0600_key_and_prints_the_thumbprint_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("certs");
    let out_s = out.to_str().unwrap();
    let o = entra_dev(
        dir.path(),
        &[
            "cert",
            "create",
            "--client-id",
            "ce7ce7ce-0000-4000-8000-00000000ce77",
            "--out",
            out_s,
            "--name",
            "svc",
        ],
    );
    let text = stdout(&o);
    let cert_pem = std::fs::read_to_string(out.join("svc.crt.pem")).unwrap();
    let key_pem = std::fs::read_to_string(out.join("svc.key.pem")).unwrap();
    assert!(cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(out.join("svc.key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let cert = entra_dev::ClientCertificate::from_pem(&cert_pem, None).unwrap();
    let thumbprint = cert.x5t_s256().unwrap();
    assert!(
        text.contains(&format!("x5t#S256     {thumbprint}")),
        "{text}"
    );
    assert!(text.contains(&format!(
        "entra-dev serve --client-certificate ce7ce7ce-0000-4000-8000-00000000ce77={}",
        out.join("svc.crt.pem").display()
    )));
    assert!(text.contains("entra_dev::ClientCertificate::from_pem"));
    assert!(!text.contains("PRIVATE KEY"), "the key is never printed");
    // A second run refuses to overwrite.
    let again = entra_dev(
        dir.path(),
        &[
            "cert",
            "create",
            "--client-id",
            "x",
            "--out",
            out_s,
            "--name",
            "svc",
        ],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("pass --force"));
}

#[test]
fn cert_create_writes_a_pfx_with_its_chain_and_never_prints_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("certs");
    let o = Command::new(env!("CARGO_BIN_EXE_entra-dev"))
        .args(["cert", "create", "--client-id", "c1", "--name", "svc"])
        .args(["--format", "pfx", "--chain", "--out"])
        .arg(&out)
        .env("ENTRA_DEV_HOME", dir.path())
        .env("ENTRA_DEV_CERT_PASSWORD", "hunter2-pfx")
        .output()
        .unwrap();
    let text = stdout(&o);
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("password-protected"), "{text}");
    let pfx = std::fs::read(out.join("svc.pfx")).unwrap();
    assert_eq!(pfx[0], 0x30, "DER");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(out.join("svc.pfx"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(!out.join("svc.key.pem").exists());
    // The certificate to register, followed by its issuing CA; the CA alone beside it.
    let crt = std::fs::read_to_string(out.join("svc.crt.pem")).unwrap();
    let ca = std::fs::read_to_string(out.join("svc.ca.crt.pem")).unwrap();
    assert_eq!(crt.matches("-----BEGIN CERTIFICATE-----").count(), 2);
    assert!(crt.ends_with(&ca));
    let leaf = entra_dev::ClientCertificate::from_pem(&crt, None).unwrap();
    assert!(text.contains(&format!("x5t#S256     {}", leaf.x5t_s256().unwrap())));
    assert!(
        text.contains("Subject      CN=entra-dev client c1"),
        "{text}"
    );
}

#[test]
fn cert_create_encrypted_pem_reads_the_password_from_stdin_and_requires_one() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let run = |stdin: Option<&str>, name: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_entra-dev"))
            .args(["cert", "create", "--client-id", "c2", "--name", name])
            .args(["--format", "encrypted-pem", "--expired", "--out"])
            .arg(dir.path())
            .args(stdin.map(|_| "--password-stdin"))
            .env("ENTRA_DEV_HOME", dir.path())
            .env_remove("ENTRA_DEV_CERT_PASSWORD")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input
            .write_all(stdin.unwrap_or_default().as_bytes())
            .unwrap();
        drop(input);
        child.wait_with_output().unwrap()
    };
    let o = run(Some("s3cret-from-stdin\n"), "enc");
    let text = stdout(&o);
    assert!(!text.contains("s3cret"), "{text}");
    let key = std::fs::read_to_string(dir.path().join("enc.key.pem")).unwrap();
    assert!(
        key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{key}"
    );
    // --expired: the validity printed ends in the past.
    let valid = text.lines().find(|l| l.starts_with("Valid")).unwrap();
    let end = valid.rsplit(' ').next().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let now = entra_dev::format_unix_time(i64::try_from(now).unwrap());
    assert!(end < now.as_str(), "{valid}");

    let o = run(None, "nopass");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("needs a password"), "{err}");
    assert!(!dir.path().join("nopass.key.pem").exists());
}

#[test]
fn serve_with_an_unreadable_client_certificate_fails_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let o = entra_dev(
        dir.path(),
        &[
            "serve",
            "--client-certificate",
            "some-client=/nonexistent/c.pem",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read /nonexistent/c.pem"));
}

#[tokio::test(flavor = "multi_thread")]
async fn switches_set_show_and_clear_drive_a_running_issuer() {
    let running = common::spawn().await;
    let url = running.url().to_string();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: Vec<String>| {
        let dir = dir.path().to_owned();
        async move {
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                entra_dev(&dir, &args)
            })
            .await
            .unwrap()
        }
    };
    let downstream = entra_dev::defaults::DEV_DOWNSTREAM_API_APP_ID_URI;
    let o = run(vec![
        "switches".into(),
        "set".into(),
        "--url".into(),
        url.clone(),
        "--consent-required".into(),
        downstream.into(),
        "--mfa-required".into(),
        format!("{DEV_API_CLIENT_ID}=c2"),
    ])
    .await;
    let printed: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let now = running.issuer.switches();
    assert_eq!(now.consent_required, vec![downstream.to_owned()]);
    assert_eq!(now.mfa_required[0].api, DEV_API_CLIENT_ID);
    assert_eq!(now.mfa_required[0].auth_context, "c2");
    assert_eq!(printed, serde_json::to_value(&now).unwrap());
    let o = run(vec![
        "switches".into(),
        "show".into(),
        "--url".into(),
        url.clone(),
    ])
    .await;
    assert_eq!(serde_json::from_str::<Value>(&stdout(&o)).unwrap(), printed);
    let o = run(vec![
        "switches".into(),
        "set".into(),
        "--url".into(),
        url.clone(),
        "--consent-required".into(),
        "api://nobody".into(),
    ])
    .await;
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(err.contains("400") && err.contains("api://nobody"), "{err}");
    assert_eq!(
        running.issuer.switches().consent_required,
        vec![downstream.to_owned()]
    );
    let o = run(vec![
        "switches".into(),
        "clear".into(),
        "--url".into(),
        url.clone(),
    ])
    .await;
    stdout(&o);
    assert_eq!(running.issuer.switches(), entra_dev::Switches::default());
}

#[tokio::test(flavor = "multi_thread")]
async fn revoke_revokes_a_users_refresh_tokens_on_a_running_issuer() {
    let running = common::spawn().await;
    let url = running.url().to_string();
    // A refresh token for bob, through the device flow.
    let client = common::http();
    let start: Value = client
        .post(format!("{url}{DEV_TENANT_ID}/oauth2/v2.0/devicecode"))
        .form(&[
            ("client_id", entra_dev::defaults::DEV_PUBLIC_CLIENT_ID),
            (
                "scope",
                &format!("{DEV_API_APP_ID_URI}/weather.read offline_access"),
            ),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Browser::new()
        .unwrap()
        .approve_device_code(
            running.url(),
            start["user_code"].as_str().unwrap(),
            Answer::accept("bob", &["weather.read"]),
        )
        .await
        .unwrap();
    let (_, tokens) = common::post_form(
        &format!("{url}{DEV_TENANT_ID}/oauth2/v2.0/token"),
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", entra_dev::defaults::DEV_PUBLIC_CLIENT_ID),
            ("device_code", start["device_code"].as_str().unwrap()),
        ],
    )
    .await;
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_owned();
    let u = url.clone();
    let o = tokio::task::spawn_blocking(move || {
        entra_dev(&data, &["revoke", "--user", "bob", "--url", &u])
    })
    .await
    .unwrap();
    assert!(stdout(&o).contains("Revoked 1 refresh token(s) of bob"));
    let res = client
        .post(format!("{url}{DEV_TENANT_ID}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", entra_dev::defaults::DEV_PUBLIC_CLIENT_ID),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS50173: "));
    assert_eq!(
        running.issuer.revoke_refresh_tokens("bob"),
        0,
        "nothing left to revoke"
    );
}
