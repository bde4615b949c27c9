//! The weather service's HTTP API: requests, the wire types, and the one mapping from an error answer
//! (status, `application/problem+json` body with `code` and `detail`, `WWW-Authenticate` challenge) to a
//! [`CliError`].

use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use crate::error::{CliError, ConnectFailure, Missing, Peer, ServiceFailure, TokenOrigin};
use entra_core::{ExposeSecret as _, SecretString};

/// A stored report, as the service answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Report {
    /// Server-assigned id.
    pub(crate) id: String,
    /// What the reporter saw.
    pub(crate) description: String,
    /// Where.
    pub(crate) location: Location,
    /// When it was stored (RFC 3339).
    pub(crate) created_date: String,
}

/// A report's place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Location {
    /// City.
    pub(crate) city: String,
    /// Two-letter state, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) state: Option<String>,
    /// Two-letter country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) country: Option<String>,
}

/// A report submission.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct NewReport {
    /// What is happening.
    pub(crate) description: String,
    /// Where.
    pub(crate) location: Location,
}

/// One API call.
#[derive(Debug, Clone)]
pub(crate) struct ApiRequest {
    /// GET or POST.
    pub(crate) method: reqwest::Method,
    /// The full URL.
    pub(crate) url: Url,
    /// JSON body (POST).
    pub(crate) body: Option<Value>,
    /// What the spinner says.
    pub(crate) label: &'static str,
    /// What a 404 means.
    pub(crate) missing: Missing,
}

impl ApiRequest {
    /// `GET /api/reports`, with `?limit=N` when given.
    pub(crate) fn list_reports(base: &Url, limit: Option<u16>) -> Self {
        let mut url = join(base, &["api", "reports"]);
        if let Some(limit) = limit {
            url.query_pairs_mut()
                .append_pair("limit", &limit.to_string());
        }
        Self::next_reports(url)
    }

    /// The next page of reports: the `Link: rel="next"` URL of the previous one.
    pub(crate) fn next_reports(url: Url) -> Self {
        Self {
            method: reqwest::Method::GET,
            url,
            body: None,
            label: "fetching reports",
            missing: Missing::Resource,
        }
    }

    /// `POST /api/reports`.
    pub(crate) fn add_report(base: &Url, report: &NewReport) -> Self {
        Self {
            method: reqwest::Method::POST,
            url: join(base, &["api", "reports"]),
            body: Some(
                serde_json::to_value(report).expect("BUG: a report serialises (plain strings)"),
            ),
            label: "sending the report",
            missing: Missing::Resource,
        }
    }

    /// `GET /api/weather/{city}?state=&country=&units=`.
    pub(crate) fn current_weather(
        base: &Url,
        city: &str,
        state: Option<&str>,
        country: &str,
        units: &str,
    ) -> Self {
        let mut url = join(base, &["api", "weather", city]);
        {
            let mut q = url.query_pairs_mut();
            if let Some(state) = state {
                q.append_pair("state", state);
            }
            q.append_pair("country", country);
            q.append_pair("units", units);
        }
        Self {
            method: reqwest::Method::GET,
            url,
            body: None,
            label: "asking for the weather",
            missing: Missing::City(city.to_owned()),
        }
    }
}

/// `base` + percent-encoded path segments.
fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    url.path_segments_mut()
        .expect("BUG: the API URL was checked to be http(s)")
        .pop_if_empty()
        .extend(segments);
    url
}

/// An answer from the service.
#[derive(Debug)]
pub(crate) struct ApiResponse {
    /// HTTP status.
    pub(crate) status: u16,
    /// `WWW-Authenticate`, if any.
    pub(crate) www_authenticate: Option<String>,
    /// The `Link: rel="next"` target (RFC 8288), resolved against the request URL.
    pub(crate) next: Option<Url>,
    /// The body.
    pub(crate) body: Vec<u8>,
}

/// The `rel="next"` target of `Link` header values, resolved against `base` (a relative reference such
/// as `<?limit=50&after=...>` keeps the request's path, so a path prefix before `/api` is kept).
pub(crate) fn next_link<'a>(values: impl IntoIterator<Item = &'a str>, base: &Url) -> Option<Url> {
    values
        .into_iter()
        .flat_map(|value| value.split(','))
        .find_map(|link| {
            let (target, params) = link.trim().strip_prefix('<')?.split_once('>')?;
            let is_next = params.split(';').any(|param| {
                let Some((name, value)) = param.split_once('=') else {
                    return false;
                };
                name.trim().eq_ignore_ascii_case("rel")
                    && value
                        .trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|rel| rel.eq_ignore_ascii_case("next"))
            });
            if is_next {
                base.join(target.trim()).ok()
            } else {
                None
            }
        })
}

/// Sends one call with the bearer token.
///
/// # Errors
/// [`CliError::Unreachable`] when the service cannot be reached.
pub(crate) async fn send(
    http: &reqwest::Client,
    request: &ApiRequest,
    token: &SecretString,
) -> Result<ApiResponse, CliError> {
    let mut builder = http
        .request(request.method.clone(), request.url.clone())
        .bearer_auth(token.expose_secret())
        .header(reqwest::header::ACCEPT, "application/json");
    if let Some(body) = &request.body {
        builder = builder.json(body);
    }
    let unreachable = |source: reqwest::Error| CliError::Unreachable {
        peer: Peer::Service,
        url: request.url.clone(),
        failure: ConnectFailure::of(&source),
        service_hosts_issuer: false,
        source: Box::new(source),
    };
    let response = builder.send().await.map_err(unreachable)?;
    let status = response.status().as_u16();
    let www_authenticate = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let next = next_link(
        response
            .headers()
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok()),
        &request.url,
    );
    let body = response.bytes().await.map_err(unreachable)?.to_vec();
    Ok(ApiResponse {
        status,
        www_authenticate,
        next,
        body,
    })
}

/// The parameters of the `Bearer` challenge (`error`, `error_description`, `scope`, ...), names
/// in lower case, values unquoted (entra-core's one `WWW-Authenticate` parser).
pub(crate) fn challenge_params(header: &str) -> Vec<(String, String)> {
    entra_core::challenge::parse(header)
        .unwrap_or_default()
        .iter()
        .find(|c| c.is_scheme("Bearer"))
        .map(|c| {
            c.params()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The `code` and `detail` of a problem+json body (or the body's text when it is not one).
pub(crate) fn problem_detail(body: &[u8]) -> (Option<String>, Option<String>) {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => (
            v.get("code").and_then(Value::as_str).map(str::to_owned),
            v.get("detail").and_then(Value::as_str).map(str::to_owned),
        ),
        Err(_) => {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            let text: String = text.chars().take(200).collect();
            (None, (!text.is_empty()).then_some(text))
        }
    }
}

/// THE mapping of an error answer to a [`CliError`].
pub(crate) fn classify(
    response: &ApiResponse,
    request: &ApiRequest,
    origin: TokenOrigin,
) -> CliError {
    let (_code, detail) = problem_detail(&response.body);
    let challenge = response
        .www_authenticate
        .as_deref()
        .map(challenge_params)
        .unwrap_or_default();
    let param = |name: &str| {
        challenge
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let status = response.status;
    let detail_or = |fallback: &str| {
        detail
            .clone()
            .or_else(|| param("error_description"))
            .unwrap_or_else(|| fallback.to_owned())
    };
    match status {
        401 => CliError::Unauthorized {
            detail: detail_or("the service refused the token"),
            origin,
        },
        403 => CliError::Forbidden {
            scope: param("scope"),
            detail: detail_or("forbidden"),
            origin,
        },
        404 => CliError::NotFound {
            missing: request.missing.clone(),
            detail: detail_or("not found"),
        },
        400..=499 => CliError::Rejected {
            status,
            detail: detail_or("bad request"),
        },
        500..=599 => CliError::Service {
            failure: match status {
                502 => ServiceFailure::BadGateway,
                503 => ServiceFailure::Unavailable,
                504 => ServiceFailure::GatewayTimeout,
                _ => ServiceFailure::Internal,
            },
            detail: detail_or(&format!("HTTP {status}")),
        },
        _ => CliError::UnexpectedAnswer {
            url: request.url.clone(),
            status,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://127.0.0.1:8000/").unwrap()
    }

    fn response(status: u16, challenge: Option<&str>, body: &str) -> ApiResponse {
        ApiResponse {
            status,
            www_authenticate: challenge.map(str::to_owned),
            next: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn next_link_is_the_rel_next_target_resolved_against_the_request() {
        let request = Url::parse("https://example.com/weather/api/reports?limit=2").unwrap();
        assert_eq!(
            next_link(["<?limit=2&after=abc>; rel=\"next\""], &request)
                .unwrap()
                .as_str(),
            "https://example.com/weather/api/reports?limit=2&after=abc"
        );
        assert_eq!(
            next_link(
                [r#"</a>; rel="prev", </api/reports?after=x>; rel="last next""#],
                &request
            )
            .unwrap()
            .as_str(),
            "https://example.com/api/reports?after=x"
        );
        assert_eq!(next_link([r#"</a>; rel="prev""#], &request), None);
        assert_eq!(next_link(["garbage"], &request), None);
        assert_eq!(next_link(Vec::<&str>::new(), &request), None);
    }

    #[test]
    fn list_reports_url_carries_the_limit() {
        assert_eq!(
            ApiRequest::list_reports(&base(), Some(7)).url.as_str(),
            "http://127.0.0.1:8000/api/reports?limit=7"
        );
    }

    #[test]
    fn weather_url_encodes_the_city_and_carries_the_query() {
        let r = ApiRequest::current_weather(&base(), "new york", Some("NY"), "US", "imperial");
        assert_eq!(
            r.url.as_str(),
            "http://127.0.0.1:8000/api/weather/new%20york?state=NY&country=US&units=imperial"
        );
        let prefixed = Url::parse("https://example.com/weather/").unwrap();
        assert_eq!(
            ApiRequest::list_reports(&prefixed, None).url.as_str(),
            "https://example.com/weather/api/reports"
        );
    }

    #[test]
    fn challenge_parameters_are_unquoted_and_unescaped() {
        let p = challenge_params(
            r#"Bearer error="insufficient_scope", error_description="IDW10203: need \"weather.read\"", scope="weather.read""#,
        );
        assert_eq!(
            p,
            vec![
                ("error".to_owned(), "insufficient_scope".to_owned()),
                (
                    "error_description".to_owned(),
                    "IDW10203: need \"weather.read\"".to_owned()
                ),
                ("scope".to_owned(), "weather.read".to_owned()),
            ]
        );
        assert!(challenge_params("Bearer").is_empty());
        assert!(challenge_params("Basic realm=\"x\"").is_empty());
        assert_eq!(
            challenge_params("Bearer realm=api, error=invalid_token"),
            vec![
                ("realm".to_owned(), "api".to_owned()),
                ("error".to_owned(), "invalid_token".to_owned())
            ]
        );
    }

    #[test]
    fn forbidden_takes_the_scope_from_the_challenge_and_the_detail_from_the_body() {
        let r = response(
            403,
            Some(
                r#"Bearer error="insufficient_scope", error_description="IDW10203: x", scope="weather.read""#,
            ),
            r#"{"code":"insufficient_scope","detail":"the token lacks weather.read"}"#,
        );
        let e = classify(
            &r,
            &ApiRequest::list_reports(&base(), None),
            TokenOrigin::Given,
        );
        assert_eq!(
            e.to_string(),
            "missing permission: the API needs scope weather.read (server said: the token lacks weather.read)"
        );
    }

    #[test]
    fn unauthorized_falls_back_to_the_challenge_description() {
        let r = response(
            401,
            Some(r#"Bearer error="invalid_token", error_description="token expired""#),
            "",
        );
        let e = classify(
            &r,
            &ApiRequest::list_reports(&base(), None),
            TokenOrigin::User,
        );
        assert_eq!(
            e.to_string(),
            "not signed in / token rejected: token expired"
        );
    }

    #[test]
    fn status_classes_map_to_their_errors() {
        let weather = ApiRequest::current_weather(&base(), "atlantis", None, "US", "metric");
        let problem = |status| response(status, None, r#"{"code":"x","detail":"d"}"#);
        assert_eq!(
            classify(&problem(404), &weather, TokenOrigin::Given).to_string(),
            "city not found: atlantis: d"
        );
        assert!(matches!(
            classify(&problem(400), &weather, TokenOrigin::Given),
            CliError::Rejected { status: 400, .. }
        ));
        for (status, failure) in [
            (502, ServiceFailure::BadGateway),
            (503, ServiceFailure::Unavailable),
            (504, ServiceFailure::GatewayTimeout),
            (500, ServiceFailure::Internal),
        ] {
            match classify(&problem(status), &weather, TokenOrigin::Given) {
                CliError::Service { failure: f, detail } => {
                    assert_eq!((f, detail.as_str()), (failure, "d"));
                }
                other => panic!("{status}: {other:?}"),
            }
        }
        let plain = response(502, None, "Bad Gateway from a proxy");
        assert!(classify(&plain, &weather, TokenOrigin::Given)
            .to_string()
            .ends_with("Bad Gateway from a proxy"));
    }
}
