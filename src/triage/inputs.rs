//! Loading what triage reads: JSON Lines or CSV written by pull, every mailbox of a batch
//! case, or Unified Audit Log records (`audit_log.rs`), planned first, then a mailbox at a time.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::audit_log::{self, AuditFormat, RecordAt};
use super::events::{Event, EventBuilder, MailboxEvents, Strings};
use super::identity::{evidence as identity, IdentityEvidence};
use crate::case::{source_cases, CaseManifest, MailboxPaths, MailboxStatus, MANIFEST};
use crate::error::AppError;
use crate::output::{custom_property_of, CellSink, Manifest};

fn io_error(path: &Path, e: impl std::fmt::Display) -> AppError {
    AppError::Usage(format!("cannot read {}: {e}", path.display()))
}

// One thread: with the process's single malloc arena (see main.rs), two parsing threads
// contended for it and were slower than one (measured: 6.8 s -> 8.3 s for a million activities).
fn read_jsonl(path: &Path) -> Result<Vec<Event>, AppError> {
    let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut strings = Strings::default();
    let mut events = Vec::new();
    let mut line = String::new();
    for number in 1.. {
        line.clear();
        if reader.read_line(&mut line).map_err(|e| io_error(path, e))? == 0 {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let event = Event::parse(&line, &mut strings).map_err(|e| {
            AppError::Usage(format!(
                "{} line {number}: not an activity record ({e})",
                path.display()
            ))
        })?;
        events.push(event);
    }
    events.shrink_to_fit();
    Ok(events)
}

fn read_csv(path: &Path) -> Result<Vec<Event>, AppError> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| io_error(path, e))?;
    let headers = reader.headers().map_err(|e| io_error(path, e))?.clone();
    if !headers.iter().any(|h| h == "TimeStamp") {
        return Err(AppError::Usage(format!(
            "{} has no TimeStamp column: is it a CSV written by pull?",
            path.display()
        )));
    }
    // What each column holds, worked out once.
    let columns: Vec<CsvColumn> = headers
        .iter()
        .map(|header| CsvColumn::of(unsanitize(header)))
        .collect();
    let mut strings = Strings::default();
    let mut events = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| io_error(path, e))?;
        let mut event = EventBuilder::new(&mut strings);
        for (column, cell) in columns.iter().zip(row.iter()) {
            match column {
                CsvColumn::TopLevel(name) => event.top_level(name, unsanitize(cell)),
                CsvColumn::Custom(name) => event.custom(name, unsanitize(cell)),
                CsvColumn::Repeat => {}
            }
        }
        events.push(event.finish());
    }
    events.shrink_to_fit();
    Ok(events)
}

/// What a column of pull's CSV holds.
enum CsvColumn {
    TopLevel(String),
    /// The first custom property of this name in a record.
    Custom(String),
    /// A repeated custom property: triage reads only the first, as it does from JSON Lines.
    Repeat,
}

impl CsvColumn {
    fn of(header: &str) -> Self {
        match header
            .strip_prefix("CustomProperties.")
            .map(custom_property_of)
        {
            Some((name, 1)) => CsvColumn::Custom(name),
            Some(_) => CsvColumn::Repeat,
            None => CsvColumn::TopLevel(header.to_string()),
        }
    }
}

/// Undoes pull's formula neutralization (a `'` before = + - @ tab CR).
fn unsanitize(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    }
}

/// The mailbox a pulled file belongs to, from the manifest that lists it: the one named after
/// it, or, for a file copied or renamed since, any manifest in its folder that lists a file
/// with its SHA-256. Without one, the file's name stands in (and a warning says so).
fn mailbox_name(path: &Path) -> String {
    let named = [
        PathBuf::from(format!("{}.manifest.json", path.display())),
        path.with_extension("csv.manifest.json"),
        path.with_extension("jsonl.manifest.json"),
    ];
    // Hashed only when a manifest lists a file of its size: a large file without a manifest
    // is not read twice.
    let size = std::fs::metadata(path).map(|m| m.len()).ok();
    let digest = std::cell::OnceCell::new();
    let lists_this_file = |manifest: &Manifest| {
        manifest.files.iter().any(|f| {
            Some(f.bytes) == size
                && digest
                    .get_or_init(|| crate::output::hash_file(path).ok())
                    .as_ref()
                    .is_some_and(|d| f.sha256 == d.sha256)
        })
    };
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let beside = std::fs::read_dir(&folder)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|p| p.to_string_lossy().ends_with(".manifest.json"));
    let found = named
        .into_iter()
        .chain(beside)
        .filter_map(|m| Manifest::read(&m).ok())
        .find(|m| lists_this_file(m));
    match found {
        Some(manifest) => manifest.query.mailbox,
        None => {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            tracing::warn!(
                "{}: no manifest lists this file, so its mailbox is named after it ({name})",
                path.display()
            );
            name
        }
    }
}

/// Where one mailbox's activities are read from: planned before any is loaded, so that triage
/// holds one mailbox in memory at a time.
#[derive(Debug, Clone)]
pub struct MailboxInput {
    pub mailbox: String,
    path: PathBuf,
    format: InputFormat,
}

#[derive(Debug, Clone)]
enum InputFormat {
    JsonLines,
    Csv,
    /// Unified Audit Log records (a Purview export or JSON Lines), this mailbox's only: those
    /// at the index, or (a case's file of one mailbox) every record that is the mailbox's.
    AuditLog(AuditFormat, Option<Arc<[RecordAt]>>),
    /// No mailbox evidence: a person known from identity evidence alone.
    IdentityOnly,
}

impl MailboxInput {
    /// The mailbox's activities, in time order.
    pub fn load(&self) -> Result<MailboxEvents, AppError> {
        let mut events = match &self.format {
            InputFormat::JsonLines => read_jsonl(&self.path)?,
            InputFormat::Csv => read_csv(&self.path)?,
            InputFormat::AuditLog(format, index) => {
                audit_log::load(&self.path, *format, &self.mailbox, index.as_deref())?
            }
            InputFormat::IdentityOnly => Vec::new(),
        };
        // Unstable: a stable sort would borrow half the mailbox again as scratch space.
        events.sort_unstable_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
        Ok(MailboxEvents {
            mailbox: self.mailbox.clone(),
            events,
        })
    }
}

/// What a triage reads: the mailboxes, one at a time, and the identity evidence (sign-ins and
/// directory audits) that feeds each mailbox's analysis.
#[derive(Debug, Default)]
pub struct TriagePlan {
    pub mailboxes: Vec<MailboxInput>,
    pub identity: IdentityEvidence,
}

/// The mailboxes of every input: a file is one mailbox, a case folder one per complete mailbox.
/// Identity evidence is refused here: `plan_triage` reads it.
pub fn plan_inputs(inputs: &[PathBuf]) -> Result<Vec<MailboxInput>, AppError> {
    let plan = plan_triage(inputs)?;
    if !plan.identity.is_empty() {
        return Err(AppError::Usage(
            "sign-ins and directory audits are read by triage (plan_triage), not here".into(),
        ));
    }
    Ok(plan.mailboxes)
}

/// Whether a JSON Lines file's first record is a kind triage reads, or an error saying what
/// it is not (a file of other records is not passed off as an empty mailbox).
fn check_jsonl_shape(path: &Path) -> Result<(), AppError> {
    let Some(record) = identity::first_record(path)? else {
        return Ok(());
    };
    let known = ["Id", "TimeStamp", "ActivityIdType", "id"]
        .iter()
        .any(|key| record.get(key).is_some());
    if known {
        return Ok(());
    }
    Err(AppError::Usage(format!(
        "{}: its first record is not one triage reads (an activity with Id and TimeStamp, an audit log record with Operation and CreationTime, a sign-in with createdDateTime and userPrincipalName, or a directory audit with activityDateTime and activityDisplayName)",
        path.display()
    )))
}

/// The mailboxes and identity evidence of every input: a file is one mailbox (or, for an
/// audit log file, each mailbox it holds; for sign-ins or directory audits, identity
/// evidence), a case folder one per complete mailbox. With identity evidence alone, each
/// person it names is a mailbox of no activities.
pub fn plan_triage(inputs: &[PathBuf]) -> Result<TriagePlan, AppError> {
    let mut planned = Vec::new();
    let mut evidence = IdentityEvidence::default();
    // A folder of cases, one per source, is read as its cases.
    let inputs: Vec<PathBuf> = inputs
        .iter()
        .flat_map(|input| source_cases(input).unwrap_or_else(|| vec![input.clone()]))
        .collect();
    for input in &inputs {
        if input.is_dir() {
            let manifest_path = input.join(MANIFEST);
            if !manifest_path.exists() {
                return Err(AppError::Usage(format!(
                    "{} is a folder without {MANIFEST}: give a batch case folder, a folder of \
                     cases (one per source) or pulled files",
                    input.display()
                )));
            }
            let manifest = CaseManifest::read(&manifest_path)?;
            for entry in &manifest.mailboxes {
                if entry.status != MailboxStatus::Complete {
                    tracing::warn!(
                        "{}: {} is {}, left out of triage",
                        input.display(),
                        entry.mailbox,
                        entry.status.as_str()
                    );
                    continue;
                }
                let path = MailboxPaths::new(input, &entry.mailbox).evidence;
                // A case of sign-ins or directory audits holds a person's records a file.
                let kind = super::identity::records::IdentityKind::from_source(
                    &manifest.parameters.source,
                );
                if let Some(kind) = kind.map_or_else(|| identity::detect(&path), |k| Ok(Some(k)))? {
                    evidence.add_file(&path, kind)?;
                    continue;
                }
                // A case pulled from the audit log holds its records, one mailbox a file.
                let format = match audit_log::detect(&path)? {
                    Some(audit) => InputFormat::AuditLog(audit, None),
                    None => InputFormat::JsonLines,
                };
                planned.push(MailboxInput {
                    mailbox: entry.mailbox.clone(),
                    path,
                    format,
                });
            }
            continue;
        }
        let extension = input
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let format = match extension.as_str() {
            "jsonl" | "ndjson" | "partial" => InputFormat::JsonLines,
            "csv" => InputFormat::Csv,
            _ => {
                return Err(AppError::Usage(format!(
                    "{}: give JSON Lines (.jsonl), a CSV written by pull, a Purview audit search export (.csv), or a case folder",
                    input.display()
                )))
            }
        };
        // A missing file is named before any mailbox is analysed.
        std::fs::metadata(input).map_err(|e| io_error(input, e))?;
        if let Some(kind) = identity::detect(input)? {
            if matches!(format, InputFormat::Csv) {
                return Err(AppError::Usage(format!(
                    "{} is the CSV of a pull of {}: give triage its JSON Lines evidence (the .jsonl beside it)",
                    input.display(),
                    kind.name()
                )));
            }
            evidence.add_file(input, kind)?;
            continue;
        }
        if let Some(audit) = audit_log::detect(input)? {
            // One file of audit records can hold many mailboxes: each is analysed alone, read
            // from where its records stand (the file is read once more in all, not once more
            // a mailbox).
            for (mailbox, index) in audit_log::mailboxes(input, audit)? {
                planned.push(MailboxInput {
                    mailbox,
                    path: input.clone(),
                    format: InputFormat::AuditLog(audit, Some(index.into())),
                });
            }
            continue;
        }
        if matches!(format, InputFormat::JsonLines) {
            check_jsonl_shape(input)?;
        }
        planned.push(MailboxInput {
            mailbox: mailbox_name(input),
            path: input.clone(),
            format,
        });
    }
    if planned.is_empty() {
        planned = evidence
            .people()
            .map(|person| MailboxInput {
                mailbox: person.to_string(),
                path: PathBuf::new(),
                format: InputFormat::IdentityOnly,
            })
            .collect();
    }
    Ok(TriagePlan {
        mailboxes: planned,
        identity: evidence,
    })
}

/// Loads every input at once (for a few small mailboxes; `triage` loads one at a time).
pub fn load_inputs(inputs: &[PathBuf]) -> Result<Vec<MailboxEvents>, AppError> {
    plan_inputs(inputs)?
        .iter()
        .map(MailboxInput::load)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::events::{property_index, READ_PROPERTIES};
    use super::*;

    #[test]
    fn csv_columns_are_read_back_as_the_properties_pull_wrote() {
        let read = |header| match CsvColumn::of(header) {
            CsvColumn::TopLevel(name) => format!("top {name}"),
            CsvColumn::Custom(name) => format!("custom {name}"),
            CsvColumn::Repeat => "repeat".to_string(),
        };
        assert_eq!(read("ClientIPAddress"), "top ClientIPAddress");
        assert_eq!(read("CustomProperties.UserAgent"), "custom UserAgent");
        assert_eq!(read("CustomProperties.UserAgent#2"), "repeat");
        assert_eq!(read("CustomProperties.Tag##2"), "custom Tag#2");
    }

    #[test]
    fn read_properties_are_found_by_their_sorted_names() {
        assert!(READ_PROPERTIES.is_sorted());
        for (index, name) in READ_PROPERTIES.iter().enumerate() {
            assert_eq!(property_index(name), Some(index));
        }
        assert_eq!(property_index("Recipients"), None);
        let event = Event::default().with_properties([
            ("UserAgent", "ua"),
            ("ClientIP", "1.2.3.4"),
            ("ClientIP", "second, ignored"),
            ("Subject", ""),
            ("Recipients", "not kept"),
        ]);
        assert_eq!(event.prop("ClientIP"), Some("1.2.3.4"));
        assert_eq!(event.prop("UserAgent"), Some("ua"));
        assert_eq!(event.prop("Subject"), None, "empty reads as absent");
        assert_eq!(event.prop("Recipients"), None);
        assert_eq!(event.prop("Browser"), None);
    }

    #[test]
    fn csv_cells_lose_only_the_neutralizing_apostrophe() {
        assert_eq!(unsanitize("'=SUM(A1)"), "=SUM(A1)");
        assert_eq!(unsanitize("'quoted'"), "'quoted'");
        assert_eq!(unsanitize("plain"), "plain");
    }
}
