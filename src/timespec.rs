//! Parsing the time arguments analysts type: ISO 8601, a bare date, or a relative age.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, SubsecRound, Utc};

/// Which end of a range a time is. A start is the first instant in the range; an end is
/// turned into the first instant *after* the range (sent as `TimeStamp lt`), covering all of
/// what the analyst typed: a bare date its whole day, a time to the second that whole second,
/// a time with a fraction its millisecond. So `--end 2018-04-01T00:19:10Z` keeps the record at
/// 00:19:10.280, and `--end X` followed by `--start X+1s` leaves no gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeEnd {
    Start,
    End,
}

/// A parsed time argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedTime {
    /// For a start, the first instant in the range; for an end, the first instant after it.
    pub instant: DateTime<Utc>,
    /// The text named no zone or offset, so it was taken as UTC (worth saying once).
    pub assumed_utc: bool,
}

/// Parses `2018-01-01T00:00:00Z`, `2018-01-01T02:00:00.250+02:00`, `2018-01-01 00:00:00` (UTC),
/// `2018-01-01`, or a relative age before `now`: `30d`, `12h`, `45m`, `2w`; see `RangeEnd`.
/// Fractions are kept to the millisecond (the service's precision).
pub fn parse_time(
    text: &str,
    now: DateTime<Utc>,
    which: RangeEnd,
) -> Result<DateTime<Utc>, String> {
    parse_time_argument(text, now, which).map(|parsed| parsed.instant)
}

/// As `parse_time`, also saying whether a zone was assumed.
pub fn parse_time_argument(
    text: &str,
    now: DateTime<Utc>,
    which: RangeEnd,
) -> Result<ParsedTime, String> {
    let text = text.trim();
    // The unit of what was typed: the range end covers all of it.
    let (instant, unit, assumed_utc) = parse_instant(text, now)?;
    let instant = match which {
        RangeEnd::Start => instant,
        RangeEnd::End => instant
            .checked_add_signed(unit)
            .ok_or_else(|| format!("'{text}' is too far in the future"))?,
    };
    Ok(ParsedTime {
        instant,
        assumed_utc,
    })
}

/// The instant `text` names (truncated to its unit), that unit, and whether UTC was assumed.
fn parse_instant(
    text: &str,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, Duration, bool), String> {
    let second = Duration::seconds(1);
    let unit_of = |text: &str| {
        if text.contains('.') {
            Duration::milliseconds(1)
        } else {
            second
        }
    };
    let truncate = |instant: DateTime<Utc>, unit: Duration| {
        if unit == second {
            instant.trunc_subsecs(0)
        } else {
            instant.trunc_subsecs(3)
        }
    };
    if let Some(age) = parse_relative(text) {
        let age = age?;
        let instant = now
            .checked_sub_signed(age)
            .ok_or_else(|| format!("'{text}' is too far in the past"))?;
        return Ok((instant.trunc_subsecs(0), second, false));
    }
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        let unit = unit_of(text);
        return Ok((truncate(instant.with_timezone(&Utc), unit), unit, false));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            let unit = if format.ends_with("%H:%M") {
                Duration::minutes(1)
            } else {
                unit_of(text)
            };
            return Ok((truncate(naive.and_utc(), unit), unit, true));
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        if let Some(midnight) = date.and_hms_opt(0, 0, 0) {
            return Ok((midnight.and_utc(), Duration::days(1), true));
        }
    }
    Err(format!(
        "'{text}' is not a time: use ISO 8601 (2018-01-01T00:00:00Z or with an offset like +02:00), \
         a date (2018-01-01), or an age such as 30d, 12h, 45m or 2w"
    ))
}

/// `Some(Ok(age))` for `<number><unit>`, `Some(Err)` for a number with a bad unit, `None` otherwise.
fn parse_relative(text: &str) -> Option<Result<Duration, String>> {
    let digits_end = text.find(|c: char| !c.is_ascii_digit())?;
    if digits_end == 0 || text.contains(['-', ':', 'T']) {
        return None;
    }
    let (number, unit) = text.split_at(digits_end);
    let amount: i64 = number.parse().ok()?;
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        other => {
            return Some(Err(format!(
                "'{text}': unknown unit '{other}' (use s, m, h, d or w, e.g. 30d)"
            )))
        }
    };
    let seconds = amount.checked_mul(seconds_per_unit);
    Some(
        seconds
            .and_then(Duration::try_seconds)
            .ok_or_else(|| format!("'{text}' is too far in the past")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2018, 6, 1, 12, 0, 0).unwrap() + Duration::milliseconds(500)
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn accepts_iso_with_zone_or_offset() {
        let start = RangeEnd::Start;
        assert_eq!(
            parse_time("2018-01-01T00:00:00Z", now(), start),
            Ok(utc(2018, 1, 1, 0, 0, 0))
        );
        assert_eq!(
            parse_time("2018-01-01T02:00:00.999+02:00", now(), start),
            Ok(utc(2018, 1, 1, 0, 0, 0) + Duration::milliseconds(999))
        );
        assert_eq!(
            parse_time("2018-01-01 05:06:07", now(), start),
            Ok(utc(2018, 1, 1, 5, 6, 7))
        );
    }

    #[test]
    fn bare_dates_cover_the_whole_day() {
        assert_eq!(
            parse_time("2018-05-31", now(), RangeEnd::Start),
            Ok(utc(2018, 5, 31, 0, 0, 0))
        );
        assert_eq!(
            parse_time("2018-05-31", now(), RangeEnd::End),
            Ok(utc(2018, 6, 1, 0, 0, 0)),
            "an end is the first instant after the range"
        );
    }

    #[test]
    fn an_end_covers_the_unit_it_was_typed_in() {
        let end = |text| parse_time(text, now(), RangeEnd::End).unwrap();
        // To the second: the whole second, so 00:19:10.280 is inside.
        assert_eq!(end("2018-04-01T00:19:10Z"), utc(2018, 4, 1, 0, 19, 11));
        // With a fraction: kept to the millisecond.
        assert_eq!(
            end("2018-04-01T00:19:10.280Z"),
            utc(2018, 4, 1, 0, 19, 10) + Duration::milliseconds(281)
        );
        assert_eq!(
            end("2018-04-01T00:19:10.2805Z"),
            utc(2018, 4, 1, 0, 19, 10) + Duration::milliseconds(281)
        );
        // Back to back: --end X then --start X+1s leaves no gap.
        let start = parse_time("2018-04-01T00:19:11Z", now(), RangeEnd::Start).unwrap();
        assert_eq!(start, end("2018-04-01T00:19:10Z"));
        assert_eq!(end("2018-04-01T00:19"), utc(2018, 4, 1, 0, 20, 0));
    }

    #[test]
    fn says_when_utc_was_assumed() {
        let parsed = |text| parse_time_argument(text, now(), RangeEnd::Start).unwrap();
        assert!(parsed("2018-01-01 05:06:07").assumed_utc);
        assert!(parsed("2018-01-01").assumed_utc);
        assert!(!parsed("2018-01-01T05:06:07Z").assumed_utc);
        assert!(!parsed("2018-01-01T05:06:07+02:00").assumed_utc);
        assert!(!parsed("30d").assumed_utc);
    }

    #[test]
    fn absurd_ages_and_dates_are_errors_not_panics() {
        for text in ["99999999999d", "9999999999999w", "99999999999999999d"] {
            assert!(parse_time(text, now(), RangeEnd::Start).is_err(), "{text}");
        }
        assert!(parse_time("9999-12-31", now(), RangeEnd::End).is_ok());
    }

    #[test]
    fn relative_ages_count_back_from_now() {
        assert_eq!(
            parse_time("30d", now(), RangeEnd::Start),
            Ok(utc(2018, 5, 2, 12, 0, 0))
        );
        assert_eq!(
            parse_time("12h", now(), RangeEnd::Start),
            Ok(utc(2018, 6, 1, 0, 0, 0))
        );
        assert_eq!(
            parse_time("2w", now(), RangeEnd::Start),
            Ok(utc(2018, 5, 18, 12, 0, 0))
        );
    }

    #[test]
    fn rejects_garbage_with_a_hint() {
        let err = parse_time("yesterday", now(), RangeEnd::Start).unwrap_err();
        assert!(err.contains("ISO 8601"), "{err}");
        let err = parse_time("3y", now(), RangeEnd::Start).unwrap_err();
        assert!(err.contains("unknown unit"), "{err}");
        assert!(parse_time("99999999999999999d", now(), RangeEnd::Start).is_err());
    }
}
