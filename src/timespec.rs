//! Parsing the time arguments analysts type: ISO 8601, a bare date, or a relative age.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, SubsecRound, Utc};

/// Which end of a range a bare date stands for: a start means the day's first second, an end
/// its last, so `--start 2018-05-01 --end 2018-05-31` covers all of May as an analyst expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeEnd {
    Start,
    End,
}

/// Parses `2018-01-01T00:00:00Z`, `2018-01-01T02:00:00+02:00`, `2018-01-01 00:00:00` (UTC),
/// `2018-01-01`, or a relative age before `now`: `30d`, `12h`, `45m`, `2w`.
/// The result is normalized to whole seconds in UTC.
pub fn parse_time(
    text: &str,
    now: DateTime<Utc>,
    which: RangeEnd,
) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Some(age) = parse_relative(text) {
        let age = age?;
        return Ok((now - age).trunc_subsecs(0));
    }
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(instant.with_timezone(&Utc).trunc_subsecs(0));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(naive.and_utc().trunc_subsecs(0));
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let time = match which {
            RangeEnd::Start => date.and_hms_opt(0, 0, 0),
            RangeEnd::End => date.and_hms_opt(23, 59, 59),
        };
        if let Some(time) = time {
            return Ok(time.and_utc());
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
            Ok(utc(2018, 1, 1, 0, 0, 0))
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
            Ok(utc(2018, 5, 31, 23, 59, 59))
        );
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
