//! Where the token comes from (client credentials with a cache, `--token`, `WEATHER_TOKEN`, a settings file
//! for "Entra ID") and what the user is told when it is refused or the service cannot be reached.

use entra_dev::defaults::{
    DEV_API_CLIENT_ID, DEV_DAEMON_CLIENT_ID, DEV_DAEMON_CLIENT_SECRET, DEV_TENANT_ID,
};
use serde_json::json;

use crate::helpers::{
    closed_port_url, spawn_dev_service, spawn_entra_service, spawn_entra_service_with, Weather,
};

#[tokio::test]
async fn client_credentials_token_is_cached_in_a_0600_file_and_reused_by_the_next_run() {
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    let first = weather.run(&["reports"]).await;
    assert_eq!(first.ok(), "No reports yet.\n");
    assert_eq!(service.token_requests(), 1);
    let second = weather.run(&["reports"]).await;
    assert_eq!(second.ok(), "No reports yet.\n");
    assert_eq!(service.token_requests(), 1, "the second run used the cache");

    // entra-token's file cache: the app-only token under its hashed key (client, authority, scope).
    let cache = weather.cache_json();
    let entry = &cache["app_tokens"][0];
    assert_eq!(entry["key"].as_str().unwrap().len(), 64, "{cache}");
    assert_eq!(cache["accounts"], json!([]));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expires_at = entry["expires_at"].as_u64().unwrap();
    assert!(
        (now + 3500..=now + 3600).contains(&expires_at),
        "{expires_at}"
    );
    let token = entry["token"].as_str().unwrap();
    assert!(token.len() > 100, "a JWT");
    for run in [&first, &second] {
        assert!(!run.stdout.contains(token) && !run.stderr.contains(token));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(weather.cache_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn no_cache_requests_a_token_on_every_run_and_writes_no_file() {
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    weather.run(&["reports", "--no-cache"]).await.ok();
    weather.run(&["reports", "--no-cache"]).await.ok();
    assert_eq!(service.token_requests(), 2);
    assert!(!weather.cache_file().exists());
}

#[tokio::test]
async fn cached_token_refused_by_the_service_is_dropped_and_renewed_once() {
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    let far = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3000;
    // A first run caches a real token; then the file's token is replaced by one the service refuses.
    weather.run(&["reports"]).await.ok();
    assert_eq!(service.token_requests(), 1);
    let mut cache = weather.cache_json();
    cache["app_tokens"][0]["token"] = json!("not-a-token-the-service-accepts");
    cache["app_tokens"][0]["expires_at"] = json!(far);
    std::fs::write(weather.cache_file(), cache.to_string()).unwrap();
    let run = weather.run(&["reports"]).await;
    assert_eq!(run.ok(), "No reports yet.\n");
    assert_eq!(service.token_requests(), 2, "renewed once");
    let text = std::fs::read_to_string(weather.cache_file()).unwrap();
    assert!(!text.contains("not-a-token-the-service-accepts"));
}

#[tokio::test]
async fn token_flag_is_sent_as_given_without_any_token_request() {
    let service = spawn_dev_service().await;
    service.api_post_report("Drizzle", "Eugene").await;
    let token = service.user_token(&["weather.read"]);
    let run = Weather::new(&service)
        .run(&["reports", "--token", &token])
        .await;
    assert!(run.ok().contains("eugene, or, us  Drizzle"), "{run:#?}");
    assert_eq!(service.token_requests(), 0);
}

#[tokio::test]
async fn weather_token_environment_variable_is_used_like_the_flag() {
    let service = spawn_dev_service().await;
    let token = service.user_token(&["weather.write"]);
    let run = Weather::new(&service)
        .env("WEATHER_TOKEN", &token)
        .run(&["report", "Sleet", "--city", "Bend"])
        .await;
    run.ok();
    assert_eq!(service.token_requests(), 0);
    assert_eq!(service.api_reports().await[0]["description"], "Sleet");
}

#[tokio::test]
async fn token_without_the_read_scope_gets_403_naming_the_missing_scope_and_exits_4() {
    let service = spawn_dev_service().await;
    let token = service.user_token(&["weather.write"]);
    let run = Weather::new(&service)
        .run(&["reports", "--token", &token])
        .await;
    assert_eq!(run.code, 4, "{run:#?}");
    let first = run.stderr.lines().next().unwrap();
    assert!(
        first.starts_with(
            "weather: missing permission: the API needs scope weather.read (server said: "
        ),
        "{first}"
    );
    assert!(run
        .stderr
        .contains("weather: hint: ask for a token that carries weather.read"));
    assert!(!run.stderr.contains(&token));
}

#[tokio::test]
async fn expired_token_gets_the_401_message_with_the_servers_detail_and_exits_3() {
    let service = spawn_dev_service().await;
    let token = service.expired_token();
    let run = Weather::new(&service)
        .run(&["reports", "--token", &token])
        .await;
    assert_eq!(run.code, 3, "{run:#?}");
    let first = run.stderr.lines().next().unwrap();
    assert!(
        first.starts_with("weather: not signed in / token rejected: "),
        "{first}"
    );
    assert!(first.to_lowercase().contains("expired"), "{first}");
    assert!(run.stderr.contains("WEATHER_TOKEN"), "{}", run.stderr);
}

#[tokio::test]
async fn wrong_client_secret_shows_the_identity_providers_refusal_and_exits_3() {
    let service = spawn_dev_service().await;
    let run = Weather::new(&service)
        .env("WEATHER_CLIENT_SECRET", "wrong")
        .run(&["reports"])
        .await;
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(
        run.stderr.starts_with(&format!(
            "weather: the identity provider refused a token for client {DEV_DAEMON_CLIENT_ID}: invalid_client: AADSTS7000215"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: check --client-id"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("wrong"), "the secret is not echoed");
}

#[tokio::test]
async fn entra_settings_from_a_config_file_use_client_credentials_against_that_authority() {
    let service = spawn_entra_service().await;
    let instance = service.instance();
    let weather = Weather::new(&service).env("WEATHER_CLIENT_SECRET", DEV_DAEMON_CLIENT_SECRET);
    let config = weather.home().join("weather.json");
    std::fs::write(
        &config,
        json!({
            "instance": instance,
            "tenant_id": DEV_TENANT_ID,
            "api_client_id": DEV_API_CLIENT_ID,
            "client_id": DEV_DAEMON_CLIENT_ID,
        })
        .to_string(),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let run = weather
        .run(&["--config", config, "report", "Clear", "--city", "Portland"])
        .await;
    run.ok();
    assert_eq!(service.token_requests(), 1);
    weather.run(&["--config", config, "reports"]).await.ok();
    assert_eq!(service.token_requests(), 1, "cached for that authority");
    assert_eq!(service.api_reports().await[0]["description"], "Clear");
}

#[tokio::test]
async fn client_certificate_pfx_with_password_authenticates_the_daemon_without_a_secret() {
    use entra_dev::{CertificateFileFormat, DevIssuerConfig, GeneratedCertificate};
    let cert =
        GeneratedCertificate::generate("weather daemon", std::time::Duration::from_secs(3600))
            .unwrap();
    let mut config = DevIssuerConfig::default();
    let daemon = config
        .clients
        .iter_mut()
        .find(|c| c.client_id == DEV_DAEMON_CLIENT_ID)
        .unwrap();
    daemon.secret = None;
    daemon.certificates = vec![cert.certificate.clone()];
    let service = spawn_entra_service_with(config).await;
    let files = tempfile::tempdir().unwrap();
    let pfx = files.path().join("daemon.pfx");
    std::fs::write(
        &pfx,
        cert.to_file(CertificateFileFormat::Pfx, Some("pfx-password"))
            .unwrap(),
    )
    .unwrap();
    let config = files.path().join("weather.json");
    std::fs::write(
        &config,
        json!({
            "instance": service.instance(),
            "tenant_id": DEV_TENANT_ID,
            "api_client_id": DEV_API_CLIENT_ID,
            "client_id": DEV_DAEMON_CLIENT_ID,
            "client_certificate": pfx,
        })
        .to_string(),
    )
    .unwrap();
    let config = config.to_str().unwrap();

    let wrong = Weather::new(&service)
        .env("WEATHER_CLIENT_CERTIFICATE_PASSWORD", "not-the-password")
        .run(&["--config", config, "reports"])
        .await;
    assert_eq!(wrong.code, 2, "{wrong:#?}");
    assert!(wrong.stderr.contains("daemon.pfx"), "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains("password does not decrypt"),
        "{}",
        wrong.stderr
    );
    assert!(
        !wrong.stderr.contains("not-the-password"),
        "{}",
        wrong.stderr
    );
    assert_eq!(service.token_requests(), 0);

    let run = Weather::new(&service)
        .env("WEATHER_CLIENT_CERTIFICATE_PASSWORD", "pfx-password")
        .run(&["--config", config, "report", "Clear", "--city", "Portland"])
        .await;
    run.ok();
    assert_eq!(service.token_requests(), 1);
    assert_eq!(service.api_reports().await[0]["description"], "Clear");
}

#[tokio::test]
async fn default_config_file_is_read_from_xdg_config_home_and_bad_keys_are_usage_errors() {
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    let dir = weather.home().join("config/weather-cli");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), r#"{"tenant": "typo"}"#).unwrap();
    let run = weather.run(&["reports"]).await;
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains("config.json"), "{}", run.stderr);
    assert!(
        run.stderr.contains("unknown field `tenant`"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn unreachable_service_asks_whether_it_runs_and_how_to_start_it_and_exits_8() {
    let url = closed_port_url().await;
    // Through the default development issuer (the token request fails first) and with a given token.
    for args in [&["reports"][..], &["reports", "--token", "x"][..]] {
        let run = Weather::at(&url).run(args).await;
        assert_eq!(run.code, 8, "{run:#?}");
        assert_eq!(
            run.stderr,
            format!(
                "weather: cannot reach {url} (connection refused): is the service running at {url}? \
                 start it with cargo run -p weather-api\n"
            )
        );
    }
}

#[tokio::test]
async fn stopped_service_is_reported_unreachable() {
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    weather.run(&["reports"]).await.ok();
    let address = service.address.clone();
    service.stop().await;
    let run = weather.run(&["reports"]).await;
    assert_eq!(run.code, 8, "{run:#?}");
    assert!(run
        .stderr
        .contains(&format!("is the service running at {address}?")));
}

#[tokio::test]
async fn default_settings_against_a_service_with_identity_settings_explain_the_missing_dev_issuer()
{
    let service = spawn_entra_service().await;
    let run = Weather::new(&service).run(&["reports"]).await;
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(
        run.stderr.starts_with(&format!(
            "weather: unexpected answer from the identity provider at {}/dev-issuer/{DEV_TENANT_ID}/oauth2/v2.0/token: HTTP 404",
            service.address
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: the service has no development issuer"),
        "{}",
        run.stderr
    );
    assert_eq!(service.token_requests(), 0);
}

#[tokio::test]
async fn expired_user_sign_in_asks_to_sign_in_again_without_falling_back_to_client_credentials() {
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    std::fs::create_dir_all(weather.cache_file().parent().unwrap()).unwrap();
    // A sign-in without a refresh token (as an older sign-in without offline_access left it).
    std::fs::write(
        weather.cache_file(),
        json!({"version": 1, "active": "a11ce.t", "accounts": [{
            "id": "a11ce.t",
            "tenant_id": DEV_TENANT_ID,
            "oid": "a11ce",
            "username": "alice@dev.example",
            "name": "Alice Example",
            "client_id": entra_dev::defaults::DEV_PUBLIC_CLIENT_ID,
            "instance": format!("{}/dev-issuer/", service.address),
            "access_tokens": [{
                "scopes": format!("api://{DEV_API_CLIENT_ID}/weather.read api://{DEV_API_CLIENT_ID}/weather.write"),
                "token": service.expired_token(),
                "expires_at": 1000,
            }],
        }]})
        .to_string(),
    )
    .unwrap();
    let run = weather.run(&["reports"]).await;
    assert_eq!(run.code, 3, "{run:#?}");
    assert_eq!(
        run.stderr,
        "weather: not signed in: the sign-in of Alice Example (alice@dev.example) has expired\n\
         weather: hint: sign in again with `weather login` (or `weather logout` to use client credentials)\n"
    );
    assert_eq!(service.token_requests(), 0);
}

#[tokio::test]
async fn client_managed_identity_authenticates_the_daemon_without_a_secret() {
    use entra_dev::DevIssuerConfig;
    // The daemon's registration keeps only its federated credentials: the development managed
    // identities (trusted by default).
    let mut config = DevIssuerConfig::default();
    let daemon = config
        .clients
        .iter_mut()
        .find(|c| c.client_id == DEV_DAEMON_CLIENT_ID)
        .unwrap();
    daemon.secret = None;
    let service = spawn_entra_service_with(config).await;
    let files = tempfile::tempdir().unwrap();
    let config = files.path().join("weather.json");
    std::fs::write(
        &config,
        json!({
            "instance": service.instance(),
            "tenant_id": DEV_TENANT_ID,
            "api_client_id": DEV_API_CLIENT_ID,
            "client_id": DEV_DAEMON_CLIENT_ID,
            "client_managed_identity": "system",
        })
        .to_string(),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    // The host's instance metadata service, moved to the development issuer as the platform's
    // variable would.
    let run = Weather::new(&service)
        .env("AZURE_POD_IDENTITY_AUTHORITY_HOST", &service.instance())
        .run(&["--config", config, "report", "Clear", "--city", "Portland"])
        .await;
    run.ok();
    let stats = service.issuer.stats();
    assert_eq!(stats.client_credentials_requests, 1);
    assert_eq!(stats.managed_identity_requests, 1);
    assert_eq!(service.api_reports().await[0]["description"], "Clear");

    // A plain-http endpoint on a remote host is refused before anything is sent, naming the key.
    let refused = Weather::new(&service)
        .env("IDENTITY_ENDPOINT", "http://identity.example/msi/token")
        .env("IDENTITY_HEADER", "platform-secret-value")
        .run(&["--config", config, "reports"])
        .await;
    assert_eq!(refused.code, 2, "{refused:#?}");
    assert!(
        refused.stderr.contains("client_managed_identity"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("IDENTITY_ENDPOINT"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("platform-secret-value"));
}
