//! Concurrent time windows inside one mailbox.
//!
//! The range is cut into windows `[start, before)`, each walked by its own keyset pager and
//! spooled to its own file. At most `concurrency` page requests are in flight (the service
//! allows about 4 per mailbox); whenever fewer windows are active than that, a window that
//! still has data gives away the upper half of what it has left, so one dense week does not
//! serialize the pull. Windows partition time at whole milliseconds and each is written in
//! (TimeStamp, Id) order, so concatenating the spools by window start is byte-identical to a
//! sequential pull of the same snapshot. Memory holds pager states, never records.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use futures::stream::{FuturesUnordered, StreamExt};

use super::{KeysetPager, Pager, PagingError};
use crate::http::ActivitiesClient;
use crate::odata::{ActivityFilter, Order, PageQuery};
use crate::output::jsonl_line;
use crate::record::Activity;

/// What the windows did, and why they stopped if they stopped early.
#[derive(Debug, Default)]
pub struct WindowReport {
    pub pages: u64,
    pub windows: usize,
    pub error: Option<PagingError>,
}

struct Spool {
    start: Option<DateTime<Utc>>,
    path: PathBuf,
    writer: Option<BufWriter<File>>,
    done: bool,
}

fn spool_error(path: &Path, source: std::io::Error) -> PagingError {
    PagingError::Spool {
        path: path.display().to_string(),
        source,
    }
}

/// Receives each window's spool in time order, with the start of the window that follows it
/// (`None` after the last): once it returns, every activity before that instant has been handed over.
pub type EmitWindow<'e> =
    dyn FnMut(&Path, Option<DateTime<Utc>>) -> Result<(), PagingError> + Send + 'e;

/// Hands finished windows to `emit` in time order, as soon as every earlier window is finished
/// too (a later split can only create windows inside ranges still being walked, so nothing can
/// appear before them). With `all`, also hands over unfinished ones (a partial result).
fn emit_ready(
    spools: &mut [Spool],
    all: bool,
    emit: &mut EmitWindow<'_>,
) -> Result<(), PagingError> {
    let mut pending: Vec<usize> = (0..spools.len())
        .filter(|&i| spools[i].writer.is_some())
        .collect();
    pending.sort_by_key(|&i| spools[i].start);
    for (position, &index) in pending.iter().enumerate() {
        if !spools[index].done && !all {
            break;
        }
        let following = pending
            .get(position + 1)
            .and_then(|&next| spools[next].start);
        let spool = &mut spools[index];
        if let Some(mut writer) = spool.writer.take() {
            writer.flush().map_err(|e| spool_error(&spool.path, e))?;
        }
        let emitted = emit(&spool.path, following);
        let _ = std::fs::remove_file(&spool.path);
        emitted?;
    }
    Ok(())
}

/// Removes the spools of windows that were never handed over.
fn discard(spools: &mut [Spool]) {
    for spool in spools.iter_mut().filter(|s| s.writer.is_some()) {
        spool.writer.take();
        let _ = std::fs::remove_file(&spool.path);
    }
}

const PROBE_SELECT: [&str; 2] = ["Id", "TimeStamp"];

/// The first request of a windowed pull: the oldest-activity probe when the range has no start,
/// otherwise the first window's first page. Passed to `f` (it borrows locals).
pub fn with_first_query<T>(
    filter: &ActivityFilter,
    select: Option<&[String]>,
    page_size: u32,
    concurrency: usize,
    f: impl FnOnce(&PageQuery<'_>) -> T,
) -> T {
    match filter.start {
        None => {
            let probe: Vec<String> = PROBE_SELECT.iter().map(|s| s.to_string()).collect();
            f(&PageQuery {
                filter,
                lower_bound: None,
                order: Order::Ascending,
                top: 1,
                skip: 0,
                select: Some(&probe),
            })
        }
        Some(start) => {
            let first = initial_windows(filter, start, concurrency).remove(0);
            f(&PageQuery {
                filter: &first,
                lower_bound: None,
                order: Order::Ascending,
                top: page_size,
                skip: 0,
                select,
            })
        }
    }
}

/// The oldest activity's TimeStamp in the range, with one `$orderby=TimeStamp asc&$top=1` request.
pub async fn oldest_timestamp(
    client: &ActivitiesClient,
    filter: &ActivityFilter,
) -> Result<Option<DateTime<Utc>>, PagingError> {
    let probe: Vec<String> = PROBE_SELECT.iter().map(|s| s.to_string()).collect();
    let query = PageQuery {
        filter,
        lower_bound: None,
        order: Order::Ascending,
        top: 1,
        skip: 0,
        select: Some(&probe),
    };
    let page = client.fetch_page(&query).await?;
    Ok(page.first().and_then(Activity::timestamp))
}

/// Cuts `[start, end]` into `count` windows of equal length (whole milliseconds).
fn initial_windows(
    filter: &ActivityFilter,
    start: DateTime<Utc>,
    count: usize,
) -> Vec<ActivityFilter> {
    // At least one window, whatever the arithmetic says.
    let span = (filter.end - start).num_milliseconds().max(0);
    let count = (count.max(1) as i64).min(span.max(1));
    let mut bounds: Vec<DateTime<Utc>> = (0..count)
        .map(|i| start + chrono::Duration::milliseconds(span * i / count))
        .collect();
    bounds.dedup();
    bounds
        .iter()
        .enumerate()
        .map(|(i, &window_start)| {
            let mut window = filter.clone();
            window.start = Some(window_start);
            window.before = bounds.get(i + 1).copied();
            window
        })
        .collect()
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

/// Fetches the whole range through concurrent windows, spooling each to a file under
/// `spool_dir` and handing the spools to `emit` in time order. Stops early on an error or when
/// `interrupt` resolves, and the report says why; then finished windows are still emitted in
/// order, and unfinished ones too when `emit_unfinished` (a pull's partial result; a batch's
/// checkpoint must never run ahead of a gap, so it passes false).
#[allow(clippy::too_many_arguments)]
pub async fn fetch_windows(
    client: &ActivitiesClient,
    filter: &ActivityFilter,
    select: Option<&[String]>,
    page_size: u32,
    concurrency: usize,
    spool_dir: &Path,
    spool_prefix: &str,
    interrupt: impl std::future::Future<Output = ()>,
    emit_unfinished: bool,
    emit: &mut EmitWindow<'_>,
) -> WindowReport {
    let mut spools: Vec<Spool> = Vec::new();
    let mut report = WindowReport::default();
    let mut interrupt = std::pin::pin!(interrupt);
    let fetched = tokio::select! {
        biased;
        _ = &mut interrupt => Err(PagingError::Interrupted),
        fetched = run_windows(client, filter, select, page_size, concurrency, spool_dir, spool_prefix, &mut spools, &mut report, emit) => fetched,
    };
    report.windows = spools.len();
    let rest = emit_ready(&mut spools, fetched.is_ok() || emit_unfinished, emit);
    discard(&mut spools);
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
    spool_dir: &Path,
    spool_prefix: &str,
    spools: &mut Vec<Spool>,
    report: &mut WindowReport,
    emit: &mut EmitWindow<'_>,
) -> Result<(), PagingError> {
    let start = match filter.start {
        Some(start) => Some(start),
        None => oldest_timestamp(client, filter).await?,
    };
    let Some(start) = start else {
        return Ok(());
    };
    let open = |spools: &mut Vec<Spool>,
                window_start: Option<DateTime<Utc>>|
     -> Result<usize, PagingError> {
        let path = spool_dir.join(format!("{spool_prefix}.window{}.tmp", spools.len()));
        let file = File::create(&path).map_err(|e| spool_error(&path, e))?;
        spools.push(Spool {
            start: window_start,
            path,
            writer: Some(BufWriter::with_capacity(128 * 1024, file)),
            done: false,
        });
        Ok(spools.len() - 1)
    };
    let mut in_flight = FuturesUnordered::new();
    for window in initial_windows(filter, start, concurrency) {
        let index = open(spools, window.start)?;
        in_flight.push(next_batch_of(
            index,
            KeysetPager::new(client, &window, select, page_size),
        ));
    }
    while let Some((index, mut pager, result)) = in_flight.next().await {
        let records = result?.unwrap_or_default();
        let spool = &mut spools[index];
        if let Some(writer) = spool.writer.as_mut() {
            for record in &records {
                let line = jsonl_line(record);
                let written = writer
                    .write_all(line.as_bytes())
                    .and_then(|()| writer.write_all(b"\n"));
                written.map_err(|e| spool_error(&spool.path, e))?;
            }
        }
        if pager.is_finished() {
            report.pages += pager.progress().pages;
            spool.done = true;
            emit_ready(spools, false, emit)?;
            continue;
        }
        // A free slot: hand the upper half of this window's remainder to a new window.
        if in_flight.len() + 1 < concurrency {
            if let Some(upper) = pager.split() {
                let new_index = open(spools, upper.start)?;
                in_flight.push(next_batch_of(
                    new_index,
                    KeysetPager::new(client, &upper, select, page_size),
                ));
            }
        }
        in_flight.push(next_batch_of(index, pager));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn initial_windows_partition_the_range() {
        let start = Utc.with_ymd_and_hms(2018, 1, 1, 0, 0, 0).unwrap();
        let filter = ActivityFilter {
            start: None,
            end: start + chrono::Duration::days(4),
            before: None,
            types: vec![],
            app_types: vec![],
        };
        let windows = initial_windows(&filter, start, 4);
        assert_eq!(windows.len(), 4);
        assert_eq!(windows[0].start, Some(start));
        for pair in windows.windows(2) {
            assert_eq!(pair[0].before, pair[1].start);
        }
        assert_eq!(
            windows[3].before, None,
            "the last window ends at the frozen end, inclusive"
        );
        let tiny = ActivityFilter {
            end: start + chrono::Duration::milliseconds(2),
            ..filter
        };
        assert_eq!(initial_windows(&tiny, start, 4).len(), 2);
    }
}
