//! Writing a triage report: text for the terminal, JSON, CSV tables, or one HTML page.

use std::fmt::Write as _;
use std::path::Path;

use super::analyze::{DailySeries, MailboxReport, Severity, Table};
use super::case_view::{overview, CaseOverview};
use crate::error::AppError;
use crate::output::OutputError;

/// Short text, most important first, tables aligned; colour only when `colour`.
pub fn text(reports: &[MailboxReport], colour: bool) -> String {
    let mut out = String::new();
    if reports.len() > 1 {
        case_text(&mut out, &overview(reports));
    }
    for report in reports {
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
        let ids = |finding: &super::analyze::Finding| {
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
                        finding.playbook.technique,
                        finding.playbook.next_step,
                        ids(finding)
                    );
                } else {
                    let _ = writeln!(
                        out,
                        "       └ {} {:<10} {} ({}; ids: {})",
                        finding.severity.as_str(),
                        finding.category,
                        finding.title,
                        finding.playbook.technique,
                        ids(finding)
                    );
                }
            }
        }
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
                finding.playbook.technique,
                finding.playbook.next_step,
                ids(finding)
            );
        }
        if !low.is_empty() {
            let mut by_category: std::collections::BTreeMap<&str, usize> =
                std::collections::BTreeMap::new();
            for finding in &low {
                *by_category.entry(finding.category).or_default() += 1;
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
                    .map(|r| picked.iter().map(|&i| r[i].clone()).collect()),
            )
            .collect();
            out.push_str(&aligned(&rows));
        }
        out.push('\n');
    }
    out
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

pub fn json(reports: &[MailboxReport]) -> Result<String, AppError> {
    /// Serialized as it is: building a `serde_json::Value` of the reports first took as much
    /// memory again as the reports themselves.
    #[derive(serde::Serialize)]
    struct Report<'a> {
        tool: &'static str,
        version: &'static str,
        case: CaseOverview,
        mailboxes: &'a [MailboxReport],
    }
    serde_json::to_string_pretty(&Report {
        tool: "o365-activities",
        version: env!("CARGO_PKG_VERSION"),
        case: overview(reports),
        mailboxes: reports,
    })
    .map_err(|e| AppError::Other(format!("cannot serialize the report: {e}")))
}

fn mailboxes(count: usize) -> String {
    match count {
        1 => "1 mailbox".into(),
        n => format!("{n} mailboxes"),
    }
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

/// One CSV per table (and one of findings) in `folder`, prefixed by mailbox when there are several.
pub fn csv_folder(reports: &[MailboxReport], folder: &Path) -> Result<Vec<String>, AppError> {
    std::fs::create_dir_all(folder).map_err(|e| OutputError::io("cannot create", folder, e))?;
    let mut written = Vec::new();
    for report in reports {
        let prefix = if reports.len() > 1 {
            format!("{}-", crate::case::mailbox_folder_name(&report.mailbox))
        } else {
            String::new()
        };
        let findings = Table {
            name: "findings",
            columns: vec![
                "Severity",
                "Category",
                "Title",
                "Detail",
                "Technique",
                "NextStep",
                "ActivityIds",
            ],
            rows: report
                .findings
                .iter()
                .map(|f| {
                    vec![
                        f.severity.as_str().into(),
                        f.category.into(),
                        f.title.clone(),
                        f.detail.clone(),
                        f.playbook.technique.into(),
                        f.playbook.next_step.into(),
                        f.activity_ids.join(" "),
                    ]
                })
                .collect(),
        };
        for table in std::iter::once(&findings).chain(&report.tables) {
            let path = folder.join(format!("{prefix}{}.csv", table.name));
            let mut writer = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_path(&path)
                .map_err(|e| OutputError::io("cannot create", &path, e.into()))?;
            let mut write = |row: Vec<String>| {
                writer
                    .write_record(row.iter().map(|c| neutralize(c)))
                    .map_err(|e| OutputError::io("cannot write", &path, e.into()))
            };
            write(table.columns.iter().map(|c| c.to_string()).collect())?;
            for row in &table.rows {
                write(row.clone())?;
            }
            writer
                .flush()
                .map_err(|e| OutputError::io("cannot write", &path, e))?;
            written.push(path.display().to_string());
        }
    }
    Ok(written)
}

/// Spreadsheet formula neutralization, as pull does it.
fn neutralize(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
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

/// One self-contained page: no scripts, no fetches, works offline.
pub fn html(reports: &[MailboxReport]) -> String {
    let mut page = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>o365-activities triage</title><style>\
         body{font:14px system-ui,sans-serif;margin:24px;color:#222}h1{font-size:22px}h2{font-size:18px;margin-top:32px}\
         table{border-collapse:collapse;margin:8px 0 24px;font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}\
         th{background:#f0f0f0}.high{background:#fbd5d5}.medium{background:#fdf0c8}.low{background:#eef}figure{margin:12px 0}figcaption{font-weight:600}\
         details{margin:8px 0}</style></head><body><h1>o365-activities triage</h1>",
    );
    // The overview first: every mailbox with its findings (a contents list), and what several
    // mailboxes share.
    let case = overview(reports);
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
    for (index, report) in reports.iter().enumerate() {
        let _ = write!(
            page,
            "<h2 id=\"mailbox{index}\">{}</h2><p>{} activities, {} to {}</p>",
            escape(&report.mailbox),
            report.activities,
            escape(report.first.as_deref().unwrap_or("-")),
            escape(report.last.as_deref().unwrap_or("-"))
        );
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
        let (low, raised): (Vec<_>, Vec<_>) = report
            .findings
            .iter()
            .partition(|f| f.severity == Severity::Low);
        for (heading, findings, open) in [("Findings", raised, true), ("Low findings", low, false)]
        {
            if findings.is_empty() {
                continue;
            }
            let _ = write!(page, "<details{}><summary>{heading} ({})</summary><table><tr><th>Severity</th><th>Category</th><th>Finding</th><th>Detail</th><th>ATT&amp;CK</th><th>Next step</th><th>Activity Ids</th></tr>",
                if open { " open" } else { "" }, findings.len());
            for f in findings {
                let _ = write!(
                    page,
                    "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    f.severity.as_str(),
                    f.severity.as_str(),
                    f.category,
                    escape(&f.title),
                    escape(&f.detail),
                    f.playbook.technique,
                    escape(f.playbook.next_step),
                    // The long Ids fold away: the finding reads first.
                    format_args!(
                        "<details><summary>{} Ids</summary>{}</details>",
                        f.activity_ids.len(),
                        escape(&f.activity_ids.join(" "))
                    )
                );
            }
            page.push_str("</table></details>");
        }
        for table in &report.tables {
            let _ = write!(
                page,
                "<details{}><summary>{} ({} rows)</summary><table><tr>",
                if matches!(table.name, "logons" | "searches" | "suspicious_sessions") {
                    " open"
                } else {
                    ""
                },
                table.name,
                table.rows.len()
            );
            for column in &table.columns {
                let _ = write!(page, "<th>{}</th>", escape(column));
            }
            page.push_str("</tr>");
            for row in table.rows.iter().take(2000) {
                page.push_str("<tr>");
                for cell in row {
                    let _ = write!(page, "<td>{}</td>", escape(cell));
                }
                page.push_str("</tr>");
            }
            page.push_str("</table></details>");
        }
    }
    page.push_str("</body></html>\n");
    page
}
