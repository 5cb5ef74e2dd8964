//! 5. Reads joined to their MessageDelivered, by time and by message.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::super::analyze::*;
use super::super::events::{Event, Shared};

pub fn reads(
    events: &[Event],
    delivered: &HashMap<&str, &Event>,
    suspicious_ids: &HashSet<&str>,
    tables: &mut Vec<Table>,
) {
    let mut read_rows = Vec::new();
    let mut by_message: BTreeMap<&Shared, MessageReads> = BTreeMap::new();
    let (empty, flagged): (Shared, Shared) = ("".into(), "suspicious session".into());
    for event in events.iter().filter(|e| READ_KINDS.contains(&&*e.kind)) {
        let delivery = delivered.get(&*event.item);
        let shared = |property| delivery.and_then(|d| d.shared_prop(property));
        // The delivery's sender, or the one the read carries itself.
        let sender = shared("SenderSmtpAddress")
            .or_else(|| event.shared_prop("SenderAddress"))
            .unwrap_or_else(|| empty.clone());
        let time: Shared = stamp(event.time).into();
        // A message's other facts are looked up once, at its first read.
        let entry = by_message
            .entry(&event.item)
            .or_insert_with(|| MessageReads {
                facts: [
                    shared("Subject").unwrap_or_else(|| empty.clone()),
                    sender.clone(),
                    delivery
                        .and_then(|d| d.prop("ReceivedTime"))
                        .map(|t| normalized_time(t).into())
                        .unwrap_or_else(|| empty.clone()),
                ],
                reads: 0,
                first: time.clone(),
                last: (event.time, time.clone()),
            });
        let [subject, _, received] = entry.facts.clone();
        let suspicious = suspicious_ids.contains(&*event.id);
        entry.reads += 1;
        if event.time >= entry.last.0 {
            entry.last = (event.time, time.clone());
        }
        read_rows.push(Row::from([
            time,
            event.kind.clone(),
            event.app.clone(),
            subject,
            sender,
            received,
            if suspicious {
                flagged.clone()
            } else {
                empty.clone()
            },
            event.id.clone(),
        ]));
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
    let mut counts = Counts::default();
    let mut message_rows: Vec<(u64, Row)> = by_message
        .into_iter()
        .map(|(item, message)| {
            let [subject, sender, received] = message.facts;
            let row = Row::from([
                subject,
                sender,
                received,
                counts.of(message.reads),
                message.first,
                message.last.1,
                item.clone(),
            ]);
            (message.reads, row)
        })
        .collect();
    // Most read first; a stable sort keeps the items' order among equals.
    message_rows.sort_by(|(a, _), (b, _)| b.cmp(a));
    let message_rows: Vec<Row> = message_rows.into_iter().map(|(_, row)| row).collect();
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
    facts: [Shared; 3],
    reads: u64,
    /// When it was first read, as the table shows it (shared with the read's row).
    first: Shared,
    /// When it was last read, and as the table shows it.
    last: (Option<DateTime<Utc>>, Shared),
}

/// Counts as table cells, the small ones shared: most messages are read a few times.
#[derive(Default)]
struct Counts(Vec<Shared>);

impl Counts {
    fn of(&mut self, count: u64) -> Shared {
        const SHARED: u64 = 256;
        if count >= SHARED {
            return count.to_string().into();
        }
        while self.0.len() as u64 <= count {
            self.0.push(self.0.len().to_string().into());
        }
        self.0[count as usize].clone()
    }
}
