//! Weather reports submitted by users.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::location::RawLocation;
use super::{text, Location, ValidationError};

/// A report's free-text description: trimmed, non-empty, at most [`Description::MAX_LEN`] characters,
/// one line of printable text (no control characters, line breaks or bidirectional overrides).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Description(String);

super::string_schema!(
    Description,
    "What the reporter saw, trimmed.",
    "Misty sunrise",
    |s| s.min_length(Some(1)).max_length(Some(Description::MAX_LEN))
);

impl Description {
    /// The longest accepted description, in characters.
    pub const MAX_LEN: usize = 1000;

    /// Parses a raw description.
    ///
    /// # Errors
    /// [`ValidationError::MissingDescription`] when blank, [`ValidationError::DescriptionTooLong`] when
    /// too long, [`ValidationError::DescriptionHasControlCharacter`] when it holds a control character,
    /// a line break or a bidirectional override.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let description = Self::parse_any_text(raw)?;
        if let Some(found) = text::first_forbidden(&description.0) {
            return Err(ValidationError::DescriptionHasControlCharacter(found));
        }
        Ok(description)
    }

    /// A description read back from the database: parsed as [`Description::parse`] does, except that
    /// a forbidden character (a row stored by an older version or another program) is replaced by
    /// U+FFFD instead of failing the row.
    ///
    /// # Errors
    /// [`ValidationError::MissingDescription`] when blank, [`ValidationError::DescriptionTooLong`] when
    /// too long.
    pub fn from_stored(stored: &str) -> Result<Self, ValidationError> {
        let description = Self::parse_any_text(stored)?;
        match text::defuse(&description.0) {
            std::borrow::Cow::Borrowed(_) => Ok(description),
            std::borrow::Cow::Owned(defused) => Ok(Self(defused)),
        }
    }

    fn parse_any_text(raw: &str) -> Result<Self, ValidationError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ValidationError::MissingDescription);
        }
        if trimmed.chars().count() > Self::MAX_LEN {
            return Err(ValidationError::DescriptionTooLong);
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A validated report submission, ready to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReport {
    /// What the reporter saw.
    pub description: Description,
    /// Where.
    pub location: Location,
}

/// The wire shape of a report submission (`{description, location: {city, state?, country?}}`). Its
/// OpenAPI schema (`ReportSubmission`) states what a valid submission is; anything else is answered 422
/// (a field is missing or invalid) or 400 (not this shape of JSON: not an object, an unknown field, a
/// wrong type). Read it as a [`JsonObject`](super::JsonObject): serde's derive alone also takes an
/// array.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReportSubmission, description = "A weather report to store.", example = json!({
    "description": "Misty sunrise",
    "location": {"city": "Portland", "state": "OR", "country": "US"}
}))]
pub struct RawNewReport {
    /// What the reporter saw: required, 1 to 1000 characters once trimmed, one line without control
    /// characters or bidirectional overrides.
    #[schema(
        value_type = String,
        required = true,
        min_length = 1,
        max_length = 1000,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]*$",
        example = "Misty sunrise"
    )]
    pub description: Option<String>,
    /// Where: required.
    #[schema(value_type = RawLocation, required = true)]
    #[serde(default, deserialize_with = "super::object::optional_object")]
    pub location: Option<RawLocation>,
}

impl NewReport {
    /// Parses the raw wire shape.
    ///
    /// # Errors
    /// The first invalid field: description, then location.
    pub fn parse(raw: &RawNewReport) -> Result<Self, ValidationError> {
        let description = Description::parse(raw.description.as_deref().unwrap_or_default())?;
        let location = Location::parse(
            raw.location
                .as_ref()
                .ok_or(ValidationError::MissingLocation)?,
        )?;
        Ok(Self {
            description,
            location,
        })
    }
}

/// A stored report, as the API answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": "4f0c2a4e-9d1b-4f7e-8a52-0c6b1e9d3a77",
    "description": "Misty sunrise",
    "location": {"city": "portland", "state": "or", "country": "us"},
    "created_date": "2026-11-29T08:15:00.123456Z"
}))]
pub struct Report {
    /// Server-assigned identifier.
    pub id: Uuid,
    /// What the reporter saw.
    pub description: Description,
    /// Where.
    pub location: Location,
    /// When the server stored it (UTC, microsecond precision).
    pub created_date: DateTime<Utc>,
}

impl Report {
    /// Rebuilds a report from stored columns, re-parsing every field so that a corrupt row is an error
    /// instead of an invalid value (a forbidden character in the text is replaced, not an error:
    /// [`Description::from_stored`]).
    ///
    /// # Errors
    /// The first field that does not parse.
    pub fn from_parts(
        id: Uuid,
        description: &str,
        city: &str,
        state: Option<&str>,
        country: &str,
        created_date: DateTime<Utc>,
    ) -> Result<Self, ValidationError> {
        Ok(Self {
            id,
            description: Description::from_stored(description)?,
            location: Location {
                city: super::City::from_stored(city)?,
                state: super::StateCode::parse_optional(state)?,
                country: super::CountryCode::parse(country)?,
            },
            created_date,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(description: Option<&str>, city: Option<&str>) -> RawNewReport {
        RawNewReport {
            description: description.map(str::to_owned),
            location: Some(RawLocation {
                city: city.map(str::to_owned),
                ..RawLocation::default()
            }),
        }
    }

    #[test]
    fn valid_submission_defaults_country_to_us() {
        let report = NewReport::parse(&raw(Some(" Sunny "), Some("Portland"))).unwrap();
        assert_eq!(report.description.as_str(), "Sunny");
        assert_eq!(report.location.country.as_str(), "us");
        assert_eq!(report.location.state, None);
    }

    #[test]
    fn blank_description_is_refused() {
        assert_eq!(
            NewReport::parse(&raw(Some("  "), Some("x"))),
            Err(ValidationError::MissingDescription)
        );
    }

    #[test]
    fn description_longer_than_limit_is_refused() {
        let long = "x".repeat(Description::MAX_LEN + 1);
        assert_eq!(
            NewReport::parse(&raw(Some(&long), Some("x"))),
            Err(ValidationError::DescriptionTooLong)
        );
    }

    #[test]
    fn description_with_control_character_is_refused_naming_it() {
        let err = NewReport::parse(&raw(Some("Sun\u{1b}[2J"), Some("x"))).unwrap_err();
        assert_eq!(err.code(), "description_has_control_character");
        assert!(
            err.to_string()
                .starts_with("Invalid description: it contains U+001B (a control character)."),
            "{err}"
        );
    }

    #[test]
    fn stored_text_with_control_characters_is_read_defused() {
        let report = Report::from_parts(
            Uuid::new_v4(),
            "Sun\u{1b}[2J",
            "Port\u{202E}land",
            None,
            "us",
            chrono::Utc::now(),
        )
        .unwrap();
        assert_eq!(report.description.as_str(), "Sun\u{FFFD}[2J");
        assert_eq!(report.location.city.as_str(), "port\u{FFFD}land");
    }

    #[test]
    fn schema_patterns_are_the_text_rule() {
        use utoipa::PartialSchema;
        let report = serde_json::to_value(RawNewReport::schema()).unwrap();
        assert_eq!(
            report["properties"]["description"]["pattern"],
            super::text::PATTERN
        );
        let location = serde_json::to_value(RawLocation::schema()).unwrap();
        assert_eq!(
            location["properties"]["city"]["pattern"],
            super::text::PATTERN
        );
    }

    #[test]
    fn missing_location_is_refused() {
        let r = RawNewReport {
            description: Some("x".into()),
            location: None,
        };
        assert_eq!(NewReport::parse(&r), Err(ValidationError::MissingLocation));
    }
}
