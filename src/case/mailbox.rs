//! One mailbox of a case: resumed from its checkpoint (after checking the bytes it vouches
//! for), pulled through the shared pipeline with a checkpoint at every durable point, and
//! completed into its final files.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use indicatif::ProgressBar;

use super::resume::resume_partial;
pub use super::run::{CaseRun, Stopped};
use super::{relative, CaseFile, Checkpoint, MailboxEntry, MailboxPaths, MailboxStatus};
use crate::error::AppError;

use crate::output::{
    commit, hash_file, CsvOptions, JsonlWriter, OutputError, OutputFormat, OutputPlan, PullCounters,
};
use crate::pipeline::{self, CheckpointHook, CrashPoints, DurablePoint, EvidenceSinks};
use crate::progress::ProgressReport;
use crate::source::{SourceClient, SpoolPlace, Walk};

/// A mailbox pulled to its end: its sinks, to be completed off the async workers.
pub struct Pulled {
    sinks: EvidenceSinks<File>,
    paths: MailboxPaths,
}

/// Pulls one mailbox into its partial evidence, checkpointing as it goes. `entry` is updated
/// with the counters (and any damaged partial set aside); the sinks come back when the pull
/// reached the end.
pub async fn pull(
    run: &CaseRun,
    entry: &mut MailboxEntry,
    bar: Option<&ProgressBar>,
) -> Result<Pulled, Stopped> {
    let paths = MailboxPaths::new(&run.case, &entry.mailbox);
    std::fs::create_dir_all(&paths.folder)
        .map_err(|e| OutputError::io("cannot create", &paths.folder, e))?;
    remove_stale_temporaries(&paths.folder)?;
    let resumed = resume_partial(run, &paths, entry)?;
    let before = resumed.checkpoint.clone();
    let checkpointed = Arc::new(Mutex::new(before.clone()));
    let csv = match run.format {
        OutputFormat::Csv => Some(resumed.csv),
        OutputFormat::Jsonl => None,
    }
    .flatten();
    let sinks = EvidenceSinks::new(
        JsonlWriter::continuing(resumed.file, resumed.hasher, before.bytes, resumed.records),
        csv,
        paths.partial.display().to_string(),
    )
    .with_checkpoints(Box::new(CaseCheckpoint {
        crash: Arc::clone(&run.crash),
        path: paths.checkpoint.clone(),
        checkpointed: Arc::clone(&checkpointed),
        // Everything up to the frozen end is written once the range is: resume past it.
        past_end: run.query.filter.end + chrono::Duration::milliseconds(1),
    }));

    let mut options = run.client.clone();
    options.user = entry.mailbox.clone();
    let descriptor = run.query.source.descriptor();
    let client =
        SourceClient::new(options, descriptor, Arc::clone(&run.sleeper)).map_err(AppError::from)?;
    let spools = SpoolPlace {
        dir: paths.folder.clone(),
        prefix: ".activities".into(),
    };
    let mut source = run
        .query
        .source
        .open(Walk {
            client: &client,
            query: &run.query,
            user: &entry.mailbox,
            sleeper: run.sleeper.as_ref(),
            spools,
            resume_after: before.bound,
        })
        .map_err(AppError::from)?;
    let progress = MailboxProgress {
        run,
        bar,
        mailbox: &entry.mailbox,
        counted: AtomicU64::new(resumed.records),
    };
    let mut stop = run.stop.clone();
    let interrupt = async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    let ran = pipeline::run(source.as_mut(), sinks, &progress, interrupt).await;
    let records = checkpointed
        .lock()
        .map(|c| c.counters.records)
        .unwrap_or(before.counters.records);
    entry.counters = PullCounters {
        records,
        ..PullCounters::after_run(&before.counters, client.stats(), source.pages())
    };
    if let Ok(mut dates) = run.server_dates.lock() {
        dates.merge(client.stats().dates());
    }
    entry.source_log.extend(source.log());
    run.throttle_waits.fetch_add(
        entry.counters.throttle_waits - before.counters.throttle_waits,
        Ordering::Relaxed,
    );
    let (sinks, pulled) = ran
        .map_err(|e| AppError::Other(format!("cannot start a thread to write the mailbox: {e}")))?;
    pulled.map_err(AppError::from)?;
    entry.counters.records = sinks.records();
    Ok(Pulled { sinks, paths })
}

/// Finishes a mailbox whose pull reached the end: the CSV written, the evidence flushed and
/// renamed into place; returns its files with the digests taken as they were written.
pub fn complete(run: &CaseRun, pulled: Pulled) -> Result<Vec<CaseFile>, Stopped> {
    let Pulled { sinks, paths } = pulled;
    let temp_csv = OutputPlan::temporary(&paths.csv);
    let options = CsvOptions {
        sanitize: run.sanitize,
        bom: run.csv_bom,
    };
    let finished = pipeline::finish_to_files(sinks, &paths.partial, &temp_csv, options)?;
    std::fs::rename(&paths.partial, &paths.evidence)
        .map_err(|e| OutputError::io("cannot rename into", &paths.evidence, e))?;
    let _ = std::fs::remove_file(&paths.checkpoint);
    let (sha256, bytes) = finished.evidence;
    let mut files = vec![CaseFile {
        path: relative(&run.case, &paths.evidence),
        sha256,
        bytes,
    }];
    if let Some((sha256, bytes)) = finished.csv {
        commit(&temp_csv, &paths.csv)?;
        files.push(CaseFile {
            path: relative(&run.case, &paths.csv),
            sha256,
            bytes,
        });
    }
    Ok(files)
}

/// A mailbox completed by an earlier run: skipped if its files still match, reported if not.
pub fn recheck_complete(run: &CaseRun, mut entry: MailboxEntry) -> MailboxEntry {
    for file in &entry.files {
        let path = run.case.join(&file.path);
        let matches = hash_file(&path)
            .map(|d| d.sha256 == file.sha256 && d.bytes == file.bytes)
            .unwrap_or(false);
        if !matches {
            entry.status = MailboxStatus::Failed;
            entry.reason = Some(format!(
                "{} no longer matches the manifest (missing or altered); it was not pulled again over \
                 the evidence: inspect it, move the mailbox folder away and resume to pull it anew",
                file.path
            ));
            return entry;
        }
    }
    entry
}

/// Saves the case's checkpoint at every durable point.
struct CaseCheckpoint {
    crash: Arc<CrashPoints>,
    path: std::path::PathBuf,
    /// The last checkpoint saved, for the mailbox's counters.
    checkpointed: Arc<Mutex<Checkpoint>>,
    past_end: DateTime<Utc>,
}

impl CheckpointHook for CaseCheckpoint {
    fn save(&mut self, point: &DurablePoint) -> std::io::Result<()> {
        let mut checkpoint = self
            .checkpointed
            .lock()
            .map_err(|_| std::io::Error::other("the checkpoint lock was poisoned"))?;
        checkpoint.bytes = point.bytes;
        checkpoint.sha256 = Some(point.sha256.clone());
        checkpoint.counters.records = point.records;
        checkpoint.bound = Some(point.bound.unwrap_or(self.past_end));
        checkpoint
            .save(&self.path, &self.crash)
            .map_err(|e| std::io::Error::other(e.to_string()))
    }

    fn crash_points(&self) -> &CrashPoints {
        &self.crash
    }
}

/// Progress of one mailbox: its line on the terminal, and the run's total of records.
struct MailboxProgress<'a> {
    run: &'a CaseRun,
    bar: Option<&'a ProgressBar>,
    mailbox: &'a str,
    counted: AtomicU64,
}

impl ProgressReport for MailboxProgress<'_> {
    fn update(&self, records: u64, reached: Option<DateTime<Utc>>) {
        let earlier = self.counted.swap(records, Ordering::Relaxed);
        self.run
            .records
            .fetch_add(records.saturating_sub(earlier), Ordering::Relaxed);
        if let Some(bar) = self.bar {
            let reached = reached
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_default();
            bar.set_message(format!(
                "{}: {records} records, reached {reached}",
                self.mailbox
            ));
        }
    }
}

/// Removes the hidden temporary files a crashed run left behind (never anything else).
pub fn remove_stale_temporaries(folder: &Path) -> Result<(), OutputError> {
    let entries =
        std::fs::read_dir(folder).map_err(|e| OutputError::io("cannot list", folder, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && (name.ends_with(".tmp") || name.ends_with(".cells")) {
            std::fs::remove_file(entry.path())
                .map_err(|e| OutputError::io("cannot remove", &entry.path(), e))?;
        }
    }
    Ok(())
}
