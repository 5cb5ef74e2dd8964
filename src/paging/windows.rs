//! Concurrent time windows inside one mailbox.
//!
//! The pull starts as one keyset walk; its first page (oldest first) shows where the data
//! starts. Whenever fewer windows are active than `concurrency` (the service allows about 4
//! requests in flight per mailbox), a window that still has data shares what it has left with
//! new windows `[cut, next cut)`, each walked by its own keyset pager, so one dense week does
//! not serialize the pull and a small mailbox costs one request. Windows partition time at
//! whole milliseconds and each is walked in (TimeStamp, Id) order, so handing them over by
//! window start is byte-identical to a sequential pull of the same snapshot.
//!
//! The earliest window not yet handed over, the head, hands its records over as they come;
//! the others spool theirs to a file each until they become the head. Memory holds pager
//! states, never records beyond the page in hand.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use futures::stream::{FuturesUnordered, StreamExt};

use super::{KeysetPager, Pager, PagingError};
use crate::http::ActivitiesClient;
use crate::odata::ActivityFilter;
use crate::output::jsonl_line;
use crate::record::{Activity, PageReading};

/// What the windows did, and why they stopped if they stopped early.
#[derive(Debug, Default)]
pub struct WindowReport {
    pub pages: u64,
    pub windows: usize,
    pub error: Option<PagingError>,
}

/// One time window: where it starts, and the spool holding its records until it is the head.
struct Window {
    start: Option<DateTime<Utc>>,
    path: PathBuf,
    spool: Spool,
    /// Its records go straight to the receiver: every earlier window has been handed over.
    head: bool,
    done: bool,
    handed_over: bool,
}

/// A window's spool file.
enum Spool {
    NoFile,
    Writing(BufWriter<File>),
    /// The window is finished: its file is complete and its buffer freed (finished windows
    /// may wait long for a dense earlier one).
    Written,
}

impl Window {
    /// The window's pager is finished: its spool, if any, is closed.
    fn finish(&mut self) -> Result<(), PagingError> {
        self.done = true;
        if let Spool::Writing(spool) = &mut self.spool {
            spool.flush().map_err(|e| spool_error(&self.path, e))?;
            self.spool = Spool::Written;
        }
        Ok(())
    }

    /// Hands over the window's spool file, if it has one, to `emit`.
    fn hand_over_spool(&mut self, emit: &mut EmitWindow<'_>) -> Result<(), PagingError> {
        match std::mem::replace(&mut self.spool, Spool::NoFile) {
            Spool::NoFile => return Ok(()),
            Spool::Writing(mut spool) => {
                if let Err(e) = spool.flush() {
                    let _ = std::fs::remove_file(&self.path);
                    return Err(spool_error(&self.path, e));
                }
            }
            Spool::Written => {}
        }
        emit(Handover::Spool(&self.path))
    }
}

fn spool_error(path: &Path, source: std::io::Error) -> PagingError {
    PagingError::Spool {
        path: path.display().to_string(),
        source,
    }
}

/// What the windows hand over, always in time order.
pub enum Handover<'a> {
    /// Records of the head window, in order.
    Records(Vec<Activity>),
    /// The records a window spooled before it became the head (or, for a partial result,
    /// before the fetch stopped). The spool is the receiver's from then on: it removes the file
    /// when done with it (which may be later, on another thread).
    Spool(&'a Path),
    /// A window is wholly handed over: every activity before `following`, the start of the
    /// next window (`None` after the last), has been.
    Finished(Option<DateTime<Utc>>),
}

/// Receives what the windows hand over.
pub type EmitWindow<'e> = dyn FnMut(Handover<'_>) -> Result<(), PagingError> + Send + 'e;

/// Which windows `emit_ready` hands over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ready {
    /// Finished windows whose earlier windows are all handed over; then the first unfinished
    /// one hands over its spool so far and becomes the head (a later split can only create
    /// windows inside ranges still being walked, so nothing can appear before it).
    WhileFetching,
    /// Finished windows whose earlier windows are all handed over, nothing after a gap.
    FinishedOnly,
    /// Every window, finished or not (a partial result).
    Everything,
}

/// Hands windows over in time order, as `ready` says.
fn emit_ready(
    windows: &mut [Window],
    ready: Ready,
    emit: &mut EmitWindow<'_>,
) -> Result<(), PagingError> {
    let mut pending: Vec<usize> = (0..windows.len())
        .filter(|&i| !windows[i].handed_over)
        .collect();
    pending.sort_by_key(|&i| windows[i].start);
    for (position, &index) in pending.iter().enumerate() {
        let following = pending
            .get(position + 1)
            .and_then(|&next| windows[next].start);
        let window = &mut windows[index];
        let whole = window.done || ready == Ready::Everything;
        if !whole && ready == Ready::FinishedOnly {
            break;
        }
        window.hand_over_spool(emit)?;
        window.head = true;
        if !whole {
            break;
        }
        window.handed_over = true;
        emit(Handover::Finished(following))?;
    }
    Ok(())
}

/// Removes the spools of windows that were never handed over.
fn discard(windows: &mut [Window]) {
    for window in windows.iter_mut() {
        if !matches!(
            std::mem::replace(&mut window.spool, Spool::NoFile),
            Spool::NoFile
        ) {
            let _ = std::fs::remove_file(&window.path);
        }
    }
}

/// Appends records to a window's spool, creating the file on first use.
fn spool_records(window: &mut Window, records: &[Activity]) -> Result<(), PagingError> {
    let path = &window.path;
    if let Spool::NoFile = window.spool {
        let file = File::create(path).map_err(|e| spool_error(path, e))?;
        window.spool = Spool::Writing(BufWriter::with_capacity(128 * 1024, file));
    }
    let Spool::Writing(spool) = &mut window.spool else {
        let finished = std::io::Error::other("records came after the window finished");
        return Err(spool_error(path, finished));
    };
    for record in records {
        let line = jsonl_line(record);
        let written = spool
            .write_all(line.as_bytes())
            .and_then(|()| spool.write_all(b"\n"));
        written.map_err(|e| spool_error(path, e))?;
    }
    Ok(())
}

/// The next batch of one window's pager, handed back with the pager.
async fn next_batch_of(
    index: usize,
    mut pager: KeysetPager<'_>,
) -> (
    usize,
    KeysetPager<'_>,
    Result<Option<Vec<Activity>>, PagingError>,
) {
    let result = pager.next_batch().await;
    (index, pager, result)
}

/// Fetches the whole range through concurrent windows, handing their records to `emit` in
/// time order (windows that are not the head spool to files under `spool_dir` meanwhile).
/// The head's pages are read as `head_reading` says (cells are worth recording only for records
/// written straight from the page; a spool keeps only the text).
/// Stops early on an error or when `interrupt` resolves, and the report says why; then
/// finished windows are still handed over in order, and unfinished ones too when
/// `emit_unfinished` (a pull's partial result; a batch's checkpoint must never run ahead of a
/// gap, so it passes false).
#[allow(clippy::too_many_arguments)]
pub async fn fetch_windows(
    client: &ActivitiesClient,
    filter: &ActivityFilter,
    select: Option<&[String]>,
    page_size: u32,
    concurrency: usize,
    spool_dir: &Path,
    spool_prefix: &str,
    head_reading: PageReading,
    interrupt: impl std::future::Future<Output = ()>,
    emit_unfinished: bool,
    emit: &mut EmitWindow<'_>,
) -> WindowReport {
    let mut windows: Vec<Window> = Vec::new();
    let mut report = WindowReport::default();
    let mut interrupt = std::pin::pin!(interrupt);
    let fetched = tokio::select! {
        biased;
        _ = &mut interrupt => Err(PagingError::Interrupted),
        fetched = run_windows(client, filter, select, page_size, concurrency, (spool_dir, spool_prefix), head_reading, &mut windows, &mut report, emit) => fetched,
    };
    report.windows = windows.len();
    let ready = if fetched.is_ok() || emit_unfinished {
        Ready::Everything
    } else {
        Ready::FinishedOnly
    };
    let rest = emit_ready(&mut windows, ready, emit);
    discard(&mut windows);
    report.error = fetched.err().or(rest.err());
    report
}

#[allow(clippy::too_many_arguments)]
async fn run_windows<'a>(
    client: &'a ActivitiesClient,
    filter: &ActivityFilter,
    select: Option<&'a [String]>,
    page_size: u32,
    concurrency: usize,
    (spool_dir, spool_prefix): (&Path, &str),
    head_reading: PageReading,
    windows: &mut Vec<Window>,
    report: &mut WindowReport,
    emit: &mut EmitWindow<'_>,
) -> Result<(), PagingError> {
    let open = |windows: &mut Vec<Window>, window_start: Option<DateTime<Utc>>| {
        let path = spool_dir.join(format!("{spool_prefix}.window{}.tmp", windows.len()));
        windows.push(Window {
            start: window_start,
            path,
            spool: Spool::NoFile,
            head: windows.is_empty(),
            done: false,
            handed_over: false,
        });
        windows.len() - 1
    };
    // One window to begin with: its first page (oldest first) shows where the data starts,
    // and a mailbox that fits in one page costs one request.
    let mut in_flight = FuturesUnordered::new();
    let first = open(windows, filter.start);
    let mut pager = KeysetPager::new(client, filter, select, page_size);
    pager.read_pages_for(head_reading.clone());
    in_flight.push(next_batch_of(first, pager));
    while let Some((index, mut pager, result)) = in_flight.next().await {
        let records = result?.unwrap_or_default();
        let window = &mut windows[index];
        if window.head {
            if !records.is_empty() {
                emit(Handover::Records(records))?;
            }
        } else {
            spool_records(window, &records)?;
        }
        if pager.is_finished() {
            report.pages += pager.progress().pages;
            windows[index].finish()?;
            emit_ready(windows, Ready::WhileFetching, emit)?;
            continue;
        }
        // Free slots: share this window's remainder with new windows.
        let free = concurrency.saturating_sub(in_flight.len() + 1);
        if free > 0 {
            let parts = pager.suggested_parts(free + 1);
            for window in if parts > 1 {
                pager.split_into(parts)
            } else {
                Vec::new()
            } {
                let new_index = open(windows, window.start);
                in_flight.push(next_batch_of(
                    new_index,
                    KeysetPager::new(client, &window, select, page_size),
                ));
            }
        }
        if windows[index].head {
            pager.read_pages_for(head_reading.clone());
        }
        in_flight.push(next_batch_of(index, pager));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window starting at `minute` past midnight, with a spool holding `spooled` if any.
    fn window(dir: &Path, minute: u32, spooled: Option<&str>, done: bool) -> Window {
        let path = dir.join(format!("w{minute}"));
        let spool = spooled.map_or(Spool::NoFile, |text| {
            let mut spool = BufWriter::new(File::create(&path).unwrap());
            spool.write_all(text.as_bytes()).unwrap();
            Spool::Writing(spool)
        });
        Window {
            start: Some(
                DateTime::parse_from_rfc3339(&format!("2018-01-01T00:{minute:02}:00Z"))
                    .unwrap()
                    .with_timezone(&Utc),
            ),
            path,
            spool,
            head: false,
            done,
            handed_over: false,
        }
    }

    /// Runs `emit_ready`, describing each handover: `spool <its text>` or `finished <minute>`.
    fn handovers(windows: &mut [Window], ready: Ready) -> Vec<String> {
        let mut seen = Vec::new();
        emit_ready(windows, ready, &mut |handover| {
            seen.push(match handover {
                Handover::Records(_) => "records".to_string(),
                Handover::Spool(path) => {
                    format!("spool {}", std::fs::read_to_string(path).unwrap())
                }
                Handover::Finished(following) => format!(
                    "finished {}",
                    following.map_or("-".into(), |t| t.format("%M").to_string())
                ),
            });
            Ok(())
        })
        .unwrap();
        seen
    }

    #[test]
    fn windows_are_handed_over_in_time_order_and_the_first_unfinished_becomes_the_head() {
        let dir = tempfile::tempdir().unwrap();
        // Created out of order, as splits create them.
        let mut windows = vec![
            window(dir.path(), 0, None, false),
            window(dir.path(), 30, Some("c"), false),
            window(dir.path(), 10, Some("b"), true),
        ];
        windows[0].head = true;
        assert!(handovers(&mut windows, Ready::WhileFetching).is_empty());
        windows[0].done = true;
        assert_eq!(
            handovers(&mut windows, Ready::WhileFetching),
            ["finished 10", "spool b", "finished 30", "spool c"]
        );
        assert!(windows[1].head && !windows[1].handed_over);
        assert!(matches!(windows[1].spool, Spool::NoFile));
        windows[1].done = true;
        assert_eq!(
            handovers(&mut windows, Ready::WhileFetching),
            ["finished -"]
        );
        assert!(windows.iter().all(|w| w.handed_over));
    }

    #[test]
    fn a_finished_window_keeps_its_file_but_not_its_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let mut waiting = window(dir.path(), 10, Some("b"), false);
        waiting.finish().unwrap();
        assert!(waiting.done && matches!(waiting.spool, Spool::Written));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("w10")).unwrap(),
            "b"
        );
        let mut windows = vec![window(dir.path(), 0, None, true), waiting];
        assert_eq!(
            handovers(&mut windows, Ready::WhileFetching),
            ["finished 10", "spool b", "finished -"]
        );
    }

    #[test]
    fn a_stopped_fetch_hands_over_nothing_past_a_gap_unless_everything_is_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let stopped = |dir: &Path| {
            vec![
                window(dir, 0, Some("a"), true),
                window(dir, 10, Some("b"), false),
                window(dir, 20, Some("c"), true),
            ]
        };
        let mut windows = stopped(dir.path());
        assert_eq!(
            handovers(&mut windows, Ready::FinishedOnly),
            ["spool a", "finished 10"]
        );
        assert!(
            matches!(windows[1].spool, Spool::Writing(_)),
            "a window after the gap kept its spool"
        );
        discard(&mut windows);
        assert!(!dir.path().join("w10").exists() && !dir.path().join("w20").exists());

        let mut windows = stopped(dir.path());
        assert_eq!(
            handovers(&mut windows, Ready::Everything),
            [
                "spool a",
                "finished 10",
                "spool b",
                "finished 20",
                "spool c",
                "finished -"
            ]
        );
    }
}
