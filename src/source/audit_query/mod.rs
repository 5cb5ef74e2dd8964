//! Microsoft Graph audit log queries as a source (the Unified Audit Log, about 180 days back).
//!
//! Shapes follow microsoft-graph-docs `security-auditlogquery` (v1.0: `status`,
//! `recordCountLimit`, `isRecordCountLimitExceeded`, `approximateReturnedRecordCount`),
//! `security-auditlog-post-queries` (create: 201 with the query), `security-auditlogquery-get`
//! and `security-auditlogquery-list-records` (pages of `auditLogRecord` through
//! `@odata.nextLink`). How long a query takes and the size of the record limit are not
//! documented; the walk does not depend on either.
//!
//! A query is a server-side job of minutes, so queries that do not depend on each other run
//! at once, up to `--query-concurrency` (`walk.rs`); each is made, polled and paged by the
//! query runner (`query.rs`). A query that reports its record limit exceeded is not kept (its
//! records would be a silent sample): its range is cut by the planner (`plan.rs`) at the
//! time quantiles of the records it returned, into as many parts as its count says, with a
//! safety margin, and each part queried in the next round; a part still over the limit is cut
//! again, down to `min_split`, and a range still over the limit at that width stops the pull
//! with what is missing named. A query that ends `failed` or `cancelled`, or returns fewer
//! records than it counted, is made again, a bounded number of times (`QUERIES_PER_RANGE`),
//! then stops the pull naming it and its range (a shortfall keeps what came, as an
//! incomplete pull). Each finished range at the head of the walk hands over its records,
//! checked and de-duplicated on `id` (`RecordChecks`) and sorted by (`createdDateTime`,
//! `id`), then a durable point at its end, where a case checkpoints. Pages are followed
//! through the shared `LinkWalk`. A case asks for several mailboxes per query (`group.rs`),
//! each mailbox's walk taking its own records of them.

mod group;
mod plan;
mod query;
mod walk;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use group::{MailboxGroups, GROUP_FILL, MAILBOXES_PER_QUERY};
pub use plan::SplitStrategy;
use query::QueryRunner;

use crate::http::{ApiClient, Sleeper};
use crate::record::{PageReading, RecordChecks};
use crate::source::paging::{EmitWindow, PagingError, PartialHandover};

/// What to ask the audit log for, beyond the time range.
#[derive(Debug, Clone)]
pub struct AuditQueryOptions {
    /// `v1.0` or `beta`.
    pub api_version: String,
    pub operations: Vec<String>,
    pub record_types: Vec<String>,
    /// Between two polls of a running query.
    pub poll_interval: Duration,
    /// How long one query may take before the pull stops (with what it has).
    pub query_timeout: Duration,
    /// The narrowest range a query over its limit is split down to.
    pub min_split: Duration,
    /// Queries of one mailbox running at once.
    pub query_concurrency: usize,
    /// How a range over its record limit is split.
    pub split: SplitStrategy,
    /// A case's slots for running queries, shared by its mailboxes (`for_case`), so the
    /// case as a whole runs at most `query_concurrency` at once; `None` for a pull.
    pub case_slots: Option<std::sync::Arc<tokio::sync::Semaphore>>,
    /// The mailboxes one query of a case may name (`userPrincipalNameFilters`); 1: each
    /// mailbox its own queries.
    pub mailboxes_per_query: usize,
    /// A case's grouping of its mailboxes into queries (`for_case`); `None` for a pull.
    pub groups: Option<std::sync::Arc<MailboxGroups>>,
}

/// One query as the manifest records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueryLogEntry {
    pub query_id: String,
    pub start: String,
    pub end: String,
    pub status: String,
    /// `approximateReturnedRecordCount`, as the service counted it.
    pub expected: Option<u64>,
    /// Records received (after de-duplication on `id`); none for a split range.
    pub retrieved: u64,
    /// The query was over its record limit: its range was split and queried again in parts.
    pub split: bool,
    /// The split round the query ran in: 1 for the whole range, one more for each split.
    #[serde(default)]
    pub round: u32,
    /// The mailboxes it asked for (`userPrincipalNameFilters`).
    #[serde(default)]
    pub mailboxes: Vec<String>,
    /// Over its limit: the parts its range was cut into.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub parts: u32,
    /// Over its limit: the records read of it, as the planner's sample (not kept).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sampled: u64,
    /// Records the service returned from outside the range: not kept (their own range's
    /// query returns them).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub outside_range: u64,
    /// The query returned fewer records (`retrieved`) than it counted (`expected`): the range
    /// was queried again, or the pull stopped incomplete.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub short: bool,
    /// A query of several mailboxes (a case's group): the records of the mailbox whose log
    /// this is, of the `retrieved` of them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<u64>,
}

/// What the manifest records of an audit log pull (`source_log`): the plan as it ran, each
/// query with its range, mailboxes, status, counts and round, and the record checks. Written
/// and read as this type (`Manifest::source_log_as`); a manifest of an earlier version, whose
/// entries lack the later fields, reads with their defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AuditQueryLog {
    pub queries: Vec<QueryLogEntry>,
    #[serde(default)]
    pub record_checks: crate::record::RecordCheckCounts,
}

/// A slot of the case's running queries, when its mailboxes share them (held while a query
/// runs); none for a pull.
async fn case_slot(
    slots: Option<&std::sync::Arc<tokio::sync::Semaphore>>,
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    match slots {
        Some(slots) => std::sync::Arc::clone(slots).acquire_owned().await.ok(),
        None => None,
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// One mailbox's audit log records through Graph audit log queries.
pub struct AuditQuerySource<'a> {
    client: &'a ApiClient,
    sleeper: &'a dyn Sleeper,
    options: &'a AuditQueryOptions,
    /// The mailbox, as `userPrincipalNameFilters` names it.
    users: Vec<String>,
    /// The start of the range before a checkpoint's bound: the case's, which its groups ask
    /// for.
    unresumed_start: DateTime<Utc>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    log: Vec<QueryLogEntry>,
    /// The records kept, checked as every source's are (an id, a time, one content an id).
    checks: RecordChecks,
    pages: u64,
}

impl<'a> AuditQuerySource<'a> {
    pub fn new(
        client: &'a ApiClient,
        sleeper: &'a dyn Sleeper,
        options: &'a AuditQueryOptions,
        user: &'a str,
        (unresumed_start, start): (DateTime<Utc>, DateTime<Utc>),
        end: DateTime<Utc>,
    ) -> Self {
        AuditQuerySource {
            client,
            sleeper,
            options,
            users: vec![user.to_string()],
            unresumed_start,
            start,
            end,
            log: Vec::new(),
            checks: RecordChecks::default(),
            pages: 0,
        }
    }

    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// The range walked: its start, and its end (exclusive).
    pub fn range(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (self.start, self.end)
    }

    /// The queries run, for the manifest.
    pub fn log(&self) -> &[QueryLogEntry] {
        &self.log
    }

    /// The plan as it ran and the record checks, for the manifest.
    pub fn query_log(&self) -> AuditQueryLog {
        AuditQueryLog {
            queries: self.log.clone(),
            record_checks: self.checks.counts().clone(),
        }
    }

    fn runner(&self) -> QueryRunner<'_> {
        QueryRunner {
            client: self.client,
            sleeper: self.sleeper,
            options: self.options,
            users: &self.users,
        }
    }

    /// The first request, as `--dry-run` prints it (`describe`) or the manifest records it.
    pub fn first_request(&self, describe: bool) -> String {
        let runner = self.runner();
        let request = format!(
            "POST {}\n{}\n",
            runner.queries_url(),
            runner.query_body(self.start, self.end)
        );
        if !describe {
            return request.trim_end().to_string();
        }
        format!(
            "{request}Authorization: {}\nThen GET .../queries/{{id}} until it has succeeded, and \
             its records through @odata.nextLink.\n",
            self.client.options().credentials.redacted()
        )
    }

    /// Walks the range as the module says, handing records over to `emit`.
    pub async fn deliver(
        &mut self,
        reading: PageReading,
        partial: PartialHandover,
        interrupt: impl std::future::Future<Output = ()>,
        emit: &mut EmitWindow<'_>,
    ) -> Result<(), PagingError> {
        let interrupt = std::pin::pin!(interrupt);
        let delivered = self.walk(reading, partial, interrupt, emit).await;
        // The plan as it ran: round by round, each in time order.
        self.log
            .sort_by(|a, b| (a.round, &a.start).cmp(&(b.round, &b.start)));
        self.checks.warn_summary("audit log records");
        delivered
    }
}

/// Microsoft Graph audit log queries (`POST /security/auditLog/queries`, then
/// `GET .../queries/{id}` and `.../records`): microsoft-graph-docs-contrib
/// `api-reference/v1.0/api/security-auditcoreroot-post-auditlogqueries.md` and
/// `security-auditlogquery-get.md`.
pub static AUDIT_QUERY: super::SourceDescriptor = super::SourceDescriptor {
    name: "audit",
    summary: "Microsoft Graph audit log queries (the Unified Audit Log, about 180 days)",
    noun: "audit log records",
    record_shape: crate::output::RecordShape::AUDIT_LOG,
    // Each finished query range with none unfinished before it is a durable point.
    resume: super::Resume::FromDurablePoint,
    reads: &[
        super::FlagGroup::AuditQuery,
        super::FlagGroup::Graph,
        super::FlagGroup::SignIn,
    ],
    client: super::ClientKind::Api {
        resource: "https://graph.microsoft.com",
    },
    endpoint_flag: "--graph-url",
    permissions: "the app needs the AuditLogsQuery.Read.All application permission \
     (or AuditLogsQuery-Exchange.Read.All and kin) with admin consent, or a signed-in analyst \
     with an audit role",
    // The audit log keeps 180 days by default; earlier asks are answered empty.
    retention_days: Some(180),
    walk: "audit log queries run at once, a range over its record limit split at the times \
     of the records it returned",
    configure: configure_audit_query,
};

fn configure_audit_query(request: &super::SourceRequest<'_>) -> Result<super::Configured, String> {
    let user = request.one_user(AUDIT_QUERY.name)?;
    if user.eq_ignore_ascii_case("me") || !user.contains('@') {
        return Err(format!(
            "--user {user:?}: the audit log is queried by user principal name; give the \
             mailbox's UPN, such as victim@contoso.com"
        ));
    }
    let args = &request.args.audit;
    if args.poll_interval.is_nan() || !(0.0..=3600.0).contains(&args.poll_interval) {
        return Err("--poll-interval must be between 0 and 3600 seconds".into());
    }
    let graph = &request.args.graph;
    let version = graph
        .graph_version
        .unwrap_or(super::GraphVersion::V1)
        .as_str();
    let spec = AuditQueryOptions {
        api_version: version.to_string(),
        operations: super::descriptor::non_empty("--operations", &args.operations)?,
        record_types: super::descriptor::non_empty("--record-types", &args.record_types)?,
        poll_interval: Duration::from_secs_f64(args.poll_interval),
        query_timeout: Duration::from_secs(args.query_timeout),
        min_split: Duration::from_secs(args.min_split),
        query_concurrency: args.query_concurrency as usize,
        split: SplitStrategy::Planned,
        case_slots: None,
        mailboxes_per_query: MAILBOXES_PER_QUERY,
        groups: None,
    };
    Ok(super::Configured {
        spec: std::sync::Arc::new(spec),
        url: super::descriptor::checked_url("--graph-url", &graph.graph_url)?,
        api_version: version.to_string(),
        label: user.to_string(),
    })
}

impl super::SourceSpec for AuditQueryOptions {
    fn case_filter(&self, filter: &crate::odata::ActivityFilter) -> String {
        super::range_in_words("createdDateTime", filter)
    }

    fn descriptor(&self) -> &'static super::SourceDescriptor {
        &AUDIT_QUERY
    }

    fn open<'a>(
        &'a self,
        walk: super::Walk<'a>,
    ) -> Result<Box<dyn super::Source + 'a>, PagingError> {
        let end = walk.query.filter.end;
        let earliest = end - chrono::TimeDelta::days(AUDIT_QUERY.retention_days.unwrap_or(180));
        let unresumed = walk.query.filter.start.unwrap_or(earliest);
        Ok(Box::new(AuditQuerySource::new(
            walk.api_client()?,
            walk.sleeper,
            self,
            walk.user,
            (unresumed, walk.start(earliest)),
            end,
        )))
    }

    fn filters(&self) -> Vec<String> {
        [self.operations.clone(), self.record_types.clone()].concat()
    }

    fn for_case(&self, _shared: &std::path::Path) -> Option<std::sync::Arc<dyn super::SourceSpec>> {
        // The service limits the queries running at once per account, not per mailbox: a
        // case's mailboxes share `--query-concurrency` between them, and are asked for
        // several to a query (`group.rs`).
        Some(std::sync::Arc::new(AuditQueryOptions {
            case_slots: Some(std::sync::Arc::new(tokio::sync::Semaphore::new(
                self.query_concurrency.max(1),
            ))),
            groups: (self.mailboxes_per_query > 1)
                .then(|| std::sync::Arc::new(MailboxGroups::new(self.mailboxes_per_query))),
            ..self.clone()
        }))
    }

    fn case_mailboxes(&self, pending: &[String]) {
        if let Some(groups) = &self.groups {
            groups.set_pending(pending);
        }
    }
}

impl super::Source for AuditQuerySource<'_> {
    fn pages(&self) -> u64 {
        AuditQuerySource::pages(self)
    }

    fn first_request(&self, describe: bool) -> String {
        AuditQuerySource::first_request(self, describe)
    }

    fn filter_description(&self) -> String {
        let (start, end) = self.range();
        let mut text = format!(
            "createdDateTime from {} to {} (exclusive)",
            super::manifest_time(start),
            super::manifest_time(end)
        );
        for (name, values) in [
            ("operations", &self.options.operations),
            ("record types", &self.options.record_types),
        ] {
            if !values.is_empty() {
                text.push_str(&format!("; {name} {}", values.join(", ")));
            }
        }
        text
    }

    fn walk_description(&self) -> String {
        AUDIT_QUERY.walk.into()
    }

    fn log(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self.query_log()).ok()
    }

    fn deliver<'s>(
        &'s mut self,
        reading: PageReading,
        partial: PartialHandover,
        interrupt: super::Interrupt<'s>,
        emit: &'s mut EmitWindow<'_>,
    ) -> futures::future::BoxFuture<'s, Result<(), PagingError>> {
        Box::pin(AuditQuerySource::deliver(
            self, reading, partial, interrupt, emit,
        ))
    }
}
