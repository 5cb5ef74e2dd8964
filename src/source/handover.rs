//! What a source hands the pipeline, always in the records' final order: records, spools of
//! records fetched ahead, and durable points. Every source speaks it; the pipeline and a
//! case's checkpoints read it.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::record::Activity;
use crate::source::error::PagingError;

/// What a source hands over, always in time order.
pub enum Handover<'a> {
    /// Records, in order (for windowed walks: of the head window).
    Records(Vec<Activity>),
    /// The records a window spooled before it became the head (or, for a partial result,
    /// before the fetch stopped). The spool is the receiver's from then on: it removes the file
    /// when done with it (which may be later, on another thread).
    Spool(&'a Path),
    /// A window is wholly handed over: every activity before `following`, the start of the
    /// next window (`None` after the last), has been.
    Finished(Option<DateTime<Utc>>),
}

/// Receives what the windows hand over.
pub type EmitWindow<'e> = dyn FnMut(Handover<'_>) -> Result<(), PagingError> + Send + 'e;

/// What a walk that stopped early (an error, an interrupt) still hands over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartialHandover {
    /// Every window, finished or not (a pull's partial result keeps all it fetched).
    Everything,
    /// Only windows with no unfinished window before them: what a checkpoint may vouch for
    /// (a checkpoint must never run ahead of a gap).
    UpToFirstGap,
}
