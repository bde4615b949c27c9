//! Development mode is safe when deployed by mistake: the REAL binary, without `azure_ad` settings,
//! refuses a non-loopback bind with a message naming both fixes, and starts on one only when the
//! dangerous setting says so.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

/// Starts the binary in `dir` with `settings` (no azure_ad: development mode), its development keys in
/// a directory of its own.
fn spawn(dir: &Path, settings: &Value) -> Child {
    let file = dir.join("settings.json");
    std::fs::write(&file, serde_json::to_vec(settings).unwrap()).unwrap();
    Command::new(env!("CARGO_BIN_EXE_weather-api"))
        .arg("--settings")
        .arg(&file)
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .env("ENTRA_DEV_HOME", dir.join("entra-dev"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
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
