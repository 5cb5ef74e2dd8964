//! The Unified Audit Log sources end to end over HTTP against the mock tenant: Graph audit log
//! queries (polling, server-driven paging, 429s, the record limit split, an expired or revoked
//! token mid-run), the Management Activity API (24-hour windows, `NextPageUri`, a blob listed
//! twice, a record delivered twice, the state file), and each sign-in flow through the binary.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use chrono::TimeDelta;
use o365_activities::mock::audit_log::audit_records;
use o365_activities::mock::{
    corpus_by_mailbox, generate, start_with_audit_log, AppSpec, AuditSettings, CorpusSpec,
    RunningServer, Scenario, ServerSettings, TokenSpec, MOCK_TENANT_ID,
};
use o365_activities::output::{Manifest, PullStatus};
use serde_json::Value;

use crate::support::*;

const APP: &str = "mock-client-id";
const SECRET: &str = "mock-client-secret";

/// A compromised tenant of a few mailboxes over `days`, served with its audit log; the victim
/// and every audit log record.
async fn tenant(days: u32, audit: AuditSettings) -> (RunningServer, String, Vec<Value>) {
    let corpus = generate(&CorpusSpec {
        users: 3,
        per_user: 400,
        days,
        end: now(),
        seed: 5,
        scenario: Scenario::Bec,
    });
    let victim = corpus.truth.as_ref().unwrap().mailbox.clone();
    let (records, _) = audit_records(&corpus);
    let settings = ServerSettings {
        tokens: vec![TokenSpec::parse(TOKEN).unwrap()],
        audit: AuditSettings {
            static_tokens: vec![TOKEN.into()],
            ..audit
        },
        ..ServerSettings::default()
    };
    let server = start_with_audit_log(corpus_by_mailbox(corpus), records.clone(), settings)
        .await
        .unwrap();
    (server, victim, records)
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

/// A users file of `users` in `dir`.
fn users_file(dir: &Path, users: &[String]) -> std::path::PathBuf {
    let list = dir.join("users.txt");
    std::fs::write(&list, users.join("\n")).unwrap();
    list
}

/// Ids of an evidence file: Graph records' `id`, Management API records' `Id`, sorted.
fn evidence_ids(path: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).unwrap();
            record["id"]
                .as_str()
                .or(record["Id"].as_str())
                .unwrap()
                .to_string()
        })
        .collect();
    ids.sort();
    ids
}

fn audit_words<'a>(url: &'a str, user: &'a str, output: &'a str) -> Vec<&'a str> {
    vec![
        "o365-activities",
        "pull",
        "--source",
        "audit",
        "--user",
        user,
        "--output",
        output,
        "--graph-url",
        url,
        "--token",
        TOKEN,
    ]
}

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
    let queries = manifest.source_log.unwrap()["queries"]
        .as_array()
        .unwrap()
        .clone();
    let split = queries.iter().filter(|q| q["split"] == true).count();
    assert!(split > 0, "no range was over the limit of 120");
    let retrieved: u64 = queries
        .iter()
        .map(|q| q["retrieved"].as_u64().unwrap())
        .sum();
    assert_eq!(
        retrieved as usize,
        expected.len(),
        "retrieved per range adds up"
    );
    for query in queries.iter().filter(|q| q["split"] == false) {
        assert_eq!(query["expected"], query["retrieved"], "{query}");
        assert!(query["query_id"].as_str().unwrap().starts_with("query-"));
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

/// A signed-in audit log pull of `user` by the binary, into a folder of its own.
struct SignedIn {
    _dir: tempfile::TempDir,
    output: std::path::PathBuf,
    code: i32,
    stderr: String,
}

impl SignedIn {
    /// Signs in as the mock's app (`O365_CLIENT_SECRET` set to `secret` for this run alone,
    /// unless empty) with `extra` flags, and pulls the whole corpus range.
    async fn pull(url: &str, user: &str, extra: &[&str], secret: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("victim.jsonl");
        let mut args: Vec<String> = vec!["pull".into(), "--output".into()];
        args.push(output.display().to_string());
        for word in [
            "--source",
            "audit",
            "--user",
            user,
            "--graph-url",
            url,
            "--authority-url",
            url,
            "--tenant",
            MOCK_TENANT_ID,
            "--client-id",
            APP,
            "--poll-interval",
            "0.3",
            "--start",
            "2018-01-01T00:00:00Z",
            "--end",
            "2018-06-02T00:00:00Z",
        ]
        .iter()
        .chain(extra)
        {
            args.push(word.to_string());
        }
        let env: &[(&str, &str)] = if secret.is_empty() {
            &[]
        } else {
            &[("O365_CLIENT_SECRET", secret)]
        };
        let (code, _, stderr) = binary(args, env).await;
        SignedIn {
            _dir: dir,
            output,
            code,
            stderr,
        }
    }

    /// It completed with every record of `user`, once.
    fn assert_complete(&self, records: &[Value], user: &str) {
        assert_eq!(self.code, 0, "{}", self.stderr);
        let (pulled, expected) = (evidence_ids(&self.output), ids_of(records, user));
        assert_eq!(pulled.len(), expected.len(), "{}", self.stderr);
        assert_eq!(pulled, expected);
    }
}

/// Runs the binary with `args` and `env` (and no `OAUTH_TOKEN`); (exit code, stdout, stderr).
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_expires_mid_run_is_renewed_before_it_lapses() {
    // Tokens live 2 s and say so; the query takes about 3 s of polls.
    let (server, victim, records) = tenant(
        10,
        AuditSettings {
            token_ttl: Duration::from_secs(2),
            query_polls: 10,
            ..AuditSettings::default()
        },
    )
    .await;
    SignedIn::pull(&server.url, &victim, &[], SECRET)
        .await
        .assert_complete(&records, &victim);
    let counters = server.audit_counters();
    assert!(
        counters.tokens_issued.load(Ordering::Relaxed) >= 2,
        "renewed"
    );
    let rejected = counters.rejected.load(Ordering::Relaxed);
    assert_eq!(rejected, 0, "never sent an expired token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_rejected_mid_run_is_replaced_once_and_the_request_retried() {
    // Tokens say they live an hour but die after 1 s, as a revoked session's do.
    let (server, victim, records) = tenant(
        10,
        AuditSettings {
            token_ttl: Duration::from_secs(1),
            announced_ttl: Some(Duration::from_secs(3600)),
            query_polls: 8,
            ..AuditSettings::default()
        },
    )
    .await;
    let pulled = SignedIn::pull(&server.url, &victim, &[], SECRET).await;
    pulled.assert_complete(&records, &victim);
    assert!(
        pulled.stderr.contains("signing in again"),
        "{}",
        pulled.stderr
    );
    let counters = server.audit_counters();
    assert!(counters.rejected.load(Ordering::Relaxed) >= 1);
    assert!(counters.tokens_issued.load(Ordering::Relaxed) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_refused_with_the_identity_platforms_reason() {
    let (server, victim, _) = tenant(5, AuditSettings::default()).await;
    let refused = SignedIn::pull(&server.url, &victim, &[], "wrong").await;
    let stderr = &refused.stderr;
    assert_eq!(refused.code, 3, "{stderr}");
    assert!(stderr.contains("AADSTS7000215"), "{stderr}");
    assert!(stderr.contains("--client-id"), "{stderr}");
    assert!(
        !stderr.contains("wrong"),
        "the secret is never shown: {stderr}"
    );
    assert!(!refused.output.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_signs_in_and_another_key_is_refused() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/signin");
    let public_key = std::fs::read_to_string(fixtures.join("test-app.public.pem")).unwrap();
    let (server, victim, records) = tenant(
        5,
        AuditSettings {
            apps: vec![AppSpec {
                public_key: Some(public_key),
                ..AppSpec::default()
            }],
            query_polls: 0,
            ..AuditSettings::default()
        },
    )
    .await;
    let good = fixtures.join("test-app.pem").display().to_string();
    SignedIn::pull(&server.url, &victim, &["--certificate", &good], "")
        .await
        .assert_complete(&records, &victim);

    let other = fixtures.join("other-app.pem").display().to_string();
    let refused = SignedIn::pull(&server.url, &victim, &["--certificate", &other], "").await;
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("signature is not valid"),
        "{}",
        refused.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_code_flow_prints_the_code_polls_while_pending_and_renews_unattended() {
    // Tokens live 2 s; the query takes about 3 s of polls: the refresh token renews them.
    let (server, victim, records) = tenant(
        5,
        AuditSettings {
            device_pending_polls: 2,
            token_ttl: Duration::from_secs(2),
            query_polls: 10,
            ..AuditSettings::default()
        },
    )
    .await;
    let pulled = SignedIn::pull(&server.url, &victim, &["--device-code"], "").await;
    pulled.assert_complete(&records, &victim);
    let prompt = "/devicelogin and enter the code M";
    assert_eq!(
        pulled.stderr.matches(prompt).count(),
        1,
        "{}",
        pulled.stderr
    );
    let counters = server.audit_counters();
    assert!(
        counters.tokens_issued.load(Ordering::Relaxed) >= 2,
        "renewed"
    );
    assert_eq!(counters.rejected.load(Ordering::Relaxed), 0);
}

/// The feed's window: the last 7 days before the mock's present, less a minute.
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
        "--tenant",
        MOCK_TENANT_ID,
        "--token",
        TOKEN,
        "--content-types",
        "Audit.Exchange",
    ];
    words.extend_from_slice(extra);
    words
}

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
    let log = manifest.source_log.unwrap();
    let blobs = log["blobs"].as_array().unwrap();
    let mut fetched: Vec<&str> = blobs
        .iter()
        .map(|b| b["content_id"].as_str().unwrap())
        .collect();
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
    let in_blobs: u64 = blobs.iter().map(|b| b["records"].as_u64().unwrap()).sum();
    let kept: u64 = blobs.iter().map(|b| b["kept"].as_u64().unwrap()).sum();
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
    assert_eq!(
        manifest.source_log.unwrap()["skipped_as_fetched_before"]
            .as_u64()
            .unwrap() as usize,
        listed
    );
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

/// A Graph stand-in whose every audit log query has succeeded at once and whose records are
/// `page`.
async fn graph_answering(page: Value) -> wiremock::MockServer {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let graph = MockServer::start().await;
    let query =
        serde_json::json!({"id": "q1", "status": "succeeded", "isRecordCountLimitExceeded": false});
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

/// `batch --source audit` of the users in `list` into `case`, from `start` to the corpus's end.
fn batch_words(list: &Path, case: &Path, url: &str, start: &str, extra: &[&str]) -> Vec<String> {
    let (list, case) = (list.display().to_string(), case.display().to_string());
    [
        "batch",
        "--source",
        "audit",
        "--users",
        &list,
        "--out-dir",
        &case,
        "--graph-url",
        url,
        "--token",
        TOKEN,
        "--start",
        start,
        "--end",
        "2018-06-01T00:00:00Z",
        "--format",
        "jsonl",
        "--poll-interval",
        "0",
    ]
    .iter()
    .chain(extra)
    .map(|s| s.to_string())
    .collect()
}

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
    let evidence = |case: &Path| -> Vec<Vec<u8>> {
        users
            .iter()
            .map(|u| {
                std::fs::read(o365_activities::case::MailboxPaths::new(case, u).evidence).unwrap()
            })
            .collect()
    };
    let reference = dir.path().join("reference");
    let (code, _, stderr) = run_batch(&reference, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let expected = evidence(&reference);
    for crash_at in ["2", "5", "9"] {
        let case = dir.path().join(format!("case-{crash_at}"));
        let (code, _, stderr) = run_batch(&case, &["--crash-at", crash_at]).await;
        assert_ne!(code, 0, "crash point {crash_at} was not reached: {stderr}");
        let (code, _, stderr) = run_batch(&case, &["--resume"]).await;
        assert_eq!(code, 0, "resume after {crash_at}: {stderr}");
        assert!(
            evidence(&case) == expected,
            "crash point {crash_at}: the resumed case differs"
        );
        let (code, stdout, _) =
            binary(vec!["verify".into(), case.display().to_string()], &[]).await;
        assert_eq!(code, 0, "{stdout}");
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_refresh_asks_the_analyst_to_sign_in_again() {
    let (server, victim, records) = tenant(
        5,
        AuditSettings {
            device_pending_polls: 1,
            token_ttl: Duration::from_secs(2),
            query_polls: 10,
            refuse_refresh: true,
            ..AuditSettings::default()
        },
    )
    .await;
    let pulled = SignedIn::pull(&server.url, &victim, &["--device-code"], "").await;
    pulled.assert_complete(&records, &victim);
    let prompt = "/devicelogin and enter the code M";
    assert!(
        pulled.stderr.matches(prompt).count() >= 2,
        "{}",
        pulled.stderr
    );
    assert!(pulled.stderr.contains("AADSTS70000"), "{}", pulled.stderr);
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
    let queries = manifest.source_log.unwrap()["queries"].clone();
    assert_eq!(queries[0]["outside_range"], 2, "{queries}");
    assert_eq!(queries[0]["retrieved"], 1);
}
