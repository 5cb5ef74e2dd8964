//! Records that share one TimeStamp are written ordered by key (the `Id`), whatever order the
//! server returned them in, so two pulls of the same snapshot are byte-identical.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::record::Activity;

/// Groups up to this size find duplicates by a scan; larger ones keep a set of keys.
const SCANNED_GROUP: usize = 32;

/// Collects the records of the current TimeStamp until a later one shows the group is closed.
#[derive(Debug, Default)]
pub struct TieGroup {
    timestamp: Option<DateTime<Utc>>,
    records: Vec<Activity>,
    /// Every record's key once the group outgrows a scan; empty before.
    keys: HashSet<String>,
}

impl TieGroup {
    pub fn timestamp(&self) -> Option<DateTime<Utc>> {
        self.timestamp
    }

    /// Adds a record of the group's TimeStamp; false if its key is already in the group.
    pub fn insert(&mut self, record: Activity) -> bool {
        // Nearly every group is one record: a scan spares a key copy and a hash per record.
        if self.records.len() < SCANNED_GROUP {
            if self.records.iter().any(|held| held.key() == record.key()) {
                return false;
            }
        } else {
            if self.keys.is_empty() {
                self.keys = self.records.iter().map(|r| r.key().to_string()).collect();
            }
            if !self.keys.insert(record.key().to_string()) {
                return false;
            }
        }
        self.records.push(record);
        true
    }

    /// Gives the held records texts of their own: a record shares its page's text, and the
    /// group outlives the page.
    pub fn detach_from_page(&mut self) {
        for record in &mut self.records {
            *record = record.detached();
        }
    }

    /// Closes the group: its records sorted by key; the group restarts at `next`.
    pub fn close(&mut self, next: Option<DateTime<Utc>>) -> Vec<Activity> {
        self.timestamp = next;
        self.keys.clear();
        let mut closed = std::mem::take(&mut self.records);
        closed.sort_by(|a, b| a.key().cmp(b.key()));
        closed
    }
}
