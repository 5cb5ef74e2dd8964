//! The Activities client: one page request, with retries, limits and counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::api::{ApiClient, ApiOptions, ApiRequest, TOOL_USER_AGENT};
use super::error::HttpError;
use super::limiter::{MailboxLimiter, RateBudget};
use super::retry::RetryPolicy;
use super::sleeper::Sleeper;
use super::Credentials;
use crate::odata::{user_path_segment, PageQuery};
use crate::record::{read_page, Page, PageReading};

pub const PREFER_ACTIVITY_ACCESS: &str = "exchange.behavior=\"ActivityAccess\"";
pub const ACCEPT_NO_METADATA: &str = "application/json; odata.metadata=none";

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

/// Counters for the manifest and the progress line, shared across tasks.
#[derive(Debug, Default, Serialize)]
pub struct RequestStats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub throttle_waits: AtomicU64,
    pub throttle_wait_millis: AtomicU64,
    /// The first and the last `Date` header the servers sent, for the manifest's provenance.
    #[serde(skip)]
    pub server_dates: std::sync::Mutex<ServerDates>,
}

/// A server's `Date` header (RFC 9110 section 6.6.1) as sent, with the local clock's time
/// when it arrived: the two side by side show the skew between the clocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ServerDate {
    pub server: String,
    pub local: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ServerDates {
    pub first: Option<ServerDate>,
    pub last: Option<ServerDate>,
}

impl ServerDates {
    /// Adds the dates another client saw: the earlier first, the later last (by the local
    /// clock, in one format, so they compare as text).
    pub fn merge(&mut self, other: ServerDates) {
        if let Some(first) = other.first {
            if self
                .first
                .as_ref()
                .is_none_or(|mine| first.local < mine.local)
            {
                self.first = Some(first);
            }
        }
        if let Some(last) = other.last {
            if self
                .last
                .as_ref()
                .is_none_or(|mine| last.local > mine.local)
            {
                self.last = Some(last);
            }
        }
    }
}

impl RequestStats {
    /// Notes an answer's `Date` header (as RFC 3339, when it parses as an HTTP date).
    pub fn note_date(&self, headers: &reqwest::header::HeaderMap) {
        let Some(value) = headers
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
        else {
            return;
        };
        let server = match httpdate::parse_http_date(value) {
            Ok(time) => chrono::DateTime::<chrono::Utc>::from(time)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            // Kept as sent (made printable), so a malformed date is visible too.
            Err(_) => value.chars().filter(|c| !c.is_control()).take(64).collect(),
        };
        let seen = ServerDate {
            server,
            // The wall clock (`crate::clock`): the machine's own time beside the server's.
            local: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        if let Ok(mut dates) = self.server_dates.lock() {
            if dates.first.is_none() {
                dates.first = Some(seen.clone());
            }
            dates.last = Some(seen);
        }
    }

    /// The dates noted so far.
    pub fn dates(&self) -> ServerDates {
        self.server_dates
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default()
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

impl ClientOptions {
    /// The options of one request to the API at `base_url`, which `url_flag` sets and whose
    /// 403 `permission_hint` explains.
    pub fn into_api(self, url_flag: &'static str, permission_hint: &'static str) -> ApiOptions {
        ApiOptions {
            base_url: self.base_url,
            url_flag,
            credentials: self.credentials,
            timeout: self.timeout,
            retry: self.retry,
            max_body_bytes: self.max_page_bytes,
            permission_hint,
            mailbox: self.user,
        }
    }
}

/// What to tell an analyst whose token the Activities API refuses with 403.
const ACTIVITIES_PERMISSION: &str = "no valid credentials were accepted. Supply an OAuth token \
     with --token or OAUTH_TOKEN (scope Mail.Read, plus Mail.Read.Shared for other users' \
     mailboxes), or --username for Basic authentication on --api-version v1.0";

/// One mailbox's Activities endpoint.
#[derive(Debug)]
pub struct ActivitiesClient {
    api: ApiClient,
    endpoint: String,
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
        let endpoint = format!(
            "{}/api/{}/{}/Activities",
            options.base_url.trim_end_matches('/'),
            options.api_version,
            user_path_segment(&options.user)
        );
        let api = options.into_api("--base-url", ACTIVITIES_PERMISSION);
        Ok(ActivitiesClient {
            api: ApiClient::new(api, sleeper, limiter)?,
            endpoint,
        })
    }

    pub fn stats(&self) -> &Arc<RequestStats> {
        self.api.stats()
    }

    pub fn url_for(&self, query: &PageQuery<'_>) -> String {
        format!("{}?{}", self.endpoint, query.to_query_string())
    }

    /// The request as `--dry-run` prints it, secrets redacted.
    pub fn describe_request(&self, query: &PageQuery<'_>) -> String {
        format!(
            "GET {}\nAuthorization: {}\nPrefer: {PREFER_ACTIVITY_ACCESS}\nAccept: {ACCEPT_NO_METADATA}\nUser-Agent: {TOOL_USER_AGENT}\n",
            self.url_for(query),
            self.api.options().credentials.redacted()
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

    /// Fetches the page an `@odata.nextLink` names: only on the base URL's own origin.
    pub async fn fetch_link(&self, link: &str, reading: &PageReading) -> Result<Page, HttpError> {
        self.api.check_same_origin(link, "@odata.nextLink")?;
        self.fetch(link, link, reading).await
    }

    async fn fetch(
        &self,
        url: &str,
        shown: &str,
        reading: &PageReading,
    ) -> Result<Page, HttpError> {
        let request = ApiRequest {
            shown,
            headers: &[
                ("Prefer", PREFER_ACTIVITY_ACCESS),
                ("Accept", ACCEPT_NO_METADATA),
            ],
            ..ApiRequest::get(url)
        };
        self.api
            .send(&request, |answer| {
                read_page(answer.body, reading)
                    .map_err(|err| super::ReadFailure::Retry(err.to_string()))
            })
            .await
    }
}
