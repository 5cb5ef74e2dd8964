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

use crate::record::Activity;

pub use keyset::KeysetPager;
pub use link_walk::{LinkWalk, MAX_IDLE_PAGES};
pub use skip::SkipPager;
pub use window_spool::{SpoolReader, SpoolWriter, SpooledRecord};
pub use windows::{fetch_windows, newest_activity_query, WindowLogEntry, WindowPlan, WindowReport};
// The handover is every source's; the paging code speaks it too.
pub use crate::source::handover::{EmitWindow, Handover, PartialHandover};

// Every source's walk stops with it; the pagers here are the Activities API's.
pub use crate::source::error::PagingError;

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
