//! `GET /api/weather/{city}?state=&country=&units=`: current weather (`main` object) for a city.
//! Requires scope `weather.read` or the read app role.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::{require_scope_or_role, READ_SCOPE};
use crate::domain::WeatherQuery;
use crate::error::ApiError;
use crate::state::AppState;
use crate::upstream::CurrentWeather;

/// The weather routes, behind one auth `route_layer`.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/weather/{city}", get(current_weather))
        .route_layer(require_scope_or_role(state, READ_SCOPE, &state.roles.read))
}

/// The raw query string; parsed into a [`WeatherQuery`] by the handler.
#[derive(Debug, Deserialize)]
struct WeatherParams {
    state: Option<String>,
    country: Option<String>,
    units: Option<String>,
}

async fn current_weather(
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
