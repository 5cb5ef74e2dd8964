//! One audit log query of a range, made, polled and paged: the query runner. Several run at
//! once (`walk.rs`); each borrows the walk's client and options only, and hands back what it
//! did (`QueryOutcome`) for the walk to record.
//!
//! Shapes: microsoft-graph-docs `security-auditlog-post-queries` (create: 201 with the query),
//! `security-auditlogquery-get` (poll), `security-auditlogquery-list-records` (pages of
//! `auditLogRecord` through `@odata.nextLink`) and `security-auditlogquery` (the counts).

use chrono::{DateTime, SecondsFormat, Utc};
use rustc_hash::FxHashSet;
use serde::Deserialize;

use super::plan::{OverLimit, SplitStrategy};
use super::{AuditQueryOptions, QueryLogEntry};
use crate::http::{ApiClient, ApiRequest, ReadFailure, Sleeper};
use crate::record::{read_page, Activity, PageReading};
use crate::source::error::ProtocolViolation;
use crate::source::paging::{LinkWalk, PagingError};

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

/// What one query's run did, and how it ended.
pub(super) struct QueryOutcome {
    pub log: Vec<QueryLogEntry>,
    pub pages: u64,
    /// `recordCountLimit`, as the service said it (what a case groups its mailboxes by).
    pub limit: Option<u64>,
    /// The error keeps the records fetched before it (for a partial result).
    pub result: Result<Ran, (PagingError, Vec<Activity>)>,
}

/// A query's outcome.
pub(super) enum Ran {
    /// The range's records (checked for their range, not yet de-duplicated or ordered).
    Records(Vec<Activity>),
    /// Over the record limit: what the planner needs to split it, and the records read of
    /// it (the sample: a group of mailboxes is split by whose they are).
    OverLimit(OverLimit, Vec<Activity>),
}

/// The queries and pages of one run, for the walk to record.
#[derive(Default)]
struct Tally {
    log: Vec<QueryLogEntry>,
    pages: u64,
    limit: Option<u64>,
}

/// Runs queries of ranges of one mailbox, or of a group of a case's mailboxes
/// (`userPrincipalNameFilters` is a list); shared by the queries running at once.
#[derive(Clone, Copy)]
pub(super) struct QueryRunner<'a> {
    pub client: &'a ApiClient,
    pub sleeper: &'a dyn Sleeper,
    pub options: &'a AuditQueryOptions,
    /// Whose records (`userPrincipalNameFilters`).
    pub users: &'a [String],
}

impl QueryRunner<'_> {
    pub fn queries_url(&self) -> String {
        format!(
            "{}/{}/security/auditLog/queries",
            self.client.options().base_url.trim_end_matches('/'),
            self.options.api_version
        )
    }

    /// The body of the query over `[start, end)`.
    pub fn query_body(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
        let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        let whose = match self.users {
            [one] => one.clone(),
            [first, rest @ ..] => format!("{first} and {} more", rest.len()),
            [] => String::new(),
        };
        let mut body = serde_json::json!({
            "@odata.type": "#microsoft.graph.security.auditLogQuery",
            "displayName": format!("o365-activities {whose} {}..{}", time(start), time(end)),
            "filterStartDateTime": time(start),
            "filterEndDateTime": time(end),
            "userPrincipalNameFilters": self.users,
        });
        if !self.options.operations.is_empty() {
            body["operationFilters"] = serde_json::json!(self.options.operations);
        }
        if !self.options.record_types.is_empty() {
            body["recordTypeFilters"] = serde_json::json!(self.options.record_types);
        }
        body.to_string()
    }

    /// Runs the query of `[start, end)` in split round `round`.
    pub async fn run(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        round: u32,
        reading: &PageReading,
    ) -> QueryOutcome {
        let mut tally = Tally::default();
        let mut fetched = Vec::new();
        let result = self
            .run_query(start, end, round, reading, &mut fetched, &mut tally)
            .await
            .map_err(|error| (error, fetched));
        QueryOutcome {
            log: tally.log,
            pages: tally.pages,
            limit: tally.limit,
            result,
        }
    }

    /// Queries `[start, end)` (again, as `QUERIES_PER_RANGE` says, when a query fails or
    /// falls short of its count), and pages its records into `fetched` (kept for a partial
    /// result if the range cannot be completed).
    async fn run_query(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        round: u32,
        reading: &PageReading,
        fetched: &mut Vec<Activity>,
        tally: &mut Tally,
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
            tally.limit = state.record_count_limit.or(tally.limit);
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
                round,
                mailboxes: self.users.to_vec(),
                parts: 0,
                sampled: 0,
                kept: None,
            };
            if state.status != "succeeded" {
                // `wait_for` returns a query once it is over: failed or cancelled.
                let status = crate::http::printable(&state.status);
                tally.log.push(entry);
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
                let mut sample = Vec::new();
                if self.options.split == SplitStrategy::Planned {
                    // What it returns is the sample the planner cuts by.
                    self.page_records(&url, &state, reading, fetched, tally)
                        .await?;
                    sample = fetched.iter().filter_map(|r| r.timestamp()).collect();
                    entry.sampled = fetched.len() as u64;
                }
                tally.log.push(entry);
                return Ok(over_limit(&state, sample, fetched));
            }
            let (received, keys) = self
                .page_records(&url, &state, reading, fetched, tally)
                .await?;
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
                entry.sampled = fetched.len() as u64;
                tally.log.push(entry);
                let sample = fetched.iter().filter_map(|r| r.timestamp()).collect();
                return Ok(over_limit(&state, sample, fetched));
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
                tally.log.push(entry);
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
            let mut records = std::mem::take(fetched);
            // The same record from two queries of the range is one (a record whose id comes
            // with other content is left to the walk's checks, which count it).
            let mut seen: FxHashSet<(Box<str>, Box<str>)> = FxHashSet::default();
            records.retain(|r| seen.insert((r.key().into(), r.raw_json().into())));
            entry.retrieved = records.len() as u64;
            tally.log.push(entry);
            return Ok(Ran::Records(records));
        }
    }

    /// Pages the records of a query that has succeeded into `fetched`, along its
    /// `@odata.nextLink`s through the shared `LinkWalk`: the records received, and the keys of
    /// the distinct ones.
    async fn page_records(
        &self,
        url: &str,
        state: &QueryState,
        reading: &PageReading,
        fetched: &mut Vec<Activity>,
        tally: &mut Tally,
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
            tally.pages += 1;
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
        // On the pull's clock (`crate::clock`): a test's virtual time meets the bound too.
        let started = self.sleeper.now();
        let query_url = format!("{url}/{}", path_segment(&state.id));
        let shown = |text: &str| crate::http::printable(text);
        loop {
            if matches!(state.status.as_str(), "succeeded" | "failed" | "cancelled") {
                return Ok(state);
            }
            let elapsed = (self.sleeper.now() - started).to_std().unwrap_or_default();
            if elapsed >= self.options.query_timeout {
                return Err(PagingError::QueryTimedOut {
                    query_id: shown(&state.id),
                    status: shown(&state.status),
                    seconds: self.options.query_timeout.as_secs(),
                });
            }
            self.sleeper.sleep(self.options.poll_interval).await;
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
}

/// A query over its limit: its counts, the times the planner cuts by, and the records read
/// of it (taken out of `fetched`: they are not kept).
fn over_limit(state: &QueryState, sample: Vec<DateTime<Utc>>, fetched: &mut Vec<Activity>) -> Ran {
    Ran::OverLimit(
        OverLimit {
            sample,
            expected: state.approximate_returned_record_count,
            limit: state.record_count_limit,
        },
        std::mem::take(fetched),
    )
}

/// A query id as one path segment: whatever the service sends, it stays one.
fn path_segment(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}
