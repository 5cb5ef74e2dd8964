//! `pull`: one mailbox into JSON Lines (and CSV), with a manifest.

use std::future::Future;
use std::sync::Arc;

use crate::config::PullConfig;
use crate::error::AppError;
use crate::http::Sleeper;
use crate::pipeline::pull_to_destination;
pub use crate::pipeline::PullSummary;

/// Runs a pull to its end, or until `interrupt` resolves; prints where it went unless quiet.
pub async fn run(
    config: &PullConfig,
    sleeper: Arc<dyn Sleeper>,
    interrupt: impl Future<Output = ()> + Send,
) -> Result<PullSummary, AppError> {
    pull_to_destination(config, sleeper, interrupt).await
}
