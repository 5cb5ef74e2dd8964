//! What the manifest records of a feed pull: its blobs, as the feed's typed log.

use serde::{Deserialize, Serialize};

/// One blob as the manifest records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BlobLogEntry {
    pub content_id: String,
    /// What the blob is known by (see the module).
    #[serde(default)]
    pub content_uri: String,
    pub content_type: String,
    pub content_created: String,
    /// Records in the blob.
    pub records: u64,
    /// Records kept: of the users asked for, and not already in an earlier blob.
    pub kept: u64,
}

/// What the manifest records of a feed pull (`source_log`): the blobs, those skipped as
/// fetched by an earlier run, the record checks. Written and read as this type
/// (`Manifest::source_log_as`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FeedLog {
    pub blobs: Vec<BlobLogEntry>,
    #[serde(default)]
    pub skipped_as_fetched_before: u64,
    #[serde(default)]
    pub record_checks: crate::record::RecordCheckCounts,
    #[serde(default)]
    pub content_ids_with_several_uris: u64,
    #[serde(default)]
    pub state_file: Option<String>,
}
