//! The thread that writes what a source hands over into the sinks, so that writing (hashing,
//! flattening, fsync) never holds up the requests in flight.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::sinks::{EvidenceSinks, SyncToDisk};
use crate::record::Activity;
use crate::source::paging::PagingError;

/// What the writer is handed, in order.
pub enum Written {
    Records(Vec<Activity>),
    /// A window's spool file; the writer removes it once copied (or skipped).
    Spool(PathBuf),
    /// Everything before the instant (`None`: the whole range) has been handed over.
    Durable(Option<DateTime<Utc>>),
}

/// How many pages or spools may wait for the writer (a page is at most about 1 MB).
const QUEUE: usize = 2;

pub struct SinkWriter<W: Write> {
    queue: std::sync::mpsc::SyncSender<Written>,
    records: Arc<AtomicU64>,
    failed: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(EvidenceSinks<W>, Result<(), PagingError>)>,
    /// The error of a hand-over refused after a failed write.
    stopped: String,
}

impl<W: Write + SyncToDisk + Send + 'static> SinkWriter<W> {
    /// Starts the thread. Only a machine out of threads fails here.
    pub fn start(mut sinks: EvidenceSinks<W>) -> std::io::Result<Self> {
        // Bounded: when writing falls behind, hand_over waits (the fetch with it) rather than
        // holding ever more pages in memory.
        let (queue, received) = std::sync::mpsc::sync_channel::<Written>(QUEUE);
        let records = Arc::new(AtomicU64::new(sinks.records()));
        let failed = Arc::new(AtomicBool::new(false));
        let (counted, failing) = (Arc::clone(&records), Arc::clone(&failed));
        let stopped = sinks
            .write_failed(std::io::Error::other("writing earlier records failed"))
            .to_string();
        let thread = std::thread::Builder::new()
            .name("sink-writer".into())
            .spawn(move || {
                let mut result = Ok(());
                for written in received {
                    if result.is_ok() {
                        result = match &written {
                            Written::Records(records) => sinks.write_records(records),
                            Written::Spool(spool) => sinks.copy_spool(spool),
                            Written::Durable(bound) => sinks.durable(*bound),
                        };
                        counted.store(sinks.records(), Ordering::Relaxed);
                        failing.store(result.is_err(), Ordering::Relaxed);
                    }
                    if let Written::Spool(spool) = written {
                        let _ = std::fs::remove_file(&spool);
                    }
                }
                (sinks, result)
            })?;
        Ok(SinkWriter {
            queue,
            records,
            failed,
            thread,
            stopped,
        })
    }

    /// Queues what to write, waiting while the queue is full; fails once a write has failed.
    pub fn hand_over(&self, written: Written) -> Result<(), PagingError> {
        let refuse = |written: Written| {
            if let Written::Spool(spool) = written {
                let _ = std::fs::remove_file(spool);
            }
            PagingError::Output {
                what: self.stopped.clone(),
                source: std::io::Error::other("writing stopped"),
            }
        };
        if self.failed.load(Ordering::Relaxed) {
            return Err(refuse(written));
        }
        self.queue.send(written).map_err(|unsent| refuse(unsent.0))
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Waits for everything queued to be written; the sinks and the first write error.
    pub fn finish(self) -> (EvidenceSinks<W>, Result<(), PagingError>) {
        drop(self.queue);
        self.thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::output::JsonlWriter;
    use crate::source::paging::SpoolWriter;

    fn sinks() -> EvidenceSinks<Vec<u8>> {
        EvidenceSinks::new(JsonlWriter::new(Vec::new()), None, "a test buffer".into())
    }

    /// A window spool of records with these Ids.
    fn spool(dir: &Path, name: &str, ids: &[&str]) -> PathBuf {
        let path = dir.join(name);
        let mut spool = SpoolWriter::create(&path).unwrap();
        for id in ids {
            let record = Activity::from_json(&format!("{{\"Id\":\"{id}\"}}")).unwrap();
            spool.append(&record).unwrap();
        }
        spool.flush().unwrap();
        path
    }

    #[test]
    fn the_writer_writes_records_and_windows_in_order_and_removes_the_spools() {
        let dir = tempfile::tempdir().unwrap();
        let first = spool(dir.path(), "w0", &["a", "b"]);
        let second = spool(dir.path(), "w1", &["d"]);
        let head = vec![Activity::from_json(r#"{"Id":"c"}"#).unwrap()];
        let writer = SinkWriter::start(sinks()).unwrap();
        writer.hand_over(Written::Spool(first.clone())).unwrap();
        writer.hand_over(Written::Records(head)).unwrap();
        writer.hand_over(Written::Spool(second.clone())).unwrap();
        let (sinks, written) = writer.finish();
        written.unwrap();
        assert_eq!(sinks.records(), 4);
        let (bytes, _, _) = sinks.jsonl.finish().unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "{\"Id\":\"a\"}\n{\"Id\":\"b\"}\n{\"Id\":\"c\"}\n{\"Id\":\"d\"}\n"
        );
        assert!(!first.exists() && !second.exists());
    }

    /// A disk that is full.
    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("no space left"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl SyncToDisk for Full {
        fn sync(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_names_where_the_records_were_going() {
        let sinks = EvidenceSinks::new(JsonlWriter::new(Full), None, "/cases/victim.jsonl".into());
        // Larger than the writer's buffer, so the write reaches the disk at once.
        let big = format!(r#"{{"Id":"a","Note":"{}"}}"#, "x".repeat(1 << 20));
        let writer = SinkWriter::start(sinks).unwrap();
        writer
            .hand_over(Written::Records(vec![Activity::from_json(&big).unwrap()]))
            .unwrap();
        let (_, written) = writer.finish();
        let message = written.unwrap_err().to_string();
        assert!(
            message.contains("/cases/victim.jsonl") && message.contains("no space left"),
            "{message}"
        );
    }

    #[test]
    fn a_failed_copy_stops_later_hand_overs_and_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let writer = SinkWriter::start(sinks()).unwrap();
        writer
            .hand_over(Written::Spool(dir.path().join("missing")))
            .unwrap();
        let later = spool(dir.path(), "w1", &["c"]);
        // The writer fails on the missing spool; the failure reaches hand_over soon after.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while writer.hand_over(Written::Spool(later.clone())).is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "the failure never surfaced"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
            spool(dir.path(), "w1", &["c"]);
        }
        let (sinks, written) = writer.finish();
        assert!(written.unwrap_err().to_string().contains("missing"));
        assert_eq!(
            sinks.records(),
            0,
            "nothing after a failed window is written"
        );
        assert!(!later.exists());
    }
}
