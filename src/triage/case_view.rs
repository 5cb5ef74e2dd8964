//! A case, not only a mailbox: an overview of every mailbox triaged together, and what they
//! share (addresses, networks' user agents, a lure's sender and attachment), flagged ones first,
//! so a campaign's reach shows at a glance.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::analyze::{MailboxReport, Severity, Table};

#[derive(Debug, Clone, Serialize)]
pub struct MailboxSummary {
    pub mailbox: String,
    pub activities: usize,
    pub first: Option<String>,
    pub last: Option<String>,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
}

impl MailboxSummary {
    /// With a high or medium finding: shown in full in a case's summary report.
    pub fn flagged(&self) -> bool {
        self.high + self.medium > 0
    }
}

/// A value seen in several mailboxes.
#[derive(Debug, Clone, Serialize)]
pub struct Shared {
    /// `address`, `user-agent`, `sender` or `attachment`.
    pub kind: &'static str,
    pub value: String,
    pub mailboxes: Vec<String>,
    /// The mailboxes where it is part of a high or medium finding (a flagged source, a risky
    /// delivery).
    pub flagged_in: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseOverview {
    pub mailboxes: Vec<MailboxSummary>,
    pub first: Option<String>,
    pub last: Option<String>,
    /// Values seen in at least two mailboxes, most flagged first (at most `MAX_SHARED`).
    pub shared: Vec<Shared>,
    /// The low findings of the whole case, counted by kind (their category).
    pub low_by_kind: BTreeMap<String, usize>,
}

const MAX_SHARED: usize = 25;

/// Where one value was seen.
#[derive(Default)]
struct Seen {
    mailboxes: BTreeSet<String>,
    flagged_in: BTreeSet<String>,
}

fn table<'a>(report: &'a MailboxReport, name: &str) -> Option<&'a Table> {
    report.tables.iter().find(|t| t.name == name)
}

fn column(table: &Table, name: &str) -> Option<usize> {
    table.columns.iter().position(|c| *c == name)
}

/// A mailbox's low findings counted by kind (their category's name).
pub fn low_by_kind(report: &MailboxReport) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for finding in report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Low)
    {
        *counts.entry(finding.category.name()).or_default() += 1;
    }
    counts
}

/// The overview of every mailbox, in the order given.
pub fn overview(reports: &[MailboxReport]) -> CaseOverview {
    let mut builder = OverviewBuilder::default();
    for report in reports {
        builder.add(report);
    }
    builder.finish()
}

/// Builds the overview one mailbox at a time, keeping only what it shows (counts and the values
/// several mailboxes may share), so a case's mailboxes need not be held together.
#[derive(Default)]
pub struct OverviewBuilder {
    mailboxes: Vec<MailboxSummary>,
    seen: BTreeMap<(&'static str, String), Seen>,
    low_by_kind: BTreeMap<String, usize>,
}

impl OverviewBuilder {
    pub fn add(&mut self, report: &MailboxReport) {
        let count = |severity: Severity| {
            report
                .findings
                .iter()
                .filter(|f| f.severity == severity)
                .count()
        };
        self.mailboxes.push(MailboxSummary {
            mailbox: report.mailbox.clone(),
            activities: report.activities,
            first: report.first.clone(),
            last: report.last.clone(),
            high: count(Severity::High),
            medium: count(Severity::Medium),
            low: count(Severity::Low),
        });
        for (kind, count) in low_by_kind(report) {
            *self.low_by_kind.entry(kind.to_string()).or_default() += count;
        }
        let seen = &mut self.seen;
        let mut note = |kind: &'static str, value: &str, flagged: bool| {
            if value.is_empty() {
                return;
            }
            let entry = seen.entry((kind, value.to_string())).or_default();
            entry.mailboxes.insert(report.mailbox.clone());
            if flagged {
                entry.flagged_in.insert(report.mailbox.clone());
            }
        };
        if let Some(logons) = table(report, "logons") {
            let (ip, agents, flag) = (
                column(logons, "SourceIP"),
                column(logons, "UserAgents"),
                column(logons, "Flag"),
            );
            for row in &logons.rows {
                let flagged = flag.is_some_and(|f| matches!(&*row[f], "high" | "medium"));
                if let Some(ip) = ip {
                    note("address", &row[ip], flagged);
                }
                if let Some(agents) = agents {
                    for agent in row[agents].split(" | ") {
                        note("user-agent", agent, flagged);
                    }
                }
            }
        }
        if let Some(attachments) = table(report, "attachments") {
            let (sender, detail, risk) = (
                column(attachments, "Sender"),
                column(attachments, "AttachmentDetail"),
                column(attachments, "Risk"),
            );
            for row in &attachments.rows {
                let flagged = risk.is_some_and(|r| matches!(&*row[r], "high" | "medium"));
                if let Some(sender) = sender {
                    note("sender", &row[sender].to_lowercase(), flagged);
                }
                if let (Some(detail), true) = (detail, flagged) {
                    for name in row[detail].split(';').filter_map(|a| a.split(" (").next()) {
                        note("attachment", name.trim(), flagged);
                    }
                }
            }
        }
    }

    pub fn finish(self) -> CaseOverview {
        let mut shared: Vec<Shared> = self
            .seen
            .into_iter()
            .filter(|(_, seen)| seen.mailboxes.len() >= 2)
            .map(|((kind, value), seen)| Shared {
                kind,
                value,
                mailboxes: seen.mailboxes.into_iter().collect(),
                flagged_in: seen.flagged_in.into_iter().collect(),
            })
            .collect();
        shared.sort_by(|a, b| {
            b.flagged_in
                .len()
                .cmp(&a.flagged_in.len())
                .then(b.mailboxes.len().cmp(&a.mailboxes.len()))
                .then(a.kind.cmp(b.kind))
                .then(a.value.cmp(&b.value))
        });
        shared.truncate(MAX_SHARED);
        let mailboxes = self.mailboxes;
        CaseOverview {
            first: mailboxes.iter().filter_map(|m| m.first.clone()).min(),
            last: mailboxes.iter().filter_map(|m| m.last.clone()).max(),
            mailboxes,
            shared,
            low_by_kind: self.low_by_kind,
        }
    }
}
