//! 5. Reads joined to their MessageDelivered, by time and by message.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::super::analyze::*;
use super::super::events::Event;

pub fn reads(
    events: &[Event],
    delivered: &HashMap<&str, &Event>,
    suspicious_ids: &HashSet<&str>,
    tables: &mut Vec<Table>,
) {
    let mut read_rows = Vec::new();
    let mut by_message: BTreeMap<&str, MessageReads> = BTreeMap::new();
    for event in events
        .iter()
        .filter(|e| READ_KINDS.contains(&e.kind.as_str()))
    {
        let delivery = delivered.get(event.item.as_str());
        let subject = delivery
            .and_then(|d| d.prop("Subject"))
            .unwrap_or("")
            .to_string();
        let sender = delivery
            .and_then(|d| d.prop("SenderSmtpAddress"))
            .or(event.prop("SenderAddress"))
            .unwrap_or("")
            .to_string();
        let received = delivery
            .and_then(|d| d.prop("ReceivedTime"))
            .map(normalized_time)
            .unwrap_or_default();
        let suspicious = suspicious_ids.contains(event.id.as_str());
        read_rows.push(vec![
            stamp(event.time),
            event.kind.clone(),
            event.app.clone(),
            subject.clone(),
            sender.clone(),
            received.clone(),
            if suspicious {
                "suspicious session".into()
            } else {
                String::new()
            },
            event.id.clone(),
        ]);
        let entry = by_message
            .entry(event.item.as_str())
            .or_insert_with(|| MessageReads {
                facts: vec![subject, sender, received],
                reads: 0,
                first: event.time,
                last: event.time,
            });
        entry.reads += 1;
        entry.last = entry.last.max(event.time);
    }
    tables.push(Table {
        name: "reads_by_time",
        columns: vec![
            "Time",
            "Activity",
            "App",
            "Subject",
            "Sender",
            "ReceivedTime",
            "Flag",
            "Id",
        ],
        rows: read_rows,
    });
    let mut message_rows: Vec<Vec<String>> = by_message
        .into_iter()
        .map(|(item, message)| {
            let mut row = message.facts;
            row.extend([
                message.reads.to_string(),
                stamp(message.first),
                stamp(message.last),
                item.to_string(),
            ]);
            row
        })
        .collect();
    message_rows.sort_by(|a, b| {
        b[3].parse::<u64>()
            .unwrap_or(0)
            .cmp(&a[3].parse::<u64>().unwrap_or(0))
    });
    tables.push(Table {
        name: "reads_by_message",
        columns: vec![
            "Subject",
            "Sender",
            "ReceivedTime",
            "Reads",
            "FirstRead",
            "LastRead",
            "ActivityItemId",
        ],
        rows: message_rows,
    });
}

/// The reads of one message (events come in time order, so the first read is the first seen).
struct MessageReads {
    /// Subject, sender, received time.
    facts: Vec<String>,
    reads: u64,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}
