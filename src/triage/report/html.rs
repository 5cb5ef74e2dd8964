//! One self-contained page: no scripts, no fetches, works offline.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;

use super::{mailboxes, ReportFormat};
use crate::triage::analyze::{DailySeries, Finding, MailboxReport, Severity};
use crate::triage::case_view::CaseOverview;
use crate::triage::events::MailboxEvents;

pub struct Html;

impl ReportFormat for Html {
    /// The overview first: every mailbox with its findings (a contents list), and what several
    /// mailboxes share.
    fn head(&mut self, case: &CaseOverview, out: &mut dyn io::Write) -> io::Result<()> {
        let mut page = page_start();
        let _ = write!(
            page,
            "<h2 id=\"overview\">Overview</h2><p>{}, {} to {}</p><table><tr><th>Mailbox</th><th>Activities</th><th>High</th><th>Medium</th></tr>",
            mailboxes(case.mailboxes.len()),
            escape(case.first.as_deref().unwrap_or("-")),
            escape(case.last.as_deref().unwrap_or("-"))
        );
        for (index, m) in case.mailboxes.iter().enumerate() {
            let _ = write!(
                page,
                "<tr class=\"{}\"><td><a href=\"#mailbox{index}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if m.high > 0 { "high" } else if m.medium > 0 { "medium" } else { "" },
                escape(&m.mailbox),
                m.activities,
                m.high,
                m.medium
            );
        }
        page.push_str("</table>");
        if !case.shared.is_empty() {
            page.push_str("<h3>Seen in several mailboxes</h3><table><tr><th>Kind</th><th>Value</th><th>Mailboxes</th><th>Flagged in</th></tr>");
            for s in &case.shared {
                let _ = write!(
                    page,
                    "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    if s.flagged_in.is_empty() { "" } else { "high" },
                    s.kind,
                    escape(&s.value),
                    escape(&s.mailboxes.join(", ")),
                    escape(&s.flagged_in.join(", "))
                );
            }
            page.push_str("</table>");
        }
        out.write_all(page.as_bytes())
    }

    fn mailbox(
        &mut self,
        index: usize,
        report: &MailboxReport,
        _events: &MailboxEvents,
        out: &mut dyn io::Write,
    ) -> io::Result<()> {
        out.write_all(section(index, report, &Limits::FULL).as_bytes())
    }

    fn tail(&mut self, out: &mut dyn io::Write) -> io::Result<()> {
        out.write_all(b"</body></html>\n")
    }
}

/// The page of a large case: the overview, flagged mailboxes in full (tables and Ids cut to a
/// few hundred), clean mailboxes as one row each, low findings counted by kind. A clean
/// 1,000-mailbox case is a few hundred kilobytes, which a browser opens in a moment.
pub struct HtmlSummary;

impl ReportFormat for HtmlSummary {
    fn head(&mut self, case: &CaseOverview, out: &mut dyn io::Write) -> io::Result<()> {
        let mut page = page_start();
        let (flagged, clean): (Vec<_>, Vec<_>) = case
            .mailboxes
            .iter()
            .enumerate()
            .partition(|(_, m)| m.flagged());
        let _ = write!(
            page,
            "<h2 id=\"overview\">Overview</h2><p>{}, {} to {}: <b>{} flagged</b> (a high or medium finding), {} with none.</p>\
             <p>This is the case's summary: flagged mailboxes in full, the others one row each, low findings counted by kind. \
             Every finding is in <code>triage --format jsonl</code>, every table in <code>--format csv</code>, all of it on one page with <code>--detail full</code>.</p>",
            mailboxes(case.mailboxes.len()),
            escape(case.first.as_deref().unwrap_or("-")),
            escape(case.last.as_deref().unwrap_or("-")),
            flagged.len(),
            clean.len()
        );
        let mut flagged = flagged;
        flagged.sort_by(|(a, x), (b, y)| (y.high, y.medium, a).cmp(&(x.high, x.medium, b)));
        if !flagged.is_empty() {
            page.push_str("<h3>Flagged mailboxes</h3><table><tr><th>Mailbox</th><th>Activities</th><th>High</th><th>Medium</th><th>Low</th></tr>");
            for (index, m) in &flagged {
                let _ = write!(
                    page,
                    "<tr class=\"{}\"><td><a href=\"#mailbox{index}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    if m.high > 0 { "high" } else { "medium" },
                    escape(&m.mailbox),
                    m.activities,
                    m.high,
                    m.medium,
                    m.low
                );
            }
            page.push_str("</table>");
        }
        if !case.low_by_kind.is_empty() {
            page.push_str("<h3>Low findings of the case</h3>");
            low_counts(&mut page, &case.low_by_kind);
        }
        if !case.shared.is_empty() {
            page.push_str("<h3>Seen in several mailboxes</h3><table><tr><th>Kind</th><th>Value</th><th>Mailboxes</th><th>Flagged in</th></tr>");
            for s in &case.shared {
                let _ = write!(
                    page,
                    "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    if s.flagged_in.is_empty() { "" } else { "high" },
                    s.kind,
                    escape(&s.value),
                    names(&s.mailboxes),
                    names(&s.flagged_in)
                );
            }
            page.push_str("</table>");
        }
        if !clean.is_empty() {
            let _ = write!(
                page,
                "<details><summary>Mailboxes with no high or medium finding ({})</summary>\
                 <table><tr><th>Mailbox</th><th>Activities</th><th>First</th><th>Last</th><th>Low</th></tr>",
                clean.len()
            );
            for (_, m) in &clean {
                let _ = write!(
                    page,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&m.mailbox),
                    m.activities,
                    escape(m.first.as_deref().unwrap_or("-")),
                    escape(m.last.as_deref().unwrap_or("-")),
                    m.low
                );
            }
            page.push_str("</table></details>");
        }
        out.write_all(page.as_bytes())
    }

    fn mailbox(
        &mut self,
        index: usize,
        report: &MailboxReport,
        _events: &MailboxEvents,
        out: &mut dyn io::Write,
    ) -> io::Result<()> {
        let flagged = report.findings.iter().any(|f| f.severity != Severity::Low);
        if !flagged {
            return Ok(());
        }
        out.write_all(section(index, report, &Limits::SUMMARY).as_bytes())
    }

    fn tail(&mut self, out: &mut dyn io::Write) -> io::Result<()> {
        out.write_all(b"</body></html>\n")
    }
}

/// Up to ten mailbox names, then how many more.
fn names(mailboxes: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut text = escape(&mailboxes[..mailboxes.len().min(SHOWN)].join(", "));
    if mailboxes.len() > SHOWN {
        let _ = write!(text, " and {} more", mailboxes.len() - SHOWN);
    }
    text
}

/// How much of a mailbox its section shows.
struct Limits {
    /// Low findings listed one by one (else counted by kind).
    low_listed: bool,
    /// Rows of each table.
    rows: usize,
    /// Activity ids of each finding.
    ids: usize,
}

impl Limits {
    const FULL: Limits = Limits {
        low_listed: true,
        rows: 2000,
        ids: usize::MAX,
    };
    const SUMMARY: Limits = Limits {
        low_listed: false,
        rows: 200,
        ids: 100,
    };
}

/// One mailbox's section: its charts, incidents, findings and tables.
fn section(index: usize, report: &MailboxReport, limits: &Limits) -> String {
    let mut page = String::new();
    let _ = write!(
        page,
        "<h2 id=\"mailbox{index}\">{}</h2><p>{} activities, {} to {}</p>",
        escape(&report.mailbox),
        report.activities,
        escape(report.first.as_deref().unwrap_or("-")),
        escape(report.last.as_deref().unwrap_or("-"))
    );
    // With an attacker session the incident leads, its timeline under it, and the charts
    // follow; without one, the charts lead as they always did.
    let header = std::mem::take(&mut page);
    page.push_str(&daily_chart(
        "Activity per day by application type",
        &report.activity_by_app,
        None,
    ));
    let flagged: std::collections::HashMap<String, Severity> = report
        .incidents
        .iter()
        .map(|i| (i.source.clone(), i.severity))
        .collect();
    page.push_str(&daily_chart(
        "Logons per day by source IP (flagged sources in red and orange)",
        &report.logons_by_ip,
        Some(&flagged),
    ));
    if !report.logons_by_country.is_empty() {
        page.push_str(&country_chart(&report.logons_by_country));
    }
    let charts = std::mem::take(&mut page);
    page.push_str(&header);
    if report.sessions.is_empty() {
        page.push_str(&charts);
    }
    let in_incident: std::collections::HashSet<usize> = report
        .incidents
        .iter()
        .flat_map(|i| i.findings.iter().copied())
        .collect();
    // Each suspicious source as one story, as in the text report: its logon finding, then
    // what its sessions did.
    for (number, incident) in report.incidents.iter().enumerate() {
        let _ = write!(
            page,
            "<details open><summary class=\"{}\">Incident {} — source {} ({})</summary>",
            incident.severity.as_str(),
            number + 1,
            escape(&incident.source),
            incident.severity.as_str()
        );
        findings_table(
            &mut page,
            incident.findings.iter().map(|&i| &report.findings[i]),
            limits.ids,
        );
        page.push_str("</details>");
    }
    if !report.sessions.is_empty() {
        sessions_block(&mut page, report);
        page.push_str(&charts);
    }
    let (low, raised): (Vec<_>, Vec<_>) = report
        .findings
        .iter()
        .enumerate()
        .filter(|(index, _)| !in_incident.contains(index))
        .map(|(_, f)| f)
        .partition(|f| f.severity == Severity::Low);
    let other = if report.incidents.is_empty() {
        "Findings"
    } else {
        "Other findings"
    };
    if !limits.low_listed && !low.is_empty() {
        low_counts(&mut page, &crate::triage::case_view::low_by_kind(report));
    }
    let low = if limits.low_listed { low } else { Vec::new() };
    for (heading, findings, open) in [(other, raised, true), ("Low findings", low, false)] {
        if findings.is_empty() {
            continue;
        }
        let _ = write!(
            page,
            "<details{}><summary>{heading} ({})</summary>",
            if open { " open" } else { "" },
            findings.len()
        );
        findings_table(&mut page, findings.into_iter(), limits.ids);
        page.push_str("</details>");
    }
    for table in report
        .tables
        .iter()
        .filter(|t| report.sessions.is_empty() || !SESSION_TABLES.contains(&t.name))
    {
        let _ = write!(
            page,
            "<details{}><summary>{} ({} rows)</summary>",
            if matches!(table.name, "logons" | "searches" | "suspicious_sessions") {
                " open"
            } else {
                ""
            },
            table.name,
            table.rows.len()
        );
        table_html(&mut page, table, limits.rows);
        if table.rows.len() > limits.rows && limits.rows < Limits::FULL.rows {
            let _ = write!(
                page,
                "<p>{} more rows: every row is in <code>--format csv</code>.</p>",
                table.rows.len() - limits.rows
            );
        }
        page.push_str("</details>");
    }
    page
}

/// The tables the attacker sessions' block shows in full under the incidents.
const SESSION_TABLES: &[&str] = &["remediation", "incident_timeline"];

/// Each attacker session (live or not, last seen), then the remediation list and the
/// incident's timeline.
fn sessions_block(page: &mut String, report: &MailboxReport) {
    for session in &report.sessions {
        let _ = write!(
            page,
            "<p class=\"{}\"><b>Session {}</b> ({} points): {}, last seen {} (the evidence ends {}); signed in from {}</p>",
            session.severity.as_str(),
            escape(&session.session),
            session.points,
            if session.live { "<b>STILL LIVE</b>" } else { "not live" },
            escape(&session.last_seen),
            escape(&session.evidence_ends),
            escape(&session.addresses.join(", "))
        );
    }
    for name in SESSION_TABLES {
        let Some(table) = report.tables.iter().find(|t| t.name == *name) else {
            continue;
        };
        let _ = write!(
            page,
            "<details open><summary>{} ({} rows)</summary>",
            if *name == "remediation" {
                "Remediation, in this order"
            } else {
                "Incident timeline"
            },
            table.rows.len()
        );
        table_html(page, table, usize::MAX);
        page.push_str("</details>");
    }
}

/// A table's header and its first `rows` rows.
fn table_html(page: &mut String, table: &crate::triage::analyze::Table, rows: usize) {
    page.push_str("<table><tr>");
    for column in &table.columns {
        let _ = write!(page, "<th>{}</th>", escape(column));
    }
    page.push_str("</tr>");
    for row in table.rows.iter().take(rows) {
        page.push_str("<tr>");
        for cell in row {
            let _ = write!(page, "<td>{}</td>", escape(cell));
        }
        page.push_str("</tr>");
    }
    page.push_str("</table>");
}

/// The page's head and style, up to its title.
fn page_start() -> String {
    String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>o365-activities triage</title><style>\
         body{font:14px system-ui,sans-serif;margin:24px;color:#222}h1{font-size:22px}h2{font-size:18px;margin-top:32px}\
         table{border-collapse:collapse;margin:8px 0 24px;font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}\
         th{background:#f0f0f0}.high{background:#fbd5d5}.medium{background:#fdf0c8}.low{background:#eef}figure{margin:12px 0}figcaption{font-weight:600}\
         details{margin:8px 0}</style></head><body><h1>o365-activities triage</h1>",
    )
}

fn findings_table<'a>(
    page: &mut String,
    findings: impl Iterator<Item = &'a Finding>,
    ids_shown: usize,
) {
    page.push_str("<table><tr><th>Severity</th><th>Category</th><th>Finding</th><th>Detail</th><th>ATT&amp;CK</th><th>Next step</th><th>Activity Ids</th></tr>");
    for f in findings {
        let _ = write!(
            page,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            f.severity.as_str(),
            f.severity.as_str(),
            f.category,
            escape(&f.title),
            escape(&f.detail),
            f.category.technique(),
            escape(f.category.next_step()),
            // The long Ids fold away: the finding reads first.
            format_args!(
                "<details><summary>{} Ids</summary>{}{}</details>",
                f.activity_ids.len(),
                escape(&ids_text(&f.activity_ids, ids_shown)),
                if f.activity_ids.len() > ids_shown {
                    " … (every Id is in <code>--format jsonl</code>)"
                } else {
                    ""
                }
            )
        );
    }
    page.push_str("</table>");
}

/// The first `shown` Ids, separated by spaces.
fn ids_text(ids: &[String], shown: usize) -> String {
    let mut text = String::new();
    for (number, id) in ids.iter().take(shown).enumerate() {
        if number > 0 {
            text.push(' ');
        }
        text.push_str(id);
    }
    text
}

/// Low findings as counts per kind.
fn low_counts<K: AsRef<str>>(page: &mut String, counts: &BTreeMap<K, usize>) {
    let total: usize = counts.values().sum();
    let _ = write!(
        page,
        "<details open><summary>Low findings counted by kind ({total})</summary>\
         <table><tr><th>Kind</th><th>Count</th></tr>"
    );
    for (kind, count) in counts {
        let _ = write!(
            page,
            "<tr class=\"low\"><td>{}</td><td>{count}</td></tr>",
            escape(kind.as_ref())
        );
    }
    page.push_str("</table><p>Each low finding is in <code>--format jsonl</code>.</p></details>");
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

const PALETTE: &[&str] = &[
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// A stacked daily bar chart as inline SVG.
/// A stacked bar per day. With `emphasis`, only the series it names stand out (red for high,
/// orange for medium), the others in grey under one legend entry: a mailbox has a hundred
/// addresses, and the flagged few must not drown in them.
fn daily_chart(
    title: &str,
    data: &DailySeries,
    emphasis: Option<&std::collections::HashMap<String, Severity>>,
) -> String {
    let colour_of = |index: usize, name: &str| match emphasis {
        None => PALETTE[index % PALETTE.len()],
        Some(flagged) => match flagged.get(name) {
            Some(Severity::High) => "#d62728",
            Some(Severity::Medium) => "#ff7f0e",
            _ => "#c7c7c7",
        },
    };
    let (width, height, left, bottom) = (900.0, 220.0, 40.0, 30.0);
    let days = data.days.len().max(1) as f64;
    let totals: Vec<u64> = (0..data.days.len())
        .map(|d| data.series.values().map(|s| s[d]).sum())
        .collect();
    let max = totals.iter().copied().max().unwrap_or(1).max(1) as f64;
    let bar = (width - left) / days;
    let legend: Vec<(String, &str)> = match emphasis {
        None => data
            .series
            .keys()
            .enumerate()
            .map(|(index, name)| (name.clone(), colour_of(index, name)))
            .collect(),
        Some(flagged) => {
            let others = data
                .series
                .keys()
                .filter(|n| !flagged.contains_key(*n))
                .count();
            data.series
                .keys()
                .enumerate()
                .filter(|(_, n)| flagged.contains_key(*n))
                .map(|(index, name)| (format!("{name} (flagged)"), colour_of(index, name)))
                .chain((others > 0).then(|| (format!("{others} other sources"), "#c7c7c7")))
                .collect()
        }
    };
    let legend_rows = legend.len().div_ceil(4).max(1) as f64;
    let mut svg = format!("<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 {width} {}\" width=\"100%\" role=\"img\">", escape(title), height + 16.0 + 14.0 * legend_rows);
    let mut base = vec![0u64; data.days.len()];
    for (index, (name, counts)) in data.series.iter().enumerate() {
        let colour = colour_of(index, name);
        for (day, count) in counts.iter().enumerate() {
            if *count == 0 {
                continue;
            }
            let y0 = height - bottom - (base[day] as f64 / max) * (height - bottom - 10.0);
            let h = (*count as f64 / max) * (height - bottom - 10.0);
            let _ = write!(svg, "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\"><title>{} {}: {count}</title></rect>",
                left + day as f64 * bar, y0 - h, (bar - 0.5).max(0.5), h, escape(&data.days[day]), escape(name));
            base[day] += count;
        }
    }
    let _ = write!(svg, "<text x=\"2\" y=\"14\" font-size=\"11\">{max}</text><text x=\"2\" y=\"{}\" font-size=\"11\">0</text>", height - bottom);
    if let (Some(first), Some(last)) = (data.days.first(), data.days.last()) {
        let _ = write!(svg, "<text x=\"{left}\" y=\"{}\" font-size=\"11\">{}</text><text x=\"{width}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text>", height - 10.0, escape(first), height - 10.0, escape(last));
    }
    for (index, (name, colour)) in legend.iter().enumerate() {
        let x = left + (index % 4) as f64 * 215.0;
        let y = height + 10.0 + (index / 4) as f64 * 14.0;
        let _ = write!(svg, "<rect x=\"{x}\" y=\"{:.0}\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{}\" y=\"{:.0}\" font-size=\"11\">{}</text>", y - 9.0, x + 14.0, y, escape(name));
    }
    svg.push_str("</svg></figure>");
    svg
}

fn country_chart(counts: &std::collections::BTreeMap<String, u64>) -> String {
    let max = counts.values().copied().max().unwrap_or(1).max(1) as f64;
    let mut svg = format!("<figure><figcaption>Logons by country</figcaption><svg viewBox=\"0 0 600 {}\" width=\"60%\" role=\"img\">", counts.len() * 22 + 10);
    for (index, (country, count)) in counts.iter().enumerate() {
        let y = 10 + index * 22;
        let _ = write!(svg, "<text x=\"0\" y=\"{}\" font-size=\"12\">{}</text><rect x=\"40\" y=\"{y}\" width=\"{:.1}\" height=\"16\" fill=\"#1f77b4\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"12\">{count}</text>",
            y + 13, escape(country), 500.0 * *count as f64 / max, 46.0 + 500.0 * *count as f64 / max, y + 13);
    }
    svg.push_str("</svg></figure>");
    svg
}
