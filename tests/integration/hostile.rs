//! Hostile servers: pages capped below `$top` (with and without a link to the rest), links and
//! redirects to another origin, endless and oversized bodies, answers that are not the API's.
//! Each must either yield every record or stop with its partial result and a clear error,
//! never report a short pull as complete.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use o365_activities::error::AppError;
use o365_activities::mock::ServerSettings;
use o365_activities::output::{Manifest, PullStatus};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

/// A tenant whose victim holds about 1,000 activities, and those activities oldest first.
async fn tenant(settings: ServerSettings) -> (o365_activities::mock::RunningServer, Vec<String>) {
    let t = Tenant::builder()
        .per_user(1000)
        .days(60)
        .seed(9)
        .first_mailbox_as(USER)
        .settings(settings)
        .tokens(&[TOKEN])
        .start()
        .await;
    let ids = t.mailboxes[USER].iter().map(|a| a.id.clone()).collect();
    (t.server, ids)
}

#[tokio::test]
async fn a_server_that_caps_its_pages_yields_every_record_with_or_without_a_link() {
    for without_link in [false, true] {
        let (server, ids) = tenant(ServerSettings {
            page_cap: Some(7),
            page_cap_without_link: without_link,
            ..ServerSettings::default()
        })
        .await;
        for windows in ["1", "4"] {
            let dir = tempfile::tempdir().unwrap();
            let output = dir.path().join("o.jsonl");
            let words = ["--mailbox-concurrency", windows];
            let (result, _) = run(&config(&server.url, &output, &words)).await;
            let summary = result.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                summary.records as usize,
                ids.len(),
                "without link: {without_link}, windows: {windows}"
            );
            let mut written = ids_in(&output);
            written.sort();
            let mut expected = ids.clone();
            expected.sort();
            assert_eq!(written, expected, "every record, once");
            let manifest = Manifest::read(&dir.path().join("o.jsonl.manifest.json")).unwrap();
            assert_eq!(manifest.status, PullStatus::Complete);
        }
    }
}

/// A page of one record at `time`, with an `@odata.nextLink` to `link`.
fn page_linking_to(id: &str, time: &str, link: &str) -> serde_json::Value {
    serde_json::json!({ "value": [record(id, time)], "@odata.nextLink": link })
}

#[tokio::test]
async fn a_next_link_to_another_origin_is_refused_and_the_partial_kept() {
    let (victim, elsewhere) = (MockServer::start().await, MockServer::start().await);
    let foreign = format!("{}/api/v2.0/Users('x')/Activities?$skip=1", elsewhere.uri());
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page_linking_to(
            "a",
            "2018-05-01T00:00:00Z",
            &foreign,
        )))
        .mount(&victim)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&[])))
        .expect(0)
        .mount(&elsewhere)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (result, _) = run(&config(&victim.uri(), &dir.path().join("o.jsonl"), &[])).await;
    let error = result.unwrap_err();
    assert_eq!(error.exit_code(), 1, "{error}");
    assert!(
        error.to_string().contains(&foreign) && error.to_string().contains("origin"),
        "{error}"
    );
    assert!(matches!(error, AppError::Partial { .. }));
    let manifest = Manifest::read(&dir.path().join("o.jsonl.partial.manifest.json")).unwrap();
    assert_eq!(manifest.status, PullStatus::Incomplete);
    assert!(!dir.path().join("o.jsonl").exists());
}

#[tokio::test]
async fn a_redirect_to_another_origin_is_refused_naming_where_it_led() {
    let (victim, elsewhere) = (MockServer::start().await, MockServer::start().await);
    let location = format!("{}/stolen", elsewhere.uri());
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(302).insert_header("Location", location.as_str()))
        .mount(&victim)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(page(&[record("x", "2018-05-01T00:00:00Z")])),
        )
        .expect(0)
        .mount(&elsewhere)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.jsonl");
    let (result, _) = run(&config(&victim.uri(), &output, &[])).await;
    let error = result.unwrap_err();
    assert_eq!(error.exit_code(), 1, "{error}");
    assert!(error.to_string().contains(&location), "{error}");
    assert!(
        !output.exists(),
        "another origin's records are never evidence"
    );
}

#[tokio::test]
async fn a_redirect_within_the_origin_is_followed_and_no_referer_is_sent() {
    let server = MockServer::start().await;
    Mock::given(path(USER_PATH))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("Location", format!("{}/moved", server.uri()).as_str()),
        )
        .mount(&server)
        .await;
    Mock::given(path("/moved"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(page(&[record("a", "2018-05-01T00:00:00Z")])),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.jsonl");
    let (result, _) = run(&config(&server.uri(), &output, &[])).await;
    assert_eq!(result.unwrap().records, 1);
    let requests = server.received_requests().await.unwrap();
    assert!(requests.iter().any(|r| r.url.path() == "/moved"));
    assert!(
        requests.iter().all(|r| !r.headers.contains_key("referer")),
        "the query goes to no one else"
    );
}

#[tokio::test]
async fn an_answer_that_is_not_the_apis_json_says_so() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"hello":"world"}"#))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let words = ["--max-retries", "1"];
    let (result, _) = run(&config(&server.uri(), &dir.path().join("o.jsonl"), &words)).await;
    let error = result.unwrap_err();
    assert_eq!(error.exit_code(), 4, "{error}");
    assert!(
        error.to_string().contains("not a page of records"),
        "{error}"
    );
}

/// A server on loopback whose every answer is `head` followed by an endless chunked body of
/// spaces (bounded: at most `connections` connections and 1 GiB each, then it stops).
fn endless_server(head: &'static str, connections: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
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
            if stream.write_all(head.as_bytes()).is_err() {
                continue;
            }
            for _ in 0..(1 << 30) / framed.len() {
                if stream.write_all(&framed).is_err() {
                    break;
                }
            }
        }
    });
    url
}

/// Runs the binary's pull against `url`; its exit code, stderr and peak RSS in MiB (as
/// `wait_measured` samples it).
#[cfg(target_os = "linux")]
fn pull_measured(url: &str, dir: &std::path::Path, extra: &[&str]) -> (Option<i32>, String, f64) {
    let output = dir.join("o.jsonl");
    let child = Command::new(env!("CARGO_BIN_EXE_o365-activities"))
        .args(["pull", "--user", USER, "--token", TOKEN, "--base-url", url])
        .arg("--output")
        .arg(&output)
        .args(["--mailbox-concurrency", "1"])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, stderr, peak) = wait_measured(child, "the pull", Duration::from_secs(120));
    (status.code(), stderr, peak)
}

#[cfg(target_os = "linux")]
#[test]
fn an_endless_body_is_cut_at_the_cap_and_memory_stays_near_it() {
    let url = endless_server(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        2,
    );
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (code, stderr, peak_mib) = pull_measured(
        &url,
        dir.path(),
        &["--max-page-bytes", "4194304", "--max-retries", "1"],
    );
    assert_eq!(code, Some(4), "{stderr}");
    assert!(stderr.contains("larger than 4194304 bytes"), "{stderr}");
    assert!(stderr.contains("partial result kept"), "{stderr}");
    assert!(
        peak_mib < 64.0,
        "peak RSS {peak_mib:.1} MiB for a 4 MiB cap"
    );
    assert!(started.elapsed() < Duration::from_secs(120));
}

#[cfg(target_os = "linux")]
#[test]
fn an_announced_oversized_body_is_refused_before_it_is_read() {
    let url = endless_server(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000000000\r\n\r\n",
        2,
    );
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr, peak_mib) = pull_measured(&url, dir.path(), &["--max-retries", "1"]);
    assert_eq!(code, Some(4), "{stderr}");
    assert!(stderr.contains("larger than 67108864 bytes"), "{stderr}");
    assert!(peak_mib < 64.0, "peak RSS {peak_mib:.1} MiB");
}

#[tokio::test]
async fn an_unreachable_host_is_named_after_two_quick_retries() {
    // Nothing listens on this port once the listener is gone.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let (result, sleeper) = run(&config(
        &uri,
        &dir.path().join("o.jsonl"),
        &["--max-retries", "3"],
    ))
    .await;
    let error = result.unwrap_err();
    assert_eq!(error.exit_code(), 4);
    let port = uri.rsplit(':').next().unwrap();
    assert!(
        error
            .to_string()
            .contains(&format!("cannot connect to 127.0.0.1:{port}"))
            && error
                .to_string()
                .contains("check --base-url and the network")
            && !error.to_string().contains("overloaded"),
        "{error}"
    );
    assert_eq!(
        sleeper.waits().len(),
        2,
        "two quick retries, not --max-retries"
    );
    assert!(sleeper.waits().iter().all(|w| *w < Duration::from_secs(2)));
}
