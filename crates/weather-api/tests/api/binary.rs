//! The REAL `weather-api` binary as a child process (black-box tests): a temporary settings file
//! pointing `azure_ad` at an in-process development issuer, a temporary SQLite database, wiremock as
//! OpenWeatherMap, JSON logs captured from its output; and a raw TCP client for requests no HTTP library
//! would send.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use entra_dev::defaults::{DEV_API_CLIENT_ID, DEV_TENANT_ID};
use entra_dev::RunningDevIssuer;
use serde_json::{json, Value};

/// The OpenWeatherMap key the binary is configured with (must never appear in logs or answers).
pub(crate) const API_KEY: &str = "owm-secret-5f1e9c0a7b3d";

/// A running `weather-api` process; killed (SIGKILL) when dropped.
pub(crate) struct Binary {
    child: Child,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    logs: Arc<Mutex<String>>,
}

/// Settings for [`Binary::start`]: the defaults of a test service plus `overrides` (merged at the top
/// level; `azure_ad` is replaced whole when given).
pub(crate) fn settings(
    issuer: &RunningDevIssuer,
    upstream: &str,
    db: &Path,
    overrides: Value,
) -> Value {
    let mut s = json!({
        "bind": "127.0.0.1:0",
        "database_url": format!("sqlite://{}", db.display()),
        "api_key": API_KEY,
        "openweather_base_url": upstream,
        "log_format": "json",
        // Limits are what rate_limit.rs measures; here they stay out of the way.
        "rate_limit": {"read": {"requests": 1_000_000}, "write": {"requests": 1_000_000}},
        "azure_ad": {
            "instance": issuer.issuer.instance().as_str(),
            "tenant_id": DEV_TENANT_ID,
            "client_id": DEV_API_CLIENT_ID,
        }
    });
    if let (Some(s), Value::Object(o)) = (s.as_object_mut(), overrides) {
        for (k, v) in o {
            s.insert(k, v);
        }
    }
    s
}

impl Binary {
    /// Writes `settings` to `dir/settings.json`, starts the binary there with `RUST_LOG=rust_log` and
    /// waits (at most 60 s) for its "listening" log line.
    pub(crate) fn start(dir: &Path, settings: &Value, rust_log: &str) -> Self {
        let file: PathBuf = dir.join("settings.json");
        std::fs::write(&file, serde_json::to_vec_pretty(settings).unwrap()).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_weather-api"))
            .arg("--settings")
            .arg(&file)
            .current_dir(dir)
            // the "listening" line is how the test learns the port
            .env("RUST_LOG", format!("{rust_log},weather_api::startup=info"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("weather-api binary starts");
        // The subscriber writes to stdout; start-up errors go to stderr.
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<SocketAddr>();
        let sink = logs.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut logs = sink.lock().unwrap();
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        let stdout = child.stdout.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if v["message"] == "listening" {
                        if let (Some(tx), Some(addr)) = (tx.take(), v["addr"].as_str()) {
                            let _ = tx.send(addr.parse().unwrap());
                        }
                    }
                }
                let mut logs = sink.lock().unwrap();
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "weather-api did not start:\n{}",
                    logs.lock().unwrap().as_str()
                );
            }
        };
        Self { child, addr, logs }
    }

    /// `http://addr`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Everything the process wrote (logs on stdout, start-up errors on stderr) so far.
    pub(crate) fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub(crate) fn is_alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGKILL, then reap.
    pub(crate) fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The peak resident set size (VmHWM) in KiB, from /proc (Linux).
    pub(crate) fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw HTTP answer.
#[derive(Debug)]
pub(crate) struct RawAnswer {
    /// The status code, `None` when the server closed without answering.
    pub(crate) status: Option<u16>,
    /// Everything received (head and body).
    pub(crate) bytes: Vec<u8>,
    /// How long until the server finished answering or closed.
    pub(crate) elapsed: Duration,
}

impl RawAnswer {
    /// The answer as (lossy) text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// A header value (first occurrence, case-insensitive name).
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        let text = self.text();
        let head = text.split("\r\n\r\n").next().unwrap_or_default().to_owned();
        head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// Sends `request` verbatim on a new connection and reads until the server closes (at most
/// `within`). Requests should say `Connection: close` so that a complete answer ends the read.
pub(crate) fn raw(addr: SocketAddr, request: &[u8], within: Duration) -> RawAnswer {
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(within)).unwrap();
    // The server may answer (413, 431) and close before the whole request is written.
    let _ = stream.write_all(request);
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // reset after an early answer, or the read timeout
            Err(_) => break,
        }
    }
    let status = std::str::from_utf8(&bytes[..bytes.len().min(12)])
        .ok()
        .and_then(|s| s.strip_prefix("HTTP/1.1 ").or(s.strip_prefix("HTTP/1.0 ")))
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok());
    RawAnswer {
        status,
        bytes,
        elapsed: start.elapsed(),
    }
}
