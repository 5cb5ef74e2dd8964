//! Where a pull's records go: the JSON Lines evidence and, for a CSV pull, the CSV's cells;
//! and, for a case, a checkpoint wherever the source says everything before an instant is in.

use std::io::{self, Write};
use std::path::Path;

use chrono::{DateTime, Utc};

use super::crash::CrashPoints;
use crate::output::{CsvBuilder, JsonlWriter, RecordSink};
use crate::record::{Activity, PageReading};
use crate::source::paging::{PagingError, SpoolReader};

/// What a checkpoint vouches for: the evidence's first `bytes` bytes, `records` records with
/// SHA-256 `sha256`, hold every record before `bound` (`None`: the whole range).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurablePoint {
    pub bound: Option<DateTime<Utc>>,
    pub bytes: u64,
    pub records: u64,
    pub sha256: String,
}

/// Records a durable point (a case's checkpoint file). Called on the thread that writes, after
/// the evidence up to that point is on disk.
pub trait CheckpointHook: Send {
    fn save(&mut self, point: &DurablePoint) -> io::Result<()>;
    /// The crash points of a test run (`--crash-at`).
    fn crash_points(&self) -> &CrashPoints;
}

/// A writer whose written bytes can be made durable (fsync for a file; nothing to do for a
/// stream or a buffer).
pub trait SyncToDisk {
    fn sync(&self) -> io::Result<()>;
}

impl SyncToDisk for std::fs::File {
    fn sync(&self) -> io::Result<()> {
        self.sync_data()
    }
}

impl SyncToDisk for io::Stdout {
    fn sync(&self) -> io::Result<()> {
        Ok(())
    }
}

impl SyncToDisk for io::Sink {
    fn sync(&self) -> io::Result<()> {
        Ok(())
    }
}

impl SyncToDisk for Vec<u8> {
    fn sync(&self) -> io::Result<()> {
        Ok(())
    }
}

/// The sinks of one pull.
pub struct EvidenceSinks<W: Write> {
    pub jsonl: JsonlWriter<W>,
    pub csv: Option<CsvBuilder>,
    /// Where they write, for an error to name (a full disk, say).
    destination: String,
    checkpoints: Option<Box<dyn CheckpointHook>>,
}

/// How many records of a spooled window are written before a crash point (tests only).
const CRASH_AFTER_SPOOLED: u64 = 50;

impl<W: Write + SyncToDisk> EvidenceSinks<W> {
    pub fn new(jsonl: JsonlWriter<W>, csv: Option<CsvBuilder>, destination: String) -> Self {
        EvidenceSinks {
            jsonl,
            csv,
            destination,
            checkpoints: None,
        }
    }

    /// Checkpoints through `hook` at every durable point the source hands over.
    pub fn with_checkpoints(mut self, hook: Box<dyn CheckpointHook>) -> Self {
        self.checkpoints = Some(hook);
        self
    }

    pub fn checkpointed(&self) -> bool {
        self.checkpoints.is_some()
    }

    /// How the source should read pages for these sinks: with CSV frames when records go
    /// straight into a CSV, so each record is parsed once.
    pub fn page_reading(&self) -> PageReading {
        match &self.csv {
            Some(csv) => csv.page_reading(),
            None => PageReading::Keys,
        }
    }

    pub fn records(&self) -> u64 {
        self.jsonl.records()
    }

    /// The error of a failed write into the sinks.
    pub fn write_failed(&self, source: io::Error) -> PagingError {
        PagingError::Output {
            what: format!("the records into {}", self.destination),
            source,
        }
    }

    /// Writes records into the evidence and the CSV's cells.
    pub fn write_records(&mut self, records: &[Activity]) -> Result<(), PagingError> {
        let half = records.len() / 2;
        for (i, record) in records.iter().enumerate() {
            self.write_one(record).map_err(|e| self.write_failed(e))?;
            if i + 1 == half {
                self.crash_point("half a batch written");
            }
        }
        Ok(())
    }

    /// Every sink: the evidence, then the CSV if there is one.
    fn sinks(&mut self) -> impl Iterator<Item = &mut dyn RecordSink> {
        let jsonl: &mut dyn RecordSink = &mut self.jsonl;
        std::iter::once(jsonl).chain(self.csv.as_mut().map(|csv| csv as &mut dyn RecordSink))
    }

    fn write_one(&mut self, record: &Activity) -> io::Result<()> {
        self.sinks().try_for_each(|sink| sink.write_record(record))
    }

    /// Appends one window's spool: its text to the evidence, its CSV frames (or its text,
    /// parsed now, where a record has none) to the CSV.
    pub fn copy_spool(&mut self, spool: &Path) -> Result<(), PagingError> {
        let unreadable = |e: io::Error| PagingError::Spool {
            path: spool.display().to_string(),
            source: e,
        };
        let mut reader = SpoolReader::open(spool).map_err(unreadable)?;
        let mut copied = 0u64;
        while let Some(record) = reader.next_record().map_err(unreadable)? {
            let written = self
                .sinks()
                .try_for_each(|sink| sink.write_spooled(record.line, record.frame));
            written.map_err(|e| self.write_failed(e))?;
            copied += 1;
            if copied == CRASH_AFTER_SPOOLED {
                self.crash_point("part of a window written");
            }
        }
        Ok(())
    }

    /// Everything before `bound` is written: with a checkpoint hook, the evidence goes to disk
    /// and the hook records the point. Without one, nothing to do.
    pub fn durable(&mut self, bound: Option<DateTime<Utc>>) -> Result<(), PagingError> {
        if self.checkpoints.is_none() {
            return Ok(());
        }
        let synced = self.jsonl.flushed().and_then(SyncToDisk::sync);
        synced.map_err(|e| self.write_failed(e))?;
        self.crash_point("evidence on disk, checkpoint not yet updated");
        let point = DurablePoint {
            bound,
            bytes: self.jsonl.bytes(),
            records: self.jsonl.records(),
            sha256: self.jsonl.digest_so_far(),
        };
        if let Some(hook) = self.checkpoints.as_mut() {
            hook.save(&point).map_err(|e| PagingError::Output {
                what: "the checkpoint".into(),
                source: e,
            })?;
        }
        Ok(())
    }

    /// A crash point of a test run: what was written so far reaches the file first, as it
    /// would have in a real crash some time later.
    fn crash_point(&mut self, label: &str) {
        if let Some(hook) = &self.checkpoints {
            if hook.crash_points().armed() {
                let _ = self.jsonl.flushed();
                hook.crash_points().point(label);
            }
        }
    }
}
