//! 6. Hiding: items moved out of sight soon after they were sent or delivered; hard deletes.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use chrono::Duration;

use super::super::analyze::*;
use super::super::events::Event;
use crate::triage::category::Category;

pub fn hiding(
    events: &[Event],
    delivered: &HashMap<&str, &Event>,
    suspicious_ids: &HashSet<&str>,
    findings: &mut Vec<Finding>,
    tables: &mut Vec<Table>,
) {
    let sent: HashMap<&str, &Event> = events
        .iter()
        .filter(|e| &*e.kind == "MessageSent" && !e.item.is_empty())
        .map(|e| (&*e.item, e))
        .collect();
    let mut hiding_rows = Vec::new();
    for event in events {
        let is_move = &*event.kind == "Move";
        let is_delete = &*event.kind == "Delete";
        let hard_delete = is_delete && event.prop("DeleteType") == Some("HardDelete");
        if !is_move && !is_delete {
            continue;
        }
        let origin = sent
            .get(&*event.item)
            .map(|e| ("sent", *e))
            .or(delivered.get(&*event.item).map(|e| ("delivered", *e)));
        let folder = event.prop("TargetFolder").unwrap_or("").to_string();
        let lower = folder.to_lowercase();
        let soon = match (origin.and_then(|(_, e)| e.time), event.time) {
            (Some(o), Some(t)) => t - o <= Duration::hours(2) && t >= o,
            _ => false,
        };
        // Emptying Deleted Items and filing into Archive are routine: only inside a suspicious
        // session are they findings. Moving a fresh item to RSS Feeds or Conversation History
        // is what hides a fraud's thread from its owner, wherever it comes from.
        let in_session = suspicious_ids.contains(&*event.id);
        let hiding_place =
            origin.is_some() && soon && HIDING_FOLDERS_HIGH.contains(&lower.as_str());
        // A message deleted minutes after it arrived, in a suspicious session: the answer to a
        // fraud, kept from its owner.
        let answer_deleted = in_session && is_delete && origin.is_some() && soon;
        let severity = if (hiding_place && in_session) || answer_deleted {
            Some(Severity::High)
        } else if hiding_place
            || (in_session && hard_delete)
            || (in_session
                && origin.is_some()
                && soon
                && HIDING_FOLDERS_MEDIUM.contains(&lower.as_str()))
        {
            Some(Severity::Medium)
        } else {
            None
        };
        let Some(severity) = severity else { continue };
        let mut ids = vec![event.id.to_string()];
        ids.extend(origin.map(|(_, e)| e.id.to_string()));
        let what = match origin {
            Some((how, e)) => match e.prop("Subject") {
                Some(subject) => format!("an item {how} {} ({subject:?})", stamp(e.time)),
                None => format!("an item {how} {}", stamp(e.time)),
            },
            None => "an item".to_string(),
        };
        let title = if hard_delete {
            format!("Hard delete of {what}")
        } else if is_delete {
            format!("Delete of {what}, minutes after it arrived")
        } else {
            format!("{what} moved to {folder}")
        };
        findings.push(Finding {
            severity,
            category: Category::Hiding,
            title: capitalize(&title),
            detail: format!(
                "{} via {}{}",
                stamp(event.time),
                event.app,
                if suspicious_ids.contains(&*event.id) {
                    " (in a suspicious session)"
                } else {
                    ""
                }
            ),
            activity_ids: ids,
        });
        hiding_rows.push(vec![
            stamp(event.time),
            event.kind.to_string(),
            event.app.to_string(),
            folder,
            origin.map(|(h, _)| h.to_string()).unwrap_or_default(),
            severity.as_str().into(),
            event.id.to_string(),
        ]);
    }
    tables.push(Table {
        name: "hiding",
        columns: vec![
            "Time",
            "Activity",
            "App",
            "TargetFolder",
            "ItemWas",
            "Risk",
            "Id",
        ],
        rows: cells(hiding_rows),
    });
}

const HIDING_FOLDERS_HIGH: &[&str] = &["rss feeds", "rss subscriptions", "conversation history"];
const HIDING_FOLDERS_MEDIUM: &[&str] = &["archive", "junk email", "junk", "deleted items"];
