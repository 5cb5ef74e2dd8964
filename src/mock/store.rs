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

/// Where one activity's text is: held in memory, or a line of the corpus file.
#[derive(Debug, Clone, Copy)]
struct Entry {
    time_nanos: i64,
    /// For a line of the file: the byte offset of its text after `{"_mailbox":"...",`; for a
    /// held activity: its index in `held`.
    at: u64,
    /// The length of that text, or `HELD` for a held activity.
    len: u32,
    /// Interned `ActivityIdType` and `AppIdType` (a line of the file only).
    activity_type: u16,
    app_type: u16,
}

const HELD: u32 = u32::MAX;

/// A corpus file read on demand, and the names its lines' types are interned to.
#[derive(Debug)]
pub struct CorpusText {
    file: std::fs::File,
    names: Vec<String>,
}

impl CorpusText {
    /// The served text of a line: `{` and the line after its `_mailbox` field.
    fn read(&self, entry: &Entry) -> std::io::Result<String> {
        use std::os::unix::fs::FileExt;
        let mut bytes = vec![0u8; entry.len as usize + 1];
        bytes[0] = b'{';
        self.file.read_exact_at(&mut bytes[1..], entry.at)?;
        String::from_utf8(bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

/// One activity of a page: its keys and its JSON text, as served.
pub struct Served<'a> {
    pub time_nanos: i64,
    pub id: std::borrow::Cow<'a, str>,
    pub json: std::borrow::Cow<'a, str>,
}

/// The activities of one mailbox, ascending by (TimeStamp, Id): an index of 24 bytes an
/// activity, each either held in memory (a generated tenant, a live insert) or a line of the
/// corpus file read when a page is served (`serve --corpus`), so a tenant of millions of
/// activities costs tens of megabytes, not its file's size several times over.
#[derive(Debug, Default)]
pub struct Mailbox {
    entries: Vec<Entry>,
    held: Vec<StoredActivity>,
    file: Option<std::sync::Arc<CorpusText>>,
}

/// What one page request asks of a mailbox.
pub struct PageSpec<'a> {
    pub filter: Option<&'a Expr>,
    pub descending: bool,
    pub top: usize,
    pub skip: usize,
}

impl From<Vec<StoredActivity>> for Mailbox {
    fn from(activities: Vec<StoredActivity>) -> Self {
        Mailbox::new(activities)
    }
}

/// The `Id` of a record's text (empty when it has none, as `StoredActivity::from_value` reads it).
fn id_of(json: &str) -> std::borrow::Cow<'_, str> {
    #[derive(serde::Deserialize)]
    struct Keys<'a> {
        #[serde(rename = "Id", borrow, default)]
        id: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_str::<Keys>(json)
        .ok()
        .and_then(|k| k.id)
        .unwrap_or_default()
}

impl Mailbox {
    pub fn new(mut activities: Vec<StoredActivity>) -> Self {
        activities.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        let entries = (0..activities.len())
            .map(|index| Entry {
                time_nanos: activities[index].time_nanos,
                at: index as u64,
                len: HELD,
                activity_type: 0,
                app_type: 0,
            })
            .collect();
        Mailbox {
            entries,
            held: activities,
            file: None,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The held activities (all of them for a mailbox not read from a corpus file), in the
    /// order they were added.
    pub fn activities(&self) -> Vec<&StoredActivity> {
        self.entries
            .iter()
            .filter(|e| e.len == HELD)
            .map(|e| &self.held[e.at as usize])
            .collect()
    }

    fn fields(&self, entry: &Entry) -> Fields<'_> {
        match (&self.file, entry.len) {
            (Some(file), len) if len != HELD => Fields {
                time_nanos: entry.time_nanos,
                activity_type: &file.names[entry.activity_type as usize],
                app_type: &file.names[entry.app_type as usize],
            },
            _ => {
                let held = &self.held[entry.at as usize];
                Fields {
                    time_nanos: held.time_nanos,
                    activity_type: &held.activity_type,
                    app_type: &held.app_type,
                }
            }
        }
    }

    fn served(&self, entry: &Entry) -> std::io::Result<Served<'_>> {
        match (&self.file, entry.len) {
            (Some(file), len) if len != HELD => {
                let json = file.read(entry)?;
                let id = id_of(&json).into_owned();
                Ok(Served {
                    time_nanos: entry.time_nanos,
                    id: id.into(),
                    json: json.into(),
                })
            }
            _ => {
                let held = &self.held[entry.at as usize];
                Ok(Served {
                    time_nanos: held.time_nanos,
                    id: held.id.as_str().into(),
                    json: held.json.as_str().into(),
                })
            }
        }
    }

    fn order_key_of(&self, entry: &Entry) -> std::io::Result<(i64, String)> {
        Ok((entry.time_nanos, self.served(entry)?.id.into_owned()))
    }

    /// The records of one page, in the requested order (an error when the corpus file cannot
    /// be read).
    pub fn page(&self, spec: &PageSpec<'_>) -> std::io::Result<Vec<Served<'_>>> {
        let (low, high, bounds_are_everything) =
            spec.filter
                .map(Expr::time_range)
                .unwrap_or((i64::MIN, i64::MAX, true));
        let start = self.entries.partition_point(|a| a.time_nanos < low);
        let end = self
            .entries
            .partition_point(|a| a.time_nanos <= high)
            .max(start);
        let candidates = &self.entries[start..end];
        let chosen: Vec<&Entry> = if bounds_are_everything {
            let available = candidates.len().saturating_sub(spec.skip);
            let count = available.min(spec.top);
            if spec.descending {
                let last = candidates.len() - spec.skip.min(candidates.len());
                candidates[last - count..last].iter().rev().collect()
            } else {
                candidates[spec.skip.min(candidates.len())..][..count]
                    .iter()
                    .collect()
            }
        } else {
            let matches = |a: &&Entry| spec.filter.is_none_or(|f| f.matches(&self.fields(a)));
            let ordered: Box<dyn Iterator<Item = &Entry>> = if spec.descending {
                Box::new(candidates.iter().rev())
            } else {
                Box::new(candidates.iter())
            };
            ordered
                .filter(matches)
                .skip(spec.skip)
                .take(spec.top)
                .collect()
        };
        chosen.into_iter().map(|e| self.served(e)).collect()
    }

    /// Adds an activity (a live mailbox), keeping the order.
    pub fn insert(&mut self, activity: StoredActivity) {
        let key = (activity.time_nanos, activity.id.clone());
        let mut at = self.entries.partition_point(|a| a.time_nanos < key.0);
        while at < self.entries.len()
            && self.order_key_of(&self.entries[at]).is_ok_and(|k| k <= key)
        {
            at += 1;
        }
        let entry = Entry {
            time_nanos: activity.time_nanos,
            at: self.held.len() as u64,
            len: HELD,
            activity_type: 0,
            app_type: 0,
        };
        self.held.push(activity);
        self.entries.insert(at, entry);
    }

    /// Purges the `count` oldest activities (six-month retention), returning how many went.
    pub fn purge_oldest(&mut self, count: usize) -> usize {
        let count = count.min(self.entries.len());
        self.entries.drain(..count);
        count
    }
}

/// Reads a corpus file into an index of its lines (`serve --corpus`): one pass, keeping per
/// activity its time, its interned types and where its text is. A line written as `generate`
/// writes it (`{"_mailbox":"...",` then the record exactly as serde_json prints it) is read
/// again from the file when served; any other line is held parsed and printed, as
/// `load_corpus` does, so every answer is the same bytes either way.
pub fn load_corpus_indexed(path: &Path) -> Result<BTreeMap<String, Mailbox>, String> {
    let cannot_read = |e: std::io::Error| format!("cannot read corpus {}: {e}", path.display());
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot open corpus {}: {e}", path.display()))?;
    let mut reader =
        std::io::BufReader::with_capacity(1 << 20, file.try_clone().map_err(cannot_read)?);
    let mut names: Vec<String> = Vec::new();
    let mut interned: std::collections::HashMap<String, u16> = std::collections::HashMap::new();
    // Per mailbox: its entries, held activities, and whether they came in order.
    #[derive(Default)]
    struct Building {
        mailbox: Mailbox,
        last: Option<(i64, String)>,
        sorted: bool,
    }
    let mut building: BTreeMap<String, Building> = BTreeMap::new();
    let mut line = Vec::new();
    let mut record = String::new();
    let mut printed = Vec::new();
    let mut offset = 0u64;
    let mut number = 0usize;
    let prefix = format!(
        "{{{}:",
        serde_json::to_string(MAILBOX_FIELD).unwrap_or_default()
    );
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).map_err(cannot_read)?;
        if read == 0 {
            break;
        }
        let line_start = offset;
        offset += read as u64;
        number += 1;
        let mut text_bytes = &line[..];
        if let Some(rest) = text_bytes.strip_suffix(b"\n") {
            text_bytes = rest.strip_suffix(b"\r").unwrap_or(rest);
        }
        let text = std::str::from_utf8(text_bytes).map_err(|_| {
            cannot_read(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            ))
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let at = |e: String| format!("corpus {} line {number}: {e}", path.display());
        // The fast way: the line as `generate` writes it.
        let fast = (|| {
            let after = text.strip_prefix(&prefix)?;
            let mut values = serde_json::Deserializer::from_str(after).into_iter::<String>();
            let mailbox = values.next()?.ok()?;
            let rest = after[values.byte_offset()..].strip_prefix(',')?;
            if memchr::memmem::find(rest.as_bytes(), b"\"_mailbox\"").is_some() {
                return None;
            }
            record.clear();
            record.push('{');
            record.push_str(rest);
            // Printed again by serde_json, the record must be these very bytes.
            printed.clear();
            let mut de = serde_json::Deserializer::from_str(&record);
            serde_transcode::transcode(&mut de, &mut serde_json::Serializer::new(&mut printed))
                .ok()?;
            de.end().ok()?;
            if printed != record.as_bytes() {
                return None;
            }
            #[derive(serde::Deserialize)]
            struct Keys<'a> {
                #[serde(rename = "TimeStamp", borrow)]
                time: std::borrow::Cow<'a, str>,
                #[serde(rename = "Id", borrow)]
                id: std::borrow::Cow<'a, str>,
                #[serde(rename = "ActivityIdType", borrow, default)]
                activity_type: std::borrow::Cow<'a, str>,
                #[serde(rename = "AppIdType", borrow, default)]
                app_type: std::borrow::Cow<'a, str>,
            }
            let keys: Keys = serde_json::from_str(&record).ok()?;
            let time_nanos = chrono::DateTime::parse_from_rfc3339(&keys.time)
                .ok()
                .and_then(|t| t.timestamp_nanos_opt())?;
            let mut intern = |name: &str| -> Option<u16> {
                if let Some(&index) = interned.get(name) {
                    return Some(index);
                }
                let index = u16::try_from(names.len()).ok()?;
                names.push(name.to_string());
                interned.insert(name.to_string(), index);
                Some(index)
            };
            let activity_type = intern(&keys.activity_type)?;
            let app_type = intern(&keys.app_type)?;
            let rest_at = line_start + (text.len() - rest.len()) as u64;
            Some((
                mailbox.to_ascii_lowercase(),
                keys.id.into_owned(),
                Entry {
                    time_nanos,
                    at: rest_at,
                    len: u32::try_from(rest.len()).ok()?,
                    activity_type,
                    app_type,
                },
            ))
        })();
        let (mailbox, id, entry, held) = match fast {
            Some((mailbox, id, entry)) => (mailbox, id, entry, None),
            None => {
                let mut value: Value = serde_json::from_str(text).map_err(|e| at(e.to_string()))?;
                let mailbox = value
                    .as_object_mut()
                    .and_then(|o| o.shift_remove(MAILBOX_FIELD))
                    .and_then(|v| v.as_str().map(str::to_ascii_lowercase))
                    .ok_or_else(|| {
                        at(format!("no \"{MAILBOX_FIELD}\" field naming the mailbox"))
                    })?;
                let activity = StoredActivity::from_value(&value).map_err(at)?;
                let entry = Entry {
                    time_nanos: activity.time_nanos,
                    at: 0,
                    len: HELD,
                    activity_type: 0,
                    app_type: 0,
                };
                (mailbox, activity.id.clone(), entry, Some(activity))
            }
        };
        let slot = building.entry(mailbox).or_insert_with(|| Building {
            sorted: true,
            ..Building::default()
        });
        let key = (entry.time_nanos, id);
        if slot.last.as_ref().is_some_and(|last| key < *last) {
            slot.sorted = false;
        }
        slot.last = Some(key);
        let mut entry = entry;
        if let Some(activity) = held {
            entry.at = slot.mailbox.held.len() as u64;
            slot.mailbox.held.push(activity);
        }
        slot.mailbox.entries.push(entry);
    }
    let corpus = std::sync::Arc::new(CorpusText { file, names });
    let mut mailboxes = BTreeMap::new();
    for (upn, mut slot) in building {
        slot.mailbox.file = Some(std::sync::Arc::clone(&corpus));
        if !slot.sorted {
            // Out of order in the file: sorted by (time, Id) as `Mailbox::new` sorts, the Ids
            // read again.
            let mailbox = &slot.mailbox;
            let mut keyed = mailbox
                .entries
                .iter()
                .map(|e| Ok((mailbox.order_key_of(e)?, *e)))
                .collect::<std::io::Result<Vec<_>>>()
                .map_err(cannot_read)?;
            keyed.sort_by(|a, b| a.0.cmp(&b.0));
            slot.mailbox.entries = keyed.into_iter().map(|(_, e)| e).collect();
        }
        slot.mailbox.entries.shrink_to_fit();
        mailboxes.insert(upn, slot.mailbox);
    }
    Ok(mailboxes)
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

    fn ids(page: std::io::Result<Vec<Served<'_>>>) -> Vec<String> {
        page.unwrap()
            .into_iter()
            .map(|a| a.id.into_owned())
            .collect()
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

    /// A corpus file indexed gives every page the same bytes as the corpus held: lines as
    /// `generate` writes them, and others (spaces, `_mailbox` last, escapes, out of order)
    /// held as before.
    #[test]
    fn an_indexed_corpus_serves_the_same_pages_as_a_held_one() {
        use crate::mock::{generate, write_corpus, CorpusSpec, Scenario};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corpus.jsonl");
        let corpus = generate(&CorpusSpec {
            users: 3,
            per_user: 400,
            days: 30,
            end: crate::mock::generate::default_end(),
            seed: 9,
            scenario: Scenario::BecSimple,
        });
        write_corpus(&corpus, &path).unwrap();
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"_mailbox\": \"Odd@Contoso.com\", \"Id\": \"b\", \"TimeStamp\": \"2018-05-01T00:00:02Z\", \"ActivityIdType\": \"Move\"}\r\n");
        text.push_str("{\"Id\":\"a\",\"TimeStamp\":\"2018-05-01T00:00:01Z\",\"AppIdType\":\"Web\",\"_mailbox\":\"odd@contoso.com\"}\n\n");
        text.push_str("{\"_mailbox\":\"odd@contoso.com\",\"Id\":\"c\",\"TimeStamp\":\"2018-05-01T00:00:00Z\",\"Subject\":\"\\u00e9t\\u00e9\",\"ActivityIdType\":\"Move\"}\n");
        text.push_str("{\"_mailbox\":\"odd@contoso.com\",\"Id\":\"d\",\"TimeStamp\":\"2018-05-01T00:00:00Z\",\"Subject\":\"é\",\"ActivityIdType\":\"Move\"}\n");
        std::fs::write(&path, text).unwrap();

        let held: BTreeMap<String, Mailbox> = load_corpus(&path)
            .unwrap()
            .into_iter()
            .map(|(upn, activities)| (upn, Mailbox::new(activities)))
            .collect();
        let indexed = load_corpus_indexed(&path).unwrap();
        assert_eq!(
            held.keys().collect::<Vec<_>>(),
            indexed.keys().collect::<Vec<_>>()
        );
        // Most lines are read from the file, not held.
        let from_file: usize = indexed
            .values()
            .map(|m| m.len() - m.activities().len())
            .sum();
        assert!(from_file >= 1200, "{from_file}");
        let filters = [
            None,
            Some(parse("ActivityIdType eq 'Move'").unwrap()),
            Some(
                parse("TimeStamp ge 2018-05-10T00:00:00Z and TimeStamp lt 2018-05-20T00:00:00Z")
                    .unwrap(),
            ),
            Some(parse("AppIdType eq 'Web' or ActivityIdType eq 'ServerLogon'").unwrap()),
        ];
        for (upn, mailbox) in &held {
            let other = &indexed[upn];
            assert_eq!(mailbox.len(), other.len(), "{upn}");
            for filter in &filters {
                for (descending, top, skip) in [(false, 1000, 0), (true, 7, 3), (false, 50, 120)] {
                    let spec = PageSpec {
                        filter: filter.as_ref(),
                        descending,
                        top,
                        skip,
                    };
                    let texts = |m: &Mailbox| -> Vec<(i64, String, String)> {
                        m.page(&spec)
                            .unwrap()
                            .into_iter()
                            .map(|s| (s.time_nanos, s.id.into_owned(), s.json.into_owned()))
                            .collect()
                    };
                    assert_eq!(
                        texts(mailbox),
                        texts(other),
                        "{upn} {descending} {top} {skip}"
                    );
                }
            }
        }
        // The out-of-order mailbox is in (time, Id) order.
        let odd = indexed["odd@contoso.com"]
            .page(&PageSpec {
                filter: None,
                descending: false,
                top: 10,
                skip: 0,
            })
            .unwrap();
        let ids: Vec<&str> = odd.iter().map(|s| &*s.id).collect();
        assert_eq!(ids, ["c", "d", "a", "b"]);
    }
}
