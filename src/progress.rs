//! The progress line on stderr: only on a terminal, never under `--quiet`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};

use crate::http::RequestStats;

/// Told how far a pull has got, as records are written.
pub trait ProgressReport: Sync {
    /// `records` written so far; `reached`: the newest TimeStamp written, when known.
    fn update(&self, records: u64, reached: Option<DateTime<Utc>>);
}

/// No progress shown.
pub struct NoProgress;

impl ProgressReport for NoProgress {
    fn update(&self, _: u64, _: Option<DateTime<Utc>>) {}
}

pub struct PullProgress {
    bar: Option<ProgressBar>,
    stats: Arc<RequestStats>,
}

impl PullProgress {
    pub fn new(visible: bool, stats: Arc<RequestStats>) -> Self {
        let bar = visible.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        PullProgress { bar, stats }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl ProgressReport for PullProgress {
    fn update(&self, records: u64, reached: Option<DateTime<Utc>>) {
        if let Some(bar) = &self.bar {
            let reached = reached
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|| "-".into());
            let stats = &self.stats;
            bar.set_message(format!(
                "{records} records, {} requests, reached {reached}, {} retries, {} throttle waits",
                RequestStats::get(&stats.requests),
                RequestStats::get(&stats.retries),
                RequestStats::get(&stats.throttle_waits),
            ));
        }
    }
}
