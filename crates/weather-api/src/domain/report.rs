//! Weather reports submitted by users.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::location::RawLocation;
use super::{Location, ValidationError};

/// A report's free-text description: trimmed, non-empty, at most [`Description::MAX_LEN`] characters.
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
    /// [`ValidationError::MissingDescription`] when blank, [`ValidationError::DescriptionTooLong`] when too long.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(ValidationError::MissingDescription);
        }
        if text.chars().count() > Self::MAX_LEN {
            return Err(ValidationError::DescriptionTooLong);
        }
        Ok(Self(text.to_owned()))
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
/// (a field is missing or invalid) or 400 (not this shape of JSON).
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[schema(as = ReportSubmission, description = "A weather report to store.", example = json!({
    "description": "Misty sunrise",
    "location": {"city": "Portland", "state": "OR", "country": "US"}
}))]
pub struct RawNewReport {
    /// What the reporter saw: required, 1 to 1000 characters once trimmed.
    #[schema(
        value_type = String,
        required = true,
        min_length = 1,
        max_length = 1000,
        pattern = r"\S",
        example = "Misty sunrise"
    )]
    pub description: Option<String>,
    /// Where: required.
    #[schema(value_type = RawLocation, required = true)]
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
    /// instead of an invalid value.
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
            description: Description::parse(description)?,
            location: Location {
                city: super::City::parse(city)?,
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
    fn missing_location_is_refused() {
        let r = RawNewReport {
            description: Some("x".into()),
            location: None,
        };
        assert_eq!(NewReport::parse(&r), Err(ValidationError::MissingLocation));
    }
}
