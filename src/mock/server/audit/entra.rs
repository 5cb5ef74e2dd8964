//! The Entra ID logs through Microsoft Graph's reporting API, as microsoft-graph-docs-contrib
//! describes them: `api-reference/beta/api/signin-list.md` and `api-reference/v1.0/resources/
//! signin.md` (`GET /auditLogs/signIns`: newest first, `$top` up to 1,000 and 1,000 by default,
//! `$skiptoken`, `$filter`; v1.0 and a beta list without a `signInEventTypes` filter hold
//! interactive sign-ins only), `api-reference/v1.0/api/directoryaudit-list.md` and
//! `resources/directoryaudit.md` (`GET /auditLogs/directoryAudits`, `$filter` `eq`, `ge`, `le`
//! on `activityDateTime`, `eq` on `initiatedBy/user/userPrincipalName`). A tenant without Entra
//! ID P1 or P2 is refused the sign-ins with 403
//! `Authentication_RequestFromNonPremiumTenantOrB2CTenant` ("Neither tenant is B2C or tenant
//! doesn't have premium license", entra-docs `howto-configure-prerequisites-for-reporting-api.md`)
//! and keeps 7 days of directory audits instead of 30 (`reference-reports-data-retention.md`).
//!
//! Inferred: the `$skiptoken` is an offset into the filtered list (opaque to the client); a
//! filter the documents do not give is answered 400.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};

use super::{graph_error, json_response, AuditService, GRAPH_AUDIENCE};

/// The tenant's Entra ID logs and licence.
#[derive(Debug, Clone)]
pub struct EntraSettings {
    /// Sign-ins (beta shape), any order; shared, so a test can add late arrivals.
    pub signins: Arc<Mutex<Vec<Value>>>,
    pub directory_audits: Arc<Mutex<Vec<Value>>>,
    /// The tenant has Entra ID P1 or P2.
    pub premium: bool,
    /// The most records a page holds, whatever `$top` asks (Graph's paging guidance: a page
    /// may hold fewer results than asked); the documented default and maximum is 1,000.
    pub page_size: usize,
    /// How long each answer of the two lists takes (the reporting API's take seconds; not
    /// documented).
    pub latency: std::time::Duration,
}

impl Default for EntraSettings {
    fn default() -> Self {
        EntraSettings {
            signins: Arc::default(),
            directory_audits: Arc::default(),
            premium: true,
            page_size: 1000,
            latency: std::time::Duration::ZERO,
        }
    }
}

/// The beta properties v1.0's `signIn` does not have (`resources/signin.md`, v1.0 against
/// beta).
const BETA_ONLY: [&str; 7] = [
    "sessionId",
    "uniqueTokenIdentifier",
    "signInEventTypes",
    "autonomousSystemNumber",
    "originalTransferMethod",
    "incomingTokenType",
    "authenticationDetails",
];

/// A list's records in time order (their times and positions), as of its length: a time
/// range is then a slice of it, not a scan of the whole list (a benchmark's million sign-ins).
#[derive(Debug, Default)]
pub(super) struct TimeIndexes {
    by_collection: std::collections::HashMap<&'static str, (usize, TimeIndex)>,
}

/// Each record's time and position, by time.
type TimeIndex = Vec<(DateTime<Utc>, usize)>;

fn time_of(record: &Value, time_field: &str) -> Option<DateTime<Utc>> {
    record[time_field]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

impl TimeIndexes {
    /// The positions in `records` of those whose time may satisfy `clauses`' time bounds
    /// (every one when no bound is given; a record without a time only then).
    fn candidates(
        &mut self,
        collection: &'static str,
        time_field: &str,
        records: &[Value],
        clauses: &[Clause],
    ) -> Vec<usize> {
        let (len, index) = self
            .by_collection
            .entry(collection)
            .or_insert_with(|| (usize::MAX, Vec::new()));
        if *len != records.len() {
            *index = records
                .iter()
                .enumerate()
                .filter_map(|(at, r)| Some((time_of(r, time_field)?, at)))
                .collect();
            index.sort_unstable();
            *len = records.len();
        }
        let bounds: Vec<(&str, DateTime<Utc>)> = clauses
            .iter()
            .filter_map(|c| match c {
                Clause::Time(op, bound) => Some((*op, *bound)),
                _ => None,
            })
            .collect();
        if bounds.is_empty() {
            return (0..records.len()).collect();
        }
        let lower = bounds
            .iter()
            .filter(|(op, _)| matches!(*op, "ge" | "gt" | "eq"))
            .map(|(_, t)| *t)
            .max();
        let upper = bounds
            .iter()
            .filter(|(op, _)| matches!(*op, "le" | "lt" | "eq"))
            .map(|(_, t)| *t)
            .min();
        let from = lower.map_or(0, |t| index.partition_point(|(at, _)| *at < t));
        let to = upper.map_or(index.len(), |t| index.partition_point(|(at, _)| *at <= t));
        index[from..to.max(from)]
            .iter()
            .map(|(_, at)| *at)
            .collect()
    }
}

/// One clause of a `$filter`.
enum Clause {
    Time(&'static str, DateTime<Utc>),
    Eq(String, String),
    EventType(String),
}

/// Splits on ` and ` outside quotes and parentheses.
fn split_and(filter: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut current) = (0, false, String::new());
    let chars: Vec<char> = filter.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            _ => {}
        }
        let rest: String = chars[i..].iter().take(5).collect();
        if !quoted && depth == 0 && rest.eq_ignore_ascii_case(" and ") {
            parts.push(std::mem::take(&mut current));
            i += 5;
            continue;
        }
        current.push(c);
        i += 1;
    }
    parts.push(current);
    parts
}

fn unquote(text: &str) -> Option<String> {
    let inner = text.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}

fn parse_filter(filter: &str, time_field: &str, eq_fields: &[&str]) -> Result<Vec<Clause>, String> {
    let mut clauses = Vec::new();
    for part in split_and(filter) {
        let part = part.trim();
        if let Some(inner) = part
            .strip_prefix("signInEventTypes/any(")
            .and_then(|p| p.strip_suffix(')'))
        {
            let (var, test) = inner.split_once(':').ok_or("a lambda needs `t: ...`")?;
            let value = test
                .trim()
                .strip_prefix(&format!("{} eq ", var.trim()))
                .and_then(unquote)
                .ok_or_else(|| format!("unsupported lambda {inner:?}"))?;
            clauses.push(Clause::EventType(value));
            continue;
        }
        let words: Vec<&str> = part.splitn(3, ' ').collect();
        let [field, op, value] = words[..] else {
            return Err(format!("cannot read {part:?}"));
        };
        if field == time_field {
            let op = match op {
                "ge" => "ge",
                "gt" => "gt",
                "le" => "le",
                "lt" => "lt",
                "eq" => "eq",
                _ => return Err(format!("unsupported operator {op}")),
            };
            let t = DateTime::parse_from_rfc3339(value.trim())
                .map_err(|e| format!("{value:?} is not a DateTimeOffset: {e}"))?
                .with_timezone(&Utc);
            clauses.push(Clause::Time(op, t));
        } else if eq_fields.contains(&field) && op == "eq" {
            let value = unquote(value).ok_or_else(|| format!("{value:?} is not a string"))?;
            clauses.push(Clause::Eq(field.to_string(), value));
        } else {
            return Err(format!("unsupported filter on {field}"));
        }
    }
    Ok(clauses)
}

fn path<'v>(record: &'v Value, field: &str) -> &'v Value {
    field.split('/').fold(record, |v, key| &v[key])
}

fn matches(record: &Value, clauses: &[Clause], time_field: &str) -> bool {
    let at = time_of(record, time_field);
    clauses.iter().all(|clause| match clause {
        Clause::Time(op, bound) => at.is_some_and(|at| match *op {
            "ge" => at >= *bound,
            "gt" => at > *bound,
            "le" => at <= *bound,
            "lt" => at < *bound,
            _ => at == *bound,
        }),
        Clause::Eq(field, value) => path(record, field)
            .as_str()
            .is_some_and(|v| v.eq_ignore_ascii_case(value)),
        Clause::EventType(kind) => record["signInEventTypes"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k.as_str() == Some(kind))),
    })
}

struct Listing {
    collection: &'static str,
    time_field: &'static str,
    eq_fields: &'static [&'static str],
}

const SIGNINS: Listing = Listing {
    collection: "auditLogs/signIns",
    time_field: "createdDateTime",
    eq_fields: &["userPrincipalName", "userId", "appId", "ipAddress"],
};

const AUDITS: Listing = Listing {
    collection: "auditLogs/directoryAudits",
    time_field: "activityDateTime",
    eq_fields: &[
        "initiatedBy/user/userPrincipalName",
        "initiatedBy/user/id",
        "category",
        "activityDisplayName",
        "loggedByService",
        "correlationId",
        "id",
    ],
};

/// One answer of a list being given: counted in flight while it lives.
struct Answering<'a>(&'a super::AuditCounters);

impl<'a> Answering<'a> {
    fn start(counters: &'a super::AuditCounters) -> Self {
        use std::sync::atomic::Ordering;
        let now = counters.entra_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        counters
            .most_entra_in_flight
            .fetch_max(now, Ordering::SeqCst);
        Answering(counters)
    }
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        self.0
            .entra_in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl AuditService {
    /// Waits the lists' latency, counted in flight meanwhile.
    async fn entra_latency(&self) {
        let _answering = Answering::start(&self.counters);
        let latency = self.settings.entra.latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }

    fn entra_now(&self) -> DateTime<Utc> {
        self.settings.now.unwrap_or_else(Utc::now)
    }

    fn list(
        &self,
        listing: &Listing,
        version: &str,
        raw: Option<&str>,
        records: &Mutex<Vec<Value>>,
        retention: TimeDelta,
    ) -> Response {
        let params: Vec<(String, String)> =
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name || k.strip_prefix('$') == Some(name))
                .map(|(_, v)| v.clone())
        };
        let bad = |message: String| graph_error(StatusCode::BAD_REQUEST, "BadRequest", &message);
        let clauses = match param("$filter")
            .map(|f| parse_filter(&f, listing.time_field, listing.eq_fields))
            .transpose()
        {
            Ok(clauses) => clauses.unwrap_or_default(),
            Err(message) => return bad(format!("Invalid filter clause: {message}")),
        };
        let sign_ins = listing.collection == SIGNINS.collection;
        let event_type = clauses.iter().any(|c| matches!(c, Clause::EventType(_)));
        if version == "v1.0" && event_type {
            return bad("Could not find a property named 'signInEventTypes'.".into());
        }
        let top = match param("$top").map(|t| t.parse::<usize>()) {
            None => 1000,
            Some(Ok(top)) if (1..=1000).contains(&top) => top,
            Some(_) => return bad("$top must be between 1 and 1000.".into()),
        }
        .min(self.settings.entra.page_size.max(1));
        let skip = match param("$skiptoken") {
            None => 0,
            Some(token) => match token.strip_prefix("mock-").and_then(|t| t.parse().ok()) {
                Some(skip) => skip,
                None => return bad("Invalid $skiptoken.".into()),
            },
        };
        let earliest = self.entra_now() - retention;
        let Ok(records) = records.lock() else {
            return graph_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError", "");
        };
        let candidates = self
            .entra_index
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .candidates(listing.collection, listing.time_field, &records, &clauses);
        let mut matched: Vec<&Value> = candidates
            .into_iter()
            .map(|at| &records[at])
            .filter(|r| matches(r, &clauses, listing.time_field))
            .filter(|r| {
                r[listing.time_field]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .is_some_and(|t| t.with_timezone(&Utc) >= earliest)
            })
            // An unfiltered list (and every v1.0 list) holds interactive sign-ins only.
            .filter(|r| {
                !sign_ins
                    || event_type
                    || r["signInEventTypes"]
                        .as_array()
                        .is_none_or(|k| k.iter().any(|k| k.as_str() == Some("interactiveUser")))
            })
            .collect();
        // Newest first, as the list documents.
        matched.sort_by(|a, b| {
            b[listing.time_field]
                .as_str()
                .cmp(&a[listing.time_field].as_str())
                .then_with(|| b["id"].as_str().cmp(&a["id"].as_str()))
        });
        let page: Vec<Value> = matched
            .iter()
            .skip(skip)
            .take(top)
            .map(|r| {
                let mut record = (*r).clone();
                if sign_ins && version == "v1.0" {
                    if let Some(object) = record.as_object_mut() {
                        for field in BETA_ONLY {
                            object.remove(field);
                        }
                    }
                }
                record
            })
            .collect();
        let matched = matched.len();
        // The page is a copy: the list is free for the requests answered beside this one.
        drop(records);
        let base = format!("{}/{version}/{}", self.base_url, listing.collection);
        let mut body = json!({
            "@odata.context": format!("{}/{version}/$metadata#{}", self.base_url, listing.collection),
            "value": page,
        });
        if skip + top < matched {
            let mut next = url::form_urlencoded::Serializer::new(String::new());
            if let Some(filter) = param("$filter") {
                next.append_pair("$filter", &filter);
            }
            next.append_pair("$top", &top.to_string());
            next.append_pair("$skiptoken", &format!("mock-{}", skip + top));
            body["@odata.nextLink"] = json!(format!("{base}?{}", next.finish()));
        }
        json_response(StatusCode::OK, &body)
    }

    fn entra_guard(&self, headers: &HeaderMap, version: &str) -> Result<(), Response> {
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

pub(super) async fn signins(
    State(service): State<Arc<AuditService>>,
    Path(version): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = service.entra_guard(&headers, &version) {
        return response;
    }
    service.entra_latency().await;
    // A `serve --corpus` tenant makes its logs (the Entra ID ones too) on the first request.
    service.records();
    let entra = &service.settings.entra;
    if !entra.premium {
        return graph_error(
            StatusCode::FORBIDDEN,
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "Neither tenant is B2C or tenant doesn't have premium license",
        );
    }
    service.list(
        &SIGNINS,
        &version,
        raw.as_deref(),
        &entra.signins,
        TimeDelta::days(30),
    )
}

pub(super) async fn directory_audits(
    State(service): State<Arc<AuditService>>,
    Path(version): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = service.entra_guard(&headers, &version) {
        return response;
    }
    service.entra_latency().await;
    // A `serve --corpus` tenant makes its logs (the Entra ID ones too) on the first request.
    service.records();
    let entra = &service.settings.entra;
    let retention = TimeDelta::days(if entra.premium { 30 } else { 7 });
    service.list(
        &AUDITS,
        &version,
        raw.as_deref(),
        &entra.directory_audits,
        retention,
    )
}
