//! Microsoft Graph audit log queries as a source (the Unified Audit Log, about 180 days back).
//!
//! Shapes follow microsoft-graph-docs `security-auditlogquery` (v1.0: `status`,
//! `recordCountLimit`, `isRecordCountLimitExceeded`, `approximateReturnedRecordCount`),
//! `security-auditlog-post-queries` (create: 201 with the query), `security-auditlogquery-get`
//! and `security-auditlogquery-list-records` (pages of `auditLogRecord` through
//! `@odata.nextLink`). How long a query takes and the size of the record limit are not
//! documented; the walk does not depend on either.
//!
//! The range is walked in time order, one query a range. A query that reports its record
//! limit exceeded is not paged (its records would be a silent sample): its range is split in
//! halves and each half queried, down to `min_split`; a range still over the limit at that
//! width stops the pull with what is missing named. A query that ends `failed` or `cancelled`,
//! or returns fewer records than it counted, is made again, a bounded number of times
//! (`QUERIES_PER_RANGE`), then stops the pull naming it and its range (a shortfall keeps what
//! came, as an incomplete pull). Each finished range hands over its records, checked and
//! de-duplicated on `id` (`RecordChecks`) and sorted by (`createdDateTime`, `id`), then a
//! durable point at its end, where a case checkpoints. Pages are followed through the shared
//! `LinkWalk`.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};

use crate::http::{ApiClient, ApiRequest, ReadFailure, Sleeper};
use crate::record::{read_page, sort_in_time_order, Activity, PageReading, RecordChecks};
use crate::source::error::ProtocolViolation;
use crate::source::paging::{EmitWindow, Handover, LinkWalk, PagingError, PartialHandover};

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
    /// The query was over its record limit: its range was split and queried again in halves.
    pub split: bool,
    /// Records the service returned from outside the range: not kept (their own range's
    /// query returns them).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub outside_range: u64,
    /// The query returned fewer records (`retrieved`) than it counted (`expected`): the range
    /// was queried again, or the pull stopped incomplete.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub short: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The query resource, as far as it is read (`security-auditlogquery`: `id` and `status` are
/// always there; an answer without them is not understood).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryState {
    id: String,
    /// `notStarted`, `running`, `succeeded`, `failed`, `cancelled`, `unknownFutureValue`.
    status: String,
    #[serde(default)]
    is_record_count_limit_exceeded: Option<bool>,
    #[serde(default, deserialize_with = "int64")]
    record_count_limit: Option<u64>,
    #[serde(default, deserialize_with = "int64")]
    approximate_returned_record_count: Option<u64>,
}

/// An OData `Int64`: a JSON number, or a string of digits (how OData JSON writes an Int64 for
/// a client that asks for `IEEE754Compatible=true`, OData JSON Format 4.01 section 3.2).
fn int64<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int64 {
        Number(u64),
        Text(String),
    }
    match Option::<Int64>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Int64::Number(n)) => Ok(Some(n)),
        Some(Int64::Text(text)) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{text:?} is not an Int64 count"))),
    }
}

/// Reads a query resource: the object itself (`security-auditlog-post-queries`), or the object
/// wrapped in `value`, as Microsoft's own example of Get auditLogQuery answers
/// (`api-reference/v1.0/api/security-auditlogquery-get.md`). A body cut off or garbled is
/// retried; whole JSON of another shape (no `id`, no `status`) fails at once, saying so.
fn read_query(answer: crate::http::Answer) -> Result<QueryState, ReadFailure> {
    let what = "the answer is not an audit log query (security-auditlogquery)";
    let mut value: serde_json::Value =
        serde_json::from_slice(&answer.body).map_err(|e| ReadFailure::of_json(&e, what))?;
    let wrapped = value.get("id").is_none() && value.get("value").is_some_and(|v| v.is_object());
    if wrapped {
        value = value["value"].take();
    }
    serde_json::from_value(value).map_err(|e| ReadFailure::NotUnderstood(format!("{what}: {e}")))
}

/// Queries made of one range before the pull gives it up: a query that ended `failed` or
/// `cancelled`, or returned fewer records than it counted (`approximateReturnedRecordCount`:
/// its records page lost a `@odata.nextLink`, say), is made again as a new query, since
/// neither is said to last (Microsoft documents no reason for either) and a new query costs
/// one more wait of minutes, where giving up costs the range's records. Three, so a blip is
/// ridden out and a range that keeps failing stops the pull in bounded time, naming it.
const QUERIES_PER_RANGE: u32 = 3;

/// One mailbox's audit log records through Graph audit log queries.
pub struct AuditQuerySource<'a> {
    client: &'a ApiClient,
    sleeper: &'a dyn Sleeper,
    options: &'a AuditQueryOptions,
    user: &'a str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    log: Vec<QueryLogEntry>,
    /// The records kept, checked as every source's are (an id, a time, one content an id).
    checks: RecordChecks,
    pages: u64,
}

/// A query's outcome.
enum Ran {
    Records(Vec<Activity>),
    OverLimit,
}

impl<'a> AuditQuerySource<'a> {
    pub fn new(
        client: &'a ApiClient,
        sleeper: &'a dyn Sleeper,
        options: &'a AuditQueryOptions,
        user: &'a str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Self {
        AuditQuerySource {
            client,
            sleeper,
            options,
            user,
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

    /// What the record checks found, for the manifest.
    pub fn record_checks(&self) -> serde_json::Value {
        self.checks.to_json()
    }

    fn queries_url(&self) -> String {
        format!(
            "{}/{}/security/auditLog/queries",
            self.client.options().base_url.trim_end_matches('/'),
            self.options.api_version
        )
    }

    /// The body of the query over `[start, end)`.
    fn query_body(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
        let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut body = serde_json::json!({
            "@odata.type": "#microsoft.graph.security.auditLogQuery",
            "displayName": format!("o365-activities {} {}..{}", self.user, time(start), time(end)),
            "filterStartDateTime": time(start),
            "filterEndDateTime": time(end),
            "userPrincipalNameFilters": [self.user],
        });
        if !self.options.operations.is_empty() {
            body["operationFilters"] = serde_json::json!(self.options.operations);
        }
        if !self.options.record_types.is_empty() {
            body["recordTypeFilters"] = serde_json::json!(self.options.record_types);
        }
        body.to_string()
    }

    /// The first request, as `--dry-run` prints it (`describe`) or the manifest records it.
    pub fn first_request(&self, describe: bool) -> String {
        let request = format!(
            "POST {}\n{}\n",
            self.queries_url(),
            self.query_body(self.start, self.end)
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
        // A resumed case whose range was all written has nothing left to ask for.
        let mut ranges = VecDeque::new();
        if self.start < self.end {
            ranges.push_back((self.start, self.end));
        }
        let delivered = self
            .deliver_ranges(ranges, reading, partial, interrupt, emit)
            .await;
        self.checks.warn_summary("audit log records");
        delivered
    }

    async fn deliver_ranges(
        &mut self,
        mut ranges: VecDeque<(DateTime<Utc>, DateTime<Utc>)>,
        reading: PageReading,
        partial: PartialHandover,
        mut interrupt: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
        emit: &mut EmitWindow<'_>,
    ) -> Result<(), PagingError> {
        while let Some((start, end)) = ranges.pop_front() {
            let mut fetched = Vec::new();
            let ran = tokio::select! {
                biased;
                _ = interrupt.as_mut() => Err(PagingError::Interrupted),
                ran = self.run_query(start, end, &reading, &mut fetched) => ran,
            };
            match ran {
                Ok(Ran::Records(records)) => {
                    if !records.is_empty() {
                        emit(Handover::Records(records))?;
                    }
                    emit(Handover::Finished(Some(end)))?;
                }
                Ok(Ran::OverLimit) => {
                    let middle = start + (end - start) / 2;
                    if end - start
                        <= chrono::Duration::from_std(self.options.min_split).unwrap_or_default()
                        || middle <= start
                    {
                        return Err(PagingError::OverLimitAtNarrowest {
                            start: start.to_string(),
                            end: end.to_string(),
                        });
                    }
                    ranges.push_front((middle, end));
                    ranges.push_front((start, middle));
                }
                Err(error) => {
                    if partial == PartialHandover::Everything && !fetched.is_empty() {
                        emit(Handover::Records(self.final_order(fetched)))?;
                    }
                    return Err(error);
                }
            }
        }
        emit(Handover::Finished(None))
    }

    /// Queries `[start, end)` (again, as `QUERIES_PER_RANGE` says, when a query fails or
    /// falls short of its count), and pages its records into `fetched` (kept for a partial
    /// result if the range cannot be completed).
    async fn run_query(
        &mut self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        reading: &PageReading,
        fetched: &mut Vec<Activity>,
    ) -> Result<Ran, PagingError> {
        let url = self.queries_url();
        let body = self.query_body(start, end);
        let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        // The records of every query of this range: a later query may return what an earlier
        // one missed.
        let mut range_keys: FxHashSet<Box<str>> = FxHashSet::default();
        let mut queries = 0;
        loop {
            queries += 1;
            let last = queries == QUERIES_PER_RANGE;
            let request = ApiRequest {
                method: reqwest::Method::POST,
                json: Some(&body),
                ..ApiRequest::get(&url)
            };
            let created = self.client.send(&request, read_query).await?;
            let state = self.wait_for(&url, created).await?;
            let shown_id = crate::http::printable(&state.id);
            let mut entry = QueryLogEntry {
                query_id: state.id.clone(),
                start: time(start),
                end: time(end),
                status: state.status.clone(),
                expected: state.approximate_returned_record_count,
                retrieved: 0,
                split: false,
                outside_range: 0,
                short: false,
            };
            if state.status != "succeeded" {
                // `wait_for` returns a query once it is over: failed or cancelled.
                let status = crate::http::printable(&state.status);
                self.log.push(entry);
                if last {
                    return Err(PagingError::QueryFailed {
                        query_id: shown_id,
                        status,
                        start: time(start),
                        end: time(end),
                        queries,
                    });
                }
                tracing::warn!(
                    "audit log query {shown_id} ({}..{}) ended {status}: making a new query of \
                     that range ({}/{QUERIES_PER_RANGE})",
                    time(start),
                    time(end),
                    queries + 1
                );
                // A poll's wait first, so a busy service is not asked again at once.
                self.sleeper.sleep(self.options.poll_interval).await;
                continue;
            }
            if state.is_record_count_limit_exceeded == Some(true) {
                tracing::warn!(
                    "audit log query {shown_id} ({}..{}) is over its record limit: splitting the \
                     range",
                    entry.start,
                    entry.end
                );
                entry.split = true;
                self.log.push(entry);
                fetched.clear();
                return Ok(Ran::OverLimit);
            }
            let (received, keys) = self.page_records(&url, &state, reading, fetched).await?;
            // A service that does not say whether it was over the limit (beta does not
            // document the flag), but stops at the limit, may not have said everything.
            if state.is_record_count_limit_exceeded.is_none()
                && state
                    .record_count_limit
                    .is_some_and(|limit| limit > 0 && received >= limit)
            {
                tracing::warn!(
                    "audit log query {shown_id} returned its whole record limit: splitting the \
                     range"
                );
                entry.split = true;
                self.log.push(entry);
                fetched.clear();
                return Ok(Ran::OverLimit);
            }
            let returned = keys.len() as u64;
            range_keys.extend(keys);
            // Fewer records than the service counted: a page (its `@odata.nextLink`) was lost,
            // and a walk that simply ends looks complete. The count is "approximate"
            // (`security-auditlogquery`: "can be higher or lower than recordCountLimit due to
            // distributed counting"), so only a shortfall is acted on, never a surplus.
            if let Some(expected) = state
                .approximate_returned_record_count
                .filter(|&expected| (range_keys.len() as u64) < expected)
            {
                entry.retrieved = returned;
                entry.short = true;
                self.log.push(entry);
                if last {
                    // The partial result holds the range's own records only.
                    fetched
                        .retain(|record| record.timestamp().is_none_or(|t| t >= start && t < end));
                    return Err(PagingError::Shortfall {
                        query_id: shown_id,
                        start: time(start),
                        end: time(end),
                        expected,
                        retrieved: range_keys.len() as u64,
                        queries,
                    });
                }
                tracing::warn!(
                    "audit log query {shown_id} ({}..{}) returned {returned} of the {expected} \
                     records it counted: making a new query of that range \
                     ({}/{QUERIES_PER_RANGE})",
                    time(start),
                    time(end),
                    queries + 1
                );
                // A poll's wait first, so a busy service is not asked again at once.
                self.sleeper.sleep(self.options.poll_interval).await;
                continue;
            }
            // A record outside the range asked for belongs to another range's query: kept here
            // it could stand before a durable point it is not behind, and be written twice by a
            // resumed case.
            let before = fetched.len();
            fetched.retain(|record| record.timestamp().is_none_or(|t| t >= start && t < end));
            entry.outside_range = (before - fetched.len()) as u64;
            if entry.outside_range > 0 {
                tracing::warn!(
                    "audit log query {shown_id} returned {} records outside {}..{}: left to the \
                     query of their own range",
                    entry.outside_range,
                    entry.start,
                    entry.end
                );
            }
            let records = self.final_order(std::mem::take(fetched));
            entry.retrieved = records.len() as u64;
            self.log.push(entry);
            return Ok(Ran::Records(records));
        }
    }

    /// Pages the records of a query that has succeeded into `fetched`, along its
    /// `@odata.nextLink`s through the shared `LinkWalk`: the records received, and the keys of
    /// the distinct ones.
    async fn page_records(
        &mut self,
        url: &str,
        state: &QueryState,
        reading: &PageReading,
        fetched: &mut Vec<Activity>,
    ) -> Result<(u64, FxHashSet<Box<str>>), PagingError> {
        let first = format!("{url}/{}/records", path_segment(&state.id));
        let mut walk = LinkWalk::new(&first, "@odata.nextLink");
        let mut keys: FxHashSet<Box<str>> = FxHashSet::default();
        let mut received = 0;
        loop {
            let page = self
                .client
                .send(&ApiRequest::get(walk.current()), |answer| {
                    read_page(answer.body, reading).map_err(|e| ReadFailure::Retry(e.to_string()))
                })
                .await?;
            self.pages += 1;
            received += page.records.len() as u64;
            let added = page
                .records
                .iter()
                .filter(|record| keys.insert(record.key().into()))
                .count();
            fetched.extend(page.records);
            walk.page_read(added, page.next_link.as_deref())?;
            match page.next_link {
                Some(next) => walk.follow(self.client, &next)?,
                None => return Ok((received, keys)),
            }
        }
    }

    /// Polls the query until it is over (`succeeded`, `failed` or `cancelled`); one still
    /// running after `query_timeout` stops the pull.
    async fn wait_for(&self, url: &str, mut state: QueryState) -> Result<QueryState, PagingError> {
        let started = tokio::time::Instant::now();
        // The waits asked of the sleeper count too, so a test's sleeper that does not sleep
        // still meets the bound.
        let mut waited = Duration::ZERO;
        let query_url = format!("{url}/{}", path_segment(&state.id));
        let shown = |text: &str| crate::http::printable(text);
        loop {
            if matches!(state.status.as_str(), "succeeded" | "failed" | "cancelled") {
                return Ok(state);
            }
            if started.elapsed().max(waited) >= self.options.query_timeout {
                return Err(PagingError::QueryTimedOut {
                    query_id: shown(&state.id),
                    status: shown(&state.status),
                    seconds: self.options.query_timeout.as_secs(),
                });
            }
            self.sleeper.sleep(self.options.poll_interval).await;
            waited += self.options.poll_interval;
            let polled = self
                .client
                .send(&ApiRequest::get(&query_url), read_query)
                .await?;
            if polled.id != state.id {
                return Err(PagingError::Protocol(ProtocolViolation::WrongResource {
                    what: "audit log query",
                    asked: shown(&state.id),
                    answered: format!("query {}", shown(&polled.id)),
                }));
            }
            state = polled;
        }
    }

    /// De-duplicated on `id` (across every range of this pull) and sorted by time, then id.
    fn final_order(&mut self, mut records: Vec<Activity>) -> Vec<Activity> {
        records.retain(|record| self.checks.admit(record, "audit log records"));
        sort_in_time_order(&mut records);
        records
    }
}

/// A query id as one path segment: whatever the service sends, it stays one.
fn path_segment(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
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
    // Each finished query range is a durable point.
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
    default_endpoint: "https://graph.microsoft.com",
    permissions: "the app needs the AuditLogsQuery.Read.All application permission \
     (or AuditLogsQuery-Exchange.Read.All and kin) with admin consent, or a signed-in analyst \
     with an audit role",
    // The audit log keeps 180 days by default; earlier asks are answered empty.
    retention_days: Some(180),
    walk: "audit log queries, a range split in halves when over its record limit",
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
    };
    Ok(super::Configured {
        spec: std::sync::Arc::new(spec),
        url: super::descriptor::checked_url("--graph-url", &graph.graph_url)?,
        api_version: version.to_string(),
        label: user.to_string(),
    })
}

impl super::SourceSpec for AuditQueryOptions {
    fn descriptor(&self) -> &'static super::SourceDescriptor {
        &AUDIT_QUERY
    }

    fn open<'a>(
        &'a self,
        walk: super::Walk<'a>,
    ) -> Result<Box<dyn super::Source + 'a>, PagingError> {
        let end = walk.query.filter.end;
        let earliest = end - chrono::TimeDelta::days(AUDIT_QUERY.retention_days.unwrap_or(180));
        Ok(Box::new(AuditQuerySource::new(
            walk.api_client()?,
            walk.sleeper,
            self,
            walk.user,
            walk.start(earliest),
            end,
        )))
    }

    fn filters(&self) -> Vec<String> {
        [self.operations.clone(), self.record_types.clone()].concat()
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
        Some(serde_json::json!({
            "queries": AuditQuerySource::log(self),
            "record_checks": self.record_checks(),
        }))
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
