//! Walking a mailbox's activities page by page, in ascending TimeStamp order (ties by key).
//!
//! Both pagers are lazy (nothing is sent until `next_batch` is awaited) and yield batches of
//! records that are final: written once, in order, never revisited.

mod keyset;
mod link_walk;
mod skip;
mod tie_order;
mod window_spool;
mod windows;

use crate::http::HttpError;
use crate::record::Activity;

pub use keyset::KeysetPager;
pub use link_walk::{LinkWalk, MAX_IDLE_PAGES};
pub use skip::SkipPager;
pub use window_spool::{SpoolReader, SpoolWriter, SpooledRecord};
pub use windows::{fetch_windows, newest_activity_query, WindowPlan, WindowReport};
// The handover is every source's; the paging code speaks it too.
pub use crate::source::handover::{EmitWindow, Handover, PartialHandover};

/// Why paging stopped before the end.
#[derive(Debug, thiserror::Error)]
pub enum PagingError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("the server broke the paging contract: {0}")]
    Protocol(String),
    #[error("interrupted")]
    Interrupted,
    /// A link to a page already fetched in the same walk: following it would loop.
    #[error(
        "the server broke the paging contract: its {what} {link:?} leads to a page already \
         fetched in this walk; the walk was stopped rather than loop for ever. Run again; if it \
         persists, the service (or a proxy before it) is at fault"
    )]
    LinkLoop { what: &'static str, link: String },
    /// Pages that keep linking on while adding nothing new.
    #[error(
        "the server broke the paging contract: {pages} pages in a row added nothing new yet \
         linked on through {what} (the last to {link:?}); the walk was stopped rather than loop \
         for ever. Run again; if it persists, the service (or a proxy before it) is at fault"
    )]
    IdlePages {
        what: &'static str,
        pages: u32,
        link: String,
    },
    /// An audit log query returned fewer records than it counted, every time it was asked.
    #[error(
        "audit log query {query_id} for {start}..{end} returned {retrieved} of the {expected} \
         records the service counted (approximateReturnedRecordCount), and {queries} queries of \
         that range together returned no more: the records missing were not retrieved, so the \
         pull is incomplete (the records returned are kept). Run again later"
    )]
    Shortfall {
        query_id: String,
        start: String,
        end: String,
        expected: u64,
        retrieved: u64,
        queries: u32,
    },
    /// Every query of a range ended `failed` or `cancelled`.
    #[error(
        "audit log query {query_id} for {start}..{end} ended {status}; none of the {queries} \
         queries made for that range succeeded, so its records were not retrieved. The service \
         may be busy: run again later, or narrow the range (--start, --end)"
    )]
    QueryFailed {
        query_id: String,
        status: String,
        start: String,
        end: String,
        queries: u32,
    },
    /// An input the user gave cannot be used (a damaged state file, say): what to fix.
    #[error("{0}")]
    Input(String),
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
