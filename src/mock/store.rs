//! The mock tenant's mailboxes: activities kept sorted by time, so a time-bounded query finds
//! its first record by binary search and `$skip` costs nothing when time bounds are the whole filter.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use serde_json::Value;

use super::filter::{Expr, Fields};

/// The field of a corpus line that names its mailbox (removed before serving).
pub const MAILBOX_FIELD: &str = "_mailbox";

/// One activity as the mock serves it.
#[derive(Debug, Clone)]
pub struct StoredActivity {
    pub time_nanos: i64,
    pub id: String,
    pub activity_type: String,
    pub app_type: String,
    /// The record's JSON text, as served.
    pub json: String,
}

impl StoredActivity {
    /// Reads the keys the server needs out of a record object.
    pub fn from_value(record: &Value) -> Result<Self, String> {
        let text = |name: &str| {
            record
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let time = text("TimeStamp");
        let time_nanos = chrono::DateTime::parse_from_rfc3339(&time)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
            .ok_or_else(|| format!("TimeStamp {time:?} is not an ISO 8601 date-time"))?;
        Ok(StoredActivity {
            time_nanos,
            id: text("Id"),
            activity_type: text("ActivityIdType"),
            app_type: text("AppIdType"),
            json: record.to_string(),
        })
    }

    fn order_key(&self) -> (i64, &str) {
        (self.time_nanos, &self.id)
    }
}

/// The activities of one mailbox, ascending by (TimeStamp, Id).
#[derive(Debug, Default)]
pub struct Mailbox {
    activities: Vec<StoredActivity>,
}

/// What one page request asks of a mailbox.
pub struct PageSpec<'a> {
    pub filter: Option<&'a Expr>,
    pub descending: bool,
    pub top: usize,
    pub skip: usize,
}

impl Mailbox {
    pub fn new(mut activities: Vec<StoredActivity>) -> Self {
        activities.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        Mailbox { activities }
    }

    pub fn len(&self) -> usize {
        self.activities.len()
    }

    pub fn is_empty(&self) -> bool {
        self.activities.is_empty()
    }

    pub fn activities(&self) -> &[StoredActivity] {
        &self.activities
    }

    /// The records of one page, in the requested order.
    pub fn page(&self, spec: &PageSpec<'_>) -> Vec<&StoredActivity> {
        let (low, high, bounds_are_everything) =
            spec.filter
                .map(Expr::time_range)
                .unwrap_or((i64::MIN, i64::MAX, true));
        let start = self.activities.partition_point(|a| a.time_nanos < low);
        let end = self
            .activities
            .partition_point(|a| a.time_nanos <= high)
            .max(start);
        let candidates = &self.activities[start..end];
        if bounds_are_everything {
            let available = candidates.len().saturating_sub(spec.skip);
            let count = available.min(spec.top);
            return if spec.descending {
                let last = candidates.len() - spec.skip.min(candidates.len());
                candidates[last - count..last].iter().rev().collect()
            } else {
                candidates[spec.skip.min(candidates.len())..][..count]
                    .iter()
                    .collect()
            };
        }
        let matches = |a: &&StoredActivity| {
            spec.filter.is_none_or(|f| {
                f.matches(&Fields {
                    time_nanos: a.time_nanos,
                    activity_type: &a.activity_type,
                    app_type: &a.app_type,
                })
            })
        };
        let ordered: Box<dyn Iterator<Item = &StoredActivity>> = if spec.descending {
            Box::new(candidates.iter().rev())
        } else {
            Box::new(candidates.iter())
        };
        ordered
            .filter(matches)
            .skip(spec.skip)
            .take(spec.top)
            .collect()
    }

    /// Adds an activity (a live mailbox), keeping the order.
    pub fn insert(&mut self, activity: StoredActivity) {
        let at = self
            .activities
            .partition_point(|a| a.order_key() <= activity.order_key());
        self.activities.insert(at, activity);
    }

    /// Purges the `count` oldest activities (six-month retention), returning how many went.
    pub fn purge_oldest(&mut self, count: usize) -> usize {
        let count = count.min(self.activities.len());
        self.activities.drain(..count);
        count
    }
}

/// Reads a corpus file: one record per line, each with a `_mailbox` field.
pub fn load_corpus(path: &Path) -> Result<BTreeMap<String, Vec<StoredActivity>>, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot open corpus {}: {e}", path.display()))?;
    let mut mailboxes: BTreeMap<String, Vec<StoredActivity>> = BTreeMap::new();
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("cannot read corpus {}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = |e: String| format!("corpus {} line {}: {e}", path.display(), number + 1);
        let mut record: Value = serde_json::from_str(&line).map_err(|e| at(e.to_string()))?;
        let mailbox = record
            .as_object_mut()
            .and_then(|o| o.shift_remove(MAILBOX_FIELD))
            .and_then(|v| v.as_str().map(str::to_ascii_lowercase))
            .ok_or_else(|| at(format!("no \"{MAILBOX_FIELD}\" field naming the mailbox")))?;
        let activity = StoredActivity::from_value(&record).map_err(at)?;
        mailboxes.entry(mailbox).or_default().push(activity);
    }
    Ok(mailboxes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::filter::parse;

    fn mailbox() -> Mailbox {
        let activities = (0..10)
            .map(|i| StoredActivity {
                time_nanos: (i / 2) as i64 * 1_000_000,
                id: format!("id{i}"),
                activity_type: if i % 3 == 0 {
                    "Move".into()
                } else {
                    "Delete".into()
                },
                app_type: "Web".into(),
                json: format!("{{\"Id\":\"id{i}\"}}"),
            })
            .collect();
        Mailbox::new(activities)
    }

    fn ids(page: Vec<&StoredActivity>) -> Vec<&str> {
        page.into_iter().map(|a| a.id.as_str()).collect()
    }

    #[test]
    fn time_bounded_pages_by_index_both_ways() {
        let m = mailbox();
        let f = parse(
            "TimeStamp ge 1970-01-01T00:00:00.001Z and TimeStamp lt 1970-01-01T00:00:00.004Z",
        )
        .unwrap();
        let asc = PageSpec {
            filter: Some(&f),
            descending: false,
            top: 3,
            skip: 1,
        };
        assert_eq!(ids(m.page(&asc)), vec!["id3", "id4", "id5"]);
        let desc = PageSpec {
            filter: Some(&f),
            descending: true,
            top: 4,
            skip: 4,
        };
        assert_eq!(ids(m.page(&desc)), vec!["id3", "id2"]);
    }

    #[test]
    fn type_filters_scan_candidates() {
        let m = mailbox();
        let f = parse("ActivityIdType eq 'Move'").unwrap();
        let spec = PageSpec {
            filter: Some(&f),
            descending: true,
            top: 10,
            skip: 1,
        };
        assert_eq!(ids(m.page(&spec)), vec!["id6", "id3", "id0"]);
    }

    #[test]
    fn insert_and_purge_keep_order() {
        let mut m = mailbox();
        assert_eq!(m.purge_oldest(3), 3);
        m.insert(StoredActivity {
            time_nanos: 0,
            id: "early".into(),
            activity_type: String::new(),
            app_type: String::new(),
            json: String::new(),
        });
        assert_eq!(m.activities()[0].id, "early");
        assert_eq!(m.activities()[1].id, "id3");
    }
}
