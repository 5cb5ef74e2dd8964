//! Talking to the Activities API: authentication, the retry policy, the per-mailbox budget.

mod auth;
mod client;
mod error;
mod limiter;
mod retry;
mod sleeper;

pub use auth::Credentials;
pub use client::{ActivitiesClient, ClientOptions, RequestStats, DEFAULT_MAX_PAGE_BYTES};
pub use error::{HttpError, Refusal};
pub use limiter::{MailboxLimiter, RateBudget};
pub use retry::{Backoff, RetryDecision, RetryPolicy};
pub use sleeper::{RecordingSleeper, Sleeper, TokioSleeper};
