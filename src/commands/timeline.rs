//! The case timeline: every complete mailbox's activities merged by TimeStamp (ties by
//! mailbox, then key), streamed through a k-way merge so memory does not grow with the case.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};

use crate::output::{CsvBuilder, CsvOptions, OutputError};
use crate::record::Activity;

/// Inputs merged at once; more are merged in rounds through temporary files, so the number of
/// open files stays bounded whatever the number of mailboxes.
const FAN_IN: usize = 200;

/// Records handed from the merge to the flattening thread at a time (one hand-over per record
/// would cost more than the record).
const HAND_OVER: usize = 512;

/// One sorted input: lines of raw records (one mailbox), or `mailbox\traw` lines (a round's output).
struct Source {
    lines: std::io::Lines<BufReader<File>>,
    mailbox: Option<Arc<str>>,
}

/// The next record of one source. Ordered by TimeStamp, then mailbox, then key (and, for
/// records that agree on all three, their text and source, so the order is total).
struct Head {
    mailbox: Arc<str>,
    activity: Activity,
    source: usize,
}

impl Head {
    fn rank(&self) -> impl Ord + '_ {
        (
            self.activity.timestamp(),
            &*self.mailbox,
            self.activity.key(),
            self.activity.raw_json(),
            self.source,
        )
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}

impl Source {
    fn next_head(&mut self, source: usize, path: &Path) -> Result<Option<Head>, OutputError> {
        let Some(line) = self.lines.next() else {
            return Ok(None);
        };
        let line = line.map_err(|e| OutputError::io("cannot read", path, e))?;
        // The line becomes the record's text as it is: no copy per record.
        let (mailbox, start) = match &self.mailbox {
            Some(mailbox) => (Arc::clone(mailbox), 0),
            None => match line.split_once('\t') {
                Some((mailbox, _)) => (Arc::from(mailbox), mailbox.len() + 1),
                None => (Arc::from(""), 0),
            },
        };
        let activity = Activity::from_owned_json(line, start).map_err(|e| {
            OutputError::io(
                "cannot parse a record of",
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        Ok(Some(Head {
            mailbox,
            activity,
            source,
        }))
    }
}

/// Merges sorted inputs, calling `emit(mailbox, activity)` in timeline order.
fn merge(
    inputs: &[(PathBuf, Option<String>)],
    mut emit: impl FnMut(Arc<str>, Activity) -> Result<(), OutputError>,
) -> Result<(), OutputError> {
    let mut sources = Vec::with_capacity(inputs.len());
    for (path, mailbox) in inputs {
        let file = File::open(path).map_err(|e| OutputError::io("cannot open", path, e))?;
        sources.push(Source {
            lines: BufReader::with_capacity(64 * 1024, file).lines(),
            mailbox: mailbox.as_deref().map(Arc::from),
        });
    }
    let mut heap = BinaryHeap::new();
    for (index, source) in sources.iter_mut().enumerate() {
        if let Some(head) = source.next_head(index, &inputs[index].0)? {
            heap.push(Reverse(head));
        }
    }
    while let Some(Reverse(head)) = heap.pop() {
        let source = head.source;
        emit(head.mailbox, head.activity)?;
        if let Some(next) = sources[source].next_head(source, &inputs[source].0)? {
            heap.push(Reverse(next));
        }
    }
    Ok(())
}

/// Merges `inputs` into the timeline's cell spool: the merge on this thread, the flattening on
/// another, so a case's last step uses two cores.
fn merge_into_csv(
    inputs: &[(PathBuf, Option<String>)],
    csv: &mut CsvBuilder,
    spool: &Path,
) -> Result<(), OutputError> {
    let (sender, receiver) = mpsc::sync_channel::<Vec<(Arc<str>, Activity)>>(4);
    std::thread::scope(|scope| {
        let flattener = std::thread::Builder::new()
            .name("timeline-flatten".into())
            .spawn_scoped(scope, move || -> Result<(), OutputError> {
                for batch in receiver {
                    for (mailbox, activity) in batch {
                        csv.add_with_leading(Some(&mailbox), activity.raw_json())
                            .map_err(|e| OutputError::io("cannot write", spool, e))?;
                    }
                }
                Ok(())
            })
            .map_err(|e| OutputError::io("cannot start a thread for", spool, e))?;
        let mut batch = Vec::with_capacity(HAND_OVER);
        let merged = merge(inputs, |mailbox, activity| {
            batch.push((mailbox, activity));
            if batch.len() == HAND_OVER {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(HAND_OVER));
                // A closed channel means the flattener stopped on an error, reported below.
                sender.send(full).map_err(|_| {
                    OutputError::io("cannot write", spool, std::io::Error::other("stopped"))
                })?;
            }
            Ok(())
        });
        if merged.is_ok() && !batch.is_empty() {
            let _ = sender.send(batch);
        }
        drop(sender);
        let flattened = flattener
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // The flattener's own error explains a merge that stopped because of it.
        flattened.and(merged)
    })
}

/// Writes `timeline.csv` from the evidence files of complete mailboxes; returns (sha256, bytes).
pub fn write_timeline(
    evidence: &[(String, PathBuf)],
    out: &Path,
    scratch: &Path,
    sanitize: bool,
) -> Result<(String, u64), OutputError> {
    let mut inputs: Vec<(PathBuf, Option<String>)> = evidence
        .iter()
        .map(|(mailbox, path)| (path.clone(), Some(mailbox.clone())))
        .collect();
    let mut round = 0;
    let mut scratch_files = Vec::new();
    while inputs.len() > FAN_IN {
        round += 1;
        let mut next = Vec::new();
        for (index, group) in inputs.chunks(FAN_IN).enumerate() {
            let path = scratch.join(format!(".timeline-round{round}-{index}.tmp"));
            let file =
                File::create(&path).map_err(|e| OutputError::io("cannot create", &path, e))?;
            let mut writer = BufWriter::with_capacity(256 * 1024, file);
            merge(group, |mailbox, activity| {
                writeln!(writer, "{mailbox}\t{}", activity.raw_json())
                    .map_err(|e| OutputError::io("cannot write", &path, e))
            })?;
            writer
                .flush()
                .map_err(|e| OutputError::io("cannot write", &path, e))?;
            scratch_files.push(path.clone());
            next.push((path, None));
        }
        inputs = next;
    }
    let spool = scratch.join(".timeline.cells.tmp");
    let mut csv = CsvBuilder::create_with_leading(spool.clone(), Some("Mailbox"))
        .map_err(|e| OutputError::io("cannot create", &spool, e))?;
    let merged = merge_into_csv(&inputs, &mut csv, &spool);
    for path in &scratch_files {
        let _ = std::fs::remove_file(path);
    }
    merged?;
    let temporary = crate::output::OutputPlan::temporary(out);
    let (sha256, bytes) = csv.write_csv_file(&temporary, CsvOptions { sanitize })?;
    crate::output::commit(&temporary, out)?;
    Ok((sha256, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_by_time_then_mailbox_in_rounds() {
        let dir = tempfile::tempdir().unwrap();
        let mut evidence = Vec::new();
        for m in 0..(FAN_IN + 5) {
            let path = dir.path().join(format!("{m}.jsonl"));
            let lines: Vec<String> = [m % 7, 10 + m % 3]
                .iter()
                .map(|s| {
                    format!(
                        r#"{{"Id":"{m}-{s}","TimeStamp":"2018-01-01T00:00:{:02}Z"}}"#,
                        s
                    )
                })
                .collect();
            std::fs::write(&path, lines.join("\n")).unwrap();
            evidence.push((format!("user{m:03}@x.com"), path));
        }
        let out = dir.path().join("timeline.csv");
        write_timeline(&evidence, &out, dir.path(), true).unwrap();
        let mut reader = csv::Reader::from_path(&out).unwrap();
        assert_eq!(&reader.headers().unwrap()[0], "Mailbox");
        let rows: Vec<(String, String)> = reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[1].to_string(), r[0].to_string())
            })
            .collect();
        assert_eq!(rows.len(), 2 * (FAN_IN + 5));
        let mut sorted = rows.clone();
        sorted.sort();
        assert_eq!(rows, sorted);
        assert!(!dir.path().join(".timeline-round1-0.tmp").exists());
    }
}
