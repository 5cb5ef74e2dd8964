//! The Office 365 Management Activity API, as office-365-management-api's "Office 365
//! Management Activity API reference" describes it: subscriptions per content type (starting
//! one twice answers AF20024), content listings of at most 24 hours no more than 7 days back
//! (AF20030 otherwise), selected by when a blob became available, paged through the
//! `NextPageUri` header; blobs as JSON arrays of records, in no order.
//!
//! Inferred, as no document says how the service cuts blobs: a record becomes available 5 to
//! 55 minutes after it happened, and a blob holds one content type's records that became
//! available in one hour, created at the end of that hour. The listing's range includes both
//! ends, so a blob created on a window's boundary is listed in both windows; and one record in
//! forty is delivered again in the next hour's blob, as the reference warns records can be.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, DurationRound, SecondsFormat, TimeDelta, Utc};
use serde_json::{json, Value};

use super::{creation_time, json_response, AuditService, MANAGEMENT_AUDIENCE};

const CONTENT_TYPES: [&str; 5] = [
    "Audit.AzureActiveDirectory",
    "Audit.Exchange",
    "Audit.SharePoint",
    "Audit.General",
    "DLP.All",
];

pub(super) struct Blob {
    content_type: &'static str,
    content_id: String,
    created: DateTime<Utc>,
    records: Vec<Arc<Value>>,
}

fn feed_error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

fn content_type_of(record: &Value) -> &'static str {
    match record["Workload"].as_str() {
        Some("Exchange") => "Audit.Exchange",
        Some("AzureActiveDirectory") => "Audit.AzureActiveDirectory",
        Some("SharePoint" | "OneDrive") => "Audit.SharePoint",
        _ => "Audit.General",
    }
}

/// A stable number from a record's Id (its delay, whether it is delivered twice).
fn digest(record: &Value) -> u64 {
    record["Id"]
        .as_str()
        .unwrap_or("")
        .bytes()
        .fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        })
}

/// Cuts the records into blobs as the module says.
pub(super) fn blobs(records: &[Arc<Value>]) -> Vec<Blob> {
    let mut by_key: std::collections::BTreeMap<(DateTime<Utc>, &'static str), Vec<Arc<Value>>> =
        Default::default();
    for record in records {
        let Some(time) = creation_time(record) else {
            continue;
        };
        let hash = digest(record);
        let available = time + TimeDelta::minutes(5 + (hash % 51) as i64);
        let hour = available
            .duration_trunc(TimeDelta::hours(1))
            .unwrap_or(available)
            + TimeDelta::hours(1);
        let content_type = content_type_of(record);
        by_key
            .entry((hour, content_type))
            .or_default()
            .push(Arc::clone(record));
        if hash.is_multiple_of(40) {
            by_key
                .entry((hour + TimeDelta::hours(1), content_type))
                .or_default()
                .push(Arc::clone(record));
        }
    }
    by_key
        .into_iter()
        .enumerate()
        .map(|(n, ((created, content_type), mut records))| {
            // A blob's records come in no particular order.
            records.sort_by_key(|r| digest(r));
            Blob {
                content_type,
                content_id: format!("{}${content_type}${n:06}", created.format("%Y%m%d%H%M%S")),
                created,
                records,
            }
        })
        .collect()
}

impl AuditService {
    fn feed_guard(&self, headers: &HeaderMap, tenant: &str) -> Result<(), Response> {
        if let Some(throttled) = self.throttled() {
            return Err(throttled);
        }
        self.authorize(headers, MANAGEMENT_AUDIENCE)?;
        if tenant != self.settings.tenant_id {
            return Err(feed_error(
                StatusCode::BAD_REQUEST,
                "AF20010",
                &format!(
                    "The tenant ID passed in the URL ({tenant}) does not match the tenant ID passed in the access token."
                ),
            ));
        }
        Ok(())
    }

    /// A request about one content type: its caller checked, and the type it names.
    fn content_request(
        &self,
        headers: &HeaderMap,
        tenant: &str,
        raw: Option<&str>,
    ) -> Result<&'static str, Response> {
        self.feed_guard(headers, tenant)?;
        known_content_type(raw)
    }

    /// The API's present: the setting, or an hour after the newest blob.
    fn now(&self) -> DateTime<Utc> {
        self.settings.now.unwrap_or_else(|| {
            self.blobs()
                .last()
                .map(|b| b.created + TimeDelta::hours(1))
                .unwrap_or_else(Utc::now)
        })
    }
}

fn parameters(raw: Option<&str>) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn known_content_type(raw: Option<&str>) -> Result<&'static str, Response> {
    let asked = parameters(raw).remove("contentType").unwrap_or_default();
    CONTENT_TYPES
        .into_iter()
        .find(|t| *t == asked)
        .ok_or_else(|| {
            feed_error(
                StatusCode::BAD_REQUEST,
                "AF20013",
                &format!("The content type '{asked}' is not valid."),
            )
        })
}

pub(super) async fn start(
    State(service): State<Arc<AuditService>>,
    Path(tenant): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let content_type = match service.content_request(&headers, &tenant, raw.as_deref()) {
        Ok(content_type) => content_type,
        Err(response) => return response,
    };
    let new = service
        .subscriptions
        .lock()
        .map(|mut s| s.insert(content_type.to_string()))
        .unwrap_or(false);
    if !new {
        return feed_error(
            StatusCode::BAD_REQUEST,
            "AF20024",
            "The subscription is already enabled. No property change.",
        );
    }
    json_response(
        StatusCode::OK,
        &json!({"contentType": content_type, "status": "enabled", "webhook": null}),
    )
}

pub(super) async fn list_content(
    State(service): State<Arc<AuditService>>,
    Path(tenant): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let content_type = match service.content_request(&headers, &tenant, raw.as_deref()) {
        Ok(content_type) => content_type,
        Err(response) => return response,
    };
    let subscribed = service
        .subscriptions
        .lock()
        .map(|s| s.contains(content_type))
        .unwrap_or(false);
    if !subscribed {
        return feed_error(
            StatusCode::BAD_REQUEST,
            "AF20022",
            "No subscription found for the specified content type",
        );
    }
    let parameters = parameters(raw.as_deref());
    let now = service.now();
    let time = |name: &str| {
        parameters.get(name).map(|t| {
            crate::mock::files::parse_time(t).ok_or_else(|| {
                feed_error(
                    StatusCode::BAD_REQUEST,
                    "AF20031",
                    &format!("Invalid {name} value: {t}."),
                )
            })
        })
    };
    let range_error = || {
        feed_error(
            StatusCode::BAD_REQUEST,
            "AF20030",
            "Start time and end time must both be specified (or both omitted) and must be less than or equal to 24 hours apart, with the start time no more than 7 days in the past.",
        )
    };
    let (start, end) = match (time("startTime"), time("endTime")) {
        (None, None) => (now - TimeDelta::hours(24), now),
        (Some(Ok(start)), Some(Ok(end))) => (start, end),
        (Some(Err(response)), _) | (_, Some(Err(response))) => return response,
        _ => return range_error(),
    };
    if end <= start || end - start > TimeDelta::hours(24) || start < now - TimeDelta::days(7) {
        return range_error();
    }
    let listed: Vec<&Blob> = service
        .blobs()
        .iter()
        .filter(|b| {
            b.content_type == content_type
                && b.created >= start
                && b.created <= end
                && b.created <= now
        })
        .collect();
    let offset: usize = parameters
        .get("nextPage")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let size = service.settings.feed_page_size.max(1);
    let tenant_url = format!("{}/api/v1.0/{tenant}/activity/feed", service.base_url);
    let page: Vec<Value> = listed
        .iter()
        .skip(offset)
        .take(size)
        .map(|b| {
            json!({
                "contentType": b.content_type,
                "contentId": b.content_id,
                "contentUri": format!("{tenant_url}/audit/{}", b.content_id),
                "contentCreated": b.created.to_rfc3339_opts(SecondsFormat::Millis, true),
                "contentExpiration": (b.created + TimeDelta::days(7)).to_rfc3339_opts(SecondsFormat::Millis, true),
            })
        })
        .collect();
    let mut response = json_response(StatusCode::OK, &Value::Array(page));
    if offset + size < listed.len() {
        let mut next = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in &parameters {
            if name != "nextPage" {
                next.append_pair(name, value);
            }
        }
        next.append_pair("nextPage", &(offset + size).to_string());
        let uri = format!("{tenant_url}/subscriptions/content?{}", next.finish());
        if let Ok(value) = HeaderValue::from_str(&uri) {
            response.headers_mut().insert("NextPageUri", value);
        }
    }
    response
}

pub(super) async fn blob(
    State(service): State<Arc<AuditService>>,
    Path((tenant, content_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = service.feed_guard(&headers, &tenant) {
        return response;
    }
    let now = service.now();
    match service.blobs().iter().find(|b| b.content_id == content_id) {
        Some(b) if b.created > now => not_found(&content_id),
        Some(b) if b.created + TimeDelta::days(7) < now => feed_error(
            StatusCode::BAD_REQUEST,
            "AF20051",
            &format!("Content requested with the key {content_id} has already expired."),
        ),
        Some(b) => {
            service
                .counters
                .blobs_served
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            json_response(
                StatusCode::OK,
                &Value::Array(b.records.iter().map(|r| (**r).clone()).collect()),
            )
        }
        None => not_found(&content_id),
    }
}

fn not_found(content_id: &str) -> Response {
    feed_error(
        StatusCode::NOT_FOUND,
        "AF20050",
        &format!("The content with the key {content_id} was not found."),
    )
}
