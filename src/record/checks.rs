//! The checks every source makes of the records it keeps, in one place (the Graph audit log,
//! the Management Activity API, and the sources to come): a record is evidence only if it can
//! be told apart and placed in time, so one without an id or a usable time is counted and
//! warned about, never passed off unnoticed; and de-duplication on the id says when it drops a
//! record whose content differs from the one kept under that id.
//!
//! A record without an id is kept (what the service sent is evidence) under a digest of its
//! text, so two byte-identical copies are one record and two different ones are two.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Activity;

/// How many ids of each kind are named in the manifest.
const EXAMPLES: usize = 5;

/// What the checks found, as the manifest records it (`source_log.record_checks`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordCheckCounts {
    /// Records kept without an id (a missing, null, empty or non-string one).
    pub without_id: u64,
    /// Records kept without a usable time (missing, null, a number, not ISO 8601).
    pub without_time: u64,
    /// Records dropped as duplicates of an id already kept, but whose content differs.
    pub same_id_other_content: u64,
    /// A few of the keys concerned (a digest for a record without an id).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}

impl RecordCheckCounts {
    /// Nothing to report.
    pub fn is_clean(&self) -> bool {
        self.without_id == 0 && self.without_time == 0 && self.same_id_other_content == 0
    }
}

/// The records kept so far by one pull, by key, with a digest of each one's text.
#[derive(Debug, Default)]
pub struct RecordChecks {
    kept: FxHashMap<Box<str>, [u8; 16]>,
    counts: RecordCheckCounts,
}

fn digest(record: &Activity) -> [u8; 16] {
    let full = Sha256::digest(record.raw_json().as_bytes());
    let mut short = [0; 16];
    short.copy_from_slice(&full[..16]);
    short
}

impl RecordChecks {
    /// Forgets the records kept so far, keeping the counts: for a walk whose windows partition
    /// time (the Entra ID logs), at each window's end, so its memory is one window's ids, not
    /// the pull's. A later window's record can repeat an earlier one's id only if the service
    /// moved it in time; that copy is then kept, not detected.
    pub fn forget_kept(&mut self) {
        self.kept.clear();
    }

    /// Whether `record` is to be kept: not a duplicate of one already kept. Counts (and warns
    /// about, the first time) a record without an id or a usable time, and a duplicate whose
    /// content differs from the record kept under its id.
    pub fn admit(&mut self, record: &Activity, noun: &str) -> bool {
        let text = digest(record);
        if let Some(kept) = self.kept.get(record.key()) {
            if *kept != text {
                self.counts.same_id_other_content += 1;
                if self.counts.same_id_other_content == 1 {
                    tracing::warn!(
                        "the service sent two {noun} with id {} but different content: the \
                         first is kept, the other dropped (counted in the manifest's \
                         source_log.record_checks)",
                        crate::wire::printable(record.key())
                    );
                }
                self.example(record);
            }
            return false;
        }
        self.kept.insert(record.key().into(), text);
        if !record.has_id() {
            self.counts.without_id += 1;
            if self.counts.without_id == 1 {
                tracing::warn!(
                    "the service sent one of its {noun} without an id: it is kept as received \
                     (keyed by its {}), and counted in the manifest's source_log.record_checks",
                    record.key()
                );
            }
            self.example(record);
        }
        if record.timestamp().is_none() {
            self.counts.without_time += 1;
            if self.counts.without_time == 1 {
                tracing::warn!(
                    "the service sent one of its {noun} ({}) without a usable time: it is kept as \
                     received, sorted first, and counted in the manifest's \
                     source_log.record_checks",
                    crate::wire::printable(record.key())
                );
            }
            self.example(record);
        }
        true
    }

    fn example(&mut self, record: &Activity) {
        let key = crate::wire::printable(record.key());
        if self.counts.examples.len() < EXAMPLES && !self.counts.examples.contains(&key) {
            self.counts.examples.push(key);
        }
    }

    pub fn counts(&self) -> &RecordCheckCounts {
        &self.counts
    }

    /// One warning summing up what was found, if anything.
    pub fn warn_summary(&self, noun: &str) {
        let c = &self.counts;
        if c.is_clean() {
            return;
        }
        tracing::warn!(
            "of the {noun} the service sent: {} kept without an id, {} kept without a usable \
             time, {} dropped as a duplicate id with other content (see the manifest's \
             source_log.record_checks)",
            c.without_id,
            c.without_time,
            c.same_id_other_content
        );
    }

    /// The manifest's record of the checks.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.counts).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_without_an_id_or_a_time_are_counted_and_kept() {
        let mut checks = RecordChecks::default();
        let shapes = [
            r#"{"createdDateTime":"2024-05-01T00:00:00Z"}"#,
            r#"{"id":null,"createdDateTime":"2024-05-01T00:00:00Z"}"#,
            r#"{"id":7,"createdDateTime":"2024-05-01T00:00:00Z"}"#,
            r#"{"id":"","createdDateTime":"2024-05-01T00:00:00Z"}"#,
            r#"{"id":"a","createdDateTime":"yesterday"}"#,
            r#"{"id":"b","createdDateTime":1714521600}"#,
            r#"{"id":"c"}"#,
        ];
        for raw in shapes {
            assert!(checks.admit(&Activity::from_json(raw).unwrap(), "records"));
        }
        assert_eq!(checks.counts().without_id, 4);
        assert_eq!(checks.counts().without_time, 3);
        // A byte-identical copy is one record; the same id with other content is counted.
        assert!(!checks.admit(&Activity::from_json(shapes[0]).unwrap(), "records"));
        assert!(!checks.admit(
            &Activity::from_json(r#"{"id":"c","x":1}"#).unwrap(),
            "records"
        ));
        assert_eq!(checks.counts().same_id_other_content, 1);
    }
}
