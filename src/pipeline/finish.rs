//! Finishing a complete pull's files: nothing is read or hashed again.

use std::fs::File;
use std::path::Path;

use super::sinks::EvidenceSinks;
use crate::output::{CsvOptions, OutputError};

/// A complete pull's files, under the names they were written to, not yet committed.
#[derive(Debug)]
pub struct FinishedFiles {
    /// SHA-256 and size of the evidence (hashed as it was written).
    pub evidence: (String, u64),
    /// SHA-256 and size of the CSV, written to the temporary path asked for.
    pub csv: Option<(String, u64)>,
}

/// Flushes the evidence written at `evidence_path` to disk, and writes the CSV (if the sinks
/// have one) to `csv_temporary` meanwhile.
pub fn finish_to_files(
    sinks: EvidenceSinks<File>,
    evidence_path: &Path,
    csv_temporary: &Path,
    options: CsvOptions,
) -> Result<FinishedFiles, OutputError> {
    let EvidenceSinks { jsonl, csv, .. } = sinks;
    let (evidence_file, sha256, bytes) = jsonl
        .finish()
        .map_err(|e| OutputError::io("cannot write", evidence_path, e))?;
    let flush = || {
        evidence_file
            .sync_all()
            .map_err(|e| OutputError::io("cannot flush", evidence_path, e))
    };
    let csv = match csv {
        None => {
            flush()?;
            None
        }
        Some(csv) => {
            let (flushed, written) = std::thread::scope(|scope| {
                // The evidence goes to disk while the CSV is written.
                let flushing = std::thread::Builder::new()
                    .name("evidence-flush".into())
                    .spawn_scoped(scope, flush);
                let written = csv.write_csv_file(csv_temporary, options);
                let flushed = match flushing {
                    Ok(thread) => thread
                        .join()
                        .unwrap_or_else(|p| std::panic::resume_unwind(p)),
                    Err(_) => flush(),
                };
                (flushed, written)
            });
            flushed?;
            Some(written?)
        }
    };
    Ok(FinishedFiles {
        evidence: (sha256, bytes),
        csv,
    })
}
