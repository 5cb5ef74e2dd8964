//! An exclusive lock on what a run writes (a case folder, a pull's output), held for the whole
//! run: two runs on the same files would interleave records and overwrite each other's
//! manifests. It is an OS file lock, so the kernel releases it when the process ends, however
//! it ends (a crash or `kill -9` leaves no stale lock behind).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::Path;

/// A held lock; released when dropped or when the process ends.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "{what} is in use by another o365-activities run (process {holder}): wait for it to \
         finish or stop it, then run again"
    )]
    Held { what: String, holder: String },
    #[error("cannot lock {path}: {source}")]
    Io { path: String, source: io::Error },
}

impl RunLock {
    /// Takes the lock at `lock_path` (created if need be) for `what`, or says who holds it. The
    /// lock file is left in place afterwards: removing it would let a later run lock a new file
    /// while an earlier one still holds the old.
    pub fn acquire(lock_path: &Path, what: &str) -> Result<Self, LockError> {
        let failed = |source| LockError::Io {
            path: lock_path.display().to_string(),
            source,
        };
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(lock_path).map_err(failed)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(lock_path)
                    .ok()
                    .map(|text| text.trim().to_string())
                    .filter(|text| !text.is_empty())
                    .unwrap_or_else(|| "unknown".into());
                return Err(LockError::Held {
                    what: what.to_string(),
                    holder,
                });
            }
            Err(TryLockError::Error(source)) => return Err(failed(source)),
        }
        // Who holds it, for the message a second run prints.
        file.set_len(0)
            .and_then(|()| write!(file, "{}", std::process::id()))
            .map_err(failed)?;
        Ok(RunLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        let first = RunLock::acquire(&path, "the case").unwrap();
        let refused = RunLock::acquire(&path, "the case").unwrap_err().to_string();
        assert!(
            refused.contains(&std::process::id().to_string()) && refused.contains("the case"),
            "{refused}"
        );
        drop(first);
        RunLock::acquire(&path, "the case").unwrap();
    }
}
