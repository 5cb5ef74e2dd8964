//! 3. Client types: counts overall and per day, rare ones, IMAP4/POP3 logons.

use std::collections::BTreeMap;

use super::super::analyze::*;
use super::super::events::Event;
use crate::triage::category::Category;

/// Returns activity per day by application type (for the charts).
pub fn clients(
    events: &[Event],
    is_new: &dyn Fn(Option<chrono::DateTime<chrono::Utc>>) -> bool,
    findings: &mut Vec<Finding>,
    tables: &mut Vec<Table>,
) -> DailySeries {
    let mut app_counts: BTreeMap<String, u64> = BTreeMap::new();
    for event in events {
        *app_counts.entry(event.app.to_string()).or_default() += 1;
    }
    let user_actions: u64 = app_counts
        .iter()
        .filter(|(a, _)| a.as_str() != "Exchange")
        .map(|(_, n)| n)
        .sum();
    let mut app_rows = Vec::new();
    for (app, count) in &app_counts {
        let share = if user_actions > 0 {
            *count as f64 / user_actions as f64
        } else {
            0.0
        };
        let rare = app != "Exchange" && share < 0.02;
        if rare {
            let ids: Vec<String> = events
                .iter()
                .filter(|e| *e.app == **app)
                .map(|e| e.id.to_string())
                .take(200)
                .collect();
            findings.push(Finding {
                severity: Severity::Low,
                category: Category::Client,
                title: format!("Rarely used client type {app}"),
                detail: format!(
                    "{count} activities, {:.1} % of the mailbox's own activity",
                    share * 100.0
                ),
                activity_ids: ids,
            });
        }
        app_rows.push(vec![
            app.clone(),
            count.to_string(),
            format!("{:.1}", share * 100.0),
            if rare { "rare".into() } else { String::new() },
        ]);
    }
    tables.push(Table {
        name: "client_types",
        columns: vec!["AppIdType", "Activities", "PercentOfUserActivity", "Flag"],
        rows: cells(app_rows),
    });
    let by_day = daily(events.iter().map(|e| (e.time, &*e.app)));
    let mut day_rows = Vec::new();
    for (index, day) in by_day.days.iter().enumerate() {
        for (app, counts) in &by_day.series {
            if counts[index] > 0 {
                day_rows.push(vec![day.clone(), app.clone(), counts[index].to_string()]);
            }
        }
    }
    tables.push(Table {
        name: "client_types_by_day",
        columns: vec!["Day", "AppIdType", "Activities"],
        rows: cells(day_rows),
    });
    // A mail protocol the owner already used before is their own client; a first one is not.
    let is_mail_protocol = |e: &&Event| is_logon(e) && (&*e.app == "IMAP4" || &*e.app == "POP3");
    let routine = events
        .iter()
        .filter(is_mail_protocol)
        .any(|e| !is_new(e.time));
    for event in events.iter().filter(is_mail_protocol) {
        findings.push(Finding {
            severity: if routine { Severity::Low } else { Severity::High },
            category: Category::Client,
            title: format!("{} logon from {}: possible full-mailbox sync", event.app, logon_source(event).map(|s| s.0).unwrap_or_default()),
            detail: format!(
                "{}: mail protocols synchronize the whole mailbox on first logon, exfiltrating it without any read events",
                stamp(event.time)
            ),
            activity_ids: vec![event.id.to_string()],
        });
    }

    by_day
}
