//! The pipeline: one mailbox's pull, source -> records -> sinks -> finished files.
//!
//! Every command that pulls (`pull`, `batch`, `demo`) runs this one path. A source
//! (`crate::source`) hands records over in their final order; a writer thread puts them into
//! the sinks (the JSON Lines evidence, hashed as written, and the CSV's cells); a case adds a
//! checkpoint hook, called wherever the source says everything before an instant is written.
//! Finishing hashes nothing again: the evidence was hashed as it was written.

mod crash;
mod destination;
mod finish;
mod sinks;
mod writer;

pub use crash::CrashPoints;
pub use destination::{pull_to_destination, Destination, PullConfig, PullSummary};
pub use finish::{finish_to_files, FinishedFiles};
pub use sinks::{CheckpointHook, DurablePoint, EvidenceSinks, SyncToDisk};

use std::io::Write;

use crate::progress::ProgressReport;
use crate::source::paging::{Handover, PagingError, PartialHandover};
use crate::source::Source;
use writer::{SinkWriter, Written};

/// Pulls every record of `source` into `sinks`, stopping early on `interrupt`; hands the sinks
/// back with how the pull ended. What was fetched before a failure is written too (all of it
/// for a pull's partial result; with checkpoints, only what no gap precedes). An error instead
/// of the sinks means the writer thread could not start.
pub async fn run<W: Write + SyncToDisk + Send + 'static>(
    source: &mut dyn Source,
    sinks: EvidenceSinks<W>,
    progress: &dyn ProgressReport,
    interrupt: impl std::future::Future<Output = ()> + Send,
) -> Result<(EvidenceSinks<W>, Result<(), PagingError>), std::io::Error> {
    let reading = sinks.page_reading();
    let partial = if sinks.checkpointed() {
        PartialHandover::UpToFirstGap
    } else {
        PartialHandover::Everything
    };
    let writer = SinkWriter::start(sinks)?;
    let delivered = source
        .deliver(reading, partial, Box::pin(interrupt), &mut |handover| {
            match handover {
                Handover::Records(records) => {
                    let reached = records.last().and_then(|r| r.timestamp());
                    writer.hand_over(Written::Records(records))?;
                    progress.update(writer.records(), reached);
                }
                Handover::Spool(spool) => writer.hand_over(Written::Spool(spool.to_path_buf()))?,
                Handover::Finished(following) => {
                    writer.hand_over(Written::Durable(following))?;
                    progress.update(writer.records(), following);
                }
            }
            Ok(())
        })
        .await;
    let (sinks, written) = writer.finish();
    // A write that failed stopped the fetch: its error is the cause.
    Ok((sinks, written.and(delivered)))
}
