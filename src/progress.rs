//! Progress on stderr: a live line on a terminal, a plain line every few seconds otherwise (a
//! log, a pipe, CI), nothing under `--quiet`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};

use crate::http::RequestStats;

/// Told how far a pull has got, as records are written.
pub trait ProgressReport: Sync {
    /// `records` written so far; `reached`: the newest TimeStamp written, when known.
    fn update(&self, records: u64, reached: Option<DateTime<Utc>>);
}

/// How a pull shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A live line (stderr is a terminal).
    Live,
    /// A plain line at this interval (stderr is a file or a pipe).
    Lines(Duration),
    /// Nothing (`--quiet`).
    Off,
}

impl ProgressMode {
    /// The mode for this process's stderr.
    pub fn for_stderr(quiet: bool, interval: Duration) -> Self {
        if quiet {
            ProgressMode::Off
        } else if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            ProgressMode::Live
        } else {
            ProgressMode::Lines(interval)
        }
    }
}

/// What the line says, shared with the thread that prints plain lines.
struct State {
    records: AtomicU64,
    reached: Mutex<Option<DateTime<Utc>>>,
    stats: Arc<RequestStats>,
    started: Instant,
}

impl State {
    fn line(&self) -> String {
        let records = self.records.load(Ordering::Relaxed);
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        let reached = self
            .reached
            .lock()
            .ok()
            .and_then(|r| *r)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_else(|| "-".into());
        format!(
            "{records} records ({:.0}/s), {} requests, reached {reached}, {} retries, {} throttle waits",
            records as f64 / seconds,
            RequestStats::get(&self.stats.requests),
            RequestStats::get(&self.stats.retries),
            RequestStats::get(&self.stats.throttle_waits),
        )
    }
}

pub struct PullProgress {
    state: Arc<State>,
    bar: Option<ProgressBar>,
    /// Stops the plain-line thread.
    stop: Option<std::sync::mpsc::Sender<()>>,
}

impl PullProgress {
    pub fn new(mode: ProgressMode, stats: Arc<RequestStats>) -> Self {
        let state = Arc::new(State {
            records: AtomicU64::new(0),
            reached: Mutex::new(None),
            stats,
            // The wall clock (`crate::clock`): a display of how long the run has taken.
            started: Instant::now(),
        });
        let bar = (mode == ProgressMode::Live).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let stop = match mode {
            ProgressMode::Lines(interval) => {
                let (stop, stopped) = std::sync::mpsc::channel::<()>();
                let shared = Arc::clone(&state);
                // A thread, not a task: it must print even while the pull waits out a throttle.
                let started =
                    std::thread::Builder::new()
                        .name("progress".into())
                        .spawn(move || {
                            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                                stopped.recv_timeout(interval)
                            {
                                eprintln!("progress: {}", shared.line());
                            }
                        });
                started.ok().map(|_| stop)
            }
            _ => None,
        };
        PullProgress { state, bar, stop }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if let Some(stop) = &self.stop {
            let _ = stop.send(());
        }
    }
}

impl Drop for PullProgress {
    fn drop(&mut self) {
        self.finish();
    }
}

impl ProgressReport for PullProgress {
    fn update(&self, records: u64, reached: Option<DateTime<Utc>>) {
        self.state.records.store(records, Ordering::Relaxed);
        if let (Some(reached), Ok(mut slot)) = (reached, self.state.reached.lock()) {
            *slot = Some(reached);
        }
        if let Some(bar) = &self.bar {
            bar.set_message(self.state.line());
        }
    }
}
