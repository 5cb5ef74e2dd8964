//! The answers: a request checked in the service's order (faults, version, caller, Prefer,
//! mailbox, limits, query options), then a page rendered as the service renders it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::super::filter::{self, Expr};
use super::super::store::{PageSpec, Served};
use super::faults::Fault;
use super::{odata_error, Tenant};

/// The query options of one request.
struct Options {
    filter: Option<Expr>,
    descending: bool,
    top: usize,
    skip: usize,
    select: Option<Vec<String>>,
}

fn parse_options(query: Option<&str>) -> Result<Options, Response> {
    let bad = |code: &str, message: String| odata_error(StatusCode::BAD_REQUEST, code, &message);
    let mut options = Options {
        filter: None,
        descending: true,
        top: 10,
        skip: 0,
        select: None,
    };
    let mut seen = std::collections::HashSet::new();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if !seen.insert(name.to_string()) {
            return Err(bad(
                "ErrorInvalidUrlQuery",
                format!("The query option '{name}' is given more than once."),
            ));
        }
        match name.as_ref() {
            // CrowdStrike's retriever sends `$filter=` for a mailbox's whole history: no filter.
            "$filter" if value.trim().is_empty() => {}
            "$filter" => {
                let expr = filter::parse(&value).map_err(|e| {
                    bad(
                        "ErrorInvalidUrlQueryFilter",
                        format!("The $filter is not valid: {e}."),
                    )
                })?;
                options.filter = Some(expr);
            }
            "$orderby" => {
                options.descending = match value.split_whitespace().collect::<Vec<_>>().as_slice() {
                    ["TimeStamp"] | ["TimeStamp", "asc"] => false,
                    ["TimeStamp", "desc"] => true,
                    _ => {
                        return Err(bad(
                            "ErrorInvalidUrlQuery",
                            format!(
                                "The $orderby '{value}' is not supported; only TimeStamp asc|desc."
                            ),
                        ))
                    }
                };
            }
            "$top" => {
                options.top = value
                    .parse::<usize>()
                    .ok()
                    .filter(|t| (1..=1000).contains(t))
                    .ok_or_else(|| {
                        bad(
                            "ErrorInvalidUrlQuery",
                            format!("The $top value '{value}' must be between 1 and 1000."),
                        )
                    })?;
            }
            "$skip" => {
                options.skip = value.parse::<usize>().map_err(|_| {
                    bad(
                        "ErrorInvalidUrlQuery",
                        format!("The $skip value '{value}' is not a whole number."),
                    )
                })?;
            }
            "$select" => {
                options.select = Some(
                    value
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                );
            }
            _ => {}
        }
    }
    Ok(options)
}

/// `me`, or the UPN inside `Users('...')` (quotes doubled, any case).
fn mailbox_of(segment: &str) -> Option<String> {
    if segment.eq_ignore_ascii_case("me") {
        return None;
    }
    // axum has already percent-decoded the path segment.
    let lower = segment.to_ascii_lowercase();
    let inner = lower.strip_prefix("users('")?.strip_suffix("')")?;
    Some(inner.replace("''", "'"))
}

pub(super) async fn activities(
    State(tenant): State<Arc<Tenant>>,
    Path((version, user)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    tenant.requests.fetch_add(1, Ordering::Relaxed);
    let response = answer(&tenant, &version, &user, query.as_deref(), &headers).await;
    if tenant.settings.log_requests {
        tracing::info!(
            "GET /api/{version}/{user}/Activities?{} -> {}",
            query.as_deref().unwrap_or(""),
            response.status()
        );
    }
    response
}

async fn answer(
    tenant: &Tenant,
    version: &str,
    user: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    let fault = tenant.draw_fault();
    match fault {
        Fault::Fail { retry_after } => {
            let mut response = odata_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ErrorServerBusy",
                "The server is busy. Try again later.",
            );
            if let Some(seconds) = retry_after {
                if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                    response.headers_mut().insert("retry-after", value);
                }
            }
            return response;
        }
        Fault::Reset => {
            let stream = futures::stream::once(async {
                Err::<bytes::Bytes, std::io::Error>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "mock reset",
                ))
            });
            return Response::new(Body::from_stream(stream));
        }
        Fault::Truncate | Fault::None => {}
    }
    if !matches!(version, "v1.0" | "v2.0" | "beta") {
        return odata_error(
            StatusCode::NOT_FOUND,
            "ErrorInvalidUrl",
            "Unknown API version.",
        );
    }
    let (token, me) = match tenant.authenticate(headers, version) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let prefer = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|p| p.trim().replace(' ', "") == "exchange.behavior=\"ActivityAccess\"")
        });
    if !prefer {
        return odata_error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRequest",
            "The Activities API requires the header Prefer: exchange.behavior=\"ActivityAccess\".",
        );
    }
    let upn = match mailbox_of(user) {
        Some(upn) => upn,
        None if user.eq_ignore_ascii_case("me") => me
            .or_else(|| tenant.first_mailbox.clone())
            .unwrap_or_default(),
        None => {
            return odata_error(
                StatusCode::NOT_FOUND,
                "ErrorInvalidUrl",
                "The user segment must be me or Users('upn').",
            )
        }
    };
    let Some(mailbox) = tenant.mailboxes.get(&upn) else {
        return odata_error(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The specified object was not found in the store. Default folder ActivityLogs not found.",
        );
    };
    let _in_flight = match tenant.enter(&upn) {
        Ok(guard) => guard,
        Err(response) => return response,
    };
    let latency = tenant.settings.faults.latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let rate_headers = match tenant.throttle(&upn, &token) {
        Ok(headers) => headers,
        Err(response) => return response,
    };
    let options = match parse_options(query) {
        Ok(options) => options,
        Err(response) => return response,
    };
    tenant.churn(mailbox);
    let annotate = !headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.replace(' ', "").contains("odata.metadata=none"));
    let body = {
        let Ok(mailbox) = mailbox.read() else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        // Server-driven paging: at most `page_cap` records, and a link to the rest of `$top`.
        let cap = tenant.settings.page_cap.filter(|cap| *cap < options.top);
        let spec = PageSpec {
            filter: options.filter.as_ref(),
            descending: options.descending,
            top: cap.unwrap_or(options.top),
            skip: options.skip,
        };
        let Ok(records) = mailbox.page(&spec) else {
            // The corpus file changed or went away under the server.
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let next_link = match cap {
            Some(cap) if records.len() == cap && !tenant.settings.page_cap_without_link => {
                Some(tenant.next_link(version, user, query, &options, cap))
            }
            _ => None,
        };
        render_page(
            &records,
            options.select.as_deref(),
            annotate,
            (version, user),
            next_link.as_deref(),
        )
    };
    let body = if matches!(fault, Fault::Truncate) && body.len() > 2 {
        let cut = tenant
            .rng
            .lock()
            .map(|mut r| r.usize(1..body.len() - 1))
            .unwrap_or(body.len() / 2);
        body[..cut].to_vec()
    } else {
        body
    };
    let mut response = Response::new(Body::from(body));
    let response_headers = response.headers_mut();
    response_headers.insert(
        "content-type",
        HeaderValue::from_static(
            "application/json; odata.metadata=none; odata.streaming=true; charset=utf-8",
        ),
    );
    for (name, value) in rate_headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response_headers.insert(name, value);
        }
    }
    response
}

impl Tenant {
    /// The link to the rest of a capped answer: the same request, `cap` records further on,
    /// for what is left of its `$top`.
    fn next_link(
        &self,
        version: &str,
        user: &str,
        query: Option<&str>,
        options: &Options,
        cap: usize,
    ) -> String {
        let mut rest = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if name != "$skip" && name != "$top" {
                rest.append_pair(&name, &value);
            }
        }
        rest.append_pair("$top", &(options.top - cap).to_string());
        rest.append_pair("$skip", &(options.skip + cap).to_string());
        let segment =
            percent_encoding::utf8_percent_encode(user, percent_encoding::NON_ALPHANUMERIC);
        format!(
            "{}/api/{version}/{segment}/Activities?{}",
            self.base_url,
            rest.finish()
        )
    }
}

fn render_page(
    records: &[Served<'_>],
    select: Option<&[String]>,
    annotate: bool,
    (version, user): (&str, &str),
    next_link: Option<&str>,
) -> Vec<u8> {
    let mut body =
        Vec::with_capacity(records.iter().map(|r| r.json.len() + 1).sum::<usize>() + 128);
    body.push(b'{');
    if annotate {
        body.extend_from_slice(format!("\"@odata.context\":\"https://outlook.office.com/api/{version}/$metadata#{user}/Activities\",").as_bytes());
    }
    body.extend_from_slice(b"\"value\":[");
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        let projected;
        let json = match select {
            Some(select) => {
                projected = project(&record.json, select);
                projected.as_str()
            }
            None => &record.json,
        };
        if annotate && json.len() > 2 {
            body.extend_from_slice(
                format!("{{\"@odata.id\":\"https://outlook.office.com/api/{version}/{user}/Activities('{}')\",\"@odata.etag\":\"W/\\\"{}\\\"\",", record.id, record.time_nanos).as_bytes(),
            );
            body.extend_from_slice(&json.as_bytes()[1..]);
        } else {
            body.extend_from_slice(json.as_bytes());
        }
    }
    body.extend_from_slice(b"]");
    if let Some(link) = next_link {
        body.extend_from_slice(b",\"@odata.nextLink\":");
        body.extend_from_slice(serde_json::Value::from(link).to_string().as_bytes());
    }
    body.push(b'}');
    body
}

/// `$select`: the named properties in the record's own order, Id always included.
fn project(json: &str, select: &[String]) -> String {
    let Ok(serde_json::Value::Object(record)) = serde_json::from_str::<serde_json::Value>(json)
    else {
        return json.to_string();
    };
    let kept: serde_json::Map<String, serde_json::Value> = record
        .into_iter()
        .filter(|(name, _)| name == "Id" || select.iter().any(|s| s == name))
        .collect();
    serde_json::Value::Object(kept).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_segments_decode_quotes_and_case() {
        assert_eq!(
            mailbox_of("Users('o''brien@x.com')"),
            Some("o'brien@x.com".into())
        );
        assert_eq!(mailbox_of("users('A B@X.com')"), Some("a b@x.com".into()));
        assert_eq!(mailbox_of("me"), None);
        assert_eq!(mailbox_of("Users(x)"), None);
    }

    #[test]
    fn projection_keeps_id() {
        assert_eq!(
            project(r#"{"Id":"a","TimeStamp":"t","X":1}"#, &["TimeStamp".into()]),
            r#"{"Id":"a","TimeStamp":"t"}"#
        );
    }
}
