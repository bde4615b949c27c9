//! [`Session`]: one run's HTTP client, token and progress display; every API call goes through
//! [`Session::call`], which asks once more with a fresh token when the service refuses a cached one.

use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::api::{self, ApiRequest, ApiResponse, NewReport, Report};
use crate::error::CliError;
use crate::progress::with_progress;
use crate::token::TokenProvider;

/// One run's connection to the service.
#[derive(Debug)]
pub(crate) struct Session {
    http: reqwest::Client,
    tokens: TokenProvider,
    api_url: Url,
    progress: bool,
}

impl Session {
    /// A session.
    pub(crate) fn new(
        http: reqwest::Client,
        tokens: TokenProvider,
        api_url: Url,
        progress: bool,
    ) -> Self {
        Self {
            http,
            tokens,
            api_url,
            progress,
        }
    }

    /// The service's base URL.
    pub(crate) fn api_url(&self) -> &Url {
        &self.api_url
    }

    /// Sends `request` with the token and returns the body of a 2xx answer.
    ///
    /// # Errors
    /// The [`CliError`] of the answer ([`api::classify`]), of the token, or of the connection.
    pub(crate) async fn call(&mut self, request: &ApiRequest) -> Result<Vec<u8>, CliError> {
        Ok(self.call_for_response(request).await?.body)
    }

    /// [`Session::call`], returning the whole 2xx answer (its `Link` too).
    ///
    /// # Errors
    /// As [`Session::call`].
    async fn call_for_response(&mut self, request: &ApiRequest) -> Result<ApiResponse, CliError> {
        let mut renewed = false;
        loop {
            let token = if self.tokens.needs_request() {
                with_progress(self.progress, "getting a token", self.tokens.token()).await?
            } else {
                self.tokens.token().await?
            };
            let response = with_progress(
                self.progress,
                request.label,
                api::send(&self.http, request, &token),
            )
            .await?;
            if (200..300).contains(&response.status) {
                return Ok(response);
            }
            if response.status == 401 && !renewed && self.tokens.refused().await? {
                renewed = true;
                continue;
            }
            return Err(api::classify(&response, request, self.tokens.origin()));
        }
    }

    /// [`Session::call`] and parse the JSON answer.
    ///
    /// # Errors
    /// As [`Session::call`]; [`CliError::UnexpectedAnswer`] when the body is not the expected JSON.
    pub(crate) async fn call_json<T: DeserializeOwned>(
        &mut self,
        request: &ApiRequest,
    ) -> Result<T, CliError> {
        let body = self.call(request).await?;
        parse_json(&body, request)
    }

    /// Reports, newest first: the newest page (`limit` of them, the service's default when `None`), or
    /// with `all` every report, following the `Link: rel="next"` pages (500 per page by default).
    ///
    /// # Errors
    /// As [`Session::call_json`]; [`CliError::UnexpectedAnswer`] when a next link points back to the
    /// page just read (a loop).
    pub(crate) async fn reports(
        &mut self,
        limit: Option<u16>,
        all: bool,
    ) -> Result<Vec<Report>, CliError> {
        let limit = if all { limit.or(Some(MAX_PAGE)) } else { limit };
        let mut request = ApiRequest::list_reports(&self.api_url, limit);
        let mut reports = Vec::new();
        loop {
            let response = self.call_for_response(&request).await?;
            let page: Vec<Report> = parse_json(&response.body, &request)?;
            reports.extend(page);
            match response.next.filter(|_| all) {
                Some(next) if next == request.url => {
                    return Err(CliError::UnexpectedAnswer {
                        url: next,
                        status: response.status,
                    })
                }
                Some(next) => request = ApiRequest::next_reports(next),
                None => return Ok(reports),
            }
        }
    }

    /// Stores a report.
    ///
    /// # Errors
    /// As [`Session::call_json`].
    pub(crate) async fn add_report(&mut self, report: &NewReport) -> Result<Report, CliError> {
        let request = ApiRequest::add_report(&self.api_url, report);
        self.call_json(&request).await
    }

    /// The current weather's `main` object.
    ///
    /// # Errors
    /// As [`Session::call_json`].
    pub(crate) async fn current_weather(
        &mut self,
        city: &str,
        state: Option<&str>,
        country: &str,
        units: &str,
    ) -> Result<Value, CliError> {
        let request = ApiRequest::current_weather(&self.api_url, city, state, country, units);
        self.call_json(&request).await
    }
}

/// The service's largest page (`limit`), used by `weather reports --all`.
const MAX_PAGE: u16 = 500;

/// The JSON of a 2xx answer to `request`.
fn parse_json<T: DeserializeOwned>(body: &[u8], request: &ApiRequest) -> Result<T, CliError> {
    serde_json::from_slice(body).map_err(|_| CliError::UnexpectedAnswer {
        url: request.url.clone(),
        status: 200,
    })
}
