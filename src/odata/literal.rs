//! OData literal escaping.

use chrono::{DateTime, SecondsFormat, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// Characters that cannot stand as they are in a URL path segment (RFC 3986 `pchar`).
/// `'`, `(`, `)` and `@` are legal there and stay readable, as in the blog's examples.
const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// An OData string literal: single-quoted, with every `'` doubled.
pub fn string_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// The `Users('upn')` path segment for another user's mailbox, or `me` for the caller's own.
pub fn user_path_segment(user: &str) -> String {
    if user.eq_ignore_ascii_case("me") {
        return "me".to_string();
    }
    let segment = format!("Users({})", string_literal(user));
    utf8_percent_encode(&segment, PATH_SEGMENT).to_string()
}

/// A TimeStamp literal as the service accepted it: unquoted ISO 8601 UTC, whole seconds when the
/// instant has no fraction, otherwise milliseconds (the precision the service records).
///
/// Sub-millisecond digits are truncated, which moves the bound earlier, never later: used as a
/// `ge` lower bound that can only cause a record to be fetched again (and dropped), never skipped.
pub fn format_timestamp_literal(instant: DateTime<Utc>) -> String {
    let millis_only = instant
        .with_nanosecond_truncated_to_millis()
        .unwrap_or(instant);
    if millis_only.timestamp_subsec_nanos() == 0 {
        millis_only.to_rfc3339_opts(SecondsFormat::Secs, true)
    } else {
        millis_only.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

trait TruncateToMillis: Sized {
    fn with_nanosecond_truncated_to_millis(self) -> Option<Self>;
}

impl TruncateToMillis for DateTime<Utc> {
    fn with_nanosecond_truncated_to_millis(self) -> Option<Self> {
        use chrono::Timelike;
        let nanos = self.nanosecond() % 1_000_000_000;
        self.with_nanosecond(nanos - nanos % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn string_literals_double_quotes() {
        assert_eq!(string_literal("Move"), "'Move'");
        assert_eq!(string_literal("o'brien"), "'o''brien'");
        assert_eq!(string_literal("''"), "''''''");
    }

    #[test]
    fn user_segments_are_literals_and_percent_encoded() {
        assert_eq!(
            user_path_segment("victim@contoso.com"),
            "Users('victim@contoso.com')"
        );
        assert_eq!(
            user_path_segment("o'brien@contoso.com"),
            "Users('o''brien@contoso.com')"
        );
        assert_eq!(
            user_path_segment("a b/c#d?e%f@x.com"),
            "Users('a%20b%2Fc%23d%3Fe%25f@x.com')"
        );
        assert_eq!(user_path_segment("ü@x.com"), "Users('%C3%BC@x.com')");
        assert_eq!(user_path_segment("ME"), "me");
    }

    #[test]
    fn timestamp_literals_keep_milliseconds_only_when_present() {
        let whole = Utc.with_ymd_and_hms(2018, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(format_timestamp_literal(whole), "2018-01-01T00:00:00Z");
        let fraction = whole + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(
            format_timestamp_literal(fraction),
            "2018-01-01T00:00:00.123Z"
        );
    }
}
