//! The real binary, configured as Microsoft's container is: `appsettings.json` in the working
//! directory (with comments and trailing commas), environment variables with `__`, the command
//! line, `ASPNETCORE_URLS`.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use entra_dev::defaults;

use crate::harness::Downstream;

struct Running {
    child: Child,
    url: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary in `dir` with `env`; waits for its "listening" line.
fn start(dir: &std::path::Path, env: &[(&str, String)], args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_entra-sidecar"))
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(at) = line.find("addr=") {
            let addr = line[at + 5..].split_whitespace().next().unwrap().to_owned();
            return Running {
                child,
                url: format!("http://{addr}"),
            };
        }
    }
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let status = child.wait().unwrap();
    panic!("the sidecar ended ({status}) without listening: {err}");
}

#[tokio::test]
async fn binary_reads_appsettings_with_comments_environment_and_command_line() {
    let dev = entra_dev::DevIssuer::spawn(entra_dev::DevIssuerConfig::default())
        .await
        .unwrap();
    let downstream = Downstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Microsoft's template shape: comments, a blank TenantId filled in by the environment, a
    // trailing comma.
    std::fs::write(
        dir.path().join("appsettings.json"),
        format!(
            r#"{{
    "AzureAd": {{
        "Instance": "{instance}",
        "TenantId": "", // set by AzureAd__TenantId
        "ClientId": "{client}",
        /* credentials come from the environment */
    }},
    "DownstreamApis": {{
        "Downstream": {{ "BaseUrl": "{down}api/", "RelativePath": "echo", "Scopes": [ "placeholder" ] }},
    }},
}}"#,
            instance = dev.url(),
            client = defaults::DEV_API_CLIENT_ID,
            down = downstream.url,
        ),
    )
    .unwrap();
    let sidecar = start(
        dir.path(),
        &[
            ("AzureAd__TenantId", defaults::DEV_TENANT_ID.to_owned()),
            (
                "AZUREAD__CLIENTCREDENTIALS__0__SOURCETYPE",
                "ClientSecret".to_owned(),
            ),
            (
                "AzureAd__ClientCredentials__0__ClientSecret",
                defaults::DEV_API_CLIENT_SECRET.to_owned(),
            ),
            ("ASPNETCORE_URLS", "http://127.0.0.1:0".to_owned()),
        ],
        &[
            "--DownstreamApis:downstream:Scopes:0",
            crate::harness::DOWNSTREAM_READ,
        ],
    );
    let http = reqwest::Client::new();
    // Ready once keys are loaded.
    let mut ready = false;
    for _ in 0..100 {
        if http
            .get(format!("{}/readyz", sidecar.url))
            .send()
            .await
            .unwrap()
            .status()
            == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ready, "the sidecar never became ready");
    let token = dev
        .issuer
        .mint(&entra_dev::TokenRequest {
            subject: entra_dev::Subject::User(defaults::ALICE_USERNAME.into()),
            scopes: vec![defaults::SCOPE_READ.into()],
            ..entra_dev::TokenRequest::default()
        })
        .unwrap();
    let r = http
        .get(format!("{}/AuthorizationHeader/downstream", sidecar.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let header = body["authorizationHeader"].as_str().unwrap();
    let claims = crate::harness::payload(header.strip_prefix("Bearer ").unwrap());
    assert_eq!(
        claims["scp"], "downstream.read",
        "the command line replaced the file's scope"
    );
}

#[test]
fn binary_refuses_a_missing_client_id_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_entra-sidecar"))
        .current_dir(dir.path())
        .env_clear()
        .env("AzureAd__TenantId", defaults::DEV_TENANT_ID)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("AzureAd:ClientId is required"), "{err}");
}

#[test]
fn binary_reads_the_managed_identity_variables_from_its_environment() {
    // The platform's IDENTITY_ENDPOINT (App Service) in the environment: a plain-http endpoint on a
    // remote host is refused at start-up, naming the variable, so the binary read it.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_entra-sidecar"))
        .current_dir(dir.path())
        .env_clear()
        .env("AzureAd__TenantId", defaults::DEV_TENANT_ID)
        .env("AzureAd__ClientId", defaults::DEV_API_CLIENT_ID)
        .env(
            "AzureAd__ClientCredentials__0__SourceType",
            "SignedAssertionFromManagedIdentity",
        )
        .env("IDENTITY_ENDPOINT", "http://identity.example/msi/token")
        .env("IDENTITY_HEADER", "platform-secret-value")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "settings valid, the credential refused"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("SignedAssertionFromManagedIdentity") && err.contains("IDENTITY_ENDPOINT"),
        "{err}"
    );
    assert!(!err.contains("platform-secret-value"), "{err}");
}

#[test]
fn binary_refuses_key_vault_credentials_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_entra-sidecar"))
        .current_dir(dir.path())
        .env_clear()
        .env("AzureAd__TenantId", defaults::DEV_TENANT_ID)
        .env("AzureAd__ClientId", defaults::DEV_API_CLIENT_ID)
        .env("AzureAd__ClientCredentials__0__SourceType", "KeyVault")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("KeyVault") && err.contains("Key Vault"),
        "{err}"
    );
}
