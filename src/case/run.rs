//! What the mailboxes of one run of a case share, and why a mailbox stopped early.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use tokio::sync::watch;

use super::MailboxStatus;
use crate::error::AppError;
use crate::http::{ClientOptions, Refusal, Sleeper};
use crate::output::{OutputError, OutputFormat};
use crate::pipeline::CrashPoints;
use crate::source::QueryConfig;

/// What every mailbox of a run shares.
pub struct CaseRun {
    pub case: std::path::PathBuf,
    pub query: QueryConfig,
    pub client: ClientOptions,
    pub sleeper: Arc<dyn Sleeper>,
    pub format: OutputFormat,
    pub sanitize: bool,
    pub csv_bom: bool,
    pub crash: Arc<CrashPoints>,
    pub stop: watch::Receiver<bool>,
    /// Records written by every mailbox so far, for progress.
    pub records: AtomicU64,
    pub throttle_waits: AtomicU64,
    pub quiet: bool,
    /// Between plain progress lines (stderr not a terminal).
    pub progress_interval: std::time::Duration,
    /// The first and last `Date` the servers sent to any mailbox's client (provenance).
    pub server_dates: std::sync::Mutex<crate::http::ServerDates>,
}

/// Why a mailbox stopped early.
pub struct Stopped {
    status: MailboxStatus,
    reason: String,
}

impl Stopped {
    /// The status and reason to record for the mailbox.
    pub fn into_status(self) -> (MailboxStatus, Option<String>) {
        (self.status, Some(self.reason))
    }
}

impl From<AppError> for Stopped {
    fn from(error: AppError) -> Self {
        let status = match &error {
            AppError::Interrupted
            | AppError::GaveUp(_)
            | AppError::Refused(Refusal::Unauthorized { .. }) => MailboxStatus::Incomplete,
            _ => MailboxStatus::Failed,
        };
        let reason = match &error {
            AppError::Refused(Refusal::Unauthorized { reason }) => format!(
                "token expired or rejected (401: {reason}); run again with --resume and a fresh token"
            ),
            AppError::Interrupted => "interrupted; run again with --resume".to_string(),
            other => other.to_string(),
        };
        Stopped { status, reason }
    }
}

impl From<OutputError> for Stopped {
    fn from(error: OutputError) -> Self {
        Stopped {
            status: MailboxStatus::Failed,
            reason: error.to_string(),
        }
    }
}
