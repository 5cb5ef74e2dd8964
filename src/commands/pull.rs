//! `pull`: one mailbox into JSON Lines (and CSV), with a manifest.

use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::cli::PagingMode;
use crate::config::{spool_path, Destination, PullConfig, QueryConfig};
use crate::error::AppError;
use crate::http::{ActivitiesClient, RequestStats, Sleeper};
use crate::odata::PageQuery;
use crate::output::{
    commit, CsvBuilder, CsvOptions, JsonlWriter, Manifest, ManifestFile, ManifestQuery,
    OutputError, OutputFormat, OutputPlan, PullCounters, PullStatus,
};
use crate::paging::{
    fetch_windows, newest_activity_query, Handover, KeysetPager, Pager, PagerProgress, PagingError,
    SkipPager, SpoolReader,
};
use crate::progress::PullProgress;
use crate::record::{Activity, PageReading};

/// What a finished pull wrote.
#[derive(Debug, Clone)]
pub struct PullSummary {
    pub records: u64,
    pub files: Vec<ManifestFile>,
    pub manifest: Option<PathBuf>,
}

/// Either pager, chosen by `--paging`.
pub enum AnyPager<'a> {
    Keyset(KeysetPager<'a>),
    Skip(SkipPager<'a>),
}

impl<'a> AnyPager<'a> {
    pub fn new(client: &'a ActivitiesClient, query: &'a QueryConfig) -> Result<Self, PagingError> {
        Ok(match query.paging {
            PagingMode::Keyset => AnyPager::Keyset(KeysetPager::new(
                client,
                &query.filter,
                query.select.as_deref(),
                query.page_size,
            )),
            PagingMode::Skip => AnyPager::Skip(SkipPager::new(
                client,
                &query.filter,
                query.select.as_deref(),
                query.page_size,
                spool_path("skip"),
            )?),
        })
    }

    pub fn first_query(&self) -> PageQuery<'_> {
        match self {
            AnyPager::Keyset(p) => p.first_query(),
            AnyPager::Skip(p) => p.first_query(),
        }
    }

    /// A durable resume position: keyset paging has one after every batch, skip paging none.
    pub fn checkpoint_bound(&self) -> Option<chrono::DateTime<Utc>> {
        match self {
            AnyPager::Keyset(p) => p.bound(),
            AnyPager::Skip(_) => None,
        }
    }
}

impl Pager for AnyPager<'_> {
    async fn next_batch(&mut self) -> Result<Option<Vec<Activity>>, PagingError> {
        match self {
            AnyPager::Keyset(p) => p.next_batch().await,
            AnyPager::Skip(p) => p.next_batch().await,
        }
    }

    fn progress(&self) -> PagerProgress {
        match self {
            AnyPager::Keyset(p) => p.progress(),
            AnyPager::Skip(p) => p.progress(),
        }
    }
}

/// How a pull walks the mailbox: one pager, or concurrent time windows (keyset paging with
/// `--mailbox-concurrency` above 1).
pub enum Fetch<'a> {
    Sequential(Box<AnyPager<'a>>),
    Windows {
        client: &'a ActivitiesClient,
        query: &'a QueryConfig,
        spool_dir: PathBuf,
        spool_prefix: String,
        pages: u64,
    },
}

impl<'a> Fetch<'a> {
    pub fn new(
        client: &'a ActivitiesClient,
        query: &'a QueryConfig,
        spool_dir: PathBuf,
        spool_prefix: String,
    ) -> Result<Self, AppError> {
        if query.paging == PagingMode::Keyset && query.mailbox_concurrency > 1 {
            return Ok(Fetch::Windows {
                client,
                query,
                spool_dir,
                spool_prefix,
                pages: 0,
            });
        }
        Ok(Fetch::Sequential(Box::new(AnyPager::new(client, query)?)))
    }

    fn pages(&self) -> u64 {
        match self {
            Fetch::Sequential(pager) => pager.progress().pages,
            Fetch::Windows { pages, .. } => *pages,
        }
    }

    /// The first request (`describe`: as `--dry-run` prints it; otherwise its URL).
    fn first_request(&self, client: &ActivitiesClient, describe: bool) -> String {
        let show = |query: &PageQuery<'_>| {
            if describe {
                client.describe_request(query)
            } else {
                client.url_for(query)
            }
        };
        match self {
            Fetch::Sequential(pager) => show(&pager.first_query()),
            Fetch::Windows { client, query, .. } => {
                let first = show(
                    &KeysetPager::new(
                        client,
                        &query.filter,
                        query.select.as_deref(),
                        query.page_size,
                    )
                    .first_query(),
                );
                if !describe {
                    return first;
                }
                let newest = client.url_for(&newest_activity_query(&query.filter));
                format!(
                    "{first}Beside it, the newest activity, to place the time windows:\nGET {newest}\n"
                )
            }
        }
    }
}

/// Runs a pull to its end, or until `interrupt` resolves.
pub async fn run(
    config: &PullConfig,
    sleeper: Arc<dyn Sleeper>,
    interrupt: impl Future<Output = ()>,
) -> Result<PullSummary, AppError> {
    let client = ActivitiesClient::new(config.client.clone(), sleeper)?;
    let (spool_dir, spool_prefix) = match &config.destination {
        Destination::Files(plan) => {
            let hidden = OutputPlan::temporary(&plan.primary);
            let prefix = hidden
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                hidden.parent().map(Path::to_path_buf).unwrap_or_default(),
                prefix,
            )
        }
        Destination::Stdout(_) => (
            std::env::temp_dir(),
            format!("o365-activities-{}", std::process::id()),
        ),
    };
    let mut pager = Fetch::new(&client, &config.query, spool_dir, spool_prefix)?;
    if config.dry_run {
        print!("{}", pager.first_request(&client, true));
        return Ok(PullSummary {
            records: 0,
            files: vec![],
            manifest: None,
        });
    }
    let started = Utc::now();
    let first_request = pager.first_request(&client, false);
    let progress = PullProgress::new(config.show_progress);
    let mut interrupt = std::pin::pin!(interrupt);
    let summary = match &config.destination {
        Destination::Stdout(format) => {
            to_stdout(
                &mut pager,
                &client,
                *format,
                config.sanitize,
                &progress,
                &mut interrupt,
            )
            .await
        }
        Destination::Files(plan) => {
            let context = ManifestContext {
                config,
                started,
                first_request,
                stats: client.stats(),
            };
            to_files(&mut pager, plan, &context, &progress, &mut interrupt).await
        }
    };
    progress.finish();
    summary
}

/// The files a pull writes records into as they come: the evidence, and the CSV's cell spool.
struct Sinks<W: Write> {
    jsonl: JsonlWriter<W>,
    csv: Option<CsvBuilder>,
    /// Where they write, for an error to name (a full disk, say).
    destination: String,
}

impl<W: Write> Sinks<W> {
    /// The error of a failed write into the sinks.
    fn write_failed(&self, source: std::io::Error) -> PagingError {
        PagingError::Output {
            what: format!("the records into {}", self.destination),
            source,
        }
    }
}

/// Pulls every record into `sinks`, stopping early on `interrupt`; hands the sinks back with
/// how the fetch ended. What was fetched before a failure is written too (the caller marks the
/// result partial). An error instead of the sinks means nothing could be kept.
async fn fetch_into<W: Write + Send + 'static>(
    fetch: &mut Fetch<'_>,
    stats: &RequestStats,
    mut sinks: Sinks<W>,
    progress: &PullProgress,
    interrupt: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Result<(Sinks<W>, Result<(), AppError>), AppError> {
    // Records written straight into the CSV are flattened as their page is parsed.
    let reading = match &sinks.csv {
        Some(csv) => PageReading::KeysAndFrames(csv.shared_columns()),
        None => PageReading::Keys,
    };
    match fetch {
        Fetch::Sequential(pager) => {
            if let AnyPager::Keyset(keyset) = pager.as_mut() {
                keyset.read_pages_for(reading.clone());
            }
            let fetched = fetch_sequential(pager, stats, &mut sinks, progress, interrupt).await;
            Ok((sinks, fetched))
        }
        Fetch::Windows {
            client,
            query,
            spool_dir,
            spool_prefix,
            pages,
        } => {
            progress.message(&format!(
                "fetching up to {} time windows at once",
                query.mailbox_concurrency
            ));
            // What the windows hand over is written into the sinks on a thread of its own:
            // writing (hashing, flattening) takes long enough to hold up the requests in flight.
            let copier = WindowCopier::start(sinks)?;
            let report = fetch_windows(
                client,
                &query.filter,
                query.select.as_deref(),
                query.page_size,
                query.mailbox_concurrency,
                spool_dir,
                spool_prefix,
                reading,
                interrupt.as_mut(),
                true,
                &mut |handover| {
                    match handover {
                        Handover::Records(records) => {
                            copier.hand_over(Written::Records(records))?;
                        }
                        Handover::Spool(spool) => {
                            copier.hand_over(Written::Spool(spool.to_path_buf()))?;
                        }
                        Handover::Finished(following) => {
                            let reached = PagerProgress {
                                pages: 0,
                                reached: following,
                            };
                            progress.update(copier.records(), &reached, stats);
                        }
                    }
                    Ok(())
                },
            )
            .await;
            *pages = report.pages;
            let (sinks, copied) = copier.finish();
            // A copy that failed stopped the fetch: its error is the cause.
            let fetched = copied.and(match report.error {
                Some(error) => Err(error),
                None => Ok(()),
            });
            Ok((sinks, fetched.map_err(AppError::from)))
        }
    }
}

/// What the copier writes into the sinks: a head window's records, or a window's spool.
enum Written {
    Records(Vec<Activity>),
    Spool(PathBuf),
}

/// How many pages or spools may wait for the copier (a page is at most about 1 MB).
const COPIER_QUEUE: usize = 2;

/// Writes what the windows hand over, in that order, into the sinks on its own thread.
struct WindowCopier<W: Write> {
    queue: std::sync::mpsc::SyncSender<Written>,
    records: Arc<AtomicU64>,
    failed: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(Sinks<W>, Result<(), PagingError>)>,
    /// Where the sinks write, for the error of a hand-over refused after a failed write.
    destination: String,
}

impl<W: Write + Send + 'static> WindowCopier<W> {
    /// Starts the thread. Only a machine out of threads fails here, and the sinks go with it.
    fn start(mut sinks: Sinks<W>) -> Result<Self, AppError> {
        // Bounded: when writing falls behind, hand_over waits (the fetch with it) rather than
        // holding ever more pages in memory.
        let (queue, received) = std::sync::mpsc::sync_channel::<Written>(COPIER_QUEUE);
        let records = Arc::new(AtomicU64::new(sinks.jsonl.records()));
        let failed = Arc::new(AtomicBool::new(false));
        let (counted, failing) = (Arc::clone(&records), Arc::clone(&failed));
        let destination = sinks.destination.clone();
        let thread = std::thread::Builder::new()
            .name("window-copy".into())
            .spawn(move || {
                let mut result = Ok(());
                for written in received {
                    if result.is_ok() {
                        result = match &written {
                            Written::Records(records) => {
                                write_records(records, &mut sinks.jsonl, sinks.csv.as_mut())
                                    .map_err(|e| sinks.write_failed(e))
                            }
                            Written::Spool(spool) => copy_spool(spool, &mut sinks),
                        };
                        counted.store(sinks.jsonl.records(), Ordering::Relaxed);
                        failing.store(result.is_err(), Ordering::Relaxed);
                    }
                    if let Written::Spool(spool) = written {
                        let _ = std::fs::remove_file(&spool);
                    }
                }
                (sinks, result)
            })
            .map_err(|e| AppError::Other(format!("cannot start a thread to write windows: {e}")))?;
        Ok(WindowCopier {
            queue,
            records,
            failed,
            thread,
            destination,
        })
    }

    /// Queues records or a spool (the copier removes it), waiting while the queue is full;
    /// fails once a write has failed.
    fn hand_over(&self, written: Written) -> Result<(), PagingError> {
        let stopped = |written: Written| {
            if let Written::Spool(spool) = written {
                let _ = std::fs::remove_file(spool);
            }
            PagingError::Output {
                what: format!("the records into {}", self.destination),
                source: std::io::Error::other("writing an earlier window failed"),
            }
        };
        if self.failed.load(Ordering::Relaxed) {
            return Err(stopped(written));
        }
        self.queue.send(written).map_err(|unsent| stopped(unsent.0))
    }

    fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Waits for everything queued to be written; the sinks and the first write error.
    fn finish(self) -> (Sinks<W>, Result<(), PagingError>) {
        drop(self.queue);
        self.thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

/// Writes records into the evidence and the CSV's cell spool.
fn write_records<W: Write>(
    records: &[Activity],
    writer: &mut JsonlWriter<W>,
    mut csv: Option<&mut CsvBuilder>,
) -> std::io::Result<()> {
    for record in records {
        writer.write(record)?;
        if let Some(csv) = csv.as_deref_mut() {
            csv.add_activity(record)?;
        }
    }
    Ok(())
}

/// Appends one finished window's spool to the outputs: its text to the evidence, its CSV
/// frames (or its text, parsed now, where a record has none) to the CSV.
fn copy_spool<W: Write>(spool: &Path, sinks: &mut Sinks<W>) -> Result<(), PagingError> {
    let unreadable = |e: std::io::Error| PagingError::Spool {
        path: spool.display().to_string(),
        source: e,
    };
    let mut reader = SpoolReader::open(spool).map_err(unreadable)?;
    while let Some(record) = reader.next_record().map_err(unreadable)? {
        let written = sinks
            .jsonl
            .write_line(record.line)
            .and_then(|()| match sinks.csv.as_mut() {
                Some(csv) => csv.add_text_or_frame(record.line, record.frame),
                None => Ok(()),
            });
        written.map_err(|e| sinks.write_failed(e))?;
    }
    Ok(())
}

async fn fetch_sequential<W: Write>(
    pager: &mut AnyPager<'_>,
    stats: &RequestStats,
    sinks: &mut Sinks<W>,
    progress: &PullProgress,
    interrupt: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Result<(), AppError> {
    loop {
        let batch = tokio::select! {
            biased;
            _ = interrupt.as_mut() => return Err(AppError::Interrupted),
            batch = pager.next_batch() => batch?,
        };
        let Some(batch) = batch else { return Ok(()) };
        write_records(&batch, &mut sinks.jsonl, sinks.csv.as_mut())
            .map_err(|e| sinks.write_failed(e))?;
        progress.update(sinks.jsonl.records(), &pager.progress(), stats);
    }
}

async fn to_stdout(
    pager: &mut Fetch<'_>,
    client: &ActivitiesClient,
    format: OutputFormat,
    sanitize: bool,
    progress: &PullProgress,
    interrupt: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Result<PullSummary, AppError> {
    if format == OutputFormat::Jsonl {
        let sinks = Sinks {
            jsonl: JsonlWriter::new(std::io::stdout()),
            csv: None,
            destination: "standard output".into(),
        };
        let (sinks, fetched) =
            fetch_into(pager, client.stats(), sinks, progress, interrupt).await?;
        fetched?;
        let records = sinks.jsonl.records();
        sinks
            .jsonl
            .finish()
            .map_err(|e| AppError::Other(format!("cannot write to stdout: {e}")))?;
        report_empty(records);
        return Ok(PullSummary {
            records,
            files: vec![],
            manifest: None,
        });
    }
    // The CSV header needs every column first: cells are spooled, then written out.
    let spool = spool_path("stdout-csv");
    let csv = CsvBuilder::create(spool.clone())
        .map_err(|e| OutputError::io("cannot create", &spool, e))?;
    let sinks = Sinks {
        jsonl: JsonlWriter::new(std::io::sink()),
        csv: Some(csv),
        destination: format!("the CSV spool {}", spool.display()),
    };
    let (sinks, fetched) = fetch_into(pager, client.stats(), sinks, progress, interrupt).await?;
    fetched?;
    let Some(csv) = sinks.csv else {
        return Err(AppError::Other("the CSV spool was lost".into()));
    };
    let records = csv
        .write_csv(std::io::stdout(), CsvOptions { sanitize })
        .map_err(|e| AppError::Other(format!("cannot write CSV to stdout: {e}")))?;
    report_empty(records);
    Ok(PullSummary {
        records,
        files: vec![],
        manifest: None,
    })
}

struct ManifestContext<'a> {
    config: &'a PullConfig,
    started: DateTime<Utc>,
    first_request: String,
    stats: &'a RequestStats,
}

impl ManifestContext<'_> {
    fn manifest(
        &self,
        status: PullStatus,
        reason: Option<String>,
        records: u64,
        pages: u64,
        files: Vec<ManifestFile>,
    ) -> Manifest {
        let query = &self.config.query;
        let client = &self.config.client;
        let counters = PullCounters {
            records,
            ..PullCounters::after_run(&PullCounters::default(), self.stats, pages)
        };
        Manifest {
            tool: "o365-activities".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            started_at: self.started.to_rfc3339_opts(SecondsFormat::Millis, true),
            finished_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            status,
            reason,
            query: ManifestQuery {
                base_url: client.base_url.clone(),
                api_version: client.api_version.clone(),
                mailbox: client.user.clone(),
                filter: query.filter.expression(None),
                paging: format!("{:?}", query.paging).to_lowercase(),
                page_size: query.page_size,
                select: query.select.clone(),
                first_request: self.first_request.clone(),
            },
            counters,
            files,
        }
    }
}

async fn to_files(
    pager: &mut Fetch<'_>,
    plan: &OutputPlan,
    context: &ManifestContext<'_>,
    progress: &PullProgress,
    interrupt: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Result<PullSummary, AppError> {
    let temp_evidence = OutputPlan::temporary(&plan.evidence);
    let file = File::create(&temp_evidence)
        .map_err(|e| OutputError::io("cannot create", &temp_evidence, e))?;
    let csv = match plan.format {
        OutputFormat::Csv => {
            let spool = OutputPlan::temporary(&plan.primary).with_extension("cells");
            Some(
                CsvBuilder::create(spool.clone())
                    .map_err(|e| OutputError::io("cannot create", &spool, e))?,
            )
        }
        OutputFormat::Jsonl => None,
    };
    let destination = match &csv {
        Some(csv) => format!(
            "{} and {}",
            temp_evidence.display(),
            csv.spool_path().display()
        ),
        None => temp_evidence.display().to_string(),
    };
    let sinks = Sinks {
        jsonl: JsonlWriter::new(file),
        csv,
        destination,
    };
    let (Sinks { jsonl, csv, .. }, fetched) =
        fetch_into(pager, context.stats, sinks, progress, interrupt).await?;
    let records = jsonl.records();
    let pages = pager.pages();
    let (evidence_file, evidence_sha, evidence_bytes) = jsonl
        .finish()
        .map_err(|e| OutputError::io("cannot write", &temp_evidence, e))?;

    if let Err(error) = fetched {
        let kept = OutputPlan::partial(&plan.evidence);
        std::fs::rename(&temp_evidence, &kept)
            .map_err(|e| OutputError::io("cannot keep the partial result as", &kept, e))?;
        let files = vec![manifest_file(
            &kept,
            "evidence (partial)",
            evidence_sha,
            evidence_bytes,
        )];
        let manifest = context.manifest(
            PullStatus::Incomplete,
            Some(error.to_string()),
            records,
            pages,
            files,
        );
        manifest.write(&plan.partial_manifest())?;
        return Err(AppError::Partial {
            error: Box::new(error),
            kept: format!(
                "{} ({records} records; manifest {})",
                kept.display(),
                plan.partial_manifest().display()
            ),
        });
    }

    let mut files = vec![manifest_file(
        &plan.evidence,
        "evidence",
        evidence_sha,
        evidence_bytes,
    )];
    let mut temporaries = vec![(temp_evidence.clone(), plan.evidence.clone())];
    if let Some(csv) = csv {
        let temp_csv = OutputPlan::temporary(&plan.primary);
        let options = CsvOptions {
            sanitize: context.config.sanitize,
        };
        let (sha, bytes) = std::thread::scope(|scope| {
            // The evidence is complete: it goes to disk while the CSV is written. Should this
            // fail, or the thread not start, `commit` flushes it again and reports the error.
            let _ = std::thread::Builder::new()
                .name("evidence-flush".into())
                .spawn_scoped(scope, || evidence_file.sync_all());
            csv.write_csv_file(&temp_csv, options)
        })?;
        files.push(manifest_file(&plan.primary, "csv", sha, bytes));
        temporaries.push((temp_csv, plan.primary.clone()));
    }
    // An old manifest must never describe the new files, even for a moment.
    if plan.manifest.exists() {
        std::fs::remove_file(&plan.manifest)
            .map_err(|e| OutputError::io("cannot replace", &plan.manifest, e))?;
    }
    for (temporary, final_path) in &temporaries {
        commit(temporary, final_path)?;
    }
    context
        .manifest(PullStatus::Complete, None, records, pages, files.clone())
        .write(&plan.manifest)?;
    report_empty(records);
    Ok(PullSummary {
        records,
        files,
        manifest: Some(plan.manifest.clone()),
    })
}

fn manifest_file(path: &Path, role: &str, sha256: String, bytes: u64) -> ManifestFile {
    ManifestFile {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        role: role.to_string(),
        sha256,
        bytes,
    }
}

fn report_empty(records: u64) {
    if records == 0 {
        tracing::warn!("no activities matched the query: the result is empty (not an error)");
    }
}

/// The closing lines on stderr: what was written, where, and its hashes.
pub fn print_summary(summary: &PullSummary) {
    let Some(manifest) = &summary.manifest else {
        return;
    };
    eprintln!("pulled {} activities", summary.records);
    let folder = manifest.parent().unwrap_or(Path::new("."));
    for file in &summary.files {
        eprintln!(
            "  {}  {} ({} bytes, {})",
            file.sha256,
            folder.join(&file.name).display(),
            file.bytes,
            file.role
        );
    }
    eprintln!("  manifest: {}", manifest.display());
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::paging::SpoolWriter;

    fn sinks() -> Sinks<Vec<u8>> {
        Sinks {
            jsonl: JsonlWriter::new(Vec::new()),
            csv: None,
            destination: "a test buffer".into(),
        }
    }

    /// A window spool of records with these Ids.
    fn spool(dir: &Path, name: &str, ids: &[&str]) -> PathBuf {
        let path = dir.join(name);
        let mut spool = SpoolWriter::create(&path).unwrap();
        for id in ids {
            let record = Activity::from_json(&format!("{{\"Id\":\"{id}\"}}")).unwrap();
            spool.append(&record).unwrap();
        }
        spool.flush().unwrap();
        path
    }

    #[test]
    fn the_copier_writes_records_and_windows_in_order_and_removes_the_spools() {
        let dir = tempfile::tempdir().unwrap();
        let first = spool(dir.path(), "w0", &["a", "b"]);
        let second = spool(dir.path(), "w1", &["d"]);
        let head = vec![Activity::from_json(r#"{"Id":"c"}"#).unwrap()];
        let copier = WindowCopier::start(sinks()).unwrap();
        copier.hand_over(Written::Spool(first.clone())).unwrap();
        copier.hand_over(Written::Records(head)).unwrap();
        copier.hand_over(Written::Spool(second.clone())).unwrap();
        let (sinks, copied) = copier.finish();
        copied.unwrap();
        assert_eq!(sinks.jsonl.records(), 4);
        let (bytes, _, _) = sinks.jsonl.finish().unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "{\"Id\":\"a\"}\n{\"Id\":\"b\"}\n{\"Id\":\"c\"}\n{\"Id\":\"d\"}\n"
        );
        assert!(!first.exists() && !second.exists());
    }

    /// A disk that is full.
    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("no space left"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_names_where_the_records_were_going() {
        let sinks = Sinks {
            jsonl: JsonlWriter::new(Full),
            csv: None,
            destination: "/cases/victim.jsonl".into(),
        };
        // Larger than the writer's buffer, so the write reaches the disk at once.
        let big = format!(r#"{{"Id":"a","Note":"{}"}}"#, "x".repeat(1 << 20));
        let copier = WindowCopier::start(sinks).unwrap();
        copier
            .hand_over(Written::Records(vec![Activity::from_json(&big).unwrap()]))
            .unwrap();
        let (_, copied) = copier.finish();
        let message = copied.unwrap_err().to_string();
        assert!(
            message.contains("/cases/victim.jsonl") && message.contains("no space left"),
            "{message}"
        );
    }

    #[test]
    fn a_failed_copy_stops_later_hand_overs_and_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let copier = WindowCopier::start(sinks()).unwrap();
        copier
            .hand_over(Written::Spool(dir.path().join("missing")))
            .unwrap();
        let later = spool(dir.path(), "w1", &["c"]);
        // The copier fails on the missing spool; the failure reaches hand_over soon after.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while copier.hand_over(Written::Spool(later.clone())).is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "the failure never surfaced"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
            spool(dir.path(), "w1", &["c"]);
        }
        let (sinks, copied) = copier.finish();
        assert!(copied.unwrap_err().to_string().contains("missing"));
        assert_eq!(
            sinks.jsonl.records(),
            0,
            "nothing after a failed window is written"
        );
        assert!(!later.exists());
    }
}
