//! The current-weather query.

use std::fmt;
use std::str::FromStr;

use super::{normalise, City, CountryCode, StateCode, ValidationError};

/// OpenWeatherMap's unit systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Units {
    /// Celsius, metres per second (the service's default).
    #[default]
    Metric,
    /// Fahrenheit, miles per hour.
    Imperial,
    /// Kelvin.
    Standard,
}

impl Units {
    /// The name OpenWeatherMap expects in its `units` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Metric => "metric",
            Self::Imperial => "imperial",
            Self::Standard => "standard",
        }
    }

    /// Parses optional units: absent or blank means [`Units::Metric`].
    ///
    /// # Errors
    /// [`ValidationError::InvalidUnits`] for anything but `standard`, `metric`, `imperial` (any case).
    pub fn parse_or_default(raw: Option<&str>) -> Result<Self, ValidationError> {
        match raw {
            Some(s) if !s.trim().is_empty() => s.parse(),
            _ => Ok(Self::default()),
        }
    }
}

impl FromStr for Units {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match normalise(s).as_str() {
            "metric" => Ok(Self::Metric),
            "imperial" => Ok(Self::Imperial),
            "standard" => Ok(Self::Standard),
            other => Err(ValidationError::InvalidUnits(other.to_owned())),
        }
    }
}

impl fmt::Display for Units {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated, normalised current-weather query; also the cache key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WeatherQuery {
    /// The city.
    pub city: City,
    /// The state (US only), when given.
    pub state: Option<StateCode>,
    /// The country.
    pub country: CountryCode,
    /// The unit system.
    pub units: Units,
}

impl WeatherQuery {
    /// Parses the path and query-string parts, checking in the original's order: city, country, state, units.
    ///
    /// # Errors
    /// The first invalid part.
    pub fn parse(
        city: &str,
        state: Option<&str>,
        country: Option<&str>,
        units: Option<&str>,
    ) -> Result<Self, ValidationError> {
        let city = City::parse(city)?;
        let country = CountryCode::parse_or_default(country)?;
        let state = StateCode::parse_optional(state)?;
        let units = Units::parse_or_default(units)?;
        Ok(Self {
            city,
            state,
            country,
            units,
        })
    }

    /// The OpenWeatherMap `q` parameter: `city,state,country`, or `city,country` without a state.
    pub fn q(&self) -> String {
        match &self.state {
            Some(state) => format!("{},{},{}", self.city, state, self.country),
            None => format!("{},{}", self.city, self.country),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_us_and_metric() {
        let q = WeatherQuery::parse("Portland", None, None, None).unwrap();
        assert_eq!(q.country.as_str(), "us");
        assert_eq!(q.units, Units::Metric);
        assert_eq!(q.q(), "portland,us");
    }

    #[test]
    fn state_is_included_in_q_only_when_given() {
        let q =
            WeatherQuery::parse(" Portland ", Some(" OR "), Some("US"), Some("IMPERIAL")).unwrap();
        assert_eq!(q.q(), "portland,or,us");
        assert_eq!(q.units, Units::Imperial);
    }

    #[test]
    fn units_message_lists_the_valid_values() {
        let err = WeatherQuery::parse("x", None, None, Some("Kelvin")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid units 'kelvin', it must be one of standard, metric, imperial."
        );
    }

    #[test]
    fn normalised_queries_are_equal() {
        let a = WeatherQuery::parse("PORTLAND", Some("or"), Some("us"), Some("metric")).unwrap();
        let b = WeatherQuery::parse(" portland", Some("OR "), None, None).unwrap();
        assert_eq!(a, b);
    }
}
