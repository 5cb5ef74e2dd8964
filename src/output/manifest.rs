//! The manifest: what was asked, what came back, and the hash of every file written.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::files::{write_atomically, OutputError};
use crate::http::RequestStats;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PullStatus {
    Complete,
    Incomplete,
}

/// One file of the result, named relative to the manifest's folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub name: String,
    pub role: String,
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestQuery {
    /// `activities`, `audit` (Graph audit log queries) or `feed` (Management Activity API).
    #[serde(default = "activities_source")]
    pub source: String,
    pub base_url: String,
    pub api_version: String,
    pub mailbox: String,
    pub filter: String,
    pub paging: String,
    /// Records a page asked for; 0 where the server decides (the audit log sources).
    pub page_size: u32,
    pub select: Option<Vec<String>>,
    /// The first request exactly as sent (no credentials are ever part of a URL).
    pub first_request: String,
}

/// What a pull did, as manifests and checkpoints count it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PullCounters {
    pub records: u64,
    pub pages: u64,
    pub requests: u64,
    pub retries: u64,
    pub throttle_waits: u64,
    pub throttle_wait_seconds: f64,
}

impl PullCounters {
    /// `earlier` plus this run: its requests, retries and waits from `stats`, and its pages.
    pub fn after_run(earlier: &PullCounters, stats: &RequestStats, pages: u64) -> Self {
        PullCounters {
            records: earlier.records,
            pages: earlier.pages + pages,
            requests: earlier.requests + RequestStats::get(&stats.requests),
            retries: earlier.retries + RequestStats::get(&stats.retries),
            throttle_waits: earlier.throttle_waits + RequestStats::get(&stats.throttle_waits),
            throttle_wait_seconds: earlier.throttle_wait_seconds
                + RequestStats::get(&stats.throttle_wait_millis) as f64 / 1000.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub tool: String,
    pub tool_version: String,
    pub started_at: String,
    pub finished_at: String,
    pub status: PullStatus,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    pub query: ManifestQuery,
    #[serde(flatten)]
    pub counters: PullCounters,
    pub files: Vec<ManifestFile>,
    /// How the source fetched the records, beyond the counters: the audit log queries with
    /// their ids and counts per range, or the Management Activity API's blobs.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source_log: Option<serde_json::Value>,
    /// What produced the evidence (tool, build, command line, services, identity, clocks):
    /// see `custody::Provenance`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub provenance: Option<serde_json::Value>,
}

fn activities_source() -> String {
    "activities".into()
}

impl Manifest {
    /// Writes the manifest atomically at `path`.
    pub fn write(&self, path: &Path) -> Result<(), OutputError> {
        write_atomically(path, &self.to_bytes(path)?)
    }

    /// The manifest's text as `write` writes it (for `path`, named in an error).
    pub fn to_bytes(&self, path: &Path) -> Result<Vec<u8>, OutputError> {
        let mut text = serde_json::to_vec_pretty(self)
            .map_err(|e| OutputError::io("cannot serialize", path, e.into()))?;
        text.push(b'\n');
        Ok(text)
    }

    pub fn read(path: &Path) -> Result<Self, OutputError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| OutputError::io("cannot read", path, e))?;
        serde_json::from_str(&text).map_err(|e| OutputError::io("cannot parse", path, e.into()))
    }

    /// The source's log as its source's type (`AuditQueryLog`, `FeedLog`, `ActivitiesLog`);
    /// `None` without one.
    pub fn source_log_as<T: serde::de::DeserializeOwned>(
        &self,
    ) -> Option<Result<T, serde_json::Error>> {
        self.source_log.as_ref().map(T::deserialize)
    }
}
