//! Who may call: loopback only outside Development (a caller in another network namespace is
//! refused), the optional caller secret, a Unix socket with file permissions.

use std::process::Command;

use entra_dev::defaults;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::harness::{base_config, spawn_sidecar, Downstream, World};

#[tokio::test]
async fn caller_secret_guards_every_route_but_the_probes() {
    let w = World::start_with(|doc| {
        doc["Sidecar"] = json!({"CallerSecret": "s3cret-shared-with-the-app"});
    })
    .await;
    let alice = w.token(defaults::ALICE_USERNAME);
    let r = w.get("/Validate", Some(&alice)).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.text, "");
    let r = w
        .get("/AuthorizationHeaderUnauthenticated/appapi", None)
        .await;
    assert_eq!(
        r.status, 403,
        "no app token for a local process without the secret"
    );
    let with = |path: &str, secret: &str| {
        w.http
            .get(format!("{}{path}", w.url))
            .bearer_auth(&alice)
            .header("X-Sidecar-Secret", secret)
            .send()
    };
    assert_eq!(with("/Validate", "wrong").await.unwrap().status(), 403);
    assert_eq!(
        with("/Validate", "s3cret-shared-with-the-app")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(w.get("/healthz", None).await.status, 200);
    assert_ne!(w.get("/readyz", None).await.status, 403);
}

#[tokio::test]
async fn unix_socket_listener_is_owner_and_group_only() {
    let dev = entra_dev::DevIssuer::spawn(entra_dev::DevIssuerConfig::default())
        .await
        .unwrap();
    let downstream = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("sidecar.sock");
    let mut doc = base_config(dev.url().as_str(), &downstream.url);
    doc["urls"] = json!(format!(
        "http://127.0.0.1:0;http://unix:{}",
        socket.display()
    ));
    let (_url, _stop) = spawn_sidecar(&doc, &[], "Production").await;
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let token = dev
        .issuer
        .mint(&entra_dev::TokenRequest {
            subject: entra_dev::Subject::User(defaults::ALICE_USERNAME.into()),
            ..entra_dev::TokenRequest::default()
        })
        .unwrap();
    let mut stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
    stream
        .write_all(
            format!("GET /Validate HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""protocol":"Bearer""#), "{answer}");
}

/// A network namespace joined to this one by a veth pair: a caller that is not on loopback.
struct Namespace {
    name: String,
    host_if: String,
    host_ip: String,
}

impl Namespace {
    fn create() -> Result<Self, String> {
        let pid = std::process::id();
        let name = format!("esc{pid}");
        let host_if = format!("vh{pid}");
        let ns_if = format!("vn{pid}");
        let octet = pid % 250 + 1;
        let host_ip = format!("169.254.{octet}.1");
        let ns_ip = format!("169.254.{octet}.2");
        let ns = Self {
            name: name.clone(),
            host_if: host_if.clone(),
            host_ip: host_ip.clone(),
        };
        let steps: Vec<Vec<String>> = vec![
            vec!["netns".into(), "add".into(), name.clone()],
            vec![
                "link".into(),
                "add".into(),
                host_if.clone(),
                "type".into(),
                "veth".into(),
                "peer".into(),
                "name".into(),
                ns_if.clone(),
            ],
            vec![
                "link".into(),
                "set".into(),
                ns_if.clone(),
                "netns".into(),
                name.clone(),
            ],
            vec![
                "addr".into(),
                "add".into(),
                format!("{host_ip}/30"),
                "dev".into(),
                host_if.clone(),
            ],
            vec!["link".into(), "set".into(), host_if.clone(), "up".into()],
            vec![
                "-n".into(),
                name.clone(),
                "addr".into(),
                "add".into(),
                format!("{ns_ip}/30"),
                "dev".into(),
                ns_if.clone(),
            ],
            vec![
                "-n".into(),
                name.clone(),
                "link".into(),
                "set".into(),
                ns_if,
                "up".into(),
            ],
            vec![
                "-n".into(),
                name.clone(),
                "link".into(),
                "set".into(),
                "lo".into(),
                "up".into(),
            ],
        ];
        for step in steps {
            let out = Command::new("ip")
                .args(&step)
                .output()
                .map_err(|e| format!("ip: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "ip {}: {}",
                    step.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        Ok(ns)
    }
}

/// `curl` from inside the namespace `ns`: the status code it got.
fn curl_status(ns: &str, url: &str, token: Option<&str>) -> String {
    {
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            ns,
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ]);
        if let Some(t) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        let out = cmd.arg(url).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

#[tokio::test]
async fn caller_outside_loopback_is_refused_except_healthz_and_allowed_in_development() {
    let ns = match Namespace::create() {
        Ok(ns) => ns,
        Err(e) => {
            eprintln!("skipped: a network namespace is needed for a non-loopback caller (root, iproute2): {e}");
            return;
        }
    };
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let dev = entra_dev::DevIssuer::spawn(entra_dev::DevIssuerConfig::default())
        .await
        .unwrap();
    let downstream = Downstream::start().await;
    let token = dev
        .issuer
        .mint(&entra_dev::TokenRequest {
            subject: entra_dev::Subject::User(defaults::ALICE_USERNAME.into()),
            ..entra_dev::TokenRequest::default()
        })
        .unwrap();
    for (environment, expected) in [("Production", "403"), ("Development", "200")] {
        let mut doc = base_config(dev.url().as_str(), &downstream.url);
        doc["urls"] = json!(format!("http://{}:0", ns.host_ip));
        let (url, _stop) = spawn_sidecar(&doc, &[], environment).await;
        let (name, validate, healthz, token) = (
            ns.name.clone(),
            format!("{url}/Validate"),
            format!("{url}/healthz"),
            token.clone(),
        );
        let (got, health) = tokio::task::spawn_blocking(move || {
            (
                curl_status(&name, &validate, Some(&token)),
                curl_status(&name, &healthz, None),
            )
        })
        .await
        .unwrap();
        assert_eq!(got, expected, "{environment}: /Validate from another host");
        assert_eq!(
            health, "200",
            "{environment}: probes come from the pod's address"
        );
        let openapi = reqwest::get(format!("{url}/openapi/v1.json"))
            .await
            .unwrap()
            .status();
        if environment == "Development" {
            assert_eq!(openapi, 200);
        } else {
            // From the host side of the veth: not loopback either.
            assert_eq!(openapi, 403);
        }
    }
}
