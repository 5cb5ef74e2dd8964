//! What analysts import elsewhere: a Timesketch timeline of every activity and finding, the
//! findings as JSON Lines for a SIEM, and the indicators of compromise as CSV.
//!
//! Timesketch's import (CSV with a header, or JSON Lines) needs `message`, `datetime` (ISO 8601)
//! and `timestamp_desc` in every row, and takes `timestamp` (microseconds since the epoch) and
//! any other field besides.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::analyze::{is_logon, logon_source, user_agent, Finding, MailboxReport, Severity};
use super::events::{Event, MailboxEvents};
use super::geo::GeoLookup;
use super::report::ReportFormat;
use crate::output::{commit, create_private, write_atomically_with, OutputError, OutputPlan};
use crate::triage::category::Category;

fn iso(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, false)
}

/// The first and last time of the activities a finding cites.
fn span(
    finding: &Finding,
    times: &HashMap<&str, DateTime<Utc>>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let cited: Vec<DateTime<Utc>> = finding
        .activity_ids
        .iter()
        .filter_map(|id| times.get(id.as_str()).copied())
        .collect();
    Some((*cited.iter().min()?, *cited.iter().max()?))
}

/// The activities the report's findings cite, by Id: only those, as a mailbox can hold a
/// million activities and its findings a few hundred.
fn cited_events<'a>(
    report: &MailboxReport,
    mailbox: &'a MailboxEvents,
) -> HashMap<&'a str, &'a Event> {
    let cited: std::collections::HashSet<&str> = report
        .findings
        .iter()
        .flat_map(|f| f.activity_ids.iter().map(String::as_str))
        .collect();
    mailbox
        .events
        .iter()
        .filter(|e| cited.contains(&*e.id))
        .map(|e| (&*e.id, e))
        .collect()
}

fn times_of<'a>(
    report: &MailboxReport,
    mailbox: &'a MailboxEvents,
) -> HashMap<&'a str, DateTime<Utc>> {
    cited_events(report, mailbox)
        .into_iter()
        .filter_map(|(id, e)| e.time.map(|t| (id, t)))
        .collect()
}

/// One line of what an activity was, for a timeline.
fn describe(event: &Event) -> String {
    let what = event
        .prop("Subject")
        .map(|s| format!("subject {s:?}"))
        .or_else(|| {
            event
                .prop("Query")
                .and_then(super::query_xml::search_query)
                .map(|q| format!("query {:?}", q.text))
        })
        .or_else(|| logon_source(event).map(|(ip, _)| format!("from {ip}")))
        .or_else(|| event.prop("TargetFolder").map(|f| format!("to {f}")))
        .unwrap_or_default();
    format!("{} via {} {what}", event.kind, event.app)
        .trim_end()
        .to_string()
}

/// The Timesketch rows of a mailbox: each activity (with the severity of the strongest finding
/// that cites it), then each finding at the time of the first activity it cites.
fn timesketch_rows<'a>(
    report: &'a MailboxReport,
    mailbox: &'a MailboxEvents,
) -> impl Iterator<Item = Map<String, Value>> + 'a {
    let mut cited: HashMap<&str, (Severity, &str)> = HashMap::new();
    for finding in &report.findings {
        for id in &finding.activity_ids {
            let entry = cited
                .entry(id.as_str())
                .or_insert((finding.severity, finding.category.name()));
            if finding.severity < entry.0 {
                *entry = (finding.severity, finding.category.name());
            }
        }
    }
    let times = times_of(report, mailbox);
    let activities = mailbox.events.iter().filter_map(move |event| {
        let time = event.time?;
        let mut row = Map::new();
        row.insert(
            "message".into(),
            json!(format!("{}: {}", mailbox.mailbox, describe(event))),
        );
        row.insert("datetime".into(), json!(iso(time)));
        row.insert("timestamp".into(), json!(time.timestamp_micros()));
        row.insert("timestamp_desc".into(), json!("Activity time"));
        row.insert("mailbox".into(), json!(mailbox.mailbox));
        row.insert("activity_id".into(), json!(event.id));
        row.insert("activity_type".into(), json!(event.kind));
        row.insert("app".into(), json!(event.app));
        row.insert("session_id".into(), json!(event.session));
        row.insert("item_id".into(), json!(event.item));
        row.insert(
            "client_ip".into(),
            json!(logon_source(event).map(|(ip, _)| ip).unwrap_or_default()),
        );
        row.insert(
            "user_agent".into(),
            json!(user_agent(event).unwrap_or_default()),
        );
        let (severity, category) = cited
            .get(&*event.id)
            .map(|(s, c)| (s.as_str(), *c))
            .unwrap_or(("", ""));
        row.insert("finding_severity".into(), json!(severity));
        row.insert("finding_category".into(), json!(category));
        Some(row)
    });
    let findings = report.findings.iter().filter_map(move |finding| {
        let (first, _) = span(finding, &times)?;
        let mut row = Map::new();
        row.insert(
            "message".into(),
            json!(format!(
                "{}: [{}] {}",
                mailbox.mailbox,
                finding.severity.as_str().to_uppercase(),
                finding.title
            )),
        );
        row.insert("datetime".into(), json!(iso(first)));
        row.insert("timestamp".into(), json!(first.timestamp_micros()));
        row.insert(
            "timestamp_desc".into(),
            json!("Finding (first cited activity)"),
        );
        row.insert("mailbox".into(), json!(mailbox.mailbox));
        row.insert("activity_id".into(), json!(finding.activity_ids.join(" ")));
        row.insert("activity_type".into(), json!("Finding"));
        row.insert("finding_severity".into(), json!(finding.severity.as_str()));
        row.insert("finding_category".into(), json!(finding.category));
        row.insert("technique".into(), json!(finding.category.technique()));
        row.insert("detail".into(), json!(finding.detail));
        Some(row)
    });
    // The identity side of the incident (its sign-ins and directory audits: the mailbox's
    // own records are the rows above).
    let identity = report
        .tables
        .iter()
        .filter(|t| t.name == "incident_timeline")
        .flat_map(|t| t.rows.iter())
        .filter(|row| &*row[1] != "audit log" && &*row[1] != "mailbox")
        .filter_map(move |row| {
            let time = crate::record::parse_timestamp(&row[0])?;
            let mut out = Map::new();
            out.insert(
                "message".into(),
                json!(format!("{}: {} {}", mailbox.mailbox, row[1], row[2])),
            );
            out.insert("datetime".into(), json!(iso(time)));
            out.insert("timestamp".into(), json!(time.timestamp_micros()));
            out.insert("timestamp_desc".into(), json!("Identity record time"));
            out.insert("mailbox".into(), json!(mailbox.mailbox));
            out.insert("activity_id".into(), json!(&*row[5]));
            out.insert("activity_type".into(), json!(&*row[1]));
            out.insert("session_id".into(), json!(&*row[4]));
            out.insert("client_ip".into(), json!(&*row[3]));
            Some(out)
        });
    activities.chain(findings).chain(identity)
}

/// What attacker sessions read, for `--exposed`: a row per message, folder or throttling,
/// gathered a mailbox at a time (attacker sessions' reads only, so few) and written whole.
#[derive(Default)]
pub struct ExposedList {
    rows: Vec<(String, super::analyze::Row)>,
}

impl ExposedList {
    pub fn add(&mut self, report: &MailboxReport) {
        for table in report.tables.iter().filter(|t| t.name == "exposure") {
            self.rows.extend(
                table
                    .rows
                    .iter()
                    .map(|row| (report.mailbox.clone(), row.clone())),
            );
        }
    }

    /// Writes the list as CSV (the mailbox, then `identity::response::EXPOSURE_COLUMNS`);
    /// returns how many rows.
    pub fn write(&self, path: &Path) -> Result<usize, OutputError> {
        write_atomically_with(path, |out| {
            let mut csv = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(&mut *out);
            let mut header = vec!["mailbox"];
            header.extend(super::identity::response::EXPOSURE_COLUMNS);
            csv.write_record(&header)?;
            for (mailbox, row) in &self.rows {
                csv.write_record(
                    std::iter::once(mailbox.as_str())
                        .chain(row.iter().map(|c| &**c))
                        .map(super::report::neutralize),
                )?;
            }
            csv.flush()
        })?;
        Ok(self.rows.len())
    }
}

/// The columns of the Timesketch CSV, mandatory ones first.
const TIMESKETCH_COLUMNS: &[&str] = &[
    "message",
    "datetime",
    "timestamp",
    "timestamp_desc",
    "mailbox",
    "activity_id",
    "activity_type",
    "app",
    "session_id",
    "item_id",
    "client_ip",
    "user_agent",
    "finding_severity",
    "finding_category",
    "technique",
    "detail",
];

/// A Timesketch timeline being written a mailbox at a time: JSON Lines for a `.jsonl` path, CSV
/// otherwise. It appears at its path only once complete.
pub struct TimesketchWriter {
    path: PathBuf,
    temporary: PathBuf,
    out: TimelineOut,
    rows: u64,
}

enum TimelineOut {
    JsonLines(BufWriter<File>),
    Csv(Box<csv::Writer<File>>),
}

impl TimesketchWriter {
    pub fn create(path: &Path) -> Result<Self, OutputError> {
        let temporary = OutputPlan::temporary(path);
        let file = create_private(&temporary)
            .map_err(|e| OutputError::io("cannot create", &temporary, e))?;
        let jsonl = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("ndjson"));
        let out = if jsonl {
            TimelineOut::JsonLines(BufWriter::new(file))
        } else {
            let mut csv = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(file);
            csv.write_record(TIMESKETCH_COLUMNS)
                .map_err(|e| OutputError::io("cannot write", &temporary, e.into()))?;
            TimelineOut::Csv(Box::new(csv))
        };
        Ok(TimesketchWriter {
            path: path.to_path_buf(),
            temporary,
            out,
            rows: 0,
        })
    }

    pub fn add(
        &mut self,
        report: &MailboxReport,
        mailbox: &MailboxEvents,
    ) -> Result<(), OutputError> {
        for row in timesketch_rows(report, mailbox) {
            let written = match &mut self.out {
                TimelineOut::JsonLines(out) => serde_json::to_writer(&mut *out, &row)
                    .map_err(std::io::Error::from)
                    .and_then(|()| out.write_all(b"\n")),
                TimelineOut::Csv(csv) => csv
                    .write_record(TIMESKETCH_COLUMNS.iter().map(|c| match row.get(*c) {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Null) | None => String::new(),
                        Some(other) => other.to_string(),
                    }))
                    .map_err(std::io::Error::from),
            };
            written.map_err(|e| OutputError::io("cannot write", &self.temporary, e))?;
            self.rows += 1;
        }
        Ok(())
    }

    /// Puts the timeline in place; returns its rows.
    pub fn finish(self) -> Result<u64, OutputError> {
        let flushed = match self.out {
            TimelineOut::JsonLines(mut out) => out.flush(),
            TimelineOut::Csv(mut csv) => csv.flush(),
        };
        flushed.map_err(|e| OutputError::io("cannot write", &self.temporary, e))?;
        commit(&self.temporary, &self.path)?;
        Ok(self.rows)
    }
}

/// Every finding as one JSON line, with its mailbox and the span of what it cites (for a SIEM).
pub struct FindingsJsonl;

impl ReportFormat for FindingsJsonl {
    fn mailbox(
        &mut self,
        _index: usize,
        report: &MailboxReport,
        mailbox: &MailboxEvents,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let times = times_of(report, mailbox);
        for finding in &report.findings {
            let (first, last) =
                span(finding, &times).map_or((None, None), |(a, b)| (Some(iso(a)), Some(iso(b))));
            let line = json!({
                "mailbox": report.mailbox,
                "severity": finding.severity,
                "category": finding.category,
                "technique": finding.category.technique(),
                "next_step": finding.category.next_step(),
                "title": finding.title,
                "detail": finding.detail,
                "first_seen": first,
                "last_seen": last,
                "activity_ids": finding.activity_ids,
            });
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}

/// One indicator, across the mailboxes it touches.
#[derive(Default)]
struct Indicator {
    context: String,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    mailboxes: BTreeSet<String>,
    findings: usize,
}

/// The indicators of the high and medium findings: the sources' addresses (with ASN and country
/// when databases are given) and user agents, and the lures' senders, their domains and the
/// attachment names; each with first and last seen and the mailboxes it touches. Gathered a
/// mailbox at a time; only the indicators are kept.
#[derive(Default)]
pub struct Indicators {
    found: BTreeMap<(&'static str, String), Indicator>,
}

impl Indicators {
    pub fn add(&mut self, report: &MailboxReport, mailbox: &MailboxEvents, geo: &GeoLookup) {
        let found = &mut self.found;
        {
            let by_id = cited_events(report, mailbox);
            for finding in report
                .findings
                .iter()
                .filter(|f| matches!(f.severity, Severity::High | Severity::Medium))
            {
                let cited: Vec<&Event> = finding
                    .activity_ids
                    .iter()
                    .filter_map(|id| by_id.get(id.as_str()).copied())
                    .collect();
                let mut add =
                    |kind: &'static str, value: String, context: String, event: &Event| {
                        if value.is_empty() {
                            return;
                        }
                        let indicator = found.entry((kind, value)).or_default();
                        if indicator.context.is_empty() {
                            indicator.context = context;
                        }
                        if let Some(t) = event.time {
                            indicator.first = Some(indicator.first.map_or(t, |f| f.min(t)));
                            indicator.last = Some(indicator.last.map_or(t, |l| l.max(t)));
                        }
                        indicator.mailboxes.insert(mailbox.mailbox.clone());
                        indicator.findings += 1;
                    };
                for event in &cited {
                    if finding.category == Category::Logon && is_logon(event) {
                        if let Some((ip, _)) = logon_source(event) {
                            let context = ip
                                .parse::<IpAddr>()
                                .ok()
                                .map(|addr| {
                                    [geo.asn(addr), geo.country(addr)]
                                        .into_iter()
                                        .flatten()
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                })
                                .unwrap_or_default();
                            add("ip", ip, context, event);
                        }
                        if let Some(agent) = user_agent(event) {
                            add("user-agent", agent.to_string(), String::new(), event);
                        }
                    }
                    if finding.category == Category::Attachment
                        && &*event.kind == "MessageDelivered"
                    {
                        let sender = event
                            .prop("SenderSmtpAddress")
                            .or(event.prop("From"))
                            .unwrap_or_default()
                            .to_lowercase();
                        let domain = sender
                            .rsplit_once('@')
                            .map(|(_, d)| d.to_string())
                            .unwrap_or_default();
                        let subject = event.prop("Subject").unwrap_or_default().to_string();
                        add("sender", sender, subject.clone(), event);
                        add("sender-domain", domain, String::new(), event);
                        for name in event
                            .prop("AttachmentDetail")
                            .unwrap_or_default()
                            .split(';')
                            .filter_map(|a| a.split(" (").next())
                            .map(str::trim)
                        {
                            add("attachment", name.to_string(), subject.clone(), event);
                        }
                    }
                }
            }
        }
    }

    /// Writes them as CSV; returns how many.
    pub fn write(&self, path: &Path) -> Result<usize, OutputError> {
        let found = &self.found;
        let count = found.len();
        write_atomically_with(path, |out| {
            let mut csv = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(&mut *out);
            csv.write_record([
                "Type",
                "Indicator",
                "Context",
                "FirstSeen",
                "LastSeen",
                "Mailboxes",
                "Findings",
            ])?;
            let stamp = |t: Option<DateTime<Utc>>| t.map(iso).unwrap_or_default();
            for ((kind, value), indicator) in found {
                csv.write_record([
                    kind.to_string(),
                    value.clone(),
                    indicator.context.clone(),
                    stamp(indicator.first),
                    stamp(indicator.last),
                    indicator
                        .mailboxes
                        .iter()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" "),
                    indicator.findings.to_string(),
                ])?;
            }
            csv.flush()
        })?;
        Ok(count)
    }
}
