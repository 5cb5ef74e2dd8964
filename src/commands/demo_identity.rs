//! `demo`'s pulls of the victim's Entra ID logs: the sign-ins and the directory audits, from
//! the mock tenant over HTTP with the real client, each into evidence and a manifest that
//! `verify` checks.
//!
//! The demo tenant's records end in 2018 (`mock::generate::default_end`), and the logs keep 30
//! days counted back from now: so these pulls run on a clock set to the tenant's "now"
//! (`http::ShiftedSleeper`, the mock's `AuditSettings::now` the same instant), and the client's
//! own retention, still-growing marker and token expiry apply as they would to a live tenant.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::DemoConfig;
use crate::error::AppError;
use crate::http::{ShiftedSleeper, Sleeper};
use crate::pipeline::PullSummary;

/// One of the demo's Entra ID log pulls, where it wrote.
#[derive(Debug, Clone)]
pub struct PulledLog {
    /// `--source`: `signins` or `directory-audits`.
    pub source: &'static str,
    /// The JSON Lines evidence.
    pub evidence: PathBuf,
    pub manifest: PathBuf,
    pub records: u64,
}

/// The demo's pulls of the victim's Entra ID logs (for triage to read beside the mailbox's).
#[derive(Debug, Clone)]
pub struct IdentityPulls {
    pub signins: PulledLog,
    pub directory_audits: PulledLog,
    /// The tenant's "now" the pulls ran at.
    pub now: DateTime<Utc>,
}

/// The sources pulled, and the name of each one's evidence beside the mailbox's.
const PULLS: [(&str, &str); 2] = [
    ("signins", "signins.jsonl"),
    ("directory-audits", "directory-audits.jsonl"),
];

/// Where the demo writes `mailbox`'s sign-ins and directory audits in `out_dir`.
pub fn evidence_paths(out_dir: &Path, mailbox: &str) -> [PathBuf; 2] {
    PULLS.map(|(_, file)| out_dir.join(format!("{mailbox}.{file}")))
}

/// Pulls `mailbox`'s sign-ins, then its directory audits, from the mock tenant at `url` into
/// `config.out_dir`, on `sleeper`'s waits with its clock set to the tenant's `now`; a line
/// each on standard error unless quiet.
pub async fn pull_identity_logs(
    config: &DemoConfig,
    url: &str,
    mailbox: &str,
    now: DateTime<Utc>,
    sleeper: Arc<dyn Sleeper>,
    interrupt: impl Future<Output = ()> + Clone + Send,
) -> Result<IdentityPulls, AppError> {
    let tenant_time: Arc<dyn Sleeper> = Arc::new(ShiftedSleeper::starting_at(sleeper, now));
    if !config.quiet {
        eprintln!(
            "pulling {mailbox}'s sign-ins and directory audits from the Entra ID logs (Graph \
             beta, signed in), on a clock set to the demo tenant's now, {}: the logs' 30 days \
             of retention are counted back from it, as from today on a live tenant ...",
            crate::source::manifest_time(now)
        );
    }
    let mut pulled = Vec::new();
    for ((source, _), evidence) in PULLS
        .into_iter()
        .zip(evidence_paths(&config.out_dir, mailbox))
    {
        let pull =
            config.identity_pull_config(source, url, mailbox, &evidence, tenant_time.now())?;
        let summary = crate::pipeline::pull_to_destination(
            &pull,
            Arc::clone(&tenant_time),
            interrupt.clone(),
        )
        .await?;
        let log = pulled_log(source, evidence, &summary)?;
        if !config.quiet {
            eprintln!(
                "pulled {} {} of {mailbox} into {} (manifest {})",
                log.records,
                summary.noun,
                log.evidence.display(),
                log.manifest.display()
            );
        }
        pulled.push(log);
    }
    let [signins, directory_audits]: [PulledLog; 2] = pulled
        .try_into()
        .map_err(|_| AppError::Other("the demo pulled fewer Entra ID logs than asked".into()))?;
    Ok(IdentityPulls {
        signins,
        directory_audits,
        now,
    })
}

fn pulled_log(
    source: &'static str,
    evidence: PathBuf,
    summary: &PullSummary,
) -> Result<PulledLog, AppError> {
    let manifest = summary
        .manifest
        .clone()
        .ok_or_else(|| AppError::Other(format!("the demo's {source} pull wrote no manifest")))?;
    Ok(PulledLog {
        source,
        evidence,
        manifest,
        records: summary.records,
    })
}
