//! Domain types of the weather service: every raw input is parsed into one of these at the boundary
//! (parse, don't validate), so handlers, the store and the upstream client only ever see valid values.

/// Implements `utoipa::ToSchema` for a string newtype: a string schema with a description, an example and
/// the constraints its parser enforces (`|builder| builder.min_length(..)...`).
macro_rules! string_schema {
    ($t:ty, $description:literal, $example:literal, |$b:ident| $constraints:expr) => {
        impl utoipa::PartialSchema for $t {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let $b = utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some($description))
                    .examples([$example]);
                $constraints.into()
            }
        }
        impl utoipa::ToSchema for $t {}
    };
}
pub(crate) use string_schema;

mod health;
mod location;
mod object;
mod page;
mod rate;
mod report;
mod text;
mod weather;

pub use health::{Liveness, LivenessStatus, Readiness, ReadinessChecks, ReadinessStatus};
pub use location::{City, CountryCode, Location, RawLocation, StateCode};
pub use object::JsonObject;
pub use page::{Cursor, Page, PageLimit, PageRequest, RawPageQuery};
pub use rate::{Quota, RateDecision, RouteClass};
pub use report::{Description, NewReport, RawNewReport, Report};
pub use text::ForbiddenChar;
pub use weather::{Units, WeatherQuery};

/// Why a raw input was refused. The `Display` text is the message the client sees (the original service's
/// wording where it had one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The city is missing or blank.
    #[error("City is required.")]
    MissingCity,
    /// The city is longer than [`City::MAX_LEN`] characters.
    #[error("Invalid city: it must be at most {max} characters long.", max = City::MAX_LEN)]
    CityTooLong,
    /// The city contains a control character, a line break or a bidirectional override.
    #[error("Invalid city: it contains {0}. Send one line of plain text: control characters (tabs and line breaks included) and bidirectional overrides are not allowed.")]
    CityHasControlCharacter(ForbiddenChar),
    /// The country is not a two-letter code.
    #[error("Invalid country: {0}. It must be a two letter abbreviation such as US or GB.")]
    InvalidCountry(String),
    /// The state is not a two-letter code.
    #[error("Invalid state: {0}. It must be a two letter abbreviation such as CA or KS (use for US only).")]
    InvalidState(String),
    /// The units are not one of the three OpenWeatherMap knows.
    #[error("Invalid units '{0}', it must be one of standard, metric, imperial.")]
    InvalidUnits(String),
    /// The report description is missing or blank.
    #[error("Description is required.")]
    MissingDescription,
    /// The report description is longer than [`Description::MAX_LEN`] characters.
    #[error("Invalid description: it must be at most {max} characters long.", max = Description::MAX_LEN)]
    DescriptionTooLong,
    /// The report description contains a control character, a line break or a bidirectional override.
    #[error("Invalid description: it contains {0}. Send one line of plain text: control characters (tabs and line breaks included) and bidirectional overrides are not allowed.")]
    DescriptionHasControlCharacter(ForbiddenChar),
    /// The report has no location object.
    #[error("Location is required.")]
    MissingLocation,
    /// The `limit` query parameter is not a whole number in range.
    #[error("Invalid limit: {0}. It must be a whole number from {min} to {max} (default {default}).",
        min = PageLimit::MIN, max = PageLimit::MAX, default = PageLimit::DEFAULT)]
    InvalidLimit(String),
    /// The `after` query parameter is not a cursor this service wrote.
    #[error("Invalid cursor: after must be copied unchanged from the Link rel=\"next\" header of a previous page; omit it to start from the newest report.")]
    InvalidCursor,
}

impl ValidationError {
    /// A stable machine-readable code for the problem+json body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingCity => "missing_city",
            Self::CityTooLong => "city_too_long",
            Self::CityHasControlCharacter(_) => "city_has_control_character",
            Self::InvalidCountry(_) => "invalid_country",
            Self::InvalidState(_) => "invalid_state",
            Self::InvalidUnits(_) => "invalid_units",
            Self::MissingDescription => "missing_description",
            Self::DescriptionTooLong => "description_too_long",
            Self::DescriptionHasControlCharacter(_) => "description_has_control_character",
            Self::MissingLocation => "missing_location",
            Self::InvalidLimit(_) => "invalid_limit",
            Self::InvalidCursor => "invalid_cursor",
        }
    }
}

/// Trims and lower-cases a raw input, the normalisation the original applied to every query part.
fn normalise(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// True when `s` is exactly two ASCII letters.
fn is_two_letters(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic())
}
