//! Graph audit log queries, as microsoft-graph-docs describes them: `security-auditlogquery`
//! (the resource; v1.0 adds `recordCountLimit`, `isRecordCountLimitExceeded`,
//! `approximateReturnedRecordCount`), `security-auditlog-post-queries` (201 with the new query,
//! `notStarted`), `security-auditlogquery-get` (answered as its example shows, the query
//! wrapped in `value`), `security-auditlogquery-list-records` (pages
//! of `auditLogRecord` with `@odata.nextLink`) and `security-auditlogrecord` (its properties).
//!
//! `userPrincipalNameFilters` is a list, "the UPN (user principal name) of the user who
//! performed the action (specified in the operation property) that resulted in the record being
//! logged" (`api-reference/beta/resources/security-auditlogquery.md`, and the request body of
//! `api-reference/beta/api/security-auditcoreroot-post-auditlogqueries.md`): a record matches
//! when its performer, the UAL record's `UserId`, is any of them (whatever mailbox it acted on:
//! a delegate's access to another's mailbox is the delegate's).
//!
//! Inferred, as no document says: queries succeed after `query_polls` polls and, when set,
//! `query_duration` after their creation (real ones take minutes; a benchmark emulates that in
//! seconds); the range is `filterStartDateTime` inclusive to `filterEndDateTime` exclusive;
//! over the record limit a query still succeeds, flagged, with `record_limit` of its records
//! picked evenly across the range in time order (a sample, what peers page without noticing);
//! paging uses `$skiptoken`.
//!
//! The limit on queries running at once (`max_running_queries`): Microsoft Graph's
//! service-specific throttling-limits page (microsoft-graph-docs-contrib
//! `concepts/throttling-limits.md`, as stored here) has no section for audit log queries, and
//! no daily figure was found for them. Microsoft Purview's "Search the audit log"
//! (learn.microsoft.com/purview/audit-search) documents the search jobs behind them: "Each
//! admin Audit account user can have up to 10 search jobs running at the same time, with a
//! limit of one unfiltered search job". Over the limit the mock answers 429 with a
//! `Retry-After` of the seconds until the first running query ends (at least 1), as Graph
//! answers throttling (`concepts/throttling.md`: 429 with `Retry-After`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use std::sync::atomic::Ordering;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::{creation_time, graph_error, json_response, AuditService, GRAPH_AUDIENCE};

pub(super) struct Query {
    id: String,
    body: Value,
    polls: u32,
    created: std::time::Instant,
    matched: Vec<Arc<Value>>,
    exceeded: bool,
    approximate: usize,
}

/// The filters of a query body.
struct Filters {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    users: Vec<String>,
    operations: Vec<String>,
    record_types: Vec<String>,
}

fn strings(body: &Value, name: &str) -> Vec<String> {
    body[name]
        .as_array()
        .map(|values| {
            values
                .iter()
                .filter_map(|v| v.as_str())
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default()
}

fn filters(body: &Value) -> Result<Filters, String> {
    let time = |name: &str| {
        body[name]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| format!("{name} is required, as an ISO 8601 date and time"))
    };
    let (start, end) = (time("filterStartDateTime")?, time("filterEndDateTime")?);
    if start >= end {
        return Err("filterStartDateTime must be before filterEndDateTime".into());
    }
    Ok(Filters {
        start,
        end,
        users: strings(body, "userPrincipalNameFilters"),
        operations: strings(body, "operationFilters"),
        record_types: strings(body, "recordTypeFilters"),
    })
}

/// `auditLogRecordType` of a schema `RecordType`.
fn record_type_name(record: &Value) -> &'static str {
    match record["RecordType"].as_u64() {
        Some(1) => "exchangeAdmin",
        Some(2) => "exchangeItem",
        Some(3) => "exchangeItemGroup",
        Some(15) => "azureActiveDirectoryStsLogon",
        Some(50) => "exchangeItemAggregated",
        _ => "unknownFutureValue",
    }
}

impl Filters {
    fn matches(&self, record: &Value) -> bool {
        let Some(time) = creation_time(record) else {
            return false;
        };
        let text = |name: &str| record[name].as_str().unwrap_or("").to_ascii_lowercase();
        let in_list =
            |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
        time >= self.start
            && time < self.end
            && (self.users.is_empty() || self.users.contains(&text("UserId")))
            && in_list(&self.operations, &text("Operation"))
            && in_list(
                &self.record_types,
                &record_type_name(record).to_ascii_lowercase(),
            )
    }
}

/// A UAL record as Graph's `auditLogRecord`, the record itself in `auditData`.
fn graph_record(record: &Value) -> Value {
    let time = creation_time(record)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default();
    json!({
        "id": record["Id"],
        "createdDateTime": time,
        "auditLogRecordType": record_type_name(record),
        "operation": record["Operation"],
        "organizationId": record["OrganizationId"],
        "userType": "regular",
        "userId": record["UserKey"],
        "service": record["Workload"],
        "objectId": record["ObjectId"],
        "userPrincipalName": record["UserId"],
        "clientIp": record.get("ClientIP").filter(|v| !v.is_null()).unwrap_or(&record["ClientIPAddress"]),
        "administrativeUnits": [],
        "auditData": record,
    })
}

fn query_json(query: &Query, status: &str, version: &str, base_url: &str) -> Value {
    let mut value = query.body.clone();
    value["@odata.context"] = json!(format!(
        "{base_url}/{version}/$metadata#security/auditLog/queries/$entity"
    ));
    value["id"] = json!(query.id);
    value["status"] = json!(status);
    if status == "succeeded" {
        value["approximateReturnedRecordCount"] = json!(query.approximate);
        value["isRecordCountLimitExceeded"] = json!(query.exceeded);
    }
    value
}

/// `limit` of `matched` (time-ordered), picked evenly across them.
fn sample(matched: Vec<Arc<Value>>, limit: usize) -> Vec<Arc<Value>> {
    let total = matched.len();
    if limit == 0 || total == 0 {
        return Vec::new();
    }
    (0..limit)
        .map(|i| Arc::clone(&matched[i * total / limit]))
        .collect()
}

impl AuditService {
    /// The query has succeeded: polled `query_polls` times and `query_duration` old.
    fn finished(&self, query: &Query, now: std::time::Instant) -> bool {
        query.polls >= self.settings.query_polls && self.remaining(query, now).is_zero()
    }

    /// How long the query still runs by `query_duration`.
    fn remaining(&self, query: &Query, now: std::time::Instant) -> std::time::Duration {
        (query.created + self.settings.query_duration).saturating_duration_since(now)
    }

    fn guard(&self, headers: &HeaderMap, version: &str) -> Result<(), Response> {
        if let Some(throttled) = self.throttled() {
            return Err(throttled);
        }
        self.authorize(headers, GRAPH_AUDIENCE)?;
        if version != "v1.0" && version != "beta" {
            return Err(graph_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("Invalid version: {version}"),
            ));
        }
        Ok(())
    }
}

pub(super) async fn create_query(
    State(service): State<Arc<AuditService>>,
    Path(version): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = service.guard(&headers, &version) {
        return response;
    }
    let bad = |message: &str| graph_error(StatusCode::BAD_REQUEST, "BadRequest", message);
    let Ok(mut body) = serde_json::from_slice::<Value>(&body) else {
        return bad("The request body is not JSON.");
    };
    let filters = match filters(&body) {
        Ok(filters) => filters,
        Err(message) => return bad(&message),
    };
    let mut matched: Vec<Arc<Value>> = service
        .records()
        .iter()
        .filter(|r| filters.matches(r))
        .cloned()
        .collect();
    let approximate = matched.len();
    let limit = service.settings.record_limit;
    let exceeded = matched.len() > limit;
    if exceeded {
        matched = sample(matched, limit);
    }
    body["recordCountLimit"] = json!(limit);
    let Ok(mut queries) = service.queries.lock() else {
        return graph_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", "");
    };
    let now = std::time::Instant::now();
    let running: Vec<std::time::Duration> = queries
        .values()
        .filter(|q| !service.finished(q, now))
        .map(|q| service.remaining(q, now))
        .collect();
    if let Some(max) = service.settings.max_running_queries {
        if running.len() >= max {
            service
                .counters
                .queries_refused
                .fetch_add(1, Ordering::Relaxed);
            let wait = running.iter().min().copied().unwrap_or_default();
            let mut response = graph_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                &format!("{max} audit log queries are already running; retry after some time."),
            );
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert("retry-after", value);
            }
            return response;
        }
    }
    let query = Query {
        id: service.fresh("query-"),
        body,
        polls: 0,
        created: now,
        matched,
        exceeded,
        approximate,
    };
    let answer = query_json(&query, "notStarted", &version, &service.base_url);
    queries.insert(query.id.clone(), query);
    service
        .counters
        .queries_created
        .fetch_add(1, Ordering::Relaxed);
    service
        .counters
        .most_running_queries
        .fetch_max(running.len() as u64 + 1, Ordering::Relaxed);
    json_response(StatusCode::CREATED, &answer)
}

pub(super) async fn get_query(
    State(service): State<Arc<AuditService>>,
    Path((version, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = service.guard(&headers, &version) {
        return response;
    }
    let Ok(mut queries) = service.queries.lock() else {
        return graph_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", "");
    };
    let Some(query) = queries.get_mut(&id) else {
        return not_found(&id);
    };
    query.polls += 1;
    let status = if service.finished(query, std::time::Instant::now()) {
        "succeeded"
    } else {
        "running"
    };
    // The document's example of the answer wraps the query in `value`.
    json_response(
        StatusCode::OK,
        &json!({ "value": query_json(query, status, &version, &service.base_url) }),
    )
}

fn not_found(id: &str) -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("The audit log query {id} was not found."),
    )
}

pub(super) async fn list_records(
    State(service): State<Arc<AuditService>>,
    Path((version, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = service.guard(&headers, &version) {
        return response;
    }
    let skip = url::form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "$skiptoken")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let Ok(queries) = service.queries.lock() else {
        return graph_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", "");
    };
    let Some(query) = queries.get(&id) else {
        return not_found(&id);
    };
    if !service.finished(query, std::time::Instant::now()) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "The audit log query has not succeeded yet.",
        );
    }
    let size = service.settings.page_size.max(1);
    let page: Vec<Value> = query
        .matched
        .iter()
        .skip(skip)
        .take(size)
        .map(|r| graph_record(r))
        .collect();
    let mut body = json!({
        "@odata.context": format!("{}/{version}/$metadata#security/auditLog/queries('{id}')/records", service.base_url),
        "value": page,
    });
    if skip + size < query.matched.len() {
        body["@odata.nextLink"] = json!(format!(
            "{}/{version}/security/auditLog/queries/{id}/records?$skiptoken={}",
            service.base_url,
            skip + size
        ));
    }
    json_response(StatusCode::OK, &body)
}
