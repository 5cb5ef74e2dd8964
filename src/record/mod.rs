//! One activity as received, and the page that carries them.
//!
//! The raw JSON text of every record is kept byte for byte (the evidence); only the two keys the
//! pager needs, `Id` and `TimeStamp`, are read out of it.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use keys::{read_keys, Keys};
pub use page::{
    parse_page, parse_page_for, read_page, FrameMaker, MalformedPage, Page, PageReading,
};

mod checks;
mod keys;
mod page;

pub use checks::{RecordCheckCounts, RecordChecks};

/// An activity record: its exact JSON text plus the keys used for ordering and de-duplication.
///
/// The records of one page share the page's text (one allocation a page, not two a record);
/// each holds where its own text and `Id` lie in it.
#[derive(Debug, Clone)]
pub struct Activity {
    source: Arc<String>,
    raw: Range<usize>,
    key: Key,
    timestamp: Option<DateTime<Utc>>,
    /// Its CSV frame and the id of the columns it was made with, when it was flattened as its
    /// page was read (`PageReading::KeysAndFrames`).
    frame: Option<(usize, Box<[u8]>)>,
}

/// `Id` where it stands in the source text, or (escaped, or a digest) as text of its own.
#[derive(Debug, Clone)]
enum Key {
    InSource(Range<usize>),
    Owned(Box<str>),
    /// No usable id: a digest of the record's text stands for it.
    Digest(Box<str>),
}

/// Where `part`, a slice of `whole`, lies in it.
fn range_in(whole: &str, part: &str) -> Range<usize> {
    let start = part.as_ptr() as usize - whole.as_ptr() as usize;
    start..start + part.len()
}

impl Activity {
    /// Reads one record from its JSON text. Missing, null or unparsable keys are tolerated:
    /// an activity is never dropped because a property is odd.
    pub fn from_json(raw: &str) -> Result<Self, serde_json::Error> {
        Self::in_source(&Arc::new(raw.to_string()), 0..raw.len())
    }

    /// Reads the record that is `text` from byte `start` on, keeping `text` without a copy
    /// (a line read from a file, perhaps behind a prefix).
    pub fn from_owned_json(text: String, start: usize) -> Result<Self, serde_json::Error> {
        if !text.is_char_boundary(start) {
            return Err(serde::de::Error::custom(
                "a record cannot start inside a character",
            ));
        }
        let end = text.len();
        Self::in_source(&Arc::new(text), start..end)
    }

    /// Reads the record at `raw` of `source`, which is known to be valid JSON.
    fn in_source(source: &Arc<String>, raw: Range<usize>) -> Result<Self, serde_json::Error> {
        let keys = read_keys(&source[raw.clone()])?;
        Ok(Self::with_keys(source, raw, keys))
    }

    /// The record at `raw` of `source`, whose keys have been read.
    fn with_keys(source: &Arc<String>, raw: Range<usize>, keys: Keys<'_>) -> Self {
        let timestamp = keys
            .timestamp
            .as_deref()
            .or(keys.creation_time.as_deref())
            .and_then(parse_timestamp);
        let key = match keys.id {
            Some(Cow::Borrowed(id)) if !id.is_empty() => Key::InSource(range_in(source, id)),
            Some(Cow::Owned(id)) if !id.is_empty() => Key::Owned(id.into()),
            _ => Key::Digest(
                format!(
                    "sha256:{}",
                    hex::encode(Sha256::digest(source[raw.clone()].as_bytes()))
                )
                .into(),
            ),
        };
        Activity {
            source: Arc::clone(source),
            raw,
            key,
            timestamp,
            frame: None,
        }
    }

    /// This record with the CSV frame made as it was read, with the columns `columns`.
    fn with_frame(self, columns: usize, frame: &[u8]) -> Self {
        Activity {
            frame: Some((columns, frame.into())),
            ..self
        }
    }

    /// This record with a text of its own, so that keeping it does not keep its page.
    pub fn detached(&self) -> Activity {
        if self.raw == (0..self.source.len()) {
            return self.clone();
        }
        let raw = self.raw_json();
        let source = Arc::new(raw.to_string());
        let key = match &self.key {
            Key::InSource(range) => {
                Key::InSource(range.start - self.raw.start..range.end - self.raw.start)
            }
            Key::Owned(key) => Key::Owned(key.clone()),
            Key::Digest(key) => Key::Digest(key.clone()),
        };
        Activity {
            raw: 0..source.len(),
            source,
            key,
            timestamp: self.timestamp,
            frame: None,
        }
    }

    /// The record's JSON text exactly as the server sent it.
    pub fn raw_json(&self) -> &str {
        &self.source[self.raw.clone()]
    }

    /// The de-duplication and tie-breaking key: the `Id`, or a digest of the record's content.
    pub fn key(&self) -> &str {
        match &self.key {
            Key::InSource(range) => &self.source[range.clone()],
            Key::Owned(key) | Key::Digest(key) => key,
        }
    }

    /// Whether the record has an id of its own (a non-empty string), rather than a digest.
    pub fn has_id(&self) -> bool {
        !matches!(self.key, Key::Digest(_))
    }

    /// Its CSV frame and the id of the columns that made it, if it was flattened as its page
    /// was read.
    pub fn frame(&self) -> Option<(usize, &[u8])> {
        self.frame
            .as_ref()
            .map(|(columns, frame)| (*columns, frame.as_ref()))
    }

    /// `TimeStamp`, falling back to `ActivityCreationTime`; `None` when neither is usable.
    pub fn timestamp(&self) -> Option<DateTime<Utc>> {
        self.timestamp
    }
}

/// Sorts records into the order evidence is written in: by time, then by key.
pub fn sort_in_time_order(records: &mut [Activity]) {
    records.sort_by(|a, b| {
        a.timestamp()
            .cmp(&b.timestamp())
            .then_with(|| a.key().cmp(b.key()))
    });
}

/// Parses the service's ISO 8601 timestamps (`2018-07-02T12:14:13.019Z`, any fraction, any offset).
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    if let Some(instant) = parse_utc_fast(text) {
        return Some(instant);
    }
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Some(instant.with_timezone(&Utc));
    }
    // Some records carry no zone designator; the service's times are UTC.
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|naive| naive.and_utc())
}

/// The service's own shape, `YYYY-MM-DDTHH:MM:SS[.fff…]Z`, without the general parser.
fn parse_utc_fast(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[b.len() - 1] != b'Z'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let nanos = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            let value = number(20..b.len() - 1)?;
            value * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    chrono::NaiveDate::from_ymd_opt(number(0..4)? as i32, number(5..7)?, number(8..10)?)?
        .and_hms_nano_opt(number(11..13)?, number(14..16)?, number(17..19)?, nanos)
        .map(|naive| naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_page_shapes_and_keeps_raw_text() {
        let plain = br#"{"value":[{"Id":"a","TimeStamp":"2018-07-02T12:14:13.019Z", "X" : 1 }]}"#;
        let annotated = br#"{"@odata.context":"x","value":[{"@odata.id":"u","@odata.etag":"W/\"1\"","Id":"a","TimeStamp":"2018-07-02T12:14:13.019Z"}]}"#;
        let records = parse_page(plain.to_vec()).unwrap();
        assert_eq!(
            records[0].raw_json(),
            r#"{"Id":"a","TimeStamp":"2018-07-02T12:14:13.019Z", "X" : 1 }"#
        );
        assert_eq!(records[0].key(), "a");
        assert_eq!(parse_page(annotated.to_vec()).unwrap()[0].key(), "a");
        let owned = Activity::from_owned_json(format!("m\t{}", records[0].raw_json()), 2).unwrap();
        assert_eq!(owned.raw_json(), records[0].raw_json());
        assert_eq!(owned.key(), "a");
        let detached = records[0].detached();
        assert_eq!(detached.raw_json(), records[0].raw_json());
        assert_eq!(detached.key(), "a");
        assert_eq!(detached.timestamp(), records[0].timestamp());
    }

    #[test]
    fn tolerates_missing_and_null_keys() {
        let records = parse_page(br#"{"value":[{"Id":null,"TimeStamp":null,"ActivityCreationTime":"2018-07-02T12:14:13Z"},{},{"Id":7,"TimeStamp":{"x":[1]},"Z":"z"}]}"#.to_vec()).unwrap();
        assert!(records[2].key().starts_with("sha256:"));
        assert_eq!(records[2].timestamp(), None);
        assert!(records[0].key().starts_with("sha256:"));
        assert_eq!(
            records[0].timestamp().unwrap().to_rfc3339(),
            "2018-07-02T12:14:13+00:00"
        );
        assert_eq!(records[1].timestamp(), None);
        assert_ne!(records[0].key(), records[1].key());
    }

    #[test]
    fn fast_timestamps_agree_with_the_general_parser() {
        for text in [
            "2018-07-02T12:14:13.019Z",
            "2018-07-02T12:14:13Z",
            "2018-07-02T12:14:13.1234567Z",
            "2018-12-31T23:59:59.999999999Z",
        ] {
            assert_eq!(
                parse_utc_fast(text),
                DateTime::parse_from_rfc3339(text)
                    .ok()
                    .map(|t| t.with_timezone(&Utc)),
                "{text}"
            );
        }
        for text in [
            "2018-07-02T12:14:13.Z",
            "2018-13-02T12:14:13Z",
            "2018-07-02T12:14:13+02:00",
            "2018-07-02 12:14:13Z",
        ] {
            assert_eq!(parse_utc_fast(text), None, "{text}");
        }
        assert_eq!(
            parse_timestamp("2018-07-02T14:14:13+02:00"),
            parse_timestamp("2018-07-02T12:14:13Z")
        );
    }

    #[test]
    fn keys_are_read_wherever_they_stand() {
        let late = Activity::from_json(r#"{"CustomProperties":[{"Name":"Id","Value":"no"}],"TimeStamp":"2018-07-02T12:14:13Z","Id":"yes"}"#).unwrap();
        assert_eq!(late.key(), "yes");
        assert!(late.timestamp().is_some());
        let id_only = Activity::from_json(r#"{"Id":"a","X":[1,{"TimeStamp":"2000-01-01T00:00:00Z"}],"ActivityCreationTime":"2018-07-02T12:14:13Z"}"#).unwrap();
        assert_eq!(
            id_only.timestamp().unwrap().to_rfc3339(),
            "2018-07-02T12:14:13+00:00"
        );
    }

    #[test]
    fn rejects_truncated_bodies() {
        assert!(parse_page(br#"{"value":[{"Id":"a","TimeSt"#.to_vec()).is_err());
        assert!(parse_page(br#"{"error":{"code":"x"}}"#.to_vec()).is_err());
    }
}
