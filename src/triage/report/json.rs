//! The report as one JSON document: `{"tool", "version", "case", "mailboxes": [...]}`, written a
//! mailbox at a time. The bytes are those `serde_json::to_string_pretty` gives for the whole
//! document: each mailbox is pretty-printed alone and indented one level further as it is
//! written (never held as a whole), which is safe line by line because JSON strings hold no
//! raw line breaks.

use std::io;

use serde::Serialize;

use super::ReportFormat;
use crate::triage::analyze::MailboxReport;
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
