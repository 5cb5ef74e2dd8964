//! Reading the keys the pager needs out of a record's text, borrowing them where they stand.
//! Each source names them its own way: an Activities record `Id` and `TimeStamp` (falling back
//! to `ActivityCreationTime`), a Graph `auditLogRecord` `id` and `createdDateTime`, a Management
//! Activity API record `Id` and `CreationTime`.
//!
//! A key that occurs twice counts at its first string value, however far a record is read, so
//! a record read whole (a page) and one read only up to its keys (a line) agree.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::json_key::JsonKey;

/// The keys the pager needs, read from a record.
#[derive(Default)]
pub(super) struct Keys<'a> {
    pub id: Option<Cow<'a, str>>,
    pub timestamp: Option<Cow<'a, str>>,
    pub creation_time: Option<Cow<'a, str>>,
}

/// A string value, or `None` for any other JSON value (which is consumed whole).
struct LenientText<'a>(Option<Cow<'a, str>>);

impl<'de> Deserialize<'de> for LenientText<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = LenientText<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(LenientText(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LenientText(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(LenientText(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(LenientText(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(LenientText(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(LenientText(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(LenientText(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LenientText(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LenientText(None))
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

/// Fills `keys` from an object; with `stop_early`, returns `true` as soon as `Id` and
/// `TimeStamp` are known, leaving the rest of the object unread.
struct KeysVisitor<'k, 'a> {
    keys: &'k mut Keys<'a>,
    stop_early: bool,
}

impl<'de> Visitor<'de> for KeysVisitor<'_, 'de> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an activity object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while let Some(key) = map.next_key::<JsonKey<'de>>()? {
            let slot = match self.keys.slot(&key) {
                Some(slot) => slot,
                None => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            let text = map.next_value::<LenientText<'de>>()?.0;
            if slot.is_none() {
                *slot = text;
            }
            if self.stop_early && self.keys.id.is_some() && self.keys.timestamp.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// A whole record read for its keys: every byte is parsed (and so validated).
impl<'de> Deserialize<'de> for Keys<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut keys = Keys::default();
        deserializer.deserialize_map(KeysVisitor {
            keys: &mut keys,
            stop_early: false,
        })?;
        Ok(keys)
    }
}

impl<'a> Keys<'a> {
    /// Where the value of top-level property `key` goes, if it is a key of any source.
    fn slot(&mut self, key: &str) -> Option<&mut Option<Cow<'a, str>>> {
        match key {
            "Id" | "id" => Some(&mut self.id),
            "TimeStamp" | "createdDateTime" | "activityDateTime" | "CreationTime" => {
                Some(&mut self.timestamp)
            }
            "ActivityCreationTime" => Some(&mut self.creation_time),
            _ => None,
        }
    }

    /// Takes `text`, a string value of top-level property `key`, if `key` is one of the keys
    /// and has no string value yet (the first string counts, as when reading for keys alone).
    // A `&Cow`, not a `&str`: a value borrowed from the page must stay borrowed (`'a`).
    #[allow(clippy::ptr_arg)]
    pub(super) fn offer(&mut self, key: &str, text: &Cow<'a, str>) {
        let Some(slot) = self.slot(key) else {
            return;
        };
        if slot.is_none() {
            *slot = Some(text.clone());
        }
    }
}

/// Reads `Id` and `TimeStamp` from text already known to be valid JSON, and stops there: the
/// rest (mostly `CustomProperties`) need not be scanned again. Only when one of them is missing
/// is the record read to its end (for `ActivityCreationTime`).
pub(super) fn read_keys(raw: &str) -> Result<Keys<'_>, serde_json::Error> {
    let mut keys = Keys::default();
    let mut deserializer = serde_json::Deserializer::from_str(raw);
    // Stopping early leaves the object unclosed, which serde_json reports as an error after
    // the visitor has filled `keys`; that error is expected and ignored.
    let visitor = KeysVisitor {
        keys: &mut keys,
        stop_early: true,
    };
    match deserializer.deserialize_map(visitor) {
        Ok(_) => Ok(keys),
        Err(_) if keys.id.is_some() && keys.timestamp.is_some() => Ok(keys),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_counts_at_its_first_string_whether_read_whole_or_not() {
        let raw = r#"{"Id":null,"Id":"first","TimeStamp":"t1","Id":"second","TimeStamp":"t2"}"#;
        let early = read_keys(raw).unwrap();
        let whole: Keys = serde_json::from_str(raw).unwrap();
        for keys in [early, whole] {
            assert_eq!(keys.id.as_deref(), Some("first"));
            assert_eq!(keys.timestamp.as_deref(), Some("t1"));
        }
    }

    #[test]
    fn each_sources_keys_are_read() {
        let graph =
            r#"{"id":"g1","createdDateTime":"2024-05-01T10:00:00Z","auditData":{"Id":"x"}}"#;
        let feed = r#"{"CreationTime":"2024-05-01T10:00:00","Id":"f1","Operation":"Send"}"#;
        for (raw, id, time) in [
            (graph, "g1", "2024-05-01T10:00:00Z"),
            (feed, "f1", "2024-05-01T10:00:00"),
        ] {
            let keys = read_keys(raw).unwrap();
            assert_eq!(keys.id.as_deref(), Some(id));
            assert_eq!(keys.timestamp.as_deref(), Some(time));
        }
    }

    #[test]
    fn a_record_read_whole_must_be_valid_to_its_end() {
        assert!(serde_json::from_str::<Keys>(r#"{"Id":"a","TimeStamp":"t","X":[1,}"#).is_err());
        assert!(read_keys(r#"{"Id":"a","TimeStamp":"t","X":[1,}"#).is_ok());
        assert!(serde_json::from_str::<Keys>("[1]").is_err());
    }
}
