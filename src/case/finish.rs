//! Finishing a case: summary.csv and timeline.csv, recorded in the manifest; and the closing
//! table on stderr.

use std::collections::BTreeMap;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};

use super::mailbox::{remove_stale_temporaries, CaseRun};
use super::timeline::{union_of_headers, write_timeline};
use super::{CaseFile, CaseManifest, MailboxEntry, MailboxPaths, MailboxStatus};
use super::{FEED_BLOBS, MANIFEST, SUMMARY, TIMELINE};
use crate::error::AppError;
use crate::output::{commit, create_private, HashingWriter, OutputError, OutputPlan};

/// Writes summary.csv and timeline.csv and records them in the manifest.
pub fn finish_case(
    context: &CaseRun,
    manifest: &mut CaseManifest,
    manifest_path: &Path,
) -> Result<(), AppError> {
    remove_stale_temporaries(&context.case)?;
    let summary_path = context.case.join(SUMMARY);
    let temporary = OutputPlan::temporary(&summary_path);
    let file =
        create_private(&temporary).map_err(|e| OutputError::io("cannot create", &temporary, e))?;
    let mut hashing = HashingWriter::new(BufWriter::new(file));
    {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(&mut hashing);
        let header = [
            "Mailbox",
            "Status",
            "Reason",
            "Records",
            "Pages",
            "Requests",
            "Retries",
            "ThrottleWaits",
            "ThrottleWaitSeconds",
            "EvidenceSha256",
            "CsvSha256",
        ];
        let write = |w: &mut csv::Writer<_>, row: &[String]| {
            w.write_record(row)
                .map_err(|e| OutputError::io("cannot write", &temporary, e.into()))
        };
        write(&mut writer, &header.map(String::from))?;
        for m in &manifest.mailboxes {
            let sha = |suffix: &str| {
                m.files
                    .iter()
                    .find(|f| f.path.ends_with(suffix))
                    .map(|f| f.sha256.clone())
                    .unwrap_or_default()
            };
            write(
                &mut writer,
                &[
                    m.mailbox.clone(),
                    m.status.as_str().into(),
                    m.reason.clone().unwrap_or_default(),
                    m.counters.records.to_string(),
                    m.counters.pages.to_string(),
                    m.counters.requests.to_string(),
                    m.counters.retries.to_string(),
                    m.counters.throttle_waits.to_string(),
                    format!("{:.3}", m.counters.throttle_wait_seconds),
                    sha(".jsonl"),
                    sha(".csv"),
                ],
            )?;
        }
        writer
            .flush()
            .map_err(|e| OutputError::io("cannot write", &temporary, e))?;
    }
    let (buffered, summary_sha, summary_bytes) = hashing.finish();
    buffered
        .into_inner()
        .map_err(|e| OutputError::io("cannot write", &temporary, e.into_error()))?;
    commit(&temporary, &summary_path)?;

    // Each complete mailbox's CSV was derived from its whole evidence, so together their
    // headers name every column of the timeline (which checks this as it goes).
    let (evidence, mailbox_csvs): (Vec<(String, PathBuf)>, Vec<PathBuf>) = manifest
        .mailboxes
        .iter()
        .filter(|m| m.status == MailboxStatus::Complete)
        .map(|m| {
            let paths = MailboxPaths::new(&context.case, &m.mailbox);
            ((m.mailbox.clone(), paths.evidence), paths.csv)
        })
        .unzip();
    let timeline_path = context.case.join(TIMELINE);
    let (timeline_sha, timeline_bytes) = write_timeline(
        &evidence,
        union_of_headers(&mailbox_csvs),
        &timeline_path,
        &context.case,
        context.query.source.descriptor().record_shape,
        crate::output::CsvOptions {
            sanitize: context.sanitize,
            bom: context.csv_bom,
        },
    )?;
    manifest.files = vec![
        CaseFile {
            path: SUMMARY.into(),
            sha256: summary_sha,
            bytes: summary_bytes,
        },
        CaseFile {
            path: TIMELINE.into(),
            sha256: timeline_sha,
            bytes: timeline_bytes,
        },
    ];
    manifest.updated_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    manifest.write(manifest_path)?;
    // A complete case needs its blob cache no more: every record it kept is in the evidence.
    let cache = context.case.join(FEED_BLOBS);
    let complete = manifest
        .mailboxes
        .iter()
        .all(|m| m.status == MailboxStatus::Complete);
    if complete && cache.exists() {
        std::fs::remove_dir_all(&cache)
            .map_err(|e| OutputError::io("cannot remove the blob cache", &cache, e))?;
    }
    Ok(())
}

/// The final summary table (also under --quiet), and the exit status.
pub fn report(manifest: &CaseManifest, case: &Path) -> Result<(), AppError> {
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for m in &manifest.mailboxes {
        *by_status.entry(m.status.as_str()).or_default() += 1;
    }
    let records: u64 = manifest.mailboxes.iter().map(|m| m.counters.records).sum();
    let not_complete: Vec<&MailboxEntry> = manifest
        .mailboxes
        .iter()
        .filter(|m| m.status != MailboxStatus::Complete)
        .collect();
    let width = not_complete
        .iter()
        .map(|m| m.mailbox.len())
        .max()
        .unwrap_or(0);
    for m in &not_complete {
        eprintln!(
            "{:<10} {:<width$}  {}",
            m.status.as_str(),
            m.mailbox,
            m.reason.as_deref().unwrap_or("")
        );
    }
    let counts: Vec<String> = by_status.iter().map(|(s, n)| format!("{n} {s}")).collect();
    eprintln!(
        "case {}: {} mailboxes ({}), {records} records; manifest {}",
        case.display(),
        manifest.mailboxes.len(),
        counts.join(", "),
        case.join(MANIFEST).display()
    );
    if not_complete.is_empty() {
        Ok(())
    } else {
        Err(AppError::Incomplete(format!(
            "{} of {} mailboxes are not complete (listed above); fix the cause and run again with --resume",
            not_complete.len(),
            manifest.mailboxes.len()
        )))
    }
}
