//! `batch`: every mailbox of a user list into one case folder, concurrently and resumably.
//!
//! Each mailbox appends its records to `activities.jsonl.partial` through the shared pipeline
//! and, once they are on disk (fsync), records in `checkpoint.json` the instant before which
//! everything is written, with the SHA-256 of those bytes. A resumed run checks them, truncates
//! the partial file to the checkpoint and continues from that instant, so the result equals an
//! uninterrupted run byte for byte. Complete mailboxes are verified against the manifest and
//! skipped.

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use tokio::sync::watch;

use crate::case::mailbox::CaseRun;
use crate::case::{finish_case, open_case, report, run_mailboxes, CrashPoints};
use crate::config::BatchConfig;
use crate::error::AppError;
use crate::http::Sleeper;

pub async fn run(
    mut config: BatchConfig,
    sleeper: Arc<dyn Sleeper>,
    interrupt: impl Future<Output = ()>,
) -> Result<(), AppError> {
    if !config.quiet {
        for note in &config.notes {
            eprintln!("note: {note}");
        }
    }
    let mut case = open_case(
        &config.case,
        config.resume,
        &config.parameters,
        &config.users,
    )?;
    // A resumed case pulls the range it started with.
    config.query.filter.start = case.manifest.parameters.resolved_start;
    config.query.filter.end = case.manifest.parameters.resolved_end;
    let (stop, stopped) = watch::channel(false);
    let run = Arc::new(CaseRun {
        case: config.case.clone(),
        query: config.query,
        client: config.client,
        sleeper,
        format: config.format,
        sanitize: config.sanitize,
        csv_bom: config.csv_bom,
        crash: Arc::new(CrashPoints::new(config.crash_at)),
        stop: stopped,
        records: AtomicU64::new(0),
        throttle_waits: AtomicU64::new(0),
        quiet: config.quiet,
        progress_interval: config.progress_interval,
    });
    let concurrency = config.concurrency;
    run_mailboxes(
        &run,
        &mut case,
        concurrency,
        stop,
        config.show_bars,
        interrupt,
    )
    .await?;
    finish_case(&run, &mut case.manifest, &case.manifest_path)?;
    report(&case.manifest, &config.case)
}
