//! The Activities client: one page request, with retries, limits and counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, LOCATION, USER_AGENT};
use reqwest::StatusCode;
use serde::Serialize;

use super::error::{describe_wait, HttpError, Refusal};
use super::limiter::{MailboxLimiter, RateBudget};
use super::retry::{classify_status, RetryDecision, RetryPolicy};
use super::sleeper::Sleeper;
use super::Credentials;
use crate::odata::{user_path_segment, PageQuery};
use crate::record::{read_page, Page, PageReading};

pub const PREFER_ACTIVITY_ACCESS: &str = "exchange.behavior=\"ActivityAccess\"";
pub const ACCEPT_NO_METADATA: &str = "application/json; odata.metadata=none";
pub const TOOL_USER_AGENT: &str = concat!("o365-activities/", env!("CARGO_PKG_VERSION"));

/// Everything needed to reach one mailbox.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub base_url: String,
    pub api_version: String,
    /// A UPN, or `me`.
    pub user: String,
    pub credentials: Credentials,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub budget: RateBudget,
    /// The largest response body accepted; a larger one is a failed attempt (retried), so a
    /// hostile or broken server cannot grow the client's memory without bound.
    pub max_page_bytes: u64,
}

/// The default `--max-page-bytes`: ample for 1,000 records of the largest kind (about 1 KB of
/// Query XML each), far below what would strain a workstation.
pub const DEFAULT_MAX_PAGE_BYTES: u64 = 64 * 1024 * 1024;

/// The largest error body read (only its message is used).
const MAX_ERROR_BODY_BYTES: u64 = 64 * 1024;

/// Retries of a request that could not connect at all (refused, no such host, TLS): a couple of
/// quick ones for a blip, not the long backoff meant for an overloaded service.
const CONNECT_RETRIES: u32 = 2;

/// Counters for the manifest and the progress line, shared across tasks.
#[derive(Debug, Default, Serialize)]
pub struct RequestStats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub throttle_waits: AtomicU64,
    pub throttle_wait_millis: AtomicU64,
}

impl RequestStats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Why one attempt did not produce a page.
enum AttemptFailure {
    Refused(Refusal),
    /// Answering would mean trusting another origin (a redirect away from the base URL).
    Unsafe(String),
    /// No connection could be made (refused, DNS, TLS): retried quickly, then reported as such.
    CannotConnect(String),
    Retryable {
        decision: RetryDecision,
        reason: String,
    },
}

#[derive(Debug)]
pub struct ActivitiesClient {
    http: reqwest::Client,
    endpoint: String,
    options: ClientOptions,
    limiter: Arc<MailboxLimiter>,
    sleeper: Arc<dyn Sleeper>,
    stats: Arc<RequestStats>,
    jitter: Mutex<fastrand::Rng>,
}

impl ActivitiesClient {
    pub fn new(options: ClientOptions, sleeper: Arc<dyn Sleeper>) -> Result<Self, HttpError> {
        let limiter = Arc::new(MailboxLimiter::new(options.budget));
        Self::with_limiter(options, sleeper, limiter)
    }

    /// A client that shares its mailbox budget with others (several windows of one mailbox).
    pub fn with_limiter(
        options: ClientOptions,
        sleeper: Arc<dyn Sleeper>,
        limiter: Arc<MailboxLimiter>,
    ) -> Result<Self, HttpError> {
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(30)))
            // The query names the mailbox and the case: it goes to no one else.
            .referer(false)
            .redirect(same_origin_redirects())
            .build()
            .map_err(|err| HttpError::Setup(err.to_string()))?;
        let endpoint = format!(
            "{}/api/{}/{}/Activities",
            options.base_url.trim_end_matches('/'),
            options.api_version,
            user_path_segment(&options.user)
        );
        Ok(ActivitiesClient {
            http,
            endpoint,
            options,
            limiter,
            sleeper,
            stats: Arc::new(RequestStats::default()),
            jitter: Mutex::new(fastrand::Rng::new()),
        })
    }

    pub fn stats(&self) -> &Arc<RequestStats> {
        &self.stats
    }

    pub fn url_for(&self, query: &PageQuery<'_>) -> String {
        format!("{}?{}", self.endpoint, query.to_query_string())
    }

    /// The request as `--dry-run` prints it, secrets redacted.
    pub fn describe_request(&self, query: &PageQuery<'_>) -> String {
        format!(
            "GET {}\nAuthorization: {}\nPrefer: {PREFER_ACTIVITY_ACCESS}\nAccept: {ACCEPT_NO_METADATA}\nUser-Agent: {TOOL_USER_AGENT}\n",
            self.url_for(query),
            self.options.credentials.redacted()
        )
    }

    /// Fetches one page, retrying as the policy allows; its records read as `reading` says.
    pub async fn fetch_page(
        &self,
        query: &PageQuery<'_>,
        reading: &PageReading,
    ) -> Result<Page, HttpError> {
        let url = self.url_for(query);
        let shown = query
            .parameters()
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&");
        self.fetch(&url, &shown, reading).await
    }

    /// Fetches the page an `@odata.nextLink` names: only on the base URL's own origin (scheme,
    /// host and port), since another origin's records must never become this mailbox's
    /// evidence.
    pub async fn fetch_link(&self, link: &str, reading: &PageReading) -> Result<Page, HttpError> {
        let same = reqwest::Url::parse(link)
            .ok()
            .zip(reqwest::Url::parse(&self.options.base_url).ok())
            .is_some_and(|(link, base)| link.origin() == base.origin());
        if !same {
            return Err(HttpError::Unsafe(format!(
                "the server's @odata.nextLink {link:?} leaves the origin of --base-url {}; it was \
                 not followed, since another server's records must never become this mailbox's \
                 evidence",
                self.options.base_url
            )));
        }
        self.fetch(link, link, reading).await
    }

    /// Fetches `url` (`shown`: the query as an error message shows it), retrying as the policy
    /// allows.
    async fn fetch(
        &self,
        url: &str,
        shown: &str,
        reading: &PageReading,
    ) -> Result<Page, HttpError> {
        let policy = self.options.retry;
        let (mut retries, mut connect_retries) = (0u32, 0u32);
        loop {
            let failure = match self.attempt(url, shown, reading, retries).await {
                Ok(page) => return Ok(page),
                Err(failure) => failure,
            };
            let (decision, reason) = match failure {
                AttemptFailure::Refused(refusal) => return Err(refusal.into()),
                AttemptFailure::Unsafe(message) => return Err(HttpError::Unsafe(message)),
                AttemptFailure::CannotConnect(cause) => {
                    if connect_retries >= CONNECT_RETRIES.min(policy.max_retries) {
                        return Err(HttpError::CannotConnect {
                            host: host_of(url),
                            cause,
                        });
                    }
                    connect_retries += 1;
                    (RetryDecision::Backoff, format!("cannot connect: {cause}"))
                }
                AttemptFailure::Retryable { decision, reason } => (decision, reason),
            };
            if retries >= policy.max_retries {
                return Err(HttpError::GaveUp {
                    attempts: retries + 1,
                    last: reason,
                });
            }
            let wait = match decision {
                RetryDecision::WaitAsTold(asked) => {
                    let wait = asked.min(policy.max_server_wait);
                    self.stats.throttle_waits.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .throttle_wait_millis
                        .fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
                    let capped = if asked > wait {
                        format!(" (it asked for {}, capped)", describe_wait(asked))
                    } else {
                        String::new()
                    };
                    tracing::warn!(
                        "{reason}: the server asked us to wait; waiting {}{capped} before retry {}/{}",
                        describe_wait(wait),
                        retries + 1,
                        policy.max_retries
                    );
                    wait
                }
                _ => {
                    let wait = {
                        let mut rng = self.jitter.lock().unwrap_or_else(|e| e.into_inner());
                        policy.backoff.delay(retries, &mut rng)
                    };
                    tracing::warn!(
                        "{reason}; retrying in {} (retry {}/{})",
                        describe_wait(wait),
                        retries + 1,
                        policy.max_retries
                    );
                    wait
                }
            };
            self.sleeper.sleep(wait).await;
            retries += 1;
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn attempt(
        &self,
        url: &str,
        shown: &str,
        reading: &PageReading,
        retries: u32,
    ) -> Result<Page, AttemptFailure> {
        let _permit = self.limiter.acquire().await;
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let sent = self
            .http
            .get(url)
            .header(AUTHORIZATION, self.options.credentials.header_value())
            .header("Prefer", PREFER_ACTIVITY_ACCESS)
            .header(ACCEPT, ACCEPT_NO_METADATA)
            .header(USER_AGENT, TOOL_USER_AGENT)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(err) if err.is_connect() => {
                tracing::debug!("GET {url} -> cannot connect (attempt {})", retries + 1);
                return Err(AttemptFailure::CannotConnect(error_chain(&err)));
            }
            Err(err) => {
                tracing::debug!("GET {url} -> no response (attempt {})", retries + 1);
                return Err(AttemptFailure::Retryable {
                    decision: RetryDecision::Backoff,
                    reason: format!("request failed: {}", error_chain(&err)),
                });
            }
        };
        let status = response.status();
        tracing::debug!("GET {url} -> {status} (attempt {})", retries + 1);
        if status.is_redirection() {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("(no Location header)");
            return Err(AttemptFailure::Unsafe(format!(
                "the server redirected {status} to {location:?}, away from the origin of \
                 --base-url {}; the redirect was not followed, since another server's records \
                 must never become this mailbox's evidence",
                self.options.base_url
            )));
        }
        let headers = response.headers().clone();
        if status.is_success() {
            let body = read_body(response, self.options.max_page_bytes)
                .await
                .map_err(|reason| AttemptFailure::Retryable {
                    decision: RetryDecision::Backoff,
                    reason,
                })?;
            return read_page(body, reading).map_err(|err| AttemptFailure::Retryable {
                decision: RetryDecision::Backoff,
                reason: err.to_string(),
            });
        }
        let body = read_body(response, MAX_ERROR_BODY_BYTES)
            .await
            .unwrap_or_default();
        match classify_status(status, &headers, SystemTime::now()) {
            RetryDecision::Fatal => Err(AttemptFailure::Refused(
                self.refusal(status, &headers, &body, url, shown),
            )),
            decision => Err(AttemptFailure::Retryable {
                decision,
                reason: format!("HTTP {status}"),
            }),
        }
    }

    fn refusal(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        url: &str,
        shown: &str,
    ) -> Refusal {
        let message = error_message(body);
        match status {
            StatusCode::UNAUTHORIZED => Refusal::Unauthorized {
                reason: diagnostics_reason(headers)
                    .unwrap_or_else(|| "no reason given (no x-ms-diagnostics header)".to_string()),
            },
            StatusCode::FORBIDDEN if message.contains("is not allowed") => {
                Refusal::ApiWithdrawn { message }
            }
            StatusCode::FORBIDDEN => Refusal::Forbidden { message },
            StatusCode::NOT_FOUND if message.contains("ActivityLogs") => {
                Refusal::NoMailboxPermission {
                    mailbox: self.options.user.clone(),
                    message,
                }
            }
            StatusCode::NOT_FOUND => Refusal::NotFound {
                url: url.to_string(),
                message,
            },
            StatusCode::BAD_REQUEST => Refusal::BadRequest {
                message,
                query: shown.to_string(),
            },
            other => Refusal::Other {
                status: other.as_u16(),
                message,
            },
        }
    }
}

/// Follows redirects only within the origin of the first request (at most 5); anything else
/// comes back as the redirect response itself, which the client refuses.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same && attempt.previous().len() <= 5 {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Reads a response body of at most `limit` bytes: a larger one is refused as soon as its
/// announced length or the bytes read pass the limit, so memory stays near the limit whatever
/// the server sends.
async fn read_body(mut response: reqwest::Response, limit: u64) -> Result<Vec<u8>, String> {
    let too_large = || {
        format!(
            "the response body is larger than {limit} bytes (--max-page-bytes); a page of 1,000 \
             activities is a few MB"
        )
    };
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() as u64 + chunk.len() as u64 > limit {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(err) => {
                return Err(format!(
                    "the response body was cut off: {}",
                    error_chain(&err)
                ))
            }
        }
    }
}

/// The host (and port) of a URL, for messages.
fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| u.port().map_or(h.to_string(), |p| format!("{h}:{p}")))
        })
        .unwrap_or_else(|| url.to_string())
}

/// The `error.message` of an OData error body, or the body itself, or a placeholder.
fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope {
        error: Inner,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        #[serde(default)]
        code: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(body) {
        let message = printable(&envelope.error.message.unwrap_or_default());
        return match envelope.error.code {
            Some(code) if !code.is_empty() => format!("{}: {message}", printable(&code)),
            _ => message,
        };
    }
    let text = printable(String::from_utf8_lossy(body).trim())
        .chars()
        .take(500)
        .collect::<String>();
    if text.is_empty() {
        "empty body".to_string()
    } else {
        text
    }
}

/// The `reason="..."` of `x-ms-diagnostics: 2000003;reason="...";error_category="..."`.
fn diagnostics_reason(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("x-ms-diagnostics")?.to_str().ok()?;
    let reason = value
        .split(';')
        .find_map(|part| part.trim().strip_prefix("reason="))
        .map(|r| r.trim_matches('"').to_string());
    Some(printable(&reason.unwrap_or_else(|| value.to_string())))
}

/// A server's text made safe for a terminal: control characters (escape sequences that could
/// rewrite the screen or the title) shown as `\u{..}` escapes instead of acted upon.
fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_unicode().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// An error with its sources, for a one-line log.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn reads_the_diagnostics_reason() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-ms-diagnostics",
            HeaderValue::from_static(
                "2000003;reason=\"The token has expired.\";error_category=\"invalid_token\"",
            ),
        );
        assert_eq!(
            diagnostics_reason(&headers).as_deref(),
            Some("The token has expired.")
        );
    }

    #[test]
    fn reads_odata_error_bodies() {
        assert_eq!(
            error_message(br#"{"error":{"code":"ErrorInvalidUrlQuery","message":"bad $top"}}"#),
            "ErrorInvalidUrlQuery: bad $top"
        );
        assert_eq!(error_message(b""), "empty body");
        assert_eq!(error_message(b"oops"), "oops");
    }

    #[test]
    fn a_servers_escape_codes_are_shown_not_acted_upon() {
        let hostile =
            r#"{"error":{"code":"X\u001b]0;owned\u0007","message":"\u001b[2J\u001b[31mred"}}"#;
        let shown = error_message(hostile.as_bytes());
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert!(shown.contains("\\u{1b}[31mred"), "{shown}");
        assert!(!error_message(b"plain\x1b[1mbold").contains('\u{1b}'));
    }
}
