//! Sources: where a pull's records come from, at the head of the pipeline.
//!
//! A source walks its API and hands over records in their final order (`Handover`): records,
//! spools of records fetched ahead, and durable points ("everything before this instant has been
//! handed over") that a case checkpoints at. It knows nothing of files, CSV or manifests: the
//! pipeline (`crate::pipeline`) writes what it hands over. Three sources sit here: the
//! Activities API (`activities.rs`), Graph audit log queries (`audit_query.rs`) and the Office
//! 365 Management Activity API (`feed.rs`); `AnySource` is the one the pipeline runs.

mod activities;
mod audit_query;
mod feed;
pub mod paging;
mod sorted_runs;

use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use activities::{ActivitiesSource, AnyPager, PagingMode, QueryConfig, SpoolPlace};
pub use audit_query::{AuditQueryOptions, AuditQuerySource, QueryLogEntry};
pub use feed::{BlobLogEntry, FeedOptions, FeedSource, FeedUsers};
pub use paging::{EmitWindow, Handover, PartialHandover};

use crate::http::{
    ActivitiesClient, ApiClient, ClientOptions, HttpError, MailboxLimiter, RequestStats, Sleeper,
};
use crate::record::PageReading;
use paging::PagingError;

/// Which API a pull reads (`--source`).
#[derive(Debug, Clone)]
pub enum SourceKind {
    /// The Outlook REST Activities API (withdrawn in July 2018).
    Activities,
    /// Microsoft Graph audit log queries (the Unified Audit Log).
    AuditQuery(AuditQueryOptions),
    /// The Office 365 Management Activity API (the Unified Audit Log's last 7 days).
    Feed(FeedOptions),
}

impl SourceKind {
    /// The name the manifest and `--source` use.
    pub fn name(&self) -> &'static str {
        match self {
            SourceKind::Activities => "activities",
            SourceKind::AuditQuery(_) => "audit",
            SourceKind::Feed(_) => "feed",
        }
    }

    /// The shape of its records, for the CSV's leading columns.
    pub fn record_shape(&self) -> crate::output::RecordShape {
        match self {
            SourceKind::Activities => crate::output::RecordShape::Activities,
            _ => crate::output::RecordShape::AuditLog,
        }
    }

    /// What its records are called in messages.
    pub fn noun(&self) -> &'static str {
        match self {
            SourceKind::Activities => "activities",
            _ => "audit log records",
        }
    }

    /// Whether a stopped pull can continue from its checkpoint, or must start again.
    pub fn resumable(&self, paging: PagingMode) -> bool {
        match self {
            SourceKind::Activities => ActivitiesSource::resumable(paging),
            // Each finished query range is a durable point.
            SourceKind::AuditQuery(_) => true,
            // Blobs are selected by when they became available, not by the records' time:
            // a time bound says nothing of what is still to come.
            SourceKind::Feed(_) => false,
        }
    }
}

/// What the manifest names for each source's permission when the service answers 403.
const GRAPH_PERMISSION: &str = "the app needs the AuditLogsQuery.Read.All application permission \
     (or AuditLogsQuery-Exchange.Read.All and kin) with admin consent, or a signed-in analyst \
     with an audit role";
const FEED_PERMISSION: &str = "the app needs the ActivityFeed.Read application permission of the \
     Office 365 Management APIs, with admin consent, and auditing must be on in the tenant";

/// The client of a source.
#[derive(Debug)]
pub enum SourceClient {
    Activities(ActivitiesClient),
    Api(ApiClient),
}

impl SourceClient {
    pub fn new(
        options: ClientOptions,
        kind: &SourceKind,
        sleeper: Arc<dyn Sleeper>,
    ) -> Result<Self, HttpError> {
        let (url_flag, permission_hint) = match kind {
            SourceKind::Activities => {
                return ActivitiesClient::new(options, sleeper).map(Self::Activities)
            }
            SourceKind::AuditQuery(_) => ("--graph-url", GRAPH_PERMISSION),
            SourceKind::Feed(_) => ("--management-url", FEED_PERMISSION),
        };
        let limiter = Arc::new(MailboxLimiter::new(options.budget));
        let api = options.into_api(url_flag, permission_hint);
        ApiClient::new(api, sleeper, limiter).map(Self::Api)
    }

    pub fn stats(&self) -> &Arc<RequestStats> {
        match self {
            SourceClient::Activities(client) => client.stats(),
            SourceClient::Api(client) => client.stats(),
        }
    }
}

/// The source a pull runs.
pub enum AnySource<'a> {
    Activities(ActivitiesSource<'a>),
    AuditQuery(AuditQuerySource<'a>),
    Feed(FeedSource<'a>),
}

impl<'a> AnySource<'a> {
    /// `resume_after`: a checkpoint's bound, before which everything is already written.
    pub fn new(
        client: &'a SourceClient,
        query: &'a QueryConfig,
        user: &'a str,
        sleeper: &'a dyn Sleeper,
        spools: SpoolPlace,
        resume_after: Option<DateTime<Utc>>,
    ) -> Result<Self, PagingError> {
        let mismatch = || PagingError::Protocol("the source's client is of another API".into());
        let start = |earliest: DateTime<Utc>| {
            let start = query.filter.start.unwrap_or(earliest);
            resume_after.map_or(start, |bound| start.max(bound))
        };
        Ok(match (&query.source, client) {
            (SourceKind::Activities, SourceClient::Activities(client)) => {
                AnySource::Activities(ActivitiesSource::new(client, query, spools, resume_after)?)
            }
            (SourceKind::AuditQuery(options), SourceClient::Api(client)) => {
                // The audit log keeps 180 days by default; earlier asks are answered empty.
                let earliest = query.filter.end - chrono::TimeDelta::days(180);
                AnySource::AuditQuery(AuditQuerySource::new(
                    client,
                    sleeper,
                    options,
                    user,
                    start(earliest),
                    query.filter.end,
                ))
            }
            (SourceKind::Feed(options), SourceClient::Api(client)) => {
                // The feed keeps 7 days; a minute less, so the oldest window is not refused.
                let earliest =
                    query.filter.end - chrono::TimeDelta::days(7) + chrono::TimeDelta::minutes(1);
                let users = match &options.users {
                    FeedUsers::Listed(users) => users.clone(),
                    FeedUsers::EachMailbox => vec![user.to_string()],
                };
                AnySource::Feed(FeedSource::new(
                    client,
                    options,
                    users,
                    (start(earliest), query.filter.end),
                    spools,
                )?)
            }
            _ => return Err(mismatch()),
        })
    }

    pub fn pages(&self) -> u64 {
        match self {
            AnySource::Activities(source) => source.pages(),
            AnySource::AuditQuery(source) => source.pages(),
            AnySource::Feed(source) => source.pages(),
        }
    }

    /// The first request (`describe`: as `--dry-run` prints it; otherwise as the manifest
    /// records it).
    pub fn first_request(&self, describe: bool) -> String {
        match self {
            AnySource::Activities(source) => source.first_request(describe),
            AnySource::AuditQuery(source) => source.first_request(describe),
            AnySource::Feed(source) => source.first_request(describe),
        }
    }

    /// The filter as the manifest records it.
    pub fn filter_description(&self, query: &QueryConfig) -> String {
        let time = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        match self {
            AnySource::Activities(_) => query.filter.expression(None),
            AnySource::AuditQuery(source) => {
                let (start, end) = source.range();
                let mut text = format!(
                    "createdDateTime from {} to {} (exclusive)",
                    time(start),
                    time(end)
                );
                if let SourceKind::AuditQuery(options) = &query.source {
                    for (name, values) in [
                        ("operations", &options.operations),
                        ("record types", &options.record_types),
                    ] {
                        if !values.is_empty() {
                            text.push_str(&format!("; {name} {}", values.join(", ")));
                        }
                    }
                }
                text
            }
            AnySource::Feed(source) => {
                let (start, end) = source.range();
                let mut text = format!(
                    "blobs made available from {} to {} (records of any time inside them)",
                    time(start),
                    time(end)
                );
                if let SourceKind::Feed(options) = &query.source {
                    text.push_str(&format!(
                        "; content types {}",
                        options.content_types.join(", ")
                    ));
                    if !source.users().is_empty() {
                        text.push_str(&format!("; users {}", source.users().join(", ")));
                    }
                }
                text
            }
        }
    }

    /// How the source walks, as the manifest records it.
    pub fn paging_description(&self, query: &QueryConfig) -> String {
        match self {
            AnySource::Activities(_) => format!("{:?}", query.paging).to_lowercase(),
            AnySource::AuditQuery(_) => {
                "audit log queries, a range split in halves when over its record limit".into()
            }
            AnySource::Feed(_) => "content listings of at most 24 hours, each blob once".into(),
        }
    }

    /// What the manifest records of how the records were fetched beyond the counters: the
    /// audit log queries with their counts, or the blobs.
    pub fn log(&self) -> Option<serde_json::Value> {
        match self {
            AnySource::Activities(source) => Some(source.log()),
            AnySource::AuditQuery(source) => Some(serde_json::json!({ "queries": source.log() })),
            AnySource::Feed(source) => Some(source.log()),
        }
    }

    /// Called once the pull's files are complete: the feed remembers the blobs it fetched.
    pub fn completed(&mut self) -> Result<(), crate::output::OutputError> {
        match self {
            AnySource::Feed(source) => source.remember_fetched(),
            _ => Ok(()),
        }
    }

    /// Walks the source, handing records over to `emit` (see `ActivitiesSource::deliver`).
    pub async fn deliver(
        &mut self,
        reading: PageReading,
        partial: PartialHandover,
        interrupt: impl std::future::Future<Output = ()>,
        emit: &mut EmitWindow<'_>,
    ) -> Result<(), PagingError> {
        match self {
            AnySource::Activities(source) => {
                source.deliver(reading, partial, interrupt, emit).await
            }
            AnySource::AuditQuery(source) => {
                source.deliver(reading, partial, interrupt, emit).await
            }
            AnySource::Feed(source) => source.deliver(partial, interrupt, emit).await,
        }
    }
}
