//! Writing a triage report: text for the terminal, JSON, findings as JSON Lines, one HTML page,
//! or CSV tables.
//!
//! A report is written a mailbox at a time: each mailbox's section goes to a spool file as soon
//! as it is analysed, and the mailbox is dropped, so a case's memory does not grow with its
//! mailboxes. The overview, which must come first but needs every mailbox, is written last in
//! front of the spool.

mod csv_tables;
mod html;
mod json;
mod text;

use std::io::{self, BufWriter, Seek, Write};
use std::path::Path;

pub use csv_tables::{neutralize, CsvTables};
pub use html::{Html, HtmlSummary};
pub use json::{Json, JsonSummary};
pub use text::{Text, TextSummary};

use super::analyze::MailboxReport;
use super::case_view::{CaseOverview, OverviewBuilder};
use super::events::MailboxEvents;
use crate::output::{write_atomically_with, write_stdout_with, OutputError};

/// One way of writing the report, in three parts.
pub trait ReportFormat {
    /// What comes before the mailboxes, written once every mailbox is analysed.
    fn head(&mut self, _case: &CaseOverview, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    /// One mailbox's section, `index` counting from 0 in the order of the overview.
    fn mailbox(
        &mut self,
        index: usize,
        report: &MailboxReport,
        events: &MailboxEvents,
        out: &mut dyn Write,
    ) -> io::Result<()>;

    /// What comes after the last mailbox.
    fn tail(&mut self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
}

const SPOOL: &str = "the report's spool file";

/// A report being written: the mailboxes' sections spooled, the overview built as they come.
pub struct StreamedReport {
    format: Box<dyn ReportFormat>,
    spool: BufWriter<std::fs::File>,
    overview: OverviewBuilder,
    mailboxes: usize,
}

impl StreamedReport {
    /// The spool is an unnamed file in `spool_folder` (the destination's folder, so that it is
    /// on the disk the report is meant for), gone when the process ends however it ends.
    pub fn new(format: Box<dyn ReportFormat>, spool_folder: &Path) -> Result<Self, OutputError> {
        let spool = tempfile::tempfile_in(spool_folder)
            .map_err(|e| OutputError::io("cannot create a spool file in", spool_folder, e))?;
        Ok(StreamedReport {
            format,
            spool: BufWriter::new(spool),
            overview: OverviewBuilder::default(),
            mailboxes: 0,
        })
    }

    pub fn add(
        &mut self,
        report: &MailboxReport,
        events: &MailboxEvents,
    ) -> Result<(), OutputError> {
        self.format
            .mailbox(self.mailboxes, report, events, &mut self.spool)
            .map_err(|e| OutputError::io("cannot write", Path::new(SPOOL), e))?;
        self.overview.add(report);
        self.mailboxes += 1;
        Ok(())
    }

    /// Writes the whole report to `path` (in place only once complete), or to standard output.
    pub fn finish(self, path: Option<&Path>) -> Result<(), OutputError> {
        let StreamedReport {
            mut format,
            spool,
            overview,
            ..
        } = self;
        let case = overview.finish();
        let mut spool = spool
            .into_inner()
            .map_err(|e| OutputError::io("cannot write", Path::new(SPOOL), e.into_error()))?;
        match path {
            Some(path) => write_atomically_with(path, |out| {
                format.head(&case, out)?;
                // File to file: the kernel copies it (copy_file_range), not this process.
                out.flush()?;
                spool.rewind()?;
                io::copy(&mut spool, out.get_mut())?;
                format.tail(out)
            }),
            None => write_stdout_with(|out| {
                format.head(&case, out)?;
                spool.rewind()?;
                io::copy(&mut spool, out)?;
                format.tail(out)
            }),
        }
    }
}

/// A whole report of reports already made (the demo, tests), in the same formats.
pub fn write(
    mut format: impl ReportFormat,
    reports: &[MailboxReport],
    mailboxes: &[MailboxEvents],
    out: &mut dyn Write,
) -> io::Result<()> {
    format.head(&super::case_view::overview(reports), out)?;
    for (index, (report, events)) in reports.iter().zip(mailboxes).enumerate() {
        format.mailbox(index, report, events, out)?;
    }
    format.tail(out)
}

/// `write` into a string.
pub fn render(
    format: impl ReportFormat,
    reports: &[MailboxReport],
    mailboxes: &[MailboxEvents],
) -> io::Result<String> {
    let mut out = Vec::new();
    write(format, reports, mailboxes, &mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// How much of a case the text, JSON and HTML reports show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Every mailbox, finding and table.
    Full,
    /// The overview, flagged mailboxes in full, clean ones as one row each, low findings
    /// counted by kind.
    Summary,
}

impl Detail {
    /// A case of more mailboxes than this gets the summary unless told otherwise: one page a
    /// browser opens, one document a reader can take in.
    pub const FULL_UP_TO: usize = 20;

    /// What `auto` means for a case of `mailboxes`.
    pub fn auto(mailboxes: usize) -> Detail {
        if mailboxes > Self::FULL_UP_TO {
            Detail::Summary
        } else {
            Detail::Full
        }
    }
}

/// "1 mailbox", "3 mailboxes".
fn mailboxes(count: usize) -> String {
    match count {
        1 => "1 mailbox".into(),
        n => format!("{n} mailboxes"),
    }
}
