//! City, state, country and the location they form.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{is_two_letters, normalise, text, ValidationError};

/// A city name: trimmed, lower-cased, non-empty, at most [`City::MAX_LEN`] characters, one line of
/// printable text (no control characters, line breaks or bidirectional overrides).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct City(String);

impl City {
    /// The longest accepted city name, in characters.
    pub const MAX_LEN: usize = 100;

    /// Parses a raw city name.
    ///
    /// # Errors
    /// [`ValidationError::MissingCity`] when blank, [`ValidationError::CityTooLong`] when too long,
    /// [`ValidationError::CityHasControlCharacter`] when it holds a control character, a line break or
    /// a bidirectional override.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let city = normalise(raw);
        if city.is_empty() {
            return Err(ValidationError::MissingCity);
        }
        if city.chars().count() > Self::MAX_LEN {
            return Err(ValidationError::CityTooLong);
        }
        if let Some(found) = text::first_forbidden(&city) {
            return Err(ValidationError::CityHasControlCharacter(found));
        }
        Ok(Self(city))
    }

    /// A city name read back from the database: parsed as [`City::parse`] does, except that a
    /// forbidden character (a row stored by an older version or another program) is replaced by
    /// U+FFFD instead of failing the row.
    ///
    /// # Errors
    /// [`ValidationError::MissingCity`] when blank, [`ValidationError::CityTooLong`] when too long.
    pub fn from_stored(stored: &str) -> Result<Self, ValidationError> {
        Self::parse(&text::defuse(stored))
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A two-letter state code (US only, as in the original), lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct StateCode(String);

impl StateCode {
    /// Parses a raw state code.
    ///
    /// # Errors
    /// [`ValidationError::InvalidState`] unless the trimmed input is two letters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let state = normalise(raw);
        if is_two_letters(&state) {
            Ok(Self(state))
        } else {
            Err(ValidationError::InvalidState(state))
        }
    }

    /// Parses an optional state: absent or blank means no state.
    ///
    /// # Errors
    /// As [`StateCode::parse`].
    pub fn parse_optional(raw: Option<&str>) -> Result<Option<Self>, ValidationError> {
        match raw {
            Some(s) if !s.trim().is_empty() => Self::parse(s).map(Some),
            _ => Ok(None),
        }
    }

    /// The lower-case code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A two-letter country code, lower-cased. Defaults to `us`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct CountryCode(String);

impl CountryCode {
    /// Parses a raw country code.
    ///
    /// # Errors
    /// [`ValidationError::InvalidCountry`] unless the trimmed input is two letters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let country = normalise(raw);
        if is_two_letters(&country) {
            Ok(Self(country))
        } else {
            Err(ValidationError::InvalidCountry(country))
        }
    }

    /// Parses an optional country: absent or blank means the default, `us`.
    ///
    /// # Errors
    /// As [`CountryCode::parse`].
    pub fn parse_or_default(raw: Option<&str>) -> Result<Self, ValidationError> {
        match raw {
            Some(s) if !s.trim().is_empty() => Self::parse(s),
            _ => Ok(Self::default()),
        }
    }

    /// The lower-case code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for CountryCode {
    fn default() -> Self {
        Self("us".to_owned())
    }
}

macro_rules! string_newtype_impls {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $t {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    )*};
}
string_newtype_impls!(City, StateCode, CountryCode);

super::string_schema!(
    City,
    "A city name, trimmed and lower-cased.",
    "portland",
    |s| s.min_length(Some(1)).max_length(Some(City::MAX_LEN))
);
super::string_schema!(
    StateCode,
    "A two-letter US state code, lower-cased.",
    "or",
    |s| s.pattern(Some("^[a-z]{2}$"))
);
super::string_schema!(
    CountryCode,
    "A two-letter country code, lower-cased.",
    "us",
    |s| s.pattern(Some("^[a-z]{2}$"))
);

/// Where a report was made: `{city, state?, country}`, normalised (trimmed, lower-cased).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
pub struct Location {
    /// The city.
    pub city: City,
    /// The state, when given (US only).
    pub state: Option<StateCode>,
    /// The country (default `us`).
    pub country: CountryCode,
}

/// The wire shape of a location as clients send it; every field optional so that missing values get the
/// service's own messages rather than serde's. Its OpenAPI schema (`LocationSubmission`) states what a
/// valid submission is; an invalid field is answered 422 naming it, an unknown field 400 naming it.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    as = LocationSubmission,
    description = "Where: a city and, optionally, a US state and a country (default US)."
)]
pub struct RawLocation {
    /// City, required (1 to 100 characters once trimmed, one line without control characters or
    /// bidirectional overrides; case is ignored).
    #[schema(
        value_type = String,
        required = true,
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]*$",
        example = "Portland"
    )]
    pub city: Option<String>,
    /// Two-letter US state code, optional (case is ignored).
    #[schema(pattern = "^[A-Za-z]{2}$", example = "OR")]
    pub state: Option<String>,
    /// Two-letter country code, default `US` (case is ignored).
    #[schema(pattern = "^[A-Za-z]{2}$", example = "US")]
    pub country: Option<String>,
}

impl Location {
    /// Parses the raw wire shape.
    ///
    /// # Errors
    /// The first invalid field, in the order city, state, country.
    pub fn parse(raw: &RawLocation) -> Result<Self, ValidationError> {
        let city = City::parse(raw.city.as_deref().unwrap_or_default())?;
        let state = StateCode::parse_optional(raw.state.as_deref())?;
        let country = CountryCode::parse_or_default(raw.country.as_deref())?;
        Ok(Self {
            city,
            state,
            country,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn city_is_trimmed_and_lower_cased() {
        assert_eq!(City::parse("  Portland ").unwrap().as_str(), "portland");
    }

    #[test]
    fn blank_city_is_missing() {
        assert_eq!(City::parse("   "), Err(ValidationError::MissingCity));
    }

    #[test]
    fn too_long_city_is_refused() {
        let long = "a".repeat(City::MAX_LEN + 1);
        assert_eq!(City::parse(&long), Err(ValidationError::CityTooLong));
        let longest = "a".repeat(City::MAX_LEN);
        assert_eq!(
            City::parse(&longest).map(|c| c.as_str().len()),
            Ok(City::MAX_LEN),
            "a city of exactly MAX_LEN characters is accepted whole"
        );
    }

    #[test]
    fn country_must_be_two_letters_with_original_message() {
        let err = CountryCode::parse(" USA ").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid country: usa. It must be a two letter abbreviation such as US or GB."
        );
        assert_eq!(
            CountryCode::parse("1a"),
            Err(ValidationError::InvalidCountry("1a".to_owned())),
            "a digit is not a letter"
        );
        assert_eq!(CountryCode::parse(" GB").unwrap().as_str(), "gb");
    }

    #[test]
    fn country_defaults_to_us() {
        assert_eq!(CountryCode::parse_or_default(None).unwrap().as_str(), "us");
        assert_eq!(
            CountryCode::parse_or_default(Some("  ")).unwrap().as_str(),
            "us"
        );
    }

    #[test]
    fn state_is_optional_and_two_letters() {
        assert_eq!(StateCode::parse_optional(None).unwrap(), None);
        assert_eq!(StateCode::parse_optional(Some("")).unwrap(), None);
        assert_eq!(
            StateCode::parse_optional(Some("Or"))
                .unwrap()
                .unwrap()
                .as_str(),
            "or"
        );
        assert_eq!(
            StateCode::parse("ore").unwrap_err().to_string(),
            "Invalid state: ore. It must be a two letter abbreviation such as CA or KS (use for US only)."
        );
    }

    #[test]
    fn location_reports_first_invalid_field() {
        let raw = RawLocation {
            city: None,
            state: Some("xyz".into()),
            country: None,
        };
        assert_eq!(Location::parse(&raw), Err(ValidationError::MissingCity));
    }
}
