//! The case manifest: run parameters (never a secret), and per mailbox its status, counters
//! and the SHA-256 and size of each file.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::output::{write_atomically, OutputError, PullCounters};

/// What the run asked for: a resumed run must ask for exactly the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunParameters {
    /// `activities`, `audit` (Graph audit log queries) or `feed` (Management Activity API).
    #[serde(default = "activities_source")]
    pub source: String,
    /// The audit log's operations and record types, or the feed's content types, asked for.
    #[serde(default)]
    pub source_filters: Vec<String>,
    /// The tenant of an audit log source (`--tenant`), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub base_url: String,
    pub api_version: String,
    pub start: Option<String>,
    pub end: Option<String>,
    /// The end as resolved when the case started (frozen for every later resume).
    pub resolved_filter: String,
    pub resolved_end: chrono::DateTime<chrono::Utc>,
    pub resolved_start: Option<chrono::DateTime<chrono::Utc>>,
    pub types: Vec<String>,
    pub app_types: Vec<String>,
    pub select: Option<Vec<String>>,
    pub page_size: u32,
    pub paging: crate::source::PagingMode,
    pub format: crate::output::OutputFormat,
    pub sanitize: bool,
    /// CSVs start with a byte order mark (`--csv-bom`).
    #[serde(default)]
    pub csv_bom: bool,
    /// SHA-256 of the user list (one UPN a line, as read: comments and blank lines left out).
    #[serde(alias = "users_file_sha256")]
    pub users_sha256: String,
}

fn activities_source() -> String {
    "activities".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailboxStatus {
    Complete,
    Incomplete,
    Failed,
    Pending,
}

impl MailboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MailboxStatus::Complete => "complete",
            MailboxStatus::Incomplete => "incomplete",
            MailboxStatus::Failed => "failed",
            MailboxStatus::Pending => "pending",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseFile {
    /// Relative to the case folder, `/`-separated.
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailboxEntry {
    pub mailbox: String,
    pub folder: String,
    pub status: MailboxStatus,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    #[serde(flatten)]
    pub counters: PullCounters,
    pub files: Vec<CaseFile>,
    /// Damaged partial evidence found on resume, kept aside under these names (relative to
    /// the case) while the mailbox was pulled again from its beginning.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set_aside: Vec<String>,
    /// How the source fetched this mailbox's records, one entry per run that pulled it: the
    /// audit log queries with their ids and counts, the blobs, or the time windows (as a
    /// pull's manifest records them in its `source_log`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_log: Vec<serde_json::Value>,
}

impl MailboxEntry {
    /// The source's logs, one per run that pulled the mailbox, as its source's type
    /// (`AuditQueryLog`, `FeedLog`, `ActivitiesLog`).
    pub fn source_logs_as<T: serde::de::DeserializeOwned>(
        &self,
    ) -> Result<Vec<T>, serde_json::Error> {
        self.source_log.iter().map(T::deserialize).collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseManifest {
    pub tool: String,
    pub tool_version: String,
    pub started_at: String,
    pub updated_at: String,
    pub parameters: RunParameters,
    pub mailboxes: Vec<MailboxEntry>,
    /// Case-level files (summary, timeline).
    pub files: Vec<CaseFile>,
    /// What produced the evidence, one entry per run of the case (the first, then each
    /// resume): see `custody::Provenance`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provenance: Vec<serde_json::Value>,
}

impl CaseManifest {
    pub fn read(path: &Path) -> Result<Self, OutputError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| OutputError::io("cannot read", path, e))?;
        serde_json::from_str(&text).map_err(|e| OutputError::io("cannot parse", path, e.into()))
    }

    pub fn write(&self, path: &Path) -> Result<(), OutputError> {
        let mut text = serde_json::to_vec_pretty(self)
            .map_err(|e| OutputError::io("cannot serialize", path, e.into()))?;
        text.push(b'\n');
        write_atomically(path, &text)
    }

    /// Every file the manifest vouches for.
    pub fn all_files(&self) -> impl Iterator<Item = &CaseFile> {
        self.mailboxes
            .iter()
            .flat_map(|m| m.files.iter())
            .chain(self.files.iter())
    }
}
