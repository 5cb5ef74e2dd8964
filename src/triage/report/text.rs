//! The report for the terminal: short, most important first, tables aligned.

use std::fmt::Write as _;
use std::io;

use super::{mailboxes, ReportFormat};
use crate::triage::analyze::{MailboxReport, Severity};
use crate::triage::case_view::CaseOverview;
use crate::triage::events::MailboxEvents;

/// Colour only when `colour`.
pub struct Text {
    pub colour: bool,
}

impl ReportFormat for Text {
    fn head(&mut self, case: &CaseOverview, out: &mut dyn io::Write) -> io::Result<()> {
        if case.mailboxes.len() > 1 {
            let mut text = String::new();
            case_text(&mut text, case);
            out.write_all(text.as_bytes())?;
        }
        Ok(())
    }

    fn mailbox(
        &mut self,
        _index: usize,
        report: &MailboxReport,
        _events: &MailboxEvents,
        out: &mut dyn io::Write,
    ) -> io::Result<()> {
        out.write_all(mailbox_text(report, self.colour).as_bytes())
    }
}

fn mailbox_text(report: &MailboxReport, colour: bool) -> String {
    let mut out = String::new();
    let high = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::High)
        .count();
    let medium = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Medium)
        .count();
    let _ = writeln!(
        out,
        "== {}: {} activities, {} to {}; {high} high, {medium} medium findings",
        report.mailbox,
        report.activities,
        report.first.as_deref().unwrap_or("-"),
        report.last.as_deref().unwrap_or("-")
    );
    let low: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Low)
        .collect();
    let label = |severity: Severity| {
        let text = format!("{:<6}", severity.as_str().to_uppercase());
        match (colour, severity) {
            (true, Severity::High) => format!("\x1b[1;31m{text}\x1b[0m"),
            (true, Severity::Medium) => format!("\x1b[33m{text}\x1b[0m"),
            _ => text,
        }
    };
    let ids = |finding: &crate::triage::analyze::Finding| {
        if finding.activity_ids.len() > 3 {
            format!(
                "{} and {} more",
                finding.activity_ids[..3].join(", "),
                finding.activity_ids.len() - 3
            )
        } else {
            finding.activity_ids.join(", ")
        }
    };
    // Each suspicious source as one story: the logon finding, then what its sessions did.
    let mut shown = std::collections::HashSet::new();
    for (number, incident) in report.incidents.iter().enumerate() {
        let _ = writeln!(
            out,
            "{} INCIDENT {} — source {}",
            label(incident.severity),
            number + 1,
            incident.source
        );
        for (position, &index) in incident.findings.iter().enumerate() {
            shown.insert(index);
            let finding = &report.findings[index];
            if position == 0 {
                let _ = writeln!(
                    out,
                    "       {}\n       {}\n       ATT&CK {}; next: {}\n       ids: {}",
                    finding.title,
                    finding.detail,
                    finding.category.technique(),
                    finding.category.next_step(),
                    ids(finding)
                );
            } else {
                let _ = writeln!(
                    out,
                    "       └ {} {:<10} {} ({}; ids: {})",
                    finding.severity.as_str(),
                    finding.category,
                    finding.title,
                    finding.category.technique(),
                    ids(finding)
                );
            }
        }
    }
    sessions_text(&mut out, report);
    for (index, finding) in report.findings.iter().enumerate() {
        if finding.severity == Severity::Low || shown.contains(&index) {
            continue;
        }
        let _ = writeln!(
            out,
            "{} {:<10} {}\n       {}\n       ATT&CK {}; next: {}\n       ids: {}",
            label(finding.severity),
            finding.category,
            finding.title,
            finding.detail,
            finding.category.technique(),
            finding.category.next_step(),
            ids(finding)
        );
    }
    if !low.is_empty() {
        let mut by_category: std::collections::BTreeMap<&str, usize> =
            std::collections::BTreeMap::new();
        for finding in &low {
            *by_category.entry(finding.category.name()).or_default() += 1;
        }
        let counts: Vec<String> = by_category
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        let _ = writeln!(
            out,
            "LOW    {} more ({}): see --format json, csv or html",
            low.len(),
            counts.join(", ")
        );
    }
    if let Some(logons) = report.tables.iter().find(|t| t.name == "logons") {
        let _ = writeln!(out, "\nLogon sources:");
        let picked = [0usize, 2, 4, 6, 7, 8, 9];
        let rows: Vec<Vec<String>> = std::iter::once(
            picked
                .iter()
                .map(|&i| logons.columns[i].to_string())
                .collect(),
        )
        .chain(
            logons
                .rows
                .iter()
                .take(15)
                .map(|r| picked.iter().map(|&i| r[i].to_string()).collect()),
        )
        .collect();
        out.push_str(&aligned(&rows));
    }
    out.push('\n');
    out
}

/// Rows of the incident timeline the terminal shows; the other formats hold them all.
const TIMELINE_SHOWN: usize = 25;

/// The attacker sessions the identity evidence showed: whether each is still live, the
/// remediation list in order, and the start of the incident's timeline.
fn sessions_text(out: &mut String, report: &MailboxReport) {
    for session in &report.sessions {
        let _ = writeln!(
            out,
            "       session {} ({}): {}, last seen {} (evidence ends {}); {} tokens; signed in from {}",
            session.session,
            session.severity.as_str(),
            if session.live { "STILL LIVE" } else { "not live" },
            session.last_seen,
            session.evidence_ends,
            session.tokens.len(),
            session.addresses.join(", ")
        );
    }
    let table = |name: &str| report.tables.iter().find(|t| t.name == name);
    if let Some(exposure) = table("exposure") {
        let _ = writeln!(
            out,
            "       exposure: {} rows of what the attacker read (--exposed FILE.csv lists them)",
            exposure.rows.len()
        );
    }
    if let Some(steps) = table("remediation") {
        let _ = writeln!(out, "       Remediation, in this order:");
        for step in &steps.rows {
            let _ = writeln!(
                out,
                "       {}. {} — {}\n          {}",
                step[0], step[1], step[2], step[3]
            );
        }
    }
    if let Some(timeline) = table("incident_timeline") {
        let _ = writeln!(
            out,
            "       Incident timeline ({} of {} rows; all in --format json, csv or html):",
            timeline.rows.len().min(TIMELINE_SHOWN),
            timeline.rows.len()
        );
        let rows: Vec<Vec<String>> = timeline
            .rows
            .iter()
            .take(TIMELINE_SHOWN)
            .map(|r| {
                vec![
                    r[0].to_string(),
                    r[1].to_string(),
                    r[3].to_string(),
                    r[2].to_string(),
                ]
            })
            .collect();
        for line in aligned(&rows).lines() {
            let _ = writeln!(out, "     {line}");
        }
    }
}

fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
    }
    out
}

/// The case overview for the terminal: mailboxes, time span, findings per mailbox, and what
/// several mailboxes share, flagged values first.
fn case_text(out: &mut String, case: &CaseOverview) {
    let _ = writeln!(
        out,
        "== case: {}, {} to {}",
        mailboxes(case.mailboxes.len()),
        case.first.as_deref().unwrap_or("-"),
        case.last.as_deref().unwrap_or("-")
    );
    for m in &case.mailboxes {
        let _ = writeln!(
            out,
            "   {:<40} {:>8} activities  {:>3} high  {:>3} medium",
            m.mailbox, m.activities, m.high, m.medium
        );
    }
    if !case.shared.is_empty() {
        let _ = writeln!(out, "== seen in several mailboxes (flagged first):");
        for s in &case.shared {
            let flagged = if s.flagged_in.is_empty() {
                String::new()
            } else {
                format!(", flagged in {}", s.flagged_in.join(", "))
            };
            let _ = writeln!(
                out,
                "   {:<11} {} — {} mailboxes ({}){flagged}",
                s.kind,
                s.value,
                s.mailboxes.len(),
                s.mailboxes.join(", ")
            );
        }
    }
    out.push('\n');
}

/// Flagged mailboxes shown in full by the summary text report; the others are named.
const TEXT_FLAGGED_SHOWN: usize = 10;

/// The text report of a large case, short whatever its size: the case in a few lines, the
/// flagged mailboxes (the first ten in full), the clean ones counted, low findings counted by
/// kind.
pub struct TextSummary {
    pub colour: bool,
    /// Flagged mailboxes seen so far.
    flagged: usize,
}

impl TextSummary {
    pub fn new(colour: bool) -> Self {
        TextSummary { colour, flagged: 0 }
    }
}

impl ReportFormat for TextSummary {
    fn head(&mut self, case: &CaseOverview, out: &mut dyn io::Write) -> io::Result<()> {
        let mut text = String::new();
        let flagged: Vec<_> = case.mailboxes.iter().filter(|m| m.flagged()).collect();
        let clean = case.mailboxes.len() - flagged.len();
        let _ = writeln!(
            text,
            "== case: {}, {} to {}; {} flagged, {clean} with no high or medium finding",
            mailboxes(case.mailboxes.len()),
            case.first.as_deref().unwrap_or("-"),
            case.last.as_deref().unwrap_or("-"),
            flagged.len()
        );
        let mut ranked = flagged.clone();
        ranked.sort_by_key(|m| std::cmp::Reverse((m.high, m.medium)));
        for m in ranked.iter().take(TEXT_FLAGGED_SHOWN * 2) {
            let _ = writeln!(
                text,
                "   {:<40} {:>8} activities  {:>3} high  {:>3} medium",
                m.mailbox, m.activities, m.high, m.medium
            );
        }
        if ranked.len() > TEXT_FLAGGED_SHOWN * 2 {
            let _ = writeln!(
                text,
                "   and {} more flagged mailboxes (--format html or json)",
                ranked.len() - TEXT_FLAGGED_SHOWN * 2
            );
        }
        if !case.low_by_kind.is_empty() {
            let counts: Vec<String> = case
                .low_by_kind
                .iter()
                .map(|(kind, n)| format!("{kind} {n}"))
                .collect();
            let _ = writeln!(
                text,
                "== low findings: {} ({}): see --format jsonl",
                case.low_by_kind.values().sum::<usize>(),
                counts.join(", ")
            );
        }
        if !case.shared.is_empty() {
            let _ = writeln!(text, "== seen in several mailboxes (flagged first):");
            for s in case.shared.iter().take(10) {
                let flagged = if s.flagged_in.is_empty() {
                    String::new()
                } else {
                    format!(", flagged in {}", s.flagged_in.len())
                };
                let _ = writeln!(
                    text,
                    "   {:<11} {} — {} mailboxes{flagged}",
                    s.kind,
                    s.value,
                    s.mailboxes.len()
                );
            }
        }
        text.push('\n');
        out.write_all(text.as_bytes())
    }

    fn mailbox(
        &mut self,
        _index: usize,
        report: &MailboxReport,
        _events: &MailboxEvents,
        out: &mut dyn io::Write,
    ) -> io::Result<()> {
        if !report.findings.iter().any(|f| f.severity != Severity::Low) {
            return Ok(());
        }
        self.flagged += 1;
        if self.flagged > TEXT_FLAGGED_SHOWN {
            return Ok(());
        }
        out.write_all(mailbox_text(report, self.colour).as_bytes())
    }

    fn tail(&mut self, out: &mut dyn io::Write) -> io::Result<()> {
        if self.flagged > TEXT_FLAGGED_SHOWN {
            writeln!(
                out,
                "{} more flagged mailboxes not shown here: --format html or json",
                self.flagged - TEXT_FLAGGED_SHOWN
            )?;
        }
        Ok(())
    }
}
