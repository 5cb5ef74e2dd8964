//! Several mailboxes per audit log query (issue 29): a case asks for its mailboxes together
//! while their records fit the record limit, splits a group over it by mailbox, and writes each
//! mailbox exactly the records a query of it alone returns; resumed after crashes, it writes
//! the same bytes.

use std::path::Path;
use std::sync::atomic::Ordering;

use o365_activities::case::{CaseManifest, MailboxPaths, MailboxStatus};
use o365_activities::mock::{AuditSettings, RunningServer, Scenario};
use o365_activities::source::AuditQueryLog;
use serde_json::Value;

use crate::audit_support::*;
use crate::support::*;

/// A tenant of `users` mailboxes over 30 days served with its audit log (`records` edited
/// first by `edit`); every record.
async fn tenant_of(
    users: usize,
    per_user: usize,
    audit: AuditSettings,
    edit: impl FnOnce(&mut Vec<Value>),
) -> (RunningServer, Vec<Value>) {
    let t = Tenant::builder()
        .users(users)
        .per_user(per_user)
        .seed(11)
        .scenario(Scenario::Bec)
        .audit(audit)
        .audit_log()
        .edit_records(|records, _| edit(records))
        .start()
        .await;
    (t.server, t.records)
}

/// The `--start` (to the second) after which about `count` of `records` lie, and those records.
fn last(records: &[Value], count: usize) -> (String, Vec<Value>) {
    let mut times: Vec<&str> = records
        .iter()
        .map(|r| r["CreationTime"].as_str().unwrap())
        .collect();
    times.sort();
    let start = times[times.len() - count];
    let kept = records
        .iter()
        .filter(|r| r["CreationTime"].as_str().unwrap() >= start)
        .cloned()
        .collect();
    (format!("{start}Z"), kept)
}

/// The ids of the records `user` performed (the query filter's sense), sorted.
fn performed_by(records: &[Value], user: &str) -> Vec<String> {
    let mut ids: Vec<String> = records
        .iter()
        .filter(|r| {
            r["UserId"]
                .as_str()
                .is_some_and(|u| u.eq_ignore_ascii_case(user))
        })
        .map(|r| r["Id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_mailboxes_of_950_records_take_at_most_5_queries_each_exact() {
    let (server, records) = tenant_of(
        8,
        200,
        AuditSettings {
            record_limit: 500,
            query_polls: 0,
            max_running_queries: Some(10),
            ..AuditSettings::default()
        },
        |_| {},
    )
    .await;
    let (start, in_range) = last(&records, 950);
    let users = users_of(&in_range);
    assert_eq!(users.len(), 8, "{users:?}");
    let dir = tempfile::tempdir().unwrap();
    let list = users_file(dir.path(), &users);
    let case = dir.path().join("case");
    let words = batch_words(&list, &case, &server.url, &start, &["--concurrency", "4"]);
    let (code, _, stderr) = binary(words, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let created = server
        .audit_counters()
        .queries_created
        .load(Ordering::Relaxed);
    assert!(created <= 5, "{created} queries for 8 mailboxes");
    for user in &users {
        let evidence = MailboxPaths::new(&case, user).evidence;
        assert_eq!(
            evidence_ids(&evidence),
            performed_by(&in_range, user),
            "{user}"
        );
    }
    // The plan: each mailbox's log names the queries that served it, with their mailboxes.
    let manifest = CaseManifest::read(&case.join("manifest.json")).unwrap();
    let mut ids = std::collections::BTreeSet::new();
    for entry in &manifest.mailboxes {
        let logs: Vec<AuditQueryLog> = entry.source_logs_as().unwrap();
        let queries = &logs.last().unwrap().queries;
        let first = &queries[0];
        assert_eq!(first.round, 1, "{first:?}");
        assert!(first.mailboxes.len() > 1, "asked with others: {first:?}");
        let kept: u64 = queries.iter().filter_map(|q| q.kept).sum();
        assert_eq!(kept, entry.counters.records, "{}", entry.mailbox);
        let served = queries.last().unwrap();
        assert!(served.mailboxes.contains(&entry.mailbox), "{served:?}");
        assert_eq!(served.status, "succeeded");
        assert!(served.retrieved >= served.kept.unwrap());
        ids.extend(queries.iter().map(|q| q.query_id.clone()));
    }
    assert_eq!(ids.len() as u64, created, "every query is in the manifest");
    let (code, stdout, _) = binary(vec!["verify".into(), case.display().to_string()], &[]).await;
    assert_eq!(code, 0, "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delegates_access_is_the_delegates_record_grouped_or_not() {
    // Bob reads Alice's mailbox: the record's performer is Bob, its owner Alice.
    let mut delegate = None;
    let (server, records) = tenant_of(
        3,
        200,
        AuditSettings {
            query_polls: 0,
            ..AuditSettings::default()
        },
        |records| {
            let users = users_of(records);
            let model = records
                .iter()
                .find(|r| r["UserId"] == users[0].as_str())
                .unwrap();
            let mut access = model.clone();
            access["Id"] = serde_json::json!("delegate-access");
            access["CreationTime"] = serde_json::json!("2018-05-30T10:00:00");
            access["Operation"] = serde_json::json!("MailItemsAccessed");
            access["UserId"] = serde_json::json!(users[1]);
            access["MailboxOwnerUPN"] = serde_json::json!(users[0]);
            records.push(access);
            records.sort_by(|a, b| a["CreationTime"].as_str().cmp(&b["CreationTime"].as_str()));
            delegate = Some((users[0].clone(), users[1].clone()));
        },
    )
    .await;
    let (owner, reader) = delegate.unwrap();
    let users = users_of(&records);
    let dir = tempfile::tempdir().unwrap();
    let list = users_file(dir.path(), &users);
    let case = dir.path().join("case");
    let start = "2018-05-20T00:00:00Z";
    let (code, _, stderr) = binary(batch_words(&list, &case, &server.url, start, &[]), &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        server
            .audit_counters()
            .queries_created
            .load(Ordering::Relaxed),
        1,
        "the three mailboxes in one query"
    );
    let ids = |user: &str| evidence_ids(&MailboxPaths::new(&case, user).evidence);
    assert!(ids(&reader).contains(&"delegate-access".to_string()));
    assert!(!ids(&owner).contains(&"delegate-access".to_string()));
    // As a pull of the owner alone has it.
    let output = dir.path().join("owner.jsonl");
    let output_text = output.display().to_string();
    let mut words = audit_words(&server.url, &owner, &output_text);
    words.extend(["--start", start, "--end", "2018-06-01T00:00:00Z"]);
    let (result, _) = run(&parse_pull(&words).unwrap()).await;
    result.unwrap();
    assert_eq!(evidence_ids(&output), ids(&owner), "grouped as alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grouped_case_resumed_after_crashes_writes_the_same_bytes() {
    let (server, records) = tenant_of(
        8,
        200,
        AuditSettings {
            record_limit: 300,
            query_polls: 0,
            ..AuditSettings::default()
        },
        |_| {},
    )
    .await;
    let (start, in_range) = last(&records, 950);
    let users = users_of(&in_range);
    let dir = tempfile::tempdir().unwrap();
    let list = users_file(dir.path(), &users);
    let run_batch = |case: &Path, extra: &[&str]| {
        let mut extra = extra.to_vec();
        extra.extend(["--concurrency", "3"]);
        binary(batch_words(&list, case, &server.url, &start, &extra), &[])
    };
    for user in &users {
        assert!(!performed_by(&in_range, user).is_empty(), "{user}");
    }
    assert_resumed_cases_equal_an_uninterrupted_one(
        dir.path(),
        &users,
        &["3", "8", "14"],
        run_batch,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_whose_records_name_someone_else_is_not_used_each_mailbox_is_asked_alone() {
    // A service that returns, to any query, a record performed by none of the mailboxes.
    let record = |id: &str, upn: &str| {
        serde_json::json!({"id": id, "createdDateTime": "2018-05-25T10:00:00Z",
            "userPrincipalName": upn, "operation": "MailItemsAccessed",
            "auditData": {"Id": id, "UserId": upn, "CreationTime": "2018-05-25T10:00:00"}})
    };
    let page = serde_json::json!({"value": [
        record("a", "alice@contoso.com"),
        record("b", "bob@contoso.com"),
        record("c", "carol@contoso.com"),
    ]});
    let graph = graph_answering(page).await;
    let dir = tempfile::tempdir().unwrap();
    let users = [
        "alice@contoso.com".to_string(),
        "bob@contoso.com".to_string(),
    ];
    let list = users_file(dir.path(), &users);
    let case = dir.path().join("case");
    let words = batch_words(&list, &case, &graph.uri(), "2018-05-20T00:00:00Z", &[]);
    let (code, _, stderr) = binary(words, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("name none of them"), "{stderr}");
    let created = graph
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    assert_eq!(created, 3, "the group's query, then one per mailbox");
    for user in &users {
        // Each mailbox's own query keeps what it returned, as before grouping.
        let evidence = MailboxPaths::new(&case, user).evidence;
        assert_eq!(evidence_ids(&evidence), ["a", "b", "c"], "{user}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_that_cannot_be_split_fails_alone_and_its_group_completes() {
    // 40 records of one mailbox in one second, a record limit of 25: no query can hold them.
    let mut dense = None;
    let (server, records) = tenant_of(
        3,
        200,
        AuditSettings {
            record_limit: 25,
            query_polls: 0,
            ..AuditSettings::default()
        },
        |records| {
            let users = users_of(records);
            let model = records
                .iter()
                .find(|r| r["UserId"] == users[1].as_str())
                .unwrap()
                .clone();
            for i in 0..40 {
                let mut record = model.clone();
                record["Id"] = serde_json::json!(format!("dense-{i:02}"));
                record["CreationTime"] = serde_json::json!("2018-05-31T12:00:00");
                records.push(record);
            }
            records.sort_by(|a, b| a["CreationTime"].as_str().cmp(&b["CreationTime"].as_str()));
            dense = Some(users[1].clone());
        },
    )
    .await;
    let dense = dense.unwrap();
    let start = "2018-05-31T00:00:00Z";
    let in_range: Vec<Value> = records
        .iter()
        .filter(|r| r["CreationTime"].as_str().unwrap() >= "2018-05-31T00:00:00")
        .cloned()
        .collect();
    let users = users_of(&records);
    let dir = tempfile::tempdir().unwrap();
    let list = users_file(dir.path(), &users);
    let case = dir.path().join("case");
    let (code, _, stderr) = binary(batch_words(&list, &case, &server.url, start, &[]), &[]).await;
    assert_eq!(code, 4, "some mailboxes are not complete: {stderr}");
    let manifest = CaseManifest::read(&case.join("manifest.json")).unwrap();
    for entry in &manifest.mailboxes {
        if entry.mailbox == dense {
            assert_eq!(entry.status, MailboxStatus::Failed, "{entry:?}");
            let reason = entry.reason.as_deref().unwrap_or_default();
            assert!(reason.contains("2018-05-31 12:00:00 UTC"), "{reason}");
        } else {
            assert_eq!(entry.status, MailboxStatus::Complete, "{entry:?}");
            let evidence = MailboxPaths::new(&case, &entry.mailbox).evidence;
            assert_eq!(
                evidence_ids(&evidence),
                performed_by(&in_range, &entry.mailbox),
                "{}",
                entry.mailbox
            );
        }
    }
}

/// The ids a query of the mock for `users` over `[start, end)` returns, asked over HTTP as
/// Microsoft's document shows (no client code).
async fn mock_query_ids(
    server: &RunningServer,
    users: &[&str],
    start: &str,
    end: &str,
) -> Vec<String> {
    let http = reqwest::Client::new();
    let auth = format!("Bearer {TOKEN}");
    let body = serde_json::json!({
        "@odata.type": "#microsoft.graph.security.auditLogQuery",
        "filterStartDateTime": start, "filterEndDateTime": end,
        "userPrincipalNameFilters": users,
    });
    let queries = format!("{}/v1.0/security/auditLog/queries", server.url);
    let text = |response: reqwest::Response| async move {
        serde_json::from_str::<Value>(&response.text().await.unwrap()).unwrap()
    };
    let created = text(
        http.post(&queries)
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_string();
    let polled = text(
        http.get(format!("{queries}/{id}"))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(polled["value"]["status"], "succeeded", "{polled}");
    let mut next = Some(format!("{queries}/{id}/records"));
    let mut ids = Vec::new();
    while let Some(url) = next {
        let page = text(
            http.get(&url)
                .header("authorization", &auth)
                .send()
                .await
                .unwrap(),
        )
        .await;
        for record in page["value"].as_array().unwrap() {
            ids.push(record["id"].as_str().unwrap().to_string());
        }
        next = page["@odata.nextLink"].as_str().map(str::to_string);
    }
    ids.sort();
    ids
}

#[tokio::test]
async fn the_mock_returns_the_records_any_listed_user_performed() {
    let mut named = None;
    let (server, records) = tenant_of(
        3,
        100,
        AuditSettings {
            query_polls: 0,
            ..AuditSettings::default()
        },
        |records| {
            let users = users_of(records);
            let mut access = records[0].clone();
            access["Id"] = serde_json::json!("delegate-access");
            access["CreationTime"] = serde_json::json!("2018-05-30T10:00:00");
            access["UserId"] = serde_json::json!(users[2]);
            access["MailboxOwnerUPN"] = serde_json::json!(users[0]);
            records.push(access);
            records.sort_by(|a, b| a["CreationTime"].as_str().cmp(&b["CreationTime"].as_str()));
            named = Some(users);
        },
    )
    .await;
    let users = named.unwrap();
    let (start, end) = ("2018-05-20T00:00:00Z", "2018-06-01T00:00:00Z");
    let in_range: Vec<Value> = records
        .iter()
        .filter(|r| r["CreationTime"].as_str().unwrap() >= "2018-05-20T00:00:00")
        .cloned()
        .collect();
    let both = mock_query_ids(&server, &[&users[0], &users[1]], start, end).await;
    let mut expected = [
        performed_by(&in_range, &users[0]),
        performed_by(&in_range, &users[1]),
    ]
    .concat();
    expected.sort();
    assert_eq!(both, expected);
    assert!(
        !both.contains(&"delegate-access".to_string()),
        "the owner's is not the delegate's"
    );
    let reader = mock_query_ids(&server, &[&users[2].to_uppercase()], start, end).await;
    assert!(reader.contains(&"delegate-access".to_string()), "any case");
}
