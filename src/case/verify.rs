//! Verifying what was written: every hash of a case (or of one pull) recomputed against its
//! manifest, and every file accounted for.

use std::collections::HashSet;
use std::path::Path;

use super::{relative, CaseManifest, MailboxStatus, FEED_BLOBS, LOCK, MANIFEST};
use crate::error::AppError;
use crate::output::{hash_file, Manifest, PullStatus};

/// What verification found.
#[derive(Debug, Default)]
pub struct Verification {
    pub verified: usize,
    pub missing: Vec<String>,
    pub altered: Vec<String>,
    pub extra: Vec<String>,
    /// Files of mailboxes still in progress (partial evidence, checkpoints): not vouched for.
    pub in_progress: Vec<String>,
    /// Damaged partial evidence a resumed run kept aside (named in the manifest): not evidence.
    pub set_aside: Vec<String>,
    /// What keeps the result from being complete (mailboxes not finished, a partial pull).
    pub not_complete: Vec<String>,
}

impl Verification {
    pub fn is_intact(&self) -> bool {
        self.missing.is_empty() && self.altered.is_empty() && self.extra.is_empty()
    }
}

/// Checks one listed file: verified, missing or altered.
fn check_file(result: &mut Verification, path: &Path, name: &str, sha256: &str, bytes: u64) {
    if !path.exists() {
        result.missing.push(name.to_string());
        return;
    }
    match hash_file(path) {
        Ok(digest) if digest.sha256 == sha256 && digest.bytes == bytes => result.verified += 1,
        Ok(digest) => result.altered.push(format!(
            "{name} (sha256 {} bytes {}, expected {sha256} bytes {bytes})",
            digest.sha256, digest.bytes
        )),
        Err(error) => result.altered.push(format!("{name} (unreadable: {error})")),
    }
}

pub fn verify_case(case: &Path) -> Result<Verification, AppError> {
    let manifest_path = case.join(MANIFEST);
    if !manifest_path.exists() {
        // Nothing in the folder can be vouched for: as a deleted manifest, it is missing.
        return Err(AppError::VerifyFailed(format!(
            "{} has no {MANIFEST}: its manifest is missing (deleted?), so nothing in it can be              verified; if this is not a case folder, give one written by batch, or a pull's              .manifest.json",
            case.display()
        )));
    }
    let text = std::fs::read(&manifest_path).map_err(|e| {
        AppError::VerifyFailed(format!(
            "the manifest cannot be read: cannot read {}: {e}",
            manifest_path.display()
        ))
    })?;
    verify_case_manifest(case, &text)
}

/// Verifies the case in `case` against the manifest text `manifest` (read once by the caller,
/// so the bytes whose signature was checked are the bytes the files are checked against).
pub fn verify_case_manifest(case: &Path, manifest: &[u8]) -> Result<Verification, AppError> {
    let manifest: CaseManifest = serde_json::from_slice(manifest).map_err(|e| {
        AppError::VerifyFailed(format!(
            "the manifest cannot be read: cannot parse {}: {e}",
            case.join(MANIFEST).display()
        ))
    })?;
    let mut result = Verification::default();
    let mut listed = HashSet::new();
    for file in manifest.all_files() {
        listed.insert(file.path.clone());
        check_file(
            &mut result,
            &case.join(&file.path),
            &file.path,
            &file.sha256,
            file.bytes,
        );
    }
    let set_aside: HashSet<&String> = manifest
        .mailboxes
        .iter()
        .flat_map(|m| &m.set_aside)
        .collect();
    let in_progress: Vec<String> = manifest
        .mailboxes
        .iter()
        .filter(|m| m.status != MailboxStatus::Complete)
        .map(|m| m.folder.clone())
        .collect();
    result.not_complete = manifest
        .mailboxes
        .iter()
        .filter(|m| m.status != MailboxStatus::Complete)
        .map(|m| format!("{} is {}", m.mailbox, m.status.as_str()))
        .collect();
    for path in walk(case)? {
        let name = relative(case, &path);
        // The manifest's signature vouches for the manifest, not listed in it.
        if name == MANIFEST
            || name == LOCK
            || name == format!("{MANIFEST}.sig")
            || listed.contains(&name)
        {
            continue;
        }
        if set_aside.contains(&name) {
            result.set_aside.push(name);
        } else if in_progress
            .iter()
            .any(|folder| name.starts_with(&format!("{folder}/")))
            || (!result.not_complete.is_empty() && name.starts_with(&format!("{FEED_BLOBS}/")))
        {
            result.in_progress.push(name);
        } else {
            result.extra.push(name);
        }
    }
    Ok(result)
}

/// Verifies one pull from its manifest (`<output>.manifest.json` or a partial one).
pub fn verify_pull(manifest_path: &Path) -> Result<Verification, AppError> {
    let text = std::fs::read(manifest_path).map_err(|e| {
        AppError::VerifyFailed(format!(
            "the manifest cannot be read: cannot read {}: {e}",
            manifest_path.display()
        ))
    })?;
    verify_pull_manifest(manifest_path, &text)
}

/// Verifies one pull against the manifest text `manifest`, read from `manifest_path`.
pub fn verify_pull_manifest(
    manifest_path: &Path,
    manifest: &[u8],
) -> Result<Verification, AppError> {
    let manifest: Manifest = serde_json::from_slice(manifest).map_err(|e| {
        AppError::VerifyFailed(format!(
            "the manifest cannot be read: cannot parse {}: {e}",
            manifest_path.display()
        ))
    })?;
    let folder = manifest_path.parent().unwrap_or(Path::new("."));
    let mut result = Verification::default();
    for file in &manifest.files {
        check_file(
            &mut result,
            &folder.join(&file.name),
            &file.name,
            &file.sha256,
            file.bytes,
        );
    }
    if manifest.status != PullStatus::Complete {
        result.not_complete.push(format!(
            "the pull is incomplete: {}",
            manifest.reason.as_deref().unwrap_or("no reason recorded")
        ));
    }
    Ok(result)
}

fn walk(folder: &Path) -> Result<Vec<std::path::PathBuf>, AppError> {
    let mut files = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| AppError::Other(format!("cannot list {}: {e}", dir.display())))?;
        for entry in entries {
            let path = entry
                .map_err(|e| AppError::Other(format!("cannot list {}: {e}", dir.display())))?
                .path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}
