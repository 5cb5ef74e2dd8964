//! Sources: where a pull's records come from, at the head of the pipeline.
//!
//! A source is a plug-in: a static [`SourceDescriptor`] (its name, the flags it reads, the
//! client it needs, how it resumes, what a 403 means), a configured [`SourceSpec`] (what
//! `--source NAME` and its flags resolved to) and a [`Source`], one walk of one mailbox that
//! hands records over in their final order (`Handover`): records, spools of records fetched
//! ahead, and durable points ("everything before this instant has been handed over") that a
//! case checkpoints at. A source knows nothing of files, CSV or manifests: the pipeline
//! (`crate::pipeline`) writes what it hands over. The registry (`registry.rs`) is the one list
//! of them; nothing else names them.

mod activities;
pub mod args;
mod audit_query;
mod descriptor;
mod entra;
pub mod error;
mod feed;
pub mod handover;
pub mod paging;
pub mod registry;
mod sorted_runs;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

pub use activities::{
    ActivitiesLog, ActivitiesSource, ActivitiesSpec, AnyPager, PagingMode, QueryConfig, SpoolPlace,
};
pub use args::{ApiVersion, GraphVersion, SourceArgs};
pub use audit_query::{
    AuditQueryLog, AuditQueryOptions, AuditQuerySource, MailboxGroups, QueryLogEntry,
    SplitStrategy, GROUP_FILL, MAILBOXES_PER_QUERY,
};
pub use descriptor::{
    checked_url, ClientKind, Configured, FlagGroup, Resume, SourceDescriptor, SourceRequest,
};
pub use entra::{Counts as EntraWalkCounts, EntraLog, LogNotes as EntraLogNotes};
pub use feed::{BlobLogEntry, FeedLog, FeedOptions, FeedSource, FeedUsers};
pub use handover::{EmitWindow, Handover, PartialHandover};

use crate::http::{
    ActivitiesClient, ApiClient, ClientOptions, HttpError, MailboxLimiter, RequestStats, Sleeper,
};
use crate::record::PageReading;
pub use error::{PagingError, ProtocolViolation};

/// A source as configured for a pull or a case: what `--source NAME` and its flags resolved to.
pub trait SourceSpec: std::fmt::Debug + Send + Sync {
    fn descriptor(&self) -> &'static SourceDescriptor;

    /// One mailbox's walk over `walk.client`.
    fn open<'a>(&'a self, walk: Walk<'a>) -> Result<Box<dyn Source + 'a>, PagingError>;

    /// A case's range as its manifest records it (`resolved_filter`), in the source's own
    /// terms: the Activities API's OData filter, another source's time field and range. No
    /// default, so that a new source never records another's filter.
    fn case_filter(&self, filter: &crate::odata::ActivityFilter) -> String;

    /// The filters beyond the time range that a resumed case must ask for again.
    fn filters(&self) -> Vec<String> {
        Vec::new()
    }

    /// The same source for the mailboxes of a case, `shared` the case's folder for what they
    /// share (the feed fetches each blob once for them all); `None`: as it is.
    fn for_case(&self, _shared: &std::path::Path) -> Option<Arc<dyn SourceSpec>> {
        None
    }

    /// The mailboxes a run of a case still pulls, in the order it runs them, before it starts
    /// them (the audit log queries several of them at once).
    fn case_mailboxes(&self, _pending: &[String]) {}
}

/// Stops a walk early when it resolves (Ctrl-C, a signal, a case stopping).
pub type Interrupt<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// One walk of one mailbox.
pub trait Source: Send {
    /// Pages (or blobs, or query pages) read so far.
    fn pages(&self) -> u64;

    /// The first request (`describe`: as `--dry-run` prints it; otherwise as the manifest
    /// records it).
    fn first_request(&self, describe: bool) -> String;

    /// The filter as the manifest records it.
    fn filter_description(&self) -> String;

    /// How the source walks, as the manifest records it.
    fn walk_description(&self) -> String;

    /// What the manifest records of how the records were fetched beyond the counters: a
    /// source's typed log as JSON (`AuditQueryLog`, `FeedLog`, `ActivitiesLog`), read back
    /// with `Manifest::source_log_as`. The Entra ID logs' is still untyped.
    fn log(&self) -> Option<serde_json::Value> {
        None
    }

    /// Called once the pull's files are complete (the feed remembers the blobs it fetched).
    fn completed(&mut self) -> Result<(), crate::output::OutputError> {
        Ok(())
    }

    /// Walks the source, handing records over to `emit` in (time, id) order, with durable
    /// points wherever everything before an instant has been handed over and
    /// `Finished(None)` at the end. Pages are read as `reading` says. Stops early on an error
    /// or when `interrupt` resolves; what was fetched before is still handed over as
    /// `partial` says.
    fn deliver<'s>(
        &'s mut self,
        reading: PageReading,
        partial: PartialHandover,
        interrupt: Interrupt<'s>,
        emit: &'s mut EmitWindow<'_>,
    ) -> BoxFuture<'s, Result<(), PagingError>>;
}

/// What a source's walk of one mailbox is opened with.
pub struct Walk<'a> {
    pub client: &'a SourceClient,
    pub query: &'a QueryConfig,
    pub user: &'a str,
    pub sleeper: &'a dyn Sleeper,
    pub spools: SpoolPlace,
    /// A checkpoint's bound, before which everything is already written.
    pub resume_after: Option<DateTime<Utc>>,
}

impl<'a> Walk<'a> {
    /// The range's start: the query's, else the service's `earliest`, and never before a
    /// checkpoint's bound.
    pub fn start(&self, earliest: DateTime<Utc>) -> DateTime<Utc> {
        let start = self.query.filter.start.unwrap_or(earliest);
        self.resume_after.map_or(start, |bound| start.max(bound))
    }

    pub fn activities_client(&self) -> Result<&'a ActivitiesClient, PagingError> {
        match self.client {
            SourceClient::Activities(client) => Ok(client),
            SourceClient::Api(_) => Err(PagingError::Internal(
                "the source's client is of another API",
            )),
        }
    }

    pub fn api_client(&self) -> Result<&'a ApiClient, PagingError> {
        match self.client {
            SourceClient::Api(client) => Ok(client),
            SourceClient::Activities(_) => Err(PagingError::Internal(
                "the source's client is of another API",
            )),
        }
    }
}

/// The client of a source, of the kind its descriptor names.
#[derive(Debug)]
pub enum SourceClient {
    Activities(ActivitiesClient),
    Api(ApiClient),
}

impl SourceClient {
    pub fn new(
        options: ClientOptions,
        descriptor: &SourceDescriptor,
        sleeper: Arc<dyn Sleeper>,
    ) -> Result<Self, HttpError> {
        match descriptor.client {
            ClientKind::Activities => ActivitiesClient::new(options, sleeper).map(Self::Activities),
            ClientKind::Api { .. } => {
                let limiter = Arc::new(MailboxLimiter::new(options.budget));
                let api = options.into_api(descriptor.endpoint_flag, descriptor.permissions);
                ApiClient::new(api, sleeper, limiter).map(Self::Api)
            }
        }
    }

    pub fn stats(&self) -> &Arc<RequestStats> {
        match self {
            SourceClient::Activities(client) => client.stats(),
            SourceClient::Api(client) => client.stats(),
        }
    }
}

/// `filter`'s range in words: `FIELD from START to END (exclusive)`, a range without a start
/// from the oldest record the service keeps.
pub(crate) fn range_in_words(field: &str, filter: &crate::odata::ActivityFilter) -> String {
    let start = filter
        .start
        .map_or_else(|| "the oldest record kept".to_string(), manifest_time);
    format!(
        "{field} from {start} to {} (exclusive)",
        manifest_time(filter.end)
    )
}

/// A time as manifests write it.
pub(crate) fn manifest_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
