//! The emulated Activities endpoint over HTTP (axum).

// Each check returns the exact response to send on failure; boxing them would only add noise.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;

use super::filter::{self, Expr};
use super::store::{Mailbox, PageSpec, StoredActivity};

/// Who may call, and how.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    pub token: String,
    /// The mailbox `me` means for this token.
    pub me: Option<String>,
    /// Answer 403 `AppId "..." is not allowed.` as the withdrawn service did.
    pub withdrawn: bool,
}

impl TokenSpec {
    /// Parses `TOKEN`, `TOKEN=UPN` or `withdrawn:TOKEN`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (withdrawn, rest) = match text.strip_prefix("withdrawn:") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (token, me) = match rest.split_once('=') {
            Some((token, upn)) => (token, Some(upn.to_ascii_lowercase())),
            None => (rest, None),
        };
        if token.is_empty() {
            return Err(format!("--tokens entry {text:?} has an empty token"));
        }
        Ok(TokenSpec {
            token: token.to_string(),
            me,
            withdrawn,
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct FaultSettings {
    pub latency: Duration,
    pub fail_rate: f64,
    pub reset_rate: f64,
    pub truncate_rate: f64,
    pub token_ttl: Option<Duration>,
    pub insert_per_request: usize,
    pub age_per_request: usize,
    pub seed: u64,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub addr: SocketAddr,
    pub tokens: Vec<TokenSpec>,
    /// Requests per window per mailbox and token.
    pub throttle: Option<(usize, Duration)>,
    pub max_concurrent: usize,
    pub faults: FaultSettings,
    pub log_requests: bool,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tokens: vec![TokenSpec {
                token: "mock-token".into(),
                me: None,
                withdrawn: false,
            }],
            throttle: None,
            max_concurrent: 4,
            faults: FaultSettings::default(),
            log_requests: false,
        }
    }
}

struct Tenant {
    mailboxes: HashMap<String, RwLock<Mailbox>>,
    first_mailbox: Option<String>,
    settings: ServerSettings,
    rng: Mutex<fastrand::Rng>,
    first_use: Mutex<HashMap<String, Instant>>,
    windows: Mutex<HashMap<(String, String), VecDeque<Instant>>>,
    in_flight: Mutex<HashMap<String, usize>>,
    inserted: AtomicU64,
    pub requests: AtomicU64,
}

/// A running mock tenant; dropping it does not stop it, `shutdown` does.
pub struct RunningServer {
    pub url: String,
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), std::io::Error>>,
    tenant: Arc<Tenant>,
}

impl RunningServer {
    /// Requests answered so far (any status).
    pub fn requests(&self) -> u64 {
        self.tenant.requests.load(Ordering::Relaxed)
    }

    pub async fn shutdown(mut self) -> Result<(), std::io::Error> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.await.unwrap_or(Ok(()))
    }

    /// Serves until `signal` resolves.
    pub async fn serve_until(
        self,
        signal: impl std::future::Future<Output = ()>,
    ) -> Result<(), std::io::Error> {
        signal.await;
        self.shutdown().await
    }
}

/// Binds and starts serving `mailboxes` in the background.
pub async fn start(
    mailboxes: BTreeMap<String, Vec<StoredActivity>>,
    settings: ServerSettings,
) -> Result<RunningServer, std::io::Error> {
    let listener = tokio::net::TcpListener::bind(settings.addr).await?;
    let addr = listener.local_addr()?;
    let first_mailbox = mailboxes.keys().next().cloned();
    let tenant = Arc::new(Tenant {
        mailboxes: mailboxes
            .into_iter()
            .map(|(upn, activities)| {
                (
                    upn.to_ascii_lowercase(),
                    RwLock::new(Mailbox::new(activities)),
                )
            })
            .collect(),
        first_mailbox,
        rng: Mutex::new(fastrand::Rng::with_seed(settings.faults.seed)),
        settings,
        first_use: Mutex::new(HashMap::new()),
        windows: Mutex::new(HashMap::new()),
        in_flight: Mutex::new(HashMap::new()),
        inserted: AtomicU64::new(0),
        requests: AtomicU64::new(0),
    });
    let router = Router::new()
        .route("/api/{version}/{user}/Activities", get(activities))
        .fallback(|| async {
            odata_error(
                StatusCode::NOT_FOUND,
                "ErrorInvalidUrl",
                "The requested URL was not found.",
            )
        })
        .with_state(Arc::clone(&tenant));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
    });
    Ok(RunningServer {
        url: format!("http://{addr}"),
        addr,
        shutdown: Some(tx),
        task,
        tenant,
    })
}

fn odata_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    (
        status,
        [("content-type", "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

fn unauthorized(reason: &str) -> Response {
    let diagnostics = format!("2000003;reason=\"{reason}\";error_category=\"invalid_token\"");
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&diagnostics) {
        headers.insert("x-ms-diagnostics", value);
    }
    headers.insert(
        "www-authenticate",
        HeaderValue::from_static(
            "Bearer client_id=\"00000002-0000-0ff1-ce00-000000000000\", error=\"invalid_token\"",
        ),
    );
    response
}

/// Decrements the in-flight count of a mailbox when the request ends.
struct InFlight<'a> {
    tenant: &'a Tenant,
    mailbox: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.tenant.in_flight.lock() {
            if let Some(count) = counts.get_mut(&self.mailbox) {
                *count = count.saturating_sub(1);
            }
        }
    }
}

enum Fault {
    None,
    Fail { retry_after: Option<u64> },
    Reset,
    Truncate,
}

impl Tenant {
    fn draw_fault(&self) -> Fault {
        let faults = &self.settings.faults;
        let Ok(mut rng) = self.rng.lock() else {
            return Fault::None;
        };
        let roll = rng.f64();
        if roll < faults.fail_rate {
            let retry_after = rng.bool().then(|| rng.u64(1..=2));
            Fault::Fail { retry_after }
        } else if roll < faults.fail_rate + faults.reset_rate {
            Fault::Reset
        } else if roll < faults.fail_rate + faults.reset_rate + faults.truncate_rate {
            Fault::Truncate
        } else {
            Fault::None
        }
    }

    /// The caller's identity (a token), or the error response to send.
    fn authenticate(
        &self,
        headers: &HeaderMap,
        version: &str,
    ) -> Result<(String, Option<String>), Response> {
        let Some(authorization) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
            return Err(odata_error(
                StatusCode::FORBIDDEN,
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
            ));
        };
        let (token, basic_user) = if let Some(token) = authorization.strip_prefix("Bearer ") {
            (token.trim().to_string(), None)
        } else if let Some(encoded) = authorization.strip_prefix("Basic ") {
            if version != "v1.0" {
                return Err(unauthorized(
                    "Basic authentication is accepted only by the v1.0 endpoint.",
                ));
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok());
            let Some((user, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
                return Err(unauthorized("The Basic credentials could not be decoded."));
            };
            (password.to_string(), Some(user.to_ascii_lowercase()))
        } else {
            return Err(odata_error(
                StatusCode::FORBIDDEN,
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
            ));
        };
        let Some(spec) = self.settings.tokens.iter().find(|t| t.token == token) else {
            return Err(unauthorized("The token is not valid."));
        };
        if spec.withdrawn {
            return Err(odata_error(
                StatusCode::FORBIDDEN,
                "ErrorAccessDenied",
                "AppId: \"d3590ed6-52b3-4102-aeff-aad2292ab01c\" is not allowed.",
            ));
        }
        if let Some(ttl) = self.settings.faults.token_ttl {
            let mut first_use = self
                .first_use
                .lock()
                .map_err(|_| unauthorized("internal"))?;
            match first_use.get(&token) {
                Some(first) if first.elapsed() > ttl => {
                    return Err(unauthorized("The token has expired."))
                }
                Some(_) => {}
                None => {
                    first_use.insert(token.clone(), Instant::now());
                }
            }
        }
        Ok((token, basic_user.or_else(|| spec.me.clone())))
    }

    /// 429 when the caller is over its budget for this mailbox; the Rate-Limit headers otherwise.
    fn throttle(
        &self,
        mailbox: &str,
        token: &str,
    ) -> Result<Vec<(&'static str, String)>, Response> {
        let Some((limit, window)) = self.settings.throttle else {
            return Ok(Vec::new());
        };
        let Ok(mut windows) = self.windows.lock() else {
            return Ok(Vec::new());
        };
        let starts = windows
            .entry((mailbox.to_string(), token.to_string()))
            .or_default();
        let now = Instant::now();
        while starts
            .front()
            .is_some_and(|s| now.duration_since(*s) >= window)
        {
            starts.pop_front();
        }
        let reset_in = starts
            .front()
            .map(|s| window.saturating_sub(now.duration_since(*s)))
            .unwrap_or(window);
        let reset_at =
            chrono::Utc::now() + chrono::Duration::from_std(reset_in).unwrap_or_default();
        let reset_text = reset_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        if starts.len() >= limit {
            let retry_after = reset_in.as_secs_f64().ceil().max(1.0) as u64;
            let mut response = odata_error(
                StatusCode::TOO_MANY_REQUESTS,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
            );
            let headers = response.headers_mut();
            for (name, value) in [
                ("retry-after", retry_after.to_string()),
                ("rate-limit-limit", limit.to_string()),
                ("rate-limit-remaining", "0".to_string()),
                ("rate-limit-reset", reset_text),
                (
                    "rate-limit-reason",
                    "Request limit exceeded for this mailbox and application.".to_string(),
                ),
            ] {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            }
            return Err(response);
        }
        starts.push_back(now);
        Ok(vec![
            ("rate-limit-limit", limit.to_string()),
            ("rate-limit-remaining", (limit - starts.len()).to_string()),
            ("rate-limit-reset", reset_text),
        ])
    }

    fn enter(&self, mailbox: &str) -> Result<InFlight<'_>, Response> {
        let limit = self.settings.max_concurrent;
        let mut counts = self
            .in_flight
            .lock()
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())?;
        let count = counts.entry(mailbox.to_string()).or_insert(0);
        if limit > 0 && *count >= limit {
            let mut response = odata_error(
                StatusCode::TOO_MANY_REQUESTS,
                "ApplicationThrottled",
                "Too many concurrent requests for this mailbox.",
            );
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            return Err(response);
        }
        *count += 1;
        Ok(InFlight {
            tenant: self,
            mailbox: mailbox.to_string(),
        })
    }

    /// Live-mailbox effects of one request: new activities in, oldest out.
    fn churn(&self, mailbox: &RwLock<Mailbox>) {
        let faults = &self.settings.faults;
        if faults.insert_per_request == 0 && faults.age_per_request == 0 {
            return;
        }
        let Ok(mut mailbox) = mailbox.write() else {
            return;
        };
        mailbox.purge_oldest(faults.age_per_request);
        for _ in 0..faults.insert_per_request {
            let n = self.inserted.fetch_add(1, Ordering::Relaxed);
            let now = chrono::Utc::now();
            let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let id = format!("AAMkAGlive{n:012}");
            let json = serde_json::json!({
                "Id": id, "ActivityCreationTime": stamp, "ActivityIdType": "MessageDelivered",
                "AppIdType": "Exchange", "ClientSessionId": "", "ActivityItemId": format!("AAMkAGI2live{n:012}"),
                "TimeStamp": stamp, "TenantId": "679126f3-02de-3513-e336-0eac1294b120",
                "CustomProperties": [{"Name": "Subject", "Value": "arrived during the pull"}],
            });
            mailbox.insert(StoredActivity {
                time_nanos: now.timestamp_millis() * 1_000_000,
                id,
                activity_type: "MessageDelivered".into(),
                app_type: "Exchange".into(),
                json: json.to_string(),
            });
        }
    }
}

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

async fn activities(
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
        let spec = PageSpec {
            filter: options.filter.as_ref(),
            descending: options.descending,
            top: options.top,
            skip: options.skip,
        };
        render_page(
            &mailbox.page(&spec),
            options.select.as_deref(),
            annotate,
            version,
            user,
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

fn render_page(
    records: &[&StoredActivity],
    select: Option<&[String]>,
    annotate: bool,
    version: &str,
    user: &str,
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
            None => record.json.as_str(),
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
    body.extend_from_slice(b"]}");
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
    fn token_specs() {
        let t = TokenSpec::parse("withdrawn:abc=Me@X.com").unwrap();
        assert!(t.withdrawn);
        assert_eq!(t.token, "abc");
        assert_eq!(t.me.as_deref(), Some("me@x.com"));
        assert!(TokenSpec::parse("").is_err());
    }

    #[test]
    fn projection_keeps_id() {
        assert_eq!(
            project(r#"{"Id":"a","TimeStamp":"t","X":1}"#, &["TimeStamp".into()]),
            r#"{"Id":"a","TimeStamp":"t"}"#
        );
    }
}
