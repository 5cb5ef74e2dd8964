//! Concurrent time windows inside one mailbox.
//!
//! The pull starts as one keyset walk; its first page (oldest first) shows where the data
//! starts. Whenever fewer windows are active than `concurrency` (the service allows about 4
//! requests in flight per mailbox), a window that still has data shares what it has left with
//! new windows `[cut, next cut)`, each walked by its own keyset pager and spooled to its own
//! file, so one dense week does not serialize the pull and a small mailbox costs one request. Windows partition time at whole milliseconds and each is written in
//! (TimeStamp, Id) order, so concatenating the spools by window start is byte-identical to a
//! sequential pull of the same snapshot. Memory holds pager states, never records.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use futures::stream::{FuturesUnordered, StreamExt};

use super::{KeysetPager, Pager, PagingError};
use crate::http::ActivitiesClient;
use crate::odata::ActivityFilter;
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
/// (`None` after the last): once it returns, every activity before that instant has been handed
/// over. The spool is the receiver's from then on: it removes the file when done with it (which
/// may be later, on another thread).
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
        emit(&spool.path, following)?;
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
    // One window to begin with: its first page (oldest first) shows where the data starts,
    // and a mailbox that fits in one page costs one request.
    let mut in_flight = FuturesUnordered::new();
    let first = open(spools, filter.start)?;
    in_flight.push(next_batch_of(
        first,
        KeysetPager::new(client, filter, select, page_size),
    ));
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
        // Free slots: share this window's remainder with new windows.
        let free = concurrency.saturating_sub(in_flight.len() + 1);
        if free > 0 {
            let parts = pager.suggested_parts(free + 1);
            for window in if parts > 1 {
                pager.split_into(parts)
            } else {
                Vec::new()
            } {
                let new_index = open(spools, window.start)?;
                in_flight.push(next_batch_of(
                    new_index,
                    KeysetPager::new(client, &window, select, page_size),
                ));
            }
        }
        in_flight.push(next_batch_of(index, pager));
    }
    Ok(())
}
