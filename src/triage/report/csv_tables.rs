//! `--format csv`: one CSV per table (and one of findings) in a folder, prefixed by mailbox
//! when there are several.

use std::path::{Path, PathBuf};

use crate::error::AppError;
use crate::output::OutputError;
use crate::triage::analyze::{MailboxReport, Row, Table};

pub struct CsvTables {
    folder: PathBuf,
    prefixed: bool,
    written: Vec<String>,
}

impl CsvTables {
    /// Tables of `mailboxes` mailboxes into `folder` (created if need be).
    pub fn create(folder: &Path, mailboxes: usize) -> Result<Self, AppError> {
        std::fs::create_dir_all(folder).map_err(|e| OutputError::io("cannot create", folder, e))?;
        Ok(CsvTables {
            folder: folder.to_path_buf(),
            prefixed: mailboxes > 1,
            written: Vec::new(),
        })
    }

    pub fn add(&mut self, report: &MailboxReport) -> Result<(), AppError> {
        let folder = &self.folder;
        let prefix = if self.prefixed {
            format!("{}-", crate::case::mailbox_folder_name(&report.mailbox))
        } else {
            String::new()
        };
        let findings = Table {
            name: "findings",
            columns: vec![
                "Severity",
                "Category",
                "Title",
                "Detail",
                "Technique",
                "NextStep",
                "ActivityIds",
            ],
            rows: report
                .findings
                .iter()
                .map(|f| {
                    Row::from([
                        f.severity.as_str().into(),
                        f.category.name().into(),
                        f.title.as_str().into(),
                        f.detail.as_str().into(),
                        f.category.technique().into(),
                        f.category.next_step().into(),
                        f.activity_ids.join(" ").into(),
                    ])
                })
                .collect(),
        };
        for table in std::iter::once(&findings).chain(&report.tables) {
            let path = folder.join(format!("{prefix}{}.csv", table.name));
            let mut writer = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_path(&path)
                .map_err(|e| OutputError::io("cannot create", &path, e.into()))?;
            let mut write = |row: &mut dyn Iterator<Item = &str>| {
                writer
                    .write_record(row.map(neutralize))
                    .map_err(|e| OutputError::io("cannot write", &path, e.into()))
            };
            write(&mut table.columns.iter().copied())?;
            for row in &table.rows {
                write(&mut row.iter().map(|c| &**c))?;
            }
            writer
                .flush()
                .map_err(|e| OutputError::io("cannot write", &path, e))?;
            self.written.push(path.display().to_string());
        }
        Ok(())
    }

    /// The files written.
    pub fn finish(self) -> Vec<String> {
        self.written
    }
}

/// Spreadsheet formula neutralization, as pull does it.
pub fn neutralize(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}
