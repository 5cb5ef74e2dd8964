//! An object key read without allocating.
//!
//! serde's `Cow<str>` always deserializes into an owned `String`; reading every key of every
//! record that way cost a malloc and a free per key, the largest single overhead of the parse.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use serde::de::{Deserialize, Deserializer, Visitor};

/// A JSON object key: borrowed from the input, owned only when it held escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonKey<'a>(pub Cow<'a, str>);

impl Deref for JsonKey<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for JsonKey<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = JsonKey<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JsonKey(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonKey(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(JsonKey(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_plain_keys_and_unescapes_others() {
        let plain: JsonKey = serde_json::from_str(r#""Name""#).unwrap();
        assert!(matches!(plain.0, Cow::Borrowed("Name")));
        let escaped: JsonKey = serde_json::from_str(r#""N\u0061me""#).unwrap();
        assert_eq!(&*escaped, "Name");
    }
}
