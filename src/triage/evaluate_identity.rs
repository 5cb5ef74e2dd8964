//! How well session triage finds a planted identity attack: what the identity quality
//! benchmark prints (`benches/identity_quality.rs`) and its test holds. The scenario is
//! written as the tool's evidence files (the audit log's records, the sign-ins and directory
//! audits as pull writes them), triaged through the same planning and analysis as `triage`,
//! and counted against the scenario's truth.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::analyze::{MailboxReport, Settings, Severity};
use super::category::Category;
use crate::error::AppError;
use crate::mock::generate::identity_scenario::{IdentityScenario, IdentityTruth};

/// What the benchmark prints per seed (targets: the first four all found, the last two 0).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdentityEvaluation {
    pub attacker_sessions: usize,
    pub attacker_sessions_high: usize,
    pub replay_addresses: usize,
    pub replay_addresses_high: usize,
    pub persistence: usize,
    pub persistence_high: usize,
    pub read_messages: usize,
    pub read_messages_listed: usize,
    pub legit_sessions: usize,
    /// Legitimate sessions used from several addresses that a report flags high or medium.
    pub legit_sessions_flagged: usize,
    pub spray_addresses: usize,
    /// Spraying addresses a high finding names.
    pub spray_high: usize,
    /// Sessions flagged high or medium that are not the attacker's (any confounder, the
    /// multi-address ones above among them).
    pub other_sessions_flagged: usize,
}

impl IdentityEvaluation {
    /// Whether every target is met.
    pub fn meets_targets(&self) -> bool {
        self.attacker_sessions_high == self.attacker_sessions
            && self.replay_addresses_high == self.replay_addresses
            && self.persistence_high == self.persistence
            && self.read_messages_listed == self.read_messages
            && self.legit_sessions_flagged == 0
            && self.spray_high == 0
            && self.other_sessions_flagged == 0
    }
}

/// Writes `scenario` as evidence files in `folder`: `audit-log.jsonl` (Unified Audit Log
/// records), `signins.jsonl`, `directory-audits.jsonl`.
pub fn write_evidence(
    scenario: &IdentityScenario,
    folder: &Path,
) -> Result<Vec<PathBuf>, AppError> {
    let files = [
        ("audit-log.jsonl", &scenario.audit_records),
        ("signins.jsonl", &scenario.signins),
        ("directory-audits.jsonl", &scenario.directory_audits),
    ];
    let mut paths = Vec::new();
    for (name, records) in files {
        let path = folder.join(name);
        let write = || -> std::io::Result<()> {
            let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
            for record in records.iter() {
                serde_json::to_writer(&mut out, record)?;
                out.write_all(b"\n")?;
            }
            out.flush()
        };
        write().map_err(|e| AppError::Usage(format!("cannot write {}: {e}", path.display())))?;
        paths.push(path);
    }
    Ok(paths)
}

/// Triage of `inputs`, a report a mailbox, as `triage` runs it.
pub fn triage_files(
    inputs: &[PathBuf],
    settings: &Settings,
) -> Result<Vec<MailboxReport>, AppError> {
    let plan = super::plan_triage(inputs)?;
    plan.mailboxes
        .iter()
        .map(|input| super::analyze_with_identity(&input.load()?, settings, &plan.identity))
        .collect()
}

/// Counts what the reports found of `truth`.
pub fn evaluate_identity(reports: &[MailboxReport], truth: &IdentityTruth) -> IdentityEvaluation {
    let sessions = || reports.iter().flat_map(|r| r.sessions.iter());
    let high_sessions: BTreeSet<&str> = sessions()
        .filter(|s| s.severity == Severity::High)
        .map(|s| s.session.as_str())
        .collect();
    let flagged_sessions: BTreeSet<&str> = sessions().map(|s| s.session.as_str()).collect();
    let high_replay: BTreeSet<&str> = sessions()
        .filter(|s| s.severity == Severity::High)
        .flat_map(|s| s.replay_addresses.iter().map(String::as_str))
        .collect();
    let high_ids: BTreeSet<&str> = reports
        .iter()
        .flat_map(|r| r.findings.iter())
        .filter(|f| f.severity == Severity::High)
        .flat_map(|f| f.activity_ids.iter().map(String::as_str))
        .collect();
    let listed: BTreeSet<&str> = reports
        .iter()
        .flat_map(|r| r.tables.iter())
        .filter(|t| t.name == "exposure")
        .flat_map(|t| t.rows.iter().map(|row| &*row[0]))
        .collect();
    let spray_high = truth
        .spray_addresses
        .iter()
        .filter(|address| {
            reports.iter().flat_map(|r| r.findings.iter()).any(|f| {
                f.severity == Severity::High
                    && f.category == Category::Spraying
                    && f.title.contains(address.as_str())
            })
        })
        .count();
    let count = |items: &[String], found: &BTreeSet<&str>| {
        items.iter().filter(|i| found.contains(i.as_str())).count()
    };
    IdentityEvaluation {
        attacker_sessions: truth.attacker_sessions.len(),
        attacker_sessions_high: count(&truth.attacker_sessions, &high_sessions),
        replay_addresses: truth.replay_addresses.len(),
        replay_addresses_high: count(&truth.replay_addresses, &high_replay),
        persistence: truth.persistence_ids.len(),
        persistence_high: count(&truth.persistence_ids, &high_ids),
        read_messages: truth.read_message_ids.len(),
        read_messages_listed: count(&truth.read_message_ids, &listed),
        legit_sessions: truth.legit_multi_address_sessions.len(),
        legit_sessions_flagged: count(&truth.legit_multi_address_sessions, &flagged_sessions),
        spray_addresses: truth.spray_addresses.len(),
        spray_high,
        other_sessions_flagged: flagged_sessions
            .iter()
            .filter(|s| !truth.attacker_sessions.iter().any(|a| a == *s))
            .count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::generate::identity_scenario::{identity_scenario, IdentityFamily};
    use crate::triage::geo::GeoLookup;

    #[test]
    fn the_standard_family_meets_every_target() {
        let scenario = identity_scenario(IdentityFamily::Standard, 3);
        let dir = tempfile::tempdir().unwrap();
        let files = write_evidence(&scenario, dir.path()).unwrap();
        let settings = Settings {
            home_countries: Vec::new(),
            keywords: Vec::new(),
            geo: GeoLookup::default(),
        };
        let reports = triage_files(&files, &settings).unwrap();
        let evaluation = evaluate_identity(&reports, &scenario.truth);
        assert!(evaluation.attacker_sessions > 0 && evaluation.read_messages > 0);
        assert!(evaluation.meets_targets(), "{evaluation:?}");
    }
}
