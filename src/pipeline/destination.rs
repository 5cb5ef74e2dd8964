//! One pull to its destination: files (evidence, CSV, manifest; a partial result with its own
//! manifest when the pull stops early) or standard output.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};

use super::{finish_to_files, EvidenceSinks, SyncToDisk};
use crate::custody::{signature_path, Custody, Provenance};
use crate::error::AppError;
use crate::http::ClientOptions;
use crate::http::{RequestStats, Sleeper};
use crate::output::{
    commit, create_private, hash_file, remove_leftovers, CsvBuilder, CsvOptions, JsonlWriter,
    Manifest, ManifestFile, ManifestQuery, OutputError, OutputFormat, OutputPlan, PullCounters,
    PullStatus, RunLock,
};
use crate::progress::{ProgressMode, PullProgress};
use crate::source::QueryConfig;
use crate::source::{FlagGroup, Source, SourceClient, SourceDescriptor, SpoolPlace, Walk};

/// Where a pull's records go.
#[derive(Debug, Clone)]
pub enum Destination {
    Files(OutputPlan),
    Stdout(OutputFormat),
}

#[derive(Debug, Clone)]
pub struct PullConfig {
    pub client: ClientOptions,
    pub query: QueryConfig,
    pub destination: Destination,
    pub sanitize: bool,
    /// Start CSV output with a UTF-8 byte order mark (for Excel).
    pub csv_bom: bool,
    pub dry_run: bool,
    /// What to tell the analyst before the pull (a time taken as UTC, say).
    pub notes: Vec<String>,
    pub progress: ProgressMode,
    /// The signing key and the command line, for the manifests' chain of custody.
    pub custody: Custody,
}

/// What a finished pull wrote.
#[derive(Debug, Clone)]
pub struct PullSummary {
    pub records: u64,
    pub files: Vec<ManifestFile>,
    pub manifest: Option<PathBuf>,
    /// An earlier run's partial result of the same output, removed since this one completed.
    pub superseded: Vec<PathBuf>,
    /// What the records are: `activities` (the Activities API) or `audit log records`.
    pub noun: &'static str,
}

/// Runs a pull to its end, or until `interrupt` resolves.
pub async fn pull_to_destination(
    config: &PullConfig,
    sleeper: Arc<dyn Sleeper>,
    interrupt: impl Future<Output = ()> + Send,
) -> Result<PullSummary, AppError> {
    let descriptor = config.query.source.descriptor();
    let client = SourceClient::new(config.client.clone(), descriptor, Arc::clone(&sleeper))?;
    // One run at a time writes an output; what an earlier run left behind goes first.
    let _lock = match &config.destination {
        Destination::Files(plan) if !config.dry_run => Some(lock_output(plan)?),
        _ => None,
    };
    let mut source = config.query.source.open(Walk {
        client: &client,
        query: &config.query,
        user: &config.client.user,
        sleeper: sleeper.as_ref(),
        spools: spool_place(&config.destination),
        resume_after: None,
    })?;
    if config.dry_run {
        print!("{}", source.first_request(true));
        return Ok(PullSummary {
            records: 0,
            files: vec![],
            manifest: None,
            superseded: vec![],
            noun: descriptor.noun,
        });
    }
    // The wall clock (`crate::clock`): the manifest stamps when this machine ran the pull.
    let started = Utc::now();
    let first_request = source.first_request(false);
    let progress = PullProgress::new(config.progress, Arc::clone(client.stats()));
    let summary = match &config.destination {
        Destination::Stdout(format) => {
            let options = CsvOptions {
                sanitize: config.sanitize,
                bom: config.csv_bom,
            };
            to_stdout(
                source.as_mut(),
                *format,
                descriptor,
                options,
                &progress,
                interrupt,
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
            to_files(source.as_mut(), plan, &context, &progress, interrupt).await
        }
    };
    progress.finish();
    summary
}

/// Locks `plan`'s output for this run and removes the temporaries an earlier run left.
fn lock_output(plan: &OutputPlan) -> Result<RunLock, AppError> {
    let what = format!("--output {}", plan.primary.display());
    let lock = RunLock::acquire(&plan.lock_path(), &what)?;
    for final_path in [&plan.primary, &plan.evidence] {
        remove_leftovers(final_path)
            .map_err(|e| OutputError::io("cannot remove the leftovers beside", final_path, e))?;
    }
    Ok(lock)
}

/// Where the pull's temporary files go: beside its output (hidden names of this process), or
/// in the system's temporary folder for a pull to standard output.
fn spool_place(destination: &Destination) -> SpoolPlace {
    match destination {
        Destination::Files(plan) => {
            let hidden = OutputPlan::temporary(&plan.primary);
            SpoolPlace {
                dir: hidden.parent().map(Path::to_path_buf).unwrap_or_default(),
                prefix: hidden
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            }
        }
        Destination::Stdout(_) => SpoolPlace {
            dir: std::env::temp_dir(),
            prefix: format!(".o365-activities-{}", std::process::id()),
        },
    }
}

/// Runs the pipeline into `sinks`; the sinks back, and the pull's error if it stopped early.
async fn pull_into<W: std::io::Write + SyncToDisk + Send + 'static>(
    source: &mut dyn Source,
    sinks: EvidenceSinks<W>,
    progress: &PullProgress,
    interrupt: impl Future<Output = ()> + Send,
) -> Result<(EvidenceSinks<W>, Result<(), AppError>), AppError> {
    let (sinks, pulled) = super::run(source, sinks, progress, interrupt)
        .await
        .map_err(|e| AppError::Other(format!("cannot start a thread to write records: {e}")))?;
    Ok((sinks, pulled.map_err(AppError::from)))
}

async fn to_stdout(
    source: &mut dyn Source,
    format: OutputFormat,
    descriptor: &SourceDescriptor,
    options: CsvOptions,
    progress: &PullProgress,
    interrupt: impl Future<Output = ()> + Send,
) -> Result<PullSummary, AppError> {
    let records = match format {
        OutputFormat::Jsonl => {
            let sinks = EvidenceSinks::new(
                JsonlWriter::new(std::io::stdout()),
                None,
                "standard output".into(),
            );
            let (sinks, pulled) = pull_into(source, sinks, progress, interrupt).await?;
            pulled?;
            let records = sinks.records();
            sinks
                .jsonl
                .finish()
                .map_err(|e| AppError::Other(format!("cannot write to stdout: {e}")))?;
            records
        }
        OutputFormat::Csv => {
            // The CSV header needs every column first: cells are spooled, then written out.
            let spool = spool_place(&Destination::Stdout(format));
            let spool = spool.dir.join(format!("{}.cells.tmp", spool.prefix));
            let csv = CsvBuilder::create_for(spool.clone(), None, descriptor.record_shape)
                .map_err(|e| OutputError::io("cannot create", &spool, e))?;
            let sinks = EvidenceSinks::new(
                JsonlWriter::new(std::io::sink()),
                Some(csv),
                format!("the CSV spool {}", spool.display()),
            );
            let (sinks, pulled) = pull_into(source, sinks, progress, interrupt).await?;
            pulled?;
            let EvidenceSinks { csv, .. } = sinks;
            match csv {
                Some(csv) => csv
                    .write_csv(std::io::stdout(), options)
                    .map_err(|e| AppError::Other(format!("cannot write CSV to stdout: {e}")))?,
                None => 0,
            }
        }
    };
    report_empty(records);
    Ok(PullSummary {
        records,
        files: vec![],
        manifest: None,
        superseded: vec![],
        noun: descriptor.noun,
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
        source: &dyn Source,
    ) -> Manifest {
        let query = &self.config.query;
        let client = &self.config.client;
        let counters = PullCounters {
            records,
            ..PullCounters::after_run(&PullCounters::default(), self.stats, pages)
        };
        // The wall clock, as `started`.
        let finished = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let provenance = Provenance::of_run(
            &self.config.custody.command_line,
            query.source.descriptor().name,
            client,
            self.stats.dates(),
            self.started.to_rfc3339_opts(SecondsFormat::Millis, true),
            finished.clone(),
            self.config.custody.signer_fingerprint(),
        );
        Manifest {
            tool: "o365-activities".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            started_at: self.started.to_rfc3339_opts(SecondsFormat::Millis, true),
            finished_at: finished,
            status,
            reason,
            query: ManifestQuery {
                source: query.source.descriptor().name.to_string(),
                base_url: client.base_url.clone(),
                api_version: client.api_version.clone(),
                mailbox: client.user.clone(),
                filter: filter_description(source, query),
                paging: source.walk_description(),
                // The audit log services choose their own page sizes.
                page_size: if query.source.descriptor().reads(FlagGroup::Activities) {
                    query.page_size
                } else {
                    0
                },
                select: query.select.clone(),
                first_request: self.first_request.clone(),
            },
            counters,
            files,
            source_log: source.log(),
            provenance: serde_json::to_value(provenance).ok(),
        }
    }
}

/// The filter as the manifest records it, with an `--end` in the future clamped to now.
fn filter_description(source: &dyn Source, query: &crate::source::QueryConfig) -> String {
    let mut text = source.filter_description();
    if let Some(asked) = &query.end_clamped_from {
        text.push_str(&format!(
            "; --end {asked} was in the future: the range ends when the pull (or its case) \
             started"
        ));
    }
    text
}

async fn to_files(
    source: &mut dyn Source,
    plan: &OutputPlan,
    context: &ManifestContext<'_>,
    progress: &PullProgress,
    interrupt: impl Future<Output = ()> + Send,
) -> Result<PullSummary, AppError> {
    let temp_evidence = OutputPlan::temporary(&plan.evidence);
    let file = create_private(&temp_evidence)
        .map_err(|e| OutputError::io("cannot create", &temp_evidence, e))?;
    let csv = match plan.format {
        OutputFormat::Csv => {
            let spool = OutputPlan::temporary(&plan.primary).with_extension("cells");
            Some(
                CsvBuilder::create_for(
                    spool.clone(),
                    None,
                    context.config.query.source.descriptor().record_shape,
                )
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
    let sinks = EvidenceSinks::new(JsonlWriter::new(file), csv, destination);
    let (sinks, pulled) = pull_into(source, sinks, progress, interrupt).await?;
    let records = sinks.records();
    let pages = source.pages();

    if let Err(error) = pulled {
        let (_, evidence_sha, evidence_bytes) = sinks
            .jsonl
            .finish()
            .map_err(|e| OutputError::io("cannot write", &temp_evidence, e))?;
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
            source,
        );
        manifest.write(&plan.partial_manifest())?;
        context
            .config
            .custody
            .sign_manifest(&plan.partial_manifest())?;
        return Err(AppError::Partial {
            error: Box::new(error),
            kept: format!(
                "{} ({records} records; manifest {})",
                kept.display(),
                plan.partial_manifest().display()
            ),
        });
    }

    let temp_csv = OutputPlan::temporary(&plan.primary);
    let options = CsvOptions {
        sanitize: context.config.sanitize,
        bom: context.config.csv_bom,
    };
    let leftovers = [temp_csv.clone()];
    let unfinished = Unfinished {
        plan,
        context,
        records,
        pages,
        temp_evidence: &temp_evidence,
        leftovers: &leftovers,
    };
    let finished = match finish_to_files(sinks, &temp_evidence, &temp_csv, options) {
        Ok(finished) => finished,
        Err(error) => return Err(unfinished.roll_back(source, error.into())),
    };
    let (evidence_sha, evidence_bytes) = finished.evidence;
    let mut files = vec![manifest_file(
        &plan.evidence,
        "evidence",
        evidence_sha,
        evidence_bytes,
    )];
    let mut temporaries = vec![(temp_evidence.clone(), plan.evidence.clone())];
    if let Some((sha, bytes)) = finished.csv {
        files.push(manifest_file(&plan.primary, "csv", sha, bytes));
        temporaries.push((temp_csv, plan.primary.clone()));
    }
    // The manifest (and its signature) are written before any file takes its final name: a
    // full disk here leaves the pull's partial result, never evidence without its manifest.
    let manifest = context.manifest(
        PullStatus::Complete,
        None,
        records,
        pages,
        files.clone(),
        source,
    );
    let staged = match stage_manifest(&manifest, &plan.manifest, &context.config.custody) {
        Ok(staged) => staged,
        Err(error) => return Err(unfinished.roll_back(source, error)),
    };
    // An old manifest must never describe the new files, even for a moment.
    for old in [plan.manifest.clone(), signature_path(&plan.manifest)] {
        if old.exists() {
            std::fs::remove_file(&old).map_err(|e| OutputError::io("cannot replace", &old, e))?;
        }
    }
    for (temporary, final_path) in temporaries.iter().chain(&staged) {
        commit(temporary, final_path)?;
    }
    source.completed()?;
    // An earlier run's partial result of this output is superseded: no `incomplete` manifest
    // may sit beside a complete one.
    let mut superseded = Vec::new();
    for stale in [
        OutputPlan::partial(&plan.evidence),
        plan.partial_manifest(),
        signature_path(&plan.partial_manifest()),
    ] {
        if stale.exists() {
            std::fs::remove_file(&stale)
                .map_err(|e| OutputError::io("cannot remove the superseded", &stale, e))?;
            superseded.push(stale);
        }
    }
    report_empty(records);
    Ok(PullSummary {
        records,
        files,
        manifest: Some(plan.manifest.clone()),
        superseded,
        noun: context.config.query.source.descriptor().noun,
    })
}

/// Writes the complete manifest, and its signature if the run signs, under temporary names:
/// the pairs (temporary, final) to commit once the evidence is in place.
fn stage_manifest(
    manifest: &Manifest,
    path: &Path,
    custody: &Custody,
) -> Result<Vec<(PathBuf, PathBuf)>, AppError> {
    let bytes = manifest.to_bytes(path)?;
    let temporary = OutputPlan::temporary(path);
    if custody.fail_manifest_write {
        return Err(OutputError::io(
            "cannot write",
            &temporary,
            std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left on device (--fail-manifest-write)",
            ),
        )
        .into());
    }
    write_new(&temporary, &bytes)?;
    let mut staged = vec![(temporary, path.to_path_buf())];
    if let Some(signer) = &custody.signer {
        let sig_path = signature_path(path);
        let sig_temporary = OutputPlan::temporary(&sig_path);
        let signed = signer
            .sign(&bytes)
            .and_then(|armored| Ok(write_new(&sig_temporary, armored.as_bytes())?));
        if let Err(error) = signed {
            let _ = std::fs::remove_file(&staged[0].0);
            return Err(error);
        }
        staged.push((sig_temporary, sig_path));
    }
    Ok(staged)
}

/// Writes `bytes` to a new private file at `path`; nothing is left there if that fails.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    let written = create_private(path).and_then(|mut file| {
        std::io::Write::write_all(&mut file, bytes)?;
        file.sync_all()
    });
    written.map_err(|e| {
        let _ = std::fs::remove_file(path);
        OutputError::io("cannot write", path, e)
    })
}

/// A complete pull whose files are written but not yet in place.
struct Unfinished<'a> {
    plan: &'a OutputPlan,
    context: &'a ManifestContext<'a>,
    records: u64,
    pages: u64,
    temp_evidence: &'a Path,
    /// Its other temporary files (the CSV), removed if it cannot be finished.
    leftovers: &'a [PathBuf],
}

impl Unfinished<'_> {
    /// The pull could not be finished (its CSV or manifest could not be written: a full disk):
    /// its evidence is kept as a partial result with its own manifest, as for a pull stopped
    /// early, its other temporary files are removed, and no file takes a final name, so the
    /// same pull can simply be run again.
    fn roll_back(&self, source: &dyn Source, error: AppError) -> AppError {
        for leftover in self.leftovers {
            let _ = std::fs::remove_file(leftover);
        }
        let kept = OutputPlan::partial(&self.plan.evidence);
        let manifest_path = self.plan.partial_manifest();
        let keep = || -> Result<(), AppError> {
            let digest = hash_file(self.temp_evidence)?;
            std::fs::rename(self.temp_evidence, &kept)
                .map_err(|e| OutputError::io("cannot keep the partial result as", &kept, e))?;
            let files = vec![manifest_file(
                &kept,
                "evidence (partial)",
                digest.sha256,
                digest.bytes,
            )];
            self.context
                .manifest(
                    PullStatus::Incomplete,
                    Some(format!("the complete result could not be written: {error}")),
                    self.records,
                    self.pages,
                    files,
                    source,
                )
                .write(&manifest_path)?;
            self.context.config.custody.sign_manifest(&manifest_path)?;
            Ok(())
        };
        match keep() {
            Ok(()) => AppError::Partial {
                error: Box::new(error),
                kept: format!(
                    "{} ({} records; manifest {})",
                    kept.display(),
                    self.records,
                    manifest_path.display()
                ),
            },
            Err(second) => {
                // Not even the partial result could be kept whole: no file of this run is
                // left under a name a later run would take for a result.
                let _ = std::fs::remove_file(self.temp_evidence);
                AppError::Other(format!(
                    "{error}; the partial result could not be kept either ({second}): run the                      pull again once there is room"
                ))
            }
        }
    }
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
        tracing::warn!("no records matched the query: the result is empty (not an error)");
    }
}

impl PullSummary {
    /// The closing lines on stderr: what was written, where, and its hashes.
    pub fn print(&self) {
        let summary = self;
        let Some(manifest) = &summary.manifest else {
            return;
        };
        eprintln!("pulled {} {}", summary.records, summary.noun);
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
        let signature = signature_path(manifest);
        if signature.exists() {
            eprintln!("  signature: {}", signature.display());
        }
        for stale in &summary.superseded {
            eprintln!(
                "  removed {}: an earlier run's partial result, superseded by this complete one",
                stale.display()
            );
        }
    }
}
