//! The Management Activity API end to end over HTTP against the mock tenant: 24-hour windows,
//! `NextPageUri`, a blob listed twice, a record delivered twice, the state file, hostile links
//! and endless blobs.

use std::path::Path;
use std::sync::atomic::Ordering;

use chrono::TimeDelta;
use o365_activities::mock::{AuditSettings, MOCK_TENANT_ID};
use o365_activities::output::Manifest;

use crate::audit_support::*;
use crate::support::*;

#[tokio::test]
async fn the_feed_fetches_each_blob_once_keeps_each_record_once_and_remembers_its_blobs() {
    let feed_now = now() + TimeDelta::hours(3);
    let (server, victim, records) = tenant(
        6,
        AuditSettings {
            feed_page_size: 4,
            throttle_every: Some(11),
            now: Some(feed_now),
            ..AuditSettings::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("feed.jsonl");
    let state = dir.path().join("feed-state.json");
    let (output_text, state_text) = (output.display().to_string(), state.display().to_string());
    let end = "2018-06-01T03:00:00Z";
    let extra = [
        "--user",
        victim.as_str(),
        "--end",
        end,
        "--state",
        state_text.as_str(),
    ];
    let config = parse_pull_at(&feed_words(&server.url, &output_text, &extra), feed_now).unwrap();
    let (result, _) = run(&config).await;
    result.unwrap_or_else(|e| panic!("{e}"));
    let expected = ids_of(&records, &victim);
    assert_eq!(evidence_ids(&output), expected, "every record, once");

    let manifest = Manifest::read(&dir.path().join("feed.jsonl.manifest.json")).unwrap();
    let log: o365_activities::source::FeedLog = manifest.source_log_as().unwrap().unwrap();
    let blobs = &log.blobs;
    let mut fetched: Vec<&str> = blobs.iter().map(|b| b.content_id.as_str()).collect();
    let listed = fetched.len();
    fetched.sort();
    fetched.dedup();
    assert_eq!(
        fetched.len(),
        listed,
        "a blob listed in two windows is fetched once"
    );
    let served = server.audit_counters().blobs_served.load(Ordering::Relaxed);
    assert_eq!(served as usize, listed);
    let in_blobs: u64 = blobs.iter().map(|b| b.records).sum();
    let kept: u64 = blobs.iter().map(|b| b.kept).sum();
    assert_eq!(kept as usize, expected.len());
    assert!(
        in_blobs > kept,
        "other users' records and redeliveries were left out"
    );
    assert!(manifest.counters.retries > 0, "the 429s were retried");

    // Run again with the state file: every blob is known, nothing is fetched again.
    let again = dir.path().join("again.jsonl");
    let again_text = again.display().to_string();
    let config = parse_pull_at(&feed_words(&server.url, &again_text, &extra), feed_now).unwrap();
    let (result, _) = run(&config).await;
    assert_eq!(result.unwrap().records, 0);
    assert_eq!(
        server.audit_counters().blobs_served.load(Ordering::Relaxed),
        served,
        "no blob fetched twice across runs"
    );
    let manifest = Manifest::read(&dir.path().join("again.jsonl.manifest.json")).unwrap();
    let log: o365_activities::source::FeedLog = manifest.source_log_as().unwrap().unwrap();
    assert_eq!(log.skipped_as_fetched_before as usize, listed);
}

#[tokio::test]
async fn the_feed_refuses_a_window_older_than_seven_days_and_keeps_its_partial() {
    let (server, victim, _) = tenant(20, AuditSettings::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("feed.jsonl");
    let output_text = output.display().to_string();
    let extra = ["--user", victim.as_str(), "--start", "2018-05-10T00:00:00Z"];
    let (result, _) =
        run(&parse_pull(&feed_words(&server.url, &output_text, &extra)).unwrap()).await;
    let error = result.unwrap_err();
    assert_eq!(error.exit_code(), 3, "{error}");
    assert!(error.to_string().contains("AF20030"), "{error}");
}

#[tokio::test]
async fn a_feed_that_points_elsewhere_or_sends_an_endless_blob_is_refused() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let listing = format!("/api/v1.0/{MOCK_TENANT_ID}/activity/feed/subscriptions/content");
    let start = format!("/api/v1.0/{MOCK_TENANT_ID}/activity/feed/subscriptions/start");
    let blob_path = format!("/api/v1.0/{MOCK_TENANT_ID}/activity/feed/audit/b1");
    let one_blob = |uri: &str| {
        serde_json::json!([{
            "contentType": "Audit.Exchange", "contentId": "b1", "contentUri": uri,
            "contentCreated": "2018-05-31T10:00:00.000Z"
        }])
    };
    // (the blob's URI: elsewhere, or here; a NextPageUri; the blob's body; what the error says)
    type Case<'a> = (Option<&'a str>, Option<&'a str>, Option<String>, &'a str);
    let cases: Vec<Case> = vec![
        (
            Some("http://127.0.0.2:1/api/v1.0/x/activity/feed/audit/b1"),
            None,
            None,
            "contentUri",
        ),
        (None, Some("http://127.0.0.2:1/next"), None, "NextPageUri"),
        (None, None, Some("[".repeat(3000)), "larger than"),
    ];
    for (elsewhere, next_page, blob, expected) in cases {
        let feed = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(start.as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
            .mount(&feed)
            .await;
        let here = format!("{}{blob_path}", feed.uri());
        let mut answer = match (next_page, &blob) {
            (Some(_), _) => ResponseTemplate::new(200).set_body_json(serde_json::json!([])),
            _ => ResponseTemplate::new(200).set_body_json(one_blob(elsewhere.unwrap_or(&here))),
        };
        if let Some(next) = next_page {
            answer = answer.insert_header("NextPageUri", next);
        }
        Mock::given(method("GET"))
            .and(path(listing.as_str()))
            .respond_with(answer)
            .mount(&feed)
            .await;
        if let Some(body) = blob {
            Mock::given(method("GET"))
                .and(path(blob_path.as_str()))
                .respond_with(ResponseTemplate::new(200).set_body_string(body))
                .mount(&feed)
                .await;
        }
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("feed.jsonl").display().to_string();
        let uri = feed.uri();
        let extra = [
            "--end",
            "2018-06-01T00:00:00Z",
            "--max-page-bytes",
            "2048",
            "--max-retries",
            "1",
        ];
        let (result, _) = run(&parse_pull(&feed_words(&uri, &output, &extra)).unwrap()).await;
        let error = result.unwrap_err();
        assert!(error.to_string().contains(expected), "{expected}: {error}");
        assert!(
            !Path::new(&output).exists(),
            "{expected}: nothing passed off as complete"
        );
    }
}
