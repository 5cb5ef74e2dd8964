//! What the hostile-server tests of the feed, the CSV and the sign-in share: the mock tenant with
//! its audit log, the words of a feed pull, stand-ins and the records they should hold.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::TimeDelta;
use o365_activities::mock::{AuditSettings, RunningServer, Scenario, MOCK_TENANT_ID};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(crate) use crate::audit_support::{binary, ids_of, users_of};
use crate::support::*;

/// A tenant of a few mailboxes over 6 days, its feed's present 3 hours after the frozen "now"
/// (so a pull up to 03:00 finds every record in a blob); every audit log record.
pub(crate) async fn tenant() -> (RunningServer, Vec<Value>) {
    let t = Tenant::builder()
        .users(3)
        .days(6)
        .seed(11)
        .scenario(Scenario::Bec)
        .audit(AuditSettings {
            feed_page_size: 5,
            now: Some(now() + TimeDelta::hours(3)),
            query_polls: 0,
            ..AuditSettings::default()
        })
        .audit_log()
        .start()
        .await;
    (t.server, t.records)
}

/// Ids of an evidence file (`Id` or `id`), sorted.
pub(crate) fn evidence_ids(path: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).unwrap();
            record["Id"]
                .as_str()
                .or(record["id"].as_str())
                .unwrap()
                .to_string()
        })
        .collect();
    ids.sort();
    ids
}

/// `pull --source feed` words: `extra`, and unless it says otherwise the mock's tenant and the
/// Audit.Exchange feed from 2018-05-26 (up to the frozen "now", the default end of a pull in
/// these tests).
pub(crate) fn feed_words<'a>(url: &'a str, output: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut words = vec![
        "o365-activities",
        "pull",
        "--source",
        "feed",
        "--output",
        output,
        "--management-url",
        url,
        "--token",
        TOKEN,
    ];
    words.extend_from_slice(extra);
    // The feed keeps 7 days back from its present, 3 hours after the frozen "now".
    for (flag, value) in [
        ("--tenant", MOCK_TENANT_ID),
        ("--content-types", "Audit.Exchange"),
        ("--start", "2018-05-26T00:00:00Z"),
    ] {
        if !extra.contains(&flag) {
            words.extend([flag, value]);
        }
    }
    words
}

/// The end of the binary's feed runs: the mock's present (the binary's own clock is past it).
pub(crate) const FEED_END: &str = "2018-06-01T03:00:00Z";

pub(crate) fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| s.to_string()).collect()
}

/// A Management Activity API stand-in: its subscription starts, its listing is `listing` and
/// each `(path, body)` of `blobs` is served at that path.
pub(crate) async fn feed_serving(
    listing: impl Fn(&str) -> Value,
    blobs: &[(&str, Value)],
) -> MockServer {
    let feed = MockServer::start().await;
    let base = format!("/api/v1.0/{MOCK_TENANT_ID}/activity/feed");
    Mock::given(method("POST"))
        .and(path(format!("{base}/subscriptions/start")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&feed)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{base}/subscriptions/content")))
        .respond_with(ResponseTemplate::new(200).set_body_json(listing(&feed.uri())))
        .mount(&feed)
        .await;
    for (blob, body) in blobs {
        Mock::given(method("GET"))
            .and(path(format!("{base}/audit/{blob}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .mount(&feed)
            .await;
    }
    feed
}

pub(crate) fn feed_record(id: &str, time: &str) -> Value {
    json!({"Id": id, "CreationTime": time, "UserId": USER, "Operation": "MailItemsAccessed",
           "Workload": "Exchange", "RecordType": 50})
}

/// A Graph stand-in whose every audit log query has succeeded at once with `page`.
pub(crate) async fn graph_answering(page: Value) -> MockServer {
    let graph = MockServer::start().await;
    let query = json!({"id": "q1", "status": "succeeded", "isRecordCountLimitExceeded": false});
    Mock::given(method("POST"))
        .and(path("/v1.0/security/auditLog/queries"))
        .respond_with(ResponseTemplate::new(201).set_body_json(&query))
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/security/auditLog/queries/q1/records"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page))
        .mount(&graph)
        .await;
    graph
}

/// A client-secret `pull --source audit` of `USER` signing in at `authority` and querying
/// `graph`; (exit code, stderr).
pub(crate) async fn signed_in_pull(authority: &str, graph: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.jsonl").display().to_string();
    let words = strings(&[
        "pull",
        "--source",
        "audit",
        "--user",
        USER,
        "--output",
        &output,
        "--graph-url",
        graph,
        "--authority-url",
        authority,
        "--tenant",
        MOCK_TENANT_ID,
        "--client-id",
        "app",
        "--start",
        "2018-05-01T00:00:00Z",
        "--end",
        "2018-06-01T00:00:00Z",
        "--max-retries",
        "1",
    ]);
    let (code, _, stderr) = binary(words, &[("O365_CLIENT_SECRET", "s")]).await;
    (code, stderr)
}

pub(crate) fn csv_header(path: &Path) -> Vec<String> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect()
}

/// A token endpoint on loopback answering every request with a chunked body of spaces that
/// does not end (bounded at 256 MiB a connection); the bytes it managed to send.
pub(crate) fn endless_token_endpoint(connections: usize) -> (String, Arc<AtomicU64>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sent = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&sent);
    std::thread::spawn(move || {
        let chunk = vec![b' '; 64 * 1024];
        let framed = [
            format!("{:x}\r\n", chunk.len()).into_bytes(),
            chunk,
            b"\r\n".to_vec(),
        ]
        .concat();
        for stream in listener.incoming().take(connections) {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                        Transfer-Encoding: chunked\r\n\r\n";
            if stream.write_all(head.as_bytes()).is_err() {
                continue;
            }
            for _ in 0..(256 << 20) / framed.len() {
                if stream.write_all(&framed).is_err() {
                    break;
                }
                counted.fetch_add(framed.len() as u64, Ordering::Relaxed);
            }
        }
    });
    (url, sent)
}
