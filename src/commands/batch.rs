//! `batch`: every mailbox of a user list into one case folder, concurrently and resumably.
//!
//! Each mailbox appends its records to `activities.jsonl.partial` (a page at a time when walked
//! sequentially, a finished time window at a time when windowed) and, once they are on disk
//! (fsync), records in `checkpoint.json` the instant before which everything is written. A
//! resumed run truncates the partial file to the checkpoint and continues from that instant, so
//! the result equals an uninterrupted run byte for byte. Complete mailboxes are verified against
//! the manifest and skipped.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use tokio::sync::{watch, Semaphore};

use crate::case::{
    read_users, relative, CaseFile, CaseManifest, Checkpoint, CrashPoints, MailboxEntry,
    MailboxPaths, MailboxStatus, RunParameters, MANIFEST, SUMMARY, TIMELINE,
};
use crate::cli::{BatchArgs, PagingMode};
use crate::commands::pull::AnyPager;
use crate::commands::timeline::{union_of_headers, write_timeline};
use crate::config::{client_options, QueryConfig};
use crate::error::AppError;
use crate::http::{ActivitiesClient, ClientOptions, Refusal, TokioSleeper};
use crate::output::{
    commit, hash_file, jsonl_line, CsvBuilder, CsvOptions, FileDigest, HashingWriter, OutputError,
    OutputFormat, OutputPlan, PullCounters,
};
use crate::paging::{fetch_windows, Handover, Pager, SpoolReader};
use crate::record::PageReading;

/// Everything the mailbox tasks share.
struct Context {
    case: PathBuf,
    query: QueryConfig,
    client: ClientOptions,
    format: OutputFormat,
    sanitize: bool,
    crash: CrashPoints,
    stop: watch::Receiver<bool>,
    records: AtomicU64,
    throttle_waits: AtomicU64,
    /// Mailboxes being completed (hashed, CSV derived) at once.
    completions: Semaphore,
    bars: Option<MultiProgress>,
    quiet: bool,
}

pub async fn run(
    args: &BatchArgs,
    quiet: bool,
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
    let context = Arc::new(Context {
        case: case.clone(),
        query,
        client,
        format: args.format,
        sanitize: !args.no_sanitize,
        crash: CrashPoints::new(args.crash_at),
        stop: stop_rx,
        records: AtomicU64::new(0),
        throttle_waits: AtomicU64::new(0),
        completions: Semaphore::new(
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
        ),
        bars: show_bars.then(MultiProgress::new),
        quiet,
    });
    let overall = context.bars.as_ref().map(|bars| {
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
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (index, pull_mailbox(&context, entry).await)
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

fn totals(context: &Context) -> String {
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

/// Why a mailbox stopped early.
struct Stopped {
    status: MailboxStatus,
    reason: String,
}

impl From<AppError> for Stopped {
    fn from(error: AppError) -> Self {
        let status = match &error {
            AppError::Interrupted
            | AppError::GaveUp(_)
            | AppError::Refused(Refusal::Unauthorized { .. }) => MailboxStatus::Incomplete,
            _ => MailboxStatus::Failed,
        };
        let reason = match &error {
            AppError::Refused(Refusal::Unauthorized { reason }) => format!(
                "token expired or rejected (401: {reason}); run again with --resume and a fresh token"
            ),
            AppError::Interrupted => "interrupted; run again with --resume".to_string(),
            other => other.to_string(),
        };
        Stopped { status, reason }
    }
}

impl From<OutputError> for Stopped {
    fn from(error: OutputError) -> Self {
        Stopped {
            status: MailboxStatus::Failed,
            reason: error.to_string(),
        }
    }
}

async fn pull_mailbox(context: &Arc<Context>, previous: MailboxEntry) -> MailboxEntry {
    if previous.status == MailboxStatus::Complete {
        return recheck_complete(context, previous);
    }
    let paths = MailboxPaths::new(&context.case, &previous.mailbox);
    let bar = context.bars.as_ref().map(|bars| {
        let bar = bars.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("  {spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(previous.mailbox.clone());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    if bar.is_none() && !context.quiet {
        eprintln!("start {}", previous.mailbox);
    }
    let mut entry = previous.clone();
    let mut checkpoint = Checkpoint::default();
    let outcome = fetch_mailbox(
        context,
        &previous.mailbox,
        &paths,
        &mut checkpoint,
        bar.as_ref(),
    )
    .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    entry.counters = checkpoint.counters.clone();
    let completed = match outcome {
        // Hashing and deriving the CSV take milliseconds of CPU: off the async workers, so
        // the other mailboxes' requests and responses are not held up meanwhile.
        Ok(()) => {
            // As many at once as there are cores: more would only hold more buffers.
            let _core = context.completions.acquire().await;
            let context = Arc::clone(context);
            tokio::task::spawn_blocking(move || complete_mailbox(&context, &paths))
                .await
                .unwrap_or_else(|e| {
                    Err(Stopped::from(AppError::Other(format!(
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
            entry.status = stopped.status;
            entry.reason = Some(stopped.reason);
            entry.files = Vec::new();
        }
    }
    entry
}

/// A mailbox completed by an earlier run: skipped if its files still match, reported if not.
fn recheck_complete(context: &Context, mut entry: MailboxEntry) -> MailboxEntry {
    for file in &entry.files {
        let path = context.case.join(&file.path);
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

/// Pulls into the partial evidence file, checkpointing after every page.
async fn fetch_mailbox(
    context: &Context,
    upn: &str,
    paths: &MailboxPaths,
    checkpoint: &mut Checkpoint,
    bar: Option<&ProgressBar>,
) -> Result<(), Stopped> {
    std::fs::create_dir_all(&paths.folder)
        .map_err(|e| OutputError::io("cannot create", &paths.folder, e))?;
    remove_stale_temporaries(&paths.folder)?;
    let resumable = context.query.paging == PagingMode::Keyset && paths.partial.exists();
    if resumable {
        if let Some(saved) = Checkpoint::load(&paths.checkpoint)? {
            *checkpoint = saved;
        }
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&paths.partial)
        .map_err(|e| OutputError::io("cannot open", &paths.partial, e))?;
    // Whatever follows the checkpoint was written by a run that did not get to record it.
    file.set_len(checkpoint.bytes)
        .map_err(|e| OutputError::io("cannot truncate", &paths.partial, e))?;
    let mut writer = BufWriter::with_capacity(256 * 1024, file);
    writer
        .seek(SeekFrom::End(0))
        .map_err(|e| OutputError::io("cannot seek", &paths.partial, e))?;

    let mut options = context.client.clone();
    options.user = upn.to_string();
    let client = ActivitiesClient::new(options, Arc::new(TokioSleeper)).map_err(AppError::from)?;
    let mut pager = AnyPager::new(&client, &context.query).map_err(AppError::from)?;
    if let AnyPager::Keyset(keyset) = pager {
        pager = AnyPager::Keyset(keyset.resume_from(checkpoint.bound));
    }
    let before = checkpoint.clone();
    let mut stop = context.stop.clone();
    if context.query.paging == PagingMode::Keyset && context.query.mailbox_concurrency > 1 {
        let fetched =
            fetch_windowed(context, paths, &client, checkpoint, &mut writer, &mut stop).await;
        count_requests(checkpoint, &before, &client, fetched.1);
        context.throttle_waits.fetch_add(
            checkpoint.counters.throttle_waits - before.counters.throttle_waits,
            Ordering::Relaxed,
        );
        return fetched.0;
    }
    loop {
        let batch = tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => Err(AppError::Interrupted),
            batch = pager.next_batch() => batch.map_err(AppError::from),
        };
        count_requests(checkpoint, &before, &client, pager.progress().pages);
        let Some(records) = batch? else { break };
        let half = records.len() / 2;
        for (i, record) in records.iter().enumerate() {
            let line = jsonl_line(record);
            let written = writer
                .write_all(line.as_bytes())
                .and_then(|()| writer.write_all(b"\n"));
            written.map_err(|e| OutputError::io("cannot write", &paths.partial, e))?;
            checkpoint.bytes += line.len() as u64 + 1;
            if i + 1 == half {
                let _ = writer.flush();
                context.crash.point("half a page written");
            }
        }
        writer
            .flush()
            .map_err(|e| OutputError::io("cannot write", &paths.partial, e))?;
        writer
            .get_ref()
            .sync_data()
            .map_err(|e| OutputError::io("cannot flush", &paths.partial, e))?;
        context
            .crash
            .point("page on disk, checkpoint not yet updated");
        checkpoint.counters.records += records.len() as u64;
        checkpoint.bound = pager.checkpoint_bound();
        checkpoint.save(&paths.checkpoint, &context.crash)?;
        context
            .records
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        if let Some(bar) = bar {
            let reached = pager
                .progress()
                .reached
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_default();
            bar.set_message(format!(
                "{upn}: {} records, reached {reached}",
                checkpoint.counters.records
            ));
        }
    }
    context.throttle_waits.fetch_add(
        checkpoint.counters.throttle_waits - before.counters.throttle_waits,
        Ordering::Relaxed,
    );
    writer
        .flush()
        .map_err(|e| OutputError::io("cannot write", &paths.partial, e))?;
    Ok(())
}

/// Adds this run's requests, retries, waits and pages to those of earlier runs.
fn count_requests(
    checkpoint: &mut Checkpoint,
    before: &Checkpoint,
    client: &ActivitiesClient,
    pages: u64,
) {
    checkpoint.counters = PullCounters {
        records: checkpoint.counters.records,
        ..PullCounters::after_run(&before.counters, client.stats(), pages)
    };
}

/// Pulls a mailbox through concurrent time windows. Each window, once it and every earlier
/// one are finished, is appended to the partial evidence and checkpointed at the start of the
/// next window; a resumed run starts its windows there. Returns the outcome and the pages read.
async fn fetch_windowed(
    context: &Context,
    paths: &MailboxPaths,
    client: &ActivitiesClient,
    checkpoint: &mut Checkpoint,
    writer: &mut BufWriter<File>,
    stop: &mut watch::Receiver<bool>,
) -> (Result<(), Stopped>, u64) {
    let mut filter = context.query.filter.clone();
    if let Some(bound) = checkpoint.bound {
        filter.start = Some(filter.start.map_or(bound, |start| start.max(bound)));
    }
    // Everything up to the frozen end is written once the last window is: resume past it.
    let past_end = filter.end + chrono::Duration::milliseconds(1);
    let mut appender = PartialAppender {
        context,
        paths,
        writer,
        checkpoint,
        past_end,
        bytes: 0,
        records: 0,
    };
    let mut append = |handover: Handover<'_>| appender.take(handover);
    let report = fetch_windows(
        client,
        &filter,
        context.query.select.as_deref(),
        context.query.page_size,
        context.query.mailbox_concurrency,
        &paths.folder,
        ".activities",
        // The evidence is written as it comes; the CSV is derived from it later.
        PageReading::Keys,
        async {
            let _ = stop.wait_for(|stopped| *stopped).await;
        },
        false,
        &mut append,
    )
    .await;
    let outcome = match report.error {
        Some(error) => Err(Stopped::from(AppError::from(error))),
        None => Ok(()),
    };
    (outcome, report.pages)
}

/// Appends what the windows hand over to a mailbox's partial evidence, and checkpoints at the
/// end of each window.
struct PartialAppender<'a> {
    context: &'a Context,
    paths: &'a MailboxPaths,
    writer: &'a mut BufWriter<File>,
    checkpoint: &'a mut Checkpoint,
    /// Where a resumed run starts once the last window is written.
    past_end: chrono::DateTime<Utc>,
    /// Appended since the last checkpoint: a crash part-way leaves bytes the checkpoint
    /// ignores, which a resumed run truncates.
    bytes: u64,
    records: u64,
}

impl PartialAppender<'_> {
    fn take(&mut self, handover: Handover<'_>) -> Result<(), crate::paging::PagingError> {
        let failed = |e: std::io::Error| crate::paging::PagingError::Output {
            what: self.paths.partial.display().to_string(),
            source: e,
        };
        match handover {
            Handover::Records(batch) => {
                for record in &batch {
                    self.append_line(jsonl_line(record).as_bytes(), b"\n")
                        .map_err(failed)?;
                }
                Ok(())
            }
            Handover::Spool(spool) => {
                let copied = copy_lines(spool, |line| self.append_line(line, b"\n"));
                let _ = std::fs::remove_file(spool);
                copied.map_err(failed)
            }
            Handover::Finished(following) => self.checkpoint_window(following).map_err(failed),
        }
    }

    fn append_line(&mut self, text: &[u8], line_break: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(text)?;
        self.writer.write_all(line_break)?;
        self.bytes += (text.len() + line_break.len()) as u64;
        self.records += 1;
        if self.records == 50 {
            let _ = self.writer.flush();
            self.context.crash.point("part of a window written");
        }
        Ok(())
    }

    /// A window is wholly appended: on disk, then checkpointed at the start of the next.
    fn checkpoint_window(
        &mut self,
        following: Option<chrono::DateTime<Utc>>,
    ) -> std::io::Result<()> {
        self.writer.flush()?;
        self.writer.get_ref().sync_data()?;
        self.context
            .crash
            .point("window on disk, checkpoint not yet updated");
        let checkpoint = &mut *self.checkpoint;
        checkpoint.bytes += self.bytes;
        checkpoint.counters.records += self.records;
        checkpoint.bound = Some(following.unwrap_or(self.past_end));
        checkpoint
            .save(&self.paths.checkpoint, &self.context.crash)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        self.context
            .records
            .fetch_add(self.records, Ordering::Relaxed);
        (self.bytes, self.records) = (0, 0);
        Ok(())
    }
}

/// Hands the text of each record of a window spool (without its line break) to `append`.
fn copy_lines(
    spool: &Path,
    mut append: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut reader = SpoolReader::open(spool)?;
    while let Some(record) = reader.next_record()? {
        append(record.line.as_bytes())?;
    }
    Ok(())
}

/// Removes the hidden temporary files a crashed run left behind (never anything else).
fn remove_stale_temporaries(folder: &Path) -> Result<(), OutputError> {
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

/// Finishes a mailbox whose pull ended: evidence into place, CSV derived, files hashed.
fn complete_mailbox(context: &Context, paths: &MailboxPaths) -> Result<Vec<CaseFile>, Stopped> {
    let file = File::open(&paths.partial)
        .map_err(|e| OutputError::io("cannot open", &paths.partial, e))?;
    file.sync_all()
        .map_err(|e| OutputError::io("cannot flush", &paths.partial, e))?;
    drop(file);
    std::fs::rename(&paths.partial, &paths.evidence)
        .map_err(|e| OutputError::io("cannot rename into", &paths.evidence, e))?;
    let _ = std::fs::remove_file(&paths.checkpoint);
    // With a CSV, the evidence is hashed in the same read that derives the CSV from it.
    let (evidence, csv) = if context.format == OutputFormat::Csv {
        let (evidence, csv) = csv_from_evidence(&paths.evidence, &paths.csv, context.sanitize)?;
        (evidence, Some(csv))
    } else {
        (hash_file(&paths.evidence)?, None)
    };
    let mut files = vec![CaseFile {
        path: relative(&context.case, &paths.evidence),
        sha256: evidence.sha256,
        bytes: evidence.bytes,
    }];
    if let Some(csv) = csv {
        files.push(CaseFile {
            path: relative(&context.case, &csv.path),
            sha256: csv.sha256,
            bytes: csv.bytes,
        });
    }
    Ok(files)
}

/// Derives a CSV from a JSON Lines evidence file in one read that also hashes the evidence;
/// returns the digests of the evidence and of the CSV.
pub fn csv_from_evidence(
    evidence: &Path,
    csv_path: &Path,
    sanitize: bool,
) -> Result<(FileDigest, FileDigest), OutputError> {
    let spool = OutputPlan::temporary(csv_path).with_extension("cells");
    let mut csv = CsvBuilder::create(spool.clone())
        .map_err(|e| OutputError::io("cannot create", &spool, e))?;
    let mut reader = BufReader::with_capacity(
        256 * 1024,
        File::open(evidence).map_err(|e| OutputError::io("cannot open", evidence, e))?,
    );
    let (mut hasher, mut evidence_bytes) = (Sha256::new(), 0u64);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| OutputError::io("cannot read", evidence, e))?;
        if read == 0 {
            break;
        }
        hasher.update(&line);
        evidence_bytes += read as u64;
        let text = std::str::from_utf8(&line).map_err(|e| {
            let invalid = std::io::Error::new(std::io::ErrorKind::InvalidData, e);
            OutputError::io("cannot read", evidence, invalid)
        })?;
        let text = text.strip_suffix('\n').unwrap_or(text);
        csv.add(text.strip_suffix('\r').unwrap_or(text))
            .map_err(|e| OutputError::io("cannot flatten a record of", evidence, e))?;
    }
    let temporary = OutputPlan::temporary(csv_path);
    let (sha256, bytes) = csv.write_csv_file(&temporary, CsvOptions { sanitize })?;
    commit(&temporary, csv_path)?;
    Ok((
        FileDigest {
            path: evidence.to_path_buf(),
            sha256: hex::encode(hasher.finalize()),
            bytes: evidence_bytes,
        },
        FileDigest {
            path: csv_path.to_path_buf(),
            sha256,
            bytes,
        },
    ))
}

/// Writes summary.csv and timeline.csv and records them in the manifest.
fn finish_case(
    context: &Context,
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
