//! `verify`: recompute every hash of a case and report what does not match.

use std::collections::HashSet;
use std::path::Path;

use crate::case::{relative, CaseManifest, MailboxStatus, MANIFEST};
use crate::cli::VerifyArgs;
use crate::error::AppError;
use crate::output::hash_file;

/// What verification found.
#[derive(Debug, Default)]
pub struct Verification {
    pub verified: usize,
    pub missing: Vec<String>,
    pub altered: Vec<String>,
    pub extra: Vec<String>,
    /// Files of mailboxes still in progress (partial evidence, checkpoints): not vouched for.
    pub in_progress: Vec<String>,
}

impl Verification {
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.altered.is_empty() && self.extra.is_empty()
    }
}

pub fn verify_case(case: &Path) -> Result<Verification, AppError> {
    let manifest_path = case.join(MANIFEST);
    if !manifest_path.exists() {
        return Err(AppError::Usage(format!(
            "{} has no {MANIFEST}: is it a case folder written by batch?",
            case.display()
        )));
    }
    let manifest = CaseManifest::read(&manifest_path)?;
    let mut result = Verification::default();
    let mut listed = HashSet::new();
    for file in manifest.all_files() {
        listed.insert(file.path.clone());
        let path = case.join(&file.path);
        if !path.exists() {
            result.missing.push(file.path.clone());
            continue;
        }
        let digest = hash_file(&path)?;
        if digest.sha256 == file.sha256 && digest.bytes == file.bytes {
            result.verified += 1;
        } else {
            result.altered.push(format!(
                "{} (sha256 {} bytes {}, expected {} bytes {})",
                file.path, digest.sha256, digest.bytes, file.sha256, file.bytes
            ));
        }
    }
    let in_progress: Vec<String> = manifest
        .mailboxes
        .iter()
        .filter(|m| m.status != MailboxStatus::Complete)
        .map(|m| m.folder.clone())
        .collect();
    for path in walk(case)? {
        let name = relative(case, &path);
        if name == MANIFEST || listed.contains(&name) {
            continue;
        }
        if in_progress
            .iter()
            .any(|folder| name.starts_with(&format!("{folder}/")))
        {
            result.in_progress.push(name);
        } else {
            result.extra.push(name);
        }
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

pub fn run(args: &VerifyArgs, quiet: bool) -> Result<(), AppError> {
    let result = verify_case(&args.case)?;
    for (label, list) in [
        ("MISSING", &result.missing),
        ("ALTERED", &result.altered),
        ("EXTRA", &result.extra),
    ] {
        for item in list {
            println!("{label}  {item}");
        }
    }
    if !quiet {
        for item in &result.in_progress {
            println!("UNVERIFIED  {item} (mailbox not complete)");
        }
        println!("{} files verified", result.verified);
    }
    if result.is_clean() {
        Ok(())
    } else {
        Err(AppError::VerifyFailed(format!(
            "{}: {} missing, {} altered, {} extra files",
            args.case.display(),
            result.missing.len(),
            result.altered.len(),
            result.extra.len()
        )))
    }
}
