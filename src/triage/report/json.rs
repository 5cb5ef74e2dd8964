//! The report as one JSON document: `{"tool", "version", "case", "mailboxes": [...]}`, written a
//! mailbox at a time. The bytes are those `serde_json::to_string_pretty` gives for the whole
//! document: each mailbox is pretty-printed alone and indented one level further as it is
//! written (never held as a whole), which is safe line by line because JSON strings hold no
//! raw line breaks.

use std::io;

use serde::Serialize;

use super::ReportFormat;
use crate::triage::analyze::{Finding, MailboxReport, Severity};
use crate::triage::case_view::CaseOverview;
use crate::triage::events::MailboxEvents;

#[derive(Default)]
pub struct Json {
    written: usize,
}

impl ReportFormat for Json {
    fn head(&mut self, case: &CaseOverview, out: &mut dyn io::Write) -> io::Result<()> {
        #[derive(Serialize)]
        struct Head<'a> {
            tool: &'static str,
            version: &'static str,
            case: &'a CaseOverview,
        }
        let head = serde_json::to_string_pretty(&Head {
            tool: "o365-activities",
            version: env!("CARGO_PKG_VERSION"),
            case,
        })?;
        // Reopen the object the serializer closed, for the mailboxes.
        let open = head.strip_suffix("\n}").unwrap_or(&head);
        write!(out, "{open},\n  \"mailboxes\": [")
    }

    fn mailbox(
        &mut self,
        _index: usize,
        report: &MailboxReport,
        _events: &MailboxEvents,
        out: &mut dyn io::Write,
    ) -> io::Result<()> {
        if self.written > 0 {
            out.write_all(b",")?;
        }
        out.write_all(b"\n    ")?;
        serde_json::to_writer_pretty(Indented(out), report)?;
        self.written += 1;
        Ok(())
    }

    fn tail(&mut self, out: &mut dyn io::Write) -> io::Result<()> {
        if self.written == 0 {
            return out.write_all(b"]\n}");
        }
        out.write_all(b"\n  ]\n}")
    }
}

/// Indents every line after the first by one level (four spaces).
struct Indented<'a>(&'a mut dyn io::Write);

impl io::Write for Indented<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut rest = bytes;
        while let Some(at) = memchr::memchr(b'\n', rest) {
            self.0.write_all(&rest[..=at])?;
            self.0.write_all(b"    ")?;
            rest = &rest[at + 1..];
        }
        self.0.write_all(rest)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// The JSON report of a large case: `{"tool", "version", "detail": "summary", "case",
/// "mailboxes": [...]}` where `case` is the whole overview (every mailbox as one row, low
/// findings counted by kind) and `mailboxes` holds only the flagged mailboxes, each with its
/// high and medium findings, its incidents (indexes into those findings) and its low findings
/// counted by kind. `--detail full` gives the whole document; `--format jsonl` every finding.
#[derive(Default)]
pub struct JsonSummary {
    written: usize,
}

/// A flagged mailbox in the summary.
#[derive(Serialize)]
struct Flagged<'a> {
    mailbox: &'a str,
    activities: usize,
    first: &'a Option<String>,
    last: &'a Option<String>,
    findings: Vec<&'a Finding>,
    incidents: Vec<FlaggedIncident<'a>>,
    low_by_kind: std::collections::BTreeMap<&'static str, usize>,
}

#[derive(Serialize)]
struct FlaggedIncident<'a> {
    source: &'a str,
    severity: Severity,
    /// Indexes into the mailbox's `findings` above.
    findings: Vec<usize>,
}

impl ReportFormat for JsonSummary {
    fn head(&mut self, case: &CaseOverview, out: &mut dyn io::Write) -> io::Result<()> {
        #[derive(Serialize)]
        struct Head<'a> {
            tool: &'static str,
            version: &'static str,
            detail: &'static str,
            case: &'a CaseOverview,
        }
        let head = serde_json::to_string_pretty(&Head {
            tool: "o365-activities",
            version: env!("CARGO_PKG_VERSION"),
            detail: "summary",
            case,
        })?;
        let open = head.strip_suffix("\n}").unwrap_or(&head);
        write!(out, "{open},\n  \"mailboxes\": [")
    }

    fn mailbox(
        &mut self,
        _index: usize,
        report: &MailboxReport,
        _events: &MailboxEvents,
        out: &mut dyn io::Write,
    ) -> io::Result<()> {
        // Where each raised finding lands in the summary's list.
        let mut position = vec![None; report.findings.len()];
        let mut findings = Vec::new();
        for (index, finding) in report.findings.iter().enumerate() {
            if finding.severity != Severity::Low {
                position[index] = Some(findings.len());
                findings.push(finding);
            }
        }
        if findings.is_empty() {
            return Ok(());
        }
        let incidents = report
            .incidents
            .iter()
            .map(|incident| FlaggedIncident {
                source: &incident.source,
                severity: incident.severity,
                findings: incident
                    .findings
                    .iter()
                    .filter_map(|&i| position.get(i).copied().flatten())
                    .collect(),
            })
            .collect();
        let flagged = Flagged {
            mailbox: &report.mailbox,
            activities: report.activities,
            first: &report.first,
            last: &report.last,
            findings,
            incidents,
            low_by_kind: crate::triage::case_view::low_by_kind(report),
        };
        if self.written > 0 {
            out.write_all(b",")?;
        }
        out.write_all(b"\n    ")?;
        serde_json::to_writer_pretty(Indented(out), &flagged)?;
        self.written += 1;
        Ok(())
    }

    fn tail(&mut self, out: &mut dyn io::Write) -> io::Result<()> {
        if self.written == 0 {
            return out.write_all(b"]\n}");
        }
        out.write_all(b"\n  ]\n}")
    }
}
