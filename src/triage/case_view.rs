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

pub fn overview(reports: &[MailboxReport]) -> CaseOverview {
    let count = |report: &MailboxReport, severity: Severity| {
        report
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    };
    let mailboxes: Vec<MailboxSummary> = reports
        .iter()
        .map(|r| MailboxSummary {
            mailbox: r.mailbox.clone(),
            activities: r.activities,
            first: r.first.clone(),
            last: r.last.clone(),
            high: count(r, Severity::High),
            medium: count(r, Severity::Medium),
        })
        .collect();
    let mut seen: BTreeMap<(&'static str, String), Seen> = BTreeMap::new();
    let mut note = |kind: &'static str, value: &str, mailbox: &str, flagged: bool| {
        if value.is_empty() {
            return;
        }
        let entry = seen.entry((kind, value.to_string())).or_default();
        entry.mailboxes.insert(mailbox.to_string());
        if flagged {
            entry.flagged_in.insert(mailbox.to_string());
        }
    };
    for report in reports {
        if let Some(logons) = table(report, "logons") {
            let (ip, agents, flag) = (
                column(logons, "SourceIP"),
                column(logons, "UserAgents"),
                column(logons, "Flag"),
            );
            for row in &logons.rows {
                let flagged = flag.is_some_and(|f| matches!(row[f].as_str(), "high" | "medium"));
                if let Some(ip) = ip {
                    note("address", &row[ip], &report.mailbox, flagged);
                }
                if let Some(agents) = agents {
                    for agent in row[agents].split(" | ") {
                        note("user-agent", agent, &report.mailbox, flagged);
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
                let flagged = risk.is_some_and(|r| matches!(row[r].as_str(), "high" | "medium"));
                if let Some(sender) = sender {
                    note(
                        "sender",
                        &row[sender].to_lowercase(),
                        &report.mailbox,
                        flagged,
                    );
                }
                if let (Some(detail), true) = (detail, flagged) {
                    for name in row[detail].split(';').filter_map(|a| a.split(" (").next()) {
                        note("attachment", name.trim(), &report.mailbox, flagged);
                    }
                }
            }
        }
    }
    let mut shared: Vec<Shared> = seen
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
    CaseOverview {
        first: mailboxes.iter().filter_map(|m| m.first.clone()).min(),
        last: mailboxes.iter().filter_map(|m| m.last.clone()).max(),
        mailboxes,
        shared,
    }
}
