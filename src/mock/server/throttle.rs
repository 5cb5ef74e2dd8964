//! How much a caller may ask: a request budget per mailbox and token, and a cap on requests
//! in flight per mailbox.

use std::time::Instant;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{odata_error, Tenant};

impl Tenant {
    /// 429 when the caller is over its budget for this mailbox; the Rate-Limit headers otherwise.
    pub(super) fn throttle(
        &self,
        mailbox: &str,
        token: &str,
    ) -> Result<Vec<(&'static str, String)>, Response> {
        let Some((limit, window)) = self.settings.throttle else {
            return Ok(Vec::new());
        };
        let Ok(mut windows) = self.windows.lock() else {
            return Ok(Vec::new());
        };
        let starts = windows
            .entry((mailbox.to_string(), token.to_string()))
            .or_default();
        let now = Instant::now();
        while starts
            .front()
            .is_some_and(|s| now.duration_since(*s) >= window)
        {
            starts.pop_front();
        }
        let reset_in = starts
            .front()
            .map(|s| window.saturating_sub(now.duration_since(*s)))
            .unwrap_or(window);
        let reset_at =
            chrono::Utc::now() + chrono::Duration::from_std(reset_in).unwrap_or_default();
        let reset_text = reset_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        if starts.len() >= limit {
            let retry_after = reset_in.as_secs_f64().ceil().max(1.0) as u64;
            let mut response = odata_error(
                StatusCode::TOO_MANY_REQUESTS,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
            );
            let headers = response.headers_mut();
            for (name, value) in [
                ("retry-after", retry_after.to_string()),
                ("rate-limit-limit", limit.to_string()),
                ("rate-limit-remaining", "0".to_string()),
                ("rate-limit-reset", reset_text),
                (
                    "rate-limit-reason",
                    "Request limit exceeded for this mailbox and application.".to_string(),
                ),
            ] {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            }
            return Err(response);
        }
        starts.push_back(now);
        Ok(vec![
            ("rate-limit-limit", limit.to_string()),
            ("rate-limit-remaining", (limit - starts.len()).to_string()),
            ("rate-limit-reset", reset_text),
        ])
    }
    pub(super) fn enter(&self, mailbox: &str) -> Result<InFlight<'_>, Response> {
        let limit = self.settings.max_concurrent;
        let mut counts = self
            .in_flight
            .lock()
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())?;
        let count = counts.entry(mailbox.to_string()).or_insert(0);
        if limit > 0 && *count >= limit {
            let mut response = odata_error(
                StatusCode::TOO_MANY_REQUESTS,
                "ApplicationThrottled",
                "Too many concurrent requests for this mailbox.",
            );
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            return Err(response);
        }
        *count += 1;
        Ok(InFlight {
            tenant: self,
            mailbox: mailbox.to_string(),
        })
    }
}

/// Decrements the in-flight count of a mailbox when the request ends.
pub(super) struct InFlight<'a> {
    tenant: &'a Tenant,
    mailbox: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.tenant.in_flight.lock() {
            if let Some(count) = counts.get_mut(&self.mailbox) {
                *count = count.saturating_sub(1);
            }
        }
    }
}
