//! Records that arrive out of order, handed over in time order with bounded memory: each batch
//! is sorted and spooled to a file of its own (a run), and the runs are merged back at the end.
//!
//! The Management Activity API delivers a record in whatever blob it became available in, so a
//! later 24-hour window can hold records older than an earlier one's; evidence, a case's
//! checkpoint-free mailboxes and its timeline still want (time, id) order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::paging::{EmitWindow, Handover, PagingError, SpoolReader, SpoolWriter};
use super::SpoolPlace;
use crate::record::{sort_in_time_order, Activity};

/// Records handed over at once while merging.
const HAND_OVER: usize = 1000;

/// Sorted runs on disk, removed when dropped.
pub struct SortedRuns {
    place: SpoolPlace,
    label: &'static str,
    paths: Vec<PathBuf>,
}

impl SortedRuns {
    pub fn new(place: SpoolPlace, label: &'static str) -> Self {
        SortedRuns {
            place,
            label,
            paths: Vec::new(),
        }
    }

    fn spool_error(path: &std::path::Path, source: std::io::Error) -> PagingError {
        PagingError::Spool {
            path: path.display().to_string(),
            source,
        }
    }

    /// Sorts `records` and spools them as one run.
    pub fn add_run(&mut self, mut records: Vec<Activity>) -> Result<(), PagingError> {
        if records.is_empty() {
            return Ok(());
        }
        sort_in_time_order(&mut records);
        let path = self
            .place
            .file(&format!("{}-{}", self.label, self.paths.len()));
        self.paths.push(path.clone());
        let mut writer = SpoolWriter::create(&path).map_err(|e| Self::spool_error(&path, e))?;
        for record in &records {
            writer
                .append(record)
                .map_err(|e| Self::spool_error(&path, e))?;
        }
        writer.flush().map_err(|e| Self::spool_error(&path, e))
    }

    /// Hands every run's records over to `emit`, merged in (time, id) order.
    pub fn merge_into(&mut self, emit: &mut EmitWindow<'_>) -> Result<(), PagingError> {
        let mut readers = Vec::with_capacity(self.paths.len());
        for path in &self.paths {
            readers.push(SpoolReader::open(path).map_err(|e| Self::spool_error(path, e))?);
        }
        type Head = Reverse<(Option<DateTime<Utc>>, Box<str>, usize)>;
        let mut heads: BinaryHeap<Head> = BinaryHeap::new();
        let mut current: Vec<Option<Activity>> = vec![None; readers.len()];
        let mut advance = |run: usize,
                           heads: &mut BinaryHeap<Head>,
                           current: &mut Vec<Option<Activity>>|
         -> Result<(), PagingError> {
            let path = &self.paths[run];
            let next = readers[run]
                .next_record()
                .map_err(|e| Self::spool_error(path, e))?
                .map(|spooled| Activity::from_json(spooled.line))
                .transpose()
                .map_err(|e| Self::spool_error(path, std::io::Error::other(e)))?;
            if let Some(record) = &next {
                heads.push(Reverse((record.timestamp(), record.key().into(), run)));
            }
            current[run] = next;
            Ok(())
        };
        for run in 0..current.len() {
            advance(run, &mut heads, &mut current)?;
        }
        let mut batch = Vec::with_capacity(HAND_OVER);
        while let Some(Reverse((_, _, run))) = heads.pop() {
            if let Some(record) = current[run].take() {
                batch.push(record);
            }
            advance(run, &mut heads, &mut current)?;
            if batch.len() == HAND_OVER {
                emit(Handover::Records(std::mem::take(&mut batch)))?;
            }
        }
        if !batch.is_empty() {
            emit(Handover::Records(batch))?;
        }
        Ok(())
    }
}

impl Drop for SortedRuns {
    fn drop(&mut self) {
        for path in &self.paths {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_out_of_order_come_back_in_time_order_and_leave_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let place = SpoolPlace {
            dir: dir.path().to_path_buf(),
            prefix: ".t".into(),
        };
        let record = |id: &str, time: &str| {
            Activity::from_json(&format!(r#"{{"Id":"{id}","CreationTime":"{time}"}}"#)).unwrap()
        };
        let mut runs = SortedRuns::new(place, "feed");
        runs.add_run(vec![
            record("b", "2018-05-02T00:00:00"),
            record("a", "2018-05-03T00:00:00"),
        ])
        .unwrap();
        runs.add_run(vec![
            record("c", "2018-05-01T00:00:00"),
            record("d", "2018-05-02T00:00:00"),
        ])
        .unwrap();
        let mut order = Vec::new();
        runs.merge_into(&mut |handover| {
            if let Handover::Records(records) = handover {
                order.extend(records.iter().map(|r| r.key().to_string()));
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(order, ["c", "b", "d", "a"]);
        drop(runs);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
