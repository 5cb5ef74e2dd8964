//! The case timeline: every complete mailbox's activities merged by TimeStamp (ties by
//! mailbox, then key), streamed through a k-way merge so memory does not grow with the case.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::output::{CsvBuilder, CsvOptions, OutputError};
use crate::record::Activity;

/// Inputs merged at once; more are merged in rounds through temporary files, so the number of
/// open files stays bounded whatever the number of mailboxes.
const FAN_IN: usize = 200;

/// One sorted input: lines of raw records (one mailbox), or `mailbox\traw` lines (a round's output).
struct Source {
    lines: std::io::Lines<BufReader<File>>,
    mailbox: Option<String>,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Head {
    time: Option<DateTime<Utc>>,
    mailbox: String,
    key: String,
    raw: String,
    source: usize,
}

impl Source {
    fn next_head(&mut self, source: usize, path: &Path) -> Result<Option<Head>, OutputError> {
        let Some(line) = self.lines.next() else {
            return Ok(None);
        };
        let line = line.map_err(|e| OutputError::io("cannot read", path, e))?;
        let (mailbox, raw) = match &self.mailbox {
            Some(mailbox) => (mailbox.clone(), line),
            None => {
                let (mailbox, raw) = line.split_once('\t').unwrap_or(("", &line));
                (mailbox.to_string(), raw.to_string())
            }
        };
        let activity = Activity::from_json(&raw).map_err(|e| {
            OutputError::io(
                "cannot parse a record of",
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        Ok(Some(Head {
            time: activity.timestamp(),
            key: activity.key().to_string(),
            mailbox,
            raw,
            source,
        }))
    }
}

/// Merges sorted inputs, calling `emit(mailbox, raw)` in timeline order.
fn merge(
    inputs: &[(PathBuf, Option<String>)],
    mut emit: impl FnMut(&str, &str) -> Result<(), OutputError>,
) -> Result<(), OutputError> {
    let mut sources = Vec::with_capacity(inputs.len());
    for (path, mailbox) in inputs {
        let file = File::open(path).map_err(|e| OutputError::io("cannot open", path, e))?;
        sources.push(Source {
            lines: BufReader::new(file).lines(),
            mailbox: mailbox.clone(),
        });
    }
    let mut heap = BinaryHeap::new();
    for (index, source) in sources.iter_mut().enumerate() {
        if let Some(head) = source.next_head(index, &inputs[index].0)? {
            heap.push(Reverse(head));
        }
    }
    while let Some(Reverse(head)) = heap.pop() {
        emit(&head.mailbox, &head.raw)?;
        if let Some(next) = sources[head.source].next_head(head.source, &inputs[head.source].0)? {
            heap.push(Reverse(next));
        }
    }
    Ok(())
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
            let mut writer = BufWriter::new(file);
            merge(group, |mailbox, raw| {
                writeln!(writer, "{mailbox}\t{raw}")
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
    let merged = merge(&inputs, |mailbox, raw| {
        csv.add_with_leading(Some(mailbox), raw)
            .map_err(|e| OutputError::io("cannot write", &spool, e))
    });
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
