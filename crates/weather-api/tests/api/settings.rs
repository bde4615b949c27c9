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
fn common_tenant_without_allow_list_stops_the_binary_naming_the_settings_that_exist() {
    for tenant in ["common", "organizations"] {
        let dir = tempfile::tempdir().unwrap();
        let (code, stderr) = crate::dev_mode::run_to_exit(
            dir.path(),
            &[],
            &[
                ("WEATHER_API__BIND", "127.0.0.1:0"),
                ("WEATHER_API__AZURE_AD__TENANT_ID", tenant),
                ("WEATHER_API__AZURE_AD__CLIENT_ID", DEV_API_CLIENT_ID),
            ],
        )
        .unwrap_or_else(|logs| panic!("{tenant}: served instead of stopping: {logs}"));
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.starts_with(&format!(
                "weather-api: invalid settings: azure_ad.allowed_tenants: azure_ad.tenant_id is \"{tenant}\", which accepts tokens issued in any tenant: list the directory (tenant) ids allowed to call this API in azure_ad.allowed_tenants"
            )),
            "{stderr}"
        );
        assert!(
            stderr.contains("WEATHER_API__AZURE_AD__ALLOWED_TENANTS=<id>,<id>"),
            "{stderr}"
        );
        // no Rust method: a service's user has settings only
        assert!(!stderr.contains("dangerous_accept_any_tenant"), "{stderr}");
        assert!(!stderr.contains("()"), "{stderr}");
    }
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
fn settings_template_loads_once_its_identity_is_filled_in_and_not_before() {
    let template = concat!(env!("CARGO_MANIFEST_DIR"), "/settings_template.json");
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(template).unwrap();
    let _: Value = serde_json::from_str(&text).expect("template is JSON");
    let err = Settings::load(Some(Path::new(template)), dir.path(), Vec::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("azure_ad.tenant_id: must be set in production mode"),
        "{err}"
    );
    let filled = production(&[])
        .into_iter()
        .map(|(k, v)| (format!("WEATHER_API__{k}"), v.to_owned()));
    let settings = Settings::load(Some(Path::new(template)), dir.path(), filled);
    assert!(settings.is_ok(), "{:?}", settings.err());
    assert!(!settings.unwrap().is_development_mode());
}

#[tokio::test]
async fn development_mode_starts_serves_its_own_issuer_and_accepts_its_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        ("WEATHER_API__MODE".to_owned(), "development".to_owned()),
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

#[tokio::test]
async fn app_starts_from_an_aspnet_appsettings_json_and_accepts_its_registrations_tokens() {
    let issuer = entra_dev::DevIssuer::spawn(entra_dev::DevIssuerConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // What a Microsoft.Identity.Web project already has, pointed at the in-process issuer.
    let appsettings = serde_json::json!({
        "AzureAd": {
            "Instance": issuer.issuer.instance().as_str(),
            "TenantId": DEV_TENANT_ID,
            "ClientId": DEV_API_CLIENT_ID,
            "Audience": format!("api://{DEV_API_CLIENT_ID}"),
            "Domain": "contoso.onmicrosoft.com",
            "CallbackPath": "/signin-oidc",
            "AllowWebApiToBeAuthorizedByACL": false
        },
        "Logging": {"LogLevel": {"Default": "Information", "Microsoft.AspNetCore": "Warning"}},
        "AllowedHosts": "*"
    });
    let path = dir.path().join("appsettings.json");
    std::fs::write(&path, appsettings.to_string()).unwrap();
    let env = vec![
        ("WEATHER_API__BIND".to_owned(), "127.0.0.1:0".to_owned()),
        (
            "WEATHER_API__DATABASE_URL".to_owned(),
            "sqlite://weather.db".to_owned(),
        ),
    ];
    let settings = Settings::load(Some(&path), dir.path(), env).unwrap();
    assert!(!settings.is_development_mode());
    let identity = settings.azure_ad.identity.clone().unwrap();
    assert_eq!(identity.tenant_id, DEV_TENANT_ID);
    assert_eq!(identity.client_id, DEV_API_CLIENT_ID);
    let mut warnings = settings.warnings.clone();
    warnings.sort();
    assert_eq!(
        warnings
            .iter()
            .map(|w| w.split(':').next().unwrap())
            .collect::<Vec<_>>(),
        [
            "AllowedHosts",
            "AzureAd.AllowWebApiToBeAuthorizedByACL",
            "AzureAd.CallbackPath",
            "Logging"
        ]
    );

    serves_the_issuers_tokens_without_a_development_issuer(settings, &issuer).await;
}

/// Starts the app from `settings` (production mode, `issuer` as its authority) over real HTTP: a token
/// of `issuer` reads `/api/reports` (200, `[]`) and no development issuer is mounted (404).
pub(crate) async fn serves_the_issuers_tokens_without_a_development_issuer(
    settings: Settings,
    issuer: &entra_dev::RunningDevIssuer,
) {
    let app = Application::build(settings).await.unwrap();
    assert!(app.dev_issuer().is_none());
    let base = format!("http://{}", app.local_addr());
    app.validator().warm_up().await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    let token = issuer
        .issuer
        .mint(&crate::helpers::user_with_scopes(&["weather.read"]))
        .unwrap();
    let response = client()
        .get(format!("{base}/api/reports"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        serde_json::json!([])
    );
    let dev = client()
        .get(format!(
            "{base}/dev-issuer/{DEV_TENANT_ID}/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(dev.status().as_u16(), 404, "no development issuer");
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[test]
fn aspnet_section_conflicting_with_ours_names_both_keys() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("settings.json"),
        format!(
            r#"{{"azure_ad": {{"client_id": "{DEV_API_CLIENT_ID}"}}, "AzureAd": {{"ClientId": "c0ffee00-1111-4222-8333-444455556666"}}}}"#
        ),
    )
    .unwrap();
    let err = Settings::load(None, dir.path(), Vec::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("AzureAd.ClientId: conflicts with azure_ad.client_id"),
        "{err}"
    );
}

#[test]
fn our_own_unknown_keys_still_fail_beside_aspnet_sections() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("settings.json"),
        r#"{"Logging": {}, "AzureAd": {}, "trusted_proxy": ["127.0.0.1"]}"#,
    )
    .unwrap();
    let err = Settings::load(None, dir.path(), Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("trusted_proxy: unknown key"), "{err}");
}

#[test]
fn trusted_proxies_and_metrics_allow_parse_or_name_their_key() {
    let ok = load(&production(&[
        ("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8, ::1"),
        ("METRICS_ALLOW", "192.168.0.0/16"),
    ]))
    .unwrap();
    assert_eq!(ok.trusted_proxies.networks().len(), 3);
    assert!(ok.trusted_proxies.contains("10.9.8.7".parse().unwrap()));
    assert_eq!(ok.metrics_allow.len(), 1);
    let err = load(&[("TRUSTED_PROXIES", "nginx")]).unwrap_err();
    assert!(err.starts_with("trusted_proxies: "), "{err}");
    let err = load(&[("METRICS_ALLOW", "10.0.0.0/40")]).unwrap_err();
    assert!(err.starts_with("metrics_allow: "), "{err}");
}

#[tokio::test]
async fn development_mode_picks_up_a_key_rotated_by_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("entra-dev");
    let env = vec![
        ("WEATHER_API__MODE".to_owned(), "development".to_owned()),
        ("WEATHER_API__BIND".to_owned(), "127.0.0.1:0".to_owned()),
        (
            "WEATHER_API__DATABASE_URL".to_owned(),
            "sqlite://weather.db".to_owned(),
        ),
    ];
    let settings = Settings::load(None, dir.path(), env).unwrap();
    let app = Application::build_with(
        settings,
        Overrides {
            dev_data_dir: Some(data_dir.clone()),
            ..Overrides::default()
        },
    )
    .await
    .unwrap();
    let base = format!("http://{}", app.local_addr());
    let served = app.dev_issuer().unwrap().clone();
    let before = served.current_kid();
    let validator = app.validator().clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));

    // Keys come from the app's own /dev-issuer, so only once it serves.
    validator.warm_up().await.unwrap();

    // `entra-dev keys rotate` in another terminal: another issuer on the same data directory.
    let cli = entra_dev::DevIssuer::new(
        entra_dev::DevIssuerConfig {
            data_dir: Some(data_dir),
            ..Default::default()
        },
        served.instance().clone(),
    )
    .unwrap();
    let rotated = cli.rotate_key().unwrap();
    assert_ne!(rotated, before);
    // The service's watcher checks the key file every 2 s: wait (bounded) for it to serve the new key.
    tokio::time::timeout(std::time::Duration::from_secs(15), async {
        while served.current_kid() != rotated {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the running service reloads the rotated key");

    // A token signed with the new key (as `entra-dev token` now mints) is accepted.
    let token = cli
        .mint(&crate::helpers::user_with_scopes(&["weather.read"]))
        .unwrap();
    let response = client()
        .get(format!("{base}/api/reports"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[test]
fn aspnet_b2c_section_loads_as_the_b2c_user_flow() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("appsettings.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"AzureAd": {{"Instance": "https://contoso.b2clogin.com/", "ClientId": "{DEV_API_CLIENT_ID}",
                "Domain": "contoso.onmicrosoft.com", "SignUpSignInPolicyId": "B2C_1_susi",
                "ResetPasswordPolicyId": "B2C_1_reset"}}}}"#
        ),
    )
    .unwrap();
    let settings = Settings::load(Some(&path), dir.path(), Vec::new()).unwrap();
    let b2c = settings.azure_ad.b2c.clone().expect("B2C user flow");
    assert_eq!(b2c.tenant_name, "contoso");
    assert_eq!(b2c.policy, "B2C_1_susi");
    assert_eq!(
        settings.azure_ad.instance.as_str(),
        "https://contoso.b2clogin.com/"
    );
    assert_eq!(
        settings.azure_ad.identity.unwrap().client_id,
        DEV_API_CLIENT_ID
    );
    assert_eq!(
        settings.warnings,
        ["AzureAd.ResetPasswordPolicyId: ignored (a Microsoft.Identity.Web option this service does not use)"]
    );
}

#[test]
fn aspnet_b2c_template_section_is_read_case_insensitively_and_never_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("appsettings.json");
    // Microsoft.Identity.Web's B2C web API template, keys in another case.
    std::fs::write(
        &path,
        format!(
            r#"{{"AzureAdB2C": {{"instance": "https://contoso.b2clogin.com/", "clientId": "{DEV_API_CLIENT_ID}",
                "domain": "contoso.onmicrosoft.com", "signUpSignInPolicyId": "B2C_1_susi"}}}}"#
        ),
    )
    .unwrap();
    let settings = Settings::load(Some(&path), dir.path(), Vec::new()).unwrap();
    assert!(!settings.is_development_mode());
    let b2c = settings.azure_ad.b2c.clone().expect("B2C user flow");
    assert_eq!(b2c.tenant_name, "contoso");
    assert_eq!(b2c.policy, "B2C_1_susi");
    assert_eq!(
        settings.azure_ad.identity.unwrap().tenant_id,
        "contoso.onmicrosoft.com"
    );
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);

    std::fs::write(
        &path,
        r#"{"AzureAd": {"TenantId": "x"}, "azureadb2c": {"ClientId": "y"}}"#,
    )
    .unwrap();
    let err = Settings::load(Some(&path), dir.path(), Vec::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("azureadb2c: a second identity section beside AzureAd")
            || err.starts_with("AzureAd: a second identity section beside azureadb2c"),
        "{err}"
    );
    std::fs::write(
        &path,
        format!(
            r#"{{"AzureAd": {{"TenantId": "{DEV_TENANT_ID}", "tenantid": "{DEV_TENANT_ID}"}}}}"#
        ),
    )
    .unwrap();
    let err = Settings::load(Some(&path), dir.path(), Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("given twice"), "{err}");
}

#[test]
fn several_authorities_load_in_name_order_and_the_single_one_keeps_working() {
    let single = load(&production(&[])).unwrap();
    assert!(single.azure_ad.authorities.is_empty());
    let identity = single.azure_ad.identity.clone().unwrap();
    let configs = single.azure_ad.to_auth_configs(&identity, None).unwrap();
    assert_eq!(configs.len(), 1);
    assert_eq!(configs[0].name(), None);

    let s = load(&production(&[
        (
            "AZURE_AD__AUTHORITIES__PARTNER__TENANT_ID",
            "11111111-2222-4333-8444-555555555555",
        ),
        (
            "AZURE_AD__AUTHORITIES__PARTNER__CLIENT_ID",
            DEV_API_CLIENT_ID,
        ),
        (
            "AZURE_AD__AUTHORITIES__CUSTOMERS__INSTANCE",
            "https://contosob2c.b2clogin.com",
        ),
        (
            "AZURE_AD__AUTHORITIES__CUSTOMERS__TENANT_ID",
            "contosob2c.onmicrosoft.com",
        ),
        (
            "AZURE_AD__AUTHORITIES__CUSTOMERS__CLIENT_ID",
            DEV_API_CLIENT_ID,
        ),
        (
            "AZURE_AD__AUTHORITIES__CUSTOMERS__B2C__TENANT_NAME",
            "contosob2c",
        ),
        (
            "AZURE_AD__AUTHORITIES__CUSTOMERS__B2C__POLICY",
            "B2C_1_signin",
        ),
    ]))
    .unwrap();
    let names: Vec<&str> = s
        .azure_ad
        .authorities
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(names, ["customers", "partner"]);
    let configs = s
        .azure_ad
        .to_auth_configs(s.azure_ad.identity.as_ref().unwrap(), None)
        .unwrap();
    let names: Vec<Option<&str>> = configs.iter().map(|c| c.name()).collect();
    assert_eq!(names, [Some("primary"), Some("customers"), Some("partner")]);
    assert_eq!(
        configs[1].instance().as_str(),
        "https://contosob2c.b2clogin.com/"
    );
    // the partner inherits the primary instance
    assert_eq!(
        configs[2].instance().as_str(),
        "https://login.microsoftonline.com/"
    );
}

#[test]
fn invalid_authority_entries_name_their_key() {
    for (pairs, expected) in [
        (
            production(&[("AZURE_AD__AUTHORITIES__B2C__TENANT_ID", "contoso.onmicrosoft.com")]),
            "azure_ad.authorities.b2c.client_id: must be set",
        ),
        (
            production(&[
                ("AZURE_AD__AUTHORITIES__B2C__TENANT_ID", "not a tenant"),
                ("AZURE_AD__AUTHORITIES__B2C__CLIENT_ID", DEV_API_CLIENT_ID),
            ]),
            "azure_ad.authorities.b2c.tenant_id: invalid tenant",
        ),
        (
            production(&[
                ("AZURE_AD__AUTHORITIES__B2C__TENANT_ID", "contoso.onmicrosoft.com"),
                ("AZURE_AD__AUTHORITIES__B2C__CLIENT_ID", DEV_API_CLIENT_ID),
                ("AZURE_AD__AUTHORITIES__B2C__B2C__POLICY", "B2C_1_x"),
            ]),
            "azure_ad.authorities.b2c.b2c.tenant_name: must be set when azure_ad.authorities.b2c.b2c.policy is set",
        ),
        (
            production(&[("AZURE_AD__AUTHORITIES__B2C__TENANTID", "x")]),
            "azure_ad.authorities.b2c.tenantid: unknown key",
        ),
        (
            production(&[
                ("AZURE_AD__AUTHORITIES__PRIMARY__TENANT_ID", DEV_TENANT_ID),
                ("AZURE_AD__AUTHORITIES__PRIMARY__CLIENT_ID", DEV_API_CLIENT_ID),
            ]),
            "azure_ad.authorities.primary: invalid authority name \"primary\"",
        ),
        (
            vec![
                ("AZURE_AD__AUTHORITIES__B2C__TENANT_ID", DEV_TENANT_ID),
                ("AZURE_AD__AUTHORITIES__B2C__CLIENT_ID", DEV_API_CLIENT_ID),
            ],
            "azure_ad.tenant_id: must be set when azure_ad.authorities is set",
        ),
    ] {
        let err = load(&pairs).unwrap_err();
        assert!(err.starts_with(expected), "{err}");
    }
}

#[tokio::test]
async fn workforce_and_b2c_authorities_accept_both_and_keep_accepted_issuers_out_of_the_401() {
    let app = crate::helpers::spawn_app_with(
        crate::helpers::TestConfig::new()
            .set("AZURE_AD__AUTHORITIES__CUSTOMERS__TENANT_ID", DEV_TENANT_ID)
            .set(
                "AZURE_AD__AUTHORITIES__CUSTOMERS__CLIENT_ID",
                DEV_API_CLIENT_ID,
            )
            .set(
                "AZURE_AD__AUTHORITIES__CUSTOMERS__B2C__TENANT_NAME",
                "devb2c",
            )
            .set(
                "AZURE_AD__AUTHORITIES__CUSTOMERS__B2C__POLICY",
                "B2C_1_susi",
            ),
    )
    .await;
    let workforce = app.mint(&crate::helpers::user_with_scopes(&["weather.read"]));
    let customer = app.mint(&entra_dev::TokenRequest {
        b2c_policy: Some("B2C_1_susi".into()),
        ..crate::helpers::user_with_scopes(&["weather.read"])
    });
    for token in [&workforce, &customer] {
        let r = app.get("/api/reports", Some(token)).await;
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.json::<Value>().await.unwrap(), serde_json::json!([]));
    }
    // the home page greets either
    let html = app.get("/", Some(&customer)).await.text().await.unwrap();
    assert!(html.contains("Signed in as"), "{html}");

    let stranger = entra_dev::DevIssuer::spawn(entra_dev::DevIssuerConfig::default())
        .await
        .unwrap();
    let foreign = stranger
        .issuer
        .mint(&crate::helpers::user_with_scopes(&["weather.read"]))
        .unwrap();
    let foreign_issuer = stranger.issuer.issuer_v2(DEV_TENANT_ID);
    let r = app.get("/api/reports", Some(&foreign)).await;
    assert_eq!(r.status().as_u16(), 401);
    assert!(crate::helpers::challenge(&r).starts_with("Bearer error=\"invalid_token\""));
    let body = crate::helpers::problem(r).await;
    assert_eq!(body["code"], "unknown_issuer");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains(&foreign_issuer), "{detail}");
    // the accepted issuers are configuration: not in the answer
    for accepted in [
        app.issuer.issuer.issuer_b2c(DEV_TENANT_ID),
        app.issuer.issuer.issuer_v2(DEV_TENANT_ID),
    ] {
        assert!(!detail.contains(&accepted), "{detail}");
    }
}

/// Runs the binary in production mode with `database_url` until it exits: (exit code, stderr).
fn start_with_database(database_url: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    crate::dev_mode::run_to_exit(
        dir.path(),
        &[],
        &[
            ("WEATHER_API__BIND", "127.0.0.1:0"),
            ("WEATHER_API__AZURE_AD__TENANT_ID", DEV_TENANT_ID),
            ("WEATHER_API__AZURE_AD__CLIENT_ID", DEV_API_CLIENT_ID),
            ("WEATHER_API__DATABASE_URL", database_url),
        ],
    )
    .unwrap_or_else(|logs| panic!("{database_url}: served instead of stopping: {logs}"))
}

#[test]
fn database_url_sqlite_in_a_missing_directory_stops_the_binary_naming_the_directory_and_create_it()
{
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let (code, stderr) = start_with_database(&format!(
        "sqlite://{}",
        missing.join("weather.db").display()
    ));
    assert_eq!(code, 1, "{stderr}");
    let missing = missing.display();
    assert_eq!(
        stderr.trim_end(),
        format!(
            "weather-api: cannot start: database_url: cannot open the report database: the SQLite \
             database's directory {missing} does not exist; create it (mkdir -p {missing}) or point \
             database_url at a file in an existing directory"
        )
    );
    assert!(!stderr.contains("Error code 14"), "{stderr}");
}

#[test]
fn database_url_postgres_on_a_closed_port_stops_the_binary_with_host_port_and_connection_refused() {
    // a port the OS just handed out and that nothing listens on any more
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, stderr) =
        start_with_database(&format!("postgres://weather@127.0.0.1:{port}/weather"));
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "weather-api: cannot start: database_url: cannot open the report database: PostgreSQL \
             at 127.0.0.1:{port}: connection refused; check the host and port in database_url (is \
             PostgreSQL running and listening there?)"
        )
    );
    assert!(!stderr.contains("pool timed out"), "{stderr}");
}

#[test]
fn database_url_postgres_missing_database_stops_the_binary_naming_createdb_once() {
    let Ok(url) = std::env::var("TEST_POSTGRES_URL") else {
        println!("skipped: set TEST_POSTGRES_URL");
        return;
    };
    let mut url = url::Url::parse(&url).unwrap();
    let name = format!("weather_missing_{}", uuid::Uuid::new_v4().simple());
    url.set_path(&name);
    let host = url.host_str().unwrap().to_owned();
    let port = url.port().unwrap_or(5432);
    let user = url.username().to_owned();
    let (code, stderr) = start_with_database(url.as_str());
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "weather-api: cannot start: database_url: cannot open the report database: PostgreSQL \
             at {host}:{port}: database \"{name}\" does not exist; create it (createdb -h {host} -p \
             {port} -U {user} {name}) or fix the database name in database_url"
        )
    );
    assert_eq!(stderr.matches("does not exist").count(), 1, "{stderr}");
}
