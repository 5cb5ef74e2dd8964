//! The tenant as today's services show it: the identity platform's token endpoint
//! (`identity.rs`), Graph audit log queries (`graph.rs`) and the Office 365 Management Activity
//! API (`feed.rs`), all serving the same Unified Audit Log records (`mock::audit_log`).
//!
//! Shapes follow Microsoft's public documents, named in each file; what they leave open (how
//! long a query runs, the record limit, how blobs are cut) is a setting here, and says so.

mod entra;
mod feed;
mod graph;
mod identity;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::Value;

pub use entra::EntraSettings;
pub use identity::AppSpec;

/// The resources tokens are issued for, as the real services check their audience.
pub(super) const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";
pub(super) const MANAGEMENT_AUDIENCE: &str = "https://manage.office.com";

/// How the audit log services behave.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// The tenant's id: the identity platform's and the Management Activity API's path.
    pub tenant_id: String,
    /// Applications that may sign in.
    pub apps: Vec<AppSpec>,
    /// Lifetime of the tokens the identity endpoint issues.
    pub token_ttl: Duration,
    /// Polls of a new audit log query that answer `notStarted` or `running` before it has
    /// `succeeded` (not documented: real queries take minutes).
    pub query_polls: u32,
    /// How long a new audit log query runs before it may succeed, whatever the polls (real
    /// ones take minutes; a benchmark emulates them in seconds). Zero: the polls alone decide.
    pub query_duration: Duration,
    /// Audit log queries that may be running at once; one more is refused 429 with a
    /// `Retry-After` (see `graph.rs` for the documented figure). `None`: no limit.
    pub max_running_queries: Option<usize>,
    /// Records one audit log query may return; over it, `isRecordCountLimitExceeded` (the real
    /// limit is not documented).
    pub record_limit: usize,
    /// Audit log records per page of `.../records`.
    pub page_size: usize,
    /// Blobs per page of a content listing (more through `NextPageUri`).
    pub feed_page_size: usize,
    /// Every n-th request to the audit log APIs is answered 429 with `Retry-After: 1`.
    pub throttle_every: Option<u64>,
    /// Token polls of the device-code flow answered `authorization_pending` before the analyst
    /// "signs in".
    pub device_pending_polls: u32,
    /// The Management Activity API's present (its 7 days are counted back from it); default:
    /// an hour after the newest record.
    pub now: Option<DateTime<Utc>>,
    /// Tokens accepted by every API without signing in (the mock tenant's `--tokens`).
    pub static_tokens: Vec<String>,
    /// The lifetime the token endpoint announces (`expires_in`), when it is not `token_ttl`:
    /// tokens that die before they say, as a revoked session's do.
    pub announced_ttl: Option<Duration>,
    /// Refresh tokens are refused (`invalid_grant`), as after a password reset.
    pub refuse_refresh: bool,
    /// The Entra ID sign-in and directory audit logs (`entra.rs`).
    pub entra: EntraSettings,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            tenant_id: MOCK_TENANT_ID.into(),
            apps: vec![AppSpec::default()],
            token_ttl: Duration::from_secs(3600),
            query_polls: 2,
            query_duration: Duration::ZERO,
            max_running_queries: None,
            record_limit: 50_000,
            page_size: 1000,
            feed_page_size: 50,
            throttle_every: None,
            device_pending_polls: 2,
            now: None,
            static_tokens: vec!["mock-token".into()],
            announced_ttl: None,
            refuse_refresh: false,
            entra: EntraSettings::default(),
        }
    }
}

/// The mock tenant's id.
pub const MOCK_TENANT_ID: &str = "6babcaad-604b-40ac-a9d7-9fd97c0b779f";

/// A token the identity endpoint issued.
struct Issued {
    audience: String,
    expires: Instant,
}

pub(super) struct AuditService {
    /// Every record, as the Management Activity API schema has it, time-ordered, and the
    /// Management Activity API's blobs by creation time: made on first use.
    log: std::sync::OnceLock<(Vec<Arc<Value>>, Vec<feed::Blob>)>,
    make: Mutex<Option<MakeRecords>>,
    settings: AuditSettings,
    base_url: String,
    issued: Mutex<HashMap<String, Issued>>,
    /// Refresh token -> (client id, resource).
    refresh_tokens: Mutex<HashMap<String, (String, String)>>,
    /// Device code -> (token polls so far, resource).
    devices: Mutex<HashMap<String, (u32, String)>>,
    queries: Mutex<HashMap<String, graph::Query>>,
    subscriptions: Mutex<std::collections::HashSet<String>>,
    requests: AtomicU64,
    serial: AtomicU64,
    pub(super) counters: Arc<AuditCounters>,
    /// The Entra ID lists' records by time (`entra.rs`), rebuilt when a list grows.
    entra_index: Mutex<entra::TimeIndexes>,
}

/// What the audit log services did, for tests.
#[derive(Debug, Default)]
pub struct AuditCounters {
    /// Access tokens issued by the token endpoint.
    pub tokens_issued: AtomicU64,
    /// Requests answered 401 (no, unknown, expired or misdirected token).
    pub rejected: AtomicU64,
    /// Requests answered 429.
    pub throttled: AtomicU64,
    /// Blobs served.
    pub blobs_served: AtomicU64,
    /// Audit log queries created (201).
    pub queries_created: AtomicU64,
    /// Audit log query creations refused 429 because `max_running_queries` were running.
    pub queries_refused: AtomicU64,
    /// The most audit log queries running at once.
    pub most_running_queries: AtomicU64,
    /// Requests to the Entra ID lists being answered now, and the most at once.
    pub entra_in_flight: AtomicU64,
    pub most_entra_in_flight: AtomicU64,
}

type MakeRecords = Box<dyn FnOnce() -> Vec<Value> + Send>;

/// The audit log's records: given, or made on the first request that reads them (a large
/// `serve --corpus` tenant, whose Activities API alone most rehearsals use).
pub enum AuditRecords {
    Ready(Vec<Value>),
    Later(MakeRecords),
}

impl From<Vec<Value>> for AuditRecords {
    fn from(records: Vec<Value>) -> Self {
        AuditRecords::Ready(records)
    }
}

impl AuditService {
    fn log(&self) -> &(Vec<Arc<Value>>, Vec<feed::Blob>) {
        self.log.get_or_init(|| {
            let make = self.make.lock().ok().and_then(|mut make| make.take());
            let records: Vec<Arc<Value>> = make
                .map(|make| make())
                .unwrap_or_default()
                .into_iter()
                .map(Arc::new)
                .collect();
            let blobs = feed::blobs(&records);
            (records, blobs)
        })
    }

    fn records(&self) -> &[Arc<Value>] {
        &self.log().0
    }

    fn blobs(&self) -> &[feed::Blob] {
        &self.log().1
    }
}

/// The routes of the three services, on `base_url`, and their counters.
pub(super) fn router(
    records: AuditRecords,
    settings: AuditSettings,
    base_url: String,
) -> (Router, Arc<AuditCounters>) {
    let counters = Arc::new(AuditCounters::default());
    let (log, make) = match records {
        AuditRecords::Ready(records) => (
            std::sync::OnceLock::new(),
            Some(Box::new(move || records) as MakeRecords),
        ),
        AuditRecords::Later(make) => (std::sync::OnceLock::new(), Some(make)),
    };
    let service = Arc::new(AuditService {
        log,
        make: Mutex::new(make),
        settings,
        base_url,
        issued: Mutex::new(HashMap::new()),
        refresh_tokens: Mutex::new(HashMap::new()),
        devices: Mutex::new(HashMap::new()),
        queries: Mutex::new(HashMap::new()),
        subscriptions: Mutex::new(Default::default()),
        requests: AtomicU64::new(0),
        serial: AtomicU64::new(0),
        counters: Arc::clone(&counters),
        entra_index: Mutex::default(),
    });
    let router = Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(identity::token))
        .route(
            "/{tenant}/oauth2/v2.0/devicecode",
            post(identity::device_code),
        )
        .route(
            "/{version}/security/auditLog/queries",
            post(graph::create_query),
        )
        .route(
            "/{version}/security/auditLog/queries/{id}",
            get(graph::get_query),
        )
        .route(
            "/{version}/security/auditLog/queries/{id}/records",
            get(graph::list_records),
        )
        .route("/{version}/auditLogs/signIns", get(entra::signins))
        .route(
            "/{version}/auditLogs/directoryAudits",
            get(entra::directory_audits),
        )
        .route(
            "/api/v1.0/{tenant}/activity/feed/subscriptions/start",
            post(feed::start),
        )
        .route(
            "/api/v1.0/{tenant}/activity/feed/subscriptions/content",
            get(feed::list_content),
        )
        .route(
            "/api/v1.0/{tenant}/activity/feed/audit/{content_id}",
            get(feed::blob),
        )
        .with_state(service);
    (router, counters)
}

impl AuditService {
    fn next_serial(&self) -> u64 {
        self.serial.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A fresh opaque value (token, id), distinct within this server.
    fn fresh(&self, prefix: &str) -> String {
        format!(
            "{prefix}{:016x}{:08x}",
            fastrand::u64(..),
            self.next_serial()
        )
    }

    /// The throttle: every n-th request answered 429 with `Retry-After: 1`.
    fn throttled(&self) -> Option<Response> {
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let every = self.settings.throttle_every?;
        (every > 0 && n.is_multiple_of(every)).then(|| {
            self.counters.throttled.fetch_add(1, Ordering::Relaxed);
            let mut response = graph_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Too many requests, retry after some time.",
            );
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            response
        })
    }

    /// Checks the Bearer token for `audience`: a static token, or one issued here, unexpired
    /// and for that resource (the services check the audience, not the URL they were reached
    /// at).
    fn authorize(&self, headers: &HeaderMap, audience: &str) -> Result<(), Response> {
        let checked = self.check_token(headers, audience);
        if checked.is_err() {
            self.counters.rejected.fetch_add(1, Ordering::Relaxed);
        }
        checked
    }

    fn check_token(&self, headers: &HeaderMap, audience: &str) -> Result<(), Response> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        if token.is_empty() {
            return Err(unauthorized("Access token is empty."));
        }
        if self.settings.static_tokens.iter().any(|t| t == token) {
            return Ok(());
        }
        let issued = self.issued.lock().map_err(|_| unauthorized("internal"))?;
        match issued.get(token) {
            None => Err(unauthorized("Invalid access token.")),
            Some(t) if t.audience != audience => Err(unauthorized(&format!(
                "Invalid audience: the token is for {}, this service is {audience}.",
                t.audience
            ))),
            Some(t) if Instant::now() >= t.expires => Err(unauthorized(
                "Lifetime validation failed, the token is expired.",
            )),
            Some(_) => Ok(()),
        }
    }
}

/// Graph's error body (`{"error":{"code","message"}}`).
pub(super) fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        &serde_json::json!({"error": {"code": code, "message": message}}),
    )
}

fn unauthorized(message: &str) -> Response {
    graph_error(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        message,
    )
}

pub(super) fn json_response(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [("content-type", "application/json; charset=utf-8")],
        value.to_string(),
    )
        .into_response()
}

/// The record's `CreationTime` (no zone: UTC).
fn creation_time(record: &Value) -> Option<DateTime<Utc>> {
    record["CreationTime"]
        .as_str()
        .and_then(crate::mock::files::parse_time)
}
