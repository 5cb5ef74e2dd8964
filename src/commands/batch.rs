//! `batch`: every mailbox of a user list into one case folder, concurrently and resumably.
//!
//! Each mailbox appends its records to `activities.jsonl.partial` (a page at a time when walked
//! sequentially, a finished time window at a time when windowed) and, once they are on disk
//! (fsync), records in `checkpoint.json` the instant before which everything is written. A
//! resumed run truncates the partial file to the checkpoint and continues from that instant, so
//! the result equals an uninterrupted run byte for byte. Complete mailboxes are verified against
//! the manifest and skipped.

use std::collections::BTreeMap;
use std::fs::File;
use std::future::Future;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use tokio::sync::{watch, Semaphore};

use crate::case::mailbox::{self, remove_stale_temporaries, CaseRun};
use crate::case::timeline::{union_of_headers, write_timeline};
use crate::case::{
    read_users, relative, CaseFile, CaseManifest, CrashPoints, MailboxEntry, MailboxPaths,
    MailboxStatus, RunParameters, MANIFEST, SUMMARY, TIMELINE,
};
use crate::cli::BatchArgs;
use crate::config::{client_options, QueryConfig};
use crate::error::AppError;
use crate::http::Sleeper;
use crate::output::{commit, HashingWriter, OutputError, OutputPlan, PullCounters};

pub async fn run(
    args: &BatchArgs,
    quiet: bool,
    sleeper: Arc<dyn Sleeper>,
    interrupt: impl Future<Output = ()>,
) -> Result<(), AppError> {
    let text = std::fs::read_to_string(&args.users).map_err(|e| {
        AppError::Usage(format!("cannot read --users {}: {e}", args.users.display()))
    })?;
    let users = read_users(&text).map_err(|errors| {
        AppError::Usage(format!(
            "{} has lines to fix:\n  {}",
            args.users.display(),
            errors.join("\n  ")
        ))
    })?;
    if !quiet {
        for note in &users.notes {
            eprintln!("note: {note}");
        }
    }
    let mut query = QueryConfig::from_args(&args.query, &args.connection, Utc::now())?;
    let client = client_options("me", &args.connection, false)?;
    let parameters = RunParameters {
        base_url: client.base_url.clone(),
        api_version: client.api_version.clone(),
        start: args.query.start.clone(),
        end: args.query.end.clone(),
        resolved_filter: query.filter.expression(None),
        resolved_end: query.filter.end,
        resolved_start: query.filter.start,
        types: query.filter.types.clone(),
        app_types: query.filter.app_types.clone(),
        select: query.select.clone(),
        page_size: query.page_size,
        paging: format!("{:?}", query.paging).to_lowercase(),
        format: format!("{:?}", args.format).to_lowercase(),
        sanitize: !args.no_sanitize,
        users_file_sha256: hex::encode(Sha256::digest(text.as_bytes())),
    };
    let case = args.out_dir.clone();
    let manifest_path = case.join(MANIFEST);
    let mut manifest = if manifest_path.exists() {
        if !args.resume {
            return Err(AppError::Usage(format!(
                "{} already holds a case: pass --resume to continue it, or choose another --out-dir",
                case.display()
            )));
        }
        let manifest = CaseManifest::read(&manifest_path)?;
        refuse_changed_parameters(&manifest.parameters, &parameters)?;
        // The range stays the one the case started with, so every resume pulls the same snapshot.
        query.filter.start = manifest.parameters.resolved_start;
        query.filter.end = manifest.parameters.resolved_end;
        manifest
    } else {
        let non_empty = std::fs::read_dir(&case)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if non_empty {
            return Err(AppError::Usage(format!(
                "{} exists and is not a case folder: choose another --out-dir",
                case.display()
            )));
        }
        std::fs::create_dir_all(&case).map_err(|e| OutputError::io("cannot create", &case, e))?;
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        CaseManifest {
            tool: "o365-activities".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            started_at: now.clone(),
            updated_at: now,
            parameters,
            mailboxes: users
                .users
                .iter()
                .map(|upn| pending_entry(&case, upn))
                .collect(),
            files: Vec::new(),
        }
    };
    manifest.write(&manifest_path)?;

    let show_bars = !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (stop_tx, stop_rx) = watch::channel(false);
    let context = Arc::new(CaseRun {
        case: case.clone(),
        query,
        client,
        sleeper,
        format: args.format,
        sanitize: !args.no_sanitize,
        crash: Arc::new(CrashPoints::new(args.crash_at)),
        stop: stop_rx,
        records: AtomicU64::new(0),
        throttle_waits: AtomicU64::new(0),
        quiet,
    });
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

    let permits = Arc::new(Semaphore::new(args.concurrency as usize));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, entry) in manifest.mailboxes.iter().cloned().enumerate() {
        let context = Arc::clone(&context);
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
    let mut ticker = tokio::time::interval(Duration::from_secs(10));
    let mut done = 0usize;
    let mut last_written = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = &mut interrupt, if !interrupted => {
                interrupted = true;
                let _ = stop_tx.send(true);
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
                    manifest.write(&manifest_path)?;
                    last_written = std::time::Instant::now();
                }
                if let Some(bar) = &overall {
                    bar.set_position(done as u64);
                    bar.set_message(totals(&context));
                }
            }
            _ = ticker.tick(), if !quiet && !show_bars => {
                eprintln!("progress: {done}/{} mailboxes finished, {}", manifest.mailboxes.len(), totals(&context));
            }
        }
    }
    if let Some(bar) = &overall {
        bar.finish_and_clear();
    }
    if interrupted {
        manifest.updated_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        manifest.write(&manifest_path)?;
        return Err(AppError::Interrupted);
    }
    finish_case(&context, &mut manifest, &manifest_path)?;
    report(&manifest, &case)
}

fn totals(context: &CaseRun) -> String {
    format!(
        "{} records, {} throttle waits",
        context.records.load(Ordering::Relaxed),
        context.throttle_waits.load(Ordering::Relaxed)
    )
}

fn pending_entry(case: &Path, upn: &str) -> MailboxEntry {
    MailboxEntry {
        mailbox: upn.to_string(),
        folder: relative(case, &MailboxPaths::new(case, upn).folder),
        status: MailboxStatus::Pending,
        reason: None,
        counters: PullCounters::default(),
        files: Vec::new(),
        set_aside: Vec::new(),
    }
}

fn refuse_changed_parameters(started: &RunParameters, now: &RunParameters) -> Result<(), AppError> {
    let mut changed = Vec::new();
    let mut check = |name: &str, same: bool| {
        if !same {
            changed.push(name.to_string());
        }
    };
    check("--base-url", started.base_url == now.base_url);
    check("--api-version", started.api_version == now.api_version);
    check("--start", started.start == now.start);
    check("--end", started.end == now.end);
    check("--types", started.types == now.types);
    check("--app-types", started.app_types == now.app_types);
    check("--select", started.select == now.select);
    check("--page-size", started.page_size == now.page_size);
    check("--paging", started.paging == now.paging);
    check("--format", started.format == now.format);
    check("--no-sanitize", started.sanitize == now.sanitize);
    check(
        "--users (the file's content)",
        started.users_file_sha256 == now.users_file_sha256,
    );
    if changed.is_empty() {
        Ok(())
    } else {
        Err(AppError::Usage(format!(
            "cannot resume: this case was started with different {}; resume with the same values, or start a new case in another --out-dir",
            changed.join(", ")
        )))
    }
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
            ProgressStyle::with_template("  {spinner} {msg}")
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

/// Writes summary.csv and timeline.csv and records them in the manifest.
fn finish_case(
    context: &CaseRun,
    manifest: &mut CaseManifest,
    manifest_path: &Path,
) -> Result<(), AppError> {
    remove_stale_temporaries(&context.case)?;
    let summary_path = context.case.join(SUMMARY);
    let temporary = OutputPlan::temporary(&summary_path);
    let file =
        File::create(&temporary).map_err(|e| OutputError::io("cannot create", &temporary, e))?;
    let mut hashing = HashingWriter::new(BufWriter::new(file));
    {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut hashing);
        let header = [
            "Mailbox",
            "Status",
            "Reason",
            "Records",
            "Pages",
            "Requests",
            "Retries",
            "ThrottleWaits",
            "ThrottleWaitSeconds",
            "EvidenceSha256",
            "CsvSha256",
        ];
        let write = |w: &mut csv::Writer<_>, row: &[String]| {
            w.write_record(row)
                .map_err(|e| OutputError::io("cannot write", &temporary, e.into()))
        };
        write(&mut writer, &header.map(String::from))?;
        for m in &manifest.mailboxes {
            let sha = |suffix: &str| {
                m.files
                    .iter()
                    .find(|f| f.path.ends_with(suffix))
                    .map(|f| f.sha256.clone())
                    .unwrap_or_default()
            };
            write(
                &mut writer,
                &[
                    m.mailbox.clone(),
                    m.status.as_str().into(),
                    m.reason.clone().unwrap_or_default(),
                    m.counters.records.to_string(),
                    m.counters.pages.to_string(),
                    m.counters.requests.to_string(),
                    m.counters.retries.to_string(),
                    m.counters.throttle_waits.to_string(),
                    format!("{:.3}", m.counters.throttle_wait_seconds),
                    sha(".jsonl"),
                    sha(".csv"),
                ],
            )?;
        }
        writer
            .flush()
            .map_err(|e| OutputError::io("cannot write", &temporary, e))?;
    }
    let (buffered, summary_sha, summary_bytes) = hashing.finish();
    buffered
        .into_inner()
        .map_err(|e| OutputError::io("cannot write", &temporary, e.into_error()))?;
    commit(&temporary, &summary_path)?;

    // Each complete mailbox's CSV was derived from its whole evidence, so together their
    // headers name every column of the timeline (which checks this as it goes).
    let (evidence, mailbox_csvs): (Vec<(String, PathBuf)>, Vec<PathBuf>) = manifest
        .mailboxes
        .iter()
        .filter(|m| m.status == MailboxStatus::Complete)
        .map(|m| {
            let paths = MailboxPaths::new(&context.case, &m.mailbox);
            ((m.mailbox.clone(), paths.evidence), paths.csv)
        })
        .unzip();
    let timeline_path = context.case.join(TIMELINE);
    let (timeline_sha, timeline_bytes) = write_timeline(
        &evidence,
        union_of_headers(&mailbox_csvs),
        &timeline_path,
        &context.case,
        context.sanitize,
    )?;
    manifest.files = vec![
        CaseFile {
            path: SUMMARY.into(),
            sha256: summary_sha,
            bytes: summary_bytes,
        },
        CaseFile {
            path: TIMELINE.into(),
            sha256: timeline_sha,
            bytes: timeline_bytes,
        },
    ];
    manifest.updated_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    manifest.write(manifest_path)?;
    Ok(())
}

/// The final summary table (also under --quiet), and the exit status.
fn report(manifest: &CaseManifest, case: &Path) -> Result<(), AppError> {
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for m in &manifest.mailboxes {
        *by_status.entry(m.status.as_str()).or_default() += 1;
    }
    let records: u64 = manifest.mailboxes.iter().map(|m| m.counters.records).sum();
    let not_complete: Vec<&MailboxEntry> = manifest
        .mailboxes
        .iter()
        .filter(|m| m.status != MailboxStatus::Complete)
        .collect();
    let width = not_complete
        .iter()
        .map(|m| m.mailbox.len())
        .max()
        .unwrap_or(0);
    for m in &not_complete {
        eprintln!(
            "{:<10} {:<width$}  {}",
            m.status.as_str(),
            m.mailbox,
            m.reason.as_deref().unwrap_or("")
        );
    }
    let counts: Vec<String> = by_status.iter().map(|(s, n)| format!("{n} {s}")).collect();
    eprintln!(
        "case {}: {} mailboxes ({}), {records} records; manifest {}",
        case.display(),
        manifest.mailboxes.len(),
        counts.join(", "),
        case.join(MANIFEST).display()
    );
    if not_complete.is_empty() {
        Ok(())
    } else {
        Err(AppError::Incomplete(format!(
            "{} of {} mailboxes are not complete (listed above); fix the cause and run again with --resume",
            not_complete.len(),
            manifest.mailboxes.len()
        )))
    }
}
