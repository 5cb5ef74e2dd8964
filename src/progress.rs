//! The progress line on stderr: only on a terminal, never under `--quiet`.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::http::RequestStats;
use crate::paging::PagerProgress;

pub struct PullProgress {
    bar: Option<ProgressBar>,
}

impl PullProgress {
    pub fn new(visible: bool) -> Self {
        let bar = visible.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        PullProgress { bar }
    }

    pub fn update(&self, records: u64, pager: &PagerProgress, stats: &RequestStats) {
        if let Some(bar) = &self.bar {
            let reached = pager
                .reached
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|| "-".into());
            bar.set_message(format!(
                "{records} records, {} requests, reached {reached}, {} retries, {} throttle waits",
                RequestStats::get(&stats.requests),
                RequestStats::get(&stats.retries),
                RequestStats::get(&stats.throttle_waits),
            ));
        }
    }

    pub fn message(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_string());
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
