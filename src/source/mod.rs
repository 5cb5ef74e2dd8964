//! Sources: where a pull's records come from, at the head of the pipeline.
//!
//! A source walks its API and hands over records in their final order (`Handover`): records,
//! spools of records fetched ahead, and durable points ("everything before this instant has been
//! handed over") that a case checkpoints at. It knows nothing of files, CSV or manifests: the
//! pipeline (`crate::pipeline`) writes what it hands over. The Activities API is the one source
//! today; another (a paged JSON API whose records have a time and an id) would sit beside it
//! and hand over the same events.

mod activities;
pub mod paging;

pub use activities::{ActivitiesSource, AnyPager, PagingMode, QueryConfig, SpoolPlace};
pub use paging::{EmitWindow, Handover, PartialHandover};
