//! How well a report finds a known attack: what the quality benchmark prints and the tests
//! hold. Given the attacker's addresses and activity Ids (a scenario's truth), it counts what
//! high and medium findings cite.

use std::collections::{HashMap, HashSet};

use super::analyze::{is_logon, logon_source, MailboxReport, Severity};
use super::events::MailboxEvents;

#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    pub attacker_addresses: usize,
    /// Attacker addresses some high or medium finding cites a logon of.
    pub attacker_addresses_found: usize,
    /// Attacker addresses some high finding cites a logon of.
    pub attacker_addresses_high: usize,
    pub attacker_activities: usize,
    /// Attacker activities some high or medium finding cites.
    pub attacker_activities_found: usize,
    /// Addresses that are not the attacker's, cited by a high finding.
    pub legitimate_addresses_high: usize,
    /// Addresses that are not the attacker's, cited by a medium finding and no high one.
    pub legitimate_addresses_medium: usize,
    /// Medium findings that cite no attacker activity.
    pub medium_findings_not_citing_attacker: usize,
    pub high_findings: usize,
    /// High findings that cite at least one attacker activity.
    pub high_findings_citing_attacker: usize,
    /// The kinds of the attacker's activities no high or medium finding cites.
    pub missed: Vec<String>,
}

impl Evaluation {
    /// The share of high findings about the attack (1 when there are none).
    pub fn high_precision(&self) -> f64 {
        if self.high_findings == 0 {
            1.0
        } else {
            self.high_findings_citing_attacker as f64 / self.high_findings as f64
        }
    }
}

/// Counts high or medium findings of a mailbox that holds no attack.
pub fn flagged(report: &MailboxReport) -> usize {
    report
        .findings
        .iter()
        .filter(|f| matches!(f.severity, Severity::High | Severity::Medium))
        .count()
}

pub fn evaluate(
    report: &MailboxReport,
    events: &MailboxEvents,
    attacker_addresses: &[String],
    attacker_activities: &[String],
) -> Evaluation {
    let address_of: HashMap<&str, String> = events
        .events
        .iter()
        .filter(|e| is_logon(e))
        .filter_map(|e| logon_source(e).map(|(ip, _)| (&*e.id, ip)))
        .collect();
    let attacker_ips: HashSet<&str> = attacker_addresses.iter().map(String::as_str).collect();
    let attacker_ids: HashSet<&str> = attacker_activities.iter().map(String::as_str).collect();
    let mut cited_ips: HashMap<&str, Severity> = HashMap::new();
    let mut found: HashSet<&str> = HashSet::new();
    let mut evaluation = Evaluation {
        attacker_addresses: attacker_ips.len(),
        attacker_activities: attacker_ids.len(),
        ..Evaluation::default()
    };
    for finding in &report.findings {
        if finding.severity == Severity::High {
            evaluation.high_findings += 1;
            if finding
                .activity_ids
                .iter()
                .any(|id| attacker_ids.contains(id.as_str()))
            {
                evaluation.high_findings_citing_attacker += 1;
            }
        }
        if finding.severity == Severity::Medium
            && !finding
                .activity_ids
                .iter()
                .any(|id| attacker_ids.contains(id.as_str()))
        {
            evaluation.medium_findings_not_citing_attacker += 1;
        }
        if finding.severity == Severity::Low {
            continue;
        }
        for id in &finding.activity_ids {
            if let Some(ip) = address_of.get(id.as_str()) {
                let cited = cited_ips.entry(ip).or_insert(finding.severity);
                *cited = (*cited).min(finding.severity);
            }
            if let Some(known) = attacker_ids.get(id.as_str()) {
                found.insert(known);
            }
        }
    }
    evaluation.attacker_addresses_found = attacker_ips
        .iter()
        .filter(|ip| cited_ips.contains_key(**ip))
        .count();
    evaluation.attacker_addresses_high = attacker_ips
        .iter()
        .filter(|ip| cited_ips.get(**ip) == Some(&Severity::High))
        .count();
    evaluation.attacker_activities_found = found.len();
    evaluation.legitimate_addresses_high = cited_ips
        .iter()
        .filter(|(ip, s)| **s == Severity::High && !attacker_ips.contains(**ip))
        .count();
    evaluation.legitimate_addresses_medium = cited_ips
        .iter()
        .filter(|(ip, s)| **s == Severity::Medium && !attacker_ips.contains(**ip))
        .count();
    evaluation.missed = events
        .events
        .iter()
        .filter(|e| attacker_ids.contains(&*e.id) && !found.contains(&*e.id))
        .map(|e| format!("{} {}", e.kind, e.app))
        .collect();
    evaluation
}
