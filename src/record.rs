//! One activity as received, and the page that carries them.
//!
//! The raw JSON text of every record is kept byte for byte (the evidence); only the two keys the
//! pager needs, `Id` and `TimeStamp`, are read out of it.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// An activity record: its exact JSON text plus the keys used for ordering and de-duplication.
#[derive(Debug, Clone)]
pub struct Activity {
    raw: Box<str>,
    /// `Id`, or for a record without one `sha256:<digest of its JSON text>`.
    key: String,
    timestamp: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct Keys<'a> {
    #[serde(rename = "Id", borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(rename = "TimeStamp", borrow, default)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "ActivityCreationTime", borrow, default)]
    creation_time: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct PageBody<'a> {
    #[serde(borrow)]
    value: Vec<&'a RawValue>,
}

/// Why a response body could not be used as a page.
#[derive(Debug, thiserror::Error)]
#[error("the response body is not an Activities page ({0}); it may have been cut off in transit")]
pub struct MalformedPage(String);

/// Parses a page body (`{"value": [...]}`, with or without `@odata.*` annotations).
pub fn parse_page(body: &[u8]) -> Result<Vec<Activity>, MalformedPage> {
    let page: PageBody =
        serde_json::from_slice(body).map_err(|err| MalformedPage(err.to_string()))?;
    page.value
        .into_iter()
        .map(|raw| Activity::from_json(raw.get()).map_err(|err| MalformedPage(err.to_string())))
        .collect()
}

impl Activity {
    /// Reads one record from its JSON text. Missing, null or unparsable keys are tolerated:
    /// an activity is never dropped because a property is odd.
    pub fn from_json(raw: &str) -> Result<Self, serde_json::Error> {
        let keys: Keys = serde_json::from_str(raw)?;
        let timestamp = keys
            .timestamp
            .as_deref()
            .or(keys.creation_time.as_deref())
            .and_then(parse_timestamp);
        let key = match keys.id {
            Some(id) if !id.is_empty() => id.into_owned(),
            _ => format!("sha256:{}", hex::encode(Sha256::digest(raw.as_bytes()))),
        };
        Ok(Activity {
            raw: raw.into(),
            key,
            timestamp,
        })
    }

    /// The record's JSON text exactly as the server sent it.
    pub fn raw_json(&self) -> &str {
        &self.raw
    }

    /// The de-duplication and tie-breaking key: the `Id`, or a digest of the record's content.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// `TimeStamp`, falling back to `ActivityCreationTime`; `None` when neither is usable.
    pub fn timestamp(&self) -> Option<DateTime<Utc>> {
        self.timestamp
    }
}

/// Parses the service's ISO 8601 timestamps (`2018-07-02T12:14:13.019Z`, any fraction, any offset).
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Some(instant.with_timezone(&Utc));
    }
    // Some records carry no zone designator; the service's times are UTC.
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|naive| naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_page_shapes_and_keeps_raw_text() {
        let plain = br#"{"value":[{"Id":"a","TimeStamp":"2018-07-02T12:14:13.019Z", "X" : 1 }]}"#;
        let annotated = br#"{"@odata.context":"x","value":[{"@odata.id":"u","@odata.etag":"W/\"1\"","Id":"a","TimeStamp":"2018-07-02T12:14:13.019Z"}]}"#;
        let records = parse_page(plain).unwrap();
        assert_eq!(
            records[0].raw_json(),
            r#"{"Id":"a","TimeStamp":"2018-07-02T12:14:13.019Z", "X" : 1 }"#
        );
        assert_eq!(records[0].key(), "a");
        assert_eq!(parse_page(annotated).unwrap()[0].key(), "a");
    }

    #[test]
    fn tolerates_missing_and_null_keys() {
        let records = parse_page(br#"{"value":[{"Id":null,"TimeStamp":null,"ActivityCreationTime":"2018-07-02T12:14:13Z"},{}]}"#).unwrap();
        assert!(records[0].key().starts_with("sha256:"));
        assert_eq!(
            records[0].timestamp().unwrap().to_rfc3339(),
            "2018-07-02T12:14:13+00:00"
        );
        assert_eq!(records[1].timestamp(), None);
        assert_ne!(records[0].key(), records[1].key());
    }

    #[test]
    fn rejects_truncated_bodies() {
        assert!(parse_page(br#"{"value":[{"Id":"a","TimeSt"#).is_err());
        assert!(parse_page(br#"{"error":{"code":"x"}}"#).is_err());
    }
}
