//! Talking to the services: authentication, the retry policy, the per-mailbox budget, one
//! request with the guarantees every source shares (`api.rs`).

mod api;
mod auth;
mod client;
mod error;
mod limiter;
mod retry;
mod sleeper;

pub use crate::clock::{Clock, SystemClock, VirtualClock};
pub use crate::wire::{error_chain, printable, read_capped, readable, BodyError};
pub use api::{Answer, ApiClient, ApiOptions, ApiRequest, ReadFailure, TOOL_USER_AGENT};
pub use auth::Credentials;
pub use client::{
    ActivitiesClient, ClientOptions, RequestStats, ServerDate, ServerDates, DEFAULT_MAX_PAGE_BYTES,
};
pub use error::{HttpError, LastFailure, Refusal};
pub use limiter::{MailboxLimiter, RateBudget};
pub use retry::{Backoff, RetryDecision, RetryPolicy};
pub use sleeper::{RecordingSleeper, ShiftedSleeper, Sleeper, TokioSleeper};
