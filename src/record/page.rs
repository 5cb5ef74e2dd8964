//! A page body: `{"value": [...]}`, with or without `@odata.*` annotations.
//!
//! The page's outer object is walked by hand so that each record is parsed once: serde_json
//! reads it whole for its keys while the walk learns where it ends. Capturing each record as a
//! `RawValue` first, then reading its keys, scanned every record one and a half times.

use std::ops::Range;
use std::sync::Arc;

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::keys::Keys;
use super::Activity;
use crate::json_key::JsonKey;

/// Why a response body could not be used as a page.
#[derive(Debug, thiserror::Error)]
#[error("the response body is not a page of records ({0}); it may have been cut off in transit")]
pub struct MalformedPage(String);

/// What a page's records are read for.
#[derive(Debug, Clone, Default)]
pub enum PageReading {
    /// The keys the pager needs.
    #[default]
    Keys,
    /// The keys, and in the same parse a frame made by this maker (the CSV's cells, when the
    /// records go straight into a CSV): each record is parsed once.
    KeysAndFrames(Arc<dyn FrameMaker>),
}

/// Makes a record's frame (its cells, say) while the record is parsed for its keys. The
/// record layer knows nothing of what a frame holds: whoever made it reads it back, and only
/// from records whose frame carries its `id`.
pub trait FrameMaker: Send + Sync + std::fmt::Debug {
    /// Identifies this maker: a frame is only ever used by the maker that made it.
    fn id(&self) -> usize;

    /// Reads one record from `record` into `frame` (cleared first), calling `strings` with
    /// each top-level property whose value is a string.
    fn frame_from<'de>(
        &self,
        record: &mut serde_json::Deserializer<serde_json::de::StrRead<'de>>,
        frame: &mut Vec<u8>,
        strings: &mut dyn FnMut(&str, &std::borrow::Cow<'de, str>),
    ) -> serde_json::Result<()>;
}

/// One page: its records, and the server's link to the rest of the same query, if it gave one
/// (server-driven paging).
#[derive(Debug, Default)]
pub struct Page {
    pub records: Vec<Activity>,
    pub next_link: Option<String>,
}

/// Parses a page body for its records' keys. The body becomes the records' shared text as it
/// is, without a copy.
pub fn parse_page(body: Vec<u8>) -> Result<Vec<Activity>, MalformedPage> {
    parse_page_for(body, &PageReading::Keys)
}

/// Parses a page body's records, reading each as `reading` says.
pub fn parse_page_for(
    body: Vec<u8>,
    reading: &PageReading,
) -> Result<Vec<Activity>, MalformedPage> {
    read_page(body, reading).map(|page| page.records)
}

/// Parses a page body: its records, read as `reading` says, and its `@odata.nextLink`.
pub fn read_page(body: Vec<u8>, reading: &PageReading) -> Result<Page, MalformedPage> {
    let source = Arc::new(String::from_utf8(body).map_err(|err| MalformedPage(err.to_string()))?);
    let mut walk = Walk {
        text: &source,
        at: 0,
    };
    let mut records = None;
    let mut next_link = None;
    walk.expect(b'{')?;
    if !walk.eat(b'}') {
        loop {
            let (key, _) = walk.value::<JsonKey>()?;
            walk.expect(b':')?;
            if &*key == "value" {
                if records.is_some() {
                    return Err(MalformedPage("duplicate field `value`".into()));
                }
                records = Some(walk.records(&source, reading)?);
            } else if &*key == "@odata.nextLink" {
                let (link, _) = walk.value::<Option<String>>()?;
                next_link = link;
            } else {
                walk.value::<IgnoredAny>()?;
            }
            if walk.eat(b'}') {
                break;
            }
            walk.expect(b',')?;
        }
    }
    walk.expect_end()?;
    let records = records.ok_or_else(|| MalformedPage("missing field `value`".into()))?;
    Ok(Page { records, next_link })
}

/// A cursor over the page text.
struct Walk<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Walk<'a> {
    fn skip_whitespace(&mut self) {
        let bytes = self.text.as_bytes();
        while matches!(bytes.get(self.at), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    /// Steps over `byte` if it comes next (after white space).
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_whitespace();
        let found = self.text.as_bytes().get(self.at) == Some(&byte);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect(&mut self, byte: u8) -> Result<(), MalformedPage> {
        if self.eat(byte) {
            return Ok(());
        }
        Err(match self.text.as_bytes().get(self.at) {
            None => MalformedPage(format!("it ends where `{}` was expected", byte as char)),
            Some(_) => MalformedPage(format!("expected `{}` at byte {}", byte as char, self.at)),
        })
    }

    fn expect_end(&mut self) -> Result<(), MalformedPage> {
        self.skip_whitespace();
        if self.at == self.text.len() {
            return Ok(());
        }
        Err(MalformedPage(format!(
            "trailing characters at byte {}",
            self.at
        )))
    }

    /// Parses the JSON value that comes next; returns it with where its text lies.
    fn value<T: Deserialize<'a>>(&mut self) -> Result<(T, Range<usize>), MalformedPage> {
        self.skip_whitespace();
        let start = self.at;
        let mut values = serde_json::Deserializer::from_str(&self.text[start..]).into_iter::<T>();
        match values.next() {
            Some(Ok(value)) => {
                self.at = start + values.byte_offset();
                Ok((value, start..self.at))
            }
            Some(Err(err)) => Err(MalformedPage(format!("at byte {start}: {err}"))),
            None => Err(MalformedPage("it ends where a value was expected".into())),
        }
    }

    /// Reads the value that comes next with `read`; returns what it returns with where the
    /// value's text lies.
    fn value_with<T>(
        &mut self,
        read: impl FnOnce(
            &mut serde_json::Deserializer<serde_json::de::StrRead<'a>>,
        ) -> serde_json::Result<T>,
    ) -> Result<(T, Range<usize>), MalformedPage> {
        self.skip_whitespace();
        let start = self.at;
        let mut deserializer = serde_json::Deserializer::from_str(&self.text[start..]);
        let value = read(&mut deserializer)
            .map_err(|err| MalformedPage(format!("at byte {start}: {err}")))?;
        // A stream begun where the value ended counts its offset from there.
        self.at = start + deserializer.into_iter::<IgnoredAny>().byte_offset();
        Ok((value, start..self.at))
    }

    /// The array of records.
    fn records(
        &mut self,
        source: &Arc<String>,
        reading: &PageReading,
    ) -> Result<Vec<Activity>, MalformedPage> {
        self.expect(b'[')?;
        let mut records = Vec::new();
        let mut frame = Vec::new();
        if self.eat(b']') {
            return Ok(records);
        }
        loop {
            records.push(match reading {
                PageReading::Keys => {
                    let (keys, raw) = self.value::<Keys>()?;
                    Activity::with_keys(source, raw, keys)
                }
                PageReading::KeysAndFrames(maker) => {
                    let mut keys = Keys::default();
                    let ((), raw) = self.value_with(|record| {
                        maker.frame_from(record, &mut frame, &mut |key, text| keys.offer(key, text))
                    })?;
                    Activity::with_keys(source, raw, keys).with_frame(maker.id(), &frame)
                }
            });
            if self.eat(b']') {
                return Ok(records);
            }
            self.expect(b',')?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys of a page's records, which must be the same (and so must each record's text)
    /// whether the page is read for keys alone or for keys and CSV frames.
    fn keys_of(body: &str) -> Result<Vec<String>, MalformedPage> {
        let dir = tempfile::tempdir().unwrap();
        let csv = crate::output::CsvBuilder::create(dir.path().join("cells")).unwrap();
        let described = |reading: &PageReading| {
            parse_page_for(body.as_bytes().to_vec(), reading).map(|records| {
                records
                    .iter()
                    .map(|r| (r.key().to_string(), r.timestamp(), r.raw_json().to_string()))
                    .collect::<Vec<_>>()
            })
        };
        let alone = described(&PageReading::Keys);
        let with_frames = described(&csv.page_reading());
        match (&alone, &with_frames) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{body:?}"),
            (Err(_), Err(_)) => {}
            _ => panic!("{body:?}: accepted one way only"),
        }
        alone.map(|records| records.into_iter().map(|(key, _, _)| key).collect())
    }

    #[test]
    fn reads_every_shape_of_page_a_json_parser_accepts() {
        assert_eq!(keys_of(r#"{"value":[]}"#).unwrap(), Vec::<String>::new());
        assert_eq!(
            keys_of(" {\r\n \"@odata.context\" : {\"a\":[1,\"]\"]} ,\t\"value\" : [ {\"Id\":\"a\"} , {\"Id\":\"b\"} ] , \"@odata.nextLink\":\"x\" } \n").unwrap(),
            ["a", "b"]
        );
        // A key spelled with escapes is the same key.
        assert_eq!(keys_of(r#"{"val\u0075e":[{"Id":"a"}]}"#).unwrap(), ["a"]);
        // A repeated key counts at its first string value, however the record is read.
        assert_eq!(
            keys_of(r#"{"value":[{"Id":null,"Id":"b\u0063","TimeStamp":"2018-07-02T12:14:13Z","Id":"z"},{"Id":7,"CustomProperties":[{"Name":"Id","Value":"no"}]}]}"#).unwrap()[0],
            "bc"
        );
        let records =
            parse_page(br#"{"value":[{"Id":"a"} ,{"Id":"b","N":-1.5e3}]}"#.to_vec()).unwrap();
        assert_eq!(records[0].raw_json(), r#"{"Id":"a"}"#);
        assert_eq!(records[1].raw_json(), r#"{"Id":"b","N":-1.5e3}"#);
    }

    #[test]
    fn refuses_anything_else() {
        for body in [
            "",
            "{",
            "[]",
            r#"{"value":[]"#,
            r#"{"value":[] x"#,
            r#"{"value":[]}}"#,
            r#"{"value":[],}"#,
            r#"{"value":[{"Id":"a"},]}"#,
            r#"{"value":[{"Id":"a"}{"Id":"b"}]}"#,
            r#"{"value":[1]}"#,
            r#"{"value":{"Id":"a"}}"#,
            r#"{"value":[],"value":[]}"#,
            r#"{"other":[]}"#,
            r#"{"value" [{"Id":"a"}]}"#,
            r#"{value:[]}"#,
            r#"{"value":[{"Id":"a","X":[1,}]}"#,
        ] {
            assert!(keys_of(body).is_err(), "{body:?} was accepted");
        }
    }

    #[test]
    fn invalid_utf8_inside_a_record_is_refused() {
        let mut body = br#"{"value":[{"Id":"a","X":"#.to_vec();
        body.extend_from_slice(b"\"\xff\"}]}");
        assert!(parse_page(body).is_err());
    }
}
