//! [`Query`]: a route's query string as one typed struct.
//!
//! The struct derives `Deserialize` (with `deny_unknown_fields`) and
//! `utoipa::IntoParams`, so the one declaration both documents the
//! parameters and decides what is accepted. A name the struct does not have
//! is refused before anything else, naming the accepted ones. A parameter is
//! given at most once, unless the struct reads it as a sequence (`Vec<_>`).
//! Values are text; a boolean is `true`/`1` or `false`/`0`. A value type
//! that parses its text with [`named_value`] has its errors prefixed with the
//! parameter's name. Every failure is a 400 (problem `bad-request`).

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::value::{MapAccessDeserializer, SeqDeserializer, StrDeserializer};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, forward_to_deserialize_any};
use std::fmt;

/// A query string deserialized into `T`; see the module documentation.
#[derive(Debug, Clone)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parse(parts.uri.query()).map(Self)
    }
}

/// The query of a route that takes no parameters.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// Deserializes `query` (form-encoded, possibly absent) into `T`.
pub fn parse<T: DeserializeOwned>(query: Option<&str>) -> Result<T, ApiError> {
    let accepted = field_names::<T>();
    let mut params: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if !accepted.contains(&name.as_ref()) {
            let name: String = name.chars().take(64).collect();
            return Err(ApiError::BadRequest(format!(
                "unknown query parameter {name:?} (accepted: {})",
                accepted.join(", ")
            )));
        }
        match params.iter_mut().find(|(known, _)| *known == name) {
            Some((_, values)) => values.push(value.into_owned()),
            None => params.push((name.into_owned(), vec![value.into_owned()])),
        }
    }
    T::deserialize(MapAccessDeserializer::new(Params { params: params.into_iter(), pending: None }))
        .map_err(|Invalid(e)| e)
}

/// Parses a value's text with `parse`; its error is prefixed with the
/// parameter's name (so `must be a number from 1 to 1000` reads `limit must
/// be a number from 1 to 1000`). For the `Deserialize` impls of query value
/// types.
pub fn named_value<'de, D, T>(deserializer: D, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct Text<F>(F);

    impl<'de, T, F: FnOnce(&str) -> Result<T, String>> Visitor<'de> for Text<F> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a query parameter's value")
        }

        fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
            let text = String::deserialize(d)?;
            (self.0)(&text).map_err(de::Error::custom)
        }
    }

    deserializer.deserialize_newtype_struct(NAMED_VALUE, Text(parse))
}

/// The newtype name by which [`named_value`] asks for the parameter's name
/// in front of its errors.
const NAMED_VALUE: &str = "strata::query::NamedValue";

/// A failure to deserialize a query: the answer it gets.
#[derive(Debug)]
struct Invalid(ApiError);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Invalid {}

impl de::Error for Invalid {
    fn custom<M: fmt::Display>(message: M) -> Self {
        Self(ApiError::BadRequest(message.to_string()))
    }
}

/// The parameters, each name with its values in the order given.
struct Params {
    params: std::vec::IntoIter<(String, Vec<String>)>,
    pending: Option<(String, Vec<String>)>,
}

impl<'de> MapAccess<'de> for Params {
    type Error = Invalid;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Invalid> {
        let Some((name, values)) = self.params.next() else { return Ok(None) };
        let key = seed.deserialize(StrDeserializer::<Invalid>::new(&name))?;
        self.pending = Some((name, values));
        Ok(Some(key))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Invalid> {
        let (name, values) = self.pending.take().ok_or_else(|| de::Error::custom("a value without a name"))?;
        seed.deserialize(Value { name: &name, values })
    }
}

/// One parameter's values, as one value or a sequence.
struct Value<'a> {
    name: &'a str,
    values: Vec<String>,
}

impl Value<'_> {
    /// The one value; the parameter given twice is refused.
    fn single(self) -> Result<String, Invalid> {
        let mut values = self.values.into_iter();
        let first = values.next().unwrap_or_default();
        if values.next().is_some() {
            return Err(de::Error::custom(format!("query parameter {:?} is given more than once", self.name)));
        }
        Ok(first)
    }
}

impl<'de> Deserializer<'de> for Value<'_> {
    type Error = Invalid;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        visitor.visit_string(self.single()?)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        let name = self.name;
        match self.single()?.as_str() {
            "true" | "1" => visitor.visit_bool(true),
            "false" | "0" => visitor.visit_bool(false),
            _ => Err(de::Error::custom(format!("{name} must be true or false"))),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, Invalid> {
        let parameter = self.name;
        let value = visitor.visit_newtype_struct(Value { name: parameter, values: vec![self.single()?] });
        match value {
            Err(Invalid(ApiError::BadRequest(message))) if name == NAMED_VALUE => {
                Err(de::Error::custom(format!("{parameter} {message}")))
            }
            other => other,
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Invalid> {
        let name = self.name;
        let each = self.values.into_iter().map(|value| Value { name, values: vec![value] });
        SeqDeserializer::new(each).deserialize_any(visitor)
    }

    forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct tuple tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de, 'a> IntoDeserializer<'de, Invalid> for Value<'a> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

/// The field names `T`'s derived `Deserialize` asks a struct for; none when
/// `T` is not a struct.
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    match T::deserialize(FieldNames) {
        Err(Introspected::Fields(fields)) => fields,
        _ => &[],
    }
}

/// A deserializer that only answers which fields a struct asks for.
struct FieldNames;

#[derive(Debug)]
enum Introspected {
    Fields(&'static [&'static str]),
    NotAStruct,
}

impl fmt::Display for Introspected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("asked only for the fields of a struct")
    }
}

impl std::error::Error for Introspected {}

impl de::Error for Introspected {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Self::NotAStruct
    }
}

impl<'de> Deserializer<'de> for FieldNames {
    type Error = Introspected;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Introspected> {
        Err(Introspected::NotAStruct)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Introspected> {
        Err(Introspected::Fields(fields))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Listing {
        #[serde(default)]
        tag: Vec<String>,
        #[serde(default)]
        size: Vec<Positive>,
        limit: Option<Positive>,
        #[serde(default)]
        all: bool,
    }

    #[derive(Debug, PartialEq)]
    struct Positive(u32);

    impl<'de> Deserialize<'de> for Positive {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            named_value(d, |s| s.parse().ok().filter(|n| *n > 0).map(Self).ok_or_else(|| "must be positive".into()))
        }
    }

    fn refused(query: &str) -> String {
        match parse::<Listing>(Some(query)) {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("{query}: a bad request, not {other:?}"),
        }
    }

    #[test]
    fn sequences_repeat_and_single_values_do_not() {
        let listing: Listing = parse(Some("tag=a%3Db&limit=5&tag=c=d&all=1&size=1&size=2")).unwrap();
        let (tag, size) = (vec!["a=b".into(), "c=d".into()], vec![Positive(1), Positive(2)]);
        assert_eq!(listing, Listing { tag, size, limit: Some(Positive(5)), all: true });
        assert_eq!(parse::<Listing>(None).unwrap(), Listing { tag: vec![], size: vec![], limit: None, all: false });
        assert_eq!(refused("size=1&size=0"), "size must be positive");
        assert_eq!(refused("limit=1&limit=2"), "query parameter \"limit\" is given more than once");
        assert_eq!(refused("all=1&all=1"), "query parameter \"all\" is given more than once");
    }

    #[test]
    fn unknown_names_come_first_and_errors_name_the_parameter() {
        assert_eq!(
            refused("limit=1&limit=2&bogus=1"),
            "unknown query parameter \"bogus\" (accepted: tag, size, limit, all)"
        );
        assert_eq!(refused("limit=0"), "limit must be positive");
        assert_eq!(refused("limit="), "limit must be positive");
        assert_eq!(refused("all=maybe"), "all must be true or false");
    }
}
