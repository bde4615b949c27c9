//! Current weather from OpenWeatherMap: the [`WeatherProvider`] trait, the HTTP client and the TTL cache.

mod cache;
mod openweather;

pub use cache::{CachedWeather, Clock, ManualClock, SystemClock};
pub use openweather::OpenWeather;

use crate::domain::WeatherQuery;
use futures_util::future::BoxFuture;

/// The current weather: the upstream's `main` object (temp, feels_like, temp_min, temp_max, pressure,
/// humidity...), passed through as the original did: every member OpenWeatherMap sends, each number as
/// it was written (an integer stays an integer). The handler returns this type, and its schema (below) is
/// what the OpenAPI document describes: the usual members, more allowed.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct CurrentWeather(serde_json::Map<String, serde_json::Value>);

impl CurrentWeather {
    /// Wraps the members of an upstream `main` object.
    pub fn new(main: serde_json::Map<String, serde_json::Value>) -> Self {
        Self(main)
    }

    /// One member (`temp`, `humidity`, ...), when present.
    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.0.get(name)
    }

    /// The members.
    pub fn as_map(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0
    }
}

impl utoipa::PartialSchema for CurrentWeather {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            AdditionalProperties, KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type,
        };
        let number = |description: &str| {
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::Number, Type::Null]))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)))
                .description(Some(description))
        };
        ObjectBuilder::new()
            .description(Some(
                "The current weather: OpenWeatherMap's `main` object, passed through (more members \
                 may appear).",
            ))
            .property("temp", number("Temperature in the requested units."))
            .property("feels_like", number("Perceived temperature."))
            .property(
                "temp_min",
                number("Minimum temperature at the moment (large cities)."),
            )
            .property(
                "temp_max",
                number("Maximum temperature at the moment (large cities)."),
            )
            .property("pressure", number("Atmospheric pressure, hPa."))
            .property("humidity", number("Humidity, %."))
            .additional_properties(Some(AdditionalProperties::FreeForm(true)))
            .examples([serde_json::json!({
                "temp": 61.5, "feels_like": 60.1, "temp_min": 58.0, "temp_max": 64.4,
                "pressure": 1021, "humidity": 62
            })])
            .into()
    }
}

impl utoipa::ToSchema for CurrentWeather {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("CurrentWeather")
    }
}

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
