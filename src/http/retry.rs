//! Whether to retry (classification) and how long to wait (the wait policy), kept apart.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

/// What to do with a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryDecision {
    /// The server said how long to wait (`Retry-After` or `Rate-Limit-Reset`); a throttle wait.
    WaitAsTold(Duration),
    /// Transient: wait by exponential backoff.
    Backoff,
    /// Do not retry.
    Fatal,
}

/// Classifies a status: 429 and 503 are throttling, other 5xx and 408 transient, the rest final.
pub fn classify_status(status: StatusCode, headers: &HeaderMap, now: SystemTime) -> RetryDecision {
    let transient = status == StatusCode::REQUEST_TIMEOUT || status.is_server_error();
    let throttled =
        status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE;
    if throttled {
        if let Some(wait) = server_requested_wait(headers, now) {
            return RetryDecision::WaitAsTold(wait);
        }
        return RetryDecision::Backoff;
    }
    if transient {
        RetryDecision::Backoff
    } else {
        RetryDecision::Fatal
    }
}

/// `Retry-After` (delay seconds or an HTTP date) or, failing that, `Rate-Limit-Reset` (a UTC time).
pub fn server_requested_wait(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(value) = header("retry-after") {
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        if let Ok(date) = httpdate::parse_http_date(value) {
            return Some(date.duration_since(now).unwrap_or(Duration::ZERO));
        }
    }
    let reset = header("rate-limit-reset")?;
    let reset: SystemTime = chrono::DateTime::parse_from_rfc3339(reset)
        .ok()
        .map(|t| t.into())
        .or_else(|| httpdate::parse_http_date(reset).ok())?;
    Some(reset.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Exponential backoff with full jitter: attempt n waits a uniform time in `[0, min(cap, base·2ⁿ)]`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(20));
        self.base.saturating_mul(factor).min(self.cap)
    }

    pub fn delay(&self, attempt: u32, rng: &mut fastrand::Rng) -> Duration {
        let ceiling = self.ceiling(attempt).as_millis() as u64;
        Duration::from_millis(rng.u64(0..=ceiling))
    }
}

/// How many attempts, and the bounds on waiting.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The longest server-requested wait honoured; longer ones are cut to this.
    pub max_server_wait: Duration,
    pub backoff: Backoff,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 8,
            max_server_wait: Duration::from_secs(600),
            backoff: Backoff {
                base: Duration::from_millis(500),
                cap: Duration::from_secs(60),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn classifies_statuses() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_530_000_000);
        let none = HeaderMap::new();
        assert_eq!(
            classify_status(StatusCode::TOO_MANY_REQUESTS, &none, now),
            RetryDecision::Backoff
        );
        assert_eq!(
            classify_status(StatusCode::BAD_GATEWAY, &none, now),
            RetryDecision::Backoff
        );
        assert_eq!(
            classify_status(StatusCode::REQUEST_TIMEOUT, &none, now),
            RetryDecision::Backoff
        );
        assert_eq!(
            classify_status(StatusCode::UNAUTHORIZED, &none, now),
            RetryDecision::Fatal
        );
        assert_eq!(
            classify_status(StatusCode::NOT_FOUND, &none, now),
            RetryDecision::Fatal
        );
        assert_eq!(
            classify_status(
                StatusCode::SERVICE_UNAVAILABLE,
                &headers(&[("retry-after", "7")]),
                now
            ),
            RetryDecision::WaitAsTold(Duration::from_secs(7))
        );
    }

    #[test]
    fn reads_http_dates_and_rate_limit_reset() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_530_000_000);
        let in_90s = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            server_requested_wait(&headers(&[("retry-after", &in_90s)]), now),
            Some(Duration::from_secs(90))
        );
        let reset =
            chrono::DateTime::<chrono::Utc>::from(now + Duration::from_secs(42)).to_rfc3339();
        assert_eq!(
            server_requested_wait(&headers(&[("rate-limit-reset", &reset)]), now),
            Some(Duration::from_secs(42))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(5));
        assert_eq!(
            server_requested_wait(&headers(&[("retry-after", &past)]), now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            server_requested_wait(&headers(&[("retry-after", "soon")]), now),
            None
        );
    }

    #[test]
    fn backoff_grows_to_its_cap_with_full_jitter() {
        let backoff = Backoff {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(60),
        };
        assert_eq!(backoff.ceiling(0), Duration::from_millis(500));
        assert_eq!(backoff.ceiling(3), Duration::from_secs(4));
        assert_eq!(backoff.ceiling(30), Duration::from_secs(60));
        let mut rng = fastrand::Rng::with_seed(7);
        let delays: Vec<Duration> = (0..200).map(|_| backoff.delay(4, &mut rng)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(8)));
        assert!(delays.iter().any(|d| *d < Duration::from_secs(2)));
        assert!(delays.iter().any(|d| *d > Duration::from_secs(6)));
    }
}
