//! The OpenWeatherMap current-weather client (`/data/2.5/weather`).

use std::time::Duration;

use entra_core::{ExposeSecret, SecretString};
use url::Url;

use super::{CurrentWeather, UpstreamError, WeatherProvider};
use crate::domain::WeatherQuery;
use futures_util::future::BoxFuture;

/// OpenWeatherMap over HTTP, with one shared client.
#[derive(Debug, Clone)]
pub struct OpenWeather {
    client: reqwest::Client,
    endpoint: Url,
    api_key: Option<SecretString>,
}

impl OpenWeather {
    /// Builds the client: `base_url` is e.g. `https://api.openweathermap.org`; `timeout` bounds each call.
    ///
    /// # Errors
    /// When the TLS backend cannot be initialised, or `base_url` cannot hold a path.
    pub fn new(
        base_url: &Url,
        api_key: Option<SecretString>,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("weather-api/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut endpoint = base_url.clone();
        let path = format!("{}/data/2.5/weather", endpoint.path().trim_end_matches('/'));
        endpoint.set_path(&path);
        Ok(Self {
            client,
            endpoint,
            api_key,
        })
    }

    async fn fetch(&self, query: &WeatherQuery) -> Result<CurrentWeather, UpstreamError> {
        let api_key = self.api_key.as_ref().ok_or(UpstreamError::MissingApiKey)?;
        let response = self
            .client
            .get(self.endpoint.clone())
            .query(&[
                ("q", query.q().as_str()),
                ("appid", api_key.expose_secret()),
                ("units", query.units.as_str()),
            ])
            .send()
            .await
            .map_err(classify)?;
        match response.status() {
            s if s.is_success() => {}
            http::StatusCode::NOT_FOUND => return Err(UpstreamError::CityNotFound),
            http::StatusCode::UNAUTHORIZED => return Err(UpstreamError::InvalidApiKey),
            s => return Err(UpstreamError::Status(s)),
        }
        let mut body: serde_json::Map<String, serde_json::Value> =
            response.json().await.map_err(|e| {
                if e.is_timeout() {
                    UpstreamError::Timeout(e)
                } else {
                    UpstreamError::BadResponse(Box::new(e))
                }
            })?;
        match body.remove("main") {
            Some(serde_json::Value::Object(main)) => Ok(CurrentWeather::new(main)),
            _ => Err(UpstreamError::BadResponse(
                "the answer has no `main` object".into(),
            )),
        }
    }
}

fn classify(e: reqwest::Error) -> UpstreamError {
    if e.is_timeout() {
        UpstreamError::Timeout(e)
    } else {
        UpstreamError::Unreachable(e)
    }
}

impl WeatherProvider for OpenWeather {
    fn current<'a>(
        &'a self,
        query: &'a WeatherQuery,
    ) -> BoxFuture<'a, Result<CurrentWeather, UpstreamError>> {
        Box::pin(self.fetch(query))
    }
}
