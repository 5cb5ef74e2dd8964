//! The Management Activity API and a case of it under careless and hostile conditions: a state
//! file reused for another filter or damaged, one contentId for two URIs, a blob cache written by
//! two mailboxes at once, a case resumed under another source, CSV header cells.

use std::path::Path;
use std::sync::atomic::Ordering;

use o365_activities::mock::MOCK_TENANT_ID;
use o365_activities::output::{Manifest, PullStatus};
use serde_json::{json, Value};

use crate::audit_hostile_support::*;
use crate::support::*;

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
    let log: o365_activities::source::FeedLog = manifest.source_log_as().unwrap().unwrap();
    assert_eq!(log.blobs.len(), 2, "{log:?}");
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
