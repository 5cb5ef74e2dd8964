//! The emulated Activities endpoint over HTTP (axum): its settings, and the server's start.
//! Each job has a file: who may call (`auth`), how much (`throttle`), what goes wrong on
//! purpose (`faults`), and the answers themselves (`answer`).

// Each check returns the exact response to send on failure; boxing them would only add noise.
#![allow(clippy::result_large_err)]

mod answer;
mod audit;
mod auth;
mod faults;
mod throttle;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::store::{Mailbox, StoredActivity};
pub use audit::{
    AppSpec, AuditCounters, AuditRecords, AuditSettings, EntraSettings, MOCK_TENANT_ID,
};

/// Who may call, and how.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    pub token: String,
    /// The mailbox `me` means for this token.
    pub me: Option<String>,
    /// Answer 403 `AppId "..." is not allowed.` as the withdrawn service did.
    pub withdrawn: bool,
}

impl TokenSpec {
    /// Parses `TOKEN`, `TOKEN=UPN` or `withdrawn:TOKEN`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (withdrawn, rest) = match text.strip_prefix("withdrawn:") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (token, me) = match rest.split_once('=') {
            Some((token, upn)) => (token, Some(upn.to_ascii_lowercase())),
            None => (rest, None),
        };
        if token.is_empty() {
            return Err(format!("--tokens entry {text:?} has an empty token"));
        }
        Ok(TokenSpec {
            token: token.to_string(),
            me,
            withdrawn,
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct FaultSettings {
    pub latency: Duration,
    pub fail_rate: f64,
    pub reset_rate: f64,
    pub truncate_rate: f64,
    pub token_ttl: Option<Duration>,
    pub insert_per_request: usize,
    pub age_per_request: usize,
    pub seed: u64,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub addr: SocketAddr,
    pub tokens: Vec<TokenSpec>,
    /// Requests per window per mailbox and token.
    pub throttle: Option<(usize, Duration)>,
    pub max_concurrent: usize,
    pub faults: FaultSettings,
    pub log_requests: bool,
    /// Server-driven paging: at most this many records a page, with an `@odata.nextLink` to
    /// the rest of the request's `$top`.
    pub page_cap: Option<usize>,
    /// A hostile server: caps its pages as `page_cap` says, but gives no link to the rest.
    pub page_cap_without_link: bool,
    /// The identity platform and the audit log APIs.
    pub audit: AuditSettings,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tokens: vec![TokenSpec {
                token: "mock-token".into(),
                me: None,
                withdrawn: false,
            }],
            throttle: None,
            max_concurrent: 4,
            faults: FaultSettings::default(),
            log_requests: false,
            page_cap: None,
            page_cap_without_link: false,
            audit: AuditSettings::default(),
        }
    }
}

pub(super) struct Tenant {
    pub(super) mailboxes: HashMap<String, RwLock<Mailbox>>,
    pub(super) first_mailbox: Option<String>,
    /// Where this server answers, for the links it gives.
    pub(super) base_url: String,
    pub(super) settings: ServerSettings,
    pub(super) rng: Mutex<fastrand::Rng>,
    pub(super) first_use: Mutex<HashMap<String, Instant>>,
    pub(super) windows: Mutex<HashMap<(String, String), VecDeque<Instant>>>,
    pub(super) in_flight: Mutex<HashMap<String, usize>>,
    pub(super) inserted: AtomicU64,
    pub requests: AtomicU64,
}

/// A running mock tenant; dropping it does not stop it, `shutdown` does.
pub struct RunningServer {
    pub url: String,
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), std::io::Error>>,
    tenant: Arc<Tenant>,
    audit: Arc<AuditCounters>,
}

impl RunningServer {
    /// Requests answered so far (any status).
    pub fn requests(&self) -> u64 {
        self.tenant.requests.load(Ordering::Relaxed)
    }

    /// What the identity platform and the audit log APIs did.
    pub fn audit_counters(&self) -> &AuditCounters {
        &self.audit
    }

    pub async fn shutdown(mut self) -> Result<(), std::io::Error> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.await.unwrap_or(Ok(()))
    }

    /// Serves until `signal` resolves.
    pub async fn serve_until(
        self,
        signal: impl std::future::Future<Output = ()>,
    ) -> Result<(), std::io::Error> {
        signal.await;
        self.shutdown().await
    }
}

/// Binds and starts serving `mailboxes` in the background (with an empty audit log).
pub async fn start(
    mailboxes: BTreeMap<String, Vec<StoredActivity>>,
    settings: ServerSettings,
) -> Result<RunningServer, std::io::Error> {
    start_with_audit_log(mailboxes, Vec::new(), settings).await
}

/// Binds and starts serving `mailboxes` through the Activities API and `audit_records` (the
/// Unified Audit Log, as `mock::audit_log` renders it) through Graph audit log queries and the
/// Management Activity API, with the identity platform's token endpoint beside them.
pub async fn start_with_audit_log(
    mailboxes: BTreeMap<String, impl Into<Mailbox>>,
    audit_records: impl Into<audit::AuditRecords>,
    settings: ServerSettings,
) -> Result<RunningServer, std::io::Error> {
    let listener = tokio::net::TcpListener::bind(settings.addr).await?;
    let addr = listener.local_addr()?;
    let first_mailbox = mailboxes.keys().next().cloned();
    let tenant = Arc::new(Tenant {
        mailboxes: mailboxes
            .into_iter()
            .map(|(upn, activities)| (upn.to_ascii_lowercase(), RwLock::new(activities.into())))
            .collect(),
        first_mailbox,
        base_url: format!("http://{addr}"),
        rng: Mutex::new(fastrand::Rng::with_seed(settings.faults.seed)),
        settings,
        first_use: Mutex::new(HashMap::new()),
        windows: Mutex::new(HashMap::new()),
        in_flight: Mutex::new(HashMap::new()),
        inserted: AtomicU64::new(0),
        requests: AtomicU64::new(0),
    });
    let (audit, audit_counters) = audit::router(
        audit_records.into(),
        tenant.settings.audit.clone(),
        tenant.base_url.clone(),
    );
    let router = Router::new()
        .route("/api/{version}/{user}/Activities", get(answer::activities))
        .with_state(Arc::clone(&tenant))
        .merge(audit)
        .fallback(|| async {
            odata_error(
                StatusCode::NOT_FOUND,
                "ErrorInvalidUrl",
                "The requested URL was not found.",
            )
        });
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
    });
    Ok(RunningServer {
        url: format!("http://{addr}"),
        addr,
        shutdown: Some(tx),
        task,
        tenant,
        audit: audit_counters,
    })
}

pub(super) fn odata_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    (
        status,
        [("content-type", "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}
