//! [`Session`]: one run's HTTP client, token and progress display; every API call goes through
//! [`Session::call`], which asks once more with a fresh token when the service refuses a cached one.

use std::collections::HashSet;

use serde::de::DeserializeOwned;
use serde_json::Value;
use url::{Origin, Url};

use crate::api::{self, ApiRequest, ApiResponse, NewReport, Report};
use crate::error::{CliError, PagingStop};
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
    /// with `all` every report, following the `Link: rel="next"` pages (500 per page by default) on
    /// the service's own origin only (the token goes nowhere else), never to a page already read,
    /// and at most [`MAX_PAGES`] pages.
    ///
    /// # Errors
    /// As [`Session::call_json`]; [`CliError::PagingStopped`] when a next link leaves the origin,
    /// comes back to a page already read, or goes beyond [`MAX_PAGES`].
    pub(crate) async fn reports(
        &mut self,
        limit: Option<u16>,
        all: bool,
    ) -> Result<Vec<Report>, CliError> {
        let limit = if all { limit.or(Some(MAX_PAGE)) } else { limit };
        let mut request = ApiRequest::list_reports(&self.api_url, limit);
        let origin = request.url.origin();
        let mut visited = HashSet::from([request.url.clone()]);
        let mut reports = Vec::new();
        loop {
            let response = self.call_for_response(&request).await?;
            let page: Vec<Report> = parse_json(&response.body, &request)?;
            reports.extend(page);
            let Some(next) = response.next.filter(|_| all) else {
                return Ok(reports);
            };
            let stop = next_page_stop(&origin, &visited, &next);
            if let Some(stop) = stop {
                return Err(CliError::PagingStopped {
                    stop,
                    link: next,
                    read: reports.len(),
                });
            }
            visited.insert(next.clone());
            request = ApiRequest::next_reports(next);
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

/// The most pages `weather reports --all` reads (500,000 reports at the largest page).
pub(crate) const MAX_PAGES: usize = 1000;

/// Why the next link `next` must not be followed, if it must not: it leaves `origin` (another
/// scheme, host or port: the token would go there), it was read already, or [`MAX_PAGES`] were.
fn next_page_stop(origin: &Origin, visited: &HashSet<Url>, next: &Url) -> Option<PagingStop> {
    if next.origin() != *origin {
        Some(PagingStop::OtherOrigin {
            expected: origin.ascii_serialization(),
        })
    } else if visited.contains(next) {
        Some(PagingStop::Revisit)
    } else if visited.len() >= MAX_PAGES {
        Some(PagingStop::TooManyPages(visited.len()))
    } else {
        None
    }
}

/// The JSON of a 2xx answer to `request`.
fn parse_json<T: DeserializeOwned>(body: &[u8], request: &ApiRequest) -> Result<T, CliError> {
    serde_json::from_slice(body).map_err(|_| CliError::UnexpectedAnswer {
        url: request.url.clone(),
        status: 200,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn next_links_are_followed_on_the_same_origin_only() {
        let first = url("https://weather.example/api/reports?limit=500");
        let origin = first.origin();
        let visited = HashSet::from([first.clone()]);
        let stop = |next: &str| next_page_stop(&origin, &visited, &url(next));
        assert_eq!(stop("https://weather.example/api/reports?after=x"), None);
        for elsewhere in [
            "http://weather.example/api/reports?after=x",
            "https://weather.example:8443/api/reports?after=x",
            "https://evil.example/api/reports?after=x",
        ] {
            assert_eq!(
                stop(elsewhere),
                Some(PagingStop::OtherOrigin {
                    expected: "https://weather.example".to_owned()
                }),
                "{elsewhere}"
            );
        }
        assert_eq!(stop(first.as_str()), Some(PagingStop::Revisit));
        let many: HashSet<Url> = (0..MAX_PAGES)
            .map(|i| url(&format!("https://weather.example/api/reports?after={i}")))
            .collect();
        assert_eq!(
            next_page_stop(
                &origin,
                &many,
                &url("https://weather.example/api/reports?after=new")
            ),
            Some(PagingStop::TooManyPages(MAX_PAGES))
        );
    }
}
