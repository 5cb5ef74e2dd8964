//! Walking a mailbox's activities page by page, in ascending TimeStamp order (ties by key).
//!
//! Both pagers are lazy (nothing is sent until `next_batch` is awaited) and yield batches of
//! records that are final: written once, in order, never revisited.

mod keyset;
mod skip;
mod tie_order;
mod window_spool;
mod windows;

use crate::http::HttpError;
use crate::record::Activity;

pub use keyset::KeysetPager;
pub use skip::SkipPager;
pub use window_spool::{SpoolReader, SpoolWriter, SpooledRecord};
pub use windows::{
    fetch_windows, newest_activity_query, EmitWindow, Handover, PartialHandover, WindowLogEntry,
    WindowPlan, WindowReport,
};

/// Why paging stopped before the end.
#[derive(Debug, thiserror::Error)]
pub enum PagingError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("the server broke the paging contract: {0}")]
    Protocol(String),
    #[error("interrupted")]
    Interrupted,
    #[error("cannot use the spool file {path}: {source}")]
    Spool {
        path: String,
        source: std::io::Error,
    },
    /// Records could not be written where they go (the outputs of a pull).
    #[error("cannot write {what}: {source}")]
    Output {
        what: String,
        source: std::io::Error,
    },
}

/// Where a pager stands, for the manifest and progress.
#[derive(Debug, Clone, Default)]
pub struct PagerProgress {
    pub pages: u64,
    /// The TimeStamp reached so far (keyset) or the oldest seen (skip).
    pub reached: Option<chrono::DateTime<chrono::Utc>>,
}

/// A source of ordered record batches.
#[allow(async_fn_in_trait)]
pub trait Pager {
    /// The next records to write, or `None` once the result is complete.
    async fn next_batch(&mut self) -> Result<Option<Vec<Activity>>, PagingError>;
    fn progress(&self) -> PagerProgress;
}
