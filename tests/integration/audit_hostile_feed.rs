//! The audit log sources under careless operators and hostile servers (issue 24): a feed state
//! file reused for another filter, a `contentId` shared by two blobs, a token endpoint whose
//! answer never ends, the mailboxes of a feed case writing one blob cache entry at once, a case
//! resumed under another source, record keys that a spreadsheet would run as formulas, and the
//! messages of a refused key, an identity platform's error text, a damaged state file and a
//! token refused twice.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use chrono::TimeDelta;
use o365_activities::mock::audit_log::audit_records;
use o365_activities::mock::{
    corpus_by_mailbox, generate, start_with_audit_log, AuditSettings, CorpusSpec, RunningServer,
    Scenario, ServerSettings, TokenSpec, MOCK_TENANT_ID,
};
use o365_activities::output::{Manifest, PullStatus};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

/// A tenant of a few mailboxes over 6 days, its feed's present 3 hours after the frozen "now"
/// (so a pull up to 03:00 finds every record in a blob); every audit log record.
async fn tenant() -> (RunningServer, Vec<Value>) {
    let corpus = generate(&CorpusSpec {
        users: 3,
        per_user: 300,
        days: 6,
        end: now(),
        seed: 11,
        scenario: Scenario::Bec,
    });
    let (records, _) = audit_records(&corpus);
    let settings = ServerSettings {
        tokens: vec![TokenSpec::parse(TOKEN).unwrap()],
        audit: AuditSettings {
            static_tokens: vec![TOKEN.into()],
            feed_page_size: 5,
            now: Some(now() + TimeDelta::hours(3)),
            query_polls: 0,
            ..AuditSettings::default()
        },
        ..ServerSettings::default()
    };
    let server = start_with_audit_log(corpus_by_mailbox(corpus), records.clone(), settings)
        .await
        .unwrap();
    (server, records)
}

/// Ids of the records of `user` (by `UserId` or `MailboxOwnerUPN`), sorted.
fn ids_of(records: &[Value], user: &str) -> Vec<String> {
    let mut ids: Vec<String> = records
        .iter()
        .filter(|r| {
            [&r["UserId"], &r["MailboxOwnerUPN"]]
                .iter()
                .any(|v| v.as_str().is_some_and(|u| u.eq_ignore_ascii_case(user)))
        })
        .map(|r| r["Id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Every user that acted in `records`, sorted.
fn users_of(records: &[Value]) -> Vec<String> {
    let mut users: Vec<String> = records
        .iter()
        .filter_map(|r| r["UserId"].as_str())
        .map(str::to_string)
        .collect();
    users.sort();
    users.dedup();
    users
}

/// Ids of an evidence file (`Id` or `id`), sorted.
fn evidence_ids(path: &Path) -> Vec<String> {
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
fn feed_words<'a>(url: &'a str, output: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
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

/// Runs the binary with `args` and `env` (and no `OAUTH_TOKEN` nor client secret but those in
/// `env`); (exit code, stdout, stderr).
async fn binary(args: Vec<String>, env: &[(&str, &str)]) -> (i32, String, String) {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let output = Command::cargo_bin("o365-activities")
            .unwrap()
            .args(&args)
            .env_remove("OAUTH_TOKEN")
            .env_remove("O365_CLIENT_SECRET")
            .envs(env)
            .output()
            .unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

/// The end of the binary's feed runs: the mock's present (the binary's own clock is past it).
const FEED_END: &str = "2018-06-01T03:00:00Z";

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| s.to_string()).collect()
}

// ---- 2. A state file is for the filter it was made for ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_state_file_is_refused_for_another_user_everyone_other_content_types_or_tenant() {
    let (server, records) = tenant().await;
    let users = users_of(&records);
    let (victim, other) = (users[0].as_str(), users[1].as_str());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_text = state.display().to_string();
    let output = |name: &str| dir.path().join(name).display().to_string();

    let first = output("first.jsonl");
    let words = feed_words(
        &server.url,
        &first,
        &["--user", victim, "--state", &state_text],
    );
    let (result, _) = run(&parse_pull(&words).unwrap()).await;
    result.unwrap_or_else(|e| panic!("{e}"));
    // Up to the frozen "now": the blobs of the hours after it are left to a later run.
    let (kept, victims) = (evidence_ids(Path::new(&first)), ids_of(&records, victim));
    assert!(kept.len() > 100, "{} records", kept.len());
    assert!(kept.iter().all(|id| victims.contains(id)));
    let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(saved["made_for"]["users"], json!([victim]), "{saved}");
    assert_eq!(
        saved["made_for"]["content_types"],
        json!(["Audit.Exchange"])
    );
    assert_eq!(saved["made_for"]["tenant"], MOCK_TENANT_ID);
    let state_before = std::fs::read(&state).unwrap();
    let served = server.audit_counters().blobs_served.load(Ordering::Relaxed);

    // (the filter's words, what the refusal must name)
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--user", other], "--user"),
        (vec![], "--user"),
        (
            vec![
                "--user",
                victim,
                "--content-types",
                "Audit.Exchange,Audit.SharePoint",
            ],
            "--content-types",
        ),
        (
            vec!["--user", victim, "--tenant", "contoso.onmicrosoft.com"],
            "--tenant",
        ),
    ];
    for (n, (filter, named)) in cases.into_iter().enumerate() {
        let out = output(&format!("second-{n}.jsonl"));
        let mut extra = filter.clone();
        extra.extend(["--state", &state_text]);
        let (result, _) = run(&parse_pull(&feed_words(&server.url, &out, &extra)).unwrap()).await;
        let error = match result {
            Ok(summary) => panic!("{filter:?}: not refused ({} records)", summary.records),
            Err(error) => error,
        };
        assert_eq!(error.exit_code(), 2, "{filter:?}: {error}");
        let text = error.to_string();
        assert!(text.contains(named), "{filter:?}: {text}");
        assert!(text.contains(&state_text), "{filter:?}: {text}");
        assert!(!Path::new(&out).exists(), "{filter:?}: no result");
    }
    assert_eq!(
        std::fs::read(&state).unwrap(),
        state_before,
        "state untouched"
    );
    assert_eq!(
        server.audit_counters().blobs_served.load(Ordering::Relaxed),
        served,
        "nothing fetched for a refused filter"
    );

    // The same filter (users in another case and order) is the same collection: nothing new.
    let again = output("again.jsonl");
    let upper = victim.to_uppercase();
    let words = feed_words(
        &server.url,
        &again,
        &["--user", &upper, "--state", &state_text],
    );
    let (result, _) = run(&parse_pull(&words).unwrap()).await;
    assert_eq!(result.unwrap_or_else(|e| panic!("{e}")).records, 0);
}

#[tokio::test]
async fn a_state_file_that_does_not_say_what_it_was_made_for_or_is_damaged_is_an_input_error() {
    let (server, records) = tenant().await;
    let victim = users_of(&records)[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_text = state.display().to_string();
    let out = dir.path().join("o.jsonl").display().to_string();
    // (the file, what the error must say)
    let cases = [
        // An earlier version's file: blob ids with no filter.
        (
            r#"{"fetched": {"20180531000000$Audit.Exchange$000001": "2018-06-01T00:00:00Z"}}"#,
            "does not say",
        ),
        (r#"{"fetched": {"#, "damaged"),
        ("", "damaged"),
    ];
    for (text, says) in cases {
        std::fs::write(&state, text).unwrap();
        let words = feed_words(
            &server.url,
            &out,
            &["--user", &victim, "--state", &state_text],
        );
        let (result, _) = run(&parse_pull(&words).unwrap()).await;
        let error = result.unwrap_err();
        let shown = error.to_string();
        assert_eq!(error.exit_code(), 2, "{text:?}: {shown}");
        assert!(shown.contains(says), "{text:?}: {shown}");
        assert!(shown.contains(&state_text), "{text:?}: {shown}");
        assert!(!shown.contains("contract"), "{text:?}: {shown}");
        assert_eq!(
            std::fs::read_to_string(&state).unwrap(),
            text,
            "kept as it was"
        );
    }
    assert_eq!(
        server.audit_counters().blobs_served.load(Ordering::Relaxed),
        0
    );
}

// ---- 3. One contentId, two contentUris ----

/// A Management Activity API stand-in: its subscription starts, its listing is `listing` and
/// each `(path, body)` of `blobs` is served at that path.
async fn feed_serving(listing: impl Fn(&str) -> Value, blobs: &[(&str, Value)]) -> MockServer {
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

fn feed_record(id: &str, time: &str) -> Value {
    json!({"Id": id, "CreationTime": time, "UserId": USER, "Operation": "MailItemsAccessed",
           "Workload": "Exchange", "RecordType": 50})
}

#[tokio::test]
async fn one_content_id_for_two_content_uris_is_two_blobs_and_both_are_kept() {
    let base = format!("/api/v1.0/{MOCK_TENANT_ID}/activity/feed/audit");
    let listing = |uri: &str| {
        let blob = |name: &str| {
            json!({"contentType": "Audit.Exchange", "contentId": "same-id",
                   "contentUri": format!("{uri}{base}/{name}"),
                   "contentCreated": "2018-05-31T10:00:00.000Z"})
        };
        // The first blob is listed twice: still fetched once.
        json!([blob("first"), blob("second"), blob("first")])
    };
    let feed = feed_serving(
        listing,
        &[
            ("first", json!([feed_record("a", "2018-05-31T09:00:00")])),
            ("second", json!([feed_record("b", "2018-05-31T09:30:00")])),
        ],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.jsonl");
    let out = output.display().to_string();
    let state = dir.path().join("state.json").display().to_string();
    let uri = feed.uri();
    let words = feed_words(&uri, &out, &["--state", &state]);
    let (result, _) = run(&parse_pull(&words).unwrap()).await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(evidence_ids(&output), ["a", "b"], "both blobs' records");
    let manifest = Manifest::read(&dir.path().join("o.jsonl.manifest.json")).unwrap();
    assert_eq!(manifest.status, PullStatus::Complete);
    let blobs = manifest.source_log.unwrap()["blobs"].clone();
    assert_eq!(blobs.as_array().unwrap().len(), 2, "{blobs}");
    let requests = feed.received_requests().await.unwrap();
    let fetched = |name: &str| {
        requests
            .iter()
            .filter(|r| r.url.path().ends_with(&format!("/audit/{name}")))
            .count()
    };
    assert_eq!((fetched("first"), fetched("second")), (1, 1));
    // The state remembers both blobs: a second run fetches neither.
    let again = dir.path().join("again.jsonl").display().to_string();
    let words = feed_words(&uri, &again, &["--state", &state]);
    let (result, _) = run(&parse_pull(&words).unwrap()).await;
    assert_eq!(result.unwrap_or_else(|e| panic!("{e}")).records, 0);
}

// ---- 6. A token endpoint whose answer never ends ----

/// A token endpoint on loopback answering every request with a chunked body of spaces that
/// does not end (bounded at 256 MiB a connection); the bytes it managed to send.
fn endless_token_endpoint(connections: usize) -> (String, Arc<AtomicU64>) {
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

/// The peak resident memory of a running process in MiB (`VmHWM`), if it still runs.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[test]
fn a_token_endpoint_whose_answer_never_ends_is_cut_at_its_cap() {
    let (authority, sent) = endless_token_endpoint(4);
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_o365-activities"))
        .args(["pull", "--source", "audit", "--user", USER])
        .arg("--output")
        .arg(&output)
        .args([
            "--graph-url",
            "http://127.0.0.1:9",
            "--authority-url",
            &authority,
        ])
        .args(["--tenant", MOCK_TENANT_ID, "--client-id", "app"])
        .env_remove("OAUTH_TOKEN")
        .env("O365_CLIENT_SECRET", "s")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let reading = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let started = Instant::now();
    let mut peak: f64 = 0.0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the sign-in did not stop"
        );
        if let Some(now) = peak_rss_mib(child.id()) {
            peak = peak.max(now);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stderr = reading.join().unwrap();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("token endpoint"), "{stderr}");
    assert!(stderr.contains("larger than"), "{stderr}");
    assert!(peak < 64.0, "peak RSS {peak:.1} MiB");
    let sent_mib = sent.load(Ordering::Relaxed) as f64 / (1 << 20) as f64;
    assert!(sent_mib < 32.0, "{sent_mib:.1} MiB read before it stopped");
    assert!(started.elapsed() < Duration::from_secs(30));
    eprintln!(
        "endless token answer: stopped after {:.2} s, {sent_mib:.1} MiB sent, peak RSS {peak:.1} MiB",
        started.elapsed().as_secs_f64()
    );
}

// ---- 7. Two mailboxes of a feed case write one blob cache entry ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_case_at_the_default_concurrency_shares_its_blob_cache_without_a_clash() {
    let (server, records) = tenant().await;
    let users = users_of(&records);
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("users.txt");
    std::fs::write(&list, users.join("\n")).unwrap();
    // The blobs one pull lists: the whole tenant's feed, the same for every mailbox.
    let single = dir.path().join("single.jsonl").display().to_string();
    let before = server.audit_counters().blobs_served.load(Ordering::Relaxed);
    let words = strings(
        &feed_words(
            &server.url,
            &single,
            &["--user", &users[0], "--end", FEED_END],
        )[1..],
    );
    let (code, _, stderr) = binary(words, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let blobs = server.audit_counters().blobs_served.load(Ordering::Relaxed) - before;
    for attempt in 0..3 {
        let case = dir.path().join(format!("case-{attempt}"));
        let words = strings(&[
            "batch",
            "--source",
            "feed",
            "--users",
            &list.display().to_string(),
            "--out-dir",
            &case.display().to_string(),
            "--management-url",
            &server.url,
            "--tenant",
            MOCK_TENANT_ID,
            "--token",
            TOKEN,
            "--start",
            "2018-05-26T00:00:00Z",
            "--end",
            FEED_END,
            "--content-types",
            "Audit.Exchange",
            "--format",
            "jsonl",
        ]);
        let before = server.audit_counters().blobs_served.load(Ordering::Relaxed);
        let (code, _, stderr) = binary(words, &[]).await;
        assert_eq!(code, 0, "run {attempt}: {stderr}");
        let served = server.audit_counters().blobs_served.load(Ordering::Relaxed) - before;
        eprintln!(
            "run {attempt}: {served} blob fetches for {} mailboxes, {blobs} blobs",
            users.len()
        );
        assert_eq!(served, blobs, "each blob fetched once for the case");
        for user in &users {
            let paths = o365_activities::case::MailboxPaths::new(&case, user);
            assert_eq!(
                evidence_ids(&paths.evidence),
                ids_of(&records, user),
                "{user}"
            );
        }
    }
}

// ---- 8. A case resumed under another source ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_resumed_under_another_source_is_refused_naming_both() {
    let (server, records) = tenant().await;
    let users = users_of(&records);
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("users.txt");
    std::fs::write(&list, &users[0]).unwrap();
    let case = dir.path().join("case");
    let (list, case_text) = (list.display().to_string(), case.display().to_string());
    let common = [
        "batch",
        "--users",
        &list,
        "--out-dir",
        &case_text,
        "--token",
        TOKEN,
        "--end",
        FEED_END,
        "--format",
        "jsonl",
    ];
    let mut first = strings(&common);
    first.extend(strings(&[
        "--source",
        "feed",
        "--management-url",
        &server.url,
        "--tenant",
        MOCK_TENANT_ID,
        "--content-types",
        "Audit.Exchange",
    ]));
    let (code, _, stderr) = binary(first, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let manifest_before = std::fs::read(case.join("manifest.json")).unwrap();

    // The same URL for the other source, so only the source differs.
    let mut resumed = strings(&common);
    resumed.extend(strings(&[
        "--resume",
        "--source",
        "audit",
        "--graph-url",
        &server.url,
    ]));
    let (code, _, stderr) = binary(resumed, &[]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--source feed"), "{stderr}");
    assert!(stderr.contains("--source audit"), "{stderr}");
    assert_eq!(
        std::fs::read(case.join("manifest.json")).unwrap(),
        manifest_before,
        "the case is untouched"
    );

    // Other content types under the same source are refused too.
    let mut other_types = strings(&common);
    other_types.extend(strings(&[
        "--resume",
        "--source",
        "feed",
        "--management-url",
        &server.url,
        "--tenant",
        MOCK_TENANT_ID,
        "--content-types",
        "Audit.SharePoint",
    ]));
    let (code, _, stderr) = binary(other_types, &[]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--content-types"), "{stderr}");
}

// ---- 10. Header cells are sanitised as values are ----

/// A Graph stand-in whose every audit log query has succeeded at once with `page`.
async fn graph_answering(page: Value) -> MockServer {
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

fn csv_header(path: &Path) -> Vec<String> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_header_cells_that_a_spreadsheet_would_run_are_neutralised_as_values_are() {
    let formula = r#"=HYPERLINK("http://evil.example")"#;
    let record = json!({
        "@odata.type": "#microsoft.graph.security.auditLogRecord",
        "id": "r1",
        "createdDateTime": "2018-05-10T00:00:00Z",
        formula: "=1+1",
        "-1+cmd": "x",
        "auditData": {"+nested": "y"}
    });
    let graph = graph_answering(json!({"value": [record]})).await;
    let uri = graph.uri();
    let dir = tempfile::tempdir().unwrap();
    for (sanitize, name) in [(true, "sanitized.csv"), (false, "raw.csv")] {
        let output = dir.path().join(name);
        let out = output.display().to_string();
        let mut words = vec![
            "o365-activities",
            "pull",
            "--source",
            "audit",
            "--user",
            USER,
            "--output",
            &out,
            "--graph-url",
            &uri,
            "--token",
            TOKEN,
            "--start",
            "2018-05-01T00:00:00Z",
            "--end",
            "2018-06-01T00:00:00Z",
            "--format",
            "csv",
        ];
        if !sanitize {
            words.push("--no-sanitize");
        }
        let (result, _) = run(&parse_pull(&words).unwrap()).await;
        result.unwrap_or_else(|e| panic!("{e}"));
        let header = csv_header(&output);
        let mark = if sanitize { "'" } else { "" };
        for key in [formula, "-1+cmd", "@odata.type", "auditData.+nested"] {
            let expected = if key.starts_with('a') {
                key.to_string()
            } else {
                format!("{mark}{key}")
            };
            assert!(header.contains(&expected), "{expected} in {header:?}");
        }
        for cell in &header {
            if sanitize {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@']),
                    "{cell} in {header:?}"
                );
            }
        }
    }

    // A case's timeline (its header the union of its mailboxes') is neutralised the same way.
    let list = dir.path().join("users.txt");
    std::fs::write(&list, format!("{USER}\nother@contoso.com\n")).unwrap();
    let case = dir.path().join("case");
    let words = strings(&[
        "batch",
        "--source",
        "audit",
        "--users",
        &list.display().to_string(),
        "--out-dir",
        &case.display().to_string(),
        "--graph-url",
        &uri,
        "--token",
        TOKEN,
        "--start",
        "2018-05-01T00:00:00Z",
        "--end",
        "2018-06-01T00:00:00Z",
        "--format",
        "csv",
        "--poll-interval",
        "0",
    ]);
    let (code, _, stderr) = binary(words, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let timeline = csv_header(&case.join("timeline.csv"));
    for expected in [
        format!("'{formula}"),
        "'-1+cmd".into(),
        "'@odata.type".into(),
    ] {
        assert!(timeline.contains(&expected), "{expected} in {timeline:?}");
    }
    let rows = csv::Reader::from_path(case.join("timeline.csv"))
        .unwrap()
        .records()
        .count();
    assert_eq!(rows, 2, "one record a mailbox");
}

// ---- 14. Messages ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_or_non_rsa_key_says_what_it_is_and_what_to_do() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/signin");
    // (the file, what the message must say)
    let cases = [
        ("encrypted-key.pem", "encrypted"),
        ("legacy-encrypted-key.pem", "encrypted"),
        ("ec-key.pem", "not an RSA key"),
        ("ec-pkcs8-key.pem", "not an RSA key"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.jsonl").display().to_string();
    for (file, says) in cases {
        let key: PathBuf = fixtures.join(file);
        let words = strings(&[
            "pull",
            "--source",
            "audit",
            "--user",
            USER,
            "--output",
            &output,
            "--graph-url",
            "http://127.0.0.1:9",
            "--authority-url",
            "http://127.0.0.1:9",
            "--tenant",
            MOCK_TENANT_ID,
            "--client-id",
            "app",
            "--certificate",
            &key.display().to_string(),
        ]);
        let (code, _, stderr) = binary(words, &[]).await;
        assert_eq!(code, 2, "{file}: {stderr}");
        assert!(stderr.contains(says), "{file}: {stderr}");
        assert!(!stderr.contains("holds no PRIVATE KEY"), "{file}: {stderr}");
        assert!(stderr.contains("openssl"), "{file}: what to do: {stderr}");
    }
}

/// A client-secret `pull --source audit` of `USER` signing in at `authority` and querying
/// `graph`; (exit code, stderr).
async fn signed_in_pull(authority: &str, graph: &str) -> (i32, String) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identity_platforms_error_text_is_shown_on_one_readable_line() {
    let identity = MockServer::start().await;
    // The error of Microsoft's "OAuth 2.0 client credentials flow" document, lines and all.
    let description = "AADSTS70011: The provided value for the input parameter 'scope' is not \
        valid. The scope https://foo.microsoft.com/.default is not valid.\r\nTrace ID: \
        255d1aef-8c98-452f-ac51-23d051240864\r\nCorrelation ID: \
        fb3d2015-bc17-4bb9-bb85-30c5cf1aaaa7\r\nTimestamp: 2016-01-09 02:02:12Z\u{1b}[2J";
    Mock::given(method("POST"))
        .and(path(format!("/{MOCK_TENANT_ID}/oauth2/v2.0/token")))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_scope",
            "error_description": description,
            "error_codes": [70011],
            "timestamp": "2016-01-09 02:02:12Z",
            "trace_id": "255d1aef-8c98-452f-ac51-23d051240864",
            "correlation_id": "fb3d2015-bc17-4bb9-bb85-30c5cf1aaaa7"
        })))
        .mount(&identity)
        .await;
    let (code, stderr) = signed_in_pull(&identity.uri(), "http://127.0.0.1:9").await;
    assert_eq!(code, 3, "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("AADSTS70011"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        !line.contains("\\u{d}") && !line.contains("\\u{a}"),
        "{line}"
    );
    assert!(
        line.contains(
            "is not valid. Trace ID: 255d1aef-8c98-452f-ac51-23d051240864 Correlation ID:"
        ),
        "{line}"
    );
    assert!(
        line.contains("\\u{1b}[2J"),
        "other control characters escaped: {line}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_apps_token_refused_twice_names_what_to_check_not_a_new_token() {
    let identity = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/{MOCK_TENANT_ID}/oauth2/v2.0/token")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": 3599, "access_token": "signed-in-token"
        })))
        .expect(2)
        .mount(&identity)
        .await;
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/security/auditLog/queries"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": {"code": "InvalidAuthenticationToken",
                      "message": "Access token validation failure. Invalid audience."}
        })))
        .expect(2)
        .mount(&graph)
        .await;
    let (code, stderr) = signed_in_pull(&identity.uri(), &graph.uri()).await;
    assert_eq!(code, 3, "{stderr}");
    let last = stderr
        .lines()
        .find(|l| l.contains("error:"))
        .unwrap_or(&stderr);
    assert!(last.contains("twice"), "{stderr}");
    assert!(
        last.contains("Invalid audience"),
        "the service's reason: {stderr}"
    );
    for check in ["permission", "consent", "--tenant"] {
        assert!(last.contains(check), "{check}: {stderr}");
    }
    assert!(!last.contains("--token"), "{stderr}");
    assert!(
        !stderr.contains("signed-in-token"),
        "never the token: {stderr}"
    );
}
