//! `/openapi.json` and the interactive documentation under `/docs`.

use entra_dev::defaults::{DEV_API_CLIENT_ID, DEV_PUBLIC_CLIENT_ID, DEV_TENANT_ID};
use serde_json::Value;

use crate::helpers::{client, spawn_app, spawn_app_with, TestConfig};

/// Anything with a base address to GET from.
trait Base {
    fn base(&self) -> &str;
}

impl Base for crate::helpers::TestApp {
    fn base(&self) -> &str {
        &self.address
    }
}

/// A service in development mode (no azure_ad settings: it mounts its own issuer), stopped on drop.
struct DevModeApp {
    address: String,
    _dir: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Base for DevModeApp {
    fn base(&self) -> &str {
        &self.address
    }
}

async fn spawn_dev_mode_app() -> DevModeApp {
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        ("WEATHER_API__MODE".to_owned(), "development".to_owned()),
        ("WEATHER_API__BIND".to_owned(), "127.0.0.1:0".to_owned()),
        (
            "WEATHER_API__DATABASE_URL".to_owned(),
            "sqlite://weather.db".to_owned(),
        ),
    ];
    let settings = weather_api::Settings::load(None, dir.path(), env).unwrap();
    let app = weather_api::Application::build_with(
        settings,
        weather_api::startup::Overrides {
            dev_data_dir: Some(dir.path().join("entra-dev")),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let address = format!("http://{}", app.local_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = rx.await;
    }));
    DevModeApp {
        address,
        _dir: dir,
        _shutdown: tx,
    }
}

async fn get(app: &impl Base, path: &str) -> reqwest::Response {
    client()
        .get(format!("{}{path}", app.base()))
        .send()
        .await
        .expect("request sent")
}

async fn document(app: &impl Base) -> Value {
    let response = get(app, "/openapi.json").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.expect("the document is JSON")
}

fn read_scope() -> String {
    format!("api://{DEV_API_CLIENT_ID}/weather.read")
}

fn write_scope() -> String {
    format!("api://{DEV_API_CLIENT_ID}/weather.write")
}

#[tokio::test]
async fn openapi_json_is_3_1_with_every_endpoint() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Weather Service");
    let mut operations: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    operations.sort();
    assert_eq!(
        operations,
        [
            "GET /",
            "GET /api/reports",
            "GET /api/reports/{id}",
            "GET /api/weather/{city}",
            "GET /healthz",
            "GET /metrics",
            "GET /readyz",
            "POST /api/reports",
        ]
    );
}

#[tokio::test]
async fn openapi_security_requires_read_on_gets_and_write_on_post() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let security = |method: &str, path: &str| doc["paths"][path][method]["security"].clone();
    for path in ["/api/reports", "/api/reports/{id}", "/api/weather/{city}"] {
        assert_eq!(
            security("get", path),
            serde_json::json!([{"entra_id": [read_scope()]}, {"entra_id_app_token": ["Weather.Read.All"]}]),
            "GET {path}"
        );
    }
    assert_eq!(
        security("post", "/api/reports"),
        serde_json::json!([{"entra_id": [write_scope()]}, {"entra_id_app_token": ["Weather.Write.All"]}])
    );
    for path in ["/", "/healthz", "/readyz", "/metrics"] {
        assert!(
            security("get", path).is_null(),
            "{path} is public: {}",
            security("get", path)
        );
    }
}

#[tokio::test]
async fn openapi_oauth_urls_point_at_the_configured_tenant() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let flow = &doc["components"]["securitySchemes"]["entra_id"]["flows"]["authorizationCode"];
    let authority = format!("{}{DEV_TENANT_ID}", app.issuer.issuer.instance());
    assert_eq!(
        flow["authorizationUrl"],
        format!("{authority}/oauth2/v2.0/authorize")
    );
    assert_eq!(flow["tokenUrl"], format!("{authority}/oauth2/v2.0/token"));
    let scopes: Vec<&String> = flow["scopes"].as_object().unwrap().keys().collect();
    assert_eq!(scopes, [&read_scope(), &write_scope()]);
}

#[tokio::test]
async fn openapi_role_names_follow_the_settings() {
    let app = spawn_app_with(
        TestConfig::new()
            .set("AZURE_AD__READ_ROLE", "Reports.Read")
            .set("AZURE_AD__WRITE_ROLE", "Reports.Write"),
    )
    .await;
    let doc = document(&app).await;
    assert_eq!(
        doc["paths"]["/api/reports"]["get"]["security"][1]["entra_id_app_token"],
        serde_json::json!(["Reports.Read"])
    );
    assert_eq!(
        doc["paths"]["/api/reports"]["post"]["security"][1]["entra_id_app_token"],
        serde_json::json!(["Reports.Write"])
    );
}

#[tokio::test]
async fn openapi_documents_problem_answers_per_operation() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let statuses = |method: &str, path: &str| -> Vec<String> {
        doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(
        statuses("get", "/api/weather/{city}"),
        ["200", "400", "401", "403", "404", "429", "502", "503", "504"]
    );
    assert_eq!(
        statuses("post", "/api/reports"),
        ["201", "400", "401", "403", "413", "415", "422", "429", "503"]
    );
    assert_eq!(
        statuses("get", "/api/reports/{id}"),
        ["200", "304", "400", "401", "403", "404", "429", "503"]
    );
    assert_eq!(
        statuses("get", "/api/reports"),
        ["200", "304", "400", "401", "403", "429", "503"]
    );
    let list = &doc["paths"]["/api/reports"]["get"];
    let params: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["limit", "after", "If-None-Match"]);
    assert_eq!(list["parameters"][0]["schema"]["minimum"], 1);
    assert_eq!(list["parameters"][0]["schema"]["maximum"], 500);
    assert!(list["responses"]["200"]["headers"]["Link"].is_object());
    assert!(list["responses"]["200"]["headers"]["ETag"].is_object());
    let too_many = &doc["components"]["responses"]["TooManyRequests"];
    for name in ["Retry-After", "RateLimit-Policy", "RateLimit"] {
        assert!(too_many["headers"][name].is_object(), "{name}");
    }
    let unauthorized = &doc["components"]["responses"]["Unauthorized"];
    let content = &unauthorized["content"]["application/problem+json"];
    assert_eq!(content["schema"]["$ref"], "#/components/schemas/Problem");
    assert_eq!(
        content["examples"]["missing_token"]["value"]["code"],
        "missing_token"
    );
    assert!(unauthorized["headers"]["WWW-Authenticate"].is_object());
    let problem = &doc["components"]["schemas"]["Problem"];
    assert_eq!(
        problem["required"],
        serde_json::json!(["type", "title", "status", "detail", "code"])
    );
    assert_eq!(
        doc["paths"]["/api/reports"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/ReportSubmission"
    );
    assert!(doc["components"]["schemas"]["ReportSubmission"]["example"].is_object());
    // What the service refuses, the document refuses too: unknown fields, control characters.
    let schemas = &doc["components"]["schemas"];
    for (schema, text) in [
        ("ReportSubmission", "description"),
        ("LocationSubmission", "city"),
    ] {
        assert_eq!(schemas[schema]["type"], "object", "{schema}");
        assert_eq!(schemas[schema]["additionalProperties"], false, "{schema}");
        let pattern = schemas[schema]["properties"][text]["pattern"]
            .as_str()
            .unwrap();
        assert!(
            pattern.contains(r"\u0000-\u001F\u007F-\u009F"),
            "{schema}.{text}: {pattern}"
        );
        assert!(
            pattern.contains(r"\u202A-\u202E\u2066-\u2069"),
            "{schema}.{text}: {pattern}"
        );
    }
}

#[tokio::test]
async fn openapi_answers_of_the_service_match_their_documented_statuses() {
    // A real 401 and a real 201 are among the documented answers of their operations.
    let app = spawn_app().await;
    let doc = document(&app).await;
    let response = app.get("/api/reports", None).await;
    assert_eq!(response.status().as_u16(), 401);
    assert!(doc["paths"]["/api/reports"]["get"]["responses"]["401"].is_object());
    let body = crate::helpers::problem(response).await;
    let required = doc["components"]["schemas"]["Problem"]["required"]
        .as_array()
        .unwrap()
        .clone();
    for key in required {
        assert!(body.get(key.as_str().unwrap()).is_some(), "{key}: {body}");
    }
}

#[tokio::test]
async fn docs_page_is_html_without_inline_script_under_a_strict_policy() {
    let app = spawn_app().await;
    let response = app.get("/docs", None).await;
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(!csp.contains("'unsafe-inline' ;") && !csp.contains("script-src 'self' 'unsafe"));
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"<script src="/docs/swagger-ui-bundle.js""#));
    assert!(html.contains(r#"<script src="/docs/swagger-initializer.js""#));
    // Every <script> has a src and an empty body.
    for chunk in html.split("<script").skip(1) {
        let (tag, rest) = chunk.split_once('>').unwrap();
        assert!(tag.contains("src="), "inline script: {chunk}");
        assert!(rest.starts_with("</script>"), "inline script: {chunk}");
    }
    assert!(!html.contains("onload="), "no inline handlers");
    assert!(!html.contains("https://"), "no CDN: {html}");
}

#[tokio::test]
async fn docs_assets_are_served_with_their_content_types() {
    let app = spawn_app().await;
    for (path, content_type, needle) in [
        (
            "/docs/swagger-ui-bundle.js",
            "text/javascript",
            "SwaggerUIBundle",
        ),
        ("/docs/swagger-ui.css", "text/css", ".swagger-ui"),
        (
            "/docs/swagger-initializer.js",
            "text/javascript",
            "initOAuth",
        ),
        (
            "/docs/oauth2-redirect.html",
            "text/html",
            r#"<script src="oauth2-redirect.js">"#,
        ),
        (
            "/docs/oauth2-redirect.js",
            "text/javascript",
            "swaggerUIRedirectOauth2",
        ),
        ("/docs/favicon-32x32.png", "image/png", "PNG"),
    ] {
        let response = app.get(path, None).await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let ct = response.headers()["content-type"].to_str().unwrap();
        assert!(ct.starts_with(content_type), "{path}: {ct}");
        assert!(
            response.headers().contains_key("content-security-policy"),
            "{path}"
        );
        let body = response.bytes().await.unwrap();
        assert!(
            String::from_utf8_lossy(&body).contains(needle),
            "{path} lacks {needle}"
        );
    }
    let missing = app.get("/docs/nope.js", None).await;
    assert_eq!(missing.status().as_u16(), 404);
}

#[tokio::test]
async fn docs_oauth_config_uses_the_public_client_with_pkce_in_development_mode() {
    // spawn_app configures an identity (production mode), so start one in development mode.
    let app = spawn_dev_mode_app().await;
    let response = get(&app, "/docs/swagger-ui-config.json").await;
    assert_eq!(response.status().as_u16(), 200);
    let config: Value = response.json().await.unwrap();
    assert_eq!(config["openapi_url"], "/openapi.json");
    assert_eq!(config["oauth"]["clientId"], DEV_PUBLIC_CLIENT_ID);
    assert_eq!(config["oauth"]["usePkceWithAuthorizationCodeGrant"], true);
    assert_eq!(
        config["oauth"]["scopes"],
        serde_json::json!([read_scope(), write_scope()])
    );
    // The flow points at the development issuer mounted on the service itself.
    let doc = document(&app).await;
    let flow = &doc["components"]["securitySchemes"]["entra_id"]["flows"]["authorizationCode"];
    assert_eq!(
        flow["authorizationUrl"],
        format!(
            "{}/dev-issuer/{DEV_TENANT_ID}/oauth2/v2.0/authorize",
            app.address
        )
    );
}

#[tokio::test]
async fn docs_oauth_config_uses_the_docs_client_id_setting_in_production() {
    let docs_client = "0b0b0b0b-1111-4222-8333-444455556666";
    let app = spawn_app_with(TestConfig::new().set("AZURE_AD__DOCS_CLIENT_ID", docs_client)).await;
    let config: Value = app
        .get("/docs/swagger-ui-config.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(config["oauth"]["clientId"], docs_client);

    let without = spawn_app().await;
    let config: Value = without
        .get("/docs/swagger-ui-config.json", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        config["oauth"].get("clientId").is_none(),
        "no client id configured: the user types one: {config}"
    );
    assert_eq!(config["oauth"]["usePkceWithAuthorizationCodeGrant"], true);
}

#[tokio::test]
async fn home_page_links_to_the_docs() {
    let app = spawn_app().await;
    let html = app.get("/", None).await.text().await.unwrap();
    assert!(html.contains(r#"<a href="/docs">"#), "{html}");
    let redirect = app.get("/docs/", None).await;
    assert_eq!(redirect.status().as_u16(), 308);
    assert_eq!(redirect.headers()["location"], "/docs");
}

/// The document's security for each protected operation is what the endpoint enforces: a token
/// with exactly the documented scope passes the authorisation, one with the other scope gets 403
/// naming the documented scope, and an app token with exactly the documented role passes.
#[tokio::test]
async fn openapi_security_of_each_operation_matches_what_the_endpoint_enforces() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let operations = [
        ("get", "/api/weather/{city}", "/api/weather/portland"),
        ("get", "/api/reports", "/api/reports"),
        (
            "get",
            "/api/reports/{id}",
            "/api/reports/00000000-0000-4000-8000-000000000000",
        ),
        ("post", "/api/reports", "/api/reports"),
    ];
    app.mock_weather_ok().await;
    for (method, template, path) in operations {
        let security = doc["paths"][template][method]["security"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(security.len(), 2, "{method} {template}: {security:?}");
        let scope = security[0]["entra_id"][0].as_str().unwrap();
        let short_scope = scope.rsplit('/').next().unwrap();
        let role = security[1]["entra_id_app_token"][0].as_str().unwrap();
        let other_scope = if short_scope == "weather.read" {
            "weather.write"
        } else {
            "weather.read"
        };
        let send = |token: String| {
            let request = match method {
                "post" => client()
                    .post(app.url(path))
                    .json(&crate::helpers::report_body("Sunny", "Portland")),
                _ => client().get(app.url(path)),
            };
            async move { request.bearer_auth(token).send().await.unwrap() }
        };
        let with_scope = send(app.mint(&crate::helpers::user_with_scopes(&[short_scope]))).await;
        assert!(
            ![401, 403].contains(&with_scope.status().as_u16()),
            "{method} {template} with {short_scope}: {}",
            with_scope.status()
        );
        let with_role = send(app.mint(&crate::helpers::app_with_roles(&[role]))).await;
        assert!(
            ![401, 403].contains(&with_role.status().as_u16()),
            "{method} {template} with role {role}: {}",
            with_role.status()
        );
        let without = send(app.mint(&crate::helpers::user_with_scopes(&[other_scope]))).await;
        assert_eq!(without.status().as_u16(), 403, "{method} {template}");
        let challenge = crate::helpers::challenge(&without);
        assert!(
            challenge.ends_with(&format!("scope=\"{short_scope}\"")),
            "{method} {template}: {challenge}"
        );
        let body = crate::helpers::problem(without).await;
        assert_eq!(body["code"], "insufficient_scope");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("[\"{role}\"]")),
            "{body}"
        );
    }
}
