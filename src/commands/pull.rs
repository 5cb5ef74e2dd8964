//! `pull`: one mailbox into JSON Lines (and CSV), with a manifest.

use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
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
use crate::paging::{fetch_windows, KeysetPager, Pager, PagerProgress, PagingError, SkipPager};
use crate::progress::PullProgress;
use crate::record::Activity;

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
            Fetch::Windows { client, query, .. } => show(
                &KeysetPager::new(
                    client,
                    &query.filter,
                    query.select.as_deref(),
                    query.page_size,
                )
                .first_query(),
            ),
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

/// Pulls every record into `writer` (and `csv`), stopping early on `interrupt`. What was
/// fetched before a failure is written too (the caller marks the result partial).
async fn fetch_into<W: Write + Send>(
    fetch: &mut Fetch<'_>,
    stats: &RequestStats,
    writer: &mut JsonlWriter<W>,
    mut csv: Option<&mut CsvBuilder>,
    progress: &PullProgress,
    interrupt: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Result<(), AppError> {
    match fetch {
        Fetch::Sequential(pager) => {
            fetch_sequential(pager, stats, writer, csv, progress, interrupt).await
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
            let report = fetch_windows(
                client,
                &query.filter,
                query.select.as_deref(),
                query.page_size,
                query.mailbox_concurrency,
                spool_dir,
                spool_prefix,
                interrupt.as_mut(),
                true,
                &mut |spool, following| {
                    copy_spool(spool, writer, csv.as_deref_mut())?;
                    let reached = PagerProgress {
                        pages: 0,
                        reached: following,
                    };
                    progress.update(writer.records(), &reached, stats);
                    Ok(())
                },
            )
            .await;
            *pages = report.pages;
            match report.error {
                Some(error) => Err(error.into()),
                None => Ok(()),
            }
        }
    }
}

/// Appends one finished window's spool to the outputs.
fn copy_spool<W: Write + Send>(
    spool: &Path,
    writer: &mut JsonlWriter<W>,
    mut csv: Option<&mut CsvBuilder>,
) -> Result<(), PagingError> {
    let failed = |e: std::io::Error| PagingError::Spool {
        path: spool.display().to_string(),
        source: e,
    };
    let file = File::open(spool).map_err(failed)?;
    let mut reader = std::io::BufReader::with_capacity(256 * 1024, file);
    // One buffer for every line: a window holds thousands of records.
    let mut buffer = Vec::with_capacity(4096);
    loop {
        buffer.clear();
        if std::io::BufRead::read_until(&mut reader, b'\n', &mut buffer).map_err(failed)? == 0 {
            return Ok(());
        }
        let line = std::str::from_utf8(buffer.strip_suffix(b"\n").unwrap_or(&buffer))
            .map_err(|e| failed(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        writer.write_line(line).map_err(failed)?;
        if let Some(csv) = csv.as_deref_mut() {
            csv.add(line).map_err(failed)?;
        }
    }
}

async fn fetch_sequential<W: Write>(
    pager: &mut AnyPager<'_>,
    stats: &RequestStats,
    writer: &mut JsonlWriter<W>,
    mut csv: Option<&mut CsvBuilder>,
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
        for record in &batch {
            writer
                .write(record)
                .map_err(|e| AppError::Other(format!("cannot write a record: {e}")))?;
            if let Some(csv) = csv.as_deref_mut() {
                csv.add(record.raw_json()).map_err(|e| {
                    AppError::Other(format!("cannot flatten record {}: {e}", record.key()))
                })?;
            }
        }
        progress.update(writer.records(), &pager.progress(), stats);
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
        let mut writer = JsonlWriter::new(std::io::stdout());
        fetch_into(
            pager,
            client.stats(),
            &mut writer,
            None,
            progress,
            interrupt,
        )
        .await?;
        let records = writer.records();
        writer
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
    let mut csv = CsvBuilder::create(spool.clone())
        .map_err(|e| OutputError::io("cannot create", &spool, e))?;
    let mut counter = JsonlWriter::new(std::io::sink());
    fetch_into(
        pager,
        client.stats(),
        &mut counter,
        Some(&mut csv),
        progress,
        interrupt,
    )
    .await?;
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
    let mut writer = JsonlWriter::new(file);
    let mut csv = match plan.format {
        OutputFormat::Csv => {
            let spool = OutputPlan::temporary(&plan.primary).with_extension("cells");
            Some(
                CsvBuilder::create(spool.clone())
                    .map_err(|e| OutputError::io("cannot create", &spool, e))?,
            )
        }
        OutputFormat::Jsonl => None,
    };
    let fetched = fetch_into(
        pager,
        context.stats,
        &mut writer,
        csv.as_mut(),
        progress,
        interrupt,
    )
    .await;
    let records = writer.records();
    let pages = pager.pages();
    let (_, evidence_sha, evidence_bytes) = writer
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
        let (sha, bytes) = csv.write_csv_file(
            &temp_csv,
            CsvOptions {
                sanitize: context.config.sanitize,
            },
        )?;
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
