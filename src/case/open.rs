//! Opening a case folder: a new case, or the one a `--resume` continues (with the same
//! parameters, and the range frozen when it started).

use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};

use super::mailbox::remove_stale_temporaries;
use super::MANIFEST;
use super::{relative, CaseManifest, MailboxEntry, MailboxPaths, MailboxStatus, RunParameters};
use crate::error::AppError;
use crate::output::{OutputError, PullCounters, RunLock};

/// The case a run works on, its manifest already written, locked for this run.
pub struct OpenCase {
    pub manifest: CaseManifest,
    pub manifest_path: PathBuf,
    _lock: RunLock,
}

/// The lock file of a case folder (hidden; `verify` ignores it).
pub const LOCK: &str = ".lock";

/// Creates the case folder `case` for `users` pulled with `parameters`, or opens it to
/// resume (`resume`) with the same parameters. A resumed case keeps the range it started with
/// (`OpenCase::manifest.parameters`), so every resume pulls the same snapshot.
pub fn open_case(
    case: &Path,
    resume: bool,
    parameters: &RunParameters,
    users: &[String],
) -> Result<OpenCase, AppError> {
    let case = case.to_path_buf();
    let manifest_path = case.join(MANIFEST);
    // Whether the folder held anything before this run (its lock file aside).
    let occupied = std::fs::read_dir(&case)
        .map(|entries| entries.flatten().any(|e| e.file_name() != LOCK))
        .unwrap_or(false);
    std::fs::create_dir_all(&case).map_err(|e| OutputError::io("cannot create", &case, e))?;
    // Two runs on one case would interleave records and overwrite each other's manifest.
    let lock = RunLock::acquire(&case.join(LOCK), &format!("case {}", case.display()))?;
    remove_stale_temporaries(&case)?;
    let manifest = if manifest_path.exists() {
        if !resume {
            return Err(AppError::Usage(format!(
                "{} already holds a case: pass --resume to continue it, or choose another --out-dir",
                case.display()
            )));
        }
        let manifest = CaseManifest::read(&manifest_path)?;
        refuse_changed_parameters(&manifest.parameters, parameters)?;
        manifest
    } else {
        if occupied {
            return Err(AppError::Usage(format!(
                "{} exists and is not a case folder: choose another --out-dir",
                case.display()
            )));
        }
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        CaseManifest {
            tool: "o365-activities".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            started_at: now.clone(),
            updated_at: now,
            parameters: parameters.clone(),
            mailboxes: users.iter().map(|upn| pending_entry(&case, upn)).collect(),
            files: Vec::new(),
            provenance: Vec::new(),
        }
    };
    // The manifest changes from here on: a signature of its earlier bytes would only mislead
    // (the case is signed again when this run finishes it).
    crate::custody::remove_signature(&manifest_path)?;
    manifest.write(&manifest_path)?;
    Ok(OpenCase {
        manifest,
        manifest_path,
        _lock: lock,
    })
}

fn pending_entry(case: &Path, upn: &str) -> MailboxEntry {
    MailboxEntry {
        mailbox: upn.to_string(),
        folder: relative(case, &MailboxPaths::new(case, upn).folder),
        status: MailboxStatus::Pending,
        reason: None,
        counters: PullCounters::default(),
        files: Vec::new(),
        set_aside: Vec::new(),
        source_log: Vec::new(),
    }
}

fn refuse_changed_parameters(started: &RunParameters, now: &RunParameters) -> Result<(), AppError> {
    // Another source's records would join evidence the manifest says came from the first.
    if started.source != now.source {
        return Err(AppError::Usage(format!(
            "cannot resume: this case was started with --source {} and this run asks for \
             --source {}; resume with --source {}, or start a new case in another --out-dir",
            started.source, now.source, started.source
        )));
    }
    let mut changed = Vec::new();
    let mut check = |name: &str, same: bool| {
        if !same {
            changed.push(name.to_string());
        }
    };
    check(
        "source filters (--operations, --record-types or --content-types)",
        started.source_filters == now.source_filters,
    );
    // A case of an earlier version does not record its tenant: nothing to compare.
    check(
        "--tenant",
        started.tenant.is_none() || started.tenant == now.tenant,
    );
    check("--base-url", started.base_url == now.base_url);
    check("--api-version", started.api_version == now.api_version);
    check("--start", started.start == now.start);
    check("--end", started.end == now.end);
    check("--types", started.types == now.types);
    check("--app-types", started.app_types == now.app_types);
    check("--select", started.select == now.select);
    check("--page-size", started.page_size == now.page_size);
    check("--paging", started.paging == now.paging);
    check("--format", started.format == now.format);
    check("--no-sanitize", started.sanitize == now.sanitize);
    check("--csv-bom", started.csv_bom == now.csv_bom);
    check(
        "--users (the list of mailboxes)",
        started.users_sha256 == now.users_sha256,
    );
    if changed.is_empty() {
        Ok(())
    } else {
        Err(AppError::Usage(format!(
            "cannot resume: this case was started with different {}; resume with the same values, or start a new case in another --out-dir",
            changed.join(", ")
        )))
    }
}
