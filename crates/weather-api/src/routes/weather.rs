//! `GET /api/weather/{city}?state=&country=&units=`: current weather (`main` object) for a city.
//! Requires [`WeatherRead`] (its handler's signature says so).

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use entra_auth::Authorized;
use serde::Deserialize;

use crate::auth::WeatherRead;
use crate::domain::{Units, WeatherQuery};
use crate::error::ApiError;
use crate::middleware::rate_limit::{RateLimited, ReadClass};
use crate::state::AppState;
use crate::upstream::CurrentWeather;

/// The weather routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/weather/{city}", get(current_weather))
}

/// The raw query string; parsed into a [`WeatherQuery`] by the handler.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct WeatherParams {
    /// Two-letter US state code (optional; case is ignored).
    #[param(pattern = "^[A-Za-z]{2}$", example = "OR")]
    state: Option<String>,
    /// Two-letter country code (default `US`; case is ignored).
    #[param(pattern = "^[A-Za-z]{2}$", example = "US")]
    country: Option<String>,
    /// Unit system: `metric` (default), `imperial` or `standard` (case is ignored).
    #[param(schema_with = units_schema, example = "imperial")]
    units: Option<String>,
}

/// The `units` parameter: one of the three [`crate::domain::Units`].
fn units_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(
            [Units::Metric, Units::Imperial, Units::Standard].map(Units::as_str),
        ))
        .default(Some(Units::default().as_str().into()))
        .build()
}

/// Current weather for a city
///
/// OpenWeatherMap's `main` object for the city, cached for one hour per (city, state, country, units).
#[utoipa::path(
    get,
    path = "/api/weather/{city}",
    tag = "weather",
    params(
        ("city" = String, Path, description = "City name (1 to 100 characters, one line without control characters or bidirectional overrides; case is ignored)", example = "portland", pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]*$"),
        WeatherParams,
    ),
    responses(
        (status = 200, description = "The current weather", body = CurrentWeather),
        (status = 400, response = crate::error::BadRequest),
        (status = 401, response = crate::error::Unauthorized),
        (status = 403, response = crate::error::Forbidden),
        (status = 404, response = crate::error::NotFound),
        (status = 429, response = crate::error::TooManyRequests),
        (status = 502, response = crate::error::BadGateway),
        (status = 503, response = crate::error::ServiceUnavailable),
        (status = 504, response = crate::error::GatewayTimeout),
    ),
)]
pub(crate) async fn current_weather(
    _auth: Authorized<WeatherRead>,
    _rate: RateLimited<ReadClass>,
    State(state): State<AppState>,
    city: Result<Path<String>, PathRejection>,
    params: Result<Query<WeatherParams>, QueryRejection>,
) -> Result<Json<CurrentWeather>, ApiError> {
    let Path(city) = city?;
    let Query(params) = params?;
    let query = WeatherQuery::parse(
        &city,
        params.state.as_deref(),
        params.country.as_deref(),
        params.units.as_deref(),
    )?;
    Ok(Json(state.weather.current(&query).await?))
}
