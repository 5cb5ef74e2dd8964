//! Unified Audit Log records as triage's activities, so the blog's techniques run on today's
//! data: a Purview audit search export (CSV with the record in its `AuditData` column), or
//! JSON Lines of records as peers write them (the bare record, or a Graph `auditLogRecord` that
//! wraps it in `auditData`).
//!
//! Shapes follow the Office 365 Management Activity API schema (MicrosoftDocs/office-365-
//! management-api, `office-365-management-activity-api-schema.md`: the common schema, the
//! Exchange mailbox and admin schemas, the Azure AD schema) and Graph's `security-auditlogrecord`.
//! Inferred, as the schema pages do not list them: `QueryText` of SearchQueryInitiatedExchange
//! (peers read it so), the folder path of `MailItemsAccessed` Sync in `Folders[].Path`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::events::{Event, Strings};
use crate::error::AppError;
use crate::record::parse_timestamp;

/// Where a file's audit records are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditFormat {
    /// A Purview audit search export: CSV, the record as JSON in the `AuditData` column.
    PurviewCsv,
    /// One record a line: the bare AuditData, or a Graph auditLogRecord.
    JsonLines,
}

/// Whether `path` holds audit records rather than pulled activities, judged by its first line.
pub fn detect(path: &Path) -> Result<Option<AuditFormat>, AppError> {
    let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let mut first = String::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| io_error(path, e))?;
        if !line.trim().is_empty() {
            first = line;
            break;
        }
    }
    let first = first.trim_start_matches('\u{feff}');
    if first.starts_with('{') {
        let record: Value = serde_json::from_str(first).unwrap_or(Value::Null);
        let audit = record.get("auditData").unwrap_or(&record);
        let is_audit = audit.get("Operation").is_some() && audit.get("CreationTime").is_some();
        return Ok(is_audit.then_some(AuditFormat::JsonLines));
    }
    let is_export = first
        .split(',')
        .any(|column| column.trim_matches('"').eq_ignore_ascii_case("AuditData"));
    Ok(is_export.then_some(AuditFormat::PurviewCsv))
}

/// Where one record stands in a file: its byte offset, and its line (JSON Lines) or row (CSV)
/// number for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordAt {
    pub offset: u64,
    pub number: u64,
}

/// The mailboxes a file's records concern (the mailbox owner, or the user who acted), each with
/// where its records stand, so that a mailbox is later read without reading the whole file.
pub fn mailboxes(
    path: &Path,
    format: AuditFormat,
) -> Result<BTreeMap<String, Vec<RecordAt>>, AppError> {
    let mut found: BTreeMap<String, Vec<RecordAt>> = BTreeMap::new();
    let mut unowned = 0u64;
    for_each_record(path, format, |at, record| match mailbox_of(&record) {
        Some(mailbox) => found.entry(mailbox).or_default().push(at),
        None => unowned += 1,
    })?;
    if unowned > 0 {
        // Said, not silently dropped: a record that names no user cannot be put in a mailbox.
        tracing::warn!(
            "{}: {unowned} records name neither MailboxOwnerUPN nor UserId and are left out",
            path.display()
        );
    }
    Ok(found)
}

/// The activities of one mailbox in a file of audit records (in file order): the records at
/// `index` (from `mailboxes`), or without one every record of the file that is the mailbox's.
pub fn load(
    path: &Path,
    format: AuditFormat,
    mailbox: &str,
    index: Option<&[RecordAt]>,
) -> Result<Vec<Event>, AppError> {
    let mut strings = Strings::default();
    let mut events = Vec::new();
    let mut take = |_: RecordAt, record: Value| {
        if mailbox_of(&record).as_deref() == Some(mailbox) {
            events.extend(activities(&record, &mut strings));
        }
    };
    match index {
        Some(index) => for_each_indexed(path, format, index, &mut take)?,
        None => for_each_record(path, format, &mut take)?,
    }
    Ok(events)
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> AppError {
    AppError::Usage(format!("cannot read {}: {e}", path.display()))
}

fn not_a_record(path: &Path, place: &str, number: u64, e: &dyn std::fmt::Display) -> AppError {
    AppError::Usage(format!(
        "{} {place} {number}: not an audit record ({e})",
        path.display()
    ))
}

/// A line of JSON Lines as a record (`None` for a blank line).
fn json_line(path: &Path, line: &str, number: u64) -> Result<Option<Value>, AppError> {
    let line = line.trim_start_matches('\u{feff}');
    if line.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(line)
        .map(|record| Some(unwrap_graph(record)))
        .map_err(|e| not_a_record(path, "line", number, &e))
}

/// A Purview export opened for reading: its reader over the whole file (so byte offsets are the
/// file's) and the `AuditData` column. The export's byte order mark sticks to the first header.
fn open_export(path: &Path) -> Result<(csv::Reader<std::fs::File>, usize), AppError> {
    let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let mut reader = csv::Reader::from_reader(file);
    let headers = reader.headers().map_err(|e| io_error(path, e))?;
    let column = headers
        .iter()
        .position(|h| {
            h.trim_start_matches('\u{feff}')
                .eq_ignore_ascii_case("AuditData")
        })
        .ok_or_else(|| {
            AppError::Usage(format!(
                "{} has no AuditData column: is it a Purview audit search export?",
                path.display()
            ))
        })?;
    Ok((reader, column))
}

/// A row's `AuditData` as a record.
fn export_row(
    path: &Path,
    row: &csv::StringRecord,
    column: usize,
    number: u64,
) -> Result<Value, AppError> {
    serde_json::from_str(row.get(column).unwrap_or(""))
        .map_err(|e| not_a_record(path, "row", number, &e))
}

/// Every record of the file, with where it stands; streamed, not read whole.
fn for_each_record(
    path: &Path,
    format: AuditFormat,
    mut visit: impl FnMut(RecordAt, Value),
) -> Result<(), AppError> {
    match format {
        AuditFormat::JsonLines => {
            let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
            let mut input = BufReader::new(file);
            let (mut line, mut offset, mut number) = (String::new(), 0u64, 0u64);
            loop {
                line.clear();
                let read = input.read_line(&mut line).map_err(|e| io_error(path, e))?;
                if read == 0 {
                    return Ok(());
                }
                number += 1;
                if let Some(record) = json_line(path, &line, number)? {
                    visit(RecordAt { offset, number }, record);
                }
                offset += read as u64;
            }
        }
        AuditFormat::PurviewCsv => {
            let (mut reader, column) = open_export(path)?;
            let mut row = csv::StringRecord::new();
            loop {
                let offset = reader.position().byte();
                if !reader
                    .read_record(&mut row)
                    .map_err(|e| io_error(path, e))?
                {
                    return Ok(());
                }
                // Row 1 is the header.
                let number = row.position().map_or(0, |p| p.record()) + 1;
                let record = export_row(path, &row, column, number)?;
                visit(RecordAt { offset, number }, record);
            }
        }
    }
}

/// The records at `index` (in file order), each read where it stands; consecutive records
/// are read on without seeking.
fn for_each_indexed(
    path: &Path,
    format: AuditFormat,
    index: &[RecordAt],
    mut visit: impl FnMut(RecordAt, Value),
) -> Result<(), AppError> {
    match format {
        AuditFormat::JsonLines => {
            let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
            let mut input = BufReader::new(file);
            let (mut line, mut at) = (String::new(), 0u64);
            for &record_at in index {
                if record_at.offset != at {
                    input
                        .seek_relative(record_at.offset as i64 - at as i64)
                        .map_err(|e| io_error(path, e))?;
                }
                line.clear();
                let read = input.read_line(&mut line).map_err(|e| io_error(path, e))?;
                at = record_at.offset + read as u64;
                let record = json_line(path, &line, record_at.number)?.ok_or_else(|| {
                    io_error(path, "it changed while it was read (a record is gone)")
                })?;
                visit(record_at, record);
            }
        }
        AuditFormat::PurviewCsv => {
            let (mut reader, column) = open_export(path)?;
            let mut row = csv::StringRecord::new();
            for &record_at in index {
                if reader.position().byte() != record_at.offset {
                    let mut position = csv::Position::new();
                    position.set_byte(record_at.offset);
                    reader.seek(position).map_err(|e| io_error(path, e))?;
                }
                if !reader
                    .read_record(&mut row)
                    .map_err(|e| io_error(path, e))?
                {
                    return Err(io_error(
                        path,
                        "it changed while it was read (a row is gone)",
                    ));
                }
                visit(record_at, export_row(path, &row, column, record_at.number)?);
            }
        }
    }
    Ok(())
}

/// A Graph auditLogRecord carries the UAL record in `auditData`.
fn unwrap_graph(record: Value) -> Value {
    match record {
        Value::Object(mut fields) if fields.contains_key("auditData") => {
            fields.remove("auditData").unwrap_or(Value::Null)
        }
        other => other,
    }
}

fn text<'a>(record: &'a Value, field: &str) -> Option<&'a str> {
    record
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `Parameters`, `ExtendedProperties`, `OperationProperties`: lists of Name/Value pairs.
fn named<'a>(record: &'a Value, list: &str, name: &str) -> Option<&'a str> {
    record.get(list)?.as_array()?.iter().find_map(|pair| {
        (pair.get("Name")?.as_str()?.eq_ignore_ascii_case(name))
            .then(|| pair.get("Value")?.as_str())
            .flatten()
    })
}

fn mailbox_of(record: &Value) -> Option<String> {
    text(record, "MailboxOwnerUPN")
        .or_else(|| text(record, "UserId"))
        .map(str::to_lowercase)
}

/// A client address as the UAL writes it, without its port or brackets: `a.b.c.d:port`,
/// `[v6]:port`, or a bare IPv6 address (whose colons are not a port).
pub fn client_address(raw: &str) -> String {
    let raw = raw.trim();
    if let Some(rest) = raw.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest).to_string();
    }
    match raw.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host.to_string()
        }
        _ => raw.to_string(),
    }
}

/// The client family of a mailbox record, as the Activities API named apps.
fn app_of(record: &Value) -> String {
    let info = text(record, "ClientInfoString").unwrap_or("");
    let lower = info.to_ascii_lowercase();
    let app = if lower.contains("imap4") {
        "IMAP4"
    } else if lower.contains("pop3") {
        "POP3"
    } else if lower.contains("client=owa") {
        "Web"
    } else if lower.contains("activesync") || lower.contains("outlook-ios") {
        "Mobile"
    } else if lower.contains("msexchangerpc") {
        "Outlook"
    } else if lower.contains("client=rest") {
        "REST"
    } else if text(record, "Operation") == Some("UserLoggedIn") {
        "SignIn"
    } else {
        return text(record, "Workload").unwrap_or("Exchange").to_string();
    };
    app.to_string()
}

/// The record's activities: one, or one per message it names (a Bind of several messages, a
/// move or delete of several items). Every one carries the record's Id.
fn activities(record: &Value, strings: &mut Strings) -> Vec<Event> {
    let operation = text(record, "Operation").unwrap_or("");
    let id = text(record, "Id").unwrap_or("");
    let time: Option<DateTime<Utc>> = text(record, "CreationTime").and_then(parse_timestamp);
    let app = app_of(record);
    let session = text(record, "SessionId").unwrap_or("");
    let address = text(record, "ClientIPAddress")
        .or_else(|| text(record, "ClientIP"))
        .or_else(|| text(record, "ActorIpAddress"))
        .map(client_address)
        .unwrap_or_default();
    let agent = named(record, "ExtendedProperties", "UserAgent")
        .or_else(|| text(record, "ClientInfoString"))
        .unwrap_or("");
    // The Entra ID session and token the record was made with (the schema's complex type
    // `AppAccessContext`: `AADSessionId` "the Microsoft Entra SessionId of the Entra sign-in",
    // `UniqueTokenId` "a unique, per-token identifier", `CorrelationId`), and the client string
    // (`Client=OWA;Action=ViaProxy`) that `app_of` reads.
    let context = record.get("AppAccessContext").unwrap_or(&Value::Null);
    let base = [
        ("ClientIP", address.as_str()),
        ("UserAgent", agent),
        ("AADSessionId", text(context, "AADSessionId").unwrap_or("")),
        (
            "UniqueTokenId",
            text(context, "UniqueTokenId").unwrap_or(""),
        ),
        (
            "CorrelationId",
            text(context, "CorrelationId").unwrap_or(""),
        ),
        (
            "ClientInfoString",
            text(record, "ClientInfoString").unwrap_or(""),
        ),
    ];
    let make = |kind: &str, item: &str, extra: &[(&str, &str)], strings: &mut Strings| {
        Event::from_parts(
            id,
            time,
            (kind, &app, item, session),
            base.iter().chain(extra).copied(),
            strings,
        )
    };
    let items = |list: &str| -> Vec<(String, String)> {
        record
            .get(list)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|item| {
                        (
                            text(item, "InternetMessageId")
                                .or_else(|| text(item, "Id"))
                                .unwrap_or("")
                                .to_string(),
                            text(item, "Subject").unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    match operation {
        "MailboxLogin" | "UserLoggedIn" => vec![make("Logon", "", &[], strings)],
        "MailItemsAccessed" => {
            // Inferred from Purview's MailItemsAccessed page (not the schema): a mailbox over
            // its limit is throttled for 24 hours, and one record with `IsThrottled` True says
            // that its reads from then on went unaudited.
            let throttled = named(record, "OperationProperties", "IsThrottled")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let mut marker = Vec::new();
            if throttled {
                marker.push(make("MailItemsThrottled", "", &[], strings));
            }
            if named(record, "OperationProperties", "MailAccessType") == Some("Sync") {
                let folder = record
                    .get("Folders")
                    .and_then(Value::as_array)
                    .and_then(|f| f.first())
                    .and_then(|f| text(f, "Path"))
                    .unwrap_or("");
                marker.push(make(
                    "MailItemsSync",
                    "",
                    &[("TargetFolder", folder)],
                    strings,
                ));
                return marker;
            }
            let bound: Vec<(String, &str)> = record
                .get("Folders")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|folder| {
                    let path = text(folder, "Path").unwrap_or("");
                    Some((folder.get("FolderItems")?.as_array()?, path))
                })
                .flat_map(|(items, path)| items.iter().map(move |item| (item, path)))
                .filter_map(|(item, path)| {
                    text(item, "InternetMessageId").map(|id| (id.to_string(), path))
                })
                .collect();
            marker.extend(bound.iter().map(|(item, path)| {
                make("MailItemsAccessed", item, &[("FolderPath", path)], strings)
            }));
            marker
        }
        "SearchQueryInitiatedExchange" => {
            let query = text(record, "QueryText").unwrap_or("");
            vec![make("SearchResult", "", &[("Query", query)], strings)]
        }
        "Send" | "SendAs" | "SendOnBehalf" => {
            let item = record.get("Item").unwrap_or(&Value::Null);
            let message = text(item, "InternetMessageId").unwrap_or("");
            let subject = text(item, "Subject").unwrap_or("");
            vec![make(
                "MessageSent",
                message,
                &[("Subject", subject)],
                strings,
            )]
        }
        "Move" | "MoveToDeletedItems" | "SoftDelete" | "HardDelete" => {
            let destination = match operation {
                "Move" => record
                    .get("DestFolder")
                    .and_then(|f| text(f, "Path"))
                    .unwrap_or("")
                    .trim_start_matches('\\')
                    .to_string(),
                _ => "Deleted Items".to_string(),
            };
            let (kind, extra): (&str, Vec<(&str, &str)>) = match operation {
                "SoftDelete" | "HardDelete" => ("Delete", vec![("DeleteType", operation)]),
                _ => ("Move", vec![("TargetFolder", destination.as_str())]),
            };
            let mut affected = items("AffectedItems");
            if affected.is_empty() {
                affected = items("Item");
            }
            affected
                .iter()
                .map(|(item, subject)| {
                    let mut extra = extra.clone();
                    extra.push(("Subject", subject));
                    make(kind, item, &extra, strings)
                })
                .collect()
        }
        "New-InboxRule" | "Set-InboxRule" | "UpdateInboxRules" => {
            let rule = inbox_rule(record);
            vec![make(
                "InboxRule",
                "",
                &[
                    ("Subject", rule.name.as_str()),
                    ("RuleActions", rule.actions.as_str()),
                    ("RuleConditions", rule.conditions.as_str()),
                    ("ForwardTo", rule.forward_to.as_str()),
                ],
                strings,
            )]
        }
        "Set-Mailbox" => {
            let forward = named(record, "Parameters", "ForwardingSmtpAddress")
                .or_else(|| named(record, "Parameters", "ForwardingAddress"))
                .unwrap_or("");
            if forward.is_empty() {
                return vec![make(operation, "", &[], strings)];
            }
            let keep = named(record, "Parameters", "DeliverToMailboxAndForward").unwrap_or("");
            vec![make(
                "MailboxForwarding",
                "",
                &[("ForwardTo", forward), ("RuleActions", keep)],
                strings,
            )]
        }
        // Persistence by admin cmdlets (the schema's Exchange admin records: `Parameters`
        // as Name/Value pairs): who was given the mailbox or SendAs, and whether the audit log
        // was switched off.
        "Add-MailboxPermission" | "Add-RecipientPermission" | "Set-AdminAuditLogConfig" => {
            let parameters = parameters_text(record);
            vec![make(
                operation,
                "",
                &[("Parameters", parameters.as_str())],
                strings,
            )]
        }
        other => vec![make(other, "", &[], strings)],
    }
}

/// A record's `Parameters` as `Name=Value; ...`.
fn parameters_text(record: &Value) -> String {
    record
        .get("Parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|pair| {
            let name = pair.get("Name")?.as_str()?;
            let value = match pair.get("Value")? {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some(format!("{name}={value}"))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What an inbox rule record says the rule does, from its `Parameters` (New-InboxRule,
/// Set-InboxRule) or its `OperationProperties` (UpdateInboxRules, from Outlook).
struct InboxRule {
    name: String,
    /// `MoveToFolder=RSS Feeds; DeleteMessage; MarkAsRead; ...`
    actions: String,
    /// `SubjectOrBodyContainsWords=invoice;payment; ...`
    conditions: String,
    forward_to: String,
}

const RULE_ACTIONS: &[&str] = &[
    "MoveToFolder",
    "CopyToFolder",
    "DeleteMessage",
    "SoftDeleteMessage",
    "MarkAsRead",
    "StopProcessingRules",
];
const RULE_FORWARDS: &[&str] = &["ForwardTo", "ForwardAsAttachmentTo", "RedirectTo"];
const RULE_CONDITIONS: &[&str] = &[
    "SubjectContainsWords",
    "SubjectOrBodyContainsWords",
    "BodyContainsWords",
    "FromAddressContainsWords",
    "From",
];

fn inbox_rule(record: &Value) -> InboxRule {
    let pairs: Vec<(String, String)> = ["Parameters", "OperationProperties"]
        .iter()
        .filter_map(|list| record.get(*list)?.as_array())
        .flatten()
        .filter_map(|pair| {
            let name = pair.get("Name")?.as_str()?.to_string();
            let value = match pair.get("Value")? {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some((name, value))
        })
        .collect();
    let get = |wanted: &[&str]| -> Vec<String> {
        pairs
            .iter()
            .filter(|(name, value)| {
                wanted.iter().any(|w| w.eq_ignore_ascii_case(name))
                    && !value.is_empty()
                    && !value.eq_ignore_ascii_case("false")
            })
            .map(|(name, value)| {
                if value.eq_ignore_ascii_case("true") {
                    name.clone()
                } else {
                    format!("{name}={value}")
                }
            })
            .collect()
    };
    let forward_to = pairs
        .iter()
        .filter(|(name, _)| RULE_FORWARDS.iter().any(|w| w.eq_ignore_ascii_case(name)))
        .map(|(_, value)| value.clone())
        .collect::<Vec<_>>()
        .join("; ");
    let name = pairs
        .iter()
        .find(|(name, _)| {
            name.eq_ignore_ascii_case("Name") || name.eq_ignore_ascii_case("RuleName")
        })
        .map(|(_, value)| value.clone())
        .or_else(|| text(record, "ObjectId").map(str::to_string))
        .unwrap_or_default();
    InboxRule {
        name,
        actions: get(RULE_ACTIONS).join("; "),
        conditions: get(RULE_CONDITIONS).join("; "),
        forward_to,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logons of three mailboxes, interleaved.
    fn records() -> Vec<Value> {
        (0..9)
            .map(|n| {
                serde_json::json!({
                    "Id": format!("r{n}"),
                    "CreationTime": format!("2024-05-01T10:0{n}:00"),
                    "Operation": "MailboxLogin",
                    "UserId": format!("user{}@contoso.com", n % 3),
                    "ClientIPAddress": format!("203.0.113.{n}:443"),
                    "ClientInfoString": "Client=OWA",
                })
            })
            .collect()
    }

    #[test]
    fn a_mailbox_read_from_its_index_is_the_mailbox_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        // An export whose rows span lines (AuditData pretty-printed), behind a byte order mark.
        let export = dir.path().join("export.csv");
        let mut csv = csv::Writer::from_writer(Vec::from(&b"\xEF\xBB\xBF"[..]));
        csv.write_record(["RecordId", "AuditData"]).unwrap();
        for record in records() {
            let text = serde_json::to_string_pretty(&record).unwrap();
            csv.write_record([record["Id"].as_str().unwrap(), &text])
                .unwrap();
        }
        std::fs::write(&export, csv.into_inner().unwrap()).unwrap();
        let jsonl = dir.path().join("records.jsonl");
        let lines: Vec<String> = records().iter().map(|r| r.to_string()).collect();
        std::fs::write(&jsonl, format!("\u{feff}{}\n\n", lines.join("\n\n"))).unwrap();
        for (path, format) in [
            (&export, AuditFormat::PurviewCsv),
            (&jsonl, AuditFormat::JsonLines),
        ] {
            let index = mailboxes(path, format).unwrap();
            assert_eq!(index.len(), 3);
            for (mailbox, at) in &index {
                assert_eq!(at.len(), 3, "{mailbox}");
                let ids = |events: Vec<Event>| -> Vec<String> {
                    events.iter().map(|e| e.id.to_string()).collect()
                };
                let indexed = ids(load(path, format, mailbox, Some(at)).unwrap());
                let whole = ids(load(path, format, mailbox, None).unwrap());
                assert_eq!(indexed, whole, "{format:?} {mailbox}");
                assert_eq!(indexed.len(), 3);
            }
        }
    }

    #[test]
    fn client_addresses_lose_ports_and_brackets_but_not_ipv6() {
        assert_eq!(client_address("203.0.113.9:51000"), "203.0.113.9");
        assert_eq!(client_address("203.0.113.9"), "203.0.113.9");
        assert_eq!(client_address("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(client_address("2001:db8::1"), "2001:db8::1");
        assert_eq!(client_address("::ffff:198.51.100.7"), "::ffff:198.51.100.7");
    }

    #[test]
    fn a_bind_of_several_messages_is_one_read_each_with_the_record_id() {
        let record: Value = serde_json::json!({
            "Id": "rec-1", "CreationTime": "2024-03-01T10:00:00", "Operation": "MailItemsAccessed",
            "MailboxOwnerUPN": "Ann@Contoso.com", "ClientIPAddress": "[2001:db8::7]:4431",
            "ClientInfoString": "Client=OWA;Action=ViewAdmin", "SessionId": "s1",
            "OperationProperties": [{"Name": "MailAccessType", "Value": "Bind"}],
            "Folders": [{"Path": "\\Inbox", "FolderItems": [
                {"InternetMessageId": "<a@x>"}, {"InternetMessageId": "<b@x>"}]}]
        });
        let events = activities(&record, &mut Strings::default());
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| &*e.id == "rec-1"
            && &*e.kind == "MailItemsAccessed"
            && &*e.app == "Web"
            && e.prop("ClientIP") == Some("2001:db8::7")));
        assert_eq!(&*events[1].item, "<b@x>");
        assert_eq!(
            events[0].time.map(|t| t.to_rfc3339()),
            Some("2024-03-01T10:00:00+00:00".into())
        );
        assert_eq!(mailbox_of(&record).as_deref(), Some("ann@contoso.com"));
    }

    #[test]
    fn app_access_context_throttling_and_admin_parameters_become_properties() {
        let record: Value = serde_json::json!({
            "Id": "rec-3", "CreationTime": "2024-03-01T10:00:00", "Operation": "MailItemsAccessed",
            "MailboxOwnerUPN": "ann@contoso.com", "SessionId": "exo-session",
            "ClientInfoString": "Client=OWA;Action=ViaProxy",
            "AppAccessContext": {"AADSessionId": "aad-1", "UniqueTokenId": "uti-1",
                "CorrelationId": "corr-1", "IssuedAtTime": "2024-03-01T09:00:00"},
            "OperationProperties": [{"Name": "MailAccessType", "Value": "Bind"},
                {"Name": "IsThrottled", "Value": "True"}],
            "Folders": [{"Path": "\\Inbox", "FolderItems": [{"InternetMessageId": "<a@x>"}]}]
        });
        let events = activities(&record, &mut Strings::default());
        let kinds: Vec<&str> = events.iter().map(|e| &*e.kind).collect();
        assert_eq!(kinds, ["MailItemsThrottled", "MailItemsAccessed"]);
        let bind = &events[1];
        assert_eq!(bind.prop("AADSessionId"), Some("aad-1"));
        assert_eq!(bind.prop("UniqueTokenId"), Some("uti-1"));
        assert_eq!(bind.prop("CorrelationId"), Some("corr-1"));
        assert_eq!(
            bind.prop("ClientInfoString"),
            Some("Client=OWA;Action=ViaProxy")
        );
        assert_eq!(bind.prop("FolderPath"), Some("\\Inbox"));
        assert_eq!(&*bind.session, "exo-session");
        let admin: Value = serde_json::json!({
            "Id": "rec-4", "CreationTime": "2024-03-01T10:00:00",
            "Operation": "Set-AdminAuditLogConfig", "UserId": "ann@contoso.com",
            "Parameters": [{"Name": "UnifiedAuditLogIngestionEnabled", "Value": "False"}]
        });
        let events = activities(&admin, &mut Strings::default());
        assert_eq!(
            events[0].prop("Parameters"),
            Some("UnifiedAuditLogIngestionEnabled=False")
        );
    }

    #[test]
    fn an_inbox_rule_record_keeps_its_actions_conditions_and_forwarding() {
        let record: Value = serde_json::json!({
            "Id": "rec-2", "CreationTime": "2024-03-01T10:05:00", "Operation": "New-InboxRule",
            "UserId": "ann@contoso.com", "ClientIP": "203.0.113.9:5100",
            "Parameters": [
                {"Name": "Name", "Value": "."},
                {"Name": "SubjectOrBodyContainsWords", "Value": "invoice;payment"},
                {"Name": "MoveToFolder", "Value": "RSS Feeds"},
                {"Name": "MarkAsRead", "Value": "True"},
                {"Name": "DeleteMessage", "Value": "False"},
                {"Name": "ForwardTo", "Value": "ap@lookalike.example"}]
        });
        let events = activities(&record, &mut Strings::default());
        let rule = &events[0];
        assert_eq!(&*rule.kind, "InboxRule");
        assert_eq!(rule.prop("Subject"), Some("."));
        assert_eq!(
            rule.prop("RuleActions"),
            Some("MoveToFolder=RSS Feeds; MarkAsRead")
        );
        assert_eq!(
            rule.prop("RuleConditions"),
            Some("SubjectOrBodyContainsWords=invoice;payment")
        );
        assert_eq!(rule.prop("ForwardTo"), Some("ap@lookalike.example"));
        assert_eq!(rule.prop("ClientIP"), Some("203.0.113.9"));
    }
}
