//! The `$filter` and query string of one Activities request.

use chrono::{DateTime, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::literal::{format_timestamp_literal, string_literal};

/// Query-string characters kept readable; everything else (notably `&`, `=`, `+`, `#`, `%` and
/// spaces) is percent-encoded so a value can never change the query's structure.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'$')
    .remove(b'(')
    .remove(b')')
    .remove(b'\'')
    .remove(b',')
    .remove(b':')
    .remove(b'@');

/// What the analyst asked for: a time range and type restrictions. Fixed for the whole pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityFilter {
    pub start: Option<DateTime<Utc>>,
    /// The first instant after the range (exclusive, sent as `TimeStamp lt`), so that a range
    /// ending at a second covers all of that second's records, milliseconds and all.
    pub end: DateTime<Utc>,
    /// An exclusive upper bound inside the range (a time window's end), sent as `TimeStamp lt`.
    pub before: Option<DateTime<Utc>>,
    pub types: Vec<String>,
    pub app_types: Vec<String>,
}

/// Sort order of `$orderby`. Only `TimeStamp` is sent: a second key was never known to work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Ascending,
    Descending,
}

/// One page request: the analyst's filter plus the pager's position.
#[derive(Debug, Clone)]
pub struct PageQuery<'a> {
    pub filter: &'a ActivityFilter,
    /// Keyset paging raises this `TimeStamp ge` bound above the analyst's start.
    pub lower_bound: Option<DateTime<Utc>>,
    pub order: Order,
    pub top: u32,
    pub skip: u64,
    pub select: Option<&'a [String]>,
}

impl ActivityFilter {
    /// The `$filter` expression, in the blog's shape:
    /// `(TimeStamp ge A) and (TimeStamp lt B) and (ActivityIdType eq 'X' or ...)`.
    pub fn expression(&self, lower_bound: Option<DateTime<Utc>>) -> String {
        let mut clauses = Vec::new();
        let start = match (self.start, lower_bound) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if let Some(start) = start {
            clauses.push(format!(
                "(TimeStamp ge {})",
                format_timestamp_literal(start)
            ));
        }
        clauses.push(format!(
            "(TimeStamp lt {})",
            format_timestamp_literal(self.end)
        ));
        if let Some(before) = self.before {
            clauses.push(format!(
                "(TimeStamp lt {})",
                format_timestamp_literal(before)
            ));
        }
        if let Some(any) = any_of("ActivityIdType", &self.types) {
            clauses.push(any);
        }
        if let Some(any) = any_of("AppIdType", &self.app_types) {
            clauses.push(any);
        }
        clauses.join(" and ")
    }
}

fn any_of(property: &str, values: &[String]) -> Option<String> {
    if values.is_empty() {
        return None;
    }
    let alternatives: Vec<String> = values
        .iter()
        .map(|value| format!("{property} eq {}", string_literal(value)))
        .collect();
    Some(format!("({})", alternatives.join(" or ")))
}

impl PageQuery<'_> {
    /// The query parameters, unencoded, in the order they are sent.
    pub fn parameters(&self) -> Vec<(&'static str, String)> {
        let mut params = vec![("$filter", self.filter.expression(self.lower_bound))];
        let order = match self.order {
            Order::Ascending => "TimeStamp asc",
            Order::Descending => "TimeStamp desc",
        };
        params.push(("$orderby", order.to_string()));
        if let Some(select) = self.select {
            params.push(("$select", select.join(",")));
        }
        params.push(("$top", self.top.to_string()));
        if self.skip > 0 {
            params.push(("$skip", self.skip.to_string()));
        }
        params
    }

    /// The percent-encoded query string (without the leading `?`).
    pub fn to_query_string(&self) -> String {
        self.parameters()
            .iter()
            .map(|(name, value)| format!("{name}={}", utf8_percent_encode(value, QUERY_VALUE)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn filter() -> ActivityFilter {
        ActivityFilter {
            start: Some(Utc.with_ymd_and_hms(2018, 5, 1, 0, 0, 0).unwrap()),
            end: Utc.with_ymd_and_hms(2018, 6, 1, 0, 0, 0).unwrap(),
            before: None,
            types: vec!["ServerLogon".into(), "SearchResult".into()],
            app_types: vec![],
        }
    }

    #[test]
    fn filter_has_the_blogs_shape() {
        assert_eq!(
            filter().expression(None),
            "(TimeStamp ge 2018-05-01T00:00:00Z) and (TimeStamp lt 2018-06-01T00:00:00Z) and \
             (ActivityIdType eq 'ServerLogon' or ActivityIdType eq 'SearchResult')"
        );
    }

    #[test]
    fn lower_bound_only_ever_raises_the_start() {
        let f = filter();
        let earlier = Utc.with_ymd_and_hms(2018, 4, 1, 0, 0, 0).unwrap();
        let later = Utc.with_ymd_and_hms(2018, 5, 2, 3, 4, 5).unwrap();
        assert!(f
            .expression(Some(earlier))
            .starts_with("(TimeStamp ge 2018-05-01T00:00:00Z)"));
        assert!(f
            .expression(Some(later))
            .starts_with("(TimeStamp ge 2018-05-02T03:04:05Z)"));
    }

    #[test]
    fn query_string_encodes_spaces_and_structure_characters() {
        let mut f = filter();
        f.types = vec!["a&b=c#d+e%".into()];
        let select = vec!["Id".to_string(), "TimeStamp".to_string()];
        let q = PageQuery {
            filter: &f,
            lower_bound: None,
            order: Order::Ascending,
            top: 1000,
            skip: 2000,
            select: Some(&select),
        };
        let qs = q.to_query_string();
        assert!(
            qs.contains("ActivityIdType%20eq%20'a%26b%3Dc%23d%2Be%25'"),
            "{qs}"
        );
        assert!(qs.contains("&$orderby=TimeStamp%20asc&$select=Id,TimeStamp&$top=1000&$skip=2000"));
        assert_eq!(qs.matches('&').count(), 4);
    }
}
