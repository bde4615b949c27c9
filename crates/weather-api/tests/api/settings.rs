//! Settings errors name their key; development mode starts and serves its own issuer; with azure_ad
//! settings the development issuer is never mounted.

use std::path::Path;

use entra_dev::defaults::{
    DEV_API_CLIENT_ID, DEV_DAEMON_CLIENT_ID, DEV_DAEMON_CLIENT_SECRET, DEV_TENANT_ID,
};
use serde_json::Value;
use weather_api::startup::Overrides;
use weather_api::{Application, Settings};

use crate::helpers::{client, spawn_app};

fn load(pairs: &[(&str, &str)]) -> Result<Settings, String> {
    let dir = tempfile::tempdir().unwrap();
    let env = pairs
        .iter()
        .map(|(k, v)| (format!("WEATHER_API__{k}"), (*v).to_owned()));
    Settings::load(None, dir.path(), env).map_err(|e| e.to_string())
}

fn production(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut pairs = vec![
        ("AZURE_AD__TENANT_ID", DEV_TENANT_ID),
        ("AZURE_AD__CLIENT_ID", DEV_API_CLIENT_ID),
    ];
    pairs.extend_from_slice(extra);
    pairs
}

#[test]
fn invalid_tenant_id_names_the_key() {
    let err = load(&production(&[("AZURE_AD__TENANT_ID", "not a tenant!")])).unwrap_err();
    assert!(err.starts_with("azure_ad.tenant_id: "), "{err}");
}

#[test]
fn invalid_client_id_names_the_key() {
    let err = load(&production(&[("AZURE_AD__CLIENT_ID", "weather")])).unwrap_err();
    assert!(err.starts_with("azure_ad.client_id: "), "{err}");
}

#[test]
fn invalid_instance_names_the_key() {
    let err = load(&production(&[(
        "AZURE_AD__INSTANCE",
        "ftp://login.example/",
    )]))
    .unwrap_err();
    assert!(err.starts_with("azure_ad.instance: "), "{err}");
}

#[test]
fn multi_tenant_without_allow_list_names_the_key() {
    let err = load(&production(&[("AZURE_AD__TENANT_ID", "organizations")])).unwrap_err();
    assert!(err.starts_with("azure_ad.allowed_tenants: "), "{err}");
    let ok = load(&production(&[
        ("AZURE_AD__TENANT_ID", "organizations"),
        ("AZURE_AD__ALLOWED_TENANTS", DEV_TENANT_ID),
    ]));
    assert!(ok.is_ok(), "{ok:?}");
}

#[test]
fn invalid_b2c_policy_names_the_key() {
    let err = load(&production(&[
        ("AZURE_AD__B2C__TENANT_NAME", "contoso"),
        ("AZURE_AD__B2C__POLICY", "bad policy/"),
    ]))
    .unwrap_err();
    assert!(err.starts_with("azure_ad.b2c.policy: "), "{err}");
}

#[test]
fn client_id_without_tenant_names_the_key() {
    let err = load(&[("AZURE_AD__CLIENT_ID", DEV_API_CLIENT_ID)]).unwrap_err();
    assert!(err.starts_with("azure_ad.tenant_id: "), "{err}");
}

#[test]
fn unknown_key_in_settings_file_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("settings.json"),
        r#"{"api_key": "k", "azure_ad": {"tenant": "x"}}"#,
    )
    .unwrap();
    let err = Settings::load(None, dir.path(), Vec::new()).unwrap_err();
    assert!(
        err.to_string().starts_with("azure_ad.tenant: unknown key"),
        "{err}"
    );
}

#[test]
fn missing_explicit_settings_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Settings::load(
        Some(Path::new("/nonexistent/settings.json")),
        dir.path(),
        Vec::new(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/settings.json"),
        "{err}"
    );
}

#[test]
fn settings_template_is_valid_and_loads() {
    let template = concat!(env!("CARGO_MANIFEST_DIR"), "/settings_template.json");
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(template).unwrap();
    let _: Value = serde_json::from_str(&text).expect("template is JSON");
    let settings = Settings::load(Some(Path::new(template)), dir.path(), Vec::new());
    assert!(settings.is_ok(), "{:?}", settings.err());
}

#[tokio::test]
async fn development_mode_starts_serves_its_own_issuer_and_accepts_its_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        ("WEATHER_API__BIND".to_owned(), "127.0.0.1:0".to_owned()),
        (
            "WEATHER_API__DATABASE_URL".to_owned(),
            "sqlite://weather.db".to_owned(),
        ),
    ];
    let settings = Settings::load(None, dir.path(), env).unwrap();
    assert!(settings.is_development_mode());
    let app = Application::build_with(
        settings,
        Overrides {
            dev_data_dir: Some(dir.path().join("entra-dev")),
            ..Overrides::default()
        },
    )
    .await
    .unwrap();
    let base = format!("http://{}", app.local_addr());
    let banner = app.banner().expect("development mode prints a banner");
    assert!(banner.contains("DEVELOPMENT MODE"));
    assert!(banner.contains("NOT FOR PRODUCTION"));
    assert!(banner.contains(&format!(
        "{base}/dev-issuer/{DEV_TENANT_ID}/oauth2/v2.0/token"
    )));
    assert!(banner.contains(&format!("{base}/api/reports")));
    assert!(banner.contains("cargo run -q -p entra-dev -- token"));
    let validator = app.validator().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    // Keys come over HTTP from the app's own /dev-issuer, through discovery.
    validator
        .warm_up()
        .await
        .expect("validator discovers the mounted issuer");
    assert!(dir.path().join("weather.db").is_file());

    let c = client();
    let metadata: Value = c
        .get(format!(
            "{base}/dev-issuer/{DEV_TENANT_ID}/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["issuer"],
        format!("{base}/dev-issuer/{DEV_TENANT_ID}/v2.0")
    );

    // The banner's client-credentials command, done with reqwest.
    let token: Value = c
        .post(format!(
            "{base}/dev-issuer/{DEV_TENANT_ID}/oauth2/v2.0/token"
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_DAEMON_CLIENT_ID),
            ("client_secret", DEV_DAEMON_CLIENT_SECRET),
            ("scope", &format!("api://{DEV_API_CLIENT_ID}/.default")),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access_token = token["access_token"].as_str().expect("access token");
    let response = c
        .get(format!("{base}/api/reports"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let home = c
        .get(format!("{base}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("Development mode"));

    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn with_azure_ad_settings_the_development_issuer_is_not_mounted() {
    let app = spawn_app().await;
    let response = app
        .get(
            &format!("/dev-issuer/{DEV_TENANT_ID}/v2.0/.well-known/openid-configuration"),
            None,
        )
        .await;
    assert_eq!(response.status().as_u16(), 404);
}
