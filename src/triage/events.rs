//! Pulled activities as triage sees them: the standard fields plus the custom properties,
//! loaded from JSON Lines, from the CSV `pull` writes, or from every mailbox of a batch case.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::case::{CaseManifest, MailboxPaths, MailboxStatus, MANIFEST};
use crate::error::AppError;
use crate::output::{custom_property_of, flatten_record, CellSink, Manifest};
use crate::record::parse_timestamp;

/// One activity.
#[derive(Debug, Clone, Default)]
pub struct Event {
    pub id: String,
    pub time: Option<DateTime<Utc>>,
    pub kind: String,
    pub app: String,
    pub item: String,
    pub session: String,
    /// The custom properties triage reads, first occurrence of each name.
    pub custom: CustomProperties,
}

impl Event {
    pub fn prop(&self, name: &str) -> Option<&str> {
        self.custom.get(name).filter(|v| !v.is_empty())
    }
}

/// The custom properties the techniques read. The others stay in the evidence: a mailbox's
/// events are held in memory, and keeping every property of every record (a map of owned
/// names and values each) took several times the memory of these.
pub const READ_PROPERTIES: &[&str] = &[
    "AttachmentDetail",
    "Browser",
    "ClientIP",
    "DeleteType",
    "From",
    "IPAddress",
    "Query",
    "ReceivedTime",
    "SenderAddress",
    "SenderSmtpAddress",
    "Subject",
    "TargetFolder",
    "UserAgent",
];

/// Custom properties by their index in `READ_PROPERTIES`.
#[derive(Debug, Clone, Default)]
pub struct CustomProperties(Vec<(u8, Box<str>)>);

impl CustomProperties {
    pub fn get(&self, name: &str) -> Option<&str> {
        let index = READ_PROPERTIES.iter().position(|p| *p == name)?;
        self.0
            .iter()
            .find(|(i, _)| usize::from(*i) == index)
            .map(|(_, v)| &**v)
    }

    /// Keeps `value` if triage reads `name` and no earlier occurrence was kept.
    pub fn keep_first(&mut self, name: &str, value: &str) {
        let Some(index) = READ_PROPERTIES.iter().position(|p| *p == name) else {
            return;
        };
        if !self.0.iter().any(|(i, _)| usize::from(*i) == index) {
            self.0.push((index as u8, value.into()));
        }
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for CustomProperties {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(pairs: I) -> Self {
        let mut properties = CustomProperties::default();
        for (name, value) in pairs {
            properties.keep_first(name, value);
        }
        properties
    }
}

/// The activities of one mailbox, in time order.
#[derive(Debug, Clone)]
pub struct MailboxEvents {
    pub mailbox: String,
    pub events: Vec<Event>,
}

impl Event {
    /// An activity from its JSON text.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        let mut event = Event::default();
        flatten_record(text, &mut event)?;
        Ok(event)
    }
}

impl MailboxEvents {
    /// A mailbox's activities from their JSON texts, in the order given.
    pub fn from_json<'a>(
        mailbox: &str,
        records: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, serde_json::Error> {
        Ok(MailboxEvents {
            mailbox: mailbox.to_string(),
            events: records
                .into_iter()
                .map(Event::from_json)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl CellSink for Event {
    fn top_level(&mut self, key: &str, text: &str) {
        let field = match key {
            "Id" => &mut self.id,
            "ActivityIdType" => &mut self.kind,
            "AppIdType" => &mut self.app,
            "ActivityItemId" => &mut self.item,
            "ClientSessionId" => &mut self.session,
            "TimeStamp" => {
                self.time = parse_timestamp(text);
                return;
            }
            _ => return,
        };
        *field = text.to_string();
    }

    fn custom(&mut self, name: &str, text: &str) {
        self.custom.keep_first(name, text);
    }

    fn leftovers(&mut self, _json: &str) {}
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> AppError {
    AppError::Usage(format!("cannot read {}: {e}", path.display()))
}

fn read_jsonl(path: &Path) -> Result<Vec<Event>, AppError> {
    let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let mut events = Vec::new();
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| io_error(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let event = Event::from_json(&line).map_err(|e| {
            AppError::Usage(format!(
                "{} line {}: not an activity record ({e})",
                path.display(),
                number + 1
            ))
        })?;
        events.push(event);
    }
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
    let columns: Vec<CsvColumn> = headers.iter().map(CsvColumn::of).collect();
    let mut events = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| io_error(path, e))?;
        let mut event = Event::default();
        for (column, cell) in columns.iter().zip(row.iter()) {
            match column {
                CsvColumn::TopLevel(name) => event.top_level(name, unsanitize(cell)),
                CsvColumn::Custom(name) => event.custom(name, unsanitize(cell)),
                CsvColumn::Repeat => {}
            }
        }
        events.push(event);
    }
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
    let digest = crate::output::hash_file(path).ok();
    let lists_this_file = |manifest: &Manifest| {
        digest.as_ref().is_some_and(|d| {
            manifest
                .files
                .iter()
                .any(|f| f.sha256 == d.sha256 && f.bytes == d.bytes)
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

/// Loads every input: files become one mailbox each, a case folder one per complete mailbox.
pub fn load_inputs(inputs: &[PathBuf]) -> Result<Vec<MailboxEvents>, AppError> {
    let mut mailboxes = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let manifest_path = input.join(MANIFEST);
            if !manifest_path.exists() {
                return Err(AppError::Usage(format!(
                    "{} is a folder without {MANIFEST}: give a batch case folder or pulled files",
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
                let evidence = MailboxPaths::new(input, &entry.mailbox).evidence;
                mailboxes.push(MailboxEvents {
                    mailbox: entry.mailbox.clone(),
                    events: read_jsonl(&evidence)?,
                });
            }
            continue;
        }
        let extension = input
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let events = match extension.as_str() {
            "jsonl" | "ndjson" | "partial" => read_jsonl(input)?,
            "csv" => read_csv(input)?,
            _ => {
                return Err(AppError::Usage(format!(
                    "{}: give JSON Lines (.jsonl), a CSV written by pull, or a case folder",
                    input.display()
                )))
            }
        };
        mailboxes.push(MailboxEvents {
            mailbox: mailbox_name(input),
            events,
        });
    }
    for mailbox in &mut mailboxes {
        mailbox
            .events
            .sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
    }
    Ok(mailboxes)
}

#[cfg(test)]
mod tests {
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
    fn csv_cells_lose_only_the_neutralizing_apostrophe() {
        assert_eq!(unsanitize("'=SUM(A1)"), "=SUM(A1)");
        assert_eq!(unsanitize("'quoted'"), "'quoted'");
        assert_eq!(unsanitize("plain"), "plain");
    }
}
