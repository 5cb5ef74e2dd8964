//! Cases from the audit log sources: a verifiable case triage reads, resumed after crashes
//! byte-identical, a feed case fetching each blob once for all its mailboxes.

use std::path::Path;
use std::sync::atomic::Ordering;

use chrono::TimeDelta;
use o365_activities::mock::{AuditSettings, MOCK_TENANT_ID};
use serde_json::Value;

use crate::audit_support::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_from_the_audit_log_is_a_verifiable_case_that_triage_reads() {
    let (server, victim, records) = tenant(
        30,
        AuditSettings {
            record_limit: 150,
            throttle_every: Some(13),
            query_polls: 1,
            ..AuditSettings::default()
        },
    )
    .await;
    let users = users_of(&records);
    assert!(users.len() >= 3 && users.contains(&victim));
    let dir = tempfile::tempdir().unwrap();
    let list = users_file(dir.path(), &users);
    let case = dir.path().join("case");
    let words = batch_words(&list, &case, &server.url, "2018-04-01T00:00:00Z", &[]);
    let (code, _, stderr) = binary(words, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    for user in &users {
        let evidence = o365_activities::case::MailboxPaths::new(&case, user).evidence;
        assert_eq!(evidence_ids(&evidence), ids_of(&records, user), "{user}");
    }
    let (code, stdout, _) = binary(vec!["verify".into(), case.display().to_string()], &[]).await;
    assert_eq!(code, 0, "{stdout}");

    let (code, report, stderr) = binary(
        vec![
            "triage".into(),
            case.display().to_string(),
            "--format".into(),
            "json".into(),
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        report.contains("planted-inbox-rule"),
        "the rule is found in the case"
    );
    assert!(
        report.contains("planted-forwarding"),
        "the forwarding is found in the case"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_log_case_resumed_after_a_crash_equals_an_uninterrupted_one() {
    let (server, _, records) = tenant(
        30,
        AuditSettings {
            record_limit: 60,
            query_polls: 0,
            ..AuditSettings::default()
        },
    )
    .await;
    let users = users_of(&records);
    let dir = tempfile::tempdir().unwrap();
    let list = users_file(dir.path(), &users);
    let run_batch = |case: &Path, extra: &[&str]| {
        let mut extra = extra.to_vec();
        extra.extend(["--concurrency", "1"]);
        binary(
            batch_words(&list, case, &server.url, "2018-05-01T00:00:00Z", &extra),
            &[],
        )
    };
    assert_resumed_cases_equal_an_uninterrupted_one(
        dir.path(),
        &users,
        &["2", "5", "9"],
        run_batch,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_case_fetches_each_blob_once_for_all_its_mailboxes() {
    let feed_now = now() + TimeDelta::hours(3);
    let (server, _, records) = tenant(
        6,
        AuditSettings {
            feed_page_size: 5,
            now: Some(feed_now),
            ..AuditSettings::default()
        },
    )
    .await;
    let users = users_of(&records);
    let dir = tempfile::tempdir().unwrap();
    let list = users_file(dir.path(), &users);
    let case = dir.path().join("case");
    let words: Vec<String> = [
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
        "--end",
        "2018-06-01T03:00:00Z",
        "--content-types",
        "Audit.Exchange",
        "--format",
        "csv",
        "--concurrency",
        "1",
    ]
    .map(str::to_string)
    .to_vec();
    let (code, _, stderr) = binary(words, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    for user in &users {
        let paths = o365_activities::case::MailboxPaths::new(&case, user);
        assert_eq!(
            evidence_ids(&paths.evidence),
            ids_of(&records, user),
            "{user}"
        );
        // In time order, as a case's timeline needs.
        let times: Vec<String> = std::fs::read_to_string(&paths.evidence)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["CreationTime"].to_string())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{user}");
    }
    let served = server.audit_counters().blobs_served.load(Ordering::Relaxed);
    let (code, stdout, _) = binary(vec!["verify".into(), case.display().to_string()], &[]).await;
    assert_eq!(code, 0, "{stdout}");
    assert!(
        !case.join("feed-blobs").exists(),
        "a complete case drops its blob cache"
    );
    // One fetch a blob for the whole case: as many as one mailbox's pull lists.
    let single = tempfile::tempdir().unwrap();
    let output = single.path().join("one.jsonl").display().to_string();
    let extra = ["--user", users[0].as_str(), "--end", "2018-06-01T03:00:00Z"];
    let before = served;
    let config = parse_pull_at(&feed_words(&server.url, &output, &extra), feed_now).unwrap();
    let (result, _) = run(&config).await;
    result.unwrap();
    let one_pull = server.audit_counters().blobs_served.load(Ordering::Relaxed) - before;
    assert_eq!(
        served, one_pull,
        "the case fetched each blob once, not once a mailbox"
    );
}
