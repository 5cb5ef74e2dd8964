//! A test hook: abort the process (as `kill -9` would) at the n-th crash point, so tests can
//! prove that `--resume` recovers from a crash at any of them. Off unless `--crash-at` is given.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct CrashPoints {
    at: Option<u64>,
    passed: AtomicU64,
}

impl CrashPoints {
    pub fn new(at: Option<u64>) -> Self {
        CrashPoints {
            at,
            passed: AtomicU64::new(0),
        }
    }

    /// Whether a crash point was chosen at all.
    pub fn armed(&self) -> bool {
        self.at.is_some()
    }

    /// Counts a crash point; aborts the process if it is the chosen one.
    pub fn point(&self, label: &str) {
        let Some(at) = self.at else { return };
        if self.passed.fetch_add(1, Ordering::SeqCst) + 1 == at {
            eprintln!(
                "o365-activities: crash point {at} ({label}): aborting as asked by --crash-at"
            );
            std::process::abort();
        }
    }
}
