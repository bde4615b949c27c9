//! JSON objects only: serde's derived `Deserialize` of a struct also accepts a JSON array of the field
//! values in order (`["Sunny", {"city": "Portland"}]` is a report to it). A request body is an object
//! with named fields, as the OpenAPI document says, so the wire types are read through these instead.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

/// `T` read from a JSON object, never from an array (for the request body:
/// `Json<JsonObject<RawNewReport>>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonObject<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(Self)
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object with named fields")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

/// For `#[serde(default, deserialize_with = "...")]` on an optional field that holds an object:
/// absent or `null` is `None`, an object is `Some`, anything else (an array included) is an error.
///
/// # Errors
/// The deserializer's, when the value is neither `null` nor an object of `T`'s shape.
pub(super) fn optional_object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<JsonObject<T>>::deserialize(deserializer)?.map(|JsonObject(value)| value))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Eq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Pair {
        a: u8,
        #[serde(default, deserialize_with = "optional_object")]
        inner: Option<Inner>,
    }

    #[derive(Debug, PartialEq, Eq, Deserialize)]
    struct Inner {
        b: u8,
    }

    #[test]
    fn objects_are_read_and_arrays_are_refused_at_every_level() {
        let read = |json: &str| serde_json::from_str::<JsonObject<Pair>>(json).map(|o| o.0);
        assert_eq!(
            read(r#"{"a": 1, "inner": {"b": 2}}"#).unwrap(),
            Pair {
                a: 1,
                inner: Some(Inner { b: 2 })
            }
        );
        assert_eq!(read(r#"{"a": 1, "inner": null}"#).unwrap().inner, None);
        assert_eq!(read(r#"{"a": 1}"#).unwrap().inner, None);
        // serde's derive alone takes both of these.
        assert_eq!(serde_json::from_str::<Pair>("[1]").unwrap().a, 1);
        let top = read("[1]").unwrap_err().to_string();
        assert!(
            top.starts_with("invalid type: sequence, expected a JSON object"),
            "{top}"
        );
        let nested = read(r#"{"a": 1, "inner": [2]}"#).unwrap_err().to_string();
        assert!(
            nested.starts_with("invalid type: sequence, expected a JSON object"),
            "{nested}"
        );
        let unknown = read(r#"{"a": 1, "b": 2}"#).unwrap_err().to_string();
        assert!(
            unknown.starts_with("unknown field `b`, expected `a` or `inner`"),
            "{unknown}"
        );
    }
}
