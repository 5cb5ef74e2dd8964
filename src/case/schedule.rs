//! Running a case's mailboxes: at most `concurrency` at once, each through the shared
//! pipeline, the manifest updated as they finish, progress on stderr, and an interrupt that
//! checkpoints every mailbox.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tokio::sync::{watch, Semaphore};

use super::mailbox::{self, CaseRun};
use super::open::OpenCase;
use super::{MailboxEntry, MailboxStatus};
use crate::error::AppError;

/// Pulls every mailbox of `case` not yet complete; returns `Interrupted` if `interrupt`
/// resolved first (every mailbox checkpointed, the manifest written).
pub async fn run_mailboxes(
    run: &Arc<CaseRun>,
    case: &mut OpenCase,
    concurrency: usize,
    stop: watch::Sender<bool>,
    show_bars: bool,
    interrupt: impl std::future::Future<Output = ()>,
) -> Result<(), AppError> {
    let quiet = run.quiet;
    let manifest = &mut case.manifest;
    let manifest_path = &case.manifest_path;
    let bars = show_bars.then(MultiProgress::new);
    // Mailboxes completed (their CSV written) at once: as many as there are cores, since more
    // would only hold more buffers.
    let completions = Arc::new(Semaphore::new(
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
    ));
    let overall = bars.as_ref().map(|bars| {
        let bar = bars.add(ProgressBar::new(manifest.mailboxes.len() as u64));
        bar.set_style(
            ProgressStyle::with_template(
                "[{elapsed_precise}] {bar:30} {pos}/{len} mailboxes {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });

    // The source learns which mailboxes this run pulls, in the order it starts them.
    let pending: Vec<String> = manifest
        .mailboxes
        .iter()
        .filter(|m| m.status != MailboxStatus::Complete)
        .map(|m| m.mailbox.clone())
        .collect();
    run.query.source.case_mailboxes(&pending);
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, entry) in manifest.mailboxes.iter().cloned().enumerate() {
        let context = Arc::clone(run);
        let permits = Arc::clone(&permits);
        let (bars, completions) = (bars.clone(), Arc::clone(&completions));
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (
                index,
                pull_mailbox(&context, entry, bars.as_ref(), &completions).await,
            )
        });
    }
    let mut interrupt = std::pin::pin!(interrupt);
    let mut interrupted = false;
    let mut ticker = tokio::time::interval(run.progress_interval);
    let mut done = 0usize;
    let mut last_written = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = &mut interrupt, if !interrupted => {
                interrupted = true;
                let _ = stop.send(true);
                eprintln!("interrupted: checkpointing every mailbox; run again with --resume to continue");
            }
            joined = tasks.join_next() => {
                let Some(joined) = joined else { break };
                let (index, entry) = joined.map_err(|e| AppError::Other(format!("a mailbox task failed: {e}")))?;
                done += 1;
                if !quiet && !show_bars {
                    eprintln!("{} {}: {} records{}", entry.status.as_str(), entry.mailbox, entry.counters.records,
                        entry.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default());
                }
                manifest.mailboxes[index] = entry;
                // At most once a second: a status lost to a crash only means that mailbox is
                // pulled again on resume, to the same bytes.
                if last_written.elapsed() >= Duration::from_secs(1) || done == manifest.mailboxes.len() {
                    manifest.updated_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
                    manifest.write(manifest_path)?;
                    last_written = std::time::Instant::now();
                }
                if let Some(bar) = &overall {
                    bar.set_position(done as u64);
                    bar.set_message(totals(run));
                }
            }
            _ = ticker.tick(), if !quiet && !show_bars => {
                eprintln!("progress: {done}/{} mailboxes finished, {}", manifest.mailboxes.len(), totals(run));
            }
        }
    }
    if let Some(bar) = &overall {
        bar.finish_and_clear();
    }
    if interrupted {
        manifest.updated_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        manifest.write(manifest_path)?;
        return Err(AppError::Interrupted);
    }
    Ok(())
}

fn totals(context: &CaseRun) -> String {
    format!(
        "{} records, {} throttle waits",
        context.records.load(Ordering::Relaxed),
        context.throttle_waits.load(Ordering::Relaxed)
    )
}

async fn pull_mailbox(
    run: &Arc<CaseRun>,
    previous: MailboxEntry,
    bars: Option<&MultiProgress>,
    completions: &Semaphore,
) -> MailboxEntry {
    if previous.status == MailboxStatus::Complete {
        return mailbox::recheck_complete(run, previous);
    }
    let bar = bars.map(|bars| {
        let bar = bars.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("  [{elapsed}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(previous.mailbox.clone());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    if bar.is_none() && !run.quiet {
        eprintln!("start {}", previous.mailbox);
    }
    let mut entry = previous;
    let pulled = mailbox::pull(run, &mut entry, bar.as_ref()).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let completed = match pulled {
        // Writing the CSV takes milliseconds of CPU: off the async workers, so the other
        // mailboxes' requests and responses are not held up meanwhile.
        Ok(pulled) => {
            let _core = completions.acquire().await;
            let run = Arc::clone(run);
            tokio::task::spawn_blocking(move || mailbox::complete(&run, pulled))
                .await
                .unwrap_or_else(|e| {
                    Err(mailbox::Stopped::from(AppError::Other(format!(
                        "completing the mailbox failed: {e}"
                    ))))
                })
        }
        Err(stopped) => Err(stopped),
    };
    match completed {
        Ok(files) => {
            entry.status = MailboxStatus::Complete;
            entry.reason = None;
            entry.files = files;
        }
        Err(stopped) => {
            (entry.status, entry.reason) = stopped.into_status();
            entry.files = Vec::new();
        }
    }
    entry
}
