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
#[error("the response body is not an Activities page ({0}); it may have been cut off in transit")]
pub struct MalformedPage(String);

/// Parses a page body. The body becomes the records' shared text as it is, without a copy.
pub fn parse_page(body: Vec<u8>) -> Result<Vec<Activity>, MalformedPage> {
    let source = Arc::new(String::from_utf8(body).map_err(|err| MalformedPage(err.to_string()))?);
    let mut walk = Walk {
        text: &source,
        at: 0,
    };
    let mut records = None;
    walk.expect(b'{')?;
    if !walk.eat(b'}') {
        loop {
            let (key, _) = walk.value::<JsonKey>()?;
            walk.expect(b':')?;
            if &*key == "value" {
                if records.is_some() {
                    return Err(MalformedPage("duplicate field `value`".into()));
                }
                records = Some(walk.records(&source)?);
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
    records.ok_or_else(|| MalformedPage("missing field `value`".into()))
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

    /// The array of records.
    fn records(&mut self, source: &Arc<String>) -> Result<Vec<Activity>, MalformedPage> {
        self.expect(b'[')?;
        let mut records = Vec::new();
        if self.eat(b']') {
            return Ok(records);
        }
        loop {
            let (keys, raw) = self.value::<Keys>()?;
            records.push(Activity::with_keys(source, raw, keys));
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

    fn keys_of(body: &str) -> Result<Vec<String>, MalformedPage> {
        parse_page(body.as_bytes().to_vec())
            .map(|records| records.iter().map(|r| r.key().to_string()).collect())
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
