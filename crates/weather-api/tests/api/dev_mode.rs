//! Development mode is safe when deployed by mistake: it is a decision, never inferred from blank or
//! unread identity settings (the REAL binary stops naming the key and both ways out); it refuses a
//! non-loopback bind with a message naming both fixes, and starts on one only when the dangerous setting
//! says so; it answers local requests only and serves none of the issuer's control endpoints.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

/// The binary in `dir`, with its development keys in a directory of its own, none of the test
/// process's `WEATHER_API__*` variables, and piped output.
fn command(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weather-api"));
    command
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .env("ENTRA_DEV_HOME", dir.join("entra-dev"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars() {
        if name.starts_with("WEATHER_API__") {
            command.env_remove(name);
        }
    }
    command
}

/// Starts the binary in `dir` with `settings` written to `dir/settings.json`.
fn spawn(dir: &Path, settings: &Value) -> Child {
    let file = dir.join("settings.json");
    std::fs::write(&file, serde_json::to_vec(settings).unwrap()).unwrap();
    command(dir)
        .arg("--settings")
        .arg(&file)
        .spawn()
        .expect("weather-api binary starts")
}

/// Kills (SIGKILL) and reaps the child: it is ours, named by its handle.
fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn dev_settings(dir: &Path, extra: Value) -> Value {
    let mut settings = json!({
        "mode": "development",
        "bind": "0.0.0.0:0",
        "database_url": format!("sqlite://{}", dir.join("weather.db").display()),
        "log_format": "json",
    });
    if let (Some(s), Value::Object(extra)) = (settings.as_object_mut(), extra) {
        s.extend(extra);
    }
    settings
}

#[tokio::test]
async fn development_mode_on_a_network_bind_stops_with_both_fixes() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn(dir.path(), &dev_settings(dir.path(), json!({})));
    let pid = child.id();
    let mut stderr = child.stderr.take().unwrap();
    // The process must exit on its own: read its stderr to the end, then reap it (bounded wait; if it
    // served instead, it is killed by its id).
    let exited = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        (text, child.wait().unwrap())
    });
    let (stderr, status) = match tokio::time::timeout(Duration::from_secs(60), exited).await {
        Ok(result) => result.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("weather-api served on 0.0.0.0 in development mode instead of exiting");
        }
    };
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("weather-api: cannot start: bind: development mode"),
        "{stderr}"
    );
    assert!(
        stderr.contains("0.0.0.0:0 is reachable from the network"),
        "{stderr}"
    );
    assert!(stderr.contains("configure azure_ad"), "{stderr}");
    assert!(stderr.contains("bind 127.0.0.1"), "{stderr}");
    assert!(stderr.contains("dangerous_dev_mode_on_network"), "{stderr}");
    assert!(
        !dir.path().join("weather.db").exists(),
        "nothing is opened before the refusal"
    );
}

#[tokio::test]
async fn development_mode_on_a_network_bind_starts_when_dangerously_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dev_settings(dir.path(), json!({"dangerous_dev_mode_on_network": true}));
    let mut child = spawn(dir.path(), &settings);
    let stdout = child.stdout.take().unwrap();
    let read = tokio::task::spawn_blocking(move || {
        let mut banner = String::new();
        let mut warnings = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            match serde_json::from_str::<Value>(&line) {
                Ok(event) if event["level"] == "WARN" => warnings.push(event),
                Ok(_) => {}
                Err(_) => {
                    banner.push_str(&line);
                    banner.push('\n');
                }
            }
            if warnings
                .iter()
                .any(|w| w["message"].as_str().unwrap_or("").contains("reachable"))
            {
                break;
            }
        }
        (banner, warnings)
    });
    let read = tokio::time::timeout(Duration::from_secs(60), read).await;
    let running = child.try_wait().unwrap().is_none();
    let (banner, warnings) = match read {
        Ok(result) => result.unwrap(),
        Err(_) => {
            stop(&mut child);
            panic!("weather-api did not start in 60 s");
        }
    };
    let listening = warnings
        .iter()
        .find(|w| {
            w["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("listening in DEVELOPMENT MODE")
        })
        .cloned();
    let addr: Option<SocketAddr> = listening
        .as_ref()
        .and_then(|w| w["addr"].as_str())
        .and_then(|a| a.parse().ok());
    let healthz = match addr {
        Some(addr) => reqwest::get(format!("http://127.0.0.1:{}/healthz", addr.port()))
            .await
            .map(|r| r.status().as_u16())
            .ok(),
        None => None,
    };
    stop(&mut child);
    assert!(running, "the process runs");
    let addr = addr.expect("a listening event with the bound address");
    assert!(addr.ip().is_unspecified(), "{addr}");
    assert_eq!(healthz, Some(200));
    assert!(
        banner.contains("DEVELOPMENT MODE - NOT FOR PRODUCTION"),
        "{banner}"
    );
    assert!(
        banner.contains("DANGEROUS: listening on 0.0.0.0:"),
        "{banner}"
    );
    assert!(
        warnings.iter().any(|w| w["message"]
            .as_str()
            .unwrap_or("")
            .contains("dangerous_dev_mode_on_network")),
        "{warnings:?}"
    );
}

/// Runs the binary in `dir` with `args` and exactly the `WEATHER_API__*` variables `env` until it exits:
/// `Ok((exit code, stderr))`, or `Err(logs)` when it started serving instead (then it is killed).
pub(crate) fn run_to_exit(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<(i32, String), String> {
    let mut command = command(dir);
    command.args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("weather-api binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains("listening") {
                let _ = tx.send(line);
                return;
            }
        }
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let stderr = errors.join().unwrap();
            return Ok((status.code().unwrap_or(-1), stderr));
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                stop(&mut child);
                return Err(line);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            // stdout closed: the process is exiting; try_wait sees it next round
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().unwrap();
                let stderr = errors.join().unwrap();
                return Ok((status.code().unwrap_or(-1), stderr));
            }
        }
    }
}

/// A settings file (`null`: none), the `WEATHER_API__*` variables, the start of the refusal.
type RefusedCase<'a> = (Value, &'a [(&'a str, &'a str)], &'a str);

#[test]
fn blank_or_unread_identity_settings_stop_the_binary_naming_the_key_and_both_ways_out() {
    let cases: [RefusedCase<'_>; 5] = [
        // a template copied without filling it in
        (
            json!({"bind": "127.0.0.1:0", "azure_ad": {"tenant_id": ""}}),
            &[],
            "azure_ad.tenant_id: is blank",
        ),
        // an unset variable in a deployment
        (
            json!(null),
            &[
                ("WEATHER_API__BIND", "127.0.0.1:0"),
                ("WEATHER_API__AZURE_AD__TENANT_ID", ""),
            ],
            "azure_ad.tenant_id: is blank",
        ),
        // identity settings in a section the service does not read
        (
            json!({"bind": "127.0.0.1:0", "Entra": {"TenantId": "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a"}}),
            &[],
            "Entra: is set",
        ),
        // an ASP.NET section with camelCase keys, blank
        (
            json!({"bind": "127.0.0.1:0", "AzureAD": {"tenantId": ""}}),
            &[],
            "AzureAD.tenantId: is blank",
        ),
        // a production database and nothing else
        (
            json!(null),
            &[
                ("WEATHER_API__BIND", "127.0.0.1:0"),
                (
                    "WEATHER_API__DATABASE_URL",
                    "postgres://weather@db.internal/weather",
                ),
            ],
            "database_url: is set, which says production",
        ),
    ];
    for (file, env, key) in cases {
        let dir = tempfile::tempdir().unwrap();
        let args: Vec<String> = if file.is_null() {
            Vec::new()
        } else {
            let path = dir.path().join("settings.json");
            std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
            vec!["--settings".into(), path.display().to_string()]
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stderr) = run_to_exit(dir.path(), &args, env)
            .unwrap_or_else(|line| panic!("{key}: served instead of stopping: {line}"));
        assert_eq!(code, 2, "{key}: {stderr}");
        assert!(
            stderr.starts_with(&format!("weather-api: invalid settings: {key}")),
            "{key}: {stderr}"
        );
        assert!(
            stderr.contains("development mode is never inferred from missing values"),
            "{stderr}"
        );
        assert!(
            stderr.contains(
                "complete the identity settings (azure_ad.tenant_id and azure_ad.client_id"
            ),
            "{stderr}"
        );
        assert!(
            stderr.contains(
                "\"mode\": \"development\" in the settings file, or WEATHER_API__MODE=development"
            ),
            "{stderr}"
        );
        assert!(
            !dir.path().join("weather.db").exists(),
            "{key}: nothing opened"
        );
    }
}

#[test]
fn no_settings_at_all_or_an_explicit_mode_starts_development_mode() {
    for env in [
        // the newcomer's command (only the port differs, so that tests never collide)
        &[("WEATHER_API__BIND", "127.0.0.1:0")][..],
        &[
            ("WEATHER_API__BIND", "127.0.0.1:0"),
            ("WEATHER_API__MODE", "development"),
            ("WEATHER_API__DATABASE_URL", "sqlite://dev.db"),
        ][..],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let started = run_to_exit(dir.path(), &[], env);
        let line = started.expect_err("development mode serves");
        assert!(line.contains("listening in DEVELOPMENT MODE"), "{line}");
    }
}

/// A development-mode app in-process as the newcomer starts it (nothing configured but the port; the
/// database in `dir`), bound to 127.0.0.1:0, not yet serving.
async fn spawn_dev_app(dir: &Path) -> (weather_api::Application, SocketAddr) {
    let env = vec![("WEATHER_API__BIND".to_owned(), "127.0.0.1:0".to_owned())];
    let settings = weather_api::Settings::load(None, dir, env).unwrap();
    assert!(settings.is_development_mode());
    let app = weather_api::Application::build_with(
        settings,
        weather_api::startup::Overrides {
            dev_data_dir: Some(dir.join("entra-dev")),
            ..weather_api::startup::Overrides::default()
        },
    )
    .await
    .unwrap();
    let addr = app.local_addr();
    (app, addr)
}

#[tokio::test]
async fn development_mode_refuses_proxied_and_foreign_host_requests_and_has_no_control_endpoints() {
    use entra_dev::defaults::{
        DEV_API_CLIENT_ID, DEV_DAEMON_CLIENT_ID, DEV_DAEMON_CLIENT_SECRET, DEV_TENANT_ID,
    };

    use crate::binary::raw;

    let dir = tempfile::tempdir().unwrap();
    let (app, addr) = spawn_dev_app(dir.path()).await;
    let issuer = app.dev_issuer().unwrap().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    let within = Duration::from_secs(30);
    let form = format!(
        "grant_type=client_credentials&client_id={DEV_DAEMON_CLIENT_ID}&client_secret={DEV_DAEMON_CLIENT_SECRET}\
         &scope=api://{DEV_API_CLIENT_ID}/.default"
    );
    let token_request = |extra: &str, host: &str| {
        format!(
            "POST /dev-issuer/{DEV_TENANT_ID}/oauth2/v2.0/token HTTP/1.1\r\nHost: {host}\r\n{extra}\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{form}",
            form.len()
        )
    };
    let loopback = format!("127.0.0.1:{}", addr.port());
    let ask = move |request: String| {
        tokio::task::spawn_blocking(move || raw(addr, request.as_bytes(), within))
    };

    // Through a reverse proxy (nginx forwarding /dev-issuer/ like any path): no token.
    let proxied = ask(token_request("X-Forwarded-For: 203.0.113.9\r\n", &loopback))
        .await
        .unwrap();
    assert_eq!(proxied.status, Some(403), "{}", proxied.text());
    assert_eq!(
        proxied.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    let text = proxied.text();
    assert!(
        text.contains("\"code\":\"development_mode_local_only\""),
        "{text}"
    );
    assert!(
        text.contains("came through a proxy (x-forwarded-for)"),
        "{text}"
    );
    assert!(!text.contains("access_token"), "{text}");

    // DNS rebinding: a page on evil.example resolving to 127.0.0.1.
    let get = |host: &str, path: &str| {
        ask(format!(
            "GET {path} HTTP/1.1\r\nHost: {host}:{}\r\nConnection: close\r\n\r\n",
            addr.port()
        ))
    };
    let rebound = get("evil.example", "/api/reports").await.unwrap();
    assert_eq!(rebound.status, Some(403), "{}", rebound.text());
    assert!(
        rebound.text().contains("call it as http://localhost:PORT"),
        "{}",
        rebound.text()
    );
    let rebound_token = ask(token_request("", "evil.example")).await.unwrap();
    assert_eq!(rebound_token.status, Some(403), "{}", rebound_token.text());

    // The same token request from this machine works.
    let local = ask(token_request("", &loopback)).await.unwrap();
    assert_eq!(local.status, Some(200), "{}", local.text());
    assert!(local.text().contains("\"access_token\""));
    let named = get("localhost", "/healthz").await.unwrap();
    assert_eq!(named.status, Some(200), "{}", named.text());

    // The issuer's control endpoints are not on the service's router.
    for (method, path, body) in [
        ("PUT", "switches", r#"{"outage": true}"#),
        ("POST", "revoke", r#"{"user": "alice"}"#),
    ] {
        let answer = ask(format!(
            "{method} /dev-issuer/control/{path} HTTP/1.1\r\nHost: {loopback}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ))
        .await
        .unwrap();
        assert_eq!(answer.status, Some(404), "{path}: {}", answer.text());
    }
    assert!(!issuer.switches().outage, "the outage switch is untouched");

    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_camel_case_aspnet_section_is_read_as_dotnet_reads_it_and_never_means_development() {
    use entra_dev::defaults::{DEV_API_CLIENT_ID, DEV_TENANT_ID};

    let issuer = entra_dev::DevIssuer::spawn(entra_dev::DevIssuerConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("appsettings.json");
    let appsettings = json!({
        "AzureAD": {
            "instance": issuer.issuer.instance().as_str(),
            "tenantId": DEV_TENANT_ID,
            "CLIENTID": DEV_API_CLIENT_ID
        },
        "bind": "127.0.0.1:0",
        "database_url": "sqlite://weather.db"
    });
    std::fs::write(&path, appsettings.to_string()).unwrap();
    let settings = weather_api::Settings::load(Some(&path), dir.path(), Vec::new()).unwrap();
    assert!(!settings.is_development_mode());
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
    crate::settings::serves_the_issuers_tokens_without_a_development_issuer(settings, &issuer)
        .await;
}
