//! Where a pull's files go, and how they get there: written under temporary names, renamed
//! into place only when complete, kept under `.partial` names when not, never clobbering an
//! earlier result without `--force`.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Persisted in case manifests by these names: renaming a variant breaks `--resume` of old
/// cases (`tests/integration/old_case.rs` resumes one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Flattened CSV (plus the JSON Lines it was derived from, beside it)
    Csv,
    /// JSON Lines: each record exactly as received
    Jsonl,
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{path} already exists: choose another --output, or pass --force to replace it once the new pull completes")]
    Exists { path: String },
    #[error("cannot tell the format of {path:?} from its extension: name it .csv, .jsonl or .ndjson, or pass --format csv|jsonl")]
    UnknownFormat { path: String },
    #[error("--output {path:?} would be overwritten by the CSV's own JSON Lines evidence file: name the CSV output .csv")]
    EvidenceClash { path: String },
    #[error("{path} is not a regular file (a folder or a device, say): give --output a file path")]
    NotAFile { path: String },
    #[error("the folder {path} does not exist: create it first, or choose another --output")]
    NoFolder { path: String },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        source: io::Error,
    },
}

impl OutputError {
    pub fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        OutputError::Io {
            action,
            path: path.display().to_string(),
            source,
        }
    }
}

/// A written file's identity, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FileDigest {
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
}

/// The files of one pull to disk (stdout pulls have no plan: nothing to rename or hash).
#[derive(Debug, Clone)]
pub struct OutputPlan {
    pub format: OutputFormat,
    /// The file named by `--output`.
    pub primary: PathBuf,
    /// The JSON Lines evidence: the primary itself for JSON Lines, `<stem>.jsonl` for CSV.
    pub evidence: PathBuf,
    pub manifest: PathBuf,
}

impl OutputFormat {
    /// The format an output path implies, if any.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(OutputFormat::Csv),
            "jsonl" | "ndjson" => Some(OutputFormat::Jsonl),
            _ => None,
        }
    }
}

impl OutputPlan {
    /// Plans the files for `--output path`; refuses to replace existing ones unless `force`.
    pub fn new(
        path: &Path,
        format: Option<OutputFormat>,
        force: bool,
    ) -> Result<Self, OutputError> {
        let format = format
            .or_else(|| OutputFormat::from_path(path))
            .ok_or_else(|| OutputError::UnknownFormat {
                path: path.display().to_string(),
            })?;
        let evidence = match format {
            OutputFormat::Jsonl => path.to_path_buf(),
            OutputFormat::Csv => path.with_extension("jsonl"),
        };
        if format == OutputFormat::Csv && evidence == path {
            return Err(OutputError::EvidenceClash {
                path: path.display().to_string(),
            });
        }
        let plan = OutputPlan {
            format,
            primary: path.to_path_buf(),
            evidence,
            manifest: with_suffix(path, ".manifest.json"),
        };
        let folder = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        if !folder.is_dir() {
            return Err(OutputError::NoFolder {
                path: folder.display().to_string(),
            });
        }
        for existing in plan.final_paths() {
            // Not even --force replaces a folder or a device: the pull would end in a failed
            // rename, or replace what is not a file.
            match std::fs::symlink_metadata(existing) {
                Ok(meta) if !meta.is_file() => {
                    return Err(OutputError::NotAFile {
                        path: existing.display().to_string(),
                    })
                }
                Ok(_) if !force => {
                    return Err(OutputError::Exists {
                        path: existing.display().to_string(),
                    })
                }
                _ => {}
            }
        }
        Ok(plan)
    }

    fn final_paths(&self) -> Vec<&Path> {
        let mut paths = vec![self.primary.as_path(), self.manifest.as_path()];
        if self.evidence != self.primary {
            paths.push(&self.evidence);
        }
        paths
    }

    /// Where a file is written before it is complete: a hidden name in the same folder, so the
    /// final rename is atomic.
    pub fn temporary(final_path: &Path) -> PathBuf {
        let name = final_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        final_path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
    }

    /// Where an incomplete file is kept: its final name plus `.partial`.
    pub fn partial(final_path: &Path) -> PathBuf {
        with_suffix(final_path, ".partial")
    }

    /// The lock a run holds on this output: a hidden file beside its evidence, which every
    /// output that writes that evidence shares (`x.csv` and `x.jsonl` both write `x.jsonl`).
    pub fn lock_path(&self) -> PathBuf {
        let name = self
            .evidence
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.evidence.with_file_name(format!(".{name}.lock"))
    }

    /// The manifest of an incomplete pull, beside the partial files.
    pub fn partial_manifest(&self) -> PathBuf {
        with_suffix(&Self::partial(&self.primary), ".manifest.json")
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates a temporary file of this process: new (never an existing file, nor through a
/// planted symlink) and readable by its owner alone, since it holds mailbox data.
pub fn create_private(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Removes the temporaries an earlier run left beside `final_path` (hidden names that start
/// with `.<its name>.` and end in `.tmp` or `.cells`). Only to be called while holding the
/// lock on that output, so no other run's temporaries can be among them.
pub fn remove_leftovers(final_path: &Path) -> io::Result<Vec<PathBuf>> {
    let Some(name) = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
    else {
        return Ok(Vec::new());
    };
    let folder = match final_path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let prefix = format!(".{name}.");
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(folder)?.flatten() {
        let entry_name = entry.file_name().to_string_lossy().into_owned();
        if entry_name.starts_with(&prefix)
            && (entry_name.ends_with(".tmp") || entry_name.ends_with(".cells"))
        {
            std::fs::remove_file(entry.path())?;
            removed.push(entry.path());
        }
    }
    Ok(removed)
}

/// Writes a report to standard output; a reader that stopped early (`| head`) ends the command
/// quietly, as for any Unix filter.
pub fn write_stdout(text: &str) -> Result<(), OutputError> {
    write_stdout_with(|out| out.write_all(text.as_bytes()))
}

/// Streams a report to standard output, as `write_stdout` does.
pub fn write_stdout_with(
    write: impl FnOnce(&mut dyn io::Write) -> io::Result<()>,
) -> Result<(), OutputError> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    match write(&mut out).and_then(|()| io::Write::flush(&mut out)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(OutputError::io(
            "cannot write to",
            Path::new("standard output"),
            e,
        )),
    }
}

/// Flushes a finished temporary file to disk and renames it into place.
pub fn commit(temporary: &Path, final_path: &Path) -> Result<(), OutputError> {
    File::open(temporary)
        .and_then(|f| f.sync_all())
        .map_err(|e| OutputError::io("cannot flush", temporary, e))?;
    std::fs::rename(temporary, final_path)
        .map_err(|e| OutputError::io("cannot rename into", final_path, e))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, flushed, renamed.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    write_atomically_with(path, |out| io::Write::write_all(out, bytes))
}

/// Streams a file into place as `write_atomically` does: nothing appears at `path` until
/// everything was written.
///
/// Each writer has a temporary of its own (`.<name>.<random>.tmp`, private, created anew), so
/// two writers of one file at once (the mailboxes of a feed case caching the same blob) do not
/// clash: each renames a whole file into place, and the last one stays.
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut io::BufWriter<File>) -> io::Result<()>,
) -> Result<(), OutputError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // Removed when dropped, so a failed write leaves nothing behind.
    let (file, temporary) = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(folder)
        .map_err(|e| OutputError::io("cannot create a temporary file beside", path, e))?
        .into_parts();
    let mut out = io::BufWriter::new(file);
    let written = write(&mut out).and_then(|()| io::Write::flush(&mut out));
    drop(out);
    if let Err(e) = written {
        return Err(OutputError::io("cannot write", &temporary, e));
    }
    commit(&temporary, path)?;
    // Renamed into place: there is nothing left to remove.
    let _ = temporary.keep();
    Ok(())
}

/// SHA-256 and size of a file on disk.
pub fn hash_file(path: &Path) -> Result<FileDigest, OutputError> {
    let mut file = File::open(path).map_err(|e| OutputError::io("cannot open", path, e))?;
    let mut hasher = Sha256::new();
    // Below the allocator's mmap threshold: a larger buffer is mapped and faulted in afresh
    // for every file, which costs more than the extra reads.
    let mut buffer = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| OutputError::io("cannot read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    Ok(FileDigest {
        path: path.to_path_buf(),
        sha256: hex::encode(hasher.finalize()),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_are_new_private_files_never_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".o.jsonl.1.tmp");
        create_private(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(
            create_private(&path).is_err(),
            "an existing file is never reused"
        );
        #[cfg(unix)]
        {
            let victim = dir.path().join("victim");
            std::fs::write(&victim, "precious").unwrap();
            let planted = dir.path().join(".planted.tmp");
            std::os::unix::fs::symlink(&victim, &planted).unwrap();
            assert!(create_private(&planted).is_err());
            assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        }
    }

    #[test]
    fn plans_csv_with_evidence_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let plan = OutputPlan::new(&dir.path().join("a.csv"), None, false).unwrap();
        assert_eq!(plan.format, OutputFormat::Csv);
        assert_eq!(plan.evidence, dir.path().join("a.jsonl"));
        assert_eq!(plan.manifest, dir.path().join("a.csv.manifest.json"));
        assert_eq!(
            plan.partial_manifest(),
            dir.path().join("a.csv.partial.manifest.json")
        );
    }

    #[test]
    fn refuses_unknown_formats_clashes_and_clobbering() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            OutputPlan::new(&dir.path().join("a.txt"), None, false),
            Err(OutputError::UnknownFormat { .. })
        ));
        assert!(matches!(
            OutputPlan::new(&dir.path().join("a.jsonl"), Some(OutputFormat::Csv), false),
            Err(OutputError::EvidenceClash { .. })
        ));
        std::fs::write(dir.path().join("a.jsonl"), "x").unwrap();
        assert!(matches!(
            OutputPlan::new(&dir.path().join("a.csv"), None, false),
            Err(OutputError::Exists { .. })
        ));
        assert!(OutputPlan::new(&dir.path().join("a.csv"), None, true).is_ok());
    }
}
