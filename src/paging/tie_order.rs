//! Records that share one TimeStamp are written ordered by key (the `Id`), whatever order the
//! server returned them in, so two pulls of the same snapshot are byte-identical.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::record::Activity;

/// Collects the records of the current TimeStamp until a later one shows the group is closed.
#[derive(Debug, Default)]
pub struct TieGroup {
    timestamp: Option<DateTime<Utc>>,
    records: Vec<Activity>,
    keys: HashSet<String>,
}

impl TieGroup {
    pub fn timestamp(&self) -> Option<DateTime<Utc>> {
        self.timestamp
    }

    /// Adds a record of the group's TimeStamp; false if its key is already in the group.
    pub fn insert(&mut self, record: Activity) -> bool {
        if !self.keys.insert(record.key().to_string()) {
            return false;
        }
        self.records.push(record);
        true
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
