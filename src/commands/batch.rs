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

use chrono::{SecondsFormat, Utc};
use tokio::sync::watch;

use crate::case::mailbox::CaseRun;
use crate::case::{finish_case, open_case, report, run_mailboxes, CrashPoints};
use crate::config::BatchConfig;
use crate::custody::Provenance;
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
    // The wall clock (`crate::clock`): the case manifest stamps when this machine ran it.
    let started = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
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
        server_dates: Default::default(),
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
    // This run's provenance, inside the manifest that is signed.
    let provenance = Provenance::of_run(
        &config.custody.command_line,
        run.query.source.descriptor().name,
        &run.client,
        run.server_dates
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default(),
        started,
        Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true), // the wall clock, as `started`
        config.custody.signer_fingerprint(),
    );
    case.manifest
        .provenance
        .extend(serde_json::to_value(provenance).ok());
    finish_case(&run, &mut case.manifest, &case.manifest_path)?;
    if let Some(signature) = config.custody.sign_manifest(&case.manifest_path)? {
        if !config.quiet {
            eprintln!("signed: {}", signature.display());
        }
    }
    report(&case.manifest, &config.case)
}
