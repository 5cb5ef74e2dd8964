//! The case timeline: every complete mailbox's activities merged by TimeStamp (ties by
//! mailbox, then key), streamed through a k-way merge so memory does not grow with the case.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeSet, BinaryHeap};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};

use crate::output::{
    create_private, Added, BackgroundFile, CsvBuilder, CsvOptions, KnownColumnsCsv, OutputError,
    RecordShape,
};
use crate::record::Activity;

/// Inputs merged at once; more are merged in rounds through temporary files, so the number of
/// open files stays bounded whatever the number of mailboxes.
const FAN_IN: usize = 200;

/// Records handed from the merge to the flattening thread at a time (one hand-over per record
/// would cost more than the record).
const HAND_OVER: usize = 512;

/// The timeline's first column.
const MAILBOX_COLUMN: &str = "Mailbox";

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

/// Merges `inputs`, calling `add(mailbox, raw)` for each record in timeline order: the merge
/// on this thread, `add` (flattening, encoding) on another, so a case's last step uses two
/// cores. `add` may stop the merge early with `Break`, which is returned.
fn merge_on_two_threads(
    inputs: &[(PathBuf, Option<String>)],
    out: &Path,
    mut add: impl FnMut(&str, &str) -> Result<ControlFlow<()>, OutputError> + Send,
) -> Result<ControlFlow<()>, OutputError> {
    let (sender, receiver) = mpsc::sync_channel::<Vec<(Arc<str>, Activity)>>(4);
    std::thread::scope(|scope| {
        let flattener = std::thread::Builder::new()
            .name("timeline-flatten".into())
            .spawn_scoped(scope, move || {
                for batch in receiver {
                    for (mailbox, activity) in batch {
                        if add(&mailbox, activity.raw_json())?.is_break() {
                            return Ok(ControlFlow::Break(()));
                        }
                    }
                }
                Ok(ControlFlow::Continue(()))
            })
            .map_err(|e| OutputError::io("cannot start a thread for", out, e))?;
        let mut batch = Vec::with_capacity(HAND_OVER);
        let merged = merge(inputs, |mailbox, activity| {
            batch.push((mailbox, activity));
            if batch.len() == HAND_OVER {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(HAND_OVER));
                // A closed channel means the flattener stopped, which it reports below.
                sender.send(full).map_err(|_| {
                    OutputError::io("cannot write", out, std::io::Error::other("stopped"))
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
        // The flattener's own outcome explains a merge that stopped because of it.
        match flattened? {
            ControlFlow::Break(()) => Ok(ControlFlow::Break(())),
            ControlFlow::Continue(()) => merged.map(|()| ControlFlow::Continue(())),
        }
    })
}

/// The timeline written row by row under a header planned from `columns`; `None` (and nothing
/// left behind) if a record has a column the plan lacks or the plan has one no record has.
fn write_planned(
    inputs: &[(PathBuf, Option<String>)],
    temporary: &Path,
    columns: BTreeSet<String>,
    shape: RecordShape,
    options: CsvOptions,
) -> Result<Option<(String, u64)>, OutputError> {
    let failed = |e| OutputError::io("cannot write", temporary, e);
    // The mailbox CSVs' header cells were neutralised as values are: the plan is of keys.
    let columns = if options.sanitize {
        columns
            .iter()
            .map(|name| crate::output::unsanitized(name).to_string())
            .collect()
    } else {
        columns
    };
    let file = BackgroundFile::create(temporary)
        .map_err(|e| OutputError::io("cannot create", temporary, e))?;
    let Some(mut csv) =
        KnownColumnsCsv::new(file, MAILBOX_COLUMN, columns, shape, options).map_err(failed)?
    else {
        let _ = std::fs::remove_file(temporary);
        return Ok(None);
    };
    let merged = merge_on_two_threads(inputs, temporary, |mailbox, raw| {
        match csv.add(mailbox, raw).map_err(failed)? {
            Added::Row => Ok(ControlFlow::Continue(())),
            Added::Unplanned(column) => {
                tracing::debug!(
                    "the timeline has a column no mailbox CSV has ({column}): spooling it instead"
                );
                Ok(ControlFlow::Break(()))
            }
        }
    });
    if !matches!(merged, Ok(ControlFlow::Continue(()))) {
        let _ = std::fs::remove_file(temporary);
        return merged.map(|_| None);
    }
    let Some(file) = csv.finish().map_err(failed)? else {
        tracing::debug!("the mailbox CSVs name a column no record has: spooling the timeline");
        let _ = std::fs::remove_file(temporary);
        return Ok(None);
    };
    file.finish().map(Some).map_err(failed)
}

/// The timeline built through a cell spool, its columns learned as the records pass.
fn write_spooled(
    inputs: &[(PathBuf, Option<String>)],
    temporary: &Path,
    scratch: &Path,
    shape: RecordShape,
    options: CsvOptions,
) -> Result<(String, u64), OutputError> {
    let spool = scratch.join(".timeline.cells.tmp");
    let mut csv = CsvBuilder::create_for(spool.clone(), Some(MAILBOX_COLUMN), shape)
        .map_err(|e| OutputError::io("cannot create", &spool, e))?;
    // Every record goes into the spool: the merge never stops early.
    let _always_continued = merge_on_two_threads(inputs, &spool, |mailbox, raw| {
        csv.add_with_leading(Some(mailbox), raw)
            .map_err(|e| OutputError::io("cannot write", &spool, e))?;
        Ok(ControlFlow::Continue(()))
    })?;
    csv.write_csv_file(temporary, options)
}

/// The columns of the CSVs at `paths` (their header lines), or `None` if one cannot be read or
/// names a column twice.
pub fn union_of_headers(paths: &[PathBuf]) -> Option<BTreeSet<String>> {
    let mut union = BTreeSet::new();
    for path in paths {
        let mut reader = csv::Reader::from_path(path).ok()?;
        let header = reader.headers().ok()?;
        let names: BTreeSet<&str> = header.iter().collect();
        if names.len() != header.len() {
            return None;
        }
        union.extend(names.into_iter().map(str::to_string));
    }
    Some(union)
}

/// Writes `timeline.csv` from the evidence files of complete mailboxes; returns (sha256, bytes).
/// `columns`, the union of those mailboxes' CSV headers when known, lets it be written in one
/// pass; without it (or if a record proves it wrong) the columns are learned through a spool.
pub fn write_timeline(
    evidence: &[(String, PathBuf)],
    columns: Option<BTreeSet<String>>,
    out: &Path,
    scratch: &Path,
    shape: RecordShape,
    options: CsvOptions,
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
                create_private(&path).map_err(|e| OutputError::io("cannot create", &path, e))?;
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
    let temporary = crate::output::OutputPlan::temporary(out);
    let planned = match columns {
        Some(columns) => write_planned(&inputs, &temporary, columns, shape, options),
        None => Ok(None),
    };
    let written = match planned {
        Ok(Some(digest)) => Ok(digest),
        Ok(None) => write_spooled(&inputs, &temporary, scratch, shape, options),
        Err(e) => Err(e),
    };
    for path in &scratch_files {
        let _ = std::fs::remove_file(path);
    }
    let (sha256, bytes) = written?;
    crate::output::commit(&temporary, out)?;
    Ok((sha256, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sanitized() -> CsvOptions {
        CsvOptions {
            sanitize: true,
            ..Default::default()
        }
    }

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
        write_timeline(
            &evidence,
            None,
            &out,
            dir.path(),
            RecordShape::ACTIVITIES,
            sanitized(),
        )
        .unwrap();
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

    #[test]
    fn a_planned_timeline_is_the_spooled_one_and_a_wrong_plan_falls_back_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut evidence = Vec::new();
        let records = [
            [
                r#"{"Id":"a1","TimeStamp":"2018-01-01T00:00:01Z","CustomProperties":[{"Name":"Subject","Value":"=cmd|' /C calc'!A0"}]}"#,
                r#"{"Id":"a2","TimeStamp":"2018-01-01T00:00:03Z","Zed":{"n":[1,2]}}"#,
            ],
            [
                r#"{"Id":"b1","TimeStamp":"2018-01-01T00:00:02Z","CustomProperties":[{"Name":"ClientIP","Value":"1.2.3.4"},{"Name":"ClientIP","Value":"a,\"b\""}]}"#,
                r#"{"Id":"b2","TimeStamp":"2018-01-01T00:00:03Z","TenantId":"t"}"#,
            ],
        ];
        for (m, lines) in records.iter().enumerate() {
            let path = dir.path().join(format!("{m}.jsonl"));
            std::fs::write(&path, lines.join("\n")).unwrap();
            evidence.push((format!("user{m}@x.com"), path));
        }
        let timeline = |columns: Option<BTreeSet<String>>| {
            let out = dir.path().join("timeline.csv");
            let digest = write_timeline(
                &evidence,
                columns,
                &out,
                dir.path(),
                RecordShape::ACTIVITIES,
                sanitized(),
            )
            .unwrap();
            let bytes = std::fs::read(&out).unwrap();
            std::fs::remove_file(&out).unwrap();
            (bytes, digest)
        };
        let (spooled, spooled_digest) = timeline(None);
        let mut reader = csv::Reader::from_reader(spooled.as_slice());
        let header = reader.headers().unwrap().clone();
        let mut plan: BTreeSet<String> = header.iter().skip(1).map(str::to_string).collect();
        assert_eq!(
            timeline(Some(plan.clone())),
            (spooled.clone(), spooled_digest.clone())
        );
        plan.insert("Stale".into());
        assert_eq!(
            timeline(Some(plan.clone())),
            (spooled.clone(), spooled_digest.clone())
        );
        plan.remove("Stale");
        plan.remove("CustomProperties.ClientIP#2");
        assert_eq!(timeline(Some(plan)), (spooled, spooled_digest));
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.starts_with('.'))
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    #[test]
    fn the_union_of_headers_refuses_a_header_that_names_a_column_twice() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
        std::fs::write(&a, "TimeStamp,Id\r\n1,2\r\n").unwrap();
        std::fs::write(&b, "TimeStamp,Zed\r\n").unwrap();
        let union = union_of_headers(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(
            union.into_iter().collect::<Vec<_>>(),
            ["Id", "TimeStamp", "Zed"]
        );
        std::fs::write(&b, "TimeStamp,Zed,Zed\r\n").unwrap();
        assert_eq!(union_of_headers(&[a.clone(), b]), None);
        assert_eq!(union_of_headers(&[a, dir.path().join("missing.csv")]), None);
    }
}
