//! Concurrent time windows inside one mailbox.
//!
//! The pull starts as one keyset walk; its first page (oldest first) shows where the data
//! starts. Whenever fewer windows are active than `concurrency` (the service allows about 4
//! requests in flight per mailbox), a window that still has data shares what it has left with
//! new windows `[cut, next cut)`, each walked by its own keyset pager, so one dense week does
//! not serialize the pull. Beside the first page, one request finds the newest activity, so
//! the cuts share out the time that holds data (a range runs to now; a mailbox's data seldom
//! does): a small mailbox costs these two requests. Windows partition time at
//! whole milliseconds and each is walked in (TimeStamp, Id) order, so handing them over by
//! window start is byte-identical to a sequential pull of the same snapshot.
//!
//! The earliest window not yet handed over, the head, hands its records over as they come;
//! the others spool theirs to a file each until they become the head, with the CSV frames
//! their pages were read for (`window_spool`). Memory holds pager states, never records
//! beyond the page in hand.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use futures::stream::{FuturesUnordered, StreamExt};

use super::window_spool::SpoolWriter;
use super::{KeysetPager, Pager, PagingError};
use crate::http::ActivitiesClient;
use crate::odata::{ActivityFilter, Order, PageQuery};
use crate::record::{Activity, PageReading};
use crate::source::handover::{EmitWindow, Handover, PartialHandover};

/// What the windows did, and why they stopped if they stopped early.
#[derive(Debug, Default)]
pub struct WindowReport {
    pub pages: u64,
    pub windows: usize,
    pub error: Option<PagingError>,
    /// Each window's range and counts, in time order (for the manifest).
    pub log: Vec<WindowLogEntry>,
}

/// One time window as the manifest records it: its range (`None`: the query's own bound),
/// the pages and records the service returned for it, and whether it was walked to its end.
/// The Activities API's answers carry no server id of their own to record beside them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WindowLogEntry {
    pub start: Option<String>,
    pub end: Option<String>,
    pub pages: u64,
    pub records: u64,
    pub finished: bool,
}

impl WindowLogEntry {
    pub fn new(
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        pages: u64,
        records: u64,
        finished: bool,
    ) -> Self {
        let time = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        WindowLogEntry {
            start: start.map(time),
            end: end.map(time),
            pages,
            records,
            finished,
        }
    }
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
    /// Records and pages the service returned for this window (pages once it is finished).
    records: u64,
    pages: u64,
}

/// A window's spool file.
enum Spool {
    NoFile,
    Writing(SpoolWriter),
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

/// The windows in time order, each ending where the next starts (the last at `end`).
fn window_log(windows: &[Window], end: DateTime<Utc>) -> Vec<WindowLogEntry> {
    let mut order: Vec<&Window> = windows.iter().collect();
    order.sort_by_key(|w| w.start);
    (0..order.len())
        .map(|i| {
            let w = order[i];
            let until = order.get(i + 1).and_then(|next| next.start).or(Some(end));
            WindowLogEntry::new(w.start, until, w.pages, w.records, w.done)
        })
        .collect()
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
    if records.is_empty() {
        return Ok(());
    }
    if let Spool::NoFile = window.spool {
        let spool = SpoolWriter::create(path).map_err(|e| spool_error(path, e))?;
        window.spool = Spool::Writing(spool);
    }
    let Spool::Writing(spool) = &mut window.spool else {
        let finished = std::io::Error::other("records came after the window finished");
        return Err(spool_error(path, finished));
    };
    for record in records {
        spool.append(record).map_err(|e| spool_error(path, e))?;
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

/// The request for the newest activity in `filter`'s range, sent beside the first page.
pub fn newest_activity_query(filter: &ActivityFilter) -> PageQuery<'_> {
    PageQuery {
        filter,
        lower_bound: None,
        order: Order::Descending,
        top: 1,
        skip: 0,
        select: None,
    }
}

/// The TimeStamp of the newest activity in `filter`'s range (`$orderby=TimeStamp desc&$top=1`),
/// or None when the range is empty or the request failed: it only places the cuts, and the
/// last window still runs to the range's end.
async fn newest_activity(
    client: &ActivitiesClient,
    filter: &ActivityFilter,
) -> Option<DateTime<Utc>> {
    match client
        .fetch_page(&newest_activity_query(filter), &PageReading::Keys)
        .await
    {
        Ok(page) => page.records.first().and_then(Activity::timestamp),
        Err(error) => {
            tracing::debug!("the newest activity is unknown ({error}); windows are cut blind");
            None
        }
    }
}

/// What a windowed walk needs besides the client: the range, how to ask, where to spool.
#[derive(Debug, Clone)]
pub struct WindowPlan<'a> {
    pub filter: ActivityFilter,
    pub select: Option<&'a [String]>,
    pub page_size: u32,
    /// Windows walked at once (the service allows about 4 requests in flight per mailbox).
    pub concurrency: usize,
    /// Where windows that are not the head spool their records: `<dir>/<prefix>.window<n>.tmp`.
    pub spool_dir: &'a Path,
    pub spool_prefix: &'a str,
    /// How every page is read (with CSV frames when a CSV is built from the records: a spool
    /// keeps them too).
    pub reading: PageReading,
    /// What a walk that stopped early still hands over.
    pub partial: PartialHandover,
}

/// Fetches the whole range through concurrent windows, handing their records to `emit` in
/// time order (windows that are not the head spool to files meanwhile).
/// Stops early on an error or when `interrupt` resolves, and the report says why; then it still
/// hands over what `plan.partial` says.
pub async fn fetch_windows(
    client: &ActivitiesClient,
    plan: &WindowPlan<'_>,
    interrupt: impl std::future::Future<Output = ()>,
    emit: &mut EmitWindow<'_>,
) -> WindowReport {
    let mut windows: Vec<Window> = Vec::new();
    let mut report = WindowReport::default();
    let mut interrupt = std::pin::pin!(interrupt);
    let fetched = tokio::select! {
        biased;
        _ = &mut interrupt => Err(PagingError::Interrupted),
        fetched = run_windows(client, plan, &mut windows, &mut report, emit) => fetched,
    };
    report.windows = windows.len();
    report.log = window_log(&windows, plan.filter.end);
    let ready = if fetched.is_ok() || plan.partial == PartialHandover::Everything {
        Ready::Everything
    } else {
        Ready::FinishedOnly
    };
    let rest = emit_ready(&mut windows, ready, emit);
    discard(&mut windows);
    report.error = fetched.err().or(rest.err());
    report
}

async fn run_windows<'a>(
    client: &'a ActivitiesClient,
    plan: &WindowPlan<'a>,
    windows: &mut Vec<Window>,
    report: &mut WindowReport,
    emit: &mut EmitWindow<'_>,
) -> Result<(), PagingError> {
    let open = |windows: &mut Vec<Window>, window_start: Option<DateTime<Utc>>| {
        let path =
            plan.spool_dir
                .join(format!("{}.window{}.tmp", plan.spool_prefix, windows.len()));
        windows.push(Window {
            start: window_start,
            path,
            spool: Spool::NoFile,
            head: windows.is_empty(),
            done: false,
            handed_over: false,
            records: 0,
            pages: 0,
        });
        windows.len() - 1
    };
    let pager_for = |filter: &ActivityFilter| {
        let mut pager = KeysetPager::new(client, filter, plan.select, plan.page_size);
        pager.read_pages_for(plan.reading.clone());
        pager
    };
    // One window to begin with: its first page (oldest first) shows where the data starts.
    // Beside it, one request finds the newest activity, so the cuts go where the data is: a
    // range ends now, and a mailbox's data seldom does.
    let mut in_flight = FuturesUnordered::new();
    let first = open(windows, plan.filter.start);
    let (first_batch, data_until) = tokio::join!(
        next_batch_of(first, pager_for(&plan.filter)),
        newest_activity(client, &plan.filter)
    );
    let mut arrived = Some(first_batch);
    while let Some((index, mut pager, result)) = match arrived.take() {
        Some(batch) => Some(batch),
        None => in_flight.next().await,
    } {
        let records = result?.unwrap_or_default();
        let window = &mut windows[index];
        window.records += records.len() as u64;
        if window.head {
            if !records.is_empty() {
                emit(Handover::Records(records))?;
            }
        } else {
            spool_records(window, &records)?;
        }
        if pager.is_finished() {
            report.pages += pager.progress().pages;
            windows[index].pages = pager.progress().pages;
            windows[index].finish()?;
            emit_ready(windows, Ready::WhileFetching, emit)?;
            continue;
        }
        // Free slots: share this window's remainder with new windows.
        let free = plan.concurrency.saturating_sub(in_flight.len() + 1);
        if free > 0 {
            let parts = pager.suggested_parts(free + 1, data_until);
            for window in if parts > 1 {
                pager.split_into(parts, data_until)
            } else {
                Vec::new()
            } {
                let new_index = open(windows, window.start);
                in_flight.push(next_batch_of(new_index, pager_for(&window)));
            }
        }
        in_flight.push(next_batch_of(index, pager));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window starting at `minute` past midnight, with a spool holding a record whose Id is
    /// `spooled`, if any.
    fn window(dir: &Path, minute: u32, spooled: Option<&str>, done: bool) -> Window {
        let path = dir.join(format!("w{minute}"));
        let spool = spooled.map_or(Spool::NoFile, |id| {
            let page = format!(r#"{{"value":[{{"Id":"{id}"}}]}}"#).into_bytes();
            let records = crate::record::parse_page_for(page, &PageReading::Keys).unwrap();
            // A spool handed over earlier in a test is still there (tests do not consume it).
            let _ = std::fs::remove_file(&path);
            let mut spool = SpoolWriter::create(&path).unwrap();
            spool.append(&records[0]).unwrap();
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
            records: 0,
            pages: 0,
        }
    }

    /// The Id of the one record a test window spooled.
    fn spooled_id(path: &Path) -> String {
        let mut reader = super::super::window_spool::SpoolReader::open(path).unwrap();
        let record = reader.next_record().unwrap().unwrap();
        let value: serde_json::Value = serde_json::from_str(record.line).unwrap();
        value["Id"].as_str().unwrap().to_string()
    }

    /// Runs `emit_ready`, describing each handover: `spool <its record's Id>` or
    /// `finished <minute>`.
    fn handovers(windows: &mut [Window], ready: Ready) -> Vec<String> {
        let mut seen = Vec::new();
        emit_ready(windows, ready, &mut |handover| {
            seen.push(match handover {
                Handover::Records(_) => "records".to_string(),
                Handover::Spool(path) => format!("spool {}", spooled_id(path)),
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
        assert_eq!(spooled_id(&dir.path().join("w10")), "b");
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
