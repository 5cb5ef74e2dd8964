//! One request to a JSON API, with the guarantees every source shares: retries with backoff,
//! `Retry-After`, the per-mailbox budget, a cap on the body, redirects only within the base
//! URL's origin, server text made safe for a terminal, and a signed-in token refreshed once on
//! a 401. The Activities client, the Graph audit log client and the Management Activity API
//! client are thin layers over it.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE, LOCATION, USER_AGENT};
use reqwest::{Method, StatusCode};

use super::error::{describe_wait, HttpError, LastFailure, Refusal};
use super::limiter::MailboxLimiter;
use super::retry::{classify_status, RetryDecision, RetryPolicy};
use super::sleeper::Sleeper;
use super::{Credentials, RequestStats};
use crate::wire::{error_chain, printable, read_capped, readable, BodyError};

pub const TOOL_USER_AGENT: &str = concat!("o365-activities/", env!("CARGO_PKG_VERSION"));

/// The largest error body read (only its message is used).
const MAX_ERROR_BODY_BYTES: u64 = 64 * 1024;

/// Retries of a request that could not connect at all (refused, no such host, TLS): a couple of
/// quick ones for a blip, not the long backoff meant for an overloaded service.
const CONNECT_RETRIES: u32 = 2;

/// How to reach one API.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// Links and redirects are followed only on this URL's origin.
    pub base_url: String,
    /// The flag that sets `base_url`, for messages (`--base-url`, `--graph-url`, ...).
    pub url_flag: &'static str,
    pub credentials: Credentials,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// The largest response body accepted; a larger one is a failed attempt (retried), so a
    /// hostile or broken server cannot grow the client's memory without bound.
    pub max_body_bytes: u64,
    /// The permission to name when the service answers 403.
    pub permission_hint: &'static str,
    /// The mailbox the requests are about (a UPN, `me`, or a tenant), for messages.
    pub mailbox: String,
}

/// One request: what is sent, and how the query is shown in an error.
pub struct ApiRequest<'a> {
    pub method: Method,
    pub url: &'a str,
    pub shown: &'a str,
    pub headers: &'a [(&'static str, &'a str)],
    /// A JSON body (POST).
    pub json: Option<&'a str>,
}

impl<'a> ApiRequest<'a> {
    pub fn get(url: &'a str) -> Self {
        ApiRequest {
            method: Method::GET,
            url,
            shown: url,
            headers: &[],
            json: None,
        }
    }
}

/// A successful answer.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Why a successful answer could not be read.
#[derive(Debug)]
pub enum ReadFailure {
    /// Possibly damaged in transit (cut off, garbled): the request is tried again.
    Retry(String),
    /// Whole, but not of the shape the documents give: asking again would get the same, so the
    /// request fails at once saying so (never retried and reported as throttling).
    NotUnderstood(String),
}

impl From<String> for ReadFailure {
    fn from(reason: String) -> Self {
        ReadFailure::Retry(reason)
    }
}

impl ReadFailure {
    /// A JSON answer that failed to parse: cut off or garbled (retried), or whole JSON of
    /// another shape (not understood).
    pub fn of_json(error: &serde_json::Error, what: &str) -> Self {
        let reason = format!("{what}: {error}");
        match error.classify() {
            serde_json::error::Category::Data => ReadFailure::NotUnderstood(reason),
            _ => ReadFailure::Retry(reason),
        }
    }
}

/// Why one attempt did not produce an answer.
enum AttemptFailure {
    Refused(Refusal),
    /// Answering would mean trusting another origin (a redirect away from the base URL).
    Unsafe(String),
    /// No connection could be made (refused, DNS, TLS): retried quickly, then reported as such.
    CannotConnect(String),
    /// 401 with a token this run signed in for: sign in again, once.
    TokenRejected(String),
    Retryable {
        decision: RetryDecision,
        reason: LastFailure,
    },
}

#[derive(Debug)]
pub struct ApiClient {
    http: reqwest::Client,
    options: ApiOptions,
    limiter: Arc<MailboxLimiter>,
    sleeper: Arc<dyn Sleeper>,
    stats: Arc<RequestStats>,
    jitter: Mutex<fastrand::Rng>,
}

impl ApiClient {
    pub fn new(
        options: ApiOptions,
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
        Ok(ApiClient {
            http,
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

    pub fn options(&self) -> &ApiOptions {
        &self.options
    }

    /// Refuses a link (`@odata.nextLink`, `NextPageUri`, a blob's `contentUri`) that leaves the
    /// base URL's origin (scheme, host and port): another server's records must never become
    /// this case's evidence.
    pub fn check_same_origin(&self, link: &str, what: &str) -> Result<(), HttpError> {
        let same = reqwest::Url::parse(link)
            .ok()
            .zip(reqwest::Url::parse(&self.options.base_url).ok())
            .is_some_and(|(link, base)| link.origin() == base.origin());
        if same {
            return Ok(());
        }
        Err(HttpError::Unsafe(format!(
            "the server's {what} {:?} leaves the origin of {} {}; it was not followed, since \
             another server's records must never become this case's evidence",
            printable(link),
            self.options.url_flag,
            self.options.base_url
        )))
    }

    /// Sends `request`, retrying as the policy allows, and reads a successful answer with
    /// `read`, whose error is a failed attempt too (a body cut off in transit).
    pub async fn send<T>(
        &self,
        request: &ApiRequest<'_>,
        read: impl Fn(Answer) -> Result<T, ReadFailure>,
    ) -> Result<T, HttpError> {
        let policy = self.options.retry;
        let (mut retries, mut connect_retries, mut signed_in_again) = (0u32, 0u32, false);
        loop {
            let failure = match self.attempt(request, retries).await {
                Ok(answer) => match read(answer) {
                    Ok(value) => return Ok(value),
                    Err(ReadFailure::NotUnderstood(reason)) => {
                        return Err(HttpError::NotUnderstood {
                            request: format!("{} {}", request.method, printable(request.shown)),
                            reason: printable(&reason),
                        })
                    }
                    Err(ReadFailure::Retry(reason)) => AttemptFailure::Retryable {
                        decision: RetryDecision::Backoff,
                        reason: LastFailure::Body(reason),
                    },
                },
                Err(failure) => failure,
            };
            let (decision, reason) = match failure {
                AttemptFailure::Refused(refusal) => return Err(refusal.into()),
                AttemptFailure::Unsafe(message) => return Err(HttpError::Unsafe(message)),
                AttemptFailure::TokenRejected(reason) => {
                    if signed_in_again {
                        // A new token was refused as well: the sign-in works, but what it
                        // grants does not open this API.
                        return Err(Refusal::SignedInTokenRefused {
                            reason,
                            hint: self.options.permission_hint,
                        }
                        .into());
                    }
                    // The token may have been revoked or have expired early: one new one.
                    tracing::warn!("the service rejected the token ({reason}); signing in again");
                    self.options.credentials.renew(&*self.sleeper).await?;
                    signed_in_again = true;
                    continue;
                }
                AttemptFailure::CannotConnect(cause) => {
                    if connect_retries >= CONNECT_RETRIES.min(policy.max_retries) {
                        return Err(HttpError::CannotConnect {
                            host: host_of(request.url),
                            cause,
                            flag: self.options.url_flag,
                        });
                    }
                    connect_retries += 1;
                    (RetryDecision::Backoff, LastFailure::CannotConnect(cause))
                }
                AttemptFailure::Retryable { decision, reason } => (decision, reason),
            };
            if retries >= policy.max_retries {
                return Err(HttpError::GaveUp {
                    attempts: retries + 1,
                    last: reason,
                });
            }
            let wait = self.wait_before_retry(&decision, &reason, retries);
            self.sleeper.sleep(wait).await;
            retries += 1;
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn wait_before_retry(
        &self,
        decision: &RetryDecision,
        reason: &LastFailure,
        retries: u32,
    ) -> Duration {
        let policy = self.options.retry;
        match decision {
            RetryDecision::WaitAsTold(asked) => {
                let wait = (*asked).min(policy.max_server_wait);
                self.stats.throttle_waits.fetch_add(1, Ordering::Relaxed);
                self.stats
                    .throttle_wait_millis
                    .fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
                let capped = if *asked > wait {
                    format!(" (it asked for {}, capped)", describe_wait(*asked))
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
        }
    }

    async fn attempt(
        &self,
        request: &ApiRequest<'_>,
        retries: u32,
    ) -> Result<Answer, AttemptFailure> {
        let authorization = self
            .options
            .credentials
            .header_value(&*self.sleeper)
            .await
            .map_err(|e| AttemptFailure::Refused(Refusal::SignIn(e)))?;
        let _permit = self.limiter.acquire().await;
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let url = request.url;
        let method = &request.method;
        let mut builder = self
            .http
            .request(method.clone(), url)
            .header(AUTHORIZATION, authorization)
            .header(USER_AGENT, TOOL_USER_AGENT);
        for (name, value) in request.headers {
            builder = builder.header(*name, *value);
        }
        if let Some(json) = request.json {
            builder = builder
                .header(CONTENT_TYPE, "application/json")
                .body(json.to_string());
        }
        let response = match builder.send().await {
            Ok(response) => response,
            Err(err) if err.is_connect() => {
                tracing::debug!("{method} {url} -> cannot connect (attempt {})", retries + 1);
                return Err(AttemptFailure::CannotConnect(error_chain(&err)));
            }
            Err(err) => {
                tracing::debug!("{method} {url} -> no response (attempt {})", retries + 1);
                return Err(AttemptFailure::Retryable {
                    decision: RetryDecision::Backoff,
                    reason: LastFailure::NoAnswer(error_chain(&err)),
                });
            }
        };
        let status = response.status();
        tracing::debug!("{method} {url} -> {status} (attempt {})", retries + 1);
        if status.is_redirection() {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("(no Location header)");
            return Err(AttemptFailure::Unsafe(format!(
                "the server redirected {status} to {:?}, away from the origin of {} {}; the \
                 redirect was not followed, since another server's records must never become \
                 this case's evidence",
                printable(location),
                self.options.url_flag,
                self.options.base_url
            )));
        }
        let headers = response.headers().clone();
        self.stats.note_date(&headers);
        if status.is_success() {
            let body = read_body(response, self.options.max_body_bytes)
                .await
                .map_err(|reason| AttemptFailure::Retryable {
                    decision: RetryDecision::Backoff,
                    reason: LastFailure::Body(reason),
                })?;
            return Ok(Answer {
                status,
                headers,
                body,
            });
        }
        let body = read_body(response, MAX_ERROR_BODY_BYTES)
            .await
            .unwrap_or_default();
        if status == StatusCode::UNAUTHORIZED && self.options.credentials.renewable() {
            return Err(AttemptFailure::TokenRejected(unauthorized_reason(
                &headers, &body,
            )));
        }
        // An HTTP-date `Retry-After` is read against the pull's clock (`crate::clock`).
        match classify_status(status, &headers, self.sleeper.now().into()) {
            RetryDecision::Fatal => Err(AttemptFailure::Refused(
                self.refusal(status, &headers, &body, request),
            )),
            decision => Err(AttemptFailure::Retryable {
                decision,
                reason: LastFailure::Status(status),
            }),
        }
    }

    fn refusal(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        request: &ApiRequest<'_>,
    ) -> Refusal {
        let message = error_message(body);
        match status {
            StatusCode::UNAUTHORIZED => Refusal::Unauthorized {
                reason: unauthorized_reason(headers, body),
            },
            StatusCode::FORBIDDEN if message.contains("is not allowed") => {
                Refusal::ApiWithdrawn { message }
            }
            StatusCode::FORBIDDEN => Refusal::Forbidden {
                message,
                hint: self.options.permission_hint,
            },
            StatusCode::NOT_FOUND if message.contains("ActivityLogs") => {
                Refusal::NoMailboxPermission {
                    mailbox: self.options.mailbox.clone(),
                    message,
                }
            }
            StatusCode::NOT_FOUND => Refusal::NotFound {
                url: printable(request.url),
                message,
                flag: self.options.url_flag,
            },
            StatusCode::BAD_REQUEST => Refusal::BadRequest {
                message,
                query: printable(request.shown),
            },
            other => Refusal::Other {
                status: other.as_u16(),
                message,
            },
        }
    }
}

/// Why a 401 was given: the `x-ms-diagnostics` reason, else the body's error message.
fn unauthorized_reason(headers: &HeaderMap, body: &[u8]) -> String {
    diagnostics_reason(headers).unwrap_or_else(|| {
        if body.is_empty() {
            "no reason given (no x-ms-diagnostics header)".to_string()
        } else {
            error_message(body)
        }
    })
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

/// Reads an API's response body of at most `limit` bytes (see `read_capped`).
async fn read_body(response: reqwest::Response, limit: u64) -> Result<Vec<u8>, String> {
    read_capped(response, limit).await.map_err(|e| match e {
        BodyError::TooLarge { limit } => format!(
            "the response body is larger than {limit} bytes (--max-page-bytes); a page of 1,000 \
             records is a few MB"
        ),
        BodyError::CutOff(cause) => format!("the response body was cut off: {cause}"),
    })
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
        let message = readable(&envelope.error.message.unwrap_or_default());
        return match envelope.error.code {
            Some(code) if !code.is_empty() => format!("{}: {message}", printable(&code)),
            _ => message,
        };
    }
    let text = readable(String::from_utf8_lossy(body).trim())
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
    Some(readable(&reason.unwrap_or_else(|| value.to_string())))
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
    fn prose_is_shown_on_one_line_with_other_control_characters_escaped() {
        assert_eq!(
            readable("bad scope.\r\nTrace ID: 1\r\n\tCorrelation ID: 2\r\n"),
            "bad scope. Trace ID: 1 Correlation ID: 2"
        );
        assert_eq!(readable("a\u{1b}[2Jb\u{7}"), "a\\u{1b}[2Jb\\u{7}");
        assert_eq!(readable("\nlead"), "lead");
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
