//! Current weather from OpenWeatherMap: the [`WeatherProvider`] trait, the HTTP client and the TTL cache.

mod cache;
mod openweather;

pub use cache::{CachedWeather, Clock, ManualClock, SystemClock};
pub use openweather::OpenWeather;

use crate::domain::WeatherQuery;
use crate::store::BoxFuture;

/// The upstream's `main` object (temp, feels_like, temp_min, temp_max, pressure, humidity...), passed
/// through as the original did.
pub type CurrentWeather = serde_json::Map<String, serde_json::Value>;

/// Why current weather could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// OpenWeatherMap does not know the city (its 404).
    #[error("city not found")]
    CityNotFound,
    /// No `api_key` is configured.
    #[error("no openweathermap api key configured")]
    MissingApiKey,
    /// OpenWeatherMap refused the configured key (its 401).
    #[error("openweathermap rejected the api key")]
    InvalidApiKey,
    /// OpenWeatherMap did not answer in time.
    #[error("openweathermap timed out")]
    Timeout(#[source] reqwest::Error),
    /// OpenWeatherMap could not be reached.
    #[error("openweathermap unreachable")]
    Unreachable(#[source] reqwest::Error),
    /// OpenWeatherMap answered with an unexpected status.
    #[error("openweathermap answered {0}")]
    Status(http::StatusCode),
    /// OpenWeatherMap's answer could not be understood.
    #[error("openweathermap answered an unexpected body")]
    BadResponse(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl UpstreamError {
    /// A short, stable name of the failure kind (the `kind` label of the upstream-failure metric).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CityNotFound => "city_not_found",
            Self::MissingApiKey => "missing_api_key",
            Self::InvalidApiKey => "invalid_api_key",
            Self::Timeout(_) => "timeout",
            Self::Unreachable(_) => "unreachable",
            Self::Status(_) => "status",
            Self::BadResponse(_) => "bad_response",
        }
    }
}

/// A source of current weather.
pub trait WeatherProvider: Send + Sync + std::fmt::Debug {
    /// Current weather for a validated query.
    fn current<'a>(
        &'a self,
        query: &'a WeatherQuery,
    ) -> BoxFuture<'a, Result<CurrentWeather, UpstreamError>>;
}
