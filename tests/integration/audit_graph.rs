//! Graph audit log queries end to end over HTTP against the mock tenant: polling, server-driven
//! paging, the record limit split, a query that never finishes, records from outside a range,
//! links to another origin, SIGTERM mid-pull.

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use o365_activities::mock::AuditSettings;
use o365_activities::output::{Manifest, PullStatus};
use serde_json::Value;

use crate::audit_support::*;
use crate::support::*;

#[tokio::test]
async fn a_graph_audit_log_pull_splits_ranges_over_the_limit_and_keeps_every_record_once() {
    let (server, victim, records) = tenant(
        60,
        AuditSettings {
            query_polls: 3,
            record_limit: 120,
            page_size: 25,
            throttle_every: Some(9),
            ..AuditSettings::default()
        },
    )
    .await;
    let expected = ids_of(&records, &victim);
    assert!(expected.len() > 300, "the victim has {}", expected.len());
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("victim.jsonl");
    let output_text = output.display().to_string();
    let config = parse_pull(&audit_words(&server.url, &victim, &output_text)).unwrap();
    let (result, sleeper) = run(&config).await;
    let summary = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary.records as usize, expected.len());
    assert_eq!(evidence_ids(&output), expected, "every record, once");

    let manifest = Manifest::read(&dir.path().join("victim.jsonl.manifest.json")).unwrap();
    assert_eq!(manifest.status, PullStatus::Complete);
    assert_eq!(manifest.query.source, "audit");
    assert!(
        manifest.counters.throttle_waits > 0,
        "the 429s were waited out"
    );
    assert!(!sleeper.waits().is_empty());
    let queries = queries_of(&manifest);
    let split = queries.iter().filter(|q| q.split).count();
    assert!(split > 0, "no range was over the limit of 120");
    let retrieved: u64 = queries.iter().map(|q| q.retrieved).sum();
    assert_eq!(
        retrieved as usize,
        expected.len(),
        "retrieved per range adds up"
    );
    for query in queries.iter().filter(|q| !q.split) {
        assert_eq!(query.expected, Some(query.retrieved), "{query:?}");
        assert!(query.query_id.starts_with("query-"));
    }
    // Records are in time order, so a case's checkpoint can vouch for a prefix.
    let times: Vec<String> = std::fs::read_to_string(&output)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["createdDateTime"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

#[tokio::test]
async fn a_range_still_over_the_limit_at_its_narrowest_stops_with_what_is_missing_named() {
    let (server, victim, _) = tenant(
        20,
        AuditSettings {
            record_limit: 0,
            query_polls: 0,
            ..AuditSettings::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("victim.jsonl");
    let output_text = output.display().to_string();
    let mut words = audit_words(&server.url, &victim, &output_text);
    words.extend(["--start", "2018-05-20T00:00:00Z", "--min-split", "3600"]);
    let (result, _) = run(&parse_pull(&words).unwrap()).await;
    let error = result.unwrap_err();
    assert_eq!(error.exit_code(), 1, "{error}");
    let text = error.to_string();
    assert!(text.contains("more records between"), "{text}");
    assert!(text.contains("--operations"), "{text}");
    assert!(!output.exists(), "no complete result");
    let partial = Manifest::read(&dir.path().join("victim.jsonl.partial.manifest.json")).unwrap();
    assert_eq!(partial.status, PullStatus::Incomplete);
}

#[tokio::test]
async fn a_graph_next_link_to_another_origin_is_refused_with_the_partial_kept() {
    let record =
        serde_json::json!({"id": "r1", "createdDateTime": "2018-05-01T00:00:00Z", "auditData": {}});
    let graph = graph_answering(serde_json::json!({
        "value": [record],
        "@odata.nextLink": "http://127.0.0.2:1/v1.0/security/auditLog/queries/q1/records?$skiptoken=1"
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.jsonl");
    let output_text = output.display().to_string();
    let uri = graph.uri();
    let (result, _) = run(&parse_pull(&audit_words(&uri, USER, &output_text)).unwrap()).await;
    let error = result.unwrap_err();
    assert_eq!(error.exit_code(), 1, "{error}");
    assert!(
        error
            .to_string()
            .contains("leaves the origin of --graph-url"),
        "{error}"
    );
    let kept = std::fs::read_to_string(dir.path().join("o.jsonl.partial")).unwrap();
    assert_eq!(kept.lines().count(), 1, "the page before the link is kept");
}

#[tokio::test]
async fn a_query_that_never_finishes_stops_at_the_query_timeout() {
    let (server, victim, _) = tenant(
        5,
        AuditSettings {
            query_polls: u32::MAX,
            ..AuditSettings::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("victim.jsonl").display().to_string();
    let mut words = audit_words(&server.url, &victim, &output);
    // Through the beta endpoint: a wrong path would be a 404, not a query left running.
    words.extend([
        "--poll-interval",
        "10",
        "--query-timeout",
        "60",
        "--graph-version",
        "beta",
    ]);
    let (result, sleeper) = run(&parse_pull(&words).unwrap()).await;
    let error = result.unwrap_err();
    assert!(
        error.to_string().contains("still running after 60 s"),
        "{error}"
    );
    assert_eq!(sleeper.waits().len(), 6, "polled every 10 s for a minute");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_an_audit_pull_keeps_the_finished_ranges_and_exits_143() {
    let (server, victim, records) = tenant(
        30,
        AuditSettings {
            record_limit: 40,
            query_polls: 3,
            ..AuditSettings::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("victim.jsonl");
    let args: Vec<String> = [
        "pull",
        "--source",
        "audit",
        "--user",
        &victim,
        "--output",
        &output.display().to_string(),
        "--graph-url",
        &server.url,
        "--token",
        TOKEN,
        "--start",
        "2018-05-01T00:00:00Z",
        "--end",
        "2018-06-01T00:00:00Z",
        "--poll-interval",
        "0.2",
        "--progress-interval",
        "1",
        // One query at a time, so the signal comes while ranges are left.
        "--query-concurrency",
        "1",
    ]
    .map(str::to_string)
    .to_vec();
    let (code, stderr) = tokio::task::spawn_blocking(move || {
        let mut command = Command::cargo_bin("o365-activities").unwrap();
        command.args(&args).env_remove("OAUTH_TOKEN");
        signal_once_records_are_written(command, "TERM")
    })
    .await
    .unwrap();
    assert_eq!(code, Some(143), "{stderr}");
    assert!(!output.exists(), "nothing passed off as complete");
    let kept = evidence_ids(&dir.path().join("victim.jsonl.partial"));
    let all = ids_of(&records, &victim);
    assert!(
        !kept.is_empty() && kept.len() < all.len(),
        "{} of {}",
        kept.len(),
        all.len()
    );
    assert!(
        kept.iter().all(|id| all.contains(id)),
        "only the victim's records"
    );
    let manifest = Manifest::read(&dir.path().join("victim.jsonl.partial.manifest.json")).unwrap();
    assert_eq!(manifest.status, PullStatus::Incomplete);
    assert!(
        manifest.source_log.is_some(),
        "the queries run so far are listed"
    );
}

#[tokio::test]
async fn records_from_outside_a_querys_range_are_left_to_their_own_range() {
    let record = |id: &str, time: &str| serde_json::json!({"id": id, "createdDateTime": time});
    let graph = graph_answering(serde_json::json!({
        "value": [
            record("inside", "2018-05-10T00:00:00Z"),
            record("after", "2018-07-01T00:00:00Z"),
            record("just-after", "2018-06-01T00:00:01Z"),
        ]
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.jsonl");
    let output_text = output.display().to_string();
    let uri = graph.uri();
    let mut words = audit_words(&uri, USER, &output_text);
    words.extend([
        "--start",
        "2018-05-01T00:00:00Z",
        "--end",
        "2018-06-01T00:00:00Z",
    ]);
    let (result, _) = run(&parse_pull(&words).unwrap()).await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(evidence_ids(&output), ["inside"]);
    let manifest = Manifest::read(&dir.path().join("o.jsonl.manifest.json")).unwrap();
    let queries = queries_of(&manifest);
    assert_eq!(queries[0].outside_range, 2, "{queries:?}");
    assert_eq!(queries[0].retrieved, 1);
}

#[tokio::test]
async fn the_feed_and_the_graph_source_name_what_they_need() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("o.jsonl").display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "o365-activities",
                "pull",
                "--source",
                "feed",
                "--output",
                &output,
                "--token",
                "t",
            ],
            "--tenant",
        ),
        (
            vec![
                "o365-activities",
                "pull",
                "--source",
                "audit",
                "--output",
                &output,
                "--token",
                "t",
            ],
            "--user is required",
        ),
        (
            vec![
                "o365-activities",
                "pull",
                "--source",
                "audit",
                "--user",
                "me",
                "--output",
                &output,
                "--token",
                "t",
            ],
            "user principal name",
        ),
        (
            vec![
                "o365-activities",
                "pull",
                "--source",
                "audit",
                "--user",
                USER,
                "--output",
                &output,
                "--client-id",
                "x",
            ],
            "--tenant",
        ),
        (
            vec![
                "o365-activities",
                "pull",
                "--user",
                USER,
                "--output",
                &output,
                "--token",
                "t",
                "--operations",
                "MailboxLogin",
            ],
            "--operations is for --source audit",
        ),
        (
            vec![
                "o365-activities",
                "pull",
                "--user",
                USER,
                "--output",
                &output,
                "--client-id",
                "x",
            ],
            "--client-id is for --source audit or feed",
        ),
    ];
    for (words, hint) in cases {
        let error = parse_pull(&words).unwrap_err();
        assert_eq!(error.exit_code(), 2, "{words:?}");
        assert!(error.to_string().contains(hint), "{words:?}: {error}");
    }
}
