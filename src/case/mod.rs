//! A batch case folder: its layout, its manifest, and each mailbox's checkpoint.
//!
//! ```text
//! CASE/manifest.json        run parameters (no secrets), per-mailbox status, counters, file hashes
//! CASE/summary.csv          one row per mailbox
//! CASE/timeline.csv         every mailbox's activities by TimeStamp, with a Mailbox column
//! CASE/mailboxes/<name>/activities.jsonl (.partial while incomplete), activities.csv, checkpoint.json
//! ```

mod checkpoint;
mod finish;
pub mod mailbox;
mod manifest;
mod open;
mod resume;
mod run;
mod schedule;
mod sources;
pub mod timeline;
mod users;
pub mod verify;

pub use crate::pipeline::CrashPoints;
pub use checkpoint::Checkpoint;
pub use finish::{finish_case, report};
pub use manifest::{CaseFile, CaseManifest, MailboxEntry, MailboxStatus, RunParameters};
pub use open::{open_case, OpenCase, LOCK};
pub use schedule::run_mailboxes;
pub use sources::source_cases;
pub use users::{read_users, UserList};

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub const MANIFEST: &str = "manifest.json";
pub const SUMMARY: &str = "summary.csv";
pub const TIMELINE: &str = "timeline.csv";
pub const MAILBOXES: &str = "mailboxes";
pub const EVIDENCE: &str = "activities.jsonl";
pub const CSV: &str = "activities.csv";
pub const CHECKPOINT: &str = "checkpoint.json";
/// The Management Activity API's blobs a feed case has fetched, while it is not complete (so
/// that each mailbox, and a resumed run, reads each blob from the service once).
pub const FEED_BLOBS: &str = "feed-blobs";

/// The longest folder name kept as it is: file systems allow 255 bytes, and a name this short
/// leaves room for the files' own names in paths.
const MAX_FOLDER_NAME: usize = 100;

/// A file-system-safe, unique folder name for a mailbox: the lower-cased UPN, with any other
/// character than letters, digits, `@ . _ -` replaced and a short digest appended when it was
/// (or when the name was too long and cut).
pub fn mailbox_folder_name(upn: &str) -> String {
    let lower = upn.to_lowercase();
    let safe: String = lower
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe == lower && !safe.starts_with('.') && safe.len() <= MAX_FOLDER_NAME {
        safe
    } else {
        let digest = hex::encode(Sha256::digest(lower.as_bytes()));
        let kept: String = safe
            .trim_start_matches('.')
            .chars()
            .take(MAX_FOLDER_NAME - 9)
            .collect();
        format!("{kept}-{}", &digest[..8])
    }
}

/// Paths of one mailbox within a case.
#[derive(Debug, Clone)]
pub struct MailboxPaths {
    pub folder: PathBuf,
    pub evidence: PathBuf,
    pub partial: PathBuf,
    pub csv: PathBuf,
    pub checkpoint: PathBuf,
}

impl MailboxPaths {
    pub fn new(case: &Path, upn: &str) -> Self {
        let folder = case.join(MAILBOXES).join(mailbox_folder_name(upn));
        MailboxPaths {
            evidence: folder.join(EVIDENCE),
            partial: folder.join(format!("{EVIDENCE}.partial")),
            csv: folder.join(CSV),
            checkpoint: folder.join(CHECKPOINT),
            folder,
        }
    }
}

/// Path of `file` relative to the case folder, with `/` separators (as the manifest records it).
pub fn relative(case: &Path, file: &Path) -> String {
    file.strip_prefix(case)
        .unwrap_or(file)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_are_safe_and_unique() {
        assert_eq!(
            mailbox_folder_name("Victim@Contoso.com"),
            "victim@contoso.com"
        );
        let odd = mailbox_folder_name("o'brien/..@x.com");
        assert!(odd.starts_with("o_brien_..@x.com-"), "{odd}");
        assert_ne!(
            mailbox_folder_name("a b@x.com"),
            mailbox_folder_name("a_b@x.com")
        );
        assert!(!mailbox_folder_name("..@x").starts_with('.'));
        let long = format!("{}@contoso.com", "a".repeat(300));
        let (first, second) = (
            mailbox_folder_name(&long),
            mailbox_folder_name(&format!("b{long}")),
        );
        assert!(first.len() <= MAX_FOLDER_NAME && second.len() <= MAX_FOLDER_NAME);
        assert_ne!(first, second);
    }
}
